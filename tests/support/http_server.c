/*
 * http_server.c - the loopback HTTP/1.1 test server (see http_server.h).
 *
 * Process shape: test -> fork -> server (accept loop) -> fork per
 * connection. Both children ask the kernel to kill them when their parent
 * dies (PR_SET_PDEATHSIG), so stopping the server by its PID also ends
 * every connection child, and a crashed test leaves nothing behind.
 * Children leave with _exit(): they never run the test's atexit handlers.
 */
#include "http_server.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HEAD_BYTES_MAX (64u * 1024u)
#define BODY_BYTES_MAX (32u * 1024u * 1024u)

struct request {
	char method[16];
	char path[1024];
	json_t *headers; /* lower-cased names */
	char *body;
	size_t body_len;
	int close_after;
};

/* ---- I/O ------------------------------------------------------------------------ */

static int send_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int sendf(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int sendf(int fd, const char *fmt, ...)
{
	char buf[2048];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return -1;
	return send_all(fd, buf, (size_t)n);
}

/* Buffered reader over one connection. */
struct conn {
	int fd;
	char buf[HEAD_BYTES_MAX];
	size_t len;
};

static int conn_fill(struct conn *c)
{
	ssize_t n;
	if (c->len == sizeof(c->buf))
		return -1;
	do
		n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return -1;
	c->len += (size_t)n;
	return 0;
}

static void conn_consume(struct conn *c, size_t n)
{
	memmove(c->buf, c->buf + n, c->len - n);
	c->len -= n;
}

/* ---- parsing ---------------------------------------------------------------------- */

static void parse_header_line(struct request *rq, char *line)
{
	char *colon = strchr(line, ':');
	char *value;
	if (!colon)
		return;
	*colon = '\0';
	for (char *p = line; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	value = colon + 1;
	while (*value == ' ' || *value == '\t')
		value++;
	json_object_set_new(rq->headers, line, json_string(value));
}

/* Read the request head; -1 on EOF or a malformed request. */
static int read_head(struct conn *c, struct request *rq)
{
	char *end, *line, *next;
	while (!(end = memmem(c->buf, c->len, "\r\n\r\n", 4)))
		if (conn_fill(c) < 0)
			return -1;
	*end = '\0';
	line = c->buf;
	next = strstr(line, "\r\n");
	if (next)
		*next = '\0';
	if (sscanf(line, "%15s %1023s", rq->method, rq->path) != 2)
		return -1;
	while (next) {
		line = next + 2;
		next = strstr(line, "\r\n");
		if (next)
			*next = '\0';
		parse_header_line(rq, line);
	}
	conn_consume(c, (size_t)(end + 4 - c->buf));
	return 0;
}

static int read_body(struct conn *c, struct request *rq)
{
	const char *cl = json_string_value(json_object_get(rq->headers, "content-length"));
	const char *expect = json_string_value(json_object_get(rq->headers, "expect"));
	size_t want = cl ? strtoull(cl, NULL, 10) : 0;
	if (want > BODY_BYTES_MAX)
		return -1;
	if (expect && strcasecmp(expect, "100-continue") == 0 &&
	    sendf(c->fd, "HTTP/1.1 100 Continue\r\n\r\n") < 0)
		return -1;
	rq->body = malloc(want + 1);
	if (!rq->body)
		return -1;
	while (rq->body_len < want) {
		if (c->len == 0 && conn_fill(c) < 0)
			return -1;
		size_t take = c->len < want - rq->body_len ? c->len : want - rq->body_len;
		memcpy(rq->body + rq->body_len, c->buf, take);
		rq->body_len += take;
		conn_consume(c, take);
	}
	rq->body[rq->body_len] = '\0';
	return 0;
}

/* ---- responses -------------------------------------------------------------------- */

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 302: return "Found";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	default: return "Status";
	}
}

/* One response with a body; extra is "" or header lines ending in \r\n. */
static int respond(int fd, int status, const char *ctype, const char *extra,
		   const char *body, size_t len)
{
	if (sendf(fd, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s\r\n",
		  status, reason(status), ctype, len, extra) < 0)
		return -1;
	return len ? send_all(fd, body, len) : 0;
}

static int respond_text(int fd, int status, const char *text)
{
	return respond(fd, status, "text/plain", "", text, strlen(text));
}

static int respond_big(int fd, size_t bytes, int chunked)
{
	static char block[16384];
	memset(block, 'x', sizeof(block));
	if (chunked ? sendf(fd, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
				"Transfer-Encoding: chunked\r\n\r\n")
		    : sendf(fd, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
				"Content-Length: %zu\r\n\r\n", bytes))
		return -1;
	while (bytes) {
		size_t n = bytes < sizeof(block) ? bytes : sizeof(block);
		if ((chunked && sendf(fd, "%zx\r\n", n) < 0) || send_all(fd, block, n) < 0 ||
		    (chunked && send_all(fd, "\r\n", 2) < 0))
			return -1;
		bytes -= n;
	}
	return chunked ? send_all(fd, "0\r\n\r\n", 5) : 0;
}

static int respond_echo(int fd, const struct request *rq)
{
	json_t *body = rq->body_len ? json_stringn(rq->body, rq->body_len) : json_string("");
	json_t *echo = json_pack("{s:s,s:s,s:O,s:o,s:I}", "method", rq->method, "path",
				 rq->path, "headers", rq->headers, "body",
				 body ? body : json_null(), "body_bytes",
				 (json_int_t)rq->body_len);
	char *text = json_dumps(echo, JSON_COMPACT);
	int rc = respond(fd, 200, "application/json", "", text, strlen(text));
	free(text);
	json_decref(echo);
	return rc;
}

static void sleep_ms(unsigned long ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Close with RST: linger on, timeout 0. */
static _Noreturn void reset_and_exit(int fd)
{
	struct linger lg = { 1, 0 };
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
	_exit(0);
}

/* Serve one request; -1 closes the connection. */
/* ---- stub mode: answers from a file of onex-sim HTTP stubs -------------------------- */

static char stub_file[512]; /* set before the fork; "" = the fixed routes */

/* The path part of a stub URL ("http://users.test/a?b" -> "/a?b"). */
static const char *url_path(const char *url)
{
	const char *p = strstr(url, "://");
	p = p ? strchr(p + 3, '/') : NULL;
	return p ? p : "/";
}

static int body_matches(const json_t *want, const struct request *rq)
{
	if (!want)
		return 1;
	if (json_is_string(want))
		return rq->body_len == json_string_length(want) &&
		       memcmp(rq->body, json_string_value(want), rq->body_len) == 0;
	json_t *got = rq->body ? json_loadb(rq->body, rq->body_len, JSON_DECODE_ANY, NULL) : NULL;
	int same = got && json_equal(got, (json_t *)want);
	json_decref(got);
	return same;
}

/* The first stub whose method, URL path and (when given) body match, as the fake does. */
static int route_stub(int fd, const struct request *rq)
{
	json_t *stubs = json_load_file(stub_file, 0, NULL), *st;
	size_t i;
	int rc = -2;
	json_array_foreach(stubs, i, st) {
		const char *method = json_string_value(json_object_get(st, "method"));
		const char *url = json_string_value(json_object_get(st, "url"));
		const json_t *resp = json_object_get(st, "response");
		if (!method || !url || !resp || strcasecmp(method, rq->method) != 0 ||
		    strcmp(url_path(url), rq->path) != 0 ||
		    !body_matches(json_object_get(st, "body"), rq))
			continue;
		const json_t *status = json_object_get(resp, "status");
		const json_t *body = json_object_get(resp, "body");
		int code = status ? (int)json_integer_value(status) : 200;
		char head[8192];
		size_t n = (size_t)snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\n", code,
					    reason(code));
		const char *name;
		const json_t *v;
		json_object_foreach((json_t *)json_object_get(resp, "headers"), name, v)
			if (n < sizeof(head))
				n += (size_t)snprintf(head + n, sizeof(head) - n, "%s: %s\r\n", name,
						      json_string_value(v));
		char *text = NULL;
		size_t len = 0;
		if (json_is_string(body)) {
			text = strdup(json_string_value(body));
			len = json_string_length(body);
		} else if (body && !json_is_null(body)) {
			text = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
			len = text ? strlen(text) : 0;
		}
		if (code != 204 && code != 304 && n < sizeof(head))
			n += (size_t)snprintf(head + n, sizeof(head) - n, "Content-Length: %zu\r\n",
					      len);
		if (n + 2 < sizeof(head)) {
			memcpy(head + n, "\r\n", 2);
			n += 2;
		}
		rc = send_all(fd, head, n) < 0 || (len && send_all(fd, text, len) < 0) ? -1 : 0;
		free(text);
		break;
	}
	json_decref(stubs);
	if (rc == -2) {
		char text[1200];
		snprintf(text, sizeof(text), "no stub for %s %s", rq->method, rq->path);
		rc = respond_text(fd, 404, text);
	}
	return rc;
}

static int route(int fd, const struct request *rq)
{
	const char *p = rq->path;
	unsigned long n;
	if (stub_file[0])
		return route_stub(fd, rq);
	if (sscanf(p, "/status/%lu", &n) == 1) {
		char text[64];
		if (n == 204 || n == 304)
			return sendf(fd, "HTTP/1.1 %lu %s\r\nContent-Length: 0\r\n\r\n", n,
				     reason((int)n));
		snprintf(text, sizeof(text), "status %lu", n);
		return respond_text(fd, (int)n, text);
	}
	if (strcmp(p, "/json") == 0) {
		static const char body[] = "{\"hello\":\"world\",\"n\":[1,2,3]}";
		return respond(fd, 200, "application/json; charset=utf-8",
			       "X-Test-Header: Yes\r\n", body, sizeof(body) - 1);
	}
	if (strcmp(p, "/text") == 0)
		return respond_text(fd, 200, "hello, world");
	if (strcmp(p, "/badjson") == 0)
		return respond(fd, 200, "application/json", "", "{not json", 9);
	if (strcmp(p, "/headers") == 0)
		return respond(fd, 200, "text/plain",
			       "X-Mixed-Case: Value\r\nX-Dup: a\r\nX-Dup: b\r\n", "ok", 2);
	if (strcmp(p, "/echo") == 0)
		return respond_echo(fd, rq);
	if (sscanf(p, "/slow/%lu", &n) == 1) {
		sleep_ms(n);
		return respond_text(fd, 200, "slow");
	}
	if (strcmp(p, "/reset") == 0)
		reset_and_exit(fd);
	if (sscanf(p, "/big/%lu", &n) == 1)
		return respond_big(fd, n, 0);
	if (sscanf(p, "/stream/%lu", &n) == 1)
		return respond_big(fd, n, 1);
	if (strcmp(p, "/redirect") == 0)
		return sendf(fd, "HTTP/1.1 302 Found\r\nLocation: /json\r\nContent-Length: 0\r\n\r\n");
	if (strcmp(p, "/redirect-loop") == 0)
		return sendf(fd, "HTTP/1.1 302 Found\r\nLocation: /redirect-loop\r\n"
				 "Content-Length: 0\r\n\r\n");
	return respond_text(fd, 404, "not found");
}

static _Noreturn void serve_connection(int fd)
{
	static struct conn c;
	c.fd = fd;
	c.len = 0;
	for (;;) {
		struct request rq;
		memset(&rq, 0, sizeof(rq));
		rq.headers = json_object();
		int rc = read_head(&c, &rq);
		if (rc == 0)
			rc = read_body(&c, &rq);
		if (rc == 0) {
			const char *conn = json_string_value(json_object_get(rq.headers, "connection"));
			rq.close_after = conn && strcasecmp(conn, "close") == 0;
			rc = route(fd, &rq);
		}
		json_decref(rq.headers);
		free(rq.body);
		if (rc < 0 || rq.close_after)
			break;
	}
	close(fd);
	_exit(0);
}

/* ---- the server process ----------------------------------------------------------- */

static volatile sig_atomic_t stopping;

static void on_term(int sig)
{
	(void)sig;
	stopping = 1;
}

static int listen_loopback(unsigned short *port)
{
	struct sockaddr_in addr = { .sin_family = AF_INET };
	socklen_t alen = sizeof(addr);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    listen(fd, 64) < 0 || getsockname(fd, (struct sockaddr *)&addr, &alen) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	*port = ntohs(addr.sin_port);
	return fd;
}

static _Noreturn void server_main(int report_fd, unsigned *connections)
{
	struct sigaction sa = { 0 };
	unsigned short port = 0;
	int lfd;
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	sa.sa_handler = on_term; /* no SA_RESTART: accept() returns EINTR */
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGCHLD, SIG_IGN); /* connection children reap themselves */
	signal(SIGPIPE, SIG_IGN);
	lfd = listen_loopback(&port);
	if (write(report_fd, &port, sizeof(port)) != (ssize_t)sizeof(port) || lfd < 0)
		_exit(1);
	close(report_fd);
	while (!stopping) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		__atomic_add_fetch(connections, 1u, __ATOMIC_SEQ_CST);
		pid_t pid = fork();
		if (pid == 0) {
			int one = 1;
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			/* Head and body are separate writes: without this, Nagle and
			 * the client's delayed ACK add 40 ms to every response. */
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			close(lfd);
			serve_connection(fd);
		}
		close(fd);
	}
	close(lfd);
	_exit(0);
}

int http_server_start(struct http_server *srv)
{
	int fds[2];
	unsigned short port = 0;
	memset(srv, 0, sizeof(*srv));
	srv->connections = mmap(NULL, sizeof(unsigned), PROT_READ | PROT_WRITE,
				MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (srv->connections == MAP_FAILED || pipe(fds) < 0) {
		srv->connections = NULL;
		return -1;
	}
	*srv->connections = 0;
	fflush(NULL); /* nothing buffered is written twice */
	srv->pid = fork();
	if (srv->pid == 0) {
		close(fds[0]);
		server_main(fds[1], srv->connections);
	}
	close(fds[1]);
	if (srv->pid < 0 || read(fds[0], &port, sizeof(port)) != (ssize_t)sizeof(port) ||
	    port == 0) {
		close(fds[0]);
		http_server_stop(srv);
		return -1;
	}
	close(fds[0]);
	srv->port = port;
	return 0;
}

int http_server_start_stubs(struct http_server *srv, const char *stubs_path)
{
	if (snprintf(stub_file, sizeof(stub_file), "%s", stubs_path) >= (int)sizeof(stub_file))
		return -1;
	int rc = http_server_start(srv);
	stub_file[0] = '\0'; /* the parent's copy; the server keeps its own */
	return rc;
}

void http_server_stop(struct http_server *srv)
{
	if (srv->pid > 0) {
		kill(srv->pid, SIGTERM);
		while (waitpid(srv->pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	srv->pid = 0;
	if (srv->connections)
		munmap(srv->connections, sizeof(unsigned));
	srv->connections = NULL;
}

unsigned http_server_connections(const struct http_server *srv)
{
	return __atomic_load_n(srv->connections, __ATOMIC_SEQ_CST);
}

const char *http_server_url(const struct http_server *srv, const char *path, char *buf,
			    size_t size)
{
	snprintf(buf, size, "http://127.0.0.1:%u%s", (unsigned)srv->port, path);
	return buf;
}

unsigned short http_server_closed_port(void)
{
	unsigned short port = 0;
	int fd = listen_loopback(&port);
	if (fd < 0)
		return 0;
	close(fd); /* nothing listens there now: connect() is refused */
	return port;
}
