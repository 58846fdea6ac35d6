/*
 * fake_http.h - the simulation's http handler unit (spec §7): answers
 * requests from stubs, after their latency in virtual time.
 *
 * A stub (JSON object):
 *   { "method": "GET", "url": "http://users/api/1",
 *     "body": <optional; JSON compared structurally, or a string>,
 *     "response": { "status": 200, "headers": {..}, "body": <any> },
 *     "latency_ms": 30,
 *     "error": <optional: "timeout" | "connect"> }
 * The first stub whose method, url (exact) and body (when the stub has
 * one) match answers. A JSON body matches a request body given as a string
 * holding the same JSON, and the other way round. Response header names
 * are lower-cased; a string response body is parsed as JSON when the
 * content-type says JSON and it parses (REFERENCE_BEHAVIOUR "HTTP").
 *
 * Outcomes, all delivered through a loop timer, never from execute():
 *   stub answered       success {status_code, headers, body} after latency_ms
 *                       (non-2xx too: a successful call carrying the status)
 *   latency >= timeout  TIMEOUT "HTTP GET request timed out after 30.0s",
 *   or error "timeout"  after the timeout
 *   error "connect"     HANDLER_EXECUTION_ERROR "Failed to connect to <url>"
 *   no stub matches     HANDLER_EXECUTION_ERROR "no stub matches GET <url>",
 *                       also recorded as a scenario failure (see
 *                       onex_fake_http_unmatched())
 *   no payload.url      ENVELOPE_VALIDATION_ERROR "payload.url is required"
 *   unknown operation   INVALID_OPERATION (onex_handler_invalid_operation)
 *
 * Handler config (initialize): { "config": { "timeout_ms": 30000,
 * "stubs": [ ... ] } }, both optional. Bounds: ONEX_FAKE_HTTP_STUBS_MAX
 * stubs; the closest-stub search compares at most
 * ONEX_FAKE_HTTP_URL_COMPARE_BYTES_MAX bytes of each URL.
 */
#ifndef ONEX_SIM_FAKE_HTTP_H
#define ONEX_SIM_FAKE_HTTP_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "handler.h"
#include "limits.h"


enum onex_fake_http_fault {
	ONEX_FAKE_HTTP_FAULT_NONE,
	ONEX_FAKE_HTTP_FAULT_ERROR,   /* every call: "Failed to connect to <url>" */
	ONEX_FAKE_HTTP_FAULT_TIMEOUT, /* every call times out */
};

/* type http, unit name "sim-http". */
extern const struct onex_handler_unit onex_fake_http_unit;

/*
 * Append stubs from a JSON array (validated first: on error nothing is
 * added). Errors: HANDLER_CONFIGURATION_ERROR naming the stub and field
 * ("stubs[2].url is required"), or the bound. Stubs are copied.
 */
int onex_fake_http_add_stubs(struct onex_handler *h, const json_t *stubs,
			     struct onex_error *err);

/*
 * Requests no stub matched: the count, and in *first (may be NULL; borrowed,
 * NULL when the count is 0) a description of the first one naming the
 * closest stub by URL edit distance, e.g. "no stub matches GET http://a/x;
 * closest stub: GET http://a/y (edit distance 1)".
 */
size_t onex_fake_http_unmatched(const struct onex_handler *h, const char **first);

/*
 * Fault hook: from now on every call fails as `fault` says (NONE: normal),
 * and every answer comes extra_latency_ns later (a timeout still fires at
 * the timeout).
 */
void onex_fake_http_set_fault(struct onex_handler *h, enum onex_fake_http_fault fault,
			      uint64_t extra_latency_ns);

/* Requests received (each execute() call). */
uint64_t onex_fake_http_request_count(const struct onex_handler *h);

#endif
