/* jdec.c - table-driven JSON request decoder with Consul's decoding rules. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "jdec.h"
#include "json.h"
#include "xmalloc.h"

#define CLIP_LEN 40 /* bytes of input quoted in an error message */

struct jctx {
	struct errbuf *eb;
	bool no_raw;		/* jd_decode_text: skip JD_RAW fields */
	char path[ERRBUF_LEN];	/* "Checks[1].Name", for errors */
	size_t plen;
};

static int decode_obj(struct jctx *, const struct jd_field *, yajl_val,
    char *);
static void free_list(const struct jd_field *, size_t, struct jd_list *);

/* --- errors and paths ----------------------------------------------------- */

static int fail(struct jctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
fail(struct jctx *c, const char *fmt, ...)
{
	char msg[ERRBUF_LEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (c->plen == 0)
		return errbuf_set(c->eb, -EINVAL, "Request decode failed: %s",
		    msg);
	return errbuf_set(c->eb, -EINVAL, "Request decode failed: %s: %s",
	    c->path, msg);
}

/* path_push - append a formatted segment (control bytes shown as '?');
 * returns the length to restore with path_pop. */
static size_t path_push(struct jctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static size_t
path_push(struct jctx *c, const char *fmt, ...)
{
	size_t old = c->plen, i;
	va_list ap;
	int r;

	if (old >= sizeof(c->path) - 1)
		return old;
	va_start(ap, fmt);
	r = vsnprintf(c->path + old, sizeof(c->path) - old, fmt, ap);
	va_end(ap);
	if (r < 0) {
		c->path[old] = '\0';
		return old;
	}
	c->plen = old + (size_t)r;
	if (c->plen > sizeof(c->path) - 1)
		c->plen = sizeof(c->path) - 1;
	for (i = old; i < c->plen; i++)
		if ((unsigned char)c->path[i] < 0x20 || c->path[i] == 0x7f)
			c->path[i] = '?';
	return old;
}

static void
path_pop(struct jctx *c, size_t len)
{
	c->plen = len;
	c->path[len] = '\0';
}

/* clip - s cut to CLIP_LEN bytes ("..." marks a cut), control bytes as
 * '?', for quoting input in a message. */
static const char *
clip(char *dst, size_t cap, const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0' && i < CLIP_LEN && i + 4 < cap; i++)
		dst[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' :
		    s[i];
	if (s[i] != '\0' && i + 4 <= cap) {
		memcpy(dst + i, "...", 3);
		i += 3;
	}
	dst[i] = '\0';
	return dst;
}

/* tname - the JSON type of v for messages. */
static const char *
tname(yajl_val v)
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
	case yajl_t_false:
		return "boolean";
	case yajl_t_null:
	case yajl_t_any:
	default:
		return "null";
	}
}

static int
expect(struct jctx *c, const char *what, yajl_val v)
{
	return fail(c, "expected %s, got %s", what, tname(v));
}

/* --- scalars -------------------------------------------------------------- */

static bool
is_null(yajl_val v)
{
	return v == NULL || v->type == yajl_t_null;
}

/* num_text - the literal of number v (yajl keeps it), or NULL. */
static const char *
num_text(yajl_val v)
{
	if (!YAJL_IS_NUMBER(v) || v->u.number.r == NULL)
		return NULL;
	return v->u.number.r;
}

/* parse_uint - JSON integer literal digits (no sign, fraction or exponent)
 * into *out: 0, -EINVAL (not such a literal) or -ERANGE (above lim). */
static int
parse_uint(const char *s, uint64_t lim, uint64_t *out)
{
	uint64_t v = 0;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	for (; *s >= '0' && *s <= '9'; s++) {
		unsigned d = (unsigned)(*s - '0');

		if (v > (lim - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	if (*s != '\0')
		return -EINVAL;
	*out = v;
	return 0;
}

static int
parse_i64(const char *s, int64_t *out)
{
	uint64_t u;
	int rc;

	if (*s == '-') {
		rc = parse_uint(s + 1, (uint64_t)INT64_MAX + 1, &u);
		if (rc == 0)
			*out = u == (uint64_t)INT64_MAX + 1 ? INT64_MIN :
			    -(int64_t)u;
		return rc;
	}
	rc = parse_uint(s, INT64_MAX, &u);
	if (rc == 0)
		*out = (int64_t)u;
	return rc;
}

/* bad_number - the error for number literal s that parse_* refused. */
static int
bad_number(struct jctx *c, const char *what, const char *s, int rc)
{
	char q[CLIP_LEN + 4];

	return fail(c, "expected %s, got number %s%s", what,
	    clip(q, sizeof(q), s), rc == -ERANGE ? " (out of range)" : "");
}

static int
dec_u64(struct jctx *c, yajl_val v, uint64_t *m)
{
	const char *s = num_text(v);
	int rc;

	if (s == NULL)
		return expect(c, "unsigned integer", v);
	if ((rc = parse_uint(s, UINT64_MAX, m)) < 0)
		return bad_number(c, "unsigned integer", s, rc);
	return 0;
}

static int
dec_i64(struct jctx *c, yajl_val v, int64_t *m)
{
	const char *s = num_text(v);
	int rc;

	if (s == NULL)
		return expect(c, "integer", v);
	if ((rc = parse_i64(s, m)) < 0)
		return bad_number(c, "integer", s, rc);
	return 0;
}

static int
dec_duration(struct jctx *c, yajl_val v, int64_t *m)
{
	char q[CLIP_LEN + 4];
	const char *s;
	int rc;

	if (YAJL_IS_STRING(v)) {
		rc = jd_duration_parse(v->u.string, m);
		if (rc == -ERANGE)
			return fail(c, "duration \"%s\" out of range",
			    clip(q, sizeof(q), v->u.string));
		if (rc < 0)
			return fail(c, "invalid duration \"%s\"",
			    clip(q, sizeof(q), v->u.string));
		return 0;
	}
	if ((s = num_text(v)) == NULL)
		return expect(c, "duration", v);
	if ((rc = parse_i64(s, m)) < 0)
		return bad_number(c, "duration", s, rc);
	return 0;
}

static int
dec_bytes(struct jctx *c, yajl_val v, struct jd_bytes *m)
{
	uint8_t *p;
	size_t n;

	if (!YAJL_IS_STRING(v))
		return expect(c, "base64 string", v);
	if (jd_base64_decode(v->u.string, strlen(v->u.string), &p, &n) < 0)
		return fail(c, "invalid base64 data");
	free(m->p);
	m->p = p;
	m->n = n;
	m->set = true;
	return 0;
}

/* --- containers ----------------------------------------------------------- */

static void
free_strlist(struct jd_strlist *l)
{
	size_t i;

	for (i = 0; i < l->n && l->v != NULL; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
	l->set = false;
}

static void
free_strmap(struct jd_strmap *m)
{
	size_t i;

	for (i = 0; i < m->n; i++) {
		if (m->k != NULL)
			free(m->k[i]);
		if (m->v != NULL)
			free(m->v[i]);
	}
	free(m->k);
	free(m->v);
	m->k = NULL;
	m->v = NULL;
	m->n = 0;
}

static int
too_many(struct jctx *c, const char *what, size_t n)
{
	return fail(c, "%s of %zu elements exceeds the limit of %d", what, n,
	    JD_MAX_ELEMS);
}

static int
dec_strlist(struct jctx *c, yajl_val v, struct jd_strlist *l)
{
	size_t i, n;
	yajl_val e;

	if (!YAJL_IS_ARRAY(v))
		return expect(c, "array", v);
	n = v->u.array.len;
	if (n > JD_MAX_ELEMS)
		return too_many(c, "array", n);
	free_strlist(l);
	if (n > 0) {
		l->v = xcalloc(n, sizeof(*l->v));
		l->n = n;
	}
	for (i = 0; i < n; i++) {
		e = v->u.array.values[i];
		if (is_null(e)) {
			l->v[i] = xstrdup(""); /* Go: the zero value */
			continue;
		}
		if (!YAJL_IS_STRING(e)) {
			path_push(c, "[%zu]", i); /* not popped: we stop */
			return expect(c, "string", e);
		}
		l->v[i] = xstrdup(e->u.string);
	}
	l->set = true;
	return 0;
}

struct kent {
	const char *k;
	size_t i;
};

static int
kent_cmp(const void *a, const void *b)
{
	const struct kent *x = a, *y = b;
	int r = strcmp(x->k, y->k);

	if (r != 0)
		return r;
	return x->i < y->i ? -1 : x->i > y->i;
}

static int
dec_strmap(struct jctx *c, yajl_val v, struct jd_strmap *m)
{
	struct kent *ks;
	bool *keep;
	size_t i, n, kept, j;
	yajl_val e;
	int rc = 0;

	if (!YAJL_IS_OBJECT(v))
		return expect(c, "object", v);
	n = v->u.object.len;
	if (n > JD_MAX_ELEMS)
		return too_many(c, "object", n);
	free_strmap(m);
	if (n == 0)
		return 0;
	/* a repeated key: the last value wins, as in a Go map */
	ks = xcalloc(n, sizeof(*ks));
	keep = xcalloc(n, sizeof(*keep));
	for (i = 0; i < n; i++) {
		ks[i].k = v->u.object.keys[i];
		ks[i].i = i;
	}
	qsort(ks, n, sizeof(*ks), kent_cmp);
	kept = 0;
	for (i = 0; i < n; i++) {
		if (i + 1 < n && strcmp(ks[i].k, ks[i + 1].k) == 0)
			continue;
		keep[ks[i].i] = true;
		kept++;
	}
	free(ks);
	m->k = xcalloc(kept, sizeof(*m->k));
	m->v = xcalloc(kept, sizeof(*m->v));
	m->n = kept;
	for (i = 0, j = 0; i < n; i++) {
		if (!keep[i])
			continue;
		e = v->u.object.values[i];
		if (!is_null(e) && !YAJL_IS_STRING(e)) {
			path_push(c, ".%s", v->u.object.keys[i]);
			rc = expect(c, "string", e);
			break;
		}
		m->k[j] = xstrdup(v->u.object.keys[i]);
		m->v[j] = xstrdup(is_null(e) ? "" : e->u.string);
		j++;
	}
	free(keep);
	return rc;
}

/* dec_list - array v of objects decoded with sub into l (replaced). */
static int
dec_list(struct jctx *c, const struct jd_field *sub, size_t elem_size,
    yajl_val v, struct jd_list *l)
{
	size_t i, n, old;
	yajl_val e;
	int rc;

	if (!YAJL_IS_ARRAY(v))
		return expect(c, "array", v);
	n = v->u.array.len;
	if (n > JD_MAX_ELEMS)
		return too_many(c, "array", n);
	free_list(sub, elem_size, l);
	if (n > 0) {
		l->v = xcalloc(n, elem_size);
		l->n = n;
	}
	for (i = 0; i < n; i++) {
		e = v->u.array.values[i];
		if (is_null(e))
			continue; /* Go: the zero value */
		old = path_push(c, "[%zu]", i);
		if (!YAJL_IS_OBJECT(e))
			return expect(c, "object", e);
		rc = decode_obj(c, sub, e, (char *)l->v + i * elem_size);
		if (rc < 0)
			return rc;
		path_pop(c, old);
	}
	l->set = true;
	return 0;
}

/* --- fields --------------------------------------------------------------- */

/* ci_eq - ASCII case-insensitive equality, independent of the locale. */
static bool
ci_eq(const char *a, const char *b)
{
	unsigned char x, y;

	for (;; a++, b++) {
		x = (unsigned char)*a;
		y = (unsigned char)*b;
		if (x >= 'A' && x <= 'Z')
			x = (unsigned char)(x - 'A' + 'a');
		if (y >= 'A' && y <= 'Z')
			y = (unsigned char)(y - 'A' + 'a');
		if (x != y)
			return false;
		if (x == '\0')
			return true;
	}
}

/* find_key - the value obj holds for f: the last non-null key matching its
 * name, else the last non-null key matching its alias, else NULL. */
static yajl_val
find_key(yajl_val obj, const struct jd_field *f)
{
	yajl_val byname = NULL, byalias = NULL, v;
	size_t i;

	for (i = 0; i < obj->u.object.len; i++) {
		v = obj->u.object.values[i];
		if (is_null(v))
			continue;
		if (ci_eq(obj->u.object.keys[i], f->name))
			byname = v;
		else if (f->alias != NULL &&
		    ci_eq(obj->u.object.keys[i], f->alias))
			byalias = v;
	}
	return byname != NULL ? byname : byalias;
}

static int
decode_field(struct jctx *c, const struct jd_field *f, yajl_val v,
    char *base)
{
	void *m = base + f->off;
	int rc = 0;

	switch (f->type) {
	case JD_STR:
		if (!YAJL_IS_STRING(v))
			return expect(c, "string", v);
		free(*(char **)m);
		*(char **)m = xstrdup(v->u.string);
		break;
	case JD_BOOL:
		if (!YAJL_IS_TRUE(v) && !YAJL_IS_FALSE(v))
			return expect(c, "boolean", v);
		*(bool *)m = YAJL_IS_TRUE(v);
		break;
	case JD_U64:
		rc = dec_u64(c, v, m);
		break;
	case JD_I64:
		rc = dec_i64(c, v, m);
		break;
	case JD_DURATION:
		rc = dec_duration(c, v, m);
		break;
	case JD_BYTES:
		rc = dec_bytes(c, v, m);
		break;
	case JD_STRLIST:
		rc = dec_strlist(c, v, m);
		break;
	case JD_STRMAP:
		rc = dec_strmap(c, v, m);
		break;
	case JD_OBJ:
		if (!YAJL_IS_OBJECT(v))
			return expect(c, "object", v);
		rc = decode_obj(c, f->sub, v, m);
		break;
	case JD_OBJLIST:
		rc = dec_list(c, f->sub, f->elem_size, v, m);
		break;
	case JD_RAW:
		*(yajl_val *)m = v;
		break;
	default:
		return fail(c, "unsupported field type %d", (int)f->type);
	}
	if (rc < 0)
		return rc;
	if (f->present_off != 0)
		*(bool *)(base + f->present_off) = true;
	return 0;
}

static int
decode_obj(struct jctx *c, const struct jd_field *fields, yajl_val obj,
    char *base)
{
	const struct jd_field *f;
	size_t old;
	yajl_val v;
	int rc;

	if (fields == NULL)
		return 0;
	for (f = fields; f->name != NULL; f++) {
		if (f->type == JD_RAW && c->no_raw)
			continue;
		if ((v = find_key(obj, f)) == NULL)
			continue;
		old = path_push(c, c->plen == 0 ? "%s" : ".%s", f->name);
		if ((rc = decode_field(c, f, v, base)) < 0)
			return rc;
		path_pop(c, old);
	}
	return 0;
}

static void
ctx_init(struct jctx *c, struct errbuf *eb, bool no_raw)
{
	c->eb = eb;
	c->no_raw = no_raw;
	c->path[0] = '\0';
	c->plen = 0;
}

static int
decode_top(yajl_val obj, const struct jd_field *fields, void *out,
    struct errbuf *eb, bool no_raw)
{
	struct jctx c;

	ctx_init(&c, eb, no_raw);
	if (!YAJL_IS_OBJECT(obj))
		return expect(&c, "object", obj);
	return decode_obj(&c, fields, obj, out);
}

int
jd_decode(yajl_val obj, const struct jd_field *fields, void *out,
    struct errbuf *eb)
{
	return decode_top(obj, fields, out, eb, false);
}

int
jd_decode_text(const char *p, size_t n, const struct jd_field *fields,
    void *out, struct errbuf *eb)
{
	struct yajl_val_s empty;
	struct errbuf peb;
	yajl_val tree;
	size_t i;
	int rc;

	/* an empty body is {}; an oversized one is json_parse's to refuse */
	for (i = 0; i < n && n <= JSON_MAX_INPUT; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\n' &&
		    p[i] != '\r')
			break;
	if (i == n) {
		memset(&empty, 0, sizeof(empty));
		empty.type = yajl_t_object;
		return decode_top(&empty, fields, out, eb, true);
	}
	peb.msg[0] = '\0';
	if ((tree = json_parse(p, n, &peb)) == NULL)
		return errbuf_set(eb, n > JSON_MAX_INPUT ? -EMSGSIZE : -EINVAL,
		    "Request decode failed: %s", peb.msg);
	rc = decode_top(tree, fields, out, eb, true);
	yajl_tree_free(tree);
	return rc;
}

int
jd_decode_list(yajl_val arr, const struct jd_field *fields, size_t elem_size,
    struct jd_list *list, struct errbuf *eb)
{
	struct jctx c;

	ctx_init(&c, eb, false);
	free_list(fields, elem_size, list);
	return dec_list(&c, fields, elem_size, arr, list);
}

/* --- freeing -------------------------------------------------------------- */

static void
free_list(const struct jd_field *sub, size_t elem_size, struct jd_list *l)
{
	size_t i;

	if (l->v != NULL)
		for (i = 0; i < l->n; i++)
			jd_free(sub, (char *)l->v + i * elem_size);
	free(l->v);
	l->v = NULL;
	l->n = 0;
	l->set = false;
}

void
jd_free(const struct jd_field *fields, void *out)
{
	const struct jd_field *f;
	struct jd_bytes *b;
	void *m;

	if (fields == NULL || out == NULL)
		return;
	for (f = fields; f->name != NULL; f++) {
		m = (char *)out + f->off;
		switch (f->type) {
		case JD_STR:
			free(*(char **)m);
			*(char **)m = NULL;
			break;
		case JD_BYTES:
			b = m;
			free(b->p);
			b->p = NULL;
			b->n = 0;
			b->set = false;
			break;
		case JD_STRLIST:
			free_strlist(m);
			break;
		case JD_STRMAP:
			free_strmap(m);
			break;
		case JD_OBJ:
			jd_free(f->sub, m);
			break;
		case JD_OBJLIST:
			free_list(f->sub, f->elem_size, m);
			break;
		case JD_RAW:
			*(yajl_val *)m = NULL;
			break;
		case JD_BOOL:
		case JD_U64:
		case JD_I64:
		case JD_DURATION:
		default:
			break;
		}
	}
}

void
jd_free_list(const struct jd_field *fields, size_t elem_size,
    struct jd_list *list)
{
	if (list != NULL)
		free_list(fields, elem_size, list);
}

/* --- durations ------------------------------------------------------------ */

/*
 * jd_duration_parse follows Go's time.ParseDuration step for step, float
 * arithmetic for fractions included, so results match to the nanosecond:
 * [-+]?([0-9]*(\.[0-9]*)?[a-z]+)+, or "0" alone.
 */
int
jd_duration_parse(const char *s, int64_t *ns)
{
	static const struct {
		const char *name;
		uint64_t ns;
	} units[] = {
	    {"ns", 1ULL},
	    {"us", 1000ULL},
	    {"\xc2\xb5s", 1000ULL}, /* U+00B5 micro sign */
	    {"\xce\xbcs", 1000ULL}, /* U+03BC Greek mu */
	    {"ms", 1000000ULL},
	    {"s", 1000000000ULL},
	    {"m", 60ULL * 1000000000ULL},
	    {"h", 3600ULL * 1000000000ULL},
	};
	const uint64_t top = 1ULL << 63;
	uint64_t d = 0;
	bool neg = false;

	if (s == NULL || *s == '\0')
		return -EINVAL;
	if (*s == '-' || *s == '+')
		neg = *s++ == '-';
	if (strcmp(s, "0") == 0) {
		*ns = 0;
		return 0;
	}
	if (*s == '\0')
		return -EINVAL;
	while (*s != '\0') {
		uint64_t v = 0, f = 0, unit = 0;
		double scale = 1;
		bool pre = false, post = false, over = false;
		const char *u;
		size_t ulen, i;

		if (*s != '.' && (*s < '0' || *s > '9'))
			return -EINVAL;
		for (; *s >= '0' && *s <= '9'; s++) {
			if (v > top / 10)
				return -ERANGE;
			v = v * 10 + (uint64_t)(*s - '0');
			if (v > top)
				return -ERANGE;
			pre = true;
		}
		if (*s == '.') {
			/* fraction digits past uint64 precision are dropped */
			for (s++; *s >= '0' && *s <= '9'; s++) {
				uint64_t y;

				post = true;
				if (over)
					continue;
				if (f > (top - 1) / 10) {
					over = true;
					continue;
				}
				y = f * 10 + (uint64_t)(*s - '0');
				if (y > top) {
					over = true;
					continue;
				}
				f = y;
				scale *= 10;
			}
		}
		if (!pre && !post)
			return -EINVAL; /* ".s" */
		u = s;
		while (*s != '\0' && *s != '.' && (*s < '0' || *s > '9'))
			s++;
		ulen = (size_t)(s - u);
		if (ulen == 0)
			return -EINVAL; /* missing unit */
		for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
			if (strlen(units[i].name) == ulen &&
			    memcmp(units[i].name, u, ulen) == 0)
				unit = units[i].ns;
		if (unit == 0)
			return -EINVAL; /* unknown unit */
		if (v > top / unit)
			return -ERANGE;
		v *= unit;
		if (f > 0) {
			/* f < scale, so the addend is below unit (<= 3.6e12) */
			v += (uint64_t)((double)f * ((double)unit / scale));
			if (v > top)
				return -ERANGE;
		}
		d += v;
		if (d > top)
			return -ERANGE;
	}
	if (neg)
		*ns = d == top ? INT64_MIN : -(int64_t)d;
	else if (d > (uint64_t)INT64_MAX)
		return -ERANGE;
	else
		*ns = (int64_t)d;
	return 0;
}

/* --- base64 --------------------------------------------------------------- */

/* characters per EVP_DecodeBlock call (a multiple of 4); the encoder takes
 * B64_CHUNK / 4 * 3 bytes (a multiple of 3) per EVP_EncodeBlock call */
#define B64_CHUNK (1u << 20)

static bool
b64_char(unsigned char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
	    (ch >= '0' && ch <= '9') || ch == '+' || ch == '/';
}

int
jd_base64_decode(const char *s, size_t n, uint8_t **out, size_t *outlen)
{
	unsigned char *in, *dec = NULL;
	size_t i, m = 0, pad = 0, off, dlen = 0, chunk;
	int r;

	*out = NULL;
	*outlen = 0;
	if (s == NULL && n > 0)
		return -EINVAL;
	/*
	 * EVP_DecodeBlock takes '=' anywhere as zero bits and trims
	 * whitespace at both ends, so check the input strictly first: Go's
	 * StdEncoding skips only '\r' and '\n' and wants padding at the end.
	 */
	in = xmalloc(n + 1);
	for (i = 0; i < n; i++)
		if (s[i] != '\r' && s[i] != '\n')
			in[m++] = (unsigned char)s[i];
	if (m % 4 != 0)
		goto bad;
	if (m > 0 && in[m - 1] == '=')
		pad = in[m - 2] == '=' ? 2 : 1;
	for (i = 0; i < m - pad; i++)
		if (!b64_char(in[i]))
			goto bad;
	dec = xmalloc(m / 4 * 3 + 1);
	for (off = 0; off < m; off += chunk) {
		chunk = m - off < B64_CHUNK ? m - off : B64_CHUNK;
		r = EVP_DecodeBlock(dec + dlen, in + off, (int)chunk);
		if (r < 0 || (size_t)r != chunk / 4 * 3)
			goto bad;
		dlen += (size_t)r;
	}
	free(in);
	/* EVP_DecodeBlock counts the bytes the padding stands for too */
	*out = dec;
	*outlen = dlen - pad;
	return 0;
bad:
	free(in);
	free(dec);
	return -EINVAL;
}

char *
jd_base64_encode(const void *p, size_t n)
{
	const unsigned char *in = p;
	size_t off, olen = 0, chunk;
	char *s;

	if (n / 3 >= ((size_t)-1) / 4 - 1)
		abort(); /* cannot be allocated anyway */
	s = xmalloc((n + 2) / 3 * 4 + 1);
	s[0] = '\0';
	/* chunks of a multiple of 3 bytes, so no padding but at the end */
	for (off = 0; off < n; off += chunk) {
		chunk = n - off < B64_CHUNK / 4 * 3 ? n - off :
		    B64_CHUNK / 4 * 3;
		olen += (size_t)EVP_EncodeBlock((unsigned char *)s + olen,
		    in + off, (int)chunk);
	}
	s[olen] = '\0';
	return s;
}
