/*
 * kafka_mock.h - librdkafka's mock Kafka cluster in a child process, for
 * tests of the Kafka bus and of onex-host against "a broker".
 *
 * The child creates a throwaway producer handle, builds the mock cluster
 * on it (rd_kafka_mock_cluster_new), prints its bootstrap servers
 * ("127.0.0.1:port,...") to the parent over a pipe, then executes one
 * command per line from the parent (create a topic, take a broker down or
 * up, make requests fail, move a partition leader). Being a separate
 * process, the cluster survives the clients the tests kill and start, and
 * `kcat` or onex-host in other processes can reach it.
 *
 * Start the mock before the calling process creates any librdkafka handle
 * of its own: the child is forked without exec, and a fork is only safe
 * while the parent has no library threads holding locks.
 *
 * The child dies with its parent (PR_SET_PDEATHSIG), so a crashed test
 * leaves no cluster behind.
 */
#ifndef ONEX_TEST_KAFKA_MOCK_H
#define ONEX_TEST_KAFKA_MOCK_H

#include <stdint.h>
#include <sys/types.h>

/* Kafka protocol API keys, for kafka_mock_push_errors(). */
enum {
	KAFKA_MOCK_API_PRODUCE = 0,
	KAFKA_MOCK_API_FETCH = 1,
	KAFKA_MOCK_API_OFFSET_COMMIT = 8,
	KAFKA_MOCK_API_JOIN_GROUP = 11,
	KAFKA_MOCK_API_HEARTBEAT = 12,
};

struct kafka_mock {
	pid_t pid;
	int cmd_fd;   /* commands to the child, one line each */
	int reply_fd; /* "ok" or "error <text>", one line per command */
	int broker_count;
	char bootstrap[512];
	char last_error[256];
};

/*
 * Fork the child and start a cluster of `broker_count` brokers (1..8).
 * Returns 0 with m->bootstrap filled, or -1 (m->last_error says why).
 */
int kafka_mock_start(struct kafka_mock *m, int broker_count);

/* Stop the child: close its command pipe, wait up to 2 s, then SIGKILL. */
void kafka_mock_stop(struct kafka_mock *m);

/* Create `topic` with `partitions` partitions (replication factor 1). */
int kafka_mock_create_topic(struct kafka_mock *m, const char *topic, int partitions);

/* Take broker `id` (1-based; 0 = every broker) down or up. */
int kafka_mock_broker_down(struct kafka_mock *m, int id);
int kafka_mock_broker_up(struct kafka_mock *m, int id);

/*
 * The next `count` requests of `api_key` (any broker) fail with Kafka
 * error code `error` (e.g. 29 TOPIC_AUTHORIZATION_FAILED).
 */
int kafka_mock_push_errors(struct kafka_mock *m, int api_key, int count, int error);

/* Drop the errors pushed for `api_key` that have not been used up. */
int kafka_mock_clear_errors(struct kafka_mock *m, int api_key);

/* Make broker `id` the leader of topic/partition. */
int kafka_mock_set_leader(struct kafka_mock *m, const char *topic, int partition, int id);

/* Add `rtt_ms` of latency to every response of broker `id` (0 = all). */
int kafka_mock_set_rtt(struct kafka_mock *m, int id, int rtt_ms);

/* Send one command line of the protocol in kafka_mock.c ("down 1"). */
int kafka_mock_command(struct kafka_mock *m, const char *line);

/*
 * Serve a cluster for a person: argv is [--brokers N] TOPIC[:PARTITIONS]...
 * Prints the bootstrap servers on stdout, then executes command lines from
 * stdin; runs until a signal ends the process. Returns only on failure.
 */
int kafka_mock_serve(int argc, char **argv);

#endif
