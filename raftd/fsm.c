/* fsm.c - raftd's state machine on the store's state tables. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "fsm.h"
#include "log.h"
#include "xmalloc.h"

#define T_KV "kv"
#define T_INDEX "index"
#define T_DEDUP "dedup"
#define KEY_MAX 511 /* LMDB's key limit */

void
fsm_encode_cmd(const struct ipc_raft_cmd *cmd, struct buf *b)
{
	cdc_encode(b, &ipc_raft_cmd_desc, cmd);
}

static int
bump_index(struct store_txn *t, const char *table, uint64_t index)
{
	uint8_t v[8];

	be64_set(v, index);
	return store_state_put(t, T_INDEX, table, strlen(table), v, sizeof(v));
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
	return cdc_decode(&ipc_kv_row_desc, v, vlen, row, NULL);
}

static int
put_row(struct store_txn *t, const char *key, const struct ipc_kv_row *row)
{
	struct ipc_kv_row stored = *row;
	struct buf b = BUF_INIT;
	int r;

	stored.key = NULL; /* the table key holds it */
	cdc_encode(&b, &ipc_kv_row_desc, &stored);
	r = store_state_put(t, T_KV, key, strlen(key), b.data ? b.data : (uint8_t *)"",
	    b.len);
	buf_free(&b);
	return r;
}

struct del_ctx {
	char **keys;
	size_t n, cap;
};

static int
collect_key(void *arg, const void *k, size_t klen, const void *v, size_t vlen)
{
	struct del_ctx *c = arg;

	(void)v;
	(void)vlen;
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 16;
		c->keys = xreallocarray(c->keys, c->cap, sizeof(*c->keys));
	}
	c->keys[c->n++] = xstrndup(k, klen);
	return 0;
}

/* apply_cmd - returns 0 and sets *ok, or a store error */
static int
apply_cmd(struct store_txn *t, const struct ipc_raft_cmd *c, uint64_t index,
    bool *ok)
{
	struct ipc_kv_row row, nr;
	int r, exists;
	size_t i;

	*ok = true;
	if (c->op == RAFT_OP_NOOP)
		return 0;
	if (c->key == NULL || strlen(c->key) > KEY_MAX ||
	    (c->key[0] == '\0' && c->op != RAFT_OP_KV_DELETE_TREE)) {
		*ok = false;
		return 0;
	}
	r = get_row(t, c->key, &row);
	if (r < 0 && r != -ENOENT)
		return r;
	exists = r == 0;
	switch (c->op) {
	case RAFT_OP_KV_CAS:
		if ((c->cas == 0 && exists) ||
		    (c->cas != 0 && (!exists || row.modify_index != c->cas))) {
			*ok = false;
			break;
		}
		/* FALLTHROUGH */
	case RAFT_OP_KV_SET:
		memset(&nr, 0, sizeof(nr));
		nr.value = c->value;
		nr.flags = c->flags;
		nr.create_index = exists ? row.create_index : index;
		nr.modify_index = index;
		nr.lock_index = exists ? row.lock_index : 0;
		nr.session = exists ? row.session : NULL;
		if ((r = put_row(t, c->key, &nr)) < 0)
			break;
		r = bump_index(t, T_KV, index);
		break;
	case RAFT_OP_KV_DELETE_CAS:
		if (!exists || row.modify_index != c->cas) {
			*ok = false;
			r = 0;
			break;
		}
		/* FALLTHROUGH */
	case RAFT_OP_KV_DELETE:
		r = 0;
		if (exists && (r = store_state_del(t, T_KV, c->key,
				   strlen(c->key))) < 0)
			break;
		r = bump_index(t, T_KV, index);
		break;
	case RAFT_OP_KV_DELETE_TREE: {
		struct del_ctx dc = {NULL, 0, 0};

		r = store_state_iterate(t, T_KV, c->key, strlen(c->key),
		    collect_key, &dc);
		for (i = 0; r == 0 && i < dc.n; i++)
			r = store_state_del(t, T_KV, dc.keys[i],
			    strlen(dc.keys[i]));
		for (i = 0; i < dc.n; i++)
			free(dc.keys[i]);
		free(dc.keys);
		if (r == 0)
			r = bump_index(t, T_KV, index);
		break;
	}
	default:
		*ok = false;
		r = 0;
		break;
	}
	cdc_free(&ipc_kv_row_desc, &row);
	return r;
}

/* dedup record: seq u64, index u64, ok u8 */
static int
dedup_check(struct store_txn *t, const struct ipc_raft_cmd *c,
    struct ipc_raft_result *res)
{
	uint8_t k[8];
	const void *v;
	size_t vlen;

	if (c->client_id == 0)
		return 0;
	be64_set(k, c->client_id);
	if (store_state_get(t, T_DEDUP, k, sizeof(k), &v, &vlen) < 0 ||
	    vlen != 17)
		return 0;
	if (be64_get(v) < c->seq)
		return 0;
	res->index = be64_get((const uint8_t *)v + 8);
	res->ok = ((const uint8_t *)v)[16] != 0;
	return 1;
}

static int
dedup_record(struct store_txn *t, const struct ipc_raft_cmd *c,
    const struct ipc_raft_result *res)
{
	uint8_t k[8], v[17];

	if (c->client_id == 0)
		return 0;
	be64_set(k, c->client_id);
	be64_set(v, c->seq);
	be64_set(v + 8, res->index);
	v[16] = res->ok;
	return store_state_put(t, T_DEDUP, k, sizeof(k), v, sizeof(v));
}

int
fsm_apply_txn(struct store *st, const struct raft_entry *entries, size_t n,
    struct ipc_raft_result *results, struct store_txn **out,
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
		bool ok;

		results[i].index = 0;
		results[i].ok = false;
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
		r = apply_cmd(t, &c, e->index, &ok);
		results[i].index = e->index;
		results[i].ok = ok;
		if (r == 0)
			r = dedup_record(t, &c, &results[i]);
		cdc_free(&ipc_raft_cmd_desc, &c);
		if (r < 0) {
			store_state_abort(t);
			return errbuf_set(eb, r, "state: apply entry %llu: %s",
			    (unsigned long long)e->index, strerror(-r));
		}
	}
	*out = t;
	return 0;
}

int
fsm_apply(struct store *st, const struct raft_entry *entries, size_t n,
    struct ipc_raft_result *results, struct errbuf *eb)
{
	struct store_txn *t;
	int r;

	if (n == 0)
		return 0;
	if ((r = fsm_apply_txn(st, entries, n, results, &t, eb)) < 0)
		return r;
	return store_state_commit(t, entries[n - 1].index, eb);
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
	int r;

	if ((r = store_state_read_begin(st, &rd)) < 0)
		return errbuf_set(eb, r, "state: read: %s", strerror(-r));
	if (store_state_read_get(rd, T_INDEX, T_KV, strlen(T_KV), &v,
		&vlen) == 0 &&
	    vlen == 8)
		rep->index = be64_get(v);
	if (recurse) {
		r = store_state_read_iterate(rd, T_KV, key, strlen(key),
		    add_row, &rc);
		if (r > 0)
			r = 0;
	} else if (strlen(key) > 0 && strlen(key) <= KEY_MAX) {
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
