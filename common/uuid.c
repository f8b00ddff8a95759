/* uuid.c - random UUIDs (see uuid.h). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>

#include <openssl/rand.h>

#include "uuid.h"

int
uuid4(char out[37])
{
	uint8_t b[16];
	size_t i;
	int k = 0;

	if (RAND_bytes(b, sizeof(b)) != 1)
		return -EIO;
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
	for (i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[k++] = '-';
		k += snprintf(out + k, 3, "%02x", b[i]);
	}
	out[36] = '\0';
	return 0;
}
