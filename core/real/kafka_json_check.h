/*
 * kafka_json_check.h - a quick test that a Kafka message is certainly a
 * JSON object the envelope parser accepts, without building it.
 *
 * The Kafka bus sends every message that is not a JSON object to the
 * dead-letter topic (spec §8), and the host parses what the bus delivers
 * anyway; a full parse in the bus only to throw the tree away cost ~12 %
 * of the host's loop thread. This check says "certainly an object" (1)
 * only for text inside a strict, conservative subset that jansson's
 * json_loadb(JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES)
 * always accepts: RFC 8259 syntax, strict UTF-8 (no overlong forms, no
 * surrogates, nothing above U+10FFFF), no \u escapes, no backslash in an
 * object key, no exponent, numbers of at most 18 characters (no integer
 * or real overflow), at most 32 levels, at most 32 keys per object and no
 * two keys alike. Anything else gives 0, "not sure": the caller then runs
 * the full parse, which decides and names the reason. So a message it
 * passes is one jansson accepts (tests/unit/test_kafka_json_check.c checks
 * that on mutated envelopes against jansson itself).
 */
#ifndef ONEX_KAFKA_JSON_CHECK_H
#define ONEX_KAFKA_JSON_CHECK_H

#include <stddef.h>

/* 1: certainly a JSON object jansson accepts; 0: not sure (parse it). */
int onex_kafka_json_is_plain_object(const char *data, size_t len);

#endif
