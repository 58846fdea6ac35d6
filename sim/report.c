/*
 * report.c - JUnit XML, JSON and HTML writers over an array of scenario
 * results. The contract is report.h.
 */
#include "report.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define REPLACEMENT "\xef\xbf\xbd" /* U+FFFD in UTF-8 */

/* ---- text helpers ---------------------------------------------------------- */

/*
 * Decode one UTF-8 sequence at s (len > 0 bytes left). Returns the code
 * point and sets *adv, or returns -1 with *adv = 1 for an invalid, overlong,
 * surrogate or truncated sequence.
 */
static long utf8_next(const unsigned char *s, size_t len, size_t *adv)
{
	static const long min_cp[] = { 0, 0, 0x80, 0x800, 0x10000 };
	unsigned char c = s[0];
	size_t n = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3
				 : (c & 0xf8) == 0xf0		  ? 4
								  : 0;
	*adv = 1;
	if (n == 1)
		return c;
	if (n == 0 || n > len)
		return -1;
	long cp = c & (0x7f >> n);
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return -1;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min_cp[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	*adv = n;
	return cp;
}

/* A NUL-terminated copy of s with invalid UTF-8 replaced by U+FFFD. */
static char *utf8_clean(const char *s)
{
	size_t len = strlen(s), o = 0;
	char *out = malloc(len * 3 + 1); /* each bad byte may become 3 */
	if (!out)
		return NULL;
	for (size_t i = 0; i < len;) {
		size_t adv;
		if (utf8_next((const unsigned char *)s + i, len - i, &adv) < 0) {
			memcpy(out + o, REPLACEMENT, 3);
			o += 3;
		} else {
			memcpy(out + o, s + i, adv);
			o += adv;
		}
		i += adv;
	}
	out[o] = '\0';
	return out;
}

/*
 * Write s escaped for XML/HTML text (attr = 0: only & < > are escaped, so
 * failure texts full of quoted JSON stay readable) or a double-quoted
 * attribute (attr = 1: quotes too, and line breaks and tabs become character
 * references so they survive attribute normalisation). Characters XML 1.0
 * cannot carry become U+FFFD.
 */
static void put_escaped(FILE *out, const char *s, int attr)
{
	size_t len = strlen(s);
	for (size_t i = 0; i < len;) {
		size_t adv;
		long cp = utf8_next((const unsigned char *)s + i, len - i, &adv);
		if (cp == '&')
			fputs("&amp;", out);
		else if (cp == '<')
			fputs("&lt;", out);
		else if (cp == '>')
			fputs("&gt;", out);
		else if (attr && cp == '"')
			fputs("&quot;", out);
		else if (attr && cp == '\'')
			fputs("&#39;", out);
		else if (attr && (cp == '\n' || cp == '\r' || cp == '\t'))
			fprintf(out, "&#%ld;", cp);
		else if (cp < 0 || (cp < 0x20 && cp != '\n' && cp != '\r' && cp != '\t') ||
			 cp == 0xfffe || cp == 0xffff)
			fputs(REPLACEMENT, out);
		else
			fwrite(s + i, 1, adv, out);
		i += adv;
	}
}

static int needs_quotes(const char *s)
{
	if (!*s)
		return 1;
	for (; *s; s++)
		if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			    "0123456789_./+,:@%=-",
			    *s))
			return 1;
	return 0;
}

/* Append s to buf at *n, single-quoted for the shell when it needs it. */
static void append_shell_word(char *buf, size_t size, size_t *n, const char *s)
{
#define PUT(c)                            \
	do {                              \
		if (*n + 1 < size)        \
			buf[(*n)++] = (c); \
	} while (0)
	if (!needs_quotes(s)) {
		for (; *s; s++)
			PUT(*s);
	} else {
		PUT('\'');
		for (; *s; s++) {
			if (*s == '\'') { /* close, escaped quote, reopen */
				PUT('\'');
				PUT('\\');
				PUT('\'');
			}
			PUT(*s);
		}
		PUT('\'');
	}
	buf[*n] = '\0';
#undef PUT
}

const char *onex_report_rerun_command(const char *prog, uint64_t seed, const char *path,
				      char *buf, size_t size)
{
	char middle[64];
	size_t n = 0;
	if (!size)
		return buf;
	buf[0] = '\0';
	append_shell_word(buf, size, &n, prog);
	snprintf(middle, sizeof(middle), " run --seed %" PRIu64 " ", seed);
	for (const char *m = middle; *m && n + 1 < size; m++)
		buf[n++] = *m;
	buf[n] = '\0';
	append_shell_word(buf, size, &n, path);
	return buf;
}

const char *onex_report_display_name(const struct onex_scenario_result *res, char *buf,
				     size_t size)
{
	if (res->name[0])
		return res->name;
	const char *base = strrchr(res->path, '/');
	base = base ? base + 1 : res->path;
	size_t n = strlen(base);
	if (n > 5 && strcmp(base + n - 5, ".yaml") == 0)
		n -= 5;
	snprintf(buf, size, "%.*s", (int)n, base);
	return buf;
}

static size_t count_failed(const struct onex_report *rep)
{
	size_t failed = 0;
	for (size_t i = 0; i < rep->count; i++)
		failed += !rep->results[i].passed;
	return failed;
}

static uint64_t elapsed_us(const struct onex_report *rep)
{
	uint64_t sum = 0;
	if (rep->elapsed_us || !rep->wall_us)
		return rep->elapsed_us;
	for (size_t i = 0; i < rep->count; i++)
		sum += rep->wall_us[i];
	return sum;
}

static double seconds(uint64_t us)
{
	return (double)us / 1e6;
}

/* The failure text plus seed and rerun command, as shown to people. */
static void put_failure_body(FILE *out, const struct onex_report *rep,
			     const struct onex_scenario_result *res)
{
	char cmd[ONEX_PATH_BYTES_MAX * 2 + 128];
	put_escaped(out, res->failure ? res->failure : "failed (no failure text)", 0);
	fprintf(out, "\nseed: %" PRIu64 "\n", res->seed);
	if (rep->prog) {
		fputs("rerun: ", out);
		put_escaped(out, onex_report_rerun_command(rep->prog, res->seed, res->path, cmd,
							   sizeof(cmd)),
			    0);
		fputc('\n', out);
	}
}

/* ---- JUnit ------------------------------------------------------------------ */

static void put_first_line(FILE *out, const char *text)
{
	const char *nl = strchr(text, '\n');
	size_t n = nl ? (size_t)(nl - text) : strlen(text);
	char *line = malloc(n + 1);
	if (!line)
		return;
	memcpy(line, text, n);
	line[n] = '\0';
	put_escaped(out, line, 1);
	free(line);
}

/* The directory part of path ("." when there is none). */
static void put_classname(FILE *out, const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash) {
		fputc('.', out);
		return;
	}
	size_t n = slash == path ? 1 : (size_t)(slash - path);
	char *dir = malloc(n + 1);
	if (!dir)
		return;
	memcpy(dir, path, n);
	dir[n] = '\0';
	put_escaped(out, dir, 1);
	free(dir);
}

int onex_report_junit_to(const struct onex_report *rep, FILE *out)
{
	char name[256];
	fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n", out);
	fprintf(out, "  <testsuite name=\"onex-sim\" tests=\"%zu\" failures=\"%zu\" time=\"%.3f\">\n",
		rep->count, count_failed(rep), seconds(elapsed_us(rep)));
	for (size_t i = 0; i < rep->count; i++) {
		const struct onex_scenario_result *res = &rep->results[i];
		fputs("    <testcase classname=\"", out);
		put_classname(out, res->path);
		fputs("\" name=\"", out);
		put_escaped(out, onex_report_display_name(res, name, sizeof(name)), 1);
		fprintf(out, "\" time=\"%.3f\"", seconds(rep->wall_us ? rep->wall_us[i] : 0));
		if (res->passed) {
			fputs("/>\n", out);
			continue;
		}
		fputs(">\n      <failure message=\"", out);
		put_first_line(out, res->failure ? res->failure : "failed");
		fputs("\">", out);
		put_failure_body(out, rep, res);
		fputs("</failure>\n    </testcase>\n", out);
	}
	fputs("  </testsuite>\n</testsuites>\n", out);
	return ferror(out) ? -1 : 0;
}

/* ---- JSON ------------------------------------------------------------------- */

static json_t *clean_string(const char *s)
{
	char *clean = utf8_clean(s);
	json_t *j = clean ? json_string(clean) : NULL;
	free(clean);
	return j;
}

static json_t *uint_json(uint64_t v)
{
	/* json_int_t is signed 64-bit; a larger seed keeps its digits as text. */
	if (v <= (uint64_t)INT64_MAX)
		return json_integer((json_int_t)v);
	char digits[32];
	snprintf(digits, sizeof(digits), "%" PRIu64, v);
	return json_string(digits);
}

static json_t *scenario_json(const struct onex_scenario_result *res)
{
	json_t *o = json_object();
	json_object_set_new(o, "name", clean_string(res->name));
	json_object_set_new(o, "path", clean_string(res->path));
	json_object_set_new(o, "seed", uint_json(res->seed));
	json_object_set_new(o, "passed", json_boolean(res->passed));
	json_object_set_new(o, "failure", res->failure ? clean_string(res->failure) : json_null());
	json_object_set_new(o, "failed_step", json_integer(res->failed_step));
	json_object_set_new(o, "failed_line", json_integer(res->failed_line));
	json_object_set_new(o, "virtual_us", uint_json(res->virtual_us));
	json_object_set_new(o, "steps_run", json_integer(res->steps_run));
	json_object_set_new(o, "requests", json_integer(res->requests));
	json_object_set_new(o, "responses", json_integer(res->responses));
	return o;
}

int onex_report_json_to(const struct onex_report *rep, FILE *out)
{
	size_t failed = count_failed(rep);
	json_t *root = json_object(), *list = json_array();
	json_object_set_new(root, "passed", json_integer((json_int_t)(rep->count - failed)));
	json_object_set_new(root, "failed", json_integer((json_int_t)failed));
	json_object_set_new(root, "seed_override",
			    rep->seed_override ? uint_json(rep->seed) : json_null());
	for (size_t i = 0; i < rep->count; i++)
		json_array_append_new(list, scenario_json(&rep->results[i]));
	json_object_set_new(root, "scenarios", list);
	int rc = json_dumpf(root, out, JSON_INDENT(2));
	json_decref(root);
	fputc('\n', out);
	return rc < 0 || ferror(out) ? -1 : 0;
}

/* ---- HTML ------------------------------------------------------------------- */

static const char html_head[] =
	"<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	"<title>onex-sim: %zu passed, %zu failed</title>\n<style>\n"
	"body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }\n"
	"h1 { font-size: 1.4em; }\n"
	".totals span { display: inline-block; padding: .3em .8em; margin-right: .5em;"
	" border-radius: 4px; font-weight: bold; }\n"
	".totals .pass, tr.pass td.status { background: #d8f3dc; color: #1b5e20; }\n"
	".totals .fail, tr.fail td.status { background: #fde2e1; color: #b71c1c; }\n"
	"table { border-collapse: collapse; margin-top: 1em; }\n"
	"th, td { border: 1px solid #ccc; padding: .3em .6em; text-align: left;"
	" vertical-align: top; }\n"
	"th { background: #f2f2f2; }\n"
	"td.num { text-align: right; font-variant-numeric: tabular-nums; }\n"
	"td.status { font-weight: bold; }\n"
	"pre { margin: 0; white-space: pre-wrap; word-break: break-word;"
	" font: 12px/1.35 ui-monospace, monospace; }\n"
	"tr.detail td { background: #fff8f8; }\n"
	"</style>\n</head>\n<body>\n<h1>onex-sim</h1>\n";

static void html_row(FILE *out, const struct onex_report *rep, size_t i)
{
	const struct onex_scenario_result *res = &rep->results[i];
	char name[256];
	fprintf(out, "<tr class=\"%s\"><td class=\"num\">%zu</td><td class=\"status\">%s</td><td>",
		res->passed ? "pass" : "fail", i + 1, res->passed ? "passed" : "FAILED");
	put_escaped(out, onex_report_display_name(res, name, sizeof(name)), 0);
	fputs("</td><td>", out);
	put_escaped(out, res->path, 0);
	fprintf(out, "</td><td class=\"num\">%" PRIu64 "</td><td class=\"num\">%u</td>"
		     "<td class=\"num\">%u</td><td class=\"num\">%u</td>"
		     "<td class=\"num\">%.3f</td><td class=\"num\">%.1f</td></tr>\n",
		res->seed, res->steps_run, res->requests, res->responses,
		(double)res->virtual_us / 1e3,
		rep->wall_us ? (double)rep->wall_us[i] / 1e3 : 0.0);
	if (!res->passed) {
		fputs("<tr class=\"detail\"><td></td><td colspan=\"8\"><pre>", out);
		put_failure_body(out, rep, res);
		fputs("</pre></td></tr>\n", out);
	}
}

int onex_report_html_to(const struct onex_report *rep, FILE *out)
{
	size_t failed = count_failed(rep), passed = rep->count - failed;
	fprintf(out, html_head, passed, failed);
	fprintf(out, "<p class=\"totals\"><span class=\"pass\">%zu passed</span>"
		     "<span class=\"fail\">%zu failed</span> %zu scenarios, ",
		passed, failed, rep->count);
	if (rep->seed_override)
		fprintf(out, "seed override %" PRIu64 ", ", rep->seed);
	else
		fputs("each scenario's own seed, ", out);
	fprintf(out, "%.3f s wall time</p>\n", seconds(elapsed_us(rep)));
	fputs("<table>\n<thead><tr><th>#</th><th>status</th><th>scenario</th><th>file</th>"
	      "<th>seed</th><th>steps</th><th>requests</th><th>responses</th>"
	      "<th>virtual ms</th><th>wall ms</th></tr></thead>\n<tbody>\n",
	      out);
	for (size_t i = 0; i < rep->count; i++)
		html_row(out, rep, i);
	fputs("</tbody>\n</table>\n</body>\n</html>\n", out);
	return ferror(out) ? -1 : 0;
}

/* ---- files ------------------------------------------------------------------ */

static int write_file(const struct onex_report *rep, const char *path,
		      int (*to)(const struct onex_report *, FILE *), struct onex_error *err)
{
	FILE *out = fopen(path, "w");
	if (!out)
		return onex_error_set(err, ONEX_ERR_INVALID_OPERATION, path, 0, 0,
				      "cannot write the report: %s", strerror(errno));
	int rc = to(rep, out);
	int saved = errno;
	if (fclose(out) != 0 && rc == 0) {
		rc = -1;
		saved = errno;
	}
	if (rc < 0)
		return onex_error_set(err, ONEX_ERR_INVALID_OPERATION, path, 0, 0,
				      "cannot write the report: %s", strerror(saved));
	return 0;
}

int onex_report_write_junit(const struct onex_report *rep, const char *path,
			    struct onex_error *err)
{
	return write_file(rep, path, onex_report_junit_to, err);
}

int onex_report_write_json(const struct onex_report *rep, const char *path,
			   struct onex_error *err)
{
	return write_file(rep, path, onex_report_json_to, err);
}

int onex_report_write_html(const struct onex_report *rep, const char *path,
			   struct onex_error *err)
{
	return write_file(rep, path, onex_report_html_to, err);
}
