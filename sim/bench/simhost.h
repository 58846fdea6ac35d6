/*
 * simhost.h - a host on the simulation units, in this process, for the
 * benchmarks: the scheduler (virtual clock and loop), seeded ids, the
 * in-memory bus, and the local, fake http and SQLite db handlers.
 *
 * Two wirings:
 *   - plain: the units themselves, as a production-like host would link
 *     them (the benchmark's own wiring table; the log discards lines below
 *     WARN and counts the rest, so formatting costs are real);
 *   - world: onex-sim's composition (sim/world.h), every port wrapped in
 *     the recording decorators, with or without the trace text.
 *
 * A consumer subscribed to the output topic (on the undecorated bus)
 * receives every reply, hands it to `on_reply` and acks it, so the output
 * queue stays empty as it would behind a real consumer.
 */
#ifndef ONEX_BENCH_SIMHOST_H
#define ONEX_BENCH_SIMHOST_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "handler.h"
#include "host.h"
#include "log.h"
#include "scheduler.h"

struct onex_sim_world;

typedef void (*onex_bench_reply_cb)(void *arg, const char *data, size_t len);

struct onex_bench_host_config {
	const char *contract_yaml; /* runtime contract text */
	const char *base_dir;	   /* resolves nodes_dir; NULL: "." */
	int world;		   /* 1: onex-sim's decorated units */
	int want_trace;		   /* world only: keep the trace text */
	unsigned inflight_max;	   /* 0: the host's default (1) */
	uint64_t seed;
	const char *sql; /* run on the db handler before start, or NULL */
	onex_bench_reply_cb on_reply;
	void *reply_arg;
};

struct onex_bench_log {
	struct onex_log base;
	uint64_t lines;
};

struct onex_bench_host {
	struct onex_sim_scheduler *sched;
	struct onex_ids *ids; /* plain wiring: owned */
	struct onex_sim_world *world;
	struct onex_bench_log log;
	struct onex_runtime_contract *contract;
	struct onex_host *host;
	struct onex_bus *raw_bus; /* the in-memory bus (inside the decorator in world mode) */
	struct onex_handler *db, *http; /* undecorated units the host created */
	onex_bench_reply_cb on_reply;
	void *reply_arg;
	uint64_t replies;
	int world_mode;
};

/* Build and start the host. 0, or -1 with err (nothing left allocated). */
int onex_bench_host_open(struct onex_bench_host *bh, const struct onex_bench_host_config *cfg,
			 struct onex_error *err);

/* Publish on the contract's input topic (as a scenario would). */
int onex_bench_host_publish(struct onex_bench_host *bh, const char *data, size_t len,
			    struct onex_error *err);

uint64_t onex_bench_host_now_ns(const struct onex_bench_host *bh);
/* Fire every timer due by t_ns, then move virtual time to t_ns. */
void onex_bench_host_run_until(struct onex_bench_host *bh, uint64_t t_ns);
/* Fire the timers of the next instant that has any. 0, or -1 when none is pending. */
int onex_bench_host_run_next(struct onex_bench_host *bh);

/* Bytes of trace text the world holds (0 without a world or trace). */
size_t onex_bench_host_trace_bytes(const struct onex_bench_host *bh);

/* Shut down (drain within the grace period in virtual time) and free. */
void onex_bench_host_close(struct onex_bench_host *bh);

/* A request envelope the echo workloads and the floor share (NUL-terminated). */
extern const char onex_bench_echo_envelope[];
extern const size_t onex_bench_echo_envelope_len;

/* Runtime contract with only the local handler (plain wiring: no bus history). */
extern const char onex_bench_contract_local[];

#endif
