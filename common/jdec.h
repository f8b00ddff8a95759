/* jdec.h - table-driven decoding of JSON request bodies into C structs,
 * with Consul's (Go encoding/json + mapstructure) rules. */
#ifndef CAIRN_JDEC_H
#define CAIRN_JDEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yajl/yajl_tree.h>

#include "err.h"

/*
 * Decoding rules (../shared/spec/consul-compat.md section 0):
 *
 * - A field matches a key equal to its name or its alias, ASCII
 *   case-insensitively ("LockDelay" matches "lockdelay", "LOCKDELAY" and
 *   alias "lock_delay").  Unknown keys are ignored.
 * - JSON null for a field, anywhere, means absent: the member keeps what it
 *   held.  Among several non-null keys for one field the last one wins; a key
 *   matching the name beats one matching the alias (Consul's TranslateKeys).
 * - Types are strict, as in encoding/json: no string "1" for a number, no
 *   1.0 or 1e3 for an integer.  Inside a string list, map or object list a
 *   null element decodes to its zero value ("" or a zeroed struct), as in Go.
 * - Errors name the field path with canonical names and stop decoding:
 *   "Request decode failed: Checks[1]: expected string, got number",
 *   "Request decode failed: Service.Port: expected unsigned integer, got
 *   string", "Request decode failed: Meta.env: expected string, got number".
 * - Arrays, and objects decoded as maps, hold at most JD_MAX_ELEMS elements.
 *
 * Ownership: every owned member (JD_STR, JD_BYTES, JD_STRLIST, JD_STRMAP,
 * JD_OBJLIST and those inside JD_OBJ) must be zero or owned (malloc'ed) on
 * entry; a present key frees and replaces it.  A JD_OBJ member is decoded
 * into in place (merged), every other present member is replaced whole.
 * Release everything with jd_free.
 */

#define JD_MAX_ELEMS 10000

enum jd_type {
	JD_STR,      /* char * (xstrdup'ed); JSON string */
	JD_BOOL,     /* bool; JSON true/false */
	JD_U64,      /* uint64_t; JSON non-negative integer (numbers only) */
	JD_I64,      /* int64_t; JSON integer */
	JD_DURATION, /* int64_t ns; Go duration string or integer number (ns) */
	JD_BYTES,    /* struct jd_bytes; standard base64 string with padding */
	JD_STRLIST,  /* struct jd_strlist; array of strings */
	JD_STRMAP,   /* struct jd_strmap; object of string values (Meta) */
	JD_OBJ,      /* nested struct decoded with .sub, embedded at .off */
	JD_OBJLIST,  /* struct jd_list; array of objects, each decoded with
	              * .sub into an element of .elem_size bytes */
	JD_RAW,      /* yajl_val borrowed from the tree, for the caller to
	              * interpret; only usable with jd_decode (jd_decode_text
	              * frees its tree before returning) */
};

/* JD_BYTES: set is true when the key was present, even as "" (then n is 0
 * and p points at a 1-byte allocation). */
struct jd_bytes {
	uint8_t *p;
	size_t n;
	bool set;
};

/* JD_STRLIST: set is true when the key was present, even as []. */
struct jd_strlist {
	char **v;
	size_t n;
	bool set;
};

/* JD_STRMAP: n pairs k[i] -> v[i], in input order, keys unique (for a
 * repeated key the last value wins, at that key's last position). */
struct jd_strmap {
	char **k, **v;
	size_t n;
};

/* JD_OBJLIST: n elements of the field's elem_size bytes at v; set is true
 * when the key was present, even as []. */
struct jd_list {
	void *v;
	size_t n;
	bool set;
};

struct jd_field {
	const char *name;	/* canonical Consul name, e.g. "LockDelay" */
	const char *alias;	/* snake_case alias or NULL, e.g. "lock_delay" */
	enum jd_type type;
	size_t off;		/* offsetof in the target struct */
	const struct jd_field *sub; /* JD_OBJ / JD_OBJLIST: NULL-name-terminated */
	size_t elem_size;	/* JD_OBJLIST */
	size_t present_off;	/* if nonzero: offsetof a bool set to true when
				 * the key is present (non-null) */
};
/* A table ends with an entry whose name is NULL. */

/* jd_decode - decode object obj into out with the table fields.  obj must
 * be a JSON object, else "Request decode failed: expected object, got
 * array".  Returns 0, or -EINVAL with the whole message in eb.  On error
 * whatever was decoded so far is still owned by out: call jd_free. */
int jd_decode(yajl_val obj, const struct jd_field *fields, void *out,
    struct errbuf *eb);

/* jd_decode_text - json_parse p[0..n) and jd_decode it.  An empty or
 * whitespace-only body is an empty object.  A parse error gives -EINVAL (or
 * -EMSGSIZE above JSON_MAX_INPUT) and "Request decode failed: <json_parse's
 * message>".  JD_RAW fields are not usable here (the tree is freed on
 * return): they are left untouched. */
int jd_decode_text(const char *p, size_t n, const struct jd_field *fields,
    void *out, struct errbuf *eb);

/* jd_decode_list - decode array arr (e.g. a /v1/txn body) into list, each
 * element an object decoded with fields into elem_size bytes.  Errors read
 * "Request decode failed: [1].KV.Verb: expected string, got number" and
 * "Request decode failed: expected array, got object".  list is replaced
 * (freed first); on error free it with jd_free_list. */
int jd_decode_list(yajl_val arr, const struct jd_field *fields,
    size_t elem_size, struct jd_list *list, struct errbuf *eb);

/* jd_free - free every owned member of out recursively; safe on a zeroed
 * or partly decoded struct.  Leaves pointers NULL, counts 0 and set flags
 * false; other members (numbers, present flags) are left as they are. */
void jd_free(const struct jd_field *fields, void *out);

/* jd_free_list - jd_free each element of list, then the list itself. */
void jd_free_list(const struct jd_field *fields, size_t elem_size,
    struct jd_list *list);

/* jd_duration_parse - Go time.ParseDuration: "10s", "1m30s", "1.5h",
 * "-100ms", "+72h", "0", units ns us µs μs ms s m h, decimals, optional
 * sign.  Returns 0 and nanoseconds, -EINVAL on bad syntax (also "" and
 * NULL) or -ERANGE when the value does not fit an int64. */
int jd_duration_parse(const char *s, int64_t *ns);

/* jd_base64_decode - standard base64 with padding, as Go's
 * base64.StdEncoding: '\r' and '\n' are skipped, anything else outside the
 * alphabet, a missing or misplaced '=' is -EINVAL.  On success *out is a new
 * buffer (free with free(); never NULL, even for empty input) of *outlen
 * bytes; on error *out is NULL and *outlen 0. */
int jd_base64_decode(const char *s, size_t n, uint8_t **out, size_t *outlen);

/* jd_base64_encode - standard base64 with padding of p[0..n); returns a
 * new NUL-terminated string (free with free()). */
char *jd_base64_encode(const void *p, size_t n);

#endif
