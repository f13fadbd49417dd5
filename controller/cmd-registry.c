/*
 * cmd-registry.c: the registry ops. registry.login stores a server's
 * username and its password sealed (registry.c), registry.logout forgets
 * it, registry.list shows servers and usernames, never a password.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/xmalloc.h"
#include "controller/request.h"
#include "controller/tug.h"

#define REG_USER_MAX	256
#define REG_PASS_MAX	4096

static int
text_ok(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

void
cmd_registry_login(struct req *rq, struct mv *args)
{
	char		 server[REGISTRY_SERVER_MAX + 1], user[REG_USER_MAX + 1];
	char		 ad[REGISTRY_SERVER_MAX + 16], scope[SCOPE_MAX + 1] = "";
	char		*pass = NULL;
	const char	*why;
	struct buf	 sealed = BUF_INIT;
	struct enc	 e;
	size_t		 plen = 0;

	if (mv_str(args, "for", scope, sizeof scope, 0) == -1 ||
	    (scope[0] != '\0' && (check_scope(scope) != NULL ||
	    strncmp(scope, "host:", 5) == 0))) {
		req_fail(rq, E_BAD_ARGS, "--for takes the sites that may use "
		    "the login: site:NAME, group:NAME or global");
		return;
	}
	if (scope[0] == '\0')
		snprintf(scope, sizeof scope, "global");
	if (mv_str(args, "server", server, sizeof server, MV_REQ) != 1 ||
	    mv_str(args, "username", user, sizeof user, MV_REQ) != 1) {
		req_fail(rq, E_BAD_ARGS, "registry login needs SERVER and "
		    "--username (at most %d characters)", REG_USER_MAX);
		return;
	}
	if ((why = check_registry_server(server)) != NULL) {
		req_fail(rq, E_BAD_ARGS, "bad registry '%s': %s", server, why);
		return;
	}
	if (user[0] == '\0' || !text_ok(user)) {
		req_fail(rq, E_BAD_ARGS, "the username is empty or holds "
		    "control characters");
		return;
	}
	pass = xmalloc(REG_PASS_MAX + 1);
	if (mv_str(args, "password", pass, REG_PASS_MAX + 1, MV_REQ) != 1 ||
	    (plen = strlen(pass)) == 0 || !text_ok(pass)) {
		req_fail(rq, E_BAD_ARGS, "the password is missing, longer "
		    "than %d bytes or holds control characters (give it on "
		    "stdin with --password-stdin)", REG_PASS_MAX);
		goto out;
	}
	registry_ad(ad, sizeof ad, server);
	if (secret_seal(ad, pass, plen, &sealed) == -1) {
		req_fail(rq, E_INTERNAL, "cannot seal the password (key "
		    "file %s/secret.key?)", paths.home);
		goto out;
	}
	if (db_run("INSERT INTO registries (server, username, password, who, "
	    "created_at, scope) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (server) "
	    "DO UPDATE SET username = excluded.username, password = "
	    "excluded.password, who = excluded.who, created_at = "
	    "excluded.created_at, scope = excluded.scope", "ttbtit",
	    server, user, sealed.ptr, sealed.len, rq->user,
	    (int64_t)(wall_ms() / 1000), scope) == -1) {
		req_fail(rq, E_INTERNAL, "cannot store the login");
		goto out;
	}
	req_result_begin(rq, &e);
	enc_kstr(&e, "server", server);
	enc_kstr(&e, "username", user);
	enc_kstr(&e, "for", scope);
	req_ok(rq, &e);
out:
	if (pass != NULL) {
		explicit_bzero(pass, REG_PASS_MAX + 1);
		free(pass);
	}
	buf_release(&sealed);
}

void
cmd_registry_logout(struct req *rq, struct mv *args)
{
	char		 server[REGISTRY_SERVER_MAX + 1];
	struct enc	 e;
	int		 n;

	if (mv_str(args, "server", server, sizeof server, MV_REQ) != 1 ||
	    check_registry_server(server) != NULL) {
		req_fail(rq, E_BAD_ARGS, "registry logout needs a registry "
		    "SERVER[:PORT]");
		return;
	}
	n = db_run("DELETE FROM registries WHERE server = ?", "t", server);
	if (n == -1) {
		req_fail(rq, E_INTERNAL, "cannot remove the login");
		return;
	}
	if (n == 0) {
		req_fail(rq, E_NOT_FOUND, "no login for registry '%s'", server);
		return;
	}
	req_result_begin(rq, &e);
	enc_kstr(&e, "removed", server);
	req_ok(rq, &e);
}

void
cmd_registry_list(struct req *rq, struct mv *args)
{
	sqlite3_stmt	*st;
	struct enc	 e;

	(void)args;
	req_result_begin(rq, &e);
	enc_karr(&e, "registries");
	db_lock();
	if ((st = db_prepare("SELECT server, username, who, created_at, scope "
	    "FROM registries ORDER BY server", "")) != NULL) {
		while (sqlite3_step(st) == SQLITE_ROW) {
			enc_map_open(&e);
			enc_kstr(&e, "server", db_col(st, 0));
			enc_kstr(&e, "username", db_col(st, 1));
			enc_kstr(&e, "who", db_col(st, 2));
			enc_ku64(&e, "created_at",
			    (uint64_t)sqlite3_column_int64(st, 3));
			enc_kstr(&e, "for", db_col(st, 4));
			enc_close(&e);
		}
		sqlite3_finalize(st);
	}
	db_unlock();
	enc_close(&e);
	req_ok(rq, &e);
}
