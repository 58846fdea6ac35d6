/*
 * handler.c - the one place every call into a handler passes through, so
 * the lifecycle of spec §7 is enforced once for every unit.
 */
#include "handler.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void onex_handler_base_init(struct onex_handler *h,
			    const struct onex_handler_ops *ops,
			    const struct onex_handler_env *env)
{
	h->ops = ops;
	h->state = ONEX_HANDLER_CREATED;
	h->executing = 0;
	h->env = *env;
}

int onex_handler_initialize(struct onex_handler *h, const json_t *config,
			    struct onex_error *err)
{
	json_t *empty = NULL;
	int rc;

	if (h->state != ONEX_HANDLER_CREATED)
		ONEX_BUG("handler %s initialized twice", h->ops->unit_name);
	if (!config)
		config = empty = json_object();
	rc = h->ops->initialize(h, config, err);
	json_decref(empty);
	if (rc < 0) {
		if (!onex_error_is_set(err))
			onex_error_set(err, ONEX_ERR_HANDLER_CONFIGURATION_ERROR,
				       h->ops->unit_name, 0, 0,
				       "handler '%s' failed to initialize",
				       onex_handler_type_name(h->ops->type));
		return -1;
	}
	h->state = ONEX_HANDLER_INITIALIZED;
	h->state = ONEX_HANDLER_HEALTHY;
	return 0;
}

int onex_handler_execute(struct onex_handler *h, const struct onex_envelope *req,
			 onex_handler_done_cb done, void *done_arg,
			 struct onex_error *err)
{
	if (h->state != ONEX_HANDLER_HEALTHY && h->state != ONEX_HANDLER_EXECUTING)
		return onex_error_set(err, ONEX_ERR_HANDLER_EXECUTION_ERROR, NULL, 0, 0,
				      "handler '%s' is not available",
				      onex_handler_type_name(h->ops->type));
	h->executing++;
	h->state = ONEX_HANDLER_EXECUTING;
	h->ops->execute(h, req, done, done_arg);
	return 0;
}

void onex_handler_finished(struct onex_handler *h)
{
	if (h->executing == 0)
		ONEX_BUG("handler %s finished more calls than it started",
			 h->ops->unit_name);
	h->executing--;
	if (h->executing == 0 && h->state == ONEX_HANDLER_EXECUTING)
		h->state = ONEX_HANDLER_HEALTHY;
}

json_t *onex_handler_health_check(struct onex_handler *h)
{
	static const char *const names[] = { "created", "initialized", "healthy",
					     "executing", "shutdown" };
	json_t *health = h->ops->health_check ? h->ops->health_check(h) : NULL;
	if (!health)
		health = json_object();
	json_object_set_new(health, "state", json_string(names[h->state]));
	if (!json_object_get(health, "healthy"))
		json_object_set_new(health, "healthy",
				    json_boolean(h->state == ONEX_HANDLER_HEALTHY ||
						 h->state == ONEX_HANDLER_EXECUTING));
	return health;
}

json_t *onex_handler_describe(const struct onex_handler *h)
{
	json_t *d = h->ops->describe ? h->ops->describe(h) : NULL;
	if (!d)
		d = json_object();
	if (!json_object_get(d, "type"))
		json_object_set_new(d, "type", json_string(onex_handler_type_name(h->ops->type)));
	if (!json_object_get(d, "unit"))
		json_object_set_new(d, "unit", json_string(h->ops->unit_name));
	return d;
}

void onex_handler_shutdown(struct onex_handler *h)
{
	if (h->state == ONEX_HANDLER_SHUTDOWN)
		return;
	if (h->state != ONEX_HANDLER_CREATED && h->ops->shutdown)
		h->ops->shutdown(h);
	h->state = ONEX_HANDLER_SHUTDOWN;
}

void onex_handler_free(struct onex_handler *h)
{
	if (!h)
		return;
	onex_handler_shutdown(h);
	h->ops->free(h);
}

uint64_t onex_handler_deadline_ms(const json_t *entry)
{
	const json_t *t = json_object_get(entry, "timeout_ms");
	if (json_is_integer(t) && json_integer_value(t) > 0)
		return (uint64_t)json_integer_value(t);
	return ONEX_HANDLER_TIMEOUT_MS_DEFAULT;
}

uint64_t onex_handler_unit_timeout_ms(const json_t *entry)
{
	const json_t *t = json_object_get(json_object_get(entry, "config"), "timeout_ms");
	if (json_is_integer(t) && json_integer_value(t) > 0)
		return (uint64_t)json_integer_value(t);
	return onex_handler_deadline_ms(entry) + ONEX_HANDLER_TIMEOUT_CLEANUP_MS;
}

void onex_handler_result_ok(struct onex_handler_result *r, json_t *payload)
{
	memset(r, 0, sizeof(*r));
	onex_error_clear(&r->error);
	r->ok = 1;
	r->payload = payload;
}

void onex_handler_result_fail(struct onex_handler_result *r,
			      enum onex_error_code code, const char *fmt, ...)
{
	va_list ap;
	memset(r, 0, sizeof(*r));
	onex_error_clear(&r->error);
	va_start(ap, fmt);
	onex_error_vset(&r->error, code, NULL, 0, 0, fmt, ap);
	va_end(ap);
}

void onex_handler_result_release(struct onex_handler_result *r)
{
	json_decref(r->payload);
	json_decref(r->error_extra);
	r->payload = NULL;
	r->error_extra = NULL;
}

void onex_handler_invalid_operation(struct onex_error *err,
				    enum onex_handler_type type,
				    const char *operation)
{
	char list[512] = "";
	size_t n = 0;
	for (const char *const *op = onex_handler_type_operations(type); *op; op++) {
		int w = snprintf(list + n, sizeof(list) - n, "%s%s", n ? ", " : "", *op);
		if (w < 0 || (size_t)w >= sizeof(list) - n)
			break;
		n += (size_t)w;
	}
	onex_error_set(err, ONEX_ERR_INVALID_OPERATION, NULL, 0, 0,
		       "Operation '%s' not supported. Available: %s", operation, list);
}
