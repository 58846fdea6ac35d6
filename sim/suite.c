/*
 * suite.c - collect scenario files, filter them, run them over forked
 * workers. The contract is suite.h.
 *
 * The wire between a child and the parent is not JSON: failure texts and
 * traces may quote published bytes that are not valid UTF-8, which jansson
 * refuses to encode. Parent and child are the same executable (fork, no
 * exec), so the child sends the result struct itself, pointers cleared,
 * followed by the failure and trace bytes; the parent checks the magic and
 * every length before trusting any of it.
 */
#include "suite.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "yaml_tree.h"

/* ---- collection ---------------------------------------------------------- */

void onex_suite_init(struct onex_suite *suite)
{
	memset(suite, 0, sizeof(*suite));
}

void onex_suite_release(struct onex_suite *suite)
{
	for (size_t i = 0; i < suite->count; i++)
		free(suite->files[i].path);
	free(suite->files);
	memset(suite, 0, sizeof(*suite));
}

const char *onex_suite_stem(const char *path, char *buf, size_t size)
{
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	size_t n = strlen(base);
	if (n > 5 && strcmp(base + n - 5, ".yaml") == 0)
		n -= 5;
	if (size) {
		if (n >= size)
			n = size - 1;
		memcpy(buf, base, n);
		buf[n] = '\0';
	}
	return buf;
}

static int has_file(const struct onex_suite *suite, const struct stat *st)
{
	for (size_t i = 0; i < suite->count; i++)
		if (suite->files[i].dev == st->st_dev && suite->files[i].ino == st->st_ino)
			return 1;
	return 0;
}

/* Takes ownership of `path` (freed on every path through here). */
static int add_file(struct onex_suite *suite, char *path, const struct stat *st,
		    struct onex_error *err)
{
	if (has_file(suite, st)) {
		free(path);
		return 0;
	}
	if (suite->count >= ONEX_SUITE_FILES_MAX) {
		free(path);
		return onex_error_set(err, ONEX_ERR_INVALID_OPERATION, NULL, 0, 0,
				      "more than %u scenario files", ONEX_SUITE_FILES_MAX);
	}
	if (suite->count == suite->cap) {
		size_t cap = suite->cap ? suite->cap * 2 : 64;
		struct onex_suite_file *files = realloc(suite->files, cap * sizeof(*files));
		if (!files) {
			free(path);
			return onex_error_set(err, ONEX_ERR_INVALID_OPERATION, NULL, 0, 0,
					      "out of memory collecting scenario files");
		}
		suite->files = files;
		suite->cap = cap;
	}
	suite->files[suite->count++] = (struct onex_suite_file){ path, st->st_dev, st->st_ino };
	return 0;
}

static int is_yaml_name(const char *name)
{
	size_t n = strlen(name);
	return n > 5 && strcmp(name + n - 5, ".yaml") == 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "dir" + "/" + "name", without doubling a trailing slash of dir. */
static char *join(const char *dir, const char *name)
{
	size_t d = strlen(dir);
	while (d > 1 && dir[d - 1] == '/')
		d--;
	size_t n = strlen(name);
	char *p = malloc(d + 1 + n + 1);
	if (!p)
		return NULL;
	memcpy(p, dir, d);
	size_t at = d;
	if (!(d == 1 && dir[0] == '/'))
		p[at++] = '/';
	memcpy(p + at, name, n + 1);
	return p;
}

/* The sorted entry names of `dir`, hidden ones left out. */
static int list_dir(const char *dir, char ***names, size_t *count, struct onex_error *err)
{
	DIR *d = opendir(dir);
	size_t cap = 0;
	*names = NULL;
	*count = 0;
	if (!d)
		return onex_error_set(err, ONEX_ERR_INVALID_OPERATION, dir, 0, 0,
				      "cannot open directory: %s", strerror(errno));
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		if (*count == cap) {
			cap = cap ? cap * 2 : 32;
			char **grown = realloc(*names, cap * sizeof(*grown));
			if (!grown)
				break;
			*names = grown;
		}
		if (!((*names)[*count] = strdup(e->d_name)))
			break;
		(*count)++;
	}
	int failed = e != NULL; /* left the loop early: out of memory */
	closedir(d);
	if (failed)
		return onex_error_set(err, ONEX_ERR_INVALID_OPERATION, dir, 0, 0,
				      "out of memory listing the directory");
	if (*count)
		qsort(*names, *count, sizeof(**names), cmp_names);
	return 0;
}

static void free_names(char **names, size_t count)
{
	for (size_t i = 0; i < count; i++)
		free(names[i]);
	free(names);
}

static int walk(struct onex_suite *suite, const char *dir, unsigned depth,
		struct onex_error *err)
{
	char **names;
	size_t count;
	if (depth > ONEX_SUITE_WALK_DEPTH_MAX)
		return onex_error_set(err, ONEX_ERR_INVALID_OPERATION, dir, 0, 0,
				      "directories nested deeper than %u",
				      ONEX_SUITE_WALK_DEPTH_MAX);
	if (list_dir(dir, &names, &count, err) < 0)
		return -1;
	int rc = 0;
	for (size_t i = 0; i < count && rc == 0; i++) {
		struct stat lst, st;
		char *path = join(dir, names[i]);
		if (!path) {
			rc = onex_error_set(err, ONEX_ERR_INVALID_OPERATION, dir, 0, 0,
					    "out of memory");
		} else if (lstat(path, &lst) < 0 || stat(path, &st) < 0) {
			/* A dangling symbolic link or an entry gone since readdir. */
			free(path);
		} else if (S_ISDIR(st.st_mode)) {
			if (!S_ISLNK(lst.st_mode))
				rc = walk(suite, path, depth + 1, err);
			free(path);
		} else if (S_ISREG(st.st_mode) && is_yaml_name(names[i])) {
			rc = add_file(suite, path, &st, err);
		} else {
			free(path);
		}
	}
	free_names(names, count);
	return rc;
}

int onex_suite_add_path(struct onex_suite *suite, const char *path, struct onex_error *err)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return onex_error_set(err, ONEX_ERR_INVALID_OPERATION, path, 0, 0, "%s",
				      strerror(errno));
	if (S_ISDIR(st.st_mode))
		return walk(suite, path, 0, err);
	if (!S_ISREG(st.st_mode))
		return onex_error_set(err, ONEX_ERR_INVALID_OPERATION, path, 0, 0,
				      "not a regular file or a directory");
	char *copy = strdup(path);
	if (!copy)
		return onex_error_set(err, ONEX_ERR_INVALID_OPERATION, path, 0, 0,
				      "out of memory");
	return add_file(suite, copy, &st, err);
}

/* ---- filtering ----------------------------------------------------------- */

/* The top-level `name:` of a scenario file into buf, or "" when unknown. */
static void peek_name(const char *path, char *buf, size_t size)
{
	char *text = NULL;
	size_t len;
	int errnum;
	struct onex_yaml_doc doc;
	buf[0] = '\0';
	/* The contract bound is the engine's too: a larger file cannot run. */
	if (onex_yaml_read_file(path, ONEX_CONTRACT_BYTES_MAX, &text, &len, &errnum) < 0)
		return;
	if (onex_yaml_doc_parse(&doc, text, len, path, 0, NULL) == 0) {
		const struct onex_yaml_node *name = onex_yaml_map_get(doc.root, "name");
		if (name && name->kind == ONEX_YAML_SCALAR && name->length < size)
			memcpy(buf, name->value, name->length + 1);
		onex_yaml_doc_release(&doc);
	}
	free(text);
}

void onex_suite_filter(struct onex_suite *suite, const char *glob)
{
	size_t kept = 0;
	for (size_t i = 0; i < suite->count; i++) {
		char stem[256], name[sizeof(((struct onex_scenario_result *)0)->name)];
		struct onex_suite_file *f = &suite->files[i];
		int keep = fnmatch(glob, onex_suite_stem(f->path, stem, sizeof(stem)), 0) == 0;
		if (!keep) {
			peek_name(f->path, name, sizeof(name));
			keep = name[0] && fnmatch(glob, name, 0) == 0;
		}
		if (keep)
			suite->files[kept++] = *f;
		else
			free(f->path);
	}
	suite->count = kept;
}

/* ---- the wire between a child and the parent ----------------------------- */

#define WIRE_MAGIC 0x6f6e7853u /* "Sxno" */
#define WIRE_HAS_FAILURE 1u
#define WIRE_HAS_TRACE 2u

struct wire_head {
	uint32_t magic;
	uint32_t flags;
	uint64_t result_bytes; /* sizeof(struct onex_scenario_result) */
	uint64_t failure_len;
	uint64_t trace_len;
};

static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int send_result(int fd, const struct onex_scenario_result *res)
{
	struct onex_scenario_result copy = *res;
	struct wire_head h = { WIRE_MAGIC, 0, sizeof(copy), 0, 0 };
	copy.failure = NULL;
	copy.trace = NULL;
	if (res->failure) {
		h.flags |= WIRE_HAS_FAILURE;
		h.failure_len = strlen(res->failure);
	}
	if (res->trace) {
		h.flags |= WIRE_HAS_TRACE;
		h.trace_len = res->trace_len;
	}
	return write_all(fd, &h, sizeof(h)) || write_all(fd, &copy, sizeof(copy)) ||
			       (res->failure && write_all(fd, res->failure, h.failure_len)) ||
			       (res->trace && write_all(fd, res->trace, h.trace_len))
		       ? -1
		       : 0;
}

static char *copy_bytes(const char *data, size_t len)
{
	char *p = malloc(len + 1);
	if (p) {
		memcpy(p, data, len);
		p[len] = '\0';
	}
	return p;
}

/* Rebuild a result from the child's bytes. 0, or -1 when they are not one. */
static int decode_result(const char *buf, size_t len, struct onex_scenario_result *res)
{
	struct wire_head h;
	if (len < sizeof(h))
		return -1;
	memcpy(&h, buf, sizeof(h));
	if (h.magic != WIRE_MAGIC || h.result_bytes != sizeof(*res) ||
	    h.failure_len > len || h.trace_len > len ||
	    len != sizeof(h) + sizeof(*res) + h.failure_len + h.trace_len)
		return -1;
	memcpy(res, buf + sizeof(h), sizeof(*res));
	res->failure = NULL;
	res->trace = NULL;
	res->trace_len = 0;
	res->name[sizeof(res->name) - 1] = '\0';
	res->path[sizeof(res->path) - 1] = '\0';
	const char *at = buf + sizeof(h) + sizeof(*res);
	if ((h.flags & WIRE_HAS_FAILURE) && !(res->failure = copy_bytes(at, h.failure_len)))
		return -1;
	at += h.failure_len;
	if (h.flags & WIRE_HAS_TRACE) {
		if (!(res->trace = copy_bytes(at, h.trace_len)))
			return -1;
		res->trace_len = h.trace_len;
	}
	return 0;
}

/* ---- running --------------------------------------------------------------- */

/* The file's own `seed:` (docs/SCENARIOS.md: default 1), for a child that died. */
static uint64_t peek_seed(const char *path)
{
	char *text = NULL;
	size_t len;
	int errnum;
	uint64_t seed = 1;
	struct onex_yaml_doc doc;
	if (onex_yaml_read_file(path, ONEX_CONTRACT_BYTES_MAX, &text, &len, &errnum) < 0)
		return seed;
	if (onex_yaml_doc_parse(&doc, text, len, path, 0, NULL) == 0) {
		const struct onex_yaml_node *node = onex_yaml_map_get(doc.root, "seed");
		struct onex_yaml_scalar v;
		if (node && node->kind == ONEX_YAML_SCALAR &&
		    onex_yaml_scalar_resolve(&doc, node, &v, NULL) == 0 &&
		    v.type == ONEX_YAML_INT && v.integer >= 0)
			seed = (uint64_t)v.integer;
		onex_yaml_doc_release(&doc);
	}
	free(text);
	return seed;
}

/* A failed result the engine did not write: the child died, or never ran. */
static void synth_failure(struct onex_scenario_result *res, const char *path,
			  const struct onex_scenario_run_options *opt, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void synth_failure(struct onex_scenario_result *res, const char *path,
			  const struct onex_scenario_run_options *opt, const char *fmt, ...)
{
	char text[1024];
	va_list ap;
	/* Only what decode_result() may have allocated; not the engine's to release. */
	free(res->failure);
	free(res->trace);
	memset(res, 0, sizeof(*res));
	snprintf(res->path, sizeof(res->path), "%s", path);
	res->seed = opt->seed_override ? opt->seed : peek_seed(path);
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	res->failure = strdup(text);
}

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

struct slot {
	pid_t pid; /* 0: free */
	int fd;
	size_t index;
	char *buf;
	size_t len, cap;
	int overflow;
	uint64_t start_us;
};

struct run {
	const struct onex_suite *suite;
	const struct onex_scenario_run_options *opt;
	const struct onex_suite_hooks *hooks;
	struct onex_scenario_result *results;
	uint64_t *wall_us;
	struct slot slots[ONEX_SUITE_JOBS_MAX];
	unsigned jobs, active;
	unsigned char *finished; /* per file */
	size_t done, emitted, passed, failed;
};

static _Noreturn void child_main(struct run *run, size_t index, int fd)
{
	struct onex_scenario_result res;
	/* Other workers' pipes are not this child's business. */
	for (unsigned i = 0; i < run->jobs; i++)
		if (run->slots[i].pid)
			close(run->slots[i].fd);
	signal(SIGPIPE, SIG_DFL);
	memset(&res, 0, sizeof(res));
	onex_scenario_run_file(run->suite->files[index].path, run->opt, &res);
	int rc = send_result(fd, &res);
	onex_scenario_result_release(&res);
	/* _exit: the parent's stdio buffers and atexit handlers are not ours. */
	_exit(rc ? 3 : 0);
}

static int start(struct run *run, struct slot *slot, size_t index, struct onex_error *err)
{
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) < 0)
		return onex_error_set(err, ONEX_ERR_INVALID_OPERATION, NULL, 0, 0,
				      "cannot create a pipe: %s", strerror(errno));
	fflush(NULL); /* or the child would write the parent's buffered output again */
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(fds[0]);
		close(fds[1]);
		return onex_error_set(err, ONEX_ERR_INVALID_OPERATION, NULL, 0, 0,
				      "cannot fork a worker: %s", strerror(e));
	}
	if (pid == 0) {
		close(fds[0]);
		child_main(run, index, fds[1]);
	}
	close(fds[1]);
	*slot = (struct slot){ .pid = pid, .fd = fds[0], .index = index,
			       .start_us = now_us() };
	run->active++;
	return 0;
}

static void emit_ready(struct run *run, size_t index)
{
	struct onex_scenario_result *res = &run->results[index];
	char stem[256];
	run->finished[index] = 1;
	run->done++;
	if (res->passed)
		run->passed++;
	else
		run->failed++;
	if (run->hooks && run->hooks->progress) {
		struct onex_suite_progress p = {
			run->done, run->suite->count, run->passed, run->failed,
			res->name[0] ? res->name : onex_suite_stem(res->path, stem, sizeof(stem)),
		};
		run->hooks->progress(run->hooks->ctx, &p);
	}
	while (run->emitted < run->suite->count && run->finished[run->emitted]) {
		if (run->hooks && run->hooks->result)
			run->hooks->result(run->hooks->ctx, run->emitted,
					   &run->results[run->emitted], run->wall_us[run->emitted]);
		run->emitted++;
	}
}

/* The child closed its pipe: reap it and turn its bytes into a result. */
static void finish(struct run *run, struct slot *slot)
{
	int status = 0;
	const char *path = run->suite->files[slot->index].path;
	struct onex_scenario_result *res = &run->results[slot->index];
	close(slot->fd);
	while (waitpid(slot->pid, &status, 0) < 0 && errno == EINTR)
		;
	run->wall_us[slot->index] = now_us() - slot->start_us;
	if (WIFSIGNALED(status))
		synth_failure(res, path, run->opt,
			      "the scenario process was killed by signal %d (%s)",
			      WTERMSIG(status), strsignal(WTERMSIG(status)));
	else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		synth_failure(res, path, run->opt,
			      "the scenario process exited with status %d",
			      WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	else if (slot->overflow)
		synth_failure(res, path, run->opt,
			      "the scenario's result is larger than %u bytes",
			      ONEX_SUITE_RESULT_BYTES_MAX);
	else if (decode_result(slot->buf, slot->len, res) < 0)
		synth_failure(res, path, run->opt,
			      "the scenario process sent an unreadable result (%zu bytes)",
			      slot->len);
	size_t index = slot->index;
	free(slot->buf);
	*slot = (struct slot){ 0 };
	run->active--;
	emit_ready(run, index);
}

/* Read what is there; 1 when the child closed its end (or the read failed). */
static int drain(struct slot *slot)
{
	if (slot->cap - slot->len < 65536 && !slot->overflow) {
		size_t cap = slot->cap ? slot->cap * 2 : 65536 * 2;
		char *buf = cap <= (size_t)ONEX_SUITE_RESULT_BYTES_MAX + 65536
				    ? realloc(slot->buf, cap)
				    : NULL;
		if (buf) {
			slot->buf = buf;
			slot->cap = cap;
		} else {
			slot->overflow = 1;
		}
	}
	char scratch[4096];
	char *to = slot->overflow ? scratch : slot->buf + slot->len;
	size_t room = slot->overflow ? sizeof(scratch) : slot->cap - slot->len;
	ssize_t n = read(slot->fd, to, room);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n <= 0)
		return 1;
	if (!slot->overflow)
		slot->len += (size_t)n;
	return 0;
}

/* Wait for any worker's pipe and handle what arrived. */
static void wait_some(struct run *run)
{
	struct pollfd pfd[ONEX_SUITE_JOBS_MAX];
	unsigned map[ONEX_SUITE_JOBS_MAX], n = 0;
	for (unsigned i = 0; i < run->jobs; i++)
		if (run->slots[i].pid) {
			pfd[n] = (struct pollfd){ run->slots[i].fd, POLLIN, 0 };
			map[n++] = i;
		}
	if (poll(pfd, n, -1) < 0)
		return; /* EINTR: the caller loops */
	for (unsigned k = 0; k < n; k++)
		if (pfd[k].revents && drain(&run->slots[map[k]]))
			finish(run, &run->slots[map[k]]);
}

static struct slot *free_slot(struct run *run)
{
	for (unsigned i = 0; i < run->jobs; i++)
		if (!run->slots[i].pid)
			return &run->slots[i];
	return NULL;
}

int onex_suite_run(const struct onex_suite *suite,
		   const struct onex_scenario_run_options *opt, unsigned jobs,
		   const struct onex_suite_hooks *hooks,
		   struct onex_scenario_result *results, uint64_t *wall_us,
		   struct onex_error *err)
{
	struct run run = { .suite = suite, .opt = opt, .hooks = hooks,
			   .results = results, .wall_us = wall_us, .jobs = jobs };
	if (jobs < 1 || jobs > ONEX_SUITE_JOBS_MAX)
		ONEX_BUG("onex_suite_run: jobs %u outside 1..%u", jobs, ONEX_SUITE_JOBS_MAX);
	memset(results, 0, suite->count * sizeof(*results));
	memset(wall_us, 0, suite->count * sizeof(*wall_us));
	run.finished = calloc(suite->count ? suite->count : 1, 1);
	if (!run.finished)
		return onex_error_set(err, ONEX_ERR_INVALID_OPERATION, NULL, 0, 0,
				      "out of memory");
	int broken = 0;
	size_t next = 0;
	while (run.done < suite->count) {
		struct slot *slot;
		while (!broken && next < suite->count && (slot = free_slot(&run))) {
			if (start(&run, slot, next, err) < 0)
				broken = 1;
			else
				next++;
		}
		if (broken && run.active == 0) {
			/* Nothing left to wait for: what never started fails as such. */
			for (; next < suite->count; next++) {
				synth_failure(&results[next], suite->files[next].path, opt,
					      "not run: %s", err ? err->text : "no worker");
				emit_ready(&run, next);
			}
			break;
		}
		wait_some(&run);
	}
	free(run.finished);
	return broken ? -1 : (int)run.failed;
}
