/* validate.c - cairn validate: config files checked as the agent loads them. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../checkd/defs.h"
#include "cfg.h"
#include "cli.h"
#include "ctl.h"
#include "json.h"
#include "xmalloc.h"

/* check_defs - the "service(s)" and "check(s)" of one config file,
 * parsed as checkd parses them when the agent loads the file */
static int
check_defs(const char *path, struct errbuf *eb)
{
	static const char *const keys[] = {"service", "services", "check",
	    "checks"};
	struct buf b = BUF_INIT;
	yajl_val v;
	size_t i, k, n;
	int rc = 0;

	if ((rc = cli_read(path, &b)) < 0) {
		buf_free(&b);
		return errbuf_set(eb, rc, "%s: %s", path, strerror(-rc));
	}
	v = json_parse(b.data ? (const char *)b.data : "", b.len, eb);
	buf_free(&b);
	if (v == NULL)
		return errbuf_wrap(eb, -EINVAL, "%s", path);
	for (k = 0; k < 4 && rc == 0; k++) {
		yajl_val d = YAJL_IS_OBJECT(v) ? json_obj_get(v, keys[k]) : NULL;

		if (d == NULL)
			continue;
		n = YAJL_IS_ARRAY(d) ? d->u.array.len : 1;
		for (i = 0; i < n && rc == 0; i++) {
			yajl_val e = YAJL_IS_ARRAY(d) ? d->u.array.values[i] : d;
			char *js = json_to_text(e);
			struct service_def sd;
			struct check_def cd;

			if (js == NULL) {
				rc = errbuf_set(eb, -EINVAL, "cannot re-encode");
			} else if (k < 2) {
				rc = service_def_parse(js, strlen(js), &sd, eb);
				service_def_free(&sd);
			} else {
				rc = check_def_parse(js, strlen(js), false, &cd,
				    eb);
				check_def_free(&cd);
			}
			free(js);
			if (rc < 0 && YAJL_IS_ARRAY(d))
				errbuf_wrap(eb, rc, "%s: %s[%zu]", path,
				    keys[k], i);
			else if (rc < 0)
				errbuf_wrap(eb, rc, "%s: %s", path, keys[k]);
		}
	}
	yajl_tree_free(v);
	return rc;
}

static int
json_name(const struct dirent *d)
{
	size_t n = strlen(d->d_name);

	return n >= 5 && strcmp(d->d_name + n - 5, ".json") == 0;
}

static int
name_cmp(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

/* check_dir - check_defs for the files cfg loads from dir: its *.json
 * regular files, by name */
static int
check_dir(const char *dir, struct errbuf *eb)
{
	struct dirent **ents = NULL;
	struct stat st;
	int i, n, rc = 0;

	if ((n = scandir(dir, &ents, json_name, name_cmp)) < 0)
		return errbuf_set(eb, -errno, "%s: %s", dir, strerror(errno));
	for (i = 0; i < n; i++) {
		char *p = xasprintf("%s%s%s", dir,
		    dir[strlen(dir) - 1] == '/' ? "" : "/", ents[i]->d_name);

		if (rc == 0 && stat(p, &st) == 0 && S_ISREG(st.st_mode))
			rc = check_defs(p, eb);
		free(p);
		free(ents[i]);
	}
	free(ents);
	return rc;
}

int
cmd_validate(int argc, char **argv)
{
	static const char *const bools[] = {"quiet", NULL};
	static const char *const strs[] = {"config-format", NULL};
	static const char usage[] =
	    "Usage: cairn validate [options] FILE_OR_DIRECTORY...\n\n"
	    "  Checks configuration files and directories (their *.json "
	    "files) as the\n  agent loads them, with the service and check "
	    "definitions in them.\n  Exits 0 when they are valid, 1 if "
	    "not.\n\n"
	    "  -config-format=json  Format of the files (only json).\n"
	    "  -quiet               Print nothing when valid.\n";
	struct cairn_conf c;
	struct errbuf eb;
	struct opts o;
	struct stat st;
	char **args;
	int i, na = 0, r;

	if ((r = cli_parse_go(argc, argv, bools, strs, &o, usage)) != 0)
		return r;
	if (o.npos < 1) {
		fprintf(stderr, "Must specify at least one config file or "
				"directory\n");
		return 1;
	}
	args = xcalloc((size_t)o.npos * 2 + 2, sizeof(*args));
	if (o.sval[0]) {
		args[na++] = (char *)"-config-format";
		args[na++] = (char *)o.sval[0];
	}
	for (i = 0; i < o.npos; i++) {
		bool dir = stat(o.pos[i], &st) == 0 && S_ISDIR(st.st_mode);

		args[na++] = (char *)(dir ? "-config-dir" : "-config-file");
		args[na++] = o.pos[i];
	}
	r = cfg_load(na, args, &c, &eb) < 0;
	free(args);
	if (r == 0)
		cfg_free(&c);
	for (i = 0; i < o.npos && r == 0; i++) {
		if (stat(o.pos[i], &st) == 0 && S_ISDIR(st.st_mode))
			r = check_dir(o.pos[i], &eb) < 0;
		else
			r = check_defs(o.pos[i], &eb) < 0;
	}
	if (r) {
		fprintf(stderr, "Config validation failed: %s\n", eb.msg);
		return 1;
	}
	if (!o.flag[0])
		printf("Configuration is valid!\n");
	return 0;
}
