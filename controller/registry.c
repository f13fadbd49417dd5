/*
 * registry.c: registry logins held by tugd. `tug registry login` stores a
 * server's username and password (the password sealed like a secret, never
 * printed, never audited); a deploy of an image whose reference names that
 * server sends them to the agents inside the site.apply job only, and the
 * agent hands them to Docker's pull. Nothing is kept on the hosts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/validate.h"
#include "common/xmalloc.h"
#include "controller/tug.h"

#define REG_USER_MAX	256
#define REG_PASS_MAX	4096

/* Sealed with the server as associated data: a row moved is unreadable. */
static void
ad_for(char *ad, size_t n, const char *server)
{
	snprintf(ad, n, "registry:%s", server);
}

/* host[:port], the host per RFC 1123 (or localhost), the port 1..65535. */
const char *
check_registry_server(const char *s)
{
	char		 host[REGISTRY_SERVER_MAX + 1], *colon, *end;
	unsigned long	 port;

	if (strlen(s) > REGISTRY_SERVER_MAX)
		return "longer than 259 characters (253 of host, a port)";
	snprintf(host, sizeof host, "%s", s);
	if ((colon = strchr(host, ':')) != NULL) {
		*colon = '\0';
		port = strtoul(colon + 1, &end, 10);
		if (colon[1] < '0' || colon[1] > '9' || *end != '\0' ||
		    port == 0 || port > 65535)
			return "the port is not a number from 1 to 65535";
	}
	if (host[0] == '*')
		return "a registry cannot be a wildcard";
	return check_domain(host);
}

/*
 * The registry an image reference names, or 0 when it names none (a
 * Docker Hub short name such as "nginx:1" or "org/app"): its first path
 * component, when that has a '.' or a ':' or is "localhost".
 */
int
registry_of(const char *ref, char *server, size_t n)
{
	const char	*slash = strchr(ref, '/');
	size_t		 len;

	if (slash == NULL || strncmp(ref, "sha256:", 7) == 0)
		return 0;
	len = (size_t)(slash - ref);
	if (memchr(ref, '.', len) == NULL && memchr(ref, ':', len) == NULL &&
	    !(len == 9 && memcmp(ref, "localhost", 9) == 0))
		return 0;
	if (len >= n)
		return 0;
	memcpy(server, ref, len);
	server[len] = '\0';
	return 1;
}

/* A login row: the username into user (usersz bytes), the sealed password. */
struct login {
	char		*user;
	size_t		 usersz;
	struct buf	 sealed;
};

static void
row_to_login(sqlite3_stmt *st, void *p)
{
	struct login	*l = p;

	snprintf(l->user, l->usersz, "%s", db_col(st, 0));
	buf_add(&l->sealed, sqlite3_column_blob(st, 1),
	    (size_t)sqlite3_column_bytes(st, 1));
}

/* The login for server: 1 found (password filled, wipe it), 0 none, -1. */
int
registry_auth(const char *server, char *user, size_t usersz,
    struct buf *password)
{
	struct login	 l = { user, usersz, BUF_INIT };
	char		 ad[REGISTRY_SERVER_MAX + 16];
	int		 r;

	r = db_row("SELECT username, password FROM registries WHERE "
	    "server = ?", row_to_login, &l, "t", server);
	if (r == 1) {
		ad_for(ad, sizeof ad, server);
		if (secret_open(ad, l.sealed.ptr, l.sealed.len, password) == -1)
			r = -1;
	}
	buf_release(&l.sealed);
	return r;
}

static int
text_ok(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

void
cmd_registry_login(struct client *c, struct mv *args)
{
	char		 server[REGISTRY_SERVER_MAX + 1], user[REG_USER_MAX + 1];
	char		 ad[REGISTRY_SERVER_MAX + 16];
	char		*pass = NULL;
	const char	*why;
	struct buf	 sealed = BUF_INIT;
	struct enc	 e;
	size_t		 plen = 0;

	if (mv_str(args, "server", server, sizeof server, MV_REQ) != 1 ||
	    mv_str(args, "username", user, sizeof user, MV_REQ) != 1) {
		client_fail(c, E_BAD_ARGS, "registry login needs SERVER and "
		    "--username (at most %d characters)", REG_USER_MAX);
		return;
	}
	if ((why = check_registry_server(server)) != NULL) {
		client_fail(c, E_BAD_ARGS, "bad registry '%s': %s", server, why);
		return;
	}
	if (user[0] == '\0' || !text_ok(user)) {
		client_fail(c, E_BAD_ARGS, "the username is empty or holds "
		    "control characters");
		return;
	}
	pass = xmalloc(REG_PASS_MAX + 1);
	if (mv_str(args, "password", pass, REG_PASS_MAX + 1, MV_REQ) != 1 ||
	    (plen = strlen(pass)) == 0 || !text_ok(pass)) {
		client_fail(c, E_BAD_ARGS, "the password is missing, longer "
		    "than %d bytes or holds control characters (give it on "
		    "stdin with --password-stdin)", REG_PASS_MAX);
		goto out;
	}
	ad_for(ad, sizeof ad, server);
	if (secret_seal(ad, pass, plen, &sealed) == -1) {
		client_fail(c, E_INTERNAL, "cannot seal the password (key "
		    "file %s/secret.key?)", paths.home);
		goto out;
	}
	if (db_run("INSERT INTO registries (server, username, password, who, "
	    "created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (server) DO UPDATE "
	    "SET username = excluded.username, password = excluded.password, "
	    "who = excluded.who, created_at = excluded.created_at", "ttbti",
	    server, user, sealed.ptr, sealed.len, c->user,
	    (int64_t)(wall_ms() / 1000)) == -1) {
		client_fail(c, E_INTERNAL, "cannot store the login");
		goto out;
	}
	client_result_begin(c, &e);
	enc_kstr(&e, "server", server);
	enc_kstr(&e, "username", user);
	client_ok(c, &e);
out:
	if (pass != NULL) {
		explicit_bzero(pass, REG_PASS_MAX + 1);
		free(pass);
	}
	buf_release(&sealed);
}

void
cmd_registry_logout(struct client *c, struct mv *args)
{
	char		 server[REGISTRY_SERVER_MAX + 1];
	struct enc	 e;
	int		 n;

	if (mv_str(args, "server", server, sizeof server, MV_REQ) != 1 ||
	    check_registry_server(server) != NULL) {
		client_fail(c, E_BAD_ARGS, "registry logout needs a registry "
		    "SERVER[:PORT]");
		return;
	}
	n = db_run("DELETE FROM registries WHERE server = ?", "t", server);
	if (n == -1) {
		client_fail(c, E_INTERNAL, "cannot remove the login");
		return;
	}
	if (n == 0) {
		client_fail(c, E_NOT_FOUND, "no login for registry '%s'", server);
		return;
	}
	client_result_begin(c, &e);
	enc_kstr(&e, "removed", server);
	client_ok(c, &e);
}

void
cmd_registry_list(struct client *c, struct mv *args)
{
	sqlite3_stmt	*st;
	struct enc	 e;

	(void)args;
	client_result_begin(c, &e);
	enc_karr(&e, "registries");
	db_lock();
	if ((st = db_prepare("SELECT server, username, who, created_at FROM "
	    "registries ORDER BY server", "")) != NULL) {
		while (sqlite3_step(st) == SQLITE_ROW) {
			enc_map_open(&e);
			enc_kstr(&e, "server", db_col(st, 0));
			enc_kstr(&e, "username", db_col(st, 1));
			enc_kstr(&e, "who", db_col(st, 2));
			enc_ku64(&e, "created_at",
			    (uint64_t)sqlite3_column_int64(st, 3));
			enc_close(&e);
		}
		sqlite3_finalize(st);
	}
	db_unlock();
	enc_close(&e);
	client_ok(c, &e);
}

/* The audit log keeps the server, never the password. */
void
registry_audit_args(struct mv *args, struct buf *out)
{
	char	server[REGISTRY_SERVER_MAX + 1] = "";

	mv_str(args, "server", server, sizeof server, 0);
	buf_addf(out, "{\"server\":\"%s\",\"password\":\"(not recorded)\"}",
	    check_registry_server(server) == NULL ? server : "?");
}
