/*
 * http_server.h - a small HTTP/1.1 server on 127.0.0.1 for tests of the
 * real http handler. It runs in a child process (forked by
 * http_server_start), listens on an ephemeral port and serves each
 * connection in its own grandchild, with keep-alive, so a slow route never
 * holds up another connection.
 *
 * Routes (any method unless noted):
 *   /status/<code>   that status; text body "status <code>" (none for 204/304)
 *   /json            200, application/json {"hello":"world","n":[1,2,3]},
 *                    plus the header "X-Test-Header: Yes"
 *   /text            200, text/plain "hello, world"
 *   /badjson         200, application/json body "{not json"
 *   /headers         200, text/plain, headers "X-Mixed-Case: Value" and
 *                    "X-Dup: a" + "X-Dup: b"
 *   /echo            200, application/json {"method", "path", "headers"
 *                    (lower-cased names), "body" (text, null when not
 *                    UTF-8), "body_bytes"}
 *   /slow/<ms>       waits <ms> milliseconds, then 200 "slow"
 *   /reset           closes the connection with a TCP RST, no response
 *   /big/<bytes>     200 with Content-Length <bytes> of 'x'
 *   /stream/<bytes>  200, chunked (no Content-Length), <bytes> of 'x'
 *   /redirect        302 to /json
 *   /redirect-loop   302 to itself
 *   anything else    404
 * A request may send "Expect: 100-continue" and "Connection: close".
 *
 * Connections accepted so far are counted in memory shared with the test
 * (http_server_connections), so connection reuse can be asserted.
 */
#ifndef ONEX_TEST_HTTP_SERVER_H
#define ONEX_TEST_HTTP_SERVER_H

#include <stddef.h>
#include <sys/types.h>

struct http_server {
	pid_t pid;	      /* the listening child; 0 when stopped */
	unsigned short port;
	unsigned *connections; /* shared memory, written by the child */
};

/* Fork the server and wait until it listens. 0, or -1 (nothing to stop). */
int http_server_start(struct http_server *srv);

/*
 * Stub mode, for the differential test (test_sim_vs_real.c): instead of the
 * routes above, answer from the onex-sim HTTP stubs (docs/SCENARIOS.md) in
 * the JSON array file `stubs_path`, read again for every request (so the
 * test may rewrite it between scenarios). The first stub whose method, URL
 * path (the origin is ignored) and, when given, body (structurally, or
 * byte for byte for a string) match answers with its status, its headers
 * as written, Content-Length (not for 204/304) and its body (a string as
 * is, anything else as compact JSON, null or absent: empty). No match:
 * 404 "no stub for METHOD PATH". latency_ms and error stubs are not served.
 */
int http_server_start_stubs(struct http_server *srv, const char *stubs_path);

/* Kill the server (SIGTERM, then waitpid); its connection children die with
 * it. Safe to call twice. */
void http_server_stop(struct http_server *srv);

/* TCP connections the server has accepted since it started. */
unsigned http_server_connections(const struct http_server *srv);

/* "http://127.0.0.1:<port><path>" into buf. Returns buf. */
const char *http_server_url(const struct http_server *srv, const char *path, char *buf,
			    size_t size);

/* A loopback port nothing listens on (bound, then closed), or 0. */
unsigned short http_server_closed_port(void);

#endif
