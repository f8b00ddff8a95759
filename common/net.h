/* net.h - address helpers shared by the daemons and the agent. */
#ifndef CAIRN_NET_H
#define CAIRN_NET_H

#include <stddef.h>

#include "cfg.h"

/* net_advertise_addr - the cluster address this node gives to others:
 * advertise_addr if set; else bind_addr unless it is 0.0.0.0; else the
 * one private IPv4 address of this host (RFC 1918 or 100.64/10), or the
 * first non-loopback IPv4 address if none is private, or 127.0.0.1.
 * Returns 0, or -EADDRNOTAVAIL when several private addresses exist and
 * none was chosen (eb says which; Consul refuses to guess too). */
int net_advertise_addr(const struct cairn_conf *c, char *out, size_t outlen,
    struct errbuf *eb);

#endif
