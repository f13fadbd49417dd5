/*
 * cmd-server.c: the ops about tugd itself: `tug init` (the calling OS user
 * becomes the first admin), `tug status` and `tug key` (the public key hosts
 * must trust).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "controller/request.h"
#include "controller/tug.h"

void
cmd_init(struct req *rq, struct mv *args)
{
	struct enc	e;
	int		n;

	(void)args;
	if ((n = user_count()) < 0) {
		req_fail(rq, E_INTERNAL, "cannot read the users table");
		return;
	}
	if (n > 0) {
		req_fail(rq, "conflict", "tug is already initialised; an "
		    "admin can add users");
		return;
	}
	if (check_user_name(rq->user) != NULL) {
		req_fail(rq, E_BAD_ARGS, "'%s' cannot be a tug user name "
		    "(lowercase letters, digits, '_' and '-'): run tug init "
		    "as another OS user", rq->user);
		return;
	}
	if (user_add(rq->user, 1) == -1) {
		req_fail(rq, E_INTERNAL, "cannot add user '%s'", rq->user);
		return;
	}
	req_result_begin(rq, &e);
	enc_kstr(&e, "admin", rq->user);
	enc_kstr(&e, "controller", controller_id());
	enc_kstr(&e, "database", paths.db);
	enc_kstr(&e, "socket", paths.sock);
	req_ok(rq, &e);
}

void
cmd_status(struct req *rq, struct mv *args)
{
	struct enc	 e;
	struct host_rec	*hosts;
	size_t		 n = 0;

	(void)args;
	if (hosts_load(&hosts, &n) == 0)
		hosts_free(hosts, n);
	req_result_begin(rq, &e);
	enc_kstr(&e, "version", TUG_VERSION);
	enc_kstr(&e, "controller", controller_id());
	enc_ku64(&e, "pid", (uint64_t)getpid());
	enc_kstr(&e, "home", paths.home);
	enc_kstr(&e, "socket", paths.sock);
	enc_ku64(&e, "schema", (uint64_t)db_schema_version());
	enc_ku64(&e, "hosts", n);
	enc_kstr(&e, "agent_sha256", agent_bin.sha256);
	enc_kstr(&e, "user", rq->user);
	req_ok(rq, &e);
}

void
cmd_key_show(struct req *rq, struct mv *args)
{
	struct enc	e;
	char		pub[1024], err[256];

	(void)args;
	if (ssh_key_ensure(paths.key, pub, sizeof pub, err, sizeof err) == -1) {
		req_fail(rq, E_INTERNAL, "%s", err);
		return;
	}
	req_result_begin(rq, &e);
	enc_kstr(&e, "public_key", pub);
	enc_kstr(&e, "path", paths.key);
	req_ok(rq, &e);
}
