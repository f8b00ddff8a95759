/* cfg.h - the agent configuration: Consul's JSON agent config keys plus
 * command-line flags, shared by every daemon and by `cairn agent`.
 *
 * Sources, applied in this order (later wins for scalars; lists append;
 * maps merge by key):
 *   1. built-in defaults (Consul's);
 *   2. with -dev, the dev-mode defaults (server, bootstrap, ui, log_level
 *      DEBUG, bind/advertise/client 127.0.0.1);
 *   3. each -config-file FILE and -config-dir DIR, in the order they appear
 *      on the command line; a dir contributes its *.json files (not
 *      recursive, sorted by name); other files in a dir are ignored;
 *   4. every other command-line flag, in order.
 * Then the merged result is validated.
 *
 * Every error names where it came from and which key, in the form
 *   "<file>: <key>: <reason>"            (config files; nested keys dotted:
 *                                         "ports.http", "dns_config.max_stale")
 *   "command line: -<flag>: <reason>"    (flags)
 * Unknown keys and unknown flags are errors, as are values of the wrong
 * type or out of range, JSON syntax errors ("<file>: parse error: ..."),
 * and invalid combinations found by validation (reported against the file
 * or flag that set the offending key).
 */
#ifndef CAIRN_CFG_H
#define CAIRN_CFG_H

#include <stdbool.h>
#include <stdint.h>

#include "codec.h" /* struct cdc_strlist */
#include "err.h"

/* A map from string to string (node_meta, dns_config.service_ttl):
 * keys[i] -> vals[i], keys unique, insertion order. */
struct cfg_map {
	char **keys;
	char **vals;
	size_t n;
};

struct cairn_conf {
	/* identity */
	char *datacenter;	/* "dc1"; lowercase [a-z0-9_-]+ */
	char *node_name;	/* default: gethostname() */
	char *node_id;		/* "" unless set; UUID if set */
	struct cfg_map node_meta;
	char *primary_datacenter;

	/* mode */
	bool dev;		/* -dev flag only */
	bool server;
	bool bootstrap;
	int64_t bootstrap_expect; /* 0 = off */
	char *data_dir;		/* required unless dev */
	char *run_dir;		/* IPC sockets; default <data_dir>/run (Cairn);
				 * with -dev and no data_dir
				 * /tmp/cairn-dev-<uid>/run */

	/* addresses and ports */
	char *bind_addr;	/* "0.0.0.0" */
	char *advertise_addr;	/* "" = derive from bind_addr */
	char *advertise_addr_wan;
	char *client_addr;	/* "127.0.0.1" */
	char *serf_lan_bind;	/* key "serf_lan" */
	char *serf_wan_bind;	/* key "serf_wan" */
	char *addr_dns, *addr_http, *addr_https, *addr_grpc; /* "addresses" */
	int64_t port_dns;	/* 8600 */
	int64_t port_http;	/* 8500 */
	int64_t port_https;	/* -1 */
	int64_t port_grpc;	/* -1 */
	int64_t port_serf_lan;	/* 8301 */
	int64_t port_serf_wan;	/* 8302 */
	int64_t port_server;	/* 8300 */

	/* joining */
	struct cdc_strlist start_join, start_join_wan;
	struct cdc_strlist retry_join, retry_join_wan;
	uint64_t retry_interval_ms;	/* 30s */
	uint64_t retry_interval_wan_ms; /* 30s */
	int64_t retry_max, retry_max_wan; /* 0 = forever */
	/* Cairn: other servers' Raft addresses, "name=host:port" (until
	 * gossip finds them; key "raft_peers", flag -raft-peer) */
	struct cdc_strlist raft_peers;
	bool rejoin_after_leave;
	bool leave_on_terminate;
	bool skip_leave_on_interrupt;
	uint64_t reconnect_timeout_ms; /* 72h */

	/* gossip encryption and TLS */
	char *encrypt;		/* base64 of 16, 24 or 32 bytes, or "" */
	bool encrypt_verify_incoming; /* true */
	bool encrypt_verify_outgoing; /* true */
	char *ca_file, *ca_path, *cert_file, *key_file;
	bool verify_incoming, verify_outgoing, verify_server_hostname;

	/* DNS */
	char *domain;		/* "consul." (always stored with trailing dot) */
	char *alt_domain;	/* "" or with trailing dot */
	struct cdc_strlist recursors;
	bool dns_allow_stale;	/* dns_config.allow_stale, true */
	uint64_t dns_max_stale_ms; /* dns_config.max_stale, 10y */
	uint64_t dns_node_ttl_ms;  /* dns_config.node_ttl, 0 */
	struct cfg_map dns_service_ttl; /* dns_config.service_ttl {name: "10s"} */
	bool dns_enable_truncate;
	bool dns_only_passing;
	uint64_t dns_recursor_timeout_ms; /* 2s */
	int64_t dns_udp_answer_limit;	   /* 3 */
	int64_t dns_a_record_limit;	   /* 0 = no limit */
	bool dns_disable_compression;

	/* services, checks, watches: each element is one JSON object, kept as
	 * compact JSON text for checkd/ctl to parse (keys "service",
	 * "services", "check", "checks", "watches").  Arrays contribute one
	 * element per item. */
	struct cdc_strlist services;
	struct cdc_strlist checks;
	struct cdc_strlist watches;
	bool enable_script_checks;
	bool enable_local_script_checks;
	uint64_t check_update_interval_ms; /* 5m */
	int64_t check_output_max_size;	   /* 4096 */
	bool disable_remote_exec;	   /* true */
	bool disable_update_check;

	/* HTTP and limits */
	bool ui;		/* "ui" or "ui_config.enabled" */
	char *ui_dir;		/* "ui_dir" or "ui_config.dir" */
	int64_t http_max_conns_per_client; /* limits.http_max_conns_per_client 200 */
	int64_t kv_max_value_size;	   /* limits.kv_max_value_size 524288 */
	int64_t txn_max_req_len;	   /* limits.txn_max_req_len 524288 */
	uint64_t max_query_time_ms;	   /* 600s */
	uint64_t default_query_time_ms;	   /* 300s */
	uint64_t session_ttl_min_ms;	   /* 10s */
	bool translate_wan_addrs;
	int64_t raft_multiplier;	   /* performance.raft_multiplier 1..10, default 5 */
	int64_t raft_snapshot_threshold;   /* entries between snapshots, 16384 */
	int64_t raft_trailing_logs;	   /* entries kept behind a snapshot, 10240 */
	int64_t protocol;		   /* 2 */
	int64_t raft_protocol;		   /* 3 */

	/* ACL (stored for later issues) */
	bool acl_enabled;
	char *acl_default_policy;	/* "allow" | "deny" */
	char *acl_down_policy;		/* "extend-cache" */
	char *acl_token_default;	/* acl.tokens.default */
	char *acl_token_agent;		/* acl.tokens.agent */
	char *acl_token_initial_management; /* acl.tokens.initial_management (alias "master") */

	/* logging and process */
	char *log_level;	/* "INFO"; trace|debug|info|warn|err(or) */
	char *pid_file;

	/* where each option's current value came from, indexed by cfg.c's
	 * option table: NULL for the default, else the error prefix
	 * "<file>: <key>" or "command line: -<flag>".  Owned by the conf.
	 * Internal to cfg.c. */
	char **origin;
	/* the command-line arguments the config was loaded from (copied),
	 * so reload can re-read the same files. */
	char **argv;
	int argc;
};

/* cfg_load - build a configuration from defaults, config files/dirs and
 * flags (argv holds only the agent flags, not the program name or the
 * "agent" subcommand).  Accepts "-flag value", "-flag=value", "--flag..."
 * and, for booleans, "-flag" / "-flag=true|false".  On success returns 0
 * and *c is filled (free with cfg_free).  On failure returns -EINVAL (or
 * -errno for an unreadable file), eb holds "<source>: <key>: <reason>" and
 * *c is left zeroed.  Non-flag arguments are an error. */
int cfg_load(int argc, char *const argv[], struct cairn_conf *c,
    struct errbuf *eb);

/* cfg_load_buffer - defaults, then p[0..n) as one JSON config file called
 * name (used in errors), then validation; no flags, so c->argv is NULL.
 * Returns and fills *c / eb as cfg_load does.  For tests and fuzzing. */
int cfg_load_buffer(const char *name, const char *p, size_t n,
    struct cairn_conf *c, struct errbuf *eb);

/* cfg_free - release everything c owns and zero it; NULL is a no-op. */
void cfg_free(struct cairn_conf *c);

/* cfg_reload - parse a fresh configuration from old->argv (re-reading the
 * files) into *fresh.  Options that cannot change at run time keep old's
 * values in *fresh, and each such option whose value differed is reported
 * through notice(key, arg) so the daemon can log "<key> changed; restart
 * needed".  Reloadable today: log_level, services, checks, watches,
 * node_meta, recursors, dns_config.*, enable_script_checks,
 * enable_local_script_checks, check_update_interval, limits.*,
 * max_query_time, default_query_time.  Returns 0, or an error as cfg_load
 * does (then *fresh is zeroed and the caller keeps old). */
int cfg_reload(const struct cairn_conf *old, struct cairn_conf *fresh,
    void (*notice)(const char *key, void *arg), void *arg,
    struct errbuf *eb);

/* cfg_duration_parse - Go duration syntax ("10s", "1m30s", "1.5h", "100ms",
 * "250us", "0"); returns 0 and milliseconds (sub-ms rounds up to 1 when
 * non-zero), or -EINVAL (negative, empty, unknown unit, overflow). */
int cfg_duration_parse(const char *s, uint64_t *ms);

/* cfg_usage_flags - print the agent flags, one per line, to f. */
#include <stdio.h>
void cfg_usage_flags(FILE *f);

#endif
