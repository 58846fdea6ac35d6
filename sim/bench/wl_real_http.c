/*
 * wl_real_http.c - real-http: `http.get` through the libcurl unit
 * (core/real/curl_http.h) on the epoll loop, one request at a time, against
 * the loopback test server (tests/support/http_server.c, included here:
 * the bench does not link tests/support), next to a bare libcurl loop (one
 * easy handle, one reused connection, the same URL), alternated with it
 * in rounds within the repetition. The process (and so the server it
 * forks) is pinned to one CPU while it runs: see onex_bench_pin_one_cpu()
 * in wl_real.h.
 */
#include <curl/curl.h>
#include <string.h>

#include "../../tests/support/http_server.c"

#include "bench.h"
#include "stats.h"
#include "envelope.h"
#include "handler.h"
#include "loop.h"
#include "real/curl_http.h"
#include "system_units.h"
#include "wl_real.h"

#define HTTP_ROUNDS 5u /* unit, bare, unit, bare, ... (3 with --quick) */

struct http_unit {
	struct onex_bench_call call;
	struct onex_envelope req; /* the request the host would hand the handler */
};

/* One http.get through the handler; 0 when it answered 200, -1 otherwise. */
static int http_one(void *arg)
{
	struct http_unit *u = arg;
	json_t *payload = onex_bench_call_once(&u->call, &u->req);
	long status = (long)json_integer_value(json_object_get(payload, "status_code"));
	json_decref(payload);
	return status == 200 ? 0 : -1;
}

static size_t sink(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	*(size_t *)arg += size * n;
	return size * n;
}

/* One GET on the bare easy handle; 0, or -1. */
static int bare_one(CURL *e)
{
	long code = 0;
	if (curl_easy_perform(e) != CURLE_OK ||
	    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK || code != 200)
		return -1;
	return 0;
}

int onex_bench_real_http_run(struct onex_bench_ctx *ctx, struct onex_bench_result *res,
			     unsigned rep)
{
	(void)rep;
	unsigned long n = ctx->quick ? 1500ul : 5000ul;
	struct http_server srv;
	struct http_unit u;
	struct onex_clock *clock = NULL;
	struct onex_error err;
	struct onex_hist h;
	char url[256];
	int rc = -1;
	size_t got = 0;
	CURL *e = NULL; /* the reference loop's easy handle */
	memset(&u, 0, sizeof(u));
	memset(&srv, 0, sizeof(srv));
	onex_error_clear(&err);
	struct onex_bench_pin pin;
	int pinned = onex_bench_pin_one_cpu(&pin, NULL, 0) == 0; /* the servers fork from here */
	if (http_server_start(&srv) < 0) {
		snprintf(res->note, sizeof(res->note), "the loopback HTTP test server did not start");
		onex_bench_unpin(&pin);
		return -1;
	}
	http_server_url(&srv, "/text", url, sizeof(url));
	if (onex_hist_init(&h, ONEX_BENCH_HIST_LOWEST, ONEX_BENCH_HIST_HIGHEST,
			   ONEX_BENCH_HIST_SIG_FIGS) < 0) {
		http_server_stop(&srv);
		onex_bench_unpin(&pin);
		return -1;
	}
	u.call.loop = onex_epoll_loop_new(&err);
	clock = onex_system_clock_new();
	if (!u.call.loop || !clock) {
		snprintf(res->note, sizeof(res->note), "epoll loop: %.400s", err.text);
		goto out;
	}
	struct onex_handler_env env = { u.call.loop, clock, NULL, NULL };
	u.call.h = onex_curl_http_unit.create(&env, &err);
	if (!u.call.h || onex_handler_initialize(u.call.h, NULL, &err) < 0) {
		snprintf(res->note, sizeof(res->note), "libcurl handler: %.400s", err.text);
		goto out;
	}
	/* The request the host would hand the handler. */
	u.req.json = json_pack("{s:s,s:{s:s}}", "operation", "http.get", "payload", "url", url);
	u.req.operation = "http.get";
	u.req.payload = json_object_get(u.req.json, "payload");
	u.req.correlation_id = "11111111-2222-4333-8444-555555555555";
	u.req.handler_type = ONEX_HANDLER_HTTP;

	/* The reference: a bare libcurl easy handle, same URL, one reused connection. */
	e = curl_easy_init();
	if (!e) {
		snprintf(res->note, sizeof(res->note), "curl_easy_init failed");
		goto out;
	}
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &got);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);

	onex_bench_rss_reset(); /* peak RSS: of this process while the unit runs */
	for (unsigned long i = 0; i < n / 10 + 10; i++) /* both: connect, warm up */
		if (http_one(&u) < 0 || bare_one(e) < 0)
			goto lost;
	/*
	 * Rounds: the unit runs n / rounds requests, then the bare loop as
	 * many, and again; each round's ratio compares two runs a fraction of
	 * a second apart (a loopback ping-pong moves by 3x with the
	 * neighbours' load on a shared machine), and the median decides.
	 */
	unsigned rounds = ctx->quick ? 3u : HTTP_ROUNDS;
	unsigned long per_round = n / rounds;
	double ratios[HTTP_ROUNDS], unit_ns = 0, ref_ns = 0, cpu = 0;
	long hwm = -1;
	unsigned conns = 0; /* opened by the bare loop after its warm-up */
	for (unsigned r = 0; r < rounds; r++) {
		double unit_round = (double)onex_bench_real_unit_round(http_one, &u, per_round, &h, &cpu);
		if (unit_round == 0)
			goto lost;
		if (r == 0)
			hwm = onex_bench_vmhwm_kb();
		unsigned conns0 = http_server_connections(&srv);
		uint64_t r0 = onex_bench_wall_ns();
		for (unsigned long i = 0; i < per_round; i++)
			if (bare_one(e) < 0) {
				snprintf(res->note, sizeof(res->note), "bare libcurl GET %s failed", url);
				goto out;
			}
		double ref_round = (double)(onex_bench_wall_ns() - r0);
		conns += http_server_connections(&srv) - conns0;
		unit_ns += unit_round;
		ref_ns += ref_round;
		ratios[r] = ref_round / unit_round; /* rate ratio: unit / reference */
	}
	double total = (double)(per_round * rounds);
	double unit_total = total / (unit_ns / 1e9), ref_total = total / (ref_ns / 1e9);
	double ratio = onex_stats_median(ratios, rounds);

	onex_bench_add(res, "throughput", "req/s", ONEX_BENCH_HIGHER, ONEX_BENCH_SAMPLED, unit_total);
	onex_bench_add(res, "cpu_per_req", "ns", ONEX_BENCH_LOWER, ONEX_BENCH_SAMPLED,
		       cpu / total);
	onex_bench_add_latency(res, "latency", &h, ONEX_BENCH_SAMPLED,
			       "wall-clock http.get through the libcurl unit, execute to done");
	onex_bench_add(res, "ref_throughput", "req/s", ONEX_BENCH_HIGHER, ONEX_BENCH_SAMPLED,
		       ref_total);
	onex_bench_add(res, "ref_connections", "", ONEX_BENCH_NEITHER, ONEX_BENCH_INFO,
		       (double)conns);
	onex_bench_add(res, "vs_reference", "x", ONEX_BENCH_HIGHER, ONEX_BENCH_SAMPLED, ratio);
	onex_bench_add(res, "vs_reference_spread", "x", ONEX_BENCH_NEITHER, ONEX_BENCH_INFO,
		       onex_stats_max(ratios, rounds) - onex_stats_min(ratios, rounds));
	onex_bench_add_peak_rss(res, hwm);
	onex_bench_add(res, "requests", "", ONEX_BENCH_NEITHER, ONEX_BENCH_INFO, (double)n);
	onex_bench_real_note(res,
				pinned ? "GET /text on the loopback test server, 1 in flight, after a "
					 "warm-up, client and server pinned to one CPU; reference: "
					 "curl_easy_perform on one easy handle (one reused "
					 "connection), alternated with the unit in rounds, median of "
					 "the rounds' ratios"
				       : "GET /text on the loopback test server, 1 in flight, after a "
					 "warm-up, NOT pinned (sched_setaffinity failed); reference: "
					 "curl_easy_perform on one easy handle (one reused "
					 "connection), alternated with the unit in rounds, median of "
					 "the rounds' ratios");
	rc = 0;
	goto out;
lost:
	snprintf(res->note, sizeof(res->note), "http.get %s through the libcurl unit failed", url);
out:
	if (e)
		curl_easy_cleanup(e);
	if (u.req.json)
		json_decref(u.req.json);
	if (u.call.h) {
		onex_handler_shutdown(u.call.h);
		onex_handler_free(u.call.h);
	}
	onex_loop_free(u.call.loop);
	onex_clock_free(clock);
	onex_hist_release(&h);
	http_server_stop(&srv);
	onex_bench_unpin(&pin);
	return rc;
}
