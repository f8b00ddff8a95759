/* main.c - cairn-dnsd: the Consul DNS interface, answered from a cache; other names forwarded to recursors. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "dnsd.h"
#include "log.h"

static struct dnsd dnsd;

static int
dnsd_init(struct daemon *d, struct errbuf *eb)
{
	dnsd.c_queries = daemon_counter(d, "dns.queries");
	dnsd.c_hits = daemon_counter(d, "dns.cache_hits");
	dnsd.c_forwarded = daemon_counter(d, "dns.forwarded");
	dnsd.c_errors = daemon_counter(d, "dns.errors");
	dnsd.c_refreshes = daemon_counter(d, "dns.catalog_reads");
	return dnsd_start(&dnsd, d->loop, &d->conf, eb);
}

static void
dnsd_reload(struct daemon *d, const struct cairn_conf *old)
{
	(void)old;
	dnsd_configure(&dnsd, &d->conf);
}

static void
dnsd_close(struct daemon *d)
{
	(void)d;
	dnsd_stop(&dnsd);
}

static void
dnsd_status(struct daemon *d, struct ipc_status *st)
{
	const struct cairn_conf *c = &d->conf;

	daemon_status_info(st, "dns.domain", "%s", c->domain);
	daemon_status_info(st, "dns.port", "%lld", (long long)c->port_dns);
	daemon_status_info(st, "dns.catalog_index", "%llu",
	    (unsigned long long)(dnsd.mirror ? dnsd.mirror->index : 0));
}

static const struct daemon_ops dnsd_ops = {
    .name = "dnsd",
    .summary = "cairn-dnsd: the Consul DNS interface, answered from a cache; other names forwarded to recursors.",
    .init = dnsd_init,
    .reload = dnsd_reload,
    .close = dnsd_close,
    .status = dnsd_status,
};

int
main(int argc, char **argv)
{
	return daemon_main(&dnsd_ops, NULL, argc, argv);
}
