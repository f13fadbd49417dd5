/*
 * log.h: logging to stderr in the manner of OpenBSD's log.c. Strings that came
 * from a peer go through log_escape() first. Nothing here writes to stdout.
 */
#ifndef TUG_LOG_H
#define TUG_LOG_H

#include <stddef.h>

void	 log_init(const char *progname, int verbose);
int	 log_verbose(void);
void	 log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
int	 error(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 fatal(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
void	 fatalx(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

/*
 * Escape n bytes for printing: printable ASCII stays, everything else becomes
 * \n, \t, \\ or \xHH. Writes at most dstsz bytes including the NUL and marks a
 * cut with "...". Returns dst.
 */
char	*log_escape(char *dst, size_t dstsz, const void *src, size_t n);

#endif
