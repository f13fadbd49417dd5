/*
 * test-proto.c: frames and messages round-trip, and every kind of broken
 * input is refused with a message rather than a crash.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/proto.h"
#include "tests/unit/unit.h"

static char	err[MSG_ERRLEN];

/* Decode a whole frame held in b. */
static int
decode(const struct buf *b, struct msg *m)
{
	uint32_t	len;
	uint8_t		flags;

	if (b->len < FRAME_HDR)
		return -1;
	if (frame_header((const uint8_t *)b->ptr, &len, &flags, err) == -1)
		return -1;
	if (len != b->len - FRAME_HDR)
		return -1;
	return msg_decode(m, flags, b->ptr + FRAME_HDR, len, err);
}

static void
test_roundtrip(void)
{
	struct enc	 e;
	struct buf	 f = BUF_INIT;
	struct msg	 m;
	struct mv	 v, args, env;
	char		 s[64], key[64], *val;
	uint64_t	 u;
	int64_t		 i;
	double		 d;
	int		 bo;
	size_t		 n;
	const void	*p;

	enc_begin(&e, MSG_REQUEST, 7);
	enc_kstr(&e, "op", "site.apply");
	enc_kmap(&e, "args");
	enc_kstr(&e, "site", "blog");
	enc_ku64(&e, "release", 3);
	enc_ki64(&e, "neg", -5);
	enc_str(&e, "cpus");
	enc_double(&e, 0.5);
	enc_kbool(&e, "init", 1);
	enc_karr(&e, "caps");
	enc_str(&e, "ALL");
	enc_str(&e, "NET_RAW");
	enc_close(&e);
	enc_kmap(&e, "env");
	enc_kstr(&e, "A", "1");
	enc_kstr(&e, "B", "two");
	enc_close(&e);
	enc_str(&e, "blob");
	enc_bin(&e, "\0\1\2", 3);
	enc_close(&e);
	CHECK(enc_finish(&e, 0, &f, err) == 0);
	CHECK(f.len > FRAME_HDR && (uint8_t)f.ptr[4] == 0);
	CHECK(decode(&f, &m) == 0);
	CHECK(m.type == MSG_REQUEST && m.id == 7);
	msg_body(&m, &v, err, "");
	CHECK(mv_str(&v, "op", s, sizeof s, MV_REQ) == 1 &&
	    strcmp(s, "site.apply") == 0);
	CHECK(mv_map(&v, "args", &args, MV_REQ) == 1);
	CHECK(mv_str(&args, "site", s, sizeof s, MV_REQ) == 1 &&
	    strcmp(s, "blog") == 0);
	CHECK(mv_u64(&args, "release", &u, MV_REQ) == 1 && u == 3);
	CHECK(mv_i64(&args, "neg", &i, MV_REQ) == 1 && i == -5);
	CHECK(mv_num(&args, "cpus", &d, MV_REQ) == 1 && d == 0.5);
	CHECK(mv_num(&args, "release", &d, MV_REQ) == 1 && d == 3.0);
	CHECK(mv_bool(&args, "init", &bo, MV_REQ) == 1 && bo == 1);
	CHECK(mv_arr(&args, "caps", &n, 8, MV_REQ) == 1 && n == 2);
	CHECK(mv_arr_str(&args, "caps", 1, s, sizeof s) == 1 &&
	    strcmp(s, "NET_RAW") == 0);
	CHECK(mv_arr_str(&args, "caps", 2, s, sizeof s) == -1);
	CHECK(mv_bin(&args, "blob", &p, &n, 16, MV_REQ) == 1 && n == 3 &&
	    memcmp(p, "\0\1\2", 3) == 0);
	CHECK(mv_map(&args, "env", &env, MV_REQ) == 1 && mv_count(&env) == 2);
	CHECK(mv_entry_str(&env, 1, key, sizeof key, &val, 64) == 1 &&
	    strcmp(key, "B") == 0 && strcmp(val, "two") == 0);
	free(val);

	/* Absent, optional and required; wrong types name the key. */
	CHECK(mv_str(&args, "nope", s, sizeof s, 0) == 0);
	CHECK(mv_str(&args, "nope", s, sizeof s, MV_REQ) == -1 &&
	    strcmp(err, "args.nope: missing") == 0);
	CHECK(mv_str(&args, "release", s, sizeof s, MV_REQ) == -1 &&
	    strstr(err, "args.release: expected a string") != NULL);
	CHECK(mv_u64(&args, "neg", &u, MV_REQ) == -1);
	CHECK(mv_str(&args, "site", s, 4, MV_REQ) == -1 &&
	    strstr(err, "longer than 3") != NULL);
	CHECK(mv_bool(&args, "site", &bo, 0) == -1);
	CHECK(mv_str(&args, "blob", s, sizeof s, 0) == -1);	/* bin */
	msg_release(&m);
	CHECK(m.priv == NULL);
	buf_release(&f);
}

static void
test_deflate(void)
{
	struct enc	 e;
	struct buf	 f = BUF_INIT;
	struct msg	 m;
	struct mv	 v;
	char		 line[200], *out;
	int		 i;

	enc_begin(&e, MSG_EVENT, 1);
	enc_kstr(&e, "kind", "log");
	enc_karr(&e, "lines");
	for (i = 0; i < 500; i++) {
		snprintf(line, sizeof line, "10.0.0.1 - - \"GET /page/%06d "
		    "HTTP/1.1\" 200 5123 \"-\" \"bench/1.0\"", i);
		enc_str(&e, line);
	}
	enc_close(&e);
	CHECK(enc_finish(&e, 1, &f, err) == 0);
	CHECK((uint8_t)f.ptr[4] == FRAME_ZLIB);
	CHECK(f.len < 500 * 60 / 3);		/* access logs shrink */
	CHECK(decode(&f, &m) == 0 && m.type == MSG_EVENT);
	msg_body(&m, &v, err, "");
	CHECK(mv_arr_strdup(&v, "lines", 499, &out, 200) == 1 &&
	    strstr(out, "/page/000499") != NULL);
	free(out);
	msg_release(&m);
	buf_release(&f);

	/* Tiny messages are never deflated. */
	CHECK(frame_empty(&f, MSG_PING, 3) == 0 && (uint8_t)f.ptr[4] == 0);
	buf_release(&f);
}

static void
test_caps(void)
{
	struct enc	 e;
	struct buf	 f = BUF_INIT;
	static char	 big[FRAME_MAX];
	uint8_t		 hdr[FRAME_HDR] = { 0, 0x10, 0, 1, 0 };
	uint32_t	 len;
	uint8_t		 flags;

	enc_begin(&e, MSG_DATA, 1);
	enc_str(&e, "bytes");
	enc_bin(&e, big, sizeof big);
	CHECK(enc_finish(&e, 0, &f, err) == -1 &&
	    strstr(err, "cap") != NULL);
	CHECK(frame_header(hdr, &len, &flags, err) == -1 &&
	    strstr(err, "exceeds") != NULL);
	hdr[1] = 0x10; hdr[3] = 0;		/* exactly 1 MiB */
	CHECK(frame_header(hdr, &len, &flags, err) == 0 && len == FRAME_MAX);
	hdr[4] = 0x02;
	CHECK(frame_header(hdr, &len, &flags, err) == -1 &&
	    strstr(err, "flags") != NULL);
	buf_release(&f);

	/* Unbalanced nesting is reported, not encoded. */
	enc_begin(&e, MSG_EVENT, 1);
	enc_kmap(&e, "x");
	CHECK(enc_finish(&e, 0, &f, err) == -1);
	buf_release(&f);
}

struct bad {
	const char	*what;
	const char	*bytes;
	size_t		 len;
	const char	*expect;
};

static void
test_bad_payloads(void)
{
	static const struct bad bad[] = {
		{ "not an array", "\x80", 1, "not [type, id, body]" },
		{ "two elements", "\x92\x01\x00", 3, "not [type, id, body]" },
		{ "type 0", "\x93\x00\x00\x80", 4, "unknown message type" },
		{ "type 99", "\x93\x63\x00\x80", 4, "unknown message type" },
		{ "string type", "\x93\xa1x\x00\x80", 5, "unknown message type" },
		{ "negative id", "\x93\x01\xff\x80", 4, "id" },
		{ "body array", "\x93\x01\x00\x90", 4, "body is not a map" },
		{ "trailing", "\x93\x01\x00\x80\x00", 5, "trailing" },
		{ "truncated str", "\x93\x01\x00\x81\xa3" "ab", 7, "truncated" },
		{ "huge array", "\x93\x01\x00\xdd\xff\xff\xff\xff", 8,
		    "array of" },
		{ "huge map", "\x93\x01\x00\xdf\x7f\xff\xff\xff", 8, "map of" },
		{ "huge str", "\x93\x01\x00\x81\xdb\xff\xff\xff\xff", 9,
		    "truncated" },
		{ "int key", "\x93\x01\x00\x81\x01\x01", 6, "not a string" },
		{ "dup key", "\x93\x01\x00\x82\xa1k\x01\xa1k\x02", 10,
		    "duplicate key 'k'" },
		{ "ext type", "\x93\x01\x00\x81\xa1k\xd4\x01\x01", 9,
		    "unsupported" },
		{ "0xc1", "\x93\x01\x00\x81\xa1k\xc1", 7, "unsupported" },
		{ "empty", "", 0, "truncated" },
		{ "deep", "\x93\x01\x00\x81\xa1k\x91\x91\x91\x91\x91\x91\x91"
		    "\x91\x91\x91\x90", 17, "deeply" },
	};
	struct msg	m;
	size_t		i;
	char		what[128];

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int r = msg_decode(&m, 0, bad[i].bytes, bad[i].len, err);

		snprintf(what, sizeof what, "refuses %s (%s)", bad[i].what, err);
		unit_check(r == -1 && strstr(err, bad[i].expect) != NULL &&
		    m.priv == NULL, __FILE__, __LINE__, what);
	}
	CHECK(msg_decode(&m, FRAME_ZLIB, "\x93\x01\x00\x80", 4, err) == -1 &&
	    strstr(err, "zlib") != NULL);
}

/* A zlib bomb: 1 MiB + 1 of zeros inflates past the cap. */
static void
test_inflate_cap(void)
{
	struct enc	 e;
	struct buf	 f = BUF_INIT;
	static char	 zeros[FRAME_MAX - 64];
	struct msg	 m;

	enc_begin(&e, MSG_DATA, 1);
	enc_str(&e, "bytes");
	enc_bin(&e, zeros, sizeof zeros);
	CHECK(enc_finish(&e, 1, &f, err) == 0 && (uint8_t)f.ptr[4] == FRAME_ZLIB);
	CHECK(f.len < 8192);
	CHECK(decode(&f, &m) == 0 && m.size > FRAME_MAX - 64);
	msg_release(&m);
	buf_release(&f);
}

static void
test_conn(void)
{
	int		 p[2];
	struct conn	 c;
	struct buf	 f = BUF_INIT;
	struct msg	 m;

	CHECK(pipe(p) == 0);
	conn_init(&c, p[0], p[1], "test");
	CHECK(write(p[1], "noise\nTUG-AGENT 1 READY\n", 24) == 24);
	CHECK(frame_error(&f, 9, E_UNKNOWN_OP, "unknown op '%s'", "x") == 0);
	CHECK(conn_write(&c, &f) == 0);
	CHECK(conn_skip_to_sentinel(&c, AGENT_SENTINEL, 64, 1000, err) == 0);
	CHECK(conn_read(&c, &m, err) == 1 && m.type == MSG_ERROR && m.id == 9);
	{
		struct buf	j = BUF_INIT;

		CHECK(msg_to_json(&m, &j) == 0 && strcmp(j.ptr,
		    "{\"type\":\"ERROR\",\"id\":9,\"body\":{\"code\":"
		    "\"unknown_op\",\"message\":\"unknown op 'x'\"}}") == 0);
		buf_release(&j);
	}
	msg_release(&m);
	/* A truncated frame, then EOF: the stream is broken. */
	CHECK(write(p[1], "\0\0\0\x10\0abc", 8) == 8);
	close(p[1]);
	CHECK(conn_read(&c, &m, err) == -1 && strstr(err, "truncated") != NULL);
	close(p[0]);
	buf_release(&f);
}

int
main(void)
{
	test_roundtrip();
	test_deflate();
	test_caps();
	test_bad_payloads();
	test_inflate_cap();
	test_conn();
	return unit_done();
}
