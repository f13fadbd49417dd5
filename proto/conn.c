/*
 * conn.c: frames over a pair of blocking file descriptors: one frame read at
 * a time with the length checked before the payload is allocated, whole
 * frames written, the agent's sentinel line found, and every frame traced to
 * stderr when TUG_TRACE_FRAMES=1.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/fs.h"
#include "proto/proto.h"

void
conn_init(struct conn *c, int rfd, int wfd, const char *name)
{
	const char	*t = getenv("TUG_TRACE_FRAMES");

	memset(c, 0, sizeof *c);
	c->rfd = rfd;
	c->wfd = wfd;
	c->name = name;
	c->trace = t != NULL && *t != '\0' && strcmp(t, "0") != 0;
}

static void
trace(const struct conn *c, const char *dir, unsigned int type, uint64_t id,
    size_t size, uint8_t flags)
{
	fprintf(stderr, "%s %s %s id=%llu size=%zu%s\n", c->name, dir,
	    msg_type_name(type), (unsigned long long)id, size,
	    flags & FRAME_ZLIB ? " zlib" : "");
}

int
conn_read(struct conn *c, struct msg *m, char *err)
{
	uint8_t		 hdr[FRAME_HDR], flags;
	uint32_t	 len;
	char		*payload;
	int		 r;

	memset(m, 0, sizeof *m);
	if ((r = fs_read_full(c->rfd, hdr, sizeof hdr)) == 0)
		return 0;
	if (r == -1) {
		snprintf(err, MSG_ERRLEN, errno == EPIPE ? "truncated frame "
		    "header" : "read: %s", strerror(errno));
		return -1;
	}
	if (frame_header(hdr, &len, &flags, err) == -1)
		return -1;
	if ((payload = malloc(len)) == NULL) {
		snprintf(err, MSG_ERRLEN, "out of memory");
		return -1;
	}
	if (fs_read_full(c->rfd, payload, len) != 1) {
		snprintf(err, MSG_ERRLEN, "truncated frame: expected %u bytes",
		    len);
		free(payload);
		return -1;
	}
	c->bytes_in += FRAME_HDR + len;
	r = msg_decode(m, flags, payload, len, err);
	explicit_bzero(payload, len);	/* it may have carried a secret */
	free(payload);
	if (c->trace)
		trace(c, "<", r == 0 ? m->type : 0, r == 0 ? m->id : 0, len,
		    flags);
	return r == 0 ? 1 : -2;
}

int
conn_write(struct conn *c, const struct buf *f)
{
	if (c->trace && f->len >= FRAME_HDR) {
		struct msg	m;
		char		err[MSG_ERRLEN];
		uint8_t		fl = (uint8_t)f->ptr[4];

		if (msg_decode(&m, fl, f->ptr + FRAME_HDR, f->len - FRAME_HDR,
		    err) == 0) {
			trace(c, ">", m.type, m.id, f->len - FRAME_HDR, fl);
			msg_release(&m);
		}
	}
	if (fs_write_all(c->wfd, f->ptr, f->len) == -1)
		return -1;
	c->bytes_out += f->len;
	return 0;
}

int
conn_skip_to_sentinel(struct conn *c, const char *line, size_t maxbytes,
    int timeout_ms, char *err)
{
	size_t		 ll = strlen(line), have = 0, seen = 0;
	uint64_t	 deadline = clock_ms() + (uint64_t)timeout_ms;
	char		 win[128], ch;

	if (ll == 0 || ll > sizeof win) {
		snprintf(err, MSG_ERRLEN, "bad sentinel");
		return -1;
	}
	/*
	 * Byte at a time, so nothing past the sentinel is consumed; the last
	 * ll bytes are kept in win and compared whole, so a sentinel that
	 * overlaps the noise before it is still found.
	 */
	for (;;) {
		struct pollfd	pfd = { c->rfd, POLLIN, 0 };
		uint64_t	now = clock_ms();
		ssize_t		r;

		if (now >= deadline) {
			snprintf(err, MSG_ERRLEN, "no agent sentinel within "
			    "%d ms", timeout_ms);
			return -1;
		}
		if (poll(&pfd, 1, (int)(deadline - now)) <= 0)
			continue;
		if ((r = read(c->rfd, &ch, 1)) == -1) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			snprintf(err, MSG_ERRLEN, "read: %s", strerror(errno));
			return -1;
		}
		if (r == 0) {
			snprintf(err, MSG_ERRLEN, "end of stream before the "
			    "agent sentinel");
			return -1;
		}
		if (++seen > maxbytes + ll) {
			snprintf(err, MSG_ERRLEN, "no agent sentinel in the "
			    "first %zu bytes", maxbytes);
			return -1;
		}
		if (have == ll) {
			memmove(win, win + 1, ll - 1);
			have--;
		}
		win[have++] = ch;
		if (have == ll && memcmp(win, line, ll) == 0)
			return 0;
	}
}

int
frame_parse(struct buf *in, struct msg *m, char *err)
{
	uint32_t	len;
	uint8_t		flags;
	int		r;

	memset(m, 0, sizeof *m);
	if (in->len < FRAME_HDR)
		return 0;
	if (frame_header((const uint8_t *)in->ptr, &len, &flags, err) == -1)
		return -1;
	if (in->len - FRAME_HDR < len)
		return 0;
	r = msg_decode(m, flags, in->ptr + FRAME_HDR, len, err);
	buf_consume(in, FRAME_HDR + len);
	return r == 0 ? 1 : -2;
}
