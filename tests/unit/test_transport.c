/* test_transport.c - raftd/transport.c on one libev loop: ordered
 * delivery, large frames, reconnects with backoff, hostile clients,
 * cluster mismatch and queue limits, all on 127.0.0.1. */
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
	};

	log_init("test_transport", LOG_LVL_INFO);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
