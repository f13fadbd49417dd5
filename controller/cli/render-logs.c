/*
 * render-logs.c: tug logs: the lines as they stream in, each after its host
 * (or one JSON object a line), then each host's error and, with --stats,
 * the line and byte counts.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "controller/cli/cli.h"

int		 stdout_broken;	/* nobody reads our lines any more */
static int	 log_width;	/* of the host column */
static int	 log_times;	/* print each line's time */
static int	 log_follow;

/* EVENT {kind:"log.start", hosts, timestamps, follow}: how to print. */
static void
render_log_start(struct mv *b)
{
	size_t	n, i;
	char	host[HOST_NAME_MAX_TUG + 1];

	mv_bool(b, "timestamps", &log_times, 0);
	mv_bool(b, "follow", &log_follow, 0);
	mv_arr(b, "hosts", &n, 4096, 0);
	for (i = 0; i < n; i++)
		if (mv_arr_str(b, "hosts", i, host, sizeof host) == 1 &&
		    (int)strlen(host) > log_width)
			log_width = (int)strlen(host);
	if (!isatty(STDOUT_FILENO))
		setvbuf(stdout, NULL, _IOFBF, 1 << 16);
}

/* One line as {"host":..,"stream":..,"time":..,"line":..}. */
static void
log_line_json(struct mv *row, struct buf *b)
{
	static const char *const keys[] = { "host", "stream", "time", "line" };
	size_t	i;

	buf_reset(b);
	for (i = 0; i < 4; i++) {
		buf_addf(b, "%s\"%s\":", i == 0 ? "{" : ",", keys[i]);
		mv_json(row, keys[i], b);
	}
	buf_addstr(b, "}\n");
	fwrite(b->ptr, 1, b->len, stdout);
}

/* EVENT {kind:"log", lines:[{host, stream, time, line}...]}. */
static void
render_log_lines(struct mv *b)
{
	struct buf	 j = BUF_INIT;
	struct mv	 row;
	const void	*p;
	size_t		 n, i, len;
	char		 host[HOST_NAME_MAX_TUG + 1], t[48];
	static char	 prefix[HOST_NAME_MAX_TUG + 8], last[HOST_NAME_MAX_TUG + 1];

	mv_arr(b, "lines", &n, MSG_ARRAY_MAX, 0);
	for (i = 0; i < n && !stdout_broken; i++) {
		if (mv_arr_map(b, "lines", i, &row) != 1)
			continue;
		if (json_out) {
			log_line_json(&row, &j);
			continue;
		}
		if (mv_str(&row, "host", host, sizeof host, 0) != 1 ||
		    mv_bin(&row, "line", &p, &len, FRAME_MAX, 0) != 1)
			continue;
		if (strcmp(host, last) != 0) {
			snprintf(last, sizeof last, "%s", host);
			snprintf(prefix, sizeof prefix, "%-*s | ", log_width,
			    host);
		}
		fputs(prefix, stdout);
		if (log_times && mv_str(&row, "time", t, sizeof t, 0) == 1)
			printf("%s ", t);
		fwrite(p, 1, len, stdout);
		putchar('\n');
	}
	buf_release(&j);
	if (fflush(stdout) == EOF)
		stdout_broken = 1;
}

/* 1: the event was log lines (or their start), printed. */
int
render_log_event(struct mv *b)
{
	char	kind[16];

	if (mv_str(b, "kind", kind, sizeof kind, 0) != 1)
		return 0;
	if (strcmp(kind, "log.start") == 0)
		render_log_start(b);
	else if (strcmp(kind, "log") == 0)
		render_log_lines(b);
	else
		return 0;
	return 1;
}

void
render_logs(struct mv *v)
{
	size_t		n, i;
	char		host[64], err[600];
	int		stats = 0;
	uint64_t	wire = u_(v, "wire_bytes"), bytes = u_(v, "bytes");

	mv_bool(v, "stats", &stats, 0);
	mv_arr(v, "hosts", &n, 4096, 0);
	for (i = 0; i < n; i++) {
		struct mv	row;

		if (mv_arr_map(v, "hosts", i, &row) != 1)
			continue;
		s_(&row, "host", host, sizeof host);
		if (mv_str(&row, "error", err, sizeof err, 0) == 1 && !quiet)
			fprintf(stderr, "%s\n", err);
		if (stats)
			fprintf(stderr, "%s: %llu lines, %llu bytes of lines, "
			    "%llu bytes of frames, %llu requests\n", host,
			    (unsigned long long)u_(&row, "lines"),
			    (unsigned long long)u_(&row, "bytes"),
			    (unsigned long long)u_(&row, "wire_bytes"),
			    (unsigned long long)u_(&row, "requests"));
	}
	if (stats)
		fprintf(stderr, "%llu lines, %llu bytes of lines in %llu bytes "
		    "of frames from the agents (%.2f:1) in %.3f s\n",
		    (unsigned long long)u_(v, "lines"),
		    (unsigned long long)bytes, (unsigned long long)wire,
		    wire > 0 ? (double)bytes / (double)wire : 0.0,
		    (double)u_(v, "elapsed_ms") / 1000);
}
