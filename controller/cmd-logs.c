/*
 * cmd-logs.c: the logs op, a site's container logs from all its hosts at
 * once. Every host's agent streams its lines with Docker's timestamps.
 * Without follow they are merged by time as they come: a line goes out
 * once no host can still send an older one. With follow they go out as
 * they come, and a host whose session drops (or whose container ends) is
 * asked again from the last timestamp it delivered, the lines already
 * delivered dropped. A client that goes away or sends CANCEL cancels the
 * job on every agent.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
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

#define LOGS_MEM_MAX		(256u << 20)	/* line bytes held, all hosts */
#define LOGS_HOLD_MAX		(16u << 20)	/* held per request, all hosts */
#define LOGS_SHARE_MIN		(1u << 20)	/* ... at least this much a host */
#define LOGS_EVENT_BYTES	(64u << 10)	/* one EVENT to the client */
#define LOGS_TS_MAX		40		/* Docker's timestamp and a space */
#define LOGS_RETRY_MIN_MS	500
#define LOGS_RETRY_MAX_MS	8000
#define LOGS_RETRIES		3		/* without follow, per host */
#define LOGS_TIMEOUT_MS		(10u * 60 * 1000)	/* without follow */
#define LOGS_CANCEL_MS		5000		/* agents confirm a cancel */
#define LOGS_TAIL_MAX		1000000000ULL

enum { S_OUT, S_ERR };
static const char *const stream_names[] = { "stdout", "stderr" };

/* A point in time as Docker writes it: seconds and nanoseconds. */
struct lts {
	int64_t		 sec;
	uint32_t	 nsec;
};

/* One line held by tugd: its bytes (timestamp first) are in a host's text. */
struct lrec {
	int64_t		 sec;
	uint32_t	 nsec;
	uint32_t	 len;		/* with the timestamp */
	size_t		 off;
	uint32_t	 order;		/* arrival, to keep ties stable */
	uint8_t		 tslen;		/* timestamp bytes, 0 if none */
	uint8_t		 stream;
};

struct logs;

struct lhost {
	struct logs	*l;
	char		 name[HOST_NAME_MAX_TUG + 1];
	struct host	*h;		/* referenced */
	struct hreq	*r;		/* the request running, or NULL */

	/* What the running request asks for, and which lines it keeps. */
	int		 again;		/* tail all, since from.sec */
	int		 filter;	/* drop lines before from */
	struct lts	 from;
	uint64_t	 skip;		/* and so many at exactly from */
	uint64_t	 seq[2];	/* next log seq of each stream */
	uint64_t	 started_lines;

	/* What was delivered: where to resume from. */
	struct lts	 last;		/* the newest line's time */
	uint64_t	 at_last;	/* lines delivered at exactly last */
	int		 have_last;
	struct lts	 prev;		/* of the line before, for untimed ones */

	/*
	 * Lines not sent yet (under l->lock). The first nsafe are sorted and
	 * final: no later line of this host is older than bound, the newest
	 * of them. dead bytes of text belong to lines already taken.
	 */
	struct lrec	*recs;
	size_t		 nrecs;
	size_t		 arecs;
	size_t		 nsafe;
	struct lts	 bound;
	int		 have_bound;
	struct buf	 text;
	size_t		 dead;
	uint32_t	 order;

	uint64_t	 lines, bytes, wire, docker_bytes;
	uint64_t	 retry_at;	/* clock_ms of the next request, 0 none */
	uint64_t	 backoff;
	int		 tries;
	int		 ended;		/* no request runs or will */
	/*
	 * Back-pressure: a host holding more than its share of LOGS_HOLD_MAX
	 * drops what comes (full), its request is cancelled (cancelled), and
	 * it is asked again from its last line once it holds half as much.
	 */
	int		 full;
	int		 cancelled;
	int		 told;		/* the client heard of its trouble */
	char		 err[512];
};

struct logs {
	struct req	*rq;
	char		 site[SITE_NAME_MAX + 1];
	int		 tail_all;
	uint64_t	 tail;
	uint64_t	 release;	/* 0: the serving one */
	struct lts	 since;		/* 0: none */
	int		 follow;
	int		 timestamps;
	int		 compress;
	int		 stats;
	struct lts	 start;		/* tugd's clock when asked */
	uint64_t	 t0;
	struct lhost	*hosts;
	size_t		 n;
	int		 wake[2];	/* host threads to the client thread */
	pthread_mutex_t	 lock;
	pthread_cond_t	 room;
	size_t		 held;		/* bytes in all hosts' text */
	int		 over;		/* LOGS_MEM_MAX reached */
	int		 gone;		/* stopping: host threads drop lines */
	int		 dead;		/* the client cannot be written to */
	int		 cancelled;	/* the client left or sent CANCEL */
};

/* --- time ------------------------------------------------------------- */

static int
digits(const char *p, size_t n, int *v)
{
	size_t	i;

	*v = 0;
	for (i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		*v = *v * 10 + (p[i] - '0');
	}
	return 0;
}

/*
 * An RFC 3339 time at p ("2026-11-23T08:00:00.123456789Z", a fraction of
 * up to 9 digits, Z or +hh:mm): its length, or 0 if p holds none. The
 * seconds of the last date and time seen are cached in *cache_key/sec.
 */
static size_t
ts_parse(const char *p, size_t n, struct lts *t, char cache_key[20],
    int64_t *cache_sec)
{
	struct tm	tm;
	size_t		i;
	int		v, k, hh, mm;
	uint32_t	ns = 0;

	if (n < 20 || p[4] != '-' || p[7] != '-' || p[10] != 'T' ||
	    p[13] != ':' || p[16] != ':')
		return 0;
	if (memcmp(cache_key, p, 19) != 0) {
		memset(&tm, 0, sizeof tm);
		if (digits(p, 4, &v) == -1 || v < 1970)
			return 0;
		tm.tm_year = v - 1900;
		if (digits(p + 5, 2, &tm.tm_mon) == -1 || tm.tm_mon < 1 ||
		    tm.tm_mon > 12 || digits(p + 8, 2, &tm.tm_mday) == -1 ||
		    tm.tm_mday < 1 || tm.tm_mday > 31 ||
		    digits(p + 11, 2, &tm.tm_hour) == -1 || tm.tm_hour > 23 ||
		    digits(p + 14, 2, &tm.tm_min) == -1 || tm.tm_min > 59 ||
		    digits(p + 17, 2, &tm.tm_sec) == -1 || tm.tm_sec > 60)
			return 0;
		tm.tm_mon--;
		memcpy(cache_key, p, 19);
		*cache_sec = (int64_t)timegm(&tm);
	}
	t->sec = *cache_sec;
	i = 19;
	if (i < n && p[i] == '.') {
		for (i++, k = 0; i < n && p[i] >= '0' && p[i] <= '9'; i++, k++)
			if (k < 9)
				ns = ns * 10 + (uint32_t)(p[i] - '0');
		if (k == 0)
			return 0;
		for (; k < 9; k++)
			ns *= 10;
	}
	t->nsec = ns;
	if (i < n && p[i] == 'Z')
		return i + 1;
	if (i + 6 > n || (p[i] != '+' && p[i] != '-') || p[i + 3] != ':' ||
	    digits(p + i + 1, 2, &hh) == -1 || digits(p + i + 4, 2, &mm) == -1)
		return 0;
	t->sec += (p[i] == '+' ? -1 : 1) * (int64_t)(hh * 3600 + mm * 60);
	return i + 6;
}

static int
ts_cmp(const struct lts *a, const struct lts *b)
{
	if (a->sec != b->sec)
		return a->sec < b->sec ? -1 : 1;
	if (a->nsec != b->nsec)
		return a->nsec < b->nsec ? -1 : 1;
	return 0;
}

static void
ts_now(struct lts *t)
{
	struct timespec	ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	t->sec = ts.tv_sec;
	t->nsec = (uint32_t)ts.tv_nsec;
}

/* --since: Unix seconds, a duration back from now, or an RFC 3339 time. */
static int
since_parse(const char *s, struct lts *t)
{
	char		 key[20] = "";
	int64_t		 sec = 0, at;
	uint64_t	 ms;
	char		*end;

	if (*s >= '0' && *s <= '9' && strspn(s, "0123456789") == strlen(s) &&
	    strlen(s) <= 12) {
		t->sec = (int64_t)strtoll(s, &end, 10);
		t->nsec = 0;
		return 0;
	}
	if (parse_duration(s, &ms) == 0) {
		ts_now(t);
		t->sec -= (int64_t)(ms / 1000);
		if (t->nsec < (ms % 1000) * 1000000) {
			t->sec--;
			t->nsec += 1000000000;
		}
		t->nsec -= (uint32_t)((ms % 1000) * 1000000);
		return t->sec > 0 ? 0 : -1;
	}
	if (ts_parse(s, strlen(s), t, key, &sec) == strlen(s) && t->sec > 0)
		return 0;
	/* What tug audit --since takes too: "2d", "2026-12-01[T08:00]". */
	if (parse_since(s, &at) == 0 && at > 0) {
		t->sec = at / 1000;
		t->nsec = (uint32_t)(at % 1000) * 1000000;
		return 0;
	}
	return -1;
}

/* --- lines from the agents (on the hosts' threads) ------------------- */

static int
lines_room(struct logs *l, size_t n)
{
	if (l->held + n > LOGS_MEM_MAX) {
		l->over = 1;
		return -1;
	}
	return 0;
}

static int
rec_cmp(const void *a, const void *b)
{
	const struct lrec	*x = a, *y = b;

	if (x->sec != y->sec)
		return x->sec < y->sec ? -1 : 1;
	if (x->nsec != y->nsec)
		return x->nsec < y->nsec ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

static void
recs_sort(struct lrec *v, size_t n)
{
	size_t	i;

	for (i = 1; i < n; i++)
		if (rec_cmp(&v[i - 1], &v[i]) > 0)
			break;
	if (i < n)
		qsort(v, n, sizeof *v, rec_cmp);
}

/*
 * Every line of a host held now is final: sorted in, and its time bounds
 * what the host can still send. The agent sends both streams' batches of
 * a stretch of Docker's stream together, stdout first, so this holds for
 * all lines before a stdout batch, and for all once a stderr batch (or
 * the end) came. l->lock held.
 */
static void
mark_safe(struct lhost *lh)
{
	struct lrec	*last;

	if (lh->nsafe == lh->nrecs)
		return;
	recs_sort(lh->recs + lh->nsafe, lh->nrecs - lh->nsafe);
	lh->nsafe = lh->nrecs;
	last = &lh->recs[lh->nrecs - 1];
	if (!lh->have_bound || last->sec > lh->bound.sec ||
	    (last->sec == lh->bound.sec && last->nsec > lh->bound.nsec)) {
		lh->bound.sec = last->sec;
		lh->bound.nsec = last->nsec;
	}
	lh->have_bound = 1;
}

/* One line of a host; l->lock held. */
static void
line_add(struct lhost *lh, int stream, const char *p, size_t n,
    char key[20], int64_t *keysec)
{
	struct logs	*l = lh->l;
	struct lrec	*rec;
	struct lts	 t;
	size_t		 tl;
	int		 c;

	tl = ts_parse(p, n < LOGS_TS_MAX ? n : LOGS_TS_MAX, &t, key, keysec);
	if (tl > 0 && tl < n && p[tl] == ' ')
		tl++;
	else {
		tl = 0;
		t = lh->prev;		/* no time: keep it where it came */
	}
	if (lh->filter && tl > 0) {
		if ((c = ts_cmp(&t, &lh->from)) < 0)
			return;
		if (c == 0 && lh->skip > 0) {
			lh->skip--;
			return;
		}
	}
	lh->prev = t;
	if (!lh->have_last || ts_cmp(&t, &lh->last) > 0) {
		lh->last = t;
		lh->at_last = 1;
		lh->have_last = 1;
	} else if (ts_cmp(&t, &lh->last) == 0)
		lh->at_last++;
	lh->lines++;
	lh->bytes += n - tl;
	if (l->over || lines_room(l, n) == -1)
		return;
	if (lh->nrecs == lh->arecs) {
		lh->arecs = lh->arecs == 0 ? 1024 : lh->arecs * 2;
		lh->recs = xrealloc(lh->recs, lh->arecs * sizeof *lh->recs);
	}
	rec = &lh->recs[lh->nrecs++];
	rec->sec = t.sec;
	rec->nsec = t.nsec;
	rec->len = (uint32_t)n;
	rec->off = lh->text.len;
	rec->order = lh->order++;
	rec->tslen = (uint8_t)(tl > 0 ? tl - 1 : 0);
	rec->stream = (uint8_t)stream;
	if (buf_add(&lh->text, p, n) == -1)
		fatalx("out of memory for log lines");
	l->held += n;
}

/* Bytes of lines a host holds; l->lock held. */
static size_t
host_held(const struct lhost *lh)
{
	return lh->text.len - lh->dead;
}

static size_t
host_share(const struct logs *l)
{
	size_t	share = LOGS_HOLD_MAX / (l->n > 0 ? l->n : 1);

	return share < LOGS_SHARE_MIN ? LOGS_SHARE_MIN : share;
}

/* EVENT {kind:"log", stream, seq, lines:[bin...]} from one agent. */
static void
logs_event(void *arg, struct host *h, struct msg *m)
{
	struct lhost	*lh = arg;
	struct logs	*l = lh->l;
	struct mv	 b;
	const void	*p;
	char		 err[MSG_ERRLEN], kind[16], stream[16], key[20] = "";
	int64_t		 keysec = 0;
	uint64_t	 seq;
	size_t		 n, i, len;
	int		 s;
	char		 c = 1;

	(void)h;
	msg_body(m, &b, err, "event");
	if (mv_str(&b, "kind", kind, sizeof kind, MV_REQ) != 1 ||
	    strcmp(kind, "log") != 0)
		return;
	if (mv_str(&b, "stream", stream, sizeof stream, MV_REQ) != 1 ||
	    mv_u64(&b, "seq", &seq, MV_REQ) != 1 ||
	    mv_arr(&b, "lines", &n, MSG_ARRAY_MAX, MV_REQ) != 1) {
		log_warnx("%s: a log event tugd cannot read: %s", lh->name,
		    err);
		return;
	}
	s = strcmp(stream, "stderr") == 0 ? S_ERR : S_OUT;
	if (seq != lh->seq[s])
		log_warnx("%s: %s lines %llu to %llu never came", lh->name,
		    stream_names[s], (unsigned long long)lh->seq[s],
		    (unsigned long long)seq);
	lh->seq[s] = seq + n;

	pthread_mutex_lock(&l->lock);
	/*
	 * Back-pressure that stalls neither this host's thread nor its other
	 * requests: past its share the host is full and drops all it gets
	 * until it is asked again, from the last line it kept.
	 */
	if (!lh->full && host_held(lh) > host_share(l))
		lh->full = 1;
	if (lh->full) {
		pthread_mutex_unlock(&l->lock);
		if (write(l->wake[1], &c, 1) == -1 && errno != EAGAIN)
			log_warn("logs wake");
		return;
	}
	if (s == S_OUT)
		mark_safe(lh);
	for (i = 0; i < n && !l->gone; i++)
		if (mv_arr_bin(&b, "lines", i, &p, &len) == 1)
			line_add(lh, s, p, len, key, &keysec);
	if (s == S_ERR)
		mark_safe(lh);
	pthread_mutex_unlock(&l->lock);
	if (write(l->wake[1], &c, 1) == -1 && errno != EAGAIN)
		log_warn("logs wake");
}

/* --- requests to the agents ------------------------------------------ */

static void
logs_args(struct enc *e, void *arg)
{
	struct lhost	*lh = arg;
	struct logs	*l = lh->l;

	enc_kstr(e, "site", l->site);
	if (lh->again) {
		enc_kstr(e, "tail", "all");
		enc_ku64(e, "since", (uint64_t)lh->from.sec);
	} else {
		if (l->tail_all)
			enc_kstr(e, "tail", "all");
		else
			enc_ku64(e, "tail", l->tail);
		if (l->since.sec > 0)
			enc_ku64(e, "since", (uint64_t)l->since.sec);
	}
	enc_kbool(e, "follow", l->follow);
	enc_kbool(e, "timestamps", 1);
	enc_kbool(e, "compress", l->compress);
	if (l->release > 0)
		enc_ku64(e, "release", l->release);
}

/*
 * Ask a host (again). The first time: what the user asked. Later, from
 * the last line delivered on: every line since its second, dropping those
 * before it and as many at exactly it as were delivered. A host that
 * delivered nothing yet is asked the same again, or with no tail, since
 * the request began.
 */
static void
host_ask(struct logs *l, struct lhost *lh)
{
	lh->again = lh->filter = 0;
	lh->skip = 0;
	if (l->since.sec > 0) {
		lh->filter = 1;
		lh->from = l->since;
	}
	if (lh->have_last) {
		lh->again = lh->filter = 1;
		lh->from = lh->last;
		lh->skip = lh->at_last;
	} else if (lh->tries > 0 && !l->tail_all && l->tail == 0) {
		lh->again = lh->filter = 1;
		if (ts_cmp(&l->start, &l->since) > 0)
			lh->from = l->start;
	}
	lh->seq[S_OUT] = lh->seq[S_ERR] = 0;
	lh->started_lines = lh->lines;
	lh->retry_at = 0;
	lh->tries++;
	lh->r = hreq_start(lh->h, "logs", logs_args, lh, logs_event, lh);
	hreq_notify(lh->r, l->wake[1]);
}

/* The agent's answer: "code: message" of a failure, in err. */
static int
result_ok(struct lhost *lh, struct msg *m, char *err, size_t errsz)
{
	struct mv	b, v, e;
	char		tmp[MSG_ERRLEN], msg[400] = "failed";
	int		ok = 0;
	uint64_t	bytes = 0;

	msg_body(m, &b, tmp, "");
	if (m->type == MSG_RESULT && mv_bool(&b, "ok", &ok, 0) == 1 && ok) {
		if (mv_map(&b, "value", &v, 0) == 1 &&
		    mv_u64(&v, "bytes", &bytes, 0) == 1)
			lh->docker_bytes += bytes;
		return 1;
	}
	if (m->type == MSG_ERROR)
		e = b;
	else if (mv_map(&b, "error", &e, 0) != 1)
		e.obj = NULL;
	if (e.obj != NULL)
		mv_str(&e, "message", msg, sizeof msg, 0);
	snprintf(err, errsz, "%s: %s", lh->name, msg);
	return 0;
}

/* A host's request ended: keep what it said, decide what comes next. */
static void
host_ended(struct logs *l, struct lhost *lh)
{
	struct msg	m;
	char		err[512];
	int		r, ok = 0, lost;

	r = hreq_wait(lh->r, clock_ms(), &m, err);
	lh->wire += hreq_wire_bytes(lh->r);
	hreq_free(lh->r);
	lh->r = NULL;
	if (lh->cancelled) {		/* full: asked again once it has room */
		msg_release(&m);
		return;
	}
	lost = r == -1;
	if (r == 0)
		ok = result_ok(lh, &m, err, sizeof err);
	msg_release(&m);
	if (ok) {
		lh->err[0] = '\0';
		lh->told = 0;
	}
	if (ok && !l->follow) {
		lh->ended = 1;
		return;
	}
	if (!ok)
		snprintf(lh->err, sizeof lh->err, "%s", err);
	if (!l->follow && (!lost || lh->tries >= LOGS_RETRIES)) {
		lh->ended = 1;
		return;
	}
	/* Again, later: from the last line on. */
	if (lh->lines > lh->started_lines)
		lh->backoff = LOGS_RETRY_MIN_MS;
	else
		lh->backoff = lh->backoff == 0 ? LOGS_RETRY_MIN_MS :
		    lh->backoff * 2 > LOGS_RETRY_MAX_MS ? LOGS_RETRY_MAX_MS :
		    lh->backoff * 2;
	lh->retry_at = clock_ms() + lh->backoff;
	if (ok) {
		log_info("%s: logs of %s ended; asking again", lh->name,
		    l->site);
		return;
	}
	log_info("%s; asking again in %llu ms", lh->err,
	    (unsigned long long)lh->backoff);
	if (!lh->told || lost) {
		req_progress(l->rq, lh->name, lost ? "reconnect" : "retry",
		    "%s; %s in %.1f s", lost ? "connection lost" : err,
		    lh->have_last ? "resuming from its last line" :
		    "asking again", (double)lh->backoff / 1000);
		lh->told = 1;
	}
}

/* --- to the client ---------------------------------------------------- */

static void
event_begin(struct logs *l, struct enc *e)
{
	req_event_begin(l->rq, e, "log");
	enc_karr(e, "lines");
}

static int
event_end(struct logs *l, struct enc *e)
{
	enc_close(e);
	if (req_event(l->rq, e) == -1) {
		l->dead = 1;
		return -1;
	}
	return 0;
}

/*
 * The lines held, every host's sorted and all merged by time, out to the
 * client in EVENTs of about 64 KiB; the hosts' buffers are emptied.
 */
static int
lines_flush(struct logs *l, struct lhost *hv, size_t n)
{
	struct enc	 e;
	size_t		*at = xcalloc(n, sizeof *at), i, best;
	int		 open = 0, r = 0;

	for (i = 0; i < n; i++)
		recs_sort(hv[i].recs, hv[i].nrecs);
	while (r == 0) {
		const struct lrec	*rec = NULL;
		const char		*p;

		for (i = 0, best = n; i < n; i++) {
			if (at[i] == hv[i].nrecs)
				continue;
			if (best == n || rec_cmp(&hv[i].recs[at[i]],
			    &hv[best].recs[at[best]]) < 0)
				best = i;
		}
		if (best == n)
			break;
		rec = &hv[best].recs[at[best]++];
		p = hv[best].text.ptr + rec->off;
		if (!open) {
			event_begin(l, &e);
			open = 1;
		}
		enc_map_open(&e);
		enc_kstr(&e, "host", hv[best].name);
		enc_kstr(&e, "stream", stream_names[rec->stream]);
		if (rec->tslen > 0) {
			enc_str(&e, "time");
			enc_strn(&e, p, rec->tslen);
		}
		enc_str(&e, "line");
		enc_bin(&e, p + (rec->tslen > 0 ? rec->tslen + 1 : 0),
		    rec->len - (rec->tslen > 0 ? rec->tslen + 1u : 0u));
		enc_close(&e);
		if (enc_size(&e) >= LOGS_EVENT_BYTES) {
			r = event_end(l, &e);
			open = 0;
		}
	}
	if (open) {
		if (r == 0)
			r = event_end(l, &e);
		else
			enc_release(&e);
	}
	free(at);
	for (i = 0; i < n; i++) {
		free(hv[i].recs);
		hv[i].recs = NULL;
		hv[i].nrecs = hv[i].arecs = 0;
		buf_release(&hv[i].text);
	}
	return r;
}

/* Lines before w (at or after it: none) are final on every host. 0: none. */
static int
watermark(struct logs *l, struct lts *w)
{
	size_t	i;
	int	any = 0;

	w->sec = INT64_MAX;
	w->nsec = 0;
	for (i = 0; i < l->n; i++) {
		struct lhost *lh = &l->hosts[i];

		if (lh->ended)
			continue;
		if (!lh->have_bound)
			return 0;
		if (!any || ts_cmp(&lh->bound, w) < 0)
			*w = lh->bound;
		any = 1;
	}
	return 1;
}

/* Rewrite a host's text without the bytes of lines already taken. */
static void
host_compact(struct lhost *lh)
{
	struct buf	t;
	size_t		i;

	buf_init(&t, 0);
	for (i = 0; i < lh->nrecs; i++) {
		struct lrec *rec = &lh->recs[i];

		if (buf_add(&t, lh->text.ptr + rec->off, rec->len) == -1)
			fatalx("out of memory for log lines");
		rec->off = t.len - rec->len;
	}
	buf_release(&lh->text);
	lh->text = t;
	lh->dead = 0;
}

/* A host's first k lines into hv (empty); l->lock held. */
static void
host_take(struct logs *l, struct lhost *lh, struct lhost *hv, size_t k)
{
	size_t	i, bytes = 0;

	if (k == lh->nrecs) {		/* all of them: hand the buffers over */
		hv->recs = lh->recs;
		hv->nrecs = lh->nrecs;
		hv->arecs = lh->arecs;
		hv->text = lh->text;
		l->held -= lh->text.len - lh->dead;
		lh->recs = NULL;
		lh->nrecs = lh->arecs = lh->nsafe = lh->dead = 0;
		buf_init(&lh->text, 0);
		return;
	}
	hv->recs = xcalloc(k, sizeof *hv->recs);
	hv->nrecs = hv->arecs = k;
	buf_init(&hv->text, 0);
	for (i = 0; i < k; i++) {
		hv->recs[i] = lh->recs[i];
		hv->recs[i].off = hv->text.len;
		if (buf_add(&hv->text, lh->text.ptr + lh->recs[i].off,
		    lh->recs[i].len) == -1)
			fatalx("out of memory for log lines");
		bytes += lh->recs[i].len;
	}
	memmove(lh->recs, lh->recs + k, (lh->nrecs - k) * sizeof *lh->recs);
	lh->nrecs -= k;
	lh->nsafe -= k;
	lh->dead += bytes;
	l->held -= bytes;
	if (lh->dead > lh->text.len / 2)
		host_compact(lh);
}

/*
 * Out to the client: the lines that are final on every host and older
 * than what any host can still send, merged, so that the output is in time
 * order while it streams; with all (a follow, or the end), every line.
 */
static int
lines_out(struct logs *l, int all)
{
	struct lhost	*hv = xcalloc(l->n, sizeof *hv);
	struct lts	 w;
	size_t		 i, k, limit, any = 0;
	int		 r = 0;

	pthread_mutex_lock(&l->lock);
	if (!all && !watermark(l, &w))
		goto out;
	for (i = 0; i < l->n; i++) {
		struct lhost *lh = &l->hosts[i];

		snprintf(hv[i].name, sizeof hv[i].name, "%s", lh->name);
		if (all || lh->ended)
			mark_safe(lh);
		limit = all ? lh->nrecs : lh->nsafe;
		for (k = 0; k < limit; k++) {
			struct lts t = { lh->recs[k].sec, lh->recs[k].nsec };

			if (!all && ts_cmp(&t, &w) > 0)
				break;
		}
		if (k > 0)
			host_take(l, lh, &hv[i], k);
		any += k;
	}
	pthread_cond_broadcast(&l->room);
out:
	pthread_mutex_unlock(&l->lock);
	if (any > 0)
		r = lines_flush(l, hv, l->n);
	free(hv);
	return r;
}

static void
start_event(struct logs *l)
{
	struct enc	e;
	size_t		i;

	req_event_begin(l->rq, &e, "log.start");
	enc_kstr(&e, "site", l->site);
	enc_kbool(&e, "follow", l->follow);
	enc_kbool(&e, "timestamps", l->timestamps);
	enc_karr(&e, "hosts");
	for (i = 0; i < l->n; i++)
		enc_str(&e, l->hosts[i].name);
	enc_close(&e);
	if (req_event(l->rq, &e) == -1)
		l->dead = 1;
}

/* --- the op ------------------------------------------------------------ */

static int
parse_args(struct req *rq, struct mv *args, struct logs *l, char *host,
    size_t hostsz)
{
	char		 tail[32] = "", since[64] = "", site[SITE_NAME_MAX + 8];
	char		 esc[128];
	const char	*why;
	int		 nocomp = 0, r;
	char		*end;

	if (mv_str(args, "site", site, sizeof site, MV_REQ) != 1 ||
	    mv_str(args, "since", since, sizeof since, 0) == -1 ||
	    mv_str(args, "host", host, hostsz, 0) == -1 ||
	    mv_bool(args, "follow", &l->follow, 0) == -1 ||
	    mv_bool(args, "timestamps", &l->timestamps, 0) == -1 ||
	    mv_bool(args, "no_compress", &nocomp, 0) == -1 ||
	    mv_bool(args, "stats", &l->stats, 0) == -1 ||
	    mv_u64(args, "release", &l->release, 0) == -1) {
		req_fail(rq, E_BAD_ARGS, "%s", args->err);
		return -1;
	}
	if ((why = check_site_name(site)) != NULL) {
		req_fail(rq, E_BAD_ARGS, "invalid site name '%s': %s",
		    log_escape(esc, sizeof esc, site, strlen(site)), why);
		return -1;
	}
	snprintf(l->site, sizeof l->site, "%s", site);
	l->compress = !nocomp;
	if (host[0] != '\0' && (why = check_host_name(host)) != NULL) {
		req_fail(rq, E_BAD_ARGS, "invalid host name '%s': %s",
		    log_escape(esc, sizeof esc, host, strlen(host)), why);
		return -1;
	}
	/* tail: a count or "all", as a string (the CLI) or a number. */
	l->tail = 100;
	if ((r = mv_u64(args, "tail", &l->tail, 0)) == 1)
		snprintf(tail, sizeof tail, "%llu",
		    (unsigned long long)l->tail);
	else if (r == -1 && (r = mv_str(args, "tail", tail, sizeof tail,
	    0)) == 1) {
		if (strcmp(tail, "all") == 0)
			l->tail_all = 1;
		else if (tail[0] < '0' || tail[0] > '9')
			r = -1;
		else {
			errno = 0;
			l->tail = strtoull(tail, &end, 10);
			if (*end != '\0' || errno != 0)
				r = -1;
		}
	}
	if (r == -1 || l->tail > LOGS_TAIL_MAX) {
		req_fail(rq, E_BAD_ARGS, "invalid --tail '%s': a number of "
		    "lines (at most %llu) or 'all'", log_escape(esc, sizeof esc,
		    tail, strlen(tail)), LOGS_TAIL_MAX);
		return -1;
	}
	if (since[0] != '\0' && since_parse(since, &l->since) == -1) {
		req_fail(rq, E_BAD_ARGS, "invalid --since '%s': a Unix time, "
		    "a duration back from now (90s, 10m, 2h, 2d), a UTC date "
		    "(2026-11-23, 2026-11-23T08:00) or an RFC 3339 time "
		    "(2026-11-23T08:00:00.5Z)", log_escape(esc, sizeof esc,
		    since, strlen(since)));
		return -1;
	}
	return 0;
}

/* The hosts to ask: all of the site's, or the one named. */
static int
pick_hosts(struct req *rq, struct logs *l, const struct site_spec *s,
    const char *only)
{
	char	**names;
	size_t	  n, i;

	if (site_targets(rq, s, &names, &n) == -1)
		return -1;
	l->hosts = xcalloc(n, sizeof *l->hosts);
	for (i = 0; i < n; i++) {
		if (only[0] != '\0' && strcmp(names[i], only) != 0)
			continue;
		snprintf(l->hosts[l->n].name, sizeof l->hosts[l->n].name, "%s",
		    names[i]);
		l->n++;
	}
	if (l->n == 0) {
		struct buf	all = BUF_INIT;

		for (i = 0; i < n; i++)
			buf_addf(&all, "%s%s", i > 0 ? ", " : "", names[i]);
		req_fail(rq, E_NOT_FOUND, "site '%s' does not run on host "
		    "'%s' (its hosts: %s)", l->site, only, buf_str(&all));
		buf_release(&all);
	}
	free_names(names, n);
	return l->n > 0 ? 0 : -1;
}

static void
logs_release(struct logs *l)
{
	size_t	i;

	for (i = 0; i < l->n; i++) {
		struct lhost *lh = &l->hosts[i];

		if (lh->r != NULL)
			hreq_free(lh->r);
		if (lh->h != NULL)
			host_unref(lh->h);
		free(lh->recs);
		buf_release(&lh->text);
	}
	free(l->hosts);
	if (l->wake[0] != -1) {
		close(l->wake[0]);
		close(l->wake[1]);
	}
	pthread_mutex_destroy(&l->lock);
	pthread_cond_destroy(&l->room);
}

/* How long poll() may sleep: until the next host is due, at most 1 s. */
static int
next_wait(struct logs *l, uint64_t deadline)
{
	uint64_t	now = clock_ms(), until = now + 1000;
	size_t		i;

	if (!l->follow && deadline < until)
		until = deadline;
	for (i = 0; i < l->n; i++)
		if (l->hosts[i].retry_at != 0 && l->hosts[i].retry_at < until)
			until = l->hosts[i].retry_at;
	return until > now ? (int)(until - now) : 0;
}

/*
 * A full host's request is cancelled; once the host holds half its share
 * it is asked again, from its last line on (host_ask), as after a lost
 * connection: nothing is lost, nothing comes twice.
 */
static void
host_room(struct logs *l, struct lhost *lh)
{
	size_t	held;
	int	full;

	pthread_mutex_lock(&l->lock);
	full = lh->full;
	held = host_held(lh);
	pthread_mutex_unlock(&l->lock);
	if (!full)
		return;
	if (lh->r != NULL && !lh->cancelled) {
		log_info("%s: logs of %s: %zu bytes wait for the client; "
		    "pausing this host", lh->name, l->site, held);
		hreq_cancel(lh->r);
		lh->cancelled = 1;
		return;
	}
	if (lh->r == NULL && held <= host_share(l) / 2) {
		pthread_mutex_lock(&l->lock);
		lh->full = 0;
		pthread_mutex_unlock(&l->lock);
		lh->cancelled = 0;
		lh->tries = 0;
		host_ask(l, lh);
	}
}

/* Every host's request to its end, the client's side watched meanwhile. */
static void
logs_loop(struct logs *l)
{
	uint64_t	deadline = clock_ms() + LOGS_TIMEOUT_MS;
	size_t		i, live;
	char		drain[256];
	int		over;

	for (;;) {
		struct pollfd	pfd[2] = {
			{ req_wait_fd(l->rq), POLLIN, 0 }, { l->wake[0], POLLIN, 0 }
		};

		if (poll(pfd, 2, next_wait(l, deadline)) == -1 &&
		    errno != EINTR) {
			log_warn("logs: poll");
			break;
		}
		if ((pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) &&
		    req_cancelled(l->rq)) {
			l->cancelled = 1;
			break;
		}
		if (pfd[1].revents & POLLIN)
			while (read(l->wake[0], drain, sizeof drain) > 0)
				;
		for (i = live = 0; i < l->n; i++) {
			struct lhost *lh = &l->hosts[i];

			host_room(l, lh);
			if (lh->r != NULL && hreq_done(lh->r))
				host_ended(l, lh);
			if (lh->r == NULL && lh->retry_at != 0 &&
			    clock_ms() >= lh->retry_at)
				host_ask(l, lh);
			live += !lh->ended;
		}
		if (lines_out(l, l->follow) == -1)
			break;		/* the client went away */
		pthread_mutex_lock(&l->lock);
		over = l->over;
		pthread_mutex_unlock(&l->lock);
		if (over || live == 0)
			break;
		if (!l->follow && clock_ms() >= deadline) {
			for (i = 0; i < l->n; i++)
				if (!l->hosts[i].ended)
					snprintf(l->hosts[i].err, sizeof
					    l->hosts[i].err, "%s: its logs did "
					    "not end within %u s",
					    l->hosts[i].name,
					    LOGS_TIMEOUT_MS / 1000);
			break;
		}
	}
}

/* Cancel what still runs on the agents and wait for them to confirm. */
static void
logs_stop(struct logs *l)
{
	uint64_t	deadline = clock_ms() + LOGS_CANCEL_MS;
	struct msg	m;
	char		err[512];
	size_t		i;

	pthread_mutex_lock(&l->lock);
	l->gone = 1;			/* no host thread waits for room */
	pthread_cond_broadcast(&l->room);
	pthread_mutex_unlock(&l->lock);
	for (i = 0; i < l->n; i++)
		if (l->hosts[i].r != NULL)
			hreq_cancel(l->hosts[i].r);
	for (i = 0; i < l->n; i++) {
		struct lhost *lh = &l->hosts[i];

		if (lh->r == NULL)
			continue;
		if (hreq_wait(lh->r, deadline, &m, err) == 0)
			result_ok(lh, &m, err, sizeof err);
		else
			log_info("%s: no answer to the cancel: %s", lh->name,
			    err);
		msg_release(&m);
		lh->wire += hreq_wire_bytes(lh->r);
		hreq_free(lh->r);
		lh->r = NULL;
	}
}

static void
logs_result(struct logs *l)
{
	struct enc	 e;
	struct buf	 errs = BUF_INIT;
	uint64_t	 lines = 0, bytes = 0, wire = 0, docker = 0;
	size_t		 i, bad = 0;

	for (i = 0; i < l->n; i++) {
		struct lhost *lh = &l->hosts[i];

		if (lh->err[0] != '\0' && !l->follow && !l->cancelled) {
			buf_addf(&errs, "%s\n", lh->err);
			bad++;
		}
	}
	if (l->over) {
		req_fail(l->rq, E_TOO_LARGE, "the logs of site '%s' are over "
		    "%u MiB: ask for fewer with --tail or --since, or follow "
		    "them with -f", l->site, LOGS_MEM_MAX >> 20);
		buf_release(&errs);
		return;
	}
	if (bad > 0) {
		req_fail(l->rq, "partial", "%slogs failed on %zu of %zu "
		    "host%s", buf_str(&errs), bad, l->n, l->n == 1 ? "" : "s");
		buf_release(&errs);
		return;
	}
	buf_release(&errs);
	req_result_begin(l->rq, &e);
	enc_kstr(&e, "site", l->site);
	enc_karr(&e, "hosts");
	for (i = 0; i < l->n; i++) {
		struct lhost *lh = &l->hosts[i];

		enc_map_open(&e);
		enc_kstr(&e, "host", lh->name);
		enc_ku64(&e, "lines", lh->lines);
		enc_ku64(&e, "bytes", lh->bytes);
		enc_ku64(&e, "wire_bytes", lh->wire);
		enc_ku64(&e, "docker_bytes", lh->docker_bytes);
		enc_ku64(&e, "requests", (uint64_t)lh->tries);
		/* A follower's trouble counts until lines come again. */
		if (lh->err[0] != '\0' && lh->lines == lh->started_lines)
			enc_kstr(&e, "error", lh->err);
		enc_close(&e);
		lines += lh->lines;
		bytes += lh->bytes;
		wire += lh->wire;
		docker += lh->docker_bytes;
	}
	enc_close(&e);
	enc_ku64(&e, "lines", lines);
	enc_ku64(&e, "bytes", bytes);
	enc_ku64(&e, "wire_bytes", wire);
	enc_ku64(&e, "docker_bytes", docker);
	enc_kbool(&e, "compress", l->compress);
	enc_kbool(&e, "cancelled", l->cancelled);
	enc_kbool(&e, "stats", l->stats);
	enc_ku64(&e, "elapsed_ms", clock_ms() - l->t0);
	req_ok(l->rq, &e);
}

void
cmd_logs(struct req *rq, struct mv *args)
{
	struct logs		 l;
	struct site_rec		 rec;
	struct site_spec	 s;
	char			 only[HOST_NAME_MAX_TUG + 8] = "";
	size_t			 i;

	memset(&l, 0, sizeof l);
	l.rq = rq;
	l.t0 = clock_ms();
	l.wake[0] = l.wake[1] = -1;
	pthread_mutex_init(&l.lock, NULL);
	pthread_cond_init(&l.room, NULL);
	ts_now(&l.start);
	if (parse_args(rq, args, &l, only, sizeof only) == -1 ||
	    site_open(rq, args, &rec, &s) == -1) {
		logs_release(&l);
		return;
	}
	if (pick_hosts(rq, &l, &s, only) == -1)
		goto out;
	if (pipe2(l.wake, O_NONBLOCK | O_CLOEXEC) == -1) {
		req_fail(rq, E_INTERNAL, "pipe: %s", strerror(errno));
		goto out;
	}
	start_event(&l);
	for (i = 0; i < l.n; i++) {
		struct lhost *lh = &l.hosts[i];

		lh->l = &l;
		buf_init(&lh->text, 0);
		if ((lh->h = fleet_get(lh->name)) == NULL) {
			snprintf(lh->err, sizeof lh->err, "%s: no such host",
			    lh->name);
			lh->ended = 1;
			continue;
		}
		host_ask(&l, lh);
	}
	logs_loop(&l);
	logs_stop(&l);
	if (!l.follow && !l.cancelled && !l.over && !l.dead)
		lines_out(&l, 1);
	logs_result(&l);
out:
	logs_release(&l);
	site_rec_free(&rec);
	spec_free(&s);
}
