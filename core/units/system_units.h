/*
 * system_units.h - the real, OS-backed units every host binary links:
 * the epoll event loop, the system clock, random UUIDv4 ids, and the
 * stderr JSON-lines log.
 */
#ifndef ONEX_SYSTEM_UNITS_H
#define ONEX_SYSTEM_UNITS_H

#include "clock.h"
#include "error.h"
#include "ids.h"
#include "log.h"
#include "loop.h"

/* epoll + CLOCK_MONOTONIC. NULL with err when epoll cannot be created. */
struct onex_loop *onex_epoll_loop_new(struct onex_error *err);

/* CLOCK_MONOTONIC / CLOCK_REALTIME. */
struct onex_clock *onex_system_clock_new(void);

/* UUIDv4 from getrandom(2). */
struct onex_ids *onex_uuid4_ids_new(void);

/* JSON lines on stderr: {"ts","level","correlation_id","envelope_id","msg"}. */
struct onex_log *onex_stderr_log_new(struct onex_clock *clock,
				     enum onex_log_level min_level);

#endif
