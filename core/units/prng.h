/*
 * prng.h - a seeded pseudo-random number generator (the simulation's, and
 * the hosts' --id-seed).
 *
 * xoshiro256** (Blackman & Vigna, 2018) seeded through splitmix64, so any
 * 64-bit seed (0 included) gives a well-mixed, non-zero state. One scenario
 * seed feeds one root generator; every consumer (ids, fault choices, bus
 * delays, ...) takes its own stream with onex_prng_fork(), named, so adding
 * a consumer never shifts the numbers another one sees.
 *
 * Pure computation: no globals, no wall time, the same numbers on every
 * platform (all arithmetic is on uint64_t, no floating point).
 */
#ifndef ONEX_UNITS_PRNG_H
#define ONEX_UNITS_PRNG_H

#include <stddef.h>
#include <stdint.h>

/* Embeddable, copyable by value (a copy replays the same sequence). */
struct onex_prng {
	uint64_t s[4];
};

/* Seed `p` from one 64-bit value (splitmix64 expands it to 256 bits). */
void onex_prng_init(struct onex_prng *p, uint64_t seed);

/* The next 64 random bits. */
uint64_t onex_prng_next_u64(struct onex_prng *p);

/*
 * A uniformly distributed value in [0, n), without modulo bias (rejection
 * of the short top range; the expected number of draws is < 2). n == 0 is
 * a programmer error (aborts).
 */
uint64_t onex_prng_below(struct onex_prng *p, uint64_t n);

/* Fill `len` bytes (little-endian bytes of successive next_u64 values). */
void onex_prng_fill(struct onex_prng *p, uint8_t *buf, size_t len);

/*
 * Derive an independent stream named `stream_name` into *out. The parent is
 * NOT advanced: the child depends only on the parent's current state and
 * the name (FNV-1a 64 of the name, mixed with the state, then splitmix64),
 * so forking "ids" and later adding a fork "faults" leaves both the parent's
 * sequence and the "ids" stream unchanged. Forking the same name twice from
 * the same state gives the same stream; fork streams from the root right
 * after onex_prng_init() so they do not depend on how far it was used.
 */
void onex_prng_fork(const struct onex_prng *p, const char *stream_name,
		    struct onex_prng *out);

#endif
