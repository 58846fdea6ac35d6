/*
 * pg_cluster.h - a throwaway PostgreSQL cluster for tests.
 *
 * pg_cluster_create() makes a private directory under $TMPDIR (or /tmp),
 * runs initdb there (trust authentication, superuser "postgres", UTF8,
 * --no-sync) and starts the server with pg_ctl on a free TCP port of
 * 127.0.0.1, its Unix socket in the same directory, fsync off. It blocks
 * until the server accepts connections (pg_ctl -w): this is test support,
 * not runtime code, and may wait.
 *
 * initdb and the server refuse to run as root; when the test runs as root
 * they are run as the `postgres` user through runuser(1), and the directory
 * is chowned to that user first. Otherwise they run as the current user.
 *
 * Binaries come from $ONEX_PG_BINDIR, else /usr/lib/postgresql/15/bin, else
 * the newest /usr/lib/postgresql/<N>/bin. When none is there every function
 * fails with a message that says how to install them (make deps).
 *
 * The server is stopped by PID (postmaster.pid): SIGINT (fast shutdown),
 * polled until it exits, SIGKILL after a grace period. The test process
 * makes itself a child subreaper so the daemonised postmaster becomes its
 * child and can be reaped (no zombie is mistaken for a live server).
 */
#ifndef ONEX_TEST_PG_CLUSTER_H
#define ONEX_TEST_PG_CLUSTER_H

#include <stddef.h>
#include <sys/types.h>

struct pg_cluster {
	char bindir[256];
	char dir[256];	     /* owned by the cluster; removed by destroy */
	char datadir[300];   /* dir/data */
	int port;	     /* TCP port on 127.0.0.1 */
	pid_t pid;	     /* postmaster PID while running, else 0 */
	char conninfo[400];  /* "host=127.0.0.1 port=N dbname=postgres user=postgres" */
	char error[1024];    /* why the last call failed */
};

/* Zero `c`, find the binaries, initdb and start. 0, or -1 with c->error. */
int pg_cluster_create(struct pg_cluster *c);

/* Start a stopped cluster on its port. 0, or -1 with c->error. */
int pg_cluster_start(struct pg_cluster *c);

/* Stop the server by PID; a no-op when stopped. 0, or -1 with c->error. */
int pg_cluster_stop(struct pg_cluster *c);

/* Stop, then start again on the same directory and port. */
int pg_cluster_restart(struct pg_cluster *c);

/* Stop if running and remove the directory. Safe on a failed create. */
void pg_cluster_destroy(struct pg_cluster *c);

/* A TCP port on 127.0.0.1 that nothing listened on a moment ago, or -1. */
int pg_cluster_free_port(void);

#endif
