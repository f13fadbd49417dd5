/*
 * agent.c: tug-agent's entry point and frame loop. `tug-agent serve` prints
 * the sentinel, exchanges HELLO, then reads frames on stdin: each REQUEST
 * becomes a job on its own thread, DATA and CANCEL are routed to their job
 * by id, and every frame out goes through agent_send() under one lock.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "agent/agent.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/xmalloc.h"

struct agent	 agent;

static const struct op *ops[] = {
	&op_ping,
	&op_facts,
	&op_image_load,
	&op_image_list,
	&op_image_inspect,
	&op_image_remove,
	&op_image_pull,
	&op_watch,
	&op_site_apply,
	&op_site_status,
	&op_site_stop,
	&op_site_start,
	&op_site_remove,
	&op_logs,
	&op_proxy_setup,
	&op_proxy_status,
	&op_cert_renew,
	&op_acme_setup,
	&op_static_apply,
};

static const struct op *
op_find(const char *name)
{
	size_t	i;

	for (i = 0; i < sizeof ops / sizeof ops[0]; i++)
		if (strcmp(ops[i]->name, name) == 0)
			return ops[i];
	return NULL;
}

static int
send_frame(const struct buf *f)
{
	int	r;

	pthread_mutex_lock(&agent.wlock);
	r = agent.dead ? -1 : conn_write(&agent.conn, f);
	if (r == -1 && !agent.dead) {
		log_warn("write to controller");
		agent.dead = 1;
	}
	pthread_mutex_unlock(&agent.wlock);
	return r;
}

int
agent_send(struct enc *e, int deflate)
{
	struct buf	f = BUF_INIT;
	char		err[MSG_ERRLEN];
	int		r;

	if (enc_finish(e, deflate, &f, err) == -1) {
		log_warnx("cannot encode a frame: %s", err);
		return -1;
	}
	r = send_frame(&f);
	buf_release(&f);
	return r;
}

static void
send_error(uint64_t id, const char *code, const char *msg)
{
	struct buf	f = BUF_INIT;

	if (frame_error(&f, id, code, "%s", msg) == 0)
		send_frame(&f);
	buf_release(&f);
}

void
job_result_begin(struct job *j, struct enc *e)
{
	enc_begin(e, MSG_RESULT, j->id);
	enc_kbool(e, "ok", 1);
	enc_kmap(e, "value");
}

void
job_ok(struct job *j, struct enc *e)
{
	enc_close(e);			/* value */
	agent_send(e, 0);
	j->done = 1;
}

void
job_fail(struct job *j, const char *code, const char *fmt, ...)
{
	struct enc	e;
	char		msg[MSG_ERRLEN * 2];
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (j->cancelled && strcmp(code, E_CANCELLED) != 0) {
		code = E_CANCELLED;
		snprintf(msg, sizeof msg, "cancelled");
	}
	enc_begin(&e, MSG_RESULT, j->id);
	enc_kbool(&e, "ok", 0);
	enc_kmap(&e, "error");
	enc_kstr(&e, "code", code);
	enc_kstr(&e, "message", msg);
	enc_close(&e);
	agent_send(&e, 0);
	j->done = 1;
}

int
job_failed(struct job *j, const char *code, const char *fmt, ...)
{
	char	msg[MSG_ERRLEN * 2];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	job_fail(j, code, "%s", msg);
	return -1;
}

/* A check's refusal: the message for bad_args, in j->err; returns -1. */
int
job_bad(struct job *j, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(j->err, sizeof j->err, fmt, ap);
	va_end(ap);
	return -1;
}

void
job_progress(struct job *j, const char *step, const char *fmt, ...)
{
	struct enc	e;
	char		msg[MSG_ERRLEN];
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	enc_begin(&e, MSG_EVENT, j->id);
	enc_kstr(&e, "kind", "progress");
	enc_kstr(&e, "step", step);
	enc_kstr(&e, "message", msg);
	agent_send(&e, 0);
	log_debug("job %llu: %s: %s", (unsigned long long)j->id, step, msg);
}

int
job_check_name(struct job *j, const char *key, char *dst, size_t dstsz)
{
	const char	*why;
	char		 esc[128];

	if (mv_str(&j->args, key, dst, dstsz, MV_REQ) == -1)
		return -1;
	if ((why = check_site_name(dst)) != NULL) {
		snprintf(j->err, sizeof j->err, "invalid site name '%s': %s",
		    log_escape(esc, sizeof esc, dst, strlen(dst)), why);
		return -1;
	}
	return 0;
}

int
job_data(struct job *j, struct msg *m)
{
	int	r;

	pthread_mutex_lock(&agent.lock);
	while (j->q.count == 0 && !j->q.eof && !j->cancelled && !agent.dead)
		pthread_cond_wait(&agent.cond, &agent.lock);
	if (j->cancelled || agent.dead)
		r = -1;
	else if (j->q.count > 0) {
		*m = j->q.items[j->q.head];
		j->q.head = (j->q.head + 1) % AGENT_DATAQ_MAX;
		j->q.count--;
		r = 1;
	} else
		r = 0;
	pthread_cond_broadcast(&agent.cond);
	pthread_mutex_unlock(&agent.lock);
	return r;
}

static struct job *
job_find(uint64_t id)
{
	struct job	*j;

	for (j = agent.jobs; j != NULL; j = j->next)
		if (j->id == id)
			return j;
	return NULL;
}

static int
recently_finished(uint64_t id)
{
	int	i;

	for (i = 0; i < agent.nfinished; i++)
		if (agent.finished[i] == id)
			return 1;
	return 0;
}

static void
job_free(struct job *j)
{
	while (j->q.count > 0) {
		msg_release(&j->q.items[j->q.head]);
		j->q.head = (j->q.head + 1) % AGENT_DATAQ_MAX;
		j->q.count--;
	}
	if (j->op->free != NULL)
		j->op->free(j);
	msg_release(&j->req);
	free(j);
}

/* Unlink and free a finished job; called with agent.lock held. */
static void
job_reap(struct job *j)
{
	struct job	**pp;

	for (pp = &agent.jobs; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == j) {
			*pp = j->next;
			break;
		}
	}
	agent.njobs--;
	if (j->op->flags & OP_STREAM)
		agent.nstreams--;
	memmove(agent.finished + 1, agent.finished,
	    sizeof agent.finished - sizeof agent.finished[0]);
	agent.finished[0] = j->id;
	if (agent.nfinished < (int)(sizeof agent.finished /
	    sizeof agent.finished[0]))
		agent.nfinished++;
}

static void *
job_main(void *arg)
{
	struct job	*j = arg;

	j->op->run(j);
	if (!j->done)
		job_fail(j, E_INTERNAL, "op '%s' ended without a result",
		    j->op->name);
	pthread_mutex_lock(&agent.lock);
	job_reap(j);
	pthread_cond_broadcast(&agent.cond);
	while (j->readers > 0)		/* the reader still holds it */
		pthread_cond_wait(&agent.cond, &agent.lock);
	pthread_mutex_unlock(&agent.lock);
	job_free(j);
	return NULL;
}

/* A job refused after its check ran: free what the check made. */
static void
job_drop(struct job *j)
{
	if (j->op->free != NULL)
		j->op->free(j);
	msg_release(&j->req);
	free(j);
}

/* Streams of site running now; called with agent.lock held. */
static int
site_streams(const char *site)
{
	struct job	*j;
	int		 n = 0;

	for (j = agent.jobs; j != NULL; j = j->next)
		if ((j->op->flags & OP_STREAM) && strcmp(j->site, site) == 0)
			n++;
	return n;
}

static void
handle_request(struct msg *m, char *err)
{
	struct job	*j;
	struct mv	 body;
	char		 opname[64], esc[128];
	const struct op	*op;
	pthread_attr_t	 attr;

	msg_body(m, &body, err, "");
	if (mv_str(&body, "op", opname, sizeof opname, MV_REQ) == -1 ||
	    !mv_present(&body, "args")) {
		send_error(m->id, E_BAD_MESSAGE, mv_present(&body, "args") ?
		    err : "request without args");
		msg_release(m);
		return;
	}
	if ((op = op_find(opname)) == NULL) {
		snprintf(err, MSG_ERRLEN, "unknown op '%s'",
		    log_escape(esc, sizeof esc, opname, strlen(opname)));
		send_error(m->id, E_UNKNOWN_OP, err);
		msg_release(m);
		return;
	}
	pthread_mutex_lock(&agent.lock);
	if (job_find(m->id) != NULL) {
		pthread_mutex_unlock(&agent.lock);
		send_error(m->id, E_DUPLICATE_ID, "a job with this id is "
		    "running");
		msg_release(m);
		return;
	}
	if ((op->flags & OP_STREAM) ? agent.nstreams >= AGENT_STREAMS_MAX :
	    agent.njobs - agent.nstreams >= AGENT_CONTROL_MAX) {
		pthread_mutex_unlock(&agent.lock);
		if (op->flags & OP_STREAM)
			snprintf(err, MSG_ERRLEN, "too many log streams on this "
			    "host (%d)", AGENT_STREAMS_MAX);
		else
			snprintf(err, MSG_ERRLEN, "too many control jobs "
			    "running on this host (%d)", AGENT_CONTROL_MAX);
		send_error(m->id, E_BUSY, err);
		msg_release(m);
		return;
	}
	pthread_mutex_unlock(&agent.lock);

	j = xcalloc(1, sizeof *j);
	j->id = m->id;
	j->op = op;
	j->req = *m;
	memset(m, 0, sizeof *m);
	msg_body(&j->req, &body, j->err, "");
	if (mv_map(&body, "args", &j->args, MV_REQ) == -1 ||
	    (op->check != NULL && op->check(j) == -1)) {
		send_error(j->id, E_BAD_ARGS, j->err);
		job_drop(j);
		return;
	}
	/* Only this thread adds jobs: the counts cannot grow meanwhile. */
	pthread_mutex_lock(&agent.lock);
	if ((op->flags & OP_STREAM) && (mv_str(&j->args, "site", j->site,
	    sizeof j->site, MV_REQ) != 1 || site_streams(j->site) >=
	    AGENT_STREAMS_SITE_MAX)) {
		pthread_mutex_unlock(&agent.lock);
		snprintf(err, MSG_ERRLEN, "too many log streams for site '%s' "
		    "on this host (%d)", j->site, AGENT_STREAMS_SITE_MAX);
		send_error(j->id, E_BUSY, err);
		job_drop(j);
		return;
	}
	j->next = agent.jobs;
	agent.jobs = j;
	agent.njobs++;
	if (op->flags & OP_STREAM)
		agent.nstreams++;
	pthread_mutex_unlock(&agent.lock);

	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&j->thread, &attr, job_main, j) != 0) {
		pthread_mutex_lock(&agent.lock);
		job_reap(j);
		pthread_mutex_unlock(&agent.lock);
		send_error(j->id, E_BUSY, "cannot start a thread");
		job_free(j);
	}
	pthread_attr_destroy(&attr);
}

static void
handle_data(struct msg *m, char *err)
{
	struct job	*j;
	struct mv	 body;
	uint64_t	 seq;
	int		 eof = 0;
	const void	*p;
	size_t		 n;

	msg_body(m, &body, err, "");
	if (mv_u64(&body, "seq", &seq, MV_REQ) == -1 ||
	    mv_bin(&body, "bytes", &p, &n, FRAME_MAX, MV_REQ) == -1 ||
	    mv_bool(&body, "eof", &eof, 0) == -1) {
		send_error(m->id, E_BAD_MESSAGE, err);
		msg_release(m);
		return;
	}
	pthread_mutex_lock(&agent.lock);
	if ((j = job_find(m->id)) == NULL || j->done) {
		int quiet = j != NULL || recently_finished(m->id);

		pthread_mutex_unlock(&agent.lock);
		if (!quiet)
			send_error(m->id, E_NOT_FOUND, "DATA for no running "
			    "job");
		msg_release(m);
		return;
	}
	if (!(j->op->flags & OP_DATA) || j->eof_seen || seq != j->data_seq) {
		j->cancelled = 1;	/* the stream is unusable */
		pthread_cond_broadcast(&agent.cond);
		pthread_mutex_unlock(&agent.lock);
		send_error(m->id, E_BAD_MESSAGE, !(j->op->flags & OP_DATA) ?
		    "this op takes no DATA" : j->eof_seen ? "DATA after eof" :
		    "DATA out of sequence");
		msg_release(m);
		return;
	}
	j->data_seq++;
	j->eof_seen = eof;
	/*
	 * Backpressure: wait for room rather than buffer without bound. The
	 * job cannot be freed while we wait on it (readers), and eof becomes
	 * visible to it only once the last frame is actually queued.
	 */
	j->readers++;
	while (j->q.count == AGENT_DATAQ_MAX && !j->done && !j->cancelled &&
	    !agent.dead)
		pthread_cond_wait(&agent.cond, &agent.lock);
	if (j->q.count < AGENT_DATAQ_MAX && !j->done && !j->cancelled) {
		j->q.items[(j->q.head + j->q.count) % AGENT_DATAQ_MAX] = *m;
		j->q.count++;
		memset(m, 0, sizeof *m);
		if (eof)
			j->q.eof = 1;
	}
	j->readers--;
	pthread_cond_broadcast(&agent.cond);
	pthread_mutex_unlock(&agent.lock);
	msg_release(m);
}

static void
handle_cancel(struct msg *m)
{
	struct job	*j;

	pthread_mutex_lock(&agent.lock);
	if ((j = job_find(m->id)) != NULL) {
		j->cancelled = 1;
		pthread_cond_broadcast(&agent.cond);
	}
	pthread_mutex_unlock(&agent.lock);
	msg_release(m);
}

static void
send_hello(void)
{
	struct enc	e;

	enc_begin(&e, MSG_HELLO, 0);
	enc_ku64(&e, "proto", PROTO_VERSION);
	enc_kstr(&e, "version", TUG_VERSION);
	enc_kstr(&e, "role", "agent");
	enc_karr(&e, "caps");
	enc_str(&e, "zlib");
	enc_str(&e, "logs.batch");
	enc_close(&e);
	enc_kmap(&e, "facts");
	facts_encode(&e);
	enc_close(&e);
	agent_send(&e, 0);
}

/*
 * 1: a good HELLO; 0: not a HELLO, or no proto (answered); -1: another
 * protocol, no good controller id, or the host is another controller's
 * (answered; the session ends).
 */
static int
check_hello(struct msg *m, char *err)
{
	struct mv	 body;
	uint64_t	 proto;
	char		 id[CONTROLLER_ID_LEN + 2], msg[MSG_ERRLEN * 2];
	const char	*code;

	if (m->type != MSG_HELLO) {
		send_error(m->id, E_NOT_READY, "expected HELLO first");
		return 0;
	}
	msg_body(m, &body, err, "");
	if (mv_u64(&body, "proto", &proto, MV_REQ) == -1) {
		send_error(0, E_BAD_MESSAGE, err);
		return 0;
	}
	if (proto != PROTO_VERSION) {
		snprintf(err, MSG_ERRLEN, "protocol %llu not supported; this "
		    "agent speaks %d", (unsigned long long)proto,
		    PROTO_VERSION);
		send_error(0, E_VERSION, err);
		return -1;
	}
	/* Whose host this is: without a good id nothing can be labelled. */
	id[0] = '\0';
	if (mv_str(&body, "controller", id, sizeof id, MV_REQ) == -1 ||
	    owner_check_id(id) == -1) {
		if (mv_present(&body, "controller"))	/* any bad value */
			snprintf(err, MSG_ERRLEN, "controller: expected %d "
			    "lowercase hex digits", CONTROLLER_ID_LEN);
		send_error(0, E_BAD_MESSAGE, err);
		return -1;
	}
	if (owner_claim(id, &code, msg, sizeof msg) == -1) {
		log_warnx("%s", msg);
		send_error(0, code, msg);
		return -1;
	}
	return 1;
}

static int
serve(void)
{
	struct msg	m;
	char		err[MSG_ERRLEN];
	int		hello = 0, r, status = 0;
	struct job	*j;

	conn_init(&agent.conn, STDIN_FILENO, STDOUT_FILENO, "agent");
	if (fs_write_all(STDOUT_FILENO, AGENT_SENTINEL,
	    strlen(AGENT_SENTINEL)) == -1)
		fatal("write sentinel");
	send_hello();
	for (;;) {
		r = conn_read(&agent.conn, &m, err);
		if (r == 0)
			break;
		if (r == -1) {
			log_warnx("%s", err);
			send_error(0, E_BAD_FRAME, err);
			status = 1;
			break;
		}
		if (r == -2) {
			send_error(0, E_BAD_MESSAGE, err);
			continue;
		}
		if (!hello) {
			if ((r = check_hello(&m, err)) == -1) {
				msg_release(&m);
				status = 1;
				break;
			}
			hello = r;
			msg_release(&m);
			continue;
		}
		switch (m.type) {
		case MSG_PING: {
			struct buf f = BUF_INIT;

			if (frame_empty(&f, MSG_PONG, m.id) == 0)
				send_frame(&f);
			buf_release(&f);
			msg_release(&m);
			break;
		}
		case MSG_REQUEST:
			handle_request(&m, err);
			break;
		case MSG_DATA:
			handle_data(&m, err);
			break;
		case MSG_CANCEL:
			handle_cancel(&m);
			break;
		case MSG_HELLO:
			send_error(m.id, E_BAD_MESSAGE, "HELLO sent twice");
			msg_release(&m);
			break;
		default:
			snprintf(err, MSG_ERRLEN, "unexpected %s from the "
			    "controller", msg_type_name(m.type));
			send_error(m.id, E_BAD_MESSAGE, err);
			msg_release(&m);
			break;
		}
		if (agent.dead)
			break;
	}

	/* The controller is gone: cancel every job and wait for them. */
	pthread_mutex_lock(&agent.lock);
	for (j = agent.jobs; j != NULL; j = j->next)
		j->cancelled = 1;
	pthread_cond_broadcast(&agent.cond);
	while (agent.njobs > 0)
		pthread_cond_wait(&agent.cond, &agent.lock);
	pthread_mutex_unlock(&agent.lock);
	return status;
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: tug-agent serve [-v] [--state-dir DIR] [--docker-socket PATH]\n"
	    "                       [--bind-root DIR]...\n"
	    "       tug-agent check [--state-dir DIR] [--docker-socket PATH]\n"
	    "       tug-agent version\n"
	    "       tug-agent system-setup|system-undo nginx|caddy --user USER\n"
	    "                       [--binary PATH] [--config PATH] [--admin SOCKET]\n"
	    "\n"
	    "serve   speak tug frames on stdin/stdout (started by tugd over SSH)\n"
	    "check   print this host's facts as JSON; exit 1 if Docker is unreachable\n"
	    "system-setup  as root, once: ready the host's nginx (an include dir, a\n"
	    "        conf.d snippet, sudo for nginx -t and -s reload) or Caddy (its\n"
	    "        admin socket for group tug) for USER's agent\n"
	    "system-undo   as root: remove exactly what system-setup added\n"
	    "\n"
	    "  --state-dir DIR      journal and state (default ~/.tug-agent)\n"
	    "  --docker-socket PATH Docker's unix socket (default: $DOCKER_HOST if\n"
	    "                       unix://, else /var/run/docker.sock)\n"
	    "  --bind-root DIR      allow bind mounts below DIR (repeatable)\n"
	    "  -v                   more logging on stderr (twice: debug)\n");
}

static void
default_paths(void)
{
	const char	*home = getenv("HOME"), *dh = getenv("DOCKER_HOST");

	if (agent.state_dir[0] == '\0')
		snprintf(agent.state_dir, sizeof agent.state_dir,
		    "%s/.tug-agent", home != NULL && *home == '/' ? home :
		    "/tmp");
	if (agent.docker_sock[0] != '\0')
		return;
	if (dh != NULL && strncmp(dh, "unix://", 7) == 0)
		snprintf(agent.docker_sock, sizeof agent.docker_sock, "%s",
		    dh + 7);
	else {
		if (dh != NULL && *dh != '\0')
			log_warnx("ignoring DOCKER_HOST '%s': only unix:// "
			    "sockets are supported", dh);
		snprintf(agent.docker_sock, sizeof agent.docker_sock,
		    "/var/run/docker.sock");
	}
}

static void
set_path(char *dst, size_t dstsz, const char *what, const char *v)
{
	const char	*why;

	if ((why = check_abs_path(v)) != NULL)
		fatalx("%s '%s': %s", what, v, why);
	snprintf(dst, dstsz, "%s", v);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "state-dir", required_argument, NULL, 's' },
		{ "docker-socket", required_argument, NULL, 'd' },
		{ "bind-root", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char	*cmd;
	int		 ch, verbose = 0, r;

	log_init("tug-agent", 0);
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	cmd = argv[1];
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 ||
	    strcmp(cmd, "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
		printf("tug-agent %s (protocol %d)\n", TUG_VERSION,
		    PROTO_VERSION);
		return 0;
	}
	if (strcmp(cmd, "system-setup") == 0 ||
	    strcmp(cmd, "system-undo") == 0) {
		log_init("tug-agent", 0);
		return system_main(argc, argv);
	}
	if (strcmp(cmd, "serve") != 0 && strcmp(cmd, "check") != 0) {
		fprintf(stderr, "tug-agent: unknown command '%s'\n", cmd);
		usage(stderr);
		return 2;
	}
	optind = 2;
	while ((ch = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
		switch (ch) {
		case 's':
			set_path(agent.state_dir, sizeof agent.state_dir,
			    "--state-dir", optarg);
			break;
		case 'd':
			set_path(agent.docker_sock, sizeof agent.docker_sock,
			    "--docker-socket", optarg);
			break;
		case 'b':
			if (agent.nbind_roots == AGENT_BIND_ROOTS_MAX)
				fatalx("too many --bind-root");
			set_path(agent.bind_roots[agent.nbind_roots++],
			    PATH_MAX_TUG, "--bind-root", optarg);
			break;
		case 'v':
			verbose++;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	log_init("tug-agent", verbose);
	default_paths();
	signal(SIGPIPE, SIG_IGN);
	umask(077);
	if (fs_mkdirs(agent.state_dir, 0700) == -1)
		fatal("cannot create state dir '%s'", agent.state_dir);
	if (curl_global_init(CURL_GLOBAL_NOTHING) != 0)
		fatalx("curl_global_init failed");
	pthread_mutex_init(&agent.wlock, NULL);
	pthread_mutex_init(&agent.lock, NULL);
	pthread_cond_init(&agent.cond, NULL);
	docker_init();

	if (strcmp(cmd, "check") == 0) {
		struct enc	 e;
		struct buf	 f = BUF_INIT, j = BUF_INIT;
		struct msg	 m;
		char		 err[MSG_ERRLEN];

		enc_begin(&e, MSG_EVENT, 0);
		facts_encode(&e);
		if (enc_finish(&e, 0, &f, err) == -1 ||
		    msg_decode(&m, 0, f.ptr + FRAME_HDR, f.len - FRAME_HDR,
		    err) == -1)
			fatalx("facts: %s", err);
		msg_body_json(&m, &j);
		printf("%s\n", j.ptr);
		msg_release(&m);
		buf_release(&f);
		buf_release(&j);
		r = docker_ping(err);
		if (r == -1)
			fprintf(stderr, "tug-agent: %s\n", err);
		curl_global_cleanup();
		return r == -1 ? 1 : 0;
	}
	r = serve();
	curl_global_cleanup();
	return r;
}
