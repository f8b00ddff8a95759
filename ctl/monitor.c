/* monitor.c - cairn monitor: the agent's log lines (every daemon's) as they
 * are written, from /v1/agent/monitor, until interrupted. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "ctl.h"

static volatile sig_atomic_t stop_flag;

static void
on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static void
print(const char *p, size_t n, void *arg)
{
	(void)arg;
	fwrite(p, 1, n, stdout);
	fflush(stdout);
}

int
cmd_monitor(int argc, char **argv)
{
	static const char usage[] =
	    "Usage: cairn monitor [options]\n\n"
	    "  Shows recent log messages of a Cairn agent (every daemon's)\n"
	    "  and streams new ones until interrupted.\n\n"
	    "  -log-level=<level>  trace, debug, info (default), warn, err.\n";
	static const char *const strs[] = {"log-level", NULL};
	struct ctl_http_meta m;
	struct buf out = BUF_INIT;
	struct opts o;
	char path[128];
	long status = 0;
	int r;

	if ((r = cli_parse(argc, argv, NULL, strs, &o, usage)) != 0)
		return r;
	if (o.npos > 0) {
		fprintf(stderr, "This command takes no arguments\n");
		return 1;
	}
	snprintf(path, sizeof(path), "/v1/agent/monitor?loglevel=%s",
	    o.sval[0] ? o.sval[0] : "info");
	memset(&m, 0, sizeof(m));
	m.timeout_ms = 365L * 24 * 3600 * 1000;
	m.cancel = &stop_flag;
	m.on_data = print;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	r = ctl_http_do_meta(&o.h, "GET", path, NULL, 0, &status, &out, &m);
	buf_free(&out);
	if (m.cancelled || stop_flag)
		return 0;
	if (r < 0)
		return 1;
	if (status != 200) {
		fprintf(stderr, "Error starting monitor: Unexpected response "
				"code: %ld\n", status);
		return 1;
	}
	fprintf(stderr, "Remote side ended the monitor! This usually means "
			"that the remote side has exited or crashed.\n");
	return 1;
}
