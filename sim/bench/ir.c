/*
 * ir.c - callgrind runs (see ir.h).
 */
#include "ir.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proc.h"

static const char *valgrind_path(void)
{
	static const char *const candidates[] = { "/usr/bin/valgrind", "/usr/local/bin/valgrind" };
	for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++)
		if (onex_bench_executable(candidates[i]))
			return candidates[i];
	return NULL;
}

int onex_bench_ir_available(void)
{
	return valgrind_path() != NULL;
}

/* The "totals:" (or "summary:") line of a callgrind output file: the first event, Ir. */
static int read_total_ir(const char *path, double *ir)
{
	FILE *f = fopen(path, "r");
	char line[512];
	int found = 0;
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "totals:", 7) == 0 || (!found && strncmp(line, "summary:", 8) == 0)) {
			*ir = strtod(strchr(line, ':') + 1, NULL);
			found = 1;
		}
	}
	fclose(f);
	return found ? 0 : -1;
}

int onex_bench_ir_measure(const struct onex_bench_ctx *ctx, const struct onex_bench_workload *wl,
			  double *ir_per_env, char *why, size_t why_size)
{
	const char *valgrind = valgrind_path();
	char out_opt[600], out_file[512], n_text[32], seed_text[32];
	struct onex_bench_child child;
	unsigned long n = ctx->quick ? wl->ir_envelopes_quick : wl->ir_envelopes;
	if (!valgrind) {
		snprintf(why, why_size, "valgrind is not installed");
		return -1;
	}
	const char *tmp = getenv("TMPDIR");
	if (ctx->callgrind_dir)
		snprintf(out_file, sizeof(out_file), "%.400s/callgrind.%s.out", ctx->callgrind_dir,
			 wl->name);
	else
		snprintf(out_file, sizeof(out_file), "%.400s/onex-bench-callgrind.%ld.%s.out",
			 tmp && *tmp ? tmp : "/tmp", (long)getpid(), wl->name);
	snprintf(out_opt, sizeof(out_opt), "--callgrind-out-file=%s", out_file);
	snprintf(n_text, sizeof(n_text), "%lu", n);
	snprintf(seed_text, sizeof(seed_text), "%llu", (unsigned long long)ctx->seed);
	const char *argv[] = { valgrind,
			       "--tool=callgrind",
			       "--collect-atstart=no",
			       "--toggle-collect=onex_bench_ir_region",
			       "--dump-instr=no",
			       "--compress-strings=no",
			       out_opt,
			       ctx->self_exe,
			       "__ir",
			       wl->name,
			       n_text,
			       seed_text,
			       NULL };
	if (onex_bench_spawn(argv, 1u << 16, 0, &child) < 0) {
		snprintf(why, why_size, "could not start valgrind");
		return -1;
	}
	int code = child.exit_code;
	onex_bench_child_release(&child);
	double total = 0;
	int rc = code == 0 ? read_total_ir(out_file, &total) : -1;
	if (!ctx->callgrind_dir)
		unlink(out_file);
	if (rc < 0 || total <= 0) {
		snprintf(why, why_size, "callgrind run failed (exit %d)", code);
		return -1;
	}
	*ir_per_env = total / (double)n;
	return 0;
}

int onex_bench_ir_child_main(struct onex_bench_ctx *ctx, int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: onex-bench __ir WORKLOAD ENVELOPES [SEED]\n");
		return 1;
	}
	const struct onex_bench_workload *wl = onex_bench_workload_find(argv[0]);
	unsigned long n = strtoul(argv[1], NULL, 10);
	if (argc > 2)
		ctx->seed = strtoull(argv[2], NULL, 10);
	if (!wl || !wl->ir_body || n == 0) {
		fprintf(stderr, "onex-bench __ir: no instruction count for '%s'\n", argv[0]);
		return 1;
	}
	void *state = wl->ir_setup(ctx, n);
	onex_bench_ir_region(wl->ir_body, state);
	wl->ir_teardown(state);
	printf("%s %lu envelopes\n", wl->name, n);
	return 0;
}
