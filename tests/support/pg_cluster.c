/*
 * pg_cluster.c - initdb / pg_ctl / stop-by-PID for tests (see pg_cluster.h).
 *
 * Every external program runs through run_tool(): fork, stdin from
 * /dev/null, stdout and stderr appended to <dir>/tools.log, wait. When a
 * tool fails, the tail of that log goes into c->error so the test output
 * says what PostgreSQL said.
 */
#include "pg_cluster.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define STOP_GRACE_MS 15000 /* fast shutdown normally takes well under 1 s */
#define KILL_GRACE_MS 5000
#define POLL_MS 10

static int fail(struct pg_cluster *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct pg_cluster *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->error, sizeof(c->error), fmt, ap);
	va_end(ap);
	return -1;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int is_executable(const char *dir, const char *name)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return access(path, X_OK) == 0;
}

static int has_tools(const char *dir)
{
	return is_executable(dir, "initdb") && is_executable(dir, "pg_ctl") &&
	       is_executable(dir, "postgres");
}

/* $ONEX_PG_BINDIR, the 15 packages' path, or the newest installed major. */
static int find_bindir(struct pg_cluster *c)
{
	const char *env = getenv("ONEX_PG_BINDIR");
	glob_t g;
	if (env && *env) {
		if (!has_tools(env))
			return fail(c, "ONEX_PG_BINDIR=%s has no initdb, pg_ctl and postgres", env);
		snprintf(c->bindir, sizeof(c->bindir), "%s", env);
		return 0;
	}
	if (has_tools("/usr/lib/postgresql/15/bin")) {
		snprintf(c->bindir, sizeof(c->bindir), "/usr/lib/postgresql/15/bin");
		return 0;
	}
	if (glob("/usr/lib/postgresql/*/bin", 0, NULL, &g) == 0) {
		for (size_t i = g.gl_pathc; i-- > 0;) {
			if (has_tools(g.gl_pathv[i])) {
				snprintf(c->bindir, sizeof(c->bindir), "%s", g.gl_pathv[i]);
				globfree(&g);
				return 0;
			}
		}
		globfree(&g);
	}
	return fail(c, "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found in "
		       "/usr/lib/postgresql/15/bin: run `make deps` (installs the Debian package "
		       "'postgresql') or set ONEX_PG_BINDIR to their directory");
}

static const char *runuser_path(void)
{
	static const char *const candidates[] = { "/usr/sbin/runuser", "/sbin/runuser",
						  "/usr/bin/runuser", NULL };
	for (const char *const *p = candidates; *p; p++)
		if (access(*p, X_OK) == 0)
			return *p;
	return NULL;
}

/* The last `max` bytes of <dir>/tools.log, for error messages. */
static void log_tail(const struct pg_cluster *c, char *out, size_t max)
{
	char path[512];
	FILE *f;
	long size;
	size_t n;
	out[0] = '\0';
	snprintf(path, sizeof(path), "%s/tools.log", c->dir);
	if (!(f = fopen(path, "r")))
		return;
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fseek(f, size > (long)max - 1 ? size - (long)max + 1 : 0, SEEK_SET);
	n = fread(out, 1, max - 1, f);
	out[n] = '\0';
	fclose(f);
}

/*
 * Run bindir/tool with args (NULL-terminated), as `postgres` when root.
 * Returns the exit status (0 = success) or -1 when it could not run.
 */
static int run_tool(struct pg_cluster *c, const char *tool, const char *const *args)
{
	const char *argv[32];
	char prog[512], logpath[512];
	size_t n = 0;
	pid_t pid;
	int status;
	snprintf(prog, sizeof(prog), "%s/%s", c->bindir, tool);
	snprintf(logpath, sizeof(logpath), "%s/tools.log", c->dir);
	if (geteuid() == 0) {
		const char *ru = runuser_path();
		if (!ru)
			return fail(c, "running as root but runuser(1) is missing: initdb and "
				       "postgres refuse to run as root");
		argv[n++] = ru;
		argv[n++] = "-u";
		argv[n++] = "postgres";
		argv[n++] = "--";
	}
	argv[n++] = prog;
	for (; *args && n < sizeof(argv) / sizeof(argv[0]) - 1; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	fflush(NULL);
	if ((pid = fork()) < 0)
		return fail(c, "fork: %s", strerror(errno));
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);
		int log = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (null >= 0)
			dup2(null, 0);
		if (log >= 0) {
			dup2(log, 1);
			dup2(log, 2);
		}
		execv(argv[0], (char *const *)argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return fail(c, "waitpid: %s", strerror(errno));
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	{
		char tail[700];
		log_tail(c, tail, sizeof(tail));
		fail(c, "%s failed (status %d):\n%s", tool, status, tail);
	}
	return status ? status : 1;
}

int pg_cluster_free_port(void)
{
	struct sockaddr_in a = { 0 };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;
	if (fd < 0)
		return -1;
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static int make_dir(struct pg_cluster *c)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(c->dir, sizeof(c->dir), "%s/onex-pg-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(c->dir)) {
		int e = errno;
		c->dir[0] = '\0';
		return fail(c, "mkdtemp: %s", strerror(e));
	}
	snprintf(c->datadir, sizeof(c->datadir), "%s/data", c->dir);
	if (geteuid() == 0) {
		struct passwd *pw = getpwnam("postgres");
		if (!pw)
			return fail(c, "running as root but there is no 'postgres' user to run "
				       "initdb as (the Debian 'postgresql' package creates it)");
		if (chown(c->dir, pw->pw_uid, pw->pw_gid) < 0)
			return fail(c, "chown %s: %s", c->dir, strerror(errno));
	}
	return 0;
}

static int read_pid(struct pg_cluster *c)
{
	char path[512];
	long pid = 0;
	FILE *f;
	snprintf(path, sizeof(path), "%s/postmaster.pid", c->datadir);
	if (!(f = fopen(path, "r")))
		return fail(c, "cannot read %s: %s", path, strerror(errno));
	if (fscanf(f, "%ld", &pid) != 1 || pid <= 0) {
		fclose(f);
		return fail(c, "%s holds no PID", path);
	}
	fclose(f);
	c->pid = (pid_t)pid;
	return 0;
}

int pg_cluster_start(struct pg_cluster *c)
{
	char opts[512], logpath[512];
	if (c->pid)
		return 0;
	snprintf(opts, sizeof(opts),
		 "-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off "
		 "-c synchronous_commit=off -c full_page_writes=off",
		 c->port, c->dir);
	snprintf(logpath, sizeof(logpath), "%s/server.log", c->dir);
	const char *const args[] = { "-D", c->datadir, "-l", logpath, "-w", "-t", "30",
				     "-s", "-o", opts, "start", NULL };
	if (run_tool(c, "pg_ctl", args) != 0)
		return -1;
	return read_pid(c);
}

int pg_cluster_create(struct pg_cluster *c)
{
	memset(c, 0, sizeof(*c));
	if (find_bindir(c) < 0)
		return -1;
	/* Make the daemonised postmaster our child once pg_ctl exits. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	if (make_dir(c) < 0)
		return -1;
	if ((c->port = pg_cluster_free_port()) < 0)
		return fail(c, "no free TCP port on 127.0.0.1");
	snprintf(c->conninfo, sizeof(c->conninfo),
		 "host=127.0.0.1 port=%d dbname=postgres user=postgres", c->port);
	const char *const args[] = { "-D", c->datadir, "-A", "trust", "-U", "postgres",
				     "-E", "UTF8", "--locale=C", "--no-sync", NULL };
	if (run_tool(c, "initdb", args) != 0)
		return -1;
	return pg_cluster_start(c);
}

/* 1 when pid has exited (and, if it is our child, was reaped). */
static int exited(pid_t pid)
{
	char path[64], buf[256];
	FILE *f;
	int status;
	pid_t r = waitpid(pid, &status, WNOHANG);
	if (r == pid)
		return 1;
	if (r == 0)
		return 0;
	/* Not our child (no subreaper): alive unless gone or a zombie. */
	if (kill(pid, 0) < 0 && errno == ESRCH)
		return 1;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r"))) {
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);
		char *paren;
		fclose(f);
		buf[n] = '\0';
		paren = strrchr(buf, ')');
		if (paren && paren[1] == ' ' && paren[2] == 'Z')
			return 1;
	}
	return 0;
}

static int wait_exit(pid_t pid, long ms)
{
	for (long waited = 0; waited <= ms; waited += POLL_MS) {
		if (exited(pid))
			return 1;
		sleep_ms(POLL_MS);
	}
	return 0;
}

int pg_cluster_stop(struct pg_cluster *c)
{
	if (!c->pid)
		return 0;
	if (kill(c->pid, SIGINT) < 0 && errno == ESRCH) {
		c->pid = 0;
		return 0;
	}
	if (!wait_exit(c->pid, STOP_GRACE_MS)) {
		kill(c->pid, SIGKILL);
		if (!wait_exit(c->pid, KILL_GRACE_MS))
			return fail(c, "postmaster %d does not exit", (int)c->pid);
	}
	c->pid = 0;
	return 0;
}

int pg_cluster_restart(struct pg_cluster *c)
{
	if (pg_cluster_stop(c) < 0)
		return -1;
	return pg_cluster_start(c);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)ftw;
	/* Best effort: a failure leaves the entry and the walk goes on. */
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

void pg_cluster_destroy(struct pg_cluster *c)
{
	pg_cluster_stop(c);
	if (c->dir[0] && strncmp(c->dir, "/", 1) == 0 && strstr(c->dir, "/onex-pg-"))
		nftw(c->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	c->dir[0] = '\0';
}
