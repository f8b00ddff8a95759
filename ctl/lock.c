/* lock.c - cairn lock: run a child while holding a KV lock (-n=1, Consul's
 * leader-election recipe) or a semaphore slot (-n>1), as `consul lock`. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>

#include "cli.h"
#include "ctl.h"
#include "jdec.h"
#include "json.h"
#include "proc.h"
#include "xmalloc.h"

/* Consul's api package: the magic Flags that mark a lock and a semaphore
 * key (a lock and a semaphore on one prefix conflict) */
#define LOCK_FLAG 0x2ddccbc058a50c18ull
#define SEM_FLAG 0xe0f69a2baa414de0ull

#define SESSION_TTL "15s"
#define SESSION_TTL_MS 15000
#define WAIT_MS 15000	      /* one blocking read while contending */
#define RETRY_MS 5000	      /* acquire refused, key free: lock-delay */
#define KILL_GRACE_MS 5000    /* SIGTERM to SIGKILL */
#define MONITOR_RETRY_MS 1000 /* between -monitor-retry attempts */

struct lk {
	struct opts o;
	bool verbose;
	int limit;	/* -n */
	int monitor_retry;
	char *prefix;	/* cleaned: no leading, trailing or double '/' */
	char *key;	/* prefix/.lock, URL-escaped */
	char *pfx;	/* prefix/ (or ""), URL-escaped: the semaphore's keys */
	char *ckey;	/* prefix/<session>, URL-escaped: our contender key */
	char *rawkey;	/* prefix/.lock as the KV store names it */
	char sid[64];	/* our session */
	int64_t ttl_ms; /* the session's TTL (the server may raise it) */
	int64_t next_renew, last_renew;
	char err[600]; /* why the last step failed */
};

/* kv_pair - the parts of a DirEntry a lock looks at */
struct kvp {
	char *key;
	char *session; /* "" when not held */
	uint64_t flags, modify;
	uint8_t *val; /* NULL when the value is null */
	size_t vlen;
};

/* ------------------------------------------------------------ helpers */

/* clean - Consul trims one leading '/'; path.Join then drops empty
 * elements and a trailing '/' */
static char *
clean(const char *p)
{
	char *s = xmalloc(strlen(p) + 1), *d = s;

	if (*p == '/')
		p++;
	for (; *p; p++)
		if (*p != '/' || (d > s && d[-1] != '/'))
			*d++ = *p;
	while (d > s && d[-1] == '/')
		d--;
	*d = '\0';
	return s;
}

static uint64_t
num_u64(yajl_val v)
{
	if (v == NULL || !YAJL_IS_NUMBER(v))
		return 0;
	if (YAJL_GET_NUMBER(v) != NULL)
		return strtoull(YAJL_GET_NUMBER(v), NULL, 10);
	return YAJL_IS_INTEGER(v) ? (uint64_t)YAJL_GET_INTEGER(v) : 0;
}

static const char *
str_of(yajl_val o, const char *k)
{
	yajl_val v = json_obj_get(o, k);

	return v && YAJL_IS_STRING(v) ? YAJL_GET_STRING(v) : "";
}

static void
kv_free(struct kvp *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(p[i].key);
		free(p[i].session);
		free(p[i].val);
	}
	free(p);
}

/* kv_parse - a GET /v1/kv reply (200) into pairs; -1 if it is not a list
 * of entries */
static int
kv_parse(const struct buf *b, struct kvp **out, size_t *n)
{
	struct errbuf eb;
	yajl_val v = json_parse(b->data ? (const char *)b->data : "", b->len,
	    &eb);
	size_t i;

	*out = NULL;
	*n = 0;
	if (v == NULL || !YAJL_IS_ARRAY(v)) {
		if (v)
			yajl_tree_free(v);
		return -1;
	}
	*out = xcalloc(v->u.array.len + 1, sizeof(**out));
	for (i = 0; i < v->u.array.len; i++) {
		yajl_val e = v->u.array.values[i];
		yajl_val val = json_obj_get(e, "Value");
		struct kvp *p = *out + *n;

		if (!YAJL_IS_OBJECT(e))
			continue;
		p->key = xstrdup(str_of(e, "Key"));
		p->session = xstrdup(str_of(e, "Session"));
		p->flags = num_u64(json_obj_get(e, "Flags"));
		p->modify = num_u64(json_obj_get(e, "ModifyIndex"));
		if (val && YAJL_IS_STRING(val) && val->u.string != NULL &&
		    jd_base64_decode(val->u.string, strlen(val->u.string),
			&p->val, &p->vlen) < 0)
			p->val = NULL;
		(*n)++;
	}
	yajl_tree_free(v);
	return 0;
}

static void
info(const struct lk *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* info - Consul's -verbose lines (its UI's Info: stdout) */
static void
info(const struct lk *l, const char *fmt, ...)
{
	va_list ap;

	if (!l->verbose)
		return;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

/* call - one request (quiet: l->err says what went wrong).  intr: a
 * signal aborts it.  Returns 0 with *status, -1 on failure, -2 if
 * interrupted. */
static int
call(struct lk *l, const char *method, const char *path, const char *body,
    long timeout_ms, bool intr, long *status, struct buf *out,
    uint64_t *index)
{
	struct ctl_http_meta m;

	memset(&m, 0, sizeof(m));
	m.timeout_ms = timeout_ms;
	m.cancel = intr ? &proc_wake : NULL;
	m.quiet = true;
	buf_reset(out);
	*status = 0;
	if (ctl_http_do_meta(&l->o.h, method, path, body,
		body ? strlen(body) : 0, status, out, &m) < 0) {
		if (m.cancelled)
			return -2;
		snprintf(l->err, sizeof(l->err), "%s",
		    m.errstr ? m.errstr : "request failed");
		return -1;
	}
	if (index)
		*index = m.index;
	return 0;
}

/* bad_status - Consul's api error text for an unexpected answer */
static void
bad_status(struct lk *l, long status, const struct buf *out)
{
	int len = (int)(out->len > 400 ? 400 : out->len);

	snprintf(l->err, sizeof(l->err),
	    "Unexpected response code: %ld (%.*s)", status, len,
	    out->data ? (const char *)out->data : "");
}

/* is_true - a KV write's "true"/"false" answer */
static bool
is_true(const struct buf *b)
{
	return b->len >= 4 && memcmp(b->data, "true", 4) == 0;
}

/* ------------------------------------------------------------ session */

static int
session_create(struct lk *l, const char *name)
{
	struct buf out = BUF_INIT;
	struct jw w;
	long status;
	char *body;
	yajl_val v;
	int r = -1;

	jw_init(&w, false);
	jw_obj_open(&w);
	jw_key(&w, "Name");
	jw_str(&w, name);
	jw_key(&w, "TTL");
	jw_str(&w, SESSION_TTL);
	if (l->limit > 1) { /* a dead contender's key goes with it */
		jw_key(&w, "Behavior");
		jw_str(&w, "delete");
	}
	jw_obj_close(&w);
	body = jw_finish(&w, NULL);
	if (call(l, "PUT", "/v1/session/create", body, 0, false, &status,
		&out, NULL) == 0) {
		if (status != 200) {
			bad_status(l, status, &out);
		} else if ((v = cli_json(&out)) != NULL) {
			const char *id = str_of(v, "ID");

			if (*id && strlen(id) < sizeof(l->sid)) {
				snprintf(l->sid, sizeof(l->sid), "%s", id);
				r = 0;
			} else {
				snprintf(l->err, sizeof(l->err),
				    "no session ID in the reply");
			}
			yajl_tree_free(v);
		}
	}
	if (r < 0) {
		char e[sizeof(l->err)];

		memcpy(e, l->err, sizeof(e));
		snprintf(l->err, sizeof(l->err),
		    "failed to create session: %.500s", e);
	}
	l->ttl_ms = SESSION_TTL_MS;
	l->last_renew = proc_now_ms();
	l->next_renew = l->last_renew + l->ttl_ms / 2;
	free(body);
	buf_free(&out);
	return r;
}

/* renew - renew the session when it is due (every TTL/2).  -1 once it is
 * gone: the agent does not know it, or no renewal worked for a TTL. */
static int
renew(struct lk *l)
{
	struct buf out = BUF_INIT;
	char path[128];
	int64_t now = proc_now_ms();
	long status;
	int r;

	if (now < l->next_renew)
		return 0;
	snprintf(path, sizeof(path), "/v1/session/renew/%s", l->sid);
	r = call(l, "PUT", path, NULL, 10000, false, &status, &out, NULL);
	if (r == 0 && status == 200) {
		yajl_val v = cli_json(&out);
		int64_t ns;

		if (v && YAJL_IS_ARRAY(v) && v->u.array.len > 0 &&
		    jd_duration_parse(str_of(v->u.array.values[0], "TTL"),
			&ns) == 0 &&
		    ns >= 1000000000)
			l->ttl_ms = ns / 1000000;
		if (v)
			yajl_tree_free(v);
		l->last_renew = now;
		l->next_renew = now + l->ttl_ms / 2;
	} else if (r == 0 && status == 404) {
		snprintf(l->err, sizeof(l->err), "session expired");
		r = -1;
	} else {
		if (r == 0)
			bad_status(l, status, &out);
		r = now - l->last_renew > l->ttl_ms ? -1 : 0;
		l->next_renew = now + 1000;
	}
	buf_free(&out);
	return r < 0 ? -1 : 0;
}

static void
session_destroy(struct lk *l)
{
	struct buf out = BUF_INIT;
	char path[128];
	long status;

	if (l->sid[0] == '\0')
		return;
	snprintf(path, sizeof(path), "/v1/session/destroy/%s", l->sid);
	call(l, "PUT", path, NULL, 10000, false, &status, &out, NULL);
	buf_free(&out);
}

/* block_ms - how long a blocking read may wait: want, but the session's
 * renewal comes first */
static int64_t
block_ms(const struct lk *l, int64_t want)
{
	int64_t left = l->next_renew - proc_now_ms();

	if (left < 500)
		left = 500;
	return want < left ? want : left;
}

/* pause - sleep ms while keeping the session; -1 if a signal came or
 * the session is gone */
static int
pause_ms(struct lk *l, int64_t ms)
{
	int64_t end = proc_now_ms() + ms, left;

	while ((left = end - proc_now_ms()) > 0) {
		if (renew(l) < 0)
			return -1;
		if (proc_sleep(block_ms(l, left)) < 0)
			return -1;
	}
	return 0;
}

/* read_key - GET path, blocking from index idx (0: not) for at most
 * wait ms.  Returns like call. */
static int
read_key(struct lk *l, const char *path, uint64_t idx, int64_t wait,
    long *status, struct buf *out, uint64_t *index)
{
	char *p;
	int r;

	if (idx > 0)
		p = xasprintf("%s%cindex=%" PRIu64 "&wait=%" PRId64 "ms", path,
		    strchr(path, '?') ? '&' : '?', idx, wait);
	else
		p = xstrdup(path);
	r = call(l, "GET", p, NULL, (long)(wait + wait / 16 + 10000), true,
	    status, out, index);
	free(p);
	return r;
}

/* ------------------------------------------------- semaphore's .lock */

struct semlock {
	long long limit;
	char **holders;
	size_t n;
};

static void
sem_free(struct semlock *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		free(s->holders[i]);
	free(s->holders);
	memset(s, 0, sizeof(*s));
}

/* sem_decode - the coordination key's {"Limit":N,"Holders":{id:true}};
 * none (or a null value) is an empty one with our limit */
static int
sem_decode(struct lk *l, const struct kvp *p, struct semlock *s)
{
	struct errbuf eb;
	yajl_val v, lim, h;
	size_t i;

	memset(s, 0, sizeof(*s));
	s->limit = l->limit;
	if (p == NULL || p->val == NULL || p->vlen == 0)
		return 0;
	v = json_parse((const char *)p->val, p->vlen, &eb);
	if (v == NULL || !YAJL_IS_OBJECT(v)) {
		snprintf(l->err, sizeof(l->err), "lock decoding failed: %s",
		    v ? "not an object" : eb.msg);
		if (v)
			yajl_tree_free(v);
		return -1;
	}
	lim = json_obj_get_ci(v, "Limit");
	s->limit = lim && YAJL_IS_INTEGER(lim) ? YAJL_GET_INTEGER(lim) : 0;
	h = json_obj_get_ci(v, "Holders");
	if (h && YAJL_IS_OBJECT(h)) {
		s->holders = xcalloc(h->u.object.len + 1, sizeof(char *));
		for (i = 0; i < h->u.object.len; i++)
			s->holders[s->n++] = xstrdup(h->u.object.keys[i]);
	}
	yajl_tree_free(v);
	return 0;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *
sem_encode(const struct semlock *s)
{
	struct jw w;
	size_t i;

	qsort(s->holders, s->n, sizeof(char *), cmp_str);
	jw_init(&w, false);
	jw_obj_open(&w);
	jw_key(&w, "Limit");
	jw_int(&w, s->limit);
	jw_key(&w, "Holders");
	jw_obj_open(&w);
	for (i = 0; i < s->n; i++) {
		jw_key(&w, s->holders[i]);
		jw_bool(&w, true);
	}
	jw_obj_close(&w);
	jw_obj_close(&w);
	return jw_finish(&w, NULL);
}

static ssize_t
sem_find(const struct semlock *s, const char *sid)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (strcmp(s->holders[i], sid) == 0)
			return (ssize_t)i;
	return -1;
}

static void
sem_drop(struct semlock *s, size_t i)
{
	free(s->holders[i]);
	s->holders[i] = s->holders[--s->n];
}

/* sem_prune - drop holders whose contender key no longer holds a session */
static void
sem_prune(struct semlock *s, const struct kvp *p, size_t n)
{
	size_t i, k;

	for (i = 0; i < s->n;) {
		for (k = 0; k < n; k++)
			if (strcmp(p[k].session, s->holders[i]) == 0)
				break;
		if (k == n)
			sem_drop(s, i);
		else
			i++;
	}
}

static const struct kvp *
find_key(const struct kvp *p, size_t n, const char *key)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(p[i].key, key) == 0)
			return p + i;
	return NULL;
}

/* ------------------------------------------------------- acquisition */

/* give_up - -timeout: whether to give up now, and the longest next
 * wait */
static bool
give_up(int64_t start, int64_t timeout, int attempts, int64_t *wait)
{
	int64_t elapsed = proc_now_ms() - start;

	*wait = WAIT_MS;
	if (timeout <= 0 || attempts == 0)
		return false;
	if (elapsed > timeout)
		return true;
	*wait = timeout - elapsed;
	return false;
}

/* one round of an acquisition loop (a lock or a semaphore) */
struct round {
	int64_t start, timeout, wait;
	int attempts;
	uint64_t idx, index;
	struct kvp *p;
	size_t n;
};

/* acquire_round - give up (signal, -timeout), renew the session, then a
 * blocking read of path into r->p/n.  Returns 0 read, 1 given up, 2 try
 * again at once, -1 failed (l->err: "failed to read <what>: ...") */
static int
acquire_round(struct lk *l, const char *path, const char *what,
    struct round *r, struct buf *out)
{
	long status;
	int rc;

	kv_free(r->p, r->n);
	r->p = NULL;
	r->n = 0;
	proc_wake = 0;
	if (proc_sig || give_up(r->start, r->timeout, r->attempts, &r->wait))
		return 1;
	r->attempts++;
	if (renew(l) < 0)
		return -1;
	rc = read_key(l, path, r->idx, block_ms(l, r->wait), &status, out,
	    &r->index);
	if (rc == -2)
		return 2;
	if (rc == 0 && status != 200 && status != 404)
		bad_status(l, status, out);
	if (rc < 0 || (status != 200 && status != 404) ||
	    (status == 200 && kv_parse(out, &r->p, &r->n) < 0)) {
		char e[sizeof(l->err)];

		memcpy(e, l->err, sizeof(e));
		snprintf(l->err, sizeof(l->err), "failed to read %s: %.500s",
		    what, rc == 0 && status == 200 ? "bad reply" : e);
		return -1;
	}
	return 0;
}

/* lock_acquire - 1 held, 0 given up (signal or -timeout), -1 failed
 * (l->err) */
static int
lock_acquire(struct lk *l, int64_t timeout)
{
	struct buf out = BUF_INIT;
	struct round rd = {proc_now_ms(), timeout, 0, 0, 0, 0, NULL, 0};
	char path[2048];
	int r, ret = -1;
	long status;

	snprintf(path, sizeof(path), "/v1/kv/%s", l->key);
	for (;;) {
		r = acquire_round(l, path, "lock", &rd, &out);
		if (r == 1) {
			ret = 0;
			break;
		}
		if (r == 2)
			continue;
		if (r < 0)
			break;
		if (rd.n > 0 && rd.p[0].flags != LOCK_FLAG) {
			snprintf(l->err, sizeof(l->err),
			    "Existing key does not match lock use");
			break;
		}
		if (rd.n > 0 && strcmp(rd.p[0].session, l->sid) == 0) {
			ret = 1;
			break;
		}
		if (rd.n > 0 && rd.p[0].session[0] != '\0') {
			rd.idx = rd.index; /* held: wait for a change */
			continue;
		}
		snprintf(path, sizeof(path),
		    "/v1/kv/%s?acquire=%s&flags=%" PRIu64, l->key, l->sid,
		    (uint64_t)LOCK_FLAG);
		r = call(l, "PUT", path, "", 0, false, &status, &out, NULL);
		snprintf(path, sizeof(path), "/v1/kv/%s", l->key);
		if (r < 0 || status != 200) {
			char e[sizeof(l->err)];

			if (r == 0)
				bad_status(l, status, &out);
			memcpy(e, l->err, sizeof(e));
			snprintf(l->err, sizeof(l->err),
			    "failed to acquire lock: %.500s", e);
			break;
		}
		if (is_true(&out)) {
			ret = 1;
			break;
		}
		/* refused: someone else got it first (wait for a change), or
		 * the key is free but under lock-delay (retry later) */
		rd.idx = 0;
		r = read_key(l, path, 0, WAIT_MS, &status, &out, &rd.index);
		kv_free(rd.p, rd.n);
		rd.p = NULL;
		rd.n = 0;
		if (r == 0 && status == 200 &&
		    kv_parse(&out, &rd.p, &rd.n) == 0 && rd.n > 0 &&
		    rd.p[0].session[0] != '\0') {
			rd.idx = rd.index;
			continue;
		}
		rd.wait = RETRY_MS;
		if (rd.timeout > 0 &&
		    rd.timeout - (proc_now_ms() - rd.start) + 1 < rd.wait)
			rd.wait = rd.timeout - (proc_now_ms() - rd.start) + 1;
		if (rd.wait > 0 && pause_ms(l, rd.wait) < 0 && !proc_sig)
			break; /* the session is gone */
	}
	kv_free(rd.p, rd.n);
	buf_free(&out);
	return ret;
}

/* sem_acquire - a slot of the semaphore; like lock_acquire */
static int
sem_acquire(struct lk *l, int64_t timeout)
{
	struct buf out = BUF_INIT;
	struct round rd = {proc_now_ms(), timeout, 0, 0, 0, 0, NULL, 0};
	char path[2048];
	int r, ret = -1;
	long status;

	/* our contender key, held by our session */
	snprintf(path, sizeof(path), "/v1/kv/%s?acquire=%s&flags=%" PRIu64,
	    l->ckey, l->sid, (uint64_t)SEM_FLAG);
	r = call(l, "PUT", path, "", 0, false, &status, &out, NULL);
	if (r < 0 || status != 200 || !is_true(&out)) {
		char e[sizeof(l->err)];

		if (r == 0 && status != 200)
			bad_status(l, status, &out);
		memcpy(e, l->err, sizeof(e));
		snprintf(l->err, sizeof(l->err),
		    "failed to make contender entry: %.500s",
		    r == 0 && status == 200 ? "<nil>" : e);
		buf_free(&out);
		return -1;
	}
	snprintf(path, sizeof(path), "/v1/kv/%s?recurse", l->pfx);
	for (;;) {
		const struct kvp *lp;
		struct semlock s;
		char *body, put[2048];

		r = acquire_round(l, path, "prefix", &rd, &out);
		if (r == 1) {
			ret = 0;
			break;
		}
		if (r == 2)
			continue;
		if (r < 0)
			break;
		lp = find_key(rd.p, rd.n, l->rawkey);
		if (lp && lp->flags != SEM_FLAG) {
			snprintf(l->err, sizeof(l->err),
			    "Existing key does not match semaphore use");
			break;
		}
		if (sem_decode(l, lp, &s) < 0)
			break;
		if (s.limit != l->limit) {
			snprintf(l->err, sizeof(l->err),
			    "semaphore limit conflict (lock: %lld, local: %d)",
			    s.limit, l->limit);
			sem_free(&s);
			break;
		}
		sem_prune(&s, rd.p, rd.n);
		if ((long long)s.n >= s.limit) {
			rd.idx = rd.index; /* full: wait for a change */
			sem_free(&s);
			continue;
		}
		s.holders = xreallocarray(s.holders, s.n + 1, sizeof(char *));
		s.holders[s.n++] = xstrdup(l->sid);
		body = sem_encode(&s);
		sem_free(&s);
		snprintf(put, sizeof(put),
		    "/v1/kv/%s?cas=%" PRIu64 "&flags=%" PRIu64, l->key,
		    lp ? lp->modify : 0, (uint64_t)SEM_FLAG);
		r = call(l, "PUT", put, body, 0, false, &status, &out, NULL);
		free(body);
		if (r < 0 || status != 200) {
			char e[sizeof(l->err)];

			if (r == 0)
				bad_status(l, status, &out);
			memcpy(e, l->err, sizeof(e));
			snprintf(l->err, sizeof(l->err),
			    "failed to update lock: %.500s", e);
			break;
		}
		if (is_true(&out)) {
			ret = 1;
			break;
		}
		/* lost a race with another contender: read again */
	}
	kv_free(rd.p, rd.n);
	buf_free(&out);
	return ret;
}

/* ----------------------------------------------------------- holding */

/* still_held - from one read of the lock (n=1: the key; n>1: the
 * prefix), whether we hold it */
static bool
still_held(struct lk *l, long status, const struct buf *out)
{
	struct kvp *p;
	size_t n;
	bool held = false;

	if (status != 200 || kv_parse(out, &p, &n) < 0)
		return false;
	if (l->limit == 1) {
		held = n > 0 && strcmp(p[0].session, l->sid) == 0;
	} else {
		struct semlock s;

		if (sem_decode(l, find_key(p, n, l->rawkey), &s) == 0) {
			sem_prune(&s, p, n);
			held = sem_find(&s, l->sid) >= 0;
			sem_free(&s);
		}
	}
	kv_free(p, n);
	return held;
}

enum { END_CHILD, END_SIGNAL, END_LOST };

/* hold - run the child while the lock is ours; returns how it ended,
 * with the child's wait status (or -1 if it did not start) in *st */
static int
hold(struct lk *l, char **args, int nargs, bool shell, bool pass_stdin,
    int *st)
{
	struct buf out = BUF_INIT;
	char path[2048];
	uint64_t idx = 0, index;
	int retries = 0, r, end;
	long status;
	pid_t pid;

	*st = 0;
	info(l, "Starting handler");
	if (pass_stdin)
		info(l, "Stdin passed to handler process");
	if ((pid = proc_spawn(args, nargs, shell, pass_stdin ? -2 : -1,
		 "CONSUL_LOCK_HELD=true")) < 0) {
		*st = -1;
		return END_CHILD;
	}
	if (l->limit == 1)
		snprintf(path, sizeof(path), "/v1/kv/%s?consistent", l->key);
	else
		snprintf(path, sizeof(path), "/v1/kv/%s?recurse&consistent",
		    l->pfx);
	for (;;) {
		proc_wake = 0;
		proc_chld = 0;
		if (proc_reap(pid, st)) {
			end = END_CHILD;
			break;
		}
		if (proc_sig) {
			info(l, "Shutdown triggered, killing child");
			kill(pid, proc_sig); /* forwarded, as Consul does */
			*st = proc_stop(pid, KILL_GRACE_MS, l->verbose);
			end = END_SIGNAL;
			break;
		}
		if (renew(l) < 0)
			goto lost;
		r = read_key(l, path, idx, block_ms(l, 5 * 60 * 1000), &status,
		    &out, &index);
		if (r == -2)
			continue;
		if (r == -1 || (status != 200 && status != 404)) {
			if (r == 0)
				bad_status(l, status, &out);
			if (retries >= l->monitor_retry)
				goto lost;
			retries++;
			idx = 0;
			proc_sleep(MONITOR_RETRY_MS);
			continue;
		}
		retries = 0;
		if (!still_held(l, status, &out)) {
			l->err[0] = '\0';
			goto lost;
		}
		idx = index < idx ? 0 : index;
	}
	buf_free(&out);
	return end;
lost:
	fprintf(stderr, "Lock lost, killing child%s%s%s\n",
	    l->err[0] ? " (" : "", l->err, l->err[0] ? ")" : "");
	*st = proc_stop(pid, KILL_GRACE_MS, l->verbose);
	buf_free(&out);
	return END_LOST;
}

/* ------------------------------------------------ release and cleanup */

static int
lock_release(struct lk *l)
{
	struct buf out = BUF_INIT;
	char path[2048];
	long status;
	int r;

	snprintf(path, sizeof(path), "/v1/kv/%s?release=%s&flags=%" PRIu64,
	    l->key, l->sid, (uint64_t)LOCK_FLAG);
	r = call(l, "PUT", path, "", 0, false, &status, &out, NULL);
	if (r == 0 && status != 200) {
		bad_status(l, status, &out);
		r = -1;
	}
	buf_free(&out);
	return r;
}

/* sem_release - take us out of the holders (CAS, retried on races),
 * then delete our contender key */
static int
sem_release(struct lk *l)
{
	struct buf out = BUF_INIT;
	char path[2048];
	int tries, r = -1;
	long status;

	for (tries = 0;; tries++) {
		struct kvp *p = NULL;
		struct semlock s;
		size_t n = 0;
		ssize_t i;
		char *body;
		int c;

		if (tries == 20) {
			snprintf(l->err, sizeof(l->err),
			    "failed to update lock: too many races");
			goto out;
		}
		snprintf(path, sizeof(path), "/v1/kv/%s", l->key);
		if (call(l, "GET", path, NULL, 0, false, &status, &out,
			NULL) < 0)
			goto out;
		if ((status != 200 && status != 404) ||
		    (status == 200 && kv_parse(&out, &p, &n) < 0)) {
			bad_status(l, status, &out);
			goto out;
		}
		if (sem_decode(l, n > 0 ? p : NULL, &s) < 0) {
			kv_free(p, n);
			goto out;
		}
		if ((i = sem_find(&s, l->sid)) < 0) {
			sem_free(&s);
			kv_free(p, n);
			break;
		}
		sem_drop(&s, (size_t)i);
		body = sem_encode(&s);
		snprintf(path, sizeof(path),
		    "/v1/kv/%s?cas=%" PRIu64 "&flags=%" PRIu64, l->key,
		    n > 0 ? p[0].modify : 0, (uint64_t)SEM_FLAG);
		sem_free(&s);
		kv_free(p, n);
		c = call(l, "PUT", path, body, 0, false, &status, &out, NULL);
		free(body);
		if (c < 0)
			goto out;
		if (status != 200) {
			bad_status(l, status, &out);
			goto out;
		}
		if (is_true(&out))
			break;
		/* raced with another holder: read it again */
	}
	snprintf(path, sizeof(path), "/v1/kv/%s", l->ckey);
	if (call(l, "DELETE", path, NULL, 0, false, &status, &out, NULL) < 0)
		goto out;
	if (status != 200) {
		bad_status(l, status, &out);
		goto out;
	}
	r = 0;
out:
	buf_free(&out);
	return r;
}

/* cleanup - delete the coordination key if nobody uses it: 0 done, 1 in
 * use, -1 failed (l->err) */
static int
cleanup(struct lk *l)
{
	struct buf out = BUF_INIT;
	struct kvp *p = NULL;
	const struct kvp *lp;
	char path[2048];
	size_t n = 0;
	long status;
	int r = -1;

	if (l->limit == 1)
		snprintf(path, sizeof(path), "/v1/kv/%s", l->key);
	else
		snprintf(path, sizeof(path), "/v1/kv/%s?recurse", l->pfx);
	if (call(l, "GET", path, NULL, 0, false, &status, &out, NULL) < 0)
		goto out;
	if ((status != 200 && status != 404) ||
	    (status == 200 && kv_parse(&out, &p, &n) < 0)) {
		bad_status(l, status, &out);
		goto out;
	}
	if ((lp = find_key(p, n, l->rawkey)) == NULL) {
		r = 0;
		goto out;
	}
	if (lp->flags != (l->limit == 1 ? LOCK_FLAG : SEM_FLAG)) {
		snprintf(l->err, sizeof(l->err),
		    "Existing key does not match %s use",
		    l->limit == 1 ? "lock" : "semaphore");
		goto out;
	}
	if (l->limit == 1) {
		if (lp->session[0] != '\0') {
			r = 1;
			goto out;
		}
	} else {
		struct semlock s;
		size_t held;

		if (sem_decode(l, lp, &s) < 0)
			goto out;
		sem_prune(&s, p, n);
		held = s.n;
		sem_free(&s);
		if (held > 0) {
			r = 1;
			goto out;
		}
	}
	snprintf(path, sizeof(path), "/v1/kv/%s?cas=%" PRIu64, l->key,
	    lp->modify);
	if (call(l, "DELETE", path, NULL, 0, false, &status, &out, NULL) < 0)
		goto out;
	if (status != 200) {
		bad_status(l, status, &out);
		goto out;
	}
	r = is_true(&out) ? 0 : 1;
out:
	kv_free(p, n);
	buf_free(&out);
	return r;
}

/* ------------------------------------------------------------ command */

static int
parse_int(const char *flag, const char *v, long long *out)
{
	char *end;

	errno = 0;
	*out = strtoll(v, &end, 0);
	if (errno != 0 || end == v || *end != '\0') {
		fprintf(stderr, "invalid value \"%s\" for flag -%s: parse "
				"error\n",
		    v, flag);
		return -1;
	}
	return 0;
}

int
cmd_lock(int argc, char **argv)
{
	static const char *const bools[] = {"pass-stdin", "verbose",
	    "child-exit-code", NULL};
	static const char *const strs[] = {"n", "name", "try", "timeout",
	    "monitor-retry", NULL};
	static const char usage[] =
	    "Usage: cairn lock [options] prefix child...\n\n"
	    "  Acquires a lock or semaphore at a given path, and invokes a "
	    "child process\n  when successful.  The child can assume the "
	    "lock is held while it runs;\n  if the lock is lost or "
	    "communication is disrupted, the child gets SIGTERM\n  and, "
	    "5 seconds later, SIGKILL.  With -n=1 there is a single holder "
	    "(a lock);\n  a higher value makes it a semaphore with that "
	    "many holders.\n\n"
	    "  -child-exit-code    Exit 2 if the child exited with an "
	    "error.\n"
	    "  -monitor-retry=<n>  Errors tolerated while monitoring the "
	    "lock (3).\n"
	    "  -n=<n>              Number of lock holders (1).\n"
	    "  -name=<name>        Name of the lock's session.\n"
	    "  -pass-stdin         Pass stdin to the child.\n"
	    "  -shell=<bool>       Run the child under $SHELL -c (true).\n"
	    "  -timeout=<dur>      Give up acquiring after this long "
	    "(0: wait).\n"
	    "  -try=<dur>          Deprecated spelling of -timeout.\n"
	    "  -verbose            Verbose output.\n"
	    "  -http-addr=<addr>   The agent's HTTP address "
	    "(127.0.0.1:8500).\n";
	struct lk l;
	struct buf out = BUF_INIT;
	long long n = 1, mr = 3;
	int64_t timeout = 0;
	const char *tv;
	char *name = NULL;
	bool shell;
	int first, nargs, r, st = 0, end, ret = 1;
	char **args;

	memset(&l, 0, sizeof(l));
	if ((r = proc_parse(argc, argv, bools, strs, &l.o, usage, &shell,
		 &first)) != 0)
		return r;
	l.verbose = l.o.flag[1];
	if (l.o.sval[0] && parse_int("n", l.o.sval[0], &n) < 0)
		return 1;
	if (l.o.sval[4] && parse_int("monitor-retry", l.o.sval[4], &mr) < 0)
		return 1;
	tv = l.o.sval[3] ? l.o.sval[3] : l.o.sval[2];
	if (tv) {
		int64_t ns;

		if (jd_duration_parse(tv, &ns) < 0) {
			fprintf(stderr, "invalid value \"%s\" for flag -%s: "
					"parse error\n",
			    tv, l.o.sval[3] ? "timeout" : "try");
			return 1;
		}
		timeout = ns < 0 ? -1 : (ns + 999999) / 1000000;
	}
	if (n <= 0) {
		fprintf(stderr, "Lock holder limit must be positive\n");
		return 1;
	}
	if (n > 1000000) {
		fprintf(stderr, "Lock holder limit too large\n");
		return 1;
	}
	l.limit = (int)n;
	l.monitor_retry = mr > 1000000 ? 1000000 : (int)mr;
	nargs = argc - first;
	args = argv + first;
	if (nargs < 2) {
		fprintf(stderr, "Key prefix and child command must be "
				"specified\n");
		return 1;
	}
	if (timeout < 0) {
		fprintf(stderr, "Timeout must be positive\n");
		return 1;
	}
	if (mr < 0) {
		fprintf(stderr, "Number for 'monitor-retry' must be >= 0\n");
		return 1;
	}
	l.prefix = clean(args[0]);
	{
		char *raw = *l.prefix ? xasprintf("%s/", l.prefix)
				      : xstrdup("");

		l.rawkey = xasprintf("%s.lock", raw);
		l.key = cli_escape(l.rawkey, true);
		l.pfx = cli_escape(raw, true);
		free(raw);
	}
	if (strlen(l.key) > 1400) { /* the agent allows 474 bytes */
		fprintf(stderr, "Key prefix too long\n");
		goto out;
	}
	if (l.o.sval[1] && *l.o.sval[1]) {
		name = xstrdup(l.o.sval[1]);
	} else {
		struct buf b = BUF_INIT;
		int i;

		for (i = 1; i < nargs; i++) {
			if (i > 1)
				buf_put(&b, " ", 1);
			buf_put_str(&b, args[i]);
		}
		buf_put(&b, "", 1);
		name = xasprintf("Cairn lock for '%s' at '%s'",
		    (char *)b.data, l.prefix);
		buf_free(&b);
	}

	/* the agent must answer before anything is set up */
	if (cli_call(&l.o, "GET", "/v1/agent/self", NULL, 0, &out,
		"querying Cairn agent"))
		goto out;
	proc_signals(true);
	if (l.limit == 1)
		info(&l, "Setting up lock at path: %s", l.rawkey);
	else
		info(&l, "Setting up semaphore (limit %d) at prefix: %s",
		    l.limit, l.prefix);
	info(&l, "Attempting lock acquisition");
	if (session_create(&l, name) < 0) {
		fprintf(stderr, "Lock acquisition failed: %s\n", l.err);
		goto out;
	}
	if (l.limit > 1) {
		char *raw = *l.prefix ? xasprintf("%s/%s", l.prefix, l.sid)
				      : xstrdup(l.sid);

		l.ckey = cli_escape(raw, true);
		free(raw);
	}
	r = l.limit == 1 ? lock_acquire(&l, timeout) : sem_acquire(&l, timeout);
	if (r <= 0) {
		if (r == 0)
			fprintf(stderr, "Shutdown triggered or timeout during "
					"lock acquisition\n");
		else
			fprintf(stderr, "Lock acquisition failed: %s\n", l.err);
		if (l.limit > 1 && l.ckey) { /* our contender key */
			char path[2048];
			long status;

			snprintf(path, sizeof(path), "/v1/kv/%s", l.ckey);
			call(&l, "DELETE", path, NULL, 10000, false, &status,
			    &out, NULL);
		}
		session_destroy(&l);
		goto out;
	}
	if (proc_sig) {
		fprintf(stderr, "Shutdown triggered during lock acquisition\n");
		end = END_SIGNAL;
	} else {
		end = hold(&l, args + 1, nargs - 1, shell, l.o.flag[0], &st);
		if (end == END_CHILD) {
			if (st != 0) {
				char why[80];

				if (st != -1) {
					proc_status_text(st, why, sizeof(why));
					fprintf(stderr,
					    "Error running handler: %s\n", why);
				}
			}
			info(&l, "Child terminated, releasing lock");
		}
	}
	ret = 0;
	l.err[0] = '\0';
	if ((l.limit == 1 ? lock_release(&l) : sem_release(&l)) < 0 &&
	    end != END_LOST) {
		fprintf(stderr, "Lock release failed: %s\n", l.err);
		ret = 1;
	}
	session_destroy(&l);
	if (ret == 0) {
		r = cleanup(&l);
		if (r < 0) {
			fprintf(stderr, "Lock cleanup failed: %s\n", l.err);
			ret = 1;
		} else if (r == 1) {
			info(&l, "Cleanup aborted, lock in use");
		} else {
			info(&l, "Cleanup succeeded");
		}
	}
	if (end == END_LOST)
		ret = 1;
	else if (ret == 0 && l.o.flag[2] && end == END_CHILD && st != 0)
		ret = 2;
out:
	buf_free(&out);
	free(name);
	free(l.prefix);
	free(l.rawkey);
	free(l.key);
	free(l.pfx);
	free(l.ckey);
	return ret;
}
