/* main.c - cairn-gossipd: gossip membership (SWIM) of the LAN pool and, on servers, the WAN pool; user events; keyring. */
#include <stdio.h>

#include "daemon.h"
#include "log.h"

static int
gossipd_init(struct daemon *d, struct errbuf *eb)
{
	(void)eb;
	log_info("LAN gossip port %lld, WAN gossip port %lld",
	    (long long)d->conf.port_serf_lan, (long long)d->conf.port_serf_wan);
	return 0;
}

static void
gossipd_status(struct daemon *d, struct ipc_status *st)
{
	const struct cairn_conf *c = &d->conf;

	daemon_status_info(st, "serf_lan.port", "%lld",
	    (long long)c->port_serf_lan);
	daemon_status_info(st, "serf_wan.port", "%lld",
	    (long long)c->port_serf_wan);
	daemon_status_info(st, "serf_lan.encrypted", "%s",
	    c->encrypt && *c->encrypt ? "true" : "false");
}

static const struct daemon_ops gossipd_ops = {
    .name = "gossipd",
    .summary = "cairn-gossipd: gossip membership (SWIM) of the LAN pool and, on servers, the WAN pool; user events; keyring.",
    .init = gossipd_init,
    .status = gossipd_status,
};

int
main(int argc, char **argv)
{
	return daemon_main(&gossipd_ops, NULL, argc, argv);
}
