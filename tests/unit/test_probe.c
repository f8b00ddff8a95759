/* test_probe.c - checkd probes against real local targets: scripts, an HTTP
 * server, TCP and UDP sockets, all on the default libev loop. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <ev.h>

#include "../../checkd/probe.h"

static struct ev_loop *loop;
static char tmpdir[64];

/* ------------------------------------------------------------ helpers */

struct res {
	int calls;
	enum probe_status st;
	char *out;
};

static void
on_done(enum probe_status st, const char *output, void *arg)
{
	struct res *r = arg;

	if (getenv("TEST_PROBE_VERBOSE") != NULL)
		fprintf(stderr, "  done: %d \"%.300s\"\n", (int)st, output);
	r->calls++;
	r->st = st;
	free(r->out);
	r->out = strdup(output);
}

static void
res_clear(struct res *r)
{
	free(r->out);
	memset(r, 0, sizeof(*r));
}

/* a loop tick that always returns */
static ev_timer tick_w;
static void
tick_cb(struct ev_loop *l, ev_timer *w, int revents)
{
	(void)l;
	(void)w;
	(void)revents;
}

static void
run_until(struct res *r, double max_s)
{
	ev_tstamp end = ev_time() + max_s;

	while (r->calls == 0 && ev_time() < end)
		ev_run(loop, EVRUN_ONCE);
}

static void
spin(double s)
{
	ev_tstamp end = ev_time() + s;

	while (ev_time() < end)
		ev_run(loop, EVRUN_ONCE);
}

/* no child of ours, alive or zombie (orphaned grandchildren come back to
 * us: the test is a subreaper, and libev reaps whatever exits) */
static int
no_children(double max_s)
{
	ev_tstamp end = ev_time() + max_s;
	siginfo_t si;

	for (;;) {
		memset(&si, 0, sizeof(si));
		if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 &&
		    errno == ECHILD)
			return 1;
		if (ev_time() > end)
			return 0;
		ev_run(loop, EVRUN_ONCE);
	}
}

/* start, check done is not called from probe_start, wait for it */
static void
run_probe(const struct probe_spec *spec, struct res *r, double max_s)
{
	struct probe *p;

	res_clear(r);
	p = probe_start(loop, spec, on_done, r);
	assert_non_null(p);
	assert_int_equal(r->calls, 0);
	run_until(r, max_s);
	assert_int_equal(r->calls, 1);
	assert_non_null(r->out);
}

static void
run_script(const char *script, char **args, uint64_t timeout_ms,
    size_t output_max, struct res *r)
{
	struct probe_spec s;

	memset(&s, 0, sizeof(s));
	s.kind = PROBE_SCRIPT;
	s.script = script;
	s.args = args;
	s.timeout_ms = timeout_ms;
	s.output_max = output_max;
	run_probe(&s, r, 5.);
}

static pid_t
read_pidfile(const char *path, double max_s)
{
	ev_tstamp end = ev_time() + max_s;
	FILE *f;
	long pid;

	for (;;) {
		pid = 0;
		if ((f = fopen(path, "r")) != NULL) {
			if (fscanf(f, "%ld", &pid) != 1)
				pid = 0;
			fclose(f);
		}
		if (pid > 0 || ev_time() > end)
			return (pid_t)pid;
		ev_run(loop, EVRUN_ONCE);
	}
}

static int
bound_socket(int type, const char *ip, int *port)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	socklen_t len;
	int fd, v6 = strchr(ip, ':') != NULL;

	memset(&ss, 0, sizeof(ss));
	if (v6) {
		s6->sin6_family = AF_INET6;
		inet_pton(AF_INET6, ip, &s6->sin6_addr);
		len = sizeof(*s6);
	} else {
		s4->sin_family = AF_INET;
		inet_pton(AF_INET, ip, &s4->sin_addr);
		len = sizeof(*s4);
	}
	fd = socket(v6 ? AF_INET6 : AF_INET, type | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&ss, len) < 0) {
		close(fd);
		return -1;
	}
	len = sizeof(ss);
	getsockname(fd, (struct sockaddr *)&ss, &len);
	*port = ntohs(v6 ? s6->sin6_port : s4->sin_port);
	return fd;
}

/* a port nothing listens on */
static int
closed_port(int type)
{
	int port = 0, fd = bound_socket(type, "127.0.0.1", &port);

	if (fd >= 0)
		close(fd);
	return port;
}

/* ------------------------------------------------------- the HTTP server */

struct hconn {
	ev_io w;
	char buf[16384];
	size_t len;
	struct hconn *next;
};

static int http_fd = -1, http_port;
static ev_io http_w;
static struct hconn *hconns;
static char seen_method[16], seen_xtest[64], seen_body[256], seen_ua[64],
    seen_accept[64], seen_ctype[64];
static int seen_ctype_present, sni_seen, slow_seen;

static void
hconn_close(struct hconn *c)
{
	struct hconn **pp;

	for (pp = &hconns; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	ev_io_stop(loop, &c->w);
	close(c->w.fd);
	free(c);
}

/* header value, or NULL */
static int
header(const char *hdrs, const char *name, char *out, size_t n)
{
	size_t nl = strlen(name), len;
	const char *p = hdrs, *e;

	while ((p = strstr(p, "\r\n")) != NULL) {
		p += 2;
		if (strncasecmp(p, name, nl) != 0 || p[nl] != ':')
			continue;
		p += nl + 1;
		while (*p == ' ')
			p++;
		e = strstr(p, "\r\n");
		len = e ? (size_t)(e - p) : strlen(p);
		if (len >= n)
			len = n - 1;
		memcpy(out, p, len);
		out[len] = '\0';
		return 1;
	}
	return 0;
}

static void
respond(struct hconn *c, int code, const char *reason, const char *extra,
    const char *body)
{
	char head[512];
	int n = snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\n"
	    "Content-Length: %zu\r\nConnection: close\r\n%s\r\n", code, reason,
	    strlen(body), extra);

	assert_true(send(c->w.fd, head, (size_t)n, MSG_NOSIGNAL) == n);
	assert_true(send(c->w.fd, body, strlen(body), MSG_NOSIGNAL) ==
	    (ssize_t)strlen(body));
	hconn_close(c);
}

static void
handle(struct hconn *c)
{
	char *hend, path[128], cl[32];
	size_t hlen, blen = 0;
	static char big[10001];

	if (c->len > 0 && (unsigned char)c->buf[0] == 0x16) {
		/* a TLS ClientHello: the server name travels in clear */
		if (memmem(c->buf, c->len, "cairn.invalid", 13) != NULL)
			sni_seen = 1;
		hconn_close(c);
		return;
	}
	c->buf[c->len] = '\0';
	if ((hend = strstr(c->buf, "\r\n\r\n")) == NULL)
		return;
	hlen = (size_t)(hend - c->buf) + 4;
	hend[2] = '\0';		/* headers end with their last "\r\n" */
	if (header(c->buf, "Content-Length", cl, sizeof(cl)))
		blen = strtoul(cl, NULL, 10);
	if (c->len < hlen + blen) {
		hend[2] = '\r';
		return;
	}
	if (sscanf(c->buf, "%15s %127s", seen_method, path) != 2) {
		hconn_close(c);
		return;
	}
	if (strcmp(path, "/ok") == 0) {
		respond(c, 200, "OK", "", "hello");
	} else if (strcmp(path, "/busy") == 0) {
		respond(c, 429, "Too Many Requests", "", "slow down");
	} else if (strcmp(path, "/down") == 0) {
		respond(c, 503, "Service Unavailable", "", "down");
	} else if (strcmp(path, "/redir") == 0) {
		respond(c, 302, "Found", "Location: /ok\r\n", "moved");
	} else if (strcmp(path, "/echo") == 0) {
		seen_xtest[0] = seen_ua[0] = seen_accept[0] = '\0';
		header(c->buf, "X-Test", seen_xtest, sizeof(seen_xtest));
		header(c->buf, "User-Agent", seen_ua, sizeof(seen_ua));
		header(c->buf, "Accept", seen_accept, sizeof(seen_accept));
		seen_ctype_present = header(c->buf, "Content-Type", seen_ctype,
		    sizeof(seen_ctype));
		snprintf(seen_body, sizeof(seen_body), "%.*s", (int)blen,
		    c->buf + hlen);
		respond(c, 200, "OK", "", "echo");
	} else if (strcmp(path, "/big") == 0) {
		memset(big, 'a', sizeof(big) - 1);
		memcpy(big + sizeof(big) - 5, "TAIL", 4);
		respond(c, 200, "OK", "", big);
	} else if (strcmp(path, "/slow") == 0) {
		slow_seen = 1;	/* never answered */
	} else {
		respond(c, 404, "Not Found", "", "no such page");
	}
}

static void
hconn_cb(struct ev_loop *l, ev_io *w, int revents)
{
	struct hconn *c = (struct hconn *)w;
	ssize_t n;

	(void)l;
	(void)revents;
	n = read(w->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len);
	if (n <= 0) {
		hconn_close(c);
		return;
	}
	c->len += (size_t)n;
	handle(c);
}

static void
http_accept_cb(struct ev_loop *l, ev_io *w, int revents)
{
	struct hconn *c;
	int fd;

	(void)revents;
	if ((fd = accept4(w->fd, NULL, NULL, SOCK_CLOEXEC)) < 0)
		return;
	c = calloc(1, sizeof(*c));
	assert_non_null(c);
	ev_io_init(&c->w, hconn_cb, fd, EV_READ);
	ev_io_start(l, &c->w);
	c->next = hconns;
	hconns = c;
}

/* ------------------------------------------------- TCP and UDP targets */

static int tcp_fd = -1, tcp_port, udp_fd = -1, udp_port, mute_fd = -1,
    mute_port;
static ev_io udp_w;

static void
udp_echo_cb(struct ev_loop *l, ev_io *w, int revents)
{
	struct sockaddr_storage from;
	socklen_t flen = sizeof(from);
	char buf[64];
	ssize_t n;

	(void)l;
	(void)revents;
	n = recvfrom(w->fd, buf, sizeof(buf), 0, (struct sockaddr *)&from,
	    &flen);
	if (n >= 0)
		(void)sendto(w->fd, buf, (size_t)n, 0,
		    (struct sockaddr *)&from, flen);
}

static int
setup(void **state)
{
	(void)state;
	loop = EV_DEFAULT;
	ev_timer_init(&tick_w, tick_cb, 0.01, 0.01);
	ev_timer_start(loop, &tick_w);

	http_fd = bound_socket(SOCK_STREAM, "127.0.0.1", &http_port);
	if (http_fd < 0 || listen(http_fd, 64) < 0)
		return -1;
	ev_io_init(&http_w, http_accept_cb, http_fd, EV_READ);
	ev_io_start(loop, &http_w);

	/* listening, never accepting: the backlog completes connections */
	tcp_fd = bound_socket(SOCK_STREAM, "127.0.0.1", &tcp_port);
	if (tcp_fd < 0 || listen(tcp_fd, 64) < 0)
		return -1;

	udp_fd = bound_socket(SOCK_DGRAM, "127.0.0.1", &udp_port);
	mute_fd = bound_socket(SOCK_DGRAM, "127.0.0.1", &mute_port);
	if (udp_fd < 0 || mute_fd < 0)
		return -1;
	ev_io_init(&udp_w, udp_echo_cb, udp_fd, EV_READ);
	ev_io_start(loop, &udp_w);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	probe_shutdown();
	while (hconns != NULL)
		hconn_close(hconns);
	ev_io_stop(loop, &http_w);
	ev_io_stop(loop, &udp_w);
	ev_timer_stop(loop, &tick_w);
	close(http_fd);
	close(tcp_fd);
	close(udp_fd);
	close(mute_fd);
	return 0;
}

/* --------------------------------------------------------------- scripts */

static void
test_script_status(void **state)
{
	char *warn[] = {"sh", "-c", "echo warn; exit 1", NULL};
	char *pf[] = {"printf", "%s-%s", "a", "b", NULL};
	char *missing[] = {"/nonexistent/cairn-probe-test", NULL};
	struct res r = {0};

	(void)state;
	run_script("echo hello; exit 0", NULL, 0, 0, &r);
	assert_int_equal(r.st, PROBE_PASSING);
	assert_string_equal(r.out, "hello\n");

	run_script("echo out; echo err >&2; exit 1", NULL, 0, 0, &r);
	assert_int_equal(r.st, PROBE_WARNING);
	assert_string_equal(r.out, "out\nerr\n");

	run_script("echo bad; exit 2", NULL, 0, 0, &r);
	assert_int_equal(r.st, PROBE_CRITICAL);
	assert_string_equal(r.out, "bad\n");

	run_script("kill -9 $$", NULL, 0, 0, &r);
	assert_int_equal(r.st, PROBE_CRITICAL);

	run_script(NULL, warn, 0, 0, &r);
	assert_int_equal(r.st, PROBE_WARNING);
	assert_string_equal(r.out, "warn\n");

	run_script(NULL, pf, 0, 0, &r);
	assert_int_equal(r.st, PROBE_PASSING);
	assert_string_equal(r.out, "a-b");

	/* exec failure: exit 127 */
	run_script(NULL, missing, 0, 0, &r);
	assert_int_equal(r.st, PROBE_CRITICAL);
	assert_string_equal(r.out, "Failed to invoke: "
	    "/nonexistent/cairn-probe-test: No such file or directory\n");

	/* stdin is /dev/null */
	run_script("cat; echo eof", NULL, 0, 0, &r);
	assert_int_equal(r.st, PROBE_PASSING);
	assert_string_equal(r.out, "eof\n");

	assert_true(no_children(2.));
	res_clear(&r);
}

static void
test_script_timeout(void **state)
{
	char script[256], pidfile[128];
	struct res r = {0};
	ev_tstamp t0;
	pid_t pid;

	(void)state;
	snprintf(pidfile, sizeof(pidfile), "%s/timeout.pid", tmpdir);
	snprintf(script, sizeof(script), "echo $$ > %s; sleep 30; exit 0",
	    pidfile);
	t0 = ev_time();
	run_script(script, NULL, 500, 0, &r);
	assert_true(ev_time() - t0 >= 0.45);
	assert_true(ev_time() - t0 < 2.);
	assert_int_equal(r.st, PROBE_CRITICAL);
	assert_string_equal(r.out, "Timed out (500ms) running check");
	pid = read_pidfile(pidfile, 0.);
	assert_true(pid > 0);
	assert_int_equal(kill(pid, 0), -1);
	assert_int_equal(errno, ESRCH);
	/* sleep too: the whole process group went */
	assert_true(no_children(2.));
	res_clear(&r);
}

static void
test_script_output(void **state)
{
	const char *pfx = "Captured 4096 of 102400 bytes\n...\n", *body;
	struct res r = {0};
	size_t i;

	(void)state;
	run_script("head -c 102397 /dev/zero | tr '\\0' x; printf END", NULL,
	    0, 0, &r);
	assert_int_equal(r.st, PROBE_PASSING);
	assert_int_equal(strncmp(r.out, pfx, strlen(pfx)), 0);
	body = r.out + strlen(pfx);
	assert_int_equal(strlen(body), 4096);
	for (i = 0; i < 4093; i++)
		if (body[i] != 'x')
			fail_msg("byte %zu is %d", i, body[i]);
	assert_string_equal(body + 4093, "END");

	/* a smaller output_max keeps the last bytes */
	run_script("printf 0123456789abcdef", NULL, 0, 8, &r);
	assert_string_equal(r.out, "Captured 8 of 16 bytes\n...\n89abcdef");

	/* exactly output_max: no prefix */
	run_script("printf 01234567", NULL, 0, 8, &r);
	assert_string_equal(r.out, "01234567");
	res_clear(&r);
}

/* the child exits while a background grandchild holds the pipe open */
static void
test_script_grandchild(void **state)
{
	struct res r = {0};
	ev_tstamp t0 = ev_time();

	(void)state;
	run_script("sleep 30 & echo started", NULL, 10000, 0, &r);
	assert_true(ev_time() - t0 < 2.);
	assert_int_equal(r.st, PROBE_PASSING);
	assert_string_equal(r.out, "started\n");
	assert_true(no_children(2.));
	res_clear(&r);
}

static void
test_script_cancel(void **state)
{
	char script[256], pidfile[128];
	struct probe_spec s;
	struct probe *p;
	struct res r = {0};
	pid_t pid;

	(void)state;
	snprintf(pidfile, sizeof(pidfile), "%s/cancel.pid", tmpdir);
	snprintf(script, sizeof(script), "echo $$ > %s; sleep 30", pidfile);
	memset(&s, 0, sizeof(s));
	s.kind = PROBE_SCRIPT;
	s.script = script;
	p = probe_start(loop, &s, on_done, &r);
	assert_non_null(p);
	pid = read_pidfile(pidfile, 2.);
	assert_true(pid > 0);
	probe_cancel(p);
	assert_true(no_children(2.));
	assert_int_equal(kill(pid, 0), -1);

	/* at once, maybe before the child's setsid() */
	p = probe_start(loop, &s, on_done, &r);
	assert_non_null(p);
	probe_cancel(p);
	assert_true(no_children(2.));

	/* and while its reaper is still waiting, shut down */
	p = probe_start(loop, &s, on_done, &r);
	probe_cancel(p);
	probe_shutdown();
	/* a killed grandchild may be ours (the subreaper's) to reap */
	assert_true(no_children(2.));

	spin(0.1);
	assert_int_equal(r.calls, 0);
	probe_cancel(NULL);
	res_clear(&r);
}

static void
test_unusable_specs(void **state)
{
	char *empty[] = {NULL};
	struct probe_spec s;
	struct res r = {0};

	(void)state;
	memset(&s, 0, sizeof(s));
	s.kind = PROBE_SCRIPT;
	assert_null(probe_start(loop, &s, on_done, &r));
	s.args = empty;
	assert_null(probe_start(loop, &s, on_done, &r));
	s.kind = PROBE_HTTP;
	assert_null(probe_start(loop, &s, on_done, &r));
	s.http = "";
	assert_null(probe_start(loop, &s, on_done, &r));
	s.kind = PROBE_TCP;
	assert_null(probe_start(loop, &s, on_done, &r));
	s.kind = PROBE_UDP;
	assert_null(probe_start(loop, &s, on_done, &r));
	assert_int_equal(r.calls, 0);
}

/* ------------------------------------------------------------------ http */

static void
run_http(const char *path, struct probe_spec *s, struct res *r, char *url,
    size_t urlsz)
{
	snprintf(url, urlsz, "http://127.0.0.1:%d%s", http_port, path);
	s->kind = PROBE_HTTP;
	s->http = url;
	run_probe(s, r, 5.);
}

static void
expect_http(const char *path, enum probe_status st, const char *method,
    const char *rest)
{
	struct probe_spec s;
	struct res r = {0};
	char url[128], want[512];

	memset(&s, 0, sizeof(s));
	run_http(path, &s, &r, url, sizeof(url));
	snprintf(want, sizeof(want), "HTTP %s %s: %s", method, url, rest);
	assert_string_equal(r.out, want);
	assert_int_equal(r.st, st);
	res_clear(&r);
}

static void
test_http_status(void **state)
{
	(void)state;
	expect_http("/ok", PROBE_PASSING, "GET", "200 OK Output: hello");
	assert_string_equal(seen_method, "GET");
	expect_http("/busy", PROBE_WARNING, "GET",
	    "429 Too Many Requests Output: slow down");
	expect_http("/down", PROBE_CRITICAL, "GET",
	    "503 Service Unavailable Output: down");
	expect_http("/nope", PROBE_CRITICAL, "GET",
	    "404 Not Found Output: no such page");
	/* followed: the final response, without the redirect's body */
	expect_http("/redir", PROBE_PASSING, "GET", "200 OK Output: hello");
}

static void
test_http_redirect_disabled(void **state)
{
	struct probe_spec s;
	struct res r = {0};
	char url[128], want[256];

	(void)state;
	memset(&s, 0, sizeof(s));
	s.disable_redirects = true;
	run_http("/redir", &s, &r, url, sizeof(url));
	assert_int_equal(r.st, PROBE_CRITICAL);
	snprintf(want, sizeof(want), "HTTP GET %s: 302 Found Output: moved",
	    url);
	assert_string_equal(r.out, want);
	res_clear(&r);
}

static void
test_http_request(void **state)
{
	char *hdrs[] = {"X-Test: yes", "User-Agent: mine", NULL};
	struct probe_spec s;
	struct res r = {0};
	char url[128], want[256];

	(void)state;
	/* the defaults */
	memset(&s, 0, sizeof(s));
	run_http("/echo", &s, &r, url, sizeof(url));
	assert_int_equal(r.st, PROBE_PASSING);
	assert_string_equal(seen_method, "GET");
	assert_string_equal(seen_ua, "Consul Health Check");
	assert_string_equal(seen_accept, "text/plain, text/*, */*");
	assert_string_equal(seen_xtest, "");
	assert_string_equal(seen_body, "");

	/* method, headers, body */
	memset(&s, 0, sizeof(s));
	s.method = "PUT";
	s.headers = hdrs;
	s.body = "ping";
	run_http("/echo", &s, &r, url, sizeof(url));
	assert_int_equal(r.st, PROBE_PASSING);
	snprintf(want, sizeof(want), "HTTP PUT %s: 200 OK Output: echo", url);
	assert_string_equal(r.out, want);
	assert_string_equal(seen_method, "PUT");
	assert_string_equal(seen_xtest, "yes");
	assert_string_equal(seen_ua, "mine");
	assert_string_equal(seen_body, "ping");
	assert_int_equal(seen_ctype_present, 0);

	/* POST without a body */
	memset(&s, 0, sizeof(s));
	s.method = "POST";
	run_http("/echo", &s, &r, url, sizeof(url));
	assert_int_equal(r.st, PROBE_PASSING);
	assert_string_equal(seen_method, "POST");
	assert_string_equal(seen_body, "");
	res_clear(&r);
}

static void
test_http_body_limit(void **state)
{
	struct probe_spec s;
	struct res r = {0};
	char url[128], want[256];
	size_t n;

	(void)state;
	memset(&s, 0, sizeof(s));
	s.output_max = 100;
	run_http("/big", &s, &r, url, sizeof(url));
	assert_int_equal(r.st, PROBE_PASSING);
	/* the last output_max bytes, as Consul's circular buffer */
	n = (size_t)snprintf(want, sizeof(want), "HTTP GET %s: 200 OK Output: ",
	    url);
	assert_int_equal(strncmp(r.out, want, n), 0);
	assert_int_equal(strlen(r.out + n), 100);
	assert_string_equal(r.out + strlen(r.out) - 5, "aTAIL");
	res_clear(&r);
}

static void
test_http_errors(void **state)
{
	struct probe_spec s;
	struct probe *p;
	struct res r = {0};
	char url[128], want[256];
	ev_tstamp t0;

	(void)state;
	/* connection refused */
	memset(&s, 0, sizeof(s));
	s.kind = PROBE_HTTP;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/",
	    closed_port(SOCK_STREAM));
	s.http = url;
	run_probe(&s, &r, 5.);
	assert_int_equal(r.st, PROBE_CRITICAL);
	snprintf(want, sizeof(want), "HTTP GET %s: ", url);
	assert_int_equal(strncmp(r.out, want, strlen(want)), 0);
	assert_non_null(strstr(r.out, "Connection refused"));

	/* timeout */
	memset(&s, 0, sizeof(s));
	s.timeout_ms = 300;
	t0 = ev_time();
	run_http("/slow", &s, &r, url, sizeof(url));
	assert_true(ev_time() - t0 < 2.);
	assert_int_equal(r.st, PROBE_CRITICAL);
	assert_non_null(strstr(r.out, "timed out"));

	/* cancelled in flight */
	memset(&s, 0, sizeof(s));
	slow_seen = 0;
	s.kind = PROBE_HTTP;
	s.http = url;
	res_clear(&r);
	p = probe_start(loop, &s, on_done, &r);
	assert_non_null(p);
	while (!slow_seen && ev_time() - t0 < 5.)
		ev_run(loop, EVRUN_ONCE);
	assert_true(slow_seen);
	probe_cancel(p);
	spin(0.1);
	assert_int_equal(r.calls, 0);
	res_clear(&r);
}

/* TLSServerName: SNI carries the name, the connection goes to the URL's
 * host (a plain HTTP server here: the handshake fails) */
static void
test_http_tls_server_name(void **state)
{
	struct probe_spec s;
	struct res r = {0};
	char url[128], want[256];

	(void)state;
	memset(&s, 0, sizeof(s));
	s.kind = PROBE_HTTP;
	snprintf(url, sizeof(url), "https://127.0.0.1:%d/ok", http_port);
	s.http = url;
	s.tls_server_name = "cairn.invalid";
	s.timeout_ms = 2000;
	sni_seen = 0;
	run_probe(&s, &r, 5.);
	assert_int_equal(r.st, PROBE_CRITICAL);
	snprintf(want, sizeof(want), "HTTP GET %s: ", url);
	assert_int_equal(strncmp(r.out, want, strlen(want)), 0);
	assert_null(strstr(r.out, "resolve"));
	assert_true(sni_seen);
	res_clear(&r);
}

/* ------------------------------------------------------------- tcp, udp */

static void
expect_net(enum probe_kind kind, const char *addr, uint64_t timeout_ms,
    enum probe_status st, const char *out)
{
	struct probe_spec s;
	struct res r = {0};

	memset(&s, 0, sizeof(s));
	s.kind = kind;
	s.addr = addr;
	s.timeout_ms = timeout_ms;
	run_probe(&s, &r, 5.);
	assert_string_equal(r.out, out);
	assert_int_equal(r.st, st);
	res_clear(&r);
}

static void
test_tcp(void **state)
{
	char addr[64], want[128];
	int port, fd6;

	(void)state;
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", tcp_port);
	snprintf(want, sizeof(want), "TCP connect %s: Success", addr);
	expect_net(PROBE_TCP, addr, 0, PROBE_PASSING, want);

	/* a name; if it is ::1 first, the next address is tried */
	snprintf(addr, sizeof(addr), "localhost:%d", tcp_port);
	snprintf(want, sizeof(want), "TCP connect %s: Success", addr);
	expect_net(PROBE_TCP, addr, 0, PROBE_PASSING, want);

	port = closed_port(SOCK_STREAM);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	snprintf(want, sizeof(want), "dial tcp %s: Connection refused", addr);
	expect_net(PROBE_TCP, addr, 0, PROBE_CRITICAL, want);

	expect_net(PROBE_TCP, "nonsense", 0, PROBE_CRITICAL,
	    "dial tcp nonsense: missing port in address");

	fd6 = bound_socket(SOCK_STREAM, "::1", &port);
	if (fd6 >= 0 && listen(fd6, 8) == 0) {
		snprintf(addr, sizeof(addr), "[::1]:%d", port);
		snprintf(want, sizeof(want), "TCP connect %s: Success", addr);
		expect_net(PROBE_TCP, addr, 0, PROBE_PASSING, want);
	}
	if (fd6 >= 0)
		close(fd6);
}

static void
test_udp(void **state)
{
	char addr[64], want[128];
	ev_tstamp t0;

	(void)state;
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", udp_port);
	snprintf(want, sizeof(want), "UDP connect %s: Success", addr);
	expect_net(PROBE_UDP, addr, 0, PROBE_PASSING, want);

	/* ICMP port unreachable on loopback */
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", closed_port(SOCK_DGRAM));
	snprintf(want, sizeof(want), "dial udp %s: Connection refused", addr);
	expect_net(PROBE_UDP, addr, 0, PROBE_CRITICAL, want);

	/* no answer, no error: passing after the timeout, as Consul */
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", mute_port);
	snprintf(want, sizeof(want), "UDP connect %s: Success", addr);
	t0 = ev_time();
	expect_net(PROBE_UDP, addr, 300, PROBE_PASSING, want);
	assert_true(ev_time() - t0 >= 0.25);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_script_status),
	    cmocka_unit_test(test_script_timeout),
	    cmocka_unit_test(test_script_output),
	    cmocka_unit_test(test_script_grandchild),
	    cmocka_unit_test(test_script_cancel),
	    cmocka_unit_test(test_unusable_specs),
	    cmocka_unit_test(test_http_status),
	    cmocka_unit_test(test_http_redirect_disabled),
	    cmocka_unit_test(test_http_request),
	    cmocka_unit_test(test_http_body_limit),
	    cmocka_unit_test(test_http_errors),
	    cmocka_unit_test(test_http_tls_server_name),
	    cmocka_unit_test(test_tcp),
	    cmocka_unit_test(test_udp),
	};
	char cmd[128];
	int rc;

	signal(SIGPIPE, SIG_IGN);
	/* orphaned grandchildren of scripts come back here, so no_children()
	 * sees a whole process group */
	(void)prctl(PR_SET_CHILD_SUBREAPER, 1);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/cairn-probe.XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return 1;
	rc = cmocka_run_group_tests(tests, setup, teardown);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		rc = rc ? rc : 1;
	return rc;
}
