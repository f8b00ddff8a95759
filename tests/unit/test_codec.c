/* test_codec.c - unit tests for common/buf.c and common/codec.c. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "codec.h"

/* --- test messages ------------------------------------------------------ */

struct t_empty {
	int unused;
};
static const struct cdc_msg_desc t_empty_desc = {"t_empty",
    sizeof(struct t_empty), NULL, 0};

#define T_INNER(F, S)                                                          \
	F(S, 1, U32, uint32_t, id, NULL)                                       \
	F(S, 2, STR, char *, name, NULL)                                       \
	F(S, 3, STRLIST, struct cdc_strlist, tags, NULL)
CDC_STRUCT(t_inner, T_INNER)
CDC_DESC(t_inner, T_INNER)

#define T_ALL(F, S)                                                            \
	F(S, 1, U32, uint32_t, u32, NULL)                                      \
	F(S, 2, U64, uint64_t, u64, NULL)                                      \
	F(S, 3, I64, int64_t, i64, NULL)                                       \
	F(S, 4, BOOL, bool, flag, NULL)                                        \
	F(S, 5, STR, char *, str, NULL)                                        \
	F(S, 6, BYTES, struct cdc_bytes, bytes, NULL)                          \
	F(S, 7, MSG, struct t_inner, inner, &t_inner_desc)                     \
	F(S, 8, STRLIST, struct cdc_strlist, strs, NULL)                       \
	F(S, 9, MSGLIST, struct cdc_list, inners, &t_inner_desc)               \
	F(S, 10, MSG, struct t_empty, empty, &t_empty_desc)
CDC_STRUCT(t_all, T_ALL)
CDC_DESC(t_all, T_ALL)

/* A message type that contains a list of itself, for nesting limits. */
extern const struct cdc_msg_desc t_node_desc;
#define T_NODE(F, S)                                                           \
	F(S, 1, U32, uint32_t, v, NULL)                                        \
	F(S, 2, MSGLIST, struct cdc_list, kids, &t_node_desc)
CDC_STRUCT(t_node, T_NODE)
CDC_DESC(t_node, T_NODE)

/* Two versions of one message: v2 added fields 3..7 (tag 2 unchanged). */
#define T_V1(F, S)                                                             \
	F(S, 1, U64, uint64_t, a, NULL)                                        \
	F(S, 2, STR, char *, b, NULL)
CDC_STRUCT(t_v1, T_V1)
CDC_DESC(t_v1, T_V1)

#define T_V2(F, S)                                                             \
	F(S, 1, U64, uint64_t, a, NULL)                                        \
	F(S, 2, STR, char *, b, NULL)                                          \
	F(S, 3, I64, int64_t, c, NULL)                                         \
	F(S, 4, MSG, struct t_inner, d, &t_inner_desc)                         \
	F(S, 5, STRLIST, struct cdc_strlist, e, NULL)                          \
	F(S, 6, MSGLIST, struct cdc_list, f, &t_inner_desc)                    \
	F(S, 7, BYTES, struct cdc_bytes, g, NULL)
CDC_STRUCT(t_v2, T_V2)
CDC_DESC(t_v2, T_V2)

/* --- helpers ------------------------------------------------------------ */

static char *
dupstr(const char *s)
{
	char *p = strdup(s);

	assert_non_null(p);
	return p;
}

static void
strlist_set(struct cdc_strlist *l, size_t n, const char *const *v)
{
	size_t i;

	l->v = calloc(n, sizeof(char *));
	assert_non_null(l->v);
	for (i = 0; i < n; i++)
		l->v[i] = dupstr(v[i]);
	l->n = n;
}

static void
fill_inner(struct t_inner *in, uint32_t id, const char *name, size_t ntags,
    const char *const *tags)
{
	memset(in, 0, sizeof(*in));
	in->id = id;
	in->name = name != NULL ? dupstr(name) : NULL;
	if (ntags > 0)
		strlist_set(&in->tags, ntags, tags);
}

static void
fill_all(struct t_all *m)
{
	static const uint8_t blob[] = {0, 1, 2, 0xff, 0x80, 0};
	static const char *const strs[] = {"alpha", "", "gamma"};
	static const char *const tags[] = {"x", "y"};
	struct t_inner *v;

	memset(m, 0, sizeof(*m));
	m->u32 = UINT32_MAX;
	m->u64 = UINT64_MAX;
	m->i64 = INT64_MIN;
	m->flag = true;
	m->str = dupstr("hello, world");
	m->bytes.p = malloc(sizeof(blob));
	assert_non_null(m->bytes.p);
	memcpy(m->bytes.p, blob, sizeof(blob));
	m->bytes.n = sizeof(blob);
	fill_inner(&m->inner, 42, "inner", 2, tags);
	strlist_set(&m->strs, 3, strs);
	v = calloc(3, sizeof(*v));
	assert_non_null(v);
	fill_inner(&v[0], 1, "one", 0, NULL);
	fill_inner(&v[1], 0, NULL, 0, NULL); /* an all-zero element */
	fill_inner(&v[2], 3, "three", 1, tags);
	m->inners.v = v;
	m->inners.n = 3;
}

static void
encode(struct buf *b, const struct cdc_msg_desc *d, const void *msg)
{
	buf_init(b);
	cdc_encode(b, d, msg);
}

/* decode_exact - decode from a heap copy of exactly n bytes, so ASan
 * catches any read past the end. */
static int
decode_exact(const struct cdc_msg_desc *d, const void *p, size_t n, void *msg,
    struct errbuf *eb)
{
	uint8_t *copy = malloc(n ? n : 1);
	int rc;

	assert_non_null(copy);
	if (n > 0)
		memcpy(copy, p, n);
	rc = cdc_decode(d, copy, n, msg, eb);
	free(copy);
	return rc;
}

static bool
all_zero(const void *p, size_t n)
{
	const uint8_t *q = p;
	size_t i;

	for (i = 0; i < n; i++)
		if (q[i] != 0)
			return false;
	return true;
}

/* expect_reject - decoding b with d fails with rc and exactly msg, and
 * leaves the struct zeroed. */
static void
expect_reject(const struct cdc_msg_desc *d, const struct buf *b, int rc,
    const char *msg)
{
	struct errbuf eb;
	void *m = calloc(1, d->size);
	int got;

	assert_non_null(m);
	errbuf_clear(&eb);
	got = decode_exact(d, b->data, b->len, m, &eb);
	if (got != rc || strcmp(eb.msg, msg) != 0)
		print_error("got %d \"%s\", want %d \"%s\"\n", got, eb.msg, rc,
		    msg);
	assert_int_equal(got, rc);
	assert_string_equal(eb.msg, msg);
	assert_true(all_zero(m, d->size));
	free(m);
}

static void
put_raw(struct buf *b, const char *bytes, size_t n)
{
	buf_put(b, bytes, n);
}

static uint64_t
read_one_varint(const uint8_t *p, size_t n, int *rc, size_t *used)
{
	struct cdc_reader r;
	uint64_t v = 0xdeadbeef;

	cdc_reader_init(&r, p, n);
	*rc = cdc_get_varint(&r, &v);
	*used = (size_t)(r.p - p);
	return v;
}

/* nest - wrap the encoding in b in `levels` layers of field tag. */
static void
nest(struct buf *b, uint32_t tag, int levels)
{
	struct buf t;
	int i;

	for (i = 0; i < levels; i++) {
		buf_init(&t);
		cdc_put_bytes(&t, tag, b->data, b->len);
		buf_free(b);
		*b = t;
	}
}

/* --- buf ---------------------------------------------------------------- */

static void
test_buf_starts_empty_and_grows_by_doubling(void **state)
{
	struct buf b = BUF_INIT;
	size_t i, cap;

	(void)state;
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
	buf_put_u8(&b, 7);
	assert_non_null(b.data);
	assert_int_equal(b.len, 1);
	cap = b.cap;
	assert_true(cap >= 1);
	for (i = 1; i < 10000; i++)
		buf_put_u8(&b, (uint8_t)i);
	assert_int_equal(b.len, 10000);
	for (i = 0; i < 10000; i++)
		assert_int_equal(b.data[i], (uint8_t)(i == 0 ? 7 : i));
	/* doubling: the capacity is the first capacity times a power of 2 */
	assert_true(b.cap >= b.len);
	assert_int_equal(b.cap % cap, 0);
	assert_int_equal((b.cap / cap) & (b.cap / cap - 1), 0);
	buf_free(&b);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
}

static void
test_buf_reserve_gives_room_without_changing_len(void **state)
{
	struct buf b;
	uint8_t *p;

	(void)state;
	buf_init(&b);
	buf_reserve(&b, 1000);
	assert_true(b.cap >= 1000);
	assert_int_equal(b.len, 0);
	p = b.data;
	buf_put(&b, "0123456789", 10);
	assert_ptr_equal(b.data, p); /* no reallocation needed */
	buf_reserve(&b, 0);
	assert_ptr_equal(b.data, p);
	buf_put(&b, NULL, 0);
	assert_int_equal(b.len, 10);
	buf_free(&b);
}

static void
test_buf_put_helpers_write_big_endian(void **state)
{
	static const uint8_t want[] = {0xab, 0x12, 0x34, 0xde, 0xad, 0xbe,
	    0xef, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 'h', 'i'};
	struct buf b = BUF_INIT;

	(void)state;
	buf_put_u8(&b, 0xab);
	buf_put_be16(&b, 0x1234);
	buf_put_be32(&b, 0xdeadbeef);
	buf_put_be64(&b, 0x0102030405060708ull);
	buf_put_str(&b, "hi");
	buf_put_str(&b, "");
	assert_int_equal(b.len, sizeof(want));
	assert_memory_equal(b.data, want, sizeof(want));
	assert_int_equal(be16_get(b.data + 1), 0x1234);
	assert_int_equal(be32_get(b.data + 3), 0xdeadbeef);
	assert_int_equal(be64_get(b.data + 7), 0x0102030405060708ull);
	buf_free(&b);
}

static void
test_buf_reset_keeps_storage(void **state)
{
	struct buf b = BUF_INIT;
	uint8_t *p;
	size_t cap;

	(void)state;
	buf_put_str(&b, "some bytes");
	p = b.data;
	cap = b.cap;
	buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_ptr_equal(b.data, p);
	assert_int_equal(b.cap, cap);
	buf_put_str(&b, "x");
	assert_int_equal(b.len, 1);
	assert_int_equal(b.data[0], 'x');
	buf_free(&b);
}

static void
test_buf_steal_hands_over_storage(void **state)
{
	struct buf b = BUF_INIT;
	uint8_t *p;
	size_t n = 99;

	(void)state;
	buf_put_str(&b, "abc");
	p = buf_steal(&b, &n);
	assert_int_equal(n, 3);
	assert_memory_equal(p, "abc", 3);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
	free(p);
	/* an empty buf still hands out something free() accepts */
	p = buf_steal(&b, &n);
	assert_non_null(p);
	assert_int_equal(n, 0);
	free(p);
	p = buf_steal(&b, NULL);
	free(p);
	/* the buf is reusable afterwards */
	buf_put_str(&b, "again");
	assert_int_equal(b.len, 5);
	buf_free(&b);
}

static void
test_buf_reserve_size_overflow_aborts(void **state)
{
	pid_t pid;
	int st;

	(void)state;
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct buf b = BUF_INIT;

		/* keep the expected abort message out of the test log */
		if (freopen("/dev/null", "w", stderr) == NULL)
			_exit(2);
		buf_put_str(&b, "12");
		buf_reserve(&b, SIZE_MAX - 1);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGABRT);
}

/* --- low level ---------------------------------------------------------- */

static void
test_varint_boundary_values_round_trip(void **state)
{
	static const struct {
		uint64_t v;
		size_t len;
	} cases[] = {
	    {0, 1},
	    {1, 1},
	    {127, 1},
	    {128, 2},
	    {16383, 2},
	    {16384, 3},
	    {UINT32_MAX, 5},
	    {(uint64_t)UINT32_MAX + 1, 5},
	    {INT64_MAX, 9},
	    {(uint64_t)1 << 63, 10},
	    {UINT64_MAX, 10},
	};
	struct buf b = BUF_INIT;
	size_t i, used;
	int rc;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf_reset(&b);
		cdc_put_varint(&b, cases[i].v);
		assert_int_equal(b.len, cases[i].len);
		assert_int_equal(read_one_varint(b.data, b.len, &rc, &used),
		    cases[i].v);
		assert_int_equal(rc, 0);
		assert_int_equal(used, cases[i].len);
	}
	buf_free(&b);
}

static void
test_varint_exact_encodings(void **state)
{
	static const uint8_t zero[] = {0x00};
	static const uint8_t v127[] = {0x7f};
	static const uint8_t v128[] = {0x80, 0x01};
	static const uint8_t v300[] = {0xac, 0x02};
	static const uint8_t v2p63[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
	    0x80, 0x80, 0x80, 0x01};
	static const uint8_t vmax[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	    0xff, 0xff, 0xff, 0x01};
	struct buf b = BUF_INIT;

	(void)state;
#define CHECK(v, want)                                                         \
	do {                                                                   \
		buf_reset(&b);                                                 \
		cdc_put_varint(&b, (v));                                       \
		assert_int_equal(b.len, sizeof(want));                         \
		assert_memory_equal(b.data, (want), sizeof(want));             \
	} while (0)
	CHECK(0, zero);
	CHECK(127, v127);
	CHECK(128, v128);
	CHECK(300, v300);
	CHECK((uint64_t)1 << 63, v2p63);
	CHECK(UINT64_MAX, vmax);
#undef CHECK
	buf_free(&b);
}

static void
test_varint_rejects_eleven_bytes_and_over_64_bits(void **state)
{
	/* 11 bytes: ten continuation bytes then a terminator */
	static const uint8_t eleven[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
	    0x80, 0x80, 0x80, 0x80, 0x00};
	/* 10 bytes, but the last carries bit 64 */
	static const uint8_t bit64[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	    0xff, 0xff, 0xff, 0x02};
	static const uint8_t big[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	    0xff, 0xff, 0xff, 0x7f};
	size_t used;
	int rc;

	(void)state;
	read_one_varint(eleven, sizeof(eleven), &rc, &used);
	assert_int_equal(rc, -EBADMSG);
	assert_int_equal(used, 0);
	read_one_varint(bit64, sizeof(bit64), &rc, &used);
	assert_int_equal(rc, -EBADMSG);
	assert_int_equal(used, 0);
	read_one_varint(big, sizeof(big), &rc, &used);
	assert_int_equal(rc, -EBADMSG);
}

static void
test_varint_truncated_rejected_reader_unchanged(void **state)
{
	static const uint8_t v[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	    0xff, 0xff, 0x01};
	size_t n, used;
	uint8_t *copy;
	int rc;

	(void)state;
	for (n = 0; n < sizeof(v); n++) {
		copy = malloc(n ? n : 1);
		assert_non_null(copy);
		memcpy(copy, v, n);
		read_one_varint(copy, n, &rc, &used);
		assert_int_equal(rc, -EBADMSG);
		assert_int_equal(used, 0);
		free(copy);
	}
	assert_int_equal(read_one_varint(v, sizeof(v), &rc, &used),
	    UINT64_MAX);
	assert_int_equal(rc, 0);
}

static void
test_varint_non_minimal_encoding_accepted(void **state)
{
	static const uint8_t padded0[] = {0x80, 0x00};
	static const uint8_t padded1[] = {0x81, 0x80, 0x80, 0x00};
	size_t used;
	int rc;

	(void)state;
	assert_int_equal(read_one_varint(padded0, 2, &rc, &used), 0);
	assert_int_equal(rc, 0);
	assert_int_equal(used, 2);
	assert_int_equal(read_one_varint(padded1, 4, &rc, &used), 1);
	assert_int_equal(rc, 0);
	assert_int_equal(used, 4);
}

static void
test_zigzag_boundaries(void **state)
{
	static const int64_t vals[] = {0, -1, 1, -2, 2, INT32_MIN, INT32_MAX,
	    INT64_MAX, INT64_MIN, INT64_MIN + 1};
	struct cdc_reader r;
	struct cdc_field f;
	struct buf b = BUF_INIT;
	size_t i;

	(void)state;
	assert_int_equal(cdc_zigzag_decode(0), 0);
	assert_int_equal(cdc_zigzag_decode(1), -1);
	assert_int_equal(cdc_zigzag_decode(2), 1);
	assert_int_equal(cdc_zigzag_decode(3), -2);
	assert_true(cdc_zigzag_decode(UINT64_MAX) == INT64_MIN);
	assert_true(cdc_zigzag_decode(UINT64_MAX - 1) == INT64_MAX);
	for (i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		buf_reset(&b);
		cdc_put_i64(&b, 5, vals[i]);
		cdc_reader_init(&r, b.data, b.len);
		assert_int_equal(cdc_next(&r, &f), 1);
		assert_int_equal(f.tag, 5);
		assert_int_equal(f.wire, CDC_WIRE_VARINT);
		assert_true(cdc_zigzag_decode(f.u) == vals[i]);
		assert_int_equal(cdc_next(&r, &f), 0);
	}
	/* small magnitudes stay small on the wire */
	buf_reset(&b);
	cdc_put_i64(&b, 1, -1);
	assert_int_equal(b.len, 2);
	buf_free(&b);
}

static void
test_fixed64_is_big_endian(void **state)
{
	static const uint8_t want[] = {0x19, 0x01, 0x02, 0x03, 0x04, 0x05,
	    0x06, 0x07, 0x08};
	struct cdc_reader r;
	struct cdc_field f;
	struct buf b = BUF_INIT;

	(void)state;
	cdc_put_fixed64(&b, 3, 0x0102030405060708ull);
	assert_int_equal(b.len, sizeof(want));
	assert_memory_equal(b.data, want, sizeof(want));
	cdc_reader_init(&r, b.data, b.len);
	assert_int_equal(cdc_next(&r, &f), 1);
	assert_int_equal(f.tag, 3);
	assert_int_equal(f.wire, CDC_WIRE_FIXED64);
	assert_int_equal(f.u, 0x0102030405060708ull);
	assert_int_equal(cdc_next(&r, &f), 0);
	buf_free(&b);
}

static void
test_next_reads_every_wire_type_then_clean_end(void **state)
{
	struct cdc_reader r;
	struct cdc_field f;
	struct buf b = BUF_INIT;

	(void)state;
	cdc_put_u64(&b, 1, 300);
	cdc_put_bool(&b, 2, true);
	cdc_put_bool(&b, 3, false); /* low level always writes */
	cdc_put_str(&b, 4, "str");
	cdc_put_str(&b, 5, NULL); /* skipped */
	cdc_put_bytes(&b, 6, "", 0);
	cdc_put_fixed64(&b, 7, UINT64_MAX);
	cdc_put_key(&b, UINT32_MAX, CDC_WIRE_VARINT);
	cdc_put_varint(&b, 9);
	cdc_reader_init(&r, b.data, b.len);
	assert_int_equal(cdc_next(&r, &f), 1);
	assert_int_equal(f.tag, 1);
	assert_int_equal(f.u, 300);
	assert_int_equal(cdc_next(&r, &f), 1);
	assert_int_equal(f.tag, 2);
	assert_int_equal(f.u, 1);
	assert_int_equal(cdc_next(&r, &f), 1);
	assert_int_equal(f.tag, 3);
	assert_int_equal(f.u, 0);
	assert_int_equal(cdc_next(&r, &f), 1);
	assert_int_equal(f.tag, 4);
	assert_int_equal(f.wire, CDC_WIRE_BYTES);
	assert_int_equal(f.len, 3);
	assert_memory_equal(f.ptr, "str", 3);
	assert_ptr_equal(f.ptr, b.data + 9); /* borrowed, not copied */
	assert_int_equal(cdc_next(&r, &f), 1);
	assert_int_equal(f.tag, 6);
	assert_int_equal(f.len, 0);
	assert_int_equal(cdc_next(&r, &f), 1);
	assert_int_equal(f.tag, 7);
	assert_int_equal(f.u, UINT64_MAX);
	assert_int_equal(cdc_next(&r, &f), 1);
	assert_int_equal(f.tag, UINT32_MAX);
	assert_int_equal(f.u, 9);
	assert_int_equal(cdc_next(&r, &f), 0);
	assert_int_equal(cdc_next(&r, &f), 0);
	/* an empty input, even a NULL one, is a clean end */
	cdc_reader_init(&r, NULL, 0);
	assert_int_equal(cdc_next(&r, &f), 0);
	buf_free(&b);
}

static void
test_next_rejects_malformed_fields(void **state)
{
	static const struct {
		const char *bytes;
		size_t n;
	} bad[] = {
	    {"\x00\x01", 2},		 /* tag 0 */
	    {"\x02\x00", 2},		 /* tag 0, BYTES */
	    {"\x0b", 1},		 /* wire type 3 */
	    {"\x0c", 1},		 /* 4 */
	    {"\x0d", 1},		 /* 5 */
	    {"\x0e", 1},		 /* 6 */
	    {"\x0f", 1},		 /* 7 */
	    {"\x08", 1},		 /* VARINT value missing */
	    {"\x08\x80", 2},		 /* truncated value */
	    {"\x09\x01\x02\x03", 4},	 /* truncated FIXED64 */
	    {"\x0a\x05\x01\x02", 4},	 /* length past the end */
	    {"\x0a\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11}, /* huge */
	    {"\x0a", 1},		 /* missing length */
	    {"\x88", 1},		 /* truncated key */
	    {"\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x08\x00", 12},
	    {"\x80\x80\x80\x80\x80\x01\x00", 7}, /* tag 2^32 */
	};
	struct cdc_reader r;
	struct cdc_field f;
	uint8_t *copy;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		copy = malloc(bad[i].n);
		assert_non_null(copy);
		memcpy(copy, bad[i].bytes, bad[i].n);
		cdc_reader_init(&r, copy, bad[i].n);
		if (cdc_next(&r, &f) != -EBADMSG)
			print_error("case %zu accepted\n", i);
		cdc_reader_init(&r, copy, bad[i].n);
		assert_int_equal(cdc_next(&r, &f), -EBADMSG);
		assert_ptr_equal(r.p, copy); /* left at the bad field */
		free(copy);
	}
}

/* --- descriptor-driven codec ------------------------------------------- */

static void
test_xmacro_struct_and_desc_agree(void **state)
{
	(void)state;
	assert_string_equal(t_all_desc.name, "t_all");
	assert_int_equal(t_all_desc.size, sizeof(struct t_all));
	assert_int_equal(t_all_desc.nfields, 10);
	assert_int_equal(t_all_desc.fields[0].tag, 1);
	assert_int_equal(t_all_desc.fields[0].type, CDC_U32);
	assert_int_equal(t_all_desc.fields[0].offset,
	    offsetof(struct t_all, u32));
	assert_string_equal(t_all_desc.fields[0].name, "u32");
	assert_null(t_all_desc.fields[0].sub);
	assert_int_equal(t_all_desc.fields[6].type, CDC_MSG);
	assert_int_equal(t_all_desc.fields[6].offset,
	    offsetof(struct t_all, inner));
	assert_ptr_equal(t_all_desc.fields[6].sub, &t_inner_desc);
	assert_int_equal(t_all_desc.fields[8].type, CDC_MSGLIST);
	assert_string_equal(t_all_desc.fields[8].name, "inners");
	assert_int_equal(t_all_desc.fields[9].tag, 10);
	assert_int_equal(t_inner_desc.size, sizeof(struct t_inner));
	assert_ptr_equal(t_node_desc.fields[1].sub, &t_node_desc);
}

static void
test_round_trip_every_type(void **state)
{
	struct t_all in, out;
	struct t_inner *v;
	struct errbuf eb;
	struct buf b, b2;

	(void)state;
	fill_all(&in);
	encode(&b, &t_all_desc, &in);
	memset(&out, 0, sizeof(out));
	assert_int_equal(decode_exact(&t_all_desc, b.data, b.len, &out, &eb),
	    0);
	assert_int_equal(out.u32, UINT32_MAX);
	assert_int_equal(out.u64, UINT64_MAX);
	assert_true(out.i64 == INT64_MIN);
	assert_true(out.flag);
	assert_string_equal(out.str, "hello, world");
	assert_int_equal(out.bytes.n, in.bytes.n);
	assert_memory_equal(out.bytes.p, in.bytes.p, in.bytes.n);
	assert_int_equal(out.inner.id, 42);
	assert_string_equal(out.inner.name, "inner");
	assert_int_equal(out.inner.tags.n, 2);
	assert_string_equal(out.inner.tags.v[0], "x");
	assert_string_equal(out.inner.tags.v[1], "y");
	assert_int_equal(out.strs.n, 3);
	assert_string_equal(out.strs.v[0], "alpha");
	assert_string_equal(out.strs.v[1], "");
	assert_string_equal(out.strs.v[2], "gamma");
	assert_int_equal(out.inners.n, 3);
	v = out.inners.v;
	assert_int_equal(v[0].id, 1);
	assert_string_equal(v[0].name, "one");
	assert_int_equal(v[0].tags.n, 0);
	assert_null(v[0].tags.v);
	assert_int_equal(v[1].id, 0);
	assert_null(v[1].name);
	assert_int_equal(v[2].id, 3);
	assert_string_equal(v[2].name, "three");
	assert_int_equal(v[2].tags.n, 1);
	assert_string_equal(v[2].tags.v[0], "x");
	/* and the encoding is reproduced exactly */
	encode(&b2, &t_all_desc, &out);
	assert_int_equal(b2.len, b.len);
	assert_memory_equal(b2.data, b.data, b.len);
	cdc_free(&t_all_desc, &in);
	cdc_free(&t_all_desc, &out);
	assert_true(all_zero(&out, sizeof(out)));
	buf_free(&b);
	buf_free(&b2);
}

static void
test_round_trip_scalar_boundaries(void **state)
{
	static const uint64_t u64s[] = {1, 127, 128, (uint64_t)1 << 63,
	    UINT64_MAX};
	static const uint32_t u32s[] = {1, 127, 128, 0x80000000u, UINT32_MAX};
	static const int64_t i64s[] = {1, -1, 63, -64, 64, INT64_MAX,
	    INT64_MIN};
	struct t_all in, out;
	struct errbuf eb;
	struct buf b;
	size_t i;

	(void)state;
	for (i = 0; i < 7; i++) {
		memset(&in, 0, sizeof(in));
		in.u64 = u64s[i % 5];
		in.u32 = u32s[i % 5];
		in.i64 = i64s[i];
		encode(&b, &t_all_desc, &in);
		memset(&out, 0, sizeof(out));
		assert_int_equal(cdc_decode(&t_all_desc, b.data, b.len, &out,
				     &eb),
		    0);
		assert_int_equal(out.u64, in.u64);
		assert_int_equal(out.u32, in.u32);
		assert_true(out.i64 == in.i64);
		cdc_free(&t_all_desc, &out);
		buf_free(&b);
	}
}

static void
test_zero_values_are_not_written(void **state)
{
	struct t_all m, out;
	struct errbuf eb;
	struct buf b;

	(void)state;
	memset(&m, 0, sizeof(m));
	encode(&b, &t_all_desc, &m);
	assert_int_equal(b.len, 0);
	/* a zeroed nested struct is omitted too, and decodes back to zero */
	m.inner.id = 0;
	m.bytes.n = 0;
	buf_free(&b);
	encode(&b, &t_all_desc, &m);
	assert_int_equal(b.len, 0);
	memset(&out, 0, sizeof(out));
	assert_int_equal(cdc_decode(&t_all_desc, b.data, b.len, &out, &eb), 0);
	assert_true(all_zero(&out, sizeof(out)));
	assert_int_equal(cdc_decode(&t_all_desc, NULL, 0, &out, &eb), 0);
	assert_true(all_zero(&out, sizeof(out)));
	buf_free(&b);
}

static void
test_empty_string_differs_from_null(void **state)
{
	struct t_all m, out;
	struct errbuf eb;
	struct buf b;

	(void)state;
	memset(&m, 0, sizeof(m));
	m.str = dupstr("");
	encode(&b, &t_all_desc, &m);
	assert_int_equal(b.len, 2); /* key, length 0 */
	memset(&out, 0, sizeof(out));
	assert_int_equal(cdc_decode(&t_all_desc, b.data, b.len, &out, &eb), 0);
	assert_non_null(out.str);
	assert_string_equal(out.str, "");
	cdc_free(&t_all_desc, &out);
	cdc_free(&t_all_desc, &m);
	buf_free(&b);
}

static void
test_empty_message_desc_with_no_fields(void **state)
{
	struct t_all m, out;
	struct errbuf eb;
	struct buf b, inner;

	(void)state;
	/* the empty message's content is all unknown fields: skipped */
	buf_init(&inner);
	cdc_put_u64(&inner, 1, 5);
	cdc_put_str(&inner, 2, "ignored");
	cdc_put_fixed64(&inner, 3, 7);
	buf_init(&b);
	cdc_put_bytes(&b, 10, inner.data, inner.len);
	cdc_put_bytes(&b, 10, NULL, 0);
	cdc_put_u64(&b, 1, 9);
	memset(&out, 0, sizeof(out));
	assert_int_equal(cdc_decode(&t_all_desc, b.data, b.len, &out, &eb), 0);
	assert_int_equal(out.u32, 9);
	assert_int_equal(out.empty.unused, 0);
	/* and an empty embedded message is not re-encoded */
	memset(&m, 0, sizeof(m));
	m.empty.unused = 1234; /* not described, so not encoded */
	buf_free(&b);
	encode(&b, &t_all_desc, &m);
	assert_int_equal(b.len, 0);
	cdc_free(&t_all_desc, &out);
	buf_free(&b);
	buf_free(&inner);
}

static void
test_list_of_empty_messages_keeps_count(void **state)
{
	struct t_node root, out;
	struct t_node kids[3];
	struct errbuf eb;
	struct buf b;

	(void)state;
	memset(&root, 0, sizeof(root));
	memset(kids, 0, sizeof(kids));
	root.kids.v = kids;
	root.kids.n = 3;
	encode(&b, &t_node_desc, &root);
	assert_int_equal(b.len, 6);
	memset(&out, 0, sizeof(out));
	assert_int_equal(cdc_decode(&t_node_desc, b.data, b.len, &out, &eb), 0);
	assert_int_equal(out.kids.n, 3);
	assert_true(all_zero(out.kids.v, 3 * sizeof(struct t_node)));
	cdc_free(&t_node_desc, &out);
	buf_free(&b);
}

static void
test_v1_reader_skips_fields_added_in_v2(void **state)
{
	static const char *const e[] = {"e1", "e2"};
	struct t_v2 v2;
	struct t_v1 v1;
	struct t_inner *f;
	struct errbuf eb;
	struct buf b;

	(void)state;
	memset(&v2, 0, sizeof(v2));
	v2.a = 77;
	v2.b = dupstr("bee");
	v2.c = -5;
	fill_inner(&v2.d, 4, "d", 1, e);
	strlist_set(&v2.e, 2, e);
	f = calloc(2, sizeof(*f));
	assert_non_null(f);
	fill_inner(&f[0], 6, "f0", 0, NULL);
	v2.f.v = f;
	v2.f.n = 2;
	v2.g.p = (uint8_t *)dupstr("gg");
	v2.g.n = 2;
	encode(&b, &t_v2_desc, &v2);
	/* also an unknown FIXED64 field, which no desc type produces */
	cdc_put_fixed64(&b, 99, 123);
	memset(&v1, 0, sizeof(v1));
	assert_int_equal(decode_exact(&t_v1_desc, b.data, b.len, &v1, &eb), 0);
	assert_int_equal(v1.a, 77);
	assert_string_equal(v1.b, "bee");
	cdc_free(&t_v1_desc, &v1);
	cdc_free(&t_v2_desc, &v2);
	buf_free(&b);
}

static void
test_v2_reader_defaults_fields_missing_from_v1(void **state)
{
	struct t_v1 v1;
	struct t_v2 v2;
	struct errbuf eb;
	struct buf b;

	(void)state;
	memset(&v1, 0, sizeof(v1));
	v1.a = UINT64_MAX;
	v1.b = dupstr("old writer");
	encode(&b, &t_v1_desc, &v1);
	memset(&v2, 0, sizeof(v2));
	assert_int_equal(decode_exact(&t_v2_desc, b.data, b.len, &v2, &eb), 0);
	assert_int_equal(v2.a, UINT64_MAX);
	assert_string_equal(v2.b, "old writer");
	assert_int_equal(v2.c, 0);
	assert_int_equal(v2.d.id, 0);
	assert_null(v2.d.name);
	assert_int_equal(v2.e.n, 0);
	assert_null(v2.e.v);
	assert_int_equal(v2.f.n, 0);
	assert_null(v2.f.v);
	assert_int_equal(v2.g.n, 0);
	assert_null(v2.g.p);
	cdc_free(&t_v1_desc, &v1);
	cdc_free(&t_v2_desc, &v2);
	buf_free(&b);
}

static void
test_repeated_scalar_str_bytes_msg_last_one_wins(void **state)
{
	struct buf b = BUF_INIT, in1 = BUF_INIT, in2 = BUF_INIT;
	struct t_all out;
	struct errbuf eb;

	(void)state;
	cdc_put_str(&in1, 2, "first");
	cdc_put_u64(&in1, 1, 1);
	cdc_put_str(&in1, 3, "t1");
	cdc_put_str(&in2, 2, "second");

	cdc_put_u64(&b, 1, 10);
	cdc_put_u64(&b, 1, 11);
	cdc_put_bool(&b, 4, true);
	cdc_put_bool(&b, 4, false);
	cdc_put_str(&b, 5, "old");
	cdc_put_str(&b, 5, "new");
	cdc_put_bytes(&b, 6, "aaaa", 4);
	cdc_put_bytes(&b, 6, "bb", 2);
	cdc_put_bytes(&b, 7, in1.data, in1.len);
	cdc_put_bytes(&b, 7, in2.data, in2.len);
	cdc_put_bytes(&b, 6, "", 0); /* an empty last value clears */
	memset(&out, 0, sizeof(out));
	assert_int_equal(decode_exact(&t_all_desc, b.data, b.len, &out, &eb),
	    0);
	assert_int_equal(out.u32, 11);
	assert_false(out.flag);
	assert_string_equal(out.str, "new");
	assert_int_equal(out.bytes.n, 0);
	assert_null(out.bytes.p);
	/* the embedded message is replaced, not merged */
	assert_string_equal(out.inner.name, "second");
	assert_int_equal(out.inner.id, 0);
	assert_int_equal(out.inner.tags.n, 0);
	cdc_free(&t_all_desc, &out);
	buf_free(&b);
	buf_free(&in1);
	buf_free(&in2);
}

static void
test_repeated_fields_interleaved_keep_order(void **state)
{
	struct buf b = BUF_INIT, in = BUF_INIT;
	struct t_inner *v;
	struct t_all out;
	struct errbuf eb;
	char s[16];
	int i;

	(void)state;
	for (i = 0; i < 100; i++) {
		snprintf(s, sizeof(s), "s%d", i);
		cdc_put_str(&b, 8, s);
		buf_reset(&in);
		cdc_put_u64(&in, 1, (uint64_t)i);
		cdc_put_bytes(&b, 9, in.data, in.len);
		cdc_put_u64(&b, 2, (uint64_t)i); /* scalars between elements */
	}
	memset(&out, 0, sizeof(out));
	assert_int_equal(cdc_decode(&t_all_desc, b.data, b.len, &out, &eb), 0);
	assert_int_equal(out.strs.n, 100);
	assert_int_equal(out.inners.n, 100);
	assert_int_equal(out.u64, 99);
	v = out.inners.v;
	for (i = 0; i < 100; i++) {
		snprintf(s, sizeof(s), "s%d", i);
		assert_string_equal(out.strs.v[i], s);
		assert_int_equal(v[i].id, i);
	}
	cdc_free(&t_all_desc, &out);
	buf_free(&b);
	buf_free(&in);
}

static void
test_truncation_at_every_offset_is_safe(void **state)
{
	struct t_all in, out;
	struct errbuf eb;
	struct buf b;
	size_t n, nok = 0;
	int rc;

	(void)state;
	fill_all(&in);
	encode(&b, &t_all_desc, &in);
	assert_true(b.len > 50);
	for (n = 0; n <= b.len; n++) {
		memset(&out, 0, sizeof(out));
		errbuf_clear(&eb);
		rc = decode_exact(&t_all_desc, b.data, n, &out, &eb);
		if (rc < 0) {
			assert_int_equal(rc, -EBADMSG);
			assert_true(eb.msg[0] != '\0');
			assert_true(all_zero(&out, sizeof(out)));
		} else {
			assert_int_equal(rc, 0);
			nok++;
		}
		cdc_free(&t_all_desc, &out);
	}
	/* at least the empty prefix, the whole and each field boundary */
	assert_true(nok >= 10);
	cdc_free(&t_all_desc, &in);
	buf_free(&b);
}

static void
test_length_past_end_rejected(void **state)
{
	struct buf b = BUF_INIT;

	(void)state;
	cdc_put_key(&b, 5, CDC_WIRE_BYTES);
	cdc_put_varint(&b, 4);
	buf_put(&b, "abc", 3);
	expect_reject(&t_all_desc, &b, -EBADMSG,
	    "t_all.str: length exceeds the remaining input");
	/* a huge length, also for a field the reader does not know */
	buf_reset(&b);
	cdc_put_key(&b, 50, CDC_WIRE_BYTES);
	cdc_put_varint(&b, UINT64_MAX);
	buf_put(&b, "abc", 3);
	expect_reject(&t_all_desc, &b, -EBADMSG,
	    "t_all.#50: length exceeds the remaining input");
	/* inside a nested message the outer field is named too */
	buf_reset(&b);
	put_raw(&b, "\x3a\x03\x12\x05x", 5);
	expect_reject(&t_all_desc, &b, -EBADMSG,
	    "t_all.inner: t_inner.name: length exceeds the remaining input");
	buf_free(&b);
}

static void
test_eleven_byte_varint_rejected(void **state)
{
	struct buf b = BUF_INIT;

	(void)state;
	cdc_put_key(&b, 2, CDC_WIRE_VARINT);
	put_raw(&b, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11);
	expect_reject(&t_all_desc, &b, -EBADMSG,
	    "t_all.u64: varint longer than 64 bits");
	buf_reset(&b);
	cdc_put_key(&b, 2, CDC_WIRE_VARINT);
	put_raw(&b, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x03", 10);
	expect_reject(&t_all_desc, &b, -EBADMSG,
	    "t_all.u64: varint longer than 64 bits");
	buf_reset(&b);
	cdc_put_key(&b, 2, CDC_WIRE_VARINT);
	put_raw(&b, "\xff\xff", 2);
	expect_reject(&t_all_desc, &b, -EBADMSG,
	    "t_all.u64: truncated varint");
	/* the key itself */
	buf_reset(&b);
	put_raw(&b, "\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01", 11);
	expect_reject(&t_all_desc, &b, -EBADMSG,
	    "t_all: key longer than 64 bits");
	buf_reset(&b);
	put_raw(&b, "\x08\x01\x80", 3);
	expect_reject(&t_all_desc, &b, -EBADMSG, "t_all: truncated key");
	buf_free(&b);
}

static void
test_wire_types_3_to_7_rejected(void **state)
{
	struct buf b = BUF_INIT;
	uint64_t w;

	(void)state;
	for (w = 3; w <= 7; w++) {
		buf_reset(&b);
		cdc_put_u64(&b, 1, 1);
		cdc_put_varint(&b, 5 << 3 | w);
		cdc_put_varint(&b, 0);
		expect_reject(&t_all_desc, &b, -EBADMSG,
		    "t_all.str: invalid wire type");
		/* for an unknown field too */
		buf_reset(&b);
		cdc_put_varint(&b, 44 << 3 | w);
		expect_reject(&t_all_desc, &b, -EBADMSG,
		    "t_all.#44: invalid wire type");
	}
	buf_free(&b);
}

static void
test_tag_zero_and_tag_over_32_bits_rejected(void **state)
{
	struct buf b = BUF_INIT;

	(void)state;
	cdc_put_u64(&b, 1, 1);
	put_raw(&b, "\x00\x00", 2);
	expect_reject(&t_all_desc, &b, -EBADMSG, "t_all: invalid tag 0");
	buf_reset(&b);
	cdc_put_varint(&b, (uint64_t)1 << 35 | CDC_WIRE_VARINT);
	cdc_put_varint(&b, 0);
	expect_reject(&t_all_desc, &b, -EBADMSG, "t_all: tag out of range");
	buf_free(&b);
}

static void
test_known_tag_with_wrong_wire_type_rejected(void **state)
{
	struct buf b = BUF_INIT;

	(void)state;
	cdc_put_str(&b, 1, "not a number");
	expect_reject(&t_all_desc, &b, -EBADMSG, "t_all.u32: wrong wire type");
	buf_reset(&b);
	cdc_put_u64(&b, 5, 3);
	expect_reject(&t_all_desc, &b, -EBADMSG, "t_all.str: wrong wire type");
	buf_reset(&b);
	cdc_put_fixed64(&b, 2, 3);
	expect_reject(&t_all_desc, &b, -EBADMSG, "t_all.u64: wrong wire type");
	buf_reset(&b);
	cdc_put_u64(&b, 9, 1);
	expect_reject(&t_all_desc, &b, -EBADMSG,
	    "t_all.inners: wrong wire type");
	buf_free(&b);
}

static void
test_nul_in_string_rejected(void **state)
{
	struct buf b = BUF_INIT, in = BUF_INIT;

	(void)state;
	cdc_put_str(&b, 5, "ok");
	cdc_put_bytes(&b, 5, "a\0b", 3);
	expect_reject(&t_all_desc, &b, -EBADMSG,
	    "t_all.str: string contains NUL");
	buf_reset(&b);
	cdc_put_str(&b, 8, "fine");
	cdc_put_bytes(&b, 8, "\0", 1);
	expect_reject(&t_all_desc, &b, -EBADMSG,
	    "t_all.strs: string contains NUL");
	/* bytes may hold NUL */
	buf_reset(&b);
	cdc_put_bytes(&b, 6, "a\0b", 3);
	{
		struct t_all out;
		struct errbuf eb;

		memset(&out, 0, sizeof(out));
		assert_int_equal(cdc_decode(&t_all_desc, b.data, b.len, &out,
				     &eb),
		    0);
		assert_int_equal(out.bytes.n, 3);
		cdc_free(&t_all_desc, &out);
	}
	/* in the second element of a nested list, with the path named */
	buf_reset(&b);
	cdc_put_str(&in, 2, "good");
	cdc_put_bytes(&b, 9, in.data, in.len);
	buf_reset(&in);
	cdc_put_bytes(&in, 3, "bad\0", 4);
	cdc_put_bytes(&b, 9, in.data, in.len);
	expect_reject(&t_all_desc, &b, -EBADMSG,
	    "t_all.inners[1]: t_inner.tags: string contains NUL");
	buf_free(&b);
	buf_free(&in);
}

static void
test_u32_overflow_rejected(void **state)
{
	struct buf b = BUF_INIT;

	(void)state;
	cdc_put_u64(&b, 1, (uint64_t)UINT32_MAX + 1);
	expect_reject(&t_all_desc, &b, -EBADMSG,
	    "t_all.u32: value 4294967296 out of range for u32");
	buf_reset(&b);
	cdc_put_u64(&b, 1, UINT64_MAX);
	expect_reject(&t_all_desc, &b, -EBADMSG,
	    "t_all.u32: value 18446744073709551615 out of range for u32");
	buf_free(&b);
}

static void
test_bool_other_than_0_or_1_rejected(void **state)
{
	struct buf b = BUF_INIT;

	(void)state;
	cdc_put_u64(&b, 4, 2);
	expect_reject(&t_all_desc, &b, -EBADMSG,
	    "t_all.flag: bool value 2 is not 0 or 1");
	buf_free(&b);
}

static void
test_msglist_nesting_limit(void **state)
{
	struct t_node out;
	struct errbuf eb;
	struct buf b = BUF_INIT;
	const struct t_node *n;
	int depth;

	(void)state;
	/* CDC_MAX_DEPTH levels below the root are fine */
	cdc_put_u64(&b, 1, 7);
	nest(&b, 2, CDC_MAX_DEPTH);
	memset(&out, 0, sizeof(out));
	assert_int_equal(decode_exact(&t_node_desc, b.data, b.len, &out, &eb),
	    0);
	n = &out;
	for (depth = 0; depth < CDC_MAX_DEPTH; depth++) {
		assert_int_equal(n->kids.n, 1);
		n = n->kids.v;
	}
	assert_int_equal(n->v, 7);
	assert_int_equal(n->kids.n, 0);
	cdc_free(&t_node_desc, &out);
	/* one more is refused */
	nest(&b, 2, 1);
	memset(&out, 0, sizeof(out));
	assert_int_equal(decode_exact(&t_node_desc, b.data, b.len, &out, &eb),
	    -EMSGSIZE);
	assert_true(all_zero(&out, sizeof(out)));
	assert_non_null(strstr(eb.msg, "t_node.kids: messages nested deeper "
					"than 8"));
	assert_non_null(strstr(eb.msg, "t_node.kids[0]: "));
	/* far deeper input does not recurse any further */
	nest(&b, 2, 5000);
	memset(&out, 0, sizeof(out));
	assert_int_equal(decode_exact(&t_node_desc, b.data, b.len, &out, &eb),
	    -EMSGSIZE);
	assert_true(all_zero(&out, sizeof(out)));
	buf_free(&b);
}

/* A chain of embedded messages built at run time: level k is a uint32_t
 * `v` at offset 0 and level k+1 embedded at offset 8 (tag 2). */
#define CHAIN 12
static struct cdc_field_desc chain_fields[CHAIN][2];
static struct cdc_msg_desc chain_desc[CHAIN];

static void
build_chain(void)
{
	int k;

	for (k = 0; k < CHAIN; k++) {
		chain_fields[k][0] = (struct cdc_field_desc){
		    1, CDC_U32, 0, "v", NULL};
		chain_fields[k][1] = (struct cdc_field_desc){
		    2, CDC_MSG, 8, "next", &chain_desc[k + 1]};
		chain_desc[k] = (struct cdc_msg_desc){"chain",
		    (size_t)(CHAIN - k) * 8, chain_fields[k],
		    k + 1 < CHAIN ? 2 : 1};
	}
}

static void
test_embedded_msg_nesting_limit(void **state)
{
	const size_t size = CHAIN * 8;
	struct errbuf eb;
	struct buf b = BUF_INIT, b2;
	uint8_t *storage;
	uint32_t v;

	(void)state;
	build_chain();
	storage = calloc(1, size); /* no declared type: any access is fine */
	assert_non_null(storage);
	cdc_put_u64(&b, 1, 9);
	nest(&b, 2, CDC_MAX_DEPTH);
	assert_int_equal(decode_exact(&chain_desc[0], b.data, b.len, storage,
			     &eb),
	    0);
	memcpy(&v, storage + CDC_MAX_DEPTH * 8, sizeof(v));
	assert_int_equal(v, 9);
	/* re-encoding gives the same bytes */
	encode(&b2, &chain_desc[0], storage);
	assert_int_equal(b2.len, b.len);
	assert_memory_equal(b2.data, b.data, b.len);
	buf_free(&b2);
	cdc_free(&chain_desc[0], storage);
	/* one level more is refused */
	nest(&b, 2, 1);
	assert_int_equal(decode_exact(&chain_desc[0], b.data, b.len, storage,
			     &eb),
	    -EMSGSIZE);
	assert_true(all_zero(storage, size));
	assert_non_null(strstr(eb.msg, "chain.next: messages nested deeper"));
	free(storage);
	buf_free(&b);
}

static void
test_repeat_limit(void **state)
{
	struct buf b = BUF_INIT;
	struct t_all out;
	struct t_node node;
	struct errbuf eb;
	size_t i;
	char want[80];

	(void)state;
	/* exactly CDC_MAX_REPEAT strings are accepted */
	buf_reserve(&b, 2 * (size_t)CDC_MAX_REPEAT + 2);
	for (i = 0; i < CDC_MAX_REPEAT; i++)
		put_raw(&b, "\x42\x00", 2);
	memset(&out, 0, sizeof(out));
	assert_int_equal(cdc_decode(&t_all_desc, b.data, b.len, &out, &eb), 0);
	assert_int_equal(out.strs.n, CDC_MAX_REPEAT);
	cdc_free(&t_all_desc, &out);
	/* one more is not */
	put_raw(&b, "\x42\x00", 2);
	snprintf(want, sizeof(want), "t_all.strs: more than %u elements",
	    CDC_MAX_REPEAT);
	expect_reject(&t_all_desc, &b, -EMSGSIZE, want);
	/* likewise for a message list */
	buf_reset(&b);
	for (i = 0; i <= CDC_MAX_REPEAT; i++)
		put_raw(&b, "\x12\x00", 2);
	snprintf(want, sizeof(want), "t_node.kids: more than %u elements",
	    CDC_MAX_REPEAT);
	expect_reject(&t_node_desc, &b, -EMSGSIZE, want);
	b.len -= 2;
	memset(&node, 0, sizeof(node));
	assert_int_equal(cdc_decode(&t_node_desc, b.data, b.len, &node, &eb),
	    0);
	assert_int_equal(node.kids.n, CDC_MAX_REPEAT);
	cdc_free(&t_node_desc, &node);
	buf_free(&b);
}

static void
test_error_without_errbuf_and_free_of_null(void **state)
{
	struct t_all out;

	(void)state;
	memset(&out, 0, sizeof(out));
	assert_int_equal(cdc_decode(&t_all_desc, "\x0b", 1, &out, NULL),
	    -EBADMSG);
	assert_true(all_zero(&out, sizeof(out)));
	cdc_free(&t_all_desc, NULL);
	cdc_free(&t_all_desc, &out);
}

static void
test_failed_decode_frees_partial_lists(void **state)
{
	struct buf b = BUF_INIT, in = BUF_INIT;
	struct t_all out;
	struct errbuf eb;
	int i;

	(void)state;
	/* lots of allocated state, then an error: LeakSanitizer checks that
	 * it is all released, and the struct must come back zeroed */
	cdc_put_str(&b, 5, "s");
	cdc_put_bytes(&b, 6, "b", 1);
	for (i = 0; i < 20; i++) {
		cdc_put_str(&b, 8, "item");
		buf_reset(&in);
		cdc_put_str(&in, 2, "n");
		cdc_put_str(&in, 3, "t");
		cdc_put_bytes(&b, 9, in.data, in.len);
	}
	cdc_put_u64(&b, 4, 7);
	memset(&out, 0, sizeof(out));
	assert_int_equal(cdc_decode(&t_all_desc, b.data, b.len, &out, &eb),
	    -EBADMSG);
	assert_true(all_zero(&out, sizeof(out)));
	assert_string_equal(eb.msg, "t_all.flag: bool value 7 is not 0 or 1");
	buf_free(&b);
	buf_free(&in);
}

/* An element size so large that the array size overflows: the decoder
 * must report -ENOMEM (it never calls xmalloc) and release the rest. */
struct t_huge_parent {
	char *name;
	struct cdc_list items;
};
static const struct cdc_msg_desc t_huge_desc = {"t_huge", SIZE_MAX / 4, NULL,
    0};
static const struct cdc_field_desc t_huge_parent_fields[] = {
    {1, CDC_STR, offsetof(struct t_huge_parent, name), "name", NULL},
    {2, CDC_MSGLIST, offsetof(struct t_huge_parent, items), "items",
	&t_huge_desc},
};
static const struct cdc_msg_desc t_huge_parent_desc = {"t_huge_parent",
    sizeof(struct t_huge_parent), t_huge_parent_fields, 2};

static void
test_allocation_failure_returns_enomem(void **state)
{
	struct buf b = BUF_INIT;

	(void)state;
	cdc_put_str(&b, 1, "allocated before the failure");
	cdc_put_bytes(&b, 2, NULL, 0);
	expect_reject(&t_huge_parent_desc, &b, -ENOMEM,
	    "t_huge_parent.items: out of memory");
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_buf_starts_empty_and_grows_by_doubling),
	    cmocka_unit_test(test_buf_reserve_gives_room_without_changing_len),
	    cmocka_unit_test(test_buf_put_helpers_write_big_endian),
	    cmocka_unit_test(test_buf_reset_keeps_storage),
	    cmocka_unit_test(test_buf_steal_hands_over_storage),
	    cmocka_unit_test(test_buf_reserve_size_overflow_aborts),
	    cmocka_unit_test(test_varint_boundary_values_round_trip),
	    cmocka_unit_test(test_varint_exact_encodings),
	    cmocka_unit_test(test_varint_rejects_eleven_bytes_and_over_64_bits),
	    cmocka_unit_test(test_varint_truncated_rejected_reader_unchanged),
	    cmocka_unit_test(test_varint_non_minimal_encoding_accepted),
	    cmocka_unit_test(test_zigzag_boundaries),
	    cmocka_unit_test(test_fixed64_is_big_endian),
	    cmocka_unit_test(test_next_reads_every_wire_type_then_clean_end),
	    cmocka_unit_test(test_next_rejects_malformed_fields),
	    cmocka_unit_test(test_xmacro_struct_and_desc_agree),
	    cmocka_unit_test(test_round_trip_every_type),
	    cmocka_unit_test(test_round_trip_scalar_boundaries),
	    cmocka_unit_test(test_zero_values_are_not_written),
	    cmocka_unit_test(test_empty_string_differs_from_null),
	    cmocka_unit_test(test_empty_message_desc_with_no_fields),
	    cmocka_unit_test(test_list_of_empty_messages_keeps_count),
	    cmocka_unit_test(test_v1_reader_skips_fields_added_in_v2),
	    cmocka_unit_test(test_v2_reader_defaults_fields_missing_from_v1),
	    cmocka_unit_test(test_repeated_scalar_str_bytes_msg_last_one_wins),
	    cmocka_unit_test(test_repeated_fields_interleaved_keep_order),
	    cmocka_unit_test(test_truncation_at_every_offset_is_safe),
	    cmocka_unit_test(test_length_past_end_rejected),
	    cmocka_unit_test(test_eleven_byte_varint_rejected),
	    cmocka_unit_test(test_wire_types_3_to_7_rejected),
	    cmocka_unit_test(test_tag_zero_and_tag_over_32_bits_rejected),
	    cmocka_unit_test(test_known_tag_with_wrong_wire_type_rejected),
	    cmocka_unit_test(test_nul_in_string_rejected),
	    cmocka_unit_test(test_u32_overflow_rejected),
	    cmocka_unit_test(test_bool_other_than_0_or_1_rejected),
	    cmocka_unit_test(test_msglist_nesting_limit),
	    cmocka_unit_test(test_embedded_msg_nesting_limit),
	    cmocka_unit_test(test_repeat_limit),
	    cmocka_unit_test(test_error_without_errbuf_and_free_of_null),
	    cmocka_unit_test(test_failed_decode_frees_partial_lists),
	    cmocka_unit_test(test_allocation_failure_returns_enomem),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
