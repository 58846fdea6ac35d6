/*
 * wl_real.h - the real-unit workloads (wl_real_*.c), each measured next to
 * its reference loop in the same repetition.
 */
#ifndef ONEX_BENCH_WL_REAL_H
#define ONEX_BENCH_WL_REAL_H

#include <jansson.h>
#include <sched.h>
#include <sys/types.h>

#include "bench.h"
#include "histogram.h"
#include "envelope.h"
#include "handler.h"
#include "loop.h"

int onex_bench_real_http_run(struct onex_bench_ctx *ctx, struct onex_bench_result *res,
			     unsigned rep);
int onex_bench_real_db_run(struct onex_bench_ctx *ctx, struct onex_bench_result *res,
			   unsigned rep);
int onex_bench_real_kafka_run(struct onex_bench_ctx *ctx, struct onex_bench_result *res,
			      unsigned rep);

/*
 * Write res->note (printed above the workload's table): the median of
 * "vs_reference" and `how` the two sides were measured. The PASS/FAIL
 * verdict is in the target list (runner.c), not here.
 */
void onex_bench_real_note(struct onex_bench_result *res, const char *how);

/* A prerequisite is missing: say why, record nothing. Returns 0. */
int onex_bench_real_unavailable(struct onex_bench_result *res, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * One request through a real unit on its loop. Set loop and h; the rest
 * is the helper's. onex_bench_call_once() hands `req` to h and runs the
 * loop until the unit answers or ONEX_BENCH_CALL_GUARD_NS passes; it
 * returns the answer's payload when the unit said ok (the caller checks
 * it and json_decref()s it), NULL when it failed or timed out (or
 * answered ok with a JSON null payload).
 */
#define ONEX_BENCH_CALL_GUARD_NS (10000ull * 1000000ull) /* 10 s */
struct onex_bench_call {
	struct onex_loop *loop;
	struct onex_handler *h;
	json_t *payload;
	int done, ok;
};
json_t *onex_bench_call_once(struct onex_bench_call *c, const struct onex_envelope *req);

/*
 * The unit's side of one round (real-db, real-http): `n` requests, each
 * one(arg) (0, or -1 when it failed), the wall time from the end of one
 * to the end of the next recorded in `h`, the round's CPU time added to
 * *cpu_ns. The round's wall time in ns, or 0 when a request failed.
 */
uint64_t onex_bench_real_unit_round(int (*one)(void *arg), void *arg, unsigned long n,
				    struct onex_hist *h, double *cpu_ns);

/*
 * Pin the calling thread (and every process it forks from then on) and
 * up to ONEX_BENCH_PIN_MAX - 1 other processes (`others`, e.g. a server
 * that forks a process per connection) to the CPU the caller runs on;
 * onex_bench_unpin() gives each its old affinity back. Why: a loopback
 * client/server ping-pong on this 2-vCPU VM costs ~15 us per round trip
 * when both ends share a CPU and ~80 us when they don't (every wake-up an
 * inter-processor interrupt), and the scheduler placed the unit and its
 * reference differently, so their ratio measured placement. On one CPU
 * both sides pay the same switches. 0 when all are pinned; -1 when any
 * could not be (then nothing is left pinned, p->cpu is -1, and the
 * workload runs unpinned and says so).
 */
#define ONEX_BENCH_PIN_MAX 2
struct onex_bench_pin {
	int cpu; /* the CPU, or -1 */
	unsigned n; /* processes pinned (pid 0: the calling thread) */
	pid_t pid[ONEX_BENCH_PIN_MAX];
	cpu_set_t saved[ONEX_BENCH_PIN_MAX];
};
int onex_bench_pin_one_cpu(struct onex_bench_pin *p, const pid_t *others, unsigned n_others);
void onex_bench_unpin(struct onex_bench_pin *p);

#endif
