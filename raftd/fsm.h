/* fsm.h - raftd's replicated state machine: applies committed commands
 * (struct ipc_raft_cmd) to the state tables of the store, and reads them.
 *
 * Tables: "kv" (key -> struct ipc_kv_row encoded without its key),
 * "sessions" (id -> struct ipc_session), "sesslocks" (session id, NUL,
 * key -> "": the keys a session holds), "nodes" (name -> struct
 * ipc_node), "checks" (node, NUL, check id -> struct ipc_check),
 * "index" (table name -> u64 big-endian: the table's last modify index,
 * Consul's X-Consul-Index), "dedup" (client id, u64 BE -> the last seq
 * applied for that client and its result), so a resent command is
 * answered from its first result and not applied twice. */
#ifndef CAIRN_RAFTD_FSM_H
#define CAIRN_RAFTD_FSM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "ipc_msg.h"
#include "raft/raft.h"
#include "store.h"

#define FSM_KEY_MAX 511	 /* LMDB's key limit */
#define FSM_SESSION_ID_MAX 36 /* a UUID */
/* a locked key is also indexed under its session's id */
#define FSM_LOCK_KEY_MAX (FSM_KEY_MAX - FSM_SESSION_ID_MAX - 1)
#define FSM_TXN_MAX_OPS 128
#define FSM_RESTORE_ID_MAX 64
#define FSM_RESTORE_CHUNK_MAX (1024 * 1024)
/* the change a restore announces besides every table's: everything */
#define FSM_TABLE_ALL "*"

/* What applying changed, for the driver to act on after the commit:
 * change notifications, and session events (created with a TTL; gone; a
 * key released by invalidation, under lock-delay ns). */
struct fsm_change {
	const char *table; /* static */
	char *key;
	bool prefix;
	uint64_t index;
};
struct fsm_session_ev {
	char *id;
	char *key; /* NULL, or a key freed by invalidation */
	uint64_t ttl_ms, lock_delay;
	bool alive;
};
struct fsm_effects {
	struct fsm_change *changes;
	size_t nchanges, capchanges;
	struct fsm_session_ev *sessions;
	size_t nsessions, capsessions;
};
void fsm_effects_free(struct fsm_effects *fx);

/* fsm_apply - apply entries[0..n) (committed, in order) in ONE state
 * transaction that also records entries[n-1].index as the applied index.
 * results[i] gets the outcome of entries[i] (index 0 for non-commands;
 * release each with cdc_free(&ipc_raft_result_desc)).  A command that
 * does not decode is skipped (logged; result ok=false): every server skips
 * it the same way.  A txn command applies all its operations or none.
 * Effects are appended to fx (may be NULL).  Returns 0, or -ENOSPC/-EIO
 * (nothing applied, results freed; the caller retries later and drops
 * fx). */
int fsm_apply(struct store *st, const struct raft_entry *entries, size_t n,
    struct ipc_raft_result *results, struct fsm_effects *fx,
    struct errbuf *eb);

/* fsm_apply_txn - fsm_apply() without the commit: entries[0..n) (n >= 1)
 * applied in the state transaction *out, results filled, for the caller
 * to end with store_state_commit(*out, entries[n-1].index) or
 * store_state_abort(); effects to act on once committed go to fx.
 * Returns 0, or an error with *out NULL (nothing applied, results freed,
 * fx to be dropped). */
int fsm_apply_txn(struct store *st, const struct raft_entry *entries,
    size_t n, struct ipc_raft_result *results, struct fsm_effects *fx,
    struct store_txn **out, struct errbuf *eb);

/* fsm_kv_read - rows for key (or every key with that prefix when
 * recurse), at most max_rows (0: no limit), and the kv table's index,
 * from a fresh read transaction.  rep is zeroed by the caller; release it
 * with cdc_free(&ipc_kv_read_reply_desc, rep). */
int fsm_kv_read(struct store *st, const char *key, int recurse,
    uint64_t max_rows, struct ipc_kv_read_reply *rep, struct errbuf *eb);

/* fsm_session_read - the session id (id != NULL), a node's sessions
 * (node != NULL), or all, and the sessions table's index (>= 1). */
int fsm_session_read(struct store *st, const char *id, const char *node,
    struct ipc_session_read_reply *rep, struct errbuf *eb);

/* fsm_catalog_read - what "nodes" (all, or node), "checks" (all, or a
 * node's), "services" (all, or a node's) or "service" (svc's instances,
 * their nodes and those nodes' checks), and the catalog's index (max of
 * nodes, services and checks, >= 1). */
int fsm_catalog_read(struct store *st, const char *what, const char *node,
    const char *svc, struct ipc_catalog_reply *rep, struct errbuf *eb);

/* fsm_txn_read_only - every operation of ops is a read verb (get,
 * get-or-empty, get-tree, check-*) */
bool fsm_txn_read_only(const struct cdc_list *ops);
/* fsm_txn_read - a read-only transaction on a fresh read transaction, as
 * a read is served (no log entry); res as fsm_apply fills it for a txn,
 * index = the applied index. */
int fsm_txn_read(struct store *st, const struct cdc_list *ops,
    struct ipc_raft_result *res, struct errbuf *eb);

/* fsm_entry_op - the op of a command entry (enum raft_cmd_op), read
 * without decoding the rest; 0 for other entries. */
int fsm_entry_op(const struct raft_entry *e);

/* fsm_restore_stage - for a RAFT_OP_RESTORE entry e, before it is applied
 * and with every earlier entry applied: write the chunks staged under its
 * id to the file path, check their length and SHA-256, mark the file as
 * applied up to e->index - 1 with the entry pending, and swap it in as
 * the state (store_state_restore()).  The entry's own apply then finishes
 * the restore (indexes clamped to e->index, change events for every
 * table); if the chunks are not whole or not a state, nothing is swapped
 * and that apply fails the entry the same way on every server.
 * Returns 1 (swapped), 0 (nothing to do: not a restore, done before a
 * crash, or an upload that fails), or a store error (retry later). */
int fsm_restore_stage(struct store *st, const struct raft_entry *e,
    const char *path, struct errbuf *eb);

/* fsm_query_read - the prepared query id (NULL or "": all) and the
 * queries table's index (>= 1); rep zeroed by the caller. */
int fsm_query_read(struct store *st, const char *id,
    struct ipc_query_list *rep, struct errbuf *eb);

/* fsm_query_find - the query `name` means (an ID, a name, a template's
 * prefix), rendered for that name (pquery.h); *index: the queries
 * table's.  Returns 0, -ENOENT "Query not found", -EINVAL (template). */
int fsm_query_find(struct store *st, const char *name,
    struct ipc_pquery *out, uint64_t *index, struct errbuf *eb);

/* fsm_encode_cmd - a command as the data of a log entry. */
void fsm_encode_cmd(const struct ipc_raft_cmd *cmd, struct buf *b);

#endif
