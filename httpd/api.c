/* api.c - httpd's Consul HTTP API v1: routing, the KV store
 * (/v1/kv/<key>), /v1/status and /v1/operator/raft, each turned into IPC
 * requests to raftd; the blocking-query machinery all reads share.
 * JSON field names, headers, status codes and error texts are Consul's
 * (spec/consul-compat.md sections 0, 1.1, 1.6). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "api.h"
#include "api_int.h"
#include "cfg.h"
#include "json.h"
#include "log.h"
#include "ui.h"
#include "xmalloc.h"

#define IPC_TIMEOUT_MS API_IPC_TIMEOUT_MS
#define RAFT_NODE_LEN 128

enum { K_KV_GET, K_KV_WRITE, K_LEADER, K_PEERS, K_RAFT_CONFIG };

static struct api the_api;

/* ------------------------------------------------------------ helpers */

bool
parse_u64(const char *s, uint64_t *out)
{
	char *end;

	if (s == NULL || *s == '\0' || *s == '-')
		return false;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno == 0 && *end == '\0';
}

char *
b64(const uint8_t *p, size_t n)
{
	char *out = xmalloc(4 * ((n + 2) / 3) + 1);

	EVP_EncodeBlock((unsigned char *)out, p, (int)n);
	return out;
}

bool
method_ok(struct http_req *req, const char *allow)
{
	size_t ml = strlen(req->method);
	const char *p = allow;
	char text[96], h[96];
	const char *hs[2] = {h, NULL};

	while (*p) {
		if (strncmp(p, req->method, ml) == 0 &&
		    (p[ml] == ',' || p[ml] == '\0'))
			return true;
		p = strchr(p, ',');
		if (p == NULL)
			break;
		p++;
	}
	snprintf(text, sizeof(text), "method %.16s not allowed", req->method);
	snprintf(h, sizeof(h), "Allow: %s", allow);
	http_respond(req, 405, "text/plain; charset=utf-8", text, strlen(text),
	    hs);
	return false;
}

/* respond_meta - X-Consul-Index/KnownLeader/LastContact, on every
 * response of a blocking endpoint including 404 (spec section 0), then
 * the extra header lines (NULL-terminated, may be NULL) */
void
respond_meta(struct http_req *req, int status, const char *ctype,
    const char *body, size_t len, uint64_t index, bool known,
    uint64_t contact, const char *const *extra)
{
	char h1[64], h2[64], h3[64];
	const char *hs[8] = {h1, h2, h3, NULL};
	size_t n = 3;

	snprintf(h1, sizeof(h1), "X-Consul-Index: %" PRIu64,
	    index ? index : 1);
	snprintf(h2, sizeof(h2), "X-Consul-Knownleader: %s",
	    known ? "true" : "false");
	snprintf(h3, sizeof(h3), "X-Consul-Lastcontact: %" PRIu64, contact);
	while (extra != NULL && *extra != NULL && n < 7)
		hs[n++] = *extra++;
	hs[n] = NULL;
	http_respond(req, status, ctype, body, len, hs);
}

void
respond_json(struct http_req *req, struct jw *w, uint64_t index, bool known,
    uint64_t contact)
{
	respond_json_status(req, 200, w, index, known, contact, NULL);
}

void
respond_json_status(struct http_req *req, int status, struct jw *w,
    uint64_t index, bool known, uint64_t contact, const char *const *extra)
{
	size_t len;
	char *js = jw_finish(w, &len);

	if (js == NULL) {
		http_respond_text(req, 500, "failed to encode JSON");
		return;
	}
	if (http_query_has(req, "pretty")) {
		/* ?pretty: indented, with a trailing newline (Consul) */
		js = xreallocarray(js, len + 2, 1);
		js[len++] = '\n';
		js[len] = '\0';
	}
	respond_meta(req, status, "application/json", js, len, index, known,
	    contact, extra);
	free(js);
}

static void
unpark(struct call *c)
{
	struct api *a = c->api;

	if (c->prev)
		c->prev->next = c->next;
	else if (a->blocked == c)
		a->blocked = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->next = c->prev = NULL;
}

bool
api_remote_dc(const struct api *a, const struct http_req *req)
{
	const char *dc = req != NULL ? http_query(req, "dc") : NULL;

	return dc != NULL && *dc != '\0' && strcmp(dc, a->datacenter) != 0;
}

struct dc_call {
	ipc_reply_fn cb;
	void *arg;
	uint16_t type;
};

static void
dc_done(int status, void *body, const char *errmsg, void *arg)
{
	struct dc_call *d = arg;
	const struct ipc_type_info *ti = ipc_type_lookup(d->type);
	struct ipc_dc_reply *w = body;
	struct errbuf eb;
	void *inner;

	if (status < 0) {
		d->cb(status, NULL, errmsg, d->arg);
		free(d);
		return;
	}
	inner = xcalloc(1, ti->rep->size);
	if (cdc_decode(ti->rep, w->body.p, w->body.n, inner, &eb) < 0)
		d->cb(-EBADMSG, NULL, "bad reply from the remote datacenter",
		    d->arg);
	else
		d->cb(0, inner, NULL, d->arg);
	cdc_free(ti->rep, inner);
	free(inner);
	free(d);
}

int
api_raftd(struct api *a, struct http_req *req, uint16_t type,
    const void *body, int timeout_ms, ipc_reply_fn cb, void *arg)
{
	const struct ipc_type_info *ti = ipc_type_lookup(type);
	struct ipc_dc_req q;
	struct dc_call *d;
	struct buf b = BUF_INIT;
	int r;

	if (!api_remote_dc(a, req) || ti == NULL)
		return ipc_call(a->raftd, type, body, timeout_ms, cb, arg);
	if (body != NULL)
		cdc_encode(&b, ti->req, body);
	memset(&q, 0, sizeof(q));
	q.dc = (char *)http_query(req, "dc");
	q.type = type;
	q.body.p = b.data;
	q.body.n = b.len;
	d = xcalloc(1, sizeof(*d));
	d->cb = cb;
	d->arg = arg;
	d->type = type;
	r = ipc_call(a->raftd, IPC_DC_FORWARD, &q, timeout_ms, dc_done, d);
	buf_free(&b);
	return r;
}

struct call *
call_new(struct api *a, struct http_req *req)
{
	struct call *c = xcalloc(1, sizeof(*c));

	c->api = a;
	c->req = req;
	c->pretty = http_query_has(req, "pretty");
	return c;
}

void
call_free(struct call *c)
{
	if (c->blocking) {
		unpark(c);
		ev_timer_stop(c->api->loop, &c->wait_w);
		ev_timer_stop(c->api->loop, &c->poll_w);
	}
	free(c->key);
	free(c->separator);
	free(c->arg);
	free(c->near);
	for (size_t i = 0; i < c->ncoords; i++)
		free(c->cnames[i]);
	free(c->cnames);
	free(c->coords);
	free(c);
}

void
call_issue(struct call *c)
{
	if (c->gossip)
		ipc_call(c->api->gossipd, c->rtype, c->rq, IPC_TIMEOUT_MS,
		    c->done, c);
	else
		api_raftd(c->api, c->req, c->rtype, c->rq, IPC_TIMEOUT_MS,
		    c->done, c);
}

/* poll_cb - a blocked query on another datacenter reads again: its
 * changes are not announced here */
static void
poll_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct call *c = w->data;

	(void)loop;
	(void)revents;
	if (c->prev != NULL || c->api->blocked == c) {
		unpark(c);
		call_issue(c);
	}
}

bool
call_park(struct call *c, uint64_t index)
{
	struct api *a = c->api;

	if (!c->blocking || c->expired || index > c->index)
		return false;
	/* nothing newer yet: wait for a change event or the timer */
	c->next = a->blocked;
	if (a->blocked)
		a->blocked->prev = c;
	a->blocked = c;
	if (api_remote_dc(a, c->req)) {
		ev_timer_stop(a->loop, &c->poll_w);
		ev_timer_init(&c->poll_w, poll_cb, API_REMOTE_POLL_S, 0);
		c->poll_w.data = c;
		ev_timer_start(a->loop, &c->poll_w);
	}
	return true;
}

int
read_mode(struct http_req *req)
{
	bool stale = http_query_has(req, "stale");
	bool consistent = http_query_has(req, "consistent");

	if (stale && consistent) {
		http_respond_text(req, 400,
		    "Cannot specify ?stale with ?consistent, conflicting "
		    "semantics.");
		return -1;
	}
	return stale ? RAFT_READ_STALE
		     : consistent ? RAFT_READ_CONSISTENT : RAFT_READ_DEFAULT;
}

/* ipc_error_status - raftd's answer as Consul's status and text */
void
respond_ipc_error(struct http_req *req, int status, const char *msg)
{
	char text[512];

	if (status == -EHOSTUNREACH)
		snprintf(text, sizeof(text), "%s",
		    msg ? msg : "No path to datacenter");
	else if (status == -EAGAIN || status == -ETIMEDOUT)
		snprintf(text, sizeof(text), "%s",
		    msg && strstr(msg, "leader") ? "No cluster leader"
						 : (msg ? msg : "unavailable"));
	else
		snprintf(text, sizeof(text), "rpc error: %s",
		    msg ? msg : strerror(-status));
	http_respond_text(req, 500, text);
}

/* ---------------------------------------------------------------- KV */

/* jw_kv_row - a DirEntry; value false: without Value (txn write results) */
void
jw_kv_row(struct jw *w, const struct ipc_kv_row *row, bool value)
{
	jw_obj_open(w);
	jw_key(w, "LockIndex");
	jw_uint(w, row->lock_index);
	jw_key(w, "Key");
	jw_str(w, row->key ? row->key : "");
	jw_key(w, "Flags");
	jw_uint(w, row->flags);
	if (value) {
		jw_key(w, "Value");
		if (row->value.n > 0) {
			char *v = b64(row->value.p, row->value.n);

			jw_str(w, v);
			free(v);
		} else {
			jw_null(w);
		}
	}
	if (row->session != NULL && *row->session) {
		jw_key(w, "Session");
		jw_str(w, row->session);
	}
	jw_indexes(w, row->create_index, row->modify_index);
	jw_obj_close(w);
}

static void
kv_read_done(int status, void *body, const char *errmsg, void *arg)
{
	struct call *c = arg;
	struct ipc_kv_read_reply *rep = body;
	struct http_req *req = c->req;
	struct jw w;
	size_t i;

	if (status < 0) {
		(*c->api->c_errors)++;
		respond_ipc_error(req, status, errmsg);
		call_free(c);
		return;
	}
	if (call_park(c, rep->index))
		return;
	if (rep->rows.n == 0) {
		respond_meta(req, 404, NULL, "", 0, rep->index,
		    rep->known_leader, rep->last_contact_ms, NULL);
		call_free(c);
		return;
	}
	if (c->raw) {
		struct ipc_kv_row *row = rep->rows.v;

		static const char *const safe[] = {
		    "X-Content-Type-Options: nosniff",
		    "Content-Security-Policy: sandbox", NULL};

		/* text/plain and nosniff: a stored value must not be run as
		 * a page in a browser (modern Consul) */
		respond_meta(req, 200, "text/plain; charset=utf-8",
		    (const char *)row->value.p, row->value.n, rep->index,
		    rep->known_leader, rep->last_contact_ms, safe);
		call_free(c);
		return;
	}
	jw_init(&w, c->pretty);
	jw_arr_open(&w);
	if (c->keys) {
		/* ?keys: the keys, cut after the separator past the prefix */
		size_t plen = strlen(c->key);
		const char *last = NULL;
		size_t last_len = 0;

		for (i = 0; i < rep->rows.n; i++) {
			struct ipc_kv_row *row =
			    (struct ipc_kv_row *)rep->rows.v + i;
			size_t klen = strlen(row->key);
			const char *sep = NULL;

			if (c->separator && *c->separator)
				sep = strstr(row->key + plen, c->separator);
			if (sep)
				klen = (size_t)(sep - row->key) +
				       strlen(c->separator);
			if (last && klen == last_len &&
			    memcmp(last, row->key, klen) == 0)
				continue;
			jw_strn(&w, row->key, klen);
			last = row->key;
			last_len = klen;
		}
	} else {
		for (i = 0; i < rep->rows.n; i++)
			jw_kv_row(&w, (struct ipc_kv_row *)rep->rows.v + i,
			    true);
	}
	jw_arr_close(&w);
	respond_json(req, &w, rep->index, rep->known_leader,
	    rep->last_contact_ms);
	call_free(c);
}

static void
kv_write_done(int status, void *body, const char *errmsg, void *arg)
{
	struct call *c = arg;
	struct ipc_raft_result *res = body;

	if (status < 0) {
		(*c->api->c_errors)++;
		respond_ipc_error(c->req, status, errmsg);
	} else if (res->err == RAFT_ERR_NO_SESSION) {
		char text[128];

		/* Consul: the state store refuses, the RPC error is a 500 */
		snprintf(text, sizeof(text), "invalid session \"%.40s\"",
		    c->arg ? c->arg : "");
		http_respond_text(c->req, 500, text);
	} else if (res->err == RAFT_ERR_INVALID) {
		http_respond_text(c->req, 400, "Invalid request");
	} else {
		const char *t = res->ok ? "true" : "false";
		char h[64];
		const char *hs[2] = {h, NULL};

		snprintf(h, sizeof(h), "X-Consul-Index: %" PRIu64,
		    res->index ? res->index : 1);
		http_respond(c->req, 200, "application/json", t, strlen(t),
		    hs);
	}
	call_free(c);
}

static void
wait_done(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct call *c = w->data;

	(void)loop;
	(void)revents;
	/* the wait is over: answer with whatever is there now */
	c->expired = true;
	if (c->prev != NULL || c->api->blocked == c) {
		unpark(c);
		call_issue(c);
	}
}

/* start_blocking - ?index=N&wait=D (spec section 2): default wait 5 min,
 * at most max_query_time, plus up to wait/16 of jitter so clients do not
 * wake together.  Returns 0, or -1 after answering 400. */
int
start_blocking(struct api *a, struct call *c, struct http_req *req)
{
	const char *w = http_query(req, "wait");
	uint64_t wait_ms = a->default_query_ms, idx, jitter;

	if (!parse_u64(http_query(req, "index"), &idx)) {
		http_respond_text(req, 400, "Invalid index");
		call_free(c);
		return -1;
	}
	if (w != NULL && cfg_duration_parse(w, &wait_ms) < 0) {
		http_respond_text(req, 400, "Invalid wait time");
		call_free(c);
		return -1;
	}
	if (idx == 0)
		return 0; /* index 0 never blocks */
	if (wait_ms == 0 || wait_ms > a->max_query_ms)
		wait_ms = wait_ms == 0 ? a->default_query_ms : a->max_query_ms;
	jitter = wait_ms / 16 ? (uint64_t)rand() % (wait_ms / 16) : 0;
	c->blocking = true;
	c->index = idx;
	ev_timer_init(&c->wait_w, wait_done, (wait_ms + jitter) / 1000.0, 0);
	c->wait_w.data = c;
	ev_timer_start(a->loop, &c->wait_w);
	return 0;
}

/* on_change - raftd applied a change: re-read the parked queries it may
 * concern (same key, or a prefix query covering it, or a deleted tree
 * covering the query's key) */
static void
on_change(uint16_t type, void *body, void *arg)
{
	struct api *a = arg;
	struct ipc_change *ev = body;
	struct call *c, *next;

	if (type != IPC_EV_CHANGE || ev->table == NULL)
		return;
	for (c = a->blocked; c != NULL; c = next) {
		const char *k = ev->key ? ev->key : "";
		bool hit;

		next = c->next;
		if (ev->index <= c->index || c->table == NULL ||
		    (strcmp(ev->table, c->table) != 0 &&
			!(strcmp(c->table, "catalog") == 0 &&
			    (strcmp(ev->table, "nodes") == 0 ||
				strcmp(ev->table, "services") == 0 ||
				strcmp(ev->table, "checks") == 0))))
			continue;
		if (c->rtype == IPC_KV_READ)
			hit = strcmp(k, c->key) == 0 ||
			      (c->q.recurse &&
				  strncmp(k, c->key, strlen(c->key)) == 0) ||
			      (ev->prefix &&
				  strncmp(c->key, k, strlen(k)) == 0);
		else
			hit = true; /* sessions: re-read and compare */
		if (!hit)
			continue;
		unpark(c);
		call_issue(c);
	}
}

/* conflicting - more than one of the named query flags is present:
 * answer 400 "Conflicting flags: a=..&b=.." (as Consul) */
static bool
conflicting(struct http_req *req, const char *const *names)
{
	char text[512];
	size_t i, n = 0, len;

	len = (size_t)snprintf(text, sizeof(text), "Conflicting flags: ");
	for (i = 0; names[i]; i++) {
		const char *v = http_query(req, names[i]);

		if (v == NULL)
			continue;
		if (len < sizeof(text))
			len += (size_t)snprintf(text + len, sizeof(text) - len,
			    "%s%s=%.100s", n ? "&" : "", names[i], v);
		n++;
	}
	if (n < 2)
		return false;
	http_respond_text(req, 400, text);
	return true;
}

static void
kv_get(struct api *a, struct call *c, struct http_req *req, int mode)
{
	struct ipc_kv_read *q = &c->q;

	c->raw = http_query_has(req, "raw");
	c->keys = http_query_has(req, "keys");
	if (http_query(req, "separator"))
		c->separator = xstrdup(http_query(req, "separator"));
	else if (http_query(req, "seperator")) /* Consul's old spelling */
		c->separator = xstrdup(http_query(req, "seperator"));
	q->key = c->key;
	q->recurse = http_query_has(req, "recurse") || c->keys;
	q->mode = (uint32_t)mode;
	if (!q->recurse && *c->key == '\0') {
		http_respond_text(req, 400, "Missing key name");
		call_free(c);
		return;
	}
	if (http_query(req, "index") != NULL && start_blocking(a, c, req) < 0)
		return;
	c->rtype = IPC_KV_READ;
	c->rq = q;
	c->done = kv_read_done;
	c->table = "kv";
	call_issue(c);
}

/* on_gossip - a user event arrived: wake /v1/event/list waiters */
static void
on_gossip(uint16_t type, void *body, void *arg)
{
	struct api *a = arg;
	struct call *c, *next;

	(void)body;
	if (type != IPC_EV_USER_EVENT)
		return;
	for (c = a->blocked; c != NULL; c = next) {
		next = c->next;
		if (c->table == NULL || strcmp(c->table, "events") != 0)
			continue;
		unpark(c);
		call_issue(c);
	}
}

static void
kv(struct api *a, struct http_req *req, const char *key)
{
	static const char *const write_flags[] = {"cas", "acquire", "release",
	    NULL};
	static const char *const del_flags[] = {"recurse", "cas", NULL};
	struct ipc_raft_cmd cmd;
	struct call *c;
	bool del;
	int mode;
	uint64_t v;

	if (!method_ok(req, "GET,PUT,POST,DELETE"))
		return;
	if (strcmp(req->method, "GET") == 0) {
		if ((mode = read_mode(req)) < 0)
			return;
		c = call_new(a, req);
		c->key = xstrdup(key);
		kv_get(a, c, req, mode);
		return;
	}
	del = req->method[0] == 'D';
	if (*key == '\0' && !(del && http_query_has(req, "recurse"))) {
		http_respond_text(req, 400, "Missing key name");
		return;
	}
	if (conflicting(req, del ? del_flags : write_flags))
		return;
	if (strlen(key) > 511) {
		http_respond_text(req, 400, "Key too long (over 511 bytes)");
		return;
	}
	memset(&cmd, 0, sizeof(cmd));
	if (!del && http_query(req, "flags") &&
	    !parse_u64(http_query(req, "flags"), &v)) {
		http_respond_text(req, 400, "Invalid flags");
		return;
	}
	cmd.flags = !del && http_query(req, "flags") ? v : 0;
	if (http_query_has(req, "cas")) {
		if (!parse_u64(http_query(req, "cas"), &cmd.cas)) {
			http_respond_text(req, 400, "Invalid cas");
			return;
		}
		cmd.op = del ? RAFT_OP_KV_DELETE_CAS : RAFT_OP_KV_CAS;
	} else if (del) {
		cmd.op = http_query_has(req, "recurse") ? RAFT_OP_KV_DELETE_TREE
							: RAFT_OP_KV_DELETE;
	} else if (http_query_has(req, "acquire") ||
		   http_query_has(req, "release")) {
		bool acq = http_query_has(req, "acquire");

		cmd.op = acq ? RAFT_OP_KV_LOCK : RAFT_OP_KV_UNLOCK;
		cmd.session = (char *)http_query(req, acq ? "acquire" : "release");
		if (*cmd.session == '\0') {
			http_respond_text(req, 400, "Missing session");
			return;
		}
		if (strlen(key) > 474) {
			http_respond_text(req, 400,
			    "Key too long to lock (over 474 bytes)");
			return;
		}
	} else {
		cmd.op = RAFT_OP_KV_SET;
	}
	c = call_new(a, req);
	c->key = xstrdup(key);
	if (cmd.session)
		c->arg = xstrdup(cmd.session);
	cmd.key = c->key;
	cmd.value.p = del ? NULL : req->body.data;
	cmd.value.n = del ? 0 : req->body.len;
	cmd.client_id = a->client_id;
	cmd.seq = ++a->seq;
	api_raftd(a, req, IPC_RAFT_APPLY, &cmd, IPC_TIMEOUT_MS, kv_write_done,
	    c);
}

/* ------------------------------------------------------------ status */

static void
status_done(int status, void *body, const char *errmsg, void *arg)
{
	struct call *c = arg;
	struct ipc_raft_state *st = body;
	struct jw w;
	size_t i;

	if (status < 0) {
		respond_ipc_error(c->req, status, errmsg);
		call_free(c);
		return;
	}
	jw_init(&w, c->pretty);
	if (c->kind == K_RAFT_CONFIG) {
		/* /v1/operator/raft/configuration */
		jw_obj_open(&w);
		jw_key(&w, "Servers");
		jw_arr_open(&w);
		for (i = 0; i < st->peers.n; i++) {
			struct ipc_raft_peer *p =
			    (struct ipc_raft_peer *)st->peers.v + i;
			char id[32], node[RAFT_NODE_LEN];
			const char *colon;

			snprintf(id, sizeof(id), "%016" PRIx64, p->id);
			colon = p->address ? strrchr(p->address, ':') : NULL;
			if (p->name && *p->name)
				snprintf(node, sizeof(node), "%s", p->name);
			else
				snprintf(node, sizeof(node), "%.*s",
				    colon ? (int)(colon - p->address) : 0,
				    colon ? p->address : "");
			jw_obj_open(&w);
			jw_key(&w, "ID");
			jw_str(&w, id);
			jw_key(&w, "Node");
			jw_str(&w, node);
			jw_key(&w, "Address");
			jw_str(&w, p->address ? p->address : "");
			jw_key(&w, "Leader");
			jw_bool(&w, p->leader);
			jw_key(&w, "ProtocolVersion");
			jw_str(&w, "3");
			jw_key(&w, "Voter");
			jw_bool(&w, p->voter);
			jw_obj_close(&w);
		}
		jw_arr_close(&w);
		jw_key(&w, "Index");
		jw_uint(&w, st->commit_index);
		jw_obj_close(&w);
	} else if (c->kind == K_LEADER) {
		/* "" when there is no leader, as Consul answers */
		jw_str(&w, st->leader_addr ? st->leader_addr : "");
	} else {
		jw_arr_open(&w);
		for (i = 0; i < st->peers.n; i++) {
			struct ipc_raft_peer *p =
			    (struct ipc_raft_peer *)st->peers.v + i;

			if (p->voter)
				jw_str(&w, p->address);
		}
		jw_arr_close(&w);
	}
	{
		size_t len;
		char *js = jw_finish(&w, &len);

		http_respond(c->req, 200, "application/json", js, len, NULL);
		free(js);
	}
	call_free(c);
}

static void
status(struct api *a, struct http_req *req, int kind)
{
	struct call *c;

	if (!method_ok(req, "GET"))
		return;
	c = call_new(a, req);
	c->kind = kind;
	api_raftd(a, req, IPC_RAFT_CLUSTER_STATE, NULL, IPC_TIMEOUT_MS,
	    status_done, c);
}

static void
remove_done(int status, void *body, const char *errmsg, void *arg)
{
	struct call *c = arg;

	(void)body;
	if (status == -ENOENT)
		http_respond_text(c->req, 500, errmsg ? errmsg
						      : "no such Raft peer");
	else if (status < 0)
		respond_ipc_error(c->req, status, errmsg);
	else
		http_respond(c->req, 200, NULL, "", 0, NULL);
	call_free(c);
}

/* DELETE /v1/operator/raft/peer?address=ip:port | ?id=<hex> */
static void
remove_peer(struct api *a, struct http_req *req)
{
	const char *addr = http_query(req, "address");
	const char *id = http_query(req, "id");
	struct ipc_raft_remove q;
	struct call *c;
	char *end;

	if (!method_ok(req, "DELETE"))
		return;
	memset(&q, 0, sizeof(q));
	if ((addr == NULL) == (id == NULL)) {
		http_respond_text(req, 400,
		    "Must specify either ?id with the server's ID or "
		    "?address with IP:port of peer to remove");
		return;
	}
	if (id != NULL) {
		q.id = strtoull(id, &end, 16);
		if (*id == '\0' || *end != '\0' || q.id == 0) {
			http_respond_text(req, 400, "Invalid id");
			return;
		}
	} else {
		q.address = (char *)addr;
	}
	c = call_new(a, req);
	api_raftd(a, req, IPC_RAFT_REMOVE_PEER, &q, IPC_TIMEOUT_MS,
	    remove_done, c);
}

/* ------------------------------------------------------------ routing */

static void
handle(struct http_req *req, void *arg)
{
	struct api *a = arg;
	const char *dc;

	(*a->c_requests)++;
	dc = http_query(req, "dc");
	if (dc != NULL && strlen(dc) > 63) {
		http_respond_text(req, 400, "Invalid datacenter");
		return;
	}
	if (strncmp(req->path, "/v1/", 4) != 0) {
		/* "/" and the web UI (/ui/...); ui_dir implies the UI, as in
		 * Consul */
		struct ui_conf u = {a->conf->ui || (a->conf->ui_dir &&
						       *a->conf->ui_dir),
		    a->conf->ui_dir};

		if (!ui_handle(&u, req))
			http_respond(req, 404, NULL, "", 0, NULL);
	} else if (strncmp(req->path, "/v1/kv/", 7) == 0) {
		kv(a, req, req->path + 7);
	} else if (strcmp(req->path, "/v1/kv") == 0) {
		kv(a, req, "");
	} else if (strcmp(req->path, "/v1/status/leader") == 0) {
		status(a, req, K_LEADER);
	} else if (strcmp(req->path, "/v1/status/peers") == 0) {
		status(a, req, K_PEERS);
	} else if (strcmp(req->path, "/v1/operator/raft/configuration") == 0) {
		status(a, req, K_RAFT_CONFIG);
	} else if (strcmp(req->path, "/v1/operator/raft/peer") == 0) {
		remove_peer(a, req);
	} else if (strncmp(req->path, "/v1/session/", 12) == 0) {
		api_session(a, req, req->path + 12);
	} else if (strcmp(req->path, "/v1/txn") == 0) {
		api_txn(a, req);
	} else if (strcmp(req->path, "/v1/snapshot") == 0) {
		api_snapshot(a, req);
	} else if (strcmp(req->path, "/v1/query") == 0 ||
		   strncmp(req->path, "/v1/query/", 10) == 0) {
		api_query(a, req, req->path + 9);
	} else if (strncmp(req->path, "/v1/catalog/", 12) == 0) {
		api_catalog(a, req, req->path + 12);
	} else if (strncmp(req->path, "/v1/health/", 11) == 0) {
		api_health(a, req, req->path + 11);
	} else if (strncmp(req->path, "/v1/coordinate/", 15) == 0) {
		api_coordinate(a, req, req->path + 15);
	} else if (strcmp(req->path, "/v1/operator/keyring") == 0) {
		api_keyring(a, req);
	} else if (strncmp(req->path, "/v1/agent/", 10) == 0) {
		if (!api_local(a, req, req->path + 10))
			api_agent(a, req, req->path + 10);
	} else if (strncmp(req->path, "/v1/internal/ui/", 16) == 0) {
		api_ui(a, req, req->path + 16);
	} else if (strncmp(req->path, "/v1/event/", 10) == 0) {
		api_event(a, req, req->path + 10);
	} else {
		http_respond(req, 404, NULL, "", 0, NULL);
	}
}

int
api_init(struct daemon *d, struct http_server **out, struct errbuf *eb)
{
	const struct cairn_conf *cf = &d->conf;
	struct api *a = &the_api;
	struct http_limits lim;
	char path[512];
	const char *addr;
	int r = 0;

	memset(a, 0, sizeof(*a));
	a->loop = d->loop;
	a->max_query_ms = cf->max_query_time_ms ? cf->max_query_time_ms
						: 600000;
	a->default_query_ms = cf->default_query_time_ms
				  ? cf->default_query_time_ms
				  : 300000;
	if (RAND_bytes((unsigned char *)&a->client_id,
		sizeof(a->client_id)) != 1)
		a->client_id = ((uint64_t)getpid() << 32) ^ (uint64_t)time(NULL);
	a->datacenter = xstrdup(cf->datacenter ? cf->datacenter : "dc1");
	a->node_name = xstrdup(cf->node_name ? cf->node_name : "");
	a->session_ttl_min_ms = cf->session_ttl_min_ms ? cf->session_ttl_min_ms
							: 10000;
	a->txn_max_req_len = cf->txn_max_req_len > 0
				 ? (size_t)cf->txn_max_req_len
				 : 524288;
	a->c_requests = daemon_counter(d, "http.requests");
	a->c_errors = daemon_counter(d, "http.errors");
	if (ipc_socket_path(path, sizeof(path), cf->run_dir, "raftd") < 0)
		return errbuf_set(eb, -ENAMETOOLONG, "run_dir too long");
	if ((r = ipc_client_open(d->loop, path, &a->raftd, eb)) < 0)
		return r;
	if (ipc_socket_path(path, sizeof(path), cf->run_dir, "gossipd") < 0 ||
	    (r = ipc_client_open(d->loop, path, &a->gossipd, eb)) < 0) {
		ipc_client_close(a->raftd);
		return r < 0 ? r : -ENAMETOOLONG;
	}
	a->conf = &d->conf;
	{
		static const char *const names[5] = {"checkd", "raftd",
		    "gossipd", "dnsd", "httpd"};
		size_t i;

		for (i = 0; i < 5; i++) {
			if (ipc_socket_path(path, sizeof(path), cf->run_dir,
			    names[i]) < 0 || ipc_client_open(d->loop, path,
			    &a->reload[i], eb) < 0)
				return errbuf_set(eb, -ENAMETOOLONG,
				    "run_dir too long");
		}
		a->checkd = a->reload[0];
	}
	snprintf(path, sizeof(path), "%s/gossipd.events", cf->run_dir);
	if ((r = ipc_sub_open(d->loop, path, on_gossip, a, &a->gevents,
		 eb)) < 0) {
		ipc_client_close(a->raftd);
		ipc_client_close(a->gossipd);
		return r;
	}
	snprintf(path, sizeof(path), "%s/raftd.events", cf->run_dir);
	if ((r = ipc_sub_open(d->loop, path, on_change, a, &a->events, eb)) <
	    0) {
		ipc_client_close(a->raftd);
		return r;
	}
	memset(&lim, 0, sizeof(lim));
	lim.max_body = (size_t)cf->kv_max_value_size;
	lim.max_restore_body = API_MAX_RESTORE_BYTES;
	lim.max_conns_per_ip = (unsigned)cf->http_max_conns_per_client;
	addr = cf->addr_http && *cf->addr_http ? cf->addr_http
					       : cf->client_addr;
	if (cf->port_http < 0) {
		*out = NULL;
		return 0; /* HTTP disabled */
	}
	if ((r = http_server_open(d->loop, addr, (int)cf->port_http, &lim,
		 handle, a, out, eb)) < 0) {
		ipc_client_close(a->raftd);
		a->raftd = NULL;
		return r;
	}
	log_info("HTTP API on %s:%lld", addr, (long long)cf->port_http);
	return 0;
}

void
api_close(struct http_server *s)
{
	api_monitor_close();
	/* parked blocking queries are answered from the current state:
	 * nothing - they end with their connections */
	while (the_api.blocked != NULL) {
		struct call *c = the_api.blocked;

		unpark(c);
		http_respond_text(c->req, 500, "agent is stopping");
		call_free(c);
	}
	ipc_sub_close(the_api.events);
	the_api.events = NULL;
	ipc_sub_close(the_api.gevents);
	the_api.gevents = NULL;
	/* pending calls get -ECANCELED and answer their requests first */
	ipc_client_close(the_api.raftd);
	the_api.raftd = NULL;
	ipc_client_close(the_api.gossipd);
	the_api.gossipd = NULL;
	{
		size_t i;

		for (i = 0; i < 5; i++) {
			ipc_client_close(the_api.reload[i]);
			the_api.reload[i] = NULL;
		}
		the_api.checkd = NULL;
	}
	http_server_close(s);
	free(the_api.datacenter);
	free(the_api.node_name);
	the_api.datacenter = the_api.node_name = NULL;
}
