/* cli.c - what the CLI's commands share: flag parsing with Consul's
 * conventions, one HTTP call with Consul's error text, JSON replies,
 * aligned tables. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "json.h"
#include "xmalloc.h"

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
			/* help asked for is not an error (Consul exits 0) */
			printf("%s", usage);
			fflush(stdout);
			exit(0);
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
			bool multi = l > 0 && strs[k][l - 1] == '*';

			l -= multi;
			if (strncmp(a, strs[k], l) != 0)
				continue;
			if (a[l] == '=') {
				o->sval[k] = a + l + 1;
				done = true;
			} else if (a[l] == '\0') {
				if (i + 1 >= argc) {
					fprintf(stderr,
					    "flag needs an argument: -%.*s\n",
					    (int)l, strs[k]);
					return 1;
				}
				o->sval[k] = argv[++i];
				done = true;
			}
			if (done && multi) {
				if (o->nmval[k] >= CLI_MAXMULTI) {
					fprintf(stderr, "too many -%.*s flags "
					    "(at most %d)\n", (int)l, strs[k],
					    CLI_MAXMULTI);
					return 1;
				}
				o->mval[k][o->nmval[k]++] = o->sval[k];
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

/* flag_name - whether a (with its dashes, maybe "=v") names one of the
 * common flags, -h/-help, bools or strs; *value: it is a string flag
 * given without "=", so the next argument is its value */
static bool
flag_name(const char *a, const char *const *bools, const char *const *strs,
    bool *value)
{
	static const char *const common[] = {"http-addr", "token",
	    "datacenter", NULL};
	static const char *const help[] = {"h", "help", NULL};
	const char *const *lists[4] = {common, strs, bools, help};
	size_t k, l, n;
	int j;

	*value = false;
	if (a[0] != '-' || a[1] == '\0')
		return false;
	a += a[1] == '-' ? 2 : 1;
	n = strchr(a, '=') ? (size_t)(strchr(a, '=') - a) : strlen(a);
	for (j = 0; j < 4; j++) {
		for (k = 0; lists[j] && lists[j][k]; k++) {
			l = strlen(lists[j][k]);
			l -= l > 0 && lists[j][k][l - 1] == '*';
			if (n != l || strncmp(a, lists[j][k], l) != 0)
				continue;
			*value = j < 2 && a[n] == '\0';
			return true;
		}
	}
	return false;
}

int
cli_parse_go(int argc, char **argv, const char *const *bools,
    const char *const *strs, struct opts *o, const char *usage)
{
	char **fl = xcalloc((size_t)argc + 1, sizeof(*fl));
	char **pos = xcalloc((size_t)argc + 1, sizeof(*pos));
	bool before = true, dashdash = false, value;
	int i, nf = 0, np = 0, r;

	fl[nf++] = argv[0];
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (dashdash) {
			pos[np++] = argv[i];
		} else if (strcmp(a, "--") == 0) {
			dashdash = true;
		} else if (a[0] == '-' && a[1] != '\0' &&
		    (flag_name(a, bools, strs, &value) || before)) {
			fl[nf++] = argv[i];
			if (value && i + 1 < argc)
				fl[nf++] = argv[++i];
		} else {
			before = false;
			pos[np++] = argv[i];
		}
	}
	r = cli_parse(nf, fl, bools, strs, o, usage);
	for (i = 0; r == 0 && i < np; i++) {
		if (o->npos >= 16) {
			fprintf(stderr, "Too many arguments\n");
			r = 1;
		} else {
			o->pos[o->npos++] = pos[i];
		}
	}
	free(fl);
	free(pos);
	return r;
}

char *
cli_escape(const char *s, bool slash)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = xmalloc(strlen(s) * 3 + 1), *p = out;

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_' || c == '~' || (slash && c == '/')) {
			*p++ = (char)c;
		} else {
			*p++ = '%';
			*p++ = hex[c >> 4];
			*p++ = hex[c & 15];
		}
	}
	*p = '\0';
	return out;
}

int
cli_read(const char *path, struct buf *b)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	char chunk[65536];
	size_t n;
	int e = 0;

	if (f == NULL)
		return -errno;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_put(b, chunk, n);
	if (ferror(f))
		e = errno ? -errno : -EIO;
	if (f != stdin)
		fclose(f);
	return e;
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

int
cli_dispatch(int argc, char **argv, const struct cli_sub *subs, size_t n,
    const char *usage)
{
	size_t i;

	if (argc < 2) {
		fprintf(stderr, "%s", usage);
		return 1;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "-help") == 0 ||
	    strcmp(argv[1], "--help") == 0) {
		printf("%s", usage);
		return 0;
	}
	for (i = 0; i < n; i++)
		if (strcmp(argv[1], subs[i].name) == 0)
			return subs[i].run(argc - 1, argv + 1);
	fprintf(stderr, "cairn %s: unknown subcommand \"%s\"\n\n%s", argv[0],
	    argv[1], usage);
	return 1;
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

