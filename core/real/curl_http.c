/*
 * curl_http.c - the http handler on libcurl's multi interface, driven by
 * the loop port (see curl_http.h).
 *
 * Shape: one CURLM per handler, one CURL easy handle per call, taken from
 * a small pool of idle handles that carry the handler's shared options
 * (each call's own options are undone when its handle is given back: no
 * option of one call reaches the next; connections live in the multi
 * handle's cache either way). libcurl's
 * socket callback becomes fd watches, its timer callback one loop timer;
 * both loop callbacks call curl_multi_socket_action() and then collect the
 * finished transfers. A call lives on exactly one of two lists:
 *   active     - its easy handle is in the multi handle;
 *   scheduled  - its result is built and a zero-delay loop timer delivers it
 *                (validation errors, cancellations at shutdown, calls whose
 *                socket the loop refused).
 * Finished transfers are delivered straight from the loop callback that
 * noticed them, after libcurl returned: done never runs inside execute()
 * nor inside a libcurl callback, so it may start new calls.
 */
#include "curl_http.h"

#include <ctype.h>
#include <stddef.h>
#include <stdarg.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "handler_type.h"
#include "limits.h"
#include "utf8.h"
#include "log.h"
#include "loop.h"
#include "version.h"

#define UNIT "libcurl"
#define NS_PER_MS UINT64_C(1000000)

struct curl_http;

struct call {
	struct curl_http *self;
	CURL *easy; /* NULL once out of the multi handle */
	onex_handler_done_cb done;
	void *done_arg;
	const char *method;	 /* static: "GET", ... */
	char *url_shown;	 /* the URL for messages, credentials replaced */
	char *body;		 /* request body (owned), NULL = none */
	size_t body_len;
	struct curl_slist *req_headers; /* ours, then one of the handler's tails */
	struct curl_slist *req_last;	/* our last node (NULL: none of ours) */
	char *resp; /* response body so far */
	size_t resp_len, resp_cap;
	json_t *resp_headers; /* of the latest response; lower-cased names */
	size_t header_bytes;
	int too_large, headers_too_large, out_of_memory, watch_failed;
	uint64_t timer_id; /* delivery timer, while scheduled */
	struct call *prev, *next;
	/* last: with its error texts it is most of the struct's 2.6 KiB, which
	 * call_new() does not zero (onex_error_clear suffices) */
	struct onex_handler_result result;
};

struct curl_http {
	struct onex_handler base; /* first: the handler port */
	CURLM *multi;
	int global_init; /* curl_global_init succeeded (reference counted by libcurl) */
	/* configuration */
	uint64_t timeout_ms;
	size_t request_body_max, response_body_max;
	long connections_max, redirects_max;
	unsigned inflight_max;
	/* the one loop timer libcurl asks for, and the abort sweep */
	uint64_t curl_timer_id, sweep_timer_id;
	int curl_timer_armed, sweep_timer_armed;
	/* descriptors we watch for libcurl, to unwatch whatever it forgets */
	int *fds;
	size_t nfds, fds_cap;
	/*
	 * The headers every request ends with, built once: tails of the
	 * per-call header list (the call's own nodes link to one of them).
	 * tail[ua][ae]: with our User-Agent (ua) / Accept-Encoding (ae) line,
	 * each left out when the payload names that header; "Expect:" last.
	 */
	struct curl_slist tail_nodes[4];
	struct curl_slist *tail[2][2];
	char accept_encoding[64];
	/* the last URL check_url() accepted (url_ok_len 0: none) */
	char url_ok[ONEX_CURL_HTTP_URL_REMEMBERED_BYTES];
	size_t url_ok_len;
	/* idle easy handles, in their idle state (easy_put), for the next calls */
	CURL *idle[ONEX_CURL_HTTP_EASY_IDLE_MAX];
	unsigned nidle;
	struct call *active, *scheduled;
	unsigned inflight;
	/* counters for health_check */
	uint64_t requests, succeeded, failed, timeouts, cancelled, connections_opened;
};

/* Operation -> method: the handler's dispatch table (as sim/fake_http.c). */
static const struct {
	const char *operation;
	const char *method;
} methods[] = {
	{ "http.get", "GET" },	   { "http.post", "POST" },   { "http.put", "PUT" },
	{ "http.delete", "DELETE" }, { "http.patch", "PATCH" },
};

/* CURLcode -> short reason for "HTTP GET request to <url> failed: <reason>". */
static const struct {
	CURLcode code;
	const char *reason;
} reasons[] = {
	{ CURLE_GOT_NOTHING, "the server closed the connection without a response" },
	{ CURLE_RECV_ERROR, "the connection was reset while receiving the response" },
	{ CURLE_SEND_ERROR, "the connection was reset while sending the request" },
	{ CURLE_PARTIAL_FILE, "the response ended before its declared length" },
	{ CURLE_WEIRD_SERVER_REPLY, "the reply is not valid HTTP" },
	{ CURLE_HTTP2, "HTTP/2 protocol error" },
	{ CURLE_HTTP2_STREAM, "HTTP/2 stream error" },
	{ CURLE_SSL_CONNECT_ERROR, "the TLS handshake failed" },
	{ CURLE_PEER_FAILED_VERIFICATION, "the server's TLS certificate was not accepted" },
	{ CURLE_SSL_CACERT_BADFILE, "the TLS CA certificates could not be loaded" },
	{ CURLE_SSL_CERTPROBLEM, "the TLS client certificate could not be used" },
	{ CURLE_BAD_CONTENT_ENCODING, "the response's content encoding is invalid" },
	{ CURLE_UNSUPPORTED_PROTOCOL, "a redirect left http/https" },
	{ CURLE_URL_MALFORMAT, "a malformed URL (redirect target)" },
	{ CURLE_OUT_OF_MEMORY, "out of memory" },
};

static const char *const config_keys[] = {
	"timeout_ms",	   "request_body_bytes_max", "response_body_bytes_max",
	"connections_max", "redirects_max",	     "inflight_max",
	NULL,
};

static const struct onex_handler_ops curl_http_ops;

static struct curl_http *http_self(const struct onex_handler *h)
{
	if (!h || h->ops != &curl_http_ops)
		ONEX_BUG("not a libcurl http handler");
	return (struct curl_http *)h;
}

static void collect(struct curl_http *self);

/* ---- small helpers ------------------------------------------------------------ */

static void list_push(struct call **head, struct call *c)
{
	c->prev = NULL;
	c->next = *head;
	if (*head)
		(*head)->prev = c;
	*head = c;
}

static void list_unlink(struct call **head, struct call *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		*head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
}

static const char *method_for(const char *operation)
{
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (operation && strcmp(methods[i].operation, operation) == 0)
			return methods[i].method;
	return NULL;
}

static int contains_json(const char *content_type)
{
	for (const char *p = content_type; p && *p; p++)
		if ((*p == 'j' || *p == 'J') && strncasecmp(p, "json", 4) == 0)
			return 1;
	return 0;
}

/*
 * The URL as messages show it: the userinfo of the authority (the
 * "user:password" before '@') becomes three asterisks. Otherwise the text is
 * kept byte for byte, so the messages equal the simulation's. Ownership: malloc'd, NULL when out of memory.
 */
static char *url_redact(const char *url)
{
	const char *sep = strstr(url, "://");
	const char *auth, *at = NULL;
	size_t alen;
	char *out;
	if (!sep)
		return strdup(url);
	auth = sep + 3;
	alen = strcspn(auth, "/?#");
	for (size_t i = 0; i < alen; i++)
		if (auth[i] == '@')
			at = auth + i;
	if (!at)
		return strdup(url);
	out = malloc(strlen(url) + 4);
	if (out)
		sprintf(out, "%.*s***%s", (int)(auth - url), url, at);
	return out;
}

/* A JSON string of n bytes; bytes that break UTF-8 become U+FFFD. */
static json_t *text_lossy(const char *text, size_t n)
{
	json_t *v = json_stringn(text, n);
	char *copy;
	size_t out = 0;
	if (v || !text)
		return v ? v : json_string("");
	if (n > (SIZE_MAX - 1) / 3 || !(copy = malloc(n * 3 + 1)))
		return NULL;
	for (size_t i = 0; i < n;) {
		size_t len = onex_utf8_sequence((const unsigned char *)text + i, n - i);
		if (len) {
			memcpy(copy + out, text + i, len);
			out += len;
			i += len;
		} else {
			memcpy(copy + out, "\xEF\xBF\xBD", 3);
			out += 3;
			i++;
		}
	}
	v = json_stringn(copy, out);
	free(copy);
	return v;
}

/* ---- descriptors and timers: libcurl -> loop port ------------------------------- */

static void fd_remember(struct curl_http *self, int fd)
{
	for (size_t i = 0; i < self->nfds; i++)
		if (self->fds[i] == fd)
			return;
	if (self->nfds == self->fds_cap) {
		size_t cap = self->fds_cap ? self->fds_cap * 2 : 16;
		int *grown = realloc(self->fds, cap * sizeof(*grown));
		if (!grown)
			return; /* only the shutdown sweep would miss it */
		self->fds = grown;
		self->fds_cap = cap;
	}
	self->fds[self->nfds++] = fd;
}

static void fd_forget(struct curl_http *self, int fd)
{
	for (size_t i = 0; i < self->nfds; i++)
		if (self->fds[i] == fd) {
			self->fds[i] = self->fds[--self->nfds];
			return;
		}
}

static void on_fd(void *arg, int fd, unsigned events)
{
	struct curl_http *self = arg;
	int running = 0, action = 0;
	if (events & ONEX_LOOP_READABLE)
		action |= CURL_CSELECT_IN;
	if (events & ONEX_LOOP_WRITABLE)
		action |= CURL_CSELECT_OUT;
	curl_multi_socket_action(self->multi, fd, action, &running);
	collect(self);
}

static void on_sweep(void *arg);

/* A transfer whose socket the loop refused is failed from a sweep timer. */
static void socket_refused(struct curl_http *self, CURL *easy)
{
	char *priv = NULL;
	curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
	if (priv)
		((struct call *)priv)->watch_failed = 1;
	if (!self->sweep_timer_armed &&
	    onex_loop_timer_add(self->base.env.loop, 0, on_sweep, self,
				&self->sweep_timer_id, NULL) == 0)
		self->sweep_timer_armed = 1;
}

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct curl_http *self = userp;
	struct onex_loop *loop = self->base.env.loop;
	unsigned events = 0;
	(void)socketp;
	if (what == CURL_POLL_REMOVE) {
		fd_forget(self, fd);
		onex_loop_fd_unwatch(loop, fd);
		return 0;
	}
	if (what & CURL_POLL_IN)
		events |= ONEX_LOOP_READABLE;
	if (what & CURL_POLL_OUT)
		events |= ONEX_LOOP_WRITABLE;
	if (onex_loop_fd_watch(loop, fd, events, on_fd, self, NULL) < 0) {
		/* A number libcurl closed without telling us may be reused. */
		onex_loop_fd_unwatch(loop, fd);
		if (onex_loop_fd_watch(loop, fd, events, on_fd, self, NULL) < 0) {
			socket_refused(self, easy);
			return 0;
		}
	}
	fd_remember(self, fd);
	return 0;
}

static void on_timer(void *arg)
{
	struct curl_http *self = arg;
	int running = 0;
	self->curl_timer_armed = 0;
	curl_multi_socket_action(self->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	collect(self);
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
	struct curl_http *self = userp;
	(void)multi;
	if (self->curl_timer_armed) {
		onex_loop_timer_cancel(self->base.env.loop, self->curl_timer_id);
		self->curl_timer_armed = 0;
	}
	if (timeout_ms < 0)
		return 0;
	if (onex_loop_timer_add(self->base.env.loop, (uint64_t)timeout_ms * NS_PER_MS,
				on_timer, self, &self->curl_timer_id, NULL) < 0)
		return -1;
	self->curl_timer_armed = 1;
	return 0;
}

/* ---- transfer callbacks: response headers and body ------------------------------ */

/* Add one "Name: value" line to c->resp_headers (names lower-cased). */
static int header_add(struct call *c, const char *line, size_t len)
{
	const char *colon = memchr(line, ':', len);
	size_t nlen, vstart, vend = len;
	char small[128], *name = small;
	json_t *value;
	const char *old;
	if (!colon || colon == line)
		return 0; /* the blank line, or an obsolete folded line */
	nlen = (size_t)(colon - line);
	for (size_t i = 0; i < nlen; i++)
		if ((unsigned char)line[i] <= 0x20 || (unsigned char)line[i] >= 0x7F)
			return 0; /* not a token: not a header we can name */
	vstart = nlen + 1;
	while (vstart < len && (line[vstart] == ' ' || line[vstart] == '\t'))
		vstart++;
	while (vend > vstart && (line[vend - 1] == ' ' || line[vend - 1] == '\t' ||
				 line[vend - 1] == '\r' || line[vend - 1] == '\n'))
		vend--;
	if (nlen >= sizeof(small) && !(name = malloc(nlen + 1)))
		return -1;
	for (size_t i = 0; i < nlen; i++)
		name[i] = (char)(line[i] >= 'A' && line[i] <= 'Z' ? line[i] + ('a' - 'A') : line[i]);
	name[nlen] = '\0';
	old = json_string_value(json_object_get(c->resp_headers, name));
	if (old) { /* a repeated name: "a, b" (RFC 9110 §5.3) */
		size_t olen = strlen(old);
		char *joined = malloc(olen + 2 + (vend - vstart) + 1);
		if (joined) {
			sprintf(joined, "%s, %.*s", old, (int)(vend - vstart), line + vstart);
			value = text_lossy(joined, strlen(joined));
			free(joined);
		} else {
			value = NULL;
		}
	} else {
		value = text_lossy(line + vstart, vend - vstart);
	}
	/* _nocheck: the name is printable ASCII (checked above), so valid UTF-8. */
	int rc = value ? json_object_set_new_nocheck(c->resp_headers, name, value) : -1;
	if (name != small)
		free(name);
	return rc;
}

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
	struct call *c = arg;
	size_t len = size * n;
	c->header_bytes += len;
	if (c->header_bytes > ONEX_CURL_HTTP_HEADER_BYTES_MAX) {
		c->headers_too_large = 1;
		return 0;
	}
	if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) {
		/* A new response (after a redirect or a 1xx): its headers only. */
		json_object_clear(c->resp_headers);
		c->header_bytes = len;
		return len;
	}
	if (header_add(c, data, len) < 0) {
		c->out_of_memory = 1;
		return 0;
	}
	return len;
}

/* The first body buffer: the declared Content-Length when there is one (a
 * decoded body may still grow past it), else 16 KiB. */
static size_t first_capacity(const struct call *c)
{
	curl_off_t declared = -1;
	if (curl_easy_getinfo(c->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &declared) ==
		    CURLE_OK &&
	    declared > 0 && (uint64_t)declared <= c->self->response_body_max)
		return (size_t)declared;
	return 16384;
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	struct call *c = arg;
	size_t len = size * n, max = c->self->response_body_max;
	if (len > max - c->resp_len) {
		c->too_large = 1;
		return 0; /* CURLE_WRITE_ERROR */
	}
	if (c->resp_len + len > c->resp_cap) {
		size_t cap = c->resp_cap ? c->resp_cap * 2 : first_capacity(c);
		if (cap < c->resp_len + len)
			cap = c->resp_len + len;
		if (cap > max)
			cap = max;
		char *grown = realloc(c->resp, cap);
		if (!grown) {
			c->out_of_memory = 1;
			return 0;
		}
		c->resp = grown;
		c->resp_cap = cap;
	}
	memcpy(c->resp + c->resp_len, data, len);
	c->resp_len += len;
	return len;
}

/* ---- results -------------------------------------------------------------------- */

static json_t *response_body(const struct call *c)
{
	const char *ctype = json_string_value(json_object_get(c->resp_headers, "content-type"));
	if (c->resp_len && contains_json(ctype)) {
		json_t *parsed = json_loadb(c->resp, c->resp_len, JSON_DECODE_ANY, NULL);
		if (parsed)
			return parsed;
	}
	return text_lossy(c->resp ? c->resp : "", c->resp_len);
}

/* {status_code, headers, body}, built directly (json_pack parses its format
 * string per call); body is taken, headers shared; NULL when out of memory. */
static json_t *response_payload(long status, json_t *headers, json_t *body)
{
	json_t *p = json_object();
	if (!p || json_object_set_new_nocheck(p, "status_code", json_integer(status)) < 0 ||
	    json_object_set_nocheck(p, "headers", headers) < 0) {
		json_decref(body);
		json_decref(p);
		return NULL;
	}
	if (json_object_set_new_nocheck(p, "body", body) < 0) { /* body taken */
		json_decref(p);
		return NULL;
	}
	return p;
}

static void result_success(struct call *c)
{
	long status = 0;
	json_t *body = response_body(c);
	curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
	if (!body) {
		onex_handler_result_fail(&c->result, ONEX_ERR_HANDLER_EXECUTION_ERROR,
					 "HTTP %s request to %s failed: out of memory",
					 c->method, c->url_shown);
		return;
	}
	onex_handler_result_ok(&c->result, response_payload(status, c->resp_headers, body));
	if (!c->result.payload)
		onex_handler_result_fail(&c->result, ONEX_ERR_HANDLER_EXECUTION_ERROR,
					 "HTTP %s request to %s failed: out of memory",
					 c->method, c->url_shown);
}

static const char *reason_for(CURLcode rc)
{
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (reasons[i].code == rc)
			return reasons[i].reason;
	return curl_easy_strerror(rc); /* libcurl's fixed text for the code */
}

/* Map a finished transfer's CURLcode (and our own flags) to the result. */
static void result_from(struct curl_http *self, struct call *c, CURLcode rc)
{
	struct onex_handler_result *r = &c->result;
	if (rc == CURLE_OK) {
		result_success(c);
		return;
	}
	if (rc == CURLE_OPERATION_TIMEDOUT)
		onex_handler_result_fail(r, ONEX_ERR_TIMEOUT,
					 "HTTP %s request timed out after %.1fs", c->method,
					 (double)self->timeout_ms / 1000.0);
	else if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
		 rc == CURLE_COULDNT_RESOLVE_PROXY)
		onex_handler_result_fail(r, ONEX_ERR_HANDLER_EXECUTION_ERROR,
					 "Failed to connect to %s", c->url_shown);
	else if (c->too_large || rc == CURLE_FILESIZE_EXCEEDED)
		onex_handler_result_fail(r, ONEX_ERR_HANDLER_EXECUTION_ERROR,
					 "HTTP %s request to %s failed: the response body "
					 "exceeds the limit of %zu bytes",
					 c->method, c->url_shown, self->response_body_max);
	else if (c->headers_too_large)
		onex_handler_result_fail(r, ONEX_ERR_HANDLER_EXECUTION_ERROR,
					 "HTTP %s request to %s failed: the response headers "
					 "exceed the limit of %u bytes",
					 c->method, c->url_shown, ONEX_CURL_HTTP_HEADER_BYTES_MAX);
	else if (c->out_of_memory)
		onex_handler_result_fail(r, ONEX_ERR_HANDLER_EXECUTION_ERROR,
					 "HTTP %s request to %s failed: out of memory",
					 c->method, c->url_shown);
	else if (rc == CURLE_TOO_MANY_REDIRECTS)
		onex_handler_result_fail(r, ONEX_ERR_HANDLER_EXECUTION_ERROR,
					 "HTTP %s request to %s failed: more than %ld redirects",
					 c->method, c->url_shown, self->redirects_max);
	else
		onex_handler_result_fail(r, ONEX_ERR_HANDLER_EXECUTION_ERROR,
					 "HTTP %s request to %s failed: %s", c->method,
					 c->url_shown, reason_for(rc));
	r->error.backend_code = (int)rc;
}

/* ---- call lifetime ---------------------------------------------------------------- */

/* A zeroed call with a clear result (the error's text buffers are not zeroed). */
static struct call *call_new(void)
{
	struct call *c = malloc(sizeof(*c));
	if (!c)
		ONEX_BUG("libcurl http: out of memory");
	memset(c, 0, offsetof(struct call, result));
	c->result.ok = 0;
	c->result.payload = c->result.error_extra = NULL;
	onex_error_clear(&c->result.error);
	return c;
}

/*
 * A new easy handle with the options every call of this handler shares
 * (they are never changed afterwards); NULL when out of memory, or when
 * libcurl refused an option (*refused set).
 */
static CURL *easy_new(struct curl_http *self, int *refused)
{
	CURL *e = curl_easy_init();
	int bad = 0;
	if (!e)
		return NULL;
#define SET(opt, val) (bad |= curl_easy_setopt(e, opt, val) != CURLE_OK)
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_FOLLOWLOCATION, 1L);
	SET(CURLOPT_MAXREDIRS, self->redirects_max);
	SET(CURLOPT_TIMEOUT_MS, (long)self->timeout_ms);
	SET(CURLOPT_NOSIGNAL, 1L);
	/* "" turns proxies off, including libcurl's reading of http_proxy and
	 * friends: handlers never read the environment (spec §10). */
	SET(CURLOPT_PROXY, "");
	/* "" = decode every encoding libcurl supports. The Accept-Encoding and
	 * User-Agent lines are in the header list (build_headers). */
	SET(CURLOPT_ACCEPT_ENCODING, "");
	SET(CURLOPT_HEADERFUNCTION, on_header);
	SET(CURLOPT_WRITEFUNCTION, on_body);
	if (self->response_body_max) /* 0 means "no limit" to libcurl */
		SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)self->response_body_max);
#undef SET
	if (bad) {
		curl_easy_cleanup(e);
		*refused = 1;
		return NULL;
	}
	return e;
}

/* An easy handle in its idle state: a pooled one, or a new one. */
static CURL *easy_take(struct curl_http *self, int *refused)
{
	return self->nidle ? self->idle[--self->nidle] : easy_new(self, refused);
}

/*
 * Give back an easy handle that is out of the multi handle, in its idle
 * state: every option a call sets (start, set_method) goes back to its
 * default, so the handle keeps no pointer into the finished call (URL,
 * headers, body, private, callback data) and no method or body reaches the
 * next call. The shared options stay; libcurl starts each transfer's own
 * state afresh (as for any reused easy handle), and connections live in
 * the multi handle's cache. Cheaper than curl_easy_reset() plus setting
 * every shared option again.
 */
static void easy_put(struct curl_http *self, CURL *e)
{
	int bad = 0;
	if (self->nidle < ONEX_CURL_HTTP_EASY_IDLE_MAX && self->multi) {
#define SET(opt, val) (bad |= curl_easy_setopt(e, opt, val) != CURLE_OK)
		SET(CURLOPT_URL, (char *)NULL);
		SET(CURLOPT_PRIVATE, (void *)NULL);
		SET(CURLOPT_HTTPHEADER, (struct curl_slist *)NULL);
		SET(CURLOPT_HEADERDATA, (void *)NULL);
		SET(CURLOPT_WRITEDATA, (void *)NULL);
		SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)-1);
		SET(CURLOPT_POSTFIELDS, (char *)NULL); /* (sets the method to POST) */
		SET(CURLOPT_HTTPGET, 1L);	       /* GET, no upload, a body wanted */
		SET(CURLOPT_CUSTOMREQUEST, (char *)NULL);
#undef SET
		if (!bad) {
			self->idle[self->nidle++] = e;
			return;
		}
	}
	curl_easy_cleanup(e);
}

static void easy_drop_idle(struct curl_http *self)
{
	while (self->nidle)
		curl_easy_cleanup(self->idle[--self->nidle]);
}

static void call_free(struct call *c)
{
	if (c->easy) {
		curl_multi_remove_handle(c->self->multi, c->easy);
		curl_easy_cleanup(c->easy);
	}
	if (c->req_last) { /* the tail is the handler's */
		c->req_last->next = NULL;
		curl_slist_free_all(c->req_headers);
	}
	json_decref(c->resp_headers);
	free(c->resp);
	free(c->body);
	free(c->url_shown);
	free(c);
}

/* Hand the result over (the callee takes payload and error_extra). */
static void deliver(struct curl_http *self, struct call *c)
{
	self->inflight--;
	if (c->result.ok) {
		self->succeeded++;
	} else {
		self->failed++;
		if (c->result.error.code == ONEX_ERR_TIMEOUT)
			self->timeouts++;
	}
	c->done(c->done_arg, &c->result);
	call_free(c);
}

static void on_deliver(void *arg)
{
	struct call *c = arg;
	list_unlink(&c->self->scheduled, c);
	deliver(c->self, c);
}

/* The result is set: deliver it from the loop. */
static void schedule(struct curl_http *self, struct call *c)
{
	struct onex_error err;
	onex_error_clear(&err);
	/* The inflight bound keeps calls far below the loop's timer bound, so
	 * a full loop here is a broken invariant, not a runtime condition. */
	if (onex_loop_timer_add(self->base.env.loop, 0, on_deliver, c, &c->timer_id,
				&err) < 0)
		ONEX_BUG("libcurl http: cannot schedule a completion: %s", err.text);
	list_push(&self->scheduled, c);
}

/* Take c's transfer out of the multi handle (the easy handle is freed). */
static void transfer_end(struct curl_http *self, struct call *c)
{
	long connects = 0;
	if (curl_easy_getinfo(c->easy, CURLINFO_NUM_CONNECTS, &connects) == CURLE_OK &&
	    connects > 0)
		self->connections_opened += (uint64_t)connects;
	list_unlink(&self->active, c);
	curl_multi_remove_handle(self->multi, c->easy);
	easy_put(self, c->easy);
	c->easy = NULL;
}

/* Deliver every transfer libcurl reports finished. Called from the loop. */
static void collect(struct curl_http *self)
{
	struct call *ready = NULL, **tail = &ready;
	CURLMsg *msg;
	int left;
	while (self->multi && (msg = curl_multi_info_read(self->multi, &left))) {
		char *priv = NULL;
		struct call *c;
		CURLcode rc = msg->data.result;
		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
		if (!(c = (struct call *)priv))
			continue;
		result_from(self, c, rc); /* before transfer_end: reads the easy handle */
		transfer_end(self, c);
		*tail = c;
		tail = &c->next;
	}
	/* Deliver after reading: a done that starts a call cannot disturb the walk. */
	while (ready) {
		struct call *c = ready;
		ready = c->next;
		c->next = NULL;
		deliver(self, c);
	}
}

static void on_sweep(void *arg)
{
	struct curl_http *self = arg;
	struct call *c = self->active, *next;
	self->sweep_timer_armed = 0;
	for (; c; c = next) {
		next = c->next;
		if (!c->watch_failed)
			continue;
		onex_handler_result_fail(&c->result, ONEX_ERR_HANDLER_EXECUTION_ERROR,
					 "HTTP %s request to %s failed: the event loop cannot "
					 "watch another connection",
					 c->method, c->url_shown);
		transfer_end(self, c);
		schedule(self, c);
	}
}

/* ---- building a request ------------------------------------------------------------ */

/* Set r to a failure and return -1 (for validation paths). */
static int reject(struct onex_handler_result *r, enum onex_error_code code,
		  const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int reject(struct onex_handler_result *r, enum onex_error_code code,
		  const char *fmt, ...)
{
	char text[ONEX_ERROR_TEXT_BYTES];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	onex_handler_result_fail(r, code, "%s", text);
	return -1;
}

static int is_token_char(unsigned char ch)
{
	return isalnum(ch) || (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

/* "Name: value" for one payload header, or NULL with r set. Ownership: malloc'd. */
static char *header_line(const char *name, const json_t *v, struct onex_handler_result *r)
{
	char num[64];
	const char *value = num;
	char *line;
	if (!*name || strlen(name) > 256) {
		onex_handler_result_fail(r, ONEX_ERR_ENVELOPE_VALIDATION_ERROR,
					 "payload.headers has an empty or overlong name");
		return NULL;
	}
	for (const char *p = name; *p; p++)
		if (!is_token_char((unsigned char)*p)) {
			onex_handler_result_fail(r, ONEX_ERR_ENVELOPE_VALIDATION_ERROR,
						 "payload.headers has an invalid header name");
			return NULL;
		}
	if (json_is_string(v))
		value = json_string_value(v);
	else if (json_is_integer(v))
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	else if (json_is_real(v))
		snprintf(num, sizeof(num), "%.17g", json_real_value(v));
	else if (json_is_boolean(v))
		snprintf(num, sizeof(num), "%s", json_is_true(v) ? "true" : "false");
	else {
		onex_handler_result_fail(r, ONEX_ERR_ENVELOPE_VALIDATION_ERROR,
					 "payload.headers.%s must be a string", name);
		return NULL;
	}
	if (json_is_string(v) && (strpbrk(value, "\r\n") ||
				  strlen(value) != json_string_length(v))) {
		onex_handler_result_fail(r, ONEX_ERR_ENVELOPE_VALIDATION_ERROR,
					 "payload.headers.%s must not contain CR, LF or NUL", name);
		return NULL;
	}
	if (!(line = malloc(strlen(name) + strlen(value) + 3)))
		return NULL;
	/* libcurl sends "Name;" as a header with an empty value ("Name:" removes it). */
	sprintf(line, *value ? "%s: %s" : "%s;", name, value);
	return line;
}

static int add_header(struct call *c, const char *line, struct onex_handler_result *r)
{
	struct curl_slist *l = curl_slist_append(c->req_headers, line);
	if (!l) {
		onex_handler_result_fail(r, ONEX_ERR_HANDLER_EXECUTION_ERROR,
					 "HTTP %s request failed: out of memory", c->method);
		return -1;
	}
	c->req_headers = l;
	c->req_last = c->req_last ? c->req_last->next : l;
	return 0;
}

/*
 * The payload's headers, then ours: a content-type for JSON, then the
 * handler's tail (User-Agent and Accept-Encoding unless the payload names
 * them, and "Expect:": no 100-continue round trip). libcurl leaves out its
 * own User-Agent and Accept-Encoding lines when the list has them, so they
 * are built once here instead of formatted by libcurl for every request;
 * CURLOPT_ACCEPT_ENCODING stays set, so responses are still decoded.
 */
static int build_headers(struct curl_http *self, struct call *c, const json_t *headers,
			 int json_body, struct onex_handler_result *r)
{
	const char *name;
	const json_t *v;
	int has_ctype = 0, has_ua = 0, has_ae = 0;
	json_object_foreach((json_t *)headers, name, v) {
		char *line = header_line(name, v, r);
		if (!line) {
			if (!onex_error_is_set(&r->error))
				onex_handler_result_fail(r, ONEX_ERR_HANDLER_EXECUTION_ERROR,
							 "HTTP %s request failed: out of memory",
							 c->method);
			return -1;
		}
		has_ctype |= strcasecmp(name, "content-type") == 0;
		has_ua |= strcasecmp(name, "user-agent") == 0;
		has_ae |= strcasecmp(name, "accept-encoding") == 0;
		int rc = add_header(c, line, r);
		free(line);
		if (rc < 0)
			return -1;
	}
	if (!has_ctype && c->body)
		/* libcurl would add a form content-type; a string goes as-is. */
		if (add_header(c, json_body ? "Content-Type: application/json"
					    : "Content-Type:", r) < 0)
			return -1;
	if (c->req_last)
		c->req_last->next = self->tail[!has_ua][!has_ae];
	else
		c->req_headers = self->tail[!has_ua][!has_ae];
	return 0;
}

/*
 * The Accept-Encoding line libcurl would send for CURLOPT_ACCEPT_ENCODING ""
 * (every encoding it decodes, in its order), or "" when it decodes none.
 */
static void accept_encoding_line(char *out, size_t size)
{
	static const struct {
		int feature;
		const char *names;
	} encodings[] = { /* libcurl's order */
		{ CURL_VERSION_LIBZ, "deflate, gzip" },
		{ CURL_VERSION_BROTLI, "br" },
		{ CURL_VERSION_ZSTD, "zstd" },
	};
	const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
	size_t n = 0;
	out[0] = '\0';
	for (size_t i = 0; i < sizeof(encodings) / sizeof(encodings[0]); i++) {
		if (!(v->features & encodings[i].feature))
			continue;
		int w = snprintf(out + n, size - n, "%s%s", n ? ", " : "Accept-Encoding: ",
				 encodings[i].names);
		if (w < 0 || (size_t)w >= size - n) { /* too long: libcurl writes its own */
			out[0] = '\0';
			return;
		}
		n += (size_t)w;
	}
}

/* The four tails of every request's header list (see struct curl_http). */
static void build_tails(struct curl_http *self)
{
	static char ua[] = "User-Agent: onex/" ONEX_VERSION, expect[] = "Expect:";
	struct curl_slist *n = self->tail_nodes, *ae;
	accept_encoding_line(self->accept_encoding, sizeof(self->accept_encoding));
	n[0] = (struct curl_slist){ expect, NULL };
	/* Without our Accept-Encoding line libcurl writes its own, as before. */
	ae = self->accept_encoding[0] ? &n[1] : &n[0];
	n[1] = (struct curl_slist){ self->accept_encoding, &n[0] };
	n[2] = (struct curl_slist){ ua, ae };
	n[3] = (struct curl_slist){ ua, &n[0] };
	self->tail[0][0] = &n[0];
	self->tail[0][1] = ae;
	self->tail[1][0] = &n[3];
	self->tail[1][1] = &n[2];
}

/* payload.body -> c->body: a string as-is, other JSON encoded. 1 when JSON. */
static int build_body(struct curl_http *self, struct call *c, const json_t *body,
		      struct onex_handler_result *r)
{
	int is_json = 0;
	if (!body || json_is_null(body))
		return 0;
	if (json_is_string(body)) {
		c->body_len = json_string_length(body);
		c->body = malloc(c->body_len + 1);
		if (c->body)
			memcpy(c->body, json_string_value(body), c->body_len + 1);
	} else {
		is_json = 1;
		c->body = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
		c->body_len = c->body ? strlen(c->body) : 0;
	}
	if (!c->body)
		return reject(r, ONEX_ERR_HANDLER_EXECUTION_ERROR,
						"HTTP %s request failed: out of memory", c->method);
	if (c->body_len > self->request_body_max)
		return reject(r, ONEX_ERR_ENVELOPE_VALIDATION_ERROR,
						"payload.body is %zu bytes, over the request "
						"body limit of %zu bytes",
						c->body_len, self->request_body_max);
	return is_json;
}

/*
 * An http:// or https:// URL libcurl can parse. The last URL that passed is
 * remembered (when short enough): a handler that calls the same URL again
 * and again does not parse it twice per call (libcurl parses it too).
 */
static int check_url(struct curl_http *self, const char *url, struct onex_handler_result *r)
{
	size_t len = strlen(url);
	CURLU *u;
	char *scheme = NULL;
	int ok;
	if (self->url_ok_len && len == self->url_ok_len && memcmp(url, self->url_ok, len) == 0)
		return 0;
	if (!(u = curl_url()))
		return reject(r, ONEX_ERR_HANDLER_EXECUTION_ERROR,
						"out of memory");
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
		curl_url_cleanup(u);
		return reject(r, ONEX_ERR_ENVELOPE_VALIDATION_ERROR,
						"payload.url is not a valid URL");
	}
	ok = curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	     (strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0);
	curl_free(scheme);
	curl_url_cleanup(u);
	if (!ok)
		return reject(r, ONEX_ERR_ENVELOPE_VALIDATION_ERROR,
						"payload.url must be an http:// or https:// URL");
	if (len < sizeof(self->url_ok)) {
		memcpy(self->url_ok, url, len + 1);
		self->url_ok_len = len;
	}
	return 0;
}

/* Validate the request and copy what the transfer needs; -1 with c->result set. */
static int prepare(struct curl_http *self, const struct onex_envelope *req, struct call *c)
{
	struct onex_handler_result *r = &c->result;
	const json_t *payload = req->payload;
	const json_t *url = payload ? json_object_get(payload, "url") : NULL;
	const json_t *headers = payload ? json_object_get(payload, "headers") : NULL;
	int json_body;
	if (!(c->method = method_for(req->operation))) {
		memset(r, 0, sizeof(*r));
		onex_error_clear(&r->error);
		onex_handler_invalid_operation(&r->error, ONEX_HANDLER_HTTP,
					       req->operation ? req->operation : "");
		return -1;
	}
	if (!json_is_string(url) || json_string_value(url)[0] == '\0')
		return reject(r, ONEX_ERR_ENVELOPE_VALIDATION_ERROR,
						"payload.url is required");
	if (headers && !json_is_object(headers) && !json_is_null(headers))
		return reject(r, ONEX_ERR_ENVELOPE_VALIDATION_ERROR,
						"payload.headers must be an object");
	if (self->inflight > self->inflight_max)
		return reject(r, ONEX_ERR_HANDLER_EXECUTION_ERROR,
						"too many HTTP requests in flight (limit %u)",
						self->inflight_max);
	if (check_url(self, json_string_value(url), r) < 0)
		return -1;
	if (!(c->url_shown = url_redact(json_string_value(url))) ||
	    (json_body = build_body(self, c, json_object_get(payload, "body"), r)) < 0 ||
	    build_headers(self, c, headers, json_body, r) < 0) {
		if (!onex_error_is_set(&r->error))
			onex_handler_result_fail(r, ONEX_ERR_HANDLER_EXECUTION_ERROR,
						 "HTTP %s request failed: out of memory", c->method);
		return -1;
	}
	return 0;
}

/* Method and body options (CUSTOMREQUEST keeps the method across redirects). */
static int set_method(struct call *c)
{
	int bad = 0;
	if (strcmp(c->method, "GET") == 0 && !c->body)
		return curl_easy_setopt(c->easy, CURLOPT_HTTPGET, 1L) != CURLE_OK;
	if (strcmp(c->method, "DELETE") == 0 && !c->body)
		return curl_easy_setopt(c->easy, CURLOPT_CUSTOMREQUEST, "DELETE") != CURLE_OK;
	bad |= curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE_LARGE,
				(curl_off_t)c->body_len) != CURLE_OK;
	bad |= curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, c->body ? c->body : "") !=
	       CURLE_OK;
	if (strcmp(c->method, "POST") != 0)
		bad |= curl_easy_setopt(c->easy, CURLOPT_CUSTOMREQUEST, c->method) != CURLE_OK;
	return bad;
}

/* Take an easy handle and add it to the multi handle; -1 with c->result set. */
static int start(struct curl_http *self, const char *url, struct call *c)
{
	CURL *e;
	int bad = 0, refused = 0;
	if (!(c->resp_headers = json_object()) || !(e = c->easy = easy_take(self, &refused))) {
		if (refused)
			return reject(&c->result, ONEX_ERR_HANDLER_EXECUTION_ERROR,
							"HTTP %s request failed: libcurl refused "
							"the request options",
							c->method);
		return reject(&c->result, ONEX_ERR_HANDLER_EXECUTION_ERROR,
						"HTTP %s request failed: out of memory", c->method);
	}
	/* Only what differs from call to call; easy_put() undoes each one. */
#define SET(opt, val) (bad |= curl_easy_setopt(e, opt, val) != CURLE_OK)
	SET(CURLOPT_URL, url);
	SET(CURLOPT_PRIVATE, (void *)c);
	SET(CURLOPT_HTTPHEADER, c->req_headers);
	SET(CURLOPT_HEADERDATA, (void *)c);
	SET(CURLOPT_WRITEDATA, (void *)c);
#undef SET
	bad |= set_method(c);
	if (bad || curl_multi_add_handle(self->multi, e) != CURLM_OK) {
		easy_put(self, e);
		c->easy = NULL;
		return reject(&c->result, ONEX_ERR_HANDLER_EXECUTION_ERROR,
						"HTTP %s request failed: libcurl refused the "
						"request options",
						c->method);
	}
	list_push(&self->active, c);
	return 0;
}

static void http_execute(struct onex_handler *h, const struct onex_envelope *req,
			 onex_handler_done_cb done, void *done_arg)
{
	struct curl_http *self = http_self(h);
	struct call *c = call_new();
	c->self = self;
	c->done = done;
	c->done_arg = done_arg;
	self->requests++;
	self->inflight++;
	/* Everything the transfer needs is copied: req may be freed on return.
	 * libcurl copies the URL string. The transfer starts from the loop
	 * (curl_multi_add_handle only asks for a zero-delay timer). */
	if (prepare(self, req, c) < 0 ||
	    start(self, json_string_value(json_object_get(req->payload, "url")), c) < 0)
		schedule(self, c);
}

/* ---- lifecycle ------------------------------------------------------------------------ */

static int config_int(const json_t *obj, const char *key, json_int_t min, json_int_t max,
		      json_int_t *out, struct onex_error *err)
{
	const json_t *v = json_object_get(obj, key);
	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
		return onex_error_set(err, ONEX_ERR_HANDLER_CONFIGURATION_ERROR, UNIT, 0, 0,
				      "http handler %s must be an integer from %" JSON_INTEGER_FORMAT
				      " to %" JSON_INTEGER_FORMAT,
				      key, min, max);
	*out = json_integer_value(v);
	return 0;
}

static int check_config_keys(const json_t *conf, struct onex_error *err)
{
	const char *key;
	const json_t *v;
	json_object_foreach((json_t *)conf, key, v) {
		const char *const *k = config_keys;
		while (*k && strcmp(*k, key) != 0)
			k++;
		if (!*k)
			return onex_error_set(err, ONEX_ERR_HANDLER_CONFIGURATION_ERROR, UNIT, 0,
					      0,
					      "http handler config: unknown field '%s' (valid: "
					      "timeout_ms, request_body_bytes_max, "
					      "response_body_bytes_max, connections_max, "
					      "redirects_max, inflight_max)",
					      key);
	}
	return 0;
}

static int read_config(struct curl_http *self, const json_t *config, struct onex_error *err)
{
	const json_t *conf = json_object_get(config, "config");
	json_int_t timeout = (json_int_t)self->timeout_ms;
	json_int_t req = (json_int_t)self->request_body_max;
	json_int_t resp = (json_int_t)self->response_body_max;
	json_int_t conns = self->connections_max, redirs = self->redirects_max;
	json_int_t inflight = self->inflight_max;
	if (conf && !json_is_object(conf))
		return onex_error_set(err, ONEX_ERR_HANDLER_CONFIGURATION_ERROR, UNIT, 0, 0,
				      "http handler config must be a mapping");
	/* config.timeout_ms is this unit's own limit; else it only cleans up after the host. */
	if (check_config_keys(conf, err) ||
	    config_int(conf, "timeout_ms", 1, ONEX_CURL_HTTP_TIMEOUT_MS_MAX, &timeout, err) ||
	    config_int(conf, "request_body_bytes_max", 0, ONEX_CURL_HTTP_BODY_BYTES_MAX, &req,
		       err) ||
	    config_int(conf, "response_body_bytes_max", 0, ONEX_CURL_HTTP_BODY_BYTES_MAX,
		       &resp, err) ||
	    config_int(conf, "connections_max", 1, ONEX_CURL_HTTP_CONNECTIONS_MAX, &conns,
		       err) ||
	    config_int(conf, "redirects_max", 0, ONEX_CURL_HTTP_REDIRECTS_MAX, &redirs, err) ||
	    config_int(conf, "inflight_max", 1, ONEX_CURL_HTTP_INFLIGHT_MAX, &inflight, err))
		return -1;
	(void)timeout; /* range-checked above */
	self->timeout_ms = onex_handler_unit_timeout_ms(config);
	self->request_body_max = (size_t)req;
	self->response_body_max = (size_t)resp;
	self->connections_max = (long)conns;
	self->redirects_max = (long)redirs;
	self->inflight_max = (unsigned)inflight;
	return 0;
}

static int http_initialize(struct onex_handler *h, const json_t *config,
			   struct onex_error *err)
{
	struct curl_http *self = http_self(h);
	int bad = 0;
	if (read_config(self, config, err) < 0)
		return -1;
	build_tails(self);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return onex_error_set(err, ONEX_ERR_HANDLER_CONFIGURATION_ERROR, UNIT, 0, 0,
				      "libcurl could not be initialised");
	self->global_init = 1;
	if (!(self->multi = curl_multi_init()))
		return onex_error_set(err, ONEX_ERR_HANDLER_CONFIGURATION_ERROR, UNIT, 0, 0,
				      "libcurl could not create a multi handle");
	bad |= curl_multi_setopt(self->multi, CURLMOPT_SOCKETFUNCTION, on_socket) != CURLM_OK;
	bad |= curl_multi_setopt(self->multi, CURLMOPT_SOCKETDATA, (void *)self) != CURLM_OK;
	bad |= curl_multi_setopt(self->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer) !=
	       CURLM_OK;
	bad |= curl_multi_setopt(self->multi, CURLMOPT_TIMERDATA, (void *)self) != CURLM_OK;
	bad |= curl_multi_setopt(self->multi, CURLMOPT_MAXCONNECTS, self->connections_max) !=
	       CURLM_OK;
	bad |= curl_multi_setopt(self->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS,
				 self->connections_max) != CURLM_OK;
	if (bad)
		return onex_error_set(err, ONEX_ERR_HANDLER_CONFIGURATION_ERROR, UNIT, 0, 0,
				      "libcurl refused the multi handle options");
	return 0;
}

static json_t *http_health(struct onex_handler *h)
{
	struct curl_http *self = http_self(h);
	return json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "handler_type", "http",
			 "requests", (json_int_t)self->requests,
			 "in_flight", (json_int_t)self->inflight,
			 "succeeded", (json_int_t)self->succeeded,
			 "failed", (json_int_t)self->failed,
			 "timeouts", (json_int_t)self->timeouts,
			 "cancelled", (json_int_t)self->cancelled,
			 "connections_opened", (json_int_t)self->connections_opened,
			 "timeout_ms", (json_int_t)self->timeout_ms);
}

static json_t *http_describe(const struct onex_handler *h)
{
	const struct curl_http *self = http_self(h);
	json_t *ops = json_array();
	for (const char *const *op = onex_handler_type_operations(ONEX_HANDLER_HTTP); *op; op++)
		json_array_append_new(ops, json_string(*op));
	return json_pack("{s:s,s:s,s:o,s:[s],s:[s,s],s:{s:s,s:s,s:s},s:I,s:s,"
			 "s:{s:I,s:I,s:I,s:I,s:I},s:s}",
			 "type", "http", "unit", UNIT, "operations", ops,
			 "required_payload_fields", "url",
			 "optional_payload_fields", "headers", "body",
			 "response_shape", "status_code", "integer", "headers", "object",
			 "body", "any", "timeout_ms", (json_int_t)self->timeout_ms,
			 "version", ONEX_VERSION, "limits",
			 "request_body_bytes_max", (json_int_t)self->request_body_max,
			 "response_body_bytes_max", (json_int_t)self->response_body_max,
			 "connections_max", (json_int_t)self->connections_max,
			 "redirects_max", (json_int_t)self->redirects_max,
			 "inflight_max", (json_int_t)self->inflight_max,
			 "libcurl", curl_version_info(CURLVERSION_NOW)->version);
}

/* Cancel every transfer (each done once, from the loop); close connections. */
static void http_shutdown(struct onex_handler *h)
{
	struct curl_http *self = http_self(h);
	struct onex_loop *loop = h->env.loop;
	while (self->active) {
		struct call *c = self->active;
		onex_handler_result_fail(&c->result, ONEX_ERR_HANDLER_EXECUTION_ERROR,
					 "HTTP %s request to %s was cancelled: the http "
					 "handler shut down",
					 c->method, c->url_shown);
		transfer_end(self, c);
		schedule(self, c);
		self->cancelled++;
	}
	if (self->cancelled)
		onex_log(h->env.log, ONEX_LOG_WARN, NULL, NULL,
			 "http handler shut down with %llu requests in flight; each "
			 "was answered with HANDLER_EXECUTION_ERROR",
			 (unsigned long long)self->cancelled);
	easy_drop_idle(self);
	if (self->multi)
		curl_multi_cleanup(self->multi); /* closes cached connections */
	self->multi = NULL;
	if (self->curl_timer_armed)
		onex_loop_timer_cancel(loop, self->curl_timer_id);
	if (self->sweep_timer_armed)
		onex_loop_timer_cancel(loop, self->sweep_timer_id);
	self->curl_timer_armed = self->sweep_timer_armed = 0;
	while (self->nfds) /* anything libcurl closed without a REMOVE */
		onex_loop_fd_unwatch(loop, self->fds[--self->nfds]);
}

static void http_free(struct onex_handler *h)
{
	struct curl_http *self = http_self(h);
	if (self->multi) /* created but never shut down (initialize failed) */
		http_shutdown(h);
	while (self->scheduled) {
		struct call *c = self->scheduled;
		list_unlink(&self->scheduled, c);
		onex_loop_timer_cancel(h->env.loop, c->timer_id);
		onex_handler_result_release(&c->result);
		call_free(c);
	}
	if (self->global_init)
		curl_global_cleanup();
	free(self->fds);
	free(self);
}

static const struct onex_handler_ops curl_http_ops = {
	.type = ONEX_HANDLER_HTTP,
	.unit_name = UNIT,
	.initialize = http_initialize,
	.execute = http_execute,
	.health_check = http_health,
	.describe = http_describe,
	.shutdown = http_shutdown,
	.free = http_free,
};

static struct onex_handler *http_create(const struct onex_handler_env *env,
					struct onex_error *err)
{
	struct curl_http *self;
	if (!env || !env->loop)
		ONEX_BUG("libcurl http needs a loop");
	if (!(self = calloc(1, sizeof(*self)))) {
		onex_error_set(err, ONEX_ERR_HANDLER_CONFIGURATION_ERROR, UNIT, 0, 0,
			       "out of memory");
		return NULL;
	}
	onex_handler_base_init(&self->base, &curl_http_ops, env);
	self->timeout_ms = ONEX_HANDLER_TIMEOUT_MS_DEFAULT;
	self->request_body_max = ONEX_CURL_HTTP_REQUEST_BODY_BYTES_DEFAULT;
	self->response_body_max = ONEX_CURL_HTTP_RESPONSE_BODY_BYTES_DEFAULT;
	self->connections_max = ONEX_CURL_HTTP_CONNECTIONS_DEFAULT;
	self->redirects_max = ONEX_CURL_HTTP_REDIRECTS_DEFAULT;
	self->inflight_max = ONEX_CURL_HTTP_INFLIGHT_DEFAULT;
	return &self->base;
}

const struct onex_handler_unit onex_curl_http_unit = {
	.type = ONEX_HANDLER_HTTP,
	.unit_name = UNIT,
	.create = http_create,
};
