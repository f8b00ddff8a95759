/* kv.c - cairn kv get, put, delete, export, import: Consul's KV commands. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ctl.h"
#include "http.h"
#include "jdec.h"
#include "json.h"
#include "xmalloc.h"

static const char kv_usage[] =
    "Usage: cairn kv <subcommand> [options] [args]\n\n"
    "  Reads and writes the key/value store through the agent's HTTP "
    "API.\n\n"
    "Subcommands:\n"
    "    delete    Removes a key, or every key under a prefix\n"
    "    export    Prints the keys under a prefix as JSON\n"
    "    get       Reads a value, a prefix's values or its keys\n"
    "    import    Writes keys from the JSON that export prints\n"
    "    put       Writes a value, optionally with check-and-set or a "
    "lock\n";

/* request - one call; 200 is success, and so is 404 when status is not
 * NULL (then *status says which).  Anything else prints "<what>:
 * Unexpected response code: N (body)".  Returns 0 or 1. */
static int
request(const struct opts *o, const char *method, const char *path,
    const void *body, size_t n, struct buf *out, long *status,
    const char *what)
{
	long st = 0;

	if (ctl_http_do(&o->h, method, path, body, n, &st, out) < 0)
		return 1;
	if (status != NULL)
		*status = st;
	if (st == 200 || (status != NULL && st == 404))
		return 0;
	fprintf(stderr, "%s: Unexpected response code: %ld (%.*s)\n", what, st,
	    (int)out->len, out->data ? (const char *)out->data : "");
	return 1;
}

/* parse_u64 - Go's strconv.ParseUint(s, 0, 64) */
static int
parse_u64(const char *s, uint64_t *v)
{
	char *end;

	if (*s == '\0' || *s == '-' || *s == '+' || *s == ' ')
		return -1;
	errno = 0;
	*v = strtoull(s, &end, 0);
	return errno != 0 || *end != '\0' ? -1 : 0;
}

/* u64_flag - the value of a numeric flag, or 1 with Go's flag error */
static int
u64_flag(const char *name, const char *s, uint64_t *v, const char *usage)
{
	*v = 0;
	if (s == NULL || parse_u64(s, v) == 0)
		return 0;
	fprintf(stderr, "invalid value \"%s\" for flag -%s: parse error\n%s", s,
	    name, usage);
	return 1;
}

static const char *
str_of(yajl_val o, const char *k)
{
	yajl_val v = o ? json_obj_get(o, k) : NULL;

	return v && YAJL_IS_STRING(v) ? YAJL_GET_STRING(v) : "";
}

/* num_of - a number member as its JSON text (exact for any uint64) */
static const char *
num_of(yajl_val o, const char *k)
{
	yajl_val v = o ? json_obj_get(o, k) : NULL;

	return v && YAJL_IS_NUMBER(v) && v->u.number.r ? v->u.number.r : "0";
}

static char *
kv_path(const char *key, const char *query)
{
	char *ek = cli_escape(key, true);
	char *p = xasprintf("/v1/kv/%s%s", ek, query);

	free(ek);
	return p;
}

/* print_value - a pair's value raw, or base64 as the API holds it */
static int
print_value(yajl_val pair, bool b64)
{
	const char *s = str_of(pair, "Value");
	uint8_t *v;
	size_t n;

	if (b64) {
		fputs(s, stdout);
		return 0;
	}
	if (jd_base64_decode(s, strlen(s), &v, &n) < 0) {
		fprintf(stderr, "Error: the agent's value for %s is not "
				"base64\n",
		    str_of(pair, "Key"));
		return 1;
	}
	fwrite(v, 1, n, stdout);
	free(v);
	return 0;
}

/* print_detailed - Consul's aligned block: names padded to 17 columns */
static int
print_detailed(yajl_val pair, bool b64)
{
	const char *sess = str_of(pair, "Session");
	int r;

	printf("%-17s%s\n", "CreateIndex", num_of(pair, "CreateIndex"));
	printf("%-17s%s\n", "Flags", num_of(pair, "Flags"));
	printf("%-17s%s\n", "Key", str_of(pair, "Key"));
	printf("%-17s%s\n", "LockIndex", num_of(pair, "LockIndex"));
	printf("%-17s%s\n", "ModifyIndex", num_of(pair, "ModifyIndex"));
	printf("%-17s%s\n", "Session", *sess ? sess : "-");
	printf("%-17s", "Value");
	r = print_value(pair, b64);
	putchar('\n');
	return r;
}

/* ---------------------------------------------------------------- get */

static int
kv_get(int argc, char **argv)
{
	static const char *const bools[] = {"recurse", "keys", "detailed",
	    "base64", NULL};
	static const char *const strs[] = {"separator", NULL};
	static const char usage[] =
	    "Usage: cairn kv get [options] [KEY_OR_PREFIX]\n\n"
	    "  Prints the value at KEY (nothing if it is empty; an error if "
	    "there is no\n  such key), or with -recurse or -keys what lies "
	    "under a prefix.\n\n"
	    "  -base64           Print values base64-encoded.\n"
	    "  -detailed         Print the indexes, flags and session too.\n"
	    "  -keys             List the keys under the prefix, up to "
	    "-separator.\n"
	    "  -recurse          Print every key:value under the prefix.\n"
	    "  -separator=<s>    Separator for -keys (default \"/\"; \"\" "
	    "for none).\n"
	    "  -http-addr=<addr> The agent's HTTP address (127.0.0.1:8500).\n";
	static const char what[] = "Error querying Cairn agent";
	struct buf out = BUF_INIT;
	struct opts o;
	const char *key;
	char *path = NULL;
	yajl_val v = NULL;
	long st = 0;
	size_t i;
	int r;

	if ((r = cli_parse_go(argc, argv, bools, strs, &o, usage)) != 0)
		return r;
	if (o.npos > 1) {
		fprintf(stderr, "Too many arguments (expected 1, got %d)\n",
		    o.npos);
		return 1;
	}
	key = o.npos ? o.pos[0] : "";
	if (*key == '/')
		key++;
	if (*key == '\0' && !o.flag[0] && !o.flag[1]) {
		fprintf(stderr, "Error! Missing KEY argument\n");
		return 1;
	}
	if (o.flag[1]) {
		const char *sep = o.sval[0] ? o.sval[0] : "/";
		char *es = cli_escape(sep, false);
		char *q = xasprintf("?keys%s%s", *sep ? "&separator=" : "",
		    *sep ? es : "");

		path = kv_path(key, q);
		free(q);
		free(es);
	} else {
		path = kv_path(key, o.flag[0] ? "?recurse" : "");
	}
	r = 1;
	if (request(&o, "GET", path, NULL, 0, &out, &st, what))
		goto out;
	if (st == 404) {
		/* nothing there: only a single key is an error */
		if (!o.flag[0] && !o.flag[1])
			fprintf(stderr, "Error! No key exists at: %s\n", key);
		else
			r = 0;
		goto out;
	}
	if ((v = cli_json(&out)) == NULL)
		goto out;
	if (!YAJL_IS_ARRAY(v)) {
		fprintf(stderr, "Error: the agent's reply is not a list\n");
		goto out;
	}
	r = 0;
	if (o.flag[1]) {
		for (i = 0; i < v->u.array.len; i++)
			if (YAJL_IS_STRING(v->u.array.values[i]))
				printf("%s\n",
				    YAJL_GET_STRING(v->u.array.values[i]));
	} else if (o.flag[0]) {
		for (i = 0; i < v->u.array.len && r == 0; i++) {
			yajl_val p = v->u.array.values[i];

			if (o.flag[2]) {
				r = print_detailed(p, o.flag[3]);
				if (i + 1 < v->u.array.len)
					putchar('\n');
			} else {
				printf("%s:", str_of(p, "Key"));
				r = print_value(p, o.flag[3]);
				putchar('\n');
			}
		}
	} else if (v->u.array.len > 0) {
		if (o.flag[2]) {
			r = print_detailed(v->u.array.values[0], o.flag[3]);
		} else {
			r = print_value(v->u.array.values[0], o.flag[3]);
			putchar('\n');
		}
	}
out:
	if (v)
		yajl_tree_free(v);
	free(path);
	buf_free(&out);
	return r;
}

/* ---------------------------------------------------------------- put */

/* data_arg - a DATA argument: "@file", "-" (stdin) or the text itself */
static int
data_arg(const char *arg, struct buf *data)
{
	int e;

	if (arg[0] == '@') {
		if ((e = cli_read(arg + 1, data)) < 0) {
			fprintf(stderr, "Error! Failed to read file: %s: %s\n",
			    arg + 1, strerror(-e));
			return 1;
		}
	} else if (strcmp(arg, "-") == 0) {
		if ((e = cli_read("-", data)) < 0) {
			fprintf(stderr, "Error! Failed to read stdin: %s\n",
			    strerror(-e));
			return 1;
		}
	} else {
		buf_put_str(data, arg);
	}
	return 0;
}

/* true_reply - the API's "true" / "false" */
static bool
true_reply(const struct buf *b)
{
	return b->len >= 4 && memcmp(b->data, "true", 4) == 0;
}

static int
kv_put(int argc, char **argv)
{
	static const char *const bools[] = {"cas", "base64", "acquire",
	    "release", NULL};
	static const char *const strs[] = {"modify-index", "flags", "session",
	    NULL};
	static const char usage[] =
	    "Usage: cairn kv put [options] KEY [DATA]\n\n"
	    "  Writes DATA at KEY.  DATA is the text itself, @FILE for a "
	    "file's\n  contents or - for standard input; without it the value "
	    "is empty.\n\n"
	    "  -acquire          Take the key's lock for -session (created "
	    "if absent).\n"
	    "  -base64           DATA is base64-encoded.\n"
	    "  -cas              Write only if the key's ModifyIndex is "
	    "-modify-index.\n"
	    "  -flags=<uint>     Opaque flags stored with the value.\n"
	    "  -modify-index=<n> The ModifyIndex for -cas.\n"
	    "  -release          Give up -session's lock on the key.\n"
	    "  -session=<id>     The session for -acquire and -release.\n"
	    "  -http-addr=<addr> The agent's HTTP address (127.0.0.1:8500).\n";
	struct buf data = BUF_INIT, out = BUF_INIT;
	const uint8_t *val;
	uint8_t *dec = NULL;
	uint64_t mi, fl;
	size_t vlen;
	struct opts o;
	const char *key, *what;
	char *q, *path, *es;
	int r;

	if ((r = cli_parse_go(argc, argv, bools, strs, &o, usage)) != 0)
		return r;
	if (u64_flag("modify-index", o.sval[0], &mi, usage) ||
	    u64_flag("flags", o.sval[1], &fl, usage))
		return 1;
	if (o.npos == 0) {
		fprintf(stderr, "Error! Missing KEY argument\n");
		return 1;
	}
	if (o.npos > 2) {
		fprintf(stderr, "Error! Too many arguments (expected 1 or 2, "
				"got %d)\n",
		    o.npos);
		return 1;
	}
	key = o.pos[0];
	if (*key == '/')
		key++;
	r = 1;
	if (o.npos == 2 && data_arg(o.pos[1], &data))
		goto out;
	val = data.data ? data.data : (const uint8_t *)"";
	vlen = data.len;
	if (o.flag[1]) {
		if (jd_base64_decode((const char *)val, vlen, &dec, &vlen) < 0) {
			fprintf(stderr, "Error! Cannot base 64 decode data: "
					"illegal base64 data\n");
			goto out;
		}
		val = dec;
	}
	if ((o.flag[2] || o.flag[3]) && (o.sval[2] == NULL || !*o.sval[2])) {
		fprintf(stderr, "Error! Missing -session (required with "
				"-acquire and -release)\n");
		goto out;
	}
	if (o.flag[0] && mi == 0) {
		fprintf(stderr, "Must specify -modify-index with -cas!\n");
		goto out;
	}
	es = cli_escape(o.sval[2] ? o.sval[2] : "", false);
	if (o.flag[0])
		q = xasprintf("?cas=%llu", (unsigned long long)mi);
	else if (o.flag[2] || o.flag[3])
		q = xasprintf("?%s=%s", o.flag[2] ? "acquire" : "release", es);
	else
		q = xstrdup("");
	free(es);
	if (fl != 0) {
		char *t = xasprintf("%s%cflags=%llu", q, *q ? '&' : '?',
		    (unsigned long long)fl);

		free(q);
		q = t;
	}
	path = kv_path(key, q);
	free(q);
	if (o.flag[0]) {
		char *w = xasprintf("Error! Did not write to %s", key);

		if (request(&o, "PUT", path, val, vlen, &out, NULL, w) == 0) {
			if (true_reply(&out)) {
				printf("Success! Data written to: %s\n", key);
				r = 0;
			} else {
				fprintf(stderr, "Error! Did not write to %s: "
						"CAS failed\n",
				    key);
			}
		}
		free(w);
	} else {
		what = "Error! Failed writing data";
		if (request(&o, "PUT", path, val, vlen, &out, NULL, what) ==
		    0) {
			if (o.flag[2] && !true_reply(&out)) {
				fprintf(stderr, "Error! Did not acquire "
						"lock\n");
			} else if (o.flag[3] && !true_reply(&out)) {
				fprintf(stderr, "Error! Did not release "
						"lock\n");
			} else {
				printf(o.flag[2]   ? "Success! Lock acquired on: "
							 "%s\n"
				       : o.flag[3] ? "Success! Lock released on: "
						     "%s\n"
						   : "Success! Data written to: "
						     "%s\n",
				    key);
				r = 0;
			}
		}
	}
	free(path);
out:
	free(dec);
	buf_free(&data);
	buf_free(&out);
	return r;
}

/* ------------------------------------------------------------- delete */

static int
kv_delete(int argc, char **argv)
{
	static const char *const bools[] = {"recurse", "cas", NULL};
	static const char *const strs[] = {"modify-index", NULL};
	static const char usage[] =
	    "Usage: cairn kv delete [options] KEY_OR_PREFIX\n\n"
	    "  Removes KEY, or with -recurse every key under the prefix.\n\n"
	    "  -cas              Delete only if the key's ModifyIndex is "
	    "-modify-index.\n"
	    "  -modify-index=<n> The ModifyIndex for -cas.\n"
	    "  -recurse          Delete every key under the prefix.\n"
	    "  -http-addr=<addr> The agent's HTTP address (127.0.0.1:8500).\n";
	struct buf out = BUF_INIT;
	struct opts o;
	const char *key;
	char *path, *q, *w;
	uint64_t mi;
	int r;

	if ((r = cli_parse_go(argc, argv, bools, strs, &o, usage)) != 0)
		return r;
	if (u64_flag("modify-index", o.sval[0], &mi, usage))
		return 1;
	if (o.npos > 1) {
		fprintf(stderr, "Too many arguments (expected 1, got %d)\n",
		    o.npos);
		return 1;
	}
	key = o.npos ? o.pos[0] : "";
	if (*key == '/')
		key++;
	if (*key == '\0' && !o.flag[0]) {
		fprintf(stderr, "Error! Missing KEY argument\n");
		return 1;
	}
	if (o.flag[1] && mi == 0) {
		fprintf(stderr, "Must specify -modify-index with -cas!\n");
		return 1;
	}
	if (mi != 0 && !o.flag[1]) {
		fprintf(stderr, "Cannot specify -modify-index without -cas!\n");
		return 1;
	}
	if (o.flag[0] && o.flag[1]) {
		fprintf(stderr, "Cannot specify both -cas and -recurse!\n");
		return 1;
	}
	if (o.flag[0]) {
		q = xstrdup("?recurse");
		w = xasprintf("Error! Did not delete prefix %s", key);
	} else if (o.flag[1]) {
		q = xasprintf("?cas=%llu", (unsigned long long)mi);
		w = xasprintf("Error! Did not delete key %s", key);
	} else {
		q = xstrdup("");
		w = xasprintf("Error deleting key %s", key);
	}
	path = kv_path(key, q);
	r = request(&o, "DELETE", path, NULL, 0, &out, NULL, w);
	if (r == 0 && o.flag[1] && !true_reply(&out)) {
		fprintf(stderr, "Error! Did not delete key %s: CAS failed\n",
		    key);
		r = 1;
	}
	if (r == 0)
		printf(o.flag[0] ? "Success! Deleted keys with prefix: %s\n"
				 : "Success! Deleted key: %s\n",
		    key);
	free(path);
	free(q);
	free(w);
	buf_free(&out);
	return r;
}

/* ------------------------------------------------------ export, import */

/* go_str - s as Go's encoding/json writes a string (HTML-safe) */
static void
go_str(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	putchar('"');
	for (; *p; p++) {
		switch (*p) {
		case '"':
			fputs("\\\"", stdout);
			break;
		case '\\':
			fputs("\\\\", stdout);
			break;
		case '\n':
			fputs("\\n", stdout);
			break;
		case '\r':
			fputs("\\r", stdout);
			break;
		case '\t':
			fputs("\\t", stdout);
			break;
		case '<':
		case '>':
		case '&':
			printf("\\u00%02x", *p);
			break;
		default:
			if (*p < 0x20)
				printf("\\u00%02x", *p);
			else if (p[0] == 0xe2 && p[1] == 0x80 &&
			    (p[2] == 0xa8 || p[2] == 0xa9)) {
				printf("\\u202%c", p[2] == 0xa8 ? '8' : '9');
				p += 2;
			} else
				putchar(*p);
		}
	}
	putchar('"');
}

static int
kv_export(int argc, char **argv)
{
	static const char usage[] =
	    "Usage: cairn kv export [options] [PREFIX]\n\n"
	    "  Prints every key under PREFIX (all keys without it) as a JSON "
	    "array of\n  {\"key\", \"flags\", \"value\" (base64)} for kv "
	    "import.\n\n"
	    "  -http-addr=<addr> The agent's HTTP address (127.0.0.1:8500).\n";
	struct buf out = BUF_INIT;
	struct opts o;
	const char *key;
	yajl_val v = NULL;
	char *path;
	long st = 0;
	size_t i;
	int r;

	if ((r = cli_parse_go(argc, argv, NULL, NULL, &o, usage)) != 0)
		return r;
	if (o.npos > 1) {
		fprintf(stderr, "Too many arguments (expected 1, got %d)\n",
		    o.npos);
		return 1;
	}
	key = o.npos ? o.pos[0] : "";
	if (*key == '/')
		key++;
	path = kv_path(key, "?recurse");
	r = request(&o, "GET", path, NULL, 0, &out, &st,
	    "Error querying Cairn agent");
	free(path);
	if (r == 0 && st == 200 && (v = cli_json(&out)) == NULL)
		r = 1;
	if (r == 0 && v && !YAJL_IS_ARRAY(v)) {
		fprintf(stderr, "Error: the agent's reply is not a list\n");
		r = 1;
	}
	if (r == 0) {
		size_t n = v ? v->u.array.len : 0;

		/* json.MarshalIndent(entries, "", "\t") */
		printf(n ? "[\n" : "[]\n");
		for (i = 0; i < n; i++) {
			yajl_val p = v->u.array.values[i];

			printf("\t{\n\t\t\"key\": ");
			go_str(str_of(p, "Key"));
			printf(",\n\t\t\"flags\": %s,\n\t\t\"value\": ",
			    num_of(p, "Flags"));
			go_str(str_of(p, "Value"));
			printf("\n\t}%s\n", i + 1 < n ? "," : "");
		}
		if (n)
			printf("]\n");
	}
	if (v)
		yajl_tree_free(v);
	buf_free(&out);
	return r;
}

/* entry_check - one element of kv import's array, as Go decodes it into
 * {key string; flags uint64; value string} (names case-insensitive) */
static int
entry_check(yajl_val e, size_t i, struct errbuf *eb)
{
	static const char *const names[] = {"key", "flags", "value"};
	size_t k;

	if (YAJL_IS_NULL(e))
		return 0;
	if (!YAJL_IS_OBJECT(e))
		return errbuf_set(eb, -EINVAL, "[%zu]: expected object, got %s",
		    i, json_type_name(e));
	for (k = 0; k < 3; k++) {
		yajl_val f = json_obj_get_ci(e, names[k]);
		bool ok = f == NULL || YAJL_IS_NULL(f) ||
		    (k == 1 ? YAJL_IS_INTEGER(f) && YAJL_GET_INTEGER(f) >= 0
			    : YAJL_IS_STRING(f));

		if (!ok)
			return errbuf_set(eb, -EINVAL, "[%zu].%s: expected %s, "
			    "got %s", i, names[k], k == 1 ? "unsigned integer"
			    : "string", json_type_name(f));
	}
	return 0;
}

static int
kv_import(int argc, char **argv)
{
	static const char *const strs[] = {"prefix", NULL};
	static const char usage[] =
	    "Usage: cairn kv import [options] [DATA]\n\n"
	    "  Writes the keys of DATA, the JSON that kv export prints: "
	    "@FILE for a\n  file, - for standard input, or the JSON "
	    "itself.\n\n"
	    "  -prefix=<p>       Put each key under this prefix.\n"
	    "  -http-addr=<addr> The agent's HTTP address (127.0.0.1:8500).\n";
	struct buf data = BUF_INIT;
	struct errbuf eb;
	struct opts o;
	yajl_val v = NULL;
	size_t i;
	int r;

	if ((r = cli_parse_go(argc, argv, NULL, strs, &o, usage)) != 0)
		return r;
	if (o.npos == 0) {
		fprintf(stderr, "Error! Missing DATA argument\n");
		return 1;
	}
	if (o.npos > 1) {
		fprintf(stderr, "Error! Too many arguments (expected 1, got "
				"%d)\n",
		    o.npos);
		return 1;
	}
	if (*o.pos[0] == '\0') {
		fprintf(stderr, "Error! Empty DATA argument\n");
		return 1;
	}
	r = 1;
	if (data_arg(o.pos[0], &data))
		goto out;
	if ((v = json_parse(data.data ? (const char *)data.data : "", data.len,
		 &eb)) == NULL) {
		fprintf(stderr, "Cannot unmarshal data: %s\n", eb.msg);
		goto out;
	}
	if (!YAJL_IS_ARRAY(v) && !YAJL_IS_NULL(v)) {
		fprintf(stderr, "Cannot unmarshal data: expected array, got "
				"%s\n",
		    json_type_name(v));
		goto out;
	}
	for (i = 0; YAJL_IS_ARRAY(v) && i < v->u.array.len; i++)
		if (entry_check(v->u.array.values[i], i, &eb) < 0) {
			fprintf(stderr, "Cannot unmarshal data: %s\n", eb.msg);
			goto out;
		}
	r = 0;
	for (i = 0; YAJL_IS_ARRAY(v) && i < v->u.array.len && r == 0; i++) {
		yajl_val e = v->u.array.values[i], f;
		struct buf out = BUF_INIT;
		const char *key = "", *val = "";
		const char *pfx = o.sval[0] ? o.sval[0] : "";
		unsigned long long flags = 0;
		char *full, *path, *q, *w;
		uint8_t *dec;
		size_t n, pl = strlen(pfx);

		if (YAJL_IS_NULL(e))
			continue;
		if ((f = json_obj_get_ci(e, "key")) && YAJL_IS_STRING(f))
			key = YAJL_GET_STRING(f);
		if ((f = json_obj_get_ci(e, "value")) && YAJL_IS_STRING(f))
			val = YAJL_GET_STRING(f);
		if ((f = json_obj_get_ci(e, "flags")) && YAJL_IS_INTEGER(f))
			flags = (unsigned long long)YAJL_GET_INTEGER(f);
		if (jd_base64_decode(val, strlen(val), &dec, &n) < 0) {
			fprintf(stderr, "Error base 64 decoding value for key "
					"%s: illegal base64 data\n",
			    key);
			r = 1;
			break;
		}
		/* prefix and key joined by one slash */
		while (pl > 0 && pfx[pl - 1] == '/')
			pl--;
		if (pl > 0)
			full = xasprintf("%.*s/%s", (int)pl, pfx,
			    key + (*key == '/'));
		else
			full = xstrdup(key);
		q = flags ? xasprintf("?flags=%llu", flags) : xstrdup("");
		path = kv_path(full, q);
		w = xasprintf("Error! Failed writing data for key %s", full);
		if (request(&o, "PUT", path, dec, n, &out, NULL, w) == 0)
			printf("Imported: %s\n", full);
		else
			r = 1;
		free(w);
		free(path);
		free(q);
		free(full);
		free(dec);
		buf_free(&out);
	}
out:
	if (v)
		yajl_tree_free(v);
	buf_free(&data);
	return r;
}

int
cmd_kv(int argc, char **argv)
{
	static const struct cli_sub subs[] = {
	    {"delete", kv_delete},
	    {"export", kv_export},
	    {"get", kv_get},
	    {"import", kv_import},
	    {"put", kv_put},
	};

	return cli_dispatch(argc, argv, subs, sizeof(subs) / sizeof(subs[0]),
	    kv_usage);
}
