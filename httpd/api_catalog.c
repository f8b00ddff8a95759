/* api_catalog.c - the catalog in raftd: /v1/catalog/register,
 * deregister, datacenters, nodes, services, service/<s>, node/<n> and
 * /v1/health/node/<n>, checks/<s>, service/<s>, state/<state>, blocking
 * (spec/consul-compat.md sections 1.3, 1.4). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "jdec.h"
#include "vivaldi.h"
#include "xmalloc.h"

enum { C_NODES, C_NODE_HEALTH, C_SERVICES, C_SERVICE, C_NODE, C_HEALTH_SERVICE,
    C_SERVICE_CHECKS, C_STATE };

void
jw_kvmap(struct jw *w, const struct cdc_strlist *l, bool null_if_empty)
{
	size_t i;

	if (l->n == 0 && null_if_empty) {
		jw_null(w);
		return;
	}
	jw_obj_open(w);
	for (i = 0; i < l->n; i++) {
		const char *eq = strchr(l->v[i], '=');

		if (eq == NULL)
			continue;
		jw_keyn(w, l->v[i], (size_t)(eq - l->v[i]));
		jw_str(w, eq + 1);
	}
	jw_obj_close(w);
}

void
jw_node(struct jw *w, const struct ipc_node *nd)
{
	jw_obj_open(w);
	jw_key(w, "ID");
	jw_str(w, nd->id ? nd->id : "");
	jw_key(w, "Node");
	jw_str(w, nd->node);
	jw_key(w, "Address");
	jw_str(w, nd->address ? nd->address : "");
	jw_key(w, "Datacenter");
	jw_str(w, nd->datacenter ? nd->datacenter : "");
	jw_key(w, "TaggedAddresses");
	jw_kvmap(w, &nd->tagged_addresses, true);
	jw_key(w, "Meta");
	jw_kvmap(w, &nd->meta, false);
	jw_indexes(w, nd->create_index, nd->modify_index);
	jw_obj_close(w);
}

void
jw_check(struct jw *w, const struct ipc_check *c)
{
	size_t i;

	jw_obj_open(w);
	jw_key(w, "Node");
	jw_str(w, c->node ? c->node : "");
	jw_key(w, "CheckID");
	jw_str(w, c->check_id ? c->check_id : "");
	jw_key(w, "Name");
	jw_str(w, c->name ? c->name : "");
	jw_key(w, "Status");
	jw_str(w, c->status ? c->status : "critical");
	jw_key(w, "Notes");
	jw_str(w, c->notes ? c->notes : "");
	jw_key(w, "Output");
	jw_str(w, c->output ? c->output : "");
	jw_key(w, "ServiceID");
	jw_str(w, c->service_id ? c->service_id : "");
	jw_key(w, "ServiceName");
	jw_str(w, c->service_name ? c->service_name : "");
	jw_key(w, "ServiceTags");
	jw_arr_open(w);
	for (i = 0; i < c->service_tags.n; i++)
		jw_str(w, c->service_tags.v[i]);
	jw_arr_close(w);
	jw_key(w, "Type");
	jw_str(w, c->type ? c->type : "");
	if (c->interval != NULL) {
		jw_key(w, "Interval");
		jw_str(w, c->interval);
	}
	if (c->timeout != NULL) {
		jw_key(w, "Timeout");
		jw_str(w, c->timeout);
	}
	jw_key(w, "Definition");
	jw_obj_open(w);
	jw_obj_close(w);
	jw_indexes(w, c->create_index, c->modify_index);
	jw_obj_close(w);
}

void
jw_service_fields(struct jw *w, const struct ipc_service *sv, bool prefixed)
{
	size_t i;

	jw_key(w, prefixed ? "ServiceID" : "ID");
	jw_str(w, sv->id ? sv->id : "");
	jw_key(w, prefixed ? "ServiceName" : "Service");
	jw_str(w, sv->service ? sv->service : "");
	jw_key(w, prefixed ? "ServiceTags" : "Tags");
	jw_arr_open(w);
	for (i = 0; i < sv->tags.n; i++)
		jw_str(w, sv->tags.v[i]);
	jw_arr_close(w);
	jw_key(w, prefixed ? "ServiceAddress" : "Address");
	jw_str(w, sv->address ? sv->address : "");
	jw_key(w, prefixed ? "ServiceTaggedAddresses" : "TaggedAddresses");
	jw_null(w);
	jw_key(w, prefixed ? "ServiceMeta" : "Meta");
	jw_kvmap(w, &sv->meta, false);
	jw_key(w, prefixed ? "ServicePort" : "Port");
	jw_uint(w, sv->port);
	jw_key(w, prefixed ? "ServiceWeights" : "Weights");
	jw_obj_open(w);
	jw_key(w, "Passing");
	jw_uint(w, sv->weight_passing ? sv->weight_passing : 1);
	jw_key(w, "Warning");
	jw_uint(w, sv->weight_warning ? sv->weight_warning : 1);
	jw_obj_close(w);
	jw_key(w, prefixed ? "ServiceEnableTagOverride" : "EnableTagOverride");
	jw_bool(w, sv->enable_tag_override);
	jw_key(w, prefixed ? "ServiceKind" : "Kind");
	jw_str(w, sv->kind ? sv->kind : "");
}

static const struct ipc_node *
find_node(const struct ipc_catalog_reply *rep, const char *name)
{
	size_t i;

	for (i = 0; i < rep->nodes.n; i++) {
		const struct ipc_node *nd = (struct ipc_node *)rep->nodes.v + i;

		if (strcmp(nd->node, name ? name : "") == 0)
			return nd;
	}
	return NULL;
}

/* has_tags - the instance has every ?tag= of the request (AND) */
static bool
has_tags(struct http_req *req, const struct ipc_service *sv)
{
	size_t i, k;

	for (i = 0; i < req->nquery; i++) {
		bool found = false;

		if (strcmp(req->query[i].key, "tag") != 0)
			continue;
		for (k = 0; k < sv->tags.n && !found; k++)
			found = strcmp(sv->tags.v[k], req->query[i].value) == 0;
		if (!found)
			return false;
	}
	return true;
}

/* node_meta_ok - ?node-meta=k:v (repeatable, AND) */
static bool
node_meta_ok(struct http_req *req, const struct ipc_node *nd)
{
	size_t i, k;

	for (i = 0; i < req->nquery; i++) {
		const char *want = req->query[i].value, *colon;
		bool found = false;

		if (strcmp(req->query[i].key, "node-meta") != 0)
			continue;
		colon = strchr(want, ':');
		for (k = 0; nd && k < nd->meta.n && !found; k++) {
			const char *kv = nd->meta.v[k], *eq = strchr(kv, '=');
			size_t kl = colon ? (size_t)(colon - want) : strlen(want);

			found = eq && (size_t)(eq - kv) == kl &&
				strncmp(kv, want, kl) == 0 &&
				(colon == NULL || strcmp(eq + 1, colon + 1) == 0);
		}
		if (!found)
			return false;
	}
	return true;
}

static bool
check_of(const struct ipc_check *ck, const struct ipc_service *sv)
{
	const char *sid = ck->service_id ? ck->service_id : "";

	return strcmp(ck->node ? ck->node : "", sv->node ? sv->node : "") ==
		   0 &&
	       (*sid == '\0' || strcmp(sid, sv->id ? sv->id : "") == 0);
}

void
jw_indexes(struct jw *w, uint64_t c, uint64_t m)
{
	jw_key(w, "CreateIndex");
	jw_uint(w, c);
	jw_key(w, "ModifyIndex");
	jw_uint(w, m);
}

void
jw_health_entry(struct jw *w, const struct ipc_catalog_reply *rep,
    const struct ipc_service *sv)
{
	const struct ipc_node *nd = find_node(rep, sv->node);
	size_t k;

	jw_obj_open(w);
	jw_key(w, "Node");
	if (nd)
		jw_node(w, nd);
	else
		jw_null(w);
	jw_key(w, "Service");
	jw_obj_open(w);
	jw_service_fields(w, sv, false);
	jw_indexes(w, sv->create_index, sv->modify_index);
	jw_obj_close(w);
	jw_key(w, "Checks");
	jw_arr_open(w);
	for (k = 0; k < rep->checks.n; k++) {
		const struct ipc_check *ck = (struct ipc_check *)rep->checks.v + k;

		if (check_of(ck, sv))
			jw_check(w, ck);
	}
	jw_arr_close(w);
	jw_obj_close(w);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
write_services_map(struct jw *w, const struct ipc_catalog_reply *rep)
{
	const struct ipc_service *sv = rep->services.v;
	char **names = xcalloc(rep->services.n + 1, sizeof(char *));
	size_t i, k, n = 0;

	for (i = 0; i < rep->services.n; i++) {
		for (k = 0; k < n; k++)
			if (strcmp(names[k], sv[i].service) == 0)
				break;
		if (k == n)
			names[n++] = sv[i].service;
	}
	qsort(names, n, sizeof(char *), cmp_str);
	jw_obj_open(w);
	for (k = 0; k < n; k++) {
		char **seen = NULL;
		size_t ns = 0, t;

		jw_key(w, names[k]);
		jw_arr_open(w);
		for (i = 0; i < rep->services.n; i++) {
			if (strcmp(sv[i].service, names[k]) != 0)
				continue;
			for (t = 0; t < sv[i].tags.n; t++) {
				size_t u;

				for (u = 0; u < ns; u++)
					if (strcmp(seen[u], sv[i].tags.v[t]) == 0)
						break;
				if (u < ns)
					continue;
				seen = xreallocarray(seen, ns + 1, sizeof(char *));
				seen[ns++] = sv[i].tags.v[t];
				jw_str(w, sv[i].tags.v[t]);
			}
		}
		free(seen);
		jw_arr_close(w);
	}
	jw_obj_close(w);
	free(names);
}

/* rtt - estimated RTT from the ?near node to node (seconds; unknown:
 * after every known one) */
static double
rtt(const struct call *c, const char *node)
{
	const struct viv_coord *co = c->coords, *from = NULL, *to = NULL;
	size_t i;

	for (i = 0; i < c->ncoords; i++) {
		if (strcmp(c->cnames[i], c->near) == 0)
			from = &co[i];
		if (node && strcmp(c->cnames[i], node) == 0)
			to = &co[i];
	}
	return from && to ? viv_distance(from, to) : 1e9;
}

struct order {
	size_t i;
	double d;
};

static int
cmp_order(const void *a, const void *b)
{
	const struct order *x = a, *y = b;

	if (x->d != y->d)
		return x->d < y->d ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

/* sort_by_near - rep's services (and, for nodes lists, nodes) in RTT
 * order from ?near, stable; a no-op without ?near */
void
sort_by_near(const struct call *c, struct ipc_catalog_reply *rep)
{
	struct order *o;
	size_t i, n;

	if (c->near == NULL)
		return;
	n = rep->services.n > rep->nodes.n ? rep->services.n : rep->nodes.n;
	o = xcalloc(n + 1, sizeof(*o));
	if (rep->services.n > 0) {
		struct ipc_service *sv = rep->services.v, *tmp;

		for (i = 0; i < rep->services.n; i++) {
			o[i].i = i;
			o[i].d = rtt(c, sv[i].node);
		}
		qsort(o, rep->services.n, sizeof(*o), cmp_order);
		tmp = xcalloc(rep->services.n, sizeof(*tmp));
		for (i = 0; i < rep->services.n; i++)
			tmp[i] = sv[o[i].i];
		memcpy(sv, tmp, rep->services.n * sizeof(*tmp));
		free(tmp);
	} else if (rep->nodes.n > 0) {
		struct ipc_node *nd = rep->nodes.v, *tmp;

		for (i = 0; i < rep->nodes.n; i++) {
			o[i].i = i;
			o[i].d = rtt(c, nd[i].node);
		}
		qsort(o, rep->nodes.n, sizeof(*o), cmp_order);
		tmp = xcalloc(rep->nodes.n, sizeof(*tmp));
		for (i = 0; i < rep->nodes.n; i++)
			tmp[i] = nd[o[i].i];
		memcpy(nd, tmp, rep->nodes.n * sizeof(*tmp));
		free(tmp);
	}
	free(o);
}

static void
read_done(int status, void *body, const char *errmsg, void *arg)
{
	struct call *c = arg;
	struct ipc_catalog_reply *rep = body;
	struct http_req *req = c->req;
	struct jw w;
	size_t i, k;

	if (status < 0) {
		(*c->api->c_errors)++;
		respond_ipc_error(req, status, errmsg);
		call_free(c);
		return;
	}
	if (call_park(c, rep->index))
		return;
	if (c->kind == C_NODES || c->kind == C_SERVICE ||
	    c->kind == C_HEALTH_SERVICE)
		sort_by_near(c, rep);
	jw_init(&w, c->pretty);
	switch (c->kind) {
	case C_NODES:
		jw_arr_open(&w);
		for (i = 0; i < rep->nodes.n; i++)
			if (node_meta_ok(req, (struct ipc_node *)rep->nodes.v + i))
				jw_node(&w, (struct ipc_node *)rep->nodes.v + i);
		jw_arr_close(&w);
		break;
	case C_NODE_HEALTH:
	case C_STATE:
		jw_arr_open(&w);
		for (i = 0; i < rep->checks.n; i++) {
			const struct ipc_check *ck =
			    (struct ipc_check *)rep->checks.v + i;

			if (c->kind == C_STATE && strcmp(c->arg, "any") != 0 &&
			    strcmp(ck->status ? ck->status : "", c->arg) != 0)
				continue;
			jw_check(&w, ck);
		}
		jw_arr_close(&w);
		break;
	case C_SERVICES:
		write_services_map(&w, rep);
		break;
	case C_NODE:
		if (rep->nodes.n == 0) {
			jw_null(&w);
			break;
		}
		jw_obj_open(&w);
		jw_key(&w, "Node");
		jw_node(&w, rep->nodes.v);
		jw_key(&w, "Services");
		jw_obj_open(&w);
		for (i = 0; i < rep->services.n; i++) {
			const struct ipc_service *sv =
			    (struct ipc_service *)rep->services.v + i;

			jw_key(&w, sv->id);
			jw_obj_open(&w);
			jw_service_fields(&w, sv, false);
			jw_indexes(&w, sv->create_index, sv->modify_index);
			jw_obj_close(&w);
		}
		jw_obj_close(&w);
		jw_obj_close(&w);
		break;
	case C_SERVICE:
	case C_HEALTH_SERVICE:
	case C_SERVICE_CHECKS:
		jw_arr_open(&w);
		for (i = 0; i < rep->services.n; i++) {
			const struct ipc_service *sv =
			    (struct ipc_service *)rep->services.v + i;
			const struct ipc_node *nd = find_node(rep, sv->node);
			bool bad = false;

			if (!has_tags(req, sv) || !node_meta_ok(req, nd))
				continue;
			if (c->kind == C_SERVICE_CHECKS) {
				for (k = 0; k < rep->checks.n; k++) {
					const struct ipc_check *ck =
					    (struct ipc_check *)rep->checks.v + k;

					if (check_of(ck, sv) && ck->service_id &&
					    *ck->service_id)
						jw_check(&w, ck);
				}
				continue;
			}
			if (c->kind == C_SERVICE) {
				jw_obj_open(&w);
				jw_key(&w, "ID");
				jw_str(&w, nd && nd->id ? nd->id : "");
				jw_key(&w, "Node");
				jw_str(&w, sv->node);
				jw_key(&w, "Address");
				jw_str(&w, nd && nd->address ? nd->address : "");
				jw_key(&w, "Datacenter");
				jw_str(&w, nd && nd->datacenter ? nd->datacenter
							       : c->api->datacenter);
				jw_key(&w, "TaggedAddresses");
				if (nd)
					jw_kvmap(&w, &nd->tagged_addresses, true);
				else
					jw_null(&w);
				jw_key(&w, "NodeMeta");
				if (nd)
					jw_kvmap(&w, &nd->meta, false);
				else
					jw_null(&w);
				jw_service_fields(&w, sv, true);
				jw_indexes(&w, sv->create_index, sv->modify_index);
				jw_obj_close(&w);
				continue;
			}
			/* /v1/health/service: ?passing drops an instance
			 * with any warning or critical check */
			for (k = 0; k < rep->checks.n; k++) {
				const struct ipc_check *ck =
				    (struct ipc_check *)rep->checks.v + k;

				if (check_of(ck, sv) &&
				    strcmp(ck->status ? ck->status : "",
					"passing") != 0)
					bad = true;
			}
			if (bad && http_query_has(req, "passing"))
				continue;
			jw_health_entry(&w, rep, sv);
		}
		jw_arr_close(&w);
		break;
	}
	{
		/* discovery endpoints say which consistency answered */
		const char *hs[2] = {
		    c->cq.mode == RAFT_READ_STALE
			? "X-Consul-Effective-Consistency: stale"
			: c->cq.mode == RAFT_READ_CONSISTENT
			    ? "X-Consul-Effective-Consistency: consistent"
			    : "X-Consul-Effective-Consistency: leader",
		    NULL};

		respond_json_status(req, 200, &w, rep->index,
		    rep->known_leader, rep->last_contact_ms, hs);
	}
	call_free(c);
}

/* near_done - the coordinates are in: now the catalog read */
void
near_done(int status, void *body, const char *errmsg, void *arg)
{
	struct call *c = arg;
	struct ipc_members *rep = body;
	struct viv_coord *co;
	size_t i;

	(void)errmsg;
	if (status == 0 && rep->members.n > 0) {
		co = xcalloc(rep->members.n, sizeof(*co));
		c->cnames = xcalloc(rep->members.n, sizeof(char *));
		for (i = 0; i < rep->members.n; i++) {
			const struct ipc_member *m =
			    (struct ipc_member *)rep->members.v + i;

			if (m->coord.n == 0 ||
			    viv_decode(m->coord.p, m->coord.n,
				&co[c->ncoords]) < 0)
				continue;
			c->cnames[c->ncoords++] = xstrdup(m->name);
		}
		c->coords = co;
		/* "_agent": this agent (gossipd lists itself first) */
		if (strcmp(c->near, "_agent") == 0 && rep->members.n > 0) {
			free(c->near);
			c->near = xstrdup(
			    ((struct ipc_member *)rep->members.v)->name);
		}
	}
	call_issue(c); /* without coordinates: the usual order */
}

static void
catalog_read(struct api *a, struct http_req *req, int kind, const char *arg)
{
	struct call *c;
	int mode;

	if (!method_ok(req, "GET") || (mode = read_mode(req)) < 0)
		return;
	c = call_new(a, req);
	c->kind = kind;
	c->arg = xstrdup(arg ? arg : "");
	c->cq.mode = (uint32_t)mode;
	switch (kind) {
	case C_NODES:
		c->cq.what = (char *)"nodes";
		break;
	case C_NODE_HEALTH:
		c->cq.what = (char *)"checks";
		c->cq.node = c->arg;
		break;
	case C_STATE:
		c->cq.what = (char *)"checks";
		break;
	case C_SERVICES:
		c->cq.what = (char *)"services";
		break;
	case C_NODE:
		c->cq.what = (char *)"services";
		c->cq.node = c->arg;
		break;
	default:
		c->cq.what = (char *)"service";
		c->cq.service = c->arg;
		break;
	}
	c->rtype = IPC_CATALOG_READ;
	c->rq = &c->cq;
	c->done = read_done;
	c->table = "catalog";
	if (http_query(req, "index") != NULL && start_blocking(a, c, req) < 0)
		return;
	if (http_query(req, "near") != NULL && *http_query(req, "near") &&
	    (kind == C_NODES || kind == C_SERVICE || kind == C_HEALTH_SERVICE)) {
		struct ipc_pool_req q = {false};

		c->near = xstrdup(http_query(req, "near"));
		ipc_call(a->gossipd, IPC_GOSSIP_MEMBERS, &q, API_IPC_TIMEOUT_MS,
		    near_done, c);
		return;
	}
	call_issue(c);
}

/* ------------------------------------------------------ registration */

struct reg_check {
	char *node, *check_id, *name, *notes, *status, *service_id, *output;
	char *type;
	yajl_val definition;
};

static const struct jd_field check_fields[] = {
    {"Node", NULL, JD_STR, offsetof(struct reg_check, node), NULL, 0, 0},
    {"CheckID", "check_id", JD_STR, offsetof(struct reg_check, check_id),
	NULL, 0, 0},
    {"Name", NULL, JD_STR, offsetof(struct reg_check, name), NULL, 0, 0},
    {"Notes", NULL, JD_STR, offsetof(struct reg_check, notes), NULL, 0, 0},
    {"Status", NULL, JD_STR, offsetof(struct reg_check, status), NULL, 0,
	0},
    {"ServiceID", "service_id", JD_STR,
	offsetof(struct reg_check, service_id), NULL, 0, 0},
    {"Output", NULL, JD_STR, offsetof(struct reg_check, output), NULL, 0,
	0},
    {"Type", NULL, JD_STR, offsetof(struct reg_check, type), NULL, 0, 0},
    {"Definition", NULL, JD_RAW, offsetof(struct reg_check, definition),
	NULL, 0, 0},
    {NULL, NULL, JD_STR, 0, NULL, 0, 0},
};

struct reg_weights {
	uint64_t passing, warning;
};

static const struct jd_field weights_fields[] = {
    {"Passing", NULL, JD_U64, offsetof(struct reg_weights, passing), NULL, 0,
	0},
    {"Warning", NULL, JD_U64, offsetof(struct reg_weights, warning), NULL, 0,
	0},
    {NULL, NULL, JD_STR, 0, NULL, 0, 0},
};

struct reg_service {
	char *id, *service, *address, *kind;
	struct jd_strlist tags;
	struct jd_strmap meta;
	uint64_t port;
	bool enable_tag_override;
	struct reg_weights weights;
	yajl_val tagged;
};

static const struct jd_field service_fields[] = {
    {"ID", NULL, JD_STR, offsetof(struct reg_service, id), NULL, 0, 0},
    {"Service", NULL, JD_STR, offsetof(struct reg_service, service), NULL, 0,
	0},
    {"Address", NULL, JD_STR, offsetof(struct reg_service, address), NULL, 0,
	0},
    {"Kind", NULL, JD_STR, offsetof(struct reg_service, kind), NULL, 0, 0},
    {"Tags", NULL, JD_STRLIST, offsetof(struct reg_service, tags), NULL, 0,
	0},
    {"Meta", NULL, JD_STRMAP, offsetof(struct reg_service, meta), NULL, 0,
	0},
    {"Port", NULL, JD_U64, offsetof(struct reg_service, port), NULL, 0, 0},
    {"EnableTagOverride", "enable_tag_override", JD_BOOL,
	offsetof(struct reg_service, enable_tag_override), NULL, 0, 0},
    {"Weights", NULL, JD_OBJ, offsetof(struct reg_service, weights),
	weights_fields, 0, 0},
    {"TaggedAddresses", "tagged_addresses", JD_RAW,
	offsetof(struct reg_service, tagged), NULL, 0, 0},
    {NULL, NULL, JD_STR, 0, NULL, 0, 0},
};

struct reg_body {
	char *id, *node, *address, *datacenter;
	struct jd_strmap tagged, meta;
	struct reg_service service;
	bool has_service;
	struct reg_check check;
	bool has_check;
	struct jd_list checks;
	bool skip_node_update;
	char *service_id, *check_id; /* deregister */
};

static const struct jd_field reg_fields[] = {
    {"ID", NULL, JD_STR, offsetof(struct reg_body, id), NULL, 0, 0},
    {"Node", NULL, JD_STR, offsetof(struct reg_body, node), NULL, 0, 0},
    {"Address", NULL, JD_STR, offsetof(struct reg_body, address), NULL, 0,
	0},
    {"Datacenter", NULL, JD_STR, offsetof(struct reg_body, datacenter), NULL,
	0, 0},
    {"TaggedAddresses", "tagged_addresses", JD_STRMAP,
	offsetof(struct reg_body, tagged), NULL, 0, 0},
    {"NodeMeta", "node_meta", JD_STRMAP, offsetof(struct reg_body, meta),
	NULL, 0, 0},
    {"Service", NULL, JD_OBJ, offsetof(struct reg_body, service),
	service_fields, 0, offsetof(struct reg_body, has_service)},
    {"Check", NULL, JD_OBJ, offsetof(struct reg_body, check), check_fields, 0,
	offsetof(struct reg_body, has_check)},
    {"Checks", NULL, JD_OBJLIST, offsetof(struct reg_body, checks),
	check_fields, sizeof(struct reg_check), 0},
    {"SkipNodeUpdate", "skip_node_update", JD_BOOL,
	offsetof(struct reg_body, skip_node_update), NULL, 0, 0},
    {"ServiceID", "service_id", JD_STR,
	offsetof(struct reg_body, service_id), NULL, 0, 0},
    {"CheckID", "check_id", JD_STR, offsetof(struct reg_body, check_id),
	NULL, 0, 0},
    {NULL, NULL, JD_STR, 0, NULL, 0, 0},
};

static void
reg_done(int status, void *body, const char *errmsg, void *arg)
{
	struct call *c = arg;
	struct ipc_raft_result *res = body;

	if (status < 0) {
		(*c->api->c_errors)++;
		respond_ipc_error(c->req, status, errmsg);
	} else if (!res->ok) {
		const struct ipc_txn_error *e = res->errors.v;

		http_respond_text(c->req, 500,
		    res->errors.n > 0 && e->what ? e->what
						 : "registration refused");
	} else {
		http_respond(c->req, 200, "application/json", "true", 4, NULL);
	}
	call_free(c);
}

/* kv_list - a decoded map as "k=v" strings (borrowing nothing) */
static void
kv_list(const struct jd_strmap *m, struct cdc_strlist *out)
{
	size_t i;

	out->n = m->n;
	out->v = m->n ? xcalloc(m->n, sizeof(char *)) : NULL;
	for (i = 0; i < m->n; i++)
		out->v[i] = xasprintf("%s=%s", m->k[i], m->v[i]);
}

static void
kv_list_free(struct cdc_strlist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
}

static void
to_check(const struct reg_check *in, struct ipc_check *out)
{
	memset(out, 0, sizeof(*out));
	/* Consul: CheckID defaults to the name */
	out->check_id = in->check_id && *in->check_id ? in->check_id : in->name;
	out->name = in->name ? in->name : out->check_id;
	out->notes = in->notes;
	out->status = in->status && *in->status ? in->status
						: (char *)"critical";
	out->service_id = in->service_id;
	out->output = in->output;
	out->type = in->type;
}

static void
catalog_write(struct api *a, struct http_req *req, bool reg)
{
	struct reg_body rb;
	struct ipc_raft_cmd cmd;
	struct ipc_check *checks = NULL;
	struct errbuf eb;
	yajl_val tree = NULL;
	struct call *c;
	size_t i;

	if (!method_ok(req, "PUT"))
		return;
	memset(&rb, 0, sizeof(rb));
	memset(&cmd, 0, sizeof(cmd));
	tree = json_parse((const char *)req->body.data, req->body.len, &eb);
	if (tree == NULL) {
		char text[600];

		snprintf(text, sizeof(text), "Request decode failed: %s",
		    eb.msg);
		http_respond_text(req, 400, text);
		return;
	}
	if (jd_decode(tree, reg_fields, &rb, &eb) < 0) {
		http_respond_text(req, 400, eb.msg);
		goto out;
	}
	if (rb.node == NULL || *rb.node == '\0') {
		http_respond_text(req, 400, "Must provide node");
		goto out;
	}
	if (rb.datacenter && *rb.datacenter &&
	    strcmp(rb.datacenter, a->datacenter) != 0) {
		http_respond_text(req, 500, "No path to datacenter");
		goto out;
	}
	c = call_new(a, req);
	cmd.client_id = a->client_id;
	cmd.seq = ++a->seq;
	if (!reg) {
		cmd.op = RAFT_OP_CATALOG_DEREGISTER;
		cmd.key = rb.node;
		cmd.csvc.id = rb.service_id;
		cmd.ccheck.check_id = rb.check_id;
		api_raftd(a, req, IPC_RAFT_APPLY, &cmd, API_IPC_TIMEOUT_MS,
		    reg_done, c);
		goto out;
	}
	if (!rb.skip_node_update && (rb.address == NULL || *rb.address == '\0')) {
		call_free(c);
		http_respond_text(req, 400, "Must provide address");
		goto out;
	}
	cmd.op = RAFT_OP_CATALOG_REGISTER;
	cmd.skip_node_update = rb.skip_node_update;
	cmd.cnode.node = rb.node;
	cmd.cnode.id = rb.id;
	cmd.cnode.address = rb.address;
	cmd.cnode.datacenter = a->datacenter;
	kv_list(&rb.meta, &cmd.cnode.meta);
	kv_list(&rb.tagged, &cmd.cnode.tagged_addresses);
	if (rb.has_service) {
		if (rb.service.service == NULL || *rb.service.service == '\0') {
			call_free(c);
			http_respond_text(req, 400, "Must provide service name");
			goto out_cmd;
		}
		if (rb.service.port > 65535) {
			call_free(c);
			http_respond_text(req, 400, "Invalid service port");
			goto out_cmd;
		}
		cmd.csvc.id = rb.service.id;
		cmd.csvc.service = rb.service.service;
		cmd.csvc.address = rb.service.address;
		cmd.csvc.kind = rb.service.kind;
		cmd.csvc.port = (uint32_t)rb.service.port;
		cmd.csvc.tags.v = rb.service.tags.v;
		cmd.csvc.tags.n = rb.service.tags.n;
		cmd.csvc.enable_tag_override = rb.service.enable_tag_override;
		cmd.csvc.weight_passing = (uint32_t)rb.service.weights.passing;
		cmd.csvc.weight_warning = (uint32_t)rb.service.weights.warning;
		kv_list(&rb.service.meta, &cmd.csvc.meta);
	}
	if (rb.has_check)
		to_check(&rb.check, &cmd.ccheck);
	checks = xcalloc(rb.checks.n + 1, sizeof(*checks));
	for (i = 0; i < rb.checks.n; i++)
		to_check((struct reg_check *)rb.checks.v + i, &checks[i]);
	cmd.cchecks.v = checks;
	cmd.cchecks.n = rb.checks.n;
	for (i = 0; i <= rb.checks.n; i++) {
		const struct ipc_check *ck = i < rb.checks.n ? &checks[i]
							     : &cmd.ccheck;

		if ((i < rb.checks.n || rb.has_check) &&
		    (ck->check_id == NULL || *ck->check_id == '\0')) {
			call_free(c);
			http_respond_text(req, 400, "Must provide check name or ID");
			goto out_cmd;
		}
	}
	api_raftd(a, req, IPC_RAFT_APPLY, &cmd, API_IPC_TIMEOUT_MS, reg_done,
	    c);
out_cmd:
	kv_list_free(&cmd.cnode.meta);
	kv_list_free(&cmd.cnode.tagged_addresses);
	kv_list_free(&cmd.csvc.meta);
	free(checks);
out:
	jd_free(reg_fields, &rb);
	yajl_tree_free(tree);
}

/* dcs_done - /v1/catalog/datacenters: nearest first */
static void
dcs_done(int status, void *body, const char *errmsg, void *arg)
{
	struct call *c = arg;
	struct ipc_dc_list *l = body;
	struct jw w;
	size_t i, len;
	char *js;

	if (status < 0) {
		respond_ipc_error(c->req, status, errmsg);
		call_free(c);
		return;
	}
	jw_init(&w, c->pretty);
	jw_arr_open(&w);
	for (i = 0; i < l->names.n; i++)
		jw_str(&w, l->names.v[i]);
	if (l->names.n == 0)
		jw_str(&w, c->api->datacenter);
	jw_arr_close(&w);
	js = jw_finish(&w, &len);
	http_respond(c->req, 200, "application/json", js, len, NULL);
	free(js);
	call_free(c);
}

void
api_catalog(struct api *a, struct http_req *req, const char *rest)
{
	if (strcmp(rest, "nodes") == 0) {
		catalog_read(a, req, C_NODES, NULL);
	} else if (strcmp(rest, "services") == 0) {
		catalog_read(a, req, C_SERVICES, NULL);
	} else if (strncmp(rest, "service/", 8) == 0 && rest[8] != '\0') {
		catalog_read(a, req, C_SERVICE, rest + 8);
	} else if (strncmp(rest, "node/", 5) == 0 && rest[5] != '\0') {
		catalog_read(a, req, C_NODE, rest + 5);
	} else if (strcmp(rest, "register") == 0) {
		catalog_write(a, req, true);
	} else if (strcmp(rest, "deregister") == 0) {
		catalog_write(a, req, false);
	} else if (strcmp(rest, "datacenters") == 0) {
		if (!method_ok(req, "GET"))
			return;
		/* the servers know the WAN pool: ours (a client's goes to
		 * one of its servers) */
		ipc_call(a->raftd, IPC_DC_LIST, NULL, API_IPC_TIMEOUT_MS,
		    dcs_done, call_new(a, req));
	} else {
		http_respond(req, 404, NULL, "", 0, NULL);
	}
}

void
api_health(struct api *a, struct http_req *req, const char *rest)
{
	if (strncmp(rest, "node/", 5) == 0 && rest[5] != '\0') {
		catalog_read(a, req, C_NODE_HEALTH, rest + 5);
	} else if (strncmp(rest, "service/", 8) == 0 && rest[8] != '\0') {
		catalog_read(a, req, C_HEALTH_SERVICE, rest + 8);
	} else if (strncmp(rest, "checks/", 7) == 0 && rest[7] != '\0') {
		catalog_read(a, req, C_SERVICE_CHECKS, rest + 7);
	} else if (strncmp(rest, "state/", 6) == 0) {
		const char *st = rest + 6;

		if (strcmp(st, "any") && strcmp(st, "passing") &&
		    strcmp(st, "warning") && strcmp(st, "critical")) {
			http_respond_text(req, 400, "Invalid check state");
			return;
		}
		catalog_read(a, req, C_STATE, st);
	} else {
		http_respond(req, 404, NULL, "", 0, NULL);
	}
}
