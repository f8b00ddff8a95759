/* fuzz_rpc.c - libFuzzer target for raftd/rpc.c: decode arbitrary input;
 * what decodes must re-encode to a fixed point after one round. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "../../raftd/rpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf b1 = BUF_INIT, b2 = BUF_INIT;
	struct raft_msg m1, m2;
	struct errbuf eb;
	int rc;

	memset(&m1, 0, sizeof(m1));
	rc = rpc_decode_msg(data, size, &m1, &eb);
	if (rc < 0) {
		if (rc != -EBADMSG && rc != -EMSGSIZE && rc != -ENOMEM)
			abort();
		return 0;
	}
	rpc_encode_msg(&b1, &m1);
	memset(&m2, 0, sizeof(m2));
	if (rpc_decode_msg(b1.data, b1.len, &m2, &eb) != 0) {
		fprintf(stderr, "re-decode failed: %s\n", eb.msg);
		abort();
	}
	rpc_encode_msg(&b2, &m2);
	if (b1.len != b2.len ||
	    (b1.len > 0 && memcmp(b1.data, b2.data, b1.len) != 0)) {
		fprintf(stderr, "encodings differ (%zu vs %zu bytes)\n",
		    b1.len, b2.len);
		abort();
	}
	raft_msg_free(&m1);
	raft_msg_free(&m2);
	buf_free(&b1);
	buf_free(&b2);
	return 0;
}
