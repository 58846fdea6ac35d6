/*
 * history.c - the SQLite history of runs (see history.h).
 */
#include "history.h"

#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stats.h"

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS runs ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT, git_commit TEXT NOT NULL,"
	" git_dirty INTEGER NOT NULL, date TEXT NOT NULL, machine TEXT NOT NULL,"
	" machine_kind TEXT NOT NULL, command TEXT NOT NULL, repetitions INTEGER NOT NULL,"
	" quick INTEGER NOT NULL, seed INTEGER NOT NULL, load_start REAL, load_end REAL);"
	"CREATE TABLE IF NOT EXISTS measurements ("
	" run_id INTEGER NOT NULL REFERENCES runs (id), git_commit TEXT NOT NULL,"
	" date TEXT NOT NULL, machine TEXT NOT NULL, workload TEXT NOT NULL,"
	" metric TEXT NOT NULL, unit TEXT NOT NULL, kind TEXT NOT NULL, better TEXT NOT NULL,"
	" value REAL NOT NULL, repetitions INTEGER NOT NULL, samples TEXT NOT NULL);"
	"CREATE INDEX IF NOT EXISTS measurements_by_metric ON measurements (workload, metric);"
	"CREATE TABLE IF NOT EXISTS histograms ("
	" run_id INTEGER NOT NULL REFERENCES runs (id), workload TEXT NOT NULL,"
	" what TEXT NOT NULL, total_count INTEGER NOT NULL, points TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS workloads ("
	" run_id INTEGER NOT NULL REFERENCES runs (id), workload TEXT NOT NULL,"
	" available INTEGER NOT NULL, note TEXT NOT NULL, fingerprint TEXT);";

static const char *kind_text(enum onex_bench_kind k)
{
	return k == ONEX_BENCH_SAMPLED ? "sampled" : k == ONEX_BENCH_EXACT ? "exact" : "info";
}

static const char *better_text(enum onex_bench_better b)
{
	return b == ONEX_BENCH_LOWER ? "lower" : b == ONEX_BENCH_HIGHER ? "higher" : "neither";
}

static void add_point(void *arg, int64_t value, double percentile, int64_t count)
{
	json_array_append_new(arg, json_pack("[I,f,I]", (json_int_t)value, percentile,
					     (json_int_t)count));
}

static int exec_ok(sqlite3 *db, const char *sql)
{
	return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

static int store_result(sqlite3 *db, const struct onex_bench_run *run, long long run_id,
			const struct onex_bench_result *res)
{
	sqlite3_stmt *st = NULL;
	char fp[32] = "";
	int rc = 0;
	if (res->has_fingerprint)
		snprintf(fp, sizeof(fp), "%016llx", (unsigned long long)res->fingerprint);
	sqlite3_prepare_v2(db, "INSERT INTO workloads VALUES (?, ?, ?, ?, ?)", -1, &st, NULL);
	sqlite3_bind_int64(st, 1, run_id);
	sqlite3_bind_text(st, 2, res->wl->name, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, res->available);
	sqlite3_bind_text(st, 4, res->note, -1, SQLITE_STATIC);
	if (fp[0])
		sqlite3_bind_text(st, 5, fp, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 5);
	rc |= sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
	sqlite3_finalize(st);

	sqlite3_prepare_v2(db, "INSERT INTO measurements VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			   -1, &st, NULL);
	for (size_t i = 0; res->available && i < res->metric_count; i++) {
		const struct onex_bench_metric *m = &res->metrics[i];
		json_t *samples = json_array();
		for (size_t k = 0; k < m->n; k++)
			json_array_append_new(samples, json_real(m->samples[k]));
		char *text = json_dumps(samples, JSON_COMPACT);
		json_decref(samples);
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, run_id);
		sqlite3_bind_text(st, 2, run->git_commit, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, run->date, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, run->machine, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 5, res->wl->name, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 6, m->name, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 7, m->unit, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 8, kind_text(m->kind), -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 9, better_text(m->better), -1, SQLITE_STATIC);
		sqlite3_bind_double(st, 10, onex_stats_median(m->samples, m->n));
		sqlite3_bind_int64(st, 11, (sqlite3_int64)m->n);
		sqlite3_bind_text(st, 12, text ? text : "[]", -1, SQLITE_TRANSIENT);
		rc |= sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
		free(text);
	}
	sqlite3_finalize(st);

	if (res->available && res->has_hist) {
		json_t *points = json_array();
		onex_hist_percentile_points(&res->hist, 5, add_point, points);
		char *text = json_dumps(points, JSON_COMPACT);
		json_decref(points);
		sqlite3_prepare_v2(db, "INSERT INTO histograms VALUES (?, ?, ?, ?, ?)", -1, &st, NULL);
		sqlite3_bind_int64(st, 1, run_id);
		sqlite3_bind_text(st, 2, res->wl->name, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, res->hist_what, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, res->hist.total_count);
		sqlite3_bind_text(st, 5, text ? text : "[]", -1, SQLITE_TRANSIENT);
		rc |= sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
		sqlite3_finalize(st);
		free(text);
	}
	return rc;
}

int onex_bench_history_store(const char *path, const struct onex_bench_run *run, long long *run_id,
			     char *why, size_t why_size)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	if (sqlite3_open(path, &db) != SQLITE_OK) {
		snprintf(why, why_size, "cannot open %s: %s", path, db ? sqlite3_errmsg(db) : "?");
		sqlite3_close(db);
		return -1;
	}
	sqlite3_busy_timeout(db, 5000);
	int ok = exec_ok(db, schema) == 0;
	if (ok) {
		/* Histories written before the load columns existed: add them (fails when present). */
		exec_ok(db, "ALTER TABLE runs ADD COLUMN load_start REAL");
		exec_ok(db, "ALTER TABLE runs ADD COLUMN load_end REAL");
	}
	if (!ok || exec_ok(db, "BEGIN IMMEDIATE") < 0) {
		snprintf(why, why_size, "%s: %s", path, sqlite3_errmsg(db));
		sqlite3_close(db);
		return -1;
	}
	sqlite3_prepare_v2(db,
			   "INSERT INTO runs (git_commit, git_dirty, date, machine, machine_kind,"
			   " command, repetitions, quick, seed, load_start, load_end)"
			   " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			   -1, &st, NULL);
	sqlite3_bind_text(st, 1, run->git_commit, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, run->git_dirty);
	sqlite3_bind_text(st, 3, run->date, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, run->machine, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, run->machine_kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, run->command, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 7, (int)run->ctx->repetitions);
	sqlite3_bind_int(st, 8, run->ctx->quick);
	sqlite3_bind_int64(st, 9, (sqlite3_int64)run->ctx->seed);
	sqlite3_bind_double(st, 10, run->load_start);
	sqlite3_bind_double(st, 11, run->load_end);
	int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
	sqlite3_finalize(st);
	*run_id = sqlite3_last_insert_rowid(db);
	for (size_t i = 0; rc == 0 && i < run->count; i++)
		if (run->results[i].ran)
			rc = store_result(db, run, *run_id, &run->results[i]);
	if (rc == 0 && exec_ok(db, "COMMIT") == 0) {
		sqlite3_close(db);
		return 0;
	}
	snprintf(why, why_size, "%s: %s", path, sqlite3_errmsg(db));
	exec_ok(db, "ROLLBACK");
	sqlite3_close(db);
	return -1;
}
