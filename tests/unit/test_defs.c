/* test_defs.c - unit tests for checkd/defs.c (service and check
 * definitions: decoding, defaults, embedded check naming, validation). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../checkd/defs.h"

static int
svc(const char *json, struct service_def *sd, struct errbuf *eb)
{
	return service_def_parse(json, strlen(json), sd, eb);
}

static int
chk(const char *json, struct check_def *cd, struct errbuf *eb)
{
	return check_def_parse(json, strlen(json), false, cd, eb);
}

static struct check_def *
nth(struct service_def *sd, size_t i)
{
	return (struct check_def *)sd->checks.v + i;
}

static void
test_service_defaults_and_embedded_ids(void **state)
{
	struct service_def sd;
	struct errbuf eb;

	(void)state;
	/* python-consul's lowercase keys; one Check: "service:<id>" */
	assert_int_equal(svc("{\"name\":\"web\",\"port\":80,\"check\":"
	    "{\"ttl\":\"30s\"}}", &sd, &eb), 0);
	assert_string_equal(sd.id, "web");
	assert_int_equal(sd.weights.passing, 1);
	assert_int_equal(sd.weights.warning, 1);
	assert_true(sd.has_check);
	assert_string_equal(sd.check.cid, "service:web");
	assert_string_equal(sd.check.service_id, "web");
	assert_string_equal(sd.check.name, "Service 'web' check");
	assert_string_equal(sd.check.status, "critical");
	assert_int_equal(sd.check.kind, CK_TTL);
	service_def_free(&sd);

	/* several: numbered from 1; a given CheckID wins */
	assert_int_equal(svc("{\"Name\":\"db\",\"ID\":\"db-1\",\"Checks\":["
	    "{\"TCP\":\"127.0.0.1:5432\",\"Interval\":\"100ms\"},"
	    "{\"CheckID\":\"mine\",\"TTL\":\"5s\",\"Status\":\"passing\"}]}",
	    &sd, &eb), 0);
	assert_int_equal(sd.checks.n, 2);
	assert_string_equal(nth(&sd, 0)->cid, "service:db-1:1");
	assert_int_equal(nth(&sd, 0)->interval_ns, CHECK_MIN_INTERVAL_NS);
	assert_string_equal(nth(&sd, 1)->cid, "mine");
	assert_string_equal(nth(&sd, 1)->status, "passing");
	service_def_free(&sd);

	/* one element in Checks is not numbered (Consul) */
	assert_int_equal(svc("{\"Name\":\"x\",\"Checks\":[{\"TTL\":\"5s\"}]}",
	    &sd, &eb), 0);
	assert_string_equal(nth(&sd, 0)->cid, "service:x");
	service_def_free(&sd);
}

static void
test_service_fields(void **state)
{
	struct service_def sd;
	struct errbuf eb;

	(void)state;
	assert_int_equal(svc("{\"Name\":\"w\",\"Tags\":[\"a\"],\"Meta\":"
	    "{\"k\":\"v\"},\"enable_tag_override\":true,\"Weights\":"
	    "{\"Passing\":5,\"Warning\":2},\"tagged_addresses\":{\"lan\":"
	    "{\"address\":\"10.0.0.1\",\"port\":81}}}", &sd, &eb), 0);
	assert_true(sd.enable_tag_override);
	assert_int_equal(sd.weights.passing, 5);
	assert_string_equal(sd.tagged[0], "lan=10.0.0.1:81");
	assert_null(sd.tagged[1]);
	assert_string_equal(sd.meta.k[0], "k");
	service_def_free(&sd);
}

static void
test_service_errors(void **state)
{
	struct service_def sd;
	struct errbuf eb;

	(void)state;
	assert_int_equal(svc("{\"Port\":1}", &sd, &eb), -EINVAL);
	assert_string_equal(eb.msg, "Missing service name");
	service_def_free(&sd);
	assert_int_equal(svc("{\"Name\":\"x\",\"Port\":70000}", &sd, &eb),
	    -EINVAL);
	service_def_free(&sd);
	assert_int_equal(svc("{\"Name\":\"x\",\"Port\":\"80\"}", &sd, &eb),
	    -EINVAL);
	assert_non_null(strstr(eb.msg, "Port"));
	service_def_free(&sd);
	assert_int_equal(svc("{\"Name\":\"x\",\"Check\":{\"HTTP\":"
	    "\"http://a\"}}", &sd, &eb), -EINVAL);
	assert_non_null(strstr(eb.msg, "Interval"));
	service_def_free(&sd);
	assert_int_equal(svc("{\"Name\":", &sd, &eb), -EINVAL);
	service_def_free(&sd);
	assert_int_equal(svc("[]", &sd, &eb), -EINVAL);
	service_def_free(&sd);
	assert_int_equal(svc("{\"Name\":\"x\",\"Weights\":{\"Passing\":0}}",
	    &sd, &eb), -EINVAL);
	service_def_free(&sd);
}

static void
test_check_kinds(void **state)
{
	struct check_def cd;
	struct errbuf eb;

	(void)state;
	assert_int_equal(chk("{\"Name\":\"h\",\"HTTP\":\"https://x/\","
	    "\"Interval\":\"10s\",\"Header\":{\"A\":[\"1\",\"2\"],\"B\":[]},"
	    "\"tls_skip_verify\":true}", &cd, &eb), 0);
	assert_int_equal(cd.kind, CK_HTTP);
	assert_string_equal(cd.cid, "h");
	assert_string_equal(cd.headers[0], "A: 1");
	assert_string_equal(cd.headers[1], "A: 2");
	assert_null(cd.headers[2]);
	assert_true(cd.tls_skip_verify);
	check_def_free(&cd);

	assert_int_equal(chk("{\"Name\":\"s\",\"Args\":[\"true\"],"
	    "\"Interval\":\"1m\",\"DeregisterCriticalServiceAfter\":\"10s\"}",
	    &cd, &eb), 0);
	assert_int_equal(cd.kind, CK_SCRIPT);
	assert_int_equal(cd.dcsa_ns, CHECK_MIN_DEREG_NS);
	check_def_free(&cd);

	assert_int_equal(chk("{\"name\":\"a\",\"id\":\"a1\",\"alias_service\":"
	    "\"web\"}", &cd, &eb), 0);
	assert_int_equal(cd.kind, CK_ALIAS);
	assert_string_equal(cd.cid, "a1");
	check_def_free(&cd);

	assert_int_equal(chk("{\"Name\":\"u\",\"UDP\":\"127.0.0.1:53\","
	    "\"Interval\":\"5s\"}", &cd, &eb), 0);
	assert_int_equal(cd.kind, CK_UDP);
	check_def_free(&cd);
}

static void
test_check_errors(void **state)
{
	static const char *const bad[] = {
	    "{\"TTL\":\"1s\"}",				/* no name */
	    "{\"Name\":\"n\"}",				/* no type */
	    "{\"Name\":\"n\",\"TTL\":\"1s\",\"TCP\":\"a:1\",\"Interval\":\"1s\"}",
	    "{\"Name\":\"n\",\"GRPC\":\"a:1\",\"Interval\":\"1s\"}",
	    "{\"Name\":\"n\",\"HTTP\":\"ftp://x\",\"Interval\":\"1s\"}",
	    "{\"Name\":\"n\",\"TTL\":\"-1s\"}",
	    "{\"Name\":\"n\",\"TTL\":\"soon\"}",
	    "{\"Name\":\"n\",\"TTL\":\"1s\",\"Status\":\"ok\"}",
	    "{\"Name\":\"n\",\"HTTP\":\"http://x\",\"Interval\":\"1s\","
	    "\"Header\":{\"A\":[1]}}",
	    "{\"Name\":\"n\",\"HTTP\":\"http://x\",\"Interval\":\"1s\","
	    "\"Header\":{\"A\":[\"x\\r\\nInjected: 1\"]}}",
	    NULL,
	};
	struct check_def cd;
	struct errbuf eb;
	size_t i;

	(void)state;
	for (i = 0; bad[i]; i++) {
		assert_int_equal(chk(bad[i], &cd, &eb), -EINVAL);
		check_def_free(&cd);
	}
	/* status only: allowed for maintenance */
	assert_int_equal(check_def_parse("{\"Name\":\"m\"}", 12, true, &cd,
	    &eb), 0);
	assert_int_equal(cd.kind, CK_NONE);
	check_def_free(&cd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_service_defaults_and_embedded_ids),
	    cmocka_unit_test(test_service_fields),
	    cmocka_unit_test(test_service_errors),
	    cmocka_unit_test(test_check_kinds),
	    cmocka_unit_test(test_check_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
