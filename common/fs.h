/*
 * fs.h: small file-system helpers: atomic replacement of a file, directory
 * creation, bounded whole-file reads.
 */
#ifndef TUG_FS_H
#define TUG_FS_H

#include <stddef.h>
#include <sys/types.h>

#include "common/buf.h"

/* Write to "path.tmp-PID", fsync, rename over path, fsync the directory. */
int	fs_write_atomic(const char *path, const void *, size_t, mode_t);
/* mkdir -p with mode for every directory it creates. */
int	fs_mkdirs(const char *path, mode_t);
/* Read a whole file of at most max bytes into b (appending). */
int	fs_read_file(const char *path, struct buf *b, size_t max);
/* Write all n bytes, retrying on EINTR and short writes. */
int	fs_write_all(int fd, const void *, size_t);
/*
 * Remove name below dirfd and, when it is a directory, everything in it,
 * without ever following a symbolic link. 0 also when it did not exist.
 */
int	fs_remove_tree(int dirfd, const char *name);
/* Read exactly n bytes: 1 done, 0 EOF before any byte, -1 error or EOF inside. */
int	fs_read_full(int fd, void *, size_t);

/* Wait for an exclusive lock on path, giving up once *cancel is set. */
int	 fs_lock_wait(const char *path, volatile int *cancel, unsigned poll_ms);

#endif
