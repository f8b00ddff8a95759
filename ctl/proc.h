/* proc.h - what `cairn lock` and `cairn watch` share: flags that end at
 * the first argument (the rest is a command line), children run as
 * Consul runs them ($SHELL -c or exec), signals as wake-ups, a monotonic
 * clock. */
#ifndef CAIRN_CTL_PROC_H
#define CAIRN_CTL_PROC_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cli.h"

/* set by the handlers proc_signals installs: wake on any of them, sig for
 * the last SIGINT/SIGTERM, chld for SIGCHLD; the caller clears them */
extern volatile sig_atomic_t proc_wake;
extern volatile sig_atomic_t proc_sig;
extern volatile sig_atomic_t proc_chld;

/* proc_parse - cli_parse for `cmd [flags] args...` as Go's flag package
 * reads it: flags stop at the first argument not starting with '-' (or
 * after "--"), and -shell[=bool] (default true) is taken out into *shell.
 * The arguments are argv[*first..argc): unlike cli_parse_go, a flag
 * after the first argument belongs to the child.  Returns like
 * cli_parse. */
int proc_parse(int argc, char **argv, const char *const *bools,
    const char *const *strs, struct opts *o, const char *usage,
    bool *shell, int *first);

/* proc_parse_bool - Go's strconv.ParseBool; -1 if s is none of them */
int proc_parse_bool(const char *s);

/* proc_signals - handlers for SIGINT and SIGTERM (and SIGCHLD if chld)
 * that interrupt system calls; SIGPIPE ignored */
void proc_signals(bool chld);

/* proc_now_ms - CLOCK_MONOTONIC in milliseconds */
int64_t proc_now_ms(void);

/* proc_sleep - sleep ms or until proc_wake; 0, or -1 if woken */
int proc_sleep(int64_t ms);

/* proc_spawn - run args (joined with spaces under $SHELL -c, default
 * /bin/sh, if shell; else exec'd as they are) with stdin from in_fd (-1:
 * /dev/null, -2: ours), stdout and stderr ours, and env ("NAME=value")
 * added.  Returns the pid, or -1 with "Error starting handler: ..."
 * printed. */
pid_t proc_spawn(char **args, int nargs, bool shell, int in_fd,
    const char *env);

/* proc_status_text - a wait status as Go prints a failed child: "exit
 * status 3", "signal: terminated" */
void proc_status_text(int status, char *buf, size_t n);

/* proc_reap - waitpid(pid) without blocking; 1 and *status if it has
 * ended, else 0 */
int proc_reap(pid_t pid, int *status);

/* proc_stop - SIGTERM, then SIGKILL if pid is still running after grace
 * ms; reaps it.  Returns its wait status. */
int proc_stop(pid_t pid, int64_t grace_ms, bool verbose);

#endif
