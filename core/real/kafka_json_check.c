/*
 * kafka_json_check.c - a quick, conservative "is this certainly a JSON
 * object jansson accepts" over a Kafka message, without building it (see
 * kafka_json_check.h for the subset and why). Recursive descent, bounded
 * depth, no allocation; every doubt answers 0.
 */
#include "kafka_json_check.h"

#include <stdint.h>
#include <string.h>

#include "limits.h"
#include "utf8.h"

#define DEPTH_MAX ONEX_KAFKA_JSON_CHECK_DEPTH_MAX /* jansson allows 2048 */
#define KEYS_MAX ONEX_KAFKA_JSON_CHECK_KEYS_MAX   /* per object, for the duplicate check */
#define NUMBER_MAX 18u /* characters: no integer (19 digits) or real overflow */

struct cur {
	const unsigned char *p, *end;
};

static int value(struct cur *c, unsigned depth);

static void skip_ws(struct cur *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
		c->p++;
}

static int at(const struct cur *c, unsigned char ch)
{
	return c->p < c->end && *c->p == ch;
}

static int digit_at(const struct cur *c)
{
	return c->p < c->end && *c->p >= '0' && *c->p <= '9';
}

/* One UTF-8 sequence (first byte >= 0x80), as strict as jansson's check. */
static int utf8(struct cur *c)
{
	size_t n = onex_utf8_sequence(c->p, (size_t)(c->end - c->p));
	c->p += n;
	return n > 1;
}

/* A string, c->p at its opening quote; *escaped: it holds a backslash. */
static int string(struct cur *c, int *escaped)
{
	*escaped = 0;
	c->p++;
	while (c->p < c->end) {
		unsigned char ch = *c->p;
		if (ch == '"') {
			c->p++;
			return 1;
		}
		if (ch < 0x20)
			return 0;
		if (ch == '\\') { /* \u is left to the parser (surrogates, NUL) */
			if (c->end - c->p < 2 || c->p[1] == '\0' || !strchr("\"\\/bfnrt", c->p[1]))
				return 0;
			*escaped = 1;
			c->p += 2;
		} else if (ch >= 0x80) {
			if (!utf8(c))
				return 0;
		} else {
			c->p++;
		}
	}
	return 0;
}

static int number(struct cur *c)
{
	const unsigned char *start = c->p;
	if (at(c, '-'))
		c->p++;
	if (at(c, '0')) {
		c->p++;
	} else if (digit_at(c)) {
		while (digit_at(c))
			c->p++;
	} else {
		return 0;
	}
	if (at(c, '.')) {
		c->p++;
		if (!digit_at(c))
			return 0;
		while (digit_at(c))
			c->p++;
	}
	if (at(c, 'e') || at(c, 'E'))
		return 0;
	return (size_t)(c->p - start) <= NUMBER_MAX;
}

static int literal(struct cur *c, const char *word)
{
	size_t n = strlen(word);
	if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0)
		return 0;
	c->p += n;
	return 1;
}

static int object(struct cur *c, unsigned depth)
{
	const unsigned char *key[KEYS_MAX];
	size_t key_len[KEYS_MAX];
	unsigned keys = 0;
	if (depth > DEPTH_MAX)
		return 0;
	c->p++;
	skip_ws(c);
	if (at(c, '}')) {
		c->p++;
		return 1;
	}
	for (;;) {
		const unsigned char *k = c->p + 1;
		size_t len;
		int escaped;
		if (!at(c, '"') || keys == KEYS_MAX || !string(c, &escaped) || escaped)
			return 0;
		len = (size_t)(c->p - 1 - k);
		for (unsigned i = 0; i < keys; i++)
			if (key_len[i] == len && memcmp(key[i], k, len) == 0)
				return 0; /* a duplicate: the parser names it */
		key[keys] = k;
		key_len[keys++] = len;
		skip_ws(c);
		if (!at(c, ':'))
			return 0;
		c->p++;
		skip_ws(c);
		if (!value(c, depth))
			return 0;
		skip_ws(c);
		if (at(c, '}')) {
			c->p++;
			return 1;
		}
		if (!at(c, ','))
			return 0;
		c->p++;
		skip_ws(c);
	}
}

static int array(struct cur *c, unsigned depth)
{
	if (depth > DEPTH_MAX)
		return 0;
	c->p++;
	skip_ws(c);
	if (at(c, ']')) {
		c->p++;
		return 1;
	}
	for (;;) {
		if (!value(c, depth))
			return 0;
		skip_ws(c);
		if (at(c, ']')) {
			c->p++;
			return 1;
		}
		if (!at(c, ','))
			return 0;
		c->p++;
		skip_ws(c);
	}
}

static int value(struct cur *c, unsigned depth)
{
	int escaped;
	if (c->p >= c->end)
		return 0;
	switch (*c->p) {
	case '{':
		return object(c, depth + 1);
	case '[':
		return array(c, depth + 1);
	case '"':
		return string(c, &escaped);
	case 't':
		return literal(c, "true");
	case 'f':
		return literal(c, "false");
	case 'n':
		return literal(c, "null");
	default:
		return number(c);
	}
}

int onex_kafka_json_is_plain_object(const char *data, size_t len)
{
	struct cur c = { (const unsigned char *)data, (const unsigned char *)data + len };
	if (!data)
		return 0;
	skip_ws(&c);
	if (!at(&c, '{') || !object(&c, 1))
		return 0;
	skip_ws(&c);
	return c.p == c.end;
}
