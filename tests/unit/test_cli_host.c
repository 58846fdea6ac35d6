/*
 * test_cli_host.c - end to end through the real binaries: envelopes piped
 * into `onex-host-dev --bus stdio`, replies read from its stdout; the
 * production host's refusals; --dry-run, --describe-wiring, --help; exit
 * codes; SIGTERM drain.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contract.h"
#include "http_server.h"
#include "spawn.h"

#define DEV_CONTRACT "fixtures/contracts/dev_local.yaml"
#define ID1 "6f1c2d3e-4a5b-4c6d-8e7f-0123456789ab"
#define ID2 "0a1b2c3d-4e5f-4a6b-9c8d-abcdefabcdef"

static char dev_bin[512], host_bin[512];

static int setup(void **state)
{
	(void)state;
	spawn_bin("onex-host-dev", dev_bin, sizeof(dev_bin));
	spawn_bin("onex-host", host_bin, sizeof(host_bin));
	return 0;
}

static void run(const char *const argv[], const char *input, size_t len,
		struct spawn_result *res)
{
	struct spawn_opts o = { input, len, NULL, 0, 0, 20000 };
	assert_int_equal(spawn_run(argv, &o, res), 0);
}

static json_t *line_json(const struct spawn_result *res, size_t n)
{
	static char buf[1 << 16];
	json_t *j = json_loads(spawn_line(res->out, n, buf, sizeof(buf)), 0, NULL);
	if (!j)
		fail_msg("stdout line %zu is not JSON: %s", n, buf);
	return j;
}

static const char *str(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static void assert_contains(const char *text, const char *part)
{
	if (!text || !strstr(text, part))
		fail_msg("'%s' does not contain '%s'", text ? text : "(null)", part);
}

static void test_echo_through_stdio(void **state)
{
	(void)state;
	const char *in = "{\"envelope_id\":\"" ID1 "\",\"correlation_id\":\"" ID2 "\","
			 "\"handler_type\":\"local\",\"operation\":\"local.echo\","
			 "\"payload\":{\"msg\":\"hi\"},\"timestamp\":\"2025-01-01T00:00:00.000000Z\"}\n";
	const char *argv[] = { dev_bin, "--bus", "stdio", DEV_CONTRACT, NULL };
	struct spawn_result res;
	run(argv, in, strlen(in), &res);
	assert_int_equal(res.exit_code, 0);
	assert_int_equal(spawn_count_lines(res.out), 1);
	json_t *r = line_json(&res, 0);
	assert_string_equal(str(r, "correlation_id"), ID2);
	assert_string_equal(str(r, "causation_id"), ID1);
	assert_true(json_is_true(json_object_get(r, "success")));
	assert_string_equal(str(json_object_get(r, "payload"), "msg"), "hi");
	json_decref(r);
	assert_contains(res.err, "development host");
	spawn_result_release(&res);
}

static void test_malformed_lines_each_get_an_error(void **state)
{
	(void)state;
	/* 1: truncated JSON, 2: wrong types, 3: 1 MiB payload, 4: invalid UTF-8,
	 * 5: unknown handler, 6: not an object, 7: valid. Blank lines skipped. */
	size_t big = 1024 * 1024;
	size_t cap = big + 4096;
	char *in = malloc(cap);
	size_t n = 0;
	n += (size_t)snprintf(in + n, cap - n, "{\"operation\":\"local.echo\",\"payl\n");
	n += (size_t)snprintf(in + n, cap - n, "{\"operation\":42,\"payload\":[],\"correlation_id\":false}\n");
	n += (size_t)snprintf(in + n, cap - n, "{\"operation\":\"local.echo\",\"payload\":{\"s\":\"");
	memset(in + n, 'a', big);
	n += big;
	n += (size_t)snprintf(in + n, cap - n, "\"}}\n\n");
	n += (size_t)snprintf(in + n, cap - n, "{\"operation\":\"local.echo\",\"payload\":{\"s\":\"\xff\xfe\"}}\n");
	n += (size_t)snprintf(in + n, cap - n, "{\"operation\":\"consul.kv_get\",\"handler_type\":\"consul\"}\n");
	n += (size_t)snprintf(in + n, cap - n, "[]\n");
	n += (size_t)snprintf(in + n, cap - n, "{\"operation\":\"local.echo\",\"payload\":{\"ok\":1}}");
	const char *argv[] = { dev_bin, "--bus", "stdio", DEV_CONTRACT, NULL };
	struct spawn_result res;
	run(argv, in, n, &res);
	free(in);
	assert_int_equal(res.exit_code, 0);
	assert_int_equal(spawn_count_lines(res.out), 7);

	static const struct {
		const char *code, *part;
	} want[] = {
		{ "ENVELOPE_VALIDATION_ERROR", "stdin line 1: invalid JSON" },
		{ "ENVELOPE_VALIDATION_ERROR", "stdin line 2: invalid envelope" },
		{ "ENVELOPE_VALIDATION_ERROR", "stdin line 3: envelope is" },
		{ "ENVELOPE_VALIDATION_ERROR", "stdin line 5: invalid JSON" },
		{ "HANDLER_NOT_FOUND", "no handler registered for type 'consul'" },
		{ "ENVELOPE_VALIDATION_ERROR", "stdin line 7: an envelope must be a JSON object" },
	};
	for (size_t i = 0; i < 6; i++) {
		json_t *r = line_json(&res, i);
		json_t *e = json_object_get(r, "error");
		assert_string_equal(str(e, "code"), want[i].code);
		assert_contains(str(e, "message"), want[i].part);
		assert_true(json_is_false(json_object_get(r, "success")));
		json_decref(r);
	}
	json_t *r = line_json(&res, 1);
	const char *msg = str(json_object_get(r, "error"), "message");
	assert_contains(msg, "operation (must be");
	assert_contains(msg, "payload (must be an object or null)");
	assert_contains(msg, "correlation_id (must be a UUID string or null)");
	json_decref(r);
	r = line_json(&res, 4);
	json_t *avail = json_object_get(json_object_get(r, "error"), "available_handlers");
	assert_int_equal(json_array_size(avail), 1);
	assert_string_equal(json_string_value(json_array_get(avail, 0)), "local");
	json_decref(r);
	r = line_json(&res, 6);
	assert_true(json_is_true(json_object_get(r, "success")));
	json_decref(r);
	spawn_result_release(&res);
}

static void test_dev_host_refuses_prod(void **state)
{
	(void)state;
	const char *argv[] = { dev_bin, "--bus", "stdio", DEV_CONTRACT, NULL };
	static const char *const refused[] = { "ENVIRONMENT=prod", "ENVIRONMENT=production",
					       "ENVIRONMENT=PROD", "ENVIRONMENT=Production",
					       "ENVIRONMENT= prod ", "ENVIRONMENT=\tPRODUCTION\n" };
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		const char *env[] = { refused[i], NULL };
		struct spawn_opts o = { "", 0, env, 0, 0, 10000 };
		struct spawn_result res;
		assert_int_equal(spawn_run(argv, &o, &res), 0);
		if (res.exit_code != 1)
			fail_msg("%s: exit %d, expected 1", refused[i], res.exit_code);
		assert_contains(res.err, refused[i]);
		assert_contains(res.err, "refuses to start");
		assert_int_equal(res.out_len, 0);
		spawn_result_release(&res);
	}
	/* Other names start (and end at once on empty input). */
	static const char *const started[] = { "ENVIRONMENT=dev", "ENVIRONMENT=preprod",
					       "ENVIRONMENT=production2", "ENVIRONMENT=" };
	for (size_t i = 0; i < sizeof(started) / sizeof(started[0]); i++) {
		const char *env[] = { started[i], NULL };
		struct spawn_opts o = { "", 0, env, 0, 0, 10000 };
		struct spawn_result res;
		assert_int_equal(spawn_run(argv, &o, &res), 0);
		if (res.exit_code != 0)
			fail_msg("%s: exit %d, expected 0: %s", started[i], res.exit_code, res.err);
		spawn_result_release(&res);
	}
	const char *help[] = { dev_bin, "--help", NULL };
	struct spawn_result res;
	run(help, "", 0, &res);
	assert_contains(res.out, "'prod' or\n");
	assert_contains(res.out, "'production' (any case");
	spawn_result_release(&res);
}

/* A reply the stdio bus cannot write (stdout is /dev/full) is lost: exit 2. */
static void test_lost_reply_exits_two(void **state)
{
	(void)state;
	const char *in = "{\"operation\":\"local.echo\",\"payload\":{}}\n";
	const char *argv[] = { "/bin/sh", "-c", "exec \"$0\" --bus stdio \"$1\" >/dev/full",
			       dev_bin, DEV_CONTRACT, NULL };
	struct spawn_result res;
	run(argv, in, strlen(in), &res);
	assert_int_equal(res.exit_code, 2);
	assert_contains(res.err, "1 publish failures");
	assert_contains(res.err, "1 replies could not be published");
	spawn_result_release(&res);
	/* The same run with a writable stdout exits 0. */
	const char *ok[] = { "/bin/sh", "-c", "exec \"$0\" --bus stdio \"$1\" >/dev/null",
			     dev_bin, DEV_CONTRACT, NULL };
	run(ok, in, strlen(in), &res);
	assert_int_equal(res.exit_code, 0);
	spawn_result_release(&res);
}

static void test_production_host_refuses_local(void **state)
{
	(void)state;
	const char *argv[] = { host_bin, "--bus", "stdio", DEV_CONTRACT, NULL };
	struct spawn_result res;
	run(argv, "", 0, &res);
	assert_int_equal(res.exit_code, 1);
	assert_contains(res.err, "local");
	assert_contains(res.err, "dev_local.yaml:");
	spawn_result_release(&res);
}

static void test_dry_run_and_describe_wiring(void **state)
{
	(void)state;
	const char *dry[] = { dev_bin, "--dry-run", DEV_CONTRACT, NULL };
	struct spawn_result res;
	run(dry, "", 0, &res);
	assert_int_equal(res.exit_code, 0);
	assert_contains(res.out, "handler: local -> unit local");
	assert_contains(res.out, "bus: stdio");
	assert_contains(res.out, "dry run: contract valid, wiring complete");
	spawn_result_release(&res);

	const char *desc[] = { dev_bin, "--describe-wiring", DEV_CONTRACT, NULL };
	run(desc, "", 0, &res);
	assert_int_equal(res.exit_code, 0);
	json_t *w = json_loads(res.out, 0, NULL);
	assert_non_null(w);
	assert_string_equal(str(w, "binary"), "onex-host-dev");
	assert_string_equal(str(json_object_get(w, "bus"), "kind"), "stdio");
	json_t *h = json_array_get(json_object_get(w, "handlers"), 0);
	assert_string_equal(str(h, "type"), "local");
	assert_int_equal(json_array_size(json_object_get(h, "operations")), 3);
	assert_true(json_is_array(json_object_get(w, "nodes")));
	json_decref(w);
	spawn_result_release(&res);
}


/* The environment the fixtures' secret_refs name (fixture comments say so). */
static const char *const fixture_env[] = { "ORDERS_DB_DSN=host=127.0.0.1 port=1 dbname=orders",
					   "ORDERS_DB_PASSWORD=unused", NULL };

/* 1 when the contract lists the development-only `local` handler. */
static int enables_local(const char *path)
{
	struct onex_runtime_contract *c = NULL;
	struct onex_error err;
	onex_error_clear(&err);
	if (onex_runtime_contract_load(path, NULL, &c, &err) < 0)
		fail_msg("%s does not load: %s", path, err.text);
	int local = onex_runtime_contract_has_handler(c, ONEX_HANDLER_LOCAL);
	onex_runtime_contract_free(c);
	return local;
}

/*
 * Every contract in fixtures/contracts/ that does not enable `local` is
 * one the production host accepts (--dry-run: contract, wiring, handler
 * configuration, secrets), and the dev host accepts dev_local.yaml. (The
 * sim_*.yaml ones mix `local` with http and db: for onex-sim only.)
 */
static void test_every_fixture_dry_runs(void **state)
{
	(void)state;
	DIR *dir = opendir("fixtures/contracts");
	struct dirent *e;
	unsigned production = 0, dev = 0;
	assert_non_null(dir);
	unsetenv("ORDERS_DB_DSN");
	unsetenv("ORDERS_DB_PASSWORD");
	while ((e = readdir(dir))) {
		char path[512];
		size_t n = strlen(e->d_name);
		if (n < 6 || strcmp(e->d_name + n - 5, ".yaml") != 0)
			continue;
		snprintf(path, sizeof(path), "fixtures/contracts/%s", e->d_name);
		int local = enables_local(path);
		if (local && strcmp(e->d_name, "dev_local.yaml") != 0)
			continue;
		const char *argv[] = { local ? dev_bin : host_bin, "--dry-run", path, NULL };
		struct spawn_opts o = { "", 0, fixture_env, 0, 0, 20000 };
		struct spawn_result res;
		assert_int_equal(spawn_run(argv, &o, &res), 0);
		if (res.exit_code != 0 || !strstr(res.out, "dry run: contract valid, wiring complete"))
			fail_msg("%s --dry-run %s: exit %d: %s", local ? "onex-host-dev" : "onex-host",
				 path, res.exit_code, res.err);
		print_message("%s --dry-run %s: ok\n", local ? "onex-host-dev" : "onex-host", path);
		production += !local;
		dev += local;
		spawn_result_release(&res);
	}
	closedir(dir);
	assert_true(production >= 3); /* orders_host, orders_kafka, http_stdio at least */
	assert_int_equal(dev, 1);

	/* An unresolvable secret names the contract file, the entry and the field. */
	const char *argv[] = { host_bin, "--dry-run", "fixtures/contracts/orders_host.yaml", NULL };
	struct spawn_result res;
	run(argv, "", 0, &res);
	assert_int_equal(res.exit_code, 1); /* a start-up configuration error */
	assert_contains(res.err, "fixtures/contracts/orders_host.yaml:18:7: handler db unit "
				 "libpq: config.dsn.secret_ref: environment variable ORDERS_DB_DSN "
				 "is not set");
	assert_contains(res.err, "hint: set ORDERS_DB_DSN in the host's environment");
	spawn_result_release(&res);
}

static void test_usage_errors_and_help(void **state)
{
	(void)state;
	struct spawn_result res;
	const char *help[] = { host_bin, "--help", NULL };
	run(help, "", 0, &res);
	assert_int_equal(res.exit_code, 0);
	assert_contains(res.out, "usage: onex-host");
	assert_contains(res.out, "--describe-wiring");
	assert_contains(res.out, "exit codes: 0 ok, 1 contract or usage error, 2 runtime failure");
	spawn_result_release(&res);

	const char *none[] = { dev_bin, NULL };
	run(none, "", 0, &res);
	assert_int_equal(res.exit_code, 1);
	assert_contains(res.err, "expected exactly one CONTRACT.yaml");
	spawn_result_release(&res);

	const char *bad_opt[] = { dev_bin, "--frobnicate", DEV_CONTRACT, NULL };
	run(bad_opt, "", 0, &res);
	assert_int_equal(res.exit_code, 1);
	assert_contains(res.err, "--frobnicate");
	spawn_result_release(&res);

	const char *missing[] = { dev_bin, "no/such/contract.yaml", NULL };
	run(missing, "", 0, &res);
	assert_int_equal(res.exit_code, 1);
	assert_contains(res.err, "no/such/contract.yaml");
	spawn_result_release(&res);

	const char *bad_bus[] = { dev_bin, "--bus", "kafka", DEV_CONTRACT, NULL };
	run(bad_bus, "", 0, &res);
	assert_int_equal(res.exit_code, 1);
	assert_contains(res.err, "event bus kind 'kafka' is not available in onex-host-dev");
	spawn_result_release(&res);
}

static void test_sigterm_drains_and_exits_zero(void **state)
{
	(void)state;
	/* The echo answers after 300 ms; SIGTERM arrives at ~100 ms. */
	const char *in = "{\"operation\":\"local.echo\",\"payload\":{\"delay_ms\":300}}\n";
	const char *argv[] = { dev_bin, "--bus", "stdio", DEV_CONTRACT, NULL };
	struct spawn_opts o = { in, strlen(in), NULL, 1, 100, 20000 };
	struct spawn_result res;
	assert_int_equal(spawn_run(argv, &o, &res), 0);
	assert_int_equal(res.exit_code, 0);
	assert_int_equal(spawn_count_lines(res.out), 1);
	json_t *r = line_json(&res, 0);
	assert_true(json_is_true(json_object_get(r, "success")));
	json_decref(r);
	assert_contains(res.err, "draining");
	spawn_result_release(&res);
}

static void test_production_host_calls_http(void **state)
{
	(void)state;
	struct http_server srv;
	char url[256], in[512];
	assert_int_equal(http_server_start(&srv), 0);
	snprintf(in, sizeof(in),
		 "{\"envelope_id\":\"" ID1 "\",\"correlation_id\":\"" ID2 "\","
		 "\"operation\":\"http.get\",\"payload\":{\"url\":\"%s\"}}\n"
		 "{\"operation\":\"local.echo\"}\n",
		 http_server_url(&srv, "/json", url, sizeof(url)));
	const char *argv[] = { host_bin, "fixtures/contracts/http_stdio.yaml", NULL };
	struct spawn_result res;
	run(argv, in, strlen(in), &res);
	http_server_stop(&srv);
	assert_int_equal(res.exit_code, 0);
	assert_int_equal(spawn_count_lines(res.out), 2);
	json_t *r = line_json(&res, 0);
	assert_string_equal(str(r, "correlation_id"), ID2);
	assert_string_equal(str(r, "causation_id"), ID1);
	assert_true(json_is_true(json_object_get(r, "success")));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "payload"), "status_code")), 200);
	json_decref(r);
	r = line_json(&res, 1); /* the production host has no local handler */
	assert_string_equal(str(json_object_get(r, "error"), "code"), "HANDLER_NOT_FOUND");
	json_decref(r);
	spawn_result_release(&res);

	const char *dry[] = { host_bin, "--dry-run", "fixtures/contracts/http_stdio.yaml", NULL };
	run(dry, "", 0, &res);
	assert_int_equal(res.exit_code, 0);
	assert_contains(res.out, "handler: http -> unit libcurl");
	spawn_result_release(&res);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_echo_through_stdio),
		cmocka_unit_test(test_malformed_lines_each_get_an_error),
		cmocka_unit_test(test_dev_host_refuses_prod),
		cmocka_unit_test(test_lost_reply_exits_two),
		cmocka_unit_test(test_production_host_refuses_local),
		cmocka_unit_test(test_dry_run_and_describe_wiring),
		cmocka_unit_test(test_every_fixture_dry_runs),
		cmocka_unit_test(test_usage_errors_and_help),
		cmocka_unit_test(test_sigterm_drains_and_exits_zero),
		cmocka_unit_test(test_production_host_calls_http),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
