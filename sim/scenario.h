/*
 * scenario.h - a scenario file (docs/SCENARIOS.md) parsed and checked:
 * every key known, every type right, every {{reference}} defined by an
 * earlier step. Errors name file:line:column.
 */
#ifndef ONEX_SIM_SCENARIO_H
#define ONEX_SIM_SCENARIO_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "handler_type.h"
#include "limits.h"

#define ONEX_SCENARIO_NAME_BYTES 128u
#define ONEX_SCENARIO_STEPS_MAX 4096u
#define ONEX_SCENARIO_FAULTS_MAX 64u
#define ONEX_SCENARIO_NODES_MAX 32u
#define ONEX_SCENARIO_RAW_BYTES_MAX (8u * 1024u * 1024u)

enum onex_step_kind {
	ONEX_STEP_PUBLISH,
	ONEX_STEP_ADVANCE,
	ONEX_STEP_EXPECT,
	ONEX_STEP_EXPECT_NOTHING,
	ONEX_STEP_EXPECT_LOG,
};

struct onex_scenario_step {
	enum onex_step_kind kind;
	int line;
	char as[64];	 /* "" when unnamed */
	char topic[ONEX_TOPIC_BYTES_MAX + 1]; /* "input", "output" or a name */
	json_t *envelope; /* publish template / expect pattern; owned; NULL for raw;
			   * expect_log: {"correlation_id": pattern} or {} */
	char *raw;	  /* publish raw bytes / expect_log message substring; owned */
	size_t raw_len;
	uint64_t ms; /* advance_ms, within_ms, for_ms */
	int level;   /* expect_log: the lowest onex_log_level that matches */
};

enum onex_fault_kind {
	ONEX_FAULT_HANDLER_LATENCY,
	ONEX_FAULT_HANDLER_ERROR,
	ONEX_FAULT_HANDLER_TIMEOUT,
	ONEX_FAULT_DB_UNAVAILABLE,
	ONEX_FAULT_BUS_DELAY,
	ONEX_FAULT_DUPLICATE_DELIVERY,
	ONEX_FAULT_DROP_PUBLISH,
	ONEX_FAULT_CLOCK_JUMP,
};

struct onex_scenario_fault {
	enum onex_fault_kind kind;
	int line;
	uint64_t at_ms;
	uint64_t for_ms; /* UINT64_MAX: to the end */
	enum onex_handler_type handler;
	char topic[ONEX_TOPIC_BYTES_MAX + 1];
	uint64_t value_ms; /* latency_ms, delay_ms, by_ms */
	unsigned count;
};

enum onex_invariant {
	ONEX_INV_ANSWERED_ONCE = 1u << 0,
	ONEX_INV_CORRELATION = 1u << 1,
	ONEX_INV_CAUSATION = 1u << 2,
	ONEX_INV_NO_RAW_ERRORS = 1u << 3,
	ONEX_INV_LOG_CORRELATION = 1u << 4,
	ONEX_INV_LAST = ONEX_INV_LOG_CORRELATION,
	ONEX_INV_ALL = 0x1fu,
};

/* An inline node contract (`nodes:`), kept as the file's own lines. */
struct onex_scenario_node {
	char slug[ONEX_NAME_BYTES_MAX + 1];
	char *text;	 /* YAML (or JSON for a flow-style mapping); owned */
	int line, column; /* of the slug key, for messages */
	int line_offset; /* added to the text's line numbers */
};

struct onex_scenario {
	char path[ONEX_PATH_BYTES_MAX];
	char dir[ONEX_PATH_BYTES_MAX];
	char name[ONEX_SCENARIO_NAME_BYTES];
	char *description;
	uint64_t seed;
	int lenient, production;
	int real; /* `real: true`: also run, unchanged, against the real units (tests/unit/test_sim_vs_real.c) */
	/* The contract: a path (resolved) or inline text (JSON) with its line. */
	char contract_path[ONEX_PATH_BYTES_MAX];
	char *contract_inline; /* YAML (or JSON for a flow-style mapping) text */
	int contract_line;
	int contract_line_offset; /* added to the inline text's line numbers */
	struct onex_scenario_node nodes[ONEX_SCENARIO_NODES_MAX];
	size_t node_count;
	json_t *http_stubs; /* array, owned; NULL when none */
	char **sql;	    /* scripts, owned */
	char **sql_names;   /* for messages */
	size_t sql_count;
	struct onex_scenario_fault faults[ONEX_SCENARIO_FAULTS_MAX];
	size_t fault_count;
	int expect_startup_failure;
	enum onex_error_code startup_code;
	char startup_message[256];
	struct onex_scenario_step *steps;
	size_t step_count;
	unsigned invariants;
	unsigned expect_violations;
	uint64_t settle_ms;
};

/* Parse and check `path`. Ownership: *out is new; free with onex_scenario_free(). */
int onex_scenario_load(const char *path, struct onex_scenario **out, struct onex_error *err);
void onex_scenario_free(struct onex_scenario *sc);

const char *onex_invariant_name(unsigned bit);
const char *onex_step_kind_name(enum onex_step_kind kind);

#endif
