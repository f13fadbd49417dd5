/*
 * tar.h: a streaming tar reader (ustar, GNU long names, pax path records,
 * optionally gzip-compressed) that extracts into one fresh directory and
 * nowhere else: it refuses absolute paths, '..', links, devices, fifos and
 * control bytes in names, caps sizes and counts, and never follows a link.
 */
#ifndef TUG_TAR_H
#define TUG_TAR_H

#include <stdint.h>
#include <sys/types.h>

#define TAR_PATH_MAX	1024	/* bytes of a member's path */
#define TAR_NAME_MAX	255	/* bytes of one path component */
#define TAR_DEPTH_MAX	64	/* directory levels */
#define TAR_META_MAX	65536	/* bytes of one pax or GNU long-name record */
#define TAR_ERRLEN	512

struct tar_limits {
	uint64_t	max_bytes;	/* file contents in total */
	uint64_t	max_entries;	/* files and directories */
};

struct tar_stats {
	uint64_t	files;		/* regular files written */
	uint64_t	dirs;		/* directories made, explicit or not */
	uint64_t	bytes;		/* file contents */
	uint64_t	stream;		/* tar bytes (after gunzip) */
	int		gzip;
};

/*
 * Input: up to n bytes into dst. Returns the count, 0 at the end of the
 * stream, or -1 with a message in err (TAR_ERRLEN bytes).
 */
typedef ssize_t	(*tar_readfn)(void *arg, void *dst, size_t n, char *err);

/* What went wrong; the message is in err. Append only. */
enum tar_status {
	TAR_OK = 0,
	TAR_BAD = -1,		/* malformed or refused archive */
	TAR_LIMIT = -2,		/* over a limit, or the stream cap */
	TAR_IO = -3,		/* writing the tree failed (errno's words) */
	TAR_INPUT = -4,		/* the read function failed */
};

/*
 * Read the whole stream and extract it below dirfd, which must be an empty
 * directory the caller just made; with dirfd -1 only check the archive.
 * Files get mode 0644 and directories 0755 whatever the archive says; file
 * times come from the archive. On failure the tree is left half-written:
 * the caller removes the directory. Reads on to the end of the stream after
 * the end-of-archive marker, so a gzip trailer is checked too.
 */
enum tar_status	 tar_extract(int dirfd, tar_readfn, void *arg,
		    const struct tar_limits *, struct tar_stats *, char *err);

#endif
