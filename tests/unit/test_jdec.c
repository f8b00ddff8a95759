/* test_jdec.c - unit tests for common/jdec.c (JSON request decoding). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jdec.h"
#include "json.h"
#include "xmalloc.h"

/* --- tables --------------------------------------------------------------- */

struct check {
	char *id;
	char *name;
	struct jd_strlist args;
	int64_t interval;
	bool interval_set;
};

static const struct jd_field check_fields[] = {
    {.name = "CheckID", .alias = "check_id", .type = JD_STR,
	.off = offsetof(struct check, id)},
    {.name = "Name", .type = JD_STR, .off = offsetof(struct check, name)},
    {.name = "Args", .type = JD_STRLIST, .off = offsetof(struct check, args)},
    {.name = "Interval", .type = JD_DURATION,
	.off = offsetof(struct check, interval),
	.present_off = offsetof(struct check, interval_set)},
    {.name = NULL},
};

struct service {
	char *name;
	struct jd_strlist tags;
	struct jd_strmap meta;
	uint64_t port;
	bool port_set;
	bool eto;
};

static const struct jd_field service_fields[] = {
    {.name = "Service", .type = JD_STR, .off = offsetof(struct service, name)},
    {.name = "Tags", .type = JD_STRLIST, .off = offsetof(struct service, tags)},
    {.name = "Meta", .type = JD_STRMAP, .off = offsetof(struct service, meta)},
    {.name = "Port", .type = JD_U64, .off = offsetof(struct service, port),
	.present_off = offsetof(struct service, port_set)},
    {.name = "EnableTagOverride", .alias = "enable_tag_override",
	.type = JD_BOOL, .off = offsetof(struct service, eto)},
    {.name = NULL},
};

struct req {
	char *name;
	char *docker;
	struct jd_bytes value;
	struct jd_strlist checks;
	struct jd_strmap meta;
	struct service service;
	struct jd_list list; /* of struct check */
	yajl_val raw;
	uint64_t flags;
	int64_t i;
	int64_t lock_delay;
	bool name_set;
	bool lock_delay_set;
	bool service_set;
	bool meta_set;
	bool raw_set;
	bool b;
};

static const struct jd_field req_fields[] = {
    {.name = "Name", .type = JD_STR, .off = offsetof(struct req, name),
	.present_off = offsetof(struct req, name_set)},
    {.name = "DockerContainerID", .alias = "docker_container_id",
	.type = JD_STR, .off = offsetof(struct req, docker)},
    {.name = "Value", .type = JD_BYTES, .off = offsetof(struct req, value)},
    {.name = "Checks", .type = JD_STRLIST, .off = offsetof(struct req, checks)},
    {.name = "Meta", .alias = "node_meta", .type = JD_STRMAP,
	.off = offsetof(struct req, meta),
	.present_off = offsetof(struct req, meta_set)},
    {.name = "Service", .type = JD_OBJ, .off = offsetof(struct req, service),
	.sub = service_fields,
	.present_off = offsetof(struct req, service_set)},
    {.name = "List", .type = JD_OBJLIST, .off = offsetof(struct req, list),
	.sub = check_fields, .elem_size = sizeof(struct check)},
    {.name = "Raw", .type = JD_RAW, .off = offsetof(struct req, raw),
	.present_off = offsetof(struct req, raw_set)},
    {.name = "Flags", .type = JD_U64, .off = offsetof(struct req, flags)},
    {.name = "I", .type = JD_I64, .off = offsetof(struct req, i)},
    {.name = "LockDelay", .alias = "lock_delay", .type = JD_DURATION,
	.off = offsetof(struct req, lock_delay),
	.present_off = offsetof(struct req, lock_delay_set)},
    {.name = "B", .type = JD_BOOL, .off = offsetof(struct req, b)},
    {.name = NULL},
};

/* --- helpers -------------------------------------------------------------- */

static int
dec(const char *json, struct req *r, struct errbuf *eb)
{
	eb->msg[0] = '\0';
	return jd_decode_text(json, strlen(json), req_fields, r, eb);
}

/* ok - decode json into a zeroed *r, which must succeed. */
static void
ok(const char *json, struct req *r)
{
	struct errbuf eb;

	memset(r, 0, sizeof(*r));
	if (dec(json, r, &eb) != 0)
		fail_msg("%s: %s", json, eb.msg);
}

/* bad - decoding json fails with -EINVAL and exactly msg; frees. */
static void
bad(const char *json, const char *msg)
{
	struct errbuf eb;
	struct req r;

	memset(&r, 0, sizeof(r));
	if (dec(json, &r, &eb) != -EINVAL)
		fail_msg("%s: decoded", json);
	if (strcmp(eb.msg, msg) != 0)
		fail_msg("%s:\n  got  \"%s\"\n  want \"%s\"", json, eb.msg,
		    msg);
	jd_free(req_fields, &r);
}

/* owned_clear - every owned member of r is released. */
static void
assert_owned_clear(const struct req *r)
{
	assert_null(r->name);
	assert_null(r->docker);
	assert_null(r->value.p);
	assert_int_equal(r->value.n, 0);
	assert_false(r->value.set);
	assert_null(r->checks.v);
	assert_int_equal(r->checks.n, 0);
	assert_false(r->checks.set);
	assert_null(r->meta.k);
	assert_null(r->meta.v);
	assert_int_equal(r->meta.n, 0);
	assert_null(r->service.name);
	assert_null(r->service.tags.v);
	assert_null(r->service.meta.k);
	assert_null(r->list.v);
	assert_int_equal(r->list.n, 0);
	assert_false(r->list.set);
	assert_null(r->raw);
}

/* --- keys ----------------------------------------------------------------- */

static void
test_keys_case_insensitive(void **state)
{
	static const char *bodies[] = {
	    "{\"Name\":\"x\"}", "{\"name\":\"x\"}", "{\"NAME\":\"x\"}",
	    "{\"nAmE\":\"x\"}",
	};
	struct req r;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		ok(bodies[i], &r);
		assert_string_equal(r.name, "x");
		assert_true(r.name_set);
		jd_free(req_fields, &r);
	}
	/* ASCII only: no Unicode folding, no prefix match */
	ok("{\"N\xc3\x85ME\":\"x\",\"Nam\":\"y\",\"Names\":\"z\"}", &r);
	assert_null(r.name);
	assert_false(r.name_set);
	/* nested tables too */
	ok("{\"service\":{\"service\":\"web\",\"PORT\":80,"
	   "\"enabletagoverride\":true}}",
	    &r);
	assert_string_equal(r.service.name, "web");
	assert_int_equal(r.service.port, 80);
	assert_true(r.service.eto);
	jd_free(req_fields, &r);
}

static void
test_aliases(void **state)
{
	struct req r;

	(void)state;
	ok("{\"lock_delay\":\"15s\",\"docker_container_id\":\"c1\","
	   "\"service\":{\"enable_tag_override\":true}}",
	    &r);
	assert_int_equal(r.lock_delay, 15000000000LL);
	assert_true(r.lock_delay_set);
	assert_string_equal(r.docker, "c1");
	assert_true(r.service.eto);
	jd_free(req_fields, &r);

	/* aliases match case-insensitively as well */
	ok("{\"LOCK_DELAY\":\"1s\",\"Docker_Container_ID\":\"c2\"}", &r);
	assert_int_equal(r.lock_delay, 1000000000LL);
	assert_string_equal(r.docker, "c2");
	jd_free(req_fields, &r);

	/* the canonical name beats the alias, in either order */
	ok("{\"LockDelay\":\"1s\",\"lock_delay\":\"2s\"}", &r);
	assert_int_equal(r.lock_delay, 1000000000LL);
	ok("{\"lock_delay\":\"2s\",\"lockdelay\":\"1s\"}", &r);
	assert_int_equal(r.lock_delay, 1000000000LL);
	/* ... unless it is null, which is absent */
	ok("{\"lock_delay\":\"2s\",\"LockDelay\":null}", &r);
	assert_int_equal(r.lock_delay, 2000000000LL);
	/* an alias error names the canonical field */
	bad("{\"lock_delay\":true}",
	    "Request decode failed: LockDelay: expected duration, got "
	    "boolean");
}

static void
test_unknown_keys(void **state)
{
	struct req r, zero;

	(void)state;
	memset(&zero, 0, sizeof(zero));
	ok("{\"WriteRequest\":{\"Token\":\"t\"},\"Foo\":[1,2,{}],\"Bar\":1.5,"
	   "\"\":null,\"Service\":{\"Extra\":true}}",
	    &r);
	assert_true(r.service_set);
	r.service_set = false;
	assert_memory_equal(&r, &zero, sizeof(r));
}

static void
test_duplicates(void **state)
{
	struct req r;

	(void)state;
	ok("{\"Name\":\"a\",\"name\":\"b\",\"NAME\":\"c\"}", &r);
	assert_string_equal(r.name, "c");
	jd_free(req_fields, &r);
	/* a later null does not undo an earlier value (Go: null is a no-op) */
	ok("{\"Name\":\"a\",\"Name\":null}", &r);
	assert_string_equal(r.name, "a");
	jd_free(req_fields, &r);
	/* only the winner is decoded: an earlier bad value is not an error */
	ok("{\"Flags\":\"x\",\"Flags\":5}", &r);
	assert_int_equal(r.flags, 5);
	bad("{\"Flags\":5,\"Flags\":\"x\"}",
	    "Request decode failed: Flags: expected unsigned integer, got "
	    "string");
	/* whole containers are replaced, not merged */
	ok("{\"Checks\":[\"a\",\"b\"],\"Checks\":[\"c\"]}", &r);
	assert_int_equal(r.checks.n, 1);
	assert_string_equal(r.checks.v[0], "c");
	jd_free(req_fields, &r);
	/* map keys: the last value wins, at that key's last position */
	ok("{\"Meta\":{\"a\":\"1\",\"b\":\"2\",\"a\":\"3\",\"c\":\"4\"}}", &r);
	assert_int_equal(r.meta.n, 3);
	assert_string_equal(r.meta.k[0], "b");
	assert_string_equal(r.meta.v[0], "2");
	assert_string_equal(r.meta.k[1], "a");
	assert_string_equal(r.meta.v[1], "3");
	assert_string_equal(r.meta.k[2], "c");
	assert_string_equal(r.meta.v[2], "4");
	jd_free(req_fields, &r);
	/* map keys are case-sensitive */
	ok("{\"Meta\":{\"a\":\"1\",\"A\":\"2\"}}", &r);
	assert_int_equal(r.meta.n, 2);
	jd_free(req_fields, &r);
}

static void
test_null_absent(void **state)
{
	struct errbuf eb;
	struct req r;

	(void)state;
	memset(&r, 0, sizeof(r));
	r.name = xstrdup("default");
	r.flags = 7;
	r.i = -7;
	r.lock_delay = 15000000000LL;
	r.b = true;
	r.service.port = 8080;
	assert_int_equal(dec("{\"Name\":null,\"DockerContainerID\":null,"
			     "\"Value\":null,\"Checks\":null,\"Meta\":null,"
			     "\"Service\":null,\"List\":null,\"Raw\":null,"
			     "\"Flags\":null,\"I\":null,\"LockDelay\":null,"
			     "\"B\":null}",
			     &r, &eb),
	    0);
	assert_string_equal(r.name, "default");
	assert_int_equal(r.flags, 7);
	assert_int_equal(r.i, -7);
	assert_int_equal(r.lock_delay, 15000000000LL);
	assert_true(r.b);
	assert_int_equal(r.service.port, 8080);
	assert_false(r.name_set);
	assert_false(r.lock_delay_set);
	assert_false(r.service_set);
	assert_false(r.meta_set);
	assert_false(r.value.set);
	assert_false(r.checks.set);
	assert_false(r.list.set);
	/* null inside an object: the nested default stays too */
	assert_int_equal(dec("{\"Service\":{\"Port\":null}}", &r, &eb), 0);
	assert_int_equal(r.service.port, 8080);
	assert_true(r.service_set);
	assert_false(r.service.port_set);
	jd_free(req_fields, &r);
	assert_null(r.name);
}

static void
test_present_flags(void **state)
{
	struct req r;

	(void)state;
	ok("{\"Name\":\"\",\"Checks\":[],\"Value\":\"\",\"List\":[],"
	   "\"Meta\":{},\"Service\":{},\"LockDelay\":0}",
	    &r);
	assert_true(r.name_set);
	assert_string_equal(r.name, "");
	assert_true(r.checks.set);
	assert_int_equal(r.checks.n, 0);
	assert_true(r.value.set);
	assert_int_equal(r.value.n, 0);
	assert_non_null(r.value.p);
	assert_true(r.list.set);
	assert_int_equal(r.list.n, 0);
	assert_true(r.meta_set);
	assert_int_equal(r.meta.n, 0);
	assert_true(r.service_set);
	assert_true(r.lock_delay_set);
	assert_int_equal(r.lock_delay, 0);
	assert_false(r.raw_set);
	jd_free(req_fields, &r);
	assert_owned_clear(&r);

	ok("{}", &r);
	assert_false(r.name_set);
	assert_false(r.checks.set);
	assert_false(r.value.set);
	assert_false(r.list.set);
	assert_false(r.meta_set);
	assert_false(r.service_set);
	assert_false(r.lock_delay_set);
}

/* --- types ---------------------------------------------------------------- */

static void
test_types_happy(void **state)
{
	static const char body[] =
	    "{\"Name\":\"sess \\u00e9\\n\",\"Value\":\"aGVsbG8=\","
	    "\"Checks\":[\"serfHealth\",\"\",null,\"c\"],"
	    "\"Meta\":{\"env\":\"prod\",\"empty\":\"\",\"nil\":null},"
	    "\"Service\":{\"Service\":\"web\",\"Tags\":[\"a\"],\"Port\":65535,"
	    "\"Meta\":{\"v\":\"1\"}},"
	    "\"List\":[{\"CheckID\":\"c1\",\"Interval\":\"10s\"},null,"
	    "{\"check_id\":\"c3\",\"Args\":[\"/bin/true\",\"-x\"]}],"
	    "\"Raw\":{\"any\":[1,true]},"
	    "\"Flags\":18446744073709551615,\"I\":-9223372036854775808,"
	    "\"LockDelay\":\"15s\",\"B\":true}";
	struct errbuf eb;
	struct req r;
	struct check *c;
	yajl_val tree;

	(void)state;
	tree = json_parse(body, strlen(body), &eb);
	assert_non_null(tree);
	memset(&r, 0, sizeof(r));
	if (jd_decode(tree, req_fields, &r, &eb) != 0)
		fail_msg("%s", eb.msg);
	assert_string_equal(r.name, "sess \xc3\xa9\n");
	assert_true(r.value.set);
	assert_int_equal(r.value.n, 5);
	assert_memory_equal(r.value.p, "hello", 5);
	assert_int_equal(r.checks.n, 4);
	assert_string_equal(r.checks.v[0], "serfHealth");
	assert_string_equal(r.checks.v[1], "");
	assert_string_equal(r.checks.v[2], ""); /* null: Go's zero value */
	assert_string_equal(r.checks.v[3], "c");
	assert_int_equal(r.meta.n, 3);
	assert_string_equal(r.meta.k[0], "env");
	assert_string_equal(r.meta.v[0], "prod");
	assert_string_equal(r.meta.k[1], "empty");
	assert_string_equal(r.meta.v[1], "");
	assert_string_equal(r.meta.k[2], "nil");
	assert_string_equal(r.meta.v[2], "");
	assert_true(r.service_set);
	assert_string_equal(r.service.name, "web");
	assert_int_equal(r.service.tags.n, 1);
	assert_string_equal(r.service.tags.v[0], "a");
	assert_int_equal(r.service.port, 65535);
	assert_true(r.service.port_set);
	assert_int_equal(r.service.meta.n, 1);
	assert_string_equal(r.service.meta.v[0], "1");
	assert_true(r.list.set);
	assert_int_equal(r.list.n, 3);
	c = r.list.v;
	assert_string_equal(c[0].id, "c1");
	assert_int_equal(c[0].interval, 10000000000LL);
	assert_true(c[0].interval_set);
	assert_null(c[1].id); /* null element: zeroed */
	assert_false(c[1].interval_set);
	assert_string_equal(c[2].id, "c3");
	assert_int_equal(c[2].args.n, 2);
	assert_string_equal(c[2].args.v[1], "-x");
	assert_false(c[2].interval_set);
	assert_true(r.raw_set);
	assert_true(YAJL_IS_OBJECT(r.raw));
	assert_ptr_equal(r.raw, json_obj_get(tree, "Raw"));
	assert_true(r.flags == UINT64_MAX);
	assert_true(r.i == INT64_MIN);
	assert_int_equal(r.lock_delay, 15000000000LL);
	assert_true(r.b);
	jd_free(req_fields, &r);
	assert_owned_clear(&r);
	yajl_tree_free(tree);

	/* other scalar edges */
	ok("{\"Flags\":0,\"I\":9223372036854775807,\"B\":false,"
	   "\"LockDelay\":-5}",
	    &r);
	assert_int_equal(r.flags, 0);
	assert_true(r.i == INT64_MAX);
	assert_false(r.b);
	assert_int_equal(r.lock_delay, -5);
	ok("{\"I\":-0,\"LockDelay\":15000000000}", &r);
	assert_int_equal(r.i, 0);
	assert_int_equal(r.lock_delay, 15000000000LL);
}

static void
test_type_errors(void **state)
{
	static const struct {
		const char *json, *msg;
	} cases[] = {
	    /* the top level */
	    {"[]", "expected object, got array"},
	    {"\"x\"", "expected object, got string"},
	    {"null", "expected object, got null"},
	    {"1", "expected object, got number"},
	    {"true", "expected object, got boolean"},
	    /* each type */
	    {"{\"Name\":1}", "Name: expected string, got number"},
	    {"{\"Name\":true}", "Name: expected string, got boolean"},
	    {"{\"Name\":[\"x\"]}", "Name: expected string, got array"},
	    {"{\"Name\":{}}", "Name: expected string, got object"},
	    {"{\"B\":\"true\"}", "B: expected boolean, got string"},
	    {"{\"B\":1}", "B: expected boolean, got number"},
	    {"{\"Flags\":\"1\"}",
		"Flags: expected unsigned integer, got string"},
	    {"{\"Flags\":-1}",
		"Flags: expected unsigned integer, got number -1"},
	    {"{\"Flags\":-0}",
		"Flags: expected unsigned integer, got number -0"},
	    {"{\"Flags\":1.5}",
		"Flags: expected unsigned integer, got number 1.5"},
	    {"{\"Flags\":1.0}",
		"Flags: expected unsigned integer, got number 1.0"},
	    {"{\"Flags\":1e3}",
		"Flags: expected unsigned integer, got number 1e3"},
	    {"{\"Flags\":18446744073709551616}",
		"Flags: expected unsigned integer, got number "
		"18446744073709551616 (out of range)"},
	    {"{\"Flags\":123456789012345678901234567890123456789012345}",
		"Flags: expected unsigned integer, got number "
		"1234567890123456789012345678901234567890... (out of range)"},
	    {"{\"I\":\"-1\"}", "I: expected integer, got string"},
	    {"{\"I\":9223372036854775808}",
		"I: expected integer, got number 9223372036854775808 (out of "
		"range)"},
	    {"{\"I\":-9223372036854775809}",
		"I: expected integer, got number -9223372036854775809 (out "
		"of range)"},
	    {"{\"I\":2E1}", "I: expected integer, got number 2E1"},
	    {"{\"LockDelay\":true}",
		"LockDelay: expected duration, got boolean"},
	    {"{\"LockDelay\":[]}", "LockDelay: expected duration, got array"},
	    {"{\"LockDelay\":1.5}",
		"LockDelay: expected duration, got number 1.5"},
	    {"{\"LockDelay\":9223372036854775808}",
		"LockDelay: expected duration, got number "
		"9223372036854775808 (out of range)"},
	    {"{\"LockDelay\":\"abc\"}", "LockDelay: invalid duration \"abc\""},
	    {"{\"LockDelay\":\"\"}", "LockDelay: invalid duration \"\""},
	    {"{\"LockDelay\":\"15\"}", "LockDelay: invalid duration \"15\""},
	    {"{\"LockDelay\":\"1\\ns\"}",
		"LockDelay: invalid duration \"1?s\""},
	    {"{\"LockDelay\":\"9999999999999h\"}",
		"LockDelay: duration \"9999999999999h\" out of range"},
	    {"{\"Value\":1}", "Value: expected base64 string, got number"},
	    {"{\"Value\":\"!!!!\"}", "Value: invalid base64 data"},
	    {"{\"Value\":\"QQ\"}", "Value: invalid base64 data"},
	    {"{\"Checks\":\"serfHealth\"}", "Checks: expected array, got string"},
	    {"{\"Checks\":{}}", "Checks: expected array, got object"},
	    {"{\"Checks\":[\"a\",1]}", "Checks[1]: expected string, got number"},
	    {"{\"Checks\":[\"a\",\"b\",[]]}",
		"Checks[2]: expected string, got array"},
	    {"{\"Meta\":[]}", "Meta: expected object, got array"},
	    {"{\"Meta\":\"a=b\"}", "Meta: expected object, got string"},
	    {"{\"Meta\":{\"ok\":\"1\",\"env\":2}}",
		"Meta.env: expected string, got number"},
	    {"{\"Meta\":{\"a\\tb\":false}}",
		"Meta.a?b: expected string, got boolean"},
	    {"{\"node_meta\":{\"x\":{}}}", "Meta.x: expected string, got object"},
	    {"{\"Service\":\"web\"}", "Service: expected object, got string"},
	    {"{\"Service\":[]}", "Service: expected object, got array"},
	    {"{\"Service\":{\"Port\":\"80\"}}",
		"Service.Port: expected unsigned integer, got string"},
	    {"{\"Service\":{\"Tags\":[\"a\",null,3]}}",
		"Service.Tags[2]: expected string, got number"},
	    {"{\"Service\":{\"Meta\":{\"k\":1}}}",
		"Service.Meta.k: expected string, got number"},
	    {"{\"Service\":{\"enable_tag_override\":\"yes\"}}",
		"Service.EnableTagOverride: expected boolean, got string"},
	    {"{\"List\":{}}", "List: expected array, got object"},
	    {"{\"List\":[{},\"x\"]}", "List[1]: expected object, got string"},
	    {"{\"List\":[{},[]]}", "List[1]: expected object, got array"},
	    {"{\"List\":[{},{\"Name\":1}]}",
		"List[1].Name: expected string, got number"},
	    {"{\"List\":[{},null,{\"Args\":[\"a\",true]}]}",
		"List[2].Args[1]: expected string, got boolean"},
	    {"{\"List\":[{\"check_id\":7}]}",
		"List[0].CheckID: expected string, got number"},
	    {"{\"List\":[{\"Interval\":\"10\"}]}",
		"List[0].Interval: invalid duration \"10\""},
	};
	char want[ERRBUF_LEN];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(want, sizeof(want), "Request decode failed: %s",
		    cases[i].msg);
		bad(cases[i].json, want);
	}
}

static void
test_errors_direct(void **state)
{
	struct errbuf eb;
	struct req r;
	yajl_val tree;

	(void)state;
	memset(&r, 0, sizeof(r));
	assert_int_equal(jd_decode(NULL, req_fields, &r, &eb), -EINVAL);
	assert_string_equal(eb.msg,
	    "Request decode failed: expected object, got null");
	tree = json_parse("[{}]", 4, &eb);
	assert_non_null(tree);
	assert_int_equal(jd_decode(tree, req_fields, &r, &eb), -EINVAL);
	assert_string_equal(eb.msg,
	    "Request decode failed: expected object, got array");
	yajl_tree_free(tree);
	/* a NULL errbuf is allowed */
	assert_int_equal(jd_decode_text("[", 1, req_fields, &r, NULL),
	    -EINVAL);
	assert_int_equal(jd_decode_text("{\"B\":1}", 7, req_fields, &r, NULL),
	    -EINVAL);
}

static void
test_long_path(void **state)
{
	char key[600], json[800];
	struct errbuf eb;
	struct req r;

	(void)state;
	/* a long map key: the message is cut, nothing overflows */
	memset(key, 'k', sizeof(key) - 1);
	key[sizeof(key) - 1] = '\0';
	snprintf(json, sizeof(json), "{\"Meta\":{\"%s\":1}}", key);
	memset(&r, 0, sizeof(r));
	assert_int_equal(dec(json, &r, &eb), -EINVAL);
	assert_int_equal(strlen(eb.msg), ERRBUF_LEN - 1);
	assert_memory_equal(eb.msg, "Request decode failed: Meta.kkk", 31);
	jd_free(req_fields, &r);
}

/* --- durations ------------------------------------------------------------ */

static void
test_duration_parse(void **state)
{
	static const struct {
		const char *s;
		int rc;
		int64_t ns;
	} cases[] = {
	    {"0", 0, 0},
	    {"-0", 0, 0},
	    {"+0", 0, 0},
	    {"0s", 0, 0},
	    {"1ns", 0, 1},
	    {"1us", 0, 1000},
	    {"1\xc2\xb5s", 0, 1000},
	    {"1\xce\xbcs", 0, 1000},
	    {"1ms", 0, 1000000},
	    {"1s", 0, 1000000000},
	    {"1m", 0, 60000000000LL},
	    {"1h", 0, 3600000000000LL},
	    {"10s", 0, 10000000000LL},
	    {"100ms", 0, 100000000},
	    {"1m30s", 0, 90000000000LL},
	    {"72h", 0, 259200000000000LL},
	    {"1.5h", 0, 5400000000000LL},
	    {"1h2m3.5s", 0, 3723500000000LL},
	    {"2h45m", 0, 9900000000000LL},
	    {"1.5s", 0, 1500000000},
	    {".5s", 0, 500000000},
	    {"1.s", 0, 1000000000},
	    {"0.000000001s", 0, 1},
	    {"0.0000000001s", 0, 0},
	    {"1.0000000000000000000000001s", 0, 1000000000},
	    {"1.1ns", 0, 1},
	    {"1s1s", 0, 2000000000},
	    {"3ms500us", 0, 3500000},
	    {"-1.5s", 0, -1500000000},
	    {"-1h2m3.5s", 0, -3723500000000LL},
	    {"+5s", 0, 5000000000LL},
	    {"0.1h", 0, 360000000000LL},
	    {"0.333333333333333333h", 0, 1199999999999LL},
	    {"9223372036854775807ns", 0, INT64_MAX},
	    {"2562047h47m16.854775807s", 0, INT64_MAX},
	    {"-9223372036854775808ns", 0, INT64_MIN},
	    {"-2562047h47m16.854775808s", 0, INT64_MIN},
	    {"9223372036854775808ns", -ERANGE, 0},
	    {"9223372036854775809ns", -ERANGE, 0},
	    {"0.9223372036854775809s", 0, 922337203}, /* digits dropped */
	    {"9223372036854775.807us", 0, INT64_MAX},
	    {"-9223372036854775.808us", 0, INT64_MIN},
	    {"9223372036854775.809us", -ERANGE, 0}, /* the fraction tips it */
	    {"2562047h47m16.854775808s", -ERANGE, 0},
	    {"-9223372036854775809ns", -ERANGE, 0},
	    {"99999999999999999999ns", -ERANGE, 0},
	    {"2562048h", -ERANGE, 0},
	    {"1000000000000000000000h", -ERANGE, 0},
	    {"5124095576030431h", -ERANGE, 0},
	    {"2562047h2562047h", -ERANGE, 0},
	    {"", -EINVAL, 0},
	    {"-", -EINVAL, 0},
	    {"+", -EINVAL, 0},
	    {"1", -EINVAL, 0},
	    {"15", -EINVAL, 0},
	    {"00", -EINVAL, 0},
	    {"s", -EINVAL, 0},
	    {".s", -EINVAL, 0},
	    {"-.s", -EINVAL, 0},
	    {".", -EINVAL, 0},
	    {"1x", -EINVAL, 0},
	    {"1S", -EINVAL, 0},
	    {"1H", -EINVAL, 0},
	    {"1sec", -EINVAL, 0},
	    {"1d", -EINVAL, 0},
	    {"1.2.3s", -EINVAL, 0},
	    {"1s ", -EINVAL, 0},
	    {" 1s", -EINVAL, 0},
	    {"1 s", -EINVAL, 0},
	    {"--1s", -EINVAL, 0},
	    {"1s-1s", -EINVAL, 0},
	    {"1e3s", -EINVAL, 0},
	    {"abc", -EINVAL, 0},
	    {"1\xc2s", -EINVAL, 0},
	};
	size_t i;
	int64_t ns;
	int rc;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ns = 42;
		rc = jd_duration_parse(cases[i].s, &ns);
		if (rc != cases[i].rc)
			fail_msg("\"%s\": rc %d, want %d", cases[i].s, rc,
			    cases[i].rc);
		if (rc == 0 && ns != cases[i].ns)
			fail_msg("\"%s\": %lld, want %lld", cases[i].s,
			    (long long)ns, (long long)cases[i].ns);
		if (rc != 0 && ns != 42)
			fail_msg("\"%s\": output written on error", cases[i].s);
	}
	assert_int_equal(jd_duration_parse(NULL, &ns), -EINVAL);
}

/* --- base64 --------------------------------------------------------------- */

static void
test_base64(void **state)
{
	static const struct {
		const char *in, *out; /* out NULL: invalid */
	} cases[] = {
	    /* RFC 4648 section 10 */
	    {"", ""},
	    {"Zg==", "f"},
	    {"Zm8=", "fo"},
	    {"Zm9v", "foo"},
	    {"Zm9vYg==", "foob"},
	    {"Zm9vYmE=", "fooba"},
	    {"Zm9vYmFy", "foobar"},
	    {"QQ==", "A"},
	    {"QR==", "A"}, /* non-zero pad bits: Go's StdEncoding allows */
	    {"QUI=", "AB"},
	    {"QUJD", "ABC"},
	    {"Pz8/Pz4+", "\x3f\x3f\x3f\x3f>>"}, /* "+" and "/" */
	    {"Zm9v\nYmFy\r\n", "foobar"}, /* Go skips '\r' and '\n' */
	    {"\nZ\rg=\n=", "f"},
	    {"\r\n", ""},
	    {"Zg", NULL},
	    {"Zg=", NULL},
	    {"Zm9", NULL},
	    {"Z", NULL},
	    {"=", NULL},
	    {"====", NULL},
	    {"A===", NULL},
	    {"QQ=A", NULL},
	    {"A=BC", NULL},
	    {"Zg==Zg==", NULL},
	    {"Zg==\t", NULL},
	    {" Zg==", NULL},
	    {"Zg== ", NULL},
	    {"Zm 9v", NULL},
	    {"Zm9v!A==", NULL},
	    {"Zm9v-_==", NULL}, /* URL alphabet */
	    {"Zm9v\xc3\xa9", NULL},
	};
	uint8_t *p;
	size_t i, n;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = jd_base64_decode(cases[i].in, strlen(cases[i].in), &p,
		    &n);

		if (cases[i].out == NULL) {
			if (rc != -EINVAL)
				fail_msg("\"%s\": accepted", cases[i].in);
			assert_null(p);
			assert_int_equal(n, 0);
			continue;
		}
		if (rc != 0)
			fail_msg("\"%s\": rc %d", cases[i].in, rc);
		assert_non_null(p);
		assert_int_equal(n, strlen(cases[i].out));
		assert_memory_equal(p, cases[i].out, n);
		free(p);
	}
	/* a length, not NUL-termination, bounds the input */
	assert_int_equal(jd_base64_decode("Zg==garbage", 4, &p, &n), 0);
	assert_int_equal(n, 1);
	free(p);
	assert_int_equal(jd_base64_decode(NULL, 0, &p, &n), 0);
	assert_int_equal(n, 0);
	free(p);
	assert_int_equal(jd_base64_decode(NULL, 4, &p, &n), -EINVAL);
}

static void
test_base64_roundtrip(void **state)
{
	static const char *vec[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==",
	    "Zm9vYmE=", "Zm9vYmFy"};
	uint8_t buf[300], *p;
	size_t i, n, len;
	char *s;

	(void)state;
	for (i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		s = jd_base64_encode("foobar", i);
		assert_string_equal(s, vec[i]);
		free(s);
	}
	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 131 + 7);
	for (len = 0; len <= sizeof(buf); len++) {
		s = jd_base64_encode(buf, len);
		assert_int_equal(strlen(s), (len + 2) / 3 * 4);
		assert_int_equal(jd_base64_decode(s, strlen(s), &p, &n), 0);
		assert_int_equal(n, len);
		if (len > 0)
			assert_memory_equal(p, buf, len);
		free(p);
		free(s);
	}
}

/* test_base64_large - inputs spanning several EVP calls. */
static void
test_base64_large(void **state)
{
	size_t lens[] = {786431, 786432, 786433, 3 * 786432 + 2};
	uint8_t *in, *p;
	size_t i, j, n;
	char *s;

	(void)state;
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		in = xmalloc(lens[i]);
		for (j = 0; j < lens[i]; j++)
			in[j] = (uint8_t)(j ^ (j >> 8) ^ (j >> 16));
		s = jd_base64_encode(in, lens[i]);
		assert_int_equal(strlen(s), (lens[i] + 2) / 3 * 4);
		assert_int_equal(jd_base64_decode(s, strlen(s), &p, &n), 0);
		assert_int_equal(n, lens[i]);
		assert_memory_equal(p, in, n);
		free(p);
		/* a bad character in a later chunk is still caught */
		s[strlen(s) - 5] = '.';
		assert_int_equal(jd_base64_decode(s, strlen(s), &p, &n),
		    -EINVAL);
		free(s);
		free(in);
	}
}

static void
test_bytes_field(void **state)
{
	struct req r;

	(void)state;
	ok("{\"Value\":\"AAEC/w==\"}", &r);
	assert_true(r.value.set);
	assert_int_equal(r.value.n, 4);
	assert_memory_equal(r.value.p, "\x00\x01\x02\xff", 4);
	jd_free(req_fields, &r);
	ok("{\"value\":\"\"}", &r);
	assert_true(r.value.set);
	assert_int_equal(r.value.n, 0);
	jd_free(req_fields, &r);
	bad("{\"Value\":\"QQ=A\"}",
	    "Request decode failed: Value: invalid base64 data");
	bad("{\"Value\":\" QQ==\"}",
	    "Request decode failed: Value: invalid base64 data");
}

/* --- nesting, lists, limits ----------------------------------------------- */

static void
test_nested(void **state)
{
	struct errbuf eb;
	struct req r;
	struct check *c;

	(void)state;
	ok("{\"Service\":{\"Service\":\"db\",\"Port\":5432},"
	   "\"List\":[{\"Name\":\"a\"},{\"Name\":\"b\",\"Interval\":\"1m\"}]}",
	    &r);
	assert_string_equal(r.service.name, "db");
	assert_int_equal(r.list.n, 2);
	c = r.list.v;
	assert_string_equal(c[1].name, "b");
	assert_int_equal(c[1].interval, 60000000000LL);

	/* a second decode merges objects and replaces lists, without leaks */
	assert_int_equal(dec("{\"Service\":{\"Tags\":[\"t\"]},"
			     "\"List\":[{\"Name\":\"c\"}]}",
			     &r, &eb),
	    0);
	assert_string_equal(r.service.name, "db");
	assert_int_equal(r.service.port, 5432);
	assert_int_equal(r.service.tags.n, 1);
	assert_int_equal(r.list.n, 1);
	c = r.list.v;
	assert_string_equal(c[0].name, "c");
	assert_false(c[0].interval_set);
	/* ... and replaces strings */
	assert_int_equal(dec("{\"Service\":{\"Service\":\"db2\"}}", &r, &eb),
	    0);
	assert_string_equal(r.service.name, "db2");
	jd_free(req_fields, &r);
	assert_owned_clear(&r);
	/* jd_free twice is harmless */
	jd_free(req_fields, &r);
	jd_free(req_fields, NULL);
	jd_free(NULL, &r);
}

static void
test_free_partial(void **state)
{
	static const char *bodies[] = {
	    /* fails late, after every owned type has been filled */
	    "{\"Name\":\"n\",\"DockerContainerID\":\"d\",\"Value\":\"QQ==\","
	    "\"Checks\":[\"a\",\"b\"],\"Meta\":{\"k\":\"v\"},"
	    "\"Service\":{\"Service\":\"s\",\"Tags\":[\"t\"],"
	    "\"Meta\":{\"m\":\"1\"}},"
	    "\"List\":[{\"Name\":\"x\",\"Args\":[\"1\",\"2\"]},"
	    "{\"CheckID\":\"y\",\"Args\":[\"3\",4]},{\"Name\":\"z\"}]}",
	    /* fails in the middle of a string list */
	    "{\"Name\":\"n\",\"Checks\":[\"a\",\"b\",1,\"c\"]}",
	    /* in the middle of a map */
	    "{\"Name\":\"n\",\"Meta\":{\"a\":\"1\",\"b\":2,\"c\":\"3\"}}",
	    /* in a nested object */
	    "{\"Service\":{\"Service\":\"s\",\"Tags\":[\"t\"],\"Port\":-1}}",
	    /* after a later scalar field */
	    "{\"Name\":\"n\",\"Value\":\"QQ==\",\"B\":\"x\"}",
	};
	struct errbuf eb;
	struct req r;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		memset(&r, 0, sizeof(r));
		assert_int_equal(dec(bodies[i], &r, &eb), -EINVAL);
		jd_free(req_fields, &r);
		assert_owned_clear(&r);
	}
	/* an error on top of values already held */
	ok("{\"Name\":\"n\",\"Checks\":[\"a\"],\"List\":[{\"Name\":\"x\"}]}",
	    &r);
	assert_int_equal(dec("{\"Checks\":[\"b\",2]}", &r, &eb), -EINVAL);
	jd_free(req_fields, &r);
	assert_owned_clear(&r);
}

static void
test_limits(void **state)
{
	struct errbuf eb;
	struct req r;
	size_t n, i, len;
	char *json;

	(void)state;
	/* JD_MAX_ELEMS elements pass, one more fails, for both list kinds */
	for (n = JD_MAX_ELEMS; n <= JD_MAX_ELEMS + 1; n++) {
		json = xmalloc(n * 4 + 64);
		len = (size_t)sprintf(json, "{\"Checks\":[");
		for (i = 0; i < n; i++)
			len += (size_t)sprintf(json + len, "%s\"\"",
			    i ? "," : "");
		len += (size_t)sprintf(json + len, "]}");
		memset(&r, 0, sizeof(r));
		if (n == JD_MAX_ELEMS) {
			assert_int_equal(dec(json, &r, &eb), 0);
			assert_int_equal(r.checks.n, n);
		} else {
			assert_int_equal(dec(json, &r, &eb), -EINVAL);
			assert_string_equal(eb.msg,
			    "Request decode failed: Checks: array of 10001 "
			    "elements exceeds the limit of 10000");
		}
		jd_free(req_fields, &r);
		len = (size_t)sprintf(json, "{\"List\":[");
		for (i = 0; i < n; i++)
			len += (size_t)sprintf(json + len, "%s{}",
			    i ? "," : "");
		len += (size_t)sprintf(json + len, "]}");
		memset(&r, 0, sizeof(r));
		assert_int_equal(dec(json, &r, &eb),
		    n == JD_MAX_ELEMS ? 0 : -EINVAL);
		if (n > JD_MAX_ELEMS)
			assert_string_equal(eb.msg,
			    "Request decode failed: List: array of 10001 "
			    "elements exceeds the limit of 10000");
		jd_free(req_fields, &r);
		free(json);
	}
	/* maps too */
	n = JD_MAX_ELEMS + 1;
	json = xmalloc(n * 16 + 64);
	len = (size_t)sprintf(json, "{\"Meta\":{");
	for (i = 0; i < n; i++)
		len += (size_t)sprintf(json + len, "%s\"%zu\":\"\"",
		    i ? "," : "", i);
	len += (size_t)sprintf(json + len, "}}");
	memset(&r, 0, sizeof(r));
	assert_int_equal(dec(json, &r, &eb), -EINVAL);
	assert_string_equal(eb.msg,
	    "Request decode failed: Meta: object of 10001 elements exceeds "
	    "the limit of 10000");
	jd_free(req_fields, &r);
	free(json);
}

/* --- text entry point and top-level lists --------------------------------- */

static void
test_decode_text(void **state)
{
	struct errbuf eb;
	struct req r;
	char *big;

	(void)state;
	memset(&r, 0, sizeof(r));
	r.flags = 3;
	/* empty and whitespace-only bodies are {} */
	assert_int_equal(jd_decode_text(NULL, 0, req_fields, &r, &eb), 0);
	assert_int_equal(jd_decode_text("", 0, req_fields, &r, &eb), 0);
	assert_int_equal(dec(" \t\r\n ", &r, &eb), 0);
	assert_int_equal(r.flags, 3);
	assert_false(r.name_set);
	/* the length bounds the input, not a NUL */
	assert_int_equal(jd_decode_text("{\"Flags\":5}xyz", 11, req_fields, &r,
			     &eb),
	    0);
	assert_int_equal(r.flags, 5);
	/* JD_RAW is skipped: the tree does not outlive the call */
	assert_int_equal(dec("{\"Raw\":{\"a\":1}}", &r, &eb), 0);
	assert_null(r.raw);
	assert_false(r.raw_set);
	/* parse errors carry json_parse's message */
	assert_int_equal(dec("{\"Name\":", &r, &eb), -EINVAL);
	assert_memory_equal(eb.msg, "Request decode failed: parse error: ",
	    36);
	assert_int_equal(dec("{\"Name\":\"x\",}", &r, &eb), -EINVAL);
	assert_memory_equal(eb.msg,
	    "Request decode failed: parse error: line 1, column ", 51);
	assert_int_equal(dec("{'Name':1}", &r, &eb), -EINVAL);
	assert_memory_equal(eb.msg, "Request decode failed: parse error: ",
	    36);
	assert_int_equal(jd_decode_text("{\"a\":\0}", 7, req_fields, &r, &eb),
	    -EINVAL);
	assert_string_equal(eb.msg, "Request decode failed: parse error: "
				    "line 1, column 6: NUL byte in input");
	assert_int_equal(dec("\"str\"", &r, &eb), -EINVAL);
	assert_string_equal(eb.msg,
	    "Request decode failed: expected object, got string");
	/* over the input cap, even as whitespace */
	big = xmalloc(JSON_MAX_INPUT + 1);
	memset(big, ' ', JSON_MAX_INPUT + 1);
	assert_int_equal(jd_decode_text(big, JSON_MAX_INPUT + 1, req_fields,
			     &r, &eb),
	    -EMSGSIZE);
	assert_memory_equal(eb.msg, "Request decode failed: parse error: ",
	    36);
	free(big);
	jd_free(req_fields, &r);
}

struct op {
	struct check kv;
	char *verb;
};

static const struct jd_field op_fields[] = {
    {.name = "KV", .type = JD_OBJ, .off = offsetof(struct op, kv),
	.sub = check_fields},
    {.name = "Verb", .type = JD_STR, .off = offsetof(struct op, verb)},
    {.name = NULL},
};

static void
test_decode_list(void **state)
{
	static const char body[] =
	    "[{\"KV\":{\"Name\":\"a\"},\"Verb\":\"set\"},null,"
	    "{\"kv\":{\"CheckID\":\"b\"}}]";
	struct jd_list l;
	struct errbuf eb;
	struct op *o;
	yajl_val tree;

	(void)state;
	memset(&l, 0, sizeof(l));
	tree = json_parse(body, strlen(body), &eb);
	assert_non_null(tree);
	assert_int_equal(jd_decode_list(tree, op_fields, sizeof(struct op), &l,
			     &eb),
	    0);
	yajl_tree_free(tree);
	assert_true(l.set);
	assert_int_equal(l.n, 3);
	o = l.v;
	assert_string_equal(o[0].kv.name, "a");
	assert_string_equal(o[0].verb, "set");
	assert_null(o[1].verb);
	assert_string_equal(o[2].kv.id, "b");
	/* decoding again replaces the list */
	tree = json_parse("[]", 2, &eb);
	assert_int_equal(jd_decode_list(tree, op_fields, sizeof(struct op), &l,
			     &eb),
	    0);
	yajl_tree_free(tree);
	assert_true(l.set);
	assert_int_equal(l.n, 0);

	tree = json_parse("[{},{\"KV\":{\"Name\":1}}]", 22, &eb);
	assert_non_null(tree);
	assert_int_equal(jd_decode_list(tree, op_fields, sizeof(struct op), &l,
			     &eb),
	    -EINVAL);
	assert_string_equal(eb.msg,
	    "Request decode failed: [1].KV.Name: expected string, got number");
	jd_free_list(op_fields, sizeof(struct op), &l);
	assert_null(l.v);
	assert_false(l.set);
	yajl_tree_free(tree);

	tree = json_parse("[1]", 3, &eb);
	assert_int_equal(jd_decode_list(tree, op_fields, sizeof(struct op), &l,
			     &eb),
	    -EINVAL);
	assert_string_equal(eb.msg,
	    "Request decode failed: [0]: expected object, got number");
	jd_free_list(op_fields, sizeof(struct op), &l);
	yajl_tree_free(tree);

	tree = json_parse("{}", 2, &eb);
	assert_int_equal(jd_decode_list(tree, op_fields, sizeof(struct op), &l,
			     &eb),
	    -EINVAL);
	assert_string_equal(eb.msg,
	    "Request decode failed: expected array, got object");
	yajl_tree_free(tree);
	assert_int_equal(jd_decode_list(NULL, op_fields, sizeof(struct op), &l,
			     &eb),
	    -EINVAL);
	assert_string_equal(eb.msg,
	    "Request decode failed: expected array, got null");
	jd_free_list(op_fields, sizeof(struct op), &l);
	jd_free_list(op_fields, sizeof(struct op), NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_keys_case_insensitive),
	    cmocka_unit_test(test_aliases),
	    cmocka_unit_test(test_unknown_keys),
	    cmocka_unit_test(test_duplicates),
	    cmocka_unit_test(test_null_absent),
	    cmocka_unit_test(test_present_flags),
	    cmocka_unit_test(test_types_happy),
	    cmocka_unit_test(test_type_errors),
	    cmocka_unit_test(test_errors_direct),
	    cmocka_unit_test(test_long_path),
	    cmocka_unit_test(test_duration_parse),
	    cmocka_unit_test(test_base64),
	    cmocka_unit_test(test_base64_roundtrip),
	    cmocka_unit_test(test_base64_large),
	    cmocka_unit_test(test_bytes_field),
	    cmocka_unit_test(test_nested),
	    cmocka_unit_test(test_free_partial),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_decode_text),
	    cmocka_unit_test(test_decode_list),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
