/*
 * clock.c: time in milliseconds and the duration grammar of site specs.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"

uint64_t
clock_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t
wall_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void
sleep_ms(uint64_t ms)
{
	struct timespec	ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

int
parse_duration(const char *s, uint64_t *ms)
{
	uint64_t	v = 0, mul;
	const char	*p = s;

	if (*p < '0' || *p > '9')
		return -1;
	while (*p >= '0' && *p <= '9') {
		if (v > (UINT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*p++ - '0');
	}
	if (strcmp(p, "ms") == 0)
		mul = 1;
	else if (strcmp(p, "s") == 0)
		mul = 1000;
	else if (strcmp(p, "m") == 0)
		mul = 60000;
	else if (strcmp(p, "h") == 0)
		mul = 3600000;
	else
		return -1;
	if (v > UINT64_MAX / mul)
		return -1;
	*ms = v * mul;
	return 0;
}
