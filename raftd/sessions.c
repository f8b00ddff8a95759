/* sessions.c - TTL deadlines and lock-delays (see sessions.h). */
#include <stdlib.h>
#include <string.h>

#include "sessions.h"
#include "xmalloc.h"

struct ttl {
	char id[37];
	double ttl_s, deadline;
};

struct delay {
	char *key;
	double until;
};

struct sessions {
	struct ttl *t;
	size_t nt, capt;
	struct delay *d;
	size_t nd, capd;
};

struct sessions *
sessions_new(void)
{
	return xcalloc(1, sizeof(struct sessions));
}

void
sessions_free(struct sessions *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->nd; i++)
		free(s->d[i].key);
	free(s->d);
	free(s->t);
	free(s);
}

static struct ttl *
find(struct sessions *s, const char *id)
{
	size_t i;

	for (i = 0; i < s->nt; i++)
		if (strcmp(s->t[i].id, id) == 0)
			return &s->t[i];
	return NULL;
}

void
sessions_track(struct sessions *s, const char *id, uint64_t ttl_ms,
    double now)
{
	struct ttl *t;

	if (ttl_ms == 0 || strlen(id) >= sizeof(t->id))
		return;
	if ((t = find(s, id)) == NULL) {
		if (s->nt == s->capt) {
			s->capt = s->capt ? 2 * s->capt : 16;
			s->t = xreallocarray(s->t, s->capt, sizeof(*s->t));
		}
		t = &s->t[s->nt++];
		memset(t, 0, sizeof(*t));
		strcpy(t->id, id);
	}
	t->ttl_s = (double)ttl_ms / 1000.0;
	t->deadline = now + SESSION_TTL_GRACE * t->ttl_s;
}

void
sessions_forget(struct sessions *s, const char *id)
{
	struct ttl *t = find(s, id);

	if (t != NULL)
		*t = s->t[--s->nt];
}

void
sessions_restart(struct sessions *s, double now)
{
	size_t i;

	for (i = 0; i < s->nt; i++)
		s->t[i].deadline = now + SESSION_TTL_GRACE * s->t[i].ttl_s;
}

size_t
sessions_expired(struct sessions *s, double now, double retry,
    char (*ids)[37], size_t max)
{
	size_t i, n = 0;

	for (i = 0; i < s->nt && n < max; i++) {
		if (s->t[i].deadline > now)
			continue;
		memcpy(ids[n++], s->t[i].id, sizeof(s->t[i].id));
		s->t[i].deadline = now + retry;
	}
	return n;
}

size_t
sessions_count(const struct sessions *s)
{
	return s->nt;
}

void
lockdelay_set(struct sessions *s, const char *key, double until)
{
	size_t i;

	for (i = 0; i < s->nd; i++) {
		if (strcmp(s->d[i].key, key) == 0) {
			s->d[i].until = until;
			return;
		}
	}
	if (s->nd == s->capd) {
		s->capd = s->capd ? 2 * s->capd : 16;
		s->d = xreallocarray(s->d, s->capd, sizeof(*s->d));
	}
	s->d[s->nd].key = xstrdup(key);
	s->d[s->nd++].until = until;
}

bool
lockdelay_active(struct sessions *s, const char *key, double now)
{
	bool active = false;
	size_t i = 0;

	while (i < s->nd) {
		if (s->d[i].until <= now) { /* expired: drop it */
			free(s->d[i].key);
			s->d[i] = s->d[--s->nd];
			continue;
		}
		if (strcmp(s->d[i].key, key) == 0)
			active = true;
		i++;
	}
	return active;
}
