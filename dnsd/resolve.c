/* resolve.c - Consul DNS names answered from the catalog mirror. */
#include <ctype.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "resolve.h"

#define MAX_ANSWERS 4096 /* Consul's cap over TCP */

struct ctx {
	const struct resolver *r;
	const struct mirror *m;
	const struct dns_query *q;
	struct dns_msg msg;
	uint64_t rng;
	const char *dom;	/* the domain the query used */
	bool udp_plain;		/* UDP without EDNS: Consul's answer cap */
	bool tc;
	bool has_ttl;		/* a prepared query's DNS TTL */
	uint32_t ttl;
};

static uint64_t
rnd(struct ctx *c)
{
	/* xorshift64*: shuffling only */
	c->rng ^= c->rng >> 12;
	c->rng ^= c->rng << 25;
	c->rng ^= c->rng >> 27;
	return c->rng * 2685821657736338717ULL;
}

/* label - the i-th label of the query name */
static const char *
label(const struct dns_query *q, size_t i, size_t *len)
{
	size_t start = q->label_off[i];
	size_t end = i + 1 < q->nlabels ? (size_t)q->label_off[i + 1] - 1
					: q->name_len;

	*len = end - start;
	return q->name + start;
}

static bool
label_is(const struct dns_query *q, size_t i, const char *s)
{
	size_t n;
	const char *l = label(q, i, &n);

	return strlen(s) == n && memcmp(l, s, n) == 0;
}

/* span - labels [from, to) as one string (dots kept) into out */
static void
span(const struct dns_query *q, size_t from, size_t to, char *out,
    size_t outlen)
{
	size_t a = q->label_off[from], n;
	const char *last = label(q, to - 1, &n);
	size_t b = (size_t)(last - q->name) + n;

	snprintf(out, outlen, "%.*s", (int)(b - a), q->name + a);
}

/* in_domain - the number of labels before dom, or -1 if not under it */
static int
in_domain(const struct dns_query *q, const char *dom)
{
	size_t dl = strlen(dom), i;

	if (dom == NULL || *dom == '\0')
		return -1;
	if (q->name_len == dl && memcmp(q->name, dom, dl) == 0)
		return 0;
	if (q->name_len <= dl + 1 || q->name[q->name_len - dl - 1] != '.' ||
	    memcmp(q->name + q->name_len - dl, dom, dl) != 0)
		return -1;
	for (i = 0; i < q->nlabels; i++)
		if (q->label_off[i] == q->name_len - dl)
			return (int)i;
	return -1;
}

static void
soa(struct ctx *c, int section)
{
	char mname[300], rname[300];

	snprintf(mname, sizeof(mname), "ns.%s", c->dom);
	snprintf(rname, sizeof(rname), "hostmaster.%s", c->dom);
	(void)dns_msg_soa(&c->msg, section, c->dom, 0, mname, rname,
	    (uint32_t)time(NULL), 3600, 600, 86400, 0);
}

static void
nxdomain(struct ctx *c)
{
	dns_msg_set_rcode(&c->msg, DNS_R_NXDOMAIN);
	soa(c, DNS_AUTHORITY);
}

/* nodata - the name exists, no record of the type (RFC 2308) */
static void
nodata(struct ctx *c)
{
	soa(c, DNS_AUTHORITY);
}

static uint32_t
service_ttl(const struct resolver *r, const char *lsvc)
{
	size_t i;
	uint32_t star = 0;

	for (i = 0; i < r->nsvc_ttl; i++) {
		if (strcmp(r->svc_ttl[i].lname, lsvc) == 0)
			return r->svc_ttl[i].ttl;
		if (strcmp(r->svc_ttl[i].lname, "*") == 0)
			star = r->svc_ttl[i].ttl;
	}
	return star;
}

/* add_addr - an A, AAAA or CNAME record for a; 1 if added, 0 if a has
 * no record of that type, -1 when the message is full */
static int
add_addr(struct ctx *c, int section, const char *name, uint32_t ttl,
    const struct maddr *a, uint16_t qtype)
{
	int rc;

	if (a->family == AF_INET && (qtype == DNS_T_A || qtype == DNS_T_ANY))
		rc = dns_msg_a(&c->msg, section, name, ttl, a->ip);
	else if (a->family == AF_INET6 &&
	    (qtype == DNS_T_AAAA || qtype == DNS_T_ANY))
		rc = dns_msg_aaaa(&c->msg, section, name, ttl, a->ip);
	else if (a->family == 0 && *a->text != '\0' &&
	    (qtype == DNS_T_A || qtype == DNS_T_AAAA || qtype == DNS_T_ANY))
		rc = dns_msg_cname(&c->msg, section, name, ttl, a->text);
	else
		return 0;
	if (rc == -ENOSPC)
		return -1;
	return rc == 0 ? 1 : 0;
}

static void
node_meta_txt(struct ctx *c, int section, const char *name, uint32_t ttl,
    const struct mnode *n)
{
	size_t i;

	for (i = 0; i < n->nmeta; i++) {
		const char *kv = n->meta[i];

		/* RFC 1464 key=value; "rfc1035-" keys give the value only */
		if (strncmp(kv, "rfc1035-", 8) == 0 && strchr(kv, '='))
			kv = strchr(kv, '=') + 1;
		if (dns_msg_txt(&c->msg, section, name, ttl, &kv, 1) ==
		    -ENOSPC)
			return;
	}
}

static void
answer_node(struct ctx *c, const char *lname)
{
	const struct mnode *n = mirror_node(c->m, lname);
	uint16_t qt = c->q->qtype;
	uint32_t ttl = c->r->node_ttl;
	int added = 0;

	if (n == NULL) {
		nxdomain(c);
		return;
	}
	if (qt == DNS_T_TXT || qt == DNS_T_ANY) {
		node_meta_txt(c, DNS_ANSWER, c->q->name, ttl, n);
		added += n->nmeta > 0;
	}
	if (qt != DNS_T_TXT) {
		int a = add_addr(c, DNS_ANSWER, c->q->name, ttl, &n->addr, qt);

		if (a < 0)
			c->tc = true;
		added += a > 0;
	}
	if (added == 0) {
		nodata(c);
		return;
	}
	if (c->r->node_meta_txt && (qt == DNS_T_A || qt == DNS_T_AAAA))
		node_meta_txt(c, DNS_ADDITIONAL, c->q->name, ttl, n);
}

static bool
healthy(const struct resolver *r, const struct minst *in)
{
	return r->only_passing ? in->health == H_PASSING
			       : in->health != H_CRITICAL;
}

static bool
has_tag(const struct minst *in, const char *tag)
{
	size_t i;

	for (i = 0; i < in->ntags; i++)
		if (strcmp(in->ltags[i], tag) == 0)
			return true;
	return false;
}

/* hex_addr - "<hex>.addr.<dc>.<domain>" of an address */
static void
hex_target(struct ctx *c, const struct maddr *a, char *out, size_t outlen)
{
	size_t i, n = a->family == AF_INET ? 4 : 16, off = 0;

	for (i = 0; i < n && off + 3 < outlen; i++)
		off += (size_t)snprintf(out + off, outlen - off, "%02x",
		    a->ip[i]);
	snprintf(out + off, outlen - off, ".addr.%s.%s", c->r->dc, c->dom);
}

static void
answer_service(struct ctx *c, const char *lsvc, const char *tag)
{
	const struct minst *first, **sel;
	size_t n = mirror_service(c->m, lsvc, &first), k = 0, i, j, added = 0;
	uint16_t qt = c->q->qtype;
	uint32_t ttl = c->has_ttl ? c->ttl : service_ttl(c->r, lsvc);
	size_t limit = MAX_ANSWERS;
	char (*targets)[300];

	sel = calloc(n + 1, sizeof(*sel));
	targets = calloc(n + 1, sizeof(*targets));
	if (sel == NULL || targets == NULL) {
		dns_msg_set_rcode(&c->msg, DNS_R_SERVFAIL);
		goto out;
	}
	for (i = 0; i < n; i++)
		if (healthy(c->r, &first[i]) && (tag == NULL ||
		    has_tag(&first[i], tag)))
			sel[k++] = &first[i];
	if (k == 0) {
		nxdomain(c);
		goto out;
	}
	/* a new order every query */
	for (i = k - 1; i > 0; i--) {
		size_t r = (size_t)(rnd(c) % (i + 1));
		const struct minst *t = sel[i];

		sel[i] = sel[r];
		sel[r] = t;
	}
	if (c->udp_plain) {
		limit = c->r->udp_answer_limit ? c->r->udp_answer_limit : 3;
		if (limit > 8)
			limit = 8;
	}
	if (qt == DNS_T_SRV) {
		if (limit > 1024)
			limit = 1024;
		for (i = 0; i < k && added < limit; i++) {
			const struct minst *in = sel[i];
			char *t = targets[added];

			if (in->addr.family == 0 && *in->addr.text)
				snprintf(t, sizeof(*targets), "%s",
				    in->addr.text);
			else if (in->own_addr)
				hex_target(c, &in->addr, t, sizeof(*targets));
			else
				snprintf(t, sizeof(*targets), "%s.node.%s.%s",
				    in->node->name, c->r->dc, c->dom);
			if (dns_msg_srv(&c->msg, DNS_ANSWER, c->q->name, ttl,
			    1, (uint16_t)(in->health == H_PASSING
			    ? in->w_passing : in->w_warning), in->port, t) ==
			    -ENOSPC) {
				c->tc = true;
				break;
			}
			sel[added++] = in;
		}
		/* the targets' addresses */
		for (i = 0; i < added; i++) {
			if (sel[i]->addr.family == 0)
				continue;
			if (add_addr(c, DNS_ADDITIONAL, targets[i], ttl,
			    &sel[i]->addr, DNS_T_ANY) < 0)
				break;
		}
		goto out;
	}
	if (qt != DNS_T_A && qt != DNS_T_AAAA && qt != DNS_T_ANY) {
		nodata(c);
		goto out;
	}
	if (c->r->a_record_limit && limit > c->r->a_record_limit)
		limit = c->r->a_record_limit;
	for (i = 0; i < k && added < limit; i++) {
		const struct maddr *a = &sel[i]->addr;
		int rc;

		/* one record per address */
		for (j = 0; j < i; j++)
			if (sel[j]->addr.family == a->family &&
			    strcmp(sel[j]->addr.text, a->text) == 0)
				break;
		if (j < i)
			continue;
		rc = add_addr(c, DNS_ANSWER, c->q->name, ttl, a, qt);
		if (rc < 0) {
			c->tc = true;
			break;
		}
		added += (size_t)rc;
	}
	if (added == 0 && !c->tc)
		nodata(c);
out:
	free(sel);
	free(targets);
}

static int
hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

static void
answer_addr(struct ctx *c, const char *hex, size_t n)
{
	struct maddr a;
	size_t i;
	int sec;

	memset(&a, 0, sizeof(a));
	if (n != 8 && n != 32) {
		nxdomain(c);
		return;
	}
	for (i = 0; i < n; i += 2) {
		int hi = hexval(hex[i]), lo = hexval(hex[i + 1]);

		if (hi < 0 || lo < 0) {
			nxdomain(c);
			return;
		}
		a.ip[i / 2] = (uint8_t)(hi << 4 | lo);
	}
	a.family = n == 8 ? AF_INET : AF_INET6;
	a.text = "";
	/* the wrong type gets the record as Additional (Consul) */
	sec = (c->q->qtype == DNS_T_ANY ||
	    (a.family == AF_INET && c->q->qtype == DNS_T_A) ||
	    (a.family == AF_INET6 && c->q->qtype == DNS_T_AAAA))
	    ? DNS_ANSWER : DNS_ADDITIONAL;
	(void)add_addr(c, sec, c->q->name, c->r->node_ttl, &a, DNS_T_ANY);
}

static void
answer_apex(struct ctx *c)
{
	const struct minst *first;
	size_t n = mirror_service(c->m, "consul", &first), i, k = 0;
	uint16_t qt = c->q->qtype;
	char names[3][300];

	if (qt == DNS_T_SOA || qt == DNS_T_ANY)
		soa(c, DNS_ANSWER);
	if (qt == DNS_T_NS || qt == DNS_T_ANY) {
		for (i = 0; i < n && k < 3; i++) {
			if (first[i].node->health == H_CRITICAL)
				continue;
			snprintf(names[k], sizeof(names[k]), "%s.node.%s.%s",
			    first[i].node->name, c->r->dc, c->dom);
			if (dns_msg_ns(&c->msg, DNS_ANSWER, c->dom, 0,
			    names[k]) < 0)
				break;
			k++;
		}
		for (i = 0, k = 0; i < n && k < 3; i++) {
			if (first[i].node->health == H_CRITICAL)
				continue;
			(void)add_addr(c, DNS_ADDITIONAL, names[k], 0,
			    &first[i].node->addr, DNS_T_ANY);
			k++;
		}
	}
	if (qt != DNS_T_SOA && qt != DNS_T_NS && qt != DNS_T_ANY)
		nodata(c);
}

/* answer_ptr - a node's name for its address (in-addr.arpa / ip6.arpa);
 * false if no node has it */
static bool
answer_ptr(struct ctx *c)
{
	const struct dns_query *q = c->q;
	uint8_t ip[16];
	int fam = 0;
	size_t i, n;
	char name[300];

	if (q->nlabels == 6 && label_is(q, 4, "in-addr") &&
	    label_is(q, 5, "arpa")) {
		for (i = 0; i < 4; i++) {
			const char *l = label(q, i, &n);
			unsigned v = 0;
			size_t j;

			if (n == 0 || n > 3)
				return false;
			for (j = 0; j < n; j++) {
				if (l[j] < '0' || l[j] > '9')
					return false;
				v = v * 10 + (unsigned)(l[j] - '0');
			}
			if (v > 255)
				return false;
			ip[3 - i] = (uint8_t)v;
		}
		fam = AF_INET;
	} else if (q->nlabels == 34 && label_is(q, 32, "ip6") &&
	    label_is(q, 33, "arpa")) {
		for (i = 0; i < 32; i++) {
			const char *l = label(q, i, &n);
			int v = n == 1 ? hexval(l[0]) : -1;

			if (v < 0)
				return false;
			if (i % 2 == 0)
				ip[15 - i / 2] = (uint8_t)v;
			else
				ip[15 - i / 2] |= (uint8_t)(v << 4);
		}
		fam = AF_INET6;
	} else {
		return false;
	}
	for (i = 0; i < c->m->nnodes; i++) {
		const struct mnode *nd = &c->m->nodes[i];

		if (nd->addr.family != fam || memcmp(nd->addr.ip, ip,
		    fam == AF_INET ? 4 : 16) != 0)
			continue;
		if (q->qtype != DNS_T_PTR && q->qtype != DNS_T_ANY)
			return true; /* NODATA */
		snprintf(name, sizeof(name), "%s.node.%s.%s", nd->name,
		    c->r->dc, c->r->domain);
		(void)dns_msg_ptr(&c->msg, DNS_ANSWER, q->name,
		    c->r->node_ttl, name);
		return true;
	}
	return false;
}

static bool
is_type(const struct dns_query *q, size_t i)
{
	return label_is(q, i, "node") || label_is(q, i, "service") ||
	    label_is(q, i, "addr") || label_is(q, i, "query");
}

static void
answer_in_domain(struct ctx *c, size_t k)
{
	const struct dns_query *q = c->q;
	char a[DNS_MAX_NAME + 1], b[DNS_MAX_NAME + 1];
	size_t t, n;
	const char *l;

	if (k == 0) {
		answer_apex(c);
		return;
	}
	/* <...>.<type>[.<dc>] */
	if (is_type(q, k - 1)) {
		t = k - 1;
	} else if (k >= 2 && is_type(q, k - 2)) {
		t = k - 2;
		l = label(q, k - 1, &n);
		if (strlen(c->r->dc) != n ||
		    strncasecmp(l, c->r->dc, n) != 0) {
			/* another datacenter: the caller answers it from
			 * that datacenter's catalog (resolve_other_dc) */
			nxdomain(c);
			return;
		}
	} else {
		nxdomain(c);
		return;
	}
	if (t == 0) {
		nxdomain(c);
		return;
	}
	if (label_is(q, t, "node")) {
		span(q, 0, t, a, sizeof(a));
		answer_node(c, a);
	} else if (label_is(q, t, "addr")) {
		l = label(q, 0, &n);
		if (t != 1)
			nxdomain(c);
		else
			answer_addr(c, l, n);
	} else if (label_is(q, t, "service")) {
		const char *l0 = label(q, 0, &n);
		size_t n1;
		const char *l1 = t == 2 ? label(q, 1, &n1) : NULL;

		if (t == 2 && n > 1 && l0[0] == '_' && n1 > 1 &&
		    l1[0] == '_') {
			/* RFC 2782: _service._tag (_tcp, _udp: any) */
			snprintf(a, sizeof(a), "%.*s", (int)(n - 1), l0 + 1);
			snprintf(b, sizeof(b), "%.*s", (int)(n1 - 1), l1 + 1);
			answer_service(c, a, strcmp(b, "tcp") == 0 ||
			    strcmp(b, "udp") == 0 ? NULL : b);
		} else {
			l = label(q, t - 1, &n);
			snprintf(a, sizeof(a), "%.*s", (int)n, l);
			if (t >= 2)
				span(q, 0, t - 1, b, sizeof(b));
			answer_service(c, a, t >= 2 ? b : NULL);
		}
	} else {
		/* prepared queries: none exist yet */
		nxdomain(c);
	}
}

int
resolve_other_dc(const struct resolver *r, const struct dns_query *q,
    char *dc, size_t len)
{
	int k = in_domain(q, r->domain);
	const char *l;
	size_t n, i;

	if (k < 0 && r->alt_domain != NULL)
		k = in_domain(q, r->alt_domain);
	if (k < 3 || !is_type(q, (size_t)k - 2))
		return 0;
	l = label(q, (size_t)k - 1, &n);
	if (n == 0 || n >= len ||
	    (strlen(r->dc) == n && strncasecmp(l, r->dc, n) == 0))
		return 0;
	for (i = 0; i < n; i++)
		dc[i] = (char)tolower((unsigned char)l[i]);
	dc[n] = '\0';
	return 1;
}

int
resolve_query_name(const struct resolver *r, const struct dns_query *q,
    char *name, size_t namelen, char *dc, size_t dclen)
{
	int k = in_domain(q, r->domain);
	const char *l;
	size_t t, n, i;

	if (k < 0 && r->alt_domain != NULL)
		k = in_domain(q, r->alt_domain);
	if (k >= 2 && label_is(q, (size_t)k - 1, "query")) {
		t = (size_t)k - 1;
		dc[0] = '\0';
	} else if (k >= 3 && label_is(q, (size_t)k - 2, "query")) {
		t = (size_t)k - 2;
		l = label(q, (size_t)k - 1, &n);
		if (n >= dclen)
			return 0;
		for (i = 0; i < n; i++)
			dc[i] = (char)tolower((unsigned char)l[i]);
		dc[n] = '\0';
		if (strcmp(dc, r->dc) == 0)
			dc[0] = '\0';
	} else {
		return 0;
	}
	span(q, 0, t, name, namelen);
	return 1;
}

int
resolve_query(const struct resolver *r, const struct mirror *m,
    const struct dns_query *q, const char *service, bool has_ttl,
    uint32_t ttl, size_t cap, uint64_t seed, uint8_t *buf, size_t *len)
{
	char lsvc[DNS_MAX_NAME + 1];
	struct ctx c;
	size_t i;

	memset(&c, 0, sizeof(c));
	c.dom = in_domain(q, r->domain) < 0 && r->alt_domain != NULL
		    ? r->alt_domain
		    : r->domain;
	c.r = r;
	c.m = m;
	c.q = q;
	c.rng = seed | 1;
	c.udp_plain = cap <= 512 && !q->edns;
	c.has_ttl = has_ttl;
	c.ttl = ttl;
	for (i = 0; service[i] && i < sizeof(lsvc) - 1; i++)
		lsvc[i] = (char)tolower((unsigned char)service[i]);
	lsvc[i] = '\0';
	dns_msg_init(&c.msg, buf, cap, q, true, r->ra, DNS_R_NOERROR,
	    r->compress);
	if (q->qclass != DNS_C_IN && q->qclass != 255)
		dns_msg_set_rcode(&c.msg, DNS_R_REFUSED);
	else if (m == NULL)
		dns_msg_set_rcode(&c.msg, DNS_R_SERVFAIL);
	else
		answer_service(&c, lsvc, NULL);
	*len = dns_msg_finish(&c.msg, c.tc, 4096);
	return RESOLVE_ANSWER;
}

int
resolve(const struct resolver *r, const struct mirror *m,
    const struct dns_query *q, size_t cap, uint64_t seed, uint8_t *buf,
    size_t *len)
{
	struct ctx c;
	int k = in_domain(q, r->domain);

	memset(&c, 0, sizeof(c));
	c.dom = r->domain;
	if (k < 0 && r->alt_domain && (k = in_domain(q, r->alt_domain)) >= 0)
		c.dom = r->alt_domain;
	c.r = r;
	c.m = m;
	c.q = q;
	c.rng = seed | 1;
	c.udp_plain = cap <= 512 && !q->edns;
	dns_msg_init(&c.msg, buf, cap, q, true, r->ra, DNS_R_NOERROR,
	    r->compress);
	if (k < 0) {
		if (m == NULL || !answer_ptr(&c))
			return RESOLVE_FORWARD;
	} else if (q->qclass != DNS_C_IN && q->qclass != 255) {
		dns_msg_set_rcode(&c.msg, DNS_R_REFUSED);
	} else if (q->qtype == DNS_T_AXFR) {
		dns_msg_set_rcode(&c.msg, DNS_R_NOTIMP);
	} else if (m == NULL) {
		dns_msg_set_rcode(&c.msg, DNS_R_SERVFAIL);
	} else {
		answer_in_domain(&c, (size_t)k);
	}
	*len = dns_msg_finish(&c.msg, c.tc, 4096);
	return RESOLVE_ANSWER;
}

size_t
resolve_error(const struct resolver *r, const struct dns_query *q, int rcode,
    uint8_t *buf, size_t cap)
{
	struct dns_msg m;

	dns_msg_init(&m, buf, cap, q, false, r->ra, rcode, false);
	return dns_msg_finish(&m, false, 4096);
}
