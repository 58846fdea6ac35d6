/*
 * stderr_log.c - the log port as JSON lines on stderr, one write(2) per
 * line so lines from concurrent processes never interleave.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "envelope.h"
#include "system_units.h"

struct stderr_log {
	struct onex_log base;
	struct onex_clock *clock;
};

static void log_write(struct onex_log *base, enum onex_log_level level,
		      const char *correlation_id, const char *envelope_id,
		      const char *message)
{
	struct stderr_log *log = (struct stderr_log *)base;
	char ts[ONEX_TIMESTAMP_BYTES];
	onex_timestamp_format(onex_clock_wall_ns(log->clock), ts);
	json_t *line = json_pack("{s:s,s:s}", "ts", ts, "level", onex_log_level_name(level));
	if (correlation_id)
		json_object_set_new(line, "correlation_id", json_string(correlation_id));
	if (envelope_id)
		json_object_set_new(line, "envelope_id", json_string(envelope_id));
	json_object_set_new(line, "msg", onex_json_string_lossy(message));
	char *text = json_dumps(line, JSON_COMPACT);
	json_decref(line);
	if (!text)
		return;
	size_t len = strlen(text);
	text[len] = '\n'; /* replaces the NUL; written with its length */
	ssize_t ignored = write(STDERR_FILENO, text, len + 1);
	(void)ignored;
	free(text);
}

static void log_free(struct onex_log *base)
{
	free(base);
}

static const struct onex_log_ops stderr_log_ops = {
	.name = "stderr",
	.write = log_write,
	.free = log_free,
};

struct onex_log *onex_stderr_log_new(struct onex_clock *clock,
				     enum onex_log_level min_level)
{
	struct stderr_log *log = malloc(sizeof(*log));
	if (!log)
		return NULL;
	log->base.ops = &stderr_log_ops;
	log->base.min_level = min_level;
	log->clock = clock;
	return &log->base;
}
