/*
 * test_epoll_loop.c - the real event loop: timers fire by due time then by
 * insertion order, cancel works (also of a fired timer: -1), descriptors
 * wake their callbacks, stop() ends run(), and run() returns when nothing
 * is left to wait for.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <unistd.h>

#include "system_units.h"

struct log {
	char order[64];
	size_t n;
	struct onex_loop *loop;
};

struct mark {
	struct log *log;
	char c;
};

static void record(void *arg)
{
	struct mark *m = arg;
	m->log->order[m->log->n++] = m->c;
}

static struct onex_loop *new_loop(void)
{
	struct onex_error err;
	onex_error_clear(&err);
	struct onex_loop *loop = onex_epoll_loop_new(&err);
	assert_non_null(loop);
	return loop;
}

static void test_timer_order_and_cancel(void **state)
{
	(void)state;
	struct onex_loop *loop = new_loop();
	struct log log = { "", 0, loop };
	struct mark a = { &log, 'a' }, b = { &log, 'b' }, c = { &log, 'c' }, d = { &log, 'd' };
	uint64_t id_c, id_a;
	/* Same due time: insertion order. Later due: after. */
	assert_int_equal(onex_loop_timer_add(loop, 2000000, record, &b, NULL, NULL), 0);
	assert_int_equal(onex_loop_timer_add(loop, 1000000, record, &a, &id_a, NULL), 0);
	assert_int_equal(onex_loop_timer_add(loop, 1000000, record, &d, NULL, NULL), 0);
	assert_int_equal(onex_loop_timer_add(loop, 1500000, record, &c, &id_c, NULL), 0);
	assert_int_equal(onex_loop_timer_cancel(loop, id_c), 0);
	assert_int_equal(onex_loop_timer_cancel(loop, id_c), -1); /* twice: unknown */
	uint64_t t0 = onex_loop_now_ns(loop);
	assert_int_equal(onex_loop_run(loop), 0); /* returns: nothing left */
	assert_true(onex_loop_now_ns(loop) - t0 >= 2000000);
	log.order[log.n] = '\0';
	assert_string_equal(log.order, "adb");
	assert_int_equal(onex_loop_timer_cancel(loop, id_a), -1); /* fired already */
	onex_loop_free(loop);
}

static void stop_loop(void *arg)
{
	onex_loop_stop(arg);
}

static void test_stop_ends_run(void **state)
{
	(void)state;
	struct onex_loop *loop = new_loop();
	struct log log = { "", 0, loop };
	struct mark late = { &log, 'x' };
	onex_loop_timer_add(loop, 0, stop_loop, loop, NULL, NULL);
	onex_loop_timer_add(loop, 50000000, record, &late, NULL, NULL);
	assert_int_equal(onex_loop_run(loop), 0);
	assert_int_equal(log.n, 0); /* stopped before the later timer */
	onex_loop_free(loop);
}

struct fd_seen {
	struct onex_loop *loop;
	int fd;
	unsigned events;
	char byte;
};

static void on_fd(void *arg, int fd, unsigned events)
{
	struct fd_seen *s = arg;
	s->fd = fd;
	s->events = events;
	assert_int_equal(read(fd, &s->byte, 1), 1);
	onex_loop_fd_unwatch(s->loop, fd);
}

static void write_later(void *arg)
{
	int *fd = arg;
	assert_int_equal(write(*fd, "z", 1), 1);
}

static void test_fd_readiness(void **state)
{
	(void)state;
	struct onex_loop *loop = new_loop();
	int p[2];
	assert_int_equal(pipe(p), 0);
	struct fd_seen seen = { loop, -1, 0, 0 };
	assert_int_equal(onex_loop_fd_watch(loop, p[0], ONEX_LOOP_READABLE, on_fd, &seen, NULL), 0);
	onex_loop_timer_add(loop, 1000000, write_later, &p[1], NULL, NULL);
	assert_int_equal(onex_loop_run(loop), 0); /* ends once the fd is unwatched */
	assert_int_equal(seen.fd, p[0]);
	assert_true(seen.events & ONEX_LOOP_READABLE);
	assert_int_equal(seen.byte, 'z');
	assert_int_equal(onex_loop_fd_unwatch(loop, p[0]), -1); /* not watched any more */
	struct onex_error err;
	onex_error_clear(&err);
	assert_int_equal(onex_loop_fd_watch(loop, -1, ONEX_LOOP_READABLE, on_fd, &seen, &err), -1);
	assert_int_equal(err.code, ONEX_ERR_EVENT_BUS_ERROR);
	close(p[0]);
	close(p[1]);
	onex_loop_free(loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_timer_order_and_cancel),
		cmocka_unit_test(test_stop_ends_run),
		cmocka_unit_test(test_fd_readiness),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
