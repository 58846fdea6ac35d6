/*
 * topic.h - topic naming rules of spec §4:
 * onex.<tenant>.<domain>.<direction>.v<N>, segments [a-z0-9][a-z0-9_-]*,
 * direction cmd|evt (later state|error|log), reserved tenants refused.
 */
#ifndef ONEX_TOPIC_H
#define ONEX_TOPIC_H

#include "error.h"

/* Default topics when the contract names none (spec §3). */
#define ONEX_TOPIC_DEFAULT_INPUT "onex.local.runtime.cmd.v1"
#define ONEX_TOPIC_DEFAULT_OUTPUT "onex.local.runtime.evt.v1"

enum onex_topic_direction {
	ONEX_TOPIC_CMD,
	ONEX_TOPIC_EVT,
	ONEX_TOPIC_STATE,
	ONEX_TOPIC_ERROR,
	ONEX_TOPIC_LOG,
};

/*
 * 0 when `topic` is a valid user topic; otherwise -1 and err
 * (CONTRACT_VALIDATION_ERROR) says which rule it breaks and what a valid
 * name looks like. *direction (may be NULL) is set on success.
 */
int onex_topic_validate(const char *topic, enum onex_topic_direction *direction,
			struct onex_error *err);

/* True when `tenant` is reserved (internal, debug, metrics, health, admin). */
int onex_topic_tenant_is_reserved(const char *tenant);

#endif
