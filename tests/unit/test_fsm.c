/* test_fsm.c - raftd's state machine on a real store: KV set, cas,
 * delete, delete-tree, idempotent resends, bad commands, reads. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "../../raftd/fsm.h"
#include "buf.h"

static char dir[64];
static struct store *st;
static uint64_t next_index = 1;

static int
setup(void **state)
{
	struct errbuf eb;

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/cairn-fsm.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	next_index = 1;
	return store_open(&st, dir, NULL, &eb);
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	store_close(st);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* apply one command as the next log entry; returns its result */
static struct ipc_raft_result
apply(uint32_t op, const char *key, const char *val, uint64_t cas,
    uint64_t client, uint64_t seq)
{
	struct ipc_raft_cmd c;
	struct ipc_raft_result res;
	struct raft_entry e;
	struct buf b = BUF_INIT;
	struct errbuf eb;

	memset(&c, 0, sizeof(c));
	c.op = op;
	c.key = (char *)key;
	if (val) {
		c.value.p = (uint8_t *)val;
		c.value.n = strlen(val);
	}
	c.cas = cas;
	c.client_id = client;
	c.seq = seq;
	fsm_encode_cmd(&c, &b);
	memset(&e, 0, sizeof(e));
	e.term = 1;
	e.index = next_index++;
	e.type = RAFT_ENTRY_COMMAND;
	e.data = b.data;
	e.len = b.len;
	assert_int_equal(fsm_apply(st, &e, 1, &res, NULL, &eb), 0);
	buf_free(&b);
	return res;
}

/* apply_full - apply c as the next entry; effects into fx (may be NULL);
 * the caller frees the result */
static struct ipc_raft_result
apply_full(const struct ipc_raft_cmd *c, struct fsm_effects *fx)
{
	struct ipc_raft_result res;
	struct raft_entry e;
	struct buf b = BUF_INIT;
	struct errbuf eb;

	fsm_encode_cmd(c, &b);
	memset(&e, 0, sizeof(e));
	e.term = 1;
	e.index = next_index++;
	e.type = RAFT_ENTRY_COMMAND;
	e.data = b.data;
	e.len = b.len;
	assert_int_equal(fsm_apply(st, &e, 1, &res, fx, &eb), 0);
	buf_free(&b);
	return res;
}

/* register node with a serfHealth check in status */
static struct ipc_raft_result
register_node(const char *node, const char *status)
{
	struct ipc_raft_cmd c;

	memset(&c, 0, sizeof(c));
	c.op = RAFT_OP_CATALOG_REGISTER;
	c.cnode.node = (char *)node;
	c.cnode.address = (char *)"10.0.0.1";
	c.ccheck.check_id = (char *)"serfHealth";
	c.ccheck.name = (char *)"Serf Health Status";
	c.ccheck.status = (char *)status;
	return apply_full(&c, NULL);
}

static struct ipc_raft_result
session_try(const char *id, const char *node, const char *check)
{
	struct ipc_raft_cmd c;
	char *checks[1];

	memset(&c, 0, sizeof(c));
	c.op = RAFT_OP_SESSION_CREATE;
	c.sess.id = (char *)id;
	c.sess.node = (char *)node;
	c.sess.behavior = (char *)"release";
	if (check) {
		checks[0] = (char *)check;
		c.sess.node_checks.v = checks;
		c.sess.node_checks.n = 1;
	}
	return apply_full(&c, NULL);
}

static void
session_create(const char *id, const char *behavior, uint64_t lock_delay)
{
	struct ipc_raft_cmd c;
	struct ipc_raft_result r;

	r = register_node("n1", "passing");
	assert_true(r.ok);
	memset(&c, 0, sizeof(c));
	c.op = RAFT_OP_SESSION_CREATE;
	c.sess.id = (char *)id;
	c.sess.node = (char *)"n1";
	c.sess.behavior = (char *)behavior;
	c.sess.lock_delay = lock_delay;
	c.sess.ttl = (char *)"30s";
	c.sess.ttl_ms = 30000;
	r = apply_full(&c, NULL);
	assert_true(r.ok);
	cdc_free(&ipc_raft_result_desc, &r);
}

static struct ipc_raft_result
lock_op(uint32_t op, const char *key, const char *val, const char *sid)
{
	struct ipc_raft_cmd c;

	memset(&c, 0, sizeof(c));
	c.op = op;
	c.key = (char *)key;
	c.value.p = (uint8_t *)val;
	c.value.n = val ? strlen(val) : 0;
	c.session = (char *)sid;
	return apply_full(&c, NULL);
}

/* row - the stored row of key (ok false: absent) */
static bool
row(const char *key, struct ipc_kv_row *out)
{
	struct ipc_kv_read_reply rep;
	struct errbuf eb;
	bool found;

	memset(&rep, 0, sizeof(rep));
	memset(out, 0, sizeof(*out));
	assert_int_equal(fsm_kv_read(st, key, 0, 0, &rep, &eb), 0);
	found = rep.rows.n == 1;
	if (found) {
		*out = *(struct ipc_kv_row *)rep.rows.v;
		memset(rep.rows.v, 0, sizeof(*out));
	}
	cdc_free(&ipc_kv_read_reply_desc, &rep);
	return found;
}

static char *
get(const char *key, uint64_t *modify, uint64_t *index)
{
	struct ipc_kv_read_reply rep;
	struct errbuf eb;
	char *v = NULL;

	memset(&rep, 0, sizeof(rep));
	assert_int_equal(fsm_kv_read(st, key, 0, 0, &rep, &eb), 0);
	if (index)
		*index = rep.index;
	if (rep.rows.n == 1) {
		struct ipc_kv_row *r = rep.rows.v;

		v = strndup((char *)r->value.p, r->value.n);
		if (modify)
			*modify = r->modify_index;
		assert_string_equal(r->key, key);
	}
	cdc_free(&ipc_kv_read_reply_desc, &rep);
	return v;
}

static void
test_set_get_and_indexes(void **state)
{
	struct ipc_raft_result r;
	uint64_t mi, ti;
	char *v;

	(void)state;
	assert_null(get("a", NULL, &ti));
	assert_int_equal(ti, 1); /* never 0 */
	r = apply(RAFT_OP_KV_SET, "a", "1", 0, 0, 0);
	assert_true(r.ok);
	assert_int_equal(r.index, 1);
	r = apply(RAFT_OP_KV_SET, "a", "2", 0, 0, 0);
	v = get("a", &mi, &ti);
	assert_string_equal(v, "2");
	free(v);
	assert_int_equal(mi, 2);
	assert_int_equal(ti, 2);
}

static void
test_cas(void **state)
{
	struct ipc_raft_result r;
	uint64_t mi;
	char *v;

	(void)state;
	/* cas 0: only if absent */
	assert_true(apply(RAFT_OP_KV_CAS, "k", "new", 0, 0, 0).ok);
	assert_false(apply(RAFT_OP_KV_CAS, "k", "again", 0, 0, 0).ok);
	v = get("k", &mi, NULL);
	assert_string_equal(v, "new");
	free(v);
	assert_false(apply(RAFT_OP_KV_CAS, "k", "x", mi + 5, 0, 0).ok);
	r = apply(RAFT_OP_KV_CAS, "k", "y", mi, 0, 0);
	assert_true(r.ok);
	v = get("k", &mi, NULL);
	assert_string_equal(v, "y");
	free(v);
	assert_false(apply(RAFT_OP_KV_DELETE_CAS, "k", NULL, mi - 1, 0, 0).ok);
	assert_true(apply(RAFT_OP_KV_DELETE_CAS, "k", NULL, mi, 0, 0).ok);
	/* nothing to delete: true (Consul) */
	assert_true(apply(RAFT_OP_KV_DELETE_CAS, "k", NULL, 5, 0, 0).ok);
	assert_null(get("k", NULL, NULL));
}

static void
test_delete_and_tree(void **state)
{
	struct ipc_kv_read_reply rep;
	struct errbuf eb;

	(void)state;
	apply(RAFT_OP_KV_SET, "web/1", "a", 0, 0, 0);
	apply(RAFT_OP_KV_SET, "web/2", "b", 0, 0, 0);
	apply(RAFT_OP_KV_SET, "webby", "c", 0, 0, 0);
	apply(RAFT_OP_KV_SET, "db/1", "d", 0, 0, 0);
	memset(&rep, 0, sizeof(rep));
	assert_int_equal(fsm_kv_read(st, "web", 1, 0, &rep, &eb), 0);
	assert_int_equal(rep.rows.n, 3);
	cdc_free(&ipc_kv_read_reply_desc, &rep);
	memset(&rep, 0, sizeof(rep));
	assert_int_equal(fsm_kv_read(st, "", 1, 2, &rep, &eb), 0);
	assert_int_equal(rep.rows.n, 2); /* max_rows */
	cdc_free(&ipc_kv_read_reply_desc, &rep);
	assert_true(apply(RAFT_OP_KV_DELETE_TREE, "web/", NULL, 0, 0, 0).ok);
	memset(&rep, 0, sizeof(rep));
	assert_int_equal(fsm_kv_read(st, "web", 1, 0, &rep, &eb), 0);
	assert_int_equal(rep.rows.n, 1); /* webby stays */
	cdc_free(&ipc_kv_read_reply_desc, &rep);
	assert_true(apply(RAFT_OP_KV_DELETE, "db/1", NULL, 0, 0, 0).ok);
	/* deleting what is absent still succeeds and moves the index */
	assert_true(apply(RAFT_OP_KV_DELETE, "nope", NULL, 0, 0, 0).ok);
	assert_null(get("db/1", NULL, NULL));
}

static void
test_idempotent_resend(void **state)
{
	struct ipc_raft_result r1, r2, r3;
	uint64_t mi;
	char *v;

	(void)state;
	r1 = apply(RAFT_OP_KV_SET, "ctr", "1", 0, 77, 1);
	/* the same (client, seq) resent after a leader change: not applied
	 * again, answered with the first result */
	r2 = apply(RAFT_OP_KV_SET, "ctr", "1-resent", 0, 77, 1);
	assert_int_equal(r2.index, r1.index);
	v = get("ctr", &mi, NULL);
	assert_string_equal(v, "1");
	free(v);
	assert_int_equal(mi, r1.index);
	r3 = apply(RAFT_OP_KV_SET, "ctr", "2", 0, 77, 2);
	assert_true(r3.index > r1.index);
	v = get("ctr", NULL, NULL);
	assert_string_equal(v, "2");
	free(v);
	/* an older seq is not applied either */
	apply(RAFT_OP_KV_SET, "ctr", "old", 0, 77, 1);
	v = get("ctr", NULL, NULL);
	assert_string_equal(v, "2");
	free(v);
}

static int
count_one(void *arg, const void *k, size_t klen, const void *v, size_t vlen)
{
	(void)k;
	(void)klen;
	(void)v;
	(void)vlen;
	(*(int *)arg)++;
	return 0;
}

/* records in the dedup table */
static int
count_dedup(void)
{
	struct store_read *rd;
	int n = 0;

	assert_int_equal(store_state_read_begin(st, &rd), 0);
	assert_int_equal(store_state_read_iterate(rd, "dedup", "", 0,
			     count_one, &n), 0);
	store_state_read_end(rd);
	return n;
}

/* one client's commands in flight at once apply out of seq order: a
 * command first seen after a higher seq applied is applied (it is not
 * taken for a duplicate and answered with someone else's result); resent
 * ones keep their own first result; beyond the window the outcome is
 * reported unknown, never as done */
static void
test_dedup_out_of_order(void **state)
{
	struct ipc_raft_result r5, r6, r;
	uint64_t i;
	char *v;

	(void)state;
	r6 = apply(RAFT_OP_KV_SET, "b", "6", 0, 91, 6);
	r5 = apply(RAFT_OP_KV_SET, "a", "5", 0, 91, 5);
	assert_true(r5.ok);
	assert_true(r5.index > r6.index);
	v = get("a", NULL, NULL);
	assert_non_null(v);
	assert_string_equal(v, "5");
	free(v);
	/* resent: each answered with its own first result */
	r = apply(RAFT_OP_KV_SET, "a", "5-again", 0, 91, 5);
	assert_int_equal(r.index, r5.index);
	r = apply(RAFT_OP_KV_SET, "b", "6-again", 0, 91, 6);
	assert_int_equal(r.index, r6.index);
	v = get("a", NULL, NULL);
	assert_string_equal(v, "5");
	free(v);
	/* a thousand and more later, seq 5's record is gone and seq 4 (never
	 * seen) can no longer be told apart from an applied one */
	for (i = 7; i < 7 + 1030; i++)
		apply(RAFT_OP_KV_SET, "c", "x", 0, 91, i);
	r = apply(RAFT_OP_KV_SET, "a", "4", 0, 91, 4);
	assert_false(r.ok);
	assert_int_equal(r.err, RAFT_ERR_UNKNOWN);
	r = apply(RAFT_OP_KV_SET, "a", "5-late", 0, 91, 5);
	assert_int_equal(r.err, RAFT_ERR_UNKNOWN);
	v = get("a", NULL, NULL);
	assert_string_equal(v, "5");
	free(v);
	/* the newest is still a duplicate, and one within the window that
	 * never came is applied */
	r = apply(RAFT_OP_KV_SET, "c", "y", 0, 91, 7 + 1029);
	assert_true(r.ok);
	v = get("c", NULL, NULL);
	assert_string_equal(v, "x");
	free(v);
	r = apply(RAFT_OP_KV_SET, "d", "late", 0, 91, 7 + 1030 + 5);
	assert_true(r.ok);
	r = apply(RAFT_OP_KV_SET, "e", "gap", 0, 91, 7 + 1030 + 2);
	assert_true(r.ok);
	v = get("e", NULL, NULL);
	assert_string_equal(v, "gap");
	free(v);

	/* client 92 writes now and then; client 91 goes quiet for good.  At
	 * the first multiple of 4096 past 2^17 idle entries, 91's records
	 * (1 + 1024 of them) are dropped: its latest seq, resent, would now
	 * apply as new.  92's are kept. */
	apply(RAFT_OP_KV_SET, "f", "92", 0, 92, 1);
	next_index = (1u << 17) + 8192 - 2;
	r6 = apply(RAFT_OP_KV_SET, "f", "92-2", 0, 92, 2);
	r = apply(RAFT_OP_KV_SET, "f", "92-2-again", 0, 92, 2);
	assert_int_equal(r.index, r6.index); /* its first result */
	assert_int_equal(count_dedup(), (1 + 1024) + (1 + 2));
	r = apply(RAFT_OP_KV_SET, "g", "92", 0, 92, 3); /* at 2^17 + 8192 */
	assert_int_equal(r.index % 4096, 0);
	assert_int_equal(count_dedup(), 1 + 3);
	r = apply(RAFT_OP_KV_SET, "c", "91-late", 0, 91, 7 + 1030 + 5);
	assert_true(r.ok);
	v = get("c", NULL, NULL);
	assert_string_equal(v, "91-late");
	free(v);
}

static void
test_bad_commands_are_skipped(void **state)
{
	struct ipc_raft_result res[3];
	struct raft_entry e[3];
	struct errbuf eb;
	uint64_t applied;
	char longkey[600];

	(void)state;
	memset(e, 0, sizeof(e));
	e[0].index = next_index++;
	e[0].term = 1;
	e[0].type = RAFT_ENTRY_COMMAND;
	e[0].data = (uint8_t *)"\xff\xff\xff";
	e[0].len = 3;
	e[1].index = next_index++;
	e[1].term = 1;
	e[1].type = RAFT_ENTRY_NOOP;
	e[2].index = next_index++;
	e[2].term = 1;
	e[2].type = RAFT_ENTRY_CONFIG;
	assert_int_equal(fsm_apply(st, e, 3, res, NULL, &eb), 0);
	assert_false(res[0].ok);
	assert_int_equal(store_state_applied(st, &applied), 0);
	assert_int_equal(applied, e[2].index);
	memset(longkey, 'k', sizeof(longkey) - 1);
	longkey[sizeof(longkey) - 1] = '\0';
	assert_false(apply(RAFT_OP_KV_SET, longkey, "v", 0, 0, 0).ok);
	assert_false(apply(RAFT_OP_KV_SET, "", "v", 0, 0, 0).ok);
	assert_false(apply(99, "k", "v", 0, 0, 0).ok);
}

#define S1 "11111111-1111-1111-1111-111111111111"
#define S2 "22222222-2222-2222-2222-222222222222"

static void
test_locks(void **state)
{
	struct ipc_raft_result r;
	struct ipc_kv_row kr;

	(void)state;
	session_create(S1, "release", 15000000000ull);
	session_create(S2, "release", 0);
	r = lock_op(RAFT_OP_KV_LOCK, "svc/leader", "me", S1);
	assert_true(r.ok);
	assert_true(row("svc/leader", &kr));
	assert_int_equal(kr.lock_index, 1);
	assert_string_equal(kr.session, S1);
	cdc_free(&ipc_kv_row_desc, &kr);
	/* another session cannot take it; the holder may re-acquire
	 * without the lock index moving */
	r = lock_op(RAFT_OP_KV_LOCK, "svc/leader", "you", S2);
	assert_false(r.ok);
	assert_int_equal(r.err, RAFT_ERR_FAILED);
	assert_true(lock_op(RAFT_OP_KV_LOCK, "svc/leader", "me2", S1).ok);
	assert_true(row("svc/leader", &kr));
	assert_int_equal(kr.lock_index, 1);
	assert_memory_equal(kr.value.p, "me2", 3);
	cdc_free(&ipc_kv_row_desc, &kr);
	/* only the holder releases */
	assert_false(lock_op(RAFT_OP_KV_UNLOCK, "svc/leader", "x", S2).ok);
	assert_true(lock_op(RAFT_OP_KV_UNLOCK, "svc/leader", "x", S1).ok);
	assert_true(row("svc/leader", &kr));
	assert_null(kr.session);
	assert_int_equal(kr.lock_index, 1);
	cdc_free(&ipc_kv_row_desc, &kr);
	/* a new holder: the fencing token rises */
	assert_true(lock_op(RAFT_OP_KV_LOCK, "svc/leader", "you", S2).ok);
	assert_true(row("svc/leader", &kr));
	assert_int_equal(kr.lock_index, 2);
	assert_string_equal(kr.session, S2);
	cdc_free(&ipc_kv_row_desc, &kr);
	/* a plain write keeps the lock */
	assert_true(apply(RAFT_OP_KV_SET, "svc/leader", "plain", 0, 0, 0).ok);
	assert_true(row("svc/leader", &kr));
	assert_string_equal(kr.session, S2);
	cdc_free(&ipc_kv_row_desc, &kr);
	/* unknown session */
	r = lock_op(RAFT_OP_KV_LOCK, "other", "v",
	    "99999999-9999-9999-9999-999999999999");
	assert_false(r.ok);
	assert_int_equal(r.err, RAFT_ERR_NO_SESSION);
	assert_false(row("other", &kr));
}

static void
test_session_invalidation(void **state)
{
	struct ipc_session_read_reply sr;
	struct ipc_raft_cmd c;
	struct ipc_raft_result r;
	struct fsm_effects fx;
	struct ipc_kv_row kr;
	struct errbuf eb;
	size_t i;
	bool delay_seen = false;

	(void)state;
	session_create(S1, "release", 15000000000ull);
	session_create(S2, "delete", 0);
	assert_true(lock_op(RAFT_OP_KV_LOCK, "a", "1", S1).ok);
	assert_true(lock_op(RAFT_OP_KV_LOCK, "b", "2", S1).ok);
	assert_true(lock_op(RAFT_OP_KV_LOCK, "c", "3", S2).ok);
	/* a held key deleted meanwhile is fine */
	assert_true(apply(RAFT_OP_KV_DELETE, "b", NULL, 0, 0, 0).ok);

	memset(&sr, 0, sizeof(sr));
	assert_int_equal(fsm_session_read(st, NULL, "n1", &sr, &eb), 0);
	assert_int_equal(sr.sessions.n, 2);
	cdc_free(&ipc_session_read_reply_desc, &sr);

	memset(&fx, 0, sizeof(fx));
	memset(&c, 0, sizeof(c));
	c.op = RAFT_OP_SESSION_DESTROY;
	c.session = (char *)S1;
	r = apply_full(&c, &fx);
	assert_true(r.ok);
	for (i = 0; i < fx.nsessions; i++)
		if (fx.sessions[i].key &&
		    strcmp(fx.sessions[i].key, "a") == 0) {
			assert_int_equal(fx.sessions[i].lock_delay,
			    15000000000ull);
			delay_seen = true;
		}
	assert_true(delay_seen);
	fsm_effects_free(&fx);
	/* behavior release: the key stays, unlocked, LockIndex kept */
	assert_true(row("a", &kr));
	assert_null(kr.session);
	assert_int_equal(kr.lock_index, 1);
	assert_int_equal(kr.modify_index, next_index - 1);
	cdc_free(&ipc_kv_row_desc, &kr);
	/* behavior delete: the key is gone */
	c.session = (char *)S2;
	assert_true(apply_full(&c, NULL).ok);
	assert_false(row("c", &kr));
	/* destroying again is fine; the sessions are gone */
	assert_true(apply_full(&c, NULL).ok);
	memset(&sr, 0, sizeof(sr));
	assert_int_equal(fsm_session_read(st, NULL, NULL, &sr, &eb), 0);
	assert_int_equal(sr.sessions.n, 0);
	assert_true(sr.index > 1);
	cdc_free(&ipc_session_read_reply_desc, &sr);
	/* a destroyed session cannot lock */
	assert_false(lock_op(RAFT_OP_KV_LOCK, "a", "1", S1).ok);
}

static struct ipc_txn_op
txop(const char *verb, const char *key, const char *val, uint64_t index)
{
	struct ipc_txn_op o;

	memset(&o, 0, sizeof(o));
	o.verb = (char *)verb;
	o.key = (char *)key;
	o.value.p = (uint8_t *)val;
	o.value.n = val ? strlen(val) : 0;
	o.index = index;
	return o;
}

static void
test_txn(void **state)
{
	struct errbuf eb2;
	struct ipc_txn_op ops[4];
	struct ipc_raft_cmd c;
	struct ipc_raft_result r;
	struct ipc_kv_row kr, *rows;
	struct ipc_txn_error *errs;

	(void)state;
	apply(RAFT_OP_KV_SET, "x", "old", 0, 0, 0);
	memset(&c, 0, sizeof(c));
	c.op = RAFT_OP_TXN;
	ops[0] = txop("set", "t/a", "1", 0);
	ops[1] = txop("cas", "t/b", "2", 0);
	ops[2] = txop("get", "x", NULL, 0);
	ops[3] = txop("delete", "nothing", NULL, 0);
	c.ops.v = ops;
	c.ops.n = 4;
	r = apply_full(&c, NULL);
	assert_true(r.ok);
	assert_int_equal(r.rows.n, 3);
	rows = r.rows.v;
	assert_string_equal(rows[0].key, "t/a");
	assert_int_equal(rows[0].value.n, 0); /* writes: no value */
	assert_string_equal(rows[2].key, "x");
	assert_memory_equal(rows[2].value.p, "old", 3);
	cdc_free(&ipc_raft_result_desc, &r);

	/* all or nothing: a stale cas undoes the set before it */
	ops[0] = txop("set", "t/c", "3", 0);
	ops[1] = txop("cas", "t/a", "9", 1);
	ops[2] = txop("bogus", "t/a", NULL, 0);
	c.ops.n = 3;
	r = apply_full(&c, NULL);
	assert_false(r.ok);
	assert_int_equal(r.err, RAFT_ERR_TXN);
	assert_int_equal(r.rows.n, 0);
	assert_int_equal(r.errors.n, 2);
	errs = r.errors.v;
	assert_int_equal(errs[0].op_index, 1);
	assert_non_null(strstr(errs[0].what, "index is stale"));
	assert_int_equal(errs[1].op_index, 2);
	cdc_free(&ipc_raft_result_desc, &r);
	assert_false(row("t/c", &kr));
	assert_true(row("t/a", &kr));
	assert_memory_equal(kr.value.p, "1", 1);
	cdc_free(&ipc_kv_row_desc, &kr);

	/* the same reads without the log (fsm_txn_read): same answers,
	 * nothing applied */
	{
		struct ipc_raft_result rr;
		struct ipc_txn_op ro[3];
		struct cdc_list l = {ro, 3};
		uint64_t before, after;

		ro[0] = txop("get", "t/a", NULL, 0);
		ro[1] = txop("get-tree", "t/", NULL, 0);
		ro[2] = txop("check-not-exists", "t/zz", NULL, 0);
		assert_true(fsm_txn_read_only(&l));
		assert_int_equal(store_state_applied(st, &before), 0);
		memset(&rr, 0, sizeof(rr));
		assert_int_equal(fsm_txn_read(st, &l, &rr, &eb2), 0);
		assert_true(rr.ok);
		assert_int_equal(rr.rows.n, 3);
		cdc_free(&ipc_raft_result_desc, &rr);
		ro[2] = txop("check-not-exists", "t/a", NULL, 0);
		memset(&rr, 0, sizeof(rr));
		assert_int_equal(fsm_txn_read(st, &l, &rr, &eb2), 0);
		assert_false(rr.ok);
		assert_int_equal(rr.rows.n, 0);
		assert_int_equal(rr.errors.n, 1);
		cdc_free(&ipc_raft_result_desc, &rr);
		assert_int_equal(store_state_applied(st, &after), 0);
		assert_int_equal(before, after);
		ro[0] = txop("set", "t/a", "x", 0);
		assert_false(fsm_txn_read_only(&l));
	}

	/* get-tree and checks; a resent txn gets its first results */
	ops[0] = txop("get-tree", "t/", NULL, 0);
	ops[1] = txop("check-not-exists", "t/zz", NULL, 0);
	c.ops.n = 2;
	c.client_id = 5;
	c.seq = 1;
	r = apply_full(&c, NULL);
	assert_true(r.ok);
	assert_int_equal(r.rows.n, 2);
	cdc_free(&ipc_raft_result_desc, &r);
	r = apply_full(&c, NULL);
	assert_true(r.ok);
	assert_int_equal(r.rows.n, 2);
	cdc_free(&ipc_raft_result_desc, &r);
}

static void
test_catalog_and_sessions(void **state)
{
	struct ipc_raft_result r;
	struct ipc_catalog_reply cat;
	struct ipc_session_read_reply sr;
	struct ipc_raft_cmd c;
	struct ipc_kv_row kr;
	struct errbuf eb;

	(void)state;
	/* unknown node; registered node with a critical check */
	r = session_try(S1, "n9", "serfHealth");
	assert_false(r.ok);
	assert_int_equal(r.err, RAFT_ERR_NO_NODE);
	cdc_free(&ipc_raft_result_desc, &r);
	assert_true(register_node("n9", "critical").ok);
	r = session_try(S1, "n9", "serfHealth");
	assert_int_equal(r.err, RAFT_ERR_CHECK_CRITICAL);
	assert_int_equal(r.errors.n, 1);
	assert_string_equal(((struct ipc_txn_error *)r.errors.v)->what,
	    "Check 'serfHealth' is in critical state");
	cdc_free(&ipc_raft_result_desc, &r);
	r = session_try(S1, "n9", "nocheck");
	assert_int_equal(r.err, RAFT_ERR_CHECK_CRITICAL);
	cdc_free(&ipc_raft_result_desc, &r);
	/* passing: a session can bind to it; critical invalidates it and
	 * frees its lock */
	assert_true(register_node("n9", "passing").ok);
	r = session_try(S1, "n9", "serfHealth");
	assert_true(r.ok);
	r = session_try(S2, "n9", NULL); /* bound to no check */
	assert_true(r.ok);
	assert_true(lock_op(RAFT_OP_KV_LOCK, "held", "x", S1).ok);
	assert_true(register_node("n9", "critical").ok);
	assert_true(row("held", &kr));
	assert_null(kr.session);
	cdc_free(&ipc_kv_row_desc, &kr);
	memset(&sr, 0, sizeof(sr));
	assert_int_equal(fsm_session_read(st, NULL, "n9", &sr, &eb), 0);
	assert_int_equal(sr.sessions.n, 1); /* S2 survives */
	cdc_free(&ipc_session_read_reply_desc, &sr);
	/* reads */
	memset(&cat, 0, sizeof(cat));
	assert_int_equal(fsm_catalog_read(st, "nodes", NULL, NULL, &cat, &eb), 0);
	assert_int_equal(cat.nodes.n, 1);
	assert_int_equal(fsm_catalog_read(st, "checks", "n9", NULL, &cat, &eb), 0);
	assert_int_equal(cat.checks.n, 1);
	assert_string_equal(((struct ipc_check *)cat.checks.v)->status,
	    "critical");
	cdc_free(&ipc_catalog_reply_desc, &cat);
	/* an unchanged registration writes nothing */
	memset(&cat, 0, sizeof(cat));
	assert_int_equal(fsm_catalog_read(st, "nodes", "n9", NULL, &cat, &eb), 0);
	{
		uint64_t before = ((struct ipc_node *)cat.nodes.v)->modify_index;

		cdc_free(&ipc_catalog_reply_desc, &cat);
		assert_true(register_node("n9", "critical").ok);
		memset(&cat, 0, sizeof(cat));
		assert_int_equal(fsm_catalog_read(st, "nodes", "n9", NULL, &cat, &eb),
		    0);
		assert_int_equal(((struct ipc_node *)cat.nodes.v)->modify_index,
		    before);
		cdc_free(&ipc_catalog_reply_desc, &cat);
	}
	/* deregistering the node takes its checks and sessions */
	memset(&c, 0, sizeof(c));
	c.op = RAFT_OP_CATALOG_DEREGISTER;
	c.key = (char *)"n9";
	assert_true(apply_full(&c, NULL).ok);
	memset(&sr, 0, sizeof(sr));
	assert_int_equal(fsm_session_read(st, NULL, "n9", &sr, &eb), 0);
	assert_int_equal(sr.sessions.n, 0);
	cdc_free(&ipc_session_read_reply_desc, &sr);
	memset(&cat, 0, sizeof(cat));
	assert_int_equal(fsm_catalog_read(st, "checks", NULL, NULL, &cat, &eb), 0);
	assert_int_equal(cat.checks.n, 0);
	assert_int_equal(fsm_catalog_read(st, "nodes", NULL, NULL, &cat, &eb), 0);
	assert_int_equal(cat.nodes.n, 0);
	cdc_free(&ipc_catalog_reply_desc, &cat);
}

static void
test_catalog_services(void **state)
{
	struct ipc_raft_cmd c;
	struct ipc_raft_result r;
	struct ipc_catalog_reply cat;
	struct ipc_check chk;
	struct errbuf eb;
	char *tags[] = {(char *)"primary", (char *)"v1"};

	(void)state;
	memset(&c, 0, sizeof(c));
	c.op = RAFT_OP_CATALOG_REGISTER;
	c.cnode.node = (char *)"web1";
	c.cnode.address = (char *)"10.0.0.5";
	c.csvc.service = (char *)"redis";
	c.csvc.tags.v = tags;
	c.csvc.tags.n = 2;
	c.csvc.port = 6379;
	memset(&chk, 0, sizeof(chk));
	chk.check_id = (char *)"service:redis";
	chk.name = (char *)"redis alive";
	chk.status = (char *)"passing";
	chk.service_id = (char *)"redis";
	c.cchecks.v = &chk;
	c.cchecks.n = 1;
	r = apply_full(&c, NULL);
	assert_true(r.ok);
	/* a check for an unknown service is refused, nothing written */
	chk.check_id = (char *)"service:nope";
	chk.service_id = (char *)"nope";
	r = apply_full(&c, NULL);
	assert_false(r.ok);
	assert_int_equal(r.err, RAFT_ERR_INVALID);
	assert_non_null(strstr(((struct ipc_txn_error *)r.errors.v)->what,
	    "Unknown service ID"));
	cdc_free(&ipc_raft_result_desc, &r);

	memset(&cat, 0, sizeof(cat));
	assert_int_equal(fsm_catalog_read(st, "service", NULL, "redis", &cat,
			     &eb),
	    0);
	assert_int_equal(cat.services.n, 1);
	assert_int_equal(cat.nodes.n, 1);
	assert_int_equal(cat.checks.n, 1);
	{
		const struct ipc_service *sv = cat.services.v;
		const struct ipc_check *ck = cat.checks.v;

		assert_string_equal(sv->id, "redis"); /* defaults to name */
		assert_int_equal(sv->port, 6379);
		assert_string_equal(ck->service_name, "redis");
		assert_int_equal(ck->service_tags.n, 2);
	}
	cdc_free(&ipc_catalog_reply_desc, &cat);
	/* "all": the whole catalog in one read (dnsd's mirror) */
	memset(&cat, 0, sizeof(cat));
	assert_int_equal(fsm_catalog_read(st, "all", NULL, NULL, &cat, &eb),
	    0);
	assert_int_equal(cat.nodes.n, 1);
	assert_int_equal(cat.services.n, 1);
	assert_int_equal(cat.checks.n, 1);
	assert_true(cat.index >= 1);
	cdc_free(&ipc_catalog_reply_desc, &cat);
	/* deregister the service: its check goes too */
	memset(&c, 0, sizeof(c));
	c.op = RAFT_OP_CATALOG_DEREGISTER;
	c.key = (char *)"web1";
	c.csvc.id = (char *)"redis";
	assert_true(apply_full(&c, NULL).ok);
	memset(&cat, 0, sizeof(cat));
	assert_int_equal(fsm_catalog_read(st, "checks", "web1", NULL, &cat,
			     &eb),
	    0);
	assert_int_equal(cat.checks.n, 0);
	assert_int_equal(fsm_catalog_read(st, "services", NULL, NULL, &cat,
			     &eb),
	    0);
	assert_int_equal(cat.services.n, 0);
	assert_int_equal(fsm_catalog_read(st, "nodes", "web1", NULL, &cat,
			     &eb),
	    0);
	assert_int_equal(cat.nodes.n, 1); /* the node stays */
	cdc_free(&ipc_catalog_reply_desc, &cat);
}

/* ------------------------------------------------------------ restore */

/* an entry for c at index idx (data in b, freed by the caller) */
static struct raft_entry
entry_of(const struct ipc_raft_cmd *c, uint64_t idx, struct buf *b)
{
	struct raft_entry e;

	fsm_encode_cmd(c, b);
	memset(&e, 0, sizeof(e));
	e.term = 1;
	e.index = idx;
	e.type = RAFT_ENTRY_COMMAND;
	e.data = b->data;
	e.len = b->len;
	return e;
}

/* read_file - the whole file into b */
static void
read_file(const char *path, struct buf *b)
{
	char chunk[65536];
	ssize_t k;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	while ((k = read(fd, chunk, sizeof(chunk))) > 0)
		buf_put(b, chunk, (size_t)k);
	close(fd);
}

/* other_state - a state file from another "cluster" whose rows carry
 * indexes far past this log (up to 1000): keys a, b and a session */
static void
other_state(const char *path)
{
	char odir[64], cmd[128];
	struct store *o;
	struct errbuf eb;
	struct raft_entry e;
	struct ipc_raft_cmd c;
	struct ipc_raft_result res;
	struct buf b = BUF_INIT;
	uint64_t applied;

	snprintf(odir, sizeof(odir), "/tmp/cairn-fsmo.XXXXXX");
	assert_non_null(mkdtemp(odir));
	assert_int_equal(store_open(&o, odir, NULL, &eb), 0);
	memset(&c, 0, sizeof(c));
	c.op = RAFT_OP_KV_SET;
	c.key = (char *)"a";
	c.value.p = (uint8_t *)"old-a";
	c.value.n = 5;
	e = entry_of(&c, 998, &b);
	assert_int_equal(fsm_apply(o, &e, 1, &res, NULL, &eb), 0);
	cdc_free(&ipc_raft_result_desc, &res);
	buf_reset(&b);
	c.key = (char *)"b";
	e = entry_of(&c, 1000, &b);
	assert_int_equal(fsm_apply(o, &e, 1, &res, NULL, &eb), 0);
	cdc_free(&ipc_raft_result_desc, &res);
	buf_free(&b);
	assert_int_equal(store_state_snapshot(o, path, &applied, &eb), 0);
	assert_int_equal(applied, 1000);
	store_close(o);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", odir);
	assert_int_equal(system(cmd), 0);
}

/* stage_upload - RESTORE_CHUNK entries for file (in chunks of csz) as the
 * next entries; returns the RESTORE command's entry data in rb */
static struct raft_entry
stage_upload(const struct buf *file, size_t csz, const char *id, bool bad,
    struct buf *rb, uint8_t sha[32])
{
	struct ipc_raft_cmd c;
	struct ipc_raft_result res;
	size_t off;
	unsigned len = 32;

	EVP_Digest(file->data, file->len, sha, &len, EVP_sha256(), NULL);
	for (off = 0; off < file->len; off += csz) {
		memset(&c, 0, sizeof(c));
		c.op = RAFT_OP_RESTORE_CHUNK;
		c.key = (char *)id;
		c.cas = off;
		c.value.p = file->data + off;
		c.value.n = file->len - off < csz ? file->len - off : csz;
		res = apply_full(&c, NULL);
		assert_true(res.ok);
		cdc_free(&ipc_raft_result_desc, &res);
	}
	memset(&c, 0, sizeof(c));
	c.op = RAFT_OP_RESTORE;
	c.key = (char *)id;
	c.cas = file->len;
	if (bad)
		sha[0] ^= 1;
	c.value.p = sha;
	c.value.n = 32;
	return entry_of(&c, next_index++, rb);
}

static void
test_restore(void **state)
{
	char path[128], staged[128];
	struct buf file = BUF_INIT, rb = BUF_INIT;
	struct ipc_kv_read_reply kr;
	struct ipc_raft_result res;
	struct fsm_effects fx;
	struct raft_entry e;
	struct errbuf eb;
	uint8_t sha[32];
	bool all = false;
	size_t i;

	(void)state;
	snprintf(path, sizeof(path), "%s/other.mdb", dir);
	snprintf(staged, sizeof(staged), "%s/restore.mdb", dir);
	other_state(path);
	read_file(path, &file);
	res = apply(RAFT_OP_KV_SET, "mine", "x", 0, 0, 0);
	cdc_free(&ipc_raft_result_desc, &res);

	/* a RESTORE whose chunks do not match: nothing is swapped, the
	 * entry fails, the staged chunks are dropped */
	e = stage_upload(&file, 7000, "r1", true, &rb, sha);
	assert_int_equal(fsm_entry_op(&e), RAFT_OP_RESTORE);
	assert_int_equal(fsm_restore_stage(st, &e, staged, &eb), 0);
	assert_int_equal(fsm_apply(st, &e, 1, &res, NULL, &eb), 0);
	assert_false(res.ok);
	assert_int_equal(res.err, RAFT_ERR_RESTORE);
	cdc_free(&ipc_raft_result_desc, &res);
	buf_reset(&rb);
	memset(&kr, 0, sizeof(kr));
	assert_int_equal(fsm_kv_read(st, "mine", 0, 0, &kr, &eb), 0);
	assert_int_equal(kr.rows.n, 1);
	cdc_free(&ipc_kv_read_reply_desc, &kr);

	/* a whole upload: swapped in, then a "crash" before the entry is
	 * applied; staging again finds it done, the apply finishes it */
	e = stage_upload(&file, 7000, "r2", false, &rb, sha);
	assert_int_equal(fsm_restore_stage(st, &e, staged, &eb), 1);
	{
		/* the log a node would have: a snapshot before the entry,
		 * then the entry (store_open checks they agree) */
		struct store_snapshot ss = {e.index - 1, 1, NULL, 0};
		struct store_batch sb;

		memset(&sb, 0, sizeof(sb));
		sb.set_hard_state = true;
		sb.term = 1;
		sb.vote = RAFT_NONE;
		sb.snapshot = &ss;
		sb.truncate_from = 1;
		assert_int_equal(store_save(st, &sb, &eb), 0);
		memset(&sb, 0, sizeof(sb));
		sb.truncate_from = e.index;
		sb.entries = &e;
		sb.n_entries = 1;
		assert_int_equal(store_save(st, &sb, &eb), 0);
	}
	store_close(st);
	assert_int_equal(store_open(&st, dir, NULL, &eb), 0);
	assert_int_equal(fsm_restore_stage(st, &e, staged, &eb), 0);
	memset(&fx, 0, sizeof(fx));
	assert_int_equal(fsm_apply(st, &e, 1, &res, &fx, &eb), 0);
	assert_true(res.ok);
	assert_int_equal(res.index, e.index);
	cdc_free(&ipc_raft_result_desc, &res);
	for (i = 0; i < fx.nchanges; i++)
		if (strcmp(fx.changes[i].table, FSM_TABLE_ALL) == 0)
			all = true;
	assert_true(all);
	fsm_effects_free(&fx);

	/* the other cluster's rows, their indexes clamped to the restore's,
	 * and the kv index there too; this log's own key is gone */
	memset(&kr, 0, sizeof(kr));
	assert_int_equal(fsm_kv_read(st, "", 1, 0, &kr, &eb), 0);
	assert_int_equal(kr.rows.n, 2);
	for (i = 0; i < kr.rows.n; i++) {
		const struct ipc_kv_row *row =
		    (const struct ipc_kv_row *)kr.rows.v + i;

		assert_true(row->modify_index <= e.index);
		assert_true(row->create_index <= e.index);
		assert_memory_equal(row->value.p, "old-a", 5);
	}
	assert_int_equal(kr.index, e.index);
	cdc_free(&ipc_kv_read_reply_desc, &kr);
	/* and writes go on from there */
	next_index = e.index + 1;
	res = apply(RAFT_OP_KV_SET, "new", "y", 0, 0, 0);
	assert_true(res.ok);
	cdc_free(&ipc_raft_result_desc, &res);
	memset(&kr, 0, sizeof(kr));
	assert_int_equal(fsm_kv_read(st, "new", 0, 0, &kr, &eb), 0);
	assert_int_equal(kr.index, e.index + 1);
	cdc_free(&ipc_kv_read_reply_desc, &kr);

	/* a "state" that is not one: refused on every server alike */
	buf_reset(&rb);
	buf_reset(&file);
	buf_put(&file, "this is not an LMDB file at all", 31);
	e = stage_upload(&file, 10, "r3", false, &rb, sha);
	assert_int_equal(fsm_restore_stage(st, &e, staged, &eb), 0);
	assert_int_equal(fsm_apply(st, &e, 1, &res, NULL, &eb), 0);
	assert_int_equal(res.err, RAFT_ERR_RESTORE);
	cdc_free(&ipc_raft_result_desc, &res);
	memset(&kr, 0, sizeof(kr));
	assert_int_equal(fsm_kv_read(st, "new", 0, 0, &kr, &eb), 0);
	assert_int_equal(kr.rows.n, 1);
	cdc_free(&ipc_kv_read_reply_desc, &kr);
	buf_free(&rb);
	buf_free(&file);
}

/* ---------------------------------------------------- prepared queries */

#define S_UNKNOWN "11111111-2222-3333-4444-555555555555"
#define S_BOUND "66666666-2222-3333-4444-555555555555"

static struct ipc_raft_result
query_op(uint32_t op, const char *id, const char *name, const char *svc,
    const char *session, bool update)
{
	struct ipc_raft_cmd c;

	memset(&c, 0, sizeof(c));
	c.op = op;
	c.key = (char *)id;
	c.cas = update ? 1 : 0;
	c.pquery.id = (char *)id;
	c.pquery.name = (char *)name;
	c.pquery.service = (char *)svc;
	c.pquery.session = (char *)session;
	if (name != NULL && name[strlen(name) - 1] == '-')
		c.pquery.template_type = (char *)"name_prefix_match";
	return apply_full(&c, NULL);
}

static void
test_prepared_queries(void **state)
{
	struct ipc_query_list l;
	struct ipc_raft_result r;
	struct ipc_pquery q;
	struct errbuf eb;
	uint64_t idx, created;

	(void)state;
	r = query_op(RAFT_OP_QUERY_SET, "q-1", "web", "web", NULL, false);
	assert_true(r.ok);
	created = r.index;
	r = query_op(RAFT_OP_QUERY_SET, "q-2", "geo-", "x", NULL, false);
	assert_true(r.ok);
	/* a name belongs to one query */
	r = query_op(RAFT_OP_QUERY_SET, "q-3", "web", "other", NULL, false);
	assert_int_equal(r.err, RAFT_ERR_QUERY_NAME);
	/* an update must find its query; it keeps CreateIndex */
	r = query_op(RAFT_OP_QUERY_SET, "q-9", "nine", "x", NULL, true);
	assert_int_equal(r.err, RAFT_ERR_NOT_FOUND);
	r = query_op(RAFT_OP_QUERY_SET, "q-1", "web", "web2", NULL, true);
	assert_true(r.ok);
	memset(&l, 0, sizeof(l));
	assert_int_equal(fsm_query_read(st, "q-1", &l, &eb), 0);
	assert_int_equal(l.queries.n, 1);
	q = *(struct ipc_pquery *)l.queries.v;
	assert_string_equal(q.service, "web2");
	assert_int_equal(q.create_index, created);
	assert_int_equal(q.modify_index, r.index);
	assert_int_equal(l.index, r.index);
	cdc_free(&ipc_query_list_desc, &l);
	/* find: by name, by template prefix, or not at all */
	memset(&q, 0, sizeof(q));
	assert_int_equal(fsm_query_find(st, "web", &q, &idx, &eb), 0);
	assert_string_equal(q.id, "q-1");
	cdc_free(&ipc_pquery_desc, &q);
	assert_int_equal(fsm_query_find(st, "geo-db", &q, &idx, &eb), 0);
	assert_string_equal(q.id, "q-2");
	cdc_free(&ipc_pquery_desc, &q);
	assert_int_equal(fsm_query_find(st, "nothing", &q, &idx, &eb), -ENOENT);
	/* unknown session: refused; a bound query goes with its session */
	r = query_op(RAFT_OP_QUERY_SET, "q-4", "s", "s", S_UNKNOWN, false);
	assert_int_equal(r.err, RAFT_ERR_NO_SESSION);
	session_create(S_BOUND, "release", 0);
	r = query_op(RAFT_OP_QUERY_SET, "q-4", "s", "s", S_BOUND, false);
	assert_true(r.ok);
	memset(&r, 0, sizeof(r));
	{
		struct ipc_raft_cmd c;

		memset(&c, 0, sizeof(c));
		c.op = RAFT_OP_SESSION_DESTROY;
		c.session = (char *)S_BOUND;
		r = apply_full(&c, NULL);
		assert_true(r.ok);
	}
	memset(&l, 0, sizeof(l));
	assert_int_equal(fsm_query_read(st, "q-4", &l, &eb), 0);
	assert_int_equal(l.queries.n, 0);
	cdc_free(&ipc_query_list_desc, &l);
	/* delete, and delete again */
	r = query_op(RAFT_OP_QUERY_DELETE, "q-2", NULL, NULL, NULL, false);
	assert_true(r.ok);
	r = query_op(RAFT_OP_QUERY_DELETE, "q-2", NULL, NULL, NULL, false);
	assert_int_equal(r.err, RAFT_ERR_NOT_FOUND);
	memset(&l, 0, sizeof(l));
	assert_int_equal(fsm_query_read(st, NULL, &l, &eb), 0);
	assert_int_equal(l.queries.n, 1);
	cdc_free(&ipc_query_list_desc, &l);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_set_get_and_indexes, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(test_cas, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_delete_and_tree, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(test_idempotent_resend, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(test_dedup_out_of_order, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(test_bad_commands_are_skipped,
		setup, teardown),
	    cmocka_unit_test_setup_teardown(test_locks, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_session_invalidation, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(test_txn, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_catalog_and_sessions, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(test_catalog_services, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(test_restore, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_prepared_queries, setup,
		teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
