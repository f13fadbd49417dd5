/*
 * test-tar.c: the tar reader against archives built here byte by byte:
 * good trees (ustar prefix, GNU long names, pax paths, gzip, one byte per
 * read), every refusal, truncation and the limits; after each, what is on
 * disk, and that nothing was written through a link already there.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "common/buf.h"
#include "common/fs.h"
#include "common/tar.h"
#include "tests/unit/unit.h"

/* Append one 512-byte header. */
static void
hdr(struct buf *b, const char *name, int type, size_t size,
    const char *link, const char *prefix)
{
	unsigned char	h[512];
	unsigned int	sum = 0;
	int		i;

	memset(h, 0, sizeof h);
	memcpy(h, name, strlen(name) < 100 ? strlen(name) : 100);
	snprintf((char *)h + 100, 8, "%07o", type == '5' ? 0755 : 04755);
	snprintf((char *)h + 108, 8, "%07o", 0);
	snprintf((char *)h + 116, 8, "%07o", 0);
	snprintf((char *)h + 124, 12, "%011zo", size);
	snprintf((char *)h + 136, 12, "%011o", 1700000000);
	h[156] = (unsigned char)type;
	if (link != NULL)
		memcpy(h + 157, link, strlen(link));
	memcpy(h + 257, "ustar\0" "00", 8);
	if (prefix != NULL)
		memcpy(h + 345, prefix, strlen(prefix));
	memset(h + 148, ' ', 8);
	for (i = 0; i < 512; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
	buf_add(b, h, sizeof h);
}

/* Append data padded to a block. */
static void
body(struct buf *b, const void *p, size_t n)
{
	static const char	zero[512];

	buf_add(b, p, n);
	buf_add(b, zero, (512 - n % 512) % 512);
}

static void
file(struct buf *b, const char *name, const char *text)
{
	hdr(b, name, '0', strlen(text), NULL, NULL);
	body(b, text, strlen(text));
}

/* A pax 'x' record setting path, then the member's header. */
static void
pax_path(struct buf *b, const char *path)
{
	char	rec[4200];
	size_t	n = strlen(path) + 7, len = n;

	/* "LEN path=VALUE\n": LEN counts its own digits. */
	while (snprintf(NULL, 0, "%zu", len) + n != len)
		len = snprintf(NULL, 0, "%zu", len) + n;
	snprintf(rec, sizeof rec, "%zu path=%s\n", len, path);
	hdr(b, "PaxHeaders/x", 'x', strlen(rec), NULL, NULL);
	body(b, rec, strlen(rec));
}

static void
gnu_long(struct buf *b, const char *name)
{
	hdr(b, "././@LongLink", 'L', strlen(name) + 1, NULL, NULL);
	body(b, name, strlen(name) + 1);
}

static void
end(struct buf *b)
{
	static const char	zero[1024];

	buf_add(b, zero, sizeof zero);
}

struct src {
	const char	*p;
	size_t		 left;
	size_t		 step;		/* bytes per read, at most */
};

static ssize_t
src_read(void *arg, void *dst, size_t n, char *err)
{
	struct src	*s = arg;
	size_t		 k = s->left < n ? s->left : n;

	(void)err;
	if (s->step > 0 && k > s->step)
		k = s->step;
	memcpy(dst, s->p, k);
	s->p += k;
	s->left -= k;
	return (ssize_t)k;
}

static char	top[256];	/* the test's own directory */
static int	ndir;

/* Extract b into a fresh directory; its path goes to dir. */
static enum tar_status
run(const struct buf *b, size_t step, uint64_t max_bytes, uint64_t max_entries,
    struct tar_stats *st, char *err, char *dir, size_t dirsz)
{
	struct tar_limits	lim = { max_bytes, max_entries };
	struct src		s = { b->ptr, b->len, step };
	enum tar_status		r;
	int			fd;

	snprintf(dir, dirsz, "%s/x%d", top, ndir++);
	if (mkdir(dir, 0700) == -1 ||
	    (fd = open(dir, O_RDONLY | O_DIRECTORY)) == -1)
		return TAR_IO;
	r = tar_extract(fd, src_read, &s, &lim, st, err);
	close(fd);
	return r;
}

static int
has_file(const char *dir, const char *rel, const char *text, mode_t mode)
{
	char		 path[1024];
	struct buf	 b = BUF_INIT;
	struct stat	 st;
	int		 ok;

	snprintf(path, sizeof path, "%s/%s", dir, rel);
	ok = lstat(path, &st) == 0 && S_ISREG(st.st_mode) &&
	    (st.st_mode & 07777) == mode && fs_read_file(path, &b, 1 << 20) ==
	    0 && strcmp(buf_str(&b), text) == 0;
	buf_release(&b);
	return ok;
}

static int
has_dir(const char *dir, const char *rel)
{
	char		path[1024];
	struct stat	st;

	snprintf(path, sizeof path, "%s/%s", dir, rel);
	return lstat(path, &st) == 0 && S_ISDIR(st.st_mode) &&
	    (st.st_mode & 07777) == 0755;
}

static void
good_tree(struct buf *b)
{
	char	deep[300];

	hdr(b, "./", '5', 0, NULL, NULL);
	file(b, "./index.html", "<h1>hi</h1>\n");
	hdr(b, "css/", '5', 0, NULL, NULL);
	file(b, "css/site.css", "body{}\n");
	file(b, "a/b/c.txt", "implicit dirs\n");		/* no dir entries */
	hdr(b, "inner.txt", '0', 3, NULL, "pre/fix");	/* ustar prefix */
	body(b, "pf\n", 3);
	gnu_long(b, "long/" "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn"
	    "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn.txt");
	file(b, "././@LongLink", "gnu\n");
	snprintf(deep, sizeof deep, "pax/%0200d.txt", 0);
	pax_path(b, deep);
	file(b, "ignored-name", "pax\n");
	file(b, "empty", "");
	end(b);
}

static void
check_good(const char *dir, const struct tar_stats *st)
{
	char	deep[300];

	snprintf(deep, sizeof deep, "pax/%0200d.txt", 0);
	CHECK(st->files == 7);
	CHECK(st->dirs == 7);		/* css a a/b pre pre/fix long pax */
	CHECK(st->bytes == 12 + 7 + 14 + 3 + 4 + 4);
	CHECK(has_file(dir, "index.html", "<h1>hi</h1>\n", 0644));
	CHECK(has_file(dir, "css/site.css", "body{}\n", 0644));
	CHECK(has_file(dir, "a/b/c.txt", "implicit dirs\n", 0644));
	CHECK(has_file(dir, "pre/fix/inner.txt", "pf\n", 0644));
	CHECK(has_file(dir, "long/nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn"
	    "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn.txt", "gnu\n",
	    0644));
	CHECK(has_file(dir, deep, "pax\n", 0644));
	CHECK(has_file(dir, "empty", "", 0644));
	CHECK(has_dir(dir, "css") && has_dir(dir, "a/b") &&
	    has_dir(dir, "pre/fix"));
	CHECK(access(dir, F_OK) == 0);
}

static void
test_good(void)
{
	struct buf		b = BUF_INIT, gz = BUF_INIT;
	struct tar_stats	st;
	char			err[TAR_ERRLEN], dir[300], path[400];
	struct stat		sb;
	z_stream		z;
	unsigned char		*zout;

	good_tree(&b);
	CHECK(run(&b, 0, 1 << 20, 100, &st, err, dir, sizeof dir) == TAR_OK);
	check_good(dir, &st);
	CHECK(!st.gzip && st.stream == b.len);
	snprintf(path, sizeof path, "%s/index.html", dir);
	CHECK(stat(path, &sb) == 0 && sb.st_mtime == 1700000000);

	/* One byte per read: every boundary falls inside something. */
	CHECK(run(&b, 1, 1 << 20, 100, &st, err, dir, sizeof dir) == TAR_OK);
	check_good(dir, &st);

	/* gzip, and gzip one byte at a time. */
	memset(&z, 0, sizeof z);
	zout = malloc(b.len + 1024);
	CHECK(deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8,
	    Z_DEFAULT_STRATEGY) == Z_OK);
	z.next_in = (unsigned char *)b.ptr;
	z.avail_in = (uInt)b.len;
	z.next_out = zout;
	z.avail_out = (uInt)b.len + 1024;
	CHECK(deflate(&z, Z_FINISH) == Z_STREAM_END);
	buf_add(&gz, zout, z.total_out);
	deflateEnd(&z);
	free(zout);
	CHECK(run(&gz, 0, 1 << 20, 100, &st, err, dir, sizeof dir) == TAR_OK);
	check_good(dir, &st);
	CHECK(st.gzip);
	CHECK(run(&gz, 1, 1 << 20, 100, &st, err, dir, sizeof dir) == TAR_OK);
	check_good(dir, &st);

	/* A damaged gzip trailer is found after the end-of-archive marker. */
	gz.ptr[gz.len - 6] ^= 0x55;
	CHECK(run(&gz, 0, 1 << 20, 100, &st, err, dir, sizeof dir) == TAR_BAD);
	CHECK(strstr(err, "gzip") != NULL);
	/* A gzip stream cut short. */
	buf_setlen(&gz, gz.len / 2);
	CHECK(run(&gz, 0, 1 << 20, 100, &st, err, dir, sizeof dir) == TAR_BAD);

	/* Check only: nothing is written. */
	{
		struct tar_limits	lim = { 1 << 20, 100 };
		struct src		s = { b.ptr, b.len, 7 };

		CHECK(tar_extract(-1, src_read, &s, &lim, &st, err) == TAR_OK);
		CHECK(st.files == 7 && st.dirs == 0);
	}
	buf_release(&b);
	buf_release(&gz);
}

/* An archive that must be refused with status want and a message. */
static void
refused(const struct buf *b, enum tar_status want, const char *msg,
    uint64_t max_bytes, uint64_t max_entries)
{
	struct tar_stats	st;
	char			err[TAR_ERRLEN], dir[300];
	enum tar_status		r;

	r = run(b, 0, max_bytes, max_entries, &st, err, dir, sizeof dir);
	if (!CHECK(r == want && strstr(err, msg) != NULL))
		printf("# got %d '%s', want %d '%s'\n", r, err, want, msg);
	/* Streaming changes nothing. */
	r = run(b, 3, max_bytes, max_entries, &st, err, dir, sizeof dir);
	CHECK(r == want && strstr(err, msg) != NULL);
}

static void
one(struct buf *b, const char *name, int type, const char *link)
{
	buf_reset(b);
	file(b, "ok.txt", "ok\n");
	hdr(b, name, type, 0, link, NULL);
	end(b);
}

static void
test_refused(void)
{
	struct buf	b = BUF_INIT;
	char		name[2000];
	int		i;

	one(&b, "/etc/x", '0', NULL);
	refused(&b, TAR_BAD, "refused '/etc/x': absolute path", 1 << 20, 100);
	one(&b, "../x", '0', NULL);
	refused(&b, TAR_BAD, "refused '../x': '..' in a path", 1 << 20, 100);
	one(&b, "a/../../x", '5', NULL);
	refused(&b, TAR_BAD, "'..' in a path", 1 << 20, 100);
	one(&b, "a/..", '0', NULL);
	refused(&b, TAR_BAD, "'..' in a path", 1 << 20, 100);
	one(&b, "link", '2', "/etc/passwd");
	refused(&b, TAR_BAD, "refused 'link': a symbolic link (to "
	    "'/etc/passwd')", 1 << 20, 100);
	one(&b, "inside", '2', "ok.txt");
	refused(&b, TAR_BAD, "a symbolic link", 1 << 20, 100);
	one(&b, "hard", '1', "/etc/passwd");
	refused(&b, TAR_BAD, "refused 'hard': a hard link", 1 << 20, 100);
	one(&b, "c", '3', NULL);
	refused(&b, TAR_BAD, "a character device", 1 << 20, 100);
	one(&b, "b", '4', NULL);
	refused(&b, TAR_BAD, "a block device", 1 << 20, 100);
	one(&b, "f", '6', NULL);
	refused(&b, TAR_BAD, "a fifo", 1 << 20, 100);
	one(&b, "s", 'S', NULL);
	refused(&b, TAR_BAD, "a GNU sparse file", 1 << 20, 100);
	one(&b, "q", 'Q', NULL);
	refused(&b, TAR_BAD, "unsupported member type 'Q'", 1 << 20, 100);
	one(&b, "a\x1b[31m", '0', NULL);
	refused(&b, TAR_BAD, "control character", 1 << 20, 100);
	one(&b, "a\x7f", '0', NULL);
	refused(&b, TAR_BAD, "control character", 1 << 20, 100);

	/* Names: 255 bytes is fine, 256 is not; 1024 bytes of path. */
	buf_reset(&b);
	memset(name, 'n', 256);
	name[256] = '\0';
	gnu_long(&b, name);
	file(&b, "x", "x");
	end(&b);
	refused(&b, TAR_BAD, "a name longer than 255 bytes", 1 << 20, 100);
	buf_reset(&b);
	for (i = 0; i < 1100; i++)
		name[i] = i % 10 == 9 ? '/' : 'd';
	name[1100] = '\0';
	pax_path(&b, name);
	file(&b, "x", "x");
	end(&b);
	refused(&b, TAR_BAD, "a path longer than 1024 bytes", 1 << 20, 100);
	buf_reset(&b);
	for (i = 0; i < 65 * 2; i++)
		name[i] = i % 2 ? '/' : 'd';
	name[65 * 2] = '\0';
	pax_path(&b, name);
	file(&b, "x", "x");
	end(&b);
	refused(&b, TAR_BAD, "more than 64 directory levels", 1 << 20, 100);
	buf_reset(&b);
	pax_path(&b, "../pax-escape");
	file(&b, "innocent", "x");
	end(&b);
	refused(&b, TAR_BAD, "refused '../pax-escape': '..'", 1 << 20, 100);
	buf_reset(&b);
	hdr(&b, "PaxHeaders/x", 'x', 10, NULL, NULL);
	body(&b, "99 path=x\n", 10);
	file(&b, "x", "x");
	end(&b);
	refused(&b, TAR_BAD, "malformed pax header record", 1 << 20, 100);

	/* Conflicts between members. */
	buf_reset(&b);
	file(&b, "x", "x");
	file(&b, "x/y", "y");
	end(&b);
	refused(&b, TAR_BAD, "refused 'x/y': 'x' is a file", 1 << 20, 100);
	buf_reset(&b);
	hdr(&b, "d", '5', 0, NULL, NULL);
	file(&b, "d", "x");
	end(&b);
	refused(&b, TAR_BAD, "a directory of that name", 1 << 20, 100);

	/* Truncation, damage, not tar at all. */
	buf_reset(&b);
	file(&b, "ok.txt", "0123456789");
	buf_setlen(&b, 512 + 5);
	refused(&b, TAR_BAD, "truncated archive: 'ok.txt' ends after 5 of 10 "
	    "bytes", 1 << 20, 100);
	buf_reset(&b);
	file(&b, "ok.txt", "0123456789");
	refused(&b, TAR_BAD, "no end-of-archive marker", 1 << 20, 100);
	buf_reset(&b);
	file(&b, "ok.txt", "0123456789");
	file(&b, "two.txt", "0123456789");
	buf_setlen(&b, 1024 + 300);
	refused(&b, TAR_BAD, "truncated archive: the stream ends inside a "
	    "header", 1 << 20, 100);
	buf_reset(&b);
	file(&b, "ok.txt", "x");
	file(&b, "two.txt", "x");
	b.ptr[1024 + 10] ^= 1;
	end(&b);
	refused(&b, TAR_BAD, "bad header checksum at byte 1024", 1 << 20, 100);
	buf_reset(&b);
	buf_addstr(&b, "hello, this is not a tar archive at all");
	refused(&b, TAR_BAD, "not a tar archive", 1 << 20, 100);
	buf_reset(&b);
	refused(&b, TAR_BAD, "empty archive", 1 << 20, 100);
	buf_addstr(&b, "BZh91AY&SY");
	refused(&b, TAR_BAD, "bzip2-compressed", 1 << 20, 100);

	/* Limits. */
	buf_reset(&b);
	file(&b, "a", "12345");
	file(&b, "b", "67890");
	end(&b);
	refused(&b, TAR_LIMIT, "'b' (5 bytes) takes the files over the 9 byte "
	    "limit", 9, 100);
	refused(&b, TAR_LIMIT, "more than 1 files and directories", 1 << 20,
	    1);
	buf_release(&b);
}

/*
 * A link already on disk (not from the archive) is never followed: the
 * directory handed to tar_extract is meant to be fresh, but even so.
 */
static void
test_nofollow(void)
{
	struct buf		 b = BUF_INIT;
	struct tar_limits	 lim = { 1 << 20, 100 };
	struct tar_stats	 st;
	struct src		 s;
	char			 err[TAR_ERRLEN], dir[300], out[300], path[400];
	int			 fd;

	snprintf(dir, sizeof dir, "%s/nofollow", top);
	snprintf(out, sizeof out, "%s/outside", top);
	CHECK(mkdir(dir, 0700) == 0 && mkdir(out, 0700) == 0);
	snprintf(path, sizeof path, "%s/a", dir);
	CHECK(symlink(out, path) == 0);
	snprintf(path, sizeof path, "%s/f", dir);
	CHECK(symlink("../outside/f", path) == 0);
	fd = open(dir, O_RDONLY | O_DIRECTORY);

	file(&b, "a/x", "through a dir link");
	end(&b);
	s = (struct src){ b.ptr, b.len, 0 };
	CHECK(tar_extract(fd, src_read, &s, &lim, &st, err) == TAR_BAD);
	buf_reset(&b);
	file(&b, "f", "through a file link");
	end(&b);
	s = (struct src){ b.ptr, b.len, 0 };
	CHECK(tar_extract(fd, src_read, &s, &lim, &st, err) != TAR_OK);
	snprintf(path, sizeof path, "%s/x", out);
	CHECK(access(path, F_OK) == -1);
	snprintf(path, sizeof path, "%s/f", out);
	CHECK(access(path, F_OK) == -1);
	close(fd);

	/* fs_remove_tree removes the links, not what they point to. */
	fd = open(top, O_RDONLY | O_DIRECTORY);
	snprintf(path, sizeof path, "%s/keep", out);
	CHECK(fs_write_atomic(path, "k", 1, 0600) == 0);
	CHECK(fs_remove_tree(fd, "nofollow") == 0);
	CHECK(access(dir, F_OK) == -1 && access(path, F_OK) == 0);
	CHECK(fs_remove_tree(fd, "nofollow") == 0);	/* already gone */
	close(fd);
	buf_release(&b);
}

int
main(void)
{
	int	fd;

	snprintf(top, sizeof top, "%s/tug-test-tar.XXXXXX",
	    getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(top) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	test_good();
	test_refused();
	test_nofollow();
	fd = open("/", O_RDONLY | O_DIRECTORY);
	CHECK(fs_remove_tree(fd, top + 1) == 0 && access(top, F_OK) == -1);
	close(fd);
	return unit_done();
}
