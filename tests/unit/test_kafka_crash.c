/*
 * test_kafka_crash.c - at-least-once across a crash, end to end: 10 000
 * requests on a mock Kafka cluster, `onex-host` killed with SIGKILL in the
 * middle, started again with the same consumer group; every request must
 * then have a response on the output topic (duplicates allowed, counted,
 * and printed; none missing).
 *
 * The contract lists no handlers, so every request is answered with a
 * HANDLER_NOT_FOUND error envelope: the test is about the bus and the
 * host, not about a handler, and the production binary needs none.
 * Needs build/bin/onex-host (or $ONEX_BIN/onex-host) with the Kafka bus
 * wired in, and kcat. The output topic has 4 partitions because the mock
 * cluster keeps at most 5 MiB per partition (older messages are dropped),
 * and 10 000 error replies are about 5.5 MB.
 * ONEX_TEST_KEEP=1 keeps the contract and both hosts' logs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kafka_mock.h"
#include "spawn.h"

#define KCAT "/usr/bin/kcat"
#define REQUESTS 10000u
#define IN "onex.test.crash.cmd.v1"
#define OUT "onex.test.crash.evt.v1"

static struct kafka_mock mock;
static char dir[64];

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* ---- onex-host as a child process ---------------------------------------------- */

struct host_proc {
	pid_t pid;
	char log[128];
	long read_to;	   /* bytes of the log already counted (whole lines) */
	unsigned answered; /* replies counted so far */
};

static void host_spawn(struct host_proc *p, const char *log_name)
{
	char bin[512], contract[128];
	spawn_bin("onex-host", bin, sizeof(bin));
	snprintf(contract, sizeof(contract), "%s/runtime.yaml", dir);
	snprintf(p->log, sizeof(p->log), "%s/%s", dir, log_name);
	p->read_to = 0;
	p->answered = 0;
	if (access(bin, X_OK) != 0)
		fail_msg("%s is not built", bin);
	const char *argv[] = { bin, contract, "--inflight", "100", NULL };
	const char *env[] = { "SHUTDOWN_GRACE_SECONDS=5", NULL };
	p->pid = spawn_background(argv, env, p->log);
	assert_true(p->pid > 0);
}

/* Exit status as spawn.h reports it: the code, or -signal. */
static int host_wait(struct host_proc *p, int timeout_ms)
{
	int status;
	for (int waited = 0; waited <= timeout_ms; waited += 20) {
		if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
			p->pid = -1;
			return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
		}
		sleep_ms(20);
	}
	kill(p->pid, SIGKILL);
	waitpid(p->pid, &status, 0);
	p->pid = -1;
	return -1000;
}

static int host_running(struct host_proc *p)
{
	int status;
	if (p->pid > 0 && waitpid(p->pid, &status, WNOHANG) == p->pid) {
		p->pid = -1;
		return 0;
	}
	return p->pid > 0;
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *text;
	long n;
	if (!f)
		return calloc(1, 1);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	text = malloc((size_t)n + 1);
	n = (long)fread(text, 1, (size_t)n, f);
	text[n] = '\0';
	fclose(f);
	if (len)
		*len = (size_t)n;
	return text;
}

/*
 * Requests the host has answered so far: its log has one warning per reply,
 * "<position>: HANDLER_NOT_FOUND: ...". Reads only what was appended since
 * the last call, whole lines only.
 */
static unsigned handled(struct host_proc *p)
{
	static char buf[1 << 20];
	FILE *f = fopen(p->log, "rb");
	size_t n;
	if (!f)
		return p->answered;
	fseek(f, p->read_to, SEEK_SET);
	while ((n = fread(buf, 1, sizeof(buf) - 1, f)) > 0) {
		char *end = memrchr(buf, '\n', n), *at = buf;
		if (!end)
			break;
		*end = '\0';
		while ((at = strstr(at, ": HANDLER_NOT_FOUND: "))) {
			p->answered++;
			at += 20;
		}
		p->read_to += end + 1 - buf;
		fseek(f, p->read_to, SEEK_SET);
	}
	fclose(f);
	return p->answered;
}

static void fail_with_log(const struct host_proc *p, const char *what)
{
	char *text = read_file(p->log, NULL);
	size_t n = strlen(text);
	fail_msg("%s; onex-host's log ends with:\n%s", what, text + (n > 3000 ? n - 3000 : 0));
	free(text);
}

/* ---- the topics through kcat --------------------------------------------------- */

static void produce_requests(void)
{
	size_t cap = (size_t)REQUESTS * 160, used = 0;
	char *text = malloc(cap);
	struct spawn_result res;
	const char *argv[] = { KCAT, "-b", mock.bootstrap, "-P", "-t", IN, NULL };
	for (unsigned i = 0; i < REQUESTS; i++)
		used += (size_t)snprintf(text + used, cap - used,
					 "{\"operation\":\"http.get\",\"correlation_id\":"
					 "\"00000000-0000-4000-8000-%012u\",\"payload\":{\"url\":"
					 "\"http://example.invalid/%u\"}}\n",
					 i, i);
	struct spawn_opts opt = { .input = text, .input_len = used, .timeout_ms = 30000 };
	assert_int_equal(spawn_run(argv, &opt, &res), 0);
	if (res.exit_code != 0)
		fail_msg("kcat -P: %s", res.err);
	spawn_result_release(&res);
	free(text);
}

/*
 * Read the output topic; count[i] = replies for request i.
 * Returns the number of messages read.
 */
static size_t read_replies(unsigned *count)
{
	struct spawn_result res;
	const char *argv[] = { KCAT, "-b", mock.bootstrap, "-C", "-t", OUT, "-o", "beginning",
			       "-e", "-q", "-f", "%k\\n", "-X", "fetch.wait.max.ms=5", NULL };
	struct spawn_opts opt = { .timeout_ms = 30000 };
	size_t messages = 0;
	char *line, *save = NULL;
	memset(count, 0, REQUESTS * sizeof(*count));
	assert_int_equal(spawn_run(argv, &opt, &res), 0);
	if (res.exit_code != 0)
		fail_msg("kcat -C: %s", res.err);
	for (line = strtok_r(res.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		unsigned k;
		messages++;
		if (sscanf(line, "00000000-0000-4000-8000-%u", &k) == 1 && k < REQUESTS)
			count[k]++;
	}
	spawn_result_release(&res);
	return messages;
}

static unsigned missing_of(const unsigned *count)
{
	unsigned missing = 0;
	for (unsigned i = 0; i < REQUESTS; i++)
		missing += count[i] == 0;
	return missing;
}

/* ---- the test --------------------------------------------------------------------- */

static void test_kill_and_restart_loses_nothing(void **state)
{
	struct host_proc run1, run2;
	unsigned *count = calloc(REQUESTS, sizeof(*count));
	unsigned answered1, answered2, missing = REQUESTS, dups = 0;
	size_t messages = 0;
	(void)state;
	produce_requests();

	/* Run 1: SIGKILL once a third of the requests are answered. */
	host_spawn(&run1, "run1.log");
	double t0 = now_s();
	while ((answered1 = handled(&run1)) < REQUESTS / 3) {
		if (!host_running(&run1))
			fail_with_log(&run1, "onex-host exited before the crash point "
					     "(is the Kafka bus wired into it?)");
		if (now_s() - t0 > 30)
			fail_with_log(&run1, "onex-host answered too few requests in 30 s");
		sleep_ms(2);
	}
	kill(run1.pid, SIGKILL);
	assert_int_equal(host_wait(&run1, 5000), -SIGKILL);
	answered1 = handled(&run1);
	messages = read_replies(count);
	print_message("run 1 killed with SIGKILL after %.2f s: %u requests answered, %zu "
		      "replies on the output topic\n",
		      now_s() - t0, answered1, messages);
	if (answered1 >= REQUESTS)
		fail_msg("run 1 finished everything before the kill; the test proves nothing");

	/* Run 2: the same group takes over from the committed offsets. */
	host_spawn(&run2, "run2.log");
	t0 = now_s();
	while (now_s() - t0 < 40) {
		if (!host_running(&run2))
			fail_with_log(&run2, "onex-host (run 2) exited");
		if (handled(&run2) + answered1 >= REQUESTS) {
			messages = read_replies(count);
			if ((missing = missing_of(count)) == 0)
				break;
		}
		sleep_ms(250);
	}
	kill(run2.pid, SIGTERM);
	int rc = host_wait(&run2, 15000);
	answered2 = handled(&run2);
	if (rc != 0)
		fail_with_log(&run2, "onex-host (run 2) did not drain and exit 0 on SIGTERM");

	messages = read_replies(count);
	missing = missing_of(count);
	for (unsigned i = 0; i < REQUESTS; i++)
		dups += count[i] > 1 ? count[i] - 1 : 0;
	print_message("run 2: %u requests answered in %.2f s; output topic: %zu replies, "
		      "%u missing, %u duplicates (%.1f%%)\n",
		      answered2, now_s() - t0, messages, missing, dups, 100.0 * dups / REQUESTS);
	if (missing) {
		for (unsigned i = 0, shown = 0; i < REQUESTS && shown < 10; i++)
			if (!count[i]) {
				print_message("no reply for request %u\n", i);
				shown++;
			}
		fail_msg("%u requests have no reply", missing);
	}
	assert_int_equal(messages, (size_t)REQUESTS + dups);
	/* Run 2 started from the committed offsets, not from the beginning. */
	assert_true(answered2 < REQUESTS);
	free(count);
}

/* ---- setup ---------------------------------------------------------------------------- */

static int write_contract(void)
{
	char path[128];
	FILE *f;
	snprintf(path, sizeof(path), "%s/runtime.yaml", dir);
	if (!(f = fopen(path, "w")))
		return -1;
	fprintf(f,
		"schema_version: \"1.0.0\"\n"
		"runtime:\n"
		"  name: \"kafka_crash\"\n"
		"  version: \"1.0.0\"\n"
		"  event_bus:\n"
		"    kind: \"kafka\"\n"
		"    config:\n"
		"      bootstrap_servers: \"%s\"\n"
		"      consumer_group: \"g-crash\"\n"
		"      topics: { input: \"%s\", output: \"%s\" }\n"
		"      fetch_wait_max_ms: 5\n"
		"      session_timeout_ms: 3000\n"
		"  handlers: []\n",
		mock.bootstrap, IN, OUT);
	return fclose(f);
}

static int group_setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/onex-kafka-crash-XXXXXX");
	if (access(KCAT, X_OK) != 0 || !mkdtemp(dir)) {
		fprintf(stderr, "test_kafka_crash needs kcat at %s and a temporary directory\n",
			KCAT);
		return -1;
	}
	if (kafka_mock_start(&mock, 1) < 0) {
		fprintf(stderr, "mock cluster: %s\n", mock.last_error);
		return -1;
	}
	if (kafka_mock_create_topic(&mock, IN, 3) < 0 || kafka_mock_create_topic(&mock, OUT, 4) < 0 ||
	    kafka_mock_create_topic(&mock, IN ".dlq", 1) < 0 || write_contract() < 0) {
		fprintf(stderr, "setup: %s\n", mock.last_error);
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	char cmd[128];
	(void)state;
	kafka_mock_stop(&mock);
	if (getenv("ONEX_TEST_KEEP")) { /* keep the contract and both logs */
		fprintf(stderr, "kept %s\n", dir);
		return 0;
	}
	snprintf(cmd, sizeof(cmd), "%s/runtime.yaml", dir);
	unlink(cmd);
	snprintf(cmd, sizeof(cmd), "%s/run1.log", dir);
	unlink(cmd);
	snprintf(cmd, sizeof(cmd), "%s/run2.log", dir);
	unlink(cmd);
	rmdir(dir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kill_and_restart_loses_nothing),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
