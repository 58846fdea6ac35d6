/*
 * ids.h - the id port: every new UUID the host creates comes from here.
 * The system unit gives random UUIDv4s; the simulation unit derives them
 * from the scenario seed, so traces are reproducible.
 */
#ifndef ONEX_IDS_H
#define ONEX_IDS_H

#include "uuid.h"

struct onex_ids;

struct onex_ids_ops {
	const char *name;
	/* Write a new lowercase canonical UUID (36 chars + NUL) into out. */
	void (*new_uuid)(struct onex_ids *ids, char out[ONEX_UUID_STR_BYTES]);
	void (*free)(struct onex_ids *ids);
};

struct onex_ids {
	const struct onex_ids_ops *ops;
};

static inline void onex_ids_new_uuid(struct onex_ids *ids,
				     char out[ONEX_UUID_STR_BYTES])
{
	ids->ops->new_uuid(ids, out);
}

static inline void onex_ids_free(struct onex_ids *ids)
{
	if (ids && ids->ops->free)
		ids->ops->free(ids);
}

#endif
