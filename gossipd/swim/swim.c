/* swim.c - SWIM membership with Lifeguard (see swim.h). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "swim.h"
#include "xmalloc.h"

#define EVENT_BUFFER 512     /* user events remembered for de-duplication */
#define USER_EVENT_MAX 512   /* bytes of name + payload (Serf's limit) */

struct bcast {
	char *key; /* "m:<node>" membership, "e:<ltime>:<name>" events */
	struct swim_msg msg;
	size_t size;
	unsigned transmits;
};

struct relay {
	uint32_t my_seq, their_seq;
	char *requester;
	uint64_t deadline;
	bool nack;
};

struct seen_event {
	uint64_t ltime;
	uint32_t hash;
};

struct swim {
	struct swim_options o;
	char *name, *addr;
	uint64_t incarnation;
	bool leaving;
	struct cdc_strlist tags;
	uint64_t rng;

	struct swim_member *m; /* m[0] is this member */
	size_t nm, capm;
	size_t probe_idx;

	/* the probe in progress */
	struct {
		bool active, acked, indirect_sent;
		char *target;
		uint32_t seq;
		uint64_t start, timeout_at, end_at;
		unsigned nacks_expected, nacks;
	} probe;
	uint32_t seq;
	unsigned awareness;
	struct viv_client viv;
	uint8_t coord_wire[VIV_WIRE_LEN];
	uint64_t next_probe, next_gossip, next_pushpull, next_reconnect;

	struct relay *relays;
	size_t nrelays;

	struct bcast *bc;
	size_t nbc, capbc;

	uint64_t event_clock;
	struct seen_event seen[EVENT_BUFFER];

	struct swim_send *sends;
	size_t nsends, capsends;
	struct swim_event *evs;
	size_t nevs, capevs;
};

/* ------------------------------------------------------------ helpers */

static uint64_t
rnd(struct swim *s)
{
	/* xorshift64* */
	s->rng ^= s->rng >> 12;
	s->rng ^= s->rng << 25;
	s->rng ^= s->rng >> 27;
	return s->rng * 2685821657736338717ull;
}

static uint32_t
fnv1a(const void *p, size_t n, uint32_t h)
{
	const uint8_t *b = p;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= b[i];
		h *= 16777619u;
	}
	return h;
}

static void
strlist_copy(struct cdc_strlist *dst, const struct cdc_strlist *src)
{
	size_t i;

	dst->n = src->n;
	dst->v = src->n ? xcalloc(src->n, sizeof(char *)) : NULL;
	for (i = 0; i < src->n; i++)
		dst->v[i] = xstrdup(src->v[i]);
}

static void
strlist_free(struct cdc_strlist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static bool
strlist_eq(const struct cdc_strlist *a, const struct cdc_strlist *b)
{
	size_t i;

	if (a->n != b->n)
		return false;
	for (i = 0; i < a->n; i++)
		if (strcmp(a->v[i], b->v[i]) != 0)
			return false;
	return true;
}

static void
msg_copy(struct swim_msg *dst, const struct swim_msg *src)
{
	struct buf b = BUF_INIT;

	cdc_encode(&b, &swim_msg_desc, src);
	memset(dst, 0, sizeof(*dst));
	if (cdc_decode(&swim_msg_desc, b.data, b.len, dst, NULL) < 0)
		abort(); /* we just encoded it */
	buf_free(&b);
}

static struct swim_member *
find(struct swim *s, const char *name)
{
	size_t i;

	for (i = 0; i < s->nm; i++)
		if (strcmp(s->m[i].name, name) == 0)
			return &s->m[i];
	return NULL;
}

static size_t
num_alive(const struct swim *s)
{
	size_t i, n = 0;

	for (i = 0; i < s->nm; i++)
		if (s->m[i].state == SWIM_STATE_ALIVE ||
		    s->m[i].state == SWIM_STATE_SUSPECT)
			n++;
	return n;
}

static void
emit(struct swim *s, enum swim_event_type type, const char *node,
    const char *name, const void *payload, size_t plen, uint64_t ltime)
{
	struct swim_event *e;

	if (s->nevs == s->capevs) {
		s->capevs = s->capevs ? 2 * s->capevs : 16;
		s->evs = xreallocarray(s->evs, s->capevs, sizeof(*s->evs));
	}
	e = &s->evs[s->nevs++];
	memset(e, 0, sizeof(*e));
	e->type = type;
	e->node = node ? xstrdup(node) : NULL;
	e->name = name ? xstrdup(name) : NULL;
	if (plen > 0) {
		e->payload.p = xmalloc(plen);
		memcpy(e->payload.p, payload, plen);
		e->payload.n = plen;
	}
	e->ltime = ltime;
}

/* ---------------------------------------------------------- broadcasts */

static unsigned
retransmit_limit(const struct swim *s)
{
	double n = (double)num_alive(s) + 1;

	return s->o.retransmit_mult * (unsigned)ceil(log10(n));
}

static void
bcast_free(struct bcast *b)
{
	free(b->key);
	cdc_free(&swim_msg_desc, &b->msg);
}

/* queue - gossip m; replaces a queued broadcast with the same key */
static void
queue(struct swim *s, const char *key, const struct swim_msg *m)
{
	struct bcast *b = NULL;
	size_t i;

	for (i = 0; i < s->nbc; i++)
		if (strcmp(s->bc[i].key, key) == 0) {
			b = &s->bc[i];
			bcast_free(b);
			break;
		}
	if (b == NULL) {
		if (s->nbc == s->capbc) {
			s->capbc = s->capbc ? 2 * s->capbc : 16;
			s->bc = xreallocarray(s->bc, s->capbc, sizeof(*s->bc));
		}
		b = &s->bc[s->nbc++];
	}
	b->key = xstrdup(key);
	msg_copy(&b->msg, m);
	b->size = swim_msg_size(m);
	b->transmits = 0;
}

static void
queue_member(struct swim *s, const struct swim_msg *m)
{
	char key[300];

	snprintf(key, sizeof(key), "m:%s", m->node);
	queue(s, key, m);
}

static int
cmp_bcast(const void *a, const void *b)
{
	const struct bcast *x = a, *y = b;

	return x->transmits < y->transmits ? -1 : x->transmits > y->transmits;
}

/* send - a packet of msgs[0..n) to addr, with broadcasts piggybacked
 * while they fit (fewest sent first) */
static void
send_pkt_ex(struct swim *s, const char *addr, const struct swim_msg *msgs,
    size_t n, bool tcp, bool join, bool count)
{
	struct swim_packet pkt;
	struct swim_msg *all;
	struct swim_send *out;
	size_t i, k = 0, size = 8, limit = retransmit_limit(s);

	all = xcalloc(n + s->nbc + 1, sizeof(*all));
	for (i = 0; i < n; i++) {
		all[k++] = msgs[i];
		size += swim_msg_size(&msgs[i]);
	}
	if (!tcp && s->nbc > 0) {
		qsort(s->bc, s->nbc, sizeof(*s->bc), cmp_bcast);
		for (i = 0; i < s->nbc; i++) {
			if (size + s->bc[i].size > SWIM_UDP_MAX)
				continue;
			all[k++] = s->bc[i].msg;
			size += s->bc[i].size;
			if (count)
				s->bc[i].transmits++;
		}
	}
	if (k == 0) {
		free(all);
		return;
	}
	memset(&pkt, 0, sizeof(pkt));
	pkt.protocol = SWIM_PROTOCOL;
	pkt.msgs.v = all;
	pkt.msgs.n = k;
	if (s->nsends == s->capsends) {
		s->capsends = s->capsends ? 2 * s->capsends : 16;
		s->sends = xreallocarray(s->sends, s->capsends,
		    sizeof(*s->sends));
	}
	out = &s->sends[s->nsends++];
	memset(out, 0, sizeof(*out));
	out->addr = xstrdup(addr);
	out->tcp = tcp;
	out->join = join;
	cdc_encode(&out->data, &swim_packet_desc, &pkt);
	free(all);
	/* drop broadcasts sent often enough */
	for (i = 0; i < s->nbc;) {
		if (s->bc[i].transmits >= limit) {
			bcast_free(&s->bc[i]);
			s->bc[i] = s->bc[--s->nbc];
		} else {
			i++;
		}
	}
}

static void
send_pkt(struct swim *s, const char *addr, const struct swim_msg *msgs,
    size_t n, bool tcp, bool join)
{
	send_pkt_ex(s, addr, msgs, n, tcp, join, true);
}

static void
send1(struct swim *s, const char *addr, const struct swim_msg *m)
{
	send_pkt(s, addr, m, 1, false, false);
}

/* ------------------------------------------------------------- members */

static struct swim_member *
add_member(struct swim *s, const char *name, const char *addr,
    uint64_t now)
{
	struct swim_member *m;

	if (s->nm == s->capm) {
		s->capm = s->capm ? 2 * s->capm : 16;
		s->m = xreallocarray(s->m, s->capm, sizeof(*s->m));
	}
	m = &s->m[s->nm++];
	memset(m, 0, sizeof(*m));
	m->name = xstrdup(name);
	m->addr = xstrdup(addr);
	m->state_since = now;
	/* a new member goes to a random place in the probe order */
	if (s->nm > 2) {
		size_t j = 1 + (size_t)(rnd(s) % (s->nm - 1));
		struct swim_member t = s->m[j];

		s->m[j] = *m;
		*m = t;
		m = &s->m[j];
	}
	return m;
}

static void
member_free(struct swim_member *m)
{
	size_t i;

	free(m->name);
	free(m->addr);
	strlist_free(&m->tags);
	for (i = 0; i < m->nconfirm; i++)
		free(m->confirm[i]);
	free(m->confirm);
}

static void
clear_suspicion(struct swim_member *m)
{
	size_t i;

	for (i = 0; i < m->nconfirm; i++)
		free(m->confirm[i]);
	free(m->confirm);
	m->confirm = NULL;
	m->nconfirm = 0;
}

static void
self_alive_msg(struct swim *s, struct swim_msg *m)
{
	memset(m, 0, sizeof(*m));
	m->type = SWIM_ALIVE;
	m->node = s->name;
	m->addr = s->addr;
	m->incarnation = s->incarnation;
	m->tags = s->tags;
}

/* refute - someone suspects or buries us: a higher incarnation says we
 * live (Lifeguard: being suspected hints our own health is poor) */
static void
refute(struct swim *s, uint64_t inc)
{
	struct swim_msg m;

	if (inc >= s->incarnation)
		s->incarnation = inc + 1;
	else
		s->incarnation++;
	s->m[0].incarnation = s->incarnation;
	if (s->awareness + 1 < s->o.awareness_max)
		s->awareness++;
	self_alive_msg(s, &m);
	queue_member(s, &m);
}

static void
on_alive(struct swim *s, const struct swim_msg *a, uint64_t now)
{
	struct swim_member *m;
	bool changed, was_down;

	if (strcmp(a->node, s->name) == 0) {
		if (!s->leaving && (a->incarnation > s->incarnation ||
				       (a->incarnation == s->incarnation &&
					   (strcmp(a->addr, s->addr) != 0 ||
					       !strlist_eq(&a->tags, &s->tags)))))
			refute(s, a->incarnation);
		return;
	}
	m = find(s, a->node);
	if (m == NULL) {
		m = add_member(s, a->node, a->addr, now);
		m->incarnation = a->incarnation;
		m->state = SWIM_STATE_ALIVE;
		strlist_copy(&m->tags, &a->tags);
		emit(s, SWIM_EV_JOIN, a->node, NULL, NULL, 0, 0);
		queue_member(s, a);
		return;
	}
	was_down = m->state == SWIM_STATE_DEAD || m->state == SWIM_STATE_LEFT;
	if (a->incarnation <= m->incarnation &&
	    !(was_down && strcmp(a->addr, m->addr) != 0))
		return;
	changed = strcmp(a->addr, m->addr) != 0 || !strlist_eq(&a->tags,
							&m->tags);
	m->incarnation = a->incarnation;
	if (strcmp(a->addr, m->addr) != 0) {
		free(m->addr);
		m->addr = xstrdup(a->addr);
	}
	strlist_free(&m->tags);
	strlist_copy(&m->tags, &a->tags);
	if (m->state != SWIM_STATE_ALIVE) {
		m->state = SWIM_STATE_ALIVE;
		m->state_since = now;
		clear_suspicion(m);
		if (was_down)
			emit(s, SWIM_EV_JOIN, a->node, NULL, NULL, 0, 0);
		else if (changed)
			emit(s, SWIM_EV_UPDATE, a->node, NULL, NULL, 0, 0);
	} else if (changed) {
		emit(s, SWIM_EV_UPDATE, a->node, NULL, NULL, 0, 0);
	}
	queue_member(s, a);
}

/* suspicion bounds (memberlist suspicion.go; Lifeguard) */
static void
start_suspicion(struct swim *s, struct swim_member *m, uint64_t now)
{
	double n = (double)num_alive(s);
	double min = s->o.suspicion_mult * fmax(1.0, log10(fmax(1.0, n))) *
		     s->o.probe_interval;
	unsigned k = s->o.suspicion_mult > 2 ? s->o.suspicion_mult - 2 : 0;

	if (n < 2 || (size_t)n - 2 < k)
		k = 0;
	m->susp_start = now;
	m->susp_min = (uint64_t)min;
	m->susp_max = (uint64_t)(min * s->o.suspicion_max_mult);
	m->susp_k = k;
	clear_suspicion(m);
}

static uint64_t
suspicion_timeout(const struct swim_member *m)
{
	double frac, t;

	if (m->susp_k == 0)
		return m->susp_min;
	frac = log((double)(m->nconfirm ? m->nconfirm - 1 : 0) + 1.0) /
	       log((double)m->susp_k + 1.0);
	t = (double)m->susp_max - frac * (double)(m->susp_max - m->susp_min);
	return t < (double)m->susp_min ? m->susp_min : (uint64_t)t;
}

static void
on_suspect(struct swim *s, const struct swim_msg *sm, uint64_t now)
{
	struct swim_member *m = find(s, sm->node);
	size_t i;

	if (m == NULL || sm->incarnation < m->incarnation)
		return;
	if (m->state == SWIM_STATE_SUSPECT) {
		/* an independent confirmation (another member's failed
		 * probe, or our own) shortens the timeout; confirm[0] is who
		 * suspected it first */
		for (i = 0; i < m->nconfirm; i++)
			if (strcmp(m->confirm[i], sm->from) == 0)
				return;
		if (m->nconfirm >= m->susp_k + 1)
			return;
		m->confirm = xreallocarray(m->confirm, m->nconfirm + 1,
		    sizeof(char *));
		m->confirm[m->nconfirm++] = xstrdup(sm->from);
		queue_member(s, sm);
		return;
	}
	if (m->state == SWIM_STATE_DEAD || m->state == SWIM_STATE_LEFT)
		return;
	if (m == &s->m[0]) {
		if (!s->leaving)
			refute(s, sm->incarnation);
		return;
	}
	m->incarnation = sm->incarnation;
	m->state = SWIM_STATE_SUSPECT;
	m->state_since = now;
	start_suspicion(s, m, now);
	m->confirm = xcalloc(1, sizeof(char *));
	m->confirm[0] = xstrdup(sm->from);
	m->nconfirm = 1;
	emit(s, SWIM_EV_SUSPECT, m->name, NULL, NULL, 0, 0);
	queue_member(s, sm);
}

static void
on_dead(struct swim *s, const struct swim_msg *d, uint64_t now)
{
	struct swim_member *m = find(s, d->node);
	bool leave = strcmp(d->from, d->node) == 0;

	if (m == NULL || d->incarnation < m->incarnation)
		return;
	if (m->state == SWIM_STATE_LEFT ||
	    (m->state == SWIM_STATE_DEAD && !leave))
		return;
	if (m == &s->m[0]) {
		if (!s->leaving)
			refute(s, d->incarnation);
		return;
	}
	m->incarnation = d->incarnation;
	m->state = leave ? SWIM_STATE_LEFT : SWIM_STATE_DEAD;
	m->state_since = now;
	clear_suspicion(m);
	emit(s, leave ? SWIM_EV_LEFT : SWIM_EV_FAILED, m->name, NULL, NULL, 0,
	    0);
	queue_member(s, d);
}

/* declare - this member's own verdict on m (suspect or dead) */
static void
declare(struct swim *s, struct swim_member *m, uint32_t type, uint64_t now)
{
	struct swim_msg msg;

	memset(&msg, 0, sizeof(msg));
	msg.type = type;
	msg.node = m->name;
	msg.incarnation = m->incarnation;
	msg.from = s->name;
	if (type == SWIM_SUSPECT)
		on_suspect(s, &msg, now);
	else
		on_dead(s, &msg, now);
}

/* ---------------------------------------------------------- user events */

static void
on_user_event(struct swim *s, const struct swim_msg *e)
{
	struct seen_event *slot;
	uint32_t h;
	char key[300];

	/* Lamport clock: witness */
	if (e->ltime + 1 > s->event_clock)
		s->event_clock = e->ltime + 1;
	if (s->event_clock > EVENT_BUFFER &&
	    e->ltime < s->event_clock - EVENT_BUFFER)
		return; /* too old to tell whether it was seen */
	h = fnv1a(e->name, strlen(e->name), 2166136261u);
	h = fnv1a(e->payload.p, e->payload.n, h);
	slot = &s->seen[e->ltime % EVENT_BUFFER];
	if (slot->ltime == e->ltime && slot->hash == h)
		return;
	slot->ltime = e->ltime;
	slot->hash = h;
	emit(s, SWIM_EV_USER, e->from, e->name, e->payload.p, e->payload.n,
	    e->ltime);
	snprintf(key, sizeof(key), "e:%llu:%.200s",
	    (unsigned long long)e->ltime, e->name);
	queue(s, key, e);
}

/* ------------------------------------------------------------ push-pull */

static void
state_msg(struct swim *s, struct swim_msg *m, bool join,
    struct swim_member_state **arr)
{
	size_t i;

	*arr = xcalloc(s->nm, sizeof(**arr));
	for (i = 0; i < s->nm; i++) {
		(*arr)[i].node = s->m[i].name;
		(*arr)[i].addr = s->m[i].addr;
		(*arr)[i].incarnation = s->m[i].incarnation;
		(*arr)[i].state = s->m[i].state;
		(*arr)[i].tags = s->m[i].tags;
	}
	memset(m, 0, sizeof(*m));
	m->type = SWIM_PUSH_PULL;
	m->from = s->name;
	m->join = join;
	m->ltime = s->event_clock;
	m->states.v = *arr;
	m->states.n = s->nm;
}

static void
merge(struct swim *s, const struct swim_msg *pp, uint64_t now)
{
	size_t i;

	if (pp->ltime > s->event_clock)
		s->event_clock = pp->ltime;
	for (i = 0; i < pp->states.n; i++) {
		const struct swim_member_state *st =
		    (const struct swim_member_state *)pp->states.v + i;
		struct swim_msg m;

		memset(&m, 0, sizeof(m));
		m.node = st->node;
		m.addr = st->addr;
		m.incarnation = st->incarnation;
		m.tags = st->tags;
		switch (st->state) {
		case SWIM_STATE_ALIVE:
			m.type = SWIM_ALIVE;
			on_alive(s, &m, now);
			break;
		case SWIM_STATE_LEFT:
			m.type = SWIM_DEAD;
			m.from = st->node;
			on_dead(s, &m, now);
			break;
		default:
			/* dead or suspect elsewhere: only suspect here, so
			 * the member gets its chance to refute */
			m.type = SWIM_SUSPECT;
			m.from = pp->from;
			if (find(s, st->node) != NULL)
				on_suspect(s, &m, now);
			break;
		}
	}
}

static void
start_pushpull(struct swim *s, const char *addr, bool join)
{
	struct swim_member_state *arr;
	struct swim_msg m;

	state_msg(s, &m, join, &arr);
	send_pkt(s, addr, &m, 1, true, join);
	free(arr);
}

/* ---------------------------------------------------------------- probes */

static uint64_t
scaled(const struct swim *s, uint32_t base)
{
	return (uint64_t)base * (s->awareness + 1);
}

static void
awareness_delta(struct swim *s, int d)
{
	if (d < 0 && s->awareness > 0)
		s->awareness--;
	else if (d > 0) {
		s->awareness += (unsigned)d;
		if (s->awareness >= s->o.awareness_max)
			s->awareness = s->o.awareness_max - 1;
	}
}

static struct swim_member *
next_target(struct swim *s)
{
	size_t tries;

	for (tries = 0; tries < s->nm; tries++) {
		struct swim_member *m;

		s->probe_idx++;
		if (s->probe_idx >= s->nm) {
			size_t i;

			/* a new round in a new random order */
			for (i = s->nm - 1; i > 1; i--) {
				size_t j = 1 + (size_t)(rnd(s) % i);
				struct swim_member t = s->m[i];

				s->m[i] = s->m[j];
				s->m[j] = t;
			}
			s->probe_idx = 1;
			if (s->nm < 2)
				return NULL;
		}
		m = &s->m[s->probe_idx];
		if (m->state == SWIM_STATE_ALIVE ||
		    m->state == SWIM_STATE_SUSPECT)
			return m;
	}
	return NULL;
}

static void
start_probe(struct swim *s, uint64_t now)
{
	struct swim_member *t = next_target(s);
	struct swim_msg m;

	s->next_probe = now + scaled(s, s->o.probe_interval);
	if (t == NULL)
		return;
	free(s->probe.target);
	memset(&s->probe, 0, sizeof(s->probe));
	s->probe.active = true;
	s->probe.target = xstrdup(t->name);
	s->probe.seq = ++s->seq;
	s->probe.start = now;
	s->probe.timeout_at = now + scaled(s, s->o.probe_timeout);
	s->probe.end_at = s->next_probe;
	memset(&m, 0, sizeof(m));
	m.type = SWIM_PING;
	m.seq = s->probe.seq;
	m.node = t->name;
	m.from = s->name;
	m.from_addr = s->addr;
	if (t->state == SWIM_STATE_SUSPECT) {
		struct swim_msg two[2];

		/* tell a suspect member what it is suspected of, so that it
		 * can refute (memberlist does the same) */
		two[0] = m;
		memset(&two[1], 0, sizeof(two[1]));
		two[1].type = SWIM_SUSPECT;
		two[1].node = t->name;
		two[1].incarnation = t->incarnation;
		two[1].from = s->name;
		send_pkt(s, t->addr, two, 2, false, false);
		return;
	}
	send1(s, t->addr, &m);
}

/* pick up to k distinct random alive members other than self and skip */
static size_t
pick(struct swim *s, size_t k, const char *skip, bool dead_too,
    uint64_t now, struct swim_member **out)
{
	size_t n = 0, tries;

	for (tries = 0; n < k && tries < 3 * s->nm + 3 && s->nm > 1;
	     tries++) {
		struct swim_member *m = &s->m[1 + rnd(s) % (s->nm - 1)];
		size_t i;
		bool ok = m->state == SWIM_STATE_ALIVE ||
			  m->state == SWIM_STATE_SUSPECT ||
			  (dead_too && m->state != SWIM_STATE_ALIVE &&
			      now - m->state_since < s->o.gossip_to_dead);

		if (!ok || (skip && strcmp(m->name, skip) == 0))
			continue;
		for (i = 0; i < n; i++)
			if (out[i] == m)
				break;
		if (i == n)
			out[n++] = m;
	}
	return n;
}

static void
probe_timeout(struct swim *s, uint64_t now)
{
	struct swim_member *t = find(s, s->probe.target), *via[16];
	struct swim_msg m;
	size_t i, k;

	s->probe.indirect_sent = true;
	if (t == NULL)
		return;
	k = pick(s, s->o.indirect_checks < 16 ? s->o.indirect_checks : 16,
	    t->name, false, now, via);
	memset(&m, 0, sizeof(m));
	m.type = SWIM_INDIRECT_PING;
	m.seq = s->probe.seq;
	m.node = t->name;
	m.addr = t->addr;
	m.from = s->name;
	m.from_addr = s->addr;
	m.nack = true;
	for (i = 0; i < k; i++)
		send1(s, via[i]->addr, &m);
	s->probe.nacks_expected = (unsigned)k;
	/* and a TCP ping, for a member whose UDP is lost */
	memset(&m, 0, sizeof(m));
	m.type = SWIM_PING;
	m.seq = s->probe.seq;
	m.node = t->name;
	m.from = s->name;
	m.from_addr = s->addr;
	send_pkt(s, t->addr, &m, 1, true, false);
}

static void
probe_end(struct swim *s, uint64_t now)
{
	struct swim_member *t = find(s, s->probe.target);

	s->probe.active = false;
	if (s->probe.acked) {
		awareness_delta(s, -1);
		return;
	}
	if (s->probe.nacks_expected > 0) {
		if (s->probe.nacks < s->probe.nacks_expected)
			awareness_delta(s, (int)(s->probe.nacks_expected -
						 s->probe.nacks));
	} else {
		awareness_delta(s, 1);
	}
	if (t != NULL && (t->state == SWIM_STATE_ALIVE ||
			     t->state == SWIM_STATE_SUSPECT))
		declare(s, t, SWIM_SUSPECT, now); /* or confirm */
}

static double
rnd_unit(void *arg)
{
	return (double)(rnd(arg) >> 11) / 9007199254740992.0;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* observe_rtt - a direct ack: Vivaldi learns from the median of the last
 * samples to this member (Serf's latency filter) */
static void
observe_rtt(struct swim *s, const struct swim_msg *a, uint64_t now)
{
	struct swim_member *m = find(s, s->probe.target);
	struct viv_coord other;
	double sorted[VIV_FILTER];
	size_t k;

	if (m == NULL || a->coord.n == 0 ||
	    viv_decode(a->coord.p, a->coord.n, &other) < 0)
		return;
	if (m->nrtt == VIV_FILTER)
		memmove(m->rtt, m->rtt + 1, (VIV_FILTER - 1) * sizeof(double));
	else
		m->nrtt++;
	m->rtt[m->nrtt - 1] = (double)(now - s->probe.start) / 1000.0;
	memcpy(sorted, m->rtt, m->nrtt * sizeof(double));
	qsort(sorted, m->nrtt, sizeof(double), cmp_double);
	k = m->nrtt / 2;
	m->coord = other;
	m->has_coord = true;
	viv_update(&s->viv, &other, sorted[k] > 0 ? sorted[k] : 1e-4,
	    rnd_unit, s);
}

static void
on_ack(struct swim *s, const struct swim_msg *a, uint64_t now)
{
	size_t i;

	if (s->probe.active && a->seq == s->probe.seq) {
		if (!s->probe.acked && !s->probe.indirect_sent)
			observe_rtt(s, a, now);
		s->probe.acked = true;
		return;
	}
	for (i = 0; i < s->nrelays; i++) {
		struct relay *r = &s->relays[i];

		if (r->my_seq == a->seq) {
			struct swim_msg m;

			memset(&m, 0, sizeof(m));
			m.type = SWIM_ACK;
			m.seq = r->their_seq;
			m.from = s->name;
			send1(s, r->requester, &m);
			free(r->requester);
			*r = s->relays[--s->nrelays];
			return;
		}
	}
}

static void
on_ping(struct swim *s, const char *src, const struct swim_msg *p,
    bool tcp, struct swim_msg *reply)
{
	struct swim_msg m;

	if (strcmp(p->node, s->name) != 0)
		return; /* meant for a member that was here before */
	memset(&m, 0, sizeof(m));
	m.type = SWIM_ACK;
	m.seq = p->seq;
	m.from = s->name;
	/* in s, not on the stack: a TCP reply is encoded by the caller */
	viv_encode(&s->viv.c, s->coord_wire);
	m.coord.p = s->coord_wire;
	m.coord.n = sizeof(s->coord_wire);
	if (tcp && reply)
		*reply = m;
	else
		send1(s, p->from_addr && *p->from_addr ? p->from_addr : src,
		    &m);
}

static void
on_indirect(struct swim *s, const char *src, const struct swim_msg *p,
    uint64_t now)
{
	struct relay *r;
	struct swim_msg m;

	if (s->nrelays >= 1024)
		return;
	s->relays = xreallocarray(s->relays, s->nrelays + 1,
	    sizeof(*s->relays));
	r = &s->relays[s->nrelays++];
	r->my_seq = ++s->seq;
	r->their_seq = p->seq;
	r->requester = xstrdup(p->from_addr && *p->from_addr ? p->from_addr
							     : src);
	r->deadline = now + s->o.probe_timeout;
	r->nack = p->nack;
	memset(&m, 0, sizeof(m));
	m.type = SWIM_PING;
	m.seq = r->my_seq;
	m.node = p->node;
	m.from = s->name;
	m.from_addr = s->addr;
	send1(s, p->addr, &m);
}

static void
expire_relays(struct swim *s, uint64_t now)
{
	size_t i = 0;

	while (i < s->nrelays) {
		struct relay *r = &s->relays[i];

		if (r->deadline > now) {
			i++;
			continue;
		}
		if (r->nack) {
			struct swim_msg m;

			memset(&m, 0, sizeof(m));
			m.type = SWIM_NACK;
			m.seq = r->their_seq;
			m.from = s->name;
			send1(s, r->requester, &m);
		}
		free(r->requester);
		*r = s->relays[--s->nrelays];
	}
}

/* ------------------------------------------------------------- inputs */

static void
handle(struct swim *s, const char *src, const struct swim_msg *m, bool tcp,
    struct swim_msg *reply, uint64_t now)
{
	switch (m->type) {
	case SWIM_PING:
		on_ping(s, src, m, tcp, reply);
		break;
	case SWIM_INDIRECT_PING:
		on_indirect(s, src, m, now);
		break;
	case SWIM_ACK:
		on_ack(s, m, now);
		break;
	case SWIM_NACK:
		if (s->probe.active && m->seq == s->probe.seq)
			s->probe.nacks++;
		break;
	case SWIM_ALIVE:
		on_alive(s, m, now);
		break;
	case SWIM_SUSPECT:
		on_suspect(s, m, now);
		break;
	case SWIM_DEAD:
		on_dead(s, m, now);
		break;
	case SWIM_USER_EVENT:
		on_user_event(s, m);
		break;
	case SWIM_PUSH_PULL:
		merge(s, m, now);
		break;
	}
}

int
swim_recv(struct swim *s, const char *from, const void *p, size_t n,
    uint64_t now)
{
	struct swim_packet pkt;
	struct errbuf eb;
	size_t i;

	if (swim_packet_decode(p, n, &pkt, &eb) < 0)
		return -EBADMSG;
	for (i = 0; i < pkt.msgs.n; i++) {
		const struct swim_msg *m = (struct swim_msg *)pkt.msgs.v + i;

		if (m->type != SWIM_PUSH_PULL) /* TCP only */
			handle(s, from, m, false, NULL, now);
	}
	cdc_free(&swim_packet_desc, &pkt);
	return 0;
}

int
swim_pushpull_request(struct swim *s, const void *p, size_t n,
    struct buf *out, uint64_t now)
{
	struct swim_packet pkt, rp;
	struct swim_member_state *arr = NULL;
	struct swim_msg reply[2];
	struct errbuf eb;
	size_t i, nr = 0;
	bool pp = false;

	if (swim_packet_decode(p, n, &pkt, &eb) < 0)
		return -EBADMSG;
	memset(reply, 0, sizeof(reply));
	for (i = 0; i < pkt.msgs.n; i++) {
		const struct swim_msg *m = (struct swim_msg *)pkt.msgs.v + i;

		if (m->type == SWIM_PING && nr == 0) {
			handle(s, "", m, true, &reply[0], now);
			if (reply[0].type == SWIM_ACK)
				nr = 1;
		} else if (m->type != SWIM_PING) {
			if (m->type == SWIM_PUSH_PULL)
				pp = true;
			handle(s, "", m, true, NULL, now);
		}
	}
	cdc_free(&swim_packet_desc, &pkt);
	if (pp)
		state_msg(s, &reply[nr++], false, &arr);
	memset(&rp, 0, sizeof(rp));
	rp.protocol = SWIM_PROTOCOL;
	rp.msgs.v = reply;
	rp.msgs.n = nr;
	cdc_encode(out, &swim_packet_desc, &rp);
	free(arr);
	return 0;
}

int
swim_pushpull_reply(struct swim *s, const char *addr, const void *p,
    size_t n, uint64_t now)
{
	struct swim_packet pkt;
	struct errbuf eb;
	size_t i;

	(void)addr;
	if (n == 0)
		return 0; /* it failed: the probe or reconnect just misses */
	if (swim_packet_decode(p, n, &pkt, &eb) < 0)
		return -EBADMSG;
	for (i = 0; i < pkt.msgs.n; i++)
		handle(s, addr, (struct swim_msg *)pkt.msgs.v + i, true, NULL,
		    now);
	cdc_free(&swim_packet_desc, &pkt);
	return 0;
}

/* ---------------------------------------------------------------- tick */

/* accused - m is suspect, or dead lately (not left): gossip() tells it */
static bool
accused(const struct swim *s, const struct swim_member *m, uint64_t now)
{
	return m->state == SWIM_STATE_SUSPECT ||
	       (m->state == SWIM_STATE_DEAD &&
		   now - m->state_since < s->o.gossip_to_dead);
}

static void
gossip(struct swim *s, uint64_t now)
{
	struct swim_member *to[16];
	size_t i, k, ndead = 0;

	if (s->nbc > 0) {
		k = pick(s, s->o.gossip_nodes < 16 ? s->o.gossip_nodes : 16,
		    NULL, false, now, to);
		for (i = 0; i < k && s->nbc > 0; i++)
			send_pkt(s, to[i]->addr, NULL, 0, false, false);
	}
	/* and one member we suspect or buried lately, told so itself (with
	 * the news piggybacked, not counted as a transmission): a member
	 * cut off for a while must hear that it is suspected as soon as it
	 * can be reached again, and refute.  The suspicion's own broadcasts
	 * went out while it could not hear them and are spent; waiting for
	 * our next probe of it, or for the timeout and a refuted death,
	 * kept a healthy member "failed" for ~10 s after a short partition */
	for (i = 1; i < s->nm; i++)
		if (accused(s, &s->m[i], now))
			ndead++;
	if (ndead > 0) {
		size_t want = (size_t)(rnd(s) % ndead);

		for (i = 1; i < s->nm; i++)
			if (accused(s, &s->m[i], now) && want-- == 0) {
				struct swim_msg a;

				memset(&a, 0, sizeof(a));
				a.type = s->m[i].state == SWIM_STATE_SUSPECT
					     ? SWIM_SUSPECT
					     : SWIM_DEAD;
				a.node = s->m[i].name;
				a.incarnation = s->m[i].incarnation;
				a.from = s->name;
				send_pkt_ex(s, s->m[i].addr, &a, 1, false,
				    false, false);
				break;
			}
	}
}

static void
reap(struct swim *s, uint64_t now)
{
	size_t i = 1;

	while (i < s->nm) {
		struct swim_member *m = &s->m[i];

		if ((m->state == SWIM_STATE_DEAD ||
			m->state == SWIM_STATE_LEFT) &&
		    now - m->state_since >= s->o.reap_after) {
			emit(s, SWIM_EV_REAP, m->name, NULL, NULL, 0, 0);
			member_free(m);
			s->m[i] = s->m[--s->nm];
			continue;
		}
		i++;
	}
}

void
swim_tick(struct swim *s, uint64_t now)
{
	size_t i;

	/* suspicion timeouts */
	for (i = 1; i < s->nm; i++) {
		struct swim_member *m = &s->m[i];

		if (m->state == SWIM_STATE_SUSPECT &&
		    now >= m->susp_start + suspicion_timeout(m))
			declare(s, m, SWIM_DEAD, now);
	}
	if (s->probe.active && !s->probe.acked && !s->probe.indirect_sent &&
	    now >= s->probe.timeout_at)
		probe_timeout(s, now);
	if (s->probe.active && now >= s->probe.end_at)
		probe_end(s, now);
	if (!s->leaving && now >= s->next_probe)
		start_probe(s, now);
	expire_relays(s, now);
	if (now >= s->next_gossip) {
		s->next_gossip = now + s->o.gossip_interval;
		gossip(s, now);
	}
	if (!s->leaving && now >= s->next_pushpull) {
		struct swim_member *to[1];
		size_t n = num_alive(s);
		uint64_t iv = s->o.pushpull_interval;

		/* memberlist: slower as the pool grows beyond 32 */
		if (n > 32)
			iv = (uint64_t)((double)iv * ceil(log2((double)n / 32)) +
					 (double)iv);
		s->next_pushpull = now + iv;
		if (pick(s, 1, NULL, false, now, to) == 1)
			start_pushpull(s, to[0]->addr, false);
	}
	if (!s->leaving && now >= s->next_reconnect) {
		size_t j, ndead = 0;

		s->next_reconnect = now + s->o.reconnect_interval;
		for (j = 1; j < s->nm; j++)
			if (s->m[j].state == SWIM_STATE_DEAD)
				ndead++;
		if (ndead > 0) {
			size_t want = (size_t)(rnd(s) % ndead);

			for (j = 1; j < s->nm; j++)
				if (s->m[j].state == SWIM_STATE_DEAD &&
				    want-- == 0) {
					start_pushpull(s, s->m[j].addr, false);
					break;
				}
		}
	}
	reap(s, now);
}

/* ------------------------------------------------------------- commands */

void
swim_join(struct swim *s, const char *addr, uint64_t now)
{
	struct swim_msg m;

	(void)now;
	start_pushpull(s, addr, true);
	/* and announce ourselves, as memberlist does after a join */
	self_alive_msg(s, &m);
	queue_member(s, &m);
}

void
swim_leave(struct swim *s, uint64_t now)
{
	struct swim_msg m;

	s->leaving = true;
	s->m[0].state = SWIM_STATE_LEFT;
	s->m[0].state_since = now;
	memset(&m, 0, sizeof(m));
	m.type = SWIM_DEAD;
	m.node = s->name;
	m.from = s->name;
	m.incarnation = s->incarnation;
	queue_member(s, &m);
	gossip(s, now);
}

int
swim_force_leave(struct swim *s, const char *name, uint64_t now)
{
	struct swim_member *m = find(s, name);
	struct swim_msg d;

	if (m == NULL)
		return -ENOENT;
	if (m == &s->m[0] || m->state == SWIM_STATE_ALIVE)
		return -EINVAL;
	if (m->state == SWIM_STATE_LEFT)
		return 0;
	memset(&d, 0, sizeof(d));
	d.type = SWIM_DEAD;
	d.node = m->name;
	d.from = m->name; /* as if it had said goodbye */
	d.incarnation = m->incarnation;
	on_dead(s, &d, now);
	return 0;
}

void
swim_set_tags(struct swim *s, const char *const *tags, size_t n,
    uint64_t now)
{
	struct cdc_strlist l = {(char **)tags, n};
	struct swim_msg m;

	(void)now;
	strlist_free(&s->tags);
	strlist_copy(&s->tags, &l);
	strlist_free(&s->m[0].tags);
	strlist_copy(&s->m[0].tags, &l);
	s->incarnation++;
	s->m[0].incarnation = s->incarnation;
	self_alive_msg(s, &m);
	queue_member(s, &m);
}

int
swim_user_event(struct swim *s, const char *name, const void *payload,
    size_t n, uint64_t now)
{
	struct swim_msg m;

	(void)now;
	if (name == NULL || *name == '\0')
		return -EINVAL;
	if (strlen(name) + n > USER_EVENT_MAX)
		return -EMSGSIZE;
	memset(&m, 0, sizeof(m));
	m.type = SWIM_USER_EVENT;
	m.ltime = s->event_clock;
	m.name = (char *)name;
	m.payload.p = (uint8_t *)payload;
	m.payload.n = n;
	m.from = s->name;
	on_user_event(s, &m); /* advances the clock, records, queues */
	return 0;
}

/* ------------------------------------------------------------- lifecycle */

struct swim *
swim_new(const struct swim_options *o, uint64_t now)
{
	struct swim *s;
	struct swim_member *me;

	if (o->name == NULL || *o->name == '\0' || o->addr == NULL ||
	    *o->addr == '\0')
		return NULL;
	s = xcalloc(1, sizeof(*s));
	s->o = *o;
#define DEF(f, v)                                                              \
	if (s->o.f == 0)                                                       \
	s->o.f = (v)
	DEF(probe_interval, 1000);
	DEF(probe_timeout, 500);
	DEF(gossip_interval, 200);
	DEF(pushpull_interval, 30000);
	DEF(reconnect_interval, 30000);
	DEF(gossip_to_dead, 30000);
	DEF(reap_after, 72ull * 3600 * 1000);
	DEF(indirect_checks, 3);
	DEF(gossip_nodes, 3);
	DEF(retransmit_mult, 4);
	DEF(suspicion_mult, 4);
	DEF(suspicion_max_mult, 6);
	DEF(awareness_max, 8);
#undef DEF
	s->name = xstrdup(o->name);
	s->addr = xstrdup(o->addr);
	{
		/* splitmix64 of the seed: xorshift needs a well-mixed state */
		uint64_t z = o->seed + 0x9e3779b97f4a7c15ull;

		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
		s->rng = (z ^ (z >> 31)) | 1;
	}
	s->incarnation = 1;
	me = add_member(s, o->name, o->addr, now);
	me->incarnation = 1;
	me->state = SWIM_STATE_ALIVE;
	s->o.name = s->name;
	s->o.addr = s->addr;
	/* spread the first probe and push-pull over their intervals */
	s->next_probe = now + rnd(s) % s->o.probe_interval;
	s->next_gossip = now + s->o.gossip_interval;
	s->next_pushpull = now + s->o.pushpull_interval / 2 +
			   rnd(s) % (s->o.pushpull_interval / 2 + 1);
	s->next_reconnect = now + s->o.reconnect_interval;
	s->event_clock = 1;
	viv_init(&s->viv);
	return s;
}

void
swim_clear_output(struct swim *s)
{
	size_t i;

	for (i = 0; i < s->nsends; i++) {
		free(s->sends[i].addr);
		buf_free(&s->sends[i].data);
	}
	s->nsends = 0;
	for (i = 0; i < s->nevs; i++) {
		free(s->evs[i].node);
		free(s->evs[i].name);
		free(s->evs[i].payload.p);
	}
	s->nevs = 0;
}

void
swim_free(struct swim *s)
{
	size_t i;

	if (s == NULL)
		return;
	swim_clear_output(s);
	free(s->sends);
	free(s->evs);
	for (i = 0; i < s->nm; i++)
		member_free(&s->m[i]);
	free(s->m);
	for (i = 0; i < s->nbc; i++)
		bcast_free(&s->bc[i]);
	free(s->bc);
	for (i = 0; i < s->nrelays; i++)
		free(s->relays[i].requester);
	free(s->relays);
	free(s->probe.target);
	strlist_free(&s->tags);
	free(s->name);
	free(s->addr);
	free(s);
}

size_t
swim_sends(struct swim *s, struct swim_send **out)
{
	*out = s->sends;
	return s->nsends;
}

size_t
swim_events(struct swim *s, struct swim_event **out)
{
	*out = s->evs;
	return s->nevs;
}

size_t
swim_members(const struct swim *s, const struct swim_member **out)
{
	*out = s->m;
	return s->nm;
}

const struct swim_member *
swim_member(const struct swim *s, const char *name)
{
	return find((struct swim *)s, name);
}

unsigned
swim_awareness(const struct swim *s)
{
	return s->awareness;
}

size_t
swim_num_alive(const struct swim *s)
{
	return num_alive(s);
}

uint64_t
swim_event_ltime(const struct swim *s)
{
	return s->event_clock;
}

const struct viv_coord *
swim_coord(const struct swim *s)
{
	return &s->viv.c;
}

const char *
swim_state_name(enum swim_state st)
{
	switch (st) {
	case SWIM_STATE_ALIVE:
		return "alive";
	case SWIM_STATE_SUSPECT:
		return "suspect";
	case SWIM_STATE_DEAD:
		return "failed";
	case SWIM_STATE_LEFT:
		return "left";
	}
	return "unknown";
}
