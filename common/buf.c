/*
 * buf.c: growable, capped, NUL-terminated byte buffer. Every operation either
 * succeeds completely or leaves the buffer as it was and returns -1.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"

static size_t
buf_cap(const struct buf *b)
{
	return b->max != 0 ? b->max : BUF_MAX;
}

void
buf_init(struct buf *b, size_t max)
{
	b->ptr = NULL;
	b->len = b->alloc = 0;
	b->max = max;
}

void
buf_release(struct buf *b)
{
	free(b->ptr);
	buf_init(b, b->max);
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->ptr != NULL)
		b->ptr[0] = '\0';
}

char *
buf_detach(struct buf *b, size_t *len)
{
	char	*p;

	if (b->ptr == NULL && buf_grow(b, 0) == -1)
		return NULL;
	p = b->ptr;
	if (len != NULL)
		*len = b->len;
	buf_init(b, b->max);
	return p;
}

int
buf_grow(struct buf *b, size_t extra)
{
	size_t	 need, n;
	char	*p;

	if (extra > buf_cap(b) - b->len) {
		errno = EMSGSIZE;
		return -1;
	}
	need = b->len + extra + 1;
	if (need <= b->alloc)
		return 0;
	n = b->alloc < 64 ? 64 : b->alloc;
	while (n < need)
		n = n / 2 < SIZE_MAX / 3 ? n + n / 2 : need;
	if ((p = realloc(b->ptr, n)) == NULL)
		return -1;
	if (b->ptr == NULL)
		p[0] = '\0';
	b->ptr = p;
	b->alloc = n;
	return 0;
}

int
buf_add(struct buf *b, const void *data, size_t n)
{
	if (buf_grow(b, n) == -1)
		return -1;
	if (n != 0)
		memcpy(b->ptr + b->len, data, n);
	b->len += n;
	b->ptr[b->len] = '\0';
	return 0;
}

int
buf_addstr(struct buf *b, const char *s)
{
	return buf_add(b, s, strlen(s));
}

int
buf_addch(struct buf *b, int c)
{
	char	ch = (char)c;

	return buf_add(b, &ch, 1);
}

int
buf_vaddf(struct buf *b, const char *fmt, va_list ap)
{
	va_list	 cp;
	int	 n;

	va_copy(cp, ap);
	n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n < 0 || buf_grow(b, (size_t)n) == -1)
		return -1;
	vsnprintf(b->ptr + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int
buf_addf(struct buf *b, const char *fmt, ...)
{
	va_list	 ap;
	int	 r;

	va_start(ap, fmt);
	r = buf_vaddf(b, fmt, ap);
	va_end(ap);
	return r;
}

void
buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		buf_reset(b);
		return;
	}
	memmove(b->ptr, b->ptr + n, b->len - n);
	b->len -= n;
	b->ptr[b->len] = '\0';
}

void
buf_setlen(struct buf *b, size_t n)
{
	if (b->ptr == NULL || n > b->len)
		return;
	b->len = n;
	b->ptr[n] = '\0';
}

const char *
buf_str(const struct buf *b)
{
	return b->ptr != NULL ? b->ptr : "";
}
