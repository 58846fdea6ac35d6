/*
 * sql_text.c - SQL text scanning for the db units (see sql_text.h).
 */
#include "sql_text.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "envelope.h"
#include "log.h"

const char *onex_sql_skip_comment(const char *p, const char *end)
{
	if (end - p >= 2 && p[0] == '-' && p[1] == '-') {
		while (p < end && *p != '\n')
			p++;
	} else if (end - p >= 2 && p[0] == '/' && p[1] == '*') {
		p += 2;
		while (p < end && !(end - p >= 2 && p[0] == '*' && p[1] == '/'))
			p++;
		p = end - p >= 2 ? p + 2 : end;
	}
	return p;
}

const char *onex_sql_skip_blank(const char *p, const char *end, int semis)
{
	for (;;) {
		const char *q = onex_sql_skip_comment(p, end);
		if (q != p)
			p = q;
		else if (p < end && (isspace((unsigned char)*p) || (semis && *p == ';')))
			p++;
		else
			return p;
	}
}

int onex_sql_is_word_char(char c)
{
	return isalnum((unsigned char)c) || c == '_' || c == '$';
}

size_t onex_sql_first_word(const char *sql, size_t len, const char **word)
{
	const char *end = sql + len, *p = onex_sql_skip_blank(sql, end, 1);
	*word = p;
	while (p < end && onex_sql_is_word_char(*p))
		p++;
	return (size_t)(p - *word);
}

int onex_sql_word_in(const char *w, size_t n, const char *const *words)
{
	for (const char *const *k = words; *k; k++)
		if (n == strlen(*k) && strncasecmp(w, *k, n) == 0)
			return 1;
	return 0;
}

int onex_sql_is_transaction_control(const char *sql, size_t len)
{
	/* SQLite's and PostgreSQL's spellings (START and ABORT are PostgreSQL's). */
	static const char *const words[] = { "BEGIN",	  "COMMIT",  "END",   "ROLLBACK",
					     "SAVEPOINT", "RELEASE", "START", "ABORT",
					     NULL };
	const char *w;
	size_t n = onex_sql_first_word(sql, len, &w);
	return onex_sql_word_in(w, n, words);
}

static const char *skip_quoted(const char *p, const char *end)
{
	char q = *p++;
	while (p < end && *p != q)
		p++;
	return p < end ? p + 1 : end;
}

unsigned onex_sql_scan_suspicious(const char *sql, size_t len)
{
	const char *p = sql, *end = sql + len;
	unsigned found = memmem(sql, len, ";--", 3) ? ONEX_SQL_SUS_SEMI_COMMENT : 0;
	int depth = 0;
	while (p < end) {
		const char *q = onex_sql_skip_comment(p, end);
		if (q != p) {
			p = q;
		} else if (*p == '\'' || *p == '"' || *p == '`') {
			p = skip_quoted(p, end);
		} else if (*p == ';') {
			if (onex_sql_skip_blank(p + 1, end, 1) < end)
				found |= ONEX_SQL_SUS_STACKED;
			p++;
		} else if (onex_sql_is_word_char(*p)) {
			const char *w = p;
			while (p < end && onex_sql_is_word_char(*p))
				p++;
			if (p - w == 4 && strncasecmp(w, "DROP", 4) == 0)
				found |= ONEX_SQL_SUS_DROP;
			if (p - w == 5 && strncasecmp(w, "UNION", 5) == 0 && depth == 0)
				found |= ONEX_SQL_SUS_UNION;
		} else {
			depth += *p == '(';
			depth -= *p == ')' && depth > 0;
			p++;
		}
	}
	return found;
}

void onex_sql_warn_suspicious(struct onex_log *log, const struct onex_envelope *req,
			      const char *sql, size_t len, long statement)
{
	unsigned f = onex_sql_scan_suspicious(sql, len);
	char where[48] = "";
	if (!f)
		return;
	if (statement >= 0)
		snprintf(where, sizeof(where), " (statement %ld)", statement);
	onex_log(log, ONEX_LOG_WARN, req->correlation_id, req->envelope_id,
		 "db: suspicious SQL in %s%s:%s%s%s%s", req->operation, where,
		 f & ONEX_SQL_SUS_SEMI_COMMENT ? " ';--'" : "",
		 f & ONEX_SQL_SUS_STACKED ? " stacked-statements" : "",
		 f & ONEX_SQL_SUS_DROP ? " DROP" : "",
		 f & ONEX_SQL_SUS_UNION ? " UNION-outside-subquery" : "");
}
