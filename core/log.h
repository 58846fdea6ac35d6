/*
 * log.h - the log port. Every line about an envelope carries its
 * correlation id (spec §6). The system unit writes JSON lines to stderr;
 * the simulation unit keeps lines for the trace.
 */
#ifndef ONEX_LOG_H
#define ONEX_LOG_H

enum onex_log_level { ONEX_LOG_DEBUG, ONEX_LOG_INFO, ONEX_LOG_WARN, ONEX_LOG_ERROR };

struct onex_log;

struct onex_log_ops {
	const char *name;
	/* correlation_id / envelope_id may be NULL (lines not about an envelope). */
	void (*write)(struct onex_log *log, enum onex_log_level level,
		      const char *correlation_id, const char *envelope_id,
		      const char *message);
	void (*free)(struct onex_log *log);
};

struct onex_log {
	const struct onex_log_ops *ops;
	enum onex_log_level min_level;
};

/* Format and write one line (truncated at 1 KiB). `log` may be NULL. */
void onex_log(struct onex_log *log, enum onex_log_level level,
	      const char *correlation_id, const char *envelope_id,
	      const char *fmt, ...) __attribute__((format(printf, 5, 6)));

const char *onex_log_level_name(enum onex_log_level level);

static inline void onex_log_free(struct onex_log *log)
{
	if (log && log->ops->free)
		log->ops->free(log);
}

#endif
