/* http.h - httpd's HTTP/1.1 server on libev, parsing with Debian's
 * http-parser: keep-alive and pipelining (one request at a time per
 * connection, the rest waits in the buffer), Content-Length and chunked
 * bodies, percent-decoded paths, repeated query parameters, limits on
 * header and body size (413 without buffering the body), connections per
 * client address (429), and header/idle timeouts (a slowloris client is
 * cut off). */
#ifndef CAIRN_HTTPD_HTTP_H
#define CAIRN_HTTPD_HTTP_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

#define HTTP_MAX_HEADER_BYTES (64 * 1024)
#define HTTP_HEADER_TIMEOUT_S 10.0 /* whole request head within this */
#define HTTP_IDLE_TIMEOUT_S 75.0   /* keep-alive between requests */

struct http_kv {
	char *key;
	char *value; /* "" for a flag without value */
};

struct http_conn;
struct http_server;

struct http_req {
	struct http_conn *conn;
	const char *method; /* "GET", "PUT", ... */
	char *path;	    /* percent-decoded, without the query */
	struct http_kv *query;
	size_t nquery;
	struct http_kv *headers; /* names lowercased */
	size_t nheaders;
	struct buf body;
	uint64_t id; /* per server, for logs */
};

struct http_limits {
	size_t max_body;	  /* bytes; larger bodies get 413 */
	/* PUT /v1/snapshot (a restore) may carry this much instead; its
	 * body must keep arriving (no HTTP_HEADER_TIMEOUT_S of silence)
	 * rather than arrive whole within that time */
	size_t max_restore_body;
	unsigned max_conns_per_ip; /* 0: no limit; beyond it 429 */
};

/* the handler answers (now or later) with http_respond exactly once */
typedef void (*http_handler_fn)(struct http_req *req, void *arg);

int http_server_open(struct ev_loop *loop, const char *addr, int port,
    const struct http_limits *lim, http_handler_fn fn, void *arg,
    struct http_server **out, struct errbuf *eb);
int http_server_port(const struct http_server *s);
void http_server_close(struct http_server *s);

/* http_respond - send the response; extra headers as "Name: value" lines
 * without CRLF (NULL-terminated array, may be NULL).  Frees nothing the
 * caller owns; req is invalid afterwards.  If the connection went away
 * meanwhile, the response is dropped. */
void http_respond(struct http_req *req, int status, const char *ctype,
    const char *body, size_t len, const char *const *headers);
/* Streaming (chunked) responses, e.g. /v1/agent/monitor: begin instead
 * of respond, then write pieces as they come, then end (also after a write
 * said the client is gone).  The connection closes after the stream.  A
 * write returns 0, -EPIPE (client gone: end the stream) or -EAGAIN (too
 * much queued for a slow client: the piece was dropped). */
#define HTTP_STREAM_MAX_QUEUE (1024 * 1024)
void http_stream_begin(struct http_req *req, int status, const char *ctype);
/* ... with extra headers ("Name: value", NULL-terminated; may be NULL) */
void http_stream_begin_hdrs(struct http_req *req, int status,
    const char *ctype, const char *const *headers);
/* http_stream_queued - bytes written but not yet taken by the client: a
 * producer that must not drop pieces waits while this is large */
size_t http_stream_queued(const struct http_req *req);
/* http_stream_abort - end the stream without its closing chunk: the
 * client sees the response cut short (an error after the status went
 * out) */
void http_stream_abort(struct http_req *req);
int http_stream_write(struct http_req *req, const void *p, size_t n);
bool http_stream_alive(const struct http_req *req);
void http_stream_end(struct http_req *req);

/* http_respond_text - a plain-text body (Consul's errors are text). */
void http_respond_text(struct http_req *req, int status, const char *text);

/* lookups: the first match, or NULL; http_query_has is presence-based */
const char *http_query(const struct http_req *req, const char *key);
bool http_query_has(const struct http_req *req, const char *key);
const char *http_header(const struct http_req *req, const char *name);
/* http_peer_ip - the client's address as text */
const char *http_peer_ip(const struct http_req *req);

/* http_feed - parse the bytes p[0..n) as if one client had sent them on a
 * fresh connection, answering each complete request through fn (which
 * must respond at once), then close it.  For the fuzzer and unit tests.
 * Returns the number of requests handed to fn. */
int http_feed(const void *p, size_t n, const struct http_limits *lim,
    http_handler_fn fn, void *arg);

/* http_url_decode - percent-decode s[0..n) into a new string (free());
 * '+' becomes ' ' when plus is set (query strings).  NULL on bad escapes
 * or an embedded NUL. */
char *http_url_decode(const char *s, size_t n, bool plus);

#endif
