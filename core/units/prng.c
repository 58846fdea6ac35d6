/*
 * prng.c - splitmix64 + xoshiro256** (public-domain reference algorithms
 * by Sebastiano Vigna, transcribed; see prng.h).
 */
#include "prng.h"

#include "error.h"

/* Rotate left; k in [0, 63] (the mask keeps k == 0 defined). */
static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> ((64 - k) & 63));
}

/* One splitmix64 step: advances *state, returns a mixed value. */
static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

void onex_prng_init(struct onex_prng *p, uint64_t seed)
{
	uint64_t sm = seed;
	for (int i = 0; i < 4; i++)
		p->s[i] = splitmix64(&sm);
	/* splitmix64 is a bijection of distinct counters: an all-zero state
	 * cannot come out of it, but guard anyway (xoshiro would stick at 0). */
	if (!(p->s[0] | p->s[1] | p->s[2] | p->s[3]))
		p->s[0] = 1;
}

uint64_t onex_prng_next_u64(struct onex_prng *p)
{
	uint64_t *s = p->s;
	const uint64_t result = rotl(s[1] * 5, 7) * 9;
	const uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

uint64_t onex_prng_below(struct onex_prng *p, uint64_t n)
{
	/* Values below `threshold` (= 2^64 mod n) would make the low residues
	 * more likely; reject them. Each draw is rejected with probability
	 * threshold / 2^64 < 1/2, so the loop ends quickly in practice. */
	uint64_t threshold, r;
	if (n == 0)
		ONEX_BUG("onex_prng_below(0)");
	threshold = (0 - n) % n;
	do
		r = onex_prng_next_u64(p);
	while (r < threshold);
	return r % n;
}

void onex_prng_fill(struct onex_prng *p, uint8_t *buf, size_t len)
{
	size_t i = 0;
	while (i < len) {
		uint64_t v = onex_prng_next_u64(p);
		for (int b = 0; b < 8 && i < len; b++, i++)
			buf[i] = (uint8_t)(v >> (8 * b));
	}
}

/* FNV-1a, 64-bit: a stable hash of the stream name. */
static uint64_t fnv1a64(const char *s)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325);
	for (; *s; s++) {
		h ^= (uint8_t)*s;
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

void onex_prng_fork(const struct onex_prng *p, const char *stream_name,
		    struct onex_prng *out)
{
	/* Fold the parent state and the name hash through splitmix64 so that
	 * a one-bit difference in either changes the whole child state. */
	uint64_t sm = fnv1a64(stream_name ? stream_name : "");
	uint64_t seed = splitmix64(&sm);
	for (int i = 0; i < 4; i++) {
		sm ^= p->s[i];
		seed ^= rotl(splitmix64(&sm), 16 * i);
	}
	onex_prng_init(out, seed);
}
