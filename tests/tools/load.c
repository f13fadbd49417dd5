/*
 * load.c: the load of every zero-downtime test. CLIENTS threads, each on one
 * keep-alive connection (libcurl reuses it; a new one only after the server
 * closed it or a failure), ask URL again and again, and SLOW more threads
 * keep a slow request (SLOWPATH, e.g. /slow?ms=2500) in flight all the
 * time, until STOPFILE exists and at least MIN requests were made, or LIMIT
 * seconds passed. Every answer must be a 2xx; the first line of each body
 * (the fixture app's "SITE VERSION") is counted, so a test sees which
 * releases answered during the load.
 *
 * libcurl, like browsers, sends a request again on a fresh connection when
 * a reused one turns out to be closed before any byte of an answer came
 * (RFC 9112 §9.3.1); "reconnects" counts the connections made beyond the
 * first of each client.
 *
 *   load [-c CLIENTS] [-S SLOW] [-s SLOWPATH] [-H HOST] [-k CAFILE]
 *        [-r HOST:PORT:ADDR] [-n MIN] [-b BODIES] [-t LIMIT] URL STOPFILE
 *
 * Prints one line: total=N ok=N failed=N slow_ok=N slow_failed=N
 * reconnects=N bodies={...} errors={...}. Exits 0 when nothing failed, at
 * least MIN requests were made and at least BODIES distinct bodies were
 * seen (default 1), else 1; 2 for bad usage.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "common/clock.h"

#define KINDS		16	/* distinct bodies, and distinct errors */
#define KIND_LEN	64
#define CLIENTS_MAX	256

struct tally {
	char	name[KINDS][KIND_LEN];
	long	count[KINDS];
};

static struct {
	const char	*url, *slowurl, *stop, *cafile;
	char		 host[300];
	struct curl_slist *resolve;
	long		 min, limit_ms;
	uint64_t	 end;
	pthread_mutex_t	 lock;
	long		 ok, failed, slow_ok, slow_failed, reconnects;
	struct tally	 bodies, errors;
} L;

static void
tally_add(struct tally *t, const char *name)
{
	int	i;

	for (i = 0; i < KINDS && t->name[i][0] != '\0'; i++)
		if (strcmp(t->name[i], name) == 0)
			break;
	if (i == KINDS)
		i = KINDS - 1;	/* the last slot takes the rest */
	if (t->name[i][0] == '\0')
		snprintf(t->name[i], KIND_LEN, "%s", name);
	t->count[i]++;
}

static int
tally_n(const struct tally *t)
{
	int	i;

	for (i = 0; i < KINDS && t->name[i][0] != '\0'; i++)
		;
	return i;
}

static void
tally_print(const char *label, const struct tally *t)
{
	int	i;

	printf(" %s={", label);
	for (i = 0; i < KINDS && t->name[i][0] != '\0'; i++)
		printf("%s\"%s\":%ld", i ? "," : "", t->name[i], t->count[i]);
	printf("}");
}

struct answer {
	char	line[KIND_LEN];
	size_t	len;
	int	done;	/* the first line is complete */
};

static size_t
on_body(char *p, size_t size, size_t n, void *arg)
{
	struct answer	*a = arg;
	size_t		 i;

	for (i = 0; i < size * n && !a->done; i++) {
		if (p[i] == '\n' || p[i] == '\r' || a->len == KIND_LEN - 1)
			a->done = 1;
		else if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '"')
			a->line[a->len++] = p[i];
	}
	return size * n;
}

static int
stopping(void)
{
	int	n;

	if (clock_ms() >= L.end)
		return 1;
	pthread_mutex_lock(&L.lock);
	n = L.ok + L.failed;
	pthread_mutex_unlock(&L.lock);
	return n >= L.min && access(L.stop, F_OK) == 0;
}

static void *
client(void *arg)
{
	const int		 slow = arg != NULL;
	CURL			*h;
	struct curl_slist	*hdrs = NULL;
	struct answer		 a;
	char			 hh[320], why[KIND_LEN];
	long			 status, conns, first = 1;
	CURLcode		 rc;

	if ((h = curl_easy_init()) == NULL)
		return NULL;
	if (L.host[0] != '\0') {
		snprintf(hh, sizeof hh, "Host: %s", L.host);
		hdrs = curl_slist_append(NULL, hh);
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	}
	curl_easy_setopt(h, CURLOPT_URL, slow ? L.slowurl : L.url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROXY, "");
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, slow ? 30000L : 10000L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &a);
	if (L.resolve != NULL)
		curl_easy_setopt(h, CURLOPT_RESOLVE, L.resolve);
	if (L.cafile != NULL)
		curl_easy_setopt(h, CURLOPT_CAINFO, L.cafile);
	while (!stopping()) {
		memset(&a, 0, sizeof a);
		rc = curl_easy_perform(h);
		status = 0;
		conns = 0;
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
		curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &conns);
		pthread_mutex_lock(&L.lock);
		L.reconnects += conns - (first && conns > 0);
		first = 0;
		if (rc == CURLE_OK && status >= 200 && status < 300) {
			slow ? L.slow_ok++ : L.ok++;
			tally_add(&L.bodies, a.line);
		} else {
			slow ? L.slow_failed++ : L.failed++;
			if (rc != CURLE_OK)
				snprintf(why, sizeof why, "%s",
				    curl_easy_strerror(rc));
			else
				snprintf(why, sizeof why, "HTTP %ld", status);
			tally_add(&L.errors, why);
		}
		pthread_mutex_unlock(&L.lock);
	}
	curl_easy_cleanup(h);
	curl_slist_free_all(hdrs);
	return NULL;
}

static void
usage(void)
{
	fprintf(stderr, "usage: load [-c CLIENTS] [-S SLOW] [-s SLOWPATH] "
	    "[-H HOST] [-k CAFILE]\n            [-r HOST:PORT:ADDR] [-n MIN] "
	    "[-b BODIES] [-t LIMIT] URL STOPFILE\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	pthread_t	 th[CLIENTS_MAX * 2];
	const char	*slowpath = "/slow?ms=2500";
	char		 slowurl[1024];
	long		 clients = 8, slow = 1, bodies = 1, i, n = 0;
	int		 ch, good;

	L.min = 1;
	L.limit_ms = 120000;
	while ((ch = getopt(argc, argv, "c:S:s:H:k:r:n:b:t:")) != -1) {
		switch (ch) {
		case 'c':
			clients = strtol(optarg, NULL, 10);
			break;
		case 'S':
			slow = strtol(optarg, NULL, 10);
			break;
		case 's':
			slowpath = optarg;
			break;
		case 'H':
			snprintf(L.host, sizeof L.host, "%s", optarg);
			break;
		case 'k':
			L.cafile = optarg;
			break;
		case 'r':
			L.resolve = curl_slist_append(L.resolve, optarg);
			break;
		case 'n':
			L.min = strtol(optarg, NULL, 10);
			break;
		case 'b':
			bodies = strtol(optarg, NULL, 10);
			break;
		case 't':
			L.limit_ms = strtol(optarg, NULL, 10) * 1000;
			break;
		default:
			usage();
		}
	}
	if (argc - optind != 2 || clients < 1 || clients > CLIENTS_MAX ||
	    slow < 0 || slow > CLIENTS_MAX || L.limit_ms <= 0)
		usage();
	L.url = argv[optind];
	L.stop = argv[optind + 1];
	/* The slow path on the same scheme, host and port as URL. */
	{
		const char *p = strstr(L.url, "://");
		size_t k = p != NULL ? (size_t)(p + 3 - L.url) +
		    strcspn(p + 3, "/") : strlen(L.url);

		snprintf(slowurl, sizeof slowurl, "%.*s%s", (int)k, L.url,
		    slowpath);
		L.slowurl = slowurl;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		return 2;
	pthread_mutex_init(&L.lock, NULL);
	L.end = clock_ms() + (uint64_t)L.limit_ms;
	for (i = 0; i < clients; i++)
		if (pthread_create(&th[n], NULL, client, NULL) == 0)
			n++;
	for (i = 0; i < slow; i++)
		if (pthread_create(&th[n], NULL, client, (void *)1) == 0)
			n++;
	for (i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	good = L.failed == 0 && L.slow_failed == 0 && L.ok >= L.min &&
	    tally_n(&L.bodies) >= bodies && (slow == 0 || L.slow_ok > 0);
	printf("total=%ld ok=%ld failed=%ld slow_ok=%ld slow_failed=%ld "
	    "reconnects=%ld", L.ok + L.failed, L.ok, L.failed, L.slow_ok,
	    L.slow_failed, L.reconnects);
	tally_print("bodies", &L.bodies);
	tally_print("errors", &L.errors);
	printf("%s\n", clock_ms() >= L.end ? " limit=reached" : "");
	curl_slist_free_all(L.resolve);
	curl_global_cleanup();
	return good ? 0 : 1;
}
