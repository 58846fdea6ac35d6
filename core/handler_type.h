/*
 * handler_type.h - the handler types of spec §7 and their operations.
 *
 * One data table (handler_type.c) lists, per type, its wire name, its
 * operations and which operations require a payload. Routing, contract
 * validation and error messages all read that table, so adding an
 * operation is a one-line change.
 */
#ifndef ONEX_HANDLER_TYPE_H
#define ONEX_HANDLER_TYPE_H

#include <stddef.h>

enum onex_handler_type {
	ONEX_HANDLER_HTTP,
	ONEX_HANDLER_DB,
	ONEX_HANDLER_LOCAL,
	ONEX_HANDLER_VAULT,
	ONEX_HANDLER_CONSUL,
	ONEX_HANDLER__COUNT
};

/* Wire name ("http"); "unknown" out of range. */
const char *onex_handler_type_name(enum onex_handler_type type);

/* Parse a wire name; 0 and *type set, or -1 when it names no type. */
int onex_handler_type_parse(const char *name, enum onex_handler_type *type);

/* "db, http, local, vault, consul" style list of every valid type, sorted. */
const char *onex_handler_type_valid_list(void);

/* The operations a type defines, NULL-terminated and sorted. */
const char *const *onex_handler_type_operations(enum onex_handler_type type);

/* True when `operation` is one of `type`'s operations. */
int onex_handler_type_has_operation(enum onex_handler_type type,
				    const char *operation);

/* True when `operation` needs a non-null, non-empty payload (REFERENCE). */
int onex_operation_requires_payload(const char *operation);

/*
 * The handler type an operation's prefix names ("db.query" -> db).
 * 0 and *type set, or -1 when the prefix names no type.
 */
int onex_handler_type_from_operation(const char *operation,
				     enum onex_handler_type *type);

#endif
