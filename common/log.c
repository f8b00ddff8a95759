/* log.c - one line per event on stderr, the same format in every daemon. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

enum log_level log_threshold = LOG_LVL_INFO;

static char log_name[32] = "cairn";
static int log_journal = -1; /* -1 unknown, 0 no, 1 stderr is journald */
static log_hook_fn log_hook;
static void *log_hook_arg;

static const char *const level_names[] = {"TRACE", "DEBUG", "INFO", "WARN",
					  "ERROR"};
/* syslog priorities for journald: debug 7, info 6, warning 4, err 3 */
static const int level_prio[] = {7, 7, 6, 4, 3};

static int
stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long dev, ino;
	struct stat st;

	if (js == NULL || sscanf(js, "%lu:%lu", &dev, &ino) != 2)
		return 0;
	if (fstat(STDERR_FILENO, &st) < 0)
		return 0;
	return st.st_dev == (dev_t)dev && st.st_ino == (ino_t)ino;
}

void
log_init(const char *name, enum log_level level)
{
	snprintf(log_name, sizeof(log_name), "%s", name);
	log_threshold = level;
	log_journal = stderr_is_journal();
}

void
log_set_level(enum log_level level)
{
	log_threshold = level;
}

void
log_set_hook(log_hook_fn fn, void *arg)
{
	log_hook = fn;
	log_hook_arg = arg;
}

int
log_level_parse(const char *s, enum log_level *out)
{
	static const struct {
		const char *name;
		enum log_level lvl;
	} t[] = {
	    {"trace", LOG_LVL_TRACE}, {"debug", LOG_LVL_DEBUG},
	    {"info", LOG_LVL_INFO},   {"warn", LOG_LVL_WARN},
	    {"warning", LOG_LVL_WARN}, {"err", LOG_LVL_ERROR},
	    {"error", LOG_LVL_ERROR},
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (strcasecmp(s, t[i].name) == 0) {
			*out = t[i].lvl;
			return 0;
		}
	}
	return -EINVAL;
}

const char *
log_level_name(enum log_level level)
{
	if ((unsigned)level > LOG_LVL_ERROR)
		return "?";
	return level_names[level];
}

void
log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	char line[2048], ts[40];
	struct timespec now;
	struct tm tm;
	int saved = errno, n, off;

	if (level < log_threshold || (unsigned)level > LOG_LVL_ERROR)
		return;
	if (log_journal < 0)
		log_journal = stderr_is_journal();

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	n = (int)strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + n, sizeof(ts) - (size_t)n, ".%03ldZ",
	    now.tv_nsec / 1000000);

	off = snprintf(line, sizeof(line), "%s [%s]%*s %s[%ld]: ", ts,
	    level_names[level], (int)(5 - strlen(level_names[level])), "",
	    log_name, (long)getpid());
	vsnprintf(line + off, sizeof(line) - (size_t)off, fmt, ap);
	/* one event, one line: fold embedded newlines */
	for (char *p = line + off; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';

	if (log_journal)
		fprintf(stderr, "<%d>%s\n", level_prio[level], line + strlen(ts) + 1);
	else
		fprintf(stderr, "%s\n", line);
	if (log_hook != NULL)
		log_hook(level, line, log_hook_arg);
	errno = saved;
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

static void
log_errno(enum log_level level, const char *fmt, va_list ap)
{
	char msg[1536];
	int e = errno;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	log_msg(level, "%s: %s", msg, strerror(e));
}

void
log_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_errno(LOG_LVL_WARN, fmt, ap);
	va_end(ap);
}

void
log_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_errno(LOG_LVL_ERROR, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_errno(LOG_LVL_ERROR, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LVL_ERROR, fmt, ap);
	va_end(ap);
	exit(1);
}
