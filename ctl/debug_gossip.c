/* debug_gossip.c - `cairn debug-gossip` (hidden): talk to a node's gossipd
 * over IPC directly, for tests and benchmarks of standalone cairn-gossipd
 * processes (no httpd): the member list, firing a user event, and timing
 * how long an event takes to reach a set of nodes. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "ipc.h"

int cmd_debug_gossip(int argc, char **argv);

static const char *const status_names[] = {"none", "alive", "leaving",
    "left", "failed"};

static void
usage(FILE *f)
{
	fprintf(f,
	    "Usage: cairn debug-gossip -data-dir=<dir> <command> [args]\n\n"
	    "  members                  one line per member: name addr status\n"
	    "  fire <name> [payload]    fire a user event; prints its id\n"
	    "  event-spread <name> <data-dir>...\n"
	    "                           fire <name> here, then poll each other\n"
	    "                           node's event list until all have it;\n"
	    "                           prints \"<data-dir> <ms>\" per node as it\n"
	    "                           arrives, then \"all <ms>\" (exit 0) or\n"
	    "                           \"missing <n>\" (exit 2) at the timeout\n\n"
	    "Options: -data-dir (or -run-dir), -timeout=<ms> (default 5000),\n"
	    "         -wan (members: the WAN pool)\n");
}

static int
opt_val(const char *a, const char *name, const char **v)
{
	size_t n = strlen(name);

	if (a[0] != '-')
		return 0;
	a += a[1] == '-' ? 2 : 1;
	if (strncmp(a, name, n) != 0 || a[n] != '=')
		return 0;
	*v = a + n + 1;
	return 1;
}

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* has_event - 1 if the gossipd at rpc path lists an event with this id,
 * 0 if not, -1 if it did not answer */
static int
has_event(const char *path, const char *name, const char *id,
    unsigned timeout)
{
	struct ipc_event_list q, rep;
	struct errbuf eb;
	size_t k;
	int found = 0;

	memset(&q, 0, sizeof(q));
	q.name = (char *)name;
	memset(&rep, 0, sizeof(rep));
	if (ipc_call_sync(path, IPC_GOSSIP_EVENT_LIST, &q, &rep, timeout,
		&eb) < 0)
		return -1;
	for (k = 0; k < rep.events.n; k++) {
		struct ipc_user_event *e =
		    (struct ipc_user_event *)rep.events.v + k;

		if (e->id && strcmp(e->id, id) == 0)
			found = 1;
	}
	cdc_free(&ipc_event_list_desc, &rep);
	return found;
}

static int
event_spread(const char *path, const char *name, char **dirs, int n,
    unsigned timeout)
{
	struct ipc_user_event q, rep;
	struct errbuf eb;
	char **paths;
	char *seen;
	double t0, end;
	int i, left = n, r;

	paths = calloc((size_t)n + 1, sizeof(*paths));
	seen = calloc((size_t)n + 1, 1);
	if (paths == NULL || seen == NULL)
		return 1;
	for (i = 0; i < n; i++) {
		size_t len = strlen(dirs[i]) + 32;

		paths[i] = malloc(len);
		if (paths[i] == NULL)
			return 1;
		snprintf(paths[i], len, "%s/run/gossipd.rpc", dirs[i]);
	}
	memset(&q, 0, sizeof(q));
	q.name = (char *)name;
	memset(&rep, 0, sizeof(rep));
	t0 = now_ms();
	end = t0 + timeout;
	if ((r = ipc_call_sync(path, IPC_GOSSIP_EVENT_FIRE, &q, &rep, timeout,
		 &eb)) < 0) {
		fprintf(stderr, "cairn debug-gossip: fire: %s\n", eb.msg);
		return 1;
	}
	printf("fired %s %.1f\n", rep.id ? rep.id : "", now_ms() - t0);
	fflush(stdout);
	/* bounded: every round asks each node still missing it once, with a
	 * short per-call timeout, until all have it or the time is up */
	while (left > 0 && now_ms() < end) {
		for (i = 0; i < n; i++) {
			if (seen[i])
				continue;
			if (has_event(paths[i], name, rep.id, 500) == 1) {
				seen[i] = 1;
				left--;
				printf("%s %.1f\n", dirs[i], now_ms() - t0);
				fflush(stdout);
			}
		}
	}
	if (left == 0)
		printf("all %.1f\n", now_ms() - t0);
	else
		printf("missing %d\n", left);
	for (i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
	free(seen);
	cdc_free(&ipc_user_event_desc, &rep);
	return left == 0 ? 0 : 2;
}

int
cmd_debug_gossip(int argc, char **argv)
{
	const char *run_dir = NULL, *data_dir = NULL, *v, *cmd;
	char rd[4096], path[4200];
	unsigned timeout = 5000;
	bool wan = false;
	struct errbuf eb;
	int i, r;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (opt_val(argv[i], "run-dir", &v))
			run_dir = v;
		else if (opt_val(argv[i], "data-dir", &v))
			data_dir = v;
		else if (opt_val(argv[i], "timeout", &v))
			timeout = (unsigned)strtoul(v, NULL, 10);
		else if (!strcmp(argv[i], "-wan") || !strcmp(argv[i], "--wan"))
			wan = true;
		else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "cairn debug-gossip: unknown flag %s\n",
			    argv[i]);
			return 1;
		}
	}
	if (i >= argc || (run_dir == NULL && data_dir == NULL) ||
	    timeout == 0) {
		usage(stderr);
		return 1;
	}
	if (run_dir == NULL) {
		snprintf(rd, sizeof(rd), "%s/run", data_dir);
		run_dir = rd;
	}
	if (ipc_socket_path(path, sizeof(path), run_dir, "gossipd") < 0) {
		fprintf(stderr, "cairn debug-gossip: run dir path too long\n");
		return 1;
	}
	cmd = argv[i++];

	if (strcmp(cmd, "members") == 0 && argc == i) {
		struct ipc_pool_req q;
		struct ipc_members rep;
		size_t k;

		memset(&q, 0, sizeof(q));
		q.wan = wan;
		memset(&rep, 0, sizeof(rep));
		if ((r = ipc_call_sync(path, IPC_GOSSIP_MEMBERS, &q, &rep,
			 timeout, &eb)) < 0)
			goto fail;
		for (k = 0; k < rep.members.n; k++) {
			struct ipc_member *m =
			    (struct ipc_member *)rep.members.v + k;

			printf("%s %s:%" PRIu32 " %s\n", m->name ? m->name : "",
			    m->addr ? m->addr : "", m->port,
			    m->status <= 4 ? status_names[m->status] : "none");
		}
		cdc_free(&ipc_members_desc, &rep);
		return 0;
	}
	if (strcmp(cmd, "fire") == 0 && (argc - i == 1 || argc - i == 2)) {
		struct ipc_user_event q, rep;

		memset(&q, 0, sizeof(q));
		q.name = argv[i];
		if (argc - i == 2) {
			q.payload.p = (uint8_t *)argv[i + 1];
			q.payload.n = strlen(argv[i + 1]);
		}
		memset(&rep, 0, sizeof(rep));
		if ((r = ipc_call_sync(path, IPC_GOSSIP_EVENT_FIRE, &q, &rep,
			 timeout, &eb)) < 0)
			goto fail;
		printf("%s %" PRIu64 "\n", rep.id ? rep.id : "", rep.ltime);
		cdc_free(&ipc_user_event_desc, &rep);
		return 0;
	}
	if (strcmp(cmd, "event-spread") == 0 && argc - i >= 1)
		return event_spread(path, argv[i], argv + i + 1, argc - i - 1,
		    timeout);
	usage(stderr);
	return 1;
fail:
	fprintf(stderr, "cairn debug-gossip: %s\n", eb.msg);
	return 1;
}
