/*
 * pg_db.h - the db handler unit (spec §7) on PostgreSQL through libpq,
 * non-blocking, on the loop port. Payloads, responses, messages and
 * `sqlstate` extras are those of the simulation unit (sim/sqlite_db.h), so
 * a scenario can be diff-tested against both:
 *
 *   db.query        {sql, parameters} -> {rows: [{col: value}], row_count}
 *   db.execute      {sql, parameters} -> {rows: [], row_count: the command
 *                   tag's last number ("INSERT 0 1" -> 1, "UPDATE 5" -> 5;
 *                   rows counted for a statement that returns rows)}
 *   db.transaction  {statements: [{sql, parameters}, ...]} ->
 *                   {results: [{rows, row_count}, ...], row_count: total};
 *                   BEGIN ... COMMIT on one connection, ROLLBACK on error;
 *                   an error names the statement ("transaction rolled back:
 *                   statement 1: ...", extra statement_index)
 *
 * Statements and parameters: one statement per call; placeholders $1..$n
 * only (?, :name, @name, $name and $0 are refused as in the simulation);
 * the parameter list must have as many entries as the highest placeholder,
 * checked before anything is sent: ENVELOPE_VALIDATION_ERROR "expected N
 * parameters, got M". Transaction control (BEGIN, COMMIT, START, ABORT,
 * ...) is refused outside db.transaction. Parameter types sent: integer ->
 * bigint, real -> double precision, boolean -> boolean; strings, null,
 * objects and arrays (as JSON text) go untyped, so the server takes the
 * type from the context (a column, a cast). Text and SQL must not contain
 * NUL characters (PostgreSQL text cannot hold them).
 *
 * Column values (text protocol): int2/int4/int8/oid -> integer;
 * float4/float8 -> real (NaN, Infinity, -Infinity as strings); numeric ->
 * real when the decimal has at most 15 significant digits (it then survives
 * the trip through a double exactly), else the decimal as a string; bool ->
 * boolean; json/jsonb -> the parsed JSON; bytea -> base64 string (as the
 * simulation's BLOB); NULL -> null; everything else (text, varchar, dates,
 * timestamps, uuid, arrays, ...) -> PostgreSQL's text form as a string.
 * A result over ONEX_PG_ROWS_MAX rows fails ("result has more than 10000
 * rows", sqlstate 54000) and its connection is replaced, which stops the
 * query on the server.
 *
 * Errors: HANDLER_EXECUTION_ERROR with {"sqlstate"} and the simulation's
 * per-class message: 42601 syntax (passed through; "cannot run more than one
 * SQL statement per call"), 42P01 undefined table, 42703 undefined column
 * ('column "x" does not exist'), 42883 undefined function (without argument
 * types), 42702 ambiguous column, 42P07 duplicate table, 42804 "datatype
 * mismatch", 23505 "duplicate key value violates unique constraint on
 * table.col[, table.col]", 23503 "insert or update violates foreign key
 * constraint", 23502 "null value in column table.col violates not-null
 * constraint", 23514 "new row violates check constraint <expression or
 * name>" (a generated name like users_age_check is replaced by the
 * constraint's expression, read back on the same connection); 57014 is
 * TIMEOUT; a lost connection is "connection to the database was lost"
 * (08006). Other errors: "database error: <message>" with PostgreSQL's
 * sqlstate for the classes whose messages never quote a value (0A 25 26
 * 34 3D 3F 40 42 53 54 55 57 58); every other class (22 data exceptions,
 * 23, P0, ...), and any RAISE, ASSERT or dynamic SQL inside a function,
 * gets "database error: <fixed text for the sqlstate or class>" plus the
 * table/column/constraint/type names PostgreSQL reports in its fields.
 * Messages never hold parameters, the DETAIL line, the DSN or a password.
 *
 * Suspicious SQL (";--", stacked statements, DROP, UNION outside a
 * subquery) is logged as a WARN line with the request's correlation id,
 * exactly as the simulation words it; the SQL is never logged.
 *
 * Pool and loop: `pool_size` connections (default 5), each opened with
 * PQconnectStartParams/PQconnectPoll and run with PQsetnonblocking; their
 * sockets are watched through the loop port; PQconsumeInput, PQisBusy,
 * PQgetResult on readiness, PQflush on writability. Nothing blocks and no
 * thread is created. Queries run as named prepared statements
 * (PQsendPrepare once per connection, then PQsendQueryPrepared) when they
 * are SELECT/INSERT/UPDATE/DELETE/WITH/VALUES/TABLE/MERGE, up to
 * ONEX_PG_STATEMENTS_CACHED_MAX per connection (then DEALLOCATE ALL and
 * start over); other statements run unnamed (PQsendQueryParams). Requests
 * wait in a FIFO queue (`queue_max`) while every connection is busy.
 *
 * Availability: initialize never waits for the server. Until a connection
 * is up requests queue; when a connection attempt fails while none is up
 * the handler is degraded: queued and new requests get
 * HANDLER_EXECUTION_ERROR "handler 'db' is not available", health reports
 * {"healthy": false, "degraded": true}, and each connection retries on a
 * loop timer with exponential backoff (reconnect_min_ms doubling up to
 * reconnect_max_ms) until the server is back. A connection that breaks
 * (server restart, network) fails the request it was running ("connection
 * to the database was lost": its outcome is unknown) and is reopened at
 * once; later requests run on the new connections.
 *
 * Handler config (initialize), under the contract entry's `config`:
 *   conninfo_env: "ONEX_PG_DSN"  name of an environment variable holding a
 *                 libpq connection string or URI, read once at initialize
 *   dsn:          a libpq connection string (no password: the contract
 *                 loader refuses inline secrets), or
 *                 {secret_ref: {source: env, key: VAR}}: the value of VAR
 *   host, hostaddr, port, dbname, user, sslmode: libpq keywords (they
 *                 override the connection string)
 *   password:     {secret_ref: {source: env, key: VAR}} only (or use
 *                 PGPASSFILE / ~/.pgpass, peer or trust authentication)
 *   A secret_ref with another source (vault, file), or naming an unset
 *   variable, is SECRET_RESOLUTION_ERROR "config.<field>.secret_ref: ...";
 *   the host adds the contract file and the entry's line.
 *   pool_size (1..ONEX_PG_POOL_SIZE_MAX, 5), queue_max (1..ONEX_PG_QUEUE_MAX,
 *   1024), connect_timeout_ms (10000), reconnect_min_ms (100),
 *   reconnect_max_ms (5000), timeout_ms: the server's statement_timeout
 *   (default onex_handler_unit_timeout_ms(): the entry's timeout_ms + 1 s,
 *   so the host's TIMEOUT comes first and the server then stops the
 *   statement; a statement_timeout inside the connection string is
 *   overridden). A statement over it is TIMEOUT, sqlstate 57014.
 * Any other key is a HANDLER_CONFIGURATION_ERROR (contracts are strict, as
 * for the http unit; the simulation's latency_ms/seed are refused too).
 * With none of the connection keys libpq's defaults apply (PGHOST, ...).
 * client_encoding is always UTF8. A host name is resolved with
 * getaddrinfo() while connecting: use hostaddr or a socket directory to
 * keep even that off the loop.
 */
#ifndef ONEX_REAL_PG_DB_H
#define ONEX_REAL_PG_DB_H

#include "handler.h"
#include "limits.h"

/* type db, unit name "libpq". */
extern const struct onex_handler_unit onex_pg_db_unit;

#endif
