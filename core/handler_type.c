/*
 * handler_type.c - the table of handler types and operations (spec §7,
 * REFERENCE_BEHAVIOUR "Handlers"). Operation lists are kept sorted because
 * the "Available: ..." error message prints them in this order.
 */
#include "handler_type.h"

#include <string.h>

static const char *const http_ops[] = { "http.delete", "http.get", "http.patch",
					"http.post", "http.put", NULL };
static const char *const db_ops[] = { "db.execute", "db.query", "db.transaction",
				      NULL };
static const char *const local_ops[] = { "local.echo", "local.error",
					 "local.transform", NULL };
static const char *const vault_ops[] = { "vault.delete_secret", "vault.list_secrets",
					 "vault.read_secret", "vault.renew_token",
					 "vault.write_secret", NULL };
static const char *const consul_ops[] = { "consul.deregister", "consul.kv_get",
					  "consul.kv_put", "consul.register", NULL };

static const struct {
	const char *name;
	const char *const *ops;
} types[ONEX_HANDLER__COUNT] = {
	[ONEX_HANDLER_HTTP] = { "http", http_ops },
	[ONEX_HANDLER_DB] = { "db", db_ops },
	[ONEX_HANDLER_LOCAL] = { "local", local_ops },
	[ONEX_HANDLER_VAULT] = { "vault", vault_ops },
	[ONEX_HANDLER_CONSUL] = { "consul", consul_ops },
};

/* REFERENCE_BEHAVIOUR: payload is required (non-null, not {}) for these. */
static const char *const payload_required[] = {
	"db.query",	      "db.execute",	"db.transaction", "http.post",
	"http.put",	      "http.patch",	"vault.write_secret",
	"consul.kv_put",      "consul.register", NULL
};

const char *onex_handler_type_name(enum onex_handler_type type)
{
	if ((unsigned)type >= ONEX_HANDLER__COUNT)
		return "unknown";
	return types[type].name;
}

int onex_handler_type_parse(const char *name, enum onex_handler_type *type)
{
	for (unsigned i = 0; i < ONEX_HANDLER__COUNT; i++) {
		if (strcmp(types[i].name, name) == 0) {
			*type = (enum onex_handler_type)i;
			return 0;
		}
	}
	return -1;
}

const char *onex_handler_type_valid_list(void)
{
	return "consul, db, http, local, vault";
}

const char *const *onex_handler_type_operations(enum onex_handler_type type)
{
	static const char *const none[] = { NULL };
	if ((unsigned)type >= ONEX_HANDLER__COUNT)
		return none;
	return types[type].ops;
}

int onex_handler_type_has_operation(enum onex_handler_type type,
				    const char *operation)
{
	for (const char *const *op = onex_handler_type_operations(type); *op; op++)
		if (strcmp(*op, operation) == 0)
			return 1;
	return 0;
}

int onex_operation_requires_payload(const char *operation)
{
	for (const char *const *op = payload_required; *op; op++)
		if (strcmp(*op, operation) == 0)
			return 1;
	return 0;
}

int onex_handler_type_from_operation(const char *operation,
				     enum onex_handler_type *type)
{
	const char *dot = strchr(operation, '.');
	size_t n = dot ? (size_t)(dot - operation) : strlen(operation);
	for (unsigned i = 0; i < ONEX_HANDLER__COUNT; i++) {
		if (strlen(types[i].name) == n &&
		    strncmp(types[i].name, operation, n) == 0) {
			*type = (enum onex_handler_type)i;
			return 0;
		}
	}
	return -1;
}
