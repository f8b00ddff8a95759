/* local.h - checkd's state: this agent's services and checks, their
 * runners, persistence under <data_dir>/checkd, and the anti-entropy sync
 * with the catalog in raftd (sync.c). */
#ifndef CAIRN_CHECKD_LOCAL_H
#define CAIRN_CHECKD_LOCAL_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>

#include "cfg.h"
#include "defs.h"
#include "err.h"
#include "ipc.h"
#include "probe.h"

/* where a definition came from: config entries are replaced on reload,
 * API and maintenance entries are persisted */
enum lsrc { SRC_CONFIG = 1, SRC_API = 2, SRC_MAINT = 3 };

struct checkd;

struct lcheck {
	struct checkd *cd;
	struct check_def def;
	char *json;		/* the definition as given (persisted) */
	enum lsrc src;
	char *status, *output;
	ev_timer run_w;		/* next run, or TTL expiry */
	bool ttl_set;		/* run_w holds a restored TTL remainder */
	struct probe *probe;	/* run in flight */
	uint64_t succ, fail;	/* consecutive results (thresholds) */
	ev_tstamp critical_since; /* 0 unless critical */
	ev_tstamp output_due;	/* deferred output-only sync, 0 = none */
	ev_tstamp last_sync;
	uint64_t gen, synced_gen, sent_gen; /* sync: changed since sent? */
	struct lcheck *next;
};

struct lservice {
	struct service_def def;
	char *json;
	enum lsrc src;
	uint64_t gen, synced_gen, sent_gen;
	/* partial sync scratch: this service's checks, one of them dirty */
	struct lcheck **tmp;
	size_t ntmp, tmpcap;
	bool tmp_dirty;
	struct lservice *next;
};

/* something to remove from the catalog: a service (and its checks) or a
 * node-level check */
struct tomb {
	char *service_id, *check_id;
	bool in_flight;
	struct tomb *next;
};

/* a string-keyed index (keys borrowed from the objects) */
struct ient {
	const char *key;
	void *val;
	struct ient *next;
};

struct idx {
	struct ient **b;
	size_t nb, n;
};

struct checkd {
	struct ev_loop *loop;
	const struct cairn_conf *conf;
	char *node;
	char *dir;		/* <data_dir>/checkd, or NULL (no persistence) */
	struct lservice *services;
	struct lcheck *checks;
	size_t nservices, nchecks;
	struct idx svc_idx, chk_idx;	/* by service ID, by check ID */
	struct tomb *tombs;
	uint64_t index;		/* local changes */
	uint64_t genc;		/* generations for sync (never reused) */
	ev_timer tick_w;	/* 1 s: deferred outputs, critical reaper */
	ev_timer alias_w;	/* debounce remote alias reads */
	bool alias_pending;
	struct ipc_client *raftd, *gossipd;
	struct ipc_sub *events;
	struct rexec *rexec;	/* remote exec jobs (rexec.c) */
	/* sync (sync.c) */
	ev_timer sync_w;	/* partial sync soon */
	ev_timer full_w;	/* next full sync */
	bool full_running;
	double retry_s;		/* backoff after failed syncs */
	char *address;		/* this node's address (gossip) */
	char *node_id;
	bool node_in_catalog;
	size_t cluster_size;	/* alive LAN members, scales the full sync */
	unsigned in_flight;
	uint64_t client_id, seq;
	uint64_t *c_sync_ops, *c_sync_bytes, *c_full_syncs, *c_sync_errors;
	uint64_t *c_runs;
};

/* local_init - load persisted definitions and the config's, start
 * runners and the first full sync. */
int local_init(struct checkd *cd, struct ev_loop *loop,
    const struct cairn_conf *conf, struct errbuf *eb);
void local_reload(struct checkd *cd, const struct cairn_conf *conf);
void local_close(struct checkd *cd);

/* API operations; -EINVAL / -ENOENT / -EPERM with eb set */
int local_service_register(struct checkd *cd, const char *json, size_t n,
    enum lsrc src, bool replace_checks, bool local_client, struct errbuf *eb);
int local_service_deregister(struct checkd *cd, const char *id,
    struct errbuf *eb);
int local_check_register(struct checkd *cd, const char *json, size_t n,
    enum lsrc src, bool local_client, struct errbuf *eb);
int local_check_deregister(struct checkd *cd, const char *id,
    struct errbuf *eb);
/* local_check_update - TTL checks: status "passing"/"warning"/"critical" */
int local_check_update(struct checkd *cd, const char *id, const char *status,
    const char *output, struct errbuf *eb);
/* local_maintenance - service_id NULL or "": the node */
int local_maintenance(struct checkd *cd, const char *service_id, bool enable,
    const char *reason, struct errbuf *eb);

struct lservice *local_service(struct checkd *cd, const char *id);
struct lcheck *local_check(struct checkd *cd, const char *id);
/* local_fill_service / local_fill_check - catalog rows (borrowing) */
struct ipc_service;
struct ipc_check;
void local_fill_service(struct checkd *cd, const struct lservice *s,
    struct ipc_service *out);
void local_fill_check(struct checkd *cd, const struct lcheck *c,
    struct ipc_check *out);
void local_fill_free(struct ipc_service *sv, struct ipc_check *ck);

/* local_changed - bump the local index (and a partial sync) */
void local_changed(struct checkd *cd);

/* sync.c */
void sync_init(struct checkd *cd);
void sync_close(struct checkd *cd);
void sync_kick(struct checkd *cd);	/* partial sync soon */
void sync_full_soon(struct checkd *cd, double after_s);
void sync_tomb(struct checkd *cd, const char *service_id,
    const char *check_id);
/* alias checks whose target is in the catalog */
void sync_alias_read(struct checkd *cd, struct lcheck *c);

/* an alias check's aggregate: the worst status of the checks it mirrors */
struct alias_agg {
	enum probe_status worst;
	const char *which;	/* a check with the worst status */
	size_t n;
};
void alias_add(struct alias_agg *g, const char *status, const char *check_id);
/* alias_output - the aggregate's output text ("All checks passing.") */
void alias_output(const struct alias_agg *g, char *out, size_t outlen);

/* local_alias_result - an alias check's aggregate from sync_alias_read */
void local_alias_result(struct checkd *cd, const char *check_id,
    enum probe_status st, const char *output);

#endif
