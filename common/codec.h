/* codec.h - the one binary codec of Cairn: tagged fields, used for IPC
 * bodies, Raft RPCs, log entries and state rows.
 *
 * Wire format (all integers are unsigned LEB128 varints unless noted):
 *   message  := field*
 *   field    := key value
 *   key      := varint (tag << 3 | wiretype), tag >= 1
 *   wiretype 0 VARINT : varint
 *   wiretype 1 FIXED64: 8 bytes big-endian
 *   wiretype 2 BYTES  : varint length, then that many bytes
 * A decoder skips fields whose tag it does not know (of any valid wire
 * type), and fields absent from the input keep their zero/default value, so
 * an old reader accepts a newer writer's message and vice versa.  Signed
 * integers are zig-zag encoded varints.  Nested messages and strings are
 * BYTES.  Repeated fields are the same tag appearing several times.
 *
 * Limits enforced by the decoder (oversized or malicious input returns
 * -EMSGSIZE or -EBADMSG, never a crash): a varint is at most 10 bytes, a
 * length never exceeds the remaining input, nesting depth <= CDC_MAX_DEPTH,
 * repeated fields <= CDC_MAX_REPEAT elements, strings must not contain NUL.
 */
#ifndef CAIRN_CODEC_H
#define CAIRN_CODEC_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#include "buf.h"
#include "err.h"

#define CDC_MAX_DEPTH 8
#define CDC_MAX_REPEAT 1000000u

enum cdc_wire {
	CDC_WIRE_VARINT = 0,
	CDC_WIRE_FIXED64 = 1,
	CDC_WIRE_BYTES = 2,
};

/* --- low level: writer ------------------------------------------------- */

void cdc_put_varint(struct buf *b, uint64_t v);
void cdc_put_key(struct buf *b, uint32_t tag, enum cdc_wire w);
void cdc_put_u64(struct buf *b, uint32_t tag, uint64_t v);
void cdc_put_i64(struct buf *b, uint32_t tag, int64_t v); /* zig-zag */
void cdc_put_bool(struct buf *b, uint32_t tag, bool v);
void cdc_put_fixed64(struct buf *b, uint32_t tag, uint64_t v);
void cdc_put_bytes(struct buf *b, uint32_t tag, const void *p, size_t n);
void cdc_put_str(struct buf *b, uint32_t tag, const char *s); /* NULL: skip */

/* --- low level: reader ------------------------------------------------- */

struct cdc_reader {
	const uint8_t *p;   /* next byte */
	const uint8_t *end; /* one past the last byte */
};

struct cdc_field {
	uint32_t tag;
	enum cdc_wire wire;
	uint64_t u;	    /* VARINT and FIXED64 values */
	const uint8_t *ptr; /* BYTES: borrowed from the input */
	size_t len;	    /* BYTES length */
};

void cdc_reader_init(struct cdc_reader *r, const void *p, size_t n);
/* cdc_next - read one field.  Returns 1 and fills *f, 0 at a clean end of
 * input, or -EBADMSG on truncated/malformed input (bad wire type, tag 0,
 * varint over 10 bytes, length past the end). */
int cdc_next(struct cdc_reader *r, struct cdc_field *f);
int cdc_get_varint(struct cdc_reader *r, uint64_t *v);
int64_t cdc_zigzag_decode(uint64_t v);

/* --- high level: messages described by a table ------------------------- */

enum cdc_type {
	CDC_U32,     /* uint32_t; decoding a value > UINT32_MAX is -EBADMSG */
	CDC_U64,     /* uint64_t */
	CDC_I64,     /* int64_t, zig-zag */
	CDC_BOOL,    /* bool */
	CDC_STR,     /* char *, NUL-terminated, owned (NULL = absent) */
	CDC_BYTES,   /* struct cdc_bytes, owned */
	CDC_MSG,     /* embedded struct described by .sub */
	CDC_STRLIST, /* struct cdc_strlist, owned */
	CDC_MSGLIST, /* struct cdc_list of .sub structs (size .sub->size) */
};

struct cdc_bytes {
	uint8_t *p; /* owned, malloc'd; NULL when n == 0 */
	size_t n;
};

struct cdc_strlist {
	char **v; /* owned array of owned strings */
	size_t n;
};

struct cdc_list {
	void *v; /* owned array of n elements of the sub-message's size */
	size_t n;
};

struct cdc_msg_desc;

struct cdc_field_desc {
	uint32_t tag;	 /* >= 1, unique within the message, never reused */
	enum cdc_type type;
	size_t offset;	 /* offsetof the member in the C struct */
	const char *name; /* for error messages and debugging */
	const struct cdc_msg_desc *sub; /* CDC_MSG / CDC_MSGLIST only */
};

struct cdc_msg_desc {
	const char *name; /* message name, e.g. "ipc_status" */
	size_t size;	  /* sizeof the C struct */
	const struct cdc_field_desc *fields;
	size_t nfields;
};

/* cdc_encode - append the encoding of struct *msg to b.  Zero values
 * (0, false, NULL, empty) are not written. */
void cdc_encode(struct buf *b, const struct cdc_msg_desc *d, const void *msg);

/* cdc_decode - decode p[0..n) into *msg, which must be zeroed (or freshly
 * cdc_free'd) by the caller.  On error returns -EBADMSG or -EMSGSIZE, fills
 * eb with "<message>.<field>: reason" and frees whatever was allocated
 * (msg is left zeroed).  On success the caller owns what msg points to and
 * releases it with cdc_free. */
int cdc_decode(const struct cdc_msg_desc *d, const void *p, size_t n,
    void *msg, struct errbuf *eb);

/* cdc_free - release everything msg owns and zero it.  msg may be NULL. */
void cdc_free(const struct cdc_msg_desc *d, void *msg);

/*
 * Declaring a message once: an X-macro lists its fields, then
 * CDC_STRUCT(name, LIST) defines `struct name`, and CDC_DESC(name, LIST)
 * (in exactly one .c file) defines `const struct cdc_msg_desc name_desc`.
 *
 *   #define MY_MSG(F, S)                          \
 *     F(S, 1, U64, uint64_t, uptime_ms, NULL)     \
 *     F(S, 2, STR, char *, version, NULL)
 *   CDC_STRUCT(my_msg, MY_MSG)
 *   extern const struct cdc_msg_desc my_msg_desc;
 */
#define CDC_F_MEMBER(S, tag, type, ctype, name, sub) ctype name;
#define CDC_F_DESC(S, tag, type, ctype, name, sub)                             \
	{tag, CDC_##type, offsetof(struct S, name), #name, sub},
#define CDC_STRUCT(sname, LIST)                                                \
	struct sname {                                                         \
		LIST(CDC_F_MEMBER, sname)                                      \
	};
#define CDC_DESC(sname, LIST)                                                  \
	static const struct cdc_field_desc sname##_fields[] = {                \
	    LIST(CDC_F_DESC, sname)};                                          \
	const struct cdc_msg_desc sname##_desc = {                             \
	    #sname, sizeof(struct sname), sname##_fields,                      \
	    sizeof(sname##_fields) / sizeof(sname##_fields[0])};

#endif
