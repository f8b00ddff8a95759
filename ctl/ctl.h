/* ctl.h - the cairn CLI: one function per command. */
#ifndef CAIRN_CTL_H
#define CAIRN_CTL_H

struct ctl_cmd {
	const char *name;
	int (*run)(int argc, char **argv); /* argv[0] is the command name */
	const char *synopsis;
	int hidden;
};

int cmd_agent(int argc, char **argv);
int cmd_version(int argc, char **argv);
int cmd_daemon_status(int argc, char **argv);
int cmd_debug_raft(int argc, char **argv);
int cmd_members(int argc, char **argv);
int cmd_join(int argc, char **argv);
int cmd_leave(int argc, char **argv);
int cmd_reload(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_monitor(int argc, char **argv);
int cmd_operator(int argc, char **argv);
int cmd_force_leave(int argc, char **argv);
int cmd_event(int argc, char **argv);
int cmd_exec(int argc, char **argv);
int cmd_keygen(int argc, char **argv);
int cmd_keyring(int argc, char **argv);
int cmd_rtt(int argc, char **argv);
int cmd_snapshot(int argc, char **argv);
int cmd_lock(int argc, char **argv);
int cmd_watch(int argc, char **argv);
int cmd_kv(int argc, char **argv);
int cmd_catalog(int argc, char **argv);
int cmd_services(int argc, char **argv);
int cmd_maint(int argc, char **argv);
int cmd_validate(int argc, char **argv);

#endif
