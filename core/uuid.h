/*
 * uuid.h - UUID text form: validation and formatting (pure functions).
 */
#ifndef ONEX_UUID_H
#define ONEX_UUID_H

#include <stdint.h>

#define ONEX_UUID_STR_BYTES 37 /* 36 characters + NUL */

/* True when s is 8-4-4-4-12 hex digits (either case), nothing more. */
int onex_uuid_is_valid(const char *s);

/*
 * Format 16 bytes as a version-4, RFC 4122 variant UUID (the version and
 * variant bits of `bytes` are overwritten in the output), lowercase.
 */
void onex_uuid_format_v4(const uint8_t bytes[16], char out[ONEX_UUID_STR_BYTES]);

#endif
