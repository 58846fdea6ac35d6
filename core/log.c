/*
 * log.c - formatting front of the log port.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>

void onex_log(struct onex_log *log, enum onex_log_level level,
	      const char *correlation_id, const char *envelope_id,
	      const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	if (!log || level < log->min_level)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log->ops->write(log, level, correlation_id, envelope_id, line);
}

const char *onex_log_level_name(enum onex_log_level level)
{
	switch (level) {
	case ONEX_LOG_DEBUG: return "debug";
	case ONEX_LOG_INFO: return "info";
	case ONEX_LOG_WARN: return "warn";
	case ONEX_LOG_ERROR: return "error";
	}
	return "unknown";
}
