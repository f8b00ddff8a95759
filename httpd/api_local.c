/* api_local.c - the /v1/agent/ endpoints of this agent's own state: self,
 * services, checks (register, deregister, TTL updates), maintenance, local
 * service health, and reload (spec/consul-compat.md section 1.2).  checkd
 * owns services and checks; definitions go to it as the client sent them. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "jdec.h"
#include "version.h"
#include "xmalloc.h"

enum { L_SERVICES, L_SERVICE, L_CHECKS, L_HEALTH_ID, L_HEALTH_NAME };

struct lcall {
	struct api *api;
	struct http_req *req;
	int kind;
	bool pretty, text;
	char *id;
	unsigned pending; /* reload, self: replies still to come */
	char *err;	  /* reload: the first error */
	char **stats;	  /* self: "section.key=value" from every daemon */
	size_t nstats;
};

static struct lcall *
lcall_new(struct api *a, struct http_req *req, int kind)
{
	struct lcall *l = xcalloc(1, sizeof(*l));

	l->api = a;
	l->req = req;
	l->kind = kind;
	l->pretty = http_query_has(req, "pretty");
	return l;
}

static void
lcall_free(struct lcall *l)
{
	size_t i;

	for (i = 0; i < l->nstats; i++)
		free(l->stats[i]);
	free(l->stats);
	free(l->id);
	free(l->err);
	free(l);
}

static void
stat_add(struct lcall *l, const char *key, const char *val)
{
	l->stats = xreallocarray(l->stats, l->nstats + 1, sizeof(char *));
	l->stats[l->nstats++] = xasprintf("%s=%s", key, val ? val : "");
}

static int
cmp_strp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* jw_stats - Consul's Stats: {section: {key: "value"}}, sorted */
static void
jw_stats(struct jw *w, struct lcall *l)
{
	size_t i, seclen = 0;
	const char *sec = NULL;

	qsort(l->stats, l->nstats, sizeof(char *), cmp_strp);
	jw_obj_open(w);
	for (i = 0; i < l->nstats; i++) {
		const char *kv = l->stats[i];
		const char *dot = strchr(kv, '.'), *eq = strchr(kv, '=');

		if (dot == NULL || eq == NULL || dot > eq)
			continue;
		if (sec == NULL || seclen != (size_t)(dot - kv) ||
		    strncmp(sec, kv, seclen) != 0) {
			if (sec != NULL)
				jw_obj_close(w);
			sec = kv;
			seclen = (size_t)(dot - kv);
			jw_keyn(w, kv, seclen);
			jw_obj_open(w);
		}
		jw_keyn(w, dot + 1, (size_t)(eq - dot - 1));
		jw_str(w, eq + 1);
	}
	if (sec != NULL)
		jw_obj_close(w);
	jw_obj_close(w);
}

static void
respond_w(struct lcall *l, int status, struct jw *w)
{
	size_t len;
	char *js = jw_finish(w, &len);

	if (l->pretty) {
		/* Consul ends pretty output with a newline */
		js = xreallocarray(js, len + 2, 1);
		js[len++] = '\n';
		js[len] = '\0';
	}
	http_respond(l->req, status, "application/json", js, len, NULL);
	free(js);
}

/* checkd_error - an IPC error as Consul's status and text */
static void
checkd_error(struct http_req *req, int status, const char *msg)
{
	if (status == -EINVAL)
		http_respond_text(req, 400, msg ? msg : "Bad request");
	else if (status == -ENOENT)
		http_respond_text(req, 404, msg ? msg : "Not found");
	else if (status == -EPERM)
		http_respond_text(req, 500, msg ? msg : "Permission denied");
	else if (status == -ETIMEDOUT || status == -EAGAIN ||
	    status == -ECONNREFUSED)
		http_respond_text(req, 500, "checkd is not answering "
		    "(restarting?); try again");
	else
		respond_ipc_error(req, status, msg);
}

static void
empty_done(int status, void *body, const char *errmsg, void *arg)
{
	struct lcall *l = arg;

	(void)body;
	if (status < 0)
		checkd_error(l->req, status, errmsg);
	else
		http_respond(l->req, 200, "application/json", "", 0, NULL);
	lcall_free(l);
}

static void
jw_agent_service(struct jw *w, struct api *a, const struct ipc_service *sv)
{
	jw_obj_open(w);
	jw_service_fields(w, sv, false);
	jw_key(w, "Datacenter");
	jw_str(w, a->datacenter);
	jw_obj_close(w);
}

static bool
is_maint(const struct ipc_check *c)
{
	return strcmp(c->check_id, "_node_maintenance") == 0 ||
	    strncmp(c->check_id, "_service_maintenance:", 21) == 0;
}

/* aggregate - Consul's AggregatedStatus of a service's checks and the
 * node's: maintenance > critical > warning > passing */
static const char *
aggregate(const struct ipc_agent_local *rep, const char *svc_id, int *code)
{
	int worst = 0; /* 0 passing 1 warning 2 critical 3 maintenance */
	size_t i;

	for (i = 0; i < rep->checks.n; i++) {
		const struct ipc_check *c = (struct ipc_check *)rep->checks.v +
		    i;
		int v;

		if (c->service_id && *c->service_id &&
		    strcmp(c->service_id, svc_id) != 0)
			continue;
		v = is_maint(c) ? 3 : strcmp(c->status, "passing") == 0 ? 0
		    : strcmp(c->status, "warning") == 0 ? 1 : 2;
		if (v > worst)
			worst = v;
	}
	*code = worst == 0 ? 200 : worst == 1 ? 429 : 503;
	return worst == 0 ? "passing" : worst == 1 ? "warning"
	    : worst == 2 ? "critical" : "maintenance";
}

static void
jw_health(struct jw *w, struct api *a, const struct ipc_agent_local *rep,
    const struct ipc_service *sv, const char *agg)
{
	size_t i;

	jw_obj_open(w);
	jw_key(w, "AggregatedStatus");
	jw_str(w, agg);
	jw_key(w, "Service");
	jw_agent_service(w, a, sv);
	jw_key(w, "Checks");
	jw_arr_open(w);
	for (i = 0; i < rep->checks.n; i++) {
		const struct ipc_check *c = (struct ipc_check *)rep->checks.v +
		    i;

		if (c->service_id && *c->service_id &&
		    strcmp(c->service_id, sv->id) != 0)
			continue;
		jw_check(w, c);
	}
	jw_arr_close(w);
	jw_obj_close(w);
}

static void
read_done(int status, void *body, const char *errmsg, void *arg)
{
	struct lcall *l = arg;
	struct api *a = l->api;
	struct ipc_agent_local *rep = body;
	const struct ipc_service *sv;
	struct jw w;
	size_t i;
	int code = 200, worst = 200;
	const char *agg = "passing";

	if (status < 0) {
		checkd_error(l->req, status, errmsg);
		lcall_free(l);
		return;
	}
	sv = rep->services.v;
	jw_init(&w, l->pretty);
	switch (l->kind) {
	case L_SERVICES:
		jw_obj_open(&w);
		for (i = 0; i < rep->services.n; i++) {
			jw_key(&w, sv[i].id);
			jw_agent_service(&w, a, &sv[i]);
		}
		jw_obj_close(&w);
		break;
	case L_CHECKS:
		jw_obj_open(&w);
		for (i = 0; i < rep->checks.n; i++) {
			const struct ipc_check *c = (struct ipc_check *)
			    rep->checks.v + i;

			jw_key(&w, c->check_id);
			jw_check(&w, c);
		}
		jw_obj_close(&w);
		break;
	case L_SERVICE:
		if (rep->services.n == 0) {
			char text[600];

			jw_free(&w);
			snprintf(text, sizeof(text), "unknown service ID: %s",
			    l->id);
			http_respond_text(l->req, 404, text);
			lcall_free(l);
			return;
		}
		jw_agent_service(&w, a, &sv[0]);
		break;
	case L_HEALTH_ID:
	case L_HEALTH_NAME:
		if (rep->services.n == 0) {
			char text[600];

			jw_free(&w);
			snprintf(text, sizeof(text), "%s %s not found",
			    l->kind == L_HEALTH_ID ? "ServiceId" : "ServiceName",
			    l->id);
			http_respond_text(l->req, 404, text);
			lcall_free(l);
			return;
		}
		if (l->kind == L_HEALTH_NAME)
			jw_arr_open(&w);
		for (i = 0; i < rep->services.n; i++) {
			const char *one = aggregate(rep, sv[i].id, &code);

			if (code > worst || i == 0) {
				worst = code;
				agg = one;
			}
			jw_health(&w, a, rep, &sv[i], one);
		}
		if (l->kind == L_HEALTH_NAME)
			jw_arr_close(&w);
		if (l->text) {
			jw_free(&w);
			http_respond(l->req, worst, "text/plain", agg,
			    strlen(agg), NULL);
			lcall_free(l);
			return;
		}
		code = worst;
		break;
	}
	respond_w(l, code, &w);
	lcall_free(l);
}

static void
local_read(struct api *a, struct http_req *req, int kind, const char *id)
{
	struct ipc_agent_req q;
	struct lcall *l;
	const char *fmt = http_query(req, "format");

	if (!method_ok(req, "GET"))
		return;
	if (fmt != NULL && strcmp(fmt, "text") != 0) {
		http_respond_text(req, 400, "Invalid format");
		return;
	}
	l = lcall_new(a, req, kind);
	l->text = fmt != NULL;
	l->id = id ? xstrdup(id) : NULL;
	memset(&q, 0, sizeof(q));
	q.id = (char *)id;
	q.by_name = kind == L_HEALTH_NAME;
	ipc_call(a->checkd, IPC_AGENT_LOCAL_READ, &q, API_IPC_TIMEOUT_MS,
	    read_done, l);
}

static bool
is_loopback(const char *ip)
{
	return strncmp(ip, "127.", 4) == 0 || strcmp(ip, "::1") == 0 ||
	    strncmp(ip, "::ffff:127.", 11) == 0;
}

/* send - a request to checkd answered with an empty 200 */
static void
send(struct api *a, struct http_req *req, uint16_t type,
    struct ipc_agent_req *q)
{
	struct lcall *l = lcall_new(a, req, 0);

	ipc_call(a->checkd, type, q, API_IPC_TIMEOUT_MS, empty_done, l);
}

static void
do_register(struct api *a, struct http_req *req, bool service)
{
	struct ipc_agent_req q;
	const char *rec;

	if (!method_ok(req, "PUT,POST"))
		return;
	memset(&q, 0, sizeof(q));
	if (req->body.len == 0) {
		http_respond_text(req, 400, service ? "Missing service name"
						    : "Missing check name");
		return;
	}
	q.def.p = req->body.data;
	q.def.n = req->body.len;
	q.enable = is_loopback(http_peer_ip(req));
	if (service && (rec = http_query(req, "replace-existing-checks")) !=
	    NULL && *rec != '\0' && !parse_bool(rec, &q.replace_checks)) {
		http_respond_text(req, 400,
		    "Invalid value for replace-existing-checks");
		return;
	}
	send(a, req, service ? IPC_AGENT_SERVICE_REGISTER
			     : IPC_AGENT_CHECK_REGISTER, &q);
}

/* enable_param - the required ?enable= of the maintenance endpoints */
static bool
enable_param(struct http_req *req, bool *on)
{
	const char *v = http_query(req, "enable");

	if (v == NULL || *v == '\0') {
		http_respond_text(req, 400, "Missing value for enable");
		return false;
	}
	if (!parse_bool(v, on)) {
		http_respond_text(req, 400, "Invalid value for enable");
		return false;
	}
	return true;
}

struct update_body {
	char *status, *output;
};

static const struct jd_field update_fields[] = {
    {"Status", NULL, JD_STR, offsetof(struct update_body, status), NULL, 0,
	0},
    {"Output", NULL, JD_STR, offsetof(struct update_body, output), NULL, 0,
	0},
    {NULL, NULL, JD_STR, 0, NULL, 0, 0},
};

static void
check_update(struct api *a, struct http_req *req, const char *verb,
    const char *id)
{
	struct ipc_agent_req q;
	struct update_body ub;
	struct errbuf eb;

	memset(&q, 0, sizeof(q));
	q.id = (char *)id;
	if (strcmp(verb, "update") == 0) {
		if (!method_ok(req, "PUT"))
			return;
		memset(&ub, 0, sizeof(ub));
		if (jd_decode_text((const char *)req->body.data, req->body.len,
		    update_fields, &ub, &eb) < 0) {
			http_respond_text(req, 400, eb.msg);
			jd_free(update_fields, &ub);
			return;
		}
		q.status = ub.status ? ub.status : (char *)"";
		q.output = ub.output;
		send(a, req, IPC_AGENT_CHECK_UPDATE, &q);
		jd_free(update_fields, &ub);
		return;
	}
	/* GET too: python-consul 0.7 uses it (spec section 0) */
	if (!method_ok(req, "PUT,GET"))
		return;
	q.status = strcmp(verb, "pass") == 0 ? (char *)"passing"
	    : strcmp(verb, "warn") == 0 ? (char *)"warning"
				       : (char *)"critical";
	q.output = (char *)http_query(req, "note");
	send(a, req, IPC_AGENT_CHECK_UPDATE, &q);
}

/* ----------------------------------------------------------------- self */

static void
self_done(int status, void *body, const char *errmsg, void *arg)
{
	struct lcall *l = arg;
	struct api *a = l->api;
	const struct cairn_conf *cf = a->conf;
	struct ipc_members *rep = body;
	const struct ipc_member *me = NULL;
	struct jw w;
	size_t i;

	if (status < 0) {
		respond_ipc_error(l->req, status, errmsg);
		lcall_free(l);
		return;
	}
	for (i = 0; i < rep->members.n; i++) {
		const struct ipc_member *m = (struct ipc_member *)
		    rep->members.v + i;

		if (strcmp(m->name, a->node_name) == 0)
			me = m;
	}
	jw_init(&w, l->pretty);
	jw_obj_open(&w);
	jw_key(&w, "Config");
	jw_obj_open(&w);
	jw_key(&w, "Datacenter");
	jw_str(&w, a->datacenter);
	jw_key(&w, "PrimaryDatacenter");
	jw_str(&w, cf->primary_datacenter && *cf->primary_datacenter
	    ? cf->primary_datacenter : a->datacenter);
	jw_key(&w, "NodeName");
	jw_str(&w, a->node_name);
	jw_key(&w, "NodeID");
	jw_str(&w, cf->node_id ? cf->node_id : "");
	jw_key(&w, "Server");
	jw_bool(&w, cf->server);
	jw_key(&w, "Revision");
	jw_str(&w, CAIRN_REVISION);
	jw_key(&w, "Version");
	jw_str(&w, CAIRN_VERSION);
	jw_key(&w, "BuildDate");
	jw_str(&w, "");
	jw_obj_close(&w);
	jw_key(&w, "DebugConfig");
	jw_obj_open(&w);
	jw_key(&w, "Datacenter");
	jw_str(&w, a->datacenter);
	jw_key(&w, "NodeName");
	jw_str(&w, a->node_name);
	jw_key(&w, "ServerMode");
	jw_bool(&w, cf->server);
	jw_key(&w, "DataDir");
	jw_str(&w, cf->data_dir ? cf->data_dir : "");
	jw_key(&w, "DNSPort");
	jw_int(&w, cf->port_dns);
	jw_key(&w, "HTTPPort");
	jw_int(&w, cf->port_http);
	jw_key(&w, "SerfPortLAN");
	jw_int(&w, cf->port_serf_lan);
	jw_key(&w, "SerfPortWAN");
	jw_int(&w, cf->port_serf_wan);
	jw_key(&w, "ServerPort");
	jw_int(&w, cf->port_server);
	jw_obj_close(&w);
	jw_key(&w, "Coord");
	if (me != NULL)
		jw_coord(&w, &me->coord);
	else
		jw_null(&w);
	jw_key(&w, "Member");
	if (me != NULL)
		jw_member(&w, me);
	else
		jw_null(&w);
	jw_key(&w, "Stats");
	if (me != NULL) {
		char v[32];

		snprintf(v, sizeof(v), "%u", me->status);
		stat_add(l, "serf_lan.member_status", v);
	}
	stat_add(l, "build.version", CAIRN_VERSION);
	stat_add(l, "build.revision", CAIRN_REVISION);
	stat_add(l, "build.prerelease", "");
	jw_stats(&w, l);
	jw_key(&w, "Meta");
	jw_obj_open(&w);
	for (i = 0; i < cf->node_meta.n; i++) {
		jw_key(&w, cf->node_meta.keys[i]);
		jw_str(&w, cf->node_meta.vals[i]);
	}
	jw_obj_close(&w);
	jw_obj_close(&w);
	respond_w(l, 200, &w);
	lcall_free(l);
}

static void
status_done(int status, void *body, const char *errmsg, void *arg)
{
	struct lcall *l = arg;
	struct ipc_status *st = body;
	struct ipc_pool_req pq = {false};
	size_t i;

	(void)errmsg;
	if (status == 0) {
		const struct ipc_kv *kv = st->info.v;
		char key[128], v[64];

		for (i = 0; i < st->info.n; i++)
			if (kv[i].key != NULL && strchr(kv[i].key, '.'))
				stat_add(l, kv[i].key, kv[i].value);
		/* each daemon's own section: pid, uptime, reloads */
		snprintf(key, sizeof(key), "%s.pid", st->daemon);
		snprintf(v, sizeof(v), "%llu", (unsigned long long)st->pid);
		stat_add(l, key, v);
		snprintf(key, sizeof(key), "%s.uptime", st->daemon);
		snprintf(v, sizeof(v), "%llus",
		    (unsigned long long)(st->uptime_ms / 1000));
		stat_add(l, key, v);
		snprintf(key, sizeof(key), "%s.reloads", st->daemon);
		snprintf(v, sizeof(v), "%llu", (unsigned long long)st->reloads);
		stat_add(l, key, v);
	}
	if (--l->pending > 0)
		return;
	ipc_call(l->api->gossipd, IPC_GOSSIP_MEMBERS, &pq, API_IPC_TIMEOUT_MS,
	    self_done, l);
}

/* self - every daemon's status (Stats), then gossip's view of this node */
static void
self(struct api *a, struct http_req *req)
{
	struct lcall *l = lcall_new(a, req, 0);
	size_t i;

	l->pending = 5;
	for (i = 0; i < 5; i++)
		if (ipc_call(a->reload[i], IPC_STATUS, NULL, 2000, status_done,
		    l) < 0)
			l->pending--;
	if (l->pending == 0) {
		l->pending = 1;
		status_done(-EIO, NULL, NULL, l);
	}
}

/* ---------------------------------------------------------------- reload */

static void
reload_done(int status, void *body, const char *errmsg, void *arg)
{
	struct lcall *l = arg;

	(void)body;
	/* a daemon that is not running (dnsd disabled) has nothing to
	 * reload; a refused config is an error */
	if (status < 0 && status != -ETIMEDOUT && status != -EAGAIN &&
	    l->err == NULL)
		l->err = xstrdup(errmsg ? errmsg : strerror(-status));
	if (--l->pending > 0)
		return;
	if (l->err != NULL)
		http_respond_text(l->req, 500, l->err);
	else
		http_respond(l->req, 200, "application/json", "", 0, NULL);
	lcall_free(l);
}

static void
reload(struct api *a, struct http_req *req)
{
	struct lcall *l;
	size_t i;

	if (!method_ok(req, "PUT,POST"))
		return;
	l = lcall_new(a, req, 0);
	l->pending = 5;
	for (i = 0; i < 5; i++)
		if (ipc_call(a->reload[i], IPC_RELOAD, NULL, 5000, reload_done,
		    l) < 0)
			l->pending--;
	if (l->pending == 0) {
		http_respond(req, 200, "application/json", "", 0, NULL);
		lcall_free(l);
	}
}

bool
api_local(struct api *a, struct http_req *req, const char *rest)
{
	struct ipc_agent_req q;

	memset(&q, 0, sizeof(q));
	if (strcmp(rest, "self") == 0) {
		if (method_ok(req, "GET"))
			self(a, req);
	} else if (strcmp(rest, "reload") == 0) {
		reload(a, req);
	} else if (strcmp(rest, "monitor") == 0) {
		api_monitor(a, req);
	} else if (strcmp(rest, "services") == 0) {
		local_read(a, req, L_SERVICES, NULL);
	} else if (strcmp(rest, "checks") == 0) {
		local_read(a, req, L_CHECKS, NULL);
	} else if (strncmp(rest, "service/", 8) == 0) {
		rest += 8;
		if (strcmp(rest, "register") == 0) {
			do_register(a, req, true);
		} else if (strncmp(rest, "deregister/", 11) == 0) {
			if (!method_ok(req, "PUT,GET"))
				return true;
			q.id = (char *)rest + 11;
			send(a, req, IPC_AGENT_SERVICE_DEREGISTER, &q);
		} else if (strncmp(rest, "maintenance/", 12) == 0) {
			if (!method_ok(req, "PUT") ||
			    !enable_param(req, &q.enable))
				return true;
			if (rest[12] == '\0') {
				http_respond_text(req, 400,
				    "Missing service ID");
				return true;
			}
			q.id = (char *)rest + 12;
			q.output = (char *)http_query(req, "reason");
			send(a, req, IPC_AGENT_MAINTENANCE, &q);
		} else if (*rest != '\0') {
			local_read(a, req, L_SERVICE, rest);
		} else {
			http_respond(req, 404, NULL, "", 0, NULL);
		}
	} else if (strncmp(rest, "check/", 6) == 0) {
		const char *slash;

		rest += 6;
		slash = strchr(rest, '/');
		if (strcmp(rest, "register") == 0) {
			do_register(a, req, false);
		} else if (strncmp(rest, "deregister/", 11) == 0) {
			if (!method_ok(req, "PUT,GET"))
				return true;
			q.id = (char *)rest + 11;
			send(a, req, IPC_AGENT_CHECK_DEREGISTER, &q);
		} else if (slash != NULL && ((slash - rest == 4 &&
		    (strncmp(rest, "pass", 4) == 0 ||
		    strncmp(rest, "warn", 4) == 0 ||
		    strncmp(rest, "fail", 4) == 0)) ||
		    (slash - rest == 6 && strncmp(rest, "update", 6) == 0))) {
			char verb[8];

			snprintf(verb, sizeof(verb), "%.*s",
			    (int)(slash - rest), rest);
			check_update(a, req, verb, slash + 1);
		} else {
			http_respond(req, 404, NULL, "", 0, NULL);
		}
	} else if (strcmp(rest, "maintenance") == 0) {
		if (!method_ok(req, "PUT") || !enable_param(req, &q.enable))
			return true;
		q.output = (char *)http_query(req, "reason");
		send(a, req, IPC_AGENT_MAINTENANCE, &q);
	} else if (strncmp(rest, "health/service/id/", 18) == 0 &&
	    rest[18] != '\0') {
		local_read(a, req, L_HEALTH_ID, rest + 18);
	} else if (strncmp(rest, "health/service/name/", 20) == 0 &&
	    rest[20] != '\0') {
		local_read(a, req, L_HEALTH_NAME, rest + 20);
	} else {
		return false;
	}
	return true;
}
