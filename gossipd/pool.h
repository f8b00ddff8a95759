/* pool.h - one gossip pool (LAN or WAN) on the network: the SWIM core
 * (swim/swim.h) driven by a libev loop over a UDP socket and TCP (push-pull,
 * TCP probes, joins), every packet sealed with the keyring when one is
 * set. */
#ifndef CAIRN_GOSSIP_POOL_H
#define CAIRN_GOSSIP_POOL_H

#include <ev.h>
#include <stdbool.h>

#include "crypt.h"
#include "err.h"
#include "swim/swim.h"

struct pool;

/* what happened in the pool: member changes and user events */
typedef void (*pool_event_fn)(struct pool *p, const struct swim_event *e,
    void *arg);
/* the end of one join attempt: err NULL on success */
typedef void (*pool_join_fn)(struct pool *p, const char *addr,
    const char *err, void *arg);

struct pool_options {
	const char *label;	/* "lan" / "wan" (also the AAD of sealing) */
	const char *bind_ip;	/* "0.0.0.0" */
	int port;
	const char *advertise;	/* "ip:port" others reach us at */
	const char *name;
	const struct keyring *keys; /* n == 0: no encryption */
	bool verify_incoming;	/* refuse unsealed packets (with keys) */
	struct swim_options swim; /* timings; name/addr/seed filled in */
	pool_event_fn on_event;
	void *arg;
};

int pool_open(struct ev_loop *loop, const struct pool_options *o,
    struct pool **out, struct errbuf *eb);
void pool_close(struct pool *p);

/* pool_join - join through addr ("ip" or "ip:port"; the pool's port by
 * default); fn is told how it went (within 10 s) */
void pool_join(struct pool *p, const char *addr, pool_join_fn fn, void *arg);
void pool_leave(struct pool *p);
int pool_force_leave(struct pool *p, const char *name);
void pool_set_tags(struct pool *p, const char *const *tags, size_t n);
int pool_user_event(struct pool *p, const char *name, const void *payload,
    size_t n);
struct swim *pool_swim(struct pool *p);
const char *pool_label(const struct pool *p);
/* counters */
uint64_t pool_bytes_sent(const struct pool *p);
/* pool_bad_packets - datagrams and streams dropped as undecodable */
uint64_t pool_bad_packets(const struct pool *p);
uint64_t pool_packets_refused(const struct pool *p);

#endif
