/*
 * scheduler.h - the simulation's discrete-event scheduler.
 *
 * One object implements two ports over *virtual* time:
 *   - the loop port (loop.h): timers are entries of a binary min-heap keyed
 *     by (due_ns, seq); seq is the insertion order, so timers due at the
 *     same instant fire in the order they were added, and the firing order
 *     is a pure function of the calls made (no addresses, no wall time);
 *   - the clock port (clock.h): monotonic_ns is the virtual time; wall_ns
 *     is wall_epoch_ns + virtual time + every clock jump injected with
 *     onex_sim_scheduler_advance_clock().
 *
 * Running jumps virtual time straight to the next due timer: idle time
 * costs nothing. The simulation has no descriptors: fd_watch fails with
 * EVENT_BUS_ERROR. stop() asks run() / run_until() to return after the
 * current callback; called while neither runs, it makes the next one
 * return at once (the request is consumed either way). At most ONEX_LOOP_TIMERS_MAX timers are pending at once;
 * timer_add beyond that fails (EVENT_BUS_ERROR), it never drops a timer.
 *
 * Ownership: the scheduler owns both ports. Free it once, with
 * onex_sim_scheduler_free() or onex_loop_free() on its loop; the clock's
 * free operation is empty (onex_clock_free() on it does nothing), so the
 * clock must not be used after the scheduler is freed.
 */
#ifndef ONEX_SIM_SCHEDULER_H
#define ONEX_SIM_SCHEDULER_H

#include <stddef.h>
#include <stdint.h>

#include "clock.h"
#include "loop.h"

struct onex_sim_scheduler;

/* A scheduler at virtual time 0. NULL when out of memory. */
struct onex_sim_scheduler *onex_sim_scheduler_new(int64_t wall_epoch_ns);

/* Free the scheduler; pending timers are dropped without being called. Safe on NULL. */
void onex_sim_scheduler_free(struct onex_sim_scheduler *sched);

/* The embedded ports (borrowed, valid while the scheduler lives). */
struct onex_loop *onex_sim_scheduler_loop(struct onex_sim_scheduler *sched);
struct onex_clock *onex_sim_scheduler_clock(struct onex_sim_scheduler *sched);

/* Checked downcast: the scheduler behind `loop`, or NULL if it is another loop. */
struct onex_sim_scheduler *onex_sim_scheduler_from_loop(struct onex_loop *loop);

/*
 * Fire, in order, every timer due at or before t_ns (including timers that
 * callbacks add meanwhile, if due by then), then set the virtual time to
 * t_ns. Returns 0 then; 1 when a callback called stop(), in which case the
 * time stays at that callback's instant; -1 when called from inside a
 * callback (the scheduler does not nest). t_ns in the past fires nothing
 * and leaves the time as it is (time never goes backwards).
 */
int onex_sim_scheduler_run_until(struct onex_sim_scheduler *sched, uint64_t t_ns);

/* The virtual time (= the clock's monotonic_ns). */
uint64_t onex_sim_scheduler_now_ns(const struct onex_sim_scheduler *sched);

/* Timers added and neither fired nor cancelled. */
size_t onex_sim_scheduler_pending_count(const struct onex_sim_scheduler *sched);

/* Due time of the next timer into *due_ns: 0, or -1 when none is pending. */
int onex_sim_scheduler_next_due_ns(const struct onex_sim_scheduler *sched,
				   uint64_t *due_ns);

/* Timers fired since creation (a bound for the simulator's step budget). */
uint64_t onex_sim_scheduler_fired_count(const struct onex_sim_scheduler *sched);

/*
 * Clock-jump fault: the wall clock moves by delta_ns (either direction,
 * e.g. an NTP step). The monotonic clock and the timers are unaffected:
 * monotonic time never goes backwards and does not jump.
 */
void onex_sim_scheduler_advance_clock(struct onex_sim_scheduler *sched,
				      int64_t delta_ns);

#endif
