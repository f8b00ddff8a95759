/* cli.h - what the CLI's commands share: Consul-style flags (-x, -x=v,
 * -x v, --x) with the common HTTP flags, one API call with Consul's error
 * text, JSON replies, aligned tables. */
#ifndef CAIRN_CTL_CLI_H
#define CAIRN_CTL_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <yajl/yajl_tree.h>

#include "buf.h"
#include "http.h"

#define CLI_MAXMULTI 32

/* a command's parsed arguments: flag[k] for bools[k], sval[k] for
 * strs[k] (NULL if not given; the last one if repeated), positional
 * arguments in pos.  A name in strs ending in '*' ("tag*") is a
 * repeatable flag (-tag): every value in mval[k][0..nmval[k]). */
struct opts {
	struct ctl_http h;
	bool flag[8];
	const char *sval[8];
	const char *mval[8][CLI_MAXMULTI];
	int nmval[8];
	char *pos[16];
	int npos;
};

/* cli_parse - the common HTTP flags plus the command's boolean flags
 * (bools, NULL-terminated) and string flags (strs); -h prints usage and
 * exits 0.  Returns 0, or 1 (an error printed: exit 1). */
int cli_parse(int argc, char **argv, const char *const *bools,
    const char *const *strs, struct opts *o, const char *usage);

/* cli_parse_go - cli_parse, with flags ending as in Go's flag package
 * (and so Consul's CLI) at the first argument that is not a flag ("-" is
 * not one): what follows is positional even if it starts with '-'
 * ("cairn kv put k -1"), except for arguments that are exactly one of
 * the command's or the common flags ("cairn kv get k -http-addr=...").
 * After "--" everything is positional. */
int cli_parse_go(int argc, char **argv, const char *const *bools,
    const char *const *strs, struct opts *o, const char *usage);

/* cli_escape - s percent-encoded for a URL path (slash: keep '/') or a
 * query value; a new string */
char *cli_escape(const char *s, bool slash);

/* cli_read - the whole of path ("-": stdin) appended to b; 0 or -errno */
int cli_read(const char *path, struct buf *b);

/* cli_call - one request; a non-200 answer prints "Error <what>:
 * Unexpected response code: N (text)" and returns 1, as does an agent
 * that cannot be reached (which address is said) */
int cli_call(const struct opts *o, const char *method, const char *path,
    const void *body, size_t n, struct buf *out, const char *what);

/* cli_json - the reply as JSON, or NULL with an error printed */
yajl_val cli_json(const struct buf *b);

/* a subcommand ("kv get"): argv[0] is the subcommand's name */
struct cli_sub {
	const char *name;
	int (*run)(int argc, char **argv);
};

/* cli_dispatch - run the subcommand named by argv[1]; none, an unknown
 * one (exit 1) or -h (exit 0) print usage */
int cli_dispatch(int argc, char **argv, const struct cli_sub *subs,
    size_t n, const char *usage);

struct row {
	char *cols[10];
};

/* cli_table - rows of ncols columns, left-aligned, two spaces apart */
void cli_table(struct row *rows, size_t n, size_t ncols);

#endif
