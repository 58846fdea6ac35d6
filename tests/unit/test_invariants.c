/*
 * test_invariants.c - the log invariant of sim/invariants.c
 * (log_lines_carry_correlation, spec §6 "every line about an envelope
 * carries it"), on worlds filled by hand: one delivered request, its reply,
 * and log lines written through the world's log port.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "invariants.h"
#include "log.h"
#include "scenario.h"
#include "world.h"

#define IN "onex.local.runtime.cmd.v1"
#define OUT "onex.local.runtime.evt.v1"
#define REQ_ID "a1111111-1111-4111-8111-111111111101"
#define CORR "b1111111-1111-4111-8111-111111111101"
#define OTHER "c1111111-1111-4111-8111-111111111101"
#define ASSIGNED "d1111111-1111-4111-8111-111111111101"

static void deliver(struct onex_sim_world *w, const char *data, const char *position)
{
	w->delivered = realloc(w->delivered, (w->delivered_count + 1) * sizeof(*w->delivered));
	struct onex_sim_delivery *d = &w->delivered[w->delivered_count++];
	d->topic = strdup(IN);
	d->data = strdup(data);
	d->len = strlen(data);
	d->t_us = 0;
	d->position = strdup(position);
}

static void reply(struct onex_sim_world *w, const char *data)
{
	w->published = realloc(w->published, (w->published_count + 1) * sizeof(*w->published));
	struct onex_sim_publish *p = &w->published[w->published_count++];
	memset(p, 0, sizeof(*p));
	p->topic = strdup(OUT);
	p->data = strdup(data);
	p->len = strlen(data);
	p->by_host = 1;
}

/* A world with one request (with its own correlation_id, or none) and its reply. */
static struct onex_sim_world *world(int request_has_correlation)
{
	struct onex_sim_world *w = onex_sim_world_new(1, 0);
	assert_non_null(w);
	deliver(w, request_has_correlation
			   ? "{\"envelope_id\":\"" REQ_ID "\",\"correlation_id\":\"" CORR "\","
			     "\"operation\":\"local.nope\"}"
			   : "{\"envelope_id\":\"" REQ_ID "\",\"operation\":\"local.nope\"}",
		"inmemory " IN " #1");
	reply(w, request_has_correlation
			 ? "{\"envelope_id\":\"" OTHER "\",\"correlation_id\":\"" CORR "\","
			   "\"causation_id\":\"" REQ_ID "\",\"success\":false}"
			 : "{\"envelope_id\":\"" OTHER "\",\"correlation_id\":\"" ASSIGNED "\","
			   "\"causation_id\":\"" REQ_ID "\",\"success\":false}");
	return w;
}

static unsigned check(struct onex_sim_world *w, char *report, size_t size)
{
	report[0] = '\0';
	return onex_sim_check_invariants(w, IN, OUT, ONEX_INV_LOG_CORRELATION, report, size);
}

static void assert_contains(const char *text, const char *part)
{
	if (!strstr(text, part))
		fail_msg("'%s' does not contain '%s'", text, part);
}

static void test_lines_with_the_right_id_hold(void **state)
{
	(void)state;
	char report[2048];
	struct onex_sim_world *w = world(1);
	onex_log(&w->log, ONEX_LOG_WARN, CORR, REQ_ID, "inmemory " IN " #1: INVALID_OPERATION");
	onex_log(&w->log, ONEX_LOG_WARN, CORR, NULL, "db: suspicious SQL about " REQ_ID);
	/* Lines about no envelope need none; #10 is not #1. */
	onex_log(&w->log, ONEX_LOG_INFO, NULL, NULL, "handler local initialized");
	onex_log(&w->log, ONEX_LOG_INFO, NULL, NULL, "inmemory " IN " #10: another input");
	assert_int_equal(w->log_count, 4);
	assert_int_equal(check(w, report, sizeof(report)), 0);
	assert_string_equal(report, "");
	onex_sim_world_free(w);
}

static void test_line_naming_an_envelope_without_id_breaks_it(void **state)
{
	(void)state;
	char report[2048];
	/* Named by its envelope_id field. */
	struct onex_sim_world *w = world(1);
	onex_log(&w->log, ONEX_LOG_ERROR, NULL, REQ_ID, "reply was not published");
	assert_int_equal(check(w, report, sizeof(report)), ONEX_INV_LOG_CORRELATION);
	assert_contains(report, "log_lines_carry_correlation: the error line at t=0 us names "
				REQ_ID " but carries no correlation_id: reply was not published");
	onex_sim_world_free(w);
	/* Named by its input position in the text. */
	w = world(1);
	onex_log(&w->log, ONEX_LOG_WARN, NULL, NULL, "inmemory " IN " #1: bad input");
	assert_int_equal(check(w, report, sizeof(report)), ONEX_INV_LOG_CORRELATION);
	assert_contains(report, "names inmemory " IN " #1 but carries no correlation_id");
	onex_sim_world_free(w);
	/* Named by its envelope_id in the text. */
	w = world(1);
	onex_log(&w->log, ONEX_LOG_WARN, NULL, NULL, "slow request " REQ_ID);
	assert_int_equal(check(w, report, sizeof(report)), ONEX_INV_LOG_CORRELATION);
	onex_sim_world_free(w);
}

static void test_line_with_another_envelopes_id_breaks_it(void **state)
{
	(void)state;
	char report[2048];
	struct onex_sim_world *w = world(1);
	onex_log(&w->log, ONEX_LOG_WARN, OTHER, REQ_ID, "inmemory " IN " #1: x");
	assert_int_equal(check(w, report, sizeof(report)), ONEX_INV_LOG_CORRELATION);
	assert_contains(report, "carries correlation_id " OTHER ", not the envelope's " CORR);
	onex_sim_world_free(w);
}

/* A request without correlation_id: lines must carry the one the host assigned (the reply's). */
static void test_assigned_id_is_the_replys(void **state)
{
	(void)state;
	char report[2048];
	struct onex_sim_world *w = world(0);
	onex_log(&w->log, ONEX_LOG_WARN, ASSIGNED, REQ_ID, "inmemory " IN " #1: x");
	assert_int_equal(check(w, report, sizeof(report)), 0);
	onex_sim_world_free(w);
	w = world(0);
	onex_log(&w->log, ONEX_LOG_WARN, CORR, REQ_ID, "inmemory " IN " #1: x");
	assert_int_equal(check(w, report, sizeof(report)), ONEX_INV_LOG_CORRELATION);
	assert_contains(report, "not the envelope's " ASSIGNED);
	onex_sim_world_free(w);
}

/* Only checked when asked for; the default set includes it. */
static void test_selected_by_bit(void **state)
{
	(void)state;
	char report[2048] = "";
	struct onex_sim_world *w = world(1);
	onex_log(&w->log, ONEX_LOG_WARN, NULL, REQ_ID, "x");
	assert_int_equal(onex_sim_check_invariants(w, IN, OUT, ONEX_INV_NO_RAW_ERRORS, report,
						   sizeof(report)),
			 0);
	assert_true(ONEX_INV_ALL & ONEX_INV_LOG_CORRELATION);
	assert_string_equal(onex_invariant_name(ONEX_INV_LOG_CORRELATION),
			    "log_lines_carry_correlation");
	onex_sim_world_free(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines_with_the_right_id_hold),
		cmocka_unit_test(test_line_naming_an_envelope_without_id_breaks_it),
		cmocka_unit_test(test_line_with_another_envelopes_id_breaks_it),
		cmocka_unit_test(test_assigned_id_is_the_replys),
		cmocka_unit_test(test_selected_by_bit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
