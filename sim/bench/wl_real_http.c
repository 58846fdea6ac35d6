/*
 * wl_real_http.c - real-http: `http.get` through the libcurl unit
 * (core/real/curl_http.h) on the epoll loop, one request at a time, against
 * the loopback test server (tests/support/http_server.c, included here:
 * the bench does not link tests/support), next to a bare libcurl loop (one
 * easy handle, one reused connection, the same URL) in the same repetition.
 */
#include <curl/curl.h>
#include <string.h>

#include "../../tests/support/http_server.c"

#include "bench.h"
#include "envelope.h"
#include "handler.h"
#include "loop.h"
#include "real/curl_http.h"
#include "system_units.h"
#include "wl_real.h"

struct http_state {
	struct onex_loop *loop;
	struct onex_clock *clock;
	struct onex_handler *h;
	int done, ok, timed_out;
	long status;
};

static void http_on_done(void *arg, struct onex_handler_result *r)
{
	struct http_state *s = arg;
	s->done = 1;
	s->ok = r->ok;
	s->status = r->ok ? (long)json_integer_value(json_object_get(r->payload, "status_code")) : 0;
	json_decref(r->payload);
	json_decref(r->error_extra);
	onex_handler_finished(s->h);
	onex_loop_stop(s->loop);
}

static void http_on_guard(void *arg)
{
	struct http_state *s = arg;
	s->timed_out = 1;
	onex_loop_stop(s->loop);
}

/* One http.get through the handler; 0, or -1. */
static int http_one(struct http_state *s, const struct onex_envelope *req)
{
	struct onex_error err;
	uint64_t guard;
	onex_error_clear(&err);
	s->done = 0;
	if (onex_handler_execute(s->h, req, http_on_done, s, &err) < 0)
		return -1;
	if (onex_loop_timer_add(s->loop, 10000ull * 1000000ull, http_on_guard, s, &guard, NULL) < 0)
		return -1;
	onex_loop_run(s->loop);
	onex_loop_timer_cancel(s->loop, guard);
	return s->done && s->ok && s->status == 200 ? 0 : -1;
}

static size_t sink(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	*(size_t *)arg += size * n;
	return size * n;
}

int onex_bench_real_http_run(struct onex_bench_ctx *ctx, struct onex_bench_result *res,
			     unsigned rep)
{
	(void)rep;
	unsigned long n = ctx->quick ? 500ul : 5000ul;
	struct http_server srv;
	struct http_state s;
	struct onex_error err;
	struct onex_hist h;
	struct onex_envelope req;
	char url[256];
	int rc = -1;
	memset(&req, 0, sizeof(req));
	memset(&s, 0, sizeof(s));
	memset(&srv, 0, sizeof(srv));
	onex_error_clear(&err);
	if (http_server_start(&srv) < 0) {
		snprintf(res->note, sizeof(res->note), "the loopback HTTP test server did not start");
		return -1;
	}
	http_server_url(&srv, "/text", url, sizeof(url));
	if (onex_hist_init(&h, ONEX_BENCH_HIST_LOWEST, ONEX_BENCH_HIST_HIGHEST,
			   ONEX_BENCH_HIST_SIG_FIGS) < 0) {
		http_server_stop(&srv);
		return -1;
	}
	s.loop = onex_epoll_loop_new(&err);
	s.clock = onex_system_clock_new();
	if (!s.loop || !s.clock) {
		snprintf(res->note, sizeof(res->note), "epoll loop: %.400s", err.text);
		goto out;
	}
	struct onex_handler_env env = { s.loop, s.clock, NULL, NULL };
	s.h = onex_curl_http_unit.create(&env, &err);
	if (!s.h || onex_handler_initialize(s.h, NULL, &err) < 0) {
		snprintf(res->note, sizeof(res->note), "libcurl handler: %.400s", err.text);
		goto out;
	}
	/* The request the host would hand the handler. */
	req.json = json_pack("{s:s,s:{s:s}}", "operation", "http.get", "payload", "url", url);
	req.operation = "http.get";
	req.payload = json_object_get(req.json, "payload");
	req.correlation_id = "11111111-2222-4333-8444-555555555555";
	req.handler_type = ONEX_HANDLER_HTTP;

	onex_bench_rss_reset(); /* peak RSS: of this process while the unit runs */
	for (unsigned long i = 0; i < n / 10 + 10; i++)
		if (http_one(&s, &req) < 0)
			goto lost;
	struct onex_bench_batches b;
	onex_bench_batches_start(&b, n);
	uint64_t cpu0 = onex_bench_cpu_ns(), t0 = onex_bench_wall_ns(), prev = t0;
	for (unsigned long i = 0; i < n; i++) {
		if (http_one(&s, &req) < 0)
			goto lost;
		uint64_t now = onex_bench_wall_ns();
		onex_hist_record(&h, (int64_t)(now - prev));
		onex_bench_batches_tick(&b, now);
		prev = now;
	}
	double cpu = (double)(onex_bench_cpu_ns() - cpu0);
	long hwm = onex_bench_vmhwm_kb();
	double unit_rate = onex_bench_batches_rate(&b);
	double unit_total = (double)n / ((double)(prev - t0) / 1e9);
	json_decref(req.json);
	req.json = NULL;

	/* The reference: a bare libcurl easy handle, same URL, one reused connection. */
	CURL *e = curl_easy_init();
	size_t got = 0;
	if (!e) {
		snprintf(res->note, sizeof(res->note), "curl_easy_init failed");
		goto out;
	}
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &got);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	unsigned conns0 = 0;
	struct onex_bench_batches rb;
	uint64_t rt0 = 0, rprev = 0;
	for (unsigned long i = 0; i < n / 10 + 10 + n; i++) {
		if (i == n / 10 + 10) {
			conns0 = http_server_connections(&srv);
			onex_bench_batches_start(&rb, n);
			rt0 = rprev = onex_bench_wall_ns();
		}
		long code = 0;
		if (curl_easy_perform(e) != CURLE_OK ||
		    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK || code != 200) {
			snprintf(res->note, sizeof(res->note), "bare libcurl GET %s failed", url);
			curl_easy_cleanup(e);
			goto out;
		}
		if (rt0) {
			rprev = onex_bench_wall_ns();
			onex_bench_batches_tick(&rb, rprev);
		}
	}
	unsigned conns = http_server_connections(&srv) - conns0;
	curl_easy_cleanup(e);
	double ref_rate = onex_bench_batches_rate(&rb);
	double ref_total = (double)n / ((double)(rprev - rt0) / 1e9);

	onex_bench_add(res, "throughput", "req/s", ONEX_BENCH_HIGHER, ONEX_BENCH_SAMPLED, unit_rate);
	onex_bench_add(res, "throughput_total", "req/s", ONEX_BENCH_HIGHER, ONEX_BENCH_INFO,
		       unit_total);
	onex_bench_add(res, "cpu_per_req", "ns", ONEX_BENCH_LOWER, ONEX_BENCH_SAMPLED,
		       cpu / (double)n);
	onex_bench_add_latency(res, "latency", &h, ONEX_BENCH_SAMPLED,
			       "wall-clock http.get through the libcurl unit, execute to done");
	onex_bench_add(res, "ref_throughput", "req/s", ONEX_BENCH_HIGHER, ONEX_BENCH_SAMPLED,
		       ref_rate);
	onex_bench_add(res, "ref_throughput_total", "req/s", ONEX_BENCH_HIGHER, ONEX_BENCH_INFO,
		       ref_total);
	onex_bench_add(res, "ref_connections", "", ONEX_BENCH_NEITHER, ONEX_BENCH_INFO,
		       (double)conns);
	onex_bench_add(res, "vs_reference", "x", ONEX_BENCH_HIGHER, ONEX_BENCH_SAMPLED,
		       unit_rate / ref_rate);
	onex_bench_add(res, "peak_rss", "kB", ONEX_BENCH_LOWER, ONEX_BENCH_INFO, (double)hwm);
	onex_bench_add(res, "requests", "", ONEX_BENCH_NEITHER, ONEX_BENCH_INFO, (double)n);
	onex_bench_real_note(res,
				"GET /text on the loopback test server, 1 in flight; reference: "
				"curl_easy_perform on one easy handle (one connection)");
	rc = 0;
	goto out;
lost:
	snprintf(res->note, sizeof(res->note), "http.get %s through the libcurl unit failed", url);
out:
	if (req.json)
		json_decref(req.json);
	if (s.h) {
		onex_handler_shutdown(s.h);
		onex_handler_free(s.h);
	}
	onex_loop_free(s.loop);
	onex_clock_free(s.clock);
	onex_hist_release(&h);
	http_server_stop(&srv);
	return rc;
}
