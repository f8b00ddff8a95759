/* main.c - cairn-httpd: the Consul HTTP API v1 and the web UI. */
#include <stdio.h>

#include "daemon.h"
#include "api.h"
#include "log.h"

static struct http_server *http_srv;

static int
httpd_init(struct daemon *d, struct errbuf *eb)
{
	return api_init(d, &http_srv, eb);
}

static void
httpd_close(struct daemon *d)
{
	(void)d;
	api_close(http_srv);
	http_srv = NULL;
}

static void
httpd_status(struct daemon *d, struct ipc_status *st)
{
	const struct cairn_conf *c = &d->conf;

	daemon_status_info(st, "agent.http_addr", "%s:%lld",
	    c->addr_http && *c->addr_http ? c->addr_http : c->client_addr,
	    (long long)c->port_http);
}

static const struct daemon_ops httpd_ops = {
    .name = "httpd",
    .summary = "cairn-httpd: the Consul HTTP API v1 and the web UI.",
    .init = httpd_init,
    .close = httpd_close,
    .status = httpd_status,
};

int
main(int argc, char **argv)
{
	return daemon_main(&httpd_ops, NULL, argc, argv);
}
