/*
 * test_json_out.c - the direct JSON writer (core/json_out.c) and the reply
 * writer built on it (onex_envelope_write_reply) give exactly the bytes
 * jansson's json_dumps(JSON_COMPACT) gives: over hand-picked values
 * (escapes, every control character, unicode, embedded NUL, big numbers,
 * reals), thousands of random trees, and replies to many requests
 * (unknown and null fields, errors with extra fields, rejected ids).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <float.h>
#include <time.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "json_out.h"
#include "limits.h"

/* The writer's bytes equal jansson's for v (both succeed). */
static void expect_same(const json_t *v)
{
	struct onex_json_out o;
	char *want = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	assert_non_null(want);
	onex_json_out_init(&o);
	onex_json_out_value(&o, v);
	assert_false(o.failed);
	if (o.len != strlen(want) || memcmp(o.data, want, o.len) != 0)
		fail_msg("writer gave\n  %s\njansson gave\n  %s", o.data, want);
	free(want);
	onex_json_out_release(&o);
}

static void expect_same_text(const char *text)
{
	json_error_t jerr;
	json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
	if (!v)
		fail_msg("test input does not parse: %s: %s", text, jerr.text);
	expect_same(v);
	json_decref(v);
}

static void test_values_by_hand(void **state)
{
	(void)state;
	static const char *const texts[] = {
		"null", "true", "false", "0", "-0", "1", "-1", "9223372036854775807",
		"-9223372036854775808", "0.0", "-0.0", "9.5", "120.0", "0.1", "1e300",
		"-1e-300", "5e-324", "1.7976931348623157e308", "1e21", "1e22", "123456789012.5",
		"3.14159265358979", "2.5e-5", "1e-7", "100000000000000000000.0",
		"\"\"", "\"plain\"", "\"quote \\\" backslash \\\\ slash / end\"",
		"\"\\b\\f\\n\\r\\t\"", "\"\\u0000 nul\"", "\"\\u001f\\u007f\\u0080\"",
		"\"caf\\u00e9 \\u20ac \\ud83d\\ude00 \\u2028\\u2029 \\ufeff\"",
		"\"日本語 テキスト\"", "[]", "{}", "[[]]", "{\"a\":{}}", "[1,[2,[3,[4]]]]",
		"{\"k\\\"ey\":1,\"\\n\":2,\"caf\\u00e9\":3}",
		"{\"z\":1,\"a\":2,\"m\":3}",
		"{\"order_id\":12345,\"customer\":\"ada\",\"items\":[{\"sku\":\"A-1\",\"qty\":2,"
		"\"price\":9.5},{\"sku\":\"B-7\",\"qty\":1,\"price\":120.0}],\"note\":\"leave at "
		"the door\"}",
		"[null,true,false,1,1.5,\"s\",[],{}]",
	};
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		expect_same_text(texts[i]);

	/* Every control character and every ASCII byte, in strings and keys. */
	char all[128];
	for (int c = 0; c < 128; c++)
		all[c] = (char)(c + 1 < 128 ? c + 1 : 0);
	json_t *s = json_stringn(all, sizeof(all));
	expect_same(s);
	json_t *o = json_object();
	json_object_setn_new(o, all, sizeof(all), json_integer(1));
	json_object_setn_new(o, "nul\0key", 7, json_integer(2));
	expect_same(o);
	json_decref(o);
	json_decref(s);

	double reals[] = { DBL_MIN, DBL_MAX, -DBL_MAX, DBL_EPSILON, 1.0 / 3.0, 2.0 / 3.0,
			   1e15, 1e16, 1e17, 123e-20, 4.35, 0.30000000000000004 };
	for (size_t i = 0; i < sizeof(reals) / sizeof(reals[0]); i++) {
		json_t *r = json_real(reals[i]);
		expect_same(r);
		json_decref(r);
	}
	/* Exact binary fractions and integers: the writer's snprintf-free path and its edges. */
	for (int j = -60; j <= 60; j++) {
		for (int64_t i = -300; i <= 300; i += 7) {
			json_t *r = json_real(ldexp((double)i, j));
			expect_same(r);
			json_decref(r);
		}
		for (int64_t i = 1; i < (INT64_C(1) << 54); i = i * 3 + 1) {
			json_t *r = json_real(ldexp((double)i, j));
			expect_same(r);
			json_decref(r);
		}
	}
	double edges[] = { 1e16, 1e17, 99999999999999984.0, 72057594037927936.0,
			   144115188075855872.0, 0.0001220703125, 0.00006103515625, 0.0001,
			   0.5, 0.25, 1.5, 1234567.125, 0x1p-20, 0x1.fffffffffffffp52, -0.0,
			   0.0, 5e-324, 2.2250738585072014e-308 };
	for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++) {
		json_t *r = json_real(edges[i]);
		expect_same(r);
		json_decref(r);
	}
	json_t *ints[] = { json_integer(INT64_MIN), json_integer(INT64_MAX),
			   json_integer(-10), json_integer(10) };
	for (size_t i = 0; i < 4; i++) {
		expect_same(ints[i]);
		json_decref(ints[i]);
	}
}

/* ---- random trees ------------------------------------------------------------------ */

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Random valid UTF-8 text, biased to the characters that need care. */
static size_t random_text(char *buf, size_t cap)
{
	static const char *const pieces[] = { "a", "Z", "0", " ", "\"", "\\", "/", "\n",
					      "\t", "\x01", "\x1f", "\x7f", "\xc3\xa9",
					      "\xe2\x82\xac", "\xf0\x9f\x98\x80",
					      "\xe2\x80\xa8", "{", "}", ",", ":" };
	size_t n = 0, count = next() % 12;
	for (size_t i = 0; i < count; i++) {
		const char *p;
		size_t len;
		if (next() % 16 == 0) {
			p = "\0";
			len = 1;
		} else {
			p = pieces[next() % (sizeof(pieces) / sizeof(pieces[0]))];
			len = strlen(p);
		}
		if (n + len > cap)
			break;
		memcpy(buf + n, p, len);
		n += len;
	}
	return n;
}

static json_t *random_value(int depth)
{
	char text[64];
	switch (next() % (depth > 4 ? 6 : 8)) {
	case 0:
		return json_null();
	case 1:
		return json_boolean(next() % 2);
	case 2:
		return json_integer((json_int_t)next() >> (next() % 64));
	case 3: {
		double d;
		do {
			uint64_t bits = next();
			memcpy(&d, &bits, sizeof(d));
		} while (!isfinite(d));
		if (next() % 2)
			d = (double)(int64_t)(next() % 100000) / (double)(1 + next() % 1000);
		return json_real(d);
	}
	case 4:
	case 5:
		return json_stringn(text, random_text(text, sizeof(text)));
	case 6: {
		json_t *a = json_array();
		for (uint64_t i = 0, n = next() % 5; i < n; i++)
			json_array_append_new(a, random_value(depth + 1));
		return a;
	}
	default: {
		json_t *o = json_object();
		for (uint64_t i = 0, n = next() % 5; i < n; i++)
			json_object_setn_new(o, text, random_text(text, sizeof(text)),
					     random_value(depth + 1));
		return o;
	}
	}
}

static void test_random_trees(void **state)
{
	(void)state;
	for (int i = 0; i < 5000; i++) {
		json_t *v = random_value(0);
		assert_non_null(v);
		expect_same(v);
		json_decref(v);
	}
}

static void test_refuses_what_jansson_refuses(void **state)
{
	(void)state;
	struct onex_json_out o;
	/* Invalid UTF-8 (only json_stringn_nocheck can make it): jansson fails too. */
	static const char *const bad[] = { "\xff", "a\xc0\x80", "\xed\xa0\x80", "\xe2\x82",
					   "\xf4\x90\x80\x80", "\x80" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *s = json_stringn_nocheck(bad[i], strlen(bad[i]));
		char *j = json_dumps(s, JSON_ENCODE_ANY);
		assert_null(j);
		onex_json_out_init(&o);
		onex_json_out_value(&o, s);
		assert_true(o.failed);
		onex_json_out_release(&o);
		json_decref(s);
	}
	/* Nesting beyond the writer's bound: it declines (the caller uses jansson). */
	json_t *deep = json_array();
	for (unsigned i = 0; i < ONEX_JSON_OUT_DEPTH_MAX + 1; i++) {
		json_t *outer = json_array();
		json_array_append_new(outer, deep);
		deep = outer;
	}
	onex_json_out_init(&o);
	onex_json_out_value(&o, deep);
	assert_true(o.failed);
	onex_json_out_reset(&o);
	assert_false(o.failed);
	assert_int_equal(o.len, 0);
	onex_json_out_value(&o, json_array_get(json_array_get(deep, 0), 0));
	assert_false(o.failed);
	onex_json_out_release(&o);
	json_decref(deep);
}

/* ---- replies ----------------------------------------------------------------------- */

#define RID "7e57e57e-0000-4000-8000-000000000001"
#define RTS "2025-01-01T00:00:00.000000Z"

/* write_reply(spec) equals encode(build_reply(spec)); spec's references are kept. */
static void expect_same_reply(const struct onex_reply_spec *spec)
{
	struct onex_json_out o;
	struct onex_reply_spec copy = *spec;
	size_t len = 0;
	if (copy.payload)
		json_incref(copy.payload);
	if (copy.error_extra)
		json_incref(copy.error_extra);
	json_t *tree = onex_envelope_build_reply(&copy); /* steals the copies */
	char *want = onex_envelope_encode(tree, &len);
	assert_non_null(want);
	onex_json_out_init(&o);
	assert_int_equal(onex_envelope_write_reply(spec, &o), 0);
	if (o.len != len || memcmp(o.data, want, len) != 0)
		fail_msg("write_reply gave\n  %s\nbuild+encode gave\n  %s", o.data, want);
	onex_json_out_release(&o);
	free(want);
	json_decref(tree);
}

static void test_replies_match_jansson(void **state)
{
	(void)state;
	static const char *const requests[] = {
		"{\"envelope_id\":\"6f1c2d3e-4a5b-4c6d-8e7f-0123456789ab\",\"correlation_id\":"
		"\"0a1b2c3d-4e5f-4a6b-9c8d-abcdefabcdef\",\"source_node\":\"client\","
		"\"target_node\":\"node-a\",\"handler_type\":\"local\",\"operation\":"
		"\"local.echo\",\"payload\":{\"x\":1}}",
		"{\"operation\":\"local.echo\",\"payload\":{\"s\":\"caf\\u00e9 \\u0000 \\\"q\\\" "
		"\\ud83d\\ude00\"},\"extra_unknown\":[1,2,{\"deep\":null}]}",
		"{\"operation\":\"local.echo\",\"causation_id\":null,\"target_node\":null,"
		"\"source_node\":null,\"payload\":null,\"metadata\":null}",
		"{\"operation\":\"db.query\",\"handler_type\":\"caf\\u00e9\\n\\\"weird\\\"\","
		"\"payload\":{\"n\":-9223372036854775808,\"big\":1e300,\"r\":0.1}}",
		"{\"operation\":\"local.echo\",\"correlation_id\":12345,\"payload\":{}}",
		"{\"operation\":\"local.echo\",\"correlation_id\":\"not-a-uuid-\\u00e9\\u00e9\\u00e9"
		"\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9"
		"\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9"
		"\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\"}",
		"{\"operation\":\"local.echo\",\"correlation_id\":{\"a\":\"\\\\\"},"
		"\"target_node\":\"t\"}",
		"{\"envelope_id\":\"bad id\",\"operation\":\"Not.Valid\",\"is_response\":true}",
		"{}",
	};
	json_t *extra = json_pack("{s:[s,s],s:s}", "available_handlers", "local", "db",
				  "message", "overridden \"message\"");
	for (size_t i = 0; i < sizeof(requests) / sizeof(requests[0]); i++) {
		json_error_t jerr;
		struct onex_envelope env;
		json_t *json = json_loads(requests[i], JSON_ALLOW_NUL, &jerr);
		if (!json)
			fail_msg("request %zu does not parse: %s", i, jerr.text);
		onex_envelope_init(&env, json, NULL); /* partially valid is fine */
		struct onex_error err;
		onex_error_clear(&err);
		onex_error_set(&err, ONEX_ERR_HANDLER_EXECUTION_ERROR, NULL, 0, 0,
			       "it failed: \"%s\" \t caf\xc3\xa9", "quoted");
		json_t *payloads[] = { NULL, (json_t *)env.payload, json_string("a string"),
				       json_pack("[i,f,s]", 1, 2.5, "\x1f") };
		for (size_t p = 0; p < 4; p++) {
			for (int success = 0; success < 2; success++) {
				struct onex_reply_spec spec = { RID, RTS, &env, success,
								payloads[p], &err, NULL };
				expect_same_reply(&spec);
				spec.error_extra = extra;
				expect_same_reply(&spec);
				spec.request = NULL;
				expect_same_reply(&spec);
				spec.error = NULL;
				expect_same_reply(&spec);
			}
		}
		json_decref(payloads[2]);
		json_decref(payloads[3]);
		onex_envelope_release(&env);
	}
	json_decref(extra);
}

static void test_reply_writer_declines_missing_stamp(void **state)
{
	(void)state;
	struct onex_json_out o;
	struct onex_reply_spec spec = { NULL, RTS, NULL, 1, NULL, NULL, NULL };
	onex_json_out_init(&o);
	assert_int_equal(onex_envelope_write_reply(&spec, &o), -1);
	spec.envelope_id = RID;
	assert_int_equal(onex_envelope_write_reply(&spec, &o), 0);
	assert_string_equal(o.data,
			    "{\"envelope_id\":\"" RID "\",\"envelope_version\":\"1.0\","
			    "\"correlation_id\":null,\"causation_id\":null,\"source_node\":null,"
			    "\"target_node\":null,\"handler_type\":null,\"operation\":null,"
			    "\"payload\":null,\"metadata\":{},\"timestamp\":\"" RTS "\","
			    "\"is_response\":true,\"success\":true,\"error\":null}");
	onex_json_out_release(&o);
}

/* The hand-written timestamp equals the snprintf form over the int64 range. */
static void test_timestamp_digits(void **state)
{
	(void)state;
	int64_t samples[] = { 0, 1, -1, 999, 1000, -1000, 86399999999999LL, INT64_MAX,
			      INT64_MIN, 1735689600000000000LL, 951782400000000000LL };
	for (int i = 0; i < 20000; i++) {
		int64_t ns = i < 11 ? samples[i] : (int64_t)next();
		char got[ONEX_TIMESTAMP_BYTES], want[64];
		onex_timestamp_format(ns, got);
		int64_t us = ns / 1000 - (ns % 1000 < 0);
		int64_t secs = us / 1000000 - (us % 1000000 < 0);
		int64_t frac = us - secs * 1000000;
		time_t t = (time_t)secs;
		struct tm tm;
		gmtime_r(&t, &tm);
		snprintf(want, sizeof(want), "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			 tm.tm_sec, (long long)frac);
		assert_string_equal(got, want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_values_by_hand),
		cmocka_unit_test(test_random_trees),
		cmocka_unit_test(test_refuses_what_jansson_refuses),
		cmocka_unit_test(test_replies_match_jansson),
		cmocka_unit_test(test_reply_writer_declines_missing_stamp),
		cmocka_unit_test(test_timestamp_digits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
