/* test_ipc.c - IPC layer: header codec, in-process request/reply, errors,
 * and two processes with a server restart in the middle. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <nanomsg/nn.h>
#include <nanomsg/reqrep.h>

#include "buf.h"
#include "ipc.h"
#include "xmalloc.h"

static char self_path[4096];
static char tmpdir[64];
static pid_t live_server; /* killed at teardown if a test failed */

/* ------------------------------------------------------------ helpers */

struct result {
	int done;
	int status;
	uint64_t pid;
	uint64_t seq;
	char msg[256];
};

static void
on_reply(int status, void *body, const char *errmsg, void *arg)
{
	struct result *r = arg;

	r->done = 1;
	r->status = status;
	if (status == 0 && body != NULL) {
		struct ipc_status *st = body;

		r->pid = st->pid;
		r->seq = st->uptime_ms;
	}
	if (errmsg)
		snprintf(r->msg, sizeof(r->msg), "%s", errmsg);
}

static void
on_ping(int status, void *body, const char *errmsg, void *arg)
{
	struct result *r = arg;

	(void)body;
	r->done = 1;
	r->status = status;
	if (errmsg)
		snprintf(r->msg, sizeof(r->msg), "%s", errmsg);
}

static void
run_until(struct ev_loop *loop, struct result *r, int n, double max_s)
{
	ev_tstamp end = ev_time() + max_s;
	int i, all;

	for (;;) {
		all = 1;
		for (i = 0; i < n; i++)
			all &= r[i].done;
		if (all || ev_time() > end)
			return;
		ev_run(loop, EVRUN_ONCE);
	}
}

/* a loop tick that always returns */
static ev_timer tick_w;
static void
tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
}

static struct ev_loop *
new_loop(void)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);

	ev_timer_init(&tick_w, tick_cb, 0.01, 0.01);
	ev_timer_start(loop, &tick_w);
	return loop;
}

static void
sock_path(char *out, size_t n, const char *name)
{
	snprintf(out, n, "%s/%s.rpc", tmpdir, name);
}

/* --------------------------------------------------- server behaviours */

static void
h_ping(struct ipc_req *req, void *arg)
{
	(void)arg;
	ipc_reply(req, NULL);
}

static void
h_status_now(struct ipc_req *req, void *arg)
{
	struct ipc_status st;

	(void)arg;
	memset(&st, 0, sizeof(st));
	st.pid = (uint64_t)getpid();
	st.daemon = (char *)"test";
	ipc_reply(req, &st);
}

/* hold STATUS requests and answer them in reverse order, 4 at a time */
static struct ipc_req *held[4];
static int nheld;
static uint64_t seqno;

static void
h_status_reverse(struct ipc_req *req, void *arg)
{
	(void)arg;
	held[nheld++] = req;
	if (nheld < 4)
		return;
	while (nheld > 0) {
		struct ipc_status st;

		memset(&st, 0, sizeof(st));
		st.pid = (uint64_t)getpid();
		st.uptime_ms = ++seqno;
		ipc_reply(held[--nheld], &st);
	}
}

static void
h_never(struct ipc_req *req, void *arg)
{
	(void)req;
	(void)arg; /* never answered; freed by ipc_server_close */
}

/* ----------------------------------------------------------- tests */

static void
test_hdr_roundtrip_and_rejects(void **state)
{
	uint8_t m[IPC_HDR_LEN + 3];
	struct ipc_hdr h = {IPC_MAGIC, IPC_VERSION, IPC_F_REPLY, 0x0102, -11,
			    0x7abcdef0, 3};
	struct ipc_hdr g;
	struct errbuf eb;

	(void)state;
	ipc_hdr_encode(m, &h);
	memset(m + IPC_HDR_LEN, 0, 3);
	assert_int_equal(ipc_hdr_decode(m, sizeof(m), &g, &eb), 0);
	assert_int_equal(g.type, 0x0102);
	assert_int_equal(g.status, -11);
	assert_int_equal(g.reqid, 0x7abcdef0);
	assert_int_equal(g.flags, IPC_F_REPLY);
	/* truncated: every shorter length is rejected */
	for (size_t n = 0; n < sizeof(m); n++)
		assert_true(ipc_hdr_decode(m, n, &g, &eb) < 0);
	/* longer than the header says */
	assert_int_equal(ipc_hdr_decode(m, sizeof(m) - 1, &g, &eb), -EBADMSG);
	/* bad magic */
	m[0] ^= 0xff;
	assert_int_equal(ipc_hdr_decode(m, sizeof(m), &g, &eb), -EBADMSG);
	assert_non_null(strstr(eb.msg, "magic"));
	m[0] ^= 0xff;
	/* oversized body claim */
	h.len = IPC_MAX_BODY + 1;
	ipc_hdr_encode(m, &h);
	assert_int_equal(ipc_hdr_decode(m, sizeof(m), &g, &eb), -EMSGSIZE);
}

static void
test_catalogue(void **state)
{
	(void)state;
	assert_non_null(ipc_type_lookup(IPC_PING));
	assert_non_null(ipc_type_lookup(IPC_STATUS));
	assert_string_equal(ipc_type_lookup(IPC_STATUS)->name, "IPC_STATUS");
	assert_ptr_equal(ipc_type_lookup(IPC_STATUS)->rep, &ipc_status_desc);
	assert_null(ipc_type_lookup(0xffff));
}

static void
test_inproc_out_of_order(void **state)
{
	struct ev_loop *loop = new_loop();
	struct ipc_server *srv;
	struct ipc_client *cli;
	struct result r[4];
	struct errbuf eb;
	char path[128];
	int i;

	(void)state;
	sock_path(path, sizeof(path), "ooo");
	assert_int_equal(ipc_server_open(loop, path, &srv, &eb), 0);
	ipc_server_on(srv, IPC_STATUS, h_status_reverse, NULL);
	assert_int_equal(ipc_client_open(loop, path, &cli, &eb), 0);
	/* let the connection come up */
	for (i = 0; i < 20; i++)
		ev_run(loop, EVRUN_ONCE);
	memset(r, 0, sizeof(r));
	nheld = 0;
	seqno = 0;
	for (i = 0; i < 4; i++)
		assert_int_equal(
		    ipc_call(cli, IPC_STATUS, NULL, 5000, on_reply, &r[i]), 0);
	assert_int_equal(ipc_client_pending(cli), 4);
	run_until(loop, r, 4, 5.0);
	for (i = 0; i < 4; i++) {
		assert_true(r[i].done);
		assert_int_equal(r[i].status, 0);
		/* answered in reverse: the 4th request got reply #1 */
		assert_int_equal(r[i].seq, (uint64_t)(4 - i));
	}
	assert_int_equal(ipc_client_pending(cli), 0);
	ipc_client_close(cli);
	ipc_server_close(srv);
	ev_loop_destroy(loop);
}

static void
test_inproc_errors(void **state)
{
	struct ev_loop *loop = new_loop();
	struct ipc_server *srv, *srv2;
	struct ipc_client *cli;
	struct result r[3];
	struct errbuf eb;
	char path[128];
	int i, raw, rc;

	(void)state;
	sock_path(path, sizeof(path), "errs");
	assert_int_equal(ipc_server_open(loop, path, &srv, &eb), 0);
	/* a second server on a live socket is refused */
	assert_int_equal(ipc_server_open(loop, path, &srv2, &eb), -EADDRINUSE);
	ipc_server_on(srv, IPC_PING, h_never, NULL);
	/* IPC_RELOAD has no handler here -> -ENOTSUP; STATUS answers */
	ipc_server_on(srv, IPC_STATUS, h_status_now, NULL);
	assert_int_equal(ipc_client_open(loop, path, &cli, &eb), 0);
	for (i = 0; i < 20; i++)
		ev_run(loop, EVRUN_ONCE);

	/* unknown type number is refused locally */
	assert_int_equal(ipc_call(cli, 0x7777, NULL, 100, on_ping, &r[0]),
	    -EINVAL);

	/* garbage straight onto the socket is dropped; the server lives */
	raw = nn_socket(AF_SP, NN_REQ);
	assert_true(raw >= 0);
	{
		char url[160];

		snprintf(url, sizeof(url), "ipc://%s", path);
		assert_true(nn_connect(raw, url) >= 0);
		rc = nn_send(raw, "not a cairn message", 19, 0);
		assert_int_equal(rc, 19);
	}

	memset(r, 0, sizeof(r));
	assert_int_equal(ipc_call(cli, IPC_RELOAD, NULL, 2000, on_ping, &r[0]),
	    0);
	assert_int_equal(ipc_call(cli, IPC_PING, NULL, 200, on_ping, &r[1]), 0);
	assert_int_equal(ipc_call(cli, IPC_STATUS, NULL, 2000, on_reply, &r[2]),
	    0);
	run_until(loop, r, 3, 5.0);
	assert_int_equal(r[0].status, -ENOTSUP);
	assert_non_null(strstr(r[0].msg, "unsupported"));
	assert_int_equal(r[1].status, -ETIMEDOUT); /* handler never replied */
	assert_int_equal(r[2].status, 0);
	assert_int_equal(r[2].pid, (uint64_t)getpid());
	nn_close(raw);

	/* a body that is not valid codec -> -EBADMSG, via a raw socket */
	{
		uint8_t m[IPC_HDR_LEN + 2];
		struct ipc_hdr h = {IPC_MAGIC, IPC_VERSION, 0, IPC_STATUS, 0,
				    42, 2};
		struct ipc_hdr g;
		void *rep = NULL;
		char url[160];
		int to = 2000, n;

		raw = nn_socket(AF_SP, NN_REQ);
		snprintf(url, sizeof(url), "ipc://%s", path);
		assert_true(nn_connect(raw, url) >= 0);
		nn_setsockopt(raw, NN_SOL_SOCKET, NN_RCVTIMEO, &to, sizeof(to));
		ipc_hdr_encode(m, &h);
		m[IPC_HDR_LEN] = 0x0f; /* tag 1, wire type 7: invalid */
		m[IPC_HDR_LEN + 1] = 0x00;
		assert_int_equal(nn_send(raw, m, sizeof(m), 0), (int)sizeof(m));
		n = -1;
		for (i = 0; i < 200 && n < 0; i++) {
			ev_run(loop, EVRUN_NOWAIT);
			n = nn_recv(raw, &rep, NN_MSG, NN_DONTWAIT);
			if (n < 0)
				usleep(5000);
		}
		assert_true(n >= IPC_HDR_LEN);
		assert_int_equal(ipc_hdr_decode(rep, (size_t)n, &g, &eb), 0);
		assert_int_equal(g.status, -EBADMSG);
		assert_int_equal(g.reqid, 42);
		nn_freemsg(rep);
		nn_close(raw);
	}

	/* closing the client cancels what is pending */
	memset(r, 0, sizeof(r));
	assert_int_equal(ipc_call(cli, IPC_PING, NULL, 5000, on_ping, &r[0]), 0);
	ipc_client_close(cli);
	assert_true(r[0].done);
	assert_int_equal(r[0].status, -ECANCELED);
	ipc_server_close(srv);
	ev_loop_destroy(loop);
}

/* requests a server holds are left alone; those it lost by going away
 * are sent again (repeatable types) or failed at once (the rest), and
 * with the server down for good they fail after the connect wait -
 * all well before their deadlines */
static int napplied, npinged;

static void
h_count_never(struct ipc_req *req, void *arg)
{
	(void)req;
	(*(int *)arg)++; /* held until the server closes */
}

static void
test_lost_requests(void **state)
{
	struct ev_loop *loop = new_loop();
	struct ipc_server *srv;
	struct ipc_client *cli;
	struct result r[3];
	struct errbuf eb;
	ev_tstamp t0;
	char path[128];
	int i;

	(void)state;
	sock_path(path, sizeof(path), "lost");
	assert_int_equal(ipc_server_open(loop, path, &srv, &eb), 0);
	ipc_server_on(srv, IPC_PING, h_count_never, &npinged);
	ipc_server_on(srv, IPC_STATUS, h_never, NULL);
	ipc_server_on(srv, IPC_RAFT_APPLY, h_count_never, &napplied);
	assert_int_equal(ipc_client_open(loop, path, &cli, &eb), 0);
	for (i = 0; i < 20; i++)
		ev_run(loop, EVRUN_ONCE);
	memset(r, 0, sizeof(r));
	napplied = npinged = 0;
	assert_int_equal(ipc_call(cli, IPC_PING, NULL, 20000, on_ping, &r[0]),
	    0);
	assert_int_equal(ipc_call(cli, IPC_STATUS, NULL, 20000, on_reply,
			     &r[1]), 0);
	assert_int_equal(ipc_call(cli, IPC_RAFT_APPLY, NULL, 20000, on_ping,
			     &r[2]), 0);
	/* held by a live server through several probes: untouched */
	run_until(loop, r, 1, 2.6);
	assert_false(r[0].done || r[1].done || r[2].done);
	assert_int_equal(npinged, 1);
	assert_int_equal(napplied, 1);

	/* the server goes away with all three and a new one comes up */
	ipc_server_close(srv);
	assert_int_equal(ipc_server_open(loop, path, &srv, &eb), 0);
	ipc_server_on(srv, IPC_PING, h_ping, NULL);
	ipc_server_on(srv, IPC_STATUS, h_status_now, NULL);
	ipc_server_on(srv, IPC_RAFT_APPLY, h_count_never, &napplied);
	t0 = ev_time();
	run_until(loop, r, 3, 10.0);
	assert_true(ev_time() - t0 < 8.0);
	assert_int_equal(r[0].status, 0);		/* pinged again */
	assert_int_equal(r[1].status, 0);		/* asked again */
	assert_int_equal(r[1].pid, (uint64_t)getpid());
	assert_int_equal(r[2].status, -ECONNRESET); /* not repeated */
	assert_non_null(strstr(r[2].msg, "restarted"));
	assert_int_equal(napplied, 1);

	/* a request taken by a server that then stays down */
	ipc_server_on(srv, IPC_STATUS, h_never, NULL);
	memset(r, 0, sizeof(r));
	assert_int_equal(ipc_call(cli, IPC_STATUS, NULL, 20000, on_reply,
			     &r[0]), 0);
	for (i = 0; i < 20; i++)
		ev_run(loop, EVRUN_ONCE);
	ipc_server_close(srv);
	t0 = ev_time();
	run_until(loop, r, 1, 15.0);
	assert_true(r[0].done);
	assert_true(ev_time() - t0 < 10.0);
	assert_int_equal(r[0].status, -EAGAIN);
	assert_non_null(strstr(r[0].msg, "not connected"));
	ipc_client_close(cli);
	ev_loop_destroy(loop);
}

/* the probe's answer: the asked ids the server holds, in asked order */
static void
test_probe_select(void **state)
{
	uint8_t asked[4 * 5 + 2];
	uint32_t open[] = {9, 1, 7, 3};
	uint32_t want[] = {7, 1, 9};
	struct cdc_bytes a = {asked, sizeof(asked)};
	struct buf out = BUF_INIT;
	uint32_t ids[] = {7, 2, 1, 9, 4};
	size_t i;

	(void)state;
	for (i = 0; i < 5; i++)
		be32_set(asked + 4 * i, ids[i]);
	asked[20] = asked[21] = 0xff; /* a partial id: ignored */
	ipc_probe_select(&a, open, 4, &out);
	assert_int_equal(out.len, sizeof(want));
	for (i = 0; i < 3; i++)
		assert_int_equal(be32_get(out.data + 4 * i), want[i]);
	buf_free(&out);
	/* nothing open, nothing asked */
	ipc_probe_select(&a, open, 0, &out);
	assert_int_equal(out.len, 0);
	a.n = 3;
	ipc_probe_select(&a, open, 4, &out);
	assert_int_equal(out.len, 0);
	assert_true(ipc_type_repeatable(IPC_KV_READ));
	assert_false(ipc_type_repeatable(IPC_RAFT_APPLY));
	assert_false(ipc_type_repeatable(IPC_GOSSIP_EVENT_FIRE));
	assert_false(ipc_type_repeatable(IPC_PROBE));
}

static pid_t
start_server(const char *path)
{
	pid_t pid = fork();

	if (pid == 0) {
		execl(self_path, self_path, "--serve", path, (char *)NULL);
		_exit(127);
	}
	live_server = pid;
	return pid;
}

static int
wait_answering(const char *path, uint64_t *pid, double max_s)
{
	ev_tstamp end = ev_time() + max_s;
	struct errbuf eb;

	while (ev_time() < end) {
		struct ipc_status st;

		memset(&st, 0, sizeof(st));
		if (ipc_call_sync(path, IPC_STATUS, NULL, &st, 200, &eb) == 0) {
			*pid = st.pid;
			cdc_free(&ipc_status_desc, &st);
			return 0;
		}
	}
	return -ETIMEDOUT;
}

/* retry an async STATUS call until it succeeds or max_s pass (the client
 * reconnects by itself; until then calls fail with -EAGAIN/-ETIMEDOUT) */
static int
call_until_ok(struct ev_loop *loop, struct ipc_client *cli, struct result *r,
    double max_s)
{
	ev_tstamp end = ev_time() + max_s;

	do {
		memset(r, 0, sizeof(*r));
		ipc_call(cli, IPC_STATUS, NULL, 500, on_reply, r);
		run_until(loop, r, 1, 1.0);
		if (r->status == 0)
			return 0;
		/* give the reconnect a moment before trying again */
		ev_run(loop, EVRUN_ONCE);
		usleep(20000);
	} while (ev_time() < end);
	return r->status;
}

static void
test_two_processes_restart(void **state)
{
	struct ev_loop *loop = new_loop();
	struct ipc_client *cli;
	struct ipc_status st;
	struct result r;
	struct errbuf eb;
	char path[128];
	uint64_t got;
	pid_t srv;
	int status;

	(void)state;
	sock_path(path, sizeof(path), "restart");
	srv = start_server(path);
	assert_true(srv > 0);
	assert_int_equal(wait_answering(path, &got, 10.0), 0);
	assert_int_equal(got, (uint64_t)srv);

	/* an async client, kept open across the restart */
	assert_int_equal(ipc_client_open(loop, path, &cli, &eb), 0);
	assert_int_equal(call_until_ok(loop, cli, &r, 10.0), 0);
	assert_int_equal(r.pid, (uint64_t)srv);

	/* the server dies */
	kill(srv, SIGKILL);
	waitpid(srv, &status, 0);

	/* sync call: an error, not a hang */
	memset(&st, 0, sizeof(st));
	assert_int_equal(ipc_call_sync(path, IPC_STATUS, NULL, &st, 300, &eb),
	    -ETIMEDOUT);
	assert_non_null(strstr(eb.msg, path));
	/* async call: an error too */
	memset(&r, 0, sizeof(r));
	ipc_call(cli, IPC_STATUS, NULL, 300, on_reply, &r);
	run_until(loop, &r, 1, 2.0);
	assert_true(r.done);
	assert_true(r.status == -ETIMEDOUT || r.status == -EAGAIN);

	/* a request made while the server is down waits for it to come
	 * back (up to 2 s for the connection) instead of failing at once */
	memset(&r, 0, sizeof(r));
	ipc_call(cli, IPC_STATUS, NULL, 10000, on_reply, &r);
	srv = start_server(path);
	run_until(loop, &r, 1, 10.0);
	assert_true(r.done);
	if (r.status == 0)
		assert_int_equal(r.pid, (uint64_t)srv);
	else /* the connection took longer than the wait: a clear error */
		assert_int_equal(r.status, -EAGAIN);

	/* restarted: both succeed again, against the new process */
	assert_int_equal(wait_answering(path, &got, 10.0), 0);
	assert_int_equal(got, (uint64_t)srv);
	assert_int_equal(call_until_ok(loop, cli, &r, 10.0), 0);
	assert_int_equal(r.pid, (uint64_t)srv);

	ipc_client_close(cli);
	kill(srv, SIGTERM);
	waitpid(srv, &status, 0);
	live_server = 0;
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	ev_loop_destroy(loop);
}

/* ------------------------------------------------------ server process */

static void
serve_term_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)w;
	(void)revents;
	ev_break(loop, EVBREAK_ALL);
}

static int
serve(const char *path)
{
	struct ev_loop *loop = EV_DEFAULT;
	struct ipc_server *srv;
	struct errbuf eb;
	ev_signal term;

	if (ipc_server_open(loop, path, &srv, &eb) < 0) {
		fprintf(stderr, "serve: %s\n", eb.msg);
		return 1;
	}
	ipc_server_on(srv, IPC_PING, h_ping, NULL);
	ipc_server_on(srv, IPC_STATUS, h_status_now, NULL);
	ev_signal_init(&term, serve_term_cb, SIGTERM);
	ev_signal_start(loop, &term);
	ev_run(loop, 0);
	ipc_server_close(srv);
	return 0;
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hdr_roundtrip_and_rejects),
	    cmocka_unit_test(test_catalogue),
	    cmocka_unit_test(test_inproc_out_of_order),
	    cmocka_unit_test(test_inproc_errors),
	    cmocka_unit_test(test_lost_requests),
	    cmocka_unit_test(test_probe_select),
	    cmocka_unit_test(test_two_processes_restart),
	};
	ssize_t n;
	int rc;

	if (argc == 3 && strcmp(argv[1], "--serve") == 0)
		return serve(argv[2]);
	n = readlink("/proc/self/exe", self_path, sizeof(self_path) - 1);
	if (n <= 0)
		return 1;
	self_path[n] = '\0';
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/cairn-ipc.XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return 1;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	if (live_server > 0 && kill(live_server, SIGKILL) == 0)
		waitpid(live_server, NULL, 0);
	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
		if (system(cmd) != 0)
			rc = rc ? rc : 1;
	}
	return rc;
}
