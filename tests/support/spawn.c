/*
 * spawn.c - fork/exec with three pipes, driven by poll(2) so a large
 * stdin and a large stdout never deadlock each other.
 */
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void append(char **buf, size_t *len, const char *data, size_t n)
{
	*buf = realloc(*buf, *len + n + 1);
	memcpy(*buf + *len, data, n);
	*len += n;
	(*buf)[*len] = '\0';
}

int spawn_run(const char *const argv[], const struct spawn_opts *o, struct spawn_result *res)
{
	int in[2], out[2], err[2];
	memset(res, 0, sizeof(*res));
	res->out = calloc(1, 1);
	res->err = calloc(1, 1);
	if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC))
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		dup2(err[1], 2);
		for (const char *const *e = o->env; e && *e; e++)
			putenv((char *)*e);
		execv(argv[0], (char *const *)argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	close(err[1]);
	signal(SIGPIPE, SIG_IGN);
	fcntl(in[1], F_SETFL, O_NONBLOCK);
	size_t written = 0;
	int in_fd = in[1], out_fd = out[0], err_fd = err[0];
	long start = now_ms(), deadline = start + (o->timeout_ms ? o->timeout_ms : 20000);
	long term_at = 0;
	int killed = 0;
	if (o->input_len == 0 && !o->keep_stdin_open) {
		close(in_fd);
		in_fd = -1;
	}
	while (out_fd >= 0 || err_fd >= 0) {
		struct pollfd p[3] = { { in_fd, POLLOUT, 0 }, { out_fd, POLLIN, 0 },
				       { err_fd, POLLIN, 0 } };
		if (in_fd >= 0 && written == o->input_len)
			p[0].fd = -1;
		long now = now_ms();
		if (o->term_after_ms && !term_at && written == o->input_len)
			term_at = now + o->term_after_ms;
		long wait = deadline - now;
		if (term_at && term_at - now < wait)
			wait = term_at - now;
		if (wait < 0)
			wait = 0;
		poll(p, 3, (int)wait);
		now = now_ms();
		if (term_at > 0 && now >= term_at) {
			kill(pid, SIGTERM);
			term_at = -1;
		}
		if (now >= deadline && !killed) {
			kill(pid, SIGKILL);
			killed = 1;
			deadline = now + 5000;
		}
		if (p[0].fd >= 0 && (p[0].revents & (POLLOUT | POLLERR | POLLHUP))) {
			ssize_t n = write(in_fd, o->input + written, o->input_len - written);
			if (n > 0)
				written += (size_t)n;
			if (n < 0 && errno != EAGAIN) {
				written = o->input_len; /* reader gone */
			}
			if (written == o->input_len && !o->keep_stdin_open) {
				close(in_fd);
				in_fd = -1;
			}
		}
		char buf[65536];
		if (p[1].revents) {
			ssize_t n = read(out_fd, buf, sizeof(buf));
			if (n > 0)
				append(&res->out, &res->out_len, buf, (size_t)n);
			else {
				close(out_fd);
				out_fd = -1;
			}
		}
		if (p[2].revents) {
			ssize_t n = read(err_fd, buf, sizeof(buf));
			if (n > 0)
				append(&res->err, &res->err_len, buf, (size_t)n);
			else {
				close(err_fd);
				err_fd = -1;
			}
		}
	}
	if (in_fd >= 0)
		close(in_fd);
	int status = 0;
	waitpid(pid, &status, 0);
	if (WIFEXITED(status)) {
		res->exit_code = WEXITSTATUS(status);
	} else {
		res->exit_code = -1;
		res->signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
	}
	return 0;
}

void spawn_result_release(struct spawn_result *res)
{
	free(res->out);
	free(res->err);
	memset(res, 0, sizeof(*res));
}

const char *spawn_bin(const char *name, char *buf, size_t size)
{
	const char *dir = getenv("ONEX_BIN");
	snprintf(buf, size, "%s/%s", dir && *dir ? dir : "build/bin", name);
	return buf;
}

size_t spawn_count_lines(const char *text)
{
	size_t n = 0;
	for (; *text; text++)
		n += *text == '\n';
	return n;
}

const char *spawn_line(const char *text, size_t n, char *buf, size_t size)
{
	buf[0] = '\0';
	for (size_t i = 0; i < n && text; i++) {
		text = strchr(text, '\n');
		if (text)
			text++;
	}
	if (!text)
		return buf;
	const char *end = strchr(text, '\n');
	size_t len = end ? (size_t)(end - text) : strlen(text);
	if (len >= size)
		len = size - 1;
	memcpy(buf, text, len);
	buf[len] = '\0';
	return buf;
}

pid_t spawn_background(const char *const argv[], const char *const env[],
		       const char *log_path)
{
	pid_t parent = getpid(), pid = fork();
	if (pid != 0)
		return pid;
	int err_fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent || err_fd < 0 || null_fd < 0)
		_exit(126);
	dup2(null_fd, 0);
	dup2(null_fd, 1);
	dup2(err_fd, 2);
	for (size_t i = 0; env && env[i]; i++)
		putenv((char *)env[i]);
	execv(argv[0], (char *const *)argv);
	dprintf(2, "exec %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}
