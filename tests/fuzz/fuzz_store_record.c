/* fuzz_store_record.c - libFuzzer target for raftd's log record decoder.
 *
 * Input: u64 big-endian index, then a record.  Three checks per input:
 *   1. store_record_decode() on the raw record: no crash, only -EBADMSG or
 *      -EUCLEAN on failure (out zeroed), and a decoded record re-encodes to
 *      exactly the input (the format is canonical);
 *   2. the bytes as an entry's payload (term and type taken from the
 *      input), encoded and decoded back: must round trip;
 *   3. that encoding with one byte flipped (position and bit from the
 *      input), or decoded under another index: must be refused.
 */
#include <errno.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "../../raftd/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_store_record: %s\n", what);
		abort();
	}
}

static void
decode_raw(const uint8_t *rec, size_t n, uint64_t index)
{
	struct raft_entry e;
	struct buf b = BUF_INIT;
	int rc;

	rc = store_record_decode(rec, n, index, &e);
	if (rc < 0) {
		check(rc == -EBADMSG || rc == -EUCLEAN || rc == -ENOMEM,
		    "unexpected error code");
		check(e.data == NULL && e.len == 0 && e.term == 0,
		    "failed decode left data");
		return;
	}
	check(e.index == index, "index not kept");
	check(e.len + STORE_RECORD_OVERHEAD == n, "length");
	check((e.len == 0) == (e.data == NULL), "data pointer");
	store_record_encode(&e, &b);
	check(b.len == n && memcmp(b.data, rec, n) == 0,
	    "decode then encode is not the identity");
	free(e.data);
	buf_free(&b);
}

static void
round_trip(const uint8_t *data, size_t size, uint64_t index)
{
	struct raft_entry in, out;
	struct buf b = BUF_INIT;
	size_t pos;
	int rc;

	memset(&in, 0, sizeof(in));
	in.index = index;
	in.term = size > 0 ? (uint64_t)data[0] * 0x0101010101010101ull : 0;
	in.type = size > 1 ? data[1] : 0;
	in.data = size > 0 ? (uint8_t *)data : NULL;
	in.len = size;
	store_record_encode(&in, &b);
	check(b.len == size + STORE_RECORD_OVERHEAD, "encoded size");
	rc = store_record_decode(b.data, b.len, index, &out);
	check(rc == 0, "own encoding does not decode");
	check(out.term == in.term && out.type == in.type &&
		  out.len == in.len &&
		  (in.len == 0 || memcmp(out.data, in.data, in.len) == 0),
	    "round trip differs");
	free(out.data);

	/* another index */
	rc = store_record_decode(b.data, b.len, index ^ 1, &out);
	check(rc == -EUCLEAN, "record accepted under another index");

	/* one flipped bit anywhere */
	pos = size > 2 ? ((size_t)data[2] << 8 | (size > 3 ? data[3] : 0)) :
			 size;
	pos %= b.len;
	b.data[pos] ^= (uint8_t)(1u << (size > 4 ? data[4] % 8 : 0));
	rc = store_record_decode(b.data, b.len, index, &out);
	check(rc == -EUCLEAN || rc == -EBADMSG, "flipped bit accepted");
	buf_free(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t index = 0;

	if (size >= 8) {
		index = be64_get(data);
		data += 8;
		size -= 8;
	}
	decode_raw(data, size, index);
	round_trip(data, size, index);
	return 0;
}
