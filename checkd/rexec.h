/* rexec.h - the agent's side of remote execution (`cairn exec`, Consul's
 * `consul exec`): a `_rexec` user event names a job in the KV store
 * (<prefix>/<session>/job); checkd acknowledges it, runs it and streams its
 * output and exit code back under <prefix>/<session>/<node>/, every key
 * held by the job's session so that they go when it goes. */
#ifndef CAIRN_CHECKD_REXEC_H
#define CAIRN_CHECKD_REXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define REXEC_EVENT "_rexec"	  /* the user event's name */
#define REXEC_CHUNK 4096	  /* output bytes per out/ key, as Consul */
#define REXEC_FLUSH_S 0.5	  /* a shorter chunk waits at most this */

struct checkd;
struct ipc_user_event;
struct ipc_change;
struct lservice;

/* rexec_init / rexec_close - subscribe to gossipd's user events; at
 * close, kill (SIGKILL) and reap every job still running. */
void rexec_init(struct checkd *cd);
void rexec_close(struct checkd *cd);

/* rexec_change - a raftd change event: a job whose session changed is
 * checked, and killed if the session is gone */
void rexec_change(struct checkd *cd, const struct ipc_change *ch);

/* --- pure helpers (unit-tested) ------------------------------------------ */

/* the job specification at <prefix>/<session>/job, as Consul's CLI writes
 * it: {"Command":..., "Args":[...], "Script":<base64>|null, "Wait":<ns>} */
struct rexec_spec {
	char *command;		/* run with /bin/sh -c, or NULL */
	char **args;		/* NULL-terminated argv (no shell), or NULL */
	uint8_t *script;	/* spilled to a file and run, or NULL */
	size_t script_len;
	int64_t wait_ns;	/* heartbeat period: quiet this long, write
				 * an empty output key */
};

/* rexec_event_parse - the event payload {"Prefix":..., "Session":...};
 * both must be set, and neither may step out of the prefix ("..", or a
 * '/' in the session).  Returns 0 with new strings, or -EINVAL with eb. */
int rexec_event_parse(const void *p, size_t n, char **prefix, char **session,
    struct errbuf *eb);

/* rexec_spec_parse - decode a job spec (field names in any case, as Go's
 * encoding/json); it needs a command, args or a script.  Returns 0, or
 * -EINVAL with eb; rexec_spec_free either way. */
int rexec_spec_parse(const void *p, size_t n, struct rexec_spec *s,
    struct errbuf *eb);
void rexec_spec_free(struct rexec_spec *s);

/* rexec_key - path.Join(prefix, session, node, suffix) as Consul builds
 * the keys: empty elements and repeated or trailing '/' dropped (also a
 * leading one: KV keys have none). */
char *rexec_key(const char *prefix, const char *session, const char *node,
    const char *suffix);

/* rexec_wanted - whether this node runs the event, by its filters as
 * Consul's agent applies them: the node name, and (service filter) a
 * local service whose ID matches, with (tag filter) a matching tag.  A
 * filter that does not compile matches nothing. */
bool rexec_wanted(const struct ipc_user_event *ev, const char *node,
    const struct lservice *services);

/* Output waiting to be written, in order: full REXEC_CHUNK pieces are cut
 * as bytes arrive, a shorter tail when flushed; an empty piece is a
 * heartbeat. */
struct rexec_piece {
	uint8_t *p;
	size_t n;
	struct rexec_piece *next;
};

struct rexec_out {
	struct rexec_piece *head, *tail;
	size_t npieces;
	uint8_t tail_buf[REXEC_CHUNK];	/* bytes not cut yet */
	size_t tail_len;
};

void rexec_out_put(struct rexec_out *o, const void *p, size_t n);
/* rexec_out_flush - cut the bytes not cut yet (none: no piece) */
void rexec_out_flush(struct rexec_out *o);
void rexec_out_heartbeat(struct rexec_out *o);
/* rexec_out_pop - the oldest piece, or NULL; free with rexec_piece_free */
struct rexec_piece *rexec_out_pop(struct rexec_out *o);
void rexec_piece_free(struct rexec_piece *pc);
void rexec_out_clear(struct rexec_out *o);

#endif
