/*
 * test_pg_db.c - the libpq db handler on the real epoll loop against a
 * throwaway PostgreSQL cluster (tests/support/pg_cluster.h): queries, type
 * mapping, row counts, transactions, parameters, every error class,
 * injection attempts, the pool, server restart, server down at start.
 *
 * One cluster serves the whole run (initdb costs ~1.5 s). Each test opens
 * its own loop and handler ("world"). The loop runs until the calls a test
 * waits for are done, or a guard timer fires (the test then fails).
 * Without PostgreSQL's server binaries the run fails with one test that
 * says how to install them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "envelope.h"
#include "handler.h"
#include "log.h"
#include "loop.h"
#include "pg_cluster.h"
#include "real/pg_db.h"
#include "system_units.h"

#define CORR "7f0c1b7e-1d2a-4c3b-8e4f-5a6b7c8d9e0f"
#define MS(x) ((uint64_t)(x) * 1000000u)
#define GUARD_MS 15000
#define DSN_ENV "ONEX_PG_TEST_DSN"

static struct pg_cluster cluster;

/* ---- a log that keeps its lines --------------------------------------------------- */

#define LOG_LINES 64

struct test_log {
	struct onex_log base;
	int n;
	enum onex_log_level level[LOG_LINES];
	char correlation_id[LOG_LINES][64];
	char message[LOG_LINES][512];
};

static void tlog_write(struct onex_log *log, enum onex_log_level level,
		       const char *correlation_id, const char *envelope_id,
		       const char *message)
{
	struct test_log *t = (struct test_log *)log;
	(void)envelope_id;
	if (getenv("ONEX_TEST_VERBOSE"))
		fprintf(stderr, "log %s: %s\n", onex_log_level_name(level), message);
	if (t->n == LOG_LINES)
		return;
	t->level[t->n] = level;
	snprintf(t->correlation_id[t->n], sizeof(t->correlation_id[0]), "%s",
		 correlation_id ? correlation_id : "");
	snprintf(t->message[t->n], sizeof(t->message[0]), "%s", message);
	t->n++;
}

static const struct onex_log_ops tlog_ops = { "test", tlog_write, NULL };

/* Index of the first line at `level` containing `text`, or -1. */
static int log_find(const struct test_log *t, enum onex_log_level level, const char *text)
{
	for (int i = 0; i < t->n; i++)
		if (t->level[i] == level && strstr(t->message[i], text))
			return i;
	return -1;
}

/* ---- harness ----------------------------------------------------------------------- */

struct world;

struct outcome {
	struct world *w;
	int calls, ok;
	json_t *payload, *extra;
	struct onex_error error;
	uint64_t done_ns;
};

struct world {
	struct onex_loop *loop;
	struct onex_clock *clock;
	struct test_log log;
	struct onex_handler *h;
	int pending;   /* calls the current run waits for */
	int timed_out; /* the guard fired */
	struct outcome last;
};

static void outcome_release(struct outcome *o)
{
	json_decref(o->payload);
	json_decref(o->extra);
	o->payload = o->extra = NULL;
}

static void on_done(void *arg, struct onex_handler_result *r)
{
	struct outcome *o = arg;
	o->calls++;
	o->ok = r->ok;
	o->payload = r->payload;
	o->extra = r->error_extra;
	o->error = r->error;
	o->done_ns = onex_loop_now_ns(o->w->loop);
	onex_handler_finished(o->w->h);
	if (--o->w->pending == 0)
		onex_loop_stop(o->w->loop);
}

static void on_guard(void *arg)
{
	struct world *w = arg;
	w->timed_out = 1;
	onex_loop_stop(w->loop);
}

/* Run the loop until stopped or guard_ms passed; 0, or -1 when the guard fired. */
static int run_loop(struct world *w, uint64_t guard_ms)
{
	uint64_t guard;
	w->timed_out = 0;
	assert_int_equal(onex_loop_timer_add(w->loop, MS(guard_ms), on_guard, w, &guard, NULL), 0);
	onex_loop_run(w->loop);
	onex_loop_timer_cancel(w->loop, guard);
	return w->timed_out ? -1 : 0;
}

/* Let the loop work for `ms` (connections finish, goodbyes are read). */
static void run_for(struct world *w, uint64_t ms)
{
	run_loop(w, ms);
}

static void world_open_ex(struct world *w, const char *config_json, int expect_ok)
{
	struct onex_handler_env env = { 0 };
	struct onex_error err;
	json_error_t jerr;
	json_t *config = json_loads(config_json, 0, &jerr);
	if (!config)
		fail_msg("bad config JSON in test: %s", jerr.text);
	memset(w, 0, sizeof(*w));
	onex_error_clear(&err);
	w->loop = onex_epoll_loop_new(&err);
	assert_non_null(w->loop);
	w->clock = onex_system_clock_new();
	w->log.base.ops = &tlog_ops;
	w->log.base.min_level = ONEX_LOG_DEBUG;
	env.loop = w->loop;
	env.clock = w->clock;
	env.log = &w->log.base;
	w->h = onex_pg_db_unit.create(&env, &err);
	assert_non_null(w->h);
	if (expect_ok && onex_handler_initialize(w->h, config, &err) < 0)
		fail_msg("initialize: %s", err.text);
	if (!expect_ok) {
		onex_error_clear(&w->last.error);
		w->last.ok = onex_handler_initialize(w->h, config, &w->last.error) == 0;
	}
	json_decref(config);
}

/* config_json: the "config" mapping; the cluster's conninfo comes from the environment. */
static void world_open(struct world *w, const char *config)
{
	char entry[1024];
	snprintf(entry, sizeof(entry),
		 "{\"type\": \"db\", \"config\": {\"conninfo_env\": \"" DSN_ENV "\"%s%s}}",
		 config ? ", " : "", config ? config : "");
	world_open_ex(w, entry, 1);
}

static void world_close(struct world *w)
{
	outcome_release(&w->last);
	onex_handler_free(w->h);
	onex_loop_free(w->loop);
	onex_clock_free(w->clock);
}

static const char *health_status(struct world *w)
{
	static char status[32];
	json_t *health = onex_handler_health_check(w->h);
	snprintf(status, sizeof(status), "%s",
		 json_string_value(json_object_get(health, "status")));
	json_decref(health);
	return status;
}

struct wait_for {
	struct world *w;
	const char *status;
	uint64_t timer;
};

static void poll_status(void *arg)
{
	struct wait_for *wf = arg;
	if (strcmp(health_status(wf->w), wf->status) == 0) {
		onex_loop_stop(wf->w->loop);
		return;
	}
	onex_loop_timer_add(wf->w->loop, MS(10), poll_status, wf, &wf->timer, NULL);
}

/* Run the loop until health says `status` (polled every 10 ms). */
static void wait_status(struct world *w, const char *status, uint64_t guard_ms)
{
	struct wait_for wf = { w, status, 0 };
	onex_loop_timer_add(w->loop, 0, poll_status, &wf, &wf.timer, NULL);
	if (run_loop(w, guard_ms) < 0)
		fail_msg("health status is '%s', not '%s', after %llu ms", health_status(w),
			 status, (unsigned long long)guard_ms);
	onex_loop_timer_cancel(w->loop, wf.timer);
}

/* Start one call; it completes into *o while the loop runs. */
static void start(struct world *w, struct outcome *o, const char *operation, json_t *payload)
{
	struct onex_envelope req;
	struct onex_error err;
	memset(o, 0, sizeof(*o));
	o->w = w;
	memset(&req, 0, sizeof(req));
	req.json = json_pack("{s:s,s:o?}", "operation", operation, "payload", payload);
	req.operation = operation;
	req.payload = json_object_get(req.json, "payload");
	req.correlation_id = CORR;
	req.handler_type = ONEX_HANDLER_DB;
	onex_error_clear(&err);
	assert_int_equal(onex_handler_execute(w->h, &req, on_done, o, &err), 0);
	/* The unit keeps what it needs: the envelope may go at once. */
	json_decref(req.json);
	assert_int_equal(o->calls, 0); /* never answered from inside execute() */
	w->pending++;
}

static struct outcome *call_json(struct world *w, const char *operation, json_t *payload)
{
	struct outcome *o = &w->last;
	outcome_release(o);
	start(w, o, operation, payload);
	if (run_loop(w, GUARD_MS) < 0)
		fail_msg("%s did not complete within %d ms", operation, GUARD_MS);
	assert_int_equal(o->calls, 1);
	return o;
}

static struct outcome *call(struct world *w, const char *operation, const char *payload)
{
	json_error_t jerr;
	json_t *p = payload ? json_loads(payload, JSON_ALLOW_NUL, &jerr) : NULL;
	if (payload && !p)
		fail_msg("bad payload JSON in test: %s", jerr.text);
	return call_json(w, operation, p);
}

static json_t *sql_payload(const char *text, const char *params)
{
	json_t *payload = json_pack("{s:s}", "sql", text);
	if (params) {
		json_error_t jerr;
		json_t *p = json_loads(params, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
		if (!p)
			fail_msg("bad parameters JSON in test: %s", jerr.text);
		json_object_set_new(payload, "parameters", p);
	}
	return payload;
}

static struct outcome *sql(struct world *w, const char *operation, const char *text,
			   const char *params)
{
	return call_json(w, operation, sql_payload(text, params));
}

/* Run SQL that must succeed. */
static void exec_ok(struct world *w, const char *text)
{
	struct outcome *o = sql(w, "db.execute", text, NULL);
	if (!o->ok)
		fail_msg("%s: %s", text, o->error.text);
}

static const json_t *row(const struct outcome *o, size_t i)
{
	return json_array_get(json_object_get(o->payload, "rows"), i);
}

static const json_t *cell(const struct outcome *o, size_t i, const char *col)
{
	return json_object_get(row(o, i), col);
}

static json_int_t row_count(const struct outcome *o)
{
	return json_integer_value(json_object_get(o->payload, "row_count"));
}

static const char *sqlstate(const struct outcome *o)
{
	return json_string_value(json_object_get(o->extra, "sqlstate"));
}

static void assert_ok(const struct outcome *o)
{
	if (!o->ok)
		fail_msg("call failed: %s: %s", onex_error_code_name(o->error.code), o->error.text);
}

/* A fresh schema per test: the same names as the simulation's fixture. */
static void fixture(struct world *w)
{
	exec_ok(w, "DROP TABLE IF EXISTS orders, users, v, t, k, big, ex");
	exec_ok(w, "CREATE TABLE users (id serial PRIMARY KEY, email text NOT NULL UNIQUE,"
		   " age integer CHECK (age >= 0), active boolean, profile jsonb)");
	exec_ok(w, "CREATE TABLE orders (id serial PRIMARY KEY,"
		   " user_id integer NOT NULL REFERENCES users(id), total float8)");
	assert_ok(sql(w, "db.execute",
		      "INSERT INTO users (id, email, age, active, profile) VALUES"
		      " (1, 'ada@example.com', 36, true, '{\"lang\": \"en\"}'),"
		      " (2, 'bob@example.com', 41, false, NULL)",
		      NULL));
	exec_ok(w, "SELECT setval('users_id_seq', 2)");
}

/* ---- tests ------------------------------------------------------------------------------ */

static void test_postgres_available(void **state)
{
	(void)state;
	fail_msg("cannot start a PostgreSQL cluster for the db handler tests: %s", cluster.error);
}

static void test_value_types(void **state)
{
	struct world w;
	struct outcome *o;
	(void)state;
	world_open(&w, NULL);
	fixture(&w);
	exec_ok(&w, "CREATE TABLE v (i2 int2, i4 int4, i8 int8, f4 float4, f8 float8,"
		    " n numeric, nbig numeric, b boolean, j json, jb jsonb, s text, vc varchar(20),"
		    " by bytea, ts timestamp, u uuid, arr int[], nul text)");
	o = sql(&w, "db.execute",
		"INSERT INTO v VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12,"
		" '\\x00ff10', '2025-01-01 00:00:00', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',"
		" ARRAY[1, 2], $13)",
		"[7, 70000, 9007199254740993, 1.5, 2.25, \"12.50\","
		" \"12345678901234567890.123\", true, {\"a\": [1, 2]}, {\"k\": \"v\"},"
		" \"h\\u00e9llo\", \"vc\", null]");
	assert_ok(o);
	assert_int_equal(row_count(o), 1);
	o = sql(&w, "db.query", "SELECT * FROM v", NULL);
	assert_ok(o);
	assert_int_equal(row_count(o), 1);
	assert_true(json_is_integer(cell(o, 0, "i2")));
	assert_int_equal(json_integer_value(cell(o, 0, "i2")), 7);
	assert_int_equal(json_integer_value(cell(o, 0, "i4")), 70000);
	assert_int_equal(json_integer_value(cell(o, 0, "i8")), 9007199254740993LL);
	assert_true(json_is_real(cell(o, 0, "f4")) && json_real_value(cell(o, 0, "f4")) == 1.5);
	assert_true(json_is_real(cell(o, 0, "f8")) && json_real_value(cell(o, 0, "f8")) == 2.25);
	/* numeric: a real when a double holds it exactly enough, else the decimal text. */
	assert_true(json_is_real(cell(o, 0, "n")) && json_real_value(cell(o, 0, "n")) == 12.5);
	assert_string_equal(json_string_value(cell(o, 0, "nbig")), "12345678901234567890.123");
	assert_true(json_is_true(cell(o, 0, "b")));
	assert_int_equal(json_integer_value(json_array_get(json_object_get(cell(o, 0, "j"), "a"), 1)),
			 2);
	assert_string_equal(json_string_value(json_object_get(cell(o, 0, "jb"), "k")), "v");
	assert_string_equal(json_string_value(cell(o, 0, "s")), "h\xc3\xa9llo");
	assert_string_equal(json_string_value(cell(o, 0, "vc")), "vc");
	assert_string_equal(json_string_value(cell(o, 0, "by")), "AP8Q"); /* base64, as sim's BLOB */
	assert_string_equal(json_string_value(cell(o, 0, "ts")), "2025-01-01 00:00:00");
	assert_string_equal(json_string_value(cell(o, 0, "u")),
			    "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
	assert_string_equal(json_string_value(cell(o, 0, "arr")), "{1,2}");
	assert_true(json_is_null(cell(o, 0, "nul")));
	/* Non-finite floats cannot be JSON numbers; booleans false; jsonb null. */
	o = sql(&w, "db.query",
		"SELECT 'Infinity'::float8 AS inf, '-Infinity'::float8 AS ninf, 'NaN'::float8 AS nan,"
		" 'NaN'::numeric AS nnan, false AS f, 'null'::jsonb AS jn, 1 AS one, 'x' || $1 AS s,"
		" count(*) AS c, sum(age) AS total, avg(age) AS mean FROM users",
		"[\"y\"]");
	assert_ok(o);
	assert_string_equal(json_string_value(cell(o, 0, "inf")), "Infinity");
	assert_string_equal(json_string_value(cell(o, 0, "ninf")), "-Infinity");
	assert_string_equal(json_string_value(cell(o, 0, "nan")), "NaN");
	assert_string_equal(json_string_value(cell(o, 0, "nnan")), "NaN");
	assert_true(json_is_false(cell(o, 0, "f")));
	assert_true(json_is_null(cell(o, 0, "jn")));
	assert_int_equal(json_integer_value(cell(o, 0, "one")), 1);
	assert_string_equal(json_string_value(cell(o, 0, "s")), "xy");
	assert_int_equal(json_integer_value(cell(o, 0, "c")), 2);
	assert_true(json_is_integer(cell(o, 0, "total"))); /* sum(int4) is int8 */
	assert_true(json_is_real(cell(o, 0, "mean")) && json_real_value(cell(o, 0, "mean")) == 38.5);
	/* Typed parameters: integer, real, boolean come back as such. */
	o = sql(&w, "db.query", "SELECT $1 AS i, $2 AS r, $3 AS b, $4 AS s, $5 AS n",
		"[42, 0.1, false, \"text\", null]");
	assert_ok(o);
	assert_int_equal(json_integer_value(cell(o, 0, "i")), 42);
	assert_true(json_real_value(cell(o, 0, "r")) == 0.1);
	assert_true(json_is_false(cell(o, 0, "b")));
	assert_string_equal(json_string_value(cell(o, 0, "s")), "text");
	assert_true(json_is_null(cell(o, 0, "n")));
	/* Every value encodes into an envelope (REFERENCE: response encoding). */
	char *text = json_dumps(o->payload, JSON_COMPACT);
	assert_non_null(text);
	free(text);
	/* A JSON object parameter into a jsonb column; a boolean into a boolean. */
	o = sql(&w, "db.query",
		"INSERT INTO users (email, active, profile) VALUES ($1, $2, $3) RETURNING profile,"
		" active",
		"[\"c@x\", true, {\"lang\": \"fr\", \"n\": [1]}]");
	assert_ok(o);
	assert_string_equal(json_string_value(json_object_get(cell(o, 0, "profile"), "lang")), "fr");
	assert_true(json_is_true(cell(o, 0, "active")));
	world_close(&w);
}

static void test_row_counts(void **state)
{
	struct world w;
	struct outcome *o;
	(void)state;
	world_open(&w, NULL);
	fixture(&w);
	o = sql(&w, "db.execute", "INSERT INTO users (email, age) VALUES ($1, 1), ($2, 2), ($3, 3)",
		"[\"c@x\", \"d@x\", \"e@x\"]");
	assert_ok(o);
	assert_int_equal(row_count(o), 3); /* "INSERT 0 3" */
	assert_int_equal(json_array_size(json_object_get(o->payload, "rows")), 0);
	o = sql(&w, "db.execute", "UPDATE users SET age = age + 1 WHERE age < $1", "[10]");
	assert_int_equal(row_count(o), 3); /* "UPDATE 3" */
	o = sql(&w, "db.execute", "UPDATE users SET age = 0 WHERE id = $1", "[999]");
	assert_ok(o);
	assert_int_equal(row_count(o), 0);
	o = sql(&w, "db.execute", "CREATE TABLE t (x integer)", NULL);
	assert_ok(o);
	assert_int_equal(row_count(o), 0); /* "CREATE TABLE": no number */
	o = sql(&w, "db.execute", "SELECT * FROM users", NULL);
	assert_int_equal(row_count(o), 5); /* "SELECT 5", rows not returned */
	assert_int_equal(json_array_size(json_object_get(o->payload, "rows")), 0);
	o = sql(&w, "db.query", "INSERT INTO users (email) VALUES ($1) RETURNING id, email",
		"[\"f@x\"]");
	assert_int_equal(row_count(o), 1);
	assert_string_equal(json_string_value(cell(o, 0, "email")), "f@x");
	o = sql(&w, "db.execute", "DELETE FROM users WHERE email LIKE $1", "[\"%@x\"]");
	assert_int_equal(row_count(o), 4); /* "DELETE 4" */
	o = sql(&w, "db.query", "SELECT * FROM users WHERE false", NULL);
	assert_ok(o);
	assert_int_equal(row_count(o), 0);
	assert_int_equal(json_array_size(json_object_get(o->payload, "rows")), 0);
	world_close(&w);
}

static void test_parameters(void **state)
{
	struct world w;
	struct outcome *o;
	(void)state;
	world_open(&w, NULL);
	fixture(&w);
	/* The simulation's messages, found before anything is sent. */
	o = sql(&w, "db.query", "SELECT $1 AS a, $2 AS b", "[1]");
	assert_int_equal(o->error.code, ONEX_ERR_ENVELOPE_VALIDATION_ERROR);
	assert_string_equal(o->error.text, "expected 2 parameters, got 1");
	o = sql(&w, "db.query", "SELECT $1 AS a, $2 AS b", "[1, 2, 3]");
	assert_string_equal(o->error.text, "expected 2 parameters, got 3");
	o = sql(&w, "db.query", "SELECT 1", "[1]");
	assert_string_equal(o->error.text, "expected 0 parameters, got 1");
	o = sql(&w, "db.query", "SELECT $2 AS a, $1 AS b, $2 AS c", "[10, 20]");
	assert_ok(o);
	assert_int_equal(json_integer_value(cell(o, 0, "a")), 20);
	assert_int_equal(json_integer_value(cell(o, 0, "b")), 10);
	assert_int_equal(json_integer_value(cell(o, 0, "c")), 20);
	/* Integers are sent as their decimal text, both ends of bigint included. */
	o = sql(&w, "db.query", "SELECT $1 AS a, $2 AS b, $3 AS c, $4 AS d, $5 AS e",
		"[-9223372036854775808, 0, -1, 9223372036854775807, 1234567890]");
	assert_ok(o);
	assert_true(json_integer_value(cell(o, 0, "a")) == INT64_MIN);
	assert_int_equal(json_integer_value(cell(o, 0, "b")), 0);
	assert_int_equal(json_integer_value(cell(o, 0, "c")), -1);
	assert_true(json_integer_value(cell(o, 0, "d")) == INT64_MAX);
	assert_int_equal(json_integer_value(cell(o, 0, "e")), 1234567890);
	o = sql(&w, "db.query", "SELECT $10 AS x", "[1,2,3,4,5,6,7,8,9,10]");
	assert_ok(o);
	assert_int_equal(json_integer_value(cell(o, 0, "x")), 10);
	/* A number the SQL skips is sent (as text) and ignored. */
	o = sql(&w, "db.query", "SELECT $1 AS a, $3 AS c", "[1, \"skipped\", 3]");
	assert_ok(o);
	assert_int_equal(json_integer_value(cell(o, 0, "c")), 3);
	/* Not placeholders: strings, quoted names, dollar quotes, comments, casts, names. */
	o = sql(&w, "db.query",
		"SELECT '$1' AS \"$2\", $q$ $3 $q$ AS d, E'\\'$4' AS e, $$ $5 $$ AS f, a$1"
		" /* $6 /* $7 */ */ FROM (SELECT $1::int AS a$1) s -- $8",
		"[5]");
	assert_ok(o);
	assert_string_equal(json_string_value(cell(o, 0, "$2")), "$1");
	assert_int_equal(json_integer_value(cell(o, 0, "a$1")), 5);
	/* Other dialects' placeholders are refused like the simulation does. */
	o = sql(&w, "db.query", "SELECT ? AS x", "[1]");
	assert_int_equal(o->error.code, ONEX_ERR_ENVELOPE_VALIDATION_ERROR);
	assert_string_equal(o->error.text, "unsupported placeholder '?': use $1, $2, ...");
	o = sql(&w, "db.query", "SELECT :name AS x", "[1]");
	assert_string_equal(o->error.text, "unsupported placeholder ':name': use $1, $2, ...");
	o = sql(&w, "db.query", "SELECT $0 AS x", "[1]");
	assert_string_equal(o->error.text, "unsupported placeholder '$0': use $1, $2, ...");
	o = sql(&w, "db.query", "SELECT @name AS x", "[1]");
	assert_string_equal(o->error.text, "unsupported placeholder '@name': use $1, $2, ...");
	/* Operators containing '?' and array slices are PostgreSQL, not placeholders. */
	o = sql(&w, "db.query",
		"SELECT '{\"a\":1}'::jsonb ?| ARRAY['a'] AS has, (ARRAY[1,2,3])[1:2] AS sl", NULL);
	assert_ok(o);
	assert_true(json_is_true(cell(o, 0, "has")));
	/* Payload shape. */
	o = call(&w, "db.query", "{\"parameters\": []}");
	assert_int_equal(o->error.code, ONEX_ERR_ENVELOPE_VALIDATION_ERROR);
	assert_string_equal(o->error.text, "payload.sql is required");
	o = call(&w, "db.query", NULL);
	assert_string_equal(o->error.text, "payload.sql is required");
	o = call(&w, "db.query", "{\"sql\": \"SELECT 1\", \"parameters\": {\"a\": 1}}");
	assert_string_equal(o->error.text, "payload.parameters must be a list");
	o = call(&w, "db.query", "{\"sql\": \"  -- only a comment\"}");
	assert_string_equal(o->error.text, "payload.sql holds no statement");
	o = call(&w, "db.execute", "{\"sql\": \"BEGIN\"}");
	assert_int_equal(o->error.code, ONEX_ERR_ENVELOPE_VALIDATION_ERROR);
	assert_non_null(strstr(o->error.text, "use db.transaction"));
	o = call(&w, "db.execute", "{\"sql\": \"/* c */ start transaction\"}");
	assert_non_null(strstr(o->error.text, "use db.transaction"));
	/* NUL cannot reach PostgreSQL text: refused, not truncated. */
	o = sql(&w, "db.query", "SELECT $1 AS x", "[\"a\\u0000b\"]");
	assert_int_equal(o->error.code, ONEX_ERR_ENVELOPE_VALIDATION_ERROR);
	assert_string_equal(o->error.text, "payload.parameters[0] contains a NUL character, which "
					   "PostgreSQL text cannot hold");
	o = call(&w, "db.query", "{\"sql\": \"SELECT 1\\u0000; DROP TABLE users\"}");
	assert_string_equal(o->error.text, "payload.sql contains a NUL character");
	/* Trailing semicolons and comments are not a second statement. */
	assert_ok(sql(&w, "db.query", "SELECT 1 AS x; ; -- done\n /* end */", NULL));
	world_close(&w);
}

static void test_transaction_commit_and_rollback(void **state)
{
	struct world w;
	struct outcome *o;
	json_t *results;
	(void)state;
	world_open(&w, NULL);
	fixture(&w);
	o = call(&w, "db.transaction",
		 "{\"statements\": ["
		 " {\"sql\": \"INSERT INTO users (id, email) VALUES ($1, $2)\","
		 "  \"parameters\": [3, \"c@x\"]},"
		 " {\"sql\": \"INSERT INTO orders (user_id, total) VALUES ($1, $2), ($1, $3)\","
		 "  \"parameters\": [3, 9.5, 1]},"
		 " {\"sql\": \"SELECT count(*) AS n FROM orders\"}]}");
	assert_ok(o);
	results = json_object_get(o->payload, "results");
	assert_int_equal(json_array_size(results), 3);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(results, 1),
							    "row_count")),
			 2);
	assert_int_equal(row_count(o), 1 + 2 + 1);
	assert_int_equal(json_integer_value(json_object_get(
				 json_array_get(json_object_get(json_array_get(results, 2), "rows"), 0),
				 "n")),
			 2);

	/* The second statement violates UNIQUE: the first is rolled back too. */
	o = call(&w, "db.transaction",
		 "{\"statements\": ["
		 " {\"sql\": \"INSERT INTO users (id, email) VALUES (10, $1)\", \"parameters\": [\"z@x\"]},"
		 " {\"sql\": \"INSERT INTO users (id, email) VALUES (11, $1)\", \"parameters\": [\"ada@example.com\"]}]}");
	assert_false(o->ok);
	assert_int_equal(o->error.code, ONEX_ERR_HANDLER_EXECUTION_ERROR);
	assert_string_equal(o->error.text,
			    "transaction rolled back: statement 1: duplicate key value violates "
			    "unique constraint on users.email");
	assert_string_equal(sqlstate(o), "23505");
	assert_int_equal(json_integer_value(json_object_get(o->extra, "statement_index")), 1);
	o = sql(&w, "db.query", "SELECT count(*) AS n FROM users WHERE id = 10", NULL);
	assert_int_equal(json_integer_value(cell(o, 0, "n")), 0);
	/* A later transaction works: nothing was left open. */
	o = call(&w, "db.transaction", "{\"statements\": [{\"sql\": \"DELETE FROM orders\"}]}");
	assert_ok(o);
	assert_int_equal(row_count(o), 2);
	/* A check failure inside a transaction: rolled back, then the expression read. */
	o = call(&w, "db.transaction",
		 "{\"statements\": [{\"sql\": \"UPDATE users SET age = 1\"},"
		 " {\"sql\": \"UPDATE users SET age = $1 WHERE id = 1\", \"parameters\": [-5]}]}");
	assert_string_equal(o->error.text, "transaction rolled back: statement 1: new row violates "
					   "check constraint age >= 0");
	o = sql(&w, "db.query", "SELECT age FROM users WHERE id = 2", NULL);
	assert_int_equal(json_integer_value(cell(o, 0, "age")), 41);
	/* Shape and parameter errors, before BEGIN is sent. */
	o = call(&w, "db.transaction", "{\"statements\": []}");
	assert_int_equal(o->error.code, ONEX_ERR_ENVELOPE_VALIDATION_ERROR);
	o = call(&w, "db.transaction", "{\"statements\": [{\"sql\": \"SELECT 1\"}, {}]}");
	assert_string_equal(o->error.text, "payload.statements[1].sql is required");
	o = call(&w, "db.transaction", "{\"statements\": [{\"sql\": \"COMMIT\"}]}");
	assert_int_equal(o->error.code, ONEX_ERR_ENVELOPE_VALIDATION_ERROR);
	o = call(&w, "db.transaction",
		 "{\"statements\": [{\"sql\": \"SELECT 1\"}, {\"sql\": \"SELECT $1, $2\","
		 " \"parameters\": [1]}]}");
	assert_int_equal(o->error.code, ONEX_ERR_ENVELOPE_VALIDATION_ERROR);
	assert_string_equal(o->error.text,
			    "transaction rolled back: statement 1: expected 2 parameters, got 1");
	world_close(&w);
}

static void test_error_classes(void **state)
{
	static const struct {
		const char *sql, *params, *message, *sqlstate;
	} cases[] = {
		{ "SELEC 1", NULL, "syntax error at or near \"SELEC\"", "42601" },
		{ "SELECT * FROM", NULL, "syntax error at end of input", "42601" },
		{ "SELECT * FROM nope", NULL, "relation \"nope\" does not exist", "42P01" },
		{ "SELECT nope FROM users", NULL, "column \"nope\" does not exist", "42703" },
		{ "SELECT u.nope FROM users u", NULL, "column \"u.nope\" does not exist", "42703" },
		{ "INSERT INTO users (email) VALUES ($1)", "[\"bob@example.com\"]",
		  "duplicate key value violates unique constraint on users.email", "23505" },
		{ "INSERT INTO users (id, email) VALUES ($1, $2)", "[1, \"secret-value\"]",
		  "duplicate key value violates unique constraint on users.id", "23505" },
		{ "INSERT INTO orders (user_id, total) VALUES ($1, 1.0)", "[99]",
		  "insert or update violates foreign key constraint", "23503" },
		{ "INSERT INTO users (email) VALUES ($1)", "[null]",
		  "null value in column users.email violates not-null constraint", "23502" },
		{ "UPDATE users SET age = $1 WHERE id = 1", "[-5]",
		  "new row violates check constraint age >= 0", "23514" },
		{ "INSERT INTO k VALUES ($1)", "[-1]", "new row violates check constraint positive",
		  "23514" },
		{ "CREATE TABLE users (x integer)", NULL, "relation \"users\" already exists",
		  "42P07" },
		{ "SELECT 1; SELECT 2", NULL, "cannot run more than one SQL statement per call",
		  "42601" },
		{ "SELECT nope(1)", NULL, "function nope does not exist", "42883" },
		{ "INSERT INTO users (email, active) VALUES ('q@x', $1)", "[5]", "datatype mismatch",
		  "42804" },
		{ "SELECT id FROM users, orders WHERE id = 1", NULL,
		  "column reference \"id\" is ambiguous", "42702" },
		/* Data exceptions quote the caller's value: a fixed text instead. */
		{ "SELECT $1::int AS x", "[\"secret-value\"]",
		  "database error: invalid input syntax for the value's type", "22P02" },
		{ "SELECT 1 / $1 AS x", "[0]", "database error: division by zero", "22012" },
	};
	struct world w;
	(void)state;
	world_open(&w, NULL);
	fixture(&w);
	exec_ok(&w, "CREATE TABLE k (x integer CONSTRAINT positive CHECK (x > 0))");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct outcome *o = sql(&w, "db.execute", cases[i].sql, cases[i].params);
		if (o->ok)
			fail_msg("case %zu (%s) succeeded", i, cases[i].sql);
		assert_int_equal(o->error.code, ONEX_ERR_HANDLER_EXECUTION_ERROR);
		assert_string_equal(o->error.text, cases[i].message);
		assert_string_equal(sqlstate(o), cases[i].sqlstate);
		assert_null(o->payload);
		/* Never a parameter, the DETAIL line or the DSN in a message. */
		assert_null(strstr(o->error.text, "secret"));
		assert_null(strstr(o->error.text, "bob@"));
		assert_null(strstr(o->error.text, "127.0.0.1"));
		assert_null(strstr(o->error.text, "Key ("));
	}
	world_close(&w);
}


/* `needle` appears nowhere in the error: text, hint, action, extra fields. */
static void assert_not_in_error(const struct outcome *o, const char *needle, const char *what)
{
	char *extra = o->extra ? json_dumps(o->extra, JSON_COMPACT) : NULL;
	if (strstr(o->error.text, needle) || strstr(o->error.hint, needle) ||
	    strstr(o->error.action, needle) || strstr(o->error.source, needle) ||
	    (extra && strstr(extra, needle)))
		fail_msg("%s: the error carries the parameter '%s': '%s' (hint '%s', extra %s)",
			 what, needle, o->error.text, o->error.hint, extra ? extra : "null");
	free(extra);
}

/*
 * Spec: errors carry the SQLSTATE, never a raw SQL parameter. A value
 * passed as a parameter and then raised, put in a DETAIL line, cast, or
 * pasted into dynamic SQL inside a function never comes back.
 */
static void test_errors_never_carry_parameters(void **state)
{
	static const struct {
		const char *sql, *param, *message, *sqlstate;
	} cases[] = {
		{ "SELECT boom($1)", "SeCrEt-raise", "database error: raised exception", "P0001" },
		{ "SELECT boom_as_42($1)", "SeCrEt-42", "database error: undefined table", "42P01" },
		{ "SELECT boom_detail($1)", "SeCrEt_col", "database error: duplicate key value "
		  "violates unique constraint", "23505" },
		{ "SELECT check_null($1)", "SeCrEt-assert", "database error: assertion failed",
		  "P0004" },
		{ "SELECT dynamic($1)", "SeCrEt_dyn", "database error: undefined column", "42703" },
		{ "INSERT INTO users (email) VALUES ($1)", "SeCrEt@dup.example",
		  "duplicate key value violates unique constraint on users.email", "23505" },
		{ "INSERT INTO ex (x) VALUES ($1)", "SeCrEt-ex",
		  "database error: conflicting key value violates exclusion constraint "
		  "(table ex, constraint ex_x_excl)", "23P01" },
		{ "SELECT $1::int AS x", "SeCrEt-cast",
		  "database error: invalid input syntax for the value's type", "22P02" },
		{ "SELECT $1::text::int2 AS x", "99999", "database error: numeric value out of range",
		  "22003" },
		{ "SELECT $1::text::date AS x", "2020-13-45",
		  "database error: datetime field value out of range", "22008" },
		{ "INSERT INTO big (c) VALUES ($1)", "SeCrEt-too-long",
		  "database error: value too long for the column's type", "22001" },
	};
	struct world w;
	char params[128];
	(void)state;
	world_open(&w, NULL);
	fixture(&w);
	exec_ok(&w, "CREATE OR REPLACE FUNCTION boom(t text) RETURNS int LANGUAGE plpgsql AS "
		    "$f$ BEGIN RAISE EXCEPTION 'bad %', t; END $f$");
	exec_ok(&w, "CREATE OR REPLACE FUNCTION boom_as_42(t text) RETURNS int LANGUAGE plpgsql AS "
		    "$f$ BEGIN RAISE EXCEPTION USING ERRCODE = '42P01', MESSAGE = t, HINT = t; "
		    "END $f$");
	exec_ok(&w, "CREATE OR REPLACE FUNCTION boom_detail(t text) RETURNS int LANGUAGE plpgsql "
		    "AS $f$ BEGIN RAISE unique_violation USING DETAIL = 'Key (' || t || ')=(1) "
		    "already exists.'; END $f$");
	exec_ok(&w, "CREATE OR REPLACE FUNCTION check_null(t text) RETURNS int LANGUAGE plpgsql AS "
		    "$f$ BEGIN ASSERT t IS NULL, 'got ' || t; RETURN 1; END $f$");
	exec_ok(&w, "CREATE OR REPLACE FUNCTION dynamic(t text) RETURNS int LANGUAGE plpgsql AS "
		    "$f$ BEGIN EXECUTE 'SELECT ' || t; RETURN 1; END $f$");
	exec_ok(&w, "CREATE TABLE ex (x text, EXCLUDE USING btree (x WITH =))");
	exec_ok(&w, "CREATE TABLE big (c varchar(5))");
	assert_ok(sql(&w, "db.execute", "INSERT INTO users (email) VALUES ($1)",
		      "[\"SeCrEt@dup.example\"]"));
	assert_ok(sql(&w, "db.execute", "INSERT INTO ex (x) VALUES ($1)", "[\"SeCrEt-ex\"]"));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(params, sizeof(params), "[\"%s\"]", cases[i].param);
		struct outcome *o = sql(&w, "db.query", cases[i].sql, params);
		if (o->ok)
			fail_msg("case %zu (%s) succeeded", i, cases[i].sql);
		print_message("%s -> %s %s\n", cases[i].sql, sqlstate(o), o->error.text);
		assert_int_equal(o->error.code, ONEX_ERR_HANDLER_EXECUTION_ERROR);
		assert_string_equal(o->error.text, cases[i].message);
		assert_string_equal(sqlstate(o), cases[i].sqlstate);
		assert_not_in_error(o, cases[i].param, cases[i].sql);
		assert_not_in_error(o, "SeCrEt", cases[i].sql);
	}
	/* In a transaction the statement is named, the value still not. */
	struct outcome *o = call(&w, "db.transaction",
				 "{\"statements\": [{\"sql\": \"SELECT 1\"}, {\"sql\": \"SELECT "
				 "boom($1)\", \"parameters\": [\"SeCrEt-tx\"]}]}");
	assert_false(o->ok);
	print_message("transaction -> %s\n", o->error.text);
	assert_non_null(strstr(o->error.text, "raised exception"));
	assert_not_in_error(o, "SeCrEt", "transaction");
	world_close(&w);
}

static void test_sql_injection_is_inert(void **state)
{
	static const char *const attempts[] = {
		"'; DROP TABLE users;--",
		"x' OR '1'='1",
		"$1); DELETE FROM users; --",
		"\\'; DROP TABLE users; --",
		"$$; DROP TABLE users; $$",
	};
	struct world w;
	struct outcome *o;
	(void)state;
	world_open(&w, NULL);
	fixture(&w);
	for (size_t i = 0; i < sizeof(attempts) / sizeof(attempts[0]); i++) {
		json_t *payload = json_pack("{s:s,s:[s]}", "sql",
					    "INSERT INTO users (email) VALUES ($1) RETURNING email",
					    "parameters", attempts[i]);
		o = call_json(&w, "db.query", payload);
		assert_ok(o);
		assert_string_equal(json_string_value(cell(o, 0, "email")), attempts[i]);
		payload = json_pack("{s:s,s:[s]}", "sql",
				    "SELECT count(*) AS n FROM users WHERE email = $1", "parameters",
				    attempts[i]);
		o = call_json(&w, "db.query", payload);
		assert_int_equal(json_integer_value(cell(o, 0, "n")), 1);
	}
	/* The table is still there with every row. */
	o = sql(&w, "db.query", "SELECT count(*) AS n FROM users", NULL);
	assert_ok(o);
	assert_int_equal(json_integer_value(cell(o, 0, "n")), 2 + 5);
	world_close(&w);
}

static void test_suspicious_sql_is_logged(void **state)
{
	struct world w;
	struct outcome *o;
	(void)state;
	world_open(&w, NULL);
	fixture(&w);
	w.log.n = 0; /* the fixture's DROP was suspicious too */
	o = sql(&w, "db.query", "SELECT id FROM users WHERE id IN (SELECT 1 UNION SELECT 2)", NULL);
	assert_ok(o);
	assert_int_equal(log_find(&w.log, ONEX_LOG_WARN, "suspicious"), -1);
	o = sql(&w, "db.query", "SELECT email FROM users WHERE id = $1 UNION SELECT 'x'", "[1]");
	assert_ok(o); /* a warning, not an error */
	int i = log_find(&w.log, ONEX_LOG_WARN, "suspicious");
	assert_true(i >= 0);
	assert_string_equal(w.log.correlation_id[i], CORR);
	assert_string_equal(w.log.message[i], "db: suspicious SQL in db.query: UNION-outside-subquery");
	o = sql(&w, "db.execute", "SELECT 1;--", NULL);
	assert_ok(o);
	assert_true(log_find(&w.log, ONEX_LOG_WARN, "db: suspicious SQL in db.execute: ';--'") >= 0);
	o = sql(&w, "db.execute", "SELECT 1; DELETE FROM users", NULL);
	assert_false(o->ok);
	assert_true(log_find(&w.log, ONEX_LOG_WARN,
			     "db: suspicious SQL in db.execute: stacked-statements") >= 0);
	o = call(&w, "db.transaction",
		 "{\"statements\": [{\"sql\": \"SELECT 1\"}, {\"sql\": \"DROP TABLE IF EXISTS t\"}]}");
	assert_ok(o);
	assert_true(log_find(&w.log, ONEX_LOG_WARN,
			     "db: suspicious SQL in db.transaction (statement 1): DROP") >= 0);
	world_close(&w);
}

static int log_count(const struct test_log *t, enum onex_log_level level, const char *text)
{
	int n = 0;
	for (int i = 0; i < t->n; i++)
		n += t->level[i] == level && strstr(t->message[i], text) != NULL;
	return n;
}

/*
 * The checks' findings are kept per SQL text: a text seen again (cached),
 * one evicted by many others, one too long to keep and one with more
 * placeholders than a request holds inline all get the same answers.
 */
static void test_sql_text_cache_gives_the_same_answers(void **state)
{
	struct world w;
	struct outcome *o;
	char text[ONEX_PG_SQL_TEXT_CACHED_MAX + 200];
	(void)state;
	world_open(&w, NULL);
	fixture(&w);
	w.log.n = 0;
	for (int round = 0; round < 3; round++) {
		o = sql(&w, "db.query", "SELECT ? AS x", "[1]");
		assert_string_equal(o->error.text, "unsupported placeholder '?': use $1, $2, ...");
		o = sql(&w, "db.query", "SELECT $1 AS a, $2 AS b", "[1]");
		assert_string_equal(o->error.text, "expected 2 parameters, got 1");
		o = call(&w, "db.execute", "{\"sql\": \"BEGIN\"}");
		assert_non_null(strstr(o->error.text, "use db.transaction"));
		o = call(&w, "db.query", "{\"sql\": \"SELECT 1\\u0000; DROP TABLE users\"}");
		assert_string_equal(o->error.text, "payload.sql contains a NUL character");
		o = call(&w, "db.query", "{\"sql\": \"  -- only a comment\"}");
		assert_string_equal(o->error.text, "payload.sql holds no statement");
		o = sql(&w, "db.query", "SELECT $1 AS a, $3 AS c", "[1, \"skipped\", 3]");
		assert_ok(o);
		assert_int_equal(json_integer_value(cell(o, 0, "c")), 3);
		o = sql(&w, "db.query", "SELECT email FROM users WHERE id = $1 UNION SELECT 'x'",
			"[1]");
		assert_ok(o);
		/* The warning is logged every time, not only when the text is first seen. */
		assert_int_equal(log_count(&w.log, ONEX_LOG_WARN, "UNION-outside-subquery"),
				 round + 1);
	}
	/* 17 placeholders (more than a request holds inline), $2..$16 skipped. */
	o = sql(&w, "db.query", "SELECT $1 AS a, $17 AS q",
		"[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17]");
	assert_ok(o);
	assert_int_equal(json_integer_value(cell(o, 0, "q")), 17);
	/* Too long to keep: checked afresh each time. */
	int n = snprintf(text, sizeof(text), "SELECT $1 AS x /* ");
	memset(text + n, 'c', ONEX_PG_SQL_TEXT_CACHED_MAX);
	snprintf(text + n + ONEX_PG_SQL_TEXT_CACHED_MAX, sizeof(text) - (size_t)n - ONEX_PG_SQL_TEXT_CACHED_MAX, " */");
	for (int round = 0; round < 2; round++) {
		o = sql(&w, "db.query", text, "[7]");
		assert_ok(o);
		assert_int_equal(json_integer_value(cell(o, 0, "x")), 7);
		o = sql(&w, "db.query", text, "[]");
		assert_string_equal(o->error.text, "expected 1 parameters, got 0");
	}
	/* Many texts: the first ones are evicted, then seen again. */
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < (int)ONEX_PG_SQL_TEXTS_CACHED * 2; i++) {
			char q[64];
			snprintf(q, sizeof(q), "SELECT %d + $1 AS x", i);
			o = sql(&w, "db.query", q, "[1]");
			assert_ok(o);
			assert_int_equal(json_integer_value(cell(o, 0, "x")), i + 1);
		}
	}
	/* The same text twice in one transaction. */
	o = call(&w, "db.transaction",
		 "{\"statements\": [{\"sql\": \"SELECT $1 AS x\", \"parameters\": [1]},"
		 " {\"sql\": \"SELECT $1 AS x\", \"parameters\": []}]}");
	assert_false(o->ok);
	assert_string_equal(o->error.text,
			    "transaction rolled back: statement 1: expected 1 parameters, got 0");
	world_close(&w);
}

static void test_pool_runs_six_with_five(void **state)
{
	struct world w;
	struct outcome o[6];
	json_t *health;
	uint64_t t0;
	(void)state;
	world_open(&w, NULL);
	wait_status(&w, "ok", GUARD_MS); /* all five connections up */
	t0 = onex_loop_now_ns(w.loop);
	for (int i = 0; i < 6; i++)
		start(&w, &o[i], "db.query",
		      sql_payload("SELECT pg_sleep(0.3), $1::int AS n, pg_backend_pid() AS pid",
				  i % 2 ? "[1]" : "[2]"));
	health = onex_handler_health_check(w.h);
	assert_int_equal(json_integer_value(json_object_get(health, "connections_busy")), 5);
	assert_int_equal(json_integer_value(json_object_get(health, "queued")), 1);
	json_decref(health);
	assert_int_equal(run_loop(&w, GUARD_MS), 0);
	for (int i = 0; i < 6; i++) {
		assert_int_equal(o[i].calls, 1);
		assert_ok(&o[i]);
	}
	/* Five ran at once; the sixth waited for a free connection. */
	for (int i = 0; i < 5; i++)
		for (int j = i + 1; j < 5; j++)
			assert_int_not_equal(json_integer_value(cell(&o[i], 0, "pid")),
					     json_integer_value(cell(&o[j], 0, "pid")));
	for (int i = 0; i < 5; i++)
		assert_true(o[5].done_ns > o[i].done_ns);
	assert_true(o[5].done_ns - t0 >= MS(590)); /* two 0.3 s sleeps, one after the other */
	for (int i = 0; i < 6; i++)
		outcome_release(&o[i]);
	world_close(&w);
}

static void test_prepared_statements_are_reused(void **state)
{
	struct world w;
	struct outcome *o;
	(void)state;
	world_open(&w, "\"pool_size\": 1");
	fixture(&w);
	for (int i = 0; i < 3; i++)
		assert_ok(sql(&w, "db.query", "SELECT email FROM users WHERE id = $1", "[1]"));
	o = sql(&w, "db.query",
		"SELECT count(*) AS n FROM pg_prepared_statements WHERE statement = $1",
		"[\"SELECT email FROM users WHERE id = $1\"]");
	assert_int_equal(json_integer_value(cell(o, 0, "n")), 1);
	/* A table changed under a cached plan: prepared again, transparently. */
	assert_ok(sql(&w, "db.query", "SELECT * FROM users WHERE id = $1", "[1]"));
	exec_ok(&w, "ALTER TABLE users ADD COLUMN nick text DEFAULT 'n'");
	o = sql(&w, "db.query", "SELECT * FROM users WHERE id = $1", "[1]");
	assert_ok(o);
	assert_string_equal(json_string_value(cell(o, 0, "nick")), "n");
	/* More distinct statements than the cache holds: it starts over. */
	for (unsigned i = 0; i < ONEX_PG_STATEMENTS_CACHED_MAX + 3; i++) {
		char text[64];
		snprintf(text, sizeof(text), "SELECT %u AS n", i);
		o = sql(&w, "db.query", text, NULL);
		assert_ok(o);
		assert_int_equal(json_integer_value(cell(o, 0, "n")), i);
	}
	o = sql(&w, "db.query", "SELECT count(*) AS n FROM pg_prepared_statements", NULL);
	assert_true(json_integer_value(cell(o, 0, "n")) < 10);
	world_close(&w);
}

static void test_bounds_timeout_copy(void **state)
{
	struct world w;
	struct outcome *o;
	(void)state;
	world_open(&w, "\"pool_size\": 1, \"timeout_ms\": 300");
	o = sql(&w, "db.query", "SELECT x FROM generate_series(1, $1) x", "[10001]");
	assert_false(o->ok);
	assert_string_equal(o->error.text, "result has more than 10000 rows");
	assert_string_equal(sqlstate(o), "54000");
	/* The connection was replaced; the next call runs. */
	o = sql(&w, "db.query", "SELECT x FROM generate_series(1, $1) x", "[10000]");
	assert_ok(o);
	assert_int_equal(row_count(o), 10000);
	o = sql(&w, "db.execute", "SELECT x FROM generate_series(1, $1) x", "[10001]");
	assert_string_equal(o->error.text, "result has more than 10000 rows");
	/* The unit's own timeout is the server's statement_timeout. */
	o = sql(&w, "db.query", "SELECT pg_sleep(2)", NULL);
	assert_int_equal(o->error.code, ONEX_ERR_TIMEOUT);
	assert_string_equal(o->error.text, "canceling statement due to statement timeout");
	assert_string_equal(sqlstate(o), "57014");
	o = sql(&w, "db.execute", "COPY (SELECT 1) TO STDOUT", NULL);
	assert_false(o->ok);
	assert_string_equal(sqlstate(o), "0A000");
	assert_ok(sql(&w, "db.query", "SELECT 1 AS x", NULL));
	world_close(&w);
}

static void test_server_restart(void **state)
{
	struct world w;
	struct outcome slow, *o;
	(void)state;
	world_open(&w, "\"pool_size\": 2, \"reconnect_min_ms\": 20, \"reconnect_max_ms\": 200");
	wait_status(&w, "ok", GUARD_MS);
	assert_ok(sql(&w, "db.query", "SELECT 1 AS x", NULL));
	/* A call in flight when the server goes down gets an error... */
	start(&w, &slow, "db.query", sql_payload("SELECT pg_sleep(5)", NULL));
	run_for(&w, 100);
	assert_int_equal(slow.calls, 0);
	if (pg_cluster_restart(&cluster) < 0)
		fail_msg("restart: %s", cluster.error);
	assert_int_equal(run_loop(&w, GUARD_MS), 0);
	assert_int_equal(slow.calls, 1);
	assert_false(slow.ok);
	assert_int_equal(slow.error.code, ONEX_ERR_HANDLER_EXECUTION_ERROR);
	assert_string_equal(slow.error.text, "connection to the database was lost");
	assert_string_equal(json_string_value(json_object_get(slow.extra, "sqlstate")), "08006");
	outcome_release(&slow);
	/* ...and later calls run on new connections. */
	o = sql(&w, "db.query", "SELECT 2 AS x", NULL);
	assert_ok(o);
	assert_int_equal(json_integer_value(cell(o, 0, "x")), 2);
	wait_status(&w, "ok", GUARD_MS);
	/* Restarted while idle: the goodbye is noticed before a call is sent. */
	if (pg_cluster_restart(&cluster) < 0)
		fail_msg("restart: %s", cluster.error);
	o = sql(&w, "db.query", "SELECT 3 AS x", NULL);
	assert_ok(o);
	assert_int_equal(json_integer_value(cell(o, 0, "x")), 3);
	world_close(&w);
}

static void test_down_at_start(void **state)
{
	struct world w;
	struct outcome *o;
	json_t *health;
	char *text;
	(void)state;
	if (pg_cluster_stop(&cluster) < 0)
		fail_msg("stop: %s", cluster.error);
	/* initialize succeeds without a server; the handler is degraded. */
	world_open(&w, "\"reconnect_min_ms\": 20, \"reconnect_max_ms\": 100");
	wait_status(&w, "unavailable", GUARD_MS);
	o = sql(&w, "db.query", "SELECT 1 AS x", NULL);
	assert_int_equal(o->error.code, ONEX_ERR_HANDLER_EXECUTION_ERROR);
	assert_string_equal(o->error.text, "handler 'db' is not available");
	health = onex_handler_health_check(w.h);
	assert_true(json_is_false(json_object_get(health, "healthy")));
	assert_true(json_is_true(json_object_get(health, "degraded")));
	assert_true(json_is_false(json_object_get(health, "available")));
	text = json_dumps(health, JSON_COMPACT);
	assert_null(strstr(text, "127.0.0.1")); /* never the DSN */
	free(text);
	json_decref(health);
	assert_true(log_find(&w.log, ONEX_LOG_WARN, "handler 'db' is degraded") >= 0);
	assert_int_equal(log_find(&w.log, ONEX_LOG_WARN, "127.0.0.1"), -1);
	/* The server comes up: the handler recovers by itself. */
	run_for(&w, 250); /* a few retries while down */
	if (pg_cluster_start(&cluster) < 0)
		fail_msg("start: %s", cluster.error);
	wait_status(&w, "ok", GUARD_MS);
	assert_true(log_find(&w.log, ONEX_LOG_INFO, "available again") >= 0);
	o = sql(&w, "db.query", "SELECT 1 AS x", NULL);
	assert_ok(o);
	health = onex_handler_health_check(w.h);
	assert_true(json_is_true(json_object_get(health, "healthy")));
	assert_true(json_is_false(json_object_get(health, "degraded")));
	json_decref(health);
	world_close(&w);
}

static void test_config(void **state)
{
	struct world w;
	struct outcome *o;
	char entry[512];
	(void)state;
	/* Connection keywords instead of a connection string. */
	snprintf(entry, sizeof(entry),
		 "{\"type\": \"db\", \"config\": {\"host\": \"127.0.0.1\", \"port\": %d,"
		 " \"dbname\": \"postgres\", \"user\": \"postgres\", \"pool_size\": 2}}",
		 cluster.port);
	world_open_ex(&w, entry, 1);
	o = sql(&w, "db.query", "SELECT current_setting('statement_timeout') AS st", NULL);
	assert_string_equal(json_string_value(cell(o, 0, "st")), "31s"); /* deadline 30 s + 1 s */
	world_close(&w);
	/* The connection string's own options are kept beside the timeout. */
	snprintf(entry, sizeof(entry), "{\"timeout_ms\": 4000, \"config\": {\"dsn\": \"%s"
		 " options='-c search_path=onex_test'\"}}", cluster.conninfo);
	world_open_ex(&w, entry, 1);
	o = sql(&w, "db.query", "SELECT current_setting('search_path') AS sp,"
				" current_setting('statement_timeout') AS st", NULL);
	assert_ok(o);
	assert_string_equal(json_string_value(cell(o, 0, "sp")), "onex_test");
	assert_string_equal(json_string_value(cell(o, 0, "st")), "5s");
	world_close(&w);

	/* secret_ref with source env: the connection string and the password from there. */
	setenv("ONEX_PG_TEST_SECRET_DSN", cluster.conninfo, 1);
	setenv("ONEX_PG_TEST_PASSWORD", "not-needed-with-trust", 1);
	world_open_ex(&w, "{\"config\": {\"dsn\": {\"secret_ref\": {\"source\": \"env\", "
			  "\"key\": \"ONEX_PG_TEST_SECRET_DSN\"}}, \"password\": {\"secret_ref\": "
			  "{\"source\": \"env\", \"key\": \"ONEX_PG_TEST_PASSWORD\"}}}}", 1);
	o = sql(&w, "db.query", "SELECT 7 AS x", NULL);
	assert_ok(o);
	assert_int_equal(json_integer_value(cell(o, 0, "x")), 7);
	unsetenv("ONEX_PG_TEST_SECRET_DSN");
	unsetenv("ONEX_PG_TEST_PASSWORD");
	world_close(&w);
	/* Unresolvable secrets: SECRET_RESOLUTION_ERROR naming the field, never a value. */
	static const struct {
		const char *entry, *message;
	} unresolved[] = {
		{ "{\"config\": {\"dsn\": {\"secret_ref\": {\"source\": \"env\", \"key\": "
		  "\"ONEX_PG_TEST_UNSET\"}}}}",
		  "config.dsn.secret_ref: environment variable ONEX_PG_TEST_UNSET is not set" },
		{ "{\"config\": {\"password\": {\"secret_ref\": {\"source\": \"vault\", "
		  "\"key\": \"secret/db#password\"}}}}",
		  "config.password.secret_ref: source 'vault' is not supported" },
		{ "{\"config\": {\"dsn\": {\"secret_ref\": {\"source\": \"file\"}}}}",
		  "config.dsn.secret_ref needs text 'source' and 'key'" },
	};
	for (size_t i = 0; i < sizeof(unresolved) / sizeof(unresolved[0]); i++) {
		world_open_ex(&w, unresolved[i].entry, 0);
		assert_false(w.last.ok);
		assert_int_equal(w.last.error.code, ONEX_ERR_SECRET_RESOLUTION_ERROR);
		if (!strstr(w.last.error.text, unresolved[i].message))
			fail_msg("case %zu: '%s' does not say '%s'", i, w.last.error.text,
				 unresolved[i].message);
		world_close(&w);
	}

	static const struct {
		const char *entry, *message;
	} bad[] = {
		{ "{\"config\": {\"password\": \"hunter2\"}}", "config.password is not accepted" },
		{ "{\"config\": {\"conninfo_env\": \"ONEX_PG_TEST_UNSET\"}}",
		  "environment variable ONEX_PG_TEST_UNSET (config.conninfo_env) is not set" },
		{ "{\"config\": {\"dsn\": \"host=x password=hunter2 port\"}}",
		  "the connection string in config.dsn is not valid" },
		{ "{\"config\": {\"dsn\": {\"host\": \"x\"}}}",
		  "config.dsn must be a connection string or a secret_ref" },
		{ "{\"config\": {\"pool_size\": 0}}", "config.pool_size must be an integer from 1" },
		{ "{\"config\": {\"port\": true}}", "config.port must be text" },
		{ "{\"config\": 5}", "db handler config must be a mapping" },
		/* Strict like every contract part: also the simulation's own keys. */
		{ "{\"config\": {\"colour\": \"red\"}}", "unknown key config.colour" },
		{ "{\"config\": {\"latency_ms\": 3}}", "unknown key config.latency_ms" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		world_open_ex(&w, bad[i].entry, 0);
		assert_false(w.last.ok);
		assert_int_equal(w.last.error.code, ONEX_ERR_HANDLER_CONFIGURATION_ERROR);
		if (!strstr(w.last.error.text, bad[i].message))
			fail_msg("case %zu: '%s' does not say '%s'", i, w.last.error.text,
				 bad[i].message);
		assert_null(strstr(w.last.error.text, "hunter2"));
		world_close(&w);
	}
}

static void test_describe_health_invalid_op(void **state)
{
	struct world w;
	struct outcome *o;
	json_t *d, *health;
	char *text;
	(void)state;
	world_open(&w, NULL);
	o = sql(&w, "db.select", "SELECT 1", NULL);
	assert_int_equal(o->error.code, ONEX_ERR_INVALID_OPERATION);
	assert_string_equal(o->error.text, "Operation 'db.select' not supported. Available: "
					   "db.execute, db.query, db.transaction");
	d = onex_handler_describe(w.h);
	assert_string_equal(json_string_value(json_object_get(d, "type")), "db");
	assert_string_equal(json_string_value(json_object_get(d, "unit")), "libpq");
	assert_int_equal(json_array_size(json_object_get(d, "operations")), 3);
	assert_int_equal(json_integer_value(json_object_get(d, "pool_size")), 5);
	assert_non_null(json_object_get(d, "response_shape"));
	json_decref(d);
	wait_status(&w, "ok", GUARD_MS);
	health = onex_handler_health_check(w.h);
	assert_true(json_is_true(json_object_get(health, "healthy")));
	assert_int_equal(json_integer_value(json_object_get(health, "connections_up")), 5);
	text = json_dumps(health, JSON_COMPACT);
	assert_null(strstr(text, "127.0.0.1"));
	assert_null(strstr(text, "dbname"));
	free(text);
	json_decref(health);
	world_close(&w);
}

static void test_free_and_shutdown_with_calls_in_flight(void **state)
{
	struct world w;
	struct outcome a, b;
	(void)state;
	world_open(&w, "\"pool_size\": 1");
	wait_status(&w, "ok", GUARD_MS);
	start(&w, &a, "db.query", sql_payload("SELECT pg_sleep(5)", NULL));
	start(&w, &b, "db.query", sql_payload("SELECT 1", NULL)); /* queued */
	run_for(&w, 50);
	/* Shutdown answers both through the loop, once each. */
	onex_handler_shutdown(w.h);
	assert_int_equal(a.calls + b.calls, 0);
	assert_int_equal(run_loop(&w, GUARD_MS), 0);
	assert_int_equal(a.calls, 1);
	assert_int_equal(b.calls, 1);
	assert_string_equal(a.error.text, "handler 'db' was shut down");
	assert_string_equal(b.error.text, "handler 'db' was shut down");
	outcome_release(&a);
	outcome_release(&b);
	world_close(&w);

	/* Freed with a call in flight: no callback, nothing leaks. */
	world_open(&w, NULL);
	start(&w, &a, "db.query", sql_payload("SELECT 1", NULL));
	world_close(&w);
	assert_int_equal(a.calls, 0);
}

int main(void)
{
	const struct CMUnitTest missing[] = { cmocka_unit_test(test_postgres_available) };
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_value_types),
		cmocka_unit_test(test_row_counts),
		cmocka_unit_test(test_parameters),
		cmocka_unit_test(test_transaction_commit_and_rollback),
		cmocka_unit_test(test_error_classes),
		cmocka_unit_test(test_errors_never_carry_parameters),
		cmocka_unit_test(test_sql_injection_is_inert),
		cmocka_unit_test(test_suspicious_sql_is_logged),
		cmocka_unit_test(test_sql_text_cache_gives_the_same_answers),
		cmocka_unit_test(test_pool_runs_six_with_five),
		cmocka_unit_test(test_prepared_statements_are_reused),
		cmocka_unit_test(test_bounds_timeout_copy),
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_describe_health_invalid_op),
		cmocka_unit_test(test_free_and_shutdown_with_calls_in_flight),
		cmocka_unit_test(test_server_restart),
		cmocka_unit_test(test_down_at_start),
	};
	int rc;
	if (pg_cluster_create(&cluster) < 0) {
		pg_cluster_destroy(&cluster);
		return cmocka_run_group_tests_name("pg_db", missing, NULL, NULL);
	}
	setenv(DSN_ENV, cluster.conninfo, 1);
	rc = cmocka_run_group_tests_name("pg_db", tests, NULL, NULL);
	pg_cluster_destroy(&cluster);
	return rc;
}
