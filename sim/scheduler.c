/*
 * scheduler.c - discrete-event scheduler: a binary min-heap of timer slots.
 *
 * Timers live in a slot array; the heap holds slot indices ordered by
 * (due_ns, seq), and each slot remembers its heap position, so cancel is
 * O(log n) with no tombstones. A timer id is (generation << 32 | slot + 1):
 * a slot's generation changes each time it is freed, so a stale id (timer
 * already fired or cancelled) is recognised and refused.
 */
#include "scheduler.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "limits.h"

#define SLOT_NONE UINT32_MAX
#define SLOTS_INITIAL 64u

struct slot {
	uint64_t due_ns;
	uint64_t seq;
	onex_loop_timer_cb cb;
	void *arg;
	uint32_t gen;
	uint32_t heap_pos;  /* SLOT_NONE while the slot is free */
	uint32_t next_free; /* free-list link while free */
};

struct onex_sim_scheduler {
	struct onex_loop loop; /* first: the loop port */
	struct onex_clock clock;
	uint64_t now_ns;
	int64_t wall_epoch_ns;
	int64_t wall_jump_ns;
	struct slot *slots;
	uint32_t *heap;
	uint32_t slot_cap;   /* allocated slots (and heap entries) */
	uint32_t slot_inited; /* slots ever handed out: [0, slot_inited) */
	uint32_t free_head;
	uint32_t heap_len;
	uint64_t next_seq;
	uint64_t fired;
	int stop_requested;
	int running;
};

static const struct onex_loop_ops sched_loop_ops;

static struct onex_sim_scheduler *from_clock(struct onex_clock *clock)
{
	return (struct onex_sim_scheduler *)((char *)clock -
					     offsetof(struct onex_sim_scheduler, clock));
}

static struct onex_sim_scheduler *loop_self(struct onex_loop *loop)
{
	struct onex_sim_scheduler *sched = onex_sim_scheduler_from_loop(loop);
	if (!sched)
		ONEX_BUG("loop %s is not the simulation scheduler", loop->ops->name);
	return sched;
}

/* ---- heap ---------------------------------------------------------------- */

static int slot_before(const struct onex_sim_scheduler *sched, uint32_t a, uint32_t b)
{
	const struct slot *x = &sched->slots[a], *y = &sched->slots[b];
	return x->due_ns < y->due_ns || (x->due_ns == y->due_ns && x->seq < y->seq);
}

static void heap_put(struct onex_sim_scheduler *sched, uint32_t pos, uint32_t slot)
{
	sched->heap[pos] = slot;
	sched->slots[slot].heap_pos = pos;
}

static void sift_up(struct onex_sim_scheduler *sched, uint32_t pos)
{
	uint32_t slot = sched->heap[pos];
	while (pos > 0) {
		uint32_t parent = (pos - 1) / 2;
		if (!slot_before(sched, slot, sched->heap[parent]))
			break;
		heap_put(sched, pos, sched->heap[parent]);
		pos = parent;
	}
	heap_put(sched, pos, slot);
}

static void sift_down(struct onex_sim_scheduler *sched, uint32_t pos)
{
	uint32_t slot = sched->heap[pos];
	for (;;) {
		uint32_t child = 2 * pos + 1;
		if (child >= sched->heap_len)
			break;
		if (child + 1 < sched->heap_len &&
		    slot_before(sched, sched->heap[child + 1], sched->heap[child]))
			child++;
		if (!slot_before(sched, sched->heap[child], slot))
			break;
		heap_put(sched, pos, sched->heap[child]);
		pos = child;
	}
	heap_put(sched, pos, slot);
}

/* Take the slot out of the heap and put it on the free list. */
static void slot_release(struct onex_sim_scheduler *sched, uint32_t slot)
{
	uint32_t pos = sched->slots[slot].heap_pos;
	uint32_t last = sched->heap[--sched->heap_len];
	if (pos != sched->heap_len) {
		heap_put(sched, pos, last);
		sift_down(sched, pos);
		sift_up(sched, sched->slots[last].heap_pos);
	}
	sched->slots[slot].heap_pos = SLOT_NONE;
	sched->slots[slot].gen++;
	sched->slots[slot].cb = NULL;
	sched->slots[slot].arg = NULL;
	sched->slots[slot].next_free = sched->free_head;
	sched->free_head = slot;
}

static int slots_grow(struct onex_sim_scheduler *sched)
{
	uint32_t cap = sched->slot_cap ? sched->slot_cap * 2 : SLOTS_INITIAL;
	struct slot *slots;
	uint32_t *heap;
	if (cap > ONEX_LOOP_TIMERS_MAX)
		cap = ONEX_LOOP_TIMERS_MAX;
	slots = realloc(sched->slots, cap * sizeof(*slots));
	if (!slots)
		return -1;
	sched->slots = slots;
	heap = realloc(sched->heap, cap * sizeof(*heap));
	if (!heap)
		return -1;
	sched->heap = heap;
	sched->slot_cap = cap;
	return 0;
}

/* A free slot index, or SLOT_NONE (full or out of memory; err says which). */
static uint32_t slot_take(struct onex_sim_scheduler *sched, struct onex_error *err)
{
	uint32_t slot;
	if (sched->free_head != SLOT_NONE) {
		slot = sched->free_head;
		sched->free_head = sched->slots[slot].next_free;
		return slot;
	}
	if (sched->slot_inited >= ONEX_LOOP_TIMERS_MAX) {
		onex_error_set(err, ONEX_ERR_EVENT_BUS_ERROR, "sim-scheduler", 0, 0,
			       "too many pending timers (%u, ONEX_LOOP_TIMERS_MAX)",
			       ONEX_LOOP_TIMERS_MAX);
		return SLOT_NONE;
	}
	if (sched->slot_inited == sched->slot_cap && slots_grow(sched) < 0) {
		onex_error_set(err, ONEX_ERR_EVENT_BUS_ERROR, "sim-scheduler", 0, 0,
			       "out of memory adding a timer");
		return SLOT_NONE;
	}
	slot = sched->slot_inited++;
	sched->slots[slot].gen = 1;
	return slot;
}

/* ---- loop port ------------------------------------------------------------ */

static uint64_t sched_loop_now_ns(struct onex_loop *loop)
{
	return loop_self(loop)->now_ns;
}

static int sched_timer_add(struct onex_loop *loop, uint64_t delay_ns,
			   onex_loop_timer_cb cb, void *arg, uint64_t *timer_id,
			   struct onex_error *err)
{
	struct onex_sim_scheduler *sched = loop_self(loop);
	uint32_t slot = slot_take(sched, err);
	struct slot *s;
	if (slot == SLOT_NONE)
		return -1;
	s = &sched->slots[slot];
	/* Saturate instead of wrapping: a huge delay means "never, in practice". */
	s->due_ns = delay_ns > UINT64_MAX - sched->now_ns ? UINT64_MAX
							   : sched->now_ns + delay_ns;
	s->seq = sched->next_seq++;
	s->cb = cb;
	s->arg = arg;
	sched->heap[sched->heap_len] = slot;
	s->heap_pos = sched->heap_len++;
	sift_up(sched, s->heap_pos);
	if (timer_id)
		*timer_id = ((uint64_t)s->gen << 32) | (uint64_t)(slot + 1);
	return 0;
}

static int sched_timer_cancel(struct onex_loop *loop, uint64_t timer_id)
{
	struct onex_sim_scheduler *sched = loop_self(loop);
	uint64_t low = timer_id & UINT32_MAX;
	uint32_t slot;
	if (low == 0 || low > sched->slot_inited)
		return -1;
	slot = (uint32_t)(low - 1);
	if (sched->slots[slot].heap_pos == SLOT_NONE ||
	    sched->slots[slot].gen != (uint32_t)(timer_id >> 32))
		return -1;
	slot_release(sched, slot);
	return 0;
}

static int sched_fd_watch(struct onex_loop *loop, int fd, unsigned events,
			  onex_loop_fd_cb cb, void *arg, struct onex_error *err)
{
	(void)loop, (void)events, (void)cb, (void)arg;
	return onex_error_set(err, ONEX_ERR_EVENT_BUS_ERROR, "sim-scheduler", 0, 0,
			      "the simulation has no descriptors (fd_watch on fd %d)",
			      fd);
}

static int sched_fd_unwatch(struct onex_loop *loop, int fd)
{
	(void)loop, (void)fd;
	return -1;
}

/* Pop the earliest timer, move time to it, call it. Heap must be non-empty. */
static void fire_next(struct onex_sim_scheduler *sched)
{
	uint32_t slot = sched->heap[0];
	onex_loop_timer_cb cb = sched->slots[slot].cb;
	void *arg = sched->slots[slot].arg;
	if (sched->slots[slot].due_ns > sched->now_ns)
		sched->now_ns = sched->slots[slot].due_ns;
	slot_release(sched, slot); /* before the call: cancel(own id) is -1 */
	sched->fired++;
	cb(arg);
}

static int sched_run(struct onex_loop *loop)
{
	struct onex_sim_scheduler *sched = loop_self(loop);
	if (sched->running)
		return -1;
	sched->running = 1;
	while (!sched->stop_requested && sched->heap_len)
		fire_next(sched);
	sched->stop_requested = 0;
	sched->running = 0;
	return 0;
}

static void sched_stop(struct onex_loop *loop)
{
	loop_self(loop)->stop_requested = 1;
}

static void sched_loop_free(struct onex_loop *loop)
{
	onex_sim_scheduler_free(loop_self(loop));
}

static const struct onex_loop_ops sched_loop_ops = {
	.name = "sim-scheduler",
	.now_ns = sched_loop_now_ns,
	.timer_add = sched_timer_add,
	.timer_cancel = sched_timer_cancel,
	.fd_watch = sched_fd_watch,
	.fd_unwatch = sched_fd_unwatch,
	.run = sched_run,
	.stop = sched_stop,
	.free = sched_loop_free,
};

/* ---- clock port ----------------------------------------------------------- */

static uint64_t sched_monotonic_ns(struct onex_clock *clock)
{
	return from_clock(clock)->now_ns;
}

static int64_t sched_wall_ns(struct onex_clock *clock)
{
	const struct onex_sim_scheduler *sched = from_clock(clock);
	return sched->wall_epoch_ns + (int64_t)sched->now_ns + sched->wall_jump_ns;
}

static const struct onex_clock_ops sched_clock_ops = {
	.name = "sim-clock",
	.monotonic_ns = sched_monotonic_ns,
	.wall_ns = sched_wall_ns,
	.free = NULL, /* owned by the scheduler */
};

/* ---- public API ------------------------------------------------------------ */

struct onex_sim_scheduler *onex_sim_scheduler_new(int64_t wall_epoch_ns)
{
	struct onex_sim_scheduler *sched = calloc(1, sizeof(*sched));
	if (!sched)
		return NULL;
	sched->loop.ops = &sched_loop_ops;
	sched->clock.ops = &sched_clock_ops;
	sched->wall_epoch_ns = wall_epoch_ns;
	sched->free_head = SLOT_NONE;
	sched->next_seq = 1;
	return sched;
}

void onex_sim_scheduler_free(struct onex_sim_scheduler *sched)
{
	if (!sched)
		return;
	free(sched->slots);
	free(sched->heap);
	free(sched);
}

struct onex_loop *onex_sim_scheduler_loop(struct onex_sim_scheduler *sched)
{
	return &sched->loop;
}

struct onex_clock *onex_sim_scheduler_clock(struct onex_sim_scheduler *sched)
{
	return &sched->clock;
}

struct onex_sim_scheduler *onex_sim_scheduler_from_loop(struct onex_loop *loop)
{
	if (!loop || loop->ops != &sched_loop_ops)
		return NULL;
	return (struct onex_sim_scheduler *)loop; /* loop is the first member */
}

int onex_sim_scheduler_run_until(struct onex_sim_scheduler *sched, uint64_t t_ns)
{
	int rc = 0;
	if (sched->running)
		return -1;
	sched->running = 1;
	while (!sched->stop_requested && sched->heap_len &&
	       sched->slots[sched->heap[0]].due_ns <= t_ns)
		fire_next(sched);
	if (sched->stop_requested)
		rc = 1;
	else if (t_ns > sched->now_ns)
		sched->now_ns = t_ns;
	sched->stop_requested = 0;
	sched->running = 0;
	return rc;
}

uint64_t onex_sim_scheduler_now_ns(const struct onex_sim_scheduler *sched)
{
	return sched->now_ns;
}

size_t onex_sim_scheduler_pending_count(const struct onex_sim_scheduler *sched)
{
	return sched->heap_len;
}

int onex_sim_scheduler_next_due_ns(const struct onex_sim_scheduler *sched,
				   uint64_t *due_ns)
{
	if (!sched->heap_len)
		return -1;
	*due_ns = sched->slots[sched->heap[0]].due_ns;
	return 0;
}

uint64_t onex_sim_scheduler_fired_count(const struct onex_sim_scheduler *sched)
{
	return sched->fired;
}

void onex_sim_scheduler_advance_clock(struct onex_sim_scheduler *sched,
				      int64_t delta_ns)
{
	sched->wall_jump_ns += delta_ns;
}
