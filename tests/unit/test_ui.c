/* test_ui.c - unit tests for httpd/ui.c: which file a request path names
 * (no way out of the UI's directory), content types, the embedded table,
 * and ui_handle on requests fed through http_feed. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../httpd/ui.h"

static void
test_file_name_ok(void **state)
{
	static const char *const cases[][2] = {
	    {"/ui", "index.html"},
	    {"/ui/", "index.html"},
	    {"/ui/index.html", "index.html"},
	    {"/ui/app.js", "app.js"},
	    {"/ui/vendor/lib-1.2_x.min.js", "vendor/lib-1.2_x.min.js"},
	    {"/ui/a..b", "a..b"},
	};
	char out[UI_NAME_MAX];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(ui_file_name(cases[i][0], out, sizeof(out)), 0);
		assert_string_equal(out, cases[i][1]);
	}
}

static void
test_file_name_not_ui(void **state)
{
	static const char *const cases[] = {"/", "", "/uix", "/u", "/v1/ui/",
	    "ui/app.js", "/UI/"};
	char out[UI_NAME_MAX];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(ui_file_name(cases[i], out, sizeof(out)),
		    -ENOENT);
}

static void
test_file_name_refused(void **state)
{
	/* paths arrive percent-decoded: %2e%2e is ".." here */
	static const char *const cases[] = {"/ui/..", "/ui/../etc/passwd",
	    "/ui/a/../../x", "/ui/.", "/ui/./app.js", "/ui//app.js",
	    "/ui/a//b", "/ui/.hidden", "/ui/a/.git/config", "/ui/a/",
	    "/ui/a\\..\\b", "/ui/a b", "/ui/a%2fb", "/ui/\x01", "/ui/\xc3\xa9",
	    "/ui/a?b", "/ui/a:b", "/ui/~"};
	char out[UI_NAME_MAX];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(ui_file_name(cases[i], out, sizeof(out)),
		    -EINVAL);
}

static void
test_file_name_length(void **state)
{
	char path[UI_NAME_MAX + 16], out[UI_NAME_MAX];

	(void)state;
	/* the longest name that fits, then one byte more */
	memcpy(path, "/ui/", 4);
	memset(path + 4, 'a', UI_NAME_MAX - 1);
	path[4 + UI_NAME_MAX - 1] = '\0';
	assert_int_equal(ui_file_name(path, out, sizeof(out)), 0);
	assert_int_equal(strlen(out), UI_NAME_MAX - 1);
	path[4 + UI_NAME_MAX - 1] = 'a';
	path[4 + UI_NAME_MAX] = '\0';
	assert_int_equal(ui_file_name(path, out, sizeof(out)), -EINVAL);
	/* index.html into a small buffer */
	assert_int_equal(ui_file_name("/ui/", out, 10), -EINVAL);
	assert_int_equal(ui_file_name("/ui/", out, 11), 0);
}

static void
test_content_type(void **state)
{
	(void)state;
	assert_string_equal(ui_content_type("index.html"),
	    "text/html; charset=utf-8");
	assert_string_equal(ui_content_type("a/app.js"),
	    "text/javascript; charset=utf-8");
	assert_string_equal(ui_content_type("style.css"),
	    "text/css; charset=utf-8");
	assert_string_equal(ui_content_type("favicon.svg"), "image/svg+xml");
	assert_string_equal(ui_content_type("shot.png"), "image/png");
	assert_string_equal(ui_content_type("noext"),
	    "application/octet-stream");
	assert_string_equal(ui_content_type("a.js/b"),
	    "application/octet-stream");
	assert_string_equal(ui_content_type("x.HTML"),
	    "application/octet-stream");
}

static void
test_embedded(void **state)
{
	const struct ui_asset *f;
	size_t i;

	(void)state;
	assert_true(ui_nassets >= 4);
	for (i = 1; i < ui_nassets; i++)
		assert_true(strcmp(ui_assets[i - 1].name, ui_assets[i].name) <
			    0);
	for (i = 0; i < ui_nassets; i++) {
		char out[UI_NAME_MAX], path[UI_NAME_MAX + 8];

		assert_ptr_equal(ui_find(ui_assets[i].name), &ui_assets[i]);
		/* every embedded name is one a request can name */
		snprintf(path, sizeof(path), "/ui/%s", ui_assets[i].name);
		assert_int_equal(ui_file_name(path, out, sizeof(out)), 0);
	}
	f = ui_find("index.html");
	assert_non_null(f);
	assert_non_null(strstr((const char *)f->data, "/ui/app.js"));
	assert_int_equal(f->data[f->len], '\0');
	assert_non_null(ui_find("app.js"));
	assert_null(ui_find("nope.js"));
	assert_null(ui_find(""));
}

/* ui_handle through the HTTP server: which requests it takes */
struct seen {
	const struct ui_conf *u;
	int taken, passed;
};

static void
handler(struct http_req *req, void *arg)
{
	struct seen *s = arg;

	if (ui_handle(s->u, req)) {
		s->taken++;
	} else {
		s->passed++;
		http_respond(req, 404, NULL, "", 0, NULL);
	}
}

static void
feed(const struct ui_conf *u, const char *reqs, int taken, int passed)
{
	struct http_limits lim = {.max_body = 1024};
	struct seen s = {u, 0, 0};

	assert_int_equal(http_feed(reqs, strlen(reqs), &lim, handler, &s),
	    taken + passed);
	assert_int_equal(s.taken, taken);
	assert_int_equal(s.passed, passed);
}

static void
test_handle(void **state)
{
	static const char reqs[] =
	    "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
	    "GET /ui HTTP/1.1\r\nHost: x\r\n\r\n"
	    "HEAD /ui/app.js HTTP/1.1\r\nHost: x\r\n\r\n"
	    "GET /ui/../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n"
	    "GET /ui/%2e%2e/x HTTP/1.1\r\nHost: x\r\n\r\n"
	    "POST /ui/ HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx"
	    "GET /v1/kv/x HTTP/1.1\r\nHost: x\r\n\r\n"
	    "GET /uix HTTP/1.1\r\nHost: x\r\n\r\n";
	struct ui_conf on = {true, NULL}, off = {false, NULL};
	char dir[] = "/tmp/cairn-test-ui.XXXXXX", path[64];
	struct ui_conf in_dir = {true, dir};
	FILE *f;

	(void)state;
	feed(&on, reqs, 6, 2);
	feed(&off, reqs, 6, 2); /* / and 404s for the UI's paths */
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/index.html", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("<!doctype html>", f);
	fclose(f);
	feed(&in_dir, reqs, 6, 2);
	unlink(path);
	rmdir(dir);
	feed(&in_dir, reqs, 6, 2); /* the directory gone: 404s */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_file_name_ok),
	    cmocka_unit_test(test_file_name_not_ui),
	    cmocka_unit_test(test_file_name_refused),
	    cmocka_unit_test(test_file_name_length),
	    cmocka_unit_test(test_content_type),
	    cmocka_unit_test(test_embedded),
	    cmocka_unit_test(test_handle),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
