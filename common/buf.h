/* buf.h - growable byte buffer used by the codec, IPC and network framing. */
#ifndef CAIRN_BUF_H
#define CAIRN_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
	uint8_t *data; /* owned; NULL when cap == 0 */
	size_t len;    /* bytes in use */
	size_t cap;    /* bytes allocated */
};

#define BUF_INIT {NULL, 0, 0}

void buf_init(struct buf *b);
/* buf_free - release storage; the buf may be reused after buf_init. */
void buf_free(struct buf *b);
void buf_reset(struct buf *b); /* len = 0, keep storage */
/* buf_reserve - ensure room for n more bytes; aborts on OOM. */
void buf_reserve(struct buf *b, size_t n);
void buf_put(struct buf *b, const void *p, size_t n);
void buf_put_u8(struct buf *b, uint8_t v);
void buf_put_be16(struct buf *b, uint16_t v);
void buf_put_be32(struct buf *b, uint32_t v);
void buf_put_be64(struct buf *b, uint64_t v);
void buf_put_str(struct buf *b, const char *s); /* no NUL */
/* buf_steal - hand the storage to the caller (free with free()); the buf
 * becomes empty. */
uint8_t *buf_steal(struct buf *b, size_t *len);

static inline uint16_t
be16_get(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static inline uint32_t
be32_get(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
	       ((uint32_t)p[2] << 8) | p[3];
}

static inline uint64_t
be64_get(const uint8_t *p)
{
	return ((uint64_t)be32_get(p) << 32) | be32_get(p + 4);
}

static inline void
be16_set(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void
be32_set(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void
be64_set(uint8_t *p, uint64_t v)
{
	be32_set(p, (uint32_t)(v >> 32));
	be32_set(p + 4, (uint32_t)v);
}

#endif
