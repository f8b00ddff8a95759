/* fuzz_ipc.c - libFuzzer target: a whole IPC message (header + body) as a
 * daemon receives it, decoded against the catalogue's request and reply
 * descriptors; successful decodes must re-encode and decode to the same
 * bytes.  An IPC_PROBE body also goes through the server's answer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "ipc_msg.h"

static void
check_desc(const struct cdc_msg_desc *d, const uint8_t *p, size_t n)
{
	struct errbuf eb;
	struct buf b1 = BUF_INIT, b2 = BUF_INIT;
	void *m1 = calloc(1, d->size), *m2 = calloc(1, d->size);

	if (m1 == NULL || m2 == NULL)
		goto out;
	if (cdc_decode(d, p, n, m1, &eb) == 0) {
		cdc_encode(&b1, d, m1);
		if (cdc_decode(d, b1.data, b1.len, m2, &eb) != 0)
			abort();
		cdc_encode(&b2, d, m2);
		if (b1.len != b2.len ||
		    (b1.len && memcmp(b1.data, b2.data, b1.len) != 0))
			abort();
		cdc_free(d, m2);
	}
	cdc_free(d, m1);
out:
	free(m1);
	free(m2);
	buf_free(&b1);
	buf_free(&b2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct ipc_type_info *ti;
	struct ipc_hdr h;
	struct errbuf eb;

	if (ipc_hdr_decode(data, size, &h, &eb) != 0)
		return 0;
	ti = ipc_type_lookup(h.type);
	if (ti == NULL)
		return 0;
	check_desc(ti->req, data + IPC_HDR_LEN, h.len);
	check_desc(ti->rep, data + IPC_HDR_LEN, h.len);
	check_desc(&ipc_error_desc, data + IPC_HDR_LEN, h.len);
	if (h.type == IPC_PROBE) {
		/* the server's answer, against open ids taken from the input */
		struct ipc_probe q;
		struct buf out = BUF_INIT;
		uint32_t open[16];
		size_t i, n = 0;

		memset(&q, 0, sizeof(q));
		if (cdc_decode(&ipc_probe_desc, data + IPC_HDR_LEN, h.len, &q,
			&eb) == 0) {
			for (i = 0; i + 4 <= q.ids.n && n < 16; i += 8)
				open[n++] = be32_get(q.ids.p + i);
			ipc_probe_select(&q.ids, open, n, &out);
			if (out.len > q.ids.n || out.len % 4 != 0)
				abort();
			buf_free(&out);
		}
		cdc_free(&ipc_probe_desc, &q);
	}
	return 0;
}
