/*
 * error.h - the error codes of spec §5 and the caller-owned error record.
 *
 * Functions that can fail return 0 or a negative value and, when the caller
 * passes a non-NULL `struct onex_error *`, fill it. The first error wins:
 * onex_error_set() on a record that already holds an error does nothing, so
 * a low-level message is never overwritten by a vaguer one further up
 * (jansson's json_error_t works the same way). Nothing here allocates.
 */
#ifndef ONEX_ERROR_H
#define ONEX_ERROR_H

#include <stdarg.h>
#include <stddef.h>

#include "limits.h"

/* The one table of codes: X(enum suffix, wire name). */
#define ONEX_ERROR_CODES(X)                                   \
	X(NONE, "NONE")                                       \
	X(HANDLER_EXECUTION_ERROR, "HANDLER_EXECUTION_ERROR") \
	X(HANDLER_NOT_FOUND, "HANDLER_NOT_FOUND")             \
	X(NODE_NOT_FOUND, "NODE_NOT_FOUND")                   \
	X(INVALID_OPERATION, "INVALID_OPERATION")             \
	X(ENVELOPE_VALIDATION_ERROR, "ENVELOPE_VALIDATION_ERROR") \
	X(CONTRACT_VALIDATION_ERROR, "CONTRACT_VALIDATION_ERROR") \
	X(HANDLER_CONFIGURATION_ERROR, "HANDLER_CONFIGURATION_ERROR") \
	X(EVENT_BUS_ERROR, "EVENT_BUS_ERROR")                 \
	X(SECRET_RESOLUTION_ERROR, "SECRET_RESOLUTION_ERROR") \
	X(TIMEOUT, "TIMEOUT")                                 \
	X(RATE_LIMITED, "RATE_LIMITED")                       \
	X(CIRCUIT_OPEN, "CIRCUIT_OPEN")

enum onex_error_code {
#define ONEX_X_ENUM(name, wire) ONEX_ERR_##name,
	ONEX_ERROR_CODES(ONEX_X_ENUM)
#undef ONEX_X_ENUM
	ONEX_ERR__COUNT
};

/*
 * One error. `source` is a file path, an input position ("stdin line 3") or
 * a unit name; `line`/`column` are 1-based and 0 when unknown. `hint` says
 * what is probably wrong, `action` what the user should do. `backend_code`
 * keeps a unit's own code (SQLSTATE, HTTP status, errno) when it has one.
 */
struct onex_error {
	enum onex_error_code code;
	int backend_code;
	int line;
	int column;
	char source[ONEX_ERROR_SOURCE_BYTES];
	char text[ONEX_ERROR_TEXT_BYTES];
	char hint[ONEX_ERROR_HINT_BYTES];
	char action[ONEX_ERROR_HINT_BYTES];
};

/* Reset `err` to "no error". Safe on NULL. */
void onex_error_clear(struct onex_error *err);

/* True when `err` is non-NULL and holds an error. */
int onex_error_is_set(const struct onex_error *err);

/*
 * Record an error unless one is already recorded. `err` may be NULL.
 * `source` may be NULL. Returns -1 so callers can write
 * `return onex_error_set(err, ...);`.
 */
int onex_error_set(struct onex_error *err, enum onex_error_code code,
		   const char *source, int line, int column, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));
int onex_error_vset(struct onex_error *err, enum onex_error_code code,
		    const char *source, int line, int column, const char *fmt,
		    va_list ap) __attribute__((format(printf, 6, 0)));

/* Fill the hint / action of an error already set (formatting as printf). */
void onex_error_hint(struct onex_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void onex_error_action(struct onex_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The wire name of a code ("TIMEOUT"); "UNKNOWN" for an out-of-range value. */
const char *onex_error_code_name(enum onex_error_code code);

/* Parse a wire name; returns 0 and sets *code, or -1 when unknown. */
int onex_error_code_parse(const char *name, enum onex_error_code *code);

/*
 * Format `err` for a person, one or more lines, into buf (always
 * NUL-terminated): "file:line:col: text\n  hint: ...\n  action: ...".
 * Returns buf.
 */
const char *onex_error_format(const struct onex_error *err, char *buf,
			      size_t size);

/* Programmer errors: print file:line and abort (Git's BUG()). */
#define ONEX_BUG(...) onex_bug_fl(__FILE__, __LINE__, __VA_ARGS__)
_Noreturn void onex_bug_fl(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
