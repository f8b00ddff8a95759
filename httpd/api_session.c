/* api_session.c - /v1/session: create, destroy, info, node, list, renew
 * (spec/consul-compat.md sections 1.5 and 7), through raftd. */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#include "api_int.h"
#include "jdec.h"
#include "uuid.h"
#include "xmalloc.h"

#define LOCK_DELAY_DEFAULT_NS 15000000000ull /* 15 s */
#define LOCK_DELAY_MAX_NS 60000000000ull     /* 60 s */
#define SESSION_TTL_MAX_MS 86400000ull	     /* 24 h */

enum { S_INFO, S_NODE, S_LIST, S_RENEW };

/* ------------------------------------------------------------ output */

static void
jw_strlist(struct jw *w, const struct cdc_strlist *l)
{
	size_t i;

	if (l->n == 0) {
		jw_null(w);
		return;
	}
	jw_arr_open(w);
	for (i = 0; i < l->n; i++)
		jw_str(w, l->v[i]);
	jw_arr_close(w);
}

static void
jw_session(struct jw *w, const struct ipc_session *s)
{
	size_t i;

	jw_obj_open(w);
	jw_key(w, "ID");
	jw_str(w, s->id ? s->id : "");
	jw_key(w, "Name");
	jw_str(w, s->name ? s->name : "");
	jw_key(w, "Node");
	jw_str(w, s->node ? s->node : "");
	jw_key(w, "Checks"); /* Consul <= 1.6; harmless for newer clients */
	jw_strlist(w, &s->node_checks);
	jw_key(w, "NodeChecks");
	jw_strlist(w, &s->node_checks);
	jw_key(w, "ServiceChecks");
	if (s->service_checks.n == 0) {
		jw_null(w);
	} else {
		jw_arr_open(w);
		for (i = 0; i < s->service_checks.n; i++) {
			jw_obj_open(w);
			jw_key(w, "ID");
			jw_str(w, s->service_checks.v[i]);
			jw_key(w, "Namespace");
			jw_str(w, "");
			jw_obj_close(w);
		}
		jw_arr_close(w);
	}
	jw_key(w, "LockDelay");
	jw_uint(w, s->lock_delay);
	jw_key(w, "Behavior");
	jw_str(w, s->behavior ? s->behavior : "release");
	jw_key(w, "TTL");
	jw_str(w, s->ttl ? s->ttl : "");
	jw_indexes(w, s->create_index, s->modify_index);
	jw_obj_close(w);
}

static void
read_done(int status, void *body, const char *errmsg, void *arg)
{
	struct call *c = arg;
	struct ipc_session_read_reply *rep = body;
	struct jw w;
	size_t i;

	if (status == -ENOENT && c->kind == S_RENEW) {
		http_respond_text(c->req, 404, errmsg ? errmsg : "not found");
		call_free(c);
		return;
	}
	if (status < 0) {
		(*c->api->c_errors)++;
		respond_ipc_error(c->req, status, errmsg);
		call_free(c);
		return;
	}
	if (call_park(c, rep->index))
		return;
	jw_init(&w, c->pretty);
	jw_arr_open(&w);
	for (i = 0; i < rep->sessions.n; i++)
		jw_session(&w, (struct ipc_session *)rep->sessions.v + i);
	jw_arr_close(&w);
	respond_json(c->req, &w, rep->index, rep->known_leader,
	    rep->last_contact_ms);
	call_free(c);
}

/* ------------------------------------------------------------ create */

struct svc_check {
	char *id;
	char *ns;
};

static const struct jd_field svc_check_fields[] = {
    {"ID", NULL, JD_STR, offsetof(struct svc_check, id), NULL, 0, 0},
    {"Namespace", NULL, JD_STR, offsetof(struct svc_check, ns), NULL, 0, 0},
    {NULL, NULL, JD_STR, 0, NULL, 0, 0},
};

struct create_req {
	char *name, *node, *behavior, *ttl;
	struct jd_strlist checks, node_checks;
	struct jd_list service_checks;
	yajl_val lock_delay;
};

static const struct jd_field create_fields[] = {
    {"Name", NULL, JD_STR, offsetof(struct create_req, name), NULL, 0, 0},
    {"Node", NULL, JD_STR, offsetof(struct create_req, node), NULL, 0, 0},
    {"Behavior", NULL, JD_STR, offsetof(struct create_req, behavior), NULL,
	0, 0},
    {"TTL", NULL, JD_STR, offsetof(struct create_req, ttl), NULL, 0, 0},
    {"Checks", NULL, JD_STRLIST, offsetof(struct create_req, checks), NULL,
	0, 0},
    {"NodeChecks", "node_checks", JD_STRLIST,
	offsetof(struct create_req, node_checks), NULL, 0, 0},
    {"ServiceChecks", "service_checks", JD_OBJLIST,
	offsetof(struct create_req, service_checks), svc_check_fields,
	sizeof(struct svc_check), 0},
    {"LockDelay", "lock_delay", JD_RAW, offsetof(struct create_req, lock_delay),
	NULL, 0, 0},
    {NULL, NULL, JD_STR, 0, NULL, 0, 0},
};

/* lock_delay - a duration string, or a number: < 1000 seconds, else ns */
static int
lock_delay(yajl_val v, uint64_t *ns, char *err, size_t errlen)
{
	int64_t d;

	*ns = LOCK_DELAY_DEFAULT_NS;
	if (v == NULL || YAJL_IS_NULL(v))
		return 0;
	if (YAJL_IS_STRING(v)) {
		if (jd_duration_parse(YAJL_GET_STRING(v), &d) < 0 || d < 0) {
			snprintf(err, errlen,
			    "Request decode failed: LockDelay: invalid "
			    "duration \"%.40s\"",
			    YAJL_GET_STRING(v));
			return -1;
		}
	} else if (YAJL_IS_INTEGER(v) && YAJL_GET_INTEGER(v) >= 0) {
		d = YAJL_GET_INTEGER(v);
		if (d < 1000)
			d *= 1000000000ll;
	} else {
		snprintf(err, errlen,
		    "Request decode failed: LockDelay: expected a duration");
		return -1;
	}
	*ns = (uint64_t)d > LOCK_DELAY_MAX_NS ? LOCK_DELAY_MAX_NS : (uint64_t)d;
	return 0;
}


static void
strlist_add(struct cdc_strlist *l, const char *s)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->v[i], s) == 0)
			return;
	l->v = xreallocarray(l->v, l->n + 1, sizeof(*l->v));
	l->v[l->n++] = xstrdup(s);
}

static void
create_done(int status, void *body, const char *errmsg, void *arg)
{
	struct call *c = arg;
	struct ipc_raft_result *res = body;
	struct jw w;

	if (status < 0) {
		(*c->api->c_errors)++;
		respond_ipc_error(c->req, status, errmsg);
	} else if (!res->ok) {
		const struct ipc_txn_error *e = res->errors.v;

		http_respond_text(c->req, 500,
		    res->errors.n > 0 && e->what ? e->what
						 : "session could not be created");
	} else {
		jw_init(&w, c->pretty);
		jw_obj_open(&w);
		jw_key(&w, "ID");
		jw_str(&w, c->arg);
		jw_obj_close(&w);
		respond_json(c->req, &w, res->index, true, 0);
	}
	call_free(c);
}

static bool
blank(const struct buf *b)
{
	size_t i;

	for (i = 0; i < b->len; i++)
		if (b->data[i] != ' ' && b->data[i] != '\t' &&
		    b->data[i] != '\r' && b->data[i] != '\n')
			return false;
	return true;
}

static void
create(struct api *a, struct http_req *req)
{
	struct create_req cr;
	struct ipc_raft_cmd cmd;
	struct ipc_session *s = &cmd.sess;
	struct errbuf eb;
	yajl_val tree = NULL;
	struct call *c;
	char id[37], err[400];
	int64_t ttl_ns = 0;
	size_t i;

	memset(&cr, 0, sizeof(cr));
	memset(&cmd, 0, sizeof(cmd));
	if (!blank(&req->body)) {
		tree = json_parse((const char *)req->body.data, req->body.len,
		    &eb);
		if (tree == NULL) {
			snprintf(err, sizeof(err), "Request decode failed: %s",
			    eb.msg);
			http_respond_text(req, 400, err);
			return;
		}
		if (jd_decode(tree, create_fields, &cr, &eb) < 0) {
			http_respond_text(req, 400, eb.msg);
			goto out;
		}
	}
	if (lock_delay(cr.lock_delay, &s->lock_delay, err, sizeof(err)) < 0) {
		http_respond_text(req, 400, err);
		goto out;
	}
	if (cr.behavior && *cr.behavior && strcmp(cr.behavior, "release") &&
	    strcmp(cr.behavior, "delete")) {
		snprintf(err, sizeof(err), "Invalid Behavior setting '%.40s'",
		    cr.behavior);
		http_respond_text(req, 500, err);
		goto out;
	}
	if (cr.ttl && *cr.ttl) {
		if (jd_duration_parse(cr.ttl, &ttl_ns) < 0) {
			snprintf(err, sizeof(err),
			    "Request decode failed: TTL: invalid duration "
			    "\"%.40s\"",
			    cr.ttl);
			http_respond_text(req, 400, err);
			goto out;
		}
		if (ttl_ns != 0 &&
		    (ttl_ns < (int64_t)a->session_ttl_min_ms * 1000000 ||
			ttl_ns > (int64_t)SESSION_TTL_MAX_MS * 1000000)) {
			snprintf(err, sizeof(err),
			    "Invalid Session TTL '%" PRId64
			    "', must be between [%" PRIu64 "s=24h0m0s]",
			    ttl_ns, a->session_ttl_min_ms / 1000);
			http_respond_text(req, 500, err);
			goto out;
		}
	}
	if (uuid4(id) < 0) {
		http_respond_text(req, 500, "no randomness for a session ID");
		goto out;
	}
	s->id = id;
	s->name = cr.name ? cr.name : (char *)"";
	s->node = cr.node && *cr.node ? cr.node : a->node_name;
	s->behavior = cr.behavior && *cr.behavior ? cr.behavior
						  : (char *)"release";
	s->ttl = ttl_ns ? cr.ttl : NULL;
	s->ttl_ms = (uint64_t)ttl_ns / 1000000;
	/* an explicit Checks or NodeChecks, even [], replaces the default */
	if (!cr.checks.set && !cr.node_checks.set)
		strlist_add(&s->node_checks, "serfHealth");
	for (i = 0; i < cr.checks.n; i++)
		strlist_add(&s->node_checks, cr.checks.v[i]);
	for (i = 0; i < cr.node_checks.n; i++)
		strlist_add(&s->node_checks, cr.node_checks.v[i]);
	for (i = 0; i < cr.service_checks.n; i++) {
		struct svc_check *sc =
		    (struct svc_check *)cr.service_checks.v + i;

		if (sc->id && *sc->id)
			strlist_add(&s->service_checks, sc->id);
	}
	/* raftd refuses an unknown node or a bound check that is missing or
	 * critical ("Missing node registration", "Check 'x' is in critical
	 * state"), and invalidates the session when a bound check goes
	 * critical */
	c = call_new(a, req);
	c->arg = xstrdup(id);
	cmd.op = RAFT_OP_SESSION_CREATE;
	cmd.client_id = a->client_id;
	cmd.seq = ++a->seq;
	api_raftd(a, req, IPC_RAFT_APPLY, &cmd, API_IPC_TIMEOUT_MS,
	    create_done, c);
	for (i = 0; i < s->node_checks.n; i++)
		free(s->node_checks.v[i]);
	free(s->node_checks.v);
	for (i = 0; i < s->service_checks.n; i++)
		free(s->service_checks.v[i]);
	free(s->service_checks.v);
out:
	jd_free(create_fields, &cr);
	if (tree)
		yajl_tree_free(tree);
}

/* ----------------------------------------------------------- destroy */

static void
destroy_done(int status, void *body, const char *errmsg, void *arg)
{
	struct call *c = arg;

	(void)body;
	if (status < 0) {
		(*c->api->c_errors)++;
		respond_ipc_error(c->req, status, errmsg);
	} else {
		http_respond(c->req, 200, "application/json", "true", 4, NULL);
	}
	call_free(c);
}

static void
destroy(struct api *a, struct http_req *req, const char *id)
{
	struct ipc_raft_cmd cmd;
	struct call *c;

	if (*id == '\0') {
		http_respond_text(req, 400, "Missing session");
		return;
	}
	if (strlen(id) > 36) {
		/* no such session: destroying nothing succeeds */
		http_respond(req, 200, "application/json", "true", 4, NULL);
		return;
	}
	memset(&cmd, 0, sizeof(cmd));
	c = call_new(a, req);
	c->arg = xstrdup(id);
	cmd.op = RAFT_OP_SESSION_DESTROY;
	cmd.session = c->arg;
	cmd.client_id = a->client_id;
	cmd.seq = ++a->seq;
	api_raftd(a, req, IPC_RAFT_APPLY, &cmd, API_IPC_TIMEOUT_MS,
	    destroy_done, c);
}

/* -------------------------------------------------------------- reads */

static void
sess_read(struct api *a, struct http_req *req, int kind, const char *arg)
{
	struct call *c;
	int mode = 0;

	if (kind != S_RENEW && (mode = read_mode(req)) < 0)
		return;
	if (kind != S_LIST && *arg == '\0') {
		http_respond_text(req, 400,
		    kind == S_NODE ? "Missing node name" : "Missing session");
		return;
	}
	c = call_new(a, req);
	c->kind = kind;
	c->arg = xstrdup(arg);
	c->sq.mode = (uint32_t)mode;
	if (kind == S_NODE)
		c->sq.node = c->arg;
	else if (kind != S_LIST)
		c->sq.id = c->arg;
	c->rtype = kind == S_RENEW ? IPC_SESSION_RENEW : IPC_SESSION_READ;
	c->rq = &c->sq;
	c->done = read_done;
	c->table = "sessions";
	if (kind != S_RENEW && http_query(req, "index") != NULL &&
	    start_blocking(a, c, req) < 0)
		return;
	call_issue(c);
}

void
api_session(struct api *a, struct http_req *req, const char *rest)
{
	if (strcmp(rest, "create") == 0) {
		if (method_ok(req, "PUT"))
			create(a, req);
	} else if (strncmp(rest, "destroy/", 8) == 0) {
		if (method_ok(req, "PUT"))
			destroy(a, req, rest + 8);
	} else if (strncmp(rest, "renew/", 6) == 0) {
		if (method_ok(req, "PUT"))
			sess_read(a, req, S_RENEW, rest + 6);
	} else if (strncmp(rest, "info/", 5) == 0) {
		if (method_ok(req, "GET"))
			sess_read(a, req, S_INFO, rest + 5);
	} else if (strncmp(rest, "node/", 5) == 0) {
		if (method_ok(req, "GET"))
			sess_read(a, req, S_NODE, rest + 5);
	} else if (strcmp(rest, "list") == 0) {
		if (method_ok(req, "GET"))
			sess_read(a, req, S_LIST, "");
	} else {
		http_respond(req, 404, NULL, "", 0, NULL);
	}
}
