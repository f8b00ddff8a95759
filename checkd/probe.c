/* probe.c - one run of a script, HTTP(S), TCP or UDP health check on libev
 * (see probe.h); the HTTP client is libcurl's multi interface. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>
#include <ev.h>

#include "log.h"
#include "probe.h"
#include "xmalloc.h"

#define OUTPUT_MAX_DEFAULT 4096
#define SCRIPT_TIMEOUT_MS 30000
#define NET_TIMEOUT_MS 10000
#define READ_ROUNDS 16		/* pipe reads per wakeup: a chatty child
				 * cannot starve the loop */

/* the last cap bytes written, as Consul's circbuf */
struct ring {
	char *buf;
	size_t cap;
	size_t pos;		/* next write */
	size_t len;		/* bytes kept, <= cap */
	uint64_t total;		/* bytes written */
};

struct reaper;

struct probe {
	struct ev_loop *loop;
	enum probe_kind kind;
	probe_done_fn done;
	void *arg;
	uint64_t timeout_ms;
	struct probe *next, **prevp;	/* live probes (probe_shutdown) */

	ev_timer tw;		/* the timeout, or a result found early */
	bool deferred;		/* tw delivers def_st / def_out */
	enum probe_status def_st;
	char *def_out;

	struct ring out;	/* script output or HTTP body */

	/* script */
	pid_t pid;		/* also the process group */
	struct reaper *reaper;	/* NULL once the child is reaped */
	int pfd;		/* read end of the output pipe, or -1 */
	ev_io pw;
	bool timed_out;

	/* http */
	CURL *easy;
	char *url, *method;
	struct curl_slist *hdrs, *connect_to;
	char errbuf[CURL_ERROR_SIZE];
	long code;		/* from the last status line */
	char reason[64];

	/* tcp, udp */
	char *addr;
	struct addrinfo *ai, *cur;
	int fd;
	int err;		/* last connect error */
	ev_io iow;
};

/* ev_child outlives a cancelled probe, so a child is always reaped */
struct reaper {
	ev_child cw;		/* first: the callback casts back */
	struct ev_loop *loop;
	pid_t pid;
	struct probe *p;	/* NULL once the probe is gone */
	struct reaper *next, **prevp;
};

static struct probe *live;
static struct reaper *reapers;

/* the process-wide curl multi handle, on one loop */
static CURLM *multi;
static struct ev_loop *mloop;
static ev_timer mtimer;

struct csock {
	ev_io w;
	struct csock *next, **prevp;
};
static struct csock *csocks;

/* ------------------------------------------------------------------ common */

static void
ring_init(struct ring *r, size_t cap)
{
	r->buf = xmalloc(cap);
	r->cap = cap;
	r->pos = r->len = 0;
	r->total = 0;
}

static void
ring_put(struct ring *r, const char *s, size_t n)
{
	size_t first;

	r->total += n;
	if (n >= r->cap) {
		memcpy(r->buf, s + (n - r->cap), r->cap);
		r->pos = 0;
		r->len = r->cap;
		return;
	}
	first = r->cap - r->pos < n ? r->cap - r->pos : n;
	memcpy(r->buf + r->pos, s, first);
	memcpy(r->buf, s + first, n - first);
	r->pos = (r->pos + n) % r->cap;
	r->len = r->len + n > r->cap ? r->cap : r->len + n;
}

/* ring_str - the kept bytes in order; returns a new string */
static char *
ring_str(const struct ring *r)
{
	char *s = xmalloc(r->len + 1);
	size_t start = (r->pos + r->cap - r->len) % r->cap;
	size_t first = r->cap - start < r->len ? r->cap - start : r->len;

	memcpy(s, r->buf + start, first);
	memcpy(s + first, r->buf, r->len - first);
	s[r->len] = '\0';
	return s;
}

/* fmt_duration - as Go's time.Duration.String() for whole milliseconds:
 * "500ms", "30s", "1.5s", "1m30s", "1h0m0s" */
static void
fmt_duration(char *out, size_t n, uint64_t ms)
{
	unsigned long long h = ms / 3600000, m = ms / 60000 % 60,
	    s = ms / 1000 % 60, frac = ms % 1000;
	char fs[8] = "";
	int len = 0;

	if (ms < 1000) {
		snprintf(out, n, "%llums", (unsigned long long)ms);
		return;
	}
	if (frac != 0) {
		snprintf(fs, sizeof(fs), ".%03llu", frac);
		while (fs[strlen(fs) - 1] == '0')
			fs[strlen(fs) - 1] = '\0';
	}
	if (h > 0)
		len = snprintf(out, n, "%lluh", h);
	if (h > 0 || m > 0)
		len += snprintf(out + len, n - (size_t)len, "%llum", m);
	snprintf(out + len, n - (size_t)len, "%llu%ss", s, fs);
}

static void
timer_start(struct probe *p, double after)
{
	ev_timer_set(&p->tw, after, 0.);
	ev_timer_start(p->loop, &p->tw);
}

/* defer - report a result found inside probe_start from the loop; takes
 * ownership of out */
static void
defer(struct probe *p, enum probe_status st, char *out)
{
	ev_timer_stop(p->loop, &p->tw);
	p->deferred = true;
	p->def_st = st;
	p->def_out = out;
	timer_start(p, 0.);
}

static void
kill_group(pid_t pid)
{
	/* the child may not have reached setsid() yet: kill it by pid too */
	(void)kill(-pid, SIGKILL);
	(void)kill(pid, SIGKILL);
}

/* release - stop every watcher and close every descriptor; a child still
 * running is killed and left to its reaper */
static void
release(struct probe *p)
{
	ev_timer_stop(p->loop, &p->tw);
	if (p->reaper != NULL) {
		kill_group(p->pid);
		p->reaper->p = NULL;
		p->reaper = NULL;
	}
	if (p->pfd >= 0) {
		ev_io_stop(p->loop, &p->pw);
		close(p->pfd);
		p->pfd = -1;
	}
	if (p->easy != NULL) {
		curl_multi_remove_handle(multi, p->easy);
		curl_easy_cleanup(p->easy);
		p->easy = NULL;
	}
	if (p->fd >= 0) {
		ev_io_stop(p->loop, &p->iow);
		close(p->fd);
		p->fd = -1;
	}
	if (p->prevp != NULL) {
		if (p->next != NULL)
			p->next->prevp = p->prevp;
		*p->prevp = p->next;
		p->prevp = NULL;
	}
}

static void
probe_free(struct probe *p)
{
	free(p->def_out);
	free(p->out.buf);
	free(p->url);
	free(p->method);
	curl_slist_free_all(p->hdrs);
	curl_slist_free_all(p->connect_to);
	free(p->addr);
	if (p->ai != NULL)
		freeaddrinfo(p->ai);
	free(p);
}

/* finish - report and free; takes ownership of out */
static void
finish(struct probe *p, enum probe_status st, char *out)
{
	release(p);
	p->done(st, out != NULL ? out : "", p->arg);
	free(out);
	probe_free(p);
}

/* ------------------------------------------------------------------ script */

static void
reaper_unlink(struct reaper *r)
{
	if (r->next != NULL)
		r->next->prevp = r->prevp;
	*r->prevp = r->next;
}

/* script_drain - read what the pipe holds; returns 1 at EOF (or a read
 * error), 0 when it is empty for now or after rounds reads */
static int
script_drain(struct probe *p, int rounds)
{
	char chunk[16384];
	ssize_t n;

	while (rounds-- > 0) {
		n = read(p->pfd, chunk, sizeof(chunk));
		if (n > 0) {
			ring_put(&p->out, chunk, (size_t)n);
		} else if (n == 0) {
			return 1;
		} else if (errno == EINTR) {
			rounds++;
		} else if (errno == EAGAIN) {
			return 0;
		} else {
			log_debug("probe: read script output: %s",
			    strerror(errno));
			return 1;
		}
	}
	return 0;
}

static void
script_pipe_close(struct probe *p)
{
	ev_io_stop(p->loop, &p->pw);
	close(p->pfd);
	p->pfd = -1;
}

static void
script_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct probe *p = w->data;

	(void)loop;
	(void)revents;
	/* at EOF the result still waits for the exit */
	if (script_drain(p, READ_ROUNDS))
		script_pipe_close(p);
}

static char *
script_output(const struct probe *p)
{
	char *s = ring_str(&p->out), *o;

	if (p->out.total <= p->out.len)
		return s;
	o = xasprintf("Captured %zu of %llu bytes\n...\n%s", p->out.len,
	    (unsigned long long)p->out.total, s);
	free(s);
	return o;
}

static void
script_exited(struct probe *p, int wstatus)
{
	enum probe_status st;
	char d[32];

	if (p->timed_out) {
		fmt_duration(d, sizeof(d), p->timeout_ms);
		finish(p, PROBE_CRITICAL,
		    xasprintf("Timed out (%s) running check", d));
		return;
	}
	if (p->pfd >= 0) {
		/* what the child wrote just before exiting; a pipe still
		 * open after that is held by something it left behind */
		if (!script_drain(p, 1024)) {
			log_debug("probe: pid %d exited, its output pipe is "
			    "still open: killing its process group",
			    (int)p->pid);
			(void)kill(-p->pid, SIGKILL);
		}
		script_pipe_close(p);
	}
	if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0)
		st = PROBE_PASSING;
	else if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 1)
		st = PROBE_WARNING;
	else
		st = PROBE_CRITICAL;
	if (WIFSIGNALED(wstatus))
		log_debug("probe: pid %d killed by signal %d", (int)p->pid,
		    WTERMSIG(wstatus));
	finish(p, st, script_output(p));
}

static void
reaper_cb(struct ev_loop *loop, ev_child *w, int revents)
{
	struct reaper *r = (struct reaper *)w;
	struct probe *p = r->p;
	int wstatus = w->rstatus;

	(void)revents;
	ev_child_stop(loop, w);
	reaper_unlink(r);
	free(r);
	if (p != NULL) {
		p->reaper = NULL;
		script_exited(p, wstatus);
	}
}

static void
script_timeout(struct probe *p)
{
	char d[32];

	fmt_duration(d, sizeof(d), p->timeout_ms);
	log_debug("probe: pid %d timed out after %s: killing its "
	    "process group", (int)p->pid, d);
	p->timed_out = true;
	kill_group(p->pid);	/* the result comes with the reaping */
}

static int
fd_above_stdio(int fd)
{
	int nfd;

	if (fd > 2)
		return fd;
	nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	close(fd);
	return nfd;
}

/* child_exec - in the forked child: only async-signal-safe calls */
static void __attribute__((noreturn))
child_exec(int nullfd, int wfd, char *const *argv, const char *script)
{
	struct sigaction sa;
	sigset_t none;
	const char *name, *why;
	int sig;

	(void)setsid();
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (sig = 1; sig < NSIG; sig++)
		(void)sigaction(sig, &sa, NULL);
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
	if (dup2(nullfd, 0) < 0 || dup2(wfd, 1) < 0 || dup2(wfd, 2) < 0)
		_exit(127);
	(void)close_range(3, ~0U, 0);
	if (argv != NULL)
		execvp(argv[0], argv);
	else
		execl("/bin/sh", "sh", "-c", script, (char *)NULL);
	why = strerrordesc_np(errno);
	name = argv != NULL ? argv[0] : "/bin/sh";
	if (write(2, "Failed to invoke: ", 18) < 0 ||
	    write(2, name, strlen(name)) < 0 || write(2, ": ", 2) < 0 ||
	    write(2, why, strlen(why)) < 0 || write(2, "\n", 1) < 0)
		_exit(127);
	_exit(127);
}

static void
script_start(struct probe *p, const struct probe_spec *spec)
{
	struct reaper *r;
	int pfd[2], nullfd, e;
	pid_t pid;

	pfd[0] = pfd[1] = nullfd = -1;
	if (pipe2(pfd, O_CLOEXEC) < 0 ||
	    (pfd[0] = fd_above_stdio(pfd[0])) < 0 ||
	    (pfd[1] = fd_above_stdio(pfd[1])) < 0 ||
	    (nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0 ||
	    (nullfd = fd_above_stdio(nullfd)) < 0) {
		e = errno;
		goto fail;
	}
	pid = fork();
	if (pid == 0)
		child_exec(nullfd, pfd[1], spec->args, spec->script);
	e = errno;
	close(pfd[1]);
	close(nullfd);
	if (pid < 0) {
		close(pfd[0]);
		defer(p, PROBE_CRITICAL,
		    xasprintf("Failed to invoke: fork: %s", strerror(e)));
		return;
	}
	p->pid = pid;
	log_debug("probe: started pid %d", (int)pid);
	r = xcalloc(1, sizeof(*r));
	r->loop = p->loop;
	r->pid = pid;
	r->p = p;
	ev_child_init(&r->cw, reaper_cb, pid, 0);
	ev_child_start(p->loop, &r->cw);
	if ((r->next = reapers) != NULL)
		reapers->prevp = &r->next;
	reapers = r;
	r->prevp = &reapers;
	p->reaper = r;

	(void)fcntl(pfd[0], F_SETFL, fcntl(pfd[0], F_GETFL) | O_NONBLOCK);
	p->pfd = pfd[0];
	ev_io_init(&p->pw, script_read_cb, p->pfd, EV_READ);
	p->pw.data = p;
	ev_io_start(p->loop, &p->pw);
	timer_start(p, (double)p->timeout_ms / 1000.);
	return;
fail:
	if (pfd[0] >= 0)
		close(pfd[0]);
	if (pfd[1] >= 0)
		close(pfd[1]);
	if (nullfd >= 0)
		close(nullfd);
	defer(p, PROBE_CRITICAL, xasprintf("Failed to invoke: %s",
	    strerror(e)));
}

/* -------------------------------------------------------------------- http */

static const char *
http_reason(long code)
{
	static const struct {
		long code;
		const char *text;
	} t[] = {
	    {200, "OK"}, {201, "Created"}, {202, "Accepted"},
	    {204, "No Content"}, {301, "Moved Permanently"}, {302, "Found"},
	    {303, "See Other"}, {304, "Not Modified"},
	    {307, "Temporary Redirect"}, {308, "Permanent Redirect"},
	    {400, "Bad Request"}, {401, "Unauthorized"}, {403, "Forbidden"},
	    {404, "Not Found"}, {405, "Method Not Allowed"},
	    {408, "Request Timeout"}, {429, "Too Many Requests"},
	    {500, "Internal Server Error"}, {501, "Not Implemented"},
	    {502, "Bad Gateway"}, {503, "Service Unavailable"},
	    {504, "Gateway Timeout"},
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (t[i].code == code)
			return t[i].text;
	return "";
}

static void http_done(struct probe *p, CURLcode rc);

static void
multi_check(void)
{
	struct probe *p;
	CURLMsg *m;
	CURLcode rc;
	int left;

	while (multi != NULL && (m = curl_multi_info_read(multi, &left))) {
		if (m->msg != CURLMSG_DONE)
			continue;
		rc = m->data.result;
		p = NULL;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &p);
		if (p != NULL)
			http_done(p, rc);
	}
}

static void
csock_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	int flags = 0, running;

	(void)loop;
	if (revents & EV_READ)
		flags |= CURL_CSELECT_IN;
	if (revents & EV_WRITE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(multi, w->fd, flags, &running);
	multi_check();
}

static void
csock_free(struct csock *cs)
{
	ev_io_stop(mloop, &cs->w);
	if (cs->next != NULL)
		cs->next->prevp = cs->prevp;
	*cs->prevp = cs->next;
	free(cs);
}

static int
multi_socket_cb(CURL *e, curl_socket_t s, int what, void *userp, void *sockp)
{
	struct csock *cs = sockp;
	int ev = 0;

	(void)e;
	(void)userp;
	if (what == CURL_POLL_REMOVE) {
		if (cs != NULL)
			csock_free(cs);
		return 0;
	}
	if (what & CURL_POLL_IN)
		ev |= EV_READ;
	if (what & CURL_POLL_OUT)
		ev |= EV_WRITE;
	if (cs == NULL) {
		cs = xcalloc(1, sizeof(*cs));
		ev_io_init(&cs->w, csock_cb, s, ev);
		if ((cs->next = csocks) != NULL)
			csocks->prevp = &cs->next;
		csocks = cs;
		cs->prevp = &csocks;
		curl_multi_assign(multi, s, cs);
	} else {
		ev_io_stop(mloop, &cs->w);
		ev_io_set(&cs->w, s, ev);
	}
	ev_io_start(mloop, &cs->w);
	return 0;
}

/* curl asks for a timeout; socket_action is never called from here */
static int
multi_timer_cb(CURLM *m, long ms, void *userp)
{
	(void)m;
	(void)userp;
	ev_timer_stop(mloop, &mtimer);
	if (ms >= 0) {
		ev_timer_set(&mtimer, (double)ms / 1000., 0.);
		ev_timer_start(mloop, &mtimer);
	}
	return 0;
}

static void
mtimer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	int running;

	(void)loop;
	(void)w;
	(void)revents;
	curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
	multi_check();
}

static int
multi_init(struct ev_loop *loop)
{
	if (multi != NULL)
		return mloop == loop ? 0 : -EINVAL;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -ENOMEM;
	if ((multi = curl_multi_init()) == NULL) {
		curl_global_cleanup();
		return -ENOMEM;
	}
	mloop = loop;
	ev_timer_init(&mtimer, mtimer_cb, 0., 0.);
	curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, multi_socket_cb);
	curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, multi_timer_cb);
	return 0;
}

static size_t
http_body_cb(char *ptr, size_t size, size_t n, void *arg)
{
	struct probe *p = arg;

	ring_put(&p->out, ptr, size * n);
	return size * n;
}

/* every status line, also those of redirects and 1xx, starts a response:
 * keep its code and reason, and only the body that follows it */
static size_t
http_header_cb(char *ptr, size_t size, size_t n, void *arg)
{
	struct probe *p = arg;
	size_t len = size * n, i, j;

	if (len < 12 || strncmp(ptr, "HTTP/", 5) != 0)
		return len;
	for (i = 5; i < len && ptr[i] != ' '; i++)
		;
	while (i < len && ptr[i] == ' ')
		i++;
	p->code = 0;
	for (; i < len && ptr[i] >= '0' && ptr[i] <= '9'; i++)
		p->code = p->code * 10 + (ptr[i] - '0');
	while (i < len && ptr[i] == ' ')
		i++;
	for (j = len; j > i && (ptr[j - 1] == '\r' || ptr[j - 1] == '\n' ||
	    ptr[j - 1] == ' '); j--)
		;
	if (j - i >= sizeof(p->reason))
		j = i + sizeof(p->reason) - 1;
	memcpy(p->reason, ptr + i, j - i);
	p->reason[j - i] = '\0';
	p->out.pos = p->out.len = 0;
	p->out.total = 0;
	return len;
}

/* curl's message, with the system's reason when curl's is generic
 * ("Couldn't connect to server (Connection refused)") */
static char *
http_error(struct probe *p, CURLcode rc)
{
	const char *msg = p->errbuf[0] != '\0' ? p->errbuf
	    : curl_easy_strerror(rc);
	const char *why = NULL;
	long oserr = 0;
	size_t n = strlen(msg);

	while (n > 0 && (msg[n - 1] == ' ' || msg[n - 1] == '\n'))
		n--;
	if (curl_easy_getinfo(p->easy, CURLINFO_OS_ERRNO, &oserr) ==
	    CURLE_OK && oserr != 0) {
		why = strerror((int)oserr);
		if (strstr(msg, why) != NULL)
			why = NULL;
	}
	return xasprintf("HTTP %s %s: %.*s%s%s%s", p->method, p->url, (int)n,
	    msg, why ? " (" : "", why ? why : "", why ? ")" : "");
}

static void
http_done(struct probe *p, CURLcode rc)
{
	enum probe_status st;
	const char *reason;
	char *body, *out;
	long code = 0;

	if (rc != CURLE_OK) {
		finish(p, PROBE_CRITICAL, http_error(p, rc));
		return;
	}
	curl_easy_getinfo(p->easy, CURLINFO_RESPONSE_CODE, &code);
	reason = code == p->code && p->reason[0] != '\0' ? p->reason
	    : http_reason(code);
	if (code >= 200 && code <= 299)
		st = PROBE_PASSING;
	else if (code == 429)
		st = PROBE_WARNING;
	else
		st = PROBE_CRITICAL;
	body = ring_str(&p->out);
	out = xasprintf("HTTP %s %s: %ld %s Output: %s", p->method, p->url,
	    code, reason, body);
	free(body);
	finish(p, st, out);
}

static bool
has_header(char **hdrs, const char *name)
{
	size_t n = strlen(name);

	for (; hdrs != NULL && *hdrs != NULL; hdrs++)
		if (strncasecmp(*hdrs, name, n) == 0 && (*hdrs)[n] == ':')
			return true;
	return false;
}

/*
 * TLSServerName: libcurl cannot verify a certificate against a name other
 * than the URL's host (CURLOPT_SSL_VERIFYHOST only takes 0 or 2), so the
 * URL is rewritten to https://<name>:<port>/... (SNI and verification use
 * <name>), CURLOPT_CONNECT_TO sends that connection to the original host
 * and port, and a Host header keeps the original authority (as Go sends
 * it).  Redirects to other absolute URLs are not rewritten.
 */
static void
http_server_name(struct probe *p, CURL *e, const char *name,
    bool user_host)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL, *eport = NULL;
	char *nurl = NULL, *s;

	if (u == NULL || curl_url_set(u, CURLUPART_URL, p->url, 0) ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) ||
	    strcasecmp(scheme, "https") != 0 ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) ||
	    strcasecmp(host, name) == 0 ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT))
		goto out;
	if (curl_url_get(u, CURLUPART_PORT, &eport, 0) != CURLUE_OK)
		eport = NULL;
	if (curl_url_set(u, CURLUPART_HOST, name, 0) ||
	    curl_url_get(u, CURLUPART_URL, &nurl, 0))
		goto out;
	s = xasprintf("%s:%s:%s:%s", name, port, host, port);
	p->connect_to = curl_slist_append(NULL, s);
	free(s);
	if (!user_host) {
		s = xasprintf("Host: %s%s%s", host, eport ? ":" : "",
		    eport ? eport : "");
		p->hdrs = curl_slist_append(p->hdrs, s);
		free(s);
	}
	curl_easy_setopt(e, CURLOPT_URL, nurl);
	curl_easy_setopt(e, CURLOPT_CONNECT_TO, p->connect_to);
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_free(eport);
	curl_free(nurl);
	curl_url_cleanup(u);
}

static void
http_start(struct probe *p, const struct probe_spec *spec)
{
	bool body = spec->body != NULL && spec->body[0] != '\0';
	CURL *e;
	char **h;
	int rc;

	p->url = xstrdup(spec->http);
	p->method = xstrdup(spec->method != NULL && spec->method[0] != '\0'
	    ? spec->method : "GET");
	if ((rc = multi_init(p->loop)) < 0) {
		defer(p, PROBE_CRITICAL, xasprintf("HTTP %s %s: %s", p->method,
		    p->url, rc == -EINVAL ? "HTTP checks must share one loop"
		    : "cannot start an HTTP client"));
		return;
	}
	if ((e = curl_easy_init()) == NULL) {
		defer(p, PROBE_CRITICAL, xasprintf("HTTP %s %s: %s", p->method,
		    p->url, "cannot start an HTTP client"));
		return;
	}
	p->easy = e;
	curl_easy_setopt(e, CURLOPT_PRIVATE, p);
	curl_easy_setopt(e, CURLOPT_URL, p->url);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, p->errbuf);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(e, CURLOPT_PROTOCOLS,
	    (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
	curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS,
	    (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)p->timeout_ms);
	/* Consul's transport disables keep-alives */
	curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
	curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "Consul Health Check");
	if (!spec->disable_redirects) {
		curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
		curl_easy_setopt(e, CURLOPT_MAXREDIRS, 10L);
	}
	if (spec->tls_skip_verify) {
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, http_body_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, p);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, http_header_cb);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, p);

	/* the user's headers win over the defaults */
	for (h = spec->headers; h != NULL && *h != NULL; h++)
		p->hdrs = curl_slist_append(p->hdrs, *h);
	if (!has_header(spec->headers, "Accept"))
		p->hdrs = curl_slist_append(p->hdrs,
		    "Accept: text/plain, text/*, */*");
	if (strcmp(p->method, "HEAD") == 0) {
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	} else if (strcmp(p->method, "GET") != 0 || body) {
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, p->method);
	}
	/* a body, or Content-Length: 0 where Go sends one */
	if (body || strcmp(p->method, "POST") == 0 ||
	    strcmp(p->method, "PUT") == 0 || strcmp(p->method, "PATCH") == 0) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE,
		    (long)(body ? strlen(spec->body) : 0));
		curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS,
		    body ? spec->body : "");
		if (!has_header(spec->headers, "Content-Type"))
			p->hdrs = curl_slist_append(p->hdrs, "Content-Type:");
		p->hdrs = curl_slist_append(p->hdrs, "Expect:");
	}
	if (spec->tls_server_name != NULL && spec->tls_server_name[0] != '\0')
		http_server_name(p, e, spec->tls_server_name,
		    has_header(spec->headers, "Host"));
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, p->hdrs);

	if (curl_multi_add_handle(multi, e) != CURLM_OK) {
		curl_easy_cleanup(e);
		p->easy = NULL;
		defer(p, PROBE_CRITICAL, xasprintf("HTTP %s %s: %s", p->method,
		    p->url, "cannot start an HTTP client"));
	}
}

/* ----------------------------------------------------------------- tcp/udp */

static const char *
net_name(const struct probe *p)
{
	return p->kind == PROBE_TCP ? "tcp" : "udp";
}

static void
net_fail(struct probe *p, const char *why)
{
	finish(p, PROBE_CRITICAL,
	    xasprintf("dial %s %s: %s", net_name(p), p->addr, why));
}

static void
net_pass(struct probe *p)
{
	finish(p, PROBE_PASSING, xasprintf("%s connect %s: Success",
	    p->kind == PROBE_TCP ? "TCP" : "UDP", p->addr));
}

static void net_io_cb(struct ev_loop *loop, ev_io *w, int revents);

static void
net_close(struct probe *p)
{
	if (p->fd < 0)
		return;
	ev_io_stop(p->loop, &p->iow);
	close(p->fd);
	p->fd = -1;
}

/* net_next - connect to p->cur or the addresses after it; returns 1 when
 * done (a result is due: passing if p->err is 0), 0 when waiting */
static int
net_next(struct probe *p)
{
	struct addrinfo *a;
	char one = 0;
	int fd;

	for (; (a = p->cur) != NULL; p->cur = a->ai_next, net_close(p)) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, a->ai_protocol);
		if (fd < 0) {
			p->err = errno;
			continue;
		}
		p->fd = fd;
		if (connect(fd, a->ai_addr, a->ai_addrlen) < 0) {
			p->err = errno;
			if (p->kind == PROBE_TCP && p->err == EINPROGRESS) {
				ev_io_init(&p->iow, net_io_cb, fd, EV_WRITE);
				break;
			}
			continue;
		}
		if (p->kind == PROBE_TCP) {
			p->err = 0;
			return 1;
		}
		if (send(fd, &one, 1, 0) < 0) {
			/* an earlier ICMP error shows here */
			p->err = errno;
			return 1;
		}
		ev_io_init(&p->iow, net_io_cb, fd, EV_READ);
		break;
	}
	if (p->cur == NULL)
		return 1;
	p->iow.data = p;
	ev_io_start(p->loop, &p->iow);
	return 0;
}

static void
net_result(struct probe *p)
{
	if (p->err == 0)
		net_pass(p);
	else
		net_fail(p, strerror(p->err));
}

static void
net_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct probe *p = w->data;
	socklen_t len = sizeof(p->err);
	char buf[512];

	(void)loop;
	(void)revents;
	if (p->kind == PROBE_UDP) {
		if (recv(p->fd, buf, sizeof(buf), 0) >= 0) {
			p->err = 0;
		} else if (errno == EAGAIN || errno == EINTR) {
			return;
		} else {
			p->err = errno;
		}
		net_result(p);
		return;
	}
	if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &p->err, &len) < 0)
		p->err = errno;
	if (p->err == 0) {
		net_pass(p);
		return;
	}
	log_debug("probe: connect %s: %s", p->addr, strerror(p->err));
	p->cur = p->cur->ai_next;
	net_close(p);
	if (net_next(p))
		net_result(p);
}

static void
net_timeout(struct probe *p)
{
	if (p->kind == PROBE_UDP)
		net_pass(p);	/* no answer and no error: as Consul */
	else
		net_fail(p, "i/o timeout");
}

/* split_hostport - "host:port" or "[v6]:port", as Go's net.SplitHostPort;
 * returns NULL or why not */
static const char *
split_hostport(const char *addr, char **host, char **port)
{
	const char *c, *end;

	if (addr[0] == '[') {
		if ((end = strchr(addr, ']')) == NULL)
			return "missing ']' in address";
		if (end[1] != ':')
			return "missing port in address";
		*host = xstrndup(addr + 1, (size_t)(end - addr - 1));
		*port = xstrdup(end + 2);
		return NULL;
	}
	if ((c = strrchr(addr, ':')) == NULL)
		return "missing port in address";
	if (memchr(addr, ':', (size_t)(c - addr)) != NULL)
		return "too many colons in address";
	*host = xstrndup(addr, (size_t)(c - addr));
	*port = xstrdup(c + 1);
	return NULL;
}

static void
net_start(struct probe *p, const struct probe_spec *spec)
{
	struct addrinfo hints;
	char *host = NULL, *port = NULL;
	const char *why;
	int rc;

	p->addr = xstrdup(spec->addr);
	if ((why = split_hostport(p->addr, &host, &port)) != NULL) {
		defer(p, PROBE_CRITICAL, xasprintf("dial %s %s: %s",
		    net_name(p), p->addr, why));
		return;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = p->kind == PROBE_TCP ? SOCK_STREAM : SOCK_DGRAM;
	rc = getaddrinfo(host[0] != '\0' ? host : NULL, port, &hints, &p->ai);
	if (rc != 0) {
		p->ai = NULL;
		defer(p, PROBE_CRITICAL, xasprintf("dial %s %s: lookup %s: %s",
		    net_name(p), p->addr, host, gai_strerror(rc)));
		goto out;
	}
	p->cur = p->ai;
	p->err = EADDRNOTAVAIL;
	if (net_next(p)) {
		/* an answer already (or no address worked) */
		if (p->err == 0)
			defer(p, PROBE_PASSING, xasprintf("%s connect %s: "
			    "Success", p->kind == PROBE_TCP ? "TCP" : "UDP",
			    p->addr));
		else
			defer(p, PROBE_CRITICAL, xasprintf("dial %s %s: %s",
			    net_name(p), p->addr, strerror(p->err)));
		net_close(p);
		goto out;
	}
	timer_start(p, (double)p->timeout_ms / 1000.);
out:
	free(host);
	free(port);
}

/* ------------------------------------------------------------------ public */

static void
probe_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct probe *p = w->data;
	char *out;

	(void)loop;
	(void)revents;
	if (p->deferred) {
		out = p->def_out;
		p->def_out = NULL;
		finish(p, p->def_st, out);
		return;
	}
	switch (p->kind) {
	case PROBE_SCRIPT:
		script_timeout(p);
		break;
	case PROBE_TCP:
	case PROBE_UDP:
		net_timeout(p);
		break;
	case PROBE_HTTP:	/* curl keeps the time itself */
		break;
	}
}

static bool
spec_usable(const struct probe_spec *s)
{
	switch (s->kind) {
	case PROBE_SCRIPT:
		if (s->args != NULL)
			return s->args[0] != NULL && s->args[0][0] != '\0';
		return s->script != NULL && s->script[0] != '\0';
	case PROBE_HTTP:
		return s->http != NULL && s->http[0] != '\0';
	case PROBE_TCP:
	case PROBE_UDP:
		return s->addr != NULL && s->addr[0] != '\0';
	}
	return false;
}

struct probe *
probe_start(struct ev_loop *loop, const struct probe_spec *spec,
    probe_done_fn done, void *arg)
{
	struct probe *p;

	if (loop == NULL || spec == NULL || done == NULL || !spec_usable(spec))
		return NULL;
	p = xcalloc(1, sizeof(*p));
	p->loop = loop;
	p->kind = spec->kind;
	p->done = done;
	p->arg = arg;
	p->pfd = p->fd = -1;
	p->timeout_ms = spec->timeout_ms ? spec->timeout_ms
	    : spec->kind == PROBE_SCRIPT ? SCRIPT_TIMEOUT_MS : NET_TIMEOUT_MS;
	ring_init(&p->out, spec->output_max ? spec->output_max
	    : OUTPUT_MAX_DEFAULT);
	ev_timer_init(&p->tw, probe_timer_cb, 0., 0.);
	p->tw.data = p;
	if ((p->next = live) != NULL)
		live->prevp = &p->next;
	live = p;
	p->prevp = &live;

	switch (spec->kind) {
	case PROBE_SCRIPT:
		script_start(p, spec);
		break;
	case PROBE_HTTP:
		http_start(p, spec);
		break;
	case PROBE_TCP:
	case PROBE_UDP:
		net_start(p, spec);
		break;
	}
	return p;
}

void
probe_cancel(struct probe *p)
{
	if (p == NULL)
		return;
	release(p);
	probe_free(p);
}

/* probe_shutdown - also cancels probes still running (their done is not
 * called) and reaps their children, waiting for them: they were sent
 * SIGKILL. */
void
probe_shutdown(void)
{
	struct reaper *r;

	while (live != NULL)
		probe_cancel(live);
	while ((r = reapers) != NULL) {
		ev_child_stop(r->loop, &r->cw);
		reaper_unlink(r);
		kill_group(r->pid);
		while (waitpid(r->pid, NULL, 0) < 0 && errno == EINTR)
			;
		free(r);
	}
	if (multi != NULL) {
		curl_multi_cleanup(multi);
		multi = NULL;
		while (csocks != NULL)
			csock_free(csocks);
		ev_timer_stop(mloop, &mtimer);
		mloop = NULL;
		curl_global_cleanup();
	}
}
