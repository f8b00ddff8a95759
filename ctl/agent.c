/* agent.c - `cairn agent`: start this node's five daemons, restart any that
 * dies (at most once a second each, with backoff when one keeps failing),
 * forward SIGHUP, stop them all on SIGTERM/SIGINT, and print the start-up
 * banner.  Readiness: each daemon reports READY=1 to the agent over an
 * sd_notify socket the agent owns; once all five are ready the agent tells
 * its own manager (systemd or a test harness) READY=1. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ev.h>

#include "clock.h"
#include "cfg.h"
#include "ctl.h"
#include "log.h"
#include "net.h"
#include "notify.h"
#include "version.h"
#include "xmalloc.h"

#define NCHILD 5
#define STOP_KILL_AFTER 4.5   /* s: SIGKILL what SIGTERM did not stop */
#define RESTART_MIN_GAP 1.0   /* s between two starts of one daemon */
#define RESTART_MAX_BACKOFF 30.0
#define STABLE_AFTER 10.0     /* s up: the failure streak is forgotten */

static const char *const child_names[NCHILD] = {"raftd", "gossipd", "checkd",
						"dnsd", "httpd"};

struct child {
	const char *name;
	char path[PATH_MAX + 32];
	pid_t pid;
	ev_child child_w;
	ev_timer restart_w;
	ev_tstamp last_start;
	unsigned fails; /* quick deaths in a row */
	unsigned restarts;
	int ready;
};

struct agent {
	struct ev_loop *loop;
	struct cairn_conf conf;
	struct child kids[NCHILD];
	char **child_argv_tail; /* flags passed to every daemon */
	int nargs;
	char *dev_dir;		/* temp data dir of -dev, removed at exit */
	char *parent_notify;	/* our manager's NOTIFY_SOCKET */
	char notify_name[108];	/* abstract socket the daemons report to */
	int notify_fd;
	ev_io notify_w;
	ev_signal sig_term, sig_int, sig_hup;
	ev_timer kill_w;
	int stopping;
	int all_ready_sent;
	int exit_code;
};

static void spawn(struct agent *a, struct child *k);

static void
find_binary(struct child *k)
{
	char self[PATH_MAX], *slash;
	ssize_t n;

	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash != NULL) {
			*slash = '\0';
			snprintf(k->path, sizeof(k->path), "%s/cairn-%s", self,
			    k->name);
			if (access(k->path, X_OK) == 0)
				return;
		}
	}
	/* fall back to $PATH */
	snprintf(k->path, sizeof(k->path), "cairn-%s", k->name);
}

static int
all_exited(const struct agent *a)
{
	int i;

	for (i = 0; i < NCHILD; i++)
		if (a->kids[i].pid > 0)
			return 0;
	return 1;
}

static void
child_cb(struct ev_loop *loop, ev_child *w, int revents)
{
	struct child *k = w->data;
	struct agent *a;
	ev_tstamp up, delay, backoff;
	char how[64];
	int i;

	(void)revents;
	a = ev_userdata(loop);
	ev_child_stop(loop, w);
	if (WIFSIGNALED(w->rstatus))
		snprintf(how, sizeof(how), "killed by %s",
		    strsignal(WTERMSIG(w->rstatus)));
	else
		snprintf(how, sizeof(how), "exited with status %d",
		    WEXITSTATUS(w->rstatus));
	k->pid = 0;
	k->ready = 0;
	if (a->stopping) {
		log_info("cairn-%s %s", k->name, how);
		if (all_exited(a)) {
			ev_timer_stop(loop, &a->kill_w);
			ev_break(loop, EVBREAK_ALL);
		}
		return;
	}
	ev_now_update(loop);
	up = mono_now() - k->last_start;
	if (up >= STABLE_AFTER)
		k->fails = 0;
	k->fails++;
	backoff = 0;
	if (k->fails > 1) {
		backoff = RESTART_MIN_GAP;
		for (i = 2; i < (int)k->fails && backoff < RESTART_MAX_BACKOFF;
		     i++)
			backoff *= 2;
		if (backoff > RESTART_MAX_BACKOFF)
			backoff = RESTART_MAX_BACKOFF;
	}
	delay = RESTART_MIN_GAP - up;
	if (delay < backoff)
		delay = backoff;
	if (delay < 0)
		delay = 0;
	log_warnx("cairn-%s %s after %.1f s; restarting in %.1f s", k->name,
	    how, up, delay);
	ev_timer_set(&k->restart_w, delay, 0);
	ev_timer_start(loop, &k->restart_w);
}

static void
restart_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct child *k = w->data;
	struct agent *a = ev_userdata(loop);

	(void)revents;
	if (a->stopping)
		return;
	k->restarts++;
	spawn(a, k);
}

static void
spawn(struct agent *a, struct child *k)
{
	char **argv;
	pid_t pid, agent_pid = getpid();
	int i;

	argv = xcalloc((size_t)a->nargs + 2, sizeof(*argv));
	argv[0] = k->path;
	for (i = 0; i < a->nargs; i++)
		argv[i + 1] = a->child_argv_tail[i];
	ev_now_update(a->loop);
	k->last_start = mono_now();
	pid = fork();
	if (pid < 0) {
		log_error("fork for cairn-%s", k->name);
		free(argv);
		ev_timer_set(&k->restart_w, RESTART_MIN_GAP, 0);
		ev_timer_start(a->loop, &k->restart_w);
		return;
	}
	if (pid == 0) {
		sigset_t none;

		/* own process group: a terminal's ^C reaches only the agent,
		 * which stops the daemons in order */
		setpgid(0, 0);
		/* no orphans: if the agent dies, so do we - as in a crash
		 * (SIGKILL: a client must not "leave" because its
		 * supervisor was killed; an orderly stop comes from the
		 * agent, in order) */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != agent_pid)
			_exit(1);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		setenv("NOTIFY_SOCKET", a->notify_name, 1);
		{
			char pidstr[32];

			/* /v1/agent/leave stops the whole agent through it */
			snprintf(pidstr, sizeof(pidstr), "%ld",
			    (long)agent_pid);
			setenv("CAIRN_AGENT_PID", pidstr, 1);
		}
		execvp(argv[0], argv);
		fprintf(stderr, "cairn agent: exec %s: %s\n", argv[0],
		    strerror(errno));
		_exit(127);
	}
	free(argv);
	k->pid = pid;
	k->ready = 0;
	ev_child_set(&k->child_w, pid, 0);
	ev_child_start(a->loop, &k->child_w);
	log_debug("started cairn-%s (pid %ld)", k->name, (long)pid);
}

static void
send_parent_ready(struct agent *a)
{
	char *saved;

	if (a->parent_notify == NULL)
		return;
	saved = getenv("NOTIFY_SOCKET") ? xstrdup(getenv("NOTIFY_SOCKET"))
					: NULL;
	setenv("NOTIFY_SOCKET", a->parent_notify, 1);
	notify_ready("all daemons running");
	if (saved) {
		setenv("NOTIFY_SOCKET", saved, 1);
		free(saved);
	} else {
		unsetenv("NOTIFY_SOCKET");
	}
}

static void
notify_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct agent *a = w->data;
	char buf[4096];
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(struct ucred))];
	} ctl;
	struct msghdr mh;
	struct iovec iov;
	struct cmsghdr *cm;
	struct ucred *cred = NULL;
	ssize_t n;
	int i, all;

	(void)loop;
	(void)revents;
	for (;;) {
		iov.iov_base = buf;
		iov.iov_len = sizeof(buf) - 1;
		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = &ctl;
		mh.msg_controllen = sizeof(ctl);
		n = recvmsg(a->notify_fd, &mh, MSG_DONTWAIT);
		if (n < 0)
			return;
		buf[n] = '\0';
		cred = NULL;
		for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
			if (cm->cmsg_level == SOL_SOCKET &&
			    cm->cmsg_type == SCM_CREDENTIALS)
				cred = (struct ucred *)(void *)CMSG_DATA(cm);
		if (cred == NULL)
			continue;
		for (i = 0; i < NCHILD; i++) {
			struct child *k = &a->kids[i];

			if (k->pid != cred->pid)
				continue;
			if (strstr(buf, "READY=1") != NULL && !k->ready) {
				k->ready = 1;
				log_info("cairn-%s ready (pid %ld)%s", k->name,
				    (long)k->pid,
				    k->restarts ? " after restart" : "");
			}
		}
		all = 1;
		for (i = 0; i < NCHILD; i++)
			all &= a->kids[i].ready;
		if (all && !a->all_ready_sent && !a->stopping) {
			a->all_ready_sent = 1;
			log_info("all daemons ready");
			send_parent_ready(a);
		}
	}
}

static int
open_notify_socket(struct agent *a)
{
	struct sockaddr_un sun;
	socklen_t len;
	int one = 1, fd;

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one));
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	/* abstract namespace: nothing to clean up on disk */
	snprintf(a->notify_name, sizeof(a->notify_name),
	    "@cairn-agent-%ld-%lx", (long)getpid(),
	    (unsigned long)(ev_time() * 1e6));
	memcpy(sun.sun_path + 1, a->notify_name + 1,
	    strlen(a->notify_name) - 1);
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
			  strlen(a->notify_name));
	if (bind(fd, (struct sockaddr *)&sun, len) < 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	a->notify_fd = fd;
	return 0;
}

static void
kill_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct agent *a = w->data;
	int i;

	(void)loop;
	(void)revents;
	for (i = 0; i < NCHILD; i++) {
		if (a->kids[i].pid > 0) {
			log_warnx("cairn-%s did not stop in time; killing it",
			    a->kids[i].name);
			kill(a->kids[i].pid, SIGKILL);
		}
	}
}

static void
sig_stop_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct agent *a = w->data;
	int i;

	(void)revents;
	if (a->stopping) {
		kill_cb(loop, &a->kill_w, 0);
		return;
	}
	a->stopping = 1;
	log_info("caught %s, stopping the daemons", strsignal(w->signum));
	notify_stopping();
	for (i = 0; i < NCHILD; i++) {
		ev_timer_stop(loop, &a->kids[i].restart_w);
		/* gossipd gets SIGINT: the agent as a whole stops, so a
		 * client leaves the cluster (SIGTERM to gossipd alone is a
		 * component restart, which keeps the node a member) */
		if (a->kids[i].pid > 0)
			kill(a->kids[i].pid, strcmp(a->kids[i].name,
			    "gossipd") == 0 ? SIGINT : SIGTERM);
	}
	if (all_exited(a)) {
		ev_break(loop, EVBREAK_ALL);
		return;
	}
	ev_timer_set(&a->kill_w, STOP_KILL_AFTER, 0);
	ev_timer_start(loop, &a->kill_w);
}

static void
sig_hup_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct agent *a = w->data;
	int i;

	(void)loop;
	(void)revents;
	log_info("caught SIGHUP, reloading the daemons' configuration");
	for (i = 0; i < NCHILD; i++)
		if (a->kids[i].pid > 0)
			kill(a->kids[i].pid, SIGHUP);
}

static void
banner(const struct agent *a)
{
	const struct cairn_conf *c = &a->conf;
	char adv[64];
	struct errbuf eb;

	if (net_advertise_addr(c, adv, sizeof(adv), &eb) < 0)
		snprintf(adv, sizeof(adv), "%s", c->bind_addr);
	if (c->bootstrap)
		printf("==> WARNING: Bootstrap mode enabled! Do not enable "
		       "unless necessary\n");
	if (c->bootstrap_expect == 1)
		printf("==> WARNING: BootstrapExpect Mode is specified as 1; "
		       "this is the same as Bootstrap mode.\n");
	if (c->dev)
		printf("==> WARNING: Dev mode: data in %s is thrown away on "
		       "exit; not for production\n",
		    c->data_dir);
	printf("==> Starting Cairn agent...\n");
	printf("==> Cairn agent running!\n");
	printf("           Version: 'v%s'\n", CAIRN_VERSION);
	printf("         Node name: '%s'\n", c->node_name);
	printf("        Datacenter: '%s'\n", c->datacenter);
	printf("            Server: %s (bootstrap: %s)\n",
	    c->server ? "true" : "false",
	    c->bootstrap || c->bootstrap_expect == 1 ? "true" : "false");
	printf("       Client Addr: %s (HTTP: %lld, HTTPS: %lld, DNS: %lld)\n",
	    c->client_addr, (long long)c->port_http, (long long)c->port_https,
	    (long long)c->port_dns);
	printf("      Cluster Addr: %s (LAN: %lld, WAN: %lld)\n", adv,
	    (long long)c->port_serf_lan, (long long)c->port_serf_wan);
	printf("    Gossip encrypt: %s, RPC-TLS: %s, TLS-Incoming: %s\n",
	    c->encrypt && *c->encrypt ? "true" : "false",
	    c->verify_outgoing ? "true" : "false",
	    c->verify_incoming ? "true" : "false");
	printf("          Data dir: '%s'\n", c->data_dir);
	printf("\n==> Log data will now stream in as it occurs:\n\n");
	fflush(stdout);
}

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path) < 0 ? 0 : 0;
}

static void
agent_usage(FILE *f)
{
	fprintf(f, "Usage: cairn agent [options]\n\n"
		   "  Starts this node's daemons (cairn-raftd, cairn-gossipd, "
		   "cairn-checkd,\n"
		   "  cairn-dnsd, cairn-httpd) and keeps them running.\n\n"
		   "Options:\n");
	cfg_usage_flags(f);
}

int
cmd_agent(int argc, char **argv)
{
	struct agent a;
	struct errbuf eb;
	const char *ns;
	int i, r, has_data_dir = 0, dev = 0;

	for (i = 1; i < argc; i++) {
		const char *s = argv[i];

		if (strcmp(s, "-h") == 0 || strcmp(s, "-help") == 0 ||
		    strcmp(s, "--help") == 0) {
			agent_usage(stdout);
			return 0;
		}
		if (s[0] == '-' && s[1] == '-')
			s++;
		if (strncmp(s, "-data-dir", 9) == 0 &&
		    (s[9] == '\0' || s[9] == '='))
			has_data_dir = 1;
		if (strcmp(s, "-dev") == 0 || strcmp(s, "-dev=true") == 0)
			dev = 1;
	}

	memset(&a, 0, sizeof(a));
	a.notify_fd = -1;
	a.nargs = argc - 1;
	a.child_argv_tail = xcalloc((size_t)argc + 3, sizeof(char *));
	for (i = 1; i < argc; i++)
		a.child_argv_tail[i - 1] = argv[i];
	if (dev && !has_data_dir) {
		char tmpl[] = "/tmp/cairn-dev.XXXXXX";

		if (mkdtemp(tmpl) == NULL) {
			log_error("mkdtemp %s", tmpl);
			return 1;
		}
		a.dev_dir = xstrdup(tmpl);
		a.child_argv_tail[a.nargs++] = (char *)"-data-dir";
		a.child_argv_tail[a.nargs++] = a.dev_dir;
	}

	r = cfg_load(a.nargs, a.child_argv_tail, &a.conf, &eb);
	if (r < 0) {
		fprintf(stderr, "==> Error: %s\n", eb.msg);
		a.exit_code = 1;
		goto out;
	}
	{
		enum log_level lvl;

		if (log_level_parse(a.conf.log_level, &lvl) == 0)
			log_init("agent", lvl);
		else
			log_init("agent", LOG_LVL_INFO);
	}

	a.loop = EV_DEFAULT;
	ev_set_userdata(a.loop, &a);
	ns = getenv("NOTIFY_SOCKET");
	if (ns != NULL)
		a.parent_notify = xstrdup(ns);
	if ((r = open_notify_socket(&a)) < 0) {
		log_errorx("notify socket: %s", strerror(-r));
		a.exit_code = 1;
		goto out;
	}
	ev_io_init(&a.notify_w, notify_cb, a.notify_fd, EV_READ);
	a.notify_w.data = &a;
	ev_io_start(a.loop, &a.notify_w);

	ev_signal_init(&a.sig_term, sig_stop_cb, SIGTERM);
	ev_signal_init(&a.sig_int, sig_stop_cb, SIGINT);
	ev_signal_init(&a.sig_hup, sig_hup_cb, SIGHUP);
	a.sig_term.data = a.sig_int.data = a.sig_hup.data = &a;
	ev_signal_start(a.loop, &a.sig_term);
	ev_signal_start(a.loop, &a.sig_int);
	ev_signal_start(a.loop, &a.sig_hup);
	signal(SIGPIPE, SIG_IGN);
	ev_init(&a.kill_w, kill_cb);
	a.kill_w.data = &a;

	banner(&a);
	for (i = 0; i < NCHILD; i++) {
		struct child *k = &a.kids[i];

		k->name = child_names[i];
		find_binary(k);
		ev_init(&k->child_w, child_cb);
		k->child_w.data = k;
		ev_init(&k->restart_w, restart_cb);
		k->restart_w.data = k;
	}
	for (i = 0; i < NCHILD; i++)
		spawn(&a, &a.kids[i]);

	ev_run(a.loop, 0);
	log_info("agent stopped");
out:
	if (a.notify_fd >= 0)
		close(a.notify_fd);
	if (a.dev_dir != NULL) {
		nftw(a.dev_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
		free(a.dev_dir);
	}
	cfg_free(&a.conf);
	free(a.parent_notify);
	free(a.child_argv_tail);
	return a.exit_code;
}
