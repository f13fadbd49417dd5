/*
 * agent-logs.c: the logs op. Reads a site container's log stream from
 * Docker (tail N, optionally following), splits Docker's multiplexed frames
 * into stdout and stderr lines, and sends them in batches as EVENT frames
 * carrying a per-stream sequence number. A CANCEL ends it cleanly.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "agent/agent.h"
#include "common/clock.h"
#include "common/xmalloc.h"

#define LOG_BATCH_BYTES		(64u << 10)	/* flush a batch past this */
#define LOG_LINE_MAX		(64u << 10)	/* longer lines are split */
#define LOG_HOLD_MS		10	/* a busy stream's batches wait this long */

struct logs_args {
	char		site[SITE_NAME_MAX + 1];
	uint64_t	release;	/* 0: the serving one */
	uint64_t	tail;
	int		tail_all;
	uint64_t	since;
	int		follow;
	int		out, err;
	int		timestamps;
	int		compress;
};

struct lstream {
	const char	*name;
	struct buf	 partial;	/* a line without its '\n' yet */
	struct enc	 e;
	int		 open;
	uint64_t	 seq;		/* lines sent before this batch */
	uint64_t	 nbatch;	/* lines in this batch */
};

struct logs {
	struct job	*job;
	struct logs_args *a;
	unsigned char	 hdr[8];
	size_t		 nhdr;
	size_t		 left;		/* payload bytes of the current frame */
	int		 which;		/* 0 stdout, 1 stderr */
	struct lstream	 s[2];
	uint64_t	 bytes;
	uint64_t	 sent_ms;	/* clock_ms of the last flush */
	int		 broken;
};

static int
logs_check(struct job *j)
{
	struct logs_args	*a = xcalloc(1, sizeof *a);
	char			 tail[16];
	int			 r;

	j->priv = a;
	a->tail = 100;
	a->out = a->err = 1;
	if (job_check_name(j, "site", a->site, sizeof a->site) == -1 ||
	    mv_u64(&j->args, "release", &a->release, 0) == -1 ||
	    mv_u64(&j->args, "since", &a->since, 0) == -1 ||
	    mv_bool(&j->args, "follow", &a->follow, 0) == -1 ||
	    mv_bool(&j->args, "stdout", &a->out, 0) == -1 ||
	    mv_bool(&j->args, "stderr", &a->err, 0) == -1 ||
	    mv_bool(&j->args, "timestamps", &a->timestamps, 0) == -1 ||
	    mv_bool(&j->args, "compress", &a->compress, 0) == -1)
		return -1;
	/* tail: a count, or "all". */
	if ((r = mv_str(&j->args, "tail", tail, sizeof tail, 0)) == 1) {
		if (strcmp(tail, "all") != 0) {
			snprintf(j->err, sizeof j->err, "args.tail: a count "
			    "or \"all\"");
			return -1;
		}
		a->tail_all = 1;
	} else if (mv_u64(&j->args, "tail", &a->tail, 0) == -1)
		return -1;
	j->err[0] = '\0';
	if (!a->out && !a->err) {
		snprintf(j->err, sizeof j->err, "neither stdout nor stderr "
		    "asked for");
		return -1;
	}
	return 0;
}

static void
logs_free(struct job *j)
{
	free(j->priv);
	j->priv = NULL;
}

static void
batch_flush(struct logs *l, struct lstream *s)
{
	if (!s->open)
		return;
	enc_close(&s->e);		/* lines */
	if (agent_send(&s->e, l->a->compress) == -1)
		l->broken = 1;
	s->open = 0;
	s->seq += s->nbatch;
	s->nbatch = 0;
}

/*
 * Both streams' batches, stdout first: so the two always cover the same
 * stretch of Docker's stream, and a controller that has the stdout batch of
 * a later stretch has every line of the earlier ones.
 */
static void
batches_flush(struct logs *l)
{
	batch_flush(l, &l->s[0]);
	batch_flush(l, &l->s[1]);
	l->sent_ms = clock_ms();
}

static void
batch_line(struct logs *l, struct lstream *s, const char *p, size_t n)
{
	if (s->open && enc_size(&s->e) + n + 16 > LOG_BATCH_BYTES)
		batches_flush(l);
	if (!s->open) {
		enc_begin(&s->e, MSG_EVENT, l->job->id);
		enc_kstr(&s->e, "kind", "log");
		enc_kstr(&s->e, "stream", s->name);
		enc_ku64(&s->e, "seq", s->seq);
		enc_karr(&s->e, "lines");
		s->open = 1;
	}
	enc_bin(&s->e, p, n);
	s->nbatch++;
}

/*
 * Payload bytes of one stream: complete lines go out, the rest waits. A
 * line longer than LOG_LINE_MAX goes out in pieces of that size.
 */
static void
stream_bytes(struct logs *l, struct lstream *s, const char *p, size_t n)
{
	const char	*nl;
	size_t		 seg, room;

	while (n > 0) {
		nl = memchr(p, '\n', n);
		seg = nl != NULL ? (size_t)(nl - p) : n;
		room = LOG_LINE_MAX - s->partial.len;
		if (seg > room) {
			buf_add(&s->partial, p, room);
			batch_line(l, s, s->partial.ptr, s->partial.len);
			buf_reset(&s->partial);
			p += room;
			n -= room;
			continue;
		}
		if (nl == NULL) {
			buf_add(&s->partial, p, n);
			return;
		}
		if (s->partial.len > 0) {
			buf_add(&s->partial, p, seg);
			batch_line(l, s, s->partial.ptr, s->partial.len);
			buf_reset(&s->partial);
		} else
			batch_line(l, s, p, seg);
		p += seg + 1;
		n -= seg + 1;
	}
}

/* curl hands us Docker's stream: [type,0,0,0,size:u32be] payload ... */
static size_t
logs_write(char *p, size_t size, size_t n, void *arg)
{
	struct logs	*l = arg;
	size_t		 total = size * n, left = total;

	l->bytes += total;
	while (left > 0) {
		if (l->left == 0) {
			size_t k = 8 - l->nhdr < left ? 8 - l->nhdr : left;

			memcpy(l->hdr + l->nhdr, p, k);
			l->nhdr += k;
			p += k;
			left -= k;
			if (l->nhdr < 8)
				break;
			l->nhdr = 0;
			l->which = l->hdr[0] == 2 ? 1 : 0;
			l->left = (size_t)l->hdr[4] << 24 |
			    (size_t)l->hdr[5] << 16 | (size_t)l->hdr[6] << 8 |
			    l->hdr[7];
			continue;
		}
		{
			size_t k = l->left < left ? l->left : left;

			stream_bytes(l, &l->s[l->which], p, k);
			p += k;
			left -= k;
			l->left -= k;
		}
	}
	return l->broken ? 0 : total;
}

/*
 * After each burst read from Docker: a line after a quiet spell goes out at
 * once, so a follower sees it as soon as it came; while lines keep coming,
 * what is batched goes out every LOG_HOLD_MS (or when a batch is full), so
 * a fast stream travels in large frames (curl may hand over each HTTP
 * chunk, often one line, in a call of its own). Returns how long input may
 * gather before the next call, or -1 when nothing waits.
 */
static int
logs_burst(void *arg)
{
	struct logs	*l = arg;
	uint64_t	 since;

	if (!l->s[0].open && !l->s[1].open)
		return -1;
	since = clock_ms() - l->sent_ms;
	if (since >= LOG_HOLD_MS) {
		batches_flush(l);
		return -1;
	}
	return (int)(LOG_HOLD_MS - since);
}

/* The container to read: the release asked for, else the serving one. */
static int
logs_container(struct job *j, const struct logs_args *a, char *id,
    size_t idsz)
{
	struct journal	 jr;
	json_t		*arr, *it;
	char		 err[MSG_ERRLEN];
	uint64_t	 want = a->release, best = 0;
	size_t		 i;

	if (want == 0 && journal_read(a->site, &jr) == 1)
		want = jr.current;
	if ((arr = owner_site_containers(j, a->site, err)) == NULL)
		return job_failed(j, E_DOCKER, "%s", err);
	id[0] = '\0';
	json_array_foreach(arr, i, it) {
		const char *rs = json_string_value(json_object_get(
		    json_object_get(it, "Labels"), "tug.release"));
		uint64_t r = rs != NULL ? strtoull(rs, NULL, 10) : 0;

		if ((want != 0 && r == want) || (want == 0 && r > best)) {
			best = r;
			snprintf(id, idsz, "%s", json_string_value(
			    json_object_get(it, "Id")) ?: "");
			if (want != 0)
				break;
		}
	}
	json_decref(arr);
	if (id[0] == '\0') {
		if (a->release != 0)
			return job_failed(j, E_NOT_FOUND, "site '%s' has no "
			    "release %llu on this host", a->site,
			    (unsigned long long)a->release);
		return job_failed(j, E_NOT_FOUND, "site '%s' has no container "
		    "on this host", a->site);
	}
	return 0;
}

static void
logs_run(struct job *j)
{
	struct logs_args	*a = j->priv;
	struct logs		 l;
	struct dcall		 c;
	struct enc		 e;
	char			 id[80], tail[24];
	int			 r, k;

	if (logs_container(j, a, id, sizeof id) == -1)
		return;
	memset(&l, 0, sizeof l);
	l.job = j;
	l.a = a;
	l.s[0].name = "stdout";
	l.s[1].name = "stderr";
	for (k = 0; k < 2; k++)
		buf_init(&l.s[k].partial, LOG_LINE_MAX + 1);
	if (a->tail_all)
		snprintf(tail, sizeof tail, "all");
	else
		snprintf(tail, sizeof tail, "%llu",
		    (unsigned long long)a->tail);
	dcall_init(&c, "GET", "/containers/%s/logs?stdout=%d&stderr=%d"
	    "&follow=%d&timestamps=%d&tail=%s&since=%llu", id, a->out, a->err,
	    a->follow, a->timestamps, tail, (unsigned long long)a->since);
	c.writefn = logs_write;
	c.writearg = &l;
	c.burstfn = logs_burst;
	c.cancel = &j->cancelled;
	c.timeout_ms = 0;
	r = docker_call(&c);
	/* A last line without '\n' still counts. */
	for (k = 0; k < 2 && !j->cancelled; k++)
		if (l.s[k].partial.len > 0)
			batch_line(&l, &l.s[k], l.s[k].partial.ptr,
			    l.s[k].partial.len);
	batches_flush(&l);
	for (k = 0; k < 2; k++) {
		buf_release(&l.s[k].partial);
		if (l.s[k].open)
			enc_release(&l.s[k].e);
	}
	if (r == -1 && !j->cancelled) {
		job_fail(j, E_DOCKER, "%s", c.err);
	} else if (r == 0 && (c.status < 200 || c.status > 299)) {
		job_fail(j, c.status == 404 ? E_NOT_FOUND : E_DOCKER,
		    "logs: %s", docker_message(&c));
	} else {
		/* Cancelled or ended: both are a clean end of the stream. */
		job_result_begin(j, &e);
		enc_ku64(&e, "stdout_lines", l.s[0].seq);
		enc_ku64(&e, "stderr_lines", l.s[1].seq);
		enc_ku64(&e, "bytes", l.bytes);
		enc_kbool(&e, "cancelled", j->cancelled);
		job_ok(j, &e);
	}
	dcall_release(&c);
}

const struct op op_logs = { "logs", OP_STREAM, logs_check, logs_run,
    logs_free };
