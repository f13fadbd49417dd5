/*
 * client.c: the unix-socket transport of tugd's requests. One thread per
 * connection: who the peer is (SO_PEERCRED), HELLO both ways, one REQUEST,
 * then the request runs through ops_run() with this connection as its
 * sink; CANCEL or a closed socket is how a streaming op learns to stop.
 */
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "controller/request.h"
#include "controller/tug.h"

#define CLIENTS_MAX		256	/* connections at once */
#define HANDSHAKE_S		30	/* for HELLO and the REQUEST */

struct client {
	struct conn	 conn;
	struct req	 rq;
};

static pthread_mutex_t	 clients_lock = PTHREAD_MUTEX_INITIALIZER;
static int		 nclients;

/* A receive timeout on fd (0: none), for the handshake only. */
static void
recv_timeout(int fd, int s)
{
	struct timeval	tv = { s, 0 };

	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == -1)
		log_warn("SO_RCVTIMEO");
}

static int
client_send(void *arg, const struct buf *f)
{
	struct client	*c = arg;

	return conn_write(&c->conn, f);
}

static int
client_wait_fd(void *arg)
{
	struct client	*c = arg;

	return c->conn.rfd;
}

/* 1 the client sent CANCEL or left, 0 it sent something else. */
static int
client_cancelled(void *arg)
{
	struct client	*c = arg;
	struct msg	 m;
	char		 err[MSG_ERRLEN];
	int		 r;

	if ((r = conn_read(&c->conn, &m, err)) == 1) {
		r = m.type == MSG_CANCEL;
		if (!r)
			log_debug("ignoring %s from the client",
			    msg_type_name(m.type));
		msg_release(&m);
		return r;
	}
	return 1;
}

static const struct req_sink unix_sink = {
	"unix", client_send, client_wait_fd, client_cancelled
};

/* Who is on the other end of the socket. */
static int
peer_identify(struct req *rq, int fd)
{
	struct ucred	 uc;
	socklen_t	 len = sizeof uc;
	struct passwd	 pw, *res = NULL;
	char		 pwbuf[4096];

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) == -1)
		return -1;
	rq->uid = uc.uid;
	rq->pid = uc.pid;
	if (getpwuid_r(uc.uid, &pw, pwbuf, sizeof pwbuf, &res) != 0 ||
	    res == NULL)
		snprintf(rq->user, sizeof rq->user, "uid:%u", (unsigned)uc.uid);
	else
		snprintf(rq->user, sizeof rq->user, "%s", pw.pw_name);
	snprintf(rq->peer, sizeof rq->peer, "uid %u (%s) pid %ld",
	    (unsigned)uc.uid, rq->user, (long)uc.pid);
	return 0;
}

/* A frame that could not be read: an ERROR back, unless the peer left. */
static void
refuse_read(struct req *rq, int r, const char *err)
{
	if (r != 0)
		req_refuse(rq, r == -1 ? E_BAD_FRAME : E_BAD_MESSAGE, err);
}

static void
handle(struct client *c)
{
	struct req	*rq = &c->rq;
	struct msg	 m;
	struct mv	 body;
	char		 err[MSG_ERRLEN];
	uint64_t	 proto = 0;
	struct enc	 e;
	struct buf	 f = BUF_INIT;
	int		 r;

	/* HELLO both ways, and the REQUEST, in a bounded time. */
	recv_timeout(c->conn.rfd, HANDSHAKE_S);
	if ((r = conn_read(&c->conn, &m, err)) != 1) {
		refuse_read(rq, r, err);
		return;
	}
	msg_body(&m, &body, err, "");
	if (m.type != MSG_HELLO || mv_u64(&body, "proto", &proto,
	    MV_REQ) != 1 || proto != PROTO_VERSION) {
		msg_release(&m);
		req_refuse(rq, m.type != MSG_HELLO ? E_NOT_READY : E_VERSION,
		    m.type != MSG_HELLO ? "expected HELLO first" :
		    "incompatible protocol version");
		return;
	}
	msg_release(&m);
	enc_begin(&e, MSG_HELLO, 0);
	enc_ku64(&e, "proto", PROTO_VERSION);
	enc_kstr(&e, "version", TUG_VERSION);
	enc_kstr(&e, "role", "controller");
	if (enc_finish(&e, 0, &f, err) == 0)
		conn_write(&c->conn, &f);
	buf_release(&f);

	if ((r = conn_read(&c->conn, &m, err)) != 1) {
		refuse_read(rq, r, err);
		return;
	}
	rq->id = m.id;
	recv_timeout(c->conn.rfd, 0);	/* a request may stream for long */
	msg_body(&m, &body, err, "");
	if (m.type != MSG_REQUEST)
		req_refuse(rq, E_BAD_MESSAGE, "expected a REQUEST");
	else
		ops_run(rq, &body, rq->uid == getuid());
	msg_release(&m);
}

static void *
client_main(void *arg)
{
	struct client	*c = arg;

	handle(c);
	close(c->conn.rfd);
	req_release(&c->rq);
	free(c);
	pthread_mutex_lock(&clients_lock);
	nclients--;
	pthread_mutex_unlock(&clients_lock);
	return NULL;
}

/* Serve the connection on fd in a thread of its own; fd is ours. */
void
client_start(int fd)
{
	struct client	*c;
	pthread_t	 t;
	pthread_attr_t	 attr;

	pthread_mutex_lock(&clients_lock);
	if (nclients >= CLIENTS_MAX) {
		pthread_mutex_unlock(&clients_lock);
		log_warnx("%d clients connected, the limit: one refused",
		    CLIENTS_MAX);
		close(fd);
		return;
	}
	nclients++;
	pthread_mutex_unlock(&clients_lock);
	c = xcalloc(1, sizeof *c);
	conn_init(&c->conn, fd, fd, "tugd");
	req_init(&c->rq, &unix_sink, c);
	if (peer_identify(&c->rq, fd) == -1)
		goto fail;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, client_main, c) != 0) {
		pthread_attr_destroy(&attr);
		goto fail;
	}
	pthread_attr_destroy(&attr);
	return;
fail:
	close(fd);
	req_release(&c->rq);
	free(c);
	pthread_mutex_lock(&clients_lock);
	nclients--;
	pthread_mutex_unlock(&clients_lock);
}
