/* notify.c - sd_notify wrappers. */
#include <stdio.h>
#include <systemd/sd-daemon.h>

#include "log.h"
#include "notify.h"

static void
send_state(const char *state)
{
	int r = sd_notify(0, state);

	if (r < 0)
		log_debug("sd_notify(%s): error %d", state, r);
}

void
notify_ready(const char *status)
{
	char msg[512];

	snprintf(msg, sizeof(msg), "READY=1\nSTATUS=%s", status ? status : "");
	send_state(msg);
}

void
notify_reloading(void)
{
	send_state("RELOADING=1");
}

void
notify_stopping(void)
{
	send_state("STOPPING=1");
}

void
notify_status(const char *status)
{
	char msg[512];

	snprintf(msg, sizeof(msg), "STATUS=%s", status);
	send_state(msg);
}
