/* exec.c - cairn exec: run a command on the agents of a datacenter, as
 * `consul exec`.  The job spec goes to the KV store under a session of
 * our own (<prefix>/<session>/job), a `_rexec` user event (with the node,
 * service and tag filters) tells the agents, and they answer under
 * <prefix>/<session>/<node>/: ack, out/<nnnnn> (output pieces; an empty
 * one is a heartbeat) and exit.  We watch that prefix with blocking
 * queries until it has been quiet for -wait (twice that while a node that
 * acknowledged has not finished), then destroy the session (the agents'
 * keys go with it) and delete the prefix. */
#include <errno.h>
#include <inttypes.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ctl.h"
#include "jdec.h"
#include "json.h"
#include "proc.h"
#include "xmalloc.h"

#define REXEC_PREFIX "_rexec"
#define REXEC_EVENT "_rexec"
#define REXEC_CHUNK 4096	/* an agent's full output piece */
#define SESSION_TTL "15s"
#define RENEW_MS 5000		/* Consul's rExecRenewInterval */
#define QUIET_WAIT_MS 2000	/* -wait */
#define REPL_WAIT_MS 200	/* -wait-repl */

/* a node that answered, and the start of a line split between two of
 * its output pieces */
struct node {
	char *name;
	struct buf part;
	struct node *next;
};

struct ex {
	struct opts o;
	bool verbose;
	char *prefix;		/* cleaned: no leading or trailing '/' */
	char sid[64];
	char *dir;		/* <prefix>/<sid>/, URL-escaped */
	size_t dirlen;		/* of the raw "<prefix>/<sid>/" */
	int64_t next_renew;
	bool renew_failed;
	struct node *nodes;
	char **seen;		/* keys handled */
	size_t nseen, seencap;
	char err[600];
};

/* ------------------------------------------------------------ helpers */

static void
info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* info - Consul's UI.Info: a line on stdout, seen at once */
static void
info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static const char *
str_of(yajl_val o, const char *k)
{
	yajl_val v = json_obj_get(o, k);

	return v && YAJL_IS_STRING(v) && v->u.string ? v->u.string : "";
}

/* call - one request, quiet (x->err says what went wrong); intr: SIGINT
 * aborts it.  0 with *status, -1 failed, -2 interrupted. */
static int
call(struct ex *x, const char *method, const char *path, const char *body,
    size_t n, long timeout_ms, bool intr, long *status, struct buf *out,
    uint64_t *index)
{
	struct ctl_http_meta m;

	memset(&m, 0, sizeof(m));
	m.timeout_ms = timeout_ms;
	m.cancel = intr ? &proc_wake : NULL;
	m.quiet = true;
	buf_reset(out);
	*status = 0;
	if (ctl_http_do_meta(&x->o.h, method, path, body, n, status, out,
	    &m) < 0) {
		if (m.cancelled)
			return -2;
		snprintf(x->err, sizeof(x->err), "%s",
		    m.errstr ? m.errstr : "request failed");
		return -1;
	}
	if (index != NULL)
		*index = m.index;
	return 0;
}

/* call_ok - call, and a 200 answer; otherwise x->err has the api
 * package's error text */
static int
call_ok(struct ex *x, const char *method, const char *path,
    const char *body, size_t n, bool intr, struct buf *out)
{
	long status;
	int r = call(x, method, path, body, n, 0, intr, &status, out, NULL);

	if (r == 0 && status != 200) {
		snprintf(x->err, sizeof(x->err),
		    "Unexpected response code: %ld (%.*s)", status,
		    (int)(out->len > 400 ? 400 : out->len),
		    out->data ? (const char *)out->data : "");
		r = -1;
	}
	return r;
}

/* clean - as lock.c: one leading '/' trimmed, empty elements and a
 * trailing '/' dropped (path.Join) */
static char *
clean(const char *p)
{
	char *s = xmalloc(strlen(p) + 1), *d = s;

	while (*p == '/')
		p++;
	for (; *p; p++)
		if (*p != '/' || (d > s && d[-1] != '/'))
			*d++ = *p;
	while (d > s && d[-1] == '/')
		d--;
	*d = '\0';
	return s;
}

static int
parse_ms(const char *flag, const char *v, int64_t *ms)
{
	int64_t ns;

	if (jd_duration_parse(v, &ns) < 0) {
		fprintf(stderr, "invalid value \"%s\" for flag -%s: parse "
				"error\n",
		    v, flag);
		return -1;
	}
	*ms = ns <= 0 ? 0 : (ns + 999999) / 1000000;
	return 0;
}

/* check_re - Consul compiles each filter before anything is sent */
static int
check_re(const char *what, const char *re)
{
	regex_t rx;
	char why[200];
	int r;

	if (re == NULL || *re == '\0')
		return 0;
	if ((r = regcomp(&rx, re, REG_EXTENDED | REG_NOSUB)) != 0) {
		regerror(r, &rx, why, sizeof(why));
		fprintf(stderr, "Failed to compile %s filter regexp: %s\n", what,
		    why);
		return -1;
	}
	regfree(&rx);
	return 0;
}

/* ------------------------------------------------------------ session */

/* session_create - a session that deletes what it holds when it goes;
 * in a foreign datacenter it is bound to one of its servers (our node is
 * not there), without checks, and lives by its TTL alone */
static int
session_create(struct ex *x, bool foreign, const char *local_node,
    const char *local_dc)
{
	struct buf out = BUF_INIT;
	char *body, *node = NULL, *name;
	struct jw w;
	yajl_val v;
	int r = -1;

	if (foreign) {
		if (call_ok(x, "GET", "/v1/health/service/consul?passing",
		    NULL, 0, false, &out) == 0 &&
		    (v = cli_json(&out)) != NULL) {
			if (YAJL_IS_ARRAY(v) && v->u.array.len > 0)
				node = xstrdup(str_of(json_obj_get(
				    v->u.array.values[0], "Node"), "Node"));
			yajl_tree_free(v);
		}
		if (node == NULL || *node == '\0') {
			snprintf(x->err, sizeof(x->err), "Failed to find "
			    "Consul server in remote datacenter");
			free(node);
			buf_free(&out);
			return -1;
		}
		if (x->verbose)
			info("Binding session to remote node %s@%s", node,
			    x->o.h.dc);
		name = xasprintf("Remote Exec via %s@%s", local_node,
		    local_dc);
	} else {
		name = xstrdup("Remote Exec");
	}
	jw_init(&w, false);
	jw_obj_open(&w);
	jw_key(&w, "Name");
	jw_str(&w, name);
	if (node != NULL) {
		jw_key(&w, "Node");
		jw_str(&w, node);
		jw_key(&w, "Checks");
		jw_arr_open(&w);
		jw_arr_close(&w);
	}
	jw_key(&w, "Behavior");
	jw_str(&w, "delete");
	jw_key(&w, "TTL");
	jw_str(&w, SESSION_TTL);
	jw_obj_close(&w);
	body = jw_finish(&w, NULL);
	if (call_ok(x, "PUT", "/v1/session/create", body, strlen(body), false,
	    &out) == 0 && (v = cli_json(&out)) != NULL) {
		const char *id = str_of(v, "ID");

		if (*id != '\0' && strlen(id) < sizeof(x->sid) &&
		    strchr(id, '/') == NULL) {
			snprintf(x->sid, sizeof(x->sid), "%s", id);
			r = 0;
		} else {
			snprintf(x->err, sizeof(x->err),
			    "no session ID in the reply");
		}
		yajl_tree_free(v);
	}
	x->next_renew = proc_now_ms() + RENEW_MS;
	free(body);
	free(name);
	free(node);
	buf_free(&out);
	return r;
}

/* renew - every RENEW_MS; a failure is reported once (as Consul, which
 * then stops renewing) */
static void
renew(struct ex *x)
{
	struct buf out = BUF_INIT;
	char path[128];

	if (x->renew_failed || proc_now_ms() < x->next_renew)
		return;
	x->next_renew = proc_now_ms() + RENEW_MS;
	snprintf(path, sizeof(path), "/v1/session/renew/%s", x->sid);
	if (call_ok(x, "PUT", path, NULL, 0, false, &out) < 0) {
		fprintf(stderr, "Session renew failed: %s\n", x->err);
		x->renew_failed = true;
	}
	buf_free(&out);
}

/* cleanup - destroy the session first, so that no agent can write under
 * it any more (its acquires fail), then delete what is left.  Not
 * interruptible: a second Ctrl-C must not leave the job behind. */
static void
cleanup(struct ex *x)
{
	struct buf out = BUF_INIT;
	char *path;
	long status;

	if (x->sid[0] == '\0' || x->dir == NULL)
		return;
	path = xasprintf("/v1/session/destroy/%s", x->sid);
	call(x, "PUT", path, NULL, 0, 10000, false, &status, &out, NULL);
	free(path);
	/* path.Join(prefix, session): no trailing '/', as Consul */
	path = xasprintf("/v1/kv/%.*s?recurse", (int)strlen(x->dir) - 1,
	    x->dir);
	call(x, "DELETE", path, NULL, 0, 10000, false, &status, &out, NULL);
	free(path);
	buf_free(&out);
}

/* ------------------------------------------------------------ the job */

static char *
make_spec(const char *cmd, char **args, int nargs, const struct buf *script,
    int64_t wait_ms)
{
	struct jw w;
	char *b64;
	int i;

	jw_init(&w, false);
	jw_obj_open(&w);
	jw_key(&w, "Command");
	jw_str(&w, cmd);
	if (args != NULL) {
		jw_key(&w, "Args");
		jw_arr_open(&w);
		for (i = 0; i < nargs; i++)
			jw_str(&w, args[i]);
		jw_arr_close(&w);
	}
	jw_key(&w, "Script");
	if (script != NULL) {
		b64 = jd_base64_encode(script->data, script->len);
		jw_str(&w, b64);
		free(b64);
	} else {
		jw_null(&w);
	}
	jw_key(&w, "Wait");	/* Go's time.Duration: nanoseconds */
	jw_int(&w, (long long)wait_ms * 1000000);
	jw_obj_close(&w);
	return jw_finish(&w, NULL);
}

static int
upload(struct ex *x, const char *spec)
{
	struct buf out = BUF_INIT;
	char *path = xasprintf("/v1/kv/%sjob?acquire=%s", x->dir, x->sid);
	int r;

	r = call_ok(x, "PUT", path, spec, strlen(spec), false, &out);
	if (r == 0 && (out.len < 4 || memcmp(out.data, "true", 4) != 0)) {
		snprintf(x->err, sizeof(x->err), "failed to acquire key "
		    "%s/%sjob", x->prefix, x->sid);
		r = -1;
	}
	free(path);
	buf_free(&out);
	return r;
}

static int
fire(struct ex *x, const char *node, const char *service, const char *tag,
    char *id, size_t idlen)
{
	struct buf out = BUF_INIT, path = BUF_INIT;
	const char *names[3] = {"node", "service", "tag"};
	const char *vals[3] = {node, service, tag};
	const char *sep = "?";
	char *payload, *e;
	struct jw w;
	yajl_val v;
	int i, r;

	jw_init(&w, false);
	jw_obj_open(&w);
	jw_key(&w, "Prefix");
	jw_str(&w, x->prefix);
	jw_key(&w, "Session");
	jw_str(&w, x->sid);
	jw_obj_close(&w);
	payload = jw_finish(&w, NULL);
	buf_put_str(&path, "/v1/event/fire/" REXEC_EVENT);
	for (i = 0; i < 3; i++) {
		if (vals[i] == NULL || *vals[i] == '\0')
			continue;
		e = cli_escape(vals[i], false);
		buf_put_str(&path, sep);
		buf_put_str(&path, names[i]);
		buf_put_str(&path, "=");
		buf_put_str(&path, e);
		sep = "&";
		free(e);
	}
	buf_put(&path, "", 1);
	r = call_ok(x, "PUT", (char *)path.data, payload, strlen(payload),
	    false, &out);
	if (r == 0 && (v = cli_json(&out)) != NULL) {
		snprintf(id, idlen, "%s", str_of(v, "ID"));
		yajl_tree_free(v);
	}
	free(payload);
	buf_free(&path);
	buf_free(&out);
	return r;
}

static struct node *
node_get(struct ex *x, const char *name, size_t n)
{
	struct node *nd;

	for (nd = x->nodes; nd != NULL; nd = nd->next)
		if (strlen(nd->name) == n && memcmp(nd->name, name, n) == 0)
			return nd;
	nd = xcalloc(1, sizeof(*nd));
	nd->name = xstrndup(name, n);
	buf_init(&nd->part);
	nd->next = x->nodes;
	x->nodes = nd;
	return nd;
}

/* output - Consul's TargetedUI.Output: "    <node>: <line>" per line.
 * A line cut by a full piece (the agent cuts every 4 KB) waits for the
 * rest in the next piece; a shorter piece was flushed after a pause or
 * at the end, and is shown whole, as Consul shows every piece. */
static void
output(struct node *nd, const uint8_t *p, size_t n)
{
	const uint8_t *s, *nl, *end;

	buf_put(&nd->part, p, n);
	s = nd->part.data;
	end = s + nd->part.len;
	while ((nl = memchr(s, '\n', (size_t)(end - s))) != NULL) {
		printf("    %s: %.*s\n", nd->name, (int)(nl - s), s);
		s = nl + 1;
	}
	if (s < end && n < REXEC_CHUNK) {
		printf("    %s: %.*s\n", nd->name, (int)(end - s), s);
		s = end;
	}
	memmove(nd->part.data, s, (size_t)(end - s));
	nd->part.len = (size_t)(end - s);
	fflush(stdout);
}

static void
output_rest(struct node *nd)
{
	if (nd->part.len == 0)
		return;
	printf("    %s: %.*s\n", nd->name, (int)nd->part.len,
	    (char *)nd->part.data);
	nd->part.len = 0;
	fflush(stdout);
}

/* get_value - the raw value of key (relative to the job's prefix); -1
 * with a message printed if it cannot be read */
static int
get_value(struct ex *x, const char *key, struct buf *out)
{
	char *e = cli_escape(key, true);
	char *path = xasprintf("/v1/kv/%s%s?raw", x->dir, e);
	long status;
	int r;

	r = call(x, "GET", path, NULL, 0, 0, false, &status, out, NULL);
	if (r == 0 && status != 200) {
		snprintf(x->err, sizeof(x->err), "Unexpected response code: "
		    "%ld", status);
		r = -1;
	}
	if (r < 0)
		fprintf(stderr, "Failed to read key '%s/%s%s': %s\n", x->prefix,
		    x->sid, key[0] ? "/" : "", x->err);
	free(path);
	free(e);
	return r;
}

static bool
ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* counts of the job so far */
struct tally {
	int acks, exits, bad;
};

/* handle - one new key, relative to the job's prefix, in pass 0 (acks),
 * 1 (output) or 2 (exit codes): a listing shows them sorted, and an
 * agent writes its exit code after all its output.  Returns true if it
 * was an answer from a node (it restarts the quiet time). */
static bool
handle(struct ex *x, const char *key, int pass, struct tally *t)
{
	struct buf val = BUF_INIT;
	const char *o = strstr(key, "/out/"), *q;
	struct node *nd;
	bool any = false;
	char *end;
	long code;

	if (pass == 0 && ends_with(key, "/ack")) {
		t->acks++;
		if (x->verbose)
			info("==> %.*s: acknowledged", (int)(strlen(key) - 4),
			    key);
		return true;
	}
	/* the last "/out/": a node name may hold one */
	for (q = o; q != NULL; q = strstr(q + 1, "/out/"))
		o = q;
	if (pass == 1 && o != NULL && !ends_with(key, "/ack") &&
	    !ends_with(key, "/exit")) {
		if (get_value(x, key, &val) == 0) {
			nd = node_get(x, key, (size_t)(o - key));
			if (val.len == 0) {
				if (x->verbose)
					info("==> %s: heartbeat received",
					    nd->name);
			} else {
				output(nd, val.data, val.len);
			}
			any = true;
		}
	} else if (pass == 2 && ends_with(key, "/exit")) {
		if (get_value(x, key, &val) == 0) {
			buf_put(&val, "", 1);
			errno = 0;
			code = strtol((char *)val.data, &end, 10);
			if (errno != 0 || end == (char *)val.data || *end !=
			    '\0' || code < INT32_MIN || code > INT32_MAX) {
				fprintf(stderr, "Failed to parse exit code "
				    "'%s'\n", (char *)val.data);
			} else {
				nd = node_get(x, key, strlen(key) - 5);
				output_rest(nd);
				t->exits++;
				info("==> %s: finished with exit code %ld",
				    nd->name, code);
				if (code != 0)
					t->bad++;
				any = true;
			}
		}
	} else if (pass == 2 && o == NULL && !ends_with(key, "/ack") &&
	    strcmp(key, "job") != 0) {
		fprintf(stderr, "Unknown key '%s', ignoring.\n", key);
	}
	buf_free(&val);
	return any;
}

static bool
was_seen(struct ex *x, const char *key)
{
	size_t i;

	for (i = 0; i < x->nseen; i++)
		if (strcmp(x->seen[i], key) == 0)
			return true;
	return false;
}

static void
mark_seen(struct ex *x, const char *key)
{
	if (x->nseen == x->seencap) {
		x->seencap = x->seencap ? x->seencap * 2 : 64;
		x->seen = xreallocarray(x->seen, x->seencap, sizeof(char *));
	}
	x->seen[x->nseen++] = xstrdup(key);
}

/* wait_job - stream the answers until quiet; Consul's exit codes: 0, 2
 * if a node failed or did not finish, 1 on an error or a signal */
static int
wait_job(struct ex *x, int64_t wait_ms)
{
	struct buf out = BUF_INIT;
	struct tally t = {0, 0, 0};
	int64_t start = proc_now_ms(), last = start, left, block, now;
	uint64_t idx = 0, index;
	char *path;
	long status;
	yajl_val v;
	size_t i;
	int r, pass, ret = -1;

	while (ret < 0) {
		/* more time while a node that acknowledged is still at it */
		now = proc_now_ms();
		left = last + (t.acks > t.exits ? 2 * wait_ms : wait_ms) - now;
		if (left <= 0) {
			info("%d / %d node(s) completed / acknowledged",
			    t.exits, t.acks);
			if (x->verbose)
				info("Completed in %0.2f seconds",
				    (double)(now - start) / 1000.0);
			if (t.exits < t.acks)
				t.bad++;
			ret = t.bad > 0 ? 2 : 0;
			break;
		}
		if (proc_sig) {
			ret = 1;
			break;
		}
		renew(x);
		block = left;
		if (block > x->next_renew - now && !x->renew_failed)
			block = x->next_renew - now;
		if (block < 10)
			block = 10;
		proc_wake = 0;
		if (idx > 0)
			path = xasprintf("/v1/kv/%s?keys&index=%" PRIu64
					 "&wait=%" PRId64 "ms",
			    x->dir, idx, block);
		else
			path = xasprintf("/v1/kv/%s?keys", x->dir);
		r = call(x, "GET", path, NULL, 0, (long)(block + block / 16 +
		    10000), true, &status, &out, &index);
		free(path);
		if (r == -2)
			continue;	/* a signal: proc_sig says which */
		if (r == 0 && status != 200 && status != 404) {
			snprintf(x->err, sizeof(x->err), "Unexpected response "
			    "code: %ld (%.*s)", status,
			    (int)(out.len > 400 ? 400 : out.len),
			    out.data ? (const char *)out.data : "");
			r = -1;
		}
		if (r < 0) {
			fprintf(stderr, "Failed to read results: %s\n", x->err);
			ret = 1;
			break;
		}
		if (index == idx || status == 404) {
			idx = index;
			continue;
		}
		idx = index;
		if ((v = cli_json(&out)) == NULL) {
			ret = 1;
			break;
		}
		for (pass = 0; YAJL_IS_ARRAY(v) && pass < 3; pass++) {
			for (i = 0; i < v->u.array.len; i++) {
				yajl_val k = v->u.array.values[i];
				const char *key;

				if (!YAJL_IS_STRING(k) || k->u.string == NULL ||
				    strlen(k->u.string) < x->dirlen ||
				    was_seen(x, k->u.string))
					continue;
				key = k->u.string + x->dirlen;
				if (handle(x, key, pass, &t))
					last = proc_now_ms();
			}
		}
		for (i = 0; YAJL_IS_ARRAY(v) && i < v->u.array.len; i++) {
			yajl_val k = v->u.array.values[i];

			if (YAJL_IS_STRING(k) && k->u.string != NULL &&
			    !was_seen(x, k->u.string))
				mark_seen(x, k->u.string);
		}
		yajl_tree_free(v);
	}
	buf_free(&out);
	return ret;
}

/* ------------------------------------------------------------ command */

int
cmd_exec(int argc, char **argv)
{
	static const char *const bools[] = {"verbose", NULL};
	static const char *const strs[] = {"node", "service", "tag", "prefix",
	    "wait", "wait-repl", NULL};
	static const char usage[] =
	    "Usage: cairn exec [options] [-|command...]\n\n"
	    "  Evaluates a command on remote Cairn nodes. The nodes responding "
	    "can\n  be filtered using regular expressions on node name, "
	    "service, and tag\n  definitions. If a command is '-', stdin will "
	    "be read until EOF\n  and used as a script input.\n\n"
	    "  -node=<regexp>      Regular expression to filter on node "
	    "names.\n"
	    "  -prefix=<prefix>    Prefix in the KV store to use for request "
	    "data (_rexec).\n"
	    "  -service=<regexp>   Regular expression to filter on service "
	    "instances.\n"
	    "  -shell=<bool>       Use a shell to run the command (true).\n"
	    "  -tag=<regexp>       Regular expression to filter on service "
	    "tags.\n                      Must be used with -service.\n"
	    "  -verbose            Enables verbose output.\n"
	    "  -wait=<duration>    Period to wait with no responses before "
	    "terminating\n                      execution (2s).\n"
	    "  -wait-repl=<duration>  Period to wait for replication before "
	    "firing the\n                      event (200ms).\n"
	    "  -http-addr=<addr>   The agent's HTTP address "
	    "(127.0.0.1:8500).\n"
	    "  -token=<token>      ACL token to use.\n"
	    "  -datacenter=<dc>    Datacenter to run the command in.\n";
	struct ex x;
	struct buf out = BUF_INIT, script = BUF_INIT, cmd = BUF_INIT;
	const char *node, *service, *tag, *dc;
	int64_t wait_ms = QUIET_WAIT_MS, repl_ms = REPL_WAIT_MS;
	char **args, *spec = NULL, *raw, id[64] = "";
	char *local_node = NULL, *local_dc = NULL;
	bool shell, foreign = false, use_script = false;
	int first, nargs, i, r, ret = 1;
	yajl_val v;
	struct node *nd;
	size_t k;

	memset(&x, 0, sizeof(x));
	if ((r = proc_parse(argc, argv, bools, strs, &x.o, usage, &shell,
	    &first)) != 0)
		return r;
	x.verbose = x.o.flag[0];
	node = x.o.sval[0];
	service = x.o.sval[1];
	tag = x.o.sval[2];
	if ((x.o.sval[4] && parse_ms("wait", x.o.sval[4], &wait_ms) < 0) ||
	    (x.o.sval[5] && parse_ms("wait-repl", x.o.sval[5], &repl_ms) < 0))
		return 1;
	args = argv + first;
	nargs = argc - first;
	for (i = 0; i < nargs; i++) {
		if (i > 0)
			buf_put(&cmd, " ", 1);
		buf_put_str(&cmd, args[i]);
	}
	buf_put(&cmd, "", 1);
	if (strcmp((char *)cmd.data, "-") == 0) {
		if (!shell) {
			fprintf(stderr, "Cannot configure -shell=false when "
					"reading from stdin\n");
			goto out;
		}
		if ((r = cli_read("-", &script)) < 0) {
			fprintf(stderr, "Failed to read stdin: %s\n\n%s",
			    strerror(-r), usage);
			goto out;
		}
		use_script = script.len > 0;
		cmd.data[0] = '\0';
	} else if (!shell) {
		cmd.data[0] = '\0';
	}
	if (!use_script && (shell ? *(char *)cmd.data == '\0' : nargs == 0)) {
		fprintf(stderr, "Must specify a command to execute\n\n%s",
		    usage);
		goto out;
	}
	if (check_re("node", node) < 0 || check_re("service", service) < 0 ||
	    check_re("tag", tag) < 0)
		goto out;
	if (tag && *tag && (service == NULL || *service == '\0')) {
		fprintf(stderr, "Cannot provide tag filter without service "
				"filter.\n");
		goto out;
	}
	x.prefix = clean(x.o.sval[3] ? x.o.sval[3] : REXEC_PREFIX);
	if (*x.prefix == '\0') {
		free(x.prefix);
		x.prefix = xstrdup(REXEC_PREFIX);
	}

	if (cli_call(&x.o, "GET", "/v1/agent/self", NULL, 0, &out,
	    "querying Cairn agent"))
		goto out;
	if ((v = cli_json(&out)) == NULL)
		goto out;
	local_dc = xstrdup(str_of(json_obj_get(v, "Config"), "Datacenter"));
	local_node = xstrdup(str_of(json_obj_get(v, "Config"), "NodeName"));
	yajl_tree_free(v);
	dc = x.o.h.dc;
	if (dc != NULL && *dc != '\0' && strcmp(dc, local_dc) != 0) {
		if (x.verbose)
			info("Remote exec in foreign datacenter, using "
			     "Session TTL");
		foreign = true;
	}
	spec = make_spec((char *)cmd.data, shell ? NULL : args,
	    shell ? 0 : nargs, use_script ? &script : NULL, wait_ms);
	if (spec == NULL) {
		fprintf(stderr, "Failed to create job spec\n");
		goto out;
	}

	proc_signals(false);
	if (session_create(&x, foreign, local_node, local_dc) < 0) {
		fprintf(stderr, "Failed to create session: %s\n", x.err);
		goto out;
	}
	if (x.verbose)
		info("Created remote execution session: %s", x.sid);
	raw = xasprintf("%s/%s/", x.prefix, x.sid);
	x.dir = cli_escape(raw, true);
	x.dirlen = strlen(raw);
	free(raw);
	if (upload(&x, spec) < 0) {
		fprintf(stderr, "Failed to create job file: %s\n", x.err);
		goto done;
	}
	if (x.verbose)
		info("Uploaded remote execution spec");
	/* give the servers time to replicate it: the agents read it stale
	 * first (Consul's heuristic) */
	if (proc_sleep(repl_ms) < 0 && proc_sig)
		goto done;
	if (fire(&x, node, service, tag, id, sizeof(id)) < 0) {
		fprintf(stderr, "Failed to fire event: %s\n", x.err);
		goto done;
	}
	if (x.verbose)
		info("Fired remote execution event: %s", id);
	ret = wait_job(&x, wait_ms);
done:
	cleanup(&x);
out:
	while ((nd = x.nodes) != NULL) {
		x.nodes = nd->next;
		output_rest(nd);
		buf_free(&nd->part);
		free(nd->name);
		free(nd);
	}
	for (k = 0; k < x.nseen; k++)
		free(x.seen[k]);
	free(x.seen);
	free(x.prefix);
	free(x.dir);
	free(spec);
	free(local_node);
	free(local_dc);
	buf_free(&out);
	buf_free(&script);
	buf_free(&cmd);
	return ret;
}
