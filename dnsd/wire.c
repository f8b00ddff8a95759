/* wire.c - DNS wire format: query parser, name codec and the response
 * builder with name compression (see wire.h; RFC 1035 4.1, 6891 6.1). */
#include <errno.h>
#include <string.h>

#include "wire.h"

#define PTR_MASK 0xc0	/* label type bits: 00 label, 11 pointer */
#define PTR_MAX 0x3fff	/* largest offset a pointer can carry */
#define NAMES_MAX (sizeof(((struct dns_msg *)0)->names) / sizeof(uint16_t))

/* a presentation-form name split into labels, not yet written */
struct dname {
	const char *s;
	uint8_t off[DNS_MAX_LABELS]; /* label starts in s */
	uint8_t len[DNS_MAX_LABELS];
	size_t n; /* labels */
};

static uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void
set16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
set32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint8_t
lower(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? (uint8_t)(c + ('a' - 'A')) : c;
}

/* --- names on the wire ---------------------------------------------------- */

/* name_walk - follow the name at p[*off]: see dns_name_read for the rules.
 * Copies the uncompressed wire form to wire[] (>= DNS_MAX_NAME bytes) if
 * not NULL.  Returns the wire length and advances *off, or -EBADMSG with
 * *off unchanged. */
static int
name_walk(const uint8_t *p, size_t n, size_t *off, uint8_t *wire)
{
	size_t o = *off, lim = *off, end = 0, total = 0;
	bool jumped = false;
	uint8_t c;

	for (;;) {
		if (o >= n)
			return -EBADMSG;
		c = p[o];
		if ((c & PTR_MASK) == PTR_MASK) {
			size_t t;

			if (o + 1 >= n)
				return -EBADMSG;
			t = (size_t)(c & ~PTR_MASK) << 8 | p[o + 1];
			/* strictly backwards from the previous jump (or
			 * from the pointer itself), so no loop */
			if (t >= (jumped ? lim : o))
				return -EBADMSG;
			if (!jumped)
				end = o + 2;
			jumped = true;
			lim = t;
			o = t;
			continue;
		}
		if (c > DNS_MAX_LABEL) /* 0x40 and 0x80: reserved types */
			return -EBADMSG;
		if (total + 1 + c > DNS_MAX_NAME || n - o - 1 < c)
			return -EBADMSG;
		if (wire != NULL)
			memcpy(wire + total, p + o, 1 + (size_t)c);
		total += 1 + (size_t)c;
		o += 1 + (size_t)c;
		if (c == 0)
			break;
	}
	*off = jumped ? end : o;
	return (int)total;
}

int
dns_name_read(const uint8_t *p, size_t n, size_t *off, char *out,
    size_t size)
{
	uint8_t wire[DNS_MAX_NAME];
	size_t o = *off, i, j, k = 0;
	int len;

	len = name_walk(p, n, &o, out != NULL ? wire : NULL);
	if (len < 0)
		return len;
	if (out != NULL) {
		for (i = 0; wire[i] != 0; i += 1 + (size_t)wire[i]) {
			if (i > 0) {
				if (k + 1 >= size)
					return -ENOSPC;
				out[k++] = '.';
			}
			for (j = 1; j <= wire[i]; j++) {
				uint8_t c = wire[i + j];
				char esc[4];
				size_t e = 0;

				if (c == '.' || c == '\\') {
					esc[e++] = '\\';
					esc[e++] = (char)c;
				} else if (c < 0x21 || c > 0x7e) {
					esc[e++] = '\\';
					esc[e++] = (char)('0' + c / 100);
					esc[e++] = (char)('0' + c / 10 % 10);
					esc[e++] = (char)('0' + c % 10);
				} else {
					esc[e++] = (char)c;
				}
				if (k + e >= size)
					return -ENOSPC;
				memcpy(out + k, esc, e);
				k += e;
			}
		}
		if (size == 0)
			return -ENOSPC;
		out[k] = '\0';
	}
	*off = o;
	return len;
}

/* dname_parse - split presentation-form s into labels: 1..63 bytes each,
 * at most 255 bytes on the wire; "" and "." are the root, one trailing dot
 * is allowed.  Returns 0 or -EINVAL. */
static int
dname_parse(struct dname *d, const char *s)
{
	size_t i = 0, start, wire = 1;

	if (s == NULL)
		return -EINVAL;
	d->s = s;
	d->n = 0;
	if (s[0] == '.' && s[1] == '\0')
		return 0;
	while (s[i] != '\0') {
		start = i;
		while (s[i] != '\0' && s[i] != '.')
			i++;
		if (i == start || i - start > DNS_MAX_LABEL)
			return -EINVAL;
		wire += 1 + (i - start);
		if (wire > DNS_MAX_NAME)
			return -EINVAL;
		/* wire <= 255 keeps start < 255 and n < 128 */
		d->off[d->n] = (uint8_t)start;
		d->len[d->n] = (uint8_t)(i - start);
		d->n++;
		if (s[i] == '.')
			i++;
	}
	return 0;
}

int
dns_name_to_wire(const char *name, uint8_t *out, size_t size)
{
	struct dname d;
	size_t i, k = 0;
	int rc;

	if ((rc = dname_parse(&d, name)) < 0)
		return rc;
	for (i = 0; i < d.n; i++) {
		if (size - k < 1 + (size_t)d.len[i] + 1)
			return -ENOSPC;
		out[k++] = d.len[i];
		memcpy(out + k, d.s + d.off[i], d.len[i]);
		k += d.len[i];
	}
	if (size - k < 1)
		return -ENOSPC;
	out[k++] = 0;
	return (int)k;
}

/* --- query parser --------------------------------------------------------- */

/* question_parse - the strict QNAME reader: no pointers, label bytes in
 * 0x21..0x7e except '.' and '\\'; fills q->name (lowercased) and labels.
 * Then QTYPE and QCLASS.  Returns 0 or -EPROTO. */
static int
question_parse(const uint8_t *p, size_t n, size_t *off, struct dns_query *q)
{
	size_t o = *off, wire = 0, k = 0, nl = 0, i;
	uint8_t c, len;

	for (;;) {
		if (o >= n)
			return -EPROTO;
		len = p[o++];
		wire += 1 + (size_t)len;
		if (wire > DNS_MAX_NAME)
			return -EPROTO;
		if (len == 0)
			break;
		if (len > DNS_MAX_LABEL || n - o < len)
			return -EPROTO; /* pointer, reserved type, truncated */
		if (nl > 0)
			q->name[k++] = '.';
		q->label_off[nl++] = (uint8_t)k;
		for (i = 0; i < len; i++) {
			c = p[o + i];
			if (c < 0x21 || c > 0x7e || c == '.' || c == '\\')
				return -EPROTO;
			q->name[k++] = (char)lower(c);
		}
		o += len;
	}
	if (n - o < 4)
		return -EPROTO;
	q->name[k] = '\0';
	q->name_len = k;
	q->nlabels = (uint8_t)nl;
	q->qtype = get16(p + o);
	q->qclass = get16(p + o + 2);
	o += 4;
	q->question = p + *off;
	q->question_len = o - *off;
	*off = o;
	return 0;
}

/* opt_parse - the OPT pseudo-record (RFC 6891 6.1.2) whose owner starts at
 * p[owner] and RDATA is p[rd..rd+rdlen).  Returns 0 or -EPROTO. */
static int
opt_parse(const uint8_t *p, size_t owner, size_t rd, size_t rdlen,
    struct dns_query *q)
{
	const uint8_t *h = p + owner + 1; /* TYPE CLASS TTL RDLENGTH */
	size_t o = rd, end = rd + rdlen, olen;

	if (q->edns || p[owner] != 0)
		return -EPROTO;
	while (o < end) {
		if (end - o < 4)
			return -EPROTO;
		olen = get16(p + o + 2);
		if (end - o - 4 < olen)
			return -EPROTO;
		o += 4 + olen;
	}
	q->edns = true;
	q->udp_size = get16(h + 2) < 512 ? 512 : get16(h + 2);
	q->edns_version = h[5];
	q->dnssec_ok = (h[6] & 0x80) != 0;
	return 0;
}

/* body_parse - the sections after the header. */
static int
body_parse(const uint8_t *p, size_t n, struct dns_query *q)
{
	size_t off = DNS_HDR_LEN, owner, rdlen, i, nrr;
	size_t an = get16(p + 6), ns = get16(p + 8), ar = get16(p + 10);
	uint16_t type;
	int rc;

	if (get16(p + 4) != 1)
		return -EPROTO;
	if ((rc = question_parse(p, n, &off, q)) < 0)
		return rc;
	nrr = an + ns + ar;
	for (i = 0; i < nrr; i++) {
		owner = off;
		if (name_walk(p, n, &off, NULL) < 0 || n - off < 10)
			return -EPROTO;
		type = get16(p + off);
		rdlen = get16(p + off + 8);
		off += 10;
		if (n - off < rdlen)
			return -EPROTO;
		/* an OPT outside the additional section is just skipped */
		if (type == DNS_T_OPT && i >= an + ns &&
		    opt_parse(p, owner, off, rdlen, q) < 0)
			return -EPROTO;
		off += rdlen;
	}
	return 0;
}

int
dns_parse_query(const uint8_t *p, size_t n, struct dns_query *q)
{
	int rc;

	memset(q, 0, sizeof(*q));
	q->udp_size = 512;
	if (p == NULL || n < DNS_HDR_LEN)
		return -EBADMSG;
	q->id = get16(p);
	q->flags = get16(p + 2);
	if (q->flags & DNS_F_QR)
		return -EBADMSG;
	q->opcode = (q->flags >> 11) & 15;
	q->rd = (q->flags & DNS_F_RD) != 0;
	rc = body_parse(p, n, q);
	if (rc < 0) {
		q->edns = false;
		q->udp_size = 512;
		q->edns_version = 0;
		q->dnssec_ok = false;
	}
	if (q->opcode != 0)
		return -EOPNOTSUPP;
	return rc;
}

/* --- response builder ----------------------------------------------------- */

static size_t
limit(const struct dns_msg *m)
{
	return m->cap - m->opt_reserve;
}

static int
put(struct dns_msg *m, const void *p, size_t n)
{
	if (limit(m) - m->len < n)
		return -ENOSPC;
	memcpy(m->buf + m->len, p, n);
	m->len += n;
	return 0;
}

static int
put16(struct dns_msg *m, uint16_t v)
{
	uint8_t b[2];

	set16(b, v);
	return put(m, b, 2);
}

static int
put32(struct dns_msg *m, uint32_t v)
{
	uint8_t b[4];

	set32(b, v);
	return put(m, b, 4);
}

/* names_add - record the labels of a name just written at off[0..nnew),
 * the last going on with entry up (index + 1, 0 = the root), as pointer
 * targets: in the trie, each label's parent is the next one.  When the
 * table has no room for all, the labels nearest the root are kept; when the
 * offsets are past what a pointer can reach, none. */
static void
names_add(struct dns_msg *m, const size_t *off, size_t nnew, size_t up)
{
	size_t first, base, idx, i, parent, room = NAMES_MAX - m->nnames;
	uint16_t *head;

	if (!m->compress || nnew == 0 || off[nnew - 1] > PTR_MAX)
		return;
	first = nnew > room ? nnew - room : 0;
	base = m->nnames;
	for (i = first; i < nnew; i++) {
		idx = base + i - first;
		m->names[idx] = (uint16_t)off[i];
		m->name_up[idx] = (uint16_t)(i + 1 < nnew ? idx + 2 : up);
		m->name_kid[idx] = 0;
	}
	/* linked in index order, so names_cut can unlink in reverse */
	for (idx = base; idx < base + nnew - first; idx++) {
		parent = m->name_up[idx];
		head = parent != 0 ? &m->name_kid[parent - 1] : &m->name_kid0;
		m->name_sib[idx] = *head;
		*head = (uint16_t)(idx + 1);
	}
	m->nnames = base + nnew - first;
}

/* names_cut - forget the entries from nn on (a record being undone) */
static void
names_cut(struct dns_msg *m, size_t nn)
{
	uint16_t *head;
	size_t up;

	while (m->nnames > nn) {
		m->nnames--;
		up = m->name_up[m->nnames];
		head = up != 0 ? &m->name_kid[up - 1] : &m->name_kid0;
		*head = m->name_sib[m->nnames]; /* it was the first child */
	}
}

static bool
label_eq(const uint8_t *a, const uint8_t *b, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (lower(a[i]) != lower(b[i]))
			return false;
	return true;
}

/* name_match - the longest suffix of d already in the message: from the
 * root, step to the child holding the next label (ignoring ASCII case).
 * Returns the number of labels matched, *up its entry (index + 1). */
static size_t
name_match(const struct dns_msg *m, const struct dname *d, size_t *up)
{
	size_t cur = 0, matched = 0, k, l;
	const uint8_t *lab;

	while (matched < d->n) {
		l = d->n - 1 - matched;
		for (k = cur != 0 ? m->name_kid[cur - 1] : m->name_kid0; k != 0;
		     k = m->name_sib[k - 1]) {
			lab = m->buf + m->names[k - 1];
			if (lab[0] == d->len[l] &&
			    label_eq(lab + 1, (const uint8_t *)d->s + d->off[l],
				d->len[l]))
				break;
		}
		if (k == 0)
			break;
		cur = k;
		matched++;
	}
	*up = cur;
	return matched;
}

/* name_put - write d.  With m->compress, the labels in front of the
 * longest suffix already written become pointer targets, and when compress
 * is set too that suffix is written as a pointer (else in full, for RFC
 * 2782 SRV targets: the new labels still go on with the earlier entry). */
static int
name_put(struct dns_msg *m, const struct dname *d, bool compress)
{
	size_t matched = 0, up = 0, i, nnew, off[DNS_MAX_LABELS];
	uint8_t len;
	int rc;

	if (m->compress)
		matched = name_match(m, d, &up);
	nnew = d->n - matched;
	for (i = 0; i < d->n; i++) {
		if (compress && i == nnew) {
			rc = put16(m, (uint16_t)(0xc000 | m->names[up - 1]));
			goto out;
		}
		len = d->len[i];
		off[i] = m->len;
		if ((rc = put(m, &len, 1)) < 0 ||
		    (rc = put(m, d->s + d->off[i], len)) < 0)
			return rc;
	}
	len = 0;
	rc = put(m, &len, 1);
out:
	if (rc == 0)
		names_add(m, off, nnew, up);
	return rc;
}

/* rr_begin - write the owner, TYPE, CLASS, TTL and a placeholder RDLENGTH
 * at *rdlen_at. */
static int
rr_begin(struct dns_msg *m, const struct dname *owner, uint16_t type,
    uint32_t ttl, size_t *rdlen_at)
{
	int rc;

	if ((rc = name_put(m, owner, true)) < 0 ||
	    (rc = put16(m, type)) < 0 || (rc = put16(m, DNS_C_IN)) < 0 ||
	    (rc = put32(m, ttl)) < 0)
		return rc;
	*rdlen_at = m->len;
	return put16(m, 0);
}

/* rr_check - may a record go into section?  Returns 0 or -EINVAL. */
static int
rr_check(const struct dns_msg *m, int section)
{
	if (m->finished || section < DNS_ANSWER || section > DNS_ADDITIONAL ||
	    section < m->section || m->count[section] == UINT16_MAX)
		return -EINVAL;
	return 0;
}

/* rr_end - on success fill in RDLENGTH and count the record; on failure
 * restore the message as it was at len/nnames. */
static int
rr_end(struct dns_msg *m, int section, size_t rdlen_at, size_t len,
    size_t nnames, int rc)
{
	if (rc == 0) {
		set16(m->buf + rdlen_at, (uint16_t)(m->len - rdlen_at - 2));
		m->count[section]++;
		m->section = section;
		return 0;
	}
	m->len = len;
	names_cut(m, nnames);
	if (rc == -ENOSPC)
		m->truncated = true;
	return rc;
}

/* rr_fixed - a record whose RDATA has no names. */
static int
rr_fixed(struct dns_msg *m, int section, const char *name, uint16_t type,
    uint32_t ttl, const void *rdata, size_t rdlen)
{
	size_t len = m->len, nn = m->nnames, at = 0;
	struct dname owner;
	int rc;

	if ((rc = rr_check(m, section)) < 0 ||
	    (rc = dname_parse(&owner, name)) < 0)
		return rc;
	if ((rc = rr_begin(m, &owner, type, ttl, &at)) == 0)
		rc = put(m, rdata, rdlen);
	return rr_end(m, section, at, len, nn, rc);
}

/* rr_target - a record whose RDATA is one name (CNAME, PTR, NS). */
static int
rr_target(struct dns_msg *m, int section, const char *name, uint16_t type,
    uint32_t ttl, const char *target)
{
	size_t len = m->len, nn = m->nnames, at = 0;
	struct dname owner, t;
	int rc;

	if ((rc = rr_check(m, section)) < 0 ||
	    (rc = dname_parse(&owner, name)) < 0 ||
	    (rc = dname_parse(&t, target)) < 0)
		return rc;
	if ((rc = rr_begin(m, &owner, type, ttl, &at)) == 0)
		rc = name_put(m, &t, true);
	return rr_end(m, section, at, len, nn, rc);
}

void
dns_msg_init(struct dns_msg *m, uint8_t *buf, size_t cap,
    const struct dns_query *q, bool aa, bool ra, int rcode, bool compress)
{
	size_t o, n, off[DNS_MAX_LABELS];

	memset(m, 0, sizeof(*m));
	m->buf = buf;
	m->cap = cap < 512 ? 512 : cap > 65535 ? 65535 : cap;
	m->compress = compress;
	m->section = DNS_ANSWER;
	m->edns = q->edns;
	m->dnssec_ok = q->edns && q->dnssec_ok;
	if (m->edns)
		m->opt_reserve = DNS_OPT_LEN;
	memset(buf, 0, DNS_HDR_LEN);
	set16(buf, q->id);
	set16(buf + 2, (uint16_t)(DNS_F_QR | (q->opcode & 15) << 11 |
			   (aa ? DNS_F_AA : 0) | (q->rd ? DNS_F_RD : 0) |
			   (ra ? DNS_F_RA : 0)));
	m->len = DNS_HDR_LEN;
	dns_msg_set_rcode(m, rcode);
	if (q->question_len == 0 || q->question == NULL ||
	    q->question_len > limit(m) - DNS_HDR_LEN)
		return;
	memcpy(buf + DNS_HDR_LEN, q->question, q->question_len);
	m->len += q->question_len;
	set16(buf + 4, 1);
	/* the question's labels are the first pointer targets, if it is a
	 * plain name followed by QTYPE and QCLASS (it is when q came from
	 * dns_parse_query) */
	for (o = DNS_HDR_LEN, n = 0; o < m->len && buf[o] != 0 &&
	     buf[o] <= DNS_MAX_LABEL && n < DNS_MAX_LABELS;
	     o += 1 + (size_t)buf[o])
		off[n++] = o;
	if (o + 5 == m->len && buf[o] == 0)
		names_add(m, off, n, 0);
}

void
dns_msg_set_rcode(struct dns_msg *m, int rcode)
{
	int r = rcode & 0xfff;

	if (r > 15 && !m->edns)
		r = DNS_R_SERVFAIL;
	m->rcode = r;
	set16(m->buf + 2, (uint16_t)((get16(m->buf + 2) & ~0xf) | (r & 15)));
}

int
dns_msg_a(struct dns_msg *m, int section, const char *name, uint32_t ttl,
    const uint8_t ip[4])
{
	return rr_fixed(m, section, name, DNS_T_A, ttl, ip, 4);
}

int
dns_msg_aaaa(struct dns_msg *m, int section, const char *name,
    uint32_t ttl, const uint8_t ip[16])
{
	return rr_fixed(m, section, name, DNS_T_AAAA, ttl, ip, 16);
}

int
dns_msg_srv(struct dns_msg *m, int section, const char *name,
    uint32_t ttl, uint16_t prio, uint16_t weight, uint16_t port,
    const char *target)
{
	size_t len = m->len, nn = m->nnames, at = 0;
	struct dname owner, t;
	int rc;

	if ((rc = rr_check(m, section)) < 0 ||
	    (rc = dname_parse(&owner, name)) < 0 ||
	    (rc = dname_parse(&t, target)) < 0)
		return rc;
	/* RFC 2782: "name compression is not to be used for this field" */
	if ((rc = rr_begin(m, &owner, DNS_T_SRV, ttl, &at)) == 0 &&
	    (rc = put16(m, prio)) == 0 && (rc = put16(m, weight)) == 0 &&
	    (rc = put16(m, port)) == 0)
		rc = name_put(m, &t, false);
	return rr_end(m, section, at, len, nn, rc);
}

int
dns_msg_txt(struct dns_msg *m, int section, const char *name,
    uint32_t ttl, const char *const *strings, size_t n)
{
	size_t len = m->len, nn = m->nnames, at = 0, i, sl, chunk;
	struct dname owner;
	const char *s;
	uint8_t b;
	int rc;

	if ((rc = rr_check(m, section)) < 0 ||
	    (rc = dname_parse(&owner, name)) < 0)
		return rc;
	if (n > 0 && strings == NULL)
		return -EINVAL;
	for (i = 0; i < n; i++)
		if (strings[i] == NULL)
			return -EINVAL;
	rc = rr_begin(m, &owner, DNS_T_TXT, ttl, &at);
	if (rc == 0 && n == 0) {
		b = 0;
		rc = put(m, &b, 1);
	}
	for (i = 0; rc == 0 && i < n; i++) {
		s = strings[i];
		sl = strlen(s);
		do {
			chunk = sl > 255 ? 255 : sl;
			b = (uint8_t)chunk;
			if ((rc = put(m, &b, 1)) < 0 ||
			    (rc = put(m, s, chunk)) < 0)
				break;
			s += chunk;
			sl -= chunk;
		} while (sl > 0);
	}
	/* cap <= 65535 keeps RDLENGTH in range */
	return rr_end(m, section, at, len, nn, rc);
}

int
dns_msg_cname(struct dns_msg *m, int section, const char *name,
    uint32_t ttl, const char *target)
{
	return rr_target(m, section, name, DNS_T_CNAME, ttl, target);
}

int
dns_msg_ptr(struct dns_msg *m, int section, const char *name,
    uint32_t ttl, const char *target)
{
	return rr_target(m, section, name, DNS_T_PTR, ttl, target);
}

int
dns_msg_ns(struct dns_msg *m, int section, const char *name, uint32_t ttl,
    const char *target)
{
	return rr_target(m, section, name, DNS_T_NS, ttl, target);
}

int
dns_msg_soa(struct dns_msg *m, int section, const char *name,
    uint32_t ttl, const char *mname, const char *rname, uint32_t serial,
    uint32_t refresh, uint32_t retry, uint32_t expire, uint32_t minimum)
{
	size_t len = m->len, nn = m->nnames, at = 0;
	struct dname owner, mn, rn;
	int rc;

	if ((rc = rr_check(m, section)) < 0 ||
	    (rc = dname_parse(&owner, name)) < 0 ||
	    (rc = dname_parse(&mn, mname)) < 0 ||
	    (rc = dname_parse(&rn, rname)) < 0)
		return rc;
	if ((rc = rr_begin(m, &owner, DNS_T_SOA, ttl, &at)) == 0 &&
	    (rc = name_put(m, &mn, true)) == 0 &&
	    (rc = name_put(m, &rn, true)) == 0 &&
	    (rc = put32(m, serial)) == 0 && (rc = put32(m, refresh)) == 0 &&
	    (rc = put32(m, retry)) == 0 && (rc = put32(m, expire)) == 0)
		rc = put32(m, minimum);
	return rr_end(m, section, at, len, nn, rc);
}

size_t
dns_msg_finish(struct dns_msg *m, bool tc, uint16_t udp_size)
{
	uint8_t *o;
	uint16_t ar = m->count[DNS_ADDITIONAL];

	if (m->finished)
		return m->len;
	if (tc)
		set16(m->buf + 2, (uint16_t)(get16(m->buf + 2) | DNS_F_TC));
	if (m->edns) {
		/* the reserve guarantees the room */
		o = m->buf + m->len;
		o[0] = 0; /* root owner */
		set16(o + 1, DNS_T_OPT);
		set16(o + 3, udp_size < 512 ? 512 : udp_size);
		o[5] = (uint8_t)(m->rcode >> 4); /* extended rcode */
		o[6] = 0;			 /* version */
		o[7] = m->dnssec_ok ? 0x80 : 0;
		o[8] = 0;
		set16(o + 9, 0); /* RDLENGTH */
		m->len += DNS_OPT_LEN;
		m->opt_reserve = 0;
		ar++;
	}
	set16(m->buf + 6, m->count[DNS_ANSWER]);
	set16(m->buf + 8, m->count[DNS_AUTHORITY]);
	set16(m->buf + 10, ar);
	m->finished = true;
	return m->len;
}

void
dns_patch_id(uint8_t *buf, uint16_t id)
{
	set16(buf, id);
}

int
dns_reply_check(const uint8_t *p, size_t n, uint16_t id, int *rcode)
{
	if (p == NULL || n < DNS_HDR_LEN || (p[2] & 0x80) == 0 ||
	    get16(p) != id)
		return -EBADMSG;
	if (rcode != NULL)
		*rcode = p[3] & 15;
	return 0;
}
