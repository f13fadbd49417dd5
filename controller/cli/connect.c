/*
 * connect.c: reaching tugd on its Unix socket, starting it first when none
 * listens (as tmux starts its server), unless TUG_NO_AUTOSTART is set or tug
 * runs over SSH.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
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
static int
start_tugd(void)
{
	char	self[PATH_MAX_TUG], tugd[PATH_MAX_TUG + 8], *slash;
	ssize_t	n;
	pid_t	pid;
	int	st;

	if ((n = readlink("/proc/self/exe", self, sizeof self - 1)) <= 0)
		return -1;
	self[n] = '\0';
	if ((slash = strrchr(self, '/')) != NULL)
		*slash = '\0';
	snprintf(tugd, sizeof tugd, "%s/tugd", self);
	if ((pid = fork()) == -1)
		return -1;
	if (pid == 0) {
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
open_tugd(void)
{
	const char	*no = getenv("TUG_NO_AUTOSTART");
	int		 fd;

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
	if (no != NULL && *no != '\0' && strcmp(no, "0") != 0) {
		fprintf(stderr, "tug: no tugd is listening on '%s' (and "
		    "TUG_NO_AUTOSTART is set)\n", paths.sock);
		return -1;
	}
	if (start_tugd() == -1) {
		fprintf(stderr, "tug: could not start tugd (see %s)\n",
		    paths.log);
		return -1;
	}
	if ((fd = connect_socket(paths.sock)) == -1)
		fprintf(stderr, "tug: tugd started but '%s' refuses: %s\n",
		    paths.sock, strerror(errno));
	return fd;
}
