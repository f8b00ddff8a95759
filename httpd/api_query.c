/* api_query.c - /v1/query: Consul's prepared queries.  Definitions are
 * decoded here (Consul's JSON rules, common/jdec.h) and stored through
 * the log; execute and explain are raftd's (IPC_QUERY_EXECUTE: the
 * query's healthy instances here, or in its failover datacenters), and
 * the answer is shuffled, or sorted by RTT with ?near or the query's
 * Near, then cut to ?limit. */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "cfg.h"
#include "jdec.h"
#include "log.h"
#include "pquery.h"
#include "uuid.h"
#include "xmalloc.h"

struct pq_failover {
	uint64_t nearest_n;
	struct jd_strlist datacenters;
};

struct pq_service {
	char *service;
	struct pq_failover failover;
	bool only_passing;
	char *near;
	struct jd_strlist tags;
	struct jd_strmap node_meta, service_meta;
	struct jd_strlist ignore_check_ids;
};

struct pq_in {
	char *id, *name, *session, *token;
	struct pq_service service;
	char *ttl;
	char *ttype, *regexp;
	bool remove_empty_tags;
};

static const struct jd_field failover_fields[] = {
    {"NearestN", NULL, JD_U64, offsetof(struct pq_failover, nearest_n),
	NULL, 0, 0},
    {"Datacenters", NULL, JD_STRLIST,
	offsetof(struct pq_failover, datacenters), NULL, 0, 0},
    {NULL, NULL, JD_STR, 0, NULL, 0, 0},
};

static const struct jd_field service_fields[] = {
    {"Service", NULL, JD_STR, offsetof(struct pq_service, service), NULL, 0,
	0},
    {"Failover", NULL, JD_OBJ, offsetof(struct pq_service, failover),
	failover_fields, 0, 0},
    {"OnlyPassing", NULL, JD_BOOL, offsetof(struct pq_service, only_passing),
	NULL, 0, 0},
    {"Near", NULL, JD_STR, offsetof(struct pq_service, near), NULL, 0, 0},
    {"Tags", NULL, JD_STRLIST, offsetof(struct pq_service, tags), NULL, 0,
	0},
    {"NodeMeta", NULL, JD_STRMAP, offsetof(struct pq_service, node_meta),
	NULL, 0, 0},
    {"ServiceMeta", NULL, JD_STRMAP,
	offsetof(struct pq_service, service_meta), NULL, 0, 0},
    {"IgnoreCheckIDs", NULL, JD_STRLIST,
	offsetof(struct pq_service, ignore_check_ids), NULL, 0, 0},
    {NULL, NULL, JD_STR, 0, NULL, 0, 0},
};

struct pq_dns {
	char *ttl;
};

static const struct jd_field dns_fields[] = {
    {"TTL", NULL, JD_STR, offsetof(struct pq_dns, ttl), NULL, 0, 0},
    {NULL, NULL, JD_STR, 0, NULL, 0, 0},
};

struct pq_tmpl {
	char *type, *regexp;
	bool remove_empty_tags;
};

static const struct jd_field tmpl_fields[] = {
    {"Type", NULL, JD_STR, offsetof(struct pq_tmpl, type), NULL, 0, 0},
    {"Regexp", NULL, JD_STR, offsetof(struct pq_tmpl, regexp), NULL, 0, 0},
    {"RemoveEmptyTags", NULL, JD_BOOL,
	offsetof(struct pq_tmpl, remove_empty_tags), NULL, 0, 0},
    {NULL, NULL, JD_STR, 0, NULL, 0, 0},
};

struct pq_doc {
	char *id, *name, *session, *token;
	struct pq_service service;
	struct pq_dns dns;
	struct pq_tmpl tmpl;
};

static const struct jd_field query_fields[] = {
    {"ID", NULL, JD_STR, offsetof(struct pq_doc, id), NULL, 0, 0},
    {"Name", NULL, JD_STR, offsetof(struct pq_doc, name), NULL, 0, 0},
    {"Session", NULL, JD_STR, offsetof(struct pq_doc, session), NULL, 0, 0},
    {"Token", NULL, JD_STR, offsetof(struct pq_doc, token), NULL, 0, 0},
    {"Service", NULL, JD_OBJ, offsetof(struct pq_doc, service),
	service_fields, 0, 0},
    {"DNS", NULL, JD_OBJ, offsetof(struct pq_doc, dns), dns_fields, 0, 0},
    {"Template", NULL, JD_OBJ, offsetof(struct pq_doc, tmpl), tmpl_fields, 0,
	0},
    {NULL, NULL, JD_STR, 0, NULL, 0, 0},
};

/* "k=v" strings of a JSON map (owned) */
static void
kv_strings(const struct jd_strmap *m, struct cdc_strlist *out)
{
	size_t i;

	out->v = xcalloc(m->n + 1, sizeof(char *));
	out->n = m->n;
	for (i = 0; i < m->n; i++) {
		out->v[i] = xmalloc(strlen(m->k[i]) + strlen(m->v[i]) + 2);
		sprintf(out->v[i], "%s=%s", m->k[i], m->v[i]);
	}
}

static void
strings_free(struct cdc_strlist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* to_pquery - the decoded document as the stored form; strings are
 * borrowed from d except the meta lists (free with strings_free) */
static void
to_pquery(const struct pq_doc *d, struct ipc_pquery *q)
{
	memset(q, 0, sizeof(*q));
	q->id = d->id;
	q->name = d->name;
	q->session = d->session;
	q->token = d->token;
	q->service = d->service.service;
	q->nearest_n = (uint32_t)d->service.failover.nearest_n;
	q->failover_dcs.v = d->service.failover.datacenters.v;
	q->failover_dcs.n = d->service.failover.datacenters.n;
	q->only_passing = d->service.only_passing;
	q->near = d->service.near;
	q->tags.v = d->service.tags.v;
	q->tags.n = d->service.tags.n;
	kv_strings(&d->service.node_meta, &q->node_meta);
	kv_strings(&d->service.service_meta, &q->service_meta);
	q->ignore_check_ids.v = d->service.ignore_check_ids.v;
	q->ignore_check_ids.n = d->service.ignore_check_ids.n;
	q->dns_ttl = d->dns.ttl;
	q->template_type = d->tmpl.type;
	q->template_regexp = d->tmpl.regexp;
	q->remove_empty_tags = d->tmpl.remove_empty_tags;
}

/* ------------------------------------------------------------ output */

static void
jw_strlist(struct jw *w, const struct cdc_strlist *l, bool null_if_empty)
{
	size_t i;

	if (l->n == 0 && null_if_empty) {
		jw_null(w);
		return;
	}
	jw_arr_open(w);
	for (i = 0; i < l->n; i++)
		jw_str(w, l->v[i]);
	jw_arr_close(w);
}

static void
jw_pquery(struct jw *w, const struct ipc_pquery *q)
{
	jw_obj_open(w);
	jw_key(w, "ID");
	jw_str(w, q->id ? q->id : "");
	jw_key(w, "Name");
	jw_str(w, q->name ? q->name : "");
	jw_key(w, "Session");
	jw_str(w, q->session ? q->session : "");
	jw_key(w, "Token");
	jw_str(w, q->token ? q->token : "");
	jw_key(w, "Template");
	jw_obj_open(w);
	jw_key(w, "Type");
	jw_str(w, q->template_type ? q->template_type : "");
	jw_key(w, "Regexp");
	jw_str(w, q->template_regexp ? q->template_regexp : "");
	jw_key(w, "RemoveEmptyTags");
	jw_bool(w, q->remove_empty_tags);
	jw_obj_close(w);
	jw_key(w, "Service");
	jw_obj_open(w);
	jw_key(w, "Service");
	jw_str(w, q->service ? q->service : "");
	jw_key(w, "Failover");
	jw_obj_open(w);
	jw_key(w, "NearestN");
	jw_uint(w, q->nearest_n);
	jw_key(w, "Datacenters");
	jw_strlist(w, &q->failover_dcs, true);
	jw_obj_close(w);
	jw_key(w, "OnlyPassing");
	jw_bool(w, q->only_passing);
	jw_key(w, "IgnoreCheckIDs");
	jw_strlist(w, &q->ignore_check_ids, true);
	jw_key(w, "Near");
	jw_str(w, q->near ? q->near : "");
	jw_key(w, "Tags");
	jw_strlist(w, &q->tags, true);
	jw_key(w, "NodeMeta");
	jw_kvmap(w, &q->node_meta, true);
	jw_key(w, "ServiceMeta");
	jw_kvmap(w, &q->service_meta, true);
	jw_key(w, "Connect");
	jw_obj_open(w);
	jw_key(w, "Enabled");
	jw_bool(w, false);
	jw_obj_close(w);
	jw_obj_close(w);
	jw_key(w, "DNS");
	jw_obj_open(w);
	jw_key(w, "TTL");
	jw_str(w, q->dns_ttl ? q->dns_ttl : "");
	jw_obj_close(w);
	jw_indexes(w, q->create_index, q->modify_index);
	jw_obj_close(w);
}

/* ------------------------------------------------------------ writes */

static void
write_done(int status, void *body, const char *errmsg, void *arg)
{
	struct call *c = arg;
	struct ipc_raft_result *res = body;
	struct jw w;

	if (status < 0) {
		(*c->api->c_errors)++;
		respond_ipc_error(c->req, status, errmsg);
	} else if (res->err == RAFT_ERR_QUERY_NAME) {
		http_respond_text(c->req, 400,
		    "Name is already in use by another query");
	} else if (res->err == RAFT_ERR_NO_SESSION) {
		http_respond_text(c->req, 400, "Invalid session");
	} else if (res->err == RAFT_ERR_NOT_FOUND) {
		http_respond_text(c->req, 404, "Query not found");
	} else if (res->err != RAFT_ERR_NONE) {
		http_respond_text(c->req, 400, "Invalid query");
	} else if (c->arg != NULL) {
		/* POST: the new ID */
		jw_init(&w, c->pretty);
		jw_obj_open(&w);
		jw_key(&w, "ID");
		jw_str(&w, c->arg);
		jw_obj_close(&w);
		respond_json(c->req, &w, res->index, true, 0);
	} else {
		http_respond(c->req, 200, NULL, "", 0, NULL);
	}
	call_free(c);
}

/* query_write - POST /v1/query (id NULL: a new one), PUT /v1/query/<id> */
static void
query_write(struct api *a, struct http_req *req, const char *id)
{
	struct ipc_raft_cmd cmd;
	struct pq_doc d;
	struct errbuf eb;
	struct call *c;
	char nid[37];
	uint64_t ttl;

	memset(&d, 0, sizeof(d));
	if (jd_decode_text((const char *)req->body.data, req->body.len,
		query_fields, &d, &eb) < 0) {
		http_respond_text(req, 400, eb.msg);
		jd_free(query_fields, &d);
		return;
	}
	if (id == NULL) {
		if (uuid4(nid) < 0) {
			http_respond_text(req, 500, "no random source");
			jd_free(query_fields, &d);
			return;
		}
		id = nid;
	}
	free(d.id);
	d.id = xstrdup(id);
	memset(&cmd, 0, sizeof(cmd));
	to_pquery(&d, &cmd.pquery);
	if (pq_check(&cmd.pquery, &eb) < 0 ||
	    (d.dns.ttl != NULL && *d.dns.ttl != '\0' &&
		cfg_duration_parse(d.dns.ttl, &ttl) < 0 &&
		errbuf_set(&eb, -EINVAL, "Bad DNS TTL '%s'", d.dns.ttl))) {
		http_respond_text(req, 400, eb.msg);
		goto out;
	}
	c = call_new(a, req);
	if (id == nid)
		c->arg = xstrdup(nid);
	cmd.op = RAFT_OP_QUERY_SET;
	/* an update must find the query */
	cmd.cas = c->arg == NULL ? 1 : 0;
	cmd.client_id = a->client_id;
	cmd.seq = ++a->seq;
	api_raftd(a, req, IPC_RAFT_APPLY, &cmd, API_IPC_TIMEOUT_MS, write_done,
	    c);
out:
	strings_free(&cmd.pquery.node_meta);
	strings_free(&cmd.pquery.service_meta);
	jd_free(query_fields, &d);
}

static void
query_delete(struct api *a, struct http_req *req, const char *id)
{
	struct ipc_raft_cmd cmd;

	memset(&cmd, 0, sizeof(cmd));
	cmd.op = RAFT_OP_QUERY_DELETE;
	cmd.key = (char *)id;
	cmd.client_id = a->client_id;
	cmd.seq = ++a->seq;
	api_raftd(a, req, IPC_RAFT_APPLY, &cmd, API_IPC_TIMEOUT_MS, write_done,
	    call_new(a, req));
}

/* ------------------------------------------------------------- reads */

static void
read_done(int status, void *body, const char *errmsg, void *arg)
{
	struct call *c = arg;
	struct ipc_query_list *l = body;
	struct jw w;
	size_t i;

	if (status < 0) {
		respond_ipc_error(c->req, status, errmsg);
		call_free(c);
		return;
	}
	if (call_park(c, l->index))
		return;
	if (c->qq.id != NULL && *c->qq.id != '\0' && l->queries.n == 0) {
		http_respond_text(c->req, 404, "Query not found");
		call_free(c);
		return;
	}
	jw_init(&w, c->pretty);
	jw_arr_open(&w);
	for (i = 0; i < l->queries.n; i++)
		jw_pquery(&w, (struct ipc_pquery *)l->queries.v + i);
	jw_arr_close(&w);
	respond_json(c->req, &w, l->index, l->known_leader,
	    l->last_contact_ms);
	call_free(c);
}

static void
query_read(struct api *a, struct http_req *req, const char *id)
{
	struct call *c;
	int mode;

	if ((mode = read_mode(req)) < 0)
		return;
	c = call_new(a, req);
	c->arg = xstrdup(id);
	c->qq.id = c->arg;
	c->qq.mode = (uint32_t)mode;
	c->rtype = IPC_QUERY_READ;
	c->rq = &c->qq;
	c->done = read_done;
	c->table = "queries";
	if (http_query(req, "index") != NULL && start_blocking(a, c, req) < 0)
		return;
	call_issue(c);
}

/* shuffle - Consul answers in random order unless asked to sort */
static void
shuffle(struct ipc_catalog_reply *rep)
{
	struct ipc_service *sv = rep->services.v, t;
	size_t i;

	for (i = rep->services.n; i > 1; i--) {
		size_t k = (size_t)rand() % i;

		t = sv[i - 1];
		sv[i - 1] = sv[k];
		sv[k] = t;
	}
}

static void
exec_done(int status, void *body, const char *errmsg, void *arg)
{
	struct call *c = arg;
	struct ipc_query_result *res = body;
	struct ipc_catalog_reply *cat;
	struct jw w;
	uint64_t limit = 0;
	size_t i;

	if (status < 0) {
		if (status == -ENOENT)
			http_respond_text(c->req, 404, errmsg ? errmsg
							      : "Query not found");
		else if (status == -EINVAL)
			http_respond_text(c->req, 400, errmsg ? errmsg
							      : "Bad query");
		else
			respond_ipc_error(c->req, status, errmsg);
		call_free(c);
		return;
	}
	jw_init(&w, c->pretty);
	if (c->xq.explain) {
		jw_obj_open(&w);
		jw_key(&w, "Query");
		jw_pquery(&w, &res->query);
		jw_obj_close(&w);
		respond_json(c->req, &w, res->index, res->known_leader,
		    res->last_contact_ms);
		call_free(c);
		return;
	}
	cat = &res->catalog;
	if (c->near == NULL && res->query.near != NULL &&
	    *res->query.near != '\0' && !api_remote_dc(c->api, c->req) &&
	    strcmp(res->datacenter ? res->datacenter : "",
		c->api->datacenter) == 0) {
		/* the query's own Near: coordinates first, then again */
		struct ipc_pool_req q = {false};

		c->near = xstrdup(res->query.near);
		jw_free(&w);
		ipc_call(c->api->gossipd, IPC_GOSSIP_MEMBERS, &q,
		    API_IPC_TIMEOUT_MS, near_done, c);
		return;
	}
	if (c->near != NULL && strcmp(res->datacenter ? res->datacenter : "",
				   c->api->datacenter) == 0)
		sort_by_near(c, cat);
	else
		shuffle(cat);
	parse_u64(http_query(c->req, "limit"), &limit);
	jw_obj_open(&w);
	jw_key(&w, "Service");
	jw_str(&w, res->query.service ? res->query.service : "");
	jw_key(&w, "Nodes");
	jw_arr_open(&w);
	for (i = 0; i < cat->services.n && (limit == 0 || i < limit); i++)
		jw_health_entry(&w, cat,
		    (struct ipc_service *)cat->services.v + i);
	jw_arr_close(&w);
	jw_key(&w, "DNS");
	jw_obj_open(&w);
	jw_key(&w, "TTL");
	jw_str(&w, res->query.dns_ttl ? res->query.dns_ttl : "");
	jw_obj_close(&w);
	jw_key(&w, "Datacenter");
	jw_str(&w, res->datacenter ? res->datacenter : "");
	jw_key(&w, "Failovers");
	jw_uint(&w, res->failovers);
	jw_obj_close(&w);
	respond_json(c->req, &w, res->index, res->known_leader,
	    res->last_contact_ms);
	call_free(c);
}

static void
query_exec(struct api *a, struct http_req *req, const char *name,
    bool explain)
{
	const char *near = http_query(req, "near");
	struct call *c;
	uint64_t limit;
	int mode;

	if ((mode = read_mode(req)) < 0)
		return;
	if (http_query(req, "limit") != NULL &&
	    !parse_u64(http_query(req, "limit"), &limit)) {
		http_respond_text(req, 400, "Invalid limit");
		return;
	}
	c = call_new(a, req);
	c->arg = xstrdup(name);
	c->xq.name = c->arg;
	c->xq.explain = explain;
	c->xq.mode = (uint32_t)mode;
	c->rtype = IPC_QUERY_EXECUTE;
	c->rq = &c->xq;
	c->done = exec_done;
	if (!explain && near != NULL && *near != '\0' &&
	    !api_remote_dc(a, req)) {
		struct ipc_pool_req q = {false};

		c->near = xstrdup(near);
		ipc_call(a->gossipd, IPC_GOSSIP_MEMBERS, &q, API_IPC_TIMEOUT_MS,
		    near_done, c);
		return;
	}
	call_issue(c);
}

void
api_query(struct api *a, struct http_req *req, const char *rest)
{
	const char *slash;
	char id[128];

	if (*rest == '\0') {
		/* /v1/query */
		if (!method_ok(req, "GET,POST"))
			return;
		if (strcmp(req->method, "POST") == 0)
			query_write(a, req, NULL);
		else
			query_read(a, req, "");
		return;
	}
	rest++; /* the "/" */
	slash = strchr(rest, '/');
	if ((slash ? (size_t)(slash - rest) : strlen(rest)) >= sizeof(id) ||
	    (slash ? slash == rest : *rest == '\0')) {
		http_respond_text(req, 404, "Query not found");
		return;
	}
	snprintf(id, sizeof(id), "%.*s",
	    (int)(slash ? (size_t)(slash - rest) : strlen(rest)), rest);
	if (slash != NULL) {
		bool explain = strcmp(slash, "/explain") == 0;

		if (!explain && strcmp(slash, "/execute") != 0) {
			http_respond(req, 404, NULL, "", 0, NULL);
			return;
		}
		if (!method_ok(req, "GET"))
			return;
		query_exec(a, req, id, explain);
		return;
	}
	if (!method_ok(req, "GET,PUT,DELETE"))
		return;
	if (strcmp(req->method, "GET") == 0)
		query_read(a, req, id);
	else if (strcmp(req->method, "PUT") == 0)
		query_write(a, req, id);
	else
		query_delete(a, req, id);
}
