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
	{
		char joined[2 * ERRBUF_LEN + 2];

		if (old[0] == '\0')
			snprintf(joined, sizeof(joined), "%s", prefix);
		else
			snprintf(joined, sizeof(joined), "%s: %s", prefix, old);
		memcpy(eb->msg, joined, sizeof(eb->msg) - 1);
		eb->msg[sizeof(eb->msg) - 1] = '\0';
	}
	return rc;
}

void
errbuf_clear(struct errbuf *eb)
{
	if (eb != NULL)
		eb->msg[0] = '\0';
}
