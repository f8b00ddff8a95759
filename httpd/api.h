/* api.h - httpd's Consul HTTP API v1 on top of http.h and raftd's IPC. */
#ifndef CAIRN_HTTPD_API_H
#define CAIRN_HTTPD_API_H

#include "daemon.h"
#include "http.h"
#include "ipc.h"

/* api_init - connect to raftd and listen on the HTTP address and port
 * (*out stays NULL when ports.http is -1). */
int api_init(struct daemon *d, struct http_server **out, struct errbuf *eb);
/* api_close - cancel what waits on raftd (answering those requests), then
 * close the server. */
void api_close(struct http_server *s);

#endif
