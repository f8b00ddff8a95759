/* main.c - cairn-checkd: this agent's local services and health checks; anti-entropy with the catalog. */
#include <stdio.h>

#include "daemon.h"
#include "log.h"

static int
checkd_init(struct daemon *d, struct errbuf *eb)
{
	(void)eb;
	log_info("%zu services and %zu checks in the configuration",
	    d->conf.services.n, d->conf.checks.n);
	return 0;
}

static void
checkd_status(struct daemon *d, struct ipc_status *st)
{
	const struct cairn_conf *c = &d->conf;

	daemon_status_info(st, "agent.services", "%zu", c->services.n);
	daemon_status_info(st, "agent.checks", "%zu", c->checks.n);
}

static const struct daemon_ops checkd_ops = {
    .name = "checkd",
    .summary = "cairn-checkd: this agent's local services and health checks; anti-entropy with the catalog.",
    .init = checkd_init,
    .status = checkd_status,
};

int
main(int argc, char **argv)
{
	return daemon_main(&checkd_ops, NULL, argc, argv);
}
