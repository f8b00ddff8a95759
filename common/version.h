/* version.h - the build's version strings (set by the Makefile). */
#ifndef CAIRN_VERSION_H
#define CAIRN_VERSION_H

#ifndef CAIRN_VERSION
#define CAIRN_VERSION "0.0.0"
#endif
#ifndef CAIRN_REVISION
#define CAIRN_REVISION "unknown"
#endif
/* Consul protocol numbers we speak (members' "Protocol" column) */
#define CAIRN_PROTOCOL 2
#define CAIRN_PROTOCOL_MIN 2
#define CAIRN_PROTOCOL_MAX 3

#endif
