/* test_fsm.c - raftd's state machine on a real store: KV set, cas,
 * delete, delete-tree, idempotent resends, bad commands, reads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

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
	assert_int_equal(fsm_apply(st, &e, 1, &res, &eb), 0);
	buf_free(&b);
	return res;
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
	assert_int_equal(fsm_apply(st, e, 3, res, &eb), 0);
	assert_false(res[0].ok);
	assert_int_equal(store_state_applied(st, &applied), 0);
	assert_int_equal(applied, e[2].index);
	memset(longkey, 'k', sizeof(longkey) - 1);
	longkey[sizeof(longkey) - 1] = '\0';
	assert_false(apply(RAFT_OP_KV_SET, longkey, "v", 0, 0, 0).ok);
	assert_false(apply(RAFT_OP_KV_SET, "", "v", 0, 0, 0).ok);
	assert_false(apply(99, "k", "v", 0, 0, 0).ok);
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
	    cmocka_unit_test_setup_teardown(test_bad_commands_are_skipped,
		setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
