/*
 * wl_mixed.c - sim-mixed: a production-like mix on the simulation units,
 * measured in virtual time.
 *
 *   60 %  db.query on the SQLite unit (3 ms virtual latency): by id, a join,
 *         an aggregate, over the users/orders fixture
 *   30 %  http through stubs with virtual latencies of 20, 35, 50, 120 ms
 *   10 %  errors: local.error (RATE_LIMITED), SQL on a missing table
 *         (42P01), an http connect error
 *
 * 64 clients in a closed loop (inflight_max 64): each sends its next
 * request when its reply arrives. Which request comes next is drawn from
 * a PRNG seeded with --seed, so the virtual-time results are a pure
 * function of the seed: the workload folds every reply's bytes and
 * virtual arrival time into a fingerprint and the tool asserts that every
 * repetition produced the same one.
 */
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "prng.h"
#include "simhost.h"

#define WINDOW 64u
#define CORR_PREFIX "00000000-0000-4000-8000-"

static const char contract_mixed[] =
	"schema_version: \"1.0.0\"\n"
	"runtime:\n"
	"  name: \"bench_mixed\"\n"
	"  version: \"1.0.0\"\n"
	"  event_bus:\n"
	"    kind: \"inmemory\"\n"
	"    config: { history_size: 0 }\n"
	"  handlers:\n"
	"    - type: \"local\"\n"
	"    - type: \"db\"\n"
	"      config: { latency_ms: 3, seed: 7 }\n"
	"    - type: \"http\"\n"
	"      config:\n"
	"        stubs:\n"
	"          - { method: GET, url: \"http://users.test/users/1\", latency_ms: 20,\n"
	"              response: { status: 200, headers: { content-type: \"application/json\" },\n"
	"                          body: { id: 1, name: \"ada\", email: \"ada@example.test\" } } }\n"
	"          - { method: GET, url: \"http://users.test/users/2\", latency_ms: 35,\n"
	"              response: { status: 200, headers: { content-type: \"application/json\" },\n"
	"                          body: \"{\\\"id\\\": 2, \\\"name\\\": \\\"grace\\\"}\" } }\n"
	"          - { method: POST, url: \"http://users.test/users\", latency_ms: 50,\n"
	"              body: { name: \"barbara\", email: \"barbara@example.test\" },\n"
	"              response: { status: 201, headers: { content-type: \"application/json\" },\n"
	"                          body: { id: 4, name: \"barbara\" } } }\n"
	"          - { method: GET, url: \"http://reports.test/daily\", latency_ms: 120,\n"
	"              response: { status: 200, headers: { content-type: \"text/plain\" },\n"
	"                          body: \"ok\" } }\n"
	"          - { method: GET, url: \"http://down.test/x\", latency_ms: 5, error: connect }\n";

static const char fixture_sql[] =
	"CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL "
	"UNIQUE, score REAL, active BOOLEAN NOT NULL DEFAULT 1);\n"
	"INSERT INTO users VALUES (1, 'ada', 'ada@example.test', 97.5, 1),"
	" (2, 'grace', 'grace@example.test', 88.25, 0), (3, 'linus', 'linus@example.test', NULL, 1);\n"
	"CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users (id),"
	" item TEXT NOT NULL, quantity INTEGER NOT NULL, total REAL NOT NULL DEFAULT 0);\n"
	"INSERT INTO orders VALUES (1, 1, 'notebook', 2, 7.5), (2, 2, 'compiler', 1, 120.0),"
	" (3, 1, 'pencil', 10, 4.0);\n";

/* The request mix, per 100 draws: operation and payload (printf: %d = a 1-based pick). */
static const struct kind {
	unsigned weight;
	const char *operation;
	const char *payload;
	int pick; /* %d ranges over 1..pick */
} kinds[] = {
	{ 30, "db.query", "{\"sql\":\"SELECT id, name, email, score, active FROM users WHERE id = $1\","
			  "\"parameters\":[%d]}", 3 },
	{ 20, "db.query", "{\"sql\":\"SELECT u.name, o.item, o.quantity, o.total FROM orders o "
			  "JOIN users u ON u.id = o.user_id WHERE o.user_id = $1\",\"parameters\":[%d]}", 2 },
	{ 10, "db.query", "{\"sql\":\"SELECT count(*) AS n, avg(score) AS avg_score FROM users "
			  "WHERE active = $1\",\"parameters\":[%d]}", 1 },
	{ 12, "http.get", "{\"url\":\"http://users.test/users/%d\"}", 1 },
	{ 8, "http.get", "{\"url\":\"http://users.test/users/%d\"}", -2 },
	{ 6, "http.post", "{\"url\":\"http://users.test/users\",\"body\":{\"name\":\"barbara\","
			  "\"email\":\"barbara@example.test\"}}", 0 },
	{ 4, "http.get", "{\"url\":\"http://reports.test/daily\"}", 0 },
	{ 4, "local.error", "{\"code\":\"RATE_LIMITED\",\"message\":\"slow down (%d)\"}", 9 },
	{ 3, "db.query", "{\"sql\":\"SELECT * FROM missing_table WHERE id = $1\",\"parameters\":[%d]}", 3 },
	{ 3, "http.get", "{\"url\":\"http://down.test/x\"}", 0 },
};

struct mixed {
	struct onex_bench_host bh;
	struct onex_prng prng;
	unsigned long n, sent, received, errors;
	uint64_t *sent_ns;
	struct onex_hist *hist; /* virtual latency, ns; NULL in callgrind runs */
	uint64_t fingerprint;
	uint64_t last_ns;
	int failed;
};

static void send_next(struct mixed *m)
{
	char payload[512], text[1024];
	unsigned long idx = m->sent++;
	unsigned draw = (unsigned)onex_prng_below(&m->prng, 100);
	const struct kind *k = kinds;
	while (draw >= k->weight) {
		draw -= k->weight;
		k++;
	}
	int pick = k->pick < 0 ? -k->pick : (k->pick > 0 ? 1 + (int)onex_prng_below(&m->prng, (uint64_t)k->pick) : 0);
	snprintf(payload, sizeof(payload), k->payload, pick);
	int len = snprintf(text, sizeof(text),
			   "{\"envelope_id\":\"00000000-0000-4000-9000-%012lx\","
			   "\"correlation_id\":\"" CORR_PREFIX "%012lx\","
			   "\"source_node\":\"bench-client\",\"operation\":\"%s\",\"payload\":%s}",
			   idx, idx, k->operation, payload);
	m->sent_ns[idx] = onex_bench_host_now_ns(&m->bh);
	if (onex_bench_host_publish(&m->bh, text, (size_t)len, NULL) < 0)
		m->failed = 1;
}

static void on_reply(void *arg, const char *data, size_t len)
{
	struct mixed *m = arg;
	static const char key[] = "\"correlation_id\":\"" CORR_PREFIX;
	const char *at = memmem(data, len, key, sizeof(key) - 1);
	uint64_t now = onex_bench_host_now_ns(&m->bh);
	unsigned long idx;
	if (!at || (idx = strtoul(at + sizeof(key) - 1, NULL, 16)) >= m->sent) {
		m->failed = 1;
		return;
	}
	m->received++;
	m->last_ns = now;
	if (memmem(data, len, "\"success\":false", 15))
		m->errors++;
	if (m->hist)
		onex_hist_record(m->hist, (int64_t)(now - m->sent_ns[idx]));
	m->fingerprint = onex_bench_fnv1a(m->fingerprint, &now, sizeof(now));
	m->fingerprint = onex_bench_fnv1a(m->fingerprint, data, len);
	if (m->sent < m->n)
		send_next(m);
}

static int mixed_open(struct mixed *m, uint64_t seed, unsigned long n, struct onex_error *err)
{
	struct onex_prng root;
	memset(m, 0, sizeof(*m));
	struct onex_bench_host_config cfg = {
		.contract_yaml = contract_mixed,
		.inflight_max = WINDOW,
		.seed = seed,
		.sql = fixture_sql,
		.on_reply = on_reply,
		.reply_arg = m,
	};
	onex_prng_init(&root, seed);
	onex_prng_fork(&root, "mixed", &m->prng);
	m->n = n;
	m->fingerprint = ONEX_BENCH_FNV_INIT;
	m->sent_ns = calloc(n ? n : 1, sizeof(*m->sent_ns));
	if (!m->sent_ns)
		return onex_error_set(err, ONEX_ERR_HANDLER_CONFIGURATION_ERROR, "onex-bench", 0, 0,
				      "out of memory");
	if (onex_bench_host_open(&m->bh, &cfg, err) < 0) {
		free(m->sent_ns);
		return -1;
	}
	return 0;
}

/* Run the closed loop to the last reply. 0, or -1 when replies went missing. */
static int mixed_drive(struct mixed *m)
{
	while (m->sent < m->n && m->sent < WINDOW)
		send_next(m);
	while (m->received < m->n && !m->failed)
		if (onex_bench_host_run_next(&m->bh) < 0)
			break;
	return m->received == m->n && !m->failed ? 0 : -1;
}

static void mixed_close(struct mixed *m)
{
	onex_bench_host_close(&m->bh);
	free(m->sent_ns);
}

static int mixed_run_once(struct onex_bench_ctx *ctx, struct onex_bench_result *res, unsigned rep)
{
	struct mixed m;
	struct onex_error err;
	struct onex_hist h;
	unsigned long n = ctx->quick ? 5000ul : 20000ul;
	(void)rep;
	onex_error_clear(&err);
	if (onex_hist_init(&h, ONEX_BENCH_HIST_LOWEST, ONEX_BENCH_HIST_HIGHEST,
			   ONEX_BENCH_HIST_SIG_FIGS) < 0)
		return -1;
	onex_bench_rss_reset();
	if (mixed_open(&m, ctx->seed, n, &err) < 0) {
		snprintf(res->note, sizeof(res->note), "host did not start: %.400s", err.text);
		onex_hist_release(&h);
		return -1;
	}
	m.hist = &h;
	double floor_cpu = onex_bench_floor_cpu_ns(n / 10);
	uint64_t cpu0 = onex_bench_cpu_ns(), t0 = onex_bench_wall_ns();
	int rc = mixed_drive(&m);
	double wall = (double)(onex_bench_wall_ns() - t0), cpu = (double)(onex_bench_cpu_ns() - cpu0);
	long hwm = onex_bench_vmhwm_kb();
	if (rc < 0) {
		snprintf(res->note, sizeof(res->note), "%lu of %lu replies arrived", m.received, n);
		mixed_close(&m);
		onex_hist_release(&h);
		return -1;
	}
	double virtual_s = (double)m.last_ns / 1e9;
	onex_bench_add(res, "virtual_throughput", "env/vs", ONEX_BENCH_HIGHER, ONEX_BENCH_EXACT,
		       (double)n / virtual_s);
	onex_bench_add_latency(res, "virtual_latency", &h, ONEX_BENCH_EXACT,
			       "virtual time from publish to reply consumed");
	onex_bench_add(res, "error_share", "%", ONEX_BENCH_NEITHER, ONEX_BENCH_EXACT,
		       100.0 * (double)m.errors / (double)n);
	onex_bench_add(res, "throughput", "env/s", ONEX_BENCH_HIGHER, ONEX_BENCH_SAMPLED,
		       (double)n / (wall / 1e9));
	onex_bench_add(res, "cpu_per_env", "ns", ONEX_BENCH_LOWER, ONEX_BENCH_SAMPLED,
		       cpu / (double)n);
	onex_bench_add(res, "cpu_vs_floor", "x", ONEX_BENCH_LOWER, ONEX_BENCH_SAMPLED,
		       cpu / (double)n / floor_cpu);
	onex_bench_add_peak_rss(res, hwm);
	onex_bench_add(res, "virtual_seconds", "s", ONEX_BENCH_NEITHER, ONEX_BENCH_EXACT, virtual_s);
	onex_bench_add(res, "envelopes", "", ONEX_BENCH_NEITHER, ONEX_BENCH_INFO, (double)n);
	onex_bench_fingerprint(res, m.fingerprint);
	mixed_close(&m);
	onex_hist_release(&h);
	/* One repetition cannot show determinism: run the same seed once more. */
	if (ctx->repetitions < 2 && mixed_open(&m, ctx->seed, n, &err) == 0) {
		if (mixed_drive(&m) == 0)
			onex_bench_fingerprint(res, m.fingerprint);
		else
			res->fingerprint_mismatch = 1;
		mixed_close(&m);
	}
	return 0;
}

/* ---- callgrind ------------------------------------------------------------------- */

static void *mixed_ir_setup(const struct onex_bench_ctx *ctx, unsigned long n)
{
	struct mixed *m = malloc(sizeof(*m));
	struct onex_error err;
	onex_error_clear(&err);
	if (mixed_open(m, ctx->seed, n, &err) < 0) {
		fprintf(stderr, "onex-bench: host did not start: %s\n", err.text);
		exit(1);
	}
	return m;
}

static void mixed_ir_body(void *state)
{
	if (mixed_drive(state) < 0)
		abort();
}

static void mixed_ir_teardown(void *state)
{
	mixed_close(state);
	free(state);
}

const struct onex_bench_workload onex_bench_wl_mixed = {
	.name = "sim-mixed",
	.group = "sim-mixed",
	.what = "60% db.query (SQLite), 30% http (stubs, virtual latency), 10% errors; "
		"64 closed-loop clients; virtual time",
	.run_once = mixed_run_once,
	.ir_setup = mixed_ir_setup,
	.ir_body = mixed_ir_body,
	.ir_teardown = mixed_ir_teardown,
	.ir_envelopes = 1000,
	.ir_envelopes_quick = 200,
};
