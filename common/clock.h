/*
 * clock.h: monotonic and wall time in milliseconds, and durations as users
 * write them ("500ms", "10s", "2m", "1h").
 */
#ifndef TUG_CLOCK_H
#define TUG_CLOCK_H

#include <stdint.h>

uint64_t	 clock_ms(void);	/* monotonic */
uint64_t	 wall_ms(void);		/* since the epoch */
void		 sleep_ms(uint64_t);
/* 0 and *ms set, or -1 for anything but digits followed by ms|s|m|h. */
int		 parse_duration(const char *, uint64_t *ms);
/* --since: Unix seconds, "2d" back from now, "2024-05-01[T12:00[:00]]". */
int		 parse_since(const char *, int64_t *at);	/* ms; 0, -1 */

#endif
