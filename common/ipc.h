/* ipc.h - request/reply between local daemons over nanomsg ipc:// sockets,
 * driven by libev.  Both ends use raw (AF_SP_RAW) REQ/REP sockets so that
 * many requests are in flight at once and replies may come back in any
 * order or later (a raftd write waits for a quorum).  Bodies are decoded
 * against the catalogue (ipc_msg.h) before a handler sees them.
 *
 * A server's socket lives at <run_dir>/<daemon>.rpc.  If the server is
 * down, requests wait IPC_CONNECT_WAIT_S for it and then fail (-EAGAIN);
 * nanomsg reconnects by itself once the daemon is back.  A request the
 * server took and then lost by dying is found out by probing (IPC_PROBE,
 * about once a second for requests older than that): it is sent again
 * if its type is repeatable (ipc_type_repeatable), else failed with
 * -ECONNRESET, instead of waiting for its deadline.
 */
#ifndef CAIRN_IPC_H
#define CAIRN_IPC_H

#include <ev.h>
#include <stdint.h>

#include "err.h"
#include "ipc_msg.h"

struct ipc_server;
struct ipc_client;

/* One received request.  Handed to a handler, it stays valid until the
 * handler (now or later) calls ipc_reply or ipc_reply_error, which frees it.
 * `body` points at the decoded request struct of the type's catalogue
 * entry (owned by req). */
struct ipc_req {
	struct ipc_server *srv;
	struct ipc_hdr hdr;
	const struct ipc_type_info *ti;
	void *body;
	void *control;	/* nanomsg routing header (NN_MSG chunk) */
	struct ipc_req *next, *prev; /* server's list of open requests */
};

typedef void (*ipc_handler_fn)(struct ipc_req *req, void *arg);

/* ipc_server_open - bind <path> (an absolute filesystem path; the url is
 * "ipc://<path>").  Fails with -EADDRINUSE if a live server already
 * answers there; removes a stale socket file otherwise.  Returns 0 and a
 * new server (free with ipc_server_close) or -errno with eb set. */
int ipc_server_open(struct ev_loop *loop, const char *path,
    struct ipc_server **out, struct errbuf *eb);

/* ipc_server_on - route requests of `type` to fn.  A type without a handler
 * is answered with -ENOTSUP. */
void ipc_server_on(struct ipc_server *srv, uint16_t type, ipc_handler_fn fn,
    void *arg);

/* ipc_reply - answer req with status 0 and `body` (the type's reply struct;
 * NULL for an empty body).  Frees req.  Returns 0, or -errno if the reply
 * could not be queued (the requester will time out). */
int ipc_reply(struct ipc_req *req, const void *body);

/* ipc_reply_error - answer req with a negative errno status and a message.
 * Frees req. */
int ipc_reply_error(struct ipc_req *req, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* counters kept by the server */
struct ipc_server_stats {
	uint64_t requests; /* requests received and dispatched */
	uint64_t bad;	   /* dropped or answered -EBADMSG/-ENOTSUP */
	uint64_t replies;  /* replies sent */
	uint64_t pending;  /* requests not answered yet */
};
void ipc_server_stats(const struct ipc_server *srv,
    struct ipc_server_stats *st);

/* ipc_server_close - stop, close the socket, remove the socket file, and
 * free requests still open (their requesters time out).  NULL is a no-op. */
void ipc_server_close(struct ipc_server *srv);

/* --- client ---------------------------------------------------------------- */

/* Completion of one call: status 0 and `body` = the decoded reply struct
 * (borrowed: valid only during the callback), or status < 0 and `errmsg`. */
typedef void (*ipc_reply_fn)(int status, void *body, const char *errmsg,
    void *arg);

/* ipc_client_open - connect (asynchronously; the server may be down) to the
 * server socket at path. */
int ipc_client_open(struct ev_loop *loop, const char *path,
    struct ipc_client **out, struct errbuf *eb);

/* ipc_call - send a request of `type` with `body` (the type's request
 * struct; NULL for empty).  cb is called exactly once, from the loop, never
 * from within ipc_call: with the reply, or -ETIMEDOUT after timeout_ms,
 * -EAGAIN if the request could not be sent (server not connected),
 * -ECONNRESET if the server restarted before answering a request that is
 * not safe to repeat (its outcome is unknown), or -ECANCELED when the
 * client is closed.  Returns 0, or -EINVAL for a type
 * missing from the catalogue (cb not called). */
int ipc_call(struct ipc_client *c, uint16_t type, const void *body,
    unsigned timeout_ms, ipc_reply_fn cb, void *arg);

/* ipc_client_pending - calls not completed yet. */
unsigned ipc_client_pending(const struct ipc_client *c);

/* ipc_client_close - cancel pending calls (callbacks get -ECANCELED) and
 * free.  NULL is a no-op. */
void ipc_client_close(struct ipc_client *c);

/* ipc_call_sync - one blocking call without an event loop (CLI, tests).
 * On success returns 0 and *rep (zeroed by the caller, the type's reply
 * struct) holds the reply (release with cdc_free(ti->rep, rep)).  Otherwise
 * returns the negative status with eb set: -ETIMEDOUT when nothing answered
 * within timeout_ms (the daemon is down or stuck). */
int ipc_call_sync(const char *path, uint16_t type, const void *body,
    void *rep, unsigned timeout_ms, struct errbuf *eb);

/* --- events: publish/subscribe --------------------------------------------
 * A daemon publishes change events on <run_dir>/<daemon>.events (nanomsg
 * PUB); others subscribe (SUB).  Events are hints: a slow subscriber may
 * miss some, and one that (re)connects misses what came before, so after
 * ipc_sub_open and whenever in doubt a subscriber re-reads the state.
 * Each event is a whole IPC message (header with reqid 0 + a body of the
 * type's request struct). */
struct ipc_pub;
struct ipc_sub;

typedef void (*ipc_event_fn)(uint16_t type, void *body, void *arg);

/* ipc_pub_open - bind a publisher at path (stale socket files removed,
 * -EADDRINUSE if a live publisher is there). */
int ipc_pub_open(const char *path, struct ipc_pub **out, struct errbuf *eb);
/* ipc_publish - send one event (never blocks; dropped if a subscriber's
 * queue is full).  Returns 0 or -errno. */
int ipc_publish(struct ipc_pub *p, uint16_t type, const void *body);
void ipc_pub_close(struct ipc_pub *p);

/* ipc_sub_open - subscribe to the publisher at path (it may be down:
 * nanomsg connects when it appears); fn gets each event decoded (body
 * borrowed for the call).  Undecodable events are dropped. */
int ipc_sub_open(struct ev_loop *loop, const char *path, ipc_event_fn fn,
    void *arg, struct ipc_sub **out, struct errbuf *eb);
void ipc_sub_close(struct ipc_sub *s);

/* ipc_socket_path - "<run_dir>/<daemon>.rpc" into out. */
int ipc_socket_path(char *out, size_t outlen, const char *run_dir,
    const char *daemon);

#endif
