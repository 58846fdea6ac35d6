/*
 * kafka_bus.h - the Kafka bus unit (spec §8), on librdkafka.
 *
 * Contract: runtime.event_bus.kind "kafka"; event_bus.config gives
 * bootstrap_servers and consumer_group (required), client_id,
 * dead_letter_topic (default "<input>.dlq"), max_inflight_envelopes (100),
 * pause_consumption_threshold (80), circuit_breaker_threshold (5),
 * fetch_wait_max_ms, session_timeout_ms (librdkafka's defaults when absent).
 *
 * What it guarantees (docs/BACKENDS.md has the long form):
 *   - at-least-once: an input offset is committed only once the host has
 *     acked its message, which the host does after the reply was
 *     acknowledged by the broker (acks=all, idempotent producer); commits
 *     never pass a message that is not acked yet, whatever order acks
 *     come in;
 *   - replies: envelope bytes as the value, the key the host gives
 *     (correlation_id) as the message key;
 *   - a message no reply can be addressed to (over ONEX_ENVELOPE_BYTES_MAX,
 *     empty, not UTF-8, not a JSON object) goes to the dead-letter topic
 *     with headers onex-dlq-reason, onex-source-topic,
 *     onex-source-partition, onex-source-offset; its offset is committed
 *     once the dead-letter copy is acknowledged; consumption continues;
 *   - at most max_inflight_envelopes messages taken and not finished;
 *     fetching pauses at pause_consumption_threshold and resumes at half
 *     of it;
 *   - after circuit_breaker_threshold consecutive failed publishes,
 *     publish() fails at once with CIRCUIT_OPEN for 30 s, then lets one
 *     publish through (half-open) and closes on its success;
 *   - one thread: librdkafka's queues wake the loop through a pipe
 *     (rd_kafka_queue_io_event_enable) and a 100 ms loop timer does the
 *     housekeeping; every librdkafka call made from the loop returns at
 *     once. Only free() waits, bounded, for the consumer to leave its group.
 *
 * Kafka input never ends: the `closed` callback is never called.
 */
#ifndef ONEX_KAFKA_BUS_H
#define ONEX_KAFKA_BUS_H

#include <stdint.h>

#include "bus.h"
#include "limits.h"

/*
 * Bounds of the Kafka bus. They belong in core/limits.h; defined here,
 * each guarded, until they move there.
 */
#ifndef ONEX_KAFKA_INFLIGHT_DEFAULT
#define ONEX_KAFKA_INFLIGHT_DEFAULT 100u	  /* max_inflight_envelopes */
#define ONEX_KAFKA_PAUSE_THRESHOLD_DEFAULT 80u	  /* pause_consumption_threshold */
#define ONEX_KAFKA_CIRCUIT_THRESHOLD_DEFAULT 5u	  /* circuit_breaker_threshold */
#define ONEX_KAFKA_CIRCUIT_OPEN_MS 30000u	  /* open, before half-open */
#define ONEX_KAFKA_HOUSEKEEPING_MS 100u		  /* periodic poll of both handles */
#define ONEX_KAFKA_COMMIT_INTERVAL_MS 50u	  /* acks are committed in batches */
#define ONEX_KAFKA_COMMIT_RETRY_MS 1000u	  /* after a failed commit */
#define ONEX_KAFKA_EVENTS_PER_TURN_MAX 256u	  /* then yield to the loop */
#define ONEX_KAFKA_PARTITIONS_MAX 4096u		  /* partitions of the input topic */
#define ONEX_KAFKA_PRODUCER_QUEUE_KBYTES 65536u	  /* queue.buffering.max.kbytes */
#define ONEX_KAFKA_PRODUCER_QUEUE_MESSAGES 100000u /* queue.buffering.max.messages */
#define ONEX_KAFKA_FETCH_QUEUE_KBYTES 16384u	  /* queued.max.messages.kbytes */
#define ONEX_KAFKA_MESSAGE_BYTES_MAX (ONEX_ENVELOPE_BYTES_MAX + 65536u)
#define ONEX_KAFKA_DLQ_VALUE_BYTES_MAX ONEX_ENVELOPE_BYTES_MAX /* longer: truncated */
#define ONEX_KAFKA_DLQ_RETRY_MS_MIN 1000u
#define ONEX_KAFKA_DLQ_RETRY_MS_MAX 30000u
#define ONEX_KAFKA_STATS_INTERVAL_MS 1000u	  /* broker states for health */
#define ONEX_KAFKA_CLOSE_WAIT_MS 5000u		  /* free(): leave the group */
#define ONEX_KAFKA_FLUSH_WAIT_MS 5000u		  /* free(): deliver queued replies */
#define ONEX_KAFKA_LINGER_MS 1u			  /* linger.ms: replies are latency-bound */
#define ONEX_KAFKA_RECONNECT_BACKOFF_MAX_MS 2000u /* librdkafka's 10 s is slow to recover */
#define ONEX_KAFKA_RELEASE_BACKOFF_MS_MIN 1000u	  /* a released message comes again */
#define ONEX_KAFKA_RELEASE_BACKOFF_MS_MAX 30000u
#define ONEX_KAFKA_STALLED_MS 120000u		  /* oldest in flight: health degraded */
#endif

extern const struct onex_bus_unit onex_kafka_bus_unit;

/* True when `bus` was made by this unit. */
int onex_kafka_bus_is(const struct onex_bus *bus);

/*
 * Give a delivered message back without a reply (its reply could not be
 * published): it is not committed, and after a backoff (1 s, doubling up
 * to 30 s while it repeats) it and the messages after it on its partition
 * are delivered again. Without this, such a message holds its partition's
 * commits back until the host restarts. Meant to become the bus port's
 * `release` operation, called by the host when a reply publish fails.
 */
void onex_kafka_bus_release(struct onex_bus *bus, uint64_t token);

/*
 * Tests only: how long the circuit stays open before half-open
 * (default ONEX_KAFKA_CIRCUIT_OPEN_MS).
 */
void onex_kafka_bus_set_circuit_open_ms(struct onex_bus *bus, unsigned ms);

#endif
