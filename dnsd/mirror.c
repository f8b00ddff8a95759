/* mirror.c - dnsd's indexed copy of the catalog. */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "codec.h"
#include "mirror.h"
#include "xmalloc.h"

static char *
lower(const char *s)
{
	char *l = xstrdup(s ? s : "");
	char *p;

	for (p = l; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return l;
}

void
mirror_parse_addr(const char *text, struct maddr *a)
{
	memset(a, 0, sizeof(*a));
	a->text = text ? text : "";
	if (inet_pton(AF_INET, a->text, a->ip) == 1)
		a->family = AF_INET;
	else if (inet_pton(AF_INET6, a->text, a->ip) == 1)
		a->family = AF_INET6;
}

static int
health_of(const char *status)
{
	if (status && strcmp(status, "passing") == 0)
		return H_PASSING;
	if (status && strcmp(status, "warning") == 0)
		return H_WARNING;
	return H_CRITICAL;
}

static int
cmp_node(const void *a, const void *b)
{
	return strcmp(((const struct mnode *)a)->lname,
	    ((const struct mnode *)b)->lname);
}

static int
cmp_inst(const void *a, const void *b)
{
	const struct minst *x = a, *y = b;
	int c = strcmp(x->lservice, y->lservice);

	if (c == 0)
		c = strcmp(x->node->lname, y->node->lname);
	if (c == 0)
		c = strcmp(x->id, y->id);
	return c;
}

static int
cmp_svc_check(const void *a, const void *b)
{
	const struct ipc_check *x = *(const struct ipc_check *const *)a;
	const struct ipc_check *y = *(const struct ipc_check *const *)b;
	int c = strcmp(x->node ? x->node : "", y->node ? y->node : "");

	return c ? c : strcmp(x->service_id, y->service_id);
}

static struct mnode *
find_node(struct mirror *m, const char *name)
{
	struct mnode key;
	char *l = lower(name);
	struct mnode *n;

	key.lname = l;
	n = bsearch(&key, m->nodes, m->nnodes, sizeof(*m->nodes), cmp_node);
	free(l);
	return n;
}

struct mirror *
mirror_build(struct ipc_catalog_reply *rep)
{
	struct mirror *m = xcalloc(1, sizeof(*m));
	const struct ipc_node *nd;
	const struct ipc_service *sv;
	const struct ipc_check *ck;
	const struct ipc_check **sc;
	size_t i, k, nsc = 0;

	m->rep = *rep;
	memset(rep, 0, sizeof(*rep));
	m->index = m->rep.index;
	nd = m->rep.nodes.v;
	m->nodes = xcalloc(m->rep.nodes.n + 1, sizeof(*m->nodes));
	for (i = 0; i < m->rep.nodes.n; i++) {
		struct mnode *n = &m->nodes[m->nnodes++];

		n->name = nd[i].node ? nd[i].node : "";
		n->lname = lower(n->name);
		mirror_parse_addr(nd[i].address, &n->addr);
		n->meta = nd[i].meta.v;
		n->nmeta = nd[i].meta.n;
	}
	qsort(m->nodes, m->nnodes, sizeof(*m->nodes), cmp_node);
	/* node checks make the node's health */
	ck = m->rep.checks.v;
	for (i = 0; i < m->rep.checks.n; i++) {
		struct mnode *n;
		int h;

		if (ck[i].service_id && *ck[i].service_id)
			continue;
		if ((n = find_node(m, ck[i].node)) == NULL)
			continue;
		h = health_of(ck[i].status);
		if (h > n->health)
			n->health = h;
	}
	/* service checks, sorted by (node, service ID) */
	sc = xcalloc(m->rep.checks.n + 1, sizeof(*sc));
	for (i = 0; i < m->rep.checks.n; i++)
		if (ck[i].service_id && *ck[i].service_id)
			sc[nsc++] = &ck[i];
	qsort(sc, nsc, sizeof(*sc), cmp_svc_check);
	sv = m->rep.services.v;
	m->insts = xcalloc(m->rep.services.n + 1, sizeof(*m->insts));
	for (i = 0; i < m->rep.services.n; i++) {
		struct mnode *n = find_node(m, sv[i].node);
		struct minst *in;

		if (n == NULL)
			continue;
		in = &m->insts[m->ninsts++];
		in->node = n;
		in->lservice = lower(sv[i].service);
		in->id = sv[i].id ? sv[i].id : "";
		in->ntags = sv[i].tags.n;
		in->ltags = xcalloc(in->ntags + 1, sizeof(char *));
		for (k = 0; k < in->ntags; k++)
			in->ltags[k] = lower(sv[i].tags.v[k]);
		in->port = (uint16_t)sv[i].port;
		if (sv[i].address && *sv[i].address) {
			mirror_parse_addr(sv[i].address, &in->addr);
			in->own_addr = strcmp(sv[i].address,
			    n->addr.text) != 0;
		} else {
			in->addr = n->addr;
		}
		in->health = n->health;
		in->w_passing = sv[i].weight_passing ? sv[i].weight_passing : 1;
		in->w_warning = sv[i].weight_warning ? sv[i].weight_warning : 1;
		/* the service's own checks */
		{
			struct ipc_check key, *kp = &key;
			const struct ipc_check **hit;

			memset(&key, 0, sizeof(key));
			key.node = (char *)n->name;
			key.service_id = (char *)in->id;
			hit = nsc ? bsearch(&kp, sc, nsc, sizeof(*sc),
			    cmp_svc_check) : NULL;
			while (hit != NULL && hit > sc &&
			    cmp_svc_check(hit - 1, &kp) == 0)
				hit--;
			for (; hit != NULL && hit < sc + nsc &&
			    cmp_svc_check(hit, &kp) == 0; hit++) {
				int h = health_of((*hit)->status);

				if (h > in->health)
					in->health = h;
			}
		}
	}
	free(sc);
	qsort(m->insts, m->ninsts, sizeof(*m->insts), cmp_inst);
	return m;
}

void
mirror_free(struct mirror *m)
{
	size_t i, k;

	if (m == NULL)
		return;
	for (i = 0; i < m->nnodes; i++)
		free(m->nodes[i].lname);
	for (i = 0; i < m->ninsts; i++) {
		free(m->insts[i].lservice);
		for (k = 0; k < m->insts[i].ntags; k++)
			free(m->insts[i].ltags[k]);
		free(m->insts[i].ltags);
	}
	free(m->nodes);
	free(m->insts);
	cdc_free(&ipc_catalog_reply_desc, &m->rep);
	free(m);
}

const struct mnode *
mirror_node(const struct mirror *m, const char *lname)
{
	struct mnode key;

	key.lname = (char *)lname;
	return bsearch(&key, m->nodes, m->nnodes, sizeof(*m->nodes), cmp_node);
}

size_t
mirror_service(const struct mirror *m, const char *lservice,
    const struct minst **first)
{
	size_t lo = 0, hi = m->ninsts, n = 0;

	/* the first instance of the service (lower bound) */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(m->insts[mid].lservice, lservice) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	while (lo + n < m->ninsts && strcmp(m->insts[lo + n].lservice,
	    lservice) == 0)
		n++;
	*first = n ? &m->insts[lo] : NULL;
	return n;
}
