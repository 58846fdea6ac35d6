/*
 * stdio_bus.c - the stdio bus: one envelope per input line, one reply per
 * output line.
 *
 * Input is pulled: the bus reads only while it holds no complete line, so
 * at most one line (capped at ONEX_ENVELOPE_BYTES_MAX) plus one read chunk
 * is buffered. A longer line is not kept: its bytes are counted and it is
 * delivered empty with its real size, so the host answers it with a
 * size error and goes on. Lines are delivered one per loop turn and never
 * while paused. Blank lines are skipped (JSON-lines convention). End of
 * input calls the subscriber's `closed` callback once every line has been
 * delivered. Stdin that epoll cannot watch (a regular file) is read on
 * zero-delay timers instead; a regular file never blocks.
 *
 * Output is written with blocking write(2): stdout is the consumer's pipe
 * and a slow reader should slow the host down, not make it buffer without
 * bound.
 */
#include "stdio_bus.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "contract.h"
#include "limits.h"
#include "log.h"
#include "loop.h"

struct stdio_bus {
	struct onex_bus base;
	struct onex_bus_env env;
	int in_fd, out_fd;
	char topic[ONEX_TOPIC_BYTES_MAX + 1];
	onex_bus_deliver_cb deliver;
	onex_bus_closed_cb closed;
	void *arg;
	char *buf; /* pending input */
	size_t len, cap;
	size_t skip_bytes; /* >0 while discarding an oversized line */
	int skipping, eof, watching, poll_reads, consuming, paused, shut, closed_sent;
	int step_scheduled;
	uint64_t line_no;
	uint64_t delivered, published, oversized;
	/* Publishes confirmed on the next loop turn. */
	struct pending_done {
		onex_bus_published_cb done;
		void *arg;
		struct pending_done *next;
	} *done_head, **done_tail;
	int done_scheduled;
};

static void schedule_step(struct stdio_bus *bus);
static void on_readable(void *arg, int fd, unsigned events);

static void set_watch(struct stdio_bus *bus, int on)
{
	if (bus->poll_reads || on == bus->watching)
		return;
	bus->watching = on;
	if (on)
		onex_loop_fd_watch(bus->env.loop, bus->in_fd, ONEX_LOOP_READABLE,
				   on_readable, bus, NULL);
	else
		onex_loop_fd_unwatch(bus->env.loop, bus->in_fd);
}

/* Deliver one message for [data, data+len) (len_original may be larger). */
static void deliver(struct stdio_bus *bus, const char *data, size_t len, size_t len_original)
{
	char position[48];
	snprintf(position, sizeof(position), "stdin line %llu",
		 (unsigned long long)bus->line_no);
	struct onex_bus_message msg = { bus->topic, data, len, len_original, position,
					bus->line_no };
	bus->delivered++;
	bus->deliver(bus->arg, &msg);
}

/* The first newline in the buffer, or NULL (the buffer may not exist yet). */
static char *find_newline(const struct stdio_bus *bus)
{
	return bus->len ? memchr(bus->buf, '\n', bus->len) : NULL;
}

static int is_blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return 0;
	return 1;
}

/* Consume input up to and including one non-blank line; 1 if delivered. */
static int deliver_one(struct stdio_bus *bus)
{
	for (;;) {
		char *nl = find_newline(bus);
		size_t line_len, used;
		if (nl) {
			line_len = (size_t)(nl - bus->buf);
			used = line_len + 1;
		} else if (bus->eof && (bus->len || bus->skipping)) {
			line_len = used = bus->len; /* last line without newline */
		} else {
			return 0;
		}
		bus->line_no++;
		if (bus->skipping) { /* tail of an oversized line */
			size_t total = bus->skip_bytes + line_len;
			bus->skipping = 0;
			bus->skip_bytes = 0;
			memmove(bus->buf, bus->buf + used, bus->len - used);
			bus->len -= used;
			bus->oversized++;
			deliver(bus, "", 0, total);
			return 1;
		}
		int blank = is_blank(bus->buf, line_len);
		if (!blank) {
			if (line_len && bus->buf[line_len - 1] == '\r')
				line_len--;
			deliver(bus, bus->buf, line_len, line_len);
		}
		memmove(bus->buf, bus->buf + used, bus->len - used);
		bus->len -= used;
		if (!blank)
			return 1;
	}
}

static void read_input(struct stdio_bus *bus)
{
	if (bus->len + ONEX_STDIO_READ_CHUNK_BYTES > bus->cap) {
		size_t cap = bus->len + ONEX_STDIO_READ_CHUNK_BYTES;
		char *nbuf = realloc(bus->buf, cap);
		if (!nbuf)
			ONEX_BUG("out of memory for %zu bytes of stdin", cap);
		bus->buf = nbuf;
		bus->cap = cap;
	}
	ssize_t n = read(bus->in_fd, bus->buf + bus->len, ONEX_STDIO_READ_CHUNK_BYTES);
	if (n < 0) {
		if (errno == EINTR || errno == EAGAIN)
			return;
		onex_log(bus->env.log, ONEX_LOG_ERROR, NULL, NULL,
			 "stdio bus: reading stdin failed: %s; treating as end of input",
			 strerror(errno));
		n = 0;
	}
	if (n == 0) {
		bus->eof = 1;
		return;
	}
	bus->len += (size_t)n;
	/* A line longer than the limit is counted, not kept. */
	if (!find_newline(bus) &&
	    (bus->skipping || bus->len > ONEX_ENVELOPE_BYTES_MAX)) {
		bus->skip_bytes += bus->len;
		bus->skipping = 1;
		bus->len = 0;
	}
}

/* One turn: deliver a line if one is ready, else read, else report EOF. */
static void step(void *arg)
{
	struct stdio_bus *bus = arg;
	bus->step_scheduled = 0;
	if (bus->shut || !bus->consuming || bus->paused)
		return;
	if (deliver_one(bus)) {
		schedule_step(bus);
		return;
	}
	if (bus->eof) {
		set_watch(bus, 0);
		if (!bus->closed_sent) {
			bus->closed_sent = 1;
			if (bus->closed)
				bus->closed(bus->arg);
		}
		return;
	}
	if (bus->poll_reads) {
		read_input(bus);
		schedule_step(bus);
	} else {
		set_watch(bus, 1);
	}
}

static void schedule_step(struct stdio_bus *bus)
{
	if (bus->step_scheduled || bus->shut)
		return;
	bus->step_scheduled = 1;
	onex_loop_timer_add(bus->env.loop, 0, step, bus, NULL, NULL);
}

static void on_readable(void *arg, int fd, unsigned events)
{
	struct stdio_bus *bus = arg;
	(void)fd;
	(void)events;
	read_input(bus);
	if (find_newline(bus) || bus->eof || bus->skipping)
		set_watch(bus, 0);
	step(bus);
}

static int bus_subscribe(struct onex_bus *base, const char *topic,
			 onex_bus_deliver_cb cb, onex_bus_closed_cb closed, void *arg,
			 struct onex_error *err)
{
	struct stdio_bus *bus = (struct stdio_bus *)base;
	if (bus->deliver)
		return onex_error_set(err, ONEX_ERR_EVENT_BUS_ERROR, "stdio bus", 0, 0,
				      "stdin already has a subscriber (topic %s)", bus->topic);
	snprintf(bus->topic, sizeof(bus->topic), "%s", topic);
	bus->deliver = cb;
	bus->closed = closed;
	bus->arg = arg;
	return 0;
}

static int bus_start(struct onex_bus *base, struct onex_error *err)
{
	struct stdio_bus *bus = (struct stdio_bus *)base;
	struct onex_error werr;
	if (!bus->deliver)
		return 0; /* publish-only */
	onex_error_clear(&werr);
	if (onex_loop_fd_watch(bus->env.loop, bus->in_fd, ONEX_LOOP_READABLE, on_readable,
			       bus, &werr) < 0) {
		if (werr.backend_code != EPERM) {
			*err = werr;
			return -1;
		}
		bus->poll_reads = 1; /* regular file: reads never block */
	} else {
		onex_loop_fd_unwatch(bus->env.loop, bus->in_fd);
	}
	bus->consuming = 1;
	schedule_step(bus);
	return 0;
}

static void run_dones(void *arg)
{
	struct stdio_bus *bus = arg;
	bus->done_scheduled = 0;
	while (bus->done_head) {
		struct pending_done *p = bus->done_head;
		bus->done_head = p->next;
		if (!bus->done_head)
			bus->done_tail = &bus->done_head;
		p->done(p->arg, 0, NULL);
		free(p);
	}
}

static int write_all(int fd, const char *data, size_t len)
{
	while (len) {
		ssize_t n = write(fd, data, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

static int bus_publish(struct onex_bus *base, const char *topic, const char *key,
		       const char *data, size_t len, onex_bus_published_cb done,
		       void *done_arg, struct onex_error *err)
{
	struct stdio_bus *bus = (struct stdio_bus *)base;
	(void)topic;
	(void)key;
	if (bus->shut)
		return onex_error_set(err, ONEX_ERR_EVENT_BUS_ERROR, "stdio bus", 0, 0,
				      "the bus is shut down");
	if (write_all(bus->out_fd, data, len) < 0 || write_all(bus->out_fd, "\n", 1) < 0) {
		int e = errno;
		onex_error_set(err, ONEX_ERR_EVENT_BUS_ERROR, "stdio bus", 0, 0,
			       "writing stdout failed: %s", strerror(e));
		if (err)
			err->backend_code = e;
		return -1;
	}
	bus->published++;
	if (done) {
		struct pending_done *p = malloc(sizeof(*p));
		if (!p)
			ONEX_BUG("out of memory");
		*p = (struct pending_done){ done, done_arg, NULL };
		*bus->done_tail = p;
		bus->done_tail = &p->next;
		if (!bus->done_scheduled) {
			bus->done_scheduled = 1;
			onex_loop_timer_add(bus->env.loop, 0, run_dones, bus, NULL, NULL);
		}
	}
	return 0;
}

static void bus_ack(struct onex_bus *base, uint64_t token)
{
	(void)base; /* stdin cannot be re-read: nothing to commit */
	(void)token;
}

static void bus_pause(struct onex_bus *base)
{
	struct stdio_bus *bus = (struct stdio_bus *)base;
	bus->paused = 1;
	set_watch(bus, 0);
}

static void bus_resume(struct onex_bus *base)
{
	struct stdio_bus *bus = (struct stdio_bus *)base;
	bus->paused = 0;
	schedule_step(bus);
}

static json_t *bus_health(struct onex_bus *base)
{
	struct stdio_bus *bus = (struct stdio_bus *)base;
	return json_pack("{s:b,s:b,s:I,s:I,s:I}", "healthy", !bus->shut, "input_ended",
			 bus->eof, "lines_delivered", (json_int_t)bus->delivered,
			 "lines_published", (json_int_t)bus->published, "oversized_lines",
			 (json_int_t)bus->oversized);
}

static json_t *bus_describe(struct onex_bus *base)
{
	(void)base;
	return json_pack("{s:s,s:s,s:s,s:i}", "kind", "stdio", "input",
			 "JSON lines on stdin", "output", "JSON lines on stdout",
			 "line_bytes_max", (int)ONEX_ENVELOPE_BYTES_MAX);
}

static void bus_shutdown(struct onex_bus *base)
{
	struct stdio_bus *bus = (struct stdio_bus *)base;
	if (bus->shut)
		return;
	set_watch(bus, 0);
	run_dones(bus); /* writes already happened: confirm them */
	bus->shut = 1;
}

static void bus_free(struct onex_bus *base)
{
	struct stdio_bus *bus = (struct stdio_bus *)base;
	set_watch(bus, 0);
	while (bus->done_head) {
		struct pending_done *p = bus->done_head;
		bus->done_head = p->next;
		free(p);
	}
	free(bus->buf);
	free(bus);
}

static const struct onex_bus_ops stdio_bus_ops = {
	.kind = "stdio",
	.subscribe = bus_subscribe,
	.start_consuming = bus_start,
	.publish = bus_publish,
	.ack = bus_ack,
	.pause = bus_pause,
	.resume = bus_resume,
	.health_check = bus_health,
	.describe = bus_describe,
	.shutdown = bus_shutdown,
	.free = bus_free,
};

struct onex_bus *onex_stdio_bus_new_fds(const struct onex_bus_env *env, int in_fd,
					int out_fd, struct onex_error *err)
{
	struct stdio_bus *bus = calloc(1, sizeof(*bus));
	if (!bus) {
		onex_error_set(err, ONEX_ERR_EVENT_BUS_ERROR, "stdio bus", 0, 0, "out of memory");
		return NULL;
	}
	bus->base.ops = &stdio_bus_ops;
	bus->env = *env;
	bus->in_fd = in_fd;
	bus->out_fd = out_fd;
	bus->done_tail = &bus->done_head;
	return &bus->base;
}

static struct onex_bus *stdio_create(const struct onex_bus_env *env,
				     const struct onex_contract_bus *config,
				     struct onex_error *err)
{
	(void)config;
	return onex_stdio_bus_new_fds(env, STDIN_FILENO, STDOUT_FILENO, err);
}

const struct onex_bus_unit onex_stdio_bus_unit = { "stdio", stdio_create };
