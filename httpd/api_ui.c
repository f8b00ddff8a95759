/* api_ui.c - the web UI's summaries, Consul's internal endpoints:
 * /v1/internal/ui/services (one row per service name: tags, nodes,
 * instance count, checks by state), /v1/internal/ui/nodes (every node
 * with its services and checks) and /v1/internal/ui/node/<name>.  All
 * read the whole catalog from raftd in one IPC call and block like the
 * catalog does (?index=&wait=, ?dc=, ?stale). */
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "xmalloc.h"

enum { U_SERVICES, U_NODES, U_NODE };

static const char *
nz(const char *s)
{
	return s ? s : "";
}

/* a check of the instance: its own, or a node check of its node */
static bool
check_of(const struct ipc_check *ck, const struct ipc_service *sv)
{
	return strcmp(nz(ck->node), nz(sv->node)) == 0 &&
	       (*nz(ck->service_id) == '\0' ||
		   strcmp(nz(ck->service_id), nz(sv->id)) == 0);
}

static int
cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* add_unique - append s to the set v[0..*n) unless it is there */
static void
add_unique(char ***v, size_t *n, char *s)
{
	size_t i;

	for (i = 0; i < *n; i++)
		if (strcmp((*v)[i], s) == 0)
			return;
	*v = xreallocarray(*v, *n + 1, sizeof(char *));
	(*v)[(*n)++] = s;
}

static void
jw_strs(struct jw *w, char **v, size_t n)
{
	size_t i;

	jw_arr_open(w);
	for (i = 0; i < n; i++)
		jw_str(w, v[i]);
	jw_arr_close(w);
}

static void
write_services(struct jw *w, const struct api *a,
    const struct ipc_catalog_reply *rep)
{
	const struct ipc_service *sv = rep->services.v;
	const struct ipc_check *ck = rep->checks.v;
	char **names = NULL;
	size_t i, k, nn = 0;

	for (i = 0; i < rep->services.n; i++)
		add_unique(&names, &nn, sv[i].service ? sv[i].service
						       : (char *)"");
	if (nn > 1)
		qsort(names, nn, sizeof(char *), cmp_name);
	jw_arr_open(w);
	for (k = 0; k < nn; k++) {
		char **tags = NULL, **nodes = NULL;
		size_t ntags = 0, nnodes = 0, count = 0, t;
		uint64_t st[3] = {0, 0, 0}; /* passing, warning, critical */
		const char *kind = "";

		for (i = 0; i < rep->services.n; i++) {
			if (strcmp(nz(sv[i].service), names[k]) != 0)
				continue;
			count++;
			if (sv[i].kind && *sv[i].kind)
				kind = sv[i].kind;
			for (t = 0; t < sv[i].tags.n; t++)
				add_unique(&tags, &ntags, sv[i].tags.v[t]);
			add_unique(&nodes, &nnodes,
			    sv[i].node ? sv[i].node : (char *)"");
			for (t = 0; t < rep->checks.n; t++) {
				const char *s = nz(ck[t].status);

				if (!check_of(&ck[t], &sv[i]))
					continue;
				st[strcmp(s, "passing") == 0	 ? 0
				    : strcmp(s, "warning") == 0 ? 1
								 : 2]++;
			}
		}
		jw_obj_open(w);
		jw_key(w, "Name");
		jw_str(w, names[k]);
		jw_key(w, "Datacenter");
		jw_str(w, a->datacenter);
		jw_key(w, "Kind");
		jw_str(w, kind);
		jw_key(w, "Tags");
		jw_strs(w, tags, ntags);
		jw_key(w, "Nodes");
		jw_strs(w, nodes, nnodes);
		jw_key(w, "InstanceCount");
		jw_uint(w, count);
		jw_key(w, "ChecksPassing");
		jw_uint(w, st[0]);
		jw_key(w, "ChecksWarning");
		jw_uint(w, st[1]);
		jw_key(w, "ChecksCritical");
		jw_uint(w, st[2]);
		jw_obj_close(w);
		free(tags);
		free(nodes);
	}
	jw_arr_close(w);
	free(names);
}

/* write_node - a node as /v1/catalog/nodes shows it, plus its Services
 * and Checks */
static void
write_node(struct jw *w, const struct ipc_catalog_reply *rep,
    const struct ipc_node *nd)
{
	size_t i;

	jw_obj_open(w);
	jw_key(w, "ID");
	jw_str(w, nz(nd->id));
	jw_key(w, "Node");
	jw_str(w, nz(nd->node));
	jw_key(w, "Address");
	jw_str(w, nz(nd->address));
	jw_key(w, "Datacenter");
	jw_str(w, nz(nd->datacenter));
	jw_key(w, "TaggedAddresses");
	jw_kvmap(w, &nd->tagged_addresses, true);
	jw_key(w, "Meta");
	jw_kvmap(w, &nd->meta, false);
	jw_indexes(w, nd->create_index, nd->modify_index);
	jw_key(w, "Services");
	jw_arr_open(w);
	for (i = 0; i < rep->services.n; i++) {
		const struct ipc_service *sv =
		    (struct ipc_service *)rep->services.v + i;

		if (strcmp(nz(sv->node), nz(nd->node)) != 0)
			continue;
		jw_obj_open(w);
		jw_service_fields(w, sv, false);
		jw_indexes(w, sv->create_index, sv->modify_index);
		jw_obj_close(w);
	}
	jw_arr_close(w);
	jw_key(w, "Checks");
	jw_arr_open(w);
	for (i = 0; i < rep->checks.n; i++) {
		const struct ipc_check *ck = (struct ipc_check *)rep->checks.v + i;

		if (strcmp(nz(ck->node), nz(nd->node)) == 0)
			jw_check(w, ck);
	}
	jw_arr_close(w);
	jw_obj_close(w);
}

static void
ui_read_done(int status, void *body, const char *errmsg, void *arg)
{
	struct call *c = arg;
	struct ipc_catalog_reply *rep = body;
	struct http_req *req = c->req;
	const struct ipc_node *found = NULL;
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
	if (c->kind == U_NODE) {
		for (i = 0; i < rep->nodes.n && found == NULL; i++)
			if (strcmp(nz(((struct ipc_node *)rep->nodes.v)[i].node),
				c->arg) == 0)
				found = (struct ipc_node *)rep->nodes.v + i;
		if (found == NULL) {
			respond_meta(req, 404, NULL, "", 0, rep->index,
			    rep->known_leader, rep->last_contact_ms, NULL);
			call_free(c);
			return;
		}
	}
	jw_init(&w, c->pretty);
	if (c->kind == U_SERVICES) {
		write_services(&w, c->api, rep);
	} else if (c->kind == U_NODE) {
		write_node(&w, rep, found);
	} else {
		jw_arr_open(&w);
		for (i = 0; i < rep->nodes.n; i++)
			write_node(&w, rep, (struct ipc_node *)rep->nodes.v + i);
		jw_arr_close(&w);
	}
	respond_json(req, &w, rep->index, rep->known_leader,
	    rep->last_contact_ms);
	call_free(c);
}

void
api_ui(struct api *a, struct http_req *req, const char *rest)
{
	struct call *c;
	int kind, mode;

	if (strcmp(rest, "services") == 0)
		kind = U_SERVICES;
	else if (strcmp(rest, "nodes") == 0)
		kind = U_NODES;
	else if (strncmp(rest, "node/", 5) == 0 && rest[5] != '\0')
		kind = U_NODE;
	else {
		http_respond(req, 404, NULL, "", 0, NULL);
		return;
	}
	if (!method_ok(req, "GET") || (mode = read_mode(req)) < 0)
		return;
	c = call_new(a, req);
	c->kind = kind;
	c->arg = xstrdup(kind == U_NODE ? rest + 5 : "");
	c->cq.mode = (uint32_t)mode;
	c->cq.what = (char *)"all";
	c->rtype = IPC_CATALOG_READ;
	c->rq = &c->cq;
	c->done = ui_read_done;
	c->table = "catalog";
	if (http_query(req, "index") != NULL && start_blocking(a, c, req) < 0)
		return;
	call_issue(c);
}
