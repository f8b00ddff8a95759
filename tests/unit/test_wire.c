/* test_wire.c - unit tests for dnsd/wire.c: query parsing, the response
 * builder (checked by a separate decoder in this file), and one exchange
 * with dig(1) when it is installed. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../dnsd/wire.h"

/* --- building requests by hand ------------------------------------------- */

struct pkt {
	uint8_t b[2048];
	size_t n;
};

static void
pk_bytes(struct pkt *p, const void *d, size_t n)
{
	assert_true(p->n + n <= sizeof(p->b));
	memcpy(p->b + p->n, d, n);
	p->n += n;
}

static void
pk_u8(struct pkt *p, unsigned v)
{
	uint8_t b = (uint8_t)v;

	pk_bytes(p, &b, 1);
}

static void
pk_u16(struct pkt *p, unsigned v)
{
	pk_u8(p, v >> 8);
	pk_u8(p, v);
}

static void
pk_u32(struct pkt *p, uint32_t v)
{
	pk_u16(p, v >> 16);
	pk_u16(p, v & 0xffff);
}

/* pk_name - dotted name as uncompressed labels; no checks, so tests can
 * write bad names too */
static void
pk_name(struct pkt *p, const char *name)
{
	const char *s = name, *dot;
	size_t len;

	while (*s != '\0') {
		dot = strchr(s, '.');
		len = dot != NULL ? (size_t)(dot - s) : strlen(s);
		pk_u8(p, (unsigned)len);
		pk_bytes(p, s, len);
		s += len;
		if (*s == '.')
			s++;
	}
	pk_u8(p, 0);
}

static void
pk_header(struct pkt *p, unsigned id, unsigned flags, unsigned qd,
    unsigned an, unsigned ns, unsigned ar)
{
	p->n = 0;
	pk_u16(p, id);
	pk_u16(p, flags);
	pk_u16(p, qd);
	pk_u16(p, an);
	pk_u16(p, ns);
	pk_u16(p, ar);
}

static void
pk_question(struct pkt *p, const char *name, unsigned qtype)
{
	pk_name(p, name);
	pk_u16(p, qtype);
	pk_u16(p, DNS_C_IN);
}

/* pk_opt - an OPT record; with cookie, the 8-byte client COOKIE option
 * dig sends by default */
static void
pk_opt(struct pkt *p, unsigned udp, unsigned version, bool dobit, bool cookie)
{
	static const uint8_t ck[8] = {1, 2, 3, 4, 5, 6, 7, 8};

	pk_u8(p, 0);
	pk_u16(p, DNS_T_OPT);
	pk_u16(p, udp);
	pk_u8(p, 0);
	pk_u8(p, version);
	pk_u16(p, dobit ? 0x8000 : 0);
	pk_u16(p, cookie ? 12 : 0);
	if (cookie) {
		pk_u16(p, 10);
		pk_u16(p, 8);
		pk_bytes(p, ck, 8);
	}
}

/* dig_query - what `dig [+noedns] name type` sends: RD and AD set; with
 * EDNS, udp 1232 and a client cookie */
static void
dig_query(struct pkt *p, unsigned id, const char *name, unsigned qtype,
    bool edns)
{
	pk_header(p, id, 0x0120, 1, 0, 0, edns ? 1 : 0);
	pk_question(p, name, qtype);
	if (edns)
		pk_opt(p, 1232, 0, false, true);
}

/* parse_exact - dns_parse_query on a heap copy of exactly n bytes, so ASan
 * catches any read past the end; q->question is re-pointed into p. */
static int
parse_exact(const struct pkt *p, size_t n, struct dns_query *q)
{
	uint8_t *copy = malloc(n ? n : 1);
	int rc;

	assert_non_null(copy);
	memcpy(copy, p->b, n);
	rc = dns_parse_query(copy, n, q);
	if (q->question != NULL)
		q->question = p->b + (q->question - copy);
	free(copy);
	return rc;
}

static void
query(struct dns_query *q, struct pkt *p, const char *name, unsigned qtype,
    bool edns)
{
	dig_query(p, 0x4242, name, qtype, edns);
	assert_int_equal(parse_exact(p, p->n, q), 0);
}

/* --- a separate decoder for checking responses --------------------------- */

#define T_MAXRR 8192

struct trr {
	char name[256]; /* decompressed, case as on the wire */
	size_t owner_len; /* bytes of the owner in place (2 = one pointer) */
	uint16_t type, class;
	uint32_t ttl;
	uint16_t rdlen;
	size_t rdata;	 /* offset of the RDATA */
	char target[256]; /* CNAME/PTR/NS/SRV target, SOA MNAME */
	char rname[256];  /* SOA RNAME */
	uint16_t prio, weight, port;
	uint32_t soa[5];
	size_t txt[16]; /* TXT character-string lengths */
	size_t ntxt;
	uint8_t addr[16];
};

struct tmsg {
	uint16_t id, flags, qd, an, ns, ar;
	char qname[256];
	uint16_t qtype, qclass;
	struct trr rr[T_MAXRR]; /* OPT excluded */
	size_t nrr;
	bool opt;
	uint16_t opt_udp;
	uint8_t opt_ercode, opt_version;
	bool opt_do;
};

/* tname - decode the name at p[off], following pointers (each strictly
 * backwards); returns the offset just after the name in place. */
static size_t
tname(const uint8_t *p, size_t n, size_t off, char *out)
{
	size_t k = 0, end = 0, hops = 0, t;
	bool jumped = false;
	uint8_t c;

	for (;;) {
		assert_true(off < n);
		c = p[off];
		if ((c & 0xc0) == 0xc0) {
			assert_true(off + 1 < n);
			t = (size_t)(c & 0x3f) << 8 | p[off + 1];
			assert_true(t < off);
			assert_true(t >= DNS_HDR_LEN);
			assert_true(++hops < 128);
			if (!jumped)
				end = off + 2;
			jumped = true;
			off = t;
			continue;
		}
		assert_true(c <= 63);
		if (c == 0) {
			off++;
			break;
		}
		assert_true(off + 1 + c <= n);
		if (k > 0)
			out[k++] = '.';
		memcpy(out + k, p + off + 1, c);
		k += c;
		assert_true(k <= 253);
		off += 1 + (size_t)c;
	}
	out[k] = '\0';
	return jumped ? end : off;
}

static uint16_t
g16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t
g32(const uint8_t *p)
{
	return (uint32_t)g16(p) << 16 | g16(p + 2);
}

/* tdecode - decode a whole response, asserting that it is well formed:
 * every count matches, every RDATA is consumed exactly, no bytes left. */
static struct tmsg *
tdecode(const uint8_t *p, size_t n)
{
	struct tmsg *t = calloc(1, sizeof(*t));
	size_t off = DNS_HDR_LEN, i, total, e, start;
	struct trr *r;
	char tmp[256];

	assert_non_null(t);
	assert_true(n >= DNS_HDR_LEN);
	t->id = g16(p);
	t->flags = g16(p + 2);
	t->qd = g16(p + 4);
	t->an = g16(p + 6);
	t->ns = g16(p + 8);
	t->ar = g16(p + 10);
	assert_true(t->qd <= 1);
	if (t->qd == 1) {
		off = tname(p, n, off, t->qname);
		assert_true(off + 4 <= n);
		t->qtype = g16(p + off);
		t->qclass = g16(p + off + 2);
		off += 4;
	}
	total = (size_t)t->an + t->ns + t->ar;
	for (i = 0; i < total; i++) {
		start = off;
		off = tname(p, n, off, tmp);
		assert_true(off + 10 <= n);
		if (g16(p + off) == DNS_T_OPT) {
			assert_false(t->opt);
			assert_int_equal(i, total - 1); /* last */
			assert_string_equal(tmp, "");
			assert_int_equal(off - start, 1);
			t->opt = true;
			t->opt_udp = g16(p + off + 2);
			t->opt_ercode = p[off + 4];
			t->opt_version = p[off + 5];
			t->opt_do = (p[off + 6] & 0x80) != 0;
			assert_int_equal(g16(p + off + 8), 0);
			off += 10;
			continue;
		}
		assert_true(t->nrr < T_MAXRR);
		r = &t->rr[t->nrr++];
		strcpy(r->name, tmp);
		r->owner_len = off - start;
		r->type = g16(p + off);
		r->class = g16(p + off + 2);
		r->ttl = g32(p + off + 4);
		r->rdlen = g16(p + off + 8);
		off += 10;
		r->rdata = off;
		e = off + r->rdlen;
		assert_true(e <= n);
		switch (r->type) {
		case DNS_T_A:
		case DNS_T_AAAA:
			assert_int_equal(r->rdlen, r->type == DNS_T_A ? 4 : 16);
			memcpy(r->addr, p + off, r->rdlen);
			off = e;
			break;
		case DNS_T_CNAME:
		case DNS_T_PTR:
		case DNS_T_NS:
			off = tname(p, e, off, r->target);
			break;
		case DNS_T_SRV:
			assert_true(r->rdlen > 6);
			r->prio = g16(p + off);
			r->weight = g16(p + off + 2);
			r->port = g16(p + off + 4);
			off = tname(p, e, off + 6, r->target);
			break;
		case DNS_T_SOA:
			off = tname(p, e, off, r->target);
			off = tname(p, e, off, r->rname);
			assert_int_equal(e - off, 20);
			for (size_t j = 0; j < 5; j++)
				r->soa[j] = g32(p + off + 4 * j);
			off = e;
			break;
		case DNS_T_TXT:
			assert_true(r->rdlen > 0);
			while (off < e) {
				assert_true(r->ntxt < 16);
				r->txt[r->ntxt++] = p[off];
				off += 1 + (size_t)p[off];
			}
			break;
		default:
			fail_msg("unexpected type %u", r->type);
		}
		assert_int_equal(off, e);
	}
	assert_int_equal(off, n);
	return t;
}

/* --- parsing -------------------------------------------------------------- */

static void
test_parse_dig_query_without_edns(void **state)
{
	struct dns_query q;
	struct pkt p;

	(void)state;
	dig_query(&p, 0xbeef, "web.service.consul", DNS_T_A, false);
	assert_int_equal(parse_exact(&p, p.n, &q), 0);
	assert_int_equal(q.id, 0xbeef);
	assert_int_equal(q.flags, 0x0120);
	assert_int_equal(q.opcode, 0);
	assert_true(q.rd);
	assert_string_equal(q.name, "web.service.consul");
	assert_int_equal(q.name_len, 18);
	assert_int_equal(q.nlabels, 3);
	assert_int_equal(q.label_off[0], 0);
	assert_int_equal(q.label_off[1], 4);
	assert_int_equal(q.label_off[2], 12);
	assert_int_equal(q.qtype, DNS_T_A);
	assert_int_equal(q.qclass, DNS_C_IN);
	assert_false(q.edns);
	assert_int_equal(q.udp_size, 512);
	assert_false(q.dnssec_ok);
	assert_int_equal(q.question_len, 20 + 4);
	assert_ptr_equal(q.question, p.b + DNS_HDR_LEN);
}

static void
test_parse_dig_query_with_edns(void **state)
{
	struct dns_query q;
	struct pkt p;

	(void)state;
	dig_query(&p, 7, "web.service.consul", DNS_T_SRV, true);
	assert_int_equal(parse_exact(&p, p.n, &q), 0);
	assert_int_equal(q.qtype, DNS_T_SRV);
	assert_true(q.edns);
	assert_int_equal(q.udp_size, 1232);
	assert_int_equal(q.edns_version, 0);
	assert_false(q.dnssec_ok);
	assert_int_equal(q.question_len, 24);

	/* DO set, a tiny advertised size is raised to 512, no options */
	pk_header(&p, 8, 0, 1, 0, 0, 1);
	pk_question(&p, "node1.node.consul", DNS_T_ANY);
	pk_opt(&p, 100, 0, true, false);
	assert_int_equal(parse_exact(&p, p.n, &q), 0);
	assert_string_equal(q.name, "node1.node.consul");
	assert_false(q.rd);
	assert_true(q.edns);
	assert_true(q.dnssec_ok);
	assert_int_equal(q.udp_size, 512);

	/* version 1 is reported, for BADVERS */
	pk_header(&p, 9, 0, 1, 0, 0, 1);
	pk_question(&p, "consul", DNS_T_SOA);
	pk_opt(&p, 4096, 1, false, false);
	assert_int_equal(parse_exact(&p, p.n, &q), 0);
	assert_int_equal(q.edns_version, 1);
	assert_int_equal(q.udp_size, 4096);
}

static void
test_parse_uppercase_lowercased_question_kept(void **state)
{
	struct dns_query q;
	struct pkt p;

	(void)state;
	dig_query(&p, 1, "WeB.SERVICE.Consul", DNS_T_A, false);
	assert_int_equal(parse_exact(&p, p.n, &q), 0);
	assert_string_equal(q.name, "web.service.consul");
	/* the echo keeps the client's case (0x20 randomisation) */
	assert_memory_equal(q.question, "\3WeB\7SERVICE\6Consul", 19);
}

static void
test_parse_root_and_odd_but_valid_names(void **state)
{
	struct dns_query q;
	struct pkt p;
	char name[300];
	size_t i;

	(void)state;
	dig_query(&p, 1, "", DNS_T_NS, false); /* dig . NS */
	assert_int_equal(parse_exact(&p, p.n, &q), 0);
	assert_string_equal(q.name, "");
	assert_int_equal(q.nlabels, 0);
	assert_int_equal(q.question_len, 5);

	dig_query(&p, 1, "_web._tcp.service.consul", DNS_T_SRV, false);
	assert_int_equal(parse_exact(&p, p.n, &q), 0);
	assert_string_equal(q.name, "_web._tcp.service.consul");
	assert_int_equal(q.nlabels, 4);
	assert_int_equal(q.label_off[3], 18);

	/* the longest name: 127 one-byte labels = 255 wire bytes */
	for (i = 0; i < 127; i++) {
		name[2 * i] = 'A';
		name[2 * i + 1] = '.';
	}
	name[253] = '\0';
	dig_query(&p, 1, name, DNS_T_A, false);
	assert_int_equal(parse_exact(&p, p.n, &q), 0);
	assert_int_equal(q.nlabels, 127);
	assert_int_equal(q.name_len, 253);
	assert_int_equal(q.name[0], 'a');
	assert_int_equal(q.label_off[126], 252);
	assert_int_equal(q.question_len, 255 + 4);

	/* trailing garbage is ignored */
	dig_query(&p, 1, "web.service.consul", DNS_T_A, true);
	pk_bytes(&p, "junk", 4);
	assert_int_equal(parse_exact(&p, p.n, &q), 0);
	assert_true(q.edns);
}

/* expect_formerr - parsing gives -EPROTO with the id and flags kept */
static void
expect_formerr(const struct pkt *p, bool question_ok)
{
	struct dns_query q;

	assert_int_equal(parse_exact(p, p->n, &q), -EPROTO);
	assert_int_equal(q.id, g16(p->b));
	assert_int_equal(q.flags, g16(p->b + 2));
	assert_false(q.edns);
	assert_int_equal(q.udp_size, 512);
	if (question_ok)
		assert_true(q.question_len > 0);
	else
		assert_int_equal(q.question_len, 0);
}

static void
test_parse_formerr_question(void **state)
{
	struct pkt p;
	char name[300];
	size_t i;

	(void)state;
	pk_header(&p, 0x1111, 0x0100, 0, 0, 0, 0); /* QDCOUNT 0 */
	expect_formerr(&p, false);

	pk_header(&p, 0x1111, 0x0100, 2, 0, 0, 0); /* QDCOUNT 2 */
	pk_question(&p, "a.consul", DNS_T_A);
	pk_question(&p, "b.consul", DNS_T_A);
	expect_formerr(&p, false);

	memset(name, 'x', 64); /* label of 64 */
	strcpy(name + 64, ".consul");
	dig_query(&p, 2, name, DNS_T_A, false);
	expect_formerr(&p, false);
	strcpy(name + 63, ".consul"); /* 63 is fine */
	dig_query(&p, 2, name, DNS_T_A, false);
	{
		struct dns_query q;

		assert_int_equal(parse_exact(&p, p.n, &q), 0);
		assert_int_equal(q.label_off[1], 64);
	}

	/* 256 wire bytes: 126 one-byte labels and a two-byte one */
	for (i = 0; i < 126; i++) {
		name[2 * i] = 'a';
		name[2 * i + 1] = '.';
	}
	strcpy(name + 252, "ab");
	dig_query(&p, 3, name, DNS_T_A, false);
	expect_formerr(&p, false);

	/* a pointer in the question, even a backwards one to the header */
	pk_header(&p, 4, 0, 1, 0, 0, 0);
	pk_u8(&p, 3);
	pk_bytes(&p, "web", 3);
	pk_u16(&p, 0xc000 | 12);
	pk_u16(&p, DNS_T_A);
	pk_u16(&p, DNS_C_IN);
	expect_formerr(&p, false);

	/* reserved label types 0x40 and 0x80 */
	pk_header(&p, 5, 0, 1, 0, 0, 0);
	pk_u8(&p, 0x41);
	pk_bytes(&p, "a", 1);
	pk_u8(&p, 0);
	pk_u32(&p, 0x00010001);
	expect_formerr(&p, false);
	p.b[DNS_HDR_LEN] = 0x81;
	expect_formerr(&p, false);

	/* label bytes that would need escapes */
	dig_query(&p, 6, "we b.consul", DNS_T_A, false);
	expect_formerr(&p, false);
	dig_query(&p, 6, "we\\b.consul", DNS_T_A, false);
	expect_formerr(&p, false);
	dig_query(&p, 6, "web.consul", DNS_T_A, false);
	p.b[DNS_HDR_LEN + 2] = '.'; /* "w.b" as one label */
	expect_formerr(&p, false);
	p.b[DNS_HDR_LEN + 2] = 0x80;
	expect_formerr(&p, false);
	p.b[DNS_HDR_LEN + 2] = 0x7f;
	expect_formerr(&p, false);
	p.b[DNS_HDR_LEN + 2] = '~'; /* 0x7e is fine */
	{
		struct dns_query q;

		assert_int_equal(parse_exact(&p, p.n, &q), 0);
		assert_string_equal(q.name, "w~b.consul");
	}
}

static void
test_parse_truncated_at_every_length(void **state)
{
	struct dns_query q;
	struct pkt p;
	size_t n, qend;

	(void)state;
	dig_query(&p, 0x0a0b, "web.service.consul", DNS_T_SRV, true);
	qend = DNS_HDR_LEN + 24;
	for (n = 0; n < p.n; n++) {
		int rc = parse_exact(&p, n, &q);

		if (n < DNS_HDR_LEN) {
			assert_int_equal(rc, -EBADMSG);
			continue;
		}
		assert_int_equal(rc, -EPROTO);
		assert_int_equal(q.id, 0x0a0b);
		/* cut in the OPT: the question is still usable */
		assert_int_equal(q.question_len, n >= qend ? 24 : 0);
	}
	assert_int_equal(parse_exact(&p, p.n, &q), 0);
}

static void
test_parse_formerr_additional_records(void **state)
{
	struct pkt p;

	(void)state;
	/* two OPT records */
	pk_header(&p, 1, 0, 1, 0, 0, 2);
	pk_question(&p, "web.service.consul", DNS_T_A);
	pk_opt(&p, 1232, 0, false, false);
	pk_opt(&p, 1232, 0, false, false);
	expect_formerr(&p, true);

	/* OPT whose owner is not the root */
	pk_header(&p, 1, 0, 1, 0, 0, 1);
	pk_question(&p, "web.service.consul", DNS_T_A);
	pk_name(&p, "x");
	pk_u16(&p, DNS_T_OPT);
	pk_u16(&p, 1232);
	pk_u32(&p, 0);
	pk_u16(&p, 0);
	expect_formerr(&p, true);

	/* an option running past the OPT's RDATA */
	pk_header(&p, 1, 0, 1, 0, 0, 1);
	pk_question(&p, "web.service.consul", DNS_T_A);
	pk_u8(&p, 0);
	pk_u16(&p, DNS_T_OPT);
	pk_u16(&p, 1232);
	pk_u32(&p, 0);
	pk_u16(&p, 6);
	pk_u16(&p, 10);
	pk_u16(&p, 8); /* claims 8, has 2 */
	pk_u16(&p, 0);
	expect_formerr(&p, true);

	/* RDLENGTH past the end of the packet */
	pk_header(&p, 1, 0, 1, 0, 0, 1);
	pk_question(&p, "web.service.consul", DNS_T_A);
	pk_u8(&p, 0);
	pk_u16(&p, DNS_T_A);
	pk_u16(&p, DNS_C_IN);
	pk_u32(&p, 0);
	pk_u16(&p, 5);
	pk_bytes(&p, "\1\2\3\4", 4);
	expect_formerr(&p, true);

	/* option header cut short: 2 bytes of RDATA */
	pk_header(&p, 1, 0, 1, 0, 0, 1);
	pk_question(&p, "web.service.consul", DNS_T_A);
	pk_u8(&p, 0);
	pk_u16(&p, DNS_T_OPT);
	pk_u16(&p, 1232);
	pk_u32(&p, 0);
	pk_u16(&p, 2);
	pk_u16(&p, 10);
	expect_formerr(&p, true);

	/* a reserved label type in a record's owner */
	pk_header(&p, 1, 0, 1, 0, 1, 0);
	pk_question(&p, "web.service.consul", DNS_T_A);
	pk_u8(&p, 0x41);
	pk_bytes(&p, "a", 1);
	pk_u8(&p, 0);
	pk_u16(&p, DNS_T_A);
	pk_u16(&p, DNS_C_IN);
	pk_u32(&p, 0);
	pk_u16(&p, 0);
	expect_formerr(&p, true);

	/* a label running past the end, in the additional section */
	pk_header(&p, 1, 0, 1, 0, 0, 1);
	pk_question(&p, "web.service.consul", DNS_T_A);
	pk_u8(&p, 10);
	pk_bytes(&p, "abc", 3);
	expect_formerr(&p, true);

	/* ARCOUNT says 2 but there is one */
	pk_header(&p, 1, 0, 1, 0, 0, 2);
	pk_question(&p, "web.service.consul", DNS_T_A);
	pk_opt(&p, 1232, 0, false, false);
	expect_formerr(&p, true);
}

static void
test_parse_skips_answer_and_authority_records(void **state)
{
	struct dns_query q;
	struct pkt p;

	(void)state;
	/* an answer whose owner points to the question, an authority record
	 * whose name points into the answer's, then the OPT */
	pk_header(&p, 1, 0, 1, 1, 1, 1);
	pk_question(&p, "web.service.consul", DNS_T_A);
	pk_u16(&p, 0xc000 | 12);
	pk_u16(&p, DNS_T_A);
	pk_u16(&p, DNS_C_IN);
	pk_u32(&p, 0);
	pk_u16(&p, 4);
	pk_bytes(&p, "\12\0\0\1", 4);
	pk_u8(&p, 2);
	pk_bytes(&p, "ns", 2);
	pk_u16(&p, 0xc000 | 16); /* "service.consul" */
	pk_u16(&p, 99);		 /* unknown type: skipped blindly */
	pk_u16(&p, DNS_C_IN);
	pk_u32(&p, 0);
	pk_u16(&p, 3);
	pk_bytes(&p, "abc", 3);
	pk_opt(&p, 2048, 0, true, true);
	assert_int_equal(parse_exact(&p, p.n, &q), 0);
	assert_true(q.edns);
	assert_int_equal(q.udp_size, 2048);
	assert_true(q.dnssec_ok);

	/* an OPT in the answer section is skipped, not taken as EDNS */
	pk_header(&p, 1, 0, 1, 1, 0, 0);
	pk_question(&p, "web.service.consul", DNS_T_A);
	pk_opt(&p, 2048, 0, false, false);
	assert_int_equal(parse_exact(&p, p.n, &q), 0);
	assert_false(q.edns);
	assert_int_equal(q.udp_size, 512);
}

static void
test_parse_formerr_pointer_loops_and_forward_pointers(void **state)
{
	struct pkt p;
	size_t at;

	(void)state;
	/* an answer owner pointing to itself */
	pk_header(&p, 1, 0, 1, 1, 0, 0);
	pk_question(&p, "web.service.consul", DNS_T_A);
	at = p.n;
	pk_u16(&p, 0xc000 | at);
	pk_u16(&p, DNS_T_A);
	pk_u16(&p, DNS_C_IN);
	pk_u32(&p, 0);
	pk_u16(&p, 4);
	pk_u32(&p, 0);
	expect_formerr(&p, true);

	/* pointing forwards */
	p.b[at + 1] = (uint8_t)(at + 2);
	expect_formerr(&p, true);

	/* a two-step loop: a label then a pointer back to that label */
	pk_header(&p, 1, 0, 1, 1, 0, 0);
	pk_question(&p, "web.service.consul", DNS_T_A);
	at = p.n;
	pk_u8(&p, 1);
	pk_bytes(&p, "x", 1);
	pk_u16(&p, 0xc000 | at);
	pk_u16(&p, DNS_T_A);
	pk_u16(&p, DNS_C_IN);
	pk_u32(&p, 0);
	pk_u16(&p, 4);
	pk_u32(&p, 0);
	expect_formerr(&p, true);

	/* a chain that jumps back and then forwards again */
	pk_header(&p, 1, 0, 1, 2, 0, 0);
	pk_question(&p, "web.service.consul", DNS_T_A);
	at = p.n;
	pk_u8(&p, 1);
	pk_bytes(&p, "x", 1);
	pk_u16(&p, 0xc000 | (at + 8)); /* forwards from the first owner */
	pk_u16(&p, DNS_T_A);
	pk_u16(&p, DNS_C_IN);
	pk_u32(&p, 0);
	pk_u16(&p, 0);
	pk_u16(&p, 0xc000 | at); /* second owner -> first */
	pk_u16(&p, DNS_T_A);
	pk_u16(&p, DNS_C_IN);
	pk_u32(&p, 0);
	pk_u16(&p, 0);
	expect_formerr(&p, true);

	/* a pointer with its second byte cut off */
	pk_header(&p, 1, 0, 1, 1, 0, 0);
	pk_question(&p, "web.service.consul", DNS_T_A);
	pk_u8(&p, 0xc0);
	expect_formerr(&p, true);
}

static void
test_parse_notimp_opcode(void **state)
{
	struct dns_query q;
	struct pkt p;

	(void)state;
	/* NOTIFY (4) with a question */
	pk_header(&p, 0x2222, 4 << 11, 1, 0, 0, 1);
	pk_question(&p, "Consul", DNS_T_SOA);
	pk_opt(&p, 1400, 0, false, false);
	assert_int_equal(parse_exact(&p, p.n, &q), -EOPNOTSUPP);
	assert_int_equal(q.id, 0x2222);
	assert_int_equal(q.opcode, 4);
	assert_int_equal(q.flags, 4 << 11);
	assert_string_equal(q.name, "consul");
	assert_int_equal(q.question_len, 12);
	assert_true(q.edns);

	/* STATUS (2) with no question: still NOTIMP, not FORMERR */
	pk_header(&p, 0x2223, 2 << 11 | DNS_F_RD, 0, 0, 0, 0);
	assert_int_equal(parse_exact(&p, p.n, &q), -EOPNOTSUPP);
	assert_int_equal(q.id, 0x2223);
	assert_int_equal(q.opcode, 2);
	assert_true(q.rd);
	assert_int_equal(q.question_len, 0);

	/* opcode 15 with a bad question */
	pk_header(&p, 0x2224, 15 << 11, 1, 0, 0, 0);
	pk_u8(&p, 0xc0);
	pk_u8(&p, 12);
	assert_int_equal(parse_exact(&p, p.n, &q), -EOPNOTSUPP);
	assert_int_equal(q.question_len, 0);
}

static void
test_parse_drops_responses_and_short_packets(void **state)
{
	struct dns_query q;
	struct pkt p;

	(void)state;
	assert_int_equal(dns_parse_query(NULL, 0, &q), -EBADMSG);
	dig_query(&p, 1, "web.service.consul", DNS_T_A, false);
	assert_int_equal(parse_exact(&p, 0, &q), -EBADMSG);
	assert_int_equal(parse_exact(&p, 11, &q), -EBADMSG);
	p.b[2] |= 0x80; /* QR */
	assert_int_equal(parse_exact(&p, p.n, &q), -EBADMSG);
	p.b[2] |= 4 << 3; /* a response with an odd opcode too */
	assert_int_equal(parse_exact(&p, p.n, &q), -EBADMSG);
}

/* --- building ------------------------------------------------------------- */

static void
test_build_many_a_records(void **state)
{
	uint8_t buf[512], buf2[512];
	struct dns_query q;
	struct dns_msg m;
	struct tmsg *t;
	struct pkt p;
	uint8_t ip[4];
	size_t n, n2, i;

	(void)state;
	query(&q, &p, "Web.Service.Consul", DNS_T_A, false);
	dns_msg_init(&m, buf, sizeof(buf), &q, true, false, DNS_R_NOERROR,
	    true);
	for (i = 0; i < 8; i++) {
		ip[0] = 10, ip[1] = 0, ip[2] = 0, ip[3] = (uint8_t)(i + 1);
		assert_int_equal(dns_msg_a(&m, DNS_ANSWER,
				     "web.service.consul", 30, ip),
		    0);
	}
	n = dns_msg_finish(&m, false, 4096);
	/* header, question, and 8 x (pointer + 10 + 4) */
	assert_int_equal(n, 12 + 24 + 8 * 16);
	t = tdecode(buf, n);
	assert_int_equal(t->id, 0x4242);
	assert_int_equal(t->flags, DNS_F_QR | DNS_F_AA | DNS_F_RD);
	assert_int_equal(t->qd, 1);
	assert_int_equal(t->an, 8);
	assert_int_equal(t->ns, 0);
	assert_int_equal(t->ar, 0);
	assert_false(t->opt);
	assert_string_equal(t->qname, "Web.Service.Consul");
	for (i = 0; i < 8; i++) {
		/* a pointer to the question, so the question's case */
		assert_string_equal(t->rr[i].name, "Web.Service.Consul");
		assert_int_equal(t->rr[i].owner_len, 2);
		assert_int_equal(t->rr[i].type, DNS_T_A);
		assert_int_equal(t->rr[i].class, DNS_C_IN);
		assert_int_equal(t->rr[i].ttl, 30);
		assert_int_equal(t->rr[i].addr[3], i + 1);
	}
	free(t);

	/* the same without compression: every owner in full, case as given */
	dns_msg_init(&m, buf2, sizeof(buf2), &q, true, false, DNS_R_NOERROR,
	    false);
	for (i = 0; i < 8; i++) {
		ip[3] = (uint8_t)(i + 1);
		assert_int_equal(dns_msg_a(&m, DNS_ANSWER,
				     "web.service.consul.", 30, ip),
		    0);
	}
	n2 = dns_msg_finish(&m, false, 4096);
	assert_int_equal(n2, 12 + 24 + 8 * (20 + 14));
	assert_true(n < n2);
	t = tdecode(buf2, n2);
	assert_int_equal(t->an, 8);
	assert_string_equal(t->rr[7].name, "web.service.consul");
	assert_int_equal(t->rr[7].owner_len, 20);
	free(t);
}

static void
test_build_srv_with_additional(void **state)
{
	static const uint8_t ip6[16] = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	    0, 0, 0, 9};
	uint8_t buf[1232], ip[4] = {10, 0, 0, 0};
	char target[64];
	struct dns_query q;
	struct dns_msg m;
	struct tmsg *t;
	struct pkt p;
	size_t n, i;

	(void)state;
	query(&q, &p, "web.service.consul", DNS_T_SRV, true);
	dns_msg_init(&m, buf, q.udp_size, &q, true, true, DNS_R_NOERROR,
	    true);
	for (i = 0; i < 3; i++) {
		snprintf(target, sizeof(target), "node%zu.node.dc1.consul.",
		    i);
		assert_int_equal(dns_msg_srv(&m, DNS_ANSWER,
				     "web.service.consul", 0, 1, 1,
				     (uint16_t)(8080 + i), target),
		    0);
	}
	for (i = 0; i < 3; i++) {
		snprintf(target, sizeof(target), "node%zu.node.dc1.consul", i);
		ip[3] = (uint8_t)(i + 1);
		assert_int_equal(
		    dns_msg_a(&m, DNS_ADDITIONAL, target, 0, ip), 0);
	}
	assert_int_equal(
	    dns_msg_aaaa(&m, DNS_ADDITIONAL, "node2.node.dc1.consul", 0, ip6),
	    0);
	n = dns_msg_finish(&m, false, 4096);
	t = tdecode(buf, n);
	assert_int_equal(t->flags, DNS_F_QR | DNS_F_AA | DNS_F_RD | DNS_F_RA);
	assert_int_equal(t->an, 3);
	assert_int_equal(t->ar, 5); /* 4 records and the OPT */
	assert_true(t->opt);
	assert_int_equal(t->nrr, 7);
	for (i = 0; i < 3; i++) {
		snprintf(target, sizeof(target), "node%zu.node.dc1.consul", i);
		assert_int_equal(t->rr[i].type, DNS_T_SRV);
		assert_string_equal(t->rr[i].name, "web.service.consul");
		assert_int_equal(t->rr[i].prio, 1);
		assert_int_equal(t->rr[i].weight, 1);
		assert_int_equal(t->rr[i].port, 8080 + i);
		assert_string_equal(t->rr[i].target, target);
		/* RFC 2782: the target is never compressed */
		assert_int_equal(t->rr[i].rdlen, 6 + 23);
		assert_int_equal(t->rr[3 + i].type, DNS_T_A);
		assert_string_equal(t->rr[3 + i].name, target);
		assert_int_equal(t->rr[3 + i].owner_len, 2); /* -> target */
		assert_int_equal(t->rr[3 + i].addr[3], i + 1);
	}
	assert_int_equal(t->rr[6].type, DNS_T_AAAA);
	assert_string_equal(t->rr[6].name, "node2.node.dc1.consul");
	assert_int_equal(t->rr[6].owner_len, 2);
	assert_memory_equal(t->rr[6].addr, ip6, 16);
	free(t);
}

/* build_mixed - one message with every record type; returns its length */
static size_t
build_mixed(uint8_t *buf, const struct dns_query *q, bool compress)
{
	static const char *const txt[] = {"consul-network-segment=",
	    "rack=r1"};
	uint8_t ip[4] = {192, 0, 2, 1};
	struct dns_msg m;

	dns_msg_init(&m, buf, 4096, q, true, false, DNS_R_NOERROR, compress);
	assert_int_equal(dns_msg_cname(&m, DNS_ANSWER, "www.service.consul", 0,
			     "web.service.consul"),
	    0);
	assert_int_equal(dns_msg_srv(&m, DNS_ANSWER, "web.service.consul", 0,
			     1, 1, 80, "node1.node.dc1.consul"),
	    0);
	assert_int_equal(dns_msg_ptr(&m, DNS_ANSWER,
			     "1.2.0.192.in-addr.arpa", 0,
			     "node1.node.dc1.consul"),
	    0);
	assert_int_equal(
	    dns_msg_txt(&m, DNS_ANSWER, "node1.node.dc1.consul", 0, txt, 2),
	    0);
	assert_int_equal(dns_msg_ns(&m, DNS_AUTHORITY, "consul", 0,
			     "server1.node.dc1.consul"),
	    0);
	assert_int_equal(dns_msg_soa(&m, DNS_AUTHORITY, "consul", 0,
			     "ns.consul", "hostmaster.consul", 1, 2, 3, 4, 5),
	    0);
	assert_int_equal(dns_msg_a(&m, DNS_ADDITIONAL,
			     "server1.node.dc1.consul", 0, ip),
	    0);
	return dns_msg_finish(&m, false, 4096);
}

static void
test_build_compression_shortens_and_decodes_the_same(void **state)
{
	uint8_t a[4096], b[4096];
	struct dns_query q;
	struct tmsg *ta, *tb;
	struct pkt p;
	size_t na, nb, i;

	(void)state;
	query(&q, &p, "www.service.consul", DNS_T_ANY, false);
	na = build_mixed(a, &q, true);
	nb = build_mixed(b, &q, false);
	assert_true(na < nb);
	ta = tdecode(a, na);
	tb = tdecode(b, nb);
	assert_int_equal(ta->nrr, 7);
	assert_int_equal(ta->nrr, tb->nrr);
	assert_int_equal(ta->an, 4);
	assert_int_equal(ta->ns, 2);
	assert_int_equal(ta->ar, 1);
	for (i = 0; i < ta->nrr; i++) {
		assert_string_equal(ta->rr[i].name, tb->rr[i].name);
		assert_int_equal(ta->rr[i].type, tb->rr[i].type);
		assert_string_equal(ta->rr[i].target, tb->rr[i].target);
		assert_string_equal(ta->rr[i].rname, tb->rr[i].rname);
		assert_true(ta->rr[i].owner_len <= tb->rr[i].owner_len);
	}
	/* the CNAME target "web.service.consul" shares "service.consul"
	 * with the question: 3web + pointer */
	assert_string_equal(ta->rr[0].target, "web.service.consul");
	assert_int_equal(ta->rr[0].rdlen, 4 + 2);
	/* the SRV owner is then a pointer to that CNAME target */
	assert_int_equal(ta->rr[1].owner_len, 2);
	/* PTR target: a pointer to the SRV target written in full */
	assert_int_equal(ta->rr[2].rdlen, 2);
	assert_string_equal(ta->rr[2].target, "node1.node.dc1.consul");
	/* NS target "server1" + pointer to "node.dc1.consul" */
	assert_string_equal(ta->rr[4].target, "server1.node.dc1.consul");
	assert_int_equal(ta->rr[4].rdlen, 8 + 2);
	/* SOA: ns + ptr, hostmaster + ptr, 20 */
	assert_int_equal(ta->rr[5].type, DNS_T_SOA);
	assert_int_equal(ta->rr[5].owner_len, 2);
	assert_string_equal(ta->rr[5].target, "ns.consul");
	assert_string_equal(ta->rr[5].rname, "hostmaster.consul");
	assert_int_equal(ta->rr[5].rdlen, 3 + 2 + 11 + 2 + 20);
	assert_int_equal(ta->rr[6].owner_len, 2);
	assert_int_equal(ta->rr[3].ntxt, 2);
	free(ta);
	free(tb);
}

/* test_build_compression_repeated_labels - suffixes of "a.a.a.a" are all
 * different names: each must point at the right place */
static void
test_build_compression_repeated_labels(void **state)
{
	static const struct {
		const char *name;
		size_t owner_len;
	} want[] = {
	    {"a.a", 2},	    /* -> question + 4 */
	    {"A", 2},	    /* -> question + 6, any case */
	    {"a.a.a.a.a", 4}, /* 1a -> question */
	    {"b.a.a", 4},	    /* 1b -> question + 4 */
	    {"a.b.a.a", 4},   /* 1a -> the previous owner */
	    {"a.a.a.a.a", 2}, /* -> the third owner */
	};
	uint8_t buf[1024], ip[4] = {1, 2, 3, 4};
	struct dns_query q;
	struct dns_msg m;
	struct tmsg *t;
	struct pkt p;
	size_t n, i;

	(void)state;
	query(&q, &p, "a.a.a.a", DNS_T_A, false);
	dns_msg_init(&m, buf, sizeof(buf), &q, true, false, 0, true);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		assert_int_equal(
		    dns_msg_a(&m, DNS_ANSWER, want[i].name, 0, ip), 0);
	/* an SRV target written in full, then names reusing it */
	assert_int_equal(dns_msg_srv(&m, DNS_ANSWER, "a.a.a.a", 0, 1, 1, 1,
			     "n1.node.a.a"),
	    0);
	assert_int_equal(dns_msg_srv(&m, DNS_ANSWER, "a.a.a.a", 0, 1, 1, 1,
			     "n1.node.a.a"),
	    0);
	assert_int_equal(
	    dns_msg_a(&m, DNS_ADDITIONAL, "n1.node.a.a", 0, ip), 0);
	assert_int_equal(
	    dns_msg_a(&m, DNS_ADDITIONAL, "n2.node.a.a", 0, ip), 0);
	n = dns_msg_finish(&m, false, 0);
	t = tdecode(buf, n);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		assert_true(strcasecmp(t->rr[i].name, want[i].name) == 0);
		assert_int_equal(t->rr[i].owner_len, want[i].owner_len);
	}
	assert_string_equal(t->rr[i].target, "n1.node.a.a");
	assert_int_equal(t->rr[i].rdlen, 6 + 3 + 5 + 4 + 1);
	assert_int_equal(t->rr[i + 1].rdlen, 6 + 3 + 5 + 4 + 1);
	assert_string_equal(t->rr[i + 2].name, "n1.node.a.a");
	assert_int_equal(t->rr[i + 2].owner_len, 2);
	assert_string_equal(t->rr[i + 3].name, "n2.node.a.a");
	assert_int_equal(t->rr[i + 3].owner_len, 3 + 2); /* 2n2 -> node.a.a */
	free(t);
}

/* snapshot of a message, to check that a failed add changed nothing */
struct snap {
	uint8_t buf[65536];
	struct dns_msg m;
};

static void
snap_take(struct snap *s, const struct dns_msg *m)
{
	s->m = *m;
	memcpy(s->buf, m->buf, m->len);
}

static void
snap_same(const struct snap *s, const struct dns_msg *m)
{
	assert_int_equal(m->len, s->m.len);
	assert_memory_equal(m->buf, s->buf, m->len);
	assert_memory_equal(m->count, s->m.count, sizeof(m->count));
	assert_int_equal(m->section, s->m.section);
	assert_int_equal(m->nnames, s->m.nnames);
	assert_memory_equal(m->names, s->m.names,
	    m->nnames * sizeof(m->names[0]));
	assert_memory_equal(m->name_up, s->m.name_up,
	    m->nnames * sizeof(m->name_up[0]));
	assert_memory_equal(m->name_kid, s->m.name_kid,
	    m->nnames * sizeof(m->name_kid[0]));
	assert_memory_equal(m->name_sib, s->m.name_sib,
	    m->nnames * sizeof(m->name_sib[0]));
	assert_int_equal(m->name_kid0, s->m.name_kid0);
}

/* test_build_enospc_rolls_back_compression - an SOA whose MNAME was
 * written (and made a pointer target) before the record ran out of room:
 * a later name must not point at those bytes, which are gone */
static void
test_build_enospc_rolls_back_compression(void **state)
{
	static struct snap s;
	uint8_t buf[512], ip[4] = {10, 0, 0, 1};
	struct dns_query q;
	struct dns_msg m;
	struct tmsg *t;
	struct pkt p;
	size_t n, i;

	(void)state;
	query(&q, &p, "web.service.consul", DNS_T_A, false);
	dns_msg_init(&m, buf, sizeof(buf), &q, true, false, 0, true);
	for (i = 0; i < 27; i++)
		assert_int_equal(
		    dns_msg_a(&m, DNS_ANSWER, "web.service.consul", 0, ip), 0);
	assert_int_equal(512 - m.len, 44);
	/* owner 2 + 10, "ns1.example" 13, "hostmaster" + pointer 13, then
	 * the 20 bytes of numbers do not fit */
	snap_take(&s, &m);
	assert_int_equal(dns_msg_soa(&m, DNS_AUTHORITY, "consul", 0,
			     "ns1.example", "hostmaster.example", 1, 2, 3, 4, 5),
	    -ENOSPC);
	snap_same(&s, &m);
	/* written in full where the SOA was (27 bytes), then pointed to */
	assert_int_equal(
	    dns_msg_a(&m, DNS_AUTHORITY, "ns1.example", 0, ip), 0);
	assert_int_equal(
	    dns_msg_a(&m, DNS_AUTHORITY, "NS1.example", 0, ip), 0);
	assert_int_equal(512 - m.len, 1);
	n = dns_msg_finish(&m, false, 0);
	t = tdecode(buf, n);
	assert_int_equal(t->ns, 2);
	assert_string_equal(t->rr[27].name, "ns1.example");
	assert_int_equal(t->rr[27].owner_len, 13);
	assert_string_equal(t->rr[28].name, "ns1.example");
	assert_int_equal(t->rr[28].owner_len, 2);
	free(t);
}

static void
test_build_enospc_leaves_message_intact(void **state)
{
	static struct snap s;
	uint8_t buf[512], ip[4] = {10, 1, 1, 1};
	char target[64];
	struct dns_query q;
	struct dns_msg m;
	struct tmsg *t;
	struct pkt p;
	size_t n, i;
	int rc;

	(void)state;
	query(&q, &p, "web.service.consul", DNS_T_A, true);
	dns_msg_init(&m, buf, sizeof(buf), &q, true, false, 0, true);
	assert_int_equal(m.opt_reserve, 11);
	for (i = 0;; i++) {
		snap_take(&s, &m);
		rc = dns_msg_a(&m, DNS_ANSWER, "web.service.consul", 0, ip);
		if (rc != 0)
			break;
		assert_false(m.truncated);
	}
	assert_int_equal(rc, -ENOSPC);
	assert_true(m.truncated);
	snap_same(&s, &m);
	assert_int_equal(i, (512 - 11 - 12 - 24) / 16);
	assert_true(m.len + 16 > 512 - 11);

	/* a new owner whose first label does not fit */
	snap_take(&s, &m);
	assert_int_equal(dns_msg_a(&m, DNS_ANSWER,
			     "a-label-longer-than-what-is-left.example", 0, ip),
	    -ENOSPC);
	snap_same(&s, &m);

	/* a record with new names failing part way through its target
	 * leaves the compression table as it was */
	m.truncated = false;
	snap_take(&s, &m);
	assert_int_equal(dns_msg_srv(&m, DNS_ADDITIONAL, "web.service.consul",
			     0, 1, 1, 1, "a-long-node-name.node.dc1.consul"),
	    -ENOSPC);
	assert_true(m.truncated);
	snap_same(&s, &m);

	/* the reserve is for the OPT: finishing fits in cap */
	n = dns_msg_finish(&m, true, 1232);
	assert_true(n <= 512);
	t = tdecode(buf, n);
	assert_int_equal(t->an, i);
	assert_true(t->opt);
	assert_true(t->flags & DNS_F_TC);
	free(t);

	/* an oversize TXT fails, a smaller record after it still fits */
	query(&q, &p, "node1.node.consul", DNS_T_ANY, false);
	dns_msg_init(&m, buf, sizeof(buf), &q, true, false, 0, true);
	{
		static char big[600];
		const char *strs[1] = {big};

		memset(big, 'x', sizeof(big) - 1);
		snap_take(&s, &m);
		assert_int_equal(
		    dns_msg_txt(&m, DNS_ANSWER, "node1.node.consul", 0, strs, 1),
		    -ENOSPC);
		snap_same(&s, &m);
	}
	assert_true(m.truncated);
	assert_int_equal(dns_msg_a(&m, DNS_ANSWER, "node1.node.consul", 0, ip),
	    0);
	/* SRV answers until full, each with a new target */
	for (i = 0;; i++) {
		snprintf(target, sizeof(target), "n%zu.node.dc1.consul", i);
		snap_take(&s, &m);
		rc = dns_msg_srv(&m, DNS_ANSWER, "node1.node.consul", 0, 1, 1,
		    1, target);
		if (rc != 0)
			break;
	}
	assert_int_equal(rc, -ENOSPC);
	snap_same(&s, &m);
	n = dns_msg_finish(&m, false, 0);
	assert_true(n <= 512);
	t = tdecode(buf, n);
	assert_int_equal(t->an, 1 + i);
	assert_false(t->opt);
	assert_false(t->flags & DNS_F_TC);
	snprintf(target, sizeof(target), "n%zu.node.dc1.consul", i - 1);
	assert_string_equal(t->rr[i].target, target);
	free(t);
}

static void
test_build_txt_splitting(void **state)
{
	static char big[601];
	const char *strs[3] = {big, "", "hello"};
	uint8_t buf[2048];
	struct dns_query q;
	struct dns_msg m;
	struct tmsg *t;
	struct pkt p;
	size_t n;

	(void)state;
	memset(big, 'k', 600);
	query(&q, &p, "node1.node.consul", DNS_T_TXT, true);
	dns_msg_init(&m, buf, q.udp_size, &q, true, false, 0, true);
	assert_int_equal(dns_msg_txt(&m, DNS_ANSWER, "node1.node.consul", 0,
			     strs, 3),
	    0);
	assert_int_equal(
	    dns_msg_txt(&m, DNS_ANSWER, "node1.node.consul", 0, NULL, 0), 0);
	strs[1] = NULL;
	assert_int_equal(dns_msg_txt(&m, DNS_ANSWER, "node1.node.consul", 0,
			     strs, 3),
	    -EINVAL);
	assert_int_equal(dns_msg_txt(&m, DNS_ANSWER, "node1.node.consul", 0,
			     NULL, 1),
	    -EINVAL);
	n = dns_msg_finish(&m, false, 1232);
	t = tdecode(buf, n);
	assert_int_equal(t->an, 2);
	assert_int_equal(t->rr[0].ntxt, 5);
	assert_int_equal(t->rr[0].txt[0], 255);
	assert_int_equal(t->rr[0].txt[1], 255);
	assert_int_equal(t->rr[0].txt[2], 90);
	assert_int_equal(t->rr[0].txt[3], 0);
	assert_int_equal(t->rr[0].txt[4], 5);
	assert_int_equal(t->rr[0].rdlen, 600 + 5 + 5);
	assert_memory_equal(buf + t->rr[0].rdata + 1, big, 255);
	assert_memory_equal(buf + t->rr[0].rdata + 1 + 256 + 256, big, 90);
	assert_memory_equal(buf + t->rr[0].rdata + 600 + 5, "hello", 5);
	/* no strings: one empty character-string */
	assert_int_equal(t->rr[1].ntxt, 1);
	assert_int_equal(t->rr[1].rdlen, 1);
	free(t);
}

static void
test_build_nxdomain_soa_in_authority(void **state)
{
	uint8_t buf[512];
	struct dns_query q;
	struct dns_msg m;
	struct tmsg *t;
	struct pkt p;
	size_t n;

	(void)state;
	query(&q, &p, "nope.service.consul", DNS_T_A, false);
	dns_msg_init(&m, buf, 512, &q, true, false, DNS_R_NXDOMAIN, true);
	assert_int_equal(dns_msg_soa(&m, DNS_AUTHORITY, "consul.", 0,
			     "ns.consul.", "hostmaster.consul.", 1700000000,
			     3600, 600, 86400, 0),
	    0);
	n = dns_msg_finish(&m, false, 4096);
	t = tdecode(buf, n);
	assert_int_equal(t->flags & 15, DNS_R_NXDOMAIN);
	assert_true(t->flags & DNS_F_AA);
	assert_int_equal(t->an, 0);
	assert_int_equal(t->ns, 1);
	assert_int_equal(t->ar, 0);
	assert_int_equal(t->rr[0].type, DNS_T_SOA);
	assert_string_equal(t->rr[0].name, "consul");
	assert_string_equal(t->rr[0].target, "ns.consul");
	assert_string_equal(t->rr[0].rname, "hostmaster.consul");
	assert_int_equal(t->rr[0].soa[0], 1700000000);
	assert_int_equal(t->rr[0].soa[1], 3600);
	assert_int_equal(t->rr[0].soa[2], 600);
	assert_int_equal(t->rr[0].soa[3], 86400);
	assert_int_equal(t->rr[0].soa[4], 0);
	/* 12 + question 25 + owner ptr 2 + 10 + rdata 3+2 + 11+2 + 20 */
	assert_int_equal(n, 12 + 25 + 2 + 10 + 5 + 13 + 20);
	free(t);
}

static void
test_build_opt_only_with_edns(void **state)
{
	uint8_t buf[4096], ip[4] = {1, 2, 3, 4};
	struct dns_query q;
	struct dns_msg m;
	struct tmsg *t;
	struct pkt p;
	size_t n;

	(void)state;
	query(&q, &p, "web.service.consul", DNS_T_A, false);
	dns_msg_init(&m, buf, 4096, &q, true, false, 0, true);
	assert_int_equal(m.opt_reserve, 0);
	assert_int_equal(
	    dns_msg_a(&m, DNS_ADDITIONAL, "web.service.consul", 0, ip), 0);
	n = dns_msg_finish(&m, false, 4096);
	t = tdecode(buf, n);
	assert_false(t->opt);
	assert_int_equal(t->ar, 1);
	free(t);

	/* with EDNS: the server's size, version 0, DO echoed */
	pk_header(&p, 5, 0, 1, 0, 0, 1);
	pk_question(&p, "web.service.consul", DNS_T_A);
	pk_opt(&p, 1232, 0, true, true);
	assert_int_equal(parse_exact(&p, p.n, &q), 0);
	dns_msg_init(&m, buf, q.udp_size, &q, true, false, 0, true);
	assert_int_equal(
	    dns_msg_a(&m, DNS_ADDITIONAL, "web.service.consul", 0, ip), 0);
	n = dns_msg_finish(&m, false, 4096);
	assert_int_equal(dns_msg_finish(&m, true, 1), n); /* idempotent */
	t = tdecode(buf, n);
	assert_true(t->opt);
	assert_int_equal(t->ar, 2);
	assert_int_equal(t->nrr, 1);
	assert_int_equal(t->opt_udp, 4096);
	assert_int_equal(t->opt_version, 0);
	assert_int_equal(t->opt_ercode, 0);
	assert_true(t->opt_do);
	assert_false(t->flags & DNS_F_TC);
	free(t);
	/* adding after finish is refused */
	assert_int_equal(
	    dns_msg_a(&m, DNS_ADDITIONAL, "web.service.consul", 0, ip),
	    -EINVAL);

	/* BADVERS: extended rcode 16 = header 0 + OPT 1 */
	pk_header(&p, 6, 0, 1, 0, 0, 1);
	pk_question(&p, "consul", DNS_T_SOA);
	pk_opt(&p, 512, 1, false, false);
	assert_int_equal(parse_exact(&p, p.n, &q), 0);
	dns_msg_init(&m, buf, 512, &q, true, false, 0, true);
	dns_msg_set_rcode(&m, DNS_R_BADVERS);
	n = dns_msg_finish(&m, false, 100);
	t = tdecode(buf, n);
	assert_int_equal(t->flags & 15, 0);
	assert_true(t->opt);
	assert_int_equal(t->opt_ercode, 1);
	assert_int_equal(t->opt_udp, 512); /* raised to the minimum */
	assert_false(t->opt_do);
	free(t);

	/* without EDNS an extended rcode cannot be sent: SERVFAIL */
	query(&q, &p, "consul", DNS_T_SOA, false);
	dns_msg_init(&m, buf, 512, &q, true, false, DNS_R_BADVERS, true);
	n = dns_msg_finish(&m, false, 4096);
	assert_int_equal(buf[3] & 15, DNS_R_SERVFAIL);
	assert_int_equal(n, 12 + 12);
}

static void
test_build_section_order_and_bad_names(void **state)
{
	static struct snap s;
	uint8_t buf[1024], ip[4] = {1, 2, 3, 4};
	char name[300];
	struct dns_query q;
	struct dns_msg m;
	struct tmsg *t;
	struct pkt p;
	size_t n;

	(void)state;
	query(&q, &p, "web.service.consul", DNS_T_A, false);
	dns_msg_init(&m, buf, sizeof(buf), &q, true, false, 0, true);
	assert_int_equal(dns_msg_soa(&m, DNS_AUTHORITY, "consul", 0,
			     "ns.consul", "hostmaster.consul", 1, 2, 3, 4, 5),
	    0);
	snap_take(&s, &m);
	assert_int_equal(
	    dns_msg_a(&m, DNS_ANSWER, "web.service.consul", 0, ip), -EINVAL);
	assert_int_equal(dns_msg_a(&m, 3, "web.service.consul", 0, ip),
	    -EINVAL);
	assert_int_equal(dns_msg_a(&m, -1, "web.service.consul", 0, ip),
	    -EINVAL);

	/* bad names */
	memset(name, 'x', 64);
	name[64] = '\0';
	assert_int_equal(dns_msg_a(&m, DNS_ADDITIONAL, name, 0, ip), -EINVAL);
	assert_int_equal(dns_msg_a(&m, DNS_ADDITIONAL, "a..b", 0, ip),
	    -EINVAL);
	assert_int_equal(dns_msg_a(&m, DNS_ADDITIONAL, ".a", 0, ip), -EINVAL);
	assert_int_equal(dns_msg_a(&m, DNS_ADDITIONAL, "a.b..", 0, ip),
	    -EINVAL);
	assert_int_equal(dns_msg_a(&m, DNS_ADDITIONAL, NULL, 0, ip), -EINVAL);
	assert_int_equal(dns_msg_txt(&m, DNS_ADDITIONAL, "a..b", 0, NULL, 0),
	    -EINVAL);
	assert_int_equal(dns_msg_txt(&m, DNS_ANSWER, "ok", 0, NULL, 0),
	    -EINVAL);
	assert_int_equal(dns_msg_cname(&m, DNS_ADDITIONAL, "ok", 0, "bad..x"),
	    -EINVAL);
	assert_int_equal(dns_msg_srv(&m, DNS_ADDITIONAL, "ok", 0, 1, 1, 1,
			     name),
	    -EINVAL);
	assert_int_equal(dns_msg_soa(&m, DNS_ADDITIONAL, "ok", 0, "ns", name,
			     1, 2, 3, 4, 5),
	    -EINVAL);
	/* 254 wire bytes + 1 = 255 is the limit: 63+63+63+61 labels */
	memset(name, 'y', 250);
	name[63] = name[127] = name[191] = '.';
	name[253] = '\0';
	memset(name + 192, 'y', 61);
	assert_int_equal(strlen(name), 253);
	snap_same(&s, &m);
	assert_false(m.truncated);
	assert_int_equal(dns_msg_a(&m, DNS_ADDITIONAL, name, 0, ip), 0);
	strcat(name, "z"); /* 256 wire bytes */
	assert_int_equal(dns_msg_a(&m, DNS_ADDITIONAL, name, 0, ip), -EINVAL);
	/* the root, both spellings */
	assert_int_equal(dns_msg_ns(&m, DNS_ADDITIONAL, ".", 0, ""), 0);
	assert_int_equal(dns_msg_ns(&m, DNS_ADDITIONAL, "", 0, "."), 0);
	n = dns_msg_finish(&m, false, 0);
	t = tdecode(buf, n);
	assert_int_equal(t->ns, 1);
	assert_int_equal(t->ar, 3);
	assert_int_equal(strlen(t->rr[1].name), 253);
	assert_string_equal(t->rr[2].name, "");
	assert_int_equal(t->rr[2].owner_len, 1);
	assert_int_equal(t->rr[2].rdlen, 1);
	free(t);
}

static void
test_build_header_cap_patch_and_reply_check(void **state)
{
	uint8_t buf[65535 + 16];
	struct dns_query q;
	struct dns_msg m;
	struct pkt p;
	size_t n;
	int rc = -1;

	(void)state;
	/* NOTIMP: id, flags and the opcode are echoed, question if any */
	pk_header(&p, 0x3333, 5 << 11 | DNS_F_RD, 1, 0, 0, 0);
	pk_question(&p, "consul", DNS_T_SOA);
	assert_int_equal(parse_exact(&p, p.n, &q), -EOPNOTSUPP);
	dns_msg_init(&m, buf, 512, &q, false, true, DNS_R_NOTIMP, true);
	n = dns_msg_finish(&m, false, 0);
	assert_int_equal(n, 12 + 12);
	assert_int_equal(g16(buf), 0x3333);
	assert_int_equal(g16(buf + 2),
	    DNS_F_QR | 5 << 11 | DNS_F_RD | DNS_F_RA | DNS_R_NOTIMP);
	assert_int_equal(g16(buf + 4), 1);
	assert_int_equal(dns_reply_check(buf, n, 0x3333, &rc), 0);
	assert_int_equal(rc, DNS_R_NOTIMP);

	/* FORMERR with no usable question: header only */
	pk_header(&p, 0x4444, 0, 2, 0, 0, 0);
	assert_int_equal(parse_exact(&p, p.n, &q), -EPROTO);
	dns_msg_init(&m, buf, 512, &q, false, false, DNS_R_FORMERR, true);
	n = dns_msg_finish(&m, false, 0);
	assert_int_equal(n, 12);
	assert_int_equal(g16(buf + 2), DNS_F_QR | DNS_R_FORMERR);
	assert_int_equal(g16(buf + 4), 0);

	/* rcode changed later; TC; id patched for a cached answer */
	query(&q, &p, "web.service.consul", DNS_T_A, false);
	dns_msg_init(&m, buf, 512, &q, true, false, 0, true);
	dns_msg_set_rcode(&m, DNS_R_SERVFAIL);
	n = dns_msg_finish(&m, true, 0);
	assert_int_equal(g16(buf + 2),
	    DNS_F_QR | DNS_F_AA | DNS_F_TC | DNS_F_RD | DNS_R_SERVFAIL);
	dns_patch_id(buf, 0x9999);
	assert_int_equal(dns_reply_check(buf, n, 0x9999, &rc), 0);
	assert_int_equal(rc, DNS_R_SERVFAIL);
	assert_int_equal(dns_reply_check(buf, n, 0x4242, &rc), -EBADMSG);
	assert_int_equal(dns_reply_check(buf, 11, 0x9999, NULL), -EBADMSG);
	assert_int_equal(dns_reply_check(NULL, 0, 0, NULL), -EBADMSG);
	assert_int_equal(dns_reply_check(p.b, p.n, 0x4242, NULL), -EBADMSG);

	/* a hand-made query whose question is not a plain name is echoed,
	 * but nothing points into it */
	{
		static const uint8_t odd[] = {3, 'w', 'e', 'b', 0xc0, 12, 0, 1,
		    0, 1};
		struct dns_query hq;

		memset(&hq, 0, sizeof(hq));
		hq.id = 1;
		hq.question = odd;
		hq.question_len = sizeof(odd);
		dns_msg_init(&m, buf, 512, &hq, true, false, 0, true);
		assert_int_equal(m.nnames, 0);
		assert_int_equal(dns_msg_a(&m, DNS_ANSWER, "web", 0,
				     (const uint8_t *)"\1\2\3\4"),
		    0);
		assert_int_equal(dns_msg_a(&m, DNS_ANSWER, "web", 0,
				     (const uint8_t *)"\1\2\3\4"),
		    0);
		n = dns_msg_finish(&m, false, 0);
		assert_int_equal(n, 12 + sizeof(odd) + (5 + 14) + (2 + 14));
		assert_memory_equal(buf + 12, odd, sizeof(odd));
	}

	/* cap clamping */
	dns_msg_init(&m, buf, 100, &q, true, false, 0, true);
	assert_int_equal(m.cap, 512);
	dns_msg_init(&m, buf, 1000000, &q, true, false, 0, true);
	assert_int_equal(m.cap, 65535);
}

/* test_build_64k_answers - fill a TCP-sized message with SRV answers and
 * their A records: offsets pass 0x3fff (no pointer can reach past it) and
 * everything still decodes */
static void
test_build_64k_answers(void **state)
{
	static uint8_t buf[65535];
	uint8_t ip[4] = {10, 0, 0, 0};
	char target[64], want[64];
	struct dns_query q;
	struct dns_msg m;
	struct tmsg *t;
	struct pkt p;
	size_t n, i, nsrv = 1000, na, nptr = 0;
	int rc;

	(void)state;
	query(&q, &p, "web.service.consul", DNS_T_SRV, false);
	dns_msg_init(&m, buf, sizeof(buf), &q, true, false, 0, true);
	for (i = 0; i < nsrv; i++) {
		snprintf(target, sizeof(target), "node%zu.node.dc1.consul", i);
		rc = dns_msg_srv(&m, DNS_ANSWER, "web.service.consul", 0, 1, 1,
		    (uint16_t)i, target);
		assert_int_equal(rc, 0);
	}
	/* one table entry per target ("node.dc1.consul" is shared), until
	 * the offsets no longer fit in a pointer */
	assert_true(m.nnames < 512);
	assert_true(m.names[m.nnames - 1] <= 0x3fff);
	for (na = 0;; na++) {
		snprintf(target, sizeof(target), "node%zu.node.dc1.consul",
		    na % nsrv);
		ip[2] = (uint8_t)(na >> 8), ip[3] = (uint8_t)na;
		if ((rc = dns_msg_a(&m, DNS_ADDITIONAL, target, 0, ip)) != 0)
			break;
	}
	assert_int_equal(rc, -ENOSPC);
	n = dns_msg_finish(&m, false, 0);
	assert_true(n <= 65535 && n + 16 > 65535);
	t = tdecode(buf, n);
	assert_int_equal(t->an, nsrv);
	assert_int_equal(t->ar, na);
	for (i = 0; i < nsrv; i++) {
		snprintf(want, sizeof(want), "node%zu.node.dc1.consul", i);
		assert_string_equal(t->rr[i].target, want);
		assert_int_equal(t->rr[i].port, i);
		assert_int_equal(t->rr[i].owner_len, 2);
	}
	for (i = 0; i < na; i++) {
		snprintf(want, sizeof(want), "node%zu.node.dc1.consul",
		    i % nsrv);
		assert_string_equal(t->rr[nsrv + i].name, want);
		if (t->rr[nsrv + i].owner_len == 2)
			nptr++;
		else /* "nodeN" + pointer to the shared "node.dc1.consul" */
			assert_true(t->rr[nsrv + i].owner_len <= 2 + 8);
	}
	/* early targets are pointer targets: their A owners are pointers */
	assert_int_equal(t->rr[nsrv].owner_len, 2);
	assert_true(nptr > 300);
	assert_true(nptr < na);
	free(t);
}

/* test_build_full_compression_table - 512 entries used up: names are still
 * written correctly, just in full */
static void
test_build_full_compression_table(void **state)
{
	static uint8_t buf[65535];
	uint8_t ip[4] = {10, 0, 0, 0};
	char name[64];
	struct dns_query q;
	struct dns_msg m;
	struct tmsg *t;
	struct pkt p;
	size_t n, i, ncn = 800, na;
	int rc;

	(void)state;
	query(&q, &p, "web.service.consul", DNS_T_CNAME, false);
	dns_msg_init(&m, buf, sizeof(buf), &q, true, false, 0, true);
	for (i = 0; i < ncn; i++) {
		snprintf(name, sizeof(name), "h%zu.example", i);
		assert_int_equal(dns_msg_cname(&m, DNS_ANSWER,
				     "web.service.consul", 0, name),
		    0);
	}
	assert_int_equal(m.nnames, 512);
	assert_true(m.len < 0x4000);
	for (na = 0;; na++) {
		snprintf(name, sizeof(name), "h%zu.example", na % ncn);
		if ((rc = dns_msg_a(&m, DNS_ADDITIONAL, name, 0, ip)) != 0)
			break;
	}
	assert_int_equal(rc, -ENOSPC);
	n = dns_msg_finish(&m, false, 0);
	t = tdecode(buf, n);
	assert_int_equal(t->an, ncn);
	assert_int_equal(t->ar, na);
	for (i = 0; i < ncn; i++) {
		snprintf(name, sizeof(name), "h%zu.example", i);
		assert_string_equal(t->rr[i].target, name);
		/* "hN" + a pointer to "example", but the first in full */
		assert_int_equal(t->rr[i].rdlen,
		    i == 0 ? strlen(name) + 2 : strlen(name) - 8 + 1 + 2);
	}
	for (i = 0; i < na; i++) {
		snprintf(name, sizeof(name), "h%zu.example", i % ncn);
		assert_string_equal(t->rr[ncn + i].name, name);
		/* the table holds the question's 3 labels, "example" and
		 * h0..h507: their A owners are pointers, later ones not */
		assert_int_equal(t->rr[ncn + i].owner_len,
		    i % ncn < 508 ? 2 : strlen(name) - 8 + 1 + 2);
	}
	free(t);
}

/* --- names ---------------------------------------------------------------- */

static void
test_name_to_wire_and_read(void **state)
{
	uint8_t w[300], msg[64];
	char out[1024];
	size_t off;
	int n;

	(void)state;
	assert_int_equal(dns_name_to_wire("web.consul", w, sizeof(w)), 12);
	assert_memory_equal(w, "\3web\6consul", 12);
	assert_int_equal(dns_name_to_wire("web.consul.", w, sizeof(w)), 12);
	assert_int_equal(dns_name_to_wire(".", w, sizeof(w)), 1);
	assert_int_equal(dns_name_to_wire("", w, sizeof(w)), 1);
	assert_int_equal(w[0], 0);
	assert_int_equal(dns_name_to_wire("web.consul", w, 11), -ENOSPC);
	assert_int_equal(dns_name_to_wire("web..consul", w, sizeof(w)),
	    -EINVAL);
	assert_int_equal(dns_name_to_wire("", w, 0), -ENOSPC);

	/* header, "a.b.c" at 12, then "x" + pointer to "b.c" at 19 */
	memset(msg, 0, sizeof(msg));
	memcpy(msg + 12, "\1a\1b\1c\0\1x\xc0\x0e", 11);
	off = 19;
	n = dns_name_read(msg, 23, &off, out, sizeof(out));
	assert_int_equal(n, 7);
	assert_int_equal(off, 23);
	assert_string_equal(out, "x.b.c");
	off = 19; /* out too small: nothing consumed */
	assert_int_equal(dns_name_read(msg, 23, &off, out, 5), -ENOSPC);
	assert_int_equal(dns_name_read(msg, 23, &off, out, 2), -ENOSPC);
	assert_int_equal(off, 19);
	assert_int_equal(dns_name_read(msg, 23, &off, NULL, 0), 7);
	assert_int_equal(off, 23);
	/* truncated inside the pointer */
	off = 19;
	assert_int_equal(dns_name_read(msg, 22, &off, out, sizeof(out)),
	    -EBADMSG);
	assert_int_equal(off, 19);
	/* a pointer to itself, and forwards */
	msg[21] = 0xc0, msg[22] = 21;
	assert_int_equal(dns_name_read(msg, 23, &off, out, sizeof(out)),
	    -EBADMSG);
	msg[22] = 30;
	assert_int_equal(dns_name_read(msg, 40, &off, out, sizeof(out)),
	    -EBADMSG);
	/* a chain jumping back, then to a later point: a loop */
	memcpy(msg + 12, "\1a\xc0\x10\1b\xc0\x0e", 8);
	off = 16;
	assert_int_equal(dns_name_read(msg, 20, &off, out, sizeof(out)),
	    -EBADMSG);
	/* escapes in presentation form */
	memcpy(msg + 12, "\4a.\\\x07\0", 6);
	off = 12;
	assert_int_equal(dns_name_read(msg, 18, &off, out, sizeof(out)), 6);
	assert_string_equal(out, "a\\.\\\\\\007");
	/* root */
	off = 17;
	assert_int_equal(dns_name_read(msg, 18, &off, out, sizeof(out)), 1);
	assert_string_equal(out, "");
	assert_int_equal(dns_name_read(msg, 18, &(size_t){17}, out, 0),
	    -ENOSPC);
}

/* --- interoperability: one exchange with dig ----------------------------- */

/* test_dig_reads_our_answer - serve one SRV answer to a real dig on a
 * loopback UDP port; dig must print the records and no parse warning. */
static void
test_dig_reads_our_answer(void **state)
{
	struct sockaddr_in sa, from;
	socklen_t fl = sizeof(from), sl = sizeof(sa);
	struct timeval tv = {10, 0};
	uint8_t req[1500], resp[1500], ip[4] = {10, 0, 0, 1};
	char cmd[256], out[8192];
	struct dns_query q;
	struct dns_msg m;
	size_t got = 0, n;
	ssize_t r;
	FILE *f;
	int fd;

	(void)state;
	if (access("/usr/bin/dig", X_OK) != 0)
		skip();
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(fd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	assert_int_equal(
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	snprintf(cmd, sizeof(cmd),
	    "timeout 20 /usr/bin/dig -p %u @127.0.0.1 +tries=1 +time=10 "
	    "Web.Service.Consul SRV 2>&1",
	    ntohs(sa.sin_port));
	f = popen(cmd, "r");
	assert_non_null(f);
	r = recvfrom(fd, req, sizeof(req), 0, (struct sockaddr *)&from, &fl);
	assert_true(r > 0);
	assert_int_equal(dns_parse_query(req, (size_t)r, &q), 0);
	assert_string_equal(q.name, "web.service.consul");
	assert_int_equal(q.qtype, DNS_T_SRV);
	assert_true(q.edns); /* dig 9.18 sends EDNS with a cookie */
	dns_msg_init(&m, resp, q.udp_size, &q, true, false, 0, true);
	assert_int_equal(dns_msg_srv(&m, DNS_ANSWER, "web.service.consul", 0,
			     1, 1, 8080, "node1.node.dc1.consul"),
	    0);
	assert_int_equal(dns_msg_a(&m, DNS_ADDITIONAL, "node1.node.dc1.consul",
			     0, ip),
	    0);
	n = dns_msg_finish(&m, false, 4096);
	assert_int_equal(sendto(fd, resp, n, 0, (struct sockaddr *)&from, fl),
	    (ssize_t)n);
	while (got < sizeof(out) - 1 &&
	    (n = fread(out + got, 1, sizeof(out) - 1 - got, f)) > 0)
		got += n;
	out[got] = '\0';
	pclose(f);
	close(fd);
	if (strstr(out, "status: NOERROR") == NULL ||
	    strstr(out, "flags: qr aa rd;") == NULL)
		print_error("dig said:\n%s\n", out);
	assert_non_null(strstr(out, "status: NOERROR"));
	assert_non_null(strstr(out, "flags: qr aa rd;"));
	assert_non_null(strstr(out, "ANSWER: 1, AUTHORITY: 0, ADDITIONAL: 2"));
	assert_non_null(strstr(out, "EDNS: version: 0, flags:; udp: 4096"));
	assert_non_null(strstr(out, "Web.Service.Consul.\t0\tIN\tSRV\t1 1 "
				    "8080 node1.node.dc1.consul."));
	assert_non_null(
	    strstr(out, "node1.node.dc1.consul.\t0\tIN\tA\t10.0.0.1"));
	assert_null(strstr(out, "arning"));
	assert_null(strstr(out, "malformed"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_dig_query_without_edns),
	    cmocka_unit_test(test_parse_dig_query_with_edns),
	    cmocka_unit_test(test_parse_uppercase_lowercased_question_kept),
	    cmocka_unit_test(test_parse_root_and_odd_but_valid_names),
	    cmocka_unit_test(test_parse_formerr_question),
	    cmocka_unit_test(test_parse_truncated_at_every_length),
	    cmocka_unit_test(test_parse_formerr_additional_records),
	    cmocka_unit_test(test_parse_skips_answer_and_authority_records),
	    cmocka_unit_test(
		test_parse_formerr_pointer_loops_and_forward_pointers),
	    cmocka_unit_test(test_parse_notimp_opcode),
	    cmocka_unit_test(test_parse_drops_responses_and_short_packets),
	    cmocka_unit_test(test_build_many_a_records),
	    cmocka_unit_test(test_build_srv_with_additional),
	    cmocka_unit_test(
		test_build_compression_shortens_and_decodes_the_same),
	    cmocka_unit_test(test_build_compression_repeated_labels),
	    cmocka_unit_test(test_build_enospc_leaves_message_intact),
	    cmocka_unit_test(test_build_enospc_rolls_back_compression),
	    cmocka_unit_test(test_build_txt_splitting),
	    cmocka_unit_test(test_build_nxdomain_soa_in_authority),
	    cmocka_unit_test(test_build_opt_only_with_edns),
	    cmocka_unit_test(test_build_section_order_and_bad_names),
	    cmocka_unit_test(test_build_header_cap_patch_and_reply_check),
	    cmocka_unit_test(test_build_64k_answers),
	    cmocka_unit_test(test_build_full_compression_table),
	    cmocka_unit_test(test_name_to_wire_and_read),
	    cmocka_unit_test(test_dig_reads_our_answer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
