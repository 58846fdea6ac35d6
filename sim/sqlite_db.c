/*
 * sqlite_db.c - the db handler on in-memory SQLite (see sqlite_db.h).
 *
 * The SQL runs inside execute() (the database applies calls in the order
 * they arrive, like one connection would); only the delivery of the result
 * waits latency_ms on the loop. Everything SQLite could take from the
 * outside world - files, sleeping, time, randomness - is routed through a
 * private VFS or replaced per connection, so a scenario replays exactly.
 */
#include "sqlite_db.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clock.h"
#include "handler_type.h"
#include "limits.h"
#include "base64.h"
#include "log.h"
#include "sql_text.h"
#include "loop.h"
#include "prng.h"

#define UNIT "sim-sqlite"
#define NS_PER_MS UINT64_C(1000000)
#define PROGRESS_OPS 1000 /* VM instructions between budget checks */

struct sqlite_db;

struct db_vfs {
	sqlite3_vfs base; /* first: SQLite sees this */
	struct sqlite_db *self;
	char name[64];
};

struct call {
	struct sqlite_db *self;
	onex_handler_done_cb done;
	void *done_arg;
	struct onex_handler_result result;
	uint64_t timer_id;
	struct call *prev, *next;
};

struct sqlite_db {
	struct onex_handler base; /* first: the handler port */
	sqlite3 *db;
	struct db_vfs vfs;
	int vfs_registered;
	struct onex_prng prng;
	uint64_t latency_ns;
	uint64_t vm_steps_max, vm_steps;
	int budget_on;
	int unavailable;
	uint64_t requests;
	struct call *calls; /* scheduled, not yet delivered */
};

enum db_op { OP_QUERY, OP_EXECUTE, OP_TRANSACTION };

static const struct {
	const char *name;
	enum db_op op;
} operations[] = {
	{ "db.query", OP_QUERY },
	{ "db.execute", OP_EXECUTE },
	{ "db.transaction", OP_TRANSACTION },
};

static const struct onex_handler_ops sqlite_db_ops;

static struct sqlite_db *db_self(const struct onex_handler *h)
{
	if (!h || h->ops != &sqlite_db_ops)
		ONEX_BUG("not a sim-sqlite handler");
	return (struct sqlite_db *)h;
}

/* ---- the private VFS: no files, no sleeping, virtual time ------------------------- */

static struct sqlite_db *vfs_self(sqlite3_vfs *vfs)
{
	return ((struct db_vfs *)vfs)->self;
}

static int vfs_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags,
		    int *out_flags)
{
	(void)vfs, (void)name, (void)flags, (void)out_flags;
	file->pMethods = NULL;
	return SQLITE_CANTOPEN; /* the simulation has no files */
}

static int vfs_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
	(void)vfs, (void)name, (void)sync_dir;
	return SQLITE_OK;
}

static int vfs_access(sqlite3_vfs *vfs, const char *name, int flags, int *res)
{
	(void)vfs, (void)name, (void)flags;
	*res = 0;
	return SQLITE_OK;
}

static int vfs_full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
	(void)vfs;
	snprintf(out, (size_t)n, "%s", name);
	return SQLITE_OK;
}

static void *vfs_dlopen(sqlite3_vfs *vfs, const char *name)
{
	(void)vfs, (void)name;
	return NULL;
}

static void vfs_dlerror(sqlite3_vfs *vfs, int n, char *msg)
{
	(void)vfs;
	snprintf(msg, (size_t)n, "extensions are not available in the simulation");
}

static void (*vfs_dlsym(sqlite3_vfs *vfs, void *lib, const char *sym))(void)
{
	(void)vfs, (void)lib, (void)sym;
	return NULL;
}

static void vfs_dlclose(sqlite3_vfs *vfs, void *lib)
{
	(void)vfs, (void)lib;
}

static int vfs_randomness(sqlite3_vfs *vfs, int n, char *out)
{
	onex_prng_fill(&vfs_self(vfs)->prng, (uint8_t *)out, (size_t)n);
	return n;
}

static int vfs_sleep(sqlite3_vfs *vfs, int us)
{
	(void)vfs;
	return us; /* never block the loop */
}

static int vfs_now_int64(sqlite3_vfs *vfs, sqlite3_int64 *now)
{
	/* Julian day number of the Unix epoch, in ms (as SQLite's os_unix.c). */
	static const sqlite3_int64 unix_epoch_jd_ms = INT64_C(210866760000000);
	struct onex_clock *clock = vfs_self(vfs)->base.env.clock;
	int64_t wall_ns = clock ? onex_clock_wall_ns(clock) : 0;
	int64_t ms = wall_ns / 1000000 - (wall_ns % 1000000 < 0);
	*now = unix_epoch_jd_ms + ms;
	return SQLITE_OK;
}

static int vfs_now(sqlite3_vfs *vfs, double *now)
{
	sqlite3_int64 ms;
	vfs_now_int64(vfs, &ms);
	*now = (double)ms / 86400000.0;
	return SQLITE_OK;
}

static int vfs_last_error(sqlite3_vfs *vfs, int n, char *buf)
{
	(void)vfs, (void)n, (void)buf;
	return 0;
}

static void vfs_init(struct sqlite_db *self)
{
	/* The name must be unique among registered VFSes; it never leaves here. */
	snprintf(self->vfs.name, sizeof(self->vfs.name), "onex-sim-sqlite-%p", (void *)self);
	self->vfs.self = self;
	self->vfs.base = (sqlite3_vfs){
		.iVersion = 2,
		.szOsFile = (int)sizeof(sqlite3_file),
		.mxPathname = 512,
		.zName = self->vfs.name,
		.xOpen = vfs_open,
		.xDelete = vfs_delete,
		.xAccess = vfs_access,
		.xFullPathname = vfs_full_pathname,
		.xDlOpen = vfs_dlopen,
		.xDlError = vfs_dlerror,
		.xDlSym = vfs_dlsym,
		.xDlClose = vfs_dlclose,
		.xRandomness = vfs_randomness,
		.xSleep = vfs_sleep,
		.xCurrentTime = vfs_now,
		.xGetLastError = vfs_last_error,
		.xCurrentTimeInt64 = vfs_now_int64,
	};
}

/* ---- per-connection functions and budget ------------------------------------------- */

static void fn_random(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	struct sqlite_db *self = sqlite3_user_data(ctx);
	uint64_t u = onex_prng_next_u64(&self->prng);
	sqlite3_int64 v;
	(void)argc, (void)argv;
	memcpy(&v, &u, sizeof(v));
	sqlite3_result_int64(ctx, v);
}

static void fn_randomblob(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	struct sqlite_db *self = sqlite3_user_data(ctx);
	sqlite3_int64 n = sqlite3_value_int64(argv[0]);
	uint8_t *buf;
	(void)argc;
	if (n < 1)
		n = 1;
	if (n > ONEX_SQLITE_RANDOMBLOB_BYTES_MAX) {
		sqlite3_result_error_toobig(ctx);
		return;
	}
	if (!(buf = malloc((size_t)n))) {
		sqlite3_result_error_nomem(ctx);
		return;
	}
	onex_prng_fill(&self->prng, buf, (size_t)n);
	sqlite3_result_blob(ctx, buf, (int)n, free);
}

static int progress(void *arg)
{
	struct sqlite_db *self = arg;
	if (!self->budget_on)
		return 0;
	self->vm_steps += PROGRESS_OPS;
	return self->vm_steps > self->vm_steps_max; /* non-zero interrupts */
}

static int db_open(struct sqlite_db *self, struct onex_error *err)
{
	int rc;
	/*
	 * SQLite keeps one process-wide PRNG (journal nonces, the rowid chosen
	 * after rowid 2^63-1), seeded from the *default* VFS, i.e. an open of
	 * /dev/urandom. A fixed seed makes it deterministic and opens nothing.
	 * It is library state, not ours; the sim binary is its only user.
	 */
	sqlite3_test_control(SQLITE_TESTCTRL_PRNG_SEED, 0x6f6e6578, (sqlite3 *)NULL);
	vfs_init(self);
	if (sqlite3_vfs_register(&self->vfs.base, 0) != SQLITE_OK)
		return onex_error_set(err, ONEX_ERR_HANDLER_CONFIGURATION_ERROR, UNIT, 0, 0,
				      "cannot register the simulation VFS");
	self->vfs_registered = 1;
	rc = sqlite3_open_v2(":memory:", &self->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_MEMORY,
			     self->vfs.name);
	if (rc == SQLITE_OK)
		rc = sqlite3_extended_result_codes(self->db, 1);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(self->db, "PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY;",
				  NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_create_function(self->db, "random", 0, SQLITE_UTF8, self,
					     fn_random, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_create_function(self->db, "randomblob", 1, SQLITE_UTF8, self,
					     fn_randomblob, NULL, NULL);
	if (rc != SQLITE_OK)
		return onex_error_set(err, ONEX_ERR_HANDLER_CONFIGURATION_ERROR, UNIT, 0, 0,
				      "cannot open the in-memory database: %s",
				      self->db ? sqlite3_errmsg(self->db) : sqlite3_errstr(rc));
	sqlite3_progress_handler(self->db, PROGRESS_OPS, progress, self);
	return 0;
}

/* ---- errors --------------------------------------------------------------------------- */

/* SQLite error -> PostgreSQL-like class: one table, read top to bottom. */
static const struct {
	int ext_code;	    /* matched first when non-zero */
	const char *prefix; /* else the message prefix; the rest fills %s */
	const char *sqlstate;
	const char *format;
} error_classes[] = {
	{ SQLITE_CONSTRAINT_UNIQUE, "UNIQUE constraint failed: ", "23505",
	  "duplicate key value violates unique constraint on %s" },
	{ SQLITE_CONSTRAINT_PRIMARYKEY, "UNIQUE constraint failed: ", "23505",
	  "duplicate key value violates unique constraint on %s" },
	{ SQLITE_CONSTRAINT_FOREIGNKEY, NULL, "23503",
	  "insert or update violates foreign key constraint" },
	{ SQLITE_CONSTRAINT_NOTNULL, "NOT NULL constraint failed: ", "23502",
	  "null value in column %s violates not-null constraint" },
	{ SQLITE_CONSTRAINT_CHECK, "CHECK constraint failed: ", "23514",
	  "new row violates check constraint %s" },
	{ 0, "no such table: ", "42P01", "relation \"%s\" does not exist" },
	{ 0, "no such column: ", "42703", "column \"%s\" does not exist" },
	{ 0, "no such function: ", "42883", "function %s does not exist" },
	{ 0, "ambiguous column name: ", "42702", "column reference \"%s\" is ambiguous" },
	{ 0, "incomplete input", "42601", "syntax error at end of input" },
	{ SQLITE_MISMATCH, NULL, "42804", "datatype mismatch" },
	{ SQLITE_TOOBIG, NULL, "54000", "value too large" },
};

/* Fill r as a failure: code, text, backend code and {"sqlstate"}. */
static void fail_sql(struct onex_handler_result *r, enum onex_error_code code,
		     const char *sqlstate, int backend, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void fail_sql(struct onex_handler_result *r, enum onex_error_code code,
		     const char *sqlstate, int backend, const char *fmt, ...)
{
	va_list ap;
	memset(r, 0, sizeof(*r));
	onex_error_clear(&r->error);
	va_start(ap, fmt);
	onex_error_vset(&r->error, code, NULL, 0, 0, fmt, ap);
	va_end(ap);
	r->error.backend_code = backend;
	r->error_extra = json_pack("{s:s}", "sqlstate", sqlstate);
}

/* 'near "X": syntax error' -> 'syntax error at or near "X"'. */
static int map_syntax(struct onex_handler_result *r, int ext, const char *msg)
{
	const char *near = strstr(msg, "near \""), *end;
	if (!strstr(msg, "syntax error"))
		return 0;
	if (near && (end = strstr(near + 6, "\": syntax error")))
		fail_sql(r, ONEX_ERR_HANDLER_EXECUTION_ERROR, "42601", ext,
			 "syntax error at or near \"%.*s\"", (int)(end - near - 6), near + 6);
	else
		fail_sql(r, ONEX_ERR_HANDLER_EXECUTION_ERROR, "42601", ext, "syntax error");
	return 1;
}

static void map_error(struct onex_handler_result *r, int ext, const char *msg)
{
	const char *rest;
	if ((ext & 0xff) == SQLITE_INTERRUPT) {
		fail_sql(r, ONEX_ERR_TIMEOUT, "57014", ext,
			 "canceling statement due to statement timeout");
		return;
	}
	if (map_syntax(r, ext, msg))
		return;
	for (size_t i = 0; i < sizeof(error_classes) / sizeof(error_classes[0]); i++) {
		const char *prefix = error_classes[i].prefix;
		size_t n = prefix ? strlen(prefix) : 0;
		int by_code = error_classes[i].ext_code &&
			      (error_classes[i].ext_code == ext ||
			       error_classes[i].ext_code == (ext & 0xff));
		if (!by_code && (error_classes[i].ext_code || !prefix ||
				 strncmp(msg, prefix, n) != 0))
			continue;
		rest = prefix && strncmp(msg, prefix, n) == 0 ? msg + n : msg;
		fail_sql(r, ONEX_ERR_HANDLER_EXECUTION_ERROR, error_classes[i].sqlstate, ext,
			 error_classes[i].format, rest);
		return;
	}
	/* INSERT into a missing column: PostgreSQL calls it an undefined column too. */
	if ((rest = strstr(msg, " has no column named ")) && strncmp(msg, "table ", 6) == 0) {
		fail_sql(r, ONEX_ERR_HANDLER_EXECUTION_ERROR, "42703", ext,
			 "column \"%s\" does not exist", rest + strlen(" has no column named "));
		return;
	}
	if ((rest = strstr(msg, " already exists")) && strncmp(msg, "table ", 6) == 0) {
		fail_sql(r, ONEX_ERR_HANDLER_EXECUTION_ERROR, "42P07", ext,
			 "relation \"%.*s\" already exists", (int)(rest - msg - 6), msg + 6);
		return;
	}
	fail_sql(r, ONEX_ERR_HANDLER_EXECUTION_ERROR, "XX000", ext, "database error: %s", msg);
}

static void map_db_error(struct sqlite_db *self, struct onex_handler_result *r)
{
	map_error(r, sqlite3_extended_errcode(self->db), sqlite3_errmsg(self->db));
}

/* ---- SQL text scanning ------------------------------------------------------------------- */

/* Skip one comment at p, if any; returns the position after it. */

/* ---- binding and columns ------------------------------------------------------------------ */

/* Highest $n placeholder into *max; -1 with r filled for other styles. */
static int placeholders(sqlite3_stmt *stmt, int *max, struct onex_handler_result *r)
{
	int count = sqlite3_bind_parameter_count(stmt);
	*max = 0;
	for (int i = 1; i <= count; i++) {
		const char *name = sqlite3_bind_parameter_name(stmt, i);
		const char *d = name ? name + 1 : NULL;
		long n = 0;
		int ok = name && name[0] == '$' && *d >= '1' && *d <= '9';
		for (; ok && *d; d++) {
			ok = isdigit((unsigned char)*d) && n < 100000;
			n = n * 10 + (*d - '0');
		}
		if (!ok) {
			onex_handler_result_fail(r, ONEX_ERR_ENVELOPE_VALIDATION_ERROR,
						 "unsupported placeholder '%s': use $1, $2, ...",
						 name ? name : "?");
			return -1;
		}
		if (n > *max)
			*max = (int)n;
	}
	return 0;
}

static int bind_value(sqlite3_stmt *stmt, int idx, const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_INTEGER:
		return sqlite3_bind_int64(stmt, idx, json_integer_value(v));
	case JSON_REAL:
		return sqlite3_bind_double(stmt, idx, json_real_value(v));
	case JSON_TRUE:
		return sqlite3_bind_int(stmt, idx, 1);
	case JSON_FALSE:
		return sqlite3_bind_int(stmt, idx, 0);
	case JSON_NULL:
		return sqlite3_bind_null(stmt, idx);
	case JSON_STRING:
		return sqlite3_bind_text64(stmt, idx, json_string_value(v),
					   json_string_length(v), SQLITE_TRANSIENT, SQLITE_UTF8);
	default: {
		char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		if (!text)
			return SQLITE_NOMEM;
		return sqlite3_bind_text64(stmt, idx, text, strlen(text), free, SQLITE_UTF8);
	}
	}
}

static int bind_all(struct sqlite_db *self, sqlite3_stmt *stmt, const json_t *params,
		    struct onex_handler_result *r)
{
	int max;
	size_t given = json_array_size(params);
	if (placeholders(stmt, &max, r) < 0)
		return -1;
	if (given != (size_t)max) {
		onex_handler_result_fail(r, ONEX_ERR_ENVELOPE_VALIDATION_ERROR,
					 "expected %d parameters, got %zu", max, given);
		return -1;
	}
	for (int k = 1; k <= max; k++) {
		char name[16];
		int idx;
		snprintf(name, sizeof(name), "$%d", k);
		/* A number the SQL skips ($1, $3) is simply not bound. */
		if ((idx = sqlite3_bind_parameter_index(stmt, name)) > 0 &&
		    bind_value(stmt, idx, json_array_get(params, (size_t)k - 1)) != SQLITE_OK) {
			map_db_error(self, r);
			return -1;
		}
	}
	return 0;
}

static int decl_is(sqlite3_stmt *stmt, int col, const char *a, const char *b)
{
	const char *decl = sqlite3_column_decltype(stmt, col);
	return decl && (strcasecmp(decl, a) == 0 || strcasecmp(decl, b) == 0);
}

/* One column value as JSON; NULL (with r filled) when it cannot be sent. */
static json_t *column_json(sqlite3_stmt *stmt, int col, struct onex_handler_result *r)
{
	switch (sqlite3_column_type(stmt, col)) {
	case SQLITE_INTEGER: {
		sqlite3_int64 v = sqlite3_column_int64(stmt, col);
		if ((v == 0 || v == 1) && decl_is(stmt, col, "BOOL", "BOOLEAN"))
			return json_boolean(v);
		return json_integer(v);
	}
	case SQLITE_FLOAT: {
		double d = sqlite3_column_double(stmt, col);
		if (isfinite(d))
			return json_real(d);
		return json_string(isnan(d) ? "NaN" : d > 0 ? "Infinity" : "-Infinity");
	}
	case SQLITE_TEXT: {
		const char *text = (const char *)sqlite3_column_text(stmt, col);
		size_t n = (size_t)sqlite3_column_bytes(stmt, col);
		json_t *v = NULL;
		if (decl_is(stmt, col, "JSON", "JSONB"))
			v = json_loadb(text, n, JSON_DECODE_ANY, NULL);
		if (!v && !(v = json_stringn(text, n)))
			fail_sql(r, ONEX_ERR_HANDLER_EXECUTION_ERROR, "22021", 0,
				 "column \"%s\" holds text that is not valid UTF-8",
				 sqlite3_column_name(stmt, col));
		return v;
	}
	case SQLITE_BLOB:
		return onex_base64_json(sqlite3_column_blob(stmt, col),
			      (size_t)sqlite3_column_bytes(stmt, col));
	default:
		return json_null();
	}
}

static json_t *row_json(sqlite3_stmt *stmt, struct onex_handler_result *r)
{
	json_t *row = json_object();
	for (int i = 0; i < sqlite3_column_count(stmt); i++) {
		json_t *v = column_json(stmt, i, r);
		if (!v) {
			json_decref(row);
			return NULL;
		}
		/* Duplicate names (a.id, b.id): the last wins, as in a dict row. */
		json_object_set_new(row, sqlite3_column_name(stmt, i), v);
	}
	return row;
}

/* ---- running statements --------------------------------------------------------------------- */

/* Prepare exactly one statement; NULL with r filled otherwise. */
static sqlite3_stmt *prepare_one(struct sqlite_db *self, const json_t *sql_j,
				 struct onex_handler_result *r)
{
	const char *sql = json_string_value(sql_j), *tail = NULL;
	size_t len = json_string_length(sql_j);
	sqlite3_stmt *stmt = NULL;
	if (sqlite3_prepare_v2(self->db, sql, (int)len, &stmt, &tail) != SQLITE_OK) {
		map_db_error(self, r);
		return NULL;
	}
	if (!stmt) {
		onex_handler_result_fail(r, ONEX_ERR_ENVELOPE_VALIDATION_ERROR,
					 "payload.sql holds no statement");
		return NULL;
	}
	if (onex_sql_skip_blank(tail, sql + len, 1) < sql + len) {
		sqlite3_finalize(stmt);
		fail_sql(r, ONEX_ERR_HANDLER_EXECUTION_ERROR, "42601", 0,
			 "cannot run more than one SQL statement per call");
		return NULL;
	}
	return stmt;
}

/* Step to the end; rows (when wanted) appended to `rows`, count in *row_count. */
static int step_all(struct sqlite_db *self, sqlite3_stmt *stmt, json_t *rows,
		    json_int_t *row_count, struct onex_handler_result *r)
{
	sqlite3_int64 before = sqlite3_total_changes64(self->db);
	json_int_t n = 0;
	int rc;
	self->vm_steps = 0;
	self->budget_on = 1;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (++n > ONEX_SQLITE_ROWS_MAX) {
			self->budget_on = 0;
			fail_sql(r, ONEX_ERR_HANDLER_EXECUTION_ERROR, "54000", 0,
				 "result has more than %u rows", ONEX_SQLITE_ROWS_MAX);
			return -1;
		}
		if (rows) {
			json_t *row = row_json(stmt, r);
			if (!row) {
				self->budget_on = 0;
				return -1;
			}
			json_array_append_new(rows, row);
		}
	}
	self->budget_on = 0;
	if (rc != SQLITE_DONE) {
		map_db_error(self, r);
		return -1;
	}
	/* changes() keeps its old value after DDL: trust it only if this moved. */
	if (sqlite3_column_count(stmt) > 0)
		*row_count = n;
	else
		*row_count = sqlite3_total_changes64(self->db) != before
				     ? (json_int_t)sqlite3_changes64(self->db)
				     : 0;
	return 0;
}

/*
 * Run one {sql, parameters}. On success *out is {rows, row_count} (rows
 * empty unless want_rows) and 0 is returned; else -1 with r filled.
 */
static int run_statement(struct sqlite_db *self, const json_t *sql, const json_t *params,
			 int want_rows, json_t **out, struct onex_handler_result *r)
{
	sqlite3_stmt *stmt = prepare_one(self, sql, r);
	json_t *rows;
	json_int_t count = 0;
	int rc = -1;
	if (!stmt)
		return -1;
	rows = json_array();
	if (bind_all(self, stmt, params, r) == 0 &&
	    step_all(self, stmt, want_rows ? rows : NULL, &count, r) == 0) {
		*out = json_pack("{s:O,s:I}", "rows", rows, "row_count", count);
		rc = 0;
	}
	json_decref(rows);
	sqlite3_finalize(stmt);
	return rc;
}

/* Check one {sql, parameters} pair's shape; `where` prefixes messages. */
static int check_statement(const json_t *sql, const json_t *params, const char *where,
			   struct onex_handler_result *r)
{
	if (!json_is_string(sql) || json_string_length(sql) == 0) {
		onex_handler_result_fail(r, ONEX_ERR_ENVELOPE_VALIDATION_ERROR,
					 "%s.sql is required", where);
		return -1;
	}
	if (params && !json_is_array(params) && !json_is_null(params)) {
		onex_handler_result_fail(r, ONEX_ERR_ENVELOPE_VALIDATION_ERROR,
					 "%s.parameters must be a list", where);
		return -1;
	}
	if (onex_sql_is_transaction_control(json_string_value(sql), json_string_length(sql))) {
		onex_handler_result_fail(r, ONEX_ERR_ENVELOPE_VALIDATION_ERROR,
					 "%s.sql: transaction control statements are not "
					 "allowed; use db.transaction",
					 where);
		return -1;
	}
	return 0;
}

static void run_single(struct sqlite_db *self, const struct onex_envelope *req,
		       int want_rows, struct onex_handler_result *r)
{
	const json_t *sql = json_object_get(req->payload, "sql");
	const json_t *params = json_object_get(req->payload, "parameters");
	json_t *out = NULL;
	if (check_statement(sql, params, "payload", r) < 0)
		return;
	onex_sql_warn_suspicious(self->base.env.log, req, json_string_value(sql), json_string_length(sql), -1);
	if (run_statement(self, sql, params, want_rows, &out, r) == 0)
		onex_handler_result_ok(r, out);
}

static int check_transaction(struct sqlite_db *self, const struct onex_envelope *req,
			     const json_t *list, struct onex_handler_result *r)
{
	size_t n = json_array_size(list);
	if (!json_is_array(list) || n == 0 || n > ONEX_SQLITE_TRANSACTION_STATEMENTS_MAX) {
		onex_handler_result_fail(r, ONEX_ERR_ENVELOPE_VALIDATION_ERROR,
					 "payload.statements is required: a list of 1 to %u "
					 "{sql, parameters}",
					 ONEX_SQLITE_TRANSACTION_STATEMENTS_MAX);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		const json_t *s = json_array_get(list, i);
		const json_t *sql = json_object_get(s, "sql");
		char where[48];
		snprintf(where, sizeof(where), "payload.statements[%zu]", i);
		if (check_statement(sql, json_object_get(s, "parameters"), where, r) < 0)
			return -1;
		onex_sql_warn_suspicious(self->base.env.log, req, json_string_value(sql), json_string_length(sql),
				(long)i);
	}
	return 0;
}

/* Prefix a statement failure with where it happened, keeping its class. */
static void transaction_failed(struct onex_handler_result *r, size_t i)
{
	char prefix[64];
	int n = snprintf(prefix, sizeof(prefix), "transaction rolled back: statement %zu: ", i);
	size_t plen = n > 0 && (size_t)n < sizeof(prefix) ? (size_t)n : 0;
	size_t keep = strlen(r->error.text);
	if (keep > sizeof(r->error.text) - 1 - plen)
		keep = sizeof(r->error.text) - 1 - plen; /* truncate the tail, not the class */
	memmove(r->error.text + plen, r->error.text, keep);
	memcpy(r->error.text, prefix, plen);
	r->error.text[plen + keep] = '\0';
	if (r->error_extra)
		json_object_set_new(r->error_extra, "statement_index", json_integer((json_int_t)i));
}

static void run_transaction(struct sqlite_db *self, const struct onex_envelope *req,
			    struct onex_handler_result *r)
{
	const json_t *list = json_object_get(req->payload, "statements");
	json_t *results;
	json_int_t total = 0;
	if (check_transaction(self, req, list, r) < 0)
		return;
	if (sqlite3_exec(self->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
		map_db_error(self, r);
		return;
	}
	results = json_array();
	for (size_t i = 0; i < json_array_size(list); i++) {
		const json_t *s = json_array_get(list, i);
		json_t *one = NULL;
		if (run_statement(self, json_object_get(s, "sql"),
				  json_object_get(s, "parameters"), 1, &one, r) < 0) {
			sqlite3_exec(self->db, "ROLLBACK", NULL, NULL, NULL);
			transaction_failed(r, i);
			json_decref(results);
			return;
		}
		total += json_integer_value(json_object_get(one, "row_count"));
		json_array_append_new(results, one);
	}
	if (sqlite3_exec(self->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		map_db_error(self, r);
		sqlite3_exec(self->db, "ROLLBACK", NULL, NULL, NULL);
		json_decref(results);
		return;
	}
	onex_handler_result_ok(r, json_pack("{s:o,s:I}", "results", results, "row_count", total));
}

/* ---- execute ------------------------------------------------------------------------------ */

static void call_complete(void *arg)
{
	struct call *c = arg;
	struct sqlite_db *self = c->self;
	if (c->prev)
		c->prev->next = c->next;
	else
		self->calls = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->done(c->done_arg, &c->result); /* takes payload and error_extra */
	free(c);
}

static void decide(struct sqlite_db *self, const struct onex_envelope *req,
		   struct onex_handler_result *r)
{
	size_t i, n = sizeof(operations) / sizeof(operations[0]);
	for (i = 0; i < n; i++)
		if (req->operation && strcmp(req->operation, operations[i].name) == 0)
			break;
	if (i == n) {
		memset(r, 0, sizeof(*r));
		onex_error_clear(&r->error);
		onex_handler_invalid_operation(&r->error, ONEX_HANDLER_DB,
					       req->operation ? req->operation : "");
	} else if (self->unavailable) {
		onex_handler_result_fail(r, ONEX_ERR_HANDLER_EXECUTION_ERROR,
					 "handler 'db' is not available");
	} else if (operations[i].op == OP_TRANSACTION) {
		run_transaction(self, req, r);
	} else {
		run_single(self, req, operations[i].op == OP_QUERY, r);
	}
}

static void db_execute(struct onex_handler *h, const struct onex_envelope *req,
		       onex_handler_done_cb done, void *done_arg)
{
	struct sqlite_db *self = db_self(h);
	struct call *c = calloc(1, sizeof(*c));
	struct onex_error err;
	if (!c)
		ONEX_BUG("sim-sqlite: out of memory");
	self->requests++;
	c->self = self;
	c->done = done;
	c->done_arg = done_arg;
	decide(self, req, &c->result);
	onex_error_clear(&err);
	/* The host bounds calls in flight far below the loop's timer bound. */
	if (onex_loop_timer_add(h->env.loop, self->latency_ns, call_complete, c,
				&c->timer_id, &err) < 0)
		ONEX_BUG("sim-sqlite: cannot schedule a completion: %s", err.text);
	c->next = self->calls;
	if (c->next)
		c->next->prev = c;
	self->calls = c;
}

/* ---- lifecycle and reports ----------------------------------------------------------------- */

static int config_uint(const json_t *conf, const char *key, uint64_t max, uint64_t *out,
		       struct onex_error *err)
{
	const json_t *v = json_object_get(conf, key);
	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    (uint64_t)json_integer_value(v) > max)
		return onex_error_set(err, ONEX_ERR_HANDLER_CONFIGURATION_ERROR, UNIT, 0, 0,
				      "config.%s must be an integer from 0 to %llu", key,
				      (unsigned long long)max);
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

static int db_initialize(struct onex_handler *h, const json_t *config,
			 struct onex_error *err)
{
	struct sqlite_db *self = db_self(h);
	const json_t *conf = json_object_get(config, "config");
	uint64_t latency_ms = 0, seed = 0;
	if (conf && !json_is_object(conf))
		return onex_error_set(err, ONEX_ERR_HANDLER_CONFIGURATION_ERROR, UNIT, 0, 0,
				      "db handler config must be a mapping");
	if (config_uint(conf, "latency_ms", ONEX_SQLITE_LATENCY_MS_MAX, &latency_ms, err) < 0 ||
	    config_uint(conf, "seed", INT64_MAX, &seed, err) < 0 ||
	    config_uint(conf, "max_vm_steps", INT64_MAX, &self->vm_steps_max, err) < 0)
		return -1;
	self->latency_ns = latency_ms * NS_PER_MS;
	onex_prng_init(&self->prng, seed);
	return 0;
}

static json_t *db_health(struct onex_handler *h)
{
	struct sqlite_db *self = db_self(h);
	json_t *health = json_pack("{s:s,s:s,s:b,s:I}", "handler_type", "db",
				   "backend", "sqlite in-memory", "available", !self->unavailable,
				   "requests", (json_int_t)self->requests);
	if (self->unavailable)
		json_object_set_new(health, "healthy", json_false());
	return health;
}

static json_t *db_describe(const struct onex_handler *h)
{
	const struct sqlite_db *self = db_self(h);
	json_t *ops = json_array();
	for (const char *const *op = onex_handler_type_operations(ONEX_HANDLER_DB); *op; op++)
		json_array_append_new(ops, json_string(*op));
	return json_pack("{s:s,s:s,s:o,s:[s],s:[s],s:{s:s,s:s},s:{s:s,s:s},s:s,s:I,s:s}",
			 "type", "db", "unit", UNIT, "operations", ops,
			 "required_payload_fields", "sql", "optional_payload_fields",
			 "parameters", "transaction_payload", "statements",
			 "list of {sql, parameters}", "results", "list of {rows, row_count}",
			 "response_shape", "rows", "list of {column: value}", "row_count",
			 "integer", "placeholders", "$1..$n",
			 "latency_ms", (json_int_t)(self->latency_ns / NS_PER_MS),
			 "version", "0.1.0");
}

static void db_shutdown(struct onex_handler *h)
{
	/* Calls already scheduled still complete; the data stays until free. */
	(void)h;
}

static void db_free(struct onex_handler *h)
{
	struct sqlite_db *self = db_self(h);
	while (self->calls) {
		struct call *c = self->calls;
		self->calls = c->next;
		onex_loop_timer_cancel(h->env.loop, c->timer_id);
		onex_handler_result_release(&c->result);
		free(c);
	}
	sqlite3_close(self->db);
	if (self->vfs_registered)
		sqlite3_vfs_unregister(&self->vfs.base);
	free(self);
}

static const struct onex_handler_ops sqlite_db_ops = {
	.type = ONEX_HANDLER_DB,
	.unit_name = UNIT,
	.initialize = db_initialize,
	.execute = db_execute,
	.health_check = db_health,
	.describe = db_describe,
	.shutdown = db_shutdown,
	.free = db_free,
};

static struct onex_handler *db_create(const struct onex_handler_env *env,
				      struct onex_error *err)
{
	struct sqlite_db *self;
	if (!env || !env->loop)
		ONEX_BUG("sim-sqlite needs a loop");
	if (!(self = calloc(1, sizeof(*self)))) {
		onex_error_set(err, ONEX_ERR_HANDLER_CONFIGURATION_ERROR, UNIT, 0, 0,
			       "out of memory");
		return NULL;
	}
	onex_handler_base_init(&self->base, &sqlite_db_ops, env);
	self->vm_steps_max = ONEX_SQLITE_VM_STEPS_DEFAULT;
	onex_prng_init(&self->prng, 0);
	if (db_open(self, err) < 0) {
		db_free(&self->base);
		return NULL;
	}
	return &self->base;
}

const struct onex_handler_unit onex_sqlite_db_unit = {
	.type = ONEX_HANDLER_DB,
	.unit_name = UNIT,
	.create = db_create,
};

int onex_sqlite_db_exec_script(struct onex_handler *h, const char *sql,
			       struct onex_error *err)
{
	struct sqlite_db *self = db_self(h);
	struct onex_handler_result r;
	if (sqlite3_exec(self->db, sql, NULL, NULL, NULL) == SQLITE_OK)
		return 0;
	map_db_error(self, &r);
	onex_error_set(err, ONEX_ERR_HANDLER_CONFIGURATION_ERROR, UNIT, 0, 0,
		       "fixture SQL failed: %s", r.error.text);
	onex_handler_result_release(&r);
	/* A failed script leaves no transaction open behind it. */
	if (!sqlite3_get_autocommit(self->db))
		sqlite3_exec(self->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

void onex_sqlite_db_set_unavailable(struct onex_handler *h, int unavailable)
{
	db_self(h)->unavailable = unavailable != 0;
}
