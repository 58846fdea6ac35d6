/*
 * yaml_tree.h - one YAML document as a tree of nodes with line/column, for
 * the contract loaders (contract.c, node_registry.c).
 *
 * The composer reads libyaml events and builds the tree itself (rather than
 * using yaml_parser_load) so that it can:
 *   - stop at the nesting limit before building anything deeper;
 *   - bound alias expansion ("billion laughs") while composing, so every
 *     later walk of the tree is bounded too;
 *   - resolve merge keys (`<<: *base`) and refuse duplicate keys, so callers
 *     see plain mappings with unique keys;
 *   - keep whether a scalar was written plain or quoted (the JSON typing of
 *     contract values depends on it), and its explicit tag, if any.
 *
 * An alias is the anchored node itself (shared, not copied), so its
 * line/column are those of the anchor. A recursive alias (to an anchor whose
 * node is not finished) is an error. All nodes live until
 * onex_yaml_doc_release().
 */
#ifndef ONEX_YAML_TREE_H
#define ONEX_YAML_TREE_H

#include <jansson.h>
#include <stddef.h>

#include "error.h"
#include "limits.h"

enum onex_yaml_kind {
	ONEX_YAML_SCALAR,
	ONEX_YAML_SEQUENCE,
	ONEX_YAML_MAPPING,
};

struct onex_yaml_node {
	enum onex_yaml_kind kind;
	int line, column; /* 1-based, line offset applied */
	/* Scalars. `value` is NUL-terminated but may hold NUL bytes: see length. */
	char *value;
	size_t length;
	int plain;  /* written without quotes and without an explicit tag */
	char *tag;  /* explicit tag ("tag:yaml.org,2002:int"), or NULL */
	/*
	 * Sequences: items[0..count). Mappings: `count` pairs, key i at
	 * items[2i] (always a scalar), value at items[2i + 1].
	 */
	struct onex_yaml_node **items;
	size_t count;
	size_t cap;	 /* allocated entries of items */
	size_t expanded; /* nodes in this subtree, aliases expanded */
	unsigned height; /* nesting of containers: 0 for a scalar */
	int done;	 /* composition finished (aliases may point here) */
};

struct onex_yaml_doc {
	struct onex_yaml_node *root; /* NULL when the document is empty */
	char *source;		     /* owned copy of the name used in messages */
	int line_offset;	     /* added to every line */
	struct onex_yaml_node **all; /* owned: every node, for release */
	size_t all_count, all_cap;
};

/*
 * Parse `text` (len bytes) into `doc`. `source` names the text in messages;
 * `line_offset` is added to every line. Invalid YAML, more than one document,
 * more than ONEX_CONTRACT_DEPTH_MAX nested mappings/lists, alias expansion beyond
 * ONEX_YAML_EXPANDED_NODES_MAX, duplicate keys, unknown aliases and bad merge
 * keys fail with CONTRACT_VALIDATION_ERROR at the offending line/column.
 * On failure `doc` is released already. Call onex_yaml_doc_release() after
 * success.
 */
int onex_yaml_doc_parse(struct onex_yaml_doc *doc, const char *text,
			size_t len, const char *source, int line_offset,
			struct onex_error *err);
void onex_yaml_doc_release(struct onex_yaml_doc *doc);

/*
 * Read a whole file of at most `bytes_max` bytes.
 * Ownership: *text is new (NUL-terminated), free() it.
 * Returns 0, or -1 with *errnum an errno value (ENOENT, EACCES, EISDIR...,
 * EFBIG when the file is larger than bytes_max). Sets no error record, so the
 * caller can say which file it was looking for and why.
 */
int onex_yaml_read_file(const char *path, size_t bytes_max, char **text,
			size_t *len, int *errnum);

/* Value of `key` in a mapping, or NULL (also when `map` is no mapping). */
const struct onex_yaml_node *onex_yaml_map_get(const struct onex_yaml_node *map,
					       const char *key);

/* The key / value of pair i of a mapping. */
const struct onex_yaml_node *onex_yaml_map_key(const struct onex_yaml_node *map,
					       size_t i);
const struct onex_yaml_node *
onex_yaml_map_value(const struct onex_yaml_node *map, size_t i);

/* True for a null scalar: plain `null`, `Null`, `NULL`, `~`, empty, or !!null. */
int onex_yaml_is_null(const struct onex_yaml_node *node);

/* "a mapping", "a list", "a string", "a number", "true/false", "null". */
const char *onex_yaml_describe(const struct onex_yaml_node *node);

/* The typed value of a scalar (YAML 1.2 core schema, decimal integers). */
enum onex_yaml_scalar_type {
	ONEX_YAML_NULL,
	ONEX_YAML_BOOL,
	ONEX_YAML_INT,
	ONEX_YAML_REAL,
	ONEX_YAML_STR,
};

struct onex_yaml_scalar {
	enum onex_yaml_scalar_type type;
	int boolean;
	long long integer;
	double real;
};

/*
 * Type a scalar: a quoted (or block) scalar and `!!str` are strings; a plain
 * scalar is null, a bool (true/false in any of the core spellings), an
 * integer, a real, or else a string; `!!null`, `!!bool`, `!!int`, `!!float`
 * require the text to be of that type. Integers outside 64 bits, reals
 * outside double range and other tags are errors.
 */
int onex_yaml_scalar_resolve(const struct onex_yaml_doc *doc,
			     const struct onex_yaml_node *node,
			     struct onex_yaml_scalar *out,
			     struct onex_error *err);

/*
 * Convert a node to JSON with onex_yaml_scalar_resolve typing. Mapping keys
 * are their text. Ownership: *out is a new reference.
 */
int onex_yaml_to_json(const struct onex_yaml_doc *doc,
		      const struct onex_yaml_node *node, json_t **out,
		      struct onex_error *err);

#endif
