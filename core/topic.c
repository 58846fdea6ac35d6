/*
 * topic.c - topic naming rules (spec §4).
 *
 * A user topic is exactly five dot-separated segments:
 *
 *     onex . <tenant> . <domain> . <direction> . v<N>
 *
 * tenant and domain match [a-z0-9][a-z0-9_-]*; direction is cmd or evt
 * (state, error and log are reserved for a later version and refused for
 * now); N is a decimal number >= 1 without leading zeros. The checks run in
 * the order a person reads the name, so the message names the first thing
 * wrong from the left.
 */
#include "topic.h"

#include <stdarg.h>
#include <string.h>

#define TOPIC_SEGMENTS 5u
#define TOPIC_VERSION_DIGITS_MAX 9u /* v999999999 fits an int */

static const char *const reserved_tenants[] = { "internal", "debug", "metrics",
						"health", "admin", NULL };

static const struct {
	const char *name;
	enum onex_topic_direction direction;
	int usable; /* 0: reserved for a later version */
} directions[] = {
	{ "cmd", ONEX_TOPIC_CMD, 1 },	  { "evt", ONEX_TOPIC_EVT, 1 },
	{ "state", ONEX_TOPIC_STATE, 0 }, { "error", ONEX_TOPIC_ERROR, 0 },
	{ "log", ONEX_TOPIC_LOG, 0 },
};

/* A segment of the topic, not NUL-terminated. */
struct segment {
	const char *s;
	size_t n;
};

int onex_topic_tenant_is_reserved(const char *tenant)
{
	if (!tenant)
		return 0;
	for (const char *const *r = reserved_tenants; *r; r++)
		if (strcmp(*r, tenant) == 0)
			return 1;
	return 0;
}

static int seg_is(const struct segment *seg, const char *word)
{
	return seg->n == strlen(word) && memcmp(seg->s, word, seg->n) == 0;
}

/*
 * Records a topic error with the common hint and action. The hint and action
 * are only written when this call recorded the error: onex_error_hint()
 * would otherwise overwrite the hint of an earlier, unrelated error.
 */
__attribute__((format(printf, 2, 3))) static int
fail(struct onex_error *err, const char *fmt, ...)
{
	va_list ap;
	if (!err || onex_error_is_set(err))
		return -1;
	va_start(ap, fmt);
	onex_error_vset(err, ONEX_ERR_CONTRACT_VALIDATION_ERROR, NULL, 0, 0, fmt,
			ap);
	va_end(ap);
	onex_error_hint(err, "a valid topic looks like onex.acme.orders.cmd.v1: "
			     "onex.<tenant>.<domain>.<direction>.v<N>, segments "
			     "[a-z0-9][a-z0-9_-]*, direction cmd or evt");
	onex_error_action(err, "rename the topic");
	return -1;
}

#define FAIL(...) fail(err, __VA_ARGS__)

/* Splits into at most TOPIC_SEGMENTS + 1 segments; returns the count seen. */
static size_t split(const char *topic, struct segment *segs)
{
	size_t count = 0;
	const char *p = topic;
	for (;;) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);
		if (count <= TOPIC_SEGMENTS)
			segs[count] = (struct segment){ p, n };
		count++;
		if (!dot)
			return count;
		p = dot + 1;
	}
}

/* tenant and domain: [a-z0-9][a-z0-9_-]* */
static int check_name_segment(const struct segment *seg, const char *what,
			      struct onex_error *err)
{
	int n = (int)seg->n;
	for (size_t i = 0; i < seg->n; i++) {
		char c = seg->s[i];
		int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
		if (c >= 'A' && c <= 'Z')
			return FAIL("%s '%.*s' has an uppercase letter; topic "
				    "segments are lowercase",
				    what, n, seg->s);
		if (i == 0 && !alnum)
			return FAIL("%s '%.*s' must start with a lowercase letter "
				    "or a digit",
				    what, n, seg->s);
		if (!alnum && c != '_' && c != '-')
			return FAIL("%s '%.*s' has the character '%c'; allowed are "
				    "a-z, 0-9, '_' and '-'",
				    what, n, seg->s, c);
	}
	return 0;
}

static int check_direction(const struct segment *seg,
			   enum onex_topic_direction *direction,
			   struct onex_error *err)
{
	int n = (int)seg->n;
	for (size_t i = 0; i < sizeof(directions) / sizeof(directions[0]); i++) {
		if (!seg_is(seg, directions[i].name))
			continue;
		if (!directions[i].usable)
			return FAIL("direction '%.*s' is reserved for a later "
				    "version; use cmd or evt",
				    n, seg->s);
		*direction = directions[i].direction;
		return 0;
	}
	return FAIL("direction '%.*s' is not one of cmd, evt", n, seg->s);
}

/* v<N>: N >= 1, decimal, no leading zero. */
static int check_version(const struct segment *seg, struct onex_error *err)
{
	int n = (int)seg->n;
	if (seg->n < 2 || seg->s[0] != 'v')
		return FAIL("version '%.*s' must be 'v' and a number, like v1", n,
			    seg->s);
	for (size_t i = 1; i < seg->n; i++)
		if (seg->s[i] < '0' || seg->s[i] > '9')
			return FAIL("version '%.*s' must be 'v' and a number, "
				    "like v1",
				    n, seg->s);
	if (seg->s[1] == '0')
		return FAIL("version '%.*s' must be v1 or higher, without a "
			    "leading zero",
			    n, seg->s);
	if (seg->n - 1 > TOPIC_VERSION_DIGITS_MAX)
		return FAIL("version '%.*s' has more than %u digits", n, seg->s,
			    TOPIC_VERSION_DIGITS_MAX);
	return 0;
}

int onex_topic_validate(const char *topic, enum onex_topic_direction *direction,
			struct onex_error *err)
{
	struct segment segs[TOPIC_SEGMENTS + 1];
	enum onex_topic_direction dir = ONEX_TOPIC_CMD;

	if (!topic || !topic[0])
		return FAIL("topic is empty");
	size_t len = strlen(topic);
	if (len > ONEX_TOPIC_BYTES_MAX)
		return FAIL("topic is %zu bytes long; the limit is %u", len,
			    ONEX_TOPIC_BYTES_MAX);
	size_t count = split(topic, segs);
	if (!seg_is(&segs[0], "onex"))
		return FAIL("topic '%s' must start with 'onex.'", topic);
	for (size_t i = 0; i < count && i <= TOPIC_SEGMENTS; i++)
		if (segs[i].n == 0)
			return FAIL("topic '%s' has an empty segment (segment %zu)",
				    topic, i + 1);
	if (count != TOPIC_SEGMENTS)
		return FAIL("topic '%s' has %zu segments; expected %u", topic,
			    count, TOPIC_SEGMENTS);
	if (check_name_segment(&segs[1], "tenant", err) ||
	    check_name_segment(&segs[2], "domain", err))
		return -1;
	for (const char *const *r = reserved_tenants; *r; r++)
		if (seg_is(&segs[1], *r))
			return FAIL("tenant '%.*s' is reserved for the runtime "
				    "itself (internal, debug, metrics, health, "
				    "admin)",
				    (int)segs[1].n, segs[1].s);
	if (check_direction(&segs[3], &dir, err) || check_version(&segs[4], err))
		return -1;
	if (direction)
		*direction = dir;
	return 0;
}
