/*
 * connect.c: reaching tugd on its Unix socket, starting it first when none
 * listens (as tmux starts its server), unless TUG_NO_AUTOSTART is set or tug
 * runs over SSH.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "controller/cli/cli.h"

static int
connect_socket(const char *path)
{
	struct sockaddr_un	sun;
	int			fd;

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
	if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == -1) {
		int saved = errno;

		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

/* Start tugd like tmux starts its server: it returns once it listens. */
/* The state dir (0700) and the socket's dir (0750) of the service account. */
static int
service_dirs(const struct passwd *pw)
{
	const char *const dirs[] = { paths.home, TUG_SYSTEM_SOCK };
	char	d[PATH_MAX_TUG], *slash;
	size_t	i;

	for (i = 0; i < 2; i++) {
		snprintf(d, sizeof d, "%s", dirs[i]);
		if (i == 1 && (slash = strrchr(d, '/')) != NULL)
			*slash = '\0';
		if ((mkdir(d, i == 0 ? 0700 : 0750) == -1 && errno != EEXIST) ||
		    chown(d, pw->pw_uid, pw->pw_gid) == -1 ||
		    chmod(d, i == 0 ? 0700 : 0750) == -1) {
			fprintf(stderr, "tug: cannot prepare '%s' for %s: %s\n",
			    d, pw->pw_name, strerror(errno));
			return -1;
		}
	}
	return 0;
}

static int
start_tugd(void)
{
	char		 self[PATH_MAX_TUG], tugd[PATH_MAX_TUG + 8], *slash;
	ssize_t		 n;
	pid_t		 pid;
	int		 st;
	struct passwd	*pw, *svc = NULL;

	if ((n = readlink("/proc/self/exe", self, sizeof self - 1)) <= 0)
		return -1;
	self[n] = '\0';
	if ((slash = strrchr(self, '/')) != NULL)
		*slash = '\0';
	snprintf(tugd, sizeof tugd, "%s/tugd", self);
	/*
	 * The system service runs as its own account: root starting it
	 * makes its directories that account's and drops to it first.
	 */
	if (paths.system && getuid() == 0 &&
	    (pw = getpwnam(TUG_ACCOUNT)) != NULL) {
		if (service_dirs(pw) == -1)
			return -1;
		svc = pw;
	}
	if ((pid = fork()) == -1)
		return -1;
	if (pid == 0) {
		if (svc != NULL && (initgroups(svc->pw_name, svc->pw_gid) == -1 ||
		    setgid(svc->pw_gid) == -1 || setuid(svc->pw_uid) == -1)) {
			fprintf(stderr, "tug: cannot become %s: %s\n",
			    svc->pw_name, strerror(errno));
			_exit(127);
		}
		if (svc != NULL)
			setenv("HOME", svc->pw_dir, 1);
		execl(tugd, "tugd", "--home", paths.home, "--socket",
		    paths.sock, (char *)NULL);
		fprintf(stderr, "tug: cannot start %s: %s\n", tugd,
		    strerror(errno));
		_exit(127);
	}
	if (waitpid(pid, &st, 0) == -1 || !WIFEXITED(st) ||
	    WEXITSTATUS(st) != 0)
		return -1;
	return 0;
}

int
open_tugd(int init)
{
	const char	*no = getenv("TUG_NO_AUTOSTART");
	int		 fd, fresh = 0;

	if ((fd = connect_socket(paths.sock)) != -1)
		return fd;
	if (errno != ENOENT && errno != ECONNREFUSED) {
		fprintf(stderr, "tug: cannot connect to '%s': %s\n",
		    paths.sock, strerror(errno));
		return -1;
	}
	if (ssh_mode) {
		fprintf(stderr, "tug: tugd is not running on this "
		    "controller\n");
		return -1;
	}
	if (paths.system && getuid() != 0 && getpwnam(TUG_ACCOUNT) != NULL &&
	    getpwnam(TUG_ACCOUNT)->pw_uid != getuid()) {
		fprintf(stderr, "tug: the system tugd does not answer on '%s'; "
		    "root starts it (systemctl start tugd)\n", paths.sock);
		return -1;
	}
	if (no != NULL && *no != '\0' && strcmp(no, "0") != 0) {
		fprintf(stderr, "tug: no tugd is listening on '%s' (and "
		    "TUG_NO_AUTOSTART is set)\n", paths.sock);
		return -1;
	}
	/* A mistyped TUG_HOME would otherwise look like a lost fleet. */
	if (access(paths.db, F_OK) == -1 && errno == ENOENT)
		fresh = 1;
	if (start_tugd() == -1) {
		fprintf(stderr, "tug: could not start tugd (see %s)\n",
		    paths.log);
		return -1;
	}
	if (fresh && !init && !quiet)
		fprintf(stderr, "tug: started a new, empty tugd at %s: run `tug "
		    "init`, or set TUG_HOME to the one you meant\n",
		    paths.home);
	if ((fd = connect_socket(paths.sock)) == -1)
		fprintf(stderr, "tug: tugd started but '%s' refuses: %s\n",
		    paths.sock, strerror(errno));
	return fd;
}
