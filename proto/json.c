/*
 * json.c: a decoded message as one line of JSON, for the test tools, --json
 * output and traces. Binary values are shown as text with bytes that are not
 * printable ASCII or valid UTF-8 replaced by U+FFFD.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

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

/*
 * --json gives every time as RFC 3339 in UTC: the fields tugd keeps as Unix
 * seconds ("at", "since", "last_seen", "not_after", "*_at") are written
 * so, 0 (never) as null. Docker's own times are RFC 3339 strings already.
 */
/* 1: Unix seconds, 1000: Unix milliseconds, 0: not a time. */
static int
time_key(const msgpack_object *k)
{
	static const char *const names[] = { "at", "since", "last_seen",
	    "not_after", NULL };
	const char	*p = k->via.str.ptr;
	size_t		 n = k->via.str.size, i;

	if (k->type != MSGPACK_OBJECT_STR)
		return 0;
	if ((n == 5 && memcmp(p, "at_ms", 5) == 0) ||
	    (n == 7 && memcmp(p, "time_ms", 7) == 0))
		return 1000;
	if (n > 3 && memcmp(p + n - 3, "_at", 3) == 0)
		return 1;
	for (i = 0; names[i] != NULL; i++)
		if (strlen(names[i]) == n && memcmp(names[i], p, n) == 0)
			return 1;
	return 0;
}

static int
json_time(struct buf *b, uint64_t t, int unit)
{
	struct tm	tm;
	time_t		tt = (time_t)(t / (uint64_t)unit);
	char		s[32];

	if (t == 0)
		return buf_addstr(b, "null");
	if (tt > 253402300799 || gmtime_r(&tt, &tm) == NULL)
		return buf_addf(b, "%llu", (unsigned long long)t);
	strftime(s, sizeof s, "\"%Y-%m-%dT%H:%M:%S", &tm);
	if (unit == 1000)
		return buf_addf(b, "%s.%03lluZ\"", s,
		    (unsigned long long)(t % 1000));
	return buf_addf(b, "%sZ\"", s);
}

static int	json_obj(struct buf *, const msgpack_object *, int times);

static int
json_val(struct buf *b, const msgpack_object *k, const msgpack_object *v,
    int times)
{
	int	unit;

	if (times && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
	    (unit = time_key(k)) != 0)
		return json_time(b, v->via.u64, unit);
	return json_obj(b, v, times);
}

static int
json_obj(struct buf *b, const msgpack_object *o, int times)
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
			    json_obj(b, &o->via.array.ptr[i], times) == -1)
				return -1;
		}
		return buf_addch(b, ']');
	case MSGPACK_OBJECT_MAP:
		if (buf_addch(b, '{') == -1)
			return -1;
		for (i = 0; i < o->via.map.size; i++) {
			if ((i > 0 && buf_addch(b, ',') == -1) ||
			    json_obj(b, &o->via.map.ptr[i].key, times) == -1 ||
			    buf_addch(b, ':') == -1 ||
			    json_val(b, &o->via.map.ptr[i].key,
			    &o->via.map.ptr[i].val, times) == -1)
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
	if (json_obj(b, m->body, 0) == -1)
		return -1;
	return buf_addch(b, '}');
}

int
msg_body_json(const struct msg *m, struct buf *b)
{
	return json_obj(b, m->body, 1);
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
			return json_val(b, &o->via.map.ptr[i].key,
			    &o->via.map.ptr[i].val, 1);
	}
	return buf_addstr(b, "null");
}
