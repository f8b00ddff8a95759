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

/* a command's parsed arguments: flag[k] for bools[k], sval[k] for
 * strs[k] (NULL if not given), positional arguments in pos */
struct opts {
	struct ctl_http h;
	bool flag[8];
	const char *sval[8];
	char *pos[16];
	int npos;
};

/* cli_parse - the common HTTP flags plus the command's boolean flags
 * (bools, NULL-terminated) and string flags (strs); -h prints usage.
 * Returns 0, or 1 (usage or an error printed: exit 1). */
int cli_parse(int argc, char **argv, const char *const *bools,
    const char *const *strs, struct opts *o, const char *usage);

/* cli_call - one request; a non-200 answer prints "Error <what>:
 * Unexpected response code: N (text)" and returns 1, as does an agent
 * that cannot be reached (which address is said) */
int cli_call(const struct opts *o, const char *method, const char *path,
    const void *body, size_t n, struct buf *out, const char *what);

/* cli_json - the reply as JSON, or NULL with an error printed */
yajl_val cli_json(const struct buf *b);

struct row {
	char *cols[10];
};

/* cli_table - rows of ncols columns, left-aligned, two spaces apart */
void cli_table(struct row *rows, size_t n, size_t ncols);

#endif
