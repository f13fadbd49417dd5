/*
 * fuzz-tar.c: libFuzzer target over the tar reader (common/tar.c) in its
 * check-only mode: the input is one archive, plain or gzip-compressed, read
 * whole and then a few bytes at a time. Nothing may crash, leak, read out of
 * bounds, or come back as a different verdict when read in smaller pieces.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "common/tar.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);
void	fuzz_verdict(const uint8_t *, size_t, char *, size_t);

struct src {
	const uint8_t	*p;
	size_t		 left;
	size_t		 step;
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

/* For the corpus replay: what the reader says of the archive. */
void
fuzz_verdict(const uint8_t *data, size_t size, char *out, size_t outsz)
{
	struct tar_limits	lim = { 1 << 20, 1000 };
	struct tar_stats	st;
	struct src		s = { data, size, 0 };
	char			err[TAR_ERRLEN];

	if (tar_extract(-1, src_read, &s, &lim, &st, err) == TAR_OK)
		snprintf(out, outsz, "accepted: %llu files",
		    (unsigned long long)st.files);
	else
		snprintf(out, outsz, "refused: %s", err);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tar_limits	lim = { 1 << 20, 1000 };
	struct tar_stats	st1, st2;
	struct src		s = { data, size, 0 };
	char			err[TAR_ERRLEN];
	enum tar_status		r1, r2;

	r1 = tar_extract(-1, src_read, &s, &lim, &st1, err);
	s = (struct src){ data, size, 1 + (size % 13) };
	r2 = tar_extract(-1, src_read, &s, &lim, &st2, err);
	/* How far a bad stream gets depends on the pieces; its verdict not. */
	if (r1 != r2 || (r1 == TAR_OK && (st1.files != st2.files ||
	    st1.bytes != st2.bytes || st1.stream != st2.stream)))
		abort();
	return 0;
}
