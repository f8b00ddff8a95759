/* test_transport.c - raftd/transport.c on one libev loop: ordered
 * delivery, large frames, reconnects with backoff, hostile clients,
 * cluster mismatch and queue limits, and replies to clients that do not
 * listen, all on 127.0.0.1. */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <ev.h>

#include "buf.h"
#include "log.h"
#include "../../raftd/transport.h"

/* ------------------------------------------------------------ helpers */

struct rxframe {
	uint64_t from;
	uint8_t kind;
	size_t len;
	uint8_t *data;
};

/* one transport under test and what it received */
struct node {
	struct transport *t;
	uint64_t id;
	int port;
	struct rxframe *rx;
	size_t nrx, caprx;
	bool close_in_cb;	/* transport_close from inside the callback */
	bool forget_in_cb;	/* forget the sender from inside the callback */
	const char *move_in_cb;	/* move the sender there, likewise (once) */
	bool echo;		/* answer requests (not FORWARD) with FORWARD */
	unsigned echo_fail;	/* transport_send failures answering */
};

static struct ev_loop *loop;
static ev_timer tick_w;

static void
tick_cb(struct ev_loop *l, ev_timer *w, int revents)
{
	(void)l;
	(void)w;
	(void)revents;
}

static void
on_recv(struct transport *t, uint64_t from, uint8_t kind,
    const uint8_t *payload, size_t len, void *arg)
{
	struct node *n = arg;
	struct rxframe *f;

	assert_ptr_equal(t, n->t);
	if (n->nrx == n->caprx) {
		n->caprx = n->caprx ? n->caprx * 2 : 64;
		n->rx = realloc(n->rx, n->caprx * sizeof(*n->rx));
		assert_non_null(n->rx);
	}
	f = &n->rx[n->nrx++];
	f->from = from;
	f->kind = kind;
	f->len = len;
	f->data = malloc(len ? len : 1);
	assert_non_null(f->data);
	if (len > 0)
		memcpy(f->data, payload, len);
	if (n->echo && kind != TRANSPORT_FORWARD &&
	    transport_send(t, from, TRANSPORT_FORWARD, payload, len) != 0)
		n->echo_fail++;
	if (n->forget_in_cb)
		assert_int_equal(transport_set_peer(t, from, NULL), 0);
	if (n->move_in_cb != NULL) {
		assert_int_equal(transport_set_peer(t, from, n->move_in_cb), 0);
		n->move_in_cb = NULL;
	}
	if (n->close_in_cb) {
		transport_close(n->t);
		n->t = NULL;
	}
}

static void
node_clear_rx(struct node *n)
{
	size_t i;

	for (i = 0; i < n->nrx; i++)
		free(n->rx[i].data);
	free(n->rx);
	n->rx = NULL;
	n->nrx = n->caprx = 0;
}

static void
node_open(struct node *n, uint64_t id, int port, const char *cluster)
{
	struct errbuf eb;
	int rc;

	n->id = id;
	rc = transport_open(loop, "127.0.0.1", port, id, cluster, on_recv, n,
	    &n->t, &eb);
	if (rc != 0)
		fail_msg("transport_open: %s", eb.msg);
	n->port = transport_port(n->t);
	assert_true(n->port > 0);
	if (port != 0)
		assert_int_equal(n->port, port);
}

/* node_open_client - a transport that does not listen */
static void
node_open_client(struct node *n, uint64_t id, const char *cluster)
{
	struct errbuf eb;
	int rc;

	n->id = id;
	rc = transport_open_client(loop, id, cluster, on_recv, n, &n->t, &eb);
	if (rc != 0)
		fail_msg("transport_open_client: %s", eb.msg);
	n->port = transport_port(n->t);
	assert_int_equal(n->port, 0);
}

static void
node_close(struct node *n)
{
	transport_close(n->t);
	n->t = NULL;
}

static void
node_free(struct node *n)
{
	if (n->t != NULL)
		node_close(n);
	node_clear_rx(n);
}

static void
set_peer(struct node *from, const struct node *to)
{
	char addr[64];

	snprintf(addr, sizeof(addr), "127.0.0.1:%d", to->port);
	assert_int_equal(transport_set_peer(from->t, to->id, addr), 0);
}

typedef bool (*pred_fn)(void *arg);

/* run - turn the loop until pred holds or max_s passed; returns pred */
static bool
run(pred_fn pred, void *arg, double max_s)
{
	ev_tstamp end = ev_time() + max_s;

	for (;;) {
		if (pred != NULL && pred(arg))
			return true;
		if (ev_time() > end)
			return pred != NULL && pred(arg);
		ev_run(loop, EVRUN_ONCE);
	}
}

struct want {
	struct node *n;
	size_t count;
};

static bool
got_n(void *arg)
{
	struct want *w = arg;

	return w->n->nrx >= w->count;
}

static bool
wait_rx(struct node *n, size_t count, double max_s)
{
	struct want w = {n, count};

	return run(got_n, &w, max_s);
}

/* a port nobody listens on (just freed; racy only in theory) */
static int
dead_port(void)
{
	struct node tmp;
	int port;

	memset(&tmp, 0, sizeof(tmp));
	node_open(&tmp, 99, 0, "dc1");
	port = tmp.port;
	node_free(&tmp);
	return port;
}

/* count warnings from the transport, to check the rate limiting */
static unsigned warn_lines;

static void
log_counter(enum log_level level, const char *line, void *arg)
{
	(void)arg;
	if (level >= LOG_LVL_WARN && strstr(line, "raft transport") != NULL)
		warn_lines++;
}

static int
setup(void **state)
{
	(void)state;
	loop = ev_loop_new(EVFLAG_AUTO);
	assert_non_null(loop);
	ev_timer_init(&tick_w, tick_cb, 0.01, 0.01);
	ev_timer_start(loop, &tick_w);
	warn_lines = 0;
	log_set_hook(log_counter, NULL);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	log_set_hook(NULL, NULL);
	ev_timer_stop(loop, &tick_w);
	ev_loop_destroy(loop);
	loop = NULL;
	return 0;
}

/* -------------------------------------------------------------- tests */

static void
test_order_and_sender(void **state)
{
	struct node a, b, c;
	struct transport_stats st;
	uint8_t msg[16];
	size_t i, n = 2000;

	(void)state;
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	memset(&c, 0, sizeof(c));
	node_open(&a, 1, 0, "dc1");
	node_open(&b, 2, 0, "dc1");
	node_open(&c, 3, 0, "dc1");
	set_peer(&a, &b);
	set_peer(&c, &b);
	set_peer(&b, &a);
	for (i = 0; i < n; i++) {
		memset(msg, 0, sizeof(msg));
		be64_set(msg, i);
		assert_int_equal(transport_send(a.t, 2, TRANSPORT_RAFT, msg,
		    8 + i % 8), 0);
		if (i % 4 == 0)
			assert_int_equal(transport_send(c.t, 2,
			    TRANSPORT_FORWARD, msg, 8), 0);
	}
	assert_int_equal(transport_send(b.t, 1, TRANSPORT_SNAPSHOT, NULL, 0),
	    0);
	assert_true(wait_rx(&b, n + n / 4, 5));
	assert_true(wait_rx(&a, 1, 5));
	{
		uint64_t next_a = 0, next_c = 0;

		for (i = 0; i < b.nrx; i++) {
			struct rxframe *f = &b.rx[i];

			if (f->from == 1) {
				assert_int_equal(f->kind, TRANSPORT_RAFT);
				assert_int_equal(f->len, 8 + next_a % 8);
				assert_int_equal(be64_get(f->data), next_a);
				next_a++;
			} else {
				assert_int_equal(f->from, 3);
				assert_int_equal(f->kind, TRANSPORT_FORWARD);
				assert_int_equal(be64_get(f->data), next_c);
				next_c += 4;
			}
		}
		assert_int_equal(next_a, n);
	}
	assert_int_equal(a.rx[0].from, 2);
	assert_int_equal(a.rx[0].kind, TRANSPORT_SNAPSHOT);
	assert_int_equal(a.rx[0].len, 0);
	transport_stats(a.t, &st);
	assert_int_equal(st.frames_sent, n);
	assert_int_equal(st.connects, 1);
	assert_int_equal(st.dropped, 0);
	transport_stats(b.t, &st);
	assert_int_equal(st.frames_received, n + n / 4);
	/* b knows a's address: it dialled a rather than answering over
	 * a's connection */
	assert_int_equal(st.connects, 1);
	assert_int_equal(st.bad_frames, 0);
	node_free(&a);
	node_free(&b);
	node_free(&c);
	assert_int_equal(warn_lines, 0);
}

static void
test_large_frames(void **state)
{
	struct node a, b;
	struct transport_stats st;
	size_t big = 5u * 1024 * 1024 + 7, i, k;
	uint8_t *p;

	(void)state;
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	node_open(&a, 1, 0, "dc1");
	node_open(&b, 2, 0, "dc1");
	set_peer(&a, &b);
	p = malloc(big);
	assert_non_null(p);
	for (i = 0; i < 3; i++) {
		for (k = 0; k < big; k++)
			p[k] = (uint8_t)(k * 31 + k / 4099 + i);
		assert_int_equal(transport_send(a.t, 2, TRANSPORT_SNAPSHOT, p,
		    big - i), 0);
		assert_int_equal(transport_send(a.t, 2, TRANSPORT_RAFT, "x", 1),
		    0);
	}
	assert_true(wait_rx(&b, 6, 10));
	for (i = 0; i < 3; i++) {
		struct rxframe *f = &b.rx[2 * i];

		assert_int_equal(f->kind, TRANSPORT_SNAPSHOT);
		assert_int_equal(f->len, big - i);
		for (k = 0; k < big; k++)
			p[k] = (uint8_t)(k * 31 + k / 4099 + i);
		assert_memory_equal(f->data, p, big - i);
		assert_int_equal(b.rx[2 * i + 1].len, 1);
	}
	transport_stats(b.t, &st);
	assert_true(st.bytes_received > 3 * (big - 2));
	free(p);
	node_free(&a);
	node_free(&b);
}

static void
test_peer_down_then_up(void **state)
{
	struct node a, b;
	struct transport_stats st;
	int port = dead_port();
	char addr[64];

	(void)state;
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	node_open(&a, 1, 0, "dc1");
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	assert_int_equal(transport_set_peer(a.t, 2, addr), 0);
	assert_int_equal(transport_send(a.t, 2, TRANSPORT_RAFT, "one", 3), 0);
	assert_int_equal(transport_send(a.t, 2, TRANSPORT_RAFT, "two", 3), 0);
	run(NULL, NULL, 0.5); /* 50+100+200 ms: several failed attempts */
	transport_stats(a.t, &st);
	assert_true(st.connect_failures >= 2);
	assert_int_equal(st.connects, 0);
	assert_int_equal(warn_lines, 1); /* one line, not one per retry */
	assert_int_equal(transport_send(a.t, 2, TRANSPORT_RAFT, "three", 5),
	    0);
	node_open(&b, 2, port, "dc1");
	assert_true(wait_rx(&b, 3, 5));
	assert_memory_equal(b.rx[0].data, "one", 3);
	assert_memory_equal(b.rx[1].data, "two", 3);
	assert_memory_equal(b.rx[2].data, "three", 5);
	assert_int_equal(b.rx[2].from, 1);
	transport_stats(a.t, &st);
	assert_int_equal(st.connects, 1);
	assert_int_equal(st.frames_sent, 3);
	node_free(&a);
	node_free(&b);
}

/* resend every 100 ms until b has a frame (Raft retransmits the same
 * way: frames written into a connection that just died are lost) */
static bool
resend_until(struct node *a, struct node *b, uint64_t to, double max_s)
{
	ev_tstamp end = ev_time() + max_s;

	while (ev_time() < end) {
		int rc = transport_send(a->t, to, TRANSPORT_RAFT, "again", 5);

		assert_true(rc == 0 || rc == -ENOBUFS);
		if (wait_rx(b, 1, 0.1))
			return true;
	}
	return false;
}

static void
test_peer_restart_same_port(void **state)
{
	struct node a, b;
	struct transport_stats st;
	int port;

	(void)state;
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	node_open(&a, 1, 0, "dc1");
	node_open(&b, 2, 0, "dc1");
	port = b.port;
	set_peer(&a, &b);
	assert_int_equal(transport_send(a.t, 2, TRANSPORT_RAFT, "hi", 2), 0);
	assert_true(wait_rx(&b, 1, 5));
	/* restart b on the same port */
	node_free(&b);
	memset(&b, 0, sizeof(b));
	run(NULL, NULL, 0.2); /* a notices the connection closing */
	node_open(&b, 2, port, "dc1");
	assert_true(resend_until(&a, &b, 2, 6));
	assert_int_equal(b.rx[0].from, 1);
	assert_memory_equal(b.rx[0].data, "again", 5);
	transport_stats(a.t, &st);
	assert_int_equal(st.connects, 2);
	/* and once more, this time without letting a notice first */
	node_free(&b);
	memset(&b, 0, sizeof(b));
	node_open(&b, 2, port, "dc1");
	assert_true(resend_until(&a, &b, 2, 6));
	node_free(&a);
	node_free(&b);
}

/* raw client helpers */
static int
raw_connect(int port)
{
	struct sockaddr_in sin;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	return fd;
}

static void
raw_send(int fd, const void *p, size_t n)
{
	assert_int_equal(send(fd, p, n, MSG_NOSIGNAL), (ssize_t)n);
}

static void
raw_hello(int fd, uint64_t id, const char *cluster)
{
	struct buf b = BUF_INIT;

	buf_put_be32(&b, (uint32_t)(1 + 8 + strlen(cluster)));
	buf_put_u8(&b, TRANSPORT_HELLO);
	buf_put_be64(&b, id);
	buf_put_str(&b, cluster);
	raw_send(fd, b.data, b.len);
	buf_free(&b);
}

/* closed - the server closed fd (EOF or reset) */
static bool
closed(void *arg)
{
	int fd = *(int *)arg;
	char c[256];
	ssize_t n;

	for (;;) {
		n = recv(fd, c, sizeof(c), MSG_DONTWAIT);
		if (n > 0)
			continue;
		if (n == 0)
			return true;
		return errno != EAGAIN && errno != EWOULDBLOCK;
	}
}

static void
test_hostile_clients(void **state)
{
	struct node a, b;
	struct transport_stats st;
	int fd, good;
	uint8_t hdr[5];

	(void)state;
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	node_open(&a, 1, 0, "dc1");
	node_open(&b, 2, 0, "dc1");
	set_peer(&a, &b);

	/* a well-behaved raw client: HELLO then a frame */
	good = raw_connect(b.port);
	raw_hello(good, 77, "dc1");
	raw_send(good, "\x00\x00\x00\x03\x01ok", 7);
	assert_true(wait_rx(&b, 1, 5));
	assert_int_equal(b.rx[0].from, 77);
	assert_memory_equal(b.rx[0].data, "ok", 2);

	/* garbage (an HTTP request) */
	fd = raw_connect(b.port);
	raw_send(fd, "GET / HTTP/1.0\r\n\r\n", 18);
	assert_true(run(closed, &fd, 5));
	close(fd);
	/* no HELLO: a Raft frame first */
	fd = raw_connect(b.port);
	raw_send(fd, "\x00\x00\x00\x03\x01ok", 7);
	assert_true(run(closed, &fd, 5));
	close(fd);
	/* a short HELLO, and a HELLO with id 0 */
	fd = raw_connect(b.port);
	raw_send(fd, "\x00\x00\x00\x04\x00\x00\x00\x01", 8);
	assert_true(run(closed, &fd, 5));
	close(fd);
	fd = raw_connect(b.port);
	raw_hello(fd, 0, "dc1");
	assert_true(run(closed, &fd, 5));
	close(fd);
	/* a huge length after a good HELLO, and a zero length */
	fd = raw_connect(b.port);
	raw_hello(fd, 5, "dc1");
	raw_send(fd, "\xff\xff\xff\xff\x01", 5);
	assert_true(run(closed, &fd, 5));
	close(fd);
	fd = raw_connect(b.port);
	raw_hello(fd, 5, "dc1");
	be32_set(hdr, TRANSPORT_MAX_FRAME + 1);
	hdr[4] = TRANSPORT_RAFT;
	raw_send(fd, hdr, 5);
	assert_true(run(closed, &fd, 5));
	close(fd);
	fd = raw_connect(b.port);
	raw_hello(fd, 5, "dc1");
	raw_send(fd, "\x00\x00\x00\x00", 4);
	assert_true(run(closed, &fd, 5));
	close(fd);
	/* a second HELLO */
	fd = raw_connect(b.port);
	raw_hello(fd, 5, "dc1");
	raw_hello(fd, 5, "dc1");
	assert_true(run(closed, &fd, 5));
	close(fd);
	/* a partial frame, then the client goes away */
	fd = raw_connect(b.port);
	raw_hello(fd, 5, "dc1");
	raw_send(fd, "\x00\x10\x00\x00\x01partial", 12);
	close(fd);

	transport_stats(b.t, &st);
	assert_int_equal(st.bad_frames, 8);
	assert_int_equal(b.nrx, 1);
	/* one warning, then rate-limited */
	assert_int_equal(warn_lines, 1);

	/* still serving: the good raw client and a real peer */
	raw_send(good, "\x00\x00\x00\x04\x03ok2", 8);
	assert_int_equal(transport_send(a.t, 2, TRANSPORT_RAFT, "fine", 4), 0);
	assert_true(wait_rx(&b, 3, 5));
	close(good);
	node_free(&a);
	node_free(&b);
}

static void
test_cluster_mismatch(void **state)
{
	struct node a, c;
	struct transport_stats st;
	int fd;

	(void)state;
	memset(&a, 0, sizeof(a));
	memset(&c, 0, sizeof(c));
	node_open(&a, 1, 0, "dc1");
	node_open(&c, 3, 0, "dc2");
	set_peer(&a, &c);
	assert_int_equal(transport_send(a.t, 3, TRANSPORT_RAFT, "x", 1), 0);
	run(NULL, NULL, 0.6);
	assert_int_equal(c.nrx, 0);
	transport_stats(c.t, &st);
	assert_true(st.bad_frames >= 1);
	transport_stats(a.t, &st);
	assert_true(st.connects >= 1);
	/* a raw client with a prefix of the name is refused too */
	fd = raw_connect(c.port);
	raw_hello(fd, 9, "dc");
	assert_true(run(closed, &fd, 5));
	close(fd);
	assert_int_equal(c.nrx, 0);
	/* a few lines for the whole episode, not one per retry */
	assert_true(warn_lines <= 3);
	node_free(&a);
	node_free(&c);
}

static void
test_limits_and_peers(void **state)
{
	struct node a, b;
	struct transport_stats st;
	size_t big = 5u * 1024 * 1024, i;
	uint8_t *p;
	char addr[64];
	int port = dead_port();

	(void)state;
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	node_open(&a, 1, 0, "dc1");
	/* bad arguments */
	assert_int_equal(transport_send(a.t, 2, TRANSPORT_RAFT, "x", 1),
	    -ENOENT);
	assert_int_equal(transport_set_peer(a.t, 0, "127.0.0.1:1"), -EINVAL);
	assert_int_equal(transport_set_peer(a.t, 2, "127.0.0.1"), -EINVAL);
	assert_int_equal(transport_set_peer(a.t, 2, "127.0.0.1:0"), -EINVAL);
	assert_int_equal(transport_set_peer(a.t, 2, "127.0.0.1:x"), -EINVAL);
	assert_int_equal(transport_set_peer(a.t, 2, ":80"), -EINVAL);
	assert_int_equal(transport_set_peer(a.t, 2, "::1:80"), -EINVAL);
	assert_int_equal(transport_set_peer(a.t, 2, "[::1]:80"), 0);
	assert_int_equal(transport_set_peer(a.t, 2, NULL), 0);
	assert_int_equal(transport_set_peer(a.t, 2, NULL), 0);

	/* a peer that is down: the queue fills up */
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	assert_int_equal(transport_set_peer(a.t, 2, addr), 0);
	assert_int_equal(transport_send(a.t, 2, TRANSPORT_RAFT, NULL,
	    TRANSPORT_MAX_FRAME), -EMSGSIZE);
	p = calloc(1, big);
	assert_non_null(p);
	for (i = 0; i < TRANSPORT_QUEUE_BYTES / (big + 5); i++) {
		p[0] = (uint8_t)i;
		assert_int_equal(transport_send(a.t, 2, TRANSPORT_SNAPSHOT, p,
		    big), 0);
	}
	assert_int_equal(transport_send(a.t, 2, TRANSPORT_SNAPSHOT, p, big),
	    -ENOBUFS);
	transport_stats(a.t, &st);
	assert_int_equal(st.dropped, 2);
	/* the address moves to where b really is: the queue follows */
	node_open(&b, 2, 0, "dc1");
	set_peer(&a, &b);
	assert_true(wait_rx(&b, i, 10));
	assert_int_equal(b.nrx, i);
	assert_int_equal(b.rx[i - 1].data[0], (uint8_t)(i - 1));
	assert_int_equal(transport_send(a.t, 2, TRANSPORT_SNAPSHOT, p, big),
	    0);
	/* forgetting a peer with frames queued frees them */
	assert_int_equal(transport_set_peer(a.t, 2, NULL), 0);
	assert_int_equal(transport_send(a.t, 2, TRANSPORT_RAFT, "x", 1),
	    -ENOENT);
	/* one frame over the queue cap still fits an empty queue */
	{
		size_t huge = TRANSPORT_QUEUE_BYTES + 1;
		uint8_t *h = calloc(1, huge);

		assert_non_null(h);
		assert_int_equal(transport_set_peer(a.t, 4, addr), 0);
		assert_int_equal(transport_send(a.t, 4, TRANSPORT_SNAPSHOT, h,
		    huge), 0);
		assert_int_equal(transport_send(a.t, 4, TRANSPORT_RAFT, "x", 1),
		    -ENOBUFS);
		free(h);
	}
	/* and a peer with a big queue is freed by transport_close */
	assert_int_equal(transport_set_peer(a.t, 3, addr), 0);
	assert_int_equal(transport_send(a.t, 3, TRANSPORT_SNAPSHOT, p, big),
	    0);
	free(p);
	node_free(&a);
	node_free(&b);
}

static void
test_close_from_callback(void **state)
{
	struct node a, b;
	int i;

	(void)state;
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	node_open(&a, 1, 0, "dc1");
	node_open(&b, 2, 0, "dc1");
	set_peer(&a, &b);
	set_peer(&b, &a);
	assert_int_equal(transport_send(b.t, 1, TRANSPORT_RAFT, "q", 1), 0);
	assert_true(wait_rx(&a, 1, 5));
	b.close_in_cb = true;
	for (i = 0; i < 10; i++)
		assert_int_equal(transport_send(a.t, 2, TRANSPORT_RAFT, "z", 1),
		    0);
	assert_true(wait_rx(&b, 1, 5));
	assert_null(b.t);
	run(NULL, NULL, 0.1);
	assert_int_equal(b.nrx, 1);
	node_free(&a);
	node_free(&b);
}

/* ------------------------------------------- clients (no listener) */

static void
test_client_request_reply(void **state)
{
	struct node s, c, x;
	struct transport_stats st;
	struct transport *t = NULL;
	struct errbuf eb;

	(void)state;
	memset(&s, 0, sizeof(s));
	memset(&c, 0, sizeof(c));
	memset(&x, 0, sizeof(x));
	node_open(&s, 10, 0, "dc1");
	s.echo = true;
	node_open_client(&c, 100, "dc1");
	set_peer(&c, &s);
	/* the server cannot reach the client before it connects */
	assert_int_equal(transport_send(s.t, 100, TRANSPORT_RAFT, "x", 1),
	    -ENOENT);
	assert_int_equal(transport_send(c.t, 10, TRANSPORT_RAFT, "ping", 4),
	    0);
	assert_true(wait_rx(&s, 1, 5));
	assert_int_equal(s.rx[0].from, 100);
	assert_int_equal(s.rx[0].kind, TRANSPORT_RAFT);
	/* the reply sent from the server's callback */
	assert_true(wait_rx(&c, 1, 5));
	assert_int_equal(c.rx[0].from, 10);
	assert_int_equal(c.rx[0].kind, TRANSPORT_FORWARD);
	assert_int_equal(c.rx[0].len, 4);
	assert_memory_equal(c.rx[0].data, "ping", 4);
	/* and one sent from outside it, any kind but HELLO */
	assert_int_equal(transport_send(s.t, 100, TRANSPORT_SNAPSHOT, NULL,
	    0), 0);
	assert_int_equal(transport_send(s.t, 100, 200, "push", 4), 0);
	assert_true(wait_rx(&c, 3, 5));
	assert_int_equal(c.rx[1].kind, TRANSPORT_SNAPSHOT);
	assert_int_equal(c.rx[1].len, 0);
	assert_int_equal(c.rx[2].from, 10);
	assert_int_equal(c.rx[2].kind, 200);
	assert_memory_equal(c.rx[2].data, "push", 4);
	/* an id that never connected is still unknown */
	assert_int_equal(transport_send(s.t, 101, TRANSPORT_RAFT, "x", 1),
	    -ENOENT);
	assert_int_equal(s.echo_fail, 0);
	transport_stats(s.t, &st);
	assert_int_equal(st.connects, 0); /* never dialled the client */
	assert_int_equal(st.frames_sent, 3);
	assert_int_equal(st.frames_received, 1);
	assert_int_equal(st.dropped, 2); /* the two -ENOENT */
	assert_int_equal(st.bad_frames, 0);
	transport_stats(c.t, &st);
	assert_int_equal(st.connects, 1);
	assert_int_equal(st.frames_sent, 1);
	assert_int_equal(st.frames_received, 3);
	assert_int_equal(st.bad_frames, 0);
	/* bad arguments */
	assert_int_equal(transport_open_client(loop, 0, "dc1", on_recv, &x,
	    &t, &eb), -EINVAL);
	assert_null(t);
	assert_int_equal(transport_open_client(loop, 5, NULL, on_recv, &x,
	    &t, &eb), -EINVAL);
	assert_int_equal(transport_open_client(loop, 5, "dc1", NULL, &x,
	    &t, &eb), -EINVAL);
	assert_null(t);
	node_free(&c);
	node_free(&s);
	assert_int_equal(warn_lines, 0);
}

#define RT_ROUNDS 20
#define RT_PER_ROUND 25
#define RT_BIG (1024u * 1024)

static size_t
rt_len(uint64_t seq, bool big)
{
	return big ? RT_BIG + seq % 7 : 8 + seq % 5;
}

/* rt_fill - the payload of request seq: seq, then a pattern */
static void
rt_fill(uint8_t *p, size_t len, uint64_t seq)
{
	size_t k;

	for (k = 0; k < len; k++)
		p[k] = (uint8_t)(k * 31 + k / 4099 + seq);
	be64_set(p, seq);
}

/* rt_send - requests base..base+RT_PER_ROUND-1 from a to id, the one at
 * bigpos big; the loop turns now and then so requests and replies mix */
static void
rt_send(struct node *a, uint64_t id, uint64_t seq, bool big, uint8_t *scratch)
{
	size_t len = rt_len(seq, big);

	rt_fill(scratch, len, seq);
	assert_int_equal(transport_send(a->t, id, big ? TRANSPORT_SNAPSHOT :
	    TRANSPORT_RAFT, scratch, len), 0);
}

/* rt_check - n got one round: the peer's requests and the replies to its
 * own, each in order and intact */
static void
rt_check(struct node *n, uint64_t from, uint64_t base, size_t bigpos,
    size_t peer_bigpos, uint8_t *scratch)
{
	uint64_t nreq = 0, nrep = 0, seq;
	size_t i, len;
	bool big;

	for (i = 0; i < n->nrx; i++) {
		struct rxframe *f = &n->rx[i];

		assert_int_equal(f->from, from);
		if (f->kind == TRANSPORT_FORWARD) {
			big = nrep == bigpos;
			seq = base + nrep++;
		} else {
			big = nreq == peer_bigpos;
			assert_int_equal(f->kind, big ? TRANSPORT_SNAPSHOT :
			    TRANSPORT_RAFT);
			seq = base + nreq++;
		}
		len = rt_len(seq, big);
		assert_int_equal(f->len, len);
		rt_fill(scratch, len, seq);
		assert_memory_equal(f->data, scratch, len);
	}
	assert_int_equal(nreq, RT_PER_ROUND);
	assert_int_equal(nrep, RT_PER_ROUND);
	node_clear_rx(n);
}

struct want2 {
	struct want a, b;
};

static bool
got_both(void *arg)
{
	struct want2 *w = arg;

	return got_n(&w->a) && got_n(&w->b);
}

static void
test_client_round_trips(void **state)
{
	struct node s, c;
	struct transport_stats st;
	struct want2 w;
	uint8_t *scratch;
	uint64_t base;
	size_t r, j, cbig, sbig;

	(void)state;
	memset(&s, 0, sizeof(s));
	memset(&c, 0, sizeof(c));
	scratch = malloc(RT_BIG + 8);
	assert_non_null(scratch);
	node_open(&s, 10, 0, "dc1");
	node_open_client(&c, 100, "dc1");
	s.echo = c.echo = true;
	set_peer(&c, &s);
	/* the client connects first: the server has no way to it before */
	assert_int_equal(transport_send(c.t, 10, TRANSPORT_RAFT, "hi", 2), 0);
	assert_true(wait_rx(&c, 1, 5));
	node_clear_rx(&c);
	node_clear_rx(&s);
	for (r = 0; r < RT_ROUNDS; r++) {
		base = r * RT_PER_ROUND;
		cbig = r % RT_PER_ROUND;
		sbig = (r * 3 + 1) % RT_PER_ROUND;
		for (j = 0; j < RT_PER_ROUND; j++) {
			rt_send(&c, 10, base + j, j == cbig, scratch);
			rt_send(&s, 100, base + j, j == sbig, scratch);
			if (j % 5 == 4)
				ev_run(loop, EVRUN_NOWAIT);
		}
		w.a.n = &c;
		w.a.count = 2 * RT_PER_ROUND;
		w.b.n = &s;
		w.b.count = 2 * RT_PER_ROUND;
		assert_true(run(got_both, &w, 10));
		rt_check(&c, 10, base, cbig, sbig, scratch);
		rt_check(&s, 100, base, sbig, cbig, scratch);
	}
	assert_int_equal(c.echo_fail, 0);
	assert_int_equal(s.echo_fail, 0);
	transport_stats(c.t, &st);
	assert_int_equal(st.connects, 1);
	assert_int_equal(st.frames_sent, 1 + 2 * RT_ROUNDS * RT_PER_ROUND);
	assert_int_equal(st.frames_received, 1 + 2 * RT_ROUNDS * RT_PER_ROUND);
	assert_int_equal(st.dropped, 0);
	assert_int_equal(st.bad_frames, 0);
	transport_stats(s.t, &st);
	assert_int_equal(st.connects, 0);
	assert_int_equal(st.frames_sent, 1 + 2 * RT_ROUNDS * RT_PER_ROUND);
	assert_int_equal(st.dropped, 0);
	assert_int_equal(st.bad_frames, 0);
	free(scratch);
	node_free(&c);
	node_free(&s);
	assert_int_equal(warn_lines, 0);
}

static void
test_client_server_restart(void **state)
{
	struct node s, c;
	struct transport_stats st;
	int port, i;

	(void)state;
	memset(&s, 0, sizeof(s));
	memset(&c, 0, sizeof(c));
	node_open(&s, 10, 0, "dc1");
	s.echo = true;
	port = s.port;
	node_open_client(&c, 100, "dc1");
	set_peer(&c, &s);
	assert_int_equal(transport_send(c.t, 10, TRANSPORT_RAFT, "hi", 2), 0);
	assert_true(wait_rx(&c, 1, 5));
	node_clear_rx(&c);
	/* restart the server on the same port */
	node_free(&s);
	memset(&s, 0, sizeof(s));
	run(NULL, NULL, 0.2); /* the client notices the connection closing */
	node_open(&s, 10, port, "dc1");
	s.echo = true;
	/* until the client is back, the new server cannot answer it */
	assert_int_equal(transport_send(s.t, 100, TRANSPORT_RAFT, "x", 1),
	    -ENOENT);
	/* the client keeps sending; replies flow again */
	assert_true(resend_until(&c, &c, 10, 6));
	assert_int_equal(c.rx[0].from, 10);
	assert_int_equal(c.rx[0].kind, TRANSPORT_FORWARD);
	assert_memory_equal(c.rx[0].data, "again", 5);
	run(NULL, NULL, 0.05);
	node_clear_rx(&c);
	for (i = 0; i < 50; i++)
		assert_int_equal(transport_send(c.t, 10, TRANSPORT_RAFT, &i,
		    sizeof(i)), 0);
	assert_true(wait_rx(&c, 50, 5));
	for (i = 0; i < 50; i++)
		assert_memory_equal(c.rx[i].data, &i, sizeof(i));
	transport_stats(c.t, &st);
	assert_int_equal(st.connects, 2);
	assert_int_equal(st.bad_frames, 0);
	node_clear_rx(&c);
	/* and once more, this time without letting the client notice */
	node_free(&s);
	memset(&s, 0, sizeof(s));
	node_open(&s, 10, port, "dc1");
	s.echo = true;
	assert_true(resend_until(&c, &c, 10, 6));
	assert_int_equal(c.rx[0].from, 10);
	assert_int_equal(s.echo_fail, 0);
	node_free(&c);
	node_free(&s);
}

struct sum_want {
	struct node *n;
	uint64_t sent0, dropped0, total;
};

/* all_accounted - every frame queued to a connection that closed was
 * either written or dropped */
static bool
all_accounted(void *arg)
{
	struct sum_want *w = arg;
	struct transport_stats st;

	transport_stats(w->n->t, &st);
	return (st.frames_sent - w->sent0) + (st.dropped - w->dropped0) ==
	    w->total;
}

static void
test_client_close_with_replies_queued(void **state)
{
	struct node s, c;
	struct transport_stats st;
	struct sum_want sw;
	size_t big = 5u * 1024 * 1024, i;
	uint8_t *p;

	(void)state;
	memset(&s, 0, sizeof(s));
	memset(&c, 0, sizeof(c));
	p = calloc(1, big);
	assert_non_null(p);
	node_open(&s, 10, 0, "dc1");
	s.echo = true;
	node_open_client(&c, 100, "dc1");
	set_peer(&c, &s);
	for (i = 0; i < 6; i++)
		assert_int_equal(transport_send(c.t, 10, TRANSPORT_SNAPSHOT, p,
		    big), 0);
	assert_true(wait_rx(&s, 6, 10));
	/* the last reply was queued in this very loop turn: not written */
	transport_stats(s.t, &st);
	assert_true(st.frames_sent < 6);
	node_free(&c);
	sw.n = &s;
	sw.sent0 = 0;
	sw.dropped0 = 0;
	sw.total = 6;
	assert_true(run(all_accounted, &sw, 5));
	transport_stats(s.t, &st);
	assert_true(st.dropped >= 1);
	assert_int_equal(transport_send(s.t, 100, TRANSPORT_RAFT, "x", 1),
	    -ENOENT);
	assert_int_equal(s.echo_fail, 0);

	/* a client closing from its callback, with more replies arriving */
	memset(&c, 0, sizeof(c));
	node_open_client(&c, 101, "dc1");
	c.close_in_cb = true;
	set_peer(&c, &s);
	for (i = 0; i < 4; i++)
		assert_int_equal(transport_send(c.t, 10, TRANSPORT_SNAPSHOT, p,
		    1024 * 1024), 0);
	assert_true(wait_rx(&c, 1, 10));
	assert_null(c.t);
	run(NULL, NULL, 0.2);
	assert_int_equal(c.nrx, 1);
	node_free(&c);

	/* a client forgetting the server from its callback */
	memset(&c, 0, sizeof(c));
	node_open_client(&c, 102, "dc1");
	c.forget_in_cb = true;
	set_peer(&c, &s);
	for (i = 0; i < 20; i++)
		assert_int_equal(transport_send(c.t, 10, TRANSPORT_RAFT, p,
		    i), 0);
	assert_true(wait_rx(&c, 1, 10));
	run(NULL, NULL, 0.2);
	assert_int_equal(c.nrx, 1);
	assert_int_equal(transport_send(c.t, 10, TRANSPORT_RAFT, "x", 1),
	    -ENOENT);
	node_free(&c);

	/* a client moving the server elsewhere from its callback: the rest
	 * of what the old connection brought is discarded */
	{
		struct node s2;
		char addr[64];

		memset(&s2, 0, sizeof(s2));
		node_open(&s2, 10, 0, "dc1");
		s2.echo = true;
		snprintf(addr, sizeof(addr), "127.0.0.1:%d", s2.port);
		memset(&c, 0, sizeof(c));
		node_open_client(&c, 104, "dc1");
		c.move_in_cb = addr;
		set_peer(&c, &s);
		for (i = 0; i < 20; i++)
			assert_int_equal(transport_send(c.t, 10,
			    TRANSPORT_RAFT, p, i), 0);
		assert_true(wait_rx(&c, 1, 10));
		assert_null(c.move_in_cb);
		assert_true(resend_until(&c, &s2, 10, 6));
		assert_int_equal(s2.rx[0].from, 104);
		node_clear_rx(&c);
		assert_true(wait_rx(&c, 1, 5)); /* s2's reply */
		assert_int_equal(c.rx[0].from, 10);
		node_free(&c);
		node_free(&s2);
	}

	/* the server still answers a new client */
	memset(&c, 0, sizeof(c));
	node_open_client(&c, 103, "dc1");
	set_peer(&c, &s);
	assert_int_equal(transport_send(c.t, 10, TRANSPORT_RAFT, "ok", 2), 0);
	assert_true(wait_rx(&c, 1, 5));
	assert_memory_equal(c.rx[0].data, "ok", 2);
	free(p);
	node_free(&c);
	node_free(&s);
}

/* raw server helpers */
static int
raw_listen(int *port)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);

	assert_true(fd >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(fd, 8), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

struct acc {
	int lfd, fd;
};

static bool
accepted(void *arg)
{
	struct acc *a = arg;

	a->fd = accept4(a->lfd, NULL, NULL, SOCK_CLOEXEC);
	return a->fd >= 0;
}

static int
raw_accept(int lfd)
{
	struct acc a = {lfd, -1};

	assert_true(run(accepted, &a, 5));
	return a.fd;
}

struct rawrx {
	int fd;
	uint8_t data[256];
	size_t len, want;
};

static bool
raw_got(void *arg)
{
	struct rawrx *r = arg;
	ssize_t n;

	while (r->len < r->want) {
		n = recv(r->fd, r->data + r->len, r->want - r->len,
		    MSG_DONTWAIT);
		if (n <= 0)
			return false;
		r->len += (size_t)n;
	}
	return true;
}

/* raw_expect - read exactly len bytes from fd (the loop turning, as the
 * transport writes from it) and compare */
static void
raw_expect(int fd, const void *want, size_t len)
{
	struct rawrx r;

	memset(&r, 0, sizeof(r));
	assert_true(len <= sizeof(r.data));
	r.fd = fd;
	r.want = len;
	assert_true(run(raw_got, &r, 5));
	assert_memory_equal(r.data, want, len);
}

static void
test_client_raw_server(void **state)
{
	struct node c;
	struct transport_stats st;
	uint8_t hdr[5];
	char addr[64];
	int lfd, fd, port;

	(void)state;
	memset(&c, 0, sizeof(c));
	lfd = raw_listen(&port);
	node_open_client(&c, 100, "dc1");
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	assert_int_equal(transport_set_peer(c.t, 99, addr), 0);
	assert_int_equal(transport_send(c.t, 99, TRANSPORT_RAFT, "req", 3), 0);
	fd = raw_accept(lfd);
	/* the client's HELLO (no listen address), then the frame */
	raw_expect(fd, "\x00\x00\x00\x0c\x00" "\x00\x00\x00\x00\x00\x00\x00\x64"
	    "dc1" "\x00\x00\x00\x04\x01req", 24);
	/* a reply of any kind but HELLO */
	raw_send(fd, "\x00\x00\x00\x03\x07ok", 7);
	assert_true(wait_rx(&c, 1, 5));
	assert_int_equal(c.rx[0].from, 99);
	assert_int_equal(c.rx[0].kind, 7);
	assert_memory_equal(c.rx[0].data, "ok", 2);
	/* a reply in pieces, and two in one write */
	raw_send(fd, "\x00\x00", 2);
	run(NULL, NULL, 0.05);
	raw_send(fd, "\x00\x06\x02spl", 6);
	run(NULL, NULL, 0.05);
	raw_send(fd, "it\x00\x00\x00\x01\x03", 7);
	assert_true(wait_rx(&c, 3, 5));
	assert_int_equal(c.rx[1].kind, TRANSPORT_SNAPSHOT);
	assert_int_equal(c.rx[1].len, 5);
	assert_memory_equal(c.rx[1].data, "split", 5);
	assert_int_equal(c.rx[2].kind, TRANSPORT_FORWARD);
	assert_int_equal(c.rx[2].len, 0);
	/* a HELLO back is a bad frame: the client drops the connection */
	raw_hello(fd, 99, "dc1");
	assert_true(run(closed, &fd, 5));
	close(fd);
	transport_stats(c.t, &st);
	assert_int_equal(st.bad_frames, 1);
	/* and makes a new one for the next frame; a zero length */
	assert_int_equal(transport_send(c.t, 99, TRANSPORT_RAFT, "a", 1), 0);
	fd = raw_accept(lfd);
	raw_send(fd, "\x00\x00\x00\x00", 4);
	assert_true(run(closed, &fd, 5));
	close(fd);
	/* a length over the limit */
	assert_int_equal(transport_send(c.t, 99, TRANSPORT_RAFT, "b", 1), 0);
	fd = raw_accept(lfd);
	be32_set(hdr, TRANSPORT_MAX_FRAME + 1);
	hdr[4] = TRANSPORT_RAFT;
	raw_send(fd, hdr, 5);
	assert_true(run(closed, &fd, 5));
	close(fd);
	transport_stats(c.t, &st);
	assert_int_equal(st.bad_frames, 3);
	assert_int_equal(st.connects, 3);
	assert_int_equal(c.nrx, 3);
	assert_true(warn_lines <= 3);
	/* a partial reply when the client closes */
	assert_int_equal(transport_send(c.t, 99, TRANSPORT_RAFT, "c", 1), 0);
	fd = raw_accept(lfd);
	raw_send(fd, "\x00\x10\x00\x00\x01partial", 12);
	run(NULL, NULL, 0.05);
	node_free(&c);
	close(fd);
	close(lfd);
}

static void
test_reply_queue(void **state)
{
	struct node b;
	struct transport_stats st;
	struct sum_want sw;
	size_t big = 5u * 1024 * 1024, i;
	uint8_t *p;
	int fd, old;

	(void)state;
	memset(&b, 0, sizeof(b));
	node_open(&b, 2, 0, "dc1");
	/* two connections from client 77: replies go over the newest */
	old = raw_connect(b.port);
	raw_hello(old, 77, "dc1");
	raw_send(old, "\x00\x00\x00\x03\x01hi", 7);
	assert_true(wait_rx(&b, 1, 5));
	fd = raw_connect(b.port);
	raw_hello(fd, 77, "dc1");
	raw_send(fd, "\x00\x00\x00\x03\x01hi", 7);
	assert_true(wait_rx(&b, 2, 5));
	assert_int_equal(b.rx[1].from, 77);
	assert_int_equal(transport_send(b.t, 77, TRANSPORT_FORWARD, "pong", 4),
	    0);
	raw_expect(fd, "\x00\x00\x00\x05\x03pong", 9);
	/* the per-connection cap on a client that does not read */
	p = calloc(1, big);
	assert_non_null(p);
	for (i = 0; i < TRANSPORT_QUEUE_BYTES / (big + 5); i++)
		assert_int_equal(transport_send(b.t, 77, TRANSPORT_SNAPSHOT, p,
		    big), 0);
	assert_int_equal(transport_send(b.t, 77, TRANSPORT_SNAPSHOT, p, big),
	    -ENOBUFS);
	run(NULL, NULL, 0.1);
	transport_stats(b.t, &st);
	assert_true(st.frames_sent < 1 + i);
	/* it goes away: what was not written is dropped */
	sw.n = &b;
	sw.sent0 = 1;
	sw.dropped0 = 1;
	sw.total = i;
	close(fd);
	assert_true(run(all_accounted, &sw, 5));
	transport_stats(b.t, &st);
	assert_true(st.dropped >= 2);
	/* the older connection still works */
	assert_int_equal(transport_send(b.t, 77, TRANSPORT_FORWARD, "pong", 4),
	    0);
	raw_expect(old, "\x00\x00\x00\x05\x03pong", 9);
	close(old);
	run(NULL, NULL, 0.2); /* b notices */
	assert_int_equal(transport_send(b.t, 77, TRANSPORT_FORWARD, "x", 1),
	    -ENOENT);
	/* a reply queued, then the transport closes */
	fd = raw_connect(b.port);
	raw_hello(fd, 78, "dc1");
	raw_send(fd, "\x00\x00\x00\x03\x01hi", 7);
	assert_true(wait_rx(&b, 3, 5));
	assert_int_equal(transport_send(b.t, 78, TRANSPORT_SNAPSHOT, p, big),
	    0);
	assert_int_equal(transport_send(b.t, 78, TRANSPORT_SNAPSHOT, p, big),
	    0);
	free(p);
	node_free(&b);
	close(fd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_order_and_sender, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_large_frames, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_peer_down_then_up, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_peer_restart_same_port,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_clients, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_cluster_mismatch, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_limits_and_peers, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_close_from_callback,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_request_reply,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_round_trips,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_server_restart,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_client_close_with_replies_queued, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_raw_server,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_reply_queue, setup,
		    teardown),
	};

	log_init("test_transport", LOG_LVL_INFO);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
