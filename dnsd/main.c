/* main.c - cairn-dnsd: the Consul DNS interface, answered from a cache; other names forwarded to recursors. */
#include <stdio.h>

#include "daemon.h"
#include "log.h"

static int
dnsd_init(struct daemon *d, struct errbuf *eb)
{
	(void)eb;
	log_info("DNS port %lld, domain %s", (long long)d->conf.port_dns,
	    d->conf.domain);
	return 0;
}

static void
dnsd_status(struct daemon *d, struct ipc_status *st)
{
	const struct cairn_conf *c = &d->conf;

	daemon_status_info(st, "dns.domain", "%s", c->domain);
	daemon_status_info(st, "dns.port", "%lld", (long long)c->port_dns);
}

static const struct daemon_ops dnsd_ops = {
    .name = "dnsd",
    .summary = "cairn-dnsd: the Consul DNS interface, answered from a cache; other names forwarded to recursors.",
    .init = dnsd_init,
    .status = dnsd_status,
};

int
main(int argc, char **argv)
{
	return daemon_main(&dnsd_ops, NULL, argc, argv);
}
