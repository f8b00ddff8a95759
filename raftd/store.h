/* store.h - raftd's durable store on LMDB: Raft log, metadata, state.
 *
 * Two LMDB environments live under the data dir (see DESIGN.md, Storage):
 *
 *   <data_dir>/raft/   sub-databases
 *                        "log"   index (u64 big-endian) -> log record
 *                        "meta"  "version" (format, kind "raft"),
 *                                "hard_state" (term, vote),
 *                                "snapshot" (index, term, config bytes)
 *   <data_dir>/state/  sub-databases
 *                        "t:<table>"  one per state-machine table, created
 *                                     on first write
 *                        "meta"       "version" (format, kind "state"),
 *                                     "applied" (u64 big-endian)
 *
 * A log record is, all integers big-endian:
 *   u8 version (STORE_RECORD_V1) | u64 term | u8 type | u32 len | data[len]
 *   | u32 crc32c
 * where the CRC32C covers the entry's index (u64 big-endian, the record's
 * key) followed by every record byte before the CRC, so a record that is
 * damaged or found under the wrong key is detected.  The hard state and
 * snapshot records carry a CRC32C too.
 *
 * Every write is one LMDB transaction (no MDB_NOSYNC, no MDB_WRITEMAP):
 * store_save() is raftd's group commit of one ready batch, fsynced at
 * commit, and store_state_commit() writes the applied index in the same
 * transaction as the changes it applied, so the state is always that of
 * some applied index: an entry is never applied twice or half.
 * store_open() verifies the whole log before anything is served and
 * refuses a damaged store with a message naming the file and the entry.
 *
 * Durability: the Raft log is the durable record; the state is derived
 * from it.  The raft environment syncs data and meta page at every commit
 * (LMDB's default).  The state environment is opened with MDB_NOMETASYNC:
 * a state commit syncs the pages it wrote, then writes the meta page that
 * points at them without waiting for it, so LMDB's integrity holds at any
 * crash (the meta page on disk only ever points at synced pages, and LMDB
 * reuses no page either of its two meta pages needs) while a crash of the
 * machine may lose the newest state commit(s) not yet followed by another
 * commit or store_state_sync().  The durable applied index may so be
 * behind the one the process last committed; raftd replays the log from
 * the durable applied index + 1 when it starts (raft_load gets it from
 * store_state_applied()), which reproduces the same state because apply
 * is deterministic.  That needs the log to keep every entry after the
 * durable applied index: before compacting the log, call
 * store_state_sync(), which makes the newest state commit durable.
 * (MDB_NOSYNC would be faster still but is not safe: the meta page could
 * reach the disk before the pages it points at, or after they were
 * reused, and an OS crash would corrupt the state.)  A process crash
 * loses nothing committed in either environment: the page cache keeps it.
 *
 * Errors: every function that can fail returns 0 or a negative errno, and,
 * where it takes one, fills a struct errbuf with a reason that names the
 * environment ("<data_dir>/raft: ...").  LMDB's own codes never leave
 * store.c:
 *   -ENOSPC   the map is full (MDB_MAP_FULL: raise the map size) or the
 *             disk is full; the transaction was rolled back, the store
 *             stays readable and accepts writes again once there is room
 *   -EUCLEAN  corruption: a bad record, checksum, gap or term order in the
 *             log, a truncated or garbage data.mdb, an LMDB page error
 *   -ENOENT   no such key or table
 *   -EINVAL   a bad argument or a batch that would break the log's
 *             invariants (nothing was written)
 *   -EBUSY    the data dir is in use by another process, or a transaction
 *             that must be finished first is still open
 *   -EPROTO   the store was written in a format version this build does
 *             not read
 *   -EMFILE   more state tables than max_tables
 *   -EIO      any other LMDB failure; system errors pass through (-EACCES,
 *             -ENOMEM, ...)
 *
 * Threads: a struct store belongs to one thread (raftd's loop), except
 * that store_state_snapshot() may run in one worker thread while the loop
 * keeps using the store (not store_state_restore() or store_close()), and
 * that store_save() may run in one worker thread while the loop uses only
 * the state functions (the two environments share no mutable data; not
 * store_state_restore(), store_load(), store_log_bounds() or
 * store_close()).
 */
#ifndef CAIRN_STORE_H
#define CAIRN_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "raft/raft.h"

#define STORE_RECORD_V1 0xc1u	 /* first byte of a v1 log record */
#define STORE_RECORD_OVERHEAD 18 /* record bytes besides the data */
#define STORE_RECORD_MAX_DATA (UINT32_MAX - 64u) /* per entry */

#define STORE_RAFT_MAP_DEFAULT ((size_t)1 << 30)  /* 1 GiB */
#define STORE_STATE_MAP_DEFAULT ((size_t)4 << 30) /* 4 GiB */
#define STORE_MAX_TABLES_DEFAULT 128
#define STORE_TABLE_NAME_MAX 64 /* bytes, without the NUL */

struct store;
struct store_txn;  /* a state-machine write transaction */
struct store_read; /* a state-machine read transaction */

/* Options for store_open(); a zeroed struct (or NULL) takes the defaults. */
struct store_options {
	size_t raft_map_size;  /* bytes; 0: STORE_RAFT_MAP_DEFAULT */
	size_t state_map_size; /* bytes; 0: STORE_STATE_MAP_DEFAULT */
	unsigned max_tables;   /* state tables; 0: STORE_MAX_TABLES_DEFAULT */
	unsigned max_readers;  /* LMDB reader slots per env; 0: LMDB's 126 */
};

/* The newest snapshot's meta.  config holds raft_config_encode() bytes,
 * opaque to the store; the raft driver converts.  index 0: no snapshot. */
struct store_snapshot {
	uint64_t index, term;
	uint8_t *config; /* owned by whoever holds the struct; may be NULL */
	size_t config_len;
};

/* One group commit of the raft side, applied in this order in ONE
 * transaction: hard state, snapshot meta, truncation, append, compaction.
 * It maps onto struct raft_ready: set_hard_state = hard_state_changed;
 * truncate_from = entries[0].index when there are entries; a snapshot
 * installed from the leader (after store_state_restore()) sets snapshot
 * and truncate_from = 1 (or keeps the entries after it when they match,
 * thesis 5.3); a local snapshot (taken at an applied index >= its index)
 * sets snapshot and compact_to. */
struct store_batch {
	bool set_hard_state;
	uint64_t term, vote; /* with set_hard_state; vote RAFT_NONE: none */

	/* record as the newest snapshot (NULL: keep the current one); its
	 * index must be >= the stored snapshot's and > 0 */
	const struct store_snapshot *snapshot;

	/* > 0: delete every entry with index >= truncate_from */
	uint64_t truncate_from;

	/* append: indexes consecutive, the first one right after the last
	 * entry left by truncation (or after the snapshot when the log is
	 * empty), terms >= 1 and non-decreasing.  Borrowed. */
	const struct raft_entry *entries;
	size_t n_entries;

	/* > 0: delete every entry with index <= compact_to; must not pass
	 * the snapshot's index */
	uint64_t compact_to;
};

/*
 * store_open - open (creating if missing) the store under data_dir.
 *
 * Creates data_dir, data_dir/raft and data_dir/state (mode 0700) and their
 * LMDB files (0600) as needed, takes an exclusive lock on the data dir (a
 * second process gets -EBUSY), clears stale LMDB reader slots
 * (mdb_reader_check), and verifies:
 *   - both data.mdb files are LMDB files of the expected format and are not
 *     shorter than their last page (truncated);
 *   - every log record: version, length, CRC32C; indexes contiguous with no
 *     gap, terms >= 1 and non-decreasing; the log joins the snapshot (first
 *     <= snapshot.index + 1 <= last + 1, the entry at snapshot.index has the
 *     snapshot's term); the metadata records;
 *   - the two environments agree: a state with applied entries needs a
 *     non-empty raft side (else raft/ was lost: a restarted server must
 *     not vote again in its old terms), and the applied index must reach
 *     the log (applied >= first log index - 1, or >= the snapshot's index
 *     when the log is empty), else state/ was lost or replaced.
 * Callable once per data dir per process.
 *
 * Params: *out receives the store; data_dir must not be empty; opt may be
 * NULL.  Map sizes are upper bounds of the files (sparse address space, not
 * memory); an existing larger file keeps its size.
 *
 * Returns 0, or -EUCLEAN for any corruption with eb naming the file and,
 * for a log problem, the entry ("<dir>/raft: log entry 42: checksum
 * mismatch (corrupted)"): the daemon must refuse to start.  Other errors as
 * listed at the top (-EBUSY, -EACCES, -ENOSPC, -EIO ...).  On error *out is
 * NULL and nothing stays open.
 *
 * Ownership: release with store_close().
 */
int store_open(struct store **out, const char *data_dir,
    const struct store_options *opt, struct errbuf *eb);

/*
 * store_close - close both environments and free the store.  An open
 * state write transaction is aborted; read transactions must have ended
 * (their memory would go with the environment).  s may be NULL.
 */
void store_close(struct store *s);

/* --- raft side -------------------------------------------------------- */

/*
 * store_load - everything raft_load() needs after a restart, read in one
 * (short) read transaction.
 *
 * Params: *term, *vote: the hard state (0 and RAFT_NONE if never saved);
 * *snap: the newest snapshot's meta (index 0 when none); *entries, *n: every
 * stored log entry in index order (this may include a tail at or before the
 * snapshot's index, kept by compaction).  Any output pointer may be NULL if
 * the caller does not need it.
 *
 * Returns 0, -EUCLEAN (a record went bad since store_open), -ENOMEM, -EIO.
 * On error the outputs hold nothing to free.
 *
 * Ownership: the caller frees the entries with store_entries_free() and
 * the snapshot's config with store_snapshot_free().
 */
int store_load(struct store *s, uint64_t *term, uint64_t *vote,
    struct store_snapshot *snap, struct raft_entry **entries, size_t *n,
    struct errbuf *eb);

/*
 * store_save - persist one batch (see struct store_batch) in ONE write
 * transaction, durable (fsynced) when this returns 0.
 *
 * The batch is checked against the stored log inside the transaction: a
 * batch that leaves a gap, overlaps entries it did not truncate, lowers a
 * term, moves the snapshot back or compacts past it is rejected whole with
 * -EINVAL and nothing written.  -ENOSPC: map or disk full, nothing written,
 * the store still reads and the same batch may be retried once there is
 * room (e.g. after compaction or with a larger map).  -EIO: other failure.
 *
 * LMDB can reuse the pages a commit freed only after one more commit, so
 * when a batch deleted entries a second, tiny commit follows (best
 * effort): the space compaction frees is usable by the very next batch.
 * A map so full that even the deletions find no page fails with -ENOSPC
 * too; then only a larger map helps.
 *
 * Ownership: b and what it points to are borrowed for the call.
 */
int store_save(struct store *s, const struct store_batch *b,
    struct errbuf *eb);

/*
 * store_log_bounds - the first and last stored log index (both 0 when the
 * log is empty) and the stored snapshot's index (0: none); outputs may be
 * NULL.  Returns 0 or -EIO.
 */
int store_log_bounds(struct store *s, uint64_t *first, uint64_t *last,
    uint64_t *snap_index);

/* store_entries_free - free entries[0..n) data and the array. */
void store_entries_free(struct raft_entry *entries, size_t n);

/* store_snapshot_free - free snap->config and zero the struct. */
void store_snapshot_free(struct store_snapshot *snap);

/*
 * store_record_encode - append the v1 log record of e (e->index is part of
 * the checksum, not of the bytes) to b.  e->len must be at most
 * STORE_RECORD_MAX_DATA.  Aborts on out-of-memory like buf.h.
 */
void store_record_encode(const struct raft_entry *e, struct buf *b);

/*
 * store_record_decode - check and decode the log record p[0..n) stored
 * under index.
 *
 * Returns 0 and fills *out (out->index = index; out->data a malloc'd copy,
 * NULL when out->len is 0), -EBADMSG when the record is malformed (shorter
 * than STORE_RECORD_OVERHEAD, unknown version, length field not matching
 * n), -EUCLEAN when the checksum does not match, -ENOMEM.  On error *out is
 * zeroed.
 *
 * Ownership: the caller frees out->data.
 */
int store_record_decode(const void *p, size_t n, uint64_t index,
    struct raft_entry *out);

/* --- state machine: writes (the apply path) ----------------------------- */

/*
 * store_state_begin - start the state machine's write transaction.  One
 * at a time per store (-EBUSY otherwise).  It may be open while read
 * transactions are.
 *
 * Returns 0, -EBUSY, -EIO (or a system error).  *out is ended by exactly
 * one of store_state_commit() or store_state_abort().
 */
int store_state_begin(struct store *s, struct store_txn **out);

/*
 * store_state_put / store_state_del - write or delete key in table (1 to
 * STORE_TABLE_NAME_MAX bytes; created on the first put).  Keys are 1 to
 * 511 bytes (LMDB's limit), values up to about 4 GiB.
 *
 * Returns 0; -ENOENT (del: no such key or table); -EINVAL (bad name, key
 * length); -EMFILE (put: a new table beyond max_tables); -ENOMEM; these
 * leave t usable.  -ENOSPC (map or disk full) and -EIO leave t failed:
 * every later call and the commit return the same error.
 */
int store_state_put(struct store_txn *t, const char *table, const void *key,
    size_t klen, const void *val, size_t vlen);
int store_state_del(struct store_txn *t, const char *table, const void *key,
    size_t klen);

/*
 * store_state_get - read key in table as this transaction sees it.
 * *val and *vlen point into LMDB's memory, valid until the next put/del or
 * the end of t.  Returns 0, -ENOENT, -EINVAL, -EIO.
 */
int store_state_get(struct store_txn *t, const char *table, const void *key,
    size_t klen, const void **val, size_t *vlen);

/* Callback for the iterate functions: return 0 to go on, anything else to
 * stop (the iterate function then returns that value).  k and v are
 * borrowed for the call; the callback must not write to the store. */
typedef int (*store_iter_fn)(void *arg, const void *k, size_t klen,
    const void *v, size_t vlen);

/*
 * store_state_iterate - call fn for every key of table starting with
 * prefix[0..plen) (plen 0: every key), in key order.  A table that does
 * not exist has no keys.  Returns 0 after the last key, fn's non-zero
 * value, -EINVAL, -EIO.
 */
int store_state_iterate(struct store_txn *t, const char *table,
    const void *prefix, size_t plen, store_iter_fn fn, void *arg);

/*
 * store_state_commit - write applied_index (must be greater than the
 * stored applied index: an entry is never applied twice) in the same
 * transaction and commit; t is freed in every case.  The changes and the
 * applied index go together: visible to readers at once, and on disk
 * whole or not at all; durable by the next state commit or
 * store_state_sync() (see Durability at the top).
 *
 * Returns 0 when the changes and the applied index are committed
 * together; otherwise nothing of t was written: -ENOSPC (map/disk full, the store
 * stays readable), -EINVAL (applied_index goes back), an earlier put/del
 * error, -EIO; eb says why.
 */
int store_state_commit(struct store_txn *t, uint64_t applied_index,
    struct errbuf *eb);

/*
 * store_state_savepoint - remember t's current state (an LMDB nested
 * transaction), so that store_state_rollback() can drop the changes made
 * since while keeping the earlier ones; store_state_release() keeps them.
 * One savepoint at a time (-EBUSY).  A store error after the savepoint is
 * forgotten by a rollback (those changes are gone); release returns it and
 * leaves t failed.  store_state_commit/abort end an open savepoint too
 * (commit requires it released).  Returns 0 or a store error.
 */
int store_state_savepoint(struct store_txn *t);
void store_state_rollback(struct store_txn *t);
int store_state_release(struct store_txn *t);

/* store_state_abort - drop every change of t and free it; t may be NULL. */
void store_state_abort(struct store_txn *t);

/*
 * store_state_sync - make every committed state transaction durable
 * (mdb_env_sync, forced): afterwards a crash of the machine cannot take
 * the state back behind the applied index committed last.  Call it
 * before the log is compacted behind that index.  Returns 0, or -EIO
 * (-ENOSPC ...) with eb.
 */
int store_state_sync(struct store *s, struct errbuf *eb);

/* store_state_applied - the committed applied index (0: nothing applied);
 * right after store_open() that is the durable one.  Returns 0 or -EIO. */
int store_state_applied(struct store *s, uint64_t *applied);

/* store_state_generation - starts at 1 and increases with every
 * store_state_restore(), so that readers of the state environment in other
 * processes can be told to reopen it. */
uint64_t store_state_generation(const struct store *s);

/* --- state machine: reads ------------------------------------------------ */

/*
 * store_state_read_begin - start a read transaction: a consistent view of
 * the state as of the last commit, unaffected by later commits.  Keep it
 * short (end it in the same loop turn): an open reader pins old pages, so
 * the file grows while it lives.
 *
 * Returns 0, -EAGAIN (no free reader slot), -EIO.  End *out with
 * store_state_read_end().
 */
int store_state_read_begin(struct store *s, struct store_read **out);

/* store_state_read_get - like store_state_get(); *val is valid until
 * store_state_read_end(). */
int store_state_read_get(struct store_read *r, const char *table,
    const void *key, size_t klen, const void **val, size_t *vlen);

/* store_state_read_iterate - like store_state_iterate(). */
int store_state_read_iterate(struct store_read *r, const char *table,
    const void *prefix, size_t plen, store_iter_fn fn, void *arg);

/* store_state_read_applied - the applied index this view reflects. */
uint64_t store_state_read_applied(const struct store_read *r);

/* store_state_read_end - end r and free it; r may be NULL. */
void store_state_read_end(struct store_read *r);

/* --- state machine: snapshots ------------------------------------------- */

/*
 * store_state_snapshot - write a compacted copy of the state environment
 * (mdb_env_copyfd2 with MDB_CP_COMPACT: one consistent read transaction)
 * to the file path: written to "<path>.tmp", fsynced, renamed over path.
 * *applied (may be NULL) gets the applied index inside the copy.  May run
 * in a worker thread (see Threads above).
 *
 * Returns 0, or -ENOSPC, -EACCES, -EIO ... with eb; on error path is not
 * created or replaced.  The file is a single-file LMDB environment; it is
 * what InstallSnapshot streams and what store_state_restore() installs.
 */
int store_state_snapshot(struct store *s, const char *path,
    uint64_t *applied, struct errbuf *eb);

/*
 * store_state_restore - replace the state environment by the snapshot
 * file at path (made by store_state_snapshot(), here or on another
 * server): the file is checked (an LMDB file, not truncated, with the
 * state's meta), fsynced, moved into place with an atomic rename (copied
 * first if it is on another file system), and the environment reopened.
 * Not callable while a state transaction (read or write) is open: -EBUSY.
 *
 * InstallSnapshot order: first store_state_restore(), then store_save()
 * with the snapshot meta (and truncate_from = 1).  A crash in between
 * leaves a state ahead of the log, which is consistent; the other order
 * would leave the state behind a compacted log, which store_open()
 * refuses.
 *
 * The file at path is consumed on success.  Afterwards
 * store_state_applied() reports the snapshot's applied index and
 * store_state_generation() is one higher; processes that read the state
 * environment must reopen it (the old file stays valid for them until
 * they do).
 *
 * Returns 0; -EUCLEAN (the file is not a valid state snapshot; the current
 * state is untouched); -EBUSY; -EIO and others.  If reopening fails after
 * the rename, state functions return -EIO until the process restarts.
 */
int store_state_restore(struct store *s, const char *path,
    struct errbuf *eb);

/*
 * store_state_file_prepare - before store_state_restore() of a state file
 * that did not come from this log (a restored user snapshot): check it as
 * restore does, then set its applied index to applied and put one row
 * (table, key -> val) into it, durably.  Returns 0, -EUCLEAN (not a state
 * snapshot), or another error with eb.
 */
int store_state_file_prepare(struct store *s, const char *path,
    uint64_t applied, const char *table, const void *key, size_t klen,
    const void *val, size_t vlen, struct errbuf *eb);

#endif
