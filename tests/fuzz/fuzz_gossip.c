/* fuzz_gossip.c - libFuzzer target: a gossip packet as gossipd receives
 * it.  The first byte picks the path: plain UDP (swim_recv), a TCP
 * push-pull request (swim_pushpull_request, whose reply must decode), a
 * reply to our push-pull, or a sealed packet opened with a fixed keyring
 * (crypt_open) and then handed to swim_recv. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../gossipd/crypt.h"
#include "../../gossipd/swim/swim.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char key[] = "MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTI=";
	struct swim_options o;
	struct swim *s;
	struct buf out = BUF_INIT;
	struct swim_packet pkt;
	struct errbuf eb;
	uint64_t now = 1000;
	int i;

	if (size < 1)
		return 0;
	memset(&o, 0, sizeof(o));
	o.name = "fuzz";
	o.addr = "10.0.0.1:8301";
	o.seed = 7;
	s = swim_new(&o, now);
	switch (data[0] % 4) {
	case 0:
		swim_recv(s, "10.0.0.2:8301", data + 1, size - 1, now);
		break;
	case 1:
		if (swim_pushpull_request(s, data + 1, size - 1, &out, now) ==
		    0) {
			if (swim_packet_decode(out.data, out.len, &pkt, &eb) !=
			    0)
				abort(); /* our own reply must decode */
			cdc_free(&swim_packet_desc, &pkt);
		}
		break;
	case 2:
		swim_pushpull_reply(s, "10.0.0.2:8301", data + 1, size - 1,
		    now);
		break;
	default: {
		struct keyring k;

		memset(&k, 0, sizeof(k));
		if (keyring_install(&k, key, &eb) != 0)
			abort();
		if (crypt_open(&k, "lan", data + 1, size - 1, &out) == 0)
			swim_recv(s, "10.0.0.2:8301", out.data, out.len, now);
		break;
	}
	}
	/* let the state machine run on whatever it took in */
	for (i = 0; i < 50; i++) {
		now += 100;
		swim_tick(s, now);
		swim_clear_output(s);
	}
	buf_free(&out);
	swim_free(s);
	return 0;
}
