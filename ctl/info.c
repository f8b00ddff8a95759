/* info.c - cairn info (every daemon's sections from /v1/agent/self's
 * Stats) and cairn operator raft list-peers / remove-peer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ctl.h"
#include "json.h"

static int
cmp_key(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* print_section - "name:" then "\tkey = value" lines, keys sorted */
static void
print_section(const char *name, yajl_val o)
{
	const char **keys;
	size_t i, n = o->u.object.len;

	keys = calloc(n + 1, sizeof(*keys));
	if (keys == NULL)
		return;
	for (i = 0; i < n; i++)
		keys[i] = o->u.object.keys[i];
	qsort(keys, n, sizeof(*keys), cmp_key);
	printf("%s:\n", name);
	for (i = 0; i < n; i++) {
		yajl_val v = json_obj_get(o, keys[i]);

		printf("\t%s = %s\n", keys[i],
		    v && YAJL_IS_STRING(v) ? YAJL_GET_STRING(v) : "");
	}
	free(keys);
}

int
cmd_info(int argc, char **argv)
{
	static const char usage[] =
	    "Usage: cairn info [options]\n\n"
	    "  Provides debugging information for operators: one section per\n"
	    "  subsystem (agent, build, consul, raft, serf_lan, serf_wan, dns)\n"
	    "  and per daemon of the agent.\n";
	struct buf out = BUF_INIT;
	struct opts o;
	yajl_val v, stats;
	const char **names;
	size_t i, n;
	int r;

	if ((r = cli_parse(argc, argv, NULL, NULL, &o, usage)) != 0)
		return r;
	if (o.npos > 0) {
		fprintf(stderr, "This command takes no arguments\n");
		return 1;
	}
	if (cli_call(&o, "GET", "/v1/agent/self", NULL, 0, &out,
	    "querying agent info") != 0 || (v = cli_json(&out)) == NULL) {
		buf_free(&out);
		return 1;
	}
	stats = json_obj_get(v, "Stats");
	if (stats == NULL || !YAJL_IS_OBJECT(stats)) {
		fprintf(stderr, "Error querying agent info: no Stats\n");
		yajl_tree_free(v);
		buf_free(&out);
		return 1;
	}
	n = stats->u.object.len;
	names = calloc(n + 1, sizeof(*names));
	for (i = 0; names && i < n; i++)
		names[i] = stats->u.object.keys[i];
	if (names)
		qsort(names, n, sizeof(*names), cmp_key);
	for (i = 0; names && i < n; i++) {
		yajl_val sec = json_obj_get(stats, names[i]);

		if (sec && YAJL_IS_OBJECT(sec))
			print_section(names[i], sec);
	}
	free(names);
	yajl_tree_free(v);
	buf_free(&out);
	return 0;
}

static int
list_peers(int argc, char **argv)
{
	static const char usage[] =
	    "Usage: cairn operator raft list-peers [options]\n\n"
	    "  Displays the current Raft peer configuration.\n\n"
	    "  -stale  Read from any server (default: the leader).\n";
	static const char *const bools[] = {"stale", NULL};
	struct buf out = BUF_INIT;
	struct opts o;
	struct row *rows;
	yajl_val v, servers;
	size_t i, n;
	int r;

	if ((r = cli_parse(argc, argv, bools, NULL, &o, usage)) != 0)
		return r;
	if (cli_call(&o, "GET", o.flag[0]
	    ? "/v1/operator/raft/configuration?stale"
	    : "/v1/operator/raft/configuration", NULL, 0, &out,
	    "retrieving servers") != 0 || (v = cli_json(&out)) == NULL) {
		buf_free(&out);
		return 1;
	}
	servers = json_obj_get(v, "Servers");
	n = servers && YAJL_IS_ARRAY(servers) ? servers->u.array.len : 0;
	rows = calloc(n + 1, sizeof(*rows));
	if (rows == NULL)
		return 1;
	rows[0].cols[0] = (char *)"Node";
	rows[0].cols[1] = (char *)"ID";
	rows[0].cols[2] = (char *)"Address";
	rows[0].cols[3] = (char *)"State";
	rows[0].cols[4] = (char *)"Voter";
	rows[0].cols[5] = (char *)"RaftProtocol";
	for (i = 0; i < n; i++) {
		yajl_val s = servers->u.array.values[i];
		yajl_val node = json_obj_get(s, "Node");
		yajl_val id = json_obj_get(s, "ID");
		yajl_val addr = json_obj_get(s, "Address");
		yajl_val leader = json_obj_get(s, "Leader");
		yajl_val voter = json_obj_get(s, "Voter");
		yajl_val proto = json_obj_get(s, "ProtocolVersion");

		rows[i + 1].cols[0] = node && YAJL_IS_STRING(node)
		    ? YAJL_GET_STRING(node) : (char *)"";
		rows[i + 1].cols[1] = id && YAJL_IS_STRING(id)
		    ? YAJL_GET_STRING(id) : (char *)"";
		rows[i + 1].cols[2] = addr && YAJL_IS_STRING(addr)
		    ? YAJL_GET_STRING(addr) : (char *)"";
		rows[i + 1].cols[3] = leader && YAJL_IS_TRUE(leader)
		    ? (char *)"leader" : (char *)"follower";
		rows[i + 1].cols[4] = voter && YAJL_IS_TRUE(voter)
		    ? (char *)"true" : (char *)"false";
		rows[i + 1].cols[5] = proto && YAJL_IS_STRING(proto)
		    ? YAJL_GET_STRING(proto) : (char *)"3";
	}
	cli_table(rows, n + 1, 6);
	free(rows);
	yajl_tree_free(v);
	buf_free(&out);
	return 0;
}

static int
remove_peer(int argc, char **argv)
{
	static const char usage[] =
	    "Usage: cairn operator raft remove-peer [options]\n\n"
	    "  Removes a server from the Raft configuration.\n\n"
	    "  -address=<host:port>  The server's Raft address.\n"
	    "  -id=<id>              The server's Raft ID.\n";
	static const char *const strs[] = {"address", "id", NULL};
	struct buf out = BUF_INIT;
	char path[600];
	struct opts o;
	int r;

	if ((r = cli_parse(argc, argv, NULL, strs, &o, usage)) != 0)
		return r;
	if ((o.sval[0] == NULL) == (o.sval[1] == NULL)) {
		fprintf(stderr, "Error removing peer: exactly one of -address "
				"and -id is required\n");
		return 1;
	}
	snprintf(path, sizeof(path), "/v1/operator/raft/peer?%s=%s",
	    o.sval[0] ? "address" : "id", o.sval[0] ? o.sval[0] : o.sval[1]);
	r = cli_call(&o, "DELETE", path, NULL, 0, &out, "removing peer");
	buf_free(&out);
	if (r)
		return 1;
	printf("Removed peer with %s \"%s\"\n", o.sval[0] ? "address" : "id",
	    o.sval[0] ? o.sval[0] : o.sval[1]);
	return 0;
}

int
cmd_operator(int argc, char **argv)
{
	static const char usage[] =
	    "Usage: cairn operator raft <list-peers|remove-peer> [options]\n";

	if (argc >= 3 && strcmp(argv[1], "raft") == 0) {
		if (strcmp(argv[2], "list-peers") == 0)
			return list_peers(argc - 2, argv + 2);
		if (strcmp(argv[2], "remove-peer") == 0)
			return remove_peer(argc - 2, argv + 2);
	}
	if (argc >= 2 && (strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "-help") == 0)) {
		printf("%s", usage);
		return 0;
	}
	fprintf(stderr, "%s", usage);
	return 1;
}
