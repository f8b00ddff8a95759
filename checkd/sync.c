/* sync.c - anti-entropy: keep this node's catalog entries in raftd equal
 * to checkd's local state.  Changes are pushed as they happen (partial
 * sync); a full sync compares the catalog with local state on start, every
 * minute times a cluster-size factor (with jitter) and after errors, and
 * removes catalog entries for this node that checkd does not know. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "buf.h"
#include "codec.h"
#include "ipc_msg.h"
#include "local.h"
#include "log.h"
#include "rexec.h"
#include "xmalloc.h"

#define SYNC_TIMEOUT_MS 15000
#define SYNC_MAX_IN_FLIGHT 64
#define SYNC_RETRY_S 15.0
#define SYNC_BASE_S 60.0

/* one catalog write in flight */
struct sync_op {
	struct checkd *cd;
	bool dereg;
	char *service_id, *check_id; /* what it was about */
	uint64_t gen;		     /* the service's or node check's */
	size_t nchecks;
	char **check_ids;	     /* a service's checks sent with it */
	uint64_t *check_gens;
};

static void partial_sync(struct checkd *cd);

static void
op_free(struct sync_op *op)
{
	size_t i;

	for (i = 0; i < op->nchecks; i++)
		free(op->check_ids[i]);
	free(op->check_ids);
	free(op->check_gens);
	free(op->service_id);
	free(op->check_id);
	free(op);
}

static void
count_bytes(struct checkd *cd, const struct ipc_raft_cmd *cmd)
{
	struct buf b;

	buf_init(&b);
	cdc_encode(&b, &ipc_raft_cmd_desc, cmd);
	*cd->c_sync_bytes += b.len;
	(*cd->c_sync_ops)++;
	buf_free(&b);
}

/* retry_later - a full sync after a failure: 0.5 s at first (the agent is
 * starting: no leader yet, gossip not up), doubling to Consul's 15 s */
static void
retry_later(struct checkd *cd)
{
	(*cd->c_sync_errors)++;
	cd->retry_s = cd->retry_s == 0 ? 0.5 : cd->retry_s * 2;
	if (cd->retry_s > SYNC_RETRY_S)
		cd->retry_s = SYNC_RETRY_S;
	if (!ev_is_active(&cd->full_w) ||
	    ev_timer_remaining(cd->loop, &cd->full_w) > cd->retry_s)
		sync_full_soon(cd, cd->retry_s);
}

static void
op_done(int status, void *body, const char *errmsg, void *arg)
{
	struct sync_op *op = arg;
	struct checkd *cd = op->cd;
	struct ipc_raft_result *res = body;
	bool ok = status == 0 && res->ok;
	size_t i;

	cd->in_flight--;
	if (!ok) {
		const struct ipc_txn_error *e = status == 0 && res->errors.n
		    ? res->errors.v : NULL;

		log_warnx("catalog sync of %s%s failed: %s",
		    op->service_id ? "service " : "check ",
		    op->service_id ? op->service_id : op->check_id,
		    status < 0 ? (errmsg ? errmsg : "error")
		    : e && e->what ? e->what : "refused");
		retry_later(cd);
	}
	if (op->dereg) {
		struct tomb **pp, *t;

		for (pp = &cd->tombs; (t = *pp) != NULL; pp = &t->next) {
			if (!t->in_flight ||
			    !(op->service_id ? t->service_id &&
			    strcmp(t->service_id, op->service_id) == 0
			    : t->check_id && strcmp(t->check_id,
			    op->check_id) == 0))
				continue;
			t->in_flight = false;
			if (ok) {
				*pp = t->next;
				free(t->service_id);
				free(t->check_id);
				free(t);
			}
			break;
		}
	} else if (op->service_id) {
		struct lservice *s = local_service(cd, op->service_id);

		if (s != NULL && s->sent_gen == op->gen) {
			s->sent_gen = 0;
			if (ok)
				s->synced_gen = op->gen;
		}
		for (i = 0; i < op->nchecks; i++) {
			struct lcheck *c = local_check(cd, op->check_ids[i]);

			if (c != NULL && c->sent_gen == op->check_gens[i]) {
				c->sent_gen = 0;
				if (ok) {
					c->synced_gen = op->check_gens[i];
					c->last_sync = mono_now();
				}
			}
		}
		if (ok)
			cd->node_in_catalog = true;
	} else {
		struct lcheck *c = local_check(cd, op->check_id);

		if (c != NULL && c->sent_gen == op->gen) {
			c->sent_gen = 0;
			if (ok) {
				c->synced_gen = op->gen;
				c->last_sync = mono_now();
			}
		}
		if (ok)
			cd->node_in_catalog = true;
	}
	op_free(op);
	if (ok)
		sync_kick(cd);
}

static void
fill_node(struct checkd *cd, struct ipc_raft_cmd *cmd)
{
	const struct cfg_map *m = &cd->conf->node_meta;
	size_t i;

	cmd->cnode.node = cd->node;
	cmd->cnode.id = cd->node_id ? cd->node_id : (char *)"";
	cmd->cnode.address = cd->address;
	cmd->cnode.datacenter = cd->conf->datacenter;
	cmd->cnode.meta.n = m->n;
	cmd->cnode.meta.v = m->n ? xcalloc(m->n, sizeof(char *)) : NULL;
	for (i = 0; i < m->n; i++)
		cmd->cnode.meta.v[i] = xasprintf("%s=%s", m->keys[i],
		    m->vals[i]);
	/* the leader registers the node from gossip; before the catalog has
	 * it, this registration creates it */
	cmd->skip_node_update = cd->node_in_catalog;
}

static void
free_node(struct ipc_raft_cmd *cmd)
{
	size_t i;

	for (i = 0; i < cmd->cnode.meta.n; i++)
		free(cmd->cnode.meta.v[i]);
	free(cmd->cnode.meta.v);
}

static void
send_op(struct checkd *cd, struct ipc_raft_cmd *cmd, struct sync_op *op)
{
	cmd->client_id = cd->client_id;
	cmd->seq = ++cd->seq;
	count_bytes(cd, cmd);
	cd->in_flight++;
	if (cd->raftd == NULL || ipc_call(cd->raftd, IPC_RAFT_APPLY, cmd,
	    SYNC_TIMEOUT_MS, op_done, op) < 0)
		op_done(-EAGAIN, NULL, "raftd unreachable", op);
}

static void
send_dereg(struct checkd *cd, struct tomb *t)
{
	struct ipc_raft_cmd cmd;
	struct sync_op *op = xcalloc(1, sizeof(*op));

	memset(&cmd, 0, sizeof(cmd));
	cmd.op = RAFT_OP_CATALOG_DEREGISTER;
	cmd.key = cd->node;
	cmd.csvc.id = t->service_id;
	cmd.ccheck.check_id = t->check_id;
	op->cd = cd;
	op->dereg = true;
	op->service_id = t->service_id ? xstrdup(t->service_id) : NULL;
	op->check_id = t->check_id ? xstrdup(t->check_id) : NULL;
	t->in_flight = true;
	send_op(cd, &cmd, op);
}

/* send_service - the service with all its checks, in one registration */
static void
send_service(struct checkd *cd, struct lservice *s)
{
	struct ipc_raft_cmd cmd;
	struct sync_op *op = xcalloc(1, sizeof(*op));
	struct ipc_check *cks;
	size_t n = s->ntmp, i;

	memset(&cmd, 0, sizeof(cmd));
	cmd.op = RAFT_OP_CATALOG_REGISTER;
	fill_node(cd, &cmd);
	local_fill_service(cd, s, &cmd.csvc);
	cks = xcalloc(n + 1, sizeof(*cks));
	op->cd = cd;
	op->service_id = xstrdup(s->def.id);
	op->gen = s->gen;
	op->check_ids = xcalloc(n + 1, sizeof(char *));
	op->check_gens = xcalloc(n + 1, sizeof(uint64_t));
	/* s->tmp: its checks, gathered by partial_sync */
	for (i = 0; i < n; i++) {
		struct lcheck *c = s->tmp[i];

		local_fill_check(cd, c, &cks[op->nchecks]);
		/* the catalog does not keep the definition's timing */
		free(cks[op->nchecks].interval);
		free(cks[op->nchecks].timeout);
		cks[op->nchecks].interval = cks[op->nchecks].timeout = NULL;
		op->check_ids[op->nchecks] = xstrdup(c->def.cid);
		op->check_gens[op->nchecks] = c->gen;
		c->sent_gen = c->gen;
		op->nchecks++;
	}
	cmd.cchecks.v = cks;
	cmd.cchecks.n = op->nchecks;
	s->sent_gen = s->gen;
	send_op(cd, &cmd, op);
	free(cks);
	local_fill_free(&cmd.csvc, NULL);
	free_node(&cmd);
}

static void
send_node_check(struct checkd *cd, struct lcheck *c)
{
	struct ipc_raft_cmd cmd;
	struct sync_op *op = xcalloc(1, sizeof(*op));

	memset(&cmd, 0, sizeof(cmd));
	cmd.op = RAFT_OP_CATALOG_REGISTER;
	fill_node(cd, &cmd);
	local_fill_check(cd, c, &cmd.ccheck);
	local_fill_free(NULL, &cmd.ccheck);
	cmd.ccheck.interval = cmd.ccheck.timeout = NULL;
	op->cd = cd;
	op->check_id = xstrdup(c->def.cid);
	op->gen = c->gen;
	c->sent_gen = c->gen;
	send_op(cd, &cmd, op);
	free_node(&cmd);
}

static bool
dirty(uint64_t gen, uint64_t synced, uint64_t sent)
{
	return gen != synced && gen != sent;
}

static void
partial_sync(struct checkd *cd)
{
	struct lservice *s;
	struct lcheck *c;
	struct tomb *t;

	if (cd->address == NULL) {
		/* the node's address comes with the first full sync */
		if (!cd->full_running && !ev_is_active(&cd->full_w))
			sync_full_soon(cd, 0.);
		return;
	}
	for (t = cd->tombs; t != NULL; t = t->next) {
		if (cd->in_flight >= SYNC_MAX_IN_FLIGHT)
			return;
		if (!t->in_flight)
			send_dereg(cd, t);
	}
	/* each service's checks, in one pass over the checks */
	for (s = cd->services; s != NULL; s = s->next) {
		s->ntmp = 0;
		s->tmp_dirty = false;
	}
	for (c = cd->checks; c != NULL; c = c->next) {
		if (c->def.service_id == NULL || *c->def.service_id == '\0' ||
		    (s = local_service(cd, c->def.service_id)) == NULL)
			continue;
		if (s->ntmp == s->tmpcap) {
			s->tmpcap = s->tmpcap ? s->tmpcap * 2 : 4;
			s->tmp = xreallocarray(s->tmp, s->tmpcap,
			    sizeof(*s->tmp));
		}
		s->tmp[s->ntmp++] = c;
		if (dirty(c->gen, c->synced_gen, c->sent_gen))
			s->tmp_dirty = true;
	}
	for (s = cd->services; s != NULL; s = s->next) {
		if (cd->in_flight >= SYNC_MAX_IN_FLIGHT)
			return;
		if (s->sent_gen != 0)
			continue; /* wait for the one in flight */
		if (dirty(s->gen, s->synced_gen, s->sent_gen) || s->tmp_dirty)
			send_service(cd, s);
	}
	for (c = cd->checks; c != NULL; c = c->next) {
		if (cd->in_flight >= SYNC_MAX_IN_FLIGHT)
			return;
		if ((c->def.service_id == NULL || *c->def.service_id == '\0') &&
		    c->sent_gen == 0 && dirty(c->gen, c->synced_gen,
		    c->sent_gen))
			send_node_check(cd, c);
	}
}

static void
sync_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	partial_sync(w->data);
}

void
sync_kick(struct checkd *cd)
{
	/* a few ms: registrations arriving together go out together */
	if (!ev_is_active(&cd->sync_w)) {
		ev_timer_set(&cd->sync_w, 0.005, 0.);
		ev_timer_start(cd->loop, &cd->sync_w);
	}
}

void
sync_tomb(struct checkd *cd, const char *service_id, const char *check_id)
{
	struct tomb *t;

	for (t = cd->tombs; t != NULL; t = t->next)
		if (!t->in_flight && ((service_id && t->service_id &&
		    strcmp(service_id, t->service_id) == 0) ||
		    (check_id && t->check_id &&
		    strcmp(check_id, t->check_id) == 0)))
			return;
	t = xcalloc(1, sizeof(*t));
	t->service_id = service_id ? xstrdup(service_id) : NULL;
	t->check_id = check_id ? xstrdup(check_id) : NULL;
	t->next = cd->tombs;
	cd->tombs = t;
	sync_kick(cd);
}

/* ------------------------------------------------------------- full sync */

static bool
str_eq(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

static bool
list_eq(const struct cdc_strlist *a, char **v, size_t n)
{
	size_t i;

	if (a->n != n)
		return false;
	for (i = 0; i < n; i++)
		if (!str_eq(a->v[i], v[i]))
			return false;
	return true;
}

static bool
service_same(struct checkd *cd, const struct lservice *s,
    const struct ipc_service *r)
{
	struct ipc_service l;
	bool same;

	local_fill_service(cd, s, &l);
	same = str_eq(l.service, r->service) && str_eq(l.address, r->address) &&
	    l.port == r->port && str_eq(l.kind, r->kind) &&
	    l.enable_tag_override == r->enable_tag_override &&
	    (l.weight_passing ? l.weight_passing : 1) ==
	    (r->weight_passing ? r->weight_passing : 1) &&
	    (l.weight_warning ? l.weight_warning : 1) ==
	    (r->weight_warning ? r->weight_warning : 1) &&
	    list_eq(&l.meta, r->meta.v, r->meta.n) &&
	    /* EnableTagOverride: tags edited in the catalog stay */
	    (l.enable_tag_override || list_eq(&l.tags, r->tags.v, r->tags.n));
	local_fill_free(&l, NULL);
	return same;
}

static bool
check_same(const struct lcheck *c, const struct ipc_check *r)
{
	return str_eq(c->status, r->status) && str_eq(c->def.name, r->name) &&
	    str_eq(c->def.notes, r->notes) &&
	    str_eq(c->def.service_id, r->service_id) &&
	    (c->output_due != 0 || str_eq(c->output, r->output));
}

struct full {
	struct checkd *cd;
	struct ipc_catalog_reply svcs; /* a copy of the first read */
	bool have_svcs;
};

static void
full_end(struct checkd *cd, bool ok)
{
	double intv;
	size_t n = cd->cluster_size ? cd->cluster_size : 1;

	cd->full_running = false;
	if (!ok) {
		retry_later(cd);
		return;
	}
	(*cd->c_full_syncs)++;
	cd->retry_s = 0;
	/* Consul: 1 minute up to 128 nodes, one more per doubling */
	intv = SYNC_BASE_S;
	if (n > 128)
		intv *= ceil(log2((double)n) - log2(128.)) + 1;
	sync_full_soon(cd, intv + intv * ((double)random() / RAND_MAX) / 16);
	partial_sync(cd);
}

static void
full_checks_done(int status, void *body, const char *errmsg, void *arg)
{
	struct full *f = arg;
	struct checkd *cd = f->cd;
	struct ipc_catalog_reply *rep = body;
	const struct ipc_service *rs;
	const struct ipc_check *rc;
	struct lservice *s;
	struct lcheck *c;
	size_t i;

	if (status < 0) {
		log_warnx("full sync: reading the catalog: %s",
		    errmsg ? errmsg : "error");
		cdc_free(&ipc_catalog_reply_desc, &f->svcs);
		free(f);
		full_end(cd, false);
		return;
	}
	rs = f->svcs.services.v;
	for (s = cd->services; s != NULL; s = s->next)
		s->synced_gen = 0;
	for (i = 0; i < f->svcs.services.n; i++) {
		/* the consul service of servers is raftd's (as in Consul) */
		if (rs[i].id != NULL && strcmp(rs[i].id, "consul") == 0)
			continue;
		s = local_service(cd, rs[i].id);
		if (s == NULL)
			sync_tomb(cd, rs[i].id, NULL);
		else if (service_same(cd, s, &rs[i]))
			s->synced_gen = s->gen;
	}
	rc = rep->checks.v;
	/* nothing at all for this node (not even serfHealth): the node is
	 * not in the catalog, so the next registration carries it */
	if (rep->checks.n == 0 && f->svcs.services.n == 0)
		cd->node_in_catalog = false;
	for (c = cd->checks; c != NULL; c = c->next)
		c->synced_gen = 0;
	for (i = 0; i < rep->checks.n; i++) {
		if (strcmp(rc[i].check_id, "serfHealth") == 0 ||
		    (rc[i].service_id && strcmp(rc[i].service_id,
		    "consul") == 0))
			continue; /* the leader's, from gossip */
		c = local_check(cd, rc[i].check_id);
		if (c == NULL) {
			/* a service's checks go with the service */
			if (rc[i].service_id == NULL || *rc[i].service_id ==
			    '\0' || local_service(cd, rc[i].service_id))
				sync_tomb(cd, NULL, rc[i].check_id);
		} else if (check_same(c, &rc[i])) {
			c->synced_gen = c->gen;
		}
	}
	cdc_free(&ipc_catalog_reply_desc, &f->svcs);
	free(f);
	full_end(cd, true);
}

static void
full_svcs_done(int status, void *body, const char *errmsg, void *arg)
{
	struct full *f = arg;
	struct checkd *cd = f->cd;
	struct ipc_catalog_read q;

	if (status < 0) {
		log_warnx("full sync: reading the catalog: %s",
		    errmsg ? errmsg : "error");
		free(f);
		full_end(cd, false);
		return;
	}
	/* keep the reply: it is borrowed only during this callback */
	f->svcs = *(struct ipc_catalog_reply *)body;
	memset(body, 0, sizeof(struct ipc_catalog_reply));
	memset(&q, 0, sizeof(q));
	q.what = "checks";
	q.node = cd->node;
	if (ipc_call(cd->raftd, IPC_CATALOG_READ, &q, SYNC_TIMEOUT_MS,
	    full_checks_done, f) < 0) {
		cdc_free(&ipc_catalog_reply_desc, &f->svcs);
		free(f);
		full_end(cd, false);
	}
}

static void
members_done(int status, void *body, const char *errmsg, void *arg)
{
	struct checkd *cd = arg;
	struct ipc_members *rep = body;
	const struct ipc_member *m;
	struct ipc_catalog_read q;
	struct full *f;
	size_t i, j, alive = 0;

	if (status < 0) {
		log_warnx("full sync: asking gossipd for this node: %s",
		    errmsg ? errmsg : "error");
		full_end(cd, false);
		return;
	}
	m = rep->members.v;
	for (i = 0; i < rep->members.n; i++) {
		if (m[i].status == GOSSIP_ALIVE)
			alive++;
		if (strcmp(m[i].name, cd->node) != 0)
			continue;
		free(cd->address);
		cd->address = xstrdup(m[i].addr ? m[i].addr : "");
		for (j = 0; j < m[i].tags.n; j++) {
			if (strncmp(m[i].tags.v[j], "id=", 3) == 0) {
				free(cd->node_id);
				cd->node_id = xstrdup(m[i].tags.v[j] + 3);
			}
		}
	}
	cd->cluster_size = alive;
	if (cd->address == NULL) {
		log_warnx("full sync: gossipd does not list this node yet");
		full_end(cd, false);
		return;
	}
	f = xcalloc(1, sizeof(*f));
	f->cd = cd;
	memset(&q, 0, sizeof(q));
	q.what = "services";
	q.node = cd->node;
	if (ipc_call(cd->raftd, IPC_CATALOG_READ, &q, SYNC_TIMEOUT_MS,
	    full_svcs_done, f) < 0) {
		free(f);
		full_end(cd, false);
	}
}

static void
full_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct checkd *cd = w->data;
	struct ipc_pool_req q = {false};
	struct lcheck *c;

	(void)loop;
	(void)revents;
	if (cd->full_running || cd->raftd == NULL || cd->gossipd == NULL)
		return;
	cd->full_running = true;
	/* events may have been missed: refresh remote aliases too */
	for (c = cd->checks; c != NULL; c = c->next)
		if (c->def.kind == CK_ALIAS)
			sync_alias_read(cd, c);
	if (ipc_call(cd->gossipd, IPC_GOSSIP_MEMBERS, &q, SYNC_TIMEOUT_MS,
	    members_done, cd) < 0)
		full_end(cd, false);
}

void
sync_full_soon(struct checkd *cd, double after_s)
{
	ev_timer_stop(cd->loop, &cd->full_w);
	ev_timer_set(&cd->full_w, after_s, 0.);
	ev_timer_start(cd->loop, &cd->full_w);
}

/* ----------------------------------------------------------------- alias */

struct alias_rd {
	struct checkd *cd;
	char *check_id;
};

static void
alias_done(int status, void *body, const char *errmsg, void *arg)
{
	struct alias_rd *ar = arg;
	struct checkd *cd = ar->cd;
	struct ipc_catalog_reply *rep = body;
	struct lcheck *a = local_check(cd, ar->check_id);
	const char *node, *svc;
	struct alias_agg g = {PROBE_PASSING, NULL, 0};
	bool found;
	char out[512];
	size_t i;

	if (a == NULL || a->def.kind != CK_ALIAS || status < 0) {
		if (status < 0)
			log_debug("alias %s: %s", ar->check_id,
			    errmsg ? errmsg : "error");
		goto out;
	}
	node = a->def.alias_node && *a->def.alias_node ? a->def.alias_node
						       : cd->node;
	svc = a->def.alias_service;
	found = svc == NULL || *svc == '\0';
	for (i = 0; i < rep->services.n; i++) {
		const struct ipc_service *s = (struct ipc_service *)
		    rep->services.v + i;

		if (str_eq(s->node, node) && !found)
			found = str_eq(s->id, svc);
	}
	if (!found) {
		local_alias_result(cd, ar->check_id, PROBE_CRITICAL,
		    "Service not found");
		goto out;
	}
	for (i = 0; i < rep->checks.n; i++) {
		const struct ipc_check *c = (struct ipc_check *)rep->checks.v +
		    i;

		if (!str_eq(c->node, node))
			continue;
		if (svc && *svc && c->service_id && *c->service_id &&
		    !str_eq(c->service_id, svc))
			continue;
		alias_add(&g, c->status, c->check_id);
	}
	alias_output(&g, out, sizeof(out));
	local_alias_result(cd, ar->check_id, g.worst, out);
out:
	free(ar->check_id);
	free(ar);
}

void
sync_alias_read(struct checkd *cd, struct lcheck *a)
{
	struct ipc_catalog_read q;
	struct alias_rd *ar;
	const char *node;

	if (a->def.alias_node == NULL || *a->def.alias_node == '\0' ||
	    strcmp(a->def.alias_node, cd->node) == 0)
		return; /* local: evaluated from local state */
	node = a->def.alias_node;
	ar = xcalloc(1, sizeof(*ar));
	ar->cd = cd;
	ar->check_id = xstrdup(a->def.cid);
	memset(&q, 0, sizeof(q));
	q.mode = RAFT_READ_STALE;
	if (a->def.alias_service && *a->def.alias_service) {
		q.what = "service";
		q.service = a->def.alias_service;
	} else {
		q.what = "checks";
		q.node = (char *)node;
	}
	if (ipc_call(cd->raftd, IPC_CATALOG_READ, &q, SYNC_TIMEOUT_MS,
	    alias_done, ar) < 0) {
		free(ar->check_id);
		free(ar);
	}
}

static void
alias_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct checkd *cd = w->data;
	struct lcheck *c;

	(void)loop;
	(void)revents;
	for (c = cd->checks; c != NULL; c = c->next)
		if (c->def.kind == CK_ALIAS)
			sync_alias_read(cd, c);
}

static void
on_change(uint16_t type, void *body, void *arg)
{
	struct checkd *cd = arg;
	struct ipc_change *ch = body;
	struct lcheck *c;
	bool any = false;

	if (type != IPC_EV_CHANGE || ch->table == NULL)
		return;
	rexec_change(cd, ch);
	/* this node registered again or deregistered (a failed node reaped,
	 * a catalog edit): compare in full soon instead of within a minute */
	if (strcmp(ch->table, "nodes") == 0 && ch->key != NULL &&
	    strcmp(ch->key, cd->node) == 0 && !cd->full_running &&
	    (!ev_is_active(&cd->full_w) ||
	    ev_timer_remaining(cd->loop, &cd->full_w) > 1.0))
		sync_full_soon(cd, 1.0);
	if ((strcmp(ch->table, "checks") != 0 &&
	    strcmp(ch->table, "services") != 0 &&
	    strcmp(ch->table, "nodes") != 0))
		return;
	for (c = cd->checks; c != NULL && !any; c = c->next)
		if (c->def.kind == CK_ALIAS && c->def.alias_node &&
		    *c->def.alias_node && strcmp(c->def.alias_node,
		    cd->node) != 0)
			any = true;
	if (any && !ev_is_active(&cd->alias_w)) {
		ev_timer_set(&cd->alias_w, 0.05, 0.);
		ev_timer_start(cd->loop, &cd->alias_w);
	}
}

/* ------------------------------------------------------------------ setup */

void
sync_init(struct checkd *cd)
{
	char path[512];
	struct errbuf eb;
	int r;

	ev_timer_init(&cd->sync_w, sync_cb, 0., 0.);
	cd->sync_w.data = cd;
	ev_timer_init(&cd->full_w, full_cb, 0., 0.);
	cd->full_w.data = cd;
	ev_timer_init(&cd->alias_w, alias_cb, 0., 0.);
	cd->alias_w.data = cd;
	while (cd->client_id == 0)
		cd->client_id = ((uint64_t)random() << 32) ^ (uint64_t)random();
	if (ipc_socket_path(path, sizeof(path), cd->conf->run_dir, "raftd") ==
	    0 && (r = ipc_client_open(cd->loop, path, &cd->raftd, &eb)) < 0)
		log_warnx("raftd: %s", eb.msg);
	if (ipc_socket_path(path, sizeof(path), cd->conf->run_dir,
	    "gossipd") == 0 && (r = ipc_client_open(cd->loop, path,
	    &cd->gossipd, &eb)) < 0)
		log_warnx("gossipd: %s", eb.msg);
	snprintf(path, sizeof(path), "%s/raftd.events", cd->conf->run_dir);
	if ((r = ipc_sub_open(cd->loop, path, on_change, cd, &cd->events,
	    &eb)) < 0)
		log_warnx("raftd.events: %s", eb.msg);
}

void
sync_close(struct checkd *cd)
{
	/* pending calls complete with -ECANCELED first (they may restart
	 * timers), then the timers stop */
	ipc_sub_close(cd->events);
	ipc_client_close(cd->raftd);
	ipc_client_close(cd->gossipd);
	cd->events = NULL;
	cd->raftd = cd->gossipd = NULL;
	ev_timer_stop(cd->loop, &cd->sync_w);
	ev_timer_stop(cd->loop, &cd->full_w);
	ev_timer_stop(cd->loop, &cd->alias_w);
}
