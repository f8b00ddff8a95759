/* fuzz_snapfile.c - libFuzzer target for the snapshot archive reader
 * (what PUT /v1/snapshot and `cairn snapshot inspect|restore` parse):
 * verify arbitrary bytes, then walk the members with the streaming
 * reader as httpd does; a gzip bomb costs time bounded by the input's
 * inflate ratio, never memory. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "snapfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct snap_meta m;
	struct snap_reader *r;
	struct errbuf eb;
	uint8_t sha[32], buf[4096];
	char name[256];
	uint64_t msize, total = 0;
	ssize_t k;

	if (snapfile_verify(data, size, &m, sha, &eb) == 0 &&
	    m.version != SNAP_VERSION)
		__builtin_trap();
	if (snapr_open(&r, data, size) < 0)
		return 0;
	while (snapr_next(r, name, sizeof(name), &msize, &eb) == 1 &&
	    total < (64u << 20)) {
		if (strlen(name) >= sizeof(name))
			__builtin_trap();
		while ((k = snapr_read(r, buf, sizeof(buf), &eb)) > 0 &&
		    total < (64u << 20))
			total += (uint64_t)k;
	}
	snapr_close(r);
	return 0;
}
