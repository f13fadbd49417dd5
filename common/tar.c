/*
 * tar.c: the tar reader of tar.h. A pull parser over a byte source (gunzip
 * on the fly when the stream starts with gzip's magic) names each member
 * from a pax record, a GNU long name or ustar prefix/name, checks the name,
 * and writes with mkdirat/openat a component at a time, following no link.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "common/fs.h"
#include "common/log.h"
#include "common/tar.h"

#define BLOCK		512
#define INBUF		65536		/* raw input buffer */
#define CHUNK		65536		/* file data per write */
#define FILE_MODE	0644
#define DIR_MODE	0755

struct tarx {
	/* Input. */
	tar_readfn		 read;
	void			*arg;
	unsigned char		*raw;		/* INBUF bytes */
	size_t			 rawpos;
	size_t			 rawlen;
	int			 raweof;
	uint64_t		 rawtotal;
	int			 gz;
	int			 zinit;
	int			 zend;	/* inflate reached the trailer */
	z_stream		 z;
	uint64_t		 cap;	/* stream bytes, raw or inflated */

	/* Output. */
	int			 root;		/* -1: check only */
	char			 cache[TAR_PATH_MAX + 1]; /* cachefd's */
	size_t			 cachelen;
	int			 cachefd;
	unsigned char		*data;		/* CHUNK + BLOCK bytes */

	/* Metadata waiting for its member. */
	char			 pname[TAR_PATH_MAX + 1]; /* pax path */
	int			 has_pname;
	char			 lname[TAR_PATH_MAX + 1]; /* GNU 'L' */
	int			 has_lname;
	uint64_t		 psize;		/* pax size */
	int			 has_psize;

	const struct tar_limits	*lim;
	struct tar_stats	*st;
	uint64_t		 entries;
	char			*err;
	enum tar_status		 status;
};

static enum tar_status
fail(struct tarx *x, enum tar_status s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Record the first failure; later ones are consequences. */
static enum tar_status
fail(struct tarx *x, enum tar_status s, const char *fmt, ...)
{
	va_list	ap;

	if (x->status != TAR_OK)
		return x->status;
	va_start(ap, fmt);
	vsnprintf(x->err, TAR_ERRLEN, fmt, ap);
	va_end(ap);
	x->status = s;
	return s;
}

/* A member's name, escaped and cut, for messages. */
static const char *
q(char *dst, size_t dstsz, const char *s, size_t n)
{
	return log_escape(dst, dstsz, s, n);
}

/* Input. */

/* Keep what is unread, then read more raw bytes: 1, 0 at the end, -1. */
static int
raw_more(struct tarx *x)
{
	ssize_t	r;

	if (x->raweof)
		return 0;
	if (x->rawpos > 0) {
		memmove(x->raw, x->raw + x->rawpos, x->rawlen - x->rawpos);
		x->rawlen -= x->rawpos;
		x->rawpos = 0;
	}
	if (x->rawlen == INBUF)
		return 1;
	if (x->status == TAR_OK)
		x->err[0] = '\0';
	if ((r = x->read(x->arg, x->raw + x->rawlen, INBUF - x->rawlen,
	    x->err)) < 0) {
		if (x->status == TAR_OK) {
			x->status = TAR_INPUT;
			if (x->err[0] == '\0')
				snprintf(x->err, TAR_ERRLEN, "read error");
		}
		return -1;
	}
	if (r == 0) {
		x->raweof = 1;
		return 0;
	}
	x->rawlen += (size_t)r;
	x->rawtotal += (uint64_t)r;
	if (x->rawtotal > x->cap)
		return fail(x, TAR_LIMIT, "the archive stream is over %llu "
		    "bytes", (unsigned long long)x->cap), -1;
	return 1;
}

/*
 * Look at the first bytes: gzip is unpacked on the fly, other compressors
 * are named so the sender knows what to change.
 */
static int
in_start(struct tarx *x)
{
	const unsigned char	*p;
	int			 r;

	while (x->rawlen < 6)
		if ((r = raw_more(x)) == -1)
			return -1;
		else if (r == 0)
			break;
	p = x->raw;
	if (x->rawlen >= 2 && p[0] == 0x1f && p[1] == 0x8b) {
		if (inflateInit2(&x->z, 16 + MAX_WBITS) != Z_OK)
			return fail(x, TAR_IO, "inflateInit2 failed"), -1;
		x->zinit = x->gz = 1;
		x->st->gzip = 1;
		return 0;
	}
	if (x->rawlen >= 6 && memcmp(p, "\xfd" "7zXZ\0", 6) == 0)
		return fail(x, TAR_BAD, "xz-compressed archives are not "
		    "supported: send a plain or gzip-compressed tar"), -1;
	if (x->rawlen >= 3 && memcmp(p, "BZh", 3) == 0)
		return fail(x, TAR_BAD, "bzip2-compressed archives are not "
		    "supported: send a plain or gzip-compressed tar"), -1;
	if (x->rawlen >= 4 && memcmp(p, "\x28\xb5\x2f\xfd", 4) == 0)
		return fail(x, TAR_BAD, "zstd-compressed archives are not "
		    "supported: send a plain or gzip-compressed tar"), -1;
	return 0;
}

/* Up to n bytes of tar: count, 0 at the end of the stream, -1. */
static ssize_t
in_get(struct tarx *x, void *dst, size_t n)
{
	size_t	k;
	int	r, zr;

	if (!x->gz) {
		if (x->rawpos == x->rawlen && (r = raw_more(x)) <= 0)
			return r;
		k = x->rawlen - x->rawpos < n ? x->rawlen - x->rawpos : n;
		memcpy(dst, x->raw + x->rawpos, k);
		x->rawpos += k;
		return (ssize_t)k;
	}
	for (;;) {
		if (x->zend)
			return 0;
		if (x->rawpos == x->rawlen) {
			if ((r = raw_more(x)) == -1)
				return -1;
			if (r == 0)
				return fail(x, TAR_BAD, "truncated gzip "
				    "stream"), -1;
		}
		x->z.next_in = x->raw + x->rawpos;
		x->z.avail_in = (uInt)(x->rawlen - x->rawpos);
		x->z.next_out = dst;
		x->z.avail_out = (uInt)n;
		zr = inflate(&x->z, Z_NO_FLUSH);
		x->rawpos = (size_t)(x->z.next_in - x->raw);
		k = n - x->z.avail_out;
		if (zr == Z_STREAM_END)
			x->zend = 1;
		else if (zr != Z_OK && zr != Z_BUF_ERROR)
			return fail(x, TAR_BAD, "bad gzip data: %s",
			    x->z.msg != NULL ? x->z.msg : "inflate failed"),
			    -1;
		if (k > 0)
			return (ssize_t)k;
	}
}

/* Exactly n bytes: 1, 0 at the end before any byte, -1 (short: TAR_BAD). */
static int
in_full(struct tarx *x, void *dst, size_t n, const char *what)
{
	unsigned char	*p = dst;
	size_t		 got = 0;
	ssize_t		 r;

	while (got < n) {
		if ((r = in_get(x, p + got, n - got)) == -1)
			return -1;
		if (r == 0) {
			if (got == 0)
				return 0;
			return fail(x, TAR_BAD, "truncated archive: the "
			    "stream ends inside %s", what), -1;
		}
		got += (size_t)r;
		x->st->stream += (uint64_t)r;
		if (x->st->stream > x->cap)
			return fail(x, TAR_LIMIT, "the archive stream is over "
			    "%llu bytes", (unsigned long long)x->cap), -1;
	}
	return 1;
}

/* Read and drop n bytes that must be there. */
static int
in_skip(struct tarx *x, uint64_t n, const char *what)
{
	size_t	k;
	int	r;

	while (n > 0) {
		k = n < CHUNK ? (size_t)n : CHUNK;
		if ((r = in_full(x, x->data, k, what)) != 1)
			return r == 0 ? fail(x, TAR_BAD, "truncated archive: "
			    "the stream ends inside %s", what), -1 : -1;
		n -= k;
	}
	return 0;
}

static uint64_t
padding(uint64_t size)
{
	return (BLOCK - size % BLOCK) % BLOCK;
}

/* Headers. */

/*
 * A numeric field: octal digits, maybe space-led, ended by a space or NUL
 * (an empty field is 0); or GNU base-256 when the top bit is set. -1 for
 * anything else and for negative numbers.
 */
static int
num(const unsigned char *f, size_t n, uint64_t *v)
{
	size_t	i = 0;

	*v = 0;
	if (f[0] & 0x80) {
		if (f[0] & 0x40)
			return -1;		/* negative */
		*v = f[0] & 0x3f;
		for (i = 1; i < n; i++) {
			if (*v >> 55)
				return -1;
			*v = *v << 8 | f[i];
		}
		return 0;
	}
	while (i < n && f[i] == ' ')
		i++;
	for (; i < n && f[i] >= '0' && f[i] <= '7'; i++) {
		if (*v >> 60)
			return -1;
		*v = *v << 3 | (uint64_t)(f[i] - '0');
	}
	if (i < n && f[i] != ' ' && f[i] != '\0')
		return -1;
	return 0;
}

/* The header checksum, summed unsigned (POSIX) or signed (old tars). */
static int
checksum_ok(const unsigned char *h)
{
	uint64_t	want;
	unsigned long	us = 0;
	long		ss = 0;
	int		i;

	if (num(h + 148, 8, &want) == -1)
		return 0;
	for (i = 0; i < BLOCK; i++) {
		unsigned char c = i >= 148 && i < 156 ? ' ' : h[i];

		us += c;
		ss += (signed char)c;
	}
	return want == us || (ss >= 0 && want == (uint64_t)ss);
}

static int
all_zero(const unsigned char *p, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (p[i] != 0)
			return 0;
	return 1;
}

/* A header string field: up to its first NUL. */
static size_t
field_len(const unsigned char *f, size_t n)
{
	const unsigned char	*z = memchr(f, 0, n);

	return z != NULL ? (size_t)(z - f) : n;
}

/* Read a metadata record (pax or GNU long name) of size bytes into data. */
static int
meta_read(struct tarx *x, uint64_t size, const char *what)
{
	if (size > TAR_META_MAX)
		return fail(x, TAR_BAD, "%s of %llu bytes: over the %d byte "
		    "limit", what, (unsigned long long)size, TAR_META_MAX), -1;
	/* With its padding in one read: in_skip() would reuse data. */
	if (in_full(x, x->data, (size_t)(size + padding(size)), what) != 1)
		return x->status == TAR_OK ? fail(x, TAR_BAD, "truncated "
		    "archive: the stream ends inside %s", what), -1 : -1;
	return 0;
}

/* Keep a name for the next member; refuse it now when it is too long. */
static int
set_name(struct tarx *x, char *dst, int *has, const char *s, size_t n)
{
	char	e[80];

	if (n > TAR_PATH_MAX)
		return fail(x, TAR_BAD, "refused '%s': a path longer than %d "
		    "bytes", q(e, sizeof e, s, n), TAR_PATH_MAX), -1;
	if (memchr(s, 0, n) != NULL)
		return fail(x, TAR_BAD, "refused '%s': control character in "
		    "a name", q(e, sizeof e, s, n)), -1;
	memcpy(dst, s, n);
	dst[n] = '\0';
	*has = 1;
	return 0;
}

/*
 * A pax extended header: records "LEN KEY=VALUE\n", LEN counting the whole
 * record. path and size apply to the next member; sparse files are
 * refused; every other key (times, owners, charset, vendor keys) is
 * ignored.
 */
static int
pax_parse(struct tarx *x, const char *p, size_t n)
{
	const char	*key, *eq, *val, *end;
	size_t		 len, d, vlen, i;
	uint64_t	 v;

	while (n > 0) {
		for (len = 0, d = 0; d < n && d < 6 && p[d] >= '0' &&
		    p[d] <= '9'; d++)
			len = len * 10 + (size_t)(p[d] - '0');
		if (d == 0 || d >= n || p[d] != ' ' || len <= d + 1 ||
		    len > n || p[len - 1] != '\n')
			return fail(x, TAR_BAD, "malformed pax header record"),
			    -1;
		key = p + d + 1;
		end = p + len - 1;		/* the newline */
		if ((eq = memchr(key, '=', (size_t)(end - key))) == NULL ||
		    eq == key)
			return fail(x, TAR_BAD, "malformed pax header record"),
			    -1;
		val = eq + 1;
		vlen = (size_t)(end - val);
		if (eq - key == 4 && memcmp(key, "path", 4) == 0) {
			if (set_name(x, x->pname, &x->has_pname, val,
			    vlen) == -1)
				return -1;
		} else if (eq - key == 4 && memcmp(key, "size", 4) == 0) {
			for (v = 0, i = 0; i < vlen; i++) {
				if (val[i] < '0' || val[i] > '9' ||
				    v > UINT64_MAX / 10 - 9)
					break;
				v = v * 10 + (uint64_t)(val[i] - '0');
			}
			if (vlen == 0 || i < vlen)
				return fail(x, TAR_BAD, "bad size in a pax "
				    "header"), -1;
			x->psize = v;
			x->has_psize = 1;
		} else if (eq - key > 11 && memcmp(key, "GNU.sparse.", 11) == 0)
			return fail(x, TAR_BAD, "sparse files are not "
			    "supported"), -1;
		p += len;
		n -= len;
	}
	return 0;
}

/* Names and the tree. */

/*
 * Check a member's name and write its clean form to out: no leading '/',
 * no '..', no control bytes, components of at most TAR_NAME_MAX bytes and
 * at most TAR_DEPTH_MAX of them; "." and empty components are dropped, so
 * "./a//b/" is "a/b" and "./" is "" (the top directory itself).
 */
static int
clean_path(struct tarx *x, const char *s, size_t n, char *out)
{
	char	e[80];
	size_t	i, start, len, o = 0, depth = 0;

	if (n == 0)
		return fail(x, TAR_BAD, "refused a member with an empty "
		    "name"), -1;
	if (n > TAR_PATH_MAX)
		return fail(x, TAR_BAD, "refused '%s': a path longer than %d "
		    "bytes", q(e, sizeof e, s, n), TAR_PATH_MAX), -1;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return fail(x, TAR_BAD, "refused '%s': control "
			    "character in a name", q(e, sizeof e, s, n)), -1;
	if (s[0] == '/')
		return fail(x, TAR_BAD, "refused '%s': absolute path",
		    q(e, sizeof e, s, n)), -1;
	for (i = 0; i <= n; i = start + len + 1) {
		start = i;
		for (len = 0; start + len < n && s[start + len] != '/'; len++)
			;
		if (len == 0 || (len == 1 && s[start] == '.'))
			continue;
		if (len == 2 && s[start] == '.' && s[start + 1] == '.')
			return fail(x, TAR_BAD, "refused '%s': '..' in a path",
			    q(e, sizeof e, s, n)), -1;
		if (len > TAR_NAME_MAX)
			return fail(x, TAR_BAD, "refused '%s': a name longer "
			    "than %d bytes", q(e, sizeof e, s, n),
			    TAR_NAME_MAX), -1;
		if (++depth > TAR_DEPTH_MAX)
			return fail(x, TAR_BAD, "refused '%s': more than %d "
			    "directory levels", q(e, sizeof e, s, n),
			    TAR_DEPTH_MAX), -1;
		if (o > 0)
			out[o++] = '/';
		memcpy(out + o, s + start, len);
		o += len;
	}
	out[o] = '\0';
	return 0;
}

static void
cache_drop(struct tarx *x)
{
	if (x->cachefd != -1)
		close(x->cachefd);
	x->cachefd = -1;
	x->cachelen = 0;
	x->cache[0] = '\0';
}

/*
 * The directory at the first len bytes of the clean path p (a member's
 * whole path, for messages), made (0755)
 * where missing, reached one component at a time with O_NOFOLLOW. The fd
 * stays cached for the next member in the same directory; never close it.
 */
static int
dir_open(struct tarx *x, const char *p, size_t len)
{
	char	 comp[TAR_NAME_MAX + 1], e[80], e2[80];
	size_t	 i, k;
	int	 cur = x->root, nfd, made;

	if (len == 0)
		return x->root;
	if (x->cachefd != -1 && len == x->cachelen &&
	    memcmp(p, x->cache, len) == 0)
		return x->cachefd;
	for (i = 0; i < len; i = i + k + 1) {
		for (k = 0; i + k < len && p[i + k] != '/'; k++)
			;
		memcpy(comp, p + i, k);
		comp[k] = '\0';
		made = mkdirat(cur, comp, 0700) == 0;
		if (!made && errno != EEXIST) {
			fail(x, TAR_IO, "cannot make directory '%s': %s",
			    q(e, sizeof e, p, i + k), strerror(errno));
			goto err;
		}
		nfd = openat(cur, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
		if (nfd == -1) {
			if (errno == ENOTDIR || errno == ELOOP)
				fail(x, TAR_BAD, "refused '%s': '%s' is a file "
				    "in the archive, not a directory",
				    q(e, sizeof e, p, strlen(p)),
				    q(e2, sizeof e2, p, i + k));
			else
				fail(x, TAR_IO, "cannot open directory '%s': "
				    "%s", q(e, sizeof e, p, i + k),
				    strerror(errno));
			goto err;
		}
		if (made) {
			x->st->dirs++;
			if (fchmod(nfd, DIR_MODE) == -1) {
				fail(x, TAR_IO, "chmod '%s': %s",
				    q(e, sizeof e, p, i + k), strerror(errno));
				close(nfd);
				goto err;
			}
		}
		if (cur != x->root)
			close(cur);
		cur = nfd;
	}
	cache_drop(x);
	memcpy(x->cache, p, len);
	x->cache[len] = '\0';
	x->cachelen = len;
	x->cachefd = cur;
	return cur;
err:
	if (cur != x->root)
		close(cur);
	return -1;
}

/* A regular file of size bytes at the clean path p, then its padding. */
static int
file_write(struct tarx *x, const char *p, uint64_t size, uint64_t mtime)
{
	const char	*slash = strrchr(p, '/');
	const char	*base = slash != NULL ? slash + 1 : p;
	char		 e[80], what[128];
	struct timespec	 ts[2];
	uint64_t	 left = size;
	size_t		 k;
	ssize_t		 got;
	int		 dfd, fd = -1;

	snprintf(what, sizeof what, "'%s'", q(e, sizeof e, p, strlen(p)));
	if (x->root != -1) {
		if ((dfd = dir_open(x, p, slash != NULL ?
		    (size_t)(slash - p) : 0)) == -1)
			return -1;
		fd = openat(dfd, base, O_WRONLY | O_CREAT | O_TRUNC |
		    O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd == -1) {
			if (errno == EISDIR || errno == ELOOP)
				return fail(x, TAR_BAD, "refused %s: a "
				    "directory of that name is in the archive",
				    what), -1;
			return fail(x, TAR_IO, "cannot create %s: %s", what,
			    strerror(errno)), -1;
		}
		if (fchmod(fd, FILE_MODE) == -1) {
			fail(x, TAR_IO, "chmod %s: %s", what, strerror(errno));
			goto err;
		}
	}
	while (left > 0) {
		k = left < CHUNK ? (size_t)left : CHUNK;
		if ((got = in_get(x, x->data, k)) <= 0) {
			if (got == 0)
				fail(x, TAR_BAD, "truncated archive: %s ends "
				    "after %llu of %llu bytes", what,
				    (unsigned long long)(size - left),
				    (unsigned long long)size);
			goto err;
		}
		k = (size_t)got;
		if ((x->st->stream += k) > x->cap) {
			fail(x, TAR_LIMIT, "the archive stream is over %llu "
			    "bytes", (unsigned long long)x->cap);
			goto err;
		}
		if (fd != -1 && fs_write_all(fd, x->data, k) == -1) {
			fail(x, TAR_IO, "cannot write %s: %s", what,
			    strerror(errno));
			goto err;
		}
		left -= k;
	}
	if (in_skip(x, padding(size), what) == -1)
		goto err;
	if (fd != -1) {
		ts[0].tv_sec = 0;
		ts[0].tv_nsec = UTIME_OMIT;
		ts[1].tv_sec = (time_t)mtime;
		ts[1].tv_nsec = 0;
		if (mtime > 0 && mtime < ((uint64_t)1 << 40))
			(void)futimens(fd, ts);
		if (close(fd) == -1) {
			fd = -1;
			fail(x, TAR_IO, "cannot write %s: %s", what,
			    strerror(errno));
			goto err;
		}
	}
	x->st->files++;
	x->st->bytes += size;
	return 0;
err:
	if (fd != -1)
		close(fd);
	return -1;
}

static const char *
type_name(int t)
{
	switch (t) {
	case '1':
		return "a hard link";
	case '2':
		return "a symbolic link";
	case '3':
		return "a character device";
	case '4':
		return "a block device";
	case '6':
		return "a fifo";
	case 'S':
		return "a GNU sparse file";
	case 'M':
		return "a multi-volume continuation";
	case 'D':
		return "a GNU dump directory";
	case 'N':
		return "an old GNU long name";
	default:
		return NULL;
	}
}

/* One member whose header is h. */
static int
member(struct tarx *x, const unsigned char *h, uint64_t size)
{
	char		 raw[TAR_PATH_MAX + 160], path[TAR_PATH_MAX + 1];
	char		 e[80], e2[80];
	const char	*what;
	size_t		 n, pn;
	uint64_t	 mtime = 0;
	int		 type = h[156];

	/* The name: pax path, else GNU long name, else ustar prefix/name. */
	if (x->has_pname)
		n = (size_t)snprintf(raw, sizeof raw, "%s", x->pname);
	else if (x->has_lname)
		n = (size_t)snprintf(raw, sizeof raw, "%s", x->lname);
	else {
		n = field_len(h, 100);
		pn = memcmp(h + 257, "ustar\0", 6) == 0 ?
		    field_len(h + 345, 155) : 0;
		if (pn > 0) {
			memcpy(raw, h + 345, pn);
			raw[pn] = '/';
			memcpy(raw + pn + 1, h, n);
			n += pn + 1;
		} else
			memcpy(raw, h, n);
		raw[n] = '\0';
	}
	x->has_pname = x->has_lname = x->has_psize = 0;

	if (type != '0' && type != '\0' && type != '7' && type != '5') {
		if ((what = type_name(type)) == NULL)
			return fail(x, TAR_BAD, "refused '%s': unsupported "
			    "member type '%s'", q(e, sizeof e, raw, n),
			    q(e2, sizeof e2, (const char *)h + 156, 1)), -1;
		if (type == '1' || type == '2')
			return fail(x, TAR_BAD, "refused '%s': %s (to '%s'); "
			    "a static site may not hold links: archive the "
			    "files themselves", q(e, sizeof e, raw, n), what,
			    q(e2, sizeof e2, (const char *)h + 157,
			    field_len(h + 157, 100))), -1;
		return fail(x, TAR_BAD, "refused '%s': %s", q(e, sizeof e, raw,
		    n), what), -1;
	}
	if (++x->entries > x->lim->max_entries)
		return fail(x, TAR_LIMIT, "more than %llu files and "
		    "directories in the archive",
		    (unsigned long long)x->lim->max_entries), -1;
	if (clean_path(x, raw, n, path) == -1)
		return -1;
	if (type == '5') {
		if (size != 0 && in_skip(x, size + padding(size),
		    "a directory") == -1)
			return -1;
		if (x->root != -1 && path[0] != '\0' &&
		    dir_open(x, path, strlen(path)) == -1)
			return -1;
		return 0;
	}
	if (path[0] == '\0')
		return fail(x, TAR_BAD, "refused '%s': a file where the top "
		    "directory should be", q(e, sizeof e, raw, n)), -1;
	if (size > x->lim->max_bytes - x->st->bytes)
		return fail(x, TAR_LIMIT, "'%s' (%llu bytes) takes the files "
		    "over the %llu byte limit", q(e, sizeof e, path,
		    strlen(path)), (unsigned long long)size,
		    (unsigned long long)x->lim->max_bytes), -1;
	(void)num(h + 136, 12, &mtime);
	return file_write(x, path, size, mtime);
}

static int
walk(struct tarx *x)
{
	unsigned char	h[BLOCK];
	uint64_t	size, offset;
	ssize_t		k;
	int		r = 0, type;

	if (in_start(x) == -1)
		return -1;
	for (;;) {
		offset = x->st->stream;
		if ((r = in_full(x, h, BLOCK, "a header")) == -1) {
			if (offset == 0 && x->status == TAR_BAD &&
			    x->st->stream < BLOCK) {
				x->status = TAR_OK;
				fail(x, TAR_BAD, "not a tar archive: %llu "
				    "bytes, less than one header",
				    (unsigned long long)x->st->stream);
			}
			return -1;
		}
		if (r == 0 && offset == 0)
			return fail(x, TAR_BAD, "empty archive"), -1;
		if (r == 0)
			return fail(x, TAR_BAD, "truncated archive: no "
			    "end-of-archive marker after %llu bytes",
			    (unsigned long long)offset), -1;
		if (all_zero(h, BLOCK))
			break;		/* end of archive; tar writes two */
		if (!checksum_ok(h) && offset == 0)
			return fail(x, TAR_BAD, "not a tar archive (nor a "
			    "gzip-compressed one): bad header checksum"), -1;
		if (!checksum_ok(h))
			return fail(x, TAR_BAD, "damaged archive: bad header "
			    "checksum at byte %llu",
			    (unsigned long long)offset), -1;
		type = h[156];
		if (num(h + 124, 12, &size) == -1)
			return fail(x, TAR_BAD, "damaged archive: bad size "
			    "field at byte %llu", (unsigned long long)offset),
			    -1;
		switch (type) {
		case 'x':
			if (meta_read(x, size, "a pax header") == -1 ||
			    pax_parse(x, (const char *)x->data, size) == -1)
				return -1;
			continue;
		case 'L':
			if (meta_read(x, size, "a GNU long name") == -1 ||
			    set_name(x, x->lname, &x->has_lname,
			    (const char *)x->data,
			    field_len(x->data, size)) == -1)
				return -1;
			continue;
		case 'g':
		case 'K':
		case 'V':
			/* Global pax defaults, long link names, a label. */
			if (meta_read(x, size, "a metadata record") == -1)
				return -1;
			continue;
		default:
			break;
		}
		if (x->has_psize)
			size = x->psize;
		if (member(x, h, size) == -1)
			return -1;
	}
	/* Read to the end, so a gzip trailer is checked too. */
	while ((k = in_get(x, x->data, CHUNK)) > 0)
		if ((x->st->stream += (uint64_t)k) > x->cap)
			return fail(x, TAR_LIMIT, "the archive stream is over "
			    "%llu bytes", (unsigned long long)x->cap), -1;
	if (k == -1)
		return -1;
	while (x->gz && (r = raw_more(x)) == 1)
		x->rawpos = x->rawlen;
	return r == -1 ? -1 : 0;
}

enum tar_status
tar_extract(int dirfd, tar_readfn readfn, void *arg,
    const struct tar_limits *lim, struct tar_stats *st, char *err)
{
	struct tarx	*x;
	enum tar_status	 s;

	memset(st, 0, sizeof *st);
	err[0] = '\0';
	if ((x = calloc(1, sizeof *x)) == NULL ||
	    (x->raw = malloc(INBUF)) == NULL ||
	    (x->data = malloc(CHUNK + BLOCK)) == NULL) {
		if (x != NULL)
			free(x->raw);
		free(x);
		snprintf(err, TAR_ERRLEN, "out of memory");
		return TAR_IO;
	}
	x->read = readfn;
	x->arg = arg;
	x->root = dirfd;
	x->cachefd = -1;
	x->lim = lim;
	x->st = st;
	x->err = err;
	/* Headers, pax records and padding: room for 4 KiB per member. */
	x->cap = lim->max_bytes + lim->max_entries * 4096 + (16u << 20);
	if (walk(x) == -1 && x->status == TAR_OK)
		fail(x, TAR_BAD, "damaged archive");
	s = x->status;
	cache_drop(x);
	if (x->zinit)
		inflateEnd(&x->z);
	free(x->raw);
	free(x->data);
	free(x);
	return s;
}
