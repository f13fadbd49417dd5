/*
 * request.c: the answers of a request, encoded once and handed to its sink.
 * Enforces the one rule every transport relies on: exactly one result or
 * error per request; a second one is a bug, logged and dropped.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "controller/request.h"

void
req_init(struct req *rq, const struct req_sink *sink, void *sink_arg)
{
	memset(rq, 0, sizeof *rq);
	rq->sink = sink;
	rq->sink_arg = sink_arg;
	pthread_mutex_init(&rq->lock, NULL);
}

void
req_release(struct req *rq)
{
	pthread_mutex_destroy(&rq->lock);
}

static int
send_frame(struct req *rq, const struct buf *f)
{
	int	r;

	pthread_mutex_lock(&rq->lock);
	r = rq->sink->send(rq->sink_arg, f);
	pthread_mutex_unlock(&rq->lock);
	if (r == -1)
		log_debug("client went away");
	return r;
}

static int
send_enc(struct req *rq, struct enc *e)
{
	struct buf	f = BUF_INIT;
	char		err[MSG_ERRLEN];
	int		r;

	if (enc_finish(e, 0, &f, err) == -1) {
		log_warnx("cannot encode a reply: %s", err);
		return 0;
	}
	r = send_frame(rq, &f);
	buf_release(&f);
	return r;
}

/* The one answer: 1 it may go out now, 0 one already went. */
static int
answer(struct req *rq)
{
	if (rq->done) {
		log_warnx("request %llu answered twice; the second dropped",
		    (unsigned long long)rq->id);
		return 0;
	}
	rq->done = 1;
	return 1;
}

void
req_progress(struct req *rq, const char *host, const char *step,
    const char *fmt, ...)
{
	struct enc	e;
	char		msg[512];
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	req_event_begin(rq, &e, "progress");
	if (host != NULL)
		enc_kstr(&e, "host", host);
	enc_kstr(&e, "step", step);
	enc_kstr(&e, "message", msg);
	enc_ku64(&e, "time_ms", wall_ms());
	send_enc(rq, &e);
}

void
req_event_begin(struct req *rq, struct enc *e, const char *kind)
{
	enc_begin(e, MSG_EVENT, rq->id);
	enc_kstr(e, "kind", kind);
}

int
req_event(struct req *rq, struct enc *e)
{
	return send_enc(rq, e);
}

void
req_result_begin(struct req *rq, struct enc *e)
{
	enc_begin(e, MSG_RESULT, rq->id);
	enc_kbool(e, "ok", 1);
	enc_kmap(e, "value");
}

void
req_ok(struct req *rq, struct enc *e)
{
	enc_close(e);
	if (answer(rq))
		send_enc(rq, e);
	else
		enc_release(e);
}

void
req_fail(struct req *rq, const char *code, const char *fmt, ...)
{
	struct enc	e;
	char		msg[REQ_ERRLEN];
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (!answer(rq))
		return;
	snprintf(rq->error, sizeof rq->error, "%s", msg);
	enc_begin(&e, MSG_RESULT, rq->id);
	enc_kbool(&e, "ok", 0);
	enc_kmap(&e, "error");
	enc_kstr(&e, "code", code);
	enc_kstr(&e, "message", msg);
	enc_close(&e);
	send_enc(rq, &e);
}

void
req_refuse(struct req *rq, const char *code, const char *msg)
{
	struct buf	f = BUF_INIT;

	if (!answer(rq))
		return;
	snprintf(rq->error, sizeof rq->error, "%s", msg);
	if (frame_error(&f, rq->id, code, "%s", msg) == 0)
		send_frame(rq, &f);
	buf_release(&f);
}

int
req_wait_fd(struct req *rq)
{
	return rq->sink->wait_fd != NULL ? rq->sink->wait_fd(rq->sink_arg) : -1;
}

int
req_cancelled(struct req *rq)
{
	return rq->sink->cancelled != NULL ?
	    rq->sink->cancelled(rq->sink_arg) : 0;
}
