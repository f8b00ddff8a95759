/* wan.c - routes to the other datacenters (see wan.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "node.h"
#include "raft/raft.h"
#include "vivaldi.h"
#include "wan.h"
#include "xmalloc.h"

#define DC_NAME_MAX 64

struct wan_server {
	uint64_t id;
	char name[128]; /* "node.dc" */
	char addr[RAFT_ADDR_LEN];
	struct viv_coord coord;
	bool has_coord;
	bool alive;
	bool seen; /* in the last full list */
};

struct wan_dc {
	char name[DC_NAME_MAX];
	struct transport *tr; /* NULL for the local datacenter */
	struct wan_server *s;
	size_t n;
};

struct wan {
	struct ev_loop *loop;
	char local[DC_NAME_MAX];
	uint64_t self_id; /* how the other datacenters' servers see us */
	transport_recv_fn fn;
	void *arg;
	struct viv_coord self;
	bool has_self;
	struct wan_dc *dcs;
	size_t ndcs;
};

int
wan_open(struct ev_loop *loop, const char *local_dc, const char *node_name,
    transport_recv_fn fn, void *arg, struct wan **out)
{
	struct wan *w = xcalloc(1, sizeof(*w));
	char id[256];

	w->loop = loop;
	snprintf(w->local, sizeof(w->local), "%s", local_dc);
	snprintf(id, sizeof(id), "%s.%s", node_name, local_dc);
	w->self_id = node_id_of(id);
	w->fn = fn;
	w->arg = arg;
	*out = w;
	return 0;
}

void
wan_close(struct wan *w)
{
	size_t i;

	if (w == NULL)
		return;
	for (i = 0; i < w->ndcs; i++) {
		transport_close(w->dcs[i].tr);
		free(w->dcs[i].s);
	}
	free(w->dcs);
	free(w);
}

static const char *
tag(const struct ipc_member *m, const char *k)
{
	size_t i, kl = strlen(k);

	for (i = 0; i < m->tags.n; i++)
		if (strncmp(m->tags.v[i], k, kl) == 0 && m->tags.v[i][kl] == '=')
			return m->tags.v[i] + kl + 1;
	return NULL;
}

static struct wan_dc *
dc_get(struct wan *w, const char *name, bool create)
{
	struct wan_dc *d;
	size_t i;

	for (i = 0; i < w->ndcs; i++)
		if (strcmp(w->dcs[i].name, name) == 0)
			return &w->dcs[i];
	if (!create || strlen(name) >= DC_NAME_MAX || *name == '\0')
		return NULL;
	w->dcs = xreallocarray(w->dcs, w->ndcs + 1, sizeof(*w->dcs));
	d = &w->dcs[w->ndcs++];
	memset(d, 0, sizeof(*d));
	snprintf(d->name, sizeof(d->name), "%s", name);
	log_info("wan: datacenter %s discovered", name);
	return d;
}

/* dc_transport - the datacenter's transport, opened on first use */
static struct transport *
dc_transport(struct wan *w, struct wan_dc *d)
{
	struct errbuf eb;
	size_t i;

	if (d->tr != NULL || strcmp(d->name, w->local) == 0)
		return d->tr;
	if (transport_open_client(w->loop, w->self_id, d->name, w->fn, w->arg,
		&d->tr, &eb) < 0) {
		log_warnx("wan: datacenter %s: %s", d->name, eb.msg);
		return NULL;
	}
	for (i = 0; i < d->n; i++)
		transport_set_peer(d->tr, d->s[i].id, d->s[i].addr);
	return d->tr;
}

void
wan_member(struct wan *w, const struct ipc_member *m)
{
	const char *role = tag(m, "role"), *dcn = tag(m, "dc");
	const char *port = tag(m, "port");
	struct wan_server *s = NULL;
	struct wan_dc *d;
	char addr[RAFT_ADDR_LEN];
	struct viv_coord c;
	size_t i;

	if (m->name == NULL || m->addr == NULL || role == NULL ||
	    strcmp(role, "consul") != 0 || dcn == NULL || port == NULL ||
	    strlen(m->name) >= sizeof(s->name))
		return;
	if ((d = dc_get(w, dcn, true)) == NULL)
		return;
	snprintf(addr, sizeof(addr), "%s:%s", m->addr, port);
	for (i = 0; i < d->n; i++)
		if (strcmp(d->s[i].name, m->name) == 0)
			s = &d->s[i];
	if (m->status == GOSSIP_LEFT || m->status == 0) {
		/* gone for good: forget it */
		if (s != NULL) {
			log_info("wan: server %s left", s->name);
			if (d->tr != NULL)
				transport_set_peer(d->tr, s->id, NULL);
			*s = d->s[--d->n];
		}
		return;
	}
	if (s == NULL) {
		d->s = xreallocarray(d->s, d->n + 1, sizeof(*d->s));
		s = &d->s[d->n++];
		memset(s, 0, sizeof(*s));
		snprintf(s->name, sizeof(s->name), "%s", m->name);
		s->id = node_id_of(m->name);
		log_info("wan: server %s of %s at %s", s->name, d->name, addr);
	}
	if (strcmp(s->addr, addr) != 0) {
		snprintf(s->addr, sizeof(s->addr), "%s", addr);
		if (d->tr != NULL)
			transport_set_peer(d->tr, s->id, s->addr);
	}
	s->alive = m->status == GOSSIP_ALIVE || m->status == GOSSIP_LEAVING;
	s->seen = true;
	if (m->coord.n > 0 && viv_decode(m->coord.p, m->coord.n, &c) == 0 &&
	    viv_valid(&c)) {
		s->coord = c;
		s->has_coord = true;
	}
}

void
wan_members(struct wan *w, const struct ipc_members *ms)
{
	const struct ipc_member *m = ms->members.v;
	struct viv_coord c;
	size_t i, j;

	if (ms->members.n > 0 && m[0].coord.n > 0 &&
	    viv_decode(m[0].coord.p, m[0].coord.n, &c) == 0 && viv_valid(&c)) {
		w->self = c;
		w->has_self = true;
	}
	for (i = 0; i < w->ndcs; i++)
		for (j = 0; j < w->dcs[i].n; j++)
			w->dcs[i].s[j].seen = false;
	for (i = 0; i < ms->members.n; i++)
		wan_member(w, &m[i]);
	/* reaped by gossip: no longer a member at all */
	for (i = 0; i < w->ndcs; i++) {
		struct wan_dc *d = &w->dcs[i];

		for (j = 0; j < d->n;) {
			if (d->s[j].seen) {
				j++;
				continue;
			}
			if (d->tr != NULL)
				transport_set_peer(d->tr, d->s[j].id, NULL);
			d->s[j] = d->s[--d->n];
		}
	}
}

bool
wan_known(const struct wan *w, const char *dc)
{
	size_t i;

	for (i = 0; i < w->ndcs; i++)
		if (strcmp(w->dcs[i].name, dc) == 0)
			return true;
	return false;
}

/* rtt - the estimated RTT to s; servers without a coordinate come after
 * those with one */
static double
rtt(const struct wan *w, const struct wan_server *s)
{
	if (!w->has_self || !s->has_coord)
		return 1e9;
	return viv_distance(&w->self, &s->coord);
}

uint64_t
wan_pick(struct wan *w, const char *dc, unsigned attempt, unsigned *nalive)
{
	struct wan_dc *d = dc_get(w, dc, false);
	const struct wan_server **order;
	size_t i, k = 0, a, b;
	uint64_t id = 0;

	if (nalive != NULL)
		*nalive = 0;
	if (d == NULL || d->n == 0)
		return 0;
	order = xcalloc(d->n, sizeof(*order));
	for (i = 0; i < d->n; i++)
		if (d->s[i].alive)
			order[k++] = &d->s[i];
	/* insertion sort by RTT, then name: a handful of servers */
	for (a = 1; a < k; a++)
		for (b = a; b > 0; b--) {
			double x = rtt(w, order[b - 1]), y = rtt(w, order[b]);
			const struct wan_server *t;

			if (x < y || (x == y && strcmp(order[b - 1]->name,
						   order[b]->name) <= 0))
				break;
			t = order[b - 1];
			order[b - 1] = order[b];
			order[b] = t;
		}
	if (nalive != NULL)
		*nalive = (unsigned)k;
	if (k > 0 && attempt < k && dc_transport(w, d) != NULL)
		id = order[attempt]->id;
	free(order);
	return id;
}

int
wan_send(struct wan *w, const char *dc, uint64_t id, uint8_t kind,
    const void *payload, size_t len)
{
	struct wan_dc *d = dc_get(w, dc, false);
	struct transport *t;

	if (d == NULL || (t = dc_transport(w, d)) == NULL)
		return -ENOENT;
	return transport_send(t, id, kind, payload, len);
}

const char *
wan_server_name(const struct wan *w, uint64_t id)
{
	size_t i, j;

	for (i = 0; i < w->ndcs; i++)
		for (j = 0; j < w->dcs[i].n; j++)
			if (w->dcs[i].s[j].id == id)
				return w->dcs[i].s[j].name;
	return NULL;
}

struct dc_rank {
	const char *name;
	double rtt;
};

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int
cmp_rank(const void *a, const void *b)
{
	const struct dc_rank *x = a, *y = b;

	if (x->rtt != y->rtt)
		return x->rtt < y->rtt ? -1 : 1;
	return strcmp(x->name, y->name);
}

char **
wan_datacenters(struct wan *w)
{
	struct dc_rank *r = xcalloc(w->ndcs + 1, sizeof(*r));
	char **out;
	size_t i, j, k = 0;
	bool have_local = false;

	for (i = 0; i < w->ndcs; i++) {
		struct wan_dc *d = &w->dcs[i];
		double *v = xcalloc(d->n + 1, sizeof(*v));
		size_t m = 0;

		for (j = 0; j < d->n; j++)
			if (w->has_self && d->s[j].has_coord)
				v[m++] = rtt(w, &d->s[j]);
		qsort(v, m, sizeof(*v), cmp_double);
		r[k].name = d->name;
		/* Consul's median: the middle one, the lower of two */
		r[k].rtt = m ? v[(m - 1) / 2] : 1e9;
		if (strcmp(d->name, w->local) == 0) {
			r[k].rtt = 0; /* ours: always first */
			have_local = true;
		}
		k++;
		free(v);
	}
	if (!have_local) {
		r[k].name = w->local;
		r[k].rtt = 0;
		k++;
	}
	qsort(r, k, sizeof(*r), cmp_rank);
	out = xcalloc(k + 1, sizeof(*out));
	for (i = 0; i < k; i++)
		out[i] = xstrdup(r[i].name);
	free(r);
	return out;
}

void
wan_names_free(char **names)
{
	size_t i;

	for (i = 0; names != NULL && names[i] != NULL; i++)
		free(names[i]);
	free(names);
}
