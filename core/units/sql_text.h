/*
 * sql_text.h - SQL text scanning shared by the db units (the simulated
 * SQLite one and the PostgreSQL one), so both warn about and refuse the
 * same statements: comments and quotes skipped, the first keyword, the
 * suspicious patterns of spec §7, transaction-control statements.
 * Pure functions over (text, length); nothing here executes SQL.
 */
#ifndef ONEX_SQL_TEXT_H
#define ONEX_SQL_TEXT_H

#include <stddef.h>

struct onex_log;
struct onex_envelope;

/* Suspicious patterns (spec §7), as bits. */
enum {
	ONEX_SQL_SUS_SEMI_COMMENT = 1, /* ";--" */
	ONEX_SQL_SUS_STACKED = 2,      /* a second statement after ';' */
	ONEX_SQL_SUS_DROP = 4,	       /* the keyword DROP */
	ONEX_SQL_SUS_UNION = 8,	       /* UNION outside parentheses */
};

/* Skip one -- or block comment at p (p itself when there is none). */
const char *onex_sql_skip_comment(const char *p, const char *end);

/* Skip whitespace and -- / block comments (and ';' when semis), from p. */
const char *onex_sql_skip_blank(const char *p, const char *end, int semis);

/* True for identifier characters (letters, digits, '_', '$'). */
int onex_sql_is_word_char(char c);

/* The statement's first keyword as [*word, *word + returned length). */
size_t onex_sql_first_word(const char *sql, size_t len, const char **word);

/* True when (w, n) equals one of `words` (NULL-terminated), ignoring case. */
int onex_sql_word_in(const char *w, size_t n, const char *const *words);

/* True when the first keyword controls transactions (BEGIN, COMMIT, ...). */
int onex_sql_is_transaction_control(const char *sql, size_t len);

/* The suspicious patterns in the text, as ONEX_SQL_SUS_* bits. */
unsigned onex_sql_scan_suspicious(const char *sql, size_t len);

/*
 * Log a warning (with the request's correlation id) naming the patterns
 * found, if any. The SQL itself is not logged: literals may be sensitive.
 * `statement` is the index in a transaction, or -1.
 */
void onex_sql_warn_suspicious(struct onex_log *log, const struct onex_envelope *req,
			      const char *sql, size_t len, long statement);

#endif
