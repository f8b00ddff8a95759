/* sessions.h - the leader's session clocks: TTL deadlines of the sessions
 * that have one, and lock-delays of keys freed by invalidation.  Neither is
 * replicated (Consul keeps both in memory on the servers): every server
 * tracks them as it applies, and a new leader restarts every TTL clock
 * from its full length.  Times are the caller's (mono_now) seconds. */
#ifndef CAIRN_RAFTD_SESSIONS_H
#define CAIRN_RAFTD_SESSIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SESSION_TTL_GRACE 2 /* a session is reaped after 2 x its TTL */

struct sessions;

struct sessions *sessions_new(void);
void sessions_free(struct sessions *s);

/* sessions_track - id exists with a TTL (ms; 0: none, untracked): its
 * deadline is now + SESSION_TTL_GRACE * TTL.  Also a renewal. */
void sessions_track(struct sessions *s, const char *id, uint64_t ttl_ms,
    double now);
/* sessions_forget - id is gone */
void sessions_forget(struct sessions *s, const char *id);
/* sessions_restart - leadership acquired: every deadline from now */
void sessions_restart(struct sessions *s, double now);
/* sessions_expired - up to max ids past their deadline, copied into
 * ids[i] (37 bytes each); each is given until now + retry before it is
 * reported again (its destroy may fail).  Returns how many. */
size_t sessions_expired(struct sessions *s, double now, double retry,
    char (*ids)[37], size_t max);
size_t sessions_count(const struct sessions *s);

/* lock-delay: key may not be acquired before `until` */
void lockdelay_set(struct sessions *s, const char *key, double until);
bool lockdelay_active(struct sessions *s, const char *key, double now);

#endif
