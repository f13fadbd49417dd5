/*
 * fleet.c: tugd's connections to its hosts. Each host has one thread that
 * owns its libssh session and the agent channel on it (libssh wants one
 * thread per session), connects eagerly, reconnects with backoff, bootstraps
 * the agent when this build's binary is missing there, and routes frames by
 * request id. Requesters queue a request and wait on it; a bounded number of
 * handshakes run at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <libssh/libssh.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "controller/request.h"
#include "controller/tug.h"

#define BACKOFF_MIN_MS		500
#define BACKOFF_MAX_MS		30000
#define SENTINEL_MAX		65536
#define HELLO_TIMEOUT_MS	15000
#define DATA_BACKLOG		(4u << 20)	/* bytes queued for one host */
#define DATA_CHUNK		(256u << 10)	/* bytes per channel write */
#define DATA_STALL_MS		20000	/* no byte taken for this long: stuck */
#define PING_IDLE_MS		5000	/* silent with a request out: ping */
#define PING_WAIT_MS		20000	/* and nothing since the ping: gone */

struct hreq {
	uint64_t	 id;
	uint64_t	 data_seq;	/* next DATA frame's seq */
	struct host	*h;
	struct buf	 frame;		/* the REQUEST, ready to send */
	hreq_event_cb	 cb;
	void		*arg;
	int		 sent;
	int		 done;
	int		 in_cb;
	int		 cancel_sent;
	int		 notify_fd;	/* written to when it ends, or -1 */
	uint64_t	 wire_bytes;	/* frame bytes received for it */
	uint64_t	 sent_ms;
	uint64_t	 done_ms;
	struct msg	 final;
	char		 err[512];
	struct hreq	*next;
};

struct host {
	struct host_rec	 rec;
	int		 refs;
	int		 removed;
	pthread_t	 thread;
	pthread_mutex_t	 lock;
	pthread_cond_t	 cond;
	enum host_state	 state;
	char		 error[512];
	json_t		*facts;		/* the HELLO's, parsed once; or NULL */
	uint64_t	 connected_ms;
	int		 wake[2];
	struct hreq	*reqs;
	struct buf	 ctl;		/* CANCEL frames waiting to go out */
	uint64_t	 writing;	/* when the write under way began, or 0 */
	uint64_t	 next_id;
	uint64_t	 backoff;
	uint64_t	 next_try;
	int		 kick;
	struct host	*next;		/* in its bucket of fleet.table */
};

/*
 * The hosts, by name: a hash table of chains, grown as hosts are added,
 * so that finding one of N hosts costs the same whatever N is.
 */
static struct {
	pthread_mutex_t	 lock;
	pthread_cond_t	 cond;
	struct host	**table;
	size_t		  nbuckets;	/* a power of two, or 0 */
	size_t		  n;
	int		  handshakes;
	int		  max_handshakes;
} fleet = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, 0, 0,
    0, 8 };

void
fleet_init(int max_handshakes)
{
	fleet.max_handshakes = max_handshakes > 0 ? max_handshakes : 8;
}

const char *
host_name(const struct host *h)
{
	return h->rec.name;
}

/* FNV-1a of a host name. */
static size_t
name_hash(const char *s)
{
	uint64_t	x = 14695981039346656037ULL;

	for (; *s != '\0'; s++)
		x = (x ^ (unsigned char)*s) * 1099511628211ULL;
	return (size_t)x;
}

/* The link that points at the host of this name, or at the chain's NULL. */
static struct host **
fleet_slot(const char *name)
{
	struct host	**pp;

	if (fleet.nbuckets == 0)
		return NULL;
	pp = &fleet.table[name_hash(name) & (fleet.nbuckets - 1)];
	while (*pp != NULL && strcmp((*pp)->rec.name, name) != 0)
		pp = &(*pp)->next;
	return pp;
}

/*
 * Put h in the table, before any host of the same name (fleet_get finds
 * the newest); twice the buckets once it holds as many hosts as buckets.
 */
static void
fleet_insert(struct host *h)
{
	struct host	**old = fleet.table, *x, **pp;
	size_t		  nold = fleet.nbuckets, i;

	if (fleet.n >= fleet.nbuckets) {
		fleet.nbuckets = nold == 0 ? 64 : nold * 2;
		fleet.table = xcalloc(fleet.nbuckets, sizeof *fleet.table);
		for (i = 0; i < nold; i++)
			while ((x = old[i]) != NULL) {	/* in order */
				old[i] = x->next;
				pp = &fleet.table[name_hash(x->rec.name) &
				    (fleet.nbuckets - 1)];
				while (*pp != NULL)
					pp = &(*pp)->next;
				x->next = NULL;
				*pp = x;
			}
		free(old);
	}
	pp = fleet_slot(h->rec.name);
	h->next = *pp;
	*pp = h;
	fleet.n++;
}

static void
host_free(struct host *h)
{
	host_rec_free(&h->rec);
	json_decref(h->facts);
	buf_release(&h->ctl);
	if (h->wake[0] != -1)
		close(h->wake[0]);
	if (h->wake[1] != -1)
		close(h->wake[1]);
	pthread_mutex_destroy(&h->lock);
	pthread_cond_destroy(&h->cond);
	free(h);
}

void
host_unref(struct host *h)
{
	int	last;

	pthread_mutex_lock(&fleet.lock);
	last = --h->refs == 0;
	pthread_mutex_unlock(&fleet.lock);
	if (last)
		host_free(h);
}

struct host *
fleet_get(const char *name)
{
	struct host	**pp, *h = NULL;

	pthread_mutex_lock(&fleet.lock);
	if ((pp = fleet_slot(name)) != NULL && (h = *pp) != NULL)
		h->refs++;
	pthread_mutex_unlock(&fleet.lock);
	return h;
}

static void
wake(struct host *h)
{
	char	c = 1;

	if (write(h->wake[1], &c, 1) == -1 && errno != EAGAIN)
		log_warn("wake %s", h->rec.name);
}

/* Mark a request ended and tell whoever asked; h->lock held. */
static void
req_end(struct hreq *r)
{
	char	c = 1;

	r->done = 1;
	r->done_ms = clock_ms();
	if (r->notify_fd != -1 && write(r->notify_fd, &c, 1) == -1 &&
	    errno != EAGAIN)
		log_warn("notify %s", r->h->rec.name);
}

/* End every pending request with err; called with h->lock held. */
static void
fail_pending(struct host *h, const char *err)
{
	struct hreq	*r;

	for (r = h->reqs; r != NULL; r = r->next) {
		if (r->done)
			continue;
		snprintf(r->err, sizeof r->err, "%s", err);
		req_end(r);
	}
	pthread_cond_broadcast(&h->cond);
}

static void
handshake_begin(void)
{
	pthread_mutex_lock(&fleet.lock);
	while (fleet.handshakes >= fleet.max_handshakes)
		pthread_cond_wait(&fleet.cond, &fleet.lock);
	fleet.handshakes++;
	pthread_mutex_unlock(&fleet.lock);
}

static void
handshake_end(void)
{
	pthread_mutex_lock(&fleet.lock);
	fleet.handshakes--;
	pthread_cond_signal(&fleet.cond);
	pthread_mutex_unlock(&fleet.lock);
}

static void	drain_stderr(struct host *, struct sshc *);

/* Bytes from the agent's channel, into in, until a frame is whole. */
static int
read_frame(struct host *h, struct sshc *sc, struct buf *in, struct msg *m,
    uint64_t deadline, char *err)
{
	char	chunk[16384];
	int	n, r;

	for (;;) {
		if ((r = frame_parse(in, m, err)) != 0)
			return r;
		if (clock_ms() > deadline) {
			snprintf(err, MSG_ERRLEN, "no HELLO from the agent");
			return -1;
		}
		n = ssh_channel_read_timeout(sc->channel, chunk, sizeof chunk,
		    0, 200);
		drain_stderr(h, sc);
		if (n == SSH_ERROR || (n == 0 &&
		    ssh_channel_is_eof(sc->channel))) {
			snprintf(err, MSG_ERRLEN, "agent channel closed");
			return -1;
		}
		if (n > 0 && buf_add(in, chunk, (size_t)n) == -1) {
			snprintf(err, MSG_ERRLEN, "out of memory");
			return -1;
		}
	}
}

/*
 * Skip what a login shell printed, up to the sentinel. 1 found, 0 the
 * channel ended first (the agent is not there: exit status in *status),
 * -1 error.
 */
static int
skip_sentinel(struct sshc *sc, struct buf *in, int *status, char *err)
{
	const char	*sent = AGENT_SENTINEL;
	size_t		 sl = strlen(sent), seen = 0;
	uint64_t	 deadline = clock_ms() + HELLO_TIMEOUT_MS;
	char		 chunk[4096], *p, e[512], errtext[512] = "";
	int		 n, k;

	for (;;) {
		if ((p = memmem(in->ptr != NULL ? in->ptr : "", in->len, sent,
		    sl)) != NULL) {
			buf_consume(in, (size_t)(p - in->ptr) + sl);
			return 1;
		}
		if (in->len > sl) {		/* keep a possible prefix */
			seen += in->len - sl;
			buf_consume(in, in->len - sl);
		}
		if (seen > SENTINEL_MAX) {
			snprintf(err, MSG_ERRLEN, "no agent sentinel in the "
			    "first %d bytes", SENTINEL_MAX);
			return -1;
		}
		if (clock_ms() > deadline) {
			snprintf(err, MSG_ERRLEN, "no agent sentinel within "
			    "%d ms", HELLO_TIMEOUT_MS);
			return -1;
		}
		n = ssh_channel_read_timeout(sc->channel, chunk, sizeof chunk,
		    0, 200);
		if (n == SSH_ERROR) {
			snprintf(err, MSG_ERRLEN, "agent channel: %s",
			    ssh_get_error(sc->session));
			return -1;
		}
		/* stderr must be drained: libssh reports no EOF before. */
		while ((k = ssh_channel_read_nonblocking(sc->channel, e,
		    sizeof e - 1, 1)) > 0) {
			e[k] = '\0';
			snprintf(errtext, sizeof errtext, "%s", e);
		}
		if (n == 0 && ssh_channel_is_eof(sc->channel)) {
			*status = ssh_channel_get_exit_status(sc->channel);
			errtext[strcspn(errtext, "\n")] = '\0';
			snprintf(err, MSG_ERRLEN, "agent exited %d: %.200s",
			    *status, errtext);
			return 0;
		}
		if (n > 0)
			buf_add(in, chunk, (size_t)n);
	}
}

static void
send_hello(struct sshc *sc)
{
	struct enc	e;
	struct buf	f = BUF_INIT;
	char		err[MSG_ERRLEN];

	enc_begin(&e, MSG_HELLO, 0);
	enc_ku64(&e, "proto", PROTO_VERSION);
	enc_kstr(&e, "version", TUG_VERSION);
	enc_kstr(&e, "role", "controller");
	enc_kstr(&e, "controller", controller_id());
	enc_karr(&e, "caps");
	enc_str(&e, "zlib");
	enc_close(&e);
	if (enc_finish(&e, 0, &f, err) == 0)
		ssh_channel_write(sc->channel, f.ptr, (uint32_t)f.len);
	buf_release(&f);
}

static void
progress_log(void *arg, const char *step, const char *msg)
{
	log_info("%s: %s: %s", (const char *)arg, step, msg);
}

/* Connect, start the agent (installing it if this build is missing), HELLO. */
static int
host_connect(struct host *h, struct sshc *sc, struct buf *in, char *err)
{
	struct ssh_target	 t;
	struct msg		 m;
	struct mv		 body;
	struct buf		 facts = BUF_INIT;
	json_t			*j;
	char			 cmd[PATH_MAX_TUG + 16], path[PATH_MAX_TUG];
	uint64_t		 proto;
	int			 r, status = 0, tries;

	memset(&t, 0, sizeof t);
	t.name = h->rec.name;
	t.addr = h->rec.addr;
	t.port = h->rec.port;
	t.user = h->rec.user;
	t.key_path = h->rec.key_path;
	t.pinned = h->rec.hostkey;
	t.timeout_s = 10;
	handshake_begin();
	r = sshc_connect(sc, &t);
	handshake_end();
	if (r == -1) {
		snprintf(err, 512, "%s", sc->err);
		return -1;
	}
	agent_remote_path(path, sizeof path);
	snprintf(cmd, sizeof cmd, "exec %s serve", path);
	for (tries = 0; tries < 2; tries++) {
		buf_reset(in);
		if (sshc_exec(sc, cmd) == -1) {
			snprintf(err, 512, "%s: %s", h->rec.name, sc->err);
			return -1;
		}
		if ((r = skip_sentinel(sc, in, &status, err)) == 1)
			break;
		ssh_channel_close(sc->channel);
		ssh_channel_free(sc->channel);
		sc->channel = NULL;
		if (r == -1 || tries > 0 || status != 127)
			goto fail;
		/* This build's agent is not there yet: install it. */
		if (bootstrap(sc, h->rec.name, 0, NULL, progress_log,
		    h->rec.name) == -1) {
			snprintf(err, 512, "%s", sc->err);
			return -1;
		}
	}
	if (read_frame(h, sc, in, &m, clock_ms() + HELLO_TIMEOUT_MS, err) != 1)
		goto fail;
	msg_body(&m, &body, err, "hello");
	if (m.type != MSG_HELLO || mv_u64(&body, "proto", &proto, MV_REQ) != 1 ||
	    proto != PROTO_VERSION) {
		msg_release(&m);
		snprintf(err, 512, "%s: the agent does not speak protocol %d",
		    h->rec.name, PROTO_VERSION);
		return -1;
	}
	mv_json(&body, "facts", &facts);
	msg_release(&m);
	send_hello(sc);
	host_seen(h->rec.name, facts.ptr, agent_bin.sha256);
	j = facts.len > 0 ? json_loadb(facts.ptr, facts.len, 0, NULL) : NULL;
	buf_release(&facts);
	pthread_mutex_lock(&h->lock);
	json_decref(h->facts);
	h->facts = j;
	pthread_mutex_unlock(&h->lock);
	return 0;
fail:
	{
		char	tmp[512];

		snprintf(tmp, sizeof tmp, "%s: %s", h->rec.name, err);
		snprintf(err, 512, "%s", tmp);
	}
	return -1;
}

static struct hreq *
find_req(struct host *h, uint64_t id)
{
	struct hreq	*r;

	for (r = h->reqs; r != NULL; r = r->next)
		if (r->id == id)
			return r;
	return NULL;
}

static void
dispatch(struct host *h, struct msg *m, size_t wire)
{
	struct hreq	*r;

	pthread_mutex_lock(&h->lock);
	if ((r = find_req(h, m->id)) != NULL)
		r->wire_bytes += wire;
	if (r == NULL || r->done) {
		pthread_mutex_unlock(&h->lock);
		if (m->type == MSG_ERROR && m->id == 0) {
			struct mv	b;
			char		err[MSG_ERRLEN], msg[256];

			msg_body(m, &b, err, "");
			if (mv_str(&b, "message", msg, sizeof msg, 0) == 1)
				log_warnx("%s: agent: %s", h->rec.name, msg);
		}
		msg_release(m);
		return;
	}
	if (m->type == MSG_RESULT || m->type == MSG_ERROR) {
		r->final = *m;
		memset(m, 0, sizeof *m);
		req_end(r);
		pthread_cond_broadcast(&h->cond);
		pthread_mutex_unlock(&h->lock);
		return;
	}
	if (m->type == MSG_EVENT && r->cb != NULL) {
		r->in_cb = 1;
		pthread_mutex_unlock(&h->lock);
		r->cb(r->arg, h, m);
		pthread_mutex_lock(&h->lock);
		r->in_cb = 0;
		pthread_cond_broadcast(&h->cond);
	}
	pthread_mutex_unlock(&h->lock);
	msg_release(m);
}

/* Drain the agent's stderr into our log, one escaped line at a time. */
static void
drain_stderr(struct host *h, struct sshc *sc)
{
	char	chunk[2048], esc[1024];
	int	n;

	while ((n = ssh_channel_read_nonblocking(sc->channel, chunk,
	    sizeof chunk, 1)) > 0)
		log_info("%s: agent: %s", h->rec.name,
		    log_escape(esc, sizeof esc, chunk, (size_t)n));
}

/* The connected loop: frames in, requests out, until the channel ends. */
static void
host_io(struct host *h, struct sshc *sc, struct buf *in)
{
	char		 chunk[65536], err[MSG_ERRLEN];
	struct msg	 m;
	struct hreq	*r;
	size_t		 before;
	uint64_t	 heard = clock_ms(), pinged = 0, now;
	int		 n, pr, busy;

	for (;;) {
		struct pollfd	pfd[2] = {
			{ sc->fd, POLLIN, 0 }, { h->wake[0], POLLIN, 0 }
		};

		while ((n = ssh_channel_read_nonblocking(sc->channel, chunk,
		    sizeof chunk, 0)) > 0) {
			heard = clock_ms();
			pinged = 0;
			if (buf_add(in, chunk, (size_t)n) == -1) {
				snprintf(h->error, sizeof h->error, "%s: agent "
				    "output over the buffer cap", h->rec.name);
				return;
			}
		}
		if (n == SSH_ERROR) {
			snprintf(h->error, sizeof h->error, "%s: connection "
			    "lost: %s", h->rec.name, ssh_get_error(sc->session));
			return;
		}
		while (before = in->len, (pr = frame_parse(in, &m, err)) != 0) {
			if (pr == -1) {
				snprintf(h->error, sizeof h->error, "%s: broken "
				    "frame from the agent: %s", h->rec.name, err);
				return;
			}
			if (pr == 1)
				dispatch(h, &m, before - in->len);
		}
		drain_stderr(h, sc);
		if (ssh_channel_is_eof(sc->channel) ||
		    ssh_channel_is_closed(sc->channel)) {
			snprintf(h->error, sizeof h->error, "%s: the agent "
			    "closed its channel", h->rec.name);
			return;
		}

		/* Whatever is queued goes out now. */
		pthread_mutex_lock(&h->lock);
		if (h->removed) {
			pthread_mutex_unlock(&h->lock);
			return;
		}
		for (r = h->reqs, busy = 0; r != NULL; r = r->next) {
			busy += r->sent && !r->done;
			if (r->sent || r->done)
				continue;
			r->sent = 1;
			r->sent_ms = clock_ms();
			buf_add(&h->ctl, r->frame.ptr, r->frame.len);
		}
		/*
		 * A host silent while a request is out is asked for a PONG
		 * (the agent answers from its frame loop, whatever its jobs
		 * do); silent on after that, it is gone: its requests fail
		 * now rather than when TCP gives up, minutes later.
		 */
		now = clock_ms();
		if (busy == 0)
			heard = now, pinged = 0;
		else if (pinged != 0 && now - pinged >= PING_WAIT_MS) {
			pthread_mutex_unlock(&h->lock);
			snprintf(h->error, sizeof h->error, "%s: connection "
			    "lost: no answer to a ping for %u s", h->rec.name,
			    PING_WAIT_MS / 1000);
			return;
		} else if (pinged == 0 && now - heard >= PING_IDLE_MS) {
			struct buf	pf = BUF_INIT;

			if (frame_empty(&pf, MSG_PING, 0) == 0)
				buf_add(&h->ctl, pf.ptr, pf.len);
			buf_release(&pf);
			pinged = now;
		}
		if (h->ctl.len > 0) {
			struct buf	out = h->ctl;
			size_t		off, k;

			buf_init(&h->ctl, 0);
			pthread_mutex_unlock(&h->lock);
			/* In pieces, so that a stream sees the host's pace. */
			for (off = 0; off < out.len; off += k) {
				k = out.len - off < DATA_CHUNK ? out.len - off :
				    DATA_CHUNK;
				pthread_mutex_lock(&h->lock);
				h->writing = clock_ms();
				pthread_mutex_unlock(&h->lock);
				n = ssh_channel_write(sc->channel, out.ptr + off,
				    (uint32_t)k);
				pthread_mutex_lock(&h->lock);
				h->writing = 0;
				pthread_cond_broadcast(&h->cond);	/* room */
				pthread_mutex_unlock(&h->lock);
				if (n != (int)k) {
					buf_release(&out);
					snprintf(h->error, sizeof h->error,
					    "%s: write to the agent failed",
					    h->rec.name);
					return;
				}
			}
			buf_release(&out);
			continue;
		} else
			pthread_mutex_unlock(&h->lock);

		if (ssh_channel_poll(sc->channel, 0) > 0)
			continue;
		if (poll(pfd, 2, 1000) > 0 && (pfd[1].revents & POLLIN)) {
			char	drain[64];

			while (read(h->wake[0], drain, sizeof drain) > 0)
				;
		}
	}
}

static void *
host_main(void *arg)
{
	struct host	*h = arg;
	struct sshc	 sc;
	struct buf	 in;
	char		 err[512];
	uint64_t	 now;
	int		 r;

	buf_init(&in, 8u << 20);
	pthread_mutex_lock(&h->lock);
	while (!h->removed) {
		now = clock_ms();
		if (now < h->next_try && !h->kick) {
			struct timespec	ts;
			uint64_t	wall = wall_ms() + (h->next_try - now);

			ts.tv_sec = (time_t)(wall / 1000);
			ts.tv_nsec = (long)(wall % 1000) * 1000000;
			pthread_cond_timedwait(&h->cond, &h->lock, &ts);
			continue;
		}
		h->kick = 0;
		h->state = H_CONNECTING;
		pthread_mutex_unlock(&h->lock);

		r = host_connect(h, &sc, &in, err);

		pthread_mutex_lock(&h->lock);
		if (r == -1) {
			sshc_close(&sc);
			h->state = H_DOWN;
			snprintf(h->error, sizeof h->error, "%s", err);
			log_info("%s", err);
			fail_pending(h, err);
			h->backoff = h->backoff == 0 ? BACKOFF_MIN_MS :
			    h->backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS :
			    h->backoff * 2;
			h->next_try = clock_ms() + h->backoff;
			continue;
		}
		h->state = H_UP;
		h->error[0] = '\0';
		h->backoff = 0;
		h->connected_ms = wall_ms();
		pthread_cond_broadcast(&h->cond);
		pthread_mutex_unlock(&h->lock);
		log_info("%s: connected", h->rec.name);

		host_io(h, &sc, &in);
		sshc_close(&sc);

		pthread_mutex_lock(&h->lock);
		h->state = H_DOWN;
		if (!h->removed)
			log_info("%s", h->error);
		fail_pending(h, h->error);
		h->backoff = BACKOFF_MIN_MS;
		h->next_try = clock_ms() + h->backoff;
	}
	fail_pending(h, "host removed");
	pthread_mutex_unlock(&h->lock);
	buf_release(&in);
	host_unref(h);
	return NULL;
}

int
fleet_add(const struct host_rec *rec)
{
	struct host	*h = xcalloc(1, sizeof *h);
	pthread_attr_t	 attr;

	h->rec = *rec;
	h->rec.facts = NULL;		/* kept parsed, in h->facts */
	h->facts = rec->facts != NULL ? json_loads(rec->facts, 0, NULL) : NULL;
	h->refs = 2;			/* the fleet table and the thread */
	h->next_id = 1;
	buf_init(&h->ctl, 0);
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->cond, NULL);
	/* Out of files or threads: this host has no session, tugd goes on. */
	if (pipe2(h->wake, O_NONBLOCK | O_CLOEXEC) == -1) {
		log_warn("%s: no session: pipe", rec->name);
		h->wake[0] = h->wake[1] = -1;
		host_free(h);
		return -1;
	}
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 512 * 1024);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_mutex_lock(&fleet.lock);
	fleet_insert(h);
	if (pthread_create(&h->thread, &attr, host_main, h) != 0) {
		*fleet_slot(h->rec.name) = h->next;	/* no one saw it: the */
		fleet.n--;				/* lock is held */
		pthread_mutex_unlock(&fleet.lock);
		pthread_attr_destroy(&attr);
		log_warnx("%s: no session: cannot start its thread", rec->name);
		host_free(h);
		return -1;
	}
	pthread_mutex_unlock(&fleet.lock);
	pthread_attr_destroy(&attr);
	return 0;
}

void
fleet_remove(const char *name)
{
	struct host	**pp, *h = NULL;

	pthread_mutex_lock(&fleet.lock);
	if ((pp = fleet_slot(name)) != NULL && (h = *pp) != NULL) {
		*pp = h->next;
		fleet.n--;
	}
	pthread_mutex_unlock(&fleet.lock);
	if (h == NULL)
		return;
	pthread_mutex_lock(&h->lock);
	h->removed = 1;
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
	wake(h);
	host_unref(h);
}

void
fleet_shutdown(void)
{
	struct host	*h;
	char		 name[HOST_NAME_MAX_TUG + 1];
	size_t		 i;

	for (;;) {
		pthread_mutex_lock(&fleet.lock);
		for (h = NULL, i = 0; h == NULL && i < fleet.nbuckets; i++)
			h = fleet.table[i];
		if (h != NULL)
			snprintf(name, sizeof name, "%s", h->rec.name);
		pthread_mutex_unlock(&fleet.lock);
		if (h == NULL)
			break;
		fleet_remove(name);
	}
}

void
host_kick(struct host *h)
{
	pthread_mutex_lock(&h->lock);
	if (h->state != H_UP && h->state != H_CONNECTING) {
		h->kick = 1;
		pthread_cond_broadcast(&h->cond);
	}
	pthread_mutex_unlock(&h->lock);
}

struct hreq *
hreq_start(struct host *h, const char *op, hreq_args_fn args, void *aarg,
    hreq_event_cb cb, void *arg)
{
	struct hreq	*r = xcalloc(1, sizeof *r);
	struct enc	 e;
	char		 err[MSG_ERRLEN];

	r->h = h;
	r->cb = cb;
	r->arg = arg;
	r->notify_fd = -1;
	buf_init(&r->frame, 0);
	pthread_mutex_lock(&h->lock);
	r->id = h->next_id++;
	enc_begin(&e, MSG_REQUEST, r->id);
	enc_kstr(&e, "op", op);
	enc_kmap(&e, "args");
	if (args != NULL)
		args(&e, aarg);
	enc_close(&e);
	if (enc_finish(&e, 0, &r->frame, err) == -1) {
		snprintf(r->err, sizeof r->err, "%s: %s", h->rec.name, err);
		r->done = 1;
	}
	r->next = h->reqs;
	h->reqs = r;
	/* A host in backoff is tried at once: somebody is waiting. */
	if (h->state != H_UP && h->state != H_CONNECTING)
		h->kick = 1;
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
	wake(h);
	return r;
}

static int
wait_until(struct host *h, uint64_t deadline)
{
	struct timespec	ts;
	uint64_t	now = clock_ms(), wall;

	if (now >= deadline)
		return -1;
	wall = wall_ms() + (deadline - now);
	ts.tv_sec = (time_t)(wall / 1000);
	ts.tv_nsec = (long)(wall % 1000) * 1000000;
	pthread_cond_timedwait(&h->cond, &h->lock, &ts);
	return 0;
}

/*
 * A host whose link or agent stopped taking bytes: one write of
 * DATA_CHUNK has not returned for DATA_STALL_MS (a silent link, a hung
 * agent; TCP itself would take minutes). Ends r with that, sent or still
 * queued behind the write, and queues its CANCEL should the link come
 * back. 1 when it did; h->lock held.
 */
static int
stuck_end(struct hreq *r)
{
	struct host	*h = r->h;
	struct buf	 f = BUF_INIT;

	if (r->done || h->writing == 0 ||
	    clock_ms() - h->writing < DATA_STALL_MS)
		return 0;
	snprintf(r->err, sizeof r->err, "%s: took no data for %u s: its link "
	    "or its agent is stuck", h->rec.name, DATA_STALL_MS / 1000);
	if (r->sent && !r->cancel_sent && frame_empty(&f, MSG_CANCEL,
	    r->id) == 0 && buf_add(&h->ctl, f.ptr, f.len) == 0)
		r->cancel_sent = 1;
	buf_release(&f);
	req_end(r);
	pthread_cond_broadcast(&h->cond);
	return 1;
}

int
hreq_data(struct hreq *r, const void *p, size_t n, int eof,
    uint64_t deadline)
{
	struct host	*h = r->h;
	struct enc	 e;
	struct buf	 f = BUF_INIT;
	char		 err[MSG_ERRLEN];
	int		 ret = 0;

	enc_begin(&e, MSG_DATA, r->id);
	enc_ku64(&e, "seq", r->data_seq++);
	enc_str(&e, "bytes");
	enc_bin(&e, p, n);
	enc_kbool(&e, "eof", eof);
	if (enc_finish(&e, 0, &f, err) == -1)
		return -1;
	pthread_mutex_lock(&h->lock);
	/*
	 * Not before the REQUEST itself, and not faster than the host; a
	 * host stuck in a write (stuck_end) holds back no other host of the
	 * same stream.
	 */
	while (!r->done && (!r->sent || h->ctl.len > DATA_BACKLOG)) {
		if (stuck_end(r))
			break;
		if (wait_until(h, clock_ms() + 1000 < deadline ?
		    clock_ms() + 1000 : deadline) == -1)
			break;
	}
	if (r->done || !r->sent || h->ctl.len > DATA_BACKLOG ||
	    buf_add(&h->ctl, f.ptr, f.len) == -1)
		ret = -1;
	pthread_mutex_unlock(&h->lock);
	buf_release(&f);
	if (ret == 0)
		wake(h);
	return ret;
}

int
hreq_done(struct hreq *r)
{
	int	d;

	pthread_mutex_lock(&r->h->lock);
	d = r->done;
	pthread_mutex_unlock(&r->h->lock);
	return d;
}

void
hreq_notify(struct hreq *r, int fd)
{
	char	c = 1;

	pthread_mutex_lock(&r->h->lock);
	r->notify_fd = fd;
	if (r->done && fd != -1 && write(fd, &c, 1) == -1 && errno != EAGAIN)
		log_warn("notify %s", r->h->rec.name);
	pthread_mutex_unlock(&r->h->lock);
}

uint64_t
hreq_wire_bytes(struct hreq *r)
{
	uint64_t	n;

	pthread_mutex_lock(&r->h->lock);
	n = r->wire_bytes;
	pthread_mutex_unlock(&r->h->lock);
	return n;
}

/*
 * Ask the agent to stop a request: a CANCEL once its REQUEST went out (the
 * RESULT still follows; hreq_wait() collects it), else it is never sent.
 */
void
hreq_cancel(struct hreq *r)
{
	struct host	*h = r->h;
	struct buf	 f = BUF_INIT;

	pthread_mutex_lock(&h->lock);
	if (!r->done && !r->sent) {
		snprintf(r->err, sizeof r->err, "%s: cancelled before it was "
		    "sent", h->rec.name);
		req_end(r);
		pthread_cond_broadcast(&h->cond);
	} else if (!r->done && !r->cancel_sent &&
	    frame_empty(&f, MSG_CANCEL, r->id) == 0 &&
	    buf_add(&h->ctl, f.ptr, f.len) == 0)
		r->cancel_sent = 1;
	pthread_mutex_unlock(&h->lock);
	buf_release(&f);
	wake(h);
}

uint64_t
hreq_rtt_ms(const struct hreq *r)
{
	return r->done_ms > r->sent_ms && r->sent_ms != 0 ?
	    r->done_ms - r->sent_ms : 0;
}

int
hreq_wait(struct hreq *r, uint64_t deadline, struct msg *m, char *err)
{
	struct host	*h = r->h;
	struct hreq	**pp;
	int		 ret = 0;

	memset(m, 0, sizeof *m);
	pthread_mutex_lock(&h->lock);
	while (!r->done && !stuck_end(r)) {
		uint64_t	now = clock_ms();
		struct timespec	ts;
		uint64_t	wall;

		if (now >= deadline)
			break;
		/* Once a second at least: a write may have got stuck. */
		wall = wall_ms() + (deadline - now < 1000 ? deadline - now :
		    1000);
		ts.tv_sec = (time_t)(wall / 1000);
		ts.tv_nsec = (long)(wall % 1000) * 1000000;
		pthread_cond_timedwait(&h->cond, &h->lock, &ts);
	}
	while (r->in_cb)
		pthread_cond_wait(&h->cond, &h->lock);
	if (!r->done) {
		snprintf(err, 512, "%s: no answer within the timeout%s",
		    h->rec.name, h->state == H_UP ? "" :
		    h->error[0] != '\0' ? " (not connected)" : "");
		if (h->state != H_UP && h->error[0] != '\0')
			snprintf(err, 512, "%s", h->error);
		if (r->sent) {
			struct buf	f = BUF_INIT;

			if (frame_empty(&f, MSG_CANCEL, r->id) == 0)
				buf_add(&h->ctl, f.ptr, f.len);
			buf_release(&f);
		}
		r->done = 1;
		ret = -1;
	} else if (r->final.type == 0) {
		snprintf(err, 512, "%s", r->err);
		ret = -1;
	} else {
		*m = r->final;
		memset(&r->final, 0, sizeof r->final);
	}
	for (pp = &h->reqs; *pp != NULL; pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	pthread_mutex_unlock(&h->lock);
	if (ret == -1)
		wake(h);
	return ret;
}

void
hreq_free(struct hreq *r)
{
	if (r == NULL)
		return;
	msg_release(&r->final);
	buf_release(&r->frame);
	free(r);
}

void
host_info(struct host *h, struct host_info *hi)
{
	pthread_mutex_lock(&h->lock);
	hi->state = h->state;
	snprintf(hi->error, sizeof hi->error, "%s", h->error);
	hi->facts = json_incref(h->facts);
	hi->connected_ms = h->connected_ms;
	pthread_mutex_unlock(&h->lock);
}

void
host_info_free(struct host_info *hi)
{
	json_decref(hi->facts);
	hi->facts = NULL;
}

static void
forward_progress(void *arg, struct host *h, struct msg *m)
{
	struct req	*rq = arg;
	struct mv	 b;
	char		 err[MSG_ERRLEN], kind[16], step[32], msg[512];

	msg_body(m, &b, err, "");
	if (mv_str(&b, "kind", kind, sizeof kind, 0) != 1 ||
	    strcmp(kind, "progress") != 0 ||
	    mv_str(&b, "step", step, sizeof step, 0) != 1 ||
	    mv_str(&b, "message", msg, sizeof msg, 0) != 1)
		return;
	req_progress(rq, h->rec.name, step, "%s", msg);
}

/* The result's error as "code: message", when it failed. */
static void
result_error(struct msg *m, char *err, size_t errsz)
{
	struct mv	b, e;
	char		tmp[MSG_ERRLEN], msg[400], code[32] = "";

	msg_body(m, &b, tmp, "");
	if (m->type == MSG_ERROR)
		e = b;
	else if (mv_map(&b, "error", &e, 0) != 1) {
		snprintf(err, errsz, "failed");
		return;
	}
	mv_str(&e, "code", code, sizeof code, 0);
	if (mv_str(&e, "message", msg, sizeof msg, 0) != 1)
		snprintf(msg, sizeof msg, "failed");
	snprintf(err, errsz, "%s", msg);
}

/* The file at path to every request still taking DATA, then eof. */
static void
stream_file(struct hreq **rq, size_t n, const char *path, uint64_t deadline)
{
	char	buf[256 * 1024];
	ssize_t	r = 0;
	size_t	i, live;
	int	fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	do {
		do
			r = fd != -1 ? read(fd, buf, sizeof buf) : -1;
		while (r == -1 && fd != -1 && errno == EINTR);
		if (r == -1)
			log_warnx("cannot read '%s': %s", path,
			    strerror(errno));
		/* A failed read ends every request: their stream is cut. */
		for (i = live = 0; i < n; i++)
			if (rq[i] != NULL && !hreq_done(rq[i]) &&
			    hreq_data(rq[i], buf, r > 0 ? (size_t)r : 0, r <= 0,
			    deadline) == 0)
				live++;
	} while (r > 0 && live > 0);
	if (fd != -1)
		close(fd);
}

void
fleet_run(struct req *rq, char **hosts, size_t n, const char *op,
    hreq_args_fn args, void *aarg, uint64_t timeout_ms,
    struct fan_result *out)
{
	fleet_run_file(rq, hosts, n, op, args, aarg, NULL, timeout_ms, out);
}

void
fleet_run_file(struct req *req, char **hosts, size_t n, const char *op,
    hreq_args_fn args, void *aarg, const char *path, uint64_t timeout_ms,
    struct fan_result *out)
{
	struct host	**hs = xcalloc(n + 1, sizeof *hs);
	struct hreq	**rq = xcalloc(n + 1, sizeof *rq);
	uint64_t	  t0 = clock_ms(), deadline;
	size_t		  i;

	for (i = 0; i < n; i++) {
		memset(&out[i], 0, sizeof out[i]);
		snprintf(out[i].host, sizeof out[i].host, "%s", hosts[i]);
		if ((hs[i] = fleet_get(hosts[i])) == NULL)
			snprintf(out[i].err, sizeof out[i].err, "%s: no such "
			    "host", hosts[i]);
		else
			rq[i] = hreq_start(hs[i], op, args, aarg,
			    req != NULL ? forward_progress : NULL, req);
	}
	deadline = t0 + timeout_ms;
	if (path != NULL)
		stream_file(rq, n, path, deadline);
	for (i = 0; i < n; i++) {
		if (rq[i] == NULL)
			continue;
		if (hreq_wait(rq[i], deadline, &out[i].m, out[i].err) == 0) {
			struct mv	b;
			char		tmp[MSG_ERRLEN];
			int		ok = 0;

			msg_body(&out[i].m, &b, tmp, "");
			if (out[i].m.type == MSG_RESULT)
				mv_bool(&b, "ok", &ok, 0);
			out[i].ok = ok;
			if (!out[i].ok) {
				char e[400];

				result_error(&out[i].m, e, sizeof e);
				snprintf(out[i].err, sizeof out[i].err, "%s: %s",
				    hosts[i], e);
			}
		}
		out[i].ms = clock_ms() - t0;
		out[i].rtt_ms = hreq_rtt_ms(rq[i]);
		hreq_free(rq[i]);
		host_unref(hs[i]);
	}
	free(hs);
	free(rq);
}

void
fan_results_free(struct fan_result *r, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		msg_release(&r[i].m);
}

/* Did the host answer that it does not have the thing asked about? */
int
fan_not_found(const struct fan_result *r)
{
	struct mv	b, eb;
	char		tmp[MSG_ERRLEN], code[32] = "";

	if (r->ok || r->m.type != MSG_RESULT)
		return 0;
	msg_body(&r->m, &b, tmp, "");
	if (mv_map(&b, "error", &eb, 0) == 1)
		mv_str(&eb, "code", code, sizeof code, 0);
	return strcmp(code, E_NOT_FOUND) == 0;
}

void
fan_errors(const struct fan_result *r, size_t n, struct buf *out)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (!r[i].ok && r[i].err[0] != '\0')
			buf_addf(out, "%s\n", r[i].err);
}
