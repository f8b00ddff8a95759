/* pquery.c - prepared queries: choice, templates, filtering. */
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "codec.h"
#include "pquery.h"
#include "xmalloc.h"

#define PQ_MAX_GROUPS 10
#define PQ_REGEXP_MAX 256
#define PQ_BOUND_MAX 100
#define PQ_BOUNDS_MAX 2
#define PQ_GROUP_QUANTS_MAX 4
#define S(x) ((x) != NULL ? (x) : "")

static bool
is_template(const struct ipc_pquery *q)
{
	return q->template_type != NULL && *q->template_type != '\0';
}

int
pq_choose(const struct ipc_pquery *qs, size_t n, const char *name)
{
	size_t i, best_len = 0;
	int best = -1;

	for (i = 0; i < n; i++)
		if (qs[i].id != NULL && strcmp(qs[i].id, name) == 0)
			return (int)i;
	for (i = 0; i < n; i++)
		if (!is_template(&qs[i]) && qs[i].name != NULL &&
		    *qs[i].name != '\0' && strcmp(qs[i].name, name) == 0)
			return (int)i;
	for (i = 0; i < n; i++) {
		const char *p = qs[i].name ? qs[i].name : "";
		size_t pl = strlen(p);

		if (!is_template(&qs[i]) || strncmp(name, p, pl) != 0)
			continue;
		if (best < 0 || pl > best_len) {
			best = (int)i;
			best_len = pl;
		}
	}
	return best;
}

struct vars {
	const char *full, *prefix, *suffix;
	const char *groups[PQ_MAX_GROUPS];
	size_t glen[PQ_MAX_GROUPS];
};

/* interp - s with the variables filled in (a new string) */
static char *
interp(const char *s, const struct vars *v)
{
	struct buf b = BUF_INIT;
	const char *p = s;

	if (s == NULL)
		return NULL;
	while (*p) {
		const char *end;
		size_t n;

		if (p[0] != '$' || p[1] != '{' ||
		    (end = strchr(p + 2, '}')) == NULL) {
			buf_put(&b, p, 1);
			p++;
			continue;
		}
		n = (size_t)(end - (p + 2));
		if (n == 9 && strncmp(p + 2, "name.full", 9) == 0) {
			buf_put_str(&b, v->full);
		} else if (n == 11 && strncmp(p + 2, "name.prefix", 11) == 0) {
			buf_put_str(&b, v->prefix);
		} else if (n == 11 && strncmp(p + 2, "name.suffix", 11) == 0) {
			buf_put_str(&b, v->suffix);
		} else if (n == 13 && strncmp(p + 2, "agent.segment", 13) == 0) {
			/* no network segments: "" */
		} else if (n == 8 && strncmp(p + 2, "match(", 6) == 0 &&
			   p[8] >= '0' && p[8] <= '9' && p[9] == ')') {
			int g = p[8] - '0';

			if (v->groups[g] != NULL)
				buf_put(&b, v->groups[g], v->glen[g]);
		} else {
			buf_put(&b, p, n + 3); /* not ours: as written */
		}
		p = end + 1;
	}
	buf_put(&b, "", 1);
	return (char *)b.data;
}

static void
interp_list(struct cdc_strlist *l, const struct vars *v, bool drop_empty,
    bool kv)
{
	size_t i, k = 0;

	for (i = 0; i < l->n; i++) {
		char *s;

		if (kv && strchr(l->v[i], '=') != NULL) {
			/* only the value of "k=v" */
			char *eq = strchr(l->v[i], '='), *val = interp(eq + 1, v);
			size_t kl = (size_t)(eq - l->v[i]);

			s = xmalloc(kl + strlen(val) + 2);
			memcpy(s, l->v[i], kl + 1);
			strcpy(s + kl + 1, val);
			free(val);
		} else {
			s = interp(l->v[i], v);
		}
		free(l->v[i]);
		if (drop_empty && *s == '\0') {
			free(s);
			continue;
		}
		l->v[k++] = s;
	}
	l->n = k;
}

static void
interp_str(char **s, const struct vars *v)
{
	char *n = interp(*s, v);

	free(*s);
	*s = n;
}

/* regexp_ok - POSIX regcomp (glibc) copies the pattern's tree for every
 * repetition, so "x++++...", nested "((a?)?)?..." or nested {m,n} bounds
 * cost exponential time and memory (Consul's RE2 has no such case).
 * Allowed: at most PQ_REGEXP_MAX bytes, no quantifier right after
 * another, at most PQ_GROUP_QUANTS_MAX quantified groups, at most
 * PQ_BOUNDS_MAX bounds of at most PQ_BOUND_MAX. */
static int
regexp_ok(const char *re, struct errbuf *eb)
{
	size_t i, n = strlen(re), bounds = 0, gq = 0;
	bool after_quant = false;

	if (n > PQ_REGEXP_MAX)
		return errbuf_set(eb, -EINVAL, "Regexp longer than %d bytes",
		    PQ_REGEXP_MAX);
	for (i = 0; i < n; i++) {
		char ch = re[i];

		if (ch == '\\' && i + 1 < n) {
			i++;
			after_quant = false;
			continue;
		}
		if (ch == '*' || ch == '+' || ch == '?' || ch == '{') {
			if (after_quant)
				return errbuf_set(eb, -EINVAL,
				    "Regexp: repeated quantifiers are not "
				    "supported");
			/* a quantified group is copied as a whole: nested
			 * ones multiply */
			if (i > 0 && re[i - 1] == ')' &&
			    ++gq > PQ_GROUP_QUANTS_MAX)
				return errbuf_set(eb, -EINVAL,
				    "Regexp: more than %d quantified groups "
				    "are not supported",
				    PQ_GROUP_QUANTS_MAX);
			if (ch == '{') {
				char *end;
				unsigned long a = strtoul(re + i + 1, &end, 10);
				unsigned long b = a;

				if (*end == ',')
					b = end[1] == '}' ? a
							  : strtoul(end + 1,
								&end, 10);
				if (a > PQ_BOUND_MAX || b > PQ_BOUND_MAX ||
				    ++bounds > PQ_BOUNDS_MAX)
					return errbuf_set(eb, -EINVAL,
					    "Regexp: repetition bounds over "
					    "%d are not supported",
					    PQ_BOUND_MAX);
				while (i < n && re[i] != '}')
					i++;
			}
			after_quant = true;
			continue;
		}
		after_quant = false;
	}
	return 0;
}

int
pq_render(const struct ipc_pquery *q, const char *name,
    struct ipc_pquery *out, struct errbuf *eb)
{
	struct buf b = BUF_INIT;
	struct vars v;
	regmatch_t m[PQ_MAX_GROUPS];
	regex_t re;
	size_t i;
	int r;

	memset(out, 0, sizeof(*out));
	cdc_encode(&b, &ipc_pquery_desc, q);
	r = cdc_decode(&ipc_pquery_desc, b.data, b.len, out, eb);
	buf_free(&b);
	if (r < 0 || !is_template(q))
		return r;
	memset(&v, 0, sizeof(v));
	v.full = name;
	v.prefix = q->name ? q->name : "";
	v.suffix = strlen(name) >= strlen(v.prefix) ? name + strlen(v.prefix)
						   : "";
	if (q->template_regexp != NULL && *q->template_regexp != '\0') {
		if (regexp_ok(q->template_regexp, eb) < 0 ||
		    regcomp(&re, q->template_regexp, REG_EXTENDED) != 0) {
			cdc_free(&ipc_pquery_desc, out);
			return errbuf_set(eb, -EINVAL, "Bad Regexp: %s",
			    q->template_regexp);
		}
		if (regexec(&re, name, PQ_MAX_GROUPS, m, 0) == 0) {
			for (i = 0; i < PQ_MAX_GROUPS; i++)
				if (m[i].rm_so >= 0) {
					v.groups[i] = name + m[i].rm_so;
					v.glen[i] =
					    (size_t)(m[i].rm_eo - m[i].rm_so);
				}
		}
		regfree(&re);
	}
	interp_str(&out->service, &v);
	interp_str(&out->near, &v);
	interp_list(&out->tags, &v, q->remove_empty_tags, false);
	interp_list(&out->node_meta, &v, false, true);
	interp_list(&out->service_meta, &v, false, true);
	interp_list(&out->failover_dcs, &v, true, false);
	return 0;
}

int
pq_check(const struct ipc_pquery *q, struct errbuf *eb)
{
	regex_t re;

	if (q->service == NULL || *q->service == '\0')
		return errbuf_set(eb, -EINVAL,
		    "Must provide a Service name to query");
	if (is_template(q) && strcmp(q->template_type, PQ_TEMPLATE) != 0)
		return errbuf_set(eb, -EINVAL, "Bad Template.Type '%s'",
		    q->template_type);
	if (q->template_regexp != NULL && *q->template_regexp != '\0') {
		if (regexp_ok(q->template_regexp, eb) < 0)
			return -EINVAL;
		if (regcomp(&re, q->template_regexp, REG_EXTENDED) != 0)
			return errbuf_set(eb, -EINVAL,
			    "Failed compiling Regexp: %s", q->template_regexp);
		regfree(&re);
	}
	return 0;
}

static bool
has_tag(const struct ipc_service *sv, const char *t)
{
	size_t i;

	for (i = 0; i < sv->tags.n; i++)
		if (strcasecmp(sv->tags.v[i], t) == 0)
			return true;
	return false;
}

static bool
has_kv(const struct cdc_strlist *l, const char *kv)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->v[i], kv) == 0)
			return true;
	return false;
}

static bool
ignored(const struct ipc_pquery *q, const char *check_id)
{
	size_t i;

	for (i = 0; i < q->ignore_check_ids.n; i++)
		if (strcmp(q->ignore_check_ids.v[i],
			check_id ? check_id : "") == 0)
			return true;
	return false;
}

static const struct ipc_node *
node_of(const struct ipc_catalog_reply *rep, const char *name)
{
	size_t i;

	for (i = 0; i < rep->nodes.n; i++) {
		const struct ipc_node *nd = (struct ipc_node *)rep->nodes.v + i;

		if (strcmp(nd->node ? nd->node : "", name ? name : "") == 0)
			return nd;
	}
	return NULL;
}

static bool
wanted(const struct ipc_pquery *q, const struct ipc_catalog_reply *rep,
    const struct ipc_service *sv)
{
	const struct ipc_node *nd = node_of(rep, sv->node);
	size_t i;

	if (strcasecmp(sv->service ? sv->service : "", q->service) != 0)
		return false;
	for (i = 0; i < q->tags.n; i++) {
		const char *t = q->tags.v[i];

		if (t[0] == '!' ? has_tag(sv, t + 1) : !has_tag(sv, t))
			return false;
	}
	for (i = 0; i < q->node_meta.n; i++)
		if (nd == NULL || !has_kv(&nd->meta, q->node_meta.v[i]))
			return false;
	for (i = 0; i < q->service_meta.n; i++)
		if (!has_kv(&sv->meta, q->service_meta.v[i]))
			return false;
	for (i = 0; i < rep->checks.n; i++) {
		const struct ipc_check *ck = (struct ipc_check *)rep->checks.v + i;
		const char *sid = ck->service_id ? ck->service_id : "";
		const char *st = ck->status ? ck->status : "";

		if (strcmp(ck->node ? ck->node : "", sv->node ? sv->node : "") !=
			0 ||
		    (*sid != '\0' && strcmp(sid, sv->id ? sv->id : "") != 0) ||
		    ignored(q, ck->check_id))
			continue;
		if (strcmp(st, "critical") == 0 ||
		    (q->only_passing && strcmp(st, "passing") != 0))
			return false;
	}
	return true;
}

/* keep - compact l to the elements keep marks, freeing the others */
static void
keep(struct cdc_list *l, const struct cdc_msg_desc *d, const bool *k)
{
	uint8_t *v = l->v;
	size_t i, n = 0;

	for (i = 0; i < l->n; i++) {
		if (k[i]) {
			if (n != i)
				memcpy(v + n * d->size, v + i * d->size,
				    d->size);
			n++;
		} else {
			cdc_free(d, v + i * d->size);
		}
	}
	l->n = n;
}

void
pq_filter(const struct ipc_pquery *q, struct ipc_catalog_reply *rep)
{
	size_t nmax = rep->services.n;
	bool *k;
	size_t i, j;

	if (rep->nodes.n > nmax)
		nmax = rep->nodes.n;
	if (rep->checks.n > nmax)
		nmax = rep->checks.n;
	k = xcalloc(nmax + 1, sizeof(*k));
	for (i = 0; i < rep->services.n; i++)
		k[i] = wanted(q, rep, (struct ipc_service *)rep->services.v + i);
	keep(&rep->services, &ipc_service_desc, k);
	/* the nodes and checks of what is left */
	for (i = 0; i < rep->nodes.n; i++) {
		const struct ipc_node *nd = (struct ipc_node *)rep->nodes.v + i;

		k[i] = false;
		for (j = 0; j < rep->services.n && !k[i]; j++)
			k[i] = strcmp(S(((struct ipc_service *)rep->services.v +
					    j)->node),
				   S(nd->node)) == 0;
	}
	keep(&rep->nodes, &ipc_node_desc, k);
	for (i = 0; i < rep->checks.n; i++) {
		const struct ipc_check *ck = (struct ipc_check *)rep->checks.v + i;
		const char *sid = ck->service_id ? ck->service_id : "";

		k[i] = false;
		for (j = 0; j < rep->services.n && !k[i]; j++) {
			const struct ipc_service *sv =
			    (struct ipc_service *)rep->services.v + j;

			k[i] = strcmp(S(sv->node), S(ck->node)) == 0 &&
			       (*sid == '\0' || strcmp(sid, S(sv->id)) == 0);
		}
	}
	keep(&rep->checks, &ipc_check_desc, k);
	free(k);
}
