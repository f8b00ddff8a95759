/* api_catalog.c - the catalog as far as it exists so far: nodes and their
 * health checks (serfHealth, kept by the leader from gossip):
 * /v1/catalog/nodes and /v1/health/node/<node>, blocking
 * (spec/consul-compat.md sections 1.3, 1.4). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "xmalloc.h"

enum { C_NODES, C_NODE_HEALTH };

static void
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

static void
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
	jw_key(w, "CreateIndex");
	jw_uint(w, nd->create_index);
	jw_key(w, "ModifyIndex");
	jw_uint(w, nd->modify_index);
	jw_obj_close(w);
}

static void
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
	jw_key(w, "Definition");
	jw_obj_open(w);
	jw_obj_close(w);
	jw_key(w, "CreateIndex");
	jw_uint(w, c->create_index);
	jw_key(w, "ModifyIndex");
	jw_uint(w, c->modify_index);
	jw_obj_close(w);
}

static void
read_done(int status, void *body, const char *errmsg, void *arg)
{
	struct call *c = arg;
	struct ipc_catalog_reply *rep = body;
	struct jw w;
	size_t i;

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
	if (c->kind == C_NODES)
		for (i = 0; i < rep->nodes.n; i++)
			jw_node(&w, (struct ipc_node *)rep->nodes.v + i);
	else
		for (i = 0; i < rep->checks.n; i++)
			jw_check(&w, (struct ipc_check *)rep->checks.v + i);
	jw_arr_close(&w);
	respond_json(c->req, &w, rep->index, rep->known_leader,
	    rep->last_contact_ms);
	call_free(c);
}

static void
catalog_read(struct api *a, struct http_req *req, int kind, const char *node)
{
	struct call *c;
	int mode;

	if (!method_ok(req, "GET") || (mode = read_mode(req)) < 0)
		return;
	c = call_new(a, req);
	c->kind = kind;
	c->arg = xstrdup(node ? node : "");
	c->cq.mode = (uint32_t)mode;
	c->cq.what = kind == C_NODES ? (char *)"nodes" : (char *)"checks";
	c->cq.node = c->arg;
	c->rtype = IPC_CATALOG_READ;
	c->rq = &c->cq;
	c->done = read_done;
	c->table = kind == C_NODES ? "nodes" : "checks";
	if (http_query(req, "index") != NULL && start_blocking(a, c, req) < 0)
		return;
	call_issue(c);
}

void
api_catalog(struct api *a, struct http_req *req, const char *rest)
{
	if (strcmp(rest, "nodes") == 0)
		catalog_read(a, req, C_NODES, NULL);
	else
		http_respond(req, 404, NULL, "", 0, NULL);
}

void
api_health(struct api *a, struct http_req *req, const char *rest)
{
	if (strncmp(rest, "node/", 5) == 0 && rest[5] != '\0')
		catalog_read(a, req, C_NODE_HEALTH, rest + 5);
	else
		http_respond(req, 404, NULL, "", 0, NULL);
}
