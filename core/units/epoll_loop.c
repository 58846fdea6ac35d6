/*
 * epoll_loop.c - the real event loop: epoll for descriptors, a binary
 * min-heap of (due, seq) for timers, CLOCK_MONOTONIC for time.
 *
 * Timer ids encode (slot, generation) so a cancel of a timer that already
 * fired is recognised without a lookup table. Each turn fires only timers
 * that were due and scheduled before the turn began, so a callback that
 * keeps adding zero-delay timers cannot starve descriptors.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "limits.h"
#include "system_units.h"

struct timer_slot {
	uint64_t due_ns;
	uint64_t seq;
	onex_loop_timer_cb cb;
	void *arg;
	uint32_t gen;
	uint32_t heap_index; /* position in heap, valid when active */
	int active;
};

struct fd_watch {
	onex_loop_fd_cb cb;
	void *arg;
	unsigned events;
	int active;
};

struct epoll_loop {
	struct onex_loop base;
	int epfd;
	int stopped;
	uint64_t seq;
	struct timer_slot *slots;
	uint32_t slot_count, slot_cap;
	uint32_t *free_slots;
	uint32_t free_count;
	uint32_t *heap; /* slot indexes */
	uint32_t heap_len;
	struct fd_watch fds[ONEX_LOOP_FDS_MAX];
	unsigned fd_count;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t loop_now_ns(struct onex_loop *base)
{
	(void)base;
	return mono_ns();
}

static int slot_before(const struct epoll_loop *l, uint32_t a, uint32_t b)
{
	const struct timer_slot *x = &l->slots[a], *y = &l->slots[b];
	return x->due_ns < y->due_ns || (x->due_ns == y->due_ns && x->seq < y->seq);
}

static void heap_set(struct epoll_loop *l, uint32_t pos, uint32_t slot)
{
	l->heap[pos] = slot;
	l->slots[slot].heap_index = pos;
}

static void sift_up(struct epoll_loop *l, uint32_t pos)
{
	uint32_t slot = l->heap[pos];
	while (pos > 0) {
		uint32_t parent = (pos - 1) / 2;
		if (!slot_before(l, slot, l->heap[parent]))
			break;
		heap_set(l, pos, l->heap[parent]);
		pos = parent;
	}
	heap_set(l, pos, slot);
}

static void sift_down(struct epoll_loop *l, uint32_t pos)
{
	uint32_t slot = l->heap[pos];
	for (;;) {
		uint32_t child = 2 * pos + 1;
		if (child >= l->heap_len)
			break;
		if (child + 1 < l->heap_len && slot_before(l, l->heap[child + 1], l->heap[child]))
			child++;
		if (!slot_before(l, l->heap[child], slot))
			break;
		heap_set(l, pos, l->heap[child]);
		pos = child;
	}
	heap_set(l, pos, slot);
}

static void heap_remove(struct epoll_loop *l, uint32_t pos)
{
	uint32_t last = l->heap[--l->heap_len];
	if (pos == l->heap_len)
		return;
	heap_set(l, pos, last);
	sift_up(l, pos);
	sift_down(l, l->slots[last].heap_index);
}

static int grow(struct epoll_loop *l)
{
	uint32_t cap = l->slot_cap ? l->slot_cap * 2 : 64;
	if (cap > ONEX_LOOP_TIMERS_MAX)
		cap = ONEX_LOOP_TIMERS_MAX;
	if (cap <= l->slot_cap)
		return -1;
	struct timer_slot *slots = realloc(l->slots, cap * sizeof(*slots));
	if (!slots)
		return -1;
	l->slots = slots;
	uint32_t *heap = realloc(l->heap, cap * sizeof(*heap));
	if (!heap)
		return -1;
	l->heap = heap;
	uint32_t *free_slots = realloc(l->free_slots, cap * sizeof(*free_slots));
	if (!free_slots)
		return -1;
	l->free_slots = free_slots;
	l->slot_cap = cap;
	return 0;
}

static int timer_add(struct onex_loop *base, uint64_t delay_ns, onex_loop_timer_cb cb,
		     void *arg, uint64_t *timer_id, struct onex_error *err)
{
	struct epoll_loop *l = (struct epoll_loop *)base;
	uint32_t slot;
	if (l->free_count) {
		slot = l->free_slots[--l->free_count];
	} else {
		if (l->slot_count == l->slot_cap && grow(l) < 0)
			return onex_error_set(err, ONEX_ERR_EVENT_BUS_ERROR, "epoll loop", 0, 0,
					      "too many timers (limit %u)", ONEX_LOOP_TIMERS_MAX);
		slot = l->slot_count++;
		l->slots[slot].gen = 0;
	}
	struct timer_slot *t = &l->slots[slot];
	t->due_ns = mono_ns() + delay_ns;
	t->seq = l->seq++;
	t->cb = cb;
	t->arg = arg;
	t->gen++;
	t->active = 1;
	heap_set(l, l->heap_len++, slot);
	sift_up(l, l->heap_len - 1);
	if (timer_id)
		*timer_id = ((uint64_t)t->gen << 32) | slot;
	return 0;
}

static void slot_release(struct epoll_loop *l, uint32_t slot)
{
	l->slots[slot].active = 0;
	l->free_slots[l->free_count++] = slot;
}

static int timer_cancel(struct onex_loop *base, uint64_t timer_id)
{
	struct epoll_loop *l = (struct epoll_loop *)base;
	uint32_t slot = (uint32_t)timer_id, gen = (uint32_t)(timer_id >> 32);
	if (slot >= l->slot_count || !l->slots[slot].active || l->slots[slot].gen != gen)
		return -1;
	heap_remove(l, l->slots[slot].heap_index);
	slot_release(l, slot);
	return 0;
}

static int fd_watch(struct onex_loop *base, int fd, unsigned events, onex_loop_fd_cb cb,
		    void *arg, struct onex_error *err)
{
	struct epoll_loop *l = (struct epoll_loop *)base;
	struct epoll_event ev = { 0 };
	if (fd < 0 || (unsigned)fd >= ONEX_LOOP_FDS_MAX)
		return onex_error_set(err, ONEX_ERR_EVENT_BUS_ERROR, "epoll loop", 0, 0,
				      "descriptor %d is out of range (limit %u)", fd,
				      ONEX_LOOP_FDS_MAX);
	ev.events = ((events & ONEX_LOOP_READABLE) ? EPOLLIN : 0u) |
		    ((events & ONEX_LOOP_WRITABLE) ? EPOLLOUT : 0u);
	ev.data.fd = fd;
	int op = l->fds[fd].active ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
	if (epoll_ctl(l->epfd, op, fd, &ev) < 0) {
		int e = errno;
		onex_error_set(err, ONEX_ERR_EVENT_BUS_ERROR, "epoll loop", 0, 0,
			       "cannot watch descriptor %d: %s", fd, strerror(e));
		if (err)
			err->backend_code = e;
		return -1;
	}
	if (!l->fds[fd].active)
		l->fd_count++;
	l->fds[fd] = (struct fd_watch){ cb, arg, events, 1 };
	return 0;
}

static int fd_unwatch(struct onex_loop *base, int fd)
{
	struct epoll_loop *l = (struct epoll_loop *)base;
	if (fd < 0 || (unsigned)fd >= ONEX_LOOP_FDS_MAX || !l->fds[fd].active)
		return -1;
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
	l->fds[fd].active = 0;
	l->fd_count--;
	return 0;
}

static void fire_due_timers(struct epoll_loop *l)
{
	uint64_t now = mono_ns(), seq_limit = l->seq;
	while (l->heap_len && !l->stopped) {
		uint32_t slot = l->heap[0];
		struct timer_slot *t = &l->slots[slot];
		if (t->due_ns > now || t->seq >= seq_limit)
			break;
		onex_loop_timer_cb cb = t->cb;
		void *arg = t->arg;
		heap_remove(l, 0);
		slot_release(l, slot);
		cb(arg);
	}
}

static int next_timeout_ms(struct epoll_loop *l)
{
	if (!l->heap_len)
		return -1;
	uint64_t due = l->slots[l->heap[0]].due_ns, now = mono_ns();
	if (due <= now)
		return 0;
	uint64_t ms = (due - now + 999999u) / 1000000u;
	return ms > 60000 ? 60000 : (int)ms;
}

static int loop_run(struct onex_loop *base)
{
	struct epoll_loop *l = (struct epoll_loop *)base;
	struct epoll_event events[64];
	l->stopped = 0;
	while (!l->stopped && (l->heap_len || l->fd_count)) {
		int n = epoll_wait(l->epfd, events, 64, next_timeout_ms(l));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		for (int i = 0; i < n && !l->stopped; i++) {
			int fd = events[i].data.fd;
			struct fd_watch *w = &l->fds[fd];
			if (!w->active)
				continue; /* unwatched by an earlier callback this turn */
			unsigned ev = 0;
			if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
				ev |= ONEX_LOOP_READABLE;
			if (events[i].events & (EPOLLOUT | EPOLLERR))
				ev |= ONEX_LOOP_WRITABLE;
			w->cb(w->arg, fd, ev);
		}
		fire_due_timers(l);
	}
	return 0;
}

static void loop_stop(struct onex_loop *base)
{
	((struct epoll_loop *)base)->stopped = 1;
}

static void loop_free(struct onex_loop *base)
{
	struct epoll_loop *l = (struct epoll_loop *)base;
	close(l->epfd);
	free(l->slots);
	free(l->heap);
	free(l->free_slots);
	free(l);
}

static const struct onex_loop_ops epoll_loop_ops = {
	.name = "epoll",
	.now_ns = loop_now_ns,
	.timer_add = timer_add,
	.timer_cancel = timer_cancel,
	.fd_watch = fd_watch,
	.fd_unwatch = fd_unwatch,
	.run = loop_run,
	.stop = loop_stop,
	.free = loop_free,
};

struct onex_loop *onex_epoll_loop_new(struct onex_error *err)
{
	struct epoll_loop *l = calloc(1, sizeof(*l));
	if (!l) {
		onex_error_set(err, ONEX_ERR_EVENT_BUS_ERROR, "epoll loop", 0, 0, "out of memory");
		return NULL;
	}
	l->base.ops = &epoll_loop_ops;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		onex_error_set(err, ONEX_ERR_EVENT_BUS_ERROR, "epoll loop", 0, 0,
			       "epoll_create1: %s", strerror(errno));
		free(l);
		return NULL;
	}
	return &l->base;
}
