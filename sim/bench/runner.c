/*
 * runner.c - running workloads, printing their tables, the targets.
 */
#include "runner.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "ir.h"
#include "stats.h"

/* ---- where the run happens ------------------------------------------------------------ */

static void first_line_of(const char *cmd, char *buf, size_t size)
{
	FILE *p = popen(cmd, "r");
	buf[0] = '\0';
	if (!p)
		return;
	if (fgets(buf, (int)size, p))
		buf[strcspn(buf, "\r\n")] = '\0';
	pclose(p);
}

static void cpu_model(char *buf, size_t size)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[512];
	snprintf(buf, size, "unknown-cpu");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "model name", 10) == 0 && strchr(line, ':')) {
			const char *v = strchr(line, ':') + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			snprintf(buf, size, "%s", v);
			buf[strcspn(buf, "\r\n")] = '\0';
			break;
		}
	}
	fclose(f);
}

static long mem_total_mb(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[256];
	long kb = 0;
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemTotal: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb / 1024;
}

/* Lowercase, runs of anything but [a-z0-9] become one '-'. */
static void slug(const char *in, char *out, size_t size)
{
	size_t n = 0;
	int dash = 0;
	for (const char *p = in; *p && n + 2 < size; p++) {
		if (isalnum((unsigned char)*p)) {
			if (dash && n)
				out[n++] = '-';
			out[n++] = (char)tolower((unsigned char)*p);
			dash = 0;
		} else {
			dash = 1;
		}
	}
	out[n] = '\0';
}

void onex_bench_run_init(struct onex_bench_run *run, struct onex_bench_ctx *ctx,
			 const char *command)
{
	char cpu[160], cpu_slug[64], status[8];
	struct utsname u;
	time_t now = time(NULL);
	struct tm tm;
	memset(run, 0, sizeof(*run));
	run->ctx = ctx;
	snprintf(run->command, sizeof(run->command), "%s", command);
	first_line_of("git rev-parse HEAD 2>/dev/null", run->git_commit, sizeof(run->git_commit));
	if (!run->git_commit[0])
		snprintf(run->git_commit, sizeof(run->git_commit), "unknown");
	first_line_of("git status --porcelain --untracked-files=no 2>/dev/null | head -1", status,
		      sizeof(status));
	run->git_dirty = status[0] != '\0';
	gmtime_r(&now, &tm);
	strftime(run->date, sizeof(run->date), "%Y-%m-%dT%H:%M:%SZ", &tm);
	cpu_model(cpu, sizeof(cpu));
	slug(cpu, cpu_slug, 40);
	if (uname(&u) < 0)
		memset(&u, 0, sizeof(u));
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	run->cpus = ncpu;
	run->load_start = onex_bench_loadavg();
	run->calibration_ns = onex_bench_calibrate_ns();
	snprintf(run->machine, sizeof(run->machine), "%.100s, %ld CPU(s), %ld MB RAM, %.20s %.40s %.20s", cpu,
		 ncpu, mem_total_mb(), u.sysname, u.release, u.machine);
	snprintf(run->machine_kind, sizeof(run->machine_kind), "%.16s-%.40s-%ldcpu",
		 u.machine[0] ? u.machine : "unknown", cpu_slug, ncpu);
}

double onex_bench_loadavg(void)
{
	FILE *f = fopen("/proc/loadavg", "r");
	double load = -1;
	if (!f)
		return -1;
	if (fscanf(f, "%lf", &load) != 1)
		load = -1;
	fclose(f);
	return load;
}

void onex_bench_print_load(const struct onex_bench_run *run, double load)
{
	if (load < 0 || load <= 0.5 * (double)run->cpus)
		return;
	fprintf(run->ctx->out,
		"WARNING: load average %.2f on %ld CPU(s): other processes compete for the CPUs, "
		"so wall-clock figures are noisy (instruction counts and virtual-time figures "
		"are not affected)\n",
		load, run->cpus);
}

void onex_bench_run_release(struct onex_bench_run *run)
{
	for (size_t i = 0; i < run->count; i++)
		onex_bench_result_release(&run->results[i]);
	run->count = 0;
}

struct onex_bench_result *onex_bench_run_find(struct onex_bench_run *run, const char *name)
{
	for (size_t i = 0; i < run->count; i++)
		if (strcmp(run->results[i].wl->name, name) == 0)
			return &run->results[i];
	return NULL;
}

int onex_bench_selected(const struct onex_bench_workload *wl, const char *const *names,
			size_t count)
{
	if (count == 0)
		return 1;
	for (size_t i = 0; i < count; i++)
		if (strcmp(names[i], wl->name) == 0 || strcmp(names[i], wl->group) == 0 ||
		    strcmp(names[i], "all") == 0)
			return 1;
	return 0;
}

/* ---- printing ----------------------------------------------------------------------- */

const char *onex_bench_fmt(double v, char *buf, size_t size)
{
	double a = fabs(v);
	if (a >= 1000.0 || v == floor(v))
		snprintf(buf, size, "%.0f", v);
	else if (a >= 100.0)
		snprintf(buf, size, "%.1f", v);
	else if (a >= 1.0)
		snprintf(buf, size, "%.2f", v);
	else
		snprintf(buf, size, "%.4f", v);
	return buf;
}

/* The floor's counterpart of a metric, for the "vs floor" column. */
static const char *floor_metric(const char *name)
{
	static const char *const same[] = { "throughput", "cpu_per_env", "ir_per_env",
					    "latency_p50", "latency_p99" };
	/* cpu_vs_floor is a ratio to the floor already. */
	for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++)
		if (strcmp(name, same[i]) == 0)
			return same[i];
	return NULL;
}

static const char *kind_name(enum onex_bench_kind k)
{
	return k == ONEX_BENCH_SAMPLED ? "" : k == ONEX_BENCH_EXACT ? " exact" : " info";
}

static int all_equal(const struct onex_bench_metric *m)
{
	for (size_t i = 1; i < m->n; i++)
		if (m->samples[i] != m->samples[0])
			return 0;
	return 1;
}

void onex_bench_print_result(const struct onex_bench_run *run, const struct onex_bench_result *res)
{
	FILE *out = run->ctx->out;
	const struct onex_bench_result *fl = run->count ? &run->results[0] : NULL;
	char a[32], b[32], c[32];
	if (!res->available) {
		fprintf(out, "   %s\n\n", res->note);
		return;
	}
	if (res->note[0])
		fprintf(out, "   %s\n", res->note);
	fprintf(out, "   %-22s %14s %-7s %-30s %s\n", "metric", "median", "unit", "spread", "vs floor");
	for (size_t i = 0; i < res->metric_count; i++) {
		const struct onex_bench_metric *m = &res->metrics[i];
		double med = onex_stats_median(m->samples, m->n);
		char spread[64] = "", ratio[32] = "";
		if (m->n > 1 && all_equal(m))
			snprintf(spread, sizeof(spread), "identical x%zu", m->n);
		else if (m->n > 1)
			snprintf(spread, sizeof(spread), "%s .. %s (%zu)",
				 onex_bench_fmt(onex_stats_min(m->samples, m->n), a, sizeof(a)),
				 onex_bench_fmt(onex_stats_max(m->samples, m->n), b, sizeof(b)), m->n);
		const char *fm = floor_metric(m->name);
		if (fl && fl != res && fm && onex_bench_metric_find(fl, fm)) {
			double base = onex_bench_value(fl, fm, 0);
			if (base > 0)
				snprintf(ratio, sizeof(ratio), "%.2fx", med / base);
		}
		char unit[32];
		snprintf(unit, sizeof(unit), "%s%s", m->unit, kind_name(m->kind));
		fprintf(out, "   %-22s %14s %-7s %-30s %s\n", m->name, onex_bench_fmt(med, c, sizeof(c)),
			unit, spread, ratio);
	}
	if (res->has_fingerprint)
		fprintf(out, "   fingerprint of the virtual-time results: %016llx%s\n",
			(unsigned long long)res->fingerprint,
			res->fingerprint_mismatch ? "  (DIFFERED between repetitions)" : "");
	if (res->has_hist && run->ctx->print_distribution) {
		fprintf(out, "   latency distribution: %s; microseconds; %lld values over the "
			     "repetitions; %zu KiB of counts (HdrHistogram percentile format):\n",
			res->hist_what, (long long)res->hist.total_count,
			onex_hist_memory_bytes(&res->hist) / 1024);
		onex_hist_print_distribution(&res->hist, out, 5, 1000.0);
	}
	fputc('\n', out);
}

/* ---- running --------------------------------------------------------------------------- */

/* One repetition of one workload; 0, or -1 when it failed (it is not run again). */
static int run_rep(struct onex_bench_run *run, struct onex_bench_result *res, unsigned rep)
{
	if (!res->available)
		return 0; /* a placeholder, a missing binary, or failed before */
	if (res->wl->run_once(run->ctx, res, rep) < 0) {
		res->available = 0;
		res->failed = 1;
		return -1;
	}
	res->ran = 1;
	res->measured = 1;
	return 0;
}

/*
 * Repetitions are interleaved: repetition 1 of every workload, then
 * repetition 2, ... so that a burst of load from other processes spreads
 * over all workloads instead of spoiling every sample of one of them.
 */
int onex_bench_run_workloads(struct onex_bench_run *run, const char *const *names,
			     size_t count, int with_ir)
{
	FILE *out = run->ctx->out;
	int failures = 0;
	size_t first = run->count;
	for (size_t i = 0; i < onex_bench_workload_count; i++) {
		const struct onex_bench_workload *wl = onex_bench_workloads[i];
		if (i != 0 && !onex_bench_selected(wl, names, count))
			continue;
		if (run->count == ONEX_BENCH_RESULTS_MAX)
			break;
		onex_bench_result_init(&run->results[run->count++], wl);
	}
	uint64_t t0 = onex_bench_wall_ns();
	for (unsigned rep = 0; rep < run->ctx->repetitions; rep++) {
		for (size_t i = first; i < run->count; i++)
			failures += run_rep(run, &run->results[i], rep) < 0;
		fprintf(out, "repetition %u of %u done (%.1f s)\n", rep + 1, run->ctx->repetitions,
			(double)(onex_bench_wall_ns() - t0) / 1e9);
		fflush(out);
	}
	fputc('\n', out);
	for (size_t i = first; i < run->count; i++) {
		struct onex_bench_result *res = &run->results[i];
		fprintf(out, "== %s: %s\n", res->wl->name, res->wl->what);
		if (res->failed)
			fprintf(out, "   FAILED to run: %s\n\n", res->note[0] ? res->note : "error");
		else
			onex_bench_print_result(run, res);
	}
	fflush(out);
	if (with_ir)
		onex_bench_run_ir(run, names, count);
	return failures;
}

void onex_bench_run_ir(struct onex_bench_run *run, const char *const *names, size_t count)
{
	FILE *out = run->ctx->out;
	char why[256], a[32];
	double floor_ir = 0;
	if (!onex_bench_ir_available()) {
		fprintf(out, "== instructions per envelope: skipped (valgrind is not installed)\n\n");
		return;
	}
	fprintf(out, "== instructions per envelope (valgrind --tool=callgrind, counted inside "
		     "onex_bench_ir_region only)\n");
	fprintf(out, "   %-18s %10s %14s %s\n", "workload", "envelopes", "Ir/envelope", "vs floor");
	for (size_t i = 0; i < onex_bench_workload_count; i++) {
		const struct onex_bench_workload *wl = onex_bench_workloads[i];
		double ir = 0;
		if (!wl->ir_body || (i != 0 && !onex_bench_selected(wl, names, count)))
			continue;
		struct onex_bench_result *res = onex_bench_run_find(run, wl->name);
		if (!res && run->count < ONEX_BENCH_RESULTS_MAX) {
			res = &run->results[run->count++];
			onex_bench_result_init(res, wl);
			res->ran = 1;
		}
		if (onex_bench_ir_measure(run->ctx, wl, &ir, why, sizeof(why)) < 0) {
			fprintf(out, "   %-18s %s\n", wl->name, why);
			continue;
		}
		if (i == 0)
			floor_ir = ir;
		if (res)
			onex_bench_add(res, "ir_per_env", "Ir", ONEX_BENCH_LOWER, ONEX_BENCH_EXACT, ir);
		char ratio[32] = "";
		if (floor_ir > 0 && i != 0)
			snprintf(ratio, sizeof(ratio), "%.2fx", ir / floor_ir);
		fprintf(out, "   %-18s %10lu %14s %s\n", wl->name,
			run->ctx->quick ? wl->ir_envelopes_quick : wl->ir_envelopes,
			onex_bench_fmt(ir, a, sizeof(a)), ratio);
		run->ir_measured = 1;
		fflush(out);
	}
	fputc('\n', out);
}

/* ---- targets ----------------------------------------------------------------------------- */

struct target_ctx {
	struct onex_bench_run *run;
	unsigned failed;
};

static void verdict(struct target_ctx *t, int known, int pass, const char *what, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void verdict(struct target_ctx *t, int known, int pass, const char *what, const char *fmt, ...)
{
	FILE *out = t->run->ctx->out;
	char detail[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	if (!known) {
		fprintf(out, "SKIP  %s: %s\n", what, detail);
		return;
	}
	fprintf(out, "%s  %s: %s\n", pass ? "PASS" : "FAIL", what, detail);
	if (!pass)
		t->failed++;
}

static const struct onex_bench_result *usable(struct onex_bench_run *run, const char *name)
{
	const struct onex_bench_result *r = onex_bench_run_find(run, name);
	return r && r->available && r->measured ? r : NULL;
}

static void targets_ir(struct target_ctx *t);

static void targets_speed(struct target_ctx *t)
{
	const struct onex_bench_result *fl = usable(t->run, "floor"), *echo = usable(t->run, "sim-echo");
	const struct onex_bench_result *sparse = usable(t->run, "sim-sparse");
	char a[32], b[32];
	if (fl && echo) {
		/*
		 * The ratio measured inside each repetition (the floor's CPU time
		 * per round trip taken just before) is what decides: the rates
		 * below come from different moments of a run and drift with the
		 * machine's load.
		 */
		double e = onex_bench_value(echo, "throughput", 0), f = onex_bench_value(fl, "throughput", 1);
		double in_rep = onex_bench_value(echo, "cpu_vs_floor", 0);
		double ratio = in_rep > 0 ? 1.0 / in_rep : e / f;
		verdict(t, 1, ratio >= 1.0, "sim-echo >= 1.0x the floor's round-trip rate",
			"%.3fx (CPU time per round trip against the floor's in the same repetition; "
			"wall-clock rates %s vs %s env/s)",
			ratio, onex_bench_fmt(e, a, sizeof(a)), onex_bench_fmt(f, b, sizeof(b)));
	} else {
		verdict(t, 0, 0, "sim-echo >= 1.0x the floor's round-trip rate", "sim-echo not run");
	}
	if (sparse) {
		double r = onex_bench_value(sparse, "virtual_per_wall", 0);
		verdict(t, 1, r >= 10000.0, "sim-sparse >= 10000x faster than real time",
			"%sx (24 virtual hours in %.2f s)", onex_bench_fmt(r, a, sizeof(a)),
			onex_bench_value(sparse, "wall", 0));
	} else {
		verdict(t, 0, 0, "sim-sparse >= 10000x faster than real time", "sim-sparse not run");
	}
	targets_ir(t);
}

static void targets_ir(struct target_ctx *t)
{
	char a[32], b[32];
	const struct onex_bench_result *ie = onex_bench_run_find(t->run, "sim-echo");
	const struct onex_bench_result *ifl = onex_bench_run_find(t->run, "floor");
	double ir_e = ie ? onex_bench_value(ie, "ir_per_env", 0) : 0;
	double ir_f = ifl ? onex_bench_value(ifl, "ir_per_env", 0) : 0;
	if (ir_e > 0 && ir_f > 0)
		verdict(t, 1, ir_e <= 1.2 * ir_f, "sim-echo instructions per envelope <= 1.2x the floor's",
			"%.2fx (%s vs %s Ir/envelope)", ir_e / ir_f, onex_bench_fmt(ir_e, a, sizeof(a)),
			onex_bench_fmt(ir_f, b, sizeof(b)));
	else
		verdict(t, 0, 0, "sim-echo instructions per envelope <= 1.2x the floor's",
			"not counted (run with valgrind installed and without --no-ir)");
}

/*
 * Targets that compare one workload's metric with a fixed bound: one row
 * each. The real-unit ratios ("vs_reference") are measured inside each
 * repetition (the unit and its reference loop back to back), so the
 * median ratio decides.
 */
struct bound_target {
	const char *what;     /* the PASS/FAIL line */
	const char *workload; /* whose metric */
	const char *metric;
	int at_most;	      /* 1: value <= bound; 0: value >= bound */
	double bound;
	double scale;	      /* printed value = value / scale */
	const char *fmt;      /* printf of the printed value */
};

static const struct bound_target bound_targets[] = {
	{ "10 nodes idle <= 16 MB RSS", "memory-idle", "peak_rss", 1, 16.0 * 1024, 1024,
	  "%.1f MB peak" },
	{ "10 000 envelopes in flight <= 64 MB RSS", "memory-inflight", "peak_rss", 1,
	  64.0 * 1024, 1024, "%.1f MB peak" },
	{ "real-kafka >= 0.7x the bare librdkafka loop", "real-kafka", "vs_reference", 0, 0.7, 1,
	  "%.3fx (median of the per-repetition ratios)" },
	{ "real-db >= 0.8x pgbench -S -M prepared", "real-db", "vs_reference", 0, 0.8, 1,
	  "%.3fx (median of the per-repetition ratios)" },
	{ "real-http >= 0.8x bare libcurl", "real-http", "vs_reference", 0, 0.8, 1,
	  "%.3fx (median of the per-repetition ratios)" },
};

static void targets_bounds(struct target_ctx *t)
{
	for (size_t i = 0; i < sizeof(bound_targets) / sizeof(bound_targets[0]); i++) {
		const struct bound_target *bt = &bound_targets[i];
		const struct onex_bench_result *r = usable(t->run, bt->workload);
		const struct onex_bench_result *any = onex_bench_run_find(t->run, bt->workload);
		if (!r || !onex_bench_metric_find(r, bt->metric)) {
			verdict(t, 0, 0, bt->what, "%s %s", bt->workload,
				any && any->note[0] && !any->available ? any->note : "not run");
			continue;
		}
		double v = onex_bench_value(r, bt->metric, 0);
		char shown[160];
		snprintf(shown, sizeof(shown), bt->fmt, v / bt->scale);
		verdict(t, 1, bt->at_most ? v <= bt->bound : v >= bt->bound, bt->what, "%s", shown);
	}
}

static void targets_plan(struct target_ctx *t)
{
	const struct onex_bench_result *echo = usable(t->run, "sim-echo");
	const struct onex_bench_result *idle = usable(t->run, "memory-idle");
	const struct onex_bench_result *mixed = usable(t->run, "sim-mixed");
	char a[32];
	if (echo) {
		double thr = onex_bench_value(echo, "throughput", 0);
		double p99 = onex_bench_value(echo, "latency_p99", 0);
		verdict(t, 1, thr > 100.0, "plan: > 100 envelopes/s", "%s env/s (sim-echo)",
			onex_bench_fmt(thr, a, sizeof(a)));
		verdict(t, 1, p99 < 1000.0, "plan: local p99 < 1 ms", "p99 %.1f us (sim-echo round trip)",
			p99);
	} else {
		verdict(t, 0, 0, "plan: > 100 envelopes/s", "sim-echo not run");
		verdict(t, 0, 0, "plan: local p99 < 1 ms", "sim-echo not run");
	}
	if (idle) {
		double kb = onex_bench_value(idle, "peak_rss", 0);
		verdict(t, 1, kb < 200.0 * 1024, "plan: < 200 MB for 10 nodes", "%.1f MB peak", kb / 1024);
	} else {
		verdict(t, 0, 0, "plan: < 200 MB for 10 nodes", "memory-idle not run");
	}
	if (mixed && mixed->has_fingerprint)
		verdict(t, 1, !mixed->fingerprint_mismatch,
			"sim-mixed virtual-time results identical run to run",
			"%s: fingerprint %016llx in every run",
			mixed->fingerprint_mismatch ? "results DIFFERED" : "identical",
			(unsigned long long)mixed->fingerprint);
	else
		verdict(t, 0, 0, "sim-mixed virtual-time results identical run to run", "sim-mixed not run");
}

unsigned onex_bench_print_targets(struct onex_bench_run *run)
{
	struct target_ctx t = { run, 0 };
	run->load_end = onex_bench_loadavg();
	fprintf(run->ctx->out, "== targets (load average %.2f at the start, %.2f at the end)\n",
		run->load_start, run->load_end);
	onex_bench_print_load(run, run->load_end > run->load_start ? run->load_end : run->load_start);
	if (strcmp(run->command, "ir") == 0) { /* only instructions were counted */
		targets_ir(&t);
		fputc('\n', run->ctx->out);
		run->targets_failed = t.failed;
		return t.failed;
	}
	targets_speed(&t);
	targets_bounds(&t);
	targets_plan(&t);
	for (size_t i = 0; i < run->count; i++)
		if (!run->results[i].available && run->results[i].measured)
			fprintf(run->ctx->out, "SKIP  %s: %s\n", run->results[i].wl->name,
				run->results[i].note);
	fputc('\n', run->ctx->out);
	run->targets_failed = t.failed;
	return t.failed;
}
