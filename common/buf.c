/* buf.c - growable byte buffer; grows by doubling and aborts on OOM. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "xmalloc.h"

#define BUF_MIN_CAP 64

void
buf_init(struct buf *b)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void
buf_free(struct buf *b)
{
	free(b->data);
	buf_init(b);
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
}

void
buf_reserve(struct buf *b, size_t n)
{
	size_t need, cap;

	if (b->cap - b->len >= n)
		return;
	if (n > SIZE_MAX - b->len) {
		fprintf(stderr, "buf: size overflow (%zu + %zu bytes)\n",
		    b->len, n);
		abort();
	}
	need = b->len + n;
	cap = b->cap ? b->cap : BUF_MIN_CAP;
	while (cap < need) {
		if (cap > SIZE_MAX / 2) {
			cap = need;
			break;
		}
		cap *= 2;
	}
	b->data = xreallocarray(b->data, cap, 1);
	b->cap = cap;
}

void
buf_put(struct buf *b, const void *p, size_t n)
{
	if (n == 0)
		return;
	buf_reserve(b, n);
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

void
buf_put_u8(struct buf *b, uint8_t v)
{
	buf_reserve(b, 1);
	b->data[b->len++] = v;
}

void
buf_put_be16(struct buf *b, uint16_t v)
{
	buf_reserve(b, 2);
	be16_set(b->data + b->len, v);
	b->len += 2;
}

void
buf_put_be32(struct buf *b, uint32_t v)
{
	buf_reserve(b, 4);
	be32_set(b->data + b->len, v);
	b->len += 4;
}

void
buf_put_be64(struct buf *b, uint64_t v)
{
	buf_reserve(b, 8);
	be64_set(b->data + b->len, v);
	b->len += 8;
}

void
buf_put_str(struct buf *b, const char *s)
{
	buf_put(b, s, strlen(s));
}

/* buf_steal - never returns NULL: an empty buf hands out a fresh 1-byte
 * allocation, so callers can treat the result uniformly. */
uint8_t *
buf_steal(struct buf *b, size_t *len)
{
	uint8_t *p = b->data;

	if (len != NULL)
		*len = b->len;
	if (p == NULL)
		p = xmalloc(1);
	buf_init(b);
	return p;
}
