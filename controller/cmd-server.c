/*
 * cmd-server.c: the ops about tugd itself: `tug init` (the calling OS user
 * becomes the first admin), `tug status` and `tug key` (the public key hosts
 * must trust).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "controller/tug.h"

void
cmd_init(struct client *c, struct mv *args)
{
	struct enc	e;
	int		n;

	(void)args;
	if ((n = user_count()) < 0) {
		client_fail(c, E_INTERNAL, "cannot read the users table");
		return;
	}
	if (n > 0) {
		client_fail(c, "conflict", "tug is already initialised; an "
		    "admin can add users");
		return;
	}
	if (check_user_name(c->user) != NULL) {
		client_fail(c, E_BAD_ARGS, "'%s' cannot be a tug user name "
		    "(lowercase letters, digits, '_' and '-'): run tug init "
		    "as another OS user", c->user);
		return;
	}
	if (user_add(c->user, 1) == -1) {
		client_fail(c, E_INTERNAL, "cannot add user '%s'", c->user);
		return;
	}
	client_result_begin(c, &e);
	enc_kstr(&e, "admin", c->user);
	enc_kstr(&e, "database", paths.db);
	enc_kstr(&e, "socket", paths.sock);
	client_ok(c, &e);
}

void
cmd_status(struct client *c, struct mv *args)
{
	struct enc	 e;
	struct host_rec	*hosts;
	size_t		 n = 0, i;

	(void)args;
	if (hosts_load(&hosts, &n) == 0) {
		for (i = 0; i < n; i++)
			host_rec_free(&hosts[i]);
		free(hosts);
	}
	client_result_begin(c, &e);
	enc_kstr(&e, "version", TUG_VERSION);
	enc_ku64(&e, "pid", (uint64_t)getpid());
	enc_kstr(&e, "home", paths.home);
	enc_kstr(&e, "socket", paths.sock);
	enc_ku64(&e, "schema", (uint64_t)db_schema_version());
	enc_ku64(&e, "hosts", n);
	enc_kstr(&e, "agent_sha256", agent_bin.sha256);
	enc_kstr(&e, "user", c->user);
	client_ok(c, &e);
}

void
cmd_key_show(struct client *c, struct mv *args)
{
	struct enc	e;
	char		pub[1024], err[256];

	(void)args;
	if (ssh_key_ensure(paths.key, pub, sizeof pub, err, sizeof err) == -1) {
		client_fail(c, E_INTERNAL, "%s", err);
		return;
	}
	client_result_begin(c, &e);
	enc_kstr(&e, "public_key", pub);
	enc_kstr(&e, "path", paths.key);
	client_ok(c, &e);
}
