/*
 * error.c - error records: first error wins, fixed buffers, one code table.
 */
#include "error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const code_names[] = {
#define ONEX_X_NAME(name, wire) [ONEX_ERR_##name] = wire,
	ONEX_ERROR_CODES(ONEX_X_NAME)
#undef ONEX_X_NAME
};

void onex_error_clear(struct onex_error *err)
{
	if (!err)
		return;
	err->code = ONEX_ERR_NONE;
	err->backend_code = 0;
	err->line = 0;
	err->column = 0;
	err->source[0] = '\0';
	err->text[0] = '\0';
	err->hint[0] = '\0';
	err->action[0] = '\0';
}

int onex_error_is_set(const struct onex_error *err)
{
	return err && err->code != ONEX_ERR_NONE;
}

int onex_error_vset(struct onex_error *err, enum onex_error_code code,
		    const char *source, int line, int column, const char *fmt,
		    va_list ap)
{
	if (!err || onex_error_is_set(err))
		return -1;
	if (code == ONEX_ERR_NONE)
		ONEX_BUG("onex_error_set with ONEX_ERR_NONE");
	onex_error_clear(err);
	err->code = code;
	err->line = line;
	err->column = column;
	if (source)
		snprintf(err->source, sizeof(err->source), "%s", source);
	vsnprintf(err->text, sizeof(err->text), fmt, ap);
	return -1;
}

int onex_error_set(struct onex_error *err, enum onex_error_code code,
		   const char *source, int line, int column, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	onex_error_vset(err, code, source, line, column, fmt, ap);
	va_end(ap);
	return -1;
}

void onex_error_hint(struct onex_error *err, const char *fmt, ...)
{
	va_list ap;
	if (!err)
		return;
	va_start(ap, fmt);
	vsnprintf(err->hint, sizeof(err->hint), fmt, ap);
	va_end(ap);
}

void onex_error_action(struct onex_error *err, const char *fmt, ...)
{
	va_list ap;
	if (!err)
		return;
	va_start(ap, fmt);
	vsnprintf(err->action, sizeof(err->action), fmt, ap);
	va_end(ap);
}

const char *onex_error_code_name(enum onex_error_code code)
{
	if ((unsigned)code >= ONEX_ERR__COUNT)
		return "UNKNOWN";
	return code_names[code];
}

int onex_error_code_parse(const char *name, enum onex_error_code *code)
{
	for (unsigned i = 1; i < ONEX_ERR__COUNT; i++) {
		if (strcmp(code_names[i], name) == 0) {
			*code = (enum onex_error_code)i;
			return 0;
		}
	}
	return -1;
}

const char *onex_error_format(const struct onex_error *err, char *buf,
			      size_t size)
{
	size_t n = 0;
	if (!size)
		return buf;
	buf[0] = '\0';
#define APPEND(...)                                                      \
	do {                                                             \
		if (n < size) {                                          \
			int w_ = snprintf(buf + n, size - n, __VA_ARGS__); \
			if (w_ > 0)                                      \
				n += (size_t)w_;                         \
		}                                                        \
	} while (0)
	if (err->source[0]) {
		APPEND("%s", err->source);
		if (err->line > 0)
			APPEND(":%d", err->line);
		if (err->column > 0)
			APPEND(":%d", err->column);
		APPEND(": ");
	}
	APPEND("%s", err->text);
	if (err->hint[0])
		APPEND("\n  hint: %s", err->hint);
	if (err->action[0])
		APPEND("\n  action: %s", err->action);
#undef APPEND
	return buf;
}

_Noreturn void onex_bug_fl(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "BUG: %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}
