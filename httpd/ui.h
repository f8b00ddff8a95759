/* ui.h - the web UI: static files served under /ui/ (and "/" redirecting
 * there when the UI is enabled).  The files of httpd/ui/ are compiled into
 * cairn-httpd (httpd/ui_embed.py writes them as byte arrays at build time,
 * no network involved); with ui_dir set they are read from that directory
 * instead.  Only GET and HEAD; every answer carries a Content-Security-
 * Policy without inline script, nosniff and X-Frame-Options: DENY. */
#ifndef CAIRN_HTTPD_UI_H
#define CAIRN_HTTPD_UI_H

#include <stdbool.h>
#include <stddef.h>

#include "http.h"

/* one embedded file; name relative to httpd/ui/ ("index.html") */
struct ui_asset {
	const char *name;
	const unsigned char *data;
	size_t len;
};

/* the generated table (build/httpd/ui_assets.c), sorted by name */
extern const struct ui_asset ui_assets[];
extern const size_t ui_nassets;

struct ui_conf {
	bool enabled;	 /* -ui / ui_config.enabled (or a dir given) */
	const char *dir; /* NULL or "": the embedded files */
};

#define UI_NAME_MAX 256
#define UI_FILE_MAX (16 * 1024 * 1024) /* a larger file in dir: 500 */

/* ui_file_name - the file a (percent-decoded) request path names:
 * "/ui" and "/ui/" are "index.html", "/ui/a/b.js" is "a/b.js".  Returns 0
 * with the name in out[0..size), -ENOENT when path is not the UI's (not
 * "/ui" nor under "/ui/"), -EINVAL when it names no servable file: an
 * empty, "." or ".." segment, a segment starting with '.', a byte outside
 * [A-Za-z0-9._-], a trailing '/', or a name of size or more bytes. */
int ui_file_name(const char *path, char *out, size_t size);

/* ui_content_type - the Content-Type for a file name, by extension
 * (application/octet-stream when unknown) */
const char *ui_content_type(const char *name);

/* ui_find - the embedded file of that name, or NULL */
const struct ui_asset *ui_find(const char *name);

/* ui_handle - answer req if its path is the UI's: "/" (a redirect to /ui/
 * when enabled, else Consul's "Consul Agent"), "/ui" or under "/ui/"
 * (404 when disabled).  Returns false, not answering, for any other
 * path. */
bool ui_handle(const struct ui_conf *u, struct http_req *req);

#endif
