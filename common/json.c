/* json.c - yajl helpers: bounded parsing, key lookup, sticky-error writer. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yajl/yajl_parse.h>

#include "json.h"
#include "xmalloc.h"

/* line_col - 1-based line and column of byte offset off in p[0..n). */
static void
line_col(const char *p, size_t n, size_t off, size_t *line, size_t *col)
{
	size_t i;

	*line = 1;
	*col = 1;
	if (off > n)
		off = n;
	for (i = 0; i < off; i++) {
		if (p[i] == '\n') {
			(*line)++;
			*col = 1;
		} else
			(*col)++;
	}
}

/*
 * scan_depth - lexical pre-scan: the offset of the first byte where
 * container nesting exceeds JSON_MAX_DEPTH, or of the first NUL byte, or n
 * when neither occurs.  Strings and comments are skipped the way yajl's
 * lexer does, so brackets inside them do not count.  *nul tells which.
 */
static size_t
scan_depth(const char *p, size_t n, int *nul)
{
	size_t i, depth = 0;

	*nul = 0;
	for (i = 0; i < n; i++) {
		switch (p[i]) {
		case '\0':
			*nul = 1;
			return i;
		case '[':
		case '{':
			if (++depth > JSON_MAX_DEPTH)
				return i;
			break;
		case ']':
		case '}':
			if (depth > 0)
				depth--;
			break;
		case '"':
			for (i++; i < n && p[i] != '"'; i++) {
				if (p[i] == '\0') {
					*nul = 1;
					return i;
				}
				if (p[i] == '\\' && i + 1 < n)
					i++;
			}
			break;
		case '/':
			if (i + 1 < n && p[i + 1] == '/') {
				while (i < n && p[i] != '\n') {
					if (p[i] == '\0') {
						*nul = 1;
						return i;
					}
					i++;
				}
			} else if (i + 1 < n && p[i + 1] == '*') {
				for (i += 2; i < n; i++) {
					if (p[i] == '\0') {
						*nul = 1;
						return i;
					}
					if (p[i] == '*' && i + 1 < n &&
					    p[i + 1] == '/') {
						i++;
						break;
					}
				}
			}
			break;
		default:
			break;
		}
	}
	return n;
}

/* parse_error - describe why yajl rejects buf[0..n) (NUL-terminated), with
 * the position, by re-running a callback-less parse. */
static void
parse_error(const char *buf, size_t n, const char *fallback,
    struct errbuf *eb)
{
	const unsigned char *u = (const unsigned char *)buf;
	yajl_handle h;
	yajl_status st;
	unsigned char *ystr;
	const char *reason;
	char why[160];
	size_t off, line, col, len;

	h = yajl_alloc(NULL, NULL, NULL);
	if (h == NULL) {
		errbuf_set(eb, -EINVAL, "parse error: %s", fallback);
		return;
	}
	yajl_config(h, yajl_allow_comments, 1);
	st = yajl_parse(h, u, n);
	if (st == yajl_status_ok) {
		off = n;
		st = yajl_complete_parse(h);
	} else {
		off = yajl_get_bytes_consumed(h);
		if (off > 0)
			off--;
	}
	if (st == yajl_status_ok) {
		/* cannot happen; keep the tree parser's own words */
		yajl_free(h);
		errbuf_set(eb, -EINVAL, "parse error: %s", fallback);
		return;
	}
	ystr = yajl_get_error(h, 0, u, n);
	reason = ystr != NULL ? (const char *)ystr : "invalid JSON";
	/* "parse error: x\n" / "lexical error: x.\n" -> "x" */
	if (strncmp(reason, "parse error: ", 13) == 0)
		reason += 13;
	else if (strncmp(reason, "lexical error: ", 15) == 0)
		reason += 15;
	snprintf(why, sizeof(why), "%s", reason);
	len = strlen(why);
	while (len > 0 && (why[len - 1] == '\n' || why[len - 1] == '.' ||
	    why[len - 1] == ' '))
		why[--len] = '\0';
	if (ystr != NULL)
		yajl_free_error(h, ystr);
	yajl_free(h);
	line_col(buf, n, off, &line, &col);
	errbuf_set(eb, -EINVAL, "parse error: line %zu, column %zu: %s", line,
	    col, why);
}

yajl_val
json_parse(const char *p, size_t n, struct errbuf *eb)
{
	char ybuf[512], *buf, *nl;
	size_t bad, line, col;
	yajl_val v;
	int nul;

	if (n > JSON_MAX_INPUT) {
		errbuf_set(eb, -EMSGSIZE,
		    "parse error: input of %zu bytes exceeds %u", n,
		    JSON_MAX_INPUT);
		return NULL;
	}
	bad = scan_depth(p, n, &nul);
	if (bad < n) {
		line_col(p, n, bad, &line, &col);
		errbuf_set(eb, -EINVAL, "parse error: line %zu, column %zu: %s",
		    line, col,
		    nul ? "NUL byte in input" : "nesting too deep");
		return NULL;
	}
	buf = xmalloc(n + 1);
	if (n > 0)
		memcpy(buf, p, n);
	buf[n] = '\0';
	ybuf[0] = '\0';
	v = yajl_tree_parse(buf, ybuf, sizeof(ybuf));
	if (v == NULL) {
		ybuf[sizeof(ybuf) - 1] = '\0';
		if ((nl = strchr(ybuf, '\n')) != NULL)
			*nl = '\0';
		parse_error(buf, n, ybuf[0] != '\0' ? ybuf : "invalid JSON",
		    eb);
	}
	free(buf);
	return v;
}

yajl_val
json_obj_get(yajl_val o, const char *key)
{
	yajl_val found = NULL;
	size_t i;

	if (!YAJL_IS_OBJECT(o))
		return NULL;
	/* duplicate keys: the last one wins, as in Go's encoding/json */
	for (i = 0; i < o->u.object.len; i++)
		if (strcmp(o->u.object.keys[i], key) == 0)
			found = o->u.object.values[i];
	return found;
}

yajl_val
json_obj_get_ci(yajl_val o, const char *key)
{
	yajl_val found = NULL;
	size_t i;

	if (!YAJL_IS_OBJECT(o))
		return NULL;
	/* an exact match beats a case-insensitive one */
	if ((found = json_obj_get(o, key)) != NULL)
		return found;
	for (i = 0; i < o->u.object.len; i++)
		if (strcasecmp(o->u.object.keys[i], key) == 0)
			found = o->u.object.values[i];
	return found;
}

const char *
json_type_name(yajl_val v)
{
	if (v == NULL)
		return "null";
	switch (v->type) {
	case yajl_t_string:
		return "string";
	case yajl_t_number:
		return "number";
	case yajl_t_object:
		return "object";
	case yajl_t_array:
		return "array";
	case yajl_t_true:
		return "true";
	case yajl_t_false:
		return "false";
	case yajl_t_null:
	case yajl_t_any:
	default:
		return "null";
	}
}

/* gen_value - emit v; numbers keep their original text. */
static yajl_gen_status
gen_value(yajl_gen g, yajl_val v)
{
	yajl_gen_status st;
	const char *s;
	size_t i;

	if (v == NULL)
		return yajl_gen_null(g);
	switch (v->type) {
	case yajl_t_string:
		s = v->u.string != NULL ? v->u.string : "";
		return yajl_gen_string(g, (const unsigned char *)s, strlen(s));
	case yajl_t_number:
		s = v->u.number.r;
		if (s == NULL || *s == '\0')
			return yajl_gen_integer(g, v->u.number.i);
		return yajl_gen_number(g, s, strlen(s));
	case yajl_t_object:
		if ((st = yajl_gen_map_open(g)) != yajl_gen_status_ok)
			return st;
		for (i = 0; i < v->u.object.len; i++) {
			s = v->u.object.keys[i];
			st = yajl_gen_string(g, (const unsigned char *)s,
			    strlen(s));
			if (st != yajl_gen_status_ok)
				return st;
			st = gen_value(g, v->u.object.values[i]);
			if (st != yajl_gen_status_ok)
				return st;
		}
		return yajl_gen_map_close(g);
	case yajl_t_array:
		if ((st = yajl_gen_array_open(g)) != yajl_gen_status_ok)
			return st;
		for (i = 0; i < v->u.array.len; i++) {
			st = gen_value(g, v->u.array.values[i]);
			if (st != yajl_gen_status_ok)
				return st;
		}
		return yajl_gen_array_close(g);
	case yajl_t_true:
		return yajl_gen_bool(g, 1);
	case yajl_t_false:
		return yajl_gen_bool(g, 0);
	case yajl_t_null:
	case yajl_t_any:
	default:
		return yajl_gen_null(g);
	}
}

char *
json_to_text(yajl_val v)
{
	struct jw w;

	jw_init(&w, false);
	if (w.err == 0) {
		yajl_gen_status st = gen_value(w.g, v);

		if (st != yajl_gen_status_ok)
			w.err = (int)st;
	}
	return jw_finish(&w, NULL);
}

/* --- generator ----------------------------------------------------------- */

/* note - remember the first failure; a finished or failed jw stays failed. */
static void
note(struct jw *w, yajl_gen_status st)
{
	if (st != yajl_gen_status_ok && w->err == 0)
		w->err = (int)st;
}

static int
usable(struct jw *w)
{
	if (w->g == NULL) {
		if (w->err == 0)
			w->err = (int)yajl_gen_generation_complete;
		return 0;
	}
	return w->err == 0;
}

void
jw_init(struct jw *w, bool pretty)
{
	w->err = 0;
	w->g = yajl_gen_alloc(NULL);
	if (w->g == NULL) {
		fprintf(stderr, "out of memory allocating a JSON generator\n");
		abort();
	}
	if (pretty) {
		yajl_gen_config(w->g, yajl_gen_beautify, 1);
		yajl_gen_config(w->g, yajl_gen_indent_string, "  ");
	}
}

void
jw_free(struct jw *w)
{
	if (w == NULL)
		return;
	if (w->g != NULL)
		yajl_gen_free(w->g);
	w->g = NULL;
}

void
jw_obj_open(struct jw *w)
{
	if (usable(w))
		note(w, yajl_gen_map_open(w->g));
}

void
jw_obj_close(struct jw *w)
{
	if (usable(w))
		note(w, yajl_gen_map_close(w->g));
}

void
jw_arr_open(struct jw *w)
{
	if (usable(w))
		note(w, yajl_gen_array_open(w->g));
}

void
jw_arr_close(struct jw *w)
{
	if (usable(w))
		note(w, yajl_gen_array_close(w->g));
}

void
jw_key(struct jw *w, const char *k)
{
	jw_strn(w, k != NULL ? k : "", k != NULL ? strlen(k) : 0);
}

void
jw_double(struct jw *w, double v)
{
	char num[40];
	int n;

	if (!usable(w))
		return;
	if (v != v || v > 1e300 || v < -1e300)
		v = 0;
	n = snprintf(num, sizeof(num), "%.17g", v);
	note(w, yajl_gen_number(w->g, num, (size_t)n));
}

void
jw_keyn(struct jw *w, const char *k, size_t n)
{
	jw_strn(w, k, n);
}

void
jw_str(struct jw *w, const char *s)
{
	if (s == NULL)
		jw_null(w);
	else
		jw_strn(w, s, strlen(s));
}

void
jw_strn(struct jw *w, const char *s, size_t n)
{
	if (usable(w))
		note(w, yajl_gen_string(w->g, (const unsigned char *)s, n));
}

void
jw_int(struct jw *w, long long v)
{
	if (usable(w))
		note(w, yajl_gen_integer(w->g, v));
}

void
jw_uint(struct jw *w, unsigned long long v)
{
	char num[32];
	int n;

	if (!usable(w))
		return;
	n = snprintf(num, sizeof(num), "%llu", v);
	note(w, yajl_gen_number(w->g, num, (size_t)n));
}

void
jw_bool(struct jw *w, bool v)
{
	if (usable(w))
		note(w, yajl_gen_bool(w->g, v ? 1 : 0));
}

void
jw_null(struct jw *w)
{
	if (usable(w))
		note(w, yajl_gen_null(w->g));
}

char *
jw_finish(struct jw *w, size_t *len)
{
	const unsigned char *p;
	size_t n;
	char *s = NULL;

	if (len != NULL)
		*len = 0;
	if (w->g != NULL && w->err == 0) {
		note(w, yajl_gen_get_buf(w->g, &p, &n));
		if (w->err == 0) {
			s = xmalloc(n + 1);
			if (n > 0)
				memcpy(s, p, n);
			s[n] = '\0';
			if (len != NULL)
				*len = n;
		}
	}
	jw_free(w);
	return s;
}
