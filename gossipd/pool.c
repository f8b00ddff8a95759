/* pool.c - a gossip pool on UDP and TCP with libev (see pool.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "pool.h"
#include "xmalloc.h"

#define TICK_S 0.02
#define TCP_TIMEOUT_S 10.0
#define TCP_MAX_CONNS 128

/* a TCP exchange: one framed packet each way (4-byte BE length) */
struct tconn {
	struct pool *p;
	int fd;
	bool outgoing, connected;
	char addr[64];
	struct buf out; /* framed bytes to write */
	size_t off;
	struct buf in;
	ev_io io;
	ev_timer tm;
	pool_join_fn join_fn; /* outgoing joins */
	void *join_arg;
	bool join;
	struct tconn *next, *prev;
};

struct pool {
	struct ev_loop *loop;
	struct pool_options o;
	char *label, *name, *advertise;
	struct swim *swim;
	int udp, tcp;
	ev_io udp_w, tcp_w;
	ev_timer tick_w;
	struct tconn *conns;
	unsigned nconns;
	uint64_t bytes_sent, refused;
	uint64_t bad; /* packets and streams dropped as undecodable */
	double t0;
	bool said_key_error;
	bool flushing;
};

static uint64_t
now_ms(struct pool *p)
{
	return (uint64_t)((mono_now() - p->t0) * 1000.0) + 1;
}

static int
parse_addr(const char *s, int defport, struct sockaddr_in *sa)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	long port = defport;

	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	if (colon) {
		char *end;

		if ((size_t)(colon - s) >= sizeof(host))
			return -EINVAL;
		memcpy(host, s, (size_t)(colon - s));
		host[colon - s] = '\0';
		port = strtol(colon + 1, &end, 10);
		if (*end != '\0' || port <= 0 || port > 65535)
			return -EINVAL;
	} else {
		if (strlen(s) >= sizeof(host))
			return -EINVAL;
		snprintf(host, sizeof(host), "%s", s);
	}
	if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
		return -EINVAL;
	sa->sin_port = htons((uint16_t)port);
	return 0;
}

static void
fmt_addr(const struct sockaddr_in *sa, char *out, size_t n)
{
	char ip[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &sa->sin_addr, ip, sizeof(ip));
	snprintf(out, n, "%s:%u", ip, ntohs(sa->sin_port));
}

/* seal - encrypt when a keyring is set */
static int
seal(struct pool *p, const struct buf *in, struct buf *out)
{
	if (p->o.keys == NULL || p->o.keys->n == 0) {
		buf_put(out, in->data, in->len);
		return 0;
	}
	return crypt_seal(p->o.keys, p->label, in->data, in->len, out);
}

/* unseal - decrypt; unsealed packets pass when no key is set or
 * verify_incoming is off */
static int
unseal(struct pool *p, const uint8_t *d, size_t n, struct buf *out,
    const char *from)
{
	if (p->o.keys == NULL || p->o.keys->n == 0) {
		buf_put(out, d, n);
		return 0;
	}
	if (crypt_open(p->o.keys, p->label, d, n, out) == 0)
		return 0;
	if (!p->o.verify_incoming) {
		buf_put(out, d, n);
		return 0;
	}
	p->refused++;
	if (!p->said_key_error) {
		log_warnx("memberlist: %s: packet from %s refused: no installed "
			  "key decrypts it (wrong or missing gossip key)",
		    p->label, from);
		p->said_key_error = true;
	}
	return -EBADMSG;
}

static void flush(struct pool *p);

/* ------------------------------------------------------------------ TCP */

static void
tconn_free(struct tconn *c)
{
	struct pool *p = c->p;

	ev_io_stop(p->loop, &c->io);
	ev_timer_stop(p->loop, &c->tm);
	if (c->fd >= 0)
		close(c->fd);
	buf_free(&c->out);
	buf_free(&c->in);
	if (c->prev)
		c->prev->next = c->next;
	else if (p->conns == c)
		p->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	p->nconns--;
	free(c);
}

/* tconn_done - an exchange ended: reply (outgoing) or failure */
static void
tconn_fail(struct tconn *c, const char *why)
{
	struct pool *p = c->p;

	if (c->outgoing) {
		swim_pushpull_reply(p->swim, c->addr, NULL, 0, now_ms(p));
		if (c->join && c->join_fn)
			c->join_fn(p, c->addr, why, c->join_arg);
		else
			log_debug("memberlist: %s: TCP exchange with %s: %s",
			    p->label, c->addr, why);
	}
	tconn_free(c);
	flush(p);
}

static bool
frame_complete(const struct buf *in, size_t *len)
{
	if (in->len < 4)
		return false;
	*len = be32_get(in->data);
	return in->len >= 4 + *len;
}

static void
tconn_read(struct tconn *c)
{
	struct pool *p = c->p;
	uint8_t tmp[16384];
	size_t len = 0;
	ssize_t n;

	for (;;) {
		n = read(c->fd, tmp, sizeof(tmp));
		if (n > 0) {
			buf_put(&c->in, tmp, (size_t)n);
			if (c->in.len >= 4 && be32_get(c->in.data) > SWIM_TCP_MAX) {
				tconn_fail(c, "message too large");
				return;
			}
			if (frame_complete(&c->in, &len))
				break;
			continue;
		}
		if (n == 0) {
			/* a member that cannot decrypt us hangs up */
			tconn_fail(c, c->outgoing && p->o.keys &&
					      p->o.keys->n > 0
					  ? "connection closed early (does the "
					    "other side use the same gossip "
					    "key?)"
					  : "connection closed early");
			return;
		}
		if (errno == EAGAIN || errno == EINTR)
			return;
		tconn_fail(c, strerror(errno));
		return;
	}
	{
		struct buf plain = BUF_INIT;
		const char *from = c->addr;

		if (unseal(p, c->in.data + 4, len, &plain, from) < 0) {
			buf_free(&plain);
			tconn_fail(c, "refused (gossip key mismatch)");
			return;
		}
		if (c->outgoing) {
			int r = swim_pushpull_reply(p->swim, c->addr,
			    plain.data, plain.len, now_ms(p));

			if (c->join && c->join_fn)
				c->join_fn(p, c->addr,
				    r < 0 ? "bad reply" : NULL, c->join_arg);
			buf_free(&plain);
			tconn_free(c);
			flush(p);
			return;
		} else {
			struct buf rep = BUF_INIT, sealed = BUF_INIT;
			uint8_t h[4];

			if (swim_pushpull_request(p->swim, plain.data, plain.len,
				&rep, now_ms(p)) < 0 ||
			    seal(p, &rep, &sealed) < 0) {
				buf_free(&plain);
				buf_free(&rep);
				buf_free(&sealed);
				p->bad++;
				tconn_fail(c, "bad request");
				return;
			}
			be32_set(h, (uint32_t)sealed.len);
			buf_reset(&c->out);
			buf_put(&c->out, h, 4);
			buf_put(&c->out, sealed.data, sealed.len);
			c->off = 0;
			buf_free(&plain);
			buf_free(&rep);
			buf_free(&sealed);
			ev_io_stop(p->loop, &c->io);
			ev_io_set(&c->io, c->fd, EV_WRITE);
			ev_io_start(p->loop, &c->io);
			flush(p);
		}
	}
}

static void
tconn_write(struct tconn *c)
{
	struct pool *p = c->p;
	ssize_t n;

	while (c->off < c->out.len) {
		n = send(c->fd, c->out.data + c->off, c->out.len - c->off,
		    MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			tconn_fail(c, strerror(errno));
			return;
		}
		c->off += (size_t)n;
		p->bytes_sent += (uint64_t)n;
	}
	if (!c->outgoing) {
		tconn_free(c); /* reply sent */
		return;
	}
	ev_io_stop(p->loop, &c->io);
	ev_io_set(&c->io, c->fd, EV_READ);
	ev_io_start(p->loop, &c->io);
}

static void
tconn_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct tconn *c = w->data;

	(void)loop;
	if (c->outgoing && !c->connected && (revents & EV_WRITE)) {
		int err = 0;
		socklen_t l = sizeof(err);

		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
		if (err != 0) {
			tconn_fail(c, strerror(err));
			return;
		}
		c->connected = true;
	}
	if (revents & EV_WRITE)
		tconn_write(c);
	else if (revents & EV_READ)
		tconn_read(c);
}

static void
tconn_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	tconn_fail(w->data, "timed out");
}

static struct tconn *
tconn_new(struct pool *p, int fd, bool outgoing, const char *addr)
{
	struct tconn *c = xcalloc(1, sizeof(*c));

	c->p = p;
	c->fd = fd;
	c->outgoing = outgoing;
	snprintf(c->addr, sizeof(c->addr), "%s", addr);
	ev_io_init(&c->io, tconn_cb, fd, outgoing ? EV_WRITE : EV_READ);
	c->io.data = c;
	ev_io_start(p->loop, &c->io);
	ev_timer_init(&c->tm, tconn_timeout, TCP_TIMEOUT_S, 0);
	c->tm.data = c;
	ev_timer_start(p->loop, &c->tm);
	c->next = p->conns;
	if (p->conns)
		p->conns->prev = c;
	p->conns = c;
	p->nconns++;
	return c;
}

/* tcp_send - start an outgoing exchange of data with addr */
static void
tcp_send(struct pool *p, const char *addr, const struct buf *data,
    bool join, pool_join_fn fn, void *arg)
{
	struct sockaddr_in sa;
	struct buf sealed = BUF_INIT;
	struct tconn *c;
	uint8_t h[4];
	int fd;

	if (parse_addr(addr, p->o.port, &sa) < 0 ||
	    p->nconns >= TCP_MAX_CONNS || seal(p, data, &sealed) < 0) {
		buf_free(&sealed);
		swim_pushpull_reply(p->swim, addr, NULL, 0, now_ms(p));
		if (join && fn)
			fn(p, addr, "bad address", arg);
		return;
	}
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 &&
			  errno != EINPROGRESS)) {
		char why[128];

		snprintf(why, sizeof(why), "%s", strerror(errno));
		if (fd >= 0)
			close(fd);
		buf_free(&sealed);
		swim_pushpull_reply(p->swim, addr, NULL, 0, now_ms(p));
		if (join && fn)
			fn(p, addr, why, arg);
		return;
	}
	c = tconn_new(p, fd, true, addr);
	c->join = join;
	c->join_fn = fn;
	c->join_arg = arg;
	be32_set(h, (uint32_t)sealed.len);
	buf_put(&c->out, h, 4);
	buf_put(&c->out, sealed.data, sealed.len);
	buf_free(&sealed);
}

static void
accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct pool *p = w->data;
	struct sockaddr_in sa;
	socklen_t l = sizeof(sa);
	char addr[64];
	int fd;

	(void)loop;
	(void)revents;
	while ((fd = accept4(p->tcp, (struct sockaddr *)&sa, &l,
		    SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		if (p->nconns >= TCP_MAX_CONNS) {
			close(fd);
			continue;
		}
		fmt_addr(&sa, addr, sizeof(addr));
		tconn_new(p, fd, false, addr);
		l = sizeof(sa);
	}
}

/* ------------------------------------------------------------------ UDP */

static void
udp_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct pool *p = w->data;
	uint8_t pkt[65536];
	struct sockaddr_in sa;
	socklen_t l;
	ssize_t n;
	int k;

	(void)loop;
	(void)revents;
	for (k = 0; k < 64; k++) {
		struct buf plain = BUF_INIT;
		char from[64];

		l = sizeof(sa);
		n = recvfrom(p->udp, pkt, sizeof(pkt), 0, (struct sockaddr *)&sa,
		    &l);
		if (n < 0)
			break;
		fmt_addr(&sa, from, sizeof(from));
		if (unseal(p, pkt, (size_t)n, &plain, from) < 0) {
			p->bad++;
		} else if (swim_recv(p->swim, from, plain.data, plain.len,
			       now_ms(p)) < 0) {
			p->bad++;
			log_debug("memberlist: %s: bad packet from %s",
			    p->label, from);
		}
		buf_free(&plain);
	}
	flush(p);
}

/* flush - send what the core queued and pass on its events.  Handlers
 * may act on the pool (new tags, a join): that queues more output, which
 * this same flush delivers; it is never re-entered. */
static void
flush(struct pool *p)
{
	struct swim_send *sends;
	struct swim_event *evs;
	size_t ev_done = 0, send_done = 0, ns, ne;

	if (p->flushing)
		return;
	p->flushing = true;
	for (;;) {
		ne = swim_events(p->swim, &evs);
		ns = swim_sends(p->swim, &sends);
		if (ev_done == ne && send_done == ns)
			break;
		if (ev_done < ne) {
			/* a copy: the array may move while the handler runs
			 * (the strings it points at stay until the clear) */
			struct swim_event e = evs[ev_done++];

			if (p->o.on_event)
				p->o.on_event(p, &e, p->o.arg);
			continue;
		}
		{
			struct swim_send s = sends[send_done++];

			if (s.tcp && !s.join) {
				tcp_send(p, s.addr, &s.data, false, NULL, NULL);
			} else if (!s.tcp) {
				struct sockaddr_in sa;
				struct buf sealed = BUF_INIT;

				if (parse_addr(s.addr, p->o.port, &sa) == 0 &&
				    seal(p, &s.data, &sealed) == 0 &&
				    sendto(p->udp, sealed.data, sealed.len, 0,
					(struct sockaddr *)&sa, sizeof(sa)) > 0)
					p->bytes_sent += sealed.len;
				buf_free(&sealed);
			}
			/* joins are sent by pool_join itself */
		}
	}
	swim_clear_output(p->swim);
	p->flushing = false;
}

static void
tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct pool *p = w->data;

	(void)loop;
	(void)revents;
	swim_tick(p->swim, now_ms(p));
	flush(p);
}

/* -------------------------------------------------------------- public */

void
pool_join(struct pool *p, const char *addr, pool_join_fn fn, void *arg)
{
	struct swim_send *sends;
	struct sockaddr_in sa;
	char full[64];
	size_t i, ns;

	if (parse_addr(addr, p->o.port, &sa) < 0) {
		if (fn)
			fn(p, addr, "not an IPv4 address[:port]", arg);
		return;
	}
	fmt_addr(&sa, full, sizeof(full));
	flush(p); /* anything queued before goes first (if not flushing) */
	i = swim_sends(p->swim, &sends); /* only what this join adds */
	swim_join(p->swim, full, now_ms(p));
	ns = swim_sends(p->swim, &sends);
	for (; i < ns; i++)
		if (sends[i].tcp && sends[i].join)
			tcp_send(p, full, &sends[i].data, true, fn, arg);
	flush(p);
}

void
pool_leave(struct pool *p)
{
	swim_leave(p->swim, now_ms(p));
	flush(p);
}

int
pool_force_leave(struct pool *p, const char *name)
{
	int r = swim_force_leave(p->swim, name, now_ms(p));

	flush(p);
	return r;
}

void
pool_set_tags(struct pool *p, const char *const *tags, size_t n)
{
	swim_set_tags(p->swim, tags, n, now_ms(p));
	flush(p);
}

int
pool_user_event(struct pool *p, const char *name, const void *payload,
    size_t n)
{
	int r = swim_user_event(p->swim, name, payload, n, now_ms(p));

	flush(p);
	return r;
}

struct swim *
pool_swim(struct pool *p)
{
	return p->swim;
}

const char *
pool_label(const struct pool *p)
{
	return p->label;
}

uint64_t
pool_bytes_sent(const struct pool *p)
{
	return p->bytes_sent;
}

uint64_t
pool_bad_packets(const struct pool *p)
{
	return p->bad;
}

uint64_t
pool_packets_refused(const struct pool *p)
{
	return p->refused;
}

int
pool_open(struct ev_loop *loop, const struct pool_options *o,
    struct pool **out, struct errbuf *eb)
{
	struct pool *p = xcalloc(1, sizeof(*p));
	struct sockaddr_in sa;
	struct swim_options so = o->swim;
	char baddr[80];
	int one = 1, r = -EIO;

	p->loop = loop;
	p->o = *o;
	p->label = xstrdup(o->label);
	p->name = xstrdup(o->name);
	p->advertise = xstrdup(o->advertise);
	p->udp = p->tcp = -1;
	p->t0 = mono_now();
	snprintf(baddr, sizeof(baddr), "%s:%d", o->bind_ip, o->port);
	if (parse_addr(baddr, o->port, &sa) < 0) {
		r = errbuf_set(eb, -EINVAL, "%s gossip: bad bind address %s",
		    o->label, baddr);
		goto fail;
	}
	p->udp = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	p->tcp = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (p->udp < 0 || p->tcp < 0) {
		r = errbuf_set(eb, -errno, "%s gossip: socket: %s", o->label,
		    strerror(errno));
		goto fail;
	}
	setsockopt(p->tcp, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(p->udp, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    bind(p->tcp, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(p->tcp, 64) < 0) {
		r = errbuf_set(eb, -errno, "%s gossip: bind %s: %s", o->label,
		    baddr, strerror(errno));
		goto fail;
	}
	so.name = p->name;
	so.addr = p->advertise;
	so.seed = (uint64_t)(ev_time() * 1e6) ^ (uint64_t)getpid();
	if ((p->swim = swim_new(&so, now_ms(p))) == NULL) {
		r = errbuf_set(eb, -EINVAL, "%s gossip: bad name or address",
		    o->label);
		goto fail;
	}
	ev_io_init(&p->udp_w, udp_cb, p->udp, EV_READ);
	p->udp_w.data = p;
	ev_io_start(loop, &p->udp_w);
	ev_io_init(&p->tcp_w, accept_cb, p->tcp, EV_READ);
	p->tcp_w.data = p;
	ev_io_start(loop, &p->tcp_w);
	ev_timer_init(&p->tick_w, tick_cb, TICK_S, TICK_S);
	p->tick_w.data = p;
	ev_timer_start(loop, &p->tick_w);
	*out = p;
	return 0;
fail:
	if (p->udp >= 0)
		close(p->udp);
	if (p->tcp >= 0)
		close(p->tcp);
	free(p->label);
	free(p->name);
	free(p->advertise);
	free(p);
	return r;
}

void
pool_close(struct pool *p)
{
	if (p == NULL)
		return;
	while (p->conns)
		tconn_free(p->conns);
	ev_io_stop(p->loop, &p->udp_w);
	ev_io_stop(p->loop, &p->tcp_w);
	ev_timer_stop(p->loop, &p->tick_w);
	close(p->udp);
	close(p->tcp);
	swim_free(p->swim);
	free(p->label);
	free(p->name);
	free(p->advertise);
	free(p);
}
