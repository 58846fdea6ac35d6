/*
 * wl_real_kafka.c - real-kafka: echo envelopes consumed and answered the
 * way onex-host does it (the host on the epoll loop, the Kafka bus unit
 * core/real/kafka_bus.h, the local handler, local.echo), against
 * librdkafka's mock cluster in a child process
 * (tests/support/kafka_mock.c, included here); next to a bare librdkafka
 * loop on the same cluster in the same repetition: consume -> JSON parse
 * (jansson) -> build a reply -> produce, with the producer settings the
 * unit uses (acks=all, idempotent, linger.ms ONEX_KAFKA_LINGER_MS) and the
 * same bound on messages taken and not acknowledged (100, the unit's
 * max_inflight_envelopes default; the host's inflight_max is set to it).
 *
 * Each repetition produces N requests into the input topic (a producer of
 * this process) and times until the N-th reply is acknowledged by the
 * broker (host: responded_ok; bare loop: delivery reports). The mock
 * cluster, both consumer groups (the first join costs ~3 s on the mock)
 * and the host persist from the first repetition to the last; joining and
 * a warm-up batch are not timed. Consumers use fetch.wait.max.ms 5 (the
 * mock answers a waiting fetch only when the wait expires).
 *
 * The bare loop commits with librdkafka's auto-commit (lighter than the
 * unit's commit-after-ack); it does not validate envelopes.
 */
#include <librdkafka/rdkafka.h>
#include <string.h>

#include "../../tests/support/kafka_mock.c"

#include "bench.h"
#include "contract.h"
#include "host.h"
#include "limits.h"
#include "local_handler.h"
#include "log.h"
#include "loop.h"
#include "real/kafka_bus.h"
#include "system_units.h"
#include "wiring.h"
#include "wl_real.h"

#define K_MS 1000000ull
#define K_INFLIGHT 100
#define K_WARM 50u
#define K_IN "onex.bench.echo.cmd.v1"
#define K_OUT "onex.bench.echo.evt.v1"
#define K_BARE_IN "onex.bench.bare.cmd.v1"
#define K_BARE_OUT "onex.bench.bare.evt.v1"
#define K_FETCH_WAIT "5"

static const struct onex_handler_unit *const k_handlers[] = { &onex_local_handler_unit };
static const struct onex_bus_unit *const k_buses[] = { &onex_kafka_bus_unit };
static const struct onex_wiring k_wiring = { "onex-bench", k_handlers, 1, k_buses, 1 };

static struct {
	int up, failed;
	char why[600];
	struct kafka_mock mock;
	rd_kafka_t *prod;		/* writes the requests */
	rd_kafka_t *bare_c, *bare_p;	/* the reference loop */
	unsigned long bare_outstanding; /* produced, delivery report not yet in */
	unsigned long bare_failed;
	struct onex_loop *loop;
	struct onex_clock *clock;
	struct onex_ids *ids;
	struct onex_log *log;
	struct onex_runtime_contract *contract;
	struct onex_host *host;
	unsigned long seq; /* correlation ids handed out */
} K;

static void k_teardown(void)
{
	if (K.host) {
		onex_host_shutdown(K.host);
		if (!onex_host_is_stopped(K.host))
			onex_loop_run(K.loop);
		onex_host_free(K.host);
		K.host = NULL;
	}
	onex_runtime_contract_free(K.contract);
	K.contract = NULL;
	onex_loop_free(K.loop);
	onex_log_free(K.log);
	onex_ids_free(K.ids);
	onex_clock_free(K.clock);
	K.loop = NULL, K.log = NULL, K.ids = NULL, K.clock = NULL;
	if (K.bare_c) {
		rd_kafka_consumer_close(K.bare_c);
		rd_kafka_destroy(K.bare_c);
	}
	if (K.bare_p) {
		rd_kafka_flush(K.bare_p, 2000);
		rd_kafka_destroy(K.bare_p);
	}
	if (K.prod) {
		rd_kafka_flush(K.prod, 2000);
		rd_kafka_destroy(K.prod);
	}
	K.bare_c = K.bare_p = K.prod = NULL;
	if (K.mock.pid > 0)
		kafka_mock_stop(&K.mock);
	K.up = 0;
}

static void k_bare_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	(void)rk, (void)opaque;
	K.bare_outstanding--;
	if (m->err)
		K.bare_failed++;
}

static rd_kafka_t *k_client(rd_kafka_type_t type, const char *const *kv, char *why, size_t size)
{
	char errstr[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	if (rd_kafka_conf_set(conf, "bootstrap.servers", K.mock.bootstrap, errstr,
			      sizeof(errstr)) != RD_KAFKA_CONF_OK)
		goto bad;
	for (; kv && kv[0]; kv += 2)
		if (rd_kafka_conf_set(conf, kv[0], kv[1], errstr, sizeof(errstr)) !=
		    RD_KAFKA_CONF_OK)
			goto bad;
	rd_kafka_t *rk = rd_kafka_new(type, conf, errstr, sizeof(errstr));
	if (!rk)
		snprintf(why, size, "rd_kafka_new: %.400s", errstr);
	return rk;
bad:
	snprintf(why, size, "librdkafka config: %.400s", errstr);
	rd_kafka_conf_destroy(conf);
	return NULL;
}

static int k_setup(void)
{
	char text[4096], linger[16];
	struct onex_contract_options copt = { 0, 0 };
	struct onex_error err;
	if (K.up)
		return 0;
	if (K.failed)
		return -1;
	K.failed = 1;
	/* Fork the mock first: no librdkafka handle of ours exists yet. */
	if (kafka_mock_start(&K.mock, 1) < 0) {
		snprintf(K.why, sizeof(K.why), "mock cluster: %.400s", K.mock.last_error);
		return -1;
	}
	if (kafka_mock_create_topic(&K.mock, K_IN, 1) < 0 ||
	    kafka_mock_create_topic(&K.mock, K_OUT, 1) < 0 ||
	    kafka_mock_create_topic(&K.mock, K_IN ".dlq", 1) < 0 ||
	    kafka_mock_create_topic(&K.mock, K_BARE_IN, 1) < 0 ||
	    kafka_mock_create_topic(&K.mock, K_BARE_OUT, 1) < 0) {
		snprintf(K.why, sizeof(K.why), "mock topics: %.400s", K.mock.last_error);
		goto fail;
	}
	static const char *const prod_kv[] = { "linger.ms", "1", NULL };
	if (!(K.prod = k_client(RD_KAFKA_PRODUCER, prod_kv, K.why, sizeof(K.why))))
		goto fail;
	snprintf(linger, sizeof(linger), "%u", ONEX_KAFKA_LINGER_MS);
	const char *bare_p_kv[] = { "acks", "all", "enable.idempotence", "true", "linger.ms", linger,
				    NULL };
	rd_kafka_conf_t *pc = rd_kafka_conf_new();
	char errstr[512];
	rd_kafka_conf_set_dr_msg_cb(pc, k_bare_dr);
	rd_kafka_conf_set(pc, "bootstrap.servers", K.mock.bootstrap, errstr, sizeof(errstr));
	for (const char *const *kv = bare_p_kv; kv[0]; kv += 2)
		rd_kafka_conf_set(pc, kv[0], kv[1], errstr, sizeof(errstr));
	if (!(K.bare_p = rd_kafka_new(RD_KAFKA_PRODUCER, pc, errstr, sizeof(errstr)))) {
		snprintf(K.why, sizeof(K.why), "rd_kafka_new: %.400s", errstr);
		goto fail;
	}
	static const char *const cons_kv[] = { "group.id", "g-onex-bench-bare",
					       "auto.offset.reset", "earliest",
					       "fetch.wait.max.ms", K_FETCH_WAIT,
					       "session.timeout.ms", "6000",
					       "heartbeat.interval.ms", "2000",
					       NULL };
	if (!(K.bare_c = k_client(RD_KAFKA_CONSUMER, cons_kv, K.why, sizeof(K.why))))
		goto fail;
	rd_kafka_poll_set_consumer(K.bare_c);
	rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(tl, K_BARE_IN, RD_KAFKA_PARTITION_UA);
	rd_kafka_resp_err_t se = rd_kafka_subscribe(K.bare_c, tl);
	rd_kafka_topic_partition_list_destroy(tl);
	if (se) {
		snprintf(K.why, sizeof(K.why), "subscribe: %s", rd_kafka_err2str(se));
		goto fail;
	}

	onex_error_clear(&err);
	K.clock = onex_system_clock_new();
	K.ids = onex_uuid4_ids_new();
	K.log = onex_stderr_log_new(K.clock, ONEX_LOG_ERROR);
	K.loop = onex_epoll_loop_new(&err);
	if (!K.loop) {
		snprintf(K.why, sizeof(K.why), "epoll loop: %.400s", err.text);
		goto fail;
	}
	snprintf(text, sizeof(text),
		 "schema_version: \"1.0.0\"\n"
		 "runtime:\n"
		 "  name: \"bench_kafka\"\n"
		 "  version: \"1.0.0\"\n"
		 "  event_bus:\n"
		 "    kind: \"kafka\"\n"
		 "    config:\n"
		 "      bootstrap_servers: \"%s\"\n"
		 "      consumer_group: \"g-onex-bench-host\"\n"
		 "      topics: { input: \"" K_IN "\", output: \"" K_OUT "\" }\n"
		 "      fetch_wait_max_ms: " K_FETCH_WAIT "\n"
		 "      session_timeout_ms: 6000\n"
		 "      max_inflight_envelopes: %d\n"
		 "  handlers:\n"
		 "    - type: \"local\"\n",
		 K.mock.bootstrap, K_INFLIGHT);
	if (onex_runtime_contract_load_text(text, strlen(text), "bench_kafka.yaml", ".", 0, &copt,
					    &K.contract, &err) < 0) {
		snprintf(K.why, sizeof(K.why), "contract: %.400s", err.text);
		goto fail;
	}
	struct onex_host_env env = { K.loop, K.clock, K.ids, K.log, &k_wiring, NULL };
	struct onex_host_options opt = { .inflight_max = K_INFLIGHT, .shutdown_grace_s = 5 };
	if (onex_host_new(&env, K.contract, &opt, &K.host, &err) < 0 ||
	    onex_host_start(K.host, &err) < 0) {
		snprintf(K.why, sizeof(K.why), "host: %.400s", err.text);
		goto fail;
	}
	K.up = 1;
	K.failed = 0;
	return 0;
fail:
	k_teardown();
	K.failed = 1;
	return -1;
}

/* Produce n echo requests into `topic`; 0, or -1. */
static int k_produce(const char *topic, unsigned long n)
{
	char buf[256], id[40];
	for (unsigned long i = 0; i < n; i++) {
		unsigned long seq = ++K.seq;
		snprintf(id, sizeof(id), "00000000-0000-4000-8000-%012lu", seq);
		int len = snprintf(buf, sizeof(buf),
				   "{\"operation\":\"local.echo\",\"correlation_id\":\"%s\","
				   "\"payload\":{\"n\":%lu,\"text\":\"hello\"}}",
				   id, seq);
		rd_kafka_resp_err_t e;
		while ((e = rd_kafka_producev(K.prod, RD_KAFKA_V_TOPIC(topic),
					      RD_KAFKA_V_VALUE(buf, (size_t)len),
					      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
					      RD_KAFKA_V_END)) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
			rd_kafka_poll(K.prod, 1);
		if (e)
			return -1;
		rd_kafka_poll(K.prod, 0);
	}
	return 0;
}

/* ---- the host ------------------------------------------------------------------ */

struct k_wait {
	uint64_t target, deadline_ns;
	int met;
};

static void k_tick(void *arg)
{
	struct k_wait *w = arg;
	rd_kafka_poll(K.prod, 0);
	if (onex_host_stats(K.host)->responded_ok >= w->target) {
		w->met = 1;
		onex_loop_stop(K.loop);
		return;
	}
	if (onex_loop_now_ns(K.loop) >= w->deadline_ns) {
		onex_loop_stop(K.loop);
		return;
	}
	onex_loop_timer_add(K.loop, K_MS / 2, k_tick, w, NULL, NULL);
}

/* Produce n requests and run the host until it has answered them. Wall ns, or 0. */
static uint64_t k_host_batch(unsigned long n, int timeout_ms)
{
	struct k_wait w = { onex_host_stats(K.host)->responded_ok + n, 0, 0 };
	uint64_t t0 = onex_bench_wall_ns();
	if (k_produce(K_IN, n) < 0)
		return 0;
	w.deadline_ns = onex_loop_now_ns(K.loop) + (uint64_t)timeout_ms * K_MS;
	onex_loop_timer_add(K.loop, 0, k_tick, &w, NULL, NULL);
	onex_loop_run(K.loop);
	uint64_t t1 = onex_bench_wall_ns();
	return w.met ? t1 - t0 : 0;
}

/* ---- the bare loop -------------------------------------------------------------- */

/* Answer one consumed request: parse, build the reply, produce. 0, or -1. */
static int k_bare_answer(const rd_kafka_message_t *m)
{
	json_error_t jerr;
	json_t *req = json_loadb(m->payload, m->len, 0, &jerr);
	if (!json_is_object(req)) {
		json_decref(req);
		return -1;
	}
	const char *corr = json_string_value(json_object_get(req, "correlation_id"));
	json_t *reply = json_pack("{s:s?,s:s,s:b,s:O?}", "correlation_id", corr, "operation",
				  json_string_value(json_object_get(req, "operation")), "ok", 1,
				  "payload", json_object_get(req, "payload"));
	char *text = reply ? json_dumps(reply, JSON_COMPACT) : NULL;
	int rc = -1;
	if (text) {
		rd_kafka_resp_err_t e;
		while ((e = rd_kafka_producev(
				K.bare_p, RD_KAFKA_V_TOPIC(K_BARE_OUT),
				RD_KAFKA_V_VALUE(text, strlen(text)),
				RD_KAFKA_V_KEY(corr, corr ? strlen(corr) : 0),
				RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END)) ==
		       RD_KAFKA_RESP_ERR__QUEUE_FULL)
			rd_kafka_poll(K.bare_p, 1);
		if (!e) {
			K.bare_outstanding++;
			rc = 0;
		}
	}
	free(text);
	json_decref(reply);
	json_decref(req);
	return rc;
}

/* Produce n requests and run the bare loop until all n replies are delivered. Wall ns, or 0. */
static uint64_t k_bare_batch(unsigned long n, int timeout_ms)
{
	uint64_t t0 = onex_bench_wall_ns(), deadline = t0 + (uint64_t)timeout_ms * K_MS;
	unsigned long done = 0;
	if (k_produce(K_BARE_IN, n) < 0)
		return 0;
	while (done < n || K.bare_outstanding > 0) {
		if (onex_bench_wall_ns() > deadline || K.bare_failed)
			return 0;
		rd_kafka_poll(K.prod, 0);
		if (done == n || K.bare_outstanding >= K_INFLIGHT) {
			rd_kafka_poll(K.bare_p, 1);
			continue;
		}
		rd_kafka_message_t *m = rd_kafka_consumer_poll(K.bare_c, 1);
		rd_kafka_poll(K.bare_p, 0);
		if (!m)
			continue;
		if (m->err) {
			rd_kafka_message_destroy(m);
			continue;
		}
		int rc = k_bare_answer(m);
		rd_kafka_message_destroy(m);
		if (rc < 0)
			return 0;
		done++;
	}
	return onex_bench_wall_ns() - t0;
}

int onex_bench_real_kafka_run(struct onex_bench_ctx *ctx, struct onex_bench_result *res,
			      unsigned rep)
{
	unsigned long n = ctx->quick ? 2000ul : 20000ul;
	int last = rep + 1 >= ctx->repetitions;
	if (!K.up) {
		if (k_setup() < 0)
			return onex_bench_real_unavailable(res, "not available: %s", K.why);
		/* Untimed: both groups join (the bare one in the background meanwhile). */
		if (!k_host_batch(K_WARM, 30000)) {
			snprintf(res->note, sizeof(res->note),
				 "the host on the Kafka bus did not answer %u warm-up requests "
				 "within 30 s",
				 K_WARM);
			k_teardown();
			return -1;
		}
		if (!k_bare_batch(K_WARM, 30000)) {
			snprintf(res->note, sizeof(res->note),
				 "the bare librdkafka loop did not answer %u warm-up requests "
				 "within 30 s",
				 K_WARM);
			k_teardown();
			return -1;
		}
	}
	uint64_t cpu0 = onex_bench_cpu_ns();
	uint64_t host_ns = k_host_batch(n, 60000);
	uint64_t host_cpu = onex_bench_cpu_ns() - cpu0;
	if (!host_ns) {
		snprintf(res->note, sizeof(res->note),
			 "the host on the Kafka bus did not answer %lu requests within 60 s", n);
		k_teardown();
		return -1;
	}
	cpu0 = onex_bench_cpu_ns();
	uint64_t bare_ns = k_bare_batch(n, 60000);
	uint64_t bare_cpu = onex_bench_cpu_ns() - cpu0;
	if (!bare_ns) {
		snprintf(res->note, sizeof(res->note),
			 "the bare librdkafka loop did not answer %lu requests within 60 s", n);
		k_teardown();
		return -1;
	}
	double host_rate = (double)n / ((double)host_ns / 1e9);
	double bare_rate = (double)n / ((double)bare_ns / 1e9);
	onex_bench_add(res, "throughput_total", "env/s", ONEX_BENCH_HIGHER, ONEX_BENCH_SAMPLED,
		       host_rate);
	onex_bench_add(res, "cpu_per_env", "ns", ONEX_BENCH_LOWER, ONEX_BENCH_SAMPLED,
		       (double)host_cpu / (double)n);
	onex_bench_add(res, "ref_throughput_total", "env/s", ONEX_BENCH_HIGHER, ONEX_BENCH_SAMPLED,
		       bare_rate);
	onex_bench_add(res, "ref_cpu_per_env", "ns", ONEX_BENCH_LOWER, ONEX_BENCH_SAMPLED,
		       (double)bare_cpu / (double)n);
	onex_bench_add(res, "vs_reference", "x", ONEX_BENCH_HIGHER, ONEX_BENCH_SAMPLED,
		       host_rate / bare_rate);
	onex_bench_add(res, "envelopes", "", ONEX_BENCH_NEITHER, ONEX_BENCH_INFO, (double)n);
	onex_bench_real_verdict(res, "real-kafka >= 0.7x bare loop", 0.7,
				"N requests produced, timed until the N-th reply is acknowledged; "
				"100 in flight; mock cluster, fetch.wait.max.ms 5; cpu includes "
				"the mock-independent producer of the requests");
	if (last)
		k_teardown();
	return 0;
}
