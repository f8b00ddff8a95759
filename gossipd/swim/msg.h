/* msg.h - the messages of Cairn's gossip protocol (SWIM + Lifeguard, as
 * memberlist/Serf do it), in the common tagged codec.  A UDP packet is one
 * struct swim_packet: a list of messages (a probe with piggybacked
 * broadcasts is one packet).  A TCP push-pull exchange is one packet each
 * way, framed by a 4-byte big-endian length.  Encryption (crypt.h) wraps a
 * packet whole. */
#ifndef CAIRN_SWIM_MSG_H
#define CAIRN_SWIM_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "codec.h"
#include "err.h"

#define SWIM_PROTOCOL 1
#define SWIM_UDP_MAX 1400 /* bytes of an unencrypted UDP packet */
#define SWIM_TCP_MAX (8u * 1024 * 1024)

enum swim_msg_type {
	SWIM_PING = 1,		/* seq, node (target), from, from_addr */
	SWIM_INDIRECT_PING = 2, /* seq, node, addr (target's), from,
				 * from_addr, nack (send nacks) */
	SWIM_ACK = 3,		/* seq, from, coord (the acker's Vivaldi
				 * coordinate, for the prober's RTT) */
	SWIM_NACK = 4,		/* seq, from */
	SWIM_ALIVE = 5,		/* node, addr, incarnation, tags */
	SWIM_SUSPECT = 6,	/* node, incarnation, from */
	SWIM_DEAD = 7,		/* node, incarnation, from (== node: left) */
	SWIM_USER_EVENT = 8,	/* ltime, name, payload, from */
	SWIM_PUSH_PULL = 9,	/* states, join, ltime (event clock), from */
};

enum swim_state {
	SWIM_STATE_ALIVE = 0,
	SWIM_STATE_SUSPECT = 1,
	SWIM_STATE_DEAD = 2,
	SWIM_STATE_LEFT = 3,
};

/* a member as a push-pull exchange carries it */
#define SWIM_MEMBER_STATE(F, S)                                                \
	F(S, 1, STR, char *, node, NULL)                                       \
	F(S, 2, STR, char *, addr, NULL)                                       \
	F(S, 3, U64, uint64_t, incarnation, NULL)                              \
	F(S, 4, U32, uint32_t, state, NULL)                                    \
	F(S, 5, STRLIST, struct cdc_strlist, tags, NULL)
CDC_STRUCT(swim_member_state, SWIM_MEMBER_STATE)
extern const struct cdc_msg_desc swim_member_state_desc;

#define SWIM_MSG(F, S)                                                         \
	F(S, 1, U32, uint32_t, type, NULL)                                     \
	F(S, 2, U32, uint32_t, seq, NULL)                                      \
	F(S, 3, STR, char *, node, NULL)                                       \
	F(S, 4, STR, char *, addr, NULL)                                       \
	F(S, 5, STR, char *, from, NULL)                                       \
	F(S, 6, STR, char *, from_addr, NULL)                                  \
	F(S, 7, U64, uint64_t, incarnation, NULL)                              \
	F(S, 8, STRLIST, struct cdc_strlist, tags, NULL)                       \
	F(S, 9, BOOL, bool, nack, NULL)                                        \
	F(S, 10, U64, uint64_t, ltime, NULL)                                   \
	F(S, 11, STR, char *, name, NULL)                                      \
	F(S, 12, BYTES, struct cdc_bytes, payload, NULL)                       \
	F(S, 13, MSGLIST, struct cdc_list, states, &swim_member_state_desc)    \
	F(S, 14, BOOL, bool, join, NULL)                                       \
	F(S, 15, BYTES, struct cdc_bytes, coord, NULL)
CDC_STRUCT(swim_msg, SWIM_MSG)
extern const struct cdc_msg_desc swim_msg_desc;

#define SWIM_PACKET(F, S)                                                      \
	F(S, 1, U32, uint32_t, protocol, NULL)                                 \
	F(S, 2, MSGLIST, struct cdc_list, msgs, &swim_msg_desc)
CDC_STRUCT(swim_packet, SWIM_PACKET)
extern const struct cdc_msg_desc swim_packet_desc;

/* swim_packet_decode - a received (decrypted) packet; checks the protocol
 * version and each message's type and required fields.  Returns 0 or
 * -EBADMSG with a reason in eb; free with cdc_free(&swim_packet_desc). */
int swim_packet_decode(const void *p, size_t n, struct swim_packet *pkt,
    struct errbuf *eb);

/* swim_msg_size - the encoded size of m inside a packet */
size_t swim_msg_size(const struct swim_msg *m);

#endif
