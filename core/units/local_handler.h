/*
 * local_handler.h - the `local` handler (spec §7): development and tests
 * only. Linked by onex-host-dev and onex-sim, never by onex-host (a check
 * in `make test` enforces it).
 *
 *   local.echo       reply payload = request payload; with payload.delay_ms
 *                    the reply comes that many (loop) milliseconds later
 *   local.transform  payload {value: string, transform: uppercase|lowercase|reverse}
 *                    -> {value: <transformed>, transform}
 *   local.error      fails with payload.code (a spec §5 code, default
 *                    HANDLER_EXECUTION_ERROR) and payload.message
 */
#ifndef ONEX_LOCAL_HANDLER_H
#define ONEX_LOCAL_HANDLER_H

#include "handler.h"

extern const struct onex_handler_unit onex_local_handler_unit;

#endif
