/* api_agent.c - the gossip side of the HTTP API, through gossipd:
 * /v1/agent/members, /join, /leave, /force-leave and /v1/event/fire,
 * /v1/event/list (blocking) (spec/consul-compat.md sections 1.2, 1.6). */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api_int.h"
#include "jdec.h"
#include "vivaldi.h"
#include "xmalloc.h"

enum { A_MEMBERS, A_JOIN, A_LEAVE, A_FORCE_LEAVE, A_FIRE, A_LIST };

/* Go's strconv.ParseBool, for ?wan= (spec section 0); false if s is
 * none of its spellings */
bool
parse_bool(const char *s, bool *out)
{
	static const char *const t[] = {"1", "t", "T", "TRUE", "true", "True"};
	static const char *const f[] = {"0", "f", "F", "FALSE", "false",
	    "False"};
	size_t i;

	for (i = 0; i < 6; i++) {
		if (strcmp(s, t[i]) == 0) {
			*out = true;
			return true;
		}
		if (strcmp(s, f[i]) == 0) {
			*out = false;
			return true;
		}
	}
	return false;
}

static void
gossip_error(struct http_req *req, int status, const char *msg)
{
	if (status == -ETIMEDOUT || status == -EAGAIN || status == -ECONNREFUSED ||
	    status == -ECANCELED)
		http_respond_text(req, 500,
		    "gossipd is not answering (is it running?)");
	else
		http_respond_text(req, 500, msg ? msg : strerror(-status));
}

/* ------------------------------------------------------------ members */

void
jw_tags(struct jw *w, const struct cdc_strlist *tags)
{
	size_t i;

	jw_obj_open(w);
	for (i = 0; i < tags->n; i++) {
		const char *eq = strchr(tags->v[i], '=');

		if (eq == NULL)
			continue;
		jw_keyn(w, tags->v[i], (size_t)(eq - tags->v[i]));
		jw_str(w, eq + 1);
	}
	jw_obj_close(w);
}

void
jw_member(struct jw *w, const struct ipc_member *m)
{
	jw_obj_open(w);
	jw_key(w, "Name");
	jw_str(w, m->name);
	jw_key(w, "Addr");
	jw_str(w, m->addr);
	jw_key(w, "Port");
	jw_uint(w, m->port);
	jw_key(w, "Tags");
	jw_tags(w, &m->tags);
	jw_key(w, "Status");
	jw_uint(w, m->status);
	/* memberlist's and Serf's protocol ranges as Consul 1.x reports
	 * them */
	jw_key(w, "ProtocolMin");
	jw_uint(w, 1);
	jw_key(w, "ProtocolMax");
	jw_uint(w, 5);
	jw_key(w, "ProtocolCur");
	jw_uint(w, 2);
	jw_key(w, "DelegateMin");
	jw_uint(w, 2);
	jw_key(w, "DelegateMax");
	jw_uint(w, 5);
	jw_key(w, "DelegateCur");
	jw_uint(w, 4);
	jw_obj_close(w);
}

static void
members_done(int status, void *body, const char *errmsg, void *arg)
{
	struct call *c = arg;
	struct ipc_members *rep = body;
	struct jw w;
	size_t i;

	if (status < 0) {
		gossip_error(c->req, status, errmsg);
		call_free(c);
		return;
	}
	jw_init(&w, c->pretty);
	jw_arr_open(&w);
	for (i = 0; i < rep->members.n; i++) {
		const struct ipc_member *m =
		    (const struct ipc_member *)rep->members.v + i;

		jw_member(&w, m);
	}
	jw_arr_close(&w);
	{
		size_t len;
		char *js = jw_finish(&w, &len);

		http_respond(c->req, 200, "application/json", js, len, NULL);
		free(js);
	}
	call_free(c);
}

/* --------------------------------------------------- join/leave/force */

static void
join_done(int status, void *body, const char *errmsg, void *arg)
{
	struct call *c = arg;
	struct ipc_join_reply *rep = body;

	if (status < 0) {
		gossip_error(c->req, status, errmsg);
	} else if (rep->joined == 0) {
		char text[600];

		snprintf(text, sizeof(text), "%s",
		    rep->errors.n ? rep->errors.v[0] : "join failed");
		http_respond_text(c->req, 500, text);
	} else {
		http_respond(c->req, 200, NULL, "", 0, NULL);
	}
	call_free(c);
}

static void
leave_done(int status, void *body, const char *errmsg, void *arg)
{
	struct call *c = arg;
	const char *agent = getenv("CAIRN_AGENT_PID");

	(void)body;
	if (status < 0) {
		gossip_error(c->req, status, errmsg);
		call_free(c);
		return;
	}
	http_respond(c->req, 200, NULL, "", 0, NULL);
	call_free(c);
	/* under `cairn agent` the whole agent shuts down, as Consul's does;
	 * under systemd the operator stops the units */
	if (agent != NULL && atol(agent) == (long)getppid() && getppid() > 1)
		kill(getppid(), SIGTERM);
}

static void
empty_done(int status, void *body, const char *errmsg, void *arg)
{
	struct call *c = arg;

	(void)body;
	if (status < 0)
		gossip_error(c->req, status, errmsg);
	else
		http_respond(c->req, 200, NULL, "", 0, NULL);
	call_free(c);
}

/* ------------------------------------------------------------- events */

static void
jw_event(struct jw *w, const struct ipc_user_event *e)
{
	jw_obj_open(w);
	jw_key(w, "ID");
	jw_str(w, e->id ? e->id : "");
	jw_key(w, "Name");
	jw_str(w, e->name ? e->name : "");
	jw_key(w, "Payload");
	if (e->payload.n > 0) {
		char *v = b64(e->payload.p, e->payload.n);

		jw_str(w, v);
		free(v);
	} else {
		jw_null(w);
	}
	jw_key(w, "NodeFilter");
	jw_str(w, e->node_filter ? e->node_filter : "");
	jw_key(w, "ServiceFilter");
	jw_str(w, e->service_filter ? e->service_filter : "");
	jw_key(w, "TagFilter");
	jw_str(w, e->tag_filter ? e->tag_filter : "");
	jw_key(w, "Version");
	jw_uint(w, e->version ? e->version : 1);
	jw_key(w, "LTime");
	jw_uint(w, e->ltime);
	jw_obj_close(w);
}

static void
fire_done(int status, void *body, const char *errmsg, void *arg)
{
	struct call *c = arg;
	struct jw w;
	size_t len;
	char *js;

	if (status < 0) {
		if (status == -EMSGSIZE || status == -EINVAL)
			http_respond_text(c->req, 400, errmsg);
		else
			gossip_error(c->req, status, errmsg);
		call_free(c);
		return;
	}
	jw_init(&w, c->pretty);
	jw_event(&w, body);
	js = jw_finish(&w, &len);
	http_respond(c->req, 200, "application/json", js, len, NULL);
	free(js);
	call_free(c);
}

/* event_index - Consul: the newest event's UUID, its two 64-bit halves
 * XORed */
static uint64_t
event_index(const char *id)
{
	uint8_t b[16];
	size_t i, k = 0;

	if (id == NULL)
		return 0;
	for (i = 0; id[i] && k < 32; i++) {
		int v;

		if (id[i] == '-')
			continue;
		if (sscanf(id + i, "%1x", (unsigned *)&v) != 1)
			return 0;
		if (k % 2 == 0)
			b[k / 2] = (uint8_t)(v << 4);
		else
			b[k / 2] |= (uint8_t)v;
		k++;
	}
	if (k != 32)
		return 0;
	return be64_get(b) ^ be64_get(b + 8);
}

static void
list_done(int status, void *body, const char *errmsg, void *arg)
{
	struct call *c = arg;
	struct ipc_event_list *rep = body;
	uint64_t index = 1;
	struct jw w;
	size_t i;

	if (status < 0) {
		gossip_error(c->req, status, errmsg);
		call_free(c);
		return;
	}
	if (rep->events.n > 0)
		index = event_index(((struct ipc_user_event *)rep->events.v +
					rep->events.n - 1)
					->id);
	if (index == 0)
		index = 1;
	/* blocking: wait while the newest event is the one the client
	 * has seen (the index is a hash, not a counter) */
	if (index == c->index && call_park(c, 0))
		return;
	jw_init(&w, c->pretty);
	jw_arr_open(&w);
	for (i = 0; i < rep->events.n; i++)
		jw_event(&w, (struct ipc_user_event *)rep->events.v + i);
	jw_arr_close(&w);
	respond_json(c->req, &w, index, true, 0);
	call_free(c);
}

/* ------------------------------------------------------------ routing */

static bool
wan_flag(struct http_req *req, bool *wan)
{
	const char *v = http_query(req, "wan");

	*wan = false;
	if (v == NULL)
		return true;
	if (*v == '\0') {
		*wan = true;
		return true;
	}
	if (!parse_bool(v, wan)) {
		http_respond_text(req, 400, "Invalid value for wan");
		return false;
	}
	return true;
}

void
api_agent(struct api *a, struct http_req *req, const char *rest)
{
	struct call *c;
	bool wan;

	if (strcmp(rest, "members") == 0) {
		struct ipc_pool_req q;

		if (!method_ok(req, "GET") || !wan_flag(req, &wan))
			return;
		q.wan = wan;
		c = call_new(a, req);
		ipc_call(a->gossipd, IPC_GOSSIP_MEMBERS, &q,
		    API_IPC_TIMEOUT_MS, members_done, c);
	} else if (strncmp(rest, "join/", 5) == 0) {
		struct ipc_join q;
		char *addr[1];

		/* GET too: python-consul 0.7 uses it (spec section 0) */
		if (!method_ok(req, "PUT,GET") || !wan_flag(req, &wan))
			return;
		if (rest[5] == '\0') {
			http_respond_text(req, 400, "Missing address");
			return;
		}
		memset(&q, 0, sizeof(q));
		addr[0] = (char *)rest + 5;
		q.addrs.v = addr;
		q.addrs.n = 1;
		q.wan = wan;
		c = call_new(a, req);
		ipc_call(a->gossipd, IPC_GOSSIP_JOIN, &q, API_IPC_TIMEOUT_MS,
		    join_done, c);
	} else if (strcmp(rest, "leave") == 0) {
		struct ipc_pool_req q = {false};

		if (!method_ok(req, "PUT"))
			return;
		c = call_new(a, req);
		ipc_call(a->gossipd, IPC_GOSSIP_LEAVE, &q, API_IPC_TIMEOUT_MS,
		    leave_done, c);
	} else if (strncmp(rest, "force-leave/", 12) == 0) {
		struct ipc_force_leave q;

		if (!method_ok(req, "PUT,GET") || !wan_flag(req, &wan))
			return;
		if (rest[12] == '\0') {
			http_respond_text(req, 400, "Missing node name");
			return;
		}
		memset(&q, 0, sizeof(q));
		q.node = (char *)rest + 12;
		q.wan = wan;
		c = call_new(a, req);
		ipc_call(a->gossipd, IPC_GOSSIP_FORCE_LEAVE, &q,
		    API_IPC_TIMEOUT_MS, empty_done, c);
	} else {
		http_respond(req, 404, NULL, "", 0, NULL);
	}
}

void
api_event(struct api *a, struct http_req *req, const char *rest)
{
	struct call *c;

	if (strncmp(rest, "fire/", 5) == 0) {
		struct ipc_user_event q;
		const char *name = rest + 5;

		if (!method_ok(req, "PUT"))
			return;
		if (*name == '\0') {
			http_respond_text(req, 400, "Missing name");
			return;
		}
		/* gossipd's own events (_cairn-keyring) cannot be forged;
		 * _rexec is `cairn exec`'s, fired by the CLI as Consul's */
		if (*name == '_' && strcmp(name, "_rexec") != 0) {
			http_respond_text(req, 400,
			    "Event names starting with '_' are reserved");
			return;
		}
		memset(&q, 0, sizeof(q));
		q.name = (char *)name;
		q.payload.p = req->body.data;
		q.payload.n = req->body.len;
		q.node_filter = (char *)http_query(req, "node");
		q.service_filter = (char *)http_query(req, "service");
		q.tag_filter = (char *)http_query(req, "tag");
		c = call_new(a, req);
		ipc_call(a->gossipd, IPC_GOSSIP_EVENT_FIRE, &q,
		    API_IPC_TIMEOUT_MS, fire_done, c);
	} else if (strcmp(rest, "list") == 0) {
		if (!method_ok(req, "GET"))
			return;
		c = call_new(a, req);
		c->arg = xstrdup(http_query(req, "name") ? http_query(req,
							       "name")
							 : "");
		c->eq.name = c->arg;
		c->rtype = IPC_GOSSIP_EVENT_LIST;
		c->rq = &c->eq;
		c->done = list_done;
		c->table = "events";
		c->gossip = true;
		if (http_query(req, "index") != NULL &&
		    start_blocking(a, c, req) < 0)
			return;
		call_issue(c);
	} else {
		http_respond(req, 404, NULL, "", 0, NULL);
	}
}

/* ------------------------------------------------------- keyring */

/* GET: [{WAN, Datacenter, Segment, Keys{key: n}, NumNodes}] for the LAN
 * pool and, on servers, the WAN pool; POST install, PUT use, DELETE
 * remove with {"Key": "..."} (spread to every member by gossipd) */
struct key_body {
	char *key;
};

static const struct jd_field key_fields[] = {
    {"Key", NULL, JD_STR, offsetof(struct key_body, key), NULL, 0, 0},
    {NULL, NULL, JD_STR, 0, NULL, 0, 0},
};

static void
jw_keyring(struct jw *w, const struct ipc_keyring_reply *r, bool wan,
    const char *dc)
{
	size_t i;

	jw_obj_open(w);
	jw_key(w, "WAN");
	jw_bool(w, wan);
	jw_key(w, "Datacenter");
	jw_str(w, dc);
	jw_key(w, "Segment");
	jw_str(w, "");
	jw_key(w, "Keys");
	jw_obj_open(w);
	for (i = 0; i < r->keys.n; i++) {
		const struct ipc_kv *kv = (const struct ipc_kv *)r->keys.v + i;

		jw_key(w, kv->key);
		jw_uint(w, strtoull(kv->value ? kv->value : "0", NULL, 10));
	}
	jw_obj_close(w);
	jw_key(w, "PrimaryKeys");
	jw_obj_open(w);
	if (r->primary) {
		jw_key(w, r->primary);
		jw_uint(w, r->num_nodes);
	}
	jw_obj_close(w);
	jw_key(w, "NumNodes");
	jw_uint(w, r->num_nodes);
	jw_obj_close(w);
}

static void
keyring_wan_done(int status, void *body, const char *errmsg, void *arg)
{
	struct call *c = arg;
	struct jw *w = (struct jw *)c->rq;
	size_t len;
	char *js;

	(void)errmsg;
	if (status == 0)
		jw_keyring(w, body, true, c->api->datacenter);
	jw_arr_close(w);
	js = jw_finish(w, &len);
	if (js == NULL)
		http_respond_text(c->req, 500, "failed to encode JSON");
	else
		http_respond(c->req, 200, "application/json", js, len, NULL);
	free(js);
	free(w);
	c->rq = NULL;
	call_free(c);
}

static void
keyring_lan_done(int status, void *body, const char *errmsg, void *arg)
{
	struct call *c = arg;
	struct ipc_keyring q;
	struct jw *w;

	if (status < 0) {
		gossip_error(c->req, status, errmsg);
		call_free(c);
		return;
	}
	w = xcalloc(1, sizeof(*w));
	jw_init(w, c->pretty);
	jw_arr_open(w);
	jw_keyring(w, body, false, c->api->datacenter);
	c->rq = w;
	memset(&q, 0, sizeof(q));
	q.op = (char *)"list";
	q.wan = true;
	ipc_call(c->api->gossipd, IPC_GOSSIP_KEYRING, &q, API_IPC_TIMEOUT_MS,
	    keyring_wan_done, c);
}

static void
keyring_wan_op_done(int status, void *body, const char *errmsg, void *arg)
{
	struct call *c = arg;

	(void)body;
	(void)status;
	(void)errmsg;
	/* a client has no WAN pool; a server's WAN keyring follows the
	 * LAN's as far as it can (Consul applies the change to both) */
	http_respond(c->req, 200, NULL, "", 0, NULL);
	call_free(c);
}

static void
keyring_op_done(int status, void *body, const char *errmsg, void *arg)
{
	struct call *c = arg;

	(void)body;
	if (status == 0 && c->arg != NULL) {
		struct ipc_keyring q;

		memset(&q, 0, sizeof(q));
		q.op = (char *)(c->kind == 0 ? "install"
				: c->kind == 1 ? "use" : "remove");
		q.key = c->arg;
		q.wan = true;
		ipc_call(c->api->gossipd, IPC_GOSSIP_KEYRING, &q,
		    API_IPC_TIMEOUT_MS, keyring_wan_op_done, c);
		return;
	}
	if (status == -EINVAL || status == -ENOENT || status == -EBUSY)
		http_respond_text(c->req, 500, errmsg);
	else if (status < 0)
		gossip_error(c->req, status, errmsg);
	else
		http_respond(c->req, 200, NULL, "", 0, NULL);
	call_free(c);
}

void
api_keyring(struct api *a, struct http_req *req)
{
	struct ipc_keyring q;
	struct key_body kb;
	struct errbuf eb;
	struct call *c;

	if (!method_ok(req, "GET,POST,PUT,DELETE"))
		return;
	memset(&q, 0, sizeof(q));
	c = call_new(a, req);
	if (strcmp(req->method, "GET") == 0) {
		q.op = (char *)"list";
		ipc_call(a->gossipd, IPC_GOSSIP_KEYRING, &q,
		    API_IPC_TIMEOUT_MS, keyring_lan_done, c);
		return;
	}
	memset(&kb, 0, sizeof(kb));
	if (jd_decode_text((const char *)req->body.data, req->body.len,
		key_fields, &kb, &eb) < 0) {
		http_respond_text(req, 400, eb.msg);
		jd_free(key_fields, &kb);
		call_free(c);
		return;
	}
	if (kb.key == NULL || *kb.key == '\0') {
		http_respond_text(req, 400, "Missing key");
		jd_free(key_fields, &kb);
		call_free(c);
		return;
	}
	q.op = req->method[0] == 'P' ? (req->method[1] == 'O' ? "install"
							      : "use")
				     : "remove";
	c->kind = q.op[0] == 'i' ? 0 : q.op[0] == 'u' ? 1 : 2;
	c->arg = xstrdup(kb.key); /* for the WAN pool next */
	q.key = kb.key;
	ipc_call(a->gossipd, IPC_GOSSIP_KEYRING, &q, API_IPC_TIMEOUT_MS,
	    keyring_op_done, c);
	jd_free(key_fields, &kb);
}

/* --------------------------------------------------------- coordinates */

void
jw_coord(struct jw *w, const struct cdc_bytes *b)
{
	struct viv_coord c;
	size_t i;

	if (b->n == 0 || viv_decode(b->p, b->n, &c) < 0) {
		jw_null(w);
		return;
	}
	jw_obj_open(w);
	jw_key(w, "Vec");
	jw_arr_open(w);
	for (i = 0; i < VIV_DIM; i++)
		jw_double(w, c.vec[i]);
	jw_arr_close(w);
	jw_key(w, "Error");
	jw_double(w, c.error);
	jw_key(w, "Adjustment");
	jw_double(w, c.adjustment);
	jw_key(w, "Height");
	jw_double(w, c.height);
	jw_obj_close(w);
}

static void
coord_nodes_done(int status, void *body, const char *errmsg, void *arg)
{
	struct call *c = arg;
	struct ipc_members *rep = body;
	struct jw w;
	size_t i;

	if (status < 0) {
		gossip_error(c->req, status, errmsg);
		call_free(c);
		return;
	}
	jw_init(&w, c->pretty);
	jw_arr_open(&w);
	for (i = 0; i < rep->members.n; i++) {
		const struct ipc_member *m =
		    (const struct ipc_member *)rep->members.v + i;

		if (m->coord.n == 0 || m->status != GOSSIP_ALIVE)
			continue;
		jw_obj_open(&w);
		jw_key(&w, "Node");
		jw_str(&w, m->name);
		jw_key(&w, "Segment");
		jw_str(&w, "");
		jw_key(&w, "Partition");
		jw_str(&w, "default");
		jw_key(&w, "Coord");
		jw_coord(&w, &m->coord);
		jw_obj_close(&w);
	}
	jw_arr_close(&w);
	respond_json(c->req, &w, 1, true, 0);
	call_free(c);
}

static int
cmp_member_dc(const void *a, const void *b)
{
	const struct ipc_member *x = a, *y = b;

	return strcmp(x->name, y->name);
}

static void
coord_dcs_done(int status, void *body, const char *errmsg, void *arg)
{
	struct call *c = arg;
	struct ipc_members *rep = body;
	struct ipc_member *ms;
	struct jw w;
	size_t i, k;

	(void)errmsg;
	jw_init(&w, c->pretty);
	jw_arr_open(&w);
	if (status == 0 && rep->members.n > 0) {
		/* group by datacenter (names are node.dc) */
		ms = rep->members.v;
		qsort(ms, rep->members.n, sizeof(*ms), cmp_member_dc);
		for (i = 0; i < rep->members.n; i = k) {
			const char *dot = strrchr(ms[i].name, '.');
			const char *dc = dot ? dot + 1 : "";

			jw_obj_open(&w);
			jw_key(&w, "Datacenter");
			jw_str(&w, dc);
			jw_key(&w, "AreaID");
			jw_str(&w, "wan");
			jw_key(&w, "Coordinates");
			jw_arr_open(&w);
			for (k = i; k < rep->members.n; k++) {
				const char *d2 = strrchr(ms[k].name, '.');

				if (strcmp(d2 ? d2 + 1 : "", dc) != 0)
					break;
				if (ms[k].status != GOSSIP_ALIVE ||
				    ms[k].coord.n == 0)
					continue;
				jw_obj_open(&w);
				jw_key(&w, "Node");
				jw_str(&w, ms[k].name);
				jw_key(&w, "Segment");
				jw_str(&w, "");
				jw_key(&w, "Coord");
				jw_coord(&w, &ms[k].coord);
				jw_obj_close(&w);
			}
			jw_arr_close(&w);
			jw_obj_close(&w);
		}
	}
	jw_arr_close(&w);
	{
		size_t len;
		char *js = jw_finish(&w, &len);

		http_respond(c->req, 200, "application/json", js, len, NULL);
		free(js);
	}
	call_free(c);
}

void
api_coordinate(struct api *a, struct http_req *req, const char *rest)
{
	struct ipc_pool_req q;
	struct call *c;

	if (!method_ok(req, "GET"))
		return;
	if (strcmp(rest, "nodes") == 0) {
		q.wan = false;
		c = call_new(a, req);
		ipc_call(a->gossipd, IPC_GOSSIP_MEMBERS, &q,
		    API_IPC_TIMEOUT_MS, coord_nodes_done, c);
	} else if (strcmp(rest, "datacenters") == 0) {
		q.wan = true;
		c = call_new(a, req);
		ipc_call(a->gossipd, IPC_GOSSIP_MEMBERS, &q,
		    API_IPC_TIMEOUT_MS, coord_dcs_done, c);
	} else {
		http_respond(req, 404, NULL, "", 0, NULL);
	}
}
