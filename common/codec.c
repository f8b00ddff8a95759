/* codec.c - tagged-field binary codec: varint writer/reader and the
 * descriptor-driven encoder, decoder and destructor (see codec.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

#define VARINT_MAX 10

/* --- low level: writer ------------------------------------------------- */

static size_t
varint_enc(uint8_t *out, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		out[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	out[n++] = (uint8_t)v;
	return n;
}

static uint64_t
zigzag_encode(int64_t v)
{
	uint64_t u = (uint64_t)v;

	return (u << 1) ^ (0 - (u >> 63));
}

void
cdc_put_varint(struct buf *b, uint64_t v)
{
	uint8_t tmp[VARINT_MAX];

	buf_put(b, tmp, varint_enc(tmp, v));
}

void
cdc_put_key(struct buf *b, uint32_t tag, enum cdc_wire w)
{
	cdc_put_varint(b, (uint64_t)tag << 3 | (uint64_t)w);
}

void
cdc_put_u64(struct buf *b, uint32_t tag, uint64_t v)
{
	cdc_put_key(b, tag, CDC_WIRE_VARINT);
	cdc_put_varint(b, v);
}

void
cdc_put_i64(struct buf *b, uint32_t tag, int64_t v)
{
	cdc_put_u64(b, tag, zigzag_encode(v));
}

void
cdc_put_bool(struct buf *b, uint32_t tag, bool v)
{
	cdc_put_u64(b, tag, v ? 1 : 0);
}

void
cdc_put_fixed64(struct buf *b, uint32_t tag, uint64_t v)
{
	cdc_put_key(b, tag, CDC_WIRE_FIXED64);
	buf_put_be64(b, v);
}

void
cdc_put_bytes(struct buf *b, uint32_t tag, const void *p, size_t n)
{
	cdc_put_key(b, tag, CDC_WIRE_BYTES);
	cdc_put_varint(b, n);
	buf_put(b, p, n);
}

void
cdc_put_str(struct buf *b, uint32_t tag, const char *s)
{
	if (s != NULL)
		cdc_put_bytes(b, tag, s, strlen(s));
}

/* --- low level: reader ------------------------------------------------- */

void
cdc_reader_init(struct cdc_reader *r, const void *p, size_t n)
{
	r->p = p;
	/* no arithmetic on a NULL pointer, even with offset 0 */
	r->end = n ? r->p + n : r->p;
}

/* get_varint - like cdc_get_varint, with a reason on failure.  The 10th
 * byte may only carry bit 63, so values wider than 64 bits and varints of
 * 11 bytes or more are both rejected.  r is unchanged on failure. */
static int
get_varint(struct cdc_reader *r, uint64_t *v, const char **why)
{
	const uint8_t *p = r->p;
	uint64_t x = 0;
	unsigned int shift;
	uint8_t c;

	for (shift = 0;; shift += 7) {
		if (p == r->end) {
			*why = "truncated varint";
			return -EBADMSG;
		}
		c = *p++;
		if (shift == 63 && c > 1) {
			*why = "varint longer than 64 bits";
			return -EBADMSG;
		}
		x |= (uint64_t)(c & 0x7f) << shift;
		if ((c & 0x80) == 0)
			break;
	}
	r->p = p;
	*v = x;
	return 0;
}

int
cdc_get_varint(struct cdc_reader *r, uint64_t *v)
{
	const char *why;

	return get_varint(r, v, &why);
}

int64_t
cdc_zigzag_decode(uint64_t v)
{
	/* no implementation-defined unsigned-to-signed conversion */
	if (v & 1)
		return -(int64_t)(v >> 1) - 1;
	return (int64_t)(v >> 1);
}

/* read_key - returns 1 with f->tag and f->wire set, 0 at a clean end, or
 * -EBADMSG with *why.  f->tag is set whenever the key itself was readable,
 * so errors about a bad wire type can name the field. */
static int
read_key(struct cdc_reader *r, struct cdc_field *f, const char **why)
{
	uint64_t key, tag;
	int rc;

	f->tag = 0;
	if (r->p == r->end)
		return 0;
	rc = get_varint(r, &key, why);
	if (rc < 0) {
		/* with fewer than 10 bytes left it can only have run out */
		*why = r->end - r->p < VARINT_MAX ? "truncated key" :
		    "key longer than 64 bits";
		return rc;
	}
	tag = key >> 3;
	if (tag > UINT32_MAX) {
		*why = "tag out of range";
		return -EBADMSG;
	}
	if (tag == 0) {
		*why = "invalid tag 0";
		return -EBADMSG;
	}
	f->tag = (uint32_t)tag;
	switch (key & 7) {
	case CDC_WIRE_VARINT:
	case CDC_WIRE_FIXED64:
	case CDC_WIRE_BYTES:
		f->wire = (enum cdc_wire)(key & 7);
		return 1;
	default:
		*why = "invalid wire type";
		return -EBADMSG;
	}
}

static int
read_value(struct cdc_reader *r, struct cdc_field *f, const char **why)
{
	uint64_t len;
	int rc;

	f->u = 0;
	f->ptr = NULL;
	f->len = 0;
	switch (f->wire) {
	case CDC_WIRE_VARINT:
		return get_varint(r, &f->u, why);
	case CDC_WIRE_FIXED64:
		if (r->end - r->p < 8) {
			*why = "truncated fixed64";
			return -EBADMSG;
		}
		f->u = be64_get(r->p);
		r->p += 8;
		return 0;
	case CDC_WIRE_BYTES:
		rc = get_varint(r, &len, why);
		if (rc < 0)
			return rc;
		if (len > (uint64_t)(r->end - r->p)) {
			*why = "length exceeds the remaining input";
			return -EBADMSG;
		}
		f->ptr = r->p;
		f->len = (size_t)len;
		r->p += f->len;
		return 0;
	}
	*why = "invalid wire type";
	return -EBADMSG;
}

int
cdc_next(struct cdc_reader *r, struct cdc_field *f)
{
	const uint8_t *start = r->p;
	const char *why;
	int rc;

	rc = read_key(r, f, &why);
	if (rc == 0)
		return 0;
	if (rc > 0)
		rc = read_value(r, f, &why);
	if (rc < 0) {
		r->p = start; /* leave the reader at the bad field */
		return rc;
	}
	return 1;
}

/* --- high level: encoding ---------------------------------------------- */

static void encode_msg(struct buf *b, const struct cdc_msg_desc *d,
    const void *msg);

/* put_sub - write an embedded message.  It is encoded in place after the
 * key, then shifted right to make room for its length prefix. */
static void
put_sub(struct buf *b, uint32_t tag, const struct cdc_msg_desc *sd,
    const void *m, bool omit_empty)
{
	uint8_t tmp[VARINT_MAX];
	size_t keyat, start, len, k;

	keyat = b->len;
	cdc_put_key(b, tag, CDC_WIRE_BYTES);
	start = b->len;
	encode_msg(b, sd, m);
	len = b->len - start;
	if (len == 0 && omit_empty) {
		b->len = keyat;
		return;
	}
	k = varint_enc(tmp, len);
	buf_reserve(b, k);
	memmove(b->data + start + k, b->data + start, len);
	memcpy(b->data + start, tmp, k);
	b->len += k;
}

static void
encode_field(struct buf *b, const struct cdc_field_desc *fd, const void *msg)
{
	const uint8_t *m = (const uint8_t *)msg + fd->offset;
	const struct cdc_bytes *by;
	const struct cdc_strlist *sl;
	const struct cdc_list *ml;
	const char *s;
	uint64_t u;
	int64_t i;
	size_t j;

	switch (fd->type) {
	case CDC_U32:
		u = *(const uint32_t *)m;
		if (u != 0)
			cdc_put_u64(b, fd->tag, u);
		break;
	case CDC_U64:
		u = *(const uint64_t *)m;
		if (u != 0)
			cdc_put_u64(b, fd->tag, u);
		break;
	case CDC_I64:
		i = *(const int64_t *)m;
		if (i != 0)
			cdc_put_i64(b, fd->tag, i);
		break;
	case CDC_BOOL:
		if (*(const bool *)m)
			cdc_put_bool(b, fd->tag, true);
		break;
	case CDC_STR:
		/* "" is written, so NULL and "" survive a round trip */
		cdc_put_str(b, fd->tag, *(char *const *)m);
		break;
	case CDC_BYTES:
		by = (const struct cdc_bytes *)m;
		if (by->n != 0)
			cdc_put_bytes(b, fd->tag, by->p, by->n);
		break;
	case CDC_MSG:
		if (fd->sub != NULL)
			put_sub(b, fd->tag, fd->sub, m, true);
		break;
	case CDC_STRLIST:
		sl = (const struct cdc_strlist *)m;
		for (j = 0; j < sl->n; j++) {
			s = sl->v[j] != NULL ? sl->v[j] : "";
			cdc_put_bytes(b, fd->tag, s, strlen(s));
		}
		break;
	case CDC_MSGLIST:
		ml = (const struct cdc_list *)m;
		if (fd->sub == NULL)
			break;
		for (j = 0; j < ml->n; j++)
			put_sub(b, fd->tag, fd->sub,
			    (const uint8_t *)ml->v + j * fd->sub->size, false);
		break;
	}
}

static void
encode_msg(struct buf *b, const struct cdc_msg_desc *d, const void *msg)
{
	size_t i;

	for (i = 0; i < d->nfields; i++)
		encode_field(b, &d->fields[i], msg);
}

void
cdc_encode(struct buf *b, const struct cdc_msg_desc *d, const void *msg)
{
	encode_msg(b, d, msg);
}

/* --- high level: freeing ----------------------------------------------- */

static void
free_msg(const struct cdc_msg_desc *d, void *msg)
{
	const struct cdc_field_desc *fd;
	struct cdc_strlist *sl;
	struct cdc_list *ml;
	uint8_t *m;
	size_t i, j;

	for (i = 0; i < d->nfields; i++) {
		fd = &d->fields[i];
		m = (uint8_t *)msg + fd->offset;
		switch (fd->type) {
		case CDC_U32:
		case CDC_U64:
		case CDC_I64:
		case CDC_BOOL:
			break;
		case CDC_STR:
			free(*(char **)m);
			break;
		case CDC_BYTES:
			free(((struct cdc_bytes *)m)->p);
			break;
		case CDC_MSG:
			if (fd->sub != NULL)
				free_msg(fd->sub, m);
			break;
		case CDC_STRLIST:
			sl = (struct cdc_strlist *)m;
			for (j = 0; j < sl->n; j++)
				free(sl->v[j]);
			free(sl->v);
			break;
		case CDC_MSGLIST:
			ml = (struct cdc_list *)m;
			if (fd->sub != NULL)
				for (j = 0; j < ml->n; j++)
					free_msg(fd->sub, (uint8_t *)ml->v +
					    j * fd->sub->size);
			free(ml->v);
			break;
		}
	}
	if (d->size > 0)
		memset(msg, 0, d->size);
}

void
cdc_free(const struct cdc_msg_desc *d, void *msg)
{
	if (d != NULL && msg != NULL)
		free_msg(d, msg);
}

/* --- high level: decoding ---------------------------------------------- */

/*
 * Invariant while decoding: the struct is always in a state cdc_free can
 * release (pointers are stored only once fully built, list counts cover
 * only initialised elements), so on any error cdc_decode simply frees the
 * whole top-level message.  The root message is depth 0; a nested message
 * deeper than CDC_MAX_DEPTH is refused.
 */

static const char *
dname(const struct cdc_msg_desc *d)
{
	return d->name != NULL ? d->name : "?";
}

static const char *
fname(const struct cdc_field_desc *fd)
{
	return fd->name != NULL ? fd->name : "?";
}

/* fail - "<msg>.<field>: why", with "#<tag>" for a field the descriptor
 * does not know, and just "<msg>: why" when no tag could be read. */
static int
fail(struct errbuf *eb, int rc, const struct cdc_msg_desc *d,
    const struct cdc_field_desc *fd, uint32_t tag, const char *why)
{
	if (fd != NULL)
		return errbuf_set(eb, rc, "%s.%s: %s", dname(d), fname(fd),
		    why);
	if (tag != 0)
		return errbuf_set(eb, rc, "%s.#%" PRIu32 ": %s", dname(d), tag,
		    why);
	return errbuf_set(eb, rc, "%s: %s", dname(d), why);
}

static const struct cdc_field_desc *
find_field(const struct cdc_msg_desc *d, uint32_t tag)
{
	size_t i;

	for (i = 0; i < d->nfields; i++)
		if (d->fields[i].tag == tag)
			return &d->fields[i];
	return NULL;
}

static enum cdc_wire
wire_of(enum cdc_type t)
{
	switch (t) {
	case CDC_U32:
	case CDC_U64:
	case CDC_I64:
	case CDC_BOOL:
		return CDC_WIRE_VARINT;
	default:
		return CDC_WIRE_BYTES;
	}
}

/* grow - make room for element n of an array of n elements of esz bytes.
 * The capacity is implicit (the next power of two >= max(n, 4)), so an
 * array needs reallocating only when n is 0 or a power of two >= 4. */
static int
grow(void **v, size_t n, size_t esz)
{
	size_t cap;
	void *nv;

	if (n != 0 && (n < 4 || (n & (n - 1)) != 0))
		return 0;
	cap = n == 0 ? 4 : n * 2;
	if (esz == 0)
		esz = 1;
	if (cap > SIZE_MAX / 2 / esz)
		return -ENOMEM;
	nv = realloc(*v, cap * esz);
	if (nv == NULL)
		return -ENOMEM;
	*v = nv;
	return 0;
}

/* copy_str - a NUL-terminated copy of f's bytes; NULL with *rc set on a
 * NUL inside the string (-EBADMSG) or no memory (-ENOMEM). */
static char *
copy_str(const struct cdc_field *f, int *rc)
{
	char *s;

	if (f->len != 0 && memchr(f->ptr, 0, f->len) != NULL) {
		*rc = -EBADMSG;
		return NULL;
	}
	s = malloc(f->len + 1);
	if (s == NULL) {
		*rc = -ENOMEM;
		return NULL;
	}
	if (f->len != 0)
		memcpy(s, f->ptr, f->len);
	s[f->len] = '\0';
	return s;
}

static int decode_msg(const struct cdc_msg_desc *d, const uint8_t *p,
    size_t n, void *msg, int depth, struct errbuf *eb);

/* store - check and store one field value of a known tag; "last one wins"
 * for everything but the lists, which append. */
static int
store(const struct cdc_msg_desc *d, const struct cdc_field_desc *fd,
    const struct cdc_field *f, void *msg, int depth, struct errbuf *eb)
{
	uint8_t *m = (uint8_t *)msg + fd->offset;
	struct cdc_bytes *by;
	struct cdc_strlist *sl;
	struct cdc_list *ml;
	uint8_t *bp, *elem;
	char why[80];
	char *s;
	int rc;

	switch (fd->type) {
	case CDC_U32:
		if (f->u > UINT32_MAX) {
			snprintf(why, sizeof(why),
			    "value %" PRIu64 " out of range for u32", f->u);
			return fail(eb, -EBADMSG, d, fd, f->tag, why);
		}
		*(uint32_t *)m = (uint32_t)f->u;
		return 0;
	case CDC_U64:
		*(uint64_t *)m = f->u;
		return 0;
	case CDC_I64:
		*(int64_t *)m = cdc_zigzag_decode(f->u);
		return 0;
	case CDC_BOOL:
		if (f->u > 1) {
			snprintf(why, sizeof(why),
			    "bool value %" PRIu64 " is not 0 or 1", f->u);
			return fail(eb, -EBADMSG, d, fd, f->tag, why);
		}
		*(bool *)m = f->u != 0;
		return 0;
	case CDC_STR:
		s = copy_str(f, &rc);
		if (s == NULL)
			goto str_err;
		free(*(char **)m);
		*(char **)m = s;
		return 0;
	case CDC_BYTES:
		by = (struct cdc_bytes *)m;
		bp = NULL;
		if (f->len != 0) {
			bp = malloc(f->len);
			if (bp == NULL)
				goto nomem;
			memcpy(bp, f->ptr, f->len);
		}
		free(by->p);
		by->p = bp;
		by->n = f->len;
		return 0;
	case CDC_MSG:
		if (fd->sub == NULL)
			goto nosub;
		if (depth >= CDC_MAX_DEPTH)
			goto too_deep;
		/* last one wins: the earlier value is replaced, not merged */
		free_msg(fd->sub, m);
		rc = decode_msg(fd->sub, f->ptr, f->len, m, depth + 1, eb);
		if (rc < 0)
			return errbuf_wrap(eb, rc, "%s.%s", dname(d),
			    fname(fd));
		return 0;
	case CDC_STRLIST:
		sl = (struct cdc_strlist *)m;
		if (sl->n >= CDC_MAX_REPEAT)
			goto too_many;
		s = copy_str(f, &rc);
		if (s == NULL)
			goto str_err;
		if (grow((void **)&sl->v, sl->n, sizeof(char *)) < 0) {
			free(s);
			goto nomem;
		}
		sl->v[sl->n++] = s;
		return 0;
	case CDC_MSGLIST:
		ml = (struct cdc_list *)m;
		if (fd->sub == NULL)
			goto nosub;
		if (depth >= CDC_MAX_DEPTH)
			goto too_deep;
		if (ml->n >= CDC_MAX_REPEAT)
			goto too_many;
		if (grow(&ml->v, ml->n, fd->sub->size) < 0)
			goto nomem;
		elem = (uint8_t *)ml->v + ml->n * fd->sub->size;
		if (fd->sub->size > 0)
			memset(elem, 0, fd->sub->size);
		ml->n++; /* a zeroed element is safe to free */
		rc = decode_msg(fd->sub, f->ptr, f->len, elem, depth + 1, eb);
		if (rc < 0)
			return errbuf_wrap(eb, rc, "%s.%s[%zu]", dname(d),
			    fname(fd), ml->n - 1);
		return 0;
	}
	return fail(eb, -EINVAL, d, fd, f->tag, "unknown field type");

str_err:
	if (rc == -ENOMEM)
		goto nomem;
	return fail(eb, rc, d, fd, f->tag, "string contains NUL");
nomem:
	return fail(eb, -ENOMEM, d, fd, f->tag, "out of memory");
nosub:
	return fail(eb, -EINVAL, d, fd, f->tag,
	    "descriptor has no sub-message");
too_deep:
	snprintf(why, sizeof(why), "messages nested deeper than %d",
	    CDC_MAX_DEPTH);
	return fail(eb, -EMSGSIZE, d, fd, f->tag, why);
too_many:
	snprintf(why, sizeof(why), "more than %u elements", CDC_MAX_REPEAT);
	return fail(eb, -EMSGSIZE, d, fd, f->tag, why);
}

static int
decode_msg(const struct cdc_msg_desc *d, const uint8_t *p, size_t n,
    void *msg, int depth, struct errbuf *eb)
{
	const struct cdc_field_desc *fd;
	struct cdc_reader r;
	struct cdc_field f;
	const char *why;
	int rc;

	cdc_reader_init(&r, p, n);
	for (;;) {
		rc = read_key(&r, &f, &why);
		if (rc == 0)
			return 0;
		fd = f.tag != 0 ? find_field(d, f.tag) : NULL;
		if (rc < 0)
			return fail(eb, rc, d, fd, f.tag, why);
		rc = read_value(&r, &f, &why);
		if (rc < 0)
			return fail(eb, rc, d, fd, f.tag, why);
		if (fd == NULL)
			continue; /* unknown field: skipped */
		if (f.wire != wire_of(fd->type))
			return fail(eb, -EBADMSG, d, fd, f.tag,
			    "wrong wire type");
		rc = store(d, fd, &f, msg, depth, eb);
		if (rc < 0)
			return rc;
	}
}

int
cdc_decode(const struct cdc_msg_desc *d, const void *p, size_t n, void *msg,
    struct errbuf *eb)
{
	int rc;

	rc = decode_msg(d, p, n, msg, 0, eb);
	if (rc < 0)
		free_msg(d, msg);
	return rc;
}
