/* msg.c - gossip message descriptors and packet validation. */
#include <errno.h>
#include <string.h>

#include "msg.h"

CDC_DESC(swim_member_state, SWIM_MEMBER_STATE)
CDC_DESC(swim_msg, SWIM_MSG)
CDC_DESC(swim_packet, SWIM_PACKET)

static int
need(const char *v, const char *what, size_t i, struct errbuf *eb)
{
	if (v != NULL && *v != '\0')
		return 0;
	return errbuf_set(eb, -EBADMSG, "message %zu: missing %s", i, what);
}

int
swim_packet_decode(const void *p, size_t n, struct swim_packet *pkt,
    struct errbuf *eb)
{
	size_t i;
	int r;

	memset(pkt, 0, sizeof(*pkt));
	if ((r = cdc_decode(&swim_packet_desc, p, n, pkt, eb)) < 0)
		return r;
	if (pkt->protocol != SWIM_PROTOCOL) {
		r = errbuf_set(eb, -EBADMSG, "protocol %u, expected %u",
		    pkt->protocol, SWIM_PROTOCOL);
		goto bad;
	}
	for (i = 0; i < pkt->msgs.n; i++) {
		const struct swim_msg *m = (const struct swim_msg *)pkt->msgs.v + i;
		size_t k;

		switch (m->type) {
		case SWIM_PING:
		case SWIM_INDIRECT_PING:
			if ((r = need(m->node, "node", i, eb)) < 0 ||
			    (r = need(m->from, "from", i, eb)) < 0)
				goto bad;
			if (m->type == SWIM_INDIRECT_PING &&
			    (r = need(m->addr, "addr", i, eb)) < 0)
				goto bad;
			break;
		case SWIM_ACK:
		case SWIM_NACK:
			break;
		case SWIM_ALIVE:
			if ((r = need(m->node, "node", i, eb)) < 0 ||
			    (r = need(m->addr, "addr", i, eb)) < 0)
				goto bad;
			break;
		case SWIM_SUSPECT:
		case SWIM_DEAD:
			if ((r = need(m->node, "node", i, eb)) < 0 ||
			    (r = need(m->from, "from", i, eb)) < 0)
				goto bad;
			break;
		case SWIM_USER_EVENT:
			if ((r = need(m->name, "name", i, eb)) < 0)
				goto bad;
			break;
		case SWIM_PUSH_PULL:
			if ((r = need(m->from, "from", i, eb)) < 0)
				goto bad;
			for (k = 0; k < m->states.n; k++) {
				const struct swim_member_state *s =
				    (const struct swim_member_state *)
					m->states.v +
				    k;

				if (s->node == NULL || *s->node == '\0' ||
				    s->addr == NULL || *s->addr == '\0' ||
				    s->state > SWIM_STATE_LEFT) {
					r = errbuf_set(eb, -EBADMSG,
					    "message %zu: bad member state %zu",
					    i, k);
					goto bad;
				}
			}
			break;
		default:
			r = errbuf_set(eb, -EBADMSG,
			    "message %zu: unknown type %u", i, m->type);
			goto bad;
		}
	}
	return 0;
bad:
	cdc_free(&swim_packet_desc, pkt);
	return r;
}

size_t
swim_msg_size(const struct swim_msg *m)
{
	struct buf b = BUF_INIT;
	size_t n;

	cdc_encode(&b, &swim_msg_desc, m);
	n = b.len + 4; /* tag and length inside the packet */
	buf_free(&b);
	return n;
}
