/*
 * wl_floor.c - the floor: what one envelope costs at the very least, in
 * this process and this run, so every other figure can be read as a ratio.
 *
 * One floor round trip is what any host must do with the echo envelope:
 * jansson decode (onex_envelope_parse), validate (onex_envelope_init),
 * build the response (onex_envelope_build_reply, the payload shared, not
 * copied; id and timestamp given) and encode it (onex_envelope_encode).
 * No bus, no loop, no ids, no clock. Beside it: a plain memcpy of the
 * envelope's bytes, the cost of merely moving them.
 *
 * The breakdown (decode_ns, validate_ns, build_ns, encode_ns, release_ns)
 * times each phase directly: a second loop of the same round trips with a
 * timestamp between phases, each phase's time summed over the iterations;
 * the phases add up to the round trip (plus ~100 ns of clock reads).
 * peak_rss: VmHWM after resetting it at the start of the repetition
 * (onex_bench_rss_reset), so the process's peak while the floor ran.
 */
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "envelope.h"
#include "simhost.h"

#define REPLY_ID "7e57e57e-0000-4000-8000-000000000001"
#define REPLY_TS "2025-01-01T00:00:00.000000Z"

static unsigned long envelopes(const struct onex_bench_ctx *ctx)
{
	return ctx->quick ? 5000ul : 20000ul;
}

/* The whole floor round trip; returns the reply's length. */
static size_t round_trip(const char *data, size_t len)
{
	json_t *json = NULL;
	struct onex_envelope env;
	size_t out_len = 0;
	if (onex_envelope_parse(data, len, &json, NULL) < 0 ||
	    onex_envelope_init(&env, json, NULL) < 0)
		abort();
	struct onex_reply_spec spec = { REPLY_ID, REPLY_TS, &env, 1,
					json_incref((json_t *)env.payload), NULL, NULL };
	json_t *reply = onex_envelope_build_reply(&spec);
	char *text = onex_envelope_encode(reply, &out_len);
	if (!text)
		abort();
	onex_bench_escape(text);
	free(text);
	json_decref(reply);
	onex_envelope_release(&env);
	return out_len;
}

/* Where a floor round trip spends its time: ns per phase, summed over the iterations. */
struct floor_phases {
	double decode, validate, build, encode, release;
};

/*
 * The round trip of round_trip(), with a timestamp between phases. The
 * five clock reads (~20 ns each through the vDSO) are charged to the
 * phases they end; the sum is within a few percent of the plain loop.
 */
static void phased_round_trips(unsigned long n, struct floor_phases *p)
{
	memset(p, 0, sizeof(*p));
	for (unsigned long i = 0; i < n; i++) {
		json_t *json = NULL;
		struct onex_envelope env;
		size_t out_len = 0;
		uint64_t t0 = onex_bench_wall_ns();
		if (onex_envelope_parse(onex_bench_echo_envelope, onex_bench_echo_envelope_len, &json,
					NULL) < 0)
			abort();
		uint64_t t1 = onex_bench_wall_ns();
		if (onex_envelope_init(&env, json, NULL) < 0)
			abort();
		uint64_t t2 = onex_bench_wall_ns();
		struct onex_reply_spec spec = { REPLY_ID, REPLY_TS, &env, 1,
						json_incref((json_t *)env.payload), NULL, NULL };
		json_t *reply = onex_envelope_build_reply(&spec);
		uint64_t t3 = onex_bench_wall_ns();
		char *text = onex_envelope_encode(reply, &out_len);
		if (!text)
			abort();
		onex_bench_escape(text);
		uint64_t t4 = onex_bench_wall_ns();
		free(text);
		json_decref(reply);
		onex_envelope_release(&env);
		uint64_t t5 = onex_bench_wall_ns();
		p->decode += (double)(t1 - t0);
		p->validate += (double)(t2 - t1);
		p->build += (double)(t3 - t2);
		p->encode += (double)(t4 - t3);
		p->release += (double)(t5 - t4);
	}
	p->decode /= (double)n, p->validate /= (double)n, p->build /= (double)n;
	p->encode /= (double)n, p->release /= (double)n;
}

static double memcpy_ns(unsigned long n)
{
	char buf[2048];
	size_t len = onex_bench_echo_envelope_len;
	uint64_t t0 = onex_bench_wall_ns();
	for (unsigned long i = 0; i < n; i++) {
		memcpy(buf, onex_bench_echo_envelope, len);
		onex_bench_escape(buf);
	}
	return (double)(onex_bench_wall_ns() - t0) / (double)n;
}

static int floor_run_once(struct onex_bench_ctx *ctx, struct onex_bench_result *res,
			  unsigned rep)
{
	unsigned long n = envelopes(ctx);
	struct onex_hist h;
	(void)rep;
	if (onex_hist_init(&h, ONEX_BENCH_HIST_LOWEST, ONEX_BENCH_HIST_HIGHEST,
			   ONEX_BENCH_HIST_SIG_FIGS) < 0)
		return -1;
	onex_bench_rss_reset();
	for (unsigned long i = 0; i < n / 10; i++) /* warm the allocator and caches */
		round_trip(onex_bench_echo_envelope, onex_bench_echo_envelope_len);

	struct onex_bench_batches batches;
	onex_bench_batches_start(&batches, n);
	uint64_t cpu0 = onex_bench_cpu_ns(), t0 = onex_bench_wall_ns(), prev = t0;
	for (unsigned long i = 0; i < n; i++) {
		round_trip(onex_bench_echo_envelope, onex_bench_echo_envelope_len);
		uint64_t now = onex_bench_wall_ns();
		onex_hist_record(&h, (int64_t)(now - prev));
		onex_bench_batches_tick(&batches, now);
		prev = now;
	}
	double wall = (double)(prev - t0), cpu = (double)(onex_bench_cpu_ns() - cpu0);
	double rate = onex_bench_batches_rate(&batches);

	onex_bench_add(res, "throughput", "env/s", ONEX_BENCH_HIGHER, ONEX_BENCH_SAMPLED, rate);
	onex_bench_add(res, "throughput_total", "env/s", ONEX_BENCH_HIGHER, ONEX_BENCH_INFO,
		       (double)n / (wall / 1e9));
	onex_bench_add(res, "ns_per_env", "ns", ONEX_BENCH_LOWER, ONEX_BENCH_SAMPLED, 1e9 / rate);
	onex_bench_add(res, "cpu_per_env", "ns", ONEX_BENCH_LOWER, ONEX_BENCH_SAMPLED, cpu / (double)n);
	onex_bench_add_latency(res, "latency", &h, ONEX_BENCH_SAMPLED,
			       "wall-clock time of one floor round trip");
	onex_hist_release(&h);

	struct floor_phases ph;
	phased_round_trips(n, &ph);
	onex_bench_add(res, "decode_ns", "ns", ONEX_BENCH_LOWER, ONEX_BENCH_INFO, ph.decode);
	onex_bench_add(res, "validate_ns", "ns", ONEX_BENCH_LOWER, ONEX_BENCH_INFO, ph.validate);
	onex_bench_add(res, "build_ns", "ns", ONEX_BENCH_LOWER, ONEX_BENCH_INFO, ph.build);
	onex_bench_add(res, "encode_ns", "ns", ONEX_BENCH_LOWER, ONEX_BENCH_INFO, ph.encode);
	onex_bench_add(res, "build_encode_ns", "ns", ONEX_BENCH_LOWER, ONEX_BENCH_INFO,
		       ph.build + ph.encode);
	onex_bench_add(res, "release_ns", "ns", ONEX_BENCH_LOWER, ONEX_BENCH_INFO, ph.release);
	onex_bench_add(res, "memcpy_ns", "ns", ONEX_BENCH_LOWER, ONEX_BENCH_INFO,
		       memcpy_ns(n * 100));
	onex_bench_add_peak_rss(res, onex_bench_vmhwm_kb());
	onex_bench_add(res, "envelope_bytes", "B", ONEX_BENCH_NEITHER, ONEX_BENCH_INFO,
		       (double)onex_bench_echo_envelope_len);
	return 0;
}

double onex_bench_floor_cpu_ns(unsigned long n)
{
	for (unsigned long i = 0; i < n / 10; i++)
		round_trip(onex_bench_echo_envelope, onex_bench_echo_envelope_len);
	uint64_t t0 = onex_bench_cpu_ns();
	for (unsigned long i = 0; i < n; i++)
		round_trip(onex_bench_echo_envelope, onex_bench_echo_envelope_len);
	return (double)(onex_bench_cpu_ns() - t0) / (double)n;
}

/* ---- callgrind ------------------------------------------------------------------- */

struct floor_ir {
	unsigned long n;
};

static void *floor_ir_setup(const struct onex_bench_ctx *ctx, unsigned long n)
{
	struct floor_ir *s = malloc(sizeof(*s));
	(void)ctx;
	s->n = n;
	for (int i = 0; i < 100; i++)
		round_trip(onex_bench_echo_envelope, onex_bench_echo_envelope_len);
	return s;
}

static void floor_ir_body(void *state)
{
	struct floor_ir *s = state;
	for (unsigned long i = 0; i < s->n; i++)
		round_trip(onex_bench_echo_envelope, onex_bench_echo_envelope_len);
}

static void floor_ir_teardown(void *state)
{
	free(state);
}

const struct onex_bench_workload onex_bench_wl_floor = {
	.name = "floor",
	.group = "floor",
	.what = "jansson decode + validate + build response + encode of the echo envelope; "
		"and a plain memcpy of it",
	.run_once = floor_run_once,
	.ir_setup = floor_ir_setup,
	.ir_body = floor_ir_body,
	.ir_teardown = floor_ir_teardown,
	.ir_envelopes = 1000,
	.ir_envelopes_quick = 200,
};
