/*
 * spawn.h - run a program with given stdin bytes and environment, collect
 * stdout, stderr and the exit status. For end-to-end tests of the CLIs.
 */
#ifndef ONEX_TEST_SPAWN_H
#define ONEX_TEST_SPAWN_H

#include <stddef.h>
#include <sys/types.h>

struct spawn_result {
	int exit_code; /* -1 when killed by a signal */
	int signal;    /* the signal, when killed */
	char *out;     /* NUL-terminated, owned */
	size_t out_len;
	char *err;
	size_t err_len;
};

/*
 * Run argv[0] (a path) with `input` on stdin (closed afterwards unless
 * keep_stdin_open), extra environment "K=V" strings in `env` (NULL-ended,
 * may be NULL), and wait at most timeout_ms; a program still running then
 * is killed with SIGKILL and the result has signal 9.
 * If term_after_ms > 0, SIGTERM is sent that long after the input was
 * written (for shutdown tests; use with keep_stdin_open).
 * Returns 0, or -1 when the program could not be started.
 */
struct spawn_opts {
	const char *input;
	size_t input_len;
	const char *const *env;
	int keep_stdin_open;
	int term_after_ms;
	int timeout_ms;
};
int spawn_run(const char *const argv[], const struct spawn_opts *opts,
	      struct spawn_result *res);
void spawn_result_release(struct spawn_result *res);

/*
 * Start argv[0] (a path) in the background: stdin and stdout on
 * /dev/null, stderr into the file `log_path` (truncated), the "K=V"
 * strings of `env` (NULL-ended, may be NULL) added to its environment.
 * The child gets SIGKILL when the test process dies, so no server or host
 * outlives a crashed test. Returns its PID (the caller stops it by PID and
 * reaps it), or -1 when fork failed. A child that cannot open its files
 * exits 126; one that cannot exec exits 127 with the reason in the log.
 */
pid_t spawn_background(const char *const argv[], const char *const env[],
		       const char *log_path);

/* "$ONEX_BIN/name" (ONEX_BIN defaults to build/bin) into buf. */
const char *spawn_bin(const char *name, char *buf, size_t size);

/* Count of '\n'-terminated lines in text. */
size_t spawn_count_lines(const char *text);

/* The n-th line (0-based) of text, copied into buf (NUL-terminated). */
const char *spawn_line(const char *text, size_t n, char *buf, size_t size);

#endif
