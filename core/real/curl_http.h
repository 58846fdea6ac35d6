/*
 * curl_http.h - the real http handler unit (spec §7) on libcurl's multi
 * interface, driven by the event-loop port.
 *
 * One CURLM per handler. libcurl tells the unit which sockets to wait for
 * (CURLMOPT_SOCKETFUNCTION -> onex_loop_fd_watch / onex_loop_fd_unwatch)
 * and when to call it back (CURLMOPT_TIMERFUNCTION -> onex_loop_timer_add /
 * onex_loop_timer_cancel); the unit answers each event with
 * curl_multi_socket_action(). Nothing blocks and no thread of ours exists.
 * (libcurl's own threaded DNS resolver may run getaddrinfo() on a helper
 * thread for host names; IP literals never use it.)
 * Connections are kept in the multi handle's cache and reused.
 *
 * Operations http.get, http.post, http.put, http.delete, http.patch.
 * Payload:
 *   url      string, required; http:// or https:// only
 *   headers  object of name -> string (numbers and booleans are sent as
 *            their JSON text); optional
 *   body     string: sent as-is (no content-type added);
 *            any other JSON (object, array, number, boolean): sent as
 *            compact JSON with "content-type: application/json" unless
 *            the headers name a content-type; null or absent: no body
 * Response payload (success, also for non-2xx statuses):
 *   { "status_code": 404, "headers": { lower-cased name: value, ... },
 *     "body": <JSON when the content-type contains "json" and the body
 *              parses, else the text (bytes that are not UTF-8 become
 *              U+FFFD); "" when empty> }
 *   Headers are those of the final response (after redirects); repeated
 *   names are joined with ", ".
 *
 * Errors (all delivered through the loop, never from inside execute()):
 *   TIMEOUT                    "HTTP GET request timed out after 30.0s"
 *   HANDLER_EXECUTION_ERROR    "Failed to connect to <url>" (refused,
 *                              unreachable, name not resolved)
 *   HANDLER_EXECUTION_ERROR    "HTTP GET request to <url> failed: <reason>"
 *                              (reset, TLS, bad reply, too many redirects,
 *                              response over the size limit, cancelled by
 *                              shutdown, ...); error.backend_code holds the
 *                              CURLcode
 *   ENVELOPE_VALIDATION_ERROR  "payload.url is required", "payload.headers
 *                              must be an object", bad URL or header, request
 *                              body over its limit
 *   INVALID_OPERATION          onex_handler_invalid_operation()
 * <url> is the payload's URL as given, with any user:password part
 * replaced by "***"; no message carries libcurl's error buffer.
 *
 * Handler config (initialize), the contract's handler entry:
 *   { "type": "http", "timeout_ms": 30000,
 *     "config": { "timeout_ms": 30000,            (wins over the entry's)
 *                 "request_body_bytes_max": 10485760,
 *                 "response_body_bytes_max": 52428800,
 *                 "connections_max": 16,          (cache size and the most
 *                                                  open at once)
 *                 "redirects_max": 20,
 *                 "inflight_max": 1024 } }
 * Every field is optional; an unknown field in "config" is a
 * HANDLER_CONFIGURATION_ERROR (contracts are strict, spec §3).
 *
 * Lifecycle: shutdown() cancels every transfer in flight; each one's done
 * is then called once, from the loop, with HANDLER_EXECUTION_ERROR. All
 * cached connections are closed. free() after shutdown drops completions
 * the loop never got to deliver (as every unit does: the host is gone).
 * A done callback may call execute() and shutdown(), never free().
 */
#ifndef ONEX_CURL_HTTP_H
#define ONEX_CURL_HTTP_H

#include "handler.h"
#include "limits.h"


/* type http, unit name "libcurl". */
extern const struct onex_handler_unit onex_curl_http_unit;

#endif
