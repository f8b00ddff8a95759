/* fuzz_http.c - libFuzzer target: raw bytes from a client to httpd's HTTP
 * server (request line, headers, chunked bodies, pipelining, percent
 * escapes), each complete request answered at once; the web UI's paths
 * (/, /ui, /ui/...) by httpd/ui.c from the embedded files.  Must never
 * crash, hang or leak. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../httpd/http.h"
#include "../../httpd/ui.h"

static void
answer(struct http_req *req, void *arg)
{
	static const struct ui_conf ui = {true, NULL};
	size_t i;

	(void)arg;
	/* touch everything the parser produced */
	for (i = 0; i < req->nquery; i++)
		(void)strlen(req->query[i].key);
	(void)http_header(req, "host");
	(void)http_query(req, "recurse");
	if (ui_handle(&ui, req))
		return;
	http_respond_text(req, 200, req->path ? req->path : "");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_limits lim = {
	    .max_body = 1024, .max_restore_body = 4096, .max_conns_per_ip = 0};

	if (size > 65536)
		return 0;
	http_feed(data, size, &lim, answer, NULL);
	return 0;
}
