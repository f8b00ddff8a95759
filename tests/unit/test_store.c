/* test_store.c - unit tests for raftd/store.c on real LMDB in temp dirs. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "../../raftd/store.h"

/* --- fixture: a fresh directory per test ------------------------------- */

struct fx {
	char dir[64];	/* mkdtemp() */
	char data[128]; /* <dir>/data, the store's data dir */
	char mnt[128];	/* <dir>/mnt, a tmpfs when mounted */
	bool mounted;
};

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int
fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	const char *tmp = getenv("TMPDIR");

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "%s/test_store.XXXXXX",
	    tmp != NULL && strlen(tmp) < 32 ? tmp : "/tmp");
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return -1;
	}
	snprintf(f->data, sizeof(f->data), "%s/data", f->dir);
	snprintf(f->mnt, sizeof(f->mnt), "%s/mnt", f->dir);
	*state = f;
	return 0;
}

static int
fx_teardown(void **state)
{
	struct fx *f = *state;

	if (f->mounted && umount2(f->mnt, MNT_DETACH) < 0)
		fprintf(stderr, "umount %s: %s\n", f->mnt, strerror(errno));
	nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* --- helpers ----------------------------------------------------------- */

/* OK - expr must return 0; on failure show the errbuf `eb` in scope. */
#define OK(expr)                                                               \
	do {                                                                   \
		int r_ = (expr);                                               \
		if (r_ != 0)                                                   \
			fail_msg("%s: %d %s", #expr, r_, eb.msg);              \
	} while (0)

static size_t
entry_len(uint64_t idx)
{
	return (size_t)((idx * 37) % 300); /* includes empty entries */
}

static uint8_t
entry_byte(uint64_t idx, size_t j)
{
	return (uint8_t)(idx * 131 + j * 7 + 1);
}

/* make_entries - n entries from index first, of term, with entry_len()
 * bytes each (or size bytes when size != 0). */
static struct raft_entry *
make_entries(uint64_t first, size_t n, uint64_t term, size_t size)
{
	struct raft_entry *ev = calloc(n ? n : 1, sizeof(*ev));
	size_t i, j;

	assert_non_null(ev);
	for (i = 0; i < n; i++) {
		ev[i].index = first + i;
		ev[i].term = term;
		ev[i].type = (uint8_t)(1 + (first + i) % 3);
		ev[i].len = size ? size : entry_len(first + i);
		if (ev[i].len > 0) {
			ev[i].data = malloc(ev[i].len);
			assert_non_null(ev[i].data);
			for (j = 0; j < ev[i].len; j++)
				ev[i].data[j] = entry_byte(first + i, j);
		}
	}
	return ev;
}

/* entry_ok - e is what make_entries() made for its index. */
static bool
entry_ok(const struct raft_entry *e, size_t size)
{
	size_t j, len = size ? size : entry_len(e->index);

	if (e->len != len || e->type != (uint8_t)(1 + e->index % 3))
		return false;
	for (j = 0; j < len; j++)
		if (e->data[j] != entry_byte(e->index, j))
			return false;
	return true;
}

static int
append(struct store *s, uint64_t first, size_t n, uint64_t term, size_t size,
    struct errbuf *eb)
{
	struct store_batch b;
	struct raft_entry *ev = make_entries(first, n, term, size);
	int r;

	memset(&b, 0, sizeof(b));
	b.entries = ev;
	b.n_entries = n;
	b.truncate_from = first;
	r = store_save(s, &b, eb);
	store_entries_free(ev, n);
	return r;
}

/* prime - give the raft side a term: a state that has applied entries
 * without any Raft state is refused by store_open() (a lost raft/). */
static void
prime(struct store *s)
{
	struct store_batch b;
	struct errbuf eb;

	memset(&b, 0, sizeof(b));
	b.set_hard_state = true;
	b.term = 1;
	OK(store_save(s, &b, &eb));
}

/* set_applied - the state machine applied up to index (as the driver does
 * before it takes a snapshot and compacts the log behind it). */
static void
set_applied(struct store *s, uint64_t index)
{
	struct store_txn *t;
	struct errbuf eb;
	uint8_t v[8];

	be64_set(v, index);
	OK(store_state_begin(s, &t));
	OK(store_state_put(t, "applied", "k", 1, v, sizeof(v)));
	OK(store_state_commit(t, index, &eb));
}

static struct store *
open_ok(const char *dir, const struct store_options *opt)
{
	struct store *s = NULL;
	struct errbuf eb;
	int r;

	r = store_open(&s, dir, opt, &eb);
	if (r != 0)
		fail_msg("store_open(%s): %d %s", dir, r, eb.msg);
	return s;
}

static void
read_file(const char *path, uint8_t **p, size_t *n)
{
	struct stat sb;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &sb), 0);
	*n = (size_t)sb.st_size;
	*p = malloc(*n + 1);
	assert_non_null(*p);
	assert_int_equal(pread(fd, *p, *n, 0), (ssize_t)*n);
	close(fd);
}

static void
write_file(const char *path, const uint8_t *p, size_t n)
{
	int fd = open(path, O_WRONLY);

	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, p, n, 0), (ssize_t)n);
	assert_int_equal(fsync(fd), 0);
	close(fd);
}

/* crc32c_ref - bit-at-a-time CRC32C, independent of store.c's table. */
static uint32_t
crc32c_ref(uint32_t crc, const uint8_t *p, size_t n)
{
	size_t i;
	int k;

	crc = ~crc;
	for (i = 0; i < n; i++) {
		crc ^= p[i];
		for (k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1)));
	}
	return ~crc;
}

/* --- records ----------------------------------------------------------- */

static void
test_record_codec(void **state)
{
	struct raft_entry e, d;
	struct buf b = BUF_INIT;
	uint8_t idx[8];
	uint8_t data[5] = {'h', 'e', 'l', 'l', 'o'};
	size_t i;

	(void)state;
	assert_int_equal(crc32c_ref(0, (const uint8_t *)"123456789", 9),
	    0xe3069283u);

	memset(&e, 0, sizeof(e));
	e.index = 0x0102030405060708ull;
	e.term = 7;
	e.type = RAFT_ENTRY_COMMAND;
	e.data = data;
	e.len = sizeof(data);
	store_record_encode(&e, &b);
	assert_int_equal(b.len, STORE_RECORD_OVERHEAD + 5);
	assert_int_equal(b.data[0], STORE_RECORD_V1);
	assert_int_equal(be64_get(b.data + 1), 7);
	assert_int_equal(b.data[9], RAFT_ENTRY_COMMAND);
	assert_int_equal(be32_get(b.data + 10), 5);
	assert_memory_equal(b.data + 14, "hello", 5);
	/* the CRC covers the index, then every byte before the CRC */
	be64_set(idx, e.index);
	assert_int_equal(be32_get(b.data + 19),
	    crc32c_ref(crc32c_ref(0, idx, 8), b.data, 19));

	assert_int_equal(store_record_decode(b.data, b.len, e.index, &d), 0);
	assert_int_equal(d.index, e.index);
	assert_int_equal(d.term, 7);
	assert_int_equal(d.type, RAFT_ENTRY_COMMAND);
	assert_int_equal(d.len, 5);
	assert_memory_equal(d.data, "hello", 5);
	free(d.data);

	/* the same record under another index */
	assert_int_equal(store_record_decode(b.data, b.len, e.index + 1, &d),
	    -EUCLEAN);
	assert_null(d.data);
	/* every single flipped bit is caught */
	for (i = 0; i < b.len * 8; i++) {
		int r;

		b.data[i / 8] ^= (uint8_t)(1u << (i % 8));
		r = store_record_decode(b.data, b.len, e.index, &d);
		assert_true(r == -EUCLEAN || r == -EBADMSG);
		b.data[i / 8] ^= (uint8_t)(1u << (i % 8));
	}
	/* truncated, too long, short */
	assert_int_equal(store_record_decode(b.data, b.len - 1, e.index, &d),
	    -EBADMSG);
	assert_int_equal(store_record_decode(b.data, 3, e.index, &d),
	    -EBADMSG);
	assert_int_equal(store_record_decode(NULL, 0, e.index, &d), -EBADMSG);
	buf_put_u8(&b, 0);
	assert_int_equal(store_record_decode(b.data, b.len, e.index, &d),
	    -EBADMSG);

	/* an empty entry */
	buf_reset(&b);
	e.data = NULL;
	e.len = 0;
	e.type = RAFT_ENTRY_NOOP;
	store_record_encode(&e, &b);
	assert_int_equal(b.len, STORE_RECORD_OVERHEAD);
	assert_int_equal(store_record_decode(b.data, b.len, e.index, &d), 0);
	assert_null(d.data);
	assert_int_equal(d.len, 0);
	assert_int_equal(d.type, RAFT_ENTRY_NOOP);
	buf_free(&b);
}

/* --- raft side ----------------------------------------------------------- */

static void
test_roundtrip(void **state)
{
	struct fx *f = *state;
	struct store *s;
	struct store_batch b;
	struct store_snapshot snap, sn;
	struct raft_entry *ev;
	struct errbuf eb;
	uint64_t term, vote, first, last, si;
	uint8_t config[3] = {1, 2, 3};
	size_t n, i;

	s = open_ok(f->data, NULL);
	/* empty store */
	assert_int_equal(store_load(s, &term, &vote, &snap, &ev, &n, &eb), 0);
	assert_int_equal(term, 0);
	assert_int_equal(vote, RAFT_NONE);
	assert_int_equal(snap.index, 0);
	assert_null(ev);
	assert_int_equal(n, 0);

	/* hard state and 100 entries in one batch */
	memset(&b, 0, sizeof(b));
	b.set_hard_state = true;
	b.term = 3;
	b.vote = 2;
	b.entries = ev = make_entries(1, 100, 1, 0);
	b.n_entries = 100;
	OK(store_save(s, &b, &eb));
	store_entries_free(ev, 100);
	/* later terms */
	assert_int_equal(append(s, 101, 20, 3, 0, &eb), 0);
	store_close(s);

	s = open_ok(f->data, NULL);
	assert_int_equal(store_load(s, &term, &vote, &snap, &ev, &n, &eb), 0);
	assert_int_equal(term, 3);
	assert_int_equal(vote, 2);
	assert_int_equal(snap.index, 0);
	assert_int_equal(n, 120);
	for (i = 0; i < n; i++) {
		assert_int_equal(ev[i].index, i + 1);
		assert_int_equal(ev[i].term, i < 100 ? 1 : 3);
		assert_true(entry_ok(&ev[i], 0));
	}
	store_entries_free(ev, n);

	/* vote only */
	memset(&b, 0, sizeof(b));
	b.set_hard_state = true;
	b.term = 4;
	b.vote = RAFT_NONE;
	OK(store_save(s, &b, &eb));

	/* snapshot at 110 (term 3) with compaction to 100 */
	set_applied(s, 110);
	memset(&b, 0, sizeof(b));
	memset(&sn, 0, sizeof(sn));
	sn.index = 110;
	sn.term = 3;
	sn.config = config;
	sn.config_len = sizeof(config);
	b.snapshot = &sn;
	b.compact_to = 100;
	OK(store_save(s, &b, &eb));
	store_close(s);

	s = open_ok(f->data, NULL);
	assert_int_equal(store_load(s, &term, &vote, &snap, &ev, &n, &eb), 0);
	assert_int_equal(term, 4);
	assert_int_equal(vote, RAFT_NONE);
	assert_int_equal(snap.index, 110);
	assert_int_equal(snap.term, 3);
	assert_int_equal(snap.config_len, 3);
	assert_memory_equal(snap.config, config, 3);
	assert_int_equal(n, 20);
	assert_int_equal(ev[0].index, 101);
	assert_int_equal(ev[19].index, 120);
	store_entries_free(ev, n);
	store_snapshot_free(&snap);
	assert_null(snap.config);
	assert_int_equal(store_log_bounds(s, &first, &last, &si), 0);
	assert_int_equal(first, 101);
	assert_int_equal(last, 120);
	assert_int_equal(si, 110);
	/* outputs may be NULL */
	assert_int_equal(store_load(s, NULL, NULL, NULL, NULL, NULL, &eb), 0);
	store_close(s);
}

static void
test_truncate_append(void **state)
{
	struct fx *f = *state;
	struct store *s;
	struct store_batch b;
	struct raft_entry *ev;
	struct errbuf eb;
	size_t n, i;

	s = open_ok(f->data, NULL);
	assert_int_equal(append(s, 1, 50, 1, 0, &eb), 0);
	/* a new leader overwrites 30.. with its term 2 */
	assert_int_equal(append(s, 30, 11, 2, 0, &eb), 0);
	assert_int_equal(store_load(s, NULL, NULL, NULL, &ev, &n, &eb), 0);
	assert_int_equal(n, 40);
	for (i = 0; i < n; i++) {
		assert_int_equal(ev[i].index, i + 1);
		assert_int_equal(ev[i].term, i + 1 < 30 ? 1 : 2);
		assert_true(entry_ok(&ev[i], 0));
	}
	store_entries_free(ev, n);

	/* truncation alone */
	memset(&b, 0, sizeof(b));
	b.truncate_from = 36;
	OK(store_save(s, &b, &eb));

	/* rejected batches change nothing */
	ev = make_entries(38, 2, 2, 0); /* gap: last is 35 */
	memset(&b, 0, sizeof(b));
	b.entries = ev;
	b.n_entries = 2;
	b.set_hard_state = true;
	b.term = 9;
	assert_int_equal(store_save(s, &b, &eb), -EINVAL);
	assert_non_null(strstr(eb.msg, "does not follow"));
	store_entries_free(ev, 2);
	ev = make_entries(35, 2, 2, 0); /* overlap without truncation */
	b.entries = ev;
	assert_int_equal(store_save(s, &b, &eb), -EINVAL);
	store_entries_free(ev, 2);
	ev = make_entries(36, 2, 1, 0); /* lower term */
	b.entries = ev;
	assert_int_equal(store_save(s, &b, &eb), -EINVAL);
	assert_non_null(strstr(eb.msg, "lower than"));
	ev[1].index = 38; /* not consecutive within the batch */
	ev[0].term = 2;
	ev[1].term = 2;
	assert_int_equal(store_save(s, &b, &eb), -EINVAL);
	store_entries_free(ev, 2);
	memset(&b, 0, sizeof(b));
	b.compact_to = 5; /* no snapshot */
	assert_int_equal(store_save(s, &b, &eb), -EINVAL);
	assert_non_null(strstr(eb.msg, "passes the snapshot"));

	assert_int_equal(store_load(s, NULL, NULL, NULL, &ev, &n, &eb), 0);
	assert_int_equal(n, 35);
	assert_int_equal(ev[34].term, 2);
	store_entries_free(ev, n);
	store_close(s);
	s = open_ok(f->data, NULL);
	assert_int_equal(store_load(s, NULL, NULL, NULL, NULL, &n, &eb), 0);
	assert_int_equal(n, 35);
	store_close(s);
}

static void
test_compaction(void **state)
{
	struct fx *f = *state;
	struct store *s;
	struct store_batch b;
	struct store_snapshot sn, snap;
	struct raft_entry *ev;
	struct errbuf eb;
	uint64_t first, last, si;
	size_t n, i;

	s = open_ok(f->data, NULL);
	for (i = 0; i < 10; i++)
		assert_int_equal(append(s, 1 + 100 * i, 100, 1 + i / 5, 0,
				     &eb),
		    0);
	/* local snapshot at 900 (term 2), keep a tail of 100 */
	set_applied(s, 900);
	memset(&sn, 0, sizeof(sn));
	sn.index = 900;
	sn.term = 2;
	memset(&b, 0, sizeof(b));
	b.snapshot = &sn;
	b.compact_to = 800;
	OK(store_save(s, &b, &eb));
	assert_int_equal(store_log_bounds(s, &first, &last, &si), 0);
	assert_int_equal(first, 801);
	assert_int_equal(last, 1000);
	assert_int_equal(si, 900);

	/* wrong term for the entry at the snapshot */
	sn.index = 950;
	sn.term = 1;
	assert_int_equal(store_save(s, &b, &eb), -EINVAL);
	/* snapshots do not go back */
	sn.index = 850;
	sn.term = 2;
	b.compact_to = 0;
	assert_int_equal(store_save(s, &b, &eb), -EINVAL);
	assert_non_null(strstr(eb.msg, "older"));
	/* a snapshot past the log without truncation leaves a gap */
	sn.index = 2000;
	sn.term = 5;
	assert_int_equal(store_save(s, &b, &eb), -EINVAL);

	/* InstallSnapshot: the state is restored first (here: applied), then
	 * the snapshot at 2000 recorded, the log reset, new entries */
	set_applied(s, 2000);
	ev = make_entries(2001, 10, 5, 0);
	memset(&b, 0, sizeof(b));
	b.snapshot = &sn;
	b.truncate_from = 1;
	b.entries = ev;
	b.n_entries = 10;
	b.set_hard_state = true;
	b.term = 5;
	b.vote = 3;
	OK(store_save(s, &b, &eb));
	store_entries_free(ev, 10);
	store_close(s);

	s = open_ok(f->data, NULL);
	assert_int_equal(store_load(s, NULL, NULL, &snap, &ev, &n, &eb), 0);
	assert_int_equal(snap.index, 2000);
	assert_int_equal(snap.term, 5);
	assert_int_equal(snap.config_len, 0);
	assert_int_equal(n, 10);
	for (i = 0; i < n; i++) {
		assert_int_equal(ev[i].index, 2001 + i);
		assert_true(entry_ok(&ev[i], 0));
	}
	store_entries_free(ev, n);
	store_snapshot_free(&snap);

	/* compact everything, then append right after the snapshot */
	memset(&b, 0, sizeof(b));
	b.truncate_from = 1;
	OK(store_save(s, &b, &eb));
	assert_int_equal(append(s, 2001, 5, 5, 0, &eb), 0);
	assert_int_equal(store_log_bounds(s, &first, &last, NULL), 0);
	assert_int_equal(first, 2001);
	assert_int_equal(last, 2005);
	store_close(s);
	s = open_ok(f->data, NULL);
	store_close(s);
}

/* --- crash safety ------------------------------------------------------ */

/* entries per commit and their size for crash_child_log (set before the
 * fork) */
static size_t crash_batch = 40;
static size_t crash_size = 1500;

/* crash_child_log - append crash_batch entries per commit forever, telling
 * the parent the last committed index after each commit. */
static void
crash_child_log(const char *dir, int wfd)
{
	struct store *s;
	struct errbuf eb;
	uint64_t last, next;

	if (store_open(&s, dir, NULL, &eb) < 0 ||
	    store_log_bounds(s, NULL, &last, NULL) < 0)
		_exit(2);
	for (next = last + 1;; next += crash_batch) {
		if (append(s, next, crash_batch, 1, crash_size, &eb) < 0)
			_exit(3);
		last = next + crash_batch - 1;
		if (write(wfd, &last, sizeof(last)) != sizeof(last))
			_exit(4);
	}
}

/* crash_child_state - commit state batches forever: "k" in two tables =
 * the batch's index, plus some bulk; report each committed index. */
static void
crash_child_state(const char *dir, int wfd)
{
	struct store *s;
	struct store_txn *t;
	struct errbuf eb;
	uint64_t applied, i;
	uint8_t v[8], bulk[700];
	char key[32];
	int j;

	if (store_open(&s, dir, NULL, &eb) < 0 ||
	    store_state_applied(s, &applied) < 0)
		_exit(2);
	if (applied == 0) {
		struct store_batch b;

		memset(&b, 0, sizeof(b));
		b.set_hard_state = true;
		b.term = 1;
		if (store_save(s, &b, &eb) < 0)
			_exit(2);
	}
	for (i = applied + 1;; i++) {
		be64_set(v, i);
		memset(bulk, (int)(i & 0xff), sizeof(bulk));
		if (store_state_begin(s, &t) < 0 ||
		    store_state_put(t, "kv", "k", 1, v, 8) < 0)
			_exit(3);
		for (j = 0; j < 20; j++) {
			snprintf(key, sizeof(key), "bulk/%d",
			    (int)((i * 20 + (uint64_t)j) % 500));
			if (store_state_put(t, "kv", key, strlen(key), bulk,
				sizeof(bulk)) < 0)
				_exit(3);
		}
		if (store_state_put(t, "other", "k", 1, v, 8) < 0 ||
		    store_state_commit(t, i, &eb) < 0)
			_exit(5);
		if (write(wfd, &i, sizeof(i)) != sizeof(i))
			_exit(4);
	}
}

/* run_and_kill - fork child(dir, pipe), wait for `progress` reports and
 * SIGKILL it after a further delay; returns the last reported value. */
static uint64_t
run_and_kill(void (*child)(const char *, int), const char *dir,
    int progress, unsigned delay_us)
{
	uint64_t v = 0, got;
	int p[2], status, seen = 0;
	pid_t pid;

	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		child(dir, p[1]);
		_exit(1);
	}
	close(p[1]);
	while (seen < progress &&
	    read(p[0], &got, sizeof(got)) == (ssize_t)sizeof(got)) {
		v = got;
		seen++;
	}
	usleep(delay_us);
	kill(pid, SIGKILL);
	/* whatever the child reported before it died was committed */
	while (read(p[0], &got, sizeof(got)) == (ssize_t)sizeof(got))
		v = got;
	close(p[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFSIGNALED(status))
		fail_msg("child exited with %d before the kill",
		    WEXITSTATUS(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
	return v;
}

static void
test_crash_during_save(void **state)
{
	struct fx *f = *state;
	struct store *s;
	struct raft_entry *ev;
	struct errbuf eb;
	uint64_t committed;
	size_t n, i, before = 0, start[8], size[8];
	int round, k;

	for (round = 0; round < 8; round++) {
		/* small batches, and big ones (4 MB) whose commit is long */
		crash_batch = round % 2 ? 1000 : 40;
		crash_size = round % 2 ? 4000 : 1500;
		start[round] = before;
		size[round] = crash_size;
		committed = run_and_kill(crash_child_log, f->data,
		    1 + round / 2, 500u * (unsigned)round + 50u);
		/* reopening verifies every record, the order and terms */
		s = open_ok(f->data, NULL);
		assert_int_equal(store_load(s, NULL, NULL, NULL, &ev, &n,
				     &eb),
		    0);
		/* everything acknowledged is there, batches are whole */
		assert_true(n >= committed);
		assert_true(n > before);
		assert_int_equal((n - before) % crash_batch, 0);
		for (i = 0, k = 0; i < n; i++) {
			while (k < round && i >= start[k + 1])
				k++;
			assert_int_equal(ev[i].index, i + 1);
			assert_true(entry_ok(&ev[i], size[k]));
		}
		store_entries_free(ev, n);
		store_close(s);
		before = n;
	}
}

static void
test_crash_during_apply(void **state)
{
	struct fx *f = *state;
	struct store *s;
	struct store_read *r;
	uint64_t committed, applied;
	const void *v;
	size_t vlen;
	int round;

	for (round = 0; round < 6; round++) {
		committed = run_and_kill(crash_child_state, f->data,
		    5 + 3 * round, 200u * (unsigned)round + 20u);
		s = open_ok(f->data, NULL);
		assert_int_equal(store_state_applied(s, &applied), 0);
		assert_true(applied >= committed);
		assert_true(applied > 0);
		/* the data is exactly that of the last committed batch */
		assert_int_equal(store_state_read_begin(s, &r), 0);
		assert_int_equal(store_state_read_applied(r), applied);
		assert_int_equal(store_state_read_get(r, "kv", "k", 1, &v,
				     &vlen),
		    0);
		assert_int_equal(vlen, 8);
		assert_int_equal(be64_get(v), applied);
		assert_int_equal(store_state_read_get(r, "other", "k", 1, &v,
				     &vlen),
		    0);
		assert_int_equal(be64_get(v), applied);
		store_state_read_end(r);
		store_close(s);
	}
}

/* --- corruption -------------------------------------------------------- */

static const char marker[] = "MARKER-entry-42-unique-payload-7f3a";

static void
test_corrupt_entry(void **state)
{
	struct fx *f = *state;
	struct store *s = NULL;
	struct store_batch b;
	struct raft_entry *ev;
	struct errbuf eb;
	char path[256];
	uint8_t *p, *hit;
	size_t n, found = 0;
	int r;

	s = open_ok(f->data, NULL);
	ev = make_entries(1, 100, 1, 0);
	free(ev[41].data);
	ev[41].data = (uint8_t *)strdup(marker);
	ev[41].len = strlen(marker);
	memset(&b, 0, sizeof(b));
	b.entries = ev;
	b.n_entries = 100;
	OK(store_save(s, &b, &eb));
	store_entries_free(ev, 100);
	store_close(s);

	/* flip a byte in every copy of the payload in the file */
	snprintf(path, sizeof(path), "%s/raft/data.mdb", f->data);
	read_file(path, &p, &n);
	for (hit = p; (hit = memmem(hit, n - (size_t)(hit - p), marker,
			   strlen(marker))) != NULL;
	     hit++) {
		hit[10] ^= 0x20;
		found++;
	}
	assert_true(found >= 1);
	write_file(path, p, n);
	free(p);

	r = store_open(&s, f->data, NULL, &eb);
	assert_int_equal(r, -EUCLEAN);
	assert_null(s);
	assert_non_null(strstr(eb.msg, "/raft: log entry 42: checksum "
					"mismatch (corrupted)"));
	assert_non_null(strstr(eb.msg, f->data));
}

static void
test_corrupt_files(void **state)
{
	struct fx *f = *state;
	struct store *s = NULL;
	struct errbuf eb;
	char path[256];
	uint8_t *p;
	size_t n;
	int r;

	s = open_ok(f->data, NULL);
	assert_int_equal(append(s, 1, 2000, 1, 500, &eb), 0);
	store_close(s);
	snprintf(path, sizeof(path), "%s/raft/data.mdb", f->data);

	/* truncated to half its size */
	read_file(path, &p, &n);
	assert_true(n > 64 * 1024);
	assert_int_equal(truncate(path, (off_t)(n / 2)), 0);
	r = store_open(&s, f->data, NULL, &eb);
	assert_int_equal(r, -EUCLEAN);
	assert_null(s);
	assert_non_null(strstr(eb.msg, "/raft: data.mdb is truncated"));

	/* back to whole: opens again */
	assert_int_equal(truncate(path, (off_t)n), 0);
	write_file(path, p, n);
	s = open_ok(f->data, NULL);
	store_close(s);

	/* garbage header */
	memset(p, 0xa5, 8192);
	write_file(path, p, n);
	r = store_open(&s, f->data, NULL, &eb);
	assert_int_equal(r, -EUCLEAN);
	assert_non_null(strstr(eb.msg, "/raft: data.mdb is not an LMDB"));

	/* a few bytes only */
	assert_int_equal(truncate(path, 100), 0);
	r = store_open(&s, f->data, NULL, &eb);
	assert_int_equal(r, -EUCLEAN);
	free(p);

	/* the state environment too */
	assert_int_equal(unlink(path), 0);
	s = open_ok(f->data, NULL);
	store_close(s);
	snprintf(path, sizeof(path), "%s/state/data.mdb", f->data);
	assert_int_equal(truncate(path, 4096), 0);
	r = store_open(&s, f->data, NULL, &eb);
	assert_int_equal(r, -EUCLEAN);
	assert_non_null(strstr(eb.msg, "/state: data.mdb is not an LMDB"));
}

/* --- full map, full disk ----------------------------------------------- */

static void
test_map_full_raft(void **state)
{
	struct fx *f = *state;
	struct store_options o;
	struct store *s;
	struct store_batch b;
	struct store_snapshot sn;
	struct raft_entry *ev;
	struct errbuf eb;
	uint64_t next = 1;
	size_t n, i;
	int r = 0;

	memset(&o, 0, sizeof(o));
	o.raft_map_size = 256 * 1024;
	s = open_ok(f->data, &o);
	for (i = 0; i < 1000; i++) {
		if ((r = append(s, next, 10, 1, 1000, &eb)) < 0)
			break;
		next += 10;
	}
	assert_int_equal(r, -ENOSPC);
	assert_non_null(strstr(eb.msg, "map full"));
	assert_true(next > 50);
	/* still readable, nothing half-written */
	assert_int_equal(store_load(s, NULL, NULL, NULL, &ev, &n, &eb), 0);
	assert_int_equal(n, next - 1);
	for (i = 0; i < n; i++)
		assert_true(entry_ok(&ev[i], 1000));
	store_entries_free(ev, n);

	/* relieve the pressure: snapshot and compaction */
	set_applied(s, next - 1);
	memset(&sn, 0, sizeof(sn));
	sn.index = next - 1;
	sn.term = 1;
	memset(&b, 0, sizeof(b));
	b.snapshot = &sn;
	b.compact_to = next - 11;
	OK(store_save(s, &b, &eb));
	OK(append(s, next, 10, 1, 1000, &eb));
	next += 10;
	store_close(s);

	/* or a larger map */
	s = open_ok(f->data, &o);
	while ((r = append(s, next, 10, 1, 1000, &eb)) == 0)
		next += 10;
	assert_int_equal(r, -ENOSPC);
	store_close(s);
	o.raft_map_size = 1024 * 1024;
	s = open_ok(f->data, &o);
	OK(append(s, next, 10, 1, 1000, &eb));
	store_close(s);
}

static void
test_map_full_state(void **state)
{
	struct fx *f = *state;
	struct store_options o;
	struct store *s;
	struct store_txn *t;
	struct store_read *rd;
	struct errbuf eb;
	uint64_t applied, i;
	uint8_t val[1000];
	const void *v;
	size_t vlen;
	char key[32];
	int r = 0, j;

	memset(&o, 0, sizeof(o));
	o.state_map_size = 256 * 1024;
	s = open_ok(f->data, &o);
	prime(s);
	memset(val, 'x', sizeof(val));
	for (i = 1; i < 1000; i++) {
		assert_int_equal(store_state_begin(s, &t), 0);
		for (j = 0; j < 10 && r == 0; j++) {
			snprintf(key, sizeof(key), "%" PRIu64 "/%d", i, j);
			r = store_state_put(t, "kv", key, strlen(key), val,
			    sizeof(val));
		}
		if (r < 0) {
			assert_int_equal(r, -ENOSPC);
			/* the failed transaction stays failed */
			assert_int_equal(store_state_put(t, "kv", "a", 1, "b",
					     1),
			    -ENOSPC);
			r = store_state_commit(t, i, &eb);
			assert_int_equal(r, -ENOSPC);
			break;
		}
		if ((r = store_state_commit(t, i, &eb)) < 0) {
			assert_int_equal(r, -ENOSPC);
			break;
		}
	}
	assert_int_equal(r, -ENOSPC);
	assert_non_null(strstr(eb.msg, "map full"));
	assert_int_equal(store_state_applied(s, &applied), 0);
	assert_int_equal(applied, i - 1);
	assert_int_equal(store_state_read_begin(s, &rd), 0);
	snprintf(key, sizeof(key), "%" PRIu64 "/9", applied);
	assert_int_equal(store_state_read_get(rd, "kv", key, strlen(key), &v,
			     &vlen),
	    0);
	assert_int_equal(vlen, sizeof(val));
	snprintf(key, sizeof(key), "%" PRIu64 "/0", applied + 1);
	assert_int_equal(store_state_read_get(rd, "kv", key, strlen(key), &v,
			     &vlen),
	    -ENOENT);
	store_state_read_end(rd);

	/* deleting makes room again */
	assert_int_equal(store_state_begin(s, &t), 0);
	for (j = 0; j < 10; j++) {
		snprintf(key, sizeof(key), "1/%d", j);
		assert_int_equal(store_state_del(t, "kv", key, strlen(key)), 0);
	}
	assert_int_equal(store_state_commit(t, applied + 1, &eb), 0);
	assert_int_equal(store_state_begin(s, &t), 0);
	assert_int_equal(store_state_put(t, "kv", "small", 5, "v", 1), 0);
	assert_int_equal(store_state_commit(t, applied + 2, &eb), 0);
	store_close(s);
}

/* fill_file - write n bytes to path; returns 0 or -errno. */
static int
fill_file(const char *path, size_t n)
{
	char buf[4096];
	int fd, r = 0;
	size_t done;

	memset(buf, 'b', sizeof(buf));
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) < 0)
		return -errno;
	for (done = 0; done < n; done += sizeof(buf))
		if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf)) {
			r = -ENOSPC;
			break;
		}
	if (fsync(fd) < 0 && r == 0)
		r = -errno;
	close(fd);
	return r;
}

static void
test_disk_full(void **state)
{
	struct fx *f = *state;
	struct store *s;
	struct store_txn *t;
	struct raft_entry *ev;
	struct errbuf eb;
	char data[192], ballast[192];
	uint8_t big[64 * 1024];
	uint64_t next = 1, applied;
	size_t n, i;
	int r = 0;

	assert_int_equal(mkdir(f->mnt, 0700), 0);
	if (mount("tmpfs", f->mnt, "tmpfs", 0, "size=2m,mode=0700") < 0) {
		fprintf(stderr, "skipping: mount tmpfs: %s\n",
		    strerror(errno));
		skip();
	}
	f->mounted = true;
	snprintf(data, sizeof(data), "%s/data", f->mnt);
	snprintf(ballast, sizeof(ballast), "%s/ballast", f->mnt);
	assert_int_equal(fill_file(ballast, 512 * 1024), 0);

	s = open_ok(data, NULL);
	for (i = 0; i < 1000; i++) {
		if ((r = append(s, next, 4, 1, 20000, &eb)) < 0)
			break;
		next += 4;
	}
	assert_int_equal(r, -ENOSPC);
	assert_non_null(strstr(eb.msg, "disk full"));
	assert_true(next > 4);

	/* the store reads, and everything committed is intact */
	assert_int_equal(store_load(s, NULL, NULL, NULL, &ev, &n, &eb), 0);
	assert_int_equal(n, next - 1);
	for (i = 0; i < n; i++)
		assert_true(entry_ok(&ev[i], 20000));
	store_entries_free(ev, n);

	/* the state side too */
	memset(big, 's', sizeof(big));
	assert_int_equal(store_state_begin(s, &t), 0);
	r = store_state_put(t, "kv", "big", 3, big, sizeof(big));
	if (r == 0)
		r = store_state_commit(t, 1, &eb);
	else
		store_state_abort(t);
	assert_int_equal(r, -ENOSPC);
	assert_int_equal(store_state_applied(s, &applied), 0);
	assert_int_equal(applied, 0);

	/* room again: writes go on */
	assert_int_equal(unlink(ballast), 0);
	assert_int_equal(append(s, next, 4, 1, 20000, &eb), 0);
	next += 4;
	assert_int_equal(store_state_begin(s, &t), 0);
	assert_int_equal(store_state_put(t, "kv", "big", 3, big, sizeof(big)),
	    0);
	assert_int_equal(store_state_commit(t, 1, &eb), 0);
	store_close(s);

	/* and the store verifies after all that */
	s = open_ok(data, NULL);
	assert_int_equal(store_load(s, NULL, NULL, NULL, NULL, &n, &eb), 0);
	assert_int_equal(n, next - 1);
	store_close(s);
}

/* --- state machine ------------------------------------------------------- */

struct collect {
	char keys[16][32];
	int n;
	int stop_at;
};

static int
collect_fn(void *arg, const void *k, size_t klen, const void *v, size_t vlen)
{
	struct collect *c = arg;

	(void)v;
	(void)vlen;
	if (c->n < 16 && klen < 32) {
		memcpy(c->keys[c->n], k, klen);
		c->keys[c->n][klen] = '\0';
	}
	c->n++;
	return c->n == c->stop_at ? 42 : 0;
}

static void
test_state_basic(void **state)
{
	struct fx *f = *state;
	struct store *s;
	struct store_txn *t, *t2;
	struct store_read *r, *r2;
	struct collect c;
	struct errbuf eb;
	uint64_t applied;
	const void *v;
	size_t vlen;
	char longname[STORE_TABLE_NAME_MAX + 2];

	s = open_ok(f->data, NULL);
	prime(s);
	assert_int_equal(store_state_applied(s, &applied), 0);
	assert_int_equal(applied, 0);
	assert_int_equal(store_state_generation(s), 1);

	assert_int_equal(store_state_begin(s, &t), 0);
	assert_int_equal(store_state_begin(s, &t2), -EBUSY);
	assert_int_equal(store_state_put(t, "kv", "a/1", 3, "one", 3), 0);
	assert_int_equal(store_state_put(t, "kv", "a/2", 3, "two", 3), 0);
	assert_int_equal(store_state_put(t, "kv", "b/1", 3, "three", 5), 0);
	assert_int_equal(store_state_put(t, "kv", "empty", 5, NULL, 0), 0);
	assert_int_equal(store_state_put(t, "nodes", "n1", 2, "x", 1), 0);
	assert_int_equal(store_state_get(t, "kv", "a/2", 3, &v, &vlen), 0);
	assert_int_equal(vlen, 3);
	assert_memory_equal(v, "two", 3);
	assert_int_equal(store_state_get(t, "kv", "zz", 2, &v, &vlen),
	    -ENOENT);
	assert_int_equal(store_state_get(t, "nope", "zz", 2, &v, &vlen),
	    -ENOENT);
	assert_int_equal(store_state_del(t, "kv", "zz", 2), -ENOENT);
	/* bad arguments leave the transaction usable */
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(store_state_put(t, longname, "k", 1, "v", 1),
	    -EINVAL);
	assert_int_equal(store_state_put(t, "", "k", 1, "v", 1), -EINVAL);
	assert_int_equal(store_state_put(t, "kv", "", 0, "v", 1), -EINVAL);
	{
		char bigkey[600];

		memset(bigkey, 'k', sizeof(bigkey));
		assert_int_equal(store_state_put(t, "kv", bigkey,
				     sizeof(bigkey), "v", 1),
		    -EINVAL);
	}
	memset(&c, 0, sizeof(c));
	assert_int_equal(store_state_iterate(t, "kv", "a/", 2, collect_fn, &c),
	    0);
	assert_int_equal(c.n, 2);
	assert_string_equal(c.keys[0], "a/1");
	assert_string_equal(c.keys[1], "a/2");

	/* a reader does not see uncommitted data or tables */
	assert_int_equal(store_state_read_begin(s, &r), 0);
	assert_int_equal(store_state_read_get(r, "kv", "a/1", 3, &v, &vlen),
	    -ENOENT);
	assert_int_equal(store_state_commit(t, 5, &eb), 0);
	assert_int_equal(store_state_read_get(r, "kv", "a/1", 3, &v, &vlen),
	    -ENOENT);
	assert_int_equal(store_state_read_applied(r), 0);
	assert_int_equal(store_state_read_begin(s, &r2), 0);
	assert_int_equal(store_state_read_applied(r2), 5);
	assert_int_equal(store_state_read_get(r2, "kv", "a/1", 3, &v, &vlen),
	    0);
	assert_memory_equal(v, "one", 3);
	assert_int_equal(store_state_read_get(r2, "kv", "empty", 5, &v, &vlen),
	    0);
	assert_int_equal(vlen, 0);
	memset(&c, 0, sizeof(c));
	assert_int_equal(store_state_read_iterate(r2, "kv", NULL, 0,
			     collect_fn, &c),
	    0);
	assert_int_equal(c.n, 4);
	assert_string_equal(c.keys[3], "empty");
	memset(&c, 0, sizeof(c));
	c.stop_at = 2;
	assert_int_equal(store_state_read_iterate(r2, "kv", NULL, 0,
			     collect_fn, &c),
	    42);
	memset(&c, 0, sizeof(c));
	assert_int_equal(store_state_read_iterate(r2, "none", "a", 1,
			     collect_fn, &c),
	    0);
	assert_int_equal(c.n, 0);
	store_state_read_end(r);

	/* an aborted transaction leaves nothing, not even its table */
	assert_int_equal(store_state_begin(s, &t), 0);
	assert_int_equal(store_state_put(t, "kv", "a/1", 3, "ONE", 3), 0);
	assert_int_equal(store_state_put(t, "fresh", "k", 1, "v", 1), 0);
	store_state_abort(t);
	assert_int_equal(store_state_begin(s, &t), 0);
	assert_int_equal(store_state_get(t, "fresh", "k", 1, &v, &vlen),
	    -ENOENT);
	assert_int_equal(store_state_get(t, "kv", "a/1", 3, &v, &vlen), 0);
	assert_memory_equal(v, "one", 3);
	/* the applied index only goes forward */
	assert_int_equal(store_state_del(t, "kv", "a/1", 3), 0);
	assert_int_equal(store_state_commit(t, 5, &eb), -EINVAL);
	assert_int_equal(store_state_begin(s, &t), 0);
	assert_int_equal(store_state_del(t, "kv", "a/1", 3), 0);
	assert_int_equal(store_state_commit(t, 6, &eb), 0);
	/* r2 still sees its view */
	assert_int_equal(store_state_read_get(r2, "kv", "a/1", 3, &v, &vlen),
	    0);
	store_state_read_end(r2);
	store_close(s);

	/* tables and data survive a restart */
	s = open_ok(f->data, NULL);
	assert_int_equal(store_state_applied(s, &applied), 0);
	assert_int_equal(applied, 6);
	assert_int_equal(store_state_read_begin(s, &r), 0);
	assert_int_equal(store_state_read_get(r, "kv", "a/1", 3, &v, &vlen),
	    -ENOENT);
	assert_int_equal(store_state_read_get(r, "nodes", "n1", 2, &v, &vlen),
	    0);
	store_state_read_end(r);
	/* an open write transaction is aborted by close */
	assert_int_equal(store_state_begin(s, &t), 0);
	assert_int_equal(store_state_put(t, "kv", "lost", 4, "v", 1), 0);
	store_close(s);
	s = open_ok(f->data, NULL);
	assert_int_equal(store_state_begin(s, &t), 0);
	assert_int_equal(store_state_get(t, "kv", "lost", 4, &v, &vlen),
	    -ENOENT);
	store_state_abort(t);
	store_close(s);
}

static void
test_max_tables(void **state)
{
	struct fx *f = *state;
	struct store_options o;
	struct store *s;
	struct store_txn *t;
	struct errbuf eb;
	char name[16];
	int i;

	memset(&o, 0, sizeof(o));
	o.max_tables = 4;
	s = open_ok(f->data, &o);
	prime(s);
	assert_int_equal(store_state_begin(s, &t), 0);
	for (i = 0; i < 4; i++) {
		snprintf(name, sizeof(name), "t%d", i);
		assert_int_equal(store_state_put(t, name, "k", 1, "v", 1), 0);
	}
	assert_int_equal(store_state_put(t, "t4", "k", 1, "v", 1), -EMFILE);
	assert_int_equal(store_state_commit(t, 1, &eb), 0);
	store_close(s);
	s = open_ok(f->data, &o);
	assert_int_equal(store_state_begin(s, &t), 0);
	assert_int_equal(store_state_put(t, "t3", "k2", 2, "v", 1), 0);
	assert_int_equal(store_state_put(t, "t9", "k", 1, "v", 1), -EMFILE);
	assert_int_equal(store_state_commit(t, 2, &eb), 0);
	store_close(s);
	o.max_tables = 2;
	assert_int_equal(store_open(&s, f->data, &o, &eb), -EMFILE);
}

static void
test_snapshot_restore(void **state)
{
	struct fx *f = *state;
	struct store *s, *s2;
	struct store_txn *t;
	struct store_read *r;
	struct errbuf eb;
	char snap[192], other[192], bogus[192];
	uint64_t applied, i;
	uint8_t v8[8];
	const void *v;
	size_t vlen;

	snprintf(snap, sizeof(snap), "%s/snap.mdb", f->dir);
	snprintf(other, sizeof(other), "%s/other", f->dir);
	snprintf(bogus, sizeof(bogus), "%s/bogus", f->dir);

	s = open_ok(f->data, NULL);
	prime(s);
	for (i = 1; i <= 10; i++) {
		be64_set(v8, i);
		assert_int_equal(store_state_begin(s, &t), 0);
		assert_int_equal(store_state_put(t, "kv", "k", 1, v8, 8), 0);
		assert_int_equal(store_state_put(t, i % 2 ? "odd" : "even",
				     v8, 8, "x", 1),
		    0);
		assert_int_equal(store_state_commit(t, i, &eb), 0);
	}
	assert_int_equal(store_state_snapshot(s, snap, &applied, &eb), 0);
	assert_int_equal(applied, 10);
	assert_int_equal(access(snap, F_OK), 0);

	/* move on to 20 */
	for (i = 11; i <= 20; i++) {
		be64_set(v8, i);
		assert_int_equal(store_state_begin(s, &t), 0);
		assert_int_equal(store_state_put(t, "kv", "k", 1, v8, 8), 0);
		assert_int_equal(store_state_put(t, "late", "k", 1, v8, 8), 0);
		assert_int_equal(store_state_commit(t, i, &eb), 0);
	}

	/* not with a transaction open */
	assert_int_equal(store_state_read_begin(s, &r), 0);
	assert_int_equal(store_state_restore(s, snap, &eb), -EBUSY);
	store_state_read_end(r);

	/* a bogus file is refused, the state stays */
	assert_int_equal(fill_file(bogus, 64 * 1024), 0);
	assert_int_equal(store_state_restore(s, bogus, &eb), -EUCLEAN);
	assert_int_equal(store_state_applied(s, &applied), 0);
	assert_int_equal(applied, 20);
	assert_int_equal(truncate(bogus, 0), 0);
	assert_int_not_equal(store_state_restore(s, bogus, &eb), 0);
	assert_int_equal(store_state_restore(s, "/nonexistent/x", &eb),
	    -ENOENT);

	/* restoring goes back to 10: data, tables and applied together */
	assert_int_equal(store_state_restore(s, snap, &eb), 0);
	assert_int_equal(access(snap, F_OK), -1); /* consumed */
	assert_int_equal(store_state_generation(s), 2);
	assert_int_equal(store_state_applied(s, &applied), 0);
	assert_int_equal(applied, 10);
	assert_int_equal(store_state_read_begin(s, &r), 0);
	assert_int_equal(store_state_read_get(r, "kv", "k", 1, &v, &vlen), 0);
	assert_int_equal(be64_get(v), 10);
	assert_int_equal(store_state_read_get(r, "late", "k", 1, &v, &vlen),
	    -ENOENT);
	be64_set(v8, 3);
	assert_int_equal(store_state_read_get(r, "odd", v8, 8, &v, &vlen), 0);
	store_state_read_end(r);
	/* and writes go on from there */
	assert_int_equal(store_state_begin(s, &t), 0);
	assert_int_equal(store_state_put(t, "late", "k", 1, "y", 1), 0);
	assert_int_equal(store_state_commit(t, 11, &eb), 0);

	/* a snapshot installed on another server */
	assert_int_equal(store_state_snapshot(s, snap, &applied, &eb), 0);
	assert_int_equal(applied, 11);
	store_close(s);
	s2 = open_ok(other, NULL);
	prime(s2);
	assert_int_equal(store_state_restore(s2, snap, &eb), 0);
	assert_int_equal(store_state_applied(s2, &applied), 0);
	assert_int_equal(applied, 11);
	store_close(s2);
	s2 = open_ok(other, NULL);
	assert_int_equal(store_state_begin(s2, &t), 0);
	assert_int_equal(store_state_get(t, "late", "k", 1, &v, &vlen), 0);
	assert_memory_equal(v, "y", 1);
	store_state_abort(t);
	store_close(s2);
}

static void
test_cross_check(void **state)
{
	struct fx *f = *state;
	struct store *s = NULL;
	struct store_batch b;
	struct store_snapshot sn;
	struct errbuf eb;
	char path[256];

	/* the raft environment lost under an applied state */
	s = open_ok(f->data, NULL);
	assert_int_equal(append(s, 1, 100, 1, 0, &eb), 0);
	set_applied(s, 50);
	store_close(s);
	snprintf(path, sizeof(path), "%s/raft/data.mdb", f->data);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(store_open(&s, f->data, NULL, &eb), -EUCLEAN);
	assert_null(s);
	assert_non_null(strstr(eb.msg, "/raft: empty, but"));
	assert_non_null(strstr(eb.msg, "applied entries up to 50"));

	/* the state lost under a compacted log */
	snprintf(path, sizeof(path), "%s/state/data.mdb", f->data);
	assert_int_equal(unlink(path), 0);
	s = open_ok(f->data, NULL);
	assert_int_equal(append(s, 1, 100, 1, 0, &eb), 0);
	set_applied(s, 100);
	memset(&sn, 0, sizeof(sn));
	sn.index = 90;
	sn.term = 1;
	memset(&b, 0, sizeof(b));
	b.snapshot = &sn;
	b.compact_to = 80;
	OK(store_save(s, &b, &eb));
	store_close(s);
	s = open_ok(f->data, NULL);
	store_close(s);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(store_open(&s, f->data, NULL, &eb), -EUCLEAN);
	assert_non_null(strstr(eb.msg, "/state: applied index 0 is behind"));
}

/* --- state durability: replay after lost state commits ------------------ */

/* apply_entries - the test's state machine, deterministic like raftd's:
 * entry i stores its data under "e<i mod 7>" and i under "last"; one
 * commit per entry in (from, to] of ev (ev[0] is entry 1). */
static void
apply_entries(struct store *s, const struct raft_entry *ev, uint64_t from,
    uint64_t to)
{
	struct store_txn *t;
	struct errbuf eb;
	uint64_t i;
	uint8_t v[8];
	char key[16];

	for (i = from + 1; i <= to; i++) {
		be64_set(v, i);
		snprintf(key, sizeof(key), "e%" PRIu64, i % 7);
		OK(store_state_begin(s, &t));
		OK(store_state_put(t, "kv", key, strlen(key), ev[i - 1].data,
		    ev[i - 1].len));
		OK(store_state_put(t, "kv", "last", 4, v, sizeof(v)));
		OK(store_state_commit(t, i, &eb));
	}
}

/* state_dump - every row of table kv as "key=hex;..." (malloc'd) */
static int
dump_fn(void *arg, const void *k, size_t klen, const void *v, size_t vlen)
{
	struct buf *b = arg;
	size_t i;
	char hx[3];

	buf_put(b, k, klen);
	buf_put(b, "=", 1);
	for (i = 0; i < vlen; i++) {
		snprintf(hx, sizeof(hx), "%02x", ((const uint8_t *)v)[i]);
		buf_put(b, hx, 2);
	}
	buf_put(b, ";", 1);
	return 0;
}

static char *
state_dump(struct store *s)
{
	struct store_read *r;
	struct buf b = BUF_INIT;
	char *out;

	assert_int_equal(store_state_read_begin(s, &r), 0);
	assert_int_equal(store_state_read_iterate(r, "kv", NULL, 0, dump_fn,
			     &b),
	    0);
	store_state_read_end(r);
	out = calloc(1, b.len + 1);
	assert_non_null(out);
	if (b.len > 0)
		memcpy(out, b.data, b.len);
	buf_free(&b);
	return out;
}

static void
copy_path(const char *from, const char *to)
{
	uint8_t *p;
	size_t n;
	int fd;

	read_file(from, &p, &n);
	fd = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	assert_int_equal(fsync(fd), 0);
	close(fd);
	free(p);
}

/* The state environment commits without syncing its meta page
 * (MDB_NOMETASYNC), so a machine crash may take the state back to an
 * earlier commit.  Simulated here by putting back an image of state/
 * taken after store_state_sync(): the store opens, reports the older
 * applied index, the log still holds everything after it, and replaying
 * those entries (as raftd does at start) gives exactly the state that
 * was lost. */
static void
test_state_replay_after_lost_commits(void **state)
{
	struct fx *f = *state;
	struct store *s;
	struct raft_entry *ev;
	struct errbuf eb;
	uint64_t applied, first, last;
	size_t n;
	char data[256], image[256], lock[256];
	char *want, *got;

	snprintf(data, sizeof(data), "%s/state/data.mdb", f->data);
	snprintf(lock, sizeof(lock), "%s/state/lock.mdb", f->data);
	snprintf(image, sizeof(image), "%s/image.mdb", f->dir);

	s = open_ok(f->data, NULL);
	OK(append(s, 1, 40, 1, 0, &eb));
	OK(store_load(s, NULL, NULL, NULL, &ev, &n, &eb));
	assert_int_equal(n, 40);
	apply_entries(s, ev, 0, 12);
	OK(store_state_sync(s, &eb));
	/* what the disk is known to hold now */
	copy_path(data, image);
	/* commits that a crash may still take back */
	apply_entries(s, ev, 12, 31);
	want = state_dump(s);
	store_close(s);

	/* the crash: state/ as it was synced, the log as it was saved */
	copy_path(image, data);
	assert_int_equal(unlink(lock), 0);
	s = open_ok(f->data, NULL);
	assert_int_equal(store_state_applied(s, &applied), 0);
	assert_int_equal(applied, 12);
	assert_int_equal(store_log_bounds(s, &first, &last, NULL), 0);
	assert_int_equal(first, 1);
	assert_int_equal(last, 40);
	got = state_dump(s);
	assert_string_not_equal(got, want);
	free(got);
	/* replay from the durable applied index + 1 */
	apply_entries(s, ev, applied, 31);
	got = state_dump(s);
	assert_string_equal(got, want);
	free(got);
	store_close(s);

	/* what was committed and synced survives a plain restart */
	s = open_ok(f->data, NULL);
	assert_int_equal(store_state_applied(s, &applied), 0);
	assert_int_equal(applied, 31);
	got = state_dump(s);
	assert_string_equal(got, want);
	free(got);
	store_close(s);
	free(want);
	store_entries_free(ev, n);
}

static void
test_lock_and_args(void **state)
{
	struct fx *f = *state;
	struct store *s, *s2 = NULL;
	struct store_batch b;
	struct raft_entry e;
	struct errbuf eb;

	s = open_ok(f->data, NULL);
	assert_int_equal(store_open(&s2, f->data, NULL, &eb), -EBUSY);
	assert_null(s2);
	assert_non_null(strstr(eb.msg, "in use"));
	assert_int_equal(store_open(&s2, "", NULL, &eb), -EINVAL);

	memset(&e, 0, sizeof(e));
	e.index = 1;
	e.term = 0;
	memset(&b, 0, sizeof(b));
	b.entries = &e;
	b.n_entries = 1;
	assert_int_equal(store_save(s, &b, &eb), -EINVAL);
	e.term = 1;
	e.len = 5; /* and no data */
	assert_int_equal(store_save(s, &b, &eb), -EINVAL);
	e.len = 0;
	e.index = 2; /* the log must start at 1 */
	assert_int_equal(store_save(s, &b, &eb), -EINVAL);
	e.index = 1;
	OK(store_save(s, &b, &eb));
	store_close(s);
	s = open_ok(f->data, NULL);
	store_close(s);
	store_close(NULL);
}

/* savepoints: a rollback drops what came after it, including a table
 * created after it; a release keeps it; both commit with the rest */
static void
test_savepoint(void **state)
{
	struct fx *f = *state;
	struct store *s = open_ok(f->data, NULL);
	struct store_txn *t;
	struct errbuf eb;
	const void *v;
	size_t vlen;

	prime(s);
	OK(store_state_begin(s, &t));
	OK(store_state_put(t, "kv", "a", 1, "1", 1));
	OK(store_state_savepoint(t));
	assert_int_equal(store_state_savepoint(t), -EBUSY);
	OK(store_state_put(t, "kv", "b", 1, "2", 1));
	OK(store_state_put(t, "newtable", "x", 1, "3", 1));
	OK(store_state_get(t, "newtable", "x", 1, &v, &vlen));
	store_state_rollback(t);
	assert_int_equal(store_state_get(t, "kv", "b", 1, &v, &vlen), -ENOENT);
	assert_int_equal(store_state_get(t, "newtable", "x", 1, &v, &vlen),
	    -ENOENT);
	OK(store_state_get(t, "kv", "a", 1, &v, &vlen));
	OK(store_state_savepoint(t));
	OK(store_state_put(t, "kv", "c", 1, "4", 1));
	OK(store_state_put(t, "other", "y", 1, "5", 1));
	OK(store_state_release(t));
	OK(store_state_commit(t, 1, &eb));
	store_close(s);

	s = open_ok(f->data, NULL);
	OK(store_state_begin(s, &t));
	OK(store_state_get(t, "kv", "a", 1, &v, &vlen));
	OK(store_state_get(t, "kv", "c", 1, &v, &vlen));
	OK(store_state_get(t, "other", "y", 1, &v, &vlen));
	assert_int_equal(store_state_get(t, "kv", "b", 1, &v, &vlen), -ENOENT);
	assert_int_equal(store_state_get(t, "newtable", "x", 1, &v, &vlen),
	    -ENOENT);
	/* an open savepoint is ended by abort */
	OK(store_state_savepoint(t));
	OK(store_state_put(t, "kv", "d", 1, "6", 1));
	store_state_abort(t);
	store_close(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_record_codec),
	    cmocka_unit_test_setup_teardown(test_roundtrip, fx_setup,
		fx_teardown),
	    cmocka_unit_test_setup_teardown(test_truncate_append, fx_setup,
		fx_teardown),
	    cmocka_unit_test_setup_teardown(test_compaction, fx_setup,
		fx_teardown),
	    cmocka_unit_test_setup_teardown(test_crash_during_save, fx_setup,
		fx_teardown),
	    cmocka_unit_test_setup_teardown(test_crash_during_apply, fx_setup,
		fx_teardown),
	    cmocka_unit_test_setup_teardown(test_corrupt_entry, fx_setup,
		fx_teardown),
	    cmocka_unit_test_setup_teardown(test_corrupt_files, fx_setup,
		fx_teardown),
	    cmocka_unit_test_setup_teardown(test_map_full_raft, fx_setup,
		fx_teardown),
	    cmocka_unit_test_setup_teardown(test_map_full_state, fx_setup,
		fx_teardown),
	    cmocka_unit_test_setup_teardown(test_disk_full, fx_setup,
		fx_teardown),
	    cmocka_unit_test_setup_teardown(test_state_basic, fx_setup,
		fx_teardown),
	    cmocka_unit_test_setup_teardown(test_max_tables, fx_setup,
		fx_teardown),
	    cmocka_unit_test_setup_teardown(test_snapshot_restore, fx_setup,
		fx_teardown),
	    cmocka_unit_test_setup_teardown(test_cross_check, fx_setup,
		fx_teardown),
	    cmocka_unit_test_setup_teardown(test_state_replay_after_lost_commits,
		fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_lock_and_args, fx_setup,
		fx_teardown),
	    cmocka_unit_test_setup_teardown(test_savepoint, fx_setup,
		fx_teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
