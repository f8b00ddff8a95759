/* snapfile.h - the snapshot archive of `cairn snapshot` and /v1/snapshot:
 * a gzipped tar (ustar) holding, in this order,
 *
 *   meta.json   {"Version":1,"ID":"<term>-<index>-<unix ms>","Index":N,
 *                "Term":T,"Size":<bytes of state.bin>,"Datacenter":"dc1"}
 *   state.bin   the state environment (a single-file LMDB copy)
 *   SHA256SUMS  "<hex>  meta.json\n<hex>  state.bin\n"
 *
 * as Consul's archive is laid out (its state.bin encoding differs: Cairn
 * restores only Cairn snapshots).  raftd writes archives; httpd, the CLI
 * and the fuzzer read them through the streaming reader below, which never
 * holds more than one block of inflated data: a huge archive costs time,
 * not memory. */
#ifndef CAIRN_SNAPFILE_H
#define CAIRN_SNAPFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"

#define SNAP_VERSION 1
#define SNAP_META_MAX (64 * 1024) /* meta.json and SHA256SUMS */
#define SNAP_MAX_ENTRIES 16	  /* tar members */

struct snap_meta {
	char id[64];
	char datacenter[64];
	uint64_t version, index, term, size;
};

/* snapfile_write - write the archive for the state file state_fd (read
 * from offset 0 to its end) to out_fd, with m's index, term and
 * datacenter (m->size and m->id are filled in here; m->id is kept if set).
 * *out_size (may be NULL) gets the archive's length.  Does not fsync.
 * Returns 0 or a negative errno with eb. */
int snapfile_write(int out_fd, int state_fd, struct snap_meta *m,
    uint64_t *out_size, struct errbuf *eb);

/* The streaming reader over an archive held in memory (p is borrowed for
 * the reader's life). */
struct snap_reader;
int snapr_open(struct snap_reader **out, const void *p, size_t n);
/* snapr_next - move to the next member (skipping what is left of this
 * one): 1 and its name and size, 0 at the archive's end, or -EBADMSG
 * with eb (not gzip, a damaged tar header, truncated, too many members) */
int snapr_next(struct snap_reader *r, char *name, size_t namelen,
    uint64_t *size, struct errbuf *eb);
/* snapr_read - up to n bytes of the current member: the count, 0 at its
 * end, or -EBADMSG with eb */
ssize_t snapr_read(struct snap_reader *r, void *buf, size_t n,
    struct errbuf *eb);
void snapr_close(struct snap_reader *r);

/* snapfile_verify - read the whole archive once: meta.json parses, the
 * SHA256SUMS lines match meta.json and state.bin, state.bin's length is
 * meta's Size.  Fills *m and state_sha (may be NULL: the SHA-256 of
 * state.bin).  Returns 0, or -EBADMSG with eb saying what is wrong. */
int snapfile_verify(const void *p, size_t n, struct snap_meta *m,
    uint8_t state_sha[32], struct errbuf *eb);

/* snapfile_meta_parse - meta.json's text into *m; -EBADMSG with eb */
int snapfile_meta_parse(const char *p, size_t n, struct snap_meta *m,
    struct errbuf *eb);

#endif
