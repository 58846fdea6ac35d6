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
 *   - at most pause_consumption_threshold (<= max_inflight_envelopes)
 *     messages taken and not finished: the bus stops taking messages at
 *     the threshold and takes again below it; librdkafka's prefetch is
 *     kept, bounded per assigned partition by queued.min.messages and
 *     queued.max.messages.kbytes (core/limits.h);
 *   - after circuit_breaker_threshold consecutive failed publishes,
 *     publish() fails at once with CIRCUIT_OPEN for 30 s, then lets one
 *     publish through (half-open) and closes on its success;
 *   - one thread: librdkafka's queues wake the loop through a pipe
 *     (rd_kafka_queue_io_event_enable) and a 100 ms loop timer does the
 *     housekeeping; no librdkafka call made from the loop waits on the
 *     network. Only free(), after the loop stopped, waits (bounded) for
 *     the consumer to leave its group and the producer to flush.
 *
 * Kafka input never ends: the `closed` callback is never called.
 */
#ifndef ONEX_KAFKA_BUS_H
#define ONEX_KAFKA_BUS_H

#include <stdint.h>

#include "bus.h"
#include "limits.h"


extern const struct onex_bus_unit onex_kafka_bus_unit;

/* True when `bus` was made by this unit. */
int onex_kafka_bus_is(const struct onex_bus *bus);

/*
 * Give a delivered message back without a reply (its reply could not be
 * published): it is not committed, and after a backoff (1 s, doubling up
 * to 30 s while it repeats) it and the messages after it on its partition
 * are delivered again. Without this, such a message holds its partition's
 * commits back until the host restarts. It is the unit's `release`
 * operation (onex_bus_release), called by the host when a reply publish
 * fails.
 */
void onex_kafka_bus_release(struct onex_bus *bus, uint64_t token);

/*
 * Tests only: how long the circuit stays open before half-open
 * (default ONEX_KAFKA_CIRCUIT_OPEN_MS).
 */
void onex_kafka_bus_set_circuit_open_ms(struct onex_bus *bus, unsigned ms);

#endif
