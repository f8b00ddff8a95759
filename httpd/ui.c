/* ui.c - the web UI's static files (see ui.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "ui.h"
#include "xmalloc.h"

/* the same on every UI answer, errors included: no inline script or
 * style, nothing from elsewhere, never inside a frame */
#define UI_CSP                                                                 \
	"Content-Security-Policy: default-src 'self'; base-uri 'none'; "       \
	"form-action 'self'; frame-ancestors 'none'"
static const char *const ui_headers[] = {UI_CSP,
    "X-Content-Type-Options: nosniff", "X-Frame-Options: DENY",
    "Referrer-Policy: no-referrer", "Cache-Control: no-cache", NULL};

static bool
name_byte_ok(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	       (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';
}

int
ui_file_name(const char *path, char *out, size_t size)
{
	const char *rest, *seg;
	size_t n;

	if (strcmp(path, "/ui") == 0 || strcmp(path, "/ui/") == 0)
		rest = "index.html";
	else if (strncmp(path, "/ui/", 4) == 0)
		rest = path + 4;
	else
		return -ENOENT;
	n = strlen(rest);
	if (n >= size)
		return -EINVAL;
	/* segment by segment: a name, never "", "." or ".." (nor any other
	 * dot file), only the bytes of plain file names */
	for (seg = rest; *seg != '\0';) {
		const char *end = strchr(seg, '/');
		size_t len = end ? (size_t)(end - seg) : strlen(seg);
		size_t i;

		if (len == 0 || seg[0] == '.')
			return -EINVAL;
		for (i = 0; i < len; i++)
			if (!name_byte_ok(seg[i]))
				return -EINVAL;
		if (end == NULL)
			break;
		seg = end + 1;
		if (*seg == '\0')
			return -EINVAL; /* a directory */
	}
	memcpy(out, rest, n + 1);
	return 0;
}

const char *
ui_content_type(const char *name)
{
	static const struct {
		const char *ext, *type;
	} types[] = {
	    {".html", "text/html; charset=utf-8"},
	    {".js", "text/javascript; charset=utf-8"},
	    {".mjs", "text/javascript; charset=utf-8"},
	    {".css", "text/css; charset=utf-8"},
	    {".json", "application/json"},
	    {".svg", "image/svg+xml"},
	    {".png", "image/png"},
	    {".ico", "image/x-icon"},
	    {".txt", "text/plain; charset=utf-8"},
	    {".woff2", "font/woff2"},
	};
	const char *dot = strrchr(name, '.');
	size_t i;

	if (dot != NULL && strchr(dot, '/') == NULL)
		for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
			if (strcmp(dot, types[i].ext) == 0)
				return types[i].type;
	return "application/octet-stream";
}

const struct ui_asset *
ui_find(const char *name)
{
	size_t lo = 0, hi = ui_nassets;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(name, ui_assets[mid].name);

		if (c == 0)
			return &ui_assets[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

static void
ui_respond(struct http_req *req, int status, const char *ctype,
    const void *body, size_t len)
{
	http_respond(req, status, ctype, body, len, ui_headers);
}

static void
ui_error(struct http_req *req, int status, const char *text)
{
	ui_respond(req, status, "text/plain; charset=utf-8", text,
	    strlen(text));
}

/* read_file - dir/name whole into *data (free()); -errno, or -EFBIG */
static int
read_file(const char *dir, const char *name, char **data, size_t *len)
{
	char path[4096 + UI_NAME_MAX + 2];
	struct stat st;
	size_t got = 0;
	char *p;
	int fd;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    sizeof(path))
		return -ENAMETOOLONG;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -ENOENT;
	}
	if (st.st_size > UI_FILE_MAX) {
		close(fd);
		return -EFBIG;
	}
	p = xmalloc((size_t)st.st_size + 1);
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, p + got, (size_t)st.st_size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break; /* shrank meanwhile: serve what is there */
		got += (size_t)r;
	}
	close(fd);
	*data = p;
	*len = got;
	return 0;
}

bool
ui_handle(const struct ui_conf *u, struct http_req *req)
{
	static const char *const allow[] = {UI_CSP,
	    "X-Content-Type-Options: nosniff", "X-Frame-Options: DENY",
	    "Allow: GET, HEAD", NULL};
	char name[UI_NAME_MAX];
	int r;

	if (strcmp(req->path, "/") == 0) {
		if (!u->enabled) {
			http_respond_text(req, 200, "Consul Agent");
		} else {
			static const char *const loc[] = {"Location: /ui/",
			    NULL};
			static const char text[] = "Moved Permanently: /ui/\n";

			/* as Consul: the agent's root is the UI */
			http_respond(req, 301, "text/plain; charset=utf-8", text,
			    sizeof(text) - 1, loc);
		}
		return true;
	}
	r = ui_file_name(req->path, name, sizeof(name));
	if (r == -ENOENT)
		return false;
	if (!u->enabled) {
		http_respond(req, 404, NULL, "", 0, NULL);
		return true;
	}
	if (strcmp(req->method, "GET") != 0 &&
	    strcmp(req->method, "HEAD") != 0) {
		static const char text[] = "method not allowed";

		http_respond(req, 405, "text/plain; charset=utf-8", text,
		    sizeof(text) - 1, allow);
		return true;
	}
	if (r < 0) {
		ui_error(req, 404, "not found");
		return true;
	}
	if (u->dir != NULL && *u->dir != '\0') {
		char *data = NULL;
		size_t len = 0;

		r = read_file(u->dir, name, &data, &len);
		if (r == 0)
			ui_respond(req, 200, ui_content_type(name), data, len);
		else if (r == -ENOENT || r == -ENOTDIR || r == -EISDIR)
			ui_error(req, 404, "not found");
		else {
			log_warnx("ui: %s/%s: %s", u->dir, name,
			    r == -EFBIG ? "too large" : strerror(-r));
			ui_error(req, r == -EACCES ? 403 : 500,
			    "cannot read the file");
		}
		free(data);
	} else {
		const struct ui_asset *f = ui_find(name);

		if (f == NULL)
			ui_error(req, 404, "not found");
		else
			ui_respond(req, 200, ui_content_type(name), f->data,
			    f->len);
	}
	return true;
}
