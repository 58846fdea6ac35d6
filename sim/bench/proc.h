/*
 * proc.h - running other processes for the benchmarks: the scenario
 * suite (onex-sim), this binary's own probes, and valgrind.
 *
 * Peak RSS of a child: Linux carries a parent's peak RSS into a child's
 * ru_maxrss across fork/vfork + exec (exec_mmap() folds the old mm's
 * high-water mark into signal->maxrss), so a big benchmark process cannot
 * read its child's own peak from wait4(). `onex-bench __measure CMD...`
 * is a small fresh process that runs CMD and reports CMD's wall time, CPU
 * time and ru_maxrss (which then carries only the small helper's mark);
 * probes report their own VmHWM, which belongs to the new mm alone.
 */
#ifndef ONEX_BENCH_PROC_H
#define ONEX_BENCH_PROC_H

#include <stddef.h>
#include <stdint.h>

struct onex_bench_child {
	int exit_code;	  /* exit status, or 128 + signal; -1 when it could not start */
	uint64_t wall_ns; /* fork to reaped */
	uint64_t cpu_ns;  /* user + system of the child and its reaped descendants */
	long maxrss_kb;	  /* ru_maxrss from wait4 */
	char *out;	  /* standard output, NUL-terminated; owned (free()) */
	size_t out_len;
};

/*
 * Run argv[0] (a path) with argv, standard output captured (at most
 * out_max bytes kept: the rest is read and dropped), standard error to
 * /dev/null unless keep_stderr. Waits for it. 0 when it ran (whatever its
 * exit code), -1 when it could not be started.
 */
int onex_bench_spawn(const char *const argv[], size_t out_max, int keep_stderr,
		     struct onex_bench_child *child);
void onex_bench_child_release(struct onex_bench_child *child);

/* `onex-bench __measure CMD ARGS...`: run CMD, print one JSON line. Exit code 0/1. */
int onex_bench_measure_main(int argc, char **argv);

/*
 * Run CMD through `self_exe __measure` and fill `child` from its report
 * (out: the last line CMD printed). 0, or -1.
 */
int onex_bench_spawn_measured(const char *self_exe, const char *const argv[],
			      struct onex_bench_child *child);

/* True when `path` names an executable file. */
int onex_bench_executable(const char *path);

#endif
