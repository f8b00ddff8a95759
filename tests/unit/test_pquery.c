/* test_pquery.c - prepared queries' pure parts (common/pquery.c): which
 * query a name means, template rendering, definition checks, and the
 * filtering of a service's instances by tags, meta and health. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pquery.h"
#include "xmalloc.h"

static struct ipc_pquery
mk(const char *id, const char *name, const char *svc, const char *tmpl)
{
	struct ipc_pquery q;

	memset(&q, 0, sizeof(q));
	q.id = (char *)id;
	q.name = (char *)name;
	q.service = (char *)svc;
	q.template_type = (char *)tmpl;
	return q;
}

static void
test_choose(void **state)
{
	struct ipc_pquery qs[5];

	(void)state;
	qs[0] = mk("id-0", "web", "web", NULL);
	qs[1] = mk("id-1", "", "catchall", PQ_TEMPLATE);
	qs[2] = mk("id-2", "geo-", "x", PQ_TEMPLATE);
	qs[3] = mk("id-3", "geo-db-", "y", PQ_TEMPLATE);
	qs[4] = mk("id-4", "geo-db-main", "z", NULL);
	assert_int_equal(pq_choose(qs, 5, "id-2"), 2);	      /* by ID */
	assert_int_equal(pq_choose(qs, 5, "web"), 0);	      /* by name */
	assert_int_equal(pq_choose(qs, 5, "geo-db-main"), 4); /* exact first */
	assert_int_equal(pq_choose(qs, 5, "geo-db-x"), 3);    /* longest */
	assert_int_equal(pq_choose(qs, 5, "geo-web"), 2);
	assert_int_equal(pq_choose(qs, 5, "other"), 1);	      /* catch-all */
	assert_int_equal(pq_choose(qs, 4, "other"), 1);
	assert_int_equal(pq_choose(qs, 1, "other"), -1);
	assert_int_equal(pq_choose(NULL, 0, "web"), -1);
}

static void
test_render(void **state)
{
	struct ipc_pquery q, out;
	struct errbuf eb;
	char *tags[3] = {(char *)"${match(2)}", (char *)"v-${name.suffix}",
	    (char *)"${nope}"};
	char *dcs[1] = {(char *)"${match(1)}"};
	char *meta[1] = {(char *)"env=${match(1)}"};

	(void)state;
	q = mk("id", "geo-", "${match(2)}", PQ_TEMPLATE);
	q.template_regexp = (char *)"^geo-([a-z0-9]+)-(.*)$";
	q.tags.v = tags;
	q.tags.n = 3;
	q.failover_dcs.v = dcs;
	q.failover_dcs.n = 1;
	q.node_meta.v = meta;
	q.node_meta.n = 1;
	assert_int_equal(pq_render(&q, "geo-dc2-redis", &out, &eb), 0);
	assert_string_equal(out.service, "redis");
	assert_int_equal(out.tags.n, 3);
	assert_string_equal(out.tags.v[0], "redis");
	assert_string_equal(out.tags.v[1], "v-dc2-redis");
	assert_string_equal(out.tags.v[2], "${nope}"); /* not ours */
	assert_string_equal(out.failover_dcs.v[0], "dc2");
	assert_string_equal(out.node_meta.v[0], "env=dc2");
	cdc_free(&ipc_pquery_desc, &out);

	/* no match: groups render empty; RemoveEmptyTags drops them */
	q.remove_empty_tags = true;
	assert_int_equal(pq_render(&q, "geo-", &out, &eb), 0);
	assert_string_equal(out.service, "");
	assert_int_equal(out.tags.n, 2);
	assert_int_equal(out.failover_dcs.n, 0);
	cdc_free(&ipc_pquery_desc, &out);

	/* a plain query is copied as it is */
	q = mk("id", "web", "${name.full}", NULL);
	assert_int_equal(pq_render(&q, "web", &out, &eb), 0);
	assert_string_equal(out.service, "${name.full}");
	cdc_free(&ipc_pquery_desc, &out);

	/* a regexp that does not compile */
	q = mk("id", "x", "s", PQ_TEMPLATE);
	q.template_regexp = (char *)"(unclosed";
	assert_int_equal(pq_render(&q, "xy", &out, &eb), -EINVAL);
}

static void
test_check(void **state)
{
	struct ipc_pquery q;
	struct errbuf eb;

	(void)state;
	q = mk("id", "n", NULL, NULL);
	assert_int_equal(pq_check(&q, &eb), -EINVAL);
	assert_string_equal(eb.msg, "Must provide a Service name to query");
	q = mk("id", "n", "s", "prefix_match_typo");
	assert_int_equal(pq_check(&q, &eb), -EINVAL);
	q = mk("id", "n", "s", PQ_TEMPLATE);
	q.template_regexp = (char *)"[";
	assert_int_equal(pq_check(&q, &eb), -EINVAL);
	q.template_regexp = (char *)"^n(.*)$";
	assert_int_equal(pq_check(&q, &eb), 0);
	/* patterns glibc's regcomp would take exponential time on */
	q.template_regexp = (char *)"}++++++++++++++++++++++++++++++";
	assert_int_equal(pq_check(&q, &eb), -EINVAL);
	q.template_regexp = (char *)"((((((a?)?)?)?)?)?)?";
	assert_int_equal(pq_check(&q, &eb), -EINVAL);
	q.template_regexp = (char *)"((a{100}){100}){100}";
	assert_int_equal(pq_check(&q, &eb), -EINVAL);
	q.template_regexp = (char *)"^geo-(a+|b?)\\+(x{2,3})$";
	assert_int_equal(pq_check(&q, &eb), 0);
}

/* a catalog reply: web on n1 (tags v1, primary; passing), n2 (v1;
 * warning), n3 (v2; critical service check), n4 (v1; node critical but
 * that check is ignorable), and db on n1 */
static void
catalog(struct ipc_catalog_reply *rep)
{
	static const char *nodes[] = {"n1", "n2", "n3", "n4"};
	struct ipc_node *nd;
	struct ipc_service *sv;
	struct ipc_check *ck;
	size_t i;

	memset(rep, 0, sizeof(*rep));
	nd = xcalloc(4, sizeof(*nd));
	for (i = 0; i < 4; i++) {
		nd[i].node = xstrdup(nodes[i]);
		nd[i].meta.v = xcalloc(1, sizeof(char *));
		nd[i].meta.v[0] = xstrdup(i < 2 ? "rack=a" : "rack=b");
		nd[i].meta.n = 1;
	}
	rep->nodes.v = nd;
	rep->nodes.n = 4;
	sv = xcalloc(5, sizeof(*sv));
	for (i = 0; i < 4; i++) {
		sv[i].node = xstrdup(nodes[i]);
		sv[i].id = xstrdup("web");
		sv[i].service = xstrdup("web");
		sv[i].tags.v = xcalloc(2, sizeof(char *));
		sv[i].tags.v[0] = xstrdup(i == 2 ? "v2" : "V1");
		sv[i].tags.n = 1;
		if (i == 0) {
			sv[i].tags.v[1] = xstrdup("primary");
			sv[i].tags.n = 2;
		}
	}
	sv[4].node = xstrdup("n1");
	sv[4].id = xstrdup("db");
	sv[4].service = xstrdup("db");
	rep->services.v = sv;
	rep->services.n = 5;
	ck = xcalloc(4, sizeof(*ck));
	ck[0].node = xstrdup("n2");
	ck[0].check_id = xstrdup("service:web");
	ck[0].service_id = xstrdup("web");
	ck[0].status = xstrdup("warning");
	ck[1].node = xstrdup("n3");
	ck[1].check_id = xstrdup("service:web");
	ck[1].service_id = xstrdup("web");
	ck[1].status = xstrdup("critical");
	ck[2].node = xstrdup("n4");
	ck[2].check_id = xstrdup("flaky");
	ck[2].status = xstrdup("critical");
	ck[3].node = xstrdup("n1");
	ck[3].check_id = xstrdup("serfHealth");
	ck[3].status = xstrdup("passing");
	rep->checks.v = ck;
	rep->checks.n = 4;
}

/* nodes - the kept instances' nodes, "n1,n2" */
static const char *
kept(const struct ipc_catalog_reply *rep)
{
	static char out[64];
	size_t i, len = 0;

	out[0] = '\0';
	for (i = 0; i < rep->services.n; i++)
		len += (size_t)snprintf(out + len, sizeof(out) - len, "%s%s",
		    i ? "," : "", ((struct ipc_service *)rep->services.v + i)->node);
	return out;
}

static void
filter(struct ipc_pquery *q, const char *want)
{
	struct ipc_catalog_reply rep;

	catalog(&rep);
	pq_filter(q, &rep);
	assert_string_equal(kept(&rep), want);
	cdc_free(&ipc_catalog_reply_desc, &rep);
}

static void
test_filter(void **state)
{
	struct ipc_pquery q = mk("id", "n", "WEB", NULL);
	char *t1[1] = {(char *)"v1"}, *t2[2] = {(char *)"v1",
	    (char *)"!primary"};
	char *ign[1] = {(char *)"flaky"}, *meta[1] = {(char *)"rack=b"};
	struct ipc_catalog_reply rep;

	(void)state;
	filter(&q, "n1,n2");	/* critical (n3, n4) out */
	q.only_passing = true;
	filter(&q, "n1");	/* warning out too */
	q.only_passing = false;
	q.ignore_check_ids.v = ign;
	q.ignore_check_ids.n = 1;
	filter(&q, "n1,n2,n4"); /* n4's critical check does not count */
	q.tags.v = t1;
	q.tags.n = 1;
	filter(&q, "n1,n2,n4");	/* case-insensitive */
	q.tags.v = t2;
	q.tags.n = 2;
	filter(&q, "n2,n4");	/* without primary */
	q.tags.n = 0;
	q.node_meta.v = meta;
	q.node_meta.n = 1;
	filter(&q, "n4");
	/* the nodes and checks of what was dropped go too */
	catalog(&rep);
	pq_filter(&q, &rep);
	assert_int_equal(rep.nodes.n, 1);
	assert_string_equal(((struct ipc_node *)rep.nodes.v)->node, "n4");
	assert_int_equal(rep.checks.n, 1);
	cdc_free(&ipc_catalog_reply_desc, &rep);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_choose),
	    cmocka_unit_test(test_render),
	    cmocka_unit_test(test_check),
	    cmocka_unit_test(test_filter),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
