/*
 * proc.c: running another program, the agent's only way to: fork and
 * execve with an argv array and a fixed environment, never a shell; its
 * output kept up to a cap; a deadline after which it is killed.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/agent.h"
#include "common/clock.h"

static char *const proc_env_default[] = {
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	NULL
};

/* The child: only async-signal-safe calls until execve. */
static void __attribute__((noreturn))
proc_child(char *const argv[], char *const envp[], int nul, int outfd,
    int keep_stdout, int mask)
{
	static const char	 msg[] = "cannot execute the program\n";
	struct sigaction	 sa;
	sigset_t		 none;
	int			 fd;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	sa.sa_handler = SIG_DFL;
	sa.sa_flags = 0;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGPIPE, &sa, NULL);
	if (dup2(nul, STDIN_FILENO) == -1 ||
	    dup2(keep_stdout ? outfd : nul, STDOUT_FILENO) == -1 ||
	    dup2(outfd, STDERR_FILENO) == -1)
		_exit(126);
	/* The controller's pipe, Docker sockets, locks: none of its. */
	if (close_range(3, ~0U, 0) == -1)
		for (fd = 3; fd < 4096; fd++)
			close(fd);
	setsid();
	if (mask != 0)
		umask((mode_t)mask);
	execve(argv[0], argv, envp);
	(void)!write(STDERR_FILENO, msg, sizeof msg - 1);
	_exit(127);
}

int
proc_run(const struct proc *p, struct buf *out, char *err, size_t errsz)
{
	char		 chunk[4096];
	int		 fds[2], nul, status = 0, eof = 0, exited = 0;
	pid_t		 pid;
	uint64_t	 deadline;
	ssize_t		 r;
	struct pollfd	 pfd;

	buf_reset(out);
	if (pipe2(fds, O_CLOEXEC) == -1)
		return snprintf(err, errsz, "pipe: %s", strerror(errno)), -1;
	if ((nul = open("/dev/null", O_RDWR | O_CLOEXEC)) == -1) {
		snprintf(err, errsz, "/dev/null: %s", strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if ((pid = fork()) == -1) {
		snprintf(err, errsz, "fork: %s", strerror(errno));
		close(fds[0]);
		close(fds[1]);
		close(nul);
		return -1;
	}
	if (pid == 0)
		proc_child(p->argv, p->envp != NULL ? p->envp :
		    proc_env_default, nul, fds[1], p->stdout_too, p->umask);
	if (p->childp != NULL)
		*p->childp = (long)pid;
	close(fds[1]);
	close(nul);

	deadline = clock_ms() + p->timeout_ms;
	pfd.fd = fds[0];
	pfd.events = POLLIN;
	while (!exited) {
		pid_t w = waitpid(pid, &status, WNOHANG);

		if (w == pid)
			exited = 1;
		else if (w == -1 && errno != EINTR) {
			snprintf(err, errsz, "waitpid: %s", strerror(errno));
			close(fds[0]);
			return -1;
		}
		if (exited)
			fcntl(fds[0], F_SETFL, O_NONBLOCK);
		else if (clock_ms() > deadline || (p->cancel != NULL &&
		    *p->cancel)) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			close(fds[0]);
			if (p->cancel != NULL && *p->cancel)
				snprintf(err, errsz, "%s: cancelled",
				    p->argv[0]);
			else
				snprintf(err, errsz, "%s did not finish in "
				    "%llu s", p->argv[0], (unsigned long long)
				    (p->timeout_ms / 1000));
			return -1;
		} else if (eof) {
			sleep_ms(2);
			continue;
		} else if (poll(&pfd, 1, 20) <= 0)
			continue;
		/* Read what there is; after the exit, up to EAGAIN only. */
		while (!eof) {
			if ((r = read(fds[0], chunk, sizeof chunk)) > 0) {
				if (out->len + (size_t)r <= p->max_out)
					buf_add(out, chunk, (size_t)r);
				if (!exited)
					break;
			} else if (r == 0)
				eof = 1;
			else if (errno != EINTR)
				break;
		}
	}
	close(fds[0]);
	if (WIFSIGNALED(status))
		return snprintf(err, errsz, "%s killed by signal %d",
		    p->argv[0], WTERMSIG(status)), -1;
	return WEXITSTATUS(status);
}
