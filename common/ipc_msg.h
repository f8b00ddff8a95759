/* ipc_msg.h - THE catalogue of messages between Cairn's local daemons.
 *
 * Every message on an ipc:// socket is a 16-byte header followed by a body
 * in the common codec (codec.h):
 *
 *   0  u16 magic 0x434e ("CN")     8  u32 reqid (chosen by the requester,
 *   2  u8  version (IPC_VERSION)          echoed in the reply)
 *   3  u8  flags (IPC_F_REPLY)     12 u32 body length (must equal the rest)
 *   4  u16 type (enum ipc_type)
 *   6  i16 status (replies: 0 ok, else a negative errno; see below)
 *
 * A request's body is the type's request struct, a successful reply's body
 * the type's reply struct, and a failed reply's body a struct ipc_error.
 * Statuses: -EAGAIN (retry: not ready, not connected, leader unknown),
 * -ENOTSUP (unknown type), -EBADMSG (body did not decode), -ETIMEDOUT
 * (client side: no reply in time), -ECANCELED (client closed), others as
 * the handler says.  Bodies are tagged, so an older and a newer daemon can
 * talk: unknown fields are skipped and missing ones default.
 *
 * Numbers are explicit and never reused.  Ranges: 0x00xx every daemon;
 * 0x01xx raftd; 0x02xx gossipd; 0x03xx checkd; 0x04xx httpd; 0x05xx dnsd;
 * 0x06xx agent/ctl.
 */
#ifndef CAIRN_IPC_MSG_H
#define CAIRN_IPC_MSG_H

#include <stdint.h>
#include <stdbool.h>

#include "codec.h"

#define IPC_MAGIC 0x434eu
#define IPC_VERSION 1
#define IPC_HDR_LEN 16
#define IPC_MAX_BODY (16u * 1024 * 1024)
#define IPC_F_REPLY 0x01

struct ipc_hdr {
	uint16_t magic;
	uint8_t version;
	uint8_t flags;
	uint16_t type;
	int16_t status;
	uint32_t reqid;
	uint32_t len;
};

/* ipc_hdr_encode - write h into out[0..IPC_HDR_LEN). */
void ipc_hdr_encode(uint8_t *out, const struct ipc_hdr *h);
/* ipc_hdr_decode - parse a whole message p[0..n): the header, and check
 * that the body length matches n and is within IPC_MAX_BODY.  Returns 0 or
 * -EBADMSG / -EMSGSIZE with a reason in eb. */
int ipc_hdr_decode(const uint8_t *p, size_t n, struct ipc_hdr *h,
    struct errbuf *eb);

/* --- message bodies ------------------------------------------------------ */

/* no fields */
struct ipc_empty {
	uint8_t unused;
};
extern const struct cdc_msg_desc ipc_empty_desc;

#define IPC_ERROR(F, S) F(S, 1, STR, char *, message, NULL)
CDC_STRUCT(ipc_error, IPC_ERROR)
extern const struct cdc_msg_desc ipc_error_desc;

#define IPC_KV(F, S)                                                           \
	F(S, 1, STR, char *, key, NULL)                                        \
	F(S, 2, STR, char *, value, NULL)
CDC_STRUCT(ipc_kv, IPC_KV)
extern const struct cdc_msg_desc ipc_kv_desc;

#define IPC_COUNTER(F, S)                                                      \
	F(S, 1, STR, char *, name, NULL)                                       \
	F(S, 2, U64, uint64_t, value, NULL)
CDC_STRUCT(ipc_counter, IPC_COUNTER)
extern const struct cdc_msg_desc ipc_counter_desc;

/* IPC_STATUS reply: any daemon's status.  `info` carries the lines that
 * `cairn info` shows for this daemon's section(s), as "section.key". */
#define IPC_STATUS(F, S)                                                       \
	F(S, 1, STR, char *, daemon, NULL)                                     \
	F(S, 2, STR, char *, version, NULL)                                    \
	F(S, 3, STR, char *, revision, NULL)                                   \
	F(S, 4, U64, uint64_t, pid, NULL)                                      \
	F(S, 5, U64, uint64_t, uptime_ms, NULL)                                \
	F(S, 6, U64, uint64_t, started_unix_ms, NULL)                          \
	F(S, 7, MSGLIST, struct cdc_list, counters, &ipc_counter_desc)         \
	F(S, 8, MSGLIST, struct cdc_list, info, &ipc_kv_desc)                  \
	F(S, 9, STR, char *, log_level, NULL)                                  \
	F(S, 10, U64, uint64_t, reloads, NULL)
CDC_STRUCT(ipc_status, IPC_STATUS)
extern const struct cdc_msg_desc ipc_status_desc;

/* IPC_RELOAD reply */
#define IPC_RELOAD_REPLY(F, S) F(S, 1, BOOL, bool, changed, NULL)
CDC_STRUCT(ipc_reload_reply, IPC_RELOAD_REPLY)
extern const struct cdc_msg_desc ipc_reload_reply_desc;

/* a KV row as Consul shows it; also the stored form (without key).
 * no_value: a txn write result, shown without Value. */
#define IPC_KV_ROW(F, S)                                                       \
	F(S, 1, STR, char *, key, NULL)                                        \
	F(S, 2, BYTES, struct cdc_bytes, value, NULL)                          \
	F(S, 3, U64, uint64_t, flags, NULL)                                    \
	F(S, 4, U64, uint64_t, create_index, NULL)                             \
	F(S, 5, U64, uint64_t, modify_index, NULL)                             \
	F(S, 6, U64, uint64_t, lock_index, NULL)                               \
	F(S, 7, STR, char *, session, NULL)                                    \
	F(S, 8, BOOL, bool, no_value, NULL)
CDC_STRUCT(ipc_kv_row, IPC_KV_ROW)
extern const struct cdc_msg_desc ipc_kv_row_desc;

/* --- raftd ------------------------------------------------------------------
 * A state-machine command: the body of IPC_RAFT_APPLY and, encoded the same
 * way, the data of a Raft log entry.  (client_id, seq) makes it idempotent:
 * a resent command with a seq already applied for that client is answered
 * from the first result, not applied again. */
enum raft_cmd_op {
	RAFT_OP_KV_SET = 1,	    /* key = value (flags) */
	RAFT_OP_KV_CAS = 2,	    /* set if ModifyIndex == cas (0: absent) */
	RAFT_OP_KV_DELETE = 3,	    /* delete key */
	RAFT_OP_KV_DELETE_TREE = 4, /* delete every key with prefix key */
	RAFT_OP_KV_DELETE_CAS = 5,  /* delete if ModifyIndex == cas */
	RAFT_OP_NOOP = 6,	    /* barrier */
	RAFT_OP_KV_LOCK = 7,	    /* ?acquire: set + lock for session */
	RAFT_OP_KV_UNLOCK = 8,	    /* ?release: set + unlock by holder */
	RAFT_OP_SESSION_CREATE = 9, /* sess (its id chosen by the proposer) */
	RAFT_OP_SESSION_DESTROY = 10, /* session: invalidate (behavior) */
	RAFT_OP_TXN = 11,	    /* ops, all or nothing */
	RAFT_OP_CATALOG_REGISTER = 12, /* cnode (upsert), csvc if set, ccheck
					* and cchecks if set */
	RAFT_OP_CATALOG_DEREGISTER = 13, /* key: node; csvc.id: only that
					  * service (and its checks);
					  * ccheck.check_id: only that check */
	/* snapshot restore: the state file travels through the log in
	 * chunks (key: restore id, cas: offset, value: bytes; offset 0
	 * drops any earlier upload), then RESTORE (key: id, value: its
	 * SHA-256, cas: its length) replaces the state with it on every
	 * server at that index */
	RAFT_OP_RESTORE_CHUNK = 14,
	RAFT_OP_RESTORE = 15,
	/* prepared queries: pquery (its id chosen by the proposer; an
	 * existing id is updated), or key: the id to delete */
	RAFT_OP_QUERY_SET = 16,
	RAFT_OP_QUERY_DELETE = 17,
};

/* why a command did not take effect (ipc_raft_result.err) */
enum raft_cmd_err {
	RAFT_ERR_NONE = 0,
	RAFT_ERR_FAILED = 1,	    /* cas/lock lost: answer false */
	RAFT_ERR_NO_SESSION = 2,    /* unknown session */
	RAFT_ERR_INVALID = 3,	    /* malformed command */
	RAFT_ERR_TXN = 4,	    /* txn rolled back: see errors */
	RAFT_ERR_LOCK_DELAY = 5,    /* acquire refused during lock-delay */
	RAFT_ERR_NO_NODE = 6,	    /* session: node not registered */
	RAFT_ERR_CHECK_CRITICAL = 7, /* session: a bound check is critical */
	RAFT_ERR_RESTORE = 8,	    /* the uploaded state did not install */
	RAFT_ERR_QUERY_NAME = 9,    /* another prepared query has the name */
	RAFT_ERR_NOT_FOUND = 10,    /* no such prepared query */
	RAFT_ERR_UNKNOWN = 11,	    /* a resent command too old to tell whether
				       it was applied (fsm.c, dedup) */
};

/* a catalog node; meta and tagged addresses as "k=v" */
#define IPC_NODE(F, S)                                                         \
	F(S, 1, STR, char *, node, NULL)                                       \
	F(S, 2, STR, char *, id, NULL)                                         \
	F(S, 3, STR, char *, address, NULL)                                    \
	F(S, 4, STR, char *, datacenter, NULL)                                 \
	F(S, 5, STRLIST, struct cdc_strlist, meta, NULL)                       \
	F(S, 6, STRLIST, struct cdc_strlist, tagged_addresses, NULL)           \
	F(S, 7, U64, uint64_t, create_index, NULL)                             \
	F(S, 8, U64, uint64_t, modify_index, NULL)
CDC_STRUCT(ipc_node, IPC_NODE)
extern const struct cdc_msg_desc ipc_node_desc;

/* a health check in the catalog; status passing/warning/critical */
#define IPC_CHECK(F, S)                                                        \
	F(S, 1, STR, char *, node, NULL)                                       \
	F(S, 2, STR, char *, check_id, NULL)                                   \
	F(S, 3, STR, char *, name, NULL)                                       \
	F(S, 4, STR, char *, status, NULL)                                     \
	F(S, 5, STR, char *, notes, NULL)                                      \
	F(S, 6, STR, char *, output, NULL)                                     \
	F(S, 7, STR, char *, service_id, NULL)                                 \
	F(S, 8, STR, char *, service_name, NULL)                               \
	F(S, 9, STRLIST, struct cdc_strlist, service_tags, NULL)               \
	F(S, 10, STR, char *, type, NULL)                                      \
	F(S, 11, U64, uint64_t, create_index, NULL)                            \
	F(S, 12, U64, uint64_t, modify_index, NULL)                            \
	F(S, 13, STR, char *, interval, NULL)                                  \
	F(S, 14, STR, char *, timeout, NULL)
CDC_STRUCT(ipc_check, IPC_CHECK)
extern const struct cdc_msg_desc ipc_check_desc;

/* a service instance in the catalog; meta and tagged addresses "k=v";
 * weights passing/warning (0: Consul's defaults 1/1) */
#define IPC_SERVICE(F, S)                                                      \
	F(S, 1, STR, char *, node, NULL)                                       \
	F(S, 2, STR, char *, id, NULL)                                         \
	F(S, 3, STR, char *, service, NULL)                                    \
	F(S, 4, STRLIST, struct cdc_strlist, tags, NULL)                       \
	F(S, 5, STR, char *, address, NULL)                                    \
	F(S, 6, U32, uint32_t, port, NULL)                                     \
	F(S, 7, STRLIST, struct cdc_strlist, meta, NULL)                       \
	F(S, 8, BOOL, bool, enable_tag_override, NULL)                         \
	F(S, 9, STRLIST, struct cdc_strlist, tagged_addresses, NULL)           \
	F(S, 10, U32, uint32_t, weight_passing, NULL)                          \
	F(S, 11, U32, uint32_t, weight_warning, NULL)                          \
	F(S, 12, STR, char *, kind, NULL)                                      \
	F(S, 13, U64, uint64_t, create_index, NULL)                            \
	F(S, 14, U64, uint64_t, modify_index, NULL)
CDC_STRUCT(ipc_service, IPC_SERVICE)
extern const struct cdc_msg_desc ipc_service_desc;

/* a session as Consul shows it; also the stored form.  lock_delay in ns;
 * ttl as the client gave it ("30s"), ttl_ms parsed. */
#define IPC_SESSION(F, S)                                                      \
	F(S, 1, STR, char *, id, NULL)                                         \
	F(S, 2, STR, char *, name, NULL)                                       \
	F(S, 3, STR, char *, node, NULL)                                       \
	F(S, 4, U64, uint64_t, lock_delay, NULL)                               \
	F(S, 5, STR, char *, behavior, NULL)                                   \
	F(S, 6, STR, char *, ttl, NULL)                                        \
	F(S, 7, U64, uint64_t, ttl_ms, NULL)                                   \
	F(S, 8, STRLIST, struct cdc_strlist, node_checks, NULL)                \
	F(S, 9, STRLIST, struct cdc_strlist, service_checks, NULL)             \
	F(S, 10, U64, uint64_t, create_index, NULL)                            \
	F(S, 11, U64, uint64_t, modify_index, NULL)
CDC_STRUCT(ipc_session, IPC_SESSION)
extern const struct cdc_msg_desc ipc_session_desc;

/* one KV operation of a transaction; verb as Consul names it ("set",
 * "cas", "lock", "unlock", "get", "get-or-empty", "get-tree",
 * "check-index", "check-session", "check-not-exists", "delete",
 * "delete-tree", "delete-cas") */
#define IPC_TXN_OP(F, S)                                                       \
	F(S, 1, STR, char *, verb, NULL)                                       \
	F(S, 2, STR, char *, key, NULL)                                        \
	F(S, 3, BYTES, struct cdc_bytes, value, NULL)                          \
	F(S, 4, U64, uint64_t, flags, NULL)                                    \
	F(S, 5, U64, uint64_t, index, NULL)                                    \
	F(S, 6, STR, char *, session, NULL)
CDC_STRUCT(ipc_txn_op, IPC_TXN_OP)
extern const struct cdc_msg_desc ipc_txn_op_desc;

#define IPC_TXN_ERROR(F, S)                                                    \
	F(S, 1, U32, uint32_t, op_index, NULL)                                 \
	F(S, 2, STR, char *, what, NULL)
CDC_STRUCT(ipc_txn_error, IPC_TXN_ERROR)
extern const struct cdc_msg_desc ipc_txn_error_desc;

/* a prepared query (/v1/query), as stored: Consul's PreparedQuery with
 * Service's fields flattened; node_meta and service_meta "k=v" */
#define IPC_PQUERY(F, S)                                                       \
	F(S, 1, STR, char *, id, NULL)                                         \
	F(S, 2, STR, char *, name, NULL)                                       \
	F(S, 3, STR, char *, session, NULL)                                    \
	F(S, 4, STR, char *, token, NULL)                                      \
	F(S, 5, STR, char *, service, NULL)                                    \
	F(S, 6, U32, uint32_t, nearest_n, NULL)                                \
	F(S, 7, STRLIST, struct cdc_strlist, failover_dcs, NULL)               \
	F(S, 8, BOOL, bool, only_passing, NULL)                                \
	F(S, 9, STR, char *, near, NULL)                                       \
	F(S, 10, STRLIST, struct cdc_strlist, tags, NULL)                      \
	F(S, 11, STRLIST, struct cdc_strlist, node_meta, NULL)                 \
	F(S, 12, STRLIST, struct cdc_strlist, service_meta, NULL)              \
	F(S, 13, STRLIST, struct cdc_strlist, ignore_check_ids, NULL)          \
	F(S, 14, STR, char *, dns_ttl, NULL)                                   \
	F(S, 15, STR, char *, template_type, NULL)                             \
	F(S, 16, STR, char *, template_regexp, NULL)                           \
	F(S, 17, BOOL, bool, remove_empty_tags, NULL)                          \
	F(S, 18, U64, uint64_t, create_index, NULL)                            \
	F(S, 19, U64, uint64_t, modify_index, NULL)
CDC_STRUCT(ipc_pquery, IPC_PQUERY)
extern const struct cdc_msg_desc ipc_pquery_desc;

#define IPC_RAFT_CMD(F, S)                                                     \
	F(S, 1, U32, uint32_t, op, NULL)                                       \
	F(S, 2, U64, uint64_t, client_id, NULL)                                \
	F(S, 3, U64, uint64_t, seq, NULL)                                      \
	F(S, 4, STR, char *, key, NULL)                                        \
	F(S, 5, BYTES, struct cdc_bytes, value, NULL)                          \
	F(S, 6, U64, uint64_t, flags, NULL)                                    \
	F(S, 7, U64, uint64_t, cas, NULL)                                      \
	F(S, 8, STR, char *, session, NULL)                                    \
	F(S, 9, MSG, struct ipc_session, sess, &ipc_session_desc)              \
	F(S, 10, MSGLIST, struct cdc_list, ops, &ipc_txn_op_desc)              \
	F(S, 11, MSG, struct ipc_node, cnode, &ipc_node_desc)                  \
	F(S, 12, MSG, struct ipc_check, ccheck, &ipc_check_desc)               \
	F(S, 13, MSG, struct ipc_service, csvc, &ipc_service_desc)             \
	F(S, 14, MSGLIST, struct cdc_list, cchecks, &ipc_check_desc)           \
	F(S, 15, BOOL, bool, skip_node_update, NULL)                           \
	F(S, 16, MSG, struct ipc_pquery, pquery, &ipc_pquery_desc)
CDC_STRUCT(ipc_raft_cmd, IPC_RAFT_CMD)
extern const struct cdc_msg_desc ipc_raft_cmd_desc;

/* result of a command: the log index it was applied at and whether it
 * took effect (cas, delete-cas, lock, unlock, txn); err says why not.  A
 * txn's results (rows; values only for reads) or its errors. */
#define IPC_RAFT_RESULT(F, S)                                                  \
	F(S, 1, U64, uint64_t, index, NULL)                                    \
	F(S, 2, BOOL, bool, ok, NULL)                                          \
	F(S, 3, U32, uint32_t, err, NULL)                                      \
	F(S, 4, MSGLIST, struct cdc_list, rows, &ipc_kv_row_desc)              \
	F(S, 5, MSGLIST, struct cdc_list, errors, &ipc_txn_error_desc)         \
	F(S, 6, BOOL, bool, known_leader, NULL)                                \
	F(S, 7, U64, uint64_t, last_contact_ms, NULL)
CDC_STRUCT(ipc_raft_result, IPC_RAFT_RESULT)
extern const struct cdc_msg_desc ipc_raft_result_desc;

enum raft_read_mode {
	RAFT_READ_DEFAULT = 0,	  /* leader, under its lease */
	RAFT_READ_CONSISTENT = 1, /* leader, after a quorum round */
	RAFT_READ_STALE = 2,	  /* any server, local state */
};

#define IPC_KV_READ(F, S)                                                      \
	F(S, 1, U32, uint32_t, mode, NULL)                                     \
	F(S, 2, STR, char *, key, NULL)                                        \
	F(S, 3, BOOL, bool, recurse, NULL)                                     \
	F(S, 4, U64, uint64_t, max_rows, NULL)
CDC_STRUCT(ipc_kv_read, IPC_KV_READ)
extern const struct cdc_msg_desc ipc_kv_read_desc;


/* index: the table's last modify index (X-Consul-Index) */
#define IPC_KV_READ_REPLY(F, S)                                                \
	F(S, 1, U64, uint64_t, index, NULL)                                    \
	F(S, 2, BOOL, bool, known_leader, NULL)                                \
	F(S, 3, U64, uint64_t, last_contact_ms, NULL)                          \
	F(S, 4, MSGLIST, struct cdc_list, rows, &ipc_kv_row_desc)
CDC_STRUCT(ipc_kv_read_reply, IPC_KV_READ_REPLY)
extern const struct cdc_msg_desc ipc_kv_read_reply_desc;

#define IPC_RAFT_PEER(F, S)                                                    \
	F(S, 1, U64, uint64_t, id, NULL)                                       \
	F(S, 2, STR, char *, address, NULL)                                    \
	F(S, 3, BOOL, bool, voter, NULL)                                       \
	F(S, 4, BOOL, bool, leader, NULL)                                      \
	F(S, 5, STR, char *, name, NULL)
CDC_STRUCT(ipc_raft_peer, IPC_RAFT_PEER)
extern const struct cdc_msg_desc ipc_raft_peer_desc;

#define IPC_RAFT_STATE(F, S)                                                   \
	F(S, 1, STR, char *, role, NULL)                                       \
	F(S, 2, U64, uint64_t, term, NULL)                                     \
	F(S, 3, U64, uint64_t, commit_index, NULL)                             \
	F(S, 4, U64, uint64_t, applied_index, NULL)                            \
	F(S, 5, U64, uint64_t, last_index, NULL)                               \
	F(S, 6, U64, uint64_t, leader_id, NULL)                                \
	F(S, 7, STR, char *, leader_addr, NULL)                                \
	F(S, 8, U64, uint64_t, last_contact_ms, NULL)                          \
	F(S, 9, MSGLIST, struct cdc_list, peers, &ipc_raft_peer_desc)          \
	F(S, 10, U64, uint64_t, id, NULL)
CDC_STRUCT(ipc_raft_state, IPC_RAFT_STATE)
extern const struct cdc_msg_desc ipc_raft_state_desc;

/* IPC_EV_CHANGE (event, published by raftd on raftd.events after each
 * applied change): the table, the key (or key prefix when prefix is set;
 * empty: the whole table) and the new index of the table. */
#define IPC_CHANGE(F, S)                                                       \
	F(S, 1, STR, char *, table, NULL)                                      \
	F(S, 2, STR, char *, key, NULL)                                        \
	F(S, 3, BOOL, bool, prefix, NULL)                                      \
	F(S, 4, U64, uint64_t, index, NULL)
CDC_STRUCT(ipc_change, IPC_CHANGE)
extern const struct cdc_msg_desc ipc_change_desc;

/* IPC_SESSION_READ: one session (id), a node's (node), or all */
#define IPC_SESSION_READ(F, S)                                                 \
	F(S, 1, U32, uint32_t, mode, NULL)                                     \
	F(S, 2, STR, char *, id, NULL)                                         \
	F(S, 3, STR, char *, node, NULL)
CDC_STRUCT(ipc_session_read, IPC_SESSION_READ)
extern const struct cdc_msg_desc ipc_session_read_desc;

#define IPC_SESSION_READ_REPLY(F, S)                                           \
	F(S, 1, U64, uint64_t, index, NULL)                                    \
	F(S, 2, BOOL, bool, known_leader, NULL)                                \
	F(S, 3, U64, uint64_t, last_contact_ms, NULL)                          \
	F(S, 4, MSGLIST, struct cdc_list, sessions, &ipc_session_desc)
CDC_STRUCT(ipc_session_read_reply, IPC_SESSION_READ_REPLY)
extern const struct cdc_msg_desc ipc_session_read_reply_desc;

/* IPC_CATALOG_READ: what "nodes" (all, or node), "checks" (all, or a
 * node's), "services" (all, or a node's), "service" (the instances of
 * service, with their nodes and every check of those nodes), "all" (every
 * node, service instance and check) */
#define IPC_CATALOG_READ(F, S)                                                 \
	F(S, 1, U32, uint32_t, mode, NULL)                                     \
	F(S, 2, STR, char *, what, NULL)                                       \
	F(S, 3, STR, char *, node, NULL)                                       \
	F(S, 4, STR, char *, service, NULL)
CDC_STRUCT(ipc_catalog_read, IPC_CATALOG_READ)
extern const struct cdc_msg_desc ipc_catalog_read_desc;

#define IPC_CATALOG_REPLY(F, S)                                                \
	F(S, 1, U64, uint64_t, index, NULL)                                    \
	F(S, 2, BOOL, bool, known_leader, NULL)                                \
	F(S, 3, U64, uint64_t, last_contact_ms, NULL)                          \
	F(S, 4, MSGLIST, struct cdc_list, nodes, &ipc_node_desc)               \
	F(S, 5, MSGLIST, struct cdc_list, checks, &ipc_check_desc)             \
	F(S, 6, MSGLIST, struct cdc_list, services, &ipc_service_desc)
CDC_STRUCT(ipc_catalog_reply, IPC_CATALOG_REPLY)
extern const struct cdc_msg_desc ipc_catalog_reply_desc;

/* IPC_TXN_READ: a read-only transaction, served as a read (mode) */
#define IPC_TXN_READ(F, S)                                                     \
	F(S, 1, U32, uint32_t, mode, NULL)                                     \
	F(S, 2, MSGLIST, struct cdc_list, ops, &ipc_txn_op_desc)
CDC_STRUCT(ipc_txn_read, IPC_TXN_READ)
extern const struct cdc_msg_desc ipc_txn_read_desc;

/* IPC_SNAPSHOT_SAVE: write a snapshot archive (mode: where it may be
 * taken; stale: this server).  IPC_SNAPSHOT_READ: a chunk of it (name,
 * server: the one that holds it, offset).  The archive lives in that
 * server's data dir until read to its end or a few minutes pass. */
#define IPC_SNAPSHOT_REQ(F, S)                                                 \
	F(S, 1, U32, uint32_t, mode, NULL)                                     \
	F(S, 2, STR, char *, name, NULL)                                       \
	F(S, 3, U64, uint64_t, server, NULL)                                   \
	F(S, 4, U64, uint64_t, offset, NULL)
CDC_STRUCT(ipc_snapshot_req, IPC_SNAPSHOT_REQ)
extern const struct cdc_msg_desc ipc_snapshot_req_desc;

#define IPC_SNAPSHOT_REPLY(F, S)                                               \
	F(S, 1, STR, char *, name, NULL)                                       \
	F(S, 2, U64, uint64_t, server, NULL)                                   \
	F(S, 3, U64, uint64_t, index, NULL)                                    \
	F(S, 4, U64, uint64_t, term, NULL)                                     \
	F(S, 5, U64, uint64_t, size, NULL)                                     \
	F(S, 6, BYTES, struct cdc_bytes, data, NULL)                           \
	F(S, 7, BOOL, bool, known_leader, NULL)                                \
	F(S, 8, U64, uint64_t, last_contact_ms, NULL)
CDC_STRUCT(ipc_snapshot_reply, IPC_SNAPSHOT_REPLY)
extern const struct cdc_msg_desc ipc_snapshot_reply_desc;

/* IPC_DC_FORWARD: a request of `type` (body: encoded as that type's
 * request) to be served in datacenter dc; the reply carries the type's
 * reply, encoded.  A client agent's raftd passes it to a server of its
 * own datacenter, which serves it (dc is its own) or forwards it to a
 * server of dc found through the WAN pool.  Errors: -EHOSTUNREACH "No
 * path to datacenter" (unknown) or "Remote DC has no server currently
 * reachable". */
#define IPC_DC_REQ(F, S)                                                       \
	F(S, 1, STR, char *, dc, NULL)                                         \
	F(S, 2, U32, uint32_t, type, NULL)                                     \
	F(S, 3, BYTES, struct cdc_bytes, body, NULL)
CDC_STRUCT(ipc_dc_req, IPC_DC_REQ)
extern const struct cdc_msg_desc ipc_dc_req_desc;

#define IPC_DC_REPLY(F, S) F(S, 1, BYTES, struct cdc_bytes, body, NULL)
CDC_STRUCT(ipc_dc_reply, IPC_DC_REPLY)
extern const struct cdc_msg_desc ipc_dc_reply_desc;

/* IPC_DC_LIST reply: every known datacenter, nearest first */
#define IPC_DC_LIST(F, S) F(S, 1, STRLIST, struct cdc_strlist, names, NULL)
CDC_STRUCT(ipc_dc_list, IPC_DC_LIST)
extern const struct cdc_msg_desc ipc_dc_list_desc;

/* IPC_QUERY_READ: prepared queries (id: one; "": all), with a mode */
#define IPC_QUERY_READ(F, S)                                                   \
	F(S, 1, STR, char *, id, NULL)                                         \
	F(S, 2, U32, uint32_t, mode, NULL)
CDC_STRUCT(ipc_query_read, IPC_QUERY_READ)
extern const struct cdc_msg_desc ipc_query_read_desc;

#define IPC_QUERY_LIST(F, S)                                                   \
	F(S, 1, MSGLIST, struct cdc_list, queries, &ipc_pquery_desc)           \
	F(S, 2, U64, uint64_t, index, NULL)                                    \
	F(S, 3, BOOL, bool, known_leader, NULL)                                \
	F(S, 4, U64, uint64_t, last_contact_ms, NULL)
CDC_STRUCT(ipc_query_list, IPC_QUERY_LIST)
extern const struct cdc_msg_desc ipc_query_list_desc;

/* IPC_QUERY_EXECUTE: run the prepared query id_or_name (an ID, a name,
 * or a name a template's prefix matches): its healthy instances here, or
 * in the failover datacenters (nearest first, then the listed ones) when
 * none is; explain: only the rendered query.  The reply's catalog holds
 * the instances, their nodes and checks. */
#define IPC_QUERY_EXEC(F, S)                                                   \
	F(S, 1, STR, char *, name, NULL)                                       \
	F(S, 2, BOOL, bool, explain, NULL)                                     \
	F(S, 3, U32, uint32_t, mode, NULL)
CDC_STRUCT(ipc_query_exec, IPC_QUERY_EXEC)
extern const struct cdc_msg_desc ipc_query_exec_desc;

#define IPC_QUERY_RESULT(F, S)                                                 \
	F(S, 1, MSG, struct ipc_pquery, query, &ipc_pquery_desc)               \
	F(S, 2, MSG, struct ipc_catalog_reply, catalog,                        \
	    &ipc_catalog_reply_desc)                                           \
	F(S, 3, STR, char *, datacenter, NULL)                                 \
	F(S, 4, U32, uint32_t, failovers, NULL)                                \
	F(S, 5, U64, uint64_t, index, NULL)                                    \
	F(S, 6, BOOL, bool, known_leader, NULL)                                \
	F(S, 7, U64, uint64_t, last_contact_ms, NULL)
CDC_STRUCT(ipc_query_result, IPC_QUERY_RESULT)
extern const struct cdc_msg_desc ipc_query_result_desc;

/* IPC_RAFT_REMOVE_PEER: operator raft remove-peer, by id or address */
#define IPC_RAFT_REMOVE(F, S)                                                  \
	F(S, 1, U64, uint64_t, id, NULL)                                       \
	F(S, 2, STR, char *, address, NULL)
CDC_STRUCT(ipc_raft_remove, IPC_RAFT_REMOVE)
extern const struct cdc_msg_desc ipc_raft_remove_desc;

/* --- gossipd -----------------------------------------------------------------
 * A member of a gossip pool as Consul's /v1/agent/members shows it;
 * status is Serf's: 1 alive, 2 leaving, 3 left, 4 failed.  Tags "k=v".
 * coord: its Vivaldi coordinate as this agent knows it (vivaldi.h wire
 * form: 11 big-endian doubles), if any. */
enum gossip_status {
	GOSSIP_ALIVE = 1,
	GOSSIP_LEAVING = 2,
	GOSSIP_LEFT = 3,
	GOSSIP_FAILED = 4,
};

#define IPC_MEMBER(F, S)                                                       \
	F(S, 1, STR, char *, name, NULL)                                       \
	F(S, 2, STR, char *, addr, NULL)                                       \
	F(S, 3, U32, uint32_t, port, NULL)                                     \
	F(S, 4, STRLIST, struct cdc_strlist, tags, NULL)                       \
	F(S, 5, U32, uint32_t, status, NULL)                                   \
	F(S, 6, BOOL, bool, wan, NULL)                                         \
	F(S, 7, BYTES, struct cdc_bytes, coord, NULL)
CDC_STRUCT(ipc_member, IPC_MEMBER)
extern const struct cdc_msg_desc ipc_member_desc;

/* IPC_GOSSIP_MEMBERS request (also IPC_GOSSIP_LEAVE's: which pool) */
#define IPC_POOL_REQ(F, S) F(S, 1, BOOL, bool, wan, NULL)
CDC_STRUCT(ipc_pool_req, IPC_POOL_REQ)
extern const struct cdc_msg_desc ipc_pool_req_desc;

#define IPC_MEMBERS(F, S)                                                      \
	F(S, 1, MSGLIST, struct cdc_list, members, &ipc_member_desc)
CDC_STRUCT(ipc_members, IPC_MEMBERS)
extern const struct cdc_msg_desc ipc_members_desc;

#define IPC_JOIN(F, S)                                                         \
	F(S, 1, STRLIST, struct cdc_strlist, addrs, NULL)                      \
	F(S, 2, BOOL, bool, wan, NULL)
CDC_STRUCT(ipc_join, IPC_JOIN)
extern const struct cdc_msg_desc ipc_join_desc;

/* joined: how many addresses worked; errors: "addr: reason" */
#define IPC_JOIN_REPLY(F, S)                                                   \
	F(S, 1, U32, uint32_t, joined, NULL)                                   \
	F(S, 2, STRLIST, struct cdc_strlist, errors, NULL)
CDC_STRUCT(ipc_join_reply, IPC_JOIN_REPLY)
extern const struct cdc_msg_desc ipc_join_reply_desc;

#define IPC_FORCE_LEAVE(F, S)                                                  \
	F(S, 1, STR, char *, node, NULL)                                       \
	F(S, 2, BOOL, bool, wan, NULL)
CDC_STRUCT(ipc_force_leave, IPC_FORCE_LEAVE)
extern const struct cdc_msg_desc ipc_force_leave_desc;

/* a user event as Consul's /v1/event/fire and /list show it; also what
 * travels in the gossip payload (without ltime) */
#define IPC_USER_EVENT(F, S)                                                   \
	F(S, 1, STR, char *, id, NULL)                                         \
	F(S, 2, STR, char *, name, NULL)                                       \
	F(S, 3, BYTES, struct cdc_bytes, payload, NULL)                        \
	F(S, 4, STR, char *, node_filter, NULL)                                \
	F(S, 5, STR, char *, service_filter, NULL)                             \
	F(S, 6, STR, char *, tag_filter, NULL)                                 \
	F(S, 7, U64, uint64_t, ltime, NULL)                                    \
	F(S, 8, U32, uint32_t, version, NULL)
CDC_STRUCT(ipc_user_event, IPC_USER_EVENT)
extern const struct cdc_msg_desc ipc_user_event_desc;

#define IPC_EVENT_LIST(F, S)                                                   \
	F(S, 1, STR, char *, name, NULL)                                       \
	F(S, 2, MSGLIST, struct cdc_list, events, &ipc_user_event_desc)
CDC_STRUCT(ipc_event_list, IPC_EVENT_LIST)
extern const struct cdc_msg_desc ipc_event_list_desc;

/* IPC_GOSSIP_KEYRING: op "list", "install", "use", "remove" */
#define IPC_KEYRING(F, S)                                                      \
	F(S, 1, STR, char *, op, NULL)                                         \
	F(S, 2, STR, char *, key, NULL)                                        \
	F(S, 3, BOOL, bool, wan, NULL)
CDC_STRUCT(ipc_keyring, IPC_KEYRING)
extern const struct cdc_msg_desc ipc_keyring_desc;

/* keys: key -> how many members use it (value, decimal); primary first */
#define IPC_KEYRING_REPLY(F, S)                                                \
	F(S, 1, MSGLIST, struct cdc_list, keys, &ipc_kv_desc)                  \
	F(S, 2, U32, uint32_t, num_nodes, NULL)                                \
	F(S, 3, STR, char *, primary, NULL)
CDC_STRUCT(ipc_keyring_reply, IPC_KEYRING_REPLY)
extern const struct cdc_msg_desc ipc_keyring_reply_desc;

/* --- checkd -----------------------------------------------------------------
 * The agent's local services and checks.  Definitions travel as the JSON
 * document the client sent (API) or the config file held: checkd owns the
 * one parser of service and check definitions for both paths.
 * Errors: -EINVAL (bad definition: HTTP 400), -ENOENT (unknown ID: 404),
 * -EPERM (script checks disabled: 500).  For the register requests
 * `enable` says the HTTP client is on loopback (what
 * enable_local_script_checks allows); for IPC_AGENT_MAINTENANCE it is the
 * switch and `output` the reason. */
#define IPC_AGENT_REQ(F, S)                                                    \
	F(S, 1, STR, char *, id, NULL)                                         \
	F(S, 2, BYTES, struct cdc_bytes, def, NULL)                            \
	F(S, 3, STR, char *, status, NULL)                                     \
	F(S, 4, STR, char *, output, NULL)                                     \
	F(S, 5, BOOL, bool, enable, NULL)                                      \
	F(S, 6, BOOL, bool, replace_checks, NULL)                              \
	F(S, 7, BOOL, bool, by_name, NULL)
CDC_STRUCT(ipc_agent_req, IPC_AGENT_REQ)
extern const struct cdc_msg_desc ipc_agent_req_desc;

/* local services and checks (node: this agent's name; index: a counter
 * of local changes, for blocking on agent endpoints) */
#define IPC_AGENT_LOCAL(F, S)                                                  \
	F(S, 1, STR, char *, node, NULL)                                       \
	F(S, 2, MSGLIST, struct cdc_list, services, &ipc_service_desc)         \
	F(S, 3, MSGLIST, struct cdc_list, checks, &ipc_check_desc)             \
	F(S, 4, U64, uint64_t, index, NULL)
CDC_STRUCT(ipc_agent_local, IPC_AGENT_LOCAL)
extern const struct cdc_msg_desc ipc_agent_local_desc;

/* IPC_EV_LOG (event, published by every daemon on <run_dir>/<daemon>.log):
 * one log line as written to stderr, with its level (enum log_level) */
#define IPC_LOG_LINE(F, S)                                                     \
	F(S, 1, U32, uint32_t, level, NULL)                                    \
	F(S, 2, STR, char *, line, NULL)
CDC_STRUCT(ipc_log_line, IPC_LOG_LINE)
extern const struct cdc_msg_desc ipc_log_line_desc;

/* IPC_PROBE (client -> any server; answered by the IPC layer itself, never
 * by a handler): `ids` packs big-endian u32 request ids the client sent
 * earlier and still waits for; the reply's `ids` keeps those the server
 * holds open.  A request sent before the probe that the server neither
 * answered (its reply would have come first) nor holds was lost with a
 * server that died and came back: the client sends it again or fails it
 * (ipc_type_repeatable). */
#define IPC_PROBE(F, S) F(S, 1, BYTES, struct cdc_bytes, ids, NULL)
CDC_STRUCT(ipc_probe, IPC_PROBE)
extern const struct cdc_msg_desc ipc_probe_desc;
/* at most this many ids in one probe */
#define IPC_PROBE_MAX 16384

/* --- the type table -------------------------------------------------------
 * X(enum name, number, request struct, reply struct, summary)            */
#define IPC_TYPES(X)                                                           \
	X(IPC_PING, 0x0001, ipc_empty, ipc_empty, "liveness check")            \
	X(IPC_STATUS, 0x0002, ipc_empty, ipc_status,                           \
	    "uptime, version, counters")                                       \
	X(IPC_RELOAD, 0x0003, ipc_empty, ipc_reload_reply,                     \
	    "re-read configuration, as SIGHUP")                                \
	X(IPC_PROBE, 0x0004, ipc_probe, ipc_probe,                             \
	    "which of these requests are still open (IPC layer)")              \
	X(IPC_RAFT_APPLY, 0x0101, ipc_raft_cmd, ipc_raft_result,               \
	    "raftd: apply a command through Raft (idempotent per client/seq)") \
	X(IPC_KV_READ, 0x0102, ipc_kv_read, ipc_kv_read_reply,                 \
	    "raftd: read KV rows with a consistency mode")                     \
	X(IPC_RAFT_STATE, 0x0103, ipc_empty, ipc_raft_state,                   \
	    "raftd: role, term, indexes, leader, peers")                       \
	X(IPC_RAFT_REMOVE_PEER, 0x0104, ipc_raft_remove, ipc_raft_result,      \
	    "raftd: remove a server from the Raft configuration")              \
	X(IPC_RAFT_CLUSTER_STATE, 0x0107, ipc_empty, ipc_raft_state,          \
	    "raftd: as IPC_RAFT_STATE, but a client asks one of its servers")  \
	X(IPC_CATALOG_READ, 0x0108, ipc_catalog_read, ipc_catalog_reply,      \
	    "raftd: read catalog nodes and checks with a mode")                \
	X(IPC_TXN_READ, 0x0109, ipc_txn_read, ipc_raft_result,                \
	    "raftd: a read-only transaction, served like a read")             \
	X(IPC_SNAPSHOT_SAVE, 0x010a, ipc_snapshot_req, ipc_snapshot_reply,    \
	    "raftd: write a snapshot archive (reply: name, server, size)")    \
	X(IPC_SNAPSHOT_READ, 0x010b, ipc_snapshot_req, ipc_snapshot_reply,    \
	    "raftd: a chunk of a snapshot archive (name, server, offset)")    \
	X(IPC_DC_FORWARD, 0x010c, ipc_dc_req, ipc_dc_reply,                   \
	    "raftd: serve a request in another datacenter (dc, type, body)")  \
	X(IPC_DC_LIST, 0x010d, ipc_empty, ipc_dc_list,                        \
	    "raftd: the known datacenters, nearest first")                    \
	X(IPC_QUERY_READ, 0x010e, ipc_query_read, ipc_query_list,             \
	    "raftd: read prepared queries (one, or all) with a mode")         \
	X(IPC_QUERY_EXECUTE, 0x010f, ipc_query_exec, ipc_query_result,        \
	    "raftd: execute (or explain) a prepared query, with failover")    \
	X(IPC_SESSION_READ, 0x0105, ipc_session_read,                         \
	    ipc_session_read_reply,                                            \
	    "raftd: read sessions (one, a node's, all) with a mode")           \
	X(IPC_SESSION_RENEW, 0x0106, ipc_session_read, ipc_session_read_reply, \
	    "raftd: renew a session's TTL on the leader (id)")                 \
	X(IPC_GOSSIP_MEMBERS, 0x0201, ipc_pool_req, ipc_members,               \
	    "gossipd: the members of the LAN (or WAN) pool")                   \
	X(IPC_GOSSIP_JOIN, 0x0202, ipc_join, ipc_join_reply,                   \
	    "gossipd: join the pool through these addresses")                  \
	X(IPC_GOSSIP_LEAVE, 0x0203, ipc_pool_req, ipc_empty,                   \
	    "gossipd: leave gracefully (every pool); answered once gossiped")  \
	X(IPC_GOSSIP_FORCE_LEAVE, 0x0204, ipc_force_leave, ipc_empty,          \
	    "gossipd: move a failed member to left")                           \
	X(IPC_GOSSIP_EVENT_FIRE, 0x0205, ipc_user_event, ipc_user_event,       \
	    "gossipd: fire a user event (reply: it, with id and ltime)")       \
	X(IPC_GOSSIP_EVENT_LIST, 0x0206, ipc_event_list, ipc_event_list,       \
	    "gossipd: the newest user events this agent saw (name filter)")    \
	X(IPC_GOSSIP_KEYRING, 0x0207, ipc_keyring, ipc_keyring_reply,          \
	    "gossipd: list/install/use/remove gossip keys")                    \
	X(IPC_AGENT_SERVICE_REGISTER, 0x0301, ipc_agent_req, ipc_empty,        \
	    "checkd: register a service (def; replace_checks)")                \
	X(IPC_AGENT_SERVICE_DEREGISTER, 0x0302, ipc_agent_req, ipc_empty,      \
	    "checkd: deregister a service and its checks (id)")                \
	X(IPC_AGENT_CHECK_REGISTER, 0x0303, ipc_agent_req, ipc_empty,          \
	    "checkd: register a check (def)")                                  \
	X(IPC_AGENT_CHECK_DEREGISTER, 0x0304, ipc_agent_req, ipc_empty,        \
	    "checkd: deregister a check (id)")                                 \
	X(IPC_AGENT_CHECK_UPDATE, 0x0305, ipc_agent_req, ipc_empty,            \
	    "checkd: set a TTL check's status and output (id)")                \
	X(IPC_AGENT_MAINTENANCE, 0x0306, ipc_agent_req, ipc_empty,             \
	    "checkd: maintenance on/off for the node (id \"\") or a service")   \
	X(IPC_AGENT_LOCAL_READ, 0x0307, ipc_agent_req, ipc_agent_local,        \
	    "checkd: local services and checks (all, or service id / name)")   \
	X(IPC_EV_MEMBER, 0x0280, ipc_member, ipc_empty,                        \
	    "gossipd event: a member joined, changed, failed, left or was "    \
	    "reaped (status; reaped: 0)")                                      \
	X(IPC_EV_USER_EVENT, 0x0281, ipc_user_event, ipc_empty,                \
	    "gossipd event: a user event arrived")                             \
	X(IPC_EV_LOG, 0x0010, ipc_log_line, ipc_empty,                         \
	    "event from every daemon: one log line (for /v1/agent/monitor)")   \
	X(IPC_EV_CHANGE, 0x0180, ipc_change, ipc_empty,                        \
	    "raftd event: a table changed (published, not a request)")

enum ipc_type {
#define IPC_X_ENUM(name, num, req, rep, doc) name = num,
	IPC_TYPES(IPC_X_ENUM)
#undef IPC_X_ENUM
};

struct ipc_type_info {
	uint16_t type;
	const char *name;
	const struct cdc_msg_desc *req;
	const struct cdc_msg_desc *rep;
	const char *doc;
};

/* ipc_type_lookup - the catalogue entry for a type number, or NULL. */
const struct ipc_type_info *ipc_type_lookup(uint16_t type);

/* ipc_type_repeatable - whether a request of this type may be sent again
 * when the server lost it (it died before answering): reads, and requests
 * that set a state to a value.  Not: Raft commands (their deduplication
 * keeps one sequence number per client, so an older one sent again after
 * a newer one applied would be taken as done), user events (fired twice),
 * snapshot saves, and anything forwarded to another datacenter. */
bool ipc_type_repeatable(uint16_t type);

/* ipc_probe_select - append to out (packed big-endian u32s) the ids of
 * `asked` (packed likewise; a trailing partial id is ignored, at most
 * IPC_PROBE_MAX are looked at) that are among open[0..nopen), which it
 * sorts in place. */
void ipc_probe_select(const struct cdc_bytes *asked, uint32_t *open,
    size_t nopen, struct buf *out);

/* ipc_id_cmp - qsort/bsearch order of uint32_t request ids */
int ipc_id_cmp(const void *a, const void *b);

#endif
