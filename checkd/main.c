/* main.c - cairn-checkd: this agent's local services and health checks; anti-entropy with the catalog. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "ipc.h"
#include "local.h"
#include "log.h"
#include "xmalloc.h"

static struct checkd checkd;

static void
answer(struct ipc_req *req, int rc, const struct errbuf *eb)
{
	if (rc < 0)
		ipc_reply_error(req, rc, "%s", eb->msg);
	else
		ipc_reply(req, NULL);
}

static void
on_service_register(struct ipc_req *req, void *arg)
{
	struct ipc_agent_req *q = req->body;
	struct errbuf eb;

	(void)arg;
	answer(req, local_service_register(&checkd, (const char *)q->def.p,
	    q->def.n, SRC_API, q->replace_checks, q->enable, &eb), &eb);
}

static void
on_service_deregister(struct ipc_req *req, void *arg)
{
	struct ipc_agent_req *q = req->body;
	struct errbuf eb;

	(void)arg;
	answer(req, local_service_deregister(&checkd, q->id ? q->id : "", &eb),
	    &eb);
}

static void
on_check_register(struct ipc_req *req, void *arg)
{
	struct ipc_agent_req *q = req->body;
	struct errbuf eb;

	(void)arg;
	answer(req, local_check_register(&checkd, (const char *)q->def.p,
	    q->def.n, SRC_API, q->enable, &eb), &eb);
}

static void
on_check_deregister(struct ipc_req *req, void *arg)
{
	struct ipc_agent_req *q = req->body;
	struct errbuf eb;

	(void)arg;
	answer(req, local_check_deregister(&checkd, q->id ? q->id : "", &eb),
	    &eb);
}

static void
on_check_update(struct ipc_req *req, void *arg)
{
	struct ipc_agent_req *q = req->body;
	struct errbuf eb;

	(void)arg;
	answer(req, local_check_update(&checkd, q->id ? q->id : "",
	    q->status ? q->status : "", q->output, &eb), &eb);
}

static void
on_maintenance(struct ipc_req *req, void *arg)
{
	struct ipc_agent_req *q = req->body;
	struct errbuf eb;

	(void)arg;
	answer(req, local_maintenance(&checkd, q->id, q->enable, q->output,
	    &eb), &eb);
}

/* on_local_read - every local service and check; with id: one service
 * (by_name: every service of that name) with its checks and the node's */
static void
on_local_read(struct ipc_req *req, void *arg)
{
	struct ipc_agent_req *q = req->body;
	struct checkd *cd = &checkd;
	struct ipc_agent_local rep;
	struct ipc_service *svs;
	struct ipc_check *cks;
	struct lservice *s;
	struct lcheck *c;
	size_t i;
	bool filter = q->id != NULL && *q->id != '\0';

	(void)arg;
	memset(&rep, 0, sizeof(rep));
	rep.node = cd->node;
	rep.index = cd->index;
	svs = xcalloc(cd->nservices + 1, sizeof(*svs));
	cks = xcalloc(cd->nchecks + 1, sizeof(*cks));
	for (s = cd->services; s != NULL; s = s->next) {
		if (filter && strcmp(q->by_name ? s->def.name : s->def.id,
		    q->id) != 0)
			continue;
		local_fill_service(cd, s, &svs[rep.services.n++]);
	}
	for (c = cd->checks; c != NULL; c = c->next) {
		bool want = !filter;

		if (filter && (c->def.service_id == NULL ||
		    *c->def.service_id == '\0'))
			want = true; /* the node's checks count for each */
		for (i = 0; filter && !want && i < rep.services.n; i++)
			if (strcmp(svs[i].id, c->def.service_id) == 0)
				want = true;
		if (want)
			local_fill_check(cd, c, &cks[rep.checks.n++]);
	}
	rep.services.v = svs;
	rep.checks.v = cks;
	ipc_reply(req, &rep);
	for (i = 0; i < rep.services.n; i++)
		local_fill_free(&svs[i], NULL);
	for (i = 0; i < rep.checks.n; i++)
		local_fill_free(NULL, &cks[i]);
	free(svs);
	free(cks);
}

static int
checkd_init(struct daemon *d, struct errbuf *eb)
{
	int rc;

	checkd.c_sync_ops = daemon_counter(d, "sync.ops");
	checkd.c_sync_bytes = daemon_counter(d, "sync.bytes");
	checkd.c_full_syncs = daemon_counter(d, "sync.full");
	checkd.c_sync_errors = daemon_counter(d, "sync.errors");
	checkd.c_runs = daemon_counter(d, "checks.runs");
	if ((rc = local_init(&checkd, d->loop, &d->conf, eb)) < 0)
		return rc;
	ipc_server_on(d->rpc, IPC_AGENT_SERVICE_REGISTER, on_service_register,
	    NULL);
	ipc_server_on(d->rpc, IPC_AGENT_SERVICE_DEREGISTER,
	    on_service_deregister, NULL);
	ipc_server_on(d->rpc, IPC_AGENT_CHECK_REGISTER, on_check_register,
	    NULL);
	ipc_server_on(d->rpc, IPC_AGENT_CHECK_DEREGISTER, on_check_deregister,
	    NULL);
	ipc_server_on(d->rpc, IPC_AGENT_CHECK_UPDATE, on_check_update, NULL);
	ipc_server_on(d->rpc, IPC_AGENT_MAINTENANCE, on_maintenance, NULL);
	ipc_server_on(d->rpc, IPC_AGENT_LOCAL_READ, on_local_read, NULL);
	return 0;
}

static void
checkd_reload(struct daemon *d, const struct cairn_conf *old)
{
	(void)old;
	local_reload(&checkd, &d->conf);
}

static void
checkd_close(struct daemon *d)
{
	(void)d;
	local_close(&checkd);
}

static void
checkd_status(struct daemon *d, struct ipc_status *st)
{
	(void)d;
	daemon_status_info(st, "agent.services", "%zu", checkd.nservices);
	daemon_status_info(st, "agent.checks", "%zu", checkd.nchecks);
	daemon_status_info(st, "agent.sync_in_flight", "%u", checkd.in_flight);
}

static const struct daemon_ops checkd_ops = {
    .name = "checkd",
    .summary = "cairn-checkd: this agent's local services and health checks; anti-entropy with the catalog.",
    .init = checkd_init,
    .reload = checkd_reload,
    .close = checkd_close,
    .status = checkd_status,
};

int
main(int argc, char **argv)
{
	return daemon_main(&checkd_ops, NULL, argc, argv);
}
