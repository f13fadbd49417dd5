/*
 * unit.c: the counters behind CHECK().
 */
#include <stdio.h>

#include "tests/unit/unit.h"

static int	unit_n, unit_failed;

int
unit_check(int cond, const char *file, int line, const char *what)
{
	unit_n++;
	if (cond)
		printf("ok %d - %s\n", unit_n, what);
	else {
		unit_failed++;
		printf("not ok %d - %s (%s:%d)\n", unit_n, what, file, line);
	}
	return cond;
}

int
unit_done(void)
{
	printf("# %d checks, %d failed\n", unit_n, unit_failed);
	return unit_failed != 0;
}
