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
 * broker (host: the bus's ack of the request, which the host sends when
 * the reply's delivery report came; bare loop: delivery reports). The
 * host's bus is the Kafka bus unit behind a thin tap (k_tap_*) that
 * stamps each message when it is handed to the host and again when the
 * host acks it: the per-envelope latency "taken -> reply acknowledged";
 * the bare loop's is "returned by rd_kafka_consumer_poll -> delivery
 * report of its reply". The mock
 * cluster, both consumer groups (the first join costs ~3 s on the mock)
 * and the host persist from the first repetition to the last; joining and
 * a warm-up batch are not timed. Consumers use fetch.wait.max.ms 5 (the
 * mock answers a waiting fetch only when the wait expires).
 *
 * The bare loop does what the spec requires of the unit's data path:
 * offsets are committed only after the reply's delivery report
 * (enable.auto.commit false, asynchronous commits batched every
 * ONEX_KAFKA_COMMIT_INTERVAL_MS like the unit's), at most 100 messages
 * taken and not acknowledged. What it does not do (docs/BENCHMARKS.md):
 * envelope validation and the reply envelope's new id and timestamp,
 * correlation-id checks, routing and the dead-letter path. Both keep
 * librdkafka's prefetch and stop taking messages at their bound: the
 * unit at pause_consumption_threshold (80), the bare loop at 100
 * outstanding (a slightly looser bound than the unit's, so the reference
 * is, if anything, faster).
 */
#include <librdkafka/rdkafka.h>
#include <string.h>
#include <time.h>

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
#define K_RING 4096u /* > K_INFLIGHT: taken-at stamps by offset */

/* ---- the tap: the Kafka bus unit, with the host's deliveries and acks stamped ---- */

struct k_tap {
	struct onex_bus base;
	struct onex_bus *inner;
	onex_bus_deliver_cb deliver;
	onex_bus_closed_cb closed;
	void *deliver_arg;
	uint64_t taken_at[K_RING]; /* by offset % K_RING (tokens carry the offset) */
	uint64_t acks;
	struct onex_hist *hist; /* taken -> acked, this repetition (NULL: not recorded) */
};

static struct k_tap *k_tap_of(struct onex_bus *bus)
{
	return (struct k_tap *)bus;
}

static void k_tap_deliver(void *arg, const struct onex_bus_message *msg)
{
	struct k_tap *t = arg;
	t->taken_at[(msg->token & 0xffffffffffffull) % K_RING] = onex_bench_wall_ns();
	t->deliver(t->deliver_arg, msg);
}

static void k_tap_closed(void *arg)
{
	struct k_tap *t = arg;
	t->closed(t->deliver_arg);
}

static int k_tap_subscribe(struct onex_bus *bus, const char *topic, onex_bus_deliver_cb deliver,
			   onex_bus_closed_cb closed, void *arg, struct onex_error *err)
{
	struct k_tap *t = k_tap_of(bus);
	t->deliver = deliver;
	t->closed = closed;
	t->deliver_arg = arg;
	return onex_bus_subscribe(t->inner, topic, k_tap_deliver, closed ? k_tap_closed : NULL, t,
				  err);
}

static int k_tap_start(struct onex_bus *bus, struct onex_error *err)
{
	return onex_bus_start_consuming(k_tap_of(bus)->inner, err);
}

static int k_tap_publish(struct onex_bus *bus, const char *topic, const char *key,
			 const char *data, size_t len, onex_bus_published_cb done, void *done_arg,
			 struct onex_error *err)
{
	return onex_bus_publish(k_tap_of(bus)->inner, topic, key, data, len, done, done_arg, err);
}

static void k_tap_ack(struct onex_bus *bus, uint64_t token)
{
	struct k_tap *t = k_tap_of(bus);
	uint64_t taken = t->taken_at[(token & 0xffffffffffffull) % K_RING];
	if (t->hist && taken)
		onex_hist_record(t->hist, (int64_t)(onex_bench_wall_ns() - taken));
	t->acks++;
	t->inner->ops->ack(t->inner, token);
}

static void k_tap_release(struct onex_bus *bus, uint64_t token)
{
	struct k_tap *t = k_tap_of(bus);
	if (t->inner->ops->release)
		t->inner->ops->release(t->inner, token);
}

static void k_tap_pause(struct onex_bus *bus)
{
	struct k_tap *t = k_tap_of(bus);
	t->inner->ops->pause(t->inner);
}

static void k_tap_resume(struct onex_bus *bus)
{
	struct k_tap *t = k_tap_of(bus);
	t->inner->ops->resume(t->inner);
}

static json_t *k_tap_health(struct onex_bus *bus)
{
	struct k_tap *t = k_tap_of(bus);
	return t->inner->ops->health_check(t->inner);
}

static json_t *k_tap_describe(struct onex_bus *bus)
{
	struct k_tap *t = k_tap_of(bus);
	return t->inner->ops->describe(t->inner);
}

static void k_tap_shutdown(struct onex_bus *bus)
{
	struct k_tap *t = k_tap_of(bus);
	t->inner->ops->shutdown(t->inner);
}

static void k_tap_free(struct onex_bus *bus)
{
	struct k_tap *t = k_tap_of(bus);
	t->inner->ops->free(t->inner);
	free(t);
}

static const struct onex_bus_ops k_tap_ops = {
	"kafka",      k_tap_subscribe, k_tap_start,    k_tap_publish,  k_tap_ack,
	k_tap_release, k_tap_pause,    k_tap_resume,   k_tap_health,   k_tap_describe,
	k_tap_shutdown, k_tap_free,
};

static struct onex_bus *k_tap_create(const struct onex_bus_env *env,
				     const struct onex_contract_bus *config, struct onex_error *err)
{
	struct k_tap *t = calloc(1, sizeof(*t));
	if (!t) {
		onex_error_set(err, ONEX_ERR_EVENT_BUS_ERROR, NULL, 0, 0, "out of memory");
		return NULL;
	}
	t->inner = onex_kafka_bus_unit.create(env, config, err);
	if (!t->inner) {
		free(t);
		return NULL;
	}
	t->base.ops = &k_tap_ops;
	return &t->base;
}

static const struct onex_bus_unit k_tap_unit = { "kafka", k_tap_create };

static const struct onex_handler_unit *const k_handlers[] = { &onex_local_handler_unit };
static const struct onex_bus_unit *const k_buses[] = { &k_tap_unit };
static const struct onex_wiring k_wiring = { "onex-bench", k_handlers, 1, k_buses, 1 };

static struct {
	int up, failed;
	char why[600];
	struct kafka_mock mock;
	rd_kafka_t *prod;		/* writes the requests */
	rd_kafka_t *bare_c, *bare_p;	/* the reference loop */
	unsigned long bare_outstanding; /* produced, delivery report not yet in */
	unsigned long bare_failed;
	int64_t bare_commit_next, bare_commit_sent; /* offset after the last reply delivered */
	uint64_t bare_commit_at;		    /* next commit, wall ns */
	uint64_t bare_taken_at[K_RING];		    /* by input offset % K_RING */
	struct onex_hist *bare_hist;		    /* taken -> delivery report */
	struct onex_bus *tap;			    /* the host's bus: the tap */
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
	K.loop = NULL, K.log = NULL, K.ids = NULL, K.clock = NULL, K.tap = NULL;
	K.bare_commit_next = K.bare_commit_sent = 0;
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

/* A reply's delivery report: the request it answers may be committed (its offset + 1 rides along). */
static void k_bare_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	int64_t next = (int64_t)(intptr_t)m->_private;
	(void)rk, (void)opaque;
	K.bare_outstanding--;
	if (m->err) {
		K.bare_failed++;
		return;
	}
	uint64_t taken = K.bare_taken_at[(uint64_t)(next - 1) % K_RING];
	if (K.bare_hist && taken)
		onex_hist_record(K.bare_hist, (int64_t)(onex_bench_wall_ns() - taken));
	if (next > K.bare_commit_next) /* one partition, idempotent producer: in order */
		K.bare_commit_next = next;
}

/* Commit (async) what has been answered, at most every ONEX_KAFKA_COMMIT_INTERVAL_MS, as the unit does. */
static void k_bare_commit(uint64_t now)
{
	if (K.bare_commit_next <= K.bare_commit_sent || now < K.bare_commit_at)
		return;
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(l, K_BARE_IN, 0)->offset = K.bare_commit_next;
	if (rd_kafka_commit(K.bare_c, l, 1) == RD_KAFKA_RESP_ERR_NO_ERROR)
		K.bare_commit_sent = K.bare_commit_next;
	rd_kafka_topic_partition_list_destroy(l);
	K.bare_commit_at = now + (uint64_t)ONEX_KAFKA_COMMIT_INTERVAL_MS * K_MS;
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
					       "enable.auto.commit", "false",
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
	K.tap = onex_host_bus(K.host);
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

/* CPU time of this thread (the loop's; librdkafka's threads not included). */
static uint64_t k_thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
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
	if (k_tap_of(K.tap)->acks >= w->target) {
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

/* Produce n requests and run the host until it has acked them (replies delivered). Wall ns, or 0. */
static uint64_t k_host_batch(unsigned long n, int timeout_ms)
{
	struct k_wait w = { k_tap_of(K.tap)->acks + n, 0, 0 };
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
				RD_KAFKA_V_OPAQUE((void *)(intptr_t)(m->offset + 1)),
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

/*
 * Produce n requests and run the bare loop until all n replies are
 * delivered; it stops polling at K_INFLIGHT outstanding. Wall ns, or 0.
 */
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
		k_bare_commit(onex_bench_wall_ns());
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
		K.bare_taken_at[(uint64_t)m->offset % K_RING] = onex_bench_wall_ns();
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
	struct onex_hist hh, bh;
	if (onex_hist_init(&hh, ONEX_BENCH_HIST_LOWEST, ONEX_BENCH_HIST_HIGHEST,
			   ONEX_BENCH_HIST_SIG_FIGS) < 0)
		return -1;
	if (onex_hist_init(&bh, ONEX_BENCH_HIST_LOWEST, ONEX_BENCH_HIST_HIGHEST,
			   ONEX_BENCH_HIST_SIG_FIGS) < 0) {
		onex_hist_release(&hh);
		return -1;
	}
	onex_bench_rss_reset();
	k_tap_of(K.tap)->hist = &hh;
	uint64_t cpu0 = onex_bench_cpu_ns(), th0 = k_thread_cpu_ns();
	uint64_t host_ns = k_host_batch(n, 60000);
	uint64_t host_cpu = onex_bench_cpu_ns() - cpu0, host_thread = k_thread_cpu_ns() - th0;
	k_tap_of(K.tap)->hist = NULL;
	long hwm = onex_bench_vmhwm_kb(); /* of this process while the host ran */
	uint64_t bare_ns = 0, bare_cpu = 0, bare_thread = 0;
	if (host_ns) {
		K.bare_hist = &bh;
		cpu0 = onex_bench_cpu_ns(), th0 = k_thread_cpu_ns();
		bare_ns = k_bare_batch(n, 60000);
		bare_cpu = onex_bench_cpu_ns() - cpu0, bare_thread = k_thread_cpu_ns() - th0;
		K.bare_hist = NULL;
	}
	if (!host_ns || !bare_ns) {
		if (!host_ns)
			snprintf(res->note, sizeof(res->note),
				 "the host on the Kafka bus did not answer %lu requests within 60 s", n);
		else
			snprintf(res->note, sizeof(res->note),
				 "the bare librdkafka loop did not answer %lu requests within 60 s",
				 n);
		onex_hist_release(&hh);
		onex_hist_release(&bh);
		k_teardown();
		return -1;
	}
	double host_rate = (double)n / ((double)host_ns / 1e9);
	double bare_rate = (double)n / ((double)bare_ns / 1e9);
	onex_bench_add(res, "throughput_total", "env/s", ONEX_BENCH_HIGHER, ONEX_BENCH_SAMPLED,
		       host_rate);
	onex_bench_add(res, "cpu_per_env", "ns", ONEX_BENCH_LOWER, ONEX_BENCH_SAMPLED,
		       (double)host_cpu / (double)n);
	onex_bench_add(res, "loop_busy", "%", ONEX_BENCH_NEITHER, ONEX_BENCH_INFO,
		       100.0 * (double)host_thread / (double)host_ns);
	onex_bench_add_latency(res, "latency", &hh, ONEX_BENCH_SAMPLED,
			       "wall-clock, request handed to the host -> its reply acknowledged by "
			       "the broker (the host's ack)");
	onex_bench_add(res, "ref_throughput_total", "env/s", ONEX_BENCH_HIGHER, ONEX_BENCH_SAMPLED,
		       bare_rate);
	onex_bench_add(res, "ref_cpu_per_env", "ns", ONEX_BENCH_LOWER, ONEX_BENCH_SAMPLED,
		       (double)bare_cpu / (double)n);
	onex_bench_add(res, "ref_loop_busy", "%", ONEX_BENCH_NEITHER, ONEX_BENCH_INFO,
		       100.0 * (double)bare_thread / (double)bare_ns);
	onex_bench_add(res, "ref_latency_p50", "us", ONEX_BENCH_LOWER, ONEX_BENCH_INFO,
		       (double)onex_hist_value_at_percentile(&bh, 50.0) / 1e3);
	onex_bench_add(res, "ref_latency_p99", "us", ONEX_BENCH_LOWER, ONEX_BENCH_INFO,
		       (double)onex_hist_value_at_percentile(&bh, 99.0) / 1e3);
	onex_bench_add(res, "vs_reference", "x", ONEX_BENCH_HIGHER, ONEX_BENCH_SAMPLED,
		       host_rate / bare_rate);
	onex_bench_add_peak_rss(res, hwm);
	onex_bench_add(res, "envelopes", "", ONEX_BENCH_NEITHER, ONEX_BENCH_INFO, (double)n);
	onex_hist_release(&hh);
	onex_hist_release(&bh);
	onex_bench_real_note(res,
			     "N requests produced, timed until the N-th reply is acknowledged "
			     "(host: its ack after the delivery report); the host takes at most "
			     "80 (pause_consumption_threshold), the bare loop 100; commits after "
			     "the delivery reports on both sides; mock cluster, fetch.wait.max.ms "
			     "5; cpu includes this process's producer of the requests; the bare "
			     "loop does not validate envelopes (docs/BENCHMARKS.md)");
	if (last)
		k_teardown();
	return 0;
}
