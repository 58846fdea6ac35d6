/*
 * local_handler.c - the dev/test `local` handler. Replies go through the
 * loop (never from inside execute), like every other unit.
 */
#include "local_handler.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "limits.h"
#include "log.h"
#include "loop.h"

struct local_handler {
	struct onex_handler base;
	uint64_t calls;
};

enum local_op { LOCAL_ECHO, LOCAL_TRANSFORM, LOCAL_ERROR, LOCAL_UNKNOWN };

/*
 * One call waiting for its turn on the loop: small, because the result is
 * built only when it completes. The request payload is held by reference
 * (the request is never modified, so the echo needs no copy).
 */
struct local_call {
	enum local_op op;
	json_t *payload; /* a reference of the request's payload, or NULL */
	char operation[ONEX_NAME_BYTES_MAX + 1];
	onex_handler_done_cb done;
	void *arg;
};

static void do_transform(const json_t *payload, struct onex_handler_result *r);
static void do_error(const json_t *payload, struct onex_handler_result *r);

static void complete(void *arg)
{
	struct local_call *call = arg;
	struct onex_handler_result result;
	switch (call->op) {
	case LOCAL_ECHO:
		onex_handler_result_ok(&result, call->payload ? json_incref(call->payload) : NULL);
		break;
	case LOCAL_TRANSFORM:
		do_transform(call->payload, &result);
		break;
	case LOCAL_ERROR:
		do_error(call->payload, &result);
		break;
	case LOCAL_UNKNOWN:
		memset(&result, 0, sizeof(result));
		onex_error_clear(&result.error);
		onex_handler_invalid_operation(&result.error, ONEX_HANDLER_LOCAL, call->operation);
		break;
	}
	call->done(call->arg, &result);
	onex_handler_result_release(&result);
	json_decref(call->payload);
	free(call);
}

static void do_transform(const json_t *payload, struct onex_handler_result *r)
{
	const char *value = json_string_value(json_object_get(payload, "value"));
	const char *how = json_string_value(json_object_get(payload, "transform"));
	if (!value || !how || (strcmp(how, "uppercase") && strcmp(how, "lowercase") &&
			       strcmp(how, "reverse"))) {
		onex_handler_result_fail(r, ONEX_ERR_HANDLER_EXECUTION_ERROR,
					 "local.transform needs payload.value (a string) and "
					 "payload.transform (uppercase, lowercase or reverse)");
		return;
	}
	size_t n = json_string_length(json_object_get(payload, "value"));
	char *out = malloc(n + 1);
	if (!out)
		ONEX_BUG("out of memory");
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)value[i];
		if (how[0] == 'u')
			out[i] = (char)(c < 0x80 ? toupper(c) : c);
		else if (how[0] == 'l')
			out[i] = (char)(c < 0x80 ? tolower(c) : c);
		else
			out[i] = value[n - 1 - i];
	}
	/* Reversing bytes can break UTF-8: only ASCII reverses bytewise. */
	json_t *v = json_stringn(out, n);
	free(out);
	if (!v) {
		onex_handler_result_fail(r, ONEX_ERR_HANDLER_EXECUTION_ERROR,
					 "local.transform reverse supports ASCII text only");
		return;
	}
	onex_handler_result_ok(r, json_pack("{s:o,s:s}", "value", v, "transform", how));
}

static void do_error(const json_t *payload, struct onex_handler_result *r)
{
	enum onex_error_code code = ONEX_ERR_HANDLER_EXECUTION_ERROR;
	const char *name = json_string_value(json_object_get(payload, "code"));
	const char *message = json_string_value(json_object_get(payload, "message"));
	if (name && (onex_error_code_parse(name, &code) < 0 || code == ONEX_ERR_NONE))
		code = ONEX_ERR_HANDLER_EXECUTION_ERROR;
	onex_handler_result_fail(r, code, "%s", message ? message : "local.error requested");
}

static void local_execute(struct onex_handler *h, const struct onex_envelope *req,
			  onex_handler_done_cb done, void *done_arg)
{
	struct local_handler *lh = (struct local_handler *)h;
	struct local_call *call = malloc(sizeof(*call));
	uint64_t delay_ns = 0;
	const json_t *payload = req->payload;

	if (!call)
		ONEX_BUG("out of memory");
	lh->calls++;
	call->done = done;
	call->arg = done_arg;
	call->operation[0] = '\0';
	call->payload = payload ? json_incref((json_t *)payload) : NULL; /* shared, never modified */
	if (strcmp(req->operation, "local.echo") == 0) {
		json_t *d = json_object_get(payload, "delay_ms");
		if (json_is_integer(d) && json_integer_value(d) > 0)
			delay_ns = (uint64_t)json_integer_value(d) * 1000000u;
		call->op = LOCAL_ECHO;
	} else if (strcmp(req->operation, "local.transform") == 0) {
		call->op = LOCAL_TRANSFORM;
	} else if (strcmp(req->operation, "local.error") == 0) {
		call->op = LOCAL_ERROR;
	} else {
		call->op = LOCAL_UNKNOWN;
		snprintf(call->operation, sizeof(call->operation), "%s", req->operation);
	}
	onex_loop_timer_add(h->env.loop, delay_ns, complete, call, NULL, NULL);
}

static int local_initialize(struct onex_handler *h, const json_t *config,
			    struct onex_error *err)
{
	(void)config;
	(void)err;
	onex_log(h->env.log, ONEX_LOG_WARN, NULL, NULL,
		 "handler 'local' is for development and tests only; never run it in production");
	return 0;
}

static json_t *local_health(struct onex_handler *h)
{
	struct local_handler *lh = (struct local_handler *)h;
	return json_pack("{s:b,s:I}", "dev_test_only", 1, "calls", (json_int_t)lh->calls);
}

static json_t *local_describe(const struct onex_handler *h)
{
	(void)h;
	json_t *ops = json_array();
	for (const char *const *op = onex_handler_type_operations(ONEX_HANDLER_LOCAL); *op; op++)
		json_array_append_new(ops, json_string(*op));
	return json_pack(
		"{s:s,s:s,s:o,s:{s:[],s:[s,s],s:[]},s:{s:s,s:s,s:s},s:s,s:b}", "type",
		"local", "unit", "local", "operations", ops, "required_payload_fields",
		"local.echo", "local.transform", "value", "transform", "local.error",
		"response_shape", "local.echo", "the request payload",
		"local.transform", "{value, transform}", "local.error",
		"error {code, message}", "version", "1.0.0", "dev_test_only", 1);
}

static void local_shutdown(struct onex_handler *h)
{
	(void)h;
}

static void local_free(struct onex_handler *h)
{
	free(h);
}

static const struct onex_handler_ops local_ops = {
	.type = ONEX_HANDLER_LOCAL,
	.unit_name = "local",
	.initialize = local_initialize,
	.execute = local_execute,
	.health_check = local_health,
	.describe = local_describe,
	.shutdown = local_shutdown,
	.free = local_free,
};

static struct onex_handler *local_create(const struct onex_handler_env *env,
					 struct onex_error *err)
{
	struct local_handler *lh = calloc(1, sizeof(*lh));
	if (!lh) {
		onex_error_set(err, ONEX_ERR_HANDLER_CONFIGURATION_ERROR, "local", 0, 0,
			       "out of memory");
		return NULL;
	}
	onex_handler_base_init(&lh->base, &local_ops, env);
	return &lh->base;
}

const struct onex_handler_unit onex_local_handler_unit = { ONEX_HANDLER_LOCAL, "local",
							   local_create };
