/* members.c - cairn members, join, leave, force-leave, event, keygen,
 * keyring: Consul's gossip commands, over the agent's HTTP API. */
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "cli.h"
#include "ctl.h"
#include "http.h"
#include "jdec.h"
#include "json.h"
#include "vivaldi.h"
#include "xmalloc.h"

/* ---------------------------------------------------------------- members */

static int
cmp_row(const void *a, const void *b)
{
	return strcmp(((const struct row *)a)->cols[0],
	    ((const struct row *)b)->cols[0]);
}

static const char *
tag(yajl_val tags, const char *k)
{
	yajl_val v = tags ? json_obj_get(tags, k) : NULL;

	return v && YAJL_IS_STRING(v) ? YAJL_GET_STRING(v) : "";
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static const char *const status_names[] = {"none", "alive", "leaving",
    "left", "failed"};

int
cmd_members(int argc, char **argv)
{
	static const char *const bools[] = {"detailed", "wan", NULL};
	static const char *const strs[] = {"status", "segment", "partition",
	    NULL};
	static const char usage[] =
	    "Usage: cairn members [options]\n\n"
	    "  Outputs the members of a running Cairn agent.\n\n"
	    "  -detailed         Additional information such as protocol "
	    "versions.\n"
	    "  -status=<regexp>  Only members whose status matches.\n"
	    "  -wan              The WAN members (servers only).\n"
	    "  -http-addr=<addr> The agent's HTTP address (127.0.0.1:8500).\n";
	struct opts o;
	struct buf out = BUF_INIT;
	struct row *rows;
	regex_t rx;
	yajl_val v;
	size_t i, n = 0;
	int r;

	if ((r = cli_parse(argc, argv, bools, strs, &o, usage)) != 0)
		return r;
	if (o.sval[0] && regcomp(&rx, o.sval[0], REG_EXTENDED | REG_NOSUB)) {
		fprintf(stderr, "Failed to compile status regexp: %s\n",
		    o.sval[0]);
		return 1;
	}
	if (cli_call(&o, "GET", o.flag[1] ? "/v1/agent/members?wan=1"
				      : "/v1/agent/members",
		NULL, 0, &out, "retrieving members")) {
		buf_free(&out);
		return 1;
	}
	if ((v = cli_json(&out)) == NULL || !YAJL_IS_ARRAY(v)) {
		buf_free(&out);
		return 1;
	}
	rows = xcalloc(v->u.array.len + 1, sizeof(*rows));
	for (i = 0; i < v->u.array.len; i++) {
		yajl_val m = v->u.array.values[i];
		yajl_val tags = json_obj_get(m, "Tags");
		yajl_val st = json_obj_get(m, "Status");
		long s = st && YAJL_IS_INTEGER(st) ? YAJL_GET_INTEGER(st) : 0;
		const char *status = s >= 0 && s <= 4 ? status_names[s] : "none";
		yajl_val name = json_obj_get(m, "Name");
		yajl_val addr = json_obj_get(m, "Addr");
		yajl_val port = json_obj_get(m, "Port");
		char a[128], build[64];
		const char *colon;
		bool server = strcmp(tag(tags, "role"), "consul") == 0;

		if (o.sval[0] && regexec(&rx, status, 0, NULL, 0) != 0)
			continue;
		snprintf(a, sizeof(a), "%s:%lld",
		    addr && YAJL_IS_STRING(addr) ? YAJL_GET_STRING(addr) : "",
		    port && YAJL_IS_INTEGER(port) ? YAJL_GET_INTEGER(port) : 0);
		rows[n].cols[0] = xstrdup(name && YAJL_IS_STRING(name)
					      ? YAJL_GET_STRING(name)
					      : "");
		rows[n].cols[1] = xstrdup(a);
		rows[n].cols[2] = xstrdup(status);
		if (o.flag[0]) {
			/* -detailed: the tags, k=v sorted */
			char *kv[64];
			size_t k, nk = 0;
			struct buf t = BUF_INIT;

			for (k = 0; tags && YAJL_IS_OBJECT(tags) &&
				    k < tags->u.object.len && nk < 64;
			     k++) {
				yajl_val tv = tags->u.object.values[k];
				char line[512];

				snprintf(line, sizeof(line), "%s=%s",
				    tags->u.object.keys[k],
				    YAJL_IS_STRING(tv) ? YAJL_GET_STRING(tv)
						       : "");
				kv[nk++] = xstrdup(line);
			}
			qsort(kv, nk, sizeof(kv[0]), cmp_str);
			for (k = 0; k < nk; k++) {
				if (k)
					buf_put(&t, ",", 1);
				buf_put(&t, kv[k], strlen(kv[k]));
				free(kv[k]);
			}
			buf_put(&t, "", 1);
			rows[n].cols[3] = xstrdup((char *)t.data);
			buf_free(&t);
		} else {
			colon = strchr(tag(tags, "build"), ':');
			snprintf(build, sizeof(build), "%.*s",
			    colon ? (int)(colon - tag(tags, "build"))
				  : (int)strlen(tag(tags, "build")),
			    tag(tags, "build"));
			rows[n].cols[3] = xstrdup(server ? "server" : "client");
			rows[n].cols[4] = xstrdup(build);
			rows[n].cols[5] = xstrdup(tag(tags, "vsn"));
			rows[n].cols[6] = xstrdup(tag(tags, "dc"));
			rows[n].cols[7] = xstrdup("default");
			rows[n].cols[8] = xstrdup(server ? "<all>" : "<default>");
		}
		n++;
	}
	qsort(rows, n, sizeof(*rows), cmp_row);
	if (n > 0) {
		struct row *all = xcalloc(n + 1, sizeof(*all));
		static const char *const hd[] = {"Node", "Address", "Status",
		    "Tags"};
		static const char *const h[] = {"Node", "Address", "Status",
		    "Type", "Build", "Protocol", "DC", "Partition", "Segment"};

		if (o.flag[0])
			memcpy(all[0].cols, hd, sizeof(hd));
		else
			memcpy(all[0].cols, h, sizeof(h));
		memcpy(all + 1, rows, n * sizeof(*rows));
		cli_table(all, n + 1, o.flag[0] ? 4 : 9);
		free(all);
	}
	for (i = 0; i < n; i++) {
		size_t k;

		for (k = 0; k < 10; k++)
			free(rows[i].cols[k]);
	}
	free(rows);
	yajl_tree_free(v);
	buf_free(&out);
	if (o.sval[0])
		regfree(&rx);
	return n == 0 ? 2 : 0; /* Consul: 2 when nothing matched */
}

/* ------------------------------------------------------- join and leave */

int
cmd_join(int argc, char **argv)
{
	static const char *const bools[] = {"wan", NULL};
	static const char usage[] =
	    "Usage: cairn join [options] address ...\n\n"
	    "  Tells a running Cairn agent to join the cluster by contacting "
	    "one or more\n  of the given addresses.\n\n"
	    "  -wan              Joins a server to another server in the WAN "
	    "pool.\n";
	struct opts o;
	int i, r, ok = 0;

	if ((r = cli_parse(argc, argv, bools, NULL, &o, usage)) != 0)
		return r;
	if (o.npos == 0) {
		fprintf(stderr, "At least one address to join must be "
				"specified.\n%s",
		    usage);
		return 1;
	}
	for (i = 0; i < o.npos; i++) {
		struct buf out = BUF_INIT;
		char path[600];
		long status = 0;

		snprintf(path, sizeof(path), "/v1/agent/join/%s%s", o.pos[i],
		    o.flag[0] ? "?wan=1" : "");
		if (ctl_http_do(&o.h, "PUT", path, NULL, 0, &status, &out) < 0)
			return 1;
		if (status == 200)
			ok++;
		else
			fprintf(stderr, "Error joining address '%s': %.*s\n",
			    o.pos[i], (int)out.len,
			    out.data ? (char *)out.data : "");
		buf_free(&out);
	}
	if (ok == 0) {
		fprintf(stderr, "Failed to join any nodes.\n");
		return 1;
	}
	printf("Successfully joined cluster by contacting %d nodes.\n", ok);
	return 0;
}

/* put_noargs - a command without arguments that is one PUT */
static int
put_noargs(int argc, char **argv, const char *usage, const char *path,
    const char *what, const char *done)
{
	struct buf out = BUF_INIT;
	struct opts o;
	int r;

	if ((r = cli_parse(argc, argv, NULL, NULL, &o, usage)) != 0)
		return r;
	if (o.npos > 0) {
		fprintf(stderr, "This command takes no arguments\n");
		return 1;
	}
	r = cli_call(&o, "PUT", path, NULL, 0, &out, what);
	buf_free(&out);
	if (r)
		return 1;
	printf("%s\n", done);
	return 0;
}

int
cmd_leave(int argc, char **argv)
{
	static const char usage[] =
	    "Usage: cairn leave [options]\n\n"
	    "  Causes the agent to gracefully leave the Cairn cluster and "
	    "shutdown.\n";

	return put_noargs(argc, argv, usage, "/v1/agent/leave", "leaving",
	    "Graceful leave complete");
}

int
cmd_reload(int argc, char **argv)
{
	static const char usage[] =
	    "Usage: cairn reload [options]\n\n"
	    "  Causes the agent to reload configurations (services, checks, "
	    "log level, ...).\n";

	return put_noargs(argc, argv, usage, "/v1/agent/reload", "reloading",
	    "Configuration reload triggered");
}

int
cmd_force_leave(int argc, char **argv)
{
	static const char *const bools[] = {"wan", "prune", NULL};
	static const char usage[] =
	    "Usage: cairn force-leave [options] name\n\n"
	    "  Forces a member of the cluster to enter the \"left\" state.\n";
	struct buf out = BUF_INIT;
	char path[600];
	struct opts o;
	int r;

	if ((r = cli_parse(argc, argv, bools, NULL, &o, usage)) != 0)
		return r;
	if (o.npos != 1) {
		fprintf(stderr, "A single node name must be specified to "
				"force leave.\n");
		return 1;
	}
	snprintf(path, sizeof(path), "/v1/agent/force-leave/%s%s", o.pos[0],
	    o.flag[0] ? "?wan=1" : "");
	r = cli_call(&o, "PUT", path, NULL, 0, &out, "force leaving");
	buf_free(&out);
	return r;
}

/* ------------------------------------------------------------------ event */

int
cmd_event(int argc, char **argv)
{
	static const char *const strs[] = {"name", "node", "service", "tag",
	    NULL};
	static const char usage[] =
	    "Usage: cairn event [options] [payload]\n\n"
	    "  Dispatches a custom user event across a datacenter.\n\n"
	    "  -name=<name>      Name of the event.\n"
	    "  -node=<regexp>    Only nodes whose name matches.\n"
	    "  -service=<regexp> Only nodes with a matching service.\n"
	    "  -tag=<regexp>     Only nodes with a matching service tag.\n";
	struct buf out = BUF_INIT;
	char path[1200];
	struct opts o;
	yajl_val v, id;
	int r;

	if ((r = cli_parse(argc, argv, NULL, strs, &o, usage)) != 0)
		return r;
	if (o.sval[0] == NULL || *o.sval[0] == '\0') {
		fprintf(stderr, "Event name must be specified\n");
		return 1;
	}
	if (o.npos > 1) {
		fprintf(stderr, "Too many command line arguments\n");
		return 1;
	}
	if (o.sval[3] && !o.sval[2]) {
		fprintf(stderr, "Cannot provide tag filter without service "
				"filter.\n");
		return 1;
	}
	snprintf(path, sizeof(path), "/v1/event/fire/%s%s%s%s%s%s%s",
	    o.sval[0], o.sval[1] || o.sval[2] ? "?" : "",
	    o.sval[1] ? "node=" : "", o.sval[1] ? o.sval[1] : "",
	    o.sval[2] ? (o.sval[1] ? "&service=" : "service=") : "",
	    o.sval[2] ? o.sval[2] : "", "");
	r = cli_call(&o, "PUT", path, o.npos ? o.pos[0] : "",
	    o.npos ? strlen(o.pos[0]) : 0, &out, "firing the event");
	if (r == 0 && (v = cli_json(&out)) != NULL) {
		id = json_obj_get(v, "ID");
		printf("Event ID: %s\n",
		    id && YAJL_IS_STRING(id) ? YAJL_GET_STRING(id) : "");
		yajl_tree_free(v);
	}
	buf_free(&out);
	return r;
}

/* ------------------------------------------------------ keygen, keyring */

int
cmd_keygen(int argc, char **argv)
{
	uint8_t key[32];
	char *s;

	(void)argv;
	if (argc > 1) {
		fprintf(stderr, "This command takes no arguments\n");
		return 1;
	}
	if (RAND_bytes(key, sizeof(key)) != 1) {
		fprintf(stderr, "Error reading random data\n");
		return 1;
	}
	s = jd_base64_encode(key, sizeof(key));
	printf("%s\n", s);
	free(s);
	return 0;
}

int
cmd_keyring(int argc, char **argv)
{
	static const char *const bools[] = {"list", NULL};
	static const char *const strs[] = {"install", "use", "remove", NULL};
	static const char usage[] =
	    "Usage: cairn keyring [options]\n\n"
	    "  Manages encryption keys used for gossip messages.\n\n"
	    "  -install=<key>  Install a new encryption key.\n"
	    "  -list           List all keys currently in use.\n"
	    "  -remove=<key>   Remove the given key from the cluster.\n"
	    "  -use=<key>      Change the primary encryption key.\n";
	static const char *const methods[] = {"POST", "PUT", "DELETE"};
	struct buf out = BUF_INIT;
	struct opts o;
	yajl_val v;
	size_t i, k;
	int r, nops = 0, op = -1;

	if ((r = cli_parse(argc, argv, bools, strs, &o, usage)) != 0)
		return r;
	for (i = 0; i < 3; i++)
		if (o.sval[i]) {
			nops++;
			op = (int)i;
		}
	nops += o.flag[0];
	if (nops != 1) {
		fprintf(stderr, "Only a single action is allowed\n%s", usage);
		return 1;
	}
	if (op >= 0) {
		char body[256];

		snprintf(body, sizeof(body), "{\"Key\":\"%.100s\"}",
		    o.sval[op]);
		printf("==> %s gossip encryption key...\n",
		    op == 0 ? "Installing new" : op == 1 ? "Changing primary"
							 : "Removing");
		r = cli_call(&o, methods[op], "/v1/operator/keyring", body,
		    strlen(body), &out, "managing the keyring");
		buf_free(&out);
		return r;
	}
	printf("==> Gathering installed encryption keys...\n");
	if (cli_call(&o, "GET", "/v1/operator/keyring", NULL, 0, &out,
		"listing keys")) {
		buf_free(&out);
		return 1;
	}
	if ((v = cli_json(&out)) != NULL && YAJL_IS_ARRAY(v)) {
		for (i = 0; i < v->u.array.len; i++) {
			yajl_val e = v->u.array.values[i];
			yajl_val wan = json_obj_get(e, "WAN");
			yajl_val dc = json_obj_get(e, "Datacenter");
			yajl_val keys = json_obj_get(e, "Keys");
			yajl_val nn = json_obj_get(e, "NumNodes");

			if (wan && YAJL_IS_TRUE(wan))
				printf("\nWAN:\n");
			else
				printf("\n%s (LAN):\n",
				    dc && YAJL_IS_STRING(dc) ? YAJL_GET_STRING(dc)
							     : "");
			for (k = 0; keys && YAJL_IS_OBJECT(keys) &&
				    k < keys->u.object.len;
			     k++)
				printf("  %s [%lld/%lld]\n",
				    keys->u.object.keys[k],
				    YAJL_IS_INTEGER(keys->u.object.values[k])
					? YAJL_GET_INTEGER(
					      keys->u.object.values[k])
					: 0,
				    nn && YAJL_IS_INTEGER(nn)
					? YAJL_GET_INTEGER(nn)
					: 0);
		}
	}
	if (v)
		yajl_tree_free(v);
	buf_free(&out);
	return 0;
}

/* -------------------------------------------------------------------- rtt */

static double
getd(yajl_val o, const char *k)
{
	yajl_val v = o ? json_obj_get(o, k) : NULL;

	return v && YAJL_IS_NUMBER(v) ? YAJL_GET_DOUBLE(v) : 0.0;
}

static int
find_coord(yajl_val arr, const char *node, struct viv_coord *c)
{
	size_t i, k;

	for (i = 0; arr && YAJL_IS_ARRAY(arr) && i < arr->u.array.len; i++) {
		yajl_val e = arr->u.array.values[i];
		yajl_val n = json_obj_get(e, "Node");
		yajl_val co = json_obj_get(e, "Coord");
		yajl_val vec;
		const char *ns = n && YAJL_IS_STRING(n) ? YAJL_GET_STRING(n)
							  : NULL;

		if (ns == NULL || strcmp(ns, node) != 0 || !co)
			continue;
		vec = json_obj_get(co, "Vec");
		if (!vec || !YAJL_IS_ARRAY(vec) ||
		    vec->u.array.len != VIV_DIM)
			return -1;
		for (k = 0; k < VIV_DIM; k++)
			c->vec[k] = YAJL_IS_NUMBER(vec->u.array.values[k])
					? YAJL_GET_DOUBLE(vec->u.array.values[k])
					: 0.0;
		c->error = getd(co, "Error");
		c->adjustment = getd(co, "Adjustment");
		c->height = getd(co, "Height");
		return 0;
	}
	return -1;
}

int
cmd_rtt(int argc, char **argv)
{
	static const char *const bools[] = {"wan", NULL};
	static const char usage[] =
	    "Usage: cairn rtt [options] node1 [node2]\n\n"
	    "  Estimates the network round trip time between two nodes using "
	    "Cairn's\n  network coordinates.  node2 defaults to the agent's "
	    "own node.\n\n"
	    "  -wan  Use WAN coordinates (names node.dc).\n";
	struct buf out = BUF_INIT, mb = BUF_INIT;
	struct viv_coord a, b;
	const char *n1, *n2;
	char self[256] = "";
	yajl_val v = NULL, flat = NULL;
	struct opts o;
	int r = 1;

	if ((r = cli_parse(argc, argv, bools, NULL, &o, usage)) != 0)
		return r;
	r = 1;
	if (o.npos < 1 || o.npos > 2) {
		fprintf(stderr, "One or two node names must be specified\n");
		return 1;
	}
	n1 = o.pos[0];
	n2 = o.npos == 2 ? o.pos[1] : NULL;
	if (n2 == NULL) {
		yajl_val m;

		if (cli_call(&o, "GET", o.flag[0] ? "/v1/agent/members?wan=1"
					      : "/v1/agent/members",
			NULL, 0, &mb, "reading the agent's name") ||
		    (m = cli_json(&mb)) == NULL)
			goto out;
		if (YAJL_IS_ARRAY(m) && m->u.array.len > 0) {
			yajl_val nm = json_obj_get(m->u.array.values[0], "Name");

			if (nm && YAJL_IS_STRING(nm))
				snprintf(self, sizeof(self), "%s",
				    YAJL_GET_STRING(nm));
		}
		yajl_tree_free(m);
		n2 = self;
	}
	if (cli_call(&o, "GET", o.flag[0] ? "/v1/coordinate/datacenters"
				      : "/v1/coordinate/nodes",
		NULL, 0, &out, "reading coordinates") ||
	    (v = cli_json(&out)) == NULL)
		goto out;
	flat = v;
	if (o.flag[0] && YAJL_IS_ARRAY(v) && v->u.array.len > 0) {
		/* -wan: search every datacenter's list */
		size_t i;

		for (i = 0; i < v->u.array.len; i++) {
			flat = json_obj_get(v->u.array.values[i], "Coordinates");
			if (find_coord(flat, n1, &a) == 0)
				break;
		}
	}
	if (find_coord(flat, n1, &a) < 0) {
		fprintf(stderr, "Could not find a coordinate for node \"%s\"\n",
		    n1);
		goto out;
	}
	if (o.flag[0]) {
		size_t i;

		for (i = 0; i < v->u.array.len; i++) {
			flat = json_obj_get(v->u.array.values[i], "Coordinates");
			if (find_coord(flat, n2, &b) == 0)
				break;
		}
	}
	if (find_coord(flat, n2, &b) < 0) {
		fprintf(stderr, "Could not find a coordinate for node \"%s\"\n",
		    n2);
		goto out;
	}
	printf("Estimated %s <-> %s rtt: %.3f ms (using %s coordinates)\n", n1,
	    n2, viv_distance(&a, &b) * 1000.0, o.flag[0] ? "WAN" : "LAN");
	r = 0;
out:
	if (v)
		yajl_tree_free(v);
	buf_free(&out);
	buf_free(&mb);
	return r;
}
