/* test_raft_sim.c - deterministic simulation of the Raft core
 * (raftd/raft/raft.h) on the fake cluster of raft_fake.h.
 *
 * Randomised schedules: each seed picks a cluster (3 or 5 servers),
 * options (timeouts, pre-vote, check-quorum, batching), network latency,
 * disks, compaction and a fault intensity, then runs a chaos phase of a
 * few simulated seconds: client writes and reads, lease reads,
 * partitions (one server, a random split, one-way links), crashes with
 * quick or slow restarts, slow disks, loss and duplication, membership
 * changes, leadership transfers, and bursts of writes after which the
 * leader dies or is cut off.  Then the liveness phase: everything healed
 * and restarted; with no client traffic a leader must emerge and every
 * member reach the same state within 30 s of simulated time, then one
 * write must get through within 30 s more.  Every invariant is checked
 * after every step (see raft_fake.h).
 *
 * Environment:
 *   RAFT_SIM_SCHEDULES=n   schedules to run (default 20000, 4000 under
 *                          ASan)
 *   RAFT_SIM_SEED=n        replay the schedule of seed n, tracing every
 *                          event
 *   RAFT_SIM_SEED_BASE=n   first seed (default 1)
 *   SOAK=1                 run up to 10^7 schedules or SOAK_SECONDS
 *                          (default 600) of wall clock
 *   RAFT_SIM_TRACE=1       trace the scripted timelines too
 *
 * Then scripted timelines, one step per comment, after canonical/raft's
 * test/integration/test_election.c. */
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "raft_fake.h"

#if defined(__SANITIZE_ADDRESS__)
#define SIM_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SIM_ASAN 1
#endif
#endif
#ifdef SIM_ASAN
#include <sanitizer/common_interface_defs.h>
#define SIM_DEFAULT_SCHEDULES 4000
#else
#define SIM_DEFAULT_SCHEDULES 20000
#endif
#define SIM_IDLE_MS 30000  /* to converge with no client traffic */
#define SIM_WRITE_MS 30000 /* then to get one write through */
#define SIM_MAX_FAILURES 20   /* stop a batch after this many */

#define SIM_OK(c)                                                              \
	do {                                                                   \
		if ((c)->failed)                                               \
			fail_msg("%s", (c)->why);                              \
	} while (0)

static uint64_t
env_u64(const char *name, uint64_t dflt)
{
	const char *v = getenv(name);
	char *end;
	unsigned long long n;

	if (v == NULL || *v == '\0')
		return dflt;
	n = strtoull(v, &end, 10);
	return *end == '\0' ? (uint64_t)n : dflt;
}

/* --- naming the seed when a schedule crashes ------------------------------ */

static volatile uint64_t sim_running_seed;
static struct sigaction sim_old_act[4];
static const int sim_signals[4] = {SIGSEGV, SIGBUS, SIGFPE, SIGABRT};

static void
sim_crash_note(void)
{
	char msg[200];
	int n;

	if (sim_running_seed == 0)
		return;
	n = snprintf(msg, sizeof(msg),
	    "ERROR: raft_sim crashed in the schedule of seed %" PRIu64
	    " (replay: RAFT_SIM_SEED=%" PRIu64
	    " build/tests/unit/test_raft_sim)\n",
	    (uint64_t)sim_running_seed, (uint64_t)sim_running_seed);
	if (n > 0 && write(2, msg, (size_t)n) < 0)
		return;
}

/* sim_on_signal - name the seed, then hand over to cmocka's handler */
static void
sim_on_signal(int sig)
{
	size_t i;

	sim_crash_note();
	sim_running_seed = 0;
	for (i = 0; i < 4; i++) {
		if (sim_signals[i] != sig)
			continue;
		sigaction(sig, &sim_old_act[i], NULL);
		if (sim_old_act[i].sa_handler != SIG_DFL &&
		    sim_old_act[i].sa_handler != SIG_IGN)
			sim_old_act[i].sa_handler(sig);
		else
			raise(sig);
	}
}

static void
sim_catch_crashes(bool on)
{
	struct sigaction sa;
	size_t i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = sim_on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_NODEFER;
	for (i = 0; i < 4; i++) {
		if (on)
			sigaction(sim_signals[i], &sa, &sim_old_act[i]);
		else
			sigaction(sim_signals[i], &sim_old_act[i], NULL);
	}
#ifdef SIM_ASAN
	__sanitizer_set_death_callback(on ? sim_crash_note : NULL);
#endif
}

#ifdef SIM_ASAN
/* UBSan reports end in abort(), where sim_on_signal names the seed (with
 * gcc, libubsan does not see the death callback given to libasan) */
const char *__ubsan_default_options(void);

const char *
__ubsan_default_options(void)
{
	return "abort_on_error=1:print_stacktrace=1";
}
#endif

static double
wall_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* --- randomised schedules ------------------------------------------------- */

enum { CALM, MODERATE, HEAVY };

struct sim_profile {
	unsigned intensity;
	uint64_t chaos_ms;
	unsigned gap_min, gap_max; /* between two chaos actions, ms */
	unsigned max_loss, max_dup;
};

struct sim_stats {
	uint64_t schedules, steps, acked, reads, lease_reads, crashes;
	uint64_t installs, compactions, msgs, sim_ms, leaders;
};

static struct fk_server *
random_usable(struct fk_cluster *c)
{
	struct fk_server *up[FK_MAX];
	size_t i, n = 0;

	for (i = 0; i < c->ns; i++)
		if (fk_usable(&c->s[i]))
			up[n++] = &c->s[i];
	return n ? up[fk_below(&c->rng, n)] : NULL;
}

static struct fk_server *
random_up(struct fk_cluster *c)
{
	struct fk_server *up[FK_MAX];
	size_t i, n = 0;

	for (i = 0; i < c->ns; i++)
		if (c->s[i].state == FK_UP)
			up[n++] = &c->s[i];
	return n ? up[fk_below(&c->rng, n)] : NULL;
}

static void
chaos_partition(struct fk_cluster *c)
{
	size_t a, b;

	switch (fk_below(&c->rng, 3)) {
	case 0: /* one server alone */
		a = fk_below(&c->rng, c->ns);
		fk_isolate(c, a, true);
		FK_TRACE(c, "partition: S%zu isolated", a + 1);
		break;
	case 1: /* a random split in two */
		fk_heal(c);
		{
			bool side[FK_MAX];

			for (a = 0; a < c->ns; a++)
				side[a] = fk_pct(&c->rng, 50);
			for (a = 0; a < c->ns; a++)
				for (b = 0; b < c->ns; b++)
					c->cut[a][b] = side[a] != side[b];
			if (c->verbose) {
				char buf[64] = "";

				for (a = 0; a < c->ns; a++)
					if (side[a])
						snprintf(buf + strlen(buf),
						    sizeof(buf) - strlen(buf),
						    " S%zu", a + 1);
				fk_trace(c, "partition: {%s } from the rest",
				    buf);
			}
		}
		break;
	default: /* one direction of one link */
		a = fk_below(&c->rng, c->ns);
		b = fk_below(&c->rng, c->ns);
		c->cut[a][b] = true;
		FK_TRACE(c, "partition: S%zu -> S%zu cut", a + 1, b + 1);
		break;
	}
}

static void
chaos_membership(struct fk_cluster *c, struct fk_server *l, bool add)
{
	const struct raft_config *cfg = raft_get_config(l->r);
	size_t i, voters = 0;

	for (i = 0; i < cfg->n; i++)
		voters += cfg->servers[i].suffrage == RAFT_VOTER;
	if (add) {
		unsigned k = (unsigned)fk_below(&c->rng, 100);
		struct fk_server *s;
		uint64_t id;

		if (cfg->n >= 7 || c->ns >= FK_MAX)
			return;
		if (fk_add_server(c, l, k < 15 ? RAFT_VOTER : RAFT_NONVOTER,
			k >= 30, &id) == 0) {
			s = fk_srv(c, id);
			s->disk_ms = fk_pct(&c->rng, 50)
					 ? 0
					 : (unsigned)fk_range(&c->rng, 1, 10);
		}
	} else {
		const struct raft_server *m;

		if (cfg->n == 0)
			return;
		m = &cfg->servers[fk_below(&c->rng, cfg->n)];
		if (m->suffrage == RAFT_VOTER && voters <= 3)
			return;
		fk_remove_server(c, l, m->id);
	}
}

/* chaos - one random action of a client, the operator or the world */
static void
chaos(struct fk_cluster *c, const struct sim_profile *p)
{
	struct fk_rng *g = &c->rng;
	struct fk_server *l = fk_leader(c), *s;
	struct fk_server *cl = fk_client_target(c); /* maybe busy */
	unsigned w = (unsigned)fk_below(g, 100);

	c->steps++;
	if (w >= 70 && (p->intensity == CALM ||
			   (p->intensity == MODERATE && fk_pct(g, 50))))
		w = (unsigned)fk_below(g, 70); /* no fault this time */
	if (w < 42) { /* a client write, now and then to a non-leader */
		s = fk_pct(g, 10) ? random_usable(c) : cl;
		if (s != NULL)
			fk_propose(c, s, (unsigned)fk_below(g, FK_KEYS),
			    fk_next(g) | 1, NULL);
	} else if (w < 54) {
		s = fk_pct(g, 10) ? random_usable(c) : cl;
		if (s != NULL)
			fk_read_index(c, s, (unsigned)fk_below(g, FK_KEYS));
	} else if (w < 60) {
		s = random_usable(c);
		if (s != NULL)
			fk_lease_read(c, s, (unsigned)fk_below(g, FK_KEYS));
	} else if (w < 64) {
		if (l != NULL) {
			const struct raft_config *cfg = raft_get_config(l->r);
			uint64_t to = RAFT_NONE;

			if (cfg->n > 0 && fk_pct(g, 70))
				to = cfg->servers[fk_below(g, cfg->n)].id;
			fk_transfer(c, l, to);
		}
	} else if (w < 67) {
		if (l != NULL)
			chaos_membership(c, l, true);
	} else if (w < 70) {
		if (l != NULL)
			chaos_membership(c, l, false);
	} else if (w < 77) {
		chaos_partition(c);
	} else if (w < 83) {
		fk_heal(c);
	} else if (w < 87) {
		s = random_up(c);
		if (s != NULL) {
			unsigned k = (unsigned)fk_below(g, 100);

			fk_crash(c, s,
			    k < 15   ? fk_range(g, 1, 30)
			    : k < 85 ? fk_range(g, 50, 2000)
				     : fk_range(g, 2000, 8000));
		}
	} else if (w < 89) {
		if (l != NULL)
			fk_crash(c, l, fk_range(g, 50, 3000));
	} else if (w < 94) {
		s = &c->s[fk_below(g, c->ns)];
		s->disk_ms = fk_pct(g, 50) ? (unsigned)fk_range(g, 20, 400)
					   : (unsigned)fk_range(g, 0, 5);
		FK_TRACE(c, "S%" PRIu64 " disk latency %u ms", s->id,
		    s->disk_ms);
	} else if (w < 97) {
		/* a burst of writes, then the leader dies or is cut off
		 * before they commit: divergent tails of several terms, the
		 * stuff of Figure 8 (thesis 3.6.3) */
		unsigned k, n = (unsigned)fk_range(g, 1, 6);

		for (k = 0; k < n && l != NULL && fk_usable(l); k++)
			fk_propose(c, l, (unsigned)fk_below(g, FK_KEYS),
			    fk_next(g) | 1, NULL);
		if (l != NULL && l->state == FK_UP) {
			size_t ls = fk_slot(c, l), keep;

			switch (fk_below(g, 3)) {
			case 0:
				fk_crash(c, l, fk_range(g, 1, 500));
				break;
			case 1:
				fk_isolate(c, ls, true);
				break;
			default:
				/* it still reaches one follower, which also
				 * hears the next leader: two terms of APPENDs
				 * meet there */
				keep = fk_below(g, c->ns);
				fk_isolate(c, ls, true);
				c->cut[ls][keep] = c->cut[keep][ls] = false;
				break;
			}
		}
	} else if (w < 99) {
		c->loss_pct = (unsigned)fk_range(g, 0, p->max_loss);
		c->dup_pct = (unsigned)fk_range(g, 0, p->max_dup);
		FK_TRACE(c, "network loss %u%% dup %u%%", c->loss_pct,
		    c->dup_pct);
	}
}

static void
pick_options(struct fk_rng *g, struct raft_options *o)
{
	static const size_t entries[] = {1, 2, 8, 64};
	static const size_t bytes[] = {32, 256, 1 << 20};
	static const unsigned inflight[] = {1, 2, 8, 64};
	unsigned hb_max;

	memset(o, 0, sizeof(*o));
	o->election_ticks = (unsigned)fk_range(g, 3, 10);
	hb_max = o->election_ticks / 3 ? o->election_ticks / 3 : 1;
	o->heartbeat_ticks = (unsigned)fk_range(g, 1, hb_max);
	o->pre_vote = fk_pct(g, 50);
	o->check_quorum = fk_pct(g, 50);
	o->max_append_entries = entries[fk_below(g, 4)];
	o->max_append_bytes = bytes[fk_below(g, 3)];
	o->max_inflight = inflight[fk_below(g, 4)];
}

/* run_schedule - one randomised schedule; false (and why) if an
 * invariant failed. */
static bool
run_schedule(uint64_t seed, bool verbose, struct sim_stats *stats,
    char *why, size_t whylen)
{
	struct fk_rng g = {fk_mix(seed * 0x2545f4914f6cdd1dULL + 1)};
	struct sim_profile p;
	struct raft_options o;
	struct fk_cluster *c;
	uint64_t next, acked_in_chaos, final = 0, final_at = 0, deadline;
	uint64_t n_leaders = 0;
	char conv[256] = "";
	size_t i, n0;
	bool ok, slow;

	pick_options(&g, &o);
	memset(&p, 0, sizeof(p));
	p.intensity = (unsigned)fk_below(&g, 3);
	p.chaos_ms = fk_range(&g, 1500, 5000);
	p.gap_min = (unsigned)fk_range(&g, 10, 40);
	p.gap_max = p.gap_min + (unsigned)fk_range(&g, 20, 150);
	p.max_loss = 0;
	if (p.intensity == HEAVY)
		p.max_loss = 20;
	else if (p.intensity == MODERATE)
		p.max_loss = 5;
	p.max_dup = p.intensity == CALM ? 0 : 10;
	n0 = fk_pct(&g, 50) ? 3 : 5;

	c = fk_new(seed, &o, verbose);
	c->max_steps = 500000;
	c->lat_min = (unsigned)fk_range(&g, 1, 5);
	c->lat_max = (unsigned)fk_range(&g, c->lat_min, 30);
	c->compact_every = fk_pct(&g, 85) ? (unsigned)fk_range(&g, 4, 40) : 0;
	c->compact_keep = (unsigned)fk_range(&g, 0, 4);
	c->decommission = true;
	c->decommission_ms = 1000;
	if (fk_pct(&g, 50)) {
		c->stall_pct = (unsigned)fk_range(&g, 1, 10);
		c->stall_ms = o.election_ticks * FK_TICK_MS / 4;
	}
	/* clock rates differ by up to 10 % in half the schedules (the
	 * lease leaves room for 25 %) */
	if (fk_pct(&g, 50))
		c->skew_pct = (unsigned)fk_range(&g, 1, 10);
	if (verbose)
		printf("seed %" PRIu64 ": %zu servers, election %u ticks, "
		       "heartbeat %u, pre-vote %d, check-quorum %d, "
		       "append %zu/%zu B, inflight %u, latency %u-%u ms, "
		       "compact every %u keep %u, stalls %u%% <= %u ms, "
		       "clock skew %u%%, intensity %u, chaos %" PRIu64 " ms\n",
		    seed, n0, o.election_ticks, o.heartbeat_ticks, o.pre_vote,
		    o.check_quorum, o.max_append_entries, o.max_append_bytes,
		    o.max_inflight, c->lat_min, c->lat_max, c->compact_every,
		    c->compact_keep, c->stall_pct, c->stall_ms, c->skew_pct,
		    p.intensity, p.chaos_ms);
	fk_bootstrap(c, n0);
	/* most disks are fast; in a third of the schedules some are slow
	 * from the start (a batch held that long queues what arrives), but
	 * under a quarter of the election timeout, or no election could
	 * finish (a vote is stored at both ends before it counts) */
	slow = fk_pct(&g, 33);
	for (i = 0; i < c->ns; i++) {
		unsigned d = 0;

		if (slow && fk_pct(&g, 40))
			d = (unsigned)fk_range(&g, 20,
			    o.election_ticks * FK_TICK_MS / 4);
		else if (!fk_pct(&g, 50))
			d = (unsigned)fk_range(&g, 1, 10);
		c->s[i].disk_ms = d;
		if (verbose)
			printf("S%zu disk %u ms, tick %u ms\n", i + 1,
			    c->s[i].disk_ms, c->s[i].tick_ms);
	}

	/* chaos phase */
	next = fk_range(&g, 0, 50);
	while (!c->failed && c->now < p.chaos_ms) {
		if (c->nheap > 0 && c->heap[0].t <= next) {
			fk_step(c);
			continue;
		}
		c->now = next;
		chaos(c, &p);
		next = c->now + fk_range(&c->rng, p.gap_min, p.gap_max);
	}
	acked_in_chaos = c->n_acked;
	/* without faults (or slow disks), writes must get through */
	if (!c->failed && p.intensity == CALM && !slow && c->stall_pct == 0 &&
	    p.chaos_ms >= 6 * o.election_ticks * FK_TICK_MS &&
	    acked_in_chaos == 0)
		fk_fail(c, "Progress",
		    "no write acknowledged in %" PRIu64 " ms without faults",
		    p.chaos_ms);

	/* liveness phase: heal, restart, then one leader, same state */
	if (!c->failed) {
		FK_TRACE(c, "--- liveness: heal everything ---");
		fk_heal(c);
		c->loss_pct = c->dup_pct = 0;
		c->stall_pct = 0;
		for (i = 0; i < c->ns; i++) {
			c->s[i].disk_ms = (unsigned)fk_range(&c->rng, 0, 5);
			if (c->s[i].state == FK_DOWN)
				fk_restart(c, &c->s[i]);
		}
	}
	/* 1. idle: with no client traffic, heartbeats alone must bring a
	 * leader and every member to the same applied state */
	deadline = c->now + SIM_IDLE_MS;
	while (!c->failed && !fk_converged(c, conv, sizeof(conv))) {
		if (c->now >= deadline) {
			fk_settle(c, 1000); /* the reason, not a busy disk */
			fk_converged(c, conv, sizeof(conv));
			fk_fail(c, "Liveness",
			    "idle cluster not converged %d s after healing: %s",
			    SIM_IDLE_MS / 1000, conv);
		} else /* not in step with any server's tick */
			fk_run_for(c, fk_range(&c->rng, 20, 80));
	}
	/* 2. one write must get through and reach every member; like a
	 * client, retry on a failure or after a 2 s timeout */
	deadline = c->now + SIM_WRITE_MS;
	while (!c->failed) {
		struct fk_server *l = fk_leader(c);

		if (l != NULL &&
		    (final == 0 || c->props[final - 1].status == FK_P_FAILED ||
			c->props[final - 1].status == FK_P_LOST ||
			(c->props[final - 1].status == FK_P_PENDING &&
			    c->now - final_at >= 2000))) {
			uint64_t id;

			if (fk_propose(c, l, 0, seed, &id) == 0) {
				final = id;
				final_at = c->now;
			}
		}
		if (final != 0 && c->props[final - 1].status == FK_P_ACKED &&
		    fk_converged(c, conv, sizeof(conv)))
			break;
		if (c->now >= deadline) {
			fk_settle(c, 1000);
			fk_converged(c, conv, sizeof(conv));
			fk_fail(c, "Liveness",
			    "%s %d s after healing: %s",
			    final != 0 &&
				    c->props[final - 1].status == FK_P_ACKED
				? "not converged"
				: "no write acknowledged",
			    (SIM_IDLE_MS + SIM_WRITE_MS) / 1000, conv);
			break;
		}
		fk_run_for(c, fk_range(&c->rng, 20, 80));
	}
	fk_final_check(c);

	for (i = 0; i < c->n_term_leader; i++)
		if (c->term_leader[i] != RAFT_NONE)
			n_leaders++;
	stats->schedules++;
	stats->steps += c->steps;
	stats->acked += c->n_acked;
	stats->reads += c->n_reads_served;
	stats->lease_reads += c->n_lease_reads;
	stats->crashes += c->n_crashes;
	stats->installs += c->n_snap_installs;
	stats->compactions += c->n_compactions;
	stats->msgs += c->n_msgs;
	stats->sim_ms += c->now;
	stats->leaders += n_leaders;
	ok = !c->failed;
	if (!ok)
		snprintf(why, whylen, "%s", c->why);
	if (verbose)
		printf("seed %" PRIu64 ": %s after %" PRIu64 " steps, %" PRIu64
		       " ms; %" PRIu64 " writes acknowledged (%" PRIu64
		       " in chaos), %" PRIu64 " reads, %" PRIu64
		       " lease reads, %" PRIu64 " snapshots installed\n",
		    seed, ok ? "ok" : "FAILED", c->steps, c->now, c->n_acked,
		    acked_in_chaos, c->n_reads_served, c->n_lease_reads,
		    c->n_snap_installs);
	fk_free(c);
	return ok;
}

static void
test_random_schedules(void **state)
{
	uint64_t replay = env_u64("RAFT_SIM_SEED", 0);
	bool soak = env_u64("SOAK", 0) != 0;
	uint64_t count = env_u64("RAFT_SIM_SCHEDULES",
	    soak ? 10000000 : SIM_DEFAULT_SCHEDULES);
	uint64_t base = env_u64("RAFT_SIM_SEED_BASE", 1);
	double limit = (double)env_u64("SOAK_SECONDS", 600);
	double t0 = wall_seconds(), last_report = t0, dt;
	struct sim_stats st;
	uint64_t k, nfail = 0, first_fail = 0;
	char why[1024];

	(void)state;
	memset(&st, 0, sizeof(st));
	if (replay != 0) {
		bool ok = run_schedule(replay, true, &st, why, sizeof(why));

		if (!ok)
			fail_msg("%s", why);
		return;
	}
	printf("raft_sim: %" PRIu64 " schedules, seeds %" PRIu64 "..%" PRIu64
	       "%s\n",
	    count, base, base + count - 1, soak ? " (soak)" : "");
	sim_catch_crashes(true);
	for (k = 0; k < count; k++) {
		uint64_t seed = base + k;

		sim_running_seed = seed;
		if (!run_schedule(seed, false, &st, why, sizeof(why))) {
			if (nfail++ == 0)
				first_fail = seed;
			printf("FAILED %s\n  replay: RAFT_SIM_SEED=%" PRIu64
			       " build/tests/unit/test_raft_sim\n",
			    why, seed);
			fflush(stdout);
			if (nfail >= SIM_MAX_FAILURES)
				break;
		}
		if (soak) {
			double now = wall_seconds();

			if (now - last_report >= 10) {
				printf("raft_sim: %" PRIu64 " schedules, "
				       "%" PRIu64 " failed, %.0f s\n",
				    k + 1, nfail, now - t0);
				fflush(stdout);
				last_report = now;
			}
			if (now - t0 >= limit)
				break;
		}
	}
	sim_running_seed = 0;
	sim_catch_crashes(false);
	dt = wall_seconds() - t0;
	printf("raft_sim: %" PRIu64 " schedules in %.1f s (%.0f/s), %" PRIu64
	       " steps, %.0f simulated s, %" PRIu64 " messages, %" PRIu64
	       " leaders elected, %" PRIu64 " writes acknowledged, %" PRIu64
	       " ReadIndex reads, %" PRIu64 " lease reads, %" PRIu64
	       " crashes, %" PRIu64 " compactions, %" PRIu64
	       " snapshots installed; %" PRIu64 " failed\n",
	    st.schedules, dt, dt > 0 ? (double)st.schedules / dt : 0.0,
	    st.steps, (double)st.sim_ms / 1000, st.msgs, st.leaders, st.acked,
	    st.reads, st.lease_reads, st.crashes, st.compactions, st.installs,
	    nfail);
	if (nfail > 0)
		fail_msg("%" PRIu64 " schedule(s) violated an invariant; first "
			 "seed %" PRIu64 " (RAFT_SIM_SEED=%" PRIu64
			 " to replay)",
		    nfail, first_fail, first_fail);
}

/* --- scripted timelines --------------------------------------------------- */

/* the cluster of the running scripted test: freed by its teardown, also
 * when an assertion jumps out of the test */
static struct fk_cluster *sim_cluster;

static struct fk_cluster *
scripted_new(const struct raft_options *o)
{
	struct fk_cluster *c = fk_new(1, o, env_u64("RAFT_SIM_TRACE", 0) != 0);

	c->lat_min = c->lat_max = 15;
	sim_cluster = c;
	return c;
}

static int
scripted_teardown(void **state)
{
	(void)state;
	fk_free(sim_cluster);
	sim_cluster = NULL;
	return 0;
}

/* A 3- or 5-server cluster as raftd runs it: 100 ms ticks, election
 * timeout 10 ticks (randomised in [1, 2) s), heartbeat every tick, 15 ms
 * network latency, instant disks, no loss. */
static struct fk_cluster *
scripted(size_t n, bool pre_vote, bool check_quorum)
{
	struct raft_options o;
	struct fk_cluster *c;

	memset(&o, 0, sizeof(o));
	o.election_ticks = 10;
	o.heartbeat_ticks = 1;
	o.pre_vote = pre_vote;
	o.check_quorum = check_quorum;
	o.max_append_entries = 64;
	o.max_append_bytes = 1 << 20;
	o.max_inflight = 8;
	c = scripted_new(&o);
	fk_bootstrap(c, n);
	SIM_OK(c);
	return c;
}

static bool
one_leader(struct fk_cluster *c, void *arg)
{
	size_t i, n = 0;

	(void)arg;
	for (i = 0; i < c->ns; i++)
		if (c->s[i].state == FK_UP &&
		    raft_role(c->s[i].r) == RAFT_LEADER)
			n++;
	return n == 1;
}

/* is_leader: arg points at a server id */
static bool
is_leader(struct fk_cluster *c, void *arg)
{
	struct fk_server *s = fk_srv(c, *(uint64_t *)arg);

	return fk_usable(s) && raft_role(s->r) == RAFT_LEADER;
}

static bool
not_leader(struct fk_cluster *c, void *arg)
{
	return !is_leader(c, arg);
}

/* leader_other_than: one leader, and it is not *arg */
static bool
leader_other_than(struct fk_cluster *c, void *arg)
{
	struct fk_server *l = fk_leader(c);

	return one_leader(c, NULL) && l != NULL && l->id != *(uint64_t *)arg;
}

/* caught_up: a leader has committed all of its log and every up server
 * knows it and has applied all of it */
static bool
caught_up(struct fk_cluster *c, void *arg)
{
	struct fk_server *l = fk_leader(c);
	uint64_t last;
	size_t i;

	(void)arg;
	if (l == NULL || !one_leader(c, NULL))
		return false;
	last = raft_last_index(l->r);
	if (raft_commit_index(l->r) != last)
		return false;
	for (i = 0; i < c->ns; i++) {
		struct fk_server *s = &c->s[i];

		if (s->state != FK_UP)
			continue;
		if (!fk_usable(s) || raft_leader(s->r) != l->id ||
		    s->st.sm.applied != last)
			return false;
	}
	return true;
}

static bool
acked(struct fk_cluster *c, void *arg)
{
	uint64_t id = *(uint64_t *)arg;

	return c->props[id - 1].status == FK_P_ACKED;
}

/* write - propose key=val on the leader and run until acknowledged */
static uint64_t
write_kv(struct fk_cluster *c, unsigned key, uint64_t val)
{
	struct fk_server *l = fk_leader(c);
	uint64_t id = 0;

	assert_non_null(l);
	assert_int_equal(fk_propose(c, l, key, val, &id), 0);
	assert_true(fk_run_cond(c, acked, &id, 2000));
	SIM_OK(c);
	return id;
}

static void
test_election_from_scratch(void **state)
{
	struct fk_cluster *c = scripted(3, true, true);
	struct fk_server *l;
	const struct raft_entry *e;
	size_t i;

	(void)state;
	/* t=0: three servers bootstrapped with the same configuration
	 * {1, 2, 3}: entry 1 of term 1.  Nobody leads. */
	assert_null(fk_leader(c));
	for (i = 0; i < 3; i++)
		assert_int_equal(raft_last_index(c->s[i].r), 1);

	/* Every election timer is randomised in [1000, 2000) ms (plus the
	 * phase of each server's tick, < 100 ms).  Before 1000 ms nobody
	 * has even pre-voted. */
	fk_run_until(c, 999);
	SIM_OK(c);
	assert_null(fk_leader(c));
	for (i = 0; i < 3; i++)
		assert_int_equal(c->sent[i][RAFT_MSG_VOTE], 0);

	/* The first timer fires: pre-vote round (15 ms each way), then the
	 * vote round; the candidate wins with two votes. */
	assert_true(fk_run_cond(c, one_leader, NULL, 1300));
	SIM_OK(c);
	l = fk_leader(c);
	assert_in_range(c->now, 1000, 2200);
	assert_true(c->delivered[fk_slot(c, l)][RAFT_MSG_VOTE_RESP] >= 1);

	/* The new leader appends a no-op of its term (thesis 6.4) ... */
	e = raft_entry_at(l->r, raft_last_index(l->r));
	assert_non_null(e);
	assert_int_equal(e->type, RAFT_ENTRY_NOOP);
	assert_int_equal(e->term, raft_term(l->r));

	/* ... and one APPEND round later every server follows it in its
	 * term and has applied the no-op. */
	assert_true(fk_run_cond(c, caught_up, NULL, 500));
	SIM_OK(c);
	for (i = 0; i < 3; i++) {
		struct fk_server *s = &c->s[i];

		assert_int_equal(raft_term(s->r), raft_term(l->r));
		assert_int_equal(raft_leader(s->r), l->id);
		if (s != l)
			assert_int_equal(raft_role(s->r), RAFT_FOLLOWER);
	}

	/* Nothing changes while the leader heartbeats: 10 s later the same
	 * leader, the same term. */
	{
		uint64_t term = raft_term(l->r);

		fk_run_for(c, 10000);
		SIM_OK(c);
		assert_ptr_equal(fk_leader(c), l);
		assert_int_equal(raft_term(l->r), term);
	}
}

static void
test_leader_crash_reelection(void **state)
{
	struct fk_cluster *c = scripted(3, true, true);
	struct fk_server *l, *l2;
	uint64_t old, term, id;

	(void)state;
	/* A leader, and a write acknowledged by it. */
	assert_true(fk_run_cond(c, caught_up, NULL, 3000));
	l = fk_leader(c);
	old = l->id;
	term = raft_term(l->r);
	write_kv(c, 1, 100);

	/* The leader crashes.  The followers hear nothing: after their
	 * election timeout (1-2 s, the lease of check-quorum included) one
	 * of them is elected in a higher term. */
	fk_crash(c, l, 0);
	assert_true(fk_run_cond(c, leader_other_than, &old, 2500));
	SIM_OK(c);
	l2 = fk_leader(c);
	assert_true(raft_term(l2->r) > term);

	/* The new leader has the acknowledged write: applied once its
	 * no-op commits. */
	assert_true(fk_run_cond(c, caught_up, NULL, 500));
	SIM_OK(c);
	assert_int_equal(l2->st.sm.kv[1], 100);

	/* It commits new writes with the remaining quorum of two. */
	id = write_kv(c, 1, 101);
	assert_int_equal(c->props[id - 1].status, FK_P_ACKED);

	/* The old leader restarts from its store as a follower, learns the
	 * new leader from its heartbeat and catches up. */
	fk_restart(c, l);
	assert_true(fk_run_cond(c, caught_up, NULL, 1000));
	SIM_OK(c);
	assert_ptr_equal(fk_leader(c), l2);
	assert_int_equal(raft_role(l->r), RAFT_FOLLOWER);
	assert_int_equal(l->st.sm.kv[1], 101);
}

static void
test_snapshot_catch_up(void **state)
{
	struct fk_cluster *c = scripted(3, true, true);
	struct fk_server *l, *f;
	size_t i, fslot;

	(void)state;
	c->compact_every = 10;
	c->compact_keep = 2;
	assert_true(fk_run_cond(c, caught_up, NULL, 3000));
	l = fk_leader(c);
	f = &c->s[(fk_slot(c, l) + 1) % 3];
	fslot = fk_slot(c, f);

	/* A follower goes down; the other two go on committing 60 writes,
	 * compacting every 10 entries, keeping a tail of 2. */
	fk_crash(c, f, 0);
	for (i = 0; i < 60; i++)
		write_kv(c, (unsigned)(i % FK_KEYS), 1000 + i);
	assert_true(raft_first_index(l->r) > fk_store_last(&f->st) + 1);

	/* It restarts far behind: the entries it needs are gone from the
	 * leader's log, so the leader sends its snapshot
	 * (InstallSnapshot, thesis 5.1), then the entries after it. */
	fk_restart(c, f);
	assert_true(fk_run_cond(c, caught_up, NULL, 2000));
	SIM_OK(c);
	assert_true(c->delivered[fslot][RAFT_MSG_SNAPSHOT] >= 1);
	assert_true(c->n_snap_installs >= 1);
	assert_true(f->st.has_snap);
	assert_memory_equal(f->st.sm.kv, l->st.sm.kv, sizeof(f->st.sm.kv));
	assert_int_equal(f->st.sm.hash, l->st.sm.hash);

	/* It then follows by plain APPENDs. */
	write_kv(c, 0, 7);
	assert_true(fk_run_cond(c, caught_up, NULL, 500));
	assert_int_equal(f->st.sm.kv[0], 7);
}

static bool
promoted(struct fk_cluster *c, void *arg)
{
	struct fk_server *l = fk_leader(c);
	const struct raft_server *m;

	return caught_up(c, NULL) &&
	       fk_member(raft_get_config(l->r), *(uint64_t *)arg, &m) &&
	       m->suffrage == RAFT_VOTER;
}

static void
test_membership_add_and_remove_leader(void **state)
{
	struct fk_cluster *c = scripted(3, true, true);
	const struct raft_config *cfg;
	const struct raft_server *m = NULL;
	struct fk_server *l, *l2;
	uint64_t id4 = 0, old, rm_index;

	(void)state;
	assert_true(fk_run_cond(c, caught_up, NULL, 3000));
	l = fk_leader(c);
	write_kv(c, 2, 20);

	/* S4 joins as a non-voter to be promoted once caught up (thesis
	 * 4.2.1): it counts for nothing while it replays the log. */
	assert_int_equal(fk_add_server(c, l, RAFT_NONVOTER, true, &id4), 0);
	assert_int_equal(id4, 4);
	cfg = raft_get_config(l->r);
	assert_true(fk_member(cfg, 4, &m));
	assert_non_null(m);
	assert_int_equal(m->suffrage, RAFT_NONVOTER);

	/* The leader promotes it to voter once it has caught up; the
	 * promotion commits. */
	assert_true(fk_run_cond(c, promoted, &id4, 5000));
	SIM_OK(c);
	assert_int_equal(c->s[3].st.sm.kv[2], 20);

	/* The leader removes itself: the new configuration is an entry of
	 * its log, in force at once (thesis 4.1) though it no longer counts
	 * itself.  It goes on leading until that entry commits... */
	old = l->id;
	assert_int_equal(fk_remove_server(c, l, old), 0);
	rm_index = raft_last_index(l->r);
	assert_int_equal(raft_entry_at(l->r, rm_index)->type,
	    RAFT_ENTRY_CONFIG);
	assert_int_equal(raft_role(l->r), RAFT_LEADER);

	/* ... then steps down (thesis 4.2.2), having committed it. */
	assert_true(fk_run_cond(c, not_leader, &old, 2000));
	SIM_OK(c);
	assert_true(raft_commit_index(l->r) >= rm_index);

	/* One of the three others times out and is elected. */
	assert_true(fk_run_cond(c, leader_other_than, &old, 5000));
	SIM_OK(c);
	l2 = fk_leader(c);
	assert_int_not_equal(raft_role(l->r), RAFT_LEADER);
	cfg = raft_get_config(l2->r);
	assert_false(fk_member(cfg, old, NULL));
	assert_int_equal(cfg->n, 3);
	assert_true(l->removed);

	/* The three left commit writes without it. */
	write_kv(c, 2, 21);
	assert_int_equal(c->s[3].st.sm.kv[2], 21);
}

static void
test_leadership_transfer(void **state)
{
	struct fk_cluster *c = scripted(3, true, true);
	struct fk_server *l, *t;
	uint64_t term, tid, start;

	(void)state;
	assert_true(fk_run_cond(c, caught_up, NULL, 3000));
	l = fk_leader(c);
	t = &c->s[(fk_slot(c, l) + 2) % 3];
	tid = t->id;
	term = raft_term(l->r);

	/* The leader hands over to an up-to-date follower: it sends
	 * TIMEOUT_NOW (thesis 3.10), the target campaigns at once (no
	 * pre-vote, followers ignore their lease) and wins in term+1, far
	 * sooner than any election timeout. */
	start = c->now;
	assert_int_equal(fk_transfer(c, l, tid), 0);
	assert_true(fk_run_cond(c, is_leader, &tid, 1000));
	SIM_OK(c);
	assert_true(c->now - start < 500);
	assert_true(c->delivered[fk_slot(c, t)][RAFT_MSG_TIMEOUT_NOW] >= 1);
	assert_int_equal(raft_term(t->r), term + 1);

	/* The old leader follows it; writes go on. */
	assert_true(fk_run_cond(c, caught_up, NULL, 500));
	assert_int_equal(raft_role(l->r), RAFT_FOLLOWER);
	write_kv(c, 3, 33);
}

static void
test_prevote_partitioned_follower(void **state)
{
	struct fk_cluster *c = scripted(3, true, false);
	struct fk_server *l, *f;
	uint64_t term;
	int i;

	(void)state;
	assert_true(fk_run_cond(c, caught_up, NULL, 3000));
	l = fk_leader(c);
	f = &c->s[(fk_slot(c, l) + 1) % 3];
	term = raft_term(l->r);

	/* A follower is cut off for 10 s while the others commit writes.
	 * Its election timer fires again and again, but with pre-vote it
	 * never wins a pre-vote, so its term never moves (thesis 9.6). */
	fk_isolate(c, fk_slot(c, f), true);
	for (i = 0; i < 5; i++) {
		write_kv(c, 4, 40 + (uint64_t)i);
		fk_run_for(c, 2000);
		SIM_OK(c);
		assert_int_equal(raft_term(f->r), term);
	}
	assert_true(c->sent[fk_slot(c, f)][RAFT_MSG_PREVOTE] > 0);
	assert_int_equal(c->sent[fk_slot(c, f)][RAFT_MSG_VOTE], 0);

	/* It rejoins: its pre-votes are refused (its log is behind), the
	 * leader's heartbeat reaches it, and it catches up; nobody's term
	 * changed and the leader is the same. */
	fk_isolate(c, fk_slot(c, f), false);
	assert_true(fk_run_cond(c, caught_up, NULL, 2000));
	SIM_OK(c);
	fk_run_for(c, 3000);
	SIM_OK(c);
	assert_ptr_equal(fk_leader(c), l);
	assert_int_equal(raft_term(l->r), term);
	assert_int_equal(raft_term(f->r), term);
	assert_int_equal(f->st.sm.kv[4], 44);
}

static void
test_check_quorum_isolated_leader(void **state)
{
	struct fk_cluster *c = scripted(3, true, true);
	struct fk_server *l, *l2;
	uint64_t old, term, start;

	(void)state;
	assert_true(fk_run_cond(c, caught_up, NULL, 3000));
	l = fk_leader(c);
	old = l->id;
	term = raft_term(l->r);

	/* A heartbeat round later the leader holds a lease: a quorum heard
	 * from it within the election timeout (minus a tick of drift). */
	fk_run_for(c, 200);
	SIM_OK(c);
	assert_true(raft_lease_valid(l->r));

	/* The leader is cut off from both followers.  Hearing from no
	 * quorum for an election timeout, it steps down (check-quorum,
	 * thesis 6.2) and its lease expires before. */
	fk_isolate(c, fk_slot(c, l), true);
	start = c->now;
	assert_true(fk_run_cond(c, not_leader, &old, 2500));
	SIM_OK(c);
	assert_false(raft_lease_valid(l->r));
	assert_true(c->now - start <= 2100);

	/* The other two elect a leader of a higher term. */
	assert_true(fk_run_cond(c, leader_other_than, &old, 3000));
	SIM_OK(c);
	l2 = fk_leader(c);
	assert_true(raft_term(l2->r) > term);

	/* Healed, the old leader follows the new one. */
	fk_isolate(c, fk_slot(c, l), false);
	assert_true(fk_run_cond(c, caught_up, NULL, 3000));
	SIM_OK(c);
	assert_ptr_equal(fk_leader(c), l2);
}

static bool
read_done(struct fk_cluster *c, void *arg)
{
	long k = *(long *)arg;

	return c->reads[k].status == FK_R_SERVED ||
	       c->reads[k].status == FK_R_FAILED;
}

static void
test_read_index_quorum_round(void **state)
{
	struct fk_cluster *c = scripted(3, true, true);
	struct fk_server *l;
	struct fk_read *rd;
	uint64_t id;
	long k;

	(void)state;
	assert_true(fk_run_cond(c, caught_up, NULL, 3000));
	l = fk_leader(c);
	id = write_kv(c, 5, 55);

	/* A read on the leader: ReadIndex (thesis 6.4) takes the commit
	 * index, then needs a heartbeat round acknowledged by a quorum
	 * before it may be served: not before 2 x 15 ms. */
	k = fk_read_index(c, l, 5);
	assert_true(k >= 0);
	rd = &c->reads[k];
	fk_run_for(c, 29);
	SIM_OK(c);
	assert_int_equal(rd->status, FK_R_ISSUED);
	assert_true(fk_run_cond(c, read_done, &k, 500));
	SIM_OK(c);
	rd = &c->reads[k];
	assert_int_equal(rd->status, FK_R_SERVED);
	assert_true(rd->peers_heard >= 1);
	assert_true(rd->index >= c->props[id - 1].index);
	assert_int_equal(rd->value, 55);

	/* Cut off, the leader cannot confirm its leadership: the read is
	 * never served (it fails when the leader steps down). */
	fk_isolate(c, fk_slot(c, l), true);
	k = fk_read_index(c, l, 5);
	assert_true(k >= 0);
	fk_run_for(c, 3000);
	SIM_OK(c);
	assert_int_not_equal(c->reads[k].status, FK_R_SERVED);
}

/* star - only links between `center` and the listed ids stay up: no
 * one but the center can gather a majority of five */
static void
star(struct fk_cluster *c, uint64_t center, const uint64_t *leaves, size_t n)
{
	size_t i;

	for (i = 0; i < c->ns; i++)
		fk_isolate(c, i, true);
	for (i = 0; i < n; i++) {
		c->cut[center - 1][leaves[i] - 1] = false;
		c->cut[leaves[i] - 1][center - 1] = false;
	}
}

/* stored: arg = {id, index}: that server stored the log up to index */
static bool
stored(struct fk_cluster *c, void *arg)
{
	const uint64_t *a = arg;

	return fk_store_last(&fk_srv(c, a[0])->st) >= a[1];
}

/* committed: arg = {id, index} */
static bool
committed(struct fk_cluster *c, void *arg)
{
	const uint64_t *a = arg;
	struct fk_server *s = fk_srv(c, a[0]);

	return fk_usable(s) && raft_commit_index(s->r) >= a[1];
}

/* Figure 8 of the Raft paper (thesis figure 3.7): an entry of an earlier
 * term stored on a majority is not committed until an entry of the
 * leader's own term is; otherwise a later leader can overwrite it. */
static void
test_figure8_commit_rule(void **state)
{
	struct raft_options o;
	struct fk_cluster *c;
	struct fk_server *s1, *s5;
	const struct raft_entry *e;
	uint64_t id1 = 1, id5 = 5, arg[2], xi, t1;
	static const uint64_t all[] = {2, 3, 4, 5}, s2[] = {2}, s34[] = {3, 4},
			      s23[] = {2, 3};

	(void)state;
	memset(&o, 0, sizeof(o));
	o.election_ticks = 10;
	o.heartbeat_ticks = 1;
	o.max_append_entries = 1; /* one entry per APPEND */
	o.max_append_bytes = 1 << 20;
	o.max_inflight = 1;
	c = scripted_new(&o);
	fk_bootstrap(c, 5);
	SIM_OK(c);
	s1 = &c->s[0];
	s5 = &c->s[4];

	/* (a) S1 leads term t1 (it is the center of a star) and its no-op
	 * reaches everyone. */
	star(c, 1, all, 4);
	assert_true(fk_run_cond(c, is_leader, &id1, 10000));
	fk_heal(c);
	assert_true(fk_run_cond(c, caught_up, NULL, 2000));
	SIM_OK(c);
	t1 = raft_term(s1->r);

	/* S1 appends X at index xi; only S2 gets it, then S1 crashes. */
	star(c, 1, s2, 1);
	assert_int_equal(fk_propose(c, s1, 0, 0xaa, NULL), 0);
	xi = raft_last_index(s1->r);
	arg[0] = 2;
	arg[1] = xi;
	assert_true(fk_run_cond(c, stored, arg, 1000));
	fk_crash(c, s1, 0);

	/* (b) S5 is elected by S3 and S4 (term t2 > t1) and appends its
	 * no-op at index xi; cut off at once, it keeps it to itself, then
	 * crashes. */
	star(c, 5, s34, 2);
	assert_true(fk_run_cond(c, is_leader, &id5, 10000));
	SIM_OK(c);
	fk_isolate(c, 4, true);
	e = raft_entry_at(s5->r, xi);
	assert_non_null(e);
	assert_true(e->term > t1);
	fk_run_for(c, 100);
	fk_crash(c, s5, 0);

	/* (c) S1 restarts and is elected by S2 and S3 (term t3 > t2).  It
	 * sends X to S3, one entry per APPEND: X is then on a majority (S1,
	 * S2, S3) but of term t1, so it must not count as committed (thesis
	 * 3.6.2) until S1's own no-op at xi + 1 is on a majority too. */
	fk_restart(c, s1);
	star(c, 1, s23, 2);
	assert_true(fk_run_cond(c, is_leader, &id1, 10000));
	arg[0] = 1;
	arg[1] = xi;
	assert_true(fk_run_cond(c, committed, arg, 2000));
	SIM_OK(c);

	/* The moment S1 commits X, it crashes. */
	fk_crash(c, s1, 0);

	/* (d) S5 restarts; S3 and S4 are the only ones it reaches.  Had S1
	 * committed X by counting replicas, S3 (last entry X of t1) would
	 * vote for S5 (last entry of t2) and S5 would lead without X:
	 * fk_check reports Leader Completeness.  With the right rule, S3
	 * has S1's no-op of t3 and refuses. */
	fk_restart(c, s5);
	star(c, 5, s34, 2);
	fk_run_for(c, 5000);
	SIM_OK(c);
	assert_int_not_equal(raft_role(s5->r), RAFT_LEADER);

	/* Healed, whoever leads has X at xi. */
	fk_restart(c, s1);
	fk_heal(c);
	assert_true(fk_run_cond(c, caught_up, NULL, 10000));
	SIM_OK(c);
	assert_int_equal(c->ap[xi].val, 0xaa);
}

static bool
sent_prevote(struct fk_cluster *c, void *arg)
{
	const uint64_t *a = arg; /* slot, count before */

	return c->sent[a[0]][RAFT_MSG_PREVOTE] > a[1];
}

static bool
leads_with_lease(struct fk_cluster *c, void *arg)
{
	return is_leader(c, arg) &&
	       raft_lease_valid(fk_srv(c, *(uint64_t *)arg)->r);
}

static void
test_transfer_ends_lease(void **state)
{
	struct fk_cluster *c = scripted(3, true, true);
	struct fk_server *l, *t, *f;
	uint64_t tid;
	size_t ls;

	(void)state;
	assert_true(fk_run_cond(c, caught_up, NULL, 3000));
	fk_run_for(c, 200);
	l = fk_leader(c);
	ls = fk_slot(c, l);
	t = &c->s[(ls + 1) % 3];
	f = &c->s[(ls + 2) % 3];
	tid = t->id;
	assert_true(raft_lease_valid(l->r));

	/* The leader hands over to T, which is up to date: TIMEOUT_NOW
	 * leaves at once.  From now on T's election may bypass the
	 * followers' lease promise (thesis 3.10), so the leader must stop
	 * counting on it (thesis 6.4.1). */
	assert_int_equal(fk_transfer(c, l, tid), 0);
	assert_true(c->sent[ls][RAFT_MSG_TIMEOUT_NOW] >= 1);
	assert_false(raft_lease_valid(l->r));

	/* The old leader hears nothing more (its outgoing links still
	 * work): it never learns of T's term. */
	c->cut[fk_slot(c, t)][ls] = c->cut[fk_slot(c, f)][ls] = true;

	/* T campaigns with transfer set, F votes for it despite its lease,
	 * T commits its no-op and holds a lease; fk_check would report two
	 * valid leases had the old leader kept its own. */
	assert_true(fk_run_cond(c, leads_with_lease, &tid, 2000));
	SIM_OK(c);
	assert_int_equal(raft_role(l->r), RAFT_LEADER);
	assert_false(raft_lease_valid(l->r));
}

static void
test_lease_survives_follower_restart(void **state)
{
	struct fk_cluster *c = scripted(3, true, true);
	struct fk_server *l, *f, *x;
	uint64_t arg[2], xid;
	size_t ls, fs, xs;

	(void)state;
	assert_true(fk_run_cond(c, caught_up, NULL, 3000));
	fk_run_for(c, 200);
	l = fk_leader(c);
	ls = fk_slot(c, l);
	f = &c->s[(ls + 1) % 3];
	x = &c->s[(ls + 2) % 3];
	fs = fk_slot(c, f);
	xs = fk_slot(c, x);
	xid = x->id;
	assert_true(raft_lease_valid(l->r));

	/* X loses the leader (both ways) but still reaches F.  F acks the
	 * leader's heartbeats, so the leader keeps its lease: a quorum
	 * (itself and F) heard from it within the election timeout. */
	c->cut[ls][xs] = c->cut[xs][ls] = true;

	/* X's election timer fires: its first PREVOTE to F is in flight. */
	arg[0] = xs;
	arg[1] = c->sent[xs][RAFT_MSG_PREVOTE];
	assert_true(fk_run_cond(c, sent_prevote, arg, 3000));
	SIM_OK(c);
	assert_true(raft_lease_valid(l->r));

	/* F crashes and is back 1 ms later, now cut off from the leader
	 * too.  Its promise not to elect anyone else while the leader's
	 * lease runs (thesis 4.2.3, 6.4.1) must survive the restart... */
	fk_crash(c, f, 1);
	c->cut[ls][fs] = c->cut[fs][ls] = true;

	/* ... or X wins F's pre-vote and vote and, once its no-op commits,
	 * holds a lease of its own while the old leader's is still valid:
	 * fk_check reports two valid leases. */
	fk_run_cond(c, leads_with_lease, &xid, 3000);
	SIM_OK(c);
}

#define SCRIPTED(t) cmocka_unit_test_teardown(t, scripted_teardown)

int
main(void)
{
	const struct CMUnitTest all[] = {
	    SCRIPTED(test_election_from_scratch),
	    SCRIPTED(test_leader_crash_reelection),
	    SCRIPTED(test_snapshot_catch_up),
	    SCRIPTED(test_membership_add_and_remove_leader),
	    SCRIPTED(test_leadership_transfer),
	    SCRIPTED(test_prevote_partitioned_follower),
	    SCRIPTED(test_check_quorum_isolated_leader),
	    SCRIPTED(test_read_index_quorum_round),
	    SCRIPTED(test_lease_survives_follower_restart),
	    SCRIPTED(test_transfer_ends_lease),
	    SCRIPTED(test_figure8_commit_rule),
	    cmocka_unit_test(test_random_schedules),
	};
	const struct CMUnitTest replay[] = {
	    cmocka_unit_test(test_random_schedules),
	};

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (env_u64("RAFT_SIM_SEED", 0) != 0)
		return cmocka_run_group_tests(replay, NULL, NULL);
	return cmocka_run_group_tests(all, NULL, NULL);
}
