/*
 * host_cli.c - argument parsing, contract loading, signal handling and
 * the run of one host process, shared by the host binaries. It builds the
 * OS-backed units (epoll loop, system clock, UUIDv4 ids, stderr log); the
 * profile's wiring table decides the bus and handler units.
 */
#include "host_cli.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "contract.h"
#include "host.h"
#include "seeded_ids.h"
#include "system_units.h"
#include "version.h"

struct cli_args {
	const char *contract_path;
	const char *bus_kind;
	int dry_run, describe, lenient;
	unsigned inflight;
	enum onex_log_level log_level;
	int id_seeded; /* --id-seed: deterministic ids, for replay and differential tests */
	uint64_t id_seed;
};

static void usage(FILE *out, const struct onex_host_cli_profile *p)
{
	fprintf(out,
		"usage: %s [options] CONTRACT.yaml\n"
		"\n"
		"%s\n"
		"\n"
		"options:\n"
		"  --bus KIND           use this event bus instead of the contract's\n"
		"                       event_bus.kind (linked here:",
		p->binary, p->summary);
	for (size_t i = 0; i < p->wiring->bus_count; i++)
		fprintf(out, " %s", p->wiring->buses[i]->kind);
	fprintf(out, ")\n"
		"  --dry-run            load and validate the contract, build the\n"
		"                       wiring, print it, exit 0 (consumes nothing)\n"
		"  --describe-wiring    print the wiring as JSON: handlers with their\n"
		"                       describe(), bus, nodes; then exit\n"
		"  --lenient            unknown contract fields warn instead of failing\n"
		"  --inflight N         envelopes handled at once (default 1: sequential)\n"
		"  --log-level LEVEL    debug, info, warn or error (default info); logs\n"
		"                       are JSON lines on stderr\n"
		"  --id-seed N          for replay and differential testing only: draw\n"
		"                       ids from onex-sim's generator for scenario seed N\n"
		"                       (the ids a scenario with that seed sees), not\n"
		"                       from getrandom; never in production\n"
		"  --version            print the version and exit\n"
		"  -h, --help           show this help\n"
		"\n"
		"handler types linked here:");
	for (size_t i = 0; i < p->wiring->handler_count; i++)
		fprintf(out, " %s", onex_handler_type_name(p->wiring->handlers[i]->type));
	fprintf(out, "\n"
		"\n"
		"environment:\n"
		"  SHUTDOWN_GRACE_SECONDS  drain time on SIGTERM/SIGINT or end of input\n"
		"                          (default 30, clamped to 1..300)\n");
	if (p->dev)
		fprintf(out, "  ENVIRONMENT             %s refuses to start when it is 'prod' or\n"
			"                          'production' (any case, surrounding blanks ignored)\n",
			p->binary);
	fprintf(out, "\n"
		"exit codes: 0 ok, 1 contract or usage error, 2 runtime failure\n");
}

/* "prod" or "production", in any case, with any surrounding whitespace. */
static int is_production(const char *value)
{
	size_t n;
	while (isspace((unsigned char)*value))
		value++;
	n = strlen(value);
	while (n > 0 && isspace((unsigned char)value[n - 1]))
		n--;
	return (n == 4 && strncasecmp(value, "prod", 4) == 0) ||
	       (n == 10 && strncasecmp(value, "production", 10) == 0);
}

static int parse_level(const char *s, enum onex_log_level *level)
{
	static const char *const names[] = { "debug", "info", "warn", "error" };
	for (int i = 0; i < 4; i++)
		if (strcmp(s, names[i]) == 0) {
			*level = (enum onex_log_level)i;
			return 0;
		}
	return -1;
}

/* 0 to run, 1 usage error, -1 when --help/--version already answered. */
static int parse_args(int argc, char **argv, const struct onex_host_cli_profile *p,
		      struct cli_args *a)
{
	static const struct option opts[] = {
		{ "bus", required_argument, NULL, 'b' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "describe-wiring", no_argument, NULL, 'd' },
		{ "lenient", no_argument, NULL, 'l' },
		{ "inflight", required_argument, NULL, 'i' },
		{ "log-level", required_argument, NULL, 'L' },
		{ "id-seed", required_argument, NULL, 'S' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	char *end;
	memset(a, 0, sizeof(*a));
	a->log_level = ONEX_LOG_INFO;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'b': a->bus_kind = optarg; break;
		case 'n': a->dry_run = 1; break;
		case 'd': a->describe = 1; break;
		case 'l': a->lenient = 1; break;
		case 'i':
			errno = 0;
			unsigned long v = strtoul(optarg, &end, 10);
			if (errno || *end || v == 0 || v > ONEX_HOST_INFLIGHT_MAX) {
				fprintf(stderr, "%s: --inflight takes a number from 1 to %u, got '%s'\n",
					p->binary, ONEX_HOST_INFLIGHT_MAX, optarg);
				return 1;
			}
			a->inflight = (unsigned)v;
			break;
		case 'L':
			if (parse_level(optarg, &a->log_level) < 0) {
				fprintf(stderr, "%s: --log-level takes debug, info, warn or error, got '%s'\n",
					p->binary, optarg);
				return 1;
			}
			break;
		case 'S':
			errno = 0;
			unsigned long long seed = strtoull(optarg, &end, 10);
			if (errno || *end || !*optarg || *optarg == '-') {
				fprintf(stderr, "%s: --id-seed takes a number from 0 to "
					"18446744073709551615, got '%s'\n", p->binary, optarg);
				return 1;
			}
			a->id_seeded = 1;
			a->id_seed = (uint64_t)seed;
			break;
		case 'V': printf("%s %s\n", p->binary, ONEX_VERSION); return -1;
		case 'h': usage(stdout, p); return -1;
		default:
			fprintf(stderr, "%s: unknown or incomplete option '%s'\n", p->binary,
				argv[optind - 1]);
			fprintf(stderr, "run '%s --help' for usage\n", p->binary);
			return 1;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "%s: expected exactly one CONTRACT.yaml argument\n", p->binary);
		fprintf(stderr, "run '%s --help' for usage\n", p->binary);
		return 1;
	}
	a->contract_path = argv[optind];
	return 0;
}

static void print_error(const char *binary, const struct onex_error *err)
{
	char text[4096];
	fprintf(stderr, "%s: error: %s\n", binary, onex_error_format(err, text, sizeof(text)));
}

static unsigned grace_seconds(void)
{
	const char *s = getenv("SHUTDOWN_GRACE_SECONDS");
	char *end;
	if (!s || !*s)
		return 0;
	unsigned long v = strtoul(s, &end, 10);
	return *end ? 0 : (unsigned)(v > 300 ? 300 : v);
}

struct signal_watch {
	int fd;
	struct onex_host *host;
	struct onex_log *log;
};

static void on_signal(void *arg, int fd, unsigned events)
{
	struct signal_watch *sw = arg;
	struct signalfd_siginfo si;
	(void)events;
	if (read(fd, &si, sizeof(si)) != (ssize_t)sizeof(si))
		return;
	onex_log(sw->log, ONEX_LOG_INFO, NULL, NULL, "signal %u: draining and shutting down",
		 si.ssi_signo);
	onex_host_shutdown(sw->host);
}

static void print_dry_run(struct onex_host *host, const struct onex_runtime_contract *c)
{
	json_t *w = onex_host_describe_wiring(host);
	json_t *handlers = json_object_get(w, "handlers"), *h;
	size_t i;
	printf("contract: %s (%s %s, schema %s)\n", c->path, c->name, c->version,
	       c->schema_version);
	printf("bus: %s, input %s, output %s\n",
	       json_string_value(json_object_get(json_object_get(w, "bus"), "kind")),
	       c->bus.topic_input, c->bus.topic_output);
	json_array_foreach(handlers, i, h) {
		char *ops = json_dumps(json_object_get(h, "operations"), JSON_COMPACT);
		printf("handler: %s -> unit %s, operations %s\n",
		       json_string_value(json_object_get(h, "type")),
		       json_string_value(json_object_get(h, "unit")), ops ? ops : "[]");
		free(ops);
	}
	printf("nodes: %zu\n", json_array_size(json_object_get(w, "nodes")));
	printf("dry run: contract valid, wiring complete\n");
	json_decref(w);
}

/* The hosts resolve contract `${NAME}` references from their environment. */
static const char *env_lookup(void *arg, const char *name)
{
	(void)arg;
	return getenv(name);
}

/* Load and check the contract; prints its warnings. */
static int load_contract(const struct onex_host_cli_profile *p, const struct cli_args *a,
			 struct onex_runtime_contract **contract)
{
	struct onex_contract_options copt = { a->lenient, p->production };
	struct onex_error err;
	onex_error_clear(&err);
	const struct onex_contract_env env = { env_lookup, NULL };
	if (onex_runtime_contract_load_env(a->contract_path, &copt, &env, contract,
					   &err) < 0) {
		print_error(p->binary, &err);
		return -1;
	}
	for (size_t i = 0; i < (*contract)->warning_count; i++) {
		char text[4096];
		fprintf(stderr, "%s: warning: %s\n", p->binary,
			onex_error_format(&(*contract)->warnings[i], text, sizeof(text)));
	}
	return 0;
}

struct world {
	struct onex_loop *loop;
	struct onex_clock *clock;
	struct onex_ids *ids;
	struct onex_log *log;
};

static int run_host(const struct onex_host_cli_profile *p, const struct cli_args *a,
		    const struct onex_runtime_contract *contract, struct world *w)
{
	struct onex_host_env env = { w->loop, w->clock, w->ids, w->log, p->wiring, NULL };
	struct onex_host_options hopt = { a->inflight, grace_seconds(), a->bus_kind,
					  { a->lenient, p->production } };
	struct onex_host *host = NULL;
	struct onex_error err;
	int rc = ONEX_EXIT_OK;

	onex_error_clear(&err);
	if (onex_host_new(&env, contract, &hopt, &host, &err) < 0) {
		print_error(p->binary, &err);
		return err.code == ONEX_ERR_CONTRACT_VALIDATION_ERROR ||
				       err.code == ONEX_ERR_HANDLER_CONFIGURATION_ERROR ||
				       err.code == ONEX_ERR_SECRET_RESOLUTION_ERROR ||
				       err.code == ONEX_ERR_EVENT_BUS_ERROR
			       ? ONEX_EXIT_CONTRACT
			       : ONEX_EXIT_RUNTIME;
	}
	if (a->describe || a->dry_run) {
		if (a->describe) {
			json_t *wiring = onex_host_describe_wiring(host);
			json_dumpf(wiring, stdout, JSON_INDENT(2));
			fputc('\n', stdout);
			json_decref(wiring);
		} else {
			print_dry_run(host, contract);
		}
		onex_host_free(host);
		return ONEX_EXIT_OK;
	}

	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	struct signal_watch sw = { signalfd(-1, &mask, SFD_CLOEXEC), host, w->log };
	if (sw.fd < 0 || onex_loop_fd_watch(w->loop, sw.fd, ONEX_LOOP_READABLE, on_signal,
					    &sw, &err) < 0 ||
	    onex_host_start(host, &err) < 0) {
		if (!onex_error_is_set(&err))
			onex_error_set(&err, ONEX_ERR_EVENT_BUS_ERROR, "signalfd", 0, 0, "%s",
				       strerror(errno));
		print_error(p->binary, &err);
		rc = ONEX_EXIT_RUNTIME;
	} else {
		if (onex_loop_run(w->loop) < 0) {
			fprintf(stderr, "%s: error: event loop failed: %s\n", p->binary,
				strerror(errno));
			rc = ONEX_EXIT_RUNTIME;
		} else if (!onex_host_is_stopped(host)) {
			fprintf(stderr, "%s: error: event loop ended before the host stopped\n",
				p->binary);
			rc = ONEX_EXIT_RUNTIME;
		} else if (onex_host_stats(host)->replies_lost > 0) {
			fprintf(stderr, "%s: error: %llu replies could not be published and the "
				"bus cannot redeliver their requests\n", p->binary,
				(unsigned long long)onex_host_stats(host)->replies_lost);
			rc = ONEX_EXIT_RUNTIME;
		}
	}
	if (sw.fd >= 0) {
		onex_loop_fd_unwatch(w->loop, sw.fd);
		close(sw.fd);
	}
	onex_host_free(host);
	return rc;
}

int onex_host_cli_main(int argc, char **argv, const struct onex_host_cli_profile *p)
{
	struct cli_args a;
	struct world w = { 0 };
	struct onex_runtime_contract *contract = NULL;
	struct onex_error err;
	int rc = parse_args(argc, argv, p, &a);

	if (rc != 0)
		return rc < 0 ? ONEX_EXIT_OK : ONEX_EXIT_CONTRACT;
	if (p->dev) {
		const char *environment = getenv("ENVIRONMENT");
		if (environment && is_production(environment)) {
			fprintf(stderr, "%s: error: ENVIRONMENT=%s names production: %s is for "
				"development only and refuses to start; run onex-host with a "
				"production contract\n", p->binary, environment, p->binary);
			return ONEX_EXIT_CONTRACT;
		}
		fprintf(stderr, "%s: warning: development host: only the 'local' handler is "
			"linked; never run it in production\n", p->binary);
	}
	signal(SIGPIPE, SIG_IGN); /* a closed stdout is a write error, not a death */
	onex_error_clear(&err);
	w.clock = onex_system_clock_new();
	w.ids = a.id_seeded ? onex_seeded_ids_from_seed(a.id_seed) : onex_uuid4_ids_new();
	w.log = onex_stderr_log_new(w.clock, a.log_level);
	w.loop = onex_epoll_loop_new(&err);
	if (!w.clock || !w.ids || !w.log || !w.loop) {
		if (!onex_error_is_set(&err))
			onex_error_set(&err, ONEX_ERR_EVENT_BUS_ERROR, p->binary, 0, 0, "out of memory");
		print_error(p->binary, &err);
		rc = ONEX_EXIT_RUNTIME;
	} else {
		onex_log(w.log, ONEX_LOG_INFO, NULL, NULL, "%s %s starting with %s", p->binary,
			 ONEX_VERSION, a.contract_path);
		if (a.id_seeded)
			onex_log(w.log, ONEX_LOG_WARN, NULL, NULL, "--id-seed %llu: ids are "
				 "deterministic (replay and differential testing only)",
				 (unsigned long long)a.id_seed);
		rc = load_contract(p, &a, &contract) < 0 ? ONEX_EXIT_CONTRACT
							: run_host(p, &a, contract, &w);
	}
	onex_runtime_contract_free(contract);
	onex_loop_free(w.loop);
	onex_log_free(w.log);
	onex_ids_free(w.ids);
	onex_clock_free(w.clock);
	return rc;
}
