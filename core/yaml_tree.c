/*
 * yaml_tree.c - compose one YAML document from libyaml events into a tree
 * with positions, merge keys resolved, duplicate keys refused and every
 * size bounded (see yaml_tree.h for why not yaml_parser_load).
 */
#include "yaml_tree.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define TAG_PREFIX "tag:yaml.org,2002:"

struct anchor {
	char *name;
	struct onex_yaml_node *node;
};

/*
 * Composition state. While a container is open, its node's `count` is the
 * number of raw entries in `items` (for a mapping: keys and values); it
 * becomes the pair count when the mapping is finished.
 */
struct composer {
	struct onex_yaml_doc *doc;
	const char *text;
	size_t len;
	int line_offset;
	struct onex_error *err;
	struct onex_yaml_node *stack[ONEX_CONTRACT_DEPTH_MAX];
	char *stack_anchor[ONEX_CONTRACT_DEPTH_MAX];
	size_t depth;
	struct anchor *anchors;
	size_t anchor_count, anchor_cap;
	int documents;
};

/* Record an error with hint and action; only when none is recorded yet. */
__attribute__((format(printf, 7, 8))) static int
fail(struct onex_error *err, const char *source, int line, int column,
     const char *hint, const char *action, const char *fmt, ...)
{
	va_list ap;
	if (!err || onex_error_is_set(err))
		return -1;
	va_start(ap, fmt);
	onex_error_vset(err, ONEX_ERR_CONTRACT_VALIDATION_ERROR, source, line,
			column, fmt, ap);
	va_end(ap);
	if (hint)
		onex_error_hint(err, "%s", hint);
	if (action)
		onex_error_action(err, "%s", action);
	return -1;
}

static int oom(struct composer *c, int line, int column)
{
	return fail(c->err, c->doc->source, line, column, NULL, NULL,
		    "out of memory while reading the contract");
}

/* Grow *array (of `size`-byte elements) to hold at least need entries. */
static int grow(void *array, size_t *cap, size_t need, size_t size)
{
	void **p = array;
	if (need <= *cap)
		return 0;
	size_t n = *cap ? *cap * 2 : 8;
	while (n < need)
		n *= 2;
	void *q = realloc(*p, n * size);
	if (!q)
		return -1;
	*p = q;
	*cap = n;
	return 0;
}

static int mark_line(const struct composer *c, yaml_mark_t mark)
{
	return (int)mark.line + 1 + c->line_offset;
}

static int mark_column(yaml_mark_t mark)
{
	return (int)mark.column + 1;
}

static struct onex_yaml_node *new_node(struct composer *c,
				       enum onex_yaml_kind kind,
				       yaml_mark_t mark)
{
	struct onex_yaml_doc *doc = c->doc;
	if (grow(&doc->all, &doc->all_cap, doc->all_count + 1, sizeof(*doc->all)))
		return NULL;
	struct onex_yaml_node *node = calloc(1, sizeof(*node));
	if (!node)
		return NULL;
	doc->all[doc->all_count++] = node;
	node->kind = kind;
	node->line = mark_line(c, mark);
	node->column = mark_column(mark);
	node->expanded = 1;
	return node;
}

static int too_big(struct composer *c, const struct onex_yaml_node *node)
{
	char hint[160];
	snprintf(hint, sizeof(hint),
		 "aliases multiply the document; at most %u nodes are allowed "
		 "once every alias is expanded",
		 ONEX_YAML_EXPANDED_NODES_MAX);
	return fail(c->err, c->doc->source, node->line, node->column, hint,
		    "use fewer aliases, or write the values out",
		    "document is too large once its aliases are expanded");
}

static int too_deep(struct composer *c, int line, int column)
{
	char hint[128];
	snprintf(hint, sizeof(hint),
		 "at most %u mappings/lists may be nested in a contract",
		 ONEX_CONTRACT_DEPTH_MAX);
	return fail(c->err, c->doc->source, line, column, hint,
		    "flatten the structure", "nesting is too deep");
}

/* Add `node` to the open container, or make it the root. */
static int attach(struct composer *c, struct onex_yaml_node *node)
{
	if (c->depth == 0) {
		c->doc->root = node;
		return 0;
	}
	struct onex_yaml_node *parent = c->stack[c->depth - 1];
	if (parent->kind == ONEX_YAML_MAPPING && parent->count % 2 == 0) {
		if (node->kind != ONEX_YAML_SCALAR)
			return fail(c->err, c->doc->source, node->line,
				    node->column,
				    "contract keys are names such as 'handlers'",
				    "write the key as plain text",
				    "a mapping key must be text, not %s",
				    onex_yaml_describe(node));
		if (memchr(node->value, '\0', node->length))
			return fail(c->err, c->doc->source, node->line,
				    node->column, "a \\0 escape in a quoted key",
				    "remove the NUL byte",
				    "a mapping key holds a NUL byte");
	}
	if (grow(&parent->items, &parent->cap, parent->count + 1,
		 sizeof(*parent->items)))
		return oom(c, node->line, node->column);
	parent->items[parent->count++] = node;
	return 0;
}

static int register_anchor(struct composer *c, char *name,
			   struct onex_yaml_node *node)
{
	for (size_t i = 0; i < c->anchor_count; i++) {
		if (strcmp(c->anchors[i].name, name) == 0) {
			/* YAML allows redefinition: later aliases see the new node. */
			free(name);
			c->anchors[i].node = node;
			return 0;
		}
	}
	if (grow(&c->anchors, &c->anchor_cap, c->anchor_count + 1,
		 sizeof(*c->anchors))) {
		free(name);
		return oom(c, node->line, node->column);
	}
	c->anchors[c->anchor_count++] = (struct anchor){ name, node };
	return 0;
}

static char *dup_anchor(const yaml_char_t *anchor)
{
	return anchor ? strdup((const char *)anchor) : NULL;
}

static int add_scalar(struct composer *c, const yaml_event_t *ev)
{
	struct onex_yaml_node *node = new_node(c, ONEX_YAML_SCALAR, ev->start_mark);
	if (!node)
		return oom(c, mark_line(c, ev->start_mark), mark_column(ev->start_mark));
	node->length = ev->data.scalar.length;
	node->value = malloc(node->length + 1);
	if (!node->value)
		return oom(c, node->line, node->column);
	memcpy(node->value, ev->data.scalar.value, node->length);
	node->value[node->length] = '\0';
	const char *tag = (const char *)ev->data.scalar.tag;
	/* The non-specific tag "!" only says "not plain": a string. */
	if (tag && strcmp(tag, "!") != 0 && !(node->tag = strdup(tag)))
		return oom(c, node->line, node->column);
	node->plain = !tag && ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
	node->done = 1;
	if (ev->data.scalar.anchor) {
		char *name = dup_anchor(ev->data.scalar.anchor);
		if (!name || register_anchor(c, name, node))
			return oom(c, node->line, node->column);
	}
	return attach(c, node);
}

static int open_container(struct composer *c, const yaml_event_t *ev,
			  enum onex_yaml_kind kind, const yaml_char_t *anchor)
{
	int line = mark_line(c, ev->start_mark);
	int column = mark_column(ev->start_mark);
	if (c->depth >= ONEX_CONTRACT_DEPTH_MAX)
		return too_deep(c, line, column);
	struct onex_yaml_node *node = new_node(c, kind, ev->start_mark);
	if (!node)
		return oom(c, line, column);
	c->stack_anchor[c->depth] = NULL;
	if (anchor && !(c->stack_anchor[c->depth] = dup_anchor(anchor)))
		return oom(c, line, column);
	c->stack[c->depth++] = node;
	return 0;
}

static int key_cmp(const struct onex_yaml_node *a, const struct onex_yaml_node *b)
{
	size_t n = a->length < b->length ? a->length : b->length;
	int r = memcmp(a->value, b->value, n);
	if (r)
		return r;
	return (a->length > b->length) - (a->length < b->length);
}

static int is_merge_key(const struct onex_yaml_node *key)
{
	return key->plain && key->length == 2 && memcmp(key->value, "<<", 2) == 0;
}

/* One pair of a mapping being finished: its own pairs, then merged ones. */
struct pair {
	struct onex_yaml_node *key, *value;
	size_t index;
	int own;
};

static int pair_cmp(const void *pa, const void *pb)
{
	const struct pair *a = pa, *b = pb;
	int r = key_cmp(a->key, b->key);
	if (r)
		return r;
	return (a->index > b->index) - (a->index < b->index);
}

static int add_pairs(struct pair **pairs, size_t *n, size_t *cap,
		     const struct onex_yaml_node *from, int own)
{
	for (size_t i = 0; i < from->count; i++) {
		struct onex_yaml_node *key = from->items[2 * i];
		if (own && is_merge_key(key))
			continue;
		if (grow(pairs, cap, *n + 1, sizeof(**pairs)))
			return -1;
		(*pairs)[*n] = (struct pair){ key, from->items[2 * i + 1], *n, own };
		(*n)++;
	}
	return 0;
}

/* The sources of a merge key's value: a mapping or a list of mappings. */
static int add_merge_sources(struct composer *c, struct pair **pairs, size_t *n,
			     size_t *cap, const struct onex_yaml_node *value)
{
	static const char hint[] = "'<<: *base' merges the keys of the mapping "
				   "anchored as &base; keys written here win";
	if (value->kind == ONEX_YAML_MAPPING)
		return add_pairs(pairs, n, cap, value, 0) ? oom(c, value->line, 0) : 0;
	if (value->kind != ONEX_YAML_SEQUENCE)
		goto bad;
	for (size_t i = 0; i < value->count; i++) {
		if (value->items[i]->kind != ONEX_YAML_MAPPING)
			goto bad;
		if (add_pairs(pairs, n, cap, value->items[i], 0))
			return oom(c, value->line, 0);
	}
	return 0;
bad:
	return fail(c->err, c->doc->source, value->line, value->column, hint,
		    "merge a mapping, e.g. '<<: *defaults'",
		    "merge key '<<' takes a mapping or a list of mappings, not %s",
		    onex_yaml_describe(value));
}

/*
 * Rebuild `map` from pairs[0..n), sorted by (key, index): keep the first
 * pair of each key, in index order; two own pairs with one key are a
 * duplicate (the earliest repeat in the file is reported).
 */
static int keep_first_of_each_key(struct composer *c, struct onex_yaml_node *map,
				  const struct pair *pairs, size_t n)
{
	unsigned char *keep = calloc(n, 1);
	struct onex_yaml_node **by_index = malloc(n * 2 * sizeof(*by_index));
	struct onex_yaml_node **items = malloc(n * 2 * sizeof(*items));
	const struct pair *first = NULL, *second = NULL;
	size_t kept = 0;
	if (!keep || !by_index || !items) {
		free(keep), free(by_index), free(items);
		return oom(c, map->line, map->column);
	}
	for (size_t i = 0; i < n; i++) {
		by_index[2 * pairs[i].index] = pairs[i].key;
		by_index[2 * pairs[i].index + 1] = pairs[i].value;
		if (i == 0 || key_cmp(pairs[i - 1].key, pairs[i].key) != 0)
			keep[pairs[i].index] = 1;
		else if (pairs[i].own && pairs[i - 1].own &&
			 (!second || pairs[i].index < second->index))
			first = &pairs[i - 1], second = &pairs[i];
	}
	for (size_t i = 0; i < n && !second; i++) {
		if (!keep[i])
			continue;
		items[2 * kept] = by_index[2 * i];
		items[2 * kept + 1] = by_index[2 * i + 1];
		kept++;
	}
	free(keep), free(by_index);
	if (second) {
		char hint[96];
		free(items);
		snprintf(hint, sizeof(hint), "first defined at line %d",
			 first->key->line);
		return fail(c->err, c->doc->source, second->key->line,
			    second->key->column, hint, "keep one of the two",
			    "duplicate key '%.64s'", second->key->value);
	}
	free(map->items);
	map->items = items;
	map->cap = 2 * n;
	map->count = kept;
	return 0;
}

/*
 * Replace `map`'s entries by its own pairs plus merged pairs whose key it
 * does not already have, refusing duplicate own keys. Sorting (key, index)
 * groups equal keys with the earliest first: own pairs come before merged
 * ones and earlier merge sources before later ones, so keeping the first of
 * each group is the YAML merge rule. O(n log n) however large the mapping.
 */
static int finish_mapping(struct composer *c, struct onex_yaml_node *map)
{
	struct pair *pairs = NULL;
	size_t n = 0, cap = 0, merges = 0;
	int rc = -1;
	map->count /= 2;
	if (add_pairs(&pairs, &n, &cap, map, 1)) {
		oom(c, map->line, map->column);
		goto out;
	}
	for (size_t i = 0; i < map->count; i++) {
		const struct onex_yaml_node *key = map->items[2 * i];
		if (!is_merge_key(key))
			continue;
		if (++merges > 1) {
			fail(c->err, c->doc->source, key->line, key->column,
			     "a mapping may have one merge key",
			     "merge a list instead: '<<: [*a, *b]'",
			     "duplicate merge key '<<'");
			goto out;
		}
		if (add_merge_sources(c, &pairs, &n, &cap, map->items[2 * i + 1]))
			goto out;
	}
	if (n == 0) { /* {} or only an empty merge */
		map->count = 0;
		rc = 0;
		goto out;
	}
	qsort(pairs, n, sizeof(*pairs), pair_cmp);
	rc = keep_first_of_each_key(c, map, pairs, n);
out:
	free(pairs);
	return rc;
}

static int close_container(struct composer *c)
{
	struct onex_yaml_node *node = c->stack[--c->depth];
	char *anchor = c->stack_anchor[c->depth];
	c->stack_anchor[c->depth] = NULL;
	if (node->kind == ONEX_YAML_MAPPING && finish_mapping(c, node)) {
		free(anchor);
		return -1;
	}
	size_t entries = node->kind == ONEX_YAML_MAPPING ? 2 * node->count
							 : node->count;
	node->expanded = 1;
	node->height = 1;
	for (size_t i = 0; i < entries; i++) {
		const struct onex_yaml_node *child = node->items[i];
		node->expanded += child->expanded;
		if (node->expanded > ONEX_YAML_EXPANDED_NODES_MAX) {
			free(anchor);
			return too_big(c, node);
		}
		if (child->height + 1 > node->height)
			node->height = child->height + 1;
	}
	if (node->height > ONEX_CONTRACT_DEPTH_MAX) {
		free(anchor);
		return too_deep(c, node->line, node->column);
	}
	node->done = 1;
	if (anchor && register_anchor(c, anchor, node))
		return -1;
	return attach(c, node);
}

static int add_alias(struct composer *c, const yaml_event_t *ev)
{
	const char *name = (const char *)ev->data.alias.anchor;
	for (size_t i = c->anchor_count; i-- > 0;)
		if (strcmp(c->anchors[i].name, name) == 0)
			return attach(c, c->anchors[i].node);
	return fail(c->err, c->doc->source, mark_line(c, ev->start_mark),
		    mark_column(ev->start_mark),
		    "an alias names an anchor (&name) defined earlier in the "
		    "file, outside the node that uses it",
		    "define the anchor before using it",
		    "alias '*%s' names no anchor defined before it", name);
}

/* libyaml's own error, with its 1-based position. */
static int syntax_error(struct composer *c, const yaml_parser_t *parser)
{
	int line = 0, column = 0;
	char context[160] = "";
	if (parser->error == YAML_MEMORY_ERROR)
		return oom(c, 0, 0);
	if (parser->error == YAML_READER_ERROR) {
		/* Encoding problems carry a byte offset, not a mark. */
		size_t off = parser->problem_offset < c->len ? parser->problem_offset
							       : c->len;
		const char *nl = NULL;
		line = 1 + c->line_offset;
		for (size_t i = 0; i < off; i++) {
			if (c->text[i] == '\n') {
				line++;
				nl = c->text + i;
			}
		}
		column = (int)(c->text + off - (nl ? nl + 1 : c->text)) + 1;
	} else {
		line = mark_line(c, parser->problem_mark);
		column = mark_column(parser->problem_mark);
		if (parser->context)
			snprintf(context, sizeof(context),
				 " (%s at line %d, column %d)", parser->context,
				 mark_line(c, parser->context_mark),
				 mark_column(parser->context_mark));
	}
	return fail(c->err, c->doc->source, line, column,
		    parser->error == YAML_READER_ERROR
			    ? "a contract is UTF-8 text (or UTF-16 with a byte "
			      "order mark); this byte is not"
			    : "YAML is sensitive to indentation: check the "
			      "indentation, quotes and ':' at and just before "
			      "this position",
		    parser->error == YAML_READER_ERROR
			    ? "save the file as UTF-8"
			    : "fix the YAML syntax",
		    "invalid YAML: %s%s",
		    parser->problem ? parser->problem : "unknown error", context);
}

/* Handle one event; *finished at the end of the stream. */
static int on_event(struct composer *c, const yaml_event_t *ev, int *finished)
{
	switch (ev->type) {
	case YAML_DOCUMENT_START_EVENT:
		if (c->documents++ == 0)
			return 0;
		return fail(c->err, c->doc->source, mark_line(c, ev->start_mark),
			    mark_column(ev->start_mark),
			    "a contract file holds one YAML document",
			    "remove the second document ('---') or move it to "
			    "its own file",
			    "more than one YAML document in the file");
	case YAML_SCALAR_EVENT:
		return add_scalar(c, ev);
	case YAML_ALIAS_EVENT:
		return add_alias(c, ev);
	case YAML_SEQUENCE_START_EVENT:
		return open_container(c, ev, ONEX_YAML_SEQUENCE,
				      ev->data.sequence_start.anchor);
	case YAML_MAPPING_START_EVENT:
		return open_container(c, ev, ONEX_YAML_MAPPING,
				      ev->data.mapping_start.anchor);
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		return close_container(c);
	case YAML_STREAM_END_EVENT:
		*finished = 1;
		return 0;
	default:
		return 0;
	}
}

int onex_yaml_doc_parse(struct onex_yaml_doc *doc, const char *text,
			size_t len, const char *source, int line_offset,
			struct onex_error *err)
{
	struct composer c = { .doc = doc, .text = text, .len = len,
			      .line_offset = line_offset, .err = err };
	yaml_parser_t parser;
	int rc = 0, finished = 0;

	memset(doc, 0, sizeof(*doc));
	doc->line_offset = line_offset;
	doc->source = strdup(source ? source : "<contract>");
	if (!doc->source)
		return fail(err, source, 0, 0, NULL, NULL, "out of memory");
	if (!yaml_parser_initialize(&parser)) {
		onex_yaml_doc_release(doc);
		return fail(err, source, 0, 0, NULL, NULL, "out of memory");
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	while (!rc && !finished) {
		yaml_event_t ev;
		if (!yaml_parser_parse(&parser, &ev)) {
			rc = syntax_error(&c, &parser);
			break;
		}
		rc = on_event(&c, &ev, &finished);
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	for (size_t i = 0; i < c.depth; i++)
		free(c.stack_anchor[i]);
	for (size_t i = 0; i < c.anchor_count; i++)
		free(c.anchors[i].name);
	free(c.anchors);
	if (rc)
		onex_yaml_doc_release(doc);
	return rc;
}

void onex_yaml_doc_release(struct onex_yaml_doc *doc)
{
	if (!doc)
		return;
	for (size_t i = 0; i < doc->all_count; i++) {
		free(doc->all[i]->value);
		free(doc->all[i]->tag);
		free(doc->all[i]->items);
		free(doc->all[i]);
	}
	free(doc->all);
	free(doc->source);
	memset(doc, 0, sizeof(*doc));
}

int onex_yaml_read_file(const char *path, size_t bytes_max, char **text,
			size_t *len, int *errnum)
{
	char *buf = NULL;
	size_t n = 0, cap = 0;
	FILE *f = fopen(path, "rb");
	*text = NULL;
	*len = 0;
	if (!f) {
		*errnum = errno;
		return -1;
	}
	for (;;) {
		if (n == cap) {
			size_t want = cap ? cap * 2 : 8192;
			if (want > bytes_max + 1)
				want = bytes_max + 1;
			char *p = want > cap ? realloc(buf, want + 1) : NULL;
			if (!p) {
				*errnum = want > cap ? ENOMEM : EFBIG;
				goto fail;
			}
			buf = p;
			cap = want;
		}
		size_t got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (n > bytes_max) {
			*errnum = EFBIG;
			goto fail;
		}
		if (got == 0) {
			if (ferror(f)) {
				*errnum = errno ? errno : EIO;
				goto fail;
			}
			break;
		}
	}
	fclose(f);
	if (!buf && !(buf = malloc(1))) {
		*errnum = ENOMEM;
		return -1;
	}
	buf[n] = '\0';
	*text = buf;
	*len = n;
	return 0;
fail:
	fclose(f);
	free(buf);
	return -1;
}

const struct onex_yaml_node *onex_yaml_map_key(const struct onex_yaml_node *map,
					       size_t i)
{
	return map->items[2 * i];
}

const struct onex_yaml_node *
onex_yaml_map_value(const struct onex_yaml_node *map, size_t i)
{
	return map->items[2 * i + 1];
}

const struct onex_yaml_node *onex_yaml_map_get(const struct onex_yaml_node *map,
					       const char *key)
{
	if (!map || map->kind != ONEX_YAML_MAPPING)
		return NULL;
	size_t n = strlen(key);
	for (size_t i = 0; i < map->count; i++) {
		const struct onex_yaml_node *k = map->items[2 * i];
		if (k->length == n && memcmp(k->value, key, n) == 0)
			return map->items[2 * i + 1];
	}
	return NULL;
}

static int text_in(const struct onex_yaml_node *node, const char *const *words)
{
	for (; *words; words++)
		if (strlen(*words) == node->length &&
		    memcmp(*words, node->value, node->length) == 0)
			return 1;
	return 0;
}

static const char *const null_words[] = { "", "~", "null", "Null", "NULL", NULL };
static const char *const true_words[] = { "true", "True", "TRUE", NULL };
static const char *const false_words[] = { "false", "False", "FALSE", NULL };

static int tag_is(const struct onex_yaml_node *node, const char *name)
{
	return node->tag && strncmp(node->tag, TAG_PREFIX, strlen(TAG_PREFIX)) == 0 &&
	       strcmp(node->tag + strlen(TAG_PREFIX), name) == 0;
}

int onex_yaml_is_null(const struct onex_yaml_node *node)
{
	if (!node || node->kind != ONEX_YAML_SCALAR)
		return 0;
	return ((node->plain || tag_is(node, "null")) && text_in(node, null_words));
}

/* [-+]?[0-9]+ */
static int looks_int(const char *s)
{
	if (*s == '-' || *s == '+')
		s++;
	if (!*s)
		return 0;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

/* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static int looks_real(const char *s)
{
	size_t digits = 0;
	if (*s == '-' || *s == '+')
		s++;
	for (; *s >= '0' && *s <= '9'; s++)
		digits++;
	if (*s == '.')
		for (s++; *s >= '0' && *s <= '9'; s++)
			digits++;
	if (!digits)
		return 0;
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '-' || *s == '+')
			s++;
		if (!(*s >= '0' && *s <= '9'))
			return 0;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	return *s == '\0';
}

/* The type a plain scalar's text has (YAML 1.2 core schema). */
static void resolve_text(const struct onex_yaml_node *node,
			 struct onex_yaml_scalar *out, int *range_error)
{
	const char *s = node->value;
	*range_error = 0;
	memset(out, 0, sizeof(*out));
	if (text_in(node, null_words)) {
		out->type = ONEX_YAML_NULL;
	} else if (text_in(node, true_words) || text_in(node, false_words)) {
		out->type = ONEX_YAML_BOOL;
		out->boolean = text_in(node, true_words);
	} else if (strlen(s) == node->length && looks_int(s)) {
		out->type = ONEX_YAML_INT;
		errno = 0;
		out->integer = strtoll(s, NULL, 10);
		*range_error = errno == ERANGE;
	} else if (strlen(s) == node->length && looks_real(s)) {
		out->type = ONEX_YAML_REAL;
		out->real = strtod(s, NULL);
		*range_error = !isfinite(out->real);
	} else {
		out->type = ONEX_YAML_STR;
	}
}

int onex_yaml_scalar_resolve(const struct onex_yaml_doc *doc,
			     const struct onex_yaml_node *node,
			     struct onex_yaml_scalar *out,
			     struct onex_error *err)
{
	static const struct {
		const char *tag;
		enum onex_yaml_scalar_type type;
	} tags[] = { { "null", ONEX_YAML_NULL }, { "bool", ONEX_YAML_BOOL },
		     { "int", ONEX_YAML_INT },	 { "float", ONEX_YAML_REAL } };
	const char *source = doc ? doc->source : NULL;
	int range_error = 0;

	memset(out, 0, sizeof(*out));
	out->type = ONEX_YAML_STR;
	if (!node->plain && (!node->tag || tag_is(node, "str")))
		return 0;
	resolve_text(node, out, &range_error);
	if (range_error)
		return fail(err, source, node->line, node->column,
			    "integers must fit in 64 bits, reals in a double",
			    "use a smaller number, or quote it to keep it as text",
			    "number '%s' is out of range", node->value);
	if (!node->tag)
		return 0;
	for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++) {
		if (!tag_is(node, tags[i].tag))
			continue;
		if (tags[i].type == ONEX_YAML_REAL && out->type == ONEX_YAML_INT) {
			out->type = ONEX_YAML_REAL;
			out->real = (double)out->integer;
		}
		if (out->type == tags[i].type)
			return 0;
		return fail(err, source, node->line, node->column,
			    "an explicit tag must match the value's form",
			    "fix the value or remove the tag",
			    "value '%s' is not a valid !!%s", node->value,
			    tags[i].tag);
	}
	return fail(err, source, node->line, node->column,
		    "contracts support the tags !!str, !!int, !!float, !!bool "
		    "and !!null",
		    "remove the tag", "unsupported YAML tag '%s'", node->tag);
}

const char *onex_yaml_describe(const struct onex_yaml_node *node)
{
	struct onex_yaml_scalar v;
	if (!node)
		return "nothing";
	if (node->kind == ONEX_YAML_MAPPING)
		return "a mapping";
	if (node->kind == ONEX_YAML_SEQUENCE)
		return "a list";
	if (onex_yaml_scalar_resolve(NULL, node, &v, NULL))
		return "a value";
	switch (v.type) {
	case ONEX_YAML_NULL:
		return "null";
	case ONEX_YAML_BOOL:
		return "true/false";
	case ONEX_YAML_INT:
	case ONEX_YAML_REAL:
		return "a number";
	default:
		return "a string";
	}
}

static int scalar_to_json(const struct onex_yaml_doc *doc,
			  const struct onex_yaml_node *node, json_t **out,
			  struct onex_error *err)
{
	struct onex_yaml_scalar v;
	if (onex_yaml_scalar_resolve(doc, node, &v, err))
		return -1;
	switch (v.type) {
	case ONEX_YAML_NULL:
		*out = json_null();
		break;
	case ONEX_YAML_BOOL:
		*out = json_boolean(v.boolean);
		break;
	case ONEX_YAML_INT:
		*out = json_integer(v.integer);
		break;
	case ONEX_YAML_REAL:
		*out = json_real(v.real);
		break;
	default:
		*out = json_stringn(node->value, node->length);
		break;
	}
	if (*out)
		return 0;
	return fail(err, doc->source, node->line, node->column, NULL, NULL,
		    "value cannot be stored (not valid UTF-8, or out of memory)");
}

int onex_yaml_to_json(const struct onex_yaml_doc *doc,
		      const struct onex_yaml_node *node, json_t **out,
		      struct onex_error *err)
{
	*out = NULL;
	if (node->kind == ONEX_YAML_SCALAR)
		return scalar_to_json(doc, node, out, err);
	json_t *json = node->kind == ONEX_YAML_MAPPING ? json_object() : json_array();
	if (!json)
		return fail(err, doc->source, node->line, node->column, NULL, NULL,
			    "out of memory");
	for (size_t i = 0; i < node->count; i++) {
		json_t *child = NULL;
		const struct onex_yaml_node *value =
			node->kind == ONEX_YAML_MAPPING ? node->items[2 * i + 1]
							: node->items[i];
		if (onex_yaml_to_json(doc, value, &child, err))
			goto fail;
		int rc = node->kind == ONEX_YAML_MAPPING
				 ? json_object_set_new(json, node->items[2 * i]->value,
						       child)
				 : json_array_append_new(json, child);
		if (rc) {
			fail(err, doc->source, value->line, value->column, NULL,
			     NULL, "value cannot be stored (key not valid UTF-8, "
				   "or out of memory)");
			goto fail;
		}
	}
	*out = json;
	return 0;
fail:
	json_decref(json);
	return -1;
}
