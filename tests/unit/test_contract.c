/*
 * test_contract.c - the runtime contract loader (spec §3).
 *
 * Two parts: one cmocka test per folder case under tests/data/contracts/
 * (invalid/, warning/, valid/, see the README there), built at start-up
 * from the directory listing; and direct tests that pin exact line and
 * column numbers, whole messages, lenient and production modes, load_text
 * with a line offset, JSON typing, defaults and nodes_dir resolution.
 * Runs from the repository root (tests/run_tests.sh does).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contract.h"
#include "topic.h"

#define DATA_DIR "tests/data/contracts"
#define CASES_MAX 256
#define FORMAT_BYTES 4096

/* ---- helpers ------------------------------------------------------------ */

static char *read_all(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0, cap = 0;
	if (!f)
		return NULL;
	for (;;) {
		if (n + 1024 + 1 > cap) {
			cap = (n + 1024 + 1) * 2;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		size_t got = fread(buf + n, 1, 1024, f);
		n += got;
		if (!got)
			break;
	}
	fclose(f);
	buf[n] = '\0';
	return buf;
}

static struct onex_runtime_contract *load_text(const char *text, int line_offset,
					       const struct onex_contract_options *opt,
					       struct onex_error *err)
{
	struct onex_runtime_contract *c = (void *)1;
	onex_error_clear(err);
	int rc = onex_runtime_contract_load_text(text, strlen(text), "inline.yaml",
						 "/srv/onex", line_offset, opt, &c, err);
	if (rc == 0) {
		assert_non_null(c);
		assert_false(onex_error_is_set(err));
	} else {
		assert_int_equal(rc, -1);
		assert_null(c);
		assert_int_equal(err->code, ONEX_ERR_CONTRACT_VALIDATION_ERROR);
	}
	return c;
}

static struct onex_runtime_contract *load_ok(const char *text)
{
	struct onex_error err;
	struct onex_runtime_contract *c = load_text(text, 0, NULL, &err);
	if (!c) {
		char buf[FORMAT_BYTES];
		fail_msg("load failed: %s", onex_error_format(&err, buf, sizeof(buf)));
	}
	return c;
}

#define MINIMAL                                                                \
	"schema_version: \"1.0.0\"\n"                                          \
	"runtime:\n"                                                           \
	"  name: \"orders_host\"\n"                                            \
	"  version: \"1.0.0\"\n"                                               \
	"  event_bus:\n"                                                       \
	"    kind: \"inmemory\"\n"                                             \
	"  handlers:\n"                                                        \
	"    - type: \"http\"\n"

/* ---- data-driven cases -------------------------------------------------- */

enum case_kind { CASE_INVALID, CASE_WARNING, CASE_VALID };

struct data_case {
	enum case_kind kind;
	char name[256];
	char dir[512];
};

/* A fake environment: "NAME=value" lines, NUL-separated. */
#define FAKE_ENV_BYTES 2048
struct fake_env {
	char text[FAKE_ENV_BYTES];
	size_t len;
	unsigned lookups;
};

static const char *fake_lookup(void *arg, const char *name)
{
	struct fake_env *fe = arg;
	size_t n = strlen(name);
	fe->lookups++;
	for (size_t i = 0; i < fe->len; i += strlen(fe->text + i) + 1)
		if (strncmp(fe->text + i, name, n) == 0 && fe->text[i + n] == '=')
			return fe->text + i + n + 1;
	return NULL;
}

static void fake_set(struct fake_env *fe, const char *name_value)
{
	size_t n = strlen(name_value) + 1;
	assert_true(fe->len + n <= sizeof(fe->text));
	memcpy(fe->text + fe->len, name_value, n);
	fe->len += n;
}

/*
 * Words: lenient, production, no-env (load without an environment lookup);
 * lines "env NAME=value" fill the fake environment.
 */
static void read_options(const char *dir, struct onex_contract_options *opt,
			 struct fake_env *fe, int *no_env)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/options", dir);
	char *text = read_all(path);
	memset(opt, 0, sizeof(*opt));
	memset(fe, 0, sizeof(*fe));
	*no_env = 0;
	if (!text)
		return;
	opt->lenient = strstr(text, "lenient") != NULL;
	opt->production = strstr(text, "production") != NULL;
	*no_env = strstr(text, "no-env") != NULL;
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
		if (strncmp(line, "env ", 4) == 0)
			fake_set(fe, line + 4);
	free(text);
}

/* Every line of `expect` in `got` ('!' lines: not in it). */
static void check_expect(const char *case_name, const char *expect,
			 const char *got)
{
	char line[1024];
	const char *p = expect;
	while (*p) {
		size_t n = strcspn(p, "\n");
		assert_true(n < sizeof(line));
		memcpy(line, p, n);
		line[n] = '\0';
		p += n + (p[n] == '\n');
		if (!line[0])
			continue;
		if (line[0] == '!') {
			if (strstr(got, line + 1))
				fail_msg("%s: output holds '%s':\n%s", case_name,
					 line + 1, got);
		} else if (!strstr(got, line)) {
			fail_msg("%s: output lacks '%s':\n%s", case_name, line, got);
		}
	}
}

static void run_data_case(void **state)
{
	const struct data_case *dc = *state;
	char path[600], expect_path[600], buf[FORMAT_BYTES];
	struct onex_contract_options opt;
	struct onex_runtime_contract *c = NULL;
	struct onex_error err;

	snprintf(path, sizeof(path), "%s/runtime.yaml", dc->dir);
	snprintf(expect_path, sizeof(expect_path), "%s/expect", dc->dir);
	char *expect = read_all(expect_path);
	if (!expect)
		fail_msg("%s: no expect file", dc->dir);
	struct fake_env fe;
	int no_env;
	read_options(dc->dir, &opt, &fe, &no_env);
	const struct onex_contract_env env = { fake_lookup, &fe };
	onex_error_clear(&err);
	int rc = onex_runtime_contract_load_env(path, &opt, no_env ? NULL : &env, &c,
						&err);

	if (dc->kind == CASE_INVALID) {
		if (rc == 0) {
			onex_runtime_contract_free(c);
			fail_msg("%s: loaded, expected an error", dc->name);
		}
		assert_null(c);
		assert_int_equal(err.code, ONEX_ERR_CONTRACT_VALIDATION_ERROR);
		assert_string_equal(err.source, path);
		/* Every contract error has a position, a hint and an action. */
		assert_true(err.line > 0);
		assert_true(err.column > 0);
		assert_true(err.hint[0] != '\0');
		assert_true(err.action[0] != '\0');
		check_expect(dc->name, expect, onex_error_format(&err, buf, sizeof(buf)));
		free(expect);
		return;
	}
	if (rc != 0)
		fail_msg("%s: %s", dc->name, onex_error_format(&err, buf, sizeof(buf)));
	size_t used = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < c->warning_count; i++) {
		char one[FORMAT_BYTES];
		assert_true(c->warnings[i].line > 0);
		onex_error_format(&c->warnings[i], one, sizeof(one));
		used += (size_t)snprintf(buf + used, sizeof(buf) - used, "%s\n", one);
		assert_true(used < sizeof(buf));
	}
	if (dc->kind == CASE_VALID && c->warning_count)
		fail_msg("%s: unexpected warnings:\n%s", dc->name, buf);
	if (dc->kind == CASE_WARNING && !c->warning_count)
		fail_msg("%s: no warnings", dc->name);
	check_expect(dc->name, expect, buf);
	onex_runtime_contract_free(c);
	free(expect);
}

static int case_cmp(const void *a, const void *b)
{
	const struct data_case *x = a, *y = b;
	if (x->kind != y->kind)
		return (int)x->kind - (int)y->kind;
	return strcmp(x->name, y->name);
}

/* Find every case folder; returns how many, sorted by kind then name. */
static size_t find_cases(struct data_case *cases, size_t max)
{
	static const char *const kinds[] = { "invalid", "warning", "valid" };
	size_t n = 0;
	for (size_t k = 0; k < 3; k++) {
		char dir[300];
		snprintf(dir, sizeof(dir), "%s/%s", DATA_DIR, kinds[k]);
		DIR *d = opendir(dir);
		if (!d)
			continue;
		for (struct dirent *e; (e = readdir(d)) && n < max;) {
			if (e->d_name[0] == '.')
				continue;
			cases[n].kind = (enum case_kind)k;
			int a = snprintf(cases[n].name, sizeof(cases[n].name),
					 "%s/%s", kinds[k], e->d_name);
			int b = snprintf(cases[n].dir, sizeof(cases[n].dir), "%s/%s",
					 dir, e->d_name);
			assert_true(a > 0 && (size_t)a < sizeof(cases[n].name));
			assert_true(b > 0 && (size_t)b < sizeof(cases[n].dir));
			n++;
		}
		closedir(d);
	}
	qsort(cases, n, sizeof(*cases), case_cmp);
	return n;
}

/* ---- direct tests ------------------------------------------------------- */

static void test_fixture_orders_host(void **state)
{
	struct onex_runtime_contract *c = NULL;
	struct onex_error err;
	(void)state;
	onex_error_clear(&err);
	assert_int_equal(onex_runtime_contract_load("fixtures/contracts/orders_host.yaml",
						    NULL, &c, &err),
			 0);
	assert_string_equal(c->path, "fixtures/contracts/orders_host.yaml");
	assert_string_equal(c->dir, "fixtures/contracts");
	assert_string_equal(c->schema_version, "1.0.0");
	assert_string_equal(c->name, "orders_host");
	assert_string_equal(c->version, "1.0.0");
	assert_string_equal(c->bus.kind, "inmemory");
	assert_int_equal(c->bus.line, 9);
	assert_int_equal(c->bus.column, 5);
	assert_string_equal(c->bus.topic_input, "onex.acme.orders.cmd.v1");
	assert_string_equal(c->bus.topic_output, "onex.acme.orders.evt.v1");
	assert_int_equal(json_integer_value(json_object_get(c->bus.config, "history_size")),
			 1000);
	assert_int_equal(c->handler_count, 2);
	assert_int_equal(c->handlers[0].type, ONEX_HANDLER_HTTP);
	assert_int_equal(c->handlers[0].line, 16);
	assert_int_equal(c->handlers[0].column, 7);
	assert_int_equal(c->handlers[1].type, ONEX_HANDLER_DB);
	assert_int_equal(c->handlers[1].line, 18);
	assert_true(onex_runtime_contract_has_handler(c, ONEX_HANDLER_HTTP));
	assert_true(onex_runtime_contract_has_handler(c, ONEX_HANDLER_DB));
	assert_false(onex_runtime_contract_has_handler(c, ONEX_HANDLER_LOCAL));
	assert_int_equal(c->node_count, 2);
	assert_string_equal(c->nodes[0].slug, "user_service");
	assert_int_equal(c->nodes[0].line, 24);
	assert_int_equal(c->nodes[0].column, 13);
	assert_string_equal(c->nodes[1].slug, "price_calculator");
	assert_string_equal(c->nodes_dir, "fixtures/contracts/nodes");
	assert_int_equal(c->warning_count, 0);
	onex_runtime_contract_free(c);
}

static void test_fixtures_kafka_and_dev(void **state)
{
	struct onex_runtime_contract *c = NULL;
	struct onex_error err;
	struct onex_contract_options production = { .production = 1 };
	(void)state;
	onex_error_clear(&err);
	assert_int_equal(onex_runtime_contract_load("fixtures/contracts/orders_kafka.yaml",
						    &production, &c, &err),
			 0);
	assert_string_equal(c->bus.kind, "kafka");
	assert_string_equal(json_string_value(json_object_get(c->bus.config,
							      "consumer_group")),
			    "orders_host");
	assert_int_equal(json_integer_value(json_object_get(c->bus.config,
							    "max_inflight_envelopes")),
			 100);
	onex_runtime_contract_free(c);

	/* dev_local: fine for the dev host, refused by a production host. */
	assert_int_equal(onex_runtime_contract_load("fixtures/contracts/dev_local.yaml",
						    NULL, &c, &err),
			 0);
	assert_string_equal(c->bus.kind, "stdio");
	assert_int_equal(c->handlers[0].type, ONEX_HANDLER_LOCAL);
	onex_runtime_contract_free(c);
	assert_int_equal(onex_runtime_contract_load("fixtures/contracts/dev_local.yaml",
						    &production, &c, &err),
			 -1);
	assert_null(c);
	assert_string_equal(err.source, "fixtures/contracts/dev_local.yaml");
	assert_int_equal(err.line, 10);
	assert_int_equal(err.column, 13);
	assert_string_equal(err.text, "handler type 'local' is for development only");
	assert_string_equal(err.action,
			    "remove it, or run this contract with onex-host-dev");
}

/* The message of the brief, byte for byte. */
static void test_unknown_field_message_exact(void **state)
{
	struct onex_error err;
	char buf[FORMAT_BYTES];
	(void)state;
	assert_null(load_text(MINIMAL "  handlerz: []\n", 0, NULL, &err));
	assert_int_equal(err.line, 9);
	assert_int_equal(err.column, 3);
	assert_string_equal(
		onex_error_format(&err, buf, sizeof(buf)),
		"inline.yaml:9:3: unknown field 'handlerz' in runtime\n"
		"  hint: did you mean 'handlers'? valid fields: description, "
		"event_bus, handlers, name, nodes, nodes_dir, version\n"
		"  action: fix or remove the field, or run with --lenient to only "
		"warn");
}

static void test_invalid_yaml_position(void **state)
{
	struct onex_error err;
	(void)state;
	/* libyaml's problem_mark is 0-based; ours is 1-based. */
	assert_null(load_text("schema_version: \"1.0.0\"\nruntime:\n  name: x\n"
			      "  version: \"1.0.0\n",
			      0, NULL, &err));
	assert_int_equal(err.line, 5);
	assert_int_equal(err.column, 1);
	assert_non_null(strstr(err.text, "invalid YAML: found unexpected end of stream"));
	assert_non_null(strstr(err.text, "at line 4, column 12"));

	assert_null(load_text("a: b: c\n", 0, NULL, &err));
	assert_int_equal(err.line, 1);
	assert_int_equal(err.column, 5);
	assert_string_equal(err.text,
			    "invalid YAML: mapping values are not allowed in this context");
}

static void test_line_offset(void **state)
{
	struct onex_error err;
	struct onex_contract_options lenient = { .lenient = 1 };
	(void)state;
	assert_null(load_text(MINIMAL "  handlerz: []\n", 40, NULL, &err));
	assert_int_equal(err.line, 49);
	assert_int_equal(err.column, 3);
	assert_null(load_text("a: b: c\n", 40, NULL, &err));
	assert_int_equal(err.line, 41);
	assert_int_equal(err.column, 5);
	assert_null(load_text("runtime:\n  name: x\n", 100, NULL, &err));
	/* Reported where the first missing field belongs: the top level. */
	assert_int_equal(err.line, 101);
	assert_int_equal(err.column, 1);
	assert_string_equal(err.text, "missing required fields: schema_version, "
				      "runtime.version, runtime.event_bus, "
				      "runtime.handlers");
	assert_null(load_text("", 7, NULL, &err));
	assert_int_equal(err.line, 8);
	assert_int_equal(err.column, 1);

	struct onex_runtime_contract *c =
		load_text(MINIMAL "  handlerz: []\n", 40, &lenient, &err);
	assert_non_null(c);
	assert_int_equal(c->handlers[0].line, 48);
	assert_int_equal(c->bus.line, 46);
	assert_int_equal(c->warning_count, 1);
	assert_int_equal(c->warnings[0].line, 49);
	assert_string_equal(c->warnings[0].source, "inline.yaml");
	onex_runtime_contract_free(c);
}

static void test_lenient_warnings(void **state)
{
	struct onex_error err;
	struct onex_contract_options lenient = { .lenient = 1 };
	static const char text[] = MINIMAL "      timout_ms: 100\n"
					   "  handlerz: []\n";
	(void)state;
	/* Strict: the first error found; a mapping's keys before its children. */
	assert_null(load_text(text, 0, NULL, &err));
	assert_string_equal(err.text, "unknown field 'handlerz' in runtime");
	assert_int_equal(err.line, 10);
	assert_int_equal(err.column, 3);

	struct onex_runtime_contract *c = load_text(text, 0, &lenient, &err);
	assert_non_null(c);
	assert_int_equal(c->handler_count, 1);
	assert_int_equal(c->warning_count, 2);
	assert_int_equal(c->warnings[0].code, ONEX_ERR_CONTRACT_VALIDATION_ERROR);
	/* In document order, though runtime's own fields are checked first. */
	assert_string_equal(c->warnings[0].text,
			    "unknown field 'timout_ms' in runtime.handlers[0]");
	assert_int_equal(c->warnings[0].line, 9);
	assert_int_equal(c->warnings[0].column, 7);
	assert_non_null(strstr(c->warnings[0].hint, "did you mean 'timeout_ms'?"));
	assert_string_equal(c->warnings[0].action,
			    "fix or remove the field; it is ignored");
	assert_string_equal(c->warnings[1].text, "unknown field 'handlerz' in runtime");
	assert_int_equal(c->warnings[1].line, 10);
	onex_runtime_contract_free(c);
}

static void test_warnings_are_bounded(void **state)
{
	struct onex_error err;
	struct onex_contract_options lenient = { .lenient = 1 };
	char text[8192];
	size_t used = (size_t)snprintf(text, sizeof(text), "%s", MINIMAL);
	(void)state;
	for (int i = 0; i < 70; i++)
		used += (size_t)snprintf(text + used, sizeof(text) - used,
					 "  extra_%d: %d\n", i, i);
	struct onex_runtime_contract *c = load_text(text, 0, &lenient, &err);
	assert_non_null(c);
	assert_int_equal(c->warning_count, ONEX_CONTRACT_WARNINGS_MAX);
	assert_string_equal(c->warnings[62].text, "unknown field 'extra_62' in runtime");
	/* The last slot says that more were found: no warning vanishes unannounced. */
	assert_string_equal(c->warnings[63].text,
			    "more warnings from here on are not shown (limit 63)");
	onex_runtime_contract_free(c);
}

static void test_empty_handlers_warns(void **state)
{
	struct onex_error err;
	(void)state;
	struct onex_runtime_contract *c =
		load_text("schema_version: \"1.0.0\"\nruntime:\n  name: a\n"
			  "  version: b\n  event_bus: { kind: stdio }\n"
			  "  handlers: []\n",
			  0, NULL, &err);
	assert_non_null(c);
	assert_int_equal(c->handler_count, 0);
	assert_int_equal(c->warning_count, 1);
	assert_string_equal(c->warnings[0].text, "empty handlers list");
	assert_int_equal(c->warnings[0].line, 6);
	assert_int_equal(c->warnings[0].column, 13);
	onex_runtime_contract_free(c);
}

static void test_json_typing(void **state)
{
	static const char text[] =
		MINIMAL "      timeout_ms: 5000\n"
			"      config:\n"
			"        int: 42\n"
			"        negative: -7\n"
			"        real: 2.5\n"
			"        exp: 1e3\n"
			"        yes_bool: true\n"
			"        no_bool: False\n"
			"        nothing: null\n"
			"        tilde: ~\n"
			"        empty:\n"
			"        quoted_int: \"42\"\n"
			"        single_quoted_bool: 'true'\n"
			"        quoted_null: \"null\"\n"
			"        yes_word: yes\n"
			"        version: 1.0.0\n"
			"        hex: 0x1F\n"
			"        inf: .inf\n"
			"        tagged_str: !!str 5\n"
			"        tagged_float: !!float 3\n"
			"        block: |\n"
			"          two\n"
			"          lines\n"
			"        list: [1, \"1\", a, {k: v}]\n";
	static const char want[] =
		"{\"type\": \"http\", \"timeout_ms\": 5000, \"config\": {"
		"\"int\": 42, \"negative\": -7, \"real\": 2.5, \"exp\": 1000.0,"
		"\"yes_bool\": true, \"no_bool\": false, \"nothing\": null,"
		"\"tilde\": null, \"empty\": null, \"quoted_int\": \"42\","
		"\"single_quoted_bool\": \"true\", \"quoted_null\": \"null\","
		"\"yes_word\": \"yes\", \"version\": \"1.0.0\", \"hex\": \"0x1F\","
		"\"inf\": \".inf\", \"tagged_str\": \"5\", \"tagged_float\": 3.0,"
		"\"block\": \"two\\nlines\\n\", \"list\": [1, \"1\", \"a\", {\"k\": \"v\"}]}}";
	struct onex_runtime_contract *c = load_ok(text);
	(void)state;
	json_t *expected = json_loads(want, 0, NULL);
	assert_non_null(expected);
	json_t *got = c->handlers[0].config;
	if (!json_equal(got, expected)) {
		char *s = json_dumps(got, JSON_SORT_KEYS);
		fail_msg("got %s", s);
	}
	/* Integers are integers, reals are reals (json_equal alone allows neither mix). */
	json_t *cfg = json_object_get(got, "config");
	assert_true(json_is_integer(json_object_get(cfg, "int")));
	assert_true(json_is_real(json_object_get(cfg, "real")));
	assert_true(json_is_real(json_object_get(cfg, "tagged_float")));
	json_decref(expected);
	onex_runtime_contract_free(c);
}

static void test_defaults(void **state)
{
	struct onex_runtime_contract *c = load_ok(MINIMAL);
	(void)state;
	assert_string_equal(c->path, "inline.yaml");
	assert_string_equal(c->dir, "/srv/onex");
	assert_string_equal(c->schema_version, "1.0.0");
	assert_string_equal(c->bus.topic_input, ONEX_TOPIC_DEFAULT_INPUT);
	assert_string_equal(c->bus.topic_output, ONEX_TOPIC_DEFAULT_OUTPUT);
	assert_string_equal(c->bus.topic_input, "onex.local.runtime.cmd.v1");
	assert_string_equal(c->bus.topic_output, "onex.local.runtime.evt.v1");
	assert_true(json_is_object(c->bus.config));
	assert_int_equal(json_object_size(c->bus.config), 0);
	assert_int_equal(c->bus.line, 6);
	assert_int_equal(c->bus.column, 5);
	assert_int_equal(c->handler_count, 1);
	json_t *entry = json_pack("{s:s}", "type", "http");
	assert_true(json_equal(c->handlers[0].config, entry));
	json_decref(entry);
	assert_null(c->nodes);
	assert_int_equal(c->node_count, 0);
	assert_string_equal(c->nodes_dir, "/srv/onex/nodes");
	assert_int_equal(c->warning_count, 0);
	onex_runtime_contract_free(c);

	/* Only one topic given: the other keeps its default. */
	c = load_ok(MINIMAL "  nodes: []\n  description: \"d\"\n");
	assert_int_equal(c->node_count, 0);
	onex_runtime_contract_free(c);
	c = load_ok("schema_version: \"1.0.0\"\nruntime:\n  name: a\n  version: b\n"
		    "  event_bus: { kind: inmemory, config: { topics: { input: "
		    "onex.acme.x.cmd.v1 } } }\n  handlers: [ { type: db } ]\n");
	assert_string_equal(c->bus.topic_input, "onex.acme.x.cmd.v1");
	assert_string_equal(c->bus.topic_output, ONEX_TOPIC_DEFAULT_OUTPUT);
	onex_runtime_contract_free(c);
}

static void test_nodes_dir_resolution(void **state)
{
	struct onex_runtime_contract *c;
	struct onex_error err;
	(void)state;
	c = load_ok(MINIMAL "  nodes_dir: \"contracts/nodes\"\n");
	assert_string_equal(c->nodes_dir, "/srv/onex/contracts/nodes");
	onex_runtime_contract_free(c);
	c = load_ok(MINIMAL "  nodes_dir: \"/etc/onex/nodes\"\n");
	assert_string_equal(c->nodes_dir, "/etc/onex/nodes");
	onex_runtime_contract_free(c);
	c = load_ok(MINIMAL "  nodes_dir: \"~/nodes\"\n"); /* '~' is not expanded */
	assert_string_equal(c->nodes_dir, "/srv/onex/~/nodes");
	onex_runtime_contract_free(c);
	c = load_ok(MINIMAL "  nodes_dir: \"../shared\"\n");
	assert_string_equal(c->nodes_dir, "/srv/onex/../shared");
	onex_runtime_contract_free(c);

	/* No base_dir: ".". A file path without '/': its directory is ".". */
	onex_error_clear(&err);
	assert_int_equal(onex_runtime_contract_load_text(MINIMAL, strlen(MINIMAL), NULL,
							 NULL, 0, NULL, &c, &err),
			 0);
	assert_string_equal(c->dir, ".");
	assert_string_equal(c->nodes_dir, "./nodes");
	assert_string_equal(c->path, "<contract>");
	onex_runtime_contract_free(c);
	/* A base directory ending in '/' gets no second one. */
	assert_int_equal(onex_runtime_contract_load_text(MINIMAL, strlen(MINIMAL), "m",
							 "/", 0, NULL, &c, &err),
			 0);
	assert_string_equal(c->nodes_dir, "/nodes");
	onex_runtime_contract_free(c);
}

static void test_anchors_aliases_merge(void **state)
{
	struct onex_runtime_contract *c = NULL;
	struct onex_error err;
	(void)state;
	onex_error_clear(&err);
	assert_int_equal(onex_runtime_contract_load(DATA_DIR "/valid/anchors_and_aliases/runtime.yaml",
						    NULL, &c, &err),
			 0);
	assert_int_equal(c->handler_count, 2);
	json_t *want = json_loads(
		"{\"type\": \"db\", \"timeout_ms\": 5000, \"config\": "
		"{\"retries_note\": \"none\", \"pool_size\": 10}}",
		0, NULL);
	assert_non_null(want);
	assert_true(json_equal(c->handlers[1].config, want));
	json_decref(want);
	assert_int_equal(c->handlers[1].type, ONEX_HANDLER_DB);
	onex_runtime_contract_free(c);
}

static void test_file_errors(void **state)
{
	struct onex_runtime_contract *c = (void *)1;
	struct onex_error err;
	char buf[FORMAT_BYTES];
	(void)state;
	onex_error_clear(&err);
	assert_int_equal(onex_runtime_contract_load("no/such/contract.yaml", NULL, &c,
						    &err),
			 -1);
	assert_null(c);
	assert_int_equal(err.code, ONEX_ERR_CONTRACT_VALIDATION_ERROR);
	assert_string_equal(err.source, "no/such/contract.yaml");
	assert_int_equal(err.line, 0);
	assert_string_equal(err.text, "contract file not found");
	assert_non_null(strstr(err.hint, "tried 'no/such/contract.yaml'"));
	assert_string_equal(onex_error_format(&err, buf, sizeof(buf)),
			    "no/such/contract.yaml: contract file not found\n"
			    "  hint: tried 'no/such/contract.yaml' (relative paths "
			    "start from the current directory; '~' is not expanded)\n"
			    "  action: check the path");

	onex_error_clear(&err);
	assert_int_equal(onex_runtime_contract_load("fixtures/contracts", NULL, &c, &err),
			 -1);
	assert_non_null(strstr(err.text, "cannot read contract file"));
}

static void test_size_limit(void **state)
{
	struct onex_runtime_contract *c = (void *)1;
	struct onex_error err;
	size_t len = ONEX_CONTRACT_BYTES_MAX + 1;
	char *text = malloc(len);
	(void)state;
	assert_non_null(text);
	memset(text, '#', len);
	onex_error_clear(&err);
	assert_int_equal(onex_runtime_contract_load_text(text, len, "big.yaml", ".", 0,
							 NULL, &c, &err),
			 -1);
	assert_null(c);
	assert_string_equal(err.text, "contract is 4194305 bytes; the limit is 4194304");
	free(text);
}

static void test_node_count_limit(void **state)
{
	struct onex_error err;
	size_t size = 64 * (ONEX_CONTRACT_NODES_MAX + 2);
	char *text = malloc(size);
	size_t used = (size_t)snprintf(text, size, "%s  nodes:\n", MINIMAL);
	(void)state;
	for (unsigned i = 0; i <= ONEX_CONTRACT_NODES_MAX; i++)
		used += (size_t)snprintf(text + used, size - used, "    - slug: n%u\n", i);
	assert_true(used < size);
	assert_null(load_text(text, 0, NULL, &err));
	assert_string_equal(err.text, "1025 nodes listed; the limit is 1024");
	assert_int_equal(err.line, 10);
	/* Exactly the limit loads. */
	char *last = strstr(text, "    - slug: n1024\n");
	assert_non_null(last);
	*last = '\0';
	struct onex_runtime_contract *c = load_ok(text);
	assert_int_equal(c->node_count, ONEX_CONTRACT_NODES_MAX);
	assert_string_equal(c->nodes[1023].slug, "n1023");
	onex_runtime_contract_free(c);
	free(text);
}

static void test_first_error_wins(void **state)
{
	struct onex_runtime_contract *c = (void *)1;
	struct onex_error err;
	(void)state;
	onex_error_clear(&err);
	onex_error_set(&err, ONEX_ERR_TIMEOUT, "earlier", 1, 2, "earlier problem");
	onex_error_hint(&err, "earlier hint");
	assert_int_equal(onex_runtime_contract_load_text("a: b: c", 7, "x", ".", 0,
							 NULL, &c, &err),
			 -1);
	assert_null(c);
	assert_int_equal(err.code, ONEX_ERR_TIMEOUT);
	assert_string_equal(err.text, "earlier problem");
	assert_string_equal(err.hint, "earlier hint");
	assert_string_equal(err.action, "");
	/* A NULL error record is allowed. */
	assert_int_equal(onex_runtime_contract_load_text("a: b: c", 7, "x", ".", 0,
							 NULL, &c, NULL),
			 -1);
}

static void test_duplicate_handler_lines(void **state)
{
	struct onex_error err;
	(void)state;
	assert_null(load_text(MINIMAL "    - type: db\n    - type: \"http\"\n", 0, NULL,
			      &err));
	assert_int_equal(err.line, 10);
	assert_int_equal(err.column, 13);
	assert_string_equal(err.text, "duplicate handler type 'http' (lines 8 and 10)");
	/* Both on one line: the line once, and the two columns. */
	assert_null(load_text("schema_version: \"1.0.0\"\n"
			      "runtime:\n"
			      "  name: h\n"
			      "  version: \"1\"\n"
			      "  event_bus: { kind: inmemory }\n"
			      "  handlers: [ { type: http }, { type: http } ]\n",
			      0, NULL, &err));
	assert_int_equal(err.line, 6);
	assert_string_equal(err.text, "duplicate handler type 'http' (line 6, columns 15 and 31)");
	assert_null(load_text(MINIMAL "  nodes: [ { slug: a }, { slug: a } ]\n", 0, NULL, &err));
	assert_int_equal(err.line, 9);
	assert_string_equal(err.text, "duplicate node slug 'a' (line 9, columns 20 and 33)");
}

static void test_secret_never_echoed(void **state)
{
	struct onex_error err;
	char buf[FORMAT_BYTES];
	(void)state;
	assert_null(load_text(MINIMAL "      config: { url: \"https://u:TOPSECRET@h/x\" }\n",
			      0, NULL, &err));
	onex_error_format(&err, buf, sizeof(buf));
	assert_null(strstr(buf, "TOPSECRET"));
	assert_int_equal(err.line, 9);
	assert_int_equal(err.column, 22);
	assert_string_equal(err.action, "use a secret_ref: { secret_ref: { source: "
					"env|vault|file, key: ... } }");
}

static void test_schema_versions_and_suggest(void **state)
{
	static const char *const words[] = { "handlers", "name", "nodes", "nodes_dir" };
	(void)state;
	assert_string_equal(onex_contract_supported_schema_versions(), "1.0.0, 1.1.0");
	assert_string_equal(onex_contract_suggest("handlerz", words, 4), "handlers");
	assert_string_equal(onex_contract_suggest("NAME", words, 4), "name");
	assert_string_equal(onex_contract_suggest("node", words, 4), "nodes");
	assert_string_equal(onex_contract_suggest("nodesdir", words, 4), "nodes_dir");
	assert_null(onex_contract_suggest("hndlrs_x", words, 4));
	assert_null(onex_contract_suggest("", words, 0));
}

static struct data_case cases[CASES_MAX];

int main(void)
{
	static const struct CMUnitTest direct[] = {
		cmocka_unit_test(test_fixture_orders_host),
		cmocka_unit_test(test_fixtures_kafka_and_dev),
		cmocka_unit_test(test_unknown_field_message_exact),
		cmocka_unit_test(test_invalid_yaml_position),
		cmocka_unit_test(test_line_offset),
		cmocka_unit_test(test_lenient_warnings),
		cmocka_unit_test(test_warnings_are_bounded),
		cmocka_unit_test(test_empty_handlers_warns),
		cmocka_unit_test(test_json_typing),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_nodes_dir_resolution),
		cmocka_unit_test(test_anchors_aliases_merge),
		cmocka_unit_test(test_file_errors),
		cmocka_unit_test(test_size_limit),
		cmocka_unit_test(test_node_count_limit),
		cmocka_unit_test(test_first_error_wins),
		cmocka_unit_test(test_duplicate_handler_lines),
		cmocka_unit_test(test_secret_never_echoed),
		cmocka_unit_test(test_schema_versions_and_suggest),
	};
	static struct CMUnitTest tests[CASES_MAX + 32];
	size_t ndirect = sizeof(direct) / sizeof(direct[0]);
	size_t ncases = find_cases(cases, CASES_MAX);
	if (ncases < 3) {
		fprintf(stderr, "no cases under %s: run from the repository root\n",
			DATA_DIR);
		return 1;
	}
	memcpy(tests, direct, sizeof(direct));
	for (size_t i = 0; i < ncases; i++)
		tests[ndirect + i] = (struct CMUnitTest){
			.name = cases[i].name,
			.test_func = run_data_case,
			.initial_state = &cases[i],
		};
	return _cmocka_run_group_tests("test_contract", tests, ndirect + ncases,
				       NULL, NULL);
}
