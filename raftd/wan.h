/* wan.h - a server's routes to the other datacenters (Consul's router):
 * the servers of every datacenter as the WAN pool shows them (gossipd's
 * members with role=consul, dc and port tags), ordered by the RTT their
 * Vivaldi coordinates estimate from this server, and one client-mode
 * transport per remote datacenter (raftd/transport.h: its HELLO names
 * that datacenter, so its servers take us as one of their clients and
 * answer forwarded requests over the same connection).
 *
 * Membership comes in two ways: gossipd's member events (fast, no
 * coordinates) and a periodic full list (coordinates; servers missing
 * from it are dropped). */
#ifndef CAIRN_RAFTD_WAN_H
#define CAIRN_RAFTD_WAN_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ipc_msg.h"
#include "transport.h"

struct wan;

int wan_open(struct ev_loop *loop, const char *local_dc,
    const char *node_name, transport_recv_fn fn, void *arg,
    struct wan **out);
void wan_close(struct wan *w);

/* wan_member - one WAN member (event or list entry) */
void wan_member(struct wan *w, const struct ipc_member *m);
/* wan_members - the whole WAN pool (members[0]: this server, whose
 * coordinate is the origin of the RTT estimates) */
void wan_members(struct wan *w, const struct ipc_members *ms);

/* wan_known - the datacenter has (or had) servers in the WAN pool */
bool wan_known(const struct wan *w, const char *dc);
/* wan_pick - the server of dc to try at this attempt (0: the nearest
 * alive one, 1: the next, ...), or 0 when there is none left; *nalive
 * (may be NULL) gets how many alive servers dc has */
uint64_t wan_pick(struct wan *w, const char *dc, unsigned attempt,
    unsigned *nalive);
/* wan_send - a frame to server id of dc over that datacenter's transport
 * (transport_send's returns; -ENOENT for an unknown datacenter) */
int wan_send(struct wan *w, const char *dc, uint64_t id, uint8_t kind,
    const void *payload, size_t len);
/* wan_datacenters - every known datacenter (the local one included),
 * nearest first by the median estimated RTT to its servers, then by
 * name; a NULL-terminated array to free with wan_names_free */
char **wan_datacenters(struct wan *w);
void wan_names_free(char **names);
/* wan_server_name - the WAN name ("node.dc") of id, or NULL */
const char *wan_server_name(const struct wan *w, uint64_t id);

#endif
