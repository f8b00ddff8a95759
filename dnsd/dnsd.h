/* dnsd.h - dnsd's state: UDP and TCP listeners, the catalog mirror fed
 * by raftd's change events, the answer cache, recursor forwarding. */
#ifndef CAIRN_DNSD_DNSD_H
#define CAIRN_DNSD_DNSD_H

#include <ev.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "cfg.h"
#include "err.h"
#include "ipc.h"
#include "mirror.h"
#include "resolve.h"

#define DNSD_UDP_BATCH 64
#define DNSD_UDP_MAX 4096	/* our EDNS UDP payload size */
#define DNSD_CACHE_SLOTS 16384	/* power of two */
#define DNSD_CACHE_VARIANTS 4	/* shuffled orders kept per answer */

struct centry {
	uint64_t hash;
	uint64_t gen;
	char *key;
	size_t keylen;
	uint8_t *resp[DNSD_CACHE_VARIANTS];
	uint16_t len[DNSD_CACHE_VARIANTS];
	unsigned next;
};

struct udp_listener {
	int fd;
	ev_io w;
	struct dnsd *d;
};

struct tcp_conn;
struct fwd;
struct rwait;
struct pqwait;
struct dnsd;

/* another datacenter's catalog, read through raftd (IPC_DC_FORWARD) when
 * one of its names is asked; fresh for DNSD_RDC_FRESH_S, then answered
 * from while a new read runs */
#define DNSD_RDC_MAX 16
#define DNSD_RDC_FRESH_S 2.0
#define DNSD_RDC_WAITERS 1024
struct rdc {
	struct dnsd *d;
	char name[64];
	struct mirror *m;	/* NULL until a read succeeded */
	double fetched, err_at, used;
	bool fetching;
	int err;		/* the last read's failure, or 0 */
	bool no_path;		/* that failure: an unknown datacenter */
	struct rwait *waiters;	/* queries waiting for the first read */
	size_t nwaiters;
};

struct dnsd {
	struct ev_loop *loop;
	const struct cairn_conf *conf;
	struct resolver res;
	struct udp_listener udp[2];
	size_t nudp;
	int tcp_fd[2];
	ev_io tcp_w[2];
	size_t ntcp;
	struct tcp_conn *conns;
	size_t nconns;
	/* catalog mirror */
	struct mirror *mirror;
	struct ipc_client *raftd;
	struct ipc_sub *events;
	bool reading, dirty;
	bool stale_read;	/* the read in flight is ?stale */
	bool force_leader;	/* past max_stale: the next read is default */
	ev_timer refresh_w;	/* retry / periodic refresh */
	/* answer cache, flushed when the mirror changes */
	struct centry *cache;
	size_t cache_used;
	uint64_t gen;
	uint64_t seed;
	/* recursors */
	struct sockaddr_storage *rec;
	socklen_t *reclen;
	size_t nrec;
	struct fwd *fwds;
	size_t nfwds;
	/* other datacenters */
	struct rdc rdc[DNSD_RDC_MAX];
	size_t nrdc;
	/* prepared queries being executed (raftd) */
	struct pqwait *pqws;
	size_t npqws;
	uint64_t *c_queries, *c_hits, *c_forwarded, *c_errors, *c_refreshes;
};

int dnsd_start(struct dnsd *d, struct ev_loop *loop,
    const struct cairn_conf *conf, struct errbuf *eb);
/* dnsd_configure - (re)build the resolver settings and recursors from conf */
void dnsd_configure(struct dnsd *d, const struct cairn_conf *conf);
void dnsd_stop(struct dnsd *d);

#endif
