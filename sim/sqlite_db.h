/*
 * sqlite_db.h - the simulation's db handler unit (spec §7) on an in-memory
 * SQLite database, behaving like the PostgreSQL unit where it matters:
 *
 *   db.query        {sql, parameters} -> {rows: [{col: value}], row_count}
 *   db.execute      {sql, parameters} -> {rows: [], row_count: rows changed}
 *   db.transaction  {statements: [{sql, parameters}, ...]} ->
 *                   {results: [{rows, row_count}, ...], row_count: total};
 *                   all or nothing (BEGIN ... COMMIT, ROLLBACK on any error)
 *
 * Statements: one per call (a trailing statement is an error, sqlstate
 * 42601); placeholders PostgreSQL style $1..$n (bound by name, so "$2 ..
 * $1" means what it means in PostgreSQL); the parameter list must have
 * exactly as many entries as the highest placeholder number, else
 * ENVELOPE_VALIDATION_ERROR "expected N parameters, got M". Transaction
 * control (BEGIN, COMMIT, ...) is refused outside db.transaction.
 * Parameters: integers, reals, booleans (as 0/1), null, strings, and
 * objects/arrays as JSON text. Columns: INTEGER -> integer (boolean when
 * the column is declared BOOL/BOOLEAN), REAL -> real (+-Infinity as a
 * string), TEXT -> string (JSON when declared JSON/JSONB and it parses),
 * NULL -> null, BLOB -> base64 string.
 *
 * Suspicious SQL (";--", stacked statements, DROP, UNION outside a
 * subquery) is logged as a WARN line carrying the request's correlation id,
 * never refused for that alone. Errors are HANDLER_EXECUTION_ERROR with a
 * PostgreSQL-like message per class and error_extra {"sqlstate": ...}:
 * 42601 syntax, 42P01 undefined table, 42703 undefined column, 23505
 * unique, 23503 foreign key, 23502 not null, 23514 check; a statement over
 * its step budget is TIMEOUT (57014). Messages never contain parameters.
 *
 * Determinism and isolation: the connection is opened in-memory on a
 * private VFS that opens no files (ATTACH and VACUUM INTO get in-memory
 * databases too), never sleeps, and takes 'now' (CURRENT_TIMESTAMP,
 * date('now')) from the clock port; random() and randomblob() draw from a
 * PRNG seeded by config "seed"; extensions cannot be loaded. SQLite's own
 * process-wide PRNG is given a fixed seed (it would read /dev/urandom).
 *
 * Handler config (initialize): { "config": { "latency_ms": 0, "seed": 0,
 * "max_vm_steps": ONEX_SQLITE_VM_STEPS_DEFAULT } }. Every result is
 * delivered latency_ms after the call, through a loop timer.
 */
#ifndef ONEX_SIM_SQLITE_DB_H
#define ONEX_SIM_SQLITE_DB_H

#include "error.h"
#include "handler.h"
#include "limits.h"


/* type db, unit name "sim-sqlite". create() opens the empty database. */
extern const struct onex_handler_unit onex_sqlite_db_unit;

/*
 * Run SQL text (any number of statements, no parameters) to seed the
 * database from fixtures; usable before or after initialize. Errors:
 * HANDLER_CONFIGURATION_ERROR with the mapped message ("fixture SQL
 * failed: relation \"x\" does not exist").
 */
int onex_sqlite_db_exec_script(struct onex_handler *h, const char *sql,
			       struct onex_error *err);

/*
 * Fault hook: while set, every call fails with HANDLER_EXECUTION_ERROR
 * "handler 'db' is not available" and health reports unhealthy (the
 * database is down); the data survives for when it comes back.
 */
void onex_sqlite_db_set_unavailable(struct onex_handler *h, int unavailable);

#endif
