/* net.c - address helpers. */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "net.h"

static int
is_private4(uint32_t a)
{
	return (a >> 24) == 10 || (a >> 20) == 0xac1 || (a >> 16) == 0xc0a8 ||
	       (a >> 22) == (0x64400000u >> 22);
}

int
net_advertise_addr(const struct cairn_conf *c, char *out, size_t outlen,
    struct errbuf *eb)
{
	struct ifaddrs *ifa, *i;
	char first[INET_ADDRSTRLEN] = "", priv[INET_ADDRSTRLEN] = "";
	int npriv = 0;

	if (c->advertise_addr != NULL && *c->advertise_addr) {
		snprintf(out, outlen, "%s", c->advertise_addr);
		return 0;
	}
	if (c->bind_addr != NULL && *c->bind_addr &&
	    strcmp(c->bind_addr, "0.0.0.0") != 0 &&
	    strcmp(c->bind_addr, "::") != 0) {
		snprintf(out, outlen, "%s", c->bind_addr);
		return 0;
	}
	if (getifaddrs(&ifa) < 0) {
		snprintf(out, outlen, "127.0.0.1");
		return 0;
	}
	for (i = ifa; i != NULL; i = i->ifa_next) {
		struct sockaddr_in *sin = (struct sockaddr_in *)(void *)i->ifa_addr;
		uint32_t a;
		char s[INET_ADDRSTRLEN];

		if (sin == NULL || sin->sin_family != AF_INET)
			continue;
		a = ntohl(sin->sin_addr.s_addr);
		if ((a >> 24) == 127)
			continue;
		inet_ntop(AF_INET, &sin->sin_addr, s, sizeof(s));
		if (first[0] == '\0')
			snprintf(first, sizeof(first), "%s", s);
		if (is_private4(a) && strcmp(priv, s) != 0) {
			if (npriv == 0)
				snprintf(priv, sizeof(priv), "%s", s);
			npriv++;
		}
	}
	freeifaddrs(ifa);
	if (npriv > 1)
		return errbuf_set(eb, -EADDRNOTAVAIL,
		    "multiple private IPv4 addresses found; "
		    "please configure one with -bind or -advertise");
	snprintf(out, outlen, "%s",
	    npriv ? priv : first[0] ? first : "127.0.0.1");
	return 0;
}
