/*
 * runtime.h - NodeRuntime: the handlers and nodes of one host, and the
 * routing decision for an envelope (spec §1, §7, §9).
 *
 * It borrows handlers and the node registry (the host owns them), never
 * mutates the envelopes it routes, and never creates correlation ids.
 */
#ifndef ONEX_RUNTIME_H
#define ONEX_RUNTIME_H

#include <jansson.h>

#include "envelope.h"
#include "error.h"
#include "handler.h"
#include "node_registry.h"

struct onex_node_runtime {
	struct onex_handler *handlers[ONEX_HANDLER__COUNT]; /* borrowed, by type */
	const struct onex_node_registry *nodes;		    /* borrowed, may be NULL */
};

void onex_node_runtime_init(struct onex_node_runtime *rt);

/* Register a handler under its type; a second one of the same type is an error. */
int onex_node_runtime_register_handler(struct onex_node_runtime *rt,
				       struct onex_handler *h,
				       struct onex_error *err);

void onex_node_runtime_set_nodes(struct onex_node_runtime *rt,
				 const struct onex_node_registry *nodes);

/*
 * Choose the handler for `env`. On failure returns NULL with err set:
 * HANDLER_NOT_FOUND (and *error_extra = {"available_handlers": [...]}),
 * INVALID_OPERATION (the operation is not the handler type's), or
 * NODE_NOT_FOUND (target_node names no loaded node).
 * Ownership: *error_extra is new or NULL.
 */
struct onex_handler *onex_node_runtime_route(const struct onex_node_runtime *rt,
					     const struct onex_envelope *env,
					     json_t **error_extra,
					     struct onex_error *err);

/* Registered handler type names, sorted. New reference. */
json_t *onex_node_runtime_available_handlers(const struct onex_node_runtime *rt);

#endif
