/*
 * ir.h - instructions per envelope, counted by valgrind's callgrind.
 *
 * `onex-bench __ir WORKLOAD N` builds the workload's host (outside the
 * count), warms it up, then runs N envelopes inside
 * onex_bench_ir_region(); callgrind runs it with --collect-atstart=no
 * --toggle-collect=onex_bench_ir_region, so the total Ir it writes is the
 * region's alone, and Ir / N is the figure. Deterministic to the
 * instruction for a given binary (jansson's hash seed is fixed), so
 * `compare` checks it without statistics.
 */
#ifndef ONEX_BENCH_IR_H
#define ONEX_BENCH_IR_H

#include <stddef.h>

#include "bench.h"

/* True when valgrind can be run. */
int onex_bench_ir_available(void);

/*
 * Run `wl`'s fixed workload under callgrind. 0 with *ir_per_env, or -1
 * with why (valgrind missing or failed).
 */
int onex_bench_ir_measure(const struct onex_bench_ctx *ctx, const struct onex_bench_workload *wl,
			  double *ir_per_env, char *why, size_t why_size);

/* `onex-bench __ir WORKLOAD N [SEED]`: the child callgrind runs. */
int onex_bench_ir_child_main(struct onex_bench_ctx *ctx, int argc, char **argv);

#endif
