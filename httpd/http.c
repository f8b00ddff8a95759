/* http.c - the HTTP/1.1 server of httpd (see http.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <http_parser.h>

#include "clock.h"
#include "http.h"
#include "log.h"
#include "xmalloc.h"

#define READ_CHUNK 16384

struct ip_count {
	char ip[INET6_ADDRSTRLEN];
	unsigned n;
	struct ip_count *next;
};

struct http_server {
	struct ev_loop *loop;
	int fd;
	ev_io accept_w;
	http_handler_fn fn;
	void *arg;
	struct http_limits lim;
	struct ip_count *ips;
	uint64_t next_id;
	struct http_conn *conns; /* every live connection */
};

struct http_conn {
	struct http_server *srv;
	int fd;
	char ip[INET6_ADDRSTRLEN];
	ev_io rw, ww;
	ev_timer tmo;
	http_parser parser;
	struct buf in;	   /* unparsed input */
	size_t in_off;
	struct buf out;	   /* unsent output */
	size_t out_off;
	/* the request being parsed / served */
	struct http_req req;
	struct buf url;
	struct buf hfield, hvalue;
	bool last_was_value;
	size_t header_bytes;
	bool in_request;   /* bytes of a request have arrived */
	bool pending;	   /* handed to the handler, no response yet */
	bool too_large;    /* body over the limit: 413, then close */
	uint64_t too_large_len; /* its announced (or read so far) size */
	bool close_after;  /* close once out is written */
	bool dead;	   /* socket gone while a response was pending */
	bool streaming;	   /* a chunked response in progress */
	bool draining;	   /* answered and half-closed: discard input */
	bool big_body;	   /* a restore upload: progress-based timeout */
	bool head_done;	   /* the request head is complete */
	size_t body_limit; /* for the request being parsed */
	ev_tstamp request_start, last_activity;
	struct http_conn *next, *prev;
};

static void conn_close(struct http_conn *c);
static void conn_parse(struct http_conn *c);

/* ------------------------------------------------------------- helpers */

char *
http_url_decode(const char *s, size_t n, bool plus)
{
	char *out = xmalloc(n + 1), *o = out;
	size_t i;

	for (i = 0; i < n; i++) {
		if (s[i] == '%') {
			int hi, lo;

			if (i + 2 >= n)
				goto bad;
			hi = s[i + 1];
			lo = s[i + 2];
#define HEXV(ch)                                                               \
	((ch) >= '0' && (ch) <= '9'   ? (ch) - '0'                             \
	    : (ch) >= 'a' && (ch) <= 'f' ? (ch) - 'a' + 10                       \
	    : (ch) >= 'A' && (ch) <= 'F' ? (ch) - 'A' + 10                       \
					 : -1)
			if (HEXV(hi) < 0 || HEXV(lo) < 0)
				goto bad;
			*o = (char)(HEXV(hi) * 16 + HEXV(lo));
#undef HEXV
			if (*o == '\0')
				goto bad;
			o++;
			i += 2;
		} else if (plus && s[i] == '+') {
			*o++ = ' ';
		} else {
			*o++ = s[i];
		}
	}
	*o = '\0';
	return out;
bad:
	free(out);
	return NULL;
}

const char *
http_query(const struct http_req *req, const char *key)
{
	size_t i;

	for (i = 0; i < req->nquery; i++)
		if (strcmp(req->query[i].key, key) == 0)
			return req->query[i].value;
	return NULL;
}

bool
http_query_has(const struct http_req *req, const char *key)
{
	return http_query(req, key) != NULL;
}

const char *
http_header(const struct http_req *req, const char *name)
{
	size_t i;

	for (i = 0; i < req->nheaders; i++)
		if (strcasecmp(req->headers[i].key, name) == 0)
			return req->headers[i].value;
	return NULL;
}

static void
req_reset(struct http_conn *c)
{
	struct http_req *r = &c->req;
	size_t i;

	free(r->path);
	for (i = 0; i < r->nquery; i++) {
		free(r->query[i].key);
		free(r->query[i].value);
	}
	free(r->query);
	for (i = 0; i < r->nheaders; i++) {
		free(r->headers[i].key);
		free(r->headers[i].value);
	}
	free(r->headers);
	buf_free(&r->body);
	memset(r, 0, sizeof(*r));
	r->conn = c;
	buf_reset(&c->url);
	buf_reset(&c->hfield);
	buf_reset(&c->hvalue);
	c->last_was_value = false;
	c->header_bytes = 0;
	c->in_request = false;
	c->too_large = false;
}

static const char *
status_text(int st)
{
	switch (st) {
	case 200:
		return "OK";
	case 301:
		return "Moved Permanently";
	case 400:
		return "Bad Request";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 409:
		return "Conflict";
	case 413:
		return "Request Entity Too Large";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 503:
		return "Service Unavailable";
	default:
		return "Status";
	}
}

/* ------------------------------------------------------------- output */

static void
conn_flush(struct http_conn *c)
{
	while (c->out_off < c->out.len) {
		ssize_t k = send(c->fd, c->out.data + c->out_off,
		    c->out.len - c->out_off, MSG_NOSIGNAL);

		if (k < 0) {
			if (errno == EAGAIN || errno == EINTR) {
				ev_io_start(c->srv->loop, &c->ww);
				return;
			}
			conn_close(c);
			return;
		}
		c->out_off += (size_t)k;
	}
	buf_reset(&c->out);
	c->out_off = 0;
	ev_io_stop(c->srv->loop, &c->ww);
	if (c->close_after && !c->draining && !c->streaming) {
		/* lingering close: stop sending, and read (and drop) what the
		 * client still sends for a moment, so that closing with unread
		 * input does not reset the connection before the client has
		 * read our answer (a 413 sent while a body is arriving) */
		c->draining = true;
		shutdown(c->fd, SHUT_WR);
		ev_io_start(c->srv->loop, &c->rw);
		c->last_activity = mono_now();
		ev_timer_stop(c->srv->loop, &c->tmo);
		c->tmo.repeat = 2.0;
		ev_timer_again(c->srv->loop, &c->tmo);
	}
}

static void
write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)revents;
	conn_flush(w->data);
}

static void
queue_response(struct http_conn *c, int status, const char *ctype,
    const char *body, size_t len, const char *const *headers)
{
	char head[512];
	int n;

	n = snprintf(head, sizeof(head),
	    "HTTP/1.1 %d %s\r\nContent-Length: %zu\r\n", status,
	    status_text(status), len);
	buf_put(&c->out, head, (size_t)n);
	if (ctype != NULL) {
		buf_put_str(&c->out, "Content-Type: ");
		buf_put_str(&c->out, ctype);
		buf_put_str(&c->out, "\r\n");
	}
	for (; headers != NULL && *headers != NULL; headers++) {
		buf_put_str(&c->out, *headers);
		buf_put_str(&c->out, "\r\n");
	}
	if (c->close_after)
		buf_put_str(&c->out, "Connection: close\r\n");
	buf_put_str(&c->out, "\r\n");
	/* HEAD: the headers GET would have, Content-Length included, and
	 * no body */
	if (len > 0 && c->parser.method != HTTP_HEAD)
		buf_put(&c->out, body, len);
}

void
http_respond(struct http_req *req, int status, const char *ctype,
    const char *body, size_t len, const char *const *headers)
{
	struct http_conn *c = req->conn;

	c->pending = false;
	if (c->dead) {
		c->dead = false;
		conn_close(c); /* frees it now that nobody holds req */
		return;
	}
	if (!http_should_keep_alive(&c->parser))
		c->close_after = true;
	queue_response(c, status, ctype, body, len, headers);
	req_reset(c);
	c->last_activity = mono_now();
	conn_flush(c);
	if (c->fd < 0)
		return; /* closed by the flush */
	/* go on with pipelined requests already buffered */
	http_parser_pause(&c->parser, 0);
	conn_parse(c);
}

void
http_stream_begin_hdrs(struct http_req *req, int status, const char *ctype,
    const char *const *headers)
{
	struct http_conn *c = req->conn;
	char head[256];
	size_t i;
	int n;

	/* the response ends with the connection: no pipelining behind it */
	c->close_after = true;
	c->streaming = true;
	if (c->dead)
		return;
	n = snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\n"
	    "Transfer-Encoding: chunked\r\nContent-Type: %s\r\n"
	    "Connection: close\r\n", status, status_text(status),
	    ctype ? ctype : "text/plain");
	buf_put(&c->out, head, (size_t)n);
	for (i = 0; headers != NULL && headers[i] != NULL; i++) {
		buf_put_str(&c->out, headers[i]);
		buf_put_str(&c->out, "\r\n");
	}
	buf_put_str(&c->out, "\r\n");
	conn_flush(c);
}

void
http_stream_begin(struct http_req *req, int status, const char *ctype)
{
	http_stream_begin_hdrs(req, status, ctype, NULL);
}

size_t
http_stream_queued(const struct http_req *req)
{
	const struct http_conn *c = req->conn;

	return c->out.len - c->out_off;
}

void
http_stream_abort(struct http_req *req)
{
	struct http_conn *c = req->conn;

	c->pending = false;
	c->streaming = false;
	if (c->dead)
		c->dead = false;
	/* what is queued is dropped too: the cut must be visible */
	conn_close(c);
}

bool
http_stream_alive(const struct http_req *req)
{
	return !req->conn->dead && req->conn->fd >= 0;
}

int
http_stream_write(struct http_req *req, const void *p, size_t n)
{
	struct http_conn *c = req->conn;
	char len[24];
	int k;

	if (!http_stream_alive(req))
		return -EPIPE;
	if (n == 0)
		return 0;
	if (c->out.len - c->out_off > HTTP_STREAM_MAX_QUEUE)
		return -EAGAIN; /* a slow reader: this piece is dropped */
	k = snprintf(len, sizeof(len), "%zx\r\n", n);
	buf_put(&c->out, len, (size_t)k);
	buf_put(&c->out, p, n);
	buf_put_str(&c->out, "\r\n");
	conn_flush(c);
	return http_stream_alive(req) ? 0 : -EPIPE;
}

void
http_stream_end(struct http_req *req)
{
	struct http_conn *c = req->conn;

	c->pending = false;
	c->streaming = false;
	if (c->dead) {
		c->dead = false;
		conn_close(c);
		return;
	}
	if (c->fd < 0) {
		conn_close(c);
		return;
	}
	buf_put_str(&c->out, "0\r\n\r\n");
	req_reset(c);
	conn_flush(c);
}

void
http_respond_text(struct http_req *req, int status, const char *text)
{
	http_respond(req, status, "text/plain; charset=utf-8", text,
	    strlen(text), NULL);
}

/* ------------------------------------------------------------ parsing */

static int
on_message_begin(http_parser *p)
{
	struct http_conn *c = p->data;

	c->in_request = true;
	c->request_start = mono_now();
	c->big_body = false;
	c->head_done = false;
	c->body_limit = c->srv->lim.max_body;
	return 0;
}

static int
on_url(http_parser *p, const char *at, size_t len)
{
	struct http_conn *c = p->data;

	c->header_bytes += len;
	if (c->header_bytes > HTTP_MAX_HEADER_BYTES)
		return -1;
	buf_put(&c->url, at, len);
	return 0;
}

static void
header_done(struct http_conn *c)
{
	struct http_req *r = &c->req;
	size_t i;

	if (c->hfield.len == 0)
		return;
	r->headers = xreallocarray(r->headers, r->nheaders + 1,
	    sizeof(*r->headers));
	r->headers[r->nheaders].key = xstrndup((char *)c->hfield.data,
	    c->hfield.len);
	r->headers[r->nheaders].value = xstrndup(
	    c->hvalue.data ? (char *)c->hvalue.data : "", c->hvalue.len);
	for (i = 0; r->headers[r->nheaders].key[i]; i++)
		if (r->headers[r->nheaders].key[i] >= 'A' &&
		    r->headers[r->nheaders].key[i] <= 'Z')
			r->headers[r->nheaders].key[i] += 'a' - 'A';
	r->nheaders++;
	buf_reset(&c->hfield);
	buf_reset(&c->hvalue);
}

static int
on_header_field(http_parser *p, const char *at, size_t len)
{
	struct http_conn *c = p->data;

	c->header_bytes += len;
	if (c->header_bytes > HTTP_MAX_HEADER_BYTES)
		return -1;
	if (c->last_was_value)
		header_done(c);
	c->last_was_value = false;
	buf_put(&c->hfield, at, len);
	return 0;
}

static int
on_header_value(http_parser *p, const char *at, size_t len)
{
	struct http_conn *c = p->data;

	c->header_bytes += len;
	if (c->header_bytes > HTTP_MAX_HEADER_BYTES)
		return -1;
	c->last_was_value = true;
	buf_put(&c->hvalue, at, len);
	return 0;
}

static int
parse_target(struct http_conn *c)
{
	struct http_req *r = &c->req;
	const char *u = c->url.data ? (const char *)c->url.data : "";
	size_t n = c->url.len, plen;
	const char *q = memchr(u, '?', n);

	plen = q ? (size_t)(q - u) : n;
	if ((r->path = http_url_decode(u, plen, false)) == NULL)
		return -1;
	if (q == NULL)
		return 0;
	q++;
	while (q < u + n) {
		const char *amp = memchr(q, '&', (size_t)(u + n - q));
		const char *end = amp ? amp : u + n;
		const char *eq = memchr(q, '=', (size_t)(end - q));
		char *k, *v;

		if (end > q) {
			k = http_url_decode(q, (size_t)((eq ? eq : end) - q),
			    true);
			v = eq ? http_url_decode(eq + 1,
				     (size_t)(end - eq - 1), true)
			       : xstrdup("");
			if (k == NULL || v == NULL) {
				free(k);
				free(v);
				return -1;
			}
			r->query = xreallocarray(r->query, r->nquery + 1,
			    sizeof(*r->query));
			r->query[r->nquery].key = k;
			r->query[r->nquery].value = v;
			r->nquery++;
		}
		q = end + 1;
	}
	return 0;
}

static int
on_headers_complete(http_parser *p)
{
	struct http_conn *c = p->data;

	if (c->last_was_value)
		header_done(c);
	c->req.method = http_method_str((enum http_method)p->method);
	c->head_done = true;
	/* a snapshot restore carries the whole state */
	if (p->method == HTTP_PUT && c->srv->lim.max_restore_body > 0 &&
	    c->url.len >= 12 &&
	    memcmp(c->url.data, "/v1/snapshot", 12) == 0 &&
	    (c->url.len == 12 || c->url.data[12] == '?')) {
		c->big_body = true;
		c->body_limit = c->srv->lim.max_restore_body;
	}
	/* refuse an announced oversized body before reading it (Consul's
	 * 413 text) */
	if ((p->flags & F_CONTENTLENGTH) && p->content_length > c->body_limit) {
		c->too_large = true;
		c->too_large_len = p->content_length;
	}
	return 0;
}

static int
on_body(http_parser *p, const char *at, size_t len)
{
	struct http_conn *c = p->data;

	if (c->too_large)
		return 0;
	if (c->req.body.len + len > c->body_limit) {
		c->too_large = true; /* chunked: found while reading */
		c->too_large_len = c->req.body.len + len;
		buf_free(&c->req.body);
		return 0;
	}
	buf_put(&c->req.body, at, len);
	return 0;
}

static int
on_message_complete(http_parser *p)
{
	struct http_conn *c = p->data;

	c->pending = true;
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

static void
fail_request(struct http_conn *c, int status, const char *text)
{
	c->close_after = true;
	c->pending = false;
	queue_response(c, status, "text/plain; charset=utf-8", text,
	    strlen(text), NULL);
	conn_flush(c);
}

static void
dispatch(struct http_conn *c)
{
	char msg[160];

	if (c->too_large) {
		/* Consul's text */
		snprintf(msg, sizeof(msg),
		    "Request body(%llu bytes) too large, max size: %zu bytes. "
		    "See https://developer.hashicorp.com/docs/agent/config/"
		    "config-files#kv_max_value_size.",
		    (unsigned long long)c->too_large_len, c->body_limit);
		fail_request(c, 413, msg);
		return;
	}
	if (parse_target(c) < 0) {
		fail_request(c, 400, "Invalid URL encoding");
		return;
	}
	c->req.id = ++c->srv->next_id;
	c->srv->fn(&c->req, c->srv->arg);
}

static void
conn_parse(struct http_conn *c)
{
	while (c->fd >= 0 && !c->pending && !c->draining &&
	    c->in_off < c->in.len) {
		size_t avail = c->in.len - c->in_off, used;
		enum http_errno e;

		used = http_parser_execute(&c->parser, &settings,
		    (const char *)c->in.data + c->in_off, avail);
		c->in_off += used;
		e = HTTP_PARSER_ERRNO(&c->parser);
		if (c->pending && (e == HPE_OK || e == HPE_PAUSED)) {
			/* the request is complete: serve it */
			if (c->in_off == c->in.len) {
				buf_reset(&c->in);
				c->in_off = 0;
			}
			dispatch(c);
			return;
		}
		if (e != HPE_OK) {
			if (c->header_bytes > HTTP_MAX_HEADER_BYTES)
				fail_request(c, 431,
				    "Request header fields too large");
			else
				fail_request(c, 400, http_errno_description(e));
			return;
		}
		if (c->too_large && c->in_request) {
			/* no need to read an oversized body */
			c->pending = true;
			dispatch(c);
			return;
		}
	}
	if (c->in_off == c->in.len) {
		buf_reset(&c->in);
		c->in_off = 0;
	}
}

static void
read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct http_conn *c = w->data;
	ssize_t k;

	(void)revents;
	if (c->draining) {
		char junk[READ_CHUNK];

		k = recv(c->fd, junk, sizeof(junk), 0);
		if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR))
			conn_close(c);
		return;
	}
	buf_reserve(&c->in, READ_CHUNK);
	k = recv(c->fd, c->in.data + c->in.len, READ_CHUNK, 0);
	if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR)) {
		if (c->pending) {
			/* the handler still holds req: free on respond */
			ev_io_stop(loop, &c->rw);
			ev_io_stop(loop, &c->ww);
			ev_timer_stop(loop, &c->tmo);
			close(c->fd);
			c->fd = -1;
			c->dead = true;
			return;
		}
		conn_close(c);
		return;
	}
	if (k < 0)
		return;
	c->in.len += (size_t)k;
	c->last_activity = mono_now();
	if (!c->in_request)
		c->request_start = mono_now();
	/* do not buffer without bound while a request is being served */
	if (c->pending && c->in.len - c->in_off > 4 * 1024 * 1024)
		ev_io_stop(loop, &c->rw);
	conn_parse(c);
}

static void
timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct http_conn *c = w->data;
	ev_tstamp now = mono_now(), due;

	(void)revents;
	if (c->draining) {
		conn_close(c);
		return;
	}
	if (c->pending) {
		ev_timer_again(loop, w);
		return;
	}
	/* a request head that does not complete in time (slowloris), or
	 * an idle keep-alive connection */
	if (c->in_request && c->big_body && c->head_done)
		due = c->last_activity + HTTP_HEADER_TIMEOUT_S;
	else if (c->in_request || c->in.len > c->in_off)
		due = c->request_start + HTTP_HEADER_TIMEOUT_S;
	else
		due = c->last_activity + HTTP_IDLE_TIMEOUT_S;
	if (now >= due) {
		conn_close(c);
		return;
	}
	w->repeat = due - now;
	ev_timer_again(loop, w);
}

/* ------------------------------------------------------ connections */

static struct ip_count *
ip_get(struct http_server *s, const char *ip)
{
	struct ip_count *p;

	for (p = s->ips; p != NULL; p = p->next)
		if (strcmp(p->ip, ip) == 0)
			return p;
	p = xcalloc(1, sizeof(*p));
	snprintf(p->ip, sizeof(p->ip), "%s", ip);
	p->next = s->ips;
	s->ips = p;
	return p;
}

static void
ip_put(struct http_server *s, const char *ip)
{
	struct ip_count **pp, *p;

	for (pp = &s->ips; (p = *pp) != NULL; pp = &p->next) {
		if (strcmp(p->ip, ip) == 0) {
			if (--p->n == 0) {
				*pp = p->next;
				free(p);
			}
			return;
		}
	}
}

static void
conn_close(struct http_conn *c)
{
	struct ev_loop *loop = c->srv->loop;

	if (c->dead)
		return; /* freed when the pending request is answered */
	if (c->fd >= 0) {
		ev_io_stop(loop, &c->rw);
		ev_io_stop(loop, &c->ww);
		ev_timer_stop(loop, &c->tmo);
		close(c->fd);
		c->fd = -1;
	}
	if (c->pending)
		return; /* conn stays until the handler responds */
	if (c->prev)
		c->prev->next = c->next;
	else
		c->srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	ip_put(c->srv, c->ip);
	req_reset(c);
	buf_free(&c->in);
	buf_free(&c->out);
	buf_free(&c->url);
	buf_free(&c->hfield);
	buf_free(&c->hvalue);
	free(c);
}

static void
accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct http_server *s = w->data;
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd, one = 1, i;

	(void)revents;
	for (i = 0; i < 64; i++) {
		struct http_conn *c;
		struct ip_count *ic;
		char ip[INET6_ADDRSTRLEN] = "?";

		sl = sizeof(ss);
		fd = accept4(s->fd, (struct sockaddr *)&ss, &sl,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		if (ss.ss_family == AF_INET)
			inet_ntop(AF_INET,
			    &((struct sockaddr_in *)&ss)->sin_addr, ip,
			    sizeof(ip));
		else if (ss.ss_family == AF_INET6)
			inet_ntop(AF_INET6,
			    &((struct sockaddr_in6 *)&ss)->sin6_addr, ip,
			    sizeof(ip));
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		ic = ip_get(s, ip);
		ic->n++;
		c = xcalloc(1, sizeof(*c));
		c->srv = s;
		c->fd = fd;
		c->next = s->conns;
		if (s->conns)
			s->conns->prev = c;
		s->conns = c;
		snprintf(c->ip, sizeof(c->ip), "%s", ip);
		c->req.conn = c;
		http_parser_init(&c->parser, HTTP_REQUEST);
		c->parser.data = c;
		ev_io_init(&c->rw, read_cb, fd, EV_READ);
		ev_io_init(&c->ww, write_cb, fd, EV_WRITE);
		c->rw.data = c->ww.data = c;
		ev_init(&c->tmo, timeout_cb);
		c->tmo.data = c;
		c->tmo.repeat = HTTP_HEADER_TIMEOUT_S;
		c->request_start = c->last_activity = mono_now();
		if (s->lim.max_conns_per_ip > 0 &&
		    ic->n > s->lim.max_conns_per_ip) {
			/* Consul's answer to a client over its cap */
			c->close_after = true;
			static const char busy[] =
			    "Your IP is issuing too many concurrent "
			    "connections, please rate limit your calls\n";

			queue_response(c, 429, "text/plain; charset=utf-8",
			    busy, sizeof(busy) - 1, NULL);
			conn_flush(c);
			continue;
		}
		ev_io_start(loop, &c->rw);
		ev_timer_again(loop, &c->tmo);
	}
}

int
http_server_open(struct ev_loop *loop, const char *addr, int port,
    const struct http_limits *lim, http_handler_fn fn, void *arg,
    struct http_server **out, struct errbuf *eb)
{
	struct addrinfo hints, *res = NULL;
	struct http_server *s;
	char ps[16];
	int fd, one = 1, rc;

	*out = NULL;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
	snprintf(ps, sizeof(ps), "%d", port);
	rc = getaddrinfo(addr, ps, &hints, &res);
	if (rc != 0 || res == NULL) {
		if (res)
			freeaddrinfo(res);
		return errbuf_set(eb, -EINVAL, "http: address \"%s\": %s",
		    addr, gai_strerror(rc));
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd < 0) {
		rc = -errno;
		freeaddrinfo(res);
		return errbuf_set(eb, rc, "http: socket: %s", strerror(-rc));
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 ||
	    listen(fd, 1024) < 0) {
		rc = -errno;
		close(fd);
		freeaddrinfo(res);
		return errbuf_set(eb, rc, "http: listen on %s:%d: %s", addr,
		    port, strerror(-rc));
	}
	freeaddrinfo(res);
	s = xcalloc(1, sizeof(*s));
	s->loop = loop;
	s->fd = fd;
	s->fn = fn;
	s->arg = arg;
	s->lim = *lim;
	ev_io_init(&s->accept_w, accept_cb, fd, EV_READ);
	s->accept_w.data = s;
	ev_io_start(loop, &s->accept_w);
	*out = s;
	return 0;
}

int
http_server_port(const struct http_server *s)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (getsockname(s->fd, (struct sockaddr *)&ss, &sl) < 0)
		return 0;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

void
http_server_close(struct http_server *s)
{
	struct ip_count *p, *n;

	if (s == NULL)
		return;
	ev_io_stop(s->loop, &s->accept_w);
	close(s->fd);
	while (s->conns != NULL) {
		struct http_conn *c = s->conns;

		/* a request still with the handler is dropped with it */
		c->pending = false;
		c->dead = false;
		conn_close(c);
	}
	for (p = s->ips; p != NULL; p = n) {
		n = p->next;
		free(p);
	}
	free(s);
}

/* ------------------------------------------------------ fuzzing entry */

struct feed_ctx {
	http_handler_fn fn;
	void *arg;
	int n;
};

static void
feed_handler(struct http_req *req, void *arg)
{
	struct feed_ctx *f = arg;

	f->n++;
	f->fn(req, f->arg);
}

int
http_feed(const void *p, size_t n, const struct http_limits *lim,
    http_handler_fn fn, void *arg)
{
	struct ev_loop *loop = ev_default_loop(0);
	struct http_server srv;
	struct http_conn *c;
	struct feed_ctx f = {fn, arg, 0};
	int sp[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
		sp) < 0)
		return -errno;
	memset(&srv, 0, sizeof(srv));
	srv.loop = loop;
	srv.fd = -1;
	srv.fn = feed_handler;
	srv.arg = &f;
	srv.lim = *lim;
	c = xcalloc(1, sizeof(*c));
	c->srv = &srv;
	c->fd = sp[0];
	snprintf(c->ip, sizeof(c->ip), "fuzz");
	ip_get(&srv, c->ip)->n++;
	srv.conns = c;
	c->req.conn = c;
	http_parser_init(&c->parser, HTTP_REQUEST);
	c->parser.data = c;
	ev_io_init(&c->rw, read_cb, sp[0], EV_READ);
	ev_io_init(&c->ww, write_cb, sp[0], EV_WRITE);
	c->rw.data = c->ww.data = c;
	ev_init(&c->tmo, timeout_cb);
	c->tmo.data = c;
	buf_put(&c->in, p, n);
	conn_parse(c);
	/* whatever state it is in now, end it as a vanished client would */
	if (srv.conns != NULL) {
		c = srv.conns;
		c->pending = false;
		c->dead = false;
		c->draining = false;
		conn_close(c);
	}
	close(sp[1]);
	{
		struct ip_count *q, *nx;

		for (q = srv.ips; q != NULL; q = nx) {
			nx = q->next;
			free(q);
		}
	}
	return f.n;
}

const char *
http_peer_ip(const struct http_req *req)
{
	return req->conn->ip;
}
