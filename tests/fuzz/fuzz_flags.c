/* fuzz_flags.c - libFuzzer target: the agent's command line.  The input is
 * split on newlines into arguments and handed to cfg_load, which must
 * accept or reject it with a message, never crash or leak. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"

#define MAX_ARGS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy, *p, *argv[MAX_ARGS + 1];
	struct cairn_conf c;
	struct errbuf eb;
	int argc = 0;

	if (size > 4096)
		return 0;
	copy = malloc(size + 1);
	if (copy == NULL)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	for (p = copy; argc < MAX_ARGS;) {
		char *nl = strchr(p, '\n');

		argv[argc++] = p;
		if (nl == NULL)
			break;
		*nl = '\0';
		p = nl + 1;
	}
	argv[argc] = NULL;
	memset(&c, 0, sizeof(c));
	if (cfg_load(argc, argv, &c, &eb) == 0)
		cfg_free(&c);
	free(copy);
	return 0;
}
