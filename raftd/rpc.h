/* rpc.h - the wire form of Raft messages between raftd servers, in the
 * common codec (tagged fields, so mixed versions interoperate). */
#ifndef CAIRN_RAFTD_RPC_H
#define CAIRN_RAFTD_RPC_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "raft/raft.h"

#define RPC_MAX_ENTRIES 65536	/* per message */
#define RPC_MAX_SERVERS 4096	/* per configuration */

/* rpc_encode_msg - append the encoding of m to b. */
void rpc_encode_msg(struct buf *b, const struct raft_msg *m);

/* rpc_decode_msg - decode p[0..n) into *m (zeroed by the caller).  On
 * success the caller owns what m points to (raft_msg_free).  Returns 0, or
 * -EBADMSG/-EMSGSIZE with a reason in eb (nothing allocated then).
 * Rejects unknown message types, entries whose indexes are not
 * prev_index+1, prev_index+2, ..., and more than RPC_MAX_ENTRIES entries. */
int rpc_decode_msg(const void *p, size_t n, struct raft_msg *m,
    struct errbuf *eb);

#endif
