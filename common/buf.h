/*
 * buf.h: the one growable byte buffer. Always NUL-terminated, never larger
 * than its cap, and hands its memory over with buf_detach().
 */
#ifndef TUG_BUF_H
#define TUG_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char	*ptr;		/* ptr[len] == '\0' whenever ptr != NULL */
	size_t	 len;
	size_t	 alloc;
	size_t	 max;		/* len never exceeds this; 0 means BUF_MAX */
};

#define BUF_MAX		((size_t)1 << 30)
#define BUF_INIT	{ NULL, 0, 0, 0 }

void	 buf_init(struct buf *, size_t max);
void	 buf_release(struct buf *);
void	 buf_reset(struct buf *);
char	*buf_detach(struct buf *, size_t *len);	/* caller frees; buf is reset */
int	 buf_grow(struct buf *, size_t extra);	/* -1: over cap or no memory */
int	 buf_add(struct buf *, const void *, size_t);
int	 buf_addstr(struct buf *, const char *);
int	 buf_addch(struct buf *, int);
int	 buf_addf(struct buf *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
int	 buf_vaddf(struct buf *, const char *, va_list);
void	 buf_consume(struct buf *, size_t);	/* drop n bytes from the front */
void	 buf_setlen(struct buf *, size_t);
const char *buf_str(const struct buf *);	/* "" when empty */

#endif
