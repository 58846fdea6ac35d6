/*
 * loop.h - the event-loop port: timers and descriptor readiness.
 *
 * The host and every unit run on one thread and never block; they ask the
 * loop to call them back "after this delay" or "when this fd is ready".
 * The real unit is epoll-based (core/units/epoll_loop.c); the simulation
 * unit is a discrete-event scheduler over virtual time (sim/), which has
 * no descriptors and answers fd_watch with an error.
 *
 * Ordering guarantee every implementation keeps: timers fire in order of
 * due time, and timers due at the same time fire in the order they were
 * added. A callback is never invoked from inside the call that schedules it.
 */
#ifndef ONEX_LOOP_H
#define ONEX_LOOP_H

#include <stdint.h>

#include "error.h"

enum { ONEX_LOOP_READABLE = 1u, ONEX_LOOP_WRITABLE = 2u };

struct onex_loop;
typedef void (*onex_loop_timer_cb)(void *arg);
typedef void (*onex_loop_fd_cb)(void *arg, int fd, unsigned events);

struct onex_loop_ops {
	const char *name;
	/* The loop's clock, in ns from an arbitrary origin. */
	uint64_t (*now_ns)(struct onex_loop *loop);
	/* Call cb(arg) after delay_ns (0 = soon). *timer_id may be NULL. */
	int (*timer_add)(struct onex_loop *loop, uint64_t delay_ns,
			 onex_loop_timer_cb cb, void *arg, uint64_t *timer_id,
			 struct onex_error *err);
	/* Cancel a pending timer: 0, or -1 if it already fired or is unknown. */
	int (*timer_cancel)(struct onex_loop *loop, uint64_t timer_id);
	/* Watch fd for `events`; replaces an earlier watch of the same fd. */
	int (*fd_watch)(struct onex_loop *loop, int fd, unsigned events,
			onex_loop_fd_cb cb, void *arg, struct onex_error *err);
	int (*fd_unwatch)(struct onex_loop *loop, int fd);
	/* Run until stop() or until nothing is left to wait for. 0 or -1. */
	int (*run)(struct onex_loop *loop);
	void (*stop)(struct onex_loop *loop);
	void (*free)(struct onex_loop *loop);
};

/* Base struct: embed first in every loop implementation. */
struct onex_loop {
	const struct onex_loop_ops *ops;
};

static inline uint64_t onex_loop_now_ns(struct onex_loop *loop)
{
	return loop->ops->now_ns(loop);
}

static inline int onex_loop_timer_add(struct onex_loop *loop, uint64_t delay_ns,
				      onex_loop_timer_cb cb, void *arg,
				      uint64_t *timer_id, struct onex_error *err)
{
	return loop->ops->timer_add(loop, delay_ns, cb, arg, timer_id, err);
}

static inline int onex_loop_timer_cancel(struct onex_loop *loop, uint64_t id)
{
	return loop->ops->timer_cancel(loop, id);
}

static inline int onex_loop_fd_watch(struct onex_loop *loop, int fd,
				     unsigned events, onex_loop_fd_cb cb,
				     void *arg, struct onex_error *err)
{
	return loop->ops->fd_watch(loop, fd, events, cb, arg, err);
}

static inline int onex_loop_fd_unwatch(struct onex_loop *loop, int fd)
{
	return loop->ops->fd_unwatch(loop, fd);
}

static inline int onex_loop_run(struct onex_loop *loop)
{
	return loop->ops->run(loop);
}

static inline void onex_loop_stop(struct onex_loop *loop)
{
	loop->ops->stop(loop);
}

static inline void onex_loop_free(struct onex_loop *loop)
{
	if (loop && loop->ops->free)
		loop->ops->free(loop);
}

#endif
