/* test_cfg.c - unit tests for common/cfg.c and common/json.c. */
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cfg.h"
#include "json.h"

/* --- fixtures ------------------------------------------------------------ */

static char tdir[64];
static char *paths[128]; /* tpath results, freed by teardown_dir */
static size_t npaths;

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int
setup_dir(void **state)
{
	(void)state;
	snprintf(tdir, sizeof(tdir), "/tmp/cairn-test-cfg.XXXXXX");
	return mkdtemp(tdir) == NULL ? -1 : 0;
}

static int
teardown_dir(void **state)
{
	(void)state;
	while (npaths > 0)
		free(paths[--npaths]);
	return nftw(tdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* tpath - "<tdir>/<name>", valid until the test's teardown. */

static const char *
tpath(const char *name)
{
	char *p;

	assert_true(npaths < sizeof(paths) / sizeof(paths[0]));
	assert_true(asprintf(&p, "%s/%s", tdir, name) > 0);
	paths[npaths++] = p;
	return p;
}

/* wfile - write text to <tdir>/<name>; returns the path (see tpath). */
static const char *
wfile(const char *name, const char *text)
{
	const char *p = tpath(name);
	FILE *f = fopen(p, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	return p;
}

static void
mdir(const char *name)
{
	assert_int_equal(mkdir(tpath(name), 0700), 0);
}

static int
load_v(struct cairn_conf *c, struct errbuf *eb, const char *const *args)
{
	int n = 0;

	while (args[n] != NULL)
		n++;
	return cfg_load(n, (char *const *)args, c, eb);
}

#define LOAD(c, eb, ...)                                                       \
	load_v((c), (eb), (const char *const[]){__VA_ARGS__, NULL})

static bool
is_zero(const struct cairn_conf *c)
{
	static const struct cairn_conf zero;

	return memcmp(c, &zero, sizeof(zero)) == 0;
}

/* expect_fail - cfg_load(args) fails with rc and exactly msg, c zeroed. */
static void
expect_fail_v(int rc, const char *msg, const char *const *args)
{
	struct cairn_conf c;
	struct errbuf eb;

	memset(&c, 0xa5, sizeof(c));
	assert_int_equal(load_v(&c, &eb, args), rc);
	assert_string_equal(eb.msg, msg);
	assert_true(is_zero(&c));
}

#define EXPECT_FAIL(rc, msg, ...)                                              \
	expect_fail_v((rc), (msg), (const char *const[]){__VA_ARGS__, NULL})

static bool
has(const struct cdc_strlist *l, size_t i, const char *s)
{
	return i < l->n && strcmp(l->v[i], s) == 0;
}

static const char *
map_get(const struct cfg_map *m, const char *k)
{
	size_t i;

	for (i = 0; i < m->n; i++)
		if (strcmp(m->keys[i], k) == 0)
			return m->vals[i];
	return NULL;
}

/* --- defaults and dev mode ----------------------------------------------- */

static void
test_defaults(void **state)
{
	struct cairn_conf c;
	struct errbuf eb;
	char host[256], rundir[300];

	(void)state;
	assert_int_equal(LOAD(&c, &eb, "-data-dir", tdir), 0);
	assert_int_equal(gethostname(host, sizeof(host)), 0);
	host[sizeof(host) - 1] = '\0';
	assert_string_equal(c.node_name, host);
	assert_string_equal(c.datacenter, "dc1");
	assert_string_equal(c.node_id, "");
	assert_int_equal(c.node_meta.n, 0);
	assert_string_equal(c.primary_datacenter, "");
	assert_false(c.dev);
	assert_false(c.server);
	assert_false(c.bootstrap);
	assert_int_equal(c.bootstrap_expect, 0);
	assert_string_equal(c.data_dir, tdir);
	snprintf(rundir, sizeof(rundir), "%s/run", tdir);
	assert_string_equal(c.run_dir, rundir);
	assert_string_equal(c.bind_addr, "0.0.0.0");
	assert_string_equal(c.advertise_addr, "");
	assert_string_equal(c.advertise_addr_wan, "");
	assert_string_equal(c.client_addr, "127.0.0.1");
	assert_string_equal(c.serf_lan_bind, "");
	assert_string_equal(c.addr_http, "");
	assert_int_equal(c.port_dns, 8600);
	assert_int_equal(c.port_http, 8500);
	assert_int_equal(c.port_https, -1);
	assert_int_equal(c.port_grpc, -1);
	assert_int_equal(c.port_serf_lan, 8301);
	assert_int_equal(c.port_serf_wan, 8302);
	assert_int_equal(c.port_server, 8300);
	assert_int_equal(c.start_join.n + c.retry_join.n, 0);
	assert_int_equal(c.retry_interval_ms, 30000);
	assert_int_equal(c.retry_interval_wan_ms, 30000);
	assert_int_equal(c.retry_max, 0);
	assert_false(c.rejoin_after_leave);
	assert_int_equal(c.reconnect_timeout_ms, 72ULL * 3600 * 1000);
	assert_string_equal(c.encrypt, "");
	assert_true(c.encrypt_verify_incoming);
	assert_true(c.encrypt_verify_outgoing);
	assert_false(c.verify_incoming);
	assert_string_equal(c.domain, "consul.");
	assert_string_equal(c.alt_domain, "");
	assert_int_equal(c.recursors.n, 0);
	assert_true(c.dns_allow_stale);
	assert_int_equal(c.dns_max_stale_ms, 87600ULL * 3600 * 1000);
	assert_int_equal(c.dns_node_ttl_ms, 0);
	assert_int_equal(c.dns_recursor_timeout_ms, 2000);
	assert_int_equal(c.dns_udp_answer_limit, 3);
	assert_int_equal(c.dns_a_record_limit, 0);
	assert_int_equal(c.services.n + c.checks.n + c.watches.n, 0);
	assert_false(c.enable_script_checks);
	assert_int_equal(c.check_update_interval_ms, 300000);
	assert_true(c.disable_remote_exec);
	assert_false(c.ui);
	assert_string_equal(c.ui_dir, "");
	assert_int_equal(c.http_max_conns_per_client, 200);
	assert_int_equal(c.kv_max_value_size, 524288);
	assert_int_equal(c.txn_max_req_len, 524288);
	assert_int_equal(c.max_query_time_ms, 600000);
	assert_int_equal(c.default_query_time_ms, 300000);
	assert_int_equal(c.session_ttl_min_ms, 10000);
	assert_int_equal(c.raft_multiplier, 5);
	assert_int_equal(c.protocol, 2);
	assert_int_equal(c.raft_protocol, 3);
	assert_false(c.acl_enabled);
	assert_string_equal(c.acl_default_policy, "allow");
	assert_string_equal(c.acl_down_policy, "extend-cache");
	assert_string_equal(c.acl_token_initial_management, "");
	assert_string_equal(c.log_level, "INFO");
	assert_string_equal(c.pid_file, "");
	assert_int_equal(c.argc, 2);
	assert_string_equal(c.argv[0], "-data-dir");
	assert_string_equal(c.argv[1], tdir);
	assert_null(c.argv[2]);
	cfg_free(&c);
	assert_true(is_zero(&c));
	cfg_free(&c);  /* twice is fine */
	cfg_free(NULL);
}

static void
test_dev_defaults(void **state)
{
	struct cairn_conf c;
	struct errbuf eb;
	char rundir[64];

	(void)state;
	assert_int_equal(LOAD(&c, &eb, "-dev"), 0);
	assert_true(c.dev);
	assert_true(c.server);
	assert_true(c.bootstrap);
	assert_true(c.ui);
	assert_string_equal(c.log_level, "DEBUG");
	assert_string_equal(c.bind_addr, "127.0.0.1");
	assert_string_equal(c.advertise_addr, "127.0.0.1");
	assert_string_equal(c.client_addr, "127.0.0.1");
	assert_string_equal(c.data_dir, "");
	snprintf(rundir, sizeof(rundir), "/tmp/cairn-dev-%u/run",
	    (unsigned)getuid());
	assert_string_equal(c.run_dir, rundir);
	cfg_free(&c);

	/* -dev=false is no dev mode at all */
	EXPECT_FAIL(-EINVAL, "data_dir: required (or use -dev)",
	    "-dev=false");
	/* flags override dev defaults */
	assert_int_equal(LOAD(&c, &eb, "-dev", "-log-level", "warn",
	    "-data-dir", tdir), 0);
	assert_string_equal(c.log_level, "warn");
	assert_string_equal(c.data_dir, tdir);
	cfg_free(&c);
}

/* --- precedence ---------------------------------------------------------- */

static void
test_precedence(void **state)
{
	struct cairn_conf c;
	struct errbuf eb;
	const char *f1, *f2;

	(void)state;
	f1 = wfile("one.json",
	    "{\"datacenter\": \"one\", \"node_name\": \"n1\","
	    " \"log_level\": \"warn\", \"retry_join\": [\"a\"],"
	    " \"node_meta\": {\"k1\": \"f1\", \"k2\": \"f1\"},"
	    " \"ports\": {\"http\": 1001, \"dns\": 1002},"
	    " \"service\": {\"name\": \"s1\"}}");
	mdir("d");
	wfile("d/20-b.json",
	    "{\"datacenter\": \"dir-b\", \"retry_join\": [\"c\"],"
	    " \"node_meta\": {\"k2\": \"b\"}, \"ports\": {\"dns\": 1003}}");
	wfile("d/10-a.json",
	    "{\"datacenter\": \"dir-a\", \"retry_join\": [\"b\"],"
	    " \"node_meta\": {\"k3\": \"a\"}}");
	wfile("d/30-ignored.hcl", "this is not json");
	wfile("d/40-ignored.json.bak", "{ nor is this");
	mdir("d/50-sub.json"); /* a directory: not recursed into */
	wfile("d/50-sub.json/x.json", "{\"bogus\": true}");
	f2 = wfile("two.json",
	    "{\"datacenter\": \"two\", \"retry_join\": [\"d\"],"
	    " \"node_meta\": {\"k1\": \"f2\"},"
	    " \"services\": [{\"name\": \"s2\"}, {\"name\": \"s3\"}]}");

	/* flags win over files wherever they appear on the command line */
	assert_int_equal(LOAD(&c, &eb, "-datacenter", "flag", "-dev",
	    "-config-file", f1, "-config-dir", tpath("d"), "-config-file", f2,
	    "-retry-join", "e", "-node-meta", "k4:flag", "-http-port", "1004",
	    "-data-dir", tdir), 0);
	assert_string_equal(c.datacenter, "flag");	/* flag */
	assert_string_equal(c.node_name, "n1");		/* file 1 */
	assert_string_equal(c.log_level, "warn");	/* file 1 over dev */
	assert_true(c.server);				/* dev */
	assert_int_equal(c.retry_join.n, 5);		/* lists append */
	assert_true(has(&c.retry_join, 0, "a"));
	assert_true(has(&c.retry_join, 1, "b"));
	assert_true(has(&c.retry_join, 2, "c"));
	assert_true(has(&c.retry_join, 3, "d"));
	assert_true(has(&c.retry_join, 4, "e"));
	assert_int_equal(c.node_meta.n, 4);		/* maps merge */
	assert_string_equal(map_get(&c.node_meta, "k1"), "f2");
	assert_string_equal(map_get(&c.node_meta, "k2"), "b");
	assert_string_equal(map_get(&c.node_meta, "k3"), "a");
	assert_string_equal(map_get(&c.node_meta, "k4"), "flag");
	assert_string_equal(c.node_meta.keys[0], "k1"); /* insertion order */
	assert_int_equal(c.port_http, 1004);
	assert_int_equal(c.port_dns, 1003);
	assert_int_equal(c.services.n, 3);
	assert_true(has(&c.services, 0, "{\"name\":\"s1\"}"));
	assert_true(has(&c.services, 2, "{\"name\":\"s3\"}"));
	cfg_free(&c);

	/* without the flag, the last file wins; dir files go in name order */
	assert_int_equal(LOAD(&c, &eb, "-config-file", f1, "-config-dir",
	    tpath("d"), "-data-dir", tdir), 0);
	assert_string_equal(c.datacenter, "dir-b");
	assert_string_equal(c.log_level, "warn");
	cfg_free(&c);
	assert_int_equal(LOAD(&c, &eb, "-config-dir", tpath("d"),
	    "-config-file", f1, "-data-dir", tdir), 0);
	assert_string_equal(c.datacenter, "one");
	assert_true(has(&c.retry_join, 0, "b"));
	assert_true(has(&c.retry_join, 2, "a"));
	cfg_free(&c);
}

static void
test_config_dir(void **state)
{
	struct cairn_conf c;
	struct errbuf eb;
	char want[300];

	(void)state;
	mdir("cd");
	wfile("cd/b.json", "{\"node_name\": \"from-b\"}");
	wfile("cd/a.json", "{\"node_name\": \"from-a\", \"data_dir\": \"/x\"}");
	wfile("cd/c.txt", "garbage");
	wfile("cd/a.json~", "garbage");
	assert_int_equal(LOAD(&c, &eb, "-config-dir", tpath("cd")), 0);
	assert_string_equal(c.node_name, "from-b");
	assert_string_equal(c.data_dir, "/x");
	cfg_free(&c);

	/* an empty dir is fine */
	mdir("empty");
	assert_int_equal(LOAD(&c, &eb, "-config-dir", tpath("empty"),
	    "-dev"), 0);
	cfg_free(&c);

	/* a missing dir is not */
	snprintf(want, sizeof(want), "%s: No such file or directory",
	    tpath("nodir"));
	EXPECT_FAIL(-ENOENT, want, "-dev", "-config-dir", tpath("nodir"));

	/* errors in a dir file name that file */
	wfile("cd/c.json", "{\"ports\": {\"http\": \"x\"}}");
	snprintf(want, sizeof(want),
	    "%s: ports.http: expected integer, got string", tpath("cd/c.json"));
	EXPECT_FAIL(-EINVAL, want, "-dev", "-config-dir", tpath("cd"));
}

/* --- error messages ------------------------------------------------------ */

static void
test_file_errors(void **state)
{
	static const struct {
		const char *json;
		const char *msg; /* after "<path>: " */
		bool prefix;	 /* msg is only a prefix */
	} t[] = {
	    {"{\"data_dir\": \"/d\", \"bogus\": 1}",
		"bogus: unknown configuration key", false},
	    {"{\"data_dir\": \"/d\", \"ports\": {\"htp\": 1}}",
		"ports.htp: unknown configuration key", false},
	    {"{\"data_dir\": \"/d\", \"ports.http\": 1}",
		"ports.http: unknown configuration key", false},
	    {"{\"data_dir\": \"/d\", \"acl\": {\"tokens.agent\": \"\"}}",
		"acl.tokens.agent: unknown configuration key", false},
	    {"{\"data_dir\": \"/d\", \"acl\": {\"tokens\": {\"x\": \"\"}}}",
		"acl.tokens.x: unknown configuration key", false},
	    {"{\"data_dir\": \"/d\", \"ports\": {\"http\": \"80\"}}",
		"ports.http: expected integer, got string", false},
	    {"{\"data_dir\": \"/d\", \"ports\": 8500}",
		"ports: expected object, got number", false},
	    {"{\"data_dir\": \"/d\", \"server\": \"yes\"}",
		"server: expected boolean, got string", false},
	    {"{\"data_dir\": 5}", "data_dir: expected string, got number",
		false},
	    {"{\"data_dir\": null}", "data_dir: expected string, got null",
		false},
	    {"{\"data_dir\": \"/d\", \"ports\": {\"http\": 70000}}",
		"ports.http: 70000 out of range -1..65535", false},
	    {"{\"data_dir\": \"/d\", \"ports\": {\"http\": -2}}",
		"ports.http: -2 out of range -1..65535", false},
	    {"{\"data_dir\": \"/d\", \"ports\": {\"http\": 99999999999999999999}}",
		"ports.http: 99999999999999999999 out of range -1..65535",
		false},
	    {"{\"data_dir\": \"/d\", \"ports\": {\"http\": 1.5}}",
		"ports.http: expected integer, got number", false},
	    {"{\"data_dir\": \"/d\", \"performance\": {\"raft_multiplier\": 11}}",
		"performance.raft_multiplier: 11 out of range 1..10", false},
	    {"{\"data_dir\": \"/d\", \"retry_interval\": \"5 minutes\"}",
		"retry_interval: invalid duration \"5 minutes\"", false},
	    {"{\"data_dir\": \"/d\", \"retry_interval\": 30}",
		"retry_interval: expected duration string, got number", false},
	    {"{\"data_dir\": \"/d\", \"dns_config\": {\"max_stale\": \"-1s\"}}",
		"dns_config.max_stale: invalid duration \"-1s\"", false},
	    {"{\"data_dir\": \"/d\", \"reconnect_timeout\": \"1h\"}",
		"reconnect_timeout: 1h is below the minimum of 8h", false},
	    {"{\"data_dir\": \"/d\", \"retry_join\": [\"a\", 1]}",
		"retry_join[1]: expected string, got number", false},
	    {"{\"data_dir\": \"/d\", \"retry_join\": \"a\"}",
		"retry_join: expected array of strings, got string", false},
	    {"{\"data_dir\": \"/d\", \"node_meta\": {\"a\": 1}}",
		"node_meta.a: expected string, got number", false},
	    {"{\"data_dir\": \"/d\", \"dns_config\": {\"service_ttl\": "
	     "{\"web\": \"soon\"}}}",
		"dns_config.service_ttl.web: invalid duration \"soon\"", false},
	    {"{\"data_dir\": \"/d\", \"services\": [{\"name\": \"a\"}, 3]}",
		"services[1]: expected object, got number", false},
	    {"{\"data_dir\": \"/d\", \"service\": []}",
		"service: expected object, got array", false},
	    {"{\"data_dir\": \"/d\", \"checks\": {}}",
		"checks: expected array of objects, got object", false},
	    {"{\"data_dir\": \"/d\", \"encrypt\": \"not base64!\"}",
		"encrypt: not valid base64", false},
	    {"{\"data_dir\": \"/d\", \"encrypt\": \"c2hvcnQ=\"}",
		"encrypt: key is 5 bytes; must be 16, 24 or 32", false},
	    {"{\"data_dir\": \"/d\", \"log_level\": \"loud\"}",
		"log_level: invalid log level \"loud\" (trace, debug, info, "
		"warn, error)",
		false},
	    {"{\"data_dir\": \"/d\", \"server\": true, \"bootstrap\": true,"
	     " \"bootstrap_expect\": 3}",
		"bootstrap_expect: cannot be used together with bootstrap",
		false},
	    {"{\"data_dir\": \"/d\", \"bootstrap\": true}",
		"bootstrap: requires server mode", false},
	    {"{\"data_dir\": \"/d\", \"bootstrap_expect\": 3}",
		"bootstrap_expect: requires server mode", false},
	    {"{\"data_dir\": \"/d\", \"server\": true, \"bootstrap_expect\": -1}",
		"bootstrap_expect: must be >= 1 when set (0 = off)", false},
	    {"{\"data_dir\": \"/d\", \"datacenter\": \"dc.1\"}",
		"datacenter: must contain only alphanumerics, underscores and "
		"dashes",
		false},
	    {"{\"data_dir\": \"/d\", \"node_name\": \"a b\"}",
		"node_name: must not contain whitespace or control characters",
		false},
	    {"{\"data_dir\": \"/d\", \"node_name\": \"\"}",
		"node_name: must not be empty", false},
	    {"{\"data_dir\": \"/d\", \"node_id\": \"xyz\"}",
		"node_id: \"xyz\" is not a UUID (8-4-4-4-12 hex digits)", false},
	    {"{\"data_dir\": \"/d\", \"ports\": {\"dns\": 8500}}",
		"ports.dns: port 8500 already used by ports.http", false},
	    {"{\"data_dir\": \"/d\", \"ports\": {\"grpc\": 8301}}",
		"ports.grpc: port 8301 already used by ports.serf_lan", false},
	    {"{\"data_dir\": \"/d\", \"acl\": {\"default_policy\": \"maybe\"}}",
		"acl.default_policy: must be \"allow\" or \"deny\"", false},
	    {"{\"data_dir\": \"/d\", \"node_meta\": {\"consul-x\": \"1\"}}",
		"node_meta: key \"consul-x\" uses the reserved prefix consul-",
		false},
	    {"{\"data_dir\": \"/d\", \"node_meta\": {\"a b\": \"1\"}}",
		"node_meta: key \"a b\" must be 1-128 letters, digits, '_' or "
		"'-'",
		false},
	    {"{\"data_dir\": \"\"}", "data_dir: required (or use -dev)", false},
	    {"[1, 2]", "top level must be an object", false},
	    {"\"x\"", "top level must be an object", false},
	    {"{\"data_dir\": \"/d\",}", "parse error: line 1, column ", true},
	    {"{\n  \"data_dir\": \"/d\"\n  \"server\": true\n}",
		"parse error: line 3, column ", true},
	    {"", "parse error: ", true},
	    {"{} x", "parse error: line 1, column ", true},
	};
	struct cairn_conf c;
	struct errbuf eb;
	char want[ERRBUF_LEN];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		const char *p = wfile("bad.json", t[i].json);
		int rc;

		memset(&c, 0x5a, sizeof(c));
		eb.msg[0] = '\0';
		rc = LOAD(&c, &eb, "-config-file", p);
		snprintf(want, sizeof(want), "%s: %s", p, t[i].msg);
		if (rc != -EINVAL ||
		    (t[i].prefix ? strncmp(eb.msg, want, strlen(want)) != 0
				 : strcmp(eb.msg, want) != 0))
			print_error("case %zu: rc %d, got \"%s\", want \"%s\"\n",
			    i, rc, eb.msg, want);
		assert_int_equal(rc, -EINVAL);
		if (t[i].prefix)
			assert_memory_equal(eb.msg, want, strlen(want));
		else
			assert_string_equal(eb.msg, want);
		assert_true(is_zero(&c));
	}
}

static void
test_flag_errors(void **state)
{
	char want[ERRBUF_LEN];
	const char *f;

	(void)state;
	EXPECT_FAIL(-EINVAL, "command line: -foo: unknown flag", "-foo");
	EXPECT_FAIL(-EINVAL, "command line: -foo: unknown flag", "-dev",
	    "--foo=1");
	EXPECT_FAIL(-EINVAL, "command line: ---x: bad flag syntax", "---x");
	EXPECT_FAIL(-EINVAL, "command line: -data-dir: missing value",
	    "-data-dir");
	EXPECT_FAIL(-EINVAL, "command line: -http-port: invalid integer \"abc\"",
	    "-dev", "-http-port", "abc");
	EXPECT_FAIL(-EINVAL,
	    "command line: -http-port: 70000 out of range -1..65535", "-dev",
	    "-http-port=70000");
	EXPECT_FAIL(-EINVAL,
	    "command line: -http-port: 99999999999999999999 out of range "
	    "-1..65535",
	    "-dev", "-http-port=99999999999999999999");
	EXPECT_FAIL(-EINVAL, "command line: -server: invalid boolean \"maybe\"",
	    "-dev", "-server=maybe");
	EXPECT_FAIL(-EINVAL, "command line: -dev: invalid boolean \"x\"",
	    "-dev=x");
	EXPECT_FAIL(-EINVAL,
	    "command line: -retry-interval: invalid duration \"10\"", "-dev",
	    "-retry-interval=10");
	EXPECT_FAIL(-EINVAL,
	    "command line: -hcl: HCL is not supported (use JSON config files)",
	    "-dev", "-hcl", "x = 1");
	EXPECT_FAIL(-EINVAL,
	    "command line: -config-format: unsupported format \"hcl\" (only "
	    "json)",
	    "-config-format=hcl");
	EXPECT_FAIL(-EINVAL, "command line: false: unexpected argument", "-dev",
	    "-server", "false");
	EXPECT_FAIL(-EINVAL, "command line: x: unexpected argument", "-dev",
	    "--", "x");
	EXPECT_FAIL(-EINVAL, "command line: -: unexpected argument", "-");
	EXPECT_FAIL(-EINVAL, "command line: -node-meta: expected key:value, "
			     "got \":x\"",
	    "-dev", "-node-meta", ":x");
	EXPECT_FAIL(-EINVAL, "command line: -encrypt: not valid base64", "-dev",
	    "-encrypt=abc");
	EXPECT_FAIL(-EINVAL, "command line: -log-level: invalid log level "
			     "\"noisy\" (trace, debug, info, warn, error)",
	    "-dev", "-log-level", "noisy");
	EXPECT_FAIL(-EINVAL, "data_dir: required (or use -dev)", "-server");
	EXPECT_FAIL(-EINVAL,
	    "command line: -bootstrap-expect: requires server mode",
	    "-data-dir=/d", "-bootstrap-expect=2");
	EXPECT_FAIL(-EINVAL,
	    "command line: -bootstrap-expect: cannot be used together with "
	    "bootstrap",
	    "-dev", "-bootstrap-expect=3");
	EXPECT_FAIL(-EINVAL,
	    "command line: -dev: bootstrap: requires server mode", "-dev",
	    "-server=false");
	EXPECT_FAIL(-EINVAL,
	    "command line: -https-port: port 8500 already used by ports.http",
	    "-dev", "-https-port", "8500");
	EXPECT_FAIL(-EINVAL,
	    "command line: -node-id: \"1234\" is not a UUID (8-4-4-4-12 hex "
	    "digits)",
	    "-dev", "-node-id", "1234");
	EXPECT_FAIL(-EINVAL, "command line: -datacenter: must contain only "
			     "alphanumerics, underscores and dashes",
	    "-dev", "-datacenter", "dc 1");

	/* unreadable config files */
	EXPECT_FAIL(-ENOENT, "/nonexistent/x.json: No such file or directory",
	    "-dev", "-config-file", "/nonexistent/x.json");
	snprintf(want, sizeof(want), "%s: Is a directory", tdir);
	EXPECT_FAIL(-EISDIR, want, "-dev", "-config-file", tdir);
	f = wfile("x.json", "{}");
	snprintf(want, sizeof(want), "%s: Not a directory", f);
	EXPECT_FAIL(-ENOTDIR, want, "-dev", "-config-dir", f);
	f = wfile("x.hcl", "server = true");
	snprintf(want, sizeof(want), "%s: HCL is not supported (use JSON)", f);
	EXPECT_FAIL(-EINVAL, want, "-dev", "-config-file", f);

	/* validation blames the file that set the key, even when a flag
	 * caused the conflict */
	f = wfile("be.json", "{\"server\": true, \"bootstrap_expect\": 3}");
	snprintf(want, sizeof(want),
	    "%s: bootstrap_expect: cannot be used together with bootstrap", f);
	EXPECT_FAIL(-EINVAL, want, "-data-dir=/d", "-config-file", f,
	    "-bootstrap");
	/* an alias is reported under the key that was written */
	f = wfile("ui.json", "{\"ui\": \"yes\"}");
	snprintf(want, sizeof(want), "%s: ui: expected boolean, got string", f);
	EXPECT_FAIL(-EINVAL, want, "-dev", "-config-file", f);
	/* a flag error comes after the files */
	f = wfile("bad2.json", "{\"bogus\": 1}");
	snprintf(want, sizeof(want), "%s: bogus: unknown configuration key", f);
	EXPECT_FAIL(-EINVAL, want, "-dev", "-http-port=x", "-config-file", f);
}

/* --- flags, nested keys, aliases, normalisation ---------------------------- */

static void
test_flag_syntax(void **state)
{
	struct cairn_conf c;
	struct errbuf eb;
	const char *f;

	(void)state;
	f = wfile("srv.json", "{\"server\": true, \"ui\": true}");
	assert_int_equal(LOAD(&c, &eb, "-data-dir", "/a", "--node=n-1",
	    "--datacenter", "east", "-http-port=1234", "--dns-port", "-1",
	    "-config-file", f, "-server=false", "--ui=false", "-rejoin",
	    "--enable-script-checks", "-enable-local-script-checks=true",
	    "-node-meta", "a:b:c", "--node-meta=d", "-recursor", "1.1.1.1",
	    "-recursor=8.8.8.8:53", "-join", "j1", "--retry-join=-odd",
	    "-retry-max", "0x10", "-retry-interval", "1m30s",
	    "-retry-interval-wan=1.5h", "-run-dir", "/r", "-protocol=3",
	    "-raft-protocol", "2", "-config-format=json", "-ui-dir", "/ui",
	    "-pid-file=/p", "-encrypt", "AAAAAAAAAAAAAAAAAAAAAA==",
	    "-bind", "10.0.0.1", "-advertise", "10.0.0.2", "-advertise-wan",
	    "1.2.3.4", "-client", "0.0.0.0", "-serf-lan-bind", "10.0.0.3",
	    "-serf-wan-bind", "10.0.0.4", "-join-wan", "w1",
	    "-retry-join-wan", "w2", "-retry-max-wan", "7", "-domain", "corp",
	    "-alt-domain", "alt.", "-https-port", "8501", "-grpc-port", "8502",
	    "-serf-lan-port", "9301", "-serf-wan-port", "9302",
	    "-server-port", "9300", "-primary-datacenter", "West",
	    "-node-id", "ABCDEF01-2345-6789-ABCD-EF0123456789",
	    "-log-level=err", "-disable-remote-exec=false"),
	    0);
	assert_false(c.disable_remote_exec);
	assert_string_equal(c.data_dir, "/a");
	assert_string_equal(c.run_dir, "/r");
	assert_string_equal(c.node_name, "n-1");
	assert_string_equal(c.datacenter, "east");
	assert_int_equal(c.port_http, 1234);
	assert_int_equal(c.port_dns, -1);
	assert_false(c.server); /* flag beats file */
	assert_false(c.ui);
	assert_true(c.rejoin_after_leave);
	assert_true(c.enable_script_checks);
	assert_true(c.enable_local_script_checks);
	assert_string_equal(map_get(&c.node_meta, "a"), "b:c");
	assert_string_equal(map_get(&c.node_meta, "d"), "");
	assert_int_equal(c.recursors.n, 2);
	assert_true(has(&c.recursors, 1, "8.8.8.8:53"));
	assert_true(has(&c.start_join, 0, "j1"));
	assert_true(has(&c.retry_join, 0, "-odd"));
	assert_int_equal(c.retry_max, 16);
	assert_int_equal(c.retry_interval_ms, 90000);
	assert_int_equal(c.retry_interval_wan_ms, 5400000);
	assert_int_equal(c.protocol, 3);
	assert_int_equal(c.raft_protocol, 2);
	assert_string_equal(c.ui_dir, "/ui");
	assert_string_equal(c.pid_file, "/p");
	assert_string_equal(c.encrypt, "AAAAAAAAAAAAAAAAAAAAAA==");
	assert_string_equal(c.bind_addr, "10.0.0.1");
	assert_string_equal(c.advertise_addr, "10.0.0.2");
	assert_string_equal(c.advertise_addr_wan, "1.2.3.4");
	assert_string_equal(c.client_addr, "0.0.0.0");
	assert_string_equal(c.serf_lan_bind, "10.0.0.3");
	assert_string_equal(c.serf_wan_bind, "10.0.0.4");
	assert_true(has(&c.start_join_wan, 0, "w1"));
	assert_true(has(&c.retry_join_wan, 0, "w2"));
	assert_int_equal(c.retry_max_wan, 7);
	assert_string_equal(c.domain, "corp.");
	assert_string_equal(c.alt_domain, "alt.");
	assert_int_equal(c.port_https, 8501);
	assert_int_equal(c.port_grpc, 8502);
	assert_int_equal(c.port_serf_lan, 9301);
	assert_int_equal(c.port_serf_wan, 9302);
	assert_int_equal(c.port_server, 9300);
	assert_string_equal(c.primary_datacenter, "west");
	assert_string_equal(c.node_id, "abcdef01-2345-6789-abcd-ef0123456789");
	assert_string_equal(c.log_level, "err");
	cfg_free(&c);

	/* -server, --server, -bootstrap -bootstrap-expect */
	assert_int_equal(LOAD(&c, &eb, "--server", "-data-dir=/d",
	    "-bootstrap-expect", "3"), 0);
	assert_true(c.server);
	assert_int_equal(c.bootstrap_expect, 3);
	cfg_free(&c);
	assert_int_equal(LOAD(&c, &eb, "-server", "-bootstrap", "-data-dir",
	    "/d", "--"), 0);
	assert_true(c.bootstrap);
	cfg_free(&c);
}

static void
test_nested_and_aliases(void **state)
{
	struct cairn_conf c;
	struct errbuf eb;
	const char *f;

	(void)state;
	f = wfile("nested.json",
	    "{\"data_dir\": \"/d\","
	    " \"addresses\": {\"dns\": \"127.0.0.2\", \"http\": \"unix:///h\","
	    "  \"https\": \"0.0.0.0\", \"grpc\": \"127.0.0.3\"},"
	    " \"ports\": {\"https\": 8501},"
	    " \"dns_config\": {\"allow_stale\": false, \"max_stale\": \"5s\","
	    "  \"node_ttl\": \"30s\", \"service_ttl\": {\"*\": \"5s\", \"web\":"
	    "  \"1m\"}, \"enable_truncate\": true, \"only_passing\": true,"
	    "  \"recursor_timeout\": \"250ms\", \"udp_answer_limit\": 5,"
	    "  \"a_record_limit\": 2, \"disable_compression\": true},"
	    " \"limits\": {\"http_max_conns_per_client\": 10,"
	    "  \"kv_max_value_size\": 1024, \"txn_max_req_len\": 2048},"
	    " \"performance\": {\"raft_multiplier\": 1},"
	    " \"ui_config\": {\"enabled\": true, \"dir\": \"/ui1\"},"
	    " \"acl\": {\"enabled\": true, \"default_policy\": \"deny\","
	    "  \"down_policy\": \"async-cache\", \"tokens\": {\"default\":"
	    "  \"t-def\", \"agent\": \"t-agent\", \"master\": \"t-master\"}},"
	    " \"start_join\": [\"s1\"],"
	    " \"check\": {\"id\": \"c1\", \"ttl\": \"10s\"},"
	    " \"checks\": [{\"id\": \"c2\", \"args\": [\"/bin/true\"],"
	    "  \"interval\": \"10s\"}],"
	    " \"watches\": [{\"type\": \"key\", \"key\": \"k\"}],"
	    " \"session_ttl_min\": \"1s\", \"max_query_time\": \"10m\","
	    " \"default_query_time\": \"1m\", \"check_update_interval\": \"1m\","
	    " \"reconnect_timeout\": \"8h\", \"leave_on_terminate\": true,"
	    " \"skip_leave_on_interrupt\": true, \"disable_remote_exec\": false,"
	    " \"disable_update_check\": true, \"translate_wan_addrs\": true,"
	    " \"encrypt_verify_incoming\": false, \"verify_incoming\": true,"
	    " \"verify_outgoing\": true, \"verify_server_hostname\": true,"
	    " \"ca_file\": \"/ca\", \"ca_path\": \"/cap\", \"cert_file\": \"/c\","
	    " \"key_file\": \"/k\", \"run_dir\": \"/run/cairn\"}");
	assert_int_equal(LOAD(&c, &eb, "-config-file", f, "-join", "s2"), 0);
	assert_string_equal(c.addr_dns, "127.0.0.2");
	assert_string_equal(c.addr_http, "unix:///h");
	assert_string_equal(c.addr_https, "0.0.0.0");
	assert_string_equal(c.addr_grpc, "127.0.0.3");
	assert_int_equal(c.port_https, 8501);
	assert_false(c.dns_allow_stale);
	assert_int_equal(c.dns_max_stale_ms, 5000);
	assert_int_equal(c.dns_node_ttl_ms, 30000);
	assert_string_equal(map_get(&c.dns_service_ttl, "*"), "5s");
	assert_string_equal(map_get(&c.dns_service_ttl, "web"), "1m");
	assert_true(c.dns_enable_truncate);
	assert_true(c.dns_only_passing);
	assert_int_equal(c.dns_recursor_timeout_ms, 250);
	assert_int_equal(c.dns_udp_answer_limit, 5);
	assert_int_equal(c.dns_a_record_limit, 2);
	assert_true(c.dns_disable_compression);
	assert_int_equal(c.http_max_conns_per_client, 10);
	assert_int_equal(c.kv_max_value_size, 1024);
	assert_int_equal(c.txn_max_req_len, 2048);
	assert_int_equal(c.raft_multiplier, 1);
	assert_true(c.ui);
	assert_string_equal(c.ui_dir, "/ui1");
	assert_true(c.acl_enabled);
	assert_string_equal(c.acl_default_policy, "deny");
	assert_string_equal(c.acl_down_policy, "async-cache");
	assert_string_equal(c.acl_token_default, "t-def");
	assert_string_equal(c.acl_token_agent, "t-agent");
	assert_string_equal(c.acl_token_initial_management, "t-master");
	assert_int_equal(c.start_join.n, 2); /* start_join and -join */
	assert_true(has(&c.start_join, 1, "s2"));
	assert_int_equal(c.checks.n, 2);
	assert_true(has(&c.checks, 0, "{\"id\":\"c1\",\"ttl\":\"10s\"}"));
	assert_true(has(&c.checks, 1,
	    "{\"id\":\"c2\",\"args\":[\"/bin/true\"],\"interval\":\"10s\"}"));
	assert_true(has(&c.watches, 0, "{\"type\":\"key\",\"key\":\"k\"}"));
	assert_int_equal(c.session_ttl_min_ms, 1000);
	assert_int_equal(c.max_query_time_ms, 600000);
	assert_int_equal(c.default_query_time_ms, 60000);
	assert_int_equal(c.check_update_interval_ms, 60000);
	assert_int_equal(c.reconnect_timeout_ms, 8 * 3600 * 1000);
	assert_true(c.leave_on_terminate);
	assert_true(c.skip_leave_on_interrupt);
	assert_false(c.disable_remote_exec);
	assert_true(c.disable_update_check);
	assert_true(c.translate_wan_addrs);
	assert_false(c.encrypt_verify_incoming);
	assert_true(c.encrypt_verify_outgoing);
	assert_true(c.verify_incoming && c.verify_outgoing &&
	    c.verify_server_hostname);
	assert_string_equal(c.ca_file, "/ca");
	assert_string_equal(c.ca_path, "/cap");
	assert_string_equal(c.cert_file, "/c");
	assert_string_equal(c.key_file, "/k");
	assert_string_equal(c.run_dir, "/run/cairn");
	cfg_free(&c);

	/* the old spellings set the same fields; the later one wins */
	f = wfile("alias.json",
	    "{\"data_dir\": \"/d\", \"ui_config\": {\"enabled\": true,"
	    " \"dir\": \"/new\"}, \"ui\": false, \"ui_dir\": \"/old\","
	    " \"acl\": {\"tokens\": {\"initial_management\": \"im\"}},"
	    " \"acl_master_token\": \"legacy\", \"acl_token\": \"t\","
	    " \"acl_agent_token\": \"a\", \"acl_default_policy\": \"deny\","
	    " \"acl_down_policy\": \"deny\"}");
	assert_int_equal(LOAD(&c, &eb, "-config-file", f), 0);
	assert_false(c.ui);
	assert_string_equal(c.ui_dir, "/old");
	assert_string_equal(c.acl_token_initial_management, "legacy");
	assert_string_equal(c.acl_token_default, "t");
	assert_string_equal(c.acl_token_agent, "a");
	assert_string_equal(c.acl_default_policy, "deny");
	assert_string_equal(c.acl_down_policy, "deny");
	cfg_free(&c);
	f = wfile("alias2.json",
	    "{\"data_dir\": \"/d\", \"ui\": true, \"ui_dir\": \"/old\","
	    " \"ui_config\": {\"dir\": \"/new\"}}");
	assert_int_equal(LOAD(&c, &eb, "-config-file", f), 0);
	assert_true(c.ui);
	assert_string_equal(c.ui_dir, "/new");
	cfg_free(&c);
	assert_int_equal(LOAD(&c, &eb, "-config-file", f, "-ui=false"), 0);
	assert_false(c.ui);
	cfg_free(&c);
}

static void
test_normalize(void **state)
{
	struct cairn_conf c;
	struct errbuf eb;
	const char *f;

	(void)state;
	f = wfile("norm.json",
	    "{\"data_dir\": \"/d/\", \"domain\": \"example...\","
	    " \"alt_domain\": \"alt\", \"datacenter\": \"DC_East-1\","
	    " \"node_id\": \"0A1B2C3D-0000-1111-2222-333344445555\","
	    " \"encrypt\": \"MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTI=\","
	    " \"dns_config\": {\"max_stale\": \"0\"}}");
	assert_int_equal(LOAD(&c, &eb, "-config-file", f), 0);
	assert_string_equal(c.domain, "example.");
	assert_string_equal(c.alt_domain, "alt.");
	assert_string_equal(c.datacenter, "dc_east-1");
	assert_string_equal(c.node_id, "0a1b2c3d-0000-1111-2222-333344445555");
	assert_string_equal(c.run_dir, "/d/run");
	assert_int_equal(c.dns_max_stale_ms, 0);
	cfg_free(&c);

	/* 24-byte key; the three key sizes are accepted */
	assert_int_equal(LOAD(&c, &eb, "-dev", "-encrypt",
	    "MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0"), 0);
	cfg_free(&c);
	EXPECT_FAIL(-EINVAL,
	    "command line: -encrypt: key is 23 bytes; must be 16, 24 or 32",
	    "-dev", "-encrypt", "MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM=");
	EXPECT_FAIL(-EINVAL, "command line: -encrypt: not valid base64",
	    "-dev", "-encrypt", "MTIzNDU2Nzg5MDEy=zQ1Njc4OTAxMjM0");
	EXPECT_FAIL(-EINVAL, "command line: -domain: must not be empty", "-dev",
	    "-domain", "..");
}

/* --- reload -------------------------------------------------------------- */

static char notices[16][64];
static int nnotices;

static void
on_notice(const char *key, void *arg)
{
	assert_ptr_equal(arg, &nnotices);
	assert_true(nnotices < 16);
	snprintf(notices[nnotices++], sizeof(notices[0]), "%s", key);
}

static void
test_reload(void **state)
{
	struct cairn_conf old, fresh;
	struct errbuf eb;
	const char *f;
	char want[ERRBUF_LEN];

	(void)state;
	f = wfile("r.json",
	    "{\"data_dir\": \"/d\", \"node_name\": \"n1\", \"log_level\": "
	    "\"info\", \"node_meta\": {\"a\": \"1\"}, \"retry_join\": [\"x\"],"
	    " \"services\": [{\"name\": \"web\"}],"
	    " \"limits\": {\"kv_max_value_size\": 100}}");
	assert_int_equal(LOAD(&old, &eb, "-config-file", f, "-server"), 0);

	/* unchanged: nothing to report */
	nnotices = 0;
	assert_int_equal(cfg_reload(&old, &fresh, on_notice, &nnotices, &eb),
	    0);
	assert_int_equal(nnotices, 0);
	cfg_free(&fresh);

	wfile("r.json",
	    "{\"data_dir\": \"/d\", \"node_name\": \"n2\", \"log_level\": "
	    "\"debug\", \"node_meta\": {\"a\": \"2\"}, \"retry_join\": [\"y\"],"
	    " \"services\": [{\"name\": \"api\"}], \"ports\": {\"http\": 8555},"
	    " \"limits\": {\"kv_max_value_size\": 200}}");
	nnotices = 0;
	assert_int_equal(cfg_reload(&old, &fresh, on_notice, &nnotices, &eb),
	    0);
	/* reloadable values change */
	assert_string_equal(fresh.log_level, "debug");
	assert_string_equal(map_get(&fresh.node_meta, "a"), "2");
	assert_true(has(&fresh.services, 0, "{\"name\":\"api\"}"));
	assert_int_equal(fresh.kv_max_value_size, 200);
	/* the rest keeps the running values and is reported */
	assert_string_equal(fresh.node_name, "n1");
	assert_int_equal(fresh.port_http, 8500);
	assert_int_equal(fresh.retry_join.n, 1);
	assert_true(has(&fresh.retry_join, 0, "x"));
	assert_true(fresh.server);
	assert_int_equal(nnotices, 3);
	assert_string_equal(notices[0], "node_name");
	assert_string_equal(notices[1], "ports.http");
	assert_string_equal(notices[2], "retry_join");
	assert_int_equal(fresh.argc, 3);
	cfg_free(&fresh);

	/* a NULL notice callback is allowed */
	assert_int_equal(cfg_reload(&old, &fresh, NULL, NULL, &eb), 0);
	assert_string_equal(fresh.node_name, "n1");
	cfg_free(&fresh);

	/* a broken file: error, fresh zeroed, old untouched */
	wfile("r.json", "{\"data_dir\": \"/d\", \"log_level\": 3}");
	memset(&fresh, 0x5a, sizeof(fresh));
	nnotices = 0;
	assert_int_equal(cfg_reload(&old, &fresh, on_notice, &nnotices, &eb),
	    -EINVAL);
	snprintf(want, sizeof(want), "%s: log_level: expected string, got "
				     "number", f);
	assert_string_equal(eb.msg, want);
	assert_true(is_zero(&fresh));
	assert_int_equal(nnotices, 0);
	assert_string_equal(old.log_level, "info");

	/* an invalid combination is an error too */
	wfile("r.json", "{\"data_dir\": \"/d\", \"log_level\": \"x\"}");
	assert_int_equal(cfg_reload(&old, &fresh, on_notice, &nnotices, &eb),
	    -EINVAL);
	assert_true(is_zero(&fresh));
	cfg_free(&old);
}

/* --- durations ----------------------------------------------------------- */

static void
test_duration_parse(void **state)
{
	static const struct {
		const char *s;
		int rc;
		uint64_t ms;
	} t[] = {
	    {"0", 0, 0},
	    {"+0", 0, 0},
	    {"-0", 0, 0},
	    {"0s", 0, 0},
	    {"10s", 0, 10000},
	    {"1m30s", 0, 90000},
	    {"1.5h", 0, 5400000},
	    {"1h1m1s1ms", 0, 3661001},
	    {"100ms", 0, 100},
	    {"250us", 0, 1},
	    {"250\xc2\xb5s", 0, 1},
	    {"250\xce\xbcs", 0, 1},
	    {"1ns", 0, 1},
	    {"1500us", 0, 1},
	    {"999999ns", 0, 1},
	    {"2000000ns", 0, 2},
	    {".5s", 0, 500},
	    {"1.s", 0, 1000},
	    {"0.001s", 0, 1},
	    {"72h", 0, 259200000},
	    {"87600h", 0, 315360000000ULL},
	    {"2562047h", 0, 9223369200000ULL},
	    {"+5s", 0, 5000},
	    {"1.0000000000000000000000001s", 0, 1000},
	    {"", -EINVAL, 0},
	    {"-1s", -EINVAL, 0},
	    {"10", -EINVAL, 0},
	    {"00", -EINVAL, 0},
	    {"s", -EINVAL, 0},
	    {".s", -EINVAL, 0},
	    {"1d", -EINVAL, 0},
	    {"1 s", -EINVAL, 0},
	    {"1s ", -EINVAL, 0},
	    {"1h-1m", -EINVAL, 0},
	    {"1sm", -EINVAL, 0},
	    {"-", -EINVAL, 0},
	    {"2562048h", -EINVAL, 0},
	    {"9223372036854775808ns", -EINVAL, 0},
	    {"99999999999999999999s", -EINVAL, 0},
	    {"2562047h2562047h", -EINVAL, 0},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		uint64_t ms = 12345;
		int rc = cfg_duration_parse(t[i].s, &ms);

		if (rc != t[i].rc || (rc == 0 && ms != t[i].ms))
			print_error("\"%s\": rc %d ms %llu\n", t[i].s, rc,
			    (unsigned long long)ms);
		assert_int_equal(rc, t[i].rc);
		if (rc == 0)
			assert_int_equal(ms, t[i].ms);
		else
			assert_int_equal(ms, 12345); /* untouched */
	}
	assert_int_equal(cfg_duration_parse(NULL, NULL), -EINVAL);
}

/* --- example, buffer, usage ---------------------------------------------- */

static void
test_example_config(void **state)
{
	static const char *const where[] = {
	    "systemd/cairn.json.example",
	    "../../systemd/cairn.json.example",
	    "../systemd/cairn.json.example",
	};
	struct cairn_conf c;
	struct errbuf eb;
	const char *p = NULL;
	size_t i;
	int rc;

	(void)state;
	for (i = 0; i < sizeof(where) / sizeof(where[0]) && p == NULL; i++)
		if (access(where[i], R_OK) == 0)
			p = where[i];
	if (p == NULL)
		skip();
	rc = LOAD(&c, &eb, "-config-file", p);
	if (rc != 0)
		print_error("%s\n", eb.msg);
	assert_int_equal(rc, 0);
	assert_string_equal(c.data_dir, "/var/lib/cairn");
	assert_string_equal(c.run_dir, "/var/lib/cairn/run");
	assert_true(c.server);
	assert_int_equal(c.bootstrap_expect, 3);
	assert_int_equal(c.retry_join.n, 3);
	assert_true(c.ui);
	cfg_free(&c);
}

static void
test_load_buffer(void **state)
{
	static const char ok[] = "{\"data_dir\": \"/d\", \"server\": true}";
	static const char bad[] = "{\"data_dir\": \"/d\", \"nope\": 1}";
	struct cairn_conf c;
	struct errbuf eb;

	(void)state;
	/* not NUL-terminated: only n bytes are read */
	assert_int_equal(cfg_load_buffer("mem", ok, sizeof(ok) - 1, &c, &eb),
	    0);
	assert_true(c.server);
	assert_null(c.argv);
	assert_int_equal(c.argc, 0);
	cfg_free(&c);
	assert_int_equal(cfg_load_buffer("mem", bad, sizeof(bad) - 1, &c, &eb),
	    -EINVAL);
	assert_string_equal(eb.msg, "mem: nope: unknown configuration key");
	assert_true(is_zero(&c));
	assert_int_equal(cfg_load_buffer("mem", ok, 5, &c, &eb), -EINVAL);
	assert_memory_equal(eb.msg, "mem: parse error: ", 18);
	assert_int_equal(cfg_load_buffer("mem", "{}", 2, &c, NULL), -EINVAL);
	assert_true(is_zero(&c));
}

static void
test_usage(void **state)
{
	static const char *const flags[] = {
	    "-server", "-bootstrap", "-bootstrap-expect <n>", "-data-dir",
	    "-config-file <file>", "-config-dir <dir>", "-config-format",
	    "-bind", "-advertise", "-advertise-wan", "-client",
	    "-serf-lan-bind", "-serf-wan-bind", "-join", "-join-wan",
	    "-retry-join", "-retry-join-wan", "-retry-interval <duration>",
	    "-retry-interval-wan", "-retry-max", "-retry-max-wan",
	    "-datacenter", "-node ", "-node-id", "-node-meta <key:value>",
	    "-dev", "-ui ", "-ui-dir", "-encrypt", "-domain", "-alt-domain",
	    "-recursor", "-http-port <port>", "-https-port", "-dns-port",
	    "-grpc-port", "-serf-lan-port", "-serf-wan-port", "-server-port",
	    "-log-level", "-pid-file", "-rejoin", "-enable-script-checks",
	    "-enable-local-script-checks", "-protocol", "-raft-protocol",
	    "-primary-datacenter", "-run-dir", "-disable-remote-exec",
	};
	char *text = NULL;
	size_t len = 0, i;
	FILE *f;

	(void)state;
	f = open_memstream(&text, &len);
	assert_non_null(f);
	cfg_usage_flags(f);
	assert_int_equal(fclose(f), 0);
	for (i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		if (strstr(text, flags[i]) == NULL)
			print_error("missing %s\n", flags[i]);
		assert_non_null(strstr(text, flags[i]));
	}
	free(text);
}

/* --- json.c -------------------------------------------------------------- */

#define JP(s) json_parse((s), strlen(s), &eb)

static void
test_json_parse(void **state)
{
	struct errbuf eb;
	char deep[2 * JSON_MAX_DEPTH + 4];
	yajl_val v, x;
	char *s;
	size_t i;

	(void)state;
	v = JP("{\"a\": 1, \"B\": [true, null], \"a\": \"two\"}");
	assert_non_null(v);
	x = json_obj_get(v, "a"); /* last duplicate wins */
	assert_true(YAJL_IS_STRING(x));
	assert_string_equal(x->u.string, "two");
	assert_null(json_obj_get(v, "b"));
	assert_non_null(json_obj_get_ci(v, "b"));
	assert_string_equal(json_type_name(json_obj_get(v, "B")), "array");
	assert_string_equal(json_type_name(NULL), "null");
	assert_null(json_obj_get(json_obj_get(v, "B"), "x"));
	s = json_to_text(v);
	assert_string_equal(s, "{\"a\":1,\"B\":[true,null],\"a\":\"two\"}");
	free(s);
	yajl_tree_free(v);

	/* numbers keep their text */
	v = JP("[1.50, -0, 1e3, 18446744073709551616]");
	assert_non_null(v);
	s = json_to_text(v);
	assert_string_equal(s, "[1.50,-0,1e3,18446744073709551616]");
	free(s);
	yajl_tree_free(v);

	/* errors carry the position */
	assert_null(JP("{\n  \"a\": 1,\n}"));
	assert_memory_equal(eb.msg, "parse error: line 3, column 1: ", 31);
	assert_null(json_parse("{\"a\": \0}", 8, &eb));
	assert_string_equal(eb.msg,
	    "parse error: line 1, column 7: NUL byte in input");
	assert_null(json_parse("", 0, &eb));
	assert_memory_equal(eb.msg, "parse error: ", 13);
	assert_null(json_parse("x", JSON_MAX_INPUT + 1, &eb));
	assert_memory_equal(eb.msg, "parse error: input of ", 22);

	/* nesting is bounded */
	for (i = 0; i < JSON_MAX_DEPTH; i++) {
		deep[i] = '[';
		deep[JSON_MAX_DEPTH + i] = ']';
	}
	v = json_parse(deep, 2 * JSON_MAX_DEPTH, &eb);
	assert_non_null(v);
	s = json_to_text(v);
	assert_non_null(s);
	free(s);
	yajl_tree_free(v);
	memmove(deep + 1, deep, 2 * JSON_MAX_DEPTH);
	deep[2 * JSON_MAX_DEPTH + 1] = ']';
	assert_null(json_parse(deep, 2 * JSON_MAX_DEPTH + 2, &eb));
	assert_string_equal(eb.msg,
	    "parse error: line 1, column 101: nesting too deep");
	/* brackets in strings and comments do not count */
	memset(deep, '[', sizeof(deep));
	deep[0] = '"';
	deep[sizeof(deep) - 1] = '"';
	v = json_parse(deep, sizeof(deep), &eb);
	assert_non_null(v);
	yajl_tree_free(v);
	v = JP("/* [[[ */ {} // ]]");
	assert_non_null(v);
	yajl_tree_free(v);
}

static void
test_json_writer(void **state)
{
	struct jw w;
	size_t len;
	char *s;

	(void)state;
	jw_init(&w, false);
	jw_obj_open(&w);
	jw_key(&w, "s");
	jw_str(&w, "a\"b");
	jw_key(&w, "n");
	jw_str(&w, NULL);
	jw_key(&w, "i");
	jw_int(&w, -5);
	jw_key(&w, "u");
	jw_uint(&w, 18446744073709551615ULL);
	jw_key(&w, "l");
	jw_arr_open(&w);
	jw_bool(&w, true);
	jw_null(&w);
	jw_strn(&w, "xyz", 2);
	jw_arr_close(&w);
	jw_obj_close(&w);
	s = jw_finish(&w, &len);
	assert_non_null(s);
	assert_string_equal(s, "{\"s\":\"a\\\"b\",\"n\":null,\"i\":-5,"
			       "\"u\":18446744073709551615,\"l\":[true,null,"
			       "\"xy\"]}");
	assert_int_equal(len, strlen(s));
	free(s);
	jw_free(&w); /* harmless after finish */

	/* a misuse sticks and the result is NULL */
	jw_init(&w, true);
	jw_obj_close(&w);
	assert_int_not_equal(w.err, 0);
	jw_str(&w, "x");
	assert_null(jw_finish(&w, &len));
	assert_int_equal(len, 0);
	jw_free(&w);

	/* pretty output is still valid JSON */
	jw_init(&w, true);
	jw_obj_open(&w);
	jw_key(&w, "a");
	jw_int(&w, 1);
	jw_obj_close(&w);
	s = jw_finish(&w, NULL);
	assert_non_null(s);
	assert_non_null(strchr(s, '\n'));
	free(s);
	jw_free(&w);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_defaults, setup_dir,
		teardown_dir),
	    cmocka_unit_test_setup_teardown(test_dev_defaults, setup_dir,
		teardown_dir),
	    cmocka_unit_test_setup_teardown(test_precedence, setup_dir,
		teardown_dir),
	    cmocka_unit_test_setup_teardown(test_config_dir, setup_dir,
		teardown_dir),
	    cmocka_unit_test_setup_teardown(test_file_errors, setup_dir,
		teardown_dir),
	    cmocka_unit_test_setup_teardown(test_flag_errors, setup_dir,
		teardown_dir),
	    cmocka_unit_test_setup_teardown(test_flag_syntax, setup_dir,
		teardown_dir),
	    cmocka_unit_test_setup_teardown(test_nested_and_aliases, setup_dir,
		teardown_dir),
	    cmocka_unit_test_setup_teardown(test_normalize, setup_dir,
		teardown_dir),
	    cmocka_unit_test_setup_teardown(test_reload, setup_dir,
		teardown_dir),
	    cmocka_unit_test(test_duration_parse),
	    cmocka_unit_test(test_example_config),
	    cmocka_unit_test(test_load_buffer),
	    cmocka_unit_test(test_usage),
	    cmocka_unit_test(test_json_parse),
	    cmocka_unit_test(test_json_writer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
