/*
 * host.h - the runtime host of spec §9: builds its units through the
 * wiring table, consumes envelopes from the bus, routes each through
 * NodeRuntime to a handler, and publishes a response or error envelope.
 *
 * The host talks to units only through ports (loop, clock, ids, log, bus,
 * handlers). It counts envelopes in flight; v0.1's "sequential per
 * subscription" is inflight_max = 1. Per envelope: validate -> assign a
 * missing envelope_id / correlation_id / timestamp -> route -> execute
 * (with a timeout) -> publish the reply -> ack the input message.
 */
#ifndef ONEX_HOST_H
#define ONEX_HOST_H

#include <jansson.h>
#include <stdint.h>

#include "bus.h"
#include "clock.h"
#include "contract.h"
#include "error.h"
#include "ids.h"
#include "log.h"
#include "loop.h"
#include "wiring.h"

/* What the composition root hands the host. All borrowed; they outlive the host. */
struct onex_host_env {
	struct onex_loop *loop;
	struct onex_clock *clock;
	struct onex_ids *ids;
	struct onex_log *log;
	const struct onex_wiring *wiring;
	void *root; /* passed to units' create() as env->root */
};

struct onex_host_options {
	unsigned inflight_max;	    /* 0 = ONEX_HOST_INFLIGHT_DEFAULT (1) */
	unsigned shutdown_grace_s;  /* 0 = ONEX_SHUTDOWN_GRACE_S_DEFAULT; clamped 1..300 */
	const char *bus_kind;	    /* overrides the contract's event_bus.kind, or NULL */
	struct onex_contract_options contract; /* for node contracts */
};

/* Counters, for health and tests. */
struct onex_host_stats {
	uint64_t received;	  /* messages delivered by the bus */
	uint64_t responded_ok;	  /* success replies published */
	uint64_t responded_error; /* error replies published */
	uint64_t publish_failed;  /* replies the bus refused or failed */
	uint64_t replies_lost;	  /* of those, on a bus that cannot redeliver the request */
	uint64_t timed_out;	  /* handler calls answered with TIMEOUT */
	uint64_t abandoned;	  /* in flight when the grace period ended */
};

struct onex_host;

/*
 * Create the bus and handlers the contract names (through env->wiring),
 * initialize the handlers, load the node contracts, subscribe to the input
 * topic. On failure nothing is left allocated and err says why
 * (exit code 1 territory: contract or configuration).
 * Ownership: the host borrows `contract` and env's ports.
 */
int onex_host_new(const struct onex_host_env *env,
		  const struct onex_runtime_contract *contract,
		  const struct onex_host_options *opt, struct onex_host **out,
		  struct onex_error *err);

/* Start consuming. Envelopes flow once the loop runs. */
int onex_host_start(struct onex_host *host, struct onex_error *err);

/*
 * Begin the shutdown of spec §9: stop consuming, drain in-flight envelopes
 * within the grace period, shut each handler down once, shut the bus down,
 * stop the loop. Idempotent. Also triggered when the bus input ends.
 */
void onex_host_shutdown(struct onex_host *host);

/* True once shutdown has completed (handlers and bus shut down). */
int onex_host_is_stopped(const struct onex_host *host);

const struct onex_host_stats *onex_host_stats(const struct onex_host *host);

/* Health JSON (REFERENCE "Health"). New reference. */
json_t *onex_host_health(struct onex_host *host);

/* --describe-wiring JSON: binary, bus, handlers with describe(), nodes. New reference. */
json_t *onex_host_describe_wiring(struct onex_host *host);

/* The bus the host created (for roots and tests). Borrowed. */
struct onex_bus *onex_host_bus(struct onex_host *host);

/* Free everything; shuts handlers down first if that has not happened. */
void onex_host_free(struct onex_host *host);

#endif
