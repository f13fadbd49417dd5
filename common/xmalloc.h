/*
 * xmalloc.h: allocation that cannot fail, for the binaries only. A failed
 * allocation ends the process; common/ and proto/ never call these.
 */
#ifndef TUG_XMALLOC_H
#define TUG_XMALLOC_H

#include <stddef.h>

void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xrealloc(void *, size_t);
char	*xstrdup(const char *);
char	*xstrndup(const char *, size_t);
int	 xasprintf(char **, const char *, ...)
	    __attribute__((format(printf, 2, 3)));

#endif
