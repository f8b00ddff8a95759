/* cairn.c - the `cairn` command: Consul's CLI surface, dispatching on the
 * first argument. */
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "log.h"
#include "version.h"

int cmd_debug_gossip(int argc, char **argv); /* debug_gossip.c */

static const struct ctl_cmd cmds[] = {
    {"agent", cmd_agent, "Runs a Cairn agent", 0},
    {"catalog", cmd_catalog, "Interacts with the catalog", 0},
    {"daemon-status", cmd_daemon_status,
     "Shows the status of this node's daemons over IPC", 0},
    {"debug-raft", cmd_debug_raft,
     "Talks to this node's raftd over IPC (state, put, get)", 1},
    {"debug-gossip", cmd_debug_gossip,
     "Talks to this node's gossipd over IPC (members, fire, event-spread)",
     1},
    {"event", cmd_event, "Fire a new event", 0},
    {"exec", cmd_exec, "Executes a command on Cairn nodes", 0},
    {"force-leave", cmd_force_leave,
     "Forces a member of the cluster to enter the \"left\" state", 0},
    {"info", cmd_info, "Provides debugging information for operators", 0},
    {"join", cmd_join, "Tell Cairn agent to join cluster", 0},
    {"keygen", cmd_keygen, "Generates a new encryption key", 0},
    {"keyring", cmd_keyring, "Manages gossip layer encryption keys", 0},
    {"kv", cmd_kv, "Interacts with the key-value store", 0},
    {"leave", cmd_leave, "Gracefully leaves the Cairn cluster and shuts down",
     0},
    {"lock", cmd_lock, "Execute a command holding a lock", 0},
    {"maint", cmd_maint, "Controls node or service maintenance mode", 0},
    {"members", cmd_members, "Lists the members of a Cairn cluster", 0},
    {"monitor", cmd_monitor, "Stream logs from a Cairn agent", 0},
    {"operator", cmd_operator,
     "Provides cluster-level tools (raft list-peers, remove-peer)", 0},
    {"reload", cmd_reload, "Triggers the agent to reload configuration files",
	0},
    {"rtt", cmd_rtt, "Estimates network round trip time between nodes", 0},
    {"services", cmd_services, "Interacts with services", 0},
    {"snapshot", cmd_snapshot, "Saves, restores and inspects snapshots of "
     "the servers' state", 0},
    {"validate", cmd_validate, "Validates config files and directories",
     0},
    {"version", cmd_version, "Prints the Cairn version", 0},
    {"watch", cmd_watch, "Watch for changes in Cairn", 0},
};

static void
usage(FILE *f)
{
	size_t i;

	fprintf(f, "Usage: cairn [--version] [--help] <command> [<args>]\n\n"
		   "Available commands are:\n");
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!cmds[i].hidden)
			fprintf(f, "    %-15s%s\n", cmds[i].name,
			    cmds[i].synopsis);
}

int
cmd_version(int argc, char **argv)
{
	(void)argv;
	if (argc > 1) {
		fprintf(stderr, "This command takes no arguments\n");
		return 1;
	}
	printf("Cairn v%s\nRevision %s\n"
	       "Protocol %d spoken by default, understands %d to %d\n",
	    CAIRN_VERSION, CAIRN_REVISION, CAIRN_PROTOCOL, CAIRN_PROTOCOL_MIN,
	    CAIRN_PROTOCOL_MAX);
	return 0;
}

int
main(int argc, char **argv)
{
	const char *cmd;
	size_t i;

	log_init("cairn", LOG_LVL_INFO);
	if (argc < 2) {
		usage(stderr);
		return 1;
	}
	cmd = argv[1];
	if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 ||
	    strcmp(cmd, "-help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(cmd, "-v") == 0 || strcmp(cmd, "--version") == 0 ||
	    strcmp(cmd, "-version") == 0)
		return cmd_version(1, argv + 1);
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(cmds[i].name, cmd) == 0)
			return cmds[i].run(argc - 1, argv + 1);
	fprintf(stderr, "cairn: unknown command \"%s\"\n\n", cmd);
	usage(stderr);
	return 1;
}
