/*
 * kafka_bus.c - the Kafka bus: one consumer handle (the input topic, in a
 * consumer group) and one idempotent producer handle (replies and the
 * dead-letter topic), both driven from the loop.
 *
 * Wake-ups. The handles' queues write a byte into one pipe when something
 * arrives on an empty queue (rd_kafka_queue_io_event_enable); the pipe's
 * read end is watched by the loop. The consumer's main queue is forwarded
 * into its consumer queue (rd_kafka_poll_set_consumer), so rebalances,
 * commits, errors, statistics and log lines (log.queue) all arrive through
 * rd_kafka_consumer_poll(rk, 0) on the loop thread, and the producer's
 * delivery reports through rd_kafka_poll(rk, 0). Messages do not go there:
 * each assigned partition has its own queue (below), writing into the same
 * pipe. A 100 ms timer polls everything anyway (housekeeping, and the
 * circuit's half-open time).
 *
 * Messages. Every message taken from librdkafka gets a slot in its
 * partition's ring (offsets in order) and waits in `held` (FIFO) until it
 * can be delivered. The host's ack marks the slot done; the done prefix
 * of a ring is popped and its last offset + 1 becomes the partition's
 * offset to commit, so a commit never passes a message that is still
 * being handled, whatever order the acks come in. Commits are sent in
 * batches, asynchronously, at most every ONEX_KAFKA_COMMIT_INTERVAL_MS.
 *
 * Flow. "In flight" is every message taken and not finished (held,
 * delivered and not acked, or on its way to the dead-letter topic). On
 * assignment, the rebalance callback takes each partition's fetch queue
 * out of the consumer queue (rd_kafka_queue_get_partition +
 * rd_kafka_queue_forward(q, NULL)); the bus takes messages from these
 * queues in turn (rd_kafka_consume_queue) while fewer than
 * pause_consumption_threshold are in flight, and stops taking at it. The
 * partitions are not paused: librdkafka keeps fetching ahead, per
 * partition up to queued.min.messages / queued.max.messages.kbytes
 * (core/limits.h), and nothing it prefetched is thrown away; events keep
 * being served whatever is in flight. The first ack below the threshold
 * takes again (no hysteresis: stopping costs nothing). The host's pause()
 * only stops deliveries; messages keep being taken into `held` up to the
 * threshold, so a paused host is bounded the same way. (Until this design
 * the partitions were paused at the threshold and resumed at half of it:
 * librdkafka dropped its prefetch at each pause and fetched again after
 * the resume, ~2 ms stalls that held the host to 0.4x a bare loop.)
 *
 * Dead letters. A message no reply can be addressed to (too big, empty,
 * not a JSON object the envelope parser accepts) is copied to the
 * dead-letter topic instead of being delivered. A plain envelope is
 * vouched for by kafka_json_check.c without being parsed (the host parses
 * it once); only what that quick test doubts gets the full parse here,
 * which decides and gives the reason.
 *
 * Release. A message the host gives back (onex_kafka_bus_release: its
 * reply could not be published) pauses its partition (the one pause left);
 * after a backoff the partition is resumed and fetched again from that
 * message (a seek).
 *
 * Tokens: (partition + 1) << 48 | offset.
 */
#include "kafka_bus.h"
#include "kafka_json_check.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "contract.h"
#include "envelope.h"
#include "log.h"
#include "loop.h"

#define UNIT "kafka"
#define OFFSET_BITS 48
#define OFFSET_MASK ((UINT64_C(1) << OFFSET_BITS) - 1)
#define MS UINT64_C(1000000)
#define POSITION_BYTES (ONEX_TOPIC_BYTES_MAX + 48)
#define ERROR_REPEAT_NS (10000 * MS) /* the same client error is logged once per 10 s */

/* One message taken from librdkafka, by offset, until it is finished. */
struct slot {
	int64_t offset;
	uint64_t taken_ns;
	int done;
};

struct part {
	int32_t id;
	int assigned;
	struct slot *ring;
	size_t head, count, cap;
	int64_t commit_next; /* offset to commit (last finished + 1); -1 none */
	int64_t commit_sent; /* highest offset handed to rd_kafka_commit() */
	int64_t committed;   /* highest offset the broker confirmed */
	int64_t next_offset; /* last taken + 1; -1 before the first */
	int64_t rewind_to;   /* released: fetch again from here; -1 none */
	unsigned releases;   /* in a row, for the backoff; reset by an ack */
	rd_kafka_queue_t *queue; /* its own message queue while assigned (see Flow) */
};

enum pub_kind { PUB_REPLY, PUB_DLQ };

/* A publish in librdkafka's hands (its msg_opaque), or a dead-letter copy. */
struct pub {
	struct kafka_bus *bus;
	struct pub *prev, *next;
	enum pub_kind kind;
	onex_bus_published_cb done;
	void *done_arg;
	int trial; /* the half-open circuit's one publish */
	/* PUB_DLQ: the source message, kept until its copy is acknowledged. */
	rd_kafka_message_t *src;
	uint64_t token;
	unsigned attempts;
	uint64_t retry_timer;
	int retry_armed;
	char reason[ONEX_ERROR_TEXT_BYTES];
};

enum circuit { CIRCUIT_CLOSED, CIRCUIT_OPEN, CIRCUIT_HALF_OPEN };
static const char *const circuit_names[] = { "closed", "open", "half_open" };

enum { CONSUMER, PRODUCER };

struct kafka_bus {
	struct onex_bus base; /* first: the bus port */
	struct onex_bus_env env;

	/* Configuration. */
	char bootstrap[1024];
	char group[256];
	char client_id[256];
	char input[ONEX_TOPIC_BYTES_MAX + 1];
	char output[ONEX_TOPIC_BYTES_MAX + 1];
	char dlq[ONEX_TOPIC_BYTES_MAX + 1];
	unsigned inflight_max, pause_at;
	unsigned circuit_threshold, circuit_open_ms;
	long fetch_wait_ms, session_timeout_ms; /* -1: librdkafka's default */

	/* The one subscription. */
	char topic[ONEX_TOPIC_BYTES_MAX + 1];
	onex_bus_deliver_cb deliver;
	void *arg;

	/* librdkafka. */
	rd_kafka_t *rk[2];
	rd_kafka_queue_t *queue[2];
	rd_kafka_topic_t *warm[2]; /* output and dead-letter topics, known early */
	int pipe_r, pipe_w, watching;
	uint64_t housekeeping_timer, kick_timer, commit_timer, rewind_timer;
	int housekeeping_armed, kick_armed, commit_armed, rewind_armed;

	/* Partitions (indexed by id) and messages. */
	struct part **parts;
	size_t nparts, next_part; /* next_part: where taking starts (round robin) */
	rd_kafka_message_t **held;
	size_t held_head, held_count, held_cap;
	unsigned inflight, inflight_high;
	int consuming, host_paused, take_stopped, shut, freeing, fatal;

	/* Circuit breaker over reply publishes. */
	enum circuit circuit;
	unsigned consecutive_failures;
	uint64_t open_until_ns;
	int trial_in_flight;

	struct pub *pubs; /* every struct pub alive */

	/* Health. */
	int brokers_up[2]; /* -1 until the first statistics */
	int reachable[2]; /* a connection UP (bootstrap or broker): 1, none: 0, -1 unknown */
	uint64_t created_ns;
	char last_error[512];
	int last_error_code;
	uint64_t last_error_ns;
	unsigned dlq_failing;
	uint64_t taken, delivered, acked, released, dead_lettered, published, publish_failed,
		publish_refused, commits, commit_failures, threshold_stops, partition_pauses,
		rebalances;
};

static const struct onex_bus_ops kafka_ops;

static struct kafka_bus *bus_self(const struct onex_bus *base)
{
	if (!onex_kafka_bus_is(base))
		ONEX_BUG("not a Kafka bus");
	return (struct kafka_bus *)base;
}

static uint64_t now_ns(struct kafka_bus *bus)
{
	return onex_loop_now_ns(bus->env.loop);
}

static void service(struct kafka_bus *bus);
static void kick(struct kafka_bus *bus);
static void take(struct kafka_bus *bus, rd_kafka_message_t *msg);
static void schedule_commit(struct kafka_bus *bus, uint64_t delay_ms);
static void ack_token(struct kafka_bus *bus, uint64_t token);

/* ---- errors seen from librdkafka ------------------------------------------ */

/* Remember a client error for health; log it unless it just repeated. */
static void note_error(struct kafka_bus *bus, const char *who, int code, const char *text)
{
	uint64_t now = now_ns(bus);
	int repeat = code == bus->last_error_code && now - bus->last_error_ns < ERROR_REPEAT_NS;
	snprintf(bus->last_error, sizeof(bus->last_error), "%s: %s", who, text);
	bus->last_error_code = code;
	if (!repeat)
		bus->last_error_ns = now;
	onex_log(bus->env.log, repeat ? ONEX_LOG_DEBUG : ONEX_LOG_WARN, NULL, NULL,
		 "kafka bus: %s: %s", who, text);
}

static const char *who(const struct kafka_bus *bus, const rd_kafka_t *rk)
{
	return rk == bus->rk[CONSUMER] ? "consumer" : "producer";
}

/* ---- partitions and their rings -------------------------------------------- */

static struct part *part_get(struct kafka_bus *bus, int32_t id, int create)
{
	if (id < 0 || (size_t)id >= ONEX_KAFKA_PARTITIONS_MAX)
		return NULL;
	if ((size_t)id >= bus->nparts) {
		if (!create)
			return NULL;
		size_t n = (size_t)id + 1;
		struct part **parts = realloc(bus->parts, n * sizeof(*parts));
		if (!parts)
			ONEX_BUG("out of memory for %zu partitions", n);
		memset(parts + bus->nparts, 0, (n - bus->nparts) * sizeof(*parts));
		bus->parts = parts;
		bus->nparts = n;
	}
	if (!bus->parts[id] && create) {
		struct part *part = calloc(1, sizeof(*part));
		if (!part)
			ONEX_BUG("out of memory for a partition");
		part->id = id;
		part->commit_next = part->commit_sent = part->committed = -1;
		part->next_offset = part->rewind_to = -1;
		bus->parts[id] = part;
	}
	return bus->parts[id];
}

static struct slot *ring_at(const struct part *part, size_t i)
{
	return &part->ring[(part->head + i) % part->cap];
}

static void ring_push(struct part *part, int64_t offset, uint64_t now)
{
	if (part->count == part->cap) {
		size_t cap = part->cap ? part->cap * 2 : 64;
		struct slot *ring = malloc(cap * sizeof(*ring));
		if (!ring)
			ONEX_BUG("out of memory for %zu slots", cap);
		for (size_t i = 0; i < part->count; i++)
			ring[i] = *ring_at(part, i);
		free(part->ring);
		part->ring = ring;
		part->cap = cap;
		part->head = 0;
	}
	*ring_at(part, part->count++) = (struct slot){ offset, now, 0 };
}

/* The slot holding `offset` (rings are sorted by offset), or NULL. */
static struct slot *ring_find(struct part *part, int64_t offset)
{
	size_t lo = 0, hi = part->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		struct slot *s = ring_at(part, mid);
		if (s->offset == offset)
			return s;
		if (s->offset < offset)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Pop the finished prefix; 1 when the offset to commit moved. */
static int ring_advance(struct part *part)
{
	int moved = 0;
	while (part->count && ring_at(part, 0)->done) {
		part->commit_next = ring_at(part, 0)->offset + 1;
		part->head = (part->head + 1) % part->cap;
		part->count--;
		moved = 1;
	}
	return moved;
}

/* ---- held messages (taken, not yet delivered) ------------------------------ */

static void held_push(struct kafka_bus *bus, rd_kafka_message_t *msg)
{
	if (bus->held_count == bus->held_cap) {
		size_t cap = bus->held_cap ? bus->held_cap * 2 : 64;
		rd_kafka_message_t **held = malloc(cap * sizeof(*held));
		if (!held)
			ONEX_BUG("out of memory for %zu held messages", cap);
		for (size_t i = 0; i < bus->held_count; i++)
			held[i] = bus->held[(bus->held_head + i) % bus->held_cap];
		free(bus->held);
		bus->held = held;
		bus->held_cap = cap;
		bus->held_head = 0;
	}
	bus->held[(bus->held_head + bus->held_count++) % bus->held_cap] = msg;
}

static rd_kafka_message_t *held_pop(struct kafka_bus *bus)
{
	rd_kafka_message_t *msg = bus->held[bus->held_head];
	bus->held_head = (bus->held_head + 1) % bus->held_cap;
	bus->held_count--;
	return msg;
}

/* Destroy the held messages of partition `id` (all when id < 0), keeping order. */
static void held_drop(struct kafka_bus *bus, int32_t id)
{
	size_t kept = 0, count = bus->held_count;
	for (size_t i = 0; i < count; i++) {
		rd_kafka_message_t *msg = bus->held[(bus->held_head + i) % bus->held_cap];
		if (id < 0 || msg->partition == id)
			rd_kafka_message_destroy(msg);
		else
			bus->held[(bus->held_head + kept++) % bus->held_cap] = msg;
	}
	bus->held_count = kept;
}

/*
 * Forget a partition's messages: it was revoked, or the bus shuts down.
 * They stay uncommitted, so whoever consumes the partition next gets them
 * again; late acks for them find no slot and are ignored.
 */
static void part_forget(struct kafka_bus *bus, struct part *part)
{
	for (size_t i = 0; i < part->count; i++)
		if (!ring_at(part, i)->done)
			bus->inflight--;
	part->count = 0;
	part->head = 0;
	held_drop(bus, part->id);
}

/* ---- flow control ------------------------------------------------------------ */

/*
 * Each assigned partition gets its own message queue: librdkafka's fetch
 * queue of the partition, no longer forwarded to the consumer queue
 * (rd_kafka_queue_forward(q, NULL) marks it forwarded by the application,
 * so librdkafka's fetch start does not forward it again), waking the loop
 * through the same pipe. Its messages wait there, prefetched, until the
 * bus takes them; the consumer queue carries only events (rebalances,
 * commits, errors, statistics, log lines), served on every turn whatever
 * the number in flight. Set up before the partition is assigned, torn
 * down once it is revoked.
 */
static void part_queue_open(struct kafka_bus *bus, struct part *part)
{
	if (part->queue)
		return;
	part->queue = rd_kafka_queue_get_partition(bus->rk[CONSUMER], bus->topic, part->id);
	if (!part->queue) { /* then its messages come through the consumer queue */
		onex_log(bus->env.log, ONEX_LOG_ERROR, NULL, NULL,
			 "kafka bus: no queue for %s [%" PRId32 "]: its messages are taken "
			 "with the events, beyond the in-flight bound", bus->topic, part->id);
		return;
	}
	rd_kafka_queue_forward(part->queue, NULL);
	rd_kafka_queue_io_event_enable(part->queue, bus->pipe_w, "m", 1);
}

static void part_queue_close(struct part *part)
{
	if (!part->queue)
		return;
	rd_kafka_queue_io_event_enable(part->queue, -1, NULL, 0);
	rd_kafka_queue_destroy(part->queue);
	part->queue = NULL;
}

/* Messages prefetched by librdkafka and not taken yet, over all partitions. */
static size_t prefetched(const struct kafka_bus *bus)
{
	size_t n = 0;
	for (size_t i = 0; i < bus->nparts; i++)
		if (bus->parts[i] && bus->parts[i]->queue)
			n += rd_kafka_queue_length(bus->parts[i]->queue);
	return n;
}

/*
 * Take messages from the partitions' queues, one partition after the
 * other, while fewer than pause_consumption_threshold are in flight, at
 * most `budget`; returns what is left of the budget. At the threshold the
 * bus stops taking (the messages stay prefetched, fetching goes on up to
 * librdkafka's queue bounds); ack_token() takes again below it.
 */
static unsigned take_messages(struct kafka_bus *bus, unsigned budget)
{
	size_t idle = 0;
	while (budget > 0 && bus->nparts > 0 && idle < bus->nparts && !bus->shut) {
		struct part *part;
		rd_kafka_message_t *msg;
		if (bus->inflight >= bus->pause_at) {
			if (!bus->take_stopped) {
				bus->take_stopped = 1;
				bus->threshold_stops++;
			}
			break;
		}
		bus->next_part %= bus->nparts;
		part = bus->parts[bus->next_part++];
		if (!part || !part->queue || part->rewind_to >= 0 ||
		    !(msg = rd_kafka_consume_queue(part->queue, 0))) {
			idle++;
			continue;
		}
		idle = 0;
		budget--;
		take(bus, msg);
	}
	return budget;
}

/* Below the threshold again: take on the next turn (no hysteresis: stopping is free). */
static void update_taking(struct kafka_bus *bus)
{
	if (bus->take_stopped && bus->inflight < bus->pause_at && !bus->shut && !bus->freeing) {
		bus->take_stopped = 0;
		kick(bus);
	}
}

/* ---- commits ------------------------------------------------------------------ */

/* Commit (async) every partition whose offset to commit moved; only `id` when >= 0. */
static void commit_now(struct kafka_bus *bus, int32_t id)
{
	rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(8);
	for (size_t i = 0; i < bus->nparts; i++) {
		struct part *part = bus->parts[i];
		if (!part || !part->assigned || (id >= 0 && part->id != id) ||
		    part->commit_next <= part->commit_sent)
			continue;
		rd_kafka_topic_partition_list_add(list, bus->topic, part->id)->offset =
			part->commit_next;
		part->commit_sent = part->commit_next;
	}
	if (list->cnt > 0) {
		rd_kafka_resp_err_t err = rd_kafka_commit(bus->rk[CONSUMER], list, 1);
		if (err) {
			bus->commit_failures++;
			note_error(bus, "commit", err, rd_kafka_err2str(err));
			for (int i = 0; i < list->cnt; i++) {
				struct part *part = part_get(bus, list->elems[i].partition, 0);
				if (part)
					part->commit_sent = part->committed;
			}
			schedule_commit(bus, ONEX_KAFKA_COMMIT_RETRY_MS);
		}
	}
	rd_kafka_topic_partition_list_destroy(list);
}

static void commit_fire(void *arg)
{
	struct kafka_bus *bus = arg;
	bus->commit_armed = 0;
	commit_now(bus, -1);
}

static void schedule_commit(struct kafka_bus *bus, uint64_t delay_ms)
{
	if (bus->commit_armed || bus->freeing)
		return;
	if (onex_loop_timer_add(bus->env.loop, delay_ms * MS, commit_fire, bus,
				&bus->commit_timer, NULL) == 0)
		bus->commit_armed = 1;
	else
		commit_now(bus, -1); /* no timer left: commit at once */
}

static void on_commit(rd_kafka_t *rk, rd_kafka_resp_err_t err,
		      rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
	struct kafka_bus *bus = opaque;
	int failed = 0;
	(void)rk;
	if (err == RD_KAFKA_RESP_ERR__NO_OFFSET)
		return;
	for (int i = 0; offsets && i < offsets->cnt; i++) {
		rd_kafka_topic_partition_t *tp = &offsets->elems[i];
		struct part *part = part_get(bus, tp->partition, 0);
		if (!part)
			continue;
		if (err || tp->err) {
			part->commit_sent = part->committed; /* send it again */
			failed = 1;
		} else if (tp->offset > part->committed) {
			part->committed = tp->offset;
		}
	}
	if (failed || (err && !offsets)) {
		bus->commit_failures++;
		note_error(bus, "commit", err, rd_kafka_err2str(err ? err : RD_KAFKA_RESP_ERR__FAIL));
		schedule_commit(bus, ONEX_KAFKA_COMMIT_RETRY_MS);
	} else {
		bus->commits++;
	}
}

/* ---- rebalances ------------------------------------------------------------- */

static void assign_partitions(struct kafka_bus *bus, rd_kafka_t *rk,
			      rd_kafka_topic_partition_list_t *list, int cooperative)
{
	for (int i = 0; i < list->cnt; i++) {
		struct part *part = part_get(bus, list->elems[i].partition, 1);
		if (!part) {
			onex_log(bus->env.log, ONEX_LOG_ERROR, NULL, NULL,
				 "kafka bus: partition %" PRId32 " is beyond the %u this bus handles",
				 list->elems[i].partition, ONEX_KAFKA_PARTITIONS_MAX);
			continue;
		}
		part->assigned = 1;
		part->commit_next = part->commit_sent = part->committed = -1;
		part->next_offset = part->rewind_to = -1;
		part->releases = 0;
		part_queue_open(bus, part); /* before the fetch starts */
	}
	if (cooperative) {
		rd_kafka_error_t *error = rd_kafka_incremental_assign(rk, list);
		if (error) {
			note_error(bus, "assign", rd_kafka_error_code(error), rd_kafka_error_string(error));
			rd_kafka_error_destroy(error);
		}
	} else {
		rd_kafka_assign(rk, list);
	}
	if (bus->shut)
		rd_kafka_pause_partitions(rk, list);
}

static void revoke_partitions(struct kafka_bus *bus, rd_kafka_t *rk,
			      rd_kafka_topic_partition_list_t *list, int cooperative)
{
	int lost = rd_kafka_assignment_lost(rk);
	for (int i = 0; i < list->cnt; i++) {
		struct part *part = part_get(bus, list->elems[i].partition, 0);
		if (!part)
			continue;
		if (!lost) /* what is finished is committed before it goes */
			commit_now(bus, part->id);
		part_forget(bus, part);
		part->assigned = 0;
	}
	if (cooperative) {
		rd_kafka_error_t *error = rd_kafka_incremental_unassign(rk, list);
		if (error)
			rd_kafka_error_destroy(error);
	} else {
		rd_kafka_assign(rk, NULL);
	}
	for (int i = 0; i < list->cnt; i++) {
		struct part *part = part_get(bus, list->elems[i].partition, 0);
		if (part && !part->assigned)
			part_queue_close(part); /* what it still holds is librdkafka's to drop */
	}
	update_taking(bus);
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
			 rd_kafka_topic_partition_list_t *list, void *opaque)
{
	struct kafka_bus *bus = opaque;
	const char *protocol = rd_kafka_rebalance_protocol(rk);
	int cooperative = protocol && strcmp(protocol, "COOPERATIVE") == 0;
	char ids[256];
	size_t n = 0;
	ids[0] = '\0';
	for (int i = 0; i < list->cnt && n < sizeof(ids) - 16; i++)
		n += (size_t)snprintf(ids + n, sizeof(ids) - n, "%s%" PRId32, i ? "," : "",
				      list->elems[i].partition);
	bus->rebalances++;
	if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		onex_log(bus->env.log, ONEX_LOG_INFO, NULL, NULL,
			 "kafka bus: group %s assigned %s [%s]", bus->group, bus->topic, ids);
		assign_partitions(bus, rk, list, cooperative);
	} else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
		onex_log(bus->env.log, ONEX_LOG_INFO, NULL, NULL,
			 "kafka bus: group %s revoked %s [%s]%s", bus->group, bus->topic, ids,
			 rd_kafka_assignment_lost(rk) ? " (assignment lost)" : "");
		revoke_partitions(bus, rk, list, cooperative);
	} else {
		note_error(bus, "rebalance", err, rd_kafka_err2str(err));
		revoke_partitions(bus, rk, list, cooperative);
	}
}

/* ---- other librdkafka callbacks (all served on the loop thread) ----------- */

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	struct kafka_bus *bus = opaque;
	if (err == RD_KAFKA_RESP_ERR__FATAL) {
		char text[400];
		rd_kafka_fatal_error(rk, text, sizeof(text));
		bus->fatal = 1;
		snprintf(bus->last_error, sizeof(bus->last_error), "%s: fatal: %s",
			 who(bus, rk), text);
		onex_log(bus->env.log, ONEX_LOG_ERROR, NULL, NULL,
			 "kafka bus: %s failed for good: %s; restart the host", who(bus, rk), text);
		return;
	}
	/* Nothing answers (connection refused, resolution failed): degraded at once. */
	if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN || err == RD_KAFKA_RESP_ERR__RESOLVE)
		bus->reachable[rk == bus->rk[CONSUMER] ? CONSUMER : PRODUCER] = 0;
	note_error(bus, who(bus, rk), err, reason);
}

static void on_log(const rd_kafka_t *rk, int level, const char *facility, const char *text)
{
	struct kafka_bus *bus = rd_kafka_opaque(rk);
	/* Connection failures come through on_error too; keep them out of the way. */
	onex_log(bus->env.log, level <= 2 ? ONEX_LOG_ERROR : ONEX_LOG_DEBUG, NULL, NULL,
		 "librdkafka %s %s: %s", who(bus, rk), facility, text);
}

/*
 * Broker states from librdkafka's statistics: how many brokers are up,
 * and whether any connection is (a bootstrap address counts: before the
 * first metadata it is all there is, and a bus that never got that far
 * must not look healthy).
 */
static int on_stats(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
	struct kafka_bus *bus = opaque;
	int index = rk == bus->rk[CONSUMER] ? CONSUMER : PRODUCER;
	json_t *root = json_loadb(json, len, 0, NULL);
	json_t *brokers = json_object_get(root, "brokers"), *broker;
	const char *name;
	int up = 0, any_up = 0;
	json_object_foreach(brokers, name, broker) {
		const char *state = json_string_value(json_object_get(broker, "state"));
		int is_up = state && strcmp(state, "UP") == 0;
		any_up |= is_up;
		if (json_integer_value(json_object_get(broker, "nodeid")) < 0)
			continue; /* a bootstrap address, not a broker yet */
		up += is_up;
	}
	if (root) {
		bus->brokers_up[index] = up;
		bus->reachable[index] = any_up;
	}
	json_decref(root);
	return 0; /* librdkafka frees `json` */
}

/* ---- the circuit breaker ------------------------------------------------------ */

static int circuit_admit(struct kafka_bus *bus, int *trial, struct onex_error *err)
{
	uint64_t now = now_ns(bus);
	*trial = 0;
	if (bus->circuit == CIRCUIT_OPEN && now >= bus->open_until_ns) {
		bus->circuit = CIRCUIT_HALF_OPEN;
		bus->trial_in_flight = 0;
		onex_log(bus->env.log, ONEX_LOG_INFO, NULL, NULL,
			 "kafka bus: circuit half-open: letting one publish through");
	}
	if (bus->circuit == CIRCUIT_OPEN) {
		onex_error_set(err, ONEX_ERR_CIRCUIT_OPEN, UNIT, 0, 0,
			       "publishing is suspended for %llu ms more after %u consecutive "
			       "failed publishes",
			       (unsigned long long)((bus->open_until_ns - now) / MS),
			       bus->consecutive_failures);
		onex_error_hint(err, "last error: %s", bus->last_error);
		return -1;
	}
	if (bus->circuit == CIRCUIT_HALF_OPEN) {
		if (bus->trial_in_flight)
			return onex_error_set(err, ONEX_ERR_CIRCUIT_OPEN, UNIT, 0, 0,
					      "circuit half-open: a trial publish is in flight");
		*trial = 1;
	}
	return 0;
}

static void circuit_result(struct kafka_bus *bus, int ok, int trial)
{
	if (trial)
		bus->trial_in_flight = 0;
	if (ok) {
		bus->consecutive_failures = 0;
		if (bus->circuit != CIRCUIT_CLOSED)
			onex_log(bus->env.log, ONEX_LOG_INFO, NULL, NULL,
				 "kafka bus: circuit closed: publishing again");
		bus->circuit = CIRCUIT_CLOSED;
		return;
	}
	bus->consecutive_failures++;
	if ((bus->circuit == CIRCUIT_HALF_OPEN && trial) ||
	    (bus->circuit == CIRCUIT_CLOSED &&
	     bus->consecutive_failures >= bus->circuit_threshold)) {
		bus->circuit = CIRCUIT_OPEN;
		bus->open_until_ns = now_ns(bus) + (uint64_t)bus->circuit_open_ms * MS;
		onex_log(bus->env.log, ONEX_LOG_ERROR, NULL, NULL,
			 "kafka bus: circuit open after %u consecutive failed publishes; "
			 "publishes fail at once for %u ms (last error: %s)",
			 bus->consecutive_failures, bus->circuit_open_ms, bus->last_error);
	}
}

/* ---- publishes -------------------------------------------------------------------- */

static struct pub *pub_new(struct kafka_bus *bus, enum pub_kind kind)
{
	struct pub *pub = calloc(1, sizeof(*pub));
	if (!pub)
		ONEX_BUG("out of memory for a publish");
	pub->bus = bus;
	pub->kind = kind;
	pub->next = bus->pubs;
	if (bus->pubs)
		bus->pubs->prev = pub;
	bus->pubs = pub;
	return pub;
}

static void pub_free(struct kafka_bus *bus, struct pub *pub)
{
	if (pub->prev)
		pub->prev->next = pub->next;
	else
		bus->pubs = pub->next;
	if (pub->next)
		pub->next->prev = pub->prev;
	if (pub->retry_armed)
		onex_loop_timer_cancel(bus->env.loop, pub->retry_timer);
	if (pub->src)
		rd_kafka_message_destroy(pub->src);
	free(pub);
}

static void dlq_produce(struct kafka_bus *bus, struct pub *pub);

static void dlq_retry_fire(void *arg)
{
	struct pub *pub = arg;
	pub->retry_armed = 0;
	dlq_produce(pub->bus, pub);
}

/* The copy did not make it: try again later, the offset stays uncommitted. */
static void dlq_retry_later(struct kafka_bus *bus, struct pub *pub, const char *why)
{
	uint64_t delay_ms = ONEX_KAFKA_DLQ_RETRY_MS_MIN;
	for (unsigned i = 1; i < pub->attempts && delay_ms < ONEX_KAFKA_DLQ_RETRY_MS_MAX; i++)
		delay_ms *= 2;
	if (delay_ms > ONEX_KAFKA_DLQ_RETRY_MS_MAX)
		delay_ms = ONEX_KAFKA_DLQ_RETRY_MS_MAX;
	if (pub->attempts == 1)
		bus->dlq_failing++;
	onex_log(bus->env.log, ONEX_LOG_ERROR, NULL, NULL,
		 "kafka bus: copying %s [%" PRId32 "] @%" PRId64 " to dead-letter topic %s "
		 "failed (attempt %u): %s; retrying in %llu ms, its offset stays uncommitted",
		 bus->topic, pub->src->partition, pub->src->offset, bus->dlq, pub->attempts,
		 why, (unsigned long long)delay_ms);
	if (bus->shut || bus->freeing)
		return;
	if (onex_loop_timer_add(bus->env.loop, delay_ms * MS, dlq_retry_fire, pub,
				&pub->retry_timer, NULL) == 0)
		pub->retry_armed = 1;
}

static void dlq_produce(struct kafka_bus *bus, struct pub *pub)
{
	const rd_kafka_message_t *src = pub->src;
	size_t len = src->len > ONEX_KAFKA_DLQ_VALUE_BYTES_MAX ? ONEX_KAFKA_DLQ_VALUE_BYTES_MAX
							      : src->len;
	char partition[16], offset[24], bytes[24];
	rd_kafka_headers_t *hdrs = rd_kafka_headers_new(6);
	snprintf(partition, sizeof(partition), "%" PRId32, src->partition);
	snprintf(offset, sizeof(offset), "%" PRId64, src->offset);
	snprintf(bytes, sizeof(bytes), "%zu", src->len);
	rd_kafka_header_add(hdrs, "onex-dlq-reason", -1, pub->reason, -1);
	rd_kafka_header_add(hdrs, "onex-source-topic", -1, bus->topic, -1);
	rd_kafka_header_add(hdrs, "onex-source-partition", -1, partition, -1);
	rd_kafka_header_add(hdrs, "onex-source-offset", -1, offset, -1);
	if (len < src->len) {
		rd_kafka_header_add(hdrs, "onex-original-bytes", -1, bytes, -1);
		rd_kafka_header_add(hdrs, "onex-dlq-truncated", -1, "true", -1);
	}
	pub->attempts++;
	rd_kafka_resp_err_t err = rd_kafka_producev(
		bus->rk[PRODUCER], RD_KAFKA_V_TOPIC(bus->dlq),
		RD_KAFKA_V_KEY(src->key, src->key_len), RD_KAFKA_V_VALUE(src->payload, len),
		RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
		RD_KAFKA_V_OPAQUE(pub), RD_KAFKA_V_END);
	if (err) {
		rd_kafka_headers_destroy(hdrs); /* not taken on failure */
		dlq_retry_later(bus, pub, rd_kafka_err2str(err));
	}
}

static void dlq_delivered(struct kafka_bus *bus, struct pub *pub, rd_kafka_resp_err_t err)
{
	if (bus->freeing) {
		pub_free(bus, pub);
		return;
	}
	if (err) {
		note_error(bus, "dead-letter publish", err, rd_kafka_err2str(err));
		dlq_retry_later(bus, pub, rd_kafka_err2str(err));
		return;
	}
	if (pub->attempts > 1)
		bus->dlq_failing--;
	bus->dead_lettered++;
	ack_token(bus, pub->token);
	pub_free(bus, pub);
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
	struct kafka_bus *bus = opaque;
	struct pub *pub = msg->_private;
	struct onex_error err;
	(void)rk;
	if (pub->kind == PUB_DLQ) {
		dlq_delivered(bus, pub, msg->err);
		return;
	}
	if (bus->freeing) { /* the caller is gone: nobody to tell */
		pub_free(bus, pub);
		return;
	}
	circuit_result(bus, !msg->err, pub->trial);
	onex_error_clear(&err);
	if (msg->err) {
		bus->publish_failed++;
		note_error(bus, "publish", msg->err, rd_kafka_err2str(msg->err));
		onex_error_set(&err, ONEX_ERR_EVENT_BUS_ERROR, UNIT, 0, 0,
			       "publish to %s failed: %s", rd_kafka_topic_name(msg->rkt),
			       rd_kafka_err2str(msg->err));
		err.backend_code = msg->err;
	} else {
		bus->published++;
	}
	onex_bus_published_cb done = pub->done;
	void *done_arg = pub->done_arg;
	pub_free(bus, pub);
	if (done)
		done(done_arg, msg->err ? -1 : 0, msg->err ? &err : NULL);
}

/* ---- taking and delivering messages ------------------------------------------- */

/* A message from rd_kafka_consumer_poll(): keep it (slot + held) or drop it. */
static void take(struct kafka_bus *bus, rd_kafka_message_t *msg)
{
	struct part *part;
	if (msg->err) {
		if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
			note_error(bus, "consumer", msg->err, rd_kafka_message_errstr(msg));
		rd_kafka_message_destroy(msg);
		return;
	}
	part = part_get(bus, msg->partition, 0);
	if (bus->shut || !part || !part->assigned || msg->offset < 0 ||
	    (uint64_t)msg->offset > OFFSET_MASK ||
	    (part->count && ring_at(part, part->count - 1)->offset >= msg->offset)) {
		/* Not ours (any more), or out of order: whoever owns it gets it again. */
		rd_kafka_message_destroy(msg);
		return;
	}
	ring_push(part, msg->offset, now_ns(bus));
	part->next_offset = msg->offset + 1;
	held_push(bus, msg);
	bus->taken++;
	if (++bus->inflight > bus->inflight_high)
		bus->inflight_high = bus->inflight;
	if (bus->inflight > bus->inflight_max)
		onex_log(bus->env.log, ONEX_LOG_WARN, NULL, NULL,
			 "kafka bus: %u messages in flight, above max_inflight_envelopes (%u)",
			 bus->inflight, bus->inflight_max);
}

/* Why no reply can be addressed to this message, or NULL when it can be. */
static const char *undeliverable(const rd_kafka_message_t *msg, char *why, size_t size)
{
	struct onex_error err;
	json_t *json = NULL;
	if (msg->len > ONEX_ENVELOPE_BYTES_MAX) {
		snprintf(why, size, "message is %zu bytes; the envelope limit is %u bytes",
			 msg->len, ONEX_ENVELOPE_BYTES_MAX);
		return why;
	}
	if (!msg->payload || msg->len == 0) {
		snprintf(why, size, "empty message: no envelope");
		return why;
	}
	/* Certainly an object the host's parser accepts: no need to parse it here too. */
	if (onex_kafka_json_is_plain_object(msg->payload, msg->len))
		return NULL;
	onex_error_clear(&err);
	if (onex_envelope_parse(msg->payload, msg->len, &json, &err) < 0) {
		/* The parser may quote the bad bytes; a header stays UTF-8. */
		json_t *text = onex_json_string_lossy(err.text);
		snprintf(why, size, "%s", json_string_value(text));
		json_decref(text);
		return why;
	}
	json_decref(json);
	return NULL;
}

static void deliver_next(struct kafka_bus *bus)
{
	rd_kafka_message_t *msg = held_pop(bus);
	char position[POSITION_BYTES], why[ONEX_ERROR_TEXT_BYTES];
	uint64_t token = ((uint64_t)(msg->partition + 1) << OFFSET_BITS) | (uint64_t)msg->offset;
	snprintf(position, sizeof(position), "kafka %s [%" PRId32 "] @%" PRId64, bus->topic,
		 msg->partition, msg->offset);
	if (undeliverable(msg, why, sizeof(why))) {
		struct pub *pub = pub_new(bus, PUB_DLQ);
		pub->src = msg;
		pub->token = token;
		snprintf(pub->reason, sizeof(pub->reason), "%s", why);
		onex_log(bus->env.log, ONEX_LOG_WARN, NULL, NULL,
			 "%s: not an envelope (%s); copying it to dead-letter topic %s",
			 position, why, bus->dlq);
		dlq_produce(bus, pub);
		return;
	}
	struct onex_bus_message m = { bus->topic, msg->payload, msg->len, msg->len,
				      position, token };
	bus->delivered++;
	bus->deliver(bus->arg, &m);
	rd_kafka_message_destroy(msg);
}

static int can_deliver(const struct kafka_bus *bus)
{
	return bus->consuming && bus->deliver && !bus->host_paused && !bus->shut &&
	       !bus->freeing && bus->held_count > 0;
}

static void kick_fire(void *arg)
{
	struct kafka_bus *bus = arg;
	bus->kick_armed = 0;
	service(bus);
}

/* Serve again on the next loop turn. */
static void kick(struct kafka_bus *bus)
{
	if (bus->kick_armed || bus->freeing)
		return;
	if (onex_loop_timer_add(bus->env.loop, 0, kick_fire, bus, &bus->kick_timer, NULL) == 0)
		bus->kick_armed = 1;
}

/*
 * Serve both handles' queues and deliver what can be delivered, at most
 * ONEX_KAFKA_EVENTS_PER_TURN_MAX of each, then yield to the loop.
 */
static void service(struct kafka_bus *bus)
{
	unsigned budget = ONEX_KAFKA_EVENTS_PER_TURN_MAX;
	int more = 0;
	rd_kafka_poll(bus->rk[PRODUCER], 0);
	while (budget > 0) {
		rd_kafka_message_t *msg = rd_kafka_consumer_poll(bus->rk[CONSUMER], 0);
		if (!msg)
			break;
		budget--;
		take(bus, msg);
	}
	budget = take_messages(bus, budget);
	more = budget == 0;
	for (budget = ONEX_KAFKA_EVENTS_PER_TURN_MAX; budget > 0 && can_deliver(bus); budget--)
		deliver_next(bus);
	if (more || can_deliver(bus))
		kick(bus);
}

static void on_wakeup(void *arg, int fd, unsigned events)
{
	struct kafka_bus *bus = arg;
	char buf[256];
	(void)events;
	while (read(fd, buf, sizeof(buf)) > 0)
		; /* empty the pipe first: an event after this writes again */
	service(bus);
}

static void housekeeping_fire(void *arg)
{
	struct kafka_bus *bus = arg;
	bus->housekeeping_armed = 0;
	service(bus);
	if (!bus->freeing &&
	    onex_loop_timer_add(bus->env.loop, ONEX_KAFKA_HOUSEKEEPING_MS * MS,
				housekeeping_fire, bus, &bus->housekeeping_timer, NULL) == 0)
		bus->housekeeping_armed = 1;
}

/* ---- acks ------------------------------------------------------------------------------ */

static void ack_token(struct kafka_bus *bus, uint64_t token)
{
	uint64_t high = token >> OFFSET_BITS;
	struct part *part;
	struct slot *slot;
	if (high == 0 || high > ONEX_KAFKA_PARTITIONS_MAX)
		return;
	part = part_get(bus, (int32_t)(high - 1), 0);
	if (!part || !part->assigned ||
	    !(slot = ring_find(part, (int64_t)(token & OFFSET_MASK))) || slot->done)
		return; /* revoked meanwhile, or acked twice: ack is idempotent */
	slot->done = 1;
	bus->acked++;
	bus->inflight--;
	if (ring_advance(part)) {
		part->releases = 0;
		schedule_commit(bus, ONEX_KAFKA_COMMIT_INTERVAL_MS);
	}
	update_taking(bus);
}

/* ---- released messages: fetched and delivered again ------------------------------ */

static void one_partition(struct kafka_bus *bus, struct part *part, int64_t offset,
			  rd_kafka_topic_partition_list_t **list)
{
	*list = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(*list, bus->topic, part->id)->offset = offset;
}

static void rewind_fire(void *arg)
{
	struct kafka_bus *bus = arg;
	bus->rewind_armed = 0;
	if (bus->shut || bus->freeing)
		return;
	for (size_t i = 0; i < bus->nparts; i++) {
		struct part *part = bus->parts[i];
		rd_kafka_topic_partition_list_t *list;
		rd_kafka_error_t *error;
		if (!part || !part->assigned || part->rewind_to < 0)
			continue;
		one_partition(bus, part, part->rewind_to, &list);
		onex_log(bus->env.log, ONEX_LOG_INFO, NULL, NULL,
			 "kafka bus: delivering %s [%" PRId32 "] again from @%" PRId64, bus->topic,
			 part->id, part->rewind_to);
		part->next_offset = part->rewind_to;
		part->rewind_to = -1;
		rd_kafka_resume_partitions(bus->rk[CONSUMER], list);
		/*
		 * After the resume: the seek sets where fetching starts, and wakes
		 * librdkafka 2.0's fetcher at once (it notices a resume alone only at
		 * its next wake-up, up to a second later).
		 */
		if ((error = rd_kafka_seek_partitions(bus->rk[CONSUMER], list, 0)))
			rd_kafka_error_destroy(error);
		rd_kafka_topic_partition_list_destroy(list);
	}
}

/*
 * The host gives a delivered message back without a reply (the reply
 * could not be published). It stays uncommitted; its partition stops,
 * forgets it and everything taken after it, and after a backoff (1 s,
 * doubling to 30 s while releases repeat) fetches from it again, so it and
 * the messages after it are delivered again. Later acks of the forgotten
 * deliveries are ignored or count for the new ones.
 */
static void release_token(struct kafka_bus *bus, uint64_t token)
{
	uint64_t high = token >> OFFSET_BITS, delay_ms = ONEX_KAFKA_RELEASE_BACKOFF_MS_MIN;
	struct part *part;
	struct slot *slot;
	rd_kafka_topic_partition_list_t *list;
	if (high == 0 || high > ONEX_KAFKA_PARTITIONS_MAX || bus->shut)
		return;
	part = part_get(bus, (int32_t)(high - 1), 0);
	if (!part || !part->assigned ||
	    !(slot = ring_find(part, (int64_t)(token & OFFSET_MASK))) || slot->done)
		return;
	int64_t from = slot->offset;
	while (part->count && ring_at(part, part->count - 1)->offset >= from) {
		if (!ring_at(part, part->count - 1)->done)
			bus->inflight--;
		part->count--;
	}
	held_drop(bus, part->id); /* all taken after the released one */
	bus->released++;
	if (part->rewind_to < 0 || from < part->rewind_to)
		part->rewind_to = from;
	one_partition(bus, part, from, &list);
	rd_kafka_pause_partitions(bus->rk[CONSUMER], list);
	rd_kafka_topic_partition_list_destroy(list);
	bus->partition_pauses++;
	for (unsigned i = 0; i < part->releases && delay_ms < ONEX_KAFKA_RELEASE_BACKOFF_MS_MAX; i++)
		delay_ms *= 2;
	if (delay_ms > ONEX_KAFKA_RELEASE_BACKOFF_MS_MAX)
		delay_ms = ONEX_KAFKA_RELEASE_BACKOFF_MS_MAX;
	part->releases++;
	onex_log(bus->env.log, ONEX_LOG_WARN, NULL, NULL,
		 "kafka bus: %s [%" PRId32 "] @%" PRId64 " released without a reply; "
		 "delivering it again in %llu ms",
		 bus->topic, part->id, from, (unsigned long long)delay_ms);
	if (!bus->rewind_armed &&
	    onex_loop_timer_add(bus->env.loop, delay_ms * MS, rewind_fire, bus,
				&bus->rewind_timer, NULL) == 0)
		bus->rewind_armed = 1;
	update_taking(bus);
}

/* ---- port operations ------------------------------------------------------------------ */

static int kafka_subscribe(struct onex_bus *base, const char *topic,
			   onex_bus_deliver_cb deliver, onex_bus_closed_cb closed, void *arg,
			   struct onex_error *err)
{
	struct kafka_bus *bus = bus_self(base);
	(void)closed; /* Kafka input does not end */
	if (!deliver)
		ONEX_BUG("subscribe without a deliver callback");
	if (bus->shut)
		return onex_error_set(err, ONEX_ERR_EVENT_BUS_ERROR, UNIT, 0, 0,
				      "bus is shut down");
	if (bus->deliver)
		return onex_error_set(err, ONEX_ERR_EVENT_BUS_ERROR, UNIT, 0, 0,
				      "the Kafka bus takes one subscription (it has %s)",
				      bus->topic);
	if (!topic || !*topic || strlen(topic) > ONEX_TOPIC_BYTES_MAX)
		return onex_error_set(err, ONEX_ERR_EVENT_BUS_ERROR, UNIT, 0, 0,
				      "topic name must be 1 to %u bytes", ONEX_TOPIC_BYTES_MAX);
	if (strcmp(topic, bus->output) == 0 || strcmp(topic, bus->dlq) == 0)
		return onex_error_set(err, ONEX_ERR_EVENT_BUS_ERROR, UNIT, 0, 0,
				      "refusing to consume %s: it is the output or dead-letter "
				      "topic", topic);
	snprintf(bus->topic, sizeof(bus->topic), "%s", topic);
	bus->deliver = deliver;
	bus->arg = arg;
	return 0;
}

static int kafka_start_consuming(struct onex_bus *base, struct onex_error *err)
{
	struct kafka_bus *bus = bus_self(base);
	rd_kafka_topic_partition_list_t *list;
	rd_kafka_resp_err_t rerr;
	if (bus->shut)
		return onex_error_set(err, ONEX_ERR_EVENT_BUS_ERROR, UNIT, 0, 0,
				      "bus is shut down");
	if (bus->consuming || !bus->deliver) {
		bus->consuming = 1; /* no subscriber: publish only */
		return 0;
	}
	list = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(list, bus->topic, RD_KAFKA_PARTITION_UA);
	rerr = rd_kafka_subscribe(bus->rk[CONSUMER], list);
	rd_kafka_topic_partition_list_destroy(list);
	if (rerr) {
		onex_error_set(err, ONEX_ERR_EVENT_BUS_ERROR, UNIT, 0, 0,
			       "could not subscribe to %s: %s", bus->topic, rd_kafka_err2str(rerr));
		if (err)
			err->backend_code = rerr;
		return -1;
	}
	bus->consuming = 1;
	onex_log(bus->env.log, ONEX_LOG_INFO, NULL, NULL,
		 "kafka bus: consuming %s as group %s from %s; replies to %s, dead letters "
		 "to %s", bus->topic, bus->group, bus->bootstrap, bus->output, bus->dlq);
	kick(bus);
	return 0;
}

static int kafka_publish(struct onex_bus *base, const char *topic, const char *key,
			 const char *data, size_t len, onex_bus_published_cb done,
			 void *done_arg, struct onex_error *err)
{
	struct kafka_bus *bus = bus_self(base);
	rd_kafka_resp_err_t rerr;
	int trial;
	struct pub *pub;
	if (bus->shut || bus->fatal) {
		bus->publish_refused++;
		return onex_error_set(err, ONEX_ERR_EVENT_BUS_ERROR, UNIT, 0, 0, "%s",
				      bus->shut ? "bus is shut down" : bus->last_error);
	}
	if (circuit_admit(bus, &trial, err) < 0) {
		bus->publish_refused++;
		return -1;
	}
	pub = pub_new(bus, PUB_REPLY);
	pub->done = done;
	pub->done_arg = done_arg;
	pub->trial = trial;
	rerr = rd_kafka_producev(bus->rk[PRODUCER], RD_KAFKA_V_TOPIC(topic),
				 RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
				 RD_KAFKA_V_VALUE((void *)data, len),
				 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(pub),
				 RD_KAFKA_V_END);
	if (rerr) {
		pub_free(bus, pub);
		bus->publish_refused++;
		/* A full queue or an oversized reply says nothing about the brokers. */
		if (rerr != RD_KAFKA_RESP_ERR__QUEUE_FULL &&
		    rerr != RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE)
			circuit_result(bus, 0, trial);
		else if (trial)
			bus->trial_in_flight = 0;
		onex_error_set(err, ONEX_ERR_EVENT_BUS_ERROR, UNIT, 0, 0,
			       "could not publish %zu bytes to %s: %s", len, topic,
			       rd_kafka_err2str(rerr));
		if (err)
			err->backend_code = rerr;
		return -1;
	}
	if (trial)
		bus->trial_in_flight = 1;
	return 0;
}

static void kafka_ack(struct onex_bus *base, uint64_t token)
{
	ack_token(bus_self(base), token);
}

static void kafka_pause(struct onex_bus *base)
{
	bus_self(base)->host_paused = 1;
}

static void kafka_resume(struct onex_bus *base)
{
	struct kafka_bus *bus = bus_self(base);
	bus->host_paused = 0;
	if (can_deliver(bus))
		kick(bus);
}

/* Age of the oldest message taken and not finished, in ms (0 when none). */
static uint64_t oldest_ms(struct kafka_bus *bus)
{
	uint64_t now = now_ns(bus), oldest = now;
	for (size_t i = 0; i < bus->nparts; i++) {
		struct part *part = bus->parts[i];
		for (size_t j = 0; part && j < part->count; j++)
			if (!ring_at(part, j)->done && ring_at(part, j)->taken_ns < oldest)
				oldest = ring_at(part, j)->taken_ns;
	}
	return (now - oldest) / MS;
}

static json_t *partitions_json(struct kafka_bus *bus)
{
	json_t *list = json_array();
	for (size_t i = 0; i < bus->nparts; i++) {
		struct part *part = bus->parts[i];
		if (part && part->assigned)
			json_array_append_new(
				list, json_pack("{s:i,s:I,s:I,s:i}", "partition", (int)part->id,
						"committed", (json_int_t)part->committed,
						"to_commit", (json_int_t)part->commit_next,
						"in_flight", (int)part->count));
	}
	return list;
}

/*
 * A handle with no connection up: the statistics (every
 * ONEX_KAFKA_STATS_INTERVAL_MS) saw none, or librdkafka reported all
 * brokers down, or nothing is known yet after ONEX_KAFKA_CONNECT_GRACE_MS.
 * A consumer that is not consuming has no reason to connect: not counted.
 */
static int handle_unreachable(struct kafka_bus *bus, int index)
{
	if (index == CONSUMER && !bus->consuming)
		return 0;
	if (bus->reachable[index] >= 0)
		return !bus->reachable[index];
	return now_ns(bus) - bus->created_ns > (uint64_t)ONEX_KAFKA_CONNECT_GRACE_MS * MS;
}

static json_t *kafka_health(struct onex_bus *base)
{
	struct kafka_bus *bus = bus_self(base);
	int healthy = !bus->fatal && !bus->shut;
	uint64_t oldest = oldest_ms(bus);
	int stalled = oldest > ONEX_KAFKA_STALLED_MS; /* a message nobody finishes */
	json_t *reasons = json_array();
	for (int i = CONSUMER; i <= PRODUCER; i++)
		if (handle_unreachable(bus, i))
			json_array_append_new(
				reasons, json_sprintf("%s: no broker reachable at %s",
						      i == CONSUMER ? "consumer" : "producer",
						      bus->bootstrap));
	if (bus->circuit != CIRCUIT_CLOSED)
		json_array_append_new(reasons, json_sprintf("circuit %s after %u failed publishes",
							    circuit_names[bus->circuit],
							    bus->consecutive_failures));
	if (bus->dlq_failing)
		json_array_append_new(reasons, json_sprintf("%u dead letters failing",
							    bus->dlq_failing));
	if (stalled)
		json_array_append_new(reasons, json_sprintf("a message in flight for %llu ms",
							    (unsigned long long)oldest));
	int degraded = healthy && json_array_size(reasons) > 0;
	json_t *h = json_object();
	json_object_set_new(h, "healthy", json_boolean(healthy));
	json_object_set_new(h, "degraded", json_boolean(degraded));
	json_object_set_new(h, "degraded_reasons", reasons);
	json_object_set_new(h, "brokers_up", json_pack("{s:i,s:i}", "consumer",
						       bus->brokers_up[CONSUMER], "producer",
						       bus->brokers_up[PRODUCER]));
	json_object_set_new(h, "circuit", json_string(circuit_names[bus->circuit]));
	json_object_set_new(h, "consecutive_publish_failures",
			    json_integer(bus->consecutive_failures));
	json_object_set_new(h, "in_flight", json_integer(bus->inflight));
	json_object_set_new(h, "in_flight_high_water", json_integer(bus->inflight_high));
	json_object_set_new(h, "held", json_integer((json_int_t)bus->held_count));
	json_object_set_new(h, "oldest_in_flight_ms", json_integer((json_int_t)oldest));
	json_object_set_new(h, "stalled", json_boolean(stalled));
	json_object_set_new(h, "host_paused", json_boolean(bus->host_paused));
	json_object_set_new(h, "taking_stopped", json_boolean(bus->take_stopped));
	json_object_set_new(h, "prefetched", json_integer((json_int_t)prefetched(bus)));
	json_object_set_new(h, "partitions", partitions_json(bus));
	json_object_set_new(h, "producer_queue",
			    json_integer(rd_kafka_outq_len(bus->rk[PRODUCER])));
	json_object_set_new(h, "dead_letters_failing", json_integer(bus->dlq_failing));
	json_object_set_new(
		h, "counts",
		json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "taken",
			  (json_int_t)bus->taken, "delivered", (json_int_t)bus->delivered,
			  "acked", (json_int_t)bus->acked, "released", (json_int_t)bus->released,
			  "dead_lettered",
			  (json_int_t)bus->dead_lettered, "published", (json_int_t)bus->published,
			  "publish_failed", (json_int_t)bus->publish_failed, "publish_refused",
			  (json_int_t)bus->publish_refused, "commits", (json_int_t)bus->commits,
			  "commit_failures", (json_int_t)bus->commit_failures,
			  "threshold_stops", (json_int_t)bus->threshold_stops,
			  "partition_pauses", (json_int_t)bus->partition_pauses, "rebalances",
			  (json_int_t)bus->rebalances));
	json_object_set_new(h, "last_error",
			    bus->last_error[0] ? onex_json_string_lossy(bus->last_error)
					       : json_null());
	return h;
}

/* A setting as librdkafka holds it (what the contract gave, after expansion). */
static json_t *effective(const struct kafka_bus *bus, const char *name)
{
	char value[1024];
	size_t size = sizeof(value);
	if (!bus->rk[CONSUMER] ||
	    rd_kafka_conf_get(rd_kafka_conf(bus->rk[CONSUMER]), name, value, &size) !=
		    RD_KAFKA_CONF_OK)
		return json_null();
	return onex_json_string_lossy(value);
}

static json_t *kafka_describe(struct onex_bus *base)
{
	struct kafka_bus *bus = bus_self(base);
	json_t *d = json_pack(
		"{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:i,s:i,s:i,s:i,s:s,s:s}", "kind", UNIT,
		"library", rd_kafka_version_str(), "bootstrap_servers", bus->bootstrap,
		"consumer_group", bus->group, "client_id", bus->client_id, "input_topic",
		bus->input, "output_topic", bus->output, "dead_letter_topic", bus->dlq,
		"max_inflight_envelopes", (int)bus->inflight_max,
		"pause_consumption_threshold", (int)bus->pause_at, "circuit_breaker_threshold",
		(int)bus->circuit_threshold, "circuit_open_ms", (int)bus->circuit_open_ms,
		"delivery", "at-least-once: offsets committed after the reply is acknowledged",
		"producer", "acks=all, idempotent");
	json_object_set_new(d, "fetch_wait_max_ms", bus->fetch_wait_ms < 0
							    ? json_null()
							    : json_integer(bus->fetch_wait_ms));
	json_object_set_new(d, "librdkafka_config",
			    json_pack("{s:o,s:o,s:o}", "bootstrap.servers",
				      effective(bus, "bootstrap.servers"), "group.id",
				      effective(bus, "group.id"), "client.id",
				      effective(bus, "client.id")));
	json_object_set_new(d, "session_timeout_ms",
			    bus->session_timeout_ms < 0 ? json_null()
							: json_integer(bus->session_timeout_ms));
	return d;
}

/*
 * Stop consuming: what was taken and not acked stays uncommitted (the
 * group gets it again); what is finished is committed; the consumer
 * starts leaving its group (free() waits for that, bounded). Publishes
 * already handed to librdkafka keep going while the loop runs.
 */
static void kafka_shutdown(struct onex_bus *base)
{
	struct kafka_bus *bus = bus_self(base);
	rd_kafka_error_t *error;
	if (bus->shut)
		return;
	bus->shut = 1;
	commit_now(bus, -1);
	for (size_t i = 0; i < bus->nparts; i++)
		if (bus->parts[i] && bus->parts[i]->assigned)
			part_forget(bus, bus->parts[i]);
	for (struct pub *pub = bus->pubs; pub; pub = pub->next)
		if (pub->retry_armed) {
			onex_loop_timer_cancel(bus->env.loop, pub->retry_timer);
			pub->retry_armed = 0;
		}
	error = rd_kafka_consumer_close_queue(bus->rk[CONSUMER], bus->queue[CONSUMER]);
	if (error) {
		note_error(bus, "close", rd_kafka_error_code(error), rd_kafka_error_string(error));
		rd_kafka_error_destroy(error);
	}
	onex_log(bus->env.log, bus->consuming ? ONEX_LOG_INFO : ONEX_LOG_DEBUG, NULL, NULL,
		 "kafka bus: shut down: %llu taken, %llu delivered, %llu acked, %llu dead "
		 "letters, %llu replies published, %llu failed, %llu refused",
		 (unsigned long long)bus->taken, (unsigned long long)bus->delivered,
		 (unsigned long long)bus->acked, (unsigned long long)bus->dead_lettered,
		 (unsigned long long)bus->published, (unsigned long long)bus->publish_failed,
		 (unsigned long long)bus->publish_refused);
}

static void cancel_timers(struct kafka_bus *bus)
{
	if (bus->housekeeping_armed)
		onex_loop_timer_cancel(bus->env.loop, bus->housekeeping_timer);
	if (bus->kick_armed)
		onex_loop_timer_cancel(bus->env.loop, bus->kick_timer);
	if (bus->commit_armed)
		onex_loop_timer_cancel(bus->env.loop, bus->commit_timer);
	if (bus->rewind_armed)
		onex_loop_timer_cancel(bus->env.loop, bus->rewind_timer);
	bus->housekeeping_armed = bus->kick_armed = bus->commit_armed = bus->rewind_armed = 0;
	for (struct pub *pub = bus->pubs; pub; pub = pub->next)
		if (pub->retry_armed) {
			onex_loop_timer_cancel(bus->env.loop, pub->retry_timer);
			pub->retry_armed = 0;
		}
}

/*
 * The one place that waits: the loop has stopped, and the consumer should
 * leave its group (so its partitions move at once, not after the session
 * timeout) and the producer deliver what it holds. Both bounded.
 */
static void close_consumer(struct kafka_bus *bus)
{
	rd_kafka_t *rk = bus->rk[CONSUMER];
	int waited_ms = 0;
	if (!bus->queue[CONSUMER]) { /* creation failed half-way: nothing to leave */
		rd_kafka_destroy_flags(rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
		bus->rk[CONSUMER] = NULL;
		return;
	}
	if (!bus->shut) {
		rd_kafka_error_t *error = rd_kafka_consumer_close_queue(rk, bus->queue[CONSUMER]);
		if (error)
			rd_kafka_error_destroy(error);
	}
	while (!rd_kafka_consumer_closed(rk) && waited_ms < (int)ONEX_KAFKA_CLOSE_WAIT_MS) {
		rd_kafka_message_t *msg = rd_kafka_consumer_poll(rk, 20);
		if (msg)
			rd_kafka_message_destroy(msg);
		waited_ms += 20;
	}
	if (!rd_kafka_consumer_closed(rk))
		onex_log(bus->env.log, ONEX_LOG_WARN, NULL, NULL,
			 "kafka bus: consumer did not leave group %s within %u ms", bus->group,
			 ONEX_KAFKA_CLOSE_WAIT_MS);
	for (size_t i = 0; i < bus->nparts; i++)
		if (bus->parts[i])
			part_queue_close(bus->parts[i]); /* before their handle */
	rd_kafka_queue_destroy(bus->queue[CONSUMER]);
	bus->queue[CONSUMER] = NULL;
	rd_kafka_destroy_flags(rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
	bus->rk[CONSUMER] = NULL;
}

static void kafka_free(struct onex_bus *base)
{
	struct kafka_bus *bus = bus_self(base);
	if (bus->watching)
		onex_loop_fd_unwatch(bus->env.loop, bus->pipe_r);
	bus->watching = 0;
	cancel_timers(bus);
	bus->freeing = 1;
	held_drop(bus, -1); /* messages go before their handle */
	if (bus->rk[PRODUCER] && rd_kafka_outq_len(bus->rk[PRODUCER]) > 0)
		rd_kafka_flush(bus->rk[PRODUCER], ONEX_KAFKA_FLUSH_WAIT_MS);
	for (struct pub *pub = bus->pubs; pub; pub = pub->next)
		if (pub->src) {
			rd_kafka_message_destroy(pub->src);
			pub->src = NULL;
		}
	if (bus->rk[CONSUMER])
		close_consumer(bus);
	if (bus->rk[PRODUCER]) {
		for (int i = 0; i < 2; i++)
			if (bus->warm[i])
				rd_kafka_topic_destroy(bus->warm[i]);
		if (bus->queue[PRODUCER])
			rd_kafka_queue_destroy(bus->queue[PRODUCER]);
		rd_kafka_purge(bus->rk[PRODUCER], RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
		rd_kafka_poll(bus->rk[PRODUCER], 0); /* purged reports free their pubs */
		rd_kafka_destroy(bus->rk[PRODUCER]);
	}
	while (bus->pubs)
		pub_free(bus, bus->pubs);
	for (size_t i = 0; i < bus->nparts; i++)
		if (bus->parts[i]) {
			free(bus->parts[i]->ring);
			free(bus->parts[i]);
		}
	free(bus->parts);
	free(bus->held);
	if (bus->pipe_r >= 0)
		close(bus->pipe_r);
	if (bus->pipe_w >= 0)
		close(bus->pipe_w);
	free(bus);
}

static const struct onex_bus_ops kafka_ops = {
	.kind = UNIT,
	.subscribe = kafka_subscribe,
	.start_consuming = kafka_start_consuming,
	.publish = kafka_publish,
	.ack = kafka_ack,
	.release = onex_kafka_bus_release,
	.pause = kafka_pause,
	.resume = kafka_resume,
	.health_check = kafka_health,
	.describe = kafka_describe,
	.shutdown = kafka_shutdown,
	.free = kafka_free,
};

/* ---- configuration ------------------------------------------------------------------- */

static int config_error(const struct onex_contract_bus *config, struct onex_error *err,
			const char *hint, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int config_error(const struct onex_contract_bus *config, struct onex_error *err,
			const char *hint, const char *fmt, ...)
{
	char text[ONEX_ERROR_TEXT_BYTES];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	onex_error_set(err, ONEX_ERR_CONTRACT_VALIDATION_ERROR, "event_bus.config",
		       config->line, config->column, "%s", text);
	if (hint)
		onex_error_hint(err, "%s", hint);
	return -1;
}

/* A text setting: 0 and copied, 1 when absent, -1 when unusable. */
static int config_text(const struct onex_contract_bus *config, const char *key, char *buf,
		       size_t size, struct onex_error *err)
{
	const json_t *v = json_object_get(config->config, key);
	const char *s = json_string_value(v);
	if (!v || json_is_null(v))
		return 1;
	if (!s || !*s || strlen(s) >= size)
		return config_error(config, err, NULL,
				    "event_bus.config.%s must be text of 1 to %zu bytes", key,
				    size - 1);
	/*
	 * No check for "${": the contract loader has expanded references
	 * already, so one still here is a literal (written "$${") or came from
	 * a variable's value, and is meant as it stands.
	 */
	memcpy(buf, s, strlen(s) + 1);
	return 0;
}

/* An integer setting in [min, max]: 0 and set, 1 when absent, -1 out of range. */
static int config_int(const struct onex_contract_bus *config, const char *key, long min,
		      long max, long *out, struct onex_error *err)
{
	const json_t *v = json_object_get(config->config, key);
	if (!v || json_is_null(v))
		return 1;
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
		return config_error(config, err, NULL,
				    "event_bus.config.%s must be an integer from %ld to %ld", key,
				    min, max);
	*out = (long)json_integer_value(v);
	return 0;
}

static int read_limits(struct kafka_bus *bus, const struct onex_contract_bus *config,
		       struct onex_error *err)
{
	long inflight = ONEX_KAFKA_INFLIGHT_DEFAULT, pause = ONEX_KAFKA_PAUSE_THRESHOLD_DEFAULT;
	long circuit = ONEX_KAFKA_CIRCUIT_THRESHOLD_DEFAULT;
	int r_inflight = config_int(config, "max_inflight_envelopes", 1, ONEX_HOST_INFLIGHT_MAX,
				    &inflight, err);
	int r_pause = config_int(config, "pause_consumption_threshold", 1,
				 ONEX_HOST_INFLIGHT_MAX, &pause, err);
	if (r_inflight < 0 || r_pause < 0 ||
	    config_int(config, "circuit_breaker_threshold", 1, INT32_MAX, &circuit, err) < 0 ||
	    config_int(config, "fetch_wait_max_ms", 0, 300000, &bus->fetch_wait_ms, err) < 0 ||
	    config_int(config, "session_timeout_ms", 1, 3600000, &bus->session_timeout_ms,
		       err) < 0)
		return -1;
	/* One of the pair given: keep the other in proportion (80 of 100). */
	if (r_pause == 1 && r_inflight == 0)
		pause = inflight * 4 / 5 > 0 ? inflight * 4 / 5 : 1;
	if (r_inflight == 1 && r_pause == 0 && pause > inflight)
		inflight = pause;
	if (pause > inflight)
		return config_error(config, err, NULL,
				    "pause_consumption_threshold (%ld) is above "
				    "max_inflight_envelopes (%ld)", pause, inflight);
	bus->inflight_max = (unsigned)inflight;
	bus->pause_at = (unsigned)pause;
	bus->circuit_threshold = (unsigned)circuit;
	bus->circuit_open_ms = ONEX_KAFKA_CIRCUIT_OPEN_MS;
	return 0;
}

static int read_config(struct kafka_bus *bus, const struct onex_contract_bus *config,
		       struct onex_error *err)
{
	static const char need[] = "the kafka bus needs event_bus.config.bootstrap_servers "
				   "and event_bus.config.consumer_group";
	int r;
	if (!config || !json_is_object(config->config))
		return onex_error_set(err, ONEX_ERR_CONTRACT_VALIDATION_ERROR, "event_bus", 0, 0,
				      "%s", need);
	if ((r = config_text(config, "bootstrap_servers", bus->bootstrap,
			     sizeof(bus->bootstrap), err)) != 0 ||
	    (r = config_text(config, "consumer_group", bus->group, sizeof(bus->group), err)) != 0)
		return r < 0 ? -1 : config_error(config, err, NULL, "%s", need);
	snprintf(bus->client_id, sizeof(bus->client_id), "onex-host");
	snprintf(bus->input, sizeof(bus->input), "%s", config->topic_input);
	snprintf(bus->output, sizeof(bus->output), "%s", config->topic_output);
	if (config_text(config, "client_id", bus->client_id, sizeof(bus->client_id), err) < 0 ||
	    (r = config_text(config, "dead_letter_topic", bus->dlq, sizeof(bus->dlq), err)) < 0)
		return -1;
	if (r == 1 && (!bus->input[0] || strlen(bus->input) + 4 > ONEX_TOPIC_BYTES_MAX))
		return config_error(config, err, "set event_bus.config.dead_letter_topic",
				    "no dead-letter topic: '%s.dlq' is not a usable topic name",
				    bus->input);
	if (r == 1)
		snprintf(bus->dlq, sizeof(bus->dlq), "%s.dlq", bus->input);
	return read_limits(bus, config, err);
}

/* ---- the two librdkafka handles --------------------------------------------------------- */

static int conf_set(rd_kafka_conf_t *conf, const char *key, const char *value,
		    struct onex_error *err)
{
	char errstr[512];
	if (rd_kafka_conf_set(conf, key, value, errstr, sizeof(errstr)) == RD_KAFKA_CONF_OK)
		return 0;
	return onex_error_set(err, ONEX_ERR_CONTRACT_VALIDATION_ERROR, "event_bus.config", 0, 0,
			      "librdkafka refused %s=%s: %s", key, value, errstr);
}

static int conf_common(struct kafka_bus *bus, rd_kafka_conf_t *conf, struct onex_error *err)
{
	char ms[24], backoff[24];
	snprintf(ms, sizeof(ms), "%u", ONEX_KAFKA_STATS_INTERVAL_MS);
	snprintf(backoff, sizeof(backoff), "%u", ONEX_KAFKA_RECONNECT_BACKOFF_MAX_MS);
	rd_kafka_conf_set_opaque(conf, bus);
	rd_kafka_conf_set_error_cb(conf, on_error);
	rd_kafka_conf_set_log_cb(conf, on_log);
	rd_kafka_conf_set_stats_cb(conf, on_stats);
	return conf_set(conf, "bootstrap.servers", bus->bootstrap, err) ||
	       conf_set(conf, "client.id", bus->client_id, err) ||
	       conf_set(conf, "log.queue", "true", err) ||
	       conf_set(conf, "log.connection.close", "false", err) ||
	       conf_set(conf, "statistics.interval.ms", ms, err) ||
	       conf_set(conf, "reconnect.backoff.max.ms", backoff, err)
		       ? -1
		       : 0;
}

static int conf_consumer(struct kafka_bus *bus, rd_kafka_conf_t *conf, struct onex_error *err)
{
	char num[24], kbytes[24], messages[24], heartbeat[24], fetch[24];
	snprintf(kbytes, sizeof(kbytes), "%u", ONEX_KAFKA_FETCH_QUEUE_KBYTES);
	snprintf(messages, sizeof(messages), "%u", ONEX_KAFKA_FETCH_QUEUE_MESSAGES);
	snprintf(fetch, sizeof(fetch), "%u", ONEX_KAFKA_FETCH_PARTITION_BYTES);
	/*
	 * Prefetch: every partition has its own queue (see take_messages), so
	 * both bounds apply per assigned partition: librdkafka stops fetching
	 * a partition once its queue holds queued.min.messages messages or
	 * queued.max.messages.kbytes, and fetches again once the bus has taken
	 * some (after its fetch backoff). Beyond them, at most one fetch per
	 * partition is on its way (fetch.message.max.bytes; larger messages
	 * still come, librdkafka raises it for them).
	 */
	if (conf_common(bus, conf, err) < 0 ||
	    conf_set(conf, "group.id", bus->group, err) < 0 ||
	    conf_set(conf, "enable.auto.commit", "false", err) < 0 ||
	    conf_set(conf, "enable.auto.offset.store", "false", err) < 0 ||
	    conf_set(conf, "auto.offset.reset", "earliest", err) < 0 ||
	    conf_set(conf, "queued.max.messages.kbytes", kbytes, err) < 0 ||
	    conf_set(conf, "queued.min.messages", messages, err) < 0 ||
	    conf_set(conf, "fetch.message.max.bytes", fetch, err) < 0)
		return -1;
	rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
	rd_kafka_conf_set_offset_commit_cb(conf, on_commit);
	if (bus->fetch_wait_ms >= 0) {
		snprintf(num, sizeof(num), "%ld", bus->fetch_wait_ms);
		if (conf_set(conf, "fetch.wait.max.ms", num, err) < 0)
			return -1;
	}
	if (bus->session_timeout_ms >= 0) {
		long hb = bus->session_timeout_ms / 3 > 3000 ? 3000 : bus->session_timeout_ms / 3;
		snprintf(num, sizeof(num), "%ld", bus->session_timeout_ms);
		snprintf(heartbeat, sizeof(heartbeat), "%ld", hb > 0 ? hb : 1);
		if (conf_set(conf, "session.timeout.ms", num, err) < 0 ||
		    conf_set(conf, "heartbeat.interval.ms", heartbeat, err) < 0)
			return -1;
	}
	return 0;
}

static int conf_producer(struct kafka_bus *bus, rd_kafka_conf_t *conf, struct onex_error *err)
{
	char kbytes[24], messages[24], bytes[24], linger[24];
	snprintf(kbytes, sizeof(kbytes), "%u", ONEX_KAFKA_PRODUCER_QUEUE_KBYTES);
	snprintf(messages, sizeof(messages), "%u", ONEX_KAFKA_PRODUCER_QUEUE_MESSAGES);
	snprintf(bytes, sizeof(bytes), "%u", ONEX_KAFKA_MESSAGE_BYTES_MAX);
	snprintf(linger, sizeof(linger), "%u", ONEX_KAFKA_LINGER_MS);
	rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	return conf_common(bus, conf, err) < 0 || conf_set(conf, "acks", "all", err) < 0 ||
			       conf_set(conf, "enable.idempotence", "true", err) < 0 ||
			       conf_set(conf, "linger.ms", linger, err) < 0 ||
			       conf_set(conf, "queue.buffering.max.kbytes", kbytes, err) < 0 ||
			       conf_set(conf, "queue.buffering.max.messages", messages, err) < 0 ||
			       conf_set(conf, "message.max.bytes", bytes, err) < 0
		       ? -1
		       : 0;
}

static rd_kafka_t *new_handle(struct kafka_bus *bus, rd_kafka_type_t type,
			      struct onex_error *err)
{
	char errstr[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_t *rk;
	if ((type == RD_KAFKA_CONSUMER ? conf_consumer(bus, conf, err)
				       : conf_producer(bus, conf, err)) < 0) {
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	if (!(rk = rd_kafka_new(type, conf, errstr, sizeof(errstr)))) {
		rd_kafka_conf_destroy(conf); /* only taken on success */
		onex_error_set(err, ONEX_ERR_EVENT_BUS_ERROR, UNIT, 0, 0,
			       "could not create the Kafka %s: %s",
			       type == RD_KAFKA_CONSUMER ? "consumer" : "producer", errstr);
		return NULL;
	}
	rd_kafka_set_log_queue(rk, NULL); /* log lines through the main queue */
	return rk;
}

/* Both handles, their queues writing into one pipe the loop watches. */
static int connect_loop(struct kafka_bus *bus, struct onex_error *err)
{
	int fds[2];
	if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0)
		return onex_error_set(err, ONEX_ERR_EVENT_BUS_ERROR, UNIT, 0, 0, "pipe: %s",
				      strerror(errno));
	bus->pipe_r = fds[0];
	bus->pipe_w = fds[1];
	if (!(bus->rk[CONSUMER] = new_handle(bus, RD_KAFKA_CONSUMER, err)) ||
	    !(bus->rk[PRODUCER] = new_handle(bus, RD_KAFKA_PRODUCER, err)))
		return -1;
	rd_kafka_poll_set_consumer(bus->rk[CONSUMER]);
	bus->queue[CONSUMER] = rd_kafka_queue_get_consumer(bus->rk[CONSUMER]);
	bus->queue[PRODUCER] = rd_kafka_queue_get_main(bus->rk[PRODUCER]);
	rd_kafka_queue_io_event_enable(bus->queue[CONSUMER], bus->pipe_w, "c", 1);
	rd_kafka_queue_io_event_enable(bus->queue[PRODUCER], bus->pipe_w, "p", 1);
	if (onex_loop_fd_watch(bus->env.loop, bus->pipe_r, ONEX_LOOP_READABLE, on_wakeup, bus,
			       err) < 0) {
		onex_error_hint(err, "the Kafka bus needs a loop that watches descriptors");
		return -1;
	}
	bus->watching = 1;
	/* Knowing the topics now gets their metadata before the first reply. */
	bus->warm[0] = rd_kafka_topic_new(bus->rk[PRODUCER], bus->output, NULL);
	bus->warm[1] = rd_kafka_topic_new(bus->rk[PRODUCER], bus->dlq, NULL);
	if (onex_loop_timer_add(bus->env.loop, ONEX_KAFKA_HOUSEKEEPING_MS * MS,
				housekeeping_fire, bus, &bus->housekeeping_timer, err) < 0)
		return -1;
	bus->housekeeping_armed = 1;
	return 0;
}

static struct onex_bus *kafka_create(const struct onex_bus_env *env,
				     const struct onex_contract_bus *config,
				     struct onex_error *err)
{
	struct kafka_bus *bus;
	if (!env || !env->loop)
		ONEX_BUG("the Kafka bus needs a loop");
	if (!(bus = calloc(1, sizeof(*bus)))) {
		onex_error_set(err, ONEX_ERR_EVENT_BUS_ERROR, UNIT, 0, 0, "out of memory");
		return NULL;
	}
	bus->base.ops = &kafka_ops;
	bus->env = *env;
	bus->pipe_r = bus->pipe_w = -1;
	bus->fetch_wait_ms = bus->session_timeout_ms = -1;
	bus->brokers_up[CONSUMER] = bus->brokers_up[PRODUCER] = -1;
	bus->reachable[CONSUMER] = bus->reachable[PRODUCER] = -1;
	bus->created_ns = onex_loop_now_ns(env->loop);
	if (read_config(bus, config, err) < 0 || connect_loop(bus, err) < 0) {
		kafka_free(&bus->base);
		return NULL;
	}
	return &bus->base;
}

const struct onex_bus_unit onex_kafka_bus_unit = {
	.kind = UNIT,
	.create = kafka_create,
};

int onex_kafka_bus_is(const struct onex_bus *bus)
{
	return bus && bus->ops == &kafka_ops;
}

void onex_kafka_bus_release(struct onex_bus *base, uint64_t token)
{
	release_token(bus_self(base), token);
}

void onex_kafka_bus_set_circuit_open_ms(struct onex_bus *base, unsigned ms)
{
	bus_self(base)->circuit_open_ms = ms;
}
