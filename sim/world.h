/*
 * world.h - one simulated world: the scheduler (virtual clock and loop),
 * seeded ids, the trace, the sim log, and the composition of onex-sim's
 * units. It is the composition root of the simulation: the only sim file
 * that names concrete units, through its wiring table.
 *
 * Every handler and the bus the host creates are wrapped in recording
 * decorators (ARCHITECTURE_NOTES "Recording and replay sit at the ports"):
 * they write every publish, delivery, handler call and result to the trace
 * and are where scheduled faults act. The host and kernel see plain ports.
 */
#ifndef ONEX_SIM_WORLD_H
#define ONEX_SIM_WORLD_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "bus.h"
#include "error.h"
#include "handler.h"
#include "host.h"
#include "log.h"
#include "prng.h"
#include "scheduler.h"

/* Wall clock of a world at virtual time 0: 2025-01-01T00:00:00Z. */
#define ONEX_SIM_EPOCH_NS (1735689600LL * 1000000000LL)

/* One message published on the bus, as the world saw it. */
struct onex_sim_publish {
	char *topic;
	char *data; /* NUL-terminated copy */
	size_t len;
	uint64_t t_us;
	uint64_t visible_us; /* when a reader of the topic can see it (bus_delay) */
	int by_host;	     /* 0: published by the scenario */
	int dropped;	     /* lost to a drop_publish fault */
	int refused;	     /* the bus refused it (queue full, ...): nobody sees it */
};

/* One message delivered to the host. */
struct onex_sim_delivery {
	char *topic;
	char *data;
	size_t len;
	uint64_t t_us;
	char *position; /* as the bus names it in messages: "inmemory <topic> #N" */
};

/* Log lines a world keeps (for expect_log and the log invariant); later ones are counted. */
#define ONEX_SIM_LOG_LINES_MAX 65536u

/* One log line (at or above the log's min_level), as a unit or the host wrote it. */
struct onex_sim_logline {
	enum onex_log_level level;
	char *correlation_id; /* NULL when the line carried none */
	char *envelope_id;    /* NULL when the line carried none */
	char *msg;
	uint64_t t_us;
};

struct onex_sim_world {
	struct onex_sim_scheduler *sched;
	struct onex_loop *loop;
	struct onex_clock *clock;
	struct onex_ids *ids;
	struct onex_log log;
	struct onex_prng prng;
	uint64_t seed;

	/* The trace: JSON lines, when wanted. */
	int want_trace;
	char *trace;
	size_t trace_len, trace_cap;

	/* What crossed the bus. */
	struct onex_sim_publish *published;
	size_t published_count, published_cap;
	struct onex_sim_delivery *delivered;
	size_t delivered_count, delivered_cap;
	int scenario_publishing; /* set while the scenario publishes */

	/* Decorators the host created, by handler type, and the bus. */
	struct onex_handler *handlers[ONEX_HANDLER__COUNT];
	struct onex_bus *bus;

	/* Fault state. */
	struct {
		uint64_t latency_ns;
		int error, timeout;
	} handler_fault[ONEX_HANDLER__COUNT];
	struct onex_sim_topic_fault {
		char topic[ONEX_TOPIC_BYTES_MAX + 1];
		unsigned duplicate, drop;
		uint64_t delay_ns; /* bus_delay in force */
	} topic_faults[8];
	size_t topic_fault_count;
	unsigned warnings; /* log lines at warn or above */
	struct onex_sim_logline *logs;
	size_t log_count, log_cap, logs_not_kept;
};

/* The wiring table of onex-sim (traced fake http, SQLite db, local; in-memory bus). */
extern const struct onex_wiring onex_sim_wiring;

/* Ownership: free with onex_sim_world_free(). NULL on out of memory. */
struct onex_sim_world *onex_sim_world_new(uint64_t seed, int want_trace);
void onex_sim_world_free(struct onex_sim_world *w);

uint64_t onex_sim_world_now_us(const struct onex_sim_world *w);

/* Append one trace event: `fields` (stolen) gets "t_us" and "event" first. */
void onex_sim_trace(struct onex_sim_world *w, const char *event, json_t *fields);

/*
 * Record an event only when the trace is on: `fields` is not even built
 * otherwise (building events costs parses and allocations per envelope).
 */
#define ONEX_SIM_TRACE(w, event, fields)                          \
	do {                                                      \
		if ((w)->want_trace)                              \
			onex_sim_trace((w), (event), (fields));   \
	} while (0)

/* The inner (undecorated) handler of a type the host created, or NULL. */
struct onex_handler *onex_sim_world_inner_handler(struct onex_sim_world *w,
						  enum onex_handler_type type);

/* The in-memory bus inside the traced bus, or NULL before the host made it. */
struct onex_bus *onex_sim_world_inner_bus(struct onex_sim_world *w);

/* Publish as the scenario (recorded with by_host = 0). */
int onex_sim_world_publish(struct onex_sim_world *w, const char *topic,
			   const char *data, size_t len, struct onex_error *err);

/* Topic fault counters (duplicate / drop), creating the entry. */
struct onex_sim_topic_fault *onex_sim_world_topic_fault(struct onex_sim_world *w,
							const char *topic);

#endif
