/* fuzz_config.c - libFuzzer target: arbitrary bytes as one JSON config file. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cfg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cairn_conf c;
	struct errbuf eb;
	char dur[64];
	uint64_t ms;
	size_t n;

	if (cfg_load_buffer("fuzz.json", (const char *)data, size, &c,
	    &eb) == 0)
		cfg_free(&c);

	/* the first line doubles as a Go duration */
	for (n = 0; n < size && n < sizeof(dur) - 1 && data[n] != '\n'; n++)
		dur[n] = (char)data[n];
	dur[n] = '\0';
	(void)cfg_duration_parse(dur, &ms);
	return 0;
}
