/* node.c - raftd's driver: runs the Raft core (raft/raft.h) on the LMDB
 * store, the TCP transport and a libev tick, and serves IPC_RAFT_APPLY,
 * IPC_KV_READ and IPC_RAFT_STATE to the other daemons of the node.
 *
 * Each loop turn: messages and requests are stepped into the core as they
 * arrive; just before the loop blocks (ev_prepare) the driver drains the
 * core's ready batches: persist (one fsynced LMDB transaction for all that
 * arrived in the turn: group commit), send, apply to the state machine
 * (one transaction with its applied index), answer writes and reads,
 * advance.  A write is answered only once applied at the index and term
 * the core gave it, i.e. stored on a quorum and applied.  If the disk
 * fails (full), the driver stalls the core on that batch, answers writes
 * with an error, and retries every tick: nothing is acknowledged that is
 * not durable, and nothing crashes. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "buf.h"
#include "export.h"
#include "fsm.h"
#include "log.h"
#include "net.h"
#include "node.h"
#include "pquery.h"
#include "raft/raft.h"
#include "rpc.h"
#include "sessions.h"
#include "store.h"
#include "transport.h"
#include "wan.h"
#include "xmalloc.h"

#define WRITE_TIMEOUT_S 30.0
#define FWD_TIMEOUT_S 30.0
#define CLIENT_ATTEMPT_S 1.5 /* per server tried */
#define DC_ATTEMPT_S 3.0     /* per server of another datacenter tried */
/* a client gives its server time to try the other datacenter's servers */
#define DC_CLIENT_WAIT_S (4 * DC_ATTEMPT_S + 1.0)
#define DC_NAME_MAX 64
#define STOP_TRANSFER_S 2.0
#define SNAP_CHUNK (1024 * 1024) /* InstallSnapshot chunk */
#define TICK_CATCHUP_MAX 100	     /* Raft ticks run at once after a gap */
#define SNAP_HDR 32		  /* index, term, offset, total */

struct peer {
	uint64_t id;
	char name[128];
	char addr[RAFT_ADDR_LEN];
	bool left; /* gossip says it left (or was reaped): remove it */
};

enum job_state {
	J_NEW,
	J_WRITE,
	J_READ_INDEX,
	J_READ_APPLY,
	J_FWD,
	J_EXPORT, /* a snapshot archive being made (ctx: its seq) */
	J_QUERY	  /* a prepared query waiting for another datacenter */
};

/* a request being served: from a local daemon (req) or forwarded by
 * another server (peer, fwd_id) */
struct job {
	struct node *n;
	struct ipc_req *req;	/* local; NULL for remote */
	uint64_t peer;	  /* remote: who sent it */
	uint32_t fwd_id;  /* remote: its id there */
	uint8_t hops;	  /* remote: forwards so far */
	uint32_t out_id;  /* J_FWD: our id for the forward */
	uint64_t out_to;  /* J_FWD: the server it went to */
	unsigned attempts; /* J_FWD from a client: servers tried */
	uint16_t type;
	bool remote; /* forwarded by another server */
	void *body;  /* decoded request; owned when own_body, else req's */
	bool own_body;
	/* an IPC_DC_FORWARD unwrapped into its inner request (type, body):
	 * answered wrapped; dc: the other datacenter it goes to, if any */
	bool wrapped;
	char dc[DC_NAME_MAX];
	enum job_state state;
	uint64_t index, term, ctx;
	ev_tstamp deadline;
	/* a request of the driver's own (no requester): its answer goes to
	 * on_done for parent instead */
	struct job *parent;
	void (*on_done)(struct job *parent, int status, void *body,
	    const char *msg);
	/* J_QUERY: the rendered query, the datacenters to fail over to */
	struct ipc_pquery *pq;
	char **targets;
	size_t ntargets, ti;
	struct job *next, *prev;
};

struct snap_stream {
	bool active;
	int fd;
	uint64_t off, total;
	struct raft_msg msg; /* the SNAPSHOT message, sent at the end */
};

/* saver - a helper thread that runs store_save() while the loop applies
 * the committed entries of the same batch, so that the log's flushes and
 * the state's overlap instead of adding up (see process()).  The loop
 * waits for it before it goes on: from saver_start() to saver_wait() the
 * raft environment is the helper's and the loop touches only the state
 * environment (store.h, Threads). */
struct saver {
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool running; /* the thread exists; else saves run on the loop */
	bool job, quit;
	struct store *st;
	const struct store_batch *b;
	int rc;
	struct errbuf eb;
};

struct node {
	struct daemon *d;
	struct ev_loop *loop;
	struct store *st;
	struct raft *raft;
	struct transport *tr;
	struct ipc_pub *pub; /* raftd.events */
	struct sessions *sess; /* TTL clocks, lock-delays */
	struct ipc_client *gossipd; /* the LAN members: servers to know */
	struct ipc_sub *gevents;
	bool reconcile_soon;
	uint64_t id;
	char addr[RAFT_ADDR_LEN];
	struct peer *peers;
	size_t npeers;
	ev_timer tick_w;
	ev_prepare prep_w;
	ev_timer stop_w;
	struct job *jobs;
	uint32_t next_fwd;
	unsigned rr;	/* client: next server to try */
	uint64_t read_seq;
	enum raft_role last_role;
	uint64_t last_leader;
	ev_tstamp last_contact;
	unsigned ticks;
	double tick_next; /* monotonic time the next Raft tick is due */
	bool said_waiting;
	/* a ready batch the disk refused, retried every tick */
	bool stalled; /* the disk refused rd: until a retry succeeds the core is
		       * not stepped (stalled_rd points into it) */
	int stall_stage; /* 0 persist, 1 apply */
	struct raft_ready stalled_rd;
	bool rd_applied; /* the batch being processed was applied */
	struct saver saver;
	char stall_reason[256];
	uint64_t *c_proposed, *c_applied, *c_forwarded, *c_persist_errors,
	    *c_reads, *c_snapshots, *c_snap_installed;
	/* snapshots: the newest local one, and one being received */
	char snap_path[PATH_MAX], in_path[PATH_MAX];
	char meta_path[PATH_MAX];
	struct snap_stream *streams;
	size_t nstreams;
	bool snap_restored; /* state installed, raft side not yet */
	int in_fd;
	uint64_t in_index, in_term, in_total, in_received;
	bool in_complete;
	/* snapshot archives for /v1/snapshot, and a restore's staging file */
	struct exports *exp;
	uint64_t exp_seq;
	/* servers: routes to the other datacenters */
	struct wan *wan;
	/* -bootstrap-expect: before bootstrapping, every known server is
	 * asked whether it is in a cluster already (a wiped server must join
	 * it, not found a new one: Consul's "Existing Raft peers reported by
	 * server, disabling bootstrap mode") */
	bool bs_disabled;
	ev_tstamp bs_rejoin_at; /* we lost our state: removal last asked */
	uint32_t bs_first_id; /* the probe's FORWARD ids: [first, first+n) */
	size_t bs_asked, bs_empty;
	ev_tstamp bs_deadline;
	char restore_path[PATH_MAX];
};

static void pump(struct node *n);
static void catch_up(struct node *n);
static bool bootstrap_probed(struct node *n);
static bool bootstrap_reply(struct node *n, uint64_t from, uint32_t id,
    uint16_t type, int16_t status, const uint8_t *p, size_t len);
static void load_session_clocks(struct node *n);
static void state_reply(struct node *n, struct ipc_req *req, struct job *j);

uint64_t
node_id_of(const char *name)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *name; name++) {
		h ^= (uint8_t)*name;
		h *= 0x100000001b3ull;
	}
	return h ? h : 1;
}

/* ------------------------------------------------------------ replies */

static void
job_free(struct job *j)
{
	struct node *n = j->n;
	struct job *c;

	for (c = n->jobs; c != NULL; c = c->next)
		if (c->parent == j)
			c->parent = NULL; /* its answer has nowhere to go */
	if (j->pq != NULL) {
		cdc_free(&ipc_pquery_desc, j->pq);
		free(j->pq);
	}
	for (size_t i = 0; i < j->ntargets; i++)
		free(j->targets[i]);
	free(j->targets);

	if (j->prev)
		j->prev->next = j->next;
	else if (n->jobs == j)
		n->jobs = j->next;
	if (j->next)
		j->next->prev = j->prev;
	if (j->own_body && j->body != NULL) {
		const struct ipc_type_info *ti = ipc_type_lookup(j->type);

		cdc_free(ti->req, j->body);
		free(j->body);
	}
	free(j);
}

/* FORWARD frame: dir (0 request, 1 reply), id u32, type u16, status i16,
 * hops u8, then the body */
#define FWD_HDR 10
/* client -> server -> (a server of another datacenter ->) leader */
#define FWD_MAX_HOPS 3

/* fwd_send - a FORWARD frame to peer: over this datacenter's transport,
 * or dc's (another datacenter's servers) */
static int
fwd_send(struct node *n, const char *dc, uint64_t peer, uint8_t dir,
    uint32_t id, uint16_t type, int16_t status, uint8_t hops,
    const struct cdc_msg_desc *d, const void *body)
{
	struct buf b = BUF_INIT;
	int r;

	buf_put_u8(&b, dir);
	buf_put_be32(&b, id);
	buf_put_be16(&b, type);
	buf_put_be16(&b, (uint16_t)status);
	buf_put_u8(&b, hops);
	if (d != NULL && body != NULL)
		cdc_encode(&b, d, body);
	if (dc != NULL && *dc != '\0')
		r = n->wan != NULL ? wan_send(n->wan, dc, peer,
					 TRANSPORT_FORWARD, b.data, b.len)
				   : -ENOENT;
	else
		r = transport_send(n->tr, peer, TRANSPORT_FORWARD, b.data,
		    b.len);
	buf_free(&b);
	return r;
}

static void
job_reply(struct job *j, const void *body)
{
	const struct ipc_type_info *ti = ipc_type_lookup(j->type);
	struct ipc_dc_reply w;
	struct buf b = BUF_INIT;

	if (j->on_done != NULL) {
		if (j->parent != NULL)
			j->on_done(j->parent, 0, (void *)body, NULL);
		job_free(j);
		return;
	}
	if (j->wrapped) {
		/* the requester asked through IPC_DC_FORWARD */
		cdc_encode(&b, ti->rep, body);
		w.body.p = b.data;
		w.body.n = b.len;
		if (!j->remote)
			ipc_reply(j->req, &w);
		else
			fwd_send(j->n, NULL, j->peer, 1, j->fwd_id,
			    IPC_DC_FORWARD, 0, 0, &ipc_dc_reply_desc, &w);
		buf_free(&b);
	} else if (!j->remote) {
		ipc_reply(j->req, body);
	} else {
		fwd_send(j->n, NULL, j->peer, 1, j->fwd_id, j->type, 0, 0,
		    ti->rep, body);
	}
	j->req = NULL;
	job_free(j);
}

static void
job_error(struct job *j, int status, const char *msg)
{
	if (j->on_done != NULL) {
		if (j->parent != NULL)
			j->on_done(j->parent, status, NULL, msg);
		job_free(j);
		return;
	}
	if (!j->remote) {
		ipc_reply_error(j->req, status, "%s", msg);
	} else {
		struct ipc_error e;

		e.message = (char *)msg;
		fwd_send(j->n, NULL, j->peer, 1, j->fwd_id,
		    j->wrapped ? IPC_DC_FORWARD : j->type, (int16_t)status, 0,
		    &ipc_error_desc, &e);
	}
	j->req = NULL;
	job_free(j);
}

static struct job *
job_new(struct node *n, struct ipc_req *req, uint16_t type, void *body)
{
	struct job *j = xcalloc(1, sizeof(*j));

	j->n = n;
	j->req = req;
	j->type = type;
	j->body = body;
	j->next = n->jobs;
	if (n->jobs)
		n->jobs->prev = j;
	n->jobs = j;
	return j;
}

/* ---------------------------------------------------------- forwarding */

/* server_for_client - the next known server to try (clients) */
static uint64_t
server_for_client(struct node *n)
{
	if (n->npeers == 0)
		return RAFT_NONE;
	return n->peers[n->rr++ % n->npeers].id;
}

/* forward - send j to `to` (the leader, or for a client a server) and
 * wait for the reply there; fails j when there is nowhere to send it. */
static void
forward(struct job *j, uint64_t to)
{
	struct node *n = j->n;
	const struct ipc_type_info *ti = ipc_type_lookup(j->type);

	if (to == RAFT_NONE || to == n->id ||
	    (j->remote && j->hops + 1 > FWD_MAX_HOPS)) {
		job_error(j, -EAGAIN, "No cluster leader");
		return;
	}
	j->state = J_FWD;
	j->out_id = ++n->next_fwd;
	j->out_to = to;
	j->attempts++;
	/* a client moves on to another server quickly: commands are
	 * idempotent, so a resend cannot apply twice */
	j->deadline = mono_now() +
		      (n->raft != NULL		     ? FWD_TIMEOUT_S
			  : j->type == IPC_DC_FORWARD ? DC_CLIENT_WAIT_S
						      : CLIENT_ATTEMPT_S);
	(*n->c_forwarded)++;
	if (fwd_send(n, NULL, to, 0, j->out_id, j->type, 0,
		(uint8_t)(j->remote ? j->hops + 1 : 1), ti->req, j->body) < 0)
		j->deadline = mono_now(); /* retry or fail at once */
}

/* forward_dc - send j to the next server of j->dc to try: the nearest by
 * RTT first, then the others as attempts time out */
static void
forward_dc(struct job *j)
{
	struct node *n = j->n;
	const struct ipc_type_info *ti = ipc_type_lookup(j->type);
	uint64_t to;

	if (n->wan == NULL || !wan_known(n->wan, j->dc)) {
		job_error(j, -EHOSTUNREACH, "No path to datacenter");
		return;
	}
	to = wan_pick(n->wan, j->dc, j->attempts, NULL);
	if (to == 0) {
		job_error(j, -EHOSTUNREACH,
		    "Remote DC has no server currently reachable");
		return;
	}
	j->state = J_FWD;
	j->out_id = ++n->next_fwd;
	j->out_to = to;
	j->attempts++;
	j->deadline = mono_now() + DC_ATTEMPT_S;
	(*n->c_forwarded)++;
	if (fwd_send(n, j->dc, to, 0, j->out_id, j->type, 0,
		(uint8_t)(j->remote ? j->hops + 1 : 1), ti->req, j->body) < 0)
		j->deadline = mono_now(); /* the next one */
}

/* forward_to_leader - this server does not lead: pass j on */
static void
forward_to_leader(struct job *j)
{
	forward(j, raft_leader(j->n->raft));
}

/* fwd_expired - no reply in time: a client tries its next server (commands
 * are idempotent), others give up */
static void
fwd_expired(struct job *j)
{
	struct node *n = j->n;

	if (j->dc[0] != '\0') {
		forward_dc(j); /* the next server there, if any */
		return;
	}
	if (n->raft == NULL && j->attempts < 2 * n->npeers) {
		forward(j, server_for_client(n));
		return;
	}
	job_error(j, -ETIMEDOUT, "no answer from the servers");
}

static void
fwd_reply(struct node *n, uint64_t from, uint32_t id, uint16_t type,
    int16_t status, const uint8_t *p, size_t len)
{
	const struct ipc_type_info *ti = ipc_type_lookup(type);
	struct errbuf eb;
	struct job *j;

	if (n->raft != NULL &&
	    bootstrap_reply(n, from, id, type, status, p, len))
		return;
	for (j = n->jobs; j != NULL; j = j->next)
		if (j->state == J_FWD && j->out_id == id && j->out_to == from)
			break;
	if (j == NULL || ti == NULL || j->type != type)
		return; /* late: already answered or expired */
	if (j->dc[0] != '\0' && (status == -ETIMEDOUT || status == -ESHUTDOWN)) {
		forward_dc(j); /* that server could not: the next one */
		return;
	}
	if (status == -EAGAIN && n->raft == NULL &&
	    j->attempts < 2 * n->npeers) {
		/* that server knows no leader (yet): try another */
		forward(j, server_for_client(n));
		return;
	}
	if (status == 0) {
		void *body = xcalloc(1, ti->rep->size);

		if (cdc_decode(ti->rep, p, len, body, &eb) == 0)
			job_reply(j, body);
		else
			job_error(j, -EBADMSG, "bad reply from a server");
		cdc_free(ti->rep, body);
		free(body);
	} else {
		struct ipc_error e = {NULL};

		cdc_decode(&ipc_error_desc, p, len, &e, NULL);
		job_error(j, status, e.message ? e.message : strerror(-status));
		cdc_free(&ipc_error_desc, &e);
	}
}

/* ------------------------------------------------------------ serving */

static uint64_t
last_contact_ms(struct node *n)
{
	if (raft_role(n->raft) == RAFT_LEADER || n->last_contact <= 0)
		return 0;
	return (uint64_t)((mono_now() - n->last_contact) * 1000);
}

static void
serve_read(struct job *j)
{
	struct node *n = j->n;
	const struct ipc_type_info *ti = ipc_type_lookup(j->type);
	void *rep = xcalloc(1, ti->rep->size);
	struct errbuf eb;
	int r;

	if (j->type == IPC_QUERY_READ) {
		struct ipc_query_read *rq = j->body;
		struct ipc_query_list *ql = rep;

		r = fsm_query_read(n->st, rq->id, ql, &eb);
		ql->known_leader = raft_leader(n->raft) != RAFT_NONE;
		ql->last_contact_ms = last_contact_ms(n);
	} else if (j->type == IPC_SESSION_READ) {
		struct ipc_session_read *rq = j->body;
		struct ipc_session_read_reply *sr = rep;

		r = fsm_session_read(n->st, rq->id, rq->node, sr, &eb);
		sr->known_leader = raft_leader(n->raft) != RAFT_NONE;
		sr->last_contact_ms = last_contact_ms(n);
	} else if (j->type == IPC_TXN_READ) {
		struct ipc_txn_read *rq = j->body;
		struct ipc_raft_result *tr = rep;

		r = fsm_txn_read(n->st, &rq->ops, tr, &eb);
		tr->known_leader = raft_leader(n->raft) != RAFT_NONE;
		tr->last_contact_ms = last_contact_ms(n);
	} else if (j->type == IPC_CATALOG_READ) {
		struct ipc_catalog_read *rq = j->body;
		struct ipc_catalog_reply *cr = rep;

		r = fsm_catalog_read(n->st, rq->what, rq->node, rq->service, cr,
		    &eb);
		cr->known_leader = raft_leader(n->raft) != RAFT_NONE;
		cr->last_contact_ms = last_contact_ms(n);
	} else {
		struct ipc_kv_read *rq = j->body;
		struct ipc_kv_read_reply *kr = rep;

		r = fsm_kv_read(n->st, rq->key ? rq->key : "", rq->recurse,
		    rq->max_rows, kr, &eb);
		kr->known_leader = raft_leader(n->raft) != RAFT_NONE;
		kr->last_contact_ms = last_contact_ms(n);
	}
	if (r < 0)
		job_error(j, r, eb.msg);
	else {
		(*n->c_reads)++;
		job_reply(j, rep);
	}
	cdc_free(ti->rep, rep);
	free(rep);
}

static uint32_t
read_mode(const struct job *j)
{
	if (j->type == IPC_SESSION_READ)
		return ((const struct ipc_session_read *)j->body)->mode;
	if (j->type == IPC_CATALOG_READ)
		return ((const struct ipc_catalog_read *)j->body)->mode;
	if (j->type == IPC_TXN_READ)
		return ((const struct ipc_txn_read *)j->body)->mode;
	if (j->type == IPC_QUERY_READ)
		return ((const struct ipc_query_read *)j->body)->mode;
	return ((const struct ipc_kv_read *)j->body)->mode;
}

static void
do_read(struct job *j)
{
	struct node *n = j->n;
	uint32_t mode = read_mode(j);
	int r;

	if (mode == RAFT_READ_STALE) {
		serve_read(j);
		return;
	}
#ifdef CAIRN_FAILPOINTS
	/* a deliberate bug, compiled only into the failpoint build (make
	 * FP=1) and armed by the environment: default reads answered from
	 * a follower's own state, as a broken store would.  The fault suite
	 * must see the checker report it. */
	if (mode == RAFT_READ_DEFAULT && getenv("CAIRN_FP_FOLLOWER_READS") &&
	    raft_role(n->raft) != RAFT_LEADER) {
		serve_read(j);
		return;
	}
#endif
	/* the lease is judged on the ticks real time has run: after a
	 * SIGSTOP or a starved loop this read may be handled before the
	 * timer that would catch up (and before the newer leader's
	 * messages waiting in the socket) */
	catch_up(n);
	if (raft_role(n->raft) != RAFT_LEADER) {
		forward_to_leader(j);
		return;
	}
	if (n->stalled) {
		/* its lease cannot be trusted: a stalled core does not tick
		 * (nor hear of a newer leader) */
		job_error(j, -ENOSPC, n->stall_reason);
		return;
	}
	if (mode == RAFT_READ_DEFAULT && raft_lease_valid(n->raft) &&
	    raft_applied_index(n->raft) >= raft_commit_index(n->raft)) {
		serve_read(j);
		return;
	}
	j->ctx = ++n->read_seq;
	r = raft_read_index(n->raft, j->ctx);
	if (r < 0) {
		job_error(j, -EAGAIN, "No cluster leader");
		return;
	}
	j->state = J_READ_INDEX;
	j->deadline = mono_now() + WRITE_TIMEOUT_S;
}

/* do_renew - a session's TTL clock restarts on the leader (not a write:
 * Consul does the same); the reply is the session */
static void
do_renew(struct job *j)
{
	struct node *n = j->n;
	struct ipc_session_read *rq = j->body;
	struct ipc_session_read_reply rep;
	struct errbuf eb;
	char msg[128];
	int r;

	if (raft_role(n->raft) != RAFT_LEADER) {
		forward_to_leader(j);
		return;
	}
	memset(&rep, 0, sizeof(rep));
	r = fsm_session_read(n->st, rq->id ? rq->id : "", NULL, &rep, &eb);
	if (r < 0) {
		job_error(j, r, eb.msg);
	} else if (rep.sessions.n == 0) {
		snprintf(msg, sizeof(msg), "Session id '%.40s' not found",
		    rq->id ? rq->id : "");
		job_error(j, -ENOENT, msg);
	} else {
		const struct ipc_session *se = rep.sessions.v;

		sessions_track(n->sess, se->id, se->ttl_ms, mono_now());
		rep.known_leader = true;
		job_reply(j, &rep);
	}
	cdc_free(&ipc_session_read_reply_desc, &rep);
}

static void
do_apply(struct job *j)
{
	struct node *n = j->n;
	struct buf b = BUF_INIT;
	uint64_t index, term;
	int r;

	if (n->stalled) {
		job_error(j, -ENOSPC, n->stall_reason);
		return;
	}
	if (((struct ipc_raft_cmd *)j->body)->op == RAFT_OP_KV_LOCK &&
	    raft_role(n->raft) == RAFT_LEADER &&
	    lockdelay_active(n->sess, ((struct ipc_raft_cmd *)j->body)->key
					  ? ((struct ipc_raft_cmd *)j->body)->key
					  : "",
		mono_now())) {
		struct ipc_raft_result res;

		/* Consul's leader refuses an acquire under lock-delay before
		 * it reaches the log */
		memset(&res, 0, sizeof(res));
		res.index = raft_applied_index(n->raft);
		res.err = RAFT_ERR_LOCK_DELAY;
		job_reply(j, &res);
		return;
	}
	fsm_encode_cmd(j->body, &b);
	r = raft_propose(n->raft, b.data, b.len, &index, &term);
	buf_free(&b);
	if (r == -RAFT_ENOTLEADER) {
		forward_to_leader(j);
		return;
	}
	if (r == -EBUSY) {
		job_error(j, -EAGAIN, "leadership transfer in progress");
		return;
	}
	if (r < 0) {
		job_error(j, r, strerror(-r));
		return;
	}
	(*n->c_proposed)++;
	j->state = J_WRITE;
	j->index = index;
	j->term = term;
	j->deadline = mono_now() + WRITE_TIMEOUT_S;
}

static void
do_remove_peer(struct job *j)
{
	struct node *n = j->n;
	struct ipc_raft_remove *rq = j->body;
	const struct raft_config *c = raft_get_config(n->raft);
	uint64_t id = rq->id;
	size_t i;
	int r;

	if (raft_role(n->raft) != RAFT_LEADER) {
		forward_to_leader(j);
		return;
	}
	for (i = 0; id == 0 && rq->address && i < c->n; i++)
		if (strcmp(c->servers[i].addr, rq->address) == 0)
			id = c->servers[i].id;
	if (id == 0 || raft_config_get(c, id) == NULL) {
		job_error(j, -ENOENT, "no such Raft peer");
		return;
	}
	r = n->stalled ? -ENOSPC : raft_remove_server(n->raft, id);
	if (r < 0) {
		job_error(j, r == -EBUSY ? -EAGAIN : r,
		    r == -EBUSY ? "another configuration change is in progress"
				: strerror(-r));
		return;
	}
	log_info("raft: removing server %016llx", (unsigned long long)id);
	j->state = J_WRITE;
	j->index = raft_last_index(n->raft);
	j->term = raft_term(n->raft);
	j->deadline = mono_now() + WRITE_TIMEOUT_S;
}

/* do_snapshot_save - a snapshot archive of the state: on the leader, or
 * here with ?stale; answered when the worker has written it */
static void
do_snapshot_save(struct job *j)
{
	struct node *n = j->n;
	struct ipc_snapshot_req *rq = j->body;
	struct errbuf eb;
	int r;

	if (rq->mode != RAFT_READ_STALE && raft_role(n->raft) != RAFT_LEADER) {
		forward_to_leader(j);
		return;
	}
	if (n->exp == NULL) {
		job_error(j, -EIO, "snapshots are not available here");
		return;
	}
	j->ctx = ++n->exp_seq;
	if ((r = exports_start(n->exp, raft_term(n->raft), j->ctx, &eb)) < 0) {
		job_error(j, r, eb.msg);
		return;
	}
	j->state = J_EXPORT;
	j->deadline = mono_now() + EXPORT_TTL_S;
}

static void
export_done(void *arg, uint64_t seq, int status, const char *name,
    uint64_t index, uint64_t term, uint64_t size, const char *errmsg)
{
	struct node *n = arg;
	struct ipc_snapshot_reply rep;
	struct job *j;

	for (j = n->jobs; j != NULL; j = j->next)
		if (j->state == J_EXPORT && j->ctx == seq)
			break;
	if (j == NULL)
		return; /* its requester gave up; the archive expires */
	if (status < 0) {
		job_error(j, status, errmsg);
		return;
	}
	memset(&rep, 0, sizeof(rep));
	rep.name = (char *)name;
	rep.server = n->id;
	rep.index = index;
	rep.term = term;
	rep.size = size;
	rep.known_leader = raft_leader(n->raft) != RAFT_NONE;
	rep.last_contact_ms = last_contact_ms(n);
	job_reply(j, &rep);
}

/* do_snapshot_read - a chunk of an archive held here, or by the server
 * the request names */
static void
do_snapshot_read(struct job *j)
{
	struct node *n = j->n;
	struct ipc_snapshot_req *rq = j->body;
	struct ipc_snapshot_reply rep;
	struct errbuf eb;
	int r;

	if (rq->server != n->id) {
		if (rq->server == 0) {
			job_error(j, -EINVAL, "snapshot read: no server");
			return;
		}
		forward(j, rq->server);
		return;
	}
	memset(&rep, 0, sizeof(rep));
	if (n->exp == NULL) {
		job_error(j, -ENOENT, "no snapshots here");
		return;
	}
	r = exports_read(n->exp, rq->name, rq->offset, &rep.data, &rep.size,
	    &eb);
	if (r < 0) {
		job_error(j, r, eb.msg);
		return;
	}
	rep.name = rq->name;
	rep.server = n->id;
	job_reply(j, &rep);
	free(rep.data.p);
}

static void dispatch(struct job *j);

/* query_reply - j's prepared query answered with cat (may be NULL: no
 * instance anywhere) found in dc */
static void
query_reply(struct job *j, struct ipc_catalog_reply *cat, const char *dc,
    uint64_t index)
{
	struct node *n = j->n;
	struct ipc_query_result res;

	memset(&res, 0, sizeof(res));
	res.query = *j->pq;
	if (cat != NULL)
		res.catalog = *cat;
	res.datacenter = (char *)dc;
	res.failovers = (uint32_t)j->ti;
	res.index = index ? index : 1;
	res.known_leader = raft_leader(n->raft) != RAFT_NONE;
	res.last_contact_ms = last_contact_ms(n);
	job_reply(j, &res);
}

static void query_next_dc(struct job *j);

/* query_dc_done - a failover datacenter's instances of the service */
static void
query_dc_done(struct job *j, int status, void *body, const char *msg)
{
	struct ipc_catalog_reply *cat = body;
	const char *dc = j->targets[j->ti - 1];

	if (status < 0) {
		log_debug("query %s: datacenter %s: %s",
		    j->pq->id ? j->pq->id : "", dc, msg ? msg : "error");
	} else {
		pq_filter(j->pq, cat);
		if (cat->services.n > 0) {
			query_reply(j, cat, dc, cat->index);
			return;
		}
	}
	query_next_dc(j);
}

/* query_next_dc - ask the next failover datacenter, or answer: none */
static void
query_next_dc(struct job *j)
{
	struct node *n = j->n;
	struct ipc_catalog_read *cq;
	struct job *c;

	if (j->ti >= j->ntargets) {
		query_reply(j, NULL, n->d->conf.datacenter, 0);
		return;
	}
	cq = xcalloc(1, sizeof(*cq));
	cq->what = xstrdup("service");
	cq->service = xstrdup(j->pq->service);
	c = job_new(n, NULL, IPC_CATALOG_READ, cq);
	c->own_body = true;
	c->parent = j;
	c->on_done = query_dc_done;
	snprintf(c->dc, sizeof(c->dc), "%s", j->targets[j->ti++]);
	forward_dc(c);
}

static void
add_target(struct job *j, const char *dc, const char *local)
{
	size_t i;

	/* Consul asks only the datacenters it knows of */
	if (strcmp(dc, local) == 0 || strlen(dc) >= DC_NAME_MAX ||
	    j->n->wan == NULL || !wan_known(j->n->wan, dc))
		return;
	for (i = 0; i < j->ntargets; i++)
		if (strcmp(j->targets[i], dc) == 0)
			return;
	j->targets = xreallocarray(j->targets, j->ntargets + 1, sizeof(char *));
	j->targets[j->ntargets++] = xstrdup(dc);
}

/* do_query_exec - a prepared query: its instances here, else in the
 * nearest NearestN datacenters, then the listed ones, in that order */
static void
do_query_exec(struct job *j)
{
	struct node *n = j->n;
	struct ipc_query_exec *rq = j->body;
	const char *local = n->d->conf.datacenter;
	struct ipc_catalog_reply cat;
	struct errbuf eb;
	uint64_t index = 0;
	size_t i;
	int r;

	if (rq->mode != RAFT_READ_STALE && raft_role(n->raft) != RAFT_LEADER) {
		forward_to_leader(j);
		return;
	}
	j->pq = xcalloc(1, sizeof(*j->pq));
	if ((r = fsm_query_find(n->st, rq->name, j->pq, &index, &eb)) < 0) {
		job_error(j, r, eb.msg);
		return;
	}
	if (rq->explain) {
		query_reply(j, NULL, local, index);
		return;
	}
	memset(&cat, 0, sizeof(cat));
	if ((r = fsm_catalog_read(n->st, "service", NULL, j->pq->service,
		 &cat, &eb)) < 0) {
		job_error(j, r, eb.msg);
		return;
	}
	pq_filter(j->pq, &cat);
	if (cat.services.n == 0) {
		char **near = n->wan != NULL ? wan_datacenters(n->wan) : NULL;
		uint32_t k = 0;

		for (i = 0; near != NULL && near[i] != NULL &&
			    k < j->pq->nearest_n; i++)
			if (strcmp(near[i], local) != 0) {
				add_target(j, near[i], local);
				k++;
			}
		wan_names_free(near);
		for (i = 0; i < j->pq->failover_dcs.n; i++)
			add_target(j, j->pq->failover_dcs.v[i], local);
	}
	if (cat.services.n > 0 || j->ntargets == 0) {
		query_reply(j, &cat, local, cat.index);
		cdc_free(&ipc_catalog_reply_desc, &cat);
		return;
	}
	cdc_free(&ipc_catalog_reply_desc, &cat);
	j->state = J_QUERY;
	j->deadline = mono_now() + (double)(j->ntargets + 1) *
					    (4 * DC_ATTEMPT_S + 1);
	query_next_dc(j);
}

/* dc_forwardable - request types served in another datacenter */
static bool
dc_forwardable(uint32_t type)
{
	switch (type) {
	case IPC_RAFT_APPLY:
	case IPC_KV_READ:
	case IPC_SESSION_READ:
	case IPC_SESSION_RENEW:
	case IPC_CATALOG_READ:
	case IPC_TXN_READ:
	case IPC_RAFT_CLUSTER_STATE:
	case IPC_RAFT_REMOVE_PEER:
	case IPC_SNAPSHOT_SAVE:
	case IPC_SNAPSHOT_READ:
	case IPC_QUERY_READ:
	case IPC_QUERY_EXECUTE:
		return true;
	default:
		return false;
	}
}

/* do_dc_forward - unwrap an IPC_DC_FORWARD: serve its request here (our
 * datacenter) or send it to a server of the one it names */
static void
do_dc_forward(struct job *j)
{
	struct node *n = j->n;
	struct ipc_dc_req *rq = j->body;
	const struct ipc_type_info *ti;
	char dc[DC_NAME_MAX];
	struct errbuf eb;
	uint16_t type;
	void *inner;

	if (rq->dc == NULL || *rq->dc == '\0' ||
	    strlen(rq->dc) >= sizeof(dc) || !dc_forwardable(rq->type) ||
	    (ti = ipc_type_lookup((uint16_t)rq->type)) == NULL) {
		job_error(j, -EINVAL, "bad datacenter request");
		return;
	}
	inner = xcalloc(1, ti->req->size);
	if (cdc_decode(ti->req, rq->body.p, rq->body.n, inner, &eb) < 0) {
		free(inner);
		job_error(j, -EBADMSG, eb.msg);
		return;
	}
	snprintf(dc, sizeof(dc), "%s", rq->dc);
	type = (uint16_t)rq->type;
	if (j->own_body) {
		cdc_free(&ipc_dc_req_desc, j->body);
		free(j->body);
	}
	j->body = inner;
	j->own_body = true;
	j->type = type;
	j->wrapped = true;
	if (strcmp(dc, n->d->conf.datacenter) == 0) {
		dispatch(j);
		return;
	}
	snprintf(j->dc, sizeof(j->dc), "%s", dc);
	j->attempts = 0;
	forward_dc(j);
}

static void
do_dc_list(struct job *j)
{
	struct ipc_dc_list rep;
	char **names = NULL;
	size_t k = 0;

	memset(&rep, 0, sizeof(rep));
	if (j->n->wan != NULL)
		names = wan_datacenters(j->n->wan);
	while (names != NULL && names[k] != NULL)
		k++;
	if (names == NULL) {
		static char *local[1];

		local[0] = j->n->d->conf.datacenter;
		rep.names.v = local;
		rep.names.n = 1;
		job_reply(j, &rep);
		return;
	}
	rep.names.v = names;
	rep.names.n = k;
	job_reply(j, &rep);
	wan_names_free(names);
}

static void
dispatch(struct job *j)
{
	switch (j->type) {
	case IPC_RAFT_APPLY:
		do_apply(j);
		break;
	case IPC_KV_READ:
	case IPC_SESSION_READ:
	case IPC_CATALOG_READ:
	case IPC_TXN_READ:
	case IPC_QUERY_READ:
		do_read(j);
		break;
	case IPC_QUERY_EXECUTE:
		do_query_exec(j);
		break;
	case IPC_SESSION_RENEW:
		do_renew(j);
		break;
	case IPC_RAFT_CLUSTER_STATE:
		state_reply(j->n, NULL, j);
		break;
	case IPC_RAFT_REMOVE_PEER:
		do_remove_peer(j);
		break;
	case IPC_SNAPSHOT_SAVE:
		do_snapshot_save(j);
		break;
	case IPC_SNAPSHOT_READ:
		do_snapshot_read(j);
		break;
	case IPC_DC_FORWARD:
		do_dc_forward(j);
		break;
	case IPC_DC_LIST:
		do_dc_list(j);
		break;
	default:
		job_error(j, -ENOTSUP, "not served by raftd");
	}
}

static void
ipc_apply_handler(struct ipc_req *req, void *arg)
{
	struct node *n = arg;
	struct job *j = job_new(n, req, req->hdr.type, req->body);

	if (n->raft == NULL && j->type == IPC_SNAPSHOT_READ)
		/* client mode: straight to the server holding the archive */
		forward(j, ((struct ipc_snapshot_req *)j->body)->server);
	else if (n->raft == NULL)
		forward(j, server_for_client(n)); /* client mode */
	else
		dispatch(j);
}

/* peer_name - the node name of a Raft id, if known ("" if not) */
static char *
peer_name(struct node *n, uint64_t id)
{
	size_t i;

	if (id == n->id)
		return n->d->conf.node_name;
	for (i = 0; i < n->npeers; i++)
		if (n->peers[i].id == id)
			return n->peers[i].name;
	return (char *)"";
}

/* state_reply - this node's Raft state to req (local) or j */
static void
state_reply(struct node *n, struct ipc_req *req, struct job *j)
{
	const struct raft_config *c;
	struct ipc_raft_state st;
	struct ipc_raft_peer *p;
	size_t i;

	memset(&st, 0, sizeof(st));
	st.id = n->id;
	if (n->raft == NULL) {
		st.role = (char *)"client";
		st.leader_addr = (char *)"";
		st.peers.v = xcalloc(n->npeers ? n->npeers : 1, sizeof(*p));
		for (i = 0; i < n->npeers; i++) {
			p = (struct ipc_raft_peer *)st.peers.v + i;
			p->id = n->peers[i].id;
			p->address = n->peers[i].addr;
			p->name = n->peers[i].name;
			p->voter = true;
		}
		st.peers.n = n->npeers;
	} else {
		c = raft_get_config(n->raft);
		st.role = (char *)raft_role_name(raft_role(n->raft));
		st.term = raft_term(n->raft);
		st.commit_index = raft_commit_index(n->raft);
		st.applied_index = raft_applied_index(n->raft);
		st.last_index = raft_last_index(n->raft);
		st.leader_id = raft_leader(n->raft);
		st.leader_addr = (char *)"";
		if (raft_role(n->raft) != RAFT_LEADER && n->last_contact > 0)
			st.last_contact_ms = (uint64_t)((mono_now() -
							    n->last_contact) *
							1000);
		st.peers.v = xcalloc(c->n ? c->n : 1, sizeof(*p));
		for (i = 0; i < c->n; i++) {
			p = (struct ipc_raft_peer *)st.peers.v + i;
			p->id = c->servers[i].id;
			p->address = c->servers[i].addr;
			p->name = peer_name(n, p->id);
			p->voter = c->servers[i].suffrage == RAFT_VOTER;
			p->leader = c->servers[i].id == st.leader_id;
			if (p->leader)
				st.leader_addr = c->servers[i].addr;
		}
		st.peers.n = c->n;
	}
	if (j != NULL)
		job_reply(j, &st);
	else
		ipc_reply(req, &st);
	free(st.peers.v);
}

static void
ipc_state_handler(struct ipc_req *req, void *arg)
{
	struct node *n = arg;

	if (req->hdr.type == IPC_RAFT_CLUSTER_STATE && n->raft == NULL) {
		/* a client: what its servers know */
		forward(job_new(n, req, req->hdr.type, req->body),
		    server_for_client(n));
		return;
	}
	state_reply(n, req, NULL);
}

/* ------------------------------------------------------------ network */

/* snapshot_meta - the store's form of a snapshot's meta; the encoded
 * configuration lives in cb (the caller frees it after the save) */
static void
snapshot_meta(struct store_snapshot *ss, struct buf *cb, uint64_t index,
    uint64_t term, const struct raft_config *config)
{
	buf_reset(cb);
	raft_config_encode(config, cb);
	memset(ss, 0, sizeof(*ss));
	ss->index = index;
	ss->term = term;
	ss->config = cb->data;
	ss->config_len = cb->len;
}

/* incoming.meta: index u64, term u64, then the configuration bytes */
static int
write_sidecar(struct node *n, const struct store_snapshot *ss,
    struct errbuf *eb)
{
	uint8_t hdr[16];
	int fd, ok;

	be64_set(hdr, ss->index);
	be64_set(hdr + 8, ss->term);
	fd = open(n->meta_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600);
	if (fd < 0)
		return errbuf_set(eb, -errno, "%s: %s", n->meta_path,
		    strerror(errno));
	ok = write(fd, hdr, sizeof(hdr)) == (ssize_t)sizeof(hdr) &&
	     (ss->config_len == 0 ||
		 write(fd, ss->config, ss->config_len) ==
		     (ssize_t)ss->config_len) &&
	     fsync(fd) == 0;
	close(fd);
	if (!ok)
		return errbuf_set(eb, -EIO, "%s: cannot write", n->meta_path);
	return 0;
}

/* finish_install - after a crash between installing a received snapshot's
 * state and recording it on the raft side, record it now. */
static int
finish_install(struct node *n, struct errbuf *eb)
{
	uint8_t buf[65536];
	struct store_snapshot ss;
	struct store_batch b;
	uint64_t applied, snap_index;
	ssize_t k;
	int fd, r;

	fd = open(n->meta_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	k = read(fd, buf, sizeof(buf));
	close(fd);
	if ((r = store_state_applied(n->st, &applied)) < 0 ||
	    (r = store_log_bounds(n->st, NULL, NULL, &snap_index)) < 0)
		return errbuf_set(eb, r, "%s: %s", n->meta_path, strerror(-r));
	if (k >= 16 && be64_get(buf) == applied && snap_index < applied) {
		memset(&ss, 0, sizeof(ss));
		ss.index = be64_get(buf);
		ss.term = be64_get(buf + 8);
		ss.config = buf + 16;
		ss.config_len = (size_t)k - 16;
		memset(&b, 0, sizeof(b));
		b.snapshot = &ss;
		b.truncate_from = 1;
		if ((r = store_save(n->st, &b, eb)) < 0)
			return r;
		log_info("raft: finished installing snapshot %llu",
		    (unsigned long long)ss.index);
	}
	unlink(n->meta_path);
	return 0;
}

static void
incoming_reset(struct node *n)
{
	if (n->in_fd >= 0)
		close(n->in_fd);
	n->in_fd = -1;
	n->in_complete = false;
	n->in_received = n->in_total = 0;
}

/* receive_chunk - assemble a snapshot streamed by the leader into
 * <data>/raft/incoming.mdb; out-of-order or foreign chunks restart it. */
static void
receive_chunk(struct node *n, const uint8_t *p, size_t len)
{
	uint64_t index = be64_get(p), term = be64_get(p + 8);
	uint64_t off = be64_get(p + 16), total = be64_get(p + 24);
	size_t dlen = len - SNAP_HDR;

	if (off == 0) {
		incoming_reset(n);
		n->in_fd = open(n->in_path,
		    O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (n->in_fd < 0) {
			log_warn("raft: %s", n->in_path);
			return;
		}
		n->in_index = index;
		n->in_term = term;
		n->in_total = total;
	}
	if (n->in_fd < 0 || index != n->in_index || term != n->in_term ||
	    off != n->in_received || total != n->in_total ||
	    off + dlen > total) {
		incoming_reset(n);
		return;
	}
	if (pwrite(n->in_fd, p + SNAP_HDR, dlen, (off_t)off) !=
	    (ssize_t)dlen) {
		log_warn("raft: writing %s", n->in_path);
		incoming_reset(n);
		return;
	}
	n->in_received += dlen;
	if (n->in_received == n->in_total) {
		if (fsync(n->in_fd) < 0) {
			log_warn("raft: fsync %s", n->in_path);
			incoming_reset(n);
			return;
		}
		close(n->in_fd);
		n->in_fd = -1;
		n->in_complete = true;
	}
}

static void
transport_recv(struct transport *t, uint64_t from, uint8_t kind,
    const uint8_t *p, size_t len, void *arg)
{
	struct node *n = arg;
	struct errbuf eb;

	(void)t;
	if (kind == TRANSPORT_RAFT) {
		struct raft_msg m;

		if (n->stalled)
			return; /* cannot step; Raft retransmits */
		memset(&m, 0, sizeof(m));
		if (rpc_decode_msg(p, len, &m, &eb) < 0) {
			log_warnx("raft: bad message from %016llx: %s",
			    (unsigned long long)from, eb.msg);
			return;
		}
		if (m.from != from) {
			raft_msg_free(&m);
			return;
		}
		if (m.type == RAFT_MSG_SNAPSHOT &&
		    m.snap_index > raft_commit_index(n->raft) &&
		    (!n->in_complete || n->in_index != m.snap_index ||
			n->in_term != m.snap_term)) {
			/* its data did not arrive whole: the leader resends */
			raft_msg_free(&m);
			return;
		}
		if ((m.type == RAFT_MSG_APPEND ||
			m.type == RAFT_MSG_HEARTBEAT ||
			m.type == RAFT_MSG_SNAPSHOT) &&
		    m.term >= raft_term(n->raft))
			n->last_contact = mono_now();
		if (n->stalled) {
			/* the core must not move while its stalled Ready is
			 * held (the Ready points into it): the message is
			 * dropped, as a lossy network would; the sender
			 * tries again */
			raft_msg_free(&m);
			return;
		}
		raft_step(n->raft, &m);
		raft_msg_free(&m);
	} else if (kind == TRANSPORT_SNAPSHOT && len >= SNAP_HDR) {
		receive_chunk(n, p, len);
	} else if (kind == TRANSPORT_FORWARD && len >= FWD_HDR) {
		uint8_t dir = p[0], hops = p[9];
		uint32_t id = be32_get(p + 1);
		uint16_t type = be16_get(p + 5);
		int16_t status = (int16_t)be16_get(p + 7);
		const struct ipc_type_info *ti = ipc_type_lookup(type);

		if (dir == 1) {
			fwd_reply(n, from, id, type, status, p + FWD_HDR,
			    len - FWD_HDR);
		} else if (ti != NULL && (type == IPC_RAFT_APPLY ||
					     type == IPC_KV_READ ||
					     type == IPC_SESSION_READ ||
					     type == IPC_CATALOG_READ ||
					     type == IPC_TXN_READ ||
					     type == IPC_SESSION_RENEW ||
					     type == IPC_RAFT_CLUSTER_STATE ||
					     type == IPC_RAFT_REMOVE_PEER ||
					     type == IPC_SNAPSHOT_SAVE ||
					     type == IPC_SNAPSHOT_READ ||
					     type == IPC_DC_FORWARD ||
					     type == IPC_DC_LIST ||
					     type == IPC_QUERY_READ ||
					     type == IPC_QUERY_EXECUTE)) {
			void *body = xcalloc(1, ti->req->size);
			struct job *j;

			if (n->raft == NULL ||
			    cdc_decode(ti->req, p + FWD_HDR, len - FWD_HDR,
				body, &eb) < 0) {
				free(body);
				return;
			}
			j = job_new(n, NULL, type, body);
			j->remote = true;
			j->own_body = true;
			j->peer = from;
			j->fwd_id = id;
			j->hops = hops;
			dispatch(j);
		}
	}
}

/* Snapshot streams (thesis 5.1 InstallSnapshot): the newest snapshot file
 * goes to a follower in 1 MiB chunks, as fast as its transport queue takes
 * them (the rest on later ticks), read from a descriptor opened at the
 * start so a newer local snapshot cannot change it midway; the SNAPSHOT
 * message follows the last chunk on the same connection. */
static void
stream_end(struct snap_stream *ss)
{
	if (ss->fd >= 0)
		close(ss->fd);
	ss->fd = -1;
	raft_msg_free(&ss->msg);
	ss->active = false;
}

static void
stream_pump(struct node *n, struct snap_stream *ss)
{
	struct buf b = BUF_INIT;
	uint8_t *chunk;
	ssize_t k;
	int r = 0;

	chunk = xmalloc(SNAP_HDR + SNAP_CHUNK);
	while (ss->off < ss->total) {
		k = pread(ss->fd, chunk + SNAP_HDR, SNAP_CHUNK, (off_t)ss->off);
		if (k <= 0) {
			log_warnx("raft: reading snapshot for %016llx failed",
			    (unsigned long long)ss->msg.to);
			free(chunk);
			stream_end(ss);
			return;
		}
		be64_set(chunk, ss->msg.snap_index);
		be64_set(chunk + 8, ss->msg.snap_term);
		be64_set(chunk + 16, ss->off);
		be64_set(chunk + 24, ss->total);
		r = transport_send(n->tr, ss->msg.to, TRANSPORT_SNAPSHOT, chunk,
		    SNAP_HDR + (size_t)k);
		if (r == -ENOBUFS) {
			free(chunk);
			return; /* the queue is full: more on the next tick */
		}
		if (r < 0) {
			free(chunk);
			stream_end(ss);
			return;
		}
		ss->off += (uint64_t)k;
	}
	free(chunk);
	rpc_encode_msg(&b, &ss->msg);
	if (transport_send(n->tr, ss->msg.to, TRANSPORT_RAFT, b.data, b.len) ==
	    -ENOBUFS) {
		buf_free(&b);
		return; /* only the message left: retry it next tick */
	}
	buf_free(&b);
	log_info("raft: sent snapshot at index %llu (%llu bytes) to server "
		 "%016llx",
	    (unsigned long long)ss->msg.snap_index,
	    (unsigned long long)ss->total, (unsigned long long)ss->msg.to);
	stream_end(ss);
}

static void
stream_start(struct node *n, const struct raft_msg *m)
{
	struct snap_stream *ss = NULL;
	struct stat st;
	size_t i;

	for (i = 0; i < n->nstreams; i++)
		if (n->streams[i].active && n->streams[i].msg.to == m->to)
			ss = &n->streams[i];
	if (ss != NULL && ss->msg.snap_index == m->snap_index &&
	    ss->msg.snap_term == m->snap_term)
		return; /* already streaming this one */
	if (ss != NULL)
		stream_end(ss);
	for (i = 0; ss == NULL && i < n->nstreams; i++)
		if (!n->streams[i].active)
			ss = &n->streams[i];
	if (ss == NULL) {
		n->streams = xreallocarray(n->streams, n->nstreams + 1,
		    sizeof(*n->streams));
		ss = &n->streams[n->nstreams++];
	}
	memset(ss, 0, sizeof(*ss));
	ss->fd = open(n->snap_path, O_RDONLY | O_CLOEXEC);
	if (ss->fd < 0 || fstat(ss->fd, &st) < 0 ||
	    raft_msg_copy(&ss->msg, m) < 0) {
		log_warn("raft: snapshot %s", n->snap_path);
		if (ss->fd >= 0)
			close(ss->fd);
		ss->fd = -1;
		return;
	}
	ss->total = (uint64_t)st.st_size;
	ss->active = true;
	log_info("raft: sending snapshot at index %llu (%llu bytes) to "
		 "server %016llx",
	    (unsigned long long)m->snap_index, (unsigned long long)ss->total,
	    (unsigned long long)m->to);
	stream_pump(n, ss);
}

static void
streams_pump(struct node *n)
{
	size_t i;

	for (i = 0; i < n->nstreams; i++)
		if (n->streams[i].active)
			stream_pump(n, &n->streams[i]);
}

/* early_msg - may m go out before rd is persisted?  A leader's
 * AppendEntries and heartbeats may (thesis 10.2.1): they claim nothing
 * about what this server has on disk, so the leader's log write and the
 * followers' overlap; the leader still counts itself towards a quorum only
 * once its own write is done (the core takes its match from what was
 * persisted).  Only when the hard state is not changing in this batch:
 * the term the messages carry must already be durable (a leader whose
 * term was lost in a crash could lead that term twice).  Votes and
 * responses claim durability and always wait for the write. */
static bool
early_msg(const struct raft_ready *rd, const struct raft_msg *m)
{
	return !rd->hard_state_changed && rd->snapshot == NULL &&
	       (m->type == RAFT_MSG_APPEND || m->type == RAFT_MSG_HEARTBEAT);
}

/* send_msgs - send rd's messages: those early_msg() allows when early,
 * the others when not */
static void
send_msgs(struct node *n, const struct raft_ready *rd, bool early)
{
	struct buf b = BUF_INIT;
	size_t i;

	for (i = 0; i < rd->n_msgs; i++) {
		if (early_msg(rd, &rd->msgs[i]) != early)
			continue;
		if (rd->msgs[i].type == RAFT_MSG_SNAPSHOT) {
			stream_start(n, &rd->msgs[i]);
			continue; /* sent after its last chunk */
		}
		buf_reset(&b);
		rpc_encode_msg(&b, &rd->msgs[i]);
		transport_send(n->tr, rd->msgs[i].to, TRANSPORT_RAFT, b.data,
		    b.len);
	}
	buf_free(&b);
}

/* make sure the transport knows every server of the configuration */
static void
sync_peers(struct node *n)
{
	const struct raft_config *c = raft_get_config(n->raft);
	size_t i, k;

	for (i = 0; i < c->n; i++) {
		const struct raft_server *s = &c->servers[i];

		if (s->id == n->id || s->addr[0] == '\0')
			continue;
		for (k = 0; k < n->npeers; k++)
			if (n->peers[k].id == s->id)
				break;
		if (k < n->npeers && strcmp(n->peers[k].addr, s->addr) == 0)
			continue;
		if (k == n->npeers) {
			n->peers = xreallocarray(n->peers, n->npeers + 1,
			    sizeof(*n->peers));
			memset(&n->peers[k], 0, sizeof(n->peers[k]));
			n->peers[k].id = s->id;
			n->npeers++;
		}
		snprintf(n->peers[k].addr, sizeof(n->peers[k].addr), "%s",
		    s->addr);
		transport_set_peer(n->tr, s->id, s->addr);
	}
}

/* -------------------------------------------------------- ready cycle */

static void
complete_writes(struct node *n, const struct raft_entry *e,
    const struct ipc_raft_result *res)
{
	struct job *j, *next;

	for (j = n->jobs; j != NULL; j = next) {
		next = j->next;
		if (j->state != J_WRITE || j->index != e->index)
			continue;
		if (j->term == e->term && res->err == RAFT_ERR_UNKNOWN)
			job_error(j, -ESTALE,
			    "a resent request too old to tell whether it "
			    "took effect; it may or may not have");
		else if (j->term == e->term)
			job_reply(j, res);
		else
			job_error(j, -EAGAIN,
			    "leadership lost before the write committed; "
			    "retry");
	}
}

static void
serve_applied_reads(struct node *n)
{
	struct job *j, *next;

	for (j = n->jobs; j != NULL; j = next) {
		next = j->next;
		if (j->state == J_READ_APPLY &&
		    raft_applied_index(n->raft) >= j->index)
			serve_read(j);
	}
}

static void
handle_reads(struct node *n, const struct raft_ready *rd, uint64_t applied)
{
	struct job *j, *next;
	size_t i;

	for (i = 0; i < rd->n_reads; i++) {
		for (j = n->jobs; j != NULL; j = next) {
			next = j->next;
			if (j->state != J_READ_INDEX ||
			    j->ctx != rd->reads[i].ctx)
				continue;
			if (!rd->reads[i].ok) {
				job_error(j, -EAGAIN,
				    "leadership lost; retry");
			} else if (applied >= rd->reads[i].index) {
				serve_read(j);
			} else {
				j->state = J_READ_APPLY;
				j->index = rd->reads[i].index;
			}
		}
	}
}

/* act_on - after a committed apply: tell subscribers (httpd's blocking
 * queries, dnsd's cache) what changed, and keep the session clocks */
static void
act_on(struct node *n, const struct fsm_effects *fx)
{
	double now = mono_now();
	struct ipc_change ev;
	size_t i;

	for (i = 0; n->pub != NULL && i < fx->nchanges; i++) {
		memset(&ev, 0, sizeof(ev));
		ev.table = (char *)fx->changes[i].table;
		ev.key = fx->changes[i].key;
		ev.prefix = fx->changes[i].prefix;
		ev.index = fx->changes[i].index;
		ipc_publish(n->pub, IPC_EV_CHANGE, &ev);
	}
	for (i = 0; i < fx->nsessions; i++) {
		const struct fsm_session_ev *se = &fx->sessions[i];

		if (se->key != NULL)
			lockdelay_set(n->sess, se->key,
			    now + (double)se->lock_delay / 1e9);
		else if (se->alive)
			sessions_track(n->sess, se->id, se->ttl_ms, now);
		else
			sessions_forget(n->sess, se->id);
	}
}

/* publish_all - the whole state was replaced (a snapshot from the leader):
 * every table changed, and "*" tells readers to drop what they hold */
static void
publish_all(struct node *n, uint64_t index)
{
	static const char *const tables[] = {"kv", "sessions", "nodes",
	    "services", "checks", FSM_TABLE_ALL};
	struct ipc_change ev;
	size_t i;

	for (i = 0; n->pub != NULL && i < sizeof(tables) / sizeof(*tables);
	     i++) {
		memset(&ev, 0, sizeof(ev));
		ev.table = (char *)tables[i];
		ev.key = (char *)"";
		ev.prefix = true;
		ev.index = index;
		ipc_publish(n->pub, IPC_EV_CHANGE, &ev);
	}
}

static void
stall(struct node *n, const struct raft_ready *rd, int stage,
    const char *why)
{
	if (!n->stalled)
		log_errorx("raft: %s; writes fail until it succeeds "
			   "(retrying every %.1f s)",
		    why, NODE_TICK_S);
	if (!n->stalled) {
		struct job *j, *next;

		/* writes waiting on this batch cannot be acknowledged now;
		 * say so rather than leave them hanging (they are idempotent:
		 * a retry after space is freed is safe) */
		for (j = n->jobs; j != NULL; j = next) {
			next = j->next;
			if (j->state == J_WRITE)
				job_error(j, -ENOSPC,
				    "disk full or failing: write not "
				    "acknowledged (it may still apply once the "
				    "disk recovers)");
		}
	}
	n->stalled = true;
	n->stall_stage = stage;
	n->stalled_rd = *rd;
	snprintf(n->stall_reason, sizeof(n->stall_reason), "%s", why);
	(*n->c_persist_errors)++;
}

static void *
saver_main(void *arg)
{
	struct saver *sv = arg;
	struct errbuf eb;
	int rc;

	pthread_mutex_lock(&sv->mu);
	for (;;) {
		while (sv->b == NULL && !sv->quit)
			pthread_cond_wait(&sv->cv, &sv->mu);
		if (sv->quit)
			break;
		pthread_mutex_unlock(&sv->mu);
		rc = store_save(sv->st, sv->b, &eb);
		pthread_mutex_lock(&sv->mu);
		sv->rc = rc;
		sv->eb = eb;
		sv->b = NULL;
		pthread_cond_broadcast(&sv->cv);
	}
	pthread_mutex_unlock(&sv->mu);
	return NULL;
}

/* saver_init - start the helper (signals blocked in it: they are the
 * loop's); without it, saves simply run on the loop */
static void
saver_init(struct saver *sv)
{
	sigset_t all, old;

	memset(sv, 0, sizeof(*sv));
	if (pthread_mutex_init(&sv->mu, NULL) != 0)
		return;
	if (pthread_cond_init(&sv->cv, NULL) != 0) {
		pthread_mutex_destroy(&sv->mu);
		return;
	}
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	sv->running = pthread_create(&sv->th, NULL, saver_main, sv) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!sv->running) {
		log_warnx("raft: no helper thread; log writes and applies "
			  "will not overlap");
		pthread_cond_destroy(&sv->cv);
		pthread_mutex_destroy(&sv->mu);
	}
}

static void
saver_close(struct saver *sv)
{
	if (!sv->running)
		return;
	pthread_mutex_lock(&sv->mu);
	sv->quit = true;
	pthread_cond_broadcast(&sv->cv);
	pthread_mutex_unlock(&sv->mu);
	pthread_join(sv->th, NULL);
	pthread_cond_destroy(&sv->cv);
	pthread_mutex_destroy(&sv->mu);
	sv->running = false;
}

/* saver_start - hand b (borrowed until saver_wait) to the helper; false
 * when there is none (the caller saves itself) */
static bool
saver_start(struct saver *sv, struct store *st, const struct store_batch *b)
{
	if (!sv->running)
		return false;
	pthread_mutex_lock(&sv->mu);
	sv->st = st;
	sv->b = b;
	pthread_cond_broadcast(&sv->cv);
	pthread_mutex_unlock(&sv->mu);
	return true;
}

/* saver_wait - wait for the save saver_start() began: its store_save()
 * result, with eb */
static int
saver_wait(struct saver *sv, struct errbuf *eb)
{
	int rc;

	pthread_mutex_lock(&sv->mu);
	while (sv->b != NULL)
		pthread_cond_wait(&sv->cv, &sv->mu);
	rc = sv->rc;
	*eb = sv->eb;
	pthread_mutex_unlock(&sv->mu);
	return rc;
}

/* apply_committed - apply rd's committed entries in one state
 * transaction and answer the writes waiting on them; 0, or -1 with eb
 * when the store refused (nothing of the batch applied).
 *
 * The writers are answered once their results are known, before the
 * state commit: the entries are committed (on a quorum of logs), and the
 * results are what any later apply of them would give (apply is
 * deterministic), so the commit's flush need not delay the answers.  Nor
 * can anything read the state before the commit: reads are served on
 * this thread, after it.  Should the commit fail, the node stalls and
 * applies the batch again (same results) until it succeeds; the change
 * events go out only once it has. */
static int
apply_range(struct node *n, const struct raft_entry *ents, size_t cnt,
    struct errbuf *eb)
{
	struct ipc_raft_result *res;
	struct fsm_effects fx;
	struct store_txn *t;
	size_t i;
	int r;

	memset(&fx, 0, sizeof(fx));
	res = xcalloc(cnt, sizeof(*res));
	if (fsm_apply_txn(n->st, ents, cnt, res, &fx, &t, eb) < 0) {
		free(res);
		fsm_effects_free(&fx);
		return -1;
	}
	for (i = 0; i < cnt; i++) {
		const struct raft_entry *e = &ents[i];

		if (e->type != RAFT_ENTRY_COMMAND) {
			res[i].index = e->index;
			res[i].ok = true;
		}
		complete_writes(n, e, &res[i]);
	}
	r = store_state_commit(t, ents[cnt - 1].index, eb);
	for (i = 0; i < cnt; i++)
		cdc_free(&ipc_raft_result_desc, &res[i]);
	free(res);
	if (r < 0) {
		fsm_effects_free(&fx);
		return -1;
	}
	/* after the commit: readers woken by change events see it */
	act_on(n, &fx);
	fsm_effects_free(&fx);
	*n->c_applied += cnt;
	return 0;
}

/* apply_committed - apply rd's committed entries in one transaction, or
 * around a snapshot restore (RAFT_OP_RESTORE) in three steps: what comes
 * before it, the state swap and the entry itself, what follows.  A retry
 * after a stall skips what an earlier attempt committed. */
static int
apply_committed(struct node *n, const struct raft_ready *rd,
    struct errbuf *eb)
{
	const struct raft_entry *e = rd->committed;
	size_t cnt = rd->n_committed, i, start = 0;
	uint64_t applied;
	int r;

	if (cnt == 0)
		return 0;
	if (store_state_applied(n->st, &applied) == 0)
		while (start < cnt && e[start].index <= applied)
			start++;
	for (i = start; i < cnt; i++) {
		if (fsm_entry_op(&e[i]) != RAFT_OP_RESTORE)
			continue;
		if (i > start && apply_range(n, e + start, i - start, eb) < 0)
			return -1;
		/* no state copy may run while the state is replaced */
		exports_wait(n->exp);
		if ((r = fsm_restore_stage(n->st, &e[i], n->restore_path,
			 eb)) < 0)
			return -1;
		if (apply_range(n, e + i, 1, eb) < 0)
			return -1;
		if (r == 1) {
			load_session_clocks(n);
			n->reconcile_soon = true;
		}
		start = i + 1;
	}
	if (start < cnt)
		return apply_range(n, e + start, cnt - start, eb);
	return 0;
}

/* apply_first - may rd's committed entries be applied before rd's own
 * entries are persisted?  Yes when they all come before the first new
 * entry: then they are already in the local log (and committed, so on a
 * quorum), and their writers need not wait for this batch's fsync.  Not
 * when the batch installs a snapshot (the state is replaced) or when a
 * follower got an entry and its commit in one message (the state must
 * never get ahead of the local log). */
static bool
apply_first(const struct raft_ready *rd)
{
	return rd->n_committed > 0 && rd->snapshot == NULL &&
	       (rd->n_entries == 0 ||
		   rd->committed[rd->n_committed - 1].index <
		       rd->entries[0].index);
}

/* process - send what may go early, apply what is already durable,
 * persist, send the rest, apply, answer; returns 0 when rd may be
 * advanced, or -1 when the disk refused (the node stalls on rd; stage 1:
 * persisted, stage 0: not).  n->rd_applied says whether rd's committed
 * entries were applied already (a retry must not apply them twice). */
static int
process(struct node *n, const struct raft_ready *rd, int stage)
{
	struct errbuf eb;
	int r;

	if (stage == 0) {
		struct store_batch b;

		struct store_snapshot ss;
		struct buf cb = BUF_INIT;

		bool early, need_save, bg = false;
		struct errbuf aeb;

		/* not on a retry after a stall: they went out the first
		 * time, and a stalled leader that kept sending its appends
		 * and heartbeats would hold its followers' election timers
		 * back for as long as its disk stays full; silent, it is
		 * replaced in an election timeout */
		if (!n->stalled) {
			send_msgs(n, rd, true);
			transport_flush(n->tr);
		}
		memset(&b, 0, sizeof(b));
		b.set_hard_state = rd->hard_state_changed;
		b.term = rd->term;
		b.vote = rd->vote;
		if (rd->n_entries > 0) {
			b.truncate_from = rd->entries[0].index;
			b.entries = rd->entries;
			b.n_entries = rd->n_entries;
		}
		if (rd->snapshot != NULL) {
			/* the leader's snapshot replaces our state and whole
			 * log.  Order: note the meta in incoming.meta, install
			 * the state, then record it on the raft side; a crash
			 * in between is finished by load_state. */
			snapshot_meta(&ss, &cb, rd->snapshot->index,
			    rd->snapshot->term, &rd->snapshot->config);
			b.snapshot = &ss;
			b.truncate_from = 1;
			if (!n->snap_restored) {
				if ((r = write_sidecar(n, &ss, &eb)) < 0 ||
				    (r = store_state_restore(n->st, n->in_path,
					 &eb)) < 0) {
					buf_free(&cb);
					stall(n, rd, 0, eb.msg);
					return -1;
				}
				n->snap_restored = true;
				n->in_complete = false;
			}
		}
		/* committed entries already in the local log are applied
		 * (and their writers answered) while the helper writes the
		 * new ones: the two flushes overlap.  Should the apply fail,
		 * it is tried again after the save, below. */
		need_save = b.set_hard_state || b.n_entries > 0 || b.snapshot;
		early = !n->rd_applied && apply_first(rd);
		if (early && need_save)
			bg = saver_start(&n->saver, n->st, &b);
		if (early && apply_committed(n, rd, &aeb) == 0)
			n->rd_applied = true;
		r = 0;
		if (bg)
			r = saver_wait(&n->saver, &eb);
		else if (need_save)
			r = store_save(n->st, &b, &eb);
		if (r < 0) {
			buf_free(&cb);
			stall(n, rd, 0, eb.msg);
			return -1;
		}
		buf_free(&cb);
		if (rd->snapshot != NULL) {
			n->snap_restored = false;
			load_session_clocks(n);
			publish_all(n, rd->snapshot->index);
			unlink(n->meta_path);
			(*n->c_snap_installed)++;
			log_info("raft: installed snapshot at index %llu from "
				 "the leader",
			    (unsigned long long)rd->snapshot->index);
		}
		send_msgs(n, rd, false);
		/* on the wire before the apply below, which may fsync */
		transport_flush(n->tr);
	}
	if (!n->rd_applied && apply_committed(n, rd, &eb) < 0) {
		stall(n, rd, 1, eb.msg);
		return -1;
	}
	n->rd_applied = false;
	handle_reads(n, rd,
	    rd->n_committed ? rd->committed[rd->n_committed - 1].index
			    : raft_applied_index(n->raft));
	if (n->stalled)
		log_info("raft: storage works again; resuming");
	n->stalled = false;
	return 0;
}

static void
log_role_change(struct node *n)
{
	enum raft_role role = raft_role(n->raft);
	uint64_t leader = raft_leader(n->raft);

	if (role != n->last_role)
		log_info("raft: node at %s [%s] entering %s state (term %llu)",
		    n->addr, raft_role_name(role), raft_role_name(role),
		    (unsigned long long)raft_term(n->raft));
	if (role == RAFT_LEADER && n->last_role != RAFT_LEADER) {
		log_info("consul: cluster leadership acquired");
		/* a new leader gives every session its full TTL again, and
		 * brings the catalog in step with gossip */
		sessions_restart(n->sess, mono_now());
		n->reconcile_soon = true;
	}
	if (leader != n->last_leader && leader != RAFT_NONE &&
	    role != RAFT_LEADER)
		log_info("consul: new leader elected: %016llx",
		    (unsigned long long)leader);
	if (role != RAFT_LEADER && n->last_role == RAFT_LEADER) {
		struct job *j, *next;

		log_warnx("consul: cluster leadership lost");
		/* reads waiting for a quorum round cannot finish here */
		for (j = n->jobs; j != NULL; j = next) {
			next = j->next;
			if (j->state == J_READ_INDEX)
				job_error(j, -EAGAIN, "leadership lost; retry");
		}
	}
	n->last_role = role;
	n->last_leader = leader;
}

/* maybe_snapshot - every raft_snapshot_threshold applied entries, copy
 * the state to snapshot.mdb, compact the log behind it (keeping
 * raft_trailing_logs entries) and record it. */
static void
maybe_snapshot(struct node *n)
{
	const struct cairn_conf *c = &n->d->conf;
	const struct raft_config *cfg;
	uint64_t applied = raft_applied_index(n->raft), si, st, at;
	struct store_snapshot ss;
	struct store_batch b;
	struct buf cb = BUF_INIT;
	struct errbuf eb;

	raft_get_snapshot(n->raft, &si, &st, &cfg);
	if (applied < si + (uint64_t)c->raft_snapshot_threshold)
		return;
	if (store_state_snapshot(n->st, n->snap_path, &at, &eb) < 0) {
		log_warnx("raft: snapshot: %s", eb.msg);
		return;
	}
	/* the log is about to lose entries up to the snapshot (less the
	 * trailing ones): the state must not be able to fall back behind
	 * them in a crash, or there would be nothing to replay it from */
	if (store_state_sync(n->st, &eb) < 0) {
		log_warnx("raft: snapshot: %s", eb.msg);
		return;
	}
	if (at != applied || raft_compact(n->raft, at,
				 (size_t)c->raft_trailing_logs) < 0) {
		log_warnx("raft: snapshot at %llu does not match applied %llu",
		    (unsigned long long)at, (unsigned long long)applied);
		return;
	}
	raft_get_snapshot(n->raft, &si, &st, &cfg);
	snapshot_meta(&ss, &cb, si, st, cfg);
	memset(&b, 0, sizeof(b));
	b.snapshot = &ss;
	if (raft_first_index(n->raft) > 1)
		b.compact_to = raft_first_index(n->raft) - 1;
	if (store_save(n->st, &b, &eb) < 0)
		log_warnx("raft: recording snapshot %llu: %s",
		    (unsigned long long)si, eb.msg);
	else
		log_info("raft: snapshot at index %llu; log starts at %llu",
		    (unsigned long long)si,
		    (unsigned long long)raft_first_index(n->raft));
	(*n->c_snapshots)++;
	buf_free(&cb);
}

static void
pump(struct node *n)
{
	if (n->stalled)
		return;
	while (raft_has_ready(n->raft)) {
		struct raft_ready rd;

		raft_ready(n->raft, &rd);
		if (process(n, &rd, 0) < 0)
			return;
		raft_advance(n->raft, &rd);
	}
	serve_applied_reads(n);
	maybe_snapshot(n);
	log_role_change(n);
	sync_peers(n);
	/* stopping: leadership has moved on, nothing keeps us */
	if (n->d->stopping && ev_is_active(&n->stop_w) &&
	    raft_role(n->raft) != RAFT_LEADER) {
		ev_timer_stop(n->loop, &n->stop_w);
		daemon_stopped(n->d);
	}
}

static void
prepare_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
	(void)loop;
	(void)revents;
	pump(w->data);
}

/* ---------------------------------------------------------- bootstrap */

static int
cmp_server(const void *a, const void *b)
{
	const struct raft_server *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

static void
maybe_bootstrap(struct node *n)
{
	const struct cairn_conf *c = &n->d->conf;
	struct raft_config cfg;
	size_t i, k = 0;

	if (n->stalled)
		return;
	/* with an empty store, ask the servers we know whether we are in
	 * their cluster already: then we lost our state (a wiped data dir)
	 * and must be removed and added again (bootstrap_reply) */
	if (n->npeers > 0 && raft_last_index(n->raft) == 0 &&
	    raft_get_config(n->raft)->n == 0)
		(void)bootstrap_probed(n);
	if (raft_term(n->raft) != 0 || raft_last_index(n->raft) != 0)
		return;
	if (!c->bootstrap &&
	    (c->bootstrap_expect == 0 || n->bs_disabled ||
		(int64_t)n->npeers + 1 < c->bootstrap_expect)) {
		if (!n->said_waiting)
			log_warnx("raft: not bootstrapping and no known "
				  "cluster: waiting to be added by a leader "
				  "(use -bootstrap or -bootstrap-expect)");
		n->said_waiting = true;
		return;
	}
	if (!c->bootstrap && !bootstrap_probed(n))
		return;
	cfg.n = c->bootstrap ? 1 : n->npeers + 1;
	cfg.servers = xcalloc(cfg.n, sizeof(*cfg.servers));
	cfg.servers[k].id = n->id;
	cfg.servers[k].suffrage = RAFT_VOTER;
	snprintf(cfg.servers[k].addr, RAFT_ADDR_LEN, "%s", n->addr);
	k++;
	for (i = 0; !c->bootstrap && i < n->npeers; i++, k++) {
		cfg.servers[k].id = n->peers[i].id;
		cfg.servers[k].suffrage = RAFT_VOTER;
		snprintf(cfg.servers[k].addr, RAFT_ADDR_LEN, "%s",
		    n->peers[i].addr);
	}
	qsort(cfg.servers, cfg.n, sizeof(*cfg.servers), cmp_server);
	if (raft_bootstrap(n->raft, &cfg) == 0)
		log_info("raft: bootstrapped a cluster of %zu server(s)",
		    cfg.n);
	raft_config_free(&cfg);
}

/* bootstrap_probed - every known server said it has no cluster yet; until
 * then (or for good, when one has) no bootstrap.  Asks them if need be. */
static bool
bootstrap_probed(struct node *n)
{
	struct ipc_empty e;
	size_t i;

	if (n->bs_asked > 0 && n->bs_empty == n->bs_asked &&
	    n->bs_asked == n->npeers)
		return true;
	if (n->bs_asked > 0 && mono_now() < n->bs_deadline)
		return false; /* answers still coming */
	/* (again, after a timeout or with more servers known) */
	memset(&e, 0, sizeof(e));
	n->bs_first_id = n->next_fwd + 1;
	n->next_fwd += (uint32_t)n->npeers;
	n->bs_asked = n->npeers;
	n->bs_empty = 0;
	n->bs_deadline = mono_now() + 2.0;
	for (i = 0; i < n->npeers; i++)
		fwd_send(n, NULL, n->peers[i].id, 0,
		    n->bs_first_id + (uint32_t)i, IPC_RAFT_CLUSTER_STATE, 0, 1,
		    &ipc_empty_desc, &e);
	return false;
}

/* bootstrap_reply - a server's answer to the bootstrap probe: true if it
 * was one */
static bool
bootstrap_reply(struct node *n, uint64_t from, uint32_t id, uint16_t type,
    int16_t status, const uint8_t *p, size_t len)
{
	struct ipc_raft_state st;
	size_t i = id - n->bs_first_id;

	if (n->bs_asked == 0 || id < n->bs_first_id || i >= n->bs_asked ||
	    type != IPC_RAFT_CLUSTER_STATE)
		return false;
	if (i >= n->npeers || n->peers[i].id != from)
		return true; /* the list moved on: ignored */
	memset(&st, 0, sizeof(st));
	if (status == 0 && cdc_decode(&ipc_raft_state_desc, p, len, &st,
			       NULL) == 0) {
		size_t k;

		/* asked again every few seconds while it lasts: the
		 * leader may have been busy with another change, or the
		 * server asked may have had no leader then */
		for (k = 0; k < st.peers.n &&
			    mono_now() - n->bs_rejoin_at > 5.0 &&
			    raft_last_index(n->raft) == 0 && st.term > 0;
		     k++) {
			struct ipc_raft_remove rm;

			if (((struct ipc_raft_peer *)st.peers.v + k)->id != n->id)
				continue;
			/* a voter with no log: its acks counted once, its
			 * state is gone.  Raft has no way back for it but
			 * leaving and coming back as a new member (it is
			 * added again, as a non-voter first, by the leader
			 * that sees it alive in gossip). */
			log_warnx("raft: this server is in the cluster's "
				  "configuration but its Raft state is gone "
				  "(a wiped data dir?): asking the leader to "
				  "remove it so it can rejoin");
			memset(&rm, 0, sizeof(rm));
			rm.id = n->id;
			fwd_send(n, NULL, from, 0, ++n->next_fwd,
			    IPC_RAFT_REMOVE_PEER, 0, 1, &ipc_raft_remove_desc,
			    &rm);
			n->bs_rejoin_at = mono_now();
		}
		if (st.term > 0 || st.peers.n > 0) {
			if (!n->bs_disabled)
				log_info("raft: existing Raft peers reported "
					 "by server %s, disabling bootstrap "
					 "mode",
				    n->peers[i].name);
			n->bs_disabled = true;
		} else {
			n->bs_empty++;
		}
	}
	cdc_free(&ipc_raft_state_desc, &st);
	if (n->bs_empty == n->bs_asked)
		maybe_bootstrap(n);
	return true;
}

/* the leader adds known servers that are not members yet, one at a time,
 * as non-voters promoted once caught up */
static void
add_known_peers(struct node *n)
{
	const struct raft_config *c = raft_get_config(n->raft);
	size_t i;

	if (raft_role(n->raft) != RAFT_LEADER)
		return;
	for (i = 0; i < n->npeers; i++) {
		int r;

		if (n->peers[i].left ||
		    raft_config_get(c, n->peers[i].id) != NULL)
			continue;
		r = raft_add_server(n->raft, n->peers[i].id, n->peers[i].addr,
		    RAFT_NONVOTER, true);
		if (r == 0)
			log_info("raft: adding server %s (%s) as non-voter, "
				 "promoted once caught up",
			    n->peers[i].name, n->peers[i].addr);
		return; /* one change at a time */
	}
}

/* remove_left_peers - servers that left the LAN pool leave the Raft
 * configuration too (Consul's leader does the same); one change at a
 * time, by the leader; everyone forgets them once they are out */
static void
remove_left_peers(struct node *n)
{
	const struct raft_config *c = raft_get_config(n->raft);
	size_t i = 0;

	while (i < n->npeers) {
		struct peer *p = &n->peers[i];

		if (!p->left) {
			i++;
			continue;
		}
		if (c != NULL && raft_config_get(c, p->id) != NULL) {
			if (raft_role(n->raft) == RAFT_LEADER &&
			    raft_remove_server(n->raft, p->id) == 0) {
				log_info("raft: removing server %s (%s): it "
					 "left the cluster",
				    p->name, p->addr);
				return;
			}
			i++;
			continue;
		}
		n->peers[i] = n->peers[--n->npeers];
	}
}

/* ---------------------------------------------------- gossip members */

static const char *
member_tag(const struct ipc_member *m, const char *k)
{
	size_t i, kl = strlen(k);

	for (i = 0; i < m->tags.n; i++)
		if (strncmp(m->tags.v[i], k, kl) == 0 &&
		    m->tags.v[i][kl] == '=')
			return m->tags.v[i] + kl + 1;
	return NULL;
}

/* gossip_member - a LAN member: servers of this datacenter are the Raft
 * peers to know (bootstrap-expect counts them; the leader adds them; a
 * client forwards to them) */
static void
gossip_member(struct node *n, const struct ipc_member *m)
{
	const struct cairn_conf *c = &n->d->conf;
	const char *role = member_tag(m, "role"), *dc = member_tag(m, "dc");
	const char *port = member_tag(m, "port");
	char addr[RAFT_ADDR_LEN];
	struct peer *p = NULL;
	uint64_t id;
	size_t i;

	if (m->wan || m->name == NULL || role == NULL ||
	    strcmp(role, "consul") != 0 || dc == NULL ||
	    strcmp(dc, c->datacenter) != 0 || port == NULL || m->addr == NULL ||
	    strcmp(m->name, c->node_name) == 0 ||
	    strlen(m->name) >= sizeof(p->name))
		return;
	id = node_id_of(m->name);
	snprintf(addr, sizeof(addr), "%s:%s", m->addr, port);
	for (i = 0; i < n->npeers; i++)
		if (n->peers[i].id == id)
			p = &n->peers[i];
	if (m->status == GOSSIP_LEFT || m->status == 0) {
		if (p != NULL && !p->left) {
			log_info("raft: server %s left the cluster", m->name);
			p->left = true;
		}
		return;
	}
	if (p == NULL) {
		n->peers = xreallocarray(n->peers, n->npeers + 1,
		    sizeof(*n->peers));
		p = &n->peers[n->npeers++];
		memset(p, 0, sizeof(*p));
		p->id = id;
		log_info("raft: server %s (%s) found through gossip", m->name,
		    addr);
	}
	p->left = false;
	snprintf(p->name, sizeof(p->name), "%s", m->name);
	if (strcmp(p->addr, addr) != 0) {
		snprintf(p->addr, sizeof(p->addr), "%s", addr);
		if (n->tr != NULL)
			transport_set_peer(n->tr, id, addr);
	}
}

/* propose - a command of the leader's own (no client waits for it) */
static void
propose(struct node *n, const struct ipc_raft_cmd *c)
{
	struct buf b = BUF_INIT;
	uint64_t index, term;

	if (n->stalled)
		return; /* tried again by whoever asked, once storage works */
	fsm_encode_cmd(c, &b);
	if (raft_propose(n->raft, b.data, b.len, &index, &term) == 0)
		(*n->c_proposed)++;
	buf_free(&b);
}

/* reconcile_member - the leader keeps the catalog in step with the LAN
 * pool, as Consul's does: a live member is registered with a passing
 * serfHealth check, a failed one's check goes critical (invalidating the
 * sessions bound to it), one that left or was reaped is deregistered. */
static void
reconcile_member(struct node *n, const struct ipc_member *m)
{
	struct ipc_catalog_reply cat;
	struct ipc_raft_cmd c;
	struct errbuf eb;
	const char *want, *id = member_tag(m, "id");
	const struct ipc_check *serf = NULL;
	const struct ipc_node *cn = NULL;
	size_t i;

	if (m->wan || m->name == NULL || n->stalled ||
	    raft_role(n->raft) != RAFT_LEADER)
		return;
	memset(&cat, 0, sizeof(cat));
	if (fsm_catalog_read(n->st, "nodes", m->name, NULL, &cat, &eb) < 0 ||
	    fsm_catalog_read(n->st, "checks", m->name, NULL, &cat, &eb) < 0) {
		cdc_free(&ipc_catalog_reply_desc, &cat);
		return;
	}
	if (cat.nodes.n > 0)
		cn = cat.nodes.v;
	for (i = 0; i < cat.checks.n; i++)
		if (strcmp(((struct ipc_check *)cat.checks.v)[i].check_id,
			"serfHealth") == 0)
			serf = (struct ipc_check *)cat.checks.v + i;
	memset(&c, 0, sizeof(c));
	if (m->status == GOSSIP_LEFT || m->status == 0) {
		if (cn != NULL) {
			log_info("consul: deregistering member %s (%s)",
			    m->name, m->status ? "left" : "reaped");
			c.op = RAFT_OP_CATALOG_DEREGISTER;
			c.key = m->name;
			propose(n, &c);
		}
		cdc_free(&ipc_catalog_reply_desc, &cat);
		return;
	}
	want = m->status == GOSSIP_FAILED ? "critical" : "passing";
	if (cn != NULL && serf != NULL && strcmp(serf->status, want) == 0 &&
	    strcmp(cn->address ? cn->address : "", m->addr ? m->addr : "") ==
		0) {
		cdc_free(&ipc_catalog_reply_desc, &cat);
		return; /* in step */
	}
	c.op = RAFT_OP_CATALOG_REGISTER;
	c.cnode.node = m->name;
	c.cnode.address = m->addr;
	c.cnode.id = (char *)(id ? id : "");
	c.cnode.datacenter = n->d->conf.datacenter;
	if (cn != NULL) { /* keep what the agent registered itself */
		c.cnode.meta = cn->meta;
		c.cnode.tagged_addresses = cn->tagged_addresses;
	}
	if (member_tag(m, "role") && strcmp(member_tag(m, "role"), "consul") == 0 &&
	    member_tag(m, "port")) {
		/* servers carry the "consul" service (Consul does the same) */
		c.csvc.id = (char *)"consul";
		c.csvc.service = (char *)"consul";
		c.csvc.port = (uint32_t)atoi(member_tag(m, "port"));
	}
	c.ccheck.check_id = (char *)"serfHealth";
	c.ccheck.name = (char *)"Serf Health Status";
	c.ccheck.status = (char *)want;
	c.ccheck.output = m->status == GOSSIP_FAILED
			      ? (char *)"Agent not live or unreachable"
			      : (char *)"Agent alive and reachable";
	c.ccheck.type = (char *)"";
	log_info("consul: member %s: serfHealth %s", m->name, want);
	propose(n, &c);
	cdc_free(&ipc_catalog_reply_desc, &cat);
}

/* reconcile_reaped - catalog nodes with a serfHealth check that gossip
 * no longer knows at all are deregistered */
static void
reconcile_reaped(struct node *n, const struct ipc_members *ms)
{
	struct ipc_catalog_reply cat;
	struct errbuf eb;
	size_t i, k;

	if (raft_role(n->raft) != RAFT_LEADER || n->stalled)
		return;
	memset(&cat, 0, sizeof(cat));
	if (fsm_catalog_read(n->st, "checks", NULL, NULL, &cat, &eb) < 0) {
		cdc_free(&ipc_catalog_reply_desc, &cat);
		return;
	}
	for (i = 0; i < cat.checks.n; i++) {
		const struct ipc_check *ch = (struct ipc_check *)cat.checks.v + i;

		if (strcmp(ch->check_id, "serfHealth") != 0)
			continue;
		for (k = 0; k < ms->members.n; k++)
			if (strcmp(((struct ipc_member *)ms->members.v)[k].name,
				ch->node) == 0)
				break;
		if (k == ms->members.n) {
			struct ipc_member gone;

			memset(&gone, 0, sizeof(gone));
			gone.name = ch->node;
			gone.status = 0;
			reconcile_member(n, &gone);
		}
	}
	cdc_free(&ipc_catalog_reply_desc, &cat);
}

static void
members_done(int status, void *body, const char *errmsg, void *arg)
{
	struct node *n = arg;
	struct ipc_members *rep = body;
	size_t i;

	(void)errmsg;
	if (status < 0)
		return; /* gossipd down or not yet up: the next poll */
	for (i = 0; i < rep->members.n; i++)
		gossip_member(n, (struct ipc_member *)rep->members.v + i);
	if (n->raft != NULL) {
		maybe_bootstrap(n);
		for (i = 0; i < rep->members.n; i++)
			reconcile_member(n,
			    (struct ipc_member *)rep->members.v + i);
		reconcile_reaped(n, rep);
	}
}

static void
poll_members(struct node *n)
{
	struct ipc_pool_req q = {false};

	if (n->gossipd != NULL)
		ipc_call(n->gossipd, IPC_GOSSIP_MEMBERS, &q, 2000, members_done,
		    n);
}

static void
wan_members_done(int status, void *body, const char *errmsg, void *arg)
{
	struct node *n = arg;

	(void)errmsg;
	if (status == 0 && n->wan != NULL)
		wan_members(n->wan, body);
}

/* poll_wan - the WAN pool with coordinates (servers) */
static void
poll_wan(struct node *n)
{
	struct ipc_pool_req q = {true};

	if (n->gossipd != NULL && n->wan != NULL)
		ipc_call(n->gossipd, IPC_GOSSIP_MEMBERS, &q, 2000,
		    wan_members_done, n);
}

static void
on_gossip_event(uint16_t type, void *body, void *arg)
{
	struct node *n = arg;

	if (type != IPC_EV_MEMBER)
		return;
	if (((struct ipc_member *)body)->wan) {
		if (n->wan != NULL)
			wan_member(n->wan, body);
		return;
	}
	gossip_member(n, body);
	if (n->raft != NULL) {
		maybe_bootstrap(n);
		reconcile_member(n, body);
	}
}

static int
gossip_open(struct node *n, struct errbuf *eb)
{
	char path[PATH_MAX];
	int r;

	if (ipc_socket_path(path, sizeof(path), n->d->conf.run_dir,
		"gossipd") < 0)
		return errbuf_set(eb, -ENAMETOOLONG, "run_dir too long");
	if ((r = ipc_client_open(n->loop, path, &n->gossipd, eb)) < 0)
		return r;
	snprintf(path, sizeof(path), "%s/gossipd.events", n->d->conf.run_dir);
	if ((r = ipc_sub_open(n->loop, path, on_gossip_event, n, &n->gevents,
		 eb)) < 0)
		return r;
	poll_members(n);
	return 0;
}

static void
expire_jobs(struct node *n)
{
	ev_tstamp now = mono_now();
	struct job *j, *next;

	for (j = n->jobs; j != NULL; j = next) {
		next = j->next;
		if (j->state == J_NEW || j->deadline >= now)
			continue;
		if (j->state == J_FWD)
			fwd_expired(j);
		else
			job_error(j, -ETIMEDOUT,
			    "timed out waiting for the cluster");
	}
}

/* reap_sessions - the leader invalidates sessions whose TTL ran out
 * (through the log, like a destroy: their locks are released) */
static void
reap_sessions(struct node *n)
{
	char ids[64][37];
	struct ipc_raft_cmd c;
	struct buf b = BUF_INIT;
	uint64_t index, term;
	size_t i, k;

	if (raft_role(n->raft) != RAFT_LEADER || n->stalled)
		return;
	k = sessions_expired(n->sess, mono_now(), 5.0, ids, 64);
	for (i = 0; i < k; i++) {
		memset(&c, 0, sizeof(c));
		c.op = RAFT_OP_SESSION_DESTROY;
		c.session = ids[i];
		buf_reset(&b);
		fsm_encode_cmd(&c, &b);
		if (raft_propose(n->raft, b.data, b.len, &index, &term) == 0) {
			log_info("consul.session: session %s expired (TTL), "
				 "invalidating",
			    ids[i]);
			(*n->c_proposed)++;
		}
	}
	buf_free(&b);
}

/* ticks_due - how many Raft ticks the monotonic clock says are due.
 * libev runs a late repeating timer once, not once per missed period, so
 * after a SIGSTOP, a disk stall or a starved loop the core's tick count -
 * its election timer and its leader lease - would fall behind real time,
 * and a resumed leader would trust a lease that ran out long ago.  Capped
 * at TICK_CATCHUP_MAX: a few election timeouts' worth is as good as more. */
static unsigned
ticks_due(struct node *n)
{
	double now = mono_now();
	unsigned k = 0;

	if (n->tick_next == 0)
		n->tick_next = now;
	/* 5 ms early still counts: the timer and the clock round apart */
	while (now + 0.005 >= n->tick_next && k < TICK_CATCHUP_MAX) {
		n->tick_next += NODE_TICK_S;
		k++;
	}
	if (k == TICK_CATCHUP_MAX)
		n->tick_next = now + NODE_TICK_S;
	return k;
}

/* catch_up - run the Raft ticks the monotonic clock says are due (not
 * while stalled: the core must not move) */
static void
catch_up(struct node *n)
{
	unsigned k;

	if (n->stalled)
		return;
	for (k = ticks_due(n); k > 0; k--)
		raft_tick(n->raft);
}

static void
tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct node *n = w->data;

	(void)loop;
	(void)revents;
	n->ticks++;
	if (n->stalled) {
		struct raft_ready rd = n->stalled_rd;

		if (process(n, &rd, n->stall_stage) == 0) {
			raft_advance(n->raft, &rd);
			pump(n);
		}
		expire_jobs(n);
		return;
	}
	maybe_bootstrap(n);
	streams_pump(n);
	catch_up(n);
	if (n->ticks % 10 == 0) {
		add_known_peers(n);
		remove_left_peers(n);
		exports_expire(n->exp);
		poll_wan(n);
	}
	if (n->ticks % 50 == 0 || n->reconcile_soon) {
		n->reconcile_soon = false;
		poll_members(n);
	}
	if (n->ticks % 5 == 0)
		reap_sessions(n);
	expire_jobs(n);
}

/* ------------------------------------------------------------ startup */

static int
parse_peers(struct node *n, struct errbuf *eb)
{
	const struct cdc_strlist *l = &n->d->conf.raft_peers;
	size_t i;

	for (i = 0; i < l->n; i++) {
		const char *s = l->v[i], *eq = strchr(s, '=');
		struct peer *p;

		if (eq == NULL || eq == s || eq[1] == '\0' ||
		    strchr(eq + 1, ':') == NULL ||
		    (size_t)(eq - s) >= sizeof(p->name) ||
		    strlen(eq + 1) >= RAFT_ADDR_LEN)
			return errbuf_set(eb, -EINVAL,
			    "raft_peers: \"%s\": expected name=host:port", s);
		n->peers = xreallocarray(n->peers, n->npeers + 1,
		    sizeof(*n->peers));
		p = &n->peers[n->npeers++];
		memset(p, 0, sizeof(*p));
		memcpy(p->name, s, (size_t)(eq - s));
		snprintf(p->addr, sizeof(p->addr), "%s", eq + 1);
		p->id = node_id_of(p->name);
		if (p->id == n->id)
			return errbuf_set(eb, -EINVAL,
			    "raft_peers: \"%s\" names this node", s);
	}
	return 0;
}

static int
load_state(struct node *n, struct errbuf *eb)
{
	struct store_snapshot snap;
	struct raft_snapshot_meta meta;
	struct raft_entry *ents = NULL;
	size_t ne = 0;
	uint64_t term, vote, applied;
	int r;

	memset(&snap, 0, sizeof(snap));
	memset(&meta, 0, sizeof(meta));
	if ((r = finish_install(n, eb)) < 0)
		return r;
	if ((r = store_load(n->st, &term, &vote, &snap, &ents, &ne, eb)) < 0)
		return r;
	if ((r = store_state_applied(n->st, &applied)) < 0) {
		store_entries_free(ents, ne);
		store_snapshot_free(&snap);
		return errbuf_set(eb, r, "state: applied index: %s",
		    strerror(-r));
	}
	meta.index = snap.index;
	meta.term = snap.term;
	if (snap.index > 0 && snap.config_len > 0 &&
	    raft_config_decode(snap.config, snap.config_len, &meta.config) <
		0) {
		r = errbuf_set(eb, -EUCLEAN,
		    "%s/raft: snapshot configuration is corrupted",
		    n->d->conf.data_dir);
		goto out;
	}
	r = raft_load(n->raft, term, vote, snap.index ? &meta : NULL, ents, ne,
	    applied);
	if (r < 0)
		errbuf_set(eb, r,
		    "%s: stored Raft state is inconsistent (log %zu entries, "
		    "applied %llu): %s",
		    n->d->conf.data_dir, ne, (unsigned long long)applied,
		    strerror(-r));
	else
		log_info("raft: restored term %llu, %zu log entries, applied "
			 "index %llu",
		    (unsigned long long)term, ne, (unsigned long long)applied);
out:
	raft_config_free(&meta.config);
	store_entries_free(ents, ne);
	store_snapshot_free(&snap);
	return r;
}

/* load_session_clocks - (re)start the TTL clock of every stored session
 * that has a TTL: at start and after a snapshot replaced the state */
static void
load_session_clocks(struct node *n)
{
	struct ipc_session_read_reply rep;
	struct errbuf eb;
	size_t i;

	sessions_free(n->sess);
	n->sess = sessions_new();
	memset(&rep, 0, sizeof(rep));
	if (fsm_session_read(n->st, NULL, NULL, &rep, &eb) < 0) {
		log_warnx("raft: sessions: %s", eb.msg);
		return;
	}
	for (i = 0; i < rep.sessions.n; i++) {
		const struct ipc_session *se =
		    (const struct ipc_session *)rep.sessions.v + i;

		sessions_track(n->sess, se->id, se->ttl_ms, mono_now());
	}
	cdc_free(&ipc_session_read_reply_desc, &rep);
}

static void
client_tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct node *n = w->data;

	(void)loop;
	(void)revents;
	expire_jobs(n);
	if (++n->ticks % 50 == 0)
		poll_members(n);
	/* forget servers that left */
	for (size_t i = 0; i < n->npeers;)
		if (n->peers[i].left)
			n->peers[i] = n->peers[--n->npeers];
		else
			i++;
}

/* client_init - a client keeps no replicated state: every request goes to
 * a server (today the raft_peers list; with gossipd, the LAN members
 * tagged as servers), the next one when a server does not answer. */
static int
client_init(struct node *n, struct errbuf *eb)
{
	struct daemon *d = n->d;
	size_t i;
	int r;

	if ((r = transport_open_client(n->loop, n->id, d->conf.datacenter,
		 transport_recv, n, &n->tr, eb)) < 0) {
		sessions_free(n->sess);
	free(n->peers);
		free(n);
		return r;
	}
	for (i = 0; i < n->npeers; i++)
		transport_set_peer(n->tr, n->peers[i].id, n->peers[i].addr);
	if ((r = gossip_open(n, eb)) < 0)
		log_warnx("raft: gossip: %s", eb->msg); /* raft_peers only */
	ipc_server_on(d->rpc, IPC_RAFT_APPLY, ipc_apply_handler, n);
	ipc_server_on(d->rpc, IPC_KV_READ, ipc_apply_handler, n);
	ipc_server_on(d->rpc, IPC_RAFT_STATE, ipc_state_handler, n);
	ipc_server_on(d->rpc, IPC_RAFT_CLUSTER_STATE, ipc_state_handler, n);
	ipc_server_on(d->rpc, IPC_RAFT_REMOVE_PEER, ipc_apply_handler, n);
	ipc_server_on(d->rpc, IPC_SESSION_READ, ipc_apply_handler, n);
	ipc_server_on(d->rpc, IPC_CATALOG_READ, ipc_apply_handler, n);
	ipc_server_on(d->rpc, IPC_TXN_READ, ipc_apply_handler, n);
	ipc_server_on(d->rpc, IPC_SESSION_RENEW, ipc_apply_handler, n);
	ipc_server_on(d->rpc, IPC_SNAPSHOT_SAVE, ipc_apply_handler, n);
	ipc_server_on(d->rpc, IPC_SNAPSHOT_READ, ipc_apply_handler, n);
	ipc_server_on(d->rpc, IPC_DC_FORWARD, ipc_apply_handler, n);
	ipc_server_on(d->rpc, IPC_DC_LIST, ipc_apply_handler, n);
	ipc_server_on(d->rpc, IPC_QUERY_READ, ipc_apply_handler, n);
	ipc_server_on(d->rpc, IPC_QUERY_EXECUTE, ipc_apply_handler, n);
	ev_timer_init(&n->tick_w, client_tick_cb, NODE_TICK_S, NODE_TICK_S);
	n->tick_w.data = n;
	ev_timer_start(n->loop, &n->tick_w);
	d->priv = n;
	log_info("raft: client mode, forwarding to %zu known server(s)",
	    n->npeers);
	return 0;
}

int
node_init(struct daemon *d, struct errbuf *eb)
{
	const struct cairn_conf *c = &d->conf;
	struct raft_options o;
	struct node *n;
	char adv[40];
	int r;

	n = xcalloc(1, sizeof(*n));
	n->sess = sessions_new();
	n->d = d;
	n->loop = d->loop;
	n->id = node_id_of(c->node_name);
	if ((r = net_advertise_addr(c, adv, sizeof(adv), eb)) < 0)
		goto fail;
	snprintf(n->addr, sizeof(n->addr), "%s:%lld", adv,
	    (long long)c->port_server);
	if ((r = parse_peers(n, eb)) < 0)
		goto fail;
	n->c_proposed = daemon_counter(d, "raft.proposed");
	n->c_applied = daemon_counter(d, "raft.applied");
	n->c_forwarded = daemon_counter(d, "raft.forwarded");
	n->c_persist_errors = daemon_counter(d, "raft.persist_errors");
	n->c_reads = daemon_counter(d, "raft.reads");
	n->c_snapshots = daemon_counter(d, "raft.snapshots");
	n->c_snap_installed = daemon_counter(d, "raft.snapshots_installed");
	n->in_fd = -1;
	if (!c->server)
		return client_init(n, eb);
	snprintf(n->snap_path, sizeof(n->snap_path), "%s/raft/snapshot.mdb",
	    c->data_dir);
	snprintf(n->in_path, sizeof(n->in_path), "%s/raft/incoming.mdb",
	    c->data_dir);
	snprintf(n->meta_path, sizeof(n->meta_path), "%s/raft/incoming.meta",
	    c->data_dir);
	snprintf(n->restore_path, sizeof(n->restore_path),
	    "%s/raft/restore.mdb", c->data_dir);

	if ((r = store_open(&n->st, c->data_dir, NULL, eb)) < 0)
		goto fail;
	saver_init(&n->saver);
	{
		char ev[PATH_MAX];

		snprintf(ev, sizeof(ev), "%s/raftd.events", c->run_dir);
		if ((r = ipc_pub_open(ev, &n->pub, eb)) < 0)
			goto fail;
	}
	memset(&o, 0, sizeof(o));
	o.id = n->id;
	/* raft_multiplier 1..10 scales Consul's timings; 5 (the default)
	 * gives a 1-2 s election timeout and a 100 ms heartbeat */
	o.election_ticks = (unsigned)(2 * c->raft_multiplier);
	o.heartbeat_ticks = 1;
	o.pre_vote = true;
	o.check_quorum = true;
	o.seed = n->id ^ (uint64_t)ev_time();
	n->raft = raft_new(&o);
	if (n->raft == NULL) {
		r = errbuf_set(eb, -ENOMEM, "raft: cannot create");
		goto fail;
	}
	if ((r = load_state(n, eb)) < 0)
		goto fail;
	load_session_clocks(n);
	{
		char dir[PATH_MAX];

		snprintf(dir, sizeof(dir), "%s/raft/exports", c->data_dir);
		if ((r = exports_open(n->loop, n->st, dir, c->datacenter,
			 export_done, n, &n->exp, eb)) < 0)
			goto fail;
	}
	wan_open(n->loop, c->datacenter, c->node_name, transport_recv, n,
	    &n->wan);
	if ((r = transport_open(n->loop, c->bind_addr, (int)c->port_server,
		 n->id, c->datacenter, transport_recv, n, &n->tr, eb)) < 0)
		goto fail;
	transport_set_self_addr(n->tr, n->addr);
	for (size_t i = 0; i < n->npeers; i++)
		transport_set_peer(n->tr, n->peers[i].id, n->peers[i].addr);
	sync_peers(n);
	if ((r = gossip_open(n, eb)) < 0)
		log_warnx("raft: gossip: %s", eb->msg); /* raft_peers only */
	n->last_role = raft_role(n->raft);
	log_info("raft: server %016llx at %s, %zu known peer(s)",
	    (unsigned long long)n->id, n->addr, n->npeers);

	ipc_server_on(d->rpc, IPC_RAFT_APPLY, ipc_apply_handler, n);
	ipc_server_on(d->rpc, IPC_KV_READ, ipc_apply_handler, n);
	ipc_server_on(d->rpc, IPC_RAFT_STATE, ipc_state_handler, n);
	ipc_server_on(d->rpc, IPC_RAFT_CLUSTER_STATE, ipc_state_handler, n);
	ipc_server_on(d->rpc, IPC_RAFT_REMOVE_PEER, ipc_apply_handler, n);
	ipc_server_on(d->rpc, IPC_SESSION_READ, ipc_apply_handler, n);
	ipc_server_on(d->rpc, IPC_CATALOG_READ, ipc_apply_handler, n);
	ipc_server_on(d->rpc, IPC_TXN_READ, ipc_apply_handler, n);
	ipc_server_on(d->rpc, IPC_SESSION_RENEW, ipc_apply_handler, n);
	ipc_server_on(d->rpc, IPC_SNAPSHOT_SAVE, ipc_apply_handler, n);
	ipc_server_on(d->rpc, IPC_SNAPSHOT_READ, ipc_apply_handler, n);
	ipc_server_on(d->rpc, IPC_DC_FORWARD, ipc_apply_handler, n);
	ipc_server_on(d->rpc, IPC_DC_LIST, ipc_apply_handler, n);
	ipc_server_on(d->rpc, IPC_QUERY_READ, ipc_apply_handler, n);
	ipc_server_on(d->rpc, IPC_QUERY_EXECUTE, ipc_apply_handler, n);

	ev_timer_init(&n->tick_w, tick_cb, NODE_TICK_S, NODE_TICK_S);
	n->tick_w.data = n;
	ev_timer_start(n->loop, &n->tick_w);
	ev_prepare_init(&n->prep_w, prepare_cb);
	n->prep_w.data = n;
	ev_prepare_start(n->loop, &n->prep_w);
	maybe_bootstrap(n);
	d->priv = n;
	return 0;
fail:
	exports_close(n->exp);
	wan_close(n->wan);
	ipc_pub_close(n->pub);
	transport_close(n->tr);
	raft_free(n->raft);
	saver_close(&n->saver);
	store_close(n->st);
	sessions_free(n->sess);
	free(n->peers);
	free(n);
	return r;
}

static void
stop_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct node *n = w->data;

	(void)loop;
	(void)revents;
	daemon_stopped(n->d);
}

void
node_stop(struct daemon *d)
{
	struct node *n = d->priv;

	if (n == NULL || n->raft == NULL || raft_role(n->raft) != RAFT_LEADER ||
	    n->stalled || raft_get_config(n->raft)->n < 2) {
		daemon_stopped(d);
		return;
	}
	/* hand leadership over first so the cluster does not wait for an
	 * election timeout (thesis 3.10) */
	if (raft_transfer_leadership(n->raft, RAFT_NONE) == 0)
		log_info("raft: transferring leadership before stopping");
	ev_timer_init(&n->stop_w, stop_timer_cb, STOP_TRANSFER_S, 0);
	n->stop_w.data = n;
	ev_timer_start(n->loop, &n->stop_w);
}

void
node_close(struct daemon *d)
{
	struct node *n = d->priv;

	if (n == NULL)
		return;
	ev_timer_stop(n->loop, &n->tick_w);
	if (n->raft != NULL) {
		ev_timer_stop(n->loop, &n->stop_w);
		ev_prepare_stop(n->loop, &n->prep_w);
	}
	while (n->jobs != NULL)
		job_error(n->jobs, -ESHUTDOWN, "raftd is stopping");
	for (size_t i = 0; i < n->nstreams; i++)
		if (n->streams[i].active)
			stream_end(&n->streams[i]);
	free(n->streams);
	transport_close(n->tr);
	ipc_pub_close(n->pub);
	ipc_sub_close(n->gevents);
	ipc_client_close(n->gossipd);
	if (n->in_fd >= 0)
		close(n->in_fd);
	exports_close(n->exp);
	wan_close(n->wan);
	raft_free(n->raft);
	saver_close(&n->saver);
	store_close(n->st);
	sessions_free(n->sess);
	free(n->peers);
	free(n);
	d->priv = NULL;
}

void
node_status(struct daemon *d, struct ipc_status *st)
{
	struct node *n = d->priv;

	if (n == NULL || n->raft == NULL)
		return;
	daemon_status_info(st, "raft.state", "%s",
	    raft_role_name(raft_role(n->raft)));
	daemon_status_info(st, "raft.term", "%llu",
	    (unsigned long long)raft_term(n->raft));
	daemon_status_info(st, "raft.commit_index", "%llu",
	    (unsigned long long)raft_commit_index(n->raft));
	daemon_status_info(st, "raft.applied_index", "%llu",
	    (unsigned long long)raft_applied_index(n->raft));
	daemon_status_info(st, "raft.last_log_index", "%llu",
	    (unsigned long long)raft_last_index(n->raft));
	daemon_status_info(st, "raft.num_peers", "%zu",
	    raft_get_config(n->raft)->n ? raft_get_config(n->raft)->n - 1
					: 0);
	daemon_status_info(st, "raft.leader", "%016llx",
	    (unsigned long long)raft_leader(n->raft));
	daemon_status_info(st, "raft.stalled", "%s",
	    n->stalled ? "true" : "false");
}
