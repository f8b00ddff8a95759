/* log.h - one log format for every Cairn daemon: one line per event on stderr. */
#ifndef CAIRN_LOG_H
#define CAIRN_LOG_H

#include <stdarg.h>

enum log_level {
	LOG_LVL_TRACE = 0,
	LOG_LVL_DEBUG = 1,
	LOG_LVL_INFO = 2,
	LOG_LVL_WARN = 3,
	LOG_LVL_ERROR = 4,
};

extern enum log_level log_threshold;

/*
 * log_init - set the process name shown on every line ("raftd", "agent")
 * and the minimum level.  Safe to call again (e.g. on reload).
 *
 * Line format on a terminal or pipe:
 *   2026-11-25T08:30:00.123Z [INFO]  raftd[1234]: message
 * When stderr is journald's stream ($JOURNAL_STREAM matches fd 2), the
 * timestamp is dropped and a syslog-style "<N>" priority prefix is used
 * instead, so journald records the level.
 */
void log_init(const char *name, enum log_level level);
void log_set_level(enum log_level level);

/* log_level_parse - "trace", "debug", "info", "warn"/"warning", "err"/"error"
 * in any case; returns 0 and sets *out, or -EINVAL. */
int log_level_parse(const char *s, enum log_level *out);
const char *log_level_name(enum log_level level);

void log_msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void log_vmsg(enum log_level level, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* log_hook - every formatted line (without newline) is also handed here,
 * e.g. to stream it to /v1/agent/monitor later.  NULL to disable. */
typedef void (*log_hook_fn)(enum log_level level, const char *line, void *arg);
void log_set_hook(log_hook_fn fn, void *arg);

#define log_enabled(lvl) ((lvl) >= log_threshold)
#define log_trace(...)                                                         \
	do {                                                                   \
		if (log_enabled(LOG_LVL_TRACE))                                \
			log_msg(LOG_LVL_TRACE, __VA_ARGS__);                   \
	} while (0)
#define log_debug(...)                                                         \
	do {                                                                   \
		if (log_enabled(LOG_LVL_DEBUG))                                \
			log_msg(LOG_LVL_DEBUG, __VA_ARGS__);                   \
	} while (0)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_warnx(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_errorx(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)

/* log_warn / log_error append ": strerror(errno)". */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* fatal / fatalx: log at error level and exit(1).  Start-up only. */
void fatal(const char *fmt, ...)
    __attribute__((noreturn, format(printf, 1, 2)));
void fatalx(const char *fmt, ...)
    __attribute__((noreturn, format(printf, 1, 2)));

#endif
