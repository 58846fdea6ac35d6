/*
 * wl_real_db.c - real-db: `db.query` by primary key
 * (SELECT abalance FROM pgbench_accounts WHERE aid = $1, random aid) through
 * the libpq unit (core/real/pg_db.h) on the epoll loop, one request in
 * flight on a pool of one connection (the unit prepares the statement
 * and runs it with PQsendQueryPrepared), against a throwaway PostgreSQL
 * cluster (tests/support/pg_cluster.c, included here) initialized by
 * `pgbench -i -s 1`; next to `pgbench -S -M prepared -c 1 -t N` (spawned,
 * tps parsed: the same query, prepared, one connection) on the same
 * cluster, alternated with the unit in rounds within the repetition.
 * While it runs this process (and so pgbench), the postmaster (and so the
 * backend it forks for each connection) are pinned to one CPU: each
 * client/backend pair then pays the same loopback round trip.
 *
 * The cluster is created at the first repetition and destroyed after the
 * last one (initdb + start ~2 s, pgbench -i ~1 s: setup, not timed).
 */
#include <stdlib.h>
#include <string.h>

#include "../../tests/support/pg_cluster.c"

#include "bench.h"
#include "stats.h"
#include "envelope.h"
#include "handler.h"
#include "log.h"
#include "loop.h"
#include "real/pg_db.h"
#include "system_units.h"
#include "wl_real.h"

#define DB_ROWS 100000u /* pgbench scale 1 */
#define DB_CLIENTS 1
#define DB_ROUNDS 5u /* unit, pgbench, unit, pgbench, ... (3 with --quick) */

static struct pg_cluster db_cluster;
static int db_cluster_up, db_cluster_failed, db_atexit;
static char db_pgbench[512], db_why[600];

static void db_cluster_drop(void)
{
	if (db_cluster_up)
		pg_cluster_destroy(&db_cluster);
	db_cluster_up = 0;
}

/* Run `cmd` through the shell, its stdout into out; exit status, or -1. */
static int db_shell(const char *cmd, char *out, size_t size)
{
	FILE *p = popen(cmd, "r");
	size_t n = 0;
	if (!p)
		return -1;
	while (n + 1 < size) {
		size_t got = fread(out + n, 1, size - 1 - n, p);
		if (got == 0)
			break;
		n += got;
	}
	out[n] = '\0';
	char drain[256];
	while (fread(drain, 1, sizeof(drain), p) > 0)
		;
	int st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Create the cluster and the pgbench tables once. 0, or -1 with db_why. */
static int db_setup(void)
{
	char out[4096], cmd[1024];
	if (db_cluster_up)
		return 0;
	if (db_cluster_failed)
		return -1;
	db_cluster_failed = 1;
	snprintf(db_pgbench, sizeof(db_pgbench), "/usr/lib/postgresql/15/bin/pgbench");
	if (pg_cluster_create(&db_cluster) < 0) {
		snprintf(db_why, sizeof(db_why), "no PostgreSQL cluster: %.500s", db_cluster.error);
		pg_cluster_destroy(&db_cluster);
		return -1;
	}
	db_cluster_up = 1;
	if (!db_atexit)
		atexit(db_cluster_drop);
	db_atexit = 1;
	snprintf(db_pgbench, sizeof(db_pgbench), "%s/pgbench", db_cluster.bindir);
	if (access(db_pgbench, X_OK) != 0)
		snprintf(db_pgbench, sizeof(db_pgbench), "/usr/bin/pgbench");
	if (access(db_pgbench, X_OK) != 0) {
		snprintf(db_why, sizeof(db_why),
			 "pgbench not found (in %s or /usr/bin): the reference cannot run; "
			 "install the PostgreSQL client tools (make deps)",
			 db_cluster.bindir);
		db_cluster_drop();
		return -1;
	}
	snprintf(cmd, sizeof(cmd), "'%s' -i -s 1 -q -h 127.0.0.1 -p %d -U postgres postgres 2>&1",
		 db_pgbench, db_cluster.port);
	if (db_shell(cmd, out, sizeof(out)) != 0) {
		snprintf(db_why, sizeof(db_why), "pgbench -i failed: %.500s", out);
		db_cluster_drop();
		return -1;
	}
	db_cluster_failed = 0;
	return 0;
}

static uint64_t db_rng = 0x9e3779b97f4a7c15ull;

/* One db.query by a random primary key; 0 when it returned one row, -1 otherwise. */
static int db_one(void *arg)
{
	struct onex_bench_call *c = arg;
	struct onex_envelope req;
	db_rng = db_rng * 6364136223846793005ull + 1442695040888963407ull;
	json_int_t aid = (json_int_t)((db_rng >> 33) % DB_ROWS) + 1;
	memset(&req, 0, sizeof(req));
	req.json = json_pack("{s:s,s:{s:s,s:[I]}}", "operation", "db.query", "payload", "sql",
			     "SELECT abalance FROM pgbench_accounts WHERE aid = $1", "parameters",
			     aid);
	req.operation = "db.query";
	req.payload = json_object_get(req.json, "payload");
	req.correlation_id = "7f0c1b7e-1d2a-4c3b-8e4f-5a6b7c8d9e0f";
	req.handler_type = ONEX_HANDLER_DB;
	json_t *payload = onex_bench_call_once(c, &req);
	json_decref(req.json);
	int rows = (int)json_integer_value(json_object_get(payload, "row_count"));
	json_decref(payload);
	return rows == 1 ? 0 : -1;
}

int onex_bench_real_db_run(struct onex_bench_ctx *ctx, struct onex_bench_result *res,
			   unsigned rep)
{
	unsigned long n = ctx->quick ? 3000ul : 20000ul;
	struct onex_bench_call s;
	struct onex_error err;
	struct onex_clock *clock = NULL;
	struct onex_log *log = NULL;
	struct onex_hist h;
	int rc = -1;
	if (db_setup() < 0)
		return onex_bench_real_unavailable(res, "not available: %s", db_why);
	/*
	 * This process, the pgbench it spawns, the postmaster and so every
	 * backend it forks for a connection from now on (the unit's, each
	 * pgbench's) on one CPU: see onex_bench_pin_one_cpu() in wl_real.h.
	 */
	struct onex_bench_pin pin;
	int pinned = onex_bench_pin_one_cpu(&pin, &db_cluster.pid, 1) == 0;
	memset(&s, 0, sizeof(s));
	onex_error_clear(&err);
	if (onex_hist_init(&h, ONEX_BENCH_HIST_LOWEST, ONEX_BENCH_HIST_HIGHEST,
			   ONEX_BENCH_HIST_SIG_FIGS) < 0)
		goto drop;
	s.loop = onex_epoll_loop_new(&err);
	clock = onex_system_clock_new();
	log = clock ? onex_stderr_log_new(clock, ONEX_LOG_ERROR) : NULL;
	if (!s.loop || !log) {
		snprintf(res->note, sizeof(res->note), "epoll loop: %.400s", err.text);
		goto out;
	}
	struct onex_handler_env env = { s.loop, clock, log, NULL };
	json_t *entry = json_pack("{s:s,s:{s:s,s:i}}", "type", "db", "config", "dsn",
				  db_cluster.conninfo, "pool_size", DB_CLIENTS);
	s.h = onex_pg_db_unit.create(&env, &err);
	int init = s.h ? onex_handler_initialize(s.h, entry, &err) : -1;
	json_decref(entry);
	if (init < 0) {
		snprintf(res->note, sizeof(res->note), "libpq handler: %.400s", err.text);
		goto out;
	}
	onex_bench_rss_reset(); /* peak RSS: of this process while the unit runs */
	for (unsigned long i = 0; i < n / 10 + 10; i++) /* connect, prepare, warm the cache */
		if (db_one(&s) < 0)
			goto lost;
	/*
	 * Rounds: the unit runs n / rounds queries, then pgbench runs as many
	 * transactions (-t) on its own connection, and again. Each round's
	 * ratio compares two runs a fraction of a second apart; on a shared
	 * machine a client/server ping-pong moves by 3x with the neighbours'
	 * load, so only ratios taken close together mean anything.
	 */
	unsigned rounds = ctx->quick ? 3u : DB_ROUNDS;
	unsigned long per_round = n / rounds;
	double ratios[DB_ROUNDS], unit_ns = 0, ref_tps_sum = 0, cpu = 0;
	long hwm = -1;
	char cmd[1024], out[8192];
	for (unsigned r = 0; r < rounds; r++) {
		uint64_t round_ns = onex_bench_real_unit_round(db_one, &s, per_round, &h, &cpu);
		if (!round_ns)
			goto lost;
		if (r == 0)
			hwm = onex_bench_vmhwm_kb();
		unit_ns += (double)round_ns;
		double unit_round = (double)per_round / ((double)round_ns / 1e9);

		/* The reference: pgbench -S -M prepared, same connection count, same cluster. */
		snprintf(cmd, sizeof(cmd),
			 "'%s' -S -M prepared -n -c %d -j %d -t %lu -h 127.0.0.1 -p %d -U postgres "
			 "postgres 2>&1",
			 db_pgbench, DB_CLIENTS, DB_CLIENTS, per_round, db_cluster.port);
		int st = db_shell(cmd, out, sizeof(out));
		const char *tps_line = strstr(out, "tps = ");
		double tps = 0;
		if (st != 0 || !tps_line || sscanf(tps_line, "tps = %lf", &tps) != 1 || tps <= 0) {
			snprintf(res->note, sizeof(res->note), "pgbench -S failed (status %d): %.400s",
				 st, out);
			goto out;
		}
		ratios[r] = unit_round / tps;
		ref_tps_sum += tps;
	}
	double unit_total = (double)(per_round * rounds) / (unit_ns / 1e9);
	double ratio = onex_stats_median(ratios, rounds);
	onex_handler_shutdown(s.h);
	onex_handler_free(s.h);
	s.h = NULL;

	onex_bench_add(res, "throughput", "req/s", ONEX_BENCH_HIGHER, ONEX_BENCH_SAMPLED, unit_total);
	onex_bench_add(res, "cpu_per_req", "ns", ONEX_BENCH_LOWER, ONEX_BENCH_SAMPLED,
		       cpu / (double)(per_round * rounds));
	onex_bench_add_latency(res, "latency", &h, ONEX_BENCH_SAMPLED,
			       "wall-clock db.query through the libpq unit, execute to done");
	onex_bench_add(res, "ref_throughput", "tps", ONEX_BENCH_HIGHER, ONEX_BENCH_SAMPLED,
		       ref_tps_sum / rounds);
	onex_bench_add(res, "vs_reference", "x", ONEX_BENCH_HIGHER, ONEX_BENCH_SAMPLED, ratio);
	onex_bench_add(res, "vs_reference_spread", "x", ONEX_BENCH_NEITHER, ONEX_BENCH_INFO,
		       onex_stats_max(ratios, rounds) - onex_stats_min(ratios, rounds));
	onex_bench_add_peak_rss(res, hwm);
	onex_bench_add(res, "requests", "", ONEX_BENCH_NEITHER, ONEX_BENCH_INFO, (double)n);
	char how[512];
	snprintf(how, sizeof(how),
		 "the same SELECT by random primary key, prepared, 1 connection, 1 in flight, "
		 "after a warm-up of n/10 queries; alternated with pgbench -S -M prepared -c 1 "
		 "-t n/rounds (tps without connection time) in rounds, median of the rounds' "
		 "ratios; %s",
		 pinned ? "this process, pgbench and the postgres backends pinned to one CPU"
			: "NOT pinned (sched_setaffinity failed)");
	onex_bench_real_note(res, how);
	rc = 0;
	goto out;
lost:
	snprintf(res->note, sizeof(res->note), "db.query through the libpq unit failed");
out:
	if (s.h) {
		onex_handler_shutdown(s.h);
		onex_handler_free(s.h);
	}
	onex_loop_free(s.loop);
	onex_log_free(log);
	onex_clock_free(clock);
	onex_hist_release(&h);
drop:
	onex_bench_unpin(&pin);
	if (rc < 0 || rep + 1 >= ctx->repetitions)
		db_cluster_drop();
	return rc;
}
