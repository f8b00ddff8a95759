/* snapshot.c - cairn snapshot save|restore|inspect: the state of the
 * servers as an archive file (common/snapfile.h), through /v1/snapshot. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "ctl.h"
#include "http.h"
#include "snapfile.h"
#include "xmalloc.h"

#define TRANSFER_TIMEOUT_MS (3600L * 1000) /* a large state, a slow link */
#define PROGRESS_AFTER_S 1.0		   /* quiet for small snapshots */

/* a file mapped for reading */
struct mapped {
	void *p;
	size_t n;
};

static int
map_file(const char *path, struct mapped *m)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	memset(m, 0, sizeof(*m));
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		int e = S_ISREG(st.st_mode) ? -errno : -EINVAL;

		close(fd);
		return e;
	}
	m->n = (size_t)st.st_size;
	if (m->n > 0) {
		m->p = mmap(NULL, m->n, PROT_READ, MAP_PRIVATE, fd, 0);
		if (m->p == MAP_FAILED) {
			int e = -errno;

			m->p = NULL;
			close(fd);
			return e;
		}
	}
	close(fd);
	return 0;
}

static void
unmap_file(struct mapped *m)
{
	if (m->p != NULL)
		munmap(m->p, m->n);
	memset(m, 0, sizeof(*m));
}

/* open_verified - path mapped and checked as a snapshot archive (the
 * error printed); the caller unmaps mf */
static int
open_verified(const char *path, struct mapped *mf, struct snap_meta *sm)
{
	struct errbuf eb;
	int r;

	if ((r = map_file(path, mf)) < 0) {
		fprintf(stderr, "Error opening snapshot file %s: %s\n", path,
		    strerror(-r));
		return -1;
	}
	if (snapfile_verify(mf->p, mf->n, sm, NULL, &eb) < 0) {
		fprintf(stderr, "Error verifying snapshot file: %s\n", eb.msg);
		unmap_file(mf);
		return -1;
	}
	return 0;
}

/* progress on stderr once a transfer has taken a while */
struct progress {
	double start, last;
	const char *verb;
	bool up;
	bool said;
};

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
on_progress(uint64_t down, uint64_t up, uint64_t up_total, void *arg)
{
	struct progress *pg = arg;
	double t = now_s();

	if (t - pg->start < PROGRESS_AFTER_S || t - pg->last < 1.0)
		return;
	pg->last = t;
	pg->said = true;
	if (pg->up && up_total > 0)
		fprintf(stderr, "%s %.1f of %.1f MB (%.0f%%)...\n", pg->verb,
		    (double)up / 1e6, (double)up_total / 1e6,
		    100.0 * (double)up / (double)up_total);
	else
		fprintf(stderr, "%s %.1f MB...\n", pg->verb,
		    (double)(pg->up ? up : down) / 1e6);
}

/* the download, written to a file as it comes */
struct sink {
	FILE *f;
	int err;
	uint64_t n;
};

static void
on_data(const char *p, size_t n, void *arg)
{
	struct sink *s = arg;

	if (s->err == 0 && fwrite(p, 1, n, s->f) != n)
		s->err = errno ? errno : EIO;
	s->n += n;
}

/* fail_file - the error of a non-200 answer, which went to the file */
static void
print_error_body(const char *path, const char *what, long status)
{
	char text[1024];
	size_t n = 0;
	FILE *f = fopen(path, "r");

	if (f != NULL) {
		n = fread(text, 1, sizeof(text) - 1, f);
		fclose(f);
	}
	text[n] = '\0';
	fprintf(stderr, "Error %s: Unexpected response code: %ld (%s)\n", what,
	    status, text);
}

static int
snapshot_save(int argc, char **argv)
{
	static const char usage[] =
	    "Usage: cairn snapshot save [options] FILE\n\n"
	    "  Retrieves an atomic, point-in-time snapshot of the state of "
	    "the\n  Cairn servers (key/value entries, the service catalog, "
	    "sessions)\n  and writes it to FILE; it is verified before it is "
	    "kept.\n\n"
	    "  -stale            Let any server take it, even without a "
	    "leader.\n"
	    "  -http-addr=<addr> The agent's HTTP address (127.0.0.1:8500).\n";
	static const char *const bools[] = {"stale", NULL};
	struct ctl_http_meta meta;
	struct progress pg;
	struct snap_meta sm;
	struct mapped mf;
	struct sink sk;
	struct opts o;
	char *tmp;
	long status = 0;
	int r;

	if ((r = cli_parse_go(argc, argv, bools, NULL, &o, usage)) != 0)
		return r;
	if (o.npos != 1) {
		fprintf(stderr, "This command takes one argument: <file>\n");
		return 1;
	}
	tmp = xmalloc(strlen(o.pos[0]) + 6);
	sprintf(tmp, "%s.part", o.pos[0]);
	memset(&sk, 0, sizeof(sk));
	if ((sk.f = fopen(tmp, "w")) == NULL) {
		fprintf(stderr, "Error creating snapshot file %s: %s\n", tmp,
		    strerror(errno));
		free(tmp);
		return 1;
	}
	memset(&pg, 0, sizeof(pg));
	pg.start = pg.last = now_s();
	pg.verb = "Downloaded";
	memset(&meta, 0, sizeof(meta));
	meta.timeout_ms = TRANSFER_TIMEOUT_MS;
	meta.on_data = on_data;
	meta.on_data_arg = &sk;
	meta.on_progress = on_progress;
	meta.on_progress_arg = &pg;
	r = ctl_http_do_meta(&o.h, "GET",
	    o.flag[0] ? "/v1/snapshot?stale" : "/v1/snapshot", NULL, 0,
	    &status, NULL, &meta);
	if ((fflush(sk.f) != 0 || fsync(fileno(sk.f)) != 0) && sk.err == 0)
		sk.err = errno;
	if (fclose(sk.f) != 0 && sk.err == 0)
		sk.err = errno;
	if (r < 0)
		goto fail;
	if (status != 200) {
		print_error_body(tmp, "saving snapshot", status);
		goto fail;
	}
	if (sk.err != 0) {
		fprintf(stderr, "Error writing snapshot file %s: %s\n", tmp,
		    strerror(sk.err));
		goto fail;
	}
	if (open_verified(tmp, &mf, &sm) < 0)
		goto fail;
	unmap_file(&mf);
	if (rename(tmp, o.pos[0]) < 0) {
		fprintf(stderr, "Error moving snapshot to %s: %s\n", o.pos[0],
		    strerror(errno));
		goto fail;
	}
	printf("Saved and verified snapshot to index %" PRIu64 "\n", sm.index);
	free(tmp);
	return 0;
fail:
	unlink(tmp);
	free(tmp);
	return 1;
}

static int
snapshot_restore(int argc, char **argv)
{
	static const char usage[] =
	    "Usage: cairn snapshot restore [options] FILE\n\n"
	    "  Restores the state of the Cairn servers from a snapshot made "
	    "by\n  \"cairn snapshot save\".  Everything in the servers' state "
	    "is replaced:\n  key/value entries, the catalog and sessions.  "
	    "Local agent state\n  (this agent's own services and checks) is "
	    "not touched and is synced\n  back into the catalog.\n\n"
	    "  -http-addr=<addr> The agent's HTTP address (127.0.0.1:8500).\n";
	struct ctl_http_meta meta;
	struct progress pg;
	struct snap_meta sm;
	struct mapped mf;
	struct buf out = BUF_INIT;
	struct opts o;
	long status = 0;
	int r;

	if ((r = cli_parse_go(argc, argv, NULL, NULL, &o, usage)) != 0)
		return r;
	if (o.npos != 1) {
		fprintf(stderr, "This command takes one argument: <file>\n");
		return 1;
	}
	/* refuse a damaged file here rather than after the upload */
	if (open_verified(o.pos[0], &mf, &sm) < 0)
		return 1;
	memset(&pg, 0, sizeof(pg));
	pg.start = pg.last = now_s();
	pg.verb = "Uploaded";
	pg.up = true;
	memset(&meta, 0, sizeof(meta));
	meta.timeout_ms = TRANSFER_TIMEOUT_MS;
	meta.on_progress = on_progress;
	meta.on_progress_arg = &pg;
	r = ctl_http_do_meta(&o.h, "PUT", "/v1/snapshot", mf.p, mf.n, &status,
	    &out, &meta);
	unmap_file(&mf);
	if (r < 0) {
		buf_free(&out);
		return 1;
	}
	if (status != 200) {
		fprintf(stderr,
		    "Error restoring snapshot: Unexpected response code: %ld "
		    "(%.*s)\n",
		    status, (int)out.len, out.data ? (char *)out.data : "");
		buf_free(&out);
		return 1;
	}
	buf_free(&out);
	printf("Restored snapshot\n");
	return 0;
}

static int
snapshot_inspect(int argc, char **argv)
{
	static const char usage[] =
	    "Usage: cairn snapshot inspect [options] FILE\n\n"
	    "  Verifies a snapshot file and shows its metadata: ID, size of "
	    "the\n  state, Raft index and term, format version.\n";
	struct snap_meta sm;
	struct mapped mf;
	struct opts o;
	int r;

	if ((r = cli_parse_go(argc, argv, NULL, NULL, &o, usage)) != 0)
		return r;
	if (o.npos != 1) {
		fprintf(stderr, "This command takes one argument: <file>\n");
		return 1;
	}
	if (open_verified(o.pos[0], &mf, &sm) < 0)
		return 1;
	unmap_file(&mf);
	printf("%-13s%s\n", "ID", sm.id);
	printf("%-13s%" PRIu64 "\n", "Size", sm.size);
	printf("%-13s%" PRIu64 "\n", "Index", sm.index);
	printf("%-13s%" PRIu64 "\n", "Term", sm.term);
	printf("%-13s%" PRIu64 "\n", "Version", sm.version);
	return 0;
}

int
cmd_snapshot(int argc, char **argv)
{
	static const struct cli_sub subs[] = {
	    {"save", snapshot_save},
	    {"restore", snapshot_restore},
	    {"inspect", snapshot_inspect},
	};
	static const char usage[] =
	    "Usage: cairn snapshot <subcommand> [options] [args]\n\n"
	    "  Saves, restores and inspects snapshots of the Cairn servers' "
	    "state.\n\n"
	    "Subcommands:\n"
	    "    inspect    Displays information about a snapshot file\n"
	    "    restore    Restores the servers' state from a snapshot\n"
	    "    save       Saves the servers' state to a snapshot file\n";

	return cli_dispatch(argc, argv, subs, sizeof(subs) / sizeof(subs[0]),
	    usage);
}
