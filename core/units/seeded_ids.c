/*
 * seeded_ids.c - UUIDv4 from 16 PRNG bytes (onex_uuid_format_v4 sets the
 * version and variant bits).
 */
#include "seeded_ids.h"

#include <stdlib.h>

#include "error.h"

struct seeded_ids {
	struct onex_ids base; /* first: the ids port */
	struct onex_prng prng;
	uint64_t count;
};

static const struct onex_ids_ops seeded_ids_ops;

static struct seeded_ids *ids_self(const struct onex_ids *ids)
{
	if (!ids || ids->ops != &seeded_ids_ops)
		ONEX_BUG("not a seeded id unit");
	return (struct seeded_ids *)ids;
}

static void seeded_new_uuid(struct onex_ids *ids, char out[ONEX_UUID_STR_BYTES])
{
	struct seeded_ids *self = ids_self(ids);
	uint8_t bytes[16];
	onex_prng_fill(&self->prng, bytes, sizeof(bytes));
	onex_uuid_format_v4(bytes, out);
	self->count++;
}

static void seeded_free(struct onex_ids *ids)
{
	free(ids_self(ids));
}

static const struct onex_ids_ops seeded_ids_ops = {
	.name = "seeded",
	.new_uuid = seeded_new_uuid,
	.free = seeded_free,
};

struct onex_ids *onex_seeded_ids_new(const struct onex_prng *stream)
{
	struct seeded_ids *self = calloc(1, sizeof(*self));
	if (!self)
		return NULL;
	self->base.ops = &seeded_ids_ops;
	self->prng = *stream;
	return &self->base;
}

struct onex_ids *onex_seeded_ids_from_seed(uint64_t seed)
{
	struct onex_prng root, stream;
	onex_prng_init(&root, seed);
	onex_prng_fork(&root, "ids", &stream);
	return onex_seeded_ids_new(&stream);
}

uint64_t onex_seeded_ids_count(const struct onex_ids *ids)
{
	return ids_self(ids)->count;
}
