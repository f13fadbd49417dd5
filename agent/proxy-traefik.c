/*
 * proxy-traefik.c: the Traefik backend, for a Traefik the agent neither
 * runs nor can ask: one file <dir>/tug-<site>.yml per site for its file
 * provider (written by rename), or labels on the site's containers for one
 * watching Docker. Tested for form only: no Traefik exists here.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/xmalloc.h"

#define TRF_PATH	(PATH_MAX_TUG + 128)
#define TRF_FILE_MODE	0644		/* Traefik runs as a user of its own */
#define TRF_PREV_MODE	0600
#define TRF_FILE_MAX	(1U << 20)	/* bytes of a site file read back */
#define TRF_DOMAINS	"# domains: "	/* the line other sites are checked by */

/* An entrypoint or resolver name: ^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$. */
static const char *
trf_check_name(const char *s)
{
	size_t	i, n = strlen(s);

	if (n == 0)
		return "empty";
	if (n > TRAEFIK_NAME_MAX)
		return "longer than 63 characters";
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || (i > 0 && (c == '_' || c == '-'))))
			return i == 0 ? "must start with a letter or digit" :
			    "only letters, digits, '_' and '-' allowed";
	}
	return NULL;
}

/* A list of names: 1 … TRAEFIK_EPS_MAX, each valid, none twice. */
static int
trf_check_names(const char names[][TRAEFIK_NAME_MAX + 1], size_t n,
    char *msg, size_t msgsz)
{
	const char	*why;
	char		 e[128];
	size_t		 i, k;

	if (n == 0)
		return snprintf(msg, msgsz, "invalid traefik setting: no "
		    "entrypoints (at least one name)"), -1;
	for (i = 0; i < n; i++) {
		if ((why = trf_check_name(names[i])) != NULL)
			return snprintf(msg, msgsz, "invalid traefik setting "
			    "'%s': %s", log_escape(e, sizeof e, names[i],
			    strlen(names[i])), why), -1;
		for (k = 0; k < i; k++)
			if (strcmp(names[k], names[i]) == 0)
				return snprintf(msg, msgsz, "invalid traefik "
				    "setting '%s': listed twice", names[i]), -1;
	}
	return 0;
}

/*
 * The whole of a traefik_conf, from proxy.setup's args or from proxy.json:
 * 0, or -1 and why not in msg.
 */
static int
trf_check_conf(const struct traefik_conf *t, char *msg, size_t msgsz)
{
	const char	*why;
	char		 e[128];

	if (strcmp(t->provider, "file") != 0 &&
	    strcmp(t->provider, "docker") != 0)
		return snprintf(msg, msgsz, "invalid traefik setting '%s': "
		    "unknown traefik provider: file or docker", log_escape(e,
		    sizeof e, t->provider, strlen(t->provider))), -1;
	if (strcmp(t->provider, "file") == 0) {
		if (t->dir[0] == '\0')
			return snprintf(msg, msgsz, "traefik_dir is required "
			    "with provider file: the directory Traefik's file "
			    "provider watches"), -1;
		if ((why = check_abs_path(t->dir)) != NULL)
			return snprintf(msg, msgsz, "invalid traefik setting "
			    "'%s': %s", log_escape(e, sizeof e, t->dir,
			    strlen(t->dir)), why), -1;
		if (strcmp(t->dir, "/") == 0)
			return snprintf(msg, msgsz, "traefik_dir cannot be /"),
			    -1;
	} else if (t->dir[0] != '\0')
		return snprintf(msg, msgsz, "traefik_dir is for provider file "
		    "only"), -1;
	if (trf_check_names(t->eps, t->neps, msg, msgsz) == -1 ||
	    trf_check_names(t->tls_eps, t->ntls_eps, msg, msgsz) == -1)
		return -1;
	if (t->resolver[0] != '\0' && (why = trf_check_name(t->resolver)) !=
	    NULL)
		return snprintf(msg, msgsz, "invalid traefik setting '%s': %s",
		    log_escape(e, sizeof e, t->resolver, strlen(t->resolver)),
		    why), -1;
	return 0;
}

/*
 * The watched directory must be a real directory of the agent's own user
 * that it can write, and that no other local user can write: Traefik
 * loads every *.yml in it, so whoever writes there routes any domain.
 */
static const char *
trf_check_dir(const char *dir)
{
	struct stat	st;

	if (lstat(dir, &st) == -1)
		return errno == ENOENT ? "no such directory (make it, owned by "
		    "the agent's user, and point Traefik's file provider at it)" :
		    strerror(errno);
	if (S_ISLNK(st.st_mode))
		return "a symbolic link: give the directory itself";
	if (!S_ISDIR(st.st_mode))
		return "not a directory";
	if (st.st_uid != geteuid())
		return "not owned by the agent's user";
	if (st.st_mode & S_IWOTH)
		return "writable by every user";
	if (access(dir, W_OK | X_OK) == -1)
		return "not writable by the agent's user";
	return NULL;
}

/* Read an array of names args[key] into names; absent: the default. */
static int
trf_args_names(struct job *j, const char *key,
    char names[][TRAEFIK_NAME_MAX + 1], size_t *n, const char *def)
{
	size_t	i;
	int	r;

	if ((r = mv_arr(&j->args, key, n, TRAEFIK_EPS_MAX, 0)) == -1)
		return -1;
	if (r == 0) {
		snprintf(names[0], TRAEFIK_NAME_MAX + 1, "%s", def);
		*n = 1;
		return 0;
	}
	for (i = 0; i < *n; i++)
		if (mv_arr_str(&j->args, key, i, names[i],
		    TRAEFIK_NAME_MAX + 1) == -1)
			return -1;
	return 0;
}

/* proxy.setup's args of kind traefik, on the reader thread. */
static int
trf_args(struct job *j, struct proxy_conf *pc)
{
	struct traefik_conf	*t = &pc->traefik;
	const char		*why;
	char			 msg[PROXY_ERRLEN];

	snprintf(t->provider, sizeof t->provider, "file");
	if (mv_str(&j->args, "provider", t->provider, sizeof t->provider,
	    0) == -1 ||
	    mv_str(&j->args, "traefik_dir", t->dir, sizeof t->dir, 0) == -1 ||
	    mv_str(&j->args, "cert_resolver", t->resolver, sizeof t->resolver,
	    0) == -1 ||
	    trf_args_names(j, "entrypoints", t->eps, &t->neps, "web") == -1 ||
	    trf_args_names(j, "tls_entrypoints", t->tls_eps, &t->ntls_eps,
	    "websecure") == -1)
		return -1;
	if (mv_present(&j->args, "cert_resolver") && t->resolver[0] == '\0')
		return job_bad(j, "invalid cert_resolver '': empty");
	if (mv_present(&j->args, "tls_entrypoints") && t->resolver[0] == '\0')
		return job_bad(j, "tls_entrypoints need a cert_resolver");
	if (trf_check_conf(t, msg, sizeof msg) == -1)
		return job_bad(j, "%s", msg);
	if (t->dir[0] != '\0' && (why = trf_check_dir(t->dir)) != NULL)
		return job_bad(j, "invalid traefik_dir '%s': %s", t->dir, why);
	return 0;
}

static json_t *
trf_names_json(const char names[][TRAEFIK_NAME_MAX + 1], size_t n)
{
	json_t	*a = json_array();
	size_t	 i;

	for (i = 0; i < n; i++)
		json_array_append_new(a, json_string(names[i]));
	return a;
}

/* proxy.json's "traefik" object. */
static void
trf_save(const struct proxy_conf *pc, json_t *j)
{
	const struct traefik_conf	*t = &pc->traefik;
	json_t				*o;

	o = json_pack("{s:s, s:o, s:o}", "provider", t->provider,
	    "entrypoints", trf_names_json(t->eps, t->neps),
	    "tls_entrypoints", trf_names_json(t->tls_eps, t->ntls_eps));
	if (o != NULL && t->dir[0] != '\0')
		json_object_set_new(o, "dir", json_string(t->dir));
	if (o != NULL && t->resolver[0] != '\0')
		json_object_set_new(o, "cert_resolver",
		    json_string(t->resolver));
	json_object_set_new(j, "traefik", o);
}

static int
trf_load_names(json_t *a, char names[][TRAEFIK_NAME_MAX + 1], size_t *n)
{
	json_t		*it;
	const char	*s;
	size_t		 i;

	*n = 0;
	if (!json_is_array(a) || json_array_size(a) > TRAEFIK_EPS_MAX)
		return -1;
	json_array_foreach(a, i, it) {
		if ((s = json_string_value(it)) == NULL ||
		    strlen(s) > TRAEFIK_NAME_MAX)
			return -1;
		snprintf(names[(*n)++], TRAEFIK_NAME_MAX + 1, "%s", s);
	}
	return 0;
}

/* proxy.json, read as any input: -1 when damaged. */
static int
trf_load(json_t *j, struct proxy_conf *pc)
{
	struct traefik_conf	*t = &pc->traefik;
	json_t			*eps, *teps;
	const char		*prov, *dir = "", *res = "";
	char			 msg[PROXY_ERRLEN];

	if (json_unpack(json_object_get(j, "traefik"), "{s:s, s?:s, s:o, "
	    "s:o, s?:s}", "provider", &prov, "dir", &dir, "entrypoints", &eps,
	    "tls_entrypoints", &teps, "cert_resolver", &res) == -1 ||
	    strlen(prov) >= sizeof t->provider || strlen(dir) >= sizeof t->dir ||
	    strlen(res) >= sizeof t->resolver ||
	    trf_load_names(eps, t->eps, &t->neps) == -1 ||
	    trf_load_names(teps, t->tls_eps, &t->ntls_eps) == -1)
		return -1;
	snprintf(t->provider, sizeof t->provider, "%s", prov);
	snprintf(t->dir, sizeof t->dir, "%s", dir);
	snprintf(t->resolver, sizeof t->resolver, "%s", res);
	return trf_check_conf(t, msg, sizeof msg);
}

static int
trf_file(const struct proxy_conf *pc)
{
	return strcmp(pc->traefik.provider, "file") == 0;
}

/* What Traefik cannot be made to serve here, before anything is made. */
static const char *
trf_refuse(const struct proxy_conf *pc, const struct proxy_site *ps)
{
	(void)pc;
	if (ps->root[0] != '\0')
		return "the traefik backend serves no static sites: Traefik "
		    "cannot serve files; use nginx or caddy for this host's "
		    "proxy";
	if (ps->tls_cert[0] != '\0')
		return "the traefik backend takes no certificate files: give "
		    "proxy.setup a cert_resolver and Traefik obtains the "
		    "certificates itself";
	return NULL;
}

/*
 * Everything that goes into a site's file or labels, checked again here,
 * next to the text it goes into: the request's checks ran long before, and
 * a rule is code to Traefik. port is the upstream's (unused when stopped).
 */
static int
trf_check_site(const struct proxy_conf *pc, const struct proxy_site *ps,
    uint64_t port, char *err)
{
	const char	*why;
	char		 e[128], msg[PROXY_ERRLEN - 32];
	size_t		 i;

	if ((why = check_site_name(ps->site)) != NULL)
		return snprintf(err, PROXY_ERRLEN, "invalid site name '%s': %s",
		    log_escape(e, sizeof e, ps->site, strlen(ps->site)), why),
		    -1;
	if (ps->ndomains == 0 || ps->ndomains > PROXY_DOMAINS_MAX)
		return snprintf(err, PROXY_ERRLEN, "no domains"), -1;
	for (i = 0; i < ps->ndomains; i++)
		if ((why = check_domain(ps->domains[i])) != NULL)
			return snprintf(err, PROXY_ERRLEN, "invalid domain "
			    "'%s': %s", log_escape(e, sizeof e, ps->domains[i],
			    strlen(ps->domains[i])), why), -1;
	if ((why = trf_refuse(pc, ps)) != NULL)
		return snprintf(err, PROXY_ERRLEN, "%s", why), -1;
	if (ps->release == 0)
		return snprintf(err, PROXY_ERRLEN, "no release"), -1;
	if (!ps->stopped && (port == 0 || port > 65535))
		return snprintf(err, PROXY_ERRLEN, "no upstream port"), -1;
	if (trf_check_conf(&pc->traefik, msg, sizeof msg) == -1)
		return snprintf(err, PROXY_ERRLEN, "%s: run proxy.setup again",
		    msg), -1;
	return 0;
}

/*
 * The router rule: Host(`d`) for a name, joined by ||. Traefik v3's
 * Host() takes one name and no wildcard, so *.x becomes a Go regexp on the
 * host (Traefik lowercases it and drops the port first) matching any
 * number of labels before .x, as nginx's *.x does and as tugd's registry
 * reserves them; the dots of x are escaped. Only [a-z0-9.-] come from a
 * checked domain, so nothing else can reach the rule.
 */
static void
trf_rule(const struct proxy_site *ps, struct buf *b)
{
	const char	*d, *p;
	size_t		 i;

	for (i = 0; i < ps->ndomains; i++) {
		d = ps->domains[i];
		if (i > 0)
			buf_addstr(b, " || ");
		if (strncmp(d, "*.", 2) != 0) {
			buf_addf(b, "Host(`%s`)", d);
			continue;
		}
		buf_addstr(b, "HostRegexp(`^(?:[a-z0-9-]+\\.)+");
		for (p = d + 2; *p != '\0'; p++) {
			if (*p == '.')
				buf_addch(b, '\\');
			buf_addch(b, *p);
		}
		buf_addstr(b, "$`)");
	}
}

static void
trf_yaml_list(struct buf *b, const char *indent,
    const char names[][TRAEFIK_NAME_MAX + 1], size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		buf_addf(b, "%s- '%s'\n", indent, names[i]);
}

/*
 * A router of the site's file. Every scalar that is not a fixed word is
 * single-quoted, where YAML takes every character but ' literally (none
 * of the checked grammars has one): a name such as "true" or "0x1" stays
 * a string, and "*.x" no alias.
 */
static void
trf_yaml_router(struct buf *b, const struct proxy_conf *pc,
    const struct proxy_site *ps, const char *rule, int tls)
{
	const struct traefik_conf	*t = &pc->traefik;
	size_t				 i;

	buf_addf(b, "    tug-%s%s:\n"
	    "      rule: '%s'\n"
	    "      entryPoints:\n", ps->site, tls ? "-tls" : "", rule);
	if (tls)
		trf_yaml_list(b, "        ", t->tls_eps, t->ntls_eps);
	else
		trf_yaml_list(b, "        ", t->eps, t->neps);
	buf_addf(b, "      service: tug-%s\n", ps->site);
	if (!tls)
		return;
	buf_addf(b, "      tls:\n"
	    "        certResolver: '%s'\n"
	    "        domains:\n", t->resolver);
	for (i = 0; i < ps->ndomains; i++)
		buf_addf(b, "          - main: '%s'\n", ps->domains[i]);
}

/*
 * <dir>/tug-<site>.yml: one router (two with a cert resolver: a router
 * with TLS matches TLS connections only, so plain HTTP keeps its own, as
 * nginx's site keeps its plain server) and one service. A stopped site's
 * service has no servers at all: Traefik answers 503 itself and the file
 * names no port a local user could bind.
 */
static int
trf_render(const struct proxy_conf *pc, const struct proxy_site *ps,
    struct buf *b, char *err)
{
	struct buf	rule = BUF_INIT;
	size_t		i;

	if (trf_check_site(pc, ps, ps->port, err) == -1)
		return -1;
	trf_rule(ps, &rule);
	if (ps->stopped)
		buf_addf(b, "# site %s, release %llu: stopped by tug-agent's "
		    "site.stop; its service has no\n# servers, so Traefik "
		    "answers 503 itself.\n", ps->site,
		    (unsigned long long)ps->release);
	else
		buf_addf(b, "# site %s, release %llu: written by tug-agent for "
		    "Traefik's file provider,\n# replaced on every deploy.\n",
		    ps->site, (unsigned long long)ps->release);
	buf_addstr(b, TRF_DOMAINS);
	for (i = 0; i < ps->ndomains; i++)
		buf_addf(b, "%s%s", i > 0 ? " " : "", ps->domains[i]);
	buf_addstr(b, "\nhttp:\n  routers:\n");
	trf_yaml_router(b, pc, ps, buf_str(&rule), 0);
	if (pc->traefik.resolver[0] != '\0')
		trf_yaml_router(b, pc, ps, buf_str(&rule), 1);
	buf_addf(b, "  services:\n"
	    "    tug-%s:\n"
	    "      loadBalancer:\n", ps->site);
	if (ps->stopped)
		buf_addstr(b, "        servers: []\n");
	else
		buf_addf(b, "        servers:\n"
		    "          - url: 'http://127.0.0.1:%llu'\n",
		    (unsigned long long)ps->port);
	buf_release(&rule);
	return 0;
}

static void
trf_conf_path(const struct proxy_conf *pc, const char *site, char *dst,
    size_t dstsz)
{
	snprintf(dst, dstsz, "%s/tug-%s.yml", pc->traefik.dir, site);
}

/* The previous text lives in the state dir: Traefik loads only *.yml. */
static void
trf_prev_path(const char *site, char *dst, size_t dstsz)
{
	snprintf(dst, dstsz, "%s/traefik/%s.prev", agent.state_dir, site);
}

/* The site of a file name tug-<site>.yml, into stem; -1 when it is not. */
static int
trf_file_site(const char *name, char *stem, size_t stemsz)
{
	size_t	len = strlen(name);

	if (len <= 8 || len - 8 > SITE_NAME_MAX ||
	    strncmp(name, "tug-", 4) != 0 || strcmp(name + len - 4, ".yml") != 0)
		return -1;
	snprintf(stem, stemsz, "%.*s", (int)(len - 8), name + 4);
	return check_site_name(stem) == NULL ? 0 : -1;
}

/*
 * A domain of ps that another site's file already routes (by its
 * "# domains:" line): Traefik would pick one by rule length. 0, or -1 with
 * err.
 */
static int
trf_clash(const struct proxy_conf *pc, const struct proxy_site *ps,
    char *err)
{
	DIR		*d;
	struct dirent	*de;
	struct buf	 b = BUF_INIT;
	char		 stem[SITE_NAME_MAX + 1], path[TRF_PATH];
	const char	*line, *w;
	size_t		 i, n;
	int		 r = 0;

	if ((d = opendir(pc->traefik.dir)) == NULL)
		return snprintf(err, PROXY_ERRLEN, "cannot read %s: %s",
		    pc->traefik.dir, strerror(errno)), -1;
	while (r == 0 && (de = readdir(d)) != NULL) {
		if (trf_file_site(de->d_name, stem, sizeof stem) == -1 ||
		    strcmp(stem, ps->site) == 0)
			continue;
		trf_conf_path(pc, stem, path, sizeof path);
		buf_reset(&b);
		if (fs_read_file(path, &b, TRF_FILE_MAX) == -1 ||
		    (line = strstr(buf_str(&b), "\n" TRF_DOMAINS)) == NULL)
			continue;
		line += 1 + strlen(TRF_DOMAINS);
		for (w = line; r == 0 && *w != '\n' && *w != '\0'; w += n) {
			w += strspn(w, " ");
			n = strcspn(w, " \n");
			for (i = 0; n > 0 && i < ps->ndomains; i++)
				if (strlen(ps->domains[i]) == n &&
				    memcmp(ps->domains[i], w, n) == 0) {
					snprintf(err, PROXY_ERRLEN, "domain '%s' "
					    "is already served by another site "
					    "on this proxy", ps->domains[i]);
					r = -1;
					break;
				}
		}
	}
	closedir(d);
	buf_release(&b);
	return r;
}

/*
 * Undo a switch: <state>/traefik/<site>.prev holds the previous text,
 * empty when there was no file. 1 undone, 0 nothing to undo, -1.
 */
static int
trf_undo(const struct proxy_conf *pc, const char *site)
{
	char		conf[TRF_PATH], prev[TRF_PATH];
	struct buf	old = BUF_INIT;
	int		r = 1;

	trf_conf_path(pc, site, conf, sizeof conf);
	trf_prev_path(site, prev, sizeof prev);
	if (fs_read_file(prev, &old, TRF_FILE_MAX) == -1) {
		buf_release(&old);
		return errno == ENOENT ? 0 : -1;
	}
	if (old.len == 0 ? unlink(conf) == -1 && errno != ENOENT :
	    fs_write_atomic(conf, old.ptr, old.len, TRF_FILE_MODE) == -1) {
		log_warn("cannot restore %s", conf);
		r = -1;
	} else
		unlink(prev);
	buf_release(&old);
	return r;
}

/*
 * provider file. There is no Traefik to ask (none runs where tug is
 * tested, and Traefik's API is not ours to reach), so nothing confirms
 * the switch: the file is written atomically (temp file, fsync, rename:
 * Traefik's watcher sees the old file or the new one, and skips the
 * temp name, which does not end in .yml) and the timing says so: changed,
 * no test, no reload, no confirmation, unconfirmed.
 */
static int
trf_file_switch(const struct proxy_conf *pc, const struct proxy_site *ps,
    struct proxy_timing *tm, char *err)
{
	struct buf	 text = BUF_INIT, cur = BUF_INIT;
	char		 conf[TRF_PATH], prev[TRF_PATH];
	const char	*why;
	int		 had, r = -1;

	if (trf_render(pc, ps, &text, err) == -1)
		goto out;
	if ((why = trf_check_dir(pc->traefik.dir)) != NULL) {
		snprintf(err, PROXY_ERRLEN, "the traefik_dir %s: %s: run "
		    "proxy.setup again", pc->traefik.dir, why);
		goto out;
	}
	if (trf_clash(pc, ps, err) == -1)
		goto out;
	trf_conf_path(pc, ps->site, conf, sizeof conf);
	trf_prev_path(ps->site, prev, sizeof prev);
	if (fs_read_file(conf, &cur, TRF_FILE_MAX) == 0)
		had = 1;
	else if (errno == ENOENT)
		had = 0;
	else {
		snprintf(err, PROXY_ERRLEN, "cannot read %s: %s", conf,
		    strerror(errno));
		goto out;
	}
	r = 0;
	if (had && cur.len == text.len && memcmp(cur.ptr, text.ptr,
	    text.len) == 0)
		goto out;

	/* Keep the previous text: putting it back undoes the switch. */
	if (fs_write_atomic(prev, had ? cur.ptr : "", had ? cur.len : 0,
	    TRF_PREV_MODE) == -1) {
		snprintf(err, PROXY_ERRLEN, "cannot write %s: %s", prev,
		    strerror(errno));
		r = -1;
		goto out;
	}
	if (fs_write_atomic(conf, text.ptr, text.len, TRF_FILE_MODE) == -1) {
		snprintf(err, PROXY_ERRLEN, "cannot write %s: %s", conf,
		    strerror(errno));
		trf_undo(pc, ps->site);
		r = -1;
		goto out;
	}
	tm->changed = 1;
	unlink(prev);
out:
	buf_release(&text);
	buf_release(&cur);
	return r;
}

/*
 * The labels for provider docker: a new object, or NULL with err. cport
 * is the container's port. Nothing in them names a release, so the
 * containers of two releases declare the same routers and service, and
 * Traefik merges them into one load balancer while both run (labels that
 * differ would make it drop the router as defined twice).
 */
static json_t *
trf_labels(const struct proxy_conf *pc, const struct proxy_site *ps,
    uint64_t cport, char *err)
{
	const struct traefik_conf	*t = &pc->traefik;
	struct proxy_site		 live = *ps;
	struct buf			 rule = BUF_INIT, eps = BUF_INIT;
	char				 k[SITE_NAME_MAX + 96], v[SITE_NAME_MAX + 8];
	json_t				*l;
	size_t				 i;
	int				 tls;

	live.stopped = 0;
	if (trf_check_site(pc, &live, cport, err) == -1)
		return NULL;
	trf_rule(ps, &rule);
	snprintf(v, sizeof v, "tug-%s", ps->site);
	l = json_pack("{s:s, s:s}", "traefik.enable", "true",
	    "traefik.docker.network", v);
	for (tls = 0; tls <= (t->resolver[0] != '\0'); tls++) {
		const char	*r = tls ? "-tls" : "";

		buf_reset(&eps);
		for (i = 0; i < (tls ? t->ntls_eps : t->neps); i++)
			buf_addf(&eps, "%s%s", i > 0 ? "," : "",
			    tls ? t->tls_eps[i] : t->eps[i]);
		snprintf(k, sizeof k, "traefik.http.routers.tug-%s%s.rule",
		    ps->site, r);
		json_object_set_new(l, k, json_string(buf_str(&rule)));
		snprintf(k, sizeof k, "traefik.http.routers.tug-%s%s."
		    "entrypoints", ps->site, r);
		json_object_set_new(l, k, json_string(buf_str(&eps)));
		snprintf(k, sizeof k, "traefik.http.routers.tug-%s%s.service",
		    ps->site, r);
		json_object_set_new(l, k, json_string(v));
		if (!tls)
			continue;
		snprintf(k, sizeof k, "traefik.http.routers.tug-%s-tls.tls",
		    ps->site);
		json_object_set_new(l, k, json_string("true"));
		snprintf(k, sizeof k, "traefik.http.routers.tug-%s-tls.tls."
		    "certresolver", ps->site);
		json_object_set_new(l, k, json_string(t->resolver));
		for (i = 0; i < ps->ndomains; i++) {
			snprintf(k, sizeof k, "traefik.http.routers.tug-%s-tls."
			    "tls.domains[%zu].main", ps->site, i);
			json_object_set_new(l, k, json_string(ps->domains[i]));
		}
	}
	snprintf(k, sizeof k, "traefik.http.services.tug-%s.loadbalancer."
	    "server.port", ps->site);
	snprintf(v, sizeof v, "%llu", (unsigned long long)cport);
	json_object_set_new(l, k, json_string(v));
	buf_release(&rule);
	buf_release(&eps);
	return l;
}

json_t *
traefik_labels(const struct proxy_site *ps, uint64_t cport)
{
	struct proxy_conf	*pc = xcalloc(1, sizeof *pc);
	char			 err[PROXY_ERRLEN];
	json_t			*l;

	if (proxy_load(pc, err) != 1 || strcmp(pc->kind, "traefik") != 0 ||
	    trf_file(pc))
		l = json_object();
	else if ((l = trf_labels(pc, ps, cport, err)) == NULL)
		log_warnx("no traefik labels for site '%s': %s", ps->site, err);
	free(pc);
	return l;
}

/* Every label of want on the container, and no other traefik.* label. */
static int
trf_labels_match(json_t *have, json_t *want)
{
	const char	*k, *hv;
	json_t		*v;

	json_object_foreach(want, k, v)
		if ((hv = json_string_value(json_object_get(have, k))) == NULL ||
		    strcmp(hv, json_string_value(v)) != 0)
			return 0;
	json_object_foreach(have, k, v)
		if (strncmp(k, "traefik.", 8) == 0 &&
		    json_object_get(want, k) == NULL)
			return 0;
	return 1;
}

/*
 * provider docker: the labels were set when the container was made
 * (traefik_labels(), from agent-site.c's create_body), and Docker cannot
 * change them, so a switch writes nothing. It checks instead that the
 * release's container carries exactly the labels this switch asks for: a
 * container reused by an apply whose domains changed does not, and the
 * switch fails rather than leave Traefik routing the old names. Traefik
 * itself is not asked (see trf_file_switch). A stopped site needs
 * nothing: its container stops, and Traefik drops the routers of a
 * container that is not running.
 */
static int
trf_docker_switch(const struct proxy_conf *pc, const struct proxy_site *ps,
    char *err)
{
	struct dcall	 c;
	json_t		*r, *labels, *binds, *v, *b, *want = NULL;
	char		 name[SITE_NAME_MAX + 32];
	const char	*key, *hp;
	uint64_t	 cport = 0;
	size_t		 i;
	int		 ret = -1;

	if (trf_check_site(pc, ps, ps->port, err) == -1)
		return -1;
	if (ps->stopped)
		return 0;
	snprintf(name, sizeof name, "tug-%s-r%llu", ps->site,
	    (unsigned long long)ps->release);
	dcall_init(&c, "GET", "/containers/%s/json", name);
	if ((r = docker_json(&c)) == NULL) {
		snprintf(err, PROXY_ERRLEN, "inspect %s: %s", name, c.err);
		dcall_release(&c);
		return -1;
	}
	dcall_release(&c);
	labels = json_object_get(json_object_get(r, "Config"), "Labels");
	if (!owner_labels_ours(labels, ps->site)) {
		snprintf(err, PROXY_ERRLEN, "%s is not a container of site "
		    "'%s'", name, ps->site);
		goto out;
	}
	binds = json_object_get(json_object_get(r, "HostConfig"),
	    "PortBindings");
	json_object_foreach(binds, key, v)
		json_array_foreach(v, i, b)
			if ((hp = json_string_value(json_object_get(b,
			    "HostPort"))) != NULL &&
			    strtoull(hp, NULL, 10) == ps->port)
				cport = strtoull(key, NULL, 10);
	if (cport == 0) {
		snprintf(err, PROXY_ERRLEN, "%s publishes no port %llu", name,
		    (unsigned long long)ps->port);
		goto out;
	}
	if ((want = trf_labels(pc, ps, cport, err)) == NULL)
		goto out;
	if (!trf_labels_match(labels, want)) {
		snprintf(err, PROXY_ERRLEN, "the traefik labels of %s do not "
		    "route what this switch asks (labels are fixed when a "
		    "container is made: its domains or proxy.setup changed "
		    "since): deploy a new release", name);
		goto out;
	}
	ret = 0;
out:
	json_decref(want);
	json_decref(r);
	return ret;
}

static int
trf_site_switch(const struct proxy_conf *pc, const struct proxy_site *ps,
    struct proxy_timing *tm, char *err)
{
	memset(tm, 0, sizeof *tm);
	tm->unconfirmed = 1;
	if (trf_file(pc))
		return trf_file_switch(pc, ps, tm, err);
	return trf_docker_switch(pc, ps, err);
}

static int
trf_site_restore(const struct proxy_conf *pc, const char *site, int *done,
    char *err)
{
	(void)err;
	*done = trf_file(pc) && trf_undo(pc, site) == 1;
	return 0;
}

/* provider docker: the labels go with the containers site.remove takes. */
static int
trf_site_remove(const struct proxy_conf *pc, const char *site, int *done,
    char *err)
{
	char	conf[TRF_PATH], prev[TRF_PATH];

	*done = 0;
	if (!trf_file(pc))
		return 0;
	trf_conf_path(pc, site, conf, sizeof conf);
	trf_prev_path(site, prev, sizeof prev);
	unlink(prev);
	if (unlink(conf) == -1) {
		if (errno == ENOENT)
			return 0;
		return snprintf(err, PROXY_ERRLEN, "cannot remove %s: %s",
		    conf, strerror(errno)), -1;
	}
	*done = 1;
	return 0;
}

static int
trf_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
trf_add_name(char ***names, size_t *n, size_t *alloc, const char *s)
{
	size_t	i;

	for (i = 0; i < *n; i++)
		if (strcmp((*names)[i], s) == 0)
			return;
	if (*n == *alloc) {
		*alloc = *alloc ? *alloc * 2 : 8;
		*names = xrealloc(*names, *alloc * sizeof **names);
	}
	(*names)[(*n)++] = xstrdup(s);
}

/* provider docker: this controller's containers that Traefik may route. */
static int
trf_docker_sites(char ***names, size_t *n, size_t *alloc)
{
	struct dcall	 c;
	json_t		*arr, *it;
	char		 filt[160], *fe;
	const char	*s;
	size_t		 i;

	snprintf(filt, sizeof filt, "{\"label\":[\"tug.controller=%s\","
	    "\"traefik.enable=true\"]}", agent.controller);
	if ((fe = docker_escape(filt)) == NULL)
		return -1;
	dcall_init(&c, "GET", "/containers/json?all=1&filters=%s", fe);
	free(fe);
	arr = docker_json(&c);
	dcall_release(&c);
	if (!json_is_array(arr)) {
		json_decref(arr);
		return -1;
	}
	json_array_foreach(arr, i, it)
		if ((s = json_string_value(json_object_get(json_object_get(it,
		    "Labels"), "tug.site"))) != NULL && check_site_name(s) == NULL)
			trf_add_name(names, n, alloc, s);
	json_decref(arr);
	return 0;
}

static int
trf_sites(const struct proxy_conf *pc, char ***names, size_t *n)
{
	DIR		*d;
	struct dirent	*de;
	char		 stem[SITE_NAME_MAX + 1];
	size_t		 alloc = 0;
	int		 r = 0;

	*names = NULL;
	*n = 0;
	if (!trf_file(pc))
		r = trf_docker_sites(names, n, &alloc);
	else if ((d = opendir(pc->traefik.dir)) == NULL)
		return errno == ENOENT ? 0 : -1;
	else {
		while ((de = readdir(d)) != NULL)
			if (trf_file_site(de->d_name, stem, sizeof stem) == 0)
				trf_add_name(names, n, &alloc, stem);
		closedir(d);
	}
	if (*n > 0)
		qsort(*names, *n, sizeof **names, trf_cmp);
	return r;
}

/* Nothing to ask: the agent neither runs Traefik nor reaches its API. */
static void
trf_status(const struct proxy_conf *pc, struct proxy_state *st)
{
	memset(st, 0, sizeof *st);
	snprintf(st->version, sizeof st->version, "unknown");
	if (trf_file(pc))
		snprintf(st->prefix, sizeof st->prefix, "%s/", pc->traefik.dir);
}

/*
 * Where a traefik executable is (PATH's, /usr/local/bin, /usr/bin), else
 * /usr/local/bin/traefik: recorded in proxy.json, never run.
 */
static void
trf_find_binary(char *dst, size_t dstsz)
{
	static const char	*fixed[] = {
		"/usr/local/bin/traefik", "/usr/bin/traefik"
	};
	const char		*path = getenv("PATH"), *p, *colon;
	char			 cand[PATH_MAX_TUG + 16];
	struct stat		 st;
	size_t			 n, i;

	for (p = path; p != NULL && *p != '\0'; p = colon + 1) {
		colon = strchr(p, ':');
		n = colon != NULL ? (size_t)(colon - p) : strlen(p);
		if (n > 0 && n < PATH_MAX_TUG) {
			snprintf(cand, sizeof cand, "%.*s/traefik", (int)n, p);
			if (check_abs_path(cand) == NULL &&
			    stat(cand, &st) == 0 && S_ISREG(st.st_mode) &&
			    access(cand, X_OK) == 0) {
				snprintf(dst, dstsz, "%s", cand);
				return;
			}
		}
		if (colon == NULL)
			break;
	}
	for (i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
		if (access(fixed[i], X_OK) == 0)
			break;
	snprintf(dst, dstsz, "%s", fixed[i < sizeof fixed / sizeof fixed[0] ?
	    i : 0]);
}

/*
 * proxy.setup: check the watched directory again (the args were checked
 * on the reader thread) and make <state>/traefik for the .prev files.
 * Nothing is started, reloaded or asked, and no site file is rewritten:
 * entrypoints and cert_resolver reach a site at its next switch.
 */
static int
trf_setup(struct proxy_conf *pc, struct proxy_state *st, char *err)
{
	char		 path[TRF_PATH];
	const char	*why;

	memset(st, 0, sizeof *st);
	trf_find_binary(pc->binary, sizeof pc->binary);
	if (trf_file(pc) && (why = trf_check_dir(pc->traefik.dir)) != NULL)
		return snprintf(err, PROXY_ERRLEN, "invalid traefik_dir '%s': "
		    "%s", pc->traefik.dir, why), -1;
	snprintf(path, sizeof path, "%s/traefik", agent.state_dir);
	if (fs_mkdirs(path, 0700) == -1)
		return snprintf(err, PROXY_ERRLEN, "cannot create %s: %s", path,
		    strerror(errno)), -1;
	trf_status(pc, st);
	return 0;
}

const struct proxy_backend proxy_traefik = {
	"traefik",
	trf_setup,
	trf_status,
	trf_sites,
	trf_site_switch,
	trf_site_remove,
	trf_site_restore,
	trf_args,
	trf_load,
	trf_save,
	trf_refuse,
};
