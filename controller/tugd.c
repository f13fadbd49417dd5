/*
 * tugd.c: the controller daemon's start and its accept loop. Takes the
 * state directory, opens and migrates the database, loads its SSH key and
 * the agent to install, starts the fleet's sessions, and hands every
 * connection on its unix socket (mode 0660) to client.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <libssh/libssh.h>

#include "common/clock.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "controller/tug.h"

static volatile sig_atomic_t quit;

static void
on_signal(int sig)
{
	(void)sig;
	quit = 1;
}

static int
listen_socket(const char *path)
{
	struct sockaddr_un	 sun;
	struct stat		 st;
	int			 fd, probe;
	char			 dir[PATH_MAX_TUG], *slash;

	snprintf(dir, sizeof dir, "%s", path);
	/*
	 * A directory made for the socket is one its group can traverse
	 * (0750): the socket (0660) is how group members reach tugd.
	 */
	if ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
		*slash = '\0';
		if (stat(dir, &st) == -1 && errno == ENOENT &&
		    (fs_mkdirs(dir, 0750) == -1 || chmod(dir, 0750) == -1))
			fatal("cannot create '%s'", dir);
	}
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
	/* A socket nobody answers on is stale. */
	if ((probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) != -1) {
		if (connect(probe, (struct sockaddr *)&sun, sizeof sun) == 0)
			fatalx("another tugd is listening on '%s'", path);
		close(probe);
	}
	unlink(path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		fatal("socket");
	if (bind(fd, (struct sockaddr *)&sun, sizeof sun) == -1)
		fatal("bind '%s'", path);
	if (chmod(path, 0660) == -1)
		fatal("chmod '%s'", path);
	if (listen(fd, 64) == -1)
		fatal("listen");
	return fd;
}

/* The database and its WAL and shared-memory files: 0600, tugd's own. */
static void
db_private(const char *path)
{
	static const char *const sfx[] = { "", "-wal", "-shm" };
	char	p[PATH_MAX_TUG + 8];
	size_t	i;

	for (i = 0; i < sizeof sfx / sizeof sfx[0]; i++) {
		snprintf(p, sizeof p, "%s%s", path, sfx[i]);
		if (chmod(p, 0600) == -1 && errno != ENOENT)
			log_warn("chmod '%s'", p);
	}
}

static void
agent_path(char *dst, size_t dstsz)
{
	const char	*env = getenv("TUG_AGENT");
	char		 self[PATH_MAX_TUG];
	ssize_t		 n;
	char		*slash;

	if (env != NULL && *env != '\0') {
		snprintf(dst, dstsz, "%s", env);
		return;
	}
	if ((n = readlink("/proc/self/exe", self, sizeof self - 1)) <= 0)
		fatal("readlink /proc/self/exe");
	self[n] = '\0';
	if ((slash = strrchr(self, '/')) != NULL)
		*slash = '\0';
	snprintf(dst, dstsz, "%s/tug-agent", self);
}

/* TUG_HANDSHAKES: how many SSH handshakes may run at once (1..256). */
static int
handshakes(void)
{
	const char	*v = getenv("TUG_HANDSHAKES");
	char		*end;
	long		 n;

	if (v == NULL || *v == '\0')
		return 16;
	n = strtol(v, &end, 10);
	if (*end != '\0' || n < 1 || n > 256)
		fatalx("TUG_HANDSHAKES must be a number from 1 to 256");
	return (int)n;
}

/*
 * Every host holds a thread and three descriptors (its SSH socket and a
 * wake pipe) for as long as tugd runs. A service's soft limits are often
 * 1024 open files, which would stop a fleet at some 330 hosts: take the
 * hard limits, open files and processes (threads count as processes).
 */
static void
raise_limits(void)
{
	static const struct {
		int		 res;
		const char	*name;
	} lim[] = {
		{ RLIMIT_NOFILE, "open files" },
		{ RLIMIT_NPROC, "processes" },
	};
	struct rlimit	rl;
	rlim_t		was;
	size_t		i;

	for (i = 0; i < sizeof lim / sizeof lim[0]; i++) {
		if (getrlimit(lim[i].res, &rl) == -1 ||
		    rl.rlim_cur == rl.rlim_max)
			continue;
		was = rl.rlim_cur;
		rl.rlim_cur = rl.rlim_max;
		/* Linux takes no infinite open files; nr_open is 2^20. */
		if (setrlimit(lim[i].res, &rl) == -1 &&
		    lim[i].res == RLIMIT_NOFILE && rl.rlim_max == RLIM_INFINITY) {
			rl.rlim_cur = 1u << 20;
			if (setrlimit(lim[i].res, &rl) == -1)
				rl.rlim_cur = was;
		}
		if (rl.rlim_cur != was)
			log_info("limit of %s raised from %llu", lim[i].name,
			    (unsigned long long)was);
	}
}

/* Warn when the limits leave too few descriptors for every host. */
static void
check_limits(size_t nhosts)
{
	struct rlimit	rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur !=
	    RLIM_INFINITY && nhosts * 3 + 64 > rl.rlim_cur)
		log_warnx("%zu hosts need about %zu open files, the limit is "
		    "%llu: some will have no session (raise LimitNOFILE)",
		    nhosts, nhosts * 3 + 64, (unsigned long long)rl.rlim_cur);
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: tugd [-fv] [--home DIR] [--socket PATH]\n"
	    "\n"
	    "The tug controller. `tug` starts it when none is running.\n"
	    "  -f            stay in the foreground, log to stderr\n"
	    "  -v            more logging (twice: debug)\n"
	    "  --home DIR    state: tug.db, SSH key, log (default: $TUG_HOME,\n"
	    "                /var/lib/tug as root, else ~/.local/state/tug)\n"
	    "  --socket PATH where to listen (default: DIR/tugd.sock, or\n"
	    "                /run/tug/tugd.sock for the system service)\n"
	    "Environment: TUG_AGENT (the tug-agent binary to install on hosts),\n"
	    "  TUG_HANDSHAKES (SSH handshakes at once, 16), TUG_REQUESTS_MAX (128)\n"
	    "  and TUG_REQUESTS_PER_USER (16): requests running at once.\n");
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "home", required_argument, NULL, 'H' },
		{ "socket", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ "list-ops", no_argument, NULL, 'L' },
		{ NULL, 0, NULL, 0 }
	};
	const char	*home = NULL, *sock = NULL;
	char		 err[512], pub[512], apath[PATH_MAX_TUG], lockp[PATH_MAX_TUG + 8];
	struct host_rec	*hosts;
	size_t		 nhosts, i;
	int		 ch, foreground = 0, verbose = 0, lfd, lockfd, ready[2];
	int		 nhandshakes;
	pid_t		 pid;

	log_init("tugd", 0);
	while ((ch = getopt_long(argc, argv, "fvh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'f': foreground = 1; break;
		case 'v': verbose++; break;
		case 'H': home = optarg; break;
		case 'S': sock = optarg; break;
		case 'h': usage(stdout); return 0;
		case 'L': ops_list(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	log_init("tugd", verbose);
	umask(077);		/* the state is tugd's alone; the socket is 0660 */
	if (paths_init(&paths, home, sock) == -1)
		fatalx("state directory or socket path unusable (too long?)");
	nhandshakes = handshakes();	/* before the fork: errors reach tug */
	ops_limits();

	/*
	 * Fork before anything holds a lock or opens the database: SQLite's
	 * POSIX locks do not survive fork. The parent waits until the child
	 * is listening (or has failed) so that `tug` can connect at once.
	 */
	if (!foreground) {
		if (pipe(ready) == -1)
			fatal("pipe");
		if ((pid = fork()) == -1)
			fatal("fork");
		if (pid > 0) {
			char	c = 0;

			close(ready[1]);
			if (read(ready[0], &c, 1) != 1 || c != '1')
				_exit(1);
			_exit(0);
		}
		close(ready[0]);
		setsid();
	}
	if (fs_mkdirs(paths.home, 0700) == -1)
		fatal("cannot create '%s'", paths.home);
	chmod(paths.home, 0700);
	snprintf(lockp, sizeof lockp, "%s/tugd.lock", paths.home);
	if ((lockfd = open(lockp, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) == -1 ||
	    flock(lockfd, LOCK_EX | LOCK_NB) == -1)
		fatalx("another tugd runs on '%s'", paths.home);
	if (db_open(paths.db, err, sizeof err) == -1 ||
	    schema_migrate(err, sizeof err) == -1)
		fatalx("%s", err);
	db_private(paths.db);	/* 0600, also for a database made before */
	locks_clear();		/* held by a tugd that is gone */
	releases_interrupted();	/* its deploys, too */
	ssh_init();
	if (ssh_key_ensure(paths.key, pub, sizeof pub, err, sizeof err) == -1)
		fatalx("%s", err);
	agent_path(apath, sizeof apath);
	if (agent_bin_load(apath, err, sizeof err) == -1)
		fatalx("%s", err);
	lfd = listen_socket(paths.sock);

	if (!foreground) {
		int	logfd;

		if ((logfd = open(paths.log, O_WRONLY | O_CREAT | O_APPEND |
		    O_CLOEXEC, 0600)) != -1) {
			dup2(logfd, STDERR_FILENO);
			close(logfd);
		}
		if ((logfd = open("/dev/null", O_RDWR)) != -1) {
			dup2(logfd, STDIN_FILENO);
			dup2(logfd, STDOUT_FILENO);
			close(logfd);
		}
		if (write(ready[1], "1", 1) != 1)
			fatal("cannot tell the parent");
		close(ready[1]);
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	log_warnx("tugd %s listening on %s (state %s, agent %.16s)",
	    TUG_VERSION, paths.sock, paths.home, agent_bin.sha256);

	raise_limits();
	fleet_init(nhandshakes);
	if (hosts_load(&hosts, &nhosts) == 0) {
		check_limits(nhosts);
		for (i = 0; i < nhosts; i++) {
			fleet_add(&hosts[i]);
			host_rec_free(&hosts[i]);
		}
		free(hosts);
	}
	renew_start();
	drift_start();

	while (!quit) {
		struct pollfd	pfd = { lfd, POLLIN, 0 };
		int		fd;

		if (poll(&pfd, 1, 500) <= 0)
			continue;
		if ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) != -1)
			client_start(fd);
	}
	/*
	 * Host threads may be in the middle of libssh calls: exit without
	 * running atexit handlers under them, but only once no thread is
	 * inside SQLite (WAL needs nothing more to stay consistent).
	 */
	log_warnx("tugd exiting");
	unlink(paths.sock);
	close(lfd);
	db_lock();
	_exit(0);
}
