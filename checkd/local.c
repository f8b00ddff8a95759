/* local.c - this agent's services and checks: registration, runners,
 * thresholds, TTLs, aliases, maintenance and persistence. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "ipc_msg.h"
#include "jdec.h"
#include "json.h"
#include "local.h"
#include "log.h"
#include "rexec.h"
#include "xmalloc.h"

#define SCRIPTS_DISABLED                                                       \
	"Scripts are disabled on this agent; to enable, configure "            \
	"'enable_script_checks' or 'enable_local_script_checks' to true"
#define NODE_MAINT "_node_maintenance"
#define SVC_MAINT "_service_maintenance:"
#define PERSIST_MAX (1024 * 1024)

static void check_start(struct lcheck *c);
static void check_stop(struct lcheck *c);
static void alias_local_all(struct checkd *cd);

static const char *
status_name(enum probe_status st)
{
	return st == PROBE_PASSING ? "passing"
	    : st == PROBE_WARNING ? "warning" : "critical";
}

static double
rnd01(void)
{
	return (double)random() / ((double)RAND_MAX + 1.0);
}

static uint64_t
now_unix_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------ persistence */

/* file_name - a file name for an ID: hex SHA-256 (IDs may hold '/') */
static char *
file_name(const struct checkd *cd, const char *sub, const char *id)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;
	char hex[2 * EVP_MAX_MD_SIZE + 1];

	EVP_Digest(id, strlen(id), md, &mdlen, EVP_sha256(), NULL);
	for (i = 0; i < mdlen && i < 20; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return xasprintf("%s/%s/%s.json", cd->dir, sub, hex);
}

static void
fsync_dir(const char *path)
{
	char *dir = xstrdup(path), *slash = strrchr(dir, '/');
	int fd;

	if (slash != NULL)
		*slash = '\0';
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY)) >= 0) {
		(void)fsync(fd);
		close(fd);
	}
	free(dir);
}

/* persist_write - write text durably (temp file, fsync, rename, fsync the
 * directory) before the registration is acknowledged */
static int
persist_write(struct checkd *cd, const char *sub, const char *id,
    const char *text, struct errbuf *eb)
{
	char *path, *tmp;
	size_t n = strlen(text), off = 0;
	int fd, rc = 0;

	if (cd->dir == NULL)
		return 0;
	path = file_name(cd, sub, id);
	tmp = xasprintf("%s.tmp", path);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) <
	    0) {
		rc = errbuf_set(eb, -errno, "persist %s: %s", tmp,
		    strerror(errno));
		goto out;
	}
	while (off < n) {
		ssize_t w = write(fd, text + off, n - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			rc = errbuf_set(eb, -errno, "persist %s: %s", tmp,
			    strerror(errno));
			break;
		}
		off += (size_t)w;
	}
	if (rc == 0 && fsync(fd) < 0)
		rc = errbuf_set(eb, -errno, "persist %s: fsync: %s", tmp,
		    strerror(errno));
	close(fd);
	if (rc == 0 && rename(tmp, path) < 0)
		rc = errbuf_set(eb, -errno, "persist %s: %s", path,
		    strerror(errno));
	if (rc < 0)
		(void)unlink(tmp);
	else
		fsync_dir(path);
out:
	if (rc < 0)
		log_warnx("%s", eb->msg);
	free(tmp);
	free(path);
	return rc;
}

static void
persist_remove(struct checkd *cd, const char *sub, const char *id)
{
	char *path;

	if (cd->dir == NULL)
		return;
	path = file_name(cd, sub, id);
	if (unlink(path) == 0)
		fsync_dir(path);
	else if (errno != ENOENT)
		log_warn("remove %s", path);
	free(path);
}

static char *
read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "re");
	char *buf;
	size_t n;

	if (f == NULL)
		return NULL;
	buf = xmalloc(PERSIST_MAX + 1);
	n = fread(buf, 1, PERSIST_MAX + 1, f);
	fclose(f);
	if (n > PERSIST_MAX) {
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* ttl_state_save - a TTL check's status survives restarts (Consul's
 * persisted check state) */
static void
ttl_state_save(struct lcheck *c)
{
	struct checkd *cd = c->cd;
	struct errbuf eb;
	struct jw w;
	char *text;
	double left = ev_timer_remaining(cd->loop, &c->run_w);

	if (cd->dir == NULL || c->def.kind != CK_TTL)
		return;
	jw_init(&w, false);
	jw_obj_open(&w);
	jw_key(&w, "Status");
	jw_str(&w, c->status);
	jw_key(&w, "Output");
	jw_str(&w, c->output);
	jw_key(&w, "Expires");
	jw_uint(&w, now_unix_ms() +
	    (ev_is_active(&c->run_w) ? (uint64_t)(left * 1000) : 0));
	jw_obj_close(&w);
	text = jw_finish(&w, NULL);
	(void)persist_write(cd, "ttl", c->def.cid, text, &eb);
	free(text);
}

struct ttl_state {
	char *status, *output;
	uint64_t expires;
};

static const struct jd_field ttl_fields[] = {
    {"Status", NULL, JD_STR, offsetof(struct ttl_state, status), NULL, 0, 0},
    {"Output", NULL, JD_STR, offsetof(struct ttl_state, output), NULL, 0, 0},
    {"Expires", NULL, JD_U64, offsetof(struct ttl_state, expires), NULL, 0,
	0},
    {NULL, NULL, JD_STR, 0, NULL, 0, 0},
};

/* ttl_state_load - restore status and the time left; false if none */
static bool
ttl_state_load(struct lcheck *c)
{
	struct checkd *cd = c->cd;
	struct ttl_state ts;
	struct errbuf eb;
	char *path, *text;
	size_t n;
	bool ok = false;
	uint64_t now = now_unix_ms();

	if (cd->dir == NULL)
		return false;
	path = file_name(cd, "ttl", c->def.cid);
	text = read_file(path, &n);
	free(path);
	if (text == NULL)
		return false;
	memset(&ts, 0, sizeof(ts));
	if (jd_decode_text(text, n, ttl_fields, &ts, &eb) == 0 &&
	    ts.status != NULL && (strcmp(ts.status, "passing") == 0 ||
	    strcmp(ts.status, "warning") == 0 ||
	    strcmp(ts.status, "critical") == 0)) {
		free(c->status);
		free(c->output);
		c->status = xstrdup(ts.status);
		c->output = xstrdup(ts.output ? ts.output : "");
		if (ts.expires > now) {
			ev_timer_set(&c->run_w, (double)(ts.expires - now) / 1e3,
			    0.);
		} else {
			free(c->status);
			free(c->output);
			c->status = xstrdup("critical");
			c->output = xstrdup("TTL expired");
			ev_timer_set(&c->run_w, 0., 0.);
		}
		c->ttl_set = true;
		ok = true;
	}
	jd_free(ttl_fields, &ts);
	free(text);
	return ok;
}

/* ------------------------------------------------------------------ lookup */

static size_t
idx_hash(const char *k)
{
	size_t h = 5381;

	while (*k)
		h = h * 33 ^ (unsigned char)*k++;
	return h;
}

static struct ient **
idx_find(const struct idx *x, const char *key)
{
	struct ient **pp;

	if (x->nb == 0)
		return NULL;
	for (pp = &x->b[idx_hash(key) & (x->nb - 1)]; *pp != NULL;
	    pp = &(*pp)->next)
		if (strcmp((*pp)->key, key) == 0)
			return pp;
	return NULL;
}

/* idx_put - key -> val, replacing an entry with an equal key (call it
 * before freeing the object that held the old key) */
static void
idx_put(struct idx *x, const char *key, void *val)
{
	struct ient **pp = idx_find(x, key), *e;
	size_t i;

	if (pp != NULL) {
		(*pp)->key = key;
		(*pp)->val = val;
		return;
	}
	if (x->n + 1 > x->nb * 2) {
		size_t nb = x->nb ? x->nb * 4 : 64;
		struct ient **b = xcalloc(nb, sizeof(*b));

		for (i = 0; i < x->nb; i++) {
			while ((e = x->b[i]) != NULL) {
				x->b[i] = e->next;
				e->next = b[idx_hash(e->key) & (nb - 1)];
				b[idx_hash(e->key) & (nb - 1)] = e;
			}
		}
		free(x->b);
		x->b = b;
		x->nb = nb;
	}
	e = xcalloc(1, sizeof(*e));
	e->key = key;
	e->val = val;
	e->next = x->b[idx_hash(key) & (x->nb - 1)];
	x->b[idx_hash(key) & (x->nb - 1)] = e;
	x->n++;
}

static void
idx_del(struct idx *x, const char *key)
{
	struct ient **pp = idx_find(x, key), *e;

	if (pp == NULL)
		return;
	e = *pp;
	*pp = e->next;
	free(e);
	x->n--;
}

static void
idx_free(struct idx *x)
{
	size_t i;
	struct ient *e;

	for (i = 0; i < x->nb; i++) {
		while ((e = x->b[i]) != NULL) {
			x->b[i] = e->next;
			free(e);
		}
	}
	free(x->b);
	memset(x, 0, sizeof(*x));
}

struct lservice *
local_service(struct checkd *cd, const char *id)
{
	struct ient **pp = idx_find(&cd->svc_idx, id);

	return pp ? (*pp)->val : NULL;
}

struct lcheck *
local_check(struct checkd *cd, const char *id)
{
	struct ient **pp = idx_find(&cd->chk_idx, id);

	return pp ? (*pp)->val : NULL;
}

void
local_changed(struct checkd *cd)
{
	cd->index++;
	sync_kick(cd);
}

/* ----------------------------------------------------------------- status */

/* set_status - a check's new status and output.  A status change is sent
 * to the catalog at once; an output-only change waits up to
 * check_update_interval after the last sync of that check (Consul). */
static void
set_status(struct lcheck *c, const char *status, const char *output)
{
	struct checkd *cd = c->cd;
	bool st_changed = strcmp(c->status, status) != 0;
	bool out_changed = strcmp(c->output, output) != 0;
	ev_tstamp now = mono_now();

	if (!st_changed && !out_changed)
		return;
	if (st_changed) {
		log_info("check %s: %s -> %s", c->def.cid, c->status, status);
		free(c->status);
		c->status = xstrdup(status);
		if (strcmp(status, "critical") == 0)
			c->critical_since = now;
		else
			c->critical_since = 0;
	}
	if (out_changed) {
		free(c->output);
		c->output = xstrdup(output);
	}
	if (st_changed) {
		c->gen = ++cd->genc;
		c->output_due = 0;
		local_changed(cd);
		alias_local_all(cd);
	} else {
		double iv = (double)cd->conf->check_update_interval_ms / 1e3;

		cd->index++;
		if (now - c->last_sync >= iv) {
			c->gen = ++cd->genc;
			sync_kick(cd);
		} else if (c->output_due == 0) {
			/* jittered, as Consul's deferred check updates */
			c->output_due = c->last_sync + iv * (0.5 + rnd01() / 2);
		}
	}
}

/* check_result - a run's result through the thresholds (Consul's
 * StatusHandler): SuccessBeforePassing consecutive passes before passing,
 * FailuresBeforeWarning / FailuresBeforeCritical failures before those */
static void
check_result(struct lcheck *c, enum probe_status st, const char *output)
{
	const struct check_def *d = &c->def;
	uint64_t fbw = d->failures_before_warning
	    ? d->failures_before_warning : d->failures_before_critical;

	if (st == PROBE_PASSING || st == PROBE_WARNING) {
		c->succ++;
		c->fail = 0;
		if (c->succ >= d->success_before_passing) {
			set_status(c, status_name(st), output);
			return;
		}
	} else {
		c->succ = 0;
		c->fail++;
		if (c->fail >= d->failures_before_critical) {
			set_status(c, "critical", output);
			return;
		}
		if (c->fail >= fbw) {
			set_status(c, "warning", output);
			return;
		}
	}
	log_debug("check %s: %s result held back (passes %llu, failures %llu)",
	    d->cid, status_name(st), (unsigned long long)c->succ,
	    (unsigned long long)c->fail);
}

/* ------------------------------------------------------------------ runners */

static void
probe_done_cb(enum probe_status st, const char *output, void *arg)
{
	struct lcheck *c = arg;

	c->probe = NULL;
	check_result(c, st, output);
}

static void
run_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct lcheck *c = w->data;
	const struct check_def *d = &c->def;
	struct probe_spec ps;
	char **argv = NULL;
	size_t i;

	(void)loop;
	(void)revents;
	if (d->kind == CK_TTL) {
		/* no update within the TTL */
		set_status(c, "critical", "TTL expired");
		ttl_state_save(c);
		return;
	}
	/* the next run one interval after this one began */
	ev_timer_set(&c->run_w, (double)d->interval_ns / 1e9, 0.);
	ev_timer_start(c->cd->loop, &c->run_w);
	if (c->probe != NULL)
		return;	/* the previous run is still going: skip */
	memset(&ps, 0, sizeof(ps));
	switch (d->kind) {
	case CK_SCRIPT:
		ps.kind = PROBE_SCRIPT;
		if (d->args.n > 0) {
			argv = xcalloc(d->args.n + 1, sizeof(char *));
			for (i = 0; i < d->args.n; i++)
				argv[i] = d->args.v[i];
			ps.args = argv;
		} else {
			ps.script = d->script;
		}
		break;
	case CK_HTTP:
		ps.kind = PROBE_HTTP;
		ps.http = d->http;
		ps.method = d->method;
		ps.body = d->body;
		ps.headers = d->headers;
		ps.tls_skip_verify = d->tls_skip_verify;
		ps.tls_server_name = d->tls_server_name;
		ps.disable_redirects = d->disable_redirects;
		break;
	case CK_TCP:
		ps.kind = PROBE_TCP;
		ps.addr = d->tcp;
		break;
	case CK_UDP:
		ps.kind = PROBE_UDP;
		ps.addr = d->udp;
		break;
	default:
		return;
	}
	ps.timeout_ms = (uint64_t)(d->timeout_ns / 1000000);
	ps.output_max = d->output_max_size ? d->output_max_size
	    : (size_t)c->cd->conf->check_output_max_size;
	(*c->cd->c_runs)++;
	c->probe = probe_start(c->cd->loop, &ps, probe_done_cb, c);
	free(argv);
	if (c->probe == NULL)
		check_result(c, PROBE_CRITICAL, "check could not be started");
}

/* alias_eval - aggregate of checks: critical > warning > passing */
static void
alias_eval_local(struct lcheck *a)
{
	struct checkd *cd = a->cd;
	struct lcheck *c;
	struct alias_agg g = {PROBE_PASSING, NULL, 0};
	char out[512];

	if (a->def.alias_service && *a->def.alias_service &&
	    local_service(cd, a->def.alias_service) == NULL) {
		set_status(a, "critical", "Service not found");
		return;
	}
	for (c = cd->checks; c != NULL; c = c->next) {
		if (c->def.kind == CK_ALIAS)
			continue;
		if (a->def.alias_service && *a->def.alias_service &&
		    c->def.service_id && *c->def.service_id &&
		    strcmp(c->def.service_id, a->def.alias_service) != 0)
			continue;
		alias_add(&g, c->status, c->def.cid);
	}
	alias_output(&g, out, sizeof(out));
	set_status(a, status_name(g.worst), out);
}

void
alias_add(struct alias_agg *g, const char *status, const char *check_id)
{
	enum probe_status st = status && strcmp(status, "passing") == 0
	    ? PROBE_PASSING : status && strcmp(status, "warning") == 0
	    ? PROBE_WARNING : PROBE_CRITICAL;

	g->n++;
	if (st > g->worst || g->which == NULL) {
		if (st > g->worst)
			g->worst = st;
		if (st == g->worst)
			g->which = check_id;
	}
}

void
alias_output(const struct alias_agg *g, char *out, size_t outlen)
{
	if (g->n == 0)
		snprintf(out, outlen, "No checks found.");
	else if (g->worst == PROBE_PASSING)
		snprintf(out, outlen, "All checks passing.");
	else
		snprintf(out, outlen, "Aliased check '%s' is %s", g->which,
		    status_name(g->worst));
}

static bool
alias_is_local(const struct checkd *cd, const struct lcheck *a)
{
	return a->def.alias_node == NULL || *a->def.alias_node == '\0' ||
	    strcmp(a->def.alias_node, cd->node) == 0;
}

static void
alias_local_all(struct checkd *cd)
{
	static bool busy;
	struct lcheck *c;

	if (busy)
		return;
	busy = true;
	for (c = cd->checks; c != NULL; c = c->next)
		if (c->def.kind == CK_ALIAS && alias_is_local(cd, c))
			alias_eval_local(c);
	busy = false;
}

void
local_alias_result(struct checkd *cd, const char *check_id,
    enum probe_status st, const char *output)
{
	struct lcheck *c = local_check(cd, check_id);

	if (c != NULL && c->def.kind == CK_ALIAS)
		set_status(c, status_name(st), output);
}

static void
check_start(struct lcheck *c)
{
	struct checkd *cd = c->cd;
	double iv;

	switch (c->def.kind) {
	case CK_SCRIPT:
	case CK_HTTP:
	case CK_TCP:
	case CK_UDP:
		/* spread: the first run at a random point of the interval */
		iv = (double)c->def.interval_ns / 1e9;
		ev_timer_set(&c->run_w, iv * rnd01(), 0.);
		ev_timer_start(cd->loop, &c->run_w);
		break;
	case CK_TTL:
		if (!c->ttl_set)
			ev_timer_set(&c->run_w, (double)c->def.ttl_ns / 1e9, 0.);
		ev_timer_start(cd->loop, &c->run_w);
		break;
	case CK_ALIAS:
		if (alias_is_local(cd, c))
			alias_eval_local(c);
		else
			sync_alias_read(cd, c);
		break;
	case CK_NONE:
		break;
	}
}

static void
check_stop(struct lcheck *c)
{
	ev_timer_stop(c->cd->loop, &c->run_w);
	probe_cancel(c->probe);
	c->probe = NULL;
}

/* ---------------------------------------------------------- registration */

static void
check_free(struct lcheck *c)
{
	check_stop(c);
	check_def_free(&c->def);
	free(c->json);
	free(c->status);
	free(c->output);
	free(c);
}

/* check_take - move a validated definition into a new check; status from
 * the definition (default critical), or kept from an older check of the
 * same ID and kind. */
static struct lcheck *
check_new(struct checkd *cd, struct check_def *def, const char *json,
    enum lsrc src, const struct lcheck *old)
{
	struct lcheck *c = xcalloc(1, sizeof(*c));

	c->cd = cd;
	c->def = *def;
	memset(def, 0, sizeof(*def));
	c->json = json ? xstrdup(json) : NULL;
	c->src = src;
	ev_timer_init(&c->run_w, run_cb, 0., 0.);
	c->run_w.data = c;
	if (old != NULL && old->def.kind == c->def.kind) {
		c->status = xstrdup(old->status);
		c->output = xstrdup(old->output);
		c->critical_since = old->critical_since;
		c->last_sync = old->last_sync;
		if (c->def.kind == CK_TTL && ev_is_active(&old->run_w)) {
			ev_timer_set(&c->run_w,
			    ev_timer_remaining(cd->loop,
			    (ev_timer *)&old->run_w), 0.);
			c->ttl_set = true;
		}
	} else {
		c->status = xstrdup(c->def.status);
		c->output = xstrdup("");
		if (strcmp(c->status, "critical") == 0)
			c->critical_since = mono_now();
	}
	return c;
}

/* check_insert - add c, replacing a check of the same ID */
static void
check_insert(struct checkd *cd, struct lcheck *c)
{
	struct lcheck **pp;

	for (pp = &cd->checks; *pp != NULL; pp = &(*pp)->next) {
		if (strcmp((*pp)->def.cid, c->def.cid) == 0) {
			struct lcheck *old = *pp;

			c->next = old->next;
			*pp = c;
			idx_put(&cd->chk_idx, c->def.cid, c);
			check_free(old);
			goto added;
		}
	}
	*pp = c;
	cd->nchecks++;
	idx_put(&cd->chk_idx, c->def.cid, c);
added:
	c->gen = ++cd->genc;
	check_start(c);
}

static void
check_remove(struct checkd *cd, struct lcheck *c, bool tomb)
{
	struct lcheck **pp;

	for (pp = &cd->checks; *pp != NULL; pp = &(*pp)->next)
		if (*pp == c)
			break;
	if (*pp == NULL)
		return;
	*pp = c->next;
	cd->nchecks--;
	idx_del(&cd->chk_idx, c->def.cid);
	if (c->src != SRC_CONFIG)
		persist_remove(cd, "checks", c->def.cid);
	persist_remove(cd, "ttl", c->def.cid);
	if (tomb)
		sync_tomb(cd, NULL, c->def.cid);
	check_free(c);
}

static bool
scripts_allowed(const struct checkd *cd, enum lsrc src, bool local_client)
{
	if (cd->conf->enable_script_checks)
		return true;
	if (!cd->conf->enable_local_script_checks)
		return false;
	return src != SRC_API || local_client;
}

static void
service_free(struct lservice *s)
{
	free(s->tmp);
	service_def_free(&s->def);
	free(s->json);
	free(s);
}

int
local_service_register(struct checkd *cd, const char *json, size_t n,
    enum lsrc src, bool replace_checks, bool local_client, struct errbuf *eb)
{
	struct service_def sd;
	struct lservice *s, **pp;
	struct check_def **defs;
	size_t i, nd = 0;
	char *text;
	int rc;

	if ((rc = service_def_parse(json, n, &sd, eb)) < 0) {
		service_def_free(&sd);
		return rc;
	}
	defs = xcalloc(sd.checks.n + 1, sizeof(*defs));
	if (sd.has_check)
		defs[nd++] = &sd.check;
	for (i = 0; i < sd.checks.n; i++)
		defs[nd++] = (struct check_def *)sd.checks.v + i;
	for (i = 0; i < nd; i++) {
		if (defs[i]->kind == CK_SCRIPT &&
		    !scripts_allowed(cd, src, local_client)) {
			service_def_free(&sd);
			free(defs);
			return errbuf_set(eb, -EPERM, SCRIPTS_DISABLED);
		}
	}
	text = xstrndup(json, n);
	if (src == SRC_API && (rc = persist_write(cd, "services", sd.id, text,
	    eb)) < 0) {
		free(text);
		free(defs);
		service_def_free(&sd);
		return rc;
	}
	s = xcalloc(1, sizeof(*s));
	s->def = sd;
	s->json = text;
	s->src = src;
	s->gen = ++cd->genc;
	for (pp = &cd->services; *pp != NULL; pp = &(*pp)->next) {
		if (strcmp((*pp)->def.id, s->def.id) == 0) {
			struct lservice *old = *pp;

			s->next = old->next;
			*pp = s;
			idx_put(&cd->svc_idx, s->def.id, s);
			if (old->src != src && old->src != SRC_CONFIG &&
			    src == SRC_CONFIG)
				persist_remove(cd, "services", old->def.id);
			service_free(old);
			goto added;
		}
	}
	*pp = s;
	cd->nservices++;
	idx_put(&cd->svc_idx, s->def.id, s);
added:
	if (replace_checks) {
		struct lcheck *c, *next;

		for (c = cd->checks; c != NULL; c = next) {
			bool keep = false;

			next = c->next;
			if (c->def.service_id == NULL ||
			    strcmp(c->def.service_id, s->def.id) != 0 ||
			    c->src == SRC_MAINT)
				continue;
			for (i = 0; i < nd; i++)
				if (strcmp(defs[i]->cid, c->def.cid) == 0)
					keep = true;
			if (!keep)
				check_remove(cd, c, true);
		}
	}
	/* the embedded checks move into checks of their own; the service
	 * keeps its JSON, which re-creates them after a restart */
	if (s->def.has_check)
		defs[0] = &s->def.check;
	for (i = 0; i < s->def.checks.n; i++)
		defs[(s->def.has_check ? 1 : 0) + i] =
		    (struct check_def *)s->def.checks.v + i;
	for (i = 0; i < nd; i++) {
		struct lcheck *c = check_new(cd, defs[i], NULL, src,
		    local_check(cd, defs[i]->cid));

		if (c->def.kind == CK_TTL && src == SRC_API)
			(void)ttl_state_load(c);
		check_insert(cd, c);
	}
	free(defs);
	log_info("service %s registered (%s)", s->def.id,
	    src == SRC_CONFIG ? "config" : "api");
	local_changed(cd);
	alias_local_all(cd);
	return 0;
}

static void
service_remove(struct checkd *cd, struct lservice *s)
{
	struct lservice **pp;
	struct lcheck *c, *next;

	for (c = cd->checks; c != NULL; c = next) {
		next = c->next;
		if (c->def.service_id && strcmp(c->def.service_id,
		    s->def.id) == 0)
			check_remove(cd, c, false);
	}
	for (pp = &cd->services; *pp != s; pp = &(*pp)->next)
		;
	*pp = s->next;
	cd->nservices--;
	idx_del(&cd->svc_idx, s->def.id);
	if (s->src != SRC_CONFIG)
		persist_remove(cd, "services", s->def.id);
	sync_tomb(cd, s->def.id, NULL);
	log_info("service %s deregistered", s->def.id);
	service_free(s);
}

int
local_service_deregister(struct checkd *cd, const char *id,
    struct errbuf *eb)
{
	struct lservice *s = local_service(cd, id);

	if (s == NULL)
		return errbuf_set(eb, -ENOENT, "Unknown service ID \"%s\". "
		    "Ensure that the service ID is passed, not the service "
		    "name.", id);
	service_remove(cd, s);
	local_changed(cd);
	alias_local_all(cd);
	return 0;
}

/* check_add - a validated standalone check */
static int
check_add(struct checkd *cd, struct check_def *def, const char *json,
    enum lsrc src, struct errbuf *eb)
{
	struct lcheck *c;
	int rc;

	if (def->service_id && *def->service_id &&
	    local_service(cd, def->service_id) == NULL)
		return errbuf_set(eb, -EINVAL, "ServiceID \"%s\" does not "
		    "exist", def->service_id);
	if (src != SRC_CONFIG && (rc = persist_write(cd, "checks", def->cid,
	    json, eb)) < 0)
		return rc;
	c = check_new(cd, def, json, src, local_check(cd, def->cid));
	if (c->def.kind == CK_TTL && src != SRC_CONFIG)
		(void)ttl_state_load(c);
	check_insert(cd, c);
	log_info("check %s registered", c->def.cid);
	local_changed(cd);
	alias_local_all(cd);
	return 0;
}

int
local_check_register(struct checkd *cd, const char *json, size_t n,
    enum lsrc src, bool local_client, struct errbuf *eb)
{
	struct check_def def;
	char *text;
	int rc;

	if ((rc = check_def_parse(json, n, src == SRC_MAINT, &def, eb)) < 0)
		goto out;
	if (def.kind == CK_SCRIPT && !scripts_allowed(cd, src, local_client)) {
		rc = errbuf_set(eb, -EPERM, SCRIPTS_DISABLED);
		goto out;
	}
	if (src == SRC_API && (strcmp(def.cid, NODE_MAINT) == 0 ||
	    strncmp(def.cid, SVC_MAINT, strlen(SVC_MAINT)) == 0)) {
		rc = errbuf_set(eb, -EINVAL, "Check ID \"%s\" is reserved",
		    def.cid);
		goto out;
	}
	text = xstrndup(json, n);
	rc = check_add(cd, &def, text, src, eb);
	free(text);
out:
	check_def_free(&def);
	return rc;
}

int
local_check_deregister(struct checkd *cd, const char *id, struct errbuf *eb)
{
	struct lcheck *c = local_check(cd, id);

	if (c == NULL)
		return errbuf_set(eb, -ENOENT, "Unknown check ID \"%s\". "
		    "Ensure that the check ID is passed, not the check name.",
		    id);
	log_info("check %s deregistered", id);
	check_remove(cd, c, true);
	local_changed(cd);
	alias_local_all(cd);
	return 0;
}

int
local_check_update(struct checkd *cd, const char *id, const char *status,
    const char *output, struct errbuf *eb)
{
	struct lcheck *c = local_check(cd, id);
	size_t max;
	char *out;

	if (c == NULL)
		return errbuf_set(eb, -ENOENT, "Unknown check ID \"%s\". "
		    "Ensure that the check ID is passed, not the check name.",
		    id);
	if (c->def.kind != CK_TTL)
		return errbuf_set(eb, -EINVAL, "Check \"%s\" is not a TTL "
		    "check", id);
	if (strcmp(status, "passing") != 0 && strcmp(status, "warning") != 0 &&
	    strcmp(status, "critical") != 0)
		return errbuf_set(eb, -EINVAL, "Invalid check status: \"%s\"",
		    status);
	max = c->def.output_max_size ? c->def.output_max_size
	    : (size_t)cd->conf->check_output_max_size;
	out = xstrdup(output ? output : "");
	if (strlen(out) > max)
		out[max] = '\0';
	/* the TTL starts again with every update */
	ev_timer_stop(cd->loop, &c->run_w);
	ev_timer_set(&c->run_w, (double)c->def.ttl_ns / 1e9, 0.);
	ev_timer_start(cd->loop, &c->run_w);
	set_status(c, status, out);
	free(out);
	ttl_state_save(c);
	return 0;
}

int
local_maintenance(struct checkd *cd, const char *service_id, bool enable,
    const char *reason, struct errbuf *eb)
{
	bool node = service_id == NULL || *service_id == '\0';
	char *id = node ? xstrdup(NODE_MAINT)
	    : xasprintf("%s%s", SVC_MAINT, service_id);
	struct lcheck *c = local_check(cd, id);
	struct check_def def;
	struct jw w;
	char *json;
	int rc = 0;

	if (!node && local_service(cd, service_id) == NULL) {
		rc = errbuf_set(eb, -ENOENT, "No service registered with ID "
		    "\"%s\"", service_id);
		goto out;
	}
	if (!enable) {
		if (c != NULL) {
			log_info("maintenance off: %s", id);
			check_remove(cd, c, true);
			local_changed(cd);
			alias_local_all(cd);
		}
		goto out;
	}
	jw_init(&w, false);
	jw_obj_open(&w);
	jw_key(&w, "CheckID");
	jw_str(&w, id);
	jw_key(&w, "Name");
	jw_str(&w, node ? "Node Maintenance Mode" : "Service Maintenance Mode");
	jw_key(&w, "Notes");
	jw_str(&w, reason && *reason ? reason : node
	    ? "Maintenance mode is enabled for this node, but no reason was "
	      "provided. This is a default message."
	    : "Maintenance mode is enabled for this service, but no reason "
	      "was provided. This is a default message.");
	if (!node) {
		jw_key(&w, "ServiceID");
		jw_str(&w, service_id);
	}
	jw_key(&w, "Status");
	jw_str(&w, "critical");
	jw_obj_close(&w);
	json = jw_finish(&w, NULL);
	if ((rc = check_def_parse(json, strlen(json), true, &def, eb)) == 0) {
		log_info("maintenance on: %s", id);
		rc = check_add(cd, &def, json, SRC_MAINT, eb);
	}
	check_def_free(&def);
	free(json);
out:
	free(id);
	return rc;
}

/* --------------------------------------------------------------- catalog */

static char **
kv_strings(const struct jd_strmap *m)
{
	char **v = xcalloc(m->n + 1, sizeof(char *));
	size_t i;

	for (i = 0; i < m->n; i++)
		v[i] = xasprintf("%s=%s", m->k[i], m->v[i]);
	return v;
}

static size_t
strv_len(char **v)
{
	size_t n = 0;

	while (v && v[n])
		n++;
	return n;
}

void
local_fill_service(struct checkd *cd, const struct lservice *s,
    struct ipc_service *out)
{
	const struct service_def *d = &s->def;

	memset(out, 0, sizeof(*out));
	out->node = cd->node;
	out->id = d->id;
	out->service = d->name;
	out->tags.v = d->tags.v;
	out->tags.n = d->tags.n;
	out->address = d->address;
	out->port = (uint32_t)d->port;
	out->meta.v = kv_strings(&d->meta);
	out->meta.n = d->meta.n;
	out->enable_tag_override = d->enable_tag_override;
	out->tagged_addresses.v = d->tagged;
	out->tagged_addresses.n = strv_len(d->tagged);
	out->weight_passing = (uint32_t)d->weights.passing;
	out->weight_warning = (uint32_t)d->weights.warning;
	out->kind = d->kind;
}

static char *
dur_string(int64_t ns)
{
	if (ns % 1000000000LL == 0)
		return xasprintf("%llds", (long long)(ns / 1000000000LL));
	return xasprintf("%lldms", (long long)(ns / 1000000LL));
}

void
local_fill_check(struct checkd *cd, const struct lcheck *c,
    struct ipc_check *out)
{
	const struct check_def *d = &c->def;
	struct lservice *s = d->service_id && *d->service_id
	    ? local_service(cd, d->service_id) : NULL;

	memset(out, 0, sizeof(*out));
	out->node = cd->node;
	out->check_id = (char *)d->cid;
	out->name = d->name;
	out->status = c->status;
	out->notes = d->notes;
	out->output = c->output;
	out->service_id = d->service_id;
	if (s != NULL) {
		out->service_name = s->def.name;
		out->service_tags.v = s->def.tags.v;
		out->service_tags.n = s->def.tags.n;
	}
	out->type = (char *)check_kind_name(d->kind);
	if (d->interval_ns > 0)
		out->interval = dur_string(d->interval_ns);
	if (d->timeout_ns > 0)
		out->timeout = dur_string(d->timeout_ns);
}

void
local_fill_free(struct ipc_service *sv, struct ipc_check *ck)
{
	size_t i;

	if (sv != NULL) {
		for (i = 0; i < sv->meta.n; i++)
			free(sv->meta.v[i]);
		free(sv->meta.v);
	}
	if (ck != NULL) {
		free(ck->interval);
		free(ck->timeout);
	}
}

/* ------------------------------------------------------------ housekeeping */

/* tick_cb - deferred output-only syncs; DeregisterCriticalServiceAfter */
static void
tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct checkd *cd = w->data;
	struct lcheck *c;
	ev_tstamp now = mono_now();
	bool again;

	(void)loop;
	(void)revents;
	for (c = cd->checks; c != NULL; c = c->next) {
		if (c->output_due != 0 && now >= c->output_due) {
			c->output_due = 0;
			c->gen = ++cd->genc;
			sync_kick(cd);
		}
	}
	do {
		again = false;
		for (c = cd->checks; c != NULL; c = c->next) {
			struct lservice *s;

			if (c->def.dcsa_ns <= 0 || c->critical_since == 0 ||
			    c->def.service_id == NULL ||
			    now - c->critical_since <
			    (double)c->def.dcsa_ns / 1e9)
				continue;
			s = local_service(cd, c->def.service_id);
			if (s == NULL)
				continue;
			log_info("service %s: check %s critical for more than "
			    "%llds: deregistering the service", s->def.id,
			    c->def.cid,
			    (long long)(c->def.dcsa_ns / 1000000000LL));
			service_remove(cd, s);
			local_changed(cd);
			again = true;
			break;
		}
	} while (again);
}

/* --------------------------------------------------------------- config */

/* config_apply - the config's services and checks: unchanged ones keep
 * running, changed ones are replaced, vanished ones removed */
static void
config_apply(struct checkd *cd, const struct cairn_conf *conf)
{
	struct lservice *s, *snext;
	struct lcheck *c, *cnext;
	struct errbuf eb;
	size_t i;

	for (s = cd->services; s != NULL; s = snext) {
		bool keep = false;

		snext = s->next;
		if (s->src != SRC_CONFIG)
			continue;
		for (i = 0; i < conf->services.n; i++)
			if (strcmp(conf->services.v[i], s->json) == 0)
				keep = true;
		if (!keep) {
			service_remove(cd, s);
			local_changed(cd);
		}
	}
	for (c = cd->checks; c != NULL; c = cnext) {
		bool keep = false;

		cnext = c->next;
		if (c->src != SRC_CONFIG || c->json == NULL)
			continue;
		for (i = 0; i < conf->checks.n; i++)
			if (strcmp(conf->checks.v[i], c->json) == 0)
				keep = true;
		if (!keep) {
			check_remove(cd, c, true);
			local_changed(cd);
		}
	}
	for (i = 0; i < conf->services.n; i++) {
		const char *j = conf->services.v[i];
		bool have = false;

		for (s = cd->services; s != NULL; s = s->next)
			if (s->src == SRC_CONFIG && strcmp(s->json, j) == 0)
				have = true;
		if (!have && local_service_register(cd, j, strlen(j),
		    SRC_CONFIG, false, true, &eb) < 0)
			log_warnx("config service %zu: %s", i + 1, eb.msg);
	}
	for (i = 0; i < conf->checks.n; i++) {
		const char *j = conf->checks.v[i];
		bool have = false;

		for (c = cd->checks; c != NULL; c = c->next)
			if (c->src == SRC_CONFIG && c->json &&
			    strcmp(c->json, j) == 0)
				have = true;
		if (!have && local_check_register(cd, j, strlen(j), SRC_CONFIG,
		    true, &eb) < 0)
			log_warnx("config check %zu: %s", i + 1, eb.msg);
	}
}

void
local_reload(struct checkd *cd, const struct cairn_conf *conf)
{
	cd->conf = conf;
	config_apply(cd, conf);
}

/* load_dir - re-register what the API registered before a restart */
static void
load_dir(struct checkd *cd, const char *sub)
{
	char *dir = xasprintf("%s/%s", cd->dir, sub);
	struct dirent *de;
	struct errbuf eb;
	DIR *dp;

	if ((dp = opendir(dir)) == NULL) {
		free(dir);
		return;
	}
	while ((de = readdir(dp)) != NULL) {
		size_t len = strlen(de->d_name), n;
		char *path, *text;
		int rc;

		if (len < 6 || strcmp(de->d_name + len - 5, ".json") != 0)
			continue;
		path = xasprintf("%s/%s", dir, de->d_name);
		if ((text = read_file(path, &n)) == NULL) {
			log_warnx("%s: unreadable, skipped", path);
			free(path);
			continue;
		}
		if (strcmp(sub, "services") == 0) {
			rc = local_service_register(cd, text, n, SRC_API, false,
			    true, &eb);
		} else {
			bool maint = strstr(text, NODE_MAINT) != NULL ||
			    strstr(text, SVC_MAINT) != NULL;
			struct check_def def;

			rc = check_def_parse(text, n, maint, &def, &eb);
			if (rc == 0)
				rc = check_add(cd, &def, text,
				    maint && def.kind == CK_NONE ? SRC_MAINT
								 : SRC_API,
				    &eb);
			check_def_free(&def);
		}
		if (rc < 0)
			log_warnx("%s: %s (skipped)", path, eb.msg);
		free(text);
		free(path);
	}
	closedir(dp);
	free(dir);
}

int
local_init(struct checkd *cd, struct ev_loop *loop,
    const struct cairn_conf *conf, struct errbuf *eb)
{
	unsigned int seed;
	static const char *const subs[] = {"services", "checks", "ttl"};
	size_t i;

	cd->loop = loop;
	cd->conf = conf;
	cd->node = xstrdup(conf->node_name);
	if (RAND_bytes((unsigned char *)&seed, sizeof(seed)) != 1)
		seed = (unsigned int)getpid() ^ (unsigned int)time(NULL);
	srandom(seed);
	if (conf->data_dir != NULL && *conf->data_dir != '\0') {
		cd->dir = xasprintf("%s/checkd", conf->data_dir);
		for (i = 0; i <= sizeof(subs) / sizeof(subs[0]); i++) {
			char *p = i == 0 ? xstrdup(cd->dir)
			    : xasprintf("%s/%s", cd->dir, subs[i - 1]);

			if (mkdir(p, 0700) < 0 && errno != EEXIST) {
				int e = errno;

				errbuf_set(eb, -e, "mkdir %s: %s", p,
				    strerror(e));
				free(p);
				return -e;
			}
			free(p);
		}
	}
	ev_timer_init(&cd->tick_w, tick_cb, 1., 1.);
	cd->tick_w.data = cd;
	ev_timer_start(loop, &cd->tick_w);
	sync_init(cd);
	rexec_init(cd);
	if (cd->dir != NULL) {
		load_dir(cd, "services");
		load_dir(cd, "checks");
	}
	config_apply(cd, conf);
	log_info("%zu services and %zu checks (%s)", cd->nservices,
	    cd->nchecks, cd->dir ? cd->dir : "not persisted: no data_dir");
	sync_full_soon(cd, 0.);
	return 0;
}

void
local_close(struct checkd *cd)
{
	struct lservice *s;
	struct lcheck *c;
	struct tomb *t;

	rexec_close(cd);	/* its writes in flight end with sync_close */
	sync_close(cd);
	ev_timer_stop(cd->loop, &cd->tick_w);
	while ((c = cd->checks) != NULL) {
		cd->checks = c->next;
		check_free(c);
	}
	while ((s = cd->services) != NULL) {
		cd->services = s->next;
		service_free(s);
	}
	idx_free(&cd->svc_idx);
	idx_free(&cd->chk_idx);
	while ((t = cd->tombs) != NULL) {
		cd->tombs = t->next;
		free(t->service_id);
		free(t->check_id);
		free(t);
	}
	free(cd->node);
	free(cd->dir);
	free(cd->address);
	free(cd->node_id);
	probe_shutdown();
}
