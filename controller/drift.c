/*
 * drift.c: what serves, as the agents see it, and healing it. A thread
 * keeps one watch request (agent/watch.c) open on every host that serves
 * a container site's current release, over its persistent session; the
 * agent says when a site's serving container dies, vanishes, turns
 * unhealthy, or the proxy's upstream stops accepting. Each change is kept
 * here (tug site list and site status show it), logged and audited.
 *
 * A site with heal (the default) gets its serving release redeployed on
 * that host, through the whole deploy sequence under the site's lease, as
 * one more deployment of the release: after 1 s, then 2, 4, 8 and 16 s
 * while it stays broken, and no more once HEAL_MAX tries have failed until
 * the site serves again or is deployed. A site stopped with tug stop is
 * never healed.
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

#define DRIFT_TICK_MS		250
#define DRIFT_HOSTS_EVERY_MS	2000	/* which hosts to watch, from the db */
#define DRIFT_RETRY_MS		30000	/* a host whose agent refused watch */
#define DRIFT_MAX		4096	/* (site, host) pairs remembered */
#define HEAL_FIRST_MS		1000
#define HEAL_MAX		5

struct watch {
	char		 host[HOST_NAME_MAX_TUG + 1];
	struct host	*h;
	struct hreq	*r;
	uint64_t	 retry_at;	/* refused: not again before */
	int		 wanted;	/* still serves a site */
};

static struct {
	pthread_mutex_t		 lock;
	struct drift_state	*v;
	size_t			 n;
	struct watch		*w;
	size_t			 nw;
	uint64_t		 heal_first_ms;
} D = { PTHREAD_MUTEX_INITIALIZER, NULL, 0, NULL, 0, HEAL_FIRST_MS };

static int
drift_bad(const char *state)
{
	return strcmp(state, "ok") != 0 && strcmp(state, "stopped") != 0;
}

/* The record of (site, host), made when missing; D.lock held. */
static struct drift_state *
state_of(const char *site, const char *host)
{
	size_t	i;

	for (i = 0; i < D.n; i++)
		if (strcmp(D.v[i].site, site) == 0 &&
		    strcmp(D.v[i].host, host) == 0)
			return &D.v[i];
	if (D.n == DRIFT_MAX)
		return NULL;
	D.v = xrealloc(D.v, (D.n + 1) * sizeof *D.v);
	memset(&D.v[D.n], 0, sizeof D.v[D.n]);
	snprintf(D.v[D.n].site, sizeof D.v[D.n].site, "%s", site);
	snprintf(D.v[D.n].host, sizeof D.v[D.n].host, "%s", host);
	return &D.v[D.n++];
}

size_t
drift_of_site(const char *site, struct drift_state **out)
{
	size_t	i, n = 0;

	pthread_mutex_lock(&D.lock);
	*out = xcalloc(D.n + 1, sizeof **out);
	for (i = 0; i < D.n; i++)
		if (strcmp(D.v[i].site, site) == 0)
			(*out)[n++] = D.v[i];
	pthread_mutex_unlock(&D.lock);
	return n;
}

void
drift_encode(struct enc *e, const struct drift_state *d)
{
	enc_map_open(e);
	enc_kstr(e, "host", d->host);
	enc_ki64(e, "release", d->release);
	enc_kstr(e, "state", d->state);
	if (d->why[0] != '\0')
		enc_kstr(e, "why", d->why);
	enc_ki64(e, "since", (int64_t)d->since);
	enc_ku64(e, "heals", d->heals);
	if (d->heal_error[0] != '\0')
		enc_kstr(e, "heal_error", d->heal_error);
	enc_kbool(e, "gave_up", d->gave_up);
	enc_close(e);
}

static void
drift_audit(const char *site, const char *host, const char *op,
    int64_t release, const char *state, const char *result)
{
	char	target[160], args[256];

	snprintf(target, sizeof target, "site:%s,host:%s", site, host);
	snprintf(args, sizeof args, "{\"release\":%lld,\"state\":\"%s\"}",
	    (long long)release, state);
	audit_add("tugd", "drift", op, target, args, 1, result);
}

/* An EVENT of a host's watch: a site's state there changed. */
static void
watch_event(void *arg, struct host *h, struct msg *m)
{
	struct drift_state	*d;
	struct mv		 b;
	char			 err[MSG_ERRLEN], kind[16], site[SITE_NAME_MAX + 1];
	char			 state[16], why[160] = "", was[16] = "";
	char			 result[400];
	int64_t			 rel = 0;
	int			 bad;

	(void)arg;
	msg_body(m, &b, err, "");
	if (mv_str(&b, "kind", kind, sizeof kind, MV_REQ) != 1 ||
	    strcmp(kind, "drift") != 0 ||
	    mv_str(&b, "site", site, sizeof site, MV_REQ) != 1 ||
	    check_site_name(site) != NULL ||
	    mv_str(&b, "state", state, sizeof state, MV_REQ) != 1 ||
	    mv_i64(&b, "release", &rel, 0) == -1)
		return;
	mv_str(&b, "why", why, sizeof why, 0);
	bad = drift_bad(state);
	pthread_mutex_lock(&D.lock);
	if ((d = state_of(site, host_name(h))) == NULL) {
		pthread_mutex_unlock(&D.lock);
		return;
	}
	snprintf(was, sizeof was, "%s", d->state);
	if (strcmp(was, state) == 0 && d->release == rel) {
		pthread_mutex_unlock(&D.lock);
		return;
	}
	d->release = rel;
	snprintf(d->state, sizeof d->state, "%s", state);
	snprintf(d->why, sizeof d->why, "%s", why);
	d->since = time(NULL);
	if (bad && !d->healing && !d->gave_up && d->heal_at == 0)
		d->heal_at = clock_ms() + D.heal_first_ms;
	if (!bad) {
		d->heal_at = 0;
		d->heals = 0;
		d->gave_up = 0;
		d->heal_error[0] = '\0';
	}
	pthread_mutex_unlock(&D.lock);

	/* The first word of a watch, all well, is not news. */
	if (!bad && (was[0] == '\0' || !drift_bad(was)))
		return;
	if (bad) {
		snprintf(result, sizeof result, "release %lld %s: %s",
		    (long long)rel, state, why);
		log_warnx("%s: site %s: %s", host_name(h), site, result);
	} else {
		snprintf(result, sizeof result, "release %lld %s again "
		    "(was %s)", (long long)rel, state, was);
		log_info("%s: site %s: %s", host_name(h), site, result);
	}
	drift_audit(site, host_name(h), "drift", rel, state, result);
}

/* Heals' requests: nobody reads their frames. */
static int
sink_send(void *arg, const struct buf *f)
{
	(void)arg;
	(void)f;
	return 0;
}

static const struct req_sink heal_sink = { "heal", sink_send, NULL, NULL };

struct heal {
	char	site[SITE_NAME_MAX + 1];
	char	host[HOST_NAME_MAX_TUG + 1];
};

/*
 * The serving release again on the host: 1 done, 0 nothing to heal (the
 * site heals no more, or is gone), -1 failed; why in err.
 */
static int
heal_run(const struct heal *hl, int64_t *rel, char *err, size_t errsz)
{
	int			 r = 0;
	struct site_rec		 rec;
	struct release_rec	 rel_;
	struct site_spec	 s;
	struct rollout_plan	 plan = { 0 };
	struct req		 rq;
	char			 perr[600], note[512], *p;

	*rel = 0;
	err[0] = '\0';
	if (site_load(hl->site, &rec) != 1) {
		snprintf(err, errsz, "site %s is gone", hl->site);
		return 0;
	}
	if (rec.current == 0 || release_load(rec.id, rec.current, &rel_) != 1) {
		snprintf(err, errsz, "site %s has no serving release",
		    hl->site);
		site_rec_free(&rec);
		return 0;
	}
	*rel = rel_.number;
	if (spec_parse(rec.file, rel_.spec, strlen(rel_.spec), &s, perr,
	    sizeof perr) == -1) {
		snprintf(err, errsz, "release %lld's spec no longer parses: %s",
		    (long long)rel_.number, perr);
		r = -1;
	} else if (s.kind != KIND_CONTAINER || !s.heal)
		snprintf(err, errsz, "release %lld does not heal",
		    (long long)rel_.number);
	else {
		acme_fill(&s);
		snprintf(note, sizeof note, "healing %s on %s: release %lld "
		    "(%s) again", rec.name, hl->host, (long long)rel_.number,
		    rel_.image);
		plan.spec = &s;
		plan.spec_text = rel_.spec;
		plan.image = rel_.image;
		plan.step = "heal";
		plan.note = note;
		plan.heal_host = hl->host;
		req_init(&rq, &heal_sink, NULL);
		snprintf(rq.user, sizeof rq.user, "tugd");
		snprintf(rq.peer, sizeof rq.peer, "drift");
		rollout_release(&rq, &rec, &plan);
		snprintf(err, errsz, "%s", rq.error);
		for (p = err; *p != '\0'; p++)
			if (*p == '\n')
				*p = p[1] != '\0' ? ';' : '\0';
		r = err[0] == '\0' ? 1 : -1;
		req_release(&rq);
	}
	spec_free(&s);
	release_rec_free(&rel_);
	site_rec_free(&rec);
	return r;
}

static void *
heal_main(void *arg)
{
	struct heal		*hl = arg;
	struct drift_state	*d;
	char			 err[REQ_ERRLEN], result[REQ_ERRLEN + 64];
	int64_t			 rel;
	uint64_t		 t0 = clock_ms();
	int			 r, gave_up = 0;

	log_info("%s: healing site %s", hl->host, hl->site);
	r = heal_run(hl, &rel, err, sizeof err);
	pthread_mutex_lock(&D.lock);
	if ((d = state_of(hl->site, hl->host)) != NULL) {
		d->healing = 0;
		if (r != 0)
			d->heals++;
		snprintf(d->heal_error, sizeof d->heal_error, "%s",
		    r == -1 ? err : "");
		if (r != -1)
			d->heal_at = 0;		/* the watch says how it went */
		else if (d->heals >= HEAL_MAX) {
			d->gave_up = gave_up = 1;
			d->heal_at = 0;
		} else
			d->heal_at = clock_ms() + (D.heal_first_ms << d->heals);
	}
	pthread_mutex_unlock(&D.lock);
	if (r == 0) {
		log_debug("%s: site %s: no heal: %s", hl->host, hl->site, err);
		free(hl);
		return NULL;
	}
	if (r == 1)
		snprintf(result, sizeof result, "redeployed release %lld in "
		    "%llu ms", (long long)rel,
		    (unsigned long long)(clock_ms() - t0));
	else
		snprintf(result, sizeof result, "failed: %s%s", err,
		    gave_up ? " (giving up)" : "");
	log_info("%s: site %s: heal %s", hl->host, hl->site, result);
	drift_audit(hl->site, hl->host, "heal", rel, "healing", result);
	free(hl);
	return NULL;
}

/* Start the heals that are due; D.lock held. */
static void
heals_due(uint64_t now)
{
	struct drift_state	*d;
	struct heal		*hl;
	pthread_t		 t;
	size_t			 i;

	for (i = 0; i < D.n; i++) {
		d = &D.v[i];
		if (d->heal_at == 0 || d->heal_at > now || d->healing ||
		    !drift_bad(d->state))
			continue;
		hl = xcalloc(1, sizeof *hl);
		snprintf(hl->site, sizeof hl->site, "%s", d->site);
		snprintf(hl->host, sizeof hl->host, "%s", d->host);
		d->healing = 1;
		d->heal_at = 0;
		if (pthread_create(&t, NULL, heal_main, hl) != 0) {
			d->healing = 0;
			d->heal_at = now + 1000;
			free(hl);
			continue;
		}
		pthread_detach(t);
	}
}

/* Open a watch on each host that serves a site; end those no more. */
static void
watches_update(uint64_t now, char **hosts, size_t nh)
{
	struct host_info	 hi;
	struct watch		*w;
	size_t			 i, k;

	for (i = 0; i < D.nw; i++)
		D.w[i].wanted = 0;
	for (k = 0; k < nh; k++) {
		for (i = 0; i < D.nw; i++)
			if (strcmp(D.w[i].host, hosts[k]) == 0)
				break;
		if (i == D.nw) {
			D.w = xrealloc(D.w, (D.nw + 1) * sizeof *D.w);
			memset(&D.w[D.nw], 0, sizeof *D.w);
			snprintf(D.w[D.nw].host, sizeof D.w[0].host, "%s",
			    hosts[k]);
			D.nw++;
		}
		D.w[i].wanted = 1;
	}
	for (i = 0; i < D.nw; ) {
		w = &D.w[i];
		if (w->r != NULL && hreq_done(w->r)) {
			struct msg	m;
			char		err[MSG_ERRLEN];

			/* An agent without watch, or one that went away. */
			if (hreq_wait(w->r, 0, &m, err) == 0 &&
			    m.type == MSG_ERROR)
				w->retry_at = now + DRIFT_RETRY_MS;
			msg_release(&m);
			hreq_free(w->r);
			w->r = NULL;
		}
		if (!w->wanted) {
			if (w->r != NULL) {
				hreq_cancel(w->r);	/* ends, then freed */
				i++;
				continue;
			}
			if (w->h != NULL)
				host_unref(w->h);
			D.w[i] = D.w[--D.nw];
			continue;
		}
		if (w->r == NULL && now >= w->retry_at) {
			if (w->h == NULL)
				w->h = fleet_get(w->host);
			if (w->h != NULL) {
				host_info(w->h, &hi);
				if (hi.state == H_UP)
					w->r = hreq_start(w->h, "watch", NULL,
					    NULL, watch_event, NULL);
				host_info_free(&hi);
			}
		}
		i++;
	}
}

static void *
drift_main(void *arg)
{
	char		**hosts = NULL;
	size_t		  nh = 0;
	uint64_t	  now, next_hosts = 0;

	(void)arg;
	for (;;) {
		now = clock_ms();
		if (now >= next_hosts) {
			free_names(hosts, nh);
			hosts = NULL;
			nh = 0;
			if (serving_hosts(&hosts, &nh) == -1)
				nh = 0;
			next_hosts = now + DRIFT_HOSTS_EVERY_MS;
		}
		pthread_mutex_lock(&D.lock);
		watches_update(now, hosts, nh);
		heals_due(now);
		pthread_mutex_unlock(&D.lock);
		sleep_ms(DRIFT_TICK_MS);
	}
	return NULL;
}

void
drift_start(void)
{
	pthread_t	t;

	/* For the tests: how soon the first heal. */
	D.heal_first_ms = env_u64("TUG_HEAL_FIRST_MS", HEAL_FIRST_MS, 1,
	    600000);
	if (pthread_create(&t, NULL, drift_main, NULL) != 0)
		fatal("cannot start the drift thread");
	pthread_detach(t);
}
