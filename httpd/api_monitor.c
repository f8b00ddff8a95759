/* api_monitor.c - GET /v1/agent/monitor?loglevel=: the agent's log lines,
 * from every daemon (each publishes its lines on <run_dir>/<daemon>.log),
 * streamed as they happen until the client goes away. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api_int.h"
#include "log.h"
#include "xmalloc.h"

static const char *const daemons[] = {"raftd", "gossipd", "checkd", "dnsd",
    "httpd"};
#define NDAEMONS (sizeof(daemons) / sizeof(daemons[0]))

struct monitor {
	struct api *api;
	struct http_req *req;
	int level;
	struct ipc_sub *subs[NDAEMONS];
	ev_timer check_w;	/* is the client still there? */
	bool ending;
	struct monitor *next, *prev;
};

static struct monitor *monitors;

static void
monitor_free(struct monitor *m)
{
	size_t i;

	for (i = 0; i < NDAEMONS; i++)
		ipc_sub_close(m->subs[i]);
	ev_timer_stop(m->api->loop, &m->check_w);
	if (m->prev)
		m->prev->next = m->next;
	else
		monitors = m->next;
	if (m->next)
		m->next->prev = m->prev;
	http_stream_end(m->req);
	free(m);
}

static void
check_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct monitor *m = w->data;

	(void)loop;
	(void)revents;
	/* ended here, outside the subscribers' callbacks */
	if (m->ending || !http_stream_alive(m->req))
		monitor_free(m);
}

static void
on_log(uint16_t type, void *body, void *arg)
{
	struct monitor *m = arg;
	struct ipc_log_line *ll = body;
	char *line;

	if (type != IPC_EV_LOG || m->ending || ll->line == NULL ||
	    (int)ll->level < m->level)
		return;
	line = xasprintf("%s\n", ll->line);
	if (http_stream_write(m->req, line, strlen(line)) == -EPIPE) {
		m->ending = true;
		ev_timer_stop(m->api->loop, &m->check_w);
		ev_timer_set(&m->check_w, 0., 2.);
		ev_timer_start(m->api->loop, &m->check_w);
	}
	free(line);
}

static int
parse_level(const char *s)
{
	static const struct {
		const char *name;
		int level;
	} t[] = {{"trace", LOG_LVL_TRACE}, {"debug", LOG_LVL_DEBUG},
	    {"info", LOG_LVL_INFO}, {"warn", LOG_LVL_WARN},
	    {"warning", LOG_LVL_WARN}, {"err", LOG_LVL_ERROR},
	    {"error", LOG_LVL_ERROR}};
	size_t i;

	if (s == NULL || *s == '\0')
		return LOG_LVL_INFO;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (strcasecmp(s, t[i].name) == 0)
			return t[i].level;
	return -1;
}

void
api_monitor(struct api *a, struct http_req *req)
{
	struct monitor *m;
	struct errbuf eb;
	const char *lv = http_query(req, "loglevel");
	char path[512], text[300];
	int level;
	size_t i;

	if (!method_ok(req, "GET"))
		return;
	if ((level = parse_level(lv)) < 0) {
		snprintf(text, sizeof(text), "Unknown log level: %s", lv);
		http_respond_text(req, 400, text);
		return;
	}
	m = xcalloc(1, sizeof(*m));
	m->api = a;
	m->req = req;
	m->level = level;
	for (i = 0; i < NDAEMONS; i++) {
		snprintf(path, sizeof(path), "%s/%s.log", a->conf->run_dir,
		    daemons[i]);
		if (ipc_sub_open(a->loop, path, on_log, m, &m->subs[i], &eb) <
		    0)
			log_warnx("monitor: %s", eb.msg);
	}
	ev_timer_init(&m->check_w, check_cb, 2., 2.);
	m->check_w.data = m;
	ev_timer_start(a->loop, &m->check_w);
	m->next = monitors;
	if (monitors)
		monitors->prev = m;
	monitors = m;
	http_stream_begin(req, 200, "text/plain; charset=utf-8");
	log_info("monitor: streaming logs at level %s and above to %s",
	    lv && *lv ? lv : "info", http_peer_ip(req));
}

void
api_monitor_close(void)
{
	while (monitors != NULL)
		monitor_free(monitors);
}
