/*
 * match.h - partial matching of envelopes for `expect` steps, with
 * matchers (any, any_uuid, ...), {{name.path}} references to earlier
 * envelopes, and a field-by-field diff for failure messages.
 */
#ifndef ONEX_SIM_MATCH_H
#define ONEX_SIM_MATCH_H

#include <jansson.h>
#include <stddef.h>

#define ONEX_SIM_NAMES_MAX 4096u

/* Envelopes named by `as:`, for references. */
struct onex_sim_names {
	char name[ONEX_SIM_NAMES_MAX][64];
	json_t *value[ONEX_SIM_NAMES_MAX]; /* owned */
	size_t count;
};

void onex_sim_names_add(struct onex_sim_names *names, const char *name, const json_t *value);
void onex_sim_names_release(struct onex_sim_names *names);

/* The value at a dotted path ("payload.rows.0.id") of `root`, or NULL. Borrowed. */
const json_t *onex_sim_json_path(const json_t *root, const char *path);

/*
 * A copy of `tmpl` with every {{name.path}} replaced: a string that is
 * exactly one reference becomes the referenced value (any type); a
 * reference inside a longer string is replaced by its text. Returns a new
 * reference, or NULL with `err` saying which reference failed.
 */
json_t *onex_sim_substitute(const json_t *tmpl, const struct onex_sim_names *names,
			    char *err, size_t err_size);

/*
 * Compare `actual` with the (already substituted) `pattern`: objects match
 * when every key of the pattern matches (extra keys in actual are fine),
 * lists element by element with equal length, numbers by value, strings
 * may be matchers (any, any_uuid, any_string, any_timestamp, any_number,
 * absent). Appends one line per difference to `diff` ("  path: expected
 * X, got Y"). Returns the number of differences.
 */
size_t onex_sim_match(const json_t *pattern, const json_t *actual, char *diff, size_t diff_size);

#endif
