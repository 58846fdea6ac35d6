/*
 * test_kafka_json_check.c - the Kafka bus's quick "certainly a JSON object"
 * check (core/real/kafka_json_check.c): envelopes pass; every kind of text
 * it must leave to the parser does not; and, on 300 000 random mutations
 * of envelopes, whatever it passes jansson accepts as an object with the
 * envelope parser's flags (the property the dead-letter path relies on).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "real/kafka_json_check.h"

#define FLAGS (JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES)

static int jansson_object(const char *text, size_t len)
{
	json_error_t jerr;
	json_t *json = json_loadb(text, len, FLAGS, &jerr);
	int ok = json && json_is_object(json);
	json_decref(json);
	return ok;
}

static int quick(const char *text)
{
	return onex_kafka_json_is_plain_object(text, strlen(text));
}

static const char *const envelopes[] = {
	"{\"operation\":\"local.echo\",\"correlation_id\":\"2f1c9a4e-0b7d-4c39-9b0e-5d2f8a6c1e3b\","
	"\"payload\":{\"n\":1,\"delay_ms\":0}}",
	" {\"envelope_id\":\"a\", \"operation\" : \"db.query\", \"payload\": {\"sql\":\"SELECT 1\","
	"\"params\":[1, -2, 3.25, -0.5, 0, true, false, null, \"x\\\"y\\\\z\\/\\n\"], \"é\":\"€𝄞\"},"
	" \"metadata\":{}, \"list\":[], \"deep\":[[{\"a\":[{}]}]]}\r\n",
	"{}",
};

static void test_envelopes_pass(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(envelopes) / sizeof(envelopes[0]); i++) {
		if (!quick(envelopes[i]))
			fail_msg("envelope %zu not passed: %s", i, envelopes[i]);
		assert_true(jansson_object(envelopes[i], strlen(envelopes[i])));
	}
}

/* Text the quick check must leave to the parser (invalid, or valid but outside its subset). */
static void test_doubts_go_to_the_parser(void **state)
{
	static const char *const doubts[] = {
		"", "   ", "[1]", "\"s\"", "1", "null", "{", "}", "{\"a\":1", "{\"a\":1}x",
		"{\"a\":1}{}", "{\"a\" 1}", "{\"a\":}", "{\"a\":1,}", "{,}", "{a:1}", "{'a':1}",
		"{\"a\":01}", "{\"a\":-}", "{\"a\":1.}", "{\"a\":.5}", "{\"a\":+1}", "{\"a\":1e3}",
		"{\"a\":1E-3}", "{\"a\":1234567890123456789}", "{\"a\":0.1234567890123456789}",
		"{\"a\":tru}", "{\"a\":truex}", "{\"a\":nul}", "{\"a\":[1,]}", "{\"a\":[,1]}",
		"{\"a\":1,\"a\":2}", "{\"a\":{\"b\":1,\"b\":1}}", "{\"a\\u0062\":1}", "{\"a\\n\":1}",
		"{\"a\":\"\\u0041\"}", "{\"a\":\"\\x\"}", "{\"a\":\"tab\there\"}", "{\"a\":\"\x01\"}",
		"{\"a\":\"\xff\"}", "{\"a\":\"\xc0\xaf\"}", "{\"a\":\"\xe0\x80\xaf\"}",
		"{\"a\":\"\xed\xa0\x80\"}", "{\"a\":\"\xf4\x90\x80\x80\"}", "{\"a\":\"\xe2\x82\"}",
		"\xef\xbb\xbf{}", "{\"a\":1}\x0b", "{\"a\":\"unterminated}",
	};
	(void)state;
	for (size_t i = 0; i < sizeof(doubts) / sizeof(doubts[0]); i++)
		if (quick(doubts[i]))
			fail_msg("passed, should be left to the parser: '%s'", doubts[i]);
	/* Bounds: 33 levels and 33 keys are left to the parser; 32 pass. */
	char text[1024];
	size_t n = 0;
	for (int depth = 32; depth <= 33; depth++) {
		n = 0;
		for (int i = 0; i < depth; i++)
			n += (size_t)sprintf(text + n, "{\"k\":");
		n += (size_t)sprintf(text + n, "1");
		for (int i = 0; i < depth; i++)
			text[n++] = '}';
		text[n] = '\0';
		assert_true(jansson_object(text, n));
		assert_int_equal(quick(text), depth == 32);
	}
	for (int keys = 32; keys <= 33; keys++) {
		n = (size_t)sprintf(text, "{");
		for (int i = 0; i < keys; i++)
			n += (size_t)sprintf(text + n, "%s\"k%d\":%d", i ? "," : "", i, i);
		n += (size_t)sprintf(text + n, "}");
		assert_true(jansson_object(text, n));
		assert_int_equal(quick(text), keys == 32);
	}
	assert_int_equal(onex_kafka_json_is_plain_object(NULL, 0), 0);
	assert_int_equal(onex_kafka_json_is_plain_object("{}\0", 3), 0);
}

/* Random edits of the envelopes: whatever the quick check passes, jansson takes as an object. */
static void test_mutations_never_pass_what_jansson_refuses(void **state)
{
	static const char alphabet[] = "{}[]\":,\\/ \t\n0123456789-+.eEtruefalsnabu\x01\x7f";
	static const unsigned char high[] = { 0x80, 0xbf, 0xc0, 0xc2, 0xe0, 0xed, 0xef, 0xf0,
					      0xf4, 0xf5, 0xff };
	unsigned long seed = 12345, passed = 0, accepted = 0;
	char buf[1024];
	(void)state;
	for (unsigned iter = 0; iter < 300000; iter++) {
		const char *src = envelopes[iter % 2];
		size_t len = strlen(src);
		memcpy(buf, src, len);
		unsigned edits = 1 + (unsigned)((seed = seed * 6364136223846793005ul + 1) >> 60) % 3;
		for (unsigned e = 0; e < edits && len > 0 && len < sizeof(buf) - 1; e++) {
			seed = seed * 6364136223846793005ul + 1442695040888963407ul;
			size_t at = (size_t)(seed >> 33) % len;
			unsigned kind = (unsigned)(seed >> 20) % 3;
			char ch = (seed >> 8) % 5 == 0 ? (char)high[(seed >> 40) % sizeof(high)]
						      : alphabet[(seed >> 45) % (sizeof(alphabet) - 1)];
			if (kind == 0) {
				buf[at] = ch;
			} else if (kind == 1) {
				memmove(buf + at + 1, buf + at, len - at);
				buf[at] = ch;
				len++;
			} else {
				memmove(buf + at, buf + at + 1, len - at - 1);
				len--;
			}
		}
		int q = onex_kafka_json_is_plain_object(buf, len);
		int j = jansson_object(buf, len);
		if (q && !j)
			fail_msg("passed text jansson refuses: '%.*s'", (int)len, buf);
		passed += (unsigned long)q;
		accepted += (unsigned long)j;
	}
	print_message("%lu of 300000 mutations passed quickly; jansson accepted %lu\n", passed,
		      accepted);
	assert_true(passed > 1000); /* the property was tested on passing text */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_envelopes_pass),
		cmocka_unit_test(test_doubts_go_to_the_parser),
		cmocka_unit_test(test_mutations_never_pass_what_jansson_refuses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
