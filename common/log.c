/*
 * log.c: leveled logging to stderr. fatal() is for start-up errors and broken
 * invariants only; nothing a peer sends may reach it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

static const char	*log_name = "tug";
static int		 log_level;

void
log_init(const char *progname, int verbose)
{
	log_name = progname;
	log_level = verbose;
}

int
log_verbose(void)
{
	return log_level;
}

static void
vlog(const char *prefix, const char *fmt, va_list ap, int err)
{
	char	msg[1024];

	vsnprintf(msg, sizeof msg, fmt, ap);
	if (err != 0)
		fprintf(stderr, "%s: %s%s: %s\n", log_name, prefix, msg,
		    strerror(err));
	else
		fprintf(stderr, "%s: %s%s\n", log_name, prefix, msg);
}

void
log_warn(const char *fmt, ...)
{
	va_list	ap;
	int	saved = errno;

	va_start(ap, fmt);
	vlog("", fmt, ap, saved);
	va_end(ap);
	errno = saved;
}

void
log_warnx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog("", fmt, ap, 0);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list	ap;

	if (log_level < 1)
		return;
	va_start(ap, fmt);
	vlog("", fmt, ap, 0);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list	ap;

	if (log_level < 2)
		return;
	va_start(ap, fmt);
	vlog("debug: ", fmt, ap, 0);
	va_end(ap);
}

int
error(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog("error: ", fmt, ap, 0);
	va_end(ap);
	return -1;
}

void
fatal(const char *fmt, ...)
{
	va_list	ap;
	int	saved = errno;

	va_start(ap, fmt);
	vlog("fatal: ", fmt, ap, saved);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog("fatal: ", fmt, ap, 0);
	va_end(ap);
	exit(1);
}

char *
log_escape(char *dst, size_t dstsz, const void *src, size_t n)
{
	const unsigned char	*s = src;
	size_t			 o = 0, i;
	char			 tmp[5];
	const char		*rep;
	size_t			 rl;

	if (dstsz == 0)
		return dst;
	for (i = 0; i < n; i++) {
		switch (s[i]) {
		case '\n': rep = "\\n"; break;
		case '\t': rep = "\\t"; break;
		case '\\': rep = "\\\\"; break;
		default:
			if (s[i] >= 0x20 && s[i] < 0x7f) {
				tmp[0] = (char)s[i];
				tmp[1] = '\0';
			} else
				snprintf(tmp, sizeof tmp, "\\x%02x", s[i]);
			rep = tmp;
		}
		rl = strlen(rep);
		if (o + rl > dstsz - 1) {
			if (dstsz >= 4) {
				if (o > dstsz - 4)
					o = dstsz - 4;
				memcpy(dst + o, "...", 3);
				o += 3;
			}
			break;
		}
		memcpy(dst + o, rep, rl);
		o += rl;
	}
	dst[o] = '\0';
	return dst;
}
