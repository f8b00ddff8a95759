/* raft.h - the Raft core (Ongaro, "Consensus: Bridging Theory and
 * Practice", 2014), as a pure state machine: no clock, socket, disk or
 * random calls of its own.  The driver (raftd's libev loop, or the
 * deterministic simulation in tests/) feeds it ticks, messages and
 * proposals, and collects its output in "ready" batches:
 *
 *   loop turn:
 *     raft_tick() when the tick timer fired; raft_step() for each message
 *     received; raft_propose()/raft_read_index() for client requests;
 *     while (raft_has_ready(r)) {
 *       raft_ready(r, &rd);
 *       1. persist, in ONE durable transaction (group commit): if
 *          rd.snapshot is set, install it (state machine restore + log reset
 *          to rd.snapshot.index); truncate the stored log from
 *          rd.entries[0].index and append rd.entries; store rd.term/rd.vote
 *          if rd.hard_state_changed;
 *       2. only then send rd.msgs (replies may depend on what was stored);
 *       3. apply rd.committed in order; a command entry is acknowledged to
 *          its client only if it is applied at the index AND term that
 *          raft_propose returned;
 *       4. answer rd.reads (ReadIndex): the read may be served once the
 *          applied index >= read.index, or failed when !read.ok;
 *       raft_advance(r, &rd);
 *     }
 * Everything rd points at is borrowed from the core and stays valid until
 * raft_advance; the driver must not call any other raft_* function between
 * raft_ready and raft_advance except the read-only accessors at the end of
 * this file.  rd.msgs may include messages of a term older than rd.term
 * (sent before a term change in the same batch); sending them is safe.
 *
 * Time is counted in ticks (raftd: 100 ms); the election timeout is
 * randomised in [election_ticks, 2*election_ticks) from a PRNG seeded by
 * the driver, so a run replays exactly from its seed.
 */
#ifndef CAIRN_RAFT_H
#define CAIRN_RAFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RAFT_NONE 0 /* no server id (ids are >= 1) */
#define RAFT_ADDR_LEN 64
/* errors beyond errno's range: returned negated (-RAFT_ENOTLEADER) */
#define RAFT_ENOTLEADER 10001

enum raft_role {
	RAFT_FOLLOWER = 0,
	RAFT_PRECANDIDATE = 1,
	RAFT_CANDIDATE = 2,
	RAFT_LEADER = 3,
};

enum raft_entry_type {
	RAFT_ENTRY_COMMAND = 1, /* opaque state-machine command */
	RAFT_ENTRY_CONFIG = 2,	/* data = raft_config_encode() */
	RAFT_ENTRY_NOOP = 3,	/* appended by each new leader */
};

struct raft_entry {
	uint64_t term;
	uint64_t index;
	uint8_t type;	 /* enum raft_entry_type */
	uint8_t *data;	 /* owned by whoever holds the entry */
	size_t len;
};

enum raft_suffrage {
	RAFT_VOTER = 1,
	RAFT_NONVOTER = 2, /* replicated to, never counted; with .promote set
			      the leader makes it a voter once caught up */
};

struct raft_server {
	uint64_t id;
	uint8_t suffrage; /* enum raft_suffrage */
	uint8_t promote;  /* non-voter to promote when caught up */
	char addr[RAFT_ADDR_LEN]; /* "host:port" of its raft transport */
};

struct raft_config {
	struct raft_server *servers; /* owned */
	size_t n;
};

enum raft_msg_type {
	RAFT_MSG_PREVOTE = 1,
	RAFT_MSG_PREVOTE_RESP = 2,
	RAFT_MSG_VOTE = 3,
	RAFT_MSG_VOTE_RESP = 4,
	RAFT_MSG_APPEND = 5,
	RAFT_MSG_APPEND_RESP = 6,
	RAFT_MSG_HEARTBEAT = 7,
	RAFT_MSG_HEARTBEAT_RESP = 8,
	RAFT_MSG_SNAPSHOT = 9,	/* meta only; the data travels beside it */
	RAFT_MSG_TIMEOUT_NOW = 10, /* leadership transfer: campaign now */
};

struct raft_msg {
	uint8_t type; /* enum raft_msg_type */
	uint64_t from, to, term;

	/* PREVOTE/VOTE: the candidate's last log entry; `transfer` set when
	 * the election was started by a leadership transfer (followers then
	 * ignore their leader lease). */
	uint64_t last_index, last_term;
	bool transfer;

	/* APPEND: entries follow (prev_index, prev_term); commit is the
	 * leader's commit index.  HEARTBEAT: commit only. */
	uint64_t prev_index, prev_term, commit;
	struct raft_entry *entries; /* owned by the message */
	size_t n_entries;

	/* *_RESP: reject=false grants the vote / accepts the entries.
	 * APPEND_RESP: index = the follower's match index on success, or the
	 * rejected prev_index; hint_index/hint_term steer the leader's
	 * back-off (thesis 5.3: the first index of the conflicting term, or
	 * last+1 when the follower's log is too short). */
	bool reject;
	uint64_t index;
	uint64_t hint_index, hint_term;

	/* HEARTBEAT(_RESP): echoed so the leader can confirm leadership for
	 * ReadIndex (seq) and keep its lease (tick it was sent at). */
	uint64_t hb_seq, hb_tick;

	/* SNAPSHOT: the snapshot's last included entry and configuration */
	uint64_t snap_index, snap_term;
	struct raft_config snap_config; /* owned by the message */
};

/* A ReadIndex result: serve the read once applied >= index (ok), or fail
 * it (not leader any more). */
struct raft_read {
	uint64_t ctx;	/* the caller's request id */
	uint64_t index;
	bool ok;
};

struct raft_snapshot_meta {
	uint64_t index, term;
	struct raft_config config; /* owned by whoever holds the meta */
};

struct raft_ready {
	/* hard state to persist (before sending msgs) */
	bool hard_state_changed;
	uint64_t term, vote;
	/* a snapshot received from the leader, to install */
	struct raft_snapshot_meta *snapshot; /* NULL if none */
	/* log entries to persist: truncate the stored log from
	 * entries[0].index, then append */
	struct raft_entry *entries;
	size_t n_entries;
	/* messages to send after persisting */
	struct raft_msg *msgs;
	size_t n_msgs;
	/* entries to apply, in order (all persisted and committed) */
	struct raft_entry *committed;
	size_t n_committed;
	/* ReadIndex results */
	struct raft_read *reads;
	size_t n_reads;
	/* soft state, for logs and status */
	enum raft_role role;
	uint64_t leader;
	uint64_t commit;
};

struct raft_options {
	uint64_t id;		     /* this server, >= 1 */
	unsigned election_ticks;     /* >= 2; timeout in [n, 2n) ticks */
	unsigned heartbeat_ticks;    /* >= 1, < election_ticks */
	bool pre_vote;		     /* thesis 9.6 */
	bool check_quorum;	     /* leader steps down without a quorum;
					followers honour the leader lease */
	size_t max_append_entries;   /* per APPEND message (batching) */
	size_t max_append_bytes;     /* per APPEND message */
	unsigned max_inflight;	     /* pipelined APPENDs per follower */
	uint64_t seed;		     /* PRNG seed for election timeouts */
};

struct raft; /* the state, see raft_internal.h for tests */

/* raft_new - a server with an empty log and no configuration.  Returns
 * NULL on bad options or out of memory.  Free with raft_free. */
struct raft *raft_new(const struct raft_options *opt);
void raft_free(struct raft *r);

/* raft_load - restore persisted state after a restart, before any other
 * call: term/vote, the newest snapshot's meta (NULL if none; config
 * copied), the stored log entries (copied; they may start before the
 * snapshot's index when compaction kept a tail, but must reach it), and
 * the applied index of the state machine (entries up to it are known
 * committed).  Returns 0 or
 * -EINVAL (entries not contiguous, not after the snapshot) / -ENOMEM. */
int raft_load(struct raft *r, uint64_t term, uint64_t vote,
    const struct raft_snapshot_meta *snap, const struct raft_entry *entries,
    size_t n, uint64_t applied);

/* raft_bootstrap - start a brand-new cluster with this configuration:
 * appends the configuration as entry 1 of term 1 (persisted through the
 * next ready).  Every server bootstrapped together must be given the same
 * configuration.  -EBUSY if the log or term is not empty. */
int raft_bootstrap(struct raft *r, const struct raft_config *config);

/* raft_tick - one tick of time passed. */
void raft_tick(struct raft *r);

/* raft_step - a message arrived (copied as needed; caller keeps m).
 * Messages not addressed to this server are ignored.  Returns 0 or
 * -ENOMEM. */
int raft_step(struct raft *r, const struct raft_msg *m);

/* raft_propose - append a command (copied).  On the leader returns 0 and
 * the entry's index and term; -RAFT_ENOTLEADER elsewhere
 * (raft_leader() tells who leads, if known); -EBUSY while a leadership transfer is under way. */
int raft_propose(struct raft *r, const void *data, size_t len,
    uint64_t *index, uint64_t *term);

/* raft_read_index - start a linearizable read (ReadIndex, thesis 6.4):
 * the result comes in a later ready's reads with the same ctx.
 * -RAFT_ENOTLEADER on a non-leader. */
int raft_read_index(struct raft *r, uint64_t ctx);

/* raft_lease_valid - a quorum acknowledged a heartbeat this leader sent
 * less than 3/4 of an election timeout ago (the rest is room for clock
 * drift), so no other leader can exist: reads may be served locally
 * without a quorum round, from a state machine whose applied index is >=
 * raft_commit_index().  False once this leader has started a leadership
 * transfer in its term. */
bool raft_lease_valid(const struct raft *r);

/* Membership changes, one server at a time (thesis 4.1); leader only;
 * -EBUSY while another change is uncommitted.  Adding with
 * promote=true adds a non-voter that becomes a voter once caught up. */
int raft_add_server(struct raft *r, uint64_t id, const char *addr,
    enum raft_suffrage suffrage, bool promote);
int raft_remove_server(struct raft *r, uint64_t id);

/* raft_transfer_leadership - hand leadership to `to` (RAFT_NONE: the most
 * up-to-date voter; this server itself: a no-op returning 0), thesis 3.10.  Proposals get -EBUSY until it ends (it
 * is abandoned after an election timeout). */
int raft_transfer_leadership(struct raft *r, uint64_t to);

/* raft_compact - the state machine has a snapshot covering up to `index`
 * (<= applied); the snapshot's term and configuration are taken from the
 * log (raft_get_snapshot returns them).  Log entries up to index - keep
 * are dropped (a tail is kept so slow followers can catch up from the
 * log). */
int raft_compact(struct raft *r, uint64_t index, size_t keep);

/* raft_has_ready / raft_ready / raft_advance: see the top of this file. */
bool raft_has_ready(const struct raft *r);
void raft_ready(struct raft *r, struct raft_ready *rd);
void raft_advance(struct raft *r, const struct raft_ready *rd);

/* Read-only accessors */
enum raft_role raft_role(const struct raft *r);
uint64_t raft_id(const struct raft *r);
uint64_t raft_term(const struct raft *r);
uint64_t raft_leader(const struct raft *r);
uint64_t raft_commit_index(const struct raft *r);
uint64_t raft_applied_index(const struct raft *r);
uint64_t raft_last_index(const struct raft *r);
uint64_t raft_first_index(const struct raft *r); /* first entry in the log */
/* raft_entry_at - borrowed entry at index, or NULL if not in the log */
const struct raft_entry *raft_entry_at(const struct raft *r, uint64_t index);
/* raft_get_snapshot - the newest snapshot's index and term (0 if none) and
 * its configuration (borrowed) */
void raft_get_snapshot(const struct raft *r, uint64_t *index, uint64_t *term,
    const struct raft_config **config);
/* raft_get_config - borrowed latest configuration (committed or not) */
const struct raft_config *raft_get_config(const struct raft *r);
const char *raft_role_name(enum raft_role role);

/* Configuration and message helpers (codec.h encoding) */
struct buf;
void raft_config_encode(const struct raft_config *c, struct buf *b);
int raft_config_decode(const void *p, size_t n, struct raft_config *c);
int raft_config_copy(struct raft_config *dst, const struct raft_config *src);
void raft_config_free(struct raft_config *c);
const struct raft_server *raft_config_get(const struct raft_config *c,
    uint64_t id);
void raft_msg_free(struct raft_msg *m); /* frees what m owns */
int raft_msg_copy(struct raft_msg *dst, const struct raft_msg *src);

#endif
