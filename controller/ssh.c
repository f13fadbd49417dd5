/*
 * ssh.c: one libssh session to one host. Connects with a timeout and
 * TCP_NODELAY, reads no ~/.ssh/config, checks the host key against the
 * fingerprint pinned for the host (or pins the one presented when asked),
 * authenticates with a key only (a key file, tugd's own key, or ssh-agent),
 * and runs commands or the agent on exec channels.
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libssh/libssh.h>

#include "common/clock.h"
#include "common/log.h"
#include "controller/tug.h"

#define RUN_OUT_MAX	(1u << 20)

int
ssh_key_ensure(const char *path, char *pub, size_t pubsz, char *err,
    size_t errsz)
{
	ssh_key		 key = NULL, pk = NULL;
	char		*b64 = NULL, pubpath[PATH_MAX_TUG + 8];
	int		 r = -1;

	if (access(path, F_OK) == 0) {
		if (ssh_pki_import_privkey_file(path, NULL, NULL, NULL,
		    &key) != SSH_OK) {
			snprintf(err, errsz, "cannot read the SSH key '%s'",
			    path);
			return -1;
		}
	} else {
		if (ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &key) != SSH_OK ||
		    ssh_pki_export_privkey_file(key, NULL, NULL, NULL, path) !=
		    SSH_OK) {
			snprintf(err, errsz, "cannot create the SSH key '%s'",
			    path);
			goto out;
		}
		chmod(path, 0600);
		snprintf(pubpath, sizeof pubpath, "%s.pub", path);
		if (ssh_pki_export_privkey_to_pubkey(key, &pk) == SSH_OK)
			ssh_pki_export_pubkey_file(pk, pubpath);
	}
	if (ssh_pki_export_privkey_to_pubkey(key, &pk) != SSH_OK &&
	    pk == NULL) {
		snprintf(err, errsz, "cannot derive the public key");
		goto out;
	}
	if (ssh_pki_export_pubkey_base64(pk, &b64) != SSH_OK) {
		snprintf(err, errsz, "cannot export the public key");
		goto out;
	}
	snprintf(pub, pubsz, "%s %s tugd", ssh_key_type_to_char(
	    ssh_key_type(pk)), b64);
	r = 0;
out:
	ssh_string_free_char(b64);
	ssh_key_free(pk);
	ssh_key_free(key);
	return r;
}

static int
fail(struct sshc *sc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
fail(struct sshc *sc, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(sc->err, sizeof sc->err, fmt, ap);
	va_end(ap);
	sshc_close(sc);
	return -1;
}

static int
authenticate(struct sshc *sc, const struct ssh_target *t)
{
	ssh_session	 s = sc->session;
	ssh_key		 key = NULL;
	const char	*path = t->key_path != NULL && *t->key_path ?
			    t->key_path : paths.key;
	int		 rc = SSH_AUTH_DENIED;

	if (ssh_pki_import_privkey_file(path, NULL, NULL, NULL, &key) ==
	    SSH_OK) {
		rc = ssh_userauth_publickey(s, NULL, key);
		ssh_key_free(key);
	} else if (t->key_path != NULL && *t->key_path)
		return fail(sc, "%s: cannot read the key '%s'", t->name, path);
	if (rc != SSH_AUTH_SUCCESS && getenv("SSH_AUTH_SOCK") != NULL &&
	    (t->key_path == NULL || *t->key_path == '\0'))
		rc = ssh_userauth_agent(s, NULL);
	if (rc == SSH_AUTH_SUCCESS)
		return 0;
	if (rc == SSH_AUTH_ERROR)
		return fail(sc, "%s: authentication failed: %s", t->name,
		    ssh_get_error(s));
	return fail(sc, "%s: %s@%s refused our key (%s%s)", t->name, t->user,
	    t->addr, path, getenv("SSH_AUTH_SOCK") != NULL ? " and ssh-agent" :
	    "");
}

int
sshc_connect(struct sshc *sc, const struct ssh_target *t)
{
	ssh_session	 s;
	ssh_key		 srv = NULL;
	unsigned char	*hash = NULL;
	size_t		 hlen;
	char		*fp;
	unsigned	 port = t->port;
	long		 timeout = t->timeout_s > 0 ? t->timeout_s : 10;
	int		 nodelay = 1, verbosity = SSH_LOG_NOLOG;
	bool		 no = false;

	memset(sc, 0, sizeof *sc);
	sc->fd = -1;
	if ((s = ssh_new()) == NULL)
		return fail(sc, "out of memory");
	sc->session = s;
	if (ssh_options_set(s, SSH_OPTIONS_HOST, t->addr) < 0 ||
	    ssh_options_set(s, SSH_OPTIONS_PORT, &port) < 0 ||
	    ssh_options_set(s, SSH_OPTIONS_USER, t->user) < 0 ||
	    ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &timeout) < 0 ||
	    ssh_options_set(s, SSH_OPTIONS_NODELAY, &nodelay) < 0 ||
	    ssh_options_set(s, SSH_OPTIONS_PROCESS_CONFIG, &no) < 0 ||
	    ssh_options_set(s, SSH_OPTIONS_KNOWNHOSTS, "/dev/null") < 0 ||
	    ssh_options_set(s, SSH_OPTIONS_GLOBAL_KNOWNHOSTS, "/dev/null") < 0 ||
	    ssh_options_set(s, SSH_OPTIONS_LOG_VERBOSITY, &verbosity) < 0)
		return fail(sc, "%s: bad SSH options", t->name);
	if (ssh_connect(s) != SSH_OK)
		return fail(sc, "%s: cannot connect to %s:%u: %s", t->name,
		    t->addr, port, ssh_get_error(s));
	if (ssh_get_server_publickey(s, &srv) != SSH_OK ||
	    ssh_get_publickey_hash(srv, SSH_PUBLICKEY_HASH_SHA256, &hash,
	    &hlen) != 0) {
		ssh_key_free(srv);
		return fail(sc, "%s: cannot read the host key", t->name);
	}
	fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, hlen);
	ssh_clean_pubkey_hash(&hash);
	ssh_key_free(srv);
	if (fp == NULL)
		return fail(sc, "%s: cannot hash the host key", t->name);
	snprintf(sc->fingerprint, sizeof sc->fingerprint, "%s", fp);
	ssh_string_free_char(fp);

	if (t->pinned != NULL && *t->pinned != '\0') {
		if (strcmp(t->pinned, sc->fingerprint) != 0) {
			char	seen[FINGERPRINT_MAX];

			snprintf(seen, sizeof seen, "%s", sc->fingerprint);
			if (t->expected)
				return fail(sc, "%s: %s:%u presented host key "
				    "%s, not the %s given with --hostkey; "
				    "nothing was added (check the fingerprint "
				    "on the host: ssh-keygen -lf "
				    "/etc/ssh/ssh_host_ed25519_key.pub)",
				    t->name, t->addr, port, seen, t->pinned);
			return fail(sc, "%s: HOST KEY CHANGED: %s:%u presented "
			    "%s but %s is pinned; refusing to connect (if the "
			    "host was reinstalled, remove and add it again)",
			    t->name, t->addr, port, seen, t->pinned);
		}
	} else if (!t->accept_new) {
		char	seen[FINGERPRINT_MAX];

		snprintf(seen, sizeof seen, "%s", sc->fingerprint);
		return fail(sc, "%s: unknown host key %s; check it and pass "
		    "--hostkey %s, or --accept-new-hostkey", t->name, seen,
		    seen);
	}
	if (authenticate(sc, t) == -1)
		return -1;
	sc->fd = ssh_get_fd(s);
	return 0;
}

void
sshc_close(struct sshc *sc)
{
	if (sc->channel != NULL) {
		ssh_channel_close(sc->channel);
		ssh_channel_free(sc->channel);
		sc->channel = NULL;
	}
	if (sc->session != NULL) {
		ssh_disconnect(sc->session);
		ssh_free(sc->session);
		sc->session = NULL;
	}
	sc->fd = -1;
}

int
sshc_exec(struct sshc *sc, const char *cmd)
{
	ssh_channel	ch;

	if ((ch = ssh_channel_new(sc->session)) == NULL ||
	    ssh_channel_open_session(ch) != SSH_OK ||
	    ssh_channel_request_exec(ch, cmd) != SSH_OK) {
		snprintf(sc->err, sizeof sc->err, "cannot start '%s': %s", cmd,
		    ssh_get_error(sc->session));
		if (ch != NULL)
			ssh_channel_free(ch);
		return -1;
	}
	sc->channel = ch;
	return 0;
}

int
sshc_run(struct sshc *sc, const char *cmd, const void *in, size_t inlen,
    struct buf *out, struct buf *errout, int timeout_s)
{
	ssh_channel	 ch;
	char		 chunk[16384];
	uint64_t	 deadline = clock_ms() + (uint64_t)timeout_s * 1000;
	const char	*p = in;
	int		 n, status, s;

	if ((ch = ssh_channel_new(sc->session)) == NULL ||
	    ssh_channel_open_session(ch) != SSH_OK ||
	    ssh_channel_request_exec(ch, cmd) != SSH_OK) {
		snprintf(sc->err, sizeof sc->err, "cannot run a command: %s",
		    ssh_get_error(sc->session));
		if (ch != NULL)
			ssh_channel_free(ch);
		return -1;
	}
	while (inlen > 0) {
		size_t k = inlen > 32768 ? 32768 : inlen;

		if ((n = ssh_channel_write(ch, p, (uint32_t)k)) <= 0) {
			snprintf(sc->err, sizeof sc->err, "write: %s",
			    ssh_get_error(sc->session));
			goto fail;
		}
		p += n;
		inlen -= (size_t)n;
	}
	ssh_channel_send_eof(ch);
	while (!ssh_channel_is_eof(ch)) {
		if (clock_ms() > deadline) {
			snprintf(sc->err, sizeof sc->err, "timed out after "
			    "%d s", timeout_s);
			goto fail;
		}
		for (s = 0; s < 2; s++) {
			struct buf *b = s == 0 ? out : errout;

			n = ssh_channel_read_timeout(ch, chunk, sizeof chunk, s,
			    s == 0 ? 100 : 0);
			if (n == SSH_ERROR) {
				snprintf(sc->err, sizeof sc->err, "read: %s",
				    ssh_get_error(sc->session));
				goto fail;
			}
			if (n > 0 && b != NULL && b->len < RUN_OUT_MAX)
				buf_add(b, chunk, (size_t)n);
		}
	}
	/* What arrived with the EOF. */
	for (s = 0; s < 2; s++) {
		struct buf *b = s == 0 ? out : errout;

		while ((n = ssh_channel_read_nonblocking(ch, chunk,
		    sizeof chunk, s)) > 0)
			if (b != NULL && b->len < RUN_OUT_MAX)
				buf_add(b, chunk, (size_t)n);
	}
	status = ssh_channel_get_exit_status(ch);
	ssh_channel_close(ch);
	ssh_channel_free(ch);
	return status;
fail:
	ssh_channel_close(ch);
	ssh_channel_free(ch);
	return -1;
}
