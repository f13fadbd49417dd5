/*
 * ops.c: tugd's table of ops and the one way into them. For every request,
 * whatever carried it: find the op, work out every scope it will touch,
 * ask rbac_allowed() about each (the one place that decides), run the op,
 * and audit the outcome, allowed or denied (the one place that audits).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "controller/request.h"
#include "controller/tug.h"

/*
 * Every op, the action it needs, where the scope it is asked about comes
 * from (enum sop_scope in tug.h), where it runs, and what the audit keeps
 * of its args. tests/t/0017 has a permission-matrix row for every op here.
 */
static const struct sop sops[] = {
	{ "init",		NULL,		SC_NONE,	cmd_init },
	{ "status",		NULL,		SC_NONE,	cmd_status },
	{ "key.show",		"view",		SC_GLOBAL,	cmd_key_show },
	{ "host.add",		"admin",	SC_GLOBAL,	cmd_host_add },
	{ "host.list",		"view",		SC_ANY,		cmd_host_list },
	{ "host.rm",		"admin",	SC_HOST,	cmd_host_rm },
	{ "host.check",		"view",		SC_HOSTS,	cmd_host_check },
	{ "host.bootstrap",	"admin",	SC_HOSTS,	cmd_host_bootstrap },
	{ "site.apply",		"edit_config",	SC_SPEC,	cmd_site_apply,
	  spec_audit_args },
	{ "site.list",		"view",		SC_ANY,		cmd_site_list },
	{ "site.status",	"view",		SC_SITE,	cmd_site_status },
	{ "site.rm",		"manage",	SC_SITE,	cmd_site_rm },
	{ "site.start",		"deploy",	SC_SITE,	cmd_site_start },
	{ "site.stop",		"deploy",	SC_SITE,	cmd_site_stop },
	{ "site.restart",	"deploy",	SC_SITE,	cmd_site_restart },
	{ "deploy",		"deploy",	SC_SITE,	cmd_deploy },
	{ "rollback",		"deploy",	SC_SITE,	cmd_rollback },
	{ "deploy.follow",	"view",		SC_SITE,	cmd_deploy_follow },
	{ "releases",		"view",		SC_SITE,	cmd_releases },
	{ "env.set",		"edit_env",	SC_SITE,	cmd_env_set,
	  env_audit_args },
	{ "env.unset",		"edit_env",	SC_SITE,	cmd_env_unset },
	{ "env.list",		"view_env",	SC_SITE,	cmd_env_list },
	{ "image.push",		"deploy",	SC_PUSH,	cmd_image_push },
	{ "logs",		"view_logs",	SC_SITE,	cmd_logs },
	{ "registry.login",	"admin",	SC_GLOBAL,	cmd_registry_login,
	  registry_audit_args },
	{ "registry.logout",	"admin",	SC_GLOBAL,	cmd_registry_logout },
	{ "registry.list",	"view",		SC_GLOBAL,	cmd_registry_list },
	{ "acme.set",		"admin",	SC_GLOBAL,	cmd_acme_set },
	{ "acme.show",		"view",		SC_GLOBAL,	cmd_acme_show },
	{ "cert.list",		"view",		SC_SITE,	cmd_cert_list },
	{ "cert.renew",		"deploy",	SC_SITE,	cmd_cert_renew },
	{ "user.add",		"admin",	SC_GLOBAL,	cmd_user_add },
	{ "user.list",		"admin",	SC_GLOBAL,	cmd_user_list },
	{ "user.show",		"admin",	SC_SELF,	cmd_user_show },
	{ "user.rm",		"admin",	SC_GLOBAL,	cmd_user_rm },
	{ "user.key.add",	"admin",	SC_GLOBAL,	cmd_user_key_add },
	{ "user.key.rm",	"admin",	SC_GLOBAL,	cmd_user_key_rm },
	{ "grant",		"admin",	SC_GLOBAL,	cmd_grant },
	{ "revoke",		"admin",	SC_GLOBAL,	cmd_revoke },
	{ "audit.list",		"admin",	SC_GLOBAL,	cmd_audit_list },
	{ "audit.verify",	"admin",	SC_GLOBAL,	cmd_audit_verify },
};
#define NSOPS	(sizeof sops / sizeof sops[0])

static const char *const scope_names[] = {
	"none", "global", "any", "self", "site", "spec", "host", "hosts", "push"
};

static const struct sop *
sop_find(const char *name)
{
	size_t	i;

	for (i = 0; i < NSOPS; i++)
		if (strcmp(sops[i].name, name) == 0)
			return &sops[i];
	return NULL;
}

/*
 * Authorisation. An op's sop says where its scopes are; each scope found
 * is one question to rbac_allowed() and every answer must be yes.
 */
struct authz {
	char		 scope[96];	/* as reported: "site:blog" */
	const char	*action;	/* NULL: the op's */
	int		 spec;		/* as the submitted spec makes the site */
	char		 group[GROUP_NAME_MAX + 1];	/* that spec's group */
};
struct authz_list {
	struct authz	*v;
	size_t		 n;
	int		 any;		/* SC_ANY: the action on some scope */
};

static struct authz *
authz_add(struct authz_list *l, const char *kind, const char *name)
{
	struct authz	*a;

	l->v = xrealloc(l->v, (l->n + 1) * sizeof *l->v);
	a = &l->v[l->n++];
	memset(a, 0, sizeof *a);
	if (name == NULL)
		snprintf(a->scope, sizeof a->scope, "%s", kind);
	else
		snprintf(a->scope, sizeof a->scope, "%s:%s", kind, name);
	return a;
}

/* A name from args[key] that check() accepts: 1, 0 absent, -1 err. */
static int
arg_name(struct mv *args, const char *key, const char *what,
    const char *(*check)(const char *), char *dst, size_t dstsz, char *err,
    size_t errsz)
{
	const char	*why;
	char		 esc[96];
	int		 r;

	if ((r = mv_str(args, key, dst, dstsz, 0)) == -1) {
		snprintf(err, errsz, "%s", args->err);
		return -1;
	}
	if (r == 0 || dst[0] == '\0')
		return 0;
	if ((why = check(dst)) != NULL) {
		snprintf(err, errsz, "invalid %s name '%s': %s", what,
		    log_escape(esc, sizeof esc, dst, strlen(dst)), why);
		return -1;
	}
	return 1;
}

/* host: each name in args.hosts; 0 when there is none. */
static int
arg_hosts(struct mv *args, struct authz_list *l, char *err, size_t errsz)
{
	char	name[256];
	size_t	n = 0, i;

	if (mv_arr(args, "hosts", &n, 4096, 0) == -1) {
		snprintf(err, errsz, "%s", args->err);
		return -1;
	}
	for (i = 0; i < n; i++) {
		const char	*why;
		char		 esc[96];

		if (mv_arr_str(args, "hosts", i, name, sizeof name) != 1) {
			snprintf(err, errsz, "%s", args->err);
			return -1;
		}
		if ((why = check_host_name(name)) != NULL) {
			snprintf(err, errsz, "invalid host name '%s': %s",
			    log_escape(esc, sizeof esc, name, strlen(name)),
			    why);
			return -1;
		}
		authz_add(l, "host", name);
	}
	return n > 0;
}

/*
 * host: each host the op will really touch (host_select: the named ones,
 * a group's members, or all). An unknown host or an empty group leaves
 * the scope named (host:H, group:G): the op itself says what is missing.
 */
static int
arg_host_select(struct mv *args, struct authz_list *l, char *err,
    size_t errsz)
{
	struct host_sel	hs;
	size_t		i;
	int		r;

	if ((r = host_select(args, &hs, err, errsz)) == -1 || r == -3) {
		host_sel_free(&hs);
		return -1;
	}
	if (r == 0 || hs.named)
		for (i = 0; i < hs.n; i++)
			authz_add(l, "host", hs.names[i]);
	if (l->n == 0)
		authz_add(l, hs.group[0] != '\0' ? "group" : "global",
		    hs.group[0] != '\0' ? hs.group : NULL);
	host_sel_free(&hs);
	return 0;
}

/*
 * Placement is permission too (DESIGN §5): deploy on every host the spec
 * puts the site on that its stored spec does not already.
 */
static int
arg_placement(const struct site_spec *sp, struct authz_list *l, char *err,
    size_t errsz)
{
	struct site_rec		 rec;
	struct site_spec	 old;
	char			**now = NULL, **was = NULL, perr[600];
	size_t			 nnow = 0, nwas = 0, i;
	int			 r;

	memset(&old, 0, sizeof old);
	if ((r = site_load(sp->site, &rec)) == -1) {
		snprintf(err, errsz, "cannot read site '%s'", sp->site);
		return -1;
	}
	if (r == 1) {
		if (spec_parse(rec.file, rec.spec, strlen(rec.spec), &old, perr,
		    sizeof perr) == 0 && site_hosts(&old, &was, &nwas) == -1)
			r = -1;
		site_rec_free(&rec);
	}
	if (r == -1 || site_hosts(sp, &now, &nnow) == -1) {
		snprintf(err, errsz, "cannot read hosts");
		r = -1;
	} else
		for (i = 0; i < nnow; i++)
			if (!strv_has(was, nwas, now[i]))
				authz_add(l, "host", now[i])->action = "deploy";
	spec_free(&old);
	free_names(now, nnow);
	free_names(was, nwas);
	return r == -1 ? -1 : 0;
}

/* The site a submitted spec names, judged as stored and as it would be. */
static int
arg_spec(struct mv *args, struct authz_list *l, char *err, size_t errsz)
{
	struct site_spec	 sp;
	struct authz		*a;
	char			*text = NULL, file[256] = "site.yml";
	char			 stored[GROUP_NAME_MAX + 1];
	int			 r;

	if (mv_strdup(args, "text", &text, SPEC_MAX_BYTES, MV_REQ) != 1 ||
	    mv_str(args, "file", file, sizeof file, 0) == -1) {
		snprintf(err, errsz, "%s", args->err);
		free(text);
		return -1;
	}
	r = spec_parse(file, text, strlen(text), &sp, err, errsz);
	free(text);
	if (r == -1) {
		spec_free(&sp);
		return -1;
	}
	if ((r = site_group(sp.site, stored, sizeof stored)) == -1) {
		snprintf(err, errsz, "cannot read site '%s'", sp.site);
		spec_free(&sp);
		return -1;
	}
	if (r == 1)
		authz_add(l, "site", sp.site);
	if (r == 0 || strcmp(stored, sp.group) != 0) {
		a = authz_add(l, "site", sp.site);
		a->spec = 1;
		snprintf(a->group, sizeof a->group, "%s", sp.group);
	}
	/* tugd reads a static site's root on the controller: admins only. */
	if (sp.kind == KIND_STATIC)
		authz_add(l, "global", NULL)->action = "admin";
	r = arg_placement(&sp, l, err, errsz);
	spec_free(&sp);
	return r;
}

/* The scopes op s acts on for these args; -1 with err: bad args. */
static int
scopes_of(struct req *rq, const struct sop *s, struct mv *args,
    struct authz_list *l, char *err, size_t errsz)
{
	char	name[256];
	int	r;

	switch (s->scope) {
	case SC_NONE:
		return 0;
	case SC_ANY:
		l->any = 1;
		return 0;
	case SC_SELF:
		r = arg_name(args, "name", "user", check_user_name, name,
		    sizeof name, err, errsz);
		if (r == 1 && strcmp(name, rq->user) != 0)
			authz_add(l, "global", NULL);
		return r == -1 ? -1 : 0;
	case SC_SITE:
		if ((r = arg_name(args, "site", "site", check_site_name, name,
		    sizeof name, err, errsz)) == 0)
			snprintf(err, errsz, "args.site: missing");
		if (r != 1)
			return -1;
		authz_add(l, "site", name);
		return 0;
	case SC_SPEC:
		return arg_spec(args, l, err, errsz);
	case SC_HOST:
		if ((r = arg_name(args, "name", "host", check_host_name, name,
		    sizeof name, err, errsz)) == 0)
			snprintf(err, errsz, "args.name: missing");
		if (r != 1)
			return -1;
		authz_add(l, "host", name);
		return 0;
	case SC_HOSTS:
		return arg_host_select(args, l, err, errsz);
	case SC_PUSH:
		if ((r = arg_name(args, "site", "site", check_site_name, name,
		    sizeof name, err, errsz)) == -1)
			return -1;
		if (r == 1)
			authz_add(l, "site", name);
		else if ((r = arg_hosts(args, l, err, errsz)) == -1)
			return -1;
		else if (r == 0)
			authz_add(l, "global", NULL);
		/* --file is read by tugd, as tugd: admins only. */
		if (mv_present(args, "file"))
			authz_add(l, "global", NULL)->action = "admin";
		return 0;
	case SC_GLOBAL:
	default:
		authz_add(l, "global", NULL);
		return 0;
	}
}

/*
 * The end of a denial: a user tugd does not know is named so, with what
 * makes one; anyone else is told the grant to ask an admin for.
 */
static void
deny_unknown(const char *user, const char *action, const char *scope,
    char *err, size_t errsz)
{
	struct user_rec	u;
	size_t		len = strlen(err);

	if (user_load(user, &u) == 0)
		snprintf(err + len, errsz - len, " (there is no tug user '%s': "
		    "tug user add %s, or tug init for the first)", user, user);
	else
		snprintf(err + len, errsz - len, "; an admin can grant it: tug "
		    "grant %s %s %s", user, action, scope);
}

/* Ask rbac about every scope: 1 allowed, or 0 with the denial in err. */
static int
authorise(struct req *rq, const struct sop *s, struct authz_list *l,
    char *err, size_t errsz)
{
	size_t	i;
	int	ok;

	if (s->action == NULL)
		return 1;
	if (l->any) {
		if (rbac_allowed_somewhere(rq->user, s->action))
			return 1;
		snprintf(err, errsz, "permission denied: %s may not %s global",
		    rq->user, s->action);
		deny_unknown(rq->user, s->action, "global", err, errsz);
		return 0;
	}
	for (i = 0; i < l->n; i++) {
		const char	*action = l->v[i].action != NULL ?
		    l->v[i].action : s->action;

		ok = l->v[i].spec ? rbac_allowed_spec(rq->user, action,
		    l->v[i].scope + 5, l->v[i].group) : rbac_allowed(rq->user,
		    action, l->v[i].scope);
		if (!ok) {
			snprintf(err, errsz, "permission denied: %s may not %s "
			    "%s", rq->user, action, l->v[i].scope);
			deny_unknown(rq->user, action, l->v[i].scope, err,
			    errsz);
			return 0;
		}
	}
	return 1;
}

/* The audit's target: the scopes asked about, distinct, comma-separated. */
static void
authz_target(const struct authz_list *l, struct buf *out)
{
	size_t	i, k;

	for (i = 0; i < l->n; i++) {
		for (k = 0; k < i; k++)
			if (strcmp(l->v[k].scope, l->v[i].scope) == 0)
				break;
		if (k < i)
			continue;
		if (out->len > 1024) {
			buf_addstr(out, ",...");
			return;
		}
		buf_addf(out, "%s%s", out->len > 0 ? "," : "", l->v[i].scope);
	}
}

/*
 * Fair shares: requests running at once, per user and in all. A request
 * over either limit is refused at once, saying which limit it hit.
 */
struct running {
	char	user[64];
	int	n;
};
static pthread_mutex_t	 running_lock = PTHREAD_MUTEX_INITIALIZER;
static struct running	 running[OPS_RUNNING_MAX];
static int		 running_all;
static int		 max_all = OPS_RUNNING_MAX, max_user = OPS_USER_MAX;

/* TUG_REQUESTS_MAX and TUG_REQUESTS_PER_USER lower the limits (start-up). */
void
ops_limits(void)
{
	const char	*v;
	char		*end;
	long		 n;

	if ((v = getenv("TUG_REQUESTS_MAX")) != NULL && *v != '\0') {
		n = strtol(v, &end, 10);
		if (*end != '\0' || n < 1 || n > OPS_RUNNING_MAX)
			fatalx("TUG_REQUESTS_MAX must be a number from 1 to %d",
			    OPS_RUNNING_MAX);
		max_all = (int)n;
	}
	if ((v = getenv("TUG_REQUESTS_PER_USER")) != NULL && *v != '\0') {
		n = strtol(v, &end, 10);
		if (*end != '\0' || n < 1 || n > OPS_USER_MAX)
			fatalx("TUG_REQUESTS_PER_USER must be a number from 1 to "
			    "%d", OPS_USER_MAX);
		max_user = (int)n;
	}
}

/* 0 counted in, or -1 with the limit hit said in err. */
static int
running_enter(const char *user, char *err, size_t errsz)
{
	int	i, free_at = -1, r = -1;

	pthread_mutex_lock(&running_lock);
	for (i = 0; i < OPS_RUNNING_MAX; i++) {
		if (running[i].n > 0 && strcmp(running[i].user, user) == 0)
			break;
		if (running[i].n == 0 && free_at == -1)
			free_at = i;
	}
	if (running_all >= max_all)
		snprintf(err, errsz, "tugd is running %d requests, its limit: "
		    "try again when some have finished", max_all);
	else if (i < OPS_RUNNING_MAX && running[i].n >= max_user)
		snprintf(err, errsz, "%s is running %d requests, the limit "
		    "per user: try again when some have finished", user,
		    max_user);
	else {
		if (i == OPS_RUNNING_MAX) {
			i = free_at;	/* there is one: running_all < max */
			snprintf(running[i].user, sizeof running[i].user, "%s",
			    user);
		}
		running[i].n++;
		running_all++;
		r = 0;
	}
	pthread_mutex_unlock(&running_lock);
	return r;
}

static void
running_leave(const char *user)
{
	int	i;

	pthread_mutex_lock(&running_lock);
	for (i = 0; i < OPS_RUNNING_MAX; i++)
		if (running[i].n > 0 && strcmp(running[i].user, user) == 0) {
			running[i].n--;
			running_all--;
			break;
		}
	pthread_mutex_unlock(&running_lock);
}

/*
 * Run the request in body ({op, args, as}) for rq, which the transport
 * has identified; may_act_as: the peer may name another user with "as"
 * (the SSH forced command, from tugd's own uid). Answers rq exactly once.
 */
void
ops_run(struct req *rq, struct mv *body, int may_act_as)
{
	struct mv	 args;
	char		 err[MSG_ERRLEN], op[64], as[64], esc[128];
	const struct sop *s;
	struct buf	 argj = BUF_INIT, target = BUF_INIT;
	struct authz_list az = { NULL, 0, 0 };

	if (mv_str(body, "op", op, sizeof op, MV_REQ) != 1 ||
	    mv_map(body, "args", &args, MV_REQ) != 1 ||
	    mv_str(body, "as", as, sizeof as, 0) == -1) {
		req_refuse(rq, E_BAD_MESSAGE, body->err);
		return;
	}
	/* --as: honoured from tugd's own uid only (the SSH forced command). */
	log_escape(esc, sizeof esc, op, strlen(op));
	if (mv_present(body, "as")) {
		if (!may_act_as) {
			audit_add(rq->user, rq->peer, esc, "", "{}", 0,
			    "--as refused");
			req_refuse(rq, "permission_denied", "permission denied: "
			    "--as is honoured only for tugd's own user");
			return;
		}
		if (check_user_name(as) != NULL) {
			audit_add(rq->user, rq->peer, esc, "", "{}", 0,
			    "invalid --as user name");
			req_refuse(rq, E_BAD_ARGS, "invalid --as user name");
			return;
		}
		snprintf(rq->user, sizeof rq->user, "%s", as);
		strncat(rq->peer, " --as", sizeof rq->peer -
		    strlen(rq->peer) - 1);
	}
	if ((s = sop_find(op)) == NULL) {
		snprintf(err, sizeof err, "unknown command '%s'", esc);
		audit_add(rq->user, rq->peer, esc, "", "{}", 0, err);
		req_refuse(rq, E_UNKNOWN_OP, err);
		return;
	}
	if (s->audit != NULL)
		s->audit(&args, &argj);
	else
		mv_json(body, "args", &argj);

	/* The one place that decides: every scope the op acts on. */
	if (scopes_of(rq, s, &args, &az, err, sizeof err) == -1) {
		audit_add(rq->user, rq->peer, op, "", buf_str(&argj), 0, err);
		req_refuse(rq, E_BAD_ARGS, err);
		goto out;
	}
	authz_target(&az, &target);
	if (!authorise(rq, s, &az, err, sizeof err)) {
		audit_add(rq->user, rq->peer, op, buf_str(&target),
		    buf_str(&argj), 0, err);
		req_refuse(rq, "permission_denied", err);
		goto out;
	}
	if (running_enter(rq->user, err, sizeof err) == -1) {
		audit_add(rq->user, rq->peer, op, buf_str(&target),
		    buf_str(&argj), 0, err);
		req_refuse(rq, E_BUSY, err);
		goto out;
	}
	s->fn(rq, &args);
	running_leave(rq->user);
	if (!rq->done)
		req_fail(rq, E_INTERNAL, "op '%s' gave no result", op);
	audit_add(rq->user, rq->peer, op, buf_str(&target), buf_str(&argj), 1,
	    rq->error[0] != '\0' ? rq->error : "ok");
out:
	free(az.v);
	buf_release(&argj);
	buf_release(&target);
}

/* --list-ops (for the tests): every op, its action and scope kind. */
void
ops_list(FILE *f)
{
	size_t	i;

	for (i = 0; i < NSOPS; i++)
		fprintf(f, "%-16s %-12s %s\n", sops[i].name, sops[i].action != NULL ?
		    sops[i].action : "-", scope_names[sops[i].scope]);
}
