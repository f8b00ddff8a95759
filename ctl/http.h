/* http.h - the CLI's HTTP client for the agent's API (libcurl), with
 * Consul's common flags: -http-addr (CONSUL_HTTP_ADDR, CAIRN_HTTP_ADDR),
 * -token (CONSUL_HTTP_TOKEN), -datacenter. */
#ifndef CAIRN_CTL_HTTP_H
#define CAIRN_CTL_HTTP_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct ctl_http {
	const char *addr;  /* "127.0.0.1:8500", "http://..." */
	const char *token; /* or NULL */
	const char *dc;	   /* or NULL */
};

/* ctl_http_flag - consume one of the common flags at argv[*i] ("-x=v"
 * or "-x v"); returns 1 if it was one, 0 if not, -1 on a missing value */
int ctl_http_flag(struct ctl_http *h, int argc, char **argv, int *i);
/* ctl_http_init - defaults from the environment */
void ctl_http_init(struct ctl_http *h);
/* ctl_http_do - method path (with query, without ?dc) and body; fills
 * *status and out.  Returns 0, or -1 with a message printed to stderr
 * when the agent cannot be reached. */
int ctl_http_do(const struct ctl_http *h, const char *method,
    const char *path, const void *body, size_t n, long *status,
    struct buf *out);

/* what a caller of ctl_http_do_meta may ask for and gets back */
struct ctl_http_meta {
	long timeout_ms;	       /* whole request; 0: 60 s */
	volatile sig_atomic_t *cancel; /* abort once *cancel != 0 (<= ~1 s) */
	bool quiet;		       /* no message on failure: see errstr */
	uint64_t index;		       /* out: X-Consul-Index, 0 if absent */
	bool cancelled;		       /* out: aborted through cancel */
	const char *errstr;	       /* out: why it failed, or NULL */
	/* a streamed body (monitor): each piece to on_data instead of out */
	void (*on_data)(const char *p, size_t n, void *arg);
	void *on_data_arg;
	/* transfer progress, about once a second (snapshot save/restore) */
	void (*on_progress)(uint64_t down, uint64_t up, uint64_t up_total,
	    void *arg);
	void *on_progress_arg;
};

/* ctl_http_do_meta - ctl_http_do for blocking queries and interruptible
 * requests: its own timeout and cancel flag, and the response's
 * X-Consul-Index.  Returns 0, or -1 (cancelled, or unreachable with a
 * message unless quiet). */
int ctl_http_do_meta(const struct ctl_http *h, const char *method,
    const char *path, const void *body, size_t n, long *status,
    struct buf *out, struct ctl_http_meta *m);

#endif
