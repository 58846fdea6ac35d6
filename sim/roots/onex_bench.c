/*
 * onex_bench.c - command line of onex-bench, the performance regression
 * benchmarks (docs/BENCHMARKS.md). The workloads, statistics, history,
 * gate and page live in sim/bench/; this file parses arguments and ties
 * them together.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench.h"
#include "gate.h"
#include "history.h"
#include "html.h"
#include "ir.h"
#include "runner.h"
#include "proc.h"
#include "version.h"

#define BINARY "onex-bench"
#define NAMES_MAX 32
#define DEFAULT_DB "reports/bench.sqlite"
#define DEFAULT_HTML "reports/bench.html"
#define DEFAULT_BASELINE_DIR "reports/baselines"

int onex_bench_probe_main(int argc, char **argv); /* wl_memory.c */

static void usage(FILE *out)
{
	fputs("usage: " BINARY " run [options]\n"
	      "       " BINARY " compare [--baseline FILE] [options]\n"
	      "       " BINARY " baseline [--out FILE] [options]\n"
	      "       " BINARY " ir [--workload NAME]... [--quick] [--no-store]\n"
	      "       " BINARY " report [--db FILE] [--out FILE]\n"
	      "       " BINARY " list | --help | --version\n"
	      "\n"
	      "Performance benchmarks of the onex host on the simulation units, with a\n"
	      "history in SQLite, a regression gate against a committed baseline and an\n"
	      "HTML page. See docs/BENCHMARKS.md.\n"
	      "\n"
	      "commands:\n"
	      "  run       run the workloads (the floor always runs first), print each\n"
	      "            one's figures and latency distribution, count instructions\n"
	      "            per envelope under callgrind (when valgrind is installed),\n"
	      "            print the PASS/FAIL targets, store the run in the history\n"
	      "  compare   run the baseline's workloads at least 9 times (default baseline:\n"
	      "            " DEFAULT_BASELINE_DIR "/<this machine kind>.json) and flag a\n"
	      "            regression when a metric is worse by more than the threshold\n"
	      "            and the Mann-Whitney U test gives p < alpha; instruction counts\n"
	      "            and virtual-time figures compare exactly (any worse change is a\n"
	      "            regression, a changed virtual-time fingerprint fails). Without\n"
	      "            this machine kind's baseline: list the baselines and compare with\n"
	      "            the most alike one, gating only those machine-independent figures\n"
	      "  baseline  run at least 9 repetitions and write a baseline\n"
	      "            (default " DEFAULT_BASELINE_DIR "/<machine-kind>.json)\n"
	      "  ir        only the instruction counts (what `make bench-ir` runs)\n"
	      "  report    write the history as one self-contained page\n"
	      "            (default " DEFAULT_HTML ")\n"
	      "  list      list the workloads\n"
	      "\n"
	      "options:\n"
	      "  --workload NAME    a workload or group (repeatable, or comma-separated;\n"
	      "                     default: all). Groups: floor, sim-echo, sim-mixed,\n"
	      "                     sim-sparse, suite, memory, real\n"
	      "  --repetitions N    repetitions per workload (1..64; run default 3,\n"
	      "                     compare and baseline at least 9)\n"
	      "  --quick            one repetition, smaller workloads (CI smoke, < 60 s)\n"
	      "  --seed N           seed of the simulated worlds (default 1)\n"
	      "  --no-ir            do not run callgrind\n"
	      "  --callgrind-dir D  keep callgrind's output files in D (callgrind.<workload>.out,\n"
	      "                     for callgrind_annotate)\n"
	      "  --no-store         do not append the run to the history\n"
	      "  --no-distribution  do not print the percentile distributions\n"
	      "  --strict           run: exit 1 when a target FAILs\n"
	      "  --db FILE          history database (default " DEFAULT_DB ")\n"
	      "  --scenarios DIR    scenario suite for the suite workload (default scenarios)\n"
	      "  --baseline FILE    compare: the baseline to compare with\n"
	      "  --threshold PCT    compare: smallest change that counts (default 5)\n"
	      "  --alpha P          compare: significance level (default 0.05)\n"
	      "  --ir-tolerance PCT compare: instruction counts within PCT % count as the\n"
	      "                     same (default 0: exact; a rebuild moves them by a few\n"
	      "                     Ir per envelope through code layout alone)\n"
	      "  --out FILE         baseline / report: where to write\n"
	      "  -h, --help         show this help\n"
	      "  --version          print the version\n"
	      "\n"
	      "exit codes: 0 done; 1 a workload failed to run, compare found a\n"
	      "regression or changed virtual-time results, or run --strict saw a FAIL;\n"
	      "2 wrong command line, unreadable baseline, or no baseline at all\n",
	      out);
}

struct args {
	const char *command;
	const char *names[NAMES_MAX];
	size_t name_count;
	unsigned repetitions;
	int quick, no_ir, no_store, no_distribution, strict;
	uint64_t seed;
	const char *db, *scenarios, *baseline, *out, *callgrind_dir;
	double threshold, alpha, ir_tolerance;
	char name_buf[2048];
	size_t name_used;
};

static int usage_error(const char *fmt, const char *what)
{
	fprintf(stderr, BINARY ": ");
	fprintf(stderr, fmt, what);
	fprintf(stderr, "\nrun '" BINARY " --help' for usage\n");
	return 2;
}

static int add_names(struct args *a, const char *list)
{
	size_t len = strlen(list) + 1;
	if (a->name_used + len > sizeof(a->name_buf))
		return -1;
	char *copy = a->name_buf + a->name_used;
	memcpy(copy, list, len);
	a->name_used += len;
	for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		int known = strcmp(tok, "all") == 0;
		for (size_t i = 0; i < onex_bench_workload_count; i++)
			known |= strcmp(tok, onex_bench_workloads[i]->name) == 0 ||
				 strcmp(tok, onex_bench_workloads[i]->group) == 0;
		if (!known || a->name_count == NAMES_MAX) {
			usage_error("unknown workload '%s' (see '" BINARY " list')", tok);
			return -1;
		}
		a->names[a->name_count++] = tok;
	}
	return 0;
}

static int parse_number(const char *s, double lo, double hi, double *v)
{
	char *end;
	errno = 0;
	*v = strtod(s, &end);
	return errno || end == s || *end || *v < lo || *v > hi ? -1 : 0;
}

/* 0: go on; 1: answered (help/version); 2: usage error. */
static int parse_args(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
		{ "workload", required_argument, NULL, 'w' },
		{ "repetitions", required_argument, NULL, 'r' },
		{ "quick", no_argument, NULL, 'q' },
		{ "seed", required_argument, NULL, 's' },
		{ "no-ir", no_argument, NULL, 'I' },
		{ "no-store", no_argument, NULL, 'S' },
		{ "no-distribution", no_argument, NULL, 'D' },
		{ "strict", no_argument, NULL, 'X' },
		{ "db", required_argument, NULL, 'd' },
		{ "scenarios", required_argument, NULL, 'c' },
		{ "baseline", required_argument, NULL, 'b' },
		{ "threshold", required_argument, NULL, 't' },
		{ "alpha", required_argument, NULL, 'a' },
		{ "ir-tolerance", required_argument, NULL, 'T' },
		{ "out", required_argument, NULL, 'o' },
		{ "callgrind-dir", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	double v;
	int c;
	a->threshold = 0.05;
	a->alpha = 0.05;
	a->seed = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'w':
			if (add_names(a, optarg) < 0)
				return 2;
			break;
		case 'r':
			if (parse_number(optarg, 1, ONEX_BENCH_REPS_MAX, &v) < 0 || v != (unsigned)v)
				return usage_error("--repetitions takes a number from 1 to 64, got '%s'",
						   optarg);
			a->repetitions = (unsigned)v;
			break;
		case 's':
			if (parse_number(optarg, 0, 1e18, &v) < 0)
				return usage_error("--seed takes a non-negative number, got '%s'", optarg);
			a->seed = (uint64_t)v;
			break;
		case 't':
			if (parse_number(optarg, 0, 1000, &v) < 0)
				return usage_error("--threshold takes a percentage, got '%s'", optarg);
			a->threshold = v / 100.0;
			break;
		case 'T':
			if (parse_number(optarg, 0, 100, &v) < 0)
				return usage_error("--ir-tolerance takes a percentage, got '%s'", optarg);
			a->ir_tolerance = v / 100.0;
			break;
		case 'a':
			if (parse_number(optarg, 1e-9, 1, &v) < 0)
				return usage_error("--alpha takes a probability in (0, 1], got '%s'", optarg);
			a->alpha = v;
			break;
		case 'q': a->quick = 1; break;
		case 'I': a->no_ir = 1; break;
		case 'S': a->no_store = 1; break;
		case 'D': a->no_distribution = 1; break;
		case 'X': a->strict = 1; break;
		case 'd': a->db = optarg; break;
		case 'c': a->scenarios = optarg; break;
		case 'b': a->baseline = optarg; break;
		case 'o': a->out = optarg; break;
		case 'C': a->callgrind_dir = optarg; break;
		case 'h': usage(stdout); return 1;
		case 'V': printf(BINARY " " ONEX_VERSION "\n"); return 1;
		default:
			return usage_error("unknown or incomplete option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		a->command = argv[optind++];
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (!a->command)
		return usage_error("%s", "expected a command: run, compare, baseline, ir, report, list");
	return 0;
}

/* ---- context -------------------------------------------------------------------------- */

static int mkdirs(const char *path)
{
	char buf[4096];
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(buf, 0755) < 0 && errno != EEXIST ? -1 : 0;
}

static void parent_dir(const char *path, char *buf, size_t size)
{
	char copy[4096];
	snprintf(copy, sizeof(copy), "%s", path);
	snprintf(buf, size, "%s", dirname(copy));
}

static void init_ctx(struct onex_bench_ctx *ctx, const struct args *a)
{
	char dir[2048];
	memset(ctx, 0, sizeof(*ctx));
	ctx->out = stdout;
	ctx->quick = a->quick;
	ctx->seed = a->seed;
	ctx->print_distribution = !a->no_distribution;
	ctx->callgrind_dir = a->callgrind_dir;
	if (a->callgrind_dir)
		mkdirs(a->callgrind_dir);
	ctx->repetitions = a->repetitions ? a->repetitions : (a->quick ? 1 : 3);
	ssize_t n = readlink("/proc/self/exe", ctx->self_exe, sizeof(ctx->self_exe) - 1);
	ctx->self_exe[n > 0 ? n : 0] = '\0';
	parent_dir(ctx->self_exe, dir, sizeof(dir));
	snprintf(ctx->sim_exe, sizeof(ctx->sim_exe), "%s/onex-sim", dir);
	snprintf(ctx->scenarios, sizeof(ctx->scenarios), "%s", a->scenarios ? a->scenarios : "scenarios");
}

static void print_header(const struct onex_bench_run *run)
{
	const struct onex_bench_ctx *ctx = run->ctx;
	fprintf(ctx->out,
		BINARY " " ONEX_VERSION " %s: commit %.12s%s, %s\n"
		"machine: %s (kind %s)\n"
		"%u repetition(s) per workload%s, seed %llu; machine speed: %.3f ns per "
		"calibration iteration\n\n",
		run->command, run->git_commit, run->git_dirty ? " (with uncommitted changes)" : "",
		run->date, run->machine, run->machine_kind, ctx->repetitions,
		ctx->quick ? ", --quick" : "", (unsigned long long)ctx->seed, run->calibration_ns);
	onex_bench_print_load(run, run->load_start);
}

static void store(const struct args *a, const struct onex_bench_run *run)
{
	const char *db = a->db ? a->db : DEFAULT_DB;
	char dir[4096], why[512];
	long long id = 0;
	if (a->no_store)
		return;
	parent_dir(db, dir, sizeof(dir));
	mkdirs(dir);
	if (onex_bench_history_store(db, run, &id, why, sizeof(why)) < 0)
		fprintf(run->ctx->out, "history: not stored: %s\n", why);
	else
		fprintf(run->ctx->out, "history: stored as run #%lld in %s ('" BINARY
				       " report' writes " DEFAULT_HTML ")\n",
			id, db);
}

/* ---- commands ---------------------------------------------------------------------------- */

static int cmd_run(const struct args *a, struct onex_bench_ctx *ctx)
{
	struct onex_bench_run run;
	onex_bench_run_init(&run, ctx, "run");
	print_header(&run);
	int failures = onex_bench_run_workloads(&run, a->names, a->name_count, !a->no_ir);
	unsigned failed_targets = onex_bench_print_targets(&run);
	store(a, &run);
	onex_bench_run_release(&run);
	if (failures)
		fprintf(ctx->out, "%d workload(s) failed to run\n", failures);
	return failures || (a->strict && failed_targets) ? 1 : 0;
}

static int cmd_baseline(const struct args *a, struct onex_bench_ctx *ctx)
{
	struct onex_bench_run run;
	char path[4096], dir[4096], why[512];
	if (ctx->repetitions < ONEX_BENCH_REPS_GATE_MIN)
		ctx->repetitions = ONEX_BENCH_REPS_GATE_MIN;
	onex_bench_run_init(&run, ctx, "baseline");
	print_header(&run);
	int failures = onex_bench_run_workloads(&run, a->names, a->name_count, !a->no_ir);
	onex_bench_print_targets(&run);
	if (a->out)
		snprintf(path, sizeof(path), "%s", a->out);
	else
		snprintf(path, sizeof(path), DEFAULT_BASELINE_DIR "/%s.json", run.machine_kind);
	parent_dir(path, dir, sizeof(dir));
	mkdirs(dir);
	int rc = onex_bench_baseline_write(path, &run, why, sizeof(why));
	if (rc < 0)
		fprintf(stderr, BINARY ": %s\n", why);
	else
		fprintf(ctx->out, "baseline: wrote %s\n", path);
	store(a, &run);
	onex_bench_run_release(&run);
	return failures || rc < 0 ? 1 : 0;
}

/*
 * The workloads to run: those named, or the baseline's; across machine
 * kinds only those with machine-independent figures (instruction counts,
 * virtual-time results), the rest would be run for nothing.
 */
static size_t compare_names(const struct args *a, const json_t *baseline, int cross,
			    const char **names, FILE *out)
{
	size_t n = a->name_count;
	if (n) {
		memcpy(names, a->names, n * sizeof(names[0]));
		return n;
	}
	const char *all[NAMES_MAX];
	size_t total = onex_bench_baseline_workloads(baseline, all, NAMES_MAX);
	for (size_t i = 0; i < total; i++) {
		const json_t *bw = json_object_get(json_object_get(baseline, "workloads"), all[i]);
		if (!cross || onex_bench_baseline_machine_independent(bw))
			names[n++] = all[i];
		else
			fprintf(out, "   skipped %s: no instruction counts or virtual-time results, "
				     "nothing comparable across machines\n",
				all[i]);
	}
	return n;
}

static int cmd_compare(struct args *a, struct onex_bench_ctx *ctx)
{
	struct onex_bench_run run;
	char why[512];
	const char *names[NAMES_MAX];
	char path[4096];
	onex_bench_run_init(&run, ctx, "compare");
	if (a->baseline) {
		snprintf(path, sizeof(path), "%s", a->baseline);
	} else { /* this machine kind's committed baseline, else the most alike one */
		int found = onex_bench_baseline_pick(DEFAULT_BASELINE_DIR, run.machine_kind, path,
						     sizeof(path), ctx->out);
		if (found < 0) {
			fprintf(stderr, BINARY ": no baseline in " DEFAULT_BASELINE_DIR
					       " (make one with '" BINARY " baseline', or give "
					       "--baseline FILE)\n");
			return 2;
		}
		if (found == 1)
			fprintf(ctx->out,
				"   comparing with the most alike one, %s: wall-clock and CPU times "
				"of another machine mean nothing here, so only instruction counts and "
				"virtual-time results are gated. For a full gate make this machine's "
				"baseline: " BINARY " baseline (>= 9 repetitions, on a quiet machine)\n",
				path);
	}
	json_t *baseline = onex_bench_baseline_load(path, why, sizeof(why));
	if (!baseline) {
		fprintf(stderr, BINARY ": %s%s\n", why,
			a->baseline ? "" : " (make one with '" BINARY " baseline', or give --baseline FILE)");
		return 2;
	}
	const char *kind = json_string_value(json_object_get(baseline, "machine_kind"));
	int cross = !kind || strcmp(kind, run.machine_kind) != 0;
	fprintf(ctx->out, "baseline: %s%s\n", path,
		cross ? " (another machine kind: machine-independent figures only)" : "");
	size_t n = compare_names(a, baseline, cross, names, ctx->out);
	if (ctx->repetitions < ONEX_BENCH_REPS_GATE_MIN)
		ctx->repetitions = ONEX_BENCH_REPS_GATE_MIN;
	onex_bench_run_init(&run, ctx, "compare");
	print_header(&run);
	int failures = onex_bench_run_workloads(&run, names, n,
						!a->no_ir && onex_bench_baseline_has_ir(baseline));
	onex_bench_print_targets(&run);
	struct onex_bench_gate_options opt = { a->threshold, a->alpha, cross, a->ir_tolerance };
	unsigned regressions = onex_bench_gate(baseline, &run, &opt);
	fprintf(ctx->out, "%s: %u regression(s)%s\n", regressions ? "REGRESSION" : "no regression",
		regressions, cross ? " in the machine-independent figures (instruction counts, "
				     "virtual-time results)" : "");
	store(a, &run);
	onex_bench_run_release(&run);
	json_decref(baseline);
	return regressions || failures ? 1 : 0;
}

static int cmd_ir(const struct args *a, struct onex_bench_ctx *ctx)
{
	struct onex_bench_run run;
	if (!onex_bench_ir_available()) {
		fprintf(stderr, BINARY ": valgrind is not installed (apt-get install valgrind)\n");
		return 1;
	}
	ctx->repetitions = 1;
	onex_bench_run_init(&run, ctx, "ir");
	print_header(&run);
	onex_bench_run_ir(&run, a->names, a->name_count);
	onex_bench_print_targets(&run);
	store(a, &run);
	int rc = run.ir_measured ? 0 : 1;
	onex_bench_run_release(&run);
	return rc;
}

static int cmd_report(const struct args *a)
{
	char why[512], dir[4096];
	const char *out = a->out ? a->out : DEFAULT_HTML;
	parent_dir(out, dir, sizeof(dir));
	mkdirs(dir);
	if (onex_bench_html_write(a->db ? a->db : DEFAULT_DB, out, why, sizeof(why)) < 0) {
		fprintf(stderr, BINARY ": %s\n", why);
		return 1;
	}
	printf("wrote %s\n", out);
	return 0;
}

static int cmd_list(void)
{
	for (size_t i = 0; i < onex_bench_workload_count; i++) {
		const struct onex_bench_workload *wl = onex_bench_workloads[i];
		printf("%-16s %-10s %s%s\n", wl->name, wl->group, wl->what,
		       wl->ir_body ? " [Ir]" : "");
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct args a;
	struct onex_bench_ctx ctx;
	/* A fixed hash seed: jansson's tables, and so instruction counts, repeat exactly. */
	json_object_seed(1);
	if (argc > 1 && strcmp(argv[1], "__measure") == 0)
		return onex_bench_measure_main(argc - 2, argv + 2);
	if (argc > 1 && strcmp(argv[1], "__probe") == 0)
		return onex_bench_probe_main(argc - 2, argv + 2);
	memset(&a, 0, sizeof(a));
	if (argc > 1 && strcmp(argv[1], "__ir") == 0) {
		init_ctx(&ctx, &a);
		return onex_bench_ir_child_main(&ctx, argc - 2, argv + 2);
	}
	int rc = parse_args(argc, argv, &a);
	if (rc)
		return rc == 1 ? 0 : 2;
	init_ctx(&ctx, &a);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (strcmp(a.command, "run") == 0)
		return cmd_run(&a, &ctx);
	if (strcmp(a.command, "compare") == 0)
		return cmd_compare(&a, &ctx);
	if (strcmp(a.command, "baseline") == 0)
		return cmd_baseline(&a, &ctx);
	if (strcmp(a.command, "ir") == 0)
		return cmd_ir(&a, &ctx);
	if (strcmp(a.command, "report") == 0)
		return cmd_report(&a);
	if (strcmp(a.command, "list") == 0)
		return cmd_list();
	return usage_error("unknown command '%s'", a.command);
}
