/* defs.c - decoding and validating service and check definitions. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yajl/yajl_tree.h>

#include "defs.h"
#include "json.h"
#include "xmalloc.h"

#define CD(f) offsetof(struct check_def, f)
#define SD(f) offsetof(struct service_def, f)

static const struct jd_field check_fields[] = {
    {"ID", NULL, JD_STR, CD(id), NULL, 0, 0},
    {"CheckID", "check_id", JD_STR, CD(check_id), NULL, 0, 0},
    {"Name", NULL, JD_STR, CD(name), NULL, 0, 0},
    {"Notes", NULL, JD_STR, CD(notes), NULL, 0, 0},
    {"ServiceID", "service_id", JD_STR, CD(service_id), NULL, 0, 0},
    {"Status", NULL, JD_STR, CD(status), NULL, 0, 0},
    {"Args", NULL, JD_STRLIST, CD(args), NULL, 0, 0},
    {"Script", NULL, JD_STR, CD(script), NULL, 0, 0},
    {"HTTP", NULL, JD_STR, CD(http), NULL, 0, 0},
    {"Method", NULL, JD_STR, CD(method), NULL, 0, 0},
    {"Body", NULL, JD_STR, CD(body), NULL, 0, 0},
    {"Header", NULL, JD_RAW, CD(header_raw), NULL, 0, 0},
    {"DisableRedirects", "disable_redirects", JD_BOOL, CD(disable_redirects),
	NULL, 0, 0},
    {"TLSSkipVerify", "tls_skip_verify", JD_BOOL, CD(tls_skip_verify), NULL,
	0, 0},
    {"TLSServerName", "tls_server_name", JD_STR, CD(tls_server_name), NULL,
	0, 0},
    {"TCP", NULL, JD_STR, CD(tcp), NULL, 0, 0},
    {"UDP", NULL, JD_STR, CD(udp), NULL, 0, 0},
    {"GRPC", NULL, JD_STR, CD(grpc), NULL, 0, 0},
    {"H2PING", NULL, JD_STR, CD(h2ping), NULL, 0, 0},
    {"DockerContainerID", "docker_container_id", JD_STR, CD(docker), NULL, 0,
	0},
    {"TTL", NULL, JD_DURATION, CD(ttl_ns), NULL, 0, 0},
    {"Interval", NULL, JD_DURATION, CD(interval_ns), NULL, 0, 0},
    {"Timeout", NULL, JD_DURATION, CD(timeout_ns), NULL, 0, 0},
    {"DeregisterCriticalServiceAfter", "deregister_critical_service_after",
	JD_DURATION, CD(dcsa_ns), NULL, 0, 0},
    {"OutputMaxSize", "output_max_size", JD_U64, CD(output_max_size), NULL,
	0, 0},
    {"SuccessBeforePassing", "success_before_passing", JD_U64,
	CD(success_before_passing), NULL, 0, 0},
    {"FailuresBeforeWarning", "failures_before_warning", JD_U64,
	CD(failures_before_warning), NULL, 0, 0},
    {"FailuresBeforeCritical", "failures_before_critical", JD_U64,
	CD(failures_before_critical), NULL, 0, 0},
    {"AliasNode", "alias_node", JD_STR, CD(alias_node), NULL, 0, 0},
    {"AliasService", "alias_service", JD_STR, CD(alias_service), NULL, 0, 0},
    {NULL, NULL, JD_STR, 0, NULL, 0, 0},
};

static const struct jd_field weights_fields[] = {
    {"Passing", NULL, JD_U64, 0, NULL, 0, 0},
    {"Warning", NULL, JD_U64, sizeof(uint64_t), NULL, 0, 0},
    {NULL, NULL, JD_STR, 0, NULL, 0, 0},
};

static const struct jd_field service_fields[] = {
    {"ID", NULL, JD_STR, SD(id), NULL, 0, 0},
    {"Name", NULL, JD_STR, SD(name), NULL, 0, 0},
    {"Tags", NULL, JD_STRLIST, SD(tags), NULL, 0, 0},
    {"Address", NULL, JD_STR, SD(address), NULL, 0, 0},
    {"Meta", NULL, JD_STRMAP, SD(meta), NULL, 0, 0},
    {"Port", NULL, JD_U64, SD(port), NULL, 0, 0},
    {"Kind", NULL, JD_STR, SD(kind), NULL, 0, 0},
    {"EnableTagOverride", "enable_tag_override", JD_BOOL,
	SD(enable_tag_override), NULL, 0, 0},
    {"Weights", NULL, JD_OBJ, SD(weights), weights_fields, 0,
	SD(has_weights)},
    {"TaggedAddresses", "tagged_addresses", JD_RAW, SD(tagged_raw), NULL, 0,
	0},
    {"Check", NULL, JD_OBJ, SD(check), check_fields, 0, SD(has_check)},
    {"Checks", NULL, JD_OBJLIST, SD(checks), check_fields,
	sizeof(struct check_def), 0},
    {NULL, NULL, JD_STR, 0, NULL, 0, 0},
};

static void
strv_free(char **v)
{
	size_t i;

	for (i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

/* header_decode - Header {"Name": ["v1", "v2"]} as "Name: v" lines */
static int
header_decode(struct check_def *cd, struct errbuf *eb)
{
	yajl_val h = cd->header_raw;
	size_t i, j, n = 0;

	cd->header_raw = NULL;
	strv_free(cd->headers);
	cd->headers = NULL;
	if (h == NULL || YAJL_IS_NULL(h))
		return 0;
	if (!YAJL_IS_OBJECT(h))
		return errbuf_set(eb, -EINVAL,
		    "Request decode failed: Header: expected object");
	for (i = 0; i < h->u.object.len; i++) {
		yajl_val v = h->u.object.values[i];

		if (YAJL_IS_ARRAY(v))
			n += v->u.array.len;
		else
			n++;
	}
	if (n > 1000)
		return errbuf_set(eb, -EINVAL,
		    "Request decode failed: Header: too many values");
	cd->headers = xcalloc(n + 1, sizeof(char *));
	n = 0;
	for (i = 0; i < h->u.object.len; i++) {
		const char *k = h->u.object.keys[i];
		yajl_val v = h->u.object.values[i];
		size_t cnt = YAJL_IS_ARRAY(v) ? v->u.array.len : 1;

		if (*k == '\0' || strpbrk(k, ":\r\n") != NULL)
			return errbuf_set(eb, -EINVAL,
			    "Request decode failed: Header: bad name");
		for (j = 0; j < cnt; j++) {
			yajl_val e = YAJL_IS_ARRAY(v) ? v->u.array.values[j] : v;

			if (!YAJL_IS_STRING(e))
				return errbuf_set(eb, -EINVAL,
				    "Request decode failed: Header.%s: "
				    "expected string", k);
			if (strpbrk(e->u.string, "\r\n") != NULL)
				return errbuf_set(eb, -EINVAL,
				    "Request decode failed: Header.%s: bad value",
				    k);
			cd->headers[n++] = xasprintf("%s: %s", k, e->u.string);
		}
	}
	return 0;
}

/* tagged_decode - TaggedAddresses {"lan": {"Address": a, "Port": p}} */
static int
tagged_decode(struct service_def *sd, struct errbuf *eb)
{
	yajl_val t = sd->tagged_raw;
	size_t i, n = 0;

	sd->tagged_raw = NULL;
	if (t == NULL || YAJL_IS_NULL(t))
		return 0;
	if (!YAJL_IS_OBJECT(t) || t->u.object.len > 64)
		return errbuf_set(eb, -EINVAL, "Request decode failed: "
		    "TaggedAddresses: expected object");
	sd->tagged = xcalloc(t->u.object.len + 1, sizeof(char *));
	for (i = 0; i < t->u.object.len; i++) {
		yajl_val v = t->u.object.values[i];
		const char *addr = "";
		long long port = 0;
		size_t j;

		if (!YAJL_IS_OBJECT(v))
			return errbuf_set(eb, -EINVAL, "Request decode failed: "
			    "TaggedAddresses.%s: expected object",
			    t->u.object.keys[i]);
		for (j = 0; j < v->u.object.len; j++) {
			yajl_val e = v->u.object.values[j];

			if (strcasecmp(v->u.object.keys[j], "Address") == 0 &&
			    YAJL_IS_STRING(e))
				addr = e->u.string;
			else if (strcasecmp(v->u.object.keys[j], "Port") == 0 &&
			    YAJL_IS_INTEGER(e))
				port = YAJL_GET_INTEGER(e);
		}
		if (port < 0 || port > 65535)
			return errbuf_set(eb, -EINVAL, "Invalid port in "
			    "TaggedAddresses.%s", t->u.object.keys[i]);
		sd->tagged[n++] = xasprintf("%s=%s:%lld", t->u.object.keys[i],
		    addr, port);
	}
	return 0;
}

const char *
check_kind_name(enum check_kind k)
{
	switch (k) {
	case CK_SCRIPT: return "script";
	case CK_HTTP: return "http";
	case CK_TCP: return "tcp";
	case CK_UDP: return "udp";
	case CK_TTL: return "ttl";
	case CK_ALIAS: return "alias";
	case CK_NONE: break;
	}
	return "";
}

static bool
set(const char *s)
{
	return s != NULL && *s != '\0';
}

int
check_def_validate(struct check_def *cd, bool allow_none, struct errbuf *eb)
{
	int kinds = 0;
	bool script = cd->args.n > 0 || set(cd->script);

	if (set(cd->grpc))
		return errbuf_set(eb, -EINVAL,
		    "Invalid check: gRPC checks are not supported");
	if (set(cd->h2ping))
		return errbuf_set(eb, -EINVAL,
		    "Invalid check: H2PING checks are not supported");
	if (set(cd->docker))
		return errbuf_set(eb, -EINVAL,
		    "Invalid check: Docker checks are not supported");
	cd->kind = CK_NONE;
	if (script) {
		cd->kind = CK_SCRIPT;
		kinds++;
	}
	if (set(cd->http)) {
		cd->kind = CK_HTTP;
		kinds++;
	}
	if (set(cd->tcp)) {
		cd->kind = CK_TCP;
		kinds++;
	}
	if (set(cd->udp)) {
		cd->kind = CK_UDP;
		kinds++;
	}
	if (cd->ttl_ns != 0) {
		cd->kind = CK_TTL;
		kinds++;
	}
	if (set(cd->alias_node) || set(cd->alias_service)) {
		cd->kind = CK_ALIAS;
		kinds++;
	}
	if (kinds > 1)
		return errbuf_set(eb, -EINVAL,
		    "Invalid check: more than one check type given");
	if (cd->ttl_ns < 0)
		return errbuf_set(eb, -EINVAL,
		    "Invalid check: TTL must be > 0 for TTL checks");
	if (cd->interval_ns < 0 || cd->timeout_ns < 0 || cd->dcsa_ns < 0)
		return errbuf_set(eb, -EINVAL,
		    "Invalid check: negative duration");
	switch (cd->kind) {
	case CK_SCRIPT:
	case CK_HTTP:
	case CK_TCP:
	case CK_UDP:
		if (cd->interval_ns == 0)
			return errbuf_set(eb, -EINVAL, "Invalid check: "
			    "Interval must be > 0 for Script, HTTP, TCP or UDP "
			    "checks");
		if (cd->interval_ns < CHECK_MIN_INTERVAL_NS)
			cd->interval_ns = CHECK_MIN_INTERVAL_NS;
		break;
	case CK_NONE:
		if (!allow_none)
			return errbuf_set(eb, -EINVAL, "Invalid check: Must "
			    "provide TTL or Args/Script/HTTP/TCP/UDP and "
			    "Interval, or AliasNode/AliasService");
		break;
	default:
		break;
	}
	if (cd->kind == CK_HTTP && strncmp(cd->http, "http://", 7) != 0 &&
	    strncmp(cd->http, "https://", 8) != 0)
		return errbuf_set(eb, -EINVAL,
		    "Invalid check: HTTP must be an http:// or https:// URL");
	if (cd->dcsa_ns > 0 && cd->dcsa_ns < CHECK_MIN_DEREG_NS)
		cd->dcsa_ns = CHECK_MIN_DEREG_NS;
	if (cd->output_max_size > 1024 * 1024)
		cd->output_max_size = 1024 * 1024;
	if (set(cd->status)) {
		if (strcmp(cd->status, "passing") != 0 &&
		    strcmp(cd->status, "warning") != 0 &&
		    strcmp(cd->status, "critical") != 0)
			return errbuf_set(eb, -EINVAL,
			    "Invalid check: Status must be passing, warning or "
			    "critical");
	} else {
		free(cd->status);
		cd->status = xstrdup("critical");
	}
	cd->cid = set(cd->check_id) ? cd->check_id
	    : set(cd->id) ? cd->id : cd->name;
	return 0;
}

void
check_def_free(struct check_def *cd)
{
	strv_free(cd->headers);
	cd->headers = NULL;
	cd->header_raw = NULL;
	jd_free(check_fields, cd);
	cd->cid = NULL;
}

static yajl_val
parse_tree(const char *json, size_t n, struct errbuf *eb)
{
	struct errbuf e2;
	yajl_val t = json_parse(json, n, &e2);

	if (t == NULL)
		errbuf_set(eb, -EINVAL, "Request decode failed: %s", e2.msg);
	return t;
}

int
check_def_parse(const char *json, size_t n, bool allow_none,
    struct check_def *cd, struct errbuf *eb)
{
	yajl_val t;
	int rc;

	memset(cd, 0, sizeof(*cd));
	if ((t = parse_tree(json, n, eb)) == NULL)
		return -EINVAL;
	rc = jd_decode(t, check_fields, cd, eb);
	if (rc == 0)
		rc = header_decode(cd, eb);
	yajl_tree_free(t);
	cd->header_raw = NULL;
	if (rc < 0)
		return rc;
	if (!set(cd->name))
		return errbuf_set(eb, -EINVAL, "Missing check name");
	return check_def_validate(cd, allow_none, eb);
}

/* embedded - a service's check: inherit the service ID, default the ID
 * and the name */
static int
embedded(struct service_def *sd, struct check_def *cd, size_t num,
    struct errbuf *eb)
{
	if (!set(cd->check_id) && !set(cd->id)) {
		free(cd->check_id);
		cd->check_id = num == 0 ? xasprintf("service:%s", sd->id)
		    : xasprintf("service:%s:%zu", sd->id, num);
	}
	if (!set(cd->name)) {
		free(cd->name);
		cd->name = xasprintf("Service '%s' check", sd->name);
	}
	free(cd->service_id);
	cd->service_id = xstrdup(sd->id);
	return check_def_validate(cd, false, eb);
}

int
service_def_parse(const char *json, size_t n, struct service_def *sd,
    struct errbuf *eb)
{
	yajl_val t;
	size_t i, total;
	int rc;

	memset(sd, 0, sizeof(*sd));
	if ((t = parse_tree(json, n, eb)) == NULL)
		return -EINVAL;
	rc = jd_decode(t, service_fields, sd, eb);
	if (rc == 0)
		rc = tagged_decode(sd, eb);
	if (rc == 0 && sd->has_check)
		rc = header_decode(&sd->check, eb);
	for (i = 0; rc == 0 && i < sd->checks.n; i++)
		rc = header_decode((struct check_def *)sd->checks.v + i, eb);
	yajl_tree_free(t);
	sd->tagged_raw = NULL;
	sd->check.header_raw = NULL;
	for (i = 0; i < sd->checks.n; i++)
		((struct check_def *)sd->checks.v + i)->header_raw = NULL;
	if (rc < 0)
		return rc;
	if (!set(sd->name))
		return errbuf_set(eb, -EINVAL, "Missing service name");
	if (!set(sd->id)) {
		free(sd->id);
		sd->id = xstrdup(sd->name);
	}
	if (sd->port > 65535)
		return errbuf_set(eb, -EINVAL, "Invalid service port %llu",
		    (unsigned long long)sd->port);
	if (!sd->has_weights) {
		sd->weights.passing = 1;
		sd->weights.warning = 1;
	} else if (sd->weights.passing < 1) {
		return errbuf_set(eb, -EINVAL,
		    "Passing must be greater than 0");
	}
	/* Consul numbers the embedded checks (Check first, then Checks)
	 * only when there is more than one */
	total = sd->checks.n + (sd->has_check ? 1 : 0);
	if (sd->has_check && (rc = embedded(sd, &sd->check,
	    total > 1 ? 1 : 0, eb)) < 0)
		return rc;
	for (i = 0; i < sd->checks.n; i++) {
		size_t num = total > 1 ? i + 1 + (sd->has_check ? 1 : 0) : 0;

		if ((rc = embedded(sd, (struct check_def *)sd->checks.v + i,
		    num, eb)) < 0)
			return rc;
	}
	return 0;
}

void
service_def_free(struct service_def *sd)
{
	size_t i;

	strv_free(sd->tagged);
	sd->tagged = NULL;
	check_def_free(&sd->check);
	for (i = 0; i < sd->checks.n; i++)
		check_def_free((struct check_def *)sd->checks.v + i);
	jd_free(service_fields, sd);
}
