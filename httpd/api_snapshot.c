/* api_snapshot.c - /v1/snapshot: GET streams a snapshot archive that a
 * server's raftd made (common/snapfile.h), PUT restores one.
 *
 * Save: IPC_SNAPSHOT_SAVE (the leader, or this server with ?stale) names
 * the archive and the server that holds it; its chunks are then read with
 * IPC_SNAPSHOT_READ and written to the client as they come, one chunk in
 * flight and no more queued than the client takes (a slow client slows
 * the reads, nothing is dropped).
 *
 * Restore: the archive is checked whole first (gzip, tar, meta.json,
 * SHA256SUMS; 400 when it is not a Cairn snapshot), then its state.bin
 * goes through the Raft log in RESTORE_CHUNK commands, one at a time, and
 * a RESTORE command makes every server swap the state in at one index
 * (raftd/fsm.h).  200 once that is applied. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "api_int.h"
#include "log.h"
#include "snapfile.h"
#include "uuid.h"
#include "xmalloc.h"

#define RESTORE_CHUNK (512 * 1024)
#define STREAM_HIGH_WATER (2 * 1024 * 1024)

struct snap_call {
	struct api *a;
	struct http_req *req;
	/* save */
	char *name;
	uint64_t server, off, size;
	ev_timer wait_w; /* the client is slow: read again later */
	/* restore */
	struct snap_reader *rd;
	char id[37];
	uint8_t sha[32];
	uint64_t state_size;
	uint8_t *chunk;
};

static void
snap_free(struct snap_call *s)
{
	ev_timer_stop(s->a->loop, &s->wait_w);
	snapr_close(s->rd);
	free(s->chunk);
	free(s->name);
	free(s);
}

/* ------------------------------------------------------------- save */

static void read_next(struct snap_call *s);

static void
read_done(int status, void *body, const char *errmsg, void *arg)
{
	struct snap_call *s = arg;
	struct ipc_snapshot_reply *rep = body;

	if (!http_stream_alive(s->req)) {
		http_stream_end(s->req);
		snap_free(s);
		return;
	}
	if (status < 0 || rep->data.n == 0 ||
	    s->off + rep->data.n > s->size) {
		/* the status line is out: cut the response short so the
		 * client cannot take it for a whole archive */
		log_warnx("snapshot: reading archive %s at %llu: %s", s->name,
		    (unsigned long long)s->off,
		    status < 0 ? (errmsg ? errmsg : strerror(-status))
			       : "short chunk");
		http_stream_abort(s->req);
		snap_free(s);
		return;
	}
	if (http_stream_write(s->req, rep->data.p, rep->data.n) < 0) {
		http_stream_end(s->req);
		snap_free(s);
		return;
	}
	s->off += rep->data.n;
	if (s->off == s->size) {
		http_stream_end(s->req);
		snap_free(s);
		return;
	}
	read_next(s);
}

static void
wait_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	read_next(w->data);
}

static void
read_next(struct snap_call *s)
{
	struct ipc_snapshot_req q;

	if (!http_stream_alive(s->req)) {
		http_stream_end(s->req);
		snap_free(s);
		return;
	}
	if (http_stream_queued(s->req) > STREAM_HIGH_WATER) {
		ev_timer_set(&s->wait_w, 0.01, 0);
		ev_timer_start(s->a->loop, &s->wait_w);
		return;
	}
	memset(&q, 0, sizeof(q));
	q.name = s->name;
	q.server = s->server;
	q.offset = s->off;
	api_raftd(s->a, s->req, IPC_SNAPSHOT_READ, &q, API_IPC_TIMEOUT_MS,
	    read_done, s);
}

static void
save_done(int status, void *body, const char *errmsg, void *arg)
{
	struct snap_call *s = arg;
	struct ipc_snapshot_reply *rep = body;
	char h[3][64];
	const char *hs[4] = {h[0], h[1], h[2], NULL};

	if (status < 0) {
		respond_ipc_error(s->req, status, errmsg);
		snap_free(s);
		return;
	}
	s->name = xstrdup(rep->name ? rep->name : "");
	s->server = rep->server;
	s->size = rep->size;
	snprintf(h[0], sizeof(h[0]), "X-Consul-Index: %" PRIu64,
	    rep->index ? rep->index : 1);
	snprintf(h[1], sizeof(h[1]), "X-Consul-KnownLeader: %s",
	    rep->known_leader ? "true" : "false");
	snprintf(h[2], sizeof(h[2]), "X-Consul-LastContact: %" PRIu64,
	    rep->last_contact_ms);
	http_stream_begin_hdrs(s->req, 200, "application/x-gzip", hs);
	read_next(s);
}

static void
save(struct api *a, struct http_req *req)
{
	struct ipc_snapshot_req q;
	struct snap_call *s;
	int mode;

	if ((mode = read_mode(req)) < 0)
		return;
	s = xcalloc(1, sizeof(*s));
	s->a = a;
	s->req = req;
	ev_timer_init(&s->wait_w, wait_cb, 0.01, 0);
	s->wait_w.data = s;
	memset(&q, 0, sizeof(q));
	q.mode = (uint32_t)mode;
	api_raftd(a, req, IPC_SNAPSHOT_SAVE, &q, API_IPC_TIMEOUT_MS,
	    save_done, s);
}

/* ---------------------------------------------------------- restore */

static void propose_next(struct snap_call *s);

static void
restore_fail(struct snap_call *s, int code, const char *fmt, const char *m)
{
	char text[512];

	snprintf(text, sizeof(text), fmt, m);
	log_warnx("snapshot restore %s: %s", s->id, text);
	http_respond_text(s->req, code, text);
	snap_free(s);
}

static void
chunk_done(int status, void *body, const char *errmsg, void *arg)
{
	struct snap_call *s = arg;
	struct ipc_raft_result *res = body;

	if (status < 0) {
		(*s->a->c_errors)++;
		respond_ipc_error(s->req, status, errmsg);
		snap_free(s);
		return;
	}
	if (!res->ok) {
		restore_fail(s, 500, "%s",
		    res->err == RAFT_ERR_RESTORE
			? "the snapshot was not restored: the servers could "
			  "not install its state (see their logs)"
			: "the snapshot was not restored: a chunk was "
			  "refused");
		return;
	}
	if (s->rd == NULL) {
		/* the RESTORE entry applied: every server has the state */
		log_info("snapshot restore %s: done at index %llu", s->id,
		    (unsigned long long)res->index);
		http_respond(s->req, 200, NULL, "", 0, NULL);
		snap_free(s);
		return;
	}
	propose_next(s);
}

static void
propose_next(struct snap_call *s)
{
	struct ipc_raft_cmd cmd;
	struct errbuf eb;
	ssize_t k = 0;

	memset(&cmd, 0, sizeof(cmd));
	cmd.key = s->id;
	cmd.client_id = s->a->client_id;
	cmd.seq = ++s->a->seq;
	while ((size_t)k < RESTORE_CHUNK) {
		ssize_t m = snapr_read(s->rd, s->chunk + k,
		    RESTORE_CHUNK - (size_t)k, &eb);

		if (m < 0) {
			restore_fail(s, 400, "%s", eb.msg);
			return;
		}
		if (m == 0)
			break;
		k += m;
	}
	if (k > 0) {
		cmd.op = RAFT_OP_RESTORE_CHUNK;
		cmd.cas = s->off;
		cmd.value.p = s->chunk;
		cmd.value.n = (size_t)k;
		s->off += (uint64_t)k;
	} else {
		/* all of state.bin is in the log: install it */
		if (s->off != s->state_size) {
			restore_fail(s, 400, "%s",
			    "snapshot archive changed while it was read");
			return;
		}
		snapr_close(s->rd);
		s->rd = NULL;
		cmd.op = RAFT_OP_RESTORE;
		cmd.cas = s->state_size;
		cmd.value.p = s->sha;
		cmd.value.n = sizeof(s->sha);
	}
	api_raftd(s->a, s->req, IPC_RAFT_APPLY, &cmd, API_IPC_TIMEOUT_MS,
	    chunk_done, s);
}

static void
restore(struct api *a, struct http_req *req)
{
	struct snap_meta m;
	struct errbuf eb;
	struct snap_call *s;
	char name[256];
	uint64_t size;
	int r;

	if (req->body.len == 0) {
		http_respond_text(req, 400, "Missing snapshot archive");
		return;
	}
	s = xcalloc(1, sizeof(*s));
	s->a = a;
	s->req = req;
	ev_timer_init(&s->wait_w, wait_cb, 0.01, 0);
	if (uuid4(s->id) < 0)
		snprintf(s->id, sizeof(s->id), "%016llx",
		    (unsigned long long)a->seq);
	if (snapfile_verify(req->body.data, req->body.len, &m, s->sha, &eb) <
	    0) {
		restore_fail(s, 400, "Invalid snapshot: %s", eb.msg);
		return;
	}
	s->state_size = m.size;
	if (snapr_open(&s->rd, req->body.data, req->body.len) < 0) {
		restore_fail(s, 400, "%s", "Invalid snapshot");
		return;
	}
	while ((r = snapr_next(s->rd, name, sizeof(name), &size, &eb)) == 1 &&
	       strcmp(name, "state.bin") != 0)
		;
	if (r != 1) {
		restore_fail(s, 400, "Invalid snapshot: %s",
		    r < 0 ? eb.msg : "no state.bin");
		return;
	}
	log_info("snapshot restore %s: %s (index %llu, %llu bytes of state) "
		 "from %s",
	    s->id, m.id, (unsigned long long)m.index,
	    (unsigned long long)m.size, http_peer_ip(req));
	s->chunk = xmalloc(RESTORE_CHUNK);
	propose_next(s);
}

void
api_snapshot(struct api *a, struct http_req *req)
{
	if (!method_ok(req, "GET,PUT"))
		return;
	if (strcmp(req->method, "GET") == 0)
		save(a, req);
	else
		restore(a, req);
}
