/*
 * html.h - reports/bench.html from the history: one self-contained page
 * (inline CSS and SVG, no script, nothing fetched) with the latest run's
 * figures, a trend line per metric over every run, and the latency
 * histograms of the latest run as percentile curves (HdrHistogram
 * plotter style: log scale of 1 / (1 - percentile)).
 */
#ifndef ONEX_BENCH_HTML_H
#define ONEX_BENCH_HTML_H

#include <stddef.h>

/* Read the history at db_path, write the page at out_path. 0, or -1 with why. */
int onex_bench_html_write(const char *db_path, const char *out_path, char *why, size_t why_size);

#endif
