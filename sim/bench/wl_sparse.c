/*
 * wl_sparse.c - sim-sparse: one echo envelope per virtual second for 24
 * virtual hours (86 400 envelopes), published by a loop timer that re-arms
 * itself, so the scheduler must jump over the idle time between them.
 * Measures the wall time of the whole day and the ratio virtual / wall,
 * and each envelope's wall-clock round trip.
 */
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "simhost.h"

#define S_NS 1000000000ull
#define DAY_S 86400ull

struct sparse {
	struct onex_bench_host bh;
	uint64_t seconds, published;
	uint64_t sent_wall_ns;
	struct onex_hist *hist;
	int failed;
};

static void tick(void *arg)
{
	struct sparse *s = arg;
	struct onex_loop *loop = onex_sim_scheduler_loop(s->bh.sched);
	if (s->hist)
		s->sent_wall_ns = onex_bench_wall_ns();
	if (onex_bench_host_publish(&s->bh, onex_bench_echo_envelope,
				    onex_bench_echo_envelope_len, NULL) < 0)
		s->failed = 1;
	if (++s->published < s->seconds &&
	    onex_loop_timer_add(loop, S_NS, tick, s, NULL, NULL) < 0)
		s->failed = 1;
}

static void on_reply(void *arg, const char *data, size_t len)
{
	struct sparse *s = arg;
	(void)data, (void)len;
	if (s->hist)
		onex_hist_record(s->hist, (int64_t)(onex_bench_wall_ns() - s->sent_wall_ns));
}

static int sparse_open(struct sparse *s, uint64_t seed, uint64_t seconds, struct onex_error *err)
{
	memset(s, 0, sizeof(*s));
	struct onex_bench_host_config cfg = {
		.contract_yaml = onex_bench_contract_local,
		.inflight_max = 1,
		.seed = seed,
		.on_reply = on_reply,
		.reply_arg = s,
	};
	s->seconds = seconds;
	if (onex_bench_host_open(&s->bh, &cfg, err) < 0)
		return -1;
	/* The first envelope at t = 1 s; the last at t = `seconds` s. */
	return onex_loop_timer_add(onex_sim_scheduler_loop(s->bh.sched), S_NS, tick, s, NULL, err);
}

static int sparse_drive(struct sparse *s)
{
	onex_bench_host_run_until(&s->bh, onex_bench_host_now_ns(&s->bh) + (s->seconds + 1) * S_NS);
	return !s->failed && s->bh.replies == s->seconds ? 0 : -1;
}

static int sparse_run_once(struct onex_bench_ctx *ctx, struct onex_bench_result *res, unsigned rep)
{
	struct sparse s;
	struct onex_error err;
	struct onex_hist h;
	(void)rep;
	onex_error_clear(&err);
	if (onex_hist_init(&h, ONEX_BENCH_HIST_LOWEST, ONEX_BENCH_HIST_HIGHEST,
			   ONEX_BENCH_HIST_SIG_FIGS) < 0)
		return -1;
	onex_bench_rss_reset();
	if (sparse_open(&s, ctx->seed, DAY_S, &err) < 0) {
		snprintf(res->note, sizeof(res->note), "host did not start: %.400s", err.text);
		onex_bench_host_close(&s.bh);
		onex_hist_release(&h);
		return -1;
	}
	s.hist = &h;
	double floor_cpu = onex_bench_floor_cpu_ns(2000);
	uint64_t v0 = onex_bench_host_now_ns(&s.bh);
	uint64_t cpu0 = onex_bench_cpu_ns(), t0 = onex_bench_wall_ns();
	int rc = sparse_drive(&s);
	double wall = (double)(onex_bench_wall_ns() - t0), cpu = (double)(onex_bench_cpu_ns() - cpu0);
	double virt = (double)(onex_bench_host_now_ns(&s.bh) - v0);
	long hwm = onex_bench_vmhwm_kb();
	uint64_t replies = s.bh.replies;
	onex_bench_host_close(&s.bh);
	if (rc < 0) {
		snprintf(res->note, sizeof(res->note), "%llu of %llu replies arrived",
			 (unsigned long long)replies, (unsigned long long)DAY_S);
		onex_hist_release(&h);
		return -1;
	}
	onex_bench_add(res, "virtual_per_wall", "x", ONEX_BENCH_HIGHER, ONEX_BENCH_SAMPLED, virt / wall);
	onex_bench_add(res, "wall", "s", ONEX_BENCH_LOWER, ONEX_BENCH_SAMPLED, wall / 1e9);
	onex_bench_add(res, "throughput", "env/s", ONEX_BENCH_HIGHER, ONEX_BENCH_SAMPLED,
		       (double)DAY_S / (wall / 1e9));
	onex_bench_add(res, "cpu_per_env", "ns", ONEX_BENCH_LOWER, ONEX_BENCH_SAMPLED,
		       cpu / (double)DAY_S);
	onex_bench_add(res, "cpu_vs_floor", "x", ONEX_BENCH_LOWER, ONEX_BENCH_SAMPLED,
		       cpu / (double)DAY_S / floor_cpu);
	onex_bench_add_latency(res, "latency", &h, ONEX_BENCH_SAMPLED,
			       "wall-clock round trip of each envelope");
	onex_bench_add_peak_rss(res, hwm);
	onex_bench_add(res, "virtual_seconds", "s", ONEX_BENCH_NEITHER, ONEX_BENCH_EXACT, virt / 1e9);
	onex_bench_add(res, "envelopes", "", ONEX_BENCH_NEITHER, ONEX_BENCH_INFO, (double)DAY_S);
	onex_hist_release(&h);
	return 0;
}

/* ---- callgrind: the first `n` virtual seconds ------------------------------------- */

static void *sparse_ir_setup(const struct onex_bench_ctx *ctx, unsigned long n)
{
	struct sparse *s = malloc(sizeof(*s));
	struct onex_error err;
	onex_error_clear(&err);
	if (sparse_open(s, ctx->seed, n, &err) < 0) {
		fprintf(stderr, "onex-bench: host did not start: %s\n", err.text);
		exit(1);
	}
	return s;
}

static void sparse_ir_body(void *state)
{
	if (sparse_drive(state) < 0)
		abort();
}

static void sparse_ir_teardown(void *state)
{
	struct sparse *s = state;
	onex_bench_host_close(&s->bh);
	free(s);
}

const struct onex_bench_workload onex_bench_wl_sparse = {
	.name = "sim-sparse",
	.group = "sim-sparse",
	.what = "one envelope per virtual second for 24 virtual hours (86400 envelopes)",
	.run_once = sparse_run_once,
	.ir_setup = sparse_ir_setup,
	.ir_body = sparse_ir_body,
	.ir_teardown = sparse_ir_teardown,
	.ir_envelopes = 1000,
	.ir_envelopes_quick = 200,
};
