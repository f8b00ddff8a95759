/* cfg.c - agent configuration: one option table drives files, flags, checks. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "cfg.h"
#include "json.h"
#include "log.h"
#include "xmalloc.h"

enum otype {
	O_STR,	/* char *, JSON string */
	O_BOOL,	/* bool, JSON true/false */
	O_INT,	/* int64_t, JSON integer within min..max */
	O_PORT,	/* int64_t, -1..65535 (-1 disables) */
	O_DUR,	/* uint64_t ms, Go duration string; min in ms */
	O_LIST,	/* struct cdc_strlist, JSON array of strings; appends */
	O_MAP,	/* struct cfg_map, JSON object of strings; merges by key */
	O_JSON,	/* struct cdc_strlist of compact JSON objects; appends */
	O_OBJ,	/* a JSON object holding the keys "<key>.*" */
};

#define F_RELOAD 0x01 /* may change at run time (cfg_reload) */
#define F_ALIAS 0x02  /* another name for the field of an earlier row */
#define F_ONE 0x04    /* O_JSON: one object rather than an array of them */
#define F_MAPDUR 0x08 /* O_MAP: every value must be a duration */

struct opt {
	const char *key;  /* JSON key, dotted when nested */
	enum otype type;
	size_t off;	  /* offsetof the field in struct cairn_conf */
	int64_t min, max; /* O_INT/O_PORT range; O_DUR minimum in ms */
	const char *def;  /* default, in flag syntax; NULL: zero/empty */
	const char *flag; /* flag name without the dash, or NULL */
	const char *help; /* flag description */
	unsigned fl;
};

#define OFF(f) offsetof(struct cairn_conf, f)
#define I32 2147483647LL
#define R_STR(k, f, d, flg, h, x) {k, O_STR, OFF(f), 0, 0, d, flg, h, x}
#define R_BOOL(k, f, d, flg, h, x) {k, O_BOOL, OFF(f), 0, 0, d, flg, h, x}
#define R_INT(k, f, lo, hi, d, flg, h, x)                                      \
	{k, O_INT, OFF(f), lo, hi, d, flg, h, x}
#define R_PORT(k, f, d, flg, h) {k, O_PORT, OFF(f), -1, 65535, d, flg, h, 0}
#define R_DUR(k, f, lo, d, flg, h, x) {k, O_DUR, OFF(f), lo, 0, d, flg, h, x}
#define R_LIST(k, f, flg, h, x) {k, O_LIST, OFF(f), 0, 0, NULL, flg, h, x}
#define R_MAP(k, f, flg, h, x) {k, O_MAP, OFF(f), 0, 0, NULL, flg, h, x}
#define R_JSON(k, f, x) {k, O_JSON, OFF(f), 0, 0, NULL, NULL, NULL, x}
#define R_OBJ(k) {k, O_OBJ, 0, 0, 0, NULL, NULL, NULL, 0}

/*
 * Every field of struct cairn_conf except dev, origin, argv and argc has a
 * row here.  The first row naming a field is its canonical row (its key is
 * used for reload notices and default-origin errors); F_ALIAS rows name the
 * same field again.
 */
static const struct opt opts[] = {
    /* identity */
    R_STR("datacenter", datacenter, "dc1", "datacenter",
	"datacenter of this agent (dc1)", 0),
    R_STR("node_name", node_name, "", "node",
	"name of this node (hostname)", 0),
    R_STR("node_id", node_id, "", "node-id", "UUID of this node", 0),
    R_MAP("node_meta", node_meta, "node-meta",
	"key:value metadata for this node (repeatable)", F_RELOAD),
    R_STR("primary_datacenter", primary_datacenter, "", "primary-datacenter",
	"datacenter authoritative for ACLs", 0),

    /* mode */
    R_BOOL("server", server, "false", "server", "run in server mode", 0),
    R_BOOL("bootstrap", bootstrap, "false", "bootstrap",
	"single server: elect itself leader", 0),
    R_INT("bootstrap_expect", bootstrap_expect, -I32, I32, "0",
	"bootstrap-expect", "servers to wait for before electing", 0),
    R_STR("data_dir", data_dir, "", "data-dir",
	"directory for state (required unless -dev)", 0),
    R_STR("run_dir", run_dir, "", "run-dir",
	"directory for IPC sockets (<data-dir>/run)", 0),

    /* addresses and ports */
    R_STR("bind_addr", bind_addr, "0.0.0.0", "bind",
	"cluster bind address (0.0.0.0)", 0),
    R_STR("advertise_addr", advertise_addr, "", "advertise",
	"address advertised to the LAN", 0),
    R_STR("advertise_addr_wan", advertise_addr_wan, "", "advertise-wan",
	"address advertised to the WAN", 0),
    R_STR("client_addr", client_addr, "127.0.0.1", "client",
	"bind address of HTTP and DNS (127.0.0.1)", 0),
    R_STR("serf_lan", serf_lan_bind, "", "serf-lan-bind",
	"LAN gossip bind address", 0),
    R_STR("serf_wan", serf_wan_bind, "", "serf-wan-bind",
	"WAN gossip bind address", 0),
    R_OBJ("addresses"),
    R_STR("addresses.dns", addr_dns, "", NULL, NULL, 0),
    R_STR("addresses.http", addr_http, "", NULL, NULL, 0),
    R_STR("addresses.https", addr_https, "", NULL, NULL, 0),
    R_STR("addresses.grpc", addr_grpc, "", NULL, NULL, 0),
    R_OBJ("ports"),
    R_PORT("ports.dns", port_dns, "8600", "dns-port", "DNS port (8600)"),
    R_PORT("ports.http", port_http, "8500", "http-port", "HTTP port (8500)"),
    R_PORT("ports.https", port_https, "-1", "https-port",
	"HTTPS port (-1, off)"),
    R_PORT("ports.grpc", port_grpc, "-1", "grpc-port", "gRPC port (-1, off)"),
    R_PORT("ports.serf_lan", port_serf_lan, "8301", "serf-lan-port",
	"LAN gossip port (8301)"),
    R_PORT("ports.serf_wan", port_serf_wan, "8302", "serf-wan-port",
	"WAN gossip port (8302)"),
    R_PORT("ports.server", port_server, "8300", "server-port",
	"server RPC port (8300)"),

    /* joining */
    R_LIST("start_join", start_join, "join",
	"address to join at start (repeatable)", 0),
    R_LIST("start_join_wan", start_join_wan, "join-wan",
	"WAN address to join at start (repeatable)", 0),
    R_LIST("retry_join", retry_join, "retry-join",
	"address to join, retrying (repeatable)", 0),
    R_LIST("raft_peers", raft_peers, "raft-peer",
	"another server's Raft address, name=host:port (repeatable)", 0),
    R_LIST("retry_join_wan", retry_join_wan, "retry-join-wan",
	"WAN address to join, retrying (repeatable)", 0),
    R_DUR("retry_interval", retry_interval_ms, 0, "30s", "retry-interval",
	"time between join attempts (30s)", 0),
    R_DUR("retry_interval_wan", retry_interval_wan_ms, 0, "30s",
	"retry-interval-wan", "time between WAN join attempts (30s)", 0),
    R_INT("retry_max", retry_max, 0, I32, "0", "retry-max",
	"join attempts before giving up (0, forever)", 0),
    R_INT("retry_max_wan", retry_max_wan, 0, I32, "0", "retry-max-wan",
	"WAN join attempts before giving up (0, forever)", 0),
    R_BOOL("rejoin_after_leave", rejoin_after_leave, "false", "rejoin",
	"rejoin the cluster after a leave", 0),
    R_BOOL("leave_on_terminate", leave_on_terminate, "false", NULL, NULL, 0),
    R_BOOL("skip_leave_on_interrupt", skip_leave_on_interrupt, "false", NULL,
	NULL, 0),
    R_DUR("reconnect_timeout", reconnect_timeout_ms, 8 * 3600 * 1000LL, "72h",
	NULL, NULL, 0),

    /* gossip encryption and TLS */
    R_STR("encrypt", encrypt, "", "encrypt", "base64 gossip encryption key",
	0),
    R_BOOL("encrypt_verify_incoming", encrypt_verify_incoming, "true", NULL,
	NULL, 0),
    R_BOOL("encrypt_verify_outgoing", encrypt_verify_outgoing, "true", NULL,
	NULL, 0),
    R_STR("ca_file", ca_file, "", NULL, NULL, 0),
    R_STR("ca_path", ca_path, "", NULL, NULL, 0),
    R_STR("cert_file", cert_file, "", NULL, NULL, 0),
    R_STR("key_file", key_file, "", NULL, NULL, 0),
    R_BOOL("verify_incoming", verify_incoming, "false", NULL, NULL, 0),
    R_BOOL("verify_outgoing", verify_outgoing, "false", NULL, NULL, 0),
    R_BOOL("verify_server_hostname", verify_server_hostname, "false", NULL,
	NULL, 0),

    /* DNS */
    R_STR("domain", domain, "consul.", "domain", "DNS domain (consul.)", 0),
    R_STR("alt_domain", alt_domain, "", "alt-domain",
	"alternative DNS domain", 0),
    R_LIST("recursors", recursors, "recursor",
	"upstream DNS server (repeatable)", F_RELOAD),
    R_OBJ("dns_config"),
    R_BOOL("dns_config.allow_stale", dns_allow_stale, "true", NULL, NULL,
	F_RELOAD),
    R_DUR("dns_config.max_stale", dns_max_stale_ms, 0, "87600h", NULL, NULL,
	F_RELOAD),
    R_DUR("dns_config.node_ttl", dns_node_ttl_ms, 0, "0s", NULL, NULL,
	F_RELOAD),
    R_MAP("dns_config.service_ttl", dns_service_ttl, NULL, NULL,
	F_RELOAD | F_MAPDUR),
    R_BOOL("dns_config.enable_truncate", dns_enable_truncate, "false", NULL,
	NULL, F_RELOAD),
    R_BOOL("dns_config.only_passing", dns_only_passing, "false", NULL, NULL,
	F_RELOAD),
    R_DUR("dns_config.recursor_timeout", dns_recursor_timeout_ms, 0, "2s",
	NULL, NULL, F_RELOAD),
    R_INT("dns_config.udp_answer_limit", dns_udp_answer_limit, 0, 65535, "3",
	NULL, NULL, F_RELOAD),
    R_INT("dns_config.a_record_limit", dns_a_record_limit, 0, 65535, "0",
	NULL, NULL, F_RELOAD),
    R_BOOL("dns_config.disable_compression", dns_disable_compression,
	"false", NULL, NULL, F_RELOAD),

    /* services, checks, watches */
    R_JSON("services", services, F_RELOAD),
    R_JSON("service", services, F_RELOAD | F_ALIAS | F_ONE),
    R_JSON("checks", checks, F_RELOAD),
    R_JSON("check", checks, F_RELOAD | F_ALIAS | F_ONE),
    R_JSON("watches", watches, F_RELOAD),
    R_BOOL("enable_script_checks", enable_script_checks, "false",
	"enable-script-checks", "allow script checks", F_RELOAD),
    R_BOOL("enable_local_script_checks", enable_local_script_checks, "false",
	"enable-local-script-checks",
	"allow script checks from config files only", F_RELOAD),
    R_DUR("check_update_interval", check_update_interval_ms, 0, "5m", NULL,
	NULL, F_RELOAD),
    R_INT("check_output_max_size", check_output_max_size, 1, 1048576, "4096",
	NULL, NULL, F_RELOAD),
    R_BOOL("disable_remote_exec", disable_remote_exec, "true",
	"disable-remote-exec", "refuse `cairn exec` jobs (default true)", 0),
    R_BOOL("disable_update_check", disable_update_check, "false", NULL, NULL,
	0),

    /* HTTP and limits */
    R_OBJ("ui_config"),
    R_BOOL("ui_config.enabled", ui, "false", "ui", "serve the web UI", 0),
    R_STR("ui_config.dir", ui_dir, "", "ui-dir",
	"serve the web UI from this directory", 0),
    R_BOOL("ui", ui, NULL, NULL, NULL, F_ALIAS),
    R_STR("ui_dir", ui_dir, NULL, NULL, NULL, F_ALIAS),
    R_OBJ("limits"),
    R_INT("limits.http_max_conns_per_client", http_max_conns_per_client, 0,
	I32, "200", NULL, NULL, F_RELOAD),
    R_INT("limits.kv_max_value_size", kv_max_value_size, 0, I32, "524288",
	NULL, NULL, F_RELOAD),
    R_INT("limits.txn_max_req_len", txn_max_req_len, 0, I32, "524288", NULL,
	NULL, F_RELOAD),
    R_DUR("max_query_time", max_query_time_ms, 0, "600s", NULL, NULL,
	F_RELOAD),
    R_DUR("default_query_time", default_query_time_ms, 0, "300s", NULL, NULL,
	F_RELOAD),
    R_DUR("session_ttl_min", session_ttl_min_ms, 0, "10s", NULL, NULL, 0),
    R_BOOL("translate_wan_addrs", translate_wan_addrs, "false", NULL, NULL, 0),
    R_OBJ("performance"),
    R_INT("performance.raft_multiplier", raft_multiplier, 1, 10, "5", NULL,
	NULL, 0),
    R_INT("raft_snapshot_threshold", raft_snapshot_threshold, 1, I32, "16384",
	NULL, NULL, 0),
    R_INT("raft_trailing_logs", raft_trailing_logs, 0, I32, "10240", NULL,
	NULL, 0),
    R_INT("protocol", protocol, 2, 3, "2", "protocol",
	"gossip protocol version (2)", 0),
    R_INT("raft_protocol", raft_protocol, 2, 3, "3", "raft-protocol",
	"Raft protocol version (3)", 0),

    /* ACL */
    R_OBJ("acl"),
    R_BOOL("acl.enabled", acl_enabled, "false", NULL, NULL, 0),
    R_STR("acl.default_policy", acl_default_policy, "allow", NULL, NULL, 0),
    R_STR("acl.down_policy", acl_down_policy, "extend-cache", NULL, NULL, 0),
    R_OBJ("acl.tokens"),
    R_STR("acl.tokens.default", acl_token_default, "", NULL, NULL, 0),
    R_STR("acl.tokens.agent", acl_token_agent, "", NULL, NULL, 0),
    R_STR("acl.tokens.initial_management", acl_token_initial_management, "",
	NULL, NULL, 0),
    R_STR("acl.tokens.master", acl_token_initial_management, NULL, NULL,
	NULL, F_ALIAS),
    R_STR("acl_default_policy", acl_default_policy, NULL, NULL, NULL,
	F_ALIAS),
    R_STR("acl_down_policy", acl_down_policy, NULL, NULL, NULL, F_ALIAS),
    R_STR("acl_token", acl_token_default, NULL, NULL, NULL, F_ALIAS),
    R_STR("acl_agent_token", acl_token_agent, NULL, NULL, NULL, F_ALIAS),
    R_STR("acl_master_token", acl_token_initial_management, NULL, NULL, NULL,
	F_ALIAS),

    /* logging and process */
    R_STR("log_level", log_level, "INFO", "log-level",
	"trace, debug, info, warn or error (info)", F_RELOAD),
    R_STR("pid_file", pid_file, "", "pid-file", "write the PID here", 0),
};

#define NOPTS (sizeof(opts) / sizeof(opts[0]))

/* flags that are not options */
enum special {
	SP_NONE = 0,
	SP_CONFIG_FILE,
	SP_CONFIG_DIR,
	SP_CONFIG_FORMAT,
	SP_DEV,
	SP_HCL,
};

static const struct {
	const char *name;
	enum special sp;
	const char *hint;
	const char *help;
} specials[] = {
    {"config-file", SP_CONFIG_FILE, "<file>", "JSON config file (repeatable)"},
    {"config-dir", SP_CONFIG_DIR, "<dir>",
	"directory of *.json config files (repeatable)"},
    {"config-format", SP_CONFIG_FORMAT, "json", "config file format"},
    {"dev", SP_DEV, NULL, "development mode: in-memory server, no data dir"},
    {"hcl", SP_HCL, "<hcl>", "not supported: use JSON"},
};

/* dev-mode defaults (cfg.h, source 2) */
static const struct {
	const char *key;
	const char *val;
} dev_defaults[] = {
    {"server", "true"},
    {"bootstrap", "true"},
    {"ui_config.enabled", "true"},
    {"log_level", "DEBUG"},
    {"bind_addr", "127.0.0.1"},
    {"advertise_addr", "127.0.0.1"},
    {"client_addr", "127.0.0.1"},
};

/* one command-line flag, resolved */
struct step {
	const struct opt *o; /* NULL for a special */
	enum special sp;
	const char *name;    /* canonical flag name */
	const char *val;     /* borrowed from argv */
};

/* --- table helpers ------------------------------------------------------- */

static void *
field(struct cairn_conf *c, const struct opt *o)
{
	return (char *)c + o->off;
}

static const void *
cfield(const struct cairn_conf *c, const struct opt *o)
{
	return (const char *)c + o->off;
}

/* canon - index of the row that owns o's field (and its origin slot). */
static size_t
canon(const struct opt *o)
{
	size_t i;

	for (i = 0; i < NOPTS; i++)
		if (opts[i].type != O_OBJ && !(opts[i].fl & F_ALIAS) &&
		    opts[i].off == o->off)
			return i;
	return (size_t)(o - opts);
}

static const struct opt *
opt_by_off(size_t off)
{
	size_t i;

	for (i = 0; i < NOPTS; i++)
		if (opts[i].type != O_OBJ && !(opts[i].fl & F_ALIAS) &&
		    opts[i].off == off)
			return &opts[i];
	return NULL;
}

static const struct opt *
opt_by_key(const char *key)
{
	size_t i;

	for (i = 0; i < NOPTS; i++)
		if (strcmp(opts[i].key, key) == 0)
			return &opts[i];
	return NULL;
}

static void
set_origin(struct cairn_conf *c, const struct opt *o, const char *where)
{
	size_t i = canon(o);

	free(c->origin[i]);
	c->origin[i] = where != NULL ? xstrdup(where) : NULL;
}

/* who - the error prefix for a field: where it was set, or its key. */
static const char *
who(const struct cairn_conf *c, size_t off)
{
	const struct opt *o = opt_by_off(off);
	size_t i;

	if (o == NULL)
		return "?";
	i = (size_t)(o - opts);
	if (c->origin != NULL && c->origin[i] != NULL)
		return c->origin[i];
	return o->key;
}

static int __attribute__((format(printf, 4, 5)))
verr(const struct cairn_conf *c, size_t off, struct errbuf *eb,
    const char *fmt, ...)
{
	char msg[ERRBUF_LEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return errbuf_set(eb, -EINVAL, "%s: %s", who(c, off), msg);
}

/* --- value containers ---------------------------------------------------- */

static void
list_add(struct cdc_strlist *l, char *owned)
{
	l->v = xreallocarray(l->v, l->n + 1, sizeof(*l->v));
	l->v[l->n++] = owned;
}

static void
list_clear(struct cdc_strlist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static void
map_set(struct cfg_map *m, const char *k, const char *v)
{
	size_t i;

	for (i = 0; i < m->n; i++) {
		if (strcmp(m->keys[i], k) == 0) {
			free(m->vals[i]);
			m->vals[i] = xstrdup(v);
			return;
		}
	}
	m->keys = xreallocarray(m->keys, m->n + 1, sizeof(*m->keys));
	m->vals = xreallocarray(m->vals, m->n + 1, sizeof(*m->vals));
	m->keys[m->n] = xstrdup(k);
	m->vals[m->n] = xstrdup(v);
	m->n++;
}

static void
map_clear(struct cfg_map *m)
{
	size_t i;

	for (i = 0; i < m->n; i++) {
		free(m->keys[i]);
		free(m->vals[i]);
	}
	free(m->keys);
	free(m->vals);
	m->keys = m->vals = NULL;
	m->n = 0;
}

static void
set_str(struct cairn_conf *c, const struct opt *o, const char *s)
{
	char **p = field(c, o);

	free(*p);
	*p = xstrdup(s);
}

static void
free_field(struct cairn_conf *c, const struct opt *o)
{
	switch (o->type) {
	case O_STR: {
		char **p = field(c, o);

		free(*p);
		*p = NULL;
		break;
	}
	case O_LIST:
	case O_JSON:
		list_clear(field(c, o));
		break;
	case O_MAP:
		map_clear(field(c, o));
		break;
	default:
		break;
	}
}

/* same_field - whether a and b hold equal values for o. */
static bool
same_field(const struct cairn_conf *a, const struct cairn_conf *b,
    const struct opt *o)
{
	const void *pa = cfield(a, o), *pb = cfield(b, o);
	size_t i;

	switch (o->type) {
	case O_STR: {
		const char *sa = *(char *const *)pa, *sb = *(char *const *)pb;

		return strcmp(sa != NULL ? sa : "", sb != NULL ? sb : "") == 0;
	}
	case O_BOOL:
		return *(const bool *)pa == *(const bool *)pb;
	case O_INT:
	case O_PORT:
		return *(const int64_t *)pa == *(const int64_t *)pb;
	case O_DUR:
		return *(const uint64_t *)pa == *(const uint64_t *)pb;
	case O_LIST:
	case O_JSON: {
		const struct cdc_strlist *la = pa, *lb = pb;

		if (la->n != lb->n)
			return false;
		for (i = 0; i < la->n; i++)
			if (strcmp(la->v[i], lb->v[i]) != 0)
				return false;
		return true;
	}
	case O_MAP: {
		const struct cfg_map *ma = pa, *mb = pb;

		if (ma->n != mb->n)
			return false;
		for (i = 0; i < ma->n; i++)
			if (strcmp(ma->keys[i], mb->keys[i]) != 0 ||
			    strcmp(ma->vals[i], mb->vals[i]) != 0)
				return false;
		return true;
	}
	case O_OBJ:
	default:
		return true;
	}
}

/* copy_field - replace dst's value for o with a deep copy of src's. */
static void
copy_field(struct cairn_conf *dst, const struct cairn_conf *src,
    const struct opt *o)
{
	const void *ps = cfield(src, o);
	void *pd = field(dst, o);
	size_t i;

	free_field(dst, o);
	switch (o->type) {
	case O_STR: {
		const char *s = *(char *const *)ps;

		*(char **)pd = s != NULL ? xstrdup(s) : NULL;
		break;
	}
	case O_BOOL:
		*(bool *)pd = *(const bool *)ps;
		break;
	case O_INT:
	case O_PORT:
		*(int64_t *)pd = *(const int64_t *)ps;
		break;
	case O_DUR:
		*(uint64_t *)pd = *(const uint64_t *)ps;
		break;
	case O_LIST:
	case O_JSON: {
		const struct cdc_strlist *l = ps;

		for (i = 0; i < l->n; i++)
			list_add(pd, xstrdup(l->v[i]));
		break;
	}
	case O_MAP: {
		const struct cfg_map *m = ps;

		for (i = 0; i < m->n; i++)
			map_set(pd, m->keys[i], m->vals[i]);
		break;
	}
	case O_OBJ:
	default:
		break;
	}
}

/* --- scalar parsers ------------------------------------------------------ */

static int
isdig(int ch)
{
	return ch >= '0' && ch <= '9';
}

/* parse_bool - Go's strconv.ParseBool. */
static int
parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"1", "t", "T", "true", "TRUE",
					  "True"};
	static const char *const no[] = {"0", "f", "F", "false", "FALSE",
					 "False"};
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

/* parse_i64 - a whole decimal (or 0x/0 prefixed) integer: -EINVAL for bad
 * syntax, -ERANGE when it does not fit. */
static int
parse_i64(const char *s, int64_t *out)
{
	char *end;
	long long v;

	if (*s != '-' && *s != '+' && !isdig((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoll(s, &end, 0);
	if (end == s || *end != '\0')
		return -EINVAL;
	if (errno == ERANGE)
		return -ERANGE;
	*out = v;
	return 0;
}

int
cfg_duration_parse(const char *s, uint64_t *ms)
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
	const uint64_t lim = (uint64_t)INT64_MAX;
	uint64_t total = 0;
	bool neg = false;

	if (s == NULL || *s == '\0')
		return -EINVAL;
	if (*s == '-' || *s == '+')
		neg = *s++ == '-';
	if (strcmp(s, "0") == 0) {
		*ms = 0;
		return 0;
	}
	if (*s == '\0')
		return -EINVAL;
	while (*s != '\0') {
		uint64_t v = 0, f = 0, unit = 0;
		double scale = 1;
		bool pre = false, post = false;
		const char *u;
		size_t ulen, i;

		if (*s != '.' && !isdig((unsigned char)*s))
			return -EINVAL;
		for (; isdig((unsigned char)*s); s++) {
			if (v > (lim - 9) / 10)
				return -EINVAL; /* overflow */
			v = v * 10 + (uint64_t)(*s - '0');
			pre = true;
		}
		if (*s == '.') {
			bool drop = false;

			for (s++; isdig((unsigned char)*s); s++) {
				post = true;
				if (drop || f > (lim - 9) / 10) {
					drop = true;
					continue;
				}
				f = f * 10 + (uint64_t)(*s - '0');
				scale *= 10;
			}
		}
		if (!pre && !post)
			return -EINVAL;
		u = s;
		while (*s != '\0' && *s != '.' && !isdig((unsigned char)*s))
			s++;
		ulen = (size_t)(s - u);
		if (ulen == 0)
			return -EINVAL; /* missing unit */
		for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
			if (strlen(units[i].name) == ulen &&
			    memcmp(units[i].name, u, ulen) == 0)
				unit = units[i].ns;
		if (unit == 0)
			return -EINVAL;
		if (v > lim / unit)
			return -EINVAL;
		v *= unit;
		if (f > 0) {
			/* f < scale, so this is below unit: no overflow */
			v += (uint64_t)((double)f * ((double)unit / scale));
			if (v > lim)
				return -EINVAL;
		}
		if (total > lim - v)
			return -EINVAL;
		total += v;
	}
	if (neg && total != 0)
		return -EINVAL;
	*ms = total / 1000000;
	if (*ms == 0 && total > 0)
		*ms = 1;
	return 0;
}

/* --- setting values ------------------------------------------------------ */

static int
range_err(const struct opt *o, const char *where, const char *text,
    struct errbuf *eb)
{
	return errbuf_set(eb, -EINVAL, "%s: %s out of range %lld..%lld", where,
	    text, (long long)o->min, (long long)o->max);
}

static int
set_int(struct cairn_conf *c, const struct opt *o, int64_t v,
    const char *text, const char *where, struct errbuf *eb)
{
	if (v < o->min || v > o->max)
		return range_err(o, where, text, eb);
	*(int64_t *)field(c, o) = v;
	return 0;
}

static int
set_dur(struct cairn_conf *c, const struct opt *o, const char *s,
    const char *where, struct errbuf *eb)
{
	uint64_t ms;

	if (cfg_duration_parse(s, &ms) < 0)
		return errbuf_set(eb, -EINVAL, "%s: invalid duration \"%s\"",
		    where, s);
	if (ms < (uint64_t)o->min) {
		long long m = (long long)o->min;

		if (m % 3600000 == 0)
			return errbuf_set(eb, -EINVAL,
			    "%s: %s is below the minimum of %lldh", where, s,
			    m / 3600000);
		return errbuf_set(eb, -EINVAL,
		    "%s: %s is below the minimum of %lldms", where, s, m);
	}
	*(uint64_t *)field(c, o) = ms;
	return 0;
}

/* set_text - apply a value in flag syntax (flags and defaults). */
static int
set_text(struct cairn_conf *c, const struct opt *o, const char *s,
    const char *where, struct errbuf *eb)
{
	const char *colon;
	int64_t v;
	bool b;
	int rc;

	switch (o->type) {
	case O_STR:
		set_str(c, o, s);
		return 0;
	case O_BOOL:
		if (parse_bool(s, &b) < 0)
			return errbuf_set(eb, -EINVAL,
			    "%s: invalid boolean \"%s\"", where, s);
		*(bool *)field(c, o) = b;
		return 0;
	case O_INT:
	case O_PORT:
		rc = parse_i64(s, &v);
		if (rc == -ERANGE)
			return range_err(o, where, s, eb);
		if (rc < 0)
			return errbuf_set(eb, -EINVAL,
			    "%s: invalid integer \"%s\"", where, s);
		return set_int(c, o, v, s, where, eb);
	case O_DUR:
		return set_dur(c, o, s, where, eb);
	case O_LIST:
		list_add(field(c, o), xstrdup(s));
		return 0;
	case O_MAP: {
		/* "key:value"; a bare "key" means an empty value */
		char *k;

		colon = strchr(s, ':');
		k = colon != NULL ? xstrndup(s, (size_t)(colon - s))
				  : xstrdup(s);
		if (*k == '\0') {
			free(k);
			return errbuf_set(eb, -EINVAL,
			    "%s: expected key:value, got \"%s\"", where, s);
		}
		map_set(field(c, o), k, colon != NULL ? colon + 1 : "");
		free(k);
		return 0;
	}
	case O_JSON:
	case O_OBJ:
	default:
		return errbuf_set(eb, -EINVAL, "%s: cannot be set from text",
		    where);
	}
}

static int
type_err(const char *where, const char *want, yajl_val v, struct errbuf *eb)
{
	return errbuf_set(eb, -EINVAL, "%s: expected %s, got %s", where, want,
	    json_type_name(v));
}

/* integer_text - whether a JSON number's text is a plain integer (so a
 * value yajl could not hold is "out of range", not "not an integer"). */
static bool
integer_text(const char *s)
{
	if (s == NULL)
		return false;
	if (*s == '-')
		s++;
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++)
		if (!isdig((unsigned char)*s))
			return false;
	return true;
}

/* set_json - apply a JSON value from a config file. */
static int
set_json(struct cairn_conf *c, const struct opt *o, yajl_val v,
    const char *where, struct errbuf *eb)
{
	size_t i;

	switch (o->type) {
	case O_STR:
		if (!YAJL_IS_STRING(v))
			return type_err(where, "string", v, eb);
		set_str(c, o, v->u.string);
		return 0;
	case O_BOOL:
		if (!YAJL_IS_TRUE(v) && !YAJL_IS_FALSE(v))
			return type_err(where, "boolean", v, eb);
		*(bool *)field(c, o) = YAJL_IS_TRUE(v);
		return 0;
	case O_INT:
	case O_PORT:
		if (YAJL_IS_INTEGER(v))
			return set_int(c, o, YAJL_GET_INTEGER(v),
			    v->u.number.r, where, eb);
		if (YAJL_IS_NUMBER(v) && integer_text(v->u.number.r))
			return range_err(o, where, v->u.number.r, eb);
		return type_err(where, "integer", v, eb);
	case O_DUR:
		if (!YAJL_IS_STRING(v))
			return type_err(where, "duration string", v, eb);
		return set_dur(c, o, v->u.string, where, eb);
	case O_LIST:
		if (!YAJL_IS_ARRAY(v))
			return type_err(where, "array of strings", v, eb);
		for (i = 0; i < v->u.array.len; i++) {
			yajl_val e = v->u.array.values[i];

			if (!YAJL_IS_STRING(e))
				return errbuf_set(eb, -EINVAL,
				    "%s[%zu]: expected string, got %s", where,
				    i, json_type_name(e));
			list_add(field(c, o), xstrdup(e->u.string));
		}
		return 0;
	case O_MAP:
		if (!YAJL_IS_OBJECT(v))
			return type_err(where, "object", v, eb);
		for (i = 0; i < v->u.object.len; i++) {
			const char *k = v->u.object.keys[i];
			yajl_val e = v->u.object.values[i];
			uint64_t ms;

			if (!YAJL_IS_STRING(e))
				return errbuf_set(eb, -EINVAL,
				    "%s.%s: expected string, got %s", where, k,
				    json_type_name(e));
			if ((o->fl & F_MAPDUR) &&
			    cfg_duration_parse(e->u.string, &ms) < 0)
				return errbuf_set(eb, -EINVAL,
				    "%s.%s: invalid duration \"%s\"", where, k,
				    e->u.string);
			map_set(field(c, o), k, e->u.string);
		}
		return 0;
	case O_JSON:
		if (o->fl & F_ONE) {
			if (!YAJL_IS_OBJECT(v))
				return type_err(where, "object", v, eb);
		} else if (!YAJL_IS_ARRAY(v))
			return type_err(where, "array of objects", v, eb);
		for (i = 0; i < (YAJL_IS_ARRAY(v) ? v->u.array.len : 1); i++) {
			yajl_val e = v;
			char *txt;

			if (YAJL_IS_ARRAY(v))
				e = v->u.array.values[i];
			if (!YAJL_IS_OBJECT(e))
				return errbuf_set(eb, -EINVAL,
				    "%s[%zu]: expected object, got %s", where,
				    i, json_type_name(e));
			if ((txt = json_to_text(e)) == NULL)
				return errbuf_set(eb, -EINVAL,
				    "%s: cannot re-encode value", where);
			list_add(field(c, o), txt);
		}
		return 0;
	case O_OBJ:
	default:
		return errbuf_set(eb, -EINVAL, "%s: not a value", where);
	}
}

/* --- config files -------------------------------------------------------- */

/* apply_obj - apply every member of JSON object obj; prefix is the dotted
 * key of obj itself ("" at the top level). */
static int
apply_obj(struct cairn_conf *c, const char *src, const char *prefix,
    yajl_val obj, struct errbuf *eb)
{
	size_t i;
	int rc = 0;

	for (i = 0; i < obj->u.object.len && rc == 0; i++) {
		yajl_val v = obj->u.object.values[i];
		const struct opt *o;
		char *key, *where;

		key = *prefix != '\0'
			  ? xasprintf("%s.%s", prefix, obj->u.object.keys[i])
			  : xstrdup(obj->u.object.keys[i]);
		where = xasprintf("%s: %s", src, key);
		/* a literal "ports.http" member is not the nested key */
		if (strchr(obj->u.object.keys[i], '.') != NULL ||
		    (o = opt_by_key(key)) == NULL)
			rc = errbuf_set(eb, -EINVAL,
			    "%s: unknown configuration key", where);
		else if (o->type == O_OBJ) {
			if (!YAJL_IS_OBJECT(v))
				rc = type_err(where, "object", v, eb);
			else
				rc = apply_obj(c, src, key, v, eb);
		} else if ((rc = set_json(c, o, v, where, eb)) == 0)
			set_origin(c, o, where);
		free(where);
		free(key);
	}
	return rc;
}

static int
apply_buffer(struct cairn_conf *c, const char *name, const char *p, size_t n,
    struct errbuf *eb)
{
	yajl_val v;
	int rc;

	if ((v = json_parse(p, n, eb)) == NULL)
		return errbuf_wrap(eb, -EINVAL, "%s", name);
	if (!YAJL_IS_OBJECT(v))
		rc = errbuf_set(eb, -EINVAL, "%s: top level must be an object",
		    name);
	else
		rc = apply_obj(c, name, "", v, eb);
	yajl_tree_free(v);
	return rc;
}

static int
read_whole(const char *path, char **out, size_t *outlen, struct errbuf *eb)
{
	size_t n = 0, cap = 8192;
	struct stat st;
	char *p;
	ssize_t r;
	int fd, e;

	/* O_NONBLOCK: a FIFO or device must not hang the start-up */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)) <
	    0) {
		e = errno;
		return errbuf_set(eb, -e, "%s: %s", path, strerror(e));
	}
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		close(fd);
		return errbuf_set(eb, -EISDIR, "%s: %s", path,
		    strerror(EISDIR));
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return errbuf_set(eb, -EINVAL, "%s: not a regular file", path);
	}
	p = xmalloc(cap);
	for (;;) {
		if (n == cap) {
			if (cap > JSON_MAX_INPUT) {
				free(p);
				close(fd);
				return errbuf_set(eb, -EFBIG,
				    "%s: larger than %u bytes", path,
				    JSON_MAX_INPUT);
			}
			cap *= 2;
			p = xreallocarray(p, cap, 1);
		}
		r = read(fd, p + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			e = errno;
			free(p);
			close(fd);
			return errbuf_set(eb, -e, "%s: %s", path, strerror(e));
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	*out = p;
	*outlen = n;
	return 0;
}

static bool
has_suffix(const char *s, const char *suf)
{
	size_t n = strlen(s), m = strlen(suf);

	return n >= m && strcmp(s + n - m, suf) == 0;
}

static int
load_file(struct cairn_conf *c, const char *path, struct errbuf *eb)
{
	size_t n = 0;
	char *p = NULL;
	int rc;

	if (has_suffix(path, ".hcl"))
		return errbuf_set(eb, -EINVAL,
		    "%s: HCL is not supported (use JSON)", path);
	if ((rc = read_whole(path, &p, &n, eb)) < 0)
		return rc;
	rc = apply_buffer(c, path, p, n, eb);
	free(p);
	return rc;
}

static int
json_name(const struct dirent *d)
{
	return has_suffix(d->d_name, ".json");
}

static int
name_cmp(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int
load_dir(struct cairn_conf *c, const char *dir, struct errbuf *eb)
{
	struct dirent **ents = NULL;
	struct stat st;
	int i, n, e, rc = 0;

	if ((n = scandir(dir, &ents, json_name, name_cmp)) < 0) {
		e = errno;
		return errbuf_set(eb, -e, "%s: %s", dir, strerror(e));
	}
	for (i = 0; i < n; i++) {
		char *path;

		if (rc == 0) {
			path = xasprintf("%s%s%s", dir,
			    has_suffix(dir, "/") ? "" : "/", ents[i]->d_name);
			if (stat(path, &st) < 0) {
				e = errno;
				rc = errbuf_set(eb, -e, "%s: %s", path,
				    strerror(e));
			} else if (S_ISREG(st.st_mode))
				rc = load_file(c, path, eb);
			free(path);
		}
		free(ents[i]);
	}
	free(ents);
	return rc;
}

/* --- command line -------------------------------------------------------- */

/* parse_args - resolve argv into steps; reports unknown flags, missing
 * values, stray arguments and the flags that fail on sight. */
static int
parse_args(int argc, char *const argv[], struct step *steps, size_t *nsteps,
    bool *dev, struct errbuf *eb)
{
	int i;

	*nsteps = 0;
	for (i = 0; i < argc; i++) {
		const char *a = argv[i], *name, *eq, *val;
		const struct opt *o = NULL;
		enum special sp = SP_NONE;
		size_t j, nlen;
		bool isbool;

		if (strcmp(a, "--") == 0) {
			if (i + 1 < argc)
				return errbuf_set(eb, -EINVAL,
				    "command line: %s: unexpected argument",
				    argv[i + 1]);
			break;
		}
		if (a[0] != '-' || a[1] == '\0')
			return errbuf_set(eb, -EINVAL,
			    "command line: %s: unexpected argument", a);
		name = a + 1;
		if (*name == '-')
			name++;
		if (*name == '-' || *name == '=' || *name == '\0')
			return errbuf_set(eb, -EINVAL,
			    "command line: %s: bad flag syntax", a);
		eq = strchr(name, '=');
		nlen = eq != NULL ? (size_t)(eq - name) : strlen(name);
		for (j = 0; j < sizeof(specials) / sizeof(specials[0]); j++)
			if (strlen(specials[j].name) == nlen &&
			    strncmp(specials[j].name, name, nlen) == 0)
				sp = specials[j].sp;
		for (j = 0; sp == SP_NONE && o == NULL && j < NOPTS; j++)
			if (opts[j].flag != NULL &&
			    strlen(opts[j].flag) == nlen &&
			    strncmp(opts[j].flag, name, nlen) == 0)
				o = &opts[j];
		if (sp == SP_NONE && o == NULL)
			return errbuf_set(eb, -EINVAL,
			    "command line: -%.*s: unknown flag", (int)nlen,
			    name);
		if (sp == SP_HCL)
			return errbuf_set(eb, -EINVAL,
			    "command line: -hcl: HCL is not supported "
			    "(use JSON config files)");
		isbool = sp == SP_DEV || (o != NULL && o->type == O_BOOL);
		if (eq != NULL)
			val = eq + 1;
		else if (isbool)
			val = "true";
		else if (i + 1 < argc)
			val = argv[++i];
		else
			return errbuf_set(eb, -EINVAL,
			    "command line: -%.*s: missing value", (int)nlen,
			    name);
		if (sp == SP_DEV) {
			if (parse_bool(val, dev) < 0)
				return errbuf_set(eb, -EINVAL,
				    "command line: -dev: invalid boolean "
				    "\"%s\"",
				    val);
			continue;
		}
		if (sp == SP_CONFIG_FORMAT) {
			if (strcmp(val, "json") != 0)
				return errbuf_set(eb, -EINVAL,
				    "command line: -config-format: "
				    "unsupported format \"%s\" (only json)",
				    val);
			continue;
		}
		steps[*nsteps].o = o;
		steps[*nsteps].sp = sp;
		steps[*nsteps].name = o != NULL ? o->flag
				      : sp == SP_CONFIG_FILE ? "config-file"
							     : "config-dir";
		steps[*nsteps].val = val;
		(*nsteps)++;
	}
	return 0;
}

/* --- defaults, finishing, validation -------------------------------------- */

static void
apply_defaults(struct cairn_conf *c)
{
	char host[256];
	size_t i;

	c->origin = xcalloc(NOPTS, sizeof(*c->origin));
	for (i = 0; i < NOPTS; i++)
		if (opts[i].type != O_OBJ && !(opts[i].fl & F_ALIAS) &&
		    opts[i].def != NULL)
			(void)set_text(c, &opts[i], opts[i].def, "default",
			    NULL);
	if (gethostname(host, sizeof(host)) < 0)
		host[0] = '\0';
	host[sizeof(host) - 1] = '\0';
	set_str(c, opt_by_key("node_name"), host);
}

static void
apply_dev(struct cairn_conf *c)
{
	size_t i;

	c->dev = true;
	for (i = 0; i < sizeof(dev_defaults) / sizeof(dev_defaults[0]); i++) {
		const struct opt *o = opt_by_key(dev_defaults[i].key);
		char *where = xasprintf("command line: -dev: %s", o->key);

		(void)set_text(c, o, dev_defaults[i].val, where, NULL);
		set_origin(c, o, where);
		free(where);
	}
}

static void
lower(char *s)
{
	for (; *s != '\0'; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

/* fqdn - store domain with exactly one trailing dot ("" stays ""). */
static void
fqdn(char **dom)
{
	size_t n = strlen(*dom);
	char *s;

	if (n == 0)
		return;
	while (n > 0 && (*dom)[n - 1] == '.')
		n--;
	s = xasprintf("%.*s.", (int)n, *dom);
	free(*dom);
	*dom = s;
}

/* finish - derived defaults and normalisation, before validation. */
static void
finish(struct cairn_conf *c)
{
	if (c->run_dir[0] == '\0') {
		free(c->run_dir);
		if (c->data_dir[0] != '\0')
			c->run_dir = xasprintf("%s%srun", c->data_dir,
			    has_suffix(c->data_dir, "/") ? "" : "/");
		else
			c->run_dir = xasprintf("/tmp/cairn-dev-%u/run",
			    (unsigned)getuid());
	}
	fqdn(&c->domain);
	fqdn(&c->alt_domain);
	lower(c->datacenter);
	lower(c->primary_datacenter);
	lower(c->node_id);
}

static bool
dc_ok(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || isdig((unsigned char)*s) ||
		    *s == '_' || *s == '-'))
			return false;
	return true;
}

static bool
uuid_ok(const char *s)
{
	size_t i;

	if (strlen(s) != 36)
		return false;
	for (i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return false;
		} else if (!isdig((unsigned char)s[i]) &&
		    !(s[i] >= 'a' && s[i] <= 'f'))
			return false;
	}
	return true;
}

/* b64_len - decoded length of standard padded base64 s, or -1. */
static int
b64_len(const char *s)
{
	size_t n = strlen(s), i, pad = 0;
	unsigned char *out;
	int r;

	if (n == 0 || n % 4 != 0 || n > 4096)
		return -1;
	while (pad < 2 && s[n - 1 - pad] == '=')
		pad++;
	for (i = 0; i < n - pad; i++) {
		char ch = s[i];

		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		    isdig((unsigned char)ch) || ch == '+' || ch == '/'))
			return -1;
	}
	out = xmalloc(n / 4 * 3 + 1);
	r = EVP_DecodeBlock(out, (const unsigned char *)s, (int)n);
	free(out);
	if (r != (int)(n / 4 * 3))
		return -1;
	return r - (int)pad;
}

static bool
meta_key_ok(const char *k)
{
	size_t n = strlen(k), i;

	if (n == 0 || n > 128)
		return false;
	for (i = 0; i < n; i++)
		if (!((k[i] >= 'a' && k[i] <= 'z') ||
		    (k[i] >= 'A' && k[i] <= 'Z') ||
		    isdig((unsigned char)k[i]) || k[i] == '_' || k[i] == '-'))
			return false;
	return true;
}

static int
validate_ports(const struct cairn_conf *c, struct errbuf *eb)
{
	static const size_t offs[] = {
	    OFF(port_http), OFF(port_https), OFF(port_dns), OFF(port_grpc),
	    OFF(port_serf_lan), OFF(port_serf_wan), OFF(port_server),
	};
	size_t i, j, n = sizeof(offs) / sizeof(offs[0]);

	for (i = 0; i < n; i++) {
		int64_t pi = *(const int64_t *)((const char *)c + offs[i]);

		for (j = 0; j < i; j++) {
			int64_t pj = *(const int64_t *)((const char *)c +
			    offs[j]);
			size_t blame = i, other = j;

			if (pi <= 0 || pi != pj)
				continue;
			/* blame the one that was set, not a default */
			if (c->origin[opt_by_off(offs[i]) - opts] == NULL &&
			    c->origin[opt_by_off(offs[j]) - opts] != NULL) {
				blame = j;
				other = i;
			}
			return verr(c, offs[blame], eb,
			    "port %lld already used by %s", (long long)pi,
			    opt_by_off(offs[other])->key);
		}
	}
	return 0;
}

static int
validate(const struct cairn_conf *c, struct errbuf *eb)
{
	enum log_level lvl;
	const char *s;
	size_t i;
	int n;

	if (!c->dev && c->data_dir[0] == '\0')
		return verr(c, OFF(data_dir), eb, "required (or use -dev)");
	if (c->bootstrap_expect < 0)
		return verr(c, OFF(bootstrap_expect), eb,
		    "must be >= 1 when set (0 = off)");
	if (c->bootstrap && c->bootstrap_expect > 0)
		return verr(c, OFF(bootstrap_expect), eb,
		    "cannot be used together with bootstrap");
	if (c->bootstrap && !c->server)
		return verr(c, OFF(bootstrap), eb, "requires server mode");
	if (c->bootstrap_expect > 0 && !c->server)
		return verr(c, OFF(bootstrap_expect), eb,
		    "requires server mode");
	if (log_level_parse(c->log_level, &lvl) < 0)
		return verr(c, OFF(log_level), eb,
		    "invalid log level \"%s\" (trace, debug, info, warn, "
		    "error)",
		    c->log_level);
	if (c->encrypt[0] != '\0') {
		n = b64_len(c->encrypt);
		if (n < 0)
			return verr(c, OFF(encrypt), eb,
			    "not valid base64");
		if (n != 16 && n != 24 && n != 32)
			return verr(c, OFF(encrypt), eb,
			    "key is %d bytes; must be 16, 24 or 32", n);
	}
	if (!dc_ok(c->datacenter))
		return verr(c, OFF(datacenter), eb,
		    "must contain only alphanumerics, underscores and dashes");
	if (c->primary_datacenter[0] != '\0' && !dc_ok(c->primary_datacenter))
		return verr(c, OFF(primary_datacenter), eb,
		    "must contain only alphanumerics, underscores and dashes");
	if (c->node_name[0] == '\0')
		return verr(c, OFF(node_name), eb, "must not be empty");
	for (s = c->node_name; *s != '\0'; s++)
		if (*s == ' ' || (unsigned char)*s < 0x20 || *s == 0x7f)
			return verr(c, OFF(node_name), eb,
			    "must not contain whitespace or control "
			    "characters");
	if (c->node_id[0] != '\0' && !uuid_ok(c->node_id))
		return verr(c, OFF(node_id), eb,
		    "\"%s\" is not a UUID (8-4-4-4-12 hex digits)",
		    c->node_id);
	if (strcmp(c->domain, ".") == 0)
		return verr(c, OFF(domain), eb, "must not be empty");
	if (strcmp(c->alt_domain, ".") == 0)
		return verr(c, OFF(alt_domain), eb, "must not be the root");
	if (validate_ports(c, eb) < 0)
		return -EINVAL;
	if (c->node_meta.n > 64)
		return verr(c, OFF(node_meta), eb,
		    "%zu pairs; at most 64 allowed", c->node_meta.n);
	for (i = 0; i < c->node_meta.n; i++) {
		if (!meta_key_ok(c->node_meta.keys[i]))
			return verr(c, OFF(node_meta), eb,
			    "key \"%s\" must be 1-128 letters, digits, '_' "
			    "or '-'",
			    c->node_meta.keys[i]);
		if (strncmp(c->node_meta.keys[i], "consul-", 7) == 0)
			return verr(c, OFF(node_meta), eb,
			    "key \"%s\" uses the reserved prefix consul-",
			    c->node_meta.keys[i]);
		if (strlen(c->node_meta.vals[i]) > 512)
			return verr(c, OFF(node_meta), eb,
			    "value of \"%s\" is longer than 512 bytes",
			    c->node_meta.keys[i]);
	}
	if (strcmp(c->acl_default_policy, "allow") != 0 &&
	    strcmp(c->acl_default_policy, "deny") != 0)
		return verr(c, OFF(acl_default_policy), eb,
		    "must be \"allow\" or \"deny\"");
	s = c->acl_down_policy;
	if (strcmp(s, "allow") != 0 && strcmp(s, "deny") != 0 &&
	    strcmp(s, "extend-cache") != 0 && strcmp(s, "async-cache") != 0)
		return verr(c, OFF(acl_down_policy), eb,
		    "must be allow, deny, extend-cache or async-cache");
	return 0;
}

/* --- public -------------------------------------------------------------- */

int
cfg_load(int argc, char *const argv[], struct cairn_conf *c,
    struct errbuf *eb)
{
	struct step *steps;
	size_t i, n;
	bool dev = false;
	int rc;

	memset(c, 0, sizeof(*c));
	if (argc < 0)
		argc = 0;
	errbuf_clear(eb);
	steps = xcalloc((size_t)argc + 1, sizeof(*steps));
	if ((rc = parse_args(argc, argv, steps, &n, &dev, eb)) < 0)
		goto out;
	apply_defaults(c);
	if (dev)
		apply_dev(c);
	for (i = 0; i < n && rc == 0; i++) {
		if (steps[i].sp == SP_CONFIG_FILE)
			rc = load_file(c, steps[i].val, eb);
		else if (steps[i].sp == SP_CONFIG_DIR)
			rc = load_dir(c, steps[i].val, eb);
	}
	for (i = 0; i < n && rc == 0; i++) {
		char *where;

		if (steps[i].o == NULL)
			continue;
		where = xasprintf("command line: -%s", steps[i].name);
		if ((rc = set_text(c, steps[i].o, steps[i].val, where,
		    eb)) == 0)
			set_origin(c, steps[i].o, where);
		free(where);
	}
	if (rc < 0)
		goto out;
	finish(c);
	if ((rc = validate(c, eb)) < 0)
		goto out;
	c->argv = xcalloc((size_t)argc + 1, sizeof(*c->argv));
	for (i = 0; i < (size_t)argc; i++)
		c->argv[i] = xstrdup(argv[i]);
	c->argc = argc;
out:
	free(steps);
	if (rc < 0)
		cfg_free(c);
	return rc;
}

int
cfg_load_buffer(const char *name, const char *p, size_t n,
    struct cairn_conf *c, struct errbuf *eb)
{
	int rc;

	memset(c, 0, sizeof(*c));
	errbuf_clear(eb);
	apply_defaults(c);
	if ((rc = apply_buffer(c, name, p, n, eb)) == 0) {
		finish(c);
		rc = validate(c, eb);
	}
	if (rc < 0)
		cfg_free(c);
	return rc;
}

void
cfg_free(struct cairn_conf *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < NOPTS; i++)
		if (opts[i].type != O_OBJ && !(opts[i].fl & F_ALIAS))
			free_field(c, &opts[i]);
	if (c->origin != NULL)
		for (i = 0; i < NOPTS; i++)
			free(c->origin[i]);
	free(c->origin);
	if (c->argv != NULL)
		for (i = 0; i < (size_t)c->argc; i++)
			free(c->argv[i]);
	free(c->argv);
	memset(c, 0, sizeof(*c));
}

int
cfg_reload(const struct cairn_conf *old, struct cairn_conf *fresh,
    void (*notice)(const char *key, void *arg), void *arg,
    struct errbuf *eb)
{
	size_t i;
	int rc;

	if ((rc = cfg_load(old->argc, old->argv, fresh, eb)) < 0)
		return rc;
	for (i = 0; i < NOPTS; i++) {
		const struct opt *o = &opts[i];

		if (o->type == O_OBJ || (o->fl & (F_ALIAS | F_RELOAD)))
			continue;
		if (same_field(old, fresh, o))
			continue;
		if (notice != NULL)
			notice(o->key, arg);
		copy_field(fresh, old, o);
		free(fresh->origin[i]);
		fresh->origin[i] = old->origin != NULL &&
				old->origin[i] != NULL
			? xstrdup(old->origin[i])
			: NULL;
	}
	return 0;
}

void
cfg_usage_flags(FILE *f)
{
	static const char *const hint[] = {
	    [O_STR] = "<value>",
	    [O_BOOL] = "",
	    [O_INT] = "<n>",
	    [O_PORT] = "<port>",
	    [O_DUR] = "<duration>",
	    [O_LIST] = "<value>",
	    [O_MAP] = "<key:value>",
	    [O_JSON] = "",
	    [O_OBJ] = "",
	};
	char buf[64];
	size_t i;

	for (i = 0; i < sizeof(specials) / sizeof(specials[0]); i++) {
		snprintf(buf, sizeof(buf), "-%s%s%s", specials[i].name,
		    specials[i].hint != NULL ? " " : "",
		    specials[i].hint != NULL ? specials[i].hint : "");
		fprintf(f, "  %-34s %s\n", buf, specials[i].help);
	}
	for (i = 0; i < NOPTS; i++) {
		if (opts[i].flag == NULL)
			continue;
		snprintf(buf, sizeof(buf), "-%s%s%s", opts[i].flag,
		    *hint[opts[i].type] != '\0' ? " " : "",
		    hint[opts[i].type]);
		fprintf(f, "  %-34s %s\n", buf,
		    opts[i].help != NULL ? opts[i].help : "");
	}
}
