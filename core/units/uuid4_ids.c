/*
 * uuid4_ids.c - the id port with random version-4 UUIDs from getrandom(2),
 * read 4 KiB at a time.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "system_units.h"

struct uuid4_ids {
	struct onex_ids base;
	size_t used;
	uint8_t pool[4096];
};

static void refill(struct uuid4_ids *ids)
{
	size_t got = 0;
	while (got < sizeof(ids->pool)) {
		ssize_t n = getrandom(ids->pool + got, sizeof(ids->pool) - got, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			ONEX_BUG("getrandom failed: %s", strerror(errno));
		}
		got += (size_t)n;
	}
	ids->used = 0;
}

static void new_uuid(struct onex_ids *base, char out[ONEX_UUID_STR_BYTES])
{
	struct uuid4_ids *ids = (struct uuid4_ids *)base;
	if (ids->used + 16 > sizeof(ids->pool))
		refill(ids);
	onex_uuid_format_v4(ids->pool + ids->used, out);
	ids->used += 16;
}

static void ids_free(struct onex_ids *base)
{
	free(base);
}

static const struct onex_ids_ops uuid4_ops = {
	.name = "uuid4",
	.new_uuid = new_uuid,
	.free = ids_free,
};

struct onex_ids *onex_uuid4_ids_new(void)
{
	struct uuid4_ids *ids = malloc(sizeof(*ids));
	if (!ids)
		return NULL;
	ids->base.ops = &uuid4_ops;
	ids->used = sizeof(ids->pool); /* refill on first use */
	return &ids->base;
}
