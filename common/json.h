/* json.h - thin helpers over yajl: parse to a tree, look up keys, and a
 * generator with a sticky error.  JSON exists only at the HTTP edge and in
 * config files. */
#ifndef CAIRN_JSON_H
#define CAIRN_JSON_H

#include <stddef.h>
#include <stdbool.h>
#include <yajl/yajl_tree.h>
#include <yajl/yajl_gen.h>

#include "err.h"

#define JSON_MAX_INPUT (16u * 1024 * 1024)
#define JSON_MAX_DEPTH 100 /* nested arrays/objects; yajl_gen allows < 128 */

/* json_parse - parse p[0..n) (need not be NUL-terminated; copied) into a
 * tree; free with yajl_tree_free.  Returns NULL and fills eb with
 * "parse error: line L, column C: <yajl's reason>" on failure, or on input
 * over JSON_MAX_INPUT bytes, nesting deeper than JSON_MAX_DEPTH or a NUL
 * byte.  C-style comments are accepted (yajl_tree_parse allows them). */
yajl_val json_parse(const char *p, size_t n, struct errbuf *eb);

/* json_obj_get - value of key in object o (exact match), or NULL.
 * json_obj_get_ci - the same, ASCII case-insensitive (Consul clients send
 * "name" for "Name"). Borrowed: valid as long as the tree. */
yajl_val json_obj_get(yajl_val o, const char *key);
yajl_val json_obj_get_ci(yajl_val o, const char *key);

/* json_type_name - "string", "number", "object", "array", "true",
 * "false", "null" for error messages. */
const char *json_type_name(yajl_val v);

/* json_to_text - serialize a tree back to compact JSON; returns a new
 * string (free with free()). */
char *json_to_text(yajl_val v);

/* Generator with a sticky first error: call freely, check once. */
struct jw {
	yajl_gen g;
	int err; /* first yajl_gen_status != ok, else 0 */
};

void jw_init(struct jw *w, bool pretty);
void jw_free(struct jw *w);
void jw_obj_open(struct jw *w);
void jw_obj_close(struct jw *w);
void jw_arr_open(struct jw *w);
void jw_arr_close(struct jw *w);
void jw_key(struct jw *w, const char *k);
void jw_keyn(struct jw *w, const char *k, size_t n);
void jw_str(struct jw *w, const char *s); /* NULL -> null */
void jw_strn(struct jw *w, const char *s, size_t n);
void jw_int(struct jw *w, long long v);
void jw_uint(struct jw *w, unsigned long long v);
void jw_double(struct jw *w, double v); /* non-finite -> 0 */
void jw_bool(struct jw *w, bool v);
void jw_null(struct jw *w);
/* jw_finish - returns a new NUL-terminated string (free with free()) and
 * its length (len may be NULL), or NULL if any call failed.  It releases
 * the generator either way; a later jw_free is a harmless no-op. */
char *jw_finish(struct jw *w, size_t *len);

#endif
