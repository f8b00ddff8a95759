/* main.c - cairn-raftd: Raft consensus and the replicated state (KV, catalog, sessions) in LMDB; on clients, forwarding to a server. */
#include <stdio.h>

#include "daemon.h"
#include "log.h"

static int
raftd_init(struct daemon *d, struct errbuf *eb)
{
	(void)eb;
	log_info("data in %s, server port %lld", d->conf.data_dir,
	    (long long)d->conf.port_server);
	return 0;
}

static void
raftd_status(struct daemon *d, struct ipc_status *st)
{
	const struct cairn_conf *c = &d->conf;

	daemon_status_info(st, "consul.server", "%s", c->server ? "true" : "false");
	daemon_status_info(st, "consul.bootstrap", "%s",
	    c->bootstrap ? "true" : "false");
	daemon_status_info(st, "consul.datacenter", "%s", c->datacenter);
	daemon_status_info(st, "raft.server_port", "%lld",
	    (long long)c->port_server);
}

static const struct daemon_ops raftd_ops = {
    .name = "raftd",
    .summary = "cairn-raftd: Raft consensus and the replicated state (KV, catalog, sessions) in LMDB; on clients, forwarding to a server.",
    .init = raftd_init,
    .status = raftd_status,
};

int
main(int argc, char **argv)
{
	return daemon_main(&raftd_ops, NULL, argc, argv);
}
