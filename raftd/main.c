/* main.c - cairn-raftd: Raft consensus and the replicated state (KV, catalog, sessions) in LMDB; on clients, forwarding to a server. */
#include <stdio.h>

#include "daemon.h"
#include "log.h"
#include "node.h"

static int
raftd_init(struct daemon *d, struct errbuf *eb)
{
	log_info("data in %s, server port %lld", d->conf.data_dir,
	    (long long)d->conf.port_server);
	return node_init(d, eb);
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
	node_status(d, st);
}

static const struct daemon_ops raftd_ops = {
    .name = "raftd",
    .summary = "cairn-raftd: Raft consensus and the replicated state (KV, catalog, sessions) in LMDB; on clients, forwarding to a server.",
    .init = raftd_init,
    .stop = node_stop,
    .close = node_close,
    .status = raftd_status,
};

int
main(int argc, char **argv)
{
	return daemon_main(&raftd_ops, NULL, argc, argv);
}
