/*
 * msg.c: decoding of frame payloads into messages, and the typed accessors
 * through which handlers read them. A payload is pre-scanned byte by byte
 * (every count checked against the bytes that remain, depth and sizes capped)
 * before msgpack-c builds any object, so no length from a peer ever sizes an
 * allocation.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>
#include <zlib.h>

#include "proto/proto.h"

struct msg_priv {
	msgpack_unpacked	 up;
	char			*data;
};

static const char *type_names[] = {
	NULL, "HELLO", "ERROR", "PING", "PONG", "REQUEST", "EVENT", "RESULT",
	"CANCEL", "DATA"
};

const char *
msg_type_name(unsigned int t)
{
	if (t == 0 || t > MSG_TYPE_MAX)
		return "?";
	return type_names[t];
}

static int
seterr(char *err, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(err, MSG_ERRLEN, fmt, ap);
	va_end(ap);
	return -1;
}

int
frame_header(const uint8_t h[FRAME_HDR], uint32_t *len, uint8_t *flags,
    char *err)
{
	*len = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 |
	    (uint32_t)h[2] << 8 | h[3];
	*flags = h[4];
	if (*len > FRAME_MAX)
		return seterr(err, "frame of %u bytes exceeds the %u byte cap",
		    *len, FRAME_MAX);
	if (*flags & ~FRAME_FLAGS_KNOWN)
		return seterr(err, "unknown frame flags 0x%02x", *flags);
	if (*len == 0)
		return seterr(err, "empty frame");
	return 0;
}

/* Read a big-endian unsigned of n bytes. */
static uint64_t
be(const unsigned char *p, size_t n)
{
	uint64_t	v = 0;

	while (n-- > 0)
		v = v << 8 | *p++;
	return v;
}

/*
 * Walk the msgpack encoding of exactly len bytes. Containers must fit the
 * bytes that remain (each element needs at least one), nesting is capped and
 * extension types are refused. Only then may msgpack-c allocate.
 */
static int
prescan(const unsigned char *p, size_t len, char *err)
{
	uint64_t	stack[MSG_DEPTH_MAX + 3];
	int		sp = 0;
	size_t		off = 0;

	stack[0] = 1;			/* one top-level value */
	while (sp >= 0) {
		unsigned char	c;
		uint64_t	n = 0, skip = 0;
		int		container = 0;
		size_t		rem;

		if (stack[sp] == 0) {
			sp--;
			continue;
		}
		stack[sp]--;
		if (off >= len)
			return seterr(err, "payload truncated");
		c = p[off++];
		rem = len - off;
		if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 ||
		    c == 0xc3)
			continue;
		if (c >= 0x80 && c <= 0x8f) {
			n = (uint64_t)(c & 0x0f) * 2;
			container = 2;
		} else if (c >= 0x90 && c <= 0x9f) {
			n = c & 0x0f;
			container = 1;
		} else if (c >= 0xa0 && c <= 0xbf) {
			skip = c & 0x1f;
		} else {
			static const unsigned char w[] = {
				[0xc4 - 0xc4] = 1, [0xc5 - 0xc4] = 2,
				[0xc6 - 0xc4] = 4, [0xca - 0xc4] = 4,
				[0xcb - 0xc4] = 8, [0xcc - 0xc4] = 1,
				[0xcd - 0xc4] = 2, [0xce - 0xc4] = 4,
				[0xcf - 0xc4] = 8, [0xd0 - 0xc4] = 1,
				[0xd1 - 0xc4] = 2, [0xd2 - 0xc4] = 4,
				[0xd3 - 0xc4] = 8, [0xd9 - 0xc4] = 1,
				[0xda - 0xc4] = 2, [0xdb - 0xc4] = 4,
				[0xdc - 0xc4] = 2, [0xdd - 0xc4] = 4,
				[0xde - 0xc4] = 2, [0xdf - 0xc4] = 4,
			};
			size_t	ws;

			if (c < 0xc4 || c > 0xdf || w[c - 0xc4] == 0)
				return seterr(err, "unsupported msgpack type "
				    "0x%02x", c);
			ws = w[c - 0xc4];
			if (rem < ws)
				return seterr(err, "payload truncated");
			switch (c) {
			case 0xc4: case 0xc5: case 0xc6:
			case 0xd9: case 0xda: case 0xdb:
				skip = be(p + off, ws);
				break;
			case 0xdc: case 0xdd:
				n = be(p + off, ws);
				container = 1;
				break;
			case 0xde: case 0xdf:
				n = be(p + off, ws) * 2;
				container = 2;
				break;
			default:		/* numbers */
				break;
			}
			off += ws;
			rem -= ws;
			if (!container && skip == 0)
				continue;
		}
		if (container) {
			if (n > rem)
				return seterr(err, "%s of %llu entries in %zu "
				    "bytes", container == 2 ? "map" : "array",
				    (unsigned long long)(container == 2 ?
				    n / 2 : n), rem);
			if ((container == 2 && n / 2 > MSG_MAP_MAX) ||
			    (container == 1 && n > MSG_ARRAY_MAX))
				return seterr(err, "%s too large",
				    container == 2 ? "map" : "array");
			if (sp + 1 > MSG_DEPTH_MAX + 1)
				return seterr(err, "nested too deeply");
			stack[++sp] = n;
			continue;
		}
		if (skip > rem)
			return seterr(err, "payload truncated");
		off += (size_t)skip;
	}
	if (off != len)
		return seterr(err, "%zu trailing bytes", len - off);
	return 0;
}

static int
keycmp(const void *a, const void *b)
{
	const msgpack_object_str *x = *(const msgpack_object_str * const *)a;
	const msgpack_object_str *y = *(const msgpack_object_str * const *)b;

	if (x->size != y->size)
		return x->size < y->size ? -1 : 1;
	return memcmp(x->ptr, y->ptr, x->size);
}

/* Every map: string keys, not too long, no duplicates. */
static int
check_maps(const msgpack_object *o, char *err)
{
	const msgpack_object_str	**keys;
	uint32_t			  i, n;

	if (o->type == MSGPACK_OBJECT_ARRAY) {
		for (i = 0; i < o->via.array.size; i++)
			if (check_maps(&o->via.array.ptr[i], err) == -1)
				return -1;
		return 0;
	}
	if (o->type != MSGPACK_OBJECT_MAP)
		return 0;
	n = o->via.map.size;
	for (i = 0; i < n; i++) {
		const msgpack_object *k = &o->via.map.ptr[i].key;

		if (k->type != MSGPACK_OBJECT_STR)
			return seterr(err, "map key is not a string");
		if (k->via.str.size == 0 || k->via.str.size > MSG_KEY_MAX)
			return seterr(err, "map key of %u bytes",
			    k->via.str.size);
		if (check_maps(&o->via.map.ptr[i].val, err) == -1)
			return -1;
	}
	if (n < 2)
		return 0;
	if ((keys = malloc(n * sizeof *keys)) == NULL)
		return seterr(err, "out of memory");
	for (i = 0; i < n; i++)
		keys[i] = &o->via.map.ptr[i].key.via.str;
	qsort(keys, n, sizeof *keys, keycmp);
	for (i = 1; i < n; i++) {
		if (keycmp(&keys[i - 1], &keys[i]) == 0) {
			char	k[MSG_KEY_MAX * 4 + 1];
			size_t	j, o2 = 0;

			for (j = 0; j < keys[i]->size && o2 + 4 < sizeof k;
			    j++) {
				unsigned char c = (unsigned char)keys[i]->ptr[j];

				if (c >= 0x20 && c < 0x7f && c != '\'')
					k[o2++] = (char)c;
				else
					o2 += (size_t)snprintf(k + o2,
					    sizeof k - o2, "\\x%02x", c);
			}
			k[o2] = '\0';
			free(keys);
			return seterr(err, "duplicate key '%s'", k);
		}
	}
	free(keys);
	return 0;
}

static int
inflate_payload(const void *in, size_t inlen, char **out, size_t *outlen,
    char *err)
{
	z_stream	 z;
	char		*dst;
	int		 r;

	if ((dst = malloc(FRAME_INFLATE_MAX)) == NULL)
		return seterr(err, "out of memory");
	memset(&z, 0, sizeof z);
	if (inflateInit(&z) != Z_OK) {
		free(dst);
		return seterr(err, "zlib init failed");
	}
	z.next_in = (Bytef *)(uintptr_t)in;
	z.avail_in = (uInt)inlen;
	z.next_out = (Bytef *)dst;
	z.avail_out = FRAME_INFLATE_MAX;
	r = inflate(&z, Z_FINISH);
	if (r != Z_STREAM_END) {
		inflateEnd(&z);
		free(dst);
		if (r == Z_BUF_ERROR && z.avail_out == 0)
			return seterr(err, "inflated payload exceeds the %u "
			    "byte cap", FRAME_INFLATE_MAX);
		return seterr(err, "bad zlib payload");
	}
	if (z.avail_in != 0) {
		inflateEnd(&z);
		free(dst);
		return seterr(err, "trailing bytes after zlib stream");
	}
	*outlen = z.total_out;
	inflateEnd(&z);
	*out = dst;
	return 0;
}

int
msg_decode(struct msg *m, uint8_t flags, const void *payload, size_t len,
    char *err)
{
	struct msg_priv		*pv;
	const msgpack_object	*top, *a;
	size_t			 off = 0, dlen = 0;
	char			*data = NULL;
	int			 r;

	memset(m, 0, sizeof *m);
	if (flags & ~FRAME_FLAGS_KNOWN)
		return seterr(err, "unknown frame flags 0x%02x", flags);
	if (len > FRAME_MAX)
		return seterr(err, "payload exceeds the cap");
	if (flags & FRAME_ZLIB) {
		if (inflate_payload(payload, len, &data, &dlen, err) == -1)
			return -1;
	} else {
		if ((data = malloc(len == 0 ? 1 : len)) == NULL)
			return seterr(err, "out of memory");
		memcpy(data, payload, len);
		dlen = len;
	}
	if (prescan((const unsigned char *)data, dlen, err) == -1) {
		free(data);
		return -1;
	}
	if ((pv = calloc(1, sizeof *pv)) == NULL) {
		free(data);
		return seterr(err, "out of memory");
	}
	pv->data = data;
	msgpack_unpacked_init(&pv->up);
	m->priv = pv;
	r = msgpack_unpack_next(&pv->up, data, dlen, &off);
	if (r != MSGPACK_UNPACK_SUCCESS || off != dlen) {
		seterr(err, "malformed msgpack");
		goto fail;
	}
	top = &pv->up.data;
	if (top->type != MSGPACK_OBJECT_ARRAY || top->via.array.size != 3) {
		seterr(err, "payload is not [type, id, body]");
		goto fail;
	}
	a = top->via.array.ptr;
	if (a[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
	    a[0].via.u64 == 0 || a[0].via.u64 > MSG_TYPE_MAX) {
		seterr(err, "unknown message type");
		goto fail;
	}
	if (a[1].type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
		seterr(err, "message id is not an unsigned integer");
		goto fail;
	}
	if (a[2].type != MSGPACK_OBJECT_MAP) {
		seterr(err, "message body is not a map");
		goto fail;
	}
	if (check_maps(&a[2], err) == -1)
		goto fail;
	m->type = (unsigned int)a[0].via.u64;
	m->id = a[1].via.u64;
	m->body = &a[2];
	m->size = dlen;
	return 0;
fail:
	msg_release(m);
	return -1;
}

void
msg_release(struct msg *m)
{
	struct msg_priv	*pv = m->priv;

	if (pv != NULL) {
		msgpack_unpacked_destroy(&pv->up);
		free(pv->data);
		free(pv);
	}
	memset(m, 0, sizeof *m);
}

void
msg_body(const struct msg *m, struct mv *v, char *err, const char *path)
{
	v->obj = m->body;
	v->err = err;
	snprintf(v->path, sizeof v->path, "%s", path);
}

int
mv_error(struct mv *v, const char *fmt, ...)
{
	char	tmp[MSG_ERRLEN];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (v->path[0] != '\0')
		snprintf(v->err, MSG_ERRLEN, "%s.%s", v->path, tmp);
	else
		snprintf(v->err, MSG_ERRLEN, "%s", tmp);
	return -1;
}

static const msgpack_object *
lookup(const struct mv *v, const char *key)
{
	const msgpack_object	*o = v->obj;
	size_t			 kl = strlen(key);
	uint32_t		 i;

	if (o == NULL)
		return NULL;
	for (i = 0; i < o->via.map.size; i++) {
		const msgpack_object_str *k = &o->via.map.ptr[i].key.via.str;

		if (k->size == kl && memcmp(k->ptr, key, kl) == 0)
			return &o->via.map.ptr[i].val;
	}
	return NULL;
}

/* Find key: 1 found, 0 absent and optional, -1 absent and required. */
static int
find(struct mv *v, const char *key, int flags, const msgpack_object **out)
{
	if ((*out = lookup(v, key)) != NULL)
		return 1;
	if (flags & MV_REQ)
		return mv_error(v, "%s: missing", key);
	return 0;
}

int
mv_present(const struct mv *v, const char *key)
{
	return lookup(v, key) != NULL;
}

static int
copy_str(struct mv *v, const char *what, const msgpack_object *o, char *dst,
    size_t dstsz)
{
	if (o->type != MSGPACK_OBJECT_STR)
		return mv_error(v, "%s: expected a string", what);
	if (o->via.str.size >= dstsz)
		return mv_error(v, "%s: longer than %zu bytes", what, dstsz - 1);
	if (memchr(o->via.str.ptr, '\0', o->via.str.size) != NULL)
		return mv_error(v, "%s: contains a NUL byte", what);
	memcpy(dst, o->via.str.ptr, o->via.str.size);
	dst[o->via.str.size] = '\0';
	return 1;
}

static int
dup_str(struct mv *v, const char *what, const msgpack_object *o, char **out,
    size_t max)
{
	char	*s;

	if (o->type != MSGPACK_OBJECT_STR)
		return mv_error(v, "%s: expected a string", what);
	if (o->via.str.size > max)
		return mv_error(v, "%s: longer than %zu bytes", what, max);
	if ((s = malloc(o->via.str.size + 1)) == NULL)
		return mv_error(v, "%s: out of memory", what);
	if (copy_str(v, what, o, s, o->via.str.size + 1) == -1) {
		free(s);
		return -1;
	}
	*out = s;
	return 1;
}

int
mv_str(struct mv *v, const char *key, char *dst, size_t dstsz, int flags)
{
	const msgpack_object	*o;
	int			 r;

	if ((r = find(v, key, flags, &o)) != 1)
		return r;
	return copy_str(v, key, o, dst, dstsz);
}

int
mv_strdup(struct mv *v, const char *key, char **out, size_t max, int flags)
{
	const msgpack_object	*o;
	int			 r;

	*out = NULL;
	if ((r = find(v, key, flags, &o)) != 1)
		return r;
	return dup_str(v, key, o, out, max);
}

int
mv_bin(struct mv *v, const char *key, const void **p, size_t *len,
    size_t max, int flags)
{
	const msgpack_object	*o;
	int			 r;

	if ((r = find(v, key, flags, &o)) != 1)
		return r;
	if (o->type == MSGPACK_OBJECT_BIN) {
		*p = o->via.bin.ptr;
		*len = o->via.bin.size;
	} else if (o->type == MSGPACK_OBJECT_STR) {
		*p = o->via.str.ptr;
		*len = o->via.str.size;
	} else
		return mv_error(v, "%s: expected bytes", key);
	if (*len > max)
		return mv_error(v, "%s: longer than %zu bytes", key, max);
	return 1;
}

int
mv_u64(struct mv *v, const char *key, uint64_t *out, int flags)
{
	const msgpack_object	*o;
	int			 r;

	if ((r = find(v, key, flags, &o)) != 1)
		return r;
	if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return mv_error(v, "%s: expected an unsigned integer", key);
	*out = o->via.u64;
	return 1;
}

int
mv_i64(struct mv *v, const char *key, int64_t *out, int flags)
{
	const msgpack_object	*o;
	int			 r;

	if ((r = find(v, key, flags, &o)) != 1)
		return r;
	if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
		*out = o->via.i64;
	else if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
	    o->via.u64 <= INT64_MAX)
		*out = (int64_t)o->via.u64;
	else
		return mv_error(v, "%s: expected an integer", key);
	return 1;
}

int
mv_num(struct mv *v, const char *key, double *out, int flags)
{
	const msgpack_object	*o;
	int			 r;

	if ((r = find(v, key, flags, &o)) != 1)
		return r;
	switch (o->type) {
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		*out = (double)o->via.u64;
		break;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		*out = (double)o->via.i64;
		break;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		*out = o->via.f64;
		if (!isfinite(*out))
			return mv_error(v, "%s: not a finite number", key);
		break;
	default:
		return mv_error(v, "%s: expected a number", key);
	}
	return 1;
}

int
mv_bool(struct mv *v, const char *key, int *out, int flags)
{
	const msgpack_object	*o;
	int			 r;

	if ((r = find(v, key, flags, &o)) != 1)
		return r;
	if (o->type != MSGPACK_OBJECT_BOOLEAN)
		return mv_error(v, "%s: expected true or false", key);
	*out = o->via.boolean;
	return 1;
}

int
mv_map(struct mv *v, const char *key, struct mv *out, int flags)
{
	const msgpack_object	*o;
	int			 r;

	out->obj = NULL;
	out->err = v->err;
	if (v->path[0] != '\0')
		snprintf(out->path, sizeof out->path, "%s.%s", v->path, key);
	else
		snprintf(out->path, sizeof out->path, "%s", key);
	if ((r = find(v, key, flags, &o)) != 1)
		return r;
	if (o->type != MSGPACK_OBJECT_MAP)
		return mv_error(v, "%s: expected a map", key);
	out->obj = o;
	return 1;
}

int
mv_arr(struct mv *v, const char *key, size_t *n, size_t maxn, int flags)
{
	const msgpack_object	*o;
	int			 r;

	*n = 0;
	if ((r = find(v, key, flags, &o)) != 1)
		return r;
	if (o->type != MSGPACK_OBJECT_ARRAY)
		return mv_error(v, "%s: expected an array", key);
	if (o->via.array.size > maxn)
		return mv_error(v, "%s: more than %zu items", key, maxn);
	*n = o->via.array.size;
	return 1;
}

/*
 * Item i of array key; what names it ("key[i]") for messages. It is
 * written only when it is needed (an error, a map's path): arrays of log
 * lines are read an item at a time.
 */
static const msgpack_object *
arr_item(struct mv *v, const char *key, size_t i, char *what, size_t wsz)
{
	const msgpack_object	*o = lookup(v, key);

	if (o == NULL || o->type != MSGPACK_OBJECT_ARRAY ||
	    i >= o->via.array.size) {
		snprintf(what, wsz, "%s[%zu]", key, i);
		mv_error(v, "%s: missing", what);
		return NULL;
	}
	return &o->via.array.ptr[i];
}

static void
arr_what(char *what, size_t wsz, const char *key, size_t i)
{
	char	num[24];
	size_t	kl = strlen(key), n = sizeof num;

	num[--n] = '\0';
	do {
		num[--n] = (char)('0' + i % 10);
		i /= 10;
	} while (i > 0 && n > 0);
	if (kl + 2 + (sizeof num - 1 - n) >= wsz) {
		snprintf(what, wsz, "%s[%s]", key, num + n);
		return;
	}
	memcpy(what, key, kl);
	what[kl] = '[';
	memcpy(what + kl + 1, num + n, sizeof num - 1 - n);
	what[kl + 1 + (sizeof num - 1 - n)] = ']';
	what[kl + 2 + (sizeof num - 1 - n)] = '\0';
}

int
mv_arr_str(struct mv *v, const char *key, size_t i, char *dst, size_t dstsz)
{
	const msgpack_object	*o;
	char			 what[MSG_KEY_MAX + 24];

	if ((o = arr_item(v, key, i, what, sizeof what)) == NULL)
		return -1;
	arr_what(what, sizeof what, key, i);
	return copy_str(v, what, o, dst, dstsz);
}

int
mv_arr_strdup(struct mv *v, const char *key, size_t i, char **out,
    size_t max)
{
	const msgpack_object	*o;
	char			 what[MSG_KEY_MAX + 24];

	*out = NULL;
	if ((o = arr_item(v, key, i, what, sizeof what)) == NULL)
		return -1;
	arr_what(what, sizeof what, key, i);
	return dup_str(v, what, o, out, max);
}

int
mv_arr_bin(struct mv *v, const char *key, size_t i, const void **p,
    size_t *len)
{
	const msgpack_object	*o;
	char			 what[MSG_KEY_MAX + 24];

	if ((o = arr_item(v, key, i, what, sizeof what)) == NULL)
		return -1;
	if (o->type == MSGPACK_OBJECT_BIN) {
		*p = o->via.bin.ptr;
		*len = o->via.bin.size;
	} else if (o->type == MSGPACK_OBJECT_STR) {
		*p = o->via.str.ptr;
		*len = o->via.str.size;
	} else {
		arr_what(what, sizeof what, key, i);
		return mv_error(v, "%s: expected bytes", what);
	}
	return 1;
}

int
mv_arr_map(struct mv *v, const char *key, size_t i, struct mv *out)
{
	const msgpack_object	*o;
	char			 what[MSG_KEY_MAX + 24];

	out->obj = NULL;
	out->err = v->err;
	if ((o = arr_item(v, key, i, what, sizeof what)) == NULL)
		return -1;
	arr_what(out->path, sizeof out->path, key, i);
	if (o->type != MSGPACK_OBJECT_MAP)
		return mv_error(v, "%s: expected a map", out->path);
	out->obj = o;
	return 1;
}

size_t
mv_count(const struct mv *v)
{
	const msgpack_object	*o = v->obj;

	return o != NULL ? o->via.map.size : 0;
}

int
mv_entry_str(struct mv *v, size_t i, char *key, size_t keysz, char **val,
    size_t valmax)
{
	const msgpack_object	*o = v->obj;
	const msgpack_object_kv	*kv;

	*val = NULL;
	if (o == NULL || i >= o->via.map.size)
		return mv_error(v, "entry %zu: missing", i);
	kv = &o->via.map.ptr[i];
	if (copy_str(v, "key", &kv->key, key, keysz) == -1)
		return -1;
	return dup_str(v, key, &kv->val, val, valmax);
}
