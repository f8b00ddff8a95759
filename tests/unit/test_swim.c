/* test_swim.c - the gossip core (gossipd/swim) on a fake clock: the member
 * state table under every state x event, and simulated pools (joins,
 * failure detection, refutation, leave, force-leave, partitions healing,
 * user events, packet loss without false positives). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../gossipd/swim/swim.h"

/* ------------------------------------------------------- state table */

static struct swim *
one(void)
{
	struct swim_options o;

	memset(&o, 0, sizeof(o));
	o.name = "me";
	o.addr = "10.0.0.1:8301";
	o.seed = 1;
	return swim_new(&o, 0);
}

static void
feed(struct swim *s, uint32_t type, const char *node, uint64_t inc,
    const char *from, uint64_t now)
{
	struct swim_packet pkt;
	struct swim_msg m;
	struct buf b = BUF_INIT;

	memset(&m, 0, sizeof(m));
	m.type = type;
	m.node = (char *)node;
	m.addr = (char *)"10.0.0.9:8301";
	m.incarnation = inc;
	m.from = (char *)from;
	memset(&pkt, 0, sizeof(pkt));
	pkt.protocol = SWIM_PROTOCOL;
	pkt.msgs.v = &m;
	pkt.msgs.n = 1;
	cdc_encode(&b, &swim_packet_desc, &pkt);
	assert_int_equal(swim_recv(s, "10.0.0.9:8301", b.data, b.len, now), 0);
	buf_free(&b);
}

/* put member "x" in state st with incarnation 5 */
static struct swim *
with_x(enum swim_state st)
{
	struct swim *s = one();

	feed(s, SWIM_ALIVE, "x", 5, NULL, 10);
	if (st == SWIM_STATE_SUSPECT)
		feed(s, SWIM_SUSPECT, "x", 5, "y", 20);
	else if (st == SWIM_STATE_DEAD)
		feed(s, SWIM_DEAD, "x", 5, "y", 20);
	else if (st == SWIM_STATE_LEFT)
		feed(s, SWIM_DEAD, "x", 5, "x", 20);
	assert_int_equal(swim_member(s, "x")->state, st);
	swim_clear_output(s);
	return s;
}

enum ev { E_ALIVE, E_SUSPECT, E_DEAD, E_LEAVE };

struct row {
	enum swim_state from;
	enum ev ev;
	int dinc; /* message incarnation - 5 */
	enum swim_state to;
	uint64_t inc;
};

/* memberlist's rules: older incarnations are ignored; alive needs a
 * newer incarnation (a restarted member refutes to get back); suspect
 * and dead need one at least as new; dead and left are final except that
 * a dead member may be marked left and anything may come back alive */
static const struct row table[] = {
    {SWIM_STATE_ALIVE, E_ALIVE, -1, SWIM_STATE_ALIVE, 5},
    {SWIM_STATE_ALIVE, E_ALIVE, 0, SWIM_STATE_ALIVE, 5},
    {SWIM_STATE_ALIVE, E_ALIVE, 1, SWIM_STATE_ALIVE, 6},
    {SWIM_STATE_ALIVE, E_SUSPECT, -1, SWIM_STATE_ALIVE, 5},
    {SWIM_STATE_ALIVE, E_SUSPECT, 0, SWIM_STATE_SUSPECT, 5},
    {SWIM_STATE_ALIVE, E_SUSPECT, 1, SWIM_STATE_SUSPECT, 6},
    {SWIM_STATE_ALIVE, E_DEAD, -1, SWIM_STATE_ALIVE, 5},
    {SWIM_STATE_ALIVE, E_DEAD, 0, SWIM_STATE_DEAD, 5},
    {SWIM_STATE_ALIVE, E_DEAD, 1, SWIM_STATE_DEAD, 6},
    {SWIM_STATE_ALIVE, E_LEAVE, -1, SWIM_STATE_ALIVE, 5},
    {SWIM_STATE_ALIVE, E_LEAVE, 0, SWIM_STATE_LEFT, 5},
    {SWIM_STATE_SUSPECT, E_ALIVE, 0, SWIM_STATE_SUSPECT, 5},
    {SWIM_STATE_SUSPECT, E_ALIVE, 1, SWIM_STATE_ALIVE, 6},
    {SWIM_STATE_SUSPECT, E_SUSPECT, 0, SWIM_STATE_SUSPECT, 5},
    {SWIM_STATE_SUSPECT, E_DEAD, -1, SWIM_STATE_SUSPECT, 5},
    {SWIM_STATE_SUSPECT, E_DEAD, 0, SWIM_STATE_DEAD, 5},
    {SWIM_STATE_SUSPECT, E_LEAVE, 0, SWIM_STATE_LEFT, 5},
    {SWIM_STATE_DEAD, E_ALIVE, 0, SWIM_STATE_DEAD, 5},
    {SWIM_STATE_DEAD, E_ALIVE, 1, SWIM_STATE_ALIVE, 6},
    {SWIM_STATE_DEAD, E_SUSPECT, 1, SWIM_STATE_DEAD, 5},
    {SWIM_STATE_DEAD, E_DEAD, 1, SWIM_STATE_DEAD, 5},
    {SWIM_STATE_DEAD, E_LEAVE, -1, SWIM_STATE_DEAD, 5},
    {SWIM_STATE_DEAD, E_LEAVE, 0, SWIM_STATE_LEFT, 5},
    {SWIM_STATE_LEFT, E_ALIVE, 0, SWIM_STATE_LEFT, 5},
    {SWIM_STATE_LEFT, E_ALIVE, 1, SWIM_STATE_ALIVE, 6},
    {SWIM_STATE_LEFT, E_SUSPECT, 1, SWIM_STATE_LEFT, 5},
    {SWIM_STATE_LEFT, E_DEAD, 1, SWIM_STATE_LEFT, 5},
    {SWIM_STATE_LEFT, E_LEAVE, 1, SWIM_STATE_LEFT, 5},
};

static void
test_state_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		const struct row *r = &table[i];
		struct swim *s = with_x(r->from);
		uint64_t inc = (uint64_t)(5 + r->dinc);
		const struct swim_member *m;

		switch (r->ev) {
		case E_ALIVE:
			feed(s, SWIM_ALIVE, "x", inc, NULL, 30);
			break;
		case E_SUSPECT:
			feed(s, SWIM_SUSPECT, "x", inc, "z", 30);
			break;
		case E_DEAD:
			feed(s, SWIM_DEAD, "x", inc, "z", 30);
			break;
		case E_LEAVE:
			feed(s, SWIM_DEAD, "x", inc, "x", 30);
			break;
		}
		m = swim_member(s, "x");
		if (m->state != r->to || m->incarnation != r->inc)
			fail_msg("row %zu: %s + event %d (inc %llu): got %s "
				 "inc %llu, expected %s inc %llu",
			    i, swim_state_name(r->from), r->ev,
			    (unsigned long long)inc, swim_state_name(m->state),
			    (unsigned long long)m->incarnation,
			    swim_state_name(r->to),
			    (unsigned long long)r->inc);
		swim_free(s);
	}
}

static void
test_self_refutes(void **state)
{
	struct swim *s = one();
	const struct swim_member *me;

	(void)state;
	feed(s, SWIM_SUSPECT, "me", 1, "y", 10);
	me = swim_member(s, "me");
	assert_int_equal(me->state, SWIM_STATE_ALIVE);
	assert_int_equal(me->incarnation, 2);
	assert_int_equal(swim_awareness(s), 1); /* Lifeguard */
	feed(s, SWIM_DEAD, "me", 7, "y", 20);
	assert_int_equal(swim_member(s, "me")->state, SWIM_STATE_ALIVE);
	assert_int_equal(swim_member(s, "me")->incarnation, 8);
	/* unknown members' suspicions are ignored */
	feed(s, SWIM_SUSPECT, "ghost", 3, "y", 30);
	assert_null(swim_member(s, "ghost"));
	swim_free(s);
}

static void
test_bad_packets(void **state)
{
	struct swim *s = one();
	uint8_t junk[64];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 37 + 11);
	assert_int_equal(swim_recv(s, "a:1", junk, sizeof(junk), 1), -EBADMSG);
	assert_int_equal(swim_recv(s, "a:1", "", 0, 1), -EBADMSG);
	swim_free(s);
}

/* ---------------------------------------------------------- simulation */

#define MAXN 64

struct sim {
	struct swim *n[MAXN];
	char name[MAXN][24], addr[MAXN][48];
	bool down[MAXN];	/* crashed: neither sends nor receives */
	int group[MAXN];	/* partitions: only the same group talks */
	size_t nn;
	uint64_t now;
	unsigned loss_pct;
	uint64_t rng;
	unsigned failed_events[MAXN]; /* FAILED events about member i */
	unsigned user_events[MAXN];   /* user events seen by member i */
};

static unsigned
srnd(struct sim *S)
{
	S->rng = S->rng * 6364136223846793005ull + 1442695040888963407ull;
	return (unsigned)(S->rng >> 33);
}

static int
idx_of(struct sim *S, const char *addr_or_name)
{
	size_t i;

	for (i = 0; i < S->nn; i++)
		if (strcmp(S->addr[i], addr_or_name) == 0 ||
		    strcmp(S->name[i], addr_or_name) == 0)
			return (int)i;
	return -1;
}

static bool
reach(struct sim *S, size_t a, size_t b)
{
	return !S->down[a] && !S->down[b] && S->group[a] == S->group[b];
}

static void
sim_add(struct sim *S, size_t i, const struct swim_options *base)
{
	struct swim_options o = *base;

	snprintf(S->name[i], sizeof(S->name[i]), "n%zu", i);
	snprintf(S->addr[i], sizeof(S->addr[i]), "10.0.0.%zu:8301", i + 1);
	o.name = S->name[i];
	o.addr = S->addr[i];
	o.seed = 1000 + i;
	S->n[i] = swim_new(&o, S->now);
}

static void
sim_init(struct sim *S, size_t n, unsigned loss)
{
	struct swim_options o;
	size_t i;

	memset(S, 0, sizeof(*S));
	memset(&o, 0, sizeof(o));
	S->nn = n;
	S->loss_pct = loss;
	S->rng = 42;
	S->now = 1000;
	for (i = 0; i < n; i++)
		sim_add(S, i, &o);
}

static void
sim_free(struct sim *S)
{
	size_t i;

	for (i = 0; i < S->nn; i++)
		swim_free(S->n[i]);
}

/* deliver everything each node queued (UDP: lossy; TCP: a synchronous
 * exchange), collecting events, until nothing is left */
static void
sim_flush(struct sim *S)
{
	bool more = true;
	int rounds = 0;

	while (more && rounds++ < 50) {
		size_t i;

		more = false;
		for (i = 0; i < S->nn; i++) {
			struct swim_send *sends;
			struct swim_event *evs;
			size_t k, ns, ne;
			struct swim_send *copy;

			if (S->n[i] == NULL)
				continue;
			ne = swim_events(S->n[i], &evs);
			for (k = 0; k < ne; k++) {
				int t = evs[k].node ? idx_of(S, evs[k].node)
						    : -1;

				if (evs[k].type == SWIM_EV_FAILED && t >= 0)
					S->failed_events[t]++;
				if (evs[k].type == SWIM_EV_USER)
					S->user_events[i]++;
			}
			ns = swim_sends(S->n[i], &sends);
			if (ns == 0) {
				swim_clear_output(S->n[i]);
				continue;
			}
			more = true;
			/* copy: delivering may queue more on this node */
			copy = calloc(ns, sizeof(*copy));
			for (k = 0; k < ns; k++) {
				copy[k] = sends[k];
				copy[k].addr = strdup(sends[k].addr);
				memset(&copy[k].data, 0, sizeof(copy[k].data));
				buf_put(&copy[k].data, sends[k].data.data,
				    sends[k].data.len);
			}
			swim_clear_output(S->n[i]);
			for (k = 0; k < ns; k++) {
				int j = idx_of(S, copy[k].addr);

				if (j >= 0 && !S->down[i] &&
				    reach(S, i, (size_t)j)) {
					if (copy[k].tcp) {
						struct buf rep = BUF_INIT;

						if (swim_pushpull_request(
							S->n[j], copy[k].data.data,
							copy[k].data.len, &rep,
							S->now) == 0)
							swim_pushpull_reply(S->n[i],
							    copy[k].addr, rep.data,
							    rep.len, S->now);
						buf_free(&rep);
					} else if (srnd(S) % 100 >=
						   S->loss_pct) {
						swim_recv(S->n[j], S->addr[i],
						    copy[k].data.data,
						    copy[k].data.len, S->now);
					}
				} else if (copy[k].tcp && !S->down[i]) {
					swim_pushpull_reply(S->n[i],
					    copy[k].addr, NULL, 0, S->now);
				}
				free(copy[k].addr);
				buf_free(&copy[k].data);
			}
			free(copy);
		}
	}
}

static void
sim_run(struct sim *S, uint64_t ms)
{
	uint64_t end = S->now + ms;
	size_t i;

	while (S->now < end) {
		S->now += 10;
		for (i = 0; i < S->nn; i++)
			if (!S->down[i])
				swim_tick(S->n[i], S->now);
		sim_flush(S);
	}
}

/* state of member j as member i sees it (-1 unknown) */
static int
seen(struct sim *S, size_t i, size_t j)
{
	const struct swim_member *m = swim_member(S->n[i], S->name[j]);

	return m ? (int)m->state : -1;
}

/* all live members see j in state st */
static bool
all_see(struct sim *S, size_t j, int st)
{
	size_t i;

	for (i = 0; i < S->nn; i++)
		if (!S->down[i] && i != j && seen(S, i, j) != st)
			return false;
	return true;
}

/* run until cond or timeout; returns the ms it took, or -1 */
static long
sim_until(struct sim *S, bool (*cond)(struct sim *, void *), void *arg,
    uint64_t max_ms)
{
	uint64_t start = S->now;

	while (S->now - start < max_ms) {
		if (cond(S, arg))
			return (long)(S->now - start);
		sim_run(S, 10);
	}
	return cond(S, arg) ? (long)(S->now - start) : -1;
}

static bool
converged(struct sim *S, void *arg)
{
	size_t i, j;

	(void)arg;
	for (i = 0; i < S->nn; i++)
		for (j = 0; j < S->nn; j++)
			if (!S->down[i] && !S->down[j] &&
			    seen(S, i, j) != SWIM_STATE_ALIVE)
				return false;
	return true;
}

struct want {
	size_t j;
	int st;
};

static bool
cond_all_see(struct sim *S, void *arg)
{
	struct want *w = arg;

	return all_see(S, w->j, w->st);
}

static void
join_all(struct sim *S)
{
	size_t i;

	for (i = 1; i < S->nn; i++)
		swim_join(S->n[i], S->addr[0], S->now);
	sim_flush(S);
	if (sim_until(S, converged, NULL, 10000) < 0) {
		size_t a, b;

		for (a = 0; a < S->nn; a++) {
			for (b = 0; b < S->nn; b++)
				fprintf(stderr, "%3d", seen(S, a, b));
			fprintf(stderr, "\n");
		}
		fail_msg("the pool did not converge");
	}
}

static void
test_join_converges(void **state)
{
	struct sim S;

	(void)state;
	sim_init(&S, 5, 0);
	join_all(&S);
	sim_free(&S);
}

static void
test_crash_detected_everywhere(void **state)
{
	struct sim S;
	struct want w = {2, SWIM_STATE_DEAD};
	long t;
	size_t i;

	(void)state;
	sim_init(&S, 5, 0);
	join_all(&S);
	sim_run(&S, 3000);
	S.down[2] = true;
	t = sim_until(&S, cond_all_see, &w, 30000);
	assert_true(t > 0);
	/* SWIM: a few probe periods plus the suspicion timeout (>= 4 s
	 * for small pools, shortened by confirmations) */
	assert_true(t < 20000);
	for (i = 0; i < S.nn; i++)
		if (i != 2)
			assert_int_equal(S.failed_events[i], 0);
	sim_free(&S);
}

static void
test_short_partition_refuted(void **state)
{
	struct sim S;
	size_t i;

	(void)state;
	sim_init(&S, 5, 0);
	join_all(&S);
	sim_run(&S, 2000);
	/* cut n1 off for less than the suspicion timeout: suspected, then it
	 * refutes and nobody is declared failed */
	S.group[1] = 1;
	sim_run(&S, 2500);
	S.group[1] = 0;
	sim_run(&S, 15000);
	for (i = 0; i < S.nn; i++)
		assert_int_equal(S.failed_events[i], 0);
	assert_true(converged(&S, NULL));
	sim_free(&S);
}

/* three members, one cut off for most of the suspicion timeout (4 s
 * here) and back in time: whoever suspects it must tell it at once (its
 * suspicion broadcasts were spent while it could not hear them), it
 * refutes, and nobody declares it failed.  Over several cut lengths and
 * phases of the probe cycle. */
static void
test_suspect_told_after_heal(void **state)
{
	static const unsigned cut_ms[] = {2600, 2900, 3200, 3400};
	size_t c, i;

	(void)state;
	for (c = 0; c < sizeof(cut_ms) / sizeof(cut_ms[0]); c++) {
		struct sim S;

		sim_init(&S, 3, 0);
		join_all(&S);
		sim_run(&S, 2000 + 130 * c);
		S.group[2] = 1;
		sim_run(&S, cut_ms[c]);
		S.group[2] = 0;
		sim_run(&S, 3000);
		for (i = 0; i < S.nn; i++)
			assert_int_equal(S.failed_events[i], 0);
		assert_true(converged(&S, NULL));
		sim_free(&S);
	}
}

static void
test_partition_heals(void **state)
{
	struct sim S;
	struct want w = {4, SWIM_STATE_DEAD};

	(void)state;
	sim_init(&S, 5, 0);
	join_all(&S);
	sim_run(&S, 2000);
	S.group[4] = 1;
	assert_true(sim_until(&S, cond_all_see, &w, 30000) > 0);
	S.group[4] = 0;
	/* reconnects (every 30 s) and push-pull bring it back */
	assert_true(sim_until(&S, converged, NULL, 90000) >= 0);
	sim_free(&S);
}

static void
test_leave_and_force_leave(void **state)
{
	struct sim S;
	struct want left = {3, SWIM_STATE_LEFT}, dead = {1, SWIM_STATE_DEAD};
	struct want fl = {1, SWIM_STATE_LEFT};

	(void)state;
	sim_init(&S, 5, 0);
	join_all(&S);
	swim_leave(S.n[3], S.now);
	sim_flush(&S);
	sim_run(&S, 1000);
	S.down[3] = true; /* it exits after gossiping its leave */
	assert_true(sim_until(&S, cond_all_see, &left, 10000) >= 0);
	assert_int_equal(S.failed_events[3], 0);
	/* n1 crashes, is failed, then force-left by n0 */
	S.down[1] = true;
	assert_true(sim_until(&S, cond_all_see, &dead, 30000) > 0);
	assert_int_equal(swim_force_leave(S.n[0], "n2", S.now), -EINVAL);
	assert_int_equal(swim_force_leave(S.n[0], "nobody", S.now), -ENOENT);
	assert_int_equal(swim_force_leave(S.n[0], "n1", S.now), 0);
	assert_true(sim_until(&S, cond_all_see, &fl, 10000) >= 0);
	sim_free(&S);
}

static bool
all_got_event(struct sim *S, void *arg)
{
	size_t i;

	(void)arg;
	for (i = 0; i < S->nn; i++)
		if (S->user_events[i] < 1)
			return false;
	return true;
}

static void
test_user_events(void **state)
{
	struct sim S;
	char big[600];
	size_t i;

	(void)state;
	sim_init(&S, 8, 0);
	join_all(&S);
	assert_int_equal(swim_user_event(S.n[5], "deploy", "v2", 2, S.now), 0);
	memset(big, 'x', sizeof(big));
	assert_int_equal(swim_user_event(S.n[5], "big", big, sizeof(big),
			     S.now),
	    -EMSGSIZE);
	sim_flush(&S);
	assert_true(sim_until(&S, all_got_event, NULL, 5000) >= 0);
	sim_run(&S, 5000);
	for (i = 0; i < S.nn; i++)
		assert_int_equal(S.user_events[i], 1); /* exactly once */
	assert_true(swim_event_ltime(S.n[0]) >= 2);
	sim_free(&S);
}

static void
test_loss_no_false_positives(void **state)
{
	struct sim S;
	size_t i;

	(void)state;
	/* the short version of the bench's 10-minute run: 10% loss on
	 * every packet, 20 members, 2 simulated minutes */
	sim_init(&S, 20, 0);
	join_all(&S);
	S.loss_pct = 10;
	sim_run(&S, 120000);
	for (i = 0; i < S.nn; i++)
		assert_int_equal(S.failed_events[i], 0);
	sim_free(&S);
}

static void
test_tags_update(void **state)
{
	struct sim S;
	const char *tags[] = {"role=consul", "dc=dc1"};
	const struct swim_member *m;

	(void)state;
	sim_init(&S, 3, 0);
	join_all(&S);
	swim_set_tags(S.n[2], tags, 2, S.now);
	sim_run(&S, 3000);
	m = swim_member(S.n[0], "n2");
	assert_int_equal(m->tags.n, 2);
	assert_string_equal(m->tags.v[0], "role=consul");
	sim_free(&S);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_state_table),
	    cmocka_unit_test(test_self_refutes),
	    cmocka_unit_test(test_bad_packets),
	    cmocka_unit_test(test_join_converges),
	    cmocka_unit_test(test_crash_detected_everywhere),
	    cmocka_unit_test(test_short_partition_refuted),
	    cmocka_unit_test(test_suspect_told_after_heal),
	    cmocka_unit_test(test_partition_heals),
	    cmocka_unit_test(test_leave_and_force_leave),
	    cmocka_unit_test(test_user_events),
	    cmocka_unit_test(test_loss_no_false_positives),
	    cmocka_unit_test(test_tags_update),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
