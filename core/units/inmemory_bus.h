/*
 * inmemory_bus.h - the in-memory bus unit (spec §8): per-topic FIFO queues
 * in one process. It uses only the loop port, so the real host and the
 * simulation link the same code.
 *
 * Model (Kafka-like, one process):
 *   - publish() copies the bytes into the topic's queue and into a bounded
 *     history, and returns; delivery always happens later, from the loop.
 *   - Every subscriber of a topic receives every message published after it
 *     subscribed, in publish order. The first subscriber of a topic also
 *     receives what was queued while the topic had none (so an input topic
 *     filled before the host subscribed is not lost).
 *   - A message stays queued until every subscriber it was meant for has
 *     acked its token. A topic nobody subscribes to keeps its messages, so
 *     they count against the budget until it is full: reported, never
 *     silently dropped.
 *   - Nothing is delivered before start_consuming(), while paused, or after
 *     shutdown(); such messages stay queued, in order.
 *
 * Bounds: queued bytes (payload + ONEX_INMEMORY_MESSAGE_OVERHEAD_BYTES per
 * message) <= ONEX_INMEMORY_QUEUE_BYTES_MAX or config "queue_bytes_max";
 * a publish beyond it fails with EVENT_BUS_ERROR "queue full". History:
 * ONEX_INMEMORY_HISTORY_DEFAULT messages or config "history_size" (0 turns
 * it off), oldest evicted first. Messages longer than
 * ONEX_ENVELOPE_BYTES_MAX are kept truncated, with len_original telling the
 * host the real size. Topics <= ONEX_INMEMORY_TOPICS_MAX, subscriptions
 * <= ONEX_BUS_SUBSCRIPTIONS_MAX (also at most 64 per topic).
 *
 * Callbacks may publish, ack, pause and resume, but must not free the bus.
 */
#ifndef ONEX_INMEMORY_BUS_H
#define ONEX_INMEMORY_BUS_H

#include <stddef.h>
#include <stdint.h>

#include "bus.h"
#include "error.h"
#include "limits.h"

/* Bookkeeping charged per queued message, so empty messages are bounded too. */
#define ONEX_INMEMORY_MESSAGE_OVERHEAD_BYTES 64u

/* kind "inmemory"; create() reads config->config (may be NULL: defaults). */
extern const struct onex_bus_unit onex_inmemory_bus_unit;

/*
 * The unit's create(): env->loop is required. config may be NULL; else its
 * kind must be "inmemory" or empty, and config->config may hold
 * "history_size" (0..ONEX_INMEMORY_HISTORY_MAX) and "queue_bytes_max"
 * (1..ONEX_INMEMORY_QUEUE_BYTES_MAX); other keys (topics, ...) are ignored.
 * Errors: CONTRACT_VALIDATION_ERROR for bad config, EVENT_BUS_ERROR for
 * out of memory. Ownership: free with onex_bus_free().
 */
struct onex_bus *onex_inmemory_bus_new(const struct onex_bus_env *env,
				       const struct onex_contract_bus *config,
				       struct onex_error *err);

/* True when `bus` is an in-memory bus (the extra API below requires one). */
int onex_inmemory_bus_is(const struct onex_bus *bus);

/* Messages kept in the history (at most its size). */
size_t onex_inmemory_bus_history_count(const struct onex_bus *bus);

/*
 * The i-th kept message, 0 = oldest. Pointers are borrowed and stay valid
 * until the entry is evicted or the bus is freed. *len is the kept length
 * (see ONEX_ENVELOPE_BYTES_MAX). Any out pointer may be NULL. 0, or -1 when
 * i is out of range.
 */
int onex_inmemory_bus_history_get(const struct onex_bus *bus, size_t i,
				  const char **topic, const char **data,
				  size_t *len);

/*
 * Fault hook: each message published to `topic` from now on becomes
 * deliverable delay_ns after its publish (FIFO order is kept: a message is
 * never delivered before an earlier one of its topic). Creates the topic.
 */
int onex_inmemory_bus_set_delivery_delay(struct onex_bus *bus, const char *topic,
					 uint64_t delay_ns, struct onex_error *err);

/*
 * End of input for `topic`: later publishes to it fail, and once each
 * subscriber has received every queued message its `closed` callback is
 * called (from the loop), once. Creates the topic.
 */
int onex_inmemory_bus_close_topic(struct onex_bus *bus, const char *topic,
				  struct onex_error *err);

/* Messages not yet acked by all their subscribers, and the bytes charged. */
size_t onex_inmemory_bus_queued_count(const struct onex_bus *bus);
size_t onex_inmemory_bus_queued_bytes(const struct onex_bus *bus);

#endif
