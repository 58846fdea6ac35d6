/*
 * wl_memory.c - memory: peak RSS of a host, each measured in a fresh
 * process (`onex-bench __probe NAME`, see proc.h for why):
 *
 *   memory-idle      one host with 10 node contracts loaded, the local,
 *                    http and db handlers and the in-memory bus, idle for
 *                    60 virtual seconds
 *   memory-inflight  one host with inflight_max 10000 holding 10 000
 *                    local.echo envelopes in flight (delay_ms 10 000)
 *
 * The probe reports VmHWM (the peak of its own, fresh address space), the
 * RSS before the host was built (the process floor: libraries, this
 * binary) and the RSS at the measured moment.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench.h"
#include "simhost.h"
#include "proc.h"

#define MS_NS 1000000ull
#define NODES 10
#define INFLIGHT 10000u

/* ---- the probes (run in the child) ------------------------------------------------ */

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	int rc = fputs(text, f) < 0 ? -1 : 0;
	return fclose(f) == 0 ? rc : -1;
}

/* A directory with nodes/node_NN.yaml; the runtime contract text into `contract`. */
static int make_nodes(char *dir, size_t dir_size, char *contract, size_t size)
{
	char path[1024], text[1024];
	const char *tmp = getenv("TMPDIR");
	snprintf(dir, dir_size, "%s/onex-bench-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/nodes", dir);
	if (mkdir(path, 0700) < 0)
		return -1;
	int n = snprintf(contract, size,
			 "schema_version: \"1.0.0\"\n"
			 "runtime:\n"
			 "  name: \"bench_nodes\"\n"
			 "  version: \"1.0.0\"\n"
			 "  event_bus: { kind: \"inmemory\", config: { history_size: 0 } }\n"
			 "  handlers:\n"
			 "    - type: \"local\"\n"
			 "    - type: \"http\"\n"
			 "    - type: \"db\"\n"
			 "  nodes:\n");
	for (int i = 1; i <= NODES; i++) {
		snprintf(path, sizeof(path), "%s/nodes/node_%02d.yaml", dir, i);
		snprintf(text, sizeof(text),
			 "schema_version: \"1.0.0\"\n"
			 "node_version: \"1.0.%d\"\n"
			 "name: \"node_%02d\"\n"
			 "node_type: \"EFFECT\"\n"
			 "description: \"benchmark node %d: reads a service, caches in a table\"\n"
			 "input_model: \"bench.Request%d\"\n"
			 "output_model: \"bench.Response%d\"\n"
			 "io_operations:\n"
			 "  - type: \"http\"\n"
			 "    operations: [\"http.get\", \"http.post\"]\n"
			 "    target: \"https://service-%02d.internal.example/api/v1\"\n"
			 "  - type: \"db\"\n"
			 "    operations: [\"db.query\", \"db.execute\"]\n"
			 "    target: \"bench.cache_%02d\"\n"
			 "dependencies:\n"
			 "  - name: \"service_%02d\"\n"
			 "    version: \">=1.0.0\"\n",
			 i, i, i, i, i, i, i, i);
		if (write_file(path, text) < 0)
			return -1;
		n += snprintf(contract + n, size - (size_t)n, "    - slug: \"node_%02d\"\n", i);
	}
	return 0;
}

static void remove_nodes(const char *dir)
{
	char path[1024];
	for (int i = 1; i <= NODES; i++) {
		snprintf(path, sizeof(path), "%s/nodes/node_%02d.yaml", dir, i);
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/nodes", dir);
	rmdir(path);
	rmdir(dir);
}

static int probe_idle(json_t *out)
{
	char dir[512], contract[4096];
	struct onex_bench_host bh;
	struct onex_error err;
	onex_error_clear(&err);
	long rss_start = onex_bench_vmrss_kb();
	if (make_nodes(dir, sizeof(dir), contract, sizeof(contract)) < 0) {
		fprintf(stderr, "onex-bench: cannot write node contracts: %s\n", strerror(errno));
		return -1;
	}
	struct onex_bench_host_config cfg = {
		.contract_yaml = contract, .base_dir = dir, .inflight_max = 1, .seed = 1,
	};
	int rc = onex_bench_host_open(&bh, &cfg, &err);
	remove_nodes(dir);
	if (rc < 0) {
		fprintf(stderr, "onex-bench: host did not start: %s\n", err.text);
		return -1;
	}
	onex_bench_host_run_until(&bh, onex_bench_host_now_ns(&bh) + 60000 * MS_NS);
	json_object_set_new(out, "rss_start_kb", json_integer(rss_start));
	json_object_set_new(out, "rss_kb", json_integer(onex_bench_vmrss_kb()));
	json_object_set_new(out, "vmhwm_kb", json_integer(onex_bench_vmhwm_kb()));
	json_object_set_new(out, "nodes", json_integer(NODES));
	onex_bench_host_close(&bh);
	return 0;
}

static const char contract_inflight[] = "schema_version: \"1.0.0\"\n"
					"runtime:\n"
					"  name: \"bench_inflight\"\n"
					"  version: \"1.0.0\"\n"
					"  event_bus: { kind: \"inmemory\", config: { history_size: 0 } }\n"
					"  handlers:\n"
					"    - type: \"local\"\n"
					"      timeout_ms: 60000\n";

static int probe_inflight(json_t *out)
{
	struct onex_bench_host bh;
	struct onex_error err;
	char text[1024];
	onex_error_clear(&err);
	long rss_start = onex_bench_vmrss_kb();
	struct onex_bench_host_config cfg = {
		.contract_yaml = contract_inflight, .inflight_max = INFLIGHT, .seed = 1,
	};
	if (onex_bench_host_open(&bh, &cfg, &err) < 0) {
		fprintf(stderr, "onex-bench: host did not start: %s\n", err.text);
		return -1;
	}
	for (unsigned i = 0; i < INFLIGHT; i++) {
		int len = snprintf(text, sizeof(text),
				   "{\"envelope_id\":\"00000000-0000-4000-9000-%012x\","
				   "\"correlation_id\":\"00000000-0000-4000-8000-%012x\","
				   "\"source_node\":\"bench-client\",\"handler_type\":\"local\","
				   "\"operation\":\"local.echo\",\"payload\":{\"delay_ms\":10000,"
				   "\"order_id\":%u,\"customer\":\"ada\",\"items\":[{\"sku\":\"A-1\","
				   "\"qty\":2,\"price\":9.5},{\"sku\":\"B-7\",\"qty\":1,\"price\":120.0}],"
				   "\"note\":\"leave at the door\"}}",
				   i, i, i);
		if (onex_bench_host_publish(&bh, text, (size_t)len, &err) < 0) {
			fprintf(stderr, "onex-bench: publish %u refused: %s\n", i, err.text);
			onex_bench_host_close(&bh);
			return -1;
		}
	}
	onex_bench_host_run_until(&bh, onex_bench_host_now_ns(&bh) + MS_NS);
	const struct onex_host_stats *st = onex_host_stats(bh.host);
	json_object_set_new(out, "in_flight", json_integer((json_int_t)(st->received - bh.replies)));
	json_object_set_new(out, "rss_in_flight_kb", json_integer(onex_bench_vmrss_kb()));
	onex_bench_host_run_until(&bh, onex_bench_host_now_ns(&bh) + 11000 * MS_NS);
	json_object_set_new(out, "replies", json_integer((json_int_t)bh.replies));
	json_object_set_new(out, "rss_start_kb", json_integer(rss_start));
	json_object_set_new(out, "vmhwm_kb", json_integer(onex_bench_vmhwm_kb()));
	onex_bench_host_close(&bh);
	return 0;
}

int onex_bench_probe_main(int argc, char **argv);

int onex_bench_probe_main(int argc, char **argv)
{
	json_t *out = json_object();
	int rc;
	if (argc < 1) {
		fprintf(stderr, "usage: onex-bench __probe memory-idle|memory-inflight\n");
		return 1;
	}
	if (strcmp(argv[0], "memory-idle") == 0)
		rc = probe_idle(out);
	else if (strcmp(argv[0], "memory-inflight") == 0)
		rc = probe_inflight(out);
	else
		rc = -1;
	char *text = json_dumps(out, JSON_COMPACT);
	if (rc == 0)
		printf("%s\n", text);
	free(text);
	json_decref(out);
	return rc == 0 ? 0 : 1;
}

/* ---- the workloads (run in the benchmark process) ------------------------------------ */

static json_t *run_probe(struct onex_bench_ctx *ctx, struct onex_bench_result *res,
			 const char *name)
{
	struct onex_bench_child child;
	const char *argv[] = { ctx->self_exe, "__probe", name, NULL };
	if (onex_bench_spawn(argv, 1u << 16, 1, &child) < 0) {
		snprintf(res->note, sizeof(res->note), "could not start the probe");
		return NULL;
	}
	json_t *j = child.exit_code == 0 && child.out ? json_loads(child.out, 0, NULL) : NULL;
	if (!j)
		snprintf(res->note, sizeof(res->note), "the probe failed (exit %d)", child.exit_code);
	onex_bench_child_release(&child);
	return j;
}

static double num(const json_t *j, const char *key)
{
	return (double)json_integer_value(json_object_get(j, key));
}

static int idle_run(struct onex_bench_ctx *ctx, struct onex_bench_result *res, unsigned rep)
{
	(void)rep;
	json_t *j = run_probe(ctx, res, "memory-idle");
	if (!j)
		return -1;
	onex_bench_add(res, "peak_rss", "kB", ONEX_BENCH_LOWER, ONEX_BENCH_SAMPLED, num(j, "vmhwm_kb"));
	onex_bench_add(res, "rss_idle", "kB", ONEX_BENCH_LOWER, ONEX_BENCH_INFO, num(j, "rss_kb"));
	onex_bench_add(res, "rss_process_start", "kB", ONEX_BENCH_LOWER, ONEX_BENCH_INFO,
		       num(j, "rss_start_kb"));
	onex_bench_add(res, "host_rss", "kB", ONEX_BENCH_LOWER, ONEX_BENCH_INFO,
		       num(j, "rss_kb") - num(j, "rss_start_kb"));
	snprintf(res->note, sizeof(res->note),
		 "fresh process: one host, %d node contracts, local+http+db, idle 60 virtual s",
		 NODES);
	json_decref(j);
	return 0;
}

static int inflight_run(struct onex_bench_ctx *ctx, struct onex_bench_result *res, unsigned rep)
{
	(void)rep;
	json_t *j = run_probe(ctx, res, "memory-inflight");
	if (!j)
		return -1;
	if (num(j, "in_flight") != INFLIGHT || num(j, "replies") != INFLIGHT) {
		snprintf(res->note, sizeof(res->note), "expected %u in flight and replies, got %.0f / %.0f",
			 INFLIGHT, num(j, "in_flight"), num(j, "replies"));
		json_decref(j);
		return -1;
	}
	onex_bench_add(res, "peak_rss", "kB", ONEX_BENCH_LOWER, ONEX_BENCH_SAMPLED, num(j, "vmhwm_kb"));
	onex_bench_add(res, "rss_in_flight", "kB", ONEX_BENCH_LOWER, ONEX_BENCH_INFO,
		       num(j, "rss_in_flight_kb"));
	onex_bench_add(res, "rss_process_start", "kB", ONEX_BENCH_LOWER, ONEX_BENCH_INFO,
		       num(j, "rss_start_kb"));
	onex_bench_add(res, "bytes_per_inflight", "B", ONEX_BENCH_LOWER, ONEX_BENCH_INFO,
		       (num(j, "rss_in_flight_kb") - num(j, "rss_start_kb")) * 1024.0 / INFLIGHT);
	snprintf(res->note, sizeof(res->note),
		 "fresh process: inflight_max %u, %u local.echo envelopes with delay_ms 10000 "
		 "held in flight, then answered",
		 INFLIGHT, INFLIGHT);
	json_decref(j);
	return 0;
}

const struct onex_bench_workload onex_bench_wl_mem_idle = {
	.name = "memory-idle",
	.group = "memory",
	.what = "peak RSS of a host with 10 nodes, idle (fresh process)",
	.run_once = idle_run,
};

const struct onex_bench_workload onex_bench_wl_mem_inflight = {
	.name = "memory-inflight",
	.group = "memory",
	.what = "peak RSS of a host with 10 000 envelopes in flight (fresh process)",
	.run_once = inflight_run,
};
