/*
 * ssh-floor.c: the floor under tugd's cold connect, for fleet-scale.sh.
 * Opens COUNT libssh sessions to ADDR:FIRST..FIRST+COUNT-1 as USER with
 * the key KEY (TCP connect, key exchange, host key read, publickey auth:
 * what sshc_connect does, and nothing after it), at most J at once as
 * tugd's handshake limit allows (TUG_HANDSHAKES, 16), the sessions held
 * open until the last is done. With -x, each session then also runs CMD
 * on an exec channel to its end, as tugd starts its agent there. Prints
 * "ok=N failed=N ms=T"; exits 0 when every session came up.
 *
 *   ssh-floor [-j J] [-x CMD] KEY USER ADDR FIRST COUNT
 */
#include <err.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <libssh/libssh.h>

#include "common/clock.h"

#define COUNT_MAX	65536

static struct {
	const char	*user;
	const char	*addr;
	const char	*cmd;		/* -x, or NULL */
	unsigned	 first;
	int		 count;
	ssh_key		 key;
	ssh_session	*sessions;
	pthread_mutex_t	 lock;
	int		 next;
	int		 ok;
	int		 failed;
	char		 first_err[256];
} fl = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* CMD on an exec channel of s, read to its end. */
static int
run_one(ssh_session s, char *why, size_t whysz)
{
	ssh_channel	ch;
	char		buf[4096];
	int		n;

	if ((ch = ssh_channel_new(s)) == NULL ||
	    ssh_channel_open_session(ch) != SSH_OK ||
	    ssh_channel_request_exec(ch, fl.cmd) != SSH_OK) {
		snprintf(why, whysz, "exec: %s", ssh_get_error(s));
		if (ch != NULL)
			ssh_channel_free(ch);
		return -1;
	}
	while ((n = ssh_channel_read_timeout(ch, buf, sizeof buf, 0,
	    10000)) > 0)
		;
	ssh_channel_close(ch);
	ssh_channel_free(ch);
	if (n == SSH_ERROR) {
		snprintf(why, whysz, "exec: %s", ssh_get_error(s));
		return -1;
	}
	return 0;
}

/* One session as tugd's ssh.c opens it; NULL (and why) on failure. */
static ssh_session
open_one(unsigned port, char *why, size_t whysz)
{
	ssh_session	 s;
	ssh_key		 srv = NULL;
	unsigned char	*hash = NULL;
	size_t		 hlen;
	long		 timeout = 10;
	int		 nodelay = 1, verbosity = SSH_LOG_NOLOG;
	bool		 no = false;

	if ((s = ssh_new()) == NULL) {
		snprintf(why, whysz, "out of memory");
		return NULL;
	}
	if (ssh_options_set(s, SSH_OPTIONS_HOST, fl.addr) < 0 ||
	    ssh_options_set(s, SSH_OPTIONS_PORT, &port) < 0 ||
	    ssh_options_set(s, SSH_OPTIONS_USER, fl.user) < 0 ||
	    ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &timeout) < 0 ||
	    ssh_options_set(s, SSH_OPTIONS_NODELAY, &nodelay) < 0 ||
	    ssh_options_set(s, SSH_OPTIONS_PROCESS_CONFIG, &no) < 0 ||
	    ssh_options_set(s, SSH_OPTIONS_KNOWNHOSTS, "/dev/null") < 0 ||
	    ssh_options_set(s, SSH_OPTIONS_GLOBAL_KNOWNHOSTS, "/dev/null") < 0 ||
	    ssh_options_set(s, SSH_OPTIONS_LOG_VERBOSITY, &verbosity) < 0) {
		snprintf(why, whysz, "port %u: bad SSH options", port);
		goto fail;
	}
	if (ssh_connect(s) != SSH_OK) {
		snprintf(why, whysz, "port %u: connect: %s", port,
		    ssh_get_error(s));
		goto fail;
	}
	if (ssh_get_server_publickey(s, &srv) != SSH_OK ||
	    ssh_get_publickey_hash(srv, SSH_PUBLICKEY_HASH_SHA256, &hash,
	    &hlen) != 0) {
		ssh_key_free(srv);
		snprintf(why, whysz, "port %u: no host key", port);
		goto fail;
	}
	ssh_clean_pubkey_hash(&hash);
	ssh_key_free(srv);
	if (ssh_userauth_publickey(s, NULL, fl.key) != SSH_AUTH_SUCCESS) {
		snprintf(why, whysz, "port %u: auth: %s", port,
		    ssh_get_error(s));
		goto fail;
	}
	if (fl.cmd != NULL && run_one(s, why, whysz) == -1)
		goto fail;
	return s;
fail:
	ssh_disconnect(s);
	ssh_free(s);
	return NULL;
}

static void *
worker(void *arg)
{
	char		why[256];
	ssh_session	s;
	int		i;

	(void)arg;
	for (;;) {
		pthread_mutex_lock(&fl.lock);
		i = fl.next < fl.count ? fl.next++ : -1;
		pthread_mutex_unlock(&fl.lock);
		if (i == -1)
			return NULL;
		s = open_one(fl.first + (unsigned)i, why, sizeof why);
		pthread_mutex_lock(&fl.lock);
		fl.sessions[i] = s;
		if (s != NULL)
			fl.ok++;
		else if (fl.failed++ == 0)
			snprintf(fl.first_err, sizeof fl.first_err, "%s", why);
		pthread_mutex_unlock(&fl.lock);
	}
}

static void
usage(void)
{
	fprintf(stderr, "usage: ssh-floor [-j J] [-x CMD] KEY USER ADDR FIRST "
	    "COUNT\n");
	exit(2);
}

/* How many handshakes at once: 1 to 256, or -1. */
static int
parallel(const char *s)
{
	char	*end;
	long	 v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 1 || v > 256)
		return -1;
	return (int)v;
}

int
main(int argc, char **argv)
{
	const char	*env = getenv("TUG_HANDSHAKES");
	pthread_t	*th;
	pthread_attr_t	 attr;
	struct rlimit	 rl;
	uint64_t	 t0, ms;
	char		*end;
	long		 v;
	int		 ch, j = 16, i;

	if (env != NULL && *env != '\0' && (j = parallel(env)) == -1)
		errx(2, "TUG_HANDSHAKES: '%s' is not 1 to 256", env);
	while ((ch = getopt(argc, argv, "j:x:")) != -1) {
		switch (ch) {
		case 'j':
			if ((j = parallel(optarg)) == -1)
				errx(2, "-j: '%s' is not 1 to 256", optarg);
			break;
		case 'x':
			fl.cmd = optarg;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != 5 || j < 1 || j > 256)
		usage();
	fl.user = argv[1];
	fl.addr = argv[2];
	v = strtol(argv[3], &end, 10);
	if (*end != '\0' || v < 1 || v > 65535)
		usage();
	fl.first = (unsigned)v;
	v = strtol(argv[4], &end, 10);
	if (*end != '\0' || v < 1 || v > COUNT_MAX || fl.first + v > 65536)
		usage();
	fl.count = (int)v;
	if (j > fl.count)
		j = fl.count;

	/* One descriptor a session, held to the end. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	ssh_init();
	if (ssh_pki_import_privkey_file(argv[0], NULL, NULL, NULL,
	    &fl.key) != SSH_OK) {
		fprintf(stderr, "ssh-floor: cannot read the key '%s'\n",
		    argv[0]);
		return 1;
	}
	if ((fl.sessions = calloc((size_t)fl.count, sizeof *fl.sessions)) ==
	    NULL || (th = calloc((size_t)j, sizeof *th)) == NULL) {
		fprintf(stderr, "ssh-floor: out of memory\n");
		return 1;
	}

	t0 = clock_ms();
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 512 * 1024);
	for (i = 0; i < j; i++)
		if (pthread_create(&th[i], &attr, worker, NULL) != 0) {
			fprintf(stderr, "ssh-floor: cannot start a thread\n");
			return 1;
		}
	for (i = 0; i < j; i++)
		pthread_join(th[i], NULL);
	ms = clock_ms() - t0;
	pthread_attr_destroy(&attr);

	printf("ok=%d failed=%d ms=%llu\n", fl.ok, fl.failed,
	    (unsigned long long)ms);
	if (fl.failed > 0)
		fprintf(stderr, "ssh-floor: %d failed, first: %s\n", fl.failed,
		    fl.first_err);
	for (i = 0; i < fl.count; i++)
		if (fl.sessions[i] != NULL) {
			ssh_disconnect(fl.sessions[i]);
			ssh_free(fl.sessions[i]);
		}
	ssh_key_free(fl.key);
	free(fl.sessions);
	free(th);
	ssh_finalize();
	return fl.failed > 0 ? 1 : 0;
}
