/*
 * host.c - the host loop of spec §9, driven entirely by port callbacks.
 *
 * Each message the bus delivers becomes a `struct request` that lives
 * until its reply is published (or refused) and its handler has called
 * back. Requests are counted so that the host can pause the bus at
 * inflight_max (v0.1: 1, i.e. sequential), drain on shutdown, and bound
 * the calls it stopped waiting for after a TIMEOUT.
 */
#include "host.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "handler.h"
#include "limits.h"
#include "node_registry.h"
#include "runtime.h"

struct request {
	struct onex_host *host;
	struct request *prev, *next;
	uint64_t token;
	char position[96];
	struct onex_envelope env; /* env.json is NULL when the bytes did not parse */
	struct onex_handler *handler;
	uint64_t timer_id;
	unsigned timer_armed : 1;
	unsigned replied : 1;	      /* a reply was built and handed to the bus */
	unsigned handler_pending : 1; /* the handler has not called back yet */
	unsigned publish_pending : 1; /* the bus has not confirmed the reply yet */
	unsigned counted : 1;	      /* still counted in host->inflight */
};

struct onex_host {
	struct onex_host_env env;
	const struct onex_runtime_contract *contract;
	struct onex_host_options opt;
	struct onex_bus *bus;
	const struct onex_bus_unit *bus_unit;
	struct onex_handler *handlers[ONEX_CONTRACT_HANDLERS_MAX];
	uint64_t timeout_ns[ONEX_HANDLER__COUNT];
	size_t handler_count;
	struct onex_node_registry nodes;
	struct onex_node_runtime runtime;
	struct request *requests; /* every live request */
	unsigned inflight;	  /* requests whose reply is not yet confirmed */
	unsigned abandoned;	  /* replied with TIMEOUT, handler still pending */
	int paused, started, draining, stopped;
	uint64_t grace_timer;
	int grace_armed;
	struct onex_host_stats stats;
	struct onex_json_out out; /* reply bytes, reused from reply to reply */
	int out_busy;		  /* `out` is in use further up the stack */
};

static void request_unlink_free(struct request *rq)
{
	struct onex_host *host = rq->host;
	if (rq->prev)
		rq->prev->next = rq->next;
	else
		host->requests = rq->next;
	if (rq->next)
		rq->next->prev = rq->prev;
	onex_envelope_release(&rq->env);
	free(rq);
}

/* Pause the bus while at capacity or draining; resume otherwise. */
static void update_flow(struct onex_host *host)
{
	int want_pause = host->draining || host->inflight >= host->opt.inflight_max ||
			 host->abandoned >= ONEX_HOST_ABANDONED_MAX;
	if (!host->bus || !host->started || host->stopped || want_pause == host->paused)
		return;
	host->paused = want_pause;
	if (want_pause)
		onex_bus_pause(host->bus);
	else
		onex_bus_resume(host->bus);
}

static void finish_shutdown(void *arg);
static void check_drained(struct onex_host *host);

/* A request is done when replied (or failed), confirmed, and called back. */
static void request_maybe_free(struct request *rq)
{
	struct onex_host *host = rq->host;
	if (rq->counted && rq->replied && !rq->publish_pending) {
		rq->counted = 0;
		host->inflight--;
	}
	if (rq->counted || rq->handler_pending || rq->publish_pending)
		return;
	request_unlink_free(rq);
	update_flow(host);
	check_drained(host);
}

static void on_published(void *arg, int status, const struct onex_error *err)
{
	struct request *rq = arg;
	struct onex_host *host = rq->host;
	rq->publish_pending = 0;
	if (status == 0) {
		onex_bus_ack(host->bus, rq->token);
	} else {
		/* Not acked: an at-least-once bus delivers the request again. */
		host->stats.publish_failed++;
		if (!host->bus->ops->release) /* nothing will ask again: the reply is lost */
			host->stats.replies_lost++;
		onex_log(host->env.log, ONEX_LOG_ERROR, rq->env.correlation_id,
			 rq->env.envelope_id, "reply for %s was not published: %s: %s",
			 rq->position, onex_error_code_name(err ? err->code : ONEX_ERR_EVENT_BUS_ERROR),
			 err ? err->text : "bus error");
		onex_bus_release(host->bus, rq->token);
	}
	request_maybe_free(rq);
}

/*
 * Encode and publish the reply of `spec` for rq (spec->payload and
 * spec->error_extra are consumed). The bytes are written straight into the
 * host's reused buffer (onex_envelope_write_reply); only when that writer
 * cannot is the jansson tree built and encoded, which gives the same bytes.
 * The bus copies what it keeps, so the buffer is free again on return.
 */
static void publish_reply(struct request *rq, struct onex_reply_spec *spec)
{
	struct onex_host *host = rq->host;
	struct onex_error err;
	struct onex_json_out local, *out = &host->out;
	const char *data = NULL;
	char *slow = NULL;
	size_t len = 0;
	int success = spec->success;

	if (host->out_busy) { /* a bus that publishes re-entrantly: not ours to reuse */
		onex_json_out_init(&local);
		out = &local;
	}
	host->out_busy++;
	if (onex_envelope_write_reply(spec, out) == 0) {
		data = out->data;
		len = out->len;
		json_decref(spec->payload);
		json_decref(spec->error_extra);
	} else {
		json_t *reply = onex_envelope_build_reply(spec);
		data = slow = onex_envelope_encode(reply, &len);
		json_decref(reply);
	}
	spec->payload = spec->error_extra = NULL;
	rq->replied = 1;
	onex_error_clear(&err);
	if (!data) {
		onex_error_set(&err, ONEX_ERR_EVENT_BUS_ERROR, NULL, 0, 0,
			       "could not encode the reply (out of memory)");
	} else if (onex_bus_publish(host->bus, host->contract->bus.topic_output,
				    rq->env.correlation_id, data, len, on_published,
				    rq, &err) == 0) {
		rq->publish_pending = 1;
		if (success)
			host->stats.responded_ok++;
		else
			host->stats.responded_error++;
	}
	free(slow);
	if (out == &local || out->cap > ONEX_HOST_REPLY_BUFFER_KEEP_BYTES)
		onex_json_out_release(out);
	host->out_busy--;
	if (!rq->publish_pending)
		on_published(rq, -1, &err);
}

static void stamp_reply(struct onex_host *host, struct onex_reply_spec *spec,
			char id[ONEX_UUID_STR_BYTES], char ts[ONEX_TIMESTAMP_BYTES])
{
	onex_ids_new_uuid(host->env.ids, id);
	onex_timestamp_format(onex_clock_wall_ns(host->env.clock), ts);
	spec->envelope_id = id;
	spec->timestamp = ts;
}

/* Reply with an error envelope; `extra` (stolen) is merged into "error". */
static void reply_error(struct request *rq, struct onex_error *err, json_t *extra)
{
	struct onex_host *host = rq->host;
	struct onex_reply_spec spec = { 0 };
	char id[ONEX_UUID_STR_BYTES], ts[ONEX_TIMESTAMP_BYTES];

	stamp_reply(host, &spec, id, ts);
	spec.request = &rq->env;
	spec.success = 0;
	spec.error = err;
	spec.error_extra = extra;
	/* Validation messages already start with the input position. */
	int positioned = strncmp(err->text, rq->position, strlen(rq->position)) == 0;
	onex_log(host->env.log, ONEX_LOG_WARN, rq->env.correlation_id,
		 rq->env.envelope_id, "%s%s%s: %s", positioned ? "" : rq->position,
		 positioned ? "" : ": ", onex_error_code_name(err->code), err->text);
	publish_reply(rq, &spec);
}

static void on_timeout(void *arg)
{
	struct request *rq = arg;
	struct onex_host *host = rq->host;
	struct onex_error err;
	rq->timer_armed = 0;
	host->stats.timed_out++;
	host->abandoned++;
	onex_error_clear(&err);
	onex_error_set(&err, ONEX_ERR_TIMEOUT, NULL, 0, 0,
		       "handler '%s' did not answer %s within %llu ms",
		       onex_handler_type_name(rq->env.handler_type), rq->env.operation,
		       (unsigned long long)(host->timeout_ns[rq->env.handler_type] / 1000000u));
	reply_error(rq, &err, NULL);
}

static void on_handler_done(void *arg, struct onex_handler_result *result)
{
	struct request *rq = arg;
	struct onex_host *host = rq->host;
	struct onex_reply_spec spec = { 0 };
	char id[ONEX_UUID_STR_BYTES], ts[ONEX_TIMESTAMP_BYTES];

	if (!rq->handler_pending)
		ONEX_BUG("handler %s called done twice", rq->handler->ops->unit_name);
	rq->handler_pending = 0;
	onex_handler_finished(rq->handler);
	if (rq->replied) { /* the TIMEOUT reply went out already */
		host->abandoned--;
		onex_handler_result_release(result);
		request_maybe_free(rq);
		return;
	}
	if (rq->timer_armed) {
		onex_loop_timer_cancel(host->env.loop, rq->timer_id);
		rq->timer_armed = 0;
	}
	if (!result->ok) {
		if (!onex_error_is_set(&result->error))
			onex_error_set(&result->error, ONEX_ERR_HANDLER_EXECUTION_ERROR,
				       NULL, 0, 0, "handler failed");
		json_t *extra = result->error_extra;
		result->error_extra = NULL;
		onex_handler_result_release(result);
		reply_error(rq, &result->error, extra);
		return;
	}
	stamp_reply(host, &spec, id, ts);
	spec.request = &rq->env;
	spec.success = 1;
	spec.payload = result->payload;
	result->payload = NULL;
	onex_handler_result_release(result);
	publish_reply(rq, &spec);
}

/* Fill what the host may assign (spec §6, REFERENCE "Requests it accepts"). */
static void assign_missing(struct onex_host *host, struct onex_envelope *env)
{
	char id[ONEX_UUID_STR_BYTES];
	const json_t *given = env->json ? json_object_get(env->json, "envelope_id") : NULL;
	if (env->json && !env->envelope_id && (!given || json_is_null(given))) {
		onex_ids_new_uuid(host->env.ids, id);
		onex_envelope_assign_id(env, id);
	}
	if (!env->correlation_id) {
		onex_ids_new_uuid(host->env.ids, id);
		onex_envelope_assign_correlation(env, id);
	}
	if (!env->timestamp)
		onex_envelope_assign_timestamp(env, onex_clock_wall_ns(host->env.clock));
}

static void process(struct request *rq, const struct onex_bus_message *msg)
{
	struct onex_host *host = rq->host;
	struct onex_error err;
	json_t *json = NULL, *extra = NULL;

	onex_error_clear(&err);
	if (msg->len_original > msg->len) {
		onex_error_set(&err, ONEX_ERR_ENVELOPE_VALIDATION_ERROR, NULL, 0, 0,
			       "%s: envelope is %zu bytes; the limit is %u bytes",
			       rq->position, msg->len_original, ONEX_ENVELOPE_BYTES_MAX);
		goto fail;
	}
	if (onex_envelope_parse(msg->data, msg->len, &json, &err) < 0 ||
	    onex_envelope_init(&rq->env, json, &err) < 0) {
		/* Name the input position in the message itself. */
		char text[sizeof(err.text) + sizeof(rq->position) + 2];
		int n = snprintf(text, sizeof(text), "%s: %s", rq->position, err.text);
		size_t keep = n < 0 ? 0 : (size_t)n;
		if (keep >= sizeof(err.text))
			keep = sizeof(err.text) - 1;
		memcpy(err.text, text, keep);
		err.text[keep] = '\0';
		goto fail;
	}
	assign_missing(host, &rq->env);
	rq->handler = onex_node_runtime_route(&host->runtime, &rq->env, &extra, &err);
	if (!rq->handler)
		goto fail;
	onex_log(host->env.log, ONEX_LOG_DEBUG, rq->env.correlation_id,
		 rq->env.envelope_id, "%s: %s -> %s", rq->position, rq->env.operation,
		 rq->handler->ops->unit_name);
	if (onex_loop_timer_add(host->env.loop, host->timeout_ns[rq->env.handler_type],
				on_timeout, rq, &rq->timer_id, &err) < 0)
		goto fail;
	rq->timer_armed = 1;
	rq->handler_pending = 1;
	if (onex_handler_execute(rq->handler, &rq->env, on_handler_done, rq, &err) < 0) {
		rq->handler_pending = 0;
		onex_loop_timer_cancel(host->env.loop, rq->timer_id);
		rq->timer_armed = 0;
		goto fail;
	}
	return;
fail:
	assign_missing(host, &rq->env);
	reply_error(rq, &err, extra);
}

static void on_deliver(void *arg, const struct onex_bus_message *msg)
{
	struct onex_host *host = arg;
	struct request *rq = calloc(1, sizeof(*rq));

	if (!rq)
		ONEX_BUG("out of memory for a request"); /* bounded by inflight_max */
	rq->host = host;
	rq->token = msg->token;
	rq->counted = 1;
	size_t n = strnlen(msg->position, sizeof(rq->position) - 1); /* cut like snprintf */
	memcpy(rq->position, msg->position, n);
	rq->position[n] = '\0';
	rq->next = host->requests;
	if (host->requests)
		host->requests->prev = rq;
	host->requests = rq;
	host->stats.received++;
	host->inflight++;
	update_flow(host);
	process(rq, msg);
}

static void on_input_closed(void *arg)
{
	struct onex_host *host = arg;
	onex_log(host->env.log, ONEX_LOG_INFO, NULL, NULL,
		 "input ended; draining and shutting down");
	onex_host_shutdown(host);
}

/* A unit's configuration error names the unit only: point it at the contract entry. */
static void locate_handler_error(const struct onex_runtime_contract *c,
				 const struct onex_contract_handler *ch, struct onex_error *err)
{
	char text[ONEX_ERROR_TEXT_BYTES + ONEX_ERROR_SOURCE_BYTES + 48];
	if (!err || err->line > 0 || !c->path[0])
		return;
	snprintf(text, sizeof(text), "handler %s%s%s: %s", onex_handler_type_name(ch->type),
		 err->source[0] ? " unit " : "", err->source, err->text);
	snprintf(err->text, sizeof(err->text), "%.*s", (int)sizeof(err->text) - 1, text);
	snprintf(err->source, sizeof(err->source), "%.*s", (int)sizeof(err->source) - 1,
		 c->path);
	err->line = ch->line;
	err->column = ch->column;
}

static int create_handlers(struct onex_host *host, struct onex_error *err)
{
	const struct onex_runtime_contract *c = host->contract;
	struct onex_handler_env henv = { host->env.loop, host->env.clock, host->env.log,
					 host->env.root };
	for (size_t i = 0; i < c->handler_count; i++) {
		const struct onex_contract_handler *ch = &c->handlers[i];
		const struct onex_handler_unit *unit =
			onex_wiring_handler(host->env.wiring, ch->type, err);
		if (!unit)
			return -1;
		struct onex_handler *h = unit->create(&henv, err);
		if (!h)
			return -1;
		host->handlers[host->handler_count++] = h;
		if (onex_handler_initialize(h, ch->config, err) < 0) {
			locate_handler_error(c, ch, err);
			return -1;
		}
		if (onex_node_runtime_register_handler(&host->runtime, h, err) < 0)
			return -1;
		host->timeout_ns[ch->type] = onex_handler_deadline_ms(ch->config) * 1000000u;
		onex_log(host->env.log, ONEX_LOG_INFO, NULL, NULL,
			 "handler %s initialized (unit %s)",
			 onex_handler_type_name(ch->type), unit->unit_name);
	}
	return 0;
}

static int create_bus(struct onex_host *host, struct onex_error *err)
{
	const char *kind = host->opt.bus_kind ? host->opt.bus_kind : host->contract->bus.kind;
	struct onex_bus_env benv = { host->env.loop, host->env.clock, host->env.log,
				     host->env.root };
	host->bus_unit = onex_wiring_bus(host->env.wiring, kind, err);
	if (!host->bus_unit)
		return -1;
	host->bus = host->bus_unit->create(&benv, &host->contract->bus, err);
	if (!host->bus)
		return -1;
	return onex_bus_subscribe(host->bus, host->contract->bus.topic_input, on_deliver,
				  on_input_closed, host, err);
}

int onex_host_new(const struct onex_host_env *env,
		  const struct onex_runtime_contract *contract,
		  const struct onex_host_options *opt, struct onex_host **out,
		  struct onex_error *err)
{
	struct onex_host *host = calloc(1, sizeof(*host));
	*out = NULL;
	if (!host)
		return onex_error_set(err, ONEX_ERR_HANDLER_CONFIGURATION_ERROR, NULL, 0, 0,
				      "out of memory");
	host->env = *env;
	host->contract = contract;
	if (opt)
		host->opt = *opt;
	if (host->opt.inflight_max == 0)
		host->opt.inflight_max = ONEX_HOST_INFLIGHT_DEFAULT;
	if (host->opt.inflight_max > ONEX_HOST_INFLIGHT_MAX)
		host->opt.inflight_max = ONEX_HOST_INFLIGHT_MAX;
	if (host->opt.shutdown_grace_s == 0)
		host->opt.shutdown_grace_s = ONEX_SHUTDOWN_GRACE_S_DEFAULT;
	if (host->opt.shutdown_grace_s < ONEX_SHUTDOWN_GRACE_S_MIN)
		host->opt.shutdown_grace_s = ONEX_SHUTDOWN_GRACE_S_MIN;
	if (host->opt.shutdown_grace_s > ONEX_SHUTDOWN_GRACE_S_MAX)
		host->opt.shutdown_grace_s = ONEX_SHUTDOWN_GRACE_S_MAX;
	for (unsigned i = 0; i < ONEX_HANDLER__COUNT; i++)
		host->timeout_ns[i] = (uint64_t)ONEX_HANDLER_TIMEOUT_MS_DEFAULT * 1000000u;
	onex_node_runtime_init(&host->runtime);

	if (create_handlers(host, err) < 0 ||
	    onex_node_registry_load(&host->nodes, contract, &host->opt.contract, err) < 0 ||
	    create_bus(host, err) < 0) {
		host->stopped = 1; /* nothing was started: free without draining */
		onex_host_free(host);
		return -1;
	}
	onex_node_runtime_set_nodes(&host->runtime, &host->nodes);
	*out = host;
	return 0;
}

int onex_host_start(struct onex_host *host, struct onex_error *err)
{
	if (onex_bus_start_consuming(host->bus, err) < 0)
		return -1;
	host->started = 1;
	update_flow(host);
	onex_log(host->env.log, ONEX_LOG_INFO, NULL, NULL,
		 "consuming %s, replying on %s (bus %s, %u in flight at most)",
		 host->contract->bus.topic_input, host->contract->bus.topic_output,
		 host->bus->ops->kind, host->opt.inflight_max);
	return 0;
}

static void finish_shutdown(void *arg)
{
	struct onex_host *host = arg;
	if (host->stopped)
		return;
	if (host->grace_armed)
		onex_loop_timer_cancel(host->env.loop, host->grace_timer);
	host->grace_armed = 0;
	for (struct request *rq = host->requests; rq; rq = rq->next) {
		if (rq->counted && !rq->replied) {
			host->stats.abandoned++;
			onex_log(host->env.log, ONEX_LOG_ERROR, rq->env.correlation_id,
				 rq->env.envelope_id,
				 "%s: still in flight when the shutdown grace period ended; "
				 "not acknowledged, so an at-least-once bus redelivers it",
				 rq->position);
		}
	}
	for (size_t i = 0; i < host->handler_count; i++)
		onex_handler_shutdown(host->handlers[i]);
	onex_bus_shutdown(host->bus);
	host->stopped = 1;
	onex_log(host->env.log, ONEX_LOG_INFO, NULL, NULL,
		 "stopped: %llu received, %llu ok, %llu errors, %llu publish failures",
		 (unsigned long long)host->stats.received,
		 (unsigned long long)host->stats.responded_ok,
		 (unsigned long long)host->stats.responded_error,
		 (unsigned long long)host->stats.publish_failed);
	onex_loop_stop(host->env.loop);
}

static void check_drained(struct onex_host *host)
{
	if (host->draining && !host->stopped && host->inflight == 0 && host->grace_armed) {
		onex_loop_timer_cancel(host->env.loop, host->grace_timer);
		host->grace_armed = 0;
		onex_loop_timer_add(host->env.loop, 0, finish_shutdown, host, NULL, NULL);
	}
}

void onex_host_shutdown(struct onex_host *host)
{
	if (host->draining || host->stopped)
		return;
	host->draining = 1;
	update_flow(host);
	if (onex_loop_timer_add(host->env.loop,
				(uint64_t)host->opt.shutdown_grace_s * 1000000000u,
				finish_shutdown, host, &host->grace_timer, NULL) == 0)
		host->grace_armed = 1;
	check_drained(host);
	if (!host->grace_armed && !host->stopped) /* no timer could be set */
		finish_shutdown(host);
}

int onex_host_is_stopped(const struct onex_host *host)
{
	return host->stopped;
}

const struct onex_host_stats *onex_host_stats(const struct onex_host *host)
{
	return &host->stats;
}

struct onex_bus *onex_host_bus(struct onex_host *host)
{
	return host->bus;
}

json_t *onex_host_health(struct onex_host *host)
{
	json_t *handlers = json_object(), *failed = json_array();
	for (size_t i = 0; i < host->handler_count; i++) {
		json_t *h = onex_handler_health_check(host->handlers[i]);
		const char *name = onex_handler_type_name(host->handlers[i]->ops->type);
		if (!json_is_true(json_object_get(h, "healthy")))
			json_array_append_new(failed, json_string(name));
		json_object_set_new(handlers, name, h);
	}
	json_t *bus = host->bus ? onex_bus_health_check(host->bus) : json_null();
	int healthy = json_array_size(failed) == 0 && !host->stopped;
	return json_pack("{s:b,s:b,s:b,s:b,s:i,s:o,s:o,s:o,s:o}", "healthy", healthy,
			 "degraded", !healthy && !host->stopped, "is_running",
			 host->started && !host->stopped, "is_draining", host->draining,
			 "pending_message_count", (json_int_t)host->inflight, "event_bus",
			 bus, "failed_handlers", failed, "registered_handlers",
			 onex_node_runtime_available_handlers(&host->runtime), "handlers",
			 handlers);
}

json_t *onex_host_describe_wiring(struct onex_host *host)
{
	const struct onex_runtime_contract *c = host->contract;
	json_t *handlers = json_array(), *nodes = json_array();
	for (size_t i = 0; i < host->handler_count; i++)
		json_array_append_new(handlers, onex_handler_describe(host->handlers[i]));
	for (size_t i = 0; i < host->nodes.count; i++)
		json_array_append_new(nodes, onex_node_contract_describe(host->nodes.nodes[i]));
	json_t *bus = json_pack("{s:s,s:s,s:s,s:o}", "kind", host->bus->ops->kind,
				"input_topic", c->bus.topic_input, "output_topic",
				c->bus.topic_output, "unit", onex_bus_describe(host->bus));
	return json_pack("{s:s,s:{s:s,s:s,s:s,s:s},s:o,s:o,s:o,s:i,s:o}", "binary",
			 host->env.wiring->binary, "contract", "path", c->path, "name",
			 c->name, "version", c->version, "schema_version",
			 c->schema_version, "bus", bus, "handlers", handlers, "nodes",
			 nodes, "inflight_max", (json_int_t)host->opt.inflight_max,
			 "linked", onex_wiring_describe(host->env.wiring));
}

void onex_host_free(struct onex_host *host)
{
	if (!host)
		return;
	if (!host->stopped) {
		for (size_t i = 0; i < host->handler_count; i++)
			onex_handler_shutdown(host->handlers[i]);
		if (host->bus)
			onex_bus_shutdown(host->bus);
	}
	if (host->grace_armed)
		onex_loop_timer_cancel(host->env.loop, host->grace_timer);
	for (struct request *rq = host->requests; rq; rq = rq->next)
		if (rq->timer_armed)
			onex_loop_timer_cancel(host->env.loop, rq->timer_id);
	onex_bus_free(host->bus);
	for (size_t i = 0; i < host->handler_count; i++)
		onex_handler_free(host->handlers[i]);
	while (host->requests) {
		struct request *rq = host->requests;
		host->requests = rq->next;
		onex_envelope_release(&rq->env);
		free(rq);
	}
	onex_node_registry_release(&host->nodes);
	onex_json_out_release(&host->out);
	free(host);
}
