/*
 * proc.c - child processes: posix_spawn with the output on a pipe,
 * wait4 for the resource usage, and the __measure helper (see proc.h).
 */
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

extern char **environ;

int onex_bench_executable(const char *path)
{
	struct stat st;
	return path && stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

static int exit_code_of(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return -1;
}

/* Read everything from fd; keep the first `max` bytes. */
static void read_all(int fd, size_t max, struct onex_bench_child *child)
{
	size_t cap = 4096;
	char buf[8192];
	child->out = malloc(cap);
	child->out_len = 0;
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		size_t keep = (size_t)n;
		if (child->out_len + keep > max)
			keep = max > child->out_len ? max - child->out_len : 0;
		if (keep && child->out) {
			while (child->out_len + keep + 1 > cap)
				cap *= 2;
			char *grown = realloc(child->out, cap);
			if (!grown)
				break;
			child->out = grown;
			memcpy(child->out + child->out_len, buf, keep);
			child->out_len += keep;
		}
	}
	if (child->out)
		child->out[child->out_len] = '\0';
}

/* In the child: wire the descriptors and exec; on failure write to `probe` and exit. */
static void exec_child(const char *const argv[], int out_fd, int probe, int keep_stderr)
{
	int null_fd = open("/dev/null", O_RDWR);
	dup2(out_fd, STDOUT_FILENO);
	if (null_fd >= 0) {
		dup2(null_fd, STDIN_FILENO);
		if (!keep_stderr)
			dup2(null_fd, STDERR_FILENO);
	}
	execve(argv[0], (char *const *)argv, environ);
	if (write(probe, "x", 1) < 0)
		_exit(127);
	_exit(127);
}

int onex_bench_spawn(const char *const argv[], size_t out_max, int keep_stderr,
		     struct onex_bench_child *child)
{
	int fds[2], probe[2];
	pid_t pid;
	char byte;
	memset(child, 0, sizeof(*child));
	child->exit_code = -1;
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -1;
	if (pipe2(probe, O_CLOEXEC) < 0) { /* tells whether exec worked */
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	fflush(NULL);
	uint64_t t0 = onex_bench_wall_ns();
	pid = fork();
	if (pid == 0)
		exec_child(argv, fds[1], probe[1], keep_stderr);
	close(fds[1]);
	close(probe[1]);
	int started = pid > 0 && read(probe[0], &byte, 1) == 0; /* EOF: exec closed it */
	close(probe[0]);
	if (!started) {
		close(fds[0]);
		if (pid > 0)
			waitpid(pid, NULL, 0);
		return -1;
	}
	read_all(fds[0], out_max, child);
	close(fds[0]);
	int status = 0;
	struct rusage ru;
	memset(&ru, 0, sizeof(ru));
	while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR)
		;
	child->wall_ns = onex_bench_wall_ns() - t0;
	child->exit_code = exit_code_of(status);
	child->cpu_ns = ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000ull +
			((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000ull;
	child->maxrss_kb = ru.ru_maxrss;
	return 0;
}

void onex_bench_child_release(struct onex_bench_child *child)
{
	free(child->out);
	child->out = NULL;
}

/* The last non-empty line of text (into buf). */
static void last_line(const char *text, size_t len, char *buf, size_t size)
{
	size_t end = len;
	while (end > 0 && (text[end - 1] == '\n' || text[end - 1] == '\r'))
		end--;
	size_t start = end;
	while (start > 0 && text[start - 1] != '\n')
		start--;
	snprintf(buf, size, "%.*s", (int)(end - start), text + start);
}

int onex_bench_measure_main(int argc, char **argv)
{
	struct onex_bench_child child;
	char line[512] = "";
	if (argc < 1) {
		fprintf(stderr, "usage: onex-bench __measure CMD [ARGS...]\n");
		return 1;
	}
	if (onex_bench_spawn((const char *const *)argv, 1u << 20, 0, &child) < 0) {
		printf("{\"exit_code\":-1}\n");
		return 1;
	}
	last_line(child.out ? child.out : "", child.out_len, line, sizeof(line));
	json_t *j = json_pack("{s:i,s:I,s:I,s:I,s:s}", "exit_code", child.exit_code, "wall_ns",
			      (json_int_t)child.wall_ns, "cpu_ns", (json_int_t)child.cpu_ns,
			      "maxrss_kb", (json_int_t)child.maxrss_kb, "last_line", line);
	char *text = json_dumps(j, JSON_COMPACT);
	printf("%s\n", text ? text : "{\"exit_code\":-1}");
	free(text);
	json_decref(j);
	onex_bench_child_release(&child);
	return 0;
}

int onex_bench_spawn_measured(const char *self_exe, const char *const argv[],
			      struct onex_bench_child *child)
{
	const char *full[64];
	size_t n = 0;
	struct onex_bench_child helper;
	full[n++] = self_exe;
	full[n++] = "__measure";
	for (size_t i = 0; argv[i] && n < 63; i++)
		full[n++] = argv[i];
	full[n] = NULL;
	memset(child, 0, sizeof(*child));
	child->exit_code = -1;
	if (onex_bench_spawn(full, 1u << 16, 0, &helper) < 0)
		return -1;
	json_t *j = helper.out ? json_loads(helper.out, 0, NULL) : NULL;
	onex_bench_child_release(&helper);
	if (!j)
		return -1;
	child->exit_code = (int)json_integer_value(json_object_get(j, "exit_code"));
	child->wall_ns = (uint64_t)json_integer_value(json_object_get(j, "wall_ns"));
	child->cpu_ns = (uint64_t)json_integer_value(json_object_get(j, "cpu_ns"));
	child->maxrss_kb = (long)json_integer_value(json_object_get(j, "maxrss_kb"));
	const char *line = json_string_value(json_object_get(j, "last_line"));
	child->out = strdup(line ? line : "");
	child->out_len = strlen(child->out);
	json_decref(j);
	return child->exit_code < 0 ? -1 : 0;
}
