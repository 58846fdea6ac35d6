/*
 * handler.h - the handler port (spec §7) and its lifecycle.
 *
 * A handler performs one request/response operation for one envelope. It
 * is asynchronous: execute() returns at once and the unit calls `done`
 * later (through the loop; never from inside execute()) with a result.
 * The request envelope is borrowed: it stays valid until `done` is called,
 * and not after.
 *
 * Decision (docs/ARCHITECTURE.md): a handler returns a *result* (payload or
 * error), not an envelope. The host builds every response envelope, so no
 * handler can create or change a correlation id (spec §6) by construction.
 *
 * Lifecycle (spec §7): CREATED -> INITIALIZED -> HEALTHY <-> EXECUTING ->
 * SHUTDOWN. The onex_handler_* wrappers enforce it: execute only when
 * HEALTHY/EXECUTING, shutdown exactly once, nothing after shutdown.
 */
#ifndef ONEX_HANDLER_H
#define ONEX_HANDLER_H

#include <jansson.h>

#include "envelope.h"
#include "error.h"
#include "handler_type.h"

struct onex_loop;
struct onex_clock;
struct onex_log;

enum onex_handler_state {
	ONEX_HANDLER_CREATED,
	ONEX_HANDLER_INITIALIZED,
	ONEX_HANDLER_HEALTHY,
	ONEX_HANDLER_EXECUTING,
	ONEX_HANDLER_SHUTDOWN,
};

/*
 * The outcome of one execute(). On success `payload` is the response
 * payload (owned by the result; NULL means JSON null). On failure `error`
 * holds a spec §5 code and a message fit for the wire: no stack trace, no
 * secret, no SQL parameters. `error_extra` (owned, may be NULL) is merged
 * into the error object of the reply.
 */
struct onex_handler_result {
	int ok;
	json_t *payload;
	json_t *error_extra;
	struct onex_error error;
};

/* Ownership: the callee takes result->payload and ->error_extra. */
typedef void (*onex_handler_done_cb)(void *arg, struct onex_handler_result *result);

/* What a unit may use: the loop, the clock, the log, and its binary's root. */
struct onex_handler_env {
	struct onex_loop *loop;
	struct onex_clock *clock;
	struct onex_log *log;
	void *root; /* composition-root data (the sim world), opaque to the host */
};

struct onex_handler;

struct onex_handler_ops {
	enum onex_handler_type type;
	const char *unit_name; /* "local", "sim-http", "libcurl", ... */
	/* config: the contract's handler entry as JSON (never NULL: {} at least). */
	int (*initialize)(struct onex_handler *h, const json_t *config,
			  struct onex_error *err);
	void (*execute)(struct onex_handler *h, const struct onex_envelope *req,
			onex_handler_done_cb done, void *done_arg);
	json_t *(*health_check)(struct onex_handler *h); /* new reference */
	json_t *(*describe)(const struct onex_handler *h); /* new reference */
	void (*shutdown)(struct onex_handler *h);
	void (*free)(struct onex_handler *h);
};

/* Base struct: embed first in every handler. */
struct onex_handler {
	const struct onex_handler_ops *ops;
	enum onex_handler_state state;
	unsigned executing; /* calls started and not yet finished */
	struct onex_handler_env env;
};

/* A unit as the wiring table lists it. */
struct onex_handler_unit {
	enum onex_handler_type type;
	const char *unit_name;
	struct onex_handler *(*create)(const struct onex_handler_env *env,
				       struct onex_error *err);
};

/* Set up the base struct (state CREATED). For units' create(). */
void onex_handler_base_init(struct onex_handler *h,
			    const struct onex_handler_ops *ops,
			    const struct onex_handler_env *env);

/* CREATED -> HEALTHY, or an error (HANDLER_CONFIGURATION_ERROR). */
int onex_handler_initialize(struct onex_handler *h, const json_t *config,
			    struct onex_error *err);

/*
 * Start one call. Returns 0 when the handler took it (done will be called
 * exactly once), or -1 with `err` set when it was refused (not healthy, or
 * shut down); done is then never called.
 */
int onex_handler_execute(struct onex_handler *h, const struct onex_envelope *req,
			 onex_handler_done_cb done, void *done_arg,
			 struct onex_error *err);

/* The host calls this when a call's done arrived (EXECUTING -> HEALTHY). */
void onex_handler_finished(struct onex_handler *h);

json_t *onex_handler_health_check(struct onex_handler *h);
json_t *onex_handler_describe(const struct onex_handler *h);

/* Calls ops->shutdown exactly once in the handler's life; later calls do nothing. */
void onex_handler_shutdown(struct onex_handler *h);

/* Shut down if needed, then free. Safe on NULL. */
void onex_handler_free(struct onex_handler *h);

/*
 * The host's deadline for calls to this handler: the contract entry's
 * `timeout_ms`, or ONEX_HANDLER_TIMEOUT_MS_DEFAULT. `entry` is the JSON the
 * unit's initialize() receives.
 */
uint64_t onex_handler_deadline_ms(const json_t *entry);

/*
 * The timeout a unit enforces itself: `config.timeout_ms` when the entry
 * sets it (the unit then answers with its own message), else the host's
 * deadline + ONEX_HANDLER_TIMEOUT_CLEANUP_MS, so the host answers first.
 */
uint64_t onex_handler_unit_timeout_ms(const json_t *entry);

/* Helpers for units building results. */
void onex_handler_result_ok(struct onex_handler_result *r, json_t *payload);
void onex_handler_result_fail(struct onex_handler_result *r,
			      enum onex_error_code code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Free what a result still owns. */
void onex_handler_result_release(struct onex_handler_result *r);

/* "Operation 'x' not supported. Available: a, b" into err (INVALID_OPERATION). */
void onex_handler_invalid_operation(struct onex_error *err,
				    enum onex_handler_type type,
				    const char *operation);

#endif
