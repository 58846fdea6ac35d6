/*
 * node_registry.h - node contracts (spec §3), one YAML file per node,
 * loaded from a directory, and the registry of node instances a host runs.
 */
#ifndef ONEX_NODE_REGISTRY_H
#define ONEX_NODE_REGISTRY_H

#include <jansson.h>
#include <stddef.h>

#include "contract.h"
#include "error.h"

enum onex_node_type {
	ONEX_NODE_EFFECT,
	ONEX_NODE_COMPUTE,
	ONEX_NODE_REDUCER,
	ONEX_NODE_ORCHESTRATOR,
};

struct onex_node_io_operation {
	char type[ONEX_NAME_BYTES_MAX + 1]; /* a handler type name: "http", "db" */
	char **operations;		    /* owned, `operation_count` strings */
	size_t operation_count;
	char target[ONEX_NAME_BYTES_MAX * 2];
};

struct onex_node_contract {
	char slug[ONEX_NAME_BYTES_MAX + 1]; /* file name without .yaml */
	char path[ONEX_PATH_BYTES_MAX];
	char schema_version[32];
	char node_version[32];
	char name[ONEX_NAME_BYTES_MAX + 1];
	enum onex_node_type node_type;
	char *description; /* owned */
	char input_model[ONEX_NAME_BYTES_MAX * 2];
	char output_model[ONEX_NAME_BYTES_MAX * 2];
	struct onex_node_io_operation *io_operations; /* owned array */
	size_t io_operation_count;
	json_t *dependencies; /* owned; [] when absent */
};

/* "EFFECT" ... */
const char *onex_node_type_name(enum onex_node_type type);

/*
 * Load one node contract file. Same strictness and messages as the
 * runtime contract (file:line:column, problem, hint, action).
 * Ownership: *out is new; free with onex_node_contract_free().
 */
int onex_node_contract_load(const char *path, const char *slug,
			    const struct onex_contract_options *opt,
			    struct onex_node_contract **out,
			    struct onex_error *err);
void onex_node_contract_free(struct onex_node_contract *node);

/*
 * Load a node contract from text (see struct onex_node_text): messages name
 * t->source and the lines of the text plus t->line_offset.
 * Ownership: *out is new; free with onex_node_contract_free().
 */
int onex_node_contract_load_text(const struct onex_node_text *t,
				 const struct onex_contract_options *opt,
				 struct onex_node_contract **out,
				 struct onex_error *err);

/* JSON description of a node (for --describe-wiring). New reference. */
json_t *onex_node_contract_describe(const struct onex_node_contract *node);

/* The nodes of one host, by slug. */
struct onex_node_registry {
	struct onex_node_contract **nodes; /* owned */
	size_t count;
	struct onex_error *warnings; /* owned array */
	size_t warning_count;
};

/*
 * Load `<slug>.yaml` from contract->nodes_dir for every node the contract
 * lists (or the text contract->node_texts gives for that slug). A missing file is an error naming the slug, the path tried, and
 * the contract line that lists it. Warnings (e.g. unknown fields under
 * --lenient) are kept in reg->warnings, at most ONEX_CONTRACT_WARNINGS_MAX.
 */
int onex_node_registry_load(struct onex_node_registry *reg,
			    const struct onex_runtime_contract *contract,
			    const struct onex_contract_options *opt,
			    struct onex_error *err);
void onex_node_registry_release(struct onex_node_registry *reg);

/* The node with `slug`, or NULL. */
const struct onex_node_contract *
onex_node_registry_find(const struct onex_node_registry *reg, const char *slug);

/*
 * onex_node_contract_load(), also keeping warnings (unknown fields under
 * --lenient): up to warning_max of them are stored in warnings[] and
 * *warning_count is advanced. onex_node_contract_load() drops them.
 */
int onex_node_contract_load_with_warnings(const char *path, const char *slug,
					  const struct onex_contract_options *opt,
					  struct onex_error *warnings,
					  size_t warning_max,
					  size_t *warning_count,
					  struct onex_node_contract **out,
					  struct onex_error *err);

/* Parse "EFFECT"...; 0 and *type set, or -1. */
int onex_node_type_parse(const char *name, enum onex_node_type *type);

#endif
