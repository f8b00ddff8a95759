/* fuzz_defs.c - libFuzzer target: arbitrary bytes as a service or check
 * definition (checkd/defs.c: the /v1/agent/service/register and
 * /check/register bodies, config file "services" and "checks" elements). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../../checkd/defs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct service_def sd;
	struct check_def cd;
	struct errbuf eb;

	(void)service_def_parse((const char *)data, size, &sd, &eb);
	service_def_free(&sd);
	(void)check_def_parse((const char *)data, size, size & 1, &cd, &eb);
	check_def_free(&cd);
	return 0;
}
