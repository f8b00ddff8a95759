/* rexec.c - remote execution, the agent's side of `cairn exec` (Consul's
 * agent/remote_exec.go): a `_rexec` user event names a job spec in the KV
 * store; the agent reads it (stale first, then consistent), writes
 * <prefix>/<session>/<node>/ack, runs the command in its own process group
 * on the loop, streams its output to <node>/out/00000, /00001, ... (hex, as
 * Consul: 4 KB pieces, a shorter one after 500 ms, an empty one as a
 * heartbeat after Wait of quiet) and writes <node>/exit.  Every write is a
 * KV lock held by the job's session, so everything goes with the session.
 *
 * Unlike Consul, the agent kills the job (SIGTERM, then SIGKILL) when a
 * write fails or the session is seen gone (the CLI was interrupted, or
 * died and its session's TTL ran out), and after REXEC_MAX_RUN_S at the
 * latest: Consul leaves it running with nowhere to report to. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ev.h>

#include "ipc.h"
#include "jdec.h"
#include "json.h"
#include "local.h"
#include "log.h"
#include "rexec.h"
#include "xmalloc.h"

#define REXEC_IPC_TIMEOUT_MS 15000
#define REXEC_QUEUE_MAX 16	/* pieces waiting: stop reading the pipe */
#define REXEC_QUEUE_LOW 4	/* ... and read again below this */
#define REXEC_READ_ROUNDS 16	/* pipe reads per wake-up */
#define REXEC_WAIT_DEFAULT_S 2.0 /* a spec without Wait: Consul's CLI's */
#define REXEC_WAIT_MIN_S 0.1	/* heartbeats no faster than this */
#define REXEC_MAX_RUN_S 3600.0	/* then the job is killed, whatever else */
#define REXEC_KILL_GRACE_S 3.0	/* SIGTERM to SIGKILL */
#define REXEC_EXIT_GRACE_S 0.5	/* the shell exited, its pipe is still open
				 * (a background child): read this long */
#define REXEC_RECENT 32		/* sessions remembered: an event delivered
				 * twice runs once */
#define REXEC_ACK "ack"
#define REXEC_EXIT "exit"

enum job_state {
	J_SPEC = 1,	/* reading the spec */
	J_ACK,		/* writing the ack */
	J_RUN,		/* running, output being written */
	J_EXIT,		/* writing the exit code */
};

struct rexec;

struct job {
	struct rexec *rx;
	struct job *next;
	char *prefix, *session, *event_id;
	struct rexec_spec spec;
	enum job_state state;
	bool consistent;	/* the spec read is the consistent retry */
	unsigned calls;		/* IPC calls in flight (arg: this job) */
	bool dead;		/* ended: freed when calls reaches 0 */
	/* the process */
	pid_t pid;		/* also its process group; 0: none */
	ev_child cw;
	bool running;		/* started and not reaped yet */
	int wstatus;
	int pfd;		/* read end of its stdout+stderr, or -1 */
	ev_io pw;
	bool paused;		/* pw stopped: too many pieces waiting */
	char *tmpfile;		/* a spilled Script, removed at the end */
	/* output */
	struct rexec_out out;
	ev_timer flush_w;	/* cut a short piece REXEC_FLUSH_S after its
				 * first byte */
	ev_timer beat_w;	/* heartbeat after wait of no writes */
	ev_timer limit_w;	/* REXEC_MAX_RUN_S, then the kill grace */
	ev_timer grace_w;	/* exited with its pipe still open */
	bool writing;		/* a KV write in flight */
	unsigned seq;		/* the next out/ number */
	bool failed;		/* a write failed: kill, discard output */
	bool gone;		/* its session is: no exit code to write */
	bool killing;		/* SIGTERM sent, SIGKILL on limit_w */
	bool checking;		/* a session read in flight */
	int exit_code;
};

struct rexec {
	struct checkd *cd;
	struct ipc_sub *events;
	struct job *jobs;
	char *recent[REXEC_RECENT];
	size_t recent_next;
};

/* --------------------------------------------------------- pure helpers */

static char *
str_field(yajl_val o, const char *k)
{
	yajl_val v = json_obj_get_ci(o, k);

	return v != NULL && YAJL_IS_STRING(v) && v->u.string != NULL
	    ? xstrdup(v->u.string) : NULL;
}

int
rexec_event_parse(const void *p, size_t n, char **prefix, char **session,
    struct errbuf *eb)
{
	yajl_val v;
	char *pf, *s;

	*prefix = *session = NULL;
	if ((v = json_parse(p, n, eb)) == NULL)
		return -EINVAL;
	if (!YAJL_IS_OBJECT(v)) {
		yajl_tree_free(v);
		return errbuf_set(eb, -EINVAL, "not a JSON object");
	}
	pf = str_field(v, "Prefix");
	s = str_field(v, "Session");
	yajl_tree_free(v);
	if (pf == NULL || *pf == '\0' || s == NULL || *s == '\0') {
		free(pf);
		free(s);
		return errbuf_set(eb, -EINVAL, "Prefix or Session missing");
	}
	/* path.Join would resolve "..": refuse what would leave the
	 * prefix, or write under someone else's session */
	if (strchr(s, '/') != NULL || strcmp(s, ".") == 0 ||
	    strcmp(s, "..") == 0 || strstr(pf, "..") != NULL) {
		free(pf);
		free(s);
		return errbuf_set(eb, -EINVAL, "bad Prefix or Session");
	}
	*prefix = pf;
	*session = s;
	return 0;
}

void
rexec_spec_free(struct rexec_spec *s)
{
	size_t i;

	free(s->command);
	for (i = 0; s->args != NULL && s->args[i] != NULL; i++)
		free(s->args[i]);
	free(s->args);
	free(s->script);
	memset(s, 0, sizeof(*s));
}

int
rexec_spec_parse(const void *p, size_t n, struct rexec_spec *s,
    struct errbuf *eb)
{
	yajl_val v, a, sc, w;
	const char *b64;
	size_t i, k = 0;

	memset(s, 0, sizeof(*s));
	if ((v = json_parse(p, n, eb)) == NULL)
		return -EINVAL;
	if (!YAJL_IS_OBJECT(v)) {
		yajl_tree_free(v);
		return errbuf_set(eb, -EINVAL, "not a JSON object");
	}
	s->command = str_field(v, "Command");
	if ((a = json_obj_get_ci(v, "Args")) != NULL && YAJL_IS_ARRAY(a) &&
	    a->u.array.len > 0) {
		s->args = xcalloc(a->u.array.len + 1, sizeof(char *));
		for (i = 0; i < a->u.array.len; i++) {
			yajl_val e = a->u.array.values[i];

			if (!YAJL_IS_STRING(e) || e->u.string == NULL)
				break;
			s->args[k++] = xstrdup(e->u.string);
		}
		if (k < a->u.array.len || s->args[0][0] == '\0') {
			yajl_tree_free(v);
			return errbuf_set(eb, -EINVAL, "bad Args");
		}
	}
	/* Go's []byte: base64 (or null) */
	sc = json_obj_get_ci(v, "Script");
	b64 = sc != NULL && YAJL_IS_STRING(sc) ? sc->u.string : NULL;
	if (b64 != NULL && *b64 != '\0' && jd_base64_decode(b64, strlen(b64),
	    &s->script, &s->script_len) < 0) {
		yajl_tree_free(v);
		return errbuf_set(eb, -EINVAL, "Script is not base64");
	}
	/* Go's time.Duration: nanoseconds */
	if ((w = json_obj_get_ci(v, "Wait")) != NULL && YAJL_IS_NUMBER(w)) {
		if (YAJL_IS_INTEGER(w))
			s->wait_ns = YAJL_GET_INTEGER(w);
		else if (YAJL_IS_DOUBLE(w))
			s->wait_ns = (int64_t)YAJL_GET_DOUBLE(w);
	}
	yajl_tree_free(v);
	if (s->script_len == 0 && s->args == NULL &&
	    (s->command == NULL || *s->command == '\0'))
		return errbuf_set(eb, -EINVAL, "no Command, Args or Script");
	return 0;
}

char *
rexec_key(const char *prefix, const char *session, const char *node,
    const char *suffix)
{
	const char *parts[4] = {prefix, session, node, suffix};
	struct buf b = BUF_INIT;
	const char *s;
	size_t i;

	for (i = 0; i < 4; i++) {
		for (s = parts[i]; s != NULL && *s != '\0'; s++) {
			if (*s == '/' && (b.len == 0 || b.data[b.len - 1] ==
			    '/'))
				continue;
			buf_put(&b, s, 1);
		}
		if (b.len > 0 && b.data[b.len - 1] != '/')
			buf_put(&b, "/", 1);
	}
	if (b.len > 0)
		b.len--;	/* the trailing '/' */
	buf_put(&b, "", 1);
	return (char *)buf_steal(&b, NULL);
}

/* matches - whether re (POSIX extended, as close to Go's RE2 as libc
 * has) finds a match in s; a pattern that does not compile matches
 * nothing, as Consul's agent drops such an event */
static bool
matches(const char *re, const char *s)
{
	regex_t rx;
	bool ok;

	if (regcomp(&rx, re, REG_EXTENDED | REG_NOSUB) != 0)
		return false;
	ok = regexec(&rx, s, 0, NULL, 0) == 0;
	regfree(&rx);
	return ok;
}

bool
rexec_wanted(const struct ipc_user_event *ev, const char *node,
    const struct lservice *services)
{
	const struct lservice *s;
	size_t i;

	if (ev->node_filter != NULL && *ev->node_filter != '\0' &&
	    !matches(ev->node_filter, node))
		return false;
	if (ev->service_filter == NULL || *ev->service_filter == '\0')
		return true;
	/* Consul scans its local services by ID */
	for (s = services; s != NULL; s = s->next) {
		if (s->def.id == NULL || !matches(ev->service_filter,
		    s->def.id))
			continue;
		if (ev->tag_filter == NULL || *ev->tag_filter == '\0')
			return true;
		for (i = 0; i < s->def.tags.n; i++)
			if (matches(ev->tag_filter, s->def.tags.v[i]))
				return true;
	}
	return false;
}

static void
out_append(struct rexec_out *o, const void *p, size_t n)
{
	struct rexec_piece *pc = xcalloc(1, sizeof(*pc));

	if (n > 0) {
		pc->p = xmalloc(n);
		memcpy(pc->p, p, n);
		pc->n = n;
	}
	if (o->tail != NULL)
		o->tail->next = pc;
	else
		o->head = pc;
	o->tail = pc;
	o->npieces++;
}

void
rexec_out_put(struct rexec_out *o, const void *p, size_t n)
{
	const uint8_t *s = p;
	size_t k;

	while (n > 0) {
		k = REXEC_CHUNK - o->tail_len;
		if (k > n)
			k = n;
		memcpy(o->tail_buf + o->tail_len, s, k);
		o->tail_len += k;
		s += k;
		n -= k;
		if (o->tail_len == REXEC_CHUNK)
			rexec_out_flush(o);
	}
}

void
rexec_out_flush(struct rexec_out *o)
{
	if (o->tail_len == 0)
		return;
	out_append(o, o->tail_buf, o->tail_len);
	o->tail_len = 0;
}

void
rexec_out_heartbeat(struct rexec_out *o)
{
	out_append(o, NULL, 0);
}

struct rexec_piece *
rexec_out_pop(struct rexec_out *o)
{
	struct rexec_piece *pc = o->head;

	if (pc == NULL)
		return NULL;
	if ((o->head = pc->next) == NULL)
		o->tail = NULL;
	pc->next = NULL;
	o->npieces--;
	return pc;
}

void
rexec_piece_free(struct rexec_piece *pc)
{
	if (pc == NULL)
		return;
	free(pc->p);
	free(pc);
}

void
rexec_out_clear(struct rexec_out *o)
{
	struct rexec_piece *pc;

	while ((pc = rexec_out_pop(o)) != NULL)
		rexec_piece_free(pc);
	o->tail_len = 0;
}

/* ------------------------------------------------------------------ jobs */

static void job_pump(struct job *j);
static void job_write_exit(struct job *j);

static double
wait_s(const struct job *j)
{
	double w = (double)j->spec.wait_ns / 1e9;

	if (j->spec.wait_ns <= 0)
		return REXEC_WAIT_DEFAULT_S;
	return w < REXEC_WAIT_MIN_S ? REXEC_WAIT_MIN_S : w;
}

static void
job_free(struct job *j)
{
	rexec_out_clear(&j->out);
	rexec_spec_free(&j->spec);
	free(j->prefix);
	free(j->session);
	free(j->event_id);
	free(j->tmpfile);
	free(j);
}

static void
kill_group(pid_t pid, int sig)
{
	/* the child may not have reached setsid() yet: by pid too */
	(void)kill(-pid, sig);
	(void)kill(pid, sig);
}

static void
pipe_close(struct job *j)
{
	if (j->pfd < 0)
		return;
	ev_io_stop(j->rx->cd->loop, &j->pw);
	close(j->pfd);
	j->pfd = -1;
}

/* job_end - unlink and stop everything; freed now or when the last IPC
 * call in flight completes.  The child is reaped by then. */
static void
job_end(struct job *j)
{
	struct ev_loop *loop = j->rx->cd->loop;
	struct job **pp;

	for (pp = &j->rx->jobs; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == j) {
			*pp = j->next;
			break;
		}
	}
	pipe_close(j);
	ev_timer_stop(loop, &j->flush_w);
	ev_timer_stop(loop, &j->beat_w);
	ev_timer_stop(loop, &j->limit_w);
	ev_timer_stop(loop, &j->grace_w);
	if (j->tmpfile != NULL)
		(void)unlink(j->tmpfile);
	j->dead = true;
	if (j->calls == 0)
		job_free(j);
}

/* call_done - the common start of every IPC callback: false if the job
 * ended meanwhile (and it may have been freed now) */
static bool
call_done(struct job *j)
{
	j->calls--;
	if (!j->dead)
		return true;
	if (j->calls == 0)
		job_free(j);
	return false;
}

/* job_cancel - stop the job: kill its process group (SIGTERM, SIGKILL
 * after a grace) and discard its output; the exit code is written (and
 * fails if the session is gone) once it is reaped */
static void
job_cancel(struct job *j, const char *why)
{
	struct ev_loop *loop = j->rx->cd->loop;

	if (!j->failed)
		log_warnx("remote exec %s: %s%s", j->session, why,
		    j->running ? ": killing it" : "");
	j->failed = true;
	j->exit_code = 255;
	rexec_out_clear(&j->out);
	ev_timer_stop(loop, &j->flush_w);
	ev_timer_stop(loop, &j->beat_w);
	if (j->running && !j->killing) {
		j->killing = true;
		kill_group(j->pid, SIGTERM);
		ev_timer_stop(loop, &j->limit_w);
		ev_timer_set(&j->limit_w, REXEC_KILL_GRACE_S, 0.);
		ev_timer_start(loop, &j->limit_w);
	}
}

/* write_key - <prefix>/<session>/<node>/<suffix> = value, as a lock held
 * by the job's session (Consul's KVLock) */
static void
write_key(struct job *j, const char *suffix, const void *p, size_t n,
    ipc_reply_fn cb)
{
	struct checkd *cd = j->rx->cd;
	struct ipc_raft_cmd cmd;
	char *key = rexec_key(j->prefix, j->session, cd->node, suffix);

	memset(&cmd, 0, sizeof(cmd));
	cmd.op = RAFT_OP_KV_LOCK;
	/* no client id: a lock-set of the same value by the same session is
	 * idempotent, so a resent write needs no deduplication record */
	cmd.key = key;
	cmd.value.p = (uint8_t *)(uintptr_t)p;
	cmd.value.n = n;
	cmd.session = j->session;
	j->calls++;
	if (cd->raftd == NULL || ipc_call(cd->raftd, IPC_RAFT_APPLY, &cmd,
	    REXEC_IPC_TIMEOUT_MS, cb, j) < 0) {
		free(key);
		cb(-EAGAIN, NULL, "raftd unreachable", j);
		return;
	}
	free(key);
}

/* write_ok - whether a KV write took effect; why not into why */
static bool
write_ok(int status, void *body, const char *errmsg, const char **why)
{
	struct ipc_raft_result *res = body;

	if (status < 0) {
		*why = errmsg != NULL ? errmsg : strerror(-status);
		return false;
	}
	if (!res->ok) {
		*why = res->err == RAFT_ERR_NO_SESSION ? "session gone"
		    : res->err == RAFT_ERR_FAILED ? "key held by another session"
		    : "write refused";
		return false;
	}
	return true;
}

static void
exit_done(int status, void *body, const char *errmsg, void *arg)
{
	struct job *j = arg;
	const char *why;

	if (!call_done(j))
		return;
	if (!write_ok(status, body, errmsg, &why))
		log_errorx("failed to write exit code for remote exec job "
			   "%s: %s", j->session, why);
	else
		log_debug("remote exec %s: exit code %d written", j->session,
		    j->exit_code);
	job_end(j);
}

static void
job_write_exit(struct job *j)
{
	struct ev_loop *loop = j->rx->cd->loop;
	char v[16];

	j->state = J_EXIT;
	ev_timer_stop(loop, &j->beat_w);
	ev_timer_stop(loop, &j->flush_w);
	snprintf(v, sizeof(v), "%d", j->exit_code);
	write_key(j, REXEC_EXIT, v, strlen(v), exit_done);
}

static void
out_done(int status, void *body, const char *errmsg, void *arg)
{
	struct job *j = arg;
	const char *why;

	if (!call_done(j))
		return;
	j->writing = false;
	rexec_piece_free(rexec_out_pop(&j->out));
	if (!write_ok(status, body, errmsg, &why)) {
		if (status == 0 && ((struct ipc_raft_result *)body)->err ==
		    RAFT_ERR_NO_SESSION) {
			/* the CLI is done with it (interrupted, or it died
			 * and the session's TTL ran out) */
			j->gone = true;
			job_cancel(j, "session gone");
		} else {
			log_errorx("failed to write output for remote exec "
				   "job %s: %s", j->session, why);
			job_cancel(j, "output write failed");
		}
	}
	job_pump(j);
}

/* job_pump - write the next piece (one at a time, so that they land in
 * order); once the process is reaped and its output all written, the
 * exit code */
static void
job_pump(struct job *j)
{
	struct ev_loop *loop = j->rx->cd->loop;
	struct rexec_piece *pc = j->out.head;
	char suffix[32];

	if (j->writing || j->dead || j->state != J_RUN)
		return;
	if (pc != NULL && !j->failed) {
		snprintf(suffix, sizeof(suffix), "out/%05x", j->seq++);
		j->writing = true;
		/* a write is a heartbeat too */
		ev_timer_again(loop, &j->beat_w);
		write_key(j, suffix, pc->p, pc->n, out_done);
		return;
	}
	if (j->paused && j->pfd >= 0 && j->out.npieces < REXEC_QUEUE_LOW) {
		j->paused = false;
		ev_io_start(loop, &j->pw);
	}
	if (j->running || j->pfd >= 0 || j->out.tail_len > 0 ||
	    j->out.head != NULL)
		return;
	if (j->gone)
		job_end(j);	/* its keys went with the session */
	else
		job_write_exit(j);
}

/* drain - read what the pipe holds into pieces; true at EOF */
static bool
drain(struct job *j, int rounds)
{
	struct ev_loop *loop = j->rx->cd->loop;
	char chunk[16384];
	ssize_t n;

	while (rounds-- > 0) {
		n = read(j->pfd, chunk, sizeof(chunk));
		if (n > 0) {
			if (j->failed)
				continue;	/* nowhere to send it */
			rexec_out_put(&j->out, chunk, (size_t)n);
			if (j->out.tail_len > 0 &&
			    !ev_is_active(&j->flush_w)) {
				ev_timer_set(&j->flush_w, REXEC_FLUSH_S, 0.);
				ev_timer_start(loop, &j->flush_w);
			}
		} else if (n == 0) {
			return true;
		} else if (errno == EINTR) {
			rounds++;
		} else if (errno == EAGAIN) {
			return false;
		} else {
			log_debug("remote exec %s: read output: %s",
			    j->session, strerror(errno));
			return true;
		}
	}
	return false;
}

/* output_closed - no more output: the tail goes out now */
static void
output_closed(struct job *j)
{
	pipe_close(j);
	ev_timer_stop(j->rx->cd->loop, &j->grace_w);
	ev_timer_stop(j->rx->cd->loop, &j->flush_w);
	rexec_out_flush(&j->out);
}

static void
read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct job *j = w->data;

	(void)revents;
	if (drain(j, REXEC_READ_ROUNDS)) {
		output_closed(j);
	} else if (j->out.npieces >= REXEC_QUEUE_MAX) {
		/* Raft is slower than the command: let the pipe fill and
		 * the command wait, rather than queue without bound */
		j->paused = true;
		ev_io_stop(loop, w);
	}
	job_pump(j);
}

static void
flush_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct job *j = w->data;

	(void)loop;
	(void)revents;
	rexec_out_flush(&j->out);
	job_pump(j);
}

static void
beat_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct job *j = w->data;

	(void)loop;
	(void)revents;
	if (j->writing || j->out.head != NULL || j->failed)
		return;
	rexec_out_heartbeat(&j->out);
	job_pump(j);
}

static void
limit_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct job *j = w->data;

	(void)loop;
	(void)revents;
	if (!j->running)
		return;
	if (j->killing) {
		log_warnx("remote exec %s: pid %d still running after "
			  "SIGTERM: SIGKILL", j->session, (int)j->pid);
		kill_group(j->pid, SIGKILL);
		return;
	}
	job_cancel(j, "ran for too long");
}

static void
grace_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct job *j = w->data;

	(void)loop;
	(void)revents;
	if (j->pfd >= 0 && !drain(j, 1024))
		log_debug("remote exec %s: its output is still open after "
			  "it exited (a background process?): not read any "
			  "further", j->session);
	output_closed(j);
	job_pump(j);
}

static void
child_cb(struct ev_loop *loop, ev_child *w, int revents)
{
	struct job *j = w->data;

	(void)revents;
	ev_child_stop(loop, w);
	j->running = false;
	j->wstatus = w->rstatus;
	ev_timer_stop(loop, &j->limit_w);
	if (!j->failed) {
		/* Go's WaitStatus.ExitStatus(): -1 when killed by a signal */
		j->exit_code = WIFEXITED(j->wstatus) ? WEXITSTATUS(j->wstatus)
						     : -1;
	}
	log_debug("remote exec %s: pid %d exited, code %d", j->session,
	    (int)j->pid, j->exit_code);
	if (j->pfd >= 0) {
		if (drain(j, 1024)) {
			output_closed(j);
		} else {
			ev_timer_set(&j->grace_w, REXEC_EXIT_GRACE_S, 0.);
			ev_timer_start(loop, &j->grace_w);
		}
	}
	job_pump(j);
}

static int
fd_above_stdio(int fd)
{
	int nfd;

	if (fd < 0 || fd > 2)
		return fd;
	nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	close(fd);
	return nfd;
}

/* child_exec - in the forked child: only async-signal-safe calls */
static void __attribute__((noreturn))
child_exec(int nullfd, int wfd, char *const *argv, const char *cmd)
{
	struct sigaction sa;
	sigset_t none;
	const char *name, *why;
	int sig;

	(void)setsid();
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (sig = 1; sig < NSIG; sig++)
		(void)sigaction(sig, &sa, NULL);
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
	if (dup2(nullfd, 0) < 0 || dup2(wfd, 1) < 0 || dup2(wfd, 2) < 0)
		_exit(255);
	(void)close_range(3, ~0U, 0);
	if (argv != NULL)
		execvp(argv[0], argv);
	else
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
	why = strerrordesc_np(errno);
	name = argv != NULL ? argv[0] : "/bin/sh";
	if (write(2, "Failed to invoke: ", 18) < 0 ||
	    write(2, name, strlen(name)) < 0 || write(2, ": ", 2) < 0 ||
	    write(2, why, strlen(why)) < 0 || write(2, "\n", 1) < 0)
		_exit(255);
	_exit(255);
}

/* spill - a Script into a file of its own, as Consul does (run with
 * /bin/sh -c <path>, so that a #! line picks the interpreter) */
static int
spill(struct job *j)
{
	const char *dir = getenv("TMPDIR");
	size_t off = 0;
	ssize_t n;
	int fd;

	if (dir == NULL || *dir == '\0')
		dir = "/tmp";
	j->tmpfile = xasprintf("%s/rexecXXXXXX", dir);
	if ((fd = mkostemp(j->tmpfile, O_CLOEXEC)) < 0) {
		log_warn("remote exec %s: mkstemp %s", j->session, j->tmpfile);
		free(j->tmpfile);
		j->tmpfile = NULL;
		return -1;
	}
	(void)fchmod(fd, 0700);
	while (off < j->spec.script_len) {
		n = write(fd, j->spec.script + off, j->spec.script_len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			log_warn("remote exec %s: write %s", j->session,
			    j->tmpfile);
			close(fd);
			return -1;
		}
		off += (size_t)n;
	}
	return close(fd) < 0 ? -1 : 0;
}

/* job_start - fork and exec the command in its own process group, its
 * stdout and stderr on one pipe read by the loop */
static void
job_start(struct job *j)
{
	struct ev_loop *loop = j->rx->cd->loop;
	int pfd[2] = {-1, -1}, nullfd = -1, e;
	const char *cmd = j->spec.command;
	pid_t pid;

	j->state = J_RUN;
	ev_timer_set(&j->beat_w, 0., wait_s(j));
	if (j->spec.script_len > 0) {
		if (spill(j) < 0)
			goto fail;
		cmd = j->tmpfile;
	}
	log_info("remote exec '%s'", j->spec.args != NULL ? j->spec.args[0]
								  : cmd);
	if (pipe2(pfd, O_CLOEXEC) < 0 ||
	    (pfd[0] = fd_above_stdio(pfd[0])) < 0 ||
	    (pfd[1] = fd_above_stdio(pfd[1])) < 0 ||
	    (nullfd = fd_above_stdio(open("/dev/null", O_RDONLY |
	    O_CLOEXEC))) < 0) {
		log_warn("remote exec %s: pipe", j->session);
		goto fail;
	}
	pid = fork();
	if (pid == 0)
		child_exec(nullfd, pfd[1], j->spec.args, cmd);
	e = errno;
	close(pfd[1]);
	close(nullfd);
	pfd[1] = nullfd = -1;
	if (pid < 0) {
		errno = e;
		log_warn("remote exec %s: fork", j->session);
		goto fail;
	}
	j->pid = pid;
	j->running = true;
	ev_child_init(&j->cw, child_cb, pid, 0);
	j->cw.data = j;
	ev_child_start(loop, &j->cw);
	(void)fcntl(pfd[0], F_SETFL, fcntl(pfd[0], F_GETFL) | O_NONBLOCK);
	j->pfd = pfd[0];
	ev_io_init(&j->pw, read_cb, j->pfd, EV_READ);
	j->pw.data = j;
	ev_io_start(loop, &j->pw);
	ev_timer_again(loop, &j->beat_w);
	ev_timer_set(&j->limit_w, wait_s(j) + REXEC_MAX_RUN_S, 0.);
	ev_timer_start(loop, &j->limit_w);
	return;
fail:
	if (pfd[0] >= 0)
		close(pfd[0]);
	if (pfd[1] >= 0)
		close(pfd[1]);
	if (nullfd >= 0)
		close(nullfd);
	/* Consul's code for a command that could not be started */
	j->exit_code = 255;
	job_write_exit(j);
}

static void
ack_done(int status, void *body, const char *errmsg, void *arg)
{
	struct job *j = arg;
	const char *why;

	if (!call_done(j))
		return;
	if (!write_ok(status, body, errmsg, &why)) {
		log_errorx("failed to ack remote exec job %s: %s", j->session,
		    why);
		job_end(j);
		return;
	}
	job_start(j);
}

static void read_spec(struct job *j);

static void
spec_done(int status, void *body, const char *errmsg, void *arg)
{
	struct job *j = arg;
	struct ipc_kv_read_reply *rep = body;
	const struct ipc_kv_row *row;
	struct errbuf eb;

	if (!call_done(j))
		return;
	if (status < 0) {
		log_errorx("failed to get remote exec job %s: %s", j->session,
		    errmsg != NULL ? errmsg : strerror(-status));
		job_end(j);
		return;
	}
	if (rep->rows.n == 0) {
		/* the stale read may lag the CLI's write: once more,
		 * consistent */
		if (!j->consistent) {
			log_debug("trying consistent fetch of remote exec job "
				  "spec %s", j->session);
			j->consistent = true;
			read_spec(j);
		} else {
			log_debug("remote exec %s aborted, job spec missing",
			    j->session);
			job_end(j);
		}
		return;
	}
	row = rep->rows.v;
	if (rexec_spec_parse(row->value.p != NULL ? (const char *)row->value.p
						  : "",
	    row->value.n, &j->spec, &eb) < 0) {
		log_errorx("failed to decode remote exec spec %s: %s",
		    j->session, eb.msg);
		job_end(j);
		return;
	}
	j->state = J_ACK;
	write_key(j, REXEC_ACK, NULL, 0, ack_done);
}

static void
read_spec(struct job *j)
{
	struct checkd *cd = j->rx->cd;
	struct ipc_kv_read q;
	char *key = rexec_key(j->prefix, j->session, "job", NULL);

	memset(&q, 0, sizeof(q));
	/* stale for scale, as Consul; the CLI waited -wait-repl for the
	 * servers to catch up */
	q.mode = j->consistent ? RAFT_READ_CONSISTENT : RAFT_READ_STALE;
	q.key = key;
	j->state = J_SPEC;
	j->calls++;
	if (cd->raftd == NULL || ipc_call(cd->raftd, IPC_KV_READ, &q,
	    REXEC_IPC_TIMEOUT_MS, spec_done, j) < 0)
		spec_done(-EAGAIN, NULL, "raftd unreachable", j);
	free(key);
}

/* seen - remember the session; true if it was already */
static bool
seen(struct rexec *rx, const char *session)
{
	size_t i;

	for (i = 0; i < REXEC_RECENT; i++)
		if (rx->recent[i] != NULL && strcmp(rx->recent[i], session) ==
		    0)
			return true;
	free(rx->recent[rx->recent_next]);
	rx->recent[rx->recent_next] = xstrdup(session);
	rx->recent_next = (rx->recent_next + 1) % REXEC_RECENT;
	return false;
}

static void
on_event(uint16_t type, void *body, void *arg)
{
	struct rexec *rx = arg;
	struct checkd *cd = rx->cd;
	struct ipc_user_event *ev = body;
	struct errbuf eb;
	struct job *j;
	char *prefix, *session;

	if (type != IPC_EV_USER_EVENT || ev->name == NULL ||
	    strcmp(ev->name, REXEC_EVENT) != 0)
		return;
	if (cd->conf->disable_remote_exec) {
		log_info("ignoring remote exec event (ID: %s), disabled",
		    ev->id ? ev->id : "");
		return;
	}
	if (!rexec_wanted(ev, cd->node, cd->services)) {
		log_debug("remote exec event (ID: %s) filtered out",
		    ev->id ? ev->id : "");
		return;
	}
	if (rexec_event_parse(ev->payload.p != NULL ? (const char *)
	    ev->payload.p : "", ev->payload.n, &prefix, &session, &eb) < 0) {
		log_errorx("failed to decode remote exec event: %s", eb.msg);
		return;
	}
	if (seen(rx, session)) {
		log_debug("remote exec event (ID: %s) for %s again: ignored",
		    ev->id ? ev->id : "", session);
		free(prefix);
		free(session);
		return;
	}
	log_debug("received remote exec event (ID: %s)",
	    ev->id ? ev->id : "");
	j = xcalloc(1, sizeof(*j));
	j->rx = rx;
	j->prefix = prefix;
	j->session = session;
	j->event_id = xstrdup(ev->id ? ev->id : "");
	j->pfd = -1;
	ev_init(&j->flush_w, flush_cb);
	j->flush_w.data = j;
	ev_init(&j->beat_w, beat_cb);
	j->beat_w.data = j;
	ev_init(&j->limit_w, limit_cb);
	j->limit_w.data = j;
	ev_init(&j->grace_w, grace_cb);
	j->grace_w.data = j;
	j->next = rx->jobs;
	rx->jobs = j;
	read_spec(j);
}

/* ------------------------------------------------- session watch, setup */

static void
session_done(int status, void *body, const char *errmsg, void *arg)
{
	struct job *j = arg;
	struct ipc_session_read_reply *rep = body;

	(void)errmsg;
	if (!call_done(j))
		return;
	j->checking = false;
	if (status == 0 && rep->sessions.n == 0) {
		j->gone = true;
		job_cancel(j, "session gone");
	}
	job_pump(j);
}

void
rexec_change(struct checkd *cd, const struct ipc_change *ch)
{
	struct ipc_session_read q;
	struct job *j, *next;

	if (cd->rexec == NULL || ch->table == NULL || ch->key == NULL ||
	    strcmp(ch->table, "sessions") != 0)
		return;
	for (j = cd->rexec->jobs; j != NULL; j = next) {
		next = j->next;
		if (j->state != J_RUN || j->checking || j->failed ||
		    strcmp(j->session, ch->key) != 0)
			continue;
		/* destroyed or invalidated, most likely: see that it is
		 * gone before killing anything */
		memset(&q, 0, sizeof(q));
		q.mode = RAFT_READ_STALE;
		q.id = j->session;
		j->checking = true;
		j->calls++;
		if (cd->raftd == NULL || ipc_call(cd->raftd, IPC_SESSION_READ,
		    &q, REXEC_IPC_TIMEOUT_MS, session_done, j) < 0)
			session_done(-EAGAIN, NULL, "raftd unreachable", j);
	}
}

void
rexec_init(struct checkd *cd)
{
	struct rexec *rx = xcalloc(1, sizeof(*rx));
	char path[512];
	struct errbuf eb;

	rx->cd = cd;
	cd->rexec = rx;
	snprintf(path, sizeof(path), "%s/gossipd.events", cd->conf->run_dir);
	if (ipc_sub_open(cd->loop, path, on_event, rx, &rx->events, &eb) < 0)
		log_warnx("gossipd.events: %s (no remote exec)", eb.msg);
}

void
rexec_close(struct checkd *cd)
{
	struct rexec *rx = cd->rexec;
	struct job *j;
	size_t i;

	if (rx == NULL)
		return;
	ipc_sub_close(rx->events);
	while ((j = rx->jobs) != NULL) {
		if (j->running) {
			/* the daemon stops: so does the job, at once */
			ev_child_stop(cd->loop, &j->cw);
			kill_group(j->pid, SIGKILL);
			while (waitpid(j->pid, NULL, 0) < 0 && errno == EINTR)
				;
			j->running = false;
		}
		job_end(j);	/* unlinks it */
	}
	for (i = 0; i < REXEC_RECENT; i++)
		free(rx->recent[i]);
	free(rx);
	cd->rexec = NULL;
}
