/*
 * html.c - the history page (see html.h).
 */
#include "html.h"

#include <jansson.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TREND_W 360.0
#define TREND_H 130.0
#define HIST_W 520.0
#define HIST_H 260.0
#define PAD 34.0
#define TREND_POINTS_MAX 4096

static void esc(FILE *out, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '<': fputs("&lt;", out); break;
		case '>': fputs("&gt;", out); break;
		case '&': fputs("&amp;", out); break;
		case '"': fputs("&quot;", out); break;
		default: fputc(*s, out);
		}
	}
}

static const char *col(sqlite3_stmt *st, int i)
{
	const char *s = (const char *)sqlite3_column_text(st, i);
	return s ? s : "";
}

static void num(char *buf, size_t size, double v)
{
	double a = fabs(v);
	if (a >= 100000 || v == floor(v))
		snprintf(buf, size, "%.0f", v);
	else if (a >= 100)
		snprintf(buf, size, "%.1f", v);
	else
		snprintf(buf, size, "%.3g", v);
}

static void head(FILE *out, sqlite3 *db)
{
	sqlite3_stmt *st;
	char when[64];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%SZ", &tm);
	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	      "<title>onex benchmarks</title>\n<style>\n"
	      "body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222}"
	      "h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ccc}"
	      "h3{font-size:15px;margin:18px 0 4px}table{border-collapse:collapse}"
	      "td,th{padding:2px 10px;border-bottom:1px solid #eee;text-align:left}"
	      "td.n{text-align:right;font-variant-numeric:tabular-nums}"
	      ".grid{display:flex;flex-wrap:wrap;gap:14px}.card{border:1px solid #ddd;"
	      "border-radius:4px;padding:6px}.card b{font-size:12px}"
	      "svg text{font:10px sans-serif;fill:#555}.muted{color:#777}\n"
	      "</style></head><body>\n<h1>onex benchmarks</h1>\n",
	      out);
	fprintf(out, "<p class=\"muted\">Generated %s by <code>onex-bench report</code> from the "
		     "history of every run. Wall-clock figures depend on the machine; compare "
		     "runs of one machine kind.</p>\n",
		when);
	fputs("<h2>Runs</h2>\n<table><tr><th>#</th><th>date</th><th>commit</th><th>command</th>"
	      "<th>repetitions</th><th>machine</th></tr>\n",
	      out);
	sqlite3_prepare_v2(db,
			   "SELECT id, date, git_commit, git_dirty, command, repetitions, quick, machine"
			   " FROM runs ORDER BY id DESC LIMIT 30",
			   -1, &st, NULL);
	while (sqlite3_step(st) == SQLITE_ROW) {
		fprintf(out, "<tr><td>%lld</td><td>", (long long)sqlite3_column_int64(st, 0));
		esc(out, col(st, 1));
		fprintf(out, "</td><td><code>%.12s%s</code></td><td>", col(st, 2),
			sqlite3_column_int(st, 3) ? "+dirty" : "");
		esc(out, col(st, 4));
		fprintf(out, "%s</td><td class=\"n\">%d</td><td>", sqlite3_column_int(st, 6) ? " --quick" : "",
			sqlite3_column_int(st, 5));
		esc(out, col(st, 7));
		fputs("</td></tr>\n", out);
	}
	sqlite3_finalize(st);
	fputs("</table>\n", out);
}

/* ---- the latest run's figures ------------------------------------------------------------ */

static void latest(FILE *out, sqlite3 *db)
{
	sqlite3_stmt *st;
	char v[32];
	fputs("<h2>Latest figures</h2>\n<table><tr><th>workload</th><th>metric</th>"
	      "<th>median</th><th>unit</th><th>kind</th><th>samples</th><th>run</th></tr>\n",
	      out);
	sqlite3_prepare_v2(db,
			   "SELECT m.workload, m.metric, m.value, m.unit, m.kind, m.repetitions, m.run_id"
			   " FROM measurements m WHERE m.run_id = (SELECT max(run_id) FROM measurements"
			   " x WHERE x.workload = m.workload AND x.metric = m.metric)"
			   " ORDER BY (SELECT min(rowid) FROM measurements y WHERE y.workload ="
			   " m.workload), m.rowid",
			   -1, &st, NULL);
	while (sqlite3_step(st) == SQLITE_ROW) {
		fputs("<tr><td>", out);
		esc(out, col(st, 0));
		fputs("</td><td>", out);
		esc(out, col(st, 1));
		num(v, sizeof(v), sqlite3_column_double(st, 2));
		fprintf(out, "</td><td class=\"n\">%s</td><td>", v);
		esc(out, col(st, 3));
		fputs("</td><td>", out);
		esc(out, col(st, 4));
		fprintf(out, "</td><td class=\"n\">%d</td><td class=\"n\">#%lld</td></tr>\n",
			sqlite3_column_int(st, 5), (long long)sqlite3_column_int64(st, 6));
	}
	sqlite3_finalize(st);
	fputs("</table>\n", out);
}

/* ---- trends ---------------------------------------------------------------------------------- */

struct point {
	long long run;
	double value;
	int quick;
	char commit[16];
	char date[24];
};

static void trend_svg(FILE *out, const struct point *p, size_t n, const char *unit)
{
	double lo = p[0].value, hi = p[0].value;
	char a[32], b[32];
	for (size_t i = 1; i < n; i++) {
		lo = p[i].value < lo ? p[i].value : lo;
		hi = p[i].value > hi ? p[i].value : hi;
	}
	double span = hi - lo > 0 ? hi - lo : (fabs(hi) > 0 ? fabs(hi) * 0.1 : 1.0);
	double y0 = lo - span * 0.1, y1 = hi + span * 0.1;
	fprintf(out, "<svg width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\">"
		     "<rect x=\"%.0f\" y=\"8\" width=\"%.0f\" height=\"%.0f\" fill=\"#fafafa\" "
		     "stroke=\"#ddd\"/>",
		TREND_W, TREND_H, TREND_W, TREND_H, PAD + 20, TREND_W - PAD - 28, TREND_H - 30);
	num(a, sizeof(a), hi);
	num(b, sizeof(b), lo);
	fprintf(out, "<text x=\"2\" y=\"18\">%s</text><text x=\"2\" y=\"%.0f\">%s</text>", a,
		TREND_H - 24, b);
	fputs("<polyline fill=\"none\" stroke=\"#2266aa\" stroke-width=\"1.5\" points=\"", out);
	double xw = TREND_W - PAD - 40, yh = TREND_H - 40;
	for (size_t i = 0; i < n; i++) {
		double x = PAD + 26 + (n > 1 ? xw * (double)i / (double)(n - 1) : xw / 2);
		double y = 12 + yh * (1.0 - (p[i].value - y0) / (y1 - y0));
		fprintf(out, "%.1f,%.1f ", x, y);
	}
	fputs("\"/>", out);
	for (size_t i = 0; i < n; i++) {
		double x = PAD + 26 + (n > 1 ? xw * (double)i / (double)(n - 1) : xw / 2);
		double y = 12 + yh * (1.0 - (p[i].value - y0) / (y1 - y0));
		num(a, sizeof(a), p[i].value);
		fprintf(out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\" stroke=\"#2266aa\">"
			     "<title>run #%lld%s, %s, %.12s: %s %s</title></circle>",
			x, y, p[i].quick ? "#fff" : "#2266aa", p[i].run, p[i].quick ? " (--quick)" : "",
			p[i].date, p[i].commit, a, unit);
	}
	fprintf(out, "<text x=\"%.0f\" y=\"%.0f\">#%lld %.7s</text>", PAD + 20, TREND_H - 6, p[0].run,
		p[0].commit);
	fprintf(out, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"end\">#%lld %.7s</text></svg>",
		TREND_W - 8, TREND_H - 6, p[n - 1].run, p[n - 1].commit);
}

static void trends(FILE *out, sqlite3 *db)
{
	sqlite3_stmt *keys, *st;
	char current[64] = "";
	struct point *p = malloc(TREND_POINTS_MAX * sizeof(*p));
	if (!p)
		return;
	fputs("<h2>Trends</h2>\n<p class=\"muted\">One point per run (median over its "
	      "repetitions); hover a point for its commit and value; hollow points are --quick "
	      "runs (smaller workloads). Info-only metrics are left out.</p>\n",
	      out);
	sqlite3_prepare_v2(db,
			   "SELECT workload, metric, max(unit), max(better), max(kind) FROM measurements"
			   " WHERE kind != 'info' GROUP BY workload, metric ORDER BY min(rowid)",
			   -1, &keys, NULL);
	sqlite3_prepare_v2(db,
			   "SELECT m.run_id, m.value, m.git_commit, m.date, r.quick FROM measurements m"
			   " JOIN runs r ON r.id = m.run_id WHERE m.workload = ? AND m.metric = ?"
			   " ORDER BY m.run_id",
			   -1, &st, NULL);
	while (sqlite3_step(keys) == SQLITE_ROW) {
		const char *wl = col(keys, 0), *metric = col(keys, 1);
		if (strcmp(current, wl) != 0) {
			fprintf(out, "%s<h3>", current[0] ? "</div>\n" : "");
			esc(out, wl);
			fputs("</h3>\n<div class=\"grid\">\n", out);
			snprintf(current, sizeof(current), "%s", wl);
		}
		size_t n = 0;
		sqlite3_reset(st);
		sqlite3_bind_text(st, 1, wl, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 2, metric, -1, SQLITE_TRANSIENT);
		while (sqlite3_step(st) == SQLITE_ROW && n < TREND_POINTS_MAX) {
			p[n].run = sqlite3_column_int64(st, 0);
			p[n].value = sqlite3_column_double(st, 1);
			snprintf(p[n].commit, sizeof(p[n].commit), "%s", col(st, 2));
			snprintf(p[n].date, sizeof(p[n].date), "%s", col(st, 3));
			p[n].quick = sqlite3_column_int(st, 4);
			n++;
		}
		fputs("<div class=\"card\"><b>", out);
		esc(out, metric);
		fputs("</b> <span class=\"muted\">", out);
		esc(out, col(keys, 2));
		fprintf(out, ", %s is better, %s</span><br>", col(keys, 3), col(keys, 4));
		if (n)
			trend_svg(out, p, n, col(keys, 2));
		fputs("</div>\n", out);
	}
	if (current[0])
		fputs("</div>\n", out);
	sqlite3_finalize(keys);
	sqlite3_finalize(st);
	free(p);
}

/* ---- histograms --------------------------------------------------------------------------------- */

/* x position of a percentile: log10(1 / (1 - p)), capped at 6 (99.9999 %). */
static double pct_x(double pct)
{
	double q = pct / 100.0;
	double x = q >= 1.0 ? 6.0 : log10(1.0 / (1.0 - q));
	return x > 6.0 ? 6.0 : x;
}

static void hist_svg(FILE *out, const json_t *points)
{
	size_t i, n = json_array_size(points);
	json_t *pt;
	double vmax = 0, xmax = 1;
	json_array_foreach(points, i, pt)
	{
		double v = json_number_value(json_array_get(pt, 0)) / 1000.0;
		double x = pct_x(json_number_value(json_array_get(pt, 1)));
		vmax = v > vmax ? v : vmax;
		if (json_number_value(json_array_get(pt, 1)) < 100.0)
			xmax = x > xmax ? x : xmax;
	}
	xmax = ceil(xmax);
	vmax = vmax > 0 ? vmax * 1.05 : 1;
	double w = HIST_W - PAD - 20, h = HIST_H - PAD - 16;
	fprintf(out, "<svg width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\">"
		     "<rect x=\"%.0f\" y=\"10\" width=\"%.0f\" height=\"%.0f\" fill=\"#fafafa\" "
		     "stroke=\"#ddd\"/>",
		HIST_W, HIST_H, HIST_W, HIST_H, PAD + 10, w, h);
	static const char *const labels[] = { "0%", "90%", "99%", "99.9%", "99.99%", "99.999%",
					      "99.9999%" };
	for (int d = 0; d <= (int)xmax; d++) {
		double x = PAD + 10 + w * (double)d / xmax;
		fprintf(out, "<line x1=\"%.1f\" y1=\"10\" x2=\"%.1f\" y2=\"%.0f\" stroke=\"#eee\"/>"
			     "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">%s</text>",
			x, x, 10 + h, x, HIST_H - 14, labels[d]);
	}
	char top[32];
	num(top, sizeof(top), vmax);
	fprintf(out, "<text x=\"2\" y=\"18\">%s us</text><text x=\"2\" y=\"%.0f\">0</text>", top, 10 + h);
	fputs("<polyline fill=\"none\" stroke=\"#aa3322\" stroke-width=\"1.5\" points=\"", out);
	json_array_foreach(points, i, pt)
	{
		double pct = json_number_value(json_array_get(pt, 1));
		if (pct >= 100.0 && i + 1 == n && n > 1)
			pct = 100.0 - 100.0 / pow(10.0, xmax); /* draw the max at the right edge */
		double v = json_number_value(json_array_get(pt, 0)) / 1000.0;
		double x = PAD + 10 + w * pct_x(pct) / xmax;
		double y = 10 + h * (1.0 - v / vmax);
		fprintf(out, "%.1f,%.1f ", x, y);
	}
	fputs("\"/>", out);
	fprintf(out, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">percentile</text></svg>",
		PAD + 10 + w / 2, HIST_H - 2);
}

static void histograms(FILE *out, sqlite3 *db)
{
	sqlite3_stmt *st;
	fputs("<h2>Latency histograms (latest run of each workload)</h2>\n<p class=\"muted\">"
	      "Latency (microseconds) against percentile, on HdrHistogram's scale: each grid line "
	      "is ten times closer to 100 %.</p>\n<div class=\"grid\">\n",
	      out);
	sqlite3_prepare_v2(db,
			   "SELECT h.workload, h.what, h.total_count, h.points, h.run_id FROM histograms h"
			   " WHERE h.run_id = (SELECT max(run_id) FROM histograms x WHERE x.workload ="
			   " h.workload) ORDER BY h.rowid",
			   -1, &st, NULL);
	while (sqlite3_step(st) == SQLITE_ROW) {
		json_t *points = json_loads(col(st, 3), 0, NULL);
		fputs("<div class=\"card\"><b>", out);
		esc(out, col(st, 0));
		fputs("</b> <span class=\"muted\">", out);
		esc(out, col(st, 1));
		fprintf(out, "; %lld values; run #%lld</span><br>", (long long)sqlite3_column_int64(st, 2),
			(long long)sqlite3_column_int64(st, 4));
		if (json_array_size(points) > 0)
			hist_svg(out, points);
		fputs("</div>\n", out);
		json_decref(points);
	}
	sqlite3_finalize(st);
	fputs("</div>\n", out);
}

int onex_bench_html_write(const char *db_path, const char *out_path, char *why, size_t why_size)
{
	sqlite3 *db = NULL;
	if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		snprintf(why, why_size, "cannot open %s: %s (run `onex-bench run` first)", db_path,
			 db ? sqlite3_errmsg(db) : "?");
		sqlite3_close(db);
		return -1;
	}
	FILE *out = fopen(out_path, "w");
	if (!out) {
		snprintf(why, why_size, "cannot write %s", out_path);
		sqlite3_close(db);
		return -1;
	}
	head(out, db);
	latest(out, db);
	trends(out, db);
	histograms(out, db);
	fputs("</body></html>\n", out);
	int rc = fclose(out) == 0 ? 0 : -1;
	sqlite3_close(db);
	if (rc < 0)
		snprintf(why, why_size, "cannot write %s", out_path);
	return rc;
}
