/* http.c - the CLI's HTTP client (see http.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "http.h"

void
ctl_http_init(struct ctl_http *h)
{
	memset(h, 0, sizeof(*h));
	h->addr = getenv("CAIRN_HTTP_ADDR");
	if (h->addr == NULL)
		h->addr = getenv("CONSUL_HTTP_ADDR");
	if (h->addr == NULL || *h->addr == '\0')
		h->addr = "127.0.0.1:8500";
	h->token = getenv("CONSUL_HTTP_TOKEN");
}

int
ctl_http_flag(struct ctl_http *h, int argc, char **argv, int *i)
{
	static const char *const names[] = {"http-addr", "token",
	    "datacenter"};
	const char *a = argv[*i], *v = NULL;
	size_t k, len;

	if (a[0] != '-')
		return 0;
	a += a[1] == '-' ? 2 : 1;
	for (k = 0; k < 3; k++) {
		len = strlen(names[k]);
		if (strncmp(a, names[k], len) != 0 ||
		    (a[len] != '\0' && a[len] != '='))
			continue;
		if (a[len] == '=') {
			v = a + len + 1;
		} else {
			if (*i + 1 >= argc)
				return -1;
			v = argv[++*i];
		}
		if (k == 0)
			h->addr = v;
		else if (k == 1)
			h->token = v;
		else
			h->dc = v;
		return 1;
	}
	return 0;
}

static size_t
sink(char *p, size_t size, size_t n, void *arg)
{
	buf_put(arg, p, size * n);
	return size * n;
}

static size_t
stream_sink(char *p, size_t size, size_t n, void *arg)
{
	struct ctl_http_meta *m = arg;

	m->on_data(p, size * n, m->on_data_arg);
	return size * n;
}

/* header - X-Consul-Index of the response (the last one, after any
 * redirect or 100 Continue) */
static size_t
header(char *p, size_t size, size_t n, void *arg)
{
	struct ctl_http_meta *m = arg;
	static const char name[] = "x-consul-index:";
	size_t len = size * n, k = sizeof(name) - 1;
	char num[32];

	if (len > k && strncasecmp(p, name, k) == 0) {
		size_t i = k, j = 0;

		while (i < len && (p[i] == ' ' || p[i] == '\t'))
			i++;
		while (i < len && j + 1 < sizeof(num) && p[i] >= '0' &&
		    p[i] <= '9')
			num[j++] = p[i++];
		num[j] = '\0';
		m->index = j ? strtoull(num, NULL, 10) : 0;
	}
	return len;
}

/* progress - libcurl calls it about once a second even when idle */
static int
progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut,
    curl_off_t un)
{
	struct ctl_http_meta *m = arg;

	(void)dt;
	if (m->on_progress != NULL)
		m->on_progress((uint64_t)dn, (uint64_t)un, (uint64_t)ut,
		    m->on_progress_arg);
	if (m->cancel != NULL && *m->cancel) {
		m->cancelled = true;
		return 1;
	}
	return 0;
}

int
ctl_http_do(const struct ctl_http *h, const char *method, const char *path,
    const void *body, size_t n, long *status, struct buf *out)
{
	return ctl_http_do_meta(h, method, path, body, n, status, out, NULL);
}

int
ctl_http_do_meta(const struct ctl_http *h, const char *method,
    const char *path, const void *body, size_t n, long *status,
    struct buf *out, struct ctl_http_meta *m)
{
	struct curl_slist *hdrs = NULL;
	char url[2048], tok[600];
	const char *scheme = strstr(h->addr, "://") ? "" : "http://";
	CURL *c;
	CURLcode rc;

	if (m != NULL) {
		m->index = 0;
		m->cancelled = false;
		m->errstr = NULL;
		if (m->cancel != NULL && *m->cancel) {
			m->cancelled = true;
			m->errstr = "cancelled";
			return -1;
		}
	}
	snprintf(url, sizeof(url), "%s%s%s%s%s%s", scheme, h->addr, path,
	    h->dc ? (strchr(path, '?') ? "&dc=" : "?dc=") : "",
	    h->dc ? h->dc : "", "");
	if ((c = curl_easy_init()) == NULL) {
		if (m != NULL)
			m->errstr = "cannot start an HTTP client";
		if (m == NULL || !m->quiet)
			fprintf(stderr, "Error: cannot start an HTTP client\n");
		return -1;
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (m != NULL && m->on_data != NULL) {
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, stream_sink);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, m);
	} else {
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
	}
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
	    m != NULL && m->timeout_ms > 0 ? m->timeout_ms : 60000L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	if (m != NULL) {
		curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header);
		curl_easy_setopt(c, CURLOPT_HEADERDATA, m);
		if (m->cancel != NULL || m->on_progress != NULL) {
			curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, progress);
			curl_easy_setopt(c, CURLOPT_XFERINFODATA, m);
			curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
		}
	}
	if (body != NULL) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)n);
	}
	if (h->token && *h->token) {
		snprintf(tok, sizeof(tok), "X-Consul-Token: %s", h->token);
		hdrs = curl_slist_append(hdrs, tok);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	}
	rc = curl_easy_perform(c);
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	if (rc != CURLE_OK) {
		if (m != NULL) {
			m->errstr = m->cancelled ? "cancelled"
						 : curl_easy_strerror(rc);
			if (m->cancelled || m->quiet)
				return -1;
		}
		fprintf(stderr,
		    "Error connecting to Cairn agent: %s (%s%s)\n",
		    curl_easy_strerror(rc), scheme, h->addr);
		return -1;
	}
	return 0;
}
