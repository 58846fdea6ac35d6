/*
 * scenario_run.c - run one scenario: build the world and the host with
 * onex-sim's units, load fixtures, schedule faults, execute the steps in
 * virtual time, settle, check invariants, shut down, report.
 */
#include "scenario_run.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contract.h"
#include "fake_http.h"
#include "host.h"
#include "inmemory_bus.h"
#include "invariants.h"
#include "match.h"
#include "scenario.h"
#include "sqlite_db.h"
#include "world.h"

#define MS_NS 1000000ull
#define FAILURE_BYTES 16384u

struct run {
	struct onex_scenario *sc;
	struct onex_sim_world *w;
	struct onex_runtime_contract *contract;
	struct onex_host *host;
	struct onex_sim_names *names;
	char input[ONEX_TOPIC_BYTES_MAX + 1], output[ONEX_TOPIC_BYTES_MAX + 1];
	size_t cursor_published; /* per-topic expect cursors are scans from here */
	struct topic_cursor {
		char topic[ONEX_TOPIC_BYTES_MAX + 1];
		size_t next; /* index into w->published of the next unconsumed */
	} cursors[16];
	size_t cursor_count;
	size_t log_next; /* index into w->logs of the first line expect_log has not consumed */
	char failure[FAILURE_BYTES];
	struct onex_scenario_result *res;
	struct onex_node_text node_texts[ONEX_SCENARIO_NODES_MAX];
};

static void failf(struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void failf(struct run *r, const char *fmt, ...)
{
	size_t n = strlen(r->failure);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->failure + n, sizeof(r->failure) - n, fmt, ap);
	va_end(ap);
}

static const char *topic_of(struct run *r, const char *name)
{
	if (strcmp(name, "input") == 0)
		return r->input;
	if (strcmp(name, "output") == 0)
		return r->output;
	return name;
}

static struct topic_cursor *cursor(struct run *r, const char *topic)
{
	for (size_t i = 0; i < r->cursor_count; i++)
		if (strcmp(r->cursors[i].topic, topic) == 0)
			return &r->cursors[i];
	if (r->cursor_count == sizeof(r->cursors) / sizeof(r->cursors[0]))
		return &r->cursors[0];
	struct topic_cursor *c = &r->cursors[r->cursor_count++];
	snprintf(c->topic, sizeof(c->topic), "%s", topic);
	c->next = 0;
	return c;
}

/* Index of the next message on `topic` that a reader would see (not dropped), or -1. */
static long next_on_topic(struct run *r, struct topic_cursor *c)
{
	uint64_t now_us = onex_sim_world_now_us(r->w);
	for (size_t i = c->next; i < r->w->published_count; i++) {
		const struct onex_sim_publish *p = &r->w->published[i];
		if (!p->dropped && !p->refused && strcmp(p->topic, c->topic) == 0)
			return p->visible_us <= now_us ? (long)i : -1; /* FIFO: none overtakes */
	}
	return -1;
}

static uint64_t now_ns(struct run *r)
{
	return onex_sim_scheduler_now_ns(r->w->sched);
}

static void run_until(struct run *r, uint64_t t_ns)
{
	onex_sim_scheduler_run_until(r->w->sched, t_ns);
}

/* ---- faults ------------------------------------------------------------------ */
struct fault_timer {
	struct run *r;
	const struct onex_scenario_fault *f;
	int begin;
};

static void apply_fault(void *arg)
{
	struct fault_timer *ft = arg;
	struct run *r = ft->r;
	struct onex_sim_world *w = r->w;
	const struct onex_scenario_fault *f = ft->f;
	int on = ft->begin;
	const char *topic = topic_of(r, f->topic);
	static const char *const names[] = { "handler_latency", "handler_error", "handler_timeout",
					     "db_unavailable",	"bus_delay",	 "duplicate_delivery",
					     "drop_publish",	"clock_jump" };
	if (w->want_trace) {
		json_t *detail = json_pack("{s:s,s:s}", "kind", names[f->kind], "phase",
					   on ? "begin" : "end");
		if (f->kind <= ONEX_FAULT_HANDLER_TIMEOUT)
			json_object_set_new(detail, "handler",
					    json_string(onex_handler_type_name(f->handler)));
		if (f->topic[0])
			json_object_set_new(detail, "topic", json_string(topic));
		onex_sim_trace(w, "fault", detail);
	}
	switch (f->kind) {
	case ONEX_FAULT_HANDLER_LATENCY:
		w->handler_fault[f->handler].latency_ns = on ? f->value_ms * MS_NS : 0;
		break;
	case ONEX_FAULT_HANDLER_ERROR:
		w->handler_fault[f->handler].error = on;
		break;
	case ONEX_FAULT_HANDLER_TIMEOUT:
		w->handler_fault[f->handler].timeout = on;
		break;
	case ONEX_FAULT_DB_UNAVAILABLE: {
		struct onex_handler *db = onex_sim_world_inner_handler(w, ONEX_HANDLER_DB);
		if (db)
			onex_sqlite_db_set_unavailable(db, on);
		break;
	}
	case ONEX_FAULT_BUS_DELAY: {
		struct onex_sim_topic_fault *tf = onex_sim_world_topic_fault(w, topic);
		if (tf)
			tf->delay_ns = on ? f->value_ms * MS_NS : 0;
		if (onex_sim_world_inner_bus(w))
			onex_inmemory_bus_set_delivery_delay(onex_sim_world_inner_bus(w), topic,
							     on ? f->value_ms * MS_NS : 0, NULL);
		break;
	}
	case ONEX_FAULT_DUPLICATE_DELIVERY:
	case ONEX_FAULT_DROP_PUBLISH: {
		struct onex_sim_topic_fault *tf = onex_sim_world_topic_fault(w, topic);
		if (tf && f->kind == ONEX_FAULT_DUPLICATE_DELIVERY)
			tf->duplicate += f->count;
		else if (tf)
			tf->drop += f->count;
		break;
	}
	case ONEX_FAULT_CLOCK_JUMP:
		onex_sim_scheduler_advance_clock(w->sched, (int64_t)(f->value_ms * MS_NS));
		break;
	}
	free(ft);
}

static void schedule_faults(struct run *r)
{
	for (size_t i = 0; i < r->sc->fault_count; i++) {
		const struct onex_scenario_fault *f = &r->sc->faults[i];
		struct fault_timer *begin = malloc(sizeof(*begin));
		*begin = (struct fault_timer){ r, f, 1 };
		if (f->at_ms == 0) /* in force before the first step publishes */
			apply_fault(begin);
		else
			onex_loop_timer_add(r->w->loop, f->at_ms * MS_NS, apply_fault, begin, NULL,
					    NULL);
		if (f->for_ms != UINT64_MAX) {
			struct fault_timer *end = malloc(sizeof(*end));
			*end = (struct fault_timer){ r, f, 0 };
			onex_loop_timer_add(r->w->loop, (f->at_ms + f->for_ms) * MS_NS, apply_fault,
					    end, NULL, NULL);
		}
	}
}

/* ---- start-up ------------------------------------------------------------- */
/* Hand the scenario's inline node contracts to the node registry, by slug. */
static int attach_nodes(struct run *r, struct onex_error *err)
{
	struct onex_scenario *sc = r->sc;
	for (size_t i = 0; i < sc->node_count; i++) {
		const struct onex_scenario_node *sn = &sc->nodes[i];
		size_t k = 0;
		while (k < r->contract->node_count && strcmp(r->contract->nodes[k].slug, sn->slug))
			k++;
		if (k == r->contract->node_count) {
			onex_error_set(err, ONEX_ERR_CONTRACT_VALIDATION_ERROR, sc->path, sn->line,
				       sn->column,
				       "inline node contract '%s' is not listed in the runtime "
				       "contract's runtime.nodes", sn->slug);
			onex_error_action(err, "add { slug: %s } to runtime.nodes, or remove nodes.%s",
					  sn->slug, sn->slug);
			return -1;
		}
		r->node_texts[i] = (struct onex_node_text){ sn->slug, sn->text, strlen(sn->text),
							     sc->path, sn->line_offset };
	}
	r->contract->node_texts = r->node_texts;
	r->contract->node_text_count = sc->node_count;
	return 0;
}

static int load_contract(struct run *r, struct onex_error *err)
{
	struct onex_scenario *sc = r->sc;
	struct onex_contract_options copt = { sc->lenient, sc->production };
	int rc;
	if (sc->contract_inline) {
		rc = onex_runtime_contract_load_text(sc->contract_inline, strlen(sc->contract_inline),
						     sc->path, sc->dir, sc->contract_line_offset,
						     &copt, &r->contract, err);
	} else {
		rc = onex_runtime_contract_load(sc->contract_path, &copt, &r->contract, err);
	}
	return rc < 0 ? -1 : attach_nodes(r, err);
}

static int load_fixtures(struct run *r, struct onex_error *err)
{
	struct onex_scenario *sc = r->sc;
	if (sc->http_stubs) {
		struct onex_handler *http = onex_sim_world_inner_handler(r->w, ONEX_HANDLER_HTTP);
		if (!http)
			return onex_error_set(err, ONEX_ERR_HANDLER_CONFIGURATION_ERROR, sc->path, 0, 0,
					      "fixtures.http is given but the contract has no http handler");
		if (onex_fake_http_add_stubs(http, sc->http_stubs, err) < 0)
			return -1;
	}
	for (size_t i = 0; i < sc->sql_count; i++) {
		struct onex_handler *db = onex_sim_world_inner_handler(r->w, ONEX_HANDLER_DB);
		if (!db)
			return onex_error_set(err, ONEX_ERR_HANDLER_CONFIGURATION_ERROR, sc->path, 0, 0,
					      "fixtures.sql is given but the contract has no db handler");
		if (onex_sqlite_db_exec_script(db, sc->sql[i], err) < 0) {
			char text[ONEX_ERROR_TEXT_BYTES];
			snprintf(text, sizeof(text), "%s", err->text);
			snprintf(err->text, sizeof(err->text), "SQL fixture %.200s: %.700s",
				 sc->sql_names[i], text);
			return -1;
		}
	}
	return 0;
}

/* 0 when the host runs; 1 when start-up failed as expected; -1 failure. */
static int start(struct run *r)
{
	struct onex_scenario *sc = r->sc;
	struct onex_error err;
	char text[4096];
	onex_error_clear(&err);
	int rc = load_contract(r, &err);
	if (rc == 0) {
		struct onex_host_env env = { r->w->loop, r->w->clock, r->w->ids, &r->w->log,
					     &onex_sim_wiring, r->w };
		struct onex_host_options opt = { 0, 0, "inmemory", { sc->lenient, sc->production } };
		rc = onex_host_new(&env, r->contract, &opt, &r->host, &err);
		if (rc == 0)
			rc = load_fixtures(r, &err);
	}
	ONEX_SIM_TRACE(r->w, "startup", json_pack("{s:b,s:s?}", "ok", rc == 0, "error",
						  rc == 0 ? NULL : onex_error_code_name(err.code)));
	onex_error_format(&err, text, sizeof(text));
	if (sc->expect_startup_failure) {
		if (rc == 0) {
			failf(r, "start-up: expected it to fail with %s, but the host started\n",
			      onex_error_code_name(sc->startup_code));
			return -1;
		}
		if (err.code != sc->startup_code || !strstr(text, sc->startup_message)) {
			failf(r, "start-up failed, but not as expected:\n  expected: %s containing \"%s\"\n"
				 "  got:      %s: %s\n",
			      onex_error_code_name(sc->startup_code), sc->startup_message,
			      onex_error_code_name(err.code), text);
			return -1;
		}
		return 1;
	}
	if (rc < 0) {
		failf(r, "start-up failed: %s: %s\n", onex_error_code_name(err.code), text);
		return -1;
	}
	snprintf(r->input, sizeof(r->input), "%s", r->contract->bus.topic_input);
	snprintf(r->output, sizeof(r->output), "%s", r->contract->bus.topic_output);
	schedule_faults(r);
	if (onex_host_start(r->host, &err) < 0) {
		failf(r, "start-up failed: %s\n", err.text);
		return -1;
	}
	return 0;
}

/* ---- steps -------------------------------------------------------------------- */
static void step_header(struct run *r, size_t i, const struct onex_scenario_step *st)
{
	failf(r, "step %zu (%s, %s:%d) failed at t=%.3f ms:\n", i + 1, onex_step_kind_name(st->kind),
	      r->sc->path, st->line, (double)now_ns(r) / 1e6);
	r->res->failed_step = (int)i + 1;
	r->res->failed_line = st->line;
}

static int do_publish(struct run *r, size_t i, const struct onex_scenario_step *st)
{
	struct onex_error err;
	char why[512] = "";
	char *data = st->raw;
	size_t len = st->raw_len;
	json_t *env = NULL;
	onex_error_clear(&err);
	if (st->envelope) {
		env = onex_sim_substitute(st->envelope, r->names, why, sizeof(why));
		if (!env) {
			step_header(r, i, st);
			failf(r, "  %s\n", why);
			return -1;
		}
		data = json_dumps(env, JSON_COMPACT);
		len = strlen(data);
	}
	ONEX_SIM_TRACE(r->w, "step", json_pack("{s:I,s:s}", "step", (json_int_t)i + 1, "kind", "publish"));
	int rc = onex_sim_world_publish(r->w, topic_of(r, st->topic), data, len, &err);
	if (rc == 0 && st->as[0])
		onex_sim_names_add(r->names, st->as, env);
	if (st->envelope)
		free(data);
	json_decref(env);
	if (rc < 0) {
		step_header(r, i, st);
		failf(r, "  publish refused: %s\n", err.text);
	}
	return rc;
}

static int do_expect(struct run *r, size_t i, const struct onex_scenario_step *st)
{
	const char *topic = topic_of(r, st->topic);
	struct topic_cursor *c = cursor(r, topic);
	uint64_t deadline = now_ns(r) + st->ms * MS_NS;
	long at;
	ONEX_SIM_TRACE(r->w, "step", json_pack("{s:I,s:s}", "step", (json_int_t)i + 1, "kind", "expect"));
	while ((at = next_on_topic(r, c)) < 0) {
		uint64_t next;
		if (onex_sim_scheduler_next_due_ns(r->w->sched, &next) < 0 || next > deadline) {
			run_until(r, deadline);
			if ((at = next_on_topic(r, c)) >= 0)
				break;
			step_header(r, i, st);
			failf(r, "  nothing was published on %s within %llu ms\n", topic,
			      (unsigned long long)st->ms);
			return -1;
		}
		run_until(r, next);
	}
	const struct onex_sim_publish *p = &r->w->published[at];
	c->next = (size_t)at + 1;
	json_t *actual = json_loadb(p->data, p->len, JSON_ALLOW_NUL, NULL);
	char why[512] = "";
	json_t *pattern = onex_sim_substitute(st->envelope, r->names, why, sizeof(why));
	char diff[8192] = "";
	int rc = 0;
	if (!pattern) {
		step_header(r, i, st);
		failf(r, "  %s\n", why);
		rc = -1;
	} else if (!actual) {
		step_header(r, i, st);
		failf(r, "  the message on %s is not JSON: %.300s\n", topic, p->data);
		rc = -1;
	} else if (onex_sim_match(pattern, actual, diff, sizeof(diff)) > 0) {
		char *shown = json_dumps(actual, JSON_COMPACT);
		step_header(r, i, st);
		failf(r, "  the envelope on %s (published at t=%.3f ms) differs from the expected one:\n%s"
			 "  actual: %.2000s\n",
		      topic, (double)p->t_us / 1e3, diff, shown);
		free(shown);
		rc = -1;
	} else if (st->as[0]) {
		onex_sim_names_add(r->names, st->as, actual);
	}
	json_decref(actual);
	json_decref(pattern);
	return rc;
}

static int do_expect_nothing(struct run *r, size_t i, const struct onex_scenario_step *st)
{
	const char *topic = topic_of(r, st->topic);
	struct topic_cursor *c = cursor(r, topic);
	ONEX_SIM_TRACE(r->w, "step", json_pack("{s:I,s:s}", "step", (json_int_t)i + 1, "kind",
					       "expect_nothing"));
	run_until(r, now_ns(r) + st->ms * MS_NS);
	long at = next_on_topic(r, c);
	if (at < 0)
		return 0;
	step_header(r, i, st);
	failf(r, "  expected nothing on %s for %llu ms, but at t=%.3f ms: %.2000s\n", topic,
	      (unsigned long long)st->ms, (double)r->w->published[at].t_us / 1e3,
	      r->w->published[at].data);
	return -1;
}

/* Index of the first unconsumed log line at st->level or above containing st->raw, or -1. */
static long next_log(struct run *r, const struct onex_scenario_step *st)
{
	for (size_t i = r->log_next; i < r->w->log_count; i++)
		if ((int)r->w->logs[i].level >= st->level && strstr(r->w->logs[i].msg, st->raw))
			return (long)i;
	return -1;
}

static int do_expect_log(struct run *r, size_t i, const struct onex_scenario_step *st)
{
	static const char *const levels[] = { "debug", "info", "warn", "error" };
	uint64_t deadline = now_ns(r) + st->ms * MS_NS;
	long at;
	ONEX_SIM_TRACE(r->w, "step", json_pack("{s:I,s:s}", "step", (json_int_t)i + 1, "kind",
					       "expect_log"));
	while ((at = next_log(r, st)) < 0) {
		uint64_t next;
		if (onex_sim_scheduler_next_due_ns(r->w->sched, &next) < 0 || next > deadline) {
			run_until(r, deadline);
			if ((at = next_log(r, st)) >= 0)
				break;
			step_header(r, i, st);
			failf(r, "  no log line at %s or above containing \"%s\" within %llu ms; "
				 "lines since the last expect_log:\n", levels[st->level], st->raw,
			      (unsigned long long)st->ms);
			for (size_t k = r->log_next; k < r->w->log_count && k < r->log_next + 8; k++)
				failf(r, "    %s: %.300s\n", levels[r->w->logs[k].level], r->w->logs[k].msg);
			return -1;
		}
		run_until(r, next);
	}
	const struct onex_sim_logline *l = &r->w->logs[at];
	r->log_next = (size_t)at + 1;
	char why[512] = "", diff[2048] = "";
	json_t *pattern = onex_sim_substitute(st->envelope, r->names, why, sizeof(why));
	json_t *actual = json_object();
	if (l->correlation_id)
		json_object_set_new(actual, "correlation_id", json_string(l->correlation_id));
	int rc = 0;
	if (!pattern) {
		step_header(r, i, st);
		failf(r, "  %s\n", why);
		rc = -1;
	} else if (onex_sim_match(pattern, actual, diff, sizeof(diff)) > 0) {
		step_header(r, i, st);
		failf(r, "  the log line \"%.300s\" (t=%.3f ms) differs from the expected one:\n%s",
		      l->msg, (double)l->t_us / 1e3, diff);
		rc = -1;
	}
	json_decref(pattern);
	json_decref(actual);
	return rc;
}

static int run_steps(struct run *r)
{
	for (size_t i = 0; i < r->sc->step_count; i++) {
		const struct onex_scenario_step *st = &r->sc->steps[i];
		int rc = 0;
		r->res->steps_run = (unsigned)i + 1;
		switch (st->kind) {
		case ONEX_STEP_PUBLISH: rc = do_publish(r, i, st); break;
		case ONEX_STEP_ADVANCE:
			ONEX_SIM_TRACE(r->w, "step", json_pack("{s:I,s:s}", "step", (json_int_t)i + 1,
							       "kind", "advance_ms"));
			run_until(r, now_ns(r) + st->ms * MS_NS);
			break;
		case ONEX_STEP_EXPECT: rc = do_expect(r, i, st); break;
		case ONEX_STEP_EXPECT_NOTHING: rc = do_expect_nothing(r, i, st); break;
		case ONEX_STEP_EXPECT_LOG: rc = do_expect_log(r, i, st); break;
		}
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* ---- after the steps ---------------------------------------------------------- */
/*
 * An HTTP request no stub matched fails the scenario, and its explanation
 * (the closest stub) is shown whatever failed first: a step that failed
 * because of it shows its own diff, and then this. 1 when there was one.
 */
static int note_unmatched_http(struct run *r)
{
	const char *first = NULL;
	struct onex_handler *http = onex_sim_world_inner_handler(r->w, ONEX_HANDLER_HTTP);
	size_t n = http ? onex_fake_http_unmatched(http, &first) : 0;
	if (!n)
		return 0;
	if (n == 1)
		failf(r, "an HTTP request matched no stub: %s\n", first ? first : "?");
	else
		failf(r, "%zu HTTP requests matched no stub; the first: %s\n", n, first ? first : "?");
	return 1;
}

static int check_after(struct run *r)
{
	struct onex_scenario *sc = r->sc;
	int ok = !note_unmatched_http(r);
	char report[8192] = "";
	unsigned violated = onex_sim_check_invariants(r->w, r->input, r->output, sc->invariants,
						      report, sizeof(report));
	unsigned unexpected = violated & ~sc->expect_violations;
	unsigned missing = sc->expect_violations & ~violated;
	if (unexpected) {
		failf(r, "invariants violated:\n");
		for (char *line = strtok(report, "\n"); line; line = strtok(NULL, "\n")) {
			for (unsigned b = 1; b <= ONEX_INV_LAST; b <<= 1)
				if ((unexpected & b) && strncmp(line, onex_invariant_name(b),
								strlen(onex_invariant_name(b))) == 0)
					failf(r, "  %s\n", line);
		}
		ok = 0;
	}
	for (unsigned b = 1; b <= ONEX_INV_LAST; b <<= 1)
		if (missing & b) {
			failf(r, "expected invariant %s to be violated (the harness must show the "
				 "fault), but it held\n", onex_invariant_name(b));
			ok = 0;
		}
	ONEX_SIM_TRACE(r->w, "invariants", json_pack("{s:I,s:I}", "violated", (json_int_t)violated,
						     "expected", (json_int_t)sc->expect_violations));
	return ok ? 0 : -1;
}

static void finish_host(struct run *r)
{
	if (!r->host)
		return;
	onex_host_shutdown(r->host);
	/* Bounded: the grace period is at most 300 s of virtual time. */
	run_until(r, now_ns(r) + (uint64_t)(ONEX_SHUTDOWN_GRACE_S_MAX + 1) * 1000 * MS_NS);
	const struct onex_host_stats *st = onex_host_stats(r->host);
	r->res->requests = (unsigned)st->received;
	r->res->responses = (unsigned)(st->responded_ok + st->responded_error);
	ONEX_SIM_TRACE(r->w, "stopped", json_pack("{s:b,s:I,s:I,s:I}", "stopped",
						  onex_host_is_stopped(r->host), "received",
						  (json_int_t)st->received, "ok",
						  (json_int_t)st->responded_ok, "errors",
						  (json_int_t)st->responded_error));
}

static void fill_result(struct run *r, int passed)
{
	struct onex_scenario_result *res = r->res;
	res->passed = passed;
	if (!passed)
		res->failure = strdup(r->failure);
	if (r->w) {
		res->virtual_us = onex_sim_world_now_us(r->w);
		if (r->w->want_trace && r->w->trace) {
			res->trace = r->w->trace;
			res->trace_len = r->w->trace_len;
			r->w->trace = NULL;
		}
	}
}

int onex_scenario_run_file(const char *path, const struct onex_scenario_run_options *opt,
			   struct onex_scenario_result *res)
{
	struct run r;
	struct onex_error err;
	int passed = 0;
	memset(&r, 0, sizeof(r));
	memset(res, 0, sizeof(*res));
	r.res = res;
	snprintf(res->path, sizeof(res->path), "%s", path);
	res->seed = opt && opt->seed_override ? opt->seed : 1; /* the format's default */
	onex_error_clear(&err);
	if (onex_scenario_load(path, &r.sc, &err) < 0) {
		char text[4096];
		failf(&r, "%s\n", onex_error_format(&err, text, sizeof(text)));
		fill_result(&r, 0);
		return -1;
	}
	snprintf(res->name, sizeof(res->name), "%s", r.sc->name);
	res->seed = opt && opt->seed_override ? opt->seed : r.sc->seed;
	r.w = onex_sim_world_new(res->seed, opt && opt->want_trace);
	r.names = calloc(1, sizeof(*r.names));
	onex_sim_trace(r.w, "scenario", json_pack("{s:s,s:I}", "name", r.sc->name, "seed",
						  (json_int_t)res->seed));
	int rc = start(&r);
	if (rc == 1) {
		passed = 1;
	} else if (rc == 0) {
		int steps_ok = run_steps(&r) == 0;
		if (steps_ok)
			run_until(&r, now_ns(&r) + r.sc->settle_ms * MS_NS);
		else
			note_unmatched_http(&r); /* the closest stub, after the step's own failure */
		int after_ok = steps_ok && check_after(&r) == 0;
		finish_host(&r);
		passed = steps_ok && after_ok;
	}
	fill_result(&r, passed);
	onex_host_free(r.host);
	onex_runtime_contract_free(r.contract);
	onex_sim_names_release(r.names);
	free(r.names);
	onex_sim_world_free(r.w);
	onex_scenario_free(r.sc);
	return passed ? 0 : -1;
}

int onex_scenario_check_file(const char *path, struct onex_error *err)
{
	struct onex_scenario *sc = NULL;
	if (onex_scenario_load(path, &sc, err) < 0)
		return -1;
	onex_scenario_free(sc);
	return 0;
}

void onex_scenario_result_release(struct onex_scenario_result *res)
{
	free(res->failure);
	free(res->trace);
	res->failure = NULL;
	res->trace = NULL;
}
