/* catalog.c - cairn catalog, services and maint, over the agent's HTTP API. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../checkd/defs.h"
#include "cfg.h"
#include "cli.h"
#include "ctl.h"
#include "http.h"
#include "json.h"
#include "xmalloc.h"

static const char *
str_of(yajl_val o, const char *k)
{
	yajl_val v = o && YAJL_IS_OBJECT(o) ? json_obj_get(o, k) : NULL;

	return v && YAJL_IS_STRING(v) ? YAJL_GET_STRING(v) : "";
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* get_json - GET path as JSON (NULL: the error is printed, "<what>:
 * ...") */
static yajl_val
get_json(const struct opts *o, const char *path, const char *what)
{
	struct buf out = BUF_INIT;
	yajl_val v = NULL;

	if (cli_call(o, "GET", path, NULL, 0, &out, what) == 0)
		v = cli_json(&out);
	buf_free(&out);
	return v;
}

/* add_query - "?k=v" or "&k=v" appended to b, v escaped */
static void
add_query(struct buf *b, const char *k, const char *v)
{
	char *e = cli_escape(v, false);

	buf_put_str(b, b->len && memchr(b->data, '?', b->len) ? "&" : "?");
	buf_put_str(b, k);
	buf_put_str(b, "=");
	buf_put_str(b, e);
	free(e);
}

/* path_of - b as a string (NUL added) */
static const char *
path_of(struct buf *b)
{
	buf_put(b, "", 1);
	b->len--;
	return (const char *)b->data;
}

/* node_meta - each -node-meta=k=v as ?node-meta=k:v; 1 on a bad one */
static int
node_meta(const struct opts *o, int k, struct buf *b, const char *usage)
{
	int i;

	for (i = 0; i < o->nmval[k]; i++) {
		const char *s = o->mval[k][i], *eq = strchr(s, '=');
		char *kv;

		if (eq == NULL) {
			fprintf(stderr, "invalid value \"%s\" for flag "
					"-node-meta: missing \"=\"\n%s",
			    s, usage);
			return 1;
		}
		kv = xasprintf("%.*s:%s", (int)(eq - s), s, eq + 1);
		add_query(b, "node-meta", kv);
		free(kv);
	}
	return 0;
}

/* map_kv - an object of strings as "k=v, k=v", sorted by key */
static char *
map_kv(yajl_val m)
{
	struct buf b = BUF_INIT;
	char **keys;
	size_t i, n = m && YAJL_IS_OBJECT(m) ? m->u.object.len : 0;

	keys = xcalloc(n + 1, sizeof(*keys));
	for (i = 0; i < n; i++)
		keys[i] = (char *)m->u.object.keys[i];
	qsort(keys, n, sizeof(*keys), cmp_str);
	for (i = 0; i < n; i++) {
		if (i)
			buf_put_str(&b, ", ");
		buf_put_str(&b, keys[i]);
		buf_put_str(&b, "=");
		buf_put_str(&b, str_of(m, keys[i]));
	}
	free(keys);
	buf_put(&b, "", 1);
	return (char *)buf_steal(&b, NULL);
}

/* ------------------------------------------------------------ catalog */

static int
catalog_datacenters(int argc, char **argv)
{
	static const char usage[] =
	    "Usage: cairn catalog datacenters [options]\n\n"
	    "  Lists the datacenters the agent knows of.\n\n"
	    "  -http-addr=<addr> The agent's HTTP address (127.0.0.1:8500).\n";
	struct opts o;
	yajl_val v;
	size_t i;
	int r;

	if ((r = cli_parse_go(argc, argv, NULL, NULL, &o, usage)) != 0)
		return r;
	if (o.npos > 0) {
		fprintf(stderr, "Too many arguments (expected 0, got %d)\n",
		    o.npos);
		return 1;
	}
	if ((v = get_json(&o, "/v1/catalog/datacenters",
		 "listing datacenters")) == NULL)
		return 1;
	r = 1;
	if (!YAJL_IS_ARRAY(v) || v->u.array.len == 0)
		fprintf(stderr, "No datacenters found\n");
	else
		r = 0;
	for (i = 0; r == 0 && i < v->u.array.len; i++)
		printf("%s\n", YAJL_IS_STRING(v->u.array.values[i])
				   ? YAJL_GET_STRING(v->u.array.values[i])
				   : "");
	yajl_tree_free(v);
	return r;
}

static int
catalog_nodes(int argc, char **argv)
{
	static const char *const bools[] = {"detailed", NULL};
	static const char *const strs[] = {"service", "near", "node-meta*",
	    NULL};
	static const char usage[] =
	    "Usage: cairn catalog nodes [options]\n\n"
	    "  Lists the nodes in the catalog: Node, ID (its first part), "
	    "Address, DC.\n\n"
	    "  -detailed         Full IDs, tagged addresses and metadata.\n"
	    "  -near=<node>      Sort by round trip time from this node "
	    "(_agent: this one).\n"
	    "  -node-meta=<k=v>  Only nodes with this metadata (repeatable).\n"
	    "  -service=<name>   Only nodes providing this service.\n"
	    "  -http-addr=<addr> The agent's HTTP address (127.0.0.1:8500).\n";
	struct buf path = BUF_INIT;
	struct row *rows = NULL;
	struct opts o;
	yajl_val v = NULL;
	size_t i, k, n;
	int r;

	if ((r = cli_parse_go(argc, argv, bools, strs, &o, usage)) != 0)
		return r;
	if (o.npos > 0) {
		fprintf(stderr, "Too many arguments (expected 0, got %d)\n",
		    o.npos);
		return 1;
	}
	if (o.sval[0]) {
		char *e = cli_escape(o.sval[0], false);

		buf_put_str(&path, "/v1/catalog/service/");
		buf_put_str(&path, e);
		free(e);
	} else {
		buf_put_str(&path, "/v1/catalog/nodes");
	}
	if (o.sval[1])
		add_query(&path, "near", o.sval[1]);
	r = 1;
	if (node_meta(&o, 2, &path, usage))
		goto out;
	if ((v = get_json(&o, path_of(&path), o.sval[0]
		     ? "listing nodes for service" : "listing nodes")) == NULL)
		goto out;
	n = YAJL_IS_ARRAY(v) ? v->u.array.len : 0;
	r = 0;
	if (n == 0) {
		fprintf(stderr, "No nodes match the given query - try "
				"expanding your search.\n");
		goto out;
	}
	rows = xcalloc(n + 1, sizeof(*rows));
	rows[0].cols[0] = xstrdup("Node");
	rows[0].cols[1] = xstrdup("ID");
	rows[0].cols[2] = xstrdup("Address");
	rows[0].cols[3] = xstrdup("DC");
	if (o.flag[0]) {
		rows[0].cols[4] = xstrdup("TaggedAddresses");
		rows[0].cols[5] = xstrdup("Meta");
	}
	for (i = 0; i < n; i++) {
		yajl_val e = v->u.array.values[i];
		const char *id = str_of(e, "ID"), *dash = strchr(id, '-');
		struct row *w = &rows[i + 1];

		w->cols[0] = xstrdup(str_of(e, "Node"));
		/* Consul shortens the ID to its first dash-separated part */
		w->cols[1] = !o.flag[0] && dash && dash > id
				 ? xstrndup(id, (size_t)(dash - id))
				 : xstrdup(id);
		w->cols[2] = xstrdup(str_of(e, "Address"));
		w->cols[3] = xstrdup(str_of(e, "Datacenter"));
		if (o.flag[0]) {
			w->cols[4] = map_kv(json_obj_get(e,
			    "TaggedAddresses"));
			w->cols[5] = map_kv(json_obj_get(e,
			    o.sval[0] ? "NodeMeta" : "Meta"));
		}
	}
	cli_table(rows, n + 1, o.flag[0] ? 6 : 4);
	for (i = 0; i <= n; i++)
		for (k = 0; k < 6; k++)
			free(rows[i].cols[k]);
	free(rows);
out:
	if (v)
		yajl_tree_free(v);
	buf_free(&path);
	return r;
}

/* a service name and its tags (catalog services) */
struct svc_tags {
	char *name;
	char **tags;
	size_t ntags;
};

static int
cmp_svc(const void *a, const void *b)
{
	return strcmp(((const struct svc_tags *)a)->name,
	    ((const struct svc_tags *)b)->name);
}

static void
svc_add(struct svc_tags **sv, size_t *n, const char *name, yajl_val tags)
{
	size_t i, k;

	for (i = 0; i < *n; i++)
		if (strcmp((*sv)[i].name, name) == 0)
			break;
	if (i == *n) {
		*sv = xreallocarray(*sv, *n + 1, sizeof(**sv));
		memset(&(*sv)[i], 0, sizeof(**sv));
		(*sv)[i].name = xstrdup(name);
		(*n)++;
	}
	for (k = 0; tags && YAJL_IS_ARRAY(tags) && k < tags->u.array.len;
	     k++) {
		yajl_val t = tags->u.array.values[k];
		struct svc_tags *s = &(*sv)[i];

		s->tags = xreallocarray(s->tags, s->ntags + 1,
		    sizeof(*s->tags));
		s->tags[s->ntags++] = xstrdup(YAJL_IS_STRING(t)
						  ? YAJL_GET_STRING(t)
						  : "");
	}
}

/* width - columns a UTF-8 string takes (code points, as Go's tabwriter) */
static size_t
width(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

static int
catalog_services(int argc, char **argv)
{
	static const char *const bools[] = {"tags", NULL};
	static const char *const strs[] = {"node", "node-meta*", NULL};
	static const char usage[] =
	    "Usage: cairn catalog services [options]\n\n"
	    "  Lists the services in the catalog, sorted by name.\n\n"
	    "  -node=<name>      Only the services of this node.\n"
	    "  -node-meta=<k=v>  Only services on nodes with this metadata "
	    "(repeatable).\n"
	    "  -tags             Show each service's tags.\n"
	    "  -http-addr=<addr> The agent's HTTP address (127.0.0.1:8500).\n";
	struct buf path = BUF_INIT, text = BUF_INIT;
	struct svc_tags *sv = NULL;
	struct opts o;
	yajl_val v = NULL, m;
	size_t i, k, n = 0, w = 0;
	int r;

	if ((r = cli_parse_go(argc, argv, bools, strs, &o, usage)) != 0)
		return r;
	if (o.npos > 0) {
		fprintf(stderr, "Too many arguments (expected 0, got %d)\n",
		    o.npos);
		return 1;
	}
	if (o.sval[0]) {
		char *e = cli_escape(o.sval[0], false);

		buf_put_str(&path, "/v1/catalog/node/");
		buf_put_str(&path, e);
		free(e);
	} else {
		buf_put_str(&path, "/v1/catalog/services");
	}
	r = 1;
	if (node_meta(&o, 1, &path, usage))
		goto out;
	if ((v = get_json(&o, path_of(&path), o.sval[0]
		     ? "listing services for node" : "listing services")) ==
	    NULL)
		goto out;
	if (o.sval[0]) {
		/* {"Node": ..., "Services": {id: {"Service", "Tags"}}} */
		m = YAJL_IS_OBJECT(v) ? json_obj_get(v, "Services") : NULL;
		for (i = 0; m && YAJL_IS_OBJECT(m) && i < m->u.object.len;
		     i++) {
			yajl_val s = m->u.object.values[i];

			svc_add(&sv, &n, str_of(s, "Service"),
			    YAJL_IS_OBJECT(s) ? json_obj_get(s, "Tags")
					      : NULL);
		}
	} else {
		for (i = 0; YAJL_IS_OBJECT(v) && i < v->u.object.len; i++)
			svc_add(&sv, &n, v->u.object.keys[i],
			    v->u.object.values[i]);
	}
	r = 0;
	if (n == 0) {
		fprintf(stderr, "No services match the given query - try "
				"expanding your search.\n");
		goto out;
	}
	qsort(sv, n, sizeof(*sv), cmp_svc);
	for (i = 0; i < n; i++)
		if (width(sv[i].name) > w)
			w = width(sv[i].name);
	for (i = 0; i < n; i++) {
		buf_put_str(&text, sv[i].name);
		if (o.flag[0]) {
			/* Go's tabwriter: name, padding 6, sorted tags */
			for (k = width(sv[i].name); k < w + 6; k++)
				buf_put_str(&text, " ");
			if (sv[i].ntags > 1)
				qsort(sv[i].tags, sv[i].ntags, sizeof(char *),
				    cmp_str);
			for (k = 0; k < sv[i].ntags; k++) {
				if (k)
					buf_put_str(&text, ",");
				buf_put_str(&text, sv[i].tags[k]);
			}
		}
		buf_put_str(&text, "\n");
	}
	/* Consul trims the whole -tags output */
	while (text.len > 0 && (text.data[text.len - 1] == ' ' ||
				   text.data[text.len - 1] == '\n'))
		text.len--;
	fwrite(text.data, 1, text.len, stdout);
	putchar('\n');
out:
	for (i = 0; i < n; i++) {
		for (k = 0; k < sv[i].ntags; k++)
			free(sv[i].tags[k]);
		free(sv[i].tags);
		free(sv[i].name);
	}
	free(sv);
	if (v)
		yajl_tree_free(v);
	buf_free(&path);
	buf_free(&text);
	return r;
}

int
cmd_catalog(int argc, char **argv)
{
	static const struct cli_sub subs[] = {
	    {"datacenters", catalog_datacenters},
	    {"nodes", catalog_nodes},
	    {"services", catalog_services},
	};
	static const char usage[] =
	    "Usage: cairn catalog <subcommand> [options]\n\n"
	    "  Reads the catalog: the datacenters, nodes and services it "
	    "knows.\n\n"
	    "Subcommands:\n"
	    "    datacenters    Lists the known datacenters\n"
	    "    nodes          Lists the nodes\n"
	    "    services       Lists the services\n";

	return cli_dispatch(argc, argv, subs, sizeof(subs) / sizeof(subs[0]),
	    usage);
}

/* ----------------------------------------------------------- services */

/* a service definition to register or deregister */
struct svc {
	char *json;	 /* the definition as JSON */
	char *name, *id; /* id: "" to use the name */
};

static void
svcs_free(struct svc *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(s[i].json);
		free(s[i].name);
		free(s[i].id);
	}
	free(s);
}

/* svcs_from_files - the service definitions of config files, loaded as
 * the agent loads them (dev mode: no data_dir needed), each checked with
 * checkd's parser.  Returns 0, or 1 with "Error: ..." printed. */
static int
svcs_from_files(char **files, int nfiles, struct svc **out, size_t *nout)
{
	struct svc *sv = NULL;
	size_t n = 0, i;
	int f;

	for (f = 0; f < nfiles; f++) {
		char *args[3] = {(char *)"-dev", (char *)"-config-file",
		    files[f]};
		struct cairn_conf c;
		struct errbuf eb;

		if (cfg_load(3, args, &c, &eb) < 0) {
			fprintf(stderr, "Error: %s\n", eb.msg);
			svcs_free(sv, n);
			return 1;
		}
		for (i = 0; i < c.services.n; i++) {
			const char *js = c.services.v[i];
			struct service_def sd;

			if (service_def_parse(js, strlen(js), &sd, &eb) < 0) {
				fprintf(stderr, "Error: %s: services[%zu]: "
						"%s\n",
				    files[f], i, eb.msg);
				service_def_free(&sd);
				cfg_free(&c);
				svcs_free(sv, n);
				return 1;
			}
			sv = xreallocarray(sv, n + 1, sizeof(*sv));
			sv[n].json = xstrdup(js);
			sv[n].name = xstrdup(sd.name);
			sv[n].id = xstrdup(sd.id); /* defaults to the name */
			n++;
			service_def_free(&sd);
		}
		cfg_free(&c);
	}
	*out = sv;
	*nout = n;
	return 0;
}

static int
services_register(int argc, char **argv)
{
	static const char *const strs[] = {"name", "id", "address", "port",
	    "tag*", "meta*", NULL};
	static const char usage[] =
	    "Usage: cairn services register [options] [FILE...]\n\n"
	    "  Registers services with the local agent, from flags or from "
	    "config files\n  holding {\"service\": {...}} or {\"services\": "
	    "[...]}.\n\n"
	    "  -address=<addr>   The service's address (default: the "
	    "node's).\n"
	    "  -id=<id>          The service's ID (default: its name).\n"
	    "  -meta=<k=v>       Metadata (repeatable).\n"
	    "  -name=<name>      The service's name.\n"
	    "  -port=<port>      The service's port.\n"
	    "  -tag=<tag>        A tag (repeatable).\n"
	    "  -http-addr=<addr> The agent's HTTP address (127.0.0.1:8500).\n";
	struct svc *sv = NULL;
	size_t n = 0, i;
	struct opts o;
	long port = 0;
	int r, k;

	if ((r = cli_parse_go(argc, argv, NULL, strs, &o, usage)) != 0)
		return r;
	if (o.sval[3]) {
		char *end;

		port = strtol(o.sval[3], &end, 0);
		if (*o.sval[3] == '\0' || *end != '\0') {
			fprintf(stderr, "invalid value \"%s\" for flag -port: "
					"parse error\n%s",
			    o.sval[3], usage);
			return 1;
		}
	}
	for (k = 0; k < o.nmval[5]; k++)
		if (strchr(o.mval[5][k], '=') == NULL) {
			fprintf(stderr, "invalid value \"%s\" for flag -meta: "
					"missing \"=\"\n%s",
			    o.mval[5][k], usage);
			return 1;
		}
	if (o.sval[0] && *o.sval[0]) {
		struct jw w;

		jw_init(&w, false);
		jw_obj_open(&w);
		if (o.sval[1] && *o.sval[1]) {
			jw_key(&w, "ID");
			jw_str(&w, o.sval[1]);
		}
		jw_key(&w, "Name");
		jw_str(&w, o.sval[0]);
		if (o.nmval[4] > 0) {
			jw_key(&w, "Tags");
			jw_arr_open(&w);
			for (k = 0; k < o.nmval[4]; k++)
				jw_str(&w, o.mval[4][k]);
			jw_arr_close(&w);
		}
		if (port != 0) {
			jw_key(&w, "Port");
			jw_int(&w, port);
		}
		if (o.sval[2] && *o.sval[2]) {
			jw_key(&w, "Address");
			jw_str(&w, o.sval[2]);
		}
		if (o.nmval[5] > 0) {
			jw_key(&w, "Meta");
			jw_obj_open(&w);
			for (k = 0; k < o.nmval[5]; k++) {
				const char *s = o.mval[5][k];
				const char *eq = strchr(s, '=');

				jw_keyn(&w, s, (size_t)(eq - s));
				jw_str(&w, eq + 1);
			}
			jw_obj_close(&w);
		}
		jw_obj_close(&w);
		sv = xcalloc(1, sizeof(*sv));
		sv[0].json = jw_finish(&w, NULL);
		sv[0].name = xstrdup(o.sval[0]);
		sv[0].id = xstrdup(o.sval[1] ? o.sval[1] : "");
		n = 1;
		if (sv[0].json == NULL) {
			fprintf(stderr, "Error: cannot encode the service\n");
			svcs_free(sv, n);
			return 1;
		}
	}
	if (n == 0 && o.npos == 0) {
		fprintf(stderr, "Service registration requires at least one "
				"argument or flags.\n");
		return 1;
	}
	if (n > 0 && o.npos > 0) {
		fprintf(stderr, "Service registration requires arguments or "
				"-id, not both.\n");
		svcs_free(sv, n);
		return 1;
	}
	if (o.npos > 0 && svcs_from_files(o.pos, o.npos, &sv, &n))
		return 1;
	for (i = 0; i < n && r == 0; i++) {
		struct buf out = BUF_INIT;
		char *what = xasprintf("registering service \"%s\"",
		    sv[i].name);

		r = cli_call(&o, "PUT", "/v1/agent/service/register",
		    sv[i].json, strlen(sv[i].json), &out, what);
		if (r == 0)
			printf("Registered service: %s\n", sv[i].name);
		free(what);
		buf_free(&out);
	}
	svcs_free(sv, n);
	return r;
}

static int
services_deregister(int argc, char **argv)
{
	static const char *const strs[] = {"id", NULL};
	static const char usage[] =
	    "Usage: cairn services deregister [options] [FILE...]\n\n"
	    "  Deregisters services from the local agent: -id, or those "
	    "defined in\n  config files (as for register).\n\n"
	    "  -id=<id>          The ID of the service.\n"
	    "  -http-addr=<addr> The agent's HTTP address (127.0.0.1:8500).\n";
	struct svc *sv = NULL;
	size_t n = 0, i;
	struct opts o;
	int r;

	if ((r = cli_parse_go(argc, argv, NULL, strs, &o, usage)) != 0)
		return r;
	if (o.npos == 0 && (o.sval[0] == NULL || !*o.sval[0])) {
		fprintf(stderr, "Service deregistration requires at least one "
				"argument or -id.\n");
		return 1;
	}
	if (o.npos > 0 && o.sval[0] && *o.sval[0]) {
		fprintf(stderr, "Service deregistration requires arguments or "
				"-id, not both.\n");
		return 1;
	}
	if (o.npos > 0) {
		if (svcs_from_files(o.pos, o.npos, &sv, &n))
			return 1;
	} else {
		sv = xcalloc(1, sizeof(*sv));
		sv[0].name = xstrdup("");
		sv[0].id = xstrdup(o.sval[0]);
		n = 1;
	}
	for (i = 0; i < n && r == 0; i++) {
		const char *id = *sv[i].id ? sv[i].id : sv[i].name;
		struct buf out = BUF_INIT;
		char *e, *path, *what;

		if (*id == '\0')
			continue;
		e = cli_escape(id, false);
		path = xasprintf("/v1/agent/service/deregister/%s", e);
		what = xasprintf("deregistering service \"%s\"", sv[i].name);
		r = cli_call(&o, "PUT", path, NULL, 0, &out, what);
		if (r == 0)
			printf("Deregistered service: %s\n", id);
		free(what);
		free(path);
		free(e);
		buf_free(&out);
	}
	svcs_free(sv, n);
	return r;
}

int
cmd_services(int argc, char **argv)
{
	static const struct cli_sub subs[] = {
	    {"deregister", services_deregister},
	    {"register", services_register},
	};
	static const char usage[] =
	    "Usage: cairn services <subcommand> [options] [args]\n\n"
	    "  Registers and deregisters the local agent's services.\n\n"
	    "Subcommands:\n"
	    "    deregister    Deregisters services\n"
	    "    register      Registers services\n";

	return cli_dispatch(argc, argv, subs, sizeof(subs) / sizeof(subs[0]),
	    usage);
}

/* -------------------------------------------------------------- maint */

static int
cmp_check_sid(const void *a, const void *b)
{
	return strcmp(str_of(*(yajl_val const *)a, "ServiceID"),
	    str_of(*(yajl_val const *)b, "ServiceID"));
}

/* maint_list - the node's and services' maintenance checks */
static int
maint_list(const struct opts *o)
{
	yajl_val self, checks, node = NULL, *svc;
	size_t i, n = 0;

	if ((self = get_json(o, "/v1/agent/self",
		 "querying Cairn agent")) == NULL)
		return 1;
	if ((checks = get_json(o, "/v1/agent/checks", "getting checks")) ==
	    NULL) {
		yajl_tree_free(self);
		return 1;
	}
	svc = xcalloc(YAJL_IS_OBJECT(checks) ? checks->u.object.len + 1 : 1,
	    sizeof(*svc));
	for (i = 0; YAJL_IS_OBJECT(checks) && i < checks->u.object.len; i++) {
		yajl_val c = checks->u.object.values[i];
		const char *id = str_of(c, "CheckID");

		if (strcmp(id, "_node_maintenance") == 0)
			node = c;
		else if (strncmp(id, "_service_maintenance:", 21) == 0)
			svc[n++] = c;
	}
	qsort(svc, n, sizeof(*svc), cmp_check_sid);
	if (node)
		printf("Node:\n  Name:   %s\n  Reason: %s\n\n",
		    str_of(json_obj_get(self, "Config"), "NodeName"),
		    str_of(node, "Notes"));
	for (i = 0; i < n; i++)
		printf("Service:\n  ID:     %s\n  Reason: %s\n\n",
		    str_of(svc[i], "ServiceID"), str_of(svc[i], "Notes"));
	free(svc);
	yajl_tree_free(checks);
	yajl_tree_free(self);
	return 0;
}

int
cmd_maint(int argc, char **argv)
{
	static const char *const bools[] = {"enable", "disable", NULL};
	static const char *const strs[] = {"reason", "service", NULL};
	static const char usage[] =
	    "Usage: cairn maint [options]\n\n"
	    "  Puts the node or one of its services into maintenance mode, "
	    "takes it out,\n  or with no -enable/-disable lists what is in "
	    "maintenance.\n\n"
	    "  -disable          Leave maintenance mode.\n"
	    "  -enable           Enter maintenance mode.\n"
	    "  -reason=<text>    Why (shown in the check's Notes; with "
	    "-enable).\n"
	    "  -service=<id>     The service to act on instead of the node.\n"
	    "  -http-addr=<addr> The agent's HTTP address (127.0.0.1:8500).\n";
	struct buf out = BUF_INIT;
	const char *reason;
	struct opts o;
	char *path, *er, *es, *what;
	bool on;
	int r;

	if ((r = cli_parse_go(argc, argv, bools, strs, &o, usage)) != 0)
		return r;
	if (o.npos > 0) {
		fprintf(stderr, "Too many arguments (expected 0, got %d)\n",
		    o.npos);
		return 1;
	}
	if (o.flag[0] && o.flag[1]) {
		fprintf(stderr, "Only one of -enable or -disable may be "
				"provided\n");
		return 1;
	}
	reason = o.sval[0] ? o.sval[0] : "";
	if (!o.flag[0] && *reason) {
		fprintf(stderr, "Reason may only be provided with -enable\n");
		return 1;
	}
	if (!o.flag[0] && !o.flag[1] && o.sval[1] && *o.sval[1]) {
		fprintf(stderr, "Service requires either -enable or -disable\n");
		return 1;
	}
	if (!o.flag[0] && !o.flag[1])
		return maint_list(&o);
	on = o.flag[0];
	er = cli_escape(reason, false);
	if (o.sval[1] && *o.sval[1]) {
		es = cli_escape(o.sval[1], false);
		path = xasprintf("/v1/agent/service/maintenance/%s?enable=%s"
				 "%s%s",
		    es, on ? "true" : "false", on ? "&reason=" : "",
		    on ? er : "");
		what = xasprintf("%s service maintenance",
		    on ? "enabling" : "disabling");
		free(es);
	} else {
		path = xasprintf("/v1/agent/maintenance?enable=%s%s%s",
		    on ? "true" : "false", on ? "&reason=" : "", on ? er : "");
		what = xasprintf("%s node maintenance",
		    on ? "enabling" : "disabling");
	}
	r = cli_call(&o, "PUT", path, NULL, 0, &out, what);
	if (r == 0 && o.sval[1] && *o.sval[1])
		printf("Service maintenance is now %s for \"%s\"\n",
		    on ? "enabled" : "disabled", o.sval[1]);
	else if (r == 0)
		printf("Node maintenance is now %s\n",
		    on ? "enabled" : "disabled");
	free(what);
	free(path);
	free(er);
	buf_free(&out);
	return r;
}
