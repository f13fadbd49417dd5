/*
 * hammer.c: a bounded load for zero-downtime tests. Sends HTTP requests one
 * after another (a new connection each) to ADDR:PORT with a Host header
 * until at least MIN were sent and STOPFILE exists, or MAX were sent, or
 * 120 s passed. Prints "total=N ok=N failed=N" and, per distinct body, the
 * count; exits 0 when no request failed.
 *
 *   hammer ADDR PORT HOST PATH MIN STOPFILE
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "common/clock.h"

#define MAX_REQUESTS	200000
#define MAX_MS		120000
#define BODIES		16

static char	bodies[BODIES][64];
static long	counts[BODIES];

static void
count_body(const char *b)
{
	int	i;

	for (i = 0; i < BODIES && bodies[i][0] != '\0'; i++)
		if (strcmp(bodies[i], b) == 0)
			break;
	if (i == BODIES)
		return;
	if (bodies[i][0] == '\0')
		snprintf(bodies[i], sizeof bodies[i], "%s", b);
	counts[i]++;
}

/* One request: its status (0 on a transport failure), body in b. */
static int
one(const struct sockaddr_in *sin, const char *host, const char *path,
    char *b, size_t bsz, char *why, size_t whysz)
{
	char		req[512], resp[4096];
	size_t		got = 0;
	ssize_t		r;
	int		fd, status = 0;
	struct timeval	tv = { 5, 0 };
	char		*body;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return 0;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	if (connect(fd, (const struct sockaddr *)sin, sizeof *sin) == -1) {
		snprintf(why, whysz, "connect: %s", strerror(errno));
		close(fd);
		return 0;
	}
	snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s\r\n"
	    "Connection: close\r\n\r\n", path, host);
	if (write(fd, req, strlen(req)) != (ssize_t)strlen(req)) {
		snprintf(why, whysz, "write: %s", strerror(errno));
		close(fd);
		return 0;
	}
	while (got < sizeof resp - 1 &&
	    (r = read(fd, resp + got, sizeof resp - 1 - got)) > 0)
		got += (size_t)r;
	close(fd);
	resp[got] = '\0';
	if (sscanf(resp, "HTTP/1.%*d %d", &status) != 1) {
		snprintf(why, whysz, "no status line (%zu bytes)", got);
		return 0;
	}
	b[0] = '\0';
	if ((body = strstr(resp, "\r\n\r\n")) != NULL)
		snprintf(b, bsz, "%.*s", (int)strcspn(body + 4, "\r\n"),
		    body + 4);
	if (status != 200)
		snprintf(why, whysz, "HTTP %d: %s", status, b);
	return status;
}

int
main(int argc, char **argv)
{
	struct sockaddr_in	sin;
	long			total = 0, ok = 0, failed = 0, min;
	uint64_t		t0 = clock_ms();
	char			body[64], why[256], first[256] = "";
	int			i;
	long			port;
	char			*end;

	if (argc != 7) {
		fprintf(stderr, "usage: hammer ADDR PORT HOST PATH MIN STOPFILE\n");
		return 2;
	}
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	port = strtol(argv[2], &end, 10);
	if (*end != '\0' || port < 1 || port > 65535) {
		fprintf(stderr, "hammer: bad port '%s'\n", argv[2]);
		return 2;
	}
	sin.sin_port = htons((unsigned short)port);
	if (inet_pton(AF_INET, argv[1], &sin.sin_addr) != 1) {
		fprintf(stderr, "hammer: bad address '%s'\n", argv[1]);
		return 2;
	}
	min = strtol(argv[5], &end, 10);
	if (*end != '\0' || min < 0 || min > MAX_REQUESTS) {
		fprintf(stderr, "hammer: bad count '%s'\n", argv[5]);
		return 2;
	}
	while (total < MAX_REQUESTS && clock_ms() - t0 < MAX_MS) {
		if (total >= min && access(argv[6], F_OK) == 0)
			break;
		total++;
		if (one(&sin, argv[3], argv[4], body, sizeof body, why,
		    sizeof why) == 200) {
			ok++;
			count_body(body);
		} else {
			if (failed++ == 0)
				snprintf(first, sizeof first, "%s", why);
		}
	}
	printf("total=%ld ok=%ld failed=%ld ms=%llu\n", total, ok, failed,
	    (unsigned long long)(clock_ms() - t0));
	for (i = 0; i < BODIES && bodies[i][0] != '\0'; i++)
		printf("body %s: %ld\n", bodies[i], counts[i]);
	if (failed > 0)
		printf("first failure: %s\n", first);
	return failed != 0;
}
