/* export.c - snapshot archives made by worker threads (see export.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "clock.h"
#include "export.h"
#include "log.h"
#include "snapfile.h"
#include "xmalloc.h"

struct export {
	struct exports *x;
	pthread_t th;
	bool running; /* the thread exists; not yet reported */
	bool joined;  /* exports_wait() joined it already */
	bool done;    /* the thread finished: results below */
	bool ready;   /* the archive exists (status 0, not yet deleted) */
	uint64_t seq, term;
	char name[EXPORT_NAME_LEN + 1];
	ev_tstamp made;
	/* results */
	int status;
	uint64_t index, size;
	struct errbuf eb;
};

struct exports {
	struct ev_loop *loop;
	struct store *st;
	char *dir;
	char *dc;
	export_done_fn done;
	void *arg;
	ev_async async_w;
	pthread_mutex_t mu;
	struct export slot[EXPORT_MAX];
	bool used[EXPORT_MAX];
};

static void
path_of(const struct exports *x, const char *name, const char *ext,
    char *out, size_t len)
{
	snprintf(out, len, "%s/%s%s", x->dir, name, ext);
}

static void *
export_main(void *arg)
{
	struct export *e = arg;
	struct exports *x = e->x;
	char state[PATH_MAX], tmp[PATH_MAX], final[PATH_MAX];
	struct snap_meta m;
	uint64_t applied = 0, size = 0;
	int in = -1, out = -1, r;

	path_of(x, e->name, ".state", state, sizeof(state));
	path_of(x, e->name, ".tmp", tmp, sizeof(tmp));
	path_of(x, e->name, ".snap", final, sizeof(final));
	r = store_state_snapshot(x->st, state, &applied, &e->eb);
	if (r == 0 && (in = open(state, O_RDONLY | O_CLOEXEC)) < 0)
		r = errbuf_set(&e->eb, -errno, "%s: %s", state,
		    strerror(errno));
	if (r == 0 && (out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC |
					   O_CLOEXEC, 0600)) < 0)
		r = errbuf_set(&e->eb, -errno, "%s: %s", tmp, strerror(errno));
	if (r == 0) {
		memset(&m, 0, sizeof(m));
		m.index = applied;
		m.term = e->term;
		snprintf(m.datacenter, sizeof(m.datacenter), "%s", x->dc);
		r = snapfile_write(out, in, &m, &size, &e->eb);
	}
	if (in >= 0)
		close(in);
	unlink(state);
	if (out >= 0 && close(out) < 0 && r == 0)
		r = errbuf_set(&e->eb, -errno, "%s: %s", tmp, strerror(errno));
	if (r == 0 && rename(tmp, final) < 0)
		r = errbuf_set(&e->eb, -errno, "%s: %s", final,
		    strerror(errno));
	if (r < 0)
		unlink(tmp);
	pthread_mutex_lock(&x->mu);
	e->status = r;
	e->index = applied;
	e->size = size;
	e->done = true;
	pthread_mutex_unlock(&x->mu);
	ev_async_send(x->loop, &x->async_w);
	return NULL;
}

/* on_async - report finished exports (on the loop) */
static void
on_async(struct ev_loop *loop, ev_async *w, int revents)
{
	struct exports *x = w->data;
	size_t i;

	(void)loop;
	(void)revents;
	for (i = 0; i < EXPORT_MAX; i++) {
		struct export *e = &x->slot[i];
		bool done;

		if (!x->used[i] || !e->running)
			continue;
		pthread_mutex_lock(&x->mu);
		done = e->done;
		pthread_mutex_unlock(&x->mu);
		if (!done)
			continue;
		if (!e->joined)
			pthread_join(e->th, NULL);
		e->running = false;
		e->made = mono_now();
		if (e->status == 0) {
			e->ready = true;
			log_info("snapshot: archive %s at index %llu, %llu "
				 "bytes",
			    e->name, (unsigned long long)e->index,
			    (unsigned long long)e->size);
		} else {
			log_warnx("snapshot: %s", e->eb.msg);
			x->used[i] = false;
		}
		x->done(x->arg, e->seq, e->status, e->name, e->index, e->term,
		    e->size, e->eb.msg);
	}
}

/* clear_dir - archives left by an earlier run are gone with their
 * requesters */
static void
clear_dir(const char *dir)
{
	char p[PATH_MAX];
	struct dirent *de;
	DIR *d = opendir(dir);

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		unlink(p);
	}
	closedir(d);
}

int
exports_open(struct ev_loop *loop, struct store *st, const char *dir,
    const char *datacenter, export_done_fn done, void *arg,
    struct exports **out, struct errbuf *eb)
{
	struct exports *x;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return errbuf_set(eb, -errno, "%s: %s", dir, strerror(errno));
	clear_dir(dir);
	x = xcalloc(1, sizeof(*x));
	x->loop = loop;
	x->st = st;
	x->dir = xstrdup(dir);
	x->dc = xstrdup(datacenter ? datacenter : "dc1");
	x->done = done;
	x->arg = arg;
	pthread_mutex_init(&x->mu, NULL);
	ev_async_init(&x->async_w, on_async);
	x->async_w.data = x;
	ev_async_start(loop, &x->async_w);
	*out = x;
	return 0;
}

int
exports_start(struct exports *x, uint64_t term, uint64_t seq,
    struct errbuf *eb)
{
	struct export *e = NULL;
	uint8_t rnd[EXPORT_NAME_LEN / 2];
	size_t i;
	int r;

	exports_expire(x);
	for (i = 0; i < EXPORT_MAX && e == NULL; i++)
		if (!x->used[i])
			e = &x->slot[i];
	if (e == NULL)
		return errbuf_set(eb, -EBUSY,
		    "%d snapshots are being saved already; try again later",
		    EXPORT_MAX);
	memset(e, 0, sizeof(*e));
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return errbuf_set(eb, -EIO, "no random source");
	for (i = 0; i < sizeof(rnd); i++)
		snprintf(e->name + 2 * i, 3, "%02x", rnd[i]);
	e->x = x;
	e->seq = seq;
	e->term = term;
	if ((r = pthread_create(&e->th, NULL, export_main, e)) != 0)
		return errbuf_set(eb, -r, "snapshot thread: %s", strerror(r));
	e->running = true;
	x->used[e - x->slot] = true;
	return 0;
}

static bool
name_ok(const char *name)
{
	size_t i;

	for (i = 0; name[i]; i++)
		if (!((name[i] >= '0' && name[i] <= '9') ||
			(name[i] >= 'a' && name[i] <= 'f')))
			return false;
	return i == EXPORT_NAME_LEN;
}

static void
drop(struct exports *x, size_t i)
{
	char p[PATH_MAX];

	path_of(x, x->slot[i].name, ".snap", p, sizeof(p));
	unlink(p);
	x->slot[i].ready = false;
	x->used[i] = false;
}

int
exports_read(struct exports *x, const char *name, uint64_t off,
    struct cdc_bytes *out, uint64_t *size, struct errbuf *eb)
{
	char p[PATH_MAX];
	struct export *e = NULL;
	size_t i, want;
	ssize_t k;
	int fd;

	memset(out, 0, sizeof(*out));
	if (name == NULL || !name_ok(name))
		return errbuf_set(eb, -EINVAL, "bad snapshot name");
	for (i = 0; i < EXPORT_MAX && e == NULL; i++)
		if (x->used[i] && x->slot[i].ready &&
		    strcmp(x->slot[i].name, name) == 0)
			e = &x->slot[i];
	if (e == NULL)
		return errbuf_set(eb, -ENOENT,
		    "snapshot %s is gone (read to its end, or expired)", name);
	if (off > e->size)
		return errbuf_set(eb, -EINVAL, "offset past the snapshot");
	*size = e->size;
	want = e->size - off < EXPORT_CHUNK ? (size_t)(e->size - off)
					    : EXPORT_CHUNK;
	path_of(x, name, ".snap", p, sizeof(p));
	if ((fd = open(p, O_RDONLY | O_CLOEXEC)) < 0)
		return errbuf_set(eb, -errno, "%s: %s", p, strerror(errno));
	out->p = want ? xmalloc(want) : NULL;
	k = want ? pread(fd, out->p, want, (off_t)off) : 0;
	close(fd);
	if (k < 0 || (size_t)k != want) {
		free(out->p);
		out->p = NULL;
		return errbuf_set(eb, -EIO, "%s: short read", p);
	}
	out->n = want;
	if (off + want == e->size)
		drop(x, (size_t)(e - x->slot));
	return 0;
}

void
exports_expire(struct exports *x)
{
	ev_tstamp now = mono_now();
	size_t i;

	for (i = 0; i < EXPORT_MAX; i++)
		if (x->used[i] && x->slot[i].ready &&
		    now - x->slot[i].made > EXPORT_TTL_S) {
			log_info("snapshot: archive %s expired unread",
			    x->slot[i].name);
			drop(x, i);
		}
}

void
exports_wait(struct exports *x)
{
	size_t i;

	if (x == NULL)
		return;
	for (i = 0; i < EXPORT_MAX; i++)
		if (x->used[i] && x->slot[i].running &&
		    !x->slot[i].joined) {
			/* on_async still reports it */
			pthread_join(x->slot[i].th, NULL);
			x->slot[i].joined = true;
		}
}

void
exports_close(struct exports *x)
{
	size_t i;

	if (x == NULL)
		return;
	for (i = 0; i < EXPORT_MAX; i++)
		if (x->used[i] && x->slot[i].running && !x->slot[i].joined)
			pthread_join(x->slot[i].th, NULL);
	ev_async_stop(x->loop, &x->async_w);
	clear_dir(x->dir);
	pthread_mutex_destroy(&x->mu);
	free(x->dir);
	free(x->dc);
	free(x);
}
