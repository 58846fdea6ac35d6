/*
 * invariants.c - every request answered once, correlation preserved,
 * causation links, no raw errors, log lines carry the correlation id.
 */
#include "invariants.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "log.h"
#include "scenario.h"
#include "uuid.h"

struct req_info {
	char envelope_id[ONEX_UUID_STR_BYTES]; /* "" when the request had no valid one */
	char correlation_id[ONEX_UUID_STR_BYTES];
	json_t *params; /* payload.parameters, for the no-raw-errors check; borrowed from json */
	json_t *json;
	uint64_t t_us;
	unsigned replies;
};

struct reply_info {
	json_t *json;
	uint64_t t_us;
	int dropped;
	int linked; /* matched a request by causation */
};

static void note(char *report, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void note(char *report, size_t size, const char *fmt, ...)
{
	size_t n = strlen(report);
	va_list ap;
	if (n + 1 >= size)
		return;
	va_start(ap, fmt);
	vsnprintf(report + n, size - n, fmt, ap);
	va_end(ap);
	n = strlen(report);
	if (n + 1 < size) {
		report[n] = '\n';
		report[n + 1] = '\0';
	}
}

static const char *sval(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static void load_requests(const struct onex_sim_world *w, const char *topic,
			  struct req_info *reqs, size_t *count)
{
	*count = 0;
	for (size_t i = 0; i < w->delivered_count; i++) {
		const struct onex_sim_delivery *d = &w->delivered[i];
		if (strcmp(d->topic, topic) != 0)
			continue;
		struct req_info *r = &reqs[(*count)++];
		memset(r, 0, sizeof(*r));
		r->t_us = d->t_us;
		r->json = json_loadb(d->data, d->len, 0, NULL);
		const char *id = sval(r->json, "envelope_id");
		const char *corr = sval(r->json, "correlation_id");
		if (id && onex_uuid_is_valid(id))
			snprintf(r->envelope_id, sizeof(r->envelope_id), "%s", id);
		if (corr && onex_uuid_is_valid(corr))
			snprintf(r->correlation_id, sizeof(r->correlation_id), "%s", corr);
		r->params = json_object_get(json_object_get(r->json, "payload"), "parameters");
	}
}

static void load_replies(const struct onex_sim_world *w, const char *topic,
			 struct reply_info *reps, size_t *count)
{
	*count = 0;
	for (size_t i = 0; i < w->published_count; i++) {
		const struct onex_sim_publish *p = &w->published[i];
		if (!p->by_host || p->refused || strcmp(p->topic, topic) != 0)
			continue; /* a refused publish is no reply */
		struct reply_info *r = &reps[(*count)++];
		r->json = json_loadb(p->data, p->len, 0, NULL);
		r->t_us = p->t_us;
		r->dropped = p->dropped;
		r->linked = 0;
	}
}

/* No stack trace, no secret, no request parameter in an error message. */
static const char *raw_error_problem(const json_t *error, const struct req_info *reqs,
				     size_t nreq)
{
	static const char *const markers[] = { "Traceback", "stack trace", " at 0x", "Segmentation",
					       "panic:", "#0 ", ".c:", "password", "secret=",
					       "postgresql://", NULL };
	static const char *const allowed[] = { "code", "message", "handler_type", "operation",
					       "available_handlers", "sqlstate", "statement_index",
					       NULL };
	enum onex_error_code code;
	const char *msg = sval(error, "message");
	const char *key;
	json_t *v;
	if (!sval(error, "code") || onex_error_code_parse(sval(error, "code"), &code) < 0)
		return "the error code is not one of spec §5";
	if (!msg)
		return "the error has no message";
	if (strchr(msg, '\n'))
		return "the message spans several lines";
	for (const char *const *m = markers; *m; m++)
		if (strstr(msg, *m))
			return "the message looks like a stack trace or holds a secret";
	json_object_foreach((json_t *)error, key, v) {
		const char *const *a = allowed;
		while (*a && strcmp(*a, key))
			a++;
		if (!*a)
			return "the error object has a field outside spec §5";
	}
	for (size_t i = 0; i < nreq; i++) {
		size_t j;
		json_t *p;
		json_array_foreach(reqs[i].params, j, p) {
			const char *s = json_string_value(p);
			if (s && strlen(s) >= 4 && strstr(msg, s))
				return "the message contains a SQL parameter value";
		}
	}
	return NULL;
}

/* `position` ("inmemory <topic> #3") occurs in msg, not as the start of a longer number. */
static int mentions_position(const char *msg, const char *position)
{
	size_t n = strlen(position);
	for (const char *s = strstr(msg, position); s && n; s = strstr(s + 1, position))
		if (s[n] < '0' || s[n] > '9')
			return 1;
	return 0;
}

/* The correlation_id of the reply caused by envelope `id`, or NULL. */
static const char *reply_correlation(const struct reply_info *reps, size_t nrep, const char *id)
{
	for (size_t i = 0; id && *id && i < nrep; i++) {
		const char *cause = sval(reps[i].json, "causation_id");
		if (cause && strcmp(cause, id) == 0)
			return sval(reps[i].json, "correlation_id");
	}
	return NULL;
}

/*
 * Spec §6: every log line about an envelope carries its correlation_id. A
 * line is about an envelope when it carries an envelope_id, or its text
 * names a delivered request by its input position or its envelope_id. The
 * id it carries must be the request's own, or the one the host assigned
 * (which the reply echoes).
 */
static unsigned check_logs(const struct onex_sim_world *w, const char *input_topic,
			   const struct req_info *reqs, const struct reply_info *reps,
			   size_t nrep, char *report, size_t size)
{
	unsigned bad = 0;
	for (size_t k = 0; k < w->log_count; k++) {
		const struct onex_sim_logline *l = &w->logs[k];
		const struct req_info *req = NULL;
		const char *named = l->envelope_id;
		for (size_t i = 0, j = 0; i < w->delivered_count; i++) {
			const struct onex_sim_delivery *d = &w->delivered[i];
			if (strcmp(d->topic, input_topic) != 0)
				continue;
			const struct req_info *r = &reqs[j++];
			int by_id = r->envelope_id[0] &&
				    ((l->envelope_id && strcmp(l->envelope_id, r->envelope_id) == 0) ||
				     strstr(l->msg, r->envelope_id));
			if (by_id || (d->position && mentions_position(l->msg, d->position))) {
				req = r;
				if (!named)
					named = by_id ? r->envelope_id : d->position;
				break;
			}
		}
		if (!named)
			continue;
		const char *want = req && req->correlation_id[0] ? req->correlation_id : NULL;
		if (!want)
			want = reply_correlation(reps, nrep, l->envelope_id);
		if (!want && req)
			want = reply_correlation(reps, nrep, req->envelope_id);
		if (!l->correlation_id || !onex_uuid_is_valid(l->correlation_id)) {
			bad |= ONEX_INV_LOG_CORRELATION;
			note(report, size, "log_lines_carry_correlation: the %s line at t=%llu us names "
			     "%s but carries no correlation_id: %.300s", onex_log_level_name(l->level),
			     (unsigned long long)l->t_us, named, l->msg);
		} else if (want && strcmp(want, l->correlation_id) != 0) {
			bad |= ONEX_INV_LOG_CORRELATION;
			note(report, size, "log_lines_carry_correlation: the %s line at t=%llu us names "
			     "%s and carries correlation_id %s, not the envelope's %s: %.300s",
			     onex_log_level_name(l->level), (unsigned long long)l->t_us, named,
			     l->correlation_id, want, l->msg);
		}
	}
	if (w->logs_not_kept) {
		bad |= ONEX_INV_LOG_CORRELATION;
		note(report, size, "log_lines_carry_correlation: %zu log lines beyond the first %u "
		     "were not kept, so not checked", w->logs_not_kept, ONEX_SIM_LOG_LINES_MAX);
	}
	return bad;
}

unsigned onex_sim_check_invariants(const struct onex_sim_world *w, const char *input_topic,
				   const char *output_topic, unsigned which, char *report,
				   size_t size)
{
	size_t nreq = 0, nrep = 0, unlinked_requests = 0;
	unsigned bad = 0;
	struct req_info *reqs = calloc(w->delivered_count + 1, sizeof(*reqs));
	struct reply_info *reps = calloc(w->published_count + 1, sizeof(*reps));
	load_requests(w, input_topic, reqs, &nreq);
	load_replies(w, output_topic, reps, &nrep);

	/* Link replies to requests by causation_id = envelope_id. */
	for (size_t i = 0; i < nrep; i++) {
		const char *cause = sval(reps[i].json, "causation_id");
		for (size_t j = 0; cause && j < nreq; j++) {
			if (reqs[j].envelope_id[0] && strcmp(cause, reqs[j].envelope_id) == 0 &&
			    reqs[j].replies == 0) {
				reps[i].linked = 1;
				if (!reps[i].dropped)
					reqs[j].replies++;
				else
					reqs[j].replies += 1000; /* marks "answered, but lost" */
				break;
			}
		}
	}
	for (size_t j = 0; j < nreq; j++)
		unlinked_requests += !reqs[j].envelope_id[0];

	if (which & ONEX_INV_ANSWERED_ONCE) {
		size_t delivered_replies = 0, unlinked_replies = 0;
		for (size_t i = 0; i < nrep; i++) {
			delivered_replies += !reps[i].dropped;
			unlinked_replies += !reps[i].linked && !reps[i].dropped;
			if (reps[i].dropped)
				note(report, size, "every_request_answered_once: the reply %s at t=%llu us "
				     "was lost (publish dropped)", sval(reps[i].json, "envelope_id"),
				     (unsigned long long)reps[i].t_us);
		}
		for (size_t j = 0; j < nreq; j++) {
			if (reqs[j].envelope_id[0] && reqs[j].replies != 1 && reqs[j].replies < 1000)
				note(report, size, "every_request_answered_once: request %s (delivered at "
				     "t=%llu us) has %u replies", reqs[j].envelope_id,
				     (unsigned long long)reqs[j].t_us, reqs[j].replies);
		}
		if (delivered_replies != nreq || unlinked_replies != unlinked_requests ||
		    strstr(report, "every_request_answered_once")) {
			bad |= ONEX_INV_ANSWERED_ONCE;
			note(report, size, "every_request_answered_once: %zu deliveries, %zu replies "
			     "arrived", nreq, delivered_replies);
		}
	}
	for (size_t i = 0; i < nrep; i++) {
		const json_t *r = reps[i].json;
		const char *corr = sval(r, "correlation_id"), *cause = sval(r, "causation_id");
		const char *id = sval(r, "envelope_id");
		const struct req_info *req = NULL;
		for (size_t j = 0; cause && j < nreq; j++)
			if (reqs[j].envelope_id[0] && strcmp(cause, reqs[j].envelope_id) == 0)
				req = &reqs[j];
		if ((which & ONEX_INV_CORRELATION) &&
		    (!corr || !onex_uuid_is_valid(corr) ||
		     (req && req->correlation_id[0] && strcmp(corr, req->correlation_id) != 0))) {
			bad |= ONEX_INV_CORRELATION;
			note(report, size, "correlation_preserved: reply %s carries correlation_id %s%s%s",
			     id ? id : "?", corr ? corr : "(none)", req ? ", the request had " : "",
			     req ? req->correlation_id : "");
		}
		if ((which & ONEX_INV_CAUSATION) && cause &&
		    (!onex_uuid_is_valid(cause) || (id && strcmp(cause, id) == 0) ||
		     (!req && !unlinked_requests))) {
			bad |= ONEX_INV_CAUSATION;
			note(report, size, "causation_links: reply %s has causation_id %s, which is no "
			     "request's envelope_id", id ? id : "?", cause);
		}
		const json_t *error = json_object_get(r, "error");
		const char *problem;
		if ((which & ONEX_INV_NO_RAW_ERRORS) && json_is_object(error) &&
		    (problem = raw_error_problem(error, reqs, nreq))) {
			bad |= ONEX_INV_NO_RAW_ERRORS;
			note(report, size, "no_raw_errors: reply %s: %s", id ? id : "?", problem);
		}
	}
	if (which & ONEX_INV_LOG_CORRELATION)
		bad |= check_logs(w, input_topic, reqs, reps, nrep, report, size);
	for (size_t j = 0; j < nreq; j++)
		json_decref(reqs[j].json);
	for (size_t i = 0; i < nrep; i++)
		json_decref(reps[i].json);
	free(reqs);
	free(reps);
	return bad;
}
