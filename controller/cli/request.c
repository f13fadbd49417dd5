/*
 * request.c: one REQUEST to tugd, its args built by cmd.c, and the answer:
 * progress EVENTs on stderr, a streaming command's log lines, then the
 * RESULT rendered or the ERROR printed. Ctrl-C during a stream asks tugd to
 * cancel. run() returns tug's exit status.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "controller/cli/cli.h"

/*
 * A streaming command ends on Ctrl-C (or TERM, HUP) by asking tugd to
 * cancel, which cancels the job on every agent; the result is still read.
 * A second signal leaves at once.
 */
static volatile sig_atomic_t interrupted;

static void
on_interrupt(int sig)
{
	if (interrupted != 0)
		_exit(128 + sig);
	interrupted = sig;
}

static void
catch_interrupts(void)
{
	struct sigaction	sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_interrupt;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);	/* no SA_RESTART: poll() returns */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

/*
 * A rollout (deploy, rollback, restart, env changes) goes on in tugd when
 * tug goes: Ctrl-C says so, and how to watch it again, and leaves.
 */
static char	leave_msg[300];

static void
on_leave(int sig)
{
	ssize_t	r;

	r = write(STDERR_FILENO, leave_msg, strlen(leave_msg));
	(void)r;
	_exit(128 + sig);
}

static void
leave_on_interrupt(const char *op, const char *site)
{
	struct sigaction	sa;

	if (strcmp(op, "deploy.follow") == 0)
		snprintf(leave_msg, sizeof leave_msg, "\ntug: stopped "
		    "following; the deploy goes on in tugd\n");
	else
		snprintf(leave_msg, sizeof leave_msg, "\ntug: you stopped "
		    "watching, not the deploy: it goes on in tugd. Follow it: "
		    "tug deploy --follow %s\n", site);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_leave;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

/* Colour on a terminal, unless NO_COLOR (no-color.org) or TERM=dumb. */
static int
colour_on(void)
{
	const char	*nc = getenv("NO_COLOR"), *term = getenv("TERM");

	return isatty(STDERR_FILENO) && (nc == NULL || *nc == '\0') &&
	    (term == NULL || strcmp(term, "dumb") != 0);
}

/* A progress step's colour: red for a failure, green for done. */
static const char *
paint(int colour, const char *step)
{
	if (!colour)
		return "";
	if (strcmp(step, "failed") == 0 || strcmp(step, "skipped") == 0)
		return "\033[31m";
	if (strcmp(step, "done") == 0)
		return "\033[32m";
	return "";
}

static void
print_error(int colour, const char *msg)
{
	fprintf(stderr, "%stug: %s%s\n", colour ? "\033[1;31m" : "", msg,
	    colour ? "\033[0m" : "");
}

/* --detach: the release is made; say so and leave it to tugd. */
static void
print_detached(struct mv *ev)
{
	char	site[64], image[300];

	s_(ev, "site", site, sizeof site);
	if (json_out) {		/* names and references need no escaping */
		printf("{\"site\":\"%s\",\"release\":%lld,\"image\":\"%s\","
		    "\"detached\":true}\n", site, (long long)u_(ev, "release"),
		    s_(ev, "image", image, sizeof image));
		return;
	}
	printf("release %lld of %s is rolling out in tugd; follow it: tug "
	    "deploy --follow %s\n", (long long)u_(ev, "release"), site, site);
}

/*
 * The next frame from tugd; CANCEL goes out first when it is time. A
 * stdout whose reader left (tug logs -f | head) counts as an interrupt.
 */
static int
stream_read(struct conn *conn, struct msg *m, char *err, int *cancelled)
{
	struct pollfd	pfd[2];
	struct buf	f = BUF_INIT;
	int		r;

	for (;;) {
		pfd[0].fd = conn->rfd;
		pfd[0].events = POLLIN;
		pfd[1].fd = stdout_broken ? -1 : STDOUT_FILENO;
		pfd[1].events = 0;	/* only POLLERR and POLLHUP */
		if ((interrupted || stdout_broken) && !*cancelled) {
			if (frame_empty(&f, MSG_CANCEL, 1) == 0)
				conn_write(conn, &f);
			buf_release(&f);
			*cancelled = 1;
		}
		r = poll(pfd, 2, *cancelled ? 10000 : -1);
		if (r == -1 && errno == EINTR)
			continue;
		if (r > 0 && (pfd[1].revents & (POLLERR | POLLHUP)) &&
		    !(pfd[0].revents & POLLIN)) {
			stdout_broken = 1;
			continue;
		}
		if (r == -1) {
			snprintf(err, MSG_ERRLEN, "poll: %s", strerror(errno));
			return -1;
		}
		if (r == 0) {
			snprintf(err, MSG_ERRLEN, "tugd did not confirm the "
			    "cancel within 10 s");
			return -1;
		}
		return conn_read(conn, m, err);
	}
}

int
run(const struct cli_cmd *c, int argc, char **argv, const char *as)
{
	struct conn	 conn;
	struct enc	 e;
	struct buf	 f = BUF_INIT;
	struct msg	 m;
	struct mv	 body, val, errv;
	char		 err[MSG_ERRLEN], msg[1024], code[64];
	int		 fd, r, ok = 0, status = 1, tty = isatty(STDERR_FILENO);
	int		 stream = c->mode & CMD_STREAM, cancelled = 0;
	int		 colour = colour_on();
	const char	*op = cmd_op(c, argc, argv);
	uint64_t	 t0 = clock_ms();

	enc_begin(&e, MSG_REQUEST, 1);
	enc_kstr(&e, "op", op);
	if (as != NULL)
		enc_kstr(&e, "as", as);
	enc_kmap(&e, "args");
	if (build_args(c, argc, argv, &e) == -1) {
		enc_release(&e);
		return 2;
	}
	if ((r = confirm(c, argc, argv)) != 0) {
		enc_release(&e);
		return r;
	}
	enc_close(&e);
	if (enc_finish(&e, 0, &f, err) == -1) {
		fprintf(stderr, "tug: %s\n", err);
		return 2;
	}
	if ((fd = open_tugd(strcmp(c->op, "init") == 0)) == -1) {
		buf_release(&f);
		return 3;
	}
	conn_init(&conn, fd, fd, "tug");
	{
		struct buf	h = BUF_INIT;
		struct enc	he;

		enc_begin(&he, MSG_HELLO, 0);
		enc_ku64(&he, "proto", PROTO_VERSION);
		enc_kstr(&he, "version", TUG_VERSION);
		enc_kstr(&he, "role", "cli");
		if (enc_finish(&he, 0, &h, err) == -1 ||
		    conn_write(&conn, &h) == -1 || conn_write(&conn, &f) == -1) {
			fprintf(stderr, "tug: cannot talk to tugd: %s\n",
			    strerror(errno));
			buf_release(&h);
			buf_release(&f);
			close(fd);
			return 3;
		}
		buf_release(&h);
	}
	buf_release(&f);
	if (stream)
		catch_interrupts();
	else if (c->mode & CMD_ROLLOUT)
		leave_on_interrupt(op, cmd_args[0] != NULL ? cmd_args[0] :
		    "SITE");
	for (;;) {
		r = stream ? stream_read(&conn, &m, err, &cancelled) :
		    conn_read(&conn, &m, err);
		if (r != 1) {
			fprintf(stderr, "tug: %s\n", r == 0 ? "tugd closed the "
			    "connection" : err);
			status = 3;
			break;
		}
		msg_body(&m, &body, err, "");
		if (m.type == MSG_HELLO) {
			msg_release(&m);
			continue;
		}
		if (m.type == MSG_EVENT) {
			char	host[64], step[32];

			if (stream && render_log_event(&body)) {
				msg_release(&m);
				continue;
			}
			if (detach && mv_str(&body, "kind", step, sizeof step,
			    0) == 1 && strcmp(step, "release") == 0) {
				print_detached(&body);
				msg_release(&m);
				status = 0;
				break;
			}
			if (!quiet && !json_out &&
			    mv_str(&body, "message", msg, sizeof msg, 0) == 1) {
				const char	*pc;

				s_(&body, "step", step, sizeof step);
				pc = paint(colour, step);
				if (tty)
					fprintf(stderr, "%6.1fs  ", (double)
					    (clock_ms() - t0) / 1000);
				if (mv_str(&body, "host", host, sizeof host,
				    0) == 1)
					fprintf(stderr, "%s%s: %s%s\n", pc, host,
					    msg, *pc != '\0' ? "\033[0m" : "");
				else
					fprintf(stderr, "%s%s%s\n", pc, msg,
					    *pc != '\0' ? "\033[0m" : "");
			}
			msg_release(&m);
			continue;
		}
		if (m.type == MSG_ERROR) {
			/* A refusal: as JSON too, {code, message}. */
			if (json_out) {
				struct buf	b = BUF_INIT;

				msg_body_json(&m, &b);
				printf("%s\n", buf_str(&b));
				buf_release(&b);
			}
			s_(&body, "message", msg, sizeof msg);
			print_error(colour, msg);
			msg_release(&m);
			break;
		}
		if (m.type == MSG_RESULT) {
			mv_bool(&body, "ok", &ok, 0);
			if (ok && mv_map(&body, "value", &val, 0) == 1) {
				if (json_out) {
					/* A stream's lines were its output. */
					if (!stream)
						print_json(&body, "value");
				} else if (c->render != NULL)
					c->render(&val);
				status = 0;
				/* A fleet op is ok only if every host was. */
				if (mv_present(&val, "reachable") &&
				    u_(&val, "reachable") < u_(&val, "total"))
					status = 1;
			} else if (mv_map(&body, "error", &errv, 0) == 1) {
				s_(&errv, "message", msg, sizeof msg);
				s_(&errv, "code", code, sizeof code);
				if (json_out)
					print_json(&body, "error");
				print_error(colour, msg);
			}
			msg_release(&m);
			break;
		}
		msg_release(&m);
	}
	close(fd);
	if (interrupted)
		status = 128 + interrupted;
	return status;
}
