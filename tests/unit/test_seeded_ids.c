/*
 * test_seeded_ids.c - the simulation id unit: valid v4 UUIDs, reproducible
 * from the seed, distinct per stream.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ids.h"
#include "prng.h"
#include "seeded_ids.h"
#include "uuid.h"

static struct onex_ids *ids_for(uint64_t seed, const char *stream)
{
	struct onex_prng root, s;
	onex_prng_init(&root, seed);
	onex_prng_fork(&root, stream, &s);
	return onex_seeded_ids_new(&s);
}

static void test_uuid_is_v4_lowercase(void **state)
{
	struct onex_ids *ids = ids_for(42, "ids");
	char id[ONEX_UUID_STR_BYTES];
	(void)state;
	assert_non_null(ids);
	for (int i = 0; i < 200; i++) {
		onex_ids_new_uuid(ids, id);
		assert_int_equal(strlen(id), 36);
		assert_true(onex_uuid_is_valid(id));
		assert_int_equal(id[14], '4');
		assert_non_null(strchr("89ab", id[19]));
		for (const char *c = id; *c; c++)
			assert_false(*c >= 'A' && *c <= 'F');
	}
	assert_int_equal(onex_seeded_ids_count(ids), 200);
	onex_ids_free(ids);
}

static void test_same_seed_same_ids(void **state)
{
	struct onex_ids *a = ids_for(42, "ids"), *b = ids_for(42, "ids");
	struct onex_ids *c = ids_for(43, "ids"), *d = ids_for(42, "other");
	char x[ONEX_UUID_STR_BYTES], y[ONEX_UUID_STR_BYTES];
	char z[ONEX_UUID_STR_BYTES], w[ONEX_UUID_STR_BYTES];
	(void)state;
	for (int i = 0; i < 50; i++) {
		onex_ids_new_uuid(a, x);
		onex_ids_new_uuid(b, y);
		onex_ids_new_uuid(c, z);
		onex_ids_new_uuid(d, w);
		assert_string_equal(x, y);
		assert_string_not_equal(x, z);
		assert_string_not_equal(x, w);
	}
	onex_ids_free(a);
	onex_ids_free(b);
	onex_ids_free(c);
	onex_ids_free(d);
}

/* The id is exactly onex_uuid_format_v4 of the stream's first 16 bytes. */
static void test_bytes_come_from_stream(void **state)
{
	struct onex_prng s;
	uint8_t bytes[16];
	char expected[ONEX_UUID_STR_BYTES], got[ONEX_UUID_STR_BYTES];
	struct onex_ids *ids;
	(void)state;
	onex_prng_init(&s, 5);
	ids = onex_seeded_ids_new(&s);
	onex_prng_fill(&s, bytes, sizeof(bytes)); /* the unit copied the stream */
	onex_uuid_format_v4(bytes, expected);
	onex_ids_new_uuid(ids, got);
	assert_string_equal(got, expected);
	onex_ids_free(ids);
}

static void test_no_repeats_in_many(void **state)
{
	enum { N = 2000 };
	static char seen[N][ONEX_UUID_STR_BYTES];
	struct onex_ids *ids = ids_for(1, "ids");
	(void)state;
	for (int i = 0; i < N; i++) {
		onex_ids_new_uuid(ids, seen[i]);
		for (int j = 0; j < i; j++)
			assert_string_not_equal(seen[i], seen[j]);
	}
	onex_ids_free(ids);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uuid_is_v4_lowercase),
		cmocka_unit_test(test_same_seed_same_ids),
		cmocka_unit_test(test_bytes_come_from_stream),
		cmocka_unit_test(test_no_repeats_in_many),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
