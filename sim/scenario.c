/*
 * scenario.c - parse and check scenario files (docs/SCENARIOS.md) with the
 * kernel's YAML tree, so every message has the file, line and column.
 */
#include "scenario.h"

#include <errno.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yaml_tree.h"

struct parser {
	struct onex_yaml_doc doc;
	const char *text; /* the file, for inline contracts */
	size_t text_len;
	struct onex_scenario *sc;
	struct onex_error *err;
	char names[ONEX_SCENARIO_STEPS_MAX][64]; /* `as` names defined so far */
	size_t name_count;
};

static int fail(struct parser *p, const struct onex_yaml_node *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct parser *p, const struct onex_yaml_node *at, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	onex_error_vset(p->err, ONEX_ERR_CONTRACT_VALIDATION_ERROR, p->sc->path,
			at ? at->line : 0, at ? at->column : 0, fmt, ap);
	va_end(ap);
	onex_error_action(p->err, "fix the scenario file; the format is in docs/SCENARIOS.md");
	return -1;
}

static const char *text(const struct onex_yaml_node *n)
{
	return n && n->kind == ONEX_YAML_SCALAR ? n->value : NULL;
}

/* Every key of `map` must be in `allowed` (NULL-terminated). */
static int check_keys(struct parser *p, const struct onex_yaml_node *map,
		      const char *const *allowed, const char *where)
{
	if (!map || map->kind != ONEX_YAML_MAPPING)
		return fail(p, map, "%s must be a mapping, got %s", where, onex_yaml_describe(map));
	for (size_t i = 0; i < map->count; i++) {
		const struct onex_yaml_node *key = onex_yaml_map_key(map, i);
		const char *const *a = allowed;
		while (*a && strcmp(*a, key->value) != 0)
			a++;
		if (!*a) {
			char list[512] = "";
			size_t n = 0;
			for (a = allowed; *a && n < sizeof(list); a++)
				n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s", n ? ", " : "", *a);
			fail(p, key, "unknown key '%s' in %s", key->value, where);
			onex_error_hint(p->err, "valid keys: %s", list);
			return -1;
		}
	}
	return 0;
}

static int get_string(struct parser *p, const struct onex_yaml_node *n, const char *what,
		      char *out, size_t size)
{
	if (!n || n->kind != ONEX_YAML_SCALAR || onex_yaml_is_null(n))
		return fail(p, n, "%s must be a string, got %s", what, onex_yaml_describe(n));
	if (n->length >= size)
		return fail(p, n, "%s is longer than %zu bytes", what, size - 1);
	memcpy(out, n->value, n->length + 1);
	return 0;
}

static int get_uint(struct parser *p, const struct onex_yaml_node *n, const char *what,
		    uint64_t *out)
{
	struct onex_yaml_scalar s;
	if (!n || n->kind != ONEX_YAML_SCALAR || onex_yaml_scalar_resolve(&p->doc, n, &s, NULL) < 0 ||
	    s.type != ONEX_YAML_INT || s.integer < 0)
		return fail(p, n, "%s must be a non-negative integer, got %s", what,
			    onex_yaml_describe(n));
	*out = (uint64_t)s.integer;
	return 0;
}

static int get_bool(struct parser *p, const struct onex_yaml_node *n, const char *what, int *out)
{
	struct onex_yaml_scalar s;
	if (!n || n->kind != ONEX_YAML_SCALAR || onex_yaml_scalar_resolve(&p->doc, n, &s, NULL) < 0 ||
	    s.type != ONEX_YAML_BOOL)
		return fail(p, n, "%s must be true or false, got %s", what, onex_yaml_describe(n));
	*out = s.boolean;
	return 0;
}

/* Relative paths resolve from the scenario's directory; a too-long path is cut (and then not found). */
static void resolve_path(const struct onex_scenario *sc, const char *rel, char *out, size_t size)
{
	int n = rel[0] == '/' ? snprintf(out, size, "%s", rel)
			      : snprintf(out, size, "%s/%s", sc->dir, rel);
	if (n < 0 || (size_t)n >= size)
		out[size - 1] = '\0';
}

static char *read_text(const char *path, size_t *len, int *errnum)
{
	char *t = NULL;
	if (onex_yaml_read_file(path, ONEX_SCENARIO_RAW_BYTES_MAX, &t, len, errnum) < 0)
		return NULL;
	return t;
}

/* ---- references ---------------------------------------------------------- */
static int name_defined(const struct parser *p, const char *name, size_t len)
{
	for (size_t i = 0; i < p->name_count; i++)
		if (strlen(p->names[i]) == len && strncmp(p->names[i], name, len) == 0)
			return 1;
	return 0;
}

/* Every {{name.path}} in the scalars under `n` names an earlier `as`. */
static int check_refs(struct parser *p, const struct onex_yaml_node *n)
{
	if (!n)
		return 0;
	if (n->kind != ONEX_YAML_SCALAR) {
		/* A mapping holds count pairs: 2 * count items. */
		size_t items = n->kind == ONEX_YAML_MAPPING ? 2 * n->count : n->count;
		for (size_t i = 0; i < items; i++)
			if (check_refs(p, n->items[i]) < 0)
				return -1;
		return 0;
	}
	for (const char *s = strstr(n->value, "{{"); s; s = strstr(s + 2, "{{")) {
		const char *end = strstr(s, "}}");
		const char *dot = strchr(s, '.');
		if (!end)
			return fail(p, n, "unterminated reference in '%s'", n->value);
		size_t len = (size_t)((dot && dot < end ? dot : end) - (s + 2));
		if (!name_defined(p, s + 2, len)) {
			fail(p, n, "reference '%.*s' names no earlier step", (int)(end + 2 - s), s);
			onex_error_hint(p->err, "name a publish or expect step with `as: %.*s` before this one",
					(int)len, s + 2);
			return -1;
		}
	}
	return 0;
}

static int define_name(struct parser *p, const struct onex_yaml_node *n, char *as)
{
	if (get_string(p, n, "as", as, 64) < 0)
		return -1;
	if (name_defined(p, as, strlen(as)))
		return fail(p, n, "name '%s' is already used by an earlier step", as);
	snprintf(p->names[p->name_count++], 64, "%s", as);
	return 0;
}

/* ---- steps --------------------------------------------------------------- */
/* raw text: `\xHH` becomes the byte 0xHH (for invalid UTF-8 and the like). */
static char *decode_raw(const char *s, size_t n, size_t *out_len)
{
	char *out = malloc(n + 1);
	size_t j = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		if (s[i] == '\\' && i + 3 < n + 0 && s[i + 1] == 'x' &&
		    sscanf(s + i + 2, "%2x", &v) == 1 && i + 3 < n) {
			out[j++] = (char)v;
			i += 3;
		} else {
			out[j++] = s[i];
		}
	}
	out[j] = '\0';
	*out_len = j;
	return out;
}

static int parse_raw_repeat(struct parser *p, const struct onex_yaml_node *n,
			    struct onex_scenario_step *st)
{
	static const char *const keys[] = { "text", "times", "prefix", "suffix", NULL };
	uint64_t times = 0;
	if (check_keys(p, n, keys, "raw_repeat") < 0 ||
	    get_uint(p, onex_yaml_map_get(n, "times"), "raw_repeat.times", &times) < 0)
		return -1;
	const char *t = text(onex_yaml_map_get(n, "text"));
	const char *pre = text(onex_yaml_map_get(n, "prefix"));
	const char *suf = text(onex_yaml_map_get(n, "suffix"));
	if (!t || !*t)
		return fail(p, n, "raw_repeat.text must be a non-empty string");
	size_t tl = strlen(t), pl = pre ? strlen(pre) : 0, sl = suf ? strlen(suf) : 0;
	if (times > ONEX_SCENARIO_RAW_BYTES_MAX / tl)
		return fail(p, n, "raw_repeat is larger than %u bytes", ONEX_SCENARIO_RAW_BYTES_MAX);
	size_t total = pl + tl * times + sl;
	st->raw = malloc(total + 1);
	memcpy(st->raw, pre ? pre : "", pl);
	for (uint64_t i = 0; i < times; i++)
		memcpy(st->raw + pl + i * tl, t, tl);
	memcpy(st->raw + pl + tl * times, suf ? suf : "", sl);
	st->raw[total] = '\0';
	st->raw_len = total;
	return 0;
}

static int parse_topic(struct parser *p, const struct onex_yaml_node *map,
		       struct onex_scenario_step *st, const char *dflt)
{
	const struct onex_yaml_node *t = onex_yaml_map_get(map, "topic");
	if (!t) {
		snprintf(st->topic, sizeof(st->topic), "%s", dflt);
		return 0;
	}
	return get_string(p, t, "topic", st->topic, sizeof(st->topic));
}

static int parse_publish(struct parser *p, const struct onex_yaml_node *m,
			 struct onex_scenario_step *st)
{
	static const char *const keys[] = { "envelope", "raw", "raw_repeat", "topic", "as", NULL };
	if (check_keys(p, m, keys, "publish") < 0 || parse_topic(p, m, st, "input") < 0)
		return -1;
	const struct onex_yaml_node *env = onex_yaml_map_get(m, "envelope");
	const struct onex_yaml_node *raw = onex_yaml_map_get(m, "raw");
	const struct onex_yaml_node *rep = onex_yaml_map_get(m, "raw_repeat");
	if ((env != NULL) + (raw != NULL) + (rep != NULL) != 1)
		return fail(p, m, "publish needs exactly one of envelope, raw, raw_repeat");
	if (env) {
		if (env->kind != ONEX_YAML_MAPPING)
			return fail(p, env, "publish.envelope must be a mapping, got %s",
				    onex_yaml_describe(env));
		if (check_refs(p, env) < 0 || onex_yaml_to_json(&p->doc, env, &st->envelope, p->err) < 0)
			return -1;
	} else if (raw) {
		if (raw->kind != ONEX_YAML_SCALAR)
			return fail(p, raw, "publish.raw must be a string");
		st->raw = decode_raw(raw->value, raw->length, &st->raw_len);
	} else if (parse_raw_repeat(p, rep, st) < 0) {
		return -1;
	}
	const struct onex_yaml_node *as = onex_yaml_map_get(m, "as");
	if (as && (!env || define_name(p, as, st->as) < 0))
		return env ? -1 : fail(p, as, "only an envelope publish can be named with `as`");
	return 0;
}

static int parse_expect(struct parser *p, const struct onex_yaml_node *m,
			struct onex_scenario_step *st)
{
	static const char *const keys[] = { "envelope", "topic", "within_ms", "as", NULL };
	const struct onex_yaml_node *within = onex_yaml_map_get(m, "within_ms");
	const struct onex_yaml_node *env = onex_yaml_map_get(m, "envelope");
	if (check_keys(p, m, keys, "expect") < 0 || parse_topic(p, m, st, "output") < 0)
		return -1;
	st->ms = 1000;
	if (within && get_uint(p, within, "expect.within_ms", &st->ms) < 0)
		return -1;
	if (env) {
		if (env->kind != ONEX_YAML_MAPPING)
			return fail(p, env, "expect.envelope must be a mapping");
		if (check_refs(p, env) < 0 || onex_yaml_to_json(&p->doc, env, &st->envelope, p->err) < 0)
			return -1;
	} else {
		st->envelope = json_object(); /* any envelope */
	}
	const struct onex_yaml_node *as = onex_yaml_map_get(m, "as");
	return as ? define_name(p, as, st->as) : 0;
}

static int parse_expect_log(struct parser *p, const struct onex_yaml_node *m,
			    struct onex_scenario_step *st)
{
	static const char *const keys[] = { "level", "message", "correlation_id", "within_ms", NULL };
	static const char *const levels[] = { "debug", "info", "warn", "error", NULL };
	const struct onex_yaml_node *v;
	char level[16] = "warn";
	if (check_keys(p, m, keys, "expect_log") < 0)
		return -1;
	if ((v = onex_yaml_map_get(m, "level")) && get_string(p, v, "expect_log.level", level,
							       sizeof(level)) < 0)
		return -1;
	for (st->level = 0; levels[st->level] && strcmp(levels[st->level], level) != 0; st->level++)
		;
	if (!levels[st->level])
		return fail(p, v, "expect_log.level must be debug, info, warn or error, got '%s'", level);
	v = onex_yaml_map_get(m, "message");
	if (!text(v) || !*text(v))
		return fail(p, v ? v : m, "expect_log needs message: a non-empty string the line contains");
	st->raw = strdup(text(v));
	st->raw_len = strlen(st->raw);
	st->ms = 1000;
	if ((v = onex_yaml_map_get(m, "within_ms")) && get_uint(p, v, "expect_log.within_ms", &st->ms) < 0)
		return -1;
	st->envelope = json_object();
	if ((v = onex_yaml_map_get(m, "correlation_id"))) {
		json_t *pattern = NULL;
		if (v->kind != ONEX_YAML_SCALAR)
			return fail(p, v, "expect_log.correlation_id must be a string or a matcher");
		if (check_refs(p, v) < 0 || onex_yaml_to_json(&p->doc, v, &pattern, p->err) < 0)
			return -1;
		json_object_set_new(st->envelope, "correlation_id", pattern);
	}
	return 0;
}

static int parse_step(struct parser *p, const struct onex_yaml_node *n,
		      struct onex_scenario_step *st)
{
	if (n->kind != ONEX_YAML_MAPPING || n->count != 1)
		return fail(p, n, "a step is a mapping with exactly one key (publish, advance_ms, "
				  "expect, expect_nothing, expect_log)");
	const char *kind = onex_yaml_map_key(n, 0)->value;
	const struct onex_yaml_node *v = onex_yaml_map_value(n, 0);
	st->line = n->line;
	if (strcmp(kind, "publish") == 0) {
		st->kind = ONEX_STEP_PUBLISH;
		return parse_publish(p, v, st);
	}
	if (strcmp(kind, "expect") == 0) {
		st->kind = ONEX_STEP_EXPECT;
		return parse_expect(p, v, st);
	}
	if (strcmp(kind, "advance_ms") == 0) {
		st->kind = ONEX_STEP_ADVANCE;
		return get_uint(p, v, "advance_ms", &st->ms);
	}
	if (strcmp(kind, "expect_nothing") == 0) {
		static const char *const keys[] = { "topic", "for_ms", NULL };
		st->kind = ONEX_STEP_EXPECT_NOTHING;
		if (check_keys(p, v, keys, "expect_nothing") < 0 || parse_topic(p, v, st, "output") < 0)
			return -1;
		return get_uint(p, onex_yaml_map_get(v, "for_ms"), "expect_nothing.for_ms", &st->ms);
	}
	if (strcmp(kind, "expect_log") == 0) {
		st->kind = ONEX_STEP_EXPECT_LOG;
		return parse_expect_log(p, v, st);
	}
	fail(p, onex_yaml_map_key(n, 0), "unknown step '%s'", kind);
	onex_error_hint(p->err, "steps are publish, advance_ms, expect, expect_nothing, expect_log");
	return -1;
}

/* ---- faults -------------------------------------------------------------- */
static const struct {
	const char *name;
	enum onex_fault_kind kind;
	const char *value_key; /* required extra number, or NULL */
	int needs_handler, needs_topic, window;
} fault_kinds[] = {
	{ "handler_latency", ONEX_FAULT_HANDLER_LATENCY, "latency_ms", 1, 0, 1 },
	{ "handler_error", ONEX_FAULT_HANDLER_ERROR, NULL, 1, 0, 1 },
	{ "handler_timeout", ONEX_FAULT_HANDLER_TIMEOUT, NULL, 1, 0, 1 },
	{ "db_unavailable", ONEX_FAULT_DB_UNAVAILABLE, NULL, 0, 0, 1 },
	{ "bus_delay", ONEX_FAULT_BUS_DELAY, "delay_ms", 0, 1, 1 },
	{ "duplicate_delivery", ONEX_FAULT_DUPLICATE_DELIVERY, NULL, 0, 1, 0 },
	{ "drop_publish", ONEX_FAULT_DROP_PUBLISH, NULL, 0, 1, 0 },
	{ "clock_jump", ONEX_FAULT_CLOCK_JUMP, "by_ms", 0, 0, 0 },
};

static int parse_fault(struct parser *p, const struct onex_yaml_node *n,
		       struct onex_scenario_fault *f)
{
	static const char *const keys[] = { "kind", "at_ms", "for_ms", "handler", "topic",
					    "latency_ms", "delay_ms", "by_ms", "count", NULL };
	size_t k;
	char kind[32];
	if (check_keys(p, n, keys, "fault") < 0 ||
	    get_string(p, onex_yaml_map_get(n, "kind"), "fault kind", kind, sizeof(kind)) < 0)
		return -1;
	for (k = 0; k < sizeof(fault_kinds) / sizeof(fault_kinds[0]); k++)
		if (strcmp(fault_kinds[k].name, kind) == 0)
			break;
	if (k == sizeof(fault_kinds) / sizeof(fault_kinds[0])) {
		fail(p, onex_yaml_map_get(n, "kind"), "unknown fault kind '%s'", kind);
		onex_error_hint(p->err, "kinds: handler_latency, handler_error, handler_timeout, "
					"db_unavailable, bus_delay, duplicate_delivery, drop_publish, clock_jump");
		return -1;
	}
	f->kind = fault_kinds[k].kind;
	f->line = n->line;
	f->for_ms = UINT64_MAX;
	f->count = 1;
	const struct onex_yaml_node *v;
	if ((v = onex_yaml_map_get(n, "at_ms")) && get_uint(p, v, "at_ms", &f->at_ms) < 0)
		return -1;
	if ((v = onex_yaml_map_get(n, "for_ms"))) {
		if (!fault_kinds[k].window)
			return fail(p, v, "fault %s takes no for_ms", kind);
		if (get_uint(p, v, "for_ms", &f->for_ms) < 0)
			return -1;
	}
	if ((v = onex_yaml_map_get(n, "count"))) {
		uint64_t c;
		if (get_uint(p, v, "count", &c) < 0)
			return -1;
		f->count = (unsigned)c;
	}
	if (fault_kinds[k].value_key) {
		v = onex_yaml_map_get(n, fault_kinds[k].value_key);
		if (!v)
			return fail(p, n, "fault %s needs %s", kind, fault_kinds[k].value_key);
		if (get_uint(p, v, fault_kinds[k].value_key, &f->value_ms) < 0)
			return -1;
	}
	if (fault_kinds[k].needs_handler) {
		char h[32];
		v = onex_yaml_map_get(n, "handler");
		if (get_string(p, v, "fault handler", h, sizeof(h)) < 0)
			return -1;
		if (onex_handler_type_parse(h, &f->handler) < 0)
			return fail(p, v, "unknown handler type '%s' (valid: %s)", h,
				    onex_handler_type_valid_list());
	}
	if (fault_kinds[k].needs_topic &&
	    get_string(p, onex_yaml_map_get(n, "topic"), "fault topic", f->topic,
		       sizeof(f->topic)) < 0)
		return -1;
	return 0;
}

/* ---- top level ----------------------------------------------------------- */
/* Start of line `line` (1-based) of the file, or NULL. */
static const char *line_start(const struct parser *p, int line)
{
	const char *s = p->text, *end = p->text + p->text_len;
	for (int l = 1; l < line && s < end; l++) {
		s = memchr(s, '\n', (size_t)(end - s));
		if (!s)
			return NULL;
		s++;
	}
	return s < end ? s : NULL;
}

/*
 * The original lines of a block-style mapping: from its first key's line
 * to the last line indented at least as deep (blank and comment lines
 * included), kept verbatim so that line and column numbers in messages
 * are the file's own once *line_offset is added. NULL when the mapping
 * is flow style (text before it on its first line).
 */
static char *block_text(const struct parser *p, const struct onex_yaml_node *map,
			int *line_offset)
{
	const char *first = line_start(p, map->line), *end = p->text + p->text_len;
	size_t indent = (size_t)(map->column - 1);
	if (!first)
		return NULL;
	for (size_t i = 0; i < indent; i++)
		if (first + i >= end || first[i] != ' ')
			return NULL;
	const char *s = first;
	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		const char *next = nl ? nl + 1 : end;
		size_t sp = 0;
		while (s + sp < next && s[sp] == ' ')
			sp++;
		int blank = s + sp == next || s[sp] == '\n' || s[sp] == '#' || s[sp] == '\r';
		if (s != first && !blank && sp < indent)
			break;
		s = next;
	}
	*line_offset = map->line - 1;
	return strndup(first, (size_t)(s - first));
}

static int parse_contract(struct parser *p, const struct onex_yaml_node *n)
{
	struct onex_scenario *sc = p->sc;
	if (!n)
		return fail(p, p->doc.root, "missing required key 'contract'");
	sc->contract_line = n->line;
	if (n->kind == ONEX_YAML_SCALAR) {
		char rel[ONEX_PATH_BYTES_MAX];
		if (get_string(p, n, "contract", rel, sizeof(rel)) < 0)
			return -1;
		resolve_path(sc, rel, sc->contract_path, sizeof(sc->contract_path));
		return 0;
	}
	static const char *const keys[] = { "inline", NULL };
	if (check_keys(p, n, keys, "contract") < 0)
		return -1;
	const struct onex_yaml_node *in = onex_yaml_map_get(n, "inline");
	json_t *json = NULL;
	if (!in || in->kind != ONEX_YAML_MAPPING)
		return fail(p, n, "contract.inline must be a mapping (a whole runtime contract)");
	if (onex_yaml_to_json(&p->doc, in, &json, p->err) < 0)
		return -1;
	sc->contract_line = in->line;
	sc->contract_inline = block_text(p, in, &sc->contract_line_offset);
	if (!sc->contract_inline) { /* flow style: JSON keeps the line, not the column */
		sc->contract_inline = json_dumps(json, JSON_COMPACT);
		sc->contract_line_offset = in->line - 1;
	}
	json_decref(json);
	return 0;
}

/*
 * nodes: { <slug>: <node contract mapping>, ... }: inline node contracts,
 * kept as text with their line offset so that the node loader's messages
 * name this file's lines. They are checked when the host starts (so that
 * expect_startup_failure can prove a node contract error).
 */
static int parse_nodes(struct parser *p, const struct onex_yaml_node *n)
{
	struct onex_scenario *sc = p->sc;
	if (n->kind != ONEX_YAML_MAPPING)
		return fail(p, n, "nodes must be a mapping of node slug to node contract, got %s",
			    onex_yaml_describe(n));
	if (n->count > ONEX_SCENARIO_NODES_MAX)
		return fail(p, n, "more than %u inline node contracts", ONEX_SCENARIO_NODES_MAX);
	for (size_t i = 0; i < n->count; i++) {
		const struct onex_yaml_node *key = onex_yaml_map_key(n, i);
		const struct onex_yaml_node *node = onex_yaml_map_value(n, i);
		struct onex_scenario_node *sn = &sc->nodes[sc->node_count];
		if (get_string(p, key, "a node slug", sn->slug, sizeof(sn->slug)) < 0)
			return -1;
		for (const char *c = sn->slug; *c; c++)
			if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
			      (*c >= '0' && *c <= '9') || *c == '_' || *c == '-'))
				return fail(p, key, "node slug '%s' may use only letters, digits, "
						    "_ and -", sn->slug);
		if (node->kind != ONEX_YAML_MAPPING)
			return fail(p, node, "nodes.%s must be a mapping (a whole node contract), got %s",
				    sn->slug, onex_yaml_describe(node));
		sn->line = key->line;
		sn->column = key->column;
		sn->text = block_text(p, node, &sn->line_offset);
		if (!sn->text) { /* flow style: JSON keeps the line, not the column */
			json_t *json = NULL;
			if (onex_yaml_to_json(&p->doc, node, &json, p->err) < 0)
				return -1;
			sn->text = json_dumps(json, JSON_COMPACT);
			sn->line_offset = node->line - 1;
			json_decref(json);
		}
		sc->node_count++;
	}
	return 0;
}

static int add_stubs(struct parser *p, const struct onex_yaml_node *item)
{
	struct onex_scenario *sc = p->sc;
	json_t *stubs = NULL;
	if (item->kind == ONEX_YAML_SCALAR) {
		char path[ONEX_PATH_BYTES_MAX];
		json_error_t jerr;
		resolve_path(sc, item->value, path, sizeof(path));
		stubs = json_load_file(path, 0, &jerr);
		if (!stubs)
			return fail(p, item, "cannot load HTTP stubs %s: %s (line %d)", path, jerr.text,
				    jerr.line);
		if (!json_is_array(stubs)) {
			json_decref(stubs);
			return fail(p, item, "HTTP stub file %s must hold a JSON array", path);
		}
	} else if (item->kind == ONEX_YAML_MAPPING) {
		json_t *one = NULL;
		if (onex_yaml_to_json(&p->doc, item, &one, p->err) < 0)
			return -1;
		stubs = json_array();
		json_array_append_new(stubs, one);
	} else {
		return fail(p, item, "fixtures.http items are file paths or stub mappings");
	}
	json_array_extend(sc->http_stubs, stubs);
	json_decref(stubs);
	return 0;
}

static int add_sql(struct parser *p, const struct onex_yaml_node *item)
{
	struct onex_scenario *sc = p->sc;
	char name[ONEX_PATH_BYTES_MAX];
	char *script;
	if (item->kind == ONEX_YAML_SCALAR) {
		size_t len;
		int e = 0;
		resolve_path(sc, item->value, name, sizeof(name));
		script = read_text(name, &len, &e);
		if (!script)
			return fail(p, item, "cannot read SQL fixture %s: %s", name, strerror(e));
	} else {
		static const char *const keys[] = { "inline", NULL };
		const char *t;
		if (check_keys(p, item, keys, "fixtures.sql item") < 0 ||
		    !(t = text(onex_yaml_map_get(item, "inline"))))
			return fail(p, item, "fixtures.sql items are file paths or { inline: \"SQL\" }");
		if (snprintf(name, sizeof(name), "%s:%d", sc->path, item->line) < 0)
			name[0] = '\0';
		script = strdup(t);
	}
	sc->sql = realloc(sc->sql, (sc->sql_count + 1) * sizeof(*sc->sql));
	sc->sql_names = realloc(sc->sql_names, (sc->sql_count + 1) * sizeof(*sc->sql_names));
	sc->sql[sc->sql_count] = script;
	sc->sql_names[sc->sql_count++] = strdup(name);
	return 0;
}

static int parse_fixtures(struct parser *p, const struct onex_yaml_node *n)
{
	static const char *const keys[] = { "http", "sql", NULL };
	if (check_keys(p, n, keys, "fixtures") < 0)
		return -1;
	const struct onex_yaml_node *http = onex_yaml_map_get(n, "http");
	const struct onex_yaml_node *sql = onex_yaml_map_get(n, "sql");
	if (http) {
		if (http->kind != ONEX_YAML_SEQUENCE)
			return fail(p, http, "fixtures.http must be a list");
		p->sc->http_stubs = json_array();
		for (size_t i = 0; i < http->count; i++)
			if (add_stubs(p, http->items[i]) < 0)
				return -1;
	}
	if (sql) {
		if (sql->kind != ONEX_YAML_SEQUENCE)
			return fail(p, sql, "fixtures.sql must be a list");
		for (size_t i = 0; i < sql->count; i++)
			if (add_sql(p, sql->items[i]) < 0)
				return -1;
	}
	return 0;
}

static const char *const invariant_names[] = { "every_request_answered_once",
					       "correlation_preserved", "causation_links",
					       "no_raw_errors", "log_lines_carry_correlation" };
#define INVARIANT_COUNT (sizeof(invariant_names) / sizeof(invariant_names[0]))

const char *onex_invariant_name(unsigned bit)
{
	for (unsigned i = 0; i < INVARIANT_COUNT; i++)
		if (bit == 1u << i)
			return invariant_names[i];
	return "unknown";
}

const char *onex_step_kind_name(enum onex_step_kind kind)
{
	static const char *const names[] = { "publish", "advance_ms", "expect", "expect_nothing",
					     "expect_log" };
	return names[kind];
}

static int parse_invariants(struct parser *p, const struct onex_yaml_node *n, unsigned *out)
{
	*out = 0;
	if (n->kind != ONEX_YAML_SEQUENCE)
		return fail(p, n, "invariants must be a list of names");
	for (size_t i = 0; i < n->count; i++) {
		const char *name = text(n->items[i]);
		unsigned bit = 0;
		for (unsigned j = 0; j < INVARIANT_COUNT && name; j++)
			if (strcmp(name, invariant_names[j]) == 0)
				bit = 1u << j;
		if (!bit) {
			fail(p, n->items[i], "unknown invariant '%s'", name ? name : "?");
			onex_error_hint(p->err, "invariants: every_request_answered_once, "
						"correlation_preserved, causation_links, no_raw_errors, "
						"log_lines_carry_correlation");
			return -1;
		}
		*out |= bit;
	}
	return 0;
}

static int parse_startup_failure(struct parser *p, const struct onex_yaml_node *n)
{
	static const char *const keys[] = { "code", "message", NULL };
	struct onex_scenario *sc = p->sc;
	char code[64];
	if (check_keys(p, n, keys, "expect_startup_failure") < 0 ||
	    get_string(p, onex_yaml_map_get(n, "code"), "expect_startup_failure.code", code,
		       sizeof(code)) < 0)
		return -1;
	if (onex_error_code_parse(code, &sc->startup_code) < 0)
		return fail(p, onex_yaml_map_get(n, "code"), "unknown error code '%s'", code);
	const struct onex_yaml_node *m = onex_yaml_map_get(n, "message");
	if (m && get_string(p, m, "expect_startup_failure.message", sc->startup_message,
			    sizeof(sc->startup_message)) < 0)
		return -1;
	sc->expect_startup_failure = 1;
	return 0;
}

static int parse_steps(struct parser *p, const struct onex_yaml_node *n)
{
	struct onex_scenario *sc = p->sc;
	if (n->kind != ONEX_YAML_SEQUENCE)
		return fail(p, n, "steps must be a list");
	if (n->count > ONEX_SCENARIO_STEPS_MAX)
		return fail(p, n, "more than %u steps", ONEX_SCENARIO_STEPS_MAX);
	sc->steps = calloc(n->count ? n->count : 1, sizeof(*sc->steps));
	for (size_t i = 0; i < n->count; i++) {
		sc->step_count = i + 1;
		if (parse_step(p, n->items[i], &sc->steps[i]) < 0)
			return -1;
	}
	return 0;
}

static int parse_top(struct parser *p)
{
	static const char *const keys[] = { "name", "description", "seed", "contract", "lenient",
					    "production", "fixtures", "faults", "nodes",
					    "expect_startup_failure", "steps", "invariants",
					    "expect_violations", "settle_ms", "real", NULL };
	struct onex_scenario *sc = p->sc;
	const struct onex_yaml_node *root = p->doc.root, *v;
	char desc[1024];
	if (!root)
		return fail(p, NULL, "the scenario file is empty");
	if (check_keys(p, root, keys, "the scenario") < 0)
		return -1;
	for (const char *const *req = (const char *const[]){ "name", "description", NULL }; *req; req++)
		if (!onex_yaml_map_get(root, *req))
			return fail(p, root, "missing required key '%s'", *req);
	if (get_string(p, onex_yaml_map_get(root, "name"), "name", sc->name, sizeof(sc->name)) < 0 ||
	    get_string(p, onex_yaml_map_get(root, "description"), "description", desc,
		       sizeof(desc)) < 0)
		return -1;
	for (const char *c = sc->name; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_' || *c == '-'))
			return fail(p, onex_yaml_map_get(root, "name"),
				    "name '%s' may use only a-z, 0-9, _ and -", sc->name);
	sc->description = strdup(desc);
	sc->seed = 1;
	sc->settle_ms = 60000;
	sc->invariants = ONEX_INV_ALL;
	if ((v = onex_yaml_map_get(root, "seed")) && get_uint(p, v, "seed", &sc->seed) < 0)
		return -1;
	if ((v = onex_yaml_map_get(root, "settle_ms")) && get_uint(p, v, "settle_ms", &sc->settle_ms) < 0)
		return -1;
	if ((v = onex_yaml_map_get(root, "lenient")) && get_bool(p, v, "lenient", &sc->lenient) < 0)
		return -1;
	if ((v = onex_yaml_map_get(root, "production")) &&
	    get_bool(p, v, "production", &sc->production) < 0)
		return -1;
	/* `real` changes nothing in simulation: the differential test reads it. */
	if ((v = onex_yaml_map_get(root, "real")) && get_bool(p, v, "real", &sc->real) < 0)
		return -1;
	if (parse_contract(p, onex_yaml_map_get(root, "contract")) < 0)
		return -1;
	if ((v = onex_yaml_map_get(root, "nodes")) && parse_nodes(p, v) < 0)
		return -1;
	if ((v = onex_yaml_map_get(root, "fixtures")) && parse_fixtures(p, v) < 0)
		return -1;
	if ((v = onex_yaml_map_get(root, "faults"))) {
		if (v->kind != ONEX_YAML_SEQUENCE || v->count > ONEX_SCENARIO_FAULTS_MAX)
			return fail(p, v, "faults must be a list of at most %u faults",
				    ONEX_SCENARIO_FAULTS_MAX);
		for (size_t i = 0; i < v->count; i++, sc->fault_count++)
			if (parse_fault(p, v->items[i], &sc->faults[i]) < 0)
				return -1;
	}
	if ((v = onex_yaml_map_get(root, "invariants")) && parse_invariants(p, v, &sc->invariants) < 0)
		return -1;
	if ((v = onex_yaml_map_get(root, "expect_violations")) &&
	    parse_invariants(p, v, &sc->expect_violations) < 0)
		return -1;
	sc->invariants |= sc->expect_violations;
	const struct onex_yaml_node *steps = onex_yaml_map_get(root, "steps");
	const struct onex_yaml_node *startup = onex_yaml_map_get(root, "expect_startup_failure");
	if (!steps == !startup)
		return fail(p, root, "a scenario has either steps or expect_startup_failure (exactly one)");
	return startup ? parse_startup_failure(p, startup) : parse_steps(p, steps);
}

int onex_scenario_load(const char *path, struct onex_scenario **out, struct onex_error *err)
{
	struct parser *p = calloc(1, sizeof(*p));
	struct onex_scenario *sc = calloc(1, sizeof(*sc));
	char *textbuf = NULL, dircopy[ONEX_PATH_BYTES_MAX];
	size_t len = 0;
	int e = 0, rc = -1;

	*out = NULL;
	snprintf(sc->path, sizeof(sc->path), "%s", path);
	snprintf(dircopy, sizeof(dircopy), "%s", path);
	snprintf(sc->dir, sizeof(sc->dir), "%s", dirname(dircopy));
	p->sc = sc;
	p->err = err;
	textbuf = read_text(path, &len, &e);
	if (!textbuf) {
		onex_error_set(err, ONEX_ERR_CONTRACT_VALIDATION_ERROR, path, 0, 0,
			       "cannot read the scenario file: %s", strerror(e));
	} else if (onex_yaml_doc_parse(&p->doc, textbuf, len, path, 0, err) == 0) {
		p->text = textbuf;
		p->text_len = len;
		rc = parse_top(p);
		onex_yaml_doc_release(&p->doc);
	}
	free(textbuf);
	free(p);
	if (rc < 0) {
		onex_scenario_free(sc);
		return -1;
	}
	*out = sc;
	return 0;
}

void onex_scenario_free(struct onex_scenario *sc)
{
	if (!sc)
		return;
	for (size_t i = 0; i < sc->step_count; i++) {
		json_decref(sc->steps[i].envelope);
		free(sc->steps[i].raw);
	}
	for (size_t i = 0; i < sc->sql_count; i++) {
		free(sc->sql[i]);
		free(sc->sql_names[i]);
	}
	free(sc->sql);
	free(sc->sql_names);
	free(sc->steps);
	json_decref(sc->http_stubs);
	for (size_t i = 0; i < sc->node_count; i++)
		free(sc->nodes[i].text);
	free(sc->contract_inline);
	free(sc->description);
	free(sc);
}
