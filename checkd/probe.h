/* probe.h - one run of an active health check (script, HTTP(S), TCP, UDP),
 * asynchronous on checkd's libev loop.  The scheduler (intervals, spreading,
 * thresholds, TTL and alias checks) is in local.c; a probe only runs the
 * check once and reports a status and its output. */
#ifndef CAIRN_CHECKD_PROBE_H
#define CAIRN_CHECKD_PROBE_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum probe_kind {
	PROBE_SCRIPT = 1, /* args (argv, execvp'ed) or script (via /bin/sh -c) */
	PROBE_HTTP,	  /* http (URL; http:// or https://) */
	PROBE_TCP,	  /* tcp "host:port" */
	PROBE_UDP,	  /* udp "host:port" */
};

/* check results, as Consul names them */
enum probe_status {
	PROBE_PASSING = 0,
	PROBE_WARNING = 1,
	PROBE_CRITICAL = 2,
};

struct probe_spec {
	enum probe_kind kind;
	/* script */
	char **args;		/* NULL-terminated argv, or NULL */
	const char *script;	/* used when args is NULL */
	/* http */
	const char *http;	/* URL */
	const char *method;	/* NULL or "" = GET */
	const char *body;	/* request body or NULL */
	char **headers;		/* NULL-terminated "Name: value" lines, or NULL */
	bool tls_skip_verify;
	const char *tls_server_name; /* SNI / verified name, or NULL; for
				 * https URLs the request goes to that name
				 * with CURLOPT_CONNECT_TO pointing at the
				 * URL's host (libcurl has no separate
				 * verify name) */
	bool disable_redirects;
	/* tcp, udp */
	const char *addr;	/* "host:port", "[v6]:port" */
	uint64_t timeout_ms;	/* 0 = default: 30 s script, 10 s others */
	size_t output_max;	/* 0 = 4096 bytes; a script's or an HTTP
				 * body's last bytes are kept, as Consul's
				 * circular buffer */
};

/* called exactly once per probe_start that returned a probe, from the
 * loop (never from inside probe_start); output is NUL-terminated, at most
 * output_max bytes of captured text (plus Consul's prefixes), borrowed for
 * the call.  The probe is freed after the callback returns. */
typedef void (*probe_done_fn)(enum probe_status st, const char *output,
    void *arg);

struct probe;

/* probe_start - begin one run.  Returns the probe, or NULL (and done is
 * not called) only when the spec is unusable (e.g. no URL). */
struct probe *probe_start(struct ev_loop *loop, const struct probe_spec *spec,
    probe_done_fn done, void *arg);

/* probe_cancel - stop a run in flight (a script's process group is killed
 * and reaped); done is not called.  NULL is a no-op. */
void probe_cancel(struct probe *p);

/* probe_shutdown - release process-wide resources (libcurl multi handle)
 * at daemon exit.  Probes still running are cancelled (done is not called)
 * and cancelled scripts' children are reaped, blocking briefly: they were
 * sent SIGKILL.  HTTP probes must all use one loop (the first one given);
 * scripts need the default loop (ev_child). */
void probe_shutdown(void);

#endif
