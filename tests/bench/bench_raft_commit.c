/* bench_raft_commit.c - raw commit throughput through the Raft core on the
 * real LMDB store, beside this machine's fsync rate measured in the same
 * run: a single-server cluster, and three servers in one process (perfect
 * network, three stores on the same disk).  Each loop turn proposes a batch
 * of B commands, then runs ready -> store_save (one fsynced transaction:
 * group commit) -> send -> apply -> advance until idle.  Output: one line
 * per point, "name value unit", then ratios.  Bounded by time per point. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../raftd/raft/raft.h"
#include "../../raftd/store.h"
#include "buf.h"

#define MAXN 3

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
die(const char *what, const struct errbuf *eb)
{
	fprintf(stderr, "bench: %s: %s\n", what, eb ? eb->msg : "");
	exit(1);
}

/* fsync baseline: 4 KiB appends + fdatasync, as the peers' baseline */
static double
fsync_rate(const char *dir, double secs)
{
	char path[512], blk[4096];
	double t0, t;
	long n = 0;
	int fd;

	snprintf(path, sizeof(path), "%s/fsync.dat", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		die("open fsync file", NULL);
	memset(blk, 'x', sizeof(blk));
	t0 = now_s();
	do {
		if (write(fd, blk, sizeof(blk)) != (ssize_t)sizeof(blk) ||
		    fdatasync(fd) < 0)
			die("write/fdatasync", NULL);
		n++;
		t = now_s();
	} while (t - t0 < secs);
	close(fd);
	unlink(path);
	return n / (t - t0);
}

struct node {
	struct raft *r;
	struct store *st;
	uint64_t applied;
};

struct cluster {
	struct node n[MAXN];
	int size;
	struct raft_msg *q;
	size_t nq, capq;
};

static void
persist(struct node *nd, const struct raft_ready *rd)
{
	struct store_batch b;
	struct errbuf eb;

	memset(&b, 0, sizeof(b));
	b.set_hard_state = rd->hard_state_changed;
	b.term = rd->term;
	b.vote = rd->vote;
	if (rd->n_entries > 0) {
		b.truncate_from = rd->entries[0].index;
		b.entries = rd->entries;
		b.n_entries = rd->n_entries;
	}
	if ((b.set_hard_state || b.n_entries) && store_save(nd->st, &b, &eb) < 0)
		die("store_save", &eb);
}

static void
pump(struct cluster *c)
{
	int busy = 1, i;
	size_t k;

	while (busy) {
		busy = 0;
		for (i = 0; i < c->size; i++) {
			struct node *nd = &c->n[i];

			while (raft_has_ready(nd->r)) {
				struct raft_ready rd;

				raft_ready(nd->r, &rd);
				persist(nd, &rd);
				for (k = 0; k < rd.n_msgs; k++) {
					if (c->nq == c->capq) {
						c->capq = c->capq ? c->capq * 2 : 64;
						c->q = realloc(c->q, c->capq * sizeof(*c->q));
					}
					raft_msg_copy(&c->q[c->nq++], &rd.msgs[k]);
				}
				nd->applied += rd.n_committed;
				raft_advance(nd->r, &rd);
				busy = 1;
			}
		}
		if (c->nq > 0) {
			size_t n = c->nq;
			struct raft_msg *q = c->q;

			c->q = NULL;
			c->nq = c->capq = 0;
			for (k = 0; k < n; k++) {
				raft_step(c->n[q[k].to - 1].r, &q[k]);
				raft_msg_free(&q[k]);
			}
			free(q);
			busy = 1;
		}
	}
}

static void
cluster_open(struct cluster *c, int size, const char *dir)
{
	struct raft_server sv[MAXN];
	struct raft_config cfg = {sv, (size_t)size};
	struct errbuf eb;
	int i, t;

	memset(c, 0, sizeof(*c));
	memset(sv, 0, sizeof(sv));
	c->size = size;
	for (i = 0; i < size; i++) {
		sv[i].id = (uint64_t)i + 1;
		sv[i].suffrage = RAFT_VOTER;
	}
	for (i = 0; i < size; i++) {
		struct raft_options o = {.id = (uint64_t)i + 1,
					 .election_ticks = 10,
					 .heartbeat_ticks = 1,
					 .pre_vote = true,
					 .check_quorum = true,
					 .seed = (uint64_t)i + 11};
		char d[512];

		snprintf(d, sizeof(d), "%s/n%d", dir, i + 1);
		if (store_open(&c->n[i].st, d, NULL, &eb) < 0)
			die("store_open", &eb);
		c->n[i].r = raft_new(&o);
		raft_bootstrap(c->n[i].r, &cfg);
	}
	pump(c);
	for (t = 0; t < 1000; t++) {
		for (i = 0; i < size; i++)
			raft_tick(c->n[i].r);
		pump(c);
		if (raft_role(c->n[0].r) == RAFT_LEADER)
			return;
		for (i = 0; i < size; i++)
			if (raft_role(c->n[i].r) == RAFT_LEADER) {
				/* make server 1 the leader for simplicity */
				raft_transfer_leadership(c->n[i].r, 1);
				pump(c);
			}
	}
	die("no leader", NULL);
}

static void
cluster_close(struct cluster *c)
{
	int i;

	for (i = 0; i < c->size; i++) {
		raft_free(c->n[i].r);
		store_close(c->n[i].st);
	}
	free(c->q);
}

static double
run_point(int size, int batch, double secs, const char *dir)
{
	struct cluster c;
	char payload[100];
	double t0, t;
	long done = 0;
	int i;

	cluster_open(&c, size, dir);
	memset(payload, 'v', sizeof(payload));
	t0 = now_s();
	do {
		for (i = 0; i < batch; i++) {
			uint64_t idx, term;

			if (raft_propose(c.n[0].r, payload, sizeof(payload),
				&idx, &term) < 0)
				die("propose", NULL);
		}
		pump(&c);
		done += batch;
		t = now_s();
	} while (t - t0 < secs);
	if (c.n[0].applied < (uint64_t)done)
		die("not all applied", NULL);
	cluster_close(&c);
	return done / (t - t0);
}

int
main(int argc, char **argv)
{
	static const int batches[] = {1, 16, 256};
	double secs = argc > 1 ? atof(argv[1]) : 3.0, fs, r;
	char tmpl[] = "/var/tmp/cairn-bench.XXXXXX", cmd[600];
	size_t b;
	int size;

	if (secs <= 0 || secs > 60)
		secs = 3.0;
	if (mkdtemp(tmpl) == NULL)
		die("mkdtemp", NULL);
	fs = fsync_rate(tmpl, secs);
	printf("phys.fdatasync_4k.ops %.0f ops/s\n", fs);
	for (size = 1; size <= 3; size += 2) {
		for (b = 0; b < sizeof(batches) / sizeof(batches[0]); b++) {
			char d[256];

			snprintf(d, sizeof(d), "%s/c%d_b%d", tmpl, size,
			    batches[b]);
			r = run_point(size, batches[b], secs, d);
			printf("raft.commit.n%d.batch%d %.0f entries/s "
			       "(%.2f x fsync rate)\n",
			    size, batches[b], r, r / fs);
		}
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpl);
	if (system(cmd) != 0)
		return 1;
	return 0;
}
