/*
 * world.c - the simulated world and onex-sim's composition: the trace, the
 * sim log, and the recording/fault-injecting decorators around the bus and
 * the handlers.
 */
#include "world.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "fake_http.h"
#include "inmemory_bus.h"
#include "local_handler.h"
#include "seeded_ids.h"
#include "sqlite_db.h"
#include "wiring.h"

static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n);
	if (!q)
		ONEX_BUG("out of memory (%zu bytes)", n);
	return q;
}

static char *xstrndup(const char *s, size_t n)
{
	char *d = xrealloc(NULL, n + 1);
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

uint64_t onex_sim_world_now_us(const struct onex_sim_world *w)
{
	return onex_sim_scheduler_now_ns(w->sched) / 1000u;
}

void onex_sim_trace(struct onex_sim_world *w, const char *event, json_t *fields)
{
	if (!w->want_trace) {
		json_decref(fields);
		return;
	}
	json_t *line = json_pack("{s:I,s:s}", "t_us", (json_int_t)onex_sim_world_now_us(w),
				 "event", event);
	if (fields)
		json_object_update(line, fields);
	json_decref(fields);
	char *text = json_dumps(line, JSON_COMPACT);
	json_decref(line);
	size_t n = strlen(text);
	if (w->trace_len + n + 2 > w->trace_cap) {
		w->trace_cap = (w->trace_len + n + 2) * 2;
		w->trace = xrealloc(w->trace, w->trace_cap);
	}
	memcpy(w->trace + w->trace_len, text, n);
	w->trace_len += n;
	w->trace[w->trace_len++] = '\n';
	w->trace[w->trace_len] = '\0';
	free(text);
}

/* ---- the sim log: lines go to the trace ------------------------------------ */
static void sim_log_write(struct onex_log *log, enum onex_log_level level,
			  const char *correlation_id, const char *envelope_id,
			  const char *message)
{
	struct onex_sim_world *w = (struct onex_sim_world *)((char *)log -
							    offsetof(struct onex_sim_world, log));
	if (level >= ONEX_LOG_WARN)
		w->warnings++;
	if (w->log_count == ONEX_SIM_LOG_LINES_MAX) {
		w->logs_not_kept++;
	} else {
		if (w->log_count == w->log_cap) {
			w->log_cap = w->log_cap ? w->log_cap * 2 : 16;
			w->logs = xrealloc(w->logs, w->log_cap * sizeof(*w->logs));
		}
		struct onex_sim_logline *l = &w->logs[w->log_count++];
		l->level = level;
		l->correlation_id = correlation_id ? xstrndup(correlation_id, strlen(correlation_id)) : NULL;
		l->envelope_id = envelope_id ? xstrndup(envelope_id, strlen(envelope_id)) : NULL;
		l->msg = xstrndup(message, strlen(message));
		l->t_us = onex_sim_world_now_us(w);
	}
	if (!w->want_trace)
		return;
	json_t *f = json_pack("{s:s}", "level", onex_log_level_name(level));
	if (correlation_id)
		json_object_set_new(f, "correlation_id", json_string(correlation_id));
	if (envelope_id)
		json_object_set_new(f, "envelope_id", json_string(envelope_id));
	json_object_set_new(f, "msg", onex_json_string_lossy(message));
	ONEX_SIM_TRACE(w, "log", f);
}

static const struct onex_log_ops sim_log_ops = { "sim-trace", sim_log_write, NULL };

/* ---- traced bus ------------------------------------------------------------- */
struct traced_bus {
	struct onex_bus base;
	struct onex_bus *inner;
	struct onex_sim_world *w;
	onex_bus_deliver_cb deliver;
	onex_bus_closed_cb closed;
	void *arg;
};

static struct traced_bus *tb(struct onex_bus *bus)
{
	return (struct traced_bus *)bus;
}

static void wake(void *arg)
{
	(void)arg; /* an event at the time a delayed message becomes visible */
}

static void record_publish(struct onex_sim_world *w, const char *topic, const char *data,
			   size_t len, int dropped, uint64_t delay_ns)
{
	if (w->published_count == w->published_cap) {
		w->published_cap = w->published_cap ? w->published_cap * 2 : 64;
		w->published = xrealloc(w->published, w->published_cap * sizeof(*w->published));
	}
	struct onex_sim_publish *p = &w->published[w->published_count++];
	p->topic = xstrndup(topic, strlen(topic));
	p->data = xstrndup(data, len);
	p->len = len;
	p->t_us = onex_sim_world_now_us(w);
	p->visible_us = p->t_us + delay_ns / 1000u;
	p->by_host = !w->scenario_publishing;
	p->dropped = dropped;
	p->refused = 0;
	if (delay_ns)
		onex_loop_timer_add(w->loop, delay_ns, wake, NULL, NULL, NULL);
}

/* The bytes as trace data: the JSON value when they parse, else a string. */
static json_t *trace_data(const char *data, size_t len)
{
	json_t *v = len <= 4096 ? json_loadb(data, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL) : NULL;
	if (v)
		return v;
	if (len > 256) /* large or binary inputs: their size is what matters */
		return json_pack("{s:I}", "bytes", (json_int_t)len);
	char *copy = xstrndup(data, len);
	v = onex_json_string_lossy(copy);
	free(copy);
	return v;
}

static void traced_deliver(void *arg, const struct onex_bus_message *msg)
{
	struct traced_bus *bus = arg;
	struct onex_sim_world *w = bus->w;
	if (w->delivered_count == w->delivered_cap) {
		w->delivered_cap = w->delivered_cap ? w->delivered_cap * 2 : 64;
		w->delivered = xrealloc(w->delivered, w->delivered_cap * sizeof(*w->delivered));
	}
	struct onex_sim_delivery *d = &w->delivered[w->delivered_count++];
	d->topic = xstrndup(msg->topic, strlen(msg->topic));
	d->data = xstrndup(msg->data, msg->len);
	d->len = msg->len;
	d->t_us = onex_sim_world_now_us(w);
	d->position = xstrndup(msg->position, strlen(msg->position));
	ONEX_SIM_TRACE(w, "deliver", json_pack("{s:s,s:s,s:I}", "topic", msg->topic,
					       "position", msg->position, "bytes",
					       (json_int_t)msg->len_original));
	bus->deliver(bus->arg, msg);
}

static void traced_closed(void *arg)
{
	struct traced_bus *bus = arg;
	ONEX_SIM_TRACE(bus->w, "input_closed", NULL);
	if (bus->closed)
		bus->closed(bus->arg);
}

static int tbus_subscribe(struct onex_bus *base, const char *topic, onex_bus_deliver_cb cb,
			  onex_bus_closed_cb closed, void *arg, struct onex_error *err)
{
	struct traced_bus *bus = tb(base);
	bus->deliver = cb;
	bus->closed = closed;
	bus->arg = arg;
	return onex_bus_subscribe(bus->inner, topic, traced_deliver, traced_closed, bus, err);
}

static int tbus_start(struct onex_bus *base, struct onex_error *err)
{
	return onex_bus_start_consuming(tb(base)->inner, err);
}

struct dropped_done {
	onex_bus_published_cb done;
	void *arg;
};

static void confirm_dropped(void *arg)
{
	struct dropped_done *d = arg;
	d->done(d->arg, 0, NULL); /* the publisher believes it was sent */
	free(d);
}

/* The inner bus refused what was recorded at [first, first + n): nobody will see it. */
static int publish_refused(struct onex_sim_world *w, size_t first, size_t n,
			   const struct onex_error *err)
{
	for (size_t i = first; i < first + n; i++)
		w->published[i].refused = 1;
	ONEX_SIM_TRACE(w, "publish_refused",
		       json_pack("{s:s,s:s,s:s}", "topic", w->published[first].topic, "code",
				 onex_error_code_name(err->code), "message", err->text));
	return -1;
}

static int tbus_publish(struct onex_bus *base, const char *topic, const char *key,
			const char *data, size_t len, onex_bus_published_cb done,
			void *done_arg, struct onex_error *err)
{
	struct traced_bus *bus = tb(base);
	struct onex_sim_world *w = bus->w;
	struct onex_sim_topic_fault *f = NULL;
	for (size_t i = 0; i < w->topic_fault_count; i++)
		if (strcmp(w->topic_faults[i].topic, topic) == 0)
			f = &w->topic_faults[i];
	int drop = f && f->drop > 0;
	int duplicate = !drop && f && f->duplicate > 0;
	uint64_t delay_ns = f ? f->delay_ns : 0;
	record_publish(w, topic, data, len, drop, delay_ns);
	if (duplicate) /* readers of the topic see it twice */
		record_publish(w, topic, data, len, 0, delay_ns);
	ONEX_SIM_TRACE(w, "publish",
		       json_pack("{s:s,s:s,s:o}", "topic", topic, "by",
				 w->scenario_publishing ? "scenario" : "host", "data",
				 trace_data(data, len)));
	if (drop) {
		f->drop--;
		ONEX_SIM_TRACE(w, "fault", json_pack("{s:s,s:s}", "kind", "drop_publish", "topic", topic));
		if (done) {
			struct dropped_done *d = xrealloc(NULL, sizeof(*d));
			d->done = done;
			d->arg = done_arg;
			onex_loop_timer_add(w->loop, 0, confirm_dropped, d, NULL, NULL);
		}
		return 0;
	}
	size_t first = w->published_count - (duplicate ? 2 : 1);
	if (duplicate) {
		f->duplicate--;
		ONEX_SIM_TRACE(w, "fault",
			       json_pack("{s:s,s:s}", "kind", "duplicate_delivery", "topic", topic));
		if (onex_bus_publish(bus->inner, topic, key, data, len, NULL, NULL, err) < 0)
			return publish_refused(w, first, 2, err);
	}
	/* With a duplicate, its first copy is out already: only the second is refused. */
	if (onex_bus_publish(bus->inner, topic, key, data, len, done, done_arg, err) < 0)
		return publish_refused(w, first + (size_t)duplicate, 1, err);
	return 0;
}

static void tbus_ack(struct onex_bus *base, uint64_t token)
{
	onex_bus_ack(tb(base)->inner, token);
}

static void tbus_release(struct onex_bus *base, uint64_t token)
{
	onex_bus_release(tb(base)->inner, token);
}

static void tbus_pause(struct onex_bus *base)
{
	onex_bus_pause(tb(base)->inner);
}

static void tbus_resume(struct onex_bus *base)
{
	onex_bus_resume(tb(base)->inner);
}

static json_t *tbus_health(struct onex_bus *base)
{
	return onex_bus_health_check(tb(base)->inner);
}

static json_t *tbus_describe(struct onex_bus *base)
{
	return onex_bus_describe(tb(base)->inner);
}

static void tbus_shutdown(struct onex_bus *base)
{
	onex_bus_shutdown(tb(base)->inner);
}

static void tbus_free(struct onex_bus *base)
{
	struct traced_bus *bus = tb(base);
	if (bus->w->bus == base)
		bus->w->bus = NULL;
	onex_bus_free(bus->inner);
	free(bus);
}

static const struct onex_bus_ops traced_bus_ops = {
	.kind = "inmemory",
	.subscribe = tbus_subscribe,
	.start_consuming = tbus_start,
	.publish = tbus_publish,
	.ack = tbus_ack,
	.release = tbus_release,
	.pause = tbus_pause,
	.resume = tbus_resume,
	.health_check = tbus_health,
	.describe = tbus_describe,
	.shutdown = tbus_shutdown,
	.free = tbus_free,
};

static struct onex_bus *traced_bus_create(const struct onex_bus_env *env,
					  const struct onex_contract_bus *config,
					  struct onex_error *err)
{
	struct onex_sim_world *w = env->root;
	/* kafka/stdio contracts run on the in-memory bus here, with its defaults; an
	 * inmemory contract's config (queue_bytes_max, history_size) applies. */
	int own = config && strcmp(config->kind, "inmemory") == 0;
	struct onex_bus *inner = onex_inmemory_bus_unit.create(env, own ? config : NULL, err);
	if (!inner)
		return NULL;
	struct traced_bus *bus = xrealloc(NULL, sizeof(*bus));
	memset(bus, 0, sizeof(*bus));
	bus->base.ops = &traced_bus_ops;
	bus->inner = inner;
	bus->w = w;
	w->bus = &bus->base;
	return &bus->base;
}

static const struct onex_bus_unit traced_inmemory_unit = { "inmemory", traced_bus_create };

/* ---- traced handlers -------------------------------------------------------- */
struct traced_handler {
	struct onex_handler base;
	struct onex_handler *inner;
	struct onex_sim_world *w;
	struct traced_call *held; /* calls a handler_timeout fault swallowed */
};

struct traced_call {
	struct traced_handler *th;
	const struct onex_envelope *req;
	onex_handler_done_cb done;
	void *arg;
	int forwarded; /* the inner handler took the call */
	struct traced_call *next;
};

static const char *type_name(const struct traced_handler *th)
{
	return onex_handler_type_name(th->base.ops->type);
}

static void traced_done(void *arg, struct onex_handler_result *result)
{
	struct traced_call *call = arg;
	struct traced_handler *th = call->th;
	if (th->w->want_trace) {
		json_t *f = json_pack("{s:s,s:b}", "handler", type_name(th), "ok", result->ok);
		if (!result->ok) {
			json_object_set_new(f, "code",
					    json_string(onex_error_code_name(result->error.code)));
			json_object_set_new(f, "message", onex_json_string_lossy(result->error.text));
		}
		onex_sim_trace(th->w, "handler_result", f);
	}
	if (call->forwarded)
		onex_handler_finished(th->inner);
	call->done(call->arg, result);
	free(call);
}

static void forward(void *arg)
{
	struct traced_call *call = arg;
	struct traced_handler *th = call->th;
	struct onex_error err;
	onex_error_clear(&err);
	if (th->w->handler_fault[th->base.ops->type].error) {
		struct onex_handler_result r;
		onex_handler_result_fail(&r, ONEX_ERR_HANDLER_EXECUTION_ERROR,
					 "handler '%s' failed: injected fault", type_name(th));
		ONEX_SIM_TRACE(th->w, "fault", json_pack("{s:s,s:s}", "kind", "handler_error",
							 "handler", type_name(th)));
		traced_done(call, &r);
		return;
	}
	call->forwarded = 1;
	if (onex_handler_execute(th->inner, call->req, traced_done, call, &err) < 0) {
		call->forwarded = 0;
		struct onex_handler_result r;
		onex_handler_result_fail(&r, err.code, "%s", err.text);
		traced_done(call, &r);
	}
}

static void th_execute(struct onex_handler *h, const struct onex_envelope *req,
		       onex_handler_done_cb done, void *done_arg)
{
	struct traced_handler *th = (struct traced_handler *)h;
	struct onex_sim_world *w = th->w;
	enum onex_handler_type type = h->ops->type;
	struct traced_call *call = xrealloc(NULL, sizeof(*call));
	*call = (struct traced_call){ th, req, done, done_arg, 0, NULL };
	ONEX_SIM_TRACE(w, "handler_call",
		       json_pack("{s:s,s:s,s:s?,s:s?}", "handler", type_name(th), "operation",
				 req->operation, "envelope_id", req->envelope_id,
				 "correlation_id", req->correlation_id));
	if (w->handler_fault[type].timeout) {
		/* Never answered: the host's timeout replies; held until free. */
		ONEX_SIM_TRACE(w, "fault", json_pack("{s:s,s:s}", "kind", "handler_timeout",
						     "handler", type_name(th)));
		call->next = th->held;
		th->held = call;
		return;
	}
	/* Always through the loop, so the call is never answered from inside execute. */
	onex_loop_timer_add(w->loop, w->handler_fault[type].latency_ns, forward, call, NULL, NULL);
}

static int th_initialize(struct onex_handler *h, const json_t *config, struct onex_error *err)
{
	return onex_handler_initialize(((struct traced_handler *)h)->inner, config, err);
}

static json_t *th_health(struct onex_handler *h)
{
	return onex_handler_health_check(((struct traced_handler *)h)->inner);
}

static json_t *th_describe(const struct onex_handler *h)
{
	return onex_handler_describe(((const struct traced_handler *)h)->inner);
}

static void th_shutdown(struct onex_handler *h)
{
	onex_handler_shutdown(((struct traced_handler *)h)->inner);
}

static void th_free(struct onex_handler *h)
{
	struct traced_handler *th = (struct traced_handler *)h;
	while (th->held) {
		struct traced_call *c = th->held;
		th->held = c->next;
		free(c);
	}
	if (th->w->handlers[h->ops->type] == h)
		th->w->handlers[h->ops->type] = NULL;
	onex_handler_free(th->inner);
	free(th);
}

#define TRACED_OPS(var, htype, unit)                                                      \
	static const struct onex_handler_ops var = {                                      \
		.type = htype,                                                            \
		.unit_name = unit,                                                        \
		.initialize = th_initialize,                                              \
		.execute = th_execute,                                                    \
		.health_check = th_health,                                                \
		.describe = th_describe,                                                  \
		.shutdown = th_shutdown,                                                  \
		.free = th_free,                                                          \
	}
TRACED_OPS(traced_http_ops, ONEX_HANDLER_HTTP, "sim-http");
TRACED_OPS(traced_db_ops, ONEX_HANDLER_DB, "sim-sqlite");
TRACED_OPS(traced_local_ops, ONEX_HANDLER_LOCAL, "local");

static struct onex_handler *traced_create(const struct onex_handler_env *env,
					  const struct onex_handler_unit *inner_unit,
					  const struct onex_handler_ops *ops,
					  struct onex_error *err)
{
	struct onex_sim_world *w = env->root;
	struct onex_handler *inner = inner_unit->create(env, err);
	if (!inner)
		return NULL;
	struct traced_handler *th = xrealloc(NULL, sizeof(*th));
	memset(th, 0, sizeof(*th));
	onex_handler_base_init(&th->base, ops, env);
	th->inner = inner;
	th->w = w;
	w->handlers[ops->type] = &th->base;
	return &th->base;
}

static struct onex_handler *traced_http_create(const struct onex_handler_env *env,
					       struct onex_error *err)
{
	return traced_create(env, &onex_fake_http_unit, &traced_http_ops, err);
}

static struct onex_handler *traced_db_create(const struct onex_handler_env *env,
					     struct onex_error *err)
{
	return traced_create(env, &onex_sqlite_db_unit, &traced_db_ops, err);
}

static struct onex_handler *traced_local_create(const struct onex_handler_env *env,
						struct onex_error *err)
{
	return traced_create(env, &onex_local_handler_unit, &traced_local_ops, err);
}

static const struct onex_handler_unit traced_http_unit = { ONEX_HANDLER_HTTP, "sim-http",
							   traced_http_create };
static const struct onex_handler_unit traced_db_unit = { ONEX_HANDLER_DB, "sim-sqlite",
							 traced_db_create };
static const struct onex_handler_unit traced_local_unit = { ONEX_HANDLER_LOCAL, "local",
							    traced_local_create };

static const struct onex_handler_unit *const sim_handlers[] = {
	&traced_http_unit, &traced_db_unit, &traced_local_unit
};
static const struct onex_bus_unit *const sim_buses[] = { &traced_inmemory_unit };

const struct onex_wiring onex_sim_wiring = {
	.binary = "onex-sim",
	.handlers = sim_handlers,
	.handler_count = sizeof(sim_handlers) / sizeof(sim_handlers[0]),
	.buses = sim_buses,
	.bus_count = sizeof(sim_buses) / sizeof(sim_buses[0]),
};

/* ---- the world -------------------------------------------------------------- */
struct onex_sim_world *onex_sim_world_new(uint64_t seed, int want_trace)
{
	struct onex_sim_world *w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->seed = seed;
	w->want_trace = want_trace;
	w->sched = onex_sim_scheduler_new(ONEX_SIM_EPOCH_NS);
	w->loop = onex_sim_scheduler_loop(w->sched);
	w->clock = onex_sim_scheduler_clock(w->sched);
	onex_prng_init(&w->prng, seed);
	/* The "ids" fork of the root: the derivation onex-host --id-seed repeats. */
	w->ids = onex_seeded_ids_from_seed(seed);
	w->log.ops = &sim_log_ops;
	w->log.min_level = ONEX_LOG_INFO;
	return w;
}

void onex_sim_world_free(struct onex_sim_world *w)
{
	if (!w)
		return;
	for (size_t i = 0; i < w->published_count; i++) {
		free(w->published[i].topic);
		free(w->published[i].data);
	}
	for (size_t i = 0; i < w->delivered_count; i++) {
		free(w->delivered[i].topic);
		free(w->delivered[i].data);
		free(w->delivered[i].position);
	}
	for (size_t i = 0; i < w->log_count; i++) {
		free(w->logs[i].correlation_id);
		free(w->logs[i].envelope_id);
		free(w->logs[i].msg);
	}
	free(w->logs);
	free(w->published);
	free(w->delivered);
	free(w->trace);
	onex_ids_free(w->ids);
	onex_sim_scheduler_free(w->sched);
	free(w);
}

struct onex_handler *onex_sim_world_inner_handler(struct onex_sim_world *w,
						  enum onex_handler_type type)
{
	struct onex_handler *h = w->handlers[type];
	return h ? ((struct traced_handler *)h)->inner : NULL;
}

struct onex_bus *onex_sim_world_inner_bus(struct onex_sim_world *w)
{
	return w->bus ? tb(w->bus)->inner : NULL;
}

int onex_sim_world_publish(struct onex_sim_world *w, const char *topic, const char *data,
			   size_t len, struct onex_error *err)
{
	if (!w->bus)
		return onex_error_set(err, ONEX_ERR_EVENT_BUS_ERROR, "onex-sim", 0, 0,
				      "no bus: the host did not start");
	w->scenario_publishing = 1;
	int rc = onex_bus_publish(w->bus, topic, NULL, data, len, NULL, NULL, err);
	w->scenario_publishing = 0;
	return rc;
}

struct onex_sim_topic_fault *onex_sim_world_topic_fault(struct onex_sim_world *w,
							const char *topic)
{
	for (size_t i = 0; i < w->topic_fault_count; i++)
		if (strcmp(w->topic_faults[i].topic, topic) == 0)
			return &w->topic_faults[i];
	if (w->topic_fault_count == sizeof(w->topic_faults) / sizeof(w->topic_faults[0]))
		return NULL;
	struct onex_sim_topic_fault *f = &w->topic_faults[w->topic_fault_count++];
	memset(f, 0, sizeof(*f));
	snprintf(f->topic, sizeof(f->topic), "%s", topic);
	return f;
}
