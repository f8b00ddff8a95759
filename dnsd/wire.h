/* wire.h - DNS wire format (RFC 1035, 2782, 6891): query parser and
 * response builder for dnsd; pure, allocation-free, no I/O.
 *
 * Parsing: dns_parse_query() reads a request and says whether to answer
 * it, answer FORMERR or NOTIMP, or drop it.  It never reads outside the
 * packet and never follows a compression pointer that does not point
 * strictly backwards (RFC 1035 4.1.4), so loops are impossible.
 *
 * Building: dns_msg_init() writes the header and echoes the question into
 * a caller's buffer; dns_msg_a() ... dns_msg_soa() append records section by
 * section (answer, authority, additional) with optional name compression;
 * dns_msg_finish() writes the counts and the EDNS0 OPT record.  A record
 * that does not fit is not written at all: the message stays valid, and
 * the caller decides whether to set TC.
 *
 * Names given to the builder are in presentation form ("web.service.consul"
 * or "web.service.consul.") with no escape processing: every byte between
 * two dots is a label byte.  "" and "." are the root.
 */
#ifndef CAIRN_DNSD_WIRE_H
#define CAIRN_DNSD_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	DNS_T_A = 1,
	DNS_T_NS = 2,
	DNS_T_CNAME = 5,
	DNS_T_SOA = 6,
	DNS_T_PTR = 12,
	DNS_T_TXT = 16,
	DNS_T_AAAA = 28,
	DNS_T_SRV = 33,
	DNS_T_OPT = 41,
	DNS_T_AXFR = 252,
	DNS_T_ANY = 255
};

#define DNS_C_IN 1

enum {
	DNS_R_NOERROR = 0,
	DNS_R_FORMERR = 1,
	DNS_R_SERVFAIL = 2,
	DNS_R_NXDOMAIN = 3,
	DNS_R_NOTIMP = 4,
	DNS_R_REFUSED = 5,
	DNS_R_BADVERS = 16 /* extended (RFC 6891 6.1.3): needs EDNS */
};

/* header flag bits (RFC 1035 4.1.1) */
#define DNS_F_QR 0x8000
#define DNS_F_AA 0x0400
#define DNS_F_TC 0x0200
#define DNS_F_RD 0x0100
#define DNS_F_RA 0x0080

#define DNS_HDR_LEN 12
#define DNS_MAX_NAME 255 /* wire length limit, root label included */
#define DNS_MAX_LABELS 128
#define DNS_MAX_LABEL 63
#define DNS_OPT_LEN 11 /* an OPT record without options */

enum dns_section { DNS_ANSWER = 0, DNS_AUTHORITY = 1, DNS_ADDITIONAL = 2 };

struct dns_query {
	uint16_t id;
	uint16_t flags;	 /* the request's header flags word as received */
	uint16_t opcode; /* (flags >> 11) & 15 */
	bool rd;
	/* presentation form, lowercased, no trailing dot ("" = root); labels
	 * joined with '.'.  A label byte that is '.', '\\' or outside
	 * 0x21..0x7e makes the query FORMERR (Consul names never need
	 * escapes). */
	char name[DNS_MAX_NAME + 1];
	size_t name_len;
	uint8_t nlabels;
	uint8_t label_off[DNS_MAX_LABELS]; /* start of each label in name[] */
	uint16_t qtype, qclass;
	bool edns;	  /* an OPT record was present in the additional section */
	uint16_t udp_size; /* the client's EDNS0 UDP payload size (512 if none;
			      at least 512) */
	uint8_t edns_version;
	bool dnssec_ok;
	size_t question_len;	 /* bytes of the question section as received
				    (for echo); 0 = no usable question */
	const uint8_t *question; /* points into the caller's packet buffer */
};

/* dns_parse_query - parse a request packet p[0..n) into *q (which is
 * cleared first).  Borrowed: q->question points into p and is valid as long
 * as p is.  Returns 0 with q filled, or:
 *  -EBADMSG: drop silently (shorter than a header, or QR set: a response);
 *  -EPROTO: answer FORMERR.  q->id and q->flags are valid; q->question_len
 *	is non-zero only if the question itself was well formed (the error
 *	is then in a later section); q->edns is false.  Causes: QDCOUNT != 1,
 *	a truncated question, a compression pointer or a reserved label type
 *	(0x40, 0x80) in the question, a label byte outside 0x21..0x7e or '.'
 *	or '\\', a name over 255 bytes, a truncated or malformed record in
 *	the answer, authority or additional section (a bad name, a pointer
 *	that does not point strictly backwards, RDLENGTH past the end), an
 *	OPT record whose owner is not the root or whose options overrun its
 *	RDATA, or more than one OPT.  Records in the answer and authority
 *	sections are allowed and skipped; bytes after the last record are
 *	ignored.
 *  -EOPNOTSUPP: answer NOTIMP (opcode != 0).  q->id and q->flags are
 *	valid, and so is the question (and EDNS) if q->question_len != 0.
 * Never reads outside p[0..n). */
int dns_parse_query(const uint8_t *p, size_t n, struct dns_query *q);

/* A response being built into a caller's buffer.  The caller may read the
 * fields (len, count[], truncated are the useful ones) but changes them
 * only through dns_msg_*.  About 4 KB: fine on the stack. */
struct dns_msg {
	uint8_t *buf;
	size_t cap; /* the size limit of the message (512, EDNS size, 65535) */
	size_t len;
	uint16_t count[3]; /* records added per section (the OPT excluded) */
	int section;	   /* current section; records go in section order */
	bool compress;
	bool truncated; /* set by dns_msg_* when a record did not fit */
	/* compression table: offsets of label starts already written (each
	 * one the start of a name that later names may point to); enough for
	 * a 64 KB answer, and when full, names are just written out */
	uint16_t names[512];
	size_t nnames;
	size_t opt_reserve; /* bytes kept free for the OPT record */
	/* additions to the declared contract */
	/* names[] as a suffix trie, entries as index + 1 (0 = none/root):
	 * each entry's parent is the entry its name goes on with, so a lookup
	 * walks children from the root and costs O(labels + entries) */
	uint16_t name_up[512];	/* parent */
	uint16_t name_kid[512]; /* first child */
	uint16_t name_sib[512]; /* next sibling */
	uint16_t name_kid0;	/* first child of the root */
	int rcode;	/* 0..4095; bits 4..11 go into the OPT record */
	bool edns;	/* the query had EDNS: finish adds an OPT */
	bool dnssec_ok; /* the query's DO bit, echoed (RFC 3225 3) */
	bool finished;	/* dns_msg_finish ran; adding now is -EINVAL */
};

/* dns_msg_init - start a response in buf, which must hold at least cap
 * bytes after clamping: cap is clamped to 512..65535.  Writes the header
 * (id, QR=1, the query's opcode, RD copied from q, AA and RA as given,
 * rcode) and echoes the question exactly as received (so 0x20 case
 * randomisation is preserved) when q->question_len != 0; QDCOUNT is 1 then,
 * else 0.  If q->edns, reserves DNS_OPT_LEN bytes for the OPT record added
 * by dns_msg_finish.  compress enables name compression (RFC 1035 4.1.4).
 * q must stay valid until this returns only; buf is borrowed until the
 * message is sent. */
void dns_msg_init(struct dns_msg *m, uint8_t *buf, size_t cap,
    const struct dns_query *q, bool aa, bool ra, int rcode, bool compress);

/* dns_msg_set_rcode - change the response code.  Values 16..4095 (e.g.
 * DNS_R_BADVERS) are extended rcodes whose upper 8 bits travel in the OPT
 * record; without EDNS they cannot be sent and become SERVFAIL. */
void dns_msg_set_rcode(struct dns_msg *m, int rcode);

/*
 * Adding records (class IN).  name is in presentation form, case kept as
 * given (but with compression on, a name equal to an earlier one, e.g. the
 * question, is a pointer to it and so carries that one's case).  Each
 * returns 0, or:
 *  -ENOSPC: the record does not fit in cap (less the OPT reserve); the
 *	message is left exactly as before the call and m->truncated is set;
 *  -EINVAL: a bad name (label over 63 bytes, empty label, name over 255
 *	wire bytes), section not one of enum dns_section or before the
 *	current one, a NULL string, or the message already finished; the
 *	message is unchanged and truncated is not set.
 * Names in RDATA are compressed too (CNAME, PTR, NS, SOA MNAME and RNAME),
 * except the SRV target, which RFC 2782 forbids compressing (Consul's miekg
 * writes it in full as well); later names may still point into it.
 */
int dns_msg_a(struct dns_msg *m, int section, const char *name, uint32_t ttl,
    const uint8_t ip[4]);
int dns_msg_aaaa(struct dns_msg *m, int section, const char *name,
    uint32_t ttl, const uint8_t ip[16]);
int dns_msg_srv(struct dns_msg *m, int section, const char *name,
    uint32_t ttl, uint16_t prio, uint16_t weight, uint16_t port,
    const char *target);
/* dns_msg_txt - one TXT record holding strings[0..n); each string is split
 * into character-strings of at most 255 bytes, an empty string is one empty
 * character-string, and n == 0 gives one empty character-string (RDATA may
 * not be empty). */
int dns_msg_txt(struct dns_msg *m, int section, const char *name,
    uint32_t ttl, const char *const *strings, size_t n);
int dns_msg_cname(struct dns_msg *m, int section, const char *name,
    uint32_t ttl, const char *target);
int dns_msg_ptr(struct dns_msg *m, int section, const char *name,
    uint32_t ttl, const char *target);
int dns_msg_ns(struct dns_msg *m, int section, const char *name, uint32_t ttl,
    const char *target);
int dns_msg_soa(struct dns_msg *m, int section, const char *name,
    uint32_t ttl, const char *mname, const char *rname, uint32_t serial,
    uint32_t refresh, uint32_t retry, uint32_t expire, uint32_t minimum);

/* dns_msg_finish - write the section counts (and the TC bit when tc is
 * true) and, if the query had EDNS, append the OPT record: UDP size =
 * udp_size (the server's; raised to 512 if lower), version 0, the extended
 * rcode, the query's DO bit.  Returns the message length.  Calling it again
 * changes nothing and returns the same length. */
size_t dns_msg_finish(struct dns_msg *m, bool tc, uint16_t udp_size);

/* dns_patch_id - rewrite the id of a finished message (for responses
 * served from a cache of encoded answers).  buf holds >= 2 bytes. */
void dns_patch_id(uint8_t *buf, uint16_t id);

/* dns_reply_check - validate that p[0..n) is a response (QR set, at least
 * a header) with that id.  Returns 0 and the header rcode in *rcode (which
 * may be NULL), or -EBADMSG. */
int dns_reply_check(const uint8_t *p, size_t n, uint16_t id, int *rcode);

/* dns_name_to_wire - encode presentation-form name into out[0..size)
 * uncompressed.  Returns the wire length (1..255), -EINVAL for a bad name
 * (as for dns_msg_*), or -ENOSPC when size is too small. */
int dns_name_to_wire(const char *name, uint8_t *out, size_t size);

/* dns_name_read - read the possibly compressed name at p[*off] of the
 * message p[0..n) and advance *off past it (past its first pointer, if
 * any).  Each pointer must point strictly before the previous jump (the
 * first: before itself), so loops are impossible.  If out is not NULL,
 * writes the name there NUL-terminated in presentation form with no
 * trailing dot ("" = root), escaping '.' and '\\' as "\." and "\\" and
 * bytes outside 0x21..0x7e as "\DDD" (case kept).  Returns the name's
 * uncompressed wire length (1..255), -EBADMSG for a malformed or truncated
 * name (*off unchanged), or -ENOSPC when out[0..size) is too small. */
int dns_name_read(const uint8_t *p, size_t n, size_t *off, char *out,
    size_t size);

#endif
