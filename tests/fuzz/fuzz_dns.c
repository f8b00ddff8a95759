/* fuzz_dns.c - libFuzzer target for dnsd/wire.c: parse the input as a
 * query; if it parses, answer it with records of every type on names
 * derived from the query's, then check the response: dns_reply_check, a
 * walk of every record that must give back exactly the names written
 * (through compression), and a second parse of it as a query. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../../dnsd/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NNAMES 8
#define MAXLOG 8192

/* what was added: record type and indexes into names[] */
struct added {
	uint16_t type;
	uint8_t owner, target, rname;
};

static char names[NNAMES][600];
static struct added added[MAXLOG];
static size_t nadded;
static uint8_t resp[65535 + 64];
static uint8_t copy[65535 + 64];

static void
check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_dns: %s\n", what);
		abort();
	}
}

static uint16_t
g16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* same_name - a name as read back against one as written (which may
 * carry a trailing dot, and whose case compression may have changed) */
static int
same_name(const char *got, const char *want)
{
	size_t n = strlen(want);

	if (n > 0 && want[n - 1] == '.')
		n--;
	return strlen(got) == n && strncasecmp(got, want, n) == 0;
}

static int
name_ok(const char *s)
{
	uint8_t w[DNS_MAX_NAME];

	return dns_name_to_wire(s, w, sizeof(w)) > 0;
}

/* add - one record; checks the result and that a failure changed nothing */
static void
add(struct dns_msg *m, int section, uint16_t type, int owner, int target,
    int rname, uint32_t ttl)
{
	static const uint8_t ip6[16] = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	    0, 0, 0, 0, 1};
	static const uint8_t ip4[4] = {10, 0, 0, 1};
	static char big[300];
	const char *txt[3] = {names[owner], "", big};
	const char *o = names[owner], *t = names[target], *r = names[rname];
	size_t len = m->len;
	bool valid;
	int rc = -1;

	if (big[0] == '\0')
		memset(big, 'z', sizeof(big) - 1);
	valid = name_ok(o);
	switch (type) {
	case DNS_T_A:
		rc = dns_msg_a(m, section, o, ttl, ip4);
		break;
	case DNS_T_AAAA:
		rc = dns_msg_aaaa(m, section, o, ttl, ip6);
		break;
	case DNS_T_TXT:
		rc = dns_msg_txt(m, section, o, ttl, txt, 3);
		break;
	case DNS_T_SRV:
		valid = valid && name_ok(t);
		rc = dns_msg_srv(m, section, o, ttl, 1, 2, 3, t);
		break;
	case DNS_T_CNAME:
		valid = valid && name_ok(t);
		rc = dns_msg_cname(m, section, o, ttl, t);
		break;
	case DNS_T_PTR:
		valid = valid && name_ok(t);
		rc = dns_msg_ptr(m, section, o, ttl, t);
		break;
	case DNS_T_NS:
		valid = valid && name_ok(t);
		rc = dns_msg_ns(m, section, o, ttl, t);
		break;
	case DNS_T_SOA:
		valid = valid && name_ok(t) && name_ok(r);
		rc = dns_msg_soa(m, section, o, ttl, t, r, 1, 2, 3, 4, 5);
		break;
	}
	if (!valid) {
		check(rc == -EINVAL, "a bad name was accepted");
	} else {
		check(rc == 0 || rc == -ENOSPC, "unexpected error adding");
		if (rc == -ENOSPC)
			check(m->truncated, "ENOSPC without truncated");
	}
	if (rc != 0) {
		check(m->len == len, "a failed add changed the length");
		return;
	}
	check(m->len <= m->cap - m->opt_reserve, "message over its cap");
	check(nadded < MAXLOG, "log full");
	added[nadded].type = type;
	added[nadded].owner = (uint8_t)owner;
	added[nadded].target = (uint8_t)target;
	added[nadded].rname = (uint8_t)rname;
	nadded++;
}

/* read_name - dns_name_read, which must succeed on our own output */
static size_t
read_name(const uint8_t *p, size_t n, size_t off, char *out)
{
	int rc = dns_name_read(p, n, &off, out, 1024);

	check(rc > 0, "response holds an unreadable name");
	return off;
}

/* walk - the response must hold exactly the logged records */
static void
walk(const uint8_t *p, size_t n, const struct dns_query *q, bool opt)
{
	size_t off = DNS_HDR_LEN, i, total, e;
	char got[1024], want[1024];
	const struct added *a;
	uint16_t type;

	check(g16(p + 4) == (q->question_len ? 1 : 0), "QDCOUNT");
	if (q->question_len) {
		check(memcmp(p + off, q->question, q->question_len) == 0,
		    "question not echoed");
		off = read_name(p, n, off, got);
		check(strcasecmp(got, q->name) == 0, "question name");
		off += 4;
	}
	total = (size_t)g16(p + 6) + g16(p + 8) + g16(p + 10);
	check(total == nadded + (opt ? 1 : 0), "record counts");
	for (i = 0; i < total; i++) {
		off = read_name(p, n, off, got);
		check(n - off >= 10, "truncated record");
		type = g16(p + off);
		e = off + 10 + g16(p + off + 8);
		check(e <= n, "RDATA past the end");
		if (i == nadded) {
			check(type == DNS_T_OPT && got[0] == '\0' && e == n,
			    "OPT not last");
			off = e;
			continue;
		}
		a = &added[i];
		check(type == a->type, "record type");
		check(same_name(got, names[a->owner]), "owner name");
		off += 10;
		switch (type) {
		case DNS_T_SRV:
			off += 6;
			/* fall through */
		case DNS_T_CNAME:
		case DNS_T_PTR:
		case DNS_T_NS:
		case DNS_T_SOA:
			off = read_name(p, e, off, got);
			check(same_name(got, names[a->target]), "target");
			if (type == DNS_T_SOA) {
				off = read_name(p, e, off, want);
				check(same_name(want, names[a->rname]),
				    "rname");
				off += 20;
			}
			check(off == e, "RDATA not consumed exactly");
			break;
		default:
			off = e;
		}
	}
	check(off == n, "bytes after the last record");
}

static void
derive(const struct dns_query *q)
{
	/* the parent with its leading dot, "" when that is the root */
	const char *pdot = q->nlabels > 1 ? q->name + q->label_off[1] - 1 : "";
	size_t i;

	snprintf(names[0], sizeof(names[0]), "%s", q->name);
	snprintf(names[1], sizeof(names[1]), "node1.node.dc1.%s", q->name);
	snprintf(names[2], sizeof(names[2]), "%s", *pdot ? pdot + 1 : ".");
	snprintf(names[3], sizeof(names[3]), "ns%s", pdot);
	snprintf(names[4], sizeof(names[4]), "hostmaster%s.", pdot);
	snprintf(names[5], sizeof(names[5]), "%s", q->name);
	for (i = 0; names[5][i] != '\0'; i++) /* compression ignores case */
		if (names[5][i] >= 'a' && names[5][i] <= 'z')
			names[5][i] = (char)(names[5][i] - 'a' + 'A');
	snprintf(names[6], sizeof(names[6]), "x.node1.node.dc1.%s", q->name);
	snprintf(names[7], sizeof(names[7]), "_web._tcp%s", pdot);
}

static void
answer(const struct dns_query *q, const uint8_t *data, size_t size)
{
	struct dns_query q2;
	struct dns_msg m;
	size_t cap, len, r, rounds;
	int rcode = -1, rc;

	derive(q);
	cap = q->id & 1 ? 65535 : q->edns ? q->udp_size : 512;
	rounds = 1 + (size > 0 ? data[size - 1] % 64 : 0);
	nadded = 0;
	dns_msg_init(&m, resp, cap, q, true, false, DNS_R_NOERROR,
	    (q->id & 2) == 0);
	for (r = 0; r < rounds; r++) {
		add(&m, DNS_ANSWER, DNS_T_A, 0, 0, 0, 0);
		add(&m, DNS_ANSWER, DNS_T_AAAA, 5, 0, 0, 1);
		add(&m, DNS_ANSWER, DNS_T_CNAME, 6, 0, 0, 2);
		add(&m, DNS_ANSWER, DNS_T_SRV, 0, 1, 0, 3);
		add(&m, DNS_ANSWER, DNS_T_SRV, 7, 6, 0, 3);
		add(&m, DNS_ANSWER, DNS_T_TXT, 0, 0, 0, 4);
		add(&m, DNS_ANSWER, DNS_T_PTR, 0, 2, 0, 5);
	}
	add(&m, DNS_AUTHORITY, DNS_T_NS, 2, 3, 0, 6);
	add(&m, DNS_AUTHORITY, DNS_T_SOA, 2, 3, 4, 0);
	/* back to the answer once in the authority section: refused */
	if (m.section == DNS_AUTHORITY)
		check(dns_msg_a(&m, DNS_ANSWER, "a", 0,
			  (const uint8_t *)"1234") == -EINVAL,
		    "section order not enforced");
	for (r = 0; r < rounds; r++) {
		add(&m, DNS_ADDITIONAL, DNS_T_A, 1, 0, 0, 7);
		add(&m, DNS_ADDITIONAL, DNS_T_AAAA, 6, 0, 0, 7);
		add(&m, DNS_ADDITIONAL, DNS_T_TXT, 1, 0, 0, 7);
	}
	len = dns_msg_finish(&m, m.truncated, 4096);
	check(len <= m.cap && m.cap <= 65535 && m.cap >= 512, "over cap");
	check(dns_reply_check(resp, len, q->id, &rcode) == 0, "reply_check");
	check(rcode == DNS_R_NOERROR, "rcode");
	check(dns_reply_check(resp, len, (uint16_t)(q->id + 1), NULL) ==
		  -EBADMSG,
	    "reply_check took a wrong id");
	walk(resp, len, q, q->edns);

	/* the response read as a query: same question, same EDNS */
	memcpy(copy, resp, len);
	copy[2] &= 0x7f;
	rc = dns_parse_query(copy, len, &q2);
	check(rc == 0, "the response does not parse as a query");
	check(strcmp(q2.name, q->name) == 0, "name changed");
	check(q2.qtype == q->qtype && q2.qclass == q->qclass, "type changed");
	check(q2.edns == q->edns, "EDNS changed");
	check(!q2.edns || q2.udp_size == 4096, "OPT size");
	check(q2.dnssec_ok == q->dnssec_ok, "DO not echoed");
}

/* error_reply - FORMERR or NOTIMP: header and (if usable) the question */
static void
error_reply(const struct dns_query *q, int rcode)
{
	struct dns_msg m;
	size_t len;
	int got = -1;

	dns_msg_init(&m, resp, 512, q, true, false, rcode, true);
	len = dns_msg_finish(&m, false, 1232);
	check(len == DNS_HDR_LEN + q->question_len +
			 (q->edns ? DNS_OPT_LEN : 0),
	    "error reply length");
	check(dns_reply_check(resp, len, q->id, &got) == 0, "reply_check");
	check(got == rcode, "error rcode");
	nadded = 0;
	walk(resp, len, q, q->edns);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dns_query q;
	size_t i;
	int rc;

	rc = dns_parse_query(data, size, &q);
	check(rc == 0 || rc == -EBADMSG || rc == -EPROTO ||
		  rc == -EOPNOTSUPP,
	    "unexpected parse result");
	if (rc == -EBADMSG)
		return 0;
	check(q.id == g16(data) && q.flags == g16(data + 2), "id/flags");
	if (q.question_len != 0) {
		check(q.question == data + DNS_HDR_LEN &&
			  q.question_len <= size - DNS_HDR_LEN,
		    "question outside the packet");
		check(q.name_len == strlen(q.name) && q.name_len <= 253,
		    "name length");
		for (i = 0; i < q.nlabels; i++)
			check(q.label_off[i] < q.name_len &&
				  (i == 0 || q.name[q.label_off[i] - 1] == '.'),
			    "label offsets");
		check(q.udp_size >= 512, "udp size");
	}
	if (rc == -EPROTO) {
		check(!q.edns, "EDNS on FORMERR");
		error_reply(&q, DNS_R_FORMERR);
	} else if (rc == -EOPNOTSUPP) {
		error_reply(&q, DNS_R_NOTIMP);
	} else {
		answer(&q, data, size);
	}
	return 0;
}
