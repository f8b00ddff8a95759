/* clock.h - the one clock for durations.
 *
 * Every timeout, lease, TTL, deadline and "how long ago" in Cairn is
 * measured on CLOCK_MONOTONIC with mono_now().  libev's ev_now() and
 * ev_time() are the wall clock: an NTP step or an operator's `date -s`
 * would make deadlines computed from them fire early or never (the fault
 * matrix's row 8 jumps a node's wall clock by an hour).  libev's own
 * timers are already monotonic; only absolute times we compute ourselves
 * need this.  The wall clock is for timestamps people read (logs, JSON)
 * and seeds. */
#ifndef CAIRN_CLOCK_H
#define CAIRN_CLOCK_H

#include <time.h>

/* mono_now - seconds since an arbitrary fixed point, never going back */
static inline double
mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#endif
