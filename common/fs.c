/*
 * fs.c: atomic file replacement, mkdir -p, full reads and writes that
 * survive EINTR and short counts, and rm -r that never follows a link.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/file.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/fs.h"

int
fs_write_all(int fd, const void *data, size_t n)
{
	const char	*p = data;
	ssize_t		 w;

	while (n > 0) {
		if ((w = write(fd, p, n)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int
fs_read_full(int fd, void *data, size_t n)
{
	char	*p = data;
	size_t	 got = 0;
	ssize_t	 r;

	while (got < n) {
		if ((r = read(fd, p + got, n - got)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0) {
			if (got == 0)
				return 0;
			errno = EPIPE;
			return -1;
		}
		got += (size_t)r;
	}
	return 1;
}

static int
fsync_dir(const char *path)
{
	char		 dir[PATH_MAX];
	const char	*slash = strrchr(path, '/');
	int		 fd, r;

	if (slash == NULL)
		snprintf(dir, sizeof dir, ".");
	else if (slash == path)
		snprintf(dir, sizeof dir, "/");
	else if ((size_t)(slash - path) < sizeof dir)
		snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
	else {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	r = fsync(fd);
	close(fd);
	return r;
}

int
fs_write_atomic(const char *path, const void *data, size_t n, mode_t mode)
{
	char	tmp[PATH_MAX];
	int	fd, saved;

	if (snprintf(tmp, sizeof tmp, "%s.tmp-%ld", path, (long)getpid()) >=
	    (int)sizeof tmp) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
	    mode);
	if (fd == -1)
		return -1;
	if (fchmod(fd, mode) == -1 || fs_write_all(fd, data, n) == -1 ||
	    fsync(fd) == -1) {
		saved = errno;
		close(fd);
		unlink(tmp);
		errno = saved;
		return -1;
	}
	if (close(fd) == -1 || rename(tmp, path) == -1) {
		saved = errno;
		unlink(tmp);
		errno = saved;
		return -1;
	}
	return fsync_dir(path);
}

int
fs_mkdirs(const char *path, mode_t mode)
{
	char	 p[PATH_MAX];
	char	*s;
	size_t	 n = strlen(path);

	if (n == 0 || n >= sizeof p) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(p, path, n + 1);
	for (s = p + 1; *s != '\0'; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, mode) == -1 && errno != EEXIST)
			return -1;
		*s = '/';
	}
	if (mkdir(p, mode) == -1 && errno != EEXIST)
		return -1;
	return 0;
}

int
fs_read_file(const char *path, struct buf *b, size_t max)
{
	char	chunk[8192];
	ssize_t	r;
	size_t	total = 0;
	int	fd, saved;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	for (;;) {
		if ((r = read(fd, chunk, sizeof chunk)) == -1) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		if (r == 0)
			break;
		total += (size_t)r;
		if (total > max) {
			errno = EFBIG;
			goto fail;
		}
		if (buf_add(b, chunk, (size_t)r) == -1)
			goto fail;
	}
	close(fd);
	return 0;
fail:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

#define FS_TREE_DEPTH_MAX	128

static int
remove_at(int dfd, const char *name, int depth)
{
	struct stat	 st;
	struct dirent	*de;
	DIR		*d;
	int		 fd, r = 0, saved = 0;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISDIR(st.st_mode))
		return unlinkat(dfd, name, 0) == -1 && errno != ENOENT ? -1 : 0;
	if (depth > FS_TREE_DEPTH_MAX) {
		errno = ELOOP;
		return -1;
	}
	if ((fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		return -1;
	if ((d = fdopendir(fd)) == NULL) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (remove_at(dirfd(d), de->d_name, depth + 1) == -1 &&
		    r == 0) {
			r = -1;
			saved = errno;
		}
	}
	closedir(d);
	if (r == -1) {
		errno = saved;
		return -1;
	}
	if (unlinkat(dfd, name, AT_REMOVEDIR) == -1 && errno != ENOENT)
		return -1;
	return 0;
}

int
fs_remove_tree(int dirfd, const char *name)
{
	return remove_at(dirfd, name, 0);
}

/*
 * An exclusive flock on path (made 0600 if missing), polled every poll_ms
 * so that the wait ends once *cancel is set (errno ECANCELED). The lock's
 * fd, to close, or -1.
 */
int
fs_lock_wait(const char *path, volatile int *cancel, unsigned poll_ms)
{
	int	fd;

	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) == -1)
		return -1;
	while (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		if ((errno != EWOULDBLOCK && errno != EINTR) || *cancel) {
			close(fd);
			if (*cancel)
				errno = ECANCELED;
			return -1;
		}
		sleep_ms(poll_ms);
	}
	return fd;
}
