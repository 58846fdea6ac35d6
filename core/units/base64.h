/*
 * base64.h - standard base64 (RFC 4648, with padding) of binary column
 * values, as JSON strings: the db units return BLOB / bytea this way.
 */
#ifndef ONEX_BASE64_H
#define ONEX_BASE64_H

#include <jansson.h>
#include <stddef.h>

/* A new JSON string with the base64 of p[0..n), or NULL when out of memory. */
json_t *onex_base64_json(const unsigned char *p, size_t n);

#endif
