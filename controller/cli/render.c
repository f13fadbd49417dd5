/*
 * render.c: what the renderers share: a string or number of the result by
 * key, the result as JSON, tables whose columns are as wide as their widest
 * cell, byte counts for people; and the options every file reads.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xmalloc.h"
#include "controller/cli/cli.h"

/* The options every file reads; main() sets them. */
int	 json_out;
int	 quiet;
int	 ssh_mode;	/* run by sshd as a user's forced command */

void
print_json(struct mv *v, const char *key)
{
	struct buf	b = BUF_INIT;

	mv_json(v, key, &b);
	printf("%s\n", buf_str(&b));
	buf_release(&b);
}

const char *
s_(struct mv *v, const char *key, char *dst, size_t n)
{
	if (mv_str(v, key, dst, n, 0) != 1)
		snprintf(dst, n, "-");
	return dst;
}

uint64_t
u_(struct mv *v, const char *key)
{
	uint64_t	x = 0;

	mv_u64(v, key, &x, 0);
	return x;
}

void
table_add(struct table *t, ...)
{
	va_list		 ap;
	const char	*s;
	int		 c = 0;

	if (t->rows == 256)
		return;
	va_start(ap, t);
	while ((s = va_arg(ap, const char *)) != NULL && c < 10)
		t->cell[t->rows][c++] = xstrdup(s);
	va_end(ap);
	if (c > t->cols)
		t->cols = c;
	t->rows++;
}

void
table_print(struct table *t)
{
	size_t	w[10] = { 0 }, l;
	int	r, c;

	for (r = 0; r < t->rows; r++)
		for (c = 0; c < t->cols; c++)
			if (t->cell[r][c] != NULL &&
			    (l = strlen(t->cell[r][c])) > w[c])
				w[c] = l;
	for (r = 0; r < t->rows; r++) {
		for (c = 0; c < t->cols; c++) {
			const char *s = t->cell[r][c] ? t->cell[r][c] : "";

			if (c == t->cols - 1)
				printf("%s", s);
			else
				printf("%-*s  ", (int)w[c], s);
			free(t->cell[r][c]);
		}
		printf("\n");
	}
}

void
human_bytes(char *dst, size_t n, uint64_t v)
{
	const char	*u[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double		 d = (double)v;
	int		 i = 0;

	while (d >= 1024 && i < 4) {
		d /= 1024;
		i++;
	}
	snprintf(dst, n, i == 0 ? "%.0f %s" : "%.1f %s", d, u[i]);
}
