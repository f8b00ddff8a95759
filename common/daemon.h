/* daemon.h - what every Cairn daemon shares: flags and config, the libev
 * loop, signals (TERM/INT graceful stop, HUP reload), the IPC server with
 * the built-in PING/STATUS/RELOAD handlers, counters, and readiness.
 *
 * A daemon's main() is:
 *     static const struct daemon_ops ops = { "raftd", ..., init, ... };
 *     int main(int argc, char **argv) { return daemon_main(&ops, argc, argv); }
 */
#ifndef CAIRN_DAEMON_H
#define CAIRN_DAEMON_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>

#include "cfg.h"
#include "err.h"
#include "ipc.h"

#define DAEMON_MAX_COUNTERS 64
#define DAEMON_STOP_GRACE_S 4.0 /* hard stop after this long */

struct daemon;

struct daemon_ops {
	const char *name;    /* "raftd": log name, socket <run_dir>/raftd.rpc */
	const char *summary; /* one line for -h */
	/* init - the config is loaded and the IPC server is listening; open
	 * stores, bind ports, register IPC handlers.  Return 0 when the
	 * daemon can serve (READY=1 follows), or -errno with eb set (the
	 * daemon exits 1). */
	int (*init)(struct daemon *d, struct errbuf *eb);
	/* reload - d->conf now holds the new configuration; old is the
	 * previous one (freed after this returns).  Optional. */
	void (*reload)(struct daemon *d, const struct cairn_conf *old);
	/* stop - begin a graceful stop; call daemon_stopped(d) when done
	 * (at once or later).  Optional: without it the loop ends at once.
	 * After DAEMON_STOP_GRACE_S the loop ends regardless. */
	void (*stop)(struct daemon *d);
	/* close - release everything init made.  Optional. */
	void (*close)(struct daemon *d);
	/* status - add daemon-specific "section.key" lines to st->info
	 * (use daemon_status_info).  Optional. */
	void (*status)(struct daemon *d, struct ipc_status *st);
};

struct daemon_counter {
	const char *name;
	uint64_t value;
};

struct daemon {
	const struct daemon_ops *ops;
	struct ev_loop *loop;
	struct cairn_conf conf;
	struct ipc_server *rpc;
	struct ipc_pub *logpub;	/* <run_dir>/<name>.log: log lines */
	void *priv; /* the daemon's own state */
	char rpc_path[256];
	ev_signal sig_term, sig_int, sig_hup;
	ev_timer stop_timer;
	ev_tstamp started_mono;
	uint64_t started_unix_ms;
	uint64_t reloads;
	bool stopping;
	int stop_signal;	/* SIGTERM or SIGINT: what began the stop */
	struct daemon_counter counters[DAEMON_MAX_COUNTERS];
	size_t ncounters;
};

/* daemon_main - run a daemon: parse flags/config (exit 1 with the
 * "<source>: <key>: <reason>" message on error), create data_dir and
 * run_dir, open the IPC server, call ops->init, notify READY=1, run the
 * loop until a stop, then clean up.  Daemon-only flags: -h/-help,
 * -version, -config-test (load the config, print "Configuration is
 * valid!", exit 0).  Returns the process exit code. */
int daemon_main(const struct daemon_ops *ops, void *priv, int argc,
    char **argv);

/* daemon_stopped - the graceful stop begun by ops->stop is complete. */
void daemon_stopped(struct daemon *d);

/* daemon_counter - a named counter (registered on first use; name must be
 * a string literal or otherwise outlive the daemon).  Returned pointer is
 * stable. */
uint64_t *daemon_counter(struct daemon *d, const char *name);

/* daemon_status_info - append a "section.key" = value line to st->info. */
void daemon_status_info(struct ipc_status *st, const char *key,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* daemon_reload - what SIGHUP and IPC_RELOAD do: parse a fresh config,
 * keep the old one on error.  Returns 0 or -EINVAL (message in eb). */
int daemon_reload(struct daemon *d, struct errbuf *eb);

#endif
