/*
 * proxy-nginx.c: the nginx backend. The agent runs its own unprivileged
 * nginx under <state>/nginx (fork+execve, never a shell), writes one file
 * per site (a proxy to a container, or a static tree served directly), and
 * switches a site by rename, `nginx -t`, reload and a request through the
 * proxy that must come back from the new release.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>

#include "agent/agent.h"
#include "common/clock.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/xmalloc.h"

#define NGX_PATH	(PATH_MAX_TUG + 128)
#define NGX_OUT_MAX	16384		/* bytes of nginx's stderr kept */
#define NGX_RUN_MS	30000		/* an nginx command may take */
#define NGX_CONFIRM_MS	3000		/* a reload has to show in */
#define NGX_RELOAD_MS	6000		/* a master may retry bind() 2.5 s */
#define NGX_PROBE_HOST	"_"		/* no site may claim it */
#define NGX_CONF_MODE	0600
#define NGX_WORKERS_MAX	256
#define NGX_SUDO	"/usr/bin/sudo"
#define NGX_ACME_RENEW_DAYS	30	/* a deploy renews what expires sooner */

static const char *ngx_temp_dirs[] = {
	"client_body", "proxy", "fastcgi", "uwsgi", "scgi"
};

/* <state>/nginx/REL; REL "" gives the prefix itself, with its slash. */
static void
ngx_path(const struct proxy_conf *pc, char *dst, size_t dstsz,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/*
 * In system mode the root is our include dir in the host's nginx config
 * (proxy.json's "dir"), which has no logs or temp dirs of its own.
 */
static void
ngx_path(const struct proxy_conf *pc, char *dst, size_t dstsz,
    const char *fmt, ...)
{
	char	rel[256];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(rel, sizeof rel, fmt, ap);
	va_end(ap);
	if (PROXY_SYSTEM(pc))
		snprintf(dst, dstsz, "%s/%s", pc->dir, rel);
	else
		snprintf(dst, dstsz, "%s/nginx/%s", agent.state_dir, rel);
}

static uint64_t
fnv64(const char *p, size_t n)
{
	uint64_t	h = 1469598103934665603ULL;
	size_t		i;

	for (i = 0; i < n; i++) {
		h ^= (unsigned char)p[i];
		h *= 1099511628211ULL;
	}
	return h;
}

/*
 * Names in the host's shared http {} must not meet another agent's or the
 * host's own: in system mode upstreams and the map variable carry a hash of
 * our include dir. In agent mode the config is ours alone and ns is "".
 */
static void
ngx_ns(const struct proxy_conf *pc, char *dst, size_t dstsz)
{
	if (PROXY_SYSTEM(pc))
		snprintf(dst, dstsz, "tug_%08llx_", (unsigned long long)
		    (fnv64(pc->dir, strlen(pc->dir)) & 0xffffffffULL));
	else
		dst[0] = '\0';
}

/* The Host the config's own probe server answers to; no domain has '_'. */
static void
ngx_probe_host(const struct proxy_conf *pc, char *dst, size_t dstsz)
{
	char	ns[32];

	ngx_ns(pc, ns, sizeof ns);
	snprintf(dst, dstsz, PROXY_SYSTEM(pc) ? "_%sprobe" : NGX_PROBE_HOST,
	    ns);
}

/*
 * Run nginx -p PREFIX -c CONF -e ERRLOG followed by extra (NULL-ended):
 * stdin and stdout on /dev/null (stdout is the controller's), stderr kept
 * in out. Returns the exit status, or -1 with err when it could not run,
 * was killed or took longer than NGX_RUN_MS. A daemonising nginx counts as
 * done when the process we started exits, whatever its child holds open.
 * Its pid goes to childp when that is not NULL.
 */
static int
ngx_run(const struct proxy_conf *pc, const char *const *extra,
    struct buf *out, long *childp, char *err)
{
	char		 prefix[NGX_PATH], conf[NGX_PATH], errlog[NGX_PATH];
	char		*argv[16];
	struct proc	 p;
	int		 n = 0;

	ngx_path(pc, prefix, sizeof prefix, "%s", "");
	ngx_path(pc, conf, sizeof conf, "nginx.conf");
	ngx_path(pc, errlog, sizeof errlog, "logs/error.log");
	if (PROXY_SYSTEM(pc) && strcmp(extra[0], "-v") != 0) {
		/*
		 * The host's nginx, through the two sudo rules bootstrap
		 * installed: exactly `nginx -t -c CONF` and `nginx -s reload
		 * -c CONF`, never a password prompt.
		 */
		argv[n++] = NGX_SUDO;
		argv[n++] = "-n";
		argv[n++] = (char *)pc->binary;
		while (*extra != NULL && n < 8)
			argv[n++] = (char *)*extra++;
		argv[n++] = "-c";
		argv[n++] = (char *)pc->config;
	} else if (PROXY_SYSTEM(pc)) {
		argv[n++] = (char *)pc->binary;
		argv[n++] = "-v";
	} else {
		argv[n++] = (char *)pc->binary;
		argv[n++] = "-p";
		argv[n++] = prefix;
		argv[n++] = "-c";
		argv[n++] = conf;
		argv[n++] = "-e";
		argv[n++] = errlog;
		while (*extra != NULL &&
		    n < (int)(sizeof argv / sizeof argv[0]) - 1)
			argv[n++] = (char *)*extra++;
	}
	argv[n] = NULL;
	memset(&p, 0, sizeof p);
	p.argv = argv;
	p.max_out = NGX_OUT_MAX;
	p.timeout_ms = NGX_RUN_MS;
	p.childp = childp;
	return proc_run(&p, out, err, PROXY_ERRLEN);
}

/*
 * The line of nginx's words that says what went wrong, without "nginx: ",
 * its time stamp or "PID#TID: ": the first [emerg], else [alert], [crit],
 * [error], else the first line. Escaped, for a message.
 */
void
nginx_reason(const char *text, char *dst, size_t dstsz)
{
	static const char	*levels[] = {
		"[emerg]", "[alert]", "[crit]", "[error]"
	};
	const char		*line = NULL, *p, *end;
	char			 tmp[512];
	size_t			 i, n, k;

	for (i = 0; line == NULL && i < sizeof levels / sizeof levels[0]; i++)
		if ((p = strstr(text, levels[i])) != NULL)
			line = p;
	if (line == NULL) {
		for (line = text; *line == '\n'; line++)
			;
		if (strncmp(line, "nginx: ", 7) == 0)
			line += 7;
	}
	end = line + strcspn(line, "\n");
	n = (size_t)(end - line);
	if (n >= sizeof tmp)
		n = sizeof tmp - 1;
	memcpy(tmp, line, n);
	tmp[n] = '\0';
	/* "[emerg] 1234#1234: text" -> "[emerg] text" */
	if (tmp[0] == '[' && (p = strchr(tmp, ']')) != NULL && p[1] == ' ' &&
	    isdigit((unsigned char)p[2])) {
		k = strspn(p + 2, "0123456789#");
		if (p[2 + k] == ':' && p[3 + k] == ' ')
			memmove((char *)p + 2, p + 4 + k,
			    strlen(p + 4 + k) + 1);
	}
	if (tmp[0] == '\0')
		snprintf(tmp, sizeof tmp, "no message");
	log_escape(dst, dstsz, tmp, strlen(tmp));
}

/* The pid of our running nginx master, or 0. */
static long
ngx_pid(const struct proxy_conf *pc)
{
	char		 path[NGX_PATH], *end;
	struct buf	 b = BUF_INIT;
	long		 pid;
	const char	*p;

	if (PROXY_SYSTEM(pc))
		snprintf(path, sizeof path, "%s", pc->pid_file);
	else
		ngx_path(pc, path, sizeof path, "logs/nginx.pid");
	if (fs_read_file(path, &b, 64) == -1) {
		buf_release(&b);
		return 0;
	}
	pid = strtol(buf_str(&b), &end, 10);
	if (*end != '\n' && *end != '\0')
		pid = 0;
	buf_release(&b);
	if (pid <= 0)
		return 0;
	/* Gone, or EPERM: a recycled pid not ours; the host's is root's. */
	if (kill((pid_t)pid, 0) == -1 && (errno != EPERM || !PROXY_SYSTEM(pc)))
		return 0;
	/* A zombie answers kill(0) until it is reaped; and check the name. */
	snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	if (fs_read_file(path, &b, 4096) == 0) {
		p = strrchr(buf_str(&b), ')');
		if (strncmp(buf_str(&b) + strcspn(buf_str(&b), "("), "(nginx",
		    6) != 0 || p == NULL || p[1] != ' ' || p[2] == 'Z' ||
		    p[2] == 'X')
			pid = 0;
	}
	buf_release(&b);
	return pid;
}

static void
ngx_version(const struct proxy_conf *pc, char *dst, size_t dstsz)
{
	static const char *const	 v[] = { "-v", NULL };
	struct buf			 out = BUF_INIT;
	char				 err[PROXY_ERRLEN];
	const char			*p;

	snprintf(dst, dstsz, "unknown");
	if (ngx_run(pc, v, &out, NULL, err) == 0 &&
	    (p = strstr(buf_str(&out), "nginx version: ")) != NULL)
		snprintf(dst, dstsz, "%.*s", (int)strcspn(p + 15, "\r\n"),
		    p + 15);
	buf_release(&out);
}

/* PATH's nginx, else /usr/sbin/nginx; only clean absolute paths. */
static int
ngx_find_binary(char *dst, size_t dstsz, char *err)
{
	const char	*path = getenv("PATH"), *p, *colon;
	struct stat	 st;
	char		 cand[PATH_MAX_TUG + 8];
	size_t		 n;

	for (p = path; p != NULL && *p != '\0'; p = colon + 1) {
		colon = strchr(p, ':');
		n = colon != NULL ? (size_t)(colon - p) : strlen(p);
		if (n > 0 && n < PATH_MAX_TUG) {
			snprintf(cand, sizeof cand, "%.*s/nginx", (int)n, p);
			if (check_abs_path(cand) == NULL &&
			    stat(cand, &st) == 0 && S_ISREG(st.st_mode) &&
			    access(cand, X_OK) == 0) {
				snprintf(dst, dstsz, "%s", cand);
				return 0;
			}
		}
		if (colon == NULL)
			break;
	}
	if (access("/usr/sbin/nginx", X_OK) == 0) {
		snprintf(dst, dstsz, "/usr/sbin/nginx");
		return 0;
	}
	snprintf(err, PROXY_ERRLEN, "nginx not found in PATH nor at "
	    "/usr/sbin/nginx: install it (apt-get install nginx-light)");
	return -1;
}

/* Only plain names go into a `user` line. */
static int
ngx_plain_name(const char *s)
{
	size_t	i;

	if (s[0] == '\0' || strlen(s) > 32)
		return 0;
	for (i = 0; s[i] != '\0'; i++)
		if (!islower((unsigned char)s[i]) &&
		    !isdigit((unsigned char)s[i]) && s[i] != '_' && s[i] != '-')
			return 0;
	return 1;
}

/*
 * An nginx master started as root runs its workers as nobody, who could
 * not write the temp dirs inside the agent's private state dir: keep them
 * as the agent's own user, as for every other user.
 */
static int
ngx_user_line(struct buf *b, char *err)
{
	struct passwd	 pw, *pwp = NULL;
	struct group	 gr, *grp = NULL;
	char		 pbuf[4096], gbuf[4096];

	if (geteuid() != 0)
		return 0;
	if (getpwuid_r(geteuid(), &pw, pbuf, sizeof pbuf, &pwp) != 0 ||
	    pwp == NULL || getgrgid_r(getegid(), &gr, gbuf, sizeof gbuf,
	    &grp) != 0 || grp == NULL || !ngx_plain_name(pw.pw_name) ||
	    !ngx_plain_name(gr.gr_name)) {
		snprintf(err, PROXY_ERRLEN, "cannot name the agent's user and "
		    "group for nginx's workers");
		return -1;
	}
	buf_addf(b, "user %s %s;\n", pw.pw_name, gr.gr_name);
	return 0;
}

/*
 * nginx.conf. Every path in it is relative to the prefix, so the state
 * dir's name never enters a config. The default server answers 404 to
 * unknown hosts and carries a token of this config, so a reload can be
 * confirmed by asking it.
 */
static int
ngx_conf_render(const struct proxy_conf *pc, struct buf *b, char *token,
    size_t tokensz, char *err)
{
	struct buf	 body = BUF_INIT;
	size_t		 i;

	if (PROXY_SYSTEM(pc)) {
		char	ns[32], probe[64], sites[NGX_PATH];

		ngx_ns(pc, ns, sizeof ns);
		ngx_probe_host(pc, probe, sizeof probe);
		ngx_path(pc, sites, sizeof sites, "sites/*.conf");
		buf_addf(&body, "# tug.conf: tug-agent's part of the host's "
		    "nginx, inside its http {}; written by\n# proxy.setup: do "
		    "not edit. sites/<site>.conf come from site.apply.\n\n"
		    "# WebSocket upgrades; an empty Connection keeps upstream "
		    "keepalive\n"
		    "map $http_upgrade $%sconnection_upgrade {\n"
		    "\tdefault upgrade;\n"
		    "\t'' '';\n"
		    "}\n"
		    "\n"
		    "# Asked by the agent to confirm that a reload took this "
		    "file.\n"
		    "server {\n"
		    "\tlisten %llu;\n"
		    "\tserver_name %s;\n"
		    "\tadd_header X-Tug-Config @TOKEN@ always;\n"
		    "\treturn 404;\n"
		    "}\n"
		    "\n"
		    "include %s;\n", ns, (unsigned long long)pc->listen, probe,
		    sites);
		goto token;
	}
	buf_addstr(&body, "# nginx.conf of tug-agent's proxy, written by "
	    "proxy.setup: do not edit.\n# Paths are relative to the prefix "
	    "(nginx -p); sites/<site>.conf come from site.apply.\n");
	if (ngx_user_line(&body, err) == -1) {
		buf_release(&body);
		return -1;
	}
	buf_addstr(&body,
	    "worker_processes auto;\n"
	    "pid logs/nginx.pid;\n"
	    "# notice: the agent tells which reload an [emerg] belongs to by\n"
	    "# the \"signal 1 (SIGHUP) received from PID\" line\n"
	    "error_log logs/error.log notice;\n"
	    "\n"
	    "events {\n"
	    "\tworker_connections 1024;\n"
	    "}\n"
	    "\n"
	    "http {\n"
	    "\taccess_log off;\n"
	    "\tserver_tokens off;\n"
	    "\tdefault_type application/octet-stream;\n");
	for (i = 0; i < sizeof ngx_temp_dirs / sizeof ngx_temp_dirs[0]; i++)
		buf_addf(&body, "\t%s_temp_path temp/%s;\n", ngx_temp_dirs[i],
		    ngx_temp_dirs[i]);
	buf_addf(&body,
	    "\t# room for 253-character domains\n"
	    "\tserver_names_hash_bucket_size 512;\n"
	    "\n"
	    "\t# WebSocket upgrades; an empty Connection keeps upstream "
	    "keepalive\n"
	    "\tmap $http_upgrade $connection_upgrade {\n"
	    "\t\tdefault upgrade;\n"
	    "\t\t'' '';\n"
	    "\t}\n"
	    "\n"
	    "\tserver {\n"
	    "\t\tlisten %s:%llu default_server;\n"
	    "\t\tserver_name _;\n"
	    "\t\tadd_header X-Tug-Config @TOKEN@ always;\n"
	    "\t\treturn 404;\n"
	    "\t}\n", pc->address, (unsigned long long)pc->listen);
	if (pc->tls_listen != 0)
		buf_addf(&body,
		    "\tserver {\n"
		    "\t\tlisten %s:%llu ssl default_server;\n"
		    "\t\tssl_reject_handshake on;\n"
		    "\t}\n", pc->address, (unsigned long long)pc->tls_listen);
	buf_addstr(&body, "\n\tinclude sites/*.conf;\n}\n");
token:
	/* The token is a hash of the rest, so an unchanged config keeps it. */
	snprintf(token, tokensz, "%016llx",
	    (unsigned long long)fnv64(body.ptr, body.len));
	{
		char *at = strstr(body.ptr, "@TOKEN@");

		buf_add(b, body.ptr, (size_t)(at - body.ptr));
		buf_addstr(b, token);
		buf_addstr(b, at + 7);
	}
	buf_release(&body);
	return 0;
}

static void
ngx_server_render(const struct proxy_conf *pc, struct buf *b,
    const struct proxy_site *ps, int tls)
{
	char	listen[NGX_PATH], ns[32], acme[NGX_PATH];
	size_t	i;

	ngx_ns(pc, ns, sizeof ns);
	if (PROXY_SYSTEM(pc))
		ngx_path(pc, listen, sizeof listen, "%s", tls ?
		    "listen-tls.conf" : "listen.conf");
	else
		snprintf(listen, sizeof listen, "%s", tls ? "listen-tls.conf" :
		    "listen.conf");
	buf_addf(b, "server {\n\tinclude %s;\n\tserver_name", listen);
	for (i = 0; i < ps->ndomains; i++)
		buf_addf(b, " %s", ps->domains[i]);
	buf_addstr(b, ";\n");
	if (tls)
		buf_addf(b, "\tssl_certificate %s;\n"
		    "\tssl_certificate_key %s;\n", ps->tls_cert, ps->tls_key);
	if (tls && ps->hsts)
		buf_addstr(b, "\tadd_header Strict-Transport-Security "
		    "\"max-age=31536000\" always;\n");
	/* The host's nginx answers HTTP-01 for every site's names. */
	if (!tls && PROXY_SYSTEM(pc)) {
		ngx_path(pc, acme, sizeof acme, "acme");
		buf_addf(b, "\tlocation ^~ /.well-known/acme-challenge/ {\n"
		    "\t\troot %s;\n"
		    "\t\tdefault_type text/plain;\n"
		    "\t}\n", acme);
	}
	/* tls auto: plain HTTP is only a redirect (and the challenge). */
	if (!tls && ps->tls_auto && ps->tls_cert[0] != '\0' && !ps->stopped) {
		buf_addf(b,
		    "\tadd_header X-Tug-Release %llu always;\n"
		    "\tlocation / {\n"
		    "\t\treturn 301 https://$host$request_uri;\n"
		    "\t}\n"
		    "}\n", (unsigned long long)ps->release);
		return;
	}
	if (ps->stopped) {
		/* No upstream at all: nothing a local user could bind. */
		buf_addf(b,
		    "\tadd_header X-Tug-Stopped %llu always;\n"
		    "\treturn 503;\n"
		    "}\n", (unsigned long long)ps->release);
		return;
	}
	if (ps->root[0] != '\0') {
		/* A static site: the prefix is <state>/nginx/. */
		buf_addf(b,
		    "\tclient_max_body_size %llu;\n"
		    "\tadd_header X-Tug-Release %llu always;\n"
		    "\troot ../%s;\n"
		    "\tindex %s;\n"
		    "\tdisable_symlinks on from=$document_root;\n"
		    "\n"
		    "\tlocation / {\n"
		    "\t\ttry_files $uri $uri/ =404;\n"
		    "\t}\n"
		    "}\n", (unsigned long long)ps->max_body,
		    (unsigned long long)ps->release, ps->root, ps->index);
		return;
	}
	buf_addf(b,
	    "\tclient_max_body_size %llu;\n"
	    "\tadd_header X-Tug-Release %llu always;\n"
	    "\n"
	    "\tlocation / {\n"
	    "\t\tproxy_pass http://%s%s;\n"
	    "\t\tproxy_http_version 1.1;\n"
	    "\t\tproxy_set_header Host $host;\n"
	    "\t\tproxy_set_header X-Real-IP $remote_addr;\n"
	    "\t\tproxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
	    "\t\tproxy_set_header X-Forwarded-Proto $scheme;\n"
	    "\t\tproxy_set_header Upgrade $http_upgrade;\n"
	    "\t\tproxy_set_header Connection $%sconnection_upgrade;\n"
	    "\t\tproxy_hide_header X-Tug-Release;\n"
	    "\t}\n"
	    "}\n", (unsigned long long)ps->max_body,
	    (unsigned long long)ps->release, ns[0] != '\0' ? ns : "tug_",
	    ps->site, ns);
}

/*
 * sites/<site>.conf. Everything in it was validated when the request was
 * read; it is checked again here, next to the text it goes into, because
 * `nginx -t` is no security check.
 */
static int
ngx_site_render(const struct proxy_conf *pc, const struct proxy_site *ps,
    struct buf *b, char *err)
{
	const char	*why;
	char		 e[128], ns[32];
	size_t		 i;
	int		 tls = ps->tls_cert[0] != '\0';

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
	if (tls && ((why = check_abs_path(ps->tls_cert)) != NULL ||
	    (why = check_abs_path(ps->tls_key)) != NULL))
		return snprintf(err, PROXY_ERRLEN, "invalid TLS path: %s",
		    why), -1;
	if (ps->release == 0)
		return snprintf(err, PROXY_ERRLEN, "no release"), -1;
	if (ps->stopped) {
		if (ps->root[0] != '\0')
			return snprintf(err, PROXY_ERRLEN, "a static site is "
			    "not stopped"), -1;
	} else if (ps->root[0] != '\0' && PROXY_SYSTEM(pc)) {
		return snprintf(err, PROXY_ERRLEN, "the host's nginx (system "
		    "mode) serves no static sites yet: its workers cannot read "
		    "the agent's state dir"), -1;
	} else if (ps->root[0] != '\0') {
		snprintf(e, sizeof e, "/%s", ps->root);
		if (check_abs_path(e) != NULL ||
		    strncmp(ps->root, "static/", 7) != 0)
			return snprintf(err, PROXY_ERRLEN, "invalid static "
			    "root '%s'", e), -1;
		if ((why = check_file_name(ps->index)) != NULL)
			return snprintf(err, PROXY_ERRLEN, "invalid index "
			    "'%s': %s", log_escape(e, sizeof e, ps->index,
			    strlen(ps->index)), why), -1;
	} else if (ps->port == 0 || ps->port > 65535)
		return snprintf(err, PROXY_ERRLEN, "no upstream port"), -1;
	if (tls && pc->tls_listen == 0)
		return snprintf(err, PROXY_ERRLEN, "the proxy on this host has "
		    "no TLS port: run proxy.setup with tls_listen"), -1;

	if (ps->stopped) {
		buf_addf(b, "# site %s, release %llu: stopped by tug-agent's "
		    "site.stop; the proxy answers 503 itself.\n\n", ps->site,
		    (unsigned long long)ps->release);
		goto servers;
	}
	if (ps->root[0] != '\0') {
		buf_addf(b, "# static site %s, release %llu: written by "
		    "tug-agent's static.apply, replaced on every deploy.\n",
		    ps->site, (unsigned long long)ps->release);
		goto servers;
	}
	buf_addf(b, "# site %s, release %llu: written by tug-agent's "
	    "site.apply, replaced on every deploy.\n", ps->site,
	    (unsigned long long)ps->release);
	ngx_ns(pc, ns, sizeof ns);
	buf_addf(b, "upstream %s%s {\n"
	    "\tserver 127.0.0.1:%llu;\n"
	    "\tkeepalive 16;\n"
	    "}\n"
	    "\n", ns[0] != '\0' ? ns : "tug_", ps->site,
	    (unsigned long long)ps->port);
servers:
	ngx_server_render(pc, b, ps, 0);
	if (tls) {
		buf_addch(b, '\n');
		ngx_server_render(pc, b, ps, 1);
	}
	return 0;
}

/* The size of the error log, to read what a reload wrote after it. */
static off_t
ngx_log_size(const struct proxy_conf *pc)
{
	char		path[NGX_PATH];
	struct stat	st;

	ngx_path(pc, path, sizeof path, "logs/error.log");
	return stat(path, &st) == 0 ? st.st_size : 0;
}

/*
 * What the master made of the reload that signaller asked for, from the
 * error log after off: -1 it kept the old config (its reason in dst), 1 it
 * started workers with the new one, 0 no word yet. The master blocks
 * signals while it reconfigures, so the "received from PID" line of our
 * signal opens the span that is ours: an [emerg] of a reload still
 * retrying bind() before it is not blamed on this one.
 */
static int
ngx_log_verdict(const struct proxy_conf *pc, off_t off, long signaller,
    char *dst, size_t dstsz)
{
	char		 path[NGX_PATH], mark[64];
	struct buf	 b = BUF_INIT;
	const char	*p, *next, *e;
	char		*chunk;
	int		 fd, r = 0;
	ssize_t		 n;
	size_t		 max = 256 * 1024;

	ngx_path(pc, path, sizeof path, "logs/error.log");
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	chunk = xmalloc(max + 1);
	n = pread(fd, chunk, max, off);
	close(fd);
	if (n <= 0) {
		free(chunk);
		return 0;
	}
	chunk[n] = '\0';
	snprintf(mark, sizeof mark, "(SIGHUP) received from %ld,", signaller);
	if ((p = strstr(chunk, mark)) != NULL) {
		if ((next = strstr(p + 1, "(SIGHUP) received from")) != NULL)
			chunk[next - chunk] = '\0';
		if ((e = strstr(p, "[emerg]")) != NULL ||
		    (e = strstr(p, "[alert]")) != NULL ||
		    (e = strstr(p, "[crit]")) != NULL) {
			buf_add(&b, e, strcspn(e, "\n"));
			nginx_reason(buf_str(&b), dst, dstsz);
			r = -1;
		} else if (strstr(p, "start worker processes") != NULL)
			r = 1;
	}
	buf_release(&b);
	free(chunk);
	return r;
}

/*
 * sudo's own refusal (no rule, a password asked for, no sudo at all) as
 * opposed to nginx's words: 1 with err set, else 0.
 */
static int
ngx_sudo_refused(const struct proxy_conf *pc, struct buf *out,
    const char *what, char *err)
{
	char	esc[300];

	if (!PROXY_SYSTEM(pc) || (strncmp(buf_str(out), "sudo:", 5) != 0 &&
	    strstr(buf_str(out), "cannot execute") == NULL))
		return 0;
	log_escape(esc, sizeof esc, buf_str(out), strcspn(buf_str(out), "\n"));
	snprintf(err, PROXY_ERRLEN, "sudo refused `%s %s -c %s`: %s (the "
	    "rule comes from tug host bootstrap --proxy-mode system)",
	    pc->binary, what, pc->config, esc);
	return 1;
}

/*
 * nginx -t. A clean exit is not enough: a server name that another site
 * already serves is only a warning to nginx, which then ignores ours.
 */
static int
ngx_test(const struct proxy_conf *pc, const struct proxy_site *ps,
    char *err)
{
	static const char *const	 t[] = { "-t", "-q", NULL };
	static const char *const	 tsys[] = { "-t", NULL };
	struct buf			 out = BUF_INIT;
	char				 why[400], q[DOMAIN_MAX + 4];
	const char			*p;
	size_t				 i;
	int				 st, r = 0;

	buf_init(&out, NGX_OUT_MAX);
	if ((st = ngx_run(pc, PROXY_SYSTEM(pc) ? tsys : t, &out, NULL,
	    err)) == -1)
		r = -1;
	else if (st != 0 && ngx_sudo_refused(pc, &out, "-t", err))
		r = -1;
	else if (st != 0) {
		nginx_reason(buf_str(&out), why, sizeof why);
		snprintf(err, PROXY_ERRLEN, "nginx -t rejected the config: %s",
		    why);
		r = -1;
	}
	for (i = 0; r == 0 && ps != NULL && i < ps->ndomains; i++) {
		snprintf(q, sizeof q, "\"%s\"", ps->domains[i]);
		if ((p = strstr(buf_str(&out), "conflicting server name")) !=
		    NULL && strstr(p, q) != NULL) {
			snprintf(err, PROXY_ERRLEN, "domain '%s' is already "
			    "served by another site on this proxy",
			    ps->domains[i]);
			r = -1;
		}
	}
	buf_release(&out);
	return r;
}

/*
 * Is pid a worker of master that still accepts connections? A worker told
 * to quit renames itself "worker process is shutting down" right before it
 * closes its listening sockets.
 */
static int
ngx_accepting(long pid, long master)
{
	char		 path[64];
	struct buf	 b = BUF_INIT;
	const char	*p;
	char		 state = 0;
	long		 ppid = 0;
	int		 r = 0;

	snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	if (fs_read_file(path, &b, 4096) == 0 &&
	    (p = strrchr(buf_str(&b), ')')) != NULL &&
	    sscanf(p + 1, " %c %ld", &state, &ppid) == 2 && ppid == master &&
	    state != 'Z' && state != 'X') {
		buf_reset(&b);
		snprintf(path, sizeof path, "/proc/%ld/cmdline", pid);
		r = fs_read_file(path, &b, 4096) == 0 &&
		    strncmp(buf_str(&b), "nginx: worker process", 21) == 0 &&
		    strstr(buf_str(&b), "shutting down") == NULL;
	}
	buf_release(&b);
	return r;
}

/* The workers of master that accept connections now: count, at most max. */
static int
ngx_workers(long master, long *pids, int max)
{
	DIR		*d;
	struct dirent	*de;
	char		*end;
	long		 pid;
	int		 n = 0;

	if ((d = opendir("/proc")) == NULL)
		return 0;
	while (n < max && (de = readdir(d)) != NULL) {
		pid = strtol(de->d_name, &end, 10);
		if (pid > 0 && *end == '\0' && ngx_accepting(pid, master))
			pids[n++] = pid;
	}
	closedir(d);
	return n;
}

/*
 * After a reload the master starts new workers, sleeps 100 ms, and only
 * then tells the old ones to quit: until they do, a new connection may
 * still meet the old config. Wait for that, or for the master's word in
 * its log that it kept the old config.
 */
static int
ngx_wait_old(const struct proxy_conf *pc, long master, const long *old, int nold, off_t off,
    long signaller, char *err)
{
	uint64_t	end = clock_ms() + NGX_RELOAD_MS;
	char		reason[400];
	int		i, left, v;

	for (;;) {
		if ((v = ngx_log_verdict(pc, off, signaller, reason,
		    sizeof reason)) == -1)
			return snprintf(err, PROXY_ERRLEN, "nginx kept its old "
			    "config: %s", reason), -1;
		for (left = 0, i = 0; i < nold; i++)
			left += ngx_accepting(old[i], master);
		if (left == 0)
			return 0;
		if (clock_ms() >= end)
			return snprintf(err, PROXY_ERRLEN, "%d nginx workers "
			    "with the old config still accept connections %d "
			    "ms after the reload", left, NGX_RELOAD_MS), -1;
		sleep_ms(5);
	}
}

/*
 * Reload the running nginx, or start it when none runs. When this returns
 * 0 no worker with an older config accepts connections any more.
 */
static int
ngx_reload(const struct proxy_conf *pc, int *started, char *err)
{
	static const char *const	 reload[] = { "-s", "reload", NULL };
	static const char *const	 start[] = { NULL };
	struct buf			 out = BUF_INIT;
	char				 why[400];
	long				 old[NGX_WORKERS_MAX];
	long				 master = ngx_pid(pc), signaller = 0;
	int				 st, i, nold = 0, run = master > 0;
	off_t				 off = ngx_log_size(pc);

	*started = 0;
	if (!run && PROXY_SYSTEM(pc))
		return snprintf(err, PROXY_ERRLEN, "the host's nginx is not "
		    "running (no live master in %s): start it, e.g. systemctl "
		    "start nginx", pc->pid_file), -1;
	if (run)
		nold = ngx_workers(master, old, NGX_WORKERS_MAX);
	buf_init(&out, NGX_OUT_MAX);
	st = ngx_run(pc, run ? reload : start, &out, &signaller, err);
	if (st > 0 && ngx_sudo_refused(pc, &out, "-s reload", err))
		;
	else if (st > 0) {
		nginx_reason(buf_str(&out), why, sizeof why);
		snprintf(err, PROXY_ERRLEN, "%s failed: %s", run ?
		    "nginx -s reload" : "starting nginx", why);
	}
	buf_release(&out);
	if (st != 0)
		return -1;
	if (run)
		return ngx_wait_old(pc, master, old, nold, off, signaller, err);
	/* The daemon writes its pid file once it has forked. */
	for (i = 0; i < 150 && ngx_pid(pc) == 0; i++)
		sleep_ms(20);
	if (ngx_pid(pc) == 0) {
		snprintf(err, PROXY_ERRLEN, "nginx started but wrote no pid "
		    "file");
		return -1;
	}
	*started = 1;
	return 0;
}


/* Read a file that may be absent: 1 read, 0 absent, -1 error. */
static int
ngx_read(const char *path, struct buf *b)
{
	buf_reset(b);
	if (fs_read_file(path, b, 1 << 20) == 0)
		return 1;
	return errno == ENOENT ? 0 : -1;
}

/*
 * Put a file back as it was: the text it had, or no file. A failure here
 * leaves the new text in place, so it is worth saying loudly.
 */
static void
ngx_put_back(const char *path, int had, const struct buf *old)
{
	if (had ? fs_write_atomic(path, old->ptr != NULL ? old->ptr : "",
	    old->len, NGX_CONF_MODE) == -1 :
	    (unlink(path) == -1 && errno != ENOENT))
		log_warn("cannot restore %s", path);
}

/*
 * Undo a site switch: sites/<site>.prev holds the previous text, empty
 * when there was no file. With reload set, nginx is told as well.
 */
static int
ngx_site_undo(const struct proxy_conf *pc, const char *site, int reload)
{
	char		 conf[NGX_PATH], prev[NGX_PATH], err[PROXY_ERRLEN];
	struct buf	 old = BUF_INIT;
	int		 r, started;

	ngx_path(pc, conf, sizeof conf, "sites/%s.conf", site);
	ngx_path(pc, prev, sizeof prev, "sites/%s.prev", site);
	if ((r = ngx_read(prev, &old)) != 1) {
		buf_release(&old);
		return r;
	}
	if (old.len == 0) {
		if (unlink(conf) == -1 && errno != ENOENT)
			log_warn("cannot remove %s", conf);
	} else if (rename(prev, conf) == -1)
		log_warn("cannot restore %s", conf);
	unlink(prev);
	buf_release(&old);
	if (reload && ngx_pid(pc) > 0 && ngx_reload(pc, &started, err) == -1)
		log_warnx("after restoring %s: %s", conf, err);
	return 1;
}

/* Sites of tls auto get their certificates here: system mode with 443. */
static int
ngx_tls_auto(const struct proxy_conf *pc, const struct proxy_site *ps)
{
	return ps->tls_auto && PROXY_SYSTEM(pc) && pc->tls_listen != 0;
}

/* Is name among the server_name words of our site file text? */
static int
ngx_serves(const struct buf *conf, const char *name)
{
	const char	*p = strstr(buf_str(conf), "\tserver_name ");
	size_t		 n = strlen(name), len;

	if (p == NULL)
		return 0;
	for (p += 13; *p != ';' && *p != '\0'; p += len) {
		while (*p == ' ')
			p++;
		len = strcspn(p, " ;");
		if (len == n && strncmp(p, name, n) == 0)
			return 1;
	}
	return 0;
}

/*
 * A certificate for ps's names from the ACME CA. HTTP-01 is answered from
 * <dir>/acme by the location every system-mode site file has; names that
 * the site's current file does not serve yet get a server of their own for
 * the time of the issuance (sites/_acme.<site>.conf: '_' begins no site's
 * name). The old config keeps serving throughout, and after a failure too.
 */
static int
ngx_acme_issue(const struct proxy_conf *pc, const struct proxy_site *ps,
    char *err)
{
	struct proxy_site	 np = *ps;
	struct buf		 cur = BUF_INIT, text = BUF_INIT;
	char			 conf[NGX_PATH], tmp[NGX_PATH], root[NGX_PATH];
	char			 listen[NGX_PATH], why[PROXY_ERRLEN];
	size_t			 i;
	int			 r = -1, started, reload = 0;

	ngx_path(pc, root, sizeof root, "acme");
	ngx_path(pc, conf, sizeof conf, "sites/%s.conf", ps->site);
	ngx_path(pc, tmp, sizeof tmp, "sites/_acme.%s.conf", ps->site);
	ngx_path(pc, listen, sizeof listen, "listen.conf");
	/* nginx's workers read the tokens: a way through, and no more. */
	if (chmod(pc->dir, 0711) == -1 || (mkdir(root, 0755) == -1 &&
	    errno != EEXIST) || chmod(root, 0755) == -1)
		return snprintf(err, PROXY_ERRLEN, "cannot make %s: %s", root,
		    strerror(errno)), -1;
	if (ngx_read(conf, &cur) == -1)
		buf_reset(&cur);
	np.ndomains = 0;
	for (i = 0; i < ps->ndomains; i++)
		if (!ngx_serves(&cur, ps->domains[i]))
			snprintf(np.domains[np.ndomains++], DOMAIN_MAX + 1,
			    "%s", ps->domains[i]);
	if (np.ndomains > 0) {
		buf_addf(&text, "# %s: the names of site %s that need a "
		    "certificate, for the time of its issuance.\nserver {\n"
		    "\tinclude %s;\n\tserver_name", tmp, ps->site, listen);
		for (i = 0; i < np.ndomains; i++)
			buf_addf(&text, " %s", np.domains[i]);
		buf_addf(&text, ";\n\tlocation ^~ /.well-known/acme-challenge/ "
		    "{\n\t\troot %s;\n\t\tdefault_type text/plain;\n\t}\n"
		    "\tlocation / {\n\t\treturn 404;\n\t}\n}\n", root);
		if (fs_write_atomic(tmp, text.ptr, text.len, NGX_CONF_MODE) ==
		    -1) {
			snprintf(err, PROXY_ERRLEN, "cannot write %s: %s", tmp,
			    strerror(errno));
			goto out;
		}
		reload = 1;
		if (ngx_test(pc, &np, err) == -1 ||
		    ngx_reload(pc, &started, err) == -1)
			goto out;
	}
	r = acme_issue(ps, root, NULL, err);
out:
	if (reload) {
		unlink(tmp);
		if (r == -1 && ngx_reload(pc, &started, why) == -1)
			log_warnx("after removing %s: %s", tmp, why);
	}
	buf_release(&cur);
	buf_release(&text);
	return r;
}

/* Confirm through HTTPS what plain HTTP only redirects. */
static int
ngx_confirm(const struct proxy_conf *pc, const struct proxy_site *ps,
    const char *host, const char *path, const char *hdr, const char *rel,
    long status, uint64_t ms, char *why)
{
	if (ps->tls_auto && ps->tls_cert[0] != '\0' && !ps->stopped)
		return proxy_confirm_tls(pc, host, path, hdr, rel, status, ms,
		    why);
	return proxy_confirm(pc, host, path, hdr, rel, status, ms, why);
}

static int
ngx_site_switch(const struct proxy_conf *pc, const struct proxy_site *ps,
    struct proxy_timing *tm, char *err)
{
	struct buf	 text = BUF_INIT, cur = BUF_INIT;
	char		 conf[NGX_PATH], prev[NGX_PATH], host[DOMAIN_MAX + 16];
	char		 rel[24], why[400];
	const char	*hdr = ps->stopped ? "X-Tug-Stopped" : "X-Tug-Release";
	const char	*path = ps->stopped ? "/" : ps->path;
	long		 status = ps->stopped ? 503 : ps->any_status ? PROXY_ANY :
			     PROXY_2XX3XX;
	int		 had, r = -1, reloaded = 0, started;
	uint64_t	 t;
	struct proxy_site auto_ps;

	memset(tm, 0, sizeof *tm);
	if (ngx_tls_auto(pc, ps)) {
		if (!ps->stopped && !acme_usable(ps, NGX_ACME_RENEW_DAYS) &&
		    ngx_acme_issue(pc, ps, err) == -1)
			return -1;
		auto_ps = *ps;
		acme_paths(&auto_ps);
		if (access(auto_ps.tls_cert, R_OK) == -1)
			auto_ps.tls_cert[0] = auto_ps.tls_key[0] = '\0';
		ps = &auto_ps;
	}
	if (ngx_site_render(pc, ps, &text, err) == -1)
		goto out;
	ngx_path(pc, conf, sizeof conf, "sites/%s.conf", ps->site);
	ngx_path(pc, prev, sizeof prev, "sites/%s.prev", ps->site);
	proxy_probe_host(ps, host, sizeof host);
	snprintf(rel, sizeof rel, "%llu", (unsigned long long)ps->release);
	if ((had = ngx_read(conf, &cur)) == -1) {
		snprintf(err, PROXY_ERRLEN, "cannot read %s: %s", conf,
		    strerror(errno));
		goto out;
	}

	/* Already in place (a reused container): it only has to answer. */
	if (had && cur.len == text.len && memcmp(cur.ptr, text.ptr,
	    text.len) == 0 && ngx_pid(pc) > 0) {
		t = clock_ms();
		if (ngx_confirm(pc, ps, host, path, hdr, rel, status, 500,
		    why) == 0) {
			tm->confirm_ms = clock_ms() - t;
			r = 0;
			goto out;
		}
		log_info("%s is in place but nginx does not answer from it "
		    "(%s); reloading", conf, why);
	}

	/* Keep the previous text: putting it back undoes the switch. */
	if (fs_write_atomic(prev, had ? cur.ptr : "", had ? cur.len : 0,
	    NGX_CONF_MODE) == -1) {
		snprintf(err, PROXY_ERRLEN, "cannot write %s: %s", prev,
		    strerror(errno));
		goto out;
	}
	if (fs_write_atomic(conf, text.ptr, text.len, NGX_CONF_MODE) == -1) {
		snprintf(err, PROXY_ERRLEN, "cannot write %s: %s", conf,
		    strerror(errno));
		goto undo;
	}
	tm->changed = 1;
	agent_fault(ps->site, "switch-written");	/* tests: mid-switch */
	t = clock_ms();
	r = ngx_test(pc, ps, err);
	tm->test_ms = clock_ms() - t;
	if (r == -1)
		goto undo;
	t = clock_ms();
	r = ngx_reload(pc, &started, err);
	tm->reload_ms = clock_ms() - t;
	if (r == -1)
		goto undo;
	reloaded = 1;
	/* Old workers may answer for a while after the reload. */
	t = clock_ms();
	r = ngx_confirm(pc, ps, host, path, hdr, rel, status, NGX_CONFIRM_MS,
	    why);
	tm->confirm_ms = clock_ms() - t;
	if (r == -1) {
		snprintf(err, PROXY_ERRLEN, "nginx does not answer for %s "
		    "%s release %s after %llu ms (%s)", host, ps->stopped ?
		    "with 503 for the stopped" : "from", rel,
		    (unsigned long long)tm->confirm_ms, why);
		goto undo;
	}
	unlink(prev);
	goto out;
undo:
	r = -1;
	ngx_site_undo(pc, ps->site, reloaded);
out:
	buf_release(&text);
	buf_release(&cur);
	return r;
}

static int
ngx_site_restore(const struct proxy_conf *pc, const char *site, int *done,
    char *err)
{
	(void)err;
	*done = ngx_site_undo(pc, site, 1) == 1;
	return 0;
}

static int
ngx_site_remove(const struct proxy_conf *pc, const char *site, int *done,
    char *err)
{
	char	conf[NGX_PATH], prev[NGX_PATH];
	int	started;

	ngx_path(pc, conf, sizeof conf, "sites/%s.conf", site);
	ngx_path(pc, prev, sizeof prev, "sites/%s.prev", site);
	unlink(prev);
	*done = 0;
	if (unlink(conf) == -1) {
		if (errno == ENOENT)
			return 0;
		return snprintf(err, PROXY_ERRLEN, "cannot remove %s: %s",
		    conf, strerror(errno)), -1;
	}
	*done = 1;
	if (ngx_test(pc, NULL, err) == -1)
		return -1;
	if (ngx_pid(pc) > 0 && ngx_reload(pc, &started, err) == -1)
		return -1;
	return 0;
}

static int
ngx_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
ngx_sites(const struct proxy_conf *pc, char ***names, size_t *n)
{
	char		 dir[NGX_PATH];
	DIR		*d;
	struct dirent	*de;
	size_t		 len, alloc = 0;

	(void)pc;
	*names = NULL;
	*n = 0;
	ngx_path(pc, dir, sizeof dir, "sites");
	if ((d = opendir(dir)) == NULL)
		return errno == ENOENT ? 0 : -1;
	while ((de = readdir(d)) != NULL) {
		char stem[SITE_NAME_MAX + 1];

		len = strlen(de->d_name);
		if (len <= 5 || len - 5 > SITE_NAME_MAX ||
		    strcmp(de->d_name + len - 5, ".conf") != 0)
			continue;
		snprintf(stem, sizeof stem, "%.*s", (int)(len - 5), de->d_name);
		if (check_site_name(stem) != NULL)
			continue;
		if (*n == alloc) {
			alloc = alloc ? alloc * 2 : 8;
			*names = xrealloc(*names, alloc * sizeof **names);
		}
		(*names)[(*n)++] = xstrdup(stem);
	}
	closedir(d);
	if (*n > 0)
		qsort(*names, *n, sizeof **names, ngx_cmp);
	return 0;
}

static void
ngx_status(const struct proxy_conf *pc, struct proxy_state *st)
{
	memset(st, 0, sizeof *st);
	st->pid = ngx_pid(pc);
	st->running = st->pid > 0;
	ngx_version(pc, st->version, sizeof st->version);
	ngx_path(pc, st->prefix, sizeof st->prefix, "%s", "");
}

/*
 * proxy.setup: the layout, nginx.conf and the listen snippets that every
 * site's servers include, so changing the port rewrites no site file. Then
 * test, start or reload, and ask the default server for this config's
 * token. A failure puts the previous files back.
 */
static int
ngx_setup(struct proxy_conf *pc, struct proxy_state *st, char *err)
{
	const char		*files[] = {
		PROXY_SYSTEM(pc) ? "tug.conf" : "nginx.conf", "listen.conf",
		"listen-tls.conf"
	};
	struct buf		 text[3] = { BUF_INIT, BUF_INIT, BUF_INIT };
	struct buf		 old[3] = { BUF_INIT, BUF_INIT, BUF_INIT };
	char			 path[NGX_PATH], token[24], why[400], probe[64];
	int			 had[3], want[3], i, r = -1, same = 1;
	int			 reloaded = 0, started = 0;
	size_t			 k;

	memset(st, 0, sizeof *st);
	ngx_probe_host(pc, probe, sizeof probe);
	if (PROXY_SYSTEM(pc)) {
		/* The host's nginx: bootstrap checked its binary and dirs. */
		if (access(pc->binary, X_OK) == -1)
			return snprintf(err, PROXY_ERRLEN, "the host's nginx "
			    "%s: %s", pc->binary, strerror(errno)), -1;
		goto sites;
	}
	if (ngx_find_binary(pc->binary, sizeof pc->binary, err) == -1)
		return -1;
	ngx_path(pc, path, sizeof path, "temp");
	if (fs_mkdirs(path, 0700) == -1)
		goto mkdir_failed;
	for (k = 0; k < sizeof ngx_temp_dirs / sizeof ngx_temp_dirs[0]; k++) {
		ngx_path(pc, path, sizeof path, "temp/%s", ngx_temp_dirs[k]);
		if (fs_mkdirs(path, 0700) == -1)
			goto mkdir_failed;
	}
	ngx_path(pc, path, sizeof path, "logs");
	if (fs_mkdirs(path, 0700) == -1)
		goto mkdir_failed;
sites:
	ngx_path(pc, path, sizeof path, "sites");
	if (fs_mkdirs(path, 0700) == -1)
		goto mkdir_failed;

	if (ngx_conf_render(pc, &text[0], token, sizeof token, err) == -1)
		goto out;
	if (PROXY_SYSTEM(pc)) {
		/*
		 * Every address, as the host's own servers listen: a server
		 * on one address would take that address's connections away
		 * from the host's default server.
		 */
		buf_addf(&text[1], "listen %llu;\n",
		    (unsigned long long)pc->listen);
		if (pc->ipv6)
			buf_addf(&text[1], "listen [::]:%llu;\n",
			    (unsigned long long)pc->listen);
		if (pc->tls_listen != 0)
			buf_addf(&text[2], "listen %llu ssl;\n",
			    (unsigned long long)pc->tls_listen);
		if (pc->tls_listen != 0 && pc->ipv6)
			buf_addf(&text[2], "listen [::]:%llu ssl;\n",
			    (unsigned long long)pc->tls_listen);
	} else {
		buf_addf(&text[1], "listen %s:%llu;\n", pc->address,
		    (unsigned long long)pc->listen);
		if (pc->tls_listen != 0)
			buf_addf(&text[2], "listen %s:%llu ssl;\n",
			    pc->address, (unsigned long long)pc->tls_listen);
	}
	for (i = 0; i < 3; i++) {
		want[i] = i < 2 || pc->tls_listen != 0;
		ngx_path(pc, path, sizeof path, "%s", files[i]);
		if ((had[i] = ngx_read(path, &old[i])) == -1) {
			snprintf(err, PROXY_ERRLEN, "cannot read %s: %s", path,
			    strerror(errno));
			goto out;
		}
		if (had[i] != want[i] || (want[i] && (old[i].len !=
		    text[i].len || memcmp(old[i].ptr, text[i].ptr,
		    text[i].len) != 0)))
			same = 0;
	}
	if (same && ngx_pid(pc) > 0 && proxy_confirm(pc, probe, "/",
	    "X-Tug-Config", token, PROXY_ANY, 500, why) == 0) {
		r = 0;
		goto done;
	}

	for (i = 0; i < 3; i++) {
		ngx_path(pc, path, sizeof path, "%s", files[i]);
		if (want[i] ? fs_write_atomic(path, text[i].ptr, text[i].len,
		    NGX_CONF_MODE) == -1 : (unlink(path) == -1 &&
		    errno != ENOENT)) {
			snprintf(err, PROXY_ERRLEN, "cannot write %s: %s", path,
			    strerror(errno));
			goto undo;
		}
	}
	if (ngx_test(pc, NULL, err) == -1)
		goto undo;
	if (ngx_reload(pc, &started, err) == -1)
		goto undo;
	reloaded = !started;
	if (proxy_confirm(pc, probe, "/", "X-Tug-Config", token,
	    PROXY_ANY, NGX_CONFIRM_MS, why) == -1) {
		snprintf(err, PROXY_ERRLEN, "nginx does not answer on %s:%llu "
		    "(%s)", pc->address, (unsigned long long)pc->listen, why);
		goto undo;
	}
	r = 0;
done:
	st->started = started;
	st->reloaded = reloaded;
	st->pid = ngx_pid(pc);
	st->running = st->pid > 0;
	ngx_version(pc, st->version, sizeof st->version);
	ngx_path(pc, st->prefix, sizeof st->prefix, "%s", "");
	goto out;
mkdir_failed:
	snprintf(err, PROXY_ERRLEN, "cannot create %s: %s", path,
	    strerror(errno));
	goto out;
undo:
	for (i = 0; i < 3; i++) {
		ngx_path(pc, path, sizeof path, "%s", files[i]);
		ngx_put_back(path, had[i], &old[i]);
	}
	if (started) {
		/* Ours, and started with the config just refused. */
		long pid = ngx_pid(pc);

		if (pid > 0)
			kill((pid_t)pid, SIGTERM);
	} else if (ngx_pid(pc) > 0 && ngx_reload(pc, &started, why) == -1)
		log_warnx("after restoring nginx.conf: %s", why);
out:
	for (i = 0; i < 3; i++) {
		buf_release(&text[i]);
		buf_release(&old[i]);
	}
	return r;
}

int
nginx_retire_agent(char *msg)
{
	struct proxy_conf	 ag;
	char			 dir[NGX_PATH];
	long			 pid;
	int			 i, dfd;

	memset(&ag, 0, sizeof ag);
	snprintf(ag.mode, sizeof ag.mode, "agent");
	if ((pid = ngx_pid(&ag)) <= 0)
		return 0;
	/* SIGQUIT: finish what is in flight, close idle connections. */
	kill((pid_t)pid, SIGQUIT);
	for (i = 0; i < 300 && ngx_pid(&ag) == pid; i++)
		sleep_ms(100);
	ngx_path(&ag, dir, sizeof dir, "%s", "");
	if ((dfd = open(agent.state_dir, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) != -1) {
		if (fs_remove_tree(dfd, "nginx") == -1)
			log_warn("cannot remove %s", dir);
		close(dfd);
	}
	snprintf(msg, PROXY_ERRLEN, "the agent's own nginx (pid %ld), which "
	    "served before the move, quit gracefully; %s is removed", pid,
	    dir);
	return 1;
}

/*
 * cert.renew: the names are all in the site's file already, so the issuance
 * needs no server of its own; the reload makes nginx read the new files,
 * and an answer through HTTPS confirms it.
 */
static int
ngx_site_cert(const struct proxy_conf *pc, const struct proxy_site *ps,
    char *err)
{
	struct proxy_site	 p = *ps;
	char			 host[DOMAIN_MAX + 16], rel[24], why[400];
	int			 started;

	if (!ngx_tls_auto(pc, ps))
		return snprintf(err, PROXY_ERRLEN, "certificates come only to "
		    "the host's nginx (system mode) with a TLS port"), -1;
	if (ngx_acme_issue(pc, ps, err) == -1 ||
	    ngx_reload(pc, &started, err) == -1)
		return -1;
	acme_paths(&p);
	proxy_probe_host(&p, host, sizeof host);
	snprintf(rel, sizeof rel, "%llu", (unsigned long long)p.release);
	if (ngx_confirm(pc, &p, host, p.stopped ? "/" : p.path, p.stopped ?
	    "X-Tug-Stopped" : "X-Tug-Release", rel, p.stopped ? 503 :
	    PROXY_2XX3XX, NGX_CONFIRM_MS, why) == -1)
		return snprintf(err, PROXY_ERRLEN, "nginx does not answer for "
		    "%s over HTTPS after the new certificate (%s)", host, why),
		    -1;
	return 0;
}

const struct proxy_backend proxy_nginx = {
	"nginx",
	ngx_setup,
	ngx_status,
	ngx_sites,
	ngx_site_switch,
	ngx_site_remove,
	ngx_site_restore,
	NULL,
	NULL,
	NULL,
	NULL,
	ngx_site_cert,
};
