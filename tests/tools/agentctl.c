/*
 * agentctl.c: a test driver for tug-agent. Starts the given command (the
 * agent directly, or ssh running it), does the HELLO exchange, sends
 * requests whose args are written as JSON, streams a file as DATA frames,
 * cancels or kills on cue, and prints every frame it receives as JSON.
 *
 *   agentctl [-q] [-t SEC] [-d FILE] [-c TEXT] [-C MS] [-E MS] [-k STEP]
 *            [-P PIDFILE] [-r OP JSON]... [-R RAWFILE] [-B] -- CMD [ARG...]
 *
 * -E MS ends the session MS ms after the start: it closes the agent's
 * stdin, so the agent cancels every job and each still sends its RESULT.
 *
 * -L N cancels once N log lines have arrived and prints "lines= bytes= ms="
 * on stderr (for benchmarks; with -q no frame is rendered as JSON).
 * -k STEP kills the agent (SIGKILL) when a progress event of that step
 * arrives; with -P, the pid in PIDFILE is killed first (an agent behind ssh).
 * HELLO names the controller TUG_CONTROLLER_ID, by default
 * 00000000000000000000000000000001; set to "" it names none.
 *
 * Exit: 0 every request ended ok, 1 a request failed, was refused or was
 * never answered,
 * 2 usage or transport, 3 killed on cue, 4 the agent died of a signal.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/fs.h"
#include "proto/proto.h"

#define REQ_MAX	32
/* The controller id sent in HELLO unless TUG_CONTROLLER_ID says ("": none). */
#define TEST_CONTROLLER_ID	"00000000000000000000000000000001"

static struct conn	 c;
static pid_t		 child;
static const char	*datafile;
static pthread_mutex_t	 wlock = PTHREAD_MUTEX_INITIALIZER;

static void
die(const char *fmt, const char *arg)
{
	fprintf(stderr, "agentctl: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n");
	if (child > 0)
		kill(child, SIGKILL);
	exit(2);
}

static void
send_enc(struct enc *e)
{
	struct buf	f = BUF_INIT;
	char		err[MSG_ERRLEN];

	if (enc_finish(e, 0, &f, err) == -1)
		die("encode: %s", err);
	pthread_mutex_lock(&wlock);
	if (conn_write(&c, &f) == -1)
		fprintf(stderr, "agentctl: write: %s\n", strerror(errno));
	pthread_mutex_unlock(&wlock);
	buf_release(&f);
}

static void
json_enc(struct enc *e, json_t *j)
{
	const char	*k;
	json_t		*v;
	size_t		 i;

	switch (json_typeof(j)) {
	case JSON_OBJECT:
		enc_map_open(e);
		json_object_foreach(j, k, v) {
			enc_str(e, k);
			json_enc(e, v);
		}
		enc_close(e);
		break;
	case JSON_ARRAY:
		enc_arr_open(e);
		json_array_foreach(j, i, v)
			json_enc(e, v);
		enc_close(e);
		break;
	case JSON_STRING:
		enc_strn(e, json_string_value(j), json_string_length(j));
		break;
	case JSON_INTEGER:
		if (json_integer_value(j) >= 0)
			enc_u64(e, (uint64_t)json_integer_value(j));
		else
			enc_i64(e, json_integer_value(j));
		break;
	case JSON_REAL:
		enc_double(e, json_real_value(j));
		break;
	case JSON_TRUE:
		enc_bool(e, 1);
		break;
	case JSON_FALSE:
		enc_bool(e, 0);
		break;
	case JSON_NULL:
		enc_nil(e);
		break;
	}
}

static void *
data_thread(void *arg)
{
	static char	 chunk[256 * 1024];
	uint64_t	 id = *(uint64_t *)arg, seq = 0;
	ssize_t		 n;
	int		 fd;

	if (strcmp(datafile, "-") == 0)
		fd = STDIN_FILENO;
	else if ((fd = open(datafile, O_RDONLY)) == -1)
		die("cannot open '%s'", datafile);
	for (;;) {
		struct enc	e;

		if ((n = read(fd, chunk, sizeof chunk)) == -1) {
			if (errno == EINTR)
				continue;
			die("read '%s'", datafile);
		}
		enc_begin(&e, MSG_DATA, id);
		enc_ku64(&e, "seq", seq++);
		enc_str(&e, "bytes");
		enc_bin(&e, chunk, (size_t)n);
		enc_kbool(&e, "eof", n == 0);
		send_enc(&e);
		if (n == 0)
			break;
	}
	if (fd != STDIN_FILENO)
		close(fd);
	return NULL;
}

static long
number(const char *s, long lo, long hi)
{
	char	*end;
	long	 n = strtol(s, &end, 10);

	if (*end != '\0' || end == s || n < lo || n > hi)
		die("bad number '%s'", s);
	return n;
}

static void
spawn(char **argv)
{
	int	in[2], out[2];

	if (pipe(in) == -1 || pipe(out) == -1)
		die("pipe%s", "");
	if ((child = fork()) == -1)
		die("fork%s", "");
	if (child == 0) {
		dup2(in[0], STDIN_FILENO);
		dup2(out[1], STDOUT_FILENO);
		close(in[0]); close(in[1]); close(out[0]); close(out[1]);
		execvp(argv[0], argv);
		fprintf(stderr, "agentctl: exec %s: %s\n", argv[0],
		    strerror(errno));
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	conn_init(&c, out[0], in[1], "agentctl");
}

static int
child_status(void)
{
	int	st;

	close(c.wfd);
	if (waitpid(child, &st, 0) == -1)
		return 2;
	if (WIFSIGNALED(st)) {
		fprintf(stderr, "agentctl: agent died of signal %d\n",
		    WTERMSIG(st));
		return 4;
	}
	fprintf(stderr, "agentctl: agent exited %d\n", WEXITSTATUS(st));
	return 0;
}

int
main(int argc, char **argv)
{
	const char	*ops[REQ_MAX], *jargs[REQ_MAX], *cancel_text = NULL;
	const char	*kill_step = NULL, *rawfile = NULL, *pidfile = NULL;
	const char	*controller;
	int		 nreq = 0, quiet = 0, raw_before = 0, ch, pending, rc = 0;
	int		 timeout_s = 120, i, cancelled = 0;
	long		 cancel_ms = -1, end_ms = -1;
	uint64_t	 want_lines = 0, got_lines = 0, got_bytes = 0;
	uint64_t	 t0, id1 = 1;
	char		 err[MSG_ERRLEN];
	struct msg	 m;
	pthread_t	 dt;

	while ((ch = getopt(argc, argv, "qt:d:c:C:E:k:P:L:r:R:B")) != -1) {
		switch (ch) {
		case 'q': quiet = 1; break;
		case 't': timeout_s = (int)number(optarg, 1, 3600); break;
		case 'd': datafile = optarg; break;
		case 'c': cancel_text = optarg; break;
		case 'C': cancel_ms = number(optarg, 0, 3600000); break;
		case 'E': end_ms = number(optarg, 0, 3600000); break;
		case 'k': kill_step = optarg; break;
		case 'P': pidfile = optarg; break;
		case 'L': want_lines = strtoull(optarg, NULL, 10); break;
		case 'R': rawfile = optarg; break;
		case 'B': raw_before = 1; break;
		case 'r':
			if (nreq == REQ_MAX || optind >= argc)
				die("bad -r%s", "");
			ops[nreq] = optarg;
			jargs[nreq++] = argv[optind++];
			break;
		default:
			die("usage: see the comment in agentctl.c%s", "");
		}
	}
	if (optind >= argc)
		die("no command given%s", "");
	if ((controller = getenv("TUG_CONTROLLER_ID")) == NULL)
		controller = TEST_CONTROLLER_ID;
	signal(SIGPIPE, SIG_IGN);
	spawn(argv + optind);
	t0 = clock_ms();

	if (conn_skip_to_sentinel(&c, AGENT_SENTINEL, 65536, 15000, err) == -1)
		die("%s", err);
	if (rawfile != NULL && raw_before) {
		struct buf b = BUF_INIT;

		if (fs_read_file(rawfile, &b, 8 << 20) == -1)
			die("cannot read '%s'", rawfile);
		fs_write_all(c.wfd, b.ptr, b.len);
		buf_release(&b);
	} else {
		struct enc e;

		enc_begin(&e, MSG_HELLO, 0);
		enc_ku64(&e, "proto", PROTO_VERSION);
		enc_kstr(&e, "version", TUG_VERSION);
		enc_kstr(&e, "role", "controller");
		if (*controller != '\0')
			enc_kstr(&e, "controller", controller);
		enc_karr(&e, "caps");
		enc_close(&e);
		send_enc(&e);
	}
	if (rawfile != NULL && !raw_before) {
		struct buf b = BUF_INIT;

		if (fs_read_file(rawfile, &b, 8 << 20) == -1)
			die("cannot read '%s'", rawfile);
		fs_write_all(c.wfd, b.ptr, b.len);
		buf_release(&b);
	}
	for (i = 0; i < nreq; i++) {
		struct enc	 e;
		json_t		*j;
		json_error_t	 je;

		if ((j = json_loads(jargs[i], JSON_ALLOW_NUL, &je)) == NULL)
			die("bad JSON args: %s", je.text);
		enc_begin(&e, MSG_REQUEST, (uint64_t)i + 1);
		enc_kstr(&e, "op", ops[i]);
		enc_str(&e, "args");
		json_enc(&e, j);
		json_decref(j);
		send_enc(&e);
	}
	if (datafile != NULL && nreq > 0)
		pthread_create(&dt, NULL, data_thread, &id1);
	if (rawfile != NULL && nreq == 0) {
		/* Raw mode: close our side and print whatever comes back. */
		close(c.wfd);
		c.wfd = -1;
	}

	/* The agent's HELLO, then frames until every request has ended. */
	pending = nreq;
	for (;;) {
		struct pollfd	 pfd = { c.rfd, POLLIN, 0 };
		struct buf	 j = BUF_INIT;
		uint64_t	 now = clock_ms();
		int		 wait_ms = 200, r;

		if (rawfile == NULL && pending == 0)
			break;
		if (now - t0 > (uint64_t)timeout_s * 1000) {
			fprintf(stderr, "agentctl: timed out\n");
			kill(child, SIGKILL);
			return 2;
		}
		if (cancel_ms >= 0 && !cancelled &&
		    now - t0 >= (uint64_t)cancel_ms) {
			struct enc e;

			enc_begin(&e, MSG_CANCEL, 1);
			send_enc(&e);
			cancelled = 1;
		}
		if (end_ms >= 0 && c.wfd != -1 &&
		    now - t0 >= (uint64_t)end_ms) {
			pthread_mutex_lock(&wlock);
			close(c.wfd);
			c.wfd = -1;
			pthread_mutex_unlock(&wlock);
		}
		if (poll(&pfd, 1, wait_ms) <= 0)
			continue;
		if ((r = conn_read(&c, &m, err)) == 0)
			break;
		if (r < 0) {
			printf("{\"agentctl\":\"bad frame\",\"error\":\"%s\"}\n",
			    err);
			if (r == -1)
				break;
			continue;
		}
		if (want_lines > 0 && m.type == MSG_EVENT) {
			struct mv	body;
			size_t		n, k;

			msg_body(&m, &body, err, "");
			if (mv_arr(&body, "lines", &n, MSG_ARRAY_MAX, 0) == 1) {
				for (k = 0; k < n; k++) {
					const void	*p;
					size_t		 len;

					if (mv_arr_bin(&body, "lines", k, &p,
					    &len) == 1)
						got_bytes += len + 1;
				}
				got_lines += n;
			}
			if (got_lines >= want_lines && !cancelled) {
				struct enc e;

				fprintf(stderr, "lines=%llu bytes=%llu ms=%llu\n",
				    (unsigned long long)got_lines,
				    (unsigned long long)got_bytes,
				    (unsigned long long)(clock_ms() - t0));
				enc_begin(&e, MSG_CANCEL, m.id);
				send_enc(&e);
				cancelled = 1;
			}
		}
		if (!quiet || m.type != MSG_EVENT || cancel_text != NULL ||
		    kill_step != NULL)
			msg_to_json(&m, &j);
		if (!quiet || m.type != MSG_EVENT)
			printf("%s\n", j.ptr != NULL ? j.ptr : "");
		fflush(stdout);
		if (m.type == MSG_RESULT || (m.type == MSG_ERROR && m.id != 0 &&
		    m.id <= (uint64_t)nreq)) {
			struct mv	body;
			int		ok = 0;

			msg_body(&m, &body, err, "");
			if (m.type == MSG_ERROR ||
			    mv_bool(&body, "ok", &ok, MV_REQ) != 1 || !ok)
				rc = 1;
			pending--;
		}
		if (m.type == MSG_EVENT && cancel_text != NULL && !cancelled &&
		    strstr(j.ptr, cancel_text) != NULL) {
			struct enc e;

			enc_begin(&e, MSG_CANCEL, m.id);
			send_enc(&e);
			cancelled = 1;
		}
		if (m.type == MSG_EVENT && kill_step != NULL) {
			char pat[128];

			snprintf(pat, sizeof pat, "\"step\":\"%s\"", kill_step);
			if (strstr(j.ptr, pat) != NULL) {
				FILE	*pf;
				long	 pid;

				if (pidfile != NULL &&
				    (pf = fopen(pidfile, "r")) != NULL) {
					if (fscanf(pf, "%ld", &pid) == 1 &&
					    pid > 1)
						kill((pid_t)pid, SIGKILL);
					fclose(pf);
				}
				kill(child, SIGKILL);
				waitpid(child, NULL, 0);
				fprintf(stderr, "agentctl: killed the agent at "
				    "step %s\n", kill_step);
				buf_release(&j);
				msg_release(&m);
				return 3;
			}
		}
		buf_release(&j);
		msg_release(&m);
	}
	if (rawfile != NULL && nreq == 0)
		return child_status();
	if (pending > 0)	/* the agent closed on them */
		rc = 1;
	ch = child_status();
	return ch != 0 ? ch : rc;
}
