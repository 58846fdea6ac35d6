/*
 * envelope.h - the envelope of spec §2: decode, validate, encode, and the
 * response / error envelopes of spec §5.
 *
 * An envelope keeps the JSON object exactly as decoded (unknown fields,
 * number values and every string byte, including "\u0000", survive
 * decode -> encode -> decode). Validation fills *views*: borrowed pointers
 * to the routing fields, plus host-owned "effective" values where the host
 * had to assign one (a missing envelope_id, correlation_id, handler_type or
 * timestamp). The JSON object itself is never modified once decoded.
 */
#ifndef ONEX_ENVELOPE_H
#define ONEX_ENVELOPE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "handler_type.h"
#include "json_out.h"
#include "uuid.h"

#define ONEX_ENVELOPE_VERSION "1.0"
#define ONEX_TIMESTAMP_BYTES 32 /* "2025-01-01T00:00:00.000000Z" + NUL */

struct onex_envelope {
	json_t *json; /* owned: the object as received */

	/* Views, valid while `json` lives; NULL when absent or JSON null. */
	const char *envelope_id;
	const char *correlation_id;
	const char *causation_id;
	const char *source_node;
	const char *target_node;
	const char *handler_type_name;
	const char *operation;
	const char *timestamp;
	const json_t *payload;	/* object, or NULL */
	const json_t *metadata; /* object, or NULL */
	int is_response;

	/* Resolved by validation: the handler type (named or derived). */
	enum onex_handler_type handler_type;
	int handler_type_known; /* 0 when the name is not a known type */

	/* Storage for values the host assigned (the views point here then). */
	char assigned_envelope_id[ONEX_UUID_STR_BYTES];
	char assigned_correlation_id[ONEX_UUID_STR_BYTES];
	char assigned_timestamp[ONEX_TIMESTAMP_BYTES];
	/* A present but invalid correlation_id, kept for the error reply. */
	char rejected_correlation_id[80];
};

/*
 * Parse `len` bytes of JSON text into a new object. Rejects: more than
 * ONEX_ENVELOPE_BYTES_MAX bytes, invalid JSON or UTF-8 (error names the
 * line and column), duplicate keys, and any value that is not an object.
 * Ownership: *out is a new reference for the caller.
 * Error code: ENVELOPE_VALIDATION_ERROR.
 */
int onex_envelope_parse(const char *data, size_t len, json_t **out,
			struct onex_error *err);

/*
 * Take `json` (the reference is stolen, also on failure: it then lives in
 * env->json and onex_envelope_release() frees it) and fill env's views.
 * Checks every field of spec §2 that is present for its type, that
 * `operation` is present, that the payload is present for the operations
 * that need one, and derives handler_type from the operation prefix when
 * absent. On failure the error text names every missing and every
 * ill-typed field; views that were valid are still filled, so an error
 * reply can echo them.
 */
int onex_envelope_init(struct onex_envelope *env, json_t *json,
		       struct onex_error *err);

/* Free what env owns and zero it. */
void onex_envelope_release(struct onex_envelope *env);

/* Host-only: fill a missing id / correlation / timestamp. */
void onex_envelope_assign_id(struct onex_envelope *env,
			     const char id[ONEX_UUID_STR_BYTES]);
void onex_envelope_assign_correlation(struct onex_envelope *env,
				      const char id[ONEX_UUID_STR_BYTES]);
void onex_envelope_assign_timestamp(struct onex_envelope *env, int64_t wall_ns);

/*
 * Encode compactly, keys in their original order, UTF-8 kept as UTF-8.
 * Ownership: returns malloc'd text (free with free()), length in *len;
 * NULL on allocation failure.
 */
char *onex_envelope_encode(const json_t *json, size_t *len);

/* What the host needs to build a reply, independent of any request. */
struct onex_reply_spec {
	const char *envelope_id; /* new id for the reply */
	const char *timestamp;
	const struct onex_envelope *request; /* may be partially valid */
	int success;
	json_t *payload; /* stolen; NULL means JSON null */
	const struct onex_error *error; /* when !success */
	json_t *error_extra; /* stolen; merged into "error" (e.g. available_handlers) */
};

/*
 * Build a response (spec §2) or error envelope (spec §5): correlation_id
 * echoed, causation_id = request envelope_id, is_response true,
 * metadata.original_target_node kept. Ownership: new reference.
 */
json_t *onex_envelope_build_reply(const struct onex_reply_spec *spec);

/*
 * Write the reply of onex_envelope_build_reply(spec) straight into `out`
 * (reset first), byte for byte what onex_envelope_encode() of that tree
 * gives, without building the tree. Unlike build_reply, nothing is
 * stolen: spec->payload and spec->error_extra stay the caller's. Returns 0,
 * or -1 when the writer could not (out of memory, invalid UTF-8, nesting
 * beyond ONEX_JSON_OUT_DEPTH_MAX): then build + encode with jansson, which
 * gives the same bytes or fails the same way.
 */
int onex_envelope_write_reply(const struct onex_reply_spec *spec, struct onex_json_out *out);

/*
 * A JSON string for text that should be UTF-8 but may not be (library
 * error messages can quote raw input): bytes that break UTF-8 become '?'.
 * Ownership: new reference.
 */
json_t *onex_json_string_lossy(const char *text);

/* RFC 3339 UTC with microseconds: 2025-01-01T00:00:00.000000Z. */
void onex_timestamp_format(int64_t wall_ns, char out[ONEX_TIMESTAMP_BYTES]);

/* True when s has exactly the form onex_timestamp_format writes, or
 * RFC 3339 with a 'Z' or numeric offset and optional fraction. */
int onex_timestamp_is_valid(const char *s);

#endif
