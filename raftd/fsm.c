/* fsm.c - raftd's state machine on the store's state tables. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "buf.h"
#include "codec.h"
#include "fsm.h"
#include "pquery.h"
#include "log.h"
#include "xmalloc.h"

#define T_KV "kv"
#define T_INDEX "index"
#define T_DEDUP "dedup"
#define T_SESSIONS "sessions"
#define T_LOCKS "sesslocks" /* session id NUL key -> "" */
#define T_NODES "nodes"
#define T_CHECKS "checks" /* node NUL check id -> struct ipc_check */
#define T_SERVICES "services" /* node NUL service id -> ipc_service */
/* a snapshot being restored: "c" id NUL offset (u64 BE) -> bytes, and
 * "pending" -> the index (u64 BE) of the RESTORE entry whose state was
 * swapped in (set inside the installed file, cleared by that entry) */
#define T_RESTORE "restore"
#define T_QUERIES "queries" /* id -> struct ipc_pquery */
#define NAME_MAX_LEN 255   /* node names and check ids */

/* what one command is being applied with */
struct actx {
	struct store_txn *t;
	uint64_t index;
	struct fsm_effects *fx;
	struct ipc_raft_result *res;
	bool in_txn; /* results are collected */
};

static int queries_of_session_delete(struct actx *a, const char *sid);

void
fsm_encode_cmd(const struct ipc_raft_cmd *cmd, struct buf *b)
{
	cdc_encode(b, &ipc_raft_cmd_desc, cmd);
}

/* ------------------------------------------------------------ effects */

static void
fx_change(struct actx *a, const char *table, const char *key, bool prefix)
{
	struct fsm_effects *fx = a->fx;
	struct fsm_change *c;

	if (fx == NULL)
		return;
	if (fx->nchanges == fx->capchanges) {
		fx->capchanges = fx->capchanges ? 2 * fx->capchanges : 8;
		fx->changes = xreallocarray(fx->changes, fx->capchanges,
		    sizeof(*fx->changes));
	}
	c = &fx->changes[fx->nchanges++];
	c->table = table;
	c->key = xstrdup(key ? key : "");
	c->prefix = prefix;
	c->index = a->index;
}

static void
fx_session(struct actx *a, const char *id, uint64_t ttl_ms, bool alive,
    const char *key, uint64_t lock_delay)
{
	struct fsm_effects *fx = a->fx;
	struct fsm_session_ev *s;

	if (fx == NULL)
		return;
	if (fx->nsessions == fx->capsessions) {
		fx->capsessions = fx->capsessions ? 2 * fx->capsessions : 8;
		fx->sessions = xreallocarray(fx->sessions, fx->capsessions,
		    sizeof(*fx->sessions));
	}
	s = &fx->sessions[fx->nsessions++];
	s->id = xstrdup(id ? id : "");
	s->key = key ? xstrdup(key) : NULL;
	s->ttl_ms = ttl_ms;
	s->lock_delay = lock_delay;
	s->alive = alive;
}

static void
fx_truncate(struct fsm_effects *fx, size_t nchanges, size_t nsessions)
{
	if (fx == NULL)
		return;
	while (fx->nchanges > nchanges)
		free(fx->changes[--fx->nchanges].key);
	while (fx->nsessions > nsessions) {
		fx->nsessions--;
		free(fx->sessions[fx->nsessions].id);
		free(fx->sessions[fx->nsessions].key);
	}
}

void
fsm_effects_free(struct fsm_effects *fx)
{
	fx_truncate(fx, 0, 0);
	free(fx->changes);
	free(fx->sessions);
	memset(fx, 0, sizeof(*fx));
}

/* ------------------------------------------------------------- tables */

static int
bump_index(struct actx *a, const char *table)
{
	uint8_t v[8];

	be64_set(v, a->index);
	return store_state_put(a->t, T_INDEX, table, strlen(table), v,
	    sizeof(v));
}

static int
get_row(struct store_txn *t, const char *key, struct ipc_kv_row *row)
{
	const void *v;
	size_t vlen;
	int r;

	memset(row, 0, sizeof(*row));
	r = store_state_get(t, T_KV, key, strlen(key), &v, &vlen);
	if (r < 0)
		return r;
	if ((r = cdc_decode(&ipc_kv_row_desc, v, vlen, row, NULL)) < 0)
		return -EUCLEAN;
	return 0;
}

/* put_row - store row under key, bump the kv index, tell watchers */
static int
put_row(struct actx *a, const char *key, const struct ipc_kv_row *row)
{
	struct ipc_kv_row stored = *row;
	struct buf b = BUF_INIT;
	int r;

	stored.key = NULL; /* the table key holds it */
	cdc_encode(&b, &ipc_kv_row_desc, &stored);
	r = store_state_put(a->t, T_KV, key, strlen(key),
	    b.data ? b.data : (uint8_t *)"", b.len);
	buf_free(&b);
	if (r == 0)
		r = bump_index(a, T_KV);
	if (r == 0)
		fx_change(a, T_KV, key, false);
	return r;
}

static size_t
lock_key(char *out, const char *sid, const char *key)
{
	size_t sl = strlen(sid), kl = key ? strlen(key) : 0;

	memcpy(out, sid, sl);
	out[sl] = '\0';
	if (kl)
		memcpy(out + sl + 1, key, kl);
	return sl + 1 + kl;
}

static int
held_put(struct actx *a, const char *sid, const char *key)
{
	char k[FSM_SESSION_ID_MAX + 1 + FSM_KEY_MAX + 1];

	return store_state_put(a->t, T_LOCKS, k, lock_key(k, sid, key), "",
	    0);
}

static int
held_del(struct actx *a, const char *sid, const char *key)
{
	char k[FSM_SESSION_ID_MAX + 1 + FSM_KEY_MAX + 1];
	int r;

	r = store_state_del(a->t, T_LOCKS, k, lock_key(k, sid, key));
	return r == -ENOENT ? 0 : r;
}

/* del_row - delete key (row is its current content), dropping its lock */
static int
del_row(struct actx *a, const char *key, const struct ipc_kv_row *row)
{
	int r;

	if (row->session && (r = held_del(a, row->session, key)) < 0)
		return r;
	if ((r = store_state_del(a->t, T_KV, key, strlen(key))) < 0)
		return r;
	if ((r = bump_index(a, T_KV)) < 0)
		return r;
	fx_change(a, T_KV, key, false);
	return 0;
}

static int
get_session(struct store_txn *t, const char *id, struct ipc_session *s)
{
	const void *v;
	size_t vlen;
	int r;

	memset(s, 0, sizeof(*s));
	if (id == NULL || *id == '\0' || strlen(id) > FSM_SESSION_ID_MAX)
		return -ENOENT;
	if ((r = store_state_get(t, T_SESSIONS, id, strlen(id), &v, &vlen)) <
	    0)
		return r;
	if (cdc_decode(&ipc_session_desc, v, vlen, s, NULL) < 0)
		return -EUCLEAN;
	return 0;
}

static bool
key_ok(const char *key, bool lock)
{
	size_t n = key ? strlen(key) : 0;

	return n >= 1 && n <= (lock ? FSM_LOCK_KEY_MAX : FSM_KEY_MAX);
}

/* ------------------------------------------------------- KV operations */

/* Each returns 0 with *why set (RAFT_ERR_NONE: it took effect), or a store
 * error that fails the whole batch.  *out, when given, gets the row as
 * written (without its value). */

static void
row_meta(struct ipc_kv_row *out, const char *key, const struct ipc_kv_row *r)
{
	memset(out, 0, sizeof(*out));
	out->key = xstrdup(key);
	out->flags = r->flags;
	out->create_index = r->create_index;
	out->modify_index = r->modify_index;
	out->lock_index = r->lock_index;
	out->session = r->session ? xstrdup(r->session) : NULL;
	out->no_value = true;
}

/* kv_set - set (cas: only if ModifyIndex == cas; has_cas) */
static int
kv_set(struct actx *a, const char *key, struct cdc_bytes value,
    uint64_t flags, bool has_cas, uint64_t cas, uint32_t *why,
    struct ipc_kv_row *out)
{
	struct ipc_kv_row row, nr;
	int r, exists;

	*why = RAFT_ERR_NONE;
	if (!key_ok(key, false)) {
		*why = RAFT_ERR_INVALID;
		return 0;
	}
	r = get_row(a->t, key, &row);
	if (r < 0 && r != -ENOENT)
		return r;
	exists = r == 0;
	if (has_cas && ((cas == 0 && exists) ||
			   (cas != 0 && (!exists || row.modify_index != cas)))) {
		*why = RAFT_ERR_FAILED;
		cdc_free(&ipc_kv_row_desc, &row);
		return 0;
	}
	memset(&nr, 0, sizeof(nr));
	nr.value = value;
	nr.flags = flags;
	nr.create_index = exists ? row.create_index : a->index;
	nr.modify_index = a->index;
	nr.lock_index = exists ? row.lock_index : 0;
	nr.session = exists ? row.session : NULL; /* a plain set keeps a lock */
	r = put_row(a, key, &nr);
	if (r == 0 && out)
		row_meta(out, key, &nr);
	cdc_free(&ipc_kv_row_desc, &row);
	return r;
}

/* kv_lock - ?acquire: take (or keep) the lock for sid and write */
static int
kv_lock(struct actx *a, const char *key, struct cdc_bytes value,
    uint64_t flags, const char *sid, uint32_t *why, struct ipc_kv_row *out)
{
	struct ipc_kv_row row, nr;
	struct ipc_session s;
	int r, exists;

	*why = RAFT_ERR_NONE;
	if (!key_ok(key, true)) {
		*why = RAFT_ERR_INVALID;
		return 0;
	}
	r = get_session(a->t, sid, &s);
	cdc_free(&ipc_session_desc, &s);
	if (r == -ENOENT) {
		*why = RAFT_ERR_NO_SESSION;
		return 0;
	}
	if (r < 0)
		return r;
	r = get_row(a->t, key, &row);
	if (r < 0 && r != -ENOENT)
		return r;
	exists = r == 0;
	if (exists && row.session && strcmp(row.session, sid) != 0) {
		*why = RAFT_ERR_FAILED;
		cdc_free(&ipc_kv_row_desc, &row);
		return 0;
	}
	memset(&nr, 0, sizeof(nr));
	nr.value = value;
	nr.flags = flags;
	nr.create_index = exists ? row.create_index : a->index;
	nr.modify_index = a->index;
	nr.lock_index = exists ? row.lock_index : 0;
	if (!exists || row.session == NULL)
		nr.lock_index++; /* a new holder: the fencing token rises */
	nr.session = (char *)sid;
	r = put_row(a, key, &nr);
	if (r == 0 && (!exists || row.session == NULL))
		r = held_put(a, sid, key);
	if (r == 0 && out)
		row_meta(out, key, &nr);
	cdc_free(&ipc_kv_row_desc, &row);
	return r;
}

/* kv_unlock - ?release: the holder gives the lock up and writes */
static int
kv_unlock(struct actx *a, const char *key, struct cdc_bytes value,
    uint64_t flags, const char *sid, uint32_t *why, struct ipc_kv_row *out)
{
	struct ipc_kv_row row, nr;
	struct ipc_session s;
	int r;

	*why = RAFT_ERR_NONE;
	if (!key_ok(key, true)) {
		*why = RAFT_ERR_INVALID;
		return 0;
	}
	r = get_session(a->t, sid, &s);
	cdc_free(&ipc_session_desc, &s);
	if (r == -ENOENT) {
		*why = RAFT_ERR_NO_SESSION;
		return 0;
	}
	if (r < 0)
		return r;
	r = get_row(a->t, key, &row);
	if (r < 0 && r != -ENOENT)
		return r;
	if (r == -ENOENT || row.session == NULL ||
	    strcmp(row.session, sid) != 0) {
		*why = RAFT_ERR_FAILED;
		cdc_free(&ipc_kv_row_desc, &row);
		return 0;
	}
	memset(&nr, 0, sizeof(nr));
	nr.value = value;
	nr.flags = flags;
	nr.create_index = row.create_index;
	nr.modify_index = a->index;
	nr.lock_index = row.lock_index;
	r = put_row(a, key, &nr);
	if (r == 0)
		r = held_del(a, sid, key);
	if (r == 0 && out)
		row_meta(out, key, &nr);
	cdc_free(&ipc_kv_row_desc, &row);
	return r;
}

/* kv_delete - delete key (cas: only if ModifyIndex == cas) */
static int
kv_delete(struct actx *a, const char *key, bool has_cas, uint64_t cas,
    uint32_t *why)
{
	struct ipc_kv_row row;
	int r;

	*why = RAFT_ERR_NONE;
	if (!key_ok(key, false)) {
		*why = RAFT_ERR_INVALID;
		return 0;
	}
	r = get_row(a->t, key, &row);
	if (r < 0 && r != -ENOENT)
		return r;
	if (has_cas && r == -ENOENT)
		return 0; /* nothing to delete: true, as Consul answers */
	if (has_cas && row.modify_index != cas) {
		*why = RAFT_ERR_FAILED;
		cdc_free(&ipc_kv_row_desc, &row);
		return 0;
	}
	if (r == 0)
		r = del_row(a, key, &row);
	else
		r = bump_index(a, T_KV); /* Consul moves the index anyway */
	cdc_free(&ipc_kv_row_desc, &row);
	return r;
}

struct rows_ctx {
	struct cdc_list *rows;
	bool values;
	int err;
};

static int
collect_row(void *arg, const void *k, size_t klen, const void *v, size_t vlen)
{
	struct rows_ctx *c = arg;
	struct ipc_kv_row *row;

	c->rows->v = xreallocarray(c->rows->v, c->rows->n + 1, sizeof(*row));
	row = (struct ipc_kv_row *)c->rows->v + c->rows->n;
	memset(row, 0, sizeof(*row));
	if (cdc_decode(&ipc_kv_row_desc, v, vlen, row, NULL) < 0) {
		c->err = -EUCLEAN;
		return 1;
	}
	free(row->key);
	row->key = xstrndup(k, klen);
	if (!c->values) {
		free(row->value.p);
		row->value.p = NULL;
		row->value.n = 0;
	}
	c->rows->n++;
	return 0;
}

static void
rows_free(struct cdc_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		cdc_free(&ipc_kv_row_desc, (struct ipc_kv_row *)l->v + i);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* kv_delete_tree - delete every key starting with prefix */
static int
kv_delete_tree(struct actx *a, const char *prefix)
{
	struct cdc_list rows = {NULL, 0};
	struct rows_ctx c = {&rows, false, 0};
	size_t i;
	int r;

	r = store_state_iterate(a->t, T_KV, prefix, strlen(prefix),
	    collect_row, &c);
	if (r >= 0 && c.err)
		r = c.err;
	for (i = 0; r >= 0 && i < rows.n; i++) {
		struct ipc_kv_row *row = (struct ipc_kv_row *)rows.v + i;

		if (row->session)
			r = held_del(a, row->session, row->key);
		if (r >= 0)
			r = store_state_del(a->t, T_KV, row->key,
			    strlen(row->key));
	}
	rows_free(&rows);
	if (r >= 0)
		r = bump_index(a, T_KV);
	if (r >= 0)
		fx_change(a, T_KV, prefix, true);
	return r < 0 ? r : 0;
}

/* ------------------------------------------------------------ sessions */

static void
txn_error(struct ipc_raft_result *res, size_t i, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static size_t
check_key(char *out, const char *node, const char *check_id)
{
	size_t nl = strlen(node), cl = check_id ? strlen(check_id) : 0;

	memcpy(out, node, nl);
	out[nl] = '\0';
	if (cl)
		memcpy(out + nl + 1, check_id, cl);
	return nl + 1 + cl;
}

static bool
name_ok(const char *s)
{
	return s != NULL && *s != '\0' && strlen(s) <= NAME_MAX_LEN;
}

/* get_of_node - the row (node, id) of a per-node table, decoded */
static int
get_of_node(struct store_txn *t, const char *table, const char *node,
    const char *id, const struct cdc_msg_desc *d, void *out)
{
	char k[2 * NAME_MAX_LEN + 2];
	const void *v;
	size_t vlen;
	int r;

	memset(out, 0, d->size);
	if (!name_ok(node) || !name_ok(id))
		return -ENOENT;
	r = store_state_get(t, table, k, check_key(k, node, id), &v, &vlen);
	if (r < 0)
		return r;
	return cdc_decode(d, v, vlen, out, NULL) < 0 ? -EUCLEAN : 0;
}

static int
get_check(struct store_txn *t, const char *node, const char *check_id,
    struct ipc_check *c)
{
	return get_of_node(t, T_CHECKS, node, check_id, &ipc_check_desc, c);
}

/* session_checks_ok - Consul refuses a session on an unknown node or
 * with a bound check that is missing or critical */
static int
session_checks_ok(struct actx *a, const struct ipc_session *s, uint32_t *why)
{
	const void *v;
	size_t vlen, i;
	int r;

	if (!name_ok(s->node) ||
	    (r = store_state_get(a->t, T_NODES, s->node, strlen(s->node), &v,
		 &vlen)) == -ENOENT) {
		*why = RAFT_ERR_NO_NODE;
		txn_error(a->res, 0, "Missing node registration");
		return 0;
	}
	if (r < 0)
		return r;
	for (i = 0; i < s->node_checks.n; i++) {
		struct ipc_check c;

		r = get_check(a->t, s->node, s->node_checks.v[i], &c);
		if (r == -ENOENT) {
			*why = RAFT_ERR_CHECK_CRITICAL;
			txn_error(a->res, 0, "Missing check '%s' registration",
			    s->node_checks.v[i]);
			return 0;
		}
		if (r < 0)
			return r;
		if (c.status && strcmp(c.status, "critical") == 0) {
			*why = RAFT_ERR_CHECK_CRITICAL;
			txn_error(a->res, 0, "Check '%s' is in critical state",
			    s->node_checks.v[i]);
		}
		cdc_free(&ipc_check_desc, &c);
		if (*why != RAFT_ERR_NONE)
			return 0;
	}
	return 0;
}

static int
session_create(struct actx *a, const struct ipc_session *in, uint32_t *why)
{
	struct ipc_session s, old;
	struct buf b = BUF_INIT;
	int r;

	*why = RAFT_ERR_NONE;
	if (in->id == NULL || *in->id == '\0' ||
	    strlen(in->id) > FSM_SESSION_ID_MAX) {
		*why = RAFT_ERR_INVALID;
		return 0;
	}
	r = get_session(a->t, in->id, &old);
	cdc_free(&ipc_session_desc, &old);
	if (r == 0) {
		*why = RAFT_ERR_INVALID; /* ids are never reused */
		return 0;
	}
	if (r != -ENOENT)
		return r;
	if ((r = session_checks_ok(a, in, why)) < 0 || *why != RAFT_ERR_NONE)
		return r;
	s = *in;
	s.create_index = a->index;
	s.modify_index = a->index;
	cdc_encode(&b, &ipc_session_desc, &s);
	r = store_state_put(a->t, T_SESSIONS, s.id, strlen(s.id), b.data,
	    b.len);
	buf_free(&b);
	if (r == 0)
		r = bump_index(a, T_SESSIONS);
	if (r == 0) {
		fx_change(a, T_SESSIONS, s.id, false);
		fx_session(a, s.id, s.ttl_ms, true, NULL, 0);
	}
	return r;
}

struct held_ctx {
	char **keys;
	size_t n;
};

static int
collect_held(void *arg, const void *k, size_t klen, const void *v,
    size_t vlen)
{
	struct held_ctx *c = arg;
	const char *z = memchr(k, '\0', klen);

	(void)v;
	(void)vlen;
	if (z == NULL)
		return 0;
	c->keys = xreallocarray(c->keys, c->n + 1, sizeof(*c->keys));
	c->keys[c->n++] = xstrndup(z + 1, klen - (size_t)(z + 1 - (const char *)k));
	return 0;
}

/* session_destroy - invalidate sid: its locks are released (or their keys
 * deleted, Behavior "delete"), each under lock-delay, and it is gone */
static int
session_destroy(struct actx *a, const char *sid)
{
	struct ipc_session s;
	struct held_ctx hc = {NULL, 0};
	char pfx[FSM_SESSION_ID_MAX + 1];
	size_t i, plen;
	bool del;
	int r;

	r = get_session(a->t, sid, &s);
	if (r == -ENOENT)
		return 0; /* destroying nothing succeeds */
	if (r < 0)
		return r;
	del = s.behavior && strcmp(s.behavior, "delete") == 0;
	plen = lock_key(pfx, sid, NULL);
	r = store_state_iterate(a->t, T_LOCKS, pfx, plen, collect_held, &hc);
	for (i = 0; r >= 0 && i < hc.n; i++) {
		struct ipc_kv_row row;

		r = get_row(a->t, hc.keys[i], &row);
		if (r == -ENOENT) {
			r = held_del(a, sid, hc.keys[i]);
			continue;
		}
		if (r == 0 && row.session && strcmp(row.session, sid) == 0) {
			if (del) {
				r = del_row(a, hc.keys[i], &row);
			} else {
				free(row.session);
				row.session = NULL;
				row.modify_index = a->index;
				r = put_row(a, hc.keys[i], &row);
				if (r == 0)
					r = held_del(a, sid, hc.keys[i]);
			}
			if (r == 0 && s.lock_delay > 0)
				fx_session(a, sid, 0, false, hc.keys[i],
				    s.lock_delay);
		} else if (r == 0) {
			r = held_del(a, sid, hc.keys[i]);
		}
		cdc_free(&ipc_kv_row_desc, &row);
	}
	for (i = 0; i < hc.n; i++)
		free(hc.keys[i]);
	free(hc.keys);
	if (r >= 0)
		r = store_state_del(a->t, T_SESSIONS, sid, strlen(sid));
	if (r >= 0)
		r = queries_of_session_delete(a, sid);
	if (r >= 0)
		r = bump_index(a, T_SESSIONS);
	if (r >= 0) {
		fx_change(a, T_SESSIONS, sid, false);
		fx_session(a, sid, 0, false, NULL, 0);
	}
	cdc_free(&ipc_session_desc, &s);
	return r < 0 ? r : 0;
}

/* ------------------------------------------------------------- catalog */

struct sess_ids {
	char **ids;
	size_t n;
	const char *node, *check_id;
};

static int
collect_sessions(void *arg, const void *k, size_t klen, const void *v,
    size_t vlen)
{
	struct sess_ids *c = arg;
	struct ipc_session s;
	size_t i;
	bool hit = false;

	(void)k;
	(void)klen;
	memset(&s, 0, sizeof(s));
	if (cdc_decode(&ipc_session_desc, v, vlen, &s, NULL) < 0)
		return 0;
	if (s.node && strcmp(s.node, c->node) == 0) {
		if (c->check_id == NULL)
			hit = true;
		for (i = 0; !hit && i < s.node_checks.n; i++)
			hit = strcmp(s.node_checks.v[i], c->check_id) == 0;
	}
	if (hit) {
		c->ids = xreallocarray(c->ids, c->n + 1, sizeof(char *));
		c->ids[c->n++] = xstrdup(s.id);
	}
	cdc_free(&ipc_session_desc, &s);
	return 0;
}

/* invalidate - destroy the sessions of node (bound to check_id, or all) */
static int
invalidate(struct actx *a, const char *node, const char *check_id)
{
	struct sess_ids c = {NULL, 0, node, check_id};
	size_t i;
	int r;

	r = store_state_iterate(a->t, T_SESSIONS, "", 0, collect_sessions, &c);
	for (i = 0; r >= 0 && i < c.n; i++)
		r = session_destroy(a, c.ids[i]);
	for (i = 0; i < c.n; i++)
		free(c.ids[i]);
	free(c.ids);
	return r < 0 ? r : 0;
}

static bool
strlist_eq(const struct cdc_strlist *x, const struct cdc_strlist *y)
{
	size_t i;

	if (x->n != y->n)
		return false;
	for (i = 0; i < x->n; i++)
		if (strcmp(x->v[i], y->v[i]) != 0)
			return false;
	return true;
}

static bool
str_eq(const char *x, const char *y)
{
	return strcmp(x ? x : "", y ? y : "") == 0;
}

static int
put_enc(struct actx *a, const char *table, const void *k, size_t klen,
    const struct cdc_msg_desc *d, const void *msg)
{
	struct buf b = BUF_INIT;
	int r;

	cdc_encode(&b, d, msg);
	r = store_state_put(a->t, table, k, klen, b.data ? b.data : (uint8_t *)"",
	    b.len);
	buf_free(&b);
	return r;
}

static int
get_service(struct store_txn *t, const char *node, const char *id,
    struct ipc_service *out)
{
	return get_of_node(t, T_SERVICES, node, id, &ipc_service_desc, out);
}

/* upsert_service - register a service instance on node (its ID defaults
 * to its name); unchanged, nothing is written */
static int
upsert_service(struct actx *a, const char *node, const struct ipc_service *in,
    uint32_t *why)
{
	struct ipc_service old, ns;
	char k[2 * NAME_MAX_LEN + 2];
	const char *id = in->id && *in->id ? in->id : in->service;
	int r;

	if (!name_ok(id) || !name_ok(in->service)) {
		*why = RAFT_ERR_INVALID;
		txn_error(a->res, 0, "Invalid service registration");
		return 0;
	}
	r = get_service(a->t, node, id, &old);
	if (r < 0 && r != -ENOENT)
		return r;
	if (r == 0 && str_eq(old.service, in->service) &&
	    strlist_eq(&old.tags, &in->tags) &&
	    str_eq(old.address, in->address) && old.port == in->port &&
	    strlist_eq(&old.meta, &in->meta) &&
	    strlist_eq(&old.tagged_addresses, &in->tagged_addresses) &&
	    old.enable_tag_override == in->enable_tag_override &&
	    old.weight_passing == in->weight_passing &&
	    old.weight_warning == in->weight_warning &&
	    str_eq(old.kind, in->kind)) {
		cdc_free(&ipc_service_desc, &old);
		return 0;
	}
	ns = *in;
	ns.node = (char *)node;
	ns.id = (char *)id;
	ns.create_index = r == 0 ? old.create_index : a->index;
	ns.modify_index = a->index;
	r = put_enc(a, T_SERVICES, k, check_key(k, node, id), &ipc_service_desc,
	    &ns);
	cdc_free(&ipc_service_desc, &old);
	if (r == 0)
		r = bump_index(a, T_SERVICES);
	if (r == 0)
		fx_change(a, T_SERVICES, in->service, false);
	return r;
}

/* upsert_check - register a check on node (a service's when ServiceID is
 * set: it must exist, and lends its name and tags); a check going
 * critical invalidates the sessions bound to it */
static int
upsert_check(struct actx *a, const char *node, const struct ipc_check *ic,
    uint32_t *why)
{
	struct ipc_check oc, nc;
	struct ipc_service svc;
	char k[2 * NAME_MAX_LEN + 2];
	const char *status = ic->status && *ic->status ? ic->status
						       : "critical";
	bool was_critical;
	int r;

	if (!name_ok(ic->check_id)) {
		*why = RAFT_ERR_INVALID;
		txn_error(a->res, 0, "Invalid check registration");
		return 0;
	}
	if (strcmp(status, "passing") != 0 && strcmp(status, "warning") != 0 &&
	    strcmp(status, "critical") != 0) {
		*why = RAFT_ERR_INVALID;
		txn_error(a->res, 0, "Invalid check status '%.40s'", status);
		return 0;
	}
	memset(&svc, 0, sizeof(svc));
	if (ic->service_id && *ic->service_id) {
		r = get_service(a->t, node, ic->service_id, &svc);
		if (r == -ENOENT) {
			*why = RAFT_ERR_INVALID;
			txn_error(a->res, 0,
			    "Unknown service ID '%.100s' for check ID '%.100s'",
			    ic->service_id, ic->check_id);
			return 0;
		}
		if (r < 0)
			return r;
	}
	r = get_check(a->t, node, ic->check_id, &oc);
	if (r < 0 && r != -ENOENT) {
		cdc_free(&ipc_service_desc, &svc);
		return r;
	}
	was_critical = r == 0 && str_eq(oc.status, "critical");
	if (r == 0 && str_eq(oc.status, status) && str_eq(oc.name, ic->name) &&
	    str_eq(oc.output, ic->output) && str_eq(oc.notes, ic->notes) &&
	    str_eq(oc.service_id, ic->service_id) &&
	    str_eq(oc.service_name, svc.service) &&
	    strlist_eq(&oc.service_tags, &svc.tags) &&
	    str_eq(oc.type, ic->type)) {
		cdc_free(&ipc_check_desc, &oc);
		cdc_free(&ipc_service_desc, &svc);
		return 0; /* nothing new */
	}
	nc = *ic;
	nc.node = (char *)node;
	nc.status = (char *)status;
	nc.service_name = svc.service;
	nc.service_tags = svc.tags;
	nc.create_index = r == 0 ? oc.create_index : a->index;
	nc.modify_index = a->index;
	r = put_enc(a, T_CHECKS, k, check_key(k, node, ic->check_id),
	    &ipc_check_desc, &nc);
	cdc_free(&ipc_check_desc, &oc);
	cdc_free(&ipc_service_desc, &svc);
	if (r == 0)
		r = bump_index(a, T_CHECKS);
	if (r == 0)
		fx_change(a, T_CHECKS, node, false);
	if (r == 0 && strcmp(status, "critical") == 0 && !was_critical)
		r = invalidate(a, node, ic->check_id);
	return r;
}

static int
catalog_register(struct actx *a, const struct ipc_raft_cmd *c, uint32_t *why)
{
	const struct ipc_node *in = &c->cnode;
	struct ipc_node old, nn;
	const void *v;
	size_t vlen;
	int r;

	*why = RAFT_ERR_NONE;
	if (!name_ok(in->node)) {
		*why = RAFT_ERR_INVALID;
		return 0;
	}
	memset(&old, 0, sizeof(old));
	r = store_state_get(a->t, T_NODES, in->node, strlen(in->node), &v,
	    &vlen);
	if (r < 0 && r != -ENOENT)
		return r;
	if (r == 0 && cdc_decode(&ipc_node_desc, v, vlen, &old, NULL) < 0)
		return -EUCLEAN;
	if (r == 0 && c->skip_node_update) {
		r = 0; /* keep the node as it is */
	} else if (r == -ENOENT || !str_eq(old.id, in->id) ||
	    !str_eq(old.address, in->address) ||
	    !str_eq(old.datacenter, in->datacenter) ||
	    !strlist_eq(&old.meta, &in->meta) ||
	    !strlist_eq(&old.tagged_addresses, &in->tagged_addresses)) {
		nn = *in;
		nn.create_index = r == 0 ? old.create_index : a->index;
		nn.modify_index = a->index;
		r = put_enc(a, T_NODES, in->node, strlen(in->node),
		    &ipc_node_desc, &nn);
		if (r == 0)
			r = bump_index(a, T_NODES);
		if (r == 0)
			fx_change(a, T_NODES, in->node, false);
	} else {
		r = 0;
	}
	cdc_free(&ipc_node_desc, &old);
	if (r < 0)
		return r;
	if (c->csvc.service != NULL && *c->csvc.service != '\0' &&
	    ((r = upsert_service(a, in->node, &c->csvc, why)) < 0 ||
		*why != RAFT_ERR_NONE))
		return r;
	if (c->ccheck.check_id != NULL && *c->ccheck.check_id != '\0' &&
	    ((r = upsert_check(a, in->node, &c->ccheck, why)) < 0 ||
		*why != RAFT_ERR_NONE))
		return r;
	for (size_t i = 0; i < c->cchecks.n; i++) {
		const struct ipc_check *ic =
		    (const struct ipc_check *)c->cchecks.v + i;

		if ((r = upsert_check(a, in->node, ic, why)) < 0 ||
		    *why != RAFT_ERR_NONE)
			return r;
	}
	return 0;
}

static int
collect_check_keys(void *arg, const void *k, size_t klen, const void *v,
    size_t vlen)
{
	struct held_ctx *c = arg;

	(void)v;
	(void)vlen;
	c->keys = xreallocarray(c->keys, c->n + 1, sizeof(*c->keys));
	c->keys[c->n] = xmalloc(klen + 1);
	memcpy(c->keys[c->n], k, klen);
	c->keys[c->n][klen] = '\0'; /* node NUL id: node string + id after */
	c->n++;
	return 0;
}

struct svc_ctx {
	struct ipc_catalog_reply *rep;
	int err;
};

static int
add_svc(void *arg, const void *k, size_t klen, const void *v, size_t vlen)
{
	struct svc_ctx *c = arg;
	struct cdc_list *l = &c->rep->services;
	struct ipc_service *e;

	(void)k;
	(void)klen;
	l->v = xreallocarray(l->v, l->n + 1, sizeof(*e));
	e = (struct ipc_service *)l->v + l->n;
	memset(e, 0, sizeof(*e));
	if (cdc_decode(&ipc_service_desc, v, vlen, e, NULL) < 0) {
		c->err = -EUCLEAN;
		return 1;
	}
	l->n++;
	return 0;
}

/* node_services - the services of node, as the transaction sees them */
static int
node_services(struct actx *a, const char *node, struct ipc_catalog_reply *out)
{
	struct svc_ctx c = {out, 0};
	char k[2 * NAME_MAX_LEN + 2];
	int r;

	r = store_state_iterate(a->t, T_SERVICES, k, check_key(k, node, NULL),
	    add_svc, &c);
	if (r >= 0 && c.err)
		r = c.err;
	return r < 0 ? r : 0;
}

struct chk_ctx {
	struct cdc_list l;
	int err;
};

static int
add_chk(void *arg, const void *k, size_t klen, const void *v, size_t vlen)
{
	struct chk_ctx *c = arg;
	struct ipc_check *e;

	(void)k;
	(void)klen;
	c->l.v = xreallocarray(c->l.v, c->l.n + 1, sizeof(*e));
	e = (struct ipc_check *)c->l.v + c->l.n;
	memset(e, 0, sizeof(*e));
	if (cdc_decode(&ipc_check_desc, v, vlen, e, NULL) < 0) {
		c->err = -EUCLEAN;
		return 1;
	}
	c->l.n++;
	return 0;
}

/* deregister_service - a service instance and its checks */
static int
deregister_service(struct actx *a, const char *node, const char *id,
    uint32_t *why)
{
	struct ipc_service sv;
	struct chk_ctx cc = {{NULL, 0}, 0};
	char k[2 * NAME_MAX_LEN + 2];
	size_t i;
	int r;

	(void)why;
	r = get_service(a->t, node, id, &sv);
	if (r == -ENOENT)
		return 0; /* nothing to do: true, as Consul */
	if (r < 0)
		return r;
	r = store_state_iterate(a->t, T_CHECKS, k, check_key(k, node, NULL),
	    add_chk, &cc);
	if (r >= 0 && cc.err)
		r = cc.err;
	for (i = 0; r >= 0 && i < cc.l.n; i++) {
		const struct ipc_check *ch = (struct ipc_check *)cc.l.v + i;

		if (!str_eq(ch->service_id, id))
			continue;
		r = store_state_del(a->t, T_CHECKS, k,
		    check_key(k, node, ch->check_id));
		if (r >= 0)
			r = invalidate(a, node, ch->check_id);
	}
	for (i = 0; i < cc.l.n; i++)
		cdc_free(&ipc_check_desc, (struct ipc_check *)cc.l.v + i);
	free(cc.l.v);
	if (r >= 0)
		r = store_state_del(a->t, T_SERVICES, k, check_key(k, node, id));
	if (r >= 0)
		r = bump_index(a, T_SERVICES);
	if (r >= 0)
		r = bump_index(a, T_CHECKS);
	if (r >= 0) {
		fx_change(a, T_SERVICES, sv.service, false);
		fx_change(a, T_CHECKS, node, false);
	}
	cdc_free(&ipc_service_desc, &sv);
	return r < 0 ? r : 0;
}

static int
catalog_deregister(struct actx *a, const struct ipc_raft_cmd *c,
    uint32_t *why)
{
	const char *node = c->key, *cid = c->ccheck.check_id;
	struct held_ctx hc = {NULL, 0};
	char k[2 * NAME_MAX_LEN + 2];
	size_t i, plen;
	int r;

	*why = RAFT_ERR_NONE;
	if (!name_ok(node) || (cid && *cid && !name_ok(cid))) {
		*why = RAFT_ERR_INVALID;
		return 0;
	}
	if (cid && *cid) {
		r = store_state_del(a->t, T_CHECKS, k, check_key(k, node, cid));
		if (r == -ENOENT)
			return 0;
		if (r == 0)
			r = bump_index(a, T_CHECKS);
		if (r == 0) {
			fx_change(a, T_CHECKS, node, false);
			r = invalidate(a, node, cid);
		}
		return r;
	}
	if (c->csvc.id && *c->csvc.id)
		return deregister_service(a, node, c->csvc.id, why);
	/* the whole node: its services, checks, sessions, the node */
	{
		struct ipc_catalog_reply svcs;
		size_t j;

		memset(&svcs, 0, sizeof(svcs));
		r = node_services(a, node, &svcs);
		for (j = 0; r >= 0 && j < svcs.services.n; j++) {
			const struct ipc_service *sv =
			    (struct ipc_service *)svcs.services.v + j;

			r = deregister_service(a, node, sv->id, why);
		}
		cdc_free(&ipc_catalog_reply_desc, &svcs);
		if (r < 0)
			return r;
	}
	plen = check_key(k, node, NULL);
	r = store_state_iterate(a->t, T_CHECKS, k, plen, collect_check_keys,
	    &hc);
	for (i = 0; r >= 0 && i < hc.n; i++) {
		size_t kl = strlen(node) + 1 + strlen(hc.keys[i] + strlen(node) + 1);

		r = store_state_del(a->t, T_CHECKS, hc.keys[i], kl);
	}
	for (i = 0; i < hc.n; i++)
		free(hc.keys[i]);
	free(hc.keys);
	if (r >= 0)
		r = invalidate(a, node, NULL);
	if (r >= 0) {
		r = store_state_del(a->t, T_NODES, node, strlen(node));
		if (r == -ENOENT)
			r = 0;
	}
	if (r >= 0)
		r = bump_index(a, T_NODES);
	if (r >= 0)
		r = bump_index(a, T_CHECKS);
	if (r >= 0) {
		fx_change(a, T_NODES, node, false);
		fx_change(a, T_CHECKS, node, false);
	}
	return r < 0 ? r : 0;
}

/* ---------------------------------------------------------- transactions */

static void
txn_error(struct ipc_raft_result *res, size_t i, const char *fmt, ...)
{
	struct ipc_txn_error *e;
	char msg[1200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	res->errors.v = xreallocarray(res->errors.v, res->errors.n + 1,
	    sizeof(*e));
	e = (struct ipc_txn_error *)res->errors.v + res->errors.n++;
	e->op_index = (uint32_t)i;
	e->what = xstrdup(msg);
}

static struct ipc_kv_row *
result_row(struct ipc_raft_result *res)
{
	struct ipc_kv_row *row;

	res->rows.v = xreallocarray(res->rows.v, res->rows.n + 1,
	    sizeof(*row));
	row = (struct ipc_kv_row *)res->rows.v + res->rows.n++;
	memset(row, 0, sizeof(*row));
	return row;
}

/* where a transaction's reads come from: the apply's write transaction,
 * or a read transaction (read-only transactions, served like reads) */
struct src {
	struct store_txn *t;
	struct store_read *rd;
};

static int
src_get_row(const struct src *s, const char *key, struct ipc_kv_row *row)
{
	const void *v;
	size_t vlen;
	int r;

	if (s->t != NULL)
		return get_row(s->t, key, row);
	memset(row, 0, sizeof(*row));
	r = store_state_read_get(s->rd, T_KV, key, strlen(key), &v, &vlen);
	if (r < 0)
		return r;
	return cdc_decode(&ipc_kv_row_desc, v, vlen, row, NULL) < 0 ? -EUCLEAN
								 : 0;
}

static bool
txn_read_verb(const char *v)
{
	return strcmp(v, "get") == 0 || strcmp(v, "get-or-empty") == 0 ||
	       strcmp(v, "get-tree") == 0 || strcmp(v, "check-index") == 0 ||
	       strcmp(v, "check-session") == 0 ||
	       strcmp(v, "check-not-exists") == 0;
}

/* txn_read_op - a read verb; errors go to res->errors */
static int
txn_read_op(const struct src *s, size_t i, const struct ipc_txn_op *op,
    struct ipc_raft_result *res)
{
	const char *v = op->verb ? op->verb : "", *key = op->key ? op->key : "";
	struct ipc_kv_row row;
	int r;

	if (strcmp(v, "get-tree") == 0) {
		struct rows_ctx c = {&res->rows, true, 0};

		r = s->t != NULL ? store_state_iterate(s->t, T_KV, key,
				       strlen(key), collect_row, &c)
				 : store_state_read_iterate(s->rd, T_KV, key,
				       strlen(key), collect_row, &c);
		if (r >= 0 && c.err)
			r = c.err;
		return r > 0 ? 0 : r;
	}
	r = src_get_row(s, key, &row);
	if (r < 0 && r != -ENOENT)
		return r;
	if (strcmp(v, "check-not-exists") == 0) {
		if (r == 0)
			txn_error(res, i, "key \"%s\" exists", key);
	} else if (r == -ENOENT && strcmp(v, "get-or-empty") != 0) {
		txn_error(res, i, "key \"%s\" doesn't exist", key);
	} else if (strcmp(v, "check-index") == 0 &&
		   row.modify_index != op->index) {
		txn_error(res, i,
		    "current modify index %" PRIu64 " != %" PRIu64
		    " for key \"%s\"",
		    row.modify_index, op->index, key);
	} else if (strcmp(v, "check-session") == 0 &&
		   strcmp(row.session ? row.session : "",
		       op->session ? op->session : "") != 0) {
		txn_error(res, i,
		    "failed session check for key \"%s\", current "
		    "session \"%s\" != \"%s\"",
		    key, row.session ? row.session : "",
		    op->session ? op->session : "");
	} else if (r == 0) {
		struct ipc_kv_row *out = result_row(res);

		*out = row;
		out->key = xstrdup(key);
		memset(&row, 0, sizeof(row));
		if (strncmp(v, "check-", 6) == 0) {
			/* Consul keeps the value for gets only */
			free(out->value.p);
			out->value.p = NULL;
			out->value.n = 0;
			out->no_value = true;
		}
	} else {
		result_row(res)->key = xstrdup(key);
	}
	cdc_free(&ipc_kv_row_desc, &row);
	return 0;
}

bool
fsm_txn_read_only(const struct cdc_list *ops)
{
	size_t i;

	for (i = 0; i < ops->n; i++) {
		const struct ipc_txn_op *op = (const struct ipc_txn_op *)ops->v + i;

		if (!txn_read_verb(op->verb ? op->verb : ""))
			return false;
	}
	return ops->n > 0;
}

int
fsm_txn_read(struct store *st, const struct cdc_list *ops,
    struct ipc_raft_result *res, struct errbuf *eb)
{
	struct src s = {NULL, NULL};
	size_t i;
	int r = 0;

	if ((r = store_state_read_begin(st, &s.rd)) < 0)
		return errbuf_set(eb, r, "state: read: %s", strerror(-r));
	res->index = store_state_read_applied(s.rd);
	for (i = 0; r == 0 && i < ops->n; i++) {
		const struct ipc_txn_op *op = (const struct ipc_txn_op *)ops->v + i;
		const char *key = op->key ? op->key : "";

		if (strcmp(op->verb ? op->verb : "", "get-tree") != 0 &&
		    !key_ok(key, false)) {
			txn_error(res, i, "%s", *key ? "key too long"
						     : "Missing key");
			continue;
		}
		r = txn_read_op(&s, i, op, res);
	}
	store_state_read_end(s.rd);
	if (r < 0)
		return errbuf_set(eb, r, "state: read: %s", strerror(-r));
	if (res->errors.n > 0) {
		rows_free(&res->rows);
		res->ok = false;
		res->err = RAFT_ERR_TXN;
	} else {
		res->ok = true;
	}
	if (res->index == 0)
		res->index = 1;
	return 0;
}

/* txn_op - one operation; errors go to res->errors */
static int
txn_op(struct actx *a, size_t i, const struct ipc_txn_op *op)
{
	struct ipc_raft_result *res = a->res;
	const char *v = op->verb ? op->verb : "", *key = op->key ? op->key : "";
	struct ipc_kv_row tmp;
	uint32_t why;
	int r = 0;

	if (strcmp(v, "delete-tree") != 0 && strcmp(v, "get-tree") != 0 &&
	    !key_ok(key, strcmp(v, "lock") == 0 || strcmp(v, "unlock") == 0)) {
		txn_error(res, i, "%s", *key ? "key too long" : "Missing key");
		return 0;
	}
	if (strcmp(v, "set") == 0 || strcmp(v, "cas") == 0) {
		bool cas = v[0] == 'c';

		r = kv_set(a, key, op->value, op->flags, cas, op->index, &why,
		    &tmp);
		if (r == 0 && why != RAFT_ERR_NONE)
			txn_error(res, i,
			    "failed to set key \"%s\", index is stale", key);
		else if (r == 0)
			*result_row(res) = tmp;
	} else if (strcmp(v, "lock") == 0 || strcmp(v, "unlock") == 0) {
		bool lock = v[0] == 'l';

		r = lock ? kv_lock(a, key, op->value, op->flags, op->session,
			       &why, &tmp)
			 : kv_unlock(a, key, op->value, op->flags,
			       op->session, &why, &tmp);
		if (r == 0 && why == RAFT_ERR_NO_SESSION)
			txn_error(res, i, "invalid session \"%s\"",
			    op->session ? op->session : "");
		else if (r == 0 && why != RAFT_ERR_NONE)
			txn_error(res, i,
			    lock ? "failed to lock key \"%s\", lock is "
				   "already held"
				 : "failed to unlock key \"%s\", lock isn't "
				   "held, or is held by another session",
			    key);
		else if (r == 0)
			*result_row(res) = tmp;
	} else if (txn_read_verb(v)) {
		struct src src = {a->t, NULL};

		r = txn_read_op(&src, i, op, res);
	} else if (strcmp(v, "delete") == 0) {
		r = kv_delete(a, key, false, 0, &why);
	} else if (strcmp(v, "delete-cas") == 0) {
		r = kv_delete(a, key, true, op->index, &why);
		if (r == 0 && why != RAFT_ERR_NONE)
			txn_error(res, i,
			    "failed to delete key \"%s\", index is stale", key);
	} else if (strcmp(v, "delete-tree") == 0) {
		r = kv_delete_tree(a, key);
	} else {
		txn_error(res, i, "unknown KV verb \"%s\"", v);
	}
	return r;
}

static int
apply_txn(struct actx *a, const struct ipc_raft_cmd *c)
{
	struct ipc_raft_result *res = a->res;
	size_t i, nch = a->fx ? a->fx->nchanges : 0;
	size_t nss = a->fx ? a->fx->nsessions : 0;
	int r;

	if ((r = store_state_savepoint(a->t)) < 0)
		return r;
	for (i = 0; i < c->ops.n; i++) {
		r = txn_op(a, i, (const struct ipc_txn_op *)c->ops.v + i);
		if (r < 0) {
			store_state_rollback(a->t);
			return r;
		}
	}
	if (res->errors.n > 0) {
		store_state_rollback(a->t);
		fx_truncate(a->fx, nch, nss);
		rows_free(&res->rows);
		res->ok = false;
		res->err = RAFT_ERR_TXN;
		return 0;
	}
	res->ok = true;
	return store_state_release(a->t);
}


/* ------------------------------------------------------------ restore */

struct keylist {
	struct buf *keys; /* each key in its own buf */
	struct buf *vals;
	size_t n;
};

static void
keylist_free(struct keylist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		buf_free(&l->keys[i]);
		buf_free(&l->vals[i]);
	}
	free(l->keys);
	free(l->vals);
	memset(l, 0, sizeof(*l));
}

static void
keylist_add(struct keylist *l, const void *k, size_t klen, const void *v,
    size_t vlen)
{
	l->keys = xreallocarray(l->keys, l->n + 1, sizeof(*l->keys));
	l->vals = xreallocarray(l->vals, l->n + 1, sizeof(*l->vals));
	memset(&l->keys[l->n], 0, sizeof(struct buf));
	memset(&l->vals[l->n], 0, sizeof(struct buf));
	buf_put(&l->keys[l->n], k, klen);
	if (v != NULL)
		buf_put(&l->vals[l->n], v, vlen);
	l->n++;
}

static int
collect_key(void *arg, const void *k, size_t klen, const void *v,
    size_t vlen)
{
	(void)v;
	(void)vlen;
	keylist_add(arg, k, klen, NULL, 0);
	return 0;
}

/* restore_clear - drop every staged chunk (and the pending mark) */
static int
restore_clear(struct store_txn *t)
{
	struct keylist l;
	size_t i;
	int r;

	memset(&l, 0, sizeof(l));
	r = store_state_iterate(t, T_RESTORE, "", 0, collect_key, &l);
	for (i = 0; r == 0 && i < l.n; i++)
		r = store_state_del(t, T_RESTORE, l.keys[i].data,
		    l.keys[i].len);
	keylist_free(&l);
	return r == -ENOENT ? 0 : r;
}

/* ---------------------------------------------------- prepared queries */

struct qname_ctx {
	const char *id, *name;
	bool taken;
	struct keylist bound; /* QUERY_SESSION: ids bound to a session */
	const char *session;
	int err;
};

static int
query_scan(void *arg, const void *k, size_t klen, const void *v, size_t vlen)
{
	struct qname_ctx *qc = arg;
	struct ipc_pquery q;

	memset(&q, 0, sizeof(q));
	if (cdc_decode(&ipc_pquery_desc, v, vlen, &q, NULL) < 0) {
		qc->err = -EUCLEAN;
		return 1;
	}
	if (qc->name != NULL && q.name != NULL && *q.name &&
	    strcmp(q.name, qc->name) == 0 &&
	    (klen != strlen(qc->id) || memcmp(k, qc->id, klen) != 0))
		qc->taken = true;
	if (qc->session != NULL && q.session != NULL &&
	    strcmp(q.session, qc->session) == 0)
		keylist_add(&qc->bound, k, klen, NULL, 0);
	cdc_free(&ipc_pquery_desc, &q);
	return 0;
}

static int
query_set(struct actx *a, const struct ipc_pquery *in, bool update,
    uint32_t *why)
{
	struct ipc_pquery q = *in;
	struct qname_ctx qc;
	struct ipc_session s;
	struct buf b = BUF_INIT;
	const void *v;
	size_t vlen;
	int r;

	if (in->id == NULL || *in->id == '\0' ||
	    strlen(in->id) > FSM_SESSION_ID_MAX || in->service == NULL ||
	    *in->service == '\0' ||
	    (in->name != NULL && strlen(in->name) > FSM_KEY_MAX)) {
		*why = RAFT_ERR_INVALID;
		return 0;
	}
	if (in->session != NULL && *in->session != '\0') {
		if (strlen(in->session) > FSM_SESSION_ID_MAX) {
			*why = RAFT_ERR_INVALID;
			return 0;
		}
		r = get_session(a->t, in->session, &s);
		if (r == -ENOENT) {
			*why = RAFT_ERR_NO_SESSION;
			return 0;
		}
		if (r < 0)
			return r;
		cdc_free(&ipc_session_desc, &s);
	}
	memset(&qc, 0, sizeof(qc));
	qc.id = in->id;
	qc.name = in->name;
	r = store_state_iterate(a->t, T_QUERIES, "", 0, query_scan, &qc);
	if (r == -ENOENT)
		r = 0;
	if (r == 0)
		r = qc.err;
	if (r < 0)
		return r;
	if (qc.taken) {
		*why = RAFT_ERR_QUERY_NAME;
		return 0;
	}
	q.create_index = a->index;
	r = store_state_get(a->t, T_QUERIES, in->id, strlen(in->id), &v,
	    &vlen);
	if (r == 0) {
		struct ipc_pquery old;

		memset(&old, 0, sizeof(old));
		if (cdc_decode(&ipc_pquery_desc, v, vlen, &old, NULL) == 0)
			q.create_index = old.create_index;
		cdc_free(&ipc_pquery_desc, &old);
	} else if (r == -ENOENT && update) {
		*why = RAFT_ERR_NOT_FOUND; /* PUT of a query nobody made */
		return 0;
	} else if (r != -ENOENT) {
		return r;
	}
	q.modify_index = a->index;
	cdc_encode(&b, &ipc_pquery_desc, &q);
	r = store_state_put(a->t, T_QUERIES, in->id, strlen(in->id), b.data,
	    b.len);
	buf_free(&b);
	if (r == 0)
		r = bump_index(a, T_QUERIES);
	if (r == 0)
		fx_change(a, T_QUERIES, in->id, false);
	return r;
}

static int
query_delete(struct actx *a, const char *id, uint32_t *why)
{
	int r;

	if (id == NULL || *id == '\0' || strlen(id) > FSM_SESSION_ID_MAX) {
		*why = RAFT_ERR_NOT_FOUND;
		return 0;
	}
	r = store_state_del(a->t, T_QUERIES, id, strlen(id));
	if (r == -ENOENT) {
		*why = RAFT_ERR_NOT_FOUND;
		return 0;
	}
	if (r == 0)
		r = bump_index(a, T_QUERIES);
	if (r == 0)
		fx_change(a, T_QUERIES, id, false);
	return r;
}

/* queries_of_session_delete - a query bound to a session goes with it
 * (Consul's rule) */
static int
queries_of_session_delete(struct actx *a, const char *sid)
{
	struct qname_ctx qc;
	uint32_t why = 0;
	size_t i;
	int r;

	memset(&qc, 0, sizeof(qc));
	qc.session = sid;
	r = store_state_iterate(a->t, T_QUERIES, "", 0, query_scan, &qc);
	if (r == -ENOENT)
		r = 0;
	if (r == 0)
		r = qc.err;
	for (i = 0; r == 0 && i < qc.bound.n; i++) {
		char id[FSM_SESSION_ID_MAX + 1];
		size_t n = qc.bound.keys[i].len;

		if (n > FSM_SESSION_ID_MAX)
			continue;
		memcpy(id, qc.bound.keys[i].data, n);
		id[n] = '\0';
		r = query_delete(a, id, &why);
	}
	keylist_free(&qc.bound);
	return r;
}

static int
restore_chunk(struct actx *a, const struct ipc_raft_cmd *c, uint32_t *why)
{
	uint8_t k[1 + FSM_RESTORE_ID_MAX + 1 + 8];
	size_t il;
	int r;

	if (c->key == NULL || (il = strlen(c->key)) == 0 ||
	    il > FSM_RESTORE_ID_MAX || c->value.n > FSM_RESTORE_CHUNK_MAX) {
		*why = RAFT_ERR_INVALID;
		return 0;
	}
	if (c->cas == 0 && (r = restore_clear(a->t)) < 0)
		return r;
	k[0] = 'c';
	memcpy(k + 1, c->key, il);
	k[1 + il] = '\0';
	be64_set(k + 2 + il, c->cas);
	return store_state_put(a->t, T_RESTORE, k, il + 10,
	    c->value.n ? c->value.p : (const uint8_t *)"", c->value.n);
}

/* clamp_rows - rows of one table whose CreateIndex/ModifyIndex are past
 * idx get idx: a state from another cluster may carry indexes this log
 * has not reached, and X-Consul-Index must never run ahead of it */
struct clamp_ctx {
	const struct cdc_msg_desc *d;
	uint64_t idx;
	struct keylist changed;
	int err;
};

static int
clamp_row(void *arg, const void *k, size_t klen, const void *v, size_t vlen)
{
	struct clamp_ctx *cc = arg;
	void *row = xcalloc(1, cc->d->size);
	uint64_t *ci, *mi;
	struct buf b = BUF_INIT;

	if (cdc_decode(cc->d, v, vlen, row, NULL) < 0) {
		free(row);
		cc->err = -EUCLEAN;
		return 1;
	}
	/* every row type keeps the two as its create_index/modify_index */
	if (cc->d == &ipc_kv_row_desc) {
		ci = &((struct ipc_kv_row *)row)->create_index;
		mi = &((struct ipc_kv_row *)row)->modify_index;
	} else if (cc->d == &ipc_session_desc) {
		ci = &((struct ipc_session *)row)->create_index;
		mi = &((struct ipc_session *)row)->modify_index;
	} else if (cc->d == &ipc_node_desc) {
		ci = &((struct ipc_node *)row)->create_index;
		mi = &((struct ipc_node *)row)->modify_index;
	} else if (cc->d == &ipc_check_desc) {
		ci = &((struct ipc_check *)row)->create_index;
		mi = &((struct ipc_check *)row)->modify_index;
	} else {
		ci = &((struct ipc_service *)row)->create_index;
		mi = &((struct ipc_service *)row)->modify_index;
	}
	if (*ci > cc->idx || *mi > cc->idx) {
		if (*ci > cc->idx)
			*ci = cc->idx;
		if (*mi > cc->idx)
			*mi = cc->idx;
		cdc_encode(&b, cc->d, row);
		keylist_add(&cc->changed, k, klen, b.data ? b.data
							  : (uint8_t *)"",
		    b.len);
		buf_free(&b);
	}
	cdc_free(cc->d, row);
	free(row);
	return 0;
}

static int
restore_fixup(struct actx *a)
{
	static const struct {
		const char *table;
		const struct cdc_msg_desc *d;
	} tabs[] = {
	    {T_KV, &ipc_kv_row_desc},
	    {T_SESSIONS, &ipc_session_desc},
	    {T_NODES, &ipc_node_desc},
	    {T_CHECKS, &ipc_check_desc},
	    {T_SERVICES, &ipc_service_desc},
	};
	struct clamp_ctx cc;
	size_t i, j;
	int r = 0;

	for (i = 0; r == 0 && i < sizeof(tabs) / sizeof(tabs[0]); i++) {
		memset(&cc, 0, sizeof(cc));
		cc.d = tabs[i].d;
		cc.idx = a->index;
		r = store_state_iterate(a->t, tabs[i].table, "", 0, clamp_row,
		    &cc);
		if (r == -ENOENT)
			r = 0;
		if (r == 0)
			r = cc.err;
		for (j = 0; r == 0 && j < cc.changed.n; j++)
			r = store_state_put(a->t, tabs[i].table,
			    cc.changed.keys[j].data, cc.changed.keys[j].len,
			    cc.changed.vals[j].data ? cc.changed.vals[j].data
						    : (uint8_t *)"",
			    cc.changed.vals[j].len);
		keylist_free(&cc.changed);
		/* every table's X-Consul-Index moves to the restore: blocked
		 * readers see a change, whichever way the index went */
		if (r == 0)
			r = bump_index(a, tabs[i].table);
		if (r == 0)
			fx_change(a, tabs[i].table, "", true);
	}
	if (r == 0)
		fx_change(a, FSM_TABLE_ALL, "", true);
	return r;
}

/* restore_finish - the RESTORE entry: if the driver swapped the uploaded
 * state in for this index (fsm_restore_stage), fix its indexes up;
 * otherwise the upload was not whole or not valid: drop it */
static int
restore_finish(struct actx *a, uint32_t *why)
{
	const void *v;
	size_t vlen;
	int r;

	r = store_state_get(a->t, T_RESTORE, "pending", 7, &v, &vlen);
	if (r < 0 && r != -ENOENT)
		return r;
	if (r == 0 && vlen == 8 && be64_get(v) == a->index) {
		if ((r = restore_fixup(a)) < 0)
			return r;
	} else {
		*why = RAFT_ERR_RESTORE;
	}
	return restore_clear(a->t);
}

int
fsm_entry_op(const struct raft_entry *e)
{
	struct cdc_reader rd;
	struct cdc_field f;

	if (e->type != RAFT_ENTRY_COMMAND)
		return 0;
	cdc_reader_init(&rd, e->data, e->len);
	while (cdc_next(&rd, &f) == 1)
		if (f.tag == 1 && f.wire == CDC_WIRE_VARINT)
			return f.u > INT32_MAX ? 0 : (int)f.u;
	return 0;
}

struct stage_ctx {
	int fd;
	uint64_t off;
	EVP_MD_CTX *md;
	int err;
};

static int
stage_chunk(void *arg, const void *k, size_t klen, const void *v,
    size_t vlen)
{
	struct stage_ctx *sc = arg;
	const uint8_t *p = v;

	if (klen < 8 || be64_get((const uint8_t *)k + klen - 8) != sc->off) {
		sc->err = -EBADMSG; /* a chunk is missing */
		return 1;
	}
	EVP_DigestUpdate(sc->md, v, vlen);
	while (vlen > 0) {
		ssize_t w = write(sc->fd, p, vlen);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			sc->err = -errno;
			return 1;
		}
		p += w;
		vlen -= (size_t)w;
		sc->off += (uint64_t)w;
	}
	return 0;
}

int
fsm_restore_stage(struct store *st, const struct raft_entry *e,
    const char *path, struct errbuf *eb)
{
	struct ipc_raft_cmd c;
	struct store_read *rd = NULL;
	struct stage_ctx sc;
	uint8_t prefix[1 + FSM_RESTORE_ID_MAX + 1], sha[32];
	uint8_t mark[8];
	const void *v;
	size_t vlen, il;
	unsigned len = 32;
	int r;

	memset(&c, 0, sizeof(c));
	memset(&sc, 0, sizeof(sc));
	sc.fd = -1;
	if (cdc_decode(&ipc_raft_cmd_desc, e->data, e->len, &c, eb) < 0)
		return 0; /* the apply skips it */
	if (c.op != RAFT_OP_RESTORE || c.key == NULL ||
	    (il = strlen(c.key)) == 0 || il > FSM_RESTORE_ID_MAX) {
		r = 0;
		goto out;
	}
	if ((r = store_state_read_begin(st, &rd)) < 0) {
		errbuf_set(eb, r, "restore: %s", strerror(-r));
		goto out;
	}
	/* replayed after a crash that followed the swap: done already */
	if (store_state_read_get(rd, T_RESTORE, "pending", 7, &v, &vlen) ==
		0 &&
	    vlen == 8 && be64_get(v) == e->index) {
		r = 0;
		goto out;
	}
	prefix[0] = 'c';
	memcpy(prefix + 1, c.key, il);
	prefix[1 + il] = '\0';
	sc.md = EVP_MD_CTX_new();
	sc.fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (sc.md == NULL || sc.fd < 0 ||
	    EVP_DigestInit_ex(sc.md, EVP_sha256(), NULL) != 1) {
		r = errbuf_set(eb, -errno ? -errno : -ENOMEM, "restore: %s: %s",
		    path, strerror(errno));
		goto out;
	}
	r = store_state_read_iterate(rd, T_RESTORE, prefix, il + 2,
	    stage_chunk, &sc);
	store_state_read_end(rd);
	rd = NULL;
	if (r == -ENOENT)
		r = 0;
	if (r == 0 && sc.err != 0)
		r = sc.err;
	if (r < 0) {
		log_warnx("restore %s at %llu: staged chunks unreadable (%s); "
			  "the restore fails",
		    c.key, (unsigned long long)e->index, strerror(-r));
		r = 0;
		goto out_unlink;
	}
	EVP_DigestFinal_ex(sc.md, sha, &len);
	if (sc.off != c.cas || c.value.n != 32 ||
	    memcmp(sha, c.value.p, 32) != 0) {
		log_warnx("restore %s at %llu: %llu bytes staged of %llu, or "
			  "their SHA-256 differs: the restore fails",
		    c.key, (unsigned long long)e->index,
		    (unsigned long long)sc.off, (unsigned long long)c.cas);
		r = 0;
		goto out_unlink;
	}
	close(sc.fd);
	sc.fd = -1;
	be64_set(mark, e->index);
	if ((r = store_state_file_prepare(st, path, e->index - 1, T_RESTORE,
		 "pending", 7, mark, sizeof(mark), eb)) < 0) {
		if (r == -EUCLEAN) {
			/* not a state: the entry fails on every server */
			log_warnx("restore %s at %llu: %s", c.key,
			    (unsigned long long)e->index, eb->msg);
			r = 0;
		}
		goto out_unlink;
	}
	if ((r = store_state_restore(st, path, eb)) < 0)
		goto out_unlink;
	log_info("restore %s: state replaced at index %llu (%llu bytes)",
	    c.key, (unsigned long long)e->index, (unsigned long long)sc.off);
	r = 1;
	goto out;
out_unlink:
	unlink(path);
out:
	if (rd != NULL)
		store_state_read_end(rd);
	if (sc.fd >= 0)
		close(sc.fd);
	EVP_MD_CTX_free(sc.md);
	cdc_free(&ipc_raft_cmd_desc, &c);
	return r;
}

/* apply_cmd - returns 0 with a->res filled, or a store error */
static int
apply_cmd(struct actx *a, const struct ipc_raft_cmd *c)
{
	struct ipc_raft_result *res = a->res;
	uint32_t why = RAFT_ERR_NONE;
	size_t nch, nss;
	int r = 0;

	switch (c->op) {
	case RAFT_OP_NOOP:
		break;
	case RAFT_OP_KV_SET:
	case RAFT_OP_KV_CAS:
		r = kv_set(a, c->key, c->value, c->flags,
		    c->op == RAFT_OP_KV_CAS, c->cas, &why, NULL);
		break;
	case RAFT_OP_KV_LOCK:
		r = kv_lock(a, c->key, c->value, c->flags, c->session, &why,
		    NULL);
		break;
	case RAFT_OP_KV_UNLOCK:
		r = kv_unlock(a, c->key, c->value, c->flags, c->session, &why,
		    NULL);
		break;
	case RAFT_OP_KV_DELETE:
	case RAFT_OP_KV_DELETE_CAS:
		r = kv_delete(a, c->key, c->op == RAFT_OP_KV_DELETE_CAS, c->cas,
		    &why);
		break;
	case RAFT_OP_KV_DELETE_TREE:
		if (c->key == NULL || strlen(c->key) > FSM_KEY_MAX)
			why = RAFT_ERR_INVALID;
		else
			r = kv_delete_tree(a, c->key);
		break;
	case RAFT_OP_SESSION_CREATE:
		r = session_create(a, &c->sess, &why);
		break;
	case RAFT_OP_SESSION_DESTROY:
		if (c->session == NULL || strlen(c->session) > FSM_SESSION_ID_MAX)
			why = RAFT_ERR_INVALID;
		else
			r = session_destroy(a, c->session);
		break;
	case RAFT_OP_CATALOG_REGISTER:
		/* all of it or nothing (node, service, checks) */
		if ((r = store_state_savepoint(a->t)) < 0)
			break;
		nch = a->fx ? a->fx->nchanges : 0;
		nss = a->fx ? a->fx->nsessions : 0;
		r = catalog_register(a, c, &why);
		if (r == 0 && why != RAFT_ERR_NONE) {
			store_state_rollback(a->t);
			fx_truncate(a->fx, nch, nss);
		} else if (r == 0) {
			r = store_state_release(a->t);
		} else {
			store_state_rollback(a->t);
		}
		break;
	case RAFT_OP_CATALOG_DEREGISTER:
		r = catalog_deregister(a, c, &why);
		break;
	case RAFT_OP_RESTORE_CHUNK:
		r = restore_chunk(a, c, &why);
		break;
	case RAFT_OP_RESTORE:
		r = restore_finish(a, &why);
		break;
	case RAFT_OP_QUERY_SET:
		r = query_set(a, &c->pquery, c->cas != 0, &why);
		break;
	case RAFT_OP_QUERY_DELETE:
		r = query_delete(a, c->key, &why);
		break;
	case RAFT_OP_TXN:
		if (c->ops.n > FSM_TXN_MAX_OPS) {
			txn_error(res, c->ops.n, "too many operations");
			res->err = RAFT_ERR_TXN;
			return 0;
		}
		return apply_txn(a, c);
	default:
		why = RAFT_ERR_INVALID;
		break;
	}
	res->ok = r == 0 && why == RAFT_ERR_NONE;
	res->err = why;
	return r;
}

/* Deduplication.  Every client (an httpd or checkd instance: a random
 * client_id) numbers its commands; a command can arrive twice (a client
 * agent tries the next server, a retry after a leader change), and
 * several of one client's commands are in flight at once, so they need
 * not apply in seq order.  Per client the table keeps
 *   client_id (8 bytes)       -> highest seq applied, then its result
 *   client_id, seq (16 bytes) -> that command's result, for the last
 *                                DEDUP_WINDOW seqs (older ones deleted)
 * A command whose seq is known is answered with its first result and not
 * applied again; one within the window and unknown has not been applied;
 * one older than the window cannot be told apart and is refused with
 * RAFT_ERR_UNKNOWN (its requester is told the outcome is unknown rather
 * than that it succeeded). */
#define DEDUP_WINDOW 1024
/* a client none of whose commands applied in the last DEDUP_IDLE entries
 * is gone (a restarted httpd or checkd takes a new id; retries come
 * within seconds): its records are dropped, looked for at every entry
 * whose index is a multiple of DEDUP_GC_EVERY - the same on every server,
 * as it depends on the log alone */
#define DEDUP_IDLE (1u << 17)
#define DEDUP_GC_EVERY 4096

static void
dedup_key(uint8_t k[16], uint64_t client, uint64_t seq)
{
	be64_set(k, client);
	be64_set(k + 8, seq);
}

static int
dedup_decode(const void *v, size_t vlen, struct ipc_raft_result *res)
{
	cdc_free(&ipc_raft_result_desc, res);
	if (cdc_decode(&ipc_raft_result_desc, v, vlen, res, NULL) < 0)
		memset(res, 0, sizeof(*res));
	return 1;
}

static int
dedup_check(struct store_txn *t, const struct ipc_raft_cmd *c,
    struct ipc_raft_result *res)
{
	uint8_t k[16];
	const void *v;
	size_t vlen;
	uint64_t max;

	if (c->client_id == 0)
		return 0;
	dedup_key(k, c->client_id, c->seq);
	if (store_state_get(t, T_DEDUP, k, 8, &v, &vlen) < 0 || vlen < 8)
		return 0; /* the client's first command */
	max = be64_get(v);
	if (max == c->seq)
		return dedup_decode((const uint8_t *)v + 8, vlen - 8, res);
	if (store_state_get(t, T_DEDUP, k, 16, &v, &vlen) == 0)
		return dedup_decode(v, vlen, res);
	if (c->seq > max || max - c->seq < DEDUP_WINDOW)
		return 0; /* not applied yet */
	cdc_free(&ipc_raft_result_desc, res);
	memset(res, 0, sizeof(*res));
	res->err = RAFT_ERR_UNKNOWN;
	return 1;
}

static int
dedup_record(struct store_txn *t, const struct ipc_raft_cmd *c,
    const struct ipc_raft_result *res)
{
	struct buf b = BUF_INIT;
	uint8_t k[16], s[8];
	const void *v;
	size_t vlen;
	int r;

	if (c->client_id == 0)
		return 0;
	dedup_key(k, c->client_id, c->seq);
	be64_set(s, c->seq);
	buf_put(&b, s, sizeof(s));
	cdc_encode(&b, &ipc_raft_result_desc, res);
	r = store_state_put(t, T_DEDUP, k, 16, b.data + 8, b.len - 8);
	if (r == 0 && (store_state_get(t, T_DEDUP, k, 8, &v, &vlen) < 0 ||
			  vlen < 8 || be64_get(v) < c->seq))
		r = store_state_put(t, T_DEDUP, k, 8, b.data, b.len);
	if (r == 0 && c->seq > DEDUP_WINDOW) {
		dedup_key(k, c->client_id, c->seq - DEDUP_WINDOW);
		r = store_state_del(t, T_DEDUP, k, 16);
		if (r == -ENOENT)
			r = 0;
	}
	buf_free(&b);
	return r;
}

struct dedup_gc {
	uint64_t index;
	int stale;	   /* the last client record seen is stale */
	struct buf keys;   /* to delete: 1-byte length, then the key */
	size_t nclients;
};

static int
dedup_gc_collect(void *arg, const void *k, size_t klen, const void *v,
    size_t vlen)
{
	struct dedup_gc *g = arg;

	if (klen == 8) {
		struct ipc_raft_result res;

		memset(&res, 0, sizeof(res));
		g->stale = 0;
		if (vlen >= 8 && cdc_decode(&ipc_raft_result_desc,
				     (const uint8_t *)v + 8, vlen - 8, &res,
				     NULL) == 0 &&
		    res.index + DEDUP_IDLE < g->index) {
			g->stale = 1;
			g->nclients++;
		}
		cdc_free(&ipc_raft_result_desc, &res);
	} else if (klen != 16) {
		return 0;
	}
	if (g->stale) {
		buf_put_u8(&g->keys, (uint8_t)klen);
		buf_put(&g->keys, k, klen);
	}
	return 0;
}

static int
dedup_gc(struct store_txn *t, uint64_t index)
{
	struct dedup_gc g;
	size_t off;
	int r;

	memset(&g, 0, sizeof(g));
	g.index = index;
	r = store_state_iterate(t, T_DEDUP, "", 0, dedup_gc_collect, &g);
	for (off = 0; r == 0 && off < g.keys.len; off += 1 + g.keys.data[off])
		r = store_state_del(t, T_DEDUP, g.keys.data + off + 1,
		    g.keys.data[off]);
	if (r == 0 && g.nclients > 0)
		log_debug("fsm: dropped the dedup records of %zu idle "
			  "client(s) at index %llu",
		    g.nclients, (unsigned long long)index);
	buf_free(&g.keys);
	return r;
}

int
fsm_apply_txn(struct store *st, const struct raft_entry *entries, size_t n,
    struct ipc_raft_result *results, struct fsm_effects *fx,
    struct store_txn **out,
    struct errbuf *eb)
{
	struct store_txn *t;
	size_t i;
	int r;

	*out = NULL;
	if ((r = store_state_begin(st, &t)) < 0)
		return errbuf_set(eb, r, "state: begin: %s", strerror(-r));
	for (i = 0; i < n; i++) {
		const struct raft_entry *e = &entries[i];
		struct ipc_raft_cmd c;
		struct errbuf deb;
		struct actx a;

		memset(&results[i], 0, sizeof(results[i]));
		if (e->index % DEDUP_GC_EVERY == 0 &&
		    (r = dedup_gc(t, e->index)) < 0) {
			store_state_abort(t);
			for (i = 0; i < n; i++)
				cdc_free(&ipc_raft_result_desc, &results[i]);
			return errbuf_set(eb, r, "state: dedup gc at %llu: %s",
			    (unsigned long long)e->index, strerror(-r));
		}
		if (e->type != RAFT_ENTRY_COMMAND)
			continue;
		memset(&c, 0, sizeof(c));
		if (cdc_decode(&ipc_raft_cmd_desc, e->data, e->len, &c, &deb) <
		    0) {
			log_warnx("fsm: entry %llu: undecodable command "
				  "skipped: %s",
			    (unsigned long long)e->index, deb.msg);
			continue;
		}
		if (dedup_check(t, &c, &results[i])) {
			cdc_free(&ipc_raft_cmd_desc, &c);
			continue;
		}
		a.t = t;
		a.index = e->index;
		a.fx = fx;
		a.res = &results[i];
		a.in_txn = false;
		r = apply_cmd(&a, &c);
		results[i].index = e->index;
		if (r == 0)
			r = dedup_record(t, &c, &results[i]);
		cdc_free(&ipc_raft_cmd_desc, &c);
		if (r < 0) {
			store_state_abort(t);
			for (i = 0; i < n; i++)
				cdc_free(&ipc_raft_result_desc, &results[i]);
			return errbuf_set(eb, r, "state: apply entry %llu: %s",
			    (unsigned long long)e->index, strerror(-r));
		}
	}
	*out = t;
	return 0;
}

int
fsm_apply(struct store *st, const struct raft_entry *entries, size_t n,
    struct ipc_raft_result *results, struct fsm_effects *fx,
    struct errbuf *eb)
{
	struct store_txn *t;
	int r;

	if (n == 0)
		return 0;
	if ((r = fsm_apply_txn(st, entries, n, results, fx, &t, eb)) < 0)
		return r;
	if ((r = store_state_commit(t, entries[n - 1].index, eb)) < 0) {
		size_t i;

		for (i = 0; i < n; i++)
			cdc_free(&ipc_raft_result_desc, &results[i]);
	}
	return r;
}

/* -------------------------------------------------------------- reads */

static uint64_t
read_index(struct store_read *rd, const char *table)
{
	const void *v;
	size_t vlen;

	if (store_state_read_get(rd, T_INDEX, table, strlen(table), &v,
		&vlen) == 0 &&
	    vlen == 8)
		return be64_get(v);
	return 0;
}

struct read_ctx {
	struct ipc_kv_read_reply *rep;
	uint64_t max;
	int err;
};

static int
add_row(void *arg, const void *k, size_t klen, const void *v, size_t vlen)
{
	struct read_ctx *rc = arg;
	struct ipc_kv_row *row;
	struct cdc_list *l = &rc->rep->rows;

	if (rc->max && l->n >= rc->max)
		return 1;
	l->v = xreallocarray(l->v, l->n + 1, sizeof(*row));
	row = (struct ipc_kv_row *)l->v + l->n;
	memset(row, 0, sizeof(*row));
	if (cdc_decode(&ipc_kv_row_desc, v, vlen, row, NULL) < 0) {
		rc->err = -EUCLEAN;
		return 1;
	}
	free(row->key);
	row->key = xstrndup(k, klen);
	l->n++;
	return 0;
}

int
fsm_kv_read(struct store *st, const char *key, int recurse,
    uint64_t max_rows, struct ipc_kv_read_reply *rep, struct errbuf *eb)
{
	struct store_read *rd;
	struct read_ctx rc = {rep, max_rows, 0};
	const void *v;
	size_t vlen;
	int r = 0;

	if ((r = store_state_read_begin(st, &rd)) < 0)
		return errbuf_set(eb, r, "state: read: %s", strerror(-r));
	rep->index = read_index(rd, T_KV);
	if (recurse) {
		r = store_state_read_iterate(rd, T_KV, key, strlen(key),
		    add_row, &rc);
		if (r > 0)
			r = 0;
	} else if (strlen(key) > 0 && strlen(key) <= FSM_KEY_MAX) {
		r = store_state_read_get(rd, T_KV, key, strlen(key), &v, &vlen);
		if (r == 0)
			add_row(&rc, key, strlen(key), v, vlen);
		else if (r == -ENOENT)
			r = 0;
	}
	store_state_read_end(rd);
	if (r == 0 && rc.err)
		r = rc.err;
	if (r < 0)
		return errbuf_set(eb, r, "state: read %s: %s", key,
		    strerror(-r));
	if (rep->index == 0)
		rep->index = 1; /* never 0 (blocking-query clients reject it) */
	return 0;
}

struct sess_ctx {
	struct cdc_list *l;
	const char *node;
	int err;
};

static int
add_session(void *arg, const void *k, size_t klen, const void *v,
    size_t vlen)
{
	struct sess_ctx *c = arg;
	struct ipc_session s;

	(void)k;
	(void)klen;
	memset(&s, 0, sizeof(s));
	if (cdc_decode(&ipc_session_desc, v, vlen, &s, NULL) < 0) {
		c->err = -EUCLEAN;
		return 1;
	}
	if (c->node && strcmp(c->node, s.node ? s.node : "") != 0) {
		cdc_free(&ipc_session_desc, &s);
		return 0;
	}
	c->l->v = xreallocarray(c->l->v, c->l->n + 1, sizeof(s));
	((struct ipc_session *)c->l->v)[c->l->n++] = s;
	return 0;
}

int
fsm_session_read(struct store *st, const char *id, const char *node,
    struct ipc_session_read_reply *rep, struct errbuf *eb)
{
	struct store_read *rd;
	struct sess_ctx c = {&rep->sessions, node, 0};
	const void *v;
	size_t vlen;
	int r;

	if ((r = store_state_read_begin(st, &rd)) < 0)
		return errbuf_set(eb, r, "state: read: %s", strerror(-r));
	rep->index = read_index(rd, T_SESSIONS);
	if (id != NULL) {
		r = -ENOENT;
		if (*id && strlen(id) <= FSM_SESSION_ID_MAX)
			r = store_state_read_get(rd, T_SESSIONS, id,
			    strlen(id), &v, &vlen);
		if (r == 0)
			add_session(&c, id, strlen(id), v, vlen);
		else if (r == -ENOENT)
			r = 0;
	} else {
		r = store_state_read_iterate(rd, T_SESSIONS, "", 0,
		    add_session, &c);
		if (r > 0)
			r = 0;
	}
	store_state_read_end(rd);
	if (r == 0 && c.err)
		r = c.err;
	if (r < 0)
		return errbuf_set(eb, r, "state: reading sessions: %s",
		    strerror(-r));
	if (rep->index == 0)
		rep->index = 1;
	return 0;
}

struct cat_ctx {
	struct ipc_catalog_reply *rep;
	bool checks;
	int err;
};

static int
add_catalog(void *arg, const void *k, size_t klen, const void *v,
    size_t vlen)
{
	struct cat_ctx *c = arg;
	struct cdc_list *l = c->checks ? &c->rep->checks : &c->rep->nodes;
	const struct cdc_msg_desc *d = c->checks ? &ipc_check_desc
						 : &ipc_node_desc;
	void *e;

	(void)k;
	(void)klen;
	l->v = xreallocarray(l->v, l->n + 1, d->size);
	e = (char *)l->v + l->n * d->size;
	memset(e, 0, d->size);
	if (cdc_decode(d, v, vlen, e, NULL) < 0) {
		c->err = -EUCLEAN;
		return 1;
	}
	l->n++;
	return 0;
}

int
fsm_catalog_read(struct store *st, const char *what, const char *node,
    const char *svc, struct ipc_catalog_reply *rep, struct errbuf *eb)
{
	struct store_read *rd;
	struct cat_ctx c = {rep, false, 0};
	char k[2 * NAME_MAX_LEN + 2];
	const void *v;
	size_t vlen;
	int r = 0;

	if ((r = store_state_read_begin(st, &rd)) < 0)
		return errbuf_set(eb, r, "state: read: %s", strerror(-r));
	rep->index = read_index(rd, T_NODES);
	if (read_index(rd, T_CHECKS) > rep->index)
		rep->index = read_index(rd, T_CHECKS);
	if (read_index(rd, T_SERVICES) > rep->index)
		rep->index = read_index(rd, T_SERVICES);
	if (what && strcmp(what, "services") == 0) {
		struct svc_ctx sc = {rep, 0};

		if (node && *node && name_ok(node) &&
		    store_state_read_get(rd, T_NODES, node, strlen(node), &v,
			&vlen) == 0)
			add_catalog(&c, node, strlen(node), v, vlen);
		if (node && *node)
			r = name_ok(node) ? store_state_read_iterate(rd,
						T_SERVICES, k,
						check_key(k, node, NULL),
						add_svc, &sc)
					  : 0;
		else
			r = store_state_read_iterate(rd, T_SERVICES, "", 0,
			    add_svc, &sc);
		if (r >= 0 && sc.err)
			r = sc.err;
	} else if (what && strcmp(what, "service") == 0) {
		struct svc_ctx sc = {rep, 0};
		size_t i, j, keep = 0;

		/* the instances of service, then their nodes and checks */
		r = store_state_read_iterate(rd, T_SERVICES, "", 0, add_svc,
		    &sc);
		if (r >= 0 && sc.err)
			r = sc.err;
		for (i = 0; r >= 0 && i < rep->services.n; i++) {
			struct ipc_service *sv =
			    (struct ipc_service *)rep->services.v + i;

			if (!str_eq(sv->service, svc)) {
				cdc_free(&ipc_service_desc, sv);
				continue;
			}
			((struct ipc_service *)rep->services.v)[keep++] = *sv;
		}
		rep->services.n = keep;
		c.checks = true;
		for (i = 0; r >= 0 && i < keep; i++) {
			const char *nd =
			    ((struct ipc_service *)rep->services.v)[i].node;

			for (j = 0; j < i; j++)
				if (str_eq(((struct ipc_service *)
						   rep->services.v)[j]
						   .node,
					nd))
					break;
			if (j < i || !name_ok(nd))
				continue; /* node done already */
			c.checks = false;
			if (store_state_read_get(rd, T_NODES, nd, strlen(nd), &v,
				&vlen) == 0)
				add_catalog(&c, nd, strlen(nd), v, vlen);
			c.checks = true;
			r = store_state_read_iterate(rd, T_CHECKS, k,
			    check_key(k, nd, NULL), add_catalog, &c);
		}
	} else if (what && strcmp(what, "all") == 0) {
		struct svc_ctx sc = {rep, 0};

		/* the whole catalog: dnsd's mirror */
		r = store_state_read_iterate(rd, T_NODES, "", 0, add_catalog,
		    &c);
		if (r >= 0)
			r = store_state_read_iterate(rd, T_SERVICES, "", 0,
			    add_svc, &sc);
		if (r >= 0 && sc.err)
			r = sc.err;
		c.checks = true;
		if (r >= 0)
			r = store_state_read_iterate(rd, T_CHECKS, "", 0,
			    add_catalog, &c);
	} else if (what && strcmp(what, "checks") == 0) {
		c.checks = true;
		if (node && *node) {
			if (name_ok(node))
				r = store_state_read_iterate(rd, T_CHECKS, k,
				    check_key(k, node, NULL), add_catalog, &c);
		} else {
			r = store_state_read_iterate(rd, T_CHECKS, "", 0,
			    add_catalog, &c);
		}
	} else if (node && *node) {
		r = -ENOENT;
		if (name_ok(node))
			r = store_state_read_get(rd, T_NODES, node, strlen(node),
			    &v, &vlen);
		if (r == 0)
			add_catalog(&c, node, strlen(node), v, vlen);
		else if (r == -ENOENT)
			r = 0;
	} else {
		r = store_state_read_iterate(rd, T_NODES, "", 0, add_catalog,
		    &c);
	}
	if (r > 0)
		r = 0;
	store_state_read_end(rd);
	if (r == 0 && c.err)
		r = c.err;
	if (r < 0)
		return errbuf_set(eb, r, "state: reading the catalog: %s",
		    strerror(-r));
	if (rep->index == 0)
		rep->index = 1;
	return 0;
}

/* ---------------------------------------------------- prepared queries */

struct qlist_ctx {
	struct cdc_list *l;
	int err;
};

static int
add_query(void *arg, const void *k, size_t klen, const void *v, size_t vlen)
{
	struct qlist_ctx *qc = arg;
	struct ipc_pquery *q;

	(void)k;
	(void)klen;
	qc->l->v = xreallocarray(qc->l->v, qc->l->n + 1, sizeof(*q));
	q = (struct ipc_pquery *)qc->l->v + qc->l->n;
	memset(q, 0, sizeof(*q));
	if (cdc_decode(&ipc_pquery_desc, v, vlen, q, NULL) < 0) {
		qc->err = -EUCLEAN;
		return 1;
	}
	qc->l->n++;
	return 0;
}

int
fsm_query_read(struct store *st, const char *id, struct ipc_query_list *rep,
    struct errbuf *eb)
{
	struct store_read *rd;
	struct qlist_ctx qc = {&rep->queries, 0};
	const void *v;
	size_t vlen;
	int r;

	if ((r = store_state_read_begin(st, &rd)) < 0)
		return errbuf_set(eb, r, "state: read: %s", strerror(-r));
	rep->index = read_index(rd, T_QUERIES);
	if (id != NULL && *id != '\0') {
		r = -ENOENT;
		if (strlen(id) <= FSM_SESSION_ID_MAX)
			r = store_state_read_get(rd, T_QUERIES, id, strlen(id),
			    &v, &vlen);
		if (r == 0)
			add_query(&qc, id, strlen(id), v, vlen);
		else if (r == -ENOENT)
			r = 0;
	} else {
		r = store_state_read_iterate(rd, T_QUERIES, "", 0, add_query,
		    &qc);
		if (r > 0 || r == -ENOENT)
			r = 0;
	}
	store_state_read_end(rd);
	if (r == 0 && qc.err)
		r = qc.err;
	if (r < 0)
		return errbuf_set(eb, r, "state: reading queries: %s",
		    strerror(-r));
	if (rep->index == 0)
		rep->index = 1;
	return 0;
}

int
fsm_query_find(struct store *st, const char *name, struct ipc_pquery *out,
    uint64_t *index, struct errbuf *eb)
{
	struct ipc_query_list all;
	int i, r;

	memset(&all, 0, sizeof(all));
	if ((r = fsm_query_read(st, NULL, &all, eb)) < 0)
		return r;
	*index = all.index;
	i = pq_choose(all.queries.v, all.queries.n, name ? name : "");
	if (i < 0)
		r = errbuf_set(eb, -ENOENT, "Query not found");
	else
		r = pq_render((struct ipc_pquery *)all.queries.v + i,
		    name ? name : "", out, eb);
	cdc_free(&ipc_query_list_desc, &all);
	return r;
}
