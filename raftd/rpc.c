/* rpc.c - encode and strictly decode Raft messages in the common codec. */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "rpc.h"

/*
 * Wire tags.  Never reuse or renumber a tag; add new ones at the end.
 * Zero values are not written (a reader sees them as absent = 0).
 *
 * struct raft_msg                      struct raft_entry (nested, tag 11)
 *   tag  wire    field                   tag  wire    field
 *    1   VARINT  type (1..10)             1   VARINT  term
 *    2   VARINT  from                     2   VARINT  index
 *    3   VARINT  to                       3   VARINT  type (1..3)
 *    4   VARINT  term                     4   BYTES   data
 *    5   VARINT  last_index
 *    6   VARINT  last_term
 *    7   VARINT  transfer (0/1)
 *    8   VARINT  prev_index
 *    9   VARINT  prev_term
 *   10   VARINT  commit
 *   11   BYTES   entry, repeated, in log order (APPEND only)
 *   12   VARINT  reject (0/1)
 *   13   VARINT  index
 *   14   VARINT  hint_index
 *   15   VARINT  hint_term
 *   16   VARINT  hb_seq
 *   17   VARINT  hb_tick
 *   18   VARINT  snap_index
 *   19   VARINT  snap_term
 *   20   BYTES   snap_config, raft_config_encode() (SNAPSHOT only)
 *
 * Decoding is strict about the fields it knows (wire type, range, a
 * single snap_config, entries only in APPEND and numbered prev_index+1,
 * prev_index+2, ...) and skips fields it does not know.  A scalar that
 * appears twice keeps the last value, as in the codec's other readers.
 */
enum {
	T_TYPE = 1,
	T_FROM = 2,
	T_TO = 3,
	T_TERM = 4,
	T_LAST_INDEX = 5,
	T_LAST_TERM = 6,
	T_TRANSFER = 7,
	T_PREV_INDEX = 8,
	T_PREV_TERM = 9,
	T_COMMIT = 10,
	T_ENTRY = 11,
	T_REJECT = 12,
	T_INDEX = 13,
	T_HINT_INDEX = 14,
	T_HINT_TERM = 15,
	T_HB_SEQ = 16,
	T_HB_TICK = 17,
	T_SNAP_INDEX = 18,
	T_SNAP_TERM = 19,
	T_SNAP_CONFIG = 20,
};

enum {
	TE_TERM = 1,
	TE_INDEX = 2,
	TE_TYPE = 3,
	TE_DATA = 4,
};

static void
put_u64(struct buf *b, uint32_t tag, uint64_t v)
{
	if (v != 0)
		cdc_put_u64(b, tag, v);
}

static void
encode_entry(struct buf *b, const struct raft_entry *e)
{
	put_u64(b, TE_TERM, e->term);
	put_u64(b, TE_INDEX, e->index);
	put_u64(b, TE_TYPE, e->type);
	if (e->len > 0)
		cdc_put_bytes(b, TE_DATA, e->data, e->len);
}

void
rpc_encode_msg(struct buf *b, const struct raft_msg *m)
{
	struct buf sb = BUF_INIT;
	size_t i;

	put_u64(b, T_TYPE, m->type);
	put_u64(b, T_FROM, m->from);
	put_u64(b, T_TO, m->to);
	put_u64(b, T_TERM, m->term);
	put_u64(b, T_LAST_INDEX, m->last_index);
	put_u64(b, T_LAST_TERM, m->last_term);
	put_u64(b, T_TRANSFER, m->transfer);
	put_u64(b, T_PREV_INDEX, m->prev_index);
	put_u64(b, T_PREV_TERM, m->prev_term);
	put_u64(b, T_COMMIT, m->commit);
	for (i = 0; i < m->n_entries; i++) {
		buf_reset(&sb);
		encode_entry(&sb, &m->entries[i]);
		cdc_put_bytes(b, T_ENTRY, sb.data, sb.len);
	}
	put_u64(b, T_REJECT, m->reject);
	put_u64(b, T_INDEX, m->index);
	put_u64(b, T_HINT_INDEX, m->hint_index);
	put_u64(b, T_HINT_TERM, m->hint_term);
	put_u64(b, T_HB_SEQ, m->hb_seq);
	put_u64(b, T_HB_TICK, m->hb_tick);
	put_u64(b, T_SNAP_INDEX, m->snap_index);
	put_u64(b, T_SNAP_TERM, m->snap_term);
	if (m->snap_config.n > 0) {
		buf_reset(&sb);
		raft_config_encode(&m->snap_config, &sb);
		cdc_put_bytes(b, T_SNAP_CONFIG, sb.data, sb.len);
	}
	buf_free(&sb);
}

static const char *
wire_name(enum cdc_wire w)
{
	switch (w) {
	case CDC_WIRE_VARINT:
		return "varint";
	case CDC_WIRE_FIXED64:
		return "fixed64";
	case CDC_WIRE_BYTES:
		return "bytes";
	}
	return "?";
}

/* expect - the known field f must have wire type w. */
static int
expect(const struct cdc_field *f, enum cdc_wire w, const char *what,
    struct errbuf *eb)
{
	if (f->wire == w)
		return 0;
	return errbuf_set(eb, -EBADMSG, "raft_msg.%s (tag %" PRIu32
	    "): %s where %s expected", what, f->tag, wire_name(f->wire),
	    wire_name(w));
}

static int
get_bool(const struct cdc_field *f, bool *out, const char *what,
    struct errbuf *eb)
{
	int rc;

	if ((rc = expect(f, CDC_WIRE_VARINT, what, eb)) < 0)
		return rc;
	if (f->u > 1)
		return errbuf_set(eb, -EBADMSG, "raft_msg.%s: boolean %" PRIu64,
		    what, f->u);
	*out = f->u != 0;
	return 0;
}

/* decode_entry - one nested entry into *e (data copied, e zeroed). */
static int
decode_entry(const struct cdc_field *ef, size_t i, struct raft_entry *e,
    struct errbuf *eb)
{
	struct cdc_reader rd;
	struct cdc_field f;
	const uint8_t *data = NULL;
	size_t len = 0;
	int r;

	cdc_reader_init(&rd, ef->ptr, ef->len);
	while ((r = cdc_next(&rd, &f)) == 1) {
		switch (f.tag) {
		case TE_TERM:
		case TE_INDEX:
		case TE_TYPE:
			if (f.wire != CDC_WIRE_VARINT)
				return errbuf_set(eb, -EBADMSG,
				    "raft_msg.entries[%zu]: tag %" PRIu32
				    " is %s, not varint", i, f.tag,
				    wire_name(f.wire));
			if (f.tag == TE_TERM)
				e->term = f.u;
			else if (f.tag == TE_INDEX)
				e->index = f.u;
			else if (f.u < RAFT_ENTRY_COMMAND ||
			    f.u > RAFT_ENTRY_NOOP)
				return errbuf_set(eb, -EBADMSG,
				    "raft_msg.entries[%zu]: unknown entry "
				    "type %" PRIu64, i, f.u);
			else
				e->type = (uint8_t)f.u;
			break;
		case TE_DATA:
			if (f.wire != CDC_WIRE_BYTES)
				return errbuf_set(eb, -EBADMSG,
				    "raft_msg.entries[%zu].data: %s, not bytes",
				    i, wire_name(f.wire));
			data = f.ptr;
			len = f.len;
			break;
		default:
			break; /* a newer writer's field */
		}
	}
	if (r < 0)
		return errbuf_set(eb, -EBADMSG,
		    "raft_msg.entries[%zu]: malformed field", i);
	if (e->type == 0)
		return errbuf_set(eb, -EBADMSG,
		    "raft_msg.entries[%zu]: no entry type", i);
	if (len > 0) {
		if ((e->data = malloc(len)) == NULL)
			return errbuf_set(eb, -ENOMEM,
			    "raft_msg.entries[%zu]: out of memory", i);
		memcpy(e->data, data, len);
		e->len = len;
	}
	return 0;
}

/* scan - first pass: check every field's framing and wire type, count the
 * entries, and remember the (single) snap_config. */
static int
scan(const void *p, size_t n, size_t *nentries, struct cdc_field *cfg,
    bool *has_cfg, struct errbuf *eb)
{
	struct cdc_reader rd;
	struct cdc_field f;
	size_t count = 0;
	int r;

	*has_cfg = false;
	cdc_reader_init(&rd, p, n);
	while ((r = cdc_next(&rd, &f)) == 1) {
		if (f.tag == T_ENTRY) {
			if ((r = expect(&f, CDC_WIRE_BYTES, "entries", eb)) < 0)
				return r;
			if (++count > RPC_MAX_ENTRIES)
				return errbuf_set(eb, -EMSGSIZE,
				    "raft_msg.entries: more than %d",
				    RPC_MAX_ENTRIES);
		} else if (f.tag == T_SNAP_CONFIG) {
			if ((r = expect(&f, CDC_WIRE_BYTES, "snap_config",
			    eb)) < 0)
				return r;
			if (*has_cfg)
				return errbuf_set(eb, -EBADMSG,
				    "raft_msg.snap_config: repeated");
			*cfg = f;
			*has_cfg = true;
		}
	}
	if (r < 0)
		return errbuf_set(eb, -EBADMSG, "raft_msg: malformed field "
		    "at offset %zu", (size_t)(rd.p - (const uint8_t *)p));
	*nentries = count;
	return 0;
}

/* the plain u64 fields, for decode_scalars */
static const struct {
	uint32_t tag;
	size_t off;
	const char *name;
} u64_fields[] = {
	{T_FROM, offsetof(struct raft_msg, from), "from"},
	{T_TO, offsetof(struct raft_msg, to), "to"},
	{T_TERM, offsetof(struct raft_msg, term), "term"},
	{T_LAST_INDEX, offsetof(struct raft_msg, last_index), "last_index"},
	{T_LAST_TERM, offsetof(struct raft_msg, last_term), "last_term"},
	{T_PREV_INDEX, offsetof(struct raft_msg, prev_index), "prev_index"},
	{T_PREV_TERM, offsetof(struct raft_msg, prev_term), "prev_term"},
	{T_COMMIT, offsetof(struct raft_msg, commit), "commit"},
	{T_INDEX, offsetof(struct raft_msg, index), "index"},
	{T_HINT_INDEX, offsetof(struct raft_msg, hint_index), "hint_index"},
	{T_HINT_TERM, offsetof(struct raft_msg, hint_term), "hint_term"},
	{T_HB_SEQ, offsetof(struct raft_msg, hb_seq), "hb_seq"},
	{T_HB_TICK, offsetof(struct raft_msg, hb_tick), "hb_tick"},
	{T_SNAP_INDEX, offsetof(struct raft_msg, snap_index), "snap_index"},
	{T_SNAP_TERM, offsetof(struct raft_msg, snap_term), "snap_term"},
};

/* decode_scalars - second pass: every field but entries and snap_config
 * (the framing was checked by scan). */
static int
decode_scalars(const void *p, size_t n, struct raft_msg *m, struct errbuf *eb)
{
	struct cdc_reader rd;
	struct cdc_field f;
	size_t i;
	int r;

	cdc_reader_init(&rd, p, n);
	while (cdc_next(&rd, &f) == 1) {
		switch (f.tag) {
		case T_TYPE:
			if ((r = expect(&f, CDC_WIRE_VARINT, "type", eb)) < 0)
				return r;
			if (f.u < RAFT_MSG_PREVOTE ||
			    f.u > RAFT_MSG_TIMEOUT_NOW)
				return errbuf_set(eb, -EBADMSG,
				    "raft_msg.type: unknown type %" PRIu64,
				    f.u);
			m->type = (uint8_t)f.u;
			continue;
		case T_TRANSFER:
			if ((r = get_bool(&f, &m->transfer, "transfer",
			    eb)) < 0)
				return r;
			continue;
		case T_REJECT:
			if ((r = get_bool(&f, &m->reject, "reject", eb)) < 0)
				return r;
			continue;
		}
		for (i = 0; i < sizeof(u64_fields) / sizeof(u64_fields[0]);
		    i++) {
			if (u64_fields[i].tag != f.tag)
				continue;
			if ((r = expect(&f, CDC_WIRE_VARINT,
			    u64_fields[i].name, eb)) < 0)
				return r;
			memcpy((char *)m + u64_fields[i].off, &f.u,
			    sizeof(f.u));
			break;
		}
	}
	return 0;
}

/* config_servers - how many servers an encoded configuration lists. */
static size_t
config_servers(const struct cdc_field *cfg)
{
	struct cdc_reader rd;
	struct cdc_field f;
	size_t count = 0;

	cdc_reader_init(&rd, cfg->ptr, cfg->len);
	while (cdc_next(&rd, &f) == 1)
		count += f.tag == 1;
	return count;
}

/* decode_entries - third pass: the n entries, then their numbering. */
static int
decode_entries(const void *p, size_t n, struct raft_msg *m, size_t count,
    struct errbuf *eb)
{
	struct cdc_reader rd;
	struct cdc_field f;
	uint64_t expect_index;
	size_t i = 0;
	int r;

	if ((m->entries = calloc(count, sizeof(*m->entries))) == NULL)
		return errbuf_set(eb, -ENOMEM,
		    "raft_msg.entries: out of memory");
	cdc_reader_init(&rd, p, n);
	while (i < count && cdc_next(&rd, &f) == 1) {
		if (f.tag != T_ENTRY)
			continue;
		/* counted first, so a partial entry is freed with the rest */
		m->n_entries = i + 1;
		if ((r = decode_entry(&f, i, &m->entries[i], eb)) < 0)
			return r;
		i++;
	}
	expect_index = m->prev_index;
	for (i = 0; i < count; i++) {
		if (expect_index == UINT64_MAX ||
		    m->entries[i].index != expect_index + 1)
			return errbuf_set(eb, -EBADMSG,
			    "raft_msg.entries[%zu]: index %" PRIu64
			    " after %" PRIu64, i, m->entries[i].index,
			    expect_index);
		expect_index++;
	}
	return 0;
}

int
rpc_decode_msg(const void *p, size_t n, struct raft_msg *m,
    struct errbuf *eb)
{
	struct cdc_field cfg = {0, CDC_WIRE_VARINT, 0, NULL, 0};
	size_t count = 0;
	bool has_cfg;
	int rc;

	memset(m, 0, sizeof(*m));
	if ((rc = scan(p, n, &count, &cfg, &has_cfg, eb)) < 0)
		return rc;
	if ((rc = decode_scalars(p, n, m, eb)) < 0)
		goto fail;
	if (m->type == 0) {
		rc = errbuf_set(eb, -EBADMSG, "raft_msg.type: missing");
		goto fail;
	}
	if (count > 0 && m->type != RAFT_MSG_APPEND) {
		rc = errbuf_set(eb, -EBADMSG, "raft_msg.entries: in a message "
		    "of type %u", m->type);
		goto fail;
	}
	if (has_cfg && m->type != RAFT_MSG_SNAPSHOT) {
		rc = errbuf_set(eb, -EBADMSG, "raft_msg.snap_config: in a "
		    "message of type %u", m->type);
		goto fail;
	}
	if (count > 0 && (rc = decode_entries(p, n, m, count, eb)) < 0)
		goto fail;
	if (has_cfg && config_servers(&cfg) > RPC_MAX_SERVERS) {
		rc = errbuf_set(eb, -EMSGSIZE, "raft_msg.snap_config: more "
		    "than %d servers", RPC_MAX_SERVERS);
		goto fail;
	}
	if (has_cfg) {
		rc = raft_config_decode(cfg.ptr, cfg.len, &m->snap_config);
		if (rc < 0) {
			rc = errbuf_set(eb, rc, "raft_msg.snap_config: %s",
			    rc == -ENOMEM ? "out of memory" :
			    "bad configuration");
			goto fail;
		}
	}
	return 0;
fail:
	raft_msg_free(m);
	memset(m, 0, sizeof(*m));
	return rc;
}
