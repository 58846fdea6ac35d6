/*
 * gate.c - baselines and the regression gate (see gate.h).
 */
#include "gate.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stats.h"

#define FORMAT "onex-bench-baseline/1"

static const char *kind_text(enum onex_bench_kind k)
{
	return k == ONEX_BENCH_SAMPLED ? "sampled" : k == ONEX_BENCH_EXACT ? "exact" : "info";
}

static const char *better_text(enum onex_bench_better b)
{
	return b == ONEX_BENCH_LOWER ? "lower" : b == ONEX_BENCH_HIGHER ? "higher" : "neither";
}

static json_t *metric_json(const struct onex_bench_metric *m)
{
	json_t *samples = json_array();
	for (size_t i = 0; i < m->n; i++)
		json_array_append_new(samples, json_real(m->samples[i]));
	return json_pack("{s:s,s:s,s:s,s:f,s:o}", "unit", m->unit, "kind", kind_text(m->kind),
			 "better", better_text(m->better), "median",
			 onex_stats_median(m->samples, m->n), "samples", samples);
}

int onex_bench_baseline_write(const char *path, const struct onex_bench_run *run, char *why,
			      size_t why_size)
{
	json_t *workloads = json_object();
	for (size_t i = 0; i < run->count; i++) {
		const struct onex_bench_result *res = &run->results[i];
		json_t *metrics = json_object();
		if (!res->ran)
			continue;
		for (size_t k = 0; res->available && k < res->metric_count; k++)
			json_object_set_new(metrics, res->metrics[k].name, metric_json(&res->metrics[k]));
		json_t *w = json_pack("{s:b,s:s,s:o}", "available", res->available, "note", res->note,
				      "metrics", metrics);
		if (res->has_fingerprint) {
			char fp[32];
			snprintf(fp, sizeof(fp), "%016llx", (unsigned long long)res->fingerprint);
			json_object_set_new(w, "fingerprint", json_string(fp));
		}
		json_object_set_new(workloads, res->wl->name, w);
	}
	json_t *doc = json_pack("{s:s,s:s,s:s,s:s,s:b,s:s,s:s,s:i,s:I,s:b,s:f,s:f,s:f,s:o}", "format", FORMAT,
				"machine_kind", run->machine_kind, "machine", run->machine,
				"git_commit", run->git_commit, "git_dirty", run->git_dirty, "date",
				run->date, "command", run->command, "repetitions",
				(int)run->ctx->repetitions, "seed", (json_int_t)run->ctx->seed,
				"quick", run->ctx->quick, "load_start", run->load_start, "load_end",
				run->load_end, "calibration_ns", run->calibration_ns, "workloads", workloads);
	int rc = json_dump_file(doc, path, JSON_INDENT(1));
	json_decref(doc);
	if (rc < 0)
		snprintf(why, why_size, "cannot write %s", path);
	return rc < 0 ? -1 : 0;
}

json_t *onex_bench_baseline_load(const char *path, char *why, size_t why_size)
{
	json_error_t jerr;
	json_t *doc = json_load_file(path, 0, &jerr);
	if (!doc) {
		if (jerr.line > 0)
			snprintf(why, why_size, "%s:%d: %s", path, jerr.line, jerr.text);
		else
			snprintf(why, why_size, "%s", jerr.text);
		return NULL;
	}
	const char *format = json_string_value(json_object_get(doc, "format"));
	if (!format || strcmp(format, FORMAT) != 0 ||
	    !json_is_object(json_object_get(doc, "workloads"))) {
		snprintf(why, why_size, "%s is not an onex-bench baseline (format %s expected)", path,
			 FORMAT);
		json_decref(doc);
		return NULL;
	}
	return doc;
}

size_t onex_bench_baseline_workloads(const json_t *baseline, const char **names, size_t max)
{
	const char *key;
	json_t *value;
	size_t n = 0;
	json_object_foreach(json_object_get(baseline, "workloads"), key, value)
	{
		if (n < max)
			names[n++] = key;
	}
	return n;
}

int onex_bench_baseline_has_ir(const json_t *baseline)
{
	const char *key;
	json_t *value;
	json_object_foreach(json_object_get(baseline, "workloads"), key, value)
	{
		if (json_object_get(json_object_get(value, "metrics"), "ir_per_env"))
			return 1;
	}
	return 0;
}

/* ---- finding a baseline --------------------------------------------------------------- */

/* "x86_64-intel-r-xeon-r-processor-2cpu" -> arch "x86_64", vendor "intel", cpus "2cpu". */
static void kind_parts(const char *kind, char *arch, char *vendor, char *cpus, size_t size)
{
	const char *dash = strchr(kind, '-');
	const char *last = strrchr(kind, '-');
	snprintf(arch, size, "%.*s", dash ? (int)(dash - kind) : (int)strlen(kind), kind);
	vendor[0] = cpus[0] = '\0';
	if (!dash)
		return;
	const char *v = dash + 1, *vend = strchr(v, '-');
	snprintf(vendor, size, "%.*s", vend ? (int)(vend - v) : (int)strlen(v), v);
	if (last && last != dash)
		snprintf(cpus, size, "%s", last + 1);
}

/* How alike two machine kinds are: same architecture 4, same CPU vendor 2, same CPU count 1. */
static int kind_score(const char *a, const char *b)
{
	char aa[96], av[96], ac[96], ba[96], bv[96], bc[96];
	kind_parts(a, aa, av, ac, sizeof(aa));
	kind_parts(b, ba, bv, bc, sizeof(ba));
	return 4 * (strcmp(aa, ba) == 0) + 2 * (strcmp(av, bv) == 0) + (strcmp(ac, bc) == 0);
}

int onex_bench_baseline_pick(const char *dir, const char *machine_kind, char *path,
			     size_t size, FILE *out)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int best = -1;
	char best_date[64] = "";
	if (!d) {
		fprintf(out, "no baseline directory %s\n", dir);
		return -1;
	}
	snprintf(path, size, "%s/%s.json", dir, machine_kind);
	FILE *own = fopen(path, "r");
	if (own) {
		fclose(own);
		closedir(d);
		return 0;
	}
	fprintf(out, "WARNING: no baseline for this machine kind (%s): %s does not exist.\n"
		     "   baselines in %s:\n", machine_kind, path, dir);
	path[0] = '\0';
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		char file[4096], why[512];
		if (len < 6 || strcmp(e->d_name + len - 5, ".json") != 0)
			continue;
		snprintf(file, sizeof(file), "%s/%s", dir, e->d_name);
		json_t *b = onex_bench_baseline_load(file, why, sizeof(why));
		if (!b) {
			fprintf(out, "     %s: unreadable (%s)\n", file, why);
			continue;
		}
		const char *kind = json_string_value(json_object_get(b, "machine_kind"));
		const char *date = json_string_value(json_object_get(b, "date"));
		int score = kind_score(kind ? kind : "", machine_kind);
		fprintf(out, "     %s: %s, made %s at commit %.12s\n", file, kind ? kind : "?",
			date ? date : "?",
			json_string_value(json_object_get(b, "git_commit")) ?: "?");
		if (score > best || (score == best && date && strcmp(date, best_date) > 0)) {
			best = score;
			snprintf(best_date, sizeof(best_date), "%s", date ? date : "");
			snprintf(path, size, "%s", file);
		}
		json_decref(b);
	}
	closedir(d);
	return path[0] ? 1 : -1;
}

int onex_bench_baseline_machine_independent(const json_t *bw)
{
	const char *key;
	json_t *m;
	if (json_object_get(bw, "fingerprint"))
		return 1;
	json_object_foreach(json_object_get(bw, "metrics"), key, m)
	{
		const char *kind = json_string_value(json_object_get(m, "kind"));
		if (kind && strcmp(kind, "exact") == 0)
			return 1;
	}
	return 0;
}

/* ---- the comparison ------------------------------------------------------------------ */

struct gate_state {
	const struct onex_bench_run *run;
	const struct onex_bench_gate_options *opt;
	unsigned regressions, compared, changed, improved, behaviour;
};

static size_t samples_of(const json_t *m, double *out, size_t max)
{
	size_t n = 0;
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(m, "samples"), i, v)
	{
		if (n < max && json_is_number(v))
			out[n++] = json_number_value(v);
	}
	return n;
}

/* What compare_metric() concluded. */
enum verdict { V_NONE, V_OK, V_REGRESSION };

static enum verdict compare_metric(struct gate_state *g, const char *wl, const char *name,
				   const json_t *bm, const struct onex_bench_metric *cm)
{
	FILE *out = g->run->ctx->out;
	const char *kind = json_string_value(json_object_get(bm, "kind"));
	const char *better = json_string_value(json_object_get(bm, "better"));
	double base[ONEX_BENCH_REPS_MAX];
	size_t nb = samples_of(bm, base, ONEX_BENCH_REPS_MAX);
	char a[32], b[32], pv[32] = "", verdict[96];
	int lower = better && strcmp(better, "lower") == 0;
	int higher = better && strcmp(better, "higher") == 0;
	enum verdict v = V_OK;
	if (!kind || strcmp(kind, "info") == 0 || nb == 0)
		return V_NONE;
	if (!cm || cm->n == 0) {
		fprintf(out, "   %-16s %-22s %14s %14s %8s %8s  %s\n", wl, name,
			onex_bench_fmt(onex_stats_median(base, nb), a, sizeof(a)), "-", "", "",
			"missing from this run");
		return V_NONE;
	}
	double mb = onex_stats_median(base, nb), mc = onex_stats_median(cm->samples, cm->n);
	double change = mb != 0.0 ? (mc - mb) / fabs(mb) : (mc == mb ? 0.0 : INFINITY);
	int worse = (lower && change > g->opt->threshold) || (higher && change < -g->opt->threshold);
	int better_by = (lower && change < -g->opt->threshold) || (higher && change > g->opt->threshold);
	g->compared++;
	if (strcmp(kind, "exact") == 0) {
		/* Deterministic: any difference is real, whatever its size. */
		snprintf(pv, sizeof(pv), "exact");
		if (mc == mb) {
			snprintf(verdict, sizeof(verdict), "same");
		} else if (strcmp(name, "ir_per_env") == 0 && g->opt->ir_tolerance > 0 &&
			   fabs(change) <= g->opt->ir_tolerance) {
			snprintf(verdict, sizeof(verdict), "within --ir-tolerance %.4g%%",
				 g->opt->ir_tolerance * 100);
		} else if (lower || higher) {
			int is_worse = lower ? mc > mb : mc < mb;
			if (is_worse) {
				snprintf(verdict, sizeof(verdict), "REGRESSION (exact: any increase)");
				if (!lower)
					snprintf(verdict, sizeof(verdict),
						 "REGRESSION (exact: any decrease)");
				g->regressions++;
				v = V_REGRESSION;
			} else {
				snprintf(verdict, sizeof(verdict), "improved (exact)");
				g->improved++;
			}
			g->changed++;
		} else {
			snprintf(verdict, sizeof(verdict), "CHANGED (exact, no better direction)");
			g->regressions++;
			g->changed++;
			v = V_REGRESSION;
		}
	} else if (g->opt->machine_independent_only) {
		snprintf(pv, sizeof(pv), "-");
		snprintf(verdict, sizeof(verdict), "not gated (other machine)");
		g->compared--;
	} else if (strncmp(name, "ref_", 4) == 0) {
		/* The reference loop's own figures (pgbench, bare librdkafka, bare libcurl). */
		snprintf(pv, sizeof(pv), "-");
		snprintf(verdict, sizeof(verdict), "not gated (the reference, not onex)");
		g->compared--;
	} else {
		struct onex_utest u;
		onex_mann_whitney(base, nb, cm->samples, cm->n, &u);
		snprintf(pv, sizeof(pv), "%.4f", u.p_value);
		int significant = u.valid && nb >= 2 && cm->n >= 2 && u.p_value < g->opt->alpha;
		if (nb < 2 || cm->n < 2)
			snprintf(verdict, sizeof(verdict), "not testable (%zu vs %zu samples)", nb, cm->n);
		else if (worse && significant) {
			snprintf(verdict, sizeof(verdict), "REGRESSION");
			g->regressions++;
			v = V_REGRESSION;
		} else if (worse)
			snprintf(verdict, sizeof(verdict), "worse, not significant");
		else if (better_by && significant)
			snprintf(verdict, sizeof(verdict), "improved");
		else
			snprintf(verdict, sizeof(verdict), "ok");
	}
	fprintf(out, "   %-16s %-22s %14s %14s %+7.1f%% %8s  %s\n", wl, name,
		onex_bench_fmt(mb, a, sizeof(a)), onex_bench_fmt(mc, b, sizeof(b)),
		isfinite(change) ? change * 100 : 0.0, pv, verdict);
	return v;
}

/* Wall-clock or CPU figures that move with the machine as a whole. */
static int machine_bound(const char *metric)
{
	static const char *const names[] = { "throughput", "cpu_per_env", "latency_p50",
					     "ns_per_env", "wall", "virtual_per_wall" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(metric, names[i]) == 0)
			return 1;
	return 0;
}

static void compare_workload(struct gate_state *g, const char *name, const json_t *bw)
{
	FILE *out = g->run->ctx->out;
	const struct onex_bench_result *res = NULL;
	for (size_t i = 0; i < g->run->count; i++)
		if (strcmp(g->run->results[i].wl->name, name) == 0)
			res = &g->run->results[i];
	if (!json_is_true(json_object_get(bw, "available"))) {
		fprintf(out, "   %-16s not in the baseline (%s)\n", name,
			json_string_value(json_object_get(bw, "note")));
		return;
	}
	if (!res || !res->available) {
		fprintf(out, "   %-16s not available in this run (%s)\n", name,
			res ? res->note : "not run");
		return;
	}
	const char *key;
	json_t *bm;
	int absolute_regressed = 0, ratio_held = 0, ir_held = 0;
	json_object_foreach(json_object_get(bw, "metrics"), key, bm)
	{
		enum verdict v = compare_metric(g, name, key, bm, onex_bench_metric_find(res, key));
		if (v == V_REGRESSION && machine_bound(key))
			absolute_regressed = 1;
		if (v == V_OK && strcmp(key, "cpu_vs_floor") == 0)
			ratio_held = 1;
		if (v == V_OK && strcmp(key, "ir_per_env") == 0)
			ir_held = 1;
	}
	if (absolute_regressed && (ratio_held || ir_held))
		fprintf(out, "   %-16s NOTE: its times regressed but %s did not: the machine (or "
			     "the floor's own path) got slower, not this workload's code\n",
			name, ratio_held && ir_held ? "cpu_vs_floor and its instruction count"
			      : ratio_held	    ? "cpu_vs_floor"
						    : "its instruction count");
	const char *fp = json_string_value(json_object_get(bw, "fingerprint"));
	if (fp && res->has_fingerprint) {
		char now[32];
		snprintf(now, sizeof(now), "%016llx", (unsigned long long)res->fingerprint);
		if (strcmp(now, fp) != 0) {
			fprintf(out, "   %-16s FAIL: virtual-time results changed (fingerprint %s -> "
				     "%s): behaviour changed; review it, then refresh the baseline\n",
				name, fp, now);
			g->behaviour++;
		} else {
			fprintf(out, "   %-16s virtual-time results identical (fingerprint %s)\n", name,
				now);
		}
	}
}

unsigned onex_bench_gate(const json_t *baseline, const struct onex_bench_run *run,
			 const struct onex_bench_gate_options *opt)
{
	struct gate_state g = { run, opt, 0, 0, 0, 0, 0 };
	FILE *out = run->ctx->out;
	const char *kind = json_string_value(json_object_get(baseline, "machine_kind"));
	fprintf(out, "== compare with the baseline (%s, commit %.12s, %s, %d repetitions)\n",
		kind ? kind : "?", json_string_value(json_object_get(baseline, "git_commit")),
		json_string_value(json_object_get(baseline, "date")),
		(int)json_integer_value(json_object_get(baseline, "repetitions")));
	if (kind && strcmp(kind, run->machine_kind) != 0)
		fprintf(out, "   WARNING: the baseline was made on %s, this machine is %s; "
			     "wall-clock figures are not comparable\n",
			kind, run->machine_kind);
	double cal = json_number_value(json_object_get(baseline, "calibration_ns"));
	if (cal > 0 && run->calibration_ns > 0) {
		double speed = run->calibration_ns / cal - 1.0;
		fprintf(out, "   machine speed: %+.1f%% time per calibration iteration against the "
			     "baseline's (%.3f vs %.3f ns; measured at the start of each run)\n",
			speed * 100, run->calibration_ns, cal);
		if (fabs(speed) > opt->threshold)
			fprintf(out, "   WARNING: this machine's CPU runs %.0f%% %s than when the "
				     "baseline was made, independently of onex: read wall-clock and CPU "
				     "verdicts with that in mind; cpu_vs_floor (a ratio measured within "
				     "each repetition), instruction counts and virtual-time figures are "
				     "not affected\n",
				fabs(speed) * 100, speed > 0 ? "slower" : "faster");
	}
	if (json_is_true(json_object_get(baseline, "quick")) != (run->ctx->quick != 0))
		fprintf(out, "   WARNING: the baseline was made %s --quick and this run %s: workload "
			     "sizes differ, so the figures are not comparable\n",
			json_is_true(json_object_get(baseline, "quick")) ? "with" : "without",
			run->ctx->quick ? "with" : "without");
	if (opt->machine_independent_only)
		fprintf(out, "   cross-machine comparison: only instruction counts and virtual-time "
			     "results are gated (exactly); wall-clock and CPU figures are shown, "
			     "not gated\n");
	else
		fprintf(out, "   regression = worse by more than %.1f%% and Mann-Whitney p < %.3f; "
			     "exact metrics (instruction counts, virtual-time figures): any change "
			     "in the worse direction\n",
			opt->threshold * 100, opt->alpha);
	if (opt->ir_tolerance > 0)
		fprintf(out, "   instruction counts within %.4g%% of the baseline's count as the "
			     "same (--ir-tolerance)\n",
			opt->ir_tolerance * 100);
	fprintf(out, "   %-16s %-22s %14s %14s %8s %8s  %s\n", "workload", "metric", "baseline",
		"current", "change", "p-value", "verdict");
	const char *name;
	json_t *bw;
	json_object_foreach(json_object_get(baseline, "workloads"), name, bw)
	{
		compare_workload(&g, name, bw);
	}
	fprintf(out,
		"   %u metrics compared: %u regression(s), %u exact change(s) (%u improved), "
		"%u workload(s) with changed virtual-time results\n\n",
		g.compared, g.regressions, g.changed, g.improved, g.behaviour);
	return g.regressions + g.behaviour;
}
