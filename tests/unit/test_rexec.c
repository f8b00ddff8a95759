/* test_rexec.c - unit tests for checkd/rexec.c's pure parts: the event
 * payload and job spec decoders, key building, the node/service/tag
 * filters and the output chunker. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../checkd/local.h"
#include "../../checkd/rexec.h"
#include "ipc_msg.h"

static int
ev_parse(const char *json, char **prefix, char **session)
{
	struct errbuf eb;

	return rexec_event_parse(json, strlen(json), prefix, session, &eb);
}

static void
test_event_payload(void **state)
{
	static const char *const bad[] = {
	    "", "[]", "{\"Prefix\":\"_rexec\"}", "{\"Session\":\"s\"}",
	    "{\"Prefix\":\"\",\"Session\":\"s\"}",
	    "{\"Prefix\":\"_rexec\",\"Session\":\"a/b\"}",
	    "{\"Prefix\":\"_rexec\",\"Session\":\"..\"}",
	    "{\"Prefix\":\"../x\",\"Session\":\"s\"}",
	    "{\"Prefix\":\"_rexec\",\"Session\":5}", NULL,
	};
	char *p, *s;
	size_t i;

	(void)state;
	assert_int_equal(ev_parse("{\"Prefix\":\"_rexec\",\"Session\":"
	    "\"1d020ab9-f2e7-4756-997a-77f5fc03f89f\"}", &p, &s), 0);
	assert_string_equal(p, "_rexec");
	assert_string_equal(s, "1d020ab9-f2e7-4756-997a-77f5fc03f89f");
	free(p);
	free(s);
	/* Go's encoding/json matches field names in any case */
	assert_int_equal(ev_parse("{\"prefix\":\"x/y\",\"SESSION\":\"s\"}", &p,
	    &s), 0);
	assert_string_equal(p, "x/y");
	assert_string_equal(s, "s");
	free(p);
	free(s);
	for (i = 0; bad[i] != NULL; i++) {
		assert_int_equal(ev_parse(bad[i], &p, &s), -EINVAL);
		assert_null(p);
		assert_null(s);
	}
}

static int
spec(const char *json, struct rexec_spec *s)
{
	struct errbuf eb;

	return rexec_spec_parse(json, strlen(json), s, &eb);
}

static void
test_job_spec(void **state)
{
	static const char *const bad[] = {
	    "", "5", "{}", "{\"Command\":\"\",\"Wait\":1}",
	    "{\"Args\":[]}", "{\"Args\":[\"\"]}", "{\"Args\":[\"a\",1]}",
	    "{\"Script\":\"%%%\"}", NULL,
	};
	struct rexec_spec s;
	size_t i;

	(void)state;
	/* what `cairn exec` writes (the Script null of older Consuls) */
	assert_int_equal(spec("{\"Command\":\"echo hello; exit 3\","
	    "\"Script\":null,\"Wait\":2000000000}", &s), 0);
	assert_string_equal(s.command, "echo hello; exit 3");
	assert_null(s.args);
	assert_null(s.script);
	assert_int_equal(s.wait_ns, 2000000000LL);
	rexec_spec_free(&s);
	/* -shell=false: Args, Command omitted (omitempty) */
	assert_int_equal(spec("{\"Args\":[\"uptime\",\"-p\"],\"Wait\":1}",
	    &s), 0);
	assert_null(s.command);
	assert_string_equal(s.args[0], "uptime");
	assert_string_equal(s.args[1], "-p");
	assert_null(s.args[2]);
	rexec_spec_free(&s);
	/* a script from stdin: Go's []byte is base64 */
	assert_int_equal(spec("{\"script\":\"IyEvYmluL3NoCmVjaG8gaGk=\","
	    "\"wait\":5}", &s), 0);
	assert_int_equal(s.script_len, 17);
	assert_memory_equal(s.script, "#!/bin/sh\necho hi", 17);
	assert_int_equal(s.wait_ns, 5);
	rexec_spec_free(&s);
	for (i = 0; bad[i] != NULL; i++) {
		assert_int_equal(spec(bad[i], &s), -EINVAL);
		rexec_spec_free(&s);
	}
}

static void
test_keys(void **state)
{
	static const struct {
		const char *prefix, *session, *node, *suffix, *want;
	} t[] = {
	    {"_rexec", "s", "n", "ack", "_rexec/s/n/ack"},
	    {"_rexec", "s", "n", "out/0000a", "_rexec/s/n/out/0000a"},
	    {"/a//b/", "s", "n", "exit", "a/b/s/n/exit"},
	    {"_rexec", "s", "job", NULL, "_rexec/s/job"},
	    {"p", "", "", "", "p"},
	};
	size_t i;
	char *k;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		k = rexec_key(t[i].prefix, t[i].session, t[i].node,
		    t[i].suffix);
		assert_string_equal(k, t[i].want);
		free(k);
	}
}

static void
test_filters(void **state)
{
	struct lservice web, db;
	char *web_tags[] = {"v1", "primary"};
	struct ipc_user_event ev;

	(void)state;
	memset(&web, 0, sizeof(web));
	memset(&db, 0, sizeof(db));
	web.def.id = "web-1";
	web.def.name = "web";
	web.def.tags.v = web_tags;
	web.def.tags.n = 2;
	web.next = &db;
	db.def.id = "db";
	db.def.name = "db";
	memset(&ev, 0, sizeof(ev));

	assert_true(rexec_wanted(&ev, "node1", &web));
	ev.node_filter = "^node[0-9]$";
	assert_true(rexec_wanted(&ev, "node1", NULL));
	assert_false(rexec_wanted(&ev, "node12", NULL));
	ev.node_filter = "(";	/* does not compile: matches nothing */
	assert_false(rexec_wanted(&ev, "node1", &web));
	ev.node_filter = "";
	ev.service_filter = "^web";
	assert_true(rexec_wanted(&ev, "n", &web));
	assert_false(rexec_wanted(&ev, "n", &db));
	assert_false(rexec_wanted(&ev, "n", NULL));
	/* by ID, as Consul's agent scans its services */
	ev.service_filter = "^web$";
	assert_false(rexec_wanted(&ev, "n", &web));
	ev.service_filter = "db|web";
	ev.tag_filter = "^prim";
	assert_true(rexec_wanted(&ev, "n", &web));
	ev.tag_filter = "^v2$";
	assert_false(rexec_wanted(&ev, "n", &web));
}

static void
test_output_pieces(void **state)
{
	struct rexec_out o;
	struct rexec_piece *pc;
	char big[10000];
	size_t i;

	(void)state;
	memset(&o, 0, sizeof(o));
	for (i = 0; i < sizeof(big); i++)
		big[i] = (char)('a' + i % 26);
	/* full pieces are cut as bytes come, in order */
	rexec_out_put(&o, big, 3000);
	assert_int_equal(o.npieces, 0);
	rexec_out_put(&o, big + 3000, sizeof(big) - 3000);
	assert_int_equal(o.npieces, 2);
	assert_int_equal(o.tail_len, sizeof(big) - 2 * REXEC_CHUNK);
	rexec_out_heartbeat(&o);	/* after the bytes before it */
	rexec_out_flush(&o);
	rexec_out_flush(&o);		/* nothing left: no piece */
	assert_int_equal(o.npieces, 4);
	pc = rexec_out_pop(&o);
	assert_int_equal(pc->n, REXEC_CHUNK);
	assert_memory_equal(pc->p, big, REXEC_CHUNK);
	rexec_piece_free(pc);
	pc = rexec_out_pop(&o);
	assert_memory_equal(pc->p, big + REXEC_CHUNK, REXEC_CHUNK);
	rexec_piece_free(pc);
	pc = rexec_out_pop(&o);
	assert_int_equal(pc->n, 0);
	assert_null(pc->p);
	rexec_piece_free(pc);
	pc = rexec_out_pop(&o);
	assert_int_equal(pc->n, sizeof(big) - 2 * REXEC_CHUNK);
	assert_memory_equal(pc->p, big + 2 * REXEC_CHUNK, pc->n);
	rexec_piece_free(pc);
	assert_null(rexec_out_pop(&o));
	assert_null(o.tail);
	/* clear drops both the pieces and the bytes not cut yet */
	rexec_out_put(&o, big, REXEC_CHUNK + 1);
	rexec_out_clear(&o);
	assert_int_equal(o.npieces, 0);
	assert_int_equal(o.tail_len, 0);
	assert_null(rexec_out_pop(&o));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_event_payload),
	    cmocka_unit_test(test_job_spec),
	    cmocka_unit_test(test_keys),
	    cmocka_unit_test(test_filters),
	    cmocka_unit_test(test_output_pieces),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
