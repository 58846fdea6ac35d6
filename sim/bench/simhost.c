/*
 * simhost.c - the benchmark's composition root for in-process hosts on
 * the simulation units (see simhost.h). It names concrete units, as a
 * composition root does; nothing here is visible to the host.
 */
#include "simhost.h"

#include <stdlib.h>
#include <string.h>

#include "contract.h"
#include "fake_http.h"
#include "inmemory_bus.h"
#include "local_handler.h"
#include "seeded_ids.h"
#include "sqlite_db.h"
#include "wiring.h"
#include "world.h"

#define MS_NS 1000000ull
#define EPOCH_NS (1735689600LL * 1000000000LL) /* 2025-01-01T00:00:00Z */

const char onex_bench_echo_envelope[] =
	"{\"envelope_id\":\"6f1c2d3e-4a5b-4c6d-8e7f-0123456789ab\","
	"\"envelope_version\":\"1.0\","
	"\"correlation_id\":\"0a1b2c3d-4e5f-4a6b-9c8d-abcdefabcdef\","
	"\"causation_id\":null,\"source_node\":\"bench-client\",\"target_node\":null,"
	"\"handler_type\":\"local\",\"operation\":\"local.echo\","
	"\"payload\":{\"order_id\":12345,\"customer\":\"ada\","
	"\"items\":[{\"sku\":\"A-1\",\"qty\":2,\"price\":9.5},"
	"{\"sku\":\"B-7\",\"qty\":1,\"price\":120.0}],\"note\":\"leave at the door\"},"
	"\"metadata\":{\"client\":\"onex-bench\"},"
	"\"timestamp\":\"2025-01-01T00:00:00.000000Z\",\"is_response\":false}";
const size_t onex_bench_echo_envelope_len = sizeof(onex_bench_echo_envelope) - 1;

const char onex_bench_contract_local[] = "schema_version: \"1.0.0\"\n"
					 "runtime:\n"
					 "  name: \"bench_local\"\n"
					 "  version: \"1.0.0\"\n"
					 "  event_bus:\n"
					 "    kind: \"inmemory\"\n"
					 "    config: { history_size: 0 }\n"
					 "  handlers:\n"
					 "    - type: \"local\"\n";

/* ---- the plain wiring: the units themselves, the db/http ones remembered ---------- */

static struct onex_handler *plain_http_create(const struct onex_handler_env *env,
					      struct onex_error *err)
{
	struct onex_handler *h = onex_fake_http_unit.create(env, err);
	struct onex_bench_host *bh = env->root;
	if (h && bh)
		bh->http = h;
	return h;
}

static struct onex_handler *plain_db_create(const struct onex_handler_env *env,
					    struct onex_error *err)
{
	struct onex_handler *h = onex_sqlite_db_unit.create(env, err);
	struct onex_bench_host *bh = env->root;
	if (h && bh)
		bh->db = h;
	return h;
}

static const struct onex_handler_unit plain_http_unit = { ONEX_HANDLER_HTTP, "sim-http",
							  plain_http_create };
static const struct onex_handler_unit plain_db_unit = { ONEX_HANDLER_DB, "sim-sqlite",
							plain_db_create };
static const struct onex_handler_unit *const plain_handlers[] = {
	&onex_local_handler_unit, &plain_http_unit, &plain_db_unit
};
static const struct onex_bus_unit *const plain_buses[] = { &onex_inmemory_bus_unit };
static const struct onex_wiring plain_wiring = {
	.binary = "onex-bench",
	.handlers = plain_handlers,
	.handler_count = sizeof(plain_handlers) / sizeof(plain_handlers[0]),
	.buses = plain_buses,
	.bus_count = sizeof(plain_buses) / sizeof(plain_buses[0]),
};

/* ---- the log: nothing is written, lines at or above min_level are counted --------- */

static void bench_log_write(struct onex_log *log, enum onex_log_level level,
			    const char *correlation_id, const char *envelope_id,
			    const char *message)
{
	(void)level, (void)correlation_id, (void)envelope_id, (void)message;
	((struct onex_bench_log *)log)->lines++;
}

static const struct onex_log_ops bench_log_ops = { "bench-discard", bench_log_write, NULL };

/* ---- the output consumer ------------------------------------------------------------ */

static void on_output(void *arg, const struct onex_bus_message *msg)
{
	struct onex_bench_host *bh = arg;
	bh->replies++;
	if (bh->on_reply)
		bh->on_reply(bh->reply_arg, msg->data, msg->len);
	onex_bus_ack(bh->raw_bus, msg->token);
}

static int make_units(struct onex_bench_host *bh, const struct onex_bench_host_config *cfg,
		      struct onex_host_env *env, struct onex_error *err)
{
	if (cfg->world) {
		bh->world = onex_sim_world_new(cfg->seed, cfg->want_trace);
		if (!bh->world)
			return onex_error_set(err, ONEX_ERR_HANDLER_CONFIGURATION_ERROR,
					      "onex-bench", 0, 0, "out of memory");
		bh->sched = bh->world->sched;
		*env = (struct onex_host_env){ bh->world->loop, bh->world->clock, bh->world->ids,
					       &bh->world->log, &onex_sim_wiring, bh->world };
		return 0;
	}
	struct onex_prng root, stream;
	bh->sched = onex_sim_scheduler_new(EPOCH_NS);
	onex_prng_init(&root, cfg->seed);
	onex_prng_fork(&root, "ids", &stream);
	bh->ids = onex_seeded_ids_new(&stream);
	if (!bh->sched || !bh->ids)
		return onex_error_set(err, ONEX_ERR_HANDLER_CONFIGURATION_ERROR, "onex-bench", 0,
				      0, "out of memory");
	bh->log.base.ops = &bench_log_ops;
	bh->log.base.min_level = ONEX_LOG_INFO;
	*env = (struct onex_host_env){ onex_sim_scheduler_loop(bh->sched),
				       onex_sim_scheduler_clock(bh->sched),
				       bh->ids,
				       &bh->log.base,
				       &plain_wiring,
				       bh };
	return 0;
}

static int start(struct onex_bench_host *bh, const struct onex_bench_host_config *cfg,
		 struct onex_error *err)
{
	if (bh->world) {
		bh->raw_bus = onex_sim_world_inner_bus(bh->world);
		bh->db = onex_sim_world_inner_handler(bh->world, ONEX_HANDLER_DB);
		bh->http = onex_sim_world_inner_handler(bh->world, ONEX_HANDLER_HTTP);
	} else {
		bh->raw_bus = onex_host_bus(bh->host);
	}
	if (!bh->raw_bus)
		return onex_error_set(err, ONEX_ERR_EVENT_BUS_ERROR, "onex-bench", 0, 0,
				      "the host has no in-memory bus");
	if (cfg->sql) {
		if (!bh->db)
			return onex_error_set(err, ONEX_ERR_HANDLER_CONFIGURATION_ERROR,
					      "onex-bench", 0, 0,
					      "SQL fixture given but the contract has no db handler");
		if (onex_sqlite_db_exec_script(bh->db, cfg->sql, err) < 0)
			return -1;
	}
	if (onex_bus_subscribe(bh->raw_bus, bh->contract->bus.topic_output, on_output, NULL, bh,
			       err) < 0)
		return -1;
	return onex_host_start(bh->host, err);
}

int onex_bench_host_open(struct onex_bench_host *bh, const struct onex_bench_host_config *cfg,
			 struct onex_error *err)
{
	struct onex_contract_options copt = { 0, 0 };
	struct onex_host_env env;
	memset(bh, 0, sizeof(*bh));
	bh->on_reply = cfg->on_reply;
	bh->reply_arg = cfg->reply_arg;
	bh->world_mode = cfg->world;
	if (make_units(bh, cfg, &env, err) < 0)
		goto fail;
	if (onex_runtime_contract_load_text(cfg->contract_yaml, strlen(cfg->contract_yaml),
					    "onex-bench contract",
					    cfg->base_dir ? cfg->base_dir : ".", 0, &copt,
					    &bh->contract, err) < 0)
		goto fail;
	struct onex_host_options opt = { cfg->inflight_max, 1, NULL, { 0, 0 } };
	if (onex_host_new(&env, bh->contract, &opt, &bh->host, err) < 0)
		goto fail;
	if (start(bh, cfg, err) < 0)
		goto fail;
	return 0;
fail:
	onex_bench_host_close(bh);
	return -1;
}

int onex_bench_host_publish(struct onex_bench_host *bh, const char *data, size_t len,
			    struct onex_error *err)
{
	if (bh->world)
		return onex_sim_world_publish(bh->world, bh->contract->bus.topic_input, data, len,
					      err);
	return onex_bus_publish(onex_host_bus(bh->host), bh->contract->bus.topic_input, NULL,
				data, len, NULL, NULL, err);
}

uint64_t onex_bench_host_now_ns(const struct onex_bench_host *bh)
{
	return onex_sim_scheduler_now_ns(bh->sched);
}

void onex_bench_host_run_until(struct onex_bench_host *bh, uint64_t t_ns)
{
	onex_sim_scheduler_run_until(bh->sched, t_ns);
}

int onex_bench_host_run_next(struct onex_bench_host *bh)
{
	uint64_t due;
	if (onex_sim_scheduler_next_due_ns(bh->sched, &due) < 0)
		return -1;
	onex_sim_scheduler_run_until(bh->sched, due);
	return 0;
}

size_t onex_bench_host_trace_bytes(const struct onex_bench_host *bh)
{
	return bh->world ? bh->world->trace_len : 0;
}

void onex_bench_host_close(struct onex_bench_host *bh)
{
	if (bh->host && bh->sched) {
		onex_host_shutdown(bh->host);
		/* The grace period is 1 s here (opt.shutdown_grace_s): bounded. */
		onex_sim_scheduler_run_until(bh->sched, onex_sim_scheduler_now_ns(bh->sched) +
								2000 * MS_NS);
	}
	onex_host_free(bh->host);
	onex_runtime_contract_free(bh->contract);
	if (bh->world) {
		onex_sim_world_free(bh->world);
	} else {
		onex_ids_free(bh->ids);
		onex_sim_scheduler_free(bh->sched);
	}
	memset(bh, 0, sizeof(*bh));
}
