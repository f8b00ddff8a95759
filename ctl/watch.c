/* watch.c - cairn watch: a blocking-query loop over one data view (key,
 * keyprefix, services, nodes, service, checks, event) that prints it
 * once or runs a handler on every change, as `consul watch`. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "ctl.h"
#include "json.h"
#include "proc.h"
#include "xmalloc.h"

#define WAIT "5m"
#define WAIT_MS (5 * 60 * 1000)
#define RETRY_MS 5000		/* first retry after an error, then x n^2 */
#define MAX_BACKOFF_MS 180000
#define HANDLER_GRACE_MS 5000

/* the watch parameters, in the order of the string flags */
enum {
	P_TYPE,
	P_KEY,
	P_PREFIX,
	P_SERVICE,
	P_TAG,
	P_PASSING,
	P_STATE,
	P_NAME,
	P_STALE /* the -stale boolean */
};
#define B(p) (1u << (p))

static const char *const param_names[] = {"type", "key", "prefix",
    "service", "tag", "passingonly", "state", "name", "stale"};

static const struct wtype {
	const char *name;
	unsigned params; /* the parameters it takes */
} types[] = {
    {"key", B(P_KEY) | B(P_STALE)},
    {"keyprefix", B(P_PREFIX) | B(P_STALE)},
    {"services", B(P_STALE)},
    {"nodes", B(P_STALE)},
    {"service", B(P_SERVICE) | B(P_TAG) | B(P_PASSING) | B(P_STALE)},
    {"checks", B(P_SERVICE) | B(P_STATE) | B(P_STALE)},
    {"event", B(P_NAME)},
};

/* ------------------------------------------------------------ output */

static void
emit_str(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	buf_put(b, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			buf_put(b, "\\", 1);
			buf_put(b, s, 1);
		} else if (c == '\n') {
			buf_put_str(b, "\\n");
		} else if (c == '\r') {
			buf_put_str(b, "\\r");
		} else if (c == '\t') {
			buf_put_str(b, "\\t");
		} else if (c < 0x20) {
			char e[6] = {'\\', 'u', '0', '0', hex[c >> 4],
			    hex[c & 15]};

			buf_put(b, e, 6);
		} else {
			buf_put(b, s, 1);
		}
	}
	buf_put(b, "\"", 1);
}

static void
indent(struct buf *b, int depth)
{
	buf_put(b, "\n", 1);
	while (depth-- > 0)
		buf_put_str(b, "    ");
}

/* emit - v as JSON, compact or as Go's MarshalIndent(v, "", "    "); an
 * array from its element from on */
static void
emit(struct buf *b, yajl_val v, size_t from, int depth, bool pretty)
{
	size_t i, n;

	if (v == NULL) {
		buf_put_str(b, "null");
		return;
	}
	switch (v->type) {
	case yajl_t_string:
		emit_str(b, v->u.string ? v->u.string : "");
		break;
	case yajl_t_number:
		buf_put_str(b, v->u.number.r ? v->u.number.r : "0");
		break;
	case yajl_t_object:
		n = v->u.object.len;
		buf_put(b, "{", 1);
		for (i = 0; i < n; i++) {
			if (i)
				buf_put(b, ",", 1);
			if (pretty)
				indent(b, depth + 1);
			emit_str(b, v->u.object.keys[i]);
			buf_put_str(b, pretty ? ": " : ":");
			emit(b, v->u.object.values[i], 0, depth + 1, pretty);
		}
		if (pretty && n > 0)
			indent(b, depth);
		buf_put(b, "}", 1);
		break;
	case yajl_t_array:
		n = v->u.array.len;
		buf_put(b, "[", 1);
		for (i = from; i < n; i++) {
			if (i > from)
				buf_put(b, ",", 1);
			if (pretty)
				indent(b, depth + 1);
			emit(b, v->u.array.values[i], 0, depth + 1, pretty);
		}
		if (pretty && n > from)
			indent(b, depth);
		buf_put(b, "]", 1);
		break;
	case yajl_t_true:
		buf_put_str(b, "true");
		break;
	case yajl_t_false:
		buf_put_str(b, "false");
		break;
	default:
		buf_put_str(b, "null");
		break;
	}
}

static char *
render(yajl_val v, size_t from, bool pretty)
{
	struct buf b = BUF_INIT;

	emit(&b, v, from, 0, pretty);
	buf_put(&b, "", 1);
	return (char *)buf_steal(&b, NULL);
}

/* event_index - the index Consul derives from an event's UUID: its two
 * 64-bit halves XORed */
static uint64_t
event_index(const char *id)
{
	uint64_t h[2] = {0, 0};
	size_t i, k = 0;

	for (i = 0; id[i] && k < 32; i++) {
		char c = id[i];
		unsigned d;

		if (c == '-')
			continue;
		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			d = (unsigned)(c - 'A' + 10);
		else
			return 0;
		h[k / 16] = h[k / 16] << 4 | d;
		k++;
	}
	return k == 32 ? h[0] ^ h[1] : 0;
}

/* ----------------------------------------------------------- handler */

/* write_all - the handler's stdin; stops early if it goes away or we
 * are told to stop */
static void
write_all(int fd, const char *p, size_t n)
{
	while (n > 0 && !proc_sig) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return; /* EPIPE: it did not read it all */
		}
		p += w;
		n -= (size_t)w;
	}
}

/* run_handler - the handler with the JSON on its stdin and CONSUL_INDEX
 * set; 0 when it succeeded, -1 when it failed (message printed), 1 when
 * we were told to stop meanwhile */
static int
run_handler(char **args, int nargs, bool shell, uint64_t index,
    const char *json)
{
	char env[64];
	int p[2], st;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0) {
		fprintf(stderr, "Error starting handler: %s\n",
		    strerror(errno));
		return -1;
	}
	snprintf(env, sizeof(env), "CONSUL_INDEX=%" PRIu64, index);
	pid = proc_spawn(args, nargs, shell, p[0], env);
	close(p[0]);
	if (pid < 0) {
		close(p[1]);
		return -1;
	}
	write_all(p[1], json, strlen(json));
	write_all(p[1], "\n", 1);
	close(p[1]);
	for (;;) {
		proc_wake = 0;
		if (proc_reap(pid, &st))
			break;
		if (proc_sig) {
			kill(pid, proc_sig); /* forwarded */
			proc_stop(pid, HANDLER_GRACE_MS, false);
			return 1;
		}
		proc_sleep(100); /* SIGCHLD or SIGINT/SIGTERM end it early */
	}
	if (st != 0) {
		char why[80];

		proc_status_text(st, why, sizeof(why));
		fprintf(stderr, "Error executing handler: %s\n", why);
		return -1;
	}
	return proc_sig ? 1 : 0;
}

/* ------------------------------------------------------------ command */

/* query - the watch's endpoint with its parameters */
static char *
query(const struct wtype *t, const struct opts *o, bool passing)
{
	struct buf b = BUF_INIT;
	char *e = NULL;
	const char *sep = "?";

	if (strcmp(t->name, "key") == 0 || strcmp(t->name, "keyprefix") == 0) {
		e = cli_escape(o->sval[t->name[3] ? P_PREFIX : P_KEY], true);
		buf_put_str(&b, "/v1/kv/");
		buf_put_str(&b, e);
		if (t->name[3]) {
			buf_put_str(&b, "?recurse");
			sep = "&";
		}
	} else if (strcmp(t->name, "services") == 0) {
		buf_put_str(&b, "/v1/catalog/services");
	} else if (strcmp(t->name, "nodes") == 0) {
		buf_put_str(&b, "/v1/catalog/nodes");
	} else if (strcmp(t->name, "service") == 0) {
		e = cli_escape(o->sval[P_SERVICE], false);
		buf_put_str(&b, "/v1/health/service/");
		buf_put_str(&b, e);
		if (o->sval[P_TAG] && *o->sval[P_TAG]) {
			free(e);
			e = cli_escape(o->sval[P_TAG], false);
			buf_put_str(&b, "?tag=");
			buf_put_str(&b, e);
			sep = "&";
		}
		if (passing) {
			buf_put_str(&b, sep);
			buf_put_str(&b, "passing=1");
			sep = "&";
		}
	} else if (strcmp(t->name, "checks") == 0) {
		bool svc = o->sval[P_SERVICE] && *o->sval[P_SERVICE];

		e = cli_escape(svc ? o->sval[P_SERVICE]
				 : o->sval[P_STATE] && *o->sval[P_STATE]
				 ? o->sval[P_STATE]
				 : "any",
		    false);
		buf_put_str(&b, svc ? "/v1/health/checks/"
				    : "/v1/health/state/");
		buf_put_str(&b, e);
	} else { /* event */
		buf_put_str(&b, "/v1/event/list");
		if (o->sval[P_NAME] && *o->sval[P_NAME]) {
			e = cli_escape(o->sval[P_NAME], false);
			buf_put_str(&b, "?name=");
			buf_put_str(&b, e);
			sep = "&";
		}
	}
	if (o->flag[0] && strcmp(t->name, "event") != 0) {
		buf_put_str(&b, sep);
		buf_put_str(&b, "stale");
	}
	free(e);
	buf_put(&b, "", 1);
	return (char *)buf_steal(&b, NULL);
}

/* check - Consul's watch.Parse: the type, what it needs, nothing it does
 * not take.  Returns the type or NULL (message printed). */
static const struct wtype *
check(const struct opts *o)
{
	const struct wtype *t = NULL;
	const char *ty = o->sval[P_TYPE];
	unsigned given = 0, bad;
	size_t i;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(types[i].name, ty) == 0)
			t = types + i;
	if (t == NULL) {
		fprintf(stderr, "Unsupported watch type: %s\n", ty);
		return NULL;
	}
	for (i = P_KEY; i <= P_NAME; i++)
		if (o->sval[i] && *o->sval[i])
			given |= B(i);
	if (o->flag[0])
		given |= B(P_STALE);
	if (t->params & B(P_KEY) && !(given & B(P_KEY))) {
		fprintf(stderr, "Must specify a single key to watch\n");
		return NULL;
	}
	if (t->params & B(P_PREFIX) && !(given & B(P_PREFIX))) {
		fprintf(stderr, "Must specify a single prefix to watch\n");
		return NULL;
	}
	if (strcmp(t->name, "service") == 0 && !(given & B(P_SERVICE))) {
		fprintf(stderr, "Must specify a single service to watch\n");
		return NULL;
	}
	if (t->params & B(P_STATE) && given & B(P_SERVICE) &&
	    given & B(P_STATE)) {
		fprintf(stderr, "Cannot specify service and state\n");
		return NULL;
	}
	if ((bad = given & ~t->params) != 0) {
		bool sp = false;

		fprintf(stderr, "Invalid parameters: [");
		for (i = P_KEY; i <= P_STALE; i++)
			if (bad & B(i)) {
				fprintf(stderr, "%s%s", sp ? " " : "",
				    param_names[i]);
				sp = true;
			}
		fprintf(stderr, "]\n");
		return NULL;
	}
	return t;
}

int
cmd_watch(int argc, char **argv)
{
	static const char *const bools[] = {"stale", NULL};
	static const char *const strs[] = {"type", "key", "prefix", "service",
	    "tag", "passingonly", "state", "name", NULL};
	static const char usage[] =
	    "Usage: cairn watch [options] [child...]\n\n"
	    "  Watches for changes in a given data view from Cairn.  If a "
	    "child process\n  is specified, it is invoked with the latest "
	    "results (JSON on its stdin,\n  CONSUL_INDEX in its "
	    "environment) on every change; otherwise the\n  current values "
	    "are printed to stdout and the watch ends.\n\n"
	    "  -key=<key>           Key to watch (type key).\n"
	    "  -name=<name>         Event name to watch (type event).\n"
	    "  -passingonly=<bool>  Only passing instances (type service).\n"
	    "  -prefix=<prefix>     Key prefix to watch (type keyprefix).\n"
	    "  -service=<service>   Service to watch (type service; "
	    "checks).\n"
	    "  -shell=<bool>        Run the child under $SHELL -c (true).\n"
	    "  -stale               Let any server answer.\n"
	    "  -state=<state>       Check state to watch (type checks).\n"
	    "  -tag=<tag>           Service tag to filter on (type "
	    "service).\n"
	    "  -type=<type>         key, keyprefix, services, nodes, "
	    "service, checks\n"
	    "                       or event (required).\n"
	    "  -http-addr=<addr>    The agent's HTTP address "
	    "(127.0.0.1:8500).\n";
	const struct wtype *t;
	struct buf out = BUF_INIT;
	struct opts o;
	char *base = NULL, *last_text = NULL;
	uint64_t last = 0;
	bool shell, passing = false, have = false, is_key, is_prefix;
	int first, nargs, r, failures = 0, ret = 1;
	char **args;

	if ((r = proc_parse(argc, argv, bools, strs, &o, usage, &shell,
		 &first)) != 0)
		return r;
	nargs = argc - first;
	args = argv + first;
	if (o.sval[P_TYPE] == NULL || *o.sval[P_TYPE] == '\0') {
		fprintf(stderr, "Watch type must be specified\n\n%s", usage);
		return 1;
	}
	if (o.sval[P_PASSING] && *o.sval[P_PASSING]) {
		int b = proc_parse_bool(o.sval[P_PASSING]);

		if (b < 0) {
			fprintf(stderr, "Failed to parse passingonly flag: "
					"strconv.ParseBool: parsing \"%s\": "
					"invalid syntax\n",
			    o.sval[P_PASSING]);
			return 1;
		}
		passing = b == 1;
	}
	if ((t = check(&o)) == NULL)
		return 1;
	if (cli_call(&o, "GET", "/v1/agent/self", NULL, 0, &out,
		"querying Cairn agent")) {
		buf_free(&out);
		return 1;
	}
	is_key = strcmp(t->name, "key") == 0;
	is_prefix = strcmp(t->name, "keyprefix") == 0;
	base = query(t, &o, passing);
	proc_signals(true);
	for (;;) {
		struct ctl_http_meta m;
		char *path, *text, err[600] = "";
		yajl_val v = NULL, res;
		uint64_t old = last;
		bool old_have = have;
		size_t from = 0;
		long status = 0;

		proc_wake = 0;
		if (proc_sig) {
			ret = 0;
			break;
		}
		if (have && last > 0)
			path = xasprintf("%s%cindex=%" PRIu64 "&wait=" WAIT,
			    base, strchr(base, '?') ? '&' : '?', last);
		else
			path = xstrdup(base);
		memset(&m, 0, sizeof(m));
		m.timeout_ms = WAIT_MS + WAIT_MS / 16 + 30000;
		m.cancel = &proc_wake;
		m.quiet = true;
		buf_reset(&out);
		r = ctl_http_do_meta(&o.h, "GET", path, NULL, 0, &status, &out,
		    &m);
		free(path);
		if (r < 0 && m.cancelled)
			continue;
		if (r < 0) {
			snprintf(err, sizeof(err), "%s", m.errstr);
		} else if (status == 404 && (is_key || is_prefix)) {
			/* no such key (yet): null, still blocking */
		} else if (status != 200) {
			snprintf(err, sizeof(err),
			    "Unexpected response code: %ld (%.*s)", status,
			    (int)(out.len > 400 ? 400 : out.len),
			    out.data ? (char *)out.data : "");
		} else if ((v = cli_json(&out)) == NULL) {
			snprintf(err, sizeof(err), "the reply is not JSON");
		}
		if (err[0]) {
			int64_t retry;

			failures++;
			have = false;
			retry = (int64_t)RETRY_MS * failures * failures;
			if (retry > MAX_BACKOFF_MS)
				retry = MAX_BACKOFF_MS;
			fprintf(stderr,
			    "Watch (type: %s) errored: %s, retry in %llds\n",
			    t->name, err, (long long)(retry / 1000));
			if (proc_sleep(retry) < 0 && proc_sig) {
				ret = 0;
				break;
			}
			continue;
		}
		failures = 0;
		if (have && m.index == last) { /* nothing new */
			if (v)
				yajl_tree_free(v);
			if (m.index == 0 && proc_sleep(1000) < 0 && proc_sig) {
				ret = 0; /* an agent without an index */
				break;
			}
			continue;
		}
		/* an index that went backwards starts over from 0 */
		last = have && old > m.index ? 0 : m.index;
		have = true;
		res = v;
		if (is_key)
			res = v && YAJL_IS_ARRAY(v) && v->u.array.len > 0
				  ? v->u.array.values[0]
				  : NULL;
		if (strcmp(t->name, "event") == 0 && old_have && v &&
		    YAJL_IS_ARRAY(v)) {
			size_t i;

			/* only the events after the newest one seen */
			for (i = 0; i < v->u.array.len; i++) {
				yajl_val id = json_obj_get(v->u.array.values[i],
				    "ID");

				if (id && YAJL_IS_STRING(id) &&
				    event_index(YAJL_GET_STRING(id)) == old) {
					from = i + 1;
					break;
				}
			}
		}
		text = render(res, from, false);
		if (old_have && last_text && strcmp(text, last_text) == 0) {
			free(text);
			if (v)
				yajl_tree_free(v);
			continue;
		}
		free(last_text);
		last_text = text;
		if (nargs == 0) {
			char *pretty = render(res, from, true);

			printf("%s\n", pretty);
			free(pretty);
			if (v)
				yajl_tree_free(v);
			ret = 0;
			break;
		}
		if (v)
			yajl_tree_free(v);
		r = run_handler(args, nargs, shell, m.index, text);
		if (r != 0) {
			ret = r < 0 ? 1 : 0;
			break;
		}
	}
	free(last_text);
	free(base);
	buf_free(&out);
	return ret;
}
