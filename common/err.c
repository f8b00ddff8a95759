/* err.c - errbuf helpers. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "err.h"

int
errbuf_set(struct errbuf *eb, int rc, const char *fmt, ...)
{
	va_list ap;

	if (eb == NULL)
		return rc;
	va_start(ap, fmt);
	vsnprintf(eb->msg, sizeof(eb->msg), fmt, ap);
	va_end(ap);
	return rc;
}

int
errbuf_wrap(struct errbuf *eb, int rc, const char *fmt, ...)
{
	char prefix[ERRBUF_LEN], old[ERRBUF_LEN];
	va_list ap;

	if (eb == NULL)
		return rc;
	memcpy(old, eb->msg, sizeof(old));
	old[sizeof(old) - 1] = '\0';
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	if (old[0] == '\0')
		snprintf(eb->msg, sizeof(eb->msg), "%s", prefix);
	else
		snprintf(eb->msg, sizeof(eb->msg), "%s: %s", prefix, old);
	return rc;
}

void
errbuf_clear(struct errbuf *eb)
{
	if (eb != NULL)
		eb->msg[0] = '\0';
}
