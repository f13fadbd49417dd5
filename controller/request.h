/*
 * request.h: one request to tugd, as every op sees it, whatever carried it
 * (the unix socket today, client.c). A request has its args, who it acts
 * as, a sink for progress and events, and exactly one result or error. An
 * op is written against this and nothing else of the transport, so that a
 * second transport (an HTTP API) needs no change to any op.
 */
#ifndef TUG_REQUEST_H
#define TUG_REQUEST_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/buf.h"
#include "proto/proto.h"

#define REQ_ERRLEN	(MSG_ERRLEN * 2)

/* What carries a request's frames back; arg is the transport's own. */
struct req_sink {
	const char	*name;
	/* One encoded frame (EVENT, RESULT or ERROR): 0, -1 the client left. */
	int		(*send)(void *arg, const struct buf *frame);
	/* An fd that polls readable once the client sent something or left. */
	int		(*wait_fd)(void *arg);
	/* Once wait_fd polled readable: 1 cancelled or gone, 0 not. */
	int		(*cancelled)(void *arg);
};

struct req {
	const struct req_sink	*sink;
	void			*sink_arg;
	uint64_t		 id;		/* of the request, on its frames */
	char			 user[64];	/* the tug user it acts as */
	char			 peer[128];	/* the OS side: uid, name, pid */
	uid_t			 uid;
	pid_t			 pid;		/* of the client, 0 unknown */
	int			 done;		/* its one answer went out */
	char			 error[REQ_ERRLEN];	/* that answer's failure */
	pthread_mutex_t		 lock;		/* one frame out at a time */
};

void	 req_init(struct req *, const struct req_sink *, void *sink_arg);
void	 req_release(struct req *);

/* Progress of the request, optionally of one host. */
void	 req_progress(struct req *, const char *host, const char *step,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Any other event: begin, add its fields (closing what they opened),
 * send: 0, -1 the client left. */
void	 req_event_begin(struct req *, struct enc *, const char *kind);
int	 req_event(struct req *, struct enc *);

/* The one answer: a result (begin, fields, ok) or a failure. */
void	 req_result_begin(struct req *, struct enc *);
void	 req_ok(struct req *, struct enc *);
void	 req_fail(struct req *, const char *code, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
/* Refused before it ran: an ERROR frame, not a RESULT. */
void	 req_refuse(struct req *, const char *code, const char *msg);

/* Watching for the client cancelling while an op streams. */
int	 req_wait_fd(struct req *);
int	 req_cancelled(struct req *);

#endif
