/* defs.h - service and check definitions as Consul clients and config files
 * write them (JSON, CamelCase or snake_case keys), decoded and validated. */
#ifndef CAIRN_CHECKD_DEFS_H
#define CAIRN_CHECKD_DEFS_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "jdec.h"

/* the kind of a check, from which fields are set */
enum check_kind {
	CK_NONE = 0,	/* status only (maintenance checks; catalog rows) */
	CK_SCRIPT,	/* Args or Script + Interval */
	CK_HTTP,	/* HTTP + Interval */
	CK_TCP,		/* TCP + Interval */
	CK_UDP,		/* UDP + Interval */
	CK_TTL,		/* TTL */
	CK_ALIAS,	/* AliasNode and/or AliasService */
};

#define CHECK_MIN_INTERVAL_NS 1000000000LL	/* Consul raises to 1 s */
#define CHECK_MIN_DEREG_NS 60000000000LL	/* DeregisterCriticalServiceAfter >= 1m */

struct check_def {
	char *id, *check_id, *name, *notes, *service_id, *status;
	struct jd_strlist args;
	char *script;
	char *http, *method, *body;
	char **headers;		/* NULL-terminated "Name: value", from Header */
	yajl_val header_raw;	/* Header, while the tree is alive */
	bool disable_redirects, tls_skip_verify;
	char *tls_server_name;
	char *tcp, *udp, *grpc, *h2ping, *docker;
	int64_t ttl_ns, interval_ns, timeout_ns, dcsa_ns;
	uint64_t output_max_size;
	uint64_t success_before_passing;
	uint64_t failures_before_warning, failures_before_critical;
	char *alias_node, *alias_service;
	/* derived by check_def_validate */
	enum check_kind kind;
	const char *cid;	/* CheckID, or ID, or (standalone) Name */
};

struct service_def {
	char *id, *name;
	struct jd_strlist tags;
	char *address;
	struct jd_strmap meta;
	uint64_t port;
	char *kind;
	bool enable_tag_override;
	struct {
		uint64_t passing, warning;
	} weights;
	bool has_weights;
	char **tagged;		/* NULL-terminated "lan=addr:port" */
	yajl_val tagged_raw;
	struct check_def check;
	bool has_check;
	struct jd_list checks;	/* of struct check_def */
};

/* service_def_parse - decode and validate a service definition (the body
 * of /v1/agent/service/register, or one element of a config file's
 * "services"), including its embedded checks: their IDs become
 * "service:<id>" (one Check) or "service:<id>:<i>" (Checks[i-1]) unless
 * given, their ServiceID the service's, their Name "Service '<name>'
 * check" unless given.  Returns 0, or -EINVAL with Consul's message in eb
 * ("Missing service name", "Request decode failed: ...", "Invalid check:
 * ..."); free with service_def_free either way. */
int service_def_parse(const char *json, size_t n, struct service_def *sd,
    struct errbuf *eb);
void service_def_free(struct service_def *sd);

/* check_def_parse - decode and validate a standalone check definition
 * (/v1/agent/check/register, a config file's "checks" element).  Name is
 * required ("Missing check name"); the ID defaults to the name.  allow_none:
 * accept a definition with no check type (status only: maintenance). */
int check_def_parse(const char *json, size_t n, bool allow_none,
    struct check_def *cd, struct errbuf *eb);
void check_def_free(struct check_def *cd);

/* check_def_validate - derive kind and cid; normalise Interval (>= 1 s),
 * DeregisterCriticalServiceAfter (>= 1m) and Status (default "critical").
 * Used by the parsers; exposed for tests. */
int check_def_validate(struct check_def *cd, bool allow_none,
    struct errbuf *eb);

/* check_kind_name - "script", "http", "tcp", "udp", "ttl", "alias", "" */
const char *check_kind_name(enum check_kind k);

#endif
