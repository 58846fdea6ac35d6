/*
 * test_sim_vs_real.c - "Simulation equals reality": every scenario marked
 * `real: true` runs once in onex-sim (in process, with its trace) and once
 * through the real `onex-host` binary with the real units - PostgreSQL
 * seeded with the scenario's SQL fixtures, the loopback test HTTP server
 * serving its stubs, and the Kafka bus on librdkafka's mock cluster - with
 * libfaketime freezing the host's wall clock at the simulation's epoch and
 * `--id-seed` drawing the host's ids from the scenario seed's stream. The
 * host gets the exact request bytes the simulator published (from the
 * trace), on the stdio bus and again over Kafka; every reply must equal the
 * simulator's field by field (docs/BACKENDS.md "Simulation equals reality").
 *
 * One change is made to the requests: the stubs' origins (http://users.test)
 * point at the test server (http://127.0.0.1:PORT), as a hosts-file entry
 * would. No reply carries a URL.
 *
 * Each server starts once for all scenarios; each scenario gets its own
 * database (CREATE DATABASE) and its own Kafka topics. Under the sanitizer
 * build (ONEX_CONFIG=san) the comparison is skipped: libfaketime does not
 * mix with AddressSanitizer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "http_server.h"
#include "kafka_mock.h"
#include "pg_cluster.h"
#include "scenario.h"
#include "scenario_run.h"
#include "seeded_ids.h"
#include "spawn.h"

#define FAKETIME_LIB "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
/* The thread-safe build, for the Kafka host: librdkafka's threads read the clock too. */
#define FAKETIME_MT_LIB "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"
/* onex-sim's wall clock at virtual time 0 (sim/world.h ONEX_SIM_EPOCH_NS), frozen. */
#define FAKETIME_AT "2025-01-01 00:00:00"
#define KCAT "/usr/bin/kcat"
#define SCENARIO_DIR "scenarios"
#define REAL_CONTRACT "fixtures/contracts/sim_real.yaml"
#define SCENARIOS_MAX 64
#define REAL_MIN 10

static char dir[64], stubs_path[128], host_bin[512];
static struct pg_cluster pg;
static struct http_server http;
static struct kafka_mock kmock;
static int servers_up, san;
static char *paths[SCENARIOS_MAX];
static size_t path_count;
static char collect_problem[1024]; /* the first scenario that could not be taken */

/* ---- the scenarios marked real: true ------------------------------------------- */

static int collect(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	size_t n = strlen(path);
	if (type != FTW_F || n < 5 || strcmp(path + n - 5, ".yaml") != 0 || strstr(path, "/data/"))
		return 0;
	struct onex_scenario *sc = NULL;
	struct onex_error err;
	onex_error_clear(&err);
	const char *only = getenv("ONEX_DIFF_FILTER"); /* run the scenarios whose path has it */
	if (onex_scenario_load(path, &sc, &err) < 0) {
		if (!collect_problem[0])
			snprintf(collect_problem, sizeof(collect_problem), "%.400s: %.600s", path, err.text);
	} else if (sc->real && (!only || strstr(path, only))) {
		if (path_count < SCENARIOS_MAX)
			paths[path_count++] = strdup(path);
		else if (!collect_problem[0])
			snprintf(collect_problem, sizeof(collect_problem),
				 "%.400s: more than %d real: true scenarios", path, SCENARIOS_MAX);
	}
	onex_scenario_free(sc);
	return 0;
}

static int by_path(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ---- one run in the simulator ----------------------------------------------------- */

struct run {
	json_t *requests; /* strings: the bytes the scenario published on the input topic */
	json_t *replies;  /* envelopes the host published on the output topic */
};

static void sim_run(const char *path, struct run *out)
{
	struct onex_scenario_run_options opt = { 0, 0, 1 };
	struct onex_scenario_result res;
	onex_scenario_run_file(path, &opt, &res);
	if (!res.passed)
		fail_msg("%s fails in onex-sim:\n%s", path, res.failure ? res.failure : "?");
	out->requests = json_array();
	out->replies = json_array();
	char *save = NULL;
	for (char *line = strtok_r(res.trace, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		json_t *ev = json_loads(line, 0, NULL);
		const char *event = json_string_value(json_object_get(ev, "event"));
		const char *by = json_string_value(json_object_get(ev, "by"));
		json_t *data = json_object_get(ev, "data");
		if (event && strcmp(event, "publish") == 0 && by) {
			if (strcmp(by, "scenario") == 0) {
				/* What scenario_run.c published: the envelope as compact JSON. */
				char *text = json_is_string(data)
						     ? strdup(json_string_value(data))
						     : json_dumps(data, JSON_COMPACT);
				json_array_append_new(out->requests, json_string(text));
				free(text);
			} else {
				json_array_append(out->replies, data);
			}
		}
		json_decref(ev);
	}
	onex_scenario_result_release(&res);
}

/* ---- the servers' share of a scenario ---------------------------------------------- */

static void must_sql(PGconn *c, const char *sql, const char *what)
{
	PGresult *r = PQexec(c, sql);
	ExecStatusType st = PQresultStatus(r);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
		fail_msg("%s: %s", what, PQerrorMessage(c));
	PQclear(r);
}

/* A fresh database with the scenario's SQL fixtures; its conninfo into out. */
static void prepare_db(const struct onex_scenario *sc, unsigned n, char *out, size_t size)
{
	char sql[128], name[32];
	snprintf(name, sizeof(name), "diff_%u", n);
	PGconn *admin = PQconnectdb(pg.conninfo);
	if (PQstatus(admin) != CONNECTION_OK)
		fail_msg("PostgreSQL: %s", PQerrorMessage(admin));
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", name);
	must_sql(admin, sql, sql);
	PQfinish(admin);
	snprintf(out, size, "host=127.0.0.1 port=%d dbname=%s user=postgres", pg.port, name);
	PGconn *c = PQconnectdb(out);
	if (PQstatus(c) != CONNECTION_OK)
		fail_msg("PostgreSQL %s: %s", name, PQerrorMessage(c));
	for (size_t i = 0; i < sc->sql_count; i++)
		must_sql(c, sc->sql[i], sc->sql_names[i]);
	PQfinish(c);
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

/* The stubs for the test server (an empty list when the scenario has none). */
static void write_stubs(const struct onex_scenario *sc)
{
	json_t *stubs = sc->http_stubs ? json_incref(sc->http_stubs) : json_array();
	assert_int_equal(json_dump_file(stubs, stubs_path, JSON_COMPACT), 0);
	json_decref(stubs);
}

/* In `text`, every stub origin + "/" becomes the test server's. Returns a new string. */
static char *point_at_server(const struct onex_scenario *sc, const char *text)
{
	char *cur = strdup(text), to[64];
	size_t i;
	json_t *st;
	snprintf(to, sizeof(to), "http://127.0.0.1:%u/", (unsigned)http.port);
	json_array_foreach(sc->http_stubs, i, st) {
		const char *url = json_string_value(json_object_get(st, "url"));
		const char *host = url ? strstr(url, "://") : NULL;
		const char *slash = host ? strchr(host + 3, '/') : NULL;
		if (!slash)
			continue;
		char from[512];
		snprintf(from, sizeof(from), "%.*s", (int)(slash - url + 1), url);
		size_t fl = strlen(from), tl = strlen(to), hits = 0;
		for (const char *p = cur; (p = strstr(p, from)); p += fl)
			hits++;
		if (!hits)
			continue;
		char *next = malloc(strlen(cur) + hits * tl + 1), *w = next;
		const char *p = cur, *q;
		while ((q = strstr(p, from))) {
			memcpy(w, p, (size_t)(q - p));
			w += q - p;
			memcpy(w, to, tl);
			w += tl;
			p = q + fl;
		}
		strcpy(w, p);
		free(cur);
		cur = next;
	}
	return cur;
}

/*
 * The host's contract: the handlers of fixtures/contracts/sim_real.yaml, the
 * db handler pointed at PostgreSQL through $ONEX_DIFF_PG, and `bus` as the
 * event bus block.
 */
static void write_contract(const char *path, const char *bus)
{
	char text[2048];
	snprintf(text, sizeof(text),
		 "schema_version: \"1.0.0\"\n"
		 "runtime:\n"
		 "  name: \"sim_real\"\n"
		 "  version: \"1.0.0\"\n"
		 "  event_bus:\n%s"
		 "  handlers:\n"
		 "    - type: \"http\"\n"
		 "    - type: \"db\"\n"
		 "      config: { conninfo_env: \"ONEX_DIFF_PG\" }\n",
		 bus);
	write_text(path, text);
}

/* ---- field by field ----------------------------------------------------------------- */

struct diffs {
	const char *scenario, *bus;
	size_t reply;
	unsigned count;
};

static void shown(const json_t *v, char *buf, size_t size)
{
	char *t = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
	snprintf(buf, size, "%s", t ? t : "(absent)");
	free(t);
}

static void differs(struct diffs *d, const char *path, const json_t *sim, const json_t *real)
{
	char a[600], b[600];
	shown(sim, a, sizeof(a));
	shown(real, b, sizeof(b));
	print_message("DIFF %s (%s) reply %zu: %s\n  onex-sim:  %s\n  onex-host: %s\n", d->scenario,
		      d->bus, d->reply + 1, path[0] ? path : "(envelope)", a, b);
	d->count++;
}

static void compare(struct diffs *d, const char *path, json_t *sim, json_t *real)
{
	char sub[512];
	if (!sim || !real || json_typeof(sim) != json_typeof(real)) {
		if (!(json_is_boolean(sim) && json_is_boolean(real)))
			return differs(d, path, sim, real);
	}
	if (json_is_object(sim)) {
		const char *k;
		json_t *v;
		json_object_foreach(sim, k, v) {
			snprintf(sub, sizeof(sub), "%s%s%s", path, path[0] ? "." : "", k);
			compare(d, sub, v, json_object_get(real, k));
		}
		json_object_foreach(real, k, v)
			if (!json_object_get(sim, k)) {
				snprintf(sub, sizeof(sub), "%s%s%s", path, path[0] ? "." : "", k);
				differs(d, sub, NULL, v);
			}
		return;
	}
	if (json_is_array(sim)) {
		if (json_array_size(sim) != json_array_size(real)) {
			snprintf(sub, sizeof(sub), "%s (length %zu vs %zu)", path, json_array_size(sim),
				 json_array_size(real));
			return differs(d, sub, sim, real);
		}
		for (size_t i = 0; i < json_array_size(sim); i++) {
			snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
			compare(d, sub, json_array_get(sim, i), json_array_get(real, i));
		}
		return;
	}
	if (!json_equal(sim, real))
		differs(d, path, sim, real);
}

/* Compare the host's output lines with the simulator's replies; differences found. */
static unsigned compare_replies(const char *scenario, const char *bus, const struct run *sim,
				const char *out, const char *log)
{
	struct diffs d = { scenario, bus, 0, 0 };
	size_t lines = spawn_count_lines(out), n = json_array_size(sim->replies);
	static char buf[1 << 16];
	if (lines != n) {
		print_message("DIFF %s (%s): onex-sim published %zu replies, onex-host %zu:\n%s\n"
			      "onex-host's log:\n%.3000s\n",
			      scenario, bus, n, lines, out, log ? log : "");
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *real = json_loads(spawn_line(out, i, buf, sizeof(buf)), 0, NULL);
		d.reply = i;
		if (!real) {
			print_message("DIFF %s (%s) reply %zu is not JSON: %s\n", scenario, bus, i + 1, buf);
			d.count++;
			continue;
		}
		compare(&d, "", json_array_get(sim->replies, i), real);
		json_decref(real);
	}
	return d.count;
}

/* ---- the host ---------------------------------------------------------------------- */

/*
 * On stdio, FAKETIME freezes the wall clock for the host's whole life. On
 * Kafka that cannot be: libfaketime's frozen CLOCK_REALTIME makes
 * librdkafka's timed waits (which libfaketime does not translate here)
 * expire at once, so rd_kafka_new() fails ("Timed out waiting for 1
 * background thread(s) to initialize") and the client threads spin. The
 * Kafka host therefore reads its clock spec from a file (FAKETIME_TIMESTAMP_FILE,
 * re-read on every call): "+0" (the real time) while librdkafka starts,
 * the frozen epoch while the requests are produced and answered, "+0" again
 * before it is stopped.
 */
static void host_env(char env[][600], const char *conninfo, const char *clock_file,
		     const char **list)
{
	snprintf(env[0], 600, "LD_PRELOAD=%s", clock_file ? FAKETIME_MT_LIB : FAKETIME_LIB);
	if (clock_file)
		snprintf(env[1], 600, "FAKETIME_TIMESTAMP_FILE=%s", clock_file);
	else
		snprintf(env[1], 600, "FAKETIME=%s", FAKETIME_AT); /* no '@': the clock stands still */
	snprintf(env[2], 600, "FAKETIME_DONT_FAKE_MONOTONIC=1"); /* timers, libcurl, librdkafka */
	snprintf(env[3], 600, "TZ=UTC");
	snprintf(env[4], 600, "ONEX_DIFF_PG=%s", conninfo);
	snprintf(env[5], 600, "SHUTDOWN_GRACE_SECONDS=5");
	snprintf(env[6], 600, "FAKETIME_NO_CACHE=%d", clock_file ? 1 : 0);
	for (int i = 0; i < 7; i++)
		list[i] = env[i];
	list[7] = NULL;
}

/*
 * The Kafka host's clock spec, replaced atomically (write, then rename): the
 * host re-reads the file on every clock call and would take an empty or
 * half-written one for "no fake time".
 */
static void write_clock(const char *clock_file, const char *spec)
{
	char tmp[160];
	snprintf(tmp, sizeof(tmp), "%s.new", clock_file);
	write_text(tmp, spec);
	assert_int_equal(rename(tmp, clock_file), 0);
}

static char *requests_text(const struct onex_scenario *sc, const struct run *sim)
{
	size_t i, cap = 1, used = 0;
	json_t *r;
	json_array_foreach(sim->requests, i, r)
		cap += json_string_length(r) * 2 + 64;
	char *text = malloc(cap);
	text[0] = '\0';
	json_array_foreach(sim->requests, i, r) {
		char *one = point_at_server(sc, json_string_value(r));
		used += (size_t)snprintf(text + used, cap - used, "%s\n", one);
		free(one);
	}
	return text;
}

static unsigned run_stdio(const char *path, const struct onex_scenario *sc,
			  const struct run *sim, unsigned n)
{
	char conninfo[256], contract[128], seed[32], env[8][600];
	const char *envp[8];
	struct spawn_result res;
	prepare_db(sc, n, conninfo, sizeof(conninfo));
	write_stubs(sc);
	snprintf(contract, sizeof(contract), "%s/stdio.yaml", dir);
	write_contract(contract, "    kind: \"stdio\"\n");
	snprintf(seed, sizeof(seed), "%llu", (unsigned long long)sc->seed);
	host_env(env, conninfo, NULL, envp);
	char *input = requests_text(sc, sim);
	const char *argv[] = { host_bin, "--id-seed", seed, contract, NULL };
	struct spawn_opts o = { input, strlen(input), envp, 0, 0, 30000 };
	assert_int_equal(spawn_run(argv, &o, &res), 0);
	if (res.exit_code != 0)
		fail_msg("%s: onex-host exited %d (signal %d):\n%s", path, res.exit_code, res.signal,
			 res.err);
	unsigned d = compare_replies(sc->name, "stdio", sim, res.out, res.err);
	spawn_result_release(&res);
	free(input);
	return d;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *text = calloc(1, 1 << 16);
	if (f) {
		size_t n = fread(text, 1, (1 << 16) - 1, f);
		text[n] = '\0';
		fclose(f);
	}
	return text;
}

static struct {
	pid_t pid;
	char log[128], name[128], topic[64];
	size_t replies; /* read from `topic` while the host ran: nothing may follow them */
} stopping[SCENARIOS_MAX];
static size_t stopping_count;

static char *slurp(const char *path);

static unsigned run_kafka(const char *path, const struct onex_scenario *sc,
			  const struct run *sim, unsigned n)
{
	char conninfo[256], contract[128], seed[32], env[8][600], in[64], out[64], dlq[80];
	char bus[1024], log[128], count[16];
	const char *envp[8];
	struct spawn_result res;
	prepare_db(sc, 1000 + n, conninfo, sizeof(conninfo)); /* its own database */
	write_stubs(sc);
	snprintf(in, sizeof(in), "onex.diff%u.sim.cmd.v1", n);
	snprintf(out, sizeof(out), "onex.diff%u.sim.evt.v1", n);
	snprintf(dlq, sizeof(dlq), "%s.dlq", in);
	if (kafka_mock_create_topic(&kmock, in, 1) < 0 || kafka_mock_create_topic(&kmock, out, 1) < 0 ||
	    kafka_mock_create_topic(&kmock, dlq, 1) < 0)
		fail_msg("mock cluster: %s", kmock.last_error);
	snprintf(bus, sizeof(bus),
		 "    kind: \"kafka\"\n"
		 "    config:\n"
		 "      bootstrap_servers: \"%s\"\n"
		 "      consumer_group: \"diff-%u\"\n"
		 "      topics: { input: \"%s\", output: \"%s\" }\n"
		 "      fetch_wait_max_ms: 5\n"
		 "      session_timeout_ms: 3000\n",
		 kmock.bootstrap, n, in, out);
	snprintf(contract, sizeof(contract), "%s/kafka.yaml", dir);
	write_contract(contract, bus);
	snprintf(seed, sizeof(seed), "%llu", (unsigned long long)sc->seed);
	snprintf(log, sizeof(log), "%s/kafka-%u.log", dir, n);
	char clock_file[128];
	snprintf(clock_file, sizeof(clock_file), "%s/clock", dir);
	write_clock(clock_file, "+0\n");
	host_env(env, conninfo, clock_file, envp);

	const char *argv[] = { host_bin, "--id-seed", seed, contract, NULL };
	pid_t pid = spawn_background(argv, envp, log);
	assert_true(pid > 0);
	/* librdkafka's threads run once the bus logs that it consumes: then freeze the clock. */
	for (int waited = 0;; waited += 20) {
		char *text = slurp(log);
		int up = strstr(text, "kafka bus: consuming") != NULL;
		free(text);
		if (up)
			break;
		if (waited > 15000 || waitpid(pid, NULL, WNOHANG) == pid) {
			char *early = slurp(log);
			kill(pid, SIGKILL); /* by its PID */
			waitpid(pid, NULL, 0);
			fail_msg("%s: onex-host on Kafka did not start:\n%.3000s", path, early);
		}
		sleep_ms(20);
	}
	write_clock(clock_file, FAKETIME_AT "\n");
	/* kcat as the independent client: produce the requests, read the replies. */
	char *input = requests_text(sc, sim);
	const char *produce[] = { KCAT, "-b", kmock.bootstrap, "-P", "-t", in, NULL };
	struct spawn_opts po = { .input = input, .input_len = strlen(input), .timeout_ms = 20000 };
	assert_int_equal(spawn_run(produce, &po, &res), 0);
	if (res.exit_code != 0)
		fail_msg("kcat -P: %s", res.err);
	spawn_result_release(&res);
	free(input);
	snprintf(count, sizeof(count), "%zu", json_array_size(sim->replies));
	const char *consume[] = { KCAT, "-b", kmock.bootstrap, "-C", "-t", out, "-o", "beginning",
				  "-c", count, "-q", "-f", "%s\\n", "-X", "fetch.wait.max.ms=5",
				  NULL };
	struct spawn_opts co = { .timeout_ms = 15000 };
	assert_int_equal(spawn_run(consume, &co, &res), 0);
	write_clock(clock_file, "+0\n"); /* real time again, so it can stop */

	/* Stopped by its PID; stop_hosts() collects the exit while the next scenario runs. */
	kill(pid, SIGTERM);
	char *host_log = slurp(log);
	unsigned d = compare_replies(sc->name, "kafka", sim, res.out, host_log);
	free(host_log);
	spawn_result_release(&res);
	if (stopping_count < SCENARIOS_MAX) {
		stopping[stopping_count].pid = pid;
		snprintf(stopping[stopping_count].log, sizeof(stopping[0].log), "%s", log);
		snprintf(stopping[stopping_count].name, sizeof(stopping[0].name), "%s", sc->name);
		snprintf(stopping[stopping_count].topic, sizeof(stopping[0].topic), "%s", out);
		stopping[stopping_count].replies = json_array_size(sim->replies);
		stopping_count++;
	}
	return d;
}

/*
 * After host i exited 0 (its replies are all flushed): the output topic
 * must hold nothing after the replies that were compared, so a duplicate
 * or extra reply fails the test. 1 when there is one, else 0.
 */
static unsigned extra_replies(size_t i)
{
	char from[32];
	struct spawn_result res;
	snprintf(from, sizeof(from), "%zu", stopping[i].replies);
	const char *consume[] = { KCAT, "-b", kmock.bootstrap, "-C", "-t", stopping[i].topic,
				  "-o", from, "-e", "-q", "-f", "%s\\n", "-X",
				  "fetch.wait.max.ms=5", NULL };
	struct spawn_opts co = { .timeout_ms = 15000 };
	assert_int_equal(spawn_run(consume, &co, &res), 0);
	unsigned bad = res.exit_code != 0 || res.out_len > 0;
	if (bad)
		print_message("%s: kafka: replies beyond the %zu compared (kcat exit %d):\n%.3000s%s\n",
			      stopping[i].name, stopping[i].replies, res.exit_code, res.out,
			      res.err);
	spawn_result_release(&res);
	return bad;
}

/* Wait for the Kafka hosts told to stop; a host that does not exit 0 is a failure. */
static unsigned stop_hosts(void)
{
	unsigned failed = 0;
	for (size_t i = 0; i < stopping_count; i++) {
		int status = 0, killed = 0;
		for (int waited = 0; waitpid(stopping[i].pid, &status, WNOHANG) != stopping[i].pid;
		     waited += 20) {
			if (waited > 15000) {
				kill(stopping[i].pid, SIGKILL);
				waitpid(stopping[i].pid, &status, 0);
				killed = 1;
				break;
			}
			sleep_ms(20);
		}
		if (killed || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			char *host_log = slurp(stopping[i].log);
			size_t n = strlen(host_log);
			print_message("%s: onex-host on Kafka %s (status 0x%x); its log ends:\n%s\n",
				      stopping[i].name,
				      killed ? "did not stop within 15 s of SIGTERM and was killed"
					     : "did not exit 0",
				      (unsigned)status, host_log + (n > 3000 ? n - 3000 : 0));
			free(host_log);
			failed++;
		} else {
			failed += extra_replies(i);
		}
		if (!getenv("ONEX_TEST_KEEP"))
			unlink(stopping[i].log);
	}
	stopping_count = 0;
	return failed;
}

/* ---- tests ----------------------------------------------------------------------- */

/* The first three ids of `seed`, as onex-sim's world draws them. */
static void sim_ids(uint64_t seed, char ids[3][ONEX_UUID_STR_BYTES])
{
	struct onex_ids *u = onex_seeded_ids_from_seed(seed);
	for (int i = 0; i < 3; i++)
		onex_ids_new_uuid(u, ids[i]);
	onex_ids_free(u);
}

/*
 * --id-seed alone (no servers): a request with no ids gets its envelope_id,
 * then its correlation_id, then the reply's envelope_id from the stream of
 * the seed, the order onex-sim's host draws them in.
 */
static void test_id_seed_draws_the_sims_ids(void **state)
{
	(void)state;
	char contract[128], ids[3][ONEX_UUID_STR_BYTES];
	struct spawn_result res;
	snprintf(contract, sizeof(contract), "%s/empty.yaml", dir);
	write_text(contract, "schema_version: \"1.0.0\"\nruntime:\n  name: \"e\"\n  version: \"1\"\n"
			     "  event_bus: { kind: \"stdio\" }\n  handlers: []\n");
	const char *argv[] = { host_bin, "--id-seed", "31", contract, NULL };
	const char *in = "{\"operation\":\"db.query\"}\n";
	struct spawn_opts o = { in, strlen(in), NULL, 0, 0, 20000 };
	assert_int_equal(spawn_run(argv, &o, &res), 0);
	assert_int_equal(res.exit_code, 0);
	json_t *r = json_loads(res.out, 0, NULL);
	assert_non_null(r);
	sim_ids(31, ids);
	assert_string_equal(json_string_value(json_object_get(r, "causation_id")), ids[0]);
	assert_string_equal(json_string_value(json_object_get(r, "correlation_id")), ids[1]);
	assert_string_equal(json_string_value(json_object_get(r, "envelope_id")), ids[2]);
	assert_non_null(strstr(res.err, "--id-seed 31: ids are deterministic"));
	json_decref(r);
	spawn_result_release(&res);
	/* A bad seed is a usage error. */
	const char *bad[] = { host_bin, "--id-seed", "-1", contract, NULL };
	assert_int_equal(spawn_run(bad, &o, &res), 0);
	assert_int_equal(res.exit_code, 1);
	assert_non_null(strstr(res.err, "--id-seed takes a number"));
	spawn_result_release(&res);
}

static void test_enough_real_scenarios(void **state)
{
	(void)state;
	int with_http = 0, with_db = 0;
	if (collect_problem[0]) /* no scenario drops out silently */
		fail_msg("%s", collect_problem);
	if (getenv("ONEX_DIFF_FILTER"))
		skip(); /* a subset was asked for */
	if (path_count < REAL_MIN)
		fail_msg("%zu scenarios are marked real: true; at least %d must be", path_count,
			 REAL_MIN);
	for (size_t i = 0; i < path_count; i++) {
		struct onex_scenario *sc = NULL;
		struct onex_error err;
		onex_error_clear(&err);
		assert_int_equal(onex_scenario_load(paths[i], &sc, &err), 0);
		/* The host's contract below mirrors this one. */
		size_t n = strlen(sc->contract_path), k = strlen(REAL_CONTRACT);
		if (n < k || strcmp(sc->contract_path + n - k, REAL_CONTRACT) != 0 || sc->fault_count ||
		    sc->expect_startup_failure)
			fail_msg("%s: a real: true scenario uses %s, no faults and no start-up failure",
				 paths[i], REAL_CONTRACT);
		with_http += sc->http_stubs != NULL;
		with_db += sc->sql_count > 0;
		onex_scenario_free(sc);
	}
	assert_true(with_http >= 3);
	assert_true(with_db >= 3);
}

static void run_all(const char *bus)
{
	unsigned total = 0;
	if (san)
		skip(); /* reported by group_setup */
	if (!servers_up)
		fail_msg("the servers did not start (see above)");
	for (size_t i = 0; i < path_count; i++) {
		struct onex_scenario *sc = NULL;
		struct onex_error err;
		struct run sim;
		onex_error_clear(&err);
		assert_int_equal(onex_scenario_load(paths[i], &sc, &err), 0);
		sim_run(paths[i], &sim);
		unsigned d = strcmp(bus, "stdio") == 0 ? run_stdio(paths[i], sc, &sim, (unsigned)i)
						       : run_kafka(paths[i], sc, &sim, (unsigned)i);
		print_message("%-4s %s on %s: %zu replies\n", d ? "DIFF" : "same", sc->name, bus,
			      json_array_size(sim.replies));
		total += d;
		json_decref(sim.requests);
		json_decref(sim.replies);
		onex_scenario_free(sc);
	}
	if (strcmp(bus, "kafka") == 0)
		total += stop_hosts();
	if (total)
		fail_msg("%u differences between onex-sim and onex-host on %s (listed above)", total,
			 bus);
}

static void test_stdio_host_equals_sim(void **state)
{
	(void)state;
	run_all("stdio");
}

static void test_kafka_host_equals_sim(void **state)
{
	(void)state;
	run_all("kafka");
}

/* ---- setup ----------------------------------------------------------------------- */

static int group_setup(void **state)
{
	(void)state;
	const char *config = getenv("ONEX_CONFIG");
	spawn_bin("onex-host", host_bin, sizeof(host_bin));
	snprintf(dir, sizeof(dir), "/tmp/onex-sim-vs-real-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(stubs_path, sizeof(stubs_path), "%s/stubs.json", dir);
	write_text(stubs_path, "[]");
	nftw(SCENARIO_DIR, collect, 16, FTW_PHYS);
	qsort(paths, path_count, sizeof(paths[0]), by_path);
	san = config && strcmp(config, "san") == 0;
	if (san) {
		fprintf(stderr, "test_sim_vs_real: the comparison is skipped in the sanitizer build: "
				"libfaketime does not mix with AddressSanitizer (run it with the "
				"normal build: make && build/bin/tests/test_sim_vs_real)\n");
		return 0;
	}
	if (access(FAKETIME_LIB, R_OK) != 0 || access(FAKETIME_MT_LIB, R_OK) != 0 ||
	    access(KCAT, X_OK) != 0) {
		fprintf(stderr, "test_sim_vs_real needs %s, %s and %s (make deps)\n", FAKETIME_LIB,
			FAKETIME_MT_LIB, KCAT);
		return 0;
	}
	/* The mock first: it forks, and this process has no librdkafka handle yet. */
	if (kafka_mock_start(&kmock, 1) < 0) {
		fprintf(stderr, "mock cluster: %s\n", kmock.last_error);
		return 0;
	}
	if (pg_cluster_create(&pg) < 0) {
		fprintf(stderr, "PostgreSQL: %s\n", pg.error);
		return 0;
	}
	if (http_server_start_stubs(&http, stubs_path) < 0) {
		fprintf(stderr, "the test HTTP server did not start\n");
		return 0;
	}
	servers_up = 1;
	return 0;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(path);
}

static int group_teardown(void **state)
{
	(void)state;
	http_server_stop(&http);
	pg_cluster_destroy(&pg);
	if (kmock.pid > 0)
		kafka_mock_stop(&kmock);
	if (getenv("ONEX_TEST_KEEP")) /* keep the contracts, stubs and host logs */
		fprintf(stderr, "kept %s\n", dir);
	else if (strncmp(dir, "/tmp/onex-sim-vs-real-", 22) == 0)
		nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	for (size_t i = 0; i < path_count; i++)
		free(paths[i]);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_id_seed_draws_the_sims_ids),
		cmocka_unit_test(test_enough_real_scenarios),
		cmocka_unit_test(test_stdio_host_equals_sim),
		cmocka_unit_test(test_kafka_host_equals_sim),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
