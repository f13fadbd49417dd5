/*
 * renew.c: tugd's certificate renewal (DESIGN §6 "Automatic HTTPS"). A
 * thread asks the hosts of every tls-auto site, over their persistent
 * sessions, to renew what ends within RENEW_DAYS (the agent's cert.renew;
 * a certificate with more left costs nothing, not even a word to the CA).
 * A failure keeps the serving certificate, is audited, is shown by tug
 * cert list, and is tried again with a doubling backoff.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "controller/request.h"
#include "controller/tug.h"

#define RENEW_DAYS		30
#define RENEW_CHECK_S		43200	/* twice a day */
#define RENEW_RETRY_S		300	/* the first retry; doubles */
#define RENEW_RETRY_MAX_S	86400
#define RENEW_TIMEOUT_MS	240000
#define RENEW_MAX		4096	/* (site, host) pairs remembered */

static struct {
	pthread_mutex_t		 lock;
	struct renew_state	*v;
	size_t			 n;
	uint64_t		 days;
	uint64_t		 check_s;
	uint64_t		 retry_s;
} R = { PTHREAD_MUTEX_INITIALIZER, NULL, 0, RENEW_DAYS, RENEW_CHECK_S,
    RENEW_RETRY_S };

/* The record of (site, host), made when missing; R.lock held. */
static struct renew_state *
state_of(const char *site, const char *host)
{
	size_t	i;

	for (i = 0; i < R.n; i++)
		if (strcmp(R.v[i].site, site) == 0 &&
		    strcmp(R.v[i].host, host) == 0)
			return &R.v[i];
	if (R.n == RENEW_MAX)
		return NULL;
	R.v = xrealloc(R.v, (R.n + 1) * sizeof *R.v);
	memset(&R.v[R.n], 0, sizeof R.v[R.n]);
	snprintf(R.v[R.n].site, sizeof R.v[R.n].site, "%s", site);
	snprintf(R.v[R.n].host, sizeof R.v[R.n].host, "%s", host);
	return &R.v[R.n++];
}

int
renew_state_get(const char *site, const char *host, struct renew_state *out)
{
	struct renew_state	*st;
	int			 r = 0;

	pthread_mutex_lock(&R.lock);
	for (st = R.v; st < R.v + R.n; st++)
		if (strcmp(st->site, site) == 0 && strcmp(st->host, host) == 0) {
			*out = *st;
			r = 1;
			break;
		}
	pthread_mutex_unlock(&R.lock);
	return r;
}

/* Requests of the scheduler: nobody reads their frames. */
static int
sink_send(void *arg, const struct buf *f)
{
	(void)arg;
	(void)f;
	return 0;
}

static const struct req_sink renew_sink = { "renew", sink_send, NULL, NULL };

/* What one host said, kept, audited, and its next try set. */
static void
renew_record(const char *site, const struct fan_result *r, time_t now)
{
	struct renew_state	*st;
	struct mv		 b, v;
	char			 tmp[MSG_ERRLEN], serial[128] = "", target[160];
	char			 result[700];
	int			 renewed = 0, skipped = 0;

	if (r->ok) {
		msg_body((struct msg *)&r->m, &b, tmp, "");
		mv_map(&b, "value", &v, 0);
		mv_bool(&v, "renewed", &renewed, 0);
		skipped = mv_present(&v, "skipped");
		if (mv_map(&v, "cert", &b, 0) == 1)
			mv_str(&b, "serial", serial, sizeof serial, 0);
	}
	pthread_mutex_lock(&R.lock);
	if ((st = state_of(site, r->host)) != NULL) {
		st->tried_at = now;
		st->ok = r->ok;
		if (r->ok) {
			st->fails = 0;
			st->error[0] = '\0';
			st->next_at = now + (time_t)R.check_s;
			if (renewed)
				st->renewed_at = now;
		} else {
			uint64_t	back = R.retry_s;

			st->fails++;
			for (int k = 1; k < st->fails && back < RENEW_RETRY_MAX_S;
			    k++)
				back *= 2;
			if (back > RENEW_RETRY_MAX_S)
				back = RENEW_RETRY_MAX_S;
			st->next_at = now + (time_t)back;
			snprintf(st->error, sizeof st->error, "%s", r->err);
		}
	}
	pthread_mutex_unlock(&R.lock);
	if (skipped || (r->ok && !renewed))
		return;
	snprintf(target, sizeof target, "site:%s,host:%s", site, r->host);
	if (r->ok)
		snprintf(result, sizeof result, "renewed: serial %s", serial);
	else
		snprintf(result, sizeof result, "renewal failed: %s", r->err);
	audit_add("tugd", "renewal", "cert.renew", target, "{}", 1, result);
	if (r->ok)
		log_info("%s: certificate of %s renewed, serial %s", r->host,
		    site, serial);
	else
		log_warnx("%s: certificate of %s not renewed: %s", r->host,
		    site, r->err);
}

/* One pass: every tls-auto site's hosts that are due. */
static void
renew_pass(void)
{
	struct site_rec		*sites = NULL;
	struct acme_conf	 ac;
	size_t			 ns = 0, i, k;
	time_t			 now = time(NULL);

	if (sites_load(&sites, &ns) == -1)
		return;
	acme_load(&ac);
	for (i = 0; i < ns; i++) {
		struct site_spec	 s;
		struct fan_result	*res;
		struct cert_args	 ca;
		struct req		 rq;
		char			 err[600], **hosts = NULL, **due;
		size_t			 n = 0, nd = 0;

		/* Not deployed yet: nothing serves a certificate of it. */
		if (sites[i].current == 0)
			continue;
		if (spec_parse(sites[i].file,
		    sites[i].spec, strlen(sites[i].spec), &s, err,
		    sizeof err) == -1) {
			spec_free(&s);
			continue;
		}
		req_init(&rq, &renew_sink, NULL);
		snprintf(rq.user, sizeof rq.user, "tugd");
		if (strcmp(s.tls_mode, "off") == 0 || s.tls_cert[0] != '\0' ||
		    site_targets(&rq, &s, &hosts, &n) == -1) {
			req_release(&rq);
			spec_free(&s);
			continue;
		}
		due = xcalloc(n + 1, sizeof *due);
		pthread_mutex_lock(&R.lock);
		for (k = 0; k < n; k++) {
			struct renew_state *st = state_of(s.site, hosts[k]);

			if (st == NULL || st->next_at <= now)
				due[nd++] = hosts[k];
		}
		pthread_mutex_unlock(&R.lock);
		if (nd > 0) {
			ca.site = s.site;
			ca.ac = &ac;
			ca.days = R.days;
			res = xcalloc(nd + 1, sizeof *res);
			fleet_run(&rq, due, nd, "cert.renew", acme_cert_args,
			    &ca, RENEW_TIMEOUT_MS, res);
			for (k = 0; k < nd; k++)
				renew_record(s.site, &res[k], now);
			fan_results_free(res, nd);
			free(res);
		}
		free(due);
		free_names(hosts, n);
		req_release(&rq);
		spec_free(&s);
	}
	acme_conf_free(&ac);
	for (i = 0; i < ns; i++)
		site_rec_free(&sites[i]);
	free(sites);
}

static void *
renew_main(void *arg)
{
	(void)arg;
	/* Let the fleet's sessions come up first. */
	sleep(R.check_s < 10 ? (unsigned)R.check_s : 10);
	/*
	 * A pass asks only the (site, host) pairs that are due, so waking
	 * often costs a read of the sites table and finds a new site soon.
	 */
	for (;;) {
		renew_pass();
		sleep(R.check_s < 10 ? (unsigned)R.check_s : 10);
	}
	return NULL;
}

uint64_t
env_u64(const char *name, uint64_t def, uint64_t min, uint64_t max)
{
	const char		*v = getenv(name);
	char			*end;
	unsigned long long	 u;

	if (v == NULL || *v == '\0')
		return def;
	u = strtoull(v, &end, 10);
	if (*end != '\0' || u < min || u > max)
		fatalx("%s: a number from %llu to %llu", name,
		    (unsigned long long)min, (unsigned long long)max);
	return u;
}

void
renew_start(void)
{
	pthread_t	t;

	/* For the tests: how often, how early, how soon again. */
	R.check_s = env_u64("TUG_RENEW_CHECK_S", RENEW_CHECK_S, 1, 604800);
	R.days = env_u64("TUG_RENEW_DAYS", RENEW_DAYS, 1, 3650);
	R.retry_s = env_u64("TUG_RENEW_RETRY_S", RENEW_RETRY_S, 1, 86400);
	if (pthread_create(&t, NULL, renew_main, NULL) != 0)
		fatal("cannot start the renewal thread");
	pthread_detach(t);
}
