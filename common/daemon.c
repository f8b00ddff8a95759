/* daemon.c - shared scaffolding of every Cairn daemon. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "daemon.h"
#include "log.h"
#include "notify.h"
#include "uuid.h"
#include "version.h"
#include "xmalloc.h"

static int
mkdir_p(const char *path, mode_t mode)
{
	char tmp[4096];
	size_t len = strlen(path);
	char *p;

	if (len == 0 || len >= sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(tmp, path, len + 1);
	for (p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, mode) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

uint64_t *
daemon_counter(struct daemon *d, const char *name)
{
	size_t i;

	for (i = 0; i < d->ncounters; i++)
		if (strcmp(d->counters[i].name, name) == 0)
			return &d->counters[i].value;
	if (d->ncounters == DAEMON_MAX_COUNTERS)
		fatalx("too many counters (registering %s)", name);
	d->counters[d->ncounters].name = name;
	d->counters[d->ncounters].value = 0;
	return &d->counters[d->ncounters++].value;
}

void
daemon_status_info(struct ipc_status *st, const char *key, const char *fmt,
    ...)
{
	struct ipc_kv *kv;
	va_list ap;
	char *v;

	va_start(ap, fmt);
	if (vasprintf(&v, fmt, ap) < 0)
		v = NULL;
	va_end(ap);
	st->info.v = xreallocarray(st->info.v, st->info.n + 1, sizeof(*kv));
	kv = (struct ipc_kv *)st->info.v + st->info.n++;
	kv->key = xstrdup(key);
	kv->value = v ? v : xstrdup("");
}

static void
status_handler(struct ipc_req *req, void *arg)
{
	struct daemon *d = arg;
	struct ipc_server_stats ss;
	struct ipc_counter *c;
	struct ipc_status st;
	size_t i;

	memset(&st, 0, sizeof(st));
	st.daemon = xstrdup(d->ops->name);
	st.version = xstrdup(CAIRN_VERSION);
	st.revision = xstrdup(CAIRN_REVISION);
	st.pid = (uint64_t)getpid();
	ev_now_update(d->loop);
	st.uptime_ms = (uint64_t)((mono_now() - d->started_mono) * 1000);
	st.started_unix_ms = d->started_unix_ms;
	st.log_level = xstrdup(log_level_name(log_threshold));
	st.reloads = d->reloads;

	ipc_server_stats(d->rpc, &ss);
	*daemon_counter(d, "ipc.requests") = ss.requests;
	*daemon_counter(d, "ipc.bad") = ss.bad;
	*daemon_counter(d, "ipc.pending") = ss.pending;
	st.counters.v = xcalloc(d->ncounters, sizeof(*c));
	for (i = 0; i < d->ncounters; i++) {
		c = (struct ipc_counter *)st.counters.v + i;
		c->name = xstrdup(d->counters[i].name);
		c->value = d->counters[i].value;
	}
	st.counters.n = d->ncounters;
	if (d->ops->status != NULL)
		d->ops->status(d, &st);
	ipc_reply(req, &st);
	cdc_free(&ipc_status_desc, &st);
}

static void
ping_handler(struct ipc_req *req, void *arg)
{
	(void)arg;
	ipc_reply(req, NULL);
}

static void
reload_notice(const char *key, void *arg)
{
	(void)arg;
	log_warnx("reload: %s changed; it takes effect after a restart", key);
}

static void
apply_log_level(const struct cairn_conf *c)
{
	enum log_level lvl;

	if (c->log_level != NULL && log_level_parse(c->log_level, &lvl) == 0)
		log_set_level(lvl);
}

int
daemon_reload(struct daemon *d, struct errbuf *eb)
{
	struct cairn_conf fresh, old;
	int r;

	notify_reloading();
	memset(&fresh, 0, sizeof(fresh));
	r = cfg_reload(&d->conf, &fresh, reload_notice, d, eb);
	if (r < 0) {
		log_errorx("reload failed, keeping the running configuration: "
			   "%s",
		    eb->msg);
		notify_ready("running (reload failed)");
		return r;
	}
	old = d->conf;
	d->conf = fresh;
	apply_log_level(&d->conf);
	if (d->ops->reload != NULL)
		d->ops->reload(d, &old);
	cfg_free(&old);
	d->reloads++;
	log_info("configuration reloaded");
	notify_ready("running");
	return 0;
}

static void
reload_handler(struct ipc_req *req, void *arg)
{
	struct daemon *d = arg;
	struct ipc_reload_reply rep = {true};
	struct errbuf eb;

	if (daemon_reload(d, &eb) < 0) {
		ipc_reply_error(req, -EINVAL, "%s", eb.msg);
		return;
	}
	ipc_reply(req, &rep);
}

void
daemon_stopped(struct daemon *d)
{
	ev_break(d->loop, EVBREAK_ALL);
}

static void
stop_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	log_warnx("graceful stop took longer than %.0f s; stopping now",
	    DAEMON_STOP_GRACE_S);
	ev_break(loop, EVBREAK_ALL);
}

static void
sig_stop_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct daemon *d = w->data;

	(void)revents;
	if (d->stopping) {
		log_warnx("second %s: stopping now", strsignal(w->signum));
		ev_break(loop, EVBREAK_ALL);
		return;
	}
	d->stopping = true;
	d->stop_signal = w->signum;
	log_info("received %s, stopping", strsignal(w->signum));
	notify_stopping();
	ev_timer_init(&d->stop_timer, stop_timeout_cb, DAEMON_STOP_GRACE_S, 0);
	ev_timer_start(loop, &d->stop_timer);
	if (d->ops->stop != NULL)
		d->ops->stop(d);
	else
		daemon_stopped(d);
}

static void
sig_hup_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct daemon *d = w->data;
	struct errbuf eb;

	(void)loop;
	(void)revents;
	log_info("received SIGHUP, reloading configuration");
	daemon_reload(d, &eb);
}

static void
usage(const struct daemon_ops *ops, FILE *f)
{
	fprintf(f,
	    "usage: cairn-%s [-config-test] [agent flags...]\n"
	    "\n%s\n\n"
	    "Takes the same flags and configuration files as `cairn agent`;\n"
	    "normally started by `cairn agent` or by systemd "
	    "(cairn-%s.service).\n\n"
	    "  -config-test  load the configuration, report, and exit\n"
	    "  -version      print the version and exit\n\n"
	    "Agent flags:\n",
	    ops->name, ops->summary, ops->name);
	cfg_usage_flags(f);
}

static int
is_flag(const char *a, const char *name)
{
	if (*a != '-')
		return 0;
	a++;
	if (*a == '-')
		a++;
	return strcmp(a, name) == 0;
}

/* ensure_node_id - a node without node_id gets one, generated once and
 * kept in <data_dir>/node-id (Consul does the same); every daemon of the
 * node reads the same file, the first to start writes it (O_EXCL) */
static void
ensure_node_id(struct cairn_conf *c)
{
	const char *dir = c->data_dir && *c->data_dir ? c->data_dir : NULL;
	char path[600], id[64];
	int fd, tries;
	ssize_t n;

	if (c->node_id && *c->node_id)
		return;
	if (dir == NULL)
		return;
	snprintf(path, sizeof(path), "%s/node-id", dir);
	for (tries = 0; tries < 50; tries++) {
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			n = read(fd, id, sizeof(id) - 1);
			close(fd);
			if (n >= 36) {
				id[36] = '\0';
				free(c->node_id);
				c->node_id = xstrdup(id);
				return;
			}
			usleep(10000); /* another daemon is writing it */
			continue;
		}
		if (uuid4(id) < 0)
			return;
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0)
			continue; /* lost the race: read theirs */
		n = write(fd, id, 36);
		(void)fsync(fd);
		close(fd);
		if (n == 36) {
			free(c->node_id);
			c->node_id = xstrdup(id);
			return;
		}
	}
	log_warnx("%s: cannot read or create the node ID", path);
}

/* log_publish - the log hook: one IPC_EV_LOG per line (never logs) */
static void
log_publish(enum log_level level, const char *line, void *arg)
{
	struct daemon *d = arg;
	struct ipc_log_line ev;
	static bool busy;

	if (busy || d->logpub == NULL)
		return;
	busy = true;
	ev.level = (uint32_t)level;
	ev.line = (char *)line;
	(void)ipc_publish(d->logpub, IPC_EV_LOG, &ev);
	busy = false;
}

int
daemon_main(const struct daemon_ops *ops, void *priv, int argc, char **argv)
{
	struct daemon *d;
	struct errbuf eb;
	char **args;
	int nargs = 0, config_test = 0, i, r, rc = 1;

	log_init(ops->name, LOG_LVL_INFO);
	args = xcalloc((size_t)argc + 1, sizeof(*args));
	for (i = 1; i < argc; i++) {
		if (is_flag(argv[i], "h") || is_flag(argv[i], "help")) {
			usage(ops, stdout);
			free(args);
			return 0;
		} else if (is_flag(argv[i], "version")) {
			printf("cairn-%s v%s\nRevision %s\n", ops->name,
			    CAIRN_VERSION, CAIRN_REVISION);
			free(args);
			return 0;
		} else if (is_flag(argv[i], "config-test")) {
			config_test = 1;
		} else {
			args[nargs++] = argv[i];
		}
	}

	d = xcalloc(1, sizeof(*d));
	d->ops = ops;
	d->priv = priv;
	r = cfg_load(nargs, args, &d->conf, &eb);
	free(args);
	if (r < 0) {
		log_errorx("%s", eb.msg);
		free(d);
		return 1;
	}
	if (config_test) {
		printf("Configuration is valid!\n");
		rc = 0;
		goto out_conf;
	}
	apply_log_level(&d->conf);

	if (d->conf.data_dir != NULL && d->conf.data_dir[0] != '\0' &&
	    (r = mkdir_p(d->conf.data_dir, 0700)) < 0) {
		log_errorx("data_dir %s: %s", d->conf.data_dir, strerror(-r));
		goto out_conf;
	}
	ensure_node_id(&d->conf);
	if ((r = mkdir_p(d->conf.run_dir, 0700)) < 0) {
		log_errorx("run_dir %s: %s", d->conf.run_dir, strerror(-r));
		goto out_conf;
	}

	d->loop = EV_DEFAULT;
	d->started_mono = mono_now();
	{
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		d->started_unix_ms = (uint64_t)ts.tv_sec * 1000 +
				     (uint64_t)ts.tv_nsec / 1000000;
	}
	if (ipc_socket_path(d->rpc_path, sizeof(d->rpc_path), d->conf.run_dir,
		ops->name) < 0) {
		log_errorx("run_dir %s: path too long", d->conf.run_dir);
		goto out_conf;
	}
	if ((r = ipc_server_open(d->loop, d->rpc_path, &d->rpc, &eb)) < 0) {
		log_errorx("ipc: %s", eb.msg);
		goto out_conf;
	}
	/* every log line also goes to <run_dir>/<daemon>.log subscribers
	 * (/v1/agent/monitor) */
	{
		char lp[512];

		snprintf(lp, sizeof(lp), "%s/%s.log", d->conf.run_dir,
		    ops->name);
		if (ipc_pub_open(lp, &d->logpub, &eb) == 0)
			log_set_hook(log_publish, d);
		else
			log_warnx("log publisher: %s", eb.msg);
	}
	ipc_server_on(d->rpc, IPC_PING, ping_handler, d);
	ipc_server_on(d->rpc, IPC_STATUS, status_handler, d);
	ipc_server_on(d->rpc, IPC_RELOAD, reload_handler, d);

	ev_signal_init(&d->sig_term, sig_stop_cb, SIGTERM);
	ev_signal_init(&d->sig_int, sig_stop_cb, SIGINT);
	ev_signal_init(&d->sig_hup, sig_hup_cb, SIGHUP);
	d->sig_term.data = d->sig_int.data = d->sig_hup.data = d;
	ev_signal_start(d->loop, &d->sig_term);
	ev_signal_start(d->loop, &d->sig_int);
	ev_signal_start(d->loop, &d->sig_hup);
	signal(SIGPIPE, SIG_IGN);

	if (ops->init != NULL && (r = ops->init(d, &eb)) < 0) {
		log_errorx("%s", eb.msg);
		goto out_ipc;
	}
	log_info("cairn-%s v%s running (pid %ld, node %s, dc %s, %s mode)",
	    ops->name, CAIRN_VERSION, (long)getpid(), d->conf.node_name,
	    d->conf.datacenter, d->conf.server ? "server" : "client");
	notify_ready("running");
	ev_run(d->loop, 0);
	rc = 0;
	ev_timer_stop(d->loop, &d->stop_timer);
	if (ops->close != NULL)
		ops->close(d);
	log_info("stopped");
out_ipc:
	log_set_hook(NULL, NULL);
	ipc_pub_close(d->logpub);
	d->logpub = NULL;
	ev_signal_stop(d->loop, &d->sig_term);
	ev_signal_stop(d->loop, &d->sig_int);
	ev_signal_stop(d->loop, &d->sig_hup);
	ipc_server_close(d->rpc);
out_conf:
	cfg_free(&d->conf);
	free(d);
	return rc;
}
