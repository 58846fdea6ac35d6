/*
 * test_sqlite_db.c - the simulation db handler through the handler
 * wrappers, on the scheduler: value types, placeholders, transactions,
 * error classes, warnings, faults, determinism.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "envelope.h"
#include "handler.h"
#include "log.h"
#include "scheduler.h"
#include "sqlite_db.h"

#define MS(x) ((uint64_t)(x) * 1000000u)
#define CORR "7f0c1b7e-1d2a-4c3b-8e4f-5a6b7c8d9e0f"
#define EPOCH_2025 (INT64_C(1735689600) * 1000000000)

/* ---- a log that keeps its lines ------------------------------------------------ */

struct test_log {
	struct onex_log base;
	int n;
	enum onex_log_level level[16];
	char correlation_id[16][64];
	char message[16][1024];
};

static void tlog_write(struct onex_log *log, enum onex_log_level level,
		       const char *correlation_id, const char *envelope_id,
		       const char *message)
{
	struct test_log *t = (struct test_log *)log;
	(void)envelope_id;
	if (t->n == 16)
		return;
	t->level[t->n] = level;
	snprintf(t->correlation_id[t->n], sizeof(t->correlation_id[0]), "%s",
		 correlation_id ? correlation_id : "");
	snprintf(t->message[t->n], sizeof(t->message[0]), "%s", message);
	t->n++;
}

static const struct onex_log_ops tlog_ops = { "test", tlog_write, NULL };

/* ---- harness ---------------------------------------------------------------------- */

struct outcome {
	struct onex_handler *h;
	struct onex_sim_scheduler *sched;
	int calls, ok;
	json_t *payload, *extra;
	struct onex_error error;
	uint64_t at;
};

static void on_done(void *arg, struct onex_handler_result *r)
{
	struct outcome *o = arg;
	o->calls++;
	o->ok = r->ok;
	o->payload = r->payload;
	o->extra = r->error_extra;
	o->error = r->error;
	o->at = onex_sim_scheduler_now_ns(o->sched);
	onex_handler_finished(o->h);
}

static void outcome_release(struct outcome *o)
{
	json_decref(o->payload);
	json_decref(o->extra);
	o->payload = o->extra = NULL;
}

struct world {
	struct onex_sim_scheduler *sched;
	struct test_log log;
	struct onex_handler *h;
	struct outcome last;
};

static const char *FIXTURE =
	"CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE,"
	"  age INTEGER CHECK (age >= 0), active BOOLEAN, profile JSON);"
	"CREATE TABLE orders (id INTEGER PRIMARY KEY,"
	"  user_id INTEGER NOT NULL REFERENCES users(id), total REAL);"
	"INSERT INTO users (id, email, age, active, profile) VALUES"
	"  (1, 'ada@example.com', 36, 1, '{\"lang\": \"en\"}'),"
	"  (2, 'bob@example.com', 41, 0, 'not json');";

static void world_open(struct world *w, const char *config_json)
{
	struct onex_handler_env env = { 0 };
	struct onex_error err;
	json_t *config = config_json ? json_loads(config_json, 0, NULL) : NULL;
	memset(w, 0, sizeof(*w));
	w->sched = onex_sim_scheduler_new(EPOCH_2025);
	w->log.base.ops = &tlog_ops;
	w->log.base.min_level = ONEX_LOG_DEBUG;
	env.loop = onex_sim_scheduler_loop(w->sched);
	env.clock = onex_sim_scheduler_clock(w->sched);
	env.log = &w->log.base;
	onex_error_clear(&err);
	w->h = onex_sqlite_db_unit.create(&env, &err);
	assert_non_null(w->h);
	if (onex_sqlite_db_exec_script(w->h, FIXTURE, &err) < 0)
		fail_msg("fixture: %s", err.text);
	assert_int_equal(onex_handler_initialize(w->h, config, &err), 0);
	json_decref(config);
}

static void world_close(struct world *w)
{
	outcome_release(&w->last);
	onex_handler_free(w->h);
	onex_sim_scheduler_free(w->sched);
}

/* Run one operation to completion; the result is in w->last. */
static struct outcome *call_json(struct world *w, const char *operation, json_t *payload)
{
	struct onex_envelope req;
	struct onex_error err;
	struct outcome *o = &w->last;
	outcome_release(o);
	memset(o, 0, sizeof(*o));
	o->h = w->h;
	o->sched = w->sched;
	memset(&req, 0, sizeof(req));
	req.json = json_pack("{s:s,s:o?}", "operation", operation, "payload", payload);
	req.operation = operation;
	req.payload = json_object_get(req.json, "payload");
	req.correlation_id = CORR;
	req.handler_type = ONEX_HANDLER_DB;
	onex_error_clear(&err);
	assert_int_equal(onex_handler_execute(w->h, &req, on_done, o, &err), 0);
	json_decref(req.json);
	assert_int_equal(o->calls, 0);
	onex_loop_run(onex_sim_scheduler_loop(w->sched));
	assert_int_equal(o->calls, 1);
	return o;
}

static struct outcome *call(struct world *w, const char *operation, const char *payload)
{
	json_error_t jerr;
	json_t *p = payload ? json_loads(payload, 0, &jerr) : NULL;
	if (payload && !p)
		fail_msg("bad payload JSON in test: %s", jerr.text);
	return call_json(w, operation, p);
}

/* sql with parameters given as a JSON array text. */
static struct outcome *sql(struct world *w, const char *operation, const char *text,
			   const char *params)
{
	json_t *payload = json_pack("{s:s}", "sql", text);
	if (params)
		json_object_set_new(payload, "parameters", json_loads(params, 0, NULL));
	return call_json(w, operation, payload);
}

static const json_t *row(const struct outcome *o, size_t i)
{
	return json_array_get(json_object_get(o->payload, "rows"), i);
}

static json_int_t row_count(const struct outcome *o)
{
	return json_integer_value(json_object_get(o->payload, "row_count"));
}

static const char *sqlstate(const struct outcome *o)
{
	return json_string_value(json_object_get(o->extra, "sqlstate"));
}

/* ---- tests --------------------------------------------------------------------------- */

static void test_value_types(void **state)
{
	struct world w;
	struct outcome *o;
	(void)state;
	world_open(&w, NULL);
	o = sql(&w, "db.execute",
		"CREATE TABLE v (i INTEGER, r REAL, s TEXT, n TEXT, b BLOB, j JSON, f BOOLEAN,"
		" o TEXT)",
		NULL);
	assert_true(o->ok);
	o = sql(&w, "db.execute",
		"INSERT INTO v VALUES ($1, $2, $3, $4, X'00FF10', $5, $6, $7)",
		"[9007199254740993, 2.5, \"h\\u00e9llo\", null, {\"a\": [1, 2]}, true,"
		" [\"x\"]]");
	assert_true(o->ok);
	assert_int_equal(row_count(o), 1);
	o = sql(&w, "db.query", "SELECT * FROM v", NULL);
	assert_true(o->ok);
	assert_int_equal(row_count(o), 1);
	const json_t *r = row(o, 0);
	assert_true(json_is_integer(json_object_get(r, "i")));
	assert_int_equal(json_integer_value(json_object_get(r, "i")), 9007199254740993LL);
	assert_true(json_is_real(json_object_get(r, "r")));
	assert_true(json_real_value(json_object_get(r, "r")) == 2.5);
	assert_string_equal(json_string_value(json_object_get(r, "s")), "h\xc3\xa9llo");
	assert_true(json_is_null(json_object_get(r, "n")));
	assert_string_equal(json_string_value(json_object_get(r, "b")), "AP8Q");
	/* An object parameter is stored as JSON text; a JSON column returns JSON. */
	assert_int_equal(json_integer_value(json_array_get(
				 json_object_get(json_object_get(r, "j"), "a"), 1)),
			 2);
	assert_true(json_is_true(json_object_get(r, "f")));
	/* A TEXT column holding JSON text stays a string. */
	assert_string_equal(json_string_value(json_object_get(r, "o")), "[\"x\"]");
	/* JSON column with text that is not JSON: a string; BOOLEAN 0: false. */
	o = sql(&w, "db.query", "SELECT active, profile FROM users ORDER BY id", NULL);
	assert_string_equal(json_string_value(json_object_get(json_object_get(row(o, 0), "profile"),
							      "lang")),
			    "en");
	assert_string_equal(json_string_value(json_object_get(row(o, 1), "profile")), "not json");
	assert_true(json_is_false(json_object_get(row(o, 1), "active")));
	/* Expressions: no declared type; infinity cannot be a JSON number. */
	o = sql(&w, "db.query", "SELECT 1e999 AS inf, -1e999 AS ninf, 1 AS one, 'x' || $1 AS s",
		"[\"y\"]");
	assert_string_equal(json_string_value(json_object_get(row(o, 0), "inf")), "Infinity");
	assert_string_equal(json_string_value(json_object_get(row(o, 0), "ninf")), "-Infinity");
	assert_int_equal(json_integer_value(json_object_get(row(o, 0), "one")), 1);
	assert_string_equal(json_string_value(json_object_get(row(o, 0), "s")), "xy");
	world_close(&w);
}

static void test_row_counts(void **state)
{
	struct world w;
	struct outcome *o;
	(void)state;
	world_open(&w, NULL);
	o = sql(&w, "db.execute",
		"INSERT INTO users (email, age) VALUES ($1, 1), ($2, 2), ($3, 3)",
		"[\"c@x\", \"d@x\", \"e@x\"]");
	assert_int_equal(row_count(o), 3);
	assert_int_equal(json_array_size(json_object_get(o->payload, "rows")), 0);
	o = sql(&w, "db.execute", "UPDATE users SET age = age + 1 WHERE age < $1", "[10]");
	assert_int_equal(row_count(o), 3);
	o = sql(&w, "db.execute", "UPDATE users SET age = 0 WHERE id = $1", "[999]");
	assert_int_equal(row_count(o), 0);
	/* DDL after DML: 0, not the previous statement's count. */
	o = sql(&w, "db.execute", "CREATE TABLE t2 (x INTEGER)", NULL);
	assert_true(o->ok);
	assert_int_equal(row_count(o), 0);
	/* db.execute of a SELECT counts rows but returns none. */
	o = sql(&w, "db.execute", "SELECT * FROM users", NULL);
	assert_int_equal(row_count(o), 5);
	assert_int_equal(json_array_size(json_object_get(o->payload, "rows")), 0);
	/* db.query of INSERT ... RETURNING returns the rows. */
	o = sql(&w, "db.query", "INSERT INTO users (email) VALUES ($1) RETURNING id, email",
		"[\"f@x\"]");
	assert_int_equal(row_count(o), 1);
	assert_string_equal(json_string_value(json_object_get(row(o, 0), "email")), "f@x");
	world_close(&w);
}

static void test_parameters(void **state)
{
	struct world w;
	struct outcome *o;
	(void)state;
	world_open(&w, NULL);
	o = sql(&w, "db.query", "SELECT $1 AS a, $2 AS b", "[1]");
	assert_false(o->ok);
	assert_int_equal(o->error.code, ONEX_ERR_ENVELOPE_VALIDATION_ERROR);
	assert_string_equal(o->error.text, "expected 2 parameters, got 1");
	o = sql(&w, "db.query", "SELECT $1 AS a, $2 AS b", "[1, 2, 3]");
	assert_string_equal(o->error.text, "expected 2 parameters, got 3");
	o = sql(&w, "db.query", "SELECT 1", "[1]");
	assert_string_equal(o->error.text, "expected 0 parameters, got 1");
	/* Numbered as in PostgreSQL, whatever the order in the text; reused. */
	o = sql(&w, "db.query", "SELECT $2 AS a, $1 AS b, $2 AS c", "[10, 20]");
	assert_true(o->ok);
	assert_int_equal(json_integer_value(json_object_get(row(o, 0), "a")), 20);
	assert_int_equal(json_integer_value(json_object_get(row(o, 0), "b")), 10);
	assert_int_equal(json_integer_value(json_object_get(row(o, 0), "c")), 20);
	/* $10 is not $1 followed by 0. */
	o = sql(&w, "db.query", "SELECT $10 AS x", "[1,2,3,4,5,6,7,8,9,10]");
	assert_int_equal(json_integer_value(json_object_get(row(o, 0), "x")), 10);
	/* Only $n placeholders. */
	o = sql(&w, "db.query", "SELECT ? AS x", "[1]");
	assert_int_equal(o->error.code, ONEX_ERR_ENVELOPE_VALIDATION_ERROR);
	assert_string_equal(o->error.text, "unsupported placeholder '?': use $1, $2, ...");
	o = sql(&w, "db.query", "SELECT :name AS x", "[1]");
	assert_string_equal(o->error.text, "unsupported placeholder ':name': use $1, $2, ...");
	o = sql(&w, "db.query", "SELECT $0 AS x", "[1]");
	assert_string_equal(o->error.text, "unsupported placeholder '$0': use $1, $2, ...");
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
	world_close(&w);
}

static void test_transaction_commit_and_rollback(void **state)
{
	struct world w;
	struct outcome *o;
	(void)state;
	world_open(&w, NULL);
	o = call(&w, "db.transaction",
		 "{\"statements\": ["
		 " {\"sql\": \"INSERT INTO users (id, email) VALUES ($1, $2)\","
		 "  \"parameters\": [3, \"c@x\"]},"
		 " {\"sql\": \"INSERT INTO orders (user_id, total) VALUES ($1, $2), ($1, $3)\","
		 "  \"parameters\": [3, 9.5, 1]},"
		 " {\"sql\": \"SELECT count(*) AS n FROM orders\"}]}");
	assert_true(o->ok);
	json_t *results = json_object_get(o->payload, "results");
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
		 " {\"sql\": \"INSERT INTO users (email) VALUES ($1)\", \"parameters\": [\"ada@example.com\"]}]}");
	assert_false(o->ok);
	assert_int_equal(o->error.code, ONEX_ERR_HANDLER_EXECUTION_ERROR);
	assert_string_equal(o->error.text,
			    "transaction rolled back: statement 1: duplicate key value violates "
			    "unique constraint on users.email");
	assert_string_equal(sqlstate(o), "23505");
	assert_int_equal(json_integer_value(json_object_get(o->extra, "statement_index")), 1);
	o = sql(&w, "db.query", "SELECT count(*) AS n FROM users WHERE id = 10", NULL);
	assert_int_equal(json_integer_value(json_object_get(row(o, 0), "n")), 0);
	/* A later transaction works: nothing was left open. */
	o = call(&w, "db.transaction", "{\"statements\": [{\"sql\": \"DELETE FROM orders\"}]}");
	assert_true(o->ok);
	assert_int_equal(row_count(o), 2);

	o = call(&w, "db.transaction", "{\"statements\": []}");
	assert_int_equal(o->error.code, ONEX_ERR_ENVELOPE_VALIDATION_ERROR);
	o = call(&w, "db.transaction", "{\"statements\": [{\"sql\": \"SELECT 1\"}, {}]}");
	assert_string_equal(o->error.text, "payload.statements[1].sql is required");
	o = call(&w, "db.transaction", "{\"statements\": [{\"sql\": \"COMMIT\"}]}");
	assert_int_equal(o->error.code, ONEX_ERR_ENVELOPE_VALIDATION_ERROR);
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
		{ "CREATE TABLE users (x INTEGER)", NULL, "relation \"users\" already exists",
		  "42P07" },
		{ "SELECT 1; SELECT 2", NULL, "cannot run more than one SQL statement per call",
		  "42601" },
	};
	struct world w;
	(void)state;
	world_open(&w, NULL);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct outcome *o = sql(&w, "db.execute", cases[i].sql, cases[i].params);
		assert_false(o->ok);
		assert_int_equal(o->error.code, ONEX_ERR_HANDLER_EXECUTION_ERROR);
		assert_string_equal(o->error.text, cases[i].message);
		assert_string_equal(sqlstate(o), cases[i].sqlstate);
		assert_null(o->payload);
		/* Never a parameter in a message. */
		assert_null(strstr(o->error.text, "secret"));
		assert_null(strstr(o->error.text, "bob@"));
	}
	/* Trailing semicolons and comments are not a second statement. */
	assert_true(sql(&w, "db.query", "SELECT 1 AS x; ; -- done\n /* end */", NULL)->ok);
	world_close(&w);
}

static void test_suspicious_sql_is_logged(void **state)
{
	struct world w;
	struct outcome *o;
	(void)state;
	world_open(&w, NULL);
	o = sql(&w, "db.query", "SELECT id FROM users WHERE id IN (SELECT 1 UNION SELECT 2)",
		NULL);
	assert_true(o->ok);
	assert_int_equal(w.log.n, 0); /* UNION inside a subquery is fine */
	o = sql(&w, "db.query", "SELECT email FROM users WHERE id = $1 UNION SELECT 'x'", "[1]");
	assert_true(o->ok); /* a warning, not an error */
	assert_int_equal(w.log.n, 1);
	assert_int_equal(w.log.level[0], ONEX_LOG_WARN);
	assert_string_equal(w.log.correlation_id[0], CORR);
	assert_string_equal(w.log.message[0], "db: suspicious SQL in db.query: UNION-outside-subquery");
	o = sql(&w, "db.execute", "SELECT 1;--", NULL);
	assert_true(o->ok);
	assert_string_equal(w.log.message[1], "db: suspicious SQL in db.execute: ';--'");
	o = sql(&w, "db.execute", "DROP TABLE orders", NULL);
	assert_true(o->ok);
	assert_string_equal(w.log.message[2], "db: suspicious SQL in db.execute: DROP");
	o = sql(&w, "db.execute", "SELECT 1; DELETE FROM users", NULL);
	assert_false(o->ok);
	assert_string_equal(w.log.message[3], "db: suspicious SQL in db.execute: stacked-statements");
	/* Words inside strings and identifiers do not count. */
	o = sql(&w, "db.query", "SELECT 'drop; union' AS backdrop_union", NULL);
	assert_true(o->ok);
	assert_int_equal(w.log.n, 4);
	o = call(&w, "db.transaction",
		 "{\"statements\": [{\"sql\": \"SELECT 1\"}, {\"sql\": \"DROP TABLE users\"}]}");
	assert_string_equal(w.log.message[4], "db: suspicious SQL in db.transaction (statement 1): DROP");
	world_close(&w);
}

static void test_latency_unavailable_invalid_op(void **state)
{
	struct world w;
	struct outcome *o;
	(void)state;
	world_open(&w, "{\"type\": \"db\", \"config\": {\"latency_ms\": 5}}");
	o = sql(&w, "db.query", "SELECT 1 AS x", NULL);
	assert_true(o->ok);
	assert_int_equal(o->at, MS(5));
	onex_sqlite_db_set_unavailable(w.h, 1);
	o = sql(&w, "db.query", "SELECT 1 AS x", NULL);
	assert_int_equal(o->error.code, ONEX_ERR_HANDLER_EXECUTION_ERROR);
	assert_string_equal(o->error.text, "handler 'db' is not available");
	json_t *health = onex_handler_health_check(w.h);
	assert_true(json_is_false(json_object_get(health, "healthy")));
	json_decref(health);
	onex_sqlite_db_set_unavailable(w.h, 0);
	o = sql(&w, "db.query", "SELECT count(*) AS n FROM users", NULL);
	assert_int_equal(json_integer_value(json_object_get(row(o, 0), "n")), 2);
	health = onex_handler_health_check(w.h);
	assert_true(json_is_true(json_object_get(health, "healthy")));
	json_decref(health);
	o = sql(&w, "db.select", "SELECT 1", NULL);
	assert_int_equal(o->error.code, ONEX_ERR_INVALID_OPERATION);
	assert_string_equal(o->error.text, "Operation 'db.select' not supported. Available: "
					   "db.execute, db.query, db.transaction");
	json_t *d = onex_handler_describe(w.h);
	assert_string_equal(json_string_value(json_object_get(d, "type")), "db");
	assert_int_equal(json_array_size(json_object_get(d, "operations")), 3);
	assert_string_equal(json_string_value(json_array_get(
				    json_object_get(d, "required_payload_fields"), 0)),
			    "sql");
	assert_non_null(json_object_get(d, "response_shape"));
	json_decref(d);
	world_close(&w);
}

static void test_virtual_time_and_seeded_random(void **state)
{
	struct world a, b, c;
	struct outcome *o;
	json_int_t ra, rb, rc;
	(void)state;
	world_open(&a, "{\"config\": {\"seed\": 7}}");
	world_open(&b, "{\"config\": {\"seed\": 7}}");
	world_open(&c, "{\"config\": {\"seed\": 8}}");
	o = sql(&a, "db.query", "SELECT CURRENT_TIMESTAMP AS now, date('now') AS d", NULL);
	assert_string_equal(json_string_value(json_object_get(row(o, 0), "now")),
			    "2025-01-01 00:00:00");
	onex_sim_scheduler_run_until(a.sched, MS(90061500)); /* 1 d 1 h 1 min 1.5 s */
	o = sql(&a, "db.query", "SELECT CURRENT_TIMESTAMP AS now", NULL);
	assert_string_equal(json_string_value(json_object_get(row(o, 0), "now")),
			    "2025-01-02 01:01:01");
	/* A wall-clock jump is seen by SQL too. */
	onex_sim_scheduler_advance_clock(a.sched, -INT64_C(86400000000000));
	o = sql(&a, "db.query", "SELECT date('now') AS d", NULL);
	assert_string_equal(json_string_value(json_object_get(row(o, 0), "d")), "2025-01-01");

	ra = json_integer_value(json_object_get(row(sql(&a, "db.query", "SELECT random() AS r", NULL), 0), "r"));
	rb = json_integer_value(json_object_get(row(sql(&b, "db.query", "SELECT random() AS r", NULL), 0), "r"));
	rc = json_integer_value(json_object_get(row(sql(&c, "db.query", "SELECT random() AS r", NULL), 0), "r"));
	assert_int_equal(ra, rb);
	assert_int_not_equal(ra, rc);
	o = sql(&b, "db.query", "SELECT length(randomblob(16)) AS n", NULL);
	assert_int_equal(json_integer_value(json_object_get(row(o, 0), "n")), 16);
	world_close(&a);
	world_close(&b);
	world_close(&c);
}

static void test_bounds_and_isolation(void **state)
{
	struct world w;
	struct outcome *o;
	struct onex_error err;
	(void)state;
	world_open(&w, "{\"config\": {\"max_vm_steps\": 200000}}");
	/* A runaway statement is stopped by its step budget. */
	o = sql(&w, "db.query",
		"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c)"
		" SELECT count(*) FROM c",
		NULL);
	assert_int_equal(o->error.code, ONEX_ERR_TIMEOUT);
	assert_string_equal(o->error.text, "canceling statement due to statement timeout");
	assert_string_equal(sqlstate(o), "57014");
	world_close(&w);

	world_open(&w, NULL);
	o = sql(&w, "db.query",
		"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < $1)"
		" SELECT x FROM c",
		"[10001]");
	assert_false(o->ok);
	assert_string_equal(o->error.text, "result has more than 10000 rows");
	o = sql(&w, "db.query",
		"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < $1)"
		" SELECT x FROM c",
		"[10000]");
	assert_int_equal(row_count(o), 10000);
	/* No files: ATTACH and VACUUM INTO get in-memory databases; extensions are refused. */
	o = sql(&w, "db.execute", "ATTACH DATABASE 'onex-sim-test.db' AS other", NULL);
	assert_true(o->ok);
	assert_true(sql(&w, "db.execute", "CREATE TABLE other.t (x INTEGER)", NULL)->ok);
	assert_true(sql(&w, "db.execute", "VACUUM INTO 'onex-sim-test2.db'", NULL)->ok);
	assert_int_equal(access("onex-sim-test.db", F_OK), -1);
	assert_int_equal(access("onex-sim-test2.db", F_OK), -1);
	o = sql(&w, "db.query", "SELECT load_extension('x') AS y", NULL);
	assert_false(o->ok);
	/* Fixture errors are configuration errors with the mapped message. */
	onex_error_clear(&err);
	assert_int_equal(onex_sqlite_db_exec_script(w.h, "INSERT INTO missing VALUES (1);", &err),
			 -1);
	assert_int_equal(err.code, ONEX_ERR_HANDLER_CONFIGURATION_ERROR);
	assert_string_equal(err.text, "fixture SQL failed: relation \"missing\" does not exist");
	/* A half-run script leaves no transaction open. */
	onex_error_clear(&err);
	assert_int_equal(onex_sqlite_db_exec_script(w.h, "BEGIN; INSERT INTO nope VALUES (1);", &err),
			 -1);
	assert_true(sql(&w, "db.execute", "INSERT INTO users (email) VALUES ($1)", "[\"q@x\"]")->ok);
	world_close(&w);
}

static void test_free_with_call_in_flight(void **state)
{
	struct world w;
	struct onex_envelope req;
	struct outcome o;
	(void)state;
	world_open(&w, "{\"config\": {\"latency_ms\": 10}}");
	memset(&req, 0, sizeof(req));
	memset(&o, 0, sizeof(o));
	o.h = w.h;
	o.sched = w.sched;
	req.json = json_pack("{s:s,s:{s:s}}", "operation", "db.query", "payload", "sql", "SELECT 1");
	req.operation = "db.query";
	req.payload = json_object_get(req.json, "payload");
	assert_int_equal(onex_handler_execute(w.h, &req, on_done, &o, NULL), 0);
	json_decref(req.json);
	world_close(&w); /* result dropped, timer cancelled, nothing leaks */
	assert_int_equal(o.calls, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_value_types),
		cmocka_unit_test(test_row_counts),
		cmocka_unit_test(test_parameters),
		cmocka_unit_test(test_transaction_commit_and_rollback),
		cmocka_unit_test(test_error_classes),
		cmocka_unit_test(test_suspicious_sql_is_logged),
		cmocka_unit_test(test_latency_unavailable_invalid_op),
		cmocka_unit_test(test_virtual_time_and_seeded_random),
		cmocka_unit_test(test_bounds_and_isolation),
		cmocka_unit_test(test_free_with_call_in_flight),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
