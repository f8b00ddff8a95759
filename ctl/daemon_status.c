/* daemon_status.c - `cairn daemon-status`: ask this node's daemons for
 * their status over IPC (what `cairn info` builds on). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "ipc.h"

static const char *const all_daemons[] = {"raftd", "gossipd", "httpd",
					  "dnsd", "checkd"};

static void
usage(FILE *f)
{
	fprintf(f,
	    "Usage: cairn daemon-status [options] [daemon ...]\n\n"
	    "  Asks each daemon of this node (raftd gossipd httpd dnsd checkd by\n"
	    "  default) for its status over its IPC socket.  Exit code 1 if any\n"
	    "  does not answer.\n\n"
	    "Options:\n"
	    "  -data-dir=<path>  the agent's data directory (sockets in <path>/run)\n"
	    "  -run-dir=<path>   the IPC socket directory, if not <data-dir>/run\n"
	    "  -timeout=<ms>     how long to wait for each daemon (default 2000)\n");
}

static int
opt(const char *a, const char *name, int argc, char **argv, int *i,
    const char **val)
{
	size_t n = strlen(name);

	if (*a != '-')
		return 0;
	a++;
	if (*a == '-')
		a++;
	if (strncmp(a, name, n) != 0)
		return 0;
	if (a[n] == '=') {
		*val = a + n + 1;
		return 1;
	}
	if (a[n] != '\0')
		return 0;
	if (*i + 1 >= argc) {
		*val = NULL;
		return 1;
	}
	*val = argv[++*i];
	return 1;
}

static int
show(const char *run_dir, const char *name, unsigned timeout)
{
	struct ipc_status st;
	struct errbuf eb;
	char path[256];
	size_t i;
	int r;

	if (ipc_socket_path(path, sizeof(path), run_dir, name) < 0) {
		fprintf(stderr, "%s: run dir path too long\n", name);
		return -1;
	}
	memset(&st, 0, sizeof(st));
	r = ipc_call_sync(path, IPC_STATUS, NULL, &st, timeout, &eb);
	if (r < 0) {
		printf("%s: not answering: %s\n", name, eb.msg);
		return -1;
	}
	printf("%s: running\n", name);
	printf("\tpid = %llu\n", (unsigned long long)st.pid);
	printf("\tversion = %s\n", st.version ? st.version : "");
	printf("\trevision = %s\n", st.revision ? st.revision : "");
	printf("\tuptime_ms = %llu\n", (unsigned long long)st.uptime_ms);
	printf("\tlog_level = %s\n", st.log_level ? st.log_level : "");
	printf("\treloads = %llu\n", (unsigned long long)st.reloads);
	for (i = 0; i < st.counters.n; i++) {
		struct ipc_counter *c = (struct ipc_counter *)st.counters.v + i;

		printf("\tcounter.%s = %llu\n", c->name,
		    (unsigned long long)c->value);
	}
	for (i = 0; i < st.info.n; i++) {
		struct ipc_kv *kv = (struct ipc_kv *)st.info.v + i;

		printf("\t%s = %s\n", kv->key, kv->value ? kv->value : "");
	}
	cdc_free(&ipc_status_desc, &st);
	return 0;
}

int
cmd_daemon_status(int argc, char **argv)
{
	const char *data_dir = NULL, *run_dir = NULL, *v;
	const char *names[16];
	char rd[4096];
	unsigned timeout = 2000;
	int n = 0, i, j, failed = 0;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "-h") == 0 || strcmp(a, "-help") == 0 ||
		    strcmp(a, "--help") == 0) {
			usage(stdout);
			return 0;
		} else if (opt(a, "data-dir", argc, argv, &i, &v)) {
			if (v == NULL)
				goto missing;
			data_dir = v;
		} else if (opt(a, "run-dir", argc, argv, &i, &v)) {
			if (v == NULL)
				goto missing;
			run_dir = v;
		} else if (opt(a, "timeout", argc, argv, &i, &v)) {
			char *end;
			long t;

			if (v == NULL)
				goto missing;
			t = strtol(v, &end, 10);
			if (*end || t <= 0 || t > 600000) {
				fprintf(stderr, "cairn daemon-status: -timeout: "
						"expected milliseconds, got "
						"\"%s\"\n",
				    v);
				return 1;
			}
			timeout = (unsigned)t;
		} else if (a[0] == '-') {
			fprintf(stderr, "cairn daemon-status: unknown flag %s\n",
			    a);
			return 1;
		} else {
			for (j = 0; j < 5; j++)
				if (strcmp(a, all_daemons[j]) == 0)
					break;
			if (j == 5) {
				fprintf(stderr,
				    "cairn daemon-status: unknown daemon "
				    "\"%s\" (raftd gossipd httpd dnsd "
				    "checkd)\n",
				    a);
				return 1;
			}
			if (n < 16)
				names[n++] = all_daemons[j];
		}
	}
	if (run_dir == NULL) {
		if (data_dir == NULL) {
			fprintf(stderr, "cairn daemon-status: need -data-dir "
					"or -run-dir\n");
			return 1;
		}
		snprintf(rd, sizeof(rd), "%s/run", data_dir);
		run_dir = rd;
	}
	if (n == 0)
		for (j = 0; j < 5; j++)
			names[n++] = all_daemons[j];
	for (i = 0; i < n; i++)
		if (show(run_dir, names[i], timeout) < 0)
			failed = 1;
	return failed;
missing:
	fprintf(stderr, "cairn daemon-status: %s: missing value\n", argv[i]);
	return 1;
}
