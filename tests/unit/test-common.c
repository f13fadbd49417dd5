/*
 * test-common.c: buffers, validation grammars, durations, atomic writes and
 * escaping, each checked against its invariants.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/validate.h"
#include "tests/unit/unit.h"

static int
buf_ok(const struct buf *b)
{
	return b->ptr == NULL ? b->len == 0 :
	    b->len < b->alloc && b->ptr[b->len] == '\0' &&
	    (b->max == 0 || b->len <= b->max);
}

static void
test_buf(void)
{
	struct buf	b;
	char		*p;
	size_t		 n;
	int		 i;

	buf_init(&b, 16);
	CHECK(buf_ok(&b) && strcmp(buf_str(&b), "") == 0);
	CHECK(buf_addstr(&b, "hello") == 0 && buf_ok(&b) && b.len == 5);
	CHECK(buf_addf(&b, " %d", 42) == 0 && strcmp(b.ptr, "hello 42") == 0);
	CHECK(buf_add(&b, "0123456789", 10) == -1);
	CHECK(strcmp(b.ptr, "hello 42") == 0 && buf_ok(&b));	/* unchanged */
	CHECK(buf_add(&b, "01234567", 8) == 0 && b.len == 16);
	CHECK(buf_addch(&b, 'x') == -1 && b.len == 16 && buf_ok(&b));
	buf_consume(&b, 6);
	CHECK(strcmp(b.ptr, "4201234567") == 0 && buf_ok(&b));
	p = buf_detach(&b, &n);
	CHECK(n == 10 && strcmp(p, "4201234567") == 0);
	CHECK(b.ptr == NULL && b.len == 0);
	free(p);
	buf_init(&b, 0);
	for (i = 0; i < 10000; i++)
		buf_addch(&b, 'a' + i % 26);
	CHECK(b.len == 10000 && buf_ok(&b) && b.ptr[9999] == 'a' + 9999 % 26);
	buf_release(&b);
	CHECK(b.ptr == NULL);
}

static void
test_names(void)
{
	CHECK(check_site_name("blog") == NULL);
	CHECK(check_site_name("a-b-9") == NULL);
	CHECK(check_site_name("") != NULL);
	CHECK(check_site_name("Blog") != NULL);
	CHECK(check_site_name("9blog") != NULL);
	CHECK(check_site_name("blog_x") != NULL);
	CHECK(check_site_name("blog;rm") != NULL);
	CHECK(check_site_name("a234567890123456789012345678901234567890") == NULL);
	CHECK(check_site_name("a2345678901234567890123456789012345678901") != NULL);

	CHECK(check_domain("blog.example.test") == NULL);
	CHECK(check_domain("*.example.test") == NULL);
	CHECK(check_domain("localhost") == NULL);
	CHECK(check_domain("a.test; location / {") != NULL);
	CHECK(check_domain("a{{x}}.test") != NULL);
	CHECK(check_domain("a`id`.test") != NULL);
	CHECK(check_domain("a b.test") != NULL);
	CHECK(check_domain("-a.test") != NULL);
	CHECK(check_domain("a-.test") != NULL);
	CHECK(check_domain("a..test") != NULL);
	CHECK(check_domain("a.test.") != NULL);
	CHECK(check_domain("*.") != NULL);
	CHECK(check_domain("a.*.test") != NULL);
	CHECK(check_domain("A.test") != NULL);
	{
		char	 d[301];

		memset(d, 'a', 300);
		d[300] = '\0';
		CHECK(check_domain(d) != NULL);
		memset(d, 'a', 64);
		strcpy(d + 64, ".test");
		CHECK(check_domain(d) != NULL);		/* 64-byte label */
	}

	CHECK(check_env_key("RAILS_ENV") == NULL);
	CHECK(check_env_key("_x1") == NULL);
	CHECK(check_env_key("1X") != NULL);
	CHECK(check_env_key("A-B") != NULL);
	CHECK(check_env_key("A=B") != NULL);
	CHECK(check_env_key("") != NULL);

	CHECK(check_image_ref("nginx") == NULL);
	CHECK(check_image_ref("tug-test/app:1") == NULL);
	CHECK(check_image_ref("registry.test:5000/team/blog:42") == NULL);
	CHECK(check_image_ref("localhost/a__b/c.d-e:v1.2_3") == NULL);
	CHECK(check_image_ref("blog@sha256:"
	    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
	    == NULL);
	CHECK(check_image_ref("sha256:"
	    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
	    == NULL);
	CHECK(check_image_ref("Blog") != NULL);
	CHECK(check_image_ref("blog:") != NULL);
	CHECK(check_image_ref("blog:-x") != NULL);
	CHECK(check_image_ref("blog; rm -rf /") != NULL);
	CHECK(check_image_ref("a//b") != NULL);
	CHECK(check_image_ref("a/") != NULL);
	CHECK(check_image_ref("-a") != NULL);
	CHECK(check_image_ref("a.-b") != NULL);
	CHECK(check_image_ref("blog@sha256:xyz") != NULL);
	CHECK(check_image_ref("") != NULL);

	CHECK(check_abs_path("/data") == NULL);
	CHECK(check_abs_path("/") == NULL);
	CHECK(check_abs_path("/a/.hidden/b") == NULL);
	CHECK(check_abs_path("data") != NULL);
	CHECK(check_abs_path("/a/../b") != NULL);
	CHECK(check_abs_path("/a/..") != NULL);
	CHECK(check_abs_path("/a/./b") != NULL);
	CHECK(check_abs_path("/a//b") != NULL);
	CHECK(check_abs_path("/a/") != NULL);
	CHECK(check_abs_path("/a b") != NULL);
	CHECK(check_abs_path("/a\nb") != NULL);
	CHECK(check_abs_path("/a:b") != NULL);

	CHECK(path_is_under("/srv/tug/x", "/srv/tug"));
	CHECK(path_is_under("/srv/tug", "/srv/tug/"));
	CHECK(!path_is_under("/srv/tugger", "/srv/tug"));
	CHECK(!path_is_under("/etc", "/srv/tug"));

	CHECK(check_user_spec("1000:1000") == NULL);
	CHECK(check_user_spec("app") == NULL);
	CHECK(check_user_spec("app:") != NULL);
	CHECK(check_user_spec("root;id") != NULL);
	CHECK(check_capability("NET_ADMIN") == NULL);
	CHECK(check_capability("net_admin") != NULL);
	CHECK(check_file_name("index.html") == NULL);
	CHECK(check_file_name("Index_2-a.htm") == NULL);
	CHECK(check_file_name("") != NULL);
	CHECK(check_file_name(".htaccess") != NULL);
	CHECK(check_file_name("..") != NULL);
	CHECK(check_file_name("a/b.html") != NULL);
	CHECK(check_file_name("a b") != NULL);
	CHECK(check_file_name("a;b") != NULL);
}

static void
test_volumes(void)
{
	struct volume_spec	v;

	CHECK(parse_volume_spec("blog-data:/data", &v) == NULL && !v.bind &&
	    !v.readonly && strcmp(v.source, "blog-data") == 0 &&
	    strcmp(v.target, "/data") == 0);
	CHECK(parse_volume_spec("/srv/x:/data:ro", &v) == NULL && v.bind &&
	    v.readonly);
	CHECK(parse_volume_spec("data", &v) != NULL);
	CHECK(parse_volume_spec("x:/data", &v) != NULL);	/* 1 char */
	CHECK(parse_volume_spec("vol:data", &v) != NULL);
	CHECK(parse_volume_spec("vol:/", &v) != NULL);
	CHECK(parse_volume_spec("vol:/data:rx", &v) != NULL);
	CHECK(parse_volume_spec("/srv/../etc:/data", &v) != NULL);
	CHECK(parse_volume_spec("vol:/data:ro:rw", &v) != NULL);
	CHECK(parse_volume_spec("v;l:/data", &v) != NULL);
}

static void
test_durations(void)
{
	uint64_t	ms = 0;

	CHECK(parse_duration("500ms", &ms) == 0 && ms == 500);
	CHECK(parse_duration("10s", &ms) == 0 && ms == 10000);
	CHECK(parse_duration("2m", &ms) == 0 && ms == 120000);
	CHECK(parse_duration("1h", &ms) == 0 && ms == 3600000);
	CHECK(parse_duration("10", &ms) == -1);
	CHECK(parse_duration("s", &ms) == -1);
	CHECK(parse_duration("-1s", &ms) == -1);
	CHECK(parse_duration("99999999999999999999s", &ms) == -1);
	CHECK(parse_duration("1.5s", &ms) == -1);
}

static void
test_fs(void)
{
	char		dir[] = "/tmp/tug-unit-XXXXXX", path[256], sub[256];
	struct buf	b = BUF_INIT;
	struct stat	st;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof path, "%s/f", dir);
	CHECK(fs_write_atomic(path, "one", 3, 0600) == 0);
	CHECK(fs_write_atomic(path, "two!", 4, 0640) == 0);
	CHECK(fs_read_file(path, &b, 100) == 0 && strcmp(b.ptr, "two!") == 0);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0640);
	buf_reset(&b);
	CHECK(fs_read_file(path, &b, 3) == -1);		/* over max */
	snprintf(sub, sizeof sub, "%s/a/b/c", dir);
	CHECK(fs_mkdirs(sub, 0700) == 0 && fs_mkdirs(sub, 0700) == 0);
	CHECK(stat(sub, &st) == 0 && S_ISDIR(st.st_mode));
	buf_release(&b);
	unlink(path);
	rmdir(sub);
	snprintf(sub, sizeof sub, "%s/a/b", dir);
	rmdir(sub);
	snprintf(sub, sizeof sub, "%s/a", dir);
	rmdir(sub);
	rmdir(dir);
}

static void
test_escape(void)
{
	char	out[16];

	CHECK(strcmp(log_escape(out, sizeof out, "a\nb", 3), "a\\nb") == 0);
	CHECK(strcmp(log_escape(out, sizeof out, "\x01", 1), "\\x01") == 0);
	log_escape(out, sizeof out, "0123456789abcdefghij", 20);
	CHECK(strlen(out) == 15 && strcmp(out + 12, "...") == 0);
	log_escape(out, 4, "abcdef", 6);
	CHECK(strcmp(out, "...") == 0);
}

int
main(void)
{
	test_buf();
	test_names();
	test_volumes();
	test_durations();
	test_fs();
	test_escape();
	return unit_done();
}
