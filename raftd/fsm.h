/* fsm.h - raftd's replicated state machine: applies committed commands
 * (struct ipc_raft_cmd) to the state tables of the store, and reads them.
 *
 * Tables: "kv" (key -> struct ipc_kv_row encoded without its key),
 * "index" (table name -> u64 big-endian: the table's last modify index,
 * Consul's X-Consul-Index), "dedup" (client id, u64 BE -> the last seq
 * applied for that client and its result), so a resent command is
 * answered from its first result and not applied twice. */
#ifndef CAIRN_RAFTD_FSM_H
#define CAIRN_RAFTD_FSM_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "ipc_msg.h"
#include "raft/raft.h"
#include "store.h"

/* fsm_apply - apply entries[0..n) (committed, in order) in ONE state
 * transaction that also records entries[n-1].index as the applied index.
 * results[i] gets the outcome of entries[i] (index 0 for non-commands).
 * A command that does not decode is skipped (logged; result ok=false):
 * every server skips it the same way.  Returns 0, or -ENOSPC/-EIO (nothing
 * applied; the caller retries later). */
int fsm_apply(struct store *st, const struct raft_entry *entries, size_t n,
    struct ipc_raft_result *results, struct errbuf *eb);

/* fsm_apply_txn - fsm_apply() without the commit: entries[0..n) (n >= 1)
 * applied in the state transaction *out, results filled, for the caller
 * to end with store_state_commit(*out, entries[n-1].index) or
 * store_state_abort().  Returns 0, or an error with *out NULL (nothing
 * applied). */
int fsm_apply_txn(struct store *st, const struct raft_entry *entries,
    size_t n, struct ipc_raft_result *results, struct store_txn **out,
    struct errbuf *eb);

/* fsm_kv_read - rows for key (or every key with that prefix when
 * recurse), at most max_rows (0: no limit), and the kv table's index,
 * from a fresh read transaction.  rep is zeroed by the caller; release it
 * with cdc_free(&ipc_kv_read_reply_desc, rep). */
int fsm_kv_read(struct store *st, const char *key, int recurse,
    uint64_t max_rows, struct ipc_kv_read_reply *rep, struct errbuf *eb);

/* fsm_encode_cmd - a command as the data of a log entry. */
void fsm_encode_cmd(const struct ipc_raft_cmd *cmd, struct buf *b);

#endif
