/* fuzz_codec.c - libFuzzer target for the codec: decode arbitrary input,
 * and check that encode(decode(x)) is a fixed point after one round. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fz_empty {
	int unused;
};
static const struct cdc_msg_desc fz_empty_desc = {"fz_empty",
    sizeof(struct fz_empty), NULL, 0};

#define FZ_LEAF(F, S)                                                          \
	F(S, 1, U32, uint32_t, id, NULL)                                       \
	F(S, 2, STR, char *, name, NULL)                                       \
	F(S, 3, BYTES, struct cdc_bytes, blob, NULL)                           \
	F(S, 4, STRLIST, struct cdc_strlist, tags, NULL)                       \
	F(S, 5, MSG, struct fz_empty, empty, &fz_empty_desc)
CDC_STRUCT(fz_leaf, FZ_LEAF)
CDC_DESC(fz_leaf, FZ_LEAF)

/* Every type, an embedded message, a list of leaves and a list of itself
 * (so nesting is limited only by the decoder). */
extern const struct cdc_msg_desc fz_node_desc;
#define FZ_NODE(F, S)                                                          \
	F(S, 1, U32, uint32_t, u32, NULL)                                      \
	F(S, 2, U64, uint64_t, u64, NULL)                                      \
	F(S, 3, I64, int64_t, i64, NULL)                                       \
	F(S, 4, BOOL, bool, flag, NULL)                                        \
	F(S, 5, STR, char *, str, NULL)                                        \
	F(S, 6, BYTES, struct cdc_bytes, bytes, NULL)                          \
	F(S, 7, MSG, struct fz_leaf, leaf, &fz_leaf_desc)                      \
	F(S, 8, STRLIST, struct cdc_strlist, strs, NULL)                       \
	F(S, 9, MSGLIST, struct cdc_list, leaves, &fz_leaf_desc)               \
	F(S, 10, MSGLIST, struct cdc_list, kids, &fz_node_desc)                \
	F(S, 11, MSG, struct fz_empty, empty, &fz_empty_desc)
CDC_STRUCT(fz_node, FZ_NODE)
CDC_DESC(fz_node, FZ_NODE)

static void
check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_codec: %s\n", what);
		abort();
	}
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

/* round_trip - decode with d; on success encode, decode the encoding
 * (which must succeed) and encode again: both encodings must be equal. */
static void
round_trip(const struct cdc_msg_desc *d, const uint8_t *data, size_t size)
{
	struct buf e1 = BUF_INIT, e2 = BUF_INIT;
	struct errbuf eb;
	void *m1, *m2;
	int rc;

	m1 = calloc(1, d->size);
	m2 = calloc(1, d->size);
	check(m1 != NULL && m2 != NULL, "out of memory");
	errbuf_clear(&eb);
	rc = cdc_decode(d, data, size, m1, &eb);
	if (rc < 0) {
		check(rc == -EBADMSG || rc == -EMSGSIZE || rc == -ENOMEM,
		    "unexpected error code");
		check(eb.msg[0] != '\0', "error without a message");
		check(all_zero(m1, d->size), "failed decode left state");
		goto out;
	}
	cdc_encode(&e1, d, m1);
	check(e1.len <= size, "re-encoding grew"); /* only drops bytes */
	rc = cdc_decode(d, e1.data, e1.len, m2, &eb);
	if (rc < 0)
		fprintf(stderr, "fuzz_codec: %s\n", eb.msg);
	check(rc == 0, "re-encoding does not decode");
	cdc_encode(&e2, d, m2);
	check(e1.len == e2.len &&
		  (e1.len == 0 || memcmp(e1.data, e2.data, e1.len) == 0),
	    "encode(decode(x)) is not a fixed point");
	cdc_free(d, m2);
	check(all_zero(m2, d->size), "cdc_free did not zero");
out:
	cdc_free(d, m1);
	free(m1);
	free(m2);
	buf_free(&e1);
	buf_free(&e2);
}

/* walk - the low-level reader must consume everything or stop at an
 * error, never running past the end. */
static void
walk(const uint8_t *data, size_t size)
{
	struct cdc_reader r;
	struct cdc_field f;
	int rc;

	cdc_reader_init(&r, data, size);
	while ((rc = cdc_next(&r, &f)) == 1) {
		check(r.p <= r.end, "reader ran past the end");
		if (f.wire == CDC_WIRE_BYTES)
			check(f.ptr >= data && f.ptr + f.len <= r.end,
			    "bytes outside the input");
	}
	check(rc == 0 || rc == -EBADMSG, "unexpected cdc_next result");
	if (rc == 0)
		check(r.p == r.end, "clean end before the end");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	walk(data, size);
	round_trip(&fz_node_desc, data, size);
	round_trip(&fz_leaf_desc, data, size);
	round_trip(&fz_empty_desc, data, size);
	return 0;
}
