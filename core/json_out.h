/*
 * json_out.h - a growable byte buffer and a direct compact JSON writer that
 * produces exactly the bytes json_dumps(v, JSON_COMPACT) produces with the
 * jansson this project links (keys in insertion order, UTF-8 kept, the
 * same escapes and number forms: short exact reals written directly, the
others through snprintf with jansson's format), without building a tree or
 * the per-container loop-check bookkeeping json_dump_callback does.
 *
 * The host encodes every reply with it (envelope.c onex_envelope_write_reply);
 * tests/unit/test_json_out.c compares it with jansson over many values.
 */
#ifndef ONEX_JSON_OUT_H
#define ONEX_JSON_OUT_H

#include <jansson.h>
#include <stddef.h>

struct onex_json_out {
	char *data; /* owned; NUL-terminated after every successful write */
	size_t len, cap;
	int failed; /* an allocation failed or a value could not be written */
};

void onex_json_out_init(struct onex_json_out *o);
void onex_json_out_release(struct onex_json_out *o);
/* Empty the buffer, keep its memory. */
void onex_json_out_reset(struct onex_json_out *o);

void onex_json_out_bytes(struct onex_json_out *o, const char *s, size_t n);
/* s written as a JSON string literal ("..." with jansson's escapes). */
void onex_json_out_string(struct onex_json_out *o, const char *s, size_t n);
/* A C string as a JSON string, or null when s is NULL. */
void onex_json_out_string_or_null(struct onex_json_out *o, const char *s);
/*
 * v written as json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) would; NULL
 * is written as null. Sets o->failed where jansson would fail (invalid
 * UTF-8 in a string) and when v nests deeper than ONEX_JSON_OUT_DEPTH_MAX:
 * the caller then encodes with jansson instead.
 */
void onex_json_out_value(struct onex_json_out *o, const json_t *v);

#endif
