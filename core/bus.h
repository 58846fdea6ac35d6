/*
 * bus.h - the event-bus port (spec §8).
 *
 * A bus moves envelopes, as bytes, between processes: stdio, in-memory,
 * Kafka. The host subscribes one callback per topic; the bus delivers each
 * message once through it (never from inside a bus call: always from the
 * loop), and the host acks the message's token when its response has been
 * published, so an at-least-once bus (Kafka) commits only then.
 *
 * Flow control: the host calls pause() when it has as many envelopes in
 * flight as it allows and resume() when it is below again; a paused bus
 * delivers nothing and keeps what it has (bounded, see limits.h).
 */
#ifndef ONEX_BUS_H
#define ONEX_BUS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

struct onex_loop;
struct onex_clock;
struct onex_log;
struct onex_contract_bus;

/* One message as delivered. Borrowed: valid only during the callback. */
struct onex_bus_message {
	const char *topic;
	const char *data;
	size_t len;
	/*
	 * Size the message really had. When larger than `len` the message was
	 * over ONEX_ENVELOPE_BYTES_MAX and the bus did not keep it whole.
	 */
	size_t len_original;
	const char *position; /* "stdin line 3", "partition 0 offset 17", ... */
	uint64_t token;	      /* pass to ack() */
};

typedef void (*onex_bus_deliver_cb)(void *arg, const struct onex_bus_message *msg);
/* The input ended for good (stdin EOF); nothing more will be delivered. */
typedef void (*onex_bus_closed_cb)(void *arg);
/* A publish completed: status 0, or -1 with err (EVENT_BUS_ERROR). */
typedef void (*onex_bus_published_cb)(void *arg, int status,
				      const struct onex_error *err);

struct onex_bus;

struct onex_bus_ops {
	const char *kind;
	int (*subscribe)(struct onex_bus *bus, const char *topic,
			 onex_bus_deliver_cb deliver, onex_bus_closed_cb closed,
			 void *arg, struct onex_error *err);
	int (*start_consuming)(struct onex_bus *bus, struct onex_error *err);
	/*
	 * Publish `len` bytes (copied) under `key` (may be NULL). Returns -1
	 * with err when refused at once (queue full, shut down); otherwise
	 * `done` (may be NULL) is called later, once.
	 */
	int (*publish)(struct onex_bus *bus, const char *topic, const char *key,
		       const char *data, size_t len, onex_bus_published_cb done,
		       void *done_arg, struct onex_error *err);
	void (*ack)(struct onex_bus *bus, uint64_t token);
	/*
	 * Give a delivered message back unanswered (its reply could not be
	 * published): an at-least-once bus delivers it again later. NULL for
	 * buses that cannot redeliver (stdio, in-memory).
	 */
	void (*release)(struct onex_bus *bus, uint64_t token);
	void (*pause)(struct onex_bus *bus);
	void (*resume)(struct onex_bus *bus);
	json_t *(*health_check)(struct onex_bus *bus); /* new reference */
	json_t *(*describe)(struct onex_bus *bus);     /* new reference */
	/* Stop consuming and release connections; publishes still pending complete or fail. */
	void (*shutdown)(struct onex_bus *bus);
	void (*free)(struct onex_bus *bus);
};

/* Base struct: embed first in every bus. */
struct onex_bus {
	const struct onex_bus_ops *ops;
};

struct onex_bus_env {
	struct onex_loop *loop;
	struct onex_clock *clock;
	struct onex_log *log;
	void *root;
};

/* A bus unit as the wiring table lists it ("inmemory", "stdio", "kafka"). */
struct onex_bus_unit {
	const char *kind;
	struct onex_bus *(*create)(const struct onex_bus_env *env,
				   const struct onex_contract_bus *config,
				   struct onex_error *err);
};

static inline int onex_bus_subscribe(struct onex_bus *bus, const char *topic,
				     onex_bus_deliver_cb deliver,
				     onex_bus_closed_cb closed, void *arg,
				     struct onex_error *err)
{
	return bus->ops->subscribe(bus, topic, deliver, closed, arg, err);
}

static inline int onex_bus_start_consuming(struct onex_bus *bus,
					   struct onex_error *err)
{
	return bus->ops->start_consuming(bus, err);
}

static inline int onex_bus_publish(struct onex_bus *bus, const char *topic,
				   const char *key, const char *data, size_t len,
				   onex_bus_published_cb done, void *done_arg,
				   struct onex_error *err)
{
	return bus->ops->publish(bus, topic, key, data, len, done, done_arg, err);
}

static inline void onex_bus_ack(struct onex_bus *bus, uint64_t token)
{
	bus->ops->ack(bus, token);
}

static inline void onex_bus_release(struct onex_bus *bus, uint64_t token)
{
	if (bus->ops->release)
		bus->ops->release(bus, token);
}

static inline void onex_bus_pause(struct onex_bus *bus)
{
	bus->ops->pause(bus);
}

static inline void onex_bus_resume(struct onex_bus *bus)
{
	bus->ops->resume(bus);
}

static inline json_t *onex_bus_health_check(struct onex_bus *bus)
{
	return bus->ops->health_check(bus);
}

static inline json_t *onex_bus_describe(struct onex_bus *bus)
{
	return bus->ops->describe(bus);
}

static inline void onex_bus_shutdown(struct onex_bus *bus)
{
	bus->ops->shutdown(bus);
}

static inline void onex_bus_free(struct onex_bus *bus)
{
	if (bus)
		bus->ops->free(bus);
}

#endif
