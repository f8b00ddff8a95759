/* node.h - raftd's driver: the Raft core on the LMDB store, the TCP
 * transport and a libev tick, serving the other daemons over IPC. */
#ifndef CAIRN_RAFTD_NODE_H
#define CAIRN_RAFTD_NODE_H

#include "daemon.h"

#define NODE_TICK_S 0.1 /* one Raft tick */

int node_init(struct daemon *d, struct errbuf *eb);
void node_stop(struct daemon *d);
void node_close(struct daemon *d);
void node_status(struct daemon *d, struct ipc_status *st);

/* node_id_of - the Raft server id of a node name (FNV-1a 64, never 0). */
uint64_t node_id_of(const char *name);

#endif
