/*
 * fuzz-proto.c: libFuzzer target over the frame and message decoders. The
 * input is read as a stream of frames (header, payload, header, ...) exactly
 * as conn_read() sees it, each message is walked through the accessors and
 * rendered as JSON, and the whole input is also tried as one payload, plain
 * and deflated. Nothing may crash, leak or read out of bounds.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);
void	fuzz_verdict(const uint8_t *, size_t, char *, size_t);

/* For the corpus replay: the input read as a stream of frames. */
void
fuzz_verdict(const uint8_t *data, size_t size, char *out, size_t outsz)
{
	const uint8_t	*p = data;
	size_t		 left = size, n = 0;
	struct msg	 m;
	char		 err[MSG_ERRLEN];
	uint32_t	 len;
	uint8_t		 flags;

	while (left > 0) {
		if (left < FRAME_HDR) {
			snprintf(out, outsz, "refused: %zu bytes after frame "
			    "%zu, less than a header", left, n);
			return;
		}
		if (frame_header(p, &len, &flags, err) == -1) {
			snprintf(out, outsz, "refused: frame %zu: %s", n + 1,
			    err);
			return;
		}
		if (len > left - FRAME_HDR) {
			snprintf(out, outsz, "refused: frame %zu: truncated",
			    n + 1);
			return;
		}
		if (msg_decode(&m, flags, p + FRAME_HDR, len, err) == -1) {
			snprintf(out, outsz, "refused: frame %zu: %s", n + 1,
			    err);
			return;
		}
		msg_release(&m);
		n++;
		p += FRAME_HDR + len;
		left -= FRAME_HDR + len;
	}
	snprintf(out, outsz, "accepted: %zu message%s", n, n == 1 ? "" : "s");
}

static void
walk(const struct msg *m)
{
	struct mv	 v, args, h;
	char		 err[MSG_ERRLEN], s[64], key[64], *val;
	uint64_t	 u;
	int64_t		 i;
	double		 d;
	int		 b;
	size_t		 n, k;
	const void	*p;
	struct buf	 j = BUF_INIT;

	msg_body(m, &v, err, "");
	mv_str(&v, "op", s, sizeof s, MV_REQ);
	mv_u64(&v, "seq", &u, 0);
	mv_bin(&v, "bytes", &p, &n, FRAME_MAX, 0);
	mv_bool(&v, "eof", &b, 0);
	if (mv_map(&v, "args", &args, 0) == 1) {
		mv_str(&args, "site", s, sizeof s, 0);
		mv_i64(&args, "release", &i, 0);
		mv_num(&args, "cpus", &d, 0);
		if (mv_map(&args, "env", &h, 0) == 1)
			for (k = 0; k < mv_count(&h); k++)
				if (mv_entry_str(&h, k, key, sizeof key, &val,
				    4096) == 1)
					free(val);
		if (mv_arr(&args, "volumes", &n, 64, 0) == 1)
			for (k = 0; k < n; k++)
				mv_arr_str(&args, "volumes", k, s, sizeof s);
	}
	msg_to_json(m, &j);
	buf_release(&j);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t	*p = data;
	size_t		 left = size;
	struct msg	 m;
	char		 err[MSG_ERRLEN];
	uint32_t	 len;
	uint8_t		 flags;

	while (left >= FRAME_HDR) {
		if (frame_header(p, &len, &flags, err) == -1)
			break;
		if (len > left - FRAME_HDR)
			break;
		if (msg_decode(&m, flags, p + FRAME_HDR, len, err) == 0) {
			walk(&m);
			msg_release(&m);
		}
		p += FRAME_HDR + len;
		left -= FRAME_HDR + len;
	}
	if (size <= FRAME_MAX) {
		if (msg_decode(&m, 0, data, size, err) == 0) {
			walk(&m);
			msg_release(&m);
		}
		if (msg_decode(&m, FRAME_ZLIB, data, size, err) == 0) {
			walk(&m);
			msg_release(&m);
		}
	}
	return 0;
}
