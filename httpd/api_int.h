/* api_int.h - what httpd's API modules (api.c: routing, KV, status;
 * api_session.c; api_txn.c) share: the API state, a request in flight,
 * and the response helpers. */
#ifndef CAIRN_HTTPD_API_INT_H
#define CAIRN_HTTPD_API_INT_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>

#include "http.h"
#include "ipc.h"
#include "ipc_msg.h"
#include "cfg.h"
#include "json.h"

#define API_IPC_TIMEOUT_MS 30000
#define API_REMOTE_POLL_S 1.0 /* blocked queries on another datacenter */
/* the largest snapshot archive PUT /v1/snapshot takes (held in memory
 * while its state goes through the log) */
#define API_MAX_RESTORE_BYTES ((size_t)1 << 30)

struct api {
	struct ev_loop *loop;
	struct ipc_client *raftd;
	struct ipc_client *gossipd;
	struct ipc_client *checkd;
	struct ipc_client *reload[5]; /* every daemon's, for agent/reload */
	const struct cairn_conf *conf;
	struct ipc_sub *events;	 /* raftd.events: wakes blocking queries */
	struct ipc_sub *gevents; /* gossipd.events: wakes /v1/event/list */
	struct call *blocked;	/* parked blocking queries */
	uint64_t max_query_ms, default_query_ms;
	uint64_t client_id; /* makes writes idempotent per (client, seq) */
	uint64_t seq;
	char *datacenter, *node_name; /* copied from the config */
	uint64_t session_ttl_min_ms;
	size_t txn_max_req_len;
	uint64_t *c_requests, *c_errors;
};

/* one HTTP request waiting for raftd.  A read that may block keeps its
 * IPC request (rtype, rq) and callback (done) so that a change event or
 * the end of the wait can re-issue it. */
struct call {
	struct api *api;
	struct http_req *req;
	int kind;
	bool raw, keys, pretty;
	char *key;
	char *separator;
	char *arg; /* session id / node, owned */
	uint16_t rtype;
	void *rq;
	ipc_reply_fn done;
	const char *table; /* the table whose changes wake it */
	struct ipc_kv_read q;
	struct ipc_session_read sq;
	struct ipc_event_list eq;
	struct ipc_catalog_read cq;
	struct ipc_query_exec xq;
	struct ipc_query_read qq;
	/* ?near=<node|_agent>: coordinates from gossipd, to sort by RTT */
	char *near;
	char **cnames;
	void *coords; /* struct viv_coord[ncoords] */
	size_t ncoords;
	bool gossip; /* rq goes to gossipd */
	/* blocking query (?index=&wait=): parked until the table moves past
	 * `index` (for the key or prefix, for kv), or the wait ends */
	uint64_t index;
	bool blocking, expired;
	ev_timer wait_w;
	/* another datacenter's changes wake nothing here: re-read it */
	ev_timer poll_w;
	struct call *next, *prev;
};

/* api_raftd - ipc_call to raftd for req: served in req's datacenter
 * (?dc=): another datacenter's request goes as IPC_DC_FORWARD and cb gets
 * the inner reply, decoded, as if it had been local.  req may be NULL
 * (this datacenter). */
int api_raftd(struct api *a, struct http_req *req, uint16_t type,
    const void *body, int timeout_ms, ipc_reply_fn cb, void *arg);
/* api_remote_dc - req names another datacenter than ours */
bool api_remote_dc(const struct api *a, const struct http_req *req);

struct call *call_new(struct api *a, struct http_req *req);
void call_free(struct call *c);
/* call_issue - send the call's read (rtype, rq) to raftd */
void call_issue(struct call *c);
/* call_park - a blocking call whose result is not past its index waits;
 * returns true if it was parked (the caller must not answer). */
bool call_park(struct call *c, uint64_t index);
/* start_blocking - ?index=N&wait=D; returns 0, or -1 after answering 400
 * (c freed) */
int start_blocking(struct api *a, struct call *c, struct http_req *req);
/* read_mode - ?stale / ?consistent / default; -1 after answering 400 */
int read_mode(struct http_req *req);

bool parse_u64(const char *s, uint64_t *out);
char *b64(const uint8_t *p, size_t n);
/* method_ok - req's method is in the comma-separated allow list; else
 * answers 405 with an Allow header and returns false */
bool method_ok(struct http_req *req, const char *allow);
void respond_meta(struct http_req *req, int status, const char *ctype,
    const char *body, size_t len, uint64_t index, bool known,
    uint64_t contact, const char *const *extra);
/* respond_json - 200 (or status) with w's JSON (?pretty honoured) and the
 * query-meta headers */
void respond_json_status(struct http_req *req, int status, struct jw *w,
    uint64_t index, bool known, uint64_t contact, const char *const *extra);
void respond_json(struct http_req *req, struct jw *w, uint64_t index,
    bool known, uint64_t contact);
void respond_ipc_error(struct http_req *req, int status, const char *msg);
void jw_kv_row(struct jw *w, const struct ipc_kv_row *row, bool value);

/* JSON writers shared by the endpoints (Consul's shapes) */
void jw_kvmap(struct jw *w, const struct cdc_strlist *l, bool null_if_empty);
void jw_node(struct jw *w, const struct ipc_node *nd);
void jw_check(struct jw *w, const struct ipc_check *c);
void jw_service_fields(struct jw *w, const struct ipc_service *sv,
    bool prefixed);
void jw_tags(struct jw *w, const struct cdc_strlist *tags);
void jw_member(struct jw *w, const struct ipc_member *m);
void jw_coord(struct jw *w, const struct cdc_bytes *b);
/* jw_indexes - "CreateIndex": c, "ModifyIndex": m */
void jw_indexes(struct jw *w, uint64_t c, uint64_t m);
/* jw_health_entry - {Node, Service, Checks} of one instance in rep */
void jw_health_entry(struct jw *w, const struct ipc_catalog_reply *rep,
    const struct ipc_service *sv);
/* ?near: near_done (gossipd's members' reply) keeps their coordinates in
 * c and issues c's read; sort_by_near orders rep by RTT from c->near */
void near_done(int status, void *body, const char *errmsg, void *arg);
void sort_by_near(const struct call *c, struct ipc_catalog_reply *rep);
bool parse_bool(const char *s, bool *out);

/* the endpoints */
void api_session(struct api *a, struct http_req *req, const char *rest);
void api_txn(struct api *a, struct http_req *req);
void api_snapshot(struct api *a, struct http_req *req);
void api_query(struct api *a, struct http_req *req, const char *rest);
void api_agent(struct api *a, struct http_req *req, const char *rest);
/* api_monitor - /v1/agent/monitor: stream log lines; api_monitor_close
 * ends every stream (httpd stopping) */
void api_monitor(struct api *a, struct http_req *req);
void api_monitor_close(void);
/* api_local - /v1/agent/ endpoints served by checkd (services, checks,
 * maintenance, health) and self/reload; false if rest is not one */
bool api_local(struct api *a, struct http_req *req, const char *rest);
void api_event(struct api *a, struct http_req *req, const char *rest);
void api_keyring(struct api *a, struct http_req *req);
void api_catalog(struct api *a, struct http_req *req, const char *rest);
void api_health(struct api *a, struct http_req *req, const char *rest);
void api_coordinate(struct api *a, struct http_req *req, const char *rest);
/* api_ui - /v1/internal/ui/services, nodes, node/<name>: the web UI's
 * summaries of the whole catalog (api_ui.c) */
void api_ui(struct api *a, struct http_req *req, const char *rest);

#endif
