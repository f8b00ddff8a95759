/* test_rpc.c - raftd/rpc.c: round trips of every Raft message type, and
 * rejection of truncated, malformed and oversized input. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "codec.h"
#include "../../raftd/rpc.h"

/* ------------------------------------------------------------ helpers */

static void
set_config(struct raft_config *c, size_t n)
{
	size_t i;

	c->servers = calloc(n, sizeof(*c->servers));
	assert_non_null(c->servers);
	c->n = n;
	for (i = 0; i < n; i++) {
		c->servers[i].id = 100 + i;
		c->servers[i].suffrage = i % 2 ? RAFT_NONVOTER : RAFT_VOTER;
		c->servers[i].promote = i == 1;
		snprintf(c->servers[i].addr, RAFT_ADDR_LEN, "10.0.0.%zu:8300",
		    i + 1);
	}
}

/* set_entries - n entries after prev, with data of varying size (entry 0
 * has none, one is a configuration). */
static void
set_entries(struct raft_msg *m, size_t n, uint64_t prev)
{
	size_t i, k;

	m->entries = calloc(n, sizeof(*m->entries));
	assert_non_null(m->entries);
	m->n_entries = n;
	for (i = 0; i < n; i++) {
		struct raft_entry *e = &m->entries[i];

		e->index = prev + 1 + i;
		e->term = 7 + i / 2;
		e->type = (uint8_t)(1 + i % 3);
		if (e->type == RAFT_ENTRY_CONFIG) {
			struct raft_config c;
			struct buf b = BUF_INIT;

			set_config(&c, 3);
			raft_config_encode(&c, &b);
			raft_config_free(&c);
			e->data = buf_steal(&b, &e->len);
		} else if (i > 0) {
			e->len = i * 37;
			e->data = malloc(e->len);
			assert_non_null(e->data);
			for (k = 0; k < e->len; k++)
				e->data[k] = (uint8_t)(k * 13 + i);
		}
	}
}

static void
assert_msg_equal(const struct raft_msg *a, const struct raft_msg *b)
{
	size_t i;

	assert_int_equal(a->type, b->type);
	assert_int_equal(a->from, b->from);
	assert_int_equal(a->to, b->to);
	assert_int_equal(a->term, b->term);
	assert_int_equal(a->last_index, b->last_index);
	assert_int_equal(a->last_term, b->last_term);
	assert_int_equal(a->transfer, b->transfer);
	assert_int_equal(a->prev_index, b->prev_index);
	assert_int_equal(a->prev_term, b->prev_term);
	assert_int_equal(a->commit, b->commit);
	assert_int_equal(a->reject, b->reject);
	assert_int_equal(a->index, b->index);
	assert_int_equal(a->hint_index, b->hint_index);
	assert_int_equal(a->hint_term, b->hint_term);
	assert_int_equal(a->hb_seq, b->hb_seq);
	assert_int_equal(a->hb_tick, b->hb_tick);
	assert_int_equal(a->snap_index, b->snap_index);
	assert_int_equal(a->snap_term, b->snap_term);
	assert_int_equal(a->n_entries, b->n_entries);
	for (i = 0; i < a->n_entries; i++) {
		const struct raft_entry *x = &a->entries[i];
		const struct raft_entry *y = &b->entries[i];

		assert_int_equal(x->term, y->term);
		assert_int_equal(x->index, y->index);
		assert_int_equal(x->type, y->type);
		assert_int_equal(x->len, y->len);
		if (x->len > 0)
			assert_memory_equal(x->data, y->data, x->len);
		else
			assert_null(y->data);
	}
	assert_int_equal(a->snap_config.n, b->snap_config.n);
	for (i = 0; i < a->snap_config.n; i++) {
		const struct raft_server *x = &a->snap_config.servers[i];
		const struct raft_server *y = &b->snap_config.servers[i];

		assert_int_equal(x->id, y->id);
		assert_int_equal(x->suffrage, y->suffrage);
		assert_int_equal(x->promote, y->promote);
		assert_string_equal(x->addr, y->addr);
	}
}

/* roundtrip - encode m, decode, compare; then every proper prefix of the
 * encoding must fail cleanly (nothing allocated, m zeroed), except one
 * that ends exactly at a field boundary: that is valid codec input for a
 * message with fewer fields (tagged fields may be absent), and must then
 * re-encode to exactly that prefix, i.e. be a different message.  Cuts
 * inside a field - inside a nested entry or configuration too - fail. */
static void
roundtrip(const struct raft_msg *m)
{
	struct buf b = BUF_INIT, b2 = BUF_INIT;
	struct raft_msg d, zero;
	struct errbuf eb;
	size_t cut;
	int rc;

	rpc_encode_msg(&b, m);
	memset(&d, 0, sizeof(d));
	rc = rpc_decode_msg(b.data, b.len, &d, &eb);
	if (rc != 0)
		fail_msg("decode: %s", eb.msg);
	assert_msg_equal(m, &d);
	rpc_encode_msg(&b2, &d);
	assert_int_equal(b.len, b2.len);
	assert_memory_equal(b.data, b2.data, b.len);
	raft_msg_free(&d);

	memset(&zero, 0, sizeof(zero));
	for (cut = 0; cut < b.len; cut++) {
		memset(&d, 0xa5, sizeof(d)); /* decode must zero it */
		rc = rpc_decode_msg(b.data, cut, &d, &eb);
		if (rc < 0) {
			assert_true(rc == -EBADMSG || rc == -EMSGSIZE);
			assert_memory_equal(&d, &zero, sizeof(d));
			assert_true(eb.msg[0] != '\0');
		} else {
			buf_reset(&b2);
			rpc_encode_msg(&b2, &d);
			assert_int_equal(b2.len, cut);
			assert_memory_equal(b2.data, b.data, cut);
			raft_msg_free(&d);
		}
	}
	buf_free(&b);
	buf_free(&b2);
}

static void
base_msg(struct raft_msg *m, uint8_t type)
{
	memset(m, 0, sizeof(*m));
	m->type = type;
	m->from = 1;
	m->to = 2;
	m->term = 0x1234567890ULL;
}

/* -------------------------------------------------------------- tests */

static void
test_roundtrip_every_type(void **state)
{
	struct raft_msg m;
	uint8_t t;

	(void)state;
	for (t = RAFT_MSG_PREVOTE; t <= RAFT_MSG_TIMEOUT_NOW; t++) {
		base_msg(&m, t);
		switch (t) {
		case RAFT_MSG_PREVOTE:
		case RAFT_MSG_VOTE:
			m.last_index = 99;
			m.last_term = 5;
			m.transfer = t == RAFT_MSG_VOTE;
			break;
		case RAFT_MSG_PREVOTE_RESP:
		case RAFT_MSG_VOTE_RESP:
			m.reject = t == RAFT_MSG_VOTE_RESP;
			break;
		case RAFT_MSG_APPEND:
			m.prev_index = 41;
			m.prev_term = 6;
			m.commit = 40;
			set_entries(&m, 5, 41);
			break;
		case RAFT_MSG_APPEND_RESP:
			m.reject = true;
			m.index = 41;
			m.hint_index = 30;
			m.hint_term = 4;
			break;
		case RAFT_MSG_HEARTBEAT:
		case RAFT_MSG_HEARTBEAT_RESP:
			m.commit = UINT64_MAX;
			m.hb_seq = 1ULL << 63;
			m.hb_tick = 12345;
			break;
		case RAFT_MSG_SNAPSHOT:
			m.snap_index = 1000;
			m.snap_term = 9;
			set_config(&m.snap_config, 5);
			break;
		default:
			break;
		}
		roundtrip(&m);
		raft_msg_free(&m);
	}
}

static void
test_roundtrip_all_fields_max(void **state)
{
	struct raft_msg m;

	(void)state;
	memset(&m, 0, sizeof(m));
	m.type = RAFT_MSG_APPEND;
	m.from = m.to = m.term = UINT64_MAX;
	m.last_index = m.last_term = m.commit = UINT64_MAX;
	m.index = m.hint_index = m.hint_term = UINT64_MAX;
	m.hb_seq = m.hb_tick = m.snap_index = m.snap_term = UINT64_MAX;
	m.transfer = m.reject = true;
	m.prev_index = UINT64_MAX - 3;
	m.prev_term = UINT64_MAX;
	set_entries(&m, 3, m.prev_index);
	roundtrip(&m);
	raft_msg_free(&m);
}

static void
test_roundtrip_empty_append_and_config(void **state)
{
	struct raft_msg m;

	(void)state;
	base_msg(&m, RAFT_MSG_APPEND); /* heartbeat-like, no entries */
	roundtrip(&m);
	base_msg(&m, RAFT_MSG_SNAPSHOT); /* empty configuration */
	roundtrip(&m);
	base_msg(&m, RAFT_MSG_SNAPSHOT);
	set_config(&m.snap_config, RPC_MAX_SERVERS);
	roundtrip(&m);
	raft_msg_free(&m);
}

/* an encoding of m, as fields appended to b by hand */
static int
decode(const struct buf *b, struct raft_msg *m)
{
	struct errbuf eb;
	int rc;

	memset(m, 0, sizeof(*m));
	eb.msg[0] = '\0';
	rc = rpc_decode_msg(b->data, b->len, m, &eb);
	if (rc < 0)
		assert_true(eb.msg[0] != '\0');
	return rc;
}

static void
put_entry(struct buf *b, uint64_t term, uint64_t index, uint64_t type,
    const char *data)
{
	struct buf e = BUF_INIT;

	if (term)
		cdc_put_u64(&e, 1, term);
	if (index)
		cdc_put_u64(&e, 2, index);
	if (type)
		cdc_put_u64(&e, 3, type);
	if (data)
		cdc_put_str(&e, 4, data);
	cdc_put_bytes(b, 11, e.data, e.len);
	buf_free(&e);
}

static void
test_unknown_fields_skipped(void **state)
{
	struct buf b = BUF_INIT, e = BUF_INIT;
	struct raft_msg m;

	(void)state;
	cdc_put_u64(&b, 99, 7);
	cdc_put_fixed64(&b, 100, 7);
	cdc_put_u64(&b, 1, RAFT_MSG_APPEND);
	cdc_put_bytes(&b, 101, "xyz", 3);
	cdc_put_u64(&b, 8, 10);
	/* an entry with an unknown field too; entries before prev_index is
	 * fine: order of fields does not matter */
	cdc_put_u64(&e, 1, 3);
	cdc_put_u64(&e, 2, 11);
	cdc_put_u64(&e, 3, RAFT_ENTRY_NOOP);
	cdc_put_u64(&e, 9, 1);
	cdc_put_bytes(&b, 11, e.data, e.len);
	assert_int_equal(decode(&b, &m), 0);
	assert_int_equal(m.type, RAFT_MSG_APPEND);
	assert_int_equal(m.prev_index, 10);
	assert_int_equal(m.n_entries, 1);
	assert_int_equal(m.entries[0].index, 11);
	assert_null(m.entries[0].data);
	raft_msg_free(&m);
	buf_free(&b);
	buf_free(&e);
}

static void
test_rejects(void **state)
{
	struct buf b = BUF_INIT, c = BUF_INIT;
	struct raft_msg m;
	size_t i;

	(void)state;
	/* empty input: no type */
	assert_int_equal(decode(&b, &m), -EBADMSG);
	/* unknown types */
	cdc_put_u64(&b, 1, 0);
	assert_int_equal(decode(&b, &m), -EBADMSG);
	buf_reset(&b);
	cdc_put_u64(&b, 1, 11);
	assert_int_equal(decode(&b, &m), -EBADMSG);
	buf_reset(&b);
	cdc_put_u64(&b, 1, 256 + RAFT_MSG_VOTE); /* not truncated to a u8 */
	assert_int_equal(decode(&b, &m), -EBADMSG);
	/* wrong wire type for a known field */
	buf_reset(&b);
	cdc_put_u64(&b, 1, RAFT_MSG_VOTE);
	cdc_put_fixed64(&b, 4, 1);
	assert_int_equal(decode(&b, &m), -EBADMSG);
	buf_reset(&b);
	cdc_put_bytes(&b, 1, "\x03", 1);
	assert_int_equal(decode(&b, &m), -EBADMSG);
	/* bool out of range */
	buf_reset(&b);
	cdc_put_u64(&b, 1, RAFT_MSG_VOTE);
	cdc_put_u64(&b, 7, 2);
	assert_int_equal(decode(&b, &m), -EBADMSG);
	/* entries: gap, wrong start, duplicate, wrap-around, bad type */
	buf_reset(&b);
	cdc_put_u64(&b, 1, RAFT_MSG_APPEND);
	cdc_put_u64(&b, 8, 5);
	put_entry(&b, 1, 6, 1, "a");
	put_entry(&b, 1, 8, 1, "b");
	assert_int_equal(decode(&b, &m), -EBADMSG);
	buf_reset(&b);
	cdc_put_u64(&b, 1, RAFT_MSG_APPEND);
	cdc_put_u64(&b, 8, 5);
	put_entry(&b, 1, 5, 1, "a");
	assert_int_equal(decode(&b, &m), -EBADMSG);
	buf_reset(&b);
	cdc_put_u64(&b, 1, RAFT_MSG_APPEND);
	put_entry(&b, 1, 1, 1, "a");
	put_entry(&b, 1, 1, 1, "a");
	assert_int_equal(decode(&b, &m), -EBADMSG);
	buf_reset(&b);
	cdc_put_u64(&b, 1, RAFT_MSG_APPEND);
	cdc_put_u64(&b, 8, UINT64_MAX);
	put_entry(&b, 1, 0, 1, "a");
	assert_int_equal(decode(&b, &m), -EBADMSG);
	buf_reset(&b);
	cdc_put_u64(&b, 1, RAFT_MSG_APPEND);
	put_entry(&b, 1, 1, 4, "a");
	assert_int_equal(decode(&b, &m), -EBADMSG);
	buf_reset(&b);
	cdc_put_u64(&b, 1, RAFT_MSG_APPEND);
	put_entry(&b, 1, 1, 0, "a"); /* no type */
	assert_int_equal(decode(&b, &m), -EBADMSG);
	buf_reset(&b);
	cdc_put_u64(&b, 1, RAFT_MSG_APPEND);
	cdc_put_u64(&b, 11, 1); /* entry as a varint */
	assert_int_equal(decode(&b, &m), -EBADMSG);
	/* a malformed entry after good ones with data: no leak */
	buf_reset(&b);
	cdc_put_u64(&b, 1, RAFT_MSG_APPEND);
	put_entry(&b, 1, 1, 1, "first");
	put_entry(&b, 1, 2, 1, "second");
	cdc_put_bytes(&b, 11, "\x08", 1); /* truncated varint inside */
	assert_int_equal(decode(&b, &m), -EBADMSG);
	/* entries outside APPEND */
	buf_reset(&b);
	cdc_put_u64(&b, 1, RAFT_MSG_HEARTBEAT);
	put_entry(&b, 1, 1, 1, "a");
	assert_int_equal(decode(&b, &m), -EBADMSG);
	/* config outside SNAPSHOT, twice, or bad */
	{
		struct raft_config cfg;

		set_config(&cfg, 2);
		raft_config_encode(&cfg, &c);
		raft_config_free(&cfg);
	}
	buf_reset(&b);
	cdc_put_u64(&b, 1, RAFT_MSG_APPEND);
	cdc_put_bytes(&b, 20, c.data, c.len);
	assert_int_equal(decode(&b, &m), -EBADMSG);
	buf_reset(&b);
	cdc_put_u64(&b, 1, RAFT_MSG_SNAPSHOT);
	cdc_put_bytes(&b, 20, c.data, c.len);
	assert_int_equal(decode(&b, &m), 0);
	assert_int_equal(m.snap_config.n, 2);
	raft_msg_free(&m);
	cdc_put_bytes(&b, 20, c.data, c.len);
	assert_int_equal(decode(&b, &m), -EBADMSG);
	buf_reset(&b);
	cdc_put_u64(&b, 1, RAFT_MSG_SNAPSHOT);
	{
		struct buf twice = BUF_INIT; /* the same servers twice */

		buf_put(&twice, c.data, c.len);
		buf_put(&twice, c.data, c.len);
		cdc_put_bytes(&b, 20, twice.data, twice.len);
		buf_free(&twice);
	}
	assert_int_equal(decode(&b, &m), -EBADMSG);
	/* too many servers */
	buf_reset(&b);
	buf_reset(&c);
	for (i = 0; i <= RPC_MAX_SERVERS; i++) {
		struct buf s = BUF_INIT;

		cdc_put_u64(&s, 1, i + 1);
		cdc_put_u64(&s, 2, RAFT_VOTER);
		cdc_put_bytes(&c, 1, s.data, s.len);
		buf_free(&s);
	}
	cdc_put_u64(&b, 1, RAFT_MSG_SNAPSHOT);
	cdc_put_bytes(&b, 20, c.data, c.len);
	assert_int_equal(decode(&b, &m), -EMSGSIZE);
	/* codec-level garbage */
	buf_reset(&b);
	buf_put(&b, "\x00\x01", 2); /* tag 0 */
	assert_int_equal(decode(&b, &m), -EBADMSG);
	buf_reset(&b);
	buf_put(&b, "\x0f\x01", 2); /* wire type 7 */
	assert_int_equal(decode(&b, &m), -EBADMSG);
	buf_reset(&b);
	cdc_put_u64(&b, 1, RAFT_MSG_VOTE);
	cdc_put_key(&b, 30, CDC_WIRE_BYTES);
	cdc_put_varint(&b, UINT64_MAX); /* huge length */
	assert_int_equal(decode(&b, &m), -EBADMSG);
	buf_reset(&b);
	cdc_put_u64(&b, 1, RAFT_MSG_VOTE);
	buf_put(&b, "\x10\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f", 11);
	assert_int_equal(decode(&b, &m), -EBADMSG);
	buf_free(&b);
	buf_free(&c);
}

static void
test_too_many_entries(void **state)
{
	struct buf b = BUF_INIT, e = BUF_INIT;
	struct raft_msg m;
	size_t i;

	(void)state;
	cdc_put_u64(&b, 1, RAFT_MSG_APPEND);
	for (i = 0; i < RPC_MAX_ENTRIES; i++) {
		buf_reset(&e);
		cdc_put_u64(&e, 2, i + 1);
		cdc_put_u64(&e, 3, RAFT_ENTRY_NOOP);
		cdc_put_bytes(&b, 11, e.data, e.len);
	}
	assert_int_equal(decode(&b, &m), 0);
	assert_int_equal(m.n_entries, RPC_MAX_ENTRIES);
	raft_msg_free(&m);
	buf_reset(&e);
	cdc_put_u64(&e, 2, i + 1);
	cdc_put_u64(&e, 3, RAFT_ENTRY_NOOP);
	cdc_put_bytes(&b, 11, e.data, e.len);
	assert_int_equal(decode(&b, &m), -EMSGSIZE);
	buf_free(&b);
	buf_free(&e);
}

/* pseudo-random garbage and bit flips of a valid message never crash or
 * leak (ASan/LSan builds check the latter) */
static void
test_garbage(void **state)
{
	struct buf b = BUF_INIT;
	struct raft_msg m, d;
	uint8_t junk[256];
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	size_t i, k;

	(void)state;
	for (i = 0; i < 20000; i++) {
		size_t n = (size_t)(x % sizeof(junk));

		for (k = 0; k < n; k++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			junk[k] = (uint8_t)x;
		}
		if (i % 2 && n > 0)
			junk[0] = 0x08; /* tag 1 varint: often a valid type */
		memset(&d, 0, sizeof(d));
		if (rpc_decode_msg(junk, n, &d, NULL) == 0)
			raft_msg_free(&d);
	}
	base_msg(&m, RAFT_MSG_APPEND);
	m.prev_index = 3;
	set_entries(&m, 4, 3);
	rpc_encode_msg(&b, &m);
	for (i = 0; i < b.len * 8; i++) {
		b.data[i / 8] ^= (uint8_t)(1u << (i % 8));
		memset(&d, 0, sizeof(d));
		if (rpc_decode_msg(b.data, b.len, &d, NULL) == 0)
			raft_msg_free(&d);
		b.data[i / 8] ^= (uint8_t)(1u << (i % 8));
	}
	raft_msg_free(&m);
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_every_type),
		cmocka_unit_test(test_roundtrip_all_fields_max),
		cmocka_unit_test(test_roundtrip_empty_append_and_config),
		cmocka_unit_test(test_unknown_fields_skipped),
		cmocka_unit_test(test_rejects),
		cmocka_unit_test(test_too_many_entries),
		cmocka_unit_test(test_garbage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
