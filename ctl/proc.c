/* proc.c - flags before a command line, children, signals and a clock
 * for `cairn lock` and `cairn watch` (see proc.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proc.h"
#include "xmalloc.h"

volatile sig_atomic_t proc_wake;
volatile sig_atomic_t proc_sig;
volatile sig_atomic_t proc_chld;

int
proc_parse_bool(const char *s)
{
	static const char *const yes[] = {"1", "t", "T", "TRUE", "true",
	    "True"};
	static const char *const no[] = {"0", "f", "F", "FALSE", "false",
	    "False"};
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcmp(s, yes[i]) == 0)
			return 1;
		if (strcmp(s, no[i]) == 0)
			return 0;
	}
	return -1;
}

/* takes_value - whether flag a ("-x", "--x", no '=') is one of the
 * common HTTP flags or the command's string flags, which may take their
 * value from the next argument */
static bool
takes_value(const char *a, const char *const *strs)
{
	static const char *const common[] = {"http-addr", "token",
	    "datacenter", NULL};
	size_t k;

	a += a[1] == '-' ? 2 : 1;
	if (strchr(a, '=') != NULL)
		return false;
	for (k = 0; common[k]; k++)
		if (strcmp(a, common[k]) == 0)
			return true;
	for (k = 0; strs && strs[k]; k++)
		if (strcmp(a, strs[k]) == 0)
			return true;
	return false;
}

int
proc_parse(int argc, char **argv, const char *const *bools,
    const char *const *strs, struct opts *o, const char *usage,
    bool *shell, int *first)
{
	char **av = xcalloc((size_t)argc + 1, sizeof(*av));
	int i, n = 0, r;

	*shell = true;
	av[n++] = argv[0];
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *f;

		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		if (a[0] != '-' || a[1] == '\0')
			break;
		f = a + (a[1] == '-' ? 2 : 1);
		if (strncmp(f, "shell", 5) == 0 &&
		    (f[5] == '\0' || f[5] == '=')) {
			int b = f[5] == '\0' ? 1 : proc_parse_bool(f + 6);

			if (b < 0) {
				fprintf(stderr, "invalid boolean value \"%s\" "
						"for -shell\n%s",
				    f + 6, usage);
				free(av);
				return 1;
			}
			*shell = b == 1;
			continue;
		}
		av[n++] = argv[i];
		if (takes_value(a, strs) && i + 1 < argc)
			av[n++] = argv[++i];
	}
	*first = i;
	r = cli_parse(n, av, bools, strs, o, usage);
	free(av);
	return r;
}

static void
on_signal(int sig)
{
	if (sig == SIGCHLD)
		proc_chld = 1;
	else
		proc_sig = sig;
	proc_wake = 1;
}

void
proc_signals(bool chld)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0; /* no SA_RESTART: blocking calls return EINTR */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (chld) {
		sa.sa_flags = SA_NOCLDSTOP;
		sigaction(SIGCHLD, &sa, NULL);
	}
	signal(SIGPIPE, SIG_IGN);
}

int64_t
proc_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
proc_sleep(int64_t ms)
{
	int64_t end = proc_now_ms() + ms, left;
	struct timespec ts;

	while ((left = end - proc_now_ms()) > 0) {
		if (proc_wake)
			return -1;
		ts.tv_sec = left / 1000;
		ts.tv_nsec = (long)(left % 1000) * 1000000;
		nanosleep(&ts, NULL);
	}
	return proc_wake ? -1 : 0;
}

/* child - what runs between fork and exec (nothing allocated); errors
 * go back over err_fd */
static void __attribute__((noreturn))
child(char **av, char **envp, int in_fd, int err_fd)
{
	int e, fd;

	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGCHLD, SIG_DFL);
	signal(SIGPIPE, SIG_DFL);
	if (in_fd == -1) {
		if ((fd = open("/dev/null", O_RDONLY)) >= 0 && fd != 0) {
			dup2(fd, 0);
			close(fd);
		}
	} else if (in_fd >= 0 && in_fd != 0) {
		dup2(in_fd, 0);
	}
	execvpe(av[0], av, envp);
	e = errno;
	if (write(err_fd, &e, sizeof(e)) < 0) {
		/* nothing left to tell it with */
	}
	_exit(127);
}

extern char **environ;

/* with_env - environ with kv ("NAME=value") set */
static char **
with_env(const char *kv)
{
	size_t n = 0, i, k = 0, nl = strcspn(kv, "=");
	char **e;

	while (environ[n])
		n++;
	e = xcalloc(n + 2, sizeof(*e));
	for (i = 0; i < n; i++)
		if (strncmp(environ[i], kv, nl) != 0 || environ[i][nl] != '=')
			e[k++] = environ[i];
	e[k] = (char *)kv;
	return e;
}

pid_t
proc_spawn(char **args, int nargs, bool shell, int in_fd, const char *env)
{
	const char *sh = getenv("SHELL");
	char **av, **envp, *script = NULL;
	int p[2] = {-1, -1}, e = 0, i;
	ssize_t r;
	pid_t pid = -1;

	if (nargs < 1) {
		fprintf(stderr, "Error starting handler: no command\n");
		return -1;
	}
	if (sh == NULL || *sh == '\0')
		sh = "/bin/sh";
	av = xcalloc((size_t)nargs + 4, sizeof(*av));
	if (shell) {
		struct buf b = BUF_INIT;

		for (i = 0; i < nargs; i++) {
			if (i)
				buf_put(&b, " ", 1);
			buf_put_str(&b, args[i]);
		}
		buf_put(&b, "", 1);
		script = (char *)buf_steal(&b, NULL);
		av[0] = (char *)sh;
		av[1] = (char *)"-c";
		av[2] = script;
	} else {
		for (i = 0; i < nargs; i++)
			av[i] = args[i];
	}
	envp = env != NULL ? with_env(env) : environ;
	if (pipe2(p, O_CLOEXEC) < 0) {
		fprintf(stderr, "Error starting handler: %s\n",
		    strerror(errno));
		goto out;
	}
	fflush(stdout);
	fflush(stderr);
	if ((pid = fork()) < 0) {
		fprintf(stderr, "Error starting handler: %s\n",
		    strerror(errno));
		goto out;
	}
	if (pid == 0)
		child(av, envp, in_fd, p[1]);
	close(p[1]);
	p[1] = -1;
	/* exec succeeded when the pipe closes without a word */
	do
		r = read(p[0], &e, sizeof(e));
	while (r < 0 && errno == EINTR);
	if (r == (ssize_t)sizeof(e)) {
		int st;

		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		fprintf(stderr, "Error starting handler: exec: \"%s\": %s\n",
		    av[0], strerror(e));
		pid = -1;
	}
out:
	if (p[0] >= 0)
		close(p[0]);
	if (p[1] >= 0)
		close(p[1]);
	if (envp != environ)
		free(envp);
	free(script);
	free(av);
	return pid;
}

void
proc_status_text(int status, char *buf, size_t n)
{
	if (WIFEXITED(status)) {
		snprintf(buf, n, "exit status %d", WEXITSTATUS(status));
	} else if (WIFSIGNALED(status)) {
		const char *s = strsignal(WTERMSIG(status));
		char name[64];
		size_t i;

		snprintf(name, sizeof(name), "%s", s ? s : "unknown signal");
		for (i = 0; name[i]; i++)
			if (name[i] >= 'A' && name[i] <= 'Z')
				name[i] = (char)(name[i] - 'A' + 'a');
		snprintf(buf, n, "signal: %s", name);
	} else {
		snprintf(buf, n, "status %d", status);
	}
}

int
proc_reap(pid_t pid, int *status)
{
	pid_t r;

	while ((r = waitpid(pid, status, WNOHANG)) < 0 && errno == EINTR)
		;
	if (r == pid)
		return 1;
	if (r < 0) { /* not ours or already reaped: nothing to wait for */
		*status = 0;
		return 1;
	}
	return 0;
}

int
proc_stop(pid_t pid, int64_t grace_ms, bool verbose)
{
	int64_t end;
	int st = 0;

	if (proc_reap(pid, &st))
		return st;
	if (verbose)
		printf("Terminating child pid %d\n", (int)pid);
	fflush(stdout);
	kill(pid, SIGTERM);
	end = proc_now_ms() + grace_ms;
	while (proc_now_ms() < end) {
		struct timespec ts = {0, 20 * 1000000};

		if (proc_reap(pid, &st)) {
			if (verbose)
				printf("Child terminated\n");
			fflush(stdout);
			return st;
		}
		nanosleep(&ts, NULL);
	}
	if (verbose) {
		printf("Child did not exit after grace period of %llds\n",
		    (long long)(grace_ms / 1000));
		printf("Killing child pid %d\n", (int)pid);
	}
	fflush(stdout);
	kill(pid, SIGKILL);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return st;
}
