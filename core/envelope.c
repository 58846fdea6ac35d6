/*
 * envelope.c - envelope decode / validate / encode and reply building
 * (spec §2, §5, §6; REFERENCE_BEHAVIOUR "Requests it accepts").
 *
 * The decoded JSON object is never modified: validation only reads it and
 * records borrowed views. Values the host assigns live in the envelope's
 * own buffers, so a request is echoed in traces exactly as it arrived.
 */
#include "envelope.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "limits.h"

int onex_envelope_parse(const char *data, size_t len, json_t **out,
			struct onex_error *err)
{
	json_error_t jerr;
	json_t *json;

	*out = NULL;
	if (len > ONEX_ENVELOPE_BYTES_MAX)
		return onex_error_set(err, ONEX_ERR_ENVELOPE_VALIDATION_ERROR, NULL, 0, 0,
				      "envelope is %zu bytes; the limit is %u bytes",
				      len, ONEX_ENVELOPE_BYTES_MAX);
	json = json_loadb(data, len, JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES,
			  &jerr);
	if (!json)
		return onex_error_set(err, ONEX_ERR_ENVELOPE_VALIDATION_ERROR, NULL, 0, 0,
				      "invalid JSON at line %d column %d: %s",
				      jerr.line, jerr.column, jerr.text);
	if (!json_is_object(json)) {
		static const char *const kinds[] = { "an object", "an array", "a string",
						     "an integer", "a number", "true",
						     "false", "null" };
		onex_error_set(err, ONEX_ERR_ENVELOPE_VALIDATION_ERROR, NULL, 0, 0,
			       "an envelope must be a JSON object, got %s",
			       kinds[json_typeof(json)]);
		json_decref(json);
		return -1;
	}
	*out = json;
	return 0;
}

/* Collects field problems so one message names all of them. */
struct problems {
	char missing[256];
	char bad[768];
};

static void add_to(char *buf, size_t size, const char *text)
{
	size_t n = strlen(buf);
	if (n + 2 >= size)
		return;
	snprintf(buf + n, size - n, "%s%s", n ? ", " : "", text);
}

static void ill_typed(struct problems *p, const char *field, const char *want)
{
	char item[160];
	snprintf(item, sizeof(item), "%s (must be %s)", field, want);
	add_to(p->bad, sizeof(p->bad), item);
}

/* A routing name: [a-z0-9][a-z0-9_-]* within the name limit. */
static int is_slug(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > ONEX_NAME_BYTES_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		int ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			 (i > 0 && (c == '_' || c == '-'));
		if (!ok)
			return 0;
	}
	return 1;
}

/* Lowercase dotted: segment(.segment)+, segments [a-z0-9_]+. */
static int is_operation(const char *s)
{
	size_t n = strlen(s), seg = 0, dots = 0;
	if (n == 0 || n > ONEX_NAME_BYTES_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '.') {
			if (seg == 0)
				return 0;
			dots++;
			seg = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_') {
			seg++;
		} else {
			return 0;
		}
	}
	return dots > 0 && seg > 0;
}

/*
 * A string field that may be absent or null. Returns the string, or NULL
 * (absent/null, or ill-typed: then recorded in p).
 */
static const char *opt_string(const json_t *obj, const char *field,
			      struct problems *p, const char *want)
{
	const json_t *v = json_object_get(obj, field);
	if (!v || json_is_null(v))
		return NULL;
	if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)) {
		ill_typed(p, field, want);
		return NULL;
	}
	return json_string_value(v);
}

static void check_ids(struct onex_envelope *env, struct problems *p)
{
	const json_t *json = env->json;
	const json_t *corr = json_object_get(json, "correlation_id");
	const char *s;

	s = opt_string(json, "envelope_id", p, "a UUID string");
	if (s && !onex_uuid_is_valid(s))
		ill_typed(p, "envelope_id", "a UUID string");
	else
		env->envelope_id = s;

	s = opt_string(json, "causation_id", p, "a UUID string or null");
	if (s && !onex_uuid_is_valid(s))
		ill_typed(p, "causation_id", "a UUID string or null");
	else
		env->causation_id = s;

	/* REFERENCE decision: an invalid correlation id is never echoed. */
	if (corr && !json_is_null(corr)) {
		if (json_is_string(corr) && onex_uuid_is_valid(json_string_value(corr))) {
			env->correlation_id = json_string_value(corr);
		} else {
			char *text = json_is_string(corr) ? NULL : json_dumps(corr, JSON_ENCODE_ANY | JSON_COMPACT);
			snprintf(env->rejected_correlation_id,
				 sizeof(env->rejected_correlation_id), "%s",
				 text ? text : json_string_value(corr));
			free(text);
			ill_typed(p, "correlation_id", "a UUID string or null");
		}
	}
}

static void check_routing(struct onex_envelope *env, struct problems *p)
{
	const json_t *json = env->json;
	const char *s;

	s = opt_string(json, "source_node", p, "a node slug string");
	if (s && !is_slug(s))
		ill_typed(p, "source_node", "a node slug ([a-z0-9][a-z0-9_-]*)");
	else
		env->source_node = s;
	s = opt_string(json, "target_node", p, "a node slug string");
	if (s && !is_slug(s))
		ill_typed(p, "target_node", "a node slug ([a-z0-9][a-z0-9_-]*)");
	else
		env->target_node = s;

	if (!json_object_get(json, "operation") ||
	    json_is_null(json_object_get(json, "operation"))) {
		add_to(p->missing, sizeof(p->missing), "operation");
	} else {
		s = opt_string(json, "operation", p, "a lowercase dotted string");
		if (s && !is_operation(s))
			ill_typed(p, "operation", "a lowercase dotted string like 'db.query'");
		else
			env->operation = s;
	}

	env->handler_type_name = opt_string(json, "handler_type", p, "a string");
	if (env->handler_type_name)
		env->handler_type_known = onex_handler_type_parse(
			env->handler_type_name, &env->handler_type) == 0;
	else if (env->operation)
		env->handler_type_known = onex_handler_type_from_operation(
			env->operation, &env->handler_type) == 0;
}

static void check_body(struct onex_envelope *env, struct problems *p)
{
	const json_t *json = env->json;
	const json_t *v;
	const char *s;

	v = json_object_get(json, "payload");
	if (v && !json_is_null(v) && !json_is_object(v))
		ill_typed(p, "payload", "an object or null");
	else
		env->payload = json_is_object(v) ? v : NULL;

	v = json_object_get(json, "metadata");
	if (v && !json_is_null(v) && !json_is_object(v))
		ill_typed(p, "metadata", "an object or null");
	else
		env->metadata = json_is_object(v) ? v : NULL;

	s = opt_string(json, "envelope_version", p, "a string");
	(void)s;
	s = opt_string(json, "timestamp", p, "an RFC 3339 UTC timestamp string");
	if (s && !onex_timestamp_is_valid(s))
		ill_typed(p, "timestamp", "an RFC 3339 timestamp like 2025-01-01T00:00:00.000000Z");
	else
		env->timestamp = s;

	v = json_object_get(json, "is_response");
	if (v && !json_is_boolean(v) && !json_is_null(v))
		ill_typed(p, "is_response", "a boolean");
	else
		env->is_response = json_is_true(v);
	v = json_object_get(json, "success");
	if (v && !json_is_boolean(v) && !json_is_null(v))
		ill_typed(p, "success", "a boolean or null");
	v = json_object_get(json, "error");
	if (v && !json_is_object(v) && !json_is_null(v))
		ill_typed(p, "error", "an object or null");
}

int onex_envelope_init(struct onex_envelope *env, json_t *json,
		       struct onex_error *err)
{
	struct problems p = { { 0 }, { 0 } };

	memset(env, 0, sizeof(*env));
	env->json = json;
	check_ids(env, &p);
	check_routing(env, &p);
	check_body(env, &p);

	if (p.missing[0] || p.bad[0]) {
		char both[1100];
		snprintf(both, sizeof(both), "%s%s%s%s%s",
			 p.missing[0] ? "missing required field(s): " : "", p.missing,
			 p.missing[0] && p.bad[0] ? "; " : "",
			 p.bad[0] ? "ill-typed field(s): " : "", p.bad);
		return onex_error_set(err, ONEX_ERR_ENVELOPE_VALIDATION_ERROR, NULL, 0, 0,
				      "invalid envelope: %s", both);
	}
	if (env->is_response)
		return onex_error_set(err, ONEX_ERR_ENVELOPE_VALIDATION_ERROR, NULL, 0, 0,
				      "invalid envelope: is_response is true; the input "
				      "topic takes requests only");
	if (onex_operation_requires_payload(env->operation) &&
	    (!env->payload || json_object_size(env->payload) == 0))
		return onex_error_set(err, ONEX_ERR_ENVELOPE_VALIDATION_ERROR, NULL, 0, 0,
				      "payload is required for operation: %s",
				      env->operation);
	return 0;
}

void onex_envelope_release(struct onex_envelope *env)
{
	json_decref(env->json);
	memset(env, 0, sizeof(*env));
}

void onex_envelope_assign_id(struct onex_envelope *env,
			     const char id[ONEX_UUID_STR_BYTES])
{
	memcpy(env->assigned_envelope_id, id, ONEX_UUID_STR_BYTES);
	env->envelope_id = env->assigned_envelope_id;
}

void onex_envelope_assign_correlation(struct onex_envelope *env,
				      const char id[ONEX_UUID_STR_BYTES])
{
	memcpy(env->assigned_correlation_id, id, ONEX_UUID_STR_BYTES);
	env->correlation_id = env->assigned_correlation_id;
}

void onex_envelope_assign_timestamp(struct onex_envelope *env, int64_t wall_ns)
{
	onex_timestamp_format(wall_ns, env->assigned_timestamp);
	env->timestamp = env->assigned_timestamp;
}

char *onex_envelope_encode(const json_t *json, size_t *len)
{
	char *text = json_dumps(json, JSON_COMPACT);
	if (text && len)
		*len = strlen(text);
	return text;
}

static json_t *string_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

json_t *onex_json_string_lossy(const char *text)
{
	json_t *v = json_string(text);
	if (v)
		return v;
	/* Not valid UTF-8: keep ASCII, replace every other byte. */
	size_t n = strlen(text);
	char *copy = malloc(n + 1);
	if (!copy)
		return json_string("?");
	for (size_t i = 0; i <= n; i++)
		copy[i] = (unsigned char)text[i] < 0x80 ? text[i] : '?';
	v = json_string(copy);
	free(copy);
	return v;
}

static json_t *reply_metadata(const struct onex_envelope *req)
{
	json_t *meta = json_object();
	if (req && req->target_node)
		json_object_set_new(meta, "original_target_node", json_string(req->target_node));
	if (req && req->rejected_correlation_id[0])
		json_object_set_new(meta, "rejected_correlation_id",
				    onex_json_string_lossy(req->rejected_correlation_id));
	return meta;
}

static const char *effective_handler_type(const struct onex_envelope *req)
{
	if (!req)
		return NULL;
	if (req->handler_type_known)
		return onex_handler_type_name(req->handler_type);
	return req->handler_type_name;
}

/* The "error" object of an error reply; spec->error_extra is borrowed. */
static json_t *reply_error_object(const struct onex_reply_spec *spec, const char *htype,
				  const char *op)
{
	const struct onex_error *e = spec->error;
	json_t *error = json_object();
	json_object_set_new(error, "code", json_string(onex_error_code_name(
						   e ? e->code : ONEX_ERR_HANDLER_EXECUTION_ERROR)));
	json_object_set_new(error, "message",
			    onex_json_string_lossy(e && e->text[0] ? e->text : "error"));
	json_object_set_new(error, "handler_type", string_or_null(htype));
	json_object_set_new(error, "operation", string_or_null(op));
	if (spec->error_extra)
		json_object_update(error, spec->error_extra);
	return error;
}

json_t *onex_envelope_build_reply(const struct onex_reply_spec *spec)
{
	const struct onex_envelope *req = spec->request;
	const char *htype = effective_handler_type(req);
	const char *op = req ? req->operation : NULL;
	json_t *reply = json_object();
	json_t *error = spec->success ? json_null() : reply_error_object(spec, htype, op);

	json_decref(spec->error_extra);

	json_object_set_new(reply, "envelope_id", json_string(spec->envelope_id));
	json_object_set_new(reply, "envelope_version", json_string(ONEX_ENVELOPE_VERSION));
	json_object_set_new(reply, "correlation_id",
			    string_or_null(req ? req->correlation_id : NULL));
	json_object_set_new(reply, "causation_id",
			    string_or_null(req ? req->envelope_id : NULL));
	json_object_set_new(reply, "source_node", string_or_null(req ? req->target_node : NULL));
	json_object_set_new(reply, "target_node", string_or_null(req ? req->source_node : NULL));
	json_object_set_new(reply, "handler_type", string_or_null(htype));
	json_object_set_new(reply, "operation", string_or_null(op));
	json_object_set_new(reply, "payload",
			    spec->success && spec->payload ? spec->payload : json_null());
	if (!spec->success)
		json_decref(spec->payload);
	json_object_set_new(reply, "metadata", reply_metadata(req));
	json_object_set_new(reply, "timestamp", json_string(spec->timestamp));
	json_object_set_new(reply, "is_response", json_true());
	json_object_set_new(reply, "success", json_boolean(spec->success));
	json_object_set_new(reply, "error", error);
	return reply;
}

/* A key and its separator: "\"name\":" (names here need no escaping). */
#define KEY(o, literal) onex_json_out_bytes(o, literal, sizeof(literal) - 1)

int onex_envelope_write_reply(const struct onex_reply_spec *spec, struct onex_json_out *out)
{
	const struct onex_envelope *req = spec->request;
	const char *htype = effective_handler_type(req);
	const char *op = req ? req->operation : NULL;

	onex_json_out_reset(out);
	/* json_string(NULL) would leave the key out: jansson's path handles that. */
	if (!spec->envelope_id || !spec->timestamp) {
		out->failed = 1;
		return -1;
	}
	KEY(out, "{\"envelope_id\":");
	onex_json_out_string_or_null(out, spec->envelope_id);
	KEY(out, ",\"envelope_version\":\"" ONEX_ENVELOPE_VERSION "\",\"correlation_id\":");
	onex_json_out_string_or_null(out, req ? req->correlation_id : NULL);
	KEY(out, ",\"causation_id\":");
	onex_json_out_string_or_null(out, req ? req->envelope_id : NULL);
	KEY(out, ",\"source_node\":");
	onex_json_out_string_or_null(out, req ? req->target_node : NULL);
	KEY(out, ",\"target_node\":");
	onex_json_out_string_or_null(out, req ? req->source_node : NULL);
	KEY(out, ",\"handler_type\":");
	onex_json_out_string_or_null(out, htype);
	KEY(out, ",\"operation\":");
	onex_json_out_string_or_null(out, op);
	KEY(out, ",\"payload\":");
	onex_json_out_value(out, spec->success ? spec->payload : NULL);
	KEY(out, ",\"metadata\":");
	if (req && req->rejected_correlation_id[0]) { /* rare: the lossy text via jansson */
		json_t *meta = reply_metadata(req);
		onex_json_out_value(out, meta);
		json_decref(meta);
	} else if (req && req->target_node) {
		KEY(out, "{\"original_target_node\":");
		onex_json_out_string_or_null(out, req->target_node);
		KEY(out, "}");
	} else {
		KEY(out, "{}");
	}
	KEY(out, ",\"timestamp\":");
	onex_json_out_string_or_null(out, spec->timestamp);
	if (spec->success) {
		KEY(out, ",\"is_response\":true,\"success\":true,\"error\":null}");
	} else {
		json_t *error = reply_error_object(spec, htype, op);
		KEY(out, ",\"is_response\":true,\"success\":false,\"error\":");
		onex_json_out_value(out, error);
		json_decref(error);
		KEY(out, "}");
	}
	return out->failed ? -1 : 0;
}

/* Days since 1970-01-01 to civil date (Howard Hinnant's algorithm). */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* v in exactly `width` decimal digits, zero-padded (the low digits when longer). */
static void put_digits(char *at, int width, uint64_t v)
{
	for (int i = width - 1; i >= 0; i--) {
		at[i] = (char)('0' + v % 10);
		v /= 10;
	}
}

void onex_timestamp_format(int64_t wall_ns, char out[ONEX_TIMESTAMP_BYTES])
{
	int64_t us = wall_ns / 1000;
	if (wall_ns % 1000 < 0)
		us--;
	int64_t secs = us / 1000000, frac = us % 1000000;
	if (frac < 0) {
		frac += 1000000;
		secs--;
	}
	int64_t days = secs / 86400, sod = secs % 86400;
	if (sod < 0) {
		sod += 86400;
		days--;
	}
	int64_t y;
	unsigned m, d;
	civil_from_days(days, &y, &m, &d);
	/* int64 ns spans years 1677..2262: always four digits. Written by
	 * hand: snprintf was a measurable part of every reply. */
	memcpy(out, "0000-00-00T00:00:00.000000Z", 28);
	put_digits(out, 4, (uint64_t)y);
	put_digits(out + 5, 2, m);
	put_digits(out + 8, 2, d);
	put_digits(out + 11, 2, (uint64_t)(sod / 3600));
	put_digits(out + 14, 2, (uint64_t)(sod / 60 % 60));
	put_digits(out + 17, 2, (uint64_t)(sod % 60));
	put_digits(out + 20, 6, (uint64_t)frac);
	memset(out + 28, 0, ONEX_TIMESTAMP_BYTES - 28);
}

static int digits(const char *s, int n)
{
	for (int i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

int onex_timestamp_is_valid(const char *s)
{
	/* YYYY-MM-DDTHH:MM:SS */
	if (strlen(s) < 20 || !digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) ||
	    s[7] != '-' || !digits(s + 8, 2) || (s[10] != 'T' && s[10] != 't') ||
	    !digits(s + 11, 2) || s[13] != ':' || !digits(s + 14, 2) ||
	    s[16] != ':' || !digits(s + 17, 2))
		return 0;
	int mon = (s[5] - '0') * 10 + (s[6] - '0');
	int day = (s[8] - '0') * 10 + (s[9] - '0');
	int hour = (s[11] - '0') * 10 + (s[12] - '0');
	int min = (s[14] - '0') * 10 + (s[15] - '0');
	int sec = (s[17] - '0') * 10 + (s[18] - '0');
	if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60)
		return 0;
	const char *p = s + 19;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return 0;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if ((*p == 'Z' || *p == 'z') && p[1] == '\0')
		return 1;
	if ((*p == '+' || *p == '-') && digits(p + 1, 2) && p[3] == ':' &&
	    digits(p + 4, 2) && p[6] == '\0')
		return 1;
	return 0;
}
