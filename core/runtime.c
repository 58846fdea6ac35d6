/*
 * runtime.c - NodeRuntime routing: handler by type, operation check, node check.
 */
#include "runtime.h"

#include <stdio.h>
#include <string.h>

void onex_node_runtime_init(struct onex_node_runtime *rt)
{
	memset(rt, 0, sizeof(*rt));
}

int onex_node_runtime_register_handler(struct onex_node_runtime *rt,
				       struct onex_handler *h,
				       struct onex_error *err)
{
	enum onex_handler_type type = h->ops->type;
	if ((unsigned)type >= ONEX_HANDLER__COUNT)
		ONEX_BUG("handler unit %s has no valid type", h->ops->unit_name);
	if (rt->handlers[type])
		return onex_error_set(err, ONEX_ERR_HANDLER_CONFIGURATION_ERROR, NULL, 0, 0,
				      "a handler of type '%s' is already registered "
				      "(one handler per type)",
				      onex_handler_type_name(type));
	rt->handlers[type] = h;
	return 0;
}

void onex_node_runtime_set_nodes(struct onex_node_runtime *rt,
				 const struct onex_node_registry *nodes)
{
	rt->nodes = nodes;
}

json_t *onex_node_runtime_available_handlers(const struct onex_node_runtime *rt)
{
	/* Sorted by name: collect, then insertion-sort the few entries. */
	const char *names[ONEX_HANDLER__COUNT];
	size_t n = 0;
	json_t *list = json_array();
	for (unsigned i = 0; i < ONEX_HANDLER__COUNT; i++) {
		if (!rt->handlers[i])
			continue;
		const char *name = onex_handler_type_name((enum onex_handler_type)i);
		size_t j = n++;
		while (j > 0 && strcmp(names[j - 1], name) > 0) {
			names[j] = names[j - 1];
			j--;
		}
		names[j] = name;
	}
	for (size_t i = 0; i < n; i++)
		json_array_append_new(list, json_string(names[i]));
	return list;
}

static void list_nodes(const struct onex_node_registry *reg, char *buf, size_t size)
{
	size_t n = 0;
	buf[0] = '\0';
	for (size_t i = 0; reg && i < reg->count; i++) {
		int w = snprintf(buf + n, size - n, "%s%s", n ? ", " : "", reg->nodes[i]->slug);
		if (w < 0 || (size_t)w >= size - n)
			break;
		n += (size_t)w;
	}
	if (!buf[0])
		snprintf(buf, size, "(none)");
}

struct onex_handler *onex_node_runtime_route(const struct onex_node_runtime *rt,
					     const struct onex_envelope *env,
					     json_t **error_extra,
					     struct onex_error *err)
{
	struct onex_handler *h = NULL;
	enum onex_handler_type op_type;

	*error_extra = NULL;
	if (env->handler_type_known)
		h = rt->handlers[env->handler_type];
	if (!h) {
		/* The type as the request named it, or as its operation's prefix names it. */
		char prefix[ONEX_NAME_BYTES_MAX + 1] = "";
		const char *name = env->handler_type_name;
		if (!name && env->handler_type_known)
			name = onex_handler_type_name(env->handler_type);
		if (!name && env->operation) {
			size_t n = strcspn(env->operation, ".");
			snprintf(prefix, sizeof(prefix), "%.*s", (int)n, env->operation);
			name = prefix;
		}
		/* error.handler_type: the type looked for, also when only the prefix named it. */
		*error_extra = json_pack("{s:o,s:s*}", "available_handlers",
					 onex_node_runtime_available_handlers(rt), "handler_type",
					 name && *name ? name : NULL);
		onex_error_set(err, ONEX_ERR_HANDLER_NOT_FOUND, NULL, 0, 0,
			       "no handler registered for type '%s'", name ? name : "");
		return NULL;
	}
	if (onex_handler_type_from_operation(env->operation, &op_type) < 0 ||
	    op_type != env->handler_type ||
	    !onex_handler_type_has_operation(env->handler_type, env->operation)) {
		onex_handler_invalid_operation(err, env->handler_type, env->operation);
		return NULL;
	}
	if (env->target_node && !onex_node_registry_find(rt->nodes, env->target_node)) {
		char loaded[512];
		list_nodes(rt->nodes, loaded, sizeof(loaded));
		onex_error_set(err, ONEX_ERR_NODE_NOT_FOUND, NULL, 0, 0,
			       "node '%s' is not loaded in this host; loaded: %s",
			       env->target_node, loaded);
		return NULL;
	}
	return h;
}
