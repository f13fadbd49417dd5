/*
 * clock.c: time in milliseconds and the duration grammar of site specs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
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

/*
 * A point in time as users write it for --since, into *at (ms since the
 * epoch): Unix seconds, a duration back from now ("90s", "30m", "2d"), or
 * a UTC date "2024-05-01", "2024-05-01T12:00[:00][Z]".
 */
int
parse_since(const char *s, int64_t *at)
{
	struct tm	 tm;
	uint64_t	 ms;
	char		*end, num[32];
	size_t		 n = strlen(s);

	if (n > 0 && n <= 12 && strspn(s, "0123456789") == n) {
		*at = (int64_t)strtoll(s, NULL, 10) * 1000;
		return 0;
	}
	if (parse_duration(s, &ms) == 0) {
		*at = (int64_t)(wall_ms() - ms);
		return 0;
	}
	if (n > 1 && n < sizeof num && s[n - 1] == 'd') {
		snprintf(num, sizeof num, "%.*sh", (int)(n - 1), s);
		if (parse_duration(num, &ms) == 0 && ms / 24 < UINT64_MAX / 24) {
			*at = (int64_t)(wall_ms() - ms * 24);
			return 0;
		}
	}
	memset(&tm, 0, sizeof tm);
	if ((end = strptime(s, "%Y-%m-%d", &tm)) == NULL)
		return -1;
	if (*end == 'T' || *end == ' ') {
		if ((end = strptime(end + 1, "%H:%M", &tm)) == NULL)
			return -1;
		if (*end == ':' && (end = strptime(end + 1, "%S", &tm)) == NULL)
			return -1;
		if (*end == 'Z')
			end++;
	}
	if (*end != '\0')
		return -1;
	*at = (int64_t)timegm(&tm) * 1000;
	return 0;
}
