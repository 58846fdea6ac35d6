/*
 * utf8.h - the one UTF-8 check of the project, as strict as jansson's
 * (no overlong forms, no surrogates, nothing beyond U+10FFFF), so that
 * what the reply writer, the Kafka bus's quick envelope check and the
 * HTTP unit accept is exactly what jansson accepts. Inline: the reply
 * writer calls it for every non-ASCII byte of every reply.
 */
#ifndef ONEX_UTF8_H
#define ONEX_UTF8_H

#include <stddef.h>
#include <stdint.h>

/*
 * Length of the valid UTF-8 sequence starting at s, with n (>= 1) bytes
 * available: 1 for an ASCII byte, 2..4 for a valid multi-byte sequence,
 * 0 when the bytes at s are not valid UTF-8.
 */
static inline size_t onex_utf8_sequence(const unsigned char *s, size_t n)
{
	unsigned char u = s[0];
	size_t count;
	uint32_t value;
	if (u < 0x80)
		return 1;
	if (u >= 0xC2 && u <= 0xDF)
		count = 2, value = u & 0x1F;
	else if (u >= 0xE0 && u <= 0xEF)
		count = 3, value = u & 0x0F;
	else if (u >= 0xF0 && u <= 0xF4)
		count = 4, value = u & 0x07;
	else
		return 0; /* continuation byte, C0/C1, or beyond U+10FFFF */
	if (count > n)
		return 0;
	for (size_t i = 1; i < count; i++) {
		if (s[i] < 0x80 || s[i] > 0xBF)
			return 0;
		value = (value << 6) | (s[i] & 0x3F);
	}
	if (value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF) ||
	    (count == 2 && value < 0x80) || (count == 3 && value < 0x800) ||
	    (count == 4 && value < 0x10000))
		return 0;
	return count;
}

#endif
