/*
 * tugd.c: the controller daemon. Listens on a unix socket (mode 0660),
 * identifies every client by its peer credentials, and for each request:
 * authenticates (uid -> OS user -> tug user), authorises in one place
 * (rbac_allowed), runs the op from the table below, and audits the outcome.
 * Owns the SQLite state, its SSH key and the fleet's sessions.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <libssh/libssh.h>

#include "common/clock.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "controller/tug.h"

static volatile sig_atomic_t quit;

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

static void
client_send(struct client *c, struct enc *e)
{
	struct buf	f = BUF_INIT;
	char		err[MSG_ERRLEN];

	if (enc_finish(e, 0, &f, err) == -1) {
		log_warnx("cannot encode a reply: %s", err);
		return;
	}
	pthread_mutex_lock(&c->wlock);
	if (conn_write(&c->conn, &f) == -1)
		log_debug("client went away");
	pthread_mutex_unlock(&c->wlock);
	buf_release(&f);
}

void
client_progress(struct client *c, const char *host, const char *step,
    const char *fmt, ...)
{
	struct enc	e;
	char		msg[512];
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	enc_begin(&e, MSG_EVENT, c->id);
	enc_kstr(&e, "kind", "progress");
	if (host != NULL)
		enc_kstr(&e, "host", host);
	enc_kstr(&e, "step", step);
	enc_kstr(&e, "message", msg);
	enc_ku64(&e, "time_ms", wall_ms());
	client_send(c, &e);
}

void
client_result_begin(struct client *c, struct enc *e)
{
	enc_begin(e, MSG_RESULT, c->id);
	enc_kbool(e, "ok", 1);
	enc_kmap(e, "value");
}

void
client_ok(struct client *c, struct enc *e)
{
	enc_close(e);
	client_send(c, e);
	c->done = 1;
}

/* The failure of the request this thread serves, for the audit log. */
#define CLIENT_ERRLEN	(MSG_ERRLEN * 2)
static __thread char *client_error;

void
client_fail(struct client *c, const char *code, const char *fmt, ...)
{
	struct enc	e;
	char		msg[MSG_ERRLEN * 2];
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (client_error != NULL)
		snprintf(client_error, CLIENT_ERRLEN, "%s", msg);
	enc_begin(&e, MSG_RESULT, c->id);
	enc_kbool(&e, "ok", 0);
	enc_kmap(&e, "error");
	enc_kstr(&e, "code", code);
	enc_kstr(&e, "message", msg);
	enc_close(&e);
	client_send(c, &e);
	c->done = 1;
}

static void
client_refuse(struct client *c, uint64_t id, const char *code,
    const char *msg)
{
	struct buf	f = BUF_INIT;

	if (frame_error(&f, id, code, "%s", msg) == 0) {
		pthread_mutex_lock(&c->wlock);
		conn_write(&c->conn, &f);
		pthread_mutex_unlock(&c->wlock);
	}
	buf_release(&f);
}

/* Who is on the other end of the socket. */
static int
peer_identify(struct client *c, int fd)
{
	struct ucred	 uc;
	socklen_t	 len = sizeof uc;
	struct passwd	 pw, *res = NULL;
	char		 pwbuf[4096];

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) == -1)
		return -1;
	c->uid = uc.uid;
	c->pid = uc.pid;
	if (getpwuid_r(uc.uid, &pw, pwbuf, sizeof pwbuf, &res) != 0 ||
	    res == NULL)
		snprintf(c->user, sizeof c->user, "uid:%u", (unsigned)uc.uid);
	else
		snprintf(c->user, sizeof c->user, "%s", pw.pw_name);
	snprintf(c->peer, sizeof c->peer, "uid %u (%s) pid %ld",
	    (unsigned)uc.uid, c->user, (long)uc.pid);
	return 0;
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
	spec_free(&sp);
	return 0;
}

/* The scopes op s acts on for these args; -1 with err: bad args. */
static int
scopes_of(struct client *c, const struct sop *s, struct mv *args,
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
		if (r == 1 && strcmp(name, c->user) != 0)
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
		if ((r = arg_hosts(args, l, err, errsz)) != 0)
			return r == -1 ? -1 : 0;
		if ((r = arg_name(args, "group", "group", check_group_name,
		    name, sizeof name, err, errsz)) == -1)
			return -1;
		authz_add(l, r == 1 ? "group" : "global", r == 1 ? name : NULL);
		return 0;
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

/* Ask rbac about every scope: 1 allowed, or 0 with the denial in err. */
static int
authorise(struct client *c, const struct sop *s, struct authz_list *l,
    char *err, size_t errsz)
{
	size_t	i;
	int	ok;

	if (s->action == NULL)
		return 1;
	if (l->any) {
		if (rbac_allowed_somewhere(c->user, s->action))
			return 1;
		snprintf(err, errsz, "permission denied: %s may not %s global",
		    c->user, s->action);
		return 0;
	}
	for (i = 0; i < l->n; i++) {
		const char	*action = l->v[i].action != NULL ?
		    l->v[i].action : s->action;

		ok = l->v[i].spec ? rbac_allowed_spec(c->user, action,
		    l->v[i].scope + 5, l->v[i].group) : rbac_allowed(c->user,
		    action, l->v[i].scope);
		if (!ok) {
			snprintf(err, errsz, "permission denied: %s may not %s "
			    "%s", c->user, action, l->v[i].scope);
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

static void
handle(struct client *c)
{
	struct msg	 m;
	struct mv	 body, args;
	char		 err[MSG_ERRLEN], op[64], as[64], esc[128];
	char		 errbuf[CLIENT_ERRLEN] = "";
	const struct sop *s;
	struct buf	 argj = BUF_INIT, target = BUF_INIT;
	struct authz_list az = { NULL, 0, 0 };
	int		 r;
	struct enc	 e;

	/* HELLO both ways. */
	if ((r = conn_read(&c->conn, &m, err)) != 1) {
		if (r != 0)
			client_refuse(c, 0, r == -1 ? E_BAD_FRAME :
			    E_BAD_MESSAGE, err);
		return;
	}
	msg_body(&m, &body, err, "");
	{
		uint64_t	proto = 0;

		if (m.type != MSG_HELLO ||
		    mv_u64(&body, "proto", &proto, MV_REQ) != 1 ||
		    proto != PROTO_VERSION) {
			msg_release(&m);
			client_refuse(c, 0, m.type != MSG_HELLO ? E_NOT_READY :
			    E_VERSION, m.type != MSG_HELLO ? "expected HELLO "
			    "first" : "incompatible protocol version");
			return;
		}
	}
	msg_release(&m);
	enc_begin(&e, MSG_HELLO, 0);
	enc_ku64(&e, "proto", PROTO_VERSION);
	enc_kstr(&e, "version", TUG_VERSION);
	enc_kstr(&e, "role", "controller");
	client_send(c, &e);

	if ((r = conn_read(&c->conn, &m, err)) != 1) {
		if (r != 0)
			client_refuse(c, 0, r == -1 ? E_BAD_FRAME :
			    E_BAD_MESSAGE, err);
		return;
	}
	c->id = m.id;
	msg_body(&m, &body, err, "");
	if (m.type != MSG_REQUEST ||
	    mv_str(&body, "op", op, sizeof op, MV_REQ) != 1 ||
	    mv_map(&body, "args", &args, MV_REQ) != 1 ||
	    mv_str(&body, "as", as, sizeof as, 0) == -1) {
		client_refuse(c, m.id, E_BAD_MESSAGE, m.type != MSG_REQUEST ?
		    "expected a REQUEST" : err);
		msg_release(&m);
		return;
	}
	/* --as: honoured from tugd's own uid only (the SSH forced command). */
	log_escape(esc, sizeof esc, op, strlen(op));
	if (mv_present(&body, "as")) {
		if (c->uid != getuid()) {
			audit_add(c->user, c->peer, esc, "", "{}", 0,
			    "--as refused");
			client_refuse(c, m.id, "permission_denied",
			    "permission denied: --as is honoured only for "
			    "tugd's own user");
			msg_release(&m);
			return;
		}
		if (check_user_name(as) != NULL) {
			audit_add(c->user, c->peer, esc, "", "{}", 0,
			    "invalid --as user name");
			client_refuse(c, m.id, E_BAD_ARGS, "invalid --as user "
			    "name");
			msg_release(&m);
			return;
		}
		snprintf(c->user, sizeof c->user, "%s", as);
		strncat(c->peer, " --as", sizeof c->peer - strlen(c->peer) - 1);
	}
	if ((s = sop_find(op)) == NULL) {
		snprintf(err, sizeof err, "unknown command '%s'", esc);
		audit_add(c->user, c->peer, esc, "", "{}", 0, err);
		client_refuse(c, m.id, E_UNKNOWN_OP, err);
		msg_release(&m);
		return;
	}
	if (s->audit != NULL)
		s->audit(&args, &argj);
	else
		mv_json(&body, "args", &argj);

	/* The one place that decides: every scope the op acts on. */
	if (scopes_of(c, s, &args, &az, err, sizeof err) == -1) {
		audit_add(c->user, c->peer, op, "", buf_str(&argj), 0, err);
		client_refuse(c, m.id, E_BAD_ARGS, err);
		goto out;
	}
	authz_target(&az, &target);
	if (!authorise(c, s, &az, err, sizeof err)) {
		audit_add(c->user, c->peer, op, buf_str(&target),
		    buf_str(&argj), 0, err);
		client_refuse(c, m.id, "permission_denied", err);
		goto out;
	}
	client_error = errbuf;
	s->fn(c, &args);
	client_error = NULL;
	if (!c->done)
		client_fail(c, E_INTERNAL, "op '%s' gave no result", op);
	audit_add(c->user, c->peer, op, buf_str(&target), buf_str(&argj), 1,
	    errbuf[0] != '\0' ? errbuf : "ok");
out:
	free(az.v);
	buf_release(&argj);
	buf_release(&target);
	msg_release(&m);
}

static void *
client_main(void *arg)
{
	struct client	*c = arg;

	handle(c);
	close(c->conn.rfd);
	pthread_mutex_destroy(&c->wlock);
	free(c);
	return NULL;
}

static void
on_signal(int sig)
{
	(void)sig;
	quit = 1;
}

static int
listen_socket(const char *path)
{
	struct sockaddr_un	 sun;
	int			 fd, probe;
	char			 dir[PATH_MAX_TUG], *slash;

	snprintf(dir, sizeof dir, "%s", path);
	if ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
		*slash = '\0';
		if (fs_mkdirs(dir, 0755) == -1)
			fatal("cannot create '%s'", dir);
	}
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
	/* A socket nobody answers on is stale. */
	if ((probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) != -1) {
		if (connect(probe, (struct sockaddr *)&sun, sizeof sun) == 0)
			fatalx("another tugd is listening on '%s'", path);
		close(probe);
	}
	unlink(path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		fatal("socket");
	if (bind(fd, (struct sockaddr *)&sun, sizeof sun) == -1)
		fatal("bind '%s'", path);
	if (chmod(path, 0660) == -1)
		fatal("chmod '%s'", path);
	if (listen(fd, 64) == -1)
		fatal("listen");
	return fd;
}

static void
agent_path(char *dst, size_t dstsz)
{
	const char	*env = getenv("TUG_AGENT");
	char		 self[PATH_MAX_TUG];
	ssize_t		 n;
	char		*slash;

	if (env != NULL && *env != '\0') {
		snprintf(dst, dstsz, "%s", env);
		return;
	}
	if ((n = readlink("/proc/self/exe", self, sizeof self - 1)) <= 0)
		fatal("readlink /proc/self/exe");
	self[n] = '\0';
	if ((slash = strrchr(self, '/')) != NULL)
		*slash = '\0';
	snprintf(dst, dstsz, "%s/tug-agent", self);
}

/* TUG_HANDSHAKES: how many SSH handshakes may run at once (1..256). */
static int
handshakes(void)
{
	const char	*v = getenv("TUG_HANDSHAKES");
	char		*end;
	long		 n;

	if (v == NULL || *v == '\0')
		return 16;
	n = strtol(v, &end, 10);
	if (*end != '\0' || n < 1 || n > 256)
		fatalx("TUG_HANDSHAKES must be a number from 1 to 256");
	return (int)n;
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: tugd [-fv] [--home DIR] [--socket PATH]\n"
	    "\n"
	    "The tug controller. `tug` starts it when none is running.\n"
	    "  -f            stay in the foreground, log to stderr\n"
	    "  -v            more logging (twice: debug)\n"
	    "  --home DIR    state: tug.db, SSH key, log (default: $TUG_HOME,\n"
	    "                /var/lib/tug as root, else ~/.local/state/tug)\n"
	    "  --socket PATH where to listen (default: DIR/tugd.sock, or\n"
	    "                /run/tug/tugd.sock for the system service)\n"
	    "Environment: TUG_AGENT (the tug-agent binary to install on hosts).\n");
}

/* --list-ops (for the tests): every op, its action and scope kind. */
static void
list_ops(void)
{
	size_t	i;

	for (i = 0; i < NSOPS; i++)
		printf("%-16s %-12s %s\n", sops[i].name, sops[i].action != NULL ?
		    sops[i].action : "-", scope_names[sops[i].scope]);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "home", required_argument, NULL, 'H' },
		{ "socket", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ "list-ops", no_argument, NULL, 'L' },
		{ NULL, 0, NULL, 0 }
	};
	const char	*home = NULL, *sock = NULL;
	char		 err[512], pub[512], apath[PATH_MAX_TUG], lockp[PATH_MAX_TUG + 8];
	struct host_rec	*hosts;
	size_t		 nhosts, i;
	int		 ch, foreground = 0, verbose = 0, lfd, lockfd, ready[2];
	int		 nhandshakes;
	pid_t		 pid;

	log_init("tugd", 0);
	while ((ch = getopt_long(argc, argv, "fvh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'f': foreground = 1; break;
		case 'v': verbose++; break;
		case 'H': home = optarg; break;
		case 'S': sock = optarg; break;
		case 'h': usage(stdout); return 0;
		case 'L': list_ops(); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	log_init("tugd", verbose);
	umask(007);
	if (paths_init(&paths, home, sock) == -1)
		fatalx("state directory or socket path unusable (too long?)");
	nhandshakes = handshakes();	/* before the fork: errors reach tug */

	/*
	 * Fork before anything holds a lock or opens the database: SQLite's
	 * POSIX locks do not survive fork. The parent waits until the child
	 * is listening (or has failed) so that `tug` can connect at once.
	 */
	if (!foreground) {
		if (pipe(ready) == -1)
			fatal("pipe");
		if ((pid = fork()) == -1)
			fatal("fork");
		if (pid > 0) {
			char	c = 0;

			close(ready[1]);
			if (read(ready[0], &c, 1) != 1 || c != '1')
				_exit(1);
			_exit(0);
		}
		close(ready[0]);
		setsid();
	}
	if (fs_mkdirs(paths.home, 0700) == -1)
		fatal("cannot create '%s'", paths.home);
	chmod(paths.home, 0700);
	snprintf(lockp, sizeof lockp, "%s/tugd.lock", paths.home);
	if ((lockfd = open(lockp, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) == -1 ||
	    flock(lockfd, LOCK_EX | LOCK_NB) == -1)
		fatalx("another tugd runs on '%s'", paths.home);
	if (db_open(paths.db, err, sizeof err) == -1)
		fatalx("%s", err);
	locks_clear();		/* held by a tugd that is gone */
	ssh_init();
	if (ssh_key_ensure(paths.key, pub, sizeof pub, err, sizeof err) == -1)
		fatalx("%s", err);
	agent_path(apath, sizeof apath);
	if (agent_bin_load(apath, err, sizeof err) == -1)
		fatalx("%s", err);
	lfd = listen_socket(paths.sock);

	if (!foreground) {
		int	logfd;

		if ((logfd = open(paths.log, O_WRONLY | O_CREAT | O_APPEND |
		    O_CLOEXEC, 0600)) != -1) {
			dup2(logfd, STDERR_FILENO);
			close(logfd);
		}
		if ((logfd = open("/dev/null", O_RDWR)) != -1) {
			dup2(logfd, STDIN_FILENO);
			dup2(logfd, STDOUT_FILENO);
			close(logfd);
		}
		if (write(ready[1], "1", 1) != 1)
			fatal("cannot tell the parent");
		close(ready[1]);
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	log_warnx("tugd %s listening on %s (state %s, agent %.16s)",
	    TUG_VERSION, paths.sock, paths.home, agent_bin.sha256);

	fleet_init(nhandshakes);
	if (hosts_load(&hosts, &nhosts) == 0) {
		for (i = 0; i < nhosts; i++) {
			fleet_add(&hosts[i]);
			host_rec_free(&hosts[i]);
		}
		free(hosts);
	}

	while (!quit) {
		struct pollfd	 pfd = { lfd, POLLIN, 0 };
		struct client	*c;
		pthread_t	 t;
		pthread_attr_t	 attr;
		int		 fd;

		if (poll(&pfd, 1, 500) <= 0)
			continue;
		if ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) == -1)
			continue;
		c = xcalloc(1, sizeof *c);
		conn_init(&c->conn, fd, fd, "tugd");
		pthread_mutex_init(&c->wlock, NULL);
		if (peer_identify(c, fd) == -1) {
			close(fd);
			free(c);
			continue;
		}
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&t, &attr, client_main, c) != 0) {
			close(fd);
			free(c);
		}
		pthread_attr_destroy(&attr);
	}
	/*
	 * Host threads may be in the middle of libssh calls: exit without
	 * running atexit handlers under them, but only once no thread is
	 * inside SQLite (WAL needs nothing more to stay consistent).
	 */
	log_warnx("tugd exiting");
	unlink(paths.sock);
	close(lfd);
	db_lock();
	_exit(0);
}
