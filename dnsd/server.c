/* server.c - dnsd's listeners (UDP with recvmmsg/sendmmsg batches, TCP
 * with length-prefixed messages), the answer cache, the catalog mirror's
 * refresh from raftd, and forwarding to recursors. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "dnsd.h"
#include "log.h"
#include "xmalloc.h"

#define TCP_IDLE_S 10.0
#define TCP_MAX_CONNS 512
#define REFRESH_PERIOD_S 30.0
#define RETRY_S 0.5
#define FWD_MAX 1024

struct tcp_conn {
	struct dnsd *d;
	int fd;
	ev_io rw, ww;
	ev_timer idle;
	uint8_t *rbuf;		/* 2 + 65535 */
	size_t rlen;
	uint8_t *wbuf;
	size_t wlen, woff, wcap;
	unsigned pending;	/* forwarded queries not answered yet */
	bool closing;
	struct tcp_conn *next, *prev;
};

struct fwd {
	struct dnsd *d;
	int fd;
	ev_io w;
	ev_timer t;
	uint8_t *pkt;
	size_t len;
	uint16_t client_id, up_id;
	size_t ri, tried;
	/* the client: a UDP peer (through listener fd) or a TCP connection */
	int udp_fd;
	struct sockaddr_storage peer;
	socklen_t peerlen;
	struct tcp_conn *conn;
	struct fwd *next, *prev;
};

static void tcp_close(struct tcp_conn *c);
static void rwaits_drop_conn(struct dnsd *d, struct tcp_conn *c);
static void refresh(struct dnsd *d);

/* ------------------------------------------------------------- config */

static char *
lower_nodot(const char *s)
{
	char *l = xstrdup(s ? s : "");
	size_t n = strlen(l), i;

	if (n > 0 && l[n - 1] == '.')
		l[n - 1] = '\0';
	for (i = 0; l[i]; i++)
		l[i] = (char)tolower((unsigned char)l[i]);
	return l;
}

static int
parse_hostport(const char *s, int defport, struct sockaddr_storage *ss,
    socklen_t *len)
{
	char host[256], port[16];
	struct addrinfo hints, *ai = NULL;
	const char *colon = strrchr(s, ':');
	int rc;

	if (s[0] == '[') {
		const char *end = strchr(s, ']');

		if (end == NULL)
			return -EINVAL;
		snprintf(host, sizeof(host), "%.*s", (int)(end - s - 1), s + 1);
		snprintf(port, sizeof(port), "%s",
		    end[1] == ':' ? end + 2 : "");
	} else if (colon != NULL && strchr(s, ':') == colon) {
		snprintf(host, sizeof(host), "%.*s", (int)(colon - s), s);
		snprintf(port, sizeof(port), "%s", colon + 1);
	} else {
		snprintf(host, sizeof(host), "%s", s);
		port[0] = '\0';
	}
	if (port[0] == '\0')
		snprintf(port, sizeof(port), "%d", defport);
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_DGRAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	if ((rc = getaddrinfo(host, port, &hints, &ai)) != 0 || ai == NULL)
		return -EINVAL;
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = (socklen_t)ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

void
dnsd_configure(struct dnsd *d, const struct cairn_conf *c)
{
	struct resolver *r = &d->res;
	size_t i;

	d->conf = c;
	free(r->domain);
	free(r->alt_domain);
	free(r->dc);
	for (i = 0; i < r->nsvc_ttl; i++)
		free(r->svc_ttl[i].lname);
	free(r->svc_ttl);
	memset(r, 0, sizeof(*r));
	r->domain = lower_nodot(c->domain ? c->domain : "consul.");
	if (c->alt_domain && *c->alt_domain)
		r->alt_domain = lower_nodot(c->alt_domain);
	r->dc = lower_nodot(c->datacenter);
	r->node_ttl = (uint32_t)(c->dns_node_ttl_ms / 1000);
	r->svc_ttl = xcalloc(c->dns_service_ttl.n + 1, sizeof(*r->svc_ttl));
	for (i = 0; i < c->dns_service_ttl.n; i++) {
		uint64_t ms = 0;

		if (cfg_duration_parse(c->dns_service_ttl.vals[i], &ms) < 0)
			log_warnx("dns_config.service_ttl.%s: bad duration %s",
			    c->dns_service_ttl.keys[i],
			    c->dns_service_ttl.vals[i]);
		r->svc_ttl[r->nsvc_ttl].lname =
		    lower_nodot(c->dns_service_ttl.keys[i]);
		r->svc_ttl[r->nsvc_ttl++].ttl = (uint32_t)(ms / 1000);
	}
	r->only_passing = c->dns_only_passing;
	r->udp_answer_limit = (unsigned)c->dns_udp_answer_limit;
	r->a_record_limit = (unsigned)c->dns_a_record_limit;
	r->compress = !c->dns_disable_compression;
	r->node_meta_txt = true;
	/* recursors */
	free(d->rec);
	free(d->reclen);
	d->rec = xcalloc(c->recursors.n + 1, sizeof(*d->rec));
	d->reclen = xcalloc(c->recursors.n + 1, sizeof(*d->reclen));
	d->nrec = 0;
	for (i = 0; i < c->recursors.n; i++) {
		if (parse_hostport(c->recursors.v[i], 53, &d->rec[d->nrec],
		    &d->reclen[d->nrec]) < 0) {
			log_warnx("recursor %s: not an address[:port], ignored",
			    c->recursors.v[i]);
			continue;
		}
		d->nrec++;
	}
	r->ra = d->nrec > 0;
	d->gen++; /* answers depend on the settings: drop the cache */
}

/* -------------------------------------------------------------- cache */

static uint64_t
fnv(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint64_t h = 1469598103934665603ULL;

	while (n--) {
		h ^= *b++;
		h *= 1099511628211ULL;
	}
	return h;
}

static void
cache_clear(struct dnsd *d)
{
	size_t i, v;

	for (i = 0; i < DNSD_CACHE_SLOTS; i++) {
		struct centry *e = &d->cache[i];

		if (e->key == NULL)
			continue;
		free(e->key);
		for (v = 0; v < DNSD_CACHE_VARIANTS; v++)
			free(e->resp[v]);
		memset(e, 0, sizeof(*e));
	}
	d->cache_used = 0;
}

/* cache_slot - the entry for key (found, or a free slot to fill) */
static struct centry *
cache_slot(struct dnsd *d, const char *key, size_t keylen, uint64_t h)
{
	size_t i = (size_t)h & (DNSD_CACHE_SLOTS - 1);

	for (;;) {
		struct centry *e = &d->cache[i];

		if (e->key == NULL || (e->hash == h && e->keylen == keylen &&
		    memcmp(e->key, key, keylen) == 0))
			return e;
		i = (i + 1) & (DNSD_CACHE_SLOTS - 1);
	}
}

/* answer - the response to q into out (cap bytes): from the cache, or
 * resolved and cached.  Returns the length, or 0 when the name is for the
 * recursors. */
static size_t
answer(struct dnsd *d, const struct dns_query *q, size_t cap, uint8_t *out)
{
	char key[DNS_MAX_NAME + 16];
	size_t keylen = q->name_len, len = 0, v;
	struct centry *e;
	uint64_t h;

	memcpy(key, q->name, q->name_len);
	key[keylen++] = '\0';
	memcpy(key + keylen, &q->qtype, 2);
	keylen += 2;
	memcpy(key + keylen, &q->qclass, 2);
	keylen += 2;
	key[keylen++] = (char)(cap >> 8);
	key[keylen++] = (char)cap;
	key[keylen++] = (char)(q->edns | q->dnssec_ok << 1);
	h = fnv(key, keylen);
	if (d->cache_used >= DNSD_CACHE_SLOTS / 2)
		cache_clear(d);
	e = cache_slot(d, key, keylen, h);
	if (e->key != NULL && e->gen != d->gen) {
		for (v = 0; v < DNSD_CACHE_VARIANTS; v++) {
			free(e->resp[v]);
			e->resp[v] = NULL;
		}
		e->gen = d->gen;
	}
	v = e->key != NULL ? e->next++ % DNSD_CACHE_VARIANTS : 0;
	if (e->key != NULL && e->resp[v] != NULL) {
		(*d->c_hits)++;
		len = e->len[v];
		memcpy(out, e->resp[v], len);
	} else {
		if (resolve(&d->res, d->mirror, q, cap,
		    d->seed + v * 0x9e3779b97f4a7c15ULL + d->gen, out, &len) ==
		    RESOLVE_FORWARD)
			return 0;
		if (e->key == NULL) {
			e->key = xmalloc(keylen);
			memcpy(e->key, key, keylen);
			e->keylen = keylen;
			e->hash = h;
			e->gen = d->gen;
			e->next = 1;
			d->cache_used++;
		}
		if (d->mirror != NULL) { /* no caching of "not ready" */
			e->resp[v] = xmalloc(len);
			memcpy(e->resp[v], out, len);
			e->len[v] = (uint16_t)len;
		}
	}
	/* this query's id, RD bit and question (its letter case) */
	dns_patch_id(out, q->id);
	out[2] = (uint8_t)((out[2] & ~1) | (q->rd ? 1 : 0));
	if (q->question_len > 0 && DNS_HDR_LEN + q->question_len <= len)
		memcpy(out + DNS_HDR_LEN, q->question, q->question_len);
	return len;
}

/* ---------------------------------------------------------- recursors */

static void fwd_try(struct fwd *f);

static void
fwd_free(struct fwd *f)
{
	struct dnsd *d = f->d;

	ev_io_stop(d->loop, &f->w);
	ev_timer_stop(d->loop, &f->t);
	if (f->fd >= 0)
		close(f->fd);
	if (f->prev)
		f->prev->next = f->next;
	else
		d->fwds = f->next;
	if (f->next)
		f->next->prev = f->prev;
	d->nfwds--;
	if (f->conn != NULL)
		f->conn->pending--;
	free(f->pkt);
	free(f);
}

static void tcp_send(struct tcp_conn *c, const uint8_t *p, size_t n);

/* fwd_reply - p (with the client's id) to the client */
static void
fwd_reply(struct fwd *f, uint8_t *p, size_t n)
{
	dns_patch_id(p, f->client_id);
	if (f->conn != NULL)
		tcp_send(f->conn, p, n);
	else
		(void)sendto(f->udp_fd, p, n, MSG_DONTWAIT,
		    (struct sockaddr *)&f->peer, f->peerlen);
}

static void
fwd_fail(struct fwd *f)
{
	uint8_t hdr[DNS_HDR_LEN];
	struct dns_query q;
	uint8_t out[600];
	size_t n;

	/* SERVFAIL with the question echoed */
	if (dns_parse_query(f->pkt, f->len, &q) == 0) {
		n = resolve_error(&f->d->res, &q, DNS_R_SERVFAIL, out,
		    sizeof(out));
		fwd_reply(f, out, n);
	} else {
		memcpy(hdr, f->pkt, DNS_HDR_LEN);
		hdr[2] |= 0x80;
		hdr[3] = (uint8_t)((hdr[3] & 0xf0) | DNS_R_SERVFAIL);
		memset(hdr + 4, 0, 8);
		fwd_reply(f, hdr, sizeof(hdr));
	}
	(*f->d->c_errors)++;
	fwd_free(f);
}

static void
fwd_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct fwd *f = w->data;
	uint8_t buf[65536];
	ssize_t n;
	int rcode;

	(void)loop;
	(void)revents;
	n = recv(f->fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0 || dns_reply_check(buf, (size_t)n, f->up_id, &rcode) < 0) {
		if (n < 0) {
			/* ICMP refused: the next one */
			fwd_try(f);
		}
		return; /* not our answer: keep waiting */
	}
	if (rcode != DNS_R_NOERROR && rcode != DNS_R_NXDOMAIN) {
		fwd_try(f);
		return;
	}
	fwd_reply(f, buf, (size_t)n);
	fwd_free(f);
}

static void
fwd_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	fwd_try(w->data);
}

/* fwd_try - send to the next recursor; SERVFAIL when all were tried */
static void
fwd_try(struct fwd *f)
{
	struct dnsd *d = f->d;
	const struct sockaddr_storage *ss;

	ev_io_stop(d->loop, &f->w);
	ev_timer_stop(d->loop, &f->t);
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	if (f->tried >= d->nrec) {
		fwd_fail(f);
		return;
	}
	f->ri = f->tried++;
	ss = &d->rec[f->ri];
	f->fd = socket(ss->ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (f->fd < 0 || connect(f->fd, (const struct sockaddr *)ss,
	    d->reclen[f->ri]) < 0 || send(f->fd, f->pkt, f->len,
	    MSG_DONTWAIT) < 0) {
		log_debug("recursor %zu: %s", f->ri, strerror(errno));
		fwd_try(f);
		return;
	}
	ev_io_init(&f->w, fwd_read_cb, f->fd, EV_READ);
	f->w.data = f;
	ev_io_start(d->loop, &f->w);
	ev_timer_init(&f->t, fwd_timeout_cb,
	    (double)(d->conf->dns_recursor_timeout_ms
	    ? d->conf->dns_recursor_timeout_ms : 2000) / 1e3, 0.);
	f->t.data = f;
	ev_timer_start(d->loop, &f->t);
}

/* forward - a query outside the domain to the recursors (REFUSED when
 * there are none); the answer comes later */
static size_t
forward(struct dnsd *d, const struct dns_query *q, const uint8_t *pkt,
    size_t n, int udp_fd, const struct sockaddr_storage *peer,
    socklen_t peerlen, struct tcp_conn *conn, uint8_t *out, size_t cap)
{
	struct fwd *f;

	if (d->nrec == 0)
		return resolve_error(&d->res, q, DNS_R_REFUSED, out, cap);
	if (d->nfwds >= FWD_MAX)
		return resolve_error(&d->res, q, DNS_R_SERVFAIL, out, cap);
	(*d->c_forwarded)++;
	f = xcalloc(1, sizeof(*f));
	f->d = d;
	f->fd = -1;
	f->pkt = xmalloc(n);
	memcpy(f->pkt, pkt, n);
	f->len = n;
	f->client_id = q->id;
	if (RAND_bytes((unsigned char *)&f->up_id, sizeof(f->up_id)) != 1)
		f->up_id = (uint16_t)random();
	dns_patch_id(f->pkt, f->up_id);
	f->udp_fd = udp_fd;
	if (peer != NULL) {
		memcpy(&f->peer, peer, peerlen);
		f->peerlen = peerlen;
	}
	f->conn = conn;
	if (conn != NULL)
		conn->pending++;
	f->next = d->fwds;
	if (d->fwds)
		d->fwds->prev = f;
	d->fwds = f;
	d->nfwds++;
	ev_init(&f->w, fwd_read_cb);
	ev_init(&f->t, fwd_timeout_cb);
	fwd_try(f);
	return 0;
}

/* -------------------------------------------------- other datacenters */

/* a query waiting for another datacenter's catalog */
struct rwait {
	uint8_t *pkt;
	size_t len;
	int udp_fd;
	struct sockaddr_storage peer;
	socklen_t peerlen;
	struct tcp_conn *conn;
	struct rwait *next;
};

/* a "<name>.query." question waiting for raftd to execute the query */
struct pqwait {
	struct dnsd *d;
	struct rwait w;
	bool remote; /* asked through IPC_DC_FORWARD */
	struct pqwait *next, *prev;
};

static void
rwaits_drop_conn(struct dnsd *d, struct tcp_conn *c)
{
	struct pqwait *p;
	size_t i;

	for (p = d->pqws; p != NULL; p = p->next)
		if (p->w.conn == c) {
			p->w.conn = NULL;
			p->w.udp_fd = -1;
			c->pending--;
		}
	for (i = 0; i < d->nrdc; i++) {
		struct rwait *w;

		for (w = d->rdc[i].waiters; w != NULL; w = w->next)
			if (w->conn == c) {
				w->conn = NULL;
				w->udp_fd = -1; /* nobody to answer */
				c->pending--;
			}
	}
}

/* remote_resolve - q answered from r's catalog (NXDOMAIN with the SOA for
 * a datacenter nobody knows; SERVFAIL when it cannot be read) */
static size_t
remote_resolve(struct dnsd *d, struct rdc *r, const struct dns_query *q,
    size_t cap, uint8_t *out)
{
	static struct mirror *empty;
	struct resolver rr = d->res;
	struct ipc_catalog_reply none;
	size_t len = 0;

	if (r->m == NULL && !r->no_path)
		return resolve_error(&d->res, q, DNS_R_SERVFAIL, out, cap);
	if (empty == NULL) {
		memset(&none, 0, sizeof(none));
		empty = mirror_build(&none);
	}
	rr.dc = r->name;
	d->seed = d->seed * 6364136223846793005ULL + 1442695040888963407ULL;
	resolve(&rr, r->m != NULL ? r->m : empty, q, cap, d->seed, out, &len);
	return len;
}

/* rwait_query - w's question, if someone still waits for the answer;
 * *cap: the room the answer has */
static int
rwait_query(const struct rwait *w, struct dns_query *q, size_t *cap)
{
	size_t max = w->conn != NULL ? 65535 : DNSD_UDP_MAX;

	if ((w->conn == NULL && w->udp_fd < 0) ||
	    dns_parse_query(w->pkt, w->len, q) < 0)
		return -1;
	*cap = w->conn != NULL ? 65535 : q->edns ? q->udp_size : 512;
	if (*cap > max)
		*cap = max;
	if (*cap < 512)
		*cap = 512;
	return 0;
}

static void
rwait_send(const struct rwait *w, const uint8_t *out, size_t len)
{
	if (len == 0)
		return;
	if (w->conn != NULL)
		tcp_send(w->conn, out, len);
	else
		(void)sendto(w->udp_fd, out, len, MSG_DONTWAIT,
		    (const struct sockaddr *)&w->peer, w->peerlen);
}

static void
rwait_answer(struct dnsd *d, struct rdc *r, struct rwait *w)
{
	static uint8_t out[65535];
	struct dns_query q;
	size_t cap;

	if (rwait_query(w, &q, &cap) == 0)
		rwait_send(w, out, remote_resolve(d, r, &q, cap, out));
}

static void
rdc_done(int status, void *body, const char *errmsg, void *arg)
{
	struct rdc *r = arg;
	struct dnsd *d = r->d;
	struct ipc_dc_reply *w = body;
	struct ipc_catalog_reply rep;
	struct rwait *x, *next;

	r->fetching = false;
	memset(&rep, 0, sizeof(rep));
	if (status == 0 &&
	    cdc_decode(&ipc_catalog_reply_desc, w->body.p, w->body.n, &rep,
		NULL) < 0) {
		status = -EBADMSG;
		errmsg = "bad reply";
	}
	if (status < 0) {
		r->err = status;
		r->no_path = status == -EHOSTUNREACH && errmsg != NULL &&
			     strstr(errmsg, "No path") != NULL;
		r->err_at = mono_now();
		if (r->no_path) {
			mirror_free(r->m);
			r->m = NULL;
		}
		log_debug("datacenter %s: %s", r->name,
		    errmsg ? errmsg : strerror(-status));
		cdc_free(&ipc_catalog_reply_desc, &rep);
	} else {
		mirror_free(r->m);
		r->m = mirror_build(&rep);
		r->fetched = mono_now();
		r->err = 0;
		r->no_path = false;
	}
	for (x = r->waiters; x != NULL; x = next) {
		next = x->next;
		if (status != -ECANCELED) /* else dnsd is stopping */
			rwait_answer(d, r, x);
		if (x->conn != NULL)
			x->conn->pending--;
		free(x->pkt);
		free(x);
	}
	r->waiters = NULL;
	r->nwaiters = 0;
}

static void
rdc_fetch(struct dnsd *d, struct rdc *r)
{
	struct ipc_catalog_read cq;
	struct ipc_dc_req q;
	struct buf b = BUF_INIT;

	if (r->fetching)
		return;
	memset(&cq, 0, sizeof(cq));
	cq.what = "all";
	cq.mode = d->conf->dns_allow_stale ? RAFT_READ_STALE
					   : RAFT_READ_DEFAULT;
	cdc_encode(&b, &ipc_catalog_read_desc, &cq);
	memset(&q, 0, sizeof(q));
	q.dc = r->name;
	q.type = IPC_CATALOG_READ;
	q.body.p = b.data;
	q.body.n = b.len;
	r->fetching = true;
	if (ipc_call(d->raftd, IPC_DC_FORWARD, &q, 10000, rdc_done, r) < 0)
		r->fetching = false;
	buf_free(&b);
}

static struct rdc *
rdc_get(struct dnsd *d, const char *dc)
{
	struct rdc *r = NULL;
	size_t i;

	for (i = 0; i < d->nrdc; i++)
		if (strcmp(d->rdc[i].name, dc) == 0)
			return &d->rdc[i];
	if (d->nrdc < DNSD_RDC_MAX) {
		r = &d->rdc[d->nrdc++];
	} else {
		/* the least recently asked one that is not being read */
		for (i = 0; i < d->nrdc; i++)
			if (!d->rdc[i].fetching &&
			    (r == NULL || d->rdc[i].used < r->used))
				r = &d->rdc[i];
		if (r == NULL)
			return NULL;
		mirror_free(r->m);
	}
	memset(r, 0, sizeof(*r));
	r->d = d;
	snprintf(r->name, sizeof(r->name), "%s", dc);
	return r;
}

/* remote_query - a name of another datacenter: answered now from a fresh
 * copy of its catalog (or a stale one while it is read again), or once
 * the first read is back */
static size_t
remote_query(struct dnsd *d, const struct dns_query *q, const char *dc,
    const uint8_t *pkt, size_t n, int udp_fd,
    const struct sockaddr_storage *peer, socklen_t peerlen,
    struct tcp_conn *conn, uint8_t *out, size_t cap)
{
	struct rdc *r = rdc_get(d, dc);
	double now = mono_now();
	struct rwait *w;

	if (r == NULL)
		return resolve_error(&d->res, q, DNS_R_SERVFAIL, out, cap);
	r->used = now;
	if (r->err != 0 && now - r->err_at < DNSD_RDC_FRESH_S)
		return remote_resolve(d, r, q, cap, out);
	if (r->m != NULL) {
		if (now - r->fetched >= DNSD_RDC_FRESH_S)
			rdc_fetch(d, r);
		return remote_resolve(d, r, q, cap, out);
	}
	if (r->nwaiters >= DNSD_RDC_WAITERS)
		return resolve_error(&d->res, q, DNS_R_SERVFAIL, out, cap);
	w = xcalloc(1, sizeof(*w));
	w->pkt = xmalloc(n);
	memcpy(w->pkt, pkt, n);
	w->len = n;
	w->udp_fd = udp_fd;
	if (peer != NULL) {
		memcpy(&w->peer, peer, peerlen);
		w->peerlen = peerlen;
	}
	w->conn = conn;
	if (conn != NULL)
		conn->pending++;
	w->next = r->waiters;
	r->waiters = w;
	r->nwaiters++;
	rdc_fetch(d, r);
	return 0;
}

/* --------------------------------------------------- prepared queries */

#define PQ_WAIT_MAX 1024


static void
pqw_free(struct pqwait *p)
{
	struct dnsd *d = p->d;

	if (p->prev)
		p->prev->next = p->next;
	else
		d->pqws = p->next;
	if (p->next)
		p->next->prev = p->prev;
	d->npqws--;
	if (p->w.conn != NULL)
		p->w.conn->pending--;
	free(p->w.pkt);
	free(p);
}

static void
pq_done(int status, void *body, const char *errmsg, void *arg)
{
	struct pqwait *p = arg;
	struct dnsd *d = p->d;
	static uint8_t out[65535];
	struct ipc_query_result res, *r = body;
	struct ipc_dc_reply *w = body;
	struct resolver rr = d->res;
	struct ipc_catalog_reply none;
	struct mirror *m = NULL;
	struct dns_query q;
	uint64_t ttl_ms = 0;
	size_t cap, len = 0;
	bool has_ttl = false;

	memset(&res, 0, sizeof(res));
	if (status == 0 && p->remote) {
		if (cdc_decode(&ipc_query_result_desc, w->body.p, w->body.n,
			&res, NULL) < 0)
			status = -EBADMSG;
		r = &res;
	}
	if (status == -ECANCELED || /* dnsd is stopping */
	    rwait_query(&p->w, &q, &cap) < 0)
		goto out;
	if (status == 0) {
		m = mirror_build(&r->catalog);
		if (r->datacenter != NULL && *r->datacenter != '\0')
			rr.dc = r->datacenter;
		if (r->query.dns_ttl != NULL && *r->query.dns_ttl != '\0' &&
		    cfg_duration_parse(r->query.dns_ttl, &ttl_ms) == 0)
			has_ttl = true;
		resolve_query(&rr, m, &q, r->query.service ? r->query.service
							  : "",
		    has_ttl, (uint32_t)(ttl_ms / 1000), cap, d->seed++, out,
		    &len);
	} else if (status == -ENOENT ||
		   (status == -EHOSTUNREACH && errmsg != NULL &&
		       strstr(errmsg, "No path") != NULL)) {
		/* no such query (or datacenter): NXDOMAIN with the SOA */
		memset(&none, 0, sizeof(none));
		m = mirror_build(&none);
		resolve_query(&rr, m, &q, "", false, 0, cap, 0, out, &len);
	} else {
		log_debug("prepared query: %s", errmsg ? errmsg : "error");
		len = resolve_error(&d->res, &q, DNS_R_SERVFAIL, out, cap);
	}
	rwait_send(&p->w, out, len);
out:
	mirror_free(m);
	cdc_free(&ipc_query_result_desc, &res);
	pqw_free(p);
}

/* pq_query - "<name>.query[.<dc>]": raftd executes the query (in dc, if
 * given), the answer comes when it does */
static size_t
pq_query(struct dnsd *d, const struct dns_query *q, const char *name,
    const char *dc, const uint8_t *pkt, size_t n, int udp_fd,
    const struct sockaddr_storage *peer, socklen_t peerlen,
    struct tcp_conn *conn, uint8_t *out, size_t cap)
{
	struct ipc_query_exec xq;
	struct pqwait *p;
	int r;

	if (d->npqws >= PQ_WAIT_MAX)
		return resolve_error(&d->res, q, DNS_R_SERVFAIL, out, cap);
	p = xcalloc(1, sizeof(*p));
	p->d = d;
	p->w.pkt = xmalloc(n);
	memcpy(p->w.pkt, pkt, n);
	p->w.len = n;
	p->w.udp_fd = udp_fd;
	if (peer != NULL) {
		memcpy(&p->w.peer, peer, peerlen);
		p->w.peerlen = peerlen;
	}
	p->w.conn = conn;
	if (conn != NULL)
		conn->pending++;
	p->next = d->pqws;
	if (d->pqws)
		d->pqws->prev = p;
	d->pqws = p;
	d->npqws++;
	memset(&xq, 0, sizeof(xq));
	xq.name = (char *)name;
	xq.mode = d->conf->dns_allow_stale ? RAFT_READ_STALE
					   : RAFT_READ_DEFAULT;
	if (*dc == '\0') {
		r = ipc_call(d->raftd, IPC_QUERY_EXECUTE, &xq, 10000, pq_done,
		    p);
	} else {
		struct ipc_dc_req fq;
		struct buf b = BUF_INIT;

		cdc_encode(&b, &ipc_query_exec_desc, &xq);
		memset(&fq, 0, sizeof(fq));
		fq.dc = (char *)dc;
		fq.type = IPC_QUERY_EXECUTE;
		fq.body.p = b.data;
		fq.body.n = b.len;
		p->remote = true;
		r = ipc_call(d->raftd, IPC_DC_FORWARD, &fq, 20000, pq_done, p);
		buf_free(&b);
	}
	if (r < 0) {
		pqw_free(p);
		return resolve_error(&d->res, q, DNS_R_SERVFAIL, out, cap);
	}
	return 0;
}

/* ------------------------------------------------------------ queries */

/* handle - one request packet; the response length (0: none now) */
static size_t
handle(struct dnsd *d, const uint8_t *pkt, size_t n, bool tcp, int udp_fd,
    const struct sockaddr_storage *peer, socklen_t peerlen,
    struct tcp_conn *conn, uint8_t *out, size_t outcap)
{
	struct dns_query q;
	size_t cap, len;
	char dc[64], qname[DNS_MAX_NAME + 1];
	int rc;

	(*d->c_queries)++;
	rc = dns_parse_query(pkt, n, &q);
	if (rc == -EBADMSG)
		return 0;
	cap = tcp ? 65535 : q.edns ? q.udp_size : 512;
	if (cap > outcap)
		cap = outcap;
	if (cap < 512)
		cap = 512;
	if (rc == -EPROTO) {
		(*d->c_errors)++;
		return resolve_error(&d->res, &q, DNS_R_FORMERR, out, cap);
	}
	if (rc == -EOPNOTSUPP) {
		(*d->c_errors)++;
		return resolve_error(&d->res, &q, DNS_R_NOTIMP, out, cap);
	}
	if (rc < 0)
		return 0;
	if (resolve_query_name(&d->res, &q, qname, sizeof(qname), dc,
		sizeof(dc)))
		return pq_query(d, &q, qname, dc, pkt, n, udp_fd, peer, peerlen,
		    conn, out, cap);
	if (resolve_other_dc(&d->res, &q, dc, sizeof(dc)))
		return remote_query(d, &q, dc, pkt, n, udp_fd, peer, peerlen,
		    conn, out, cap);
	if ((len = answer(d, &q, cap, out)) > 0)
		return len;
	return forward(d, &q, pkt, n, udp_fd, peer, peerlen, conn, out, cap);
}

/* ---------------------------------------------------------------- UDP */

static uint8_t udp_rx[DNSD_UDP_BATCH][DNSD_UDP_MAX];
static uint8_t udp_tx[DNSD_UDP_BATCH][DNSD_UDP_MAX];

static void
udp_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct udp_listener *l = w->data;
	struct dnsd *d = l->d;
	struct mmsghdr in[DNSD_UDP_BATCH], out[DNSD_UDP_BATCH];
	struct iovec iin[DNSD_UDP_BATCH], iout[DNSD_UDP_BATCH];
	struct sockaddr_storage peers[DNSD_UDP_BATCH];
	int round, i, n;

	(void)loop;
	(void)revents;
	for (round = 0; round < 16; round++) {
		unsigned nout = 0;

		memset(in, 0, sizeof(in));
		for (i = 0; i < DNSD_UDP_BATCH; i++) {
			iin[i].iov_base = udp_rx[i];
			iin[i].iov_len = sizeof(udp_rx[i]);
			in[i].msg_hdr.msg_iov = &iin[i];
			in[i].msg_hdr.msg_iovlen = 1;
			in[i].msg_hdr.msg_name = &peers[i];
			in[i].msg_hdr.msg_namelen = sizeof(peers[i]);
		}
		n = recvmmsg(l->fd, in, DNSD_UDP_BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			break;
		for (i = 0; i < n; i++) {
			size_t len = handle(d, udp_rx[i], in[i].msg_len, false,
			    l->fd, &peers[i], in[i].msg_hdr.msg_namelen, NULL,
			    udp_tx[nout], DNSD_UDP_MAX);

			if (len == 0)
				continue;
			memset(&out[nout], 0, sizeof(out[nout]));
			iout[nout].iov_base = udp_tx[nout];
			iout[nout].iov_len = len;
			out[nout].msg_hdr.msg_iov = &iout[nout];
			out[nout].msg_hdr.msg_iovlen = 1;
			out[nout].msg_hdr.msg_name = &peers[i];
			out[nout].msg_hdr.msg_namelen =
			    in[i].msg_hdr.msg_namelen;
			nout++;
		}
		if (nout > 0)
			(void)sendmmsg(l->fd, out, nout, MSG_DONTWAIT);
		if (n < DNSD_UDP_BATCH)
			break;
	}
}

/* ---------------------------------------------------------------- TCP */

static void
tcp_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct tcp_conn *c = w->data;
	ssize_t n;

	(void)revents;
	while (c->woff < c->wlen) {
		n = write(c->fd, c->wbuf + c->woff, c->wlen - c->woff);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			tcp_close(c);
			return;
		}
		c->woff += (size_t)n;
	}
	c->woff = c->wlen = 0;
	ev_io_stop(loop, &c->ww);
	if (c->closing && c->pending == 0)
		tcp_close(c);
}

static void
tcp_send(struct tcp_conn *c, const uint8_t *p, size_t n)
{
	if (c->wlen + n + 2 > c->wcap) {
		c->wcap = (c->wlen + n + 2) * 2;
		c->wbuf = xreallocarray(c->wbuf, c->wcap, 1);
	}
	c->wbuf[c->wlen++] = (uint8_t)(n >> 8);
	c->wbuf[c->wlen++] = (uint8_t)n;
	memcpy(c->wbuf + c->wlen, p, n);
	c->wlen += n;
	ev_io_start(c->d->loop, &c->ww);
}

static void
tcp_close(struct tcp_conn *c)
{
	struct dnsd *d = c->d;
	struct fwd *f, *next;

	for (f = d->fwds; f != NULL; f = next) {
		next = f->next;
		if (f->conn == c) {
			f->conn = NULL;
			c->pending--;
			fwd_free(f); /* nobody to answer */
		}
	}
	rwaits_drop_conn(d, c);
	ev_io_stop(d->loop, &c->rw);
	ev_io_stop(d->loop, &c->ww);
	ev_timer_stop(d->loop, &c->idle);
	close(c->fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		d->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	d->nconns--;
	free(c->rbuf);
	free(c->wbuf);
	free(c);
}

static void
tcp_idle_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	tcp_close(w->data);
}

static void
tcp_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct tcp_conn *c = w->data;
	struct dnsd *d = c->d;
	static uint8_t out[65535];
	ssize_t n;

	(void)revents;
	n = read(c->fd, c->rbuf + c->rlen, 2 + 65535 - c->rlen);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		/* the client is done: answer what is pending, then close */
		ev_io_stop(loop, &c->rw);
		c->closing = true;
		if (c->wlen == 0 && c->pending == 0)
			tcp_close(c);
		return;
	}
	c->rlen += (size_t)n;
	ev_timer_again(loop, &c->idle);
	for (;;) {
		size_t mlen, len;

		if (c->rlen < 2)
			break;
		mlen = (size_t)c->rbuf[0] << 8 | c->rbuf[1];
		if (c->rlen < 2 + mlen)
			break;
		len = handle(d, c->rbuf + 2, mlen, true, -1, NULL, 0, c, out,
		    sizeof(out));
		if (len > 0)
			tcp_send(c, out, len);
		memmove(c->rbuf, c->rbuf + 2 + mlen, c->rlen - 2 - mlen);
		c->rlen -= 2 + mlen;
	}
}

static void
tcp_accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct dnsd *d = w->data;
	struct tcp_conn *c;
	int fd;

	(void)revents;
	while ((fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >=
	    0) {
		if (d->nconns >= TCP_MAX_CONNS) {
			close(fd);
			continue;
		}
		c = xcalloc(1, sizeof(*c));
		c->d = d;
		c->fd = fd;
		c->rbuf = xmalloc(2 + 65535);
		ev_io_init(&c->rw, tcp_read_cb, fd, EV_READ);
		ev_io_init(&c->ww, tcp_write_cb, fd, EV_WRITE);
		ev_init(&c->idle, tcp_idle_cb);
		c->idle.repeat = TCP_IDLE_S;
		c->rw.data = c->ww.data = c->idle.data = c;
		ev_io_start(loop, &c->rw);
		ev_timer_again(loop, &c->idle);
		c->next = d->conns;
		if (d->conns)
			d->conns->prev = c;
		d->conns = c;
		d->nconns++;
	}
}

/* ------------------------------------------------------- catalog mirror */

static void
refresh_done(int status, void *body, const char *errmsg, void *arg)
{
	struct dnsd *d = arg;
	struct ipc_catalog_reply *rep = body;
	struct mirror *m;

	d->reading = false;
	if (status < 0) {
		if (d->mirror == NULL || d->dirty)
			log_debug("catalog read: %s", errmsg ? errmsg : "error");
		/* keep answering from the copy we have (allow_stale) */
		ev_timer_stop(d->loop, &d->refresh_w);
		ev_timer_set(&d->refresh_w, RETRY_S, 0.);
		ev_timer_start(d->loop, &d->refresh_w);
		d->dirty = true;
		return;
	}
	(*d->c_refreshes)++;
	/* max_stale: a server that has not heard from the leader for longer
	 * is asked again in the default mode (the leader answers) */
	if (d->stale_read && rep->last_contact_ms > d->conf->dns_max_stale_ms &&
	    !d->force_leader) {
		d->force_leader = true;
		refresh(d);
		return;
	}
	d->force_leader = false;
	m = mirror_build(rep);
	if (d->mirror == NULL)
		log_info("catalog: %zu nodes, %zu service instances (index %llu)",
		    m->nnodes, m->ninsts, (unsigned long long)m->index);
	mirror_free(d->mirror);
	d->mirror = m;
	d->gen++;
	ev_timer_stop(d->loop, &d->refresh_w);
	ev_timer_set(&d->refresh_w, REFRESH_PERIOD_S, 0.);
	ev_timer_start(d->loop, &d->refresh_w);
	if (d->dirty)
		refresh(d);
}

/* refresh - read the whole catalog again; with one read in flight, once
 * more after it */
static void
refresh(struct dnsd *d)
{
	struct ipc_catalog_read q;

	if (d->reading) {
		d->dirty = true;
		return;
	}
	d->dirty = false;
	memset(&q, 0, sizeof(q));
	q.what = "all";
	d->stale_read = d->conf->dns_allow_stale && !d->force_leader;
	q.mode = d->stale_read ? RAFT_READ_STALE : RAFT_READ_DEFAULT;
	d->reading = true;
	if (ipc_call(d->raftd, IPC_CATALOG_READ, &q, 5000, refresh_done, d) <
	    0) {
		d->reading = false;
		d->dirty = true;
	}
}

static void
refresh_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	refresh(w->data);
}

static void
on_change(uint16_t type, void *body, void *arg)
{
	struct dnsd *d = arg;
	struct ipc_change *ch = body;

	if (type != IPC_EV_CHANGE || ch->table == NULL)
		return;
	if (strcmp(ch->table, "nodes") == 0 ||
	    strcmp(ch->table, "services") == 0 ||
	    strcmp(ch->table, "checks") == 0)
		refresh(d);
}

/* ------------------------------------------------------------- setup */

static int
listen_on(struct dnsd *d, const char *addr, int port, struct errbuf *eb)
{
	struct addrinfo hints, *ai = NULL, *p;
	char portstr[16];
	int rc, one = 1;

	snprintf(portstr, sizeof(portstr), "%d", port);
	memset(&hints, 0, sizeof(hints));
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	hints.ai_socktype = SOCK_DGRAM;
	if ((rc = getaddrinfo(addr, portstr, &hints, &ai)) != 0)
		return errbuf_set(eb, -EINVAL, "dns address %s: %s", addr,
		    gai_strerror(rc));
	for (p = ai; p != NULL && d->nudp < 2; p = p->ai_next) {
		int u, t;

		u = socket(p->ai_family, SOCK_DGRAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
		t = socket(p->ai_family, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
		if (u < 0 || t < 0) {
			rc = -errno;
			goto fail;
		}
		(void)setsockopt(t, SOL_SOCKET, SO_REUSEADDR, &one,
		    sizeof(one));
		if (p->ai_family == AF_INET6)
			(void)setsockopt(u, IPPROTO_IPV6, IPV6_V6ONLY, &one,
			    sizeof(one));
		if (bind(u, p->ai_addr, p->ai_addrlen) < 0 ||
		    bind(t, p->ai_addr, p->ai_addrlen) < 0 ||
		    listen(t, 256) < 0) {
			rc = -errno;
			close(u);
			close(t);
			freeaddrinfo(ai);
			return errbuf_set(eb, rc, "dns %s:%d: %s", addr, port,
			    strerror(-rc));
		}
		{
			int sz = 4 * 1024 * 1024;

			(void)setsockopt(u, SOL_SOCKET, SO_RCVBUF, &sz,
			    sizeof(sz));
			(void)setsockopt(u, SOL_SOCKET, SO_SNDBUF, &sz,
			    sizeof(sz));
		}
		d->udp[d->nudp].fd = u;
		d->udp[d->nudp].d = d;
		ev_io_init(&d->udp[d->nudp].w, udp_cb, u, EV_READ);
		d->udp[d->nudp].w.data = &d->udp[d->nudp];
		ev_io_start(d->loop, &d->udp[d->nudp].w);
		d->nudp++;
		d->tcp_fd[d->ntcp] = t;
		ev_io_init(&d->tcp_w[d->ntcp], tcp_accept_cb, t, EV_READ);
		d->tcp_w[d->ntcp].data = d;
		ev_io_start(d->loop, &d->tcp_w[d->ntcp]);
		d->ntcp++;
		continue;
fail:
		if (u >= 0)
			close(u);
		if (t >= 0)
			close(t);
		freeaddrinfo(ai);
		return errbuf_set(eb, rc, "dns socket: %s", strerror(-rc));
	}
	freeaddrinfo(ai);
	return 0;
}

int
dnsd_start(struct dnsd *d, struct ev_loop *loop, const struct cairn_conf *conf,
    struct errbuf *eb)
{
	char path[512];
	const char *addr;
	int rc;

	d->loop = loop;
	d->cache = xcalloc(DNSD_CACHE_SLOTS, sizeof(*d->cache));
	if (RAND_bytes((unsigned char *)&d->seed, sizeof(d->seed)) != 1)
		d->seed = (uint64_t)time(NULL) ^ (uint64_t)getpid();
	dnsd_configure(d, conf);
	if (ipc_socket_path(path, sizeof(path), conf->run_dir, "raftd") < 0)
		return errbuf_set(eb, -ENAMETOOLONG, "run_dir too long");
	if ((rc = ipc_client_open(loop, path, &d->raftd, eb)) < 0)
		return rc;
	snprintf(path, sizeof(path), "%s/raftd.events", conf->run_dir);
	if ((rc = ipc_sub_open(loop, path, on_change, d, &d->events, eb)) < 0)
		return rc;
	ev_timer_init(&d->refresh_w, refresh_cb, 0., 0.);
	d->refresh_w.data = d;
	if (conf->port_dns < 0) {
		log_info("DNS disabled (ports.dns = -1)");
		return 0;
	}
	addr = conf->addr_dns && *conf->addr_dns ? conf->addr_dns
						 : conf->client_addr;
	if ((rc = listen_on(d, addr, (int)conf->port_dns, eb)) < 0)
		return rc;
	log_info("DNS on %s:%lld (UDP and TCP), domain %s%s%s, %zu recursors",
	    addr, (long long)conf->port_dns, d->res.domain,
	    d->res.alt_domain ? " and " : "",
	    d->res.alt_domain ? d->res.alt_domain : "", d->nrec);
	refresh(d);
	return 0;
}

void
dnsd_stop(struct dnsd *d)
{
	size_t i;

	while (d->fwds != NULL)
		fwd_free(d->fwds);
	while (d->conns != NULL)
		tcp_close(d->conns);
	for (i = 0; i < d->nudp; i++) {
		ev_io_stop(d->loop, &d->udp[i].w);
		close(d->udp[i].fd);
	}
	for (i = 0; i < d->ntcp; i++) {
		ev_io_stop(d->loop, &d->tcp_w[i]);
		close(d->tcp_fd[i]);
	}
	d->nudp = d->ntcp = 0;
	ev_timer_stop(d->loop, &d->refresh_w);
	ipc_sub_close(d->events);
	ipc_client_close(d->raftd);
	d->events = NULL;
	d->raftd = NULL;
	for (i = 0; i < d->nrdc; i++) {
		struct rwait *w, *next;

		for (w = d->rdc[i].waiters; w != NULL; w = next) {
			next = w->next;
			free(w->pkt);
			free(w);
		}
		mirror_free(d->rdc[i].m);
	}
	d->nrdc = 0;
	if (d->cache != NULL)
		cache_clear(d);
	free(d->cache);
	d->cache = NULL;
	mirror_free(d->mirror);
	d->mirror = NULL;
	free(d->rec);
	free(d->reclen);
	free(d->res.domain);
	free(d->res.alt_domain);
	free(d->res.dc);
	for (i = 0; i < d->res.nsvc_ttl; i++)
		free(d->res.svc_ttl[i].lname);
	free(d->res.svc_ttl);
	memset(&d->res, 0, sizeof(d->res));
}
