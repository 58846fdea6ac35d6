/*
 * contract.c - the runtime host contract (spec §3): field tables, the
 * checks every contract file gets (unknown, prohibited, missing and
 * mistyped fields, inline secrets, schema_version), and the loader.
 *
 * Every check reports the first problem it finds with file:line:column,
 * a hint and an action, except missing required fields, which are gathered
 * over the whole file so one run lists them all. The loader works on a
 * local error record and copies it out at the end, so the hint/action of a
 * caller's earlier error are never overwritten.
 */
#include "contract.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "topic.h"
#include "yaml_tree.h"

/* Dotted paths in messages ("runtime.handlers[2].config.password"). */
#define PATH_TEXT_BYTES 256u
/* Keys longer than this get no "did you mean" and are cut in messages. */
#define SUGGEST_BYTES_MAX 64u

static const char *const schema_versions[] = { "1.0.0", "1.1.0", NULL };
#define SCHEMA_VERSIONS_TEXT "1.0.0, 1.1.0"

const char *onex_contract_supported_schema_versions(void)
{
	return SCHEMA_VERSIONS_TEXT;
}

/* ---- messages ----------------------------------------------------------- */

void onex_contract_check_init(struct onex_contract_check *chk,
			      const struct onex_yaml_doc *doc,
			      const struct onex_contract_options *opt,
			      struct onex_error *err, struct onex_error *warnings,
			      size_t warning_max, size_t *warning_count)
{
	static const struct onex_contract_options defaults = { 0, 0 };
	memset(chk, 0, sizeof(*chk));
	chk->doc = doc;
	chk->opt = opt ? opt : &defaults;
	chk->err = err;
	chk->warnings = warnings;
	chk->warning_max = warning_max;
	chk->warning_count = warning_count;
}

/* Position of `node`, or the first line of the file when there is none. */
static void position(const struct onex_contract_check *chk,
		     const struct onex_yaml_node *node, int *line, int *column)
{
	*line = node ? node->line : 1 + chk->doc->line_offset;
	*column = node ? node->column : 1;
}

static void vrecord(struct onex_error *rec, const char *source, int line,
		    int column, const char *hint, const char *action,
		    const char *fmt, va_list ap)
{
	onex_error_vset(rec, ONEX_ERR_CONTRACT_VALIDATION_ERROR, source, line,
			column, fmt, ap);
	if (hint)
		onex_error_hint(rec, "%s", hint);
	if (action)
		onex_error_action(rec, "%s", action);
}

__attribute__((format(printf, 6, 7))) static int
fail_at(struct onex_contract_check *chk, int line, int column, const char *hint,
	const char *action, const char *fmt, ...)
{
	va_list ap;
	if (onex_error_is_set(chk->err))
		return -1;
	va_start(ap, fmt);
	vrecord(chk->err, chk->doc->source, line, column, hint, action, fmt, ap);
	va_end(ap);
	return -1;
}

int onex_contract_check_fail(struct onex_contract_check *chk,
			     const struct onex_yaml_node *node, const char *hint,
			     const char *action, const char *fmt, ...)
{
	va_list ap;
	int line, column;
	if (onex_error_is_set(chk->err))
		return -1;
	position(chk, node, &line, &column);
	va_start(ap, fmt);
	vrecord(chk->err, chk->doc->source, line, column, hint, action, fmt, ap);
	va_end(ap);
	return -1;
}

void onex_contract_check_warn(struct onex_contract_check *chk,
			      const struct onex_yaml_node *node,
			      const char *hint, const char *action,
			      const char *fmt, ...)
{
	va_list ap;
	int line, column;
	if (!chk->warnings || *chk->warning_count >= chk->warning_max)
		return;
	struct onex_error *w = &chk->warnings[(*chk->warning_count)++];
	onex_error_clear(w);
	position(chk, node, &line, &column);
	if (*chk->warning_count == chk->warning_max && chk->warning_max > 1) {
		/* The last slot says that more were found: none vanish unannounced. */
		onex_error_set(w, ONEX_ERR_CONTRACT_VALIDATION_ERROR, chk->doc->source, line,
			       column, "more warnings from here on are not shown (limit %zu)",
			       chk->warning_max - 1);
		onex_error_action(w, "fix the warnings above and load the contract again");
		return;
	}
	va_start(ap, fmt);
	vrecord(w, chk->doc->source, line, column, hint, action, fmt, ap);
	va_end(ap);
}

/* "runtime" + "name" -> "runtime.name"; "" + "runtime" -> "runtime". */
static void join_path(char *buf, size_t size, const char *path,
		      const char *name)
{
	int n = path[0] ? snprintf(buf, size, "%s.%s", path, name)
			: snprintf(buf, size, "%s", name);
	if (n > 0 && (size_t)n >= size && size > 4) /* show it was cut */
		memcpy(buf + size - 4, "...", 4);
}

/* "in runtime" / "at the top level", for messages. */
static const char *where(char *buf, size_t size, const char *path)
{
	if (path[0])
		snprintf(buf, size, "in %s", path);
	else
		snprintf(buf, size, "at the top level");
	return buf;
}

/* ---- did you mean ------------------------------------------------------- */

static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t row[SUGGEST_BYTES_MAX + 1];
	if (la > SUGGEST_BYTES_MAX || lb > SUGGEST_BYTES_MAX)
		return (size_t)-1;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t cost = tolower((unsigned char)a[i - 1]) !=
				      tolower((unsigned char)b[j - 1]);
			size_t best = diag + cost;
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

const char *onex_contract_suggest(const char *word,
				  const char *const *candidates, size_t count)
{
	const char *best = NULL;
	size_t best_distance = 3;
	for (size_t i = 0; i < count; i++) {
		size_t d = edit_distance(word, candidates[i]);
		if (d < best_distance) {
			best = candidates[i];
			best_distance = d;
		}
	}
	return best;
}

/* ---- inline secrets ----------------------------------------------------- */

static const char *const secret_names[] = {
	"password", "passwd",	   "secret",	    "token",	  "api_key",
	"apikey",   "private_key", "client_secret", "access_key", NULL
};

static const char secret_hint[] =
	"contracts are committed, reviewed and printed; a secret written in "
	"one leaks";
static const char secret_action[] =
	"use a secret_ref: { secret_ref: { source: env|vault|file, key: ... } }";

/* A key that names a secret: one of secret_names, or ending in one. */
static int is_secret_key(const struct onex_yaml_node *key)
{
	char low[SUGGEST_BYTES_MAX + 1];
	size_t n = key->length;
	const char *s = key->value;
	if (n > SUGGEST_BYTES_MAX) { /* only the end matters */
		s += n - SUGGEST_BYTES_MAX;
		n = SUGGEST_BYTES_MAX;
	}
	for (size_t i = 0; i < n; i++)
		low[i] = s[i] == '-' ? '_' : (char)tolower((unsigned char)s[i]);
	low[n] = '\0';
	for (const char *const *name = secret_names; *name; name++) {
		size_t m = strlen(*name);
		if (n >= m && strcmp(low + n - m, *name) == 0)
			return 1;
	}
	return 0;
}

/* scheme://user:password@host anywhere in the text (several URLs too). */
static int has_url_password(const char *s)
{
	for (const char *p = strstr(s, "://"); p; p = strstr(p, "://")) {
		p += 3;
		size_t authority = strcspn(p, "/?#");
		const char *at = NULL;
		for (size_t i = 0; i < authority; i++)
			if (p[i] == '@')
				at = p + i;
		if (!at)
			continue;
		const char *colon = memchr(p, ':', (size_t)(at - p));
		if (colon && colon + 1 < at)
			return 1;
	}
	return 0;
}

/* libpq keyword form: "host=db password=x". */
static int has_dsn_password(const char *s)
{
	static const char word[] = "password=";
	for (const char *p = s; *p; p++) {
		if ((p == s || isspace((unsigned char)p[-1]) || p[-1] == ';') &&
		    strncasecmp(p, word, sizeof(word) - 1) == 0) {
			char next = p[sizeof(word) - 1];
			if (next && !isspace((unsigned char)next) && next != ';')
				return 1;
		}
	}
	return 0;
}

static int check_secret_ref(struct onex_contract_check *chk,
			    const struct onex_yaml_node *ref, const char *path)
{
	static const struct onex_contract_field fields[] = {
		{ .name = "source", .kind = ONEX_FIELD_STRING, .required = 1 },
		{ .name = "key", .kind = ONEX_FIELD_STRING, .required = 1 },
	};
	static const char *const sources[] = { "env", "vault", "file" };
	const struct onex_yaml_node *found[2];
	if (ref->kind != ONEX_YAML_MAPPING)
		return onex_contract_check_fail(
			chk, ref, "a secret_ref says where the secret is read from "
				  "when the host starts",
			"write secret_ref: { source: env|vault|file, key: ... }",
			"'%s' must be a mapping { source, key }, not %s", path,
			onex_yaml_describe(ref));
	if (onex_contract_check_fields(chk, ref, path, fields, 2, found))
		return -1;
	if (!found[0])
		return 0;
	for (size_t i = 0; i < sizeof(sources) / sizeof(sources[0]); i++)
		if (strcmp(found[0]->value, sources[i]) == 0)
			return 0;
	return onex_contract_check_fail(chk, found[0], "valid sources: env, file, vault",
					"use one of the valid sources",
					"unknown secret source '%.64s' in %s",
					found[0]->value, path);
}

static int check_secret_scalar(struct onex_contract_check *chk,
			       const struct onex_yaml_node *node,
			       const char *path)
{
	if (has_url_password(node->value))
		return onex_contract_check_fail(
			chk, node, secret_hint, secret_action,
			"secret written inline in '%s': a URL with a password "
			"(scheme://user:password@host)",
			path);
	if (has_dsn_password(node->value))
		return onex_contract_check_fail(
			chk, node, secret_hint, secret_action,
			"secret written inline in '%s': a connection string "
			"with password=",
			path);
	return 0;
}

int onex_contract_check_secrets(struct onex_contract_check *chk,
				const struct onex_yaml_node *node,
				const char *path)
{
	char sub[PATH_TEXT_BYTES];
	if (node->kind == ONEX_YAML_SCALAR)
		return check_secret_scalar(chk, node, path);
	for (size_t i = 0; i < node->count; i++) {
		if (node->kind == ONEX_YAML_SEQUENCE) {
			snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
			if (onex_contract_check_secrets(chk, node->items[i], sub))
				return -1;
			continue;
		}
		const struct onex_yaml_node *key = onex_yaml_map_key(node, i);
		const struct onex_yaml_node *value = onex_yaml_map_value(node, i);
		join_path(sub, sizeof(sub), path, key->value);
		if (strcmp(key->value, "secret_ref") == 0) {
			if (check_secret_ref(chk, value, sub))
				return -1;
			continue;
		}
		if (is_secret_key(key) && value->kind == ONEX_YAML_SCALAR &&
		    value->length > 0 && !onex_yaml_is_null(value) &&
		    strstr(value->value, "${"))
			return onex_contract_check_fail(
				chk, key,
				"an environment reference is not a secret_ref: "
				"handlers never read secrets from contract values; "
				"the secret resolver reads them (from env, vault or a "
				"file)",
				secret_action,
				"secret written inline: '%s' holds an environment "
				"reference ('%.64s')",
				sub, value->value);
		if (is_secret_key(key) && value->kind == ONEX_YAML_SCALAR &&
		    value->length > 0 && !onex_yaml_is_null(value))
			return onex_contract_check_fail(
				chk, key, secret_hint, secret_action,
				"secret written inline: '%s' holds a value", sub);
		if (onex_contract_check_secrets(chk, value, sub))
			return -1;
	}
	return 0;
}

/* ---- schema version ----------------------------------------------------- */

static int schema_index(const char *version)
{
	for (int i = 0; schema_versions[i]; i++)
		if (version && strcmp(schema_versions[i], version) == 0)
			return i;
	return -1;
}

int onex_contract_check_schema_version(struct onex_contract_check *chk,
				       const struct onex_yaml_node *root)
{
	const struct onex_yaml_node *v = onex_yaml_map_get(root, "schema_version");
	if (!v || onex_yaml_is_null(v))
		return 0;
	if (v->kind != ONEX_YAML_SCALAR)
		return onex_contract_check_fail(
			chk, v, "schema_version is text such as \"1.0.0\"",
			"set schema_version: \"1.0.0\"",
			"schema_version must be a string, not %s",
			onex_yaml_describe(v));
	int i = schema_index(v->value);
	if (i >= 0) {
		chk->schema_version = schema_versions[i];
		return 0;
	}
	char hint[160];
	snprintf(hint, sizeof(hint), "found '%.32s'; this build supports %s",
		 v->value, SCHEMA_VERSIONS_TEXT);
	return onex_contract_check_fail(
		chk, v, hint,
		"set schema_version to a supported version, or use a newer onex",
		"unsupported schema_version '%.32s' (supported: %s)", v->value,
		SCHEMA_VERSIONS_TEXT);
}

/* ---- fields ------------------------------------------------------------- */

/* True when the file's schema_version allows prohibited field `f`. */
static int field_allowed(const struct onex_contract_check *chk,
			 const struct onex_contract_field *f)
{
	if (!f->milestone)
		return 1;
	if (!f->allowed_from || !chk->schema_version)
		return 0;
	return schema_index(chk->schema_version) >= schema_index(f->allowed_from);
}

static int prohibited(struct onex_contract_check *chk,
		      const struct onex_yaml_node *key,
		      const struct onex_contract_field *f, const char *path)
{
	char hint[256], action[160], in[PATH_TEXT_BYTES + 8];
	if (f->allowed_from) {
		snprintf(hint, sizeof(hint),
			 "schema_version \"%s\" allows it; this file declares "
			 "\"%s\"",
			 f->allowed_from,
			 chk->schema_version ? chk->schema_version : "1.0.0");
		snprintf(action, sizeof(action),
			 "remove '%s', or declare schema_version: \"%s\"",
			 f->name, f->allowed_from);
	} else {
		snprintf(hint, sizeof(hint),
			 "no schema_version supported by this build (%s) "
			 "allows it",
			 SCHEMA_VERSIONS_TEXT);
		snprintf(action, sizeof(action), "remove '%s'", f->name);
	}
	return onex_contract_check_fail(
		chk, key, hint, action,
		"field '%s' %s is not available in v0.1 contracts: it comes "
		"with %s",
		f->name, where(in, sizeof(in), path), f->milestone);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Append to buf (always NUL-terminated, cut when full). */
__attribute__((format(printf, 4, 5))) static void
appendf(char *buf, size_t size, size_t *used, const char *fmt, ...)
{
	va_list ap;
	if (*used >= size)
		return;
	va_start(ap, fmt);
	int n = vsnprintf(buf + *used, size - *used, fmt, ap);
	va_end(ap);
	if (n > 0)
		*used += (size_t)n;
}

static int unknown_field(struct onex_contract_check *chk,
			 const struct onex_yaml_node *key, const char *path,
			 const struct onex_contract_field *fields, size_t count)
{
	const char *names[32];
	char hint[ONEX_ERROR_HINT_BYTES], in[PATH_TEXT_BYTES + 8];
	size_t n = 0, used = 0;
	for (size_t i = 0; i < count && n < 32; i++)
		if (field_allowed(chk, &fields[i]))
			names[n++] = fields[i].name;
	qsort(names, n, sizeof(names[0]), cmp_str);
	const char *guess = onex_contract_suggest(key->value, names, n);
	if (guess)
		appendf(hint, sizeof(hint), &used, "did you mean '%s'? ", guess);
	appendf(hint, sizeof(hint), &used, "valid fields: ");
	for (size_t i = 0; i < n; i++)
		appendf(hint, sizeof(hint), &used, "%s%s", i ? ", " : "", names[i]);
	where(in, sizeof(in), path);
	if (chk->opt->lenient) {
		onex_contract_check_warn(chk, key, hint,
					 "fix or remove the field; it is ignored",
					 "unknown field '%.64s' %s", key->value, in);
		return 0;
	}
	return onex_contract_check_fail(
		chk, key, hint,
		"fix or remove the field, or run with --lenient to only warn",
		"unknown field '%.64s' %s", key->value, in);
}

static int kind_error(struct onex_contract_check *chk,
		      const struct onex_yaml_node *value, const char *fpath,
		      const char *want)
{
	static const char *const yaml11_bools[] = { "yes", "no", "on", "off", "y",
						    "n", "Yes", "No", "On", "Off",
						    "YES", "NO", "ON", "OFF" };
	const char *hint = "docs/CONTRACTS.md lists every field and its type";
	if (value->kind == ONEX_YAML_SCALAR && !value->plain && strcmp(want, "text"))
		hint = "a quoted value is text: write numbers and true/false "
		       "without quotes";
	for (size_t i = 0; value->kind == ONEX_YAML_SCALAR && value->plain &&
			   i < sizeof(yaml11_bools) / sizeof(yaml11_bools[0]);
	     i++)
		if (strcmp(value->value, yaml11_bools[i]) == 0)
			hint = "only true and false are booleans in contracts "
			       "(YAML 1.2); yes/no/on/off are text";
	return onex_contract_check_fail(chk, value, hint,
					"fix the value (see docs/CONTRACTS.md)",
					"field '%s' must be %s, not %s", fpath,
					want, onex_yaml_describe(value));
}

static int check_kind(struct onex_contract_check *chk,
		      const struct onex_contract_field *f,
		      const struct onex_yaml_node *value, const char *fpath)
{
	struct onex_yaml_scalar v = { .type = ONEX_YAML_STR };
	char want[96];
	int typed = f->kind == ONEX_FIELD_INT || f->kind == ONEX_FIELD_BOOL ||
		    f->kind == ONEX_FIELD_NUMBER;
	if (typed && value->kind == ONEX_YAML_SCALAR &&
	    onex_yaml_scalar_resolve(chk->doc, value, &v, chk->err))
		return -1;
	switch (f->kind) {
	case ONEX_FIELD_STRING:
		return value->kind == ONEX_YAML_SCALAR ? 0
						       : kind_error(chk, value, fpath, "text");
	case ONEX_FIELD_INT:
		snprintf(want, sizeof(want), "an integer from %lld to %lld",
			 f->min, f->max);
		if (value->kind != ONEX_YAML_SCALAR || v.type != ONEX_YAML_INT)
			return kind_error(chk, value, fpath, want);
		if (v.integer < f->min || v.integer > f->max)
			return onex_contract_check_fail(
				chk, value, "the limits are in docs/CONTRACTS.md",
				"use a value in range",
				"field '%s' must be %s, found %lld", fpath, want,
				v.integer);
		return 0;
	case ONEX_FIELD_BOOL:
		return v.type == ONEX_YAML_BOOL && value->kind == ONEX_YAML_SCALAR
			       ? 0
			       : kind_error(chk, value, fpath, "true or false");
	case ONEX_FIELD_NUMBER:
		if (value->kind == ONEX_YAML_SCALAR &&
		    ((v.type == ONEX_YAML_INT && v.integer > 0) ||
		     (v.type == ONEX_YAML_REAL && v.real > 0)))
			return 0;
		return kind_error(chk, value, fpath, "a number above 0");
	case ONEX_FIELD_MAPPING:
		return value->kind == ONEX_YAML_MAPPING
			       ? 0
			       : kind_error(chk, value, fpath, "a mapping");
	case ONEX_FIELD_LIST:
		return value->kind == ONEX_YAML_SEQUENCE
			       ? 0
			       : kind_error(chk, value, fpath, "a list");
	default:
		return 0;
	}
}

static const struct onex_contract_field *
find_field(const struct onex_yaml_node *key,
	   const struct onex_contract_field *fields, size_t count, size_t *index)
{
	for (size_t i = 0; i < count; i++) {
		if (strlen(fields[i].name) == key->length &&
		    memcmp(fields[i].name, key->value, key->length) == 0) {
			*index = i;
			return &fields[i];
		}
	}
	return NULL;
}

int onex_contract_check_fields(struct onex_contract_check *chk,
			       const struct onex_yaml_node *map, const char *path,
			       const struct onex_contract_field *fields,
			       size_t count, const struct onex_yaml_node **found)
{
	char fpath[PATH_TEXT_BYTES];
	for (size_t i = 0; i < count; i++)
		found[i] = NULL;
	for (size_t p = 0; p < map->count; p++) {
		const struct onex_yaml_node *key = onex_yaml_map_key(map, p);
		const struct onex_yaml_node *value = onex_yaml_map_value(map, p);
		size_t i = 0;
		const struct onex_contract_field *f =
			find_field(key, fields, count, &i);
		if (!f) {
			if (unknown_field(chk, key, path, fields, count))
				return -1;
			continue;
		}
		if (!field_allowed(chk, f))
			return prohibited(chk, key, f, path);
		if (onex_yaml_is_null(value))
			continue;
		join_path(fpath, sizeof(fpath), path, f->name);
		if (check_kind(chk, f, value, fpath))
			return -1;
		found[i] = value;
	}
	for (size_t i = 0; i < count; i++)
		if (fields[i].required && !found[i])
			onex_contract_check_missing(chk, map, path, fields[i].name);
	return 0;
}

void onex_contract_check_missing(struct onex_contract_check *chk,
				 const struct onex_yaml_node *at,
				 const char *path, const char *name)
{
	char field[PATH_TEXT_BYTES];
	size_t used = strlen(chk->missing);
	join_path(field, sizeof(field), path, name);
	if (chk->missing_count++ == 0)
		position(chk, at, &chk->missing_line, &chk->missing_column);
	snprintf(chk->missing + used, sizeof(chk->missing) - used, "%s%s",
		 used ? ", " : "", field);
}

int onex_contract_check_finish(struct onex_contract_check *chk,
			       const char *hint)
{
	if (onex_error_is_set(chk->err))
		return -1;
	if (!chk->missing_count)
		return 0;
	return fail_at(chk, chk->missing_line, chk->missing_column, hint,
		       chk->missing_count > 1 ? "add the missing fields"
					      : "add the missing field",
		       "missing required field%s: %s",
		       chk->missing_count > 1 ? "s" : "", chk->missing);
}

void onex_contract_sort_warnings(struct onex_error *warnings, size_t count)
{
	/* Insertion sort: stable, and count <= ONEX_CONTRACT_WARNINGS_MAX. */
	for (size_t i = 1; i < count; i++) {
		struct onex_error w = warnings[i];
		size_t j = i;
		while (j > 0 && (warnings[j - 1].line > w.line ||
				 (warnings[j - 1].line == w.line &&
				  warnings[j - 1].column > w.column))) {
			warnings[j] = warnings[j - 1];
			j--;
		}
		warnings[j] = w;
	}
}

int onex_contract_check_copy(struct onex_contract_check *chk,
			     const struct onex_yaml_node *node,
			     const char *path, char *buf, size_t size)
{
	if (node->length == 0)
		return onex_contract_check_fail(chk, node,
						"an empty value is never meaningful here",
						"give it a value, or remove the field",
						"field '%s' is empty", path);
	if (memchr(node->value, '\0', node->length))
		return onex_contract_check_fail(chk, node,
						"a \\0 escape in a quoted string",
						"remove the NUL byte",
						"field '%s' holds a NUL byte", path);
	if (node->length >= size)
		return onex_contract_check_fail(
			chk, node, "names and paths have fixed bounds (limits.h)",
			"use a shorter value",
			"field '%s' is %zu bytes long; the limit is %zu", path,
			node->length, size - 1);
	memcpy(buf, node->value, node->length + 1);
	return 0;
}

/* ---- the runtime contract ----------------------------------------------- */

#define TENANT_MILESTONE "milestone v1.0 (multi-tenancy)"
#define BETA_MILESTONE "milestone v0.2 (beta features)"
#define BETA_SCHEMA "1.1.0"

#define FIELD(n, k) { .name = (n), .kind = (k) }
#define REQUIRED(n, k) { .name = (n), .kind = (k), .required = 1 }
#define INT_FIELD(n, lo, hi) { .name = (n), .kind = ONEX_FIELD_INT, .min = (lo), .max = (hi) }
#define TENANT_FIELD { .name = "tenant_id", .kind = ONEX_FIELD_ANY, .milestone = TENANT_MILESTONE }
#define BETA_FIELD(n, k) { .name = (n), .kind = (k), .milestone = BETA_MILESTONE, .allowed_from = BETA_SCHEMA }
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

enum { ROOT_SCHEMA, ROOT_RUNTIME };
static const struct onex_contract_field root_fields[] = {
	REQUIRED("schema_version", ONEX_FIELD_STRING),
	REQUIRED("runtime", ONEX_FIELD_MAPPING),
	TENANT_FIELD,
};

enum { RT_NAME, RT_VERSION, RT_DESCRIPTION, RT_BUS, RT_HANDLERS, RT_NODES, RT_NODES_DIR };
static const struct onex_contract_field runtime_fields[] = {
	REQUIRED("name", ONEX_FIELD_STRING),
	REQUIRED("version", ONEX_FIELD_STRING),
	FIELD("description", ONEX_FIELD_STRING),
	REQUIRED("event_bus", ONEX_FIELD_MAPPING),
	REQUIRED("handlers", ONEX_FIELD_LIST),
	FIELD("nodes", ONEX_FIELD_LIST),
	FIELD("nodes_dir", ONEX_FIELD_STRING),
	TENANT_FIELD,
};

enum { BUS_KIND, BUS_CONFIG };
static const struct onex_contract_field bus_fields[] = {
	REQUIRED("kind", ONEX_FIELD_STRING),
	FIELD("config", ONEX_FIELD_MAPPING),
};

enum { CFG_TOPICS, CFG_BOOTSTRAP, CFG_GROUP, CFG_CLIENT, CFG_DEAD_LETTER,
       CFG_INFLIGHT, CFG_PAUSE };
static const struct onex_contract_field bus_config_fields[] = {
	FIELD("topics", ONEX_FIELD_MAPPING),
	FIELD("bootstrap_servers", ONEX_FIELD_STRING),
	FIELD("consumer_group", ONEX_FIELD_STRING),
	FIELD("client_id", ONEX_FIELD_STRING),
	FIELD("dead_letter_topic", ONEX_FIELD_STRING),
	INT_FIELD("max_inflight_envelopes", 1, ONEX_HOST_INFLIGHT_MAX),
	INT_FIELD("pause_consumption_threshold", 1, ONEX_HOST_INFLIGHT_MAX),
	INT_FIELD("circuit_breaker_threshold", 1, INT32_MAX),
	INT_FIELD("history_size", 0, INT32_MAX),
	INT_FIELD("queue_bytes_max", 1, ONEX_INMEMORY_QUEUE_BYTES_MAX),
	INT_FIELD("fetch_wait_max_ms", 0, INT32_MAX),
	INT_FIELD("session_timeout_ms", 1, INT32_MAX),
};

enum { TOPIC_INPUT, TOPIC_OUTPUT };
static const struct onex_contract_field topics_fields[] = {
	FIELD("input", ONEX_FIELD_STRING),
	FIELD("output", ONEX_FIELD_STRING),
};

enum { H_TYPE, H_NAME, H_ENABLED, H_PRIORITY, H_TIMEOUT, H_CONFIG, H_RETRY,
       H_RATE_PER_S, H_RATE };
static const struct onex_contract_field handler_fields[] = {
	REQUIRED("type", ONEX_FIELD_STRING),
	FIELD("name", ONEX_FIELD_STRING),
	FIELD("enabled", ONEX_FIELD_BOOL),
	INT_FIELD("priority", INT32_MIN, INT32_MAX),
	INT_FIELD("timeout_ms", 1, INT32_MAX),
	FIELD("config", ONEX_FIELD_MAPPING),
	BETA_FIELD("retry_policy", ONEX_FIELD_MAPPING),
	BETA_FIELD("rate_limit_per_second", ONEX_FIELD_NUMBER),
	BETA_FIELD("rate_limit", ONEX_FIELD_NUMBER),
};

enum { RETRY_MAX, RETRY_BACKOFF };
static const struct onex_contract_field retry_fields[] = {
	INT_FIELD("max_retries", 0, 100),
	FIELD("backoff", ONEX_FIELD_STRING),
	INT_FIELD("base_delay_ms", 0, INT32_MAX),
	INT_FIELD("max_delay_ms", 0, INT32_MAX),
};

static const struct onex_contract_field node_ref_fields[] = {
	REQUIRED("slug", ONEX_FIELD_STRING),
};

static const char *const bus_kinds[] = { "inmemory", "kafka", "stdio" };
#define BUS_KINDS_TEXT "inmemory, kafka, stdio"

static const char runtime_required_hint[] =
	"a runtime contract needs schema_version, runtime.name, "
	"runtime.version, runtime.event_bus.kind and runtime.handlers";

/*
 * A scalar whose `${NAME}` references were resolved: it replaces the
 * original in its parent (so aliases elsewhere keep the text as written)
 * and is marked done == EXPANDED_MARK so a shared parent is not expanded
 * twice. `vars` names the variables used ("${A}, ${B}"), for messages.
 */
#define EXPANDED_MARK 2
#define ENV_NAME_BYTES_MAX 128u
#define ENV_VALUE_BYTES_MAX (64u * 1024u)
#define ENV_VARS_TEXT_BYTES 160u

struct expanded_node {
	struct onex_yaml_node node; /* first: the node pointer is this one */
	struct expanded_node *next;
	char vars[ENV_VARS_TEXT_BYTES];
};

struct loader {
	struct onex_contract_check chk;
	struct onex_yaml_doc doc;
	struct onex_runtime_contract *c;
	const struct onex_contract_options *opt;
	const struct onex_contract_env *env;
	struct expanded_node *expanded; /* owned list */
};

/* The dotted path of list item i: "runtime.handlers[2]". */
static const char *item_path(char *buf, size_t size, const char *list, size_t i)
{
	snprintf(buf, size, "%s[%zu]", list, i);
	return buf;
}

/* ---- environment references ------------------------------------------- */

static const char ref_hint[] =
	"a reference is ${NAME}, NAME made of letters, digits and '_', not "
	"starting with a digit; $${ is a literal ${";

/* Growing output text of one expansion. */
struct text_buf {
	char *data;
	size_t len, cap;
};

static int text_put(struct text_buf *t, const char *s, size_t n)
{
	if (t->len + n + 1 > t->cap) {
		size_t cap = (t->len + n + 1) * 2;
		char *d = realloc(t->data, cap);
		if (!d)
			return -1;
		t->data = d;
		t->cap = cap;
	}
	memcpy(t->data + t->len, s, n);
	t->len += n;
	t->data[t->len] = '\0';
	return 0;
}

static int env_name_valid(const char *s, size_t n)
{
	if (n == 0 || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
		return 0;
	for (size_t i = 1; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_')
			return 0;
	return 1;
}

/* The variable an expanded node came from, or NULL. */
static const char *expanded_from(const struct onex_yaml_node *node)
{
	if (!node || node->done != EXPANDED_MARK)
		return NULL;
	return ((const struct expanded_node *)(const void *)node)->vars;
}

/* " (after expanding ${A}, ${B})" when `node` was expanded, else "". */
static const char *origin(char *buf, size_t size,
			  const struct onex_yaml_node *node)
{
	const char *vars = expanded_from(node);
	if (!vars)
		return "";
	snprintf(buf, size, " (after expanding %s)", vars);
	return buf;
}

/* Append "${key}" to the list in vars (ENV_VARS_TEXT_BYTES), once each. */
static void note_var(char *vars, const char *key)
{
	char item[ENV_NAME_BYTES_MAX + 4];
	size_t len = strlen(vars);
	snprintf(item, sizeof(item), "${%s}", key);
	/* "${NAME}" is delimited on both sides, so strstr finds only itself. */
	if (strstr(vars, item) || (len >= 3 && strcmp(vars + len - 3, "...") == 0))
		return;
	if (len + 2 + strlen(item) + 4 >= ENV_VARS_TEXT_BYTES) {
		snprintf(vars + len, ENV_VARS_TEXT_BYTES - len, "%s...", len ? ", " : "");
		return;
	}
	snprintf(vars + len, ENV_VARS_TEXT_BYTES - len, "%s%s", len ? ", " : "", item);
}

/*
 * Resolve the references of scalar `node` at `path` into t; *found is set
 * when there was any reference or escape (else t is untouched). `vars`
 * (ENV_VARS_TEXT_BYTES) receives the variables used: "${A}, ${B}", cut
 * with "..." when they do not fit.
 */
static int expand_text(struct loader *ld, const struct onex_yaml_node *node,
		       const char *path, struct text_buf *t, int *found,
		       char *vars)
{
	const char *s = node->value;
	size_t n = node->length, i = 0;
	*found = 0;
	while (i < n) {
		if (s[i] != '$' || i + 1 >= n) {
			if (text_put(t, s + i, 1))
				goto oom;
			i++;
			continue;
		}
		if (s[i + 1] == '$' && i + 2 < n && s[i + 2] == '{') {
			*found = 1; /* $${ -> ${ */
			if (text_put(t, "${", 2))
				goto oom;
			i += 3;
			continue;
		}
		if (s[i + 1] != '{') {
			if (text_put(t, s + i, 1))
				goto oom;
			i++;
			continue;
		}
		*found = 1;
		const char *name = s + i + 2;
		const char *close = memchr(name, '}', n - i - 2);
		if (!close)
			return onex_contract_check_fail(
				&ld->chk, node, ref_hint,
				"close the reference with '}', or write $${ for a "
				"literal ${",
				"malformed environment reference in '%s': '${' "
				"without a closing '}'",
				path);
		size_t nl = (size_t)(close - name);
		if (!env_name_valid(name, nl) || nl > ENV_NAME_BYTES_MAX)
			return onex_contract_check_fail(
				&ld->chk, node, ref_hint,
				"fix the variable name, or write $${ for a literal ${",
				"malformed environment reference in '%s': '${%.*s}' "
				"is not a valid variable name",
				path, (int)(nl > 64 ? 64 : nl), name);
		char key[ENV_NAME_BYTES_MAX + 1];
		memcpy(key, name, nl);
		key[nl] = '\0';
		if (!ld->env || !ld->env->lookup)
			return onex_contract_check_fail(
				&ld->chk, node,
				"this contract was loaded without an environment "
				"lookup; onex-host and onex-host-dev provide one",
				"load it with onex-host or onex-host-dev, or write the "
				"value itself ($${ is a literal ${)",
				"'${%s}' in '%s': environment references need a "
				"host that resolves them",
				key, path);
		const char *value = ld->env->lookup(ld->env->arg, key);
		if (!value) {
			char hint[ENV_NAME_BYTES_MAX + 40];
			snprintf(hint, sizeof(hint), "set %s in the environment", key);
			return onex_contract_check_fail(
				&ld->chk, node, hint,
				"export the variable before starting the host, or "
				"write the value in the contract",
				"environment variable '%s' is not set ('${%s}' in "
				"'%s')",
				key, key, path);
		}
		note_var(vars, key);
		if (text_put(t, value, strlen(value)))
			goto oom;
		if (t->len > ENV_VALUE_BYTES_MAX)
			return onex_contract_check_fail(
				&ld->chk, node,
				"expanded values have a fixed bound",
				"use a shorter value",
				"'%s' is longer than %u bytes after expanding "
				"'${%s}'",
				path, ENV_VALUE_BYTES_MAX, key);
		i += 2 + nl + 1;
	}
	return 0;
oom:
	return onex_contract_check_fail(&ld->chk, node, NULL, NULL, "out of memory");
}

/* True for a scalar that the contract types as a string. */
static int is_string_scalar(const struct loader *ld,
			    const struct onex_yaml_node *node)
{
	struct onex_yaml_scalar v;
	if (node->kind != ONEX_YAML_SCALAR)
		return 0;
	if (onex_yaml_scalar_resolve(&ld->doc, node, &v, NULL))
		return 0; /* reported by the checks that follow */
	return v.type == ONEX_YAML_STR;
}

/* Expand the scalar in *slot, replacing it with a new node when it had
 * references. The new node is quoted text: an expanded value is a string. */
static int expand_slot(struct loader *ld, struct onex_yaml_node **slot,
		       const char *path)
{
	struct onex_yaml_node *node = *slot;
	struct text_buf t = { 0 };
	char vars[ENV_VARS_TEXT_BYTES] = "";
	int found = 0;
	/* Cheap tests first: most values hold no '$'. */
	if (node->done == EXPANDED_MARK || node->kind != ONEX_YAML_SCALAR ||
	    !memchr(node->value, '$', node->length) ||
	    memchr(node->value, '\0', node->length) || !is_string_scalar(ld, node))
		return 0;
	if (expand_text(ld, node, path, &t, &found, vars)) {
		free(t.data);
		return -1;
	}
	if (!found) {
		free(t.data);
		return 0;
	}
	if (!t.data && text_put(&t, "", 0))
		return onex_contract_check_fail(&ld->chk, node, NULL, NULL,
						"out of memory");
	if (has_url_password(t.data) || has_dsn_password(t.data)) {
		free(t.data);
		return onex_contract_check_fail(
			&ld->chk, node,
			"secrets reach handlers through the secret resolver, never "
			"through contract values, expanded or not",
			secret_action,
			"secret in '%s' after expanding %s: its value holds a "
			"password",
			path, vars);
	}
	struct expanded_node *e = calloc(1, sizeof(*e));
	if (!e) {
		free(t.data);
		return onex_contract_check_fail(&ld->chk, node, NULL, NULL,
						"out of memory");
	}
	e->node.kind = ONEX_YAML_SCALAR;
	e->node.line = node->line;
	e->node.column = node->column;
	e->node.value = t.data;
	e->node.length = t.len;
	e->node.plain = 0;
	e->node.expanded = 1;
	e->node.done = EXPANDED_MARK;
	memcpy(e->vars, vars, sizeof(e->vars));
	e->next = ld->expanded;
	ld->expanded = e;
	*slot = &e->node;
	return 0;
}

/* The slot holding the value of `key` in a mapping, or NULL. */
static struct onex_yaml_node **slot_of(struct onex_yaml_node *map,
				       const char *key)
{
	if (!map || map->kind != ONEX_YAML_MAPPING)
		return NULL;
	for (size_t i = 0; i < map->count; i++) {
		const struct onex_yaml_node *k = map->items[2 * i];
		if (k->length == strlen(key) && memcmp(k->value, key, k->length) == 0)
			return &map->items[2 * i + 1];
	}
	return NULL;
}

static struct onex_yaml_node *value_of(struct onex_yaml_node *map,
				       const char *key)
{
	struct onex_yaml_node **slot = slot_of(map, key);
	return slot ? *slot : NULL;
}

/* Every string scalar below *slot (values only, never keys). */
static int expand_all(struct loader *ld, struct onex_yaml_node **slot,
		      const char *path)
{
	char sub[PATH_TEXT_BYTES];
	struct onex_yaml_node *node = *slot;
	if (node->kind == ONEX_YAML_SCALAR)
		return expand_slot(ld, slot, path);
	for (size_t i = 0; i < node->count; i++) {
		if (node->kind == ONEX_YAML_SEQUENCE) {
			item_path(sub, sizeof(sub), path, i);
			if (expand_all(ld, &node->items[i], sub))
				return -1;
			continue;
		}
		join_path(sub, sizeof(sub), path, node->items[2 * i]->value);
		if (expand_all(ld, &node->items[2 * i + 1], sub))
			return -1;
	}
	return 0;
}

/*
 * Resolve references where they are allowed, before anything is validated.
 * Shapes that are wrong (config not a mapping...) are skipped here and
 * reported by the checks.
 */
static int expand_references(struct loader *ld)
{
	static const char *const bus_keys[] = { "bootstrap_servers", "consumer_group",
						"client_id", "dead_letter_topic" };
	static const char *const topic_keys[] = { "input", "output" };
	char path[PATH_TEXT_BYTES];
	struct onex_yaml_node *rt = value_of(ld->doc.root, "runtime");
	struct onex_yaml_node *cfg = value_of(value_of(rt, "event_bus"), "config");
	struct onex_yaml_node *topics = value_of(cfg, "topics");
	struct onex_yaml_node **slot;
	for (size_t i = 0; i < COUNT(bus_keys); i++) {
		join_path(path, sizeof(path), "runtime.event_bus.config", bus_keys[i]);
		if ((slot = slot_of(cfg, bus_keys[i])) && expand_slot(ld, slot, path))
			return -1;
	}
	for (size_t i = 0; i < COUNT(topic_keys); i++) {
		join_path(path, sizeof(path), "runtime.event_bus.config.topics",
			  topic_keys[i]);
		if ((slot = slot_of(topics, topic_keys[i])) &&
		    expand_slot(ld, slot, path))
			return -1;
	}
	struct onex_yaml_node *handlers = value_of(rt, "handlers");
	if (!handlers || handlers->kind != ONEX_YAML_SEQUENCE)
		return 0;
	for (size_t i = 0; i < handlers->count; i++) {
		char item[PATH_TEXT_BYTES];
		item_path(item, sizeof(item), "runtime.handlers", i);
		join_path(path, sizeof(path), item, "config");
		slot = slot_of(handlers->items[i], "config");
		if (slot && (*slot)->kind == ONEX_YAML_MAPPING && expand_all(ld, slot, path))
			return -1;
	}
	return 0;
}

static void free_expanded(struct loader *ld)
{
	while (ld->expanded) {
		struct expanded_node *next = ld->expanded->next;
		free(ld->expanded->node.value);
		free(ld->expanded);
		ld->expanded = next;
	}
}

/* ---- topics ------------------------------------------------------------- */

/* Validate one topic; buf receives it. */
static int load_topic(struct loader *ld, const struct onex_yaml_node *value,
		      const char *path, char *buf)
{
	struct onex_error terr;
	char from[ENV_VARS_TEXT_BYTES + 32];
	if (onex_contract_check_copy(&ld->chk, value, path, buf,
				     ONEX_TOPIC_BYTES_MAX + 1))
		return -1;
	onex_error_clear(&terr);
	if (onex_topic_validate(buf, NULL, &terr)) {
		if (expanded_from(value))
			return onex_contract_check_fail(
				&ld->chk, value, terr.hint, terr.action,
				"invalid topic in '%s': '%s'%s: %s", path, buf,
				origin(from, sizeof(from), value), terr.text);
		return onex_contract_check_fail(&ld->chk, value, terr.hint,
						terr.action, "invalid topic in '%s': %s",
						path, terr.text);
	}
	return 0;
}

static int check_direction(struct loader *ld, const struct onex_yaml_node *at,
			   const char *topic, const char *path,
			   enum onex_topic_direction want)
{
	enum onex_topic_direction dir = ONEX_TOPIC_CMD;
	const char *word = want == ONEX_TOPIC_CMD ? "cmd" : "evt";
	char from[ENV_VARS_TEXT_BYTES + 32];
	onex_topic_validate(topic, &dir, NULL);
	if (dir == want)
		return 0;
	return onex_contract_check_fail(
		&ld->chk, at,
		"the input topic carries commands into the runtime (cmd); the "
		"output topic carries its events out (evt)",
		"use a topic like onex.<tenant>.<domain>.cmd.v1 for input and "
		"...evt.v1 for output",
		"'%s' must have direction '%s': '%s'%s", path, word, topic,
		origin(from, sizeof(from), at));
}

static int load_topics(struct loader *ld, const struct onex_yaml_node *topics,
		       int kafka, const struct onex_yaml_node *config)
{
	static const char base[] = "runtime.event_bus.config.topics";
	const struct onex_yaml_node *found[COUNT(topics_fields)] = { 0 };
	struct onex_contract_bus *bus = &ld->c->bus;
	if (topics && onex_contract_check_fields(&ld->chk, topics, base, topics_fields,
						 COUNT(topics_fields), found))
		return -1;
	if (kafka && !found[TOPIC_INPUT])
		onex_contract_check_missing(&ld->chk, topics ? topics : config, base,
					    "input");
	if (kafka && !found[TOPIC_OUTPUT])
		onex_contract_check_missing(&ld->chk, topics ? topics : config, base,
					    "output");
	snprintf(bus->topic_input, sizeof(bus->topic_input), "%s",
		 ONEX_TOPIC_DEFAULT_INPUT);
	snprintf(bus->topic_output, sizeof(bus->topic_output), "%s",
		 ONEX_TOPIC_DEFAULT_OUTPUT);
	if (found[TOPIC_INPUT] && load_topic(ld, found[TOPIC_INPUT],
					     "runtime.event_bus.config.topics.input",
					     bus->topic_input))
		return -1;
	if (found[TOPIC_OUTPUT] && load_topic(ld, found[TOPIC_OUTPUT],
					      "runtime.event_bus.config.topics.output",
					      bus->topic_output))
		return -1;
	const struct onex_yaml_node *at = found[TOPIC_OUTPUT] ? found[TOPIC_OUTPUT]
							      : found[TOPIC_INPUT];
	if (strcmp(bus->topic_input, bus->topic_output) == 0)
		return onex_contract_check_fail(
			&ld->chk, at,
			"the host publishes its responses to the output topic and "
			"consumes the input topic",
			"use different input and output topics",
			"input and output topics are the same ('%s'): the host "
			"would consume its own responses and loop forever",
			bus->topic_input);
	if (check_direction(ld, found[TOPIC_INPUT], bus->topic_input,
			    "runtime.event_bus.config.topics.input", ONEX_TOPIC_CMD) ||
	    check_direction(ld, found[TOPIC_OUTPUT], bus->topic_output,
			    "runtime.event_bus.config.topics.output", ONEX_TOPIC_EVT))
		return -1;
	return 0;
}

/* A Kafka topic name: [A-Za-z0-9._-], at most ONEX_TOPIC_BYTES_MAX. */
static int load_dead_letter(struct loader *ld, const struct onex_yaml_node *v)
{
	static const char path[] = "runtime.event_bus.config.dead_letter_topic";
	char topic[ONEX_TOPIC_BYTES_MAX + 1], from[ENV_VARS_TEXT_BYTES + 32];
	if (onex_contract_check_copy(&ld->chk, v, path, topic, sizeof(topic)))
		return -1;
	if (strspn(topic, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			  "0123456789._-") != strlen(topic))
		return onex_contract_check_fail(
			&ld->chk, v, "topic names use letters, digits, '.', '_' and '-'",
			"rename the topic", "invalid topic in '%s': '%s'%s", path, topic,
			origin(from, sizeof(from), v));
	if (strcmp(topic, ld->c->bus.topic_input) == 0 ||
	    strcmp(topic, ld->c->bus.topic_output) == 0)
		return onex_contract_check_fail(
			&ld->chk, v, "dead letters would be consumed or mixed with "
				     "responses",
			"use a topic of its own", "'%s' is also the input or output topic",
			path);
	return 0;
}

static int load_bus_config(struct loader *ld, const struct onex_yaml_node *config,
			   int kafka, const struct onex_yaml_node *bus_node)
{
	static const char base[] = "runtime.event_bus.config";
	const struct onex_yaml_node *found[COUNT(bus_config_fields)] = { 0 };
	struct onex_yaml_scalar inflight, pause;
	if (config && onex_contract_check_fields(&ld->chk, config, base,
						 bus_config_fields,
						 COUNT(bus_config_fields), found))
		return -1;
	const struct onex_yaml_node *at = config ? config : bus_node;
	if (kafka && !found[CFG_BOOTSTRAP])
		onex_contract_check_missing(&ld->chk, at, base, "bootstrap_servers");
	if (kafka && !found[CFG_GROUP])
		onex_contract_check_missing(&ld->chk, at, base, "consumer_group");
	if (load_topics(ld, found[CFG_TOPICS], kafka, at))
		return -1;
	if (found[CFG_DEAD_LETTER] && load_dead_letter(ld, found[CFG_DEAD_LETTER]))
		return -1;
	if (found[CFG_INFLIGHT] && found[CFG_PAUSE] &&
	    !onex_yaml_scalar_resolve(&ld->doc, found[CFG_INFLIGHT], &inflight, NULL) &&
	    !onex_yaml_scalar_resolve(&ld->doc, found[CFG_PAUSE], &pause, NULL) &&
	    pause.integer > inflight.integer)
		return onex_contract_check_fail(
			&ld->chk, found[CFG_PAUSE],
			"consumption pauses when this many envelopes are in "
			"flight, so it must not exceed max_inflight_envelopes",
			"lower pause_consumption_threshold",
			"pause_consumption_threshold (%lld) is above "
			"max_inflight_envelopes (%lld)",
			pause.integer, inflight.integer);
	if (!config)
		ld->c->bus.config = json_object();
	else if (onex_yaml_to_json(&ld->doc, config, &ld->c->bus.config,
				   ld->chk.err))
		return -1;
	if (!ld->c->bus.config)
		return onex_contract_check_fail(&ld->chk, at, NULL, NULL,
						"out of memory");
	return 0;
}

static int load_bus(struct loader *ld, const struct onex_yaml_node *bus_node)
{
	const struct onex_yaml_node *found[COUNT(bus_fields)];
	struct onex_contract_bus *bus = &ld->c->bus;
	bus->line = bus_node->line;
	bus->column = bus_node->column;
	if (onex_contract_check_fields(&ld->chk, bus_node, "runtime.event_bus",
				       bus_fields, COUNT(bus_fields), found))
		return -1;
	const struct onex_yaml_node *kind = found[BUS_KIND];
	if (!kind) /* missing: reported with the others */
		return 0;
	if (onex_contract_check_copy(&ld->chk, kind, "runtime.event_bus.kind",
				     bus->kind, sizeof(bus->kind)) == 0) {
		size_t i = 0;
		while (i < COUNT(bus_kinds) && strcmp(bus_kinds[i], bus->kind) != 0)
			i++;
		if (i == COUNT(bus_kinds)) {
			char hint[160];
			const char *guess =
				onex_contract_suggest(bus->kind, bus_kinds, COUNT(bus_kinds));
			snprintf(hint, sizeof(hint), "%s%s%svalid kinds: %s",
				 guess ? "did you mean '" : "", guess ? guess : "",
				 guess ? "'? " : "", BUS_KINDS_TEXT);
			return onex_contract_check_fail(
				&ld->chk, kind, hint, "use one of the valid kinds",
				"unknown event bus kind '%s'", bus->kind);
		}
	} else {
		return -1;
	}
	return load_bus_config(ld, found[BUS_CONFIG], strcmp(bus->kind, "kafka") == 0,
			       bus_node);
}

static int unknown_handler_type(struct loader *ld, const struct onex_yaml_node *v)
{
	const char *names[ONEX_HANDLER__COUNT];
	char hint[ONEX_ERROR_HINT_BYTES];
	for (unsigned i = 0; i < ONEX_HANDLER__COUNT; i++)
		names[i] = onex_handler_type_name((enum onex_handler_type)i);
	const char *guess = onex_contract_suggest(v->value, names, ONEX_HANDLER__COUNT);
	int is_bus = 0;
	for (size_t i = 0; i < COUNT(bus_kinds); i++)
		is_bus |= strcmp(v->value, bus_kinds[i]) == 0;
	snprintf(hint, sizeof(hint), "%s%s%s%svalid types: %s",
		 is_bus ? "an event bus is not a handler: set runtime.event_bus.kind; "
			: "",
		 guess ? "did you mean '" : "", guess ? guess : "",
		 guess ? "'? " : "", onex_handler_type_valid_list());
	return onex_contract_check_fail(&ld->chk, v, hint,
					"use one of the valid handler types",
					"unknown handler type '%.64s'", v->value);
}

/* The parts of a handler entry beyond its type: retry policy, rate limit. */
static int load_handler_beta(struct loader *ld, const struct onex_yaml_node **found,
			     const char *path)
{
	char sub[PATH_TEXT_BYTES];
	const struct onex_yaml_node *retry[COUNT(retry_fields)];
	if (found[H_RATE_PER_S] && found[H_RATE])
		return onex_contract_check_fail(
			&ld->chk, found[H_RATE],
			"rate_limit is another name for rate_limit_per_second",
			"keep one of the two",
			"%s has both rate_limit and rate_limit_per_second", path);
	if (!found[H_RETRY])
		return 0;
	join_path(sub, sizeof(sub), path, "retry_policy");
	if (onex_contract_check_fields(&ld->chk, found[H_RETRY], sub, retry_fields,
				       COUNT(retry_fields), retry))
		return -1;
	const struct onex_yaml_node *b = retry[RETRY_BACKOFF];
	if (b && strcmp(b->value, "fixed") != 0 && strcmp(b->value, "exponential") != 0)
		return onex_contract_check_fail(&ld->chk, b,
						"valid backoffs: exponential, fixed",
						"use one of the valid backoffs",
						"unknown backoff '%.64s' in %s", b->value,
						sub);
	return 0;
}

/* "lines 8 and 10", or "line 6, columns 14 and 29" when both are on one line. */
static const char *both_places(char *buf, size_t size, int line1, int column1, int line2,
			       int column2)
{
	if (line1 == line2)
		snprintf(buf, size, "line %d, columns %d and %d", line1, column1, column2);
	else
		snprintf(buf, size, "lines %d and %d", line1, line2);
	return buf;
}

static int load_handler(struct loader *ld, const struct onex_yaml_node *item,
			size_t index)
{
	char path[PATH_TEXT_BYTES], tpath[PATH_TEXT_BYTES];
	char tname[ONEX_NAME_BYTES_MAX + 1], where[64];
	const struct onex_yaml_node *found[COUNT(handler_fields)];
	struct onex_runtime_contract *c = ld->c;
	enum onex_handler_type type;

	item_path(path, sizeof(path), "runtime.handlers", index);
	if (item->kind != ONEX_YAML_MAPPING)
		return onex_contract_check_fail(&ld->chk, item,
						"each entry of runtime.handlers is a mapping",
						"write the handler as { type: http }",
						"%s must be a mapping, not %s", path,
						onex_yaml_describe(item));
	if (onex_contract_check_fields(&ld->chk, item, path, handler_fields,
				       COUNT(handler_fields), found))
		return -1;
	const struct onex_yaml_node *v = found[H_TYPE];
	if (!v) /* missing: reported with the others */
		return 0;
	join_path(tpath, sizeof(tpath), path, "type");
	if (onex_contract_check_copy(&ld->chk, v, tpath, tname, sizeof(tname)))
		return -1;
	if (onex_handler_type_parse(tname, &type))
		return unknown_handler_type(ld, v);
	for (size_t i = 0; i < c->handler_count; i++)
		if (c->handlers[i].type == type)
			return onex_contract_check_fail(
				&ld->chk, v, "a host runs one handler per type",
				"remove one of them, or merge their config",
				"duplicate handler type '%s' (%s)", tname,
				both_places(where, sizeof(where), c->handlers[i].line,
					    c->handlers[i].column, item->line, item->column));
	if (type == ONEX_HANDLER_LOCAL && ld->chk.opt->production)
		return onex_contract_check_fail(
			&ld->chk, v,
			"the local handler echoes and transforms test payloads; "
			"the production host refuses it",
			"remove it, or run this contract with onex-host-dev",
			"handler type 'local' is for development only");
	if (load_handler_beta(ld, found, path))
		return -1;
	struct onex_contract_handler *h = &c->handlers[c->handler_count];
	if (onex_yaml_to_json(&ld->doc, item, &h->config, ld->chk.err))
		return -1;
	h->type = type;
	h->line = item->line;
	h->column = item->column;
	c->handler_count++;
	return 0;
}

static int load_handlers(struct loader *ld, const struct onex_yaml_node *list)
{
	if (list->count == 0) {
		onex_contract_check_warn(
			&ld->chk, list,
			"every request will be answered with HANDLER_NOT_FOUND",
			"add a handler, e.g. handlers: [ { type: http } ]",
			"empty handlers list");
		return 0;
	}
	if (list->count > ONEX_CONTRACT_HANDLERS_MAX)
		return onex_contract_check_fail(
			&ld->chk, list, "a host runs one handler per type",
			"remove handlers", "%zu handlers listed; the limit is %u",
			list->count, ONEX_CONTRACT_HANDLERS_MAX);
	for (size_t i = 0; i < list->count; i++)
		if (load_handler(ld, list->items[i], i))
			return -1;
	return 0;
}

/* A slug names a file: [A-Za-z0-9][A-Za-z0-9_-]*, so never a path. */
static int slug_valid(const char *slug)
{
	if (!isalnum((unsigned char)slug[0]))
		return 0;
	for (const char *p = slug; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-')
			return 0;
	return 1;
}

static int load_node_ref(struct loader *ld, const struct onex_yaml_node *item,
			 size_t index)
{
	char path[PATH_TEXT_BYTES], spath[PATH_TEXT_BYTES], where[64];
	const struct onex_yaml_node *slug;
	struct onex_runtime_contract *c = ld->c;
	struct onex_contract_node_ref *ref = &c->nodes[c->node_count];

	item_path(path, sizeof(path), "runtime.nodes", index);
	if (item->kind != ONEX_YAML_MAPPING)
		return onex_contract_check_fail(&ld->chk, item,
						"each entry of runtime.nodes is a mapping",
						"write the node as { slug: user_service }",
						"%s must be a mapping, not %s", path,
						onex_yaml_describe(item));
	if (onex_contract_check_fields(&ld->chk, item, path, node_ref_fields, 1, &slug))
		return -1;
	if (!slug)
		return 0;
	join_path(spath, sizeof(spath), path, "slug");
	if (onex_contract_check_copy(&ld->chk, slug, spath, ref->slug,
				     sizeof(ref->slug)))
		return -1;
	if (!slug_valid(ref->slug))
		return onex_contract_check_fail(
			&ld->chk, slug,
			"a slug names the node contract file <slug>.yaml in nodes_dir",
			"use letters, digits, '_' and '-' only",
			"invalid node slug '%.64s'", ref->slug);
	for (size_t i = 0; i < c->node_count; i++)
		if (strcmp(c->nodes[i].slug, ref->slug) == 0)
			return onex_contract_check_fail(
				&ld->chk, slug, "each node is listed once",
				"remove one of them",
				"duplicate node slug '%s' (%s)", ref->slug,
				both_places(where, sizeof(where), c->nodes[i].line,
					    c->nodes[i].column, slug->line, slug->column));
	ref->line = slug->line;
	ref->column = slug->column;
	c->node_count++;
	return 0;
}

static int load_nodes(struct loader *ld, const struct onex_yaml_node *list)
{
	if (list->count > ONEX_CONTRACT_NODES_MAX)
		return onex_contract_check_fail(
			&ld->chk, list, "the limit is ONEX_CONTRACT_NODES_MAX in limits.h",
			"split the nodes over several hosts",
			"%zu nodes listed; the limit is %u", list->count,
			ONEX_CONTRACT_NODES_MAX);
	if (list->count == 0)
		return 0;
	ld->c->nodes = calloc(list->count, sizeof(*ld->c->nodes));
	if (!ld->c->nodes)
		return onex_contract_check_fail(&ld->chk, list, NULL, NULL,
						"out of memory");
	for (size_t i = 0; i < list->count; i++)
		if (load_node_ref(ld, list->items[i], i))
			return -1;
	return 0;
}

/* nodes_dir = dir + "/" + (runtime.nodes_dir or "nodes"), unless absolute. */
static int resolve_nodes_dir(struct loader *ld, const struct onex_yaml_node *v)
{
	char rel[ONEX_PATH_BYTES_MAX];
	struct onex_runtime_contract *c = ld->c;
	snprintf(rel, sizeof(rel), "nodes");
	if (v && onex_contract_check_copy(&ld->chk, v, "runtime.nodes_dir", rel,
					  sizeof(rel)))
		return -1;
	size_t dl = strlen(c->dir);
	const char *sep = dl && c->dir[dl - 1] == '/' ? "" : "/";
	int n = rel[0] == '/' ? snprintf(c->nodes_dir, sizeof(c->nodes_dir), "%s", rel)
			      : snprintf(c->nodes_dir, sizeof(c->nodes_dir), "%s%s%s",
					 c->dir, sep, rel);
	if (n < 0 || (size_t)n >= sizeof(c->nodes_dir))
		return onex_contract_check_fail(&ld->chk, v,
						"the path is nodes_dir joined to the "
						"contract's directory",
						"use a shorter path",
						"nodes directory path is longer than %u "
						"bytes",
						ONEX_PATH_BYTES_MAX - 1);
	return 0;
}

static int load_runtime(struct loader *ld, const struct onex_yaml_node *rt)
{
	const struct onex_yaml_node *found[COUNT(runtime_fields)];
	struct onex_runtime_contract *c = ld->c;
	if (onex_contract_check_fields(&ld->chk, rt, "runtime", runtime_fields,
				       COUNT(runtime_fields), found))
		return -1;
	if (found[RT_NAME] && onex_contract_check_copy(&ld->chk, found[RT_NAME],
						       "runtime.name", c->name,
						       sizeof(c->name)))
		return -1;
	if (found[RT_VERSION] &&
	    onex_contract_check_copy(&ld->chk, found[RT_VERSION], "runtime.version",
				     c->version, sizeof(c->version)))
		return -1;
	if (found[RT_BUS] && load_bus(ld, found[RT_BUS]))
		return -1;
	if (found[RT_HANDLERS] && load_handlers(ld, found[RT_HANDLERS]))
		return -1;
	if (found[RT_NODES] && load_nodes(ld, found[RT_NODES]))
		return -1;
	return resolve_nodes_dir(ld, found[RT_NODES_DIR]);
}

static int load_root(struct loader *ld, const struct onex_yaml_node *root)
{
	const struct onex_yaml_node *found[COUNT(root_fields)];
	if (!root) { /* an empty file: everything is missing */
		onex_contract_check_missing(&ld->chk, NULL, "", "schema_version");
		onex_contract_check_missing(&ld->chk, NULL, "", "runtime");
		return 0;
	}
	if (root->kind != ONEX_YAML_MAPPING)
		return onex_contract_check_fail(
			&ld->chk, root, runtime_required_hint,
			"start the file with 'schema_version: \"1.0.0\"' and 'runtime:'",
			"a runtime contract must be a mapping, not %s",
			onex_yaml_describe(root));
	if (onex_contract_check_secrets(&ld->chk, root, "") ||
	    onex_contract_check_schema_version(&ld->chk, root) ||
	    expand_references(ld) ||
	    onex_contract_check_fields(&ld->chk, root, "", root_fields,
				       COUNT(root_fields), found))
		return -1;
	if (found[ROOT_SCHEMA])
		snprintf(ld->c->schema_version, sizeof(ld->c->schema_version), "%s",
			 ld->chk.schema_version);
	if (found[ROOT_RUNTIME] && load_runtime(ld, found[ROOT_RUNTIME]))
		return -1;
	return 0;
}

/* The parse-and-check shared by load and load_text; `c` has path and dir. */
static int load_contract(struct onex_runtime_contract *c, const char *text,
			 size_t len, int line_offset,
			 const struct onex_contract_options *opt,
			 const struct onex_contract_env *env, struct onex_error *e)
{
	struct loader ld = { .c = c, .opt = opt, .env = env };
	if (len > ONEX_CONTRACT_BYTES_MAX)
		return onex_error_set(e, ONEX_ERR_CONTRACT_VALIDATION_ERROR, c->path,
				      0, 0, "contract is %zu bytes; the limit is %u",
				      len, ONEX_CONTRACT_BYTES_MAX);
	if (onex_yaml_doc_parse(&ld.doc, text, len, c->path, line_offset, e))
		return -1;
	onex_contract_check_init(&ld.chk, &ld.doc, opt, e, c->warnings,
				 ONEX_CONTRACT_WARNINGS_MAX, &c->warning_count);
	int rc = load_root(&ld, ld.doc.root);
	if (!rc)
		rc = onex_contract_check_finish(&ld.chk, runtime_required_hint);
	onex_contract_sort_warnings(c->warnings, c->warning_count);
	onex_yaml_doc_release(&ld.doc);
	free_expanded(&ld);
	return rc;
}

/* Copy e into the caller's record unless it already holds an error. */
static int give_error(struct onex_error *err, const struct onex_error *e)
{
	if (err && !onex_error_is_set(err))
		*err = *e;
	return -1;
}

static int set_path(struct onex_runtime_contract *c, const char *path,
		    const char *dir, struct onex_error *e)
{
	if (strlen(path) >= sizeof(c->path) || strlen(dir) >= sizeof(c->dir))
		return onex_error_set(e, ONEX_ERR_CONTRACT_VALIDATION_ERROR, NULL, 0,
				      0, "contract path is longer than %u bytes",
				      ONEX_PATH_BYTES_MAX - 1);
	snprintf(c->path, sizeof(c->path), "%s", path);
	snprintf(c->dir, sizeof(c->dir), "%s", dir);
	return 0;
}

int onex_runtime_contract_load_text(const char *text, size_t len,
				    const char *display_name,
				    const char *base_dir, int line_offset,
				    const struct onex_contract_options *opt,
				    struct onex_runtime_contract **out,
				    struct onex_error *err)
{
	return onex_runtime_contract_load_text_env(text, len, display_name, base_dir,
						   line_offset, opt, NULL, out, err);
}

int onex_runtime_contract_load_text_env(const char *text, size_t len,
					const char *display_name,
					const char *base_dir, int line_offset,
					const struct onex_contract_options *opt,
					const struct onex_contract_env *env,
					struct onex_runtime_contract **out,
					struct onex_error *err)
{
	struct onex_error e;
	onex_error_clear(&e);
	*out = NULL;
	struct onex_runtime_contract *c = calloc(1, sizeof(*c));
	if (!c)
		return onex_error_set(err, ONEX_ERR_CONTRACT_VALIDATION_ERROR,
				      display_name, 0, 0, "out of memory");
	if (set_path(c, display_name ? display_name : "<contract>",
		     base_dir ? base_dir : ".", &e) ||
	    load_contract(c, text, len, line_offset, opt, env, &e)) {
		onex_runtime_contract_free(c);
		return give_error(err, &e);
	}
	*out = c;
	return 0;
}

/* Directory part of a path: "a/b.yaml" -> "a", "b.yaml" -> ".", "/b" -> "/". */
static void dir_of(const char *path, char *dir, size_t size)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		snprintf(dir, size, ".");
	else if (slash == path)
		snprintf(dir, size, "/");
	else
		snprintf(dir, size, "%.*s", (int)(slash - path), path);
}

static int read_error(const char *path, int errnum, struct onex_error *e)
{
	if (errnum == ENOENT || errnum == ENOTDIR) {
		onex_error_set(e, ONEX_ERR_CONTRACT_VALIDATION_ERROR, path, 0, 0,
			       "contract file not found");
		onex_error_hint(e, "tried '%s' (relative paths start from the "
				   "current directory; '~' is not expanded)",
				path);
		onex_error_action(e, "check the path");
		return -1;
	}
	if (errnum == EFBIG) {
		onex_error_set(e, ONEX_ERR_CONTRACT_VALIDATION_ERROR, path, 0, 0,
			       "contract file is larger than %u bytes",
			       ONEX_CONTRACT_BYTES_MAX);
		onex_error_action(e, "check that this is the contract file");
		return -1;
	}
	onex_error_set(e, ONEX_ERR_CONTRACT_VALIDATION_ERROR, path, 0, 0,
		       "cannot read contract file: %s", strerror(errnum));
	onex_error_hint(e, "tried '%s'", path);
	onex_error_action(e, "check the path and its permissions");
	return -1;
}

int onex_runtime_contract_load(const char *path,
			       const struct onex_contract_options *opt,
			       struct onex_runtime_contract **out,
			       struct onex_error *err)
{
	return onex_runtime_contract_load_env(path, opt, NULL, out, err);
}

int onex_runtime_contract_load_env(const char *path,
				   const struct onex_contract_options *opt,
				   const struct onex_contract_env *env,
				   struct onex_runtime_contract **out,
				   struct onex_error *err)
{
	struct onex_error e;
	char dir[ONEX_PATH_BYTES_MAX];
	char *text = NULL;
	size_t len = 0;
	int errnum = 0;

	onex_error_clear(&e);
	*out = NULL;
	if (onex_yaml_read_file(path, ONEX_CONTRACT_BYTES_MAX, &text, &len, &errnum))
		return give_error(err, (read_error(path, errnum, &e), &e));
	dir_of(path, dir, sizeof(dir));
	int rc = onex_runtime_contract_load_text_env(text, len, path, dir, 0, opt, env,
						     out, &e);
	free(text);
	return rc ? give_error(err, &e) : 0;
}

void onex_runtime_contract_free(struct onex_runtime_contract *contract)
{
	if (!contract)
		return;
	for (size_t i = 0; i < contract->handler_count; i++)
		json_decref(contract->handlers[i].config);
	json_decref(contract->bus.config);
	free(contract->nodes);
	free(contract);
}

int onex_runtime_contract_has_handler(const struct onex_runtime_contract *c,
				      enum onex_handler_type type)
{
	for (size_t i = 0; c && i < c->handler_count; i++)
		if (c->handlers[i].type == type)
			return 1;
	return 0;
}
