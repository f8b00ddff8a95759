/* swim.h - one gossip pool's membership (SWIM, Das et al. 2002, with the
 * Lifeguard refinements of memberlist, arXiv 1707.00788) as a pure state
 * machine: no clock, socket or random calls of its own.  The driver
 * (gossipd's libev loop, or a simulation in tests) gives it the time in
 * milliseconds and the bytes that arrived, and collects what to send and
 * what changed:
 *
 *   swim_tick(s, now)              on a timer (every 10..100 ms)
 *   swim_recv(s, from, p, n, now)  a UDP packet (decrypted)
 *   swim_pushpull_request(...)     an incoming TCP push-pull: the reply
 *   swim_pushpull_reply(...)       the answer to one we started
 *   swim_join / swim_leave / swim_user_event / swim_set_tags
 *   then swim_sends() and swim_events(), and swim_clear_output().
 *
 * Member states: alive -> suspect (a probe failed; the member may refute
 * with a higher incarnation) -> dead (suspicion timed out) or left (it
 * said goodbye); dead and left members are kept for listing until reaped.
 */
#ifndef CAIRN_SWIM_H
#define CAIRN_SWIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "msg.h"
#include "vivaldi.h"

struct swim_options {
	const char *name; /* this member's name (unique in the pool) */
	const char *addr; /* "ip:port" others reach it at (UDP and TCP) */
	uint64_t seed;	  /* PRNG seed */
	/* timings (ms) and factors; 0 = memberlist's LAN defaults */
	uint32_t probe_interval, probe_timeout, gossip_interval;
	uint32_t pushpull_interval, reconnect_interval;
	uint32_t gossip_to_dead; /* keep gossiping to the dead this long */
	uint64_t reap_after;	 /* drop dead/left members after (72 h) */
	unsigned indirect_checks, gossip_nodes, retransmit_mult;
	unsigned suspicion_mult, suspicion_max_mult, awareness_max;
};

struct swim_member {
	char *name;
	char *addr;
	uint64_t incarnation;
	enum swim_state state;
	uint64_t state_since; /* ms */
	struct cdc_strlist tags;
	/* suspicion (Lifeguard): started, bounds, confirmations needed */
	uint64_t susp_start, susp_min, susp_max;
	unsigned susp_k;
	char **confirm;
	size_t nconfirm;
	/* network coordinate, from its acks to our probes */
	struct viv_coord coord;
	bool has_coord;
	double rtt[VIV_FILTER];
	size_t nrtt;
};

enum swim_event_type {
	SWIM_EV_JOIN = 1,   /* a member is alive (new, or back) */
	SWIM_EV_UPDATE = 2, /* its tags or address changed */
	SWIM_EV_FAILED = 3, /* declared dead */
	SWIM_EV_LEFT = 4,   /* left gracefully */
	SWIM_EV_REAP = 5,   /* forgotten */
	SWIM_EV_USER = 6,   /* a user event (name, payload, ltime) */
	SWIM_EV_SUSPECT = 7,
};

struct swim_event {
	enum swim_event_type type;
	char *node; /* member name; user events: the sender, if known */
	char *name; /* user events */
	struct cdc_bytes payload;
	uint64_t ltime;
};

struct swim_send {
	char *addr;	/* "ip:port" */
	bool tcp;	/* a push-pull to open a TCP connection for */
	bool join;	/* tcp: started by swim_join */
	struct buf data; /* the encoded packet (unencrypted) */
};

struct swim;

/* swim_new - NULL on bad options (name/addr missing). */
struct swim *swim_new(const struct swim_options *o, uint64_t now);
void swim_free(struct swim *s);

void swim_tick(struct swim *s, uint64_t now);
/* swim_recv - a UDP packet from addr.  Returns 0 or -EBADMSG (dropped). */
int swim_recv(struct swim *s, const char *from, const void *p, size_t n,
    uint64_t now);
/* swim_pushpull_request - an incoming TCP push-pull packet: merge it and
 * put the reply (our state) in out.  Returns 0 or -EBADMSG. */
int swim_pushpull_request(struct swim *s, const void *p, size_t n,
    struct buf *out, uint64_t now);
/* swim_pushpull_reply - the reply to a push-pull we sent to addr (n == 0:
 * it failed).  Returns 0 or -EBADMSG. */
int swim_pushpull_reply(struct swim *s, const char *addr, const void *p,
    size_t n, uint64_t now);

/* swim_join - push-pull with addr (a TCP send with join set) */
void swim_join(struct swim *s, const char *addr, uint64_t now);
/* swim_leave - tell everyone this member leaves (it is "left" at once;
 * the driver keeps gossiping a little while before it exits) */
void swim_leave(struct swim *s, uint64_t now);
/* swim_force_leave - a failed member is moved to left (Consul's
 * force-leave); -ENOENT unknown, -EINVAL not failed */
int swim_force_leave(struct swim *s, const char *name, uint64_t now);
/* swim_set_tags - new tags for this member ("k=v"), gossiped */
void swim_set_tags(struct swim *s, const char *const *tags, size_t n,
    uint64_t now);
/* swim_user_event - fire a user event (ltime from the Lamport clock);
 * -EMSGSIZE when name and payload exceed 512 bytes (Serf's limit) */
int swim_user_event(struct swim *s, const char *name, const void *payload,
    size_t n, uint64_t now);

/* output, valid until swim_clear_output or the next input */
size_t swim_sends(struct swim *s, struct swim_send **out);
size_t swim_events(struct swim *s, struct swim_event **out);
void swim_clear_output(struct swim *s);

/* read-only views */
size_t swim_members(const struct swim *s, const struct swim_member **out);
const struct swim_member *swim_member(const struct swim *s,
    const char *name);
unsigned swim_awareness(const struct swim *s); /* Lifeguard score */
size_t swim_num_alive(const struct swim *s);
uint64_t swim_event_ltime(const struct swim *s);
const char *swim_state_name(enum swim_state st);
/* swim_coord - this member's network coordinate */
const struct viv_coord *swim_coord(const struct swim *s);

#endif
