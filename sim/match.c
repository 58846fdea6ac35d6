/*
 * match.c - partial matching, references and diffs for scenario expects.
 */
#include "match.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "uuid.h"

void onex_sim_names_add(struct onex_sim_names *names, const char *name, const json_t *value)
{
	if (names->count == ONEX_SIM_NAMES_MAX)
		return; /* bounded by ONEX_SCENARIO_STEPS_MAX, which is smaller */
	snprintf(names->name[names->count], sizeof(names->name[0]), "%s", name);
	names->value[names->count++] = json_deep_copy(value);
}

void onex_sim_names_release(struct onex_sim_names *names)
{
	for (size_t i = 0; i < names->count; i++)
		json_decref(names->value[i]);
	names->count = 0;
}

const json_t *onex_sim_json_path(const json_t *root, const char *path)
{
	char seg[256];
	const json_t *cur = root;
	while (cur && *path) {
		const char *dot = strchr(path, '.');
		size_t n = dot ? (size_t)(dot - path) : strlen(path);
		if (n >= sizeof(seg))
			return NULL;
		memcpy(seg, path, n);
		seg[n] = '\0';
		if (json_is_array(cur)) {
			char *end;
			unsigned long i = strtoul(seg, &end, 10);
			cur = *end ? NULL : json_array_get(cur, i);
		} else {
			cur = json_object_get(cur, seg);
		}
		path += n + (dot ? 1 : 0);
	}
	return cur;
}

/* Resolve "name.path" (the text between the braces). */
static const json_t *lookup(const struct onex_sim_names *names, const char *ref, size_t len,
			    char *err, size_t err_size)
{
	char buf[512];
	if (len >= sizeof(buf)) {
		snprintf(err, err_size, "reference too long");
		return NULL;
	}
	memcpy(buf, ref, len);
	buf[len] = '\0';
	char *dot = strchr(buf, '.');
	if (dot)
		*dot = '\0';
	for (size_t i = names->count; i-- > 0;) {
		if (strcmp(names->name[i], buf) != 0)
			continue;
		const json_t *v = dot ? onex_sim_json_path(names->value[i], dot + 1) : names->value[i];
		if (!v)
			snprintf(err, err_size, "{{%s.%s}}: '%s' has no field '%s'", buf, dot + 1, buf,
				 dot + 1);
		return v;
	}
	snprintf(err, err_size, "{{%s}}: no envelope named '%s' yet", buf, buf);
	return NULL;
}

static json_t *substitute_string(const char *s, const struct onex_sim_names *names, char *err,
				 size_t err_size)
{
	const char *open = strstr(s, "{{");
	if (!open)
		return json_string(s);
	size_t slen = strlen(s);
	/* Exactly one reference: keep the referenced value's type. */
	if (open == s && slen > 4 && strcmp(s + slen - 2, "}}") == 0 && !strstr(s + 2, "{{")) {
		const json_t *v = lookup(names, s + 2, slen - 4, err, err_size);
		return v ? json_deep_copy(v) : NULL;
	}
	char out[4096];
	size_t n = 0;
	while (*s && n < sizeof(out) - 1) {
		const char *end;
		if (s[0] == '{' && s[1] == '{' && (end = strstr(s, "}}"))) {
			const json_t *v = lookup(names, s + 2, (size_t)(end - s - 2), err, err_size);
			if (!v)
				return NULL;
			char *t = json_is_string(v) ? strdup(json_string_value(v))
						    : json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
			int w = snprintf(out + n, sizeof(out) - n, "%s", t ? t : "");
			free(t);
			n += w > 0 ? (size_t)w : 0;
			if (n >= sizeof(out))
				n = sizeof(out) - 1;
			s = end + 2;
		} else {
			out[n++] = *s++;
		}
	}
	out[n] = '\0';
	return json_string(out);
}

json_t *onex_sim_substitute(const json_t *tmpl, const struct onex_sim_names *names, char *err,
			    size_t err_size)
{
	const char *key;
	json_t *v, *out;
	size_t i;
	switch (json_typeof(tmpl)) {
	case JSON_STRING:
		return substitute_string(json_string_value(tmpl), names, err, err_size);
	case JSON_OBJECT:
		out = json_object();
		json_object_foreach((json_t *)tmpl, key, v) {
			json_t *s = onex_sim_substitute(v, names, err, err_size);
			if (!s) {
				json_decref(out);
				return NULL;
			}
			json_object_set_new(out, key, s);
		}
		return out;
	case JSON_ARRAY:
		out = json_array();
		json_array_foreach(tmpl, i, v) {
			json_t *s = onex_sim_substitute(v, names, err, err_size);
			if (!s) {
				json_decref(out);
				return NULL;
			}
			json_array_append_new(out, s);
		}
		return out;
	default:
		return json_deep_copy(tmpl);
	}
}

static void show(const json_t *v, char *buf, size_t size)
{
	if (!v) {
		snprintf(buf, size, "(absent)");
		return;
	}
	char *t = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
	if (t && strlen(t) > 160)
		snprintf(buf, size, "%.157s...", t);
	else
		snprintf(buf, size, "%s", t ? t : "?");
	free(t);
}

static size_t differ(const char *path, const json_t *want, const json_t *got, const char *why,
		     char *diff, size_t size)
{
	char a[200], b[200];
	size_t n = strlen(diff);
	show(want, a, sizeof(a));
	show(got, b, sizeof(b));
	if (why)
		snprintf(a, sizeof(a), "%s", why);
	if (n < size)
		snprintf(diff + n, size - n, "  %s: expected %s, got %s\n", path[0] ? path : "(envelope)",
			 a, b);
	return 1;
}

static int numbers_equal(const json_t *a, const json_t *b)
{
	return json_is_number(a) && json_is_number(b) &&
	       json_number_value(a) == json_number_value(b);
}

static size_t match_at(const char *path, const json_t *pat, const json_t *act, char *diff,
		       size_t size)
{
	if (json_is_string(pat)) {
		const char *m = json_string_value(pat);
		if (strcmp(m, "any") == 0)
			return act ? 0 : differ(path, pat, act, "any value", diff, size);
		if (strcmp(m, "absent") == 0)
			return act ? differ(path, pat, act, "(absent)", diff, size) : 0;
		if (strcmp(m, "any_uuid") == 0)
			return json_is_string(act) && onex_uuid_is_valid(json_string_value(act))
				       ? 0
				       : differ(path, pat, act, "a UUID", diff, size);
		if (strcmp(m, "any_string") == 0)
			return json_is_string(act) ? 0 : differ(path, pat, act, "a string", diff, size);
		if (strcmp(m, "any_number") == 0)
			return json_is_number(act) ? 0 : differ(path, pat, act, "a number", diff, size);
		if (strcmp(m, "any_timestamp") == 0)
			return json_is_string(act) && onex_timestamp_is_valid(json_string_value(act))
				       ? 0
				       : differ(path, pat, act, "an RFC 3339 timestamp", diff, size);
	}
	if (!act)
		return differ(path, pat, act, NULL, diff, size);
	if (json_is_object(pat)) {
		if (!json_is_object(act))
			return differ(path, pat, act, "an object", diff, size);
		size_t bad = 0;
		const char *key;
		json_t *v;
		json_object_foreach((json_t *)pat, key, v) {
			char sub[512];
			snprintf(sub, sizeof(sub), "%s%s%s", path, path[0] ? "." : "", key);
			bad += match_at(sub, v, json_object_get(act, key), diff, size);
		}
		return bad;
	}
	if (json_is_array(pat)) {
		if (!json_is_array(act) || json_array_size(act) != json_array_size(pat))
			return differ(path, pat, act, NULL, diff, size);
		size_t bad = 0, i;
		json_t *v;
		json_array_foreach(pat, i, v) {
			char sub[512];
			snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
			bad += match_at(sub, v, json_array_get(act, i), diff, size);
		}
		return bad;
	}
	if (json_equal(pat, act) || numbers_equal(pat, act))
		return 0;
	return differ(path, pat, act, NULL, diff, size);
}

size_t onex_sim_match(const json_t *pattern, const json_t *actual, char *diff, size_t diff_size)
{
	return match_at("", pattern, actual, diff, diff_size);
}
