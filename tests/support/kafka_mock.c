/*
 * kafka_mock.c - the mock cluster child process and its command pipe.
 *
 * Protocol, one line each way:
 *   topic <name> <partitions>        -> ok | error <text>
 *   down <id> / up <id>              (0 = every broker)
 *   errors <api_key> <count> <code>
 *   clear <api_key>                  (drop the errors still pushed for it)
 *   leader <topic> <partition> <id>
 *   rtt <id> <ms>
 * End of input makes the child destroy the cluster and exit.
 *
 * kafka_mock_serve() runs a cluster for people: onex-host and kcat in a
 * shell against it (docs/BACKENDS.md).
 */
#include "kafka_mock.h"

#include <errno.h>
#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LINE_BYTES 512

/* ---- the child -------------------------------------------------------------- */

static void child_reply(int fd, rd_kafka_resp_err_t err)
{
	char line[LINE_BYTES];
	int n = err ? snprintf(line, sizeof(line), "error %s\n", rd_kafka_err2str(err))
		    : snprintf(line, sizeof(line), "ok\n");
	if (write(fd, line, (size_t)n) < 0)
		_exit(3);
}

static rd_kafka_resp_err_t child_each_broker(rd_kafka_mock_cluster_t *mc, int count,
					     int id, int up, int rtt_ms)
{
	rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
	for (int b = 1; b <= count; b++) {
		if (id != 0 && b != id)
			continue;
		if (rtt_ms >= 0)
			err = rd_kafka_mock_broker_set_rtt(mc, b, rtt_ms);
		else if (up)
			err = rd_kafka_mock_broker_set_up(mc, b);
		else
			err = rd_kafka_mock_broker_set_down(mc, b);
		if (err)
			break;
	}
	return err;
}

static rd_kafka_resp_err_t child_command(rd_kafka_mock_cluster_t *mc, int brokers,
					 char *line)
{
	char name[LINE_BYTES];
	int a = 0, b = 0, c = 0;
	if (sscanf(line, "topic %511s %d", name, &a) == 2)
		return rd_kafka_mock_topic_create(mc, name, a, 1);
	if (sscanf(line, "down %d", &a) == 1)
		return child_each_broker(mc, brokers, a, 0, -1);
	if (sscanf(line, "up %d", &a) == 1)
		return child_each_broker(mc, brokers, a, 1, -1);
	if (sscanf(line, "rtt %d %d", &a, &b) == 2)
		return child_each_broker(mc, brokers, a, 0, b);
	if (sscanf(line, "errors %d %d %d", &a, &b, &c) == 3) {
		rd_kafka_resp_err_t *errs = calloc((size_t)b, sizeof(*errs));
		for (int i = 0; i < b; i++)
			errs[i] = (rd_kafka_resp_err_t)c;
		rd_kafka_mock_push_request_errors_array(mc, (int16_t)a, (size_t)b, errs);
		free(errs);
		return RD_KAFKA_RESP_ERR_NO_ERROR;
	}
	if (sscanf(line, "clear %d", &a) == 1) {
		rd_kafka_mock_clear_request_errors(mc, (int16_t)a);
		return RD_KAFKA_RESP_ERR_NO_ERROR;
	}
	if (sscanf(line, "leader %511s %d %d", name, &a, &b) == 3)
		return rd_kafka_mock_partition_set_leader(mc, name, a, b);
	return RD_KAFKA_RESP_ERR__INVALID_ARG;
}

static _Noreturn void child_main(int cmd_fd, int reply_fd, int brokers)
{
	char errstr[256], buf[LINE_BYTES];
	size_t len = 0;
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_conf_set(conf, "log_level", "0", errstr, sizeof(errstr));
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	rd_kafka_mock_cluster_t *mc = rk ? rd_kafka_mock_cluster_new(rk, brokers) : NULL;
	if (!mc) {
		dprintf(reply_fd, "error could not create the mock cluster: %s\n",
			rk ? "rd_kafka_mock_cluster_new failed" : errstr);
		_exit(2);
	}
	dprintf(reply_fd, "%s\n", rd_kafka_mock_cluster_bootstraps(mc));
	for (;;) {
		ssize_t n = read(cmd_fd, buf + len, sizeof(buf) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		char *nl;
		while ((nl = memchr(buf, '\n', len))) {
			*nl = '\0';
			child_reply(reply_fd, child_command(mc, brokers, buf));
			len -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, len);
		}
		if (len == sizeof(buf) - 1)
			len = 0; /* overlong line: drop it */
	}
	rd_kafka_mock_cluster_destroy(mc);
	rd_kafka_destroy(rk);
	_exit(0);
}

/* ---- the parent ------------------------------------------------------------- */

/* Read one line within timeout_ms into buf (without the newline). */
static int read_line(int fd, char *buf, size_t size, int timeout_ms)
{
	size_t len = 0;
	struct timespec start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	while (len + 1 < size) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		long spent = (now.tv_sec - start.tv_sec) * 1000L +
			     (now.tv_nsec - start.tv_nsec) / 1000000L;
		struct pollfd p = { fd, POLLIN, 0 };
		if (spent >= timeout_ms || poll(&p, 1, (int)(timeout_ms - spent)) <= 0)
			return -1;
		ssize_t n = read(fd, buf + len, 1);
		if (n <= 0)
			return -1;
		if (buf[len] == '\n') {
			buf[len] = '\0';
			return 0;
		}
		len++;
	}
	return -1;
}

int kafka_mock_start(struct kafka_mock *m, int broker_count)
{
	int cmd[2], reply[2];
	memset(m, 0, sizeof(*m));
	m->pid = -1;
	m->cmd_fd = m->reply_fd = -1;
	if (broker_count < 1 || broker_count > 8) {
		snprintf(m->last_error, sizeof(m->last_error), "broker count %d", broker_count);
		return -1;
	}
	if (pipe2(cmd, O_CLOEXEC) < 0 || pipe2(reply, O_CLOEXEC) < 0) {
		snprintf(m->last_error, sizeof(m->last_error), "pipe: %s", strerror(errno));
		return -1;
	}
	fflush(NULL);
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		snprintf(m->last_error, sizeof(m->last_error), "fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		signal(SIGPIPE, SIG_IGN);
		close(cmd[1]);
		close(reply[0]);
		child_main(cmd[0], reply[1], broker_count);
	}
	close(cmd[0]);
	close(reply[1]);
	m->pid = pid;
	m->cmd_fd = cmd[1];
	m->reply_fd = reply[0];
	m->broker_count = broker_count;
	if (read_line(m->reply_fd, m->bootstrap, sizeof(m->bootstrap), 10000) < 0 ||
	    strncmp(m->bootstrap, "error", 5) == 0) {
		snprintf(m->last_error, sizeof(m->last_error), "mock cluster did not start: %.200s",
			 m->bootstrap);
		kafka_mock_stop(m);
		return -1;
	}
	return 0;
}

void kafka_mock_stop(struct kafka_mock *m)
{
	if (m->cmd_fd >= 0)
		close(m->cmd_fd);
	m->cmd_fd = -1;
	if (m->pid > 0) {
		int status;
		for (int i = 0; i < 200; i++) {
			if (waitpid(m->pid, &status, WNOHANG) == m->pid) {
				m->pid = -1;
				break;
			}
			struct timespec ts = { 0, 10 * 1000000L };
			nanosleep(&ts, NULL);
		}
		if (m->pid > 0) {
			kill(m->pid, SIGKILL);
			waitpid(m->pid, &status, 0);
		}
	}
	m->pid = -1;
	if (m->reply_fd >= 0)
		close(m->reply_fd);
	m->reply_fd = -1;
}

static int command(struct kafka_mock *m, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

int kafka_mock_command(struct kafka_mock *m, const char *line)
{
	return command(m, "%s", line);
}

static int command(struct kafka_mock *m, const char *fmt, ...)
{
	char line[LINE_BYTES], reply[LINE_BYTES];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) - 1 || m->cmd_fd < 0)
		return -1;
	line[n++] = '\n';
	if (write(m->cmd_fd, line, (size_t)n) != n ||
	    read_line(m->reply_fd, reply, sizeof(reply), 10000) < 0) {
		snprintf(m->last_error, sizeof(m->last_error), "mock cluster not answering");
		return -1;
	}
	if (strcmp(reply, "ok") != 0) {
		snprintf(m->last_error, sizeof(m->last_error), "%.250s", reply);
		return -1;
	}
	return 0;
}

int kafka_mock_create_topic(struct kafka_mock *m, const char *topic, int partitions)
{
	return command(m, "topic %s %d", topic, partitions);
}

int kafka_mock_broker_down(struct kafka_mock *m, int id)
{
	return command(m, "down %d", id);
}

int kafka_mock_broker_up(struct kafka_mock *m, int id)
{
	return command(m, "up %d", id);
}

int kafka_mock_push_errors(struct kafka_mock *m, int api_key, int count, int error)
{
	return command(m, "errors %d %d %d", api_key, count, error);
}

int kafka_mock_clear_errors(struct kafka_mock *m, int api_key)
{
	return command(m, "clear %d", api_key);
}

int kafka_mock_set_leader(struct kafka_mock *m, const char *topic, int partition, int id)
{
	return command(m, "leader %s %d %d", topic, partition, id);
}

int kafka_mock_set_rtt(struct kafka_mock *m, int id, int rtt_ms)
{
	return command(m, "rtt %d %d", id, rtt_ms);
}

/* "name" or "name:partitions". */
static int serve_topic(struct kafka_mock *m, const char *arg)
{
	char name[256];
	int partitions = 1;
	const char *colon = strrchr(arg, ':');
	size_t n = colon ? (size_t)(colon - arg) : strlen(arg);
	if (n == 0 || n >= sizeof(name) || (colon && (partitions = atoi(colon + 1)) < 1))
		return -1;
	memcpy(name, arg, n);
	name[n] = '\0';
	return kafka_mock_create_topic(m, name, partitions);
}

int kafka_mock_serve(int argc, char **argv)
{
	struct kafka_mock m;
	char line[LINE_BYTES];
	int brokers = 1, i = 0;
	if (argc >= 2 && strcmp(argv[0], "--brokers") == 0) {
		brokers = atoi(argv[1]);
		i = 2;
	}
	if (kafka_mock_start(&m, brokers) < 0) {
		fprintf(stderr, "mock cluster: %s\n", m.last_error);
		return 1;
	}
	for (; i < argc; i++)
		if (serve_topic(&m, argv[i]) < 0) {
			fprintf(stderr, "topic '%s': %s\n", argv[i], m.last_error);
			kafka_mock_stop(&m);
			return 1;
		}
	printf("%s\n", m.bootstrap);
	fflush(stdout);
	fprintf(stderr,
		"mock Kafka cluster (%d broker%s) at %s\n"
		"commands, one per line: topic NAME PARTITIONS | down ID | up ID "
		"(ID 0: every broker) | rtt ID MS | errors API_KEY COUNT CODE | clear API_KEY | "
		"leader TOPIC PARTITION ID\n"
		"Ctrl-C (or SIGTERM) stops it\n",
		brokers, brokers == 1 ? "" : "s", m.bootstrap);
	while (fgets(line, sizeof(line), stdin)) {
		line[strcspn(line, "\r\n")] = '\0';
		if (!line[0])
			continue;
		if (kafka_mock_command(&m, line) < 0)
			fprintf(stderr, "%s: %s\n", line, m.last_error);
		else
			fprintf(stderr, "%s: ok\n", line);
	}
	for (;;)
		pause(); /* stdin ended: serve until a signal; the child dies with us */
}
