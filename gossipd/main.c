/* main.c - cairn-gossipd: gossip membership (SWIM) of the LAN pool and, on servers, the WAN pool; user events; keyring. */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


#include "buf.h"
#include "crypt.h"
#include "daemon.h"
#include "ipc_msg.h"
#include "log.h"
#include "net.h"
#include "pool.h"
#include "uuid.h"
#include "xmalloc.h"

#define EVENTS_KEPT 256
#define LEAVE_PROPAGATE_S 1.0
#define MAX_TAGS 24
/* internal user event: a keyring change for every member ("op key") */
#define KEYRING_EVENT "_cairn-keyring"
/* Consul's remote exec event (checkd runs it) */
#define REXEC_EVENT "_rexec"

struct gossipd;

/* an IPC join waiting for its addresses' outcomes */
struct join_req {
	struct gossipd *g;
	struct ipc_req *req;
	size_t pending;
	struct ipc_join_reply rep;
	bool retry; /* a -retry-join attempt, not an IPC request */
	bool wan;
};

struct gossipd {
	struct daemon *d;
	struct pool *lan, *wan;
	struct keyring keys_lan, keys_wan;
	char keyring_lan[PATH_MAX], keyring_wan[PATH_MAX];
	char snapshot[PATH_MAX], left_marker[PATH_MAX];
	struct ipc_pub *pub;
	char *tags[MAX_TAGS];
	size_t ntags;
	/* user events seen, newest last (a ring) */
	struct ipc_user_event events[EVENTS_KEPT];
	size_t nevents, ev_head;
	/* -retry-join */
	ev_timer retry_w, retry_wan_w, leave_w;
	int64_t retries, retries_wan;
	bool joined_lan, joined_wan;
	struct ipc_req *leave_req;
	bool leaving;
	uint64_t *c_events, *c_joins;
};

static struct gossipd G;

/* --------------------------------------------------------------- members */

static void
to_ipc_member(struct gossipd *g, const struct swim_member *m, bool wan,
    bool self, struct ipc_member *out)
{
	const char *colon = strrchr(m->addr, ':');

	memset(out, 0, sizeof(*out));
	out->name = m->name;
	out->addr = colon ? xstrndup(m->addr, (size_t)(colon - m->addr))
			  : xstrdup(m->addr);
	out->port = colon ? (uint32_t)atoi(colon + 1) : 0;
	out->tags = m->tags;
	out->wan = wan;
	switch (m->state) {
	case SWIM_STATE_ALIVE:
	case SWIM_STATE_SUSPECT:
		out->status = self && g->leaving ? GOSSIP_LEAVING : GOSSIP_ALIVE;
		break;
	case SWIM_STATE_DEAD:
		out->status = GOSSIP_FAILED;
		break;
	case SWIM_STATE_LEFT:
		out->status = GOSSIP_LEFT;
		break;
	}
}

static void
members_handler(struct ipc_req *req, void *arg)
{
	struct gossipd *g = arg;
	struct ipc_pool_req *q = req->body;
	struct pool *p = q->wan ? g->wan : g->lan;
	const struct swim_member *ms;
	struct ipc_members rep;
	struct ipc_member *arr;
	uint8_t *coords;
	size_t i, n;

	if (p == NULL) {
		ipc_reply_error(req, -ENOENT,
		    "this agent is not in the WAN pool (not a server)");
		return;
	}
	n = swim_members(pool_swim(p), &ms);
	arr = xcalloc(n ? n : 1, sizeof(*arr));
	coords = xcalloc(n ? n : 1, VIV_WIRE_LEN);
	for (i = 0; i < n; i++) {
		const struct viv_coord *c = i == 0 ? swim_coord(pool_swim(p))
			: ms[i].has_coord ? &ms[i].coord : NULL;

		to_ipc_member(g, &ms[i], q->wan, i == 0, &arr[i]);
		if (c != NULL) {
			viv_encode(c, coords + i * VIV_WIRE_LEN);
			arr[i].coord.p = coords + i * VIV_WIRE_LEN;
			arr[i].coord.n = VIV_WIRE_LEN;
		}
	}
	rep.members.v = arr;
	rep.members.n = n;
	ipc_reply(req, &rep);
	for (i = 0; i < n; i++)
		free(arr[i].addr);
	free(arr);
	free(coords);
}

/* save_snapshot - the addresses of alive members, to rejoin after a
 * restart (Serf's snapshot) */
static void
save_snapshot(struct gossipd *g)
{
	const struct swim_member *ms;
	char tmp[PATH_MAX + 8];
	size_t i, n;
	FILE *f;

	if (g->lan == NULL)
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp", g->snapshot);
	if ((f = fopen(tmp, "w")) == NULL)
		return;
	n = swim_members(pool_swim(g->lan), &ms);
	for (i = 1; i < n; i++)
		if (ms[i].state == SWIM_STATE_ALIVE ||
		    ms[i].state == SWIM_STATE_SUSPECT)
			fprintf(f, "%s\n", ms[i].addr);
	if (fclose(f) == 0)
		rename(tmp, g->snapshot);
	else
		unlink(tmp);
}

static void
user_event_in(struct gossipd *g, const struct swim_event *e);
static void set_pool_tags(struct gossipd *g, bool wan);
static void
keyring_event_in(struct gossipd *g, bool wan, const struct swim_event *e);

static void
flood_done(struct pool *p, const char *addr, const char *err, void *arg)
{
	(void)p;
	(void)arg;
	if (err != NULL)
		log_debug("serf: WAN flood join of %s: %s", addr, err);
}

/* flood_join - a server that joined the LAN joins the WAN too (Consul's
 * flood joiner): through its wan_join_port tag */
static void
flood_join(struct gossipd *g, const char *node)
{
	const struct swim_member *m = swim_member(pool_swim(g->lan), node);
	const char *role = NULL, *port = NULL, *colon;
	char wname[300], addr[96];
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < m->tags.n; i++) {
		if (strncmp(m->tags.v[i], "role=", 5) == 0)
			role = m->tags.v[i] + 5;
		else if (strncmp(m->tags.v[i], "wan_join_port=", 14) == 0)
			port = m->tags.v[i] + 14;
	}
	if (role == NULL || strcmp(role, "consul") != 0 || port == NULL)
		return;
	snprintf(wname, sizeof(wname), "%s.%s", node, g->d->conf.datacenter);
	if (swim_member(pool_swim(g->wan), wname) != NULL)
		return;
	colon = strrchr(m->addr, ':');
	snprintf(addr, sizeof(addr), "%.*s:%s",
	    colon ? (int)(colon - m->addr) : (int)strlen(m->addr), m->addr,
	    port);
	pool_join(g->wan, addr, flood_done, g);
}

static void
on_pool_event(struct pool *p, const struct swim_event *e, void *arg)
{
	struct gossipd *g = arg;
	bool wan = p == g->wan;
	const struct swim_member *m;
	struct ipc_member im;
	static const char *const what[] = {"", "joined", "updated", "failed",
	    "left", "reaped", "", "suspect"};

	if (e->type == SWIM_EV_USER) {
		if (e->name && strcmp(e->name, KEYRING_EVENT) == 0)
			keyring_event_in(g, wan, e);
		else if (!wan)
			user_event_in(g, e);
		return;
	}
	if (e->type == SWIM_EV_SUSPECT) {
		log_info("memberlist: %s: suspect %s", pool_label(p), e->node);
		return;
	}
	log_info("serf: %s: member %s %s", pool_label(p), e->node,
	    what[e->type]);
	if (!wan && e->type == SWIM_EV_JOIN && g->wan != NULL)
		flood_join(g, e->node);
	if (!wan && (e->type == SWIM_EV_JOIN || e->type == SWIM_EV_LEFT ||
			e->type == SWIM_EV_FAILED || e->type == SWIM_EV_REAP))
		save_snapshot(g);
	if (g->pub == NULL)
		return;
	m = swim_member(pool_swim(p), e->node);
	if (m != NULL) {
		to_ipc_member(g, m, wan, false, &im);
	} else {
		memset(&im, 0, sizeof(im));
		im.name = e->node;
		im.wan = wan;
		im.addr = xstrdup("");
	}
	if (e->type == SWIM_EV_REAP)
		im.status = 0;
	ipc_publish(g->pub, IPC_EV_MEMBER, &im);
	free(im.addr);
}

/* ----------------------------------------------------------------- joins */

static void
join_finish(struct join_req *j)
{
	struct gossipd *g = j->g;
	size_t i;

	if (j->retry) {
		if (j->rep.joined > 0) {
			log_info("agent: retry join%s: joined %u member(s)",
			    j->wan ? " (WAN)" : "", j->rep.joined);
			if (j->wan)
				g->joined_wan = true;
			else
				g->joined_lan = true;
		} else {
			for (i = 0; i < j->rep.errors.n; i++)
				log_warnx("agent: join%s failed: %s",
				    j->wan ? " (WAN)" : "",
				    j->rep.errors.v[i]);
		}
	} else if (j->req != NULL) {
		(*g->c_joins)++;
		ipc_reply(j->req, &j->rep);
	}
	for (i = 0; i < j->rep.errors.n; i++)
		free(j->rep.errors.v[i]);
	free(j->rep.errors.v);
	free(j);
}

static void
join_cb(struct pool *p, const char *addr, const char *err, void *arg)
{
	struct join_req *j = arg;

	(void)p;
	if (err == NULL) {
		j->rep.joined++;
	} else {
		char msg[256];

		snprintf(msg, sizeof(msg), "%s: %s", addr, err);
		j->rep.errors.v = xreallocarray(j->rep.errors.v,
		    j->rep.errors.n + 1, sizeof(char *));
		j->rep.errors.v[j->rep.errors.n++] = xstrdup(msg);
	}
	if (--j->pending == 0)
		join_finish(j);
}

static void
join_start(struct gossipd *g, struct ipc_req *req,
    const struct cdc_strlist *addrs, bool wan, bool retry)
{
	struct pool *p = wan ? g->wan : g->lan;
	struct join_req *j = xcalloc(1, sizeof(*j));
	size_t i;

	j->g = g;
	j->req = req;
	j->retry = retry;
	j->wan = wan;
	if (p == NULL || addrs->n == 0) {
		j->pending = 1;
		join_cb(NULL, "", p == NULL ? "no WAN pool (not a server)"
					    : "no address given",
		    j);
		return;
	}
	j->pending = addrs->n + 1; /* +1: held until every join started */
	for (i = 0; i < addrs->n; i++)
		pool_join(p, addrs->v[i], join_cb, j);
	if (--j->pending == 0)
		join_finish(j);
}

static void
join_handler(struct ipc_req *req, void *arg)
{
	struct ipc_join *q = req->body;

	join_start(arg, req, &q->addrs, q->wan, false);
}

static void
retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct gossipd *g = w->data;
	const struct cairn_conf *c = &g->d->conf;
	bool wan = w == &g->retry_wan_w;
	int64_t *n = wan ? &g->retries_wan : &g->retries;
	int64_t max = wan ? c->retry_max_wan : c->retry_max;

	(void)loop;
	(void)revents;
	if ((wan ? g->joined_wan : g->joined_lan) || g->leaving) {
		ev_timer_stop(g->d->loop, w);
		return;
	}
	if (max > 0 && *n >= max) {
		log_errorx("agent: max join %sretry exhausted (%" PRId64
			   " attempts)",
		    wan ? "WAN " : "", max);
		ev_timer_stop(g->d->loop, w);
		return;
	}
	(*n)++;
	join_start(g, NULL, wan ? &c->retry_join_wan : &c->retry_join, wan,
	    true);
}

/* rejoin - join the members known before a restart, unless this agent
 * left on purpose (rejoin_after_leave overrides) */
static void
rejoin(struct gossipd *g)
{
	struct cdc_strlist l = {NULL, 0};
	char line[128];
	FILE *f;

	if (access(g->left_marker, F_OK) == 0 &&
	    !g->d->conf.rejoin_after_leave) {
		log_info("serf: left the cluster last time; not rejoining "
			 "(set rejoin_after_leave to change this)");
		return;
	}
	if ((f = fopen(g->snapshot, "r")) == NULL)
		return;
	while (l.n < 64 && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (*line == '\0')
			continue;
		l.v = xreallocarray(l.v, l.n + 1, sizeof(char *));
		l.v[l.n++] = xstrdup(line);
	}
	fclose(f);
	if (l.n > 0) {
		log_info("serf: attempting to rejoin %zu known member(s)", l.n);
		join_start(g, NULL, &l, false, true);
	}
	while (l.n > 0)
		free(l.v[--l.n]);
	free(l.v);
}

/* ----------------------------------------------------------- leave */

static void
leave_done(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct gossipd *g = w->data;

	(void)loop;
	(void)revents;
	if (g->leave_req != NULL) {
		ipc_reply(g->leave_req, NULL);
		g->leave_req = NULL;
	}
	if (g->d->stopping)
		daemon_stopped(g->d);
}

static void
do_leave(struct gossipd *g)
{
	int fd;

	if (!g->leaving) {
		log_info("serf: leaving the cluster gracefully");
		g->leaving = true;
		if (g->lan)
			pool_leave(g->lan);
		if (g->wan)
			pool_leave(g->wan);
		fd = open(g->left_marker, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
		if (fd >= 0)
			close(fd);
	}
	/* give the broadcast a few gossip rounds before answering */
	ev_timer_stop(g->d->loop, &g->leave_w);
	ev_timer_set(&g->leave_w, LEAVE_PROPAGATE_S, 0);
	ev_timer_start(g->d->loop, &g->leave_w);
}

static void
leave_handler(struct ipc_req *req, void *arg)
{
	struct gossipd *g = arg;

	if (g->leave_req != NULL)
		ipc_reply(g->leave_req, NULL);
	g->leave_req = req;
	do_leave(g);
}

static void
force_leave_handler(struct ipc_req *req, void *arg)
{
	struct gossipd *g = arg;
	struct ipc_force_leave *q = req->body;
	struct pool *p = q->wan ? g->wan : g->lan;
	int r;

	if (p == NULL || q->node == NULL) {
		ipc_reply_error(req, -EINVAL, "no such pool or node");
		return;
	}
	r = pool_force_leave(p, q->node);
	if (r == -ENOENT)
		ipc_reply_error(req, r, "agent: No node found with name '%s'",
		    q->node);
	else if (r == -EINVAL)
		ipc_reply_error(req, r,
		    "node '%s' is not failed (only failed nodes can be "
		    "force-left)",
		    q->node);
	else
		ipc_reply(req, NULL);
}

/* --------------------------------------------------------- user events */


static bool
filter_ok(const char *re, const char *subject)
{
	regex_t rx;
	bool ok;

	if (re == NULL || *re == '\0')
		return true;
	if (regcomp(&rx, re, REG_EXTENDED | REG_NOSUB) != 0)
		return false;
	ok = regexec(&rx, subject, 0, NULL, 0) == 0;
	regfree(&rx);
	return ok;
}

static void
keep_event(struct gossipd *g, const struct ipc_user_event *ev)
{
	struct ipc_user_event *slot;
	struct buf b = BUF_INIT;

	slot = &g->events[(g->ev_head + g->nevents) % EVENTS_KEPT];
	if (g->nevents == EVENTS_KEPT) {
		cdc_free(&ipc_user_event_desc, slot);
		g->ev_head = (g->ev_head + 1) % EVENTS_KEPT;
	} else {
		g->nevents++;
	}
	cdc_encode(&b, &ipc_user_event_desc, ev);
	memset(slot, 0, sizeof(*slot));
	cdc_decode(&ipc_user_event_desc, b.data, b.len, slot, NULL);
	buf_free(&b);
	(*g->c_events)++;
	if (g->pub)
		ipc_publish(g->pub, IPC_EV_USER_EVENT, slot);
}

static void
user_event_in(struct gossipd *g, const struct swim_event *e)
{
	struct ipc_user_event ev;
	bool mine;

	memset(&ev, 0, sizeof(ev));
	if (cdc_decode(&ipc_user_event_desc, e->payload.p, e->payload.n, &ev,
		NULL) < 0 ||
	    ev.id == NULL) {
		log_debug("serf: undecodable user event %s dropped",
		    e->name ? e->name : "");
		return;
	}
	ev.ltime = e->ltime;
	/* Consul filters at the receiver: the node name, and services and
	 * tags of this agent (none are known to gossipd yet: a service
	 * filter does not match).  A remote exec event goes to checkd,
	 * which knows the services and applies the service and tag filters
	 * itself; as in Consul's agent, it stays out of the event list. */
	mine = filter_ok(ev.node_filter, g->d->conf.node_name);
	if (mine && ev.name != NULL && strcmp(ev.name, REXEC_EVENT) == 0) {
		if (g->pub != NULL)
			ipc_publish(g->pub, IPC_EV_USER_EVENT, &ev);
	} else if (mine && (ev.service_filter == NULL ||
	    *ev.service_filter == '\0')) {
		keep_event(g, &ev);
	}
	cdc_free(&ipc_user_event_desc, &ev);
}

static void
fire_handler(struct ipc_req *req, void *arg)
{
	struct gossipd *g = arg;
	struct ipc_user_event *q = req->body;
	struct ipc_user_event ev = *q;
	struct buf b = BUF_INIT;
	char id[37];
	int r;

	if (q->name == NULL || *q->name == '\0') {
		ipc_reply_error(req, -EINVAL, "Missing name");
		return;
	}
	if (uuid4(id) < 0) {
		ipc_reply_error(req, -EIO, "no randomness for an event ID");
		return;
	}
	ev.id = id;
	ev.version = 1;
	ev.ltime = 0;
	cdc_encode(&b, &ipc_user_event_desc, &ev);
	r = pool_user_event(g->lan, q->name, b.data, b.len);
	buf_free(&b);
	if (r == -EMSGSIZE) {
		ipc_reply_error(req, r,
		    "user event exceeds the size limit of 512 bytes");
		return;
	}
	if (r < 0) {
		ipc_reply_error(req, r, "%s", strerror(-r));
		return;
	}
	ev.ltime = swim_event_ltime(pool_swim(g->lan)) - 1;
	ipc_reply(req, &ev);
}

static void
list_handler(struct ipc_req *req, void *arg)
{
	struct gossipd *g = arg;
	struct ipc_event_list *q = req->body, rep;
	struct ipc_user_event *arr = xcalloc(EVENTS_KEPT, sizeof(*arr));
	size_t i, n = 0;

	for (i = 0; i < g->nevents; i++) {
		const struct ipc_user_event *e =
		    &g->events[(g->ev_head + i) % EVENTS_KEPT];

		if (q->name && *q->name && strcmp(q->name, e->name) != 0)
			continue;
		arr[n++] = *e;
	}
	memset(&rep, 0, sizeof(rep));
	rep.events.v = arr;
	rep.events.n = n;
	ipc_reply(req, &rep);
	free(arr);
}

/* ------------------------------------------------------------- keyring */

static void
keyring_handler(struct ipc_req *req, void *arg)
{
	struct gossipd *g = arg;
	struct ipc_keyring *q = req->body;
	struct keyring *k = q->wan ? &g->keys_wan : &g->keys_lan;
	const char *path = q->wan ? g->keyring_wan : g->keyring_lan;
	struct ipc_keyring_reply rep;
	struct ipc_kv *kv;
	struct errbuf eb;
	char *counts;
	size_t i;
	int r = 0;

	if (q->op == NULL || strcmp(q->op, "list") != 0) {
		if (k->n == 0) {
			ipc_reply_error(req, -EINVAL,
			    "gossip encryption is not enabled on this agent");
			return;
		}
		if (q->op && strcmp(q->op, "install") == 0)
			r = keyring_install(k, q->key, &eb);
		else if (q->op && strcmp(q->op, "use") == 0)
			r = keyring_use(k, q->key, &eb);
		else if (q->op && strcmp(q->op, "remove") == 0)
			r = keyring_remove(k, q->key, &eb);
		else
			r = errbuf_set(&eb, -EINVAL, "unknown keyring operation");
		if (r == 0)
			r = keyring_save(k, path, &eb);
		if (r < 0) {
			ipc_reply_error(req, r, "%s", eb.msg);
			return;
		}
		set_pool_tags(g, q->wan);
		{
			/* and on every member of the pool (sealed with the
			 * keys they share, so only members can do this) */
			struct pool *p = q->wan ? g->wan : g->lan;
			char ev[160];

			snprintf(ev, sizeof(ev), "%s %s", q->op, q->key);
			if (p != NULL)
				pool_user_event(p, KEYRING_EVENT, ev,
				    strlen(ev));
		}
	}
	memset(&rep, 0, sizeof(rep));
	kv = xcalloc(k->n ? k->n : 1, sizeof(*kv));
	counts = xcalloc(k->n ? k->n : 1, 16);
	for (i = 0; i < k->n; i++) {
		const struct swim_member *ms;
		size_t nm, j, t;
		unsigned used = 0;
		char fp[17];

		keyring_fingerprint(k, i, fp);
		/* members using the key: those whose "keys" tag lists it */
		nm = swim_members(pool_swim(q->wan && g->wan ? g->wan : g->lan),
		    &ms);
		for (j = 0; j < nm; j++) {
			if (ms[j].state != SWIM_STATE_ALIVE &&
			    ms[j].state != SWIM_STATE_SUSPECT)
				continue;
			for (t = 0; t < ms[j].tags.n; t++)
				if (strncmp(ms[j].tags.v[t], "keys=", 5) == 0 &&
				    strstr(ms[j].tags.v[t] + 5, fp) != NULL)
					used++;
		}
		snprintf(counts + 16 * i, 16, "%u", used);
		kv[i].key = keyring_key_b64(k, i);
		kv[i].value = counts + 16 * i;
	}
	rep.keys.v = kv;
	rep.keys.n = k->n;
	rep.num_nodes = (uint32_t)swim_num_alive(
	    pool_swim(q->wan && g->wan ? g->wan : g->lan));
	rep.primary = k->n ? kv[0].key : NULL;
	ipc_reply(req, &rep);
	for (i = 0; i < k->n; i++)
		free(kv[i].key);
	free(kv);
	free(counts);
}

static void
keyring_event_in(struct gossipd *g, bool wan, const struct swim_event *e)
{
	struct keyring *k = wan ? &g->keys_wan : &g->keys_lan;
	const char *path = wan ? g->keyring_wan : g->keyring_lan;
	char op[16], key[100];
	struct errbuf eb;
	int r;

	if (e->payload.n == 0 || e->payload.n > 120 || k->n == 0)
		return;
	{
		char tmp[128];

		memcpy(tmp, e->payload.p, e->payload.n);
		tmp[e->payload.n] = '\0';
		if (sscanf(tmp, "%15s %99s", op, key) != 2)
			return;
	}
	if (strcmp(op, "install") == 0)
		r = keyring_install(k, key, &eb);
	else if (strcmp(op, "use") == 0)
		r = keyring_use(k, key, &eb);
	else if (strcmp(op, "remove") == 0)
		r = keyring_remove(k, key, &eb);
	else
		return;
	if (r == 0)
		r = keyring_save(k, path, &eb);
	if (r == 0)
		set_pool_tags(g, wan);
	if (r < 0)
		log_warnx("serf: %s keyring %s from the pool: %s",
		    wan ? "WAN" : "LAN", op, eb.msg);
	else
		log_info("serf: %s keyring: %s done for the pool",
		    wan ? "WAN" : "LAN", op);
}

/* ---------------------------------------------------------------- setup */

static void
add_tag(struct gossipd *g, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
add_tag(struct gossipd *g, const char *fmt, ...)
{
	char t[256];
	va_list ap;

	if (g->ntags >= MAX_TAGS)
		return;
	va_start(ap, fmt);
	vsnprintf(t, sizeof(t), fmt, ap);
	va_end(ap);
	g->tags[g->ntags++] = xstrdup(t);
}

/* make_tags - Consul's member tags */
static void
make_tags(struct gossipd *g)
{
	const struct cairn_conf *c = &g->d->conf;

	add_tag(g, "role=%s", c->server ? "consul" : "node");
	add_tag(g, "dc=%s", c->datacenter);
	add_tag(g, "segment=");
	add_tag(g, "id=%s", c->node_id ? c->node_id : "");
	add_tag(g, "vsn=2");
	add_tag(g, "vsn_min=2");
	add_tag(g, "vsn_max=3");
	add_tag(g, "build=1.9.0:cairn");
	if (c->server) {
		add_tag(g, "port=%lld", (long long)c->port_server);
		add_tag(g, "raft_vsn=3");
		if (c->bootstrap)
			add_tag(g, "bootstrap=1");
		if (c->bootstrap_expect > 0)
			add_tag(g, "expect=%lld",
			    (long long)c->bootstrap_expect);
		add_tag(g, "wan_join_port=%lld",
		    (long long)c->port_serf_wan);
	}
}

/* set_pool_tags - the agent's tags plus "keys": the fingerprints of the
 * pool's gossip keys, so a keyring listing counts who uses each */
static void
set_pool_tags(struct gossipd *g, bool wan)
{
	struct pool *p = wan ? g->wan : g->lan;
	const struct keyring *k = wan ? &g->keys_wan : &g->keys_lan;
	const char *tags[MAX_TAGS + 1];
	char keys[8 + KEYRING_MAX * 17];
	size_t i, n = 0, len;

	if (p == NULL)
		return;
	for (i = 0; i < g->ntags; i++)
		tags[n++] = g->tags[i];
	if (k->n > 0) {
		len = (size_t)snprintf(keys, sizeof(keys), "keys=");
		for (i = 0; i < k->n; i++) {
			char fp[17];

			keyring_fingerprint(k, i, fp);
			len += (size_t)snprintf(keys + len, sizeof(keys) - len,
			    "%s%s", i ? "," : "", fp);
		}
		tags[n++] = keys;
	}
	pool_set_tags(p, tags, n);
}

static int
setup_keys(struct gossipd *g, struct keyring *k, const char *path,
    struct errbuf *eb)
{
	const struct cairn_conf *c = &g->d->conf;
	int r;

	r = keyring_load(k, path, eb);
	if (r == 0) {
		if (c->encrypt && *c->encrypt)
			log_warnx("agent: loaded keyring from %s; the "
				  "'encrypt' setting is ignored",
			    path);
		return 0;
	}
	if (r != -ENOENT)
		return r;
	if (c->encrypt == NULL || *c->encrypt == '\0')
		return 0;
	if ((r = keyring_install(k, c->encrypt, eb)) < 0)
		return errbuf_set(eb, r, "encrypt: %s", eb->msg);
	return keyring_save(k, path, eb);
}

static int
open_pool(struct gossipd *g, bool wan, struct pool **out, struct errbuf *eb)
{
	const struct cairn_conf *c = &g->d->conf;
	struct pool_options o;
	char adv[64], advaddr[80], name[300];
	const char *bind = wan ? c->serf_wan_bind : c->serf_lan_bind;
	int r;

	if ((r = net_advertise_addr(c, adv, sizeof(adv), eb)) < 0)
		return r;
	if (wan && c->advertise_addr_wan && *c->advertise_addr_wan)
		snprintf(adv, sizeof(adv), "%s", c->advertise_addr_wan);
	memset(&o, 0, sizeof(o));
	o.label = wan ? "wan" : "lan";
	o.bind_ip = bind && *bind ? bind : c->bind_addr;
	o.port = (int)(wan ? c->port_serf_wan : c->port_serf_lan);
	snprintf(advaddr, sizeof(advaddr), "%s:%d", adv, o.port);
	o.advertise = advaddr;
	if (wan)
		snprintf(name, sizeof(name), "%s.%s", c->node_name,
		    c->datacenter);
	else
		snprintf(name, sizeof(name), "%s", c->node_name);
	o.name = name;
	o.keys = wan ? &g->keys_wan : &g->keys_lan;
	o.verify_incoming = c->encrypt_verify_incoming;
	if (wan) {
		/* memberlist's WAN defaults */
		o.swim.probe_interval = 5000;
		o.swim.probe_timeout = 3000;
		o.swim.gossip_interval = 500;
		o.swim.gossip_nodes = 4;
		o.swim.suspicion_mult = 6;
		o.swim.pushpull_interval = 60000;
	}
	o.swim.reap_after = c->reconnect_timeout_ms ? c->reconnect_timeout_ms
						    : 72ull * 3600 * 1000;
	o.on_event = on_pool_event;
	o.arg = g;
	if ((r = pool_open(g->d->loop, &o, out, eb)) < 0)
		return r;
	if (wan)
		g->wan = *out;
	else
		g->lan = *out;
	set_pool_tags(g, wan);
	log_info("serf: %s pool: %s at %s%s", o.label, name, advaddr,
	    o.keys->n ? " (encrypted)" : "");
	return 0;
}

static int
gossipd_init(struct daemon *d, struct errbuf *eb)
{
	const struct cairn_conf *c = &d->conf;
	struct gossipd *g = &G;
	char dir[PATH_MAX - 32], ev[PATH_MAX];
	int r;

	memset(g, 0, sizeof(*g));
	g->d = d;
	d->priv = g;
	g->c_events = daemon_counter(d, "gossip.user_events");
	g->c_joins = daemon_counter(d, "gossip.joins");
	if (strlen(c->data_dir) > PATH_MAX - 64)
		return errbuf_set(eb, -ENAMETOOLONG, "data_dir too long");
	snprintf(dir, PATH_MAX - 40, "%s/serf", c->data_dir);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return errbuf_set(eb, -errno, "%s: %s", dir, strerror(errno));
	snprintf(g->keyring_lan, sizeof(g->keyring_lan), "%s/local.keyring",
	    dir);
	snprintf(g->keyring_wan, sizeof(g->keyring_wan), "%s/remote.keyring",
	    dir);
	snprintf(g->snapshot, sizeof(g->snapshot), "%s/local.snapshot", dir);
	snprintf(g->left_marker, sizeof(g->left_marker), "%s/left", dir);
	if ((r = setup_keys(g, &g->keys_lan, g->keyring_lan, eb)) < 0)
		return r;
	if (c->server && (r = setup_keys(g, &g->keys_wan, g->keyring_wan,
			      eb)) < 0)
		return r;
	make_tags(g);
	if (c->port_serf_lan >= 0 && (r = open_pool(g, false, &g->lan, eb)) < 0)
		return r;
	if (c->server && c->port_serf_wan >= 0 &&
	    (r = open_pool(g, true, &g->wan, eb)) < 0) {
		pool_close(g->lan);
		g->lan = NULL;
		return r;
	}
	snprintf(ev, sizeof(ev), "%s/gossipd.events", c->run_dir);
	if ((r = ipc_pub_open(ev, &g->pub, eb)) < 0) {
		pool_close(g->lan);
		pool_close(g->wan);
		g->lan = g->wan = NULL;
		return r;
	}
	ipc_server_on(d->rpc, IPC_GOSSIP_MEMBERS, members_handler, g);
	ipc_server_on(d->rpc, IPC_GOSSIP_JOIN, join_handler, g);
	ipc_server_on(d->rpc, IPC_GOSSIP_LEAVE, leave_handler, g);
	ipc_server_on(d->rpc, IPC_GOSSIP_FORCE_LEAVE, force_leave_handler, g);
	ipc_server_on(d->rpc, IPC_GOSSIP_EVENT_FIRE, fire_handler, g);
	ipc_server_on(d->rpc, IPC_GOSSIP_EVENT_LIST, list_handler, g);
	ipc_server_on(d->rpc, IPC_GOSSIP_KEYRING, keyring_handler, g);
	ev_timer_init(&g->leave_w, leave_done, LEAVE_PROPAGATE_S, 0);
	g->leave_w.data = g;
	/* joins: -join now, -retry-join every retry_interval, the members
	 * known before a restart */
	if (g->lan && c->start_join.n > 0)
		join_start(g, NULL, &c->start_join, false, true);
	if (g->wan && c->start_join_wan.n > 0)
		join_start(g, NULL, &c->start_join_wan, true, true);
	ev_timer_init(&g->retry_w, retry_cb, 0.01,
	    (c->retry_interval_ms ? c->retry_interval_ms : 30000) / 1000.0);
	g->retry_w.data = g;
	if (g->lan && c->retry_join.n > 0)
		ev_timer_start(d->loop, &g->retry_w);
	ev_timer_init(&g->retry_wan_w, retry_cb, 0.01,
	    (c->retry_interval_wan_ms ? c->retry_interval_wan_ms : 30000) /
		1000.0);
	g->retry_wan_w.data = g;
	if (g->wan && c->retry_join_wan.n > 0)
		ev_timer_start(d->loop, &g->retry_wan_w);
	if (g->lan) {
		rejoin(g);
		unlink(g->left_marker);
	}
	return 0;
}

static void
gossipd_stop(struct daemon *d)
{
	struct gossipd *g = d->priv;
	const struct cairn_conf *c = &d->conf;
	/*
	 * SIGINT (what `cairn agent` sends when the whole agent stops, and ^C)
	 * is Consul's interrupt: clients leave, servers do not
	 * (skip_leave_on_interrupt).  SIGTERM alone is a restart of this
	 * component (systemctl restart cairn-gossipd): the node stays a
	 * member, and rejoins at once, unless leave_on_terminate says
	 * otherwise.
	 */
	bool leave = c->leave_on_terminate ||
	    (d->stop_signal == SIGINT && !c->server &&
	    !c->skip_leave_on_interrupt);

	if (g->leaving || (leave && g->lan != NULL)) {
		do_leave(g);
		return; /* leave_done calls daemon_stopped */
	}
	daemon_stopped(d);
}

static void
gossipd_close(struct daemon *d)
{
	struct gossipd *g = d->priv;
	size_t i;

	if (g == NULL)
		return;
	ev_timer_stop(d->loop, &g->retry_w);
	ev_timer_stop(d->loop, &g->retry_wan_w);
	ev_timer_stop(d->loop, &g->leave_w);
	if (g->leave_req)
		ipc_reply(g->leave_req, NULL);
	pool_close(g->lan);
	pool_close(g->wan);
	ipc_pub_close(g->pub);
	for (i = 0; i < g->ntags; i++)
		free(g->tags[i]);
	for (i = 0; i < g->nevents; i++)
		cdc_free(&ipc_user_event_desc,
		    &g->events[(g->ev_head + i) % EVENTS_KEPT]);
	memset(&g->keys_lan, 0, sizeof(g->keys_lan));
	memset(&g->keys_wan, 0, sizeof(g->keys_wan));
	d->priv = NULL;
}

static void
gossipd_status(struct daemon *d, struct ipc_status *st)
{
	struct gossipd *g = d->priv;
	const struct cairn_conf *c = &d->conf;

	daemon_status_info(st, "serf_lan.port", "%lld",
	    (long long)c->port_serf_lan);
	daemon_status_info(st, "serf_wan.port", "%lld",
	    (long long)c->port_serf_wan);
	daemon_status_info(st, "serf_lan.encrypted", "%s",
	    g && g->keys_lan.n ? "true" : "false");
	if (g && g->lan) {
		daemon_status_info(st, "serf_lan.members", "%zu",
		    swim_num_alive(pool_swim(g->lan)));
		daemon_status_info(st, "serf_lan.health_score", "%u",
		    swim_awareness(pool_swim(g->lan)));
		daemon_status_info(st, "serf_lan.event_time", "%" PRIu64,
		    swim_event_ltime(pool_swim(g->lan)));
		daemon_status_info(st, "serf_lan.bytes_sent", "%" PRIu64,
		    pool_bytes_sent(g->lan));
		daemon_status_info(st, "serf_lan.bad_packets", "%" PRIu64,
		    pool_bad_packets(g->lan));
	}
	if (g && g->wan)
		daemon_status_info(st, "serf_wan.members", "%zu",
		    swim_num_alive(pool_swim(g->wan)));
}

static const struct daemon_ops gossipd_ops = {
    .name = "gossipd",
    .summary = "cairn-gossipd: gossip membership (SWIM) of the LAN pool and, on servers, the WAN pool; user events; keyring.",
    .init = gossipd_init,
    .stop = gossipd_stop,
    .close = gossipd_close,
    .status = gossipd_status,
};

int
main(int argc, char **argv)
{
	return daemon_main(&gossipd_ops, NULL, argc, argv);
}
