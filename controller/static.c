/*
 * static.c: a static site's directory on the controller, packed into one
 * gzip-compressed ustar archive kept in the state directory (so a rollback
 * can send the same files again, whatever the directory holds by then).
 * Entries are sorted by name and carry only names, sizes, mtimes and
 * contents, so the same tree packs to the same bytes and the same hash.
 * The walk opens every component with O_NOFOLLOW below its parent's fd;
 * links, devices, fifos and sockets are refused with their name, as the
 * agent would refuse them in the archive.
 */
#include <dirent.h>
#include <stdarg.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <zlib.h>

#include "common/fs.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "controller/tug.h"

#define PACK_MAX_BYTES	(1ull << 30)	/* the agent's default caps */
#define PACK_MAX_FILES	100000u
#define PACK_MAX_DEPTH	64
#define PACK_NAME_MAX	1024

struct pack {
	int		 fd;		/* the .tmp archive */
	z_stream	 z;
	EVP_MD_CTX	*md;
	unsigned char	 out[65536];
	struct static_pack_stats *st;
	char		*err;
	size_t		 errsz;
};

static int
pack_fail(struct pack *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
pack_fail(struct pack *p, const char *fmt, ...)
{
	va_list	ap;

	if (p->err[0] == '\0') {
		va_start(ap, fmt);
		vsnprintf(p->err, p->errsz, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* Compress n bytes (or finish with n == 0, fin) into the file. */
static int
pack_put(struct pack *p, const void *d, size_t n, int fin)
{
	int	r;

	p->z.next_in = (Bytef *)(uintptr_t)d;
	p->z.avail_in = (uInt)n;
	do {
		size_t	have;

		p->z.next_out = p->out;
		p->z.avail_out = sizeof p->out;
		r = deflate(&p->z, fin ? Z_FINISH : Z_NO_FLUSH);
		if (r == Z_STREAM_ERROR)
			return pack_fail(p, "compression failed");
		have = sizeof p->out - p->z.avail_out;
		if (have > 0) {
			if (fs_write_all(p->fd, p->out, have) == -1)
				return pack_fail(p, "cannot write the archive: "
				    "%s", strerror(errno));
			EVP_DigestUpdate(p->md, p->out, have);
			p->st->packed += have;
		}
	} while (p->z.avail_out == 0 || (fin && r != Z_STREAM_END));
	return 0;
}

static void
octal(char *dst, size_t n, uint64_t v)
{
	snprintf(dst, n, "%0*llo", (int)n - 1, (unsigned long long)v);
}

static int
ndigits(size_t v)
{
	int	d = 1;

	while (v >= 10) {
		v /= 10;
		d++;
	}
	return d;
}

/* One ustar header block. */
static int
pack_block(struct pack *p, const char *name, char type, uint64_t size,
    time_t mtime)
{
	unsigned char	h[512];
	unsigned	sum = 0;
	size_t		i;

	memset(h, 0, sizeof h);
	memcpy(h, name, strlen(name));		/* at most 100 bytes */
	octal((char *)h + 100, 8, type == '5' ? 0755 : 0644);
	octal((char *)h + 108, 8, 0);
	octal((char *)h + 116, 8, 0);
	octal((char *)h + 124, 12, size);
	octal((char *)h + 136, 12, mtime < 0 ? 0 : (uint64_t)mtime);
	memset(h + 148, ' ', 8);
	h[156] = (unsigned char)type;
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	for (i = 0; i < sizeof h; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
	return pack_put(p, h, sizeof h, 0);
}

/* A member's header; a name over 100 bytes goes in a pax record first. */
static int
pack_header(struct pack *p, const char *name, int dir, uint64_t size,
    time_t mtime)
{
	char	rec[PACK_NAME_MAX + 32], pad[512] = { 0 };
	size_t	len = strlen(name), base, rl;
	int	d;

	if (len > 100) {
		/* "LEN path=NAME\n", LEN counting its own digits. */
		base = len + 7;
		for (d = ndigits(base + 1); ndigits(base + (size_t)d) != d; d++)
			;
		rl = base + (size_t)d;
		snprintf(rec, sizeof rec, "%zu path=%s\n", rl, name);
		if (pack_block(p, "././@PaxHeader", 'x', rl, 0) == -1 ||
		    pack_put(p, rec, rl, 0) == -1 ||
		    pack_put(p, pad, (512 - rl % 512) % 512, 0) == -1)
			return -1;
		name = "././@LongName";
	}
	return pack_block(p, name, dir ? '5' : '0', size, mtime);
}

static int
pack_file(struct pack *p, int fd, const char *name, const struct stat *sb)
{
	char		 buf[65536], pad[512] = { 0 };
	uint64_t	 left = (uint64_t)sb->st_size;
	ssize_t		 r;

	if (pack_header(p, name, 0, left, sb->st_mtime) == -1)
		return -1;
	while (left > 0) {
		size_t	want = left < sizeof buf ? (size_t)left : sizeof buf;

		if ((r = read(fd, buf, want)) == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			return pack_fail(p, "'%s' changed while it was read",
			    name);
		if (pack_put(p, buf, (size_t)r, 0) == -1)
			return -1;
		left -= (uint64_t)r;
	}
	return pack_put(p, pad, (512 - (size_t)sb->st_size % 512) % 512, 0);
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every entry of the directory dfd (named prefix in the archive). */
static int
pack_dir(struct pack *p, int dfd, const char *prefix, int depth)
{
	DIR		 *d;
	struct dirent	 *de;
	char		**names = NULL, path[PACK_NAME_MAX + 2];
	size_t		  n = 0, i;
	int		  r = 0, dfd2;

	if (depth > PACK_MAX_DEPTH)
		return pack_fail(p, "'%s': more than %d directory levels",
		    prefix, PACK_MAX_DEPTH);
	if ((dfd2 = dup(dfd)) == -1 || (d = fdopendir(dfd2)) == NULL) {
		if (dfd2 != -1)
			close(dfd2);
		return pack_fail(p, "cannot read '%s': %s", prefix[0] != '\0' ?
		    prefix : ".", strerror(errno));
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		names = xrealloc(names, (n + 1) * sizeof *names);
		names[n++] = xstrdup(de->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof *names, cmp_names);
	for (i = 0; i < n && r == 0; i++) {
		struct stat	 sb;
		const char	*nm = names[i];
		int		 fd;
		size_t		 k;

		if ((size_t)snprintf(path, sizeof path, "%s%s%s", prefix,
		    prefix[0] != '\0' ? "/" : "", nm) >= PACK_NAME_MAX) {
			r = pack_fail(p, "'%s/%s': a path longer than %d bytes",
			    prefix, nm, PACK_NAME_MAX);
			break;
		}
		for (k = 0; nm[k] != '\0'; k++)
			if ((unsigned char)nm[k] < 0x20 || nm[k] == 0x7f)
				break;
		if (nm[k] != '\0') {
			r = pack_fail(p, "'%s': a control character in a name",
			    path);
			break;
		}
		if (fstatat(dfd, nm, &sb, AT_SYMLINK_NOFOLLOW) == -1) {
			r = pack_fail(p, "cannot stat '%s': %s", path,
			    strerror(errno));
			break;
		}
		if (S_ISLNK(sb.st_mode)) {
			r = pack_fail(p, "'%s' is a symbolic link: a static "
			    "site may hold only files and directories", path);
			break;
		}
		if (!S_ISREG(sb.st_mode) && !S_ISDIR(sb.st_mode)) {
			r = pack_fail(p, "'%s' is not a file or a directory",
			    path);
			break;
		}
		if (++p->st->files > PACK_MAX_FILES) {
			r = pack_fail(p, "more than %u files and directories",
			    PACK_MAX_FILES);
			break;
		}
		fd = openat(dfd, nm, O_RDONLY | O_NOFOLLOW | O_CLOEXEC |
		    (S_ISDIR(sb.st_mode) ? O_DIRECTORY : 0));
		if (fd == -1) {
			r = pack_fail(p, "cannot open '%s': %s", path,
			    strerror(errno));
			break;
		}
		if (fstat(fd, &sb) == -1 || (!S_ISREG(sb.st_mode) &&
		    !S_ISDIR(sb.st_mode)))
			r = pack_fail(p, "'%s' changed while it was read", path);
		else if (S_ISDIR(sb.st_mode)) {
			r = pack_header(p, path, 1, 0, sb.st_mtime);
			if (r == 0)
				r = pack_dir(p, fd, path, depth + 1);
		} else {
			p->st->bytes += (uint64_t)sb.st_size;
			if (p->st->bytes > PACK_MAX_BYTES)
				r = pack_fail(p, "the files are over %llu bytes",
				    (unsigned long long)PACK_MAX_BYTES);
			else
				r = pack_file(p, fd, path, &sb);
		}
		close(fd);
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return r;
}

/*
 * Pack directory root into the gzip archive out (written to out.tmp,
 * then renamed). hash gets the archive's sha256 in hex.
 */
int
static_pack(const char *root, const char *out, char hash[65],
    struct static_pack_stats *st, char *err, size_t errsz)
{
	struct pack	 p;
	unsigned char	 md[EVP_MAX_MD_SIZE], end[1024] = { 0 };
	unsigned int	 mdlen = 0, i;
	char		 tmp[PATH_MAX_TUG + 8];
	int		 rfd, r = -1;

	memset(&p, 0, sizeof p);
	memset(st, 0, sizeof *st);
	p.st = st;
	p.err = err;
	p.errsz = errsz;
	err[0] = '\0';
	if ((rfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		snprintf(err, errsz, "cannot open the site's root '%s': %s",
		    root, strerror(errno));
		return -1;
	}
	snprintf(tmp, sizeof tmp, "%s.tmp", out);
	if ((p.fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) == -1) {
		snprintf(err, errsz, "cannot create '%s': %s", tmp,
		    strerror(errno));
		close(rfd);
		return -1;
	}
	p.md = EVP_MD_CTX_new();
	if (p.md == NULL || EVP_DigestInit_ex(p.md, EVP_sha256(), NULL) != 1 ||
	    deflateInit2(&p.z, 6, Z_DEFLATED, 15 + 16, 8,
	    Z_DEFAULT_STRATEGY) != Z_OK) {
		snprintf(err, errsz, "out of memory");
		goto done;
	}
	if (pack_dir(&p, rfd, "", 0) == 0 &&
	    pack_put(&p, end, sizeof end, 0) == 0 &&
	    pack_put(&p, NULL, 0, 1) == 0)
		r = 0;
	deflateEnd(&p.z);
	if (r == 0 && (fsync(p.fd) == -1 || rename(tmp, out) == -1)) {
		snprintf(err, errsz, "cannot write '%s': %s", out,
		    strerror(errno));
		r = -1;
	}
	if (r == 0) {
		EVP_DigestFinal_ex(p.md, md, &mdlen);
		for (i = 0; i < mdlen && i < 32; i++)
			snprintf(hash + 2 * i, 3, "%02x", md[i]);
	}
done:
	if (p.md != NULL)
		EVP_MD_CTX_free(p.md);
	close(p.fd);
	close(rfd);
	if (r == -1)
		unlink(tmp);
	return r;
}
