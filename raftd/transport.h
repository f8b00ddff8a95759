/* transport.h - raftd's TCP transport (:8300): length-prefixed frames to
 * and from peer servers, on libev.
 *
 * Frame: u32 big-endian length of what follows (<= TRANSPORT_MAX_FRAME),
 * then u8 kind, then the payload.  The first frame on a connection is a
 * HELLO (kind 0) carrying the sender's server id (u64 big-endian) and
 * cluster/datacenter name, so the receiver knows who it is talking to.
 * Many messages share one connection per direction; each outgoing peer has
 * a bounded queue (frames beyond it are dropped and counted: Raft
 * retransmits), and a connection that fails is retried with exponential
 * backoff (50 ms doubling to 2 s).  Incoming frames of any kind are handed
 * to the receive callback with the peer's id.
 *
 * Replies to a client (which does not listen, see transport_open_client)
 * travel back over the connection it opened: transport_send to an id with
 * no known address queues the frame on the newest incoming connection
 * whose HELLO carried that id (same bounded queue, per connection; what
 * is still queued when that connection closes is dropped and counted).
 * Frames written back on a connection we opened are read with the same
 * framing (no HELLO in that direction) and handed to the callback as from
 * the peer we connected to; a bad one closes the connection, which is
 * then re-made with backoff.
 */
#ifndef CAIRN_RAFTD_TRANSPORT_H
#define CAIRN_RAFTD_TRANSPORT_H

#include <ev.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define TRANSPORT_MAX_FRAME (64u * 1024 * 1024)
#define TRANSPORT_QUEUE_BYTES (32u * 1024 * 1024) /* per peer */

enum transport_kind {
	TRANSPORT_HELLO = 0,
	TRANSPORT_RAFT = 1,	/* an rpc_encode_msg'd raft_msg */
	TRANSPORT_SNAPSHOT = 2, /* a snapshot chunk (raftd's driver) */
	TRANSPORT_FORWARD = 3,	/* a forwarded client request/reply */
};

struct transport;

/* called for each complete frame from peer `from` (payload borrowed for
 * the call) */
typedef void (*transport_recv_fn)(struct transport *t, uint64_t from,
    uint8_t kind, const uint8_t *payload, size_t len, void *arg);

struct transport_stats {
	uint64_t frames_sent, frames_received, bytes_sent, bytes_received;
	/* queue full, peer unknown, or queued on an incoming connection
	 * that closed */
	uint64_t dropped;
	uint64_t connects, connect_failures, bad_frames;
};

/* transport_open - listen on bind_addr:port ("0.0.0.0", 8300; port 0
 * picks one, see transport_port).  self_id identifies this server in
 * HELLO; cluster is a name both ends must agree on (the datacenter), so a
 * stray connection from another cluster is refused. */
int transport_open(struct ev_loop *loop, const char *bind_addr, int port,
    uint64_t self_id, const char *cluster, transport_recv_fn fn, void *arg,
    struct transport **out, struct errbuf *eb);

/* transport_open_client - a transport that does not listen, for a client
 * node: it reaches servers through transport_set_peer and transport_send
 * as usual, and the servers' replies come back over the same connections
 * (see above).  self_id (non-zero) is how servers address the replies, so
 * it must be unique among the clients and servers of the cluster; do not
 * call transport_set_self_addr on it.  transport_port returns 0. */
int transport_open_client(struct ev_loop *loop, uint64_t self_id,
    const char *cluster, transport_recv_fn fn, void *arg,
    struct transport **out, struct errbuf *eb);

/* transport_port - the port listened on; 0 for a client transport */
int transport_port(const struct transport *t);

/* transport_set_self_addr - announce this server's listen address
 * ("host:port") in HELLO, so a server that did not know us yet (a new
 * member being added by the leader) can answer.  Call before sending.
 * The receiver registers the address for an id it has no address for. */
int transport_set_self_addr(struct transport *t, const char *addr);

/* transport_set_peer - where to reach server id ("host:port"); replaces an
 * earlier address (the connection is re-made).  NULL addr forgets it. */
int transport_set_peer(struct transport *t, uint64_t id, const char *addr);

/* transport_send - queue one frame to peer id (copied): to its address if
 * one is known (transport_set_peer, or learnt from its HELLO), else back
 * over its newest connection to us.  Returns 0, or -ENOENT (neither),
 * -ENOBUFS (queue full; dropped), -EMSGSIZE.  May be called from the
 * receive callback (a reply). */
int transport_send(struct transport *t, uint64_t id, uint8_t kind,
    const void *payload, size_t len);

/* transport_flush - write every queued frame to connected peers now
 * (as far as the sockets take them; the rest goes when they have room)
 * instead of on the loop's next poll: for frames that should be on the
 * wire before a slow call (an fsync) or without waiting for the loop.
 * Does nothing inside the receive callback. */
void transport_flush(struct transport *t);

void transport_stats(const struct transport *t, struct transport_stats *st);
void transport_close(struct transport *t);

#endif
