/* ipc.c - nanomsg raw REQ/REP sockets on libev, framed by ipc_msg.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <nanomsg/nn.h>
#include <nanomsg/pubsub.h>
#include <nanomsg/reqrep.h>

#include "clock.h"
#include "buf.h"
#include "ipc.h"
#include "log.h"
#include "xmalloc.h"

#define IPC_DRAIN_MAX 256 /* messages handled per wake-up */
#define IPC_BUCKETS 256

struct handler {
	uint16_t type;
	ipc_handler_fn fn;
	void *arg;
};

struct ipc_server {
	struct ev_loop *loop;
	int sock;
	int rcvfd;
	ev_io rcv_w;
	char *path;
	struct handler *handlers;
	size_t nhandlers;
	struct ipc_req *open; /* requests not answered yet */
	struct ipc_server_stats st;
};

struct pending {
	uint32_t reqid;
	uint16_t type;
	int status; /* result to report if it expires (-ETIMEDOUT/-EAGAIN) */
	char *errmsg;
	ev_tstamp deadline;
	/* the framed request: kept while it is not sent yet (the server is
	 * not connected; retried until connected or IPC_CONNECT_WAIT_S
	 * passes), and after that if the server may be asked again
	 * (ipc_type_repeatable) when it lost the request */
	struct buf frame;
	bool queued;	    /* not sent yet */
	ev_tstamp sent_at;  /* when it last went out (0: never) */
	ev_tstamp final_deadline;
	ipc_reply_fn cb;
	void *arg;
	struct pending *hnext;		  /* hash chain */
	struct pending *dnext, *dprev;	  /* deadline order */
};

struct ipc_client {
	struct ev_loop *loop;
	int sock;
	int rcvfd;
	ev_io rcv_w;
	ev_timer tmo_w;
	char *path;
	uint32_t next_id;
	unsigned npending;
	struct pending *buckets[IPC_BUCKETS];
	struct pending *dhead, *dtail;
	unsigned nunsent;
	int in_cb;
	int closing;
	ev_timer probe_w; /* asks the server about old requests */
	int probing;	  /* an IPC_PROBE is out */
};

/* a probe in flight: the requests it asked about, sent before `at` */
struct probe {
	struct ipc_client *c;
	ev_tstamp at;
	size_t n;
	uint32_t ids[];
};

static void probe_cb(struct ev_loop *loop, ev_timer *w, int revents);

/* a daemon (re)started a moment ago may not be connected yet: requests
 * wait this long for the connection before failing with -EAGAIN */
#define IPC_CONNECT_WAIT_S 2.0
#define IPC_RESEND_S 0.02
/* a request unanswered this long makes the client ask the server whether
 * it still holds it (at most one probe out at a time) */
#define IPC_PROBE_S 1.0
#define IPC_PROBE_TIMEOUT_MS 2000

int
ipc_socket_path(char *out, size_t outlen, const char *run_dir,
    const char *daemon)
{
	int n = snprintf(out, outlen, "%s/%s.rpc", run_dir, daemon);

	if (n < 0 || (size_t)n >= outlen)
		return -ENAMETOOLONG;
	return 0;
}

static int
make_url(char *url, size_t len, const char *path, struct errbuf *eb)
{
	struct sockaddr_un sun;
	int n;

	if (strlen(path) >= sizeof(sun.sun_path))
		return errbuf_set(eb, -ENAMETOOLONG,
		    "%s: socket path longer than %zu bytes", path,
		    sizeof(sun.sun_path) - 1);
	n = snprintf(url, len, "ipc://%s", path);
	if (n < 0 || (size_t)n >= len)
		return errbuf_set(eb, -ENAMETOOLONG, "%s: path too long", path);
	return 0;
}

static int
nn_err(struct errbuf *eb, const char *what, const char *path)
{
	int e = nn_errno();

	return errbuf_set(eb, -e, "%s %s: %s", what, path, nn_strerror(e));
}

static void
set_sockopts(int s)
{
	int maxsz = (int)(IPC_MAX_BODY + IPC_HDR_LEN);
	int bufsz = 1024 * 1024;

	nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVMAXSIZE, &maxsz, sizeof(maxsz));
	nn_setsockopt(s, NN_SOL_SOCKET, NN_SNDBUF, &bufsz, sizeof(bufsz));
	nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVBUF, &bufsz, sizeof(bufsz));
}

/* encode header + body into b */
static int
frame(struct buf *b, const struct ipc_hdr *h0, const struct cdc_msg_desc *d,
    const void *body)
{
	struct ipc_hdr h = *h0;
	size_t blen;

	buf_reset(b);
	buf_reserve(b, IPC_HDR_LEN);
	b->len = IPC_HDR_LEN;
	if (d != NULL && body != NULL)
		cdc_encode(b, d, body);
	blen = b->len - IPC_HDR_LEN;
	if (blen > IPC_MAX_BODY)
		return -EMSGSIZE;
	h.magic = IPC_MAGIC;
	h.version = IPC_VERSION;
	h.len = (uint32_t)blen;
	ipc_hdr_encode(b->data, &h);
	return 0;
}

/* recv_one - one message and its routing header, both NN_MSG chunks the
 * caller frees with nn_freemsg.  Non-blocking: < 0 when nothing is there. */
static int
recv_one(int sock, void **msg, void **control)
{
	struct nn_msghdr mh;
	struct nn_iovec iov;

	iov.iov_base = msg;
	iov.iov_len = NN_MSG;
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = control;
	mh.msg_controllen = NN_MSG;
	return nn_recvmsg(sock, &mh, NN_DONTWAIT);
}

/* ---------------------------------------------------------------- server */

static void req_free(struct ipc_req *req);

static int
socket_is_live(const char *path)
{
	struct sockaddr_un sun;
	int fd, r;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	r = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	close(fd);
	return r == 0;
}

/* claim_path - the url for binding at path, after making sure no live
 * process holds it (a stale socket file left by a crash is removed). */
static int
claim_path(char *url, size_t len, const char *path, const char *what,
    struct errbuf *eb)
{
	int r;

	if ((r = make_url(url, len, path, eb)) < 0)
		return r;
	if (access(path, F_OK) == 0) {
		if (socket_is_live(path))
			return errbuf_set(eb, -EADDRINUSE,
			    "%s: another process is already %s there", path,
			    what);
		unlink(path);
	}
	return 0;
}

static const struct handler *
find_handler(const struct ipc_server *srv, uint16_t type)
{
	size_t i;

	for (i = 0; i < srv->nhandlers; i++)
		if (srv->handlers[i].type == type)
			return &srv->handlers[i];
	return NULL;
}

static int
server_send(struct ipc_req *req, int status, const struct cdc_msg_desc *d,
    const void *body)
{
	struct ipc_server *srv = req->srv;
	struct nn_msghdr mh;
	struct nn_iovec iov;
	struct ipc_hdr h;
	struct buf b = BUF_INIT;
	void *control = req->control;
	int r;

	memset(&h, 0, sizeof(h));
	h.flags = IPC_F_REPLY;
	h.type = req->hdr.type;
	h.status = (int16_t)status;
	h.reqid = req->hdr.reqid;
	if (frame(&b, &h, d, body) < 0) {
		/* reply too large: tell the requester that instead */
		struct ipc_error e = {(char *)"reply too large"};

		h.status = -EMSGSIZE;
		frame(&b, &h, &ipc_error_desc, &e);
	}
	iov.iov_base = b.data;
	iov.iov_len = b.len;
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = &control;
	mh.msg_controllen = NN_MSG;
	r = nn_sendmsg(srv->sock, &mh, NN_DONTWAIT);
	buf_free(&b);
	if (r < 0) {
		r = -nn_errno();
		log_debug("ipc: reply to request %u dropped: %s",
		    req->hdr.reqid, nn_strerror(-r));
		return r; /* control still ours; req_free releases it */
	}
	req->control = NULL; /* consumed by nanomsg */
	srv->st.replies++;
	return 0;
}

int
ipc_reply(struct ipc_req *req, const void *body)
{
	int r = server_send(req, 0, req->ti->rep, body);

	req_free(req);
	return r;
}

int
ipc_reply_error(struct ipc_req *req, int status, const char *fmt, ...)
{
	struct ipc_error e;
	char msg[512];
	va_list ap;
	int r;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	e.message = msg;
	if (status >= 0)
		status = -EIO;
	r = server_send(req, status, &ipc_error_desc, &e);
	req_free(req);
	return r;
}

static void
req_free(struct ipc_req *req)
{
	struct ipc_server *srv = req->srv;

	if (srv != NULL) {
		if (req->prev)
			req->prev->next = req->next;
		else
			srv->open = req->next;
		if (req->next)
			req->next->prev = req->prev;
		srv->st.pending--;
	}
	if (req->control != NULL)
		nn_freemsg(req->control);
	if (req->ti != NULL && req->body != NULL)
		cdc_free(req->ti->req, req->body);
	free(req->body);
	free(req);
}

/* server_probe - answer IPC_PROBE: which of the asked request ids this
 * server holds open (a client's way to learn that a request was lost with
 * a server that restarted) */
static void
server_probe(struct ipc_server *srv, struct ipc_req *req, const uint8_t *p)
{
	struct ipc_probe q, rep;
	struct errbuf eb;
	struct buf out = BUF_INIT;
	const struct ipc_req *o;
	uint32_t *open;
	size_t n = 0;

	memset(&q, 0, sizeof(q));
	if (cdc_decode(&ipc_probe_desc, p, req->hdr.len, &q, &eb) < 0) {
		srv->st.bad++;
		ipc_reply_error(req, -EBADMSG, "IPC_PROBE: %s", eb.msg);
		return;
	}
	open = xreallocarray(NULL, srv->st.pending + 1, sizeof(*open));
	for (o = srv->open; o != NULL; o = o->next)
		if (o != req && n < srv->st.pending)
			open[n++] = o->hdr.reqid;
	ipc_probe_select(&q.ids, open, n, &out);
	free(open);
	rep.ids.p = out.data;
	rep.ids.n = out.len;
	ipc_reply(req, &rep);
	buf_free(&out);
	cdc_free(&ipc_probe_desc, &q);
}

static void
server_handle(struct ipc_server *srv, void *msg, int len, void *control)
{
	const struct handler *h;
	struct ipc_req *req;
	struct errbuf eb;
	int r;

	req = xcalloc(1, sizeof(*req));
	req->srv = srv;
	req->control = control;
	req->next = srv->open;
	if (srv->open)
		srv->open->prev = req;
	srv->open = req;
	srv->st.pending++;

	r = ipc_hdr_decode(msg, (size_t)len, &req->hdr, &eb);
	if (r < 0 || (req->hdr.flags & IPC_F_REPLY)) {
		/* nothing trustworthy to answer to */
		srv->st.bad++;
		log_warnx("ipc %s: dropped malformed request: %s", srv->path,
		    r < 0 ? eb.msg : "reply flag set on a request");
		req_free(req);
		return;
	}
	srv->st.requests++;
	req->ti = ipc_type_lookup(req->hdr.type);
	h = find_handler(srv, req->hdr.type);
	if (req->hdr.type == IPC_PROBE) {
		server_probe(srv, req, (uint8_t *)msg + IPC_HDR_LEN);
		return;
	}
	if (req->ti == NULL || h == NULL) {
		srv->st.bad++;
		ipc_reply_error(req, -ENOTSUP,
		    "unknown or unsupported message type 0x%04x",
		    req->hdr.type);
		return;
	}
	req->body = calloc(1, req->ti->req->size);
	if (req->body == NULL) {
		ipc_reply_error(req, -ENOMEM, "out of memory");
		return;
	}
	r = cdc_decode(req->ti->req, (uint8_t *)msg + IPC_HDR_LEN,
	    req->hdr.len, req->body, &eb);
	if (r < 0) {
		srv->st.bad++;
		ipc_reply_error(req, -EBADMSG, "%s: %s", req->ti->name,
		    eb.msg);
		return;
	}
	h->fn(req, h->arg);
}

static void
server_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct ipc_server *srv = w->data;
	int i;

	(void)loop;
	(void)revents;
	for (i = 0; i < IPC_DRAIN_MAX; i++) {
		void *msg = NULL, *control = NULL;
		int n = recv_one(srv->sock, &msg, &control);

		if (n < 0) {
			if (nn_errno() != EAGAIN && nn_errno() != EINTR)
				log_warnx("ipc %s: receive: %s", srv->path,
				    nn_strerror(nn_errno()));
			return;
		}
		server_handle(srv, msg, n, control);
		nn_freemsg(msg);
	}
}

int
ipc_server_open(struct ev_loop *loop, const char *path,
    struct ipc_server **out, struct errbuf *eb)
{
	struct ipc_server *srv;
	char url[160];
	size_t sz = sizeof(int);
	int r;

	*out = NULL;
	if ((r = claim_path(url, sizeof(url), path, "serving", eb)) < 0)
		return r;
	srv = xcalloc(1, sizeof(*srv));
	srv->loop = loop;
	srv->path = xstrdup(path);
	srv->sock = nn_socket(AF_SP_RAW, NN_REP);
	if (srv->sock < 0) {
		r = nn_err(eb, "socket for", path);
		free(srv->path);
		free(srv);
		return r;
	}
	set_sockopts(srv->sock);
	if (nn_bind(srv->sock, url) < 0) {
		r = nn_err(eb, "bind", path);
		goto fail;
	}
	if (nn_getsockopt(srv->sock, NN_SOL_SOCKET, NN_RCVFD, &srv->rcvfd,
		&sz) < 0) {
		r = nn_err(eb, "NN_RCVFD of", path);
		goto fail;
	}
	ev_io_init(&srv->rcv_w, server_read_cb, srv->rcvfd, EV_READ);
	srv->rcv_w.data = srv;
	ev_io_start(loop, &srv->rcv_w);
	*out = srv;
	return 0;
fail:
	nn_close(srv->sock);
	free(srv->path);
	free(srv);
	return r;
}

void
ipc_server_on(struct ipc_server *srv, uint16_t type, ipc_handler_fn fn,
    void *arg)
{
	size_t i;

	for (i = 0; i < srv->nhandlers; i++) {
		if (srv->handlers[i].type == type) {
			srv->handlers[i].fn = fn;
			srv->handlers[i].arg = arg;
			return;
		}
	}
	srv->handlers = xreallocarray(srv->handlers, srv->nhandlers + 1,
	    sizeof(*srv->handlers));
	srv->handlers[srv->nhandlers].type = type;
	srv->handlers[srv->nhandlers].fn = fn;
	srv->handlers[srv->nhandlers].arg = arg;
	srv->nhandlers++;
}

void
ipc_server_stats(const struct ipc_server *srv, struct ipc_server_stats *st)
{
	*st = srv->st;
}

void
ipc_server_close(struct ipc_server *srv)
{
	if (srv == NULL)
		return;
	ev_io_stop(srv->loop, &srv->rcv_w);
	while (srv->open != NULL)
		req_free(srv->open);
	nn_close(srv->sock);
	unlink(srv->path);
	free(srv->handlers);
	free(srv->path);
	free(srv);
}

/* ---------------------------------------------------------------- client */

/* client_send_framed - send a framed request b */
static int
client_send_framed(int sock, uint32_t reqid, const struct buf *b, int flags)
{
	unsigned char ctrl[NN_CMSG_SPACE(sizeof(size_t) + 4)];
	struct nn_cmsghdr *cm = (struct nn_cmsghdr *)(void *)ctrl;
	unsigned char *cd;
	size_t four = 4;
	struct nn_msghdr mh;
	struct nn_iovec iov;
	int r;

	/* raw REQ: we supply the request id nanomsg routes replies by */
	memset(ctrl, 0, sizeof(ctrl));
	cm->cmsg_len = NN_CMSG_LEN(sizeof(size_t) + 4);
	cm->cmsg_level = PROTO_SP;
	cm->cmsg_type = SP_HDR;
	cd = NN_CMSG_DATA(cm);
	memcpy(cd, &four, sizeof(four));
	be32_set(cd + sizeof(four), reqid | 0x80000000u);
	iov.iov_base = b->data;
	iov.iov_len = b->len;
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = ctrl;
	mh.msg_controllen = sizeof(ctrl);
	r = nn_sendmsg(sock, &mh, flags);
	return r < 0 ? -nn_errno() : 0;
}

static int
client_frame(struct buf *b, uint32_t reqid, uint16_t type,
    const struct cdc_msg_desc *d, const void *body)
{
	struct ipc_hdr h;

	memset(&h, 0, sizeof(h));
	h.type = type;
	h.reqid = reqid;
	return frame(b, &h, d, body);
}

static int
client_send(int sock, uint32_t reqid, uint16_t type,
    const struct cdc_msg_desc *d, const void *body, int flags)
{
	struct buf b = BUF_INIT;
	int r;

	if ((r = client_frame(&b, reqid, type, d, body)) == 0)
		r = client_send_framed(sock, reqid, &b, flags);
	buf_free(&b);
	return r;
}

static void
client_arm(struct ipc_client *c)
{
	ev_tstamp after;

	ev_timer_stop(c->loop, &c->tmo_w);
	if (c->dhead == NULL)
		return;
	after = c->dhead->deadline - mono_now();
	if (c->nunsent > 0 && after > IPC_RESEND_S)
		after = IPC_RESEND_S; /* retry the unsent soon */
	ev_timer_set(&c->tmo_w, after > 0 ? after : 0, 0);
	ev_timer_start(c->loop, &c->tmo_w);
}

static void
unlink_pending(struct ipc_client *c, struct pending *p)
{
	struct pending **pp = &c->buckets[p->reqid % IPC_BUCKETS];

	while (*pp != NULL && *pp != p)
		pp = &(*pp)->hnext;
	if (*pp == p)
		*pp = p->hnext;
	if (p->dprev)
		p->dprev->dnext = p->dnext;
	else
		c->dhead = p->dnext;
	if (p->dnext)
		p->dnext->dprev = p->dprev;
	else
		c->dtail = p->dprev;
	c->npending--;
}

static void
insert_pending(struct ipc_client *c, struct pending *p)
{
	struct pending *q = c->dtail;

	p->hnext = c->buckets[p->reqid % IPC_BUCKETS];
	c->buckets[p->reqid % IPC_BUCKETS] = p;
	/* deadline order; usually appended at the tail */
	while (q != NULL && q->deadline > p->deadline)
		q = q->dprev;
	p->dprev = q;
	p->dnext = q ? q->dnext : c->dhead;
	if (p->dnext)
		p->dnext->dprev = p;
	else
		c->dtail = p;
	if (q)
		q->dnext = p;
	else
		c->dhead = p;
	c->npending++;
}

static void client_free(struct ipc_client *c);

static void
complete(struct ipc_client *c, struct pending *p, int status, void *body,
    const char *errmsg)
{
	c->in_cb++;
	p->cb(status, body, errmsg, p->arg);
	c->in_cb--;
	if (c->npending == 0)
		ev_timer_stop(c->loop, &c->probe_w);
	free(p->errmsg);
	buf_free(&p->frame);
	free(p);
}

/* resend - try the requests not sent yet; those that go out get their
 * real deadline back */
static void
resend(struct ipc_client *c)
{
	struct pending *p, *next, *sent = NULL;

	for (p = c->dhead; p != NULL && c->nunsent > 0; p = next) {
		next = p->dnext;
		if (!p->queued)
			continue;
		if (client_send_framed(c->sock, p->reqid, &p->frame,
			NN_DONTWAIT) < 0)
			continue;
		p->queued = false;
		p->sent_at = mono_now();
		if (!ipc_type_repeatable(p->type))
			buf_free(&p->frame);
		c->nunsent--;
		free(p->errmsg);
		p->errmsg = NULL;
		p->status = -ETIMEDOUT;
		unlink_pending(c, p);
		p->deadline = p->final_deadline;
		p->dnext = sent; /* re-inserted below, in deadline order */
		sent = p;
	}
	while (sent != NULL) {
		p = sent;
		sent = p->dnext;
		insert_pending(c, p);
	}
}

static void
client_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct ipc_client *c = w->data;
	ev_tstamp now = mono_now();

	(void)loop;
	(void)revents;
	if (c->nunsent > 0 && !c->closing)
		resend(c);
	while (c->dhead != NULL && c->dhead->deadline <= now && !c->closing) {
		struct pending *p = c->dhead;
		char msg[256];

		unlink_pending(c, p);
		if (p->queued)
			c->nunsent--;
		if (p->errmsg == NULL) {
			snprintf(msg, sizeof(msg), "no reply from %s in time",
			    c->path);
			complete(c, p, p->status, NULL, msg);
		} else {
			complete(c, p, p->status, NULL, p->errmsg);
		}
	}
	if (c->closing && c->in_cb == 0) {
		client_free(c);
		return;
	}
	client_arm(c);
}

static void
client_handle(struct ipc_client *c, const uint8_t *msg, size_t len)
{
	const struct ipc_type_info *ti;
	struct pending *p;
	struct ipc_hdr h;
	struct errbuf eb;
	void *body;
	int r;

	if (ipc_hdr_decode(msg, len, &h, &eb) < 0 ||
	    !(h.flags & IPC_F_REPLY)) {
		log_warnx("ipc %s: dropped malformed reply", c->path);
		return;
	}
	for (p = c->buckets[h.reqid % IPC_BUCKETS]; p != NULL; p = p->hnext)
		if (p->reqid == h.reqid)
			break;
	if (p == NULL || p->type != h.type)
		return; /* late reply to a call that already timed out */
	unlink_pending(c, p);
	ti = ipc_type_lookup(h.type);
	if (h.status == 0) {
		body = calloc(1, ti->rep->size);
		if (body == NULL) {
			complete(c, p, -ENOMEM, NULL, "out of memory");
			return;
		}
		r = cdc_decode(ti->rep, msg + IPC_HDR_LEN, h.len, body, &eb);
		if (r < 0) {
			free(body);
			complete(c, p, -EBADMSG, NULL, eb.msg);
			return;
		}
		complete(c, p, 0, body, NULL);
		cdc_free(ti->rep, body);
		free(body);
	} else {
		struct ipc_error e = {NULL};

		if (cdc_decode(&ipc_error_desc, msg + IPC_HDR_LEN, h.len, &e,
			&eb) < 0)
			e.message = NULL;
		complete(c, p, h.status, NULL,
		    e.message ? e.message : strerror(-h.status));
		cdc_free(&ipc_error_desc, &e);
	}
}

/* lost - the server no longer holds p, sent before it restarted: send it
 * again if that is safe, else fail it at once rather than at its deadline
 * (the outcome is unknown: the old server may have acted on it) */
static void
lost(struct ipc_client *c, struct pending *p)
{
	ev_tstamp now = mono_now();
	int r = -ECONNRESET;

	if (p->frame.len > 0) {
		r = client_send_framed(c->sock, p->reqid, &p->frame,
		    NN_DONTWAIT);
		log_info("ipc %s: request %u (%s) was lost with the server; "
			 "%s",
		    c->path, p->reqid, ipc_type_lookup(p->type)->name,
		    r == 0 ? "sent again" : "sending again once connected");
		if (r == 0) {
			p->sent_at = now;
			return;
		}
	}
	unlink_pending(c, p);
	if (r == -EAGAIN) {
		p->queued = true;
		c->nunsent++;
		p->status = -EAGAIN;
		free(p->errmsg);
		p->errmsg = xasprintf("send to %s: not connected (daemon "
				      "down?)",
		    c->path);
		p->final_deadline = p->deadline;
		if (p->deadline > now + IPC_CONNECT_WAIT_S)
			p->deadline = now + IPC_CONNECT_WAIT_S;
		insert_pending(c, p);
		client_arm(c);
		return;
	}
	log_warnx("ipc %s: request %u (%s) was lost with the server, which "
		  "restarted before answering",
	    c->path, p->reqid, ipc_type_lookup(p->type)->name);
	complete(c, p, -ECONNRESET, NULL,
	    "the daemon restarted before answering; the request may or may "
	    "not have taken effect");
	if (!c->closing)
		client_arm(c);
}

static struct pending *
find_pending(struct ipc_client *c, uint32_t reqid)
{
	struct pending *p;

	for (p = c->buckets[reqid % IPC_BUCKETS]; p != NULL; p = p->hnext)
		if (p->reqid == reqid)
			return p;
	return NULL;
}

static void
probe_done(int status, void *body, const char *errmsg, void *arg)
{
	struct probe *pr = arg;
	struct ipc_client *c = pr->c;
	const struct ipc_probe *rep = body;
	uint32_t *open = NULL;
	size_t i, nopen = 0;

	(void)errmsg;
	c->probing = 0;
	/* -EAGAIN: the server has been down for IPC_CONNECT_WAIT_S, so what
	 * it was asked before is lost (none open); stuck (-ETIMEDOUT) or
	 * anything else: the deadlines decide */
	if ((status != 0 && status != -EAGAIN) || c->closing) {
		free(pr);
		return;
	}
	if (status == 0 && rep->ids.n >= 4) {
		open = xreallocarray(NULL, rep->ids.n / 4, sizeof(*open));
		for (nopen = 0; nopen < rep->ids.n / 4; nopen++)
			open[nopen] = be32_get(rep->ids.p + 4 * nopen);
		qsort(open, nopen, sizeof(*open), ipc_id_cmp);
	}
	for (i = 0; i < pr->n && !c->closing; i++) {
		struct pending *p = find_pending(c, pr->ids[i]);

		/* answered meanwhile (its reply came before this one), sent
		 * again since, or still held: nothing to do */
		if (p == NULL || p->queued || p->sent_at > pr->at ||
		    (nopen > 0 && bsearch(&pr->ids[i], open, nopen,
				      sizeof(*open), ipc_id_cmp) != NULL))
			continue;
		lost(c, p);
	}
	free(open);
	free(pr);
}

/* probe_cb - every IPC_PROBE_S while calls are pending: ask the server
 * about the requests sent at least IPC_PROBE_S ago */
static void
probe_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct ipc_client *c = w->data;
	ev_tstamp now = mono_now();
	struct ipc_probe q;
	struct probe *pr;
	struct pending *p;
	struct buf b = BUF_INIT;
	size_t n = 0;

	(void)loop;
	(void)revents;
	if (c->npending == 0 || c->closing) {
		ev_timer_stop(c->loop, w);
		return;
	}
	if (c->probing)
		return;
	for (p = c->dhead; p != NULL && n < IPC_PROBE_MAX; p = p->dnext)
		if (p->type != IPC_PROBE && !p->queued && p->sent_at > 0 &&
		    now - p->sent_at >= IPC_PROBE_S)
			n++;
	if (n == 0)
		return;
	pr = xcalloc(1, sizeof(*pr) + n * sizeof(pr->ids[0]));
	pr->c = c;
	pr->at = now;
	for (p = c->dhead; p != NULL && pr->n < n; p = p->dnext) {
		if (p->type != IPC_PROBE && !p->queued && p->sent_at > 0 &&
		    now - p->sent_at >= IPC_PROBE_S) {
			pr->ids[pr->n++] = p->reqid;
			buf_put_be32(&b, p->reqid);
		}
	}
	q.ids.p = b.data;
	q.ids.n = b.len;
	c->probing = 1;
	if (ipc_call(c, IPC_PROBE, &q, IPC_PROBE_TIMEOUT_MS, probe_done, pr) <
	    0) {
		c->probing = 0;
		free(pr);
	}
	buf_free(&b);
}

static void
client_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct ipc_client *c = w->data;
	int i;

	(void)revents;
	for (i = 0; i < IPC_DRAIN_MAX && !c->closing; i++) {
		void *msg = NULL, *control = NULL;
		int n = recv_one(c->sock, &msg, &control);

		if (n < 0)
			break;
		if (control != NULL)
			nn_freemsg(control);
		client_handle(c, msg, (size_t)n);
		nn_freemsg(msg);
	}
	if (c->closing && c->in_cb == 0) {
		client_free(c);
		return;
	}
	if (!c->closing)
		client_arm(c);
	(void)loop;
}

int
ipc_client_open(struct ev_loop *loop, const char *path,
    struct ipc_client **out, struct errbuf *eb)
{
	struct ipc_client *c;
	char url[160];
	size_t sz = sizeof(int);
	int r;

	*out = NULL;
	if ((r = make_url(url, sizeof(url), path, eb)) < 0)
		return r;
	c = xcalloc(1, sizeof(*c));
	c->loop = loop;
	c->path = xstrdup(path);
	c->next_id = (uint32_t)((getpid() * 7919u) ^ (uint32_t)time(NULL)) &
		     0x7fffffffu;
	c->sock = nn_socket(AF_SP_RAW, NN_REQ);
	if (c->sock < 0) {
		r = nn_err(eb, "socket for", path);
		goto fail0;
	}
	set_sockopts(c->sock);
	if (nn_connect(c->sock, url) < 0) {
		r = nn_err(eb, "connect", path);
		goto fail;
	}
	if (nn_getsockopt(c->sock, NN_SOL_SOCKET, NN_RCVFD, &c->rcvfd, &sz) <
	    0) {
		r = nn_err(eb, "NN_RCVFD of", path);
		goto fail;
	}
	ev_io_init(&c->rcv_w, client_read_cb, c->rcvfd, EV_READ);
	c->rcv_w.data = c;
	ev_io_start(loop, &c->rcv_w);
	ev_init(&c->tmo_w, client_timeout_cb);
	c->tmo_w.data = c;
	ev_init(&c->probe_w, probe_cb);
	c->probe_w.repeat = IPC_PROBE_S;
	c->probe_w.data = c;
	*out = c;
	return 0;
fail:
	nn_close(c->sock);
fail0:
	free(c->path);
	free(c);
	return r;
}

int
ipc_call(struct ipc_client *c, uint16_t type, const void *body,
    unsigned timeout_ms, ipc_reply_fn cb, void *arg)
{
	const struct ipc_type_info *ti = ipc_type_lookup(type);
	struct pending *p;
	int r;

	if (ti == NULL || c->closing)
		return -EINVAL;
	p = xcalloc(1, sizeof(*p));
	do {
		c->next_id = (c->next_id + 1) & 0x7fffffffu;
	} while (c->next_id == 0);
	p->reqid = c->next_id;
	p->type = type;
	p->cb = cb;
	p->arg = arg;
	p->status = -ETIMEDOUT;
	p->deadline = mono_now() + timeout_ms / 1000.0;
	if ((r = client_frame(&p->frame, p->reqid, type, ti->req, body)) ==
		0)
		r = client_send_framed(c->sock, p->reqid, &p->frame,
		    NN_DONTWAIT);
	if (r == 0) {
		p->sent_at = mono_now();
		if (!ipc_type_repeatable(type))
			buf_free(&p->frame);
	} else if (r == -EAGAIN) {
		/* not connected (yet?): retried until connected, for at most
		 * IPC_CONNECT_WAIT_S */
		p->status = -EAGAIN;
		p->errmsg = xasprintf("send to %s: not connected (daemon "
				      "down?)",
		    c->path);
		p->final_deadline = p->deadline;
		if (timeout_ms / 1000.0 > IPC_CONNECT_WAIT_S)
			p->deadline = mono_now() + IPC_CONNECT_WAIT_S;
		p->queued = true;
		c->nunsent++;
	} else {
		/* report from the loop, not from here */
		buf_free(&p->frame);
		p->status = r;
		p->errmsg = xasprintf("send to %s: %s", c->path, strerror(-r));
		p->deadline = mono_now();
	}
	insert_pending(c, p);
	if (c->in_cb == 0 || c->dhead == p)
		client_arm(c);
	if (!ev_is_active(&c->probe_w))
		ev_timer_again(c->loop, &c->probe_w);
	return 0;
}

unsigned
ipc_client_pending(const struct ipc_client *c)
{
	return c->npending;
}

static void
client_free(struct ipc_client *c)
{
	ev_io_stop(c->loop, &c->rcv_w);
	ev_timer_stop(c->loop, &c->tmo_w);
	ev_timer_stop(c->loop, &c->probe_w);
	nn_close(c->sock);
	free(c->path);
	free(c);
}

void
ipc_client_close(struct ipc_client *c)
{
	if (c == NULL || c->closing)
		return;
	c->closing = 1;
	while (c->dhead != NULL) {
		struct pending *p = c->dhead;

		unlink_pending(c, p);
		complete(c, p, -ECANCELED, NULL, "client closed");
	}
	if (c->in_cb == 0)
		client_free(c);
	/* else freed when the callback that closed it returns */
}

/* ------------------------------------------------------------ sync call */

static int
ms_left(const struct timespec *end)
{
	struct timespec now;
	long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (end->tv_sec - now.tv_sec) * 1000 +
	     (end->tv_nsec - now.tv_nsec) / 1000000;
	return ms > 0 ? (int)ms : 0;
}

int
ipc_call_sync(const char *path, uint16_t type, const void *body, void *rep,
    unsigned timeout_ms, struct errbuf *eb)
{
	const struct ipc_type_info *ti = ipc_type_lookup(type);
	static uint32_t seq;
	struct timespec end;
	char url[160];
	uint32_t reqid;
	int s, r, ms;

	if (ti == NULL)
		return errbuf_set(eb, -EINVAL, "unknown message type 0x%04x",
		    type);
	if ((r = make_url(url, sizeof(url), path, eb)) < 0)
		return r;
	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += timeout_ms / 1000;
	end.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (end.tv_nsec >= 1000000000) {
		end.tv_sec++;
		end.tv_nsec -= 1000000000;
	}
	s = nn_socket(AF_SP_RAW, NN_REQ);
	if (s < 0)
		return nn_err(eb, "socket for", path);
	set_sockopts(s);
	if (nn_connect(s, url) < 0) {
		r = nn_err(eb, "connect", path);
		goto out;
	}
	reqid = ((uint32_t)getpid() * 2654435761u + ++seq) & 0x7fffffffu;
	if (reqid == 0)
		reqid = 1;
	ms = ms_left(&end);
	nn_setsockopt(s, NN_SOL_SOCKET, NN_SNDTIMEO, &ms, sizeof(ms));
	r = client_send(s, reqid, type, ti->req, body, 0);
	if (r < 0) {
		if (r == -ETIMEDOUT || r == -EAGAIN)
			r = errbuf_set(eb, -ETIMEDOUT,
			    "%s: not reachable within %u ms (daemon down?)",
			    path, timeout_ms);
		else
			r = errbuf_set(eb, r, "send to %s: %s", path,
			    nn_strerror(-r));
		goto out;
	}
	for (;;) {
		void *msg = NULL;
		struct ipc_hdr h;
		int n;

		ms = ms_left(&end);
		if (ms <= 0)
			ms = 1;
		nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVTIMEO, &ms, sizeof(ms));
		n = nn_recv(s, &msg, NN_MSG, 0);
		if (n < 0) {
			int e = nn_errno();

			if (e == EINTR)
				continue;
			if (e == ETIMEDOUT || e == EAGAIN)
				r = errbuf_set(eb, -ETIMEDOUT,
				    "%s: no reply within %u ms (daemon down?)",
				    path, timeout_ms);
			else
				r = errbuf_set(eb, -e, "receive from %s: %s",
				    path, nn_strerror(e));
			goto out;
		}
		r = ipc_hdr_decode(msg, (size_t)n, &h, eb);
		if (r == 0 && (h.reqid != reqid || !(h.flags & IPC_F_REPLY) ||
				  h.type != type)) {
			nn_freemsg(msg);
			continue; /* not ours */
		}
		if (r == 0 && h.status == 0) {
			r = cdc_decode(ti->rep, (uint8_t *)msg + IPC_HDR_LEN,
			    h.len, rep, eb);
		} else if (r == 0) {
			struct ipc_error e = {NULL};

			cdc_decode(&ipc_error_desc,
			    (uint8_t *)msg + IPC_HDR_LEN, h.len, &e, NULL);
			r = errbuf_set(eb, h.status, "%s: %s", path,
			    e.message ? e.message : strerror(-h.status));
			cdc_free(&ipc_error_desc, &e);
		}
		nn_freemsg(msg);
		goto out;
	}
out:
	nn_close(s);
	return r;
}

/* ------------------------------------------------------------ pub/sub */

struct ipc_pub {
	int sock;
	char *path;
	uint64_t dropped;
};

struct ipc_sub {
	struct ev_loop *loop;
	int sock;
	int rcvfd;
	ev_io rcv_w;
	ipc_event_fn fn;
	void *arg;
};

int
ipc_pub_open(const char *path, struct ipc_pub **out, struct errbuf *eb)
{
	struct ipc_pub *p;
	char url[160];
	int r;

	*out = NULL;
	if ((r = claim_path(url, sizeof(url), path, "publishing", eb)) < 0)
		return r;
	p = xcalloc(1, sizeof(*p));
	p->path = xstrdup(path);
	p->sock = nn_socket(AF_SP, NN_PUB);
	if (p->sock < 0) {
		r = nn_err(eb, "socket for", path);
		goto fail0;
	}
	set_sockopts(p->sock);
	if (nn_bind(p->sock, url) < 0) {
		r = nn_err(eb, "bind", path);
		nn_close(p->sock);
		goto fail0;
	}
	*out = p;
	return 0;
fail0:
	free(p->path);
	free(p);
	return r;
}

int
ipc_publish(struct ipc_pub *p, uint16_t type, const void *body)
{
	const struct ipc_type_info *ti = ipc_type_lookup(type);
	struct ipc_hdr h;
	struct buf b = BUF_INIT;
	int r;

	if (ti == NULL)
		return -EINVAL;
	memset(&h, 0, sizeof(h));
	h.type = type;
	if ((r = frame(&b, &h, ti->req, body)) == 0 &&
	    nn_send(p->sock, b.data, b.len, NN_DONTWAIT) < 0) {
		r = -nn_errno();
		p->dropped++;
	}
	buf_free(&b);
	return r;
}

void
ipc_pub_close(struct ipc_pub *p)
{
	if (p == NULL)
		return;
	nn_close(p->sock);
	unlink(p->path);
	free(p->path);
	free(p);
}

static void
sub_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct ipc_sub *s = w->data;
	int i;

	(void)loop;
	(void)revents;
	for (i = 0; i < IPC_DRAIN_MAX; i++) {
		const struct ipc_type_info *ti;
		struct ipc_hdr h;
		struct errbuf eb;
		void *msg = NULL, *body;
		int n = nn_recv(s->sock, &msg, NN_MSG, NN_DONTWAIT);

		if (n < 0)
			return;
		if (ipc_hdr_decode(msg, (size_t)n, &h, &eb) == 0 &&
		    (ti = ipc_type_lookup(h.type)) != NULL &&
		    (body = calloc(1, ti->req->size)) != NULL) {
			if (cdc_decode(ti->req, (uint8_t *)msg + IPC_HDR_LEN,
				h.len, body, &eb) == 0) {
				s->fn(h.type, body, s->arg);
				cdc_free(ti->req, body);
			}
			free(body);
		}
		nn_freemsg(msg);
	}
}

int
ipc_sub_open(struct ev_loop *loop, const char *path, ipc_event_fn fn,
    void *arg, struct ipc_sub **out, struct errbuf *eb)
{
	struct ipc_sub *s;
	char url[160];
	size_t sz = sizeof(int);
	int r;

	*out = NULL;
	if ((r = make_url(url, sizeof(url), path, eb)) < 0)
		return r;
	s = xcalloc(1, sizeof(*s));
	s->loop = loop;
	s->fn = fn;
	s->arg = arg;
	s->sock = nn_socket(AF_SP, NN_SUB);
	if (s->sock < 0) {
		r = nn_err(eb, "socket for", path);
		free(s);
		return r;
	}
	set_sockopts(s->sock);
	if (nn_setsockopt(s->sock, NN_SUB, NN_SUB_SUBSCRIBE, "", 0) < 0 ||
	    nn_connect(s->sock, url) < 0 ||
	    nn_getsockopt(s->sock, NN_SOL_SOCKET, NN_RCVFD, &s->rcvfd, &sz) <
		0) {
		r = nn_err(eb, "subscribe to", path);
		nn_close(s->sock);
		free(s);
		return r;
	}
	ev_io_init(&s->rcv_w, sub_read_cb, s->rcvfd, EV_READ);
	s->rcv_w.data = s;
	ev_io_start(loop, &s->rcv_w);
	*out = s;
	return 0;
}

void
ipc_sub_close(struct ipc_sub *s)
{
	if (s == NULL)
		return;
	ev_io_stop(s->loop, &s->rcv_w);
	nn_close(s->sock);
	free(s);
}
