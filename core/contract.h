/*
 * contract.h - the runtime host contract of spec §3, loaded from YAML.
 *
 * Loading fails fast: the first error (file:line:column, problem, hint,
 * action) is returned in `err` with code CONTRACT_VALIDATION_ERROR, except
 * "missing required field", which lists every missing field at once.
 * Warnings (unknown field with --lenient, empty handlers list) are kept in
 * the contract for the caller to print.
 */
#ifndef ONEX_CONTRACT_H
#define ONEX_CONTRACT_H

#include <jansson.h>
#include <stddef.h>

#include "error.h"
#include "handler_type.h"
#include "limits.h"

#define ONEX_CONTRACT_NAME_BYTES 128u
#define ONEX_BUS_KIND_BYTES 32u

/* A node contract given as text instead of a file (inline in a scenario). Borrowed. */
struct onex_node_text {
	const char *slug;
	const char *text;
	size_t len;
	const char *source; /* names the text in messages (the scenario file) */
	int line_offset;    /* added to every line reported */
};

struct onex_contract_options {
	int lenient;	/* unknown fields warn instead of failing */
	int production; /* handler type `local` is an error */
};

/*
 * Resolving `${NAME}` references in contract values (docs/CONTRACTS.md,
 * "Environment references"). The kernel reads no environment: the host
 * passes a lookup. `lookup` returns the value of NAME, or NULL when it is
 * not set; the pointer need only stay valid until the next call. Loading
 * without one (env NULL, or lookup NULL) makes any `${...}` an error.
 *
 * Kept out of struct onex_contract_options on purpose: callers initialise
 * that struct positionally ({ lenient, production }), and a new member
 * would break them under -Wmissing-field-initializers.
 */
struct onex_contract_env {
	const char *(*lookup)(void *arg, const char *name);
	void *arg;
};

struct onex_contract_handler {
	enum onex_handler_type type;
	json_t *config; /* owned: the whole handler entry as JSON (has "type") */
	int line, column;
};

struct onex_contract_bus {
	char kind[ONEX_BUS_KIND_BYTES]; /* "inmemory", "stdio", "kafka" */
	char topic_input[ONEX_TOPIC_BYTES_MAX + 1];
	char topic_output[ONEX_TOPIC_BYTES_MAX + 1];
	json_t *config; /* owned: event_bus.config as JSON; {} when absent */
	int line, column;
};

struct onex_contract_node_ref {
	char slug[ONEX_NAME_BYTES_MAX + 1];
	int line, column;
};

struct onex_runtime_contract {
	char path[ONEX_PATH_BYTES_MAX]; /* as given, for messages */
	char dir[ONEX_PATH_BYTES_MAX];	/* directory relative paths resolve from */
	char schema_version[32];
	char name[ONEX_CONTRACT_NAME_BYTES];
	char version[32];
	struct onex_contract_bus bus;
	struct onex_contract_handler handlers[ONEX_CONTRACT_HANDLERS_MAX];
	size_t handler_count;
	struct onex_contract_node_ref *nodes; /* owned array */
	size_t node_count;
	char nodes_dir[ONEX_PATH_BYTES_MAX]; /* resolved: dir + runtime.nodes_dir or "nodes" */
	/* Node contracts by slug that the node registry takes instead of
	 * nodes_dir/<slug>.yaml (inline in a scenario); NULL/0 from the loaders.
	 * Borrowed: the caller that sets them keeps them alive. */
	const struct onex_node_text *node_texts;
	size_t node_text_count;
	struct onex_error warnings[ONEX_CONTRACT_WARNINGS_MAX];
	size_t warning_count;
};

/*
 * Load and validate the runtime contract at `path`.
 * Ownership: *out is new; free with onex_runtime_contract_free().
 */
int onex_runtime_contract_load(const char *path,
			       const struct onex_contract_options *opt,
			       struct onex_runtime_contract **out,
			       struct onex_error *err);

/*
 * Same, from text already in memory (inline contracts in scenarios).
 * `display_name` is used in messages; `base_dir` resolves relative paths;
 * `line_offset` is added to every line number reported (for YAML embedded
 * at some line of another file).
 */
int onex_runtime_contract_load_text(const char *text, size_t len,
				    const char *display_name,
				    const char *base_dir, int line_offset,
				    const struct onex_contract_options *opt,
				    struct onex_runtime_contract **out,
				    struct onex_error *err);

/*
 * Same as the two above, resolving `${NAME}` references through `env` in
 * runtime.event_bus.config (bootstrap_servers, consumer_group, client_id,
 * dead_letter_topic, topics.input, topics.output) and in the string values
 * of every runtime.handlers[].config, before those values are validated.
 * env NULL: any reference there is an error. The functions above are these
 * with env NULL.
 */
int onex_runtime_contract_load_env(const char *path,
				   const struct onex_contract_options *opt,
				   const struct onex_contract_env *env,
				   struct onex_runtime_contract **out,
				   struct onex_error *err);
int onex_runtime_contract_load_text_env(const char *text, size_t len,
					const char *display_name,
					const char *base_dir, int line_offset,
					const struct onex_contract_options *opt,
					const struct onex_contract_env *env,
					struct onex_runtime_contract **out,
					struct onex_error *err);

void onex_runtime_contract_free(struct onex_runtime_contract *contract);

/* True when the contract lists a handler of `type`. */
int onex_runtime_contract_has_handler(const struct onex_runtime_contract *c,
				      enum onex_handler_type type);

/* The schema versions this build understands, e.g. "1.0.0, 1.1.0". */
const char *onex_contract_supported_schema_versions(void);

/* ------------------------------------------------------------------------
 * Checking a contract file, shared by contract.c and node_registry.c (the
 * node contract loader applies the same rules and messages). Not meant for
 * other callers.
 *
 * A file is checked against tables of fields, one table per mapping. Errors
 * go to chk->err (fail fast) except missing required fields, which are
 * collected across the whole file and reported by
 * onex_contract_check_finish() as one error.
 */
struct onex_yaml_doc;
struct onex_yaml_node;

enum onex_contract_field_kind {
	ONEX_FIELD_STRING,  /* any non-null scalar, taken as written */
	ONEX_FIELD_INT,	    /* plain integer in [min, max] */
	ONEX_FIELD_BOOL,    /* true / false */
	ONEX_FIELD_NUMBER,  /* integer or real, > 0 */
	ONEX_FIELD_MAPPING, /* a mapping (contents checked by the caller) */
	ONEX_FIELD_LIST,    /* a list (contents checked by the caller) */
	ONEX_FIELD_ANY,
};

struct onex_contract_field {
	const char *name;
	enum onex_contract_field_kind kind;
	int required;
	long long min, max; /* ONEX_FIELD_INT */
	/*
	 * Non-NULL: a feature not in v0.1 contracts; the milestone adding it.
	 * It is an error unless `allowed_from` names a schema_version that the
	 * file declares (NULL: no supported schema allows it yet).
	 */
	const char *milestone;
	const char *allowed_from;
};

#define ONEX_CONTRACT_MISSING_BYTES 768u

struct onex_contract_check {
	const struct onex_yaml_doc *doc;
	const struct onex_contract_options *opt;
	struct onex_error *err; /* should be clear: hints overwrite */
	struct onex_error *warnings;
	size_t warning_max;
	size_t *warning_count;
	const char *schema_version; /* as found, after check_schema_version */
	char missing[ONEX_CONTRACT_MISSING_BYTES];
	size_t missing_count;
	int missing_line, missing_column;
};

void onex_contract_check_init(struct onex_contract_check *chk,
			      const struct onex_yaml_doc *doc,
			      const struct onex_contract_options *opt,
			      struct onex_error *err, struct onex_error *warnings,
			      size_t warning_max, size_t *warning_count);

/* Refuse inline secrets anywhere below `node` (see docs/CONTRACTS.md). */
int onex_contract_check_secrets(struct onex_contract_check *chk,
				const struct onex_yaml_node *node,
				const char *path);

/*
 * Check root.schema_version when present: a supported version or an error
 * showing found vs supported. Absent: left to the required-field check.
 */
int onex_contract_check_schema_version(struct onex_contract_check *chk,
				       const struct onex_yaml_node *root);

/*
 * Check the keys of mapping `map` (at dotted `path`, "" for the top level)
 * against `fields`: unknown (error, or warning when lenient, with a "did you
 * mean"), prohibited (error naming the milestone), wrong kind (error),
 * required but absent or null (collected). found[i] is set to the value of
 * fields[i], or NULL when absent or null.
 */
int onex_contract_check_fields(struct onex_contract_check *chk,
			       const struct onex_yaml_node *map, const char *path,
			       const struct onex_contract_field *fields,
			       size_t count, const struct onex_yaml_node **found);

/* Collect "path.name" as a missing required field of mapping `at`. */
void onex_contract_check_missing(struct onex_contract_check *chk,
				 const struct onex_yaml_node *at,
				 const char *path, const char *name);

/* The one "missing required field(s)" error, if any were collected. */
int onex_contract_check_finish(struct onex_contract_check *chk,
			       const char *hint);

/* An error at `node` (NULL: line 1) with hint and action (may be NULL). */
int onex_contract_check_fail(struct onex_contract_check *chk,
			     const struct onex_yaml_node *node, const char *hint,
			     const char *action, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* A warning at `node`; dropped when the warning array is full. */
void onex_contract_check_warn(struct onex_contract_check *chk,
			      const struct onex_yaml_node *node,
			      const char *hint, const char *action,
			      const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* Copy a string field into buf; error when it is empty or too long. */
int onex_contract_check_copy(struct onex_contract_check *chk,
			     const struct onex_yaml_node *node,
			     const char *path, char *buf, size_t size);

/*
 * Put warnings[0..count) in document order (line, then column); stable.
 * Fields are checked mapping by mapping, not in file order.
 */
void onex_contract_sort_warnings(struct onex_error *warnings, size_t count);

/*
 * The candidate closest to `word` (edit distance <= 2, ignoring case), or
 * NULL. For "did you mean" hints.
 */
const char *onex_contract_suggest(const char *word,
				  const char *const *candidates, size_t count);

#endif
