/*
 * json.c: a decoded message as one line of JSON, for the test tools, --json
 * output and traces. Binary values are shown as text with bytes that are not
 * printable ASCII or valid UTF-8 replaced by U+FFFD.
 */
#include <stdio.h>
#include <string.h>

#include <msgpack.h>

#include "proto/proto.h"

/* Length of a valid UTF-8 sequence at p (n bytes left), 0 if invalid. */
static size_t
utf8_len(const unsigned char *p, size_t n)
{
	size_t	len, i;
	uint32_t cp;

	if (p[0] < 0x80)
		return 1;
	if ((p[0] & 0xe0) == 0xc0) {
		len = 2;
		cp = p[0] & 0x1f;
	} else if ((p[0] & 0xf0) == 0xe0) {
		len = 3;
		cp = p[0] & 0x0f;
	} else if ((p[0] & 0xf8) == 0xf0) {
		len = 4;
		cp = p[0] & 0x07;
	} else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
	    (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

static int
json_str(struct buf *b, const char *s, size_t n)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 i = 0, l;

	if (buf_addch(b, '"') == -1)
		return -1;
	while (i < n) {
		unsigned char c = p[i];

		if (c == '"' || c == '\\') {
			if (buf_addch(b, '\\') == -1 || buf_addch(b, c) == -1)
				return -1;
			i++;
		} else if (c < 0x20 || c == 0x7f) {
			if (buf_addf(b, "\\u%04x", c) == -1)
				return -1;
			i++;
		} else if ((l = utf8_len(p + i, n - i)) == 0) {
			if (buf_addstr(b, "\\ufffd") == -1)
				return -1;
			i++;
		} else {
			if (buf_add(b, p + i, l) == -1)
				return -1;
			i += l;
		}
	}
	return buf_addch(b, '"');
}

static int
json_obj(struct buf *b, const msgpack_object *o)
{
	uint32_t	i;

	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		return buf_addstr(b, "null");
	case MSGPACK_OBJECT_BOOLEAN:
		return buf_addstr(b, o->via.boolean ? "true" : "false");
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		return buf_addf(b, "%llu", (unsigned long long)o->via.u64);
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		return buf_addf(b, "%lld", (long long)o->via.i64);
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		return buf_addf(b, "%.17g", o->via.f64);
	case MSGPACK_OBJECT_STR:
		return json_str(b, o->via.str.ptr, o->via.str.size);
	case MSGPACK_OBJECT_BIN:
		return json_str(b, o->via.bin.ptr, o->via.bin.size);
	case MSGPACK_OBJECT_ARRAY:
		if (buf_addch(b, '[') == -1)
			return -1;
		for (i = 0; i < o->via.array.size; i++) {
			if ((i > 0 && buf_addch(b, ',') == -1) ||
			    json_obj(b, &o->via.array.ptr[i]) == -1)
				return -1;
		}
		return buf_addch(b, ']');
	case MSGPACK_OBJECT_MAP:
		if (buf_addch(b, '{') == -1)
			return -1;
		for (i = 0; i < o->via.map.size; i++) {
			if ((i > 0 && buf_addch(b, ',') == -1) ||
			    json_obj(b, &o->via.map.ptr[i].key) == -1 ||
			    buf_addch(b, ':') == -1 ||
			    json_obj(b, &o->via.map.ptr[i].val) == -1)
				return -1;
		}
		return buf_addch(b, '}');
	default:
		return buf_addstr(b, "null");
	}
}

int
msg_to_json(const struct msg *m, struct buf *b)
{
	if (buf_addf(b, "{\"type\":\"%s\",\"id\":%llu,\"body\":",
	    msg_type_name(m->type), (unsigned long long)m->id) == -1)
		return -1;
	if (json_obj(b, m->body) == -1)
		return -1;
	return buf_addch(b, '}');
}

int
msg_body_json(const struct msg *m, struct buf *b)
{
	return json_obj(b, m->body);
}

int
mv_json(const struct mv *v, const char *key, struct buf *b)
{
	const msgpack_object	*o = v->obj;
	size_t			 kl = strlen(key);
	uint32_t		 i;

	for (i = 0; o != NULL && i < o->via.map.size; i++) {
		const msgpack_object_str *k = &o->via.map.ptr[i].key.via.str;

		if (k->size == kl && memcmp(k->ptr, key, kl) == 0)
			return json_obj(b, &o->via.map.ptr[i].val);
	}
	return buf_addstr(b, "null");
}
