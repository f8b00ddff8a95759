/* mirror.h - dnsd's read-only copy of the catalog (nodes, service
 * instances, health), rebuilt from one IPC_CATALOG_READ "all" whenever
 * raftd announces a change, and indexed for name lookups. */
#ifndef CAIRN_DNSD_MIRROR_H
#define CAIRN_DNSD_MIRROR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ipc_msg.h"

enum { H_PASSING = 0, H_WARNING = 1, H_CRITICAL = 2 };

/* an address: IPv4, IPv6, or a hostname (CNAME) */
struct maddr {
	int family;		/* AF_INET, AF_INET6, or 0: hostname */
	uint8_t ip[16];
	const char *text;	/* as registered (borrowed from the reply) */
};

struct mnode {
	const char *name;	/* as registered */
	char *lname;		/* lowercased, for lookups */
	struct maddr addr;
	char **meta;		/* "k=v", borrowed */
	size_t nmeta;
	int health;		/* worst of the node's own checks */
};

struct minst {
	struct mnode *node;
	char *lservice;		/* lowercased service name */
	const char *id;
	char **ltags;		/* lowercased tags */
	size_t ntags;
	uint16_t port;
	struct maddr addr;	/* the service's address, else the node's */
	bool own_addr;		/* a service address different from the node's */
	int health;		/* worst of node and service checks */
	uint32_t w_passing, w_warning;
};

struct mirror {
	struct ipc_catalog_reply rep; /* owns every string */
	struct mnode *nodes;	/* sorted by lname */
	size_t nnodes;
	struct minst *insts;	/* sorted by lservice */
	size_t ninsts;
	uint64_t index;
};

/* mirror_build - index a catalog reply (taken over: *rep is zeroed). */
struct mirror *mirror_build(struct ipc_catalog_reply *rep);
void mirror_free(struct mirror *m);

/* mirror_node - a node by lowercased name, or NULL. */
const struct mnode *mirror_node(const struct mirror *m, const char *lname);

/* mirror_service - the instances of a lowercased service name: *first and
 * the count (0 if none). */
size_t mirror_service(const struct mirror *m, const char *lservice,
    const struct minst **first);

/* mirror_parse_addr - text as an IPv4/IPv6 address (family 0 if neither) */
void mirror_parse_addr(const char *text, struct maddr *a);

#endif
