/* fuzz_pquery.c - libFuzzer target for prepared query templates (what a
 * client's /v1/query definition and a DNS or execute name feed to
 * common/pquery.c): the input is split at NUL bytes into a Regexp, a
 * Service template, a tag template and the asked name; check, choose and
 * render must never crash, hang or leak, whatever the bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "pquery.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf, *parts[4] = {(char *)"", (char *)"", (char *)"", (char *)""};
	struct ipc_pquery q[2], out;
	struct errbuf eb;
	size_t i, k = 0;

	if (size > 4096)
		return 0;
	buf = malloc(size + 1);
	memcpy(buf, data, size);
	buf[size] = '\0';
	parts[k++] = buf;
	for (i = 0; i < size && k < 4; i++)
		if (buf[i] == '\0')
			parts[k++] = buf + i + 1;
	memset(q, 0, sizeof(q));
	q[0].id = (char *)"id-0";
	q[0].name = parts[3][0] ? parts[3] : (char *)"";
	q[0].template_type = (char *)PQ_TEMPLATE;
	q[0].template_regexp = parts[0];
	q[0].service = parts[1];
	q[0].tags.v = &parts[2];
	q[0].tags.n = 1;
	q[0].remove_empty_tags = size % 2;
	q[1].id = (char *)"id-1";
	q[1].name = parts[1];
	q[1].service = parts[2];
	(void)pq_check(&q[0], &eb);
	if (pq_choose(q, 2, parts[3]) >= 0 &&
	    pq_render(&q[0], parts[3], &out, &eb) == 0)
		cdc_free(&ipc_pquery_desc, &out);
	free(buf);
	return 0;
}
