/* export.h - snapshot archives for `cairn snapshot save` (GET
 * /v1/snapshot): a worker thread copies the state (store_state_snapshot)
 * and wraps it in the archive format (common/snapfile.h) under
 * <data_dir>/raft/exports/, so the loop keeps heartbeating however large
 * the state; the requester then reads it in chunks, possibly from another
 * node through forwarding.  An archive is deleted once read to its end,
 * or EXPORT_TTL_S after it was made. */
#ifndef CAIRN_RAFTD_EXPORT_H
#define CAIRN_RAFTD_EXPORT_H

#include <ev.h>
#include <stdint.h>

#include "codec.h"
#include "err.h"
#include "store.h"

#define EXPORT_MAX 4		 /* archives at once */
#define EXPORT_TTL_S 600.0
#define EXPORT_CHUNK (1024 * 1024)
#define EXPORT_NAME_LEN 16	 /* hex characters */

struct exports;

/* done: the export started with seq finished: status 0 and its name,
 * applied index, term and archive size, or an error with a message */
typedef void (*export_done_fn)(void *arg, uint64_t seq, int status,
    const char *name, uint64_t index, uint64_t term, uint64_t size,
    const char *errmsg);

int exports_open(struct ev_loop *loop, struct store *st, const char *dir,
    const char *datacenter, export_done_fn done, void *arg,
    struct exports **out, struct errbuf *eb);
/* exports_start - begin one (term: the term to record); -EBUSY when
 * EXPORT_MAX are already there */
int exports_start(struct exports *x, uint64_t term, uint64_t seq,
    struct errbuf *eb);
/* exports_read - up to EXPORT_CHUNK bytes of the archive name from off
 * into *out (malloc'd), and its size; the archive is deleted when this
 * read reaches its end.  -ENOENT (unknown or expired), -EINVAL (bad
 * name or offset). */
int exports_read(struct exports *x, const char *name, uint64_t off,
    struct cdc_bytes *out, uint64_t *size, struct errbuf *eb);
/* exports_expire - delete archives older than EXPORT_TTL_S */
void exports_expire(struct exports *x);
/* exports_wait - wait for the worker threads (no store_state_restore()
 * while one copies the state) */
void exports_wait(struct exports *x);
void exports_close(struct exports *x);

#endif
