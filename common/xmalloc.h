/* xmalloc.h - allocation that aborts on out-of-memory (daemons only; the
 * raft core and parsers of outside input that must be fault-tested use plain
 * malloc and return -ENOMEM). */
#ifndef CAIRN_XMALLOC_H
#define CAIRN_XMALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xreallocarray(void *p, size_t nmemb, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* xasprintf - returns a new string; free with free(). */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
