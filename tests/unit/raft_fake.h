/* raft_fake.h - a deterministic fake cluster for the Raft core (raft.h),
 * after canonical/raft's src/fixture.c (STYLE.md 1.1, E3).
 *
 * One global clock in ms drives everything; nothing reads the wall clock
 * or an unseeded PRNG, so a run replays exactly from its seed.
 *
 *   servers  up to FK_MAX, ids 1..FK_MAX; each is a `struct raft *` plus a
 *            fake durable store (term/vote, snapshot, log, and the state
 *            machine, which is durable as raftd's LMDB is).  A crash frees
 *            the core and everything not in the store; a restart is
 *            raft_new + raft_load from the store.
 *   clock    each server ticks every FK_TICK_MS at its own phase, or, with
 *            skew_pct, at its own rate within +-skew_pct % of that.
 *   network  every message gets a latency in [lat_min, lat_max] ms (so
 *            messages reorder), may be lost or duplicated, and is dropped
 *            on delivery if the link is cut (cut[from][to], one-way).
 *            RAFT_MSG_SNAPSHOT carries the sender's state machine at
 *            snap_index beside the message.
 *   disk     a ready batch takes disk_ms (plus, now and then, an fsync
 *            stall of up to stall_ms): nothing of it (store, messages,
 *            applies) happens before it completes, and the ticks,
 *            messages and client requests arriving meanwhile wait in the
 *            server's inbox.  A crash loses the batch.
 *   clients  writes (a KV command with a unique id) and ReadIndex reads
 *            go to the server last seen leading; a write is acknowledged
 *            when that server applies it at the index and term
 *            raft_propose returned; lease reads are served locally.
 *
 * The driver loop per server is the one at the top of raft.h: persist,
 * send, apply, reads, advance.  After every step (one event or one
 * driver action), and between two ready batches of a server, fk_check()
 * verifies the Raft paper's safety properties (Election Safety, Leader
 * Append-Only, Log Matching, Leader Completeness, State Machine Safety),
 * the ready contract (nothing sent before it is stored, applied entries
 * stored, the core's snapshot the stored one), ReadIndex and lease-read
 * linearizability against acknowledged writes, and that no two servers
 * hold a valid leader lease at once.  The first violation is kept in
 * c->why and c->failed is set; the caller stops and reports it with the
 * seed.
 *
 * Header-only because the Makefile links one .c per unit test. */
#ifndef CAIRN_RAFT_FAKE_H
#define CAIRN_RAFT_FAKE_H

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../raftd/raft/raft.h"

#define FK_MAX 12	  /* server slots per cluster; ids 1..FK_MAX */
#define FK_KEYS 8	  /* keys of the toy KV state machine */
#define FK_TICK_MS 100	  /* one raft_tick every 100 ms, as raftd */
#define FK_STASH 4	  /* received snapshot payloads kept per server */
#define FK_CMD_LEN 18	  /* 'C', key, id (be64), value (be64) */
#define FK_NTYPES 11	  /* message types 1..10 */
#define FK_MAX_BATCHES 10000 /* ready batches per drain before giving up */

/* --- randomness: splitmix64, seeded per schedule -------------------------- */

struct fk_rng {
	uint64_t s;
};

static uint64_t
fk_mix(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t
fk_next(struct fk_rng *g)
{
	g->s += 0x9e3779b97f4a7c15ULL;
	return fk_mix(g->s);
}

static uint64_t
fk_below(struct fk_rng *g, uint64_t n)
{
	return n == 0 ? 0 : fk_next(g) % n;
}

/* fk_range - uniform in [lo, hi] */
static uint64_t
fk_range(struct fk_rng *g, uint64_t lo, uint64_t hi)
{
	return hi <= lo ? lo : lo + fk_below(g, hi - lo + 1);
}

static bool
fk_pct(struct fk_rng *g, unsigned pct)
{
	return fk_below(g, 100) < pct;
}

/* --- the state machine and the durable store ------------------------------ */

struct fk_sm {
	uint64_t applied, applied_term; /* last applied entry */
	uint64_t hash;			/* chained over every applied entry */
	uint64_t count;			/* commands applied */
	uint64_t kv[FK_KEYS];
	size_t ncfg; /* latest applied configuration */
	struct raft_server cfg[FK_MAX];
};

struct fk_store {
	uint64_t term, vote;
	bool has_snap;
	uint64_t snap_index, snap_term;
	struct fk_sm snap_sm; /* the state at snap_index; its cfg is the
				 snapshot's configuration */
	struct raft_entry *log; /* contiguous; may reach below snap_index */
	size_t n, cap;
	struct fk_sm sm; /* the live, durable state machine */
};

/* A message in flight or in an inbox; in an inbox, m.type == 0 is a
 * tick or (op != 0) a client request that waited for the disk. */
enum fk_op { FK_OP_NONE, FK_OP_PROPOSE, FK_OP_READ };
struct fk_env {
	struct raft_msg m;
	struct fk_sm *snap; /* SNAPSHOT payload, owned */
	struct fk_env *next;
	uint8_t op, key; /* enum fk_op */
	uint64_t val;
};

enum fk_state { FK_EMPTY = 0, FK_UP, FK_DOWN, FK_GONE };

struct fk_server {
	uint64_t id;
	enum fk_state state;
	uint32_t inc; /* incarnation, bumped by every crash */
	struct raft *r;
	struct fk_store st;
	unsigned tick_off; /* phase of its tick timer, ms */
	unsigned tick_ms;  /* its clock's tick period (FK_TICK_MS +- skew) */
	unsigned disk_ms;  /* latency of one ready batch */
	bool busy;	   /* a ready batch is on the (slow) disk */
	struct raft_ready rd;
	uint64_t rd_term; /* raft_term() when rd was taken */
	struct fk_env *in_head, *in_tail;
	struct fk_sm *stash[FK_STASH];
	size_t nstash;
	uint64_t wrote_leader_term; /* last batch was stored as leader of */
	bool removed;		    /* a committed configuration left it out */
	uint64_t *pend;		    /* ids of its proposals awaiting apply */
	size_t npend, cappend;
	size_t nwait; /* reads waiting for apply */
	/* what fk_check saw last */
	int seen_role;
	uint64_t seen_term, seen_commit;
	/* Leader Append-Only: the log's terms since it became leader */
	uint64_t la_term, la_first, la_last;
	uint64_t *la_terms;
	size_t la_cap;
};

/* global history, for the invariants */
struct fk_arec { /* index -> the entry applied there */
	uint64_t term, digest, hash, val;
	uint8_t type, key, by;
	bool set;
};
struct fk_crec { /* index -> committed entry's term */
	uint64_t term;
	uint64_t cterm; /* a term >= the one it was committed in */
	bool set;
};
struct fk_lm { /* (index, term) -> entry, for Log Matching */
	uint64_t index, term, prev_term, digest;
};
#define FK_UNKNOWN UINT64_MAX

enum fk_pstatus { FK_P_PENDING, FK_P_ACKED, FK_P_FAILED, FK_P_LOST };
struct fk_prop {
	uint64_t index, term, digest, val, applied_at;
	uint32_t inc;
	uint8_t slot, key, status;
};

enum fk_rstatus {
	FK_R_ISSUED,
	FK_R_WAITING, /* read index known, waiting for apply */
	FK_R_SERVED,
	FK_R_FAILED,
	FK_R_LOST
};
struct fk_read {
	uint64_t ctx, watermark, index, issued_at, value;
	uint32_t inc;
	uint8_t slot, key, status;
	uint8_t peers_heard; /* peers whose responses arrived since issue */
	uint64_t resp_mark[FK_MAX];
};

enum fk_ev_kind {
	FK_EV_TICK = 1,
	FK_EV_MSG,
	FK_EV_DISK,
	FK_EV_RESTART,
	FK_EV_SHUTDOWN
};
struct fk_ev {
	uint64_t t, seq;
	struct fk_env *env;
	uint32_t inc;
	uint8_t kind, slot;
};

struct fk_cluster {
	uint64_t seed;
	struct fk_rng rng;
	uint64_t now, steps, seq;
	bool verbose, failed;
	char why[1024];
	struct raft_options opt; /* template: id and seed set per server */
	size_t ns;		 /* slots in use */
	struct fk_server s[FK_MAX];
	struct fk_ev *heap;
	size_t nheap, capheap;
	uint64_t max_steps; /* 0: unlimited */

	/* network */
	bool cut[FK_MAX][FK_MAX]; /* [from][to] */
	unsigned loss_pct, dup_pct, lat_min, lat_max;

	/* compaction after applying: every `compact_every` entries, keeping
	 * `compact_keep` (0: never) */
	unsigned compact_every, compact_keep;
	/* an fsync stall: a batch takes stall_ms more, with stall_pct
	 * probability */
	unsigned stall_pct, stall_ms;
	/* clock rates: each server's tick period is FK_TICK_MS +- skew_pct % */
	unsigned skew_pct;
	/* shut a server down once its removal is committed */
	bool decommission;
	unsigned decommission_ms;

	/* counters, for scripted tests and stats */
	uint64_t sent[FK_MAX][FK_NTYPES], delivered[FK_MAX][FK_NTYPES];
	uint64_t resp_from[FK_MAX][FK_MAX]; /* [to][from] responses */
	uint64_t n_acked, n_failed, n_lost, n_reads_served, n_lease_reads;
	uint64_t n_snap_installs, n_compactions, n_crashes, n_msgs;

	/* history */
	uint64_t *term_leader;
	size_t n_term_leader;
	struct fk_arec *ap;
	size_t n_ap;
	struct fk_crec *cm;
	size_t n_cm;
	uint64_t commit_max;
	struct fk_lm *lm;
	size_t lm_cap, lm_n;
	struct fk_prop *props; /* proposal id = position + 1 */
	size_t n_props, cap_props;
	struct fk_read *reads;
	size_t n_reads, cap_reads;
	uint64_t acked_max; /* highest index of an acknowledged write */
};

/* --- reporting ------------------------------------------------------------ */

#define FK_TRACE(c, ...)                                                      \
	do {                                                                   \
		if ((c)->verbose)                                              \
			fk_trace((c), __VA_ARGS__);                            \
	} while (0)

static void __attribute__((format(printf, 2, 3)))
fk_trace(struct fk_cluster *c, const char *fmt, ...)
{
	va_list ap;

	printf("%7" PRIu64 " ms #%-6" PRIu64 " ", c->now, c->steps);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* fk_fail - record the first violated invariant; the caller stops. */
static void __attribute__((format(printf, 3, 4)))
fk_fail(struct fk_cluster *c, const char *invariant, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (c->failed)
		return;
	c->failed = true;
	n = snprintf(c->why, sizeof(c->why),
	    "seed %" PRIu64 " step %" PRIu64 " t=%" PRIu64 " ms: %s: ",
	    c->seed, c->steps, c->now, invariant);
	if (n < 0 || (size_t)n >= sizeof(c->why))
		return;
	va_start(ap, fmt);
	vsnprintf(c->why + n, sizeof(c->why) - (size_t)n, fmt, ap);
	va_end(ap);
	if (c->verbose)
		printf("VIOLATION %s\n", c->why);
}

static const char *
fk_type_name(unsigned t)
{
	static const char *names[FK_NTYPES] = {"tick", "PREVOTE",
	    "PREVOTE_RESP", "VOTE", "VOTE_RESP", "APPEND", "APPEND_RESP",
	    "HEARTBEAT", "HEARTBEAT_RESP", "SNAPSHOT", "TIMEOUT_NOW"};

	return t < FK_NTYPES ? names[t] : "?";
}

static void
fk_trace_msg(struct fk_cluster *c, const char *what, const struct raft_msg *m,
    uint64_t at)
{
	if (!c->verbose)
		return;
	switch (m->type) {
	case RAFT_MSG_APPEND:
		fk_trace(c,
		    "%s S%" PRIu64 "->S%" PRIu64 " APPEND t%" PRIu64
		    " prev=%" PRIu64 "/%" PRIu64 " n=%zu commit=%" PRIu64
		    " (at %" PRIu64 ")",
		    what, m->from, m->to, m->term, m->prev_index, m->prev_term,
		    m->n_entries, m->commit, at);
		break;
	case RAFT_MSG_APPEND_RESP:
		fk_trace(c,
		    "%s S%" PRIu64 "->S%" PRIu64 " APPEND_RESP t%" PRIu64
		    " %s index=%" PRIu64 " hint=%" PRIu64 "/%" PRIu64
		    " (at %" PRIu64 ")",
		    what, m->from, m->to, m->term, m->reject ? "reject" : "ok",
		    m->index, m->hint_index, m->hint_term, at);
		break;
	case RAFT_MSG_SNAPSHOT:
		fk_trace(c,
		    "%s S%" PRIu64 "->S%" PRIu64 " SNAPSHOT t%" PRIu64
		    " snap=%" PRIu64 "/%" PRIu64 " (at %" PRIu64 ")",
		    what, m->from, m->to, m->term, m->snap_index, m->snap_term,
		    at);
		break;
	default:
		fk_trace(c,
		    "%s S%" PRIu64 "->S%" PRIu64 " %s t%" PRIu64
		    " last=%" PRIu64 "/%" PRIu64 "%s%s commit=%" PRIu64
		    " seq=%" PRIu64 " (at %" PRIu64 ")",
		    what, m->from, m->to, fk_type_name(m->type), m->term,
		    m->last_index, m->last_term, m->reject ? " reject" : "",
		    m->transfer ? " transfer" : "", m->commit, m->hb_seq, at);
	}
}

/* --- small containers ----------------------------------------------------- */

static void *
fk_grow(void *p, size_t *cap, size_t need, size_t size)
{
	size_t ncap = *cap ? *cap : 16;
	void *np;

	if (need <= *cap)
		return p;
	while (ncap < need)
		ncap *= 2;
	np = realloc(p, ncap * size);
	if (np == NULL)
		abort();
	memset((char *)np + *cap * size, 0, (ncap - *cap) * size);
	*cap = ncap;
	return np;
}

static void
fk_heap_push(struct fk_cluster *c, uint64_t t, enum fk_ev_kind kind,
    size_t slot, uint32_t inc, struct fk_env *env)
{
	struct fk_ev ev = {t, c->seq++, env, inc, (uint8_t)kind,
	    (uint8_t)slot};
	size_t i;

	c->heap = fk_grow(c->heap, &c->capheap, c->nheap + 1, sizeof(ev));
	i = c->nheap++;
	while (i > 0) {
		size_t p = (i - 1) / 2;
		struct fk_ev *q = &c->heap[p];

		if (q->t < ev.t || (q->t == ev.t && q->seq < ev.seq))
			break;
		c->heap[i] = *q;
		i = p;
	}
	c->heap[i] = ev;
}

static bool
fk_ev_less(const struct fk_ev *a, const struct fk_ev *b)
{
	return a->t < b->t || (a->t == b->t && a->seq < b->seq);
}

static struct fk_ev
fk_heap_pop(struct fk_cluster *c)
{
	struct fk_ev top = c->heap[0], last = c->heap[--c->nheap];
	size_t i = 0;

	for (;;) {
		size_t l = 2 * i + 1, m = i;

		if (l >= c->nheap)
			break;
		m = l;
		if (l + 1 < c->nheap &&
		    fk_ev_less(&c->heap[l + 1], &c->heap[l]))
			m = l + 1;
		if (!fk_ev_less(&c->heap[m], &last))
			break;
		c->heap[i] = c->heap[m];
		i = m;
	}
	if (c->nheap > 0)
		c->heap[i] = last;
	return top;
}

static void
fk_env_free(struct fk_env *e)
{
	if (e == NULL)
		return;
	if (e->m.type != 0)
		raft_msg_free(&e->m);
	free(e->snap);
	free(e);
}

/* --- entries and digests -------------------------------------------------- */

static uint64_t
fk_digest(uint8_t type, const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL ^ type;
	size_t i;

	for (i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	return fk_mix(h ^ n);
}

static uint64_t
fk_chain(uint64_t hash, uint64_t index, uint64_t term, uint64_t digest)
{
	return fk_mix(hash ^ fk_mix(index * 0x9e3779b97f4a7c15ULL ^
				      term * 0xc2b2ae3d27d4eb4fULL ^ digest));
}

static void
fk_put64(uint8_t *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t
fk_get64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static void
fk_entry_copy(struct raft_entry *dst, const struct raft_entry *src)
{
	*dst = *src;
	dst->data = NULL;
	if (src->len > 0) {
		dst->data = malloc(src->len);
		if (dst->data == NULL)
			abort();
		memcpy(dst->data, src->data, src->len);
	}
}

/* --- store helpers -------------------------------------------------------- */

static uint64_t
fk_store_last(const struct fk_store *st)
{
	if (st->n > 0)
		return st->log[st->n - 1].index;
	return st->has_snap ? st->snap_index : 0;
}

/* fk_store_term - the stored term at index, or false if not stored */
static bool
fk_store_term(const struct fk_store *st, uint64_t index, uint64_t *term)
{
	if (index == 0) {
		*term = 0;
		return true;
	}
	if (st->n > 0 && index >= st->log[0].index &&
	    index <= st->log[st->n - 1].index) {
		*term = st->log[index - st->log[0].index].term;
		return true;
	}
	if (st->has_snap && index == st->snap_index) {
		*term = st->snap_term;
		return true;
	}
	return false;
}

/* fk_store_truncate - drop stored entries with index >= from */
static void
fk_store_truncate(struct fk_store *st, uint64_t from)
{
	while (st->n > 0 && st->log[st->n - 1].index >= from) {
		st->n--;
		free(st->log[st->n].data);
	}
}

/* fk_store_drop_prefix - drop stored entries with index <= upto */
static void
fk_store_drop_prefix(struct fk_store *st, uint64_t upto)
{
	size_t k = 0;

	while (k < st->n && st->log[k].index <= upto)
		free(st->log[k++].data);
	if (k > 0) {
		memmove(st->log, st->log + k, (st->n - k) * sizeof(*st->log));
		st->n -= k;
	}
}

static void
fk_store_free(struct fk_store *st)
{
	fk_store_truncate(st, 0);
	free(st->log);
	memset(st, 0, sizeof(*st));
}

static bool
fk_cfg_equal(const struct fk_sm *sm, const struct raft_config *cfg)
{
	size_t i;

	if (sm->ncfg != cfg->n)
		return false;
	for (i = 0; i < cfg->n; i++)
		if (sm->cfg[i].id != cfg->servers[i].id ||
		    sm->cfg[i].suffrage != cfg->servers[i].suffrage)
			return false;
	return true;
}

/* --- the cluster ---------------------------------------------------------- */

static struct fk_server *
fk_srv(struct fk_cluster *c, uint64_t id)
{
	if (id == RAFT_NONE || id > c->ns)
		return NULL;
	return &c->s[id - 1];
}

static size_t
fk_slot(const struct fk_cluster *c, const struct fk_server *s)
{
	return (size_t)(s - c->s);
}

/* fk_new - an empty cluster; opt is the template for every server. */
static struct fk_cluster *
fk_new(uint64_t seed, const struct raft_options *opt, bool verbose)
{
	struct fk_cluster *c = calloc(1, sizeof(*c));

	if (c == NULL)
		abort();
	c->seed = seed;
	c->rng.s = fk_mix(seed ^ 0x5eed5eed5eedULL);
	c->opt = *opt;
	c->verbose = verbose;
	c->lat_min = 15;
	c->lat_max = 15;
	c->decommission_ms = 500;
	return c;
}

static void
fk_schedule_tick(struct fk_cluster *c, struct fk_server *s)
{
	uint64_t k = c->now < s->tick_off
			 ? 0
			 : (c->now - s->tick_off) / s->tick_ms + 1;

	fk_heap_push(c, s->tick_off + k * s->tick_ms, FK_EV_TICK,
	    fk_slot(c, s), s->inc, NULL);
}

static struct raft *
fk_raft_new(struct fk_cluster *c, struct fk_server *s)
{
	struct raft_options o = c->opt;
	struct raft *r;

	o.id = s->id;
	o.seed = fk_next(&c->rng);
	r = raft_new(&o);
	if (r == NULL)
		fk_fail(c, "Setup", "raft_new(S%" PRIu64 ") returned NULL",
		    s->id);
	return r;
}

/* fk_add_slot - a brand-new server with an empty store, started. */
static struct fk_server *
fk_add_slot(struct fk_cluster *c)
{
	struct fk_server *s;

	if (c->ns >= FK_MAX)
		return NULL;
	s = &c->s[c->ns++];
	memset(s, 0, sizeof(*s));
	s->id = c->ns;
	s->tick_off = (unsigned)fk_below(&c->rng, FK_TICK_MS);
	s->tick_ms = FK_TICK_MS;
	if (c->skew_pct > 0) /* a clock up to skew_pct % fast or slow */
		s->tick_ms = (unsigned)fk_range(&c->rng,
		    FK_TICK_MS - FK_TICK_MS * c->skew_pct / 100,
		    FK_TICK_MS + FK_TICK_MS * c->skew_pct / 100);
	s->r = fk_raft_new(c, s);
	if (s->r == NULL)
		return NULL;
	s->state = FK_UP;
	s->seen_role = -1;
	fk_schedule_tick(c, s);
	return s;
}

static void fk_drain(struct fk_cluster *c, struct fk_server *s);
static void fk_check(struct fk_cluster *c);

static void
fk_server_addr(uint64_t id, char *addr)
{
	snprintf(addr, RAFT_ADDR_LEN, "10.0.0.%" PRIu64 ":8300", id);
}

/* fk_bootstrap - n voters 1..n, each bootstrapped with the same
 * configuration and its first ready stored at time 0. */
static void
fk_bootstrap(struct fk_cluster *c, size_t n)
{
	struct raft_server srv[FK_MAX];
	struct raft_config cfg = {srv, n};
	size_t i;
	int rc;

	memset(srv, 0, sizeof(srv));
	for (i = 0; i < n; i++) {
		srv[i].id = i + 1;
		srv[i].suffrage = RAFT_VOTER;
		fk_server_addr(i + 1, srv[i].addr);
	}
	for (i = 0; i < n; i++)
		if (fk_add_slot(c) == NULL)
			return;
	for (i = 0; i < n && !c->failed; i++) {
		struct fk_server *s = &c->s[i];
		unsigned disk;

		rc = raft_bootstrap(s->r, &cfg);
		if (rc != 0) {
			fk_fail(c, "Setup", "raft_bootstrap(S%zu) = %d", i + 1,
			    rc);
			return;
		}
		disk = s->disk_ms;
		s->disk_ms = 0;
		fk_drain(c, s);
		s->disk_ms = disk;
	}
	fk_check(c);
}

/* --- network -------------------------------------------------------------- */

static void
fk_send(struct fk_cluster *c, struct fk_server *from, const struct raft_msg *m)
{
	struct fk_server *to = fk_srv(c, m->to);
	int copies = 1, k;

	c->n_msgs++;
	if (m->type < FK_NTYPES)
		c->sent[fk_slot(c, from)][m->type]++;
	if (to == NULL || to == from) {
		fk_trace_msg(c, "drop(no such peer)", m, c->now);
		return;
	}
	if (c->loss_pct > 0 && fk_pct(&c->rng, c->loss_pct)) {
		fk_trace_msg(c, "lost", m, c->now);
		return;
	}
	if (c->dup_pct > 0 && fk_pct(&c->rng, c->dup_pct))
		copies = 2;
	for (k = 0; k < copies; k++) {
		struct fk_env *e = calloc(1, sizeof(*e));
		uint64_t at;
		int rc;

		if (e == NULL)
			abort();
		at = c->now + fk_range(&c->rng, c->lat_min, c->lat_max);
		rc = raft_msg_copy(&e->m, m);
		if (rc != 0) {
			free(e);
			fk_fail(c, "Setup", "raft_msg_copy = %d", rc);
			return;
		}
		if (m->type == RAFT_MSG_SNAPSHOT) {
			e->snap = malloc(sizeof(*e->snap));
			if (e->snap == NULL)
				abort();
			*e->snap = from->st.snap_sm;
		}
		fk_trace_msg(c, k ? "send(dup)" : "send", m, at);
		fk_heap_push(c, at, FK_EV_MSG, fk_slot(c, to), 0, e);
	}
}

/* --- crash, restart, shutdown --------------------------------------------- */

static void
fk_forget_volatile(struct fk_cluster *c, struct fk_server *s)
{
	size_t i;

	while (s->in_head != NULL) {
		struct fk_env *e = s->in_head;

		s->in_head = e->next;
		fk_env_free(e);
	}
	s->in_tail = NULL;
	for (i = 0; i < s->nstash; i++)
		free(s->stash[i]);
	s->nstash = 0;
	/* a client of a crashed server never learns the outcome */
	for (i = 0; i < s->npend; i++) {
		c->props[s->pend[i] - 1].status = FK_P_LOST;
		c->n_lost++;
	}
	s->npend = 0;
	for (i = 0; i < c->n_reads; i++) {
		struct fk_read *rd = &c->reads[i];

		if (rd->slot == fk_slot(c, s) && rd->inc == s->inc &&
		    (rd->status == FK_R_ISSUED || rd->status == FK_R_WAITING))
			rd->status = FK_R_LOST;
	}
	s->nwait = 0;
	raft_free(s->r);
	s->r = NULL;
	s->busy = false;
	s->inc++;
	s->seen_role = -1;
	s->seen_term = 0;
	s->seen_commit = 0;
	s->la_term = 0;
	s->wrote_leader_term = 0;
}

/* fk_crash - drop everything not stored; restart after `restart_ms`
 * (0: stays down until fk_restart). */
static void
fk_crash(struct fk_cluster *c, struct fk_server *s, uint64_t restart_ms)
{
	if (s->state != FK_UP)
		return;
	FK_TRACE(c, "S%" PRIu64 " CRASH%s (restart in %" PRIu64 " ms)", s->id,
	    s->busy ? " with a batch on disk" : "", restart_ms);
	c->n_crashes++;
	fk_forget_volatile(c, s);
	s->state = FK_DOWN;
	if (restart_ms > 0)
		fk_heap_push(c, c->now + restart_ms, FK_EV_RESTART,
		    fk_slot(c, s), s->inc, NULL);
	c->steps++;
	fk_check(c);
}

/* fk_restart - raft_new + raft_load from the store. */
static void
fk_restart(struct fk_cluster *c, struct fk_server *s)
{
	struct fk_store *st = &s->st;
	struct raft_snapshot_meta meta;
	size_t k = 0;
	int rc;

	if (s->state != FK_DOWN || s->removed)
		return;
	s->r = fk_raft_new(c, s);
	if (s->r == NULL)
		return;
	memset(&meta, 0, sizeof(meta));
	if (st->has_snap) {
		meta.index = st->snap_index;
		meta.term = st->snap_term;
		meta.config.servers = st->snap_sm.cfg;
		meta.config.n = st->snap_sm.ncfg;
		while (k < st->n && st->log[k].index <= st->snap_index)
			k++;
	}
	if (st->term > 0 || st->has_snap || st->n > 0) {
		rc = raft_load(s->r, st->term, st->vote,
		    st->has_snap ? &meta : NULL, st->n > k ? st->log + k : NULL,
		    st->n - k, st->sm.applied);
		if (rc != 0) {
			fk_fail(c, "Restart",
			    "raft_load(S%" PRIu64 ", term %" PRIu64
			    ", snap %" PRIu64 ", %zu entries from %" PRIu64
			    ", applied %" PRIu64 ") = %d",
			    s->id, st->term, st->has_snap ? st->snap_index : 0,
			    st->n - k, st->n > k ? st->log[k].index : 0,
			    st->sm.applied, rc);
			return;
		}
	}
	s->state = FK_UP;
	s->seen_commit = st->sm.applied;
	FK_TRACE(c,
	    "S%" PRIu64 " RESTART term=%" PRIu64 " vote=%" PRIu64
	    " snap=%" PRIu64 " log=[%" PRIu64 "..%" PRIu64 "] applied=%" PRIu64,
	    s->id, st->term, st->vote, st->has_snap ? st->snap_index : 0,
	    st->n > k ? st->log[k].index : 0, fk_store_last(st),
	    st->sm.applied);
	fk_schedule_tick(c, s);
	fk_drain(c, s);
	c->steps++;
	fk_check(c);
}

/* fk_shutdown - a removed server is decommissioned for good. */
static void
fk_shutdown(struct fk_cluster *c, struct fk_server *s)
{
	FK_TRACE(c, "S%" PRIu64 " decommissioned", s->id);
	if (s->state == FK_UP)
		fk_forget_volatile(c, s);
	s->state = FK_GONE;
	fk_store_free(&s->st);
}

/* --- the ready batch: persist, send, apply, reads, advance ---------------- */

static struct fk_arec *
fk_ap_at(struct fk_cluster *c, uint64_t index)
{
	c->ap = fk_grow(c->ap, &c->n_ap, index + 1, sizeof(*c->ap));
	return &c->ap[index];
}

static struct fk_crec *
fk_cm_at(struct fk_cluster *c, uint64_t index)
{
	c->cm = fk_grow(c->cm, &c->n_cm, index + 1, sizeof(*c->cm));
	return &c->cm[index];
}

/* Log Matching, incrementally: the pair (index, term) names one entry,
 * with one content and one predecessor term, on every server (thesis
 * 3.5).  By induction this is the Log Matching Property; it is checked
 * for every entry any server stores. */
static void
fk_lm_check(struct fk_cluster *c, struct fk_server *s,
    const struct raft_entry *e, uint64_t prev_term, uint64_t digest)
{
	size_t mask, i;

	if (2 * (c->lm_n + 1) > c->lm_cap) {
		struct fk_lm *old = c->lm;
		size_t oldcap = c->lm_cap, k;

		c->lm_cap = oldcap ? oldcap * 2 : 1024;
		c->lm = calloc(c->lm_cap, sizeof(*c->lm));
		if (c->lm == NULL)
			abort();
		for (k = 0; k < oldcap; k++) {
			if (old[k].index == 0)
				continue;
			i = fk_mix(old[k].index * 31 + old[k].term) &
			    (c->lm_cap - 1);
			while (c->lm[i].index != 0)
				i = (i + 1) & (c->lm_cap - 1);
			c->lm[i] = old[k];
		}
		free(old);
	}
	mask = c->lm_cap - 1;
	i = fk_mix(e->index * 31 + e->term) & mask;
	while (c->lm[i].index != 0) {
		struct fk_lm *l = &c->lm[i];

		if (l->index == e->index && l->term == e->term) {
			if (l->digest != digest)
				fk_fail(c, "Log Matching",
				    "S%" PRIu64 " stored entry %" PRIu64
				    "/term %" PRIu64
				    " with different content than another "
				    "server's entry of the same index and term",
				    s->id, e->index, e->term);
			else if (prev_term != FK_UNKNOWN &&
				 l->prev_term != FK_UNKNOWN &&
				 prev_term != l->prev_term)
				fk_fail(c, "Log Matching",
				    "S%" PRIu64 " stored entry %" PRIu64
				    "/term %" PRIu64
				    " after an entry of term %" PRIu64
				    ", another server has it after term "
				    "%" PRIu64,
				    s->id, e->index, e->term, prev_term,
				    l->prev_term);
			else if (l->prev_term == FK_UNKNOWN)
				l->prev_term = prev_term;
			return;
		}
		i = (i + 1) & mask;
	}
	c->lm[i].index = e->index;
	c->lm[i].term = e->term;
	c->lm[i].prev_term = prev_term;
	c->lm[i].digest = digest;
	c->lm_n++;
}

static void
fk_persist_entries(struct fk_cluster *c, struct fk_server *s)
{
	const struct raft_ready *rd = &s->rd;
	struct fk_store *st = &s->st;
	uint64_t e0 = rd->entries[0].index, last = fk_store_last(st);
	uint64_t n = rd->n_entries, i, prev;
	bool as_leader = rd->role == RAFT_LEADER &&
			 s->wrote_leader_term == s->rd_term;
	size_t k;

	if (e0 == 0 || e0 > last + 1) {
		fk_fail(c, "Ready contract",
		    "S%" PRIu64 " ready entries start at %" PRIu64
		    " but the stored log ends at %" PRIu64 " (a gap)",
		    s->id, e0, last);
		return;
	}
	if (st->has_snap && e0 <= st->snap_index) {
		fk_fail(c, "Ready contract",
		    "S%" PRIu64 " ready entries start at %" PRIu64
		    ", inside the snapshot (up to %" PRIu64 ")",
		    s->id, e0, st->snap_index);
		return;
	}
	if (!fk_store_term(st, e0 - 1, &prev))
		prev = FK_UNKNOWN;
	for (k = 0; k < n; k++) {
		const struct raft_entry *e = &rd->entries[k];

		if (e->index != e0 + k) {
			fk_fail(c, "Ready contract",
			    "S%" PRIu64
			    " ready entries not contiguous: %" PRIu64
			    " at position %zu after %" PRIu64,
			    s->id, e->index, k, e0);
			return;
		}
		if ((prev != FK_UNKNOWN && e->term < prev) ||
		    e->term > s->rd_term) {
			fk_fail(c, "Log terms",
			    "S%" PRIu64 " stores entry %" PRIu64
			    " of term %" PRIu64
			    " after an entry of term %" PRIu64
			    " while in term %" PRIu64,
			    s->id, e->index, e->term, prev, s->rd_term);
			return;
		}
		if (e->type < RAFT_ENTRY_COMMAND || e->type > RAFT_ENTRY_NOOP) {
			fk_fail(c, "Log", "S%" PRIu64 " entry %" PRIu64
			    " has type %u", s->id, e->index, e->type);
			return;
		}
		prev = e->term;
	}
	/* what the batch overwrites (different term) or deletes */
	for (i = e0; i <= last; i++) {
		uint64_t old, nt = 0;
		bool deleted = i >= e0 + n;

		if (!deleted)
			nt = rd->entries[i - e0].term;
		if (!fk_store_term(st, i, &old) || (!deleted && old == nt))
			continue;
		if (i <= st->sm.applied) {
			fk_fail(c, "State Machine Safety",
			    "S%" PRIu64 " %s applied entry %" PRIu64
			    " (term %" PRIu64 ")",
			    s->id, deleted ? "deletes" : "overwrites", i, old);
			return;
		}
		if (as_leader) {
			fk_fail(c, "Leader Append-Only",
			    "S%" PRIu64 ", leader of term %" PRIu64
			    ", %s its entry %" PRIu64 " (term %" PRIu64 ")",
			    s->id, s->rd_term,
			    deleted ? "deletes" : "overwrites", i, old);
			return;
		}
	}
	if (!fk_store_term(st, e0 - 1, &prev))
		prev = FK_UNKNOWN;
	for (k = 0; k < n && !c->failed; k++) {
		const struct raft_entry *e = &rd->entries[k];

		fk_lm_check(c, s, e, prev, fk_digest(e->type, e->data, e->len));
		prev = e->term;
	}
	fk_store_truncate(st, e0);
	st->log = fk_grow(st->log, &st->cap, st->n + n, sizeof(*st->log));
	for (k = 0; k < n; k++)
		fk_entry_copy(&st->log[st->n++], &rd->entries[k]);
}

static void
fk_serve_read(struct fk_cluster *c, struct fk_server *s, struct fk_read *rd)
{
	const struct fk_sm *sm = &s->st.sm;
	uint64_t i, want = 0;

	/* the value of the key after the last write at or below applied,
	 * from the global record of applied entries */
	for (i = sm->applied < c->n_ap ? sm->applied : 0; i > 0; i--) {
		const struct fk_arec *a = &c->ap[i];

		if (a->set && a->type == RAFT_ENTRY_COMMAND &&
		    a->key == rd->key) {
			want = a->val;
			break;
		}
	}
	if (sm->kv[rd->key] != want)
		fk_fail(c, "ReadIndex",
		    "S%" PRIu64 " read key %u = %" PRIu64 " at applied %" PRIu64
		    ", the log says %" PRIu64,
		    s->id, rd->key, sm->kv[rd->key], sm->applied, want);
	if (sm->applied < rd->watermark)
		fk_fail(c, "ReadIndex linearizability",
		    "S%" PRIu64 " served read ctx %" PRIu64
		    " at applied %" PRIu64
		    ", below write %" PRIu64
		    " acknowledged before the read was issued",
		    s->id, rd->ctx, sm->applied, rd->watermark);
	rd->value = sm->kv[rd->key];
	rd->status = FK_R_SERVED;
	c->n_reads_served++;
	FK_TRACE(c,
	    "S%" PRIu64 " read ctx %" PRIu64 " served at %" PRIu64
	    " (index %" PRIu64 ", watermark %" PRIu64 "): k%u=%" PRIu64,
	    s->id, rd->ctx, sm->applied, rd->index, rd->watermark, rd->key,
	    rd->value);
}

static void
fk_serve_waiting(struct fk_cluster *c, struct fk_server *s)
{
	size_t i;

	for (i = 0; i < c->n_reads && s->nwait > 0; i++) {
		struct fk_read *rd = &c->reads[i];

		if (rd->slot == fk_slot(c, s) && rd->inc == s->inc &&
		    rd->status == FK_R_WAITING &&
		    rd->index <= s->st.sm.applied) {
			s->nwait--;
			fk_serve_read(c, s, rd);
		}
	}
}

static void
fk_apply_config(struct fk_cluster *c, struct fk_server *s,
    const struct raft_entry *e)
{
	struct fk_sm *sm = &s->st.sm;
	struct raft_config cfg;
	size_t i, j;
	int rc;

	memset(&cfg, 0, sizeof(cfg));
	rc = raft_config_decode(e->data, e->len, &cfg);
	if (rc != 0 || cfg.n > FK_MAX) {
		fk_fail(c, "Config", "S%" PRIu64 " cannot decode config entry %"
		    PRIu64 " (%d, %zu servers)", s->id, e->index, rc, cfg.n);
		raft_config_free(&cfg);
		return;
	}
	/* who this committed configuration leaves out is gone for good */
	for (i = 0; i < sm->ncfg; i++) {
		struct fk_server *x = fk_srv(c, sm->cfg[i].id);

		for (j = 0; j < cfg.n; j++)
			if (cfg.servers[j].id == sm->cfg[i].id)
				break;
		if (j < cfg.n || x == NULL || x->removed)
			continue;
		x->removed = true;
		FK_TRACE(c, "S%" PRIu64 " removed (committed at %" PRIu64 ")",
		    x->id, e->index);
		if (c->decommission)
			fk_heap_push(c,
			    c->now + fk_below(&c->rng, c->decommission_ms + 1),
			    FK_EV_SHUTDOWN, fk_slot(c, x), 0, NULL);
	}
	for (j = 0; j < cfg.n; j++)
		if (fk_srv(c, cfg.servers[j].id) == NULL)
			fk_fail(c, "Config",
			    "config entry %" PRIu64
			    " names unknown server %" PRIu64,
			    e->index, cfg.servers[j].id);
	sm->ncfg = cfg.n;
	if (cfg.n > 0)
		memcpy(sm->cfg, cfg.servers, cfg.n * sizeof(*cfg.servers));
	raft_config_free(&cfg);
}

static void
fk_apply_command(struct fk_cluster *c, struct fk_server *s,
    const struct raft_entry *e, uint64_t digest, struct fk_arec *a)
{
	struct fk_sm *sm = &s->st.sm;
	uint64_t id, val;
	struct fk_prop *p;
	size_t i;

	if (e->len != FK_CMD_LEN || e->data[0] != 'C' ||
	    e->data[1] >= FK_KEYS) {
		fk_fail(c, "State machine",
		    "S%" PRIu64 " applies a malformed command at %" PRIu64,
		    s->id, e->index);
		return;
	}
	id = fk_get64(e->data + 2);
	val = fk_get64(e->data + 10);
	sm->kv[e->data[1]] = val;
	sm->count++;
	a->key = e->data[1];
	a->val = val;
	if (id == 0 || id > c->n_props) {
		fk_fail(c, "State machine", "S%" PRIu64 " applies command id %"
		    PRIu64 " that was never proposed", s->id, id);
		return;
	}
	p = &c->props[id - 1];
	if (p->digest != digest) {
		fk_fail(c, "State Machine Safety",
		    "S%" PRIu64 " applies command %" PRIu64
		    " at %" PRIu64 " with other content than proposed",
		    s->id, id, e->index);
		return;
	}
	if (p->index != e->index) {
		fk_fail(c, "State Machine Safety",
		    "command %" PRIu64 " proposed at index %" PRIu64
		    " applied at %" PRIu64 " on S%" PRIu64,
		    id, p->index, e->index, s->id);
		return;
	}
	p->applied_at = e->index;
	/* the proposer's clients learn the outcome when it applies there */
	for (i = 0; i < s->npend; i++) {
		struct fk_prop *q = &c->props[s->pend[i] - 1];

		if (q->index != e->index)
			continue;
		if (q == p && q->term == e->term) {
			q->status = FK_P_ACKED;
			c->n_acked++;
			if (q->index > c->acked_max)
				c->acked_max = q->index;
			FK_TRACE(c, "S%" PRIu64 " ACK command %" PRIu64 " at %"
			    PRIu64 "/%" PRIu64, s->id, id, e->index, e->term);
		} else {
			q->status = FK_P_FAILED;
			c->n_failed++;
		}
		s->pend[i--] = s->pend[--s->npend];
	}
}

static void
fk_apply(struct fk_cluster *c, struct fk_server *s, const struct raft_entry *e)
{
	struct fk_sm *sm = &s->st.sm;
	uint64_t digest = fk_digest(e->type, e->data, e->len), t;
	struct fk_arec *a, mine;
	struct fk_crec *cr;
	size_t i;

	if (e->index != sm->applied + 1) {
		fk_fail(c, "Ready contract",
		    "S%" PRIu64 " is given entry %" PRIu64
		    " to apply after applying %" PRIu64,
		    s->id, e->index, sm->applied);
		return;
	}
	if (e->index > s->rd.commit) {
		fk_fail(c, "Ready contract",
		    "S%" PRIu64 " is given entry %" PRIu64
		    " to apply above its commit index %" PRIu64,
		    s->id, e->index, s->rd.commit);
		return;
	}
	if (!fk_store_term(&s->st, e->index, &t) || t != e->term) {
		fk_fail(c, "Ready contract",
		    "S%" PRIu64 " applies entry %" PRIu64 "/term %" PRIu64
		    " that is not in its stored log",
		    s->id, e->index, e->term);
		return;
	}
	memset(&mine, 0, sizeof(mine));
	mine.term = e->term;
	mine.digest = digest;
	mine.type = e->type;
	if (e->type == RAFT_ENTRY_COMMAND)
		fk_apply_command(c, s, e, digest, &mine);
	else if (e->type == RAFT_ENTRY_CONFIG)
		fk_apply_config(c, s, e);
	sm->hash = fk_chain(sm->hash, e->index, e->term, digest);
	sm->applied = e->index;
	sm->applied_term = e->term;
	mine.hash = sm->hash;
	mine.by = (uint8_t)s->id;
	mine.set = true;
	a = fk_ap_at(c, e->index);
	if (!a->set)
		*a = mine;
	else if (a->term != mine.term || a->digest != mine.digest)
		fk_fail(c, "State Machine Safety",
		    "S%" PRIu64 " applied entry %" PRIu64 "/term %" PRIu64
		    " but S%u applied term %" PRIu64 " (or other content)"
		    " at that index",
		    s->id, e->index, e->term, a->by, a->term);
	else if (a->hash != mine.hash)
		fk_fail(c, "State Machine Safety",
		    "S%" PRIu64 " state after applying %" PRIu64
		    " differs from S%u's", s->id, e->index, a->by);
	cr = fk_cm_at(c, e->index);
	if (cr->set && cr->term != e->term)
		fk_fail(c, "State Machine Safety",
		    "S%" PRIu64 " applied %" PRIu64 "/term %" PRIu64
		    ", committed with term %" PRIu64,
		    s->id, e->index, e->term, cr->term);
	for (i = 0; i < s->npend; i++)
		if (c->props[s->pend[i] - 1].index <= e->index) {
			/* the index was applied without its command */
			c->props[s->pend[i] - 1].status = FK_P_FAILED;
			c->n_failed++;
			s->pend[i--] = s->pend[--s->npend];
		}
	if (s->nwait > 0)
		fk_serve_waiting(c, s);
}

/* fk_install - rd.snapshot: restore the state machine from the payload
 * that came with the RAFT_MSG_SNAPSHOT message; the log restarts after
 * it. */
static void
fk_install(struct fk_cluster *c, struct fk_server *s)
{
	const struct raft_snapshot_meta *m = s->rd.snapshot;
	struct fk_store *st = &s->st;
	struct fk_sm *p = NULL;
	size_t i, k;

	for (i = 0; i < s->nstash; i++)
		if (s->stash[i]->applied == m->index &&
		    s->stash[i]->applied_term == m->term)
			p = s->stash[i];
	if (p == NULL) {
		fk_fail(c, "Snapshot",
		    "S%" PRIu64 " ready installs snapshot %" PRIu64
		    "/term %" PRIu64 " that it never received",
		    s->id, m->index, m->term);
		return;
	}
	if (m->index <= st->sm.applied) {
		fk_fail(c, "Snapshot",
		    "S%" PRIu64 " installs snapshot %" PRIu64
		    " over applied %" PRIu64 " (state machine goes back)",
		    s->id, m->index, st->sm.applied);
		return;
	}
	if (!fk_cfg_equal(p, &m->config)) {
		fk_fail(c, "Snapshot",
		    "S%" PRIu64 " snapshot %" PRIu64
		    " meta configuration (%zu servers) differs from the "
		    "configuration applied at that index (%zu servers)",
		    s->id, m->index, m->config.n, p->ncfg);
		return;
	}
	if (m->index < c->n_ap && c->ap[m->index].set &&
	    c->ap[m->index].hash != p->hash) {
		fk_fail(c, "State Machine Safety",
		    "S%" PRIu64 " installs a snapshot at %" PRIu64
		    " whose state differs from what S%u applied",
		    s->id, m->index, c->ap[m->index].by);
		return;
	}
	FK_TRACE(c, "S%" PRIu64 " installs snapshot %" PRIu64 "/%" PRIu64,
	    s->id, m->index, m->term);
	c->n_snap_installs++;
	st->sm = *p;
	st->snap_sm = *p;
	st->has_snap = true;
	st->snap_index = m->index;
	st->snap_term = m->term;
	fk_store_truncate(st, 0);
	/* drop this payload and older ones */
	for (i = k = 0; i < s->nstash; i++) {
		if (s->stash[i]->applied <= m->index)
			free(s->stash[i]);
		else
			s->stash[k++] = s->stash[i];
	}
	s->nstash = k;
	/* proposals at or below it were not applied here: outcome unknown */
	for (i = 0; i < s->npend; i++)
		if (c->props[s->pend[i] - 1].index <= m->index) {
			c->props[s->pend[i] - 1].status = FK_P_LOST;
			c->n_lost++;
			s->pend[i--] = s->pend[--s->npend];
		}
	if (s->nwait > 0)
		fk_serve_waiting(c, s);
}

static void
fk_check_msg(struct fk_cluster *c, struct fk_server *s,
    const struct raft_msg *m)
{
	const struct fk_store *st = &s->st;

	if (m->from != s->id) {
		fk_fail(c, "Messages",
		    "S%" PRIu64 " sends a %s with from=%" PRIu64, s->id,
		    fk_type_name(m->type), m->from);
		return;
	}
	if (m->type == 0 || m->type >= FK_NTYPES) {
		fk_fail(c, "Messages", "S%" PRIu64 " sends message type %u",
		    s->id, m->type);
		return;
	}
	/* replies may depend on what was stored: never speak in a term
	 * that is not durable yet (pre-votes excepted, thesis 9.6) */
	if (m->type != RAFT_MSG_PREVOTE && m->type != RAFT_MSG_PREVOTE_RESP &&
	    m->term > st->term) {
		fk_fail(c, "Persist before send",
		    "S%" PRIu64 " sends %s of term %" PRIu64
		    " but its stored term is %" PRIu64,
		    s->id, fk_type_name(m->type), m->term, st->term);
		return;
	}
	/* a vote of term T is durable if T and the vote are stored, or a
	 * later term is (the server can never act in T again) */
	if (m->type == RAFT_MSG_VOTE && st->term == m->term &&
	    st->vote != s->id) {
		fk_fail(c, "Persist before send",
		    "S%" PRIu64 " requests votes in term %" PRIu64
		    " with stored term %" PRIu64 " vote %" PRIu64,
		    s->id, m->term, st->term, st->vote);
		return;
	}
	if (m->type == RAFT_MSG_VOTE_RESP && !m->reject &&
	    st->term == m->term && st->vote != m->to) {
		fk_fail(c, "Persist before send",
		    "S%" PRIu64 " grants its vote to S%" PRIu64
		    " in term %" PRIu64 " with stored term %" PRIu64
		    " vote %" PRIu64,
		    s->id, m->to, m->term, st->term, st->vote);
		return;
	}
	if (m->type == RAFT_MSG_APPEND_RESP && !m->reject &&
	    m->index > fk_store_last(st)) {
		fk_fail(c, "Persist before send",
		    "S%" PRIu64 " acknowledges entries up to %" PRIu64
		    " but stored only up to %" PRIu64,
		    s->id, m->index, fk_store_last(st));
		return;
	}
	if (m->type == RAFT_MSG_SNAPSHOT &&
	    (!st->has_snap || st->snap_index != m->snap_index ||
		st->snap_term != m->snap_term))
		fk_fail(c, "Snapshot",
		    "S%" PRIu64 " sends snapshot %" PRIu64 "/%" PRIu64
		    " but its stored snapshot is %" PRIu64 "/%" PRIu64,
		    s->id, m->snap_index, m->snap_term,
		    st->has_snap ? st->snap_index : 0,
		    st->has_snap ? st->snap_term : 0);
}

static void
fk_reads(struct fk_cluster *c, struct fk_server *s)
{
	size_t i, j;

	for (i = 0; i < s->rd.n_reads; i++) {
		const struct raft_read *r = &s->rd.reads[i];
		struct fk_read *rd = NULL;

		/* ctx is the read's position + 1 */
		if (r->ctx >= 1 && r->ctx <= c->n_reads)
			rd = &c->reads[r->ctx - 1];
		if (rd == NULL || rd->slot != fk_slot(c, s) ||
		    rd->inc != s->inc || rd->status != FK_R_ISSUED) {
			fk_fail(c, "ReadIndex",
			    "S%" PRIu64 " answers read ctx %" PRIu64
			    " it was not asked (or twice)",
			    s->id, r->ctx);
			return;
		}
		rd->index = r->index;
		if (!r->ok) {
			rd->status = FK_R_FAILED;
			FK_TRACE(c, "S%" PRIu64 " read ctx %" PRIu64 " failed",
			    s->id, r->ctx);
			continue;
		}
		for (j = 0; j < c->ns; j++)
			if (c->resp_from[fk_slot(c, s)][j] > rd->resp_mark[j])
				rd->peers_heard++;
		if (r->index < rd->watermark) {
			fk_fail(c, "ReadIndex linearizability",
			    "S%" PRIu64 " gives read ctx %" PRIu64
			    " index %" PRIu64 ", below write %" PRIu64
			    " acknowledged before the read was issued",
			    s->id, r->ctx, r->index, rd->watermark);
			return;
		}
		if (r->index <= s->st.sm.applied) {
			fk_serve_read(c, s, rd);
		} else {
			rd->status = FK_R_WAITING;
			s->nwait++;
		}
	}
}

static void
fk_compact(struct fk_cluster *c, struct fk_server *s)
{
	struct fk_store *st = &s->st;
	uint64_t applied = st->sm.applied, base;
	int rc;

	base = st->has_snap ? st->snap_index : 0;
	if (c->compact_every == 0 || applied < base + c->compact_every)
		return;
	rc = raft_compact(s->r, applied, c->compact_keep);
	if (rc != 0) {
		fk_fail(c, "Compaction",
		    "S%" PRIu64 " raft_compact(%" PRIu64 ", keep %u) = %d",
		    s->id, applied, c->compact_keep, rc);
		return;
	}
	c->n_compactions++;
	st->has_snap = true;
	st->snap_index = applied;
	st->snap_term = st->sm.applied_term;
	st->snap_sm = st->sm;
	if (applied > c->compact_keep)
		fk_store_drop_prefix(st, applied - c->compact_keep);
	FK_TRACE(c, "S%" PRIu64 " compacts to %" PRIu64 " keeping %u", s->id,
	    applied, c->compact_keep);
}

/* fk_complete - the ready batch reached the disk: the four steps of
 * raft.h, then raft_advance. */
static void
fk_complete(struct fk_cluster *c, struct fk_server *s)
{
	struct raft_ready *rd = &s->rd;
	struct fk_store *st = &s->st;
	size_t i;

	if (c->verbose)
		fk_trace(c,
		    "S%" PRIu64 " ready: %s t%" PRIu64 "%s%s snap=%" PRIu64
		    " entries=%zu[%" PRIu64 "..] msgs=%zu apply=%zu[%" PRIu64
		    "..] reads=%zu commit=%" PRIu64,
		    s->id, raft_role_name(rd->role), s->rd_term,
		    rd->hard_state_changed ? " hs" : "",
		    rd->hard_state_changed && rd->vote ? " voted" : "",
		    rd->snapshot ? rd->snapshot->index : 0, rd->n_entries,
		    rd->n_entries ? rd->entries[0].index : 0, rd->n_msgs,
		    rd->n_committed,
		    rd->n_committed ? rd->committed[0].index : 0, rd->n_reads,
		    rd->commit);
	/* 1. persist, in one transaction */
	if (rd->hard_state_changed) {
		if (rd->term < st->term) {
			fk_fail(c, "Term", "S%" PRIu64 " stores term %" PRIu64
			    " after term %" PRIu64, s->id, rd->term, st->term);
			return;
		}
		if (rd->term == st->term && st->vote != RAFT_NONE &&
		    rd->vote != st->vote) {
			fk_fail(c, "Election Safety",
			    "S%" PRIu64 " votes for S%" PRIu64
			    " in term %" PRIu64
			    " after voting for S%" PRIu64,
			    s->id, rd->vote, rd->term, st->vote);
			return;
		}
		st->term = rd->term;
		st->vote = rd->vote;
	}
	if (rd->snapshot != NULL) {
		fk_install(c, s);
		if (c->failed)
			return;
	}
	if (rd->n_entries > 0) {
		fk_persist_entries(c, s);
		if (c->failed)
			return;
	}
	s->wrote_leader_term = rd->role == RAFT_LEADER ? s->rd_term : 0;
	/* 2. send */
	for (i = 0; i < rd->n_msgs && !c->failed; i++) {
		fk_check_msg(c, s, &rd->msgs[i]);
		if (!c->failed)
			fk_send(c, s, &rd->msgs[i]);
	}
	/* 3. apply */
	for (i = 0; i < rd->n_committed && !c->failed; i++)
		fk_apply(c, s, &rd->committed[i]);
	/* 4. reads */
	if (rd->n_reads > 0 && !c->failed)
		fk_reads(c, s);
	if (c->failed)
		return;
	raft_advance(s->r, rd);
	s->busy = false;
	if (raft_applied_index(s->r) != st->sm.applied) {
		fk_fail(c, "Ready contract",
		    "S%" PRIu64 " raft_applied_index() = %" PRIu64
		    " after raft_advance, the state machine applied %" PRIu64,
		    s->id, raft_applied_index(s->r), st->sm.applied);
		return;
	}
	fk_compact(c, s);
}

static int fk_propose_now(struct fk_cluster *c, struct fk_server *s,
    unsigned key, uint64_t val, uint64_t *idp);
static long fk_read_index_now(struct fk_cluster *c, struct fk_server *s,
    unsigned key);

/* fk_stash - keep a snapshot payload until the ready that installs it:
 * one per (index, term), the newest FK_STASH (a slow disk may queue many
 * SNAPSHOT messages, old and new, into one batch) */
static void
fk_stash(struct fk_server *s, struct fk_env *e)
{
	size_t i, low = 0;

	for (i = 0; i < s->nstash; i++) {
		if (s->stash[i]->applied == e->snap->applied &&
		    s->stash[i]->applied_term == e->snap->applied_term)
			return; /* have it; e->snap is freed with e */
		if (s->stash[i]->applied < s->stash[low]->applied)
			low = i;
	}
	if (s->nstash == FK_STASH) {
		if (s->stash[low]->applied >= e->snap->applied)
			return;
		free(s->stash[low]);
		s->stash[low] = s->stash[--s->nstash];
	}
	s->stash[s->nstash++] = e->snap;
	e->snap = NULL;
}

static void
fk_deliver_now(struct fk_cluster *c, struct fk_server *s, struct fk_env *e)
{
	size_t slot = fk_slot(c, s);
	int rc;

	if (e->op == FK_OP_PROPOSE)
		fk_propose_now(c, s, e->key, e->val, NULL);
	else if (e->op == FK_OP_READ)
		fk_read_index_now(c, s, e->key);
	else if (e->m.type == 0)
		raft_tick(s->r);
	if (e->op != FK_OP_NONE || e->m.type == 0) {
		fk_env_free(e);
		return;
	}
	fk_trace_msg(c, "recv", &e->m, c->now);
	if (e->m.type < FK_NTYPES)
		c->delivered[slot][e->m.type]++;
	if ((e->m.type == RAFT_MSG_HEARTBEAT_RESP ||
		e->m.type == RAFT_MSG_APPEND_RESP) &&
	    e->m.from >= 1 && e->m.from <= c->ns)
		c->resp_from[slot][e->m.from - 1]++;
	if (e->snap != NULL)
		fk_stash(s, e);
	rc = raft_step(s->r, &e->m);
	if (rc != 0)
		fk_fail(c, "raft_step", "S%" PRIu64 " raft_step(%s) = %d",
		    s->id, fk_type_name(e->m.type), rc);
	fk_env_free(e);
}

static void
fk_inbox_push(struct fk_server *s, struct fk_env *e)
{
	e->next = NULL;
	if (s->in_tail != NULL)
		s->in_tail->next = e;
	else
		s->in_head = e;
	s->in_tail = e;
}

/* fk_drain - the loop of raft.h: feed the inbox, then take ready batches
 * until there is none or one is held by a slow disk. */
static void
fk_drain(struct fk_cluster *c, struct fk_server *s)
{
	unsigned batches = 0, lat;

	while (s->state == FK_UP && !s->busy && !c->failed) {
		if (s->in_head != NULL) {
			struct fk_env *e = s->in_head;

			s->in_head = e->next;
			if (s->in_head == NULL)
				s->in_tail = NULL;
			fk_deliver_now(c, s, e);
			continue;
		}
		if (!raft_has_ready(s->r))
			return;
		/* between two batches: a server whose disk is always busy
		 * is observed here (fk_check skips busy servers) */
		if (batches > 0 || s->disk_ms > 0) {
			fk_check(c);
			if (c->failed)
				return;
		}
		if (++batches > FK_MAX_BATCHES) {
			fk_fail(c, "Ready loop",
			    "S%" PRIu64 " raft_has_ready() still true after %d "
			    "batches", s->id, FK_MAX_BATCHES);
			return;
		}
		s->rd_term = raft_term(s->r);
		memset(&s->rd, 0, sizeof(s->rd));
		raft_ready(s->r, &s->rd);
		lat = s->disk_ms;
		if (c->stall_pct > 0 && fk_pct(&c->rng, c->stall_pct))
			lat += (unsigned)fk_range(&c->rng, 1, c->stall_ms);
		if (lat == 0) {
			fk_complete(c, s);
		} else {
			s->busy = true;
			fk_heap_push(c, c->now + lat, FK_EV_DISK, fk_slot(c, s),
			    s->inc, NULL);
		}
	}
}

/* --- invariants after every step ------------------------------------------ */

static void
fk_la_start(struct fk_cluster *c, struct fk_server *s, uint64_t term)
{
	uint64_t first = raft_first_index(s->r), last = raft_last_index(s->r);
	uint64_t i;

	(void)c;
	if (first == 0 || first > last + 1)
		first = last + 1;
	s->la_term = term;
	s->la_first = first;
	s->la_last = first - 1;
	for (i = first; i <= last; i++) {
		const struct raft_entry *e = raft_entry_at(s->r, i);

		s->la_terms = fk_grow(s->la_terms, &s->la_cap, i - first + 1,
		    sizeof(*s->la_terms));
		s->la_terms[i - first] = e ? e->term : 0;
		s->la_last = i;
	}
}

static bool
fk_la_same(struct fk_cluster *c, struct fk_server *s, uint64_t i)
{
	const struct raft_entry *e = raft_entry_at(s->r, i);
	uint64_t want = s->la_terms[i - s->la_first];

	/* NULL below last: compacted into a snapshot, not overwritten */
	if (e == NULL || want == 0 || e->term == want)
		return true;
	fk_fail(c, "Leader Append-Only",
	    "S%" PRIu64 ", leader of term %" PRIu64 ", has entry %" PRIu64
	    " of term %" PRIu64 " where it had term %" PRIu64,
	    s->id, s->la_term, i, e->term, want);
	return false;
}

/* Leader Append-Only (thesis 3.5): checked at the old last index, at two
 * pseudo-random indexes each step, and over the whole log every 32
 * steps; the last index never goes back. */
static void
fk_la_check(struct fk_cluster *c, struct fk_server *s)
{
	uint64_t last = raft_last_index(s->r), span, i, h;
	int k;

	if (last < s->la_last) {
		fk_fail(c, "Leader Append-Only",
		    "S%" PRIu64 ", leader of term %" PRIu64
		    ", last index went from %" PRIu64 " to %" PRIu64,
		    s->id, s->la_term, s->la_last, last);
		return;
	}
	if (s->la_last >= s->la_first) {
		span = s->la_last - s->la_first + 1;
		if (!fk_la_same(c, s, s->la_last))
			return;
		h = fk_mix(c->steps ^ s->id);
		for (k = 0; k < 2; k++, h = fk_mix(h))
			if (!fk_la_same(c, s, s->la_first + h % span))
				return;
		if (c->steps % 32 == 0)
			for (i = s->la_first; i <= s->la_last; i++)
				if (!fk_la_same(c, s, i))
					return;
	}
	for (i = s->la_last + 1; i <= last; i++) {
		const struct raft_entry *e = raft_entry_at(s->r, i);

		s->la_terms = fk_grow(s->la_terms, &s->la_cap,
		    i - s->la_first + 1, sizeof(*s->la_terms));
		s->la_terms[i - s->la_first] = e ? e->term : 0;
	}
	s->la_last = last;
}

/* Leader Completeness (thesis 3.6.3): an entry committed in term c is in
 * the log of every leader of a term > c (or in its snapshot). */
static void
fk_lc_check(struct fk_cluster *c, struct fk_server *s, uint64_t term,
    uint64_t from)
{
	uint64_t last = raft_last_index(s->r), i;

	for (i = from; i <= c->commit_max && i < c->n_cm; i++) {
		const struct fk_crec *cr = &c->cm[i];
		const struct raft_entry *e;

		if (!cr->set || cr->cterm >= term)
			continue;
		e = raft_entry_at(s->r, i);
		if (i > last || (e != NULL && e->term != cr->term)) {
			fk_fail(c, "Leader Completeness",
			    "S%" PRIu64 ", leader of term %" PRIu64
			    ", lacks committed entry %" PRIu64 "/term %" PRIu64
			    " (its entry: term %" PRIu64 ", last %" PRIu64 ")",
			    s->id, term, i, cr->term, e ? e->term : 0, last);
			return;
		}
	}
}

static void
fk_commit_seen(struct fk_cluster *c, struct fk_server *s, uint64_t i,
    uint64_t term, bool settled, uint64_t *dirty)
{
	const struct raft_entry *e = raft_entry_at(s->r, i);
	struct fk_crec *cr;
	uint64_t t;

	if (e != NULL)
		t = e->term;
	else if (i <= s->st.sm.applied && i < c->n_ap && c->ap[i].set)
		t = c->ap[i].term;
	else if (i <= s->st.sm.applied || !settled)
		return; /* known elsewhere, or a snapshot not yet installed */
	else {
		fk_fail(c, "Commit",
		    "S%" PRIu64 " commit index covers %" PRIu64
		    ", which is neither in its log nor applied",
		    s->id, i);
		return;
	}
	cr = fk_cm_at(c, i);
	if (cr->set && cr->term != t) {
		fk_fail(c, "State Machine Safety",
		    "S%" PRIu64 " commits %" PRIu64 "/term %" PRIu64
		    ", another server committed term %" PRIu64,
		    s->id, i, t, cr->term);
		return;
	}
	if (!cr->set) {
		cr->set = true;
		cr->term = t;
		cr->cterm = term;
		if (i < *dirty)
			*dirty = i;
	} else if (term < cr->cterm) {
		cr->cterm = term;
	}
	if (i > c->commit_max)
		c->commit_max = i;
}

/* the core's snapshot is the one the driver stored (taken by
 * raft_compact, installed from a leader, or loaded) */
static void
fk_check_snapshot(struct fk_cluster *c, struct fk_server *s)
{
	const struct fk_store *st = &s->st;
	const struct raft_config *cfg = NULL;
	uint64_t index = 0, term = 0;

	raft_get_snapshot(s->r, &index, &term, &cfg);
	if (index != (st->has_snap ? st->snap_index : 0) ||
	    term != (st->has_snap ? st->snap_term : 0) ||
	    (st->has_snap && (cfg == NULL || !fk_cfg_equal(&st->snap_sm, cfg))))
		fk_fail(c, "Snapshot",
		    "S%" PRIu64 " core snapshot %" PRIu64 "/%" PRIu64
		    " (%zu servers) differs from the stored %" PRIu64
		    "/%" PRIu64
		    " (%zu servers)",
		    s->id, index, term, cfg ? cfg->n : 0,
		    st->has_snap ? st->snap_index : 0,
		    st->has_snap ? st->snap_term : 0, st->snap_sm.ncfg);
}

static void
fk_check(struct fk_cluster *c)
{
	struct fk_server *lease[2] = {NULL, NULL};
	uint64_t dirty = UINT64_MAX;
	size_t i, nlease = 0;

	for (i = 0; i < c->ns && !c->failed; i++) {
		struct fk_server *s = &c->s[i];
		uint64_t term, commit, last, applied, x;
		bool settled;
		int role;

		if (s->state != FK_UP || s->busy)
			continue;
		role = (int)raft_role(s->r);
		term = raft_term(s->r);
		if (role != s->seen_role || term != s->seen_term)
			FK_TRACE(c, "S%" PRIu64 " is %s in term %" PRIu64,
			    s->id, raft_role_name((enum raft_role)role), term);
		if (term < s->seen_term || term < s->st.term) {
			fk_fail(c, "Term",
			    "S%" PRIu64 " term went back to %" PRIu64
			    " (was %" PRIu64 ", stored %" PRIu64 ")",
			    s->id, term, s->seen_term, s->st.term);
			return;
		}
		s->seen_role = role;
		s->seen_term = term;
		commit = raft_commit_index(s->r);
		last = raft_last_index(s->r);
		applied = raft_applied_index(s->r);
		if (applied > commit || commit > last ||
		    commit < s->seen_commit) {
			fk_fail(c, "Commit",
			    "S%" PRIu64 " applied %" PRIu64 " commit %" PRIu64
			    " (was %" PRIu64 ") last %" PRIu64,
			    s->id, applied, commit, s->seen_commit, last);
			return;
		}
		/* the store matches the core once no ready is pending */
		settled = !raft_has_ready(s->r);
		for (x = s->seen_commit + 1; x <= commit && !c->failed; x++)
			fk_commit_seen(c, s, x, term, settled, &dirty);
		s->seen_commit = commit;
		if (settled)
			fk_check_snapshot(c, s);
		if (role != RAFT_LEADER)
			s->la_term = 0;
		if (raft_lease_valid(s->r)) {
			if (role != RAFT_LEADER) {
				fk_fail(c, "Lease",
				    "S%" PRIu64 " (%s) says its leader lease "
				    "is valid",
				    s->id,
				    raft_role_name((enum raft_role)role));
				return;
			}
			if (nlease < 2)
				lease[nlease] = s;
			nlease++;
		}
	}
	if (nlease > 1 && !c->failed)
		fk_fail(c, "Lease",
		    "S%" PRIu64 " (term %" PRIu64 ") and S%" PRIu64
		    " (term %" PRIu64 ") both hold a valid leader lease",
		    lease[0]->id, lease[0]->seen_term, lease[1]->id,
		    lease[1]->seen_term);
	for (i = 0; i < c->ns && !c->failed; i++) {
		struct fk_server *s = &c->s[i];
		uint64_t term = s->seen_term;
		const struct raft_entry *e;

		if (s->state != FK_UP || s->busy || s->seen_role != RAFT_LEADER)
			continue;
		/* Election Safety (thesis 3.6.3) */
		c->term_leader = fk_grow(c->term_leader, &c->n_term_leader,
		    term + 1, sizeof(*c->term_leader));
		if (c->term_leader[term] != RAFT_NONE &&
		    c->term_leader[term] != s->id) {
			fk_fail(c, "Election Safety",
			    "S%" PRIu64 " and S%" PRIu64
			    " are both leaders of term %" PRIu64,
			    c->term_leader[term], s->id, term);
			return;
		}
		c->term_leader[term] = s->id;
		if (s->la_term != term) {
			e = raft_entry_at(s->r, raft_last_index(s->r));
			if (e != NULL && e->term > term) {
				fk_fail(c, "Log terms",
				    "S%" PRIu64 " leads term %" PRIu64
				    " with a last entry of term %" PRIu64,
				    s->id, term, e->term);
				return;
			}
			fk_la_start(c, s, term);
			fk_lc_check(c, s, term, 1);
		} else {
			fk_la_check(c, s);
			if (dirty != UINT64_MAX && !c->failed)
				fk_lc_check(c, s, term, dirty);
		}
	}
}

/* --- events --------------------------------------------------------------- */

/* fk_step - run the next event, then check every invariant. */
static bool
fk_step(struct fk_cluster *c)
{
	struct fk_server *s;
	struct fk_ev ev;

	if (c->nheap == 0 || c->failed)
		return false;
	ev = fk_heap_pop(c);
	c->now = ev.t;
	c->steps++;
	if (c->max_steps != 0 && c->steps > c->max_steps) {
		fk_env_free(ev.env);
		fk_fail(c, "Bound", "more than %" PRIu64 " steps",
		    c->max_steps);
		return false;
	}
	s = &c->s[ev.slot];
	switch (ev.kind) {
	case FK_EV_TICK:
		if (s->state != FK_UP || ev.inc != s->inc)
			break;
		fk_heap_push(c, c->now + s->tick_ms, FK_EV_TICK, ev.slot,
		    s->inc, NULL);
		if (s->busy) {
			struct fk_env *e = calloc(1, sizeof(*e));

			if (e == NULL)
				abort();
			fk_inbox_push(s, e);
			break;
		}
		raft_tick(s->r);
		fk_drain(c, s);
		break;
	case FK_EV_MSG:
		/* fk_check_msg made sure from is the sender's id */
		if (s->state != FK_UP || c->cut[ev.env->m.from - 1][ev.slot]) {
			fk_trace_msg(c, "drop", &ev.env->m, c->now);
			fk_env_free(ev.env);
			break;
		}
		if (s->busy) {
			fk_inbox_push(s, ev.env);
			break;
		}
		fk_deliver_now(c, s, ev.env);
		fk_drain(c, s);
		break;
	case FK_EV_DISK:
		if (s->state != FK_UP || ev.inc != s->inc || !s->busy)
			break;
		fk_complete(c, s);
		fk_drain(c, s);
		break;
	case FK_EV_RESTART:
		if (ev.inc == s->inc)
			fk_restart(c, s);
		break;
	case FK_EV_SHUTDOWN:
		if (s->state != FK_GONE)
			fk_shutdown(c, s);
		break;
	}
	fk_check(c);
	return !c->failed;
}

/* fk_run_until - step until time t (events at t included). */
static void
fk_run_until(struct fk_cluster *c, uint64_t t)
{
	while (!c->failed && c->nheap > 0 && c->heap[0].t <= t)
		fk_step(c);
	if (c->now < t)
		c->now = t;
}

static void
fk_run_for(struct fk_cluster *c, uint64_t ms)
{
	fk_run_until(c, c->now + ms);
}

/* fk_run_cond - step until pred(c, arg) holds or `ms` pass; returns
 * whether it holds. */
static bool
fk_run_cond(struct fk_cluster *c, bool (*pred)(struct fk_cluster *, void *),
    void *arg, uint64_t ms)
{
	uint64_t end = c->now + ms;

	while (!c->failed && !pred(c, arg)) {
		if (c->nheap == 0 || c->heap[0].t > end) {
			c->now = end;
			return pred(c, arg);
		}
		fk_step(c);
	}
	return !c->failed;
}

static bool
fk_none_busy(struct fk_cluster *c, void *arg)
{
	size_t i;

	(void)arg;
	for (i = 0; i < c->ns; i++)
		if (c->s[i].state == FK_UP && c->s[i].busy)
			return false;
	return true;
}

/* fk_settle - step until no disk is busy (at most ms) */
static void
fk_settle(struct fk_cluster *c, uint64_t ms)
{
	fk_run_cond(c, fk_none_busy, NULL, ms);
}

/* --- driver actions (client and operator) --------------------------------- */

static bool
fk_usable(const struct fk_server *s)
{
	return s != NULL && s->state == FK_UP && !s->busy;
}

/* fk_leader - the usable leader of the highest term, or NULL */
static struct fk_server *
fk_leader(struct fk_cluster *c)
{
	struct fk_server *best = NULL;
	size_t i;

	for (i = 0; i < c->ns; i++) {
		struct fk_server *s = &c->s[i];

		if (fk_usable(s) && raft_role(s->r) == RAFT_LEADER &&
		    (best == NULL || raft_term(s->r) > raft_term(best->r)))
			best = s;
	}
	return best;
}

/* fk_propose_now - raft_propose and its bookkeeping (no drain) */
static int
fk_propose_now(struct fk_cluster *c, struct fk_server *s, unsigned key,
    uint64_t val, uint64_t *idp)
{
	uint8_t cmd[FK_CMD_LEN];
	uint64_t id = c->n_props + 1, index = 0, term = 0;
	const struct raft_entry *e;
	struct fk_prop *p;
	enum raft_role role = raft_role(s->r);
	int rc;

	cmd[0] = 'C';
	cmd[1] = (uint8_t)key;
	fk_put64(cmd + 2, id);
	fk_put64(cmd + 10, val);
	rc = raft_propose(s->r, cmd, sizeof(cmd), &index, &term);
	c->steps++;
	if (rc != 0) {
		if (role == RAFT_LEADER && rc == -RAFT_ENOTLEADER)
			fk_fail(c, "Propose",
			    "S%" PRIu64 " is leader but refuses a proposal "
			    "with -RAFT_ENOTLEADER", s->id);
		FK_TRACE(c, "S%" PRIu64 " propose k%u: %d", s->id, key, rc);
		return rc;
	}
	if (role != RAFT_LEADER) {
		fk_fail(c, "Propose", "S%" PRIu64 " (%s) accepted a proposal",
		    s->id, raft_role_name(role));
		return -EINVAL;
	}
	e = raft_entry_at(s->r, index);
	if (index != raft_last_index(s->r) || term != raft_term(s->r) ||
	    e == NULL || e->term != term || e->len != sizeof(cmd) ||
	    memcmp(e->data, cmd, sizeof(cmd)) != 0) {
		fk_fail(c, "Propose",
		    "S%" PRIu64 " raft_propose returned %" PRIu64 "/%" PRIu64
		    " which is not the proposed entry (last %" PRIu64
		    ", term %" PRIu64 ")",
		    s->id, index, term, raft_last_index(s->r), raft_term(s->r));
		return -EINVAL;
	}
	c->props = fk_grow(c->props, &c->cap_props, c->n_props + 1,
	    sizeof(*c->props));
	p = &c->props[c->n_props++];
	memset(p, 0, sizeof(*p));
	p->index = index;
	p->term = term;
	p->digest = fk_digest(RAFT_ENTRY_COMMAND, cmd, sizeof(cmd));
	p->val = val;
	p->key = (uint8_t)key;
	p->slot = (uint8_t)fk_slot(c, s);
	p->inc = s->inc;
	p->status = FK_P_PENDING;
	s->pend = fk_grow(s->pend, &s->cappend, s->npend + 1,
	    sizeof(*s->pend));
	s->pend[s->npend++] = id;
	FK_TRACE(c, "S%" PRIu64 " propose command %" PRIu64 " k%u=%" PRIu64
	    " -> %" PRIu64 "/%" PRIu64, s->id, id, key, val, index, term);
	if (idp != NULL)
		*idp = id;
	return 0;
}

/* fk_queue_op - a client request to a server busy on its disk waits in
 * its inbox, as it would in its socket */
static void
fk_queue_op(struct fk_cluster *c, struct fk_server *s, enum fk_op op,
    unsigned key, uint64_t val)
{
	struct fk_env *e = calloc(1, sizeof(*e));

	if (e == NULL)
		abort();
	e->op = (uint8_t)op;
	e->key = (uint8_t)key;
	e->val = val;
	fk_inbox_push(s, e);
	FK_TRACE(c, "S%" PRIu64 " is writing: %s k%u queued", s->id,
	    op == FK_OP_PROPOSE ? "propose" : "read", key);
}

/* fk_propose - a client write of key=val to s; returns raft_propose's
 * result and, on success, the proposal id (-EINPROGRESS: queued). */
static int
fk_propose(struct fk_cluster *c, struct fk_server *s, unsigned key,
    uint64_t val, uint64_t *idp)
{
	int rc;

	if (s->busy) {
		fk_queue_op(c, s, FK_OP_PROPOSE, key, val);
		return -EINPROGRESS;
	}
	rc = fk_propose_now(c, s, key, val, idp);
	fk_drain(c, s);
	fk_check(c);
	return rc;
}

/* fk_read_index_now - raft_read_index and its bookkeeping (no drain) */
static long
fk_read_index_now(struct fk_cluster *c, struct fk_server *s, unsigned key)
{
	enum raft_role role = raft_role(s->r);
	struct fk_read *rd;
	uint64_t ctx = c->n_reads + 1;
	int rc;

	rc = raft_read_index(s->r, ctx);
	c->steps++;
	if (rc != 0) {
		FK_TRACE(c, "S%" PRIu64 " read_index: %d", s->id, rc);
		return -1;
	}
	if (role != RAFT_LEADER) {
		fk_fail(c, "ReadIndex", "S%" PRIu64 " (%s) accepted a read",
		    s->id, raft_role_name(role));
		return -1;
	}
	c->reads = fk_grow(c->reads, &c->cap_reads, c->n_reads + 1,
	    sizeof(*c->reads));
	rd = &c->reads[c->n_reads++];
	memset(rd, 0, sizeof(*rd));
	rd->ctx = ctx;
	rd->watermark = c->acked_max;
	rd->issued_at = c->now;
	rd->key = (uint8_t)key;
	rd->slot = (uint8_t)fk_slot(c, s);
	rd->inc = s->inc;
	memcpy(rd->resp_mark, c->resp_from[fk_slot(c, s)],
	    sizeof(rd->resp_mark));
	FK_TRACE(c, "S%" PRIu64 " read_index ctx %" PRIu64 " k%u (watermark %"
	    PRIu64 ")", s->id, ctx, key, rd->watermark);
	return (long)(c->n_reads - 1);
}

/* fk_read_index - a linearizable read of key on s; returns the read's
 * position in c->reads, or -1 (failed or queued). */
static long
fk_read_index(struct fk_cluster *c, struct fk_server *s, unsigned key)
{
	long k;

	if (s->busy) {
		fk_queue_op(c, s, FK_OP_READ, key, 0);
		return -1;
	}
	k = fk_read_index_now(c, s, key);
	fk_drain(c, s);
	fk_check(c);
	return k;
}

/* fk_client_target - where a client sends: the server last seen leading
 * the highest term (it may be busy on its disk, or deposed) */
static struct fk_server *
fk_client_target(struct fk_cluster *c)
{
	struct fk_server *best = NULL;
	size_t i;

	for (i = 0; i < c->ns; i++) {
		struct fk_server *s = &c->s[i];

		if (s->state == FK_UP && s->seen_role == RAFT_LEADER &&
		    (best == NULL || s->seen_term > best->seen_term))
			best = s;
	}
	return best;
}

/* fk_lease_read - serve a read locally if s holds a valid lease; it must
 * see every write acknowledged so far.  Returns whether it was served. */
static bool
fk_lease_read(struct fk_cluster *c, struct fk_server *s, unsigned key)
{
	struct fk_read rd;

	if (!raft_lease_valid(s->r))
		return false;
	memset(&rd, 0, sizeof(rd));
	rd.watermark = c->acked_max;
	rd.key = (uint8_t)key;
	rd.index = s->st.sm.applied;
	c->n_lease_reads++;
	if (s->st.sm.applied < c->acked_max)
		fk_fail(c, "Lease read linearizability",
		    "S%" PRIu64 " (term %" PRIu64 ", commit %" PRIu64
		    ") holds a valid lease but has applied only %" PRIu64
		    ", below acknowledged write %" PRIu64,
		    s->id, raft_term(s->r), raft_commit_index(s->r),
		    s->st.sm.applied, c->acked_max);
	else
		fk_serve_read(c, s, &rd);
	c->n_reads_served--; /* counted as a lease read */
	return true;
}

/* fk_add_server - on leader s, add a new server; it is started empty. */
static int
fk_add_server(struct fk_cluster *c, struct fk_server *s,
    enum raft_suffrage suffrage, bool promote, uint64_t *idp)
{
	char addr[RAFT_ADDR_LEN];
	uint64_t id = c->ns + 1;
	int rc;

	if (c->ns >= FK_MAX)
		return -ENOSPC;
	fk_server_addr(id, addr);
	rc = raft_add_server(s->r, id, addr, suffrage, promote);
	c->steps++;
	FK_TRACE(c, "S%" PRIu64 " add_server S%" PRIu64 " %s%s: %d", s->id, id,
	    suffrage == RAFT_VOTER ? "voter" : "non-voter",
	    promote ? " (promote)" : "", rc);
	if (rc == 0) {
		if (fk_add_slot(c) == NULL)
			return -ENOMEM;
		if (idp != NULL)
			*idp = id;
	}
	fk_drain(c, s);
	fk_check(c);
	return rc;
}

static int
fk_remove_server(struct fk_cluster *c, struct fk_server *s, uint64_t id)
{
	int rc = raft_remove_server(s->r, id);

	c->steps++;
	FK_TRACE(c, "S%" PRIu64 " remove_server S%" PRIu64 ": %d", s->id, id,
	    rc);
	fk_drain(c, s);
	fk_check(c);
	return rc;
}

static int
fk_transfer(struct fk_cluster *c, struct fk_server *s, uint64_t to)
{
	int rc = raft_transfer_leadership(s->r, to);

	c->steps++;
	FK_TRACE(c, "S%" PRIu64 " transfer leadership to S%" PRIu64 ": %d",
	    s->id, to, rc);
	fk_drain(c, s);
	fk_check(c);
	return rc;
}

/* fk_isolate - cut every link to and from s (or restore them) */
static void
fk_isolate(struct fk_cluster *c, size_t slot, bool cut)
{
	size_t j;

	for (j = 0; j < FK_MAX; j++) {
		c->cut[slot][j] = cut;
		c->cut[j][slot] = cut;
	}
}

static void
fk_heal(struct fk_cluster *c)
{
	memset(c->cut, 0, sizeof(c->cut));
	FK_TRACE(c, "network healed");
}

/* --- liveness and the final state ----------------------------------------- */

static bool
fk_member(const struct raft_config *cfg, uint64_t id,
    const struct raft_server **out)
{
	size_t i;

	for (i = 0; i < cfg->n; i++)
		if (cfg->servers[i].id == id) {
			if (out != NULL)
				*out = &cfg->servers[i];
			return true;
		}
	return false;
}

/* fk_converged - one leader; every member of its configuration up, knows
 * it, has applied everything the leader has (all committed), with the
 * same state; no non-voter waiting for promotion.  `why` says what is
 * missing. */
static bool
fk_converged(struct fk_cluster *c, char *why, size_t n)
{
	struct fk_server *l = NULL;
	const struct raft_config *cfg;
	uint64_t commit;
	size_t i, nl = 0;

	for (i = 0; i < c->ns; i++) {
		struct fk_server *s = &c->s[i];

		if (s->state == FK_UP && s->busy) {
			snprintf(why, n, "S%" PRIu64 " is writing", s->id);
			return false;
		}
		if (s->state == FK_UP && raft_role(s->r) == RAFT_LEADER) {
			l = s;
			nl++;
		}
	}
	if (nl != 1) {
		snprintf(why, n, "%zu leaders", nl);
		return false;
	}
	cfg = raft_get_config(l->r);
	commit = raft_commit_index(l->r);
	if (commit != raft_last_index(l->r)) {
		snprintf(why, n, "leader S%" PRIu64 " commit %" PRIu64
		    " < last %" PRIu64, l->id, commit, raft_last_index(l->r));
		return false;
	}
	if (!fk_member(cfg, l->id, NULL)) {
		snprintf(why, n, "leader S%" PRIu64 " not in its configuration",
		    l->id);
		return false;
	}
	for (i = 0; i < cfg->n; i++) {
		const struct raft_server *m = &cfg->servers[i];
		struct fk_server *s = fk_srv(c, m->id);

		if (m->suffrage != RAFT_VOTER && m->promote) {
			snprintf(why, n, "S%" PRIu64 " not promoted yet",
			    m->id);
			return false;
		}
		if (s == NULL || s->state != FK_UP) {
			snprintf(why, n, "member S%" PRIu64 " is not up",
			    m->id);
			return false;
		}
		if (raft_leader(s->r) != l->id ||
		    s->st.sm.applied != commit ||
		    s->st.sm.hash != l->st.sm.hash) {
			snprintf(why, n,
			    "S%" PRIu64 " knows leader S%" PRIu64
			    " applied %" PRIu64 " of %" PRIu64 " (%s state)",
			    s->id, raft_leader(s->r), s->st.sm.applied, commit,
			    s->st.sm.hash == l->st.sm.hash ? "same" : "other");
			return false;
		}
	}
	return true;
}

/* fk_final_check - after convergence: identical state machines, every
 * acknowledged write in it, every stored log consistent. */
static void
fk_final_check(struct fk_cluster *c)
{
	struct fk_server *l = fk_leader(c);
	const struct raft_config *cfg;
	size_t i, k;

	if (l == NULL || c->failed)
		return;
	cfg = raft_get_config(l->r);
	for (i = 0; i < c->ns && !c->failed; i++) {
		struct fk_server *s = &c->s[i];

		if (s->state != FK_UP || !fk_member(cfg, s->id, NULL))
			continue;
		if (memcmp(s->st.sm.kv, l->st.sm.kv, sizeof(s->st.sm.kv)) ||
		    s->st.sm.count != l->st.sm.count) {
			fk_fail(c, "Convergence",
			    "S%" PRIu64 " and leader S%" PRIu64
			    " have different state machines",
			    s->id, l->id);
			return;
		}
		/* the stored log against the Log Matching records */
		for (k = 0; k < s->st.n; k++) {
			const struct raft_entry *e = &s->st.log[k], *m;

			m = raft_entry_at(s->r, e->index);
			if (m != NULL &&
			    (m->term != e->term || m->len != e->len ||
				(e->len > 0 &&
				    memcmp(m->data, e->data, e->len) != 0)))
				fk_fail(c, "Ready contract",
				    "S%" PRIu64 " entry %" PRIu64
				    " in memory differs from the one stored",
				    s->id, e->index);
		}
	}
	for (k = 0; k < c->n_props && !c->failed; k++) {
		const struct fk_prop *p = &c->props[k];

		if (p->status != FK_P_ACKED)
			continue;
		if (p->index >= c->n_ap || !c->ap[p->index].set ||
		    c->ap[p->index].digest != p->digest ||
		    p->index > l->st.sm.applied)
			fk_fail(c, "Durability",
			    "acknowledged command %zu (index %" PRIu64
			    ") is not in the final state",
			    k + 1, p->index);
	}
}

static void
fk_free(struct fk_cluster *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->ns; i++) {
		struct fk_server *s = &c->s[i];

		if (s->state == FK_UP)
			fk_forget_volatile(c, s);
		fk_store_free(&s->st);
		free(s->pend);
		free(s->la_terms);
	}
	while (c->nheap > 0) {
		struct fk_ev ev = fk_heap_pop(c);

		fk_env_free(ev.env);
	}
	free(c->heap);
	free(c->term_leader);
	free(c->ap);
	free(c->cm);
	free(c->lm);
	free(c->props);
	free(c->reads);
	free(c);
}

#endif
