/* fuzz_jdec.c - libFuzzer target: arbitrary bytes as a JSON request body for
 * common/jdec.c (every field type, nested objects and lists, top-level
 * arrays), plus its duration and base64 parsers. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jdec.h"
#include "json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* a session-create-like body, with one field of every type */
struct svc_check {
	char *id;
	struct jd_strlist args;
	int64_t interval;
	bool interval_set;
};

static const struct jd_field svc_check_fields[] = {
    {.name = "ID", .alias = "check_id", .type = JD_STR,
	.off = offsetof(struct svc_check, id)},
    {.name = "Args", .type = JD_STRLIST,
	.off = offsetof(struct svc_check, args)},
    {.name = "Interval", .type = JD_DURATION,
	.off = offsetof(struct svc_check, interval),
	.present_off = offsetof(struct svc_check, interval_set)},
    {.name = NULL},
};

struct svc {
	char *name;
	struct jd_strmap meta;
	struct jd_list checks; /* of struct svc_check */
	uint64_t port;
};

static const struct jd_field svc_fields[] = {
    {.name = "Service", .type = JD_STR, .off = offsetof(struct svc, name)},
    {.name = "Meta", .type = JD_STRMAP, .off = offsetof(struct svc, meta)},
    {.name = "Checks", .type = JD_OBJLIST, .off = offsetof(struct svc, checks),
	.sub = svc_check_fields, .elem_size = sizeof(struct svc_check)},
    {.name = "Port", .type = JD_U64, .off = offsetof(struct svc, port)},
    {.name = NULL},
};

struct sess {
	char *name;
	char *node;
	char *behavior;
	struct jd_bytes value;
	struct jd_strlist checks;
	struct jd_strmap meta;
	struct svc service;
	struct jd_list service_checks; /* of struct svc_check */
	yajl_val raw;
	int64_t lock_delay;
	int64_t ttl;
	uint64_t flags;
	int64_t i;
	bool lock_delay_set;
	bool service_set;
	bool raw_set;
	bool b;
};

#define SESS_COMMON                                                            \
	{.name = "Name", .type = JD_STR, .off = offsetof(struct sess, name)},  \
	{.name = "Node", .type = JD_STR, .off = offsetof(struct sess, node)},  \
	{.name = "Behavior", .type = JD_STR,                                   \
	    .off = offsetof(struct sess, behavior)},                           \
	{.name = "Value", .type = JD_BYTES,                                    \
	    .off = offsetof(struct sess, value)},                              \
	{.name = "Checks", .type = JD_STRLIST,                                 \
	    .off = offsetof(struct sess, checks)},                             \
	{.name = "NodeMeta", .alias = "node_meta", .type = JD_STRMAP,          \
	    .off = offsetof(struct sess, meta)},                               \
	{.name = "Service", .type = JD_OBJ,                                    \
	    .off = offsetof(struct sess, service), .sub = svc_fields,          \
	    .present_off = offsetof(struct sess, service_set)},                \
	{.name = "ServiceChecks", .alias = "service_checks",                   \
	    .type = JD_OBJLIST, .off = offsetof(struct sess, service_checks),  \
	    .sub = svc_check_fields, .elem_size = sizeof(struct svc_check)},   \
	{.name = "LockDelay", .alias = "lock_delay", .type = JD_DURATION,      \
	    .off = offsetof(struct sess, lock_delay),                          \
	    .present_off = offsetof(struct sess, lock_delay_set)},             \
	{.name = "TTL", .type = JD_DURATION,                                   \
	    .off = offsetof(struct sess, ttl)},                                \
	{.name = "Flags", .type = JD_U64, .off = offsetof(struct sess, flags)}, \
	{.name = "I", .type = JD_I64, .off = offsetof(struct sess, i)},        \
	{.name = "B", .type = JD_BOOL, .off = offsetof(struct sess, b)},

static const struct jd_field sess_fields[] = {
    SESS_COMMON
    {.name = NULL},
};

/* for jd_decode only: JD_RAW needs the tree to outlive the call */
static const struct jd_field sess_raw_fields[] = {
    SESS_COMMON
    {.name = "Raw", .type = JD_RAW, .off = offsetof(struct sess, raw),
	.present_off = offsetof(struct sess, raw_set)},
    {.name = NULL},
};

/* a txn-like body: {"Ops": [{"KV": {...}}]} or a top-level [{"KV": ...}] */
struct kvop {
	char *verb;
	char *key;
	char *session;
	struct jd_bytes value;
	uint64_t flags;
	uint64_t index;
};

static const struct jd_field kvop_fields[] = {
    {.name = "Verb", .type = JD_STR, .off = offsetof(struct kvop, verb)},
    {.name = "Key", .type = JD_STR, .off = offsetof(struct kvop, key)},
    {.name = "Session", .type = JD_STR, .off = offsetof(struct kvop, session)},
    {.name = "Value", .type = JD_BYTES, .off = offsetof(struct kvop, value)},
    {.name = "Flags", .type = JD_U64, .off = offsetof(struct kvop, flags)},
    {.name = "Index", .alias = "modify_index", .type = JD_U64,
	.off = offsetof(struct kvop, index)},
    {.name = NULL},
};

struct op {
	struct kvop kv;
	bool kv_set;
};

static const struct jd_field op_fields[] = {
    {.name = "KV", .type = JD_OBJ, .off = offsetof(struct op, kv),
	.sub = kvop_fields, .present_off = offsetof(struct op, kv_set)},
    {.name = NULL},
};

struct txn {
	struct jd_list ops; /* of struct op */
};

static const struct jd_field txn_fields[] = {
    {.name = "Ops", .type = JD_OBJLIST, .off = offsetof(struct txn, ops),
	.sub = op_fields, .elem_size = sizeof(struct op)},
    {.name = NULL},
};

#define CHECK(x)                                                               \
	do {                                                                   \
		if (!(x))                                                      \
			abort();                                               \
	} while (0)

static void
check_error(int rc, const struct errbuf *eb)
{
	CHECK(rc == -EINVAL || rc == -EMSGSIZE);
	CHECK(strncmp(eb->msg, "Request decode failed: ", 23) == 0);
}

/* check_bytes - a decoded value re-encodes to base64 that decodes back. */
static void
check_bytes(const struct jd_bytes *b)
{
	uint8_t *p;
	size_t n;
	char *s;

	if (!b->set)
		return;
	CHECK(b->p != NULL);
	s = jd_base64_encode(b->p, b->n);
	CHECK(jd_base64_decode(s, strlen(s), &p, &n) == 0);
	CHECK(n == b->n && memcmp(p, b->p, n) == 0);
	free(p);
	free(s);
}

static void
check_sess(const struct sess *s)
{
	size_t i;

	check_bytes(&s->value);
	CHECK(s->checks.n == 0 || s->checks.v != NULL);
	for (i = 0; i < s->checks.n; i++)
		CHECK(s->checks.v[i] != NULL);
	for (i = 0; i < s->meta.n; i++)
		CHECK(s->meta.k[i] != NULL && s->meta.v[i] != NULL);
	CHECK(s->checks.n <= JD_MAX_ELEMS && s->meta.n <= JD_MAX_ELEMS);
	CHECK(s->service_checks.n <= JD_MAX_ELEMS);
	CHECK(s->service_set || s->service.name == NULL);
}

static void
check_freed(const struct sess *s)
{
	CHECK(s->name == NULL && s->node == NULL && s->behavior == NULL);
	CHECK(s->value.p == NULL && !s->value.set);
	CHECK(s->checks.v == NULL && s->checks.n == 0 && !s->checks.set);
	CHECK(s->meta.k == NULL && s->meta.v == NULL && s->meta.n == 0);
	CHECK(s->service.name == NULL && s->service.meta.k == NULL);
	CHECK(s->service.checks.v == NULL && s->service_checks.v == NULL);
	CHECK(s->raw == NULL);
}

static void
fuzz_text(const uint8_t *data, size_t size)
{
	struct errbuf eb;
	struct sess s;
	struct txn t;
	int rc;

	memset(&s, 0, sizeof(s));
	rc = jd_decode_text((const char *)data, size, sess_fields, &s, &eb);
	if (rc == 0) {
		check_sess(&s);
		/* again on top: replaces and merges without leaking */
		rc = jd_decode_text((const char *)data, size, sess_fields, &s,
		    &eb);
		CHECK(rc == 0);
		check_sess(&s);
	} else
		check_error(rc, &eb);
	jd_free(sess_fields, &s);
	check_freed(&s);

	memset(&t, 0, sizeof(t));
	rc = jd_decode_text((const char *)data, size, txn_fields, &t, &eb);
	if (rc != 0)
		check_error(rc, &eb);
	jd_free(txn_fields, &t);
	CHECK(t.ops.v == NULL && t.ops.n == 0);
}

static void
fuzz_tree(const uint8_t *data, size_t size)
{
	struct jd_list l;
	struct errbuf eb;
	struct sess s;
	yajl_val tree;
	char *text;
	int rc;

	if ((tree = json_parse((const char *)data, size, &eb)) == NULL)
		return;
	memset(&s, 0, sizeof(s));
	rc = jd_decode(tree, sess_raw_fields, &s, &eb);
	if (rc == 0) {
		check_sess(&s);
		CHECK(s.raw_set == (s.raw != NULL));
		if (s.raw != NULL) {
			text = json_to_text(s.raw);
			free(text);
		}
	} else
		check_error(rc, &eb);
	jd_free(sess_raw_fields, &s);
	check_freed(&s);

	/* a top-level array of operations */
	memset(&l, 0, sizeof(l));
	rc = jd_decode_list(tree, op_fields, sizeof(struct op), &l, &eb);
	if (rc == 0)
		CHECK(l.set && (l.n == 0 || l.v != NULL));
	else
		check_error(rc, &eb);
	jd_free_list(op_fields, sizeof(struct op), &l);
	CHECK(l.v == NULL && l.n == 0);

	/* the same by hand, element by element, as a caller might */
	if (YAJL_IS_ARRAY(tree)) {
		size_t i;

		for (i = 0; i < tree->u.array.len && i < 64; i++) {
			struct op o;

			memset(&o, 0, sizeof(o));
			rc = jd_decode(tree->u.array.values[i], op_fields, &o,
			    &eb);
			if (rc != 0)
				check_error(rc, &eb);
			else
				check_bytes(&o.kv.value);
			jd_free(op_fields, &o);
		}
	}
	yajl_tree_free(tree);
}

static void
fuzz_scalars(const uint8_t *data, size_t size)
{
	char line[128], neg[130];
	int64_t ns, ns2;
	uint8_t *p, *q;
	size_t n, m, i;
	char *s;

	/* the first line as a Go duration; "-" + it negates it */
	for (i = 0; i < size && i < sizeof(line) - 1 && data[i] != '\n' &&
	    data[i] != '\0'; i++)
		line[i] = (char)data[i];
	line[i] = '\0';
	if (jd_duration_parse(line, &ns) == 0 && line[0] != '-' &&
	    line[0] != '+') {
		neg[0] = '-';
		memcpy(neg + 1, line, i + 1);
		CHECK(jd_duration_parse(neg, &ns2) == 0 && ns2 == -ns);
	}

	/* the whole input as base64: what decodes, re-encodes and decodes
	 * back the same */
	if (jd_base64_decode((const char *)data, size, &p, &n) == 0) {
		CHECK(p != NULL);
		s = jd_base64_encode(p, n);
		CHECK(strlen(s) <= size);
		CHECK(jd_base64_decode(s, strlen(s), &q, &m) == 0);
		CHECK(m == n && memcmp(p, q, n) == 0);
		free(q);
		free(s);
		free(p);
	} else
		CHECK(p == NULL && n == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_text(data, size);
	fuzz_tree(data, size);
	fuzz_scalars(data, size);
	return 0;
}
