/*
 * json_out.c - the direct compact JSON writer of json_out.h.
 *
 * Byte-for-byte what jansson's json_dumps(v, JSON_COMPACT) writes (jansson
 * 2.14, src/dump.c and src/strconv.c): objects in insertion order with ":"
 * and "," and no spaces; strings escaped only for '"', '\\' and code points
 * below 0x20 (\b \f \n \r \t, otherwise \u00XX in upper-case hex), every
 * other UTF-8 sequence copied as is after the same validity check jansson
 * makes; integers in decimal; reals as "%.17g" with the locale's decimal
 * point made '.', ".0" appended when neither '.' nor 'e' is present and
 * the exponent's '+' and leading zeros removed (short exact reals such as
 * 9.5 or 120.0 are written without snprintf, see short_real).
 */
#include "json_out.h"

#include <locale.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "limits.h"
#include "utf8.h"

void onex_json_out_init(struct onex_json_out *o)
{
	memset(o, 0, sizeof(*o));
}

void onex_json_out_release(struct onex_json_out *o)
{
	free(o->data);
	memset(o, 0, sizeof(*o));
}

void onex_json_out_reset(struct onex_json_out *o)
{
	o->len = 0;
	o->failed = 0;
	if (o->data)
		o->data[0] = '\0';
}

/* Room for n more bytes plus the NUL; 0, or -1 (o->failed set). */
static int reserve(struct onex_json_out *o, size_t n)
{
	if (o->failed)
		return -1;
	if (o->len + n + 1 <= o->cap)
		return 0;
	size_t cap = o->cap ? o->cap : 1024;
	while (cap < o->len + n + 1) {
		if (cap > SIZE_MAX / 2) {
			o->failed = 1;
			return -1;
		}
		cap *= 2;
	}
	char *d = realloc(o->data, cap);
	if (!d) {
		o->failed = 1;
		return -1;
	}
	o->data = d;
	o->cap = cap;
	return 0;
}

void onex_json_out_bytes(struct onex_json_out *o, const char *s, size_t n)
{
	if (reserve(o, n) < 0)
		return;
	memcpy(o->data + o->len, s, n);
	o->len += n;
	o->data[o->len] = '\0';
}

void onex_json_out_string(struct onex_json_out *o, const char *str, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *s = (const unsigned char *)str;
	/* Worst case: every byte a 6-byte \u00XX escape. */
	if (n > (SIZE_MAX - 2) / 6 || reserve(o, n * 6 + 2) < 0) {
		o->failed = 1;
		return;
	}
	char *w = o->data + o->len;
	*w++ = '"';
	size_t i = 0;
	while (i < n) {
		unsigned char c = s[i];
		if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
			*w++ = (char)c;
			i++;
			continue;
		}
		if (c >= 0x80) {
			size_t k = onex_utf8_sequence(s + i, n - i);
			if (!k) {
				o->failed = 1; /* jansson refuses it too */
				o->data[o->len] = '\0';
				return;
			}
			memcpy(w, s + i, k);
			w += k;
			i += k;
			continue;
		}
		*w++ = '\\';
		switch (c) {
		case '"': *w++ = '"'; break;
		case '\\': *w++ = '\\'; break;
		case '\b': *w++ = 'b'; break;
		case '\f': *w++ = 'f'; break;
		case '\n': *w++ = 'n'; break;
		case '\r': *w++ = 'r'; break;
		case '\t': *w++ = 't'; break;
		default:
			*w++ = 'u';
			*w++ = '0';
			*w++ = '0';
			*w++ = hex[c >> 4];
			*w++ = hex[c & 0xF];
			break;
		}
		i++;
	}
	*w++ = '"';
	o->len = (size_t)(w - o->data);
	o->data[o->len] = '\0';
}

void onex_json_out_string_or_null(struct onex_json_out *o, const char *s)
{
	if (s)
		onex_json_out_string(o, s, strlen(s));
	else
		onex_json_out_bytes(o, "null", 4);
}

static void write_integer(struct onex_json_out *o, json_int_t v)
{
	char buf[24], *p = buf + sizeof(buf);
	/* Negate as unsigned: LLONG_MIN has no positive counterpart. */
	unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--p = '-';
	onex_json_out_bytes(o, p, (size_t)(buf + sizeof(buf) - p));
}

#define SEVENTEEN_DIGITS 100000000000000000ull /* 10^17 */

/*
 * The fast form of "%.17g" + jansson's fix-ups, for the common reals: when
 * |v| is exactly N / 10^k with N below 10^17 (so %.17g prints it exactly,
 * no rounding) and its decimal exponent is at least -4 (so %g picks the
 * fixed form), the text is N's digits with the point k places from the
 * right, ".0" when k is 0. Returns the length written into buf (at least
 * 32 bytes), or 0 for every other value (zero, subnormals, exponent forms,
 * values needing more digits): snprintf then. The point is '.', as
 * jansson's from_locale makes it.
 */
static size_t short_real(double v, char *buf)
{
	uint64_t bits;
	memcpy(&bits, &v, sizeof(bits));
	unsigned bexp = (unsigned)(bits >> 52) & 0x7FF;
	if (bexp == 0 || bexp == 0x7FF)
		return 0;
	uint64_t m = (bits & ((UINT64_C(1) << 52) - 1)) | (UINT64_C(1) << 52);
	int e = (int)bexp - 1075; /* |v| = m * 2^e */
	int tz = __builtin_ctzll(m);
	m >>= tz;
	e += tz;
	uint64_t n;
	int k;
	if (e >= 0) { /* an integer: m * 2^e */
		if (e >= 57 || m >= (SEVENTEEN_DIGITS >> e))
			return 0;
		n = m << e;
		k = 0;
	} else { /* m odd: |v| = m * 5^k / 10^k exactly */
		k = -e;
		if (k > 17)
			return 0;
		n = m;
		for (int i = 0; i < k; i++) {
			if (n >= SEVENTEEN_DIGITS / 5)
				return 0;
			n *= 5;
		}
	}
	char digits[20];
	int nd = 0;
	for (uint64_t t = n; t; t /= 10)
		digits[nd++] = (char)('0' + t % 10); /* least significant first */
	if (nd - 1 - k < -4) /* %g would use the exponent form */
		return 0;
	size_t len = 0;
	if (bits >> 63)
		buf[len++] = '-';
	if (nd <= k) {
		buf[len++] = '0';
	} else {
		for (int i = nd - 1; i >= k; i--)
			buf[len++] = digits[i];
	}
	buf[len++] = '.';
	if (k == 0) {
		buf[len++] = '0';
	} else {
		for (int i = k - 1; i >= 0; i--)
			buf[len++] = i < nd ? digits[i] : '0';
	}
	return len;
}

/* jansson's jsonp_dtostr with precision 17. */
static void write_real(struct onex_json_out *o, double value)
{
	char buf[100];
	size_t quick = short_real(value, buf);
	if (quick) {
		onex_json_out_bytes(o, buf, quick);
		return;
	}
	int ret = snprintf(buf, sizeof(buf), "%.17g", value);
	if (ret < 0 || (size_t)ret >= sizeof(buf)) {
		o->failed = 1;
		return;
	}
	size_t length = (size_t)ret;
	const char *point = strchr(buf, '.') ? "." : localeconv()->decimal_point;
	if (*point != '.') {
		char *pos = strchr(buf, *point);
		if (pos)
			*pos = '.';
	}
	if (!strchr(buf, '.') && !strchr(buf, 'e')) {
		if (length + 3 >= sizeof(buf)) {
			o->failed = 1;
			return;
		}
		buf[length++] = '.';
		buf[length++] = '0';
		buf[length] = '\0';
	}
	char *start = strchr(buf, 'e');
	if (start) {
		start++;
		char *end = start + 1;
		if (*start == '-')
			start++;
		while (*end == '0')
			end++;
		if (end != start) {
			memmove(start, end, length - (size_t)(end - buf));
			length -= (size_t)(end - start);
		}
	}
	onex_json_out_bytes(o, buf, length);
}

static void write_value(struct onex_json_out *o, const json_t *v, unsigned depth)
{
	if (o->failed)
		return;
	if (!v) {
		onex_json_out_bytes(o, "null", 4);
		return;
	}
	switch (json_typeof(v)) {
	case JSON_NULL:
		onex_json_out_bytes(o, "null", 4);
		return;
	case JSON_TRUE:
		onex_json_out_bytes(o, "true", 4);
		return;
	case JSON_FALSE:
		onex_json_out_bytes(o, "false", 5);
		return;
	case JSON_INTEGER:
		write_integer(o, json_integer_value(v));
		return;
	case JSON_REAL:
		write_real(o, json_real_value(v));
		return;
	case JSON_STRING:
		onex_json_out_string(o, json_string_value(v), json_string_length(v));
		return;
	case JSON_ARRAY: {
		if (depth >= ONEX_JSON_OUT_DEPTH_MAX) {
			o->failed = 1;
			return;
		}
		size_t n = json_array_size(v);
		onex_json_out_bytes(o, "[", 1);
		for (size_t i = 0; i < n && !o->failed; i++) {
			if (i)
				onex_json_out_bytes(o, ",", 1);
			write_value(o, json_array_get(v, i), depth + 1);
		}
		onex_json_out_bytes(o, "]", 1);
		return;
	}
	case JSON_OBJECT: {
		if (depth >= ONEX_JSON_OUT_DEPTH_MAX) {
			o->failed = 1;
			return;
		}
		onex_json_out_bytes(o, "{", 1);
		int first = 1;
		for (void *it = json_object_iter((json_t *)v); it && !o->failed;
		     it = json_object_iter_next((json_t *)v, it)) {
			if (!first)
				onex_json_out_bytes(o, ",", 1);
			first = 0;
			onex_json_out_string(o, json_object_iter_key(it),
					     json_object_iter_key_len(it));
			onex_json_out_bytes(o, ":", 1);
			write_value(o, json_object_iter_value(it), depth + 1);
		}
		onex_json_out_bytes(o, "}", 1);
		return;
	}
	}
	o->failed = 1;
}

void onex_json_out_value(struct onex_json_out *o, const json_t *v)
{
	write_value(o, v, 0);
}
