/* transport.c - raftd's peer transport: framed TCP on libev (transport.h). */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "buf.h"
#include "log.h"
#include "transport.h"
#include "xmalloc.h"

#define HDR_LEN 4			/* u32 length prefix */
#define CLUSTER_MAX 255			/* HELLO cluster name */
#define ADDR_MAX 63 /* HELLO: the sender's listen address */
#define HELLO_MAX_FRAME (1 + 8 + CLUSTER_MAX + 1 + ADDR_MAX)
#define BACKOFF_MIN 0.05		/* seconds */
#define BACKOFF_MAX 2.0
#define CONNECT_TIMEOUT 5.0		/* a connect that hangs counts failed */
/* an outgoing connection this old is "up"; a shorter one is a failure */
#define HEALTHY_AFTER 1.0
#define HELLO_TIMEOUT 10.0		/* incoming: HELLO within this */
#define MAX_INCOMING 512		/* incoming connections at once */
#define READ_CHUNK (64 * 1024)
#define READ_BUDGET (4 * 1024 * 1024)	/* per callback, for fairness */
#define WRITE_IOV 64
#define ACCEPT_RETRY 0.5		/* after EMFILE and the like */
#define WARN_INTERVAL 10.0		/* incoming-side warnings, at most */

/* one queued outgoing frame, header included */
struct frame {
	struct frame *next;
	size_t len;
	uint8_t data[];
};

/* the frames waiting to be written on one connection */
struct txq {
	struct frame *head, **tailp;
	size_t head_off;	/* bytes of head already written */
	size_t bytes;		/* bytes queued (whole frames) */
};

/* what was read from one connection and not parsed yet */
struct rxbuf {
	struct buf in;		/* unparsed input */
	size_t need;		/* bytes the frame at in.data needs, if known */
};

enum peer_state {
	P_IDLE,		/* no connection, nothing to send */
	P_CONNECTING,	/* non-blocking connect in progress (timer: timeout) */
	P_UP,		/* connected (timer: health check) */
	P_BACKOFF,	/* waiting to retry (timer: backoff) */
};

struct peer {
	struct peer *next;
	struct transport *t;
	uint64_t id;
	char *addr;	/* as given, for logs */
	char *host;
	char *port;
	enum peer_state state;
	int fd;
	ev_io rio;	/* UP: frames written back, or the other end closing */
	ev_io wio;	/* CONNECTING: completion; UP: room to write */
	ev_timer timer;
	struct txq q;
	struct rxbuf rx;	/* frames written back on our connection */
	size_t hello_off;	/* bytes of the HELLO written on this conn */
	double backoff;		/* last delay; 0: none yet */
	unsigned streak;	/* failed attempts in a row */
	unsigned gen;		/* bumped whenever the connection is dropped */
	int dispatching;	/* inside fn with one of its frames */
	bool doomed;		/* forgotten inside fn: freed when it returns */
	bool healthy;		/* this connection passed HEALTHY_AFTER */
};

struct inconn {
	struct inconn *next, **prevp;
	struct transport *t;
	int fd;
	ev_io rio;
	ev_io wio;		/* replies queued: room to write */
	ev_timer hello_timer;
	struct rxbuf rx;
	struct txq q;		/* replies to the peer, which may not listen */
	bool hello;		/* HELLO received */
	uint64_t id;		/* the peer's id, after HELLO */
	char name[64];		/* remote address, for logs */
};

struct ratelimit {
	ev_tstamp last;
	unsigned suppressed;
};

struct transport {
	struct ev_loop *loop;
	int lfd;		/* -1: a client, see transport_open_client */
	ev_io accept_w;
	ev_timer accept_retry;
	uint64_t self_id;
	char *cluster;
	struct buf hello;	/* our HELLO frame, header included */
	transport_recv_fn fn;
	void *arg;
	struct peer *peers;
	struct inconn *conns;
	size_t nconns;
	struct transport_stats st;
	int dispatching;	/* inside fn */
	bool closed;		/* transport_close called inside fn */
	struct ratelimit rl_in;
};

static void transport_destroy(struct transport *t);
static void peer_connect(struct peer *p);

/* ------------------------------------------------------------ helpers */

/* ratelimit_ok - true if a warning may be logged now; *suppressed gets
 * the count skipped since the last one. */
static bool
ratelimit_ok(struct ratelimit *rl, unsigned *suppressed)
{
	ev_tstamp now = mono_now();

	if (rl->last != 0 && now - rl->last < WARN_INTERVAL) {
		rl->suppressed++;
		return false;
	}
	*suppressed = rl->suppressed;
	rl->suppressed = 0;
	rl->last = now;
	return true;
}

static void
set_nodelay(int fd)
{
	int one = 1;

	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static void
sockaddr_name(const struct sockaddr *sa, char *out, size_t n)
{
	char host[INET6_ADDRSTRLEN];
	int port = 0;

	host[0] = '\0';
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)sa;

		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		port = ntohs(s4->sin_port);
		snprintf(out, n, "%s:%d", host, port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;

		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		port = ntohs(s6->sin6_port);
		snprintf(out, n, "[%s]:%d", host, port);
	} else {
		snprintf(out, n, "?");
	}
}

/* split_addr - "host:port" or "[v6]:port" into new strings. */
static int
split_addr(const char *addr, char **host, char **port)
{
	const char *colon = strrchr(addr, ':');
	const char *h = addr, *pp;
	size_t hl;
	char *end;
	long pn;

	if (colon == NULL || colon == addr || colon[1] == '\0')
		return -EINVAL;
	pp = colon + 1;
	errno = 0;
	pn = strtol(pp, &end, 10);
	if (errno != 0 || *end != '\0' || pn < 1 || pn > 65535 ||
	    (pp[0] < '0' || pp[0] > '9'))
		return -EINVAL;
	hl = (size_t)(colon - addr);
	if (h[0] == '[') {
		if (hl < 3 || h[hl - 1] != ']')
			return -EINVAL;
		h++;
		hl -= 2;
	} else if (memchr(h, ':', hl) != NULL) {
		return -EINVAL; /* bare IPv6 needs brackets */
	}
	*host = xstrndup(h, hl);
	*port = xstrdup(pp);
	return 0;
}

/* ------------------------------------------------ queues and framing */

static void
txq_init(struct txq *q)
{
	q->head = NULL;
	q->tailp = &q->head;
	q->head_off = 0;
	q->bytes = 0;
}

/* txq_clear - free every queued frame; returns how many there were. */
static size_t
txq_clear(struct txq *q)
{
	struct frame *f, *nf;
	size_t n = 0;

	for (f = q->head; f != NULL; f = nf) {
		nf = f->next;
		free(f);
		n++;
	}
	txq_init(q);
	return n;
}

/* txq_push - append a copy of one frame.  A frame over the cap on its own
 * still goes through an empty queue, so every frame up to
 * TRANSPORT_MAX_FRAME can be sent.  Returns 0 or -ENOBUFS. */
static int
txq_push(struct txq *q, uint8_t kind, const void *payload, size_t len)
{
	struct frame *f;

	if (q->bytes > 0 &&
	    q->bytes + HDR_LEN + 1 + len > TRANSPORT_QUEUE_BYTES)
		return -ENOBUFS;
	f = xmalloc(sizeof(*f) + HDR_LEN + 1 + len);
	f->next = NULL;
	f->len = HDR_LEN + 1 + len;
	be32_set(f->data, (uint32_t)(1 + len));
	f->data[HDR_LEN] = kind;
	if (len > 0)
		memcpy(f->data + HDR_LEN + 1, payload, len);
	*q->tailp = f;
	q->tailp = &f->next;
	q->bytes += f->len;
	return 0;
}

/* txq_write - write to fd what pre holds past *pre_off (our HELLO on an
 * outgoing connection; NULL on an incoming one), then the queued frames,
 * until done or the socket is full.  Returns 0 when everything is
 * written, 1 when the socket is full, -1 on an error (errno set). */
static int
txq_write(struct transport *t, int fd, struct txq *q, const struct buf *pre,
    size_t *pre_off)
{
	struct iovec iov[WRITE_IOV];
	struct msghdr mh;
	struct frame *f;
	ssize_t w;
	size_t n, left, k;

	for (;;) {
		n = 0;
		if (pre != NULL && *pre_off < pre->len) {
			iov[n].iov_base = pre->data + *pre_off;
			iov[n++].iov_len = pre->len - *pre_off;
		}
		for (f = q->head; f != NULL && n < WRITE_IOV; f = f->next) {
			k = f == q->head ? q->head_off : 0;
			iov[n].iov_base = f->data + k;
			iov[n++].iov_len = f->len - k;
		}
		if (n == 0)
			return 0;
		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = iov;
		mh.msg_iovlen = n;
		w = sendmsg(fd, &mh, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 1;
			return -1;
		}
		t->st.bytes_sent += (uint64_t)w;
		left = (size_t)w;
		if (pre != NULL && *pre_off < pre->len) {
			k = pre->len - *pre_off;
			k = k < left ? k : left;
			*pre_off += k;
			left -= k;
		}
		while (left > 0 && q->head != NULL) {
			f = q->head;
			k = f->len - q->head_off;
			if (left < k) {
				q->head_off += left;
				break;
			}
			left -= k;
			q->head = f->next;
			if (q->head == NULL)
				q->tailp = &q->head;
			q->head_off = 0;
			q->bytes -= f->len;
			t->st.frames_sent++;
			free(f);
		}
	}
}

/* rx_read - one read from fd into r: room for the rest of a known frame,
 * but grown no faster than data arrives (a header claiming 64 MB costs
 * nothing until the bytes come).  Returns the bytes read, 0 at the end,
 * or -1 (errno set; EAGAIN when drained). */
static ssize_t
rx_read(struct transport *t, int fd, struct rxbuf *r)
{
	size_t want = READ_CHUNK;
	ssize_t n;

	if (r->need > r->in.len && r->need - r->in.len > want) {
		want = r->need - r->in.len;
		if (want > r->in.len)
			want = r->in.len > READ_CHUNK ? r->in.len : READ_CHUNK;
	}
	buf_reserve(&r->in, want);
	do
		n = read(fd, r->in.data + r->in.len, r->in.cap - r->in.len);
	while (n < 0 && errno == EINTR);
	if (n > 0) {
		r->in.len += (size_t)n;
		t->st.bytes_received += (uint64_t)n;
	}
	return n;
}

/* rx_next - the frame at r->in.data + *off.  Returns 1 with kind, payload
 * (borrowed) and len set and *off past it; 0 if it is incomplete (r->need
 * set); -1 if its length is 0 or over max (*len is the length). */
static int
rx_next(struct rxbuf *r, size_t *off, size_t max, uint8_t *kind,
    const uint8_t **payload, size_t *len)
{
	const uint8_t *d = r->in.data + *off;
	size_t flen;

	r->need = 0;
	if (r->in.len - *off < HDR_LEN)
		return 0;
	flen = be32_get(d);
	if (flen == 0 || flen > max) {
		*len = flen;
		return -1;
	}
	if (r->in.len - *off - HDR_LEN < flen) {
		r->need = HDR_LEN + flen;
		return 0;
	}
	*kind = d[HDR_LEN];
	*payload = d + HDR_LEN + 1;
	*len = flen - 1;
	*off += HDR_LEN + flen;
	return 1;
}

/* rx_consume - drop the first off bytes (the frames parsed) */
static void
rx_consume(struct rxbuf *r, size_t off)
{
	if (off > 0) {
		memmove(r->in.data, r->in.data + off, r->in.len - off);
		r->in.len -= off;
	}
}

/* rx_trim - give back a big frame's buffer once it is consumed */
static void
rx_trim(struct rxbuf *r)
{
	if (r->in.len == 0 && r->in.cap > 4 * READ_CHUNK)
		buf_free(&r->in);
}

/* deliver - hand one frame to the callback.  Returns false if the
 * transport was closed inside it: the caller then stops touching it, and
 * destroys it if this was the outermost dispatch. */
static bool
deliver(struct transport *t, uint64_t from, uint8_t kind,
    const uint8_t *payload, size_t len)
{
	t->st.frames_received++;
	t->dispatching++;
	t->fn(t, from, kind, payload, len, t->arg);
	t->dispatching--;
	return !t->closed;
}

/* ------------------------------------------------------ outgoing peers */

/* peer_close_fd - stop the watchers and drop the socket, and whatever it
 * had sent us that was not a whole frame yet.  A frame that was partly
 * written is sent again whole on the next connection (the receiver
 * discards a partial frame when the connection ends). */
static void
peer_close_fd(struct peer *p)
{
	struct ev_loop *loop = p->t->loop;

	ev_io_stop(loop, &p->rio);
	ev_io_stop(loop, &p->wio);
	ev_timer_stop(loop, &p->timer);
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
	p->gen++;
	/* inside fn, the payload it borrowed still lives in rx.in */
	buf_reset(&p->rx.in);
	p->rx.need = 0;
	if (p->dispatching == 0)
		rx_trim(&p->rx);
	p->q.head_off = 0;
	p->hello_off = 0;
	p->healthy = false;
}

static void
peer_backoff(struct peer *p)
{
	double d;

	d = p->backoff == 0 ? BACKOFF_MIN : p->backoff * 2;
	if (d > BACKOFF_MAX)
		d = BACKOFF_MAX;
	p->backoff = d;
	p->state = P_BACKOFF;
	ev_timer_set(&p->timer, d, 0);
	ev_timer_start(p->t->loop, &p->timer);
}

/* peer_failed - a connect attempt failed or a connection ended.  Only the
 * first failure of a streak is a warning; the rest are debug lines. */
static void
peer_failed(struct peer *p, const char *what, int err)
{
	bool was_up = p->state == P_UP;
	bool was_healthy = was_up && p->healthy;

	peer_close_fd(p);
	if (was_healthy) {
		log_info("raft transport: connection to server %" PRIu64
		    " at %s lost: %s", p->id, p->addr,
		    err ? strerror(err) : what);
		p->backoff = 0;
		p->streak = 0;
	} else if (p->streak++ == 0) {
		log_warnx("raft transport: server %" PRIu64 " at %s: %s%s%s "
		    "(retrying with backoff up to %.0f s; repeats logged at "
		    "debug)", p->id, p->addr, what, err ? ": " : "",
		    err ? strerror(err) : "", BACKOFF_MAX);
	} else {
		log_debug("raft transport: server %" PRIu64 " at %s: %s%s%s "
		    "(attempt %u)", p->id, p->addr, what, err ? ": " : "",
		    err ? strerror(err) : "", p->streak);
	}
	if (!was_up)
		p->t->st.connect_failures++;
	peer_backoff(p);
}

/* peer_bad_frame - the other end wrote something that is not a frame we
 * accept on our own connection: count it and reconnect, backing off as
 * after a failed attempt (a peer that keeps doing it is not hammered). */
static void
peer_bad_frame(struct peer *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
peer_bad_frame(struct peer *p, const char *fmt, ...)
{
	char why[160];
	va_list ap;
	int n;

	p->t->st.bad_frames++;
	n = snprintf(why, sizeof(why), "sent back ");
	va_start(ap, fmt);
	vsnprintf(why + n, sizeof(why) - (size_t)n, fmt, ap);
	va_end(ap);
	p->healthy = false;
	peer_failed(p, why, 0);
}

/* peer_flush - write what is queued; 0, or -1 if the connection failed
 * (the peer is then in backoff). */
static int
peer_flush(struct peer *p)
{
	struct transport *t = p->t;

	switch (txq_write(t, p->fd, &p->q, &t->hello, &p->hello_off)) {
	case 0:
		ev_io_stop(t->loop, &p->wio);
		return 0;
	case 1:
		ev_io_start(t->loop, &p->wio);
		return 0;
	default:
		peer_failed(p, "write failed", errno);
		return -1;
	}
}

static void
peer_up(struct peer *p)
{
	struct transport *t = p->t;

	p->state = P_UP;
	p->hello_off = 0;
	p->q.head_off = 0;
	t->st.connects++;
	if (p->streak == 0)
		log_info("raft transport: connected to server %" PRIu64
		    " at %s", p->id, p->addr);
	else
		log_debug("raft transport: connected to server %" PRIu64
		    " at %s (after %u failures)", p->id, p->addr, p->streak);
	ev_timer_set(&p->timer, HEALTHY_AFTER, 0);
	ev_timer_start(t->loop, &p->timer);
	ev_io_set(&p->rio, p->fd, EV_READ);
	ev_io_start(t->loop, &p->rio);
	ev_io_set(&p->wio, p->fd, EV_WRITE);
	ev_io_start(t->loop, &p->wio); /* the HELLO goes first */
}

static void
peer_wio_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct peer *p = w->data;
	socklen_t sl;
	int err;

	(void)loop;
	(void)revents;
	if (p->state == P_CONNECTING) {
		err = 0;
		sl = sizeof(err);
		if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &sl) < 0)
			err = errno;
		if (err == EINPROGRESS || err == EALREADY)
			return;
		ev_io_stop(p->t->loop, &p->wio);
		ev_timer_stop(p->t->loop, &p->timer);
		if (err != 0) {
			peer_failed(p, "connect failed", err);
			return;
		}
		peer_up(p);
		return;
	}
	if (p->state == P_UP)
		(void)peer_flush(p);
	else
		ev_io_stop(p->t->loop, w);
}

static void peer_free(struct peer *p);

/* peer_parse - hand every complete frame the other end wrote back on our
 * connection to the callback, as from the server we connected to (it
 * knows who we are from our HELLO, and sends none itself).  fn may forget
 * or move the peer, or close the transport.  Returns 0, or -1 if this
 * connection (or the peer, or the whole transport) is gone. */
static int
peer_parse(struct peer *p)
{
	struct transport *t = p->t;
	const uint8_t *payload;
	unsigned gen = p->gen;
	size_t off = 0, len;
	uint8_t kind;
	bool alive, gone;
	int rc;

	while ((rc = rx_next(&p->rx, &off, TRANSPORT_MAX_FRAME, &kind,
	    &payload, &len)) > 0) {
		if (kind == TRANSPORT_HELLO) {
			peer_bad_frame(p, "a HELLO");
			return -1;
		}
		p->dispatching++;
		alive = deliver(t, p->id, kind, payload, len);
		p->dispatching--;
		gone = p->doomed || p->gen != gen;
		if (p->doomed)
			peer_free(p); /* already out of t->peers */
		if (!alive) {
			if (t->dispatching == 0)
				transport_destroy(t);
			return -1;
		}
		if (gone)
			return -1;
	}
	if (rc < 0) {
		peer_bad_frame(p, "a frame of bad length %zu", len);
		return -1;
	}
	rx_consume(&p->rx, off);
	return 0;
}

/* peer_rio_cb - frames written back on our connection (replies to a
 * client, which does not listen), or the other end closing. */
static void
peer_rio_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct peer *p = w->data;
	size_t budget = 0;
	ssize_t n;

	(void)loop;
	(void)revents;
	while (budget < READ_BUDGET) {
		n = rx_read(p->t, p->fd, &p->rx);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			peer_failed(p, "connection error", errno);
			return;
		}
		if (n == 0) {
			peer_failed(p, p->healthy ? "closed by the other end" :
			    "closed by the other end just after connecting "
			    "(restarting, or refused our cluster name?)", 0);
			return;
		}
		budget += (size_t)n;
		if (peer_parse(p) < 0)
			return;
	}
	rx_trim(&p->rx);
}

static void
peer_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct peer *p = w->data;

	(void)loop;
	(void)revents;
	switch (p->state) {
	case P_CONNECTING:
		peer_failed(p, "connect timed out", 0);
		break;
	case P_UP:
		p->healthy = true;
		if (p->streak > 0)
			log_info("raft transport: connected to server %" PRIu64
			    " at %s after %u failed attempts", p->id, p->addr,
			    p->streak);
		p->streak = 0;
		p->backoff = 0;
		break;
	case P_BACKOFF:
		if (p->q.head != NULL) {
			peer_connect(p);
		} else {
			p->state = P_IDLE; /* lazily, on the next send */
		}
		break;
	case P_IDLE:
		break;
	}
}

/* peer_connect - start a non-blocking connect (the name is resolved here;
 * peers are normally given as IP addresses, so this does not block). */
static void
peer_connect(struct peer *p)
{
	struct transport *t = p->t;
	struct addrinfo hints, *res = NULL;
	int fd, rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	p->state = P_CONNECTING;
	rc = getaddrinfo(p->host, p->port, &hints, &res);
	if (rc != 0 || res == NULL) {
		if (res != NULL)
			freeaddrinfo(res);
		peer_failed(p, rc == EAI_SYSTEM ? "cannot resolve" :
		    gai_strerror(rc), rc == EAI_SYSTEM ? errno : 0);
		return;
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd < 0) {
		freeaddrinfo(res);
		peer_failed(p, "socket", errno);
		return;
	}
	p->fd = fd;
	set_nodelay(fd);
	rc = connect(fd, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	if (rc == 0) {
		peer_up(p);
		return;
	}
	if (errno != EINPROGRESS && errno != EINTR) {
		peer_failed(p, "connect failed", errno);
		return;
	}
	ev_io_set(&p->wio, fd, EV_WRITE);
	ev_io_start(t->loop, &p->wio);
	ev_timer_set(&p->timer, CONNECT_TIMEOUT, 0);
	ev_timer_start(t->loop, &p->timer);
}

static struct peer *
peer_find(const struct transport *t, uint64_t id)
{
	struct peer *p;

	for (p = t->peers; p != NULL; p = p->next)
		if (p->id == id)
			return p;
	return NULL;
}

static void
peer_free(struct peer *p)
{
	peer_close_fd(p);
	txq_clear(&p->q);
	buf_free(&p->rx.in);
	free(p->addr);
	free(p->host);
	free(p->port);
	free(p);
}

int
transport_set_peer(struct transport *t, uint64_t id, const char *addr)
{
	struct peer *p, **pp;
	char *host, *port;
	int rc;

	if (id == 0)
		return -EINVAL;
	for (pp = &t->peers; *pp != NULL; pp = &(*pp)->next)
		if ((*pp)->id == id)
			break;
	p = *pp;
	if (addr == NULL) {
		if (p != NULL) {
			*pp = p->next;
			log_debug("raft transport: forgetting server %" PRIu64
			    " at %s", p->id, p->addr);
			if (p->dispatching > 0) {
				/* fn is handling one of its frames: the
				 * reader frees it when fn returns */
				peer_close_fd(p);
				txq_clear(&p->q);
				p->doomed = true;
			} else {
				peer_free(p);
			}
		}
		return 0;
	}
	if ((rc = split_addr(addr, &host, &port)) < 0)
		return rc;
	if (p != NULL && strcmp(p->addr, addr) == 0) {
		free(host);
		free(port);
		return 0;
	}
	if (p == NULL) {
		p = xcalloc(1, sizeof(*p));
		p->t = t;
		p->id = id;
		p->fd = -1;
		txq_init(&p->q);
		buf_init(&p->rx.in);
		ev_io_init(&p->rio, peer_rio_cb, -1, EV_READ);
		ev_io_init(&p->wio, peer_wio_cb, -1, EV_WRITE);
		ev_init(&p->timer, peer_timer_cb);
		p->rio.data = p->wio.data = p->timer.data = p;
		p->next = t->peers;
		t->peers = p;
	} else {
		log_info("raft transport: server %" PRIu64 " moved from %s to "
		    "%s", id, p->addr, addr);
		peer_close_fd(p);
		free(p->addr);
		free(p->host);
		free(p->port);
	}
	p->addr = xstrdup(addr);
	p->host = host;
	p->port = port;
	p->state = P_IDLE;
	p->backoff = 0;
	p->streak = 0;
	if (p->q.head != NULL)
		peer_connect(p);
	return 0;
}

static struct inconn *inconn_find(const struct transport *t, uint64_t id);
static void inconn_write_cb(struct ev_loop *loop, ev_io *w, int revents);

/* transport_send - to the peer's own address if we know it, else back over
 * the newest connection it made to us (a client does not listen). */
int
transport_send(struct transport *t, uint64_t id, uint8_t kind,
    const void *payload, size_t len)
{
	struct inconn *c;
	struct peer *p;

	if (len > TRANSPORT_MAX_FRAME - 1)
		return -EMSGSIZE;
	if ((p = peer_find(t, id)) == NULL) {
		if ((c = inconn_find(t, id)) == NULL) {
			t->st.dropped++;
			return -ENOENT;
		}
		if (txq_push(&c->q, kind, payload, len) < 0) {
			t->st.dropped++;
			return -ENOBUFS;
		}
		/* written from the loop, so a burst of sends is one writev
		 * (and fn, which may be replying, never sees c go away) */
		ev_io_start(t->loop, &c->wio);
		return 0;
	}
	if (txq_push(&p->q, kind, payload, len) < 0) {
		t->st.dropped++;
		return -ENOBUFS;
	}
	switch (p->state) {
	case P_IDLE:
		peer_connect(p);
		break;
	case P_UP:
		/* written from the loop, so a burst of sends is one writev */
		ev_io_start(t->loop, &p->wio);
		break;
	case P_CONNECTING:
	case P_BACKOFF:
		break;
	}
	return 0;
}

/* transport_flush - write what is queued now, rather than when the loop
 * next polls (see transport.h). */
void
transport_flush(struct transport *t)
{
	struct inconn *c, *next;
	struct peer *p;

	if (t->dispatching)
		return; /* fn may hold a connection's buffers: leave it to
			   the write watchers */
	for (p = t->peers; p != NULL; p = p->next)
		if (p->state == P_UP && p->q.head != NULL)
			(void)peer_flush(p);
	for (c = t->conns; c != NULL; c = next) {
		next = c->next;
		if (c->q.head != NULL)
			inconn_write_cb(t->loop, &c->wio, EV_WRITE);
	}
}

/* ------------------------------------------------ incoming connections */

/* inconn_free - close c; replies still queued on it are dropped. */
static void
inconn_free(struct inconn *c)
{
	struct transport *t = c->t;

	ev_io_stop(t->loop, &c->rio);
	ev_io_stop(t->loop, &c->wio);
	ev_timer_stop(t->loop, &c->hello_timer);
	close(c->fd);
	buf_free(&c->rx.in);
	t->st.dropped += txq_clear(&c->q);
	*c->prevp = c->next;
	if (c->next != NULL)
		c->next->prevp = c->prevp;
	t->nconns--;
	free(c);
}

static void
inconn_link(struct transport *t, struct inconn *c)
{
	c->next = t->conns;
	if (c->next != NULL)
		c->next->prevp = &c->next;
	c->prevp = &t->conns;
	t->conns = c;
}

/* inconn_find - the newest connection from id that passed HELLO (the
 * list is kept with the latest HELLO first). */
static struct inconn *
inconn_find(const struct transport *t, uint64_t id)
{
	struct inconn *c;

	for (c = t->conns; c != NULL; c = c->next)
		if (c->hello && c->id == id)
			return c;
	return NULL;
}

/* inconn_reject - a protocol violation: count it, warn (rate-limited),
 * close. */
static void
inconn_reject(struct inconn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
inconn_reject(struct inconn *c, const char *fmt, ...)
{
	struct transport *t = c->t;
	unsigned supp;
	char why[160];
	va_list ap;

	t->st.bad_frames++;
	if (ratelimit_ok(&t->rl_in, &supp)) {
		va_start(ap, fmt);
		vsnprintf(why, sizeof(why), fmt, ap);
		va_end(ap);
		if (supp > 0)
			log_warnx("raft transport: closing connection from %s: "
			    "%s (%u similar suppressed)", c->name, why, supp);
		else
			log_warnx("raft transport: closing connection from %s: "
			    "%s", c->name, why);
	}
	inconn_free(c);
}

static int
inconn_hello(struct inconn *c, uint8_t kind, const uint8_t *p, size_t n)
{
	struct transport *t = c->t;
	size_t cl = strlen(t->cluster);
	uint64_t id;

	if (kind != TRANSPORT_HELLO) {
		inconn_reject(c, "first frame is kind %u, not HELLO", kind);
		return -1;
	}
	if (n < 8) {
		inconn_reject(c, "short HELLO");
		return -1;
	}
	id = be64_get(p);
	if (id == 0) {
		inconn_reject(c, "HELLO without a server id");
		return -1;
	}
	/* payload: id, cluster name, and optionally NUL + listen address */
	{
		const uint8_t *nul = memchr(p + 8, '\0', n - 8);
		size_t clen = nul ? (size_t)(nul - (p + 8)) : n - 8;

		if (clen != cl || memcmp(p + 8, t->cluster, cl) != 0) {
			inconn_reject(c, "server %" PRIu64 " is in cluster "
			    "\"%.*s\", not \"%s\"", id,
			    (int)(clen > 64 ? 64 : clen),
			    (const char *)(p + 8), t->cluster);
			return -1;
		}
		if (nul != NULL) {
			size_t alen = n - 8 - clen - 1;
			char addr[ADDR_MAX + 1];
			struct peer *q;

			if (alen == 0 || alen > ADDR_MAX ||
			    memchr(nul + 1, '\0', alen) != NULL) {
				inconn_reject(c, "bad address in HELLO");
				return -1;
			}
			memcpy(addr, nul + 1, alen);
			addr[alen] = '\0';
			for (q = t->peers; q != NULL; q = q->next)
				if (q->id == id)
					break;
			/* learn where to answer a server we did not know */
			if (q == NULL && id != t->self_id)
				transport_set_peer(t, id, addr);
		}
	}
	c->hello = true;
	c->id = id;
	ev_timer_stop(t->loop, &c->hello_timer);
	/* first in the list: replies to id go over the newest connection */
	*c->prevp = c->next;
	if (c->next != NULL)
		c->next->prevp = c->prevp;
	inconn_link(t, c);
	log_info("raft transport: connection from server %" PRIu64 " (%s)",
	    id, c->name);
	return 0;
}

/* inconn_parse - hand every complete frame in c->rx to the callback.
 * Returns 0, or -1 if c (or the whole transport) is gone.  Nothing fn
 * can call frees c: transport_send only queues, transport_close waits. */
static int
inconn_parse(struct inconn *c)
{
	struct transport *t = c->t;
	const uint8_t *payload;
	size_t off = 0, len;
	uint8_t kind;
	int rc;

	while ((rc = rx_next(&c->rx, &off, c->hello ? TRANSPORT_MAX_FRAME :
	    HELLO_MAX_FRAME, &kind, &payload, &len)) > 0) {
		if (!c->hello) {
			if (inconn_hello(c, kind, payload, len) < 0)
				return -1;
		} else if (kind == TRANSPORT_HELLO) {
			inconn_reject(c, "second HELLO from server %" PRIu64,
			    c->id);
			return -1;
		} else if (!deliver(t, c->id, kind, payload, len)) {
			if (t->dispatching == 0)
				transport_destroy(t);
			return -1;
		}
	}
	if (rc < 0) {
		inconn_reject(c, "bad frame length %zu", len);
		return -1;
	}
	rx_consume(&c->rx, off);
	return 0;
}

static void
inconn_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct inconn *c = w->data;
	size_t budget = 0;
	ssize_t n;

	(void)loop;
	(void)revents;
	while (budget < READ_BUDGET) {
		n = rx_read(c->t, c->fd, &c->rx);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			log_info("raft transport: connection from %s: %s",
			    c->name, strerror(errno));
			inconn_free(c);
			return;
		}
		if (n == 0) {
			if (c->hello)
				log_info("raft transport: server %" PRIu64
				    " (%s) closed its connection", c->id,
				    c->name);
			else
				log_debug("raft transport: %s closed before "
				    "HELLO", c->name);
			inconn_free(c);
			return;
		}
		budget += (size_t)n;
		if (inconn_parse(c) < 0)
			return;
	}
	rx_trim(&c->rx);
}

/* inconn_write_cb - replies queued by transport_send, written back over
 * the connection the peer made. */
static void
inconn_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct inconn *c = w->data;

	(void)revents;
	switch (txq_write(c->t, c->fd, &c->q, NULL, NULL)) {
	case 0:
		ev_io_stop(loop, w);
		break;
	case 1:
		break;
	default:
		log_info("raft transport: connection from server %" PRIu64
		    " (%s): write failed: %s", c->id, c->name,
		    strerror(errno));
		inconn_free(c);
		break;
	}
}

static void
inconn_hello_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct inconn *c = w->data;

	(void)loop;
	(void)revents;
	inconn_reject(c, "no HELLO within %.0f s", HELLO_TIMEOUT);
}

static void
accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct transport *t = w->data;
	struct sockaddr_storage ss;
	struct inconn *c;
	socklen_t sl;
	unsigned supp;
	char name[64];
	int fd;

	(void)revents;
	for (;;) {
		sl = sizeof(ss);
		fd = accept4(t->lfd, (struct sockaddr *)&ss, &sl,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			if (ratelimit_ok(&t->rl_in, &supp))
				log_warn("raft transport: accept");
			/* out of descriptors and the like: pause */
			ev_io_stop(loop, &t->accept_w);
			ev_timer_set(&t->accept_retry, ACCEPT_RETRY, 0);
			ev_timer_start(loop, &t->accept_retry);
			return;
		}
		sockaddr_name((struct sockaddr *)&ss, name, sizeof(name));
		if (t->nconns >= MAX_INCOMING) {
			if (ratelimit_ok(&t->rl_in, &supp))
				log_warnx("raft transport: refusing %s: %d "
				    "connections already", name, MAX_INCOMING);
			close(fd);
			continue;
		}
		set_nodelay(fd);
		c = xcalloc(1, sizeof(*c));
		c->t = t;
		c->fd = fd;
		buf_init(&c->rx.in);
		txq_init(&c->q);
		snprintf(c->name, sizeof(c->name), "%s", name);
		ev_io_init(&c->rio, inconn_read_cb, fd, EV_READ);
		c->rio.data = c;
		ev_io_init(&c->wio, inconn_write_cb, fd, EV_WRITE);
		c->wio.data = c;
		ev_timer_init(&c->hello_timer, inconn_hello_timeout_cb,
		    HELLO_TIMEOUT, 0);
		c->hello_timer.data = c;
		inconn_link(t, c);
		t->nconns++;
		ev_io_start(loop, &c->rio);
		ev_timer_start(loop, &c->hello_timer);
		log_debug("raft transport: accepted %s", name);
	}
}

static void
accept_retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct transport *t = w->data;

	(void)revents;
	ev_io_start(loop, &t->accept_w);
}

/* ------------------------------------------------------------- public */

static int
check_args(uint64_t self_id, const char *cluster, transport_recv_fn fn,
    struct errbuf *eb)
{
	if (self_id == 0)
		return errbuf_set(eb, -EINVAL, "raft transport: server id 0");
	if (cluster == NULL || strlen(cluster) > CLUSTER_MAX)
		return errbuf_set(eb, -EINVAL, "raft transport: cluster name "
		    "missing or longer than %d bytes", CLUSTER_MAX);
	if (fn == NULL)
		return errbuf_set(eb, -EINVAL, "raft transport: no receive "
		    "callback");
	return 0;
}

/* transport_new - the transport around listening socket lfd (-1: none) */
static struct transport *
transport_new(struct ev_loop *loop, int lfd, uint64_t self_id,
    const char *cluster, transport_recv_fn fn, void *arg)
{
	struct transport *t;

	t = xcalloc(1, sizeof(*t));
	t->loop = loop;
	t->lfd = lfd;
	t->self_id = self_id;
	t->cluster = xstrdup(cluster);
	t->fn = fn;
	t->arg = arg;
	buf_init(&t->hello);
	buf_put_be32(&t->hello, (uint32_t)(1 + 8 + strlen(cluster)));
	buf_put_u8(&t->hello, TRANSPORT_HELLO);
	buf_put_be64(&t->hello, self_id);
	buf_put_str(&t->hello, cluster);
	ev_io_init(&t->accept_w, accept_cb, lfd, EV_READ);
	t->accept_w.data = t;
	ev_init(&t->accept_retry, accept_retry_cb);
	t->accept_retry.data = t;
	if (lfd >= 0)
		ev_io_start(loop, &t->accept_w);
	return t;
}

int
transport_open(struct ev_loop *loop, const char *bind_addr, int port,
    uint64_t self_id, const char *cluster, transport_recv_fn fn, void *arg,
    struct transport **out, struct errbuf *eb)
{
	struct addrinfo hints, *res = NULL;
	struct transport *t;
	char portstr[16];
	int fd, rc, one = 1;

	*out = NULL;
	if ((rc = check_args(self_id, cluster, fn, eb)) < 0)
		return rc;
	if (port < 0 || port > 65535)
		return errbuf_set(eb, -EINVAL, "raft transport: bad port %d",
		    port);
	if (bind_addr == NULL)
		bind_addr = "0.0.0.0";
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
	snprintf(portstr, sizeof(portstr), "%d", port);
	rc = getaddrinfo(bind_addr, portstr, &hints, &res);
	if (rc != 0 || res == NULL) {
		if (res != NULL)
			freeaddrinfo(res);
		return errbuf_set(eb, -EINVAL, "raft transport: bind address "
		    "\"%s\": %s", bind_addr, gai_strerror(rc));
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd < 0) {
		rc = -errno;
		freeaddrinfo(res);
		return errbuf_set(eb, rc, "raft transport: socket: %s",
		    strerror(-rc));
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 ||
	    listen(fd, 128) < 0) {
		rc = -errno;
		freeaddrinfo(res);
		close(fd);
		return errbuf_set(eb, rc, "raft transport: listen on %s:%d: %s",
		    bind_addr, port, strerror(-rc));
	}
	freeaddrinfo(res);

	t = transport_new(loop, fd, self_id, cluster, fn, arg);
	log_info("raft transport: listening on %s:%d as server %" PRIu64
	    " in cluster \"%s\"", bind_addr, transport_port(t), self_id,
	    cluster);
	*out = t;
	return 0;
}

int
transport_open_client(struct ev_loop *loop, uint64_t self_id,
    const char *cluster, transport_recv_fn fn, void *arg,
    struct transport **out, struct errbuf *eb)
{
	int rc;

	*out = NULL;
	if ((rc = check_args(self_id, cluster, fn, eb)) < 0)
		return rc;
	*out = transport_new(loop, -1, self_id, cluster, fn, arg);
	log_info("raft transport: client %" PRIu64 " in cluster \"%s\" (not "
	    "listening)", self_id, cluster);
	return 0;
}

int
transport_set_self_addr(struct transport *t, const char *addr)
{
	size_t cl = strlen(t->cluster), al = addr ? strlen(addr) : 0;

	if (al > ADDR_MAX)
		return -EINVAL;
	buf_reset(&t->hello);
	buf_put_be32(&t->hello, (uint32_t)(1 + 8 + cl + (al ? 1 + al : 0)));
	buf_put_u8(&t->hello, TRANSPORT_HELLO);
	buf_put_be64(&t->hello, t->self_id);
	buf_put_str(&t->hello, t->cluster);
	if (al) {
		buf_put_u8(&t->hello, 0);
		buf_put_str(&t->hello, addr);
	}
	return 0;
}

int
transport_port(const struct transport *t)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (t->lfd < 0)
		return 0; /* a client */
	if (getsockname(t->lfd, (struct sockaddr *)&ss, &sl) < 0)
		return -errno;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return -EAFNOSUPPORT;
}

void
transport_stats(const struct transport *t, struct transport_stats *st)
{
	*st = t->st;
}

static void
transport_destroy(struct transport *t)
{
	struct peer *p;

	ev_io_stop(t->loop, &t->accept_w);
	ev_timer_stop(t->loop, &t->accept_retry);
	if (t->lfd >= 0)
		close(t->lfd);
	while ((p = t->peers) != NULL) {
		t->peers = p->next;
		peer_free(p);
	}
	while (t->conns != NULL)
		inconn_free(t->conns);
	buf_free(&t->hello);
	free(t->cluster);
	free(t);
}

/* transport_close - may be called from the receive callback: the
 * teardown then happens when the callback returns. */
void
transport_close(struct transport *t)
{
	if (t == NULL)
		return;
	if (t->dispatching > 0) {
		t->closed = true;
		return;
	}
	transport_destroy(t);
}
