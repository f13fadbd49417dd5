/*
 * agent-proxy.c: the ops proxy.setup and proxy.status, the record of this
 * host's proxy (<state>/proxy.json), the lock every proxy change takes, and
 * the checks of site.apply's "proxy" args. The work itself is done by the
 * backend of the proxy's kind (proxy-nginx.c, proxy-caddy.c,
 * proxy-traefik.c); what they
 * share is here too: asking the proxy until a switch shows (proxy_confirm).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "agent/agent.h"
#include "common/clock.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/xmalloc.h"

#define PROXY_MAX_BODY_MAX	(1ULL << 40)	/* 1 TiB */

static const struct proxy_backend *backends[] = {
	&proxy_nginx,
	&proxy_caddy,
	&proxy_traefik,
};

const struct proxy_backend *
proxy_backend(const char *kind)
{
	size_t	i;

	for (i = 0; i < sizeof backends / sizeof backends[0]; i++)
		if (strcmp(backends[i]->kind, kind) == 0)
			return backends[i];
	return NULL;
}

int
proxy_switch(struct job *j, const struct proxy_conf *pc,
    const struct proxy_site *ps, uint64_t release, struct proxy_timing *tm,
    char *why, size_t whysz)
{
	char	err[PROXY_ERRLEN];
	int	lock, r;

	if ((lock = proxy_lock(&j->cancelled)) == -1)
		return snprintf(why, whysz, "cannot lock the proxy: %s",
		    strerror(errno)), -1;
	r = proxy_backend(pc->kind)->site_switch(pc, ps, tm, err);
	proxy_unlock(lock);
	if (r == -1)
		return snprintf(why, whysz, "%s", err), -1;
	if (tm->unconfirmed)
		job_progress(j, "proxy", "%s config for %s (release %llu%s) "
		    "%s; not confirmed: the agent cannot ask %s", pc->kind,
		    ps->domains[0], (unsigned long long)release, ps->stopped ?
		    ", stopped" : "", tm->changed ? "written" :
		    "already in place", pc->kind);
	else if (ps->stopped)
		job_progress(j, "proxy", "%s %s 503 for %s itself: release "
		    "%llu is stopped", pc->kind, tm->changed ? "answers" :
		    "already answers", ps->domains[0],
		    (unsigned long long)release);
	else if (tm->changed)
		job_progress(j, "proxy", "%s answers for %s from release %llu: "
		    "test %llu ms, reload %llu ms, confirmed after %llu ms",
		    pc->kind, ps->domains[0], (unsigned long long)release,
		    (unsigned long long)tm->test_ms,
		    (unsigned long long)tm->reload_ms,
		    (unsigned long long)tm->confirm_ms);
	else
		job_progress(j, "proxy", "%s already answers for %s from "
		    "release %llu", pc->kind, ps->domains[0],
		    (unsigned long long)release);
	return 0;
}

static void
proxy_json_path(char *dst, size_t dstsz)
{
	snprintf(dst, dstsz, "%s/proxy.json", agent.state_dir);
}

/* An IPv4 address in its canonical form, or -1. */
static int
canon_ipv4(const char *s, char *dst, size_t dstsz)
{
	struct in_addr	in;

	if (inet_pton(AF_INET, s, &in) != 1 ||
	    inet_ntop(AF_INET, &in, dst, (socklen_t)dstsz) == NULL)
		return -1;
	return 0;
}

static int
port_ok(uint64_t p)
{
	return p >= 1024 && p <= 65535;
}

/* The host's own proxy may have any port; the agent's own only high ones. */
static int
mode_port_ok(const char *mode, uint64_t p)
{
	return strcmp(mode, "system") == 0 ? p >= 1 && p <= 65535 : port_ok(p);
}

/*
 * The system-mode fields of proxy.json or of proxy.setup's args, checked:
 * every path is clean and absolute, and the include dir is a directory of
 * the agent's own user (it writes there; the host's nginx reads it as
 * root). NULL, or why not.
 */
static const char *
proxy_system_check(const struct proxy_conf *pc)
{
	struct stat	st;

	if (check_abs_path(pc->binary) != NULL ||
	    check_abs_path(pc->config) != NULL ||
	    check_abs_path(pc->dir) != NULL ||
	    check_abs_path(pc->pid_file) != NULL)
		return "binary, config, dir and pid_file must be clean "
		    "absolute paths";
	if (lstat(pc->dir, &st) == -1 || !S_ISDIR(st.st_mode))
		return "the include dir is not a directory (run tug host "
		    "bootstrap --proxy-mode system)";
	if (st.st_uid != geteuid())
		return "the include dir is not the agent user's own";
	return NULL;
}

int
proxy_load(struct proxy_conf *pc, char *err)
{
	char		 path[PATH_MAX_TUG + 32];
	struct buf	 b = BUF_INIT;
	json_t		*j;
	const char	*kind, *addr, *bin, *pool = NULL, *why = NULL;
	const char	*mode = "agent", *config = "", *dir = "", *pidf = "";
	json_int_t	 listen, tls = 0;

	memset(pc, 0, sizeof *pc);
	proxy_json_path(path, sizeof path);
	if (fs_read_file(path, &b, 65536) == -1) {
		buf_release(&b);
		if (errno == ENOENT)
			return 0;
		return snprintf(err, PROXY_ERRLEN, "cannot read %s: %s", path,
		    strerror(errno)), -1;
	}
	j = json_loadb(b.ptr, b.len, 0, NULL);
	buf_release(&b);
	/* Written by proxy.setup, but read as any input: check it all. */
	if (j == NULL || json_unpack(j, "{s:s, s:I, s:s, s:s, s?:I, s?:s}",
	    "kind", &kind, "listen", &listen, "address", &addr, "binary", &bin,
	    "tls_listen", &tls, "subnet_pool", &pool) == -1 ||
	    proxy_backend(kind) == NULL ||
	    json_unpack(j, "{s?:s, s?:s, s?:s, s?:s, s?:b}", "mode", &mode,
	    "config", &config, "dir", &dir, "pid_file", &pidf,
	    "ipv6", &pc->ipv6) == -1 ||
	    (strcmp(mode, "agent") != 0 && strcmp(mode, "system") != 0) ||
	    !mode_port_ok(mode, (uint64_t)listen) || (tls != 0 &&
	    !mode_port_ok(mode, (uint64_t)tls)) || canon_ipv4(addr, pc->address,
	    sizeof pc->address) == -1 || check_abs_path(bin) != NULL ||
	    (pool != NULL && net_pool_check(pool, pc->subnet_pool,
	    sizeof pc->subnet_pool) != NULL)) {
		json_decref(j);
		return snprintf(err, PROXY_ERRLEN, "%s is damaged: run "
		    "proxy.setup again", path), -1;
	}
	snprintf(pc->kind, sizeof pc->kind, "%s", kind);
	snprintf(pc->binary, sizeof pc->binary, "%s", bin);
	snprintf(pc->mode, sizeof pc->mode, "%s", mode);
	snprintf(pc->config, sizeof pc->config, "%s", config);
	snprintf(pc->dir, sizeof pc->dir, "%s", dir);
	snprintf(pc->pid_file, sizeof pc->pid_file, "%s", pidf);
	pc->listen = (uint64_t)listen;
	pc->tls_listen = (uint64_t)tls;
	if (proxy_backend(kind)->load != NULL &&
	    proxy_backend(kind)->load(j, pc) == -1) {
		json_decref(j);
		return snprintf(err, PROXY_ERRLEN, "%s is damaged: run "
		    "proxy.setup again", path), -1;
	}
	json_decref(j);
	if (PROXY_SYSTEM(pc) && ((strcmp(pc->kind, "nginx") != 0 &&
	    strcmp(pc->kind, "caddy") != 0) ||
	    (why = proxy_system_check(pc)) != NULL))
		return snprintf(err, PROXY_ERRLEN, "%s: system mode: %s", path,
		    why != NULL ? why : "only for nginx and caddy"), -1;
	return 1;
}

static int
proxy_save(const struct proxy_conf *pc, char *err)
{
	char	 path[PATH_MAX_TUG + 32], *text;
	json_t	*j;
	int	 r;

	proxy_json_path(path, sizeof path);
	j = json_pack("{s:s, s:I, s:I, s:s, s:s}", "kind", pc->kind,
	    "listen", (json_int_t)pc->listen, "tls_listen",
	    (json_int_t)pc->tls_listen, "address", pc->address, "binary",
	    pc->binary);
	if (j != NULL && pc->subnet_pool[0] != '\0')
		json_object_set_new(j, "subnet_pool",
		    json_string(pc->subnet_pool));
	if (j != NULL && PROXY_SYSTEM(pc)) {
		json_object_set_new(j, "mode", json_string(pc->mode));
		json_object_set_new(j, "config", json_string(pc->config));
		json_object_set_new(j, "dir", json_string(pc->dir));
		json_object_set_new(j, "pid_file", json_string(pc->pid_file));
		json_object_set_new(j, "ipv6", json_boolean(pc->ipv6));
	}
	if (j != NULL && proxy_backend(pc->kind)->save != NULL)
		proxy_backend(pc->kind)->save(pc, j);
	if (j == NULL || (text = json_dumps(j, JSON_COMPACT)) == NULL) {
		json_decref(j);
		return snprintf(err, PROXY_ERRLEN, "out of memory"), -1;
	}
	json_decref(j);
	r = fs_write_atomic(path, text, strlen(text), 0600);
	free(text);
	if (r == -1)
		snprintf(err, PROXY_ERRLEN, "cannot write %s: %s", path,
		    strerror(errno));
	return r;
}

/* One proxy change at a time, across jobs and across agents. */
int
proxy_lock(volatile int *cancel)
{
	char	path[PATH_MAX_TUG + 32];

	snprintf(path, sizeof path, "%s/proxy.lock", agent.state_dir);
	return fs_lock_wait(path, cancel, 20);
}

void
proxy_unlock(int fd)
{
	if (fd != -1)
		close(fd);
}

int
proxy_site_check(struct job *j, struct proxy_site *ps)
{
	struct mv	 p;
	size_t		 i, k;
	const char	*why;
	char		 e[128], tls[8] = "off";
	int		 r;

	memset(ps, 0, sizeof *ps);
	ps->max_body = PROXY_MAX_BODY_DEFAULT;
	if ((r = mv_map(&j->args, "proxy", &p, 0)) != 1)
		return r;
	if (mv_arr(&p, "domains", &ps->ndomains, PROXY_DOMAINS_MAX,
	    MV_REQ) == -1 ||
	    mv_str(&p, "tls_cert", ps->tls_cert, sizeof ps->tls_cert,
	    0) == -1 ||
	    mv_str(&p, "tls_key", ps->tls_key, sizeof ps->tls_key, 0) == -1 ||
	    mv_u64(&p, "max_body", &ps->max_body, 0) == -1)
		return -1;
	if (ps->ndomains == 0)
		return job_bad(j, "proxy.domains: at least one domain");
	for (i = 0; i < ps->ndomains; i++) {
		if (mv_arr_str(&p, "domains", i, ps->domains[i],
		    sizeof ps->domains[i]) == -1)
			return -1;
		if ((why = check_domain(ps->domains[i])) != NULL)
			return job_bad(j, "invalid domain '%s': %s",
			    log_escape(e, sizeof e, ps->domains[i],
			    strlen(ps->domains[i])), why);
		for (k = 0; k < i; k++)
			if (strcmp(ps->domains[k], ps->domains[i]) == 0)
				return job_bad(j, "domain '%s' listed twice",
				    ps->domains[i]);
	}
	if ((ps->tls_cert[0] == '\0') != (ps->tls_key[0] == '\0'))
		return job_bad(j, "proxy.tls_cert and proxy.tls_key go together");
	if (ps->tls_cert[0] != '\0' &&
	    (why = check_abs_path(ps->tls_cert)) != NULL)
		return job_bad(j, "invalid proxy.tls_cert '%s': %s",
		    log_escape(e, sizeof e, ps->tls_cert,
		    strlen(ps->tls_cert)), why);
	if (ps->tls_key[0] != '\0' &&
	    (why = check_abs_path(ps->tls_key)) != NULL)
		return job_bad(j, "invalid proxy.tls_key '%s': %s",
		    log_escape(e, sizeof e, ps->tls_key,
		    strlen(ps->tls_key)), why);
	if (ps->max_body > PROXY_MAX_BODY_MAX)
		return job_bad(j, "proxy.max_body over 1 TiB");
	if (mv_str(&p, "tls", tls, sizeof tls, 0) == -1 ||
	    mv_bool(&p, "hsts", &ps->hsts, 0) == -1)
		return -1;
	if (strcmp(tls, "auto") != 0 && strcmp(tls, "off") != 0)
		return job_bad(j, "proxy.tls: auto or off");
	ps->tls_auto = strcmp(tls, "auto") == 0;
	if (ps->tls_auto && ps->tls_cert[0] != '\0')
		return job_bad(j, "proxy.tls auto and certificate files "
		    "exclude each other");
	if (acme_check(j, &p, ps) == -1)
		return -1;
	return 1;
}

/*
 * The proxy must be there before anything is written for it: 1 and pc, or
 * -1 when the job was answered (proxy.json damaged, no proxy, TLS asked of
 * a proxy without a TLS port).
 */
int
proxy_require(struct job *j, const struct proxy_site *ps,
    struct proxy_conf *pc)
{
	char		 err[PROXY_ERRLEN];
	const char	*why;
	int		 r;

	if ((r = proxy_load(pc, err)) == -1)
		return job_failed(j, E_PROXY, "%s", err);
	if (r == 0)
		return job_failed(j, E_PROXY, "no proxy on this host: set one "
		    "up with proxy.setup (tug host bootstrap --proxy nginx)");
	if (proxy_backend(pc->kind)->refuse != NULL &&
	    (why = proxy_backend(pc->kind)->refuse(pc, ps)) != NULL)
		return job_failed(j, E_PROXY, "%s", why);
	if (ps->tls_cert[0] != '\0' && pc->tls_listen == 0)
		return job_failed(j, E_PROXY, "the proxy on this host has no "
		    "TLS port: run proxy.setup with tls_listen");
	if (ps->tls_cert[0] != '\0' && strcmp(pc->kind, "caddy") == 0)
		return job_failed(j, E_PROXY, "the caddy backend serves no TLS "
		    "sites yet: use nginx for this host's proxy");
	return 1;
}

int
proxy_check_path(const char *p)
{
	size_t	i;

	if (p[0] != '/')
		return -1;
	for (i = 0; p[i] != '\0'; i++) {
		unsigned char c = (unsigned char)p[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr("/._~-?=&%+", c)))
			return -1;
	}
	return 0;
}

json_t *
proxy_site_json(const struct proxy_site *ps)
{
	json_t	*j, *d;
	size_t	 i;

	d = json_array();
	for (i = 0; i < ps->ndomains; i++)
		json_array_append_new(d, json_string(ps->domains[i]));
	j = json_pack("{s:o, s:I, s:I, s:I, s:s}", "domains", d, "release",
	    (json_int_t)ps->release, "port", (json_int_t)ps->port,
	    "max_body", (json_int_t)ps->max_body, "path", ps->path);
	if (j != NULL && ps->tls_cert[0] != '\0' && !ps->tls_auto) {
		json_object_set_new(j, "tls_cert", json_string(ps->tls_cert));
		json_object_set_new(j, "tls_key", json_string(ps->tls_key));
	}
	if (j != NULL && ps->tls_auto) {
		json_object_set_new(j, "tls", json_string("auto"));
		json_object_set_new(j, "hsts", json_boolean(ps->hsts));
		json_object_set_new(j, "acme_ca", json_string(ps->acme_ca));
		json_object_set_new(j, "acme_email",
		    json_string(ps->acme_email));
		json_object_set_new(j, "acme_root", json_string(ps->acme_root));
	}
	return j;
}

int
proxy_site_unjson(json_t *j, const char *site, struct proxy_site *ps)
{
	json_t		*d, *it;
	json_int_t	 rel = 0, port = 0, maxb = 0;
	const char	*path = "/", *cert = NULL, *key = NULL, *s;
	const char	*tls = "off", *ca = "", *email = "", *root = "";
	size_t		 i;

	memset(ps, 0, sizeof *ps);
	if (json_unpack(j, "{s:o, s?:I, s?:I, s?:I, s?:s, s?:s, s?:s}",
	    "domains", &d, "release", &rel, "port", &port, "max_body", &maxb,
	    "path", &path, "tls_cert", &cert, "tls_key", &key) == -1 ||
	    !json_is_array(d) || json_array_size(d) == 0 ||
	    json_array_size(d) > PROXY_DOMAINS_MAX || rel < 0 || port < 0 ||
	    port > 65535 || maxb < 0 || (uint64_t)maxb > PROXY_MAX_BODY_MAX ||
	    proxy_check_path(path) == -1 || strlen(path) >= sizeof ps->path ||
	    (cert == NULL) != (key == NULL) || (cert != NULL &&
	    (check_abs_path(cert) != NULL || check_abs_path(key) != NULL)))
		return -1;
	json_array_foreach(d, i, it) {
		if ((s = json_string_value(it)) == NULL ||
		    check_domain(s) != NULL)
			return -1;
		snprintf(ps->domains[ps->ndomains++], sizeof ps->domains[0],
		    "%s", s);
	}
	if (json_unpack(j, "{s?:s, s?:b, s?:s, s?:s, s?:s}", "tls", &tls,
	    "hsts", &ps->hsts, "acme_ca", &ca, "acme_email", &email,
	    "acme_root", &root) == -1 || strlen(ca) >= sizeof ps->acme_ca ||
	    strlen(email) >= sizeof ps->acme_email || (root[0] != '\0' &&
	    check_abs_path(root) != NULL))
		return -1;
	ps->tls_auto = strcmp(tls, "auto") == 0;
	snprintf(ps->acme_ca, sizeof ps->acme_ca, "%s", ca);
	snprintf(ps->acme_email, sizeof ps->acme_email, "%s", email);
	snprintf(ps->acme_root, sizeof ps->acme_root, "%s", root);
	snprintf(ps->site, sizeof ps->site, "%s", site);
	ps->release = (uint64_t)rel;
	ps->port = (uint64_t)port;
	ps->max_body = (uint64_t)maxb;
	snprintf(ps->path, sizeof ps->path, "%s", path);
	if (cert != NULL) {
		snprintf(ps->tls_cert, sizeof ps->tls_cert, "%s", cert);
		snprintf(ps->tls_key, sizeof ps->tls_key, "%s", key);
	}
	return 0;
}

/* Killed inside a switch (the journal stopped at "proxy"): put it back. */
void
proxy_site_recover(struct job *j, const struct proxy_conf *pc,
    const struct journal *jr)
{
	char	err[PROXY_ERRLEN];
	int	done = 0, lock;

	if (strcmp(jr->step, "proxy") != 0)
		return;
	if ((lock = proxy_lock(&j->cancelled)) == -1)
		return;
	if (proxy_backend(pc->kind)->site_restore(pc, jr->site, &done,
	    err) == -1)
		log_warnx("%s", err);
	proxy_unlock(lock);
	if (done)
		job_progress(j, "recover", "restored the %s config that "
		    "served before the interrupted switch", pc->kind);
}

void
proxy_encode(struct enc *e, const struct proxy_conf *pc,
    const struct proxy_site *ps, const struct proxy_timing *tm)
{
	size_t	i;

	enc_kmap(e, "proxy");
	enc_kstr(e, "kind", pc->kind);
	enc_karr(e, "domains");
	for (i = 0; i < ps->ndomains; i++)
		enc_str(e, ps->domains[i]);
	enc_close(e);
	enc_kbool(e, "changed", tm->changed);
	enc_ku64(e, "test_ms", tm->test_ms);
	enc_ku64(e, "reload_ms", tm->reload_ms);
	enc_ku64(e, "confirm_ms", tm->confirm_ms);
	enc_close(e);
}

/* proxy.setup */

static int
proxy_setup_check(struct job *j)
{
	struct proxy_conf	*pc = xcalloc(1, sizeof *pc);
	char			 addr[64], e[128], pool[64] = "";
	const char		*why;

	j->priv = pc;
	snprintf(pc->kind, sizeof pc->kind, "nginx");
	snprintf(pc->mode, sizeof pc->mode, "agent");
	snprintf(addr, sizeof addr, "0.0.0.0");
	if (mv_str(&j->args, "kind", pc->kind, sizeof pc->kind, 0) == -1 ||
	    mv_u64(&j->args, "listen", &pc->listen, MV_REQ) == -1 ||
	    mv_u64(&j->args, "tls_listen", &pc->tls_listen, 0) == -1 ||
	    mv_str(&j->args, "address", addr, sizeof addr, 0) == -1 ||
	    mv_str(&j->args, "subnet_pool", pool, sizeof pool, 0) == -1 ||
	    mv_str(&j->args, "mode", pc->mode, sizeof pc->mode, 0) == -1)
		return -1;
	if (strcmp(pc->mode, "agent") != 0 && strcmp(pc->mode, "system") != 0)
		return job_bad(j, "unknown proxy mode '%s': agent or system",
		    log_escape(e, sizeof e, pc->mode, strlen(pc->mode)));
	if (PROXY_SYSTEM(pc)) {
		if (strcmp(pc->kind, "nginx") != 0 &&
		    strcmp(pc->kind, "caddy") != 0)
			return job_bad(j, "system mode is for nginx and caddy "
			    "only");
		if (mv_str(&j->args, "binary", pc->binary, sizeof pc->binary,
		    MV_REQ) == -1 ||
		    mv_str(&j->args, "config", pc->config, sizeof pc->config,
		    MV_REQ) == -1 ||
		    mv_str(&j->args, "dir", pc->dir, sizeof pc->dir,
		    MV_REQ) == -1 ||
		    mv_str(&j->args, "pid_file", pc->pid_file,
		    sizeof pc->pid_file, MV_REQ) == -1 ||
		    mv_bool(&j->args, "ipv6", &pc->ipv6, 0) == -1)
			return -1;
		if ((why = proxy_system_check(pc)) != NULL)
			return job_bad(j, "system mode: %s", why);
		if (pc->listen == 0 || pc->listen > 65535 ||
		    pc->tls_listen > 65535 || pc->tls_listen == pc->listen)
			return job_bad(j, "listen and tls_listen must be "
			    "distinct ports 1-65535");
	}
	if (mv_present(&j->args, "subnet_pool") && (why = net_pool_check(pool,
	    pc->subnet_pool, sizeof pc->subnet_pool)) != NULL)
		return job_bad(j, "invalid subnet_pool '%s': %s",
		    log_escape(e, sizeof e, pool, strlen(pool)), why);
	if (proxy_backend(pc->kind) == NULL)
		return job_bad(j, "unsupported proxy kind '%s': nginx, caddy "
		    "or traefik", log_escape(e, sizeof e, pc->kind,
		    strlen(pc->kind)));
	if (proxy_backend(pc->kind)->args != NULL &&
	    proxy_backend(pc->kind)->args(j, pc) == -1)
		return -1;
	if (!mode_port_ok(pc->mode, pc->listen))
		return job_bad(j, "listen port %llu out of range 1024-65535",
		    (unsigned long long)pc->listen);
	if (pc->tls_listen != 0 && (!mode_port_ok(pc->mode, pc->tls_listen) ||
	    pc->tls_listen == pc->listen))
		return job_bad(j, "tls_listen port %llu out of range 1024-65535 or "
		    "equal to listen", (unsigned long long)pc->tls_listen);
	if (canon_ipv4(addr, pc->address, sizeof pc->address) == -1)
		return job_bad(j, "invalid address '%s': expected an IPv4 address "
		    "such as 0.0.0.0 or 127.0.0.1",
		    log_escape(e, sizeof e, addr, strlen(addr)));
	return 0;
}

/* The mode, and in system mode the host's paths, for a result. */
static void
proxy_encode_mode(struct enc *e, const struct proxy_conf *pc)
{
	enc_kstr(e, "mode", PROXY_SYSTEM(pc) ? "system" : "agent");
	if (!PROXY_SYSTEM(pc))
		return;
	enc_kstr(e, "binary", pc->binary);
	enc_kstr(e, "config", pc->config);
	enc_kstr(e, "dir", pc->dir);
	enc_kstr(e, "pid_file", pc->pid_file);
}

static void
proxy_priv_free(struct job *j)
{
	free(j->priv);
	j->priv = NULL;
}

/*
 * A host moving to another proxy (agent mode to system mode, or another
 * kind) while it serves: every site the old proxy serves is switched into
 * the new one, each confirmed through it, from what its journal says it
 * serves. The old proxy is left serving as it was. On a failure the sites
 * already moved are taken out of the new proxy again.
 */
static int
proxy_move_sites(struct job *j, const struct proxy_conf *old,
    const struct proxy_conf *pc, size_t *moved, char *err)
{
	const struct proxy_backend	*from = proxy_backend(old->kind);
	const struct proxy_backend	*to = proxy_backend(pc->kind);
	struct proxy_timing		 tm;
	struct journal			 jr;
	char				**names = NULL, why[PROXY_ERRLEN];
	size_t				 n = 0, i, k;
	int				 r = 0, done;

	*moved = 0;
	if (from->sites(old, &names, &n) == -1)
		return snprintf(err, PROXY_ERRLEN, "cannot list the sites of "
		    "the %s proxy: %s", old->kind, strerror(errno)), -1;
	for (i = 0; i < n && r == 0; i++) {
		if (journal_read(names[i], &jr) != 1 ||
		    jr.proxy.ndomains == 0) {
			snprintf(err, PROXY_ERRLEN, "site %s: no record of "
			    "what it serves (a static site?): cannot move it "
			    "to the %s%s proxy", names[i], PROXY_SYSTEM(pc) ?
			    "host's " : "", pc->kind);
			r = -1;
			break;
		}
		snprintf(jr.proxy.site, sizeof jr.proxy.site, "%s", names[i]);
		jr.proxy.stopped = jr.stopped;
		if (to->site_switch(pc, &jr.proxy, &tm, why) == -1) {
			snprintf(err, PROXY_ERRLEN, "moving site %s: %s",
			    names[i], why);
			r = -1;
			break;
		}
		job_progress(j, "proxy", "site %s moved: the %s%s proxy "
		    "answers for %s from release %llu", names[i],
		    PROXY_SYSTEM(pc) ? "host's " : "", pc->kind,
		    jr.proxy.domains[0], (unsigned long long)jr.proxy.release);
		(*moved)++;
	}
	if (r == -1)
		for (k = 0; k < i; k++)
			if (to->site_remove(pc, names[k], &done, why) == -1)
				log_warnx("%s", why);
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return r;
}

static int
proxy_moving(const struct proxy_conf *old, const struct proxy_conf *pc)
{
	return strcmp(old->kind, pc->kind) != 0 ||
	    strcmp(old->mode, pc->mode) != 0 ||
	    strcmp(old->dir, pc->dir) != 0;
}

static void
proxy_setup_run(struct job *j)
{
	struct proxy_conf		*pc = j->priv;
	const struct proxy_backend	*be = proxy_backend(pc->kind);
	struct proxy_state		 st;
	struct proxy_conf		 old;
	struct enc			 e;
	char				 err[PROXY_ERRLEN];
	int				 lock, had;
	size_t				 moved = 0;
	uint64_t			 t0 = clock_ms();

	if ((lock = proxy_lock(&j->cancelled)) == -1) {
		job_fail(j, E_IO, "cannot lock the proxy: %s", strerror(errno));
		return;
	}
	had = proxy_load(&old, err) == 1;
	/* Without subnet_pool, the pool recorded before stays. */
	if (pc->subnet_pool[0] == '\0' && had)
		snprintf(pc->subnet_pool, sizeof pc->subnet_pool, "%s",
		    old.subnet_pool);
	job_progress(j, "proxy", "setting up %s on %s:%llu", pc->kind,
	    pc->address, (unsigned long long)pc->listen);
	if (be->setup(pc, &st, err) == -1 || (had && proxy_moving(&old, pc) &&
	    proxy_move_sites(j, &old, pc, &moved, err) == -1) ||
	    proxy_save(pc, err) == -1) {
		job_fail(j, E_PROXY, "%s", err);
		goto out;
	}
	/*
	 * Bootstrap in system mode a second time: the agent's own nginx that
	 * served before the move is retired, gracefully.
	 */
	if (had && !proxy_moving(&old, pc) && PROXY_SYSTEM(pc) &&
	    strcmp(pc->kind, "nginx") == 0 && nginx_retire_agent(err) == 1)
		job_progress(j, "proxy", "%s", err);
	job_result_begin(j, &e);
	enc_kstr(&e, "kind", pc->kind);
	enc_ku64(&e, "listen", pc->listen);
	if (pc->tls_listen != 0)
		enc_ku64(&e, "tls_listen", pc->tls_listen);
	enc_kstr(&e, "address", pc->address);
	enc_ku64(&e, "pid", (uint64_t)st.pid);
	enc_kstr(&e, "version", st.version);
	enc_kstr(&e, "prefix", st.prefix);
	if (!PROXY_SYSTEM(pc))
		enc_kstr(&e, "binary", pc->binary);
	enc_kbool(&e, "started", st.started);
	enc_kbool(&e, "reloaded", st.reloaded);
	enc_kstr(&e, "subnet_pool", pc->subnet_pool[0] != '\0' ?
	    pc->subnet_pool : NET_POOL_DEFAULT);
	proxy_encode_mode(&e, pc);
	enc_ku64(&e, "moved", moved);
	enc_ku64(&e, "elapsed_ms", clock_ms() - t0);
	job_ok(j, &e);
out:
	proxy_unlock(lock);
}

/* proxy.status */

static void
proxy_status_run(struct job *j)
{
	const struct proxy_backend	*be;
	struct proxy_conf		 pc;
	struct proxy_state		 st;
	struct enc			 e;
	char				 err[PROXY_ERRLEN], **names = NULL;
	size_t				 n = 0, i;
	int				 r;

	if ((r = proxy_load(&pc, err)) == -1) {
		job_fail(j, E_PROXY, "%s", err);
		return;
	}
	job_result_begin(j, &e);
	enc_kbool(&e, "configured", r == 1);
	if (r == 0) {
		enc_kbool(&e, "running", 0);
		enc_karr(&e, "sites");
		enc_close(&e);
		job_ok(j, &e);
		return;
	}
	be = proxy_backend(pc.kind);
	be->status(&pc, &st);
	if (be->sites(&pc, &names, &n) == -1)
		log_warn("cannot list the proxy's sites");
	enc_kstr(&e, "kind", pc.kind);
	enc_kbool(&e, "running", st.running);
	enc_ku64(&e, "pid", (uint64_t)st.pid);
	enc_ku64(&e, "listen", pc.listen);
	if (pc.tls_listen != 0)
		enc_ku64(&e, "tls_listen", pc.tls_listen);
	enc_kstr(&e, "address", pc.address);
	enc_kstr(&e, "version", st.version);
	enc_kstr(&e, "prefix", st.prefix);
	enc_kstr(&e, "subnet_pool", pc.subnet_pool[0] != '\0' ?
	    pc.subnet_pool : NET_POOL_DEFAULT);
	proxy_encode_mode(&e, &pc);
	enc_karr(&e, "sites");
	for (i = 0; i < n; i++)
		enc_str(&e, names[i]);
	enc_close(&e);
	/* The certificates tug got for them (tls auto). */
	enc_karr(&e, "certs");
	for (i = 0; i < n; i++) {
		struct proxy_site	ps;
		struct cert_info	ci;

		memset(&ps, 0, sizeof ps);
		snprintf(ps.site, sizeof ps.site, "%s", names[i]);
		acme_paths(&ps);
		if (acme_cert_info(ps.tls_cert, &ci) == 0)
			cert_encode(&e, names[i], &ci);
		free(names[i]);
	}
	enc_close(&e);
	free(names);
	job_ok(j, &e);
}

void
cert_encode(struct enc *e, const char *site, const struct cert_info *ci)
{
	size_t	i;

	enc_map_open(e);
	enc_kstr(e, "site", site);
	enc_kstr(e, "issuer", ci->issuer);
	enc_kstr(e, "serial", ci->serial);
	enc_ku64(e, "not_before", (uint64_t)ci->not_before);
	enc_ku64(e, "not_after", (uint64_t)ci->not_after);
	enc_karr(e, "names");
	for (i = 0; i < ci->nnames; i++)
		enc_str(e, ci->names[i]);
	enc_close(e);
	enc_close(e);
}

/*
 * cert.renew {site, days}: a new certificate for a tls-auto site from the
 * ACME CA, when the one it has ends within days (0: now), then a reload;
 * the serving certificate stays until the new one is in place.
 */
static int
cert_renew_check(struct job *j)
{
	struct cert_renew	*cr = xcalloc(1, sizeof *cr);
	const char		*why;

	j->priv = cr;
	if (mv_str(&j->args, "site", cr->site, sizeof cr->site, MV_REQ) ==
	    -1 || mv_u64(&j->args, "days", &cr->days, 0) == -1)
		return -1;
	if ((why = check_site_name(cr->site)) != NULL)
		return job_bad(j, "invalid site: %s", why);
	if (cr->days > 3650)
		return job_bad(j, "days over 3650");
	if (acme_check(j, &j->args, &cr->acme) == -1)
		return -1;
	cr->has_acme = cr->acme.acme_email[0] != '\0';
	return 0;
}

static void
cert_renew_run(struct job *j)
{
	struct cert_renew		*cr = j->priv;
	const struct proxy_backend	*be;
	struct proxy_conf		 pc;
	struct journal			 jr;
	struct cert_info		 before, after;
	struct enc			 e;
	char				 err[PROXY_ERRLEN];
	int				 lock, r, renewed = 0;

	if ((r = proxy_load(&pc, err)) != 1) {
		job_fail(j, E_PROXY, "%s", r == 0 ? "no proxy on this host" :
		    err);
		return;
	}
	be = proxy_backend(pc.kind);
	if ((r = journal_read(cr->site, &jr)) != 1 || jr.proxy.ndomains == 0) {
		if (cr->days > 0)
			goto skip;
		job_fail(j, E_NOT_FOUND, "site %s serves nothing here",
		    cr->site);
		return;
	}
	snprintf(jr.proxy.site, sizeof jr.proxy.site, "%s", cr->site);
	/* The controller's ACME settings of now, over those of the deploy. */
	if (cr->has_acme) {
		snprintf(jr.proxy.acme_ca, sizeof jr.proxy.acme_ca, "%s",
		    cr->acme.acme_ca);
		snprintf(jr.proxy.acme_email, sizeof jr.proxy.acme_email, "%s",
		    cr->acme.acme_email);
		snprintf(jr.proxy.acme_root, sizeof jr.proxy.acme_root, "%s",
		    cr->acme.acme_root);
	}
	if (!jr.proxy.tls_auto || be->site_cert == NULL || !PROXY_SYSTEM(&pc) ||
	    pc.tls_listen == 0 || (cr->days > 0 && be->renews_itself)) {
		if (cr->days > 0)
			goto skip;
		job_fail(j, E_PROXY, "site %s has no automatic certificate "
		    "here (tls auto on a %s proxy with TLS in system mode)",
		    cr->site, pc.kind);
		return;
	}
	if ((lock = proxy_lock(&j->cancelled)) == -1) {
		job_fail(j, E_IO, "cannot lock the proxy: %s", strerror(errno));
		return;
	}
	{
		struct proxy_site p = jr.proxy;

		acme_paths(&p);
		if (acme_cert_info(p.tls_cert, &before) == -1)
			memset(&before, 0, sizeof before);
	}
	if (cr->days == 0 || !acme_usable(&jr.proxy, cr->days)) {
		job_progress(j, "cert", "asking %s for a certificate for %s",
		    jr.proxy.acme_ca, jr.proxy.domains[0]);
		if (be->site_cert(&pc, &jr.proxy, err) == -1) {
			proxy_unlock(lock);
			job_fail(j, "acme", "%s", err);
			return;
		}
		renewed = 1;
	}
	proxy_unlock(lock);
	{
		struct proxy_site p = jr.proxy;

		acme_paths(&p);
		if (acme_cert_info(p.tls_cert, &after) == -1) {
			job_fail(j, "acme", "no certificate at %s", p.tls_cert);
			return;
		}
	}
	job_result_begin(j, &e);
	enc_kbool(&e, "renewed", renewed);
	enc_kstr(&e, "old_serial", before.serial);
	enc_str(&e, "cert");
	cert_encode(&e, cr->site, &after);
	job_ok(j, &e);
	return;
skip:
	/* The scheduler asks every host of a site: nothing to renew here. */
	job_result_begin(j, &e);
	enc_kbool(&e, "renewed", 0);
	enc_kstr(&e, "skipped", "no automatic certificate on this host");
	job_ok(j, &e);
}

static void
cert_renew_free(struct job *j)
{
	free(j->priv);
	j->priv = NULL;
}

const struct op op_cert_renew = { "cert.renew", 0, cert_renew_check,
    cert_renew_run, cert_renew_free };

const struct op op_proxy_setup = { "proxy.setup", 0, proxy_setup_check,
    proxy_setup_run, proxy_priv_free };
const struct op op_proxy_status = { "proxy.status", 0, NULL,
    proxy_status_run, NULL };

/* One answer of the proxy. */
struct proxy_answer {
	const char	*header;
	char		 value[64];
	long		 status;
};

static size_t
answer_header(char *p, size_t size, size_t n, void *arg)
{
	struct proxy_answer	*a = arg;
	size_t			 len = size * n, hl = strlen(a->header), vl;

	if (len > hl + 1 && strncasecmp(p, a->header, hl) == 0 &&
	    p[hl] == ':') {
		p += hl + 1;
		len -= hl + 1;
		while (len > 0 && (*p == ' ' || *p == '\t'))
			p++, len--;
		for (vl = 0; vl < len && p[vl] != '\r' && p[vl] != '\n'; vl++)
			;
		if (vl >= sizeof a->value)
			vl = sizeof a->value - 1;
		memcpy(a->value, p, vl);
		a->value[vl] = '\0';
	}
	return size * n;
}

static size_t
answer_discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

/*
 * Ask the proxy (GET path with Host: host, a new connection each time)
 * until its answer carries header: want, with a status that status allows
 * (PROXY_ANY, PROXY_2XX3XX, or exactly that one); for up to ms. 0, or -1 with
 * err describing the last answer.
 */
static int
confirm_at(const struct proxy_conf *pc, int tls, const char *host,
    const char *path, const char *header, const char *want, long status,
    uint64_t ms, char *err)
{
	CURL			*h;
	struct curl_slist	*hdrs = NULL, *res = NULL;
	struct proxy_answer	 a;
	char			 url[512], hh[DOMAIN_MAX + 16];
	char			 rs[DOMAIN_MAX + 64];
	const char		*addr = strcmp(pc->address, "0.0.0.0") == 0 ?
				     "127.0.0.1" : pc->address;
	uint64_t		 end = clock_ms() + ms;
	CURLcode		 rc;
	int			 r = -1;

	if ((h = curl_easy_init()) == NULL)
		return snprintf(err, PROXY_ERRLEN, "curl_easy_init failed"),
		    -1;
	if (tls) {
		/* By name, for SNI, to the proxy's own address. */
		snprintf(url, sizeof url, "https://%s:%llu%s", host,
		    (unsigned long long)pc->tls_listen, path);
		snprintf(rs, sizeof rs, "%s:%llu:%s", host,
		    (unsigned long long)pc->tls_listen, addr);
		res = curl_slist_append(NULL, rs);
		curl_easy_setopt(h, CURLOPT_RESOLVE, res);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	} else
		snprintf(url, sizeof url, "http://%s:%llu%s", addr,
		    (unsigned long long)pc->listen, path);
	snprintf(hh, sizeof hh, "Host: %s", host);
	hdrs = curl_slist_append(NULL, hh);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROXY, "");
	curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L);
	curl_easy_setopt(h, CURLOPT_FORBID_REUSE, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 1000L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, answer_discard);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, answer_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, &a);
	snprintf(err, PROXY_ERRLEN, "no answer");
	for (;;) {
		memset(&a, 0, sizeof a);
		a.header = header;
		if ((rc = curl_easy_perform(h)) != CURLE_OK)
			snprintf(err, PROXY_ERRLEN, "GET %s: %s", url,
			    curl_easy_strerror(rc));
		else {
			curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE,
			    &a.status);
			if (strcmp(a.value, want) == 0 && (status == PROXY_ANY ||
			    (status == PROXY_2XX3XX && a.status >= 200 &&
			    a.status <= 399) || a.status == status)) {
				r = 0;
				break;
			}
			snprintf(err, PROXY_ERRLEN, "last answer %ld with "
			    "%s: %s", a.status, header,
			    a.value[0] != '\0' ? a.value : "(none)");
		}
		if (clock_ms() >= end)
			break;
		sleep_ms(20);
	}
	curl_slist_free_all(hdrs);
	curl_slist_free_all(res);
	curl_easy_cleanup(h);
	return r;
}

int
proxy_confirm(const struct proxy_conf *pc, const char *host, const char *path,
    const char *header, const char *want, long status, uint64_t ms,
    char *err)
{
	return confirm_at(pc, 0, host, path, header, want, status, ms, err);
}

int
proxy_confirm_tls(const struct proxy_conf *pc, const char *host,
    const char *path, const char *header, const char *want, long status,
    uint64_t ms, char *err)
{
	return confirm_at(pc, 1, host, path, header, want, status, ms, err);
}

/* What a Host header that this site's first server name matches is. */
void
proxy_probe_host(const struct proxy_site *ps, char *dst, size_t dstsz)
{
	const char	*d = ps->domains[0];

	if (strncmp(d, "*.", 2) == 0)
		snprintf(dst, dstsz, "tug-probe.%s", d + 2);
	else
		snprintf(dst, dstsz, "%s", d);
}
