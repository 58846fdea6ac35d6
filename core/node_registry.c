/*
 * node_registry.c - node contracts (spec §3) and the registry of the nodes
 * one host runs. Node files get the same checks and messages as the runtime
 * contract (contract.c): unknown/prohibited/missing fields, inline secrets,
 * schema_version, file:line:column with hint and action.
 */
#include "node_registry.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yaml_tree.h"

#define PATH_TEXT_BYTES 256u
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const char *const node_type_names[] = {
	[ONEX_NODE_EFFECT] = "EFFECT",
	[ONEX_NODE_COMPUTE] = "COMPUTE",
	[ONEX_NODE_REDUCER] = "REDUCER",
	[ONEX_NODE_ORCHESTRATOR] = "ORCHESTRATOR",
};
#define NODE_TYPES_TEXT "COMPUTE, EFFECT, ORCHESTRATOR, REDUCER"

enum { N_SCHEMA, N_VERSION, N_NAME, N_TYPE, N_DESCRIPTION, N_INPUT, N_OUTPUT,
       N_IO, N_DEPENDENCIES };
static const struct onex_contract_field node_fields[] = {
	{ .name = "schema_version", .kind = ONEX_FIELD_STRING, .required = 1 },
	{ .name = "node_version", .kind = ONEX_FIELD_STRING, .required = 1 },
	{ .name = "name", .kind = ONEX_FIELD_STRING, .required = 1 },
	{ .name = "node_type", .kind = ONEX_FIELD_STRING, .required = 1 },
	{ .name = "description", .kind = ONEX_FIELD_STRING },
	{ .name = "input_model", .kind = ONEX_FIELD_STRING, .required = 1 },
	{ .name = "output_model", .kind = ONEX_FIELD_STRING, .required = 1 },
	{ .name = "io_operations", .kind = ONEX_FIELD_LIST },
	{ .name = "dependencies", .kind = ONEX_FIELD_LIST },
	{ .name = "tenant_id", .kind = ONEX_FIELD_ANY,
	  .milestone = "milestone v1.0 (multi-tenancy)" },
};

enum { IO_TYPE, IO_OPERATIONS, IO_TARGET };
static const struct onex_contract_field io_fields[] = {
	{ .name = "type", .kind = ONEX_FIELD_STRING, .required = 1 },
	{ .name = "operations", .kind = ONEX_FIELD_LIST, .required = 1 },
	{ .name = "target", .kind = ONEX_FIELD_STRING },
};

static const char node_required_hint[] =
	"a node contract needs schema_version, node_version, name, node_type, "
	"input_model and output_model (and io_operations for EFFECT nodes)";

const char *onex_node_type_name(enum onex_node_type type)
{
	if ((unsigned)type >= COUNT(node_type_names))
		return "unknown";
	return node_type_names[type];
}

int onex_node_type_parse(const char *name, enum onex_node_type *type)
{
	for (size_t i = 0; i < COUNT(node_type_names); i++) {
		if (strcmp(node_type_names[i], name) == 0) {
			*type = (enum onex_node_type)i;
			return 0;
		}
	}
	return -1;
}

void onex_node_contract_free(struct onex_node_contract *node)
{
	if (!node)
		return;
	for (size_t i = 0; i < node->io_operation_count; i++) {
		for (size_t j = 0; j < node->io_operations[i].operation_count; j++)
			free(node->io_operations[i].operations[j]);
		free(node->io_operations[i].operations);
	}
	free(node->io_operations);
	free(node->description);
	json_decref(node->dependencies);
	free(node);
}

/* ---- one node file ------------------------------------------------------ */

struct node_loader {
	struct onex_contract_check chk;
	struct onex_yaml_doc doc;
	struct onex_node_contract *node;
};

static int oom(struct node_loader *ld, const struct onex_yaml_node *at)
{
	return onex_contract_check_fail(&ld->chk, at, NULL, NULL, "out of memory");
}

static int load_operations(struct node_loader *ld, const struct onex_yaml_node *list,
			   enum onex_handler_type type, const char *path,
			   struct onex_node_io_operation *io)
{
	char ops[ONEX_ERROR_HINT_BYTES];
	size_t used = 0;
	if (list->count == 0)
		return onex_contract_check_fail(
			&ld->chk, list, "an io_operation names what the node does "
					"with that handler type",
			"list the operations the node performs",
			"%s.operations is empty", path);
	ops[0] = '\0';
	for (const char *const *op = onex_handler_type_operations(type); *op; op++) {
		int n = snprintf(ops + used, sizeof(ops) - used, "%s%s",
				 used ? ", " : "", *op);
		if (n > 0 && (size_t)n < sizeof(ops) - used)
			used += (size_t)n;
	}
	io->operations = calloc(list->count, sizeof(*io->operations));
	if (!io->operations)
		return oom(ld, list);
	for (size_t i = 0; i < list->count; i++) {
		const struct onex_yaml_node *op = list->items[i];
		if (op->kind != ONEX_YAML_SCALAR || op->length == 0 ||
		    !onex_handler_type_has_operation(type, op->value))
			return onex_contract_check_fail(
				&ld->chk, op,
				"operation names are lowercase and start with the "
				"handler type",
				"use an operation of that type",
				"'%.64s' in %s.operations is not an operation of "
				"handler type '%s' (%s operations: %s)",
				op->kind == ONEX_YAML_SCALAR ? op->value
							     : onex_yaml_describe(op),
				path, io->type, io->type, ops);
		if (!(io->operations[i] = strdup(op->value)))
			return oom(ld, op);
		io->operation_count++;
	}
	return 0;
}

static int load_io_operation(struct node_loader *ld, const struct onex_yaml_node *item,
			     size_t index)
{
	char path[PATH_TEXT_BYTES], sub[PATH_TEXT_BYTES + 16];
	const struct onex_yaml_node *found[COUNT(io_fields)];
	struct onex_node_io_operation *io = &ld->node->io_operations[index];
	enum onex_handler_type type;

	snprintf(path, sizeof(path), "io_operations[%zu]", index);
	if (item->kind != ONEX_YAML_MAPPING)
		return onex_contract_check_fail(
			&ld->chk, item, "each entry of io_operations is a mapping",
			"write { type: http, operations: [http.get], target: ... }",
			"%s must be a mapping, not %s", path, onex_yaml_describe(item));
	if (onex_contract_check_fields(&ld->chk, item, path, io_fields,
				       COUNT(io_fields), found))
		return -1;
	if (!found[IO_TYPE] || !found[IO_OPERATIONS])
		return 0; /* missing: reported with the others */
	snprintf(sub, sizeof(sub), "%s.type", path);
	if (onex_contract_check_copy(&ld->chk, found[IO_TYPE], sub, io->type,
				     sizeof(io->type)))
		return -1;
	if (onex_handler_type_parse(io->type, &type)) {
		char hint[160];
		snprintf(hint, sizeof(hint), "valid types: %s",
			 onex_handler_type_valid_list());
		return onex_contract_check_fail(&ld->chk, found[IO_TYPE], hint,
						"use one of the valid handler types",
						"unknown handler type '%s' in %s",
						io->type, path);
	}
	snprintf(sub, sizeof(sub), "%s.target", path);
	if (found[IO_TARGET] &&
	    onex_contract_check_copy(&ld->chk, found[IO_TARGET], sub, io->target,
				     sizeof(io->target)))
		return -1;
	return load_operations(ld, found[IO_OPERATIONS], type, path, io);
}

static int load_io_operations(struct node_loader *ld,
			      const struct onex_yaml_node *list,
			      const struct onex_yaml_node *type_node,
			      const struct onex_yaml_node *root)
{
	struct onex_node_contract *node = ld->node;
	size_t count = list ? list->count : 0;
	if (node->node_type == ONEX_NODE_COMPUTE && count)
		return onex_contract_check_fail(
			&ld->chk, list,
			"a COMPUTE node only transforms its input; it performs no I/O",
			"remove io_operations, or make the node an EFFECT",
			"a COMPUTE node must have no io_operations (found %zu)",
			count);
	if (node->node_type == ONEX_NODE_EFFECT && !list) {
		onex_contract_check_missing(&ld->chk, root, "", "io_operations");
		return 0;
	}
	if (node->node_type == ONEX_NODE_EFFECT && !count)
		return onex_contract_check_fail(
			&ld->chk, list ? list : type_node,
			"an EFFECT node exists to perform I/O through handlers",
			"list its operations, e.g. io_operations: [ { type: http, "
			"operations: [http.get] } ]",
			"an EFFECT node needs at least one io_operation");
	if (!count)
		return 0;
	node->io_operations = calloc(count, sizeof(*node->io_operations));
	if (!node->io_operations)
		return oom(ld, list);
	for (size_t i = 0; i < count; i++) {
		/* Counted first, so a failure half-way frees what was made. */
		node->io_operation_count++;
		if (load_io_operation(ld, list->items[i], i))
			return -1;
	}
	return 0;
}

static int load_node_type(struct node_loader *ld, const struct onex_yaml_node *v)
{
	char hint[160];
	if (onex_node_type_parse(v->value, &ld->node->node_type) == 0)
		return 0;
	const char *guess = onex_contract_suggest(v->value, node_type_names,
						  COUNT(node_type_names));
	snprintf(hint, sizeof(hint), "%s%s%svalid types: %s",
		 guess ? "did you mean '" : "", guess ? guess : "",
		 guess ? "'? " : "", NODE_TYPES_TEXT);
	return onex_contract_check_fail(&ld->chk, v, hint,
					"use one of the valid node types",
					"unknown node_type '%.64s'", v->value);
}

/* Copy the found string fields into the node. */
static int load_strings(struct node_loader *ld, const struct onex_yaml_node **found)
{
	struct onex_node_contract *node = ld->node;
	const struct {
		int field;
		char *buf;
		size_t size;
	} strings[] = {
		{ N_SCHEMA, node->schema_version, sizeof(node->schema_version) },
		{ N_VERSION, node->node_version, sizeof(node->node_version) },
		{ N_NAME, node->name, sizeof(node->name) },
		{ N_INPUT, node->input_model, sizeof(node->input_model) },
		{ N_OUTPUT, node->output_model, sizeof(node->output_model) },
	};
	for (size_t i = 0; i < COUNT(strings); i++) {
		const struct onex_yaml_node *v = found[strings[i].field];
		if (v && onex_contract_check_copy(&ld->chk, v,
						  node_fields[strings[i].field].name,
						  strings[i].buf, strings[i].size))
			return -1;
	}
	if (found[N_DESCRIPTION] &&
	    !(node->description = strndup(found[N_DESCRIPTION]->value,
					  found[N_DESCRIPTION]->length)))
		return oom(ld, found[N_DESCRIPTION]);
	return 0;
}

static int load_node_root(struct node_loader *ld, const struct onex_yaml_node *root)
{
	const struct onex_yaml_node *found[COUNT(node_fields)];
	struct onex_node_contract *node = ld->node;
	if (!root) {
		for (size_t i = 0; i < COUNT(node_fields); i++)
			if (node_fields[i].required)
				onex_contract_check_missing(&ld->chk, NULL, "",
							    node_fields[i].name);
		return 0;
	}
	if (root->kind != ONEX_YAML_MAPPING)
		return onex_contract_check_fail(&ld->chk, root, node_required_hint,
						"write the node contract as a mapping",
						"a node contract must be a mapping, not %s",
						onex_yaml_describe(root));
	if (onex_contract_check_secrets(&ld->chk, root, "") ||
	    onex_contract_check_schema_version(&ld->chk, root) ||
	    onex_contract_check_fields(&ld->chk, root, "", node_fields,
				       COUNT(node_fields), found) ||
	    load_strings(ld, found))
		return -1;
	if (found[N_TYPE] && (load_node_type(ld, found[N_TYPE]) ||
			      load_io_operations(ld, found[N_IO], found[N_TYPE], root)))
		return -1;
	if (found[N_DEPENDENCIES])
		return onex_yaml_to_json(&ld->doc, found[N_DEPENDENCIES],
					 &node->dependencies, ld->chk.err);
	node->dependencies = json_array();
	return node->dependencies ? 0 : oom(ld, root);
}

/* "dir/user_service.yaml" -> "user_service". */
static void slug_of(const char *path, char *slug, size_t size)
{
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	size_t n = strlen(base);
	if (n > 5 && strcmp(base + n - 5, ".yaml") == 0)
		n -= 5;
	snprintf(slug, size, "%.*s", (int)n, base);
}

static int node_load_text(const char *text, size_t len, const char *path,
			  int line_offset, const char *slug,
			  const struct onex_contract_options *opt,
			  struct onex_error *warnings, size_t warning_max,
			  size_t *warning_count, struct onex_node_contract **out,
			  struct onex_error *e)
{
	struct node_loader ld = { .node = calloc(1, sizeof(*ld.node)) };
	size_t dropped = 0;
	if (!ld.node)
		return onex_error_set(e, ONEX_ERR_CONTRACT_VALIDATION_ERROR, path, 0,
				      0, "out of memory");
	snprintf(ld.node->path, sizeof(ld.node->path), "%s", path);
	if (slug)
		snprintf(ld.node->slug, sizeof(ld.node->slug), "%s", slug);
	else
		slug_of(path, ld.node->slug, sizeof(ld.node->slug));
	if (onex_yaml_doc_parse(&ld.doc, text, len, path, line_offset, e)) {
		onex_node_contract_free(ld.node);
		return -1;
	}
	onex_contract_check_init(&ld.chk, &ld.doc, opt, e, warnings,
				 warnings ? warning_max : 0,
				 warning_count ? warning_count : &dropped);
	size_t first_warning = warning_count ? *warning_count : 0;
	int rc = load_node_root(&ld, ld.doc.root);
	if (!rc)
		rc = onex_contract_check_finish(&ld.chk, node_required_hint);
	if (warnings && warning_count)
		onex_contract_sort_warnings(warnings + first_warning,
					    *warning_count - first_warning);
	onex_yaml_doc_release(&ld.doc);
	if (rc) {
		onex_node_contract_free(ld.node);
		return -1;
	}
	*out = ld.node;
	return 0;
}

static int give_error(struct onex_error *err, const struct onex_error *e)
{
	if (err && !onex_error_is_set(err))
		*err = *e;
	return -1;
}

static void read_error(const char *path, int errnum, struct onex_error *e)
{
	if (errnum == EFBIG)
		onex_error_set(e, ONEX_ERR_CONTRACT_VALIDATION_ERROR, path, 0, 0,
			       "node contract file is larger than %u bytes",
			       ONEX_CONTRACT_BYTES_MAX);
	else if (errnum == ENOENT || errnum == ENOTDIR)
		onex_error_set(e, ONEX_ERR_CONTRACT_VALIDATION_ERROR, path, 0, 0,
			       "node contract file not found");
	else
		onex_error_set(e, ONEX_ERR_CONTRACT_VALIDATION_ERROR, path, 0, 0,
			       "cannot read node contract file: %s",
			       strerror(errnum));
	onex_error_hint(e, "tried '%s'", path);
	onex_error_action(e, "check the path and its permissions");
}

int onex_node_contract_load_with_warnings(const char *path, const char *slug,
					  const struct onex_contract_options *opt,
					  struct onex_error *warnings,
					  size_t warning_max,
					  size_t *warning_count,
					  struct onex_node_contract **out,
					  struct onex_error *err)
{
	struct onex_error e;
	char *text = NULL;
	size_t len = 0;
	int errnum = 0;
	onex_error_clear(&e);
	*out = NULL;
	if (onex_yaml_read_file(path, ONEX_CONTRACT_BYTES_MAX, &text, &len, &errnum)) {
		read_error(path, errnum, &e);
		return give_error(err, &e);
	}
	int rc = node_load_text(text, len, path, 0, slug, opt, warnings, warning_max,
				warning_count, out, &e);
	free(text);
	return rc ? give_error(err, &e) : 0;
}

int onex_node_contract_load_text(const struct onex_node_text *t,
				 const struct onex_contract_options *opt,
				 struct onex_node_contract **out,
				 struct onex_error *err)
{
	struct onex_error e;
	onex_error_clear(&e);
	*out = NULL;
	if (node_load_text(t->text, t->len, t->source, t->line_offset, t->slug, opt, NULL, 0,
			   NULL, out, &e))
		return give_error(err, &e);
	return 0;
}

int onex_node_contract_load(const char *path, const char *slug,
			    const struct onex_contract_options *opt,
			    struct onex_node_contract **out,
			    struct onex_error *err)
{
	return onex_node_contract_load_with_warnings(path, slug, opt, NULL, 0, NULL,
						     out, err);
}

json_t *onex_node_contract_describe(const struct onex_node_contract *node)
{
	json_t *io = json_array();
	for (size_t i = 0; io && i < node->io_operation_count; i++) {
		const struct onex_node_io_operation *op = &node->io_operations[i];
		json_t *ops = json_array();
		for (size_t j = 0; ops && j < op->operation_count; j++)
			json_array_append_new(ops, json_string(op->operations[j]));
		json_array_append_new(io, json_pack("{s:s, s:o?, s:s}", "type",
						    op->type, "operations", ops,
						    "target", op->target));
	}
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s?, s:s, s:s, s:o?, s:O?}",
			 "slug", node->slug, "name", node->name, "node_type",
			 onex_node_type_name(node->node_type), "node_version",
			 node->node_version, "schema_version",
			 node->schema_version, "description", node->description,
			 "input_model", node->input_model, "output_model",
			 node->output_model, "io_operations", io, "dependencies",
			 node->dependencies);
}

/* ---- the registry ------------------------------------------------------- */

static int node_missing(const struct onex_runtime_contract *contract,
			const struct onex_contract_node_ref *ref,
			const char *path, struct onex_error *e)
{
	onex_error_set(e, ONEX_ERR_CONTRACT_VALIDATION_ERROR, contract->path,
		       ref->line, ref->column,
		       "node contract for '%s' not found: tried '%s'", ref->slug,
		       path);
	onex_error_hint(e, "runtime.nodes lists '%s' here; node contracts are "
			   "read from nodes_dir ('%s') as <slug>.yaml",
			ref->slug, contract->nodes_dir);
	onex_error_action(e, "create %s, or fix the slug or runtime.nodes_dir",
			  path);
	return -1;
}

/* A node using a handler type the host does not run: say so, once per use. */
static void warn_unhosted(struct onex_node_registry *reg,
			  const struct onex_runtime_contract *contract,
			  const struct onex_node_contract *node)
{
	for (size_t i = 0; i < node->io_operation_count; i++) {
		enum onex_handler_type type;
		const char *name = node->io_operations[i].type;
		if (onex_handler_type_parse(name, &type) ||
		    onex_runtime_contract_has_handler(contract, type) ||
		    reg->warning_count >= ONEX_CONTRACT_WARNINGS_MAX)
			continue;
		struct onex_error *w = &reg->warnings[reg->warning_count++];
		onex_error_clear(w);
		onex_error_set(w, ONEX_ERR_CONTRACT_VALIDATION_ERROR, node->path, 0, 0,
			       "node '%s' uses handler type '%s', which "
			       "runtime.handlers does not list",
			       node->slug, name);
		onex_error_hint(w, "its requests will be answered with "
				   "HANDLER_NOT_FOUND");
		onex_error_action(w, "add { type: %s } to runtime.handlers in %s",
				  name, contract->path);
	}
}

static int registry_load_one(struct onex_node_registry *reg,
			     const struct onex_runtime_contract *contract,
			     const struct onex_contract_node_ref *ref,
			     const struct onex_contract_options *opt,
			     struct onex_error *e)
{
	char path[ONEX_PATH_BYTES_MAX];
	char *text = NULL;
	size_t len = 0;
	int errnum = 0;
	struct onex_node_contract *node = NULL;

	for (size_t i = 0; i < reg->count; i++)
		if (strcmp(reg->nodes[i]->slug, ref->slug) == 0)
			return onex_error_set(e, ONEX_ERR_CONTRACT_VALIDATION_ERROR,
					      contract->path, ref->line, ref->column,
					      "duplicate node slug '%s'", ref->slug);
	for (size_t i = 0; i < contract->node_text_count; i++) {
		const struct onex_node_text *t = &contract->node_texts[i];
		if (strcmp(t->slug, ref->slug) != 0)
			continue;
		if (node_load_text(t->text, t->len, t->source, t->line_offset, ref->slug, opt,
				   reg->warnings, ONEX_CONTRACT_WARNINGS_MAX,
				   &reg->warning_count, &node, e))
			return -1;
		reg->nodes[reg->count++] = node;
		warn_unhosted(reg, contract, node);
		return 0;
	}
	int n = snprintf(path, sizeof(path), "%s/%s.yaml", contract->nodes_dir,
			 ref->slug);
	if (n < 0 || (size_t)n >= sizeof(path))
		return onex_error_set(e, ONEX_ERR_CONTRACT_VALIDATION_ERROR,
				      contract->path, ref->line, ref->column,
				      "node contract path for '%s' is too long",
				      ref->slug);
	if (onex_yaml_read_file(path, ONEX_CONTRACT_BYTES_MAX, &text, &len, &errnum)) {
		if (errnum == ENOENT || errnum == ENOTDIR)
			return node_missing(contract, ref, path, e);
		read_error(path, errnum, e);
		return -1;
	}
	int rc = node_load_text(text, len, path, 0, ref->slug, opt, reg->warnings,
				ONEX_CONTRACT_WARNINGS_MAX, &reg->warning_count,
				&node, e);
	free(text);
	if (rc)
		return -1;
	reg->nodes[reg->count++] = node;
	warn_unhosted(reg, contract, node);
	return 0;
}

int onex_node_registry_load(struct onex_node_registry *reg,
			    const struct onex_runtime_contract *contract,
			    const struct onex_contract_options *opt,
			    struct onex_error *err)
{
	struct onex_error e;
	onex_error_clear(&e);
	memset(reg, 0, sizeof(*reg));
	reg->warnings = calloc(ONEX_CONTRACT_WARNINGS_MAX, sizeof(*reg->warnings));
	reg->nodes = calloc(contract->node_count ? contract->node_count : 1,
			    sizeof(*reg->nodes));
	if (!reg->warnings || !reg->nodes) {
		onex_node_registry_release(reg);
		return onex_error_set(err, ONEX_ERR_CONTRACT_VALIDATION_ERROR,
				      contract->path, 0, 0, "out of memory");
	}
	for (size_t i = 0; i < contract->node_count; i++) {
		if (registry_load_one(reg, contract, &contract->nodes[i], opt, &e)) {
			onex_node_registry_release(reg);
			return give_error(err, &e);
		}
	}
	return 0;
}

void onex_node_registry_release(struct onex_node_registry *reg)
{
	if (!reg)
		return;
	for (size_t i = 0; i < reg->count; i++)
		onex_node_contract_free(reg->nodes[i]);
	free(reg->nodes);
	free(reg->warnings);
	memset(reg, 0, sizeof(*reg));
}

const struct onex_node_contract *
onex_node_registry_find(const struct onex_node_registry *reg, const char *slug)
{
	for (size_t i = 0; reg && slug && i < reg->count; i++)
		if (strcmp(reg->nodes[i]->slug, slug) == 0)
			return reg->nodes[i];
	return NULL;
}
