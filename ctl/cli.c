/* cli.c - what the CLI's commands share: flag parsing with Consul's
 * conventions, one HTTP call with Consul's error text, JSON replies,
 * aligned tables. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "json.h"

/* parse_common - the HTTP flags plus the command's own boolean flags
 * (names) and string flags (snames); positional arguments are collected
 * into pos.  Returns 0 or 1 (usage printed). */

int
cli_parse(int argc, char **argv, const char *const *bools,
    const char *const *strs, struct opts *o, const char *usage)
{
	int i, r;

	memset(o, 0, sizeof(*o));
	ctl_http_init(&o->h);
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		size_t k;
		bool done = false;

		if ((r = ctl_http_flag(&o->h, argc, argv, &i)) == 1)
			continue;
		if (r < 0) {
			fprintf(stderr, "flag needs an argument: %s\n", a);
			return 1;
		}
		if (strcmp(a, "-h") == 0 || strcmp(a, "-help") == 0 ||
		    strcmp(a, "--help") == 0) {
			printf("%s", usage);
			return 1;
		}
		if (a[0] != '-' || a[1] == '\0') {
			if (o->npos < 16)
				o->pos[o->npos++] = argv[i];
			continue;
		}
		a += a[1] == '-' ? 2 : 1;
		for (k = 0; bools && bools[k] && !done; k++) {
			size_t l = strlen(bools[k]);

			if (strncmp(a, bools[k], l) == 0 &&
			    (a[l] == '\0' || strcmp(a + l, "=true") == 0)) {
				o->flag[k] = true;
				done = true;
			} else if (strncmp(a, bools[k], l) == 0 &&
				   strcmp(a + l, "=false") == 0) {
				done = true;
			}
		}
		for (k = 0; strs && strs[k] && !done; k++) {
			size_t l = strlen(strs[k]);

			if (strncmp(a, strs[k], l) != 0)
				continue;
			if (a[l] == '=') {
				o->sval[k] = a + l + 1;
				done = true;
			} else if (a[l] == '\0') {
				if (i + 1 >= argc) {
					fprintf(stderr,
					    "flag needs an argument: -%s\n",
					    strs[k]);
					return 1;
				}
				o->sval[k] = argv[++i];
				done = true;
			}
		}
		if (!done) {
			fprintf(stderr, "flag provided but not defined: %s\n%s",
			    argv[i], usage);
			return 1;
		}
	}
	return 0;
}

/* call - one request; prints the agent's error text and returns 1 on
 * failure */
int
cli_call(const struct opts *o, const char *method, const char *path,
    const void *body, size_t n, struct buf *out, const char *what)
{
	long status = 0;

	if (ctl_http_do(&o->h, method, path, body, n, &status, out) < 0)
		return 1;
	if (status != 200) {
		fprintf(stderr, "Error %s: Unexpected response code: %ld (%.*s)\n",
		    what, status, (int)out->len, out->data ? (char *)out->data : "");
		return 1;
	}
	return 0;
}

yajl_val
cli_json(const struct buf *b)
{
	struct errbuf eb;
	yajl_val v = json_parse(b->data ? (const char *)b->data : "", b->len,
	    &eb);

	if (v == NULL)
		fprintf(stderr, "Error: the agent's reply is not JSON: %s\n",
		    eb.msg);
	return v;
}

void
cli_table(struct row *rows, size_t n, size_t ncols)
{
	size_t w[10] = {0}, i, k;

	for (i = 0; i < n; i++)
		for (k = 0; k < ncols; k++)
			if (strlen(rows[i].cols[k]) > w[k])
				w[k] = strlen(rows[i].cols[k]);
	for (i = 0; i < n; i++) {
		for (k = 0; k < ncols; k++) {
			if (k + 1 < ncols)
				printf("%-*s  ", (int)w[k], rows[i].cols[k]);
			else
				printf("%s\n", rows[i].cols[k]);
		}
	}
}

