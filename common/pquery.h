/* pquery.h - prepared queries (Consul's /v1/query), the pure parts:
 * which stored query a name means, a template rendered for a name, and a
 * service's instances filtered as the query asks.  raftd's fsm stores the
 * queries and its driver runs them (node.c), with failover to other
 * datacenters. */
#ifndef CAIRN_RAFTD_PQUERY_H
#define CAIRN_RAFTD_PQUERY_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "ipc_msg.h"

#define PQ_TEMPLATE "name_prefix_match"

/* pq_choose - among n stored queries, the one `name` means: the query
 * with that ID, else the one (not a template) with that name, else the
 * template whose name is the longest prefix of it ("" matches every
 * name); its index, or -1. */
int pq_choose(const struct ipc_pquery *qs, size_t n, const char *name);

/* pq_render - out = q for the asked name: a copy, and for a template its
 * strings with ${name.full}, ${name.prefix}, ${name.suffix}, ${match(N)}
 * (the Regexp's groups against the name) and ${agent.segment} filled in;
 * tags left empty are dropped with RemoveEmptyTags.  Returns 0, or
 * -EINVAL with eb (a Regexp that does not compile or match).  Free out
 * with cdc_free(&ipc_pquery_desc). */
int pq_render(const struct ipc_pquery *q, const char *name,
    struct ipc_pquery *out, struct errbuf *eb);

/* pq_check - a definition's problems before it is stored (Consul's
 * messages): 0, or -EINVAL with eb */
int pq_check(const struct ipc_pquery *q, struct errbuf *eb);

/* pq_filter - keep rep's instances (services) of q's service that the
 * query wants: tags ("!t": without t), node and service meta, and health
 * (no critical check, no warning with OnlyPassing; IgnoreCheckIDs do not
 * count); the nodes and checks of the others go too. */
void pq_filter(const struct ipc_pquery *q, struct ipc_catalog_reply *rep);

#endif
