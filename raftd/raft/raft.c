/* raft.c - the Raft core: elections with pre-vote and check-quorum, log
 * replication with pipelining and fast back-off, commitment, snapshots,
 * single-server membership changes, leadership transfer and ReadIndex.
 * Section numbers refer to Ongaro's thesis.  No I/O: see raft.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "codec.h"
#include "raft.h"

#define MAX_INFLIGHT_CAP 256

enum pr_state { PR_PROBE, PR_REPLICATE, PR_SNAPSHOT };

struct progress {
	uint64_t id;
	uint64_t match, next;
	enum pr_state state;
	bool recent_active; /* heard from since the last check-quorum */
	bool probe_sent;    /* PROBE: an append is outstanding */
	uint64_t inflight[MAX_INFLIGHT_CAP]; /* last index of each append */
	unsigned in_start, in_count;
	uint64_t ack_tick;     /* send tick of the newest acked heartbeat */
	uint64_t hb_seq_acked; /* newest ReadIndex round acked */
	unsigned snap_wait;    /* ticks spent in PR_SNAPSHOT */
	uint64_t pending_snap; /* PR_SNAPSHOT: index of the snapshot sent */
	uint64_t hb_match;     /* match at the previous heartbeat response */
	int vote;	       /* election tally: 0 none, 1 granted, -1 no */
};

struct pending_read {
	uint64_t ctx;
	uint64_t seq;
};

struct raft {
	struct raft_options opt;
	uint64_t id;
	enum raft_role role;
	uint64_t term, vote, leader;
	uint64_t hs_term, hs_vote; /* what the driver has persisted */

	/* the log holds entries [first, first + n) */
	struct raft_entry *log;
	size_t n, cap;
	uint64_t first;
	uint64_t prev_term; /* term of entry first - 1 */
	bool prev_known;

	uint64_t snap_index, snap_term;
	struct raft_config snap_config;
	struct raft_snapshot_meta *pending_snap; /* to install (ready) */

	uint64_t commit, applied, stable;

	struct raft_config config; /* latest, committed or not (4.1) */
	uint64_t config_index;

	struct progress *prs;
	size_t nprs;

	unsigned election_elapsed, heartbeat_elapsed, rand_timeout;
	uint64_t tick_count;
	uint64_t rng;

	uint64_t transferee;
	unsigned transfer_elapsed;

	bool bcast_pending;
	bool committed_in_term;
	bool lease_off; /* sent TIMEOUT_NOW this term: voters may ignore our
			   lease for the transferee, so we must not use it */

	struct pending_read *reads;
	size_t nreads, capreads;
	uint64_t read_seq;

	/* output */
	struct raft_msg *out;
	size_t nout, capout;
	struct raft_read *out_reads;
	size_t nout_reads, capout_reads;

	/* between raft_ready and raft_advance */
	uint64_t rd_stable_to, rd_applied_to;
	size_t rd_nout, rd_nreads;
	bool rd_snap;
};

static void become_follower(struct raft *r, uint64_t term, uint64_t leader);
static void send_append(struct raft *r, struct progress *pr);
static int propose_entry(struct raft *r, uint8_t type, const void *data,
    size_t len, uint64_t *index);

/* ------------------------------------------------------------ helpers */

static uint64_t
rng_next(struct raft *r)
{
	/* xorshift64*: deterministic from the driver's seed */
	r->rng ^= r->rng >> 12;
	r->rng ^= r->rng << 25;
	r->rng ^= r->rng >> 27;
	return r->rng * 2685821657736338717ull;
}

static void
reset_election_timer(struct raft *r)
{
	r->election_elapsed = 0;
	r->rand_timeout = r->opt.election_ticks +
			  (unsigned)(rng_next(r) % r->opt.election_ticks);
}

static uint64_t
last_index(const struct raft *r)
{
	return r->first + r->n - 1;
}

/* term_at - 0 and *t set, or -1 when index is not in (or just before) the
 * log. */
static int
term_at(const struct raft *r, uint64_t index, uint64_t *t)
{
	if (index == 0) {
		*t = 0;
		return 0;
	}
	if (index == r->first - 1) {
		if (!r->prev_known)
			return -1;
		*t = r->prev_term;
		return 0;
	}
	if (index < r->first || index > last_index(r))
		return -1;
	*t = r->log[index - r->first].term;
	return 0;
}

static uint64_t
last_term(const struct raft *r)
{
	uint64_t t = 0;

	term_at(r, last_index(r), &t);
	return t;
}

static struct raft_entry *
entry_at(const struct raft *r, uint64_t index)
{
	if (index < r->first || index > last_index(r))
		return NULL;
	return &r->log[index - r->first];
}

static int
entry_copy(struct raft_entry *dst, const struct raft_entry *src)
{
	*dst = *src;
	dst->data = NULL;
	if (src->len > 0) {
		dst->data = malloc(src->len);
		if (dst->data == NULL)
			return -ENOMEM;
		memcpy(dst->data, src->data, src->len);
	}
	return 0;
}

/* ------------------------------------------------------ configuration */

const struct raft_server *
raft_config_get(const struct raft_config *c, uint64_t id)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		if (c->servers[i].id == id)
			return &c->servers[i];
	return NULL;
}

void
raft_config_free(struct raft_config *c)
{
	if (c == NULL)
		return;
	free(c->servers);
	c->servers = NULL;
	c->n = 0;
}

int
raft_config_copy(struct raft_config *dst, const struct raft_config *src)
{
	struct raft_server *s = NULL;

	if (src->n > 0) {
		s = malloc(src->n * sizeof(*s));
		if (s == NULL)
			return -ENOMEM;
		memcpy(s, src->servers, src->n * sizeof(*s));
	}
	dst->servers = s;
	dst->n = src->n;
	return 0;
}

void
raft_config_encode(const struct raft_config *c, struct buf *b)
{
	struct buf sb = BUF_INIT;
	size_t i;

	for (i = 0; i < c->n; i++) {
		const struct raft_server *s = &c->servers[i];

		buf_reset(&sb);
		cdc_put_u64(&sb, 1, s->id);
		cdc_put_u64(&sb, 2, s->suffrage);
		cdc_put_u64(&sb, 3, s->promote);
		cdc_put_bytes(&sb, 4, s->addr, strnlen(s->addr, RAFT_ADDR_LEN));
		cdc_put_bytes(b, 1, sb.data, sb.len);
	}
	buf_free(&sb);
}

int
raft_config_decode(const void *p, size_t n, struct raft_config *c)
{
	struct cdc_reader rd, sr;
	struct cdc_field f, g;
	int r;

	c->servers = NULL;
	c->n = 0;
	cdc_reader_init(&rd, p, n);
	while ((r = cdc_next(&rd, &f)) == 1) {
		struct raft_server s, *ns;

		if (f.tag != 1 || f.wire != CDC_WIRE_BYTES)
			continue;
		memset(&s, 0, sizeof(s));
		cdc_reader_init(&sr, f.ptr, f.len);
		while ((r = cdc_next(&sr, &g)) == 1) {
			if (g.tag == 1 && g.wire == CDC_WIRE_VARINT)
				s.id = g.u;
			else if (g.tag == 2 && g.wire == CDC_WIRE_VARINT)
				s.suffrage = (uint8_t)g.u;
			else if (g.tag == 3 && g.wire == CDC_WIRE_VARINT)
				s.promote = g.u != 0;
			else if (g.tag == 4 && g.wire == CDC_WIRE_BYTES &&
				 g.len < RAFT_ADDR_LEN)
				memcpy(s.addr, g.ptr, g.len);
		}
		if (r < 0 || s.id == RAFT_NONE ||
		    (s.suffrage != RAFT_VOTER && s.suffrage != RAFT_NONVOTER) ||
		    raft_config_get(c, s.id) != NULL || c->n >= 4096)
			goto bad;
		ns = realloc(c->servers, (c->n + 1) * sizeof(*ns));
		if (ns == NULL) {
			raft_config_free(c);
			return -ENOMEM;
		}
		c->servers = ns;
		c->servers[c->n++] = s;
	}
	if (r < 0)
		goto bad;
	return 0;
bad:
	raft_config_free(c);
	return -EBADMSG;
}

static bool
is_voter(const struct raft_config *c, uint64_t id)
{
	const struct raft_server *s = raft_config_get(c, id);

	return s != NULL && s->suffrage == RAFT_VOTER;
}

static size_t
voter_count(const struct raft_config *c)
{
	size_t i, n = 0;

	for (i = 0; i < c->n; i++)
		n += c->servers[i].suffrage == RAFT_VOTER;
	return n;
}

static size_t
quorum(const struct raft *r)
{
	return voter_count(&r->config) / 2 + 1;
}

static bool
promotable(const struct raft *r)
{
	return is_voter(&r->config, r->id);
}

static struct progress *
progress_get(struct raft *r, uint64_t id)
{
	size_t i;

	for (i = 0; i < r->nprs; i++)
		if (r->prs[i].id == id)
			return &r->prs[i];
	return NULL;
}

static void
progress_reset(struct raft *r, struct progress *pr, uint64_t id)
{
	memset(pr, 0, sizeof(*pr));
	pr->id = id;
	pr->next = last_index(r) + 1;
	pr->state = PR_PROBE;
	pr->recent_active = true;
}

/* sync_progress - one progress per server of the configuration (and one
 * for this server while it leads, even if removed). */
static int
sync_progress(struct raft *r)
{
	struct progress *np;
	size_t i, j, n = 0;

	np = calloc(r->config.n + 1, sizeof(*np));
	if (np == NULL)
		return -ENOMEM;
	for (i = 0; i < r->config.n; i++) {
		struct progress *old = progress_get(r, r->config.servers[i].id);

		if (old != NULL)
			np[n++] = *old;
		else
			progress_reset(r, &np[n++], r->config.servers[i].id);
	}
	for (j = 0; j < n; j++)
		if (np[j].id == r->id)
			break;
	if (j == n) {
		struct progress *old = progress_get(r, r->id);

		if (old != NULL)
			np[n++] = *old;
		else
			progress_reset(r, &np[n++], r->id);
	}
	free(r->prs);
	r->prs = np;
	r->nprs = n;
	return 0;
}

/* set_config_from_log - the latest configuration entry in the log, else
 * the snapshot's (thesis 4.1: use the latest, committed or not). */
static int
set_config_from_log(struct raft *r)
{
	struct raft_config c;
	uint64_t i;
	int rc;

	for (i = last_index(r); i >= r->first && i > 0; i--) {
		struct raft_entry *e = entry_at(r, i);

		if (e->type != RAFT_ENTRY_CONFIG)
			continue;
		if ((rc = raft_config_decode(e->data, e->len, &c)) < 0)
			return rc;
		raft_config_free(&r->config);
		r->config = c;
		r->config_index = i;
		goto out;
	}
	raft_config_free(&r->config);
	if ((rc = raft_config_copy(&r->config, &r->snap_config)) < 0)
		return rc;
	r->config_index = r->snap_index;
out:
	if (r->role == RAFT_LEADER)
		return sync_progress(r);
	return 0;
}

/* config_at - the configuration in force at index (for snapshots). */
static int
config_at(const struct raft *r, uint64_t index, struct raft_config *out)
{
	uint64_t i;

	for (i = index; i >= r->first && i > 0; i--) {
		struct raft_entry *e = entry_at(r, i);

		if (e != NULL && e->type == RAFT_ENTRY_CONFIG)
			return raft_config_decode(e->data, e->len, out);
	}
	return raft_config_copy(out, &r->snap_config);
}

/* ---------------------------------------------------------------- log */

static int
log_append(struct raft *r, const struct raft_entry *e)
{
	int rc;

	if (r->n == r->cap) {
		size_t nc = r->cap ? r->cap * 2 : 64;
		struct raft_entry *nl = realloc(r->log, nc * sizeof(*nl));

		if (nl == NULL)
			return -ENOMEM;
		r->log = nl;
		r->cap = nc;
	}
	if ((rc = entry_copy(&r->log[r->n], e)) < 0)
		return rc;
	r->log[r->n].index = last_index(r) + 1;
	r->n++;
	if (e->type == RAFT_ENTRY_CONFIG) {
		struct raft_config c;

		if ((rc = raft_config_decode(e->data, e->len, &c)) == 0) {
			raft_config_free(&r->config);
			r->config = c;
			r->config_index = last_index(r);
			if (r->role == RAFT_LEADER)
				rc = sync_progress(r);
		}
	}
	return rc;
}

/* drop_acks_from - unsent APPEND_RESPs that acknowledge entries from index
 * on are withdrawn: those entries are being replaced before they were
 * stored, so the ack would be a lie (found by the simulation: an old
 * leader could count it towards a commit). */
static void
drop_acks_from(struct raft *r, uint64_t index)
{
	size_t i, k = 0;

	for (i = 0; i < r->nout; i++) {
		struct raft_msg *m = &r->out[i];

		if (m->type == RAFT_MSG_APPEND_RESP && !m->reject &&
		    m->index >= index) {
			raft_msg_free(m);
			continue;
		}
		r->out[k++] = *m;
	}
	r->nout = k;
}

/* log_truncate - drop entries >= index (never committed ones). */
static int
log_truncate(struct raft *r, uint64_t index)
{
	uint64_t i;

	if (index < r->first || index > last_index(r))
		return 0;
	drop_acks_from(r, index);
	for (i = index; i <= last_index(r); i++)
		free(r->log[i - r->first].data);
	r->n = index - r->first;
	if (r->stable >= index)
		r->stable = index - 1;
	if (r->config_index >= index)
		return set_config_from_log(r);
	return 0;
}

/* ----------------------------------------------------------- messages */

static struct raft_msg *
msg_new(struct raft *r, uint8_t type, uint64_t to)
{
	struct raft_msg *m;

	if (r->nout == r->capout) {
		size_t nc = r->capout ? r->capout * 2 : 16;
		struct raft_msg *no = realloc(r->out, nc * sizeof(*no));

		if (no == NULL)
			return NULL;
		r->out = no;
		r->capout = nc;
	}
	m = &r->out[r->nout++];
	memset(m, 0, sizeof(*m));
	m->type = type;
	m->from = r->id;
	m->to = to;
	m->term = r->term;
	return m;
}

void
raft_msg_free(struct raft_msg *m)
{
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < m->n_entries; i++)
		free(m->entries[i].data);
	free(m->entries);
	m->entries = NULL;
	m->n_entries = 0;
	raft_config_free(&m->snap_config);
}

int
raft_msg_copy(struct raft_msg *dst, const struct raft_msg *src)
{
	size_t i;

	*dst = *src;
	dst->entries = NULL;
	dst->n_entries = 0;
	dst->snap_config.servers = NULL;
	dst->snap_config.n = 0;
	if (src->n_entries > 0) {
		dst->entries = calloc(src->n_entries, sizeof(*dst->entries));
		if (dst->entries == NULL)
			return -ENOMEM;
		for (i = 0; i < src->n_entries; i++) {
			if (entry_copy(&dst->entries[i], &src->entries[i]) < 0) {
				dst->n_entries = i;
				raft_msg_free(dst);
				return -ENOMEM;
			}
		}
		dst->n_entries = src->n_entries;
	}
	if (raft_config_copy(&dst->snap_config, &src->snap_config) < 0) {
		raft_msg_free(dst);
		return -ENOMEM;
	}
	return 0;
}

static void
push_read(struct raft *r, uint64_t ctx, uint64_t index, bool ok)
{
	struct raft_read *rr;

	if (r->nout_reads == r->capout_reads) {
		size_t nc = r->capout_reads ? r->capout_reads * 2 : 16;
		struct raft_read *n = realloc(r->out_reads, nc * sizeof(*n));

		if (n == NULL)
			return; /* the reader times out */
		r->out_reads = n;
		r->capout_reads = nc;
	}
	rr = &r->out_reads[r->nout_reads++];
	rr->ctx = ctx;
	rr->index = index;
	rr->ok = ok;
}

static void
fail_reads(struct raft *r)
{
	size_t i;

	for (i = 0; i < r->nreads; i++)
		push_read(r, r->reads[i].ctx, 0, false);
	r->nreads = 0;
}

/* ------------------------------------------------------ role changes */

static void
become_follower(struct raft *r, uint64_t term, uint64_t leader)
{
	if (term != r->term) {
		r->term = term;
		r->vote = RAFT_NONE;
	}
	if (r->role == RAFT_LEADER)
		fail_reads(r);
	r->role = RAFT_FOLLOWER;
	r->leader = leader;
	r->transferee = RAFT_NONE;
	r->bcast_pending = false;
	reset_election_timer(r);
}

static void
become_leader(struct raft *r)
{
	struct raft_entry e;
	size_t i;

	r->role = RAFT_LEADER;
	r->leader = r->id;
	r->transferee = RAFT_NONE;
	r->committed_in_term = false;
	r->lease_off = false;
	r->heartbeat_elapsed = 0;
	r->election_elapsed = 0;
	free(r->prs);
	r->prs = NULL;
	r->nprs = 0;
	sync_progress(r);
	for (i = 0; i < r->nprs; i++) {
		progress_reset(r, &r->prs[i], r->prs[i].id);
		if (r->prs[i].id == r->id)
			r->prs[i].match = last_index(r);
	}
	/* a no-op of the new term commits what earlier terms left (5.4.2)
	 * and lets ReadIndex start (6.4) */
	memset(&e, 0, sizeof(e));
	e.term = r->term;
	e.type = RAFT_ENTRY_NOOP;
	log_append(r, &e);
	r->bcast_pending = true;
}

static void
send_vote_requests(struct raft *r, bool pre, bool transfer)
{
	size_t i;

	for (i = 0; i < r->config.n; i++) {
		const struct raft_server *s = &r->config.servers[i];
		struct raft_msg *m;

		if (s->id == r->id || s->suffrage != RAFT_VOTER)
			continue;
		m = msg_new(r, pre ? RAFT_MSG_PREVOTE : RAFT_MSG_VOTE, s->id);
		if (m == NULL)
			return;
		m->term = pre ? r->term + 1 : r->term;
		m->last_index = last_index(r);
		m->last_term = last_term(r);
		m->transfer = transfer;
	}
}

static void campaign(struct raft *r, bool pre, bool transfer);

/* tally - count a vote; returns 1 won, -1 lost, 0 undecided */
static int
tally(struct raft *r)
{
	size_t i, yes = 0, no = 0;

	for (i = 0; i < r->nprs; i++) {
		if (!is_voter(&r->config, r->prs[i].id))
			continue;
		if (r->prs[i].vote > 0)
			yes++;
		else if (r->prs[i].vote < 0)
			no++;
	}
	if (yes >= quorum(r))
		return 1;
	if (no >= quorum(r))
		return -1;
	return 0;
}

static void
campaign(struct raft *r, bool pre, bool transfer)
{
	struct progress *self;
	size_t i;
	int t;

	if (!promotable(r))
		return;
	free(r->prs);
	r->prs = NULL;
	r->nprs = 0;
	sync_progress(r);
	for (i = 0; i < r->nprs; i++)
		r->prs[i].vote = 0;
	if (pre) {
		r->role = RAFT_PRECANDIDATE;
		r->leader = RAFT_NONE;
	} else {
		r->role = RAFT_CANDIDATE;
		r->term++;
		r->vote = r->id;
		r->leader = RAFT_NONE;
	}
	reset_election_timer(r);
	self = progress_get(r, r->id);
	self->vote = 1;
	t = tally(r);
	if (t > 0) {
		if (pre)
			campaign(r, false, transfer);
		else
			become_leader(r);
		return;
	}
	send_vote_requests(r, pre, transfer);
}

/* ------------------------------------------------------- replication */

static bool
inflight_full(const struct raft *r, const struct progress *pr)
{
	return pr->in_count >= r->opt.max_inflight;
}

static void
inflight_add(struct progress *pr, uint64_t last)
{
	pr->inflight[(pr->in_start + pr->in_count) % MAX_INFLIGHT_CAP] = last;
	pr->in_count++;
}

static void
inflight_free_to(struct progress *pr, uint64_t upto)
{
	while (pr->in_count > 0 && pr->inflight[pr->in_start] <= upto) {
		pr->in_start = (pr->in_start + 1) % MAX_INFLIGHT_CAP;
		pr->in_count--;
	}
}

static void
progress_probe(struct progress *pr)
{
	pr->state = PR_PROBE;
	pr->probe_sent = false;
	pr->in_start = pr->in_count = 0;
}

static void
progress_replicate(struct progress *pr)
{
	pr->state = PR_REPLICATE;
	pr->next = pr->match + 1;
	pr->in_start = pr->in_count = 0;
}

static void
send_snapshot(struct raft *r, struct progress *pr)
{
	struct raft_msg *m = msg_new(r, RAFT_MSG_SNAPSHOT, pr->id);

	if (m == NULL)
		return;
	m->snap_index = r->snap_index;
	m->snap_term = r->snap_term;
	if (raft_config_copy(&m->snap_config, &r->snap_config) < 0) {
		r->nout--;
		return;
	}
	pr->state = PR_SNAPSHOT;
	pr->pending_snap = r->snap_index;
	pr->snap_wait = 0;
	pr->in_start = pr->in_count = 0;
}

/* send_one - one APPEND to pr if flow control allows; returns true if
 * something was sent. */
static bool
send_one(struct raft *r, struct progress *pr)
{
	uint64_t prev = pr->next - 1, prev_term, i, last = last_index(r);
	size_t n = 0, bytes = 0;
	struct raft_msg *m;

	if (pr->state == PR_SNAPSHOT)
		return false;
	if (pr->state == PR_PROBE && pr->probe_sent)
		return false;
	if (pr->state == PR_REPLICATE && inflight_full(r, pr))
		return false;
	if (pr->next < r->first || term_at(r, prev, &prev_term) < 0) {
		/* the entries it needs were compacted away */
		if (r->snap_index == 0)
			return false;
		send_snapshot(r, pr);
		return true;
	}
	if (pr->state == PR_REPLICATE && pr->next > last)
		return false;
	for (i = pr->next; i <= last && n < r->opt.max_append_entries; i++) {
		bytes += entry_at(r, i)->len;
		if (n > 0 && bytes > r->opt.max_append_bytes)
			break;
		n++;
	}
	m = msg_new(r, RAFT_MSG_APPEND, pr->id);
	if (m == NULL)
		return false;
	m->prev_index = prev;
	m->prev_term = prev_term;
	m->commit = r->commit;
	if (n > 0) {
		m->entries = calloc(n, sizeof(*m->entries));
		if (m->entries == NULL) {
			r->nout--;
			return false;
		}
		for (i = 0; i < n; i++) {
			if (entry_copy(&m->entries[i],
				entry_at(r, pr->next + i)) < 0) {
				m->n_entries = i;
				raft_msg_free(m);
				r->nout--;
				return false;
			}
		}
		m->n_entries = n;
	}
	if (pr->state == PR_REPLICATE) {
		pr->next += n;
		inflight_add(pr, pr->next - 1);
	} else {
		pr->probe_sent = true;
	}
	return true;
}

static void
send_append(struct raft *r, struct progress *pr)
{
	if (pr->id == r->id)
		return;
	/* in REPLICATE, pipeline as many batches as the window allows */
	while (send_one(r, pr) && pr->state == PR_REPLICATE)
		;
}

static void
bcast_append(struct raft *r)
{
	size_t i;

	for (i = 0; i < r->nprs; i++)
		send_append(r, &r->prs[i]);
}

static void
bcast_heartbeat(struct raft *r)
{
	size_t i;

	for (i = 0; i < r->nprs; i++) {
		struct progress *pr = &r->prs[i];
		struct raft_msg *m;

		if (pr->id == r->id)
			continue;
		m = msg_new(r, RAFT_MSG_HEARTBEAT, pr->id);
		if (m == NULL)
			return;
		/* only what it is known to hold (etcd's rule) */
		m->commit = pr->match < r->commit ? pr->match : r->commit;
		m->hb_seq = r->read_seq;
		m->hb_tick = r->tick_count;
	}
}

static void
release_reads(struct raft *r)
{
	size_t i, j, k = 0, acks;

	if (!r->committed_in_term)
		return;
	for (i = 0; i < r->nreads; i++) {
		acks = 0;
		for (j = 0; j < r->nprs; j++) {
			if (!is_voter(&r->config, r->prs[j].id))
				continue;
			if (r->prs[j].id == r->id ||
			    r->prs[j].hb_seq_acked >= r->reads[i].seq)
				acks++;
		}
		if (acks >= quorum(r))
			push_read(r, r->reads[i].ctx, r->commit, true);
		else
			r->reads[k++] = r->reads[i];
	}
	r->nreads = k;
}

static int
cmp_u64_desc(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? 1 : x > y ? -1 : 0;
}

static void maybe_promote(struct raft *r, struct progress *pr);

/* maybe_commit - the highest index stored on a quorum of voters, if it is
 * of the current term (5.4.2). */
static void
maybe_commit(struct raft *r)
{
	uint64_t m[64], *mm = m, q, t;
	size_t i, n = 0;

	if (r->role != RAFT_LEADER)
		return;
	if (r->nprs > 64) {
		mm = malloc(r->nprs * sizeof(*mm));
		if (mm == NULL)
			return;
	}
	for (i = 0; i < r->nprs; i++) {
		if (!is_voter(&r->config, r->prs[i].id))
			continue;
		mm[n++] = r->prs[i].id == r->id ? r->stable : r->prs[i].match;
	}
	if (n == 0) {
		if (mm != m)
			free(mm);
		return;
	}
	qsort(mm, n, sizeof(*mm), cmp_u64_desc);
	q = mm[quorum(r) - 1];
	if (mm != m)
		free(mm);
	if (q > r->commit && term_at(r, q, &t) == 0 && t == r->term) {
		r->commit = q;
		r->committed_in_term = true;
		r->bcast_pending = true; /* tell followers the new commit */
		release_reads(r);
		/* a leader removed from the configuration steps down once
		 * the change is committed (4.2.2) */
		if (r->config_index <= r->commit && !promotable(r)) {
			become_follower(r, r->term, RAFT_NONE);
			return;
		}
		for (i = 0; i < r->nprs; i++)
			maybe_promote(r, &r->prs[i]);
	}
}

static void
maybe_promote(struct raft *r, struct progress *pr)
{
	const struct raft_server *s = raft_config_get(&r->config, pr->id);
	struct raft_config nc;
	struct buf b = BUF_INIT;
	uint64_t idx;
	size_t i;

	if (r->role != RAFT_LEADER || s == NULL ||
	    s->suffrage != RAFT_NONVOTER || !s->promote)
		return;
	if (r->config_index > r->commit || r->transferee != RAFT_NONE)
		return;
	if (pr->match < last_index(r))
		return; /* not caught up yet (4.2.1) */
	if (raft_config_copy(&nc, &r->config) < 0)
		return;
	for (i = 0; i < nc.n; i++) {
		if (nc.servers[i].id == pr->id) {
			nc.servers[i].suffrage = RAFT_VOTER;
			nc.servers[i].promote = 0;
		}
	}
	raft_config_encode(&nc, &b);
	raft_config_free(&nc);
	propose_entry(r, RAFT_ENTRY_CONFIG, b.data, b.len, &idx);
	buf_free(&b);
}

/* ---------------------------------------------------------- handlers */

/* in_lease - whether to refuse votes to protect a leader's lease (4.2.3):
 * we heard from a leader within the election timeout, or we started less
 * than an election timeout ago (a leader may still count on acks we sent
 * before a restart). */
static bool
in_lease(const struct raft *r)
{
	if (!r->opt.check_quorum)
		return false;
	if (r->leader != RAFT_NONE &&
	    r->election_elapsed < r->opt.election_ticks)
		return true;
	return r->role != RAFT_LEADER &&
	       r->tick_count < r->opt.election_ticks;
}

static void
handle_vote_request(struct raft *r, const struct raft_msg *m)
{
	bool pre = m->type == RAFT_MSG_PREVOTE;
	bool can_vote, uptodate;
	uint64_t lt = last_term(r);
	struct raft_msg *resp;

	if (pre)
		can_vote = m->term > r->term && (m->transfer || !in_lease(r));
	else
		can_vote = r->vote == m->from ||
			   (r->vote == RAFT_NONE && r->leader == RAFT_NONE);
	uptodate = m->last_term > lt ||
		   (m->last_term == lt && m->last_index >= last_index(r));
	resp = msg_new(r, pre ? RAFT_MSG_PREVOTE_RESP : RAFT_MSG_VOTE_RESP,
	    m->from);
	if (resp == NULL)
		return;
	if (can_vote && uptodate) {
		resp->term = pre ? m->term : r->term;
		resp->reject = false;
		if (!pre) {
			r->vote = m->from;
			reset_election_timer(r);
		}
	} else {
		resp->reject = true;
	}
}

static void
handle_vote_response(struct raft *r, const struct raft_msg *m)
{
	struct progress *pr;
	int t;

	if ((m->type == RAFT_MSG_PREVOTE_RESP) !=
	    (r->role == RAFT_PRECANDIDATE))
		return;
	pr = progress_get(r, m->from);
	if (pr == NULL || pr->vote != 0)
		return;
	pr->vote = m->reject ? -1 : 1;
	t = tally(r);
	if (t > 0) {
		if (r->role == RAFT_PRECANDIDATE)
			campaign(r, false, false);
		else
			become_leader(r);
	} else if (t < 0) {
		become_follower(r, r->term, RAFT_NONE);
	}
}

static void
reply_append(struct raft *r, uint64_t to, bool reject, uint64_t index,
    uint64_t hint_index, uint64_t hint_term)
{
	struct raft_msg *m = msg_new(r, RAFT_MSG_APPEND_RESP, to);

	if (m == NULL)
		return;
	m->reject = reject;
	m->index = index;
	m->hint_index = hint_index;
	m->hint_term = hint_term;
}

static int
handle_append(struct raft *r, const struct raft_msg *m)
{
	uint64_t t, i, new_last, hint, ct;
	size_t k;
	int rc;

	if (m->prev_index < r->commit) {
		/* already committed here: only newer entries could matter,
		 * and the leader will resend them from commit + 1 */
		reply_append(r, m->from, false, r->commit, 0, 0);
		return 0;
	}
	if (term_at(r, m->prev_index, &t) < 0 || t != m->prev_term) {
		if (m->prev_index > last_index(r)) {
			reply_append(r, m->from, true, m->prev_index,
			    last_index(r) + 1, 0);
			return 0;
		}
		/* first index of the conflicting term, not below commit */
		if (term_at(r, m->prev_index, &ct) < 0)
			ct = 0;
		hint = m->prev_index;
		while (hint > r->commit + 1 && hint > r->first &&
		       term_at(r, hint - 1, &t) == 0 && t == ct)
			hint--;
		reply_append(r, m->from, true, m->prev_index, hint, ct);
		return 0;
	}
	for (k = 0; k < m->n_entries; k++) {
		const struct raft_entry *e = &m->entries[k];

		i = m->prev_index + 1 + k;
		if (i <= last_index(r)) {
			if (term_at(r, i, &t) == 0 && t == e->term)
				continue;
			if (i <= r->commit)
				return -EINVAL; /* never: 5.4 */
			if ((rc = log_truncate(r, i)) < 0)
				return rc;
		}
		if ((rc = log_append(r, e)) < 0)
			return rc;
	}
	new_last = m->prev_index + m->n_entries;
	if (m->commit > r->commit) {
		uint64_t c = m->commit < new_last ? m->commit : new_last;

		if (c > r->commit)
			r->commit = c;
	}
	reply_append(r, m->from, false, new_last, 0, 0);
	return 0;
}

static void
handle_heartbeat(struct raft *r, const struct raft_msg *m)
{
	struct raft_msg *resp;

	if (m->commit > r->commit && m->commit <= last_index(r))
		r->commit = m->commit;
	resp = msg_new(r, RAFT_MSG_HEARTBEAT_RESP, m->from);
	if (resp == NULL)
		return;
	resp->hb_seq = m->hb_seq;
	resp->hb_tick = m->hb_tick;
}

static int
handle_snapshot(struct raft *r, const struct raft_msg *m)
{
	struct raft_snapshot_meta *sm;
	uint64_t t;
	uint64_t i;

	if (m->snap_index <= r->commit) {
		reply_append(r, m->from, false, r->commit, 0, 0);
		return 0;
	}
	if (term_at(r, m->snap_index, &t) == 0 && t == m->snap_term) {
		/* we have the entry: keep the log after it (5.3 of the
		 * paper's InstallSnapshot rule 6) */
		r->commit = m->snap_index;
		reply_append(r, m->from, false, m->snap_index, 0, 0);
		return 0;
	}
	sm = calloc(1, sizeof(*sm));
	if (sm == NULL)
		return -ENOMEM;
	sm->index = m->snap_index;
	sm->term = m->snap_term;
	if (raft_config_copy(&sm->config, &m->snap_config) < 0) {
		free(sm);
		return -ENOMEM;
	}
	for (i = 0; i < r->n; i++)
		free(r->log[i].data);
	r->n = 0;
	r->first = m->snap_index + 1;
	r->prev_term = m->snap_term;
	r->prev_known = true;
	r->snap_index = m->snap_index;
	r->snap_term = m->snap_term;
	raft_config_free(&r->snap_config);
	raft_config_copy(&r->snap_config, &m->snap_config);
	r->commit = r->applied = r->stable = m->snap_index;
	if (r->pending_snap != NULL) {
		raft_config_free(&r->pending_snap->config);
		free(r->pending_snap);
	}
	r->pending_snap = sm;
	set_config_from_log(r);
	reply_append(r, m->from, false, m->snap_index, 0, 0);
	return 0;
}

static void
handle_append_response(struct raft *r, const struct raft_msg *m)
{
	struct progress *pr = progress_get(r, m->from);
	uint64_t next, t, j;

	if (pr == NULL)
		return;
	pr->recent_active = true;
	if (m->reject) {
		if (pr->state == PR_REPLICATE && m->index <= pr->match)
			return; /* stale */
		if (pr->state == PR_PROBE && m->index != pr->next - 1)
			return; /* stale */
		next = m->hint_index;
		if (m->hint_term != 0) {
			/* leader has entries of that term: skip past them */
			for (j = last_index(r); j >= r->first && j > 0; j--) {
				if (term_at(r, j, &t) < 0 || t < m->hint_term)
					break;
				if (t == m->hint_term) {
					next = j + 1;
					break;
				}
			}
		}
		if (next > m->index)
			next = m->index;
		if (next < pr->match + 1)
			next = pr->match + 1;
		if (next < 1)
			next = 1;
		pr->next = next;
		progress_probe(pr);
		send_append(r, pr);
		return;
	}
	if (m->index > pr->match || pr->state != PR_REPLICATE) {
		if (m->index > pr->match)
			pr->match = m->index;
		if (pr->next < pr->match + 1)
			pr->next = pr->match + 1;
		/* out of snapshot state once the snapshot we sent is in;
		 * an ack for something older is not a reason to resend it
		 * (etcd's PendingSnapshot) */
		if (pr->state == PR_PROBE ||
		    (pr->state == PR_SNAPSHOT && pr->match >= pr->pending_snap))
			progress_replicate(pr);
		inflight_free_to(pr, pr->match);
		/* committing can change the configuration (promotions), which
		 * rebuilds the progress array: look pr up again after it */
		maybe_commit(r);
		if (r->role != RAFT_LEADER ||
		    (pr = progress_get(r, m->from)) == NULL)
			return;
		maybe_promote(r, pr);
		if ((pr = progress_get(r, m->from)) == NULL)
			return;
		if (r->transferee == pr->id && pr->match == last_index(r)) {
			r->lease_off = true;
			msg_new(r, RAFT_MSG_TIMEOUT_NOW, pr->id);
		}
	} else {
		inflight_free_to(pr, m->index);
	}
	send_append(r, pr);
}

static void
handle_heartbeat_response(struct raft *r, const struct raft_msg *m)
{
	struct progress *pr = progress_get(r, m->from);

	if (pr == NULL)
		return;
	pr->recent_active = true;
	if (m->hb_tick > pr->ack_tick)
		pr->ack_tick = m->hb_tick;
	if (m->hb_seq > pr->hb_seq_acked)
		pr->hb_seq_acked = m->hb_seq;
	if (pr->state == PR_PROBE)
		pr->probe_sent = false; /* lost probe: try again */
	if (pr->state == PR_REPLICATE && inflight_full(r, pr) &&
	    pr->in_count > 0) {
		/* unstick a window whose acks were lost */
		pr->in_start = (pr->in_start + 1) % MAX_INFLIGHT_CAP;
		pr->in_count--;
	}
	if (pr->state == PR_REPLICATE && pr->match < last_index(r) &&
	    pr->match == pr->hb_match) {
		/* no progress for a whole heartbeat round while entries are
		 * outstanding: appends or their acks were lost.  Probe again
		 * from what it is known to hold. */
		pr->next = pr->match + 1;
		progress_probe(pr);
	}
	pr->hb_match = pr->match;
	if (pr->match < last_index(r))
		send_append(r, pr);
	maybe_promote(r, pr); /* an idle cluster promotes too */
	release_reads(r);
}

int
raft_step(struct raft *r, const struct raft_msg *m)
{
	if (m->to != r->id || m->from == r->id || m->from == RAFT_NONE)
		return 0;
	if (m->term > r->term) {
		if (m->type == RAFT_MSG_PREVOTE) {
			/* a pre-vote never changes our term */
		} else if (m->type == RAFT_MSG_PREVOTE_RESP && !m->reject) {
			/* granted for the term we asked for */
		} else if (m->type == RAFT_MSG_VOTE && !m->transfer &&
			   in_lease(r)) {
			/* leader lease (4.2.3): ignore the disruption */
			return 0;
		} else {
			uint64_t lead = RAFT_NONE;

			if (m->type == RAFT_MSG_APPEND ||
			    m->type == RAFT_MSG_HEARTBEAT ||
			    m->type == RAFT_MSG_SNAPSHOT)
				lead = m->from;
			become_follower(r, m->term, lead);
		}
	} else if (m->term < r->term) {
		if (m->type == RAFT_MSG_APPEND ||
		    m->type == RAFT_MSG_HEARTBEAT ||
		    m->type == RAFT_MSG_SNAPSHOT) {
			/* tell a stale leader about the newer term */
			reply_append(r, m->from, true, 0, 0, 0);
		} else if (m->type == RAFT_MSG_PREVOTE) {
			struct raft_msg *resp =
			    msg_new(r, RAFT_MSG_PREVOTE_RESP, m->from);

			if (resp != NULL)
				resp->reject = true;
		}
		return 0;
	}

	switch (m->type) {
	case RAFT_MSG_PREVOTE:
	case RAFT_MSG_VOTE:
		handle_vote_request(r, m);
		return 0;
	case RAFT_MSG_PREVOTE_RESP:
	case RAFT_MSG_VOTE_RESP:
		if (r->role == RAFT_PRECANDIDATE || r->role == RAFT_CANDIDATE)
			handle_vote_response(r, m);
		return 0;
	case RAFT_MSG_APPEND_RESP:
		if (r->role == RAFT_LEADER)
			handle_append_response(r, m);
		return 0;
	case RAFT_MSG_HEARTBEAT_RESP:
		if (r->role == RAFT_LEADER)
			handle_heartbeat_response(r, m);
		return 0;
	case RAFT_MSG_APPEND:
	case RAFT_MSG_HEARTBEAT:
	case RAFT_MSG_SNAPSHOT:
		if (r->role == RAFT_LEADER)
			return 0; /* same term, two leaders: impossible */
		if (r->role != RAFT_FOLLOWER)
			become_follower(r, m->term, m->from);
		r->leader = m->from;
		r->election_elapsed = 0;
		if (m->type == RAFT_MSG_APPEND)
			return handle_append(r, m);
		if (m->type == RAFT_MSG_HEARTBEAT) {
			handle_heartbeat(r, m);
			return 0;
		}
		return handle_snapshot(r, m);
	case RAFT_MSG_TIMEOUT_NOW:
		if (r->role == RAFT_FOLLOWER && m->from == r->leader)
			campaign(r, false, true);
		return 0;
	default:
		return 0;
	}
}

/* -------------------------------------------------------------- time */

static bool
quorum_active(struct raft *r)
{
	size_t i, n = 0;

	for (i = 0; i < r->nprs; i++)
		if (is_voter(&r->config, r->prs[i].id) &&
		    (r->prs[i].id == r->id || r->prs[i].recent_active))
			n++;
	return n >= quorum(r);
}

void
raft_tick(struct raft *r)
{
	size_t i;

	r->tick_count++;
	if (r->role != RAFT_LEADER) {
		r->election_elapsed++;
		if (promotable(r) && r->election_elapsed >= r->rand_timeout)
			campaign(r, r->opt.pre_vote, false);
		return;
	}
	r->heartbeat_elapsed++;
	r->election_elapsed++;
	if (r->transferee != RAFT_NONE &&
	    ++r->transfer_elapsed >= r->opt.election_ticks)
		r->transferee = RAFT_NONE; /* abandoned (3.10) */
	for (i = 0; i < r->nprs; i++) {
		struct progress *pr = &r->prs[i];

		/* the driver streams big snapshots over many ticks; only a
		 * long silence means it was lost */
		if (pr->state == PR_SNAPSHOT &&
		    ++pr->snap_wait >= 10 * r->opt.election_ticks)
			progress_probe(pr); /* lost: try again */
	}
	if (r->election_elapsed >= r->opt.election_ticks) {
		r->election_elapsed = 0;
		if (r->opt.check_quorum) {
			if (!quorum_active(r)) {
				become_follower(r, r->term, RAFT_NONE);
				return;
			}
			for (i = 0; i < r->nprs; i++)
				if (r->prs[i].id != r->id)
					r->prs[i].recent_active = false;
		}
	}
	if (r->heartbeat_elapsed >= r->opt.heartbeat_ticks) {
		r->heartbeat_elapsed = 0;
		bcast_heartbeat(r);
	}
}

/* -------------------------------------------------------- client API */

static int
propose_entry(struct raft *r, uint8_t type, const void *data, size_t len,
    uint64_t *index)
{
	struct raft_entry e;
	struct progress *self;
	int rc;

	memset(&e, 0, sizeof(e));
	e.term = r->term;
	e.type = type;
	e.data = (uint8_t *)data;
	e.len = len;
	if ((rc = log_append(r, &e)) < 0)
		return rc;
	if (index != NULL)
		*index = last_index(r);
	self = progress_get(r, r->id);
	if (self != NULL)
		self->match = last_index(r);
	r->bcast_pending = true;
	return 0;
}

int
raft_propose(struct raft *r, const void *data, size_t len, uint64_t *index,
    uint64_t *term)
{
	int rc;

	if (r->role != RAFT_LEADER)
		return -RAFT_ENOTLEADER;
	if (r->transferee != RAFT_NONE)
		return -EBUSY;
	if ((rc = propose_entry(r, RAFT_ENTRY_COMMAND, data, len, index)) < 0)
		return rc;
	if (term != NULL)
		*term = r->term;
	return 0;
}

int
raft_read_index(struct raft *r, uint64_t ctx)
{
	struct pending_read *pr;

	if (r->role != RAFT_LEADER)
		return -RAFT_ENOTLEADER;
	if (r->nreads == r->capreads) {
		size_t nc = r->capreads ? r->capreads * 2 : 16;
		struct pending_read *n = realloc(r->reads, nc * sizeof(*n));

		if (n == NULL)
			return -ENOMEM;
		r->reads = n;
		r->capreads = nc;
	}
	pr = &r->reads[r->nreads++];
	pr->ctx = ctx;
	pr->seq = ++r->read_seq;
	/* confirm leadership with a quorum round now (6.4 step 2) */
	bcast_heartbeat(r);
	release_reads(r);
	return 0;
}

bool
raft_lease_valid(const struct raft *r)
{
	uint64_t lease;
	size_t i, n = 0;

	/* followers refuse votes for election_ticks of their own ticks after
	 * hearing from us; leave room for their clocks running up to ~25%
	 * faster than ours (hashicorp/raft keeps a similar lease/election
	 * ratio) */
	lease = r->opt.election_ticks * 3 / 4;
	if (lease < 1)
		lease = 1;
	if (r->role != RAFT_LEADER || !r->opt.check_quorum ||
	    !r->committed_in_term || r->lease_off)
		return false;
	for (i = 0; i < r->nprs; i++) {
		const struct progress *pr = &r->prs[i];

		if (!is_voter(&r->config, pr->id))
			continue;
		if (pr->id == r->id ||
		    (pr->ack_tick > 0 && pr->ack_tick + lease > r->tick_count))
			n++;
	}
	return n >= quorum(r);
}

static int
change_config(struct raft *r, struct raft_config *nc)
{
	struct buf b = BUF_INIT;
	uint64_t idx;
	int rc;

	raft_config_encode(nc, &b);
	rc = propose_entry(r, RAFT_ENTRY_CONFIG, b.data, b.len, &idx);
	buf_free(&b);
	return rc;
}

int
raft_add_server(struct raft *r, uint64_t id, const char *addr,
    enum raft_suffrage suffrage, bool promote)
{
	struct raft_config nc;
	struct raft_server *s;
	int rc;

	if (r->role != RAFT_LEADER)
		return -RAFT_ENOTLEADER;
	if (id == RAFT_NONE ||
	    (suffrage != RAFT_VOTER && suffrage != RAFT_NONVOTER))
		return -EINVAL;
	if (r->config_index > r->commit || r->transferee != RAFT_NONE)
		return -EBUSY;
	if (raft_config_get(&r->config, id) != NULL)
		return -EEXIST;
	nc.n = r->config.n + 1;
	nc.servers = calloc(nc.n, sizeof(*nc.servers));
	if (nc.servers == NULL)
		return -ENOMEM;
	memcpy(nc.servers, r->config.servers,
	    r->config.n * sizeof(*nc.servers));
	s = &nc.servers[nc.n - 1];
	s->id = id;
	s->suffrage = (uint8_t)suffrage;
	s->promote = suffrage == RAFT_NONVOTER && promote;
	if (addr != NULL) {
		strncpy(s->addr, addr, RAFT_ADDR_LEN - 1);
		s->addr[RAFT_ADDR_LEN - 1] = '\0';
	}
	rc = change_config(r, &nc);
	raft_config_free(&nc);
	return rc;
}

int
raft_remove_server(struct raft *r, uint64_t id)
{
	struct raft_config nc;
	size_t i, k = 0;
	int rc;

	if (r->role != RAFT_LEADER)
		return -RAFT_ENOTLEADER;
	if (r->config_index > r->commit || r->transferee != RAFT_NONE)
		return -EBUSY;
	if (raft_config_get(&r->config, id) == NULL)
		return -ENOENT;
	nc.servers = calloc(r->config.n, sizeof(*nc.servers));
	if (nc.servers == NULL)
		return -ENOMEM;
	for (i = 0; i < r->config.n; i++)
		if (r->config.servers[i].id != id)
			nc.servers[k++] = r->config.servers[i];
	nc.n = k;
	if (voter_count(&nc) == 0) {
		raft_config_free(&nc);
		return -EINVAL; /* would leave no voter */
	}
	rc = change_config(r, &nc);
	raft_config_free(&nc);
	return rc;
}

int
raft_transfer_leadership(struct raft *r, uint64_t to)
{
	struct progress *pr;
	size_t i;

	if (r->role != RAFT_LEADER)
		return -RAFT_ENOTLEADER;
	if (to == RAFT_NONE) {
		uint64_t best = 0;

		for (i = 0; i < r->nprs; i++) {
			if (r->prs[i].id == r->id ||
			    !is_voter(&r->config, r->prs[i].id))
				continue;
			if (to == RAFT_NONE || r->prs[i].match > best) {
				to = r->prs[i].id;
				best = r->prs[i].match;
			}
		}
		if (to == RAFT_NONE)
			return -ENOENT;
	}
	if (to == r->id)
		return 0;
	if (!is_voter(&r->config, to))
		return -EINVAL;
	pr = progress_get(r, to);
	if (pr == NULL)
		return -ENOENT;
	r->transferee = to;
	r->transfer_elapsed = 0;
	r->lease_off = true;
	if (pr->match == last_index(r))
		msg_new(r, RAFT_MSG_TIMEOUT_NOW, to);
	else
		send_append(r, pr);
	return 0;
}

int
raft_compact(struct raft *r, uint64_t index, size_t keep)
{
	struct raft_config c;
	uint64_t t, new_first, i;
	int rc;

	if (index <= r->snap_index)
		return 0;
	if (index > r->applied || term_at(r, index, &t) < 0)
		return -EINVAL;
	if ((rc = config_at(r, index, &c)) < 0)
		return rc;
	raft_config_free(&r->snap_config);
	r->snap_config = c;
	r->snap_index = index;
	r->snap_term = t;
	new_first = index > keep ? index - keep + 1 : 1;
	if (new_first <= r->first)
		return 0;
	if (term_at(r, new_first - 1, &t) < 0)
		return 0;
	for (i = r->first; i < new_first; i++)
		free(r->log[i - r->first].data);
	memmove(r->log, r->log + (new_first - r->first),
	    (r->n - (new_first - r->first)) * sizeof(*r->log));
	r->n -= new_first - r->first;
	r->first = new_first;
	r->prev_term = t;
	r->prev_known = true;
	return 0;
}

/* -------------------------------------------------------- ready cycle */

static uint64_t
apply_to(const struct raft *r)
{
	uint64_t to = r->commit;

	if (to > last_index(r))
		to = last_index(r);
	return to;
}

bool
raft_has_ready(const struct raft *r)
{
	return r->term != r->hs_term || r->vote != r->hs_vote ||
	       r->pending_snap != NULL || r->stable < last_index(r) ||
	       r->nout > 0 || r->nout_reads > 0 || r->applied < apply_to(r) ||
	       (r->bcast_pending && r->role == RAFT_LEADER);
}

void
raft_ready(struct raft *r, struct raft_ready *rd)
{
	memset(rd, 0, sizeof(*rd));
	if (r->bcast_pending && r->role == RAFT_LEADER)
		bcast_append(r);
	r->bcast_pending = false;

	rd->hard_state_changed = r->term != r->hs_term || r->vote != r->hs_vote;
	rd->term = r->term;
	rd->vote = r->vote;
	rd->snapshot = r->pending_snap;
	r->rd_snap = r->pending_snap != NULL;
	if (r->stable < last_index(r)) {
		uint64_t from = r->stable + 1;

		if (from < r->first)
			from = r->first;
		rd->entries = entry_at(r, from);
		rd->n_entries = (size_t)(last_index(r) - from + 1);
	}
	r->rd_stable_to = last_index(r);
	rd->msgs = r->out;
	rd->n_msgs = r->nout;
	r->rd_nout = r->nout;
	/* everything committed that this ready leaves on disk */
	r->rd_applied_to = r->applied;
	if (r->applied < apply_to(r)) {
		uint64_t from = r->applied + 1;

		if (from >= r->first) {
			rd->committed = entry_at(r, from);
			rd->n_committed = (size_t)(apply_to(r) - from + 1);
			r->rd_applied_to = apply_to(r);
		}
	}
	rd->reads = r->out_reads;
	rd->n_reads = r->nout_reads;
	r->rd_nreads = r->nout_reads;
	rd->role = r->role;
	rd->leader = r->leader;
	rd->commit = r->commit;
}

void
raft_advance(struct raft *r, const struct raft_ready *rd)
{
	size_t i;

	if (rd->hard_state_changed) {
		r->hs_term = rd->term;
		r->hs_vote = rd->vote;
	}
	if (r->rd_snap && r->pending_snap == rd->snapshot) {
		raft_config_free(&r->pending_snap->config);
		free(r->pending_snap);
		r->pending_snap = NULL;
	}
	if (r->rd_stable_to > r->stable && r->rd_stable_to <= last_index(r))
		r->stable = r->rd_stable_to;
	if (r->rd_applied_to > r->applied)
		r->applied = r->rd_applied_to;
	for (i = 0; i < r->rd_nout; i++)
		raft_msg_free(&r->out[i]);
	if (r->nout > r->rd_nout)
		memmove(r->out, r->out + r->rd_nout,
		    (r->nout - r->rd_nout) * sizeof(*r->out));
	r->nout -= r->rd_nout;
	if (r->nout_reads > r->rd_nreads)
		memmove(r->out_reads, r->out_reads + r->rd_nreads,
		    (r->nout_reads - r->rd_nreads) * sizeof(*r->out_reads));
	r->nout_reads -= r->rd_nreads;
	r->rd_nout = r->rd_nreads = 0;
	r->rd_snap = false;
	if (r->role == RAFT_LEADER) {
		struct progress *self = progress_get(r, r->id);

		if (self != NULL)
			self->match = r->stable;
		maybe_commit(r);
	}
}

/* ---------------------------------------------------- life and state */

struct raft *
raft_new(const struct raft_options *opt)
{
	struct raft *r;

	if (opt->id == RAFT_NONE || opt->election_ticks < 2 ||
	    opt->heartbeat_ticks < 1 ||
	    opt->heartbeat_ticks >= opt->election_ticks)
		return NULL;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return NULL;
	r->opt = *opt;
	if (r->opt.max_append_entries == 0)
		r->opt.max_append_entries = 256;
	if (r->opt.max_append_bytes == 0)
		r->opt.max_append_bytes = 1024 * 1024;
	if (r->opt.max_inflight == 0 || r->opt.max_inflight > MAX_INFLIGHT_CAP)
		r->opt.max_inflight = 64;
	r->id = opt->id;
	r->rng = opt->seed ? opt->seed : opt->id * 0x9e3779b97f4a7c15ull;
	if (r->rng == 0)
		r->rng = 1;
	r->first = 1;
	r->prev_known = true;
	r->role = RAFT_FOLLOWER;
	reset_election_timer(r);
	return r;
}

void
raft_free(struct raft *r)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->n; i++)
		free(r->log[i].data);
	free(r->log);
	for (i = 0; i < r->nout; i++)
		raft_msg_free(&r->out[i]);
	free(r->out);
	free(r->out_reads);
	free(r->reads);
	free(r->prs);
	raft_config_free(&r->config);
	raft_config_free(&r->snap_config);
	if (r->pending_snap != NULL) {
		raft_config_free(&r->pending_snap->config);
		free(r->pending_snap);
	}
	free(r);
}

int
raft_load(struct raft *r, uint64_t term, uint64_t vote,
    const struct raft_snapshot_meta *snap, const struct raft_entry *entries,
    size_t n, uint64_t applied)
{
	size_t i;
	int rc;

	r->term = r->hs_term = term;
	r->vote = r->hs_vote = vote;
	if (snap != NULL && snap->index > 0) {
		r->snap_index = snap->index;
		r->snap_term = snap->term;
		if ((rc = raft_config_copy(&r->snap_config, &snap->config)) < 0)
			return rc;
		r->first = snap->index + 1;
		r->prev_term = snap->term;
		r->prev_known = true;
	}
	if (n > 0) {
		if (entries[0].index > r->first || entries[0].index == 0)
			return -EINVAL; /* a gap after the snapshot */
		if (entries[n - 1].index < r->snap_index)
			return -EINVAL;
		if (entries[0].index < r->first) {
			r->first = entries[0].index;
			r->prev_known = r->first - 1 == 0;
			r->prev_term = 0;
		}
		for (i = 0; i < n; i++) {
			if (entries[i].index != r->first + i)
				return -EINVAL;
			if ((rc = log_append(r, &entries[i])) < 0)
				return rc;
			r->log[i].term = entries[i].term;
		}
	}
	if (applied < r->snap_index)
		applied = r->snap_index;
	if (applied > last_index(r) && applied > r->snap_index)
		return -EINVAL;
	r->applied = r->commit = applied;
	r->stable = last_index(r);
	return set_config_from_log(r);
}

int
raft_bootstrap(struct raft *r, const struct raft_config *config)
{
	struct raft_entry e;
	struct buf b = BUF_INIT;
	int rc;

	if (r->term != 0 || last_index(r) != 0 || r->snap_index != 0)
		return -EBUSY;
	if (voter_count(config) == 0)
		return -EINVAL;
	raft_config_encode(config, &b);
	memset(&e, 0, sizeof(e));
	e.term = 1;
	e.type = RAFT_ENTRY_CONFIG;
	e.data = b.data;
	e.len = b.len;
	rc = log_append(r, &e);
	buf_free(&b);
	if (rc < 0)
		return rc;
	r->term = 1;
	/* every bootstrapped server holds this same entry: committed */
	r->commit = 1;
	return 0;
}

enum raft_role
raft_role(const struct raft *r)
{
	return r->role;
}

uint64_t
raft_id(const struct raft *r)
{
	return r->id;
}

uint64_t
raft_term(const struct raft *r)
{
	return r->term;
}

uint64_t
raft_leader(const struct raft *r)
{
	return r->leader;
}

uint64_t
raft_commit_index(const struct raft *r)
{
	return r->commit;
}

uint64_t
raft_applied_index(const struct raft *r)
{
	return r->applied;
}

uint64_t
raft_last_index(const struct raft *r)
{
	return last_index(r);
}

uint64_t
raft_first_index(const struct raft *r)
{
	return r->first;
}

const struct raft_entry *
raft_entry_at(const struct raft *r, uint64_t index)
{
	return entry_at(r, index);
}

void
raft_get_snapshot(const struct raft *r, uint64_t *index, uint64_t *term,
    const struct raft_config **config)
{
	*index = r->snap_index;
	*term = r->snap_term;
	*config = &r->snap_config;
}

const struct raft_config *
raft_get_config(const struct raft *r)
{
	return &r->config;
}

const char *
raft_role_name(enum raft_role role)
{
	switch (role) {
	case RAFT_FOLLOWER:
		return "follower";
	case RAFT_PRECANDIDATE:
		return "pre-candidate";
	case RAFT_CANDIDATE:
		return "candidate";
	case RAFT_LEADER:
		return "leader";
	}
	return "?";
}
