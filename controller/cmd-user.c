/*
 * cmd-user.c: the user ops: tug user add|list|show|rm, tug user key add|rm
 * (which rewrite tugd's authorized_keys, so that the key's owner can run
 * tug over SSH as that user), and tug grant|revoke.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "controller/request.h"
#include "controller/tug.h"

#define KEY_FILE_MAX	(16 * 1024)

/* args[key] as a valid user name, or answer the client (-1). */
static int
user_arg(struct req *rq, struct mv *args, const char *key, char *name,
    size_t namesz)
{
	const char	*why;
	char		 esc[96];

	if (mv_str(args, key, name, namesz, MV_REQ) != 1) {
		req_fail(rq, E_BAD_ARGS, "%s", args->err);
		return -1;
	}
	if ((why = check_user_name(name)) != NULL) {
		req_fail(rq, E_BAD_ARGS, "invalid user name '%s': %s",
		    log_escape(esc, sizeof esc, name, strlen(name)), why);
		return -1;
	}
	return 0;
}

/* The user named in args[key] must exist, or answer the client (-1). */
static int
user_known(struct req *rq, struct mv *args, const char *key,
    struct user_rec *u)
{
	char	name[USER_NAME_MAX + 8];
	int	r;

	if (user_arg(rq, args, key, name, sizeof name) == -1)
		return -1;
	if ((r = user_load(name, u)) != 1) {
		req_fail(rq, r == 0 ? E_NOT_FOUND : E_INTERNAL, r == 0 ?
		    "no user '%s' (tug user add)" : "cannot read user '%s'",
		    name);
		return -1;
	}
	return 0;
}

void
cmd_user_add(struct req *rq, struct mv *args)
{
	struct user_rec	u;
	struct enc	e;
	char		name[USER_NAME_MAX + 8];
	int		admin = 0, r;

	if (user_arg(rq, args, "name", name, sizeof name) == -1)
		return;
	if (mv_bool(args, "admin", &admin, 0) == -1) {
		req_fail(rq, E_BAD_ARGS, "%s", args->err);
		return;
	}
	if ((r = user_load(name, &u)) != 0) {
		req_fail(rq, r == 1 ? "conflict" : E_INTERNAL, r == 1 ?
		    "user '%s' exists" : "cannot read user '%s'", name);
		return;
	}
	if (user_add(name, admin) == -1) {
		req_fail(rq, E_INTERNAL, "cannot add user '%s'", name);
		return;
	}
	req_result_begin(rq, &e);
	enc_kstr(&e, "added", name);
	enc_kbool(&e, "admin", admin);
	req_ok(rq, &e);
}

void
cmd_user_list(struct req *rq, struct mv *args)
{
	struct user_rec	*v;
	struct enc	 e;
	size_t		 n, i;

	(void)args;
	if (users_load(&v, &n) == -1) {
		req_fail(rq, E_INTERNAL, "cannot read users");
		return;
	}
	req_result_begin(rq, &e);
	enc_karr(&e, "users");
	for (i = 0; i < n; i++) {
		enc_map_open(&e);
		enc_kstr(&e, "name", v[i].name);
		enc_kbool(&e, "admin", rbac_allowed(v[i].name, "admin",
		    "global"));
		enc_ku64(&e, "keys", (uint64_t)v[i].nkeys);
		enc_ku64(&e, "grants", (uint64_t)v[i].ngrants);
		enc_ki64(&e, "created_at", v[i].created_at);
		enc_close(&e);
	}
	enc_close(&e);
	free(v);
	req_ok(rq, &e);
}

/* What a grant on a group covers now: its hosts, and sites aimed at it. */
static void
enc_group_covers(struct enc *e, const char *group)
{
	struct host_rec	*h;
	struct site_rec	*s;
	size_t		 n, i;
	int		 g;

	enc_karr(e, "hosts");
	if (hosts_load(&h, &n) == 0) {
		for (i = 0; i < n; i++) {
			for (g = 0; g < h[i].ngroups; g++)
				if (strcmp(h[i].groups[g], group) == 0)
					enc_str(e, h[i].name);
			host_rec_free(&h[i]);
		}
		free(h);
	}
	enc_close(e);
	enc_karr(e, "sites");
	if (sites_load(&s, &n) == 0) {
		for (i = 0; i < n; i++) {
			char	sg[GROUP_NAME_MAX + 1];

			if (site_group(s[i].name, sg, sizeof sg) == 1 &&
			    strcmp(sg, group) == 0)
				enc_str(e, s[i].name);
			site_rec_free(&s[i]);
		}
		free(s);
	}
	enc_close(e);
}

/* Per scope granted: every action held there, and through which grant. */
static void
enc_effective(struct enc *e, const struct grant_rec *g, size_t n)
{
	size_t	i, k, a;

	enc_karr(e, "effective");
	for (i = 0; i < n; i++) {
		for (k = 0; k < i; k++)
			if (strcmp(g[k].scope, g[i].scope) == 0)
				break;
		if (k < i)
			continue;	/* scope done already */
		enc_map_open(e);
		enc_kstr(e, "scope", g[i].scope);
		if (strncmp(g[i].scope, "group:", 6) == 0)
			enc_group_covers(e, g[i].scope + 6);
		enc_karr(e, "actions");
		for (a = 0; rbac_actions[a] != NULL; a++) {
			const char	*via = NULL;

			for (k = i; k < n; k++) {
				if (strcmp(g[k].scope, g[i].scope) != 0 ||
				    !action_implies(g[k].action,
				    rbac_actions[a]))
					continue;
				if (strcmp(g[k].action, rbac_actions[a]) == 0) {
					via = "";
					break;
				}
				if (via == NULL)
					via = g[k].action;
			}
			if (via == NULL)
				continue;
			enc_map_open(e);
			enc_kstr(e, "action", rbac_actions[a]);
			if (*via != '\0')
				enc_kstr(e, "via", via);
			enc_close(e);
		}
		enc_close(e);
		enc_close(e);
	}
	enc_close(e);
}

void
cmd_user_show(struct req *rq, struct mv *args)
{
	struct user_rec		 u;
	struct grant_rec	*g;
	struct key_rec		*k;
	struct enc		 e;
	size_t			 ng, nk, i;
	int			 r;

	if (!mv_present(args, "name")) {
		if ((r = user_load(rq->user, &u)) != 1) {
			req_fail(rq, r == 0 ? E_NOT_FOUND : E_INTERNAL,
			    "you (%s) are not a tug user", rq->user);
			return;
		}
	} else if (user_known(rq, args, "name", &u) == -1)
		return;
	if (grants_load(u.name, &g, &ng) == -1) {
		req_fail(rq, E_INTERNAL, "cannot read the grants of '%s'",
		    u.name);
		return;
	}
	if (user_keys_load(u.name, &k, &nk) == -1) {
		free(g);
		req_fail(rq, E_INTERNAL, "cannot read the keys of '%s'",
		    u.name);
		return;
	}
	req_result_begin(rq, &e);
	enc_kstr(&e, "name", u.name);
	enc_kbool(&e, "admin", rbac_allowed(u.name, "admin", "global"));
	enc_ki64(&e, "created_at", u.created_at);
	enc_karr(&e, "keys");
	for (i = 0; i < nk; i++) {
		enc_map_open(&e);
		enc_kstr(&e, "fingerprint", k[i].key.fingerprint);
		enc_kstr(&e, "type", k[i].key.type);
		enc_kstr(&e, "comment", k[i].key.comment);
		enc_close(&e);
	}
	enc_close(&e);
	enc_karr(&e, "grants");
	for (i = 0; i < ng; i++) {
		enc_map_open(&e);
		enc_kstr(&e, "action", g[i].action);
		enc_kstr(&e, "scope", g[i].scope);
		enc_kstr(&e, "by", g[i].who);
		enc_ki64(&e, "created_at", g[i].created_at);
		enc_close(&e);
	}
	enc_close(&e);
	enc_effective(&e, g, ng);
	req_ok(rq, &e);
	free(g);
	free(k);
}

void
cmd_user_rm(struct req *rq, struct mv *args)
{
	struct user_rec	u;
	struct enc	e;
	char		err[512] = "";
	int		r;

	if (user_known(rq, args, "name", &u) == -1)
		return;
	if ((r = user_remove(u.name)) == -2) {
		req_fail(rq, "conflict", "'%s' is the last admin: make "
		    "another admin first (tug user add NAME --admin)", u.name);
		return;
	}
	if (r != 1) {
		req_fail(rq, E_INTERNAL, "cannot remove user '%s'", u.name);
		return;
	}
	if (u.nkeys > 0 && authkeys_sync(err, sizeof err) == -1) {
		req_fail(rq, E_IO, "user '%s' removed, but their SSH keys "
		    "may still work: %s", u.name, err);
		return;
	}
	req_result_begin(rq, &e);
	enc_kstr(&e, "removed", u.name);
	enc_ku64(&e, "keys", (uint64_t)u.nkeys);
	enc_ku64(&e, "grants", (uint64_t)u.ngrants);
	req_ok(rq, &e);
}

void
cmd_user_key_add(struct req *rq, struct mv *args)
{
	struct user_rec		 u;
	struct ssh_pubkey	*k;
	struct enc		 e;
	char			*text = NULL, file[256] = "", owner[64] = "";
	char			 err[512], path[PATH_MAX_TUG] = "";
	int			 r;

	if (user_known(rq, args, "name", &u) == -1)
		return;
	if ((r = mv_strdup(args, "key", &text, KEY_FILE_MAX, MV_REQ)) != 1 ||
	    mv_str(args, "file", file, sizeof file, 0) == -1) {
		req_fail(rq, E_BAD_ARGS, "%s", r == -1 && strstr(args->err,
		    "long") != NULL ? "the public key file is larger than "
		    "16 KiB" : args->err);
		free(text);
		return;
	}
	k = xcalloc(1, sizeof *k);
	if (pubkey_parse(text, strlen(text), k, err, sizeof err) == -1) {
		req_fail(rq, E_BAD_ARGS, "%s: %s", file[0] != '\0' ? file :
		    "key", err);
		goto out;
	}
	if ((r = user_key_add(u.name, k, owner, sizeof owner)) == -1) {
		req_fail(rq, E_INTERNAL, "cannot store key %s",
		    k->fingerprint);
		goto out;
	}
	if (r == 0) {
		if (strcmp(owner, u.name) == 0)
			req_fail(rq, "conflict", "%s has key %s already",
			    u.name, k->fingerprint);
		else
			req_fail(rq, "conflict", "key %s belongs to user "
			    "'%s' already: one key, one user", k->fingerprint,
			    owner);
		goto out;
	}
	if (authkeys_sync(err, sizeof err) == -1) {
		user_key_remove(u.name, k->fingerprint);
		req_fail(rq, E_IO, "key not added: %s", err);
		goto out;
	}
	authkeys_path(path, sizeof path);
	req_result_begin(rq, &e);
	enc_kstr(&e, "name", u.name);
	enc_kstr(&e, "fingerprint", k->fingerprint);
	enc_kstr(&e, "type", k->type);
	enc_kstr(&e, "comment", k->comment);
	enc_kstr(&e, "authorized_keys", path);
	req_ok(rq, &e);
out:
	free(k);
	free(text);
}

void
cmd_user_key_rm(struct req *rq, struct mv *args)
{
	struct user_rec	u;
	struct enc	e;
	char		fp[80], err[512], esc[96];
	int		all, r;

	if (user_known(rq, args, "name", &u) == -1)
		return;
	if (mv_str(args, "fingerprint", fp, sizeof fp, MV_REQ) != 1) {
		req_fail(rq, E_BAD_ARGS, "%s", args->err);
		return;
	}
	all = strcmp(fp, "all") == 0;
	if (!all && (strncmp(fp, "SHA256:", 7) != 0 || strlen(fp) != 50 ||
	    strspn(fp + 7, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789+/") != 43)) {
		req_fail(rq, E_BAD_ARGS, "invalid fingerprint '%s': give "
		    "SHA256:... as tug user show prints it, or all",
		    log_escape(esc, sizeof esc, fp, strlen(fp)));
		return;
	}
	if ((r = user_key_remove(u.name, all ? NULL : fp)) == -1) {
		req_fail(rq, E_INTERNAL, "cannot remove keys of '%s'",
		    u.name);
		return;
	}
	if (r == 0 && !all) {
		req_fail(rq, E_NOT_FOUND, "%s has no key %s", u.name, fp);
		return;
	}
	if (authkeys_sync(err, sizeof err) == -1) {
		req_fail(rq, E_IO, "keys removed from the database, but "
		    "they may still work over SSH: %s", err);
		return;
	}
	req_result_begin(rq, &e);
	enc_kstr(&e, "name", u.name);
	enc_ku64(&e, "removed", (uint64_t)r);
	req_ok(rq, &e);
}

/* grant and revoke: USER ACTION SCOPE, checked; -1 answered. */
static int
grant_args(struct req *rq, struct mv *args, struct user_rec *u,
    char *action, size_t actionsz, char *scope, size_t scopesz)
{
	const char	*why;
	char		 esc[96];

	if (user_known(rq, args, "user", u) == -1)
		return -1;
	if (mv_str(args, "action", action, actionsz, MV_REQ) != 1 ||
	    mv_str(args, "scope", scope, scopesz, MV_REQ) != 1) {
		req_fail(rq, E_BAD_ARGS, "%s", args->err);
		return -1;
	}
	if ((why = check_action(action)) != NULL) {
		req_fail(rq, E_BAD_ARGS, "unknown action '%s': %s",
		    log_escape(esc, sizeof esc, action, strlen(action)), why);
		return -1;
	}
	if ((why = check_scope(scope)) != NULL) {
		req_fail(rq, E_BAD_ARGS, "invalid scope '%s': %s",
		    log_escape(esc, sizeof esc, scope, strlen(scope)), why);
		return -1;
	}
	return 0;
}

void
cmd_grant(struct req *rq, struct mv *args)
{
	struct user_rec	u;
	struct enc	e;
	char		action[32], scope[SCOPE_MAX + 1];
	int		r;

	if (grant_args(rq, args, &u, action, sizeof action, scope,
	    sizeof scope) == -1)
		return;
	if ((r = grant_add(u.name, action, scope, rq->user)) == -1) {
		req_fail(rq, E_INTERNAL, "cannot store the grant");
		return;
	}
	req_result_begin(rq, &e);
	enc_kstr(&e, "user", u.name);
	enc_kstr(&e, "action", action);
	enc_kstr(&e, "scope", scope);
	enc_kbool(&e, "new", r == 1);
	req_ok(rq, &e);
}

void
cmd_revoke(struct req *rq, struct mv *args)
{
	struct user_rec	u;
	struct enc	e;
	char		action[32], scope[SCOPE_MAX + 1];
	int		r;

	if (grant_args(rq, args, &u, action, sizeof action, scope,
	    sizeof scope) == -1)
		return;
	if ((r = grant_remove(u.name, action, scope)) == -2) {
		req_fail(rq, "conflict", "'%s' is the last admin: make "
		    "another admin first", u.name);
		return;
	}
	if (r == 0) {
		req_fail(rq, E_NOT_FOUND, "%s holds no grant of %s on %s",
		    u.name, action, scope);
		return;
	}
	if (r != 1) {
		req_fail(rq, E_INTERNAL, "cannot revoke from %s", u.name);
		return;
	}
	req_result_begin(rq, &e);
	enc_kstr(&e, "user", u.name);
	enc_kstr(&e, "action", action);
	enc_kstr(&e, "scope", scope);
	enc_kbool(&e, "revoked", 1);
	req_ok(rq, &e);
}
