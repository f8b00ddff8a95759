/* err.h - error conventions: functions return 0 or a negative errno; a
 * struct errbuf carries a human-readable reason with context. */
#ifndef CAIRN_ERR_H
#define CAIRN_ERR_H

#include <stddef.h>

#define ERRBUF_LEN 256

struct errbuf {
	char msg[ERRBUF_LEN];
};

/* errbuf_set - replace the message.  eb may be NULL (then only rc is
 * returned).  Returns rc, so callers can write
 * `return errbuf_set(eb, -EINVAL, "bad %s", x);` */
int errbuf_set(struct errbuf *eb, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* errbuf_wrap - prefix the current message with context: "ctx: old". */
int errbuf_wrap(struct errbuf *eb, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

void errbuf_clear(struct errbuf *eb);

#endif
