/* resolve.h - answers to Consul DNS names from the catalog mirror
 * (spec/consul-compat.md section 3): nodes, services (tags, RFC 2782),
 * addr, the domain's SOA and NS; NXDOMAIN/NODATA with the SOA. */
#ifndef CAIRN_DNSD_RESOLVE_H
#define CAIRN_DNSD_RESOLVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mirror.h"
#include "wire.h"

struct ttl_rule {
	char *lname;	/* lowercased service name, or "*" */
	uint32_t ttl;
};

struct resolver {
	char *domain;		/* lowercased, no trailing dot: "consul" */
	char *alt_domain;	/* or NULL */
	char *dc;		/* this datacenter, lowercased */
	uint32_t node_ttl;
	struct ttl_rule *svc_ttl;
	size_t nsvc_ttl;
	bool only_passing;
	unsigned udp_answer_limit; /* answers over UDP without EDNS */
	unsigned a_record_limit;   /* 0: no cap */
	bool compress;
	bool ra;		/* recursors configured */
	bool node_meta_txt;	/* node meta as TXT in Additional */
};

enum resolve_result {
	RESOLVE_ANSWER = 0,	/* the response is in buf */
	RESOLVE_FORWARD = 1,	/* outside the domain: for the recursors */
};

/* resolve - the response to q (cap bytes at most) into buf; *len its
 * length.  m may be NULL (no catalog yet): SERVFAIL.  seed shuffles the
 * instances.  Returns enum resolve_result. */
int resolve(const struct resolver *r, const struct mirror *m,
    const struct dns_query *q, size_t cap, uint64_t seed, uint8_t *buf,
    size_t *len);

/* resolve_other_dc - q is a name of this domain that names a datacenter
 * other than r->dc ("web.service.dc2.consul"): 1 and that datacenter,
 * lowercased, in dc; else 0.  Such a name is answered by resolve() with a
 * resolver whose dc is that one and that datacenter's catalog. */
int resolve_other_dc(const struct resolver *r, const struct dns_query *q,
    char *dc, size_t len);

/* resolve_query_name - q is "<name>.query[.<dc>].<domain>": 1, the
 * prepared query's name (its labels, dots between) and the datacenter
 * ("" for ours); else 0. */
int resolve_query_name(const struct resolver *r, const struct dns_query *q,
    char *name, size_t namelen, char *dc, size_t dclen);

/* resolve_query - the answer to q from a prepared query's result: the
 * instances of service in m (already chosen by the query), with the
 * query's TTL when has_ttl.  An empty m answers NXDOMAIN. */
int resolve_query(const struct resolver *r, const struct mirror *m,
    const struct dns_query *q, const char *service, bool has_ttl,
    uint32_t ttl, size_t cap, uint64_t seed, uint8_t *buf, size_t *len);

/* resolve_error - a header-only response (FORMERR, NOTIMP, SERVFAIL,
 * REFUSED) to q; returns its length. */
size_t resolve_error(const struct resolver *r, const struct dns_query *q,
    int rcode, uint8_t *buf, size_t cap);

#endif
