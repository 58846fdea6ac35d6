/*
 * wl_echo.c - sim-echo: the echo envelope through the full host loop on
 * the simulation units (in-memory bus, virtual clock, seeded ids,
 * local.echo), one at a time: publish, run the loop until the consumer on
 * the output topic has the reply, next. Each round trip is timed on the
 * wall clock; virtual time moves 1 ms per envelope.
 *
 * Three wirings of the same host:
 *   sim-echo        the units themselves (trace off)
 *   sim-echo-world  onex-sim's recording decorators, trace text off
 *   sim-echo-trace  onex-sim's recording decorators, trace text on
 */
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "simhost.h"

#define MS_NS 1000000ull

struct echo_cfg {
	int world, trace;
};

static const struct echo_cfg cfg_plain = { 0, 0 }, cfg_world = { 1, 0 }, cfg_trace = { 1, 1 };

static unsigned long envelopes(const struct onex_bench_ctx *ctx, const struct echo_cfg *c)
{
	(void)c;
	return ctx->quick ? 5000ul : 20000ul;
}

static int open_host(struct onex_bench_host *bh, const struct echo_cfg *c, uint64_t seed,
		     struct onex_error *err)
{
	struct onex_bench_host_config cfg = {
		.contract_yaml = onex_bench_contract_local,
		.world = c->world,
		.want_trace = c->trace,
		.inflight_max = 1,
		.seed = seed,
	};
	return onex_bench_host_open(bh, &cfg, err);
}

/* One round trip; 0, or -1 when the reply did not come. */
static int one(struct onex_bench_host *bh)
{
	uint64_t before = bh->replies;
	if (onex_bench_host_publish(bh, onex_bench_echo_envelope, onex_bench_echo_envelope_len,
				    NULL) < 0)
		return -1;
	onex_bench_host_run_until(bh, onex_bench_host_now_ns(bh) + MS_NS);
	return bh->replies == before + 1 ? 0 : -1;
}

static int echo_run(struct onex_bench_ctx *ctx, struct onex_bench_result *res,
		    const struct echo_cfg *c)
{
	struct onex_bench_host bh;
	struct onex_error err;
	struct onex_hist h;
	unsigned long n = envelopes(ctx, c);
	onex_error_clear(&err);
	if (onex_hist_init(&h, ONEX_BENCH_HIST_LOWEST, ONEX_BENCH_HIST_HIGHEST,
			   ONEX_BENCH_HIST_SIG_FIGS) < 0)
		return -1;
	onex_bench_rss_reset();
	if (open_host(&bh, c, ctx->seed, &err) < 0) {
		snprintf(res->note, sizeof(res->note), "host did not start: %.400s", err.text);
		onex_hist_release(&h);
		return -1;
	}
	for (unsigned long i = 0; i < n / 10; i++) /* warm up */
		if (one(&bh) < 0)
			goto lost;
	double floor_cpu = onex_bench_floor_cpu_ns(n / 10);
	struct onex_bench_batches batches;
	onex_bench_batches_start(&batches, n);
	uint64_t cpu0 = onex_bench_cpu_ns(), t0 = onex_bench_wall_ns(), prev = t0;
	uint64_t trace0 = onex_bench_host_trace_bytes(&bh);
	for (unsigned long i = 0; i < n; i++) {
		if (one(&bh) < 0)
			goto lost;
		uint64_t now = onex_bench_wall_ns();
		onex_hist_record(&h, (int64_t)(now - prev));
		onex_bench_batches_tick(&batches, now);
		prev = now;
	}
	double wall = (double)(prev - t0), cpu = (double)(onex_bench_cpu_ns() - cpu0);
	double trace_per_env = (double)(onex_bench_host_trace_bytes(&bh) - trace0) / (double)n;
	long hwm = onex_bench_vmhwm_kb();
	onex_bench_host_close(&bh);

	onex_bench_add(res, "throughput", "env/s", ONEX_BENCH_HIGHER, ONEX_BENCH_SAMPLED,
		       onex_bench_batches_rate(&batches));
	onex_bench_add(res, "throughput_total", "env/s", ONEX_BENCH_HIGHER, ONEX_BENCH_INFO,
		       (double)n / (wall / 1e9));
	onex_bench_add(res, "cpu_per_env", "ns", ONEX_BENCH_LOWER, ONEX_BENCH_SAMPLED,
		       cpu / (double)n);
	onex_bench_add(res, "cpu_vs_floor", "x", ONEX_BENCH_LOWER, ONEX_BENCH_SAMPLED,
		       cpu / (double)n / floor_cpu);
	onex_bench_add_latency(res, "latency", &h, ONEX_BENCH_SAMPLED,
			       "wall-clock round trip: publish to reply consumed");
	onex_bench_add_peak_rss(res, hwm);
	if (c->trace)
		onex_bench_add(res, "trace_bytes_per_env", "B", ONEX_BENCH_LOWER,
			       ONEX_BENCH_EXACT, trace_per_env);
	onex_bench_add(res, "envelopes", "", ONEX_BENCH_NEITHER, ONEX_BENCH_INFO, (double)n);
	onex_hist_release(&h);
	return 0;
lost:
	snprintf(res->note, sizeof(res->note), "a reply did not come within 1 ms of virtual time");
	onex_bench_host_close(&bh);
	onex_hist_release(&h);
	return -1;
}

static int echo_plain_run(struct onex_bench_ctx *ctx, struct onex_bench_result *res, unsigned rep)
{
	(void)rep;
	return echo_run(ctx, res, &cfg_plain);
}

static int echo_world_run(struct onex_bench_ctx *ctx, struct onex_bench_result *res, unsigned rep)
{
	(void)rep;
	return echo_run(ctx, res, &cfg_world);
}

static int echo_trace_run(struct onex_bench_ctx *ctx, struct onex_bench_result *res, unsigned rep)
{
	(void)rep;
	return echo_run(ctx, res, &cfg_trace);
}

/* ---- callgrind ------------------------------------------------------------------- */

struct echo_ir {
	struct onex_bench_host bh;
	unsigned long n;
};

static void *echo_ir_setup_cfg(const struct onex_bench_ctx *ctx, unsigned long n,
			       const struct echo_cfg *c)
{
	struct echo_ir *s = calloc(1, sizeof(*s));
	struct onex_error err;
	onex_error_clear(&err);
	s->n = n;
	if (open_host(&s->bh, c, ctx->seed, &err) < 0) {
		fprintf(stderr, "onex-bench: host did not start: %s\n", err.text);
		exit(1);
	}
	for (int i = 0; i < 100; i++)
		one(&s->bh);
	return s;
}

static void *echo_ir_setup(const struct onex_bench_ctx *ctx, unsigned long n)
{
	return echo_ir_setup_cfg(ctx, n, &cfg_plain);
}

static void *echo_world_ir_setup(const struct onex_bench_ctx *ctx, unsigned long n)
{
	return echo_ir_setup_cfg(ctx, n, &cfg_world);
}

static void *echo_trace_ir_setup(const struct onex_bench_ctx *ctx, unsigned long n)
{
	return echo_ir_setup_cfg(ctx, n, &cfg_trace);
}

static void echo_ir_body(void *state)
{
	struct echo_ir *s = state;
	for (unsigned long i = 0; i < s->n; i++)
		if (one(&s->bh) < 0)
			abort();
}

static void echo_ir_teardown(void *state)
{
	struct echo_ir *s = state;
	onex_bench_host_close(&s->bh);
	free(s);
}

const struct onex_bench_workload onex_bench_wl_echo = {
	.name = "sim-echo",
	.group = "sim-echo",
	.what = "full host loop on sim units (in-memory bus, virtual clock, local.echo), "
		"one envelope at a time; trace off",
	.run_once = echo_plain_run,
	.ir_setup = echo_ir_setup,
	.ir_body = echo_ir_body,
	.ir_teardown = echo_ir_teardown,
	.ir_envelopes = 1000,
	.ir_envelopes_quick = 200,
};

const struct onex_bench_workload onex_bench_wl_echo_world = {
	.name = "sim-echo-world",
	.group = "sim-echo",
	.what = "sim-echo through onex-sim's recording decorators (sim/world.h), trace text off",
	.run_once = echo_world_run,
	.ir_setup = echo_world_ir_setup,
	.ir_body = echo_ir_body,
	.ir_teardown = echo_ir_teardown,
	.ir_envelopes = 1000,
	.ir_envelopes_quick = 200,
};

const struct onex_bench_workload onex_bench_wl_echo_trace = {
	.name = "sim-echo-trace",
	.group = "sim-echo",
	.what = "sim-echo through onex-sim's recording decorators, trace on "
		"(onex_sim_world want_trace)",
	.run_once = echo_trace_run,
	.ir_setup = echo_trace_ir_setup,
	.ir_body = echo_ir_body,
	.ir_teardown = echo_ir_teardown,
	.ir_envelopes = 1000,
	.ir_envelopes_quick = 200,
};
