/*
 * pg_db.c - the db handler on PostgreSQL through libpq (see pg_db.h).
 *
 * Shape: a pool of connections (struct pg_conn), each a small state
 * machine driven by its socket's readiness on the loop; a FIFO queue of
 * requests (struct pg_req); and per request a sequence of steps with one
 * query on the wire at a time:
 *
 *   [BEGIN] { [DEALLOCATE ALL] [PREPARE] EXECUTE }... [COMMIT]
 *   on error: [ROLLBACK] [read the check constraint's expression]
 *
 * A result is always delivered from a zero-delay loop timer, never from
 * inside execute() nor from inside a libpq call, so the host never sees a
 * re-entrant callback. Everything a request needs from its envelope is
 * taken during execute(): the payload by reference, the ids by copy.
 *
 * Per request the hot path allocates little: the checks' findings for a
 * SQL text are kept per handler (sql_info_get), parameters live on the
 * stack, freed requests are reused (ONEX_PG_REQUESTS_SPARE). The checks
 * themselves and their messages are the same whether cached or not.
 */
#include "pg_db.h"

#include <ctype.h>
#include <libpq-fe.h>
#include <math.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "handler_type.h"
#include "base64.h"
#include "log.h"
#include "sql_text.h"
#include "loop.h"

#define UNIT "libpq"
#define NS_PER_MS UINT64_C(1000000)
#define NOT_AVAILABLE "handler 'db' is not available"
#define CONNECTION_LOST "connection to the database was lost"
#define KEYWORDS_MAX 16

/* Type OIDs (from catalog/pg_type_d.h, a server header; they never change). */
enum {
	OID_BOOL = 16,
	OID_BYTEA = 17,
	OID_INT8 = 20,
	OID_INT2 = 21,
	OID_INT4 = 23,
	OID_TEXT = 25,
	OID_OID = 26,
	OID_JSON = 114,
	OID_FLOAT4 = 700,
	OID_FLOAT8 = 701,
	OID_NUMERIC = 1700,
	OID_JSONB = 3802,
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

/* One {sql, parameters} of a request, checked before anything is sent. */
struct pg_stmt {
	const char *sql;      /* borrowed from the request's payload */
	size_t len;
	uint64_t sql_hash;    /* text_hash() of the text */
	const json_t *params; /* array or NULL; borrowed */
	int nparams;	      /* highest placeholder == entries in params */
	unsigned char *used;  /* used[k]: $k+1 appears in the text (used_small or heap) */
	int cacheable;	      /* worth a named prepared statement */
	unsigned char used_small[ONEX_PG_PARAMS_INLINE];
};

enum phase {
	PH_QUEUED,
	PH_BEGIN,
	PH_DEALLOCATE,
	PH_PREPARE,
	PH_EXECUTE,
	PH_COMMIT,
	PH_ROLLBACK,
	PH_LOOKUP,
	PH_DONE,
};

struct pg_db;
struct pg_conn;

/*
 * What the checks find in one SQL text; a pure function of the text, so
 * kept per handler for texts seen before (direct-mapped on the text's hash).
 */
struct sql_shape {
	int max;	     /* highest $n */
	int statement;	     /* holds something besides blanks, comments, ';' */
	char bad[64];	     /* first unsupported placeholder, "" when none */
	unsigned char *used; /* when set (max bytes): used[n-1] = 1 for each $n */
};

struct sql_info {
	char *sql; /* the text (a copy); NULL: empty slot, or not kept */
	size_t len;
	uint64_t hash;	     /* text_hash() of the text */
	int txn_control;     /* onex_sql_is_transaction_control() */
	unsigned suspicious; /* onex_sql_scan_suspicious() */
	int has_nul;	     /* strlen(text) != len */
	int cacheable;	     /* worth a named prepared statement */
	int used_known;	     /* used[] filled: a valid shape, max <= ONEX_PG_PARAMS_INLINE */
	struct sql_shape shape; /* shape.used is NULL here */
	unsigned char used[ONEX_PG_PARAMS_INLINE];
};

struct pg_req {
	struct pg_db *self;
	struct pg_req *prev, *next; /* every live request, for free() */
	struct pg_req *queue_next;
	struct pg_conn *conn; /* while running */
	onex_handler_done_cb done;
	void *done_arg;
	enum db_op op;
	json_t *payload; /* a reference: the envelope may go before we finish */
	struct pg_stmt *stmts; /* &stmt_one, or a heap array for a transaction */
	size_t n_stmts, i;
	enum phase phase;
	int failed, retried, plan_changed;
	long failed_stmt; /* the statement whose error ends a transaction, or -1 */
	int lookup;	  /* read a check constraint's expression before finishing */
	char lookup_args[3][64]; /* constraint, table, schema (NAMEDATALEN) */
	char *key;		 /* statement cache key of the current statement */
	size_t key_len;
	uint64_t key_hash;
	char stmt_name[32]; /* prepared statement to run */
	json_t *results;    /* transaction: one {rows, row_count} per statement */
	json_t *rows;	    /* current statement's rows; NULL for db.execute */
	json_int_t row_count, rows_seen, total;
	uint64_t timer_id;
	int scheduled; /* delivery timer pending */
	struct pg_stmt stmt_one; /* the statement of db.query / db.execute */
	/* From here on not zeroed by req_new (only what it must be): ~3 KiB of text. */
	struct onex_handler_result result;
	char correlation_id[80];
	char envelope_id[80];
};

enum conn_state { CONN_DOWN, CONN_CONNECTING, CONN_IDLE, CONN_BUSY };

struct cached_stmt {
	uint64_t hash;
	char *key;
	size_t key_len;
	char name[32];
};

struct pg_conn {
	struct pg_db *self;
	unsigned index;
	enum conn_state state;
	PGconn *pg;
	int fd;		   /* watched socket, -1 when none */
	unsigned watched;  /* events asked of the loop, 0 = not watched */
	int flushing;	   /* PQflush said more output is queued */
	int abandon;	   /* drop after this result: the rest is not wanted */
	int fatal;	   /* the server said FATAL: it is closing this session */
	struct pg_req *req;
	uint64_t timer_id; /* reconnect (DOWN) or connect timeout (CONNECTING) */
	int timer_armed;
	uint64_t backoff_ms;
	struct cached_stmt cache[ONEX_PG_STATEMENTS_CACHED_MAX];
	unsigned cached;
	uint64_t stmt_seq;
};

struct pg_db {
	struct onex_handler base; /* first: the handler port */
	const char *keywords[KEYWORDS_MAX];
	char *values[KEYWORDS_MAX];
	size_t n_keywords;
	int expand_dbname;
	char *dsn_options; /* the connection string's own "options", merged with ours */
	unsigned pool_size, queue_max;
	uint64_t connect_timeout_ms, reconnect_min_ms, reconnect_max_ms;
	struct pg_conn *conns;
	struct pg_req *all;
	struct pg_req *queue_head, *queue_tail;
	unsigned queued, up;
	int degraded, shut, dispatching;
	uint64_t requests, reconnects;
	struct sql_info sql_cache[ONEX_PG_SQL_TEXTS_CACHED];
	struct pg_req *spare; /* freed requests kept for reuse (linked by queue_next) */
	unsigned n_spare;
};

static const struct onex_handler_ops pg_db_ops;

/* FNV-1a steps, 64 bits: the statement cache key's signature part. */
static uint64_t fnv1a_more(uint64_t h, const char *p, size_t n)
{
	while (n--)
		h = (h ^ (unsigned char)*p++) * UINT64_C(1099511628211);
	return h;
}

/*
 * The SQL text's hash, 8 bytes at a time (a text is hashed on every
 * request; FNV-1a's byte loop was ~5 instructions a byte). Any equal
 * texts hash equal; the caches compare the bytes anyway.
 */
static uint64_t text_hash(const char *p, size_t n)
{
	uint64_t h = UINT64_C(14695981039346656037) ^ (uint64_t)n;
	for (; n >= 8; p += 8, n -= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		h = (h ^ w) * UINT64_C(0xff51afd7ed558ccd);
		h ^= h >> 32;
	}
	return fnv1a_more(h, p, n);
}

static struct pg_db *db_self(const struct onex_handler *h)
{
	if (!h || h->ops != &pg_db_ops)
		ONEX_BUG("not a libpq db handler");
	return (struct pg_db *)h;
}

static void conn_broken(struct pg_conn *c, const char *why);
static void conn_drain(struct pg_conn *c);
static void req_next(struct pg_conn *c);
static void pool_dispatch(struct pg_db *self);

/* ---- SQL text: the scans shared with the simulation are in core/units/sql_text.c ---- */

/* Statements worth a named prepared statement: plannable DML and queries. */
static int is_cacheable(const char *sql, size_t len)
{
	static const char *const words[] = { "SELECT", "INSERT", "UPDATE", "DELETE", "WITH",
					     "VALUES", "TABLE",	 "MERGE",  NULL };
	const char *w;
	size_t n = onex_sql_first_word(sql, len, &w);
	return onex_sql_word_in(w, n, words);
}

/* ---- placeholders: a PostgreSQL-aware lexer ------------------------------------------ */
/*
 * Finds $n placeholders the way the server's lexer would: not inside
 * '...', E'...', "...", $tag$...$tag$, -- or nested block comments, and
 * not inside an identifier (a$1 is a name). Other dialects' placeholders
 * (?, ?1, :name, @name, $name, $0) are reported like the simulation does;
 * '?' that is part of an operator (?|, ?&, @?) and '::' casts are not.
 */

static int ident_start(char c)
{
	return isalpha((unsigned char)c) || c == '_' || (unsigned char)c >= 0x80;
}

static int ident_char(char c)
{
	return ident_start(c) || isdigit((unsigned char)c) || c == '$';
}

static int op_char(char c)
{
	return c && strchr("+-*/<>=~!@#%^&|`?", c) != NULL;
}

static const char *skip_block_comment(const char *p, const char *end)
{
	int depth = 0;
	while (p < end) {
		if (end - p >= 2 && p[0] == '/' && p[1] == '*') {
			depth++;
			p += 2;
		} else if (end - p >= 2 && p[0] == '*' && p[1] == '/') {
			p += 2;
			if (--depth == 0)
				return p;
		} else {
			p++;
		}
	}
	return end;
}

/* A '...' string (or "..." name) at p; `escapes` for E'...'. */
static const char *skip_literal(const char *p, const char *end, int escapes)
{
	char q = *p;
	for (p++; p < end; p++) {
		if (escapes && *p == '\\') {
			p++;
		} else if (*p == q) {
			if (p + 1 < end && p[1] == q)
				p++;
			else
				return p + 1;
		}
	}
	return end;
}

static void note_bad(struct sql_shape *s, const char *p, size_t n)
{
	if (!s->bad[0])
		snprintf(s->bad, sizeof(s->bad), "%.*s", (int)(n < 60 ? n : 60), p);
}

/* At '$': a placeholder, a dollar-quoted string or a foreign $name. */
static const char *scan_dollar(const char *p, const char *end, struct sql_shape *s)
{
	const char *d = p + 1, *q;
	if (d < end && isdigit((unsigned char)*d)) {
		long n = 0;
		int ok = *d >= '1' && *d <= '9';
		for (q = d; q < end && isdigit((unsigned char)*q); q++) {
			ok = ok && n < 100000; /* the simulation's bound */
			n = n * 10 + (*q - '0');
		}
		if (!ok) {
			note_bad(s, p, (size_t)(q - p));
		} else {
			if (s->used && n <= s->max)
				s->used[n - 1] = 1;
			if (n > s->max)
				s->max = (int)n;
		}
		return q;
	}
	if (d < end && (*d == '$' || ident_start(*d))) {
		for (q = d; q < end && *q != '$' && ident_char(*q);)
			q++;
		if (q < end && *q == '$') { /* $tag$ ... $tag$ */
			size_t tag = (size_t)(q - p + 1);
			const char *close = memmem(q + 1, (size_t)(end - q - 1), p, tag);
			return close ? close + tag : end;
		}
		note_bad(s, p, (size_t)(q - p));
		return q;
	}
	return d;
}

/* At '?', ':' or '@': a foreign placeholder unless part of an operator or cast. */
static const char *scan_sigil(const char *sql, const char *p, const char *end,
			      int brackets, struct sql_shape *s)
{
	char prev = p > sql ? p[-1] : '\0', next = p + 1 < end ? p[1] : '\0';
	const char *q = p + 1;
	if (*p == ':' && next == ':')
		return p + 2; /* a cast */
	if (*p == '?' && !op_char(prev) && !op_char(next)) {
		while (q < end && isdigit((unsigned char)*q))
			q++;
		note_bad(s, p, (size_t)(q - p));
		return q;
	}
	if ((*p == ':' || *p == '@') && ident_start(next) && !op_char(prev) &&
	    prev != ':' && (*p == '@' || brackets == 0)) {
		while (q < end && ident_char(*q) && *q != '$')
			q++;
		note_bad(s, p, (size_t)(q - p));
		return q;
	}
	return q;
}

static void scan_sql(const char *sql, size_t len, struct sql_shape *s)
{
	const char *p = sql, *end = sql + len;
	int brackets = 0;
	while (p < end) {
		char c = *p;
		if (isspace((unsigned char)c) || c == ';') {
			p++;
		} else if (end - p >= 2 && c == '-' && p[1] == '-') {
			p = onex_sql_skip_comment(p, end);
		} else if (end - p >= 2 && c == '/' && p[1] == '*') {
			p = skip_block_comment(p, end);
		} else {
			s->statement = 1;
			if (c == '\'' || c == '"') {
				p = skip_literal(p, end, 0);
			} else if (c == '$') {
				p = scan_dollar(p, end, s);
			} else if (ident_start(c)) {
				const char *w = p;
				while (p < end && ident_char(*p))
					p++;
				if (p - w == 1 && (*w == 'E' || *w == 'e') && p < end && *p == '\'')
					p = skip_literal(p, end, 1);
			} else if (isdigit((unsigned char)c)) {
				while (p < end && (isalnum((unsigned char)*p) || *p == '.' || *p == '_'))
					p++;
			} else if (c == '?' || c == ':' || c == '@') {
				p = scan_sigil(sql, p, end, brackets, s);
			} else {
				brackets += c == '[';
				brackets -= c == ']' && brackets > 0;
				p++;
			}
		}
	}
}

/* ---- what the checks find in a SQL text, cached per text ---------------------------------- */

static void sql_info_scan(struct sql_info *e, const char *sql, size_t len)
{
	memset(&e->shape, 0, sizeof(e->shape));
	e->txn_control = onex_sql_is_transaction_control(sql, len);
	e->suspicious = onex_sql_scan_suspicious(sql, len);
	scan_sql(sql, len, &e->shape);
	e->has_nul = strlen(sql) != len;
	e->cacheable = is_cacheable(sql, len);
	e->used_known = e->shape.statement && !e->shape.bad[0] &&
			(size_t)e->shape.max <= sizeof(e->used);
	if (e->used_known && e->shape.max > 0) {
		/* Second pass: which numbers the text uses (the others go as text). */
		struct sql_shape marks = { .max = e->shape.max, .used = e->used };
		memset(e->used, 0, sizeof(e->used));
		scan_sql(sql, len, &marks);
	}
}

/*
 * The checks' findings for sql: from the cache when the same text was seen
 * (same bytes), else scanned (and kept when the text is short enough).
 * tmp holds the findings of a text not kept.
 */
static const struct sql_info *sql_info_get(struct pg_db *self, const char *sql, size_t len,
					   struct sql_info *tmp)
{
	uint64_t hash = text_hash(sql, len);
	struct sql_info *e = &self->sql_cache[hash % ONEX_PG_SQL_TEXTS_CACHED];
	char *copy;
	if (e->sql && e->hash == hash && e->len == len && memcmp(e->sql, sql, len) == 0)
		return e;
	if (len > ONEX_PG_SQL_TEXT_CACHED_MAX || !(copy = malloc(len ? len : 1))) {
		e = tmp;
		copy = NULL;
	} else {
		free(e->sql);
		memcpy(copy, sql, len);
	}
	e->sql = copy;
	e->len = len;
	e->hash = hash;
	sql_info_scan(e, sql, len);
	return e;
}

static void sql_cache_clear(struct pg_db *self)
{
	for (size_t i = 0; i < ONEX_PG_SQL_TEXTS_CACHED; i++) {
		free(self->sql_cache[i].sql);
		self->sql_cache[i].sql = NULL;
	}
}

/* ---- request validation ------------------------------------------------------------------ */

static void req_fail(struct pg_req *req, enum onex_error_code code, const char *sqlstate,
		     const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* PostgreSQL's own packing of a SQLSTATE into an int (MAKE_SQLSTATE). */
static int sqlstate_code(const char *s)
{
	int v = 0;
	for (int i = 0; i < 5 && s[i]; i++)
		v |= ((s[i] - '0') & 0x3F) << (6 * i);
	return v;
}

/* Record the request's error unless it has one (the first error wins). */
static void req_fail(struct pg_req *req, enum onex_error_code code, const char *sqlstate,
		     const char *fmt, ...)
{
	va_list ap;
	struct onex_handler_result *r = &req->result;
	if (req->failed)
		return;
	req->failed = 1;
	if (req->phase == PH_PREPARE || req->phase == PH_EXECUTE)
		req->failed_stmt = (long)req->i; /* a transaction names it */
	onex_handler_result_release(r);
	memset(r, 0, sizeof(*r));
	onex_error_clear(&r->error);
	va_start(ap, fmt);
	onex_error_vset(&r->error, code, NULL, 0, 0, fmt, ap);
	va_end(ap);
	if (sqlstate) {
		r->error.backend_code = sqlstate_code(sqlstate);
		r->error_extra = json_pack("{s:s}", "sqlstate", sqlstate);
	}
}

static void req_unfail(struct pg_req *req)
{
	onex_handler_result_release(&req->result);
	memset(&req->result, 0, sizeof(req->result));
	req->failed = 0;
}

/* The simulation's shape checks of one {sql, parameters}. */
static int check_statement(struct pg_req *req, const json_t *sql, const json_t *params,
			   const char *where, struct sql_info *tmp, const struct sql_info **info)
{
	if (!json_is_string(sql) || json_string_length(sql) == 0) {
		req_fail(req, ONEX_ERR_ENVELOPE_VALIDATION_ERROR, NULL, "%s.sql is required", where);
		return -1;
	}
	if (params && !json_is_array(params) && !json_is_null(params)) {
		req_fail(req, ONEX_ERR_ENVELOPE_VALIDATION_ERROR, NULL,
			 "%s.parameters must be a list", where);
		return -1;
	}
	*info = sql_info_get(req->self, json_string_value(sql), json_string_length(sql), tmp);
	if ((*info)->txn_control) {
		req_fail(req, ONEX_ERR_ENVELOPE_VALIDATION_ERROR, NULL,
			 "%s.sql: transaction control statements are not allowed; use "
			 "db.transaction",
			 where);
		return -1;
	}
	return 0;
}

/* What the simulation finds while preparing and binding, found before sending. */
static int shape_statement(struct pg_req *req, struct pg_stmt *st, const json_t *sql,
			   const json_t *params, const char *where, const struct sql_info *info)
{
	const struct sql_shape shape = info->shape;
	size_t len = json_string_length(sql), given = json_array_size(params);
	st->sql = json_string_value(sql);
	st->len = len;
	st->sql_hash = info->hash;
	st->params = json_is_array(params) ? params : NULL;
	if (!shape.statement) {
		req_fail(req, ONEX_ERR_ENVELOPE_VALIDATION_ERROR, NULL,
			 "payload.sql holds no statement");
		return -1;
	}
	if (shape.bad[0]) {
		req_fail(req, ONEX_ERR_ENVELOPE_VALIDATION_ERROR, NULL,
			 "unsupported placeholder '%s': use $1, $2, ...", shape.bad);
		return -1;
	}
	if (given != (size_t)shape.max) {
		req_fail(req, ONEX_ERR_ENVELOPE_VALIDATION_ERROR, NULL,
			 "expected %d parameters, got %zu", shape.max, given);
		return -1;
	}
	if (info->has_nul) {
		req_fail(req, ONEX_ERR_ENVELOPE_VALIDATION_ERROR, NULL,
			 "%s.sql contains a NUL character", where);
		return -1;
	}
	for (size_t k = 0; k < given; k++) {
		const json_t *v = json_array_get(params, k);
		if (json_is_string(v) && strlen(json_string_value(v)) != json_string_length(v)) {
			req_fail(req, ONEX_ERR_ENVELOPE_VALIDATION_ERROR, NULL,
				 "%s.parameters[%zu] contains a NUL character, which "
				 "PostgreSQL text cannot hold",
				 where, k);
			return -1;
		}
	}
	st->nparams = shape.max;
	st->cacheable = info->cacheable;
	if (shape.max > 0 && info->used_known) {
		memcpy(st->used_small, info->used, (size_t)shape.max);
		st->used = st->used_small;
	} else if (shape.max > 0) {
		/* Second pass: which numbers the text uses (the others go as text). */
		struct sql_shape marks = { .max = shape.max };
		if (!(marks.used = calloc((size_t)shape.max, 1)))
			ONEX_BUG("libpq db: out of memory");
		scan_sql(st->sql, len, &marks);
		st->used = marks.used;
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

static int prepare_single(struct pg_req *req, const struct onex_envelope *env)
{
	const json_t *sql = json_object_get(env->payload, "sql");
	const json_t *params = json_object_get(env->payload, "parameters");
	const struct sql_info *info;
	struct sql_info tmp;
	if (check_statement(req, sql, params, "payload", &tmp, &info) < 0)
		return -1;
	if (info->suspicious)
		onex_sql_warn_suspicious(req->self->base.env.log, env, json_string_value(sql),
					 json_string_length(sql), -1);
	req->stmts = &req->stmt_one; /* zeroed by req_new */
	req->n_stmts = 1;
	return shape_statement(req, &req->stmts[0], sql, params, "payload", info);
}

static int prepare_transaction(struct pg_req *req, const struct onex_envelope *env)
{
	const json_t *list = json_object_get(env->payload, "statements");
	size_t n = json_array_size(list);
	if (!json_is_array(list) || n == 0 || n > ONEX_PG_TRANSACTION_STATEMENTS_MAX) {
		req_fail(req, ONEX_ERR_ENVELOPE_VALIDATION_ERROR, NULL,
			 "payload.statements is required: a list of 1 to %u {sql, parameters}",
			 ONEX_PG_TRANSACTION_STATEMENTS_MAX);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		const json_t *s = json_array_get(list, i), *sql = json_object_get(s, "sql");
		char where[48];
		snprintf(where, sizeof(where), "payload.statements[%zu]", i);
		const struct sql_info *info;
		struct sql_info tmp;
		if (check_statement(req, sql, json_object_get(s, "parameters"), where, &tmp, &info) <
		    0)
			return -1;
		if (info->suspicious)
			onex_sql_warn_suspicious(req->self->base.env.log, env, json_string_value(sql),
						 json_string_length(sql), (long)i);
	}
	if (!(req->stmts = calloc(n, sizeof(*req->stmts))))
		ONEX_BUG("libpq db: out of memory");
	req->n_stmts = n;
	for (size_t i = 0; i < n; i++) {
		const json_t *s = json_array_get(list, i), *sql = json_object_get(s, "sql");
		const struct sql_info *info;
		struct sql_info tmp;
		char where[48];
		snprintf(where, sizeof(where), "payload.statements[%zu]", i);
		info = sql_info_get(req->self, json_string_value(sql), json_string_length(sql), &tmp);
		if (shape_statement(req, &req->stmts[i], sql, json_object_get(s, "parameters"), where,
				    info) < 0) {
			/* As the simulation: the statement's error, inside the transaction. */
			transaction_failed(&req->result, i);
			return -1;
		}
	}
	return 0;
}

/* ---- parameters ------------------------------------------------------------------------ */

/* Up to ONEX_PG_PARAMS_INLINE parameters live in the struct (on the stack); more on the heap. */
struct pg_params {
	int n;
	int heap;
	Oid *types;
	const char **values;
	char **owned; /* JSON text of objects and arrays */
	char (*num)[32];
	char *sig; /* one letter per parameter: its wire type, for the cache key */
	Oid types_small[ONEX_PG_PARAMS_INLINE + 1];
	const char *values_small[ONEX_PG_PARAMS_INLINE + 1];
	char *owned_small[ONEX_PG_PARAMS_INLINE + 1];
	char num_small[ONEX_PG_PARAMS_INLINE + 1][32];
	char sig_small[ONEX_PG_PARAMS_INLINE + 1];
};

static void params_release(struct pg_params *p)
{
	for (int k = 0; k < p->n && p->owned; k++)
		free(p->owned[k]);
	if (p->heap) {
		free(p->types);
		free(p->values);
		free(p->owned);
		free(p->num);
		free(p->sig);
	}
	p->n = p->heap = 0;
	p->types = NULL;
	p->values = NULL;
	p->owned = NULL;
	p->num = NULL;
	p->sig = NULL;
}

/* snprintf(buf, 32, "%" JSON_INTEGER_FORMAT, v) without the format machinery. */
static void format_integer(json_int_t v, char *buf)
{
	char tmp[24];
	size_t n = 0, i = 0;
	unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
	do {
		tmp[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		buf[i++] = '-';
	while (n)
		buf[i++] = tmp[--n];
	buf[i] = '\0';
}

/* Shortest %g text that reads back as the same double. */
static void format_real(double v, char *buf, size_t size)
{
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(buf, size, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			return;
	}
}

/*
 * The wire type of one parameter, as a letter for the statement cache key:
 * i bigint, r double precision, b boolean, u untyped (the server infers it
 * from the context), t text (an untyped $k the SQL never uses: the server
 * could infer nothing and would refuse the statement).
 */
static char param_sig(const json_t *v, int used)
{
	switch (json_typeof(v)) {
	case JSON_INTEGER:
		return 'i';
	case JSON_REAL:
		return 'r';
	case JSON_TRUE:
	case JSON_FALSE:
		return 'b';
	default:
		return used ? 'u' : 't';
	}
}

static Oid sig_type(char sig)
{
	switch (sig) {
	case 'i':
		return OID_INT8;
	case 'r':
		return OID_FLOAT8;
	case 'b':
		return OID_BOOL;
	case 't':
		return OID_TEXT;
	default:
		return 0;
	}
}

/* One parameter's text; objects and arrays as JSON text. */
static int param_value(struct pg_params *p, int k, const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_INTEGER:
		format_integer(json_integer_value(v), p->num[k]);
		p->values[k] = p->num[k];
		return 0;
	case JSON_REAL:
		format_real(json_real_value(v), p->num[k], sizeof(p->num[k]));
		p->values[k] = p->num[k];
		return 0;
	case JSON_TRUE:
	case JSON_FALSE:
		p->values[k] = json_is_true(v) ? "t" : "f";
		return 0;
	case JSON_NULL:
		p->values[k] = NULL;
		return 0;
	case JSON_STRING:
		p->values[k] = json_string_value(v);
		return 0;
	default:
		p->owned[k] = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		p->values[k] = p->owned[k];
		return p->owned[k] ? 0 : -1;
	}
}

/* Signature and types always; the values' text only when with_values. */
static int params_build(const struct pg_stmt *st, struct pg_params *p, int with_values)
{
	size_t n = (size_t)st->nparams;
	p->n = st->nparams;
	p->heap = n > ONEX_PG_PARAMS_INLINE;
	p->values = NULL;
	p->owned = NULL;
	p->num = NULL;
	if (!p->heap) {
		p->types = p->types_small;
		p->sig = p->sig_small;
		p->sig[n] = '\0';
		if (with_values) {
			p->values = p->values_small;
			p->owned = p->owned_small;
			p->num = p->num_small;
			memset(p->owned, 0, n * sizeof(*p->owned));
		}
	} else {
		p->types = calloc(n + 1, sizeof(*p->types));
		p->sig = calloc(n + 1, 1);
		if (with_values) {
			p->values = calloc(n + 1, sizeof(*p->values));
			p->owned = calloc(n + 1, sizeof(*p->owned));
			p->num = calloc(n + 1, sizeof(*p->num));
		}
	}
	if (!p->types || !p->sig || (with_values && (!p->values || !p->owned || !p->num)))
		goto oom;
	for (size_t k = 0; k < n; k++) {
		const json_t *v = json_array_get(st->params, k);
		p->sig[k] = param_sig(v, st->used[k]);
		p->types[k] = sig_type(p->sig[k]);
		if (with_values && param_value(p, (int)k, v) < 0)
			goto oom;
	}
	return 0;
oom:
	params_release(p);
	return -1;
}

/* ---- column values ------------------------------------------------------------------------ */

/* Significant digits of a plain decimal ("-0012.3400" -> 4). */
static int significant_digits(const char *s)
{
	int first = -1, last = -1, i = 0;
	for (; *s; s++) {
		if (!isdigit((unsigned char)*s))
			continue;
		if (*s != '0') {
			if (first < 0)
				first = i;
			last = i;
		}
		i++;
	}
	return first < 0 ? 0 : last - first + 1;
}

/*
 * numeric: a real when a double holds the decimal exactly enough to print
 * it back unchanged (at most DBL_DIG = 15 significant digits, in range);
 * else the decimal text, so no digit is lost. NaN and infinities: strings.
 */
static json_t *numeric_json(const char *text)
{
	char *end;
	double d = strtod(text, &end);
	if (*end || !isfinite(d) || significant_digits(text) > 15 ||
	    (d != 0 && fabs(d) < 1e-307))
		return json_string(text);
	return json_real(d);
}

static json_t *float_json(const char *text)
{
	char *end;
	double d = strtod(text, &end);
	if (*end || !isfinite(d))
		return json_string(text); /* "NaN", "Infinity", "-Infinity" */
	return json_real(d);
}

static json_t *integer_json(const char *text)
{
	char *end;
	long long v = strtoll(text, &end, 10);
	return *end ? json_string(text) : json_integer(v);
}

static json_t *bytea_json(const char *text)
{
	size_t n = 0;
	unsigned char *bytes = PQunescapeBytea((const unsigned char *)text, &n);
	json_t *v;
	if (!bytes)
		return NULL;
	v = onex_base64_json(bytes, n);
	PQfreemem(bytes);
	return v;
}

/* One value as JSON; NULL (with the request failed) when it cannot be sent. */
static json_t *column_json(struct pg_req *req, const PGresult *res, int row, int col)
{
	const char *text = PQgetvalue(res, row, col);
	size_t n = (size_t)PQgetlength(res, row, col);
	json_t *v = NULL;
	if (PQgetisnull(res, row, col))
		return json_null();
	switch (PQftype(res, col)) {
	case OID_INT2:
	case OID_INT4:
	case OID_INT8:
	case OID_OID:
		return integer_json(text);
	case OID_FLOAT4:
	case OID_FLOAT8:
		return float_json(text);
	case OID_NUMERIC:
		return numeric_json(text);
	case OID_BOOL:
		return json_boolean(text[0] == 't');
	case OID_BYTEA:
		v = bytea_json(text);
		break;
	case OID_JSON:
	case OID_JSONB:
		v = json_loadb(text, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
		break;
	default:
		break;
	}
	if (!v && !(v = json_stringn(text, n)))
		req_fail(req, ONEX_ERR_HANDLER_EXECUTION_ERROR, "22021",
			 "column \"%s\" holds text that is not valid UTF-8", PQfname(res, col));
	return v;
}

static json_t *row_json(struct pg_req *req, const PGresult *res, int row)
{
	json_t *obj = json_object();
	for (int i = 0; obj && i < PQnfields(res); i++) {
		json_t *v = column_json(req, res, row, i);
		if (!v) {
			json_decref(obj);
			return NULL;
		}
		/* Duplicate names (a.id, b.id): the last wins, as in a dict row. */
		json_object_set_new(obj, PQfname(res, i), v);
	}
	return obj;
}

/* ---- errors --------------------------------------------------------------------------------- */

typedef void (*error_map_fn)(struct pg_req *req, const PGresult *res, const char *state,
			     const char *msg);

static const char *field(const PGresult *res, int code)
{
	const char *v = PQresultErrorField(res, code);
	return v ? v : "";
}

static void map_passthrough(struct pg_req *req, const PGresult *res, const char *state,
			    const char *msg)
{
	(void)res;
	req_fail(req, ONEX_ERR_HANDLER_EXECUTION_ERROR, state, "%s", msg);
}

static void map_syntax(struct pg_req *req, const PGresult *res, const char *state,
		       const char *msg)
{
	if (strcmp(msg, "cannot insert multiple commands into a prepared statement") == 0)
		msg = "cannot run more than one SQL statement per call";
	map_passthrough(req, res, state, msg);
}

/* 'column "x" does not exist', 'column t.x does not exist', 'column "x" of relation ...'. */
static void map_undefined_column(struct pg_req *req, const PGresult *res, const char *state,
				 const char *msg)
{
	const char *p = msg + 7, *e;
	if (strncmp(msg, "column ", 7) != 0) {
		map_passthrough(req, res, state, msg);
		return;
	}
	if (*p == '"' && (e = strchr(p + 1, '"')))
		p++;
	else if (!(e = strstr(p, " does not exist")))
		e = p + strcspn(p, " ");
	req_fail(req, ONEX_ERR_HANDLER_EXECUTION_ERROR, state, "column \"%.*s\" does not exist",
		 (int)(e - p), p);
}

/* 'function nope(integer) does not exist' -> 'function nope does not exist'. */
static void map_undefined_function(struct pg_req *req, const PGresult *res,
				   const char *state, const char *msg)
{
	const char *paren = strchr(msg, '(');
	if (strncmp(msg, "function ", 9) != 0 || !paren || !strstr(paren, ") does not exist")) {
		map_passthrough(req, res, state, msg);
		return;
	}
	req_fail(req, ONEX_ERR_HANDLER_EXECUTION_ERROR, state, "function %.*s does not exist",
		 (int)(paren - msg - 9), msg + 9);
}

static void map_datatype(struct pg_req *req, const PGresult *res, const char *state,
			 const char *msg)
{
	(void)res, (void)msg;
	req_fail(req, ONEX_ERR_HANDLER_EXECUTION_ERROR, state, "datatype mismatch");
}

/* Columns from DETAIL "Key (a, b)=(...) already exists." - never the values. */
static void map_unique(struct pg_req *req, const PGresult *res, const char *state,
		       const char *msg)
{
	const char *table = field(res, PG_DIAG_TABLE_NAME), *detail = field(res, PG_DIAG_MESSAGE_DETAIL);
	const char *cols = strncmp(detail, "Key (", 5) == 0 ? detail + 5 : NULL;
	const char *end = cols ? strstr(cols, ")=(") : NULL;
	char on[512] = "";
	size_t n = 0;
	(void)msg;
	while (end && cols < end && n < sizeof(on) - 1) {
		const char *comma = memchr(cols, ',', (size_t)(end - cols));
		const char *stop = comma ? comma : end;
		int w = snprintf(on + n, sizeof(on) - n, "%s%s%s%.*s", n ? ", " : "", table,
				 *table ? "." : "", (int)(stop - cols), cols);
		n = w > 0 ? n + (size_t)w : n;
		n = n < sizeof(on) ? n : sizeof(on) - 1;
		cols = comma ? comma + 1 + (comma[1] == ' ') : end;
	}
	if (!end)
		snprintf(on, sizeof(on), "%s", field(res, PG_DIAG_CONSTRAINT_NAME));
	req_fail(req, ONEX_ERR_HANDLER_EXECUTION_ERROR, state,
		 "duplicate key value violates unique constraint on %s", on);
}

static void map_foreign_key(struct pg_req *req, const PGresult *res, const char *state,
			    const char *msg)
{
	(void)res, (void)msg;
	req_fail(req, ONEX_ERR_HANDLER_EXECUTION_ERROR, state,
		 "insert or update violates foreign key constraint");
}

static void map_not_null(struct pg_req *req, const PGresult *res, const char *state,
			 const char *msg)
{
	const char *table = field(res, PG_DIAG_TABLE_NAME), *col = field(res, PG_DIAG_COLUMN_NAME);
	if (!*table || !*col) {
		map_passthrough(req, res, state, msg);
		return;
	}
	req_fail(req, ONEX_ERR_HANDLER_EXECUTION_ERROR, state,
		 "null value in column %s.%s violates not-null constraint", table, col);
}

/* PostgreSQL names unnamed checks <table>_check[N] or <table>_<col>_check[N]. */
static int generated_check_name(const char *con, const char *table)
{
	size_t t = strlen(table), n = strlen(con);
	if (!t || n <= t || strncmp(con, table, t) != 0 || con[t] != '_')
		return 0;
	while (n > t && isdigit((unsigned char)con[n - 1]))
		n--;
	return n >= t + 6 && strncmp(con + n - 6, "_check", 6) == 0;
}

/*
 * The simulation names a check by its expression as written, or by its
 * name when it has one. PostgreSQL gives only the name, so a generated one
 * is replaced by the expression, read back after the statement (PH_LOOKUP).
 */
static void map_check(struct pg_req *req, const PGresult *res, const char *state,
		      const char *msg)
{
	const char *con = field(res, PG_DIAG_CONSTRAINT_NAME), *table = field(res, PG_DIAG_TABLE_NAME);
	(void)msg;
	req_fail(req, ONEX_ERR_HANDLER_EXECUTION_ERROR, state,
		 "new row violates check constraint %s", con);
	if (generated_check_name(con, table) && strlen(con) < sizeof(req->lookup_args[0]) &&
	    strlen(table) < sizeof(req->lookup_args[1]) &&
	    strlen(field(res, PG_DIAG_SCHEMA_NAME)) < sizeof(req->lookup_args[2])) {
		req->lookup = 1;
		snprintf(req->lookup_args[0], sizeof(req->lookup_args[0]), "%s", con);
		snprintf(req->lookup_args[1], sizeof(req->lookup_args[1]), "%s", table);
		snprintf(req->lookup_args[2], sizeof(req->lookup_args[2]), "%s",
			 field(res, PG_DIAG_SCHEMA_NAME));
	}
}

static void map_timeout(struct pg_req *req, const PGresult *res, const char *state,
			const char *msg)
{
	(void)res;
	req_fail(req, ONEX_ERR_TIMEOUT, state, "%s", msg);
}

/*
 * Redaction. A server message may quote the caller's values: a data
 * exception its input (`invalid input syntax for type integer: "x"`), a
 * RAISE whatever the function put in it, a DETAIL line the key
 * (`Key (email)=(x@y)`). Only the classes below, whose messages name SQL
 * text, objects and types and never a value, are passed on as written,
 * and only when the statement was the caller's own (not one run inside a
 * function: PG_DIAG_INTERNAL_QUERY) and not a RAISE or ASSERT. Every other
 * error gets a fixed text for its SQLSTATE (or class), the SQLSTATE, and
 * the names PostgreSQL reports in its own fields (table, column,
 * constraint, type), which are identifiers, never values.
 */
static const char *const verbatim_classes[] = { "0A", "25", "26", "34", "3D", "3F", "40",
						  "42", "53", "54", "55", "57", "58", NULL };

static const struct {
	const char *state, *text;
} fixed_texts[] = {
	{ "21000", "more than one row returned where one was expected" },
	{ "22001", "value too long for the column's type" },
	{ "22003", "numeric value out of range" },
	{ "22004", "null value not allowed" },
	{ "22007", "invalid datetime format" },
	{ "22008", "datetime field value out of range" },
	{ "22012", "division by zero" },
	{ "22021", "invalid byte sequence for the encoding" },
	{ "22023", "invalid parameter value" },
	{ "2202E", "array subscript out of range" },
	{ "22P02", "invalid input syntax for the value's type" },
	{ "22P05", "untranslatable character" },
	{ "23000", "integrity constraint violation" },
	{ "23001", "restrict violation" },
	{ "23502", "null value violates not-null constraint" },
	{ "23503", "insert or update violates foreign key constraint" },
	{ "23505", "duplicate key value violates unique constraint" },
	{ "23514", "new row violates check constraint" },
	{ "23P01", "conflicting key value violates exclusion constraint" },
	{ "42601", "syntax error" },
	{ "42703", "undefined column" },
	{ "42883", "undefined function" },
	{ "42P01", "undefined table" },
	{ "57014", "statement canceled" },
	{ "P0001", "raised exception" },
	{ "P0002", "query returned no rows" },
	{ "P0003", "query returned more than one row" },
	{ "P0004", "assertion failed" },
};

static const struct {
	const char *cls, *text;
} class_texts[] = {
	{ "09", "triggered action exception" },
	{ "0A", "feature not supported" },
	{ "0L", "invalid grantor" },
	{ "0P", "invalid role specification" },
	{ "0Z", "diagnostics exception" },
	{ "20", "case not found" },
	{ "21", "cardinality violation" },
	{ "22", "data exception" },
	{ "23", "integrity constraint violation" },
	{ "25", "invalid transaction state" },
	{ "26", "invalid SQL statement name" },
	{ "27", "triggered data change violation" },
	{ "2F", "SQL routine exception" },
	{ "34", "invalid cursor name" },
	{ "38", "external routine exception" },
	{ "39", "external routine invocation exception" },
	{ "3D", "invalid catalog name" },
	{ "3F", "invalid schema name" },
	{ "40", "transaction rollback" },
	{ "42", "syntax error or access rule violation" },
	{ "44", "WITH CHECK OPTION violation" },
	{ "53", "insufficient resources" },
	{ "54", "program limit exceeded" },
	{ "55", "object not in prerequisite state" },
	{ "57", "operator intervention" },
	{ "58", "system error" },
	{ "72", "snapshot failure" },
	{ "F0", "configuration file error" },
	{ "HV", "foreign data wrapper error" },
	{ "P0", "PL/pgSQL error" },
	{ "XX", "internal error" },
};

/*
 * 1 when PostgreSQL wrote the message about the caller's own statement;
 * 0 for a RAISE or ASSERT (the function's text, whatever ERRCODE it
 * claims) and for SQL a function built, perhaps from the caller's values.
 */
static int server_wrote(const PGresult *res)
{
	const char *fn = field(res, PG_DIAG_SOURCE_FUNCTION);
	return strcmp(fn, "exec_stmt_raise") != 0 && strcmp(fn, "exec_stmt_assert") != 0 &&
	       !*field(res, PG_DIAG_INTERNAL_QUERY);
}

static int verbatim_class(const char *state)
{
	for (const char *const *c = verbatim_classes; *c; c++)
		if (strncmp(state, *c, 2) == 0)
			return 1;
	return 0;
}

/* The fixed text for a SQLSTATE: its own, else its class's, else generic. */
static const char *fixed_text(const char *state)
{
	for (size_t i = 0; i < sizeof(fixed_texts) / sizeof(fixed_texts[0]); i++)
		if (strcmp(state, fixed_texts[i].state) == 0)
			return fixed_texts[i].text;
	for (size_t i = 0; i < sizeof(class_texts) / sizeof(class_texts[0]); i++)
		if (strncmp(state, class_texts[i].cls, 2) == 0)
			return class_texts[i].text;
	return "error";
}

/* " (table t, column c, ...)" from PostgreSQL's identifier fields, or "". */
static void identifiers(const PGresult *res, char *out, size_t size)
{
	static const struct {
		int code;
		const char *name;
	} fields[] = { { PG_DIAG_TABLE_NAME, "table" },
		       { PG_DIAG_COLUMN_NAME, "column" },
		       { PG_DIAG_CONSTRAINT_NAME, "constraint" },
		       { PG_DIAG_DATATYPE_NAME, "type" } };
	size_t n = 0;
	out[0] = '\0';
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]) && n < size; i++) {
		const char *v = field(res, fields[i].code);
		if (!*v)
			continue;
		int w = snprintf(out + n, size - n, "%s%s %s", n ? ", " : " (", fields[i].name, v);
		n = w > 0 ? n + (size_t)w : n;
	}
	if (n && n + 1 < size)
		snprintf(out + n, size - n, ")");
}

/* A fixed text, the SQLSTATE and the identifiers: never the server's message. */
static void map_fixed(struct pg_req *req, const PGresult *res, const char *state)
{
	char names[256];
	identifiers(res, names, sizeof(names));
	req_fail(req, ONEX_ERR_HANDLER_EXECUTION_ERROR, state, "database error: %s%s",
		 fixed_text(state), names);
}

static void map_other(struct pg_req *req, const PGresult *res, const char *state,
		      const char *msg)
{
	if (strcmp(state, "0A000") == 0 &&
	    strncmp(msg, "cached plan must not change result type", 39) == 0)
		req->plan_changed = 1;
	if (verbatim_class(state))
		req_fail(req, ONEX_ERR_HANDLER_EXECUTION_ERROR, state, "database error: %s", msg);
	else
		map_fixed(req, res, state);
}

/* One table: SQLSTATE -> the simulation's message for that class. */
static const struct {
	const char *sqlstate;
	error_map_fn map;
} error_classes[] = {
	{ "42601", map_syntax },	     { "42P01", map_passthrough },
	{ "42703", map_undefined_column },   { "42883", map_undefined_function },
	{ "42702", map_passthrough },	     { "42P07", map_passthrough },
	{ "42804", map_datatype },	     { "23505", map_unique },
	{ "23503", map_foreign_key },	     { "23502", map_not_null },
	{ "23514", map_check },		     { "57014", map_timeout },
};

static int is_connection_loss(const char *state)
{
	return strncmp(state, "08", 2) == 0 || strcmp(state, "57P01") == 0 ||
	       strcmp(state, "57P02") == 0 || strcmp(state, "57P03") == 0;
}

static void map_error(struct pg_req *req, PGconn *pg, const PGresult *res)
{
	const char *state = field(res, PG_DIAG_SQLSTATE), *msg = field(res, PG_DIAG_MESSAGE_PRIMARY);
	char first[256];
	if (PQstatus(pg) == CONNECTION_BAD || is_connection_loss(state)) {
		req_fail(req, ONEX_ERR_HANDLER_EXECUTION_ERROR, "08006", CONNECTION_LOST);
		return;
	}
	if (!*state) { /* made by libpq itself: no SQLSTATE, one line of text */
		snprintf(first, sizeof(first), "%s", PQresultErrorMessage(res));
		first[strcspn(first, "\n")] = '\0';
		req_fail(req, ONEX_ERR_HANDLER_EXECUTION_ERROR, "XX000", "database error: %s", first);
		return;
	}
	if (!server_wrote(res)) {
		map_fixed(req, res, state);
		return;
	}
	for (size_t i = 0; i < sizeof(error_classes) / sizeof(error_classes[0]); i++) {
		if (strcmp(state, error_classes[i].sqlstate) == 0) {
			error_classes[i].map(req, res, state, msg);
			return;
		}
	}
	map_other(req, res, state, msg);
}

/* A send refused by libpq before anything left (e.g. too many parameters). */
static void map_send_refusal(struct pg_req *req, PGconn *pg)
{
	char first[256];
	snprintf(first, sizeof(first), "%s", PQerrorMessage(pg));
	first[strcspn(first, "\n")] = '\0';
	req_fail(req, ONEX_ERR_HANDLER_EXECUTION_ERROR, "XX000", "database error: %s", first);
}

/* "CHECK ((age >= 0))" [NOT VALID] -> "age >= 0". */
static void check_expression(const char *def, char *out, size_t size)
{
	size_t len = strlen(def);
	int depth = 0, outer = 1;
	for (int again = 1; again;) {
		again = 0;
		if (len > 10 && strncmp(def + len - 10, " NOT VALID", 10) == 0)
			len -= 10, again = 1;
		if (len > 11 && strncmp(def + len - 11, " NO INHERIT", 11) == 0)
			len -= 11, again = 1;
	}
	if (len >= 8 && strncmp(def, "CHECK (", 7) == 0 && def[len - 1] == ')')
		def += 7, len -= 8;
	/* One more pair when it encloses the whole expression. */
	for (size_t i = 0; i < len && len >= 2 && def[0] == '(' && def[len - 1] == ')'; i++) {
		if (def[i] == '\'') {
			const char *q = skip_literal(def + i, def + len, 0);
			i = (size_t)(q - def) - 1;
			continue;
		}
		depth += def[i] == '(';
		depth -= def[i] == ')';
		if (depth == 0 && i < len - 1)
			outer = 0;
	}
	if (len >= 2 && def[0] == '(' && def[len - 1] == ')' && outer)
		def++, len -= 2;
	snprintf(out, size, "%.*s", (int)len, def);
}

/* ---- requests ---------------------------------------------------------------------------- */

/* snprintf(out, size, "%s", id ? id : "") without the format machinery. */
static void copy_id(char *out, size_t size, const char *id)
{
	size_t n = id ? strnlen(id, size - 1) : 0;
	memcpy(out, id ? id : "", n);
	out[n] = '\0';
}

static struct pg_req *req_new(struct pg_db *self, const struct onex_envelope *env,
			      onex_handler_done_cb done, void *done_arg)
{
	/*
	 * A request is ~3.4 KiB, above malloc's per-thread cache: a fresh one
	 * per call cost a malloc_consolidate() each time. Reuse a freed one.
	 */
	struct pg_req *req = self->spare;
	if (req) {
		self->spare = req->queue_next;
		self->n_spare--;
	} else if (!(req = malloc(sizeof(*req)))) {
		ONEX_BUG("libpq db: out of memory");
	}
	/* The small fields zeroed; the result's text buffers only emptied. */
	memset(req, 0, offsetof(struct pg_req, result));
	req->result.ok = 0;
	req->result.payload = req->result.error_extra = NULL;
	onex_error_clear(&req->result.error);
	req->self = self;
	req->done = done;
	req->done_arg = done_arg;
	req->failed_stmt = -1;
	req->payload = json_incref((json_t *)env->payload);
	copy_id(req->correlation_id, sizeof(req->correlation_id), env->correlation_id);
	copy_id(req->envelope_id, sizeof(req->envelope_id), env->envelope_id);
	req->next = self->all;
	if (req->next)
		req->next->prev = req;
	self->all = req;
	return req;
}

static void req_free(struct pg_req *req)
{
	struct pg_db *self = req->self;
	if (req->prev)
		req->prev->next = req->next;
	else
		self->all = req->next;
	if (req->next)
		req->next->prev = req->prev;
	for (size_t i = 0; i < req->n_stmts; i++)
		if (req->stmts[i].used != req->stmts[i].used_small)
			free(req->stmts[i].used);
	if (req->stmts != &req->stmt_one)
		free(req->stmts);
	free(req->key);
	json_decref(req->payload);
	json_decref(req->results);
	json_decref(req->rows);
	onex_handler_result_release(&req->result);
	if (self->n_spare < ONEX_PG_REQUESTS_SPARE && !self->shut) {
		req->queue_next = self->spare;
		self->spare = req;
		self->n_spare++;
	} else {
		free(req);
	}
}

static void spare_free(struct pg_db *self)
{
	while (self->spare) {
		struct pg_req *req = self->spare;
		self->spare = req->queue_next;
		free(req);
	}
	self->n_spare = 0;
}

static const char *req_corr(const struct pg_req *req)
{
	return req->correlation_id[0] ? req->correlation_id : NULL;
}

static void req_deliver(void *arg)
{
	struct pg_req *req = arg;
	req->scheduled = 0;
	req->done(req->done_arg, &req->result); /* takes payload and error_extra */
	req->result.payload = NULL;
	req->result.error_extra = NULL;
	req_free(req);
}

/* Finalise the result and hand it to the loop for delivery. */
static void req_finish(struct pg_req *req)
{
	struct onex_error err;
	req->conn = NULL;
	req->phase = PH_DONE;
	if (req->failed && req->op == OP_TRANSACTION && req->failed_stmt >= 0)
		transaction_failed(&req->result, (size_t)req->failed_stmt);
	onex_error_clear(&err);
	/* Requests alive are bounded by queue_max + pool_size, far below the timer bound. */
	if (onex_loop_timer_add(req->self->base.env.loop, 0, req_deliver, req, &req->timer_id,
				&err) < 0)
		ONEX_BUG("libpq db: cannot schedule a completion: %s", err.text);
	req->scheduled = 1;
}

static void queue_push(struct pg_db *self, struct pg_req *req)
{
	req->queue_next = NULL;
	if (self->queue_tail)
		self->queue_tail->queue_next = req;
	else
		self->queue_head = req;
	self->queue_tail = req;
	self->queued++;
}

static struct pg_req *queue_pop(struct pg_db *self)
{
	struct pg_req *req = self->queue_head;
	if (req) {
		self->queue_head = req->queue_next;
		if (!self->queue_head)
			self->queue_tail = NULL;
		self->queued--;
	}
	return req;
}

static void queue_fail_all(struct pg_db *self, const char *message)
{
	struct pg_req *req;
	while ((req = queue_pop(self))) {
		req_fail(req, ONEX_ERR_HANDLER_EXECUTION_ERROR, NULL, "%s", message);
		req_finish(req);
	}
}

/* ---- the statement cache (per connection) -------------------------------------------------- */

/* The entry whose key is the statement's SQL, '\x1f', its parameters' signature. */
static struct cached_stmt *cache_find(struct pg_conn *c, const struct pg_req *req,
				      const struct pg_stmt *st, const char *sig, size_t n)
{
	for (unsigned i = 0; i < c->cached; i++) {
		struct cached_stmt *e = &c->cache[i];
		if (e->hash == req->key_hash && e->key_len == req->key_len &&
		    memcmp(e->key, st->sql, st->len) == 0 && e->key[st->len] == '\x1f' &&
		    memcmp(e->key + st->len + 1, sig, n) == 0)
			return e;
	}
	return NULL;
}

static void cache_add(struct pg_conn *c, struct pg_req *req)
{
	struct cached_stmt *e;
	if (c->cached == ONEX_PG_STATEMENTS_CACHED_MAX || !req->key)
		return;
	e = &c->cache[c->cached++];
	e->hash = req->key_hash;
	e->key = req->key; /* moves */
	e->key_len = req->key_len;
	snprintf(e->name, sizeof(e->name), "%s", req->stmt_name);
	req->key = NULL;
}

/* Forget one entry (its server-side statement stays until DEALLOCATE ALL). */
static void cache_forget(struct pg_conn *c, const char *name)
{
	for (unsigned i = 0; i < c->cached; i++) {
		if (strcmp(c->cache[i].name, name) == 0) {
			free(c->cache[i].key);
			c->cache[i] = c->cache[--c->cached];
			return;
		}
	}
}

static void cache_clear(struct pg_conn *c)
{
	for (unsigned i = 0; i < c->cached; i++)
		free(c->cache[i].key);
	c->cached = 0;
}

/* ---- sending ------------------------------------------------------------------------------- */

static void conn_on_fd(void *arg, int fd, unsigned events);

static int conn_watch(struct pg_conn *c, unsigned events)
{
	struct onex_error err;
	if (c->watched == events)
		return 0;
	onex_error_clear(&err);
	if (onex_loop_fd_watch(c->self->base.env.loop, c->fd, events, conn_on_fd, c, &err) < 0)
		return -1;
	c->watched = events;
	return 0;
}

/* Flush queued output; watch for writability while some is left. */
static int conn_flush(struct pg_conn *c)
{
	int rc = PQflush(c->pg);
	if (rc < 0) {
		conn_broken(c, "write failed");
		return -1;
	}
	c->flushing = rc == 1;
	if (conn_watch(c, ONEX_LOOP_READABLE | (c->flushing ? ONEX_LOOP_WRITABLE : 0u)) < 0) {
		conn_broken(c, "cannot watch the socket");
		return -1;
	}
	return 0;
}

/* After a PQsend*(): on its way, or refused (request failed, next step taken). */
static void conn_sent(struct pg_conn *c, int ok, enum phase phase, int single_row)
{
	c->req->phase = phase;
	if (!ok) {
		if (PQstatus(c->pg) == CONNECTION_BAD) {
			conn_broken(c, "send failed");
			return;
		}
		map_send_refusal(c->req, c->pg);
		req_next(c);
		return;
	}
	if (single_row)
		PQsetSingleRowMode(c->pg); /* rows arrive one by one: the bound holds */
	conn_flush(c);
}

static void send_simple(struct pg_conn *c, const char *sql, enum phase phase)
{
	conn_sent(c, PQsendQuery(c->pg, sql), phase, 0);
}

static void send_prepare(struct pg_conn *c)
{
	struct pg_req *req = c->req;
	const struct pg_stmt *st = &req->stmts[req->i];
	struct pg_params p;
	int ok;
	if (params_build(st, &p, 0) < 0) {
		req_fail(req, ONEX_ERR_HANDLER_EXECUTION_ERROR, NULL, "out of memory");
		req_next(c);
		return;
	}
	snprintf(req->stmt_name, sizeof(req->stmt_name), "onex_%llu",
		 (unsigned long long)++c->stmt_seq);
	ok = PQsendPrepare(c->pg, req->stmt_name, st->sql, p.n, p.types);
	params_release(&p);
	conn_sent(c, ok, PH_PREPARE, 0);
}

/* Run the current statement: the prepared one (stmt_name) or unnamed. */
static void send_execute(struct pg_conn *c, int named)
{
	struct pg_req *req = c->req;
	const struct pg_stmt *st = &req->stmts[req->i];
	struct pg_params p;
	int ok;
	if (params_build(st, &p, 1) < 0) {
		req_fail(req, ONEX_ERR_HANDLER_EXECUTION_ERROR, NULL, "out of memory");
		req_next(c);
		return;
	}
	if (named)
		ok = PQsendQueryPrepared(c->pg, req->stmt_name, p.n, p.values, NULL, NULL, 0);
	else
		ok = PQsendQueryParams(c->pg, st->sql, p.n, p.types, p.values, NULL, NULL, 0);
	params_release(&p);
	conn_sent(c, ok, PH_EXECUTE, 1);
}

static void send_lookup(struct pg_conn *c)
{
	static const char sql[] =
		"SELECT pg_catalog.pg_get_constraintdef(c.oid) FROM pg_catalog.pg_constraint c"
		" JOIN pg_catalog.pg_class t ON t.oid = c.conrelid"
		" JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace"
		" WHERE c.contype = 'c' AND c.conname = $1 AND t.relname = $2 AND n.nspname = $3";
	const char *values[3] = { c->req->lookup_args[0], c->req->lookup_args[1],
				  c->req->lookup_args[2] };
	conn_sent(c, PQsendQueryParams(c->pg, sql, 3, NULL, values, NULL, NULL, 0), PH_LOOKUP, 0);
}

/*
 * The statement's parameter signature (wire types, one letter each) into
 * sig, and the hash and length of its cache key: SQL, '\x1f', signature.
 */
static void statement_sig(struct pg_req *req, const struct pg_stmt *st, char *sig)
{
	size_t n = (size_t)st->nparams;
	uint64_t h = st->sql_hash;
	for (size_t k = 0; k < n; k++)
		sig[k] = param_sig(json_array_get(st->params, k), st->used[k]);
	h = fnv1a_more(h, "\x1f", 1);
	req->key_hash = fnv1a_more(h, sig, n);
	req->key_len = st->len + 1 + n;
}

/* The key itself, for cache_add() once the statement is prepared. */
static int statement_key(struct pg_req *req, const struct pg_stmt *st, const char *sig)
{
	free(req->key);
	if (!(req->key = malloc(req->key_len)))
		return -1;
	memcpy(req->key, st->sql, st->len);
	req->key[st->len] = '\x1f';
	memcpy(req->key + st->len + 1, sig, req->key_len - st->len - 1);
	return 0;
}

static void start_statement(struct pg_conn *c, size_t i)
{
	struct pg_req *req = c->req;
	const struct pg_stmt *st = &req->stmts[i];
	const struct cached_stmt *e;
	req->i = i;
	req->row_count = req->rows_seen = 0;
	json_decref(req->rows);
	req->rows = req->op == OP_EXECUTE ? NULL : json_array();
	char sig_small[ONEX_PG_PARAMS_INLINE];
	char *sig = sig_small;
	if (!st->cacheable) {
		send_execute(c, 0);
		return;
	}
	if ((size_t)st->nparams > sizeof(sig_small) && !(sig = malloc((size_t)st->nparams))) {
		req_fail(req, ONEX_ERR_HANDLER_EXECUTION_ERROR, NULL, "out of memory");
		req_next(c);
		return;
	}
	statement_sig(req, st, sig);
	e = cache_find(c, req, st, sig, (size_t)st->nparams);
	if (!e && statement_key(req, st, sig) < 0) {
		if (sig != sig_small)
			free(sig);
		req_fail(req, ONEX_ERR_HANDLER_EXECUTION_ERROR, NULL, "out of memory");
		req_next(c);
		return;
	}
	if (sig != sig_small)
		free(sig);
	if (e) {
		memcpy(req->stmt_name, e->name, sizeof(req->stmt_name)); /* both 32, terminated */
		send_execute(c, 1);
	} else if (c->cached == ONEX_PG_STATEMENTS_CACHED_MAX) {
		send_simple(c, "DEALLOCATE ALL", PH_DEALLOCATE);
	} else {
		send_prepare(c);
	}
}

/* ---- results ------------------------------------------------------------------------------- */

/* The command tag's last number: "INSERT 0 1" -> 1, "UPDATE 5" -> 5, "CREATE TABLE" -> 0. */
static json_int_t tag_number(const char *tag)
{
	const char *last = strrchr(tag, ' ');
	const char *p = last ? last + 1 : tag;
	if (!*p || strspn(p, "0123456789") != strlen(p))
		return 0;
	return (json_int_t)strtoll(p, NULL, 10);
}

static void add_rows(struct pg_conn *c, const PGresult *res)
{
	struct pg_req *req = c->req;
	for (int row = 0; row < PQntuples(res) && !req->failed; row++) {
		json_t *obj;
		if (++req->rows_seen > ONEX_PG_ROWS_MAX) {
			req_fail(req, ONEX_ERR_HANDLER_EXECUTION_ERROR, "54000",
				 "result has more than %u rows", ONEX_PG_ROWS_MAX);
			c->abandon = 1; /* the rest is not wanted: replace the connection */
			return;
		}
		if (!req->rows)
			continue;
		if (!(obj = row_json(req, res, row)))
			return;
		json_array_append_new(req->rows, obj);
	}
}

static void on_lookup_result(struct pg_req *req, const PGresult *res)
{
	char expr[ONEX_ERROR_TEXT_BYTES / 2];
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
		return; /* keep the name */
	check_expression(PQgetvalue(res, 0, 0), expr, sizeof(expr));
	snprintf(req->result.error.text, sizeof(req->result.error.text),
		 "new row violates check constraint %s", expr);
}

static void on_result(struct pg_conn *c, const PGresult *res)
{
	struct pg_req *req = c->req;
	switch (PQresultStatus(res)) {
	case PGRES_SINGLE_TUPLE:
	case PGRES_TUPLES_OK:
		if (req->phase == PH_LOOKUP) {
			on_lookup_result(req, res);
		} else if (req->phase == PH_EXECUTE && !req->failed) {
			add_rows(c, res);
			req->row_count = req->rows_seen;
		}
		break;
	case PGRES_COMMAND_OK:
		if (req->phase == PH_EXECUTE)
			req->row_count = tag_number(PQcmdStatus((PGresult *)res));
		break;
	case PGRES_EMPTY_QUERY:
		req_fail(req, ONEX_ERR_ENVELOPE_VALIDATION_ERROR, NULL,
			 "payload.sql holds no statement");
		break;
	case PGRES_COPY_IN:
	case PGRES_COPY_OUT:
	case PGRES_COPY_BOTH:
		req_fail(req, ONEX_ERR_HANDLER_EXECUTION_ERROR, "0A000",
			 "COPY FROM STDIN / TO STDOUT is not supported");
		c->abandon = 1;
		break;
	case PGRES_FATAL_ERROR:
	case PGRES_NONFATAL_ERROR:
	case PGRES_BAD_RESPONSE:
		if (req->phase == PH_LOOKUP)
			break; /* keep the constraint's name */
		map_error(req, c->pg, res);
		break;
	default:
		break;
	}
}

/*
 * onex_handler_result_ok() without its memset of the ~3 KiB result: a
 * request that has not failed still holds the result req_new() (or
 * req_unfail()) left, no error and nothing to release.
 */
static void result_ok(struct pg_req *req, json_t *payload)
{
	if (req->result.payload || req->result.error_extra ||
	    onex_error_is_set(&req->result.error)) {
		onex_handler_result_ok(&req->result, payload); /* as before */
		return;
	}
	req->result.ok = 1;
	req->result.payload = payload;
}

/* The request on c is over and c is healthy: free c, deliver, run the queue. */
static void req_complete(struct pg_conn *c)
{
	struct pg_req *req = c->req;
	c->req = NULL;
	if (PQstatus(c->pg) == CONNECTION_BAD)
		conn_broken(c, "was lost");
	else if (PQtransactionStatus(c->pg) != PQTRANS_IDLE)
		conn_broken(c, "was left inside a transaction"); /* never lend it out so */
	else
		c->state = CONN_IDLE;
	req_finish(req);
	pool_dispatch(c->self);
}

/* Roll back when a transaction is open, read a check's expression, finish. */
static void req_failure_path(struct pg_conn *c)
{
	struct pg_req *req = c->req;
	PGTransactionStatusType ts = PQtransactionStatus(c->pg);
	if (req->plan_changed && !req->retried && req->phase == PH_EXECUTE && ts == PQTRANS_IDLE) {
		/* A table changed under a cached plan: prepare again, once. */
		req->retried = 1;
		req->plan_changed = 0;
		req->failed_stmt = -1;
		cache_forget(c, req->stmt_name);
		req_unfail(req);
		start_statement(c, req->i);
		return;
	}
	if (PQstatus(c->pg) == CONNECTION_BAD) {
		req_complete(c);
	} else if (req->phase != PH_ROLLBACK && (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR)) {
		send_simple(c, "ROLLBACK", PH_ROLLBACK);
	} else if (req->lookup && req->phase != PH_LOOKUP) {
		send_lookup(c);
	} else {
		req_complete(c);
	}
}

static void statement_done(struct pg_conn *c)
{
	struct pg_req *req = c->req;
	json_t *rows = req->rows ? req->rows : json_array();
	json_t *one = json_object();
	req->rows = NULL;
	if (!one) {
		json_decref(rows); /* as json_pack: NULL when out of memory */
	} else if (json_object_set_new_nocheck(one, "rows", rows) < 0 ||
		   json_object_set_new_nocheck(one, "row_count", json_integer(req->row_count)) <
			   0) {
		json_decref(one);
		one = NULL;
	}
	if (req->op != OP_TRANSACTION) {
		result_ok(req, one);
		req_complete(c);
		return;
	}
	if (!req->results)
		req->results = json_array();
	req->total += req->row_count;
	json_array_append_new(req->results, one);
	if (req->i + 1 < req->n_stmts)
		start_statement(c, req->i + 1);
	else
		send_simple(c, "COMMIT", PH_COMMIT);
}

/* The query on c is complete (PQgetResult gave NULL): take the next step. */
static void req_next(struct pg_conn *c)
{
	struct pg_req *req = c->req;
	if (req->failed) {
		req_failure_path(c);
		return;
	}
	switch (req->phase) {
	case PH_BEGIN:
		start_statement(c, 0);
		break;
	case PH_DEALLOCATE:
		cache_clear(c);
		send_prepare(c);
		break;
	case PH_PREPARE:
		cache_add(c, req);
		send_execute(c, 1);
		break;
	case PH_EXECUTE:
		statement_done(c);
		break;
	case PH_COMMIT:
		result_ok(req,
				       json_pack("{s:O,s:I}", "results", req->results, "row_count",
						 req->total));
		req_complete(c);
		break;
	default:
		req_complete(c);
		break;
	}
}

/* Read every result that is complete; stop when the server owes more. */
static void conn_drain(struct pg_conn *c)
{
	while (c->req && c->pg && !PQisBusy(c->pg)) {
		PGresult *res = PQgetResult(c->pg);
		if (!res) {
			req_next(c);
			continue;
		}
		on_result(c, res);
		PQclear(res);
		if (c->abandon) {
			conn_broken(c, "replaced: the rest of a result was not wanted");
			return;
		}
	}
}

/* ---- connections ---------------------------------------------------------------------------- */

static void conn_unwatch(struct pg_conn *c)
{
	/*
	 * libpq may have closed the socket already; the number is then free
	 * and nothing else can have taken it, since we are still in the same
	 * callback, so removing the watch is safe either way.
	 */
	if (c->watched)
		onex_loop_fd_unwatch(c->self->base.env.loop, c->fd);
	c->watched = 0;
	c->fd = -1;
}

/* Watch the current socket afresh (connecting may have replaced it). */
static int conn_rewatch(struct pg_conn *c, unsigned events)
{
	conn_unwatch(c);
	if ((c->fd = PQsocket(c->pg)) < 0)
		return -1;
	return conn_watch(c, events);
}

static void conn_timer_cancel(struct pg_conn *c)
{
	if (c->timer_armed)
		onex_loop_timer_cancel(c->self->base.env.loop, c->timer_id);
	c->timer_armed = 0;
}

static void conn_timer_fire(void *arg);

static void conn_timer_set(struct pg_conn *c, uint64_t ms)
{
	struct onex_error err;
	conn_timer_cancel(c);
	onex_error_clear(&err);
	if (onex_loop_timer_add(c->self->base.env.loop, ms * NS_PER_MS, conn_timer_fire, c,
				&c->timer_id, &err) < 0)
		ONEX_BUG("libpq db: cannot schedule a reconnect: %s", err.text);
	c->timer_armed = 1;
}

/* Close c whatever its state; its request (if any) is the caller's. */
static void conn_close(struct pg_conn *c)
{
	conn_unwatch(c);
	conn_timer_cancel(c);
	if (c->state == CONN_IDLE || c->state == CONN_BUSY)
		c->self->up--;
	if (c->pg)
		PQfinish(c->pg);
	c->pg = NULL;
	c->state = CONN_DOWN;
	c->flushing = c->abandon = c->fatal = 0;
	cache_clear(c);
}

/* libpq's reason, without "connection to server at ... failed: " (the address). */
static void connect_reason(const char *msg, char *out, size_t size)
{
	const char *p = msg ? msg : "", *f = strstr(p, "failed: ");
	if (f)
		p = f + 8;
	snprintf(out, size, "%s", p);
	out[strcspn(out, "\n")] = '\0';
}

static void conn_connect_failed(struct pg_conn *c, const char *msg)
{
	struct pg_db *self = c->self;
	char reason[256];
	uint64_t delay = c->backoff_ms;
	connect_reason(msg, reason, sizeof(reason)); /* before PQfinish frees msg */
	conn_close(c);
	c->backoff_ms = delay * 2 < self->reconnect_max_ms ? delay * 2 : self->reconnect_max_ms;
	if (self->shut)
		return;
	conn_timer_set(c, delay);
	onex_log(self->base.env.log, ONEX_LOG_DEBUG, NULL, NULL,
		 "db: connection %u: cannot connect (%s); next attempt in %llu ms", c->index,
		 reason, (unsigned long long)delay);
	if (self->up == 0) {
		if (!self->degraded)
			onex_log(self->base.env.log, ONEX_LOG_WARN, NULL, NULL,
				 "db: cannot connect to PostgreSQL (%s): handler 'db' is degraded; "
				 "retrying with backoff up to %llu ms",
				 reason, (unsigned long long)self->reconnect_max_ms);
		self->degraded = 1;
		queue_fail_all(self, NOT_AVAILABLE);
	}
}

static void conn_ready(struct pg_conn *c)
{
	struct pg_db *self = c->self;
	conn_timer_cancel(c);
	if (PQsetnonblocking(c->pg, 1) != 0 || conn_rewatch(c, ONEX_LOOP_READABLE) < 0) {
		conn_connect_failed(c, "cannot make the connection non-blocking");
		return;
	}
	c->state = CONN_IDLE;
	c->backoff_ms = self->reconnect_min_ms;
	if (self->up++ == 0)
		onex_log(self->base.env.log, ONEX_LOG_INFO, NULL, NULL,
			 self->degraded ? "db: connected to PostgreSQL: handler 'db' is available again"
					: "db: connected to PostgreSQL");
	self->degraded = 0;
	pool_dispatch(self);
}

static void conn_connect_poll(struct pg_conn *c)
{
	switch (PQconnectPoll(c->pg)) {
	case PGRES_POLLING_READING:
		if (conn_rewatch(c, ONEX_LOOP_READABLE) < 0)
			conn_connect_failed(c, "cannot watch the socket");
		break;
	case PGRES_POLLING_WRITING:
		if (conn_rewatch(c, ONEX_LOOP_WRITABLE) < 0)
			conn_connect_failed(c, "cannot watch the socket");
		break;
	case PGRES_POLLING_OK:
		conn_ready(c);
		break;
	default:
		conn_connect_failed(c, PQerrorMessage(c->pg));
		break;
	}
}

static void conn_notice(void *arg, const PGresult *res)
{
	struct pg_conn *c = arg;
	/*
	 * Server notices go to the log, not to libpq's default (stderr). An
	 * error that arrives while idle comes here too: a FATAL one ("terminating
	 * connection due to administrator command") means the session is over
	 * even if the socket's end has not been read yet.
	 */
	if (strcmp(field(res, PG_DIAG_SEVERITY_NONLOCALIZED), "FATAL") == 0)
		c->fatal = 1;
	onex_log(c->self->base.env.log, ONEX_LOG_DEBUG, c->req ? req_corr(c->req) : NULL, NULL,
		 "db: connection %u: server %s %s: %s", c->index, field(res, PG_DIAG_SEVERITY),
		 field(res, PG_DIAG_SQLSTATE), field(res, PG_DIAG_MESSAGE_PRIMARY));
}

static void conn_open(struct pg_conn *c)
{
	struct pg_db *self = c->self;
	c->pg = PQconnectStartParams(self->keywords, (const char *const *)self->values,
				     self->expand_dbname);
	if (!c->pg) {
		conn_connect_failed(c, "out of memory");
		return;
	}
	if (PQstatus(c->pg) == CONNECTION_BAD) {
		conn_connect_failed(c, PQerrorMessage(c->pg));
		return;
	}
	PQsetNoticeReceiver(c->pg, conn_notice, c);
	c->state = CONN_CONNECTING;
	/* libpq ignores connect_timeout in PQconnectPoll: the loop keeps it. */
	conn_timer_set(c, self->connect_timeout_ms);
	if (conn_rewatch(c, ONEX_LOOP_WRITABLE) < 0)
		conn_connect_failed(c, "cannot watch the socket");
}

static void conn_timer_fire(void *arg)
{
	struct pg_conn *c = arg;
	c->timer_armed = 0;
	if (c->state == CONN_DOWN)
		conn_open(c);
	else if (c->state == CONN_CONNECTING)
		conn_connect_failed(c, "timed out");
}

/* An open connection broke (or is dropped on purpose): answer, reopen at once. */
static void conn_broken(struct pg_conn *c, const char *why)
{
	struct pg_db *self = c->self;
	struct pg_req *req = c->req;
	int abandoned = c->abandon;
	c->req = NULL;
	conn_close(c);
	self->reconnects++;
	onex_log(self->base.env.log, abandoned ? ONEX_LOG_DEBUG : ONEX_LOG_WARN,
		 req ? req_corr(req) : NULL, req ? req->envelope_id : NULL,
		 "db: connection %u %s; reconnecting", c->index, why);
	if (req) {
		req_fail(req, ONEX_ERR_HANDLER_EXECUTION_ERROR, "08006", CONNECTION_LOST);
		req_finish(req);
	}
	if (!self->shut)
		conn_timer_set(c, 0);
}

/*
 * Idle: parse what the server sent (notifications, a goodbye). 1 while the
 * connection is usable; else it is closed and reopening, and 0.
 */
static int conn_idle_input(struct pg_conn *c)
{
	PGnotify *n;
	while ((n = PQnotifies(c->pg))) /* parses pending input, notices included */
		PQfreemem(n);
	if (PQstatus(c->pg) == CONNECTION_BAD || c->fatal) {
		conn_broken(c, "was closed by the server");
		return 0;
	}
	return 1;
}

static void conn_on_fd(void *arg, int fd, unsigned events)
{
	struct pg_conn *c = arg;
	(void)fd;
	if (c->state == CONN_CONNECTING) {
		conn_connect_poll(c);
		return;
	}
	if (!c->pg)
		return;
	if ((events & ONEX_LOOP_READABLE) && !PQconsumeInput(c->pg)) {
		conn_broken(c, "was lost");
		return;
	}
	if (c->flushing && conn_flush(c) < 0)
		return;
	if (c->req)
		conn_drain(c);
	else
		conn_idle_input(c);
}

/* ---- the pool -------------------------------------------------------------------------------- */

/* An idle connection that is still alive (a goodbye may be unread), or NULL. */
static struct pg_conn *pool_idle(struct pg_db *self)
{
	for (unsigned i = 0; i < self->pool_size; i++) {
		struct pg_conn *c = &self->conns[i];
		if (c->state != CONN_IDLE)
			continue;
		if (!PQconsumeInput(c->pg)) {
			conn_broken(c, "was lost while idle");
			continue;
		}
		if (conn_idle_input(c))
			return c;
	}
	return NULL;
}

static void conn_start(struct pg_conn *c, struct pg_req *req)
{
	c->req = req;
	req->conn = c;
	c->state = CONN_BUSY;
	if (req->op == OP_TRANSACTION)
		send_simple(c, "BEGIN", PH_BEGIN);
	else
		start_statement(c, 0);
}

static void pool_dispatch(struct pg_db *self)
{
	if (self->dispatching || self->shut)
		return;
	self->dispatching = 1;
	while (self->queue_head) {
		struct pg_conn *c = pool_idle(self);
		if (!c)
			break;
		conn_start(c, queue_pop(self));
	}
	self->dispatching = 0;
}

/* ---- execute --------------------------------------------------------------------------------- */

/* 0 when the request should queue; -1 when it is answered already (failed). */
static int decide(struct pg_db *self, struct pg_req *req, const struct onex_envelope *env)
{
	size_t i, n = sizeof(operations) / sizeof(operations[0]);
	for (i = 0; i < n; i++)
		if (env->operation && strcmp(env->operation, operations[i].name) == 0)
			break;
	if (i == n) {
		req->failed = 1;
		onex_handler_invalid_operation(&req->result.error, ONEX_HANDLER_DB,
					       env->operation ? env->operation : "");
		return -1;
	}
	req->op = operations[i].op;
	if (self->up == 0 && self->degraded) {
		req_fail(req, ONEX_ERR_HANDLER_EXECUTION_ERROR, NULL, NOT_AVAILABLE);
		return -1;
	}
	if ((req->op == OP_TRANSACTION ? prepare_transaction(req, env)
				       : prepare_single(req, env)) < 0)
		return -1;
	if (self->queued >= self->queue_max) {
		req_fail(req, ONEX_ERR_HANDLER_EXECUTION_ERROR, NULL,
			 "db request queue is full (limit %u)", self->queue_max);
		return -1;
	}
	return 0;
}

static void db_execute(struct onex_handler *h, const struct onex_envelope *env,
		       onex_handler_done_cb done, void *done_arg)
{
	struct pg_db *self = db_self(h);
	struct pg_req *req = req_new(self, env, done, done_arg);
	self->requests++;
	if (decide(self, req, env) < 0) {
		req_finish(req);
		return;
	}
	req->phase = PH_QUEUED;
	queue_push(self, req);
	pool_dispatch(self);
}

/* ---- configuration --------------------------------------------------------------------------- */

static int config_error(struct onex_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int config_error(struct onex_error *err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	onex_error_vset(err, ONEX_ERR_HANDLER_CONFIGURATION_ERROR, UNIT, 0, 0, fmt, ap);
	va_end(ap);
	return -1;
}

static int config_uint(const json_t *conf, const char *key, uint64_t min, uint64_t max,
		       uint64_t *out, struct onex_error *err)
{
	const json_t *v = json_object_get(conf, key);
	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < (json_int_t)min ||
	    (uint64_t)json_integer_value(v) > max)
		return config_error(err, "config.%s must be an integer from %llu to %llu", key,
				    (unsigned long long)min, (unsigned long long)max);
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

static int keyword_add(struct pg_db *self, const char *kw, const char *value,
		       struct onex_error *err)
{
	if (self->n_keywords + 1 >= KEYWORDS_MAX)
		ONEX_BUG("libpq db: too many connection keywords");
	if (!(self->values[self->n_keywords] = strdup(value)))
		return config_error(err, "out of memory");
	self->keywords[self->n_keywords++] = kw;
	return 0;
}

/*
 * A secret_ref (spec §3: { secret_ref: { source, key } }) at config.<name>,
 * resolved here as spec §10's resolver would, restricted to source "env":
 * the value of the environment variable `key`. 1 and *out set when `v` is
 * a secret_ref, 0 when it is not, -1 (SECRET_RESOLUTION_ERROR) when it
 * cannot be resolved. The value is never put in a message.
 */
static int secret_ref(const json_t *v, const char *name, const char **out,
		      struct onex_error *err)
{
	const json_t *ref = json_is_object(v) ? json_object_get(v, "secret_ref") : NULL;
	const char *source, *key;
	if (!ref)
		return 0;
	source = json_string_value(json_object_get(ref, "source"));
	key = json_string_value(json_object_get(ref, "key"));
	if (!source || !key || !*key)
		return onex_error_set(err, ONEX_ERR_SECRET_RESOLUTION_ERROR, UNIT, 0, 0,
				      "config.%s.secret_ref needs text 'source' and 'key'", name);
	if (strcmp(source, "env") != 0) {
		onex_error_set(err, ONEX_ERR_SECRET_RESOLUTION_ERROR, UNIT, 0, 0,
			       "config.%s.secret_ref: source '%s' is not supported; onex-host "
			       "resolves source 'env' only",
			       name, source);
		onex_error_hint(err, "use { secret_ref: { source: env, key: VARIABLE } } and set "
				     "VARIABLE in the host's environment");
		return -1;
	}
	/* A real unit may read the environment; the kernel never does. */
	if (!(*out = getenv(key)) || !**out) {
		onex_error_set(err, ONEX_ERR_SECRET_RESOLUTION_ERROR, UNIT, 0, 0,
			       "config.%s.secret_ref: environment variable %s is not set", name,
			       key);
		onex_error_hint(err, "set %s in the host's environment", key);
		return -1;
	}
	return 1;
}

/*
 * A connection string from config.dsn (text, or a secret_ref) or the
 * variable config.conninfo_env names.
 */
static int config_conninfo(struct pg_db *self, const json_t *conf, struct onex_error *err)
{
	const json_t *env_name = json_object_get(conf, "conninfo_env");
	const json_t *dsn = json_object_get(conf, "dsn");
	const char *text = NULL, *source = "config.dsn";
	char *parse_err = NULL;
	PQconninfoOption *opts;
	int r;
	if (env_name && dsn)
		return config_error(err, "config.conninfo_env and config.dsn exclude each other");
	if ((r = secret_ref(dsn, "dsn", &text, err)) < 0)
		return -1;
	if (r == 0 && dsn && !json_is_string(dsn))
		return config_error(err, "config.dsn must be a connection string or a secret_ref");
	if (r == 1) {
		source = "config.dsn.secret_ref";
	} else if (env_name) {
		if (!json_is_string(env_name) || !json_string_length(env_name))
			return config_error(err, "config.conninfo_env must name an environment "
						 "variable");
		text = getenv(json_string_value(env_name));
		if (!text || !*text)
			return config_error(err, "environment variable %s (config.conninfo_env) "
						 "is not set",
					    json_string_value(env_name));
		source = json_string_value(env_name);
	} else if (dsn) {
		text = json_string_value(dsn);
	}
	if (!text)
		return 0;
	if (!(opts = PQconninfoParse(text, &parse_err))) {
		PQfreemem(parse_err); /* it may quote the string, password included */
		return config_error(err, "the connection string in %s is not valid (libpq's "
					 "reason is withheld: it may quote a password)",
				    source);
	}
	for (PQconninfoOption *o = opts; o->keyword; o++)
		if (strcmp(o->keyword, "options") == 0 && o->val && *o->val &&
		    !(self->dsn_options = strdup(o->val)))
			ONEX_BUG("libpq db: out of memory");
	PQconninfoFree(opts);
	self->expand_dbname = 1; /* the first "dbname" is the whole string */
	return keyword_add(self, "dbname", text, err);
}

static int config_keywords(struct pg_db *self, const json_t *conf, struct onex_error *err)
{
	static const char *const names[] = { "host", "hostaddr", "port", "dbname", "user",
					     "sslmode", NULL };
	char buf[64];
	const json_t *password = json_object_get(conf, "password");
	const char *secret = NULL;
	int r = secret_ref(password, "password", &secret, err);
	if (r < 0)
		return -1;
	if (password && r == 0)
		return config_error(err, "config.password is not accepted as text: use "
					 "{ secret_ref: { source: env, key: VARIABLE } }, PGPASSFILE "
					 "(~/.pgpass), peer or trust authentication, or "
					 "config.conninfo_env");
	if (config_conninfo(self, conf, err) < 0)
		return -1;
	/* After the connection string: libpq lets a later keyword win. */
	if (secret && keyword_add(self, "password", secret, err) < 0)
		return -1;
	for (const char *const *k = names; *k; k++) {
		const json_t *v = json_object_get(conf, *k);
		if (!v)
			continue;
		if (json_is_integer(v) && strcmp(*k, "port") == 0) {
			snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		} else if (!json_is_string(v)) {
			return config_error(err, "config.%s must be text", *k);
		}
		if (keyword_add(self, *k, json_is_string(v) ? json_string_value(v) : buf, err) < 0)
			return -1;
	}
	return 0;
}

/* Contracts are strict (spec §3): an unknown key is an error, as in the http unit. */
static int config_check_keys(const json_t *conf, struct onex_error *err)
{
	static const char *const known[] = {
		"conninfo_env", "dsn", "password", "host", "hostaddr", "port", "dbname", "user",
		"sslmode", "pool_size", "queue_max", "connect_timeout_ms", "reconnect_min_ms",
		"reconnect_max_ms", "timeout_ms", NULL
	};
	const char *key;
	const json_t *v;
	json_object_foreach((json_t *)conf, key, v) {
		const char *const *k = known;
		while (*k && strcmp(*k, key) != 0) /* exact: keys are case-sensitive */
			k++;
		if (!*k)
			return config_error(err, "unknown key config.%s for the db handler (libpq); "
						 "valid: conninfo_env, dsn, password, host, hostaddr, port, "
						 "dbname, user, sslmode, pool_size, queue_max, "
						 "timeout_ms, connect_timeout_ms, reconnect_min_ms, "
						 "reconnect_max_ms",
					    key);
	}
	return 0;
}

static int config_limits(struct pg_db *self, const json_t *entry, const json_t *conf,
			 struct onex_error *err)
{
	uint64_t pool = ONEX_PG_POOL_SIZE_DEFAULT, queue = ONEX_PG_QUEUE_DEFAULT, stmt_ms;
	const char *base = self->dsn_options ? self->dsn_options : getenv("PGOPTIONS");
	char *opt;
	int rc;
	if (config_uint(conf, "pool_size", 1, ONEX_PG_POOL_SIZE_MAX, &pool, err) < 0 ||
	    config_uint(conf, "queue_max", 1, ONEX_PG_QUEUE_MAX, &queue, err) < 0 ||
	    config_uint(conf, "connect_timeout_ms", 1, ONEX_PG_CONFIG_MS_MAX,
			&self->connect_timeout_ms, err) < 0 ||
	    config_uint(conf, "reconnect_min_ms", 1, ONEX_PG_CONFIG_MS_MAX,
			&self->reconnect_min_ms, err) < 0 ||
	    config_uint(conf, "reconnect_max_ms", 1, ONEX_PG_CONFIG_MS_MAX,
			&self->reconnect_max_ms, err) < 0 ||
	    config_uint(conf, "timeout_ms", 1, ONEX_PG_CONFIG_MS_MAX, &stmt_ms, err) < 0)
		return -1;
	if (self->reconnect_max_ms < self->reconnect_min_ms)
		return config_error(err, "config.reconnect_max_ms must not be below "
					 "config.reconnect_min_ms");
	self->pool_size = (unsigned)pool;
	self->queue_max = (unsigned)queue;
	/*
	 * The unit's own timeout is the server's statement_timeout: the server
	 * cancels a runaway statement itself (57014 -> TIMEOUT), nothing here
	 * has to (libpq 15's PQcancel would block).
	 */
	stmt_ms = onex_handler_unit_timeout_ms(entry);
	/* Our "options" replaces the string's (and PGOPTIONS): keep theirs first. */
	if (asprintf(&opt, "%s%s-c statement_timeout=%llu", base ? base : "",
		     base && *base ? " " : "", (unsigned long long)stmt_ms) < 0)
		return config_error(err, "out of memory");
	rc = keyword_add(self, "options", opt, err);
	free(opt);
	return rc;
}

static int db_initialize(struct onex_handler *h, const json_t *config, struct onex_error *err)
{
	struct pg_db *self = db_self(h);
	const json_t *conf = json_object_get(config, "config");
	json_t *empty = NULL;
	int rc = -1;
	if (conf && !json_is_object(conf))
		return config_error(err, "db handler config must be a mapping");
	if (!conf)
		conf = empty = json_object();
	if (config_check_keys(conf, err) < 0 || config_keywords(self, conf, err) < 0 ||
	    config_limits(self, config, conf, err) < 0 ||
	    keyword_add(self, "client_encoding", "UTF8", err) < 0 ||
	    keyword_add(self, "fallback_application_name", "onex-host", err) < 0)
		goto out;
	if (!(self->conns = calloc(self->pool_size, sizeof(*self->conns)))) {
		config_error(err, "out of memory");
		goto out;
	}
	for (unsigned i = 0; i < self->pool_size; i++) {
		struct pg_conn *c = &self->conns[i];
		c->self = self;
		c->index = i;
		c->fd = -1;
		c->backoff_ms = self->reconnect_min_ms;
	}
	/* Start every connection; none is waited for (the loop finishes them). */
	for (unsigned i = 0; i < self->pool_size; i++)
		conn_open(&self->conns[i]);
	rc = 0;
out:
	json_decref(empty);
	return rc;
}

/* ---- reports and lifecycle --------------------------------------------------------------------- */

static const char *pool_status(const struct pg_db *self)
{
	if (self->shut)
		return "shutdown";
	if (self->up == self->pool_size)
		return "ok";
	if (self->up > 0)
		return "degraded";
	return self->degraded ? "unavailable" : "connecting";
}

static json_t *db_health(struct onex_handler *h)
{
	struct pg_db *self = db_self(h);
	const char *status = pool_status(self);
	unsigned busy = 0;
	for (unsigned i = 0; i < self->pool_size && self->conns; i++)
		busy += self->conns[i].state == CONN_BUSY;
	/* Never the connection string, host or user: only counts and states. */
	return json_pack("{s:s,s:s,s:s,s:s,s:b,s:b,s:b,s:I,s:I,s:I,s:I,s:I,s:I}", "handler_type",
			 "db", "backend", "postgresql", "unit", UNIT, "status", status, "healthy",
			 self->up > 0 || strcmp(status, "connecting") == 0, "degraded",
			 self->degraded || (self->up > 0 && self->up < self->pool_size),
			 "available", self->up > 0 || !self->degraded, "pool_size",
			 (json_int_t)self->pool_size, "connections_up", (json_int_t)self->up,
			 "connections_busy", (json_int_t)busy, "queued", (json_int_t)self->queued,
			 "requests", (json_int_t)self->requests, "reconnects",
			 (json_int_t)self->reconnects);
}

static json_t *db_describe(const struct onex_handler *h)
{
	const struct pg_db *self = db_self(h);
	json_t *ops = json_array();
	for (const char *const *op = onex_handler_type_operations(ONEX_HANDLER_DB); *op; op++)
		json_array_append_new(ops, json_string(*op));
	return json_pack("{s:s,s:s,s:o,s:[s],s:[s],s:{s:s,s:s},s:{s:s,s:s},s:s,s:I,s:I,s:s}",
			 "type", "db", "unit", UNIT, "operations", ops,
			 "required_payload_fields", "sql", "optional_payload_fields",
			 "parameters", "transaction_payload", "statements",
			 "list of {sql, parameters}", "results", "list of {rows, row_count}",
			 "response_shape", "rows", "list of {column: value}", "row_count",
			 "integer", "placeholders", "$1..$n", "pool_size",
			 (json_int_t)self->pool_size, "queue_max", (json_int_t)self->queue_max,
			 "version", "0.1.0");
}

/* Close every connection; requests still here are answered through the loop. */
static void db_close_all(struct pg_db *self, const char *message)
{
	self->shut = 1;
	queue_fail_all(self, message);
	for (unsigned i = 0; i < self->pool_size && self->conns; i++) {
		struct pg_conn *c = &self->conns[i];
		struct pg_req *req = c->req;
		c->req = NULL;
		conn_close(c);
		if (req) {
			req_fail(req, ONEX_ERR_HANDLER_EXECUTION_ERROR, NULL, "%s", message);
			req_finish(req);
		}
	}
}

static void db_shutdown(struct onex_handler *h)
{
	db_close_all(db_self(h), "handler 'db' was shut down");
}

static void db_free(struct onex_handler *h)
{
	struct pg_db *self = db_self(h);
	if (!self->shut)
		db_close_all(self, "handler 'db' was shut down");
	/* Results not yet delivered are dropped, their timers cancelled. */
	while (self->all) {
		struct pg_req *req = self->all;
		if (req->scheduled)
			onex_loop_timer_cancel(h->env.loop, req->timer_id);
		req_free(req);
	}
	for (size_t i = 0; i < self->n_keywords; i++)
		free(self->values[i]);
	free(self->dsn_options);
	sql_cache_clear(self);
	spare_free(self);
	free(self->conns);
	free(self);
}

static const struct onex_handler_ops pg_db_ops = {
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
	struct pg_db *self;
	if (!env || !env->loop)
		ONEX_BUG("libpq db needs a loop");
	if (!(self = calloc(1, sizeof(*self)))) {
		config_error(err, "out of memory");
		return NULL;
	}
	onex_handler_base_init(&self->base, &pg_db_ops, env);
	self->pool_size = 0; /* no connections before initialize */
	self->connect_timeout_ms = ONEX_PG_CONNECT_TIMEOUT_MS_DEFAULT;
	self->reconnect_min_ms = ONEX_PG_RECONNECT_MIN_MS_DEFAULT;
	self->reconnect_max_ms = ONEX_PG_RECONNECT_MAX_MS_DEFAULT;
	self->queue_max = ONEX_PG_QUEUE_DEFAULT;
	return &self->base;
}

const struct onex_handler_unit onex_pg_db_unit = {
	.type = ONEX_HANDLER_DB,
	.unit_name = UNIT,
	.create = db_create,
};
