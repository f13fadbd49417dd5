/*
 * enc.c: building messages and frames. Values are packed with msgpack-c into
 * a capped buffer that already holds room for the frame header; maps and
 * arrays are opened with 32-bit counts that are patched in when they close,
 * so callers never count their keys in advance.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>
#include <zlib.h>

#include "proto/proto.h"

static int
enc_write(void *data, const char *p, size_t n)
{
	struct enc	*e = data;

	if (e->err)
		return -1;
	if (buf_add(&e->b, p, n) == -1) {
		e->err = 1;
		return -1;
	}
	return 0;
}

/* Count one value into the open container. */
static void
enc_count(struct enc *e)
{
	if (e->depth >= 0)
		e->count[e->depth]++;
}

static void
enc_pk(struct enc *e, msgpack_packer *pk)
{
	msgpack_packer_init(pk, e, enc_write);
}

static void
enc_open(struct enc *e, unsigned char tag, int ismap)
{
	unsigned char	hdr[5] = { tag, 0, 0, 0, 0 };

	if (e->err)
		return;
	if (e->depth + 1 >= (int)(sizeof e->at / sizeof e->at[0])) {
		e->err = 1;
		return;
	}
	enc_count(e);
	e->depth++;
	e->at[e->depth] = e->b.len;
	e->count[e->depth] = 0;
	e->ismap[e->depth] = (uint8_t)ismap;
	enc_write(e, (const char *)hdr, sizeof hdr);
}

void
enc_begin(struct enc *e, unsigned int type, uint64_t id)
{
	msgpack_packer	pk;
	static const char hdr[FRAME_HDR];

	memset(e, 0, sizeof *e);
	buf_init(&e->b, FRAME_HDR + FRAME_MAX);
	e->depth = -1;
	enc_write(e, hdr, sizeof hdr);	/* room for the frame header */
	enc_pk(e, &pk);
	msgpack_pack_array(&pk, 3);
	msgpack_pack_unsigned_int(&pk, type);
	msgpack_pack_uint64(&pk, id);
	enc_open(e, 0xdf, 1);
}

void
enc_release(struct enc *e)
{
	buf_release(&e->b);
}

void
enc_close(struct enc *e)
{
	uint32_t	n;
	unsigned char	*p;

	if (e->err)
		return;
	if (e->depth < 0) {
		e->err = 1;
		return;
	}
	n = e->count[e->depth];
	if (e->ismap[e->depth]) {
		if (n % 2 != 0) {
			e->err = 1;
			return;
		}
		n /= 2;
	}
	p = (unsigned char *)e->b.ptr + e->at[e->depth] + 1;
	p[0] = (unsigned char)(n >> 24);
	p[1] = (unsigned char)(n >> 16);
	p[2] = (unsigned char)(n >> 8);
	p[3] = (unsigned char)n;
	e->depth--;
}

void
enc_map_open(struct enc *e)
{
	enc_open(e, 0xdf, 1);
}

void
enc_arr_open(struct enc *e)
{
	enc_open(e, 0xdd, 0);
}

void
enc_strn(struct enc *e, const void *s, size_t n)
{
	msgpack_packer	pk;

	if (n > UINT32_MAX) {
		e->err = 1;
		return;
	}
	enc_count(e);
	enc_pk(e, &pk);
	msgpack_pack_str(&pk, n);
	msgpack_pack_str_body(&pk, s, n);
}

void
enc_str(struct enc *e, const char *s)
{
	enc_strn(e, s, strlen(s));
}

void
enc_bin(struct enc *e, const void *p, size_t n)
{
	msgpack_packer	pk;

	if (n > UINT32_MAX) {
		e->err = 1;
		return;
	}
	enc_count(e);
	enc_pk(e, &pk);
	msgpack_pack_bin(&pk, n);
	msgpack_pack_bin_body(&pk, p, n);
}

void
enc_u64(struct enc *e, uint64_t v)
{
	msgpack_packer	pk;

	enc_count(e);
	enc_pk(e, &pk);
	msgpack_pack_uint64(&pk, v);
}

void
enc_i64(struct enc *e, int64_t v)
{
	msgpack_packer	pk;

	enc_count(e);
	enc_pk(e, &pk);
	msgpack_pack_int64(&pk, v);
}

void
enc_double(struct enc *e, double v)
{
	msgpack_packer	pk;

	enc_count(e);
	enc_pk(e, &pk);
	msgpack_pack_double(&pk, v);
}

void
enc_bool(struct enc *e, int v)
{
	msgpack_packer	pk;

	enc_count(e);
	enc_pk(e, &pk);
	if (v)
		msgpack_pack_true(&pk);
	else
		msgpack_pack_false(&pk);
}

void
enc_nil(struct enc *e)
{
	msgpack_packer	pk;

	enc_count(e);
	enc_pk(e, &pk);
	msgpack_pack_nil(&pk);
}

void
enc_obj(struct enc *e, const void *obj)
{
	msgpack_packer	pk;

	enc_count(e);
	enc_pk(e, &pk);
	msgpack_pack_object(&pk, *(const msgpack_object *)obj);
}

void
enc_kstr(struct enc *e, const char *k, const char *v)
{
	enc_str(e, k);
	enc_str(e, v);
}

void
enc_ku64(struct enc *e, const char *k, uint64_t v)
{
	enc_str(e, k);
	enc_u64(e, v);
}

void
enc_ki64(struct enc *e, const char *k, int64_t v)
{
	enc_str(e, k);
	enc_i64(e, v);
}

void
enc_kbool(struct enc *e, const char *k, int v)
{
	enc_str(e, k);
	enc_bool(e, v);
}

void
enc_kmap(struct enc *e, const char *k)
{
	enc_str(e, k);
	enc_map_open(e);
}

void
enc_karr(struct enc *e, const char *k)
{
	enc_str(e, k);
	enc_arr_open(e);
}

size_t
enc_size(const struct enc *e)
{
	return e->b.len > FRAME_HDR ? e->b.len - FRAME_HDR : 0;
}

static void
put_header(unsigned char *h, size_t len, uint8_t flags)
{
	h[0] = (unsigned char)(len >> 24);
	h[1] = (unsigned char)(len >> 16);
	h[2] = (unsigned char)(len >> 8);
	h[3] = (unsigned char)len;
	h[4] = flags;
}

/* Deflate the payload into out; 0 when it came out smaller, else -1. */
static int
try_deflate(const struct enc *e, struct buf *out)
{
	const unsigned char	*src = (const unsigned char *)e->b.ptr + FRAME_HDR;
	size_t			 n = e->b.len - FRAME_HDR;
	uLongf			 bound = compressBound((uLong)n), dl;
	struct buf		 tmp;

	buf_init(&tmp, FRAME_HDR + bound);
	if (buf_grow(&tmp, FRAME_HDR + bound) == -1)
		return -1;
	dl = bound;
	if (compress2((Bytef *)tmp.ptr + FRAME_HDR, &dl, src, (uLong)n,
	    Z_BEST_SPEED) != Z_OK || dl + 16 >= n) {
		buf_release(&tmp);
		return -1;
	}
	tmp.len = FRAME_HDR + dl;
	tmp.ptr[tmp.len] = '\0';
	put_header((unsigned char *)tmp.ptr, dl, FRAME_ZLIB);
	buf_release(out);
	*out = tmp;
	return 0;
}

int
enc_finish(struct enc *e, int deflate, struct buf *out, char *err)
{
	size_t	n;

	enc_close(e);			/* the body map */
	if (e->err || e->depth != -1) {
		snprintf(err, MSG_ERRLEN, e->err ? "message exceeds the %u "
		    "byte cap" : "unbalanced message", FRAME_MAX);
		enc_release(e);
		return -1;
	}
	n = e->b.len - FRAME_HDR;
	if (n > FRAME_MAX) {
		snprintf(err, MSG_ERRLEN, "message exceeds the %u byte cap",
		    FRAME_MAX);
		enc_release(e);
		return -1;
	}
	if (deflate && n >= 256 && try_deflate(e, out) == 0) {
		enc_release(e);
		return 0;
	}
	put_header((unsigned char *)e->b.ptr, n, 0);
	buf_release(out);
	*out = e->b;
	buf_init(&e->b, 0);
	return 0;
}

int
frame_error(struct buf *out, uint64_t id, const char *code,
    const char *fmt, ...)
{
	struct enc	e;
	char		msg[MSG_ERRLEN * 2], err[MSG_ERRLEN];
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	enc_begin(&e, MSG_ERROR, id);
	enc_kstr(&e, "code", code);
	enc_kstr(&e, "message", msg);
	return enc_finish(&e, 0, out, err);
}

int
frame_empty(struct buf *out, unsigned int type, uint64_t id)
{
	struct enc	e;
	char		err[MSG_ERRLEN];

	enc_begin(&e, type, id);
	return enc_finish(&e, 0, out, err);
}
