/*
 * system.c: `tug-agent system-setup` and `system-undo`, the only time the
 * agent runs as root (through sudo, once, from tug host bootstrap
 * --proxy-mode system). It readies the host's own proxy for the
 * unprivileged agent (DESIGN §6), and undo takes exactly that away again:
 * for nginx an include dir of the SSH user's, a snippet in conf.d that
 * includes it, and a sudoers rule for exactly `nginx -t` and `nginx -s
 * reload`; for caddy a directory of group tug for its admin socket (the
 * user joins the group), the config it starts from, and on a systemd host
 * a drop-in that runs it with --resume.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <libgen.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "agent/agent.h"
#include "common/fs.h"
#include "common/log.h"

#define SYS_OUT_MAX	(4u << 20)	/* nginx -T of a big host */
#define SYS_RUN_MS	60000
#define SYS_SUDOERS_DIR	"/etc/sudoers.d"
#define SYS_VISUDO	"/usr/sbin/visudo"

/* Exit codes the controller tells apart. */
#define SYS_EXIT_FAIL	1
#define SYS_EXIT_USAGE	2
#define SYS_EXIT_NONGX	3	/* no nginx binary or config */
#define SYS_EXIT_CONF	4	/* the host's config refuses */
#define SYS_EXIT_NOTRUN	5	/* caddy: none answers on the socket yet */

struct sys {
	char		 kind[8];		/* "nginx" or "caddy" */
	char		 user[33];
	uid_t		 uid;
	gid_t		 gid;
	char		 binary[PATH_MAX_TUG];
	char		 config[PATH_MAX_TUG];
	char		 confdir[PATH_MAX_TUG];	/* dirname(config) */
	char		 dir[PATH_MAX_TUG + 40];	/* confdir/tug-USER */
	char		 snippet[PATH_MAX_TUG + 48];	/* confdir/conf.d/... */
	char		 sudoers[128];
	char		 pid_file[PATH_MAX_TUG];
	int		 ipv6;
	/* caddy: the admin socket; dir is its directory. */
	char		 admin[PATH_MAX_TUG];
};

static int
sys_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
sys_fail(int code, const char *fmt, ...)
{
	va_list	ap;

	fputs("tug-agent: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}

/*
 * Paths go into a sudoers line and the controller's remote command:
 * check_abs_path leaves letters, digits and . _ - @ + only, none of which
 * means anything to sudoers or a shell.
 */
static int
sys_path_ok(const char *p)
{
	return check_abs_path(p) == NULL;
}

static int
sys_user_ok(const char *u)
{
	size_t	i;

	if (strlen(u) == 0 || strlen(u) > 32 || !(islower((unsigned char)u[0])
	    || u[0] == '_'))
		return 0;
	for (i = 0; u[i] != '\0'; i++)
		if (!islower((unsigned char)u[i]) &&
		    !isdigit((unsigned char)u[i]) && u[i] != '_' &&
		    u[i] != '-' && u[i] != '.')
			return 0;
	return 1;
}

/* nginx ARGS... -c CONF, its stdout and stderr in out. */
static int
sys_nginx(const struct sys *s, const char *a1, const char *a2,
    struct buf *out, char *err, size_t errsz)
{
	char		*argv[8];
	struct proc	 p;
	int		 n = 0;

	argv[n++] = (char *)s->binary;
	argv[n++] = (char *)a1;
	if (a2 != NULL)
		argv[n++] = (char *)a2;
	argv[n++] = "-c";
	argv[n++] = (char *)s->config;
	argv[n] = NULL;
	memset(&p, 0, sizeof p);
	p.argv = argv;
	p.stdout_too = 1;
	p.max_out = SYS_OUT_MAX;
	p.timeout_ms = SYS_RUN_MS;
	return proc_run(&p, out, err, errsz);
}

static const char *
sys_reason(struct buf *out, char *dst, size_t dstsz)
{
	nginx_reason(buf_str(out), dst, dstsz);
	return dst;
}

/* `nginx -t`; 0, or the exit code with the message printed. */
static int
sys_test(const struct sys *s, const char *when)
{
	struct buf	 out = BUF_INIT;
	char		 err[256], why[400];
	int		 st;

	st = sys_nginx(s, "-t", NULL, &out, err, sizeof err);
	if (st == -1)
		st = sys_fail(SYS_EXIT_FAIL, "cannot run %s -t: %s", s->binary,
		    err);
	else if (st != 0)
		st = sys_fail(SYS_EXIT_CONF, "%s: nginx -t -c %s fails: %s",
		    when, s->config, sys_reason(&out, why, sizeof why));
	buf_release(&out);
	return st;
}

static int
sys_args(int argc, char **argv, struct sys *s)
{
	static const struct option longopts[] = {
		{ "user", required_argument, NULL, 'u' },
		{ "binary", required_argument, NULL, 'b' },
		{ "config", required_argument, NULL, 'c' },
		{ "admin", required_argument, NULL, 'a' },
		{ NULL, 0, NULL, 0 }
	};
	struct passwd	*pw;
	struct sockaddr_un sun;
	char		 tmp[PATH_MAX_TUG], *p, *dst;
	const char	*what;
	int		 ch, caddy;

	memset(s, 0, sizeof *s);
	if (argc < 3 || (strcmp(argv[2], "nginx") != 0 &&
	    strcmp(argv[2], "caddy") != 0))
		return sys_fail(SYS_EXIT_USAGE, "usage: tug-agent %s nginx "
		    "--user USER [--binary PATH] [--config PATH]\n"
		    "       tug-agent %s caddy --user USER [--binary PATH] "
		    "[--config CADDYFILE] [--admin SOCKET]",
		    argc > 1 ? argv[1] : "system-setup",
		    argc > 1 ? argv[1] : "system-setup");
	snprintf(s->kind, sizeof s->kind, "%s", argv[2]);
	caddy = strcmp(s->kind, "caddy") == 0;
	snprintf(s->binary, sizeof s->binary, caddy ? "/usr/bin/caddy" :
	    "/usr/sbin/nginx");
	snprintf(s->config, sizeof s->config, caddy ?
	    "/etc/caddy/Caddyfile" : "/etc/nginx/nginx.conf");
	optind = 3;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'u':
			snprintf(s->user, sizeof s->user, "%s", optarg);
			if (!sys_user_ok(optarg))
				return sys_fail(SYS_EXIT_USAGE, "invalid "
				    "--user");
			break;
		case 'b':
		case 'c':
		case 'a':
			what = ch == 'b' ? "binary" : ch == 'c' ? "config" :
			    "admin";
			dst = ch == 'b' ? s->binary : ch == 'c' ? s->config :
			    s->admin;
			if (ch == 'a' && !caddy)
				return sys_fail(SYS_EXIT_USAGE, "--admin is for "
				    "caddy");
			if (!sys_path_ok(optarg))
				return sys_fail(SYS_EXIT_USAGE, "invalid --%s: "
				    "a clean absolute path of letters, digits "
				    "and /._+- only", what);
			snprintf(dst, PATH_MAX_TUG, "%s", optarg);
			break;
		default:
			return SYS_EXIT_USAGE;
		}
	}
	if (optind != argc || s->user[0] == '\0')
		return sys_fail(SYS_EXIT_USAGE, "--user is required, and "
		    "nothing after the options");
	if (caddy && s->admin[0] == '\0')
		snprintf(s->admin, sizeof s->admin, "/var/lib/caddy/tug-%s/"
		    "admin.sock", s->user);
	if (caddy && (strlen(s->admin) >= sizeof sun.sun_path ||
	    strlen(s->admin) < 3))
		return sys_fail(SYS_EXIT_USAGE, "invalid --admin: at most %zu "
		    "bytes (a unix socket's path)", sizeof sun.sun_path - 1);
	if (geteuid() != 0)
		return sys_fail(SYS_EXIT_FAIL, "%s needs root: tug host "
		    "bootstrap runs it with sudo -n", argv[1]);
	if ((pw = getpwnam(s->user)) == NULL)
		return sys_fail(SYS_EXIT_USAGE, "no user '%s' on this host",
		    s->user);
	if (pw->pw_uid == 0)
		return sys_fail(SYS_EXIT_USAGE, "the agent's user must not be "
		    "root");
	s->uid = pw->pw_uid;
	s->gid = pw->pw_gid;
	if (caddy) {
		/* The socket's directory is the user's: tug-USER/admin.sock. */
		snprintf(tmp, sizeof tmp, "%s", s->admin);
		snprintf(s->dir, sizeof s->dir, "%s", dirname(tmp));
		if (strcmp(s->dir, "/") == 0 || !sys_path_ok(s->dir))
			return sys_fail(SYS_EXIT_USAGE, "invalid --admin: its "
			    "directory must not be /");
		snprintf(s->confdir, sizeof s->confdir, "%s", s->dir);
		snprintf(s->pid_file, sizeof s->pid_file, "%s/caddy.pid",
		    s->dir);
		return 0;
	}
	snprintf(tmp, sizeof tmp, "%s", s->config);
	snprintf(s->confdir, sizeof s->confdir, "%s", dirname(tmp));
	snprintf(s->dir, sizeof s->dir, "%s/tug-%s", s->confdir, s->user);
	snprintf(s->snippet, sizeof s->snippet, "%s/conf.d/tug-%s.conf",
	    s->confdir, s->user);
	/* sudo skips a file whose name has a dot. */
	snprintf(s->sudoers, sizeof s->sudoers, SYS_SUDOERS_DIR "/tug-%s",
	    s->user);
	for (p = s->sudoers + strlen(SYS_SUDOERS_DIR "/"); *p != '\0'; p++)
		if (*p == '.')
			*p = '_';
	return 0;
}

/*
 * The pid file of the host's master, and whether it listens on IPv6, from
 * `nginx -T`: the first `pid` directive, else nginx -V's --pid-path.
 */
static void
sys_read_conf(struct sys *s, struct buf *dump)
{
	struct buf	 v = BUF_INIT;
	char		 err[256], *line, *save = NULL, *p;
	size_t		 n;

	for (line = strtok_r(dump->ptr, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		while (isspace((unsigned char)*line))
			line++;
		if (strncmp(line, "listen", 6) == 0 && isspace((unsigned char)
		    line[6]) && strstr(line, "[::]") != NULL)
			s->ipv6 = 1;
		if (s->pid_file[0] != '\0' || strncmp(line, "pid", 3) != 0 ||
		    !isspace((unsigned char)line[3]))
			continue;
		for (p = line + 3; isspace((unsigned char)*p); p++)
			;
		n = strcspn(p, "; \t");
		if (n > 0 && n < sizeof s->pid_file) {
			snprintf(s->pid_file, sizeof s->pid_file, "%.*s",
			    (int)n, p);
			if (!sys_path_ok(s->pid_file))
				s->pid_file[0] = '\0';
		}
	}
	if (s->pid_file[0] == '\0') {
		char *a[] = { s->binary, "-V", NULL };
		struct proc pr = { a, NULL, 1, 65536, SYS_RUN_MS, NULL, NULL };

		if (proc_run(&pr, &v, err, sizeof err) == 0 &&
		    (p = strstr(buf_str(&v), "--pid-path=")) != NULL) {
			p += 11;
			snprintf(s->pid_file, sizeof s->pid_file, "%.*s",
			    (int)strcspn(p, " \n"), p);
			if (!sys_path_ok(s->pid_file))
				s->pid_file[0] = '\0';
		}
	}
	if (s->pid_file[0] == '\0')
		snprintf(s->pid_file, sizeof s->pid_file, "/run/nginx.pid");
	buf_release(&v);
}

/* Write path as root with mode, or print why. */
static int
sys_write(const char *path, const char *text, mode_t mode)
{
	if (fs_write_atomic(path, text, strlen(text), mode) == -1)
		return sys_fail(SYS_EXIT_FAIL, "cannot write %s: %s", path,
		    strerror(errno));
	return 0;
}

/* Our include dir: a real directory of the user's, made when missing. */
static int
sys_dir(const struct sys *s, int *made)
{
	char		 path[PATH_MAX_TUG + 64], text[256];
	struct stat	 st;

	*made = 0;
	if (lstat(s->dir, &st) == 0) {
		if (!S_ISDIR(st.st_mode) || st.st_uid != s->uid)
			return sys_fail(SYS_EXIT_FAIL, "%s exists and is not a "
			    "directory of %s's: tug does not touch it", s->dir,
			    s->user);
	} else if (errno != ENOENT || mkdir(s->dir, 0700) == -1)
		return sys_fail(SYS_EXIT_FAIL, "cannot create %s: %s", s->dir,
		    strerror(errno));
	else
		*made = 1;
	if (chown(s->dir, s->uid, s->gid) == -1)
		return sys_fail(SYS_EXIT_FAIL, "cannot chown %s: %s", s->dir,
		    strerror(errno));
	snprintf(path, sizeof path, "%s/tug.conf", s->dir);
	if (lstat(path, &st) == 0)
		return 0;
	/* An http-only directive: included anywhere else, nginx -t fails. */
	snprintf(text, sizeof text, "# tug.conf: tug-agent's part of this "
	    "nginx; proxy.setup writes it.\nmap $host $tug_%lu_ready { "
	    "default 1; }\n", (unsigned long)s->uid);
	if (sys_write(path, text, 0600) != 0)
		return SYS_EXIT_FAIL;
	if (chown(path, s->uid, s->gid) == -1)
		return sys_fail(SYS_EXIT_FAIL, "cannot chown %s: %s", path,
		    strerror(errno));
	return 0;
}

static void
sys_rm_dir(const struct sys *s)
{
	char		 tmp[PATH_MAX_TUG];
	struct stat	 st;
	int		 dfd;

	if (lstat(s->dir, &st) == -1 || !S_ISDIR(st.st_mode) ||
	    st.st_uid != s->uid)
		return;
	snprintf(tmp, sizeof tmp, "%s", s->confdir);
	if ((dfd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return;
	if (fs_remove_tree(dfd, s->dir + strlen(s->confdir) + 1) == -1)
		log_warn("cannot remove %s", s->dir);
	close(dfd);
}

static int
sys_sudoers(const struct sys *s)
{
	char		 tmp[160], text[3 * PATH_MAX_TUG + 512], err[256];
	char		*argv[] = { SYS_VISUDO, "-c", "-q", "-f", tmp, NULL };
	struct proc	 p = { argv, NULL, 1, 65536, SYS_RUN_MS, NULL, NULL };
	struct buf	 out = BUF_INIT;
	struct stat	 st;
	int		 st_;

	if (stat(SYS_SUDOERS_DIR, &st) == -1 || !S_ISDIR(st.st_mode))
		return sys_fail(SYS_EXIT_FAIL, "no " SYS_SUDOERS_DIR ": is "
		    "sudo installed?");
	/* sudo reads no file whose name has a dot: the draft is inert. */
	snprintf(tmp, sizeof tmp, SYS_SUDOERS_DIR "/.tug-%s.new", s->user);
	snprintf(text, sizeof text,
	    "# tug: %s may test and reload the host's nginx, and nothing "
	    "else.\n# Written by tug host bootstrap --proxy-mode system; "
	    "tug host rm --purge removes it.\n"
	    "%s ALL=(root) NOPASSWD: %s -t -c %s, %s -s reload -c %s\n",
	    s->user, s->user, s->binary, s->config, s->binary, s->config);
	if (sys_write(tmp, text, 0440) != 0)
		return SYS_EXIT_FAIL;
	st_ = proc_run(&p, &out, err, sizeof err);
	if (st_ != 0) {
		unlink(tmp);
		st_ = sys_fail(SYS_EXIT_FAIL, "visudo -c refused the rule: %s",
		    st_ == -1 ? err : buf_str(&out));
		buf_release(&out);
		return st_;
	}
	buf_release(&out);
	if (rename(tmp, s->sudoers) == -1) {
		unlink(tmp);
		return sys_fail(SYS_EXIT_FAIL, "cannot install %s: %s",
		    s->sudoers, strerror(errno));
	}
	return 0;
}

static int
sys_setup(struct sys *s)
{
	struct buf	 dump = BUF_INIT;
	struct stat	 st;
	char		 text[PATH_MAX_TUG + 256], err[256], mark[PATH_MAX_TUG + 64];
	char		 confd[PATH_MAX_TUG + 16], *js;
	json_t		*j;
	int		 made = 0, r;

	if (stat(s->binary, &st) == -1 || !S_ISREG(st.st_mode) ||
	    access(s->binary, X_OK) == -1)
		return sys_fail(SYS_EXIT_NONGX, "nginx is not installed: no "
		    "program at %s", s->binary);
	if (stat(s->config, &st) == -1 || !S_ISREG(st.st_mode))
		return sys_fail(SYS_EXIT_NONGX, "no nginx config at %s",
		    s->config);
	if ((r = sys_test(s, "the host's nginx config is broken before tug "
	    "touched it")) != 0)
		return r;
	snprintf(confd, sizeof confd, "%s/conf.d", s->confdir);
	if (stat(confd, &st) == -1 || !S_ISDIR(st.st_mode))
		return sys_fail(SYS_EXIT_CONF, "%s has no conf.d directory, "
		    "where tug's include goes: create it and add `include "
		    "%s/*.conf;` inside http {} of %s", s->confdir, confd,
		    s->config);
	if ((r = sys_dir(s, &made)) != 0)
		return r;
	snprintf(text, sizeof text, "# tug: the sites of tug-agent as %s "
	    "(tug host bootstrap --proxy-mode system).\n# tug host rm --purge "
	    "removes this file.\ninclude %s/tug.conf;\n", s->user, s->dir);
	if ((r = sys_write(s->snippet, text, 0644)) != 0)
		goto undo;
	if ((r = sys_test(s, "with tug's include")) != 0)
		goto undo;
	if ((r = sys_nginx(s, "-T", NULL, &dump, err, sizeof err)) != 0) {
		r = sys_fail(SYS_EXIT_FAIL, "nginx -T: %s", r == -1 ? err :
		    buf_str(&dump));
		goto undo;
	}
	snprintf(mark, sizeof mark, "# configuration file %s/tug.conf:",
	    s->dir);
	if (strstr(buf_str(&dump), mark) == NULL) {
		r = sys_fail(SYS_EXIT_CONF, "%s does not include %s/*.conf: "
		    "add `include %s/*.conf;` inside its http {} block",
		    s->config, confd, confd);
		goto undo;
	}
	sys_read_conf(s, &dump);
	if ((r = sys_sudoers(s)) != 0)
		goto undo;
	j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:s, s:s}",
	    "kind", "nginx", "mode", "system", "binary", s->binary,
	    "config", s->config, "dir", s->dir, "pid_file", s->pid_file,
	    "ipv6", s->ipv6, "snippet", s->snippet, "sudoers", s->sudoers);
	if (j == NULL || (js = json_dumps(j, JSON_COMPACT)) == NULL)
		fatalx("out of memory");
	printf("%s\n", js);
	free(js);
	json_decref(j);
	buf_release(&dump);
	return 0;
undo:
	buf_release(&dump);
	unlink(s->snippet);
	if (made)
		sys_rm_dir(s);
	return r;
}

static int
sys_undo(struct sys *s)
{
	struct buf	 out = BUF_INIT;
	json_t		*j, *gone = json_array();
	char		 err[256], *js;
	int		 reloaded = 0, st;

	if (unlink(s->snippet) == 0)
		json_array_append_new(gone, json_string(s->snippet));
	else if (errno != ENOENT)
		return sys_fail(SYS_EXIT_FAIL, "cannot remove %s: %s",
		    s->snippet, strerror(errno));
	if (access(s->binary, X_OK) == 0 && sys_test(s, "without tug's "
	    "include") == 0) {
		st = sys_nginx(s, "-s", "reload", &out, err, sizeof err);
		reloaded = st == 0;
		if (st != 0)
			fprintf(stderr, "tug-agent: nginx -s reload: %s "
			    "(not running?)\n", st == -1 ? err :
			    buf_str(&out));
	}
	if (unlink(s->sudoers) == 0)
		json_array_append_new(gone, json_string(s->sudoers));
	if (access(s->dir, F_OK) == 0) {
		sys_rm_dir(s);
		if (access(s->dir, F_OK) == -1)
			json_array_append_new(gone, json_string(s->dir));
	}
	j = json_pack("{s:o, s:b}", "removed", gone, "reloaded", reloaded);
	if (j == NULL || (js = json_dumps(j, JSON_COMPACT)) == NULL)
		fatalx("out of memory");
	printf("%s\n", js);
	free(js);
	json_decref(j);
	buf_release(&out);
	return 0;
}

/*
 * Caddy (DESIGN §6, §7 "Caddy 2.6.2 pitfalls"). The agent drives the
 * host's Caddy through its admin API on a unix socket, without sudo: the
 * socket lives in DIR (dirname of --admin, a directory of the user's,
 * group tug, mode 2770: Caddy creates the socket and its log there, and
 * with umask 0007 both are the group's), the user joins group tug, and
 * Caddy runs with --resume so that what the API changed survives a
 * restart. DIR/initial.json is the config it starts from: the host's
 * Caddyfile (--config) adapted, with the admin block. On a systemd host a
 * drop-in for caddy.service runs it that way; elsewhere whoever runs Caddy
 * starts it so, and setup says how. What setup added is recorded in
 * DIR.setup (root's), which undo reads.
 */
#define SYS_CADDY_GROUP		"tug"
#define SYS_GROUPADD		"/usr/sbin/groupadd"
#define SYS_GROUPDEL		"/usr/sbin/groupdel"
#define SYS_GPASSWD		"/usr/bin/gpasswd"
#define SYS_SYSTEMCTL		"/usr/bin/systemctl"
#define SYS_SYSTEMD_RUN		"/run/systemd/system"
#define SYS_DROPIN_DIR		"/etc/systemd/system/caddy.service.d"
#define SYS_DROPIN		SYS_DROPIN_DIR "/tug.conf"
#define SYS_CADDY_WAIT_MS	15000
#define SYS_ADMIN_MAX		(16u << 20)

struct sys_caddy_rec {
	int		 group_created;
	int		 user_added;
	int		 dir_created;
	int		 dropin;
};

/* Run argv (fixed words and checked paths); 0, or print why and fail. */
static int
sys_exec(char *const argv[], struct buf *out, const char *what)
{
	struct proc	 p;
	char		 err[256];
	int		 st;

	memset(&p, 0, sizeof p);
	p.argv = argv;
	p.stdout_too = 1;
	p.max_out = SYS_OUT_MAX;
	p.timeout_ms = SYS_RUN_MS;
	buf_reset(out);
	if ((st = proc_run(&p, out, err, sizeof err)) == -1)
		return sys_fail(SYS_EXIT_FAIL, "cannot run %s: %s", argv[0],
		    err);
	if (st != 0) {
		char	line[400];
		size_t	n = strcspn(buf_str(out), "\n");

		log_escape(line, sizeof line, buf_str(out), n);
		return sys_fail(SYS_EXIT_FAIL, "%s failed (exit %d): %s", what,
		    st, line);
	}
	return 0;
}

static void
sys_caddy_recpath(const struct sys *s, char *dst, size_t dstsz)
{
	snprintf(dst, dstsz, "%s.setup", s->dir);
}

static void
sys_caddy_rec_read(const struct sys *s, struct sys_caddy_rec *r)
{
	char		 path[PATH_MAX_TUG + 16];
	struct buf	 b = BUF_INIT;
	json_t		*j;

	memset(r, 0, sizeof *r);
	sys_caddy_recpath(s, path, sizeof path);
	if (fs_read_file(path, &b, 4096) == 0 && (j = json_loadb(b.ptr,
	    b.len, 0, NULL)) != NULL) {
		r->group_created = json_is_true(json_object_get(j,
		    "group_created"));
		r->user_added = json_is_true(json_object_get(j, "user_added"));
		r->dir_created = json_is_true(json_object_get(j,
		    "dir_created"));
		r->dropin = json_is_true(json_object_get(j, "dropin"));
		json_decref(j);
	}
	buf_release(&b);
}

static int
sys_caddy_rec_write(const struct sys *s, const struct sys_caddy_rec *r)
{
	char	 path[PATH_MAX_TUG + 16], *text;
	json_t	*j;
	int	 rc;

	sys_caddy_recpath(s, path, sizeof path);
	j = json_pack("{s:s, s:s, s:b, s:b, s:b, s:b}", "user", s->user,
	    "admin", s->admin, "group_created", r->group_created,
	    "user_added", r->user_added, "dir_created", r->dir_created,
	    "dropin", r->dropin);
	if (j == NULL || (text = json_dumps(j, JSON_COMPACT)) == NULL)
		fatalx("out of memory");
	json_decref(j);
	rc = sys_write(path, text, 0600);
	free(text);
	return rc;
}

/* Is the user in group g (as a member, or by its primary group)? */
static int
sys_in_group(const struct sys *s, const struct group *g)
{
	char	**m;

	if (s->gid == g->gr_gid)
		return 1;
	for (m = g->gr_mem; m != NULL && *m != NULL; m++)
		if (strcmp(*m, s->user) == 0)
			return 1;
	return 0;
}

/* Group tug, made when missing, with the user in it; its gid. */
static int
sys_caddy_group(const struct sys *s, struct sys_caddy_rec *r, gid_t *gid,
    int *created, int *added)
{
	char		*ga[] = { SYS_GROUPADD, "--system", SYS_CADDY_GROUP, NULL };
	char		*gp[] = { SYS_GPASSWD, "-a", (char *)s->user,
			    SYS_CADDY_GROUP, NULL };
	struct buf	 out = BUF_INIT;
	struct group	*g;
	int		 rc = 0;

	*created = *added = 0;
	if ((g = getgrnam(SYS_CADDY_GROUP)) == NULL) {
		if ((rc = sys_exec(ga, &out, "groupadd " SYS_CADDY_GROUP)) != 0)
			goto out;
		*created = r->group_created = 1;
		if ((g = getgrnam(SYS_CADDY_GROUP)) == NULL) {
			rc = sys_fail(SYS_EXIT_FAIL, "group " SYS_CADDY_GROUP
			    " is not there after groupadd");
			goto out;
		}
	}
	*gid = g->gr_gid;
	if (!sys_in_group(s, g)) {
		if ((rc = sys_exec(gp, &out, "gpasswd -a")) != 0)
			goto out;
		*added = r->user_added = 1;
	}
out:
	buf_release(&out);
	return rc;
}

/*
 * DIR: a real directory of the user's, group tug, mode 2770 (the setgid
 * bit gives Caddy's socket and log the group), made when missing.
 */
static int
sys_caddy_dir(const struct sys *s, gid_t gid, struct sys_caddy_rec *r)
{
	struct stat	st;

	if (lstat(s->dir, &st) == 0) {
		if (!S_ISDIR(st.st_mode) || st.st_uid != s->uid)
			return sys_fail(SYS_EXIT_FAIL, "%s exists and is not a "
			    "directory of %s's: tug does not touch it", s->dir,
			    s->user);
	} else if (errno != ENOENT || mkdir(s->dir, 0700) == -1)
		return sys_fail(SYS_EXIT_FAIL, "cannot create %s: %s", s->dir,
		    strerror(errno));
	else
		r->dir_created = 1;
	if (chown(s->dir, s->uid, gid) == -1 || chmod(s->dir, 02770) == -1)
		return sys_fail(SYS_EXIT_FAIL, "cannot give %s to %s:"
		    SYS_CADDY_GROUP ": %s", s->dir, s->user, strerror(errno));
	return 0;
}

/*
 * The host's Caddyfile adapted to JSON (`caddy adapt`), or an empty
 * config when there is none: a new object, or NULL with the reason
 * printed. caddy adapt writes its warnings before the one-line result.
 */
static json_t *
sys_caddy_adapt(const struct sys *s, int *rc)
{
	char		*argv[] = { (char *)s->binary, "adapt", "--config",
			    (char *)s->config, "--adapter", "caddyfile", NULL };
	struct proc	 p;
	struct buf	 out = BUF_INIT;
	struct stat	 st;
	char		 err[256], line[400], *l, *save = NULL;
	json_t		*j = NULL, *cand;
	int		 status;

	*rc = 0;
	if (stat(s->config, &st) == -1 && errno == ENOENT)
		return json_object();
	if (stat(s->config, &st) == -1 || !S_ISREG(st.st_mode)) {
		*rc = sys_fail(SYS_EXIT_CONF, "the host's Caddyfile %s is not "
		    "a file", s->config);
		return NULL;
	}
	memset(&p, 0, sizeof p);
	p.argv = argv;
	p.stdout_too = 1;
	p.max_out = SYS_OUT_MAX;
	p.timeout_ms = SYS_RUN_MS;
	if ((status = proc_run(&p, &out, err, sizeof err)) != 0) {
		if (status == -1)
			snprintf(line, sizeof line, "%s", err);
		else
			log_escape(line, sizeof line, buf_str(&out),
			    strcspn(buf_str(&out), "\n"));
		*rc = sys_fail(SYS_EXIT_CONF, "the host's Caddyfile does not "
		    "adapt: caddy adapt --config %s fails: %s", s->config,
		    line);
		buf_release(&out);
		return NULL;
	}
	for (l = strtok_r(out.ptr, "\n", &save); l != NULL;
	    l = strtok_r(NULL, "\n", &save)) {
		if (l[0] != '{' || (cand = json_loads(l, 0, NULL)) == NULL)
			continue;
		if (json_is_object(cand) && json_object_get(cand, "level") ==
		    NULL) {
			json_decref(j);
			j = cand;
		} else
			json_decref(cand);
	}
	buf_release(&out);
	if (j == NULL)
		*rc = sys_fail(SYS_EXIT_CONF, "caddy adapt --config %s gave no "
		    "JSON config", s->config);
	return j;
}

/* The admin block every config of this Caddy carries. */
static json_t *
sys_caddy_admin(const struct sys *s)
{
	char	listen[PATH_MAX_TUG + 8];

	snprintf(listen, sizeof listen, "unix/%s", s->admin);
	return json_pack("{s:s, s:[s], s:{s:b}}", "listen", listen, "origins",
	    "localhost", "config", "persist", 1);
}

static size_t
sys_collect(char *p, size_t size, size_t n, void *arg)
{
	struct buf	*b = arg;

	if (b->len + size * n > SYS_ADMIN_MAX)
		return 0;
	buf_add(b, p, size * n);
	return size * n;
}

/*
 * One request to Caddy's admin socket (as root: whatever its mode); the
 * HTTP status, or -1 with why. body NULL: a GET.
 */
static long
sys_caddy_api(const struct sys *s, const char *method, const char *path,
    json_t *body, struct buf *resp, char *why, size_t whysz)
{
	CURL			*h;
	struct curl_slist	*hdrs = NULL;
	char			 url[300], *text = NULL;
	long			 status = -1;
	CURLcode		 rc;

	if ((h = curl_easy_init()) == NULL)
		return snprintf(why, whysz, "curl_easy_init failed"), -1;
	snprintf(url, sizeof url, "http://localhost%s", path);
	curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, s->admin);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROXY, "");
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 30000L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sys_collect);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, resp);
	if (body != NULL) {
		if ((text = json_dumps(body, JSON_COMPACT)) == NULL)
			fatalx("out of memory");
		hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, text);
	}
	hdrs = curl_slist_append(hdrs, "Expect:");
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	buf_reset(resp);
	if ((rc = curl_easy_perform(h)) == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	else
		snprintf(why, whysz, "%s", curl_easy_strerror(rc));
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(h);
	free(text);
	return status;
}

/* The pid of the process behind the admin socket (SO_PEERCRED), or 0. */
static long
sys_caddy_peer(const struct sys *s)
{
	struct sockaddr_un	sun;
	struct ucred		cred;
	socklen_t		len = sizeof cred;
	long			pid = 0;
	int			fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", s->admin);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return 0;
	if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == 0 &&
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
		pid = cred.pid;
	close(fd);
	return pid;
}

/* Does pid run with the argument word? */
static int
sys_has_arg(long pid, const char *word)
{
	char		 path[64];
	struct buf	 b = BUF_INIT;
	size_t		 i;
	int		 yes = 0;

	snprintf(path, sizeof path, "/proc/%ld/cmdline", pid);
	if (fs_read_file(path, &b, 65536) == 0)
		for (i = 0; i < b.len; i += strlen(b.ptr + i) + 1)
			if (strcmp(b.ptr + i, word) == 0)
				yes = 1;
	buf_release(&b);
	return yes;
}

/*
 * Caddy answers on the socket, runs with --resume, and the socket is the
 * group's to use: 0 and its pid, else the exit code with why printed.
 */
static int
sys_caddy_ready(const struct sys *s, gid_t gid, int systemd, long *pidp)
{
	struct buf	 resp = BUF_INIT;
	struct stat	 st;
	char		 why[256] = "no answer";
	long		 status, pid;
	uint64_t	 end = 0;
	struct timespec	 ts = { 0, 100 * 1000 * 1000 };

	if (systemd)
		end = (uint64_t)time(NULL) + SYS_CADDY_WAIT_MS / 1000;
	for (;;) {
		status = sys_caddy_api(s, "GET", "/config/", NULL, &resp, why,
		    sizeof why);
		if (status == 200 || (uint64_t)time(NULL) >= end)
			break;
		nanosleep(&ts, NULL);
	}
	buf_release(&resp);
	if (status != 200) {
		if (status > 0)
			snprintf(why, sizeof why, "GET /config/ answered %ld",
			    status);
		if (systemd)
			return sys_fail(SYS_EXIT_NOTRUN, "the host's caddy does "
			    "not answer on %s after systemctl restart caddy "
			    "(%s): see journalctl -u caddy", s->admin, why);
		return sys_fail(SYS_EXIT_NOTRUN, "the host's caddy does not "
		    "answer on %s (%s), and this host has no systemd to start "
		    "it: start it with umask 0007, in group " SYS_CADDY_GROUP
		    ", as root or with CAP_NET_BIND_SERVICE: `%s run --resume "
		    "--config %s/initial.json --pidfile %s`; then bootstrap "
		    "again", s->admin, why, s->binary, s->dir, s->pid_file);
	}
	pid = sys_caddy_peer(s);
	if (pid <= 0 || !sys_has_arg(pid, "--resume"))
		return sys_fail(SYS_EXIT_NOTRUN, "the host's caddy (pid %ld) "
		    "on %s runs without --resume: what tug changes through "
		    "its API would be gone at its next start; run it as `%s "
		    "run --resume --config %s/initial.json`", pid, s->admin,
		    s->binary, s->dir);
	if (stat(s->admin, &st) == -1 || !S_ISSOCK(st.st_mode) ||
	    st.st_gid != gid || (st.st_mode & 0060) != 0060)
		return sys_fail(SYS_EXIT_NOTRUN, "%s is not a socket the group "
		    SYS_CADDY_GROUP " may use (mode %o): run caddy with umask "
		    "0007 (UMask=0007)", s->admin, (unsigned)(st.st_mode &
		    07777));
	*pidp = pid;
	return 0;
}

/* The drop-in that runs caddy.service the way tug needs it. */
static int
sys_caddy_dropin(const struct sys *s, struct sys_caddy_rec *r)
{
	char		*reload[] = { SYS_SYSTEMCTL, "daemon-reload", NULL };
	char		*restart[] = { SYS_SYSTEMCTL, "restart", "caddy.service",
			    NULL };
	char		 text[4 * PATH_MAX_TUG + 1024];
	struct buf	 old = BUF_INIT, out = BUF_INIT;
	int		 rc;

	if (fs_read_file(SYS_DROPIN, &old, 65536) == 0 &&
	    strstr(buf_str(&old), s->dir) == NULL) {
		buf_release(&old);
		return sys_fail(SYS_EXIT_FAIL, SYS_DROPIN " is there for "
		    "another directory: another tug agent drives this host's "
		    "caddy (one admin API, one agent)");
	}
	buf_release(&old);
	if (fs_mkdirs(SYS_DROPIN_DIR, 0755) == -1)
		return sys_fail(SYS_EXIT_FAIL, "cannot create " SYS_DROPIN_DIR
		    ": %s", strerror(errno));
	snprintf(text, sizeof text,
	    "# tug: tug-agent as %s drives this caddy through its admin API, "
	    "a unix socket\n# in %s (group " SYS_CADDY_GROUP "); --resume "
	    "keeps what the API changed.\n# Written by tug host bootstrap "
	    "--proxy caddy --proxy-mode system; tug host rm\n# --purge "
	    "removes it. Debian's unit gives CAP_NET_BIND_SERVICE already.\n"
	    "[Service]\nExecStart=\nExecStart=%s run --environ --resume "
	    "--config %s/initial.json --pidfile %s\nExecReload=\n"
	    "Environment=XDG_CONFIG_HOME=%s/config\nSupplementaryGroups="
	    SYS_CADDY_GROUP "\nUMask=0007\n"
	    "AmbientCapabilities=CAP_NET_BIND_SERVICE\n", s->user, s->dir,
	    s->binary, s->dir, s->pid_file, s->dir);
	if ((rc = sys_write(SYS_DROPIN, text, 0644)) != 0)
		return rc;
	r->dropin = 1;
	if ((rc = sys_exec(reload, &out, "systemctl daemon-reload")) == 0)
		rc = sys_exec(restart, &out, "systemctl restart caddy");
	buf_release(&out);
	return rc;
}

static int
sys_caddy_setup(struct sys *s)
{
	char		*ver[] = { s->binary, "version", NULL };
	struct sys_caddy_rec r;
	struct buf	 out = BUF_INIT;
	struct stat	 st;
	char		 path[PATH_MAX_TUG + 32], *text;
	const char	*v;
	json_t		*cfg = NULL, *j;
	gid_t		 gid = 0;
	long		 pid = 0;
	int		 rc, systemd, created, added;

	if (stat(s->binary, &st) == -1 || !S_ISREG(st.st_mode) ||
	    access(s->binary, X_OK) == -1)
		return sys_fail(SYS_EXIT_NONGX, "caddy is not installed: no "
		    "program at %s", s->binary);
	if ((rc = sys_exec(ver, &out, "caddy version")) != 0)
		goto out;
	/* Its version line, among what it logs without a HOME. */
	for (v = buf_str(&out); *v != '\0'; v += strcspn(v, "\n"),
	    v += *v == '\n')
		if (strncmp(v, "v2.", 3) == 0 || strncmp(v, "2.", 2) == 0)
			break;
	if (*v == '\0') {
		rc = sys_fail(SYS_EXIT_NONGX, "%s is not caddy 2 (caddy "
		    "version says no version)", s->binary);
		goto out;
	}
	if ((cfg = sys_caddy_adapt(s, &rc)) == NULL)
		goto out;
	systemd = stat(SYS_SYSTEMD_RUN, &st) == 0 && S_ISDIR(st.st_mode);
	sys_caddy_rec_read(s, &r);
	if ((rc = sys_caddy_group(s, &r, &gid, &created, &added)) != 0)
		goto out;
	if (created)
		printf("tug-agent: made group " SYS_CADDY_GROUP "\n");
	if (added)
		printf("tug-agent: added %s to group " SYS_CADDY_GROUP " (its "
		    "new sessions have it)\n", s->user);
	if ((rc = sys_caddy_dir(s, gid, &r)) != 0 ||
	    (rc = sys_caddy_rec_write(s, &r)) != 0)
		goto out;
	json_object_set_new(cfg, "admin", sys_caddy_admin(s));
	if ((text = json_dumps(cfg, JSON_INDENT(1) | JSON_SORT_KEYS)) == NULL)
		fatalx("out of memory");
	snprintf(path, sizeof path, "%s/initial.json", s->dir);
	rc = sys_write(path, text, 0644);
	free(text);
	if (rc != 0)
		goto out;
	if (systemd && ((rc = sys_caddy_dropin(s, &r)) != 0 ||
	    (rc = sys_caddy_rec_write(s, &r)) != 0))
		goto out;
	if ((rc = sys_caddy_ready(s, gid, systemd, &pid)) != 0)
		goto out;
	j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:s, s:s, s:b, "
	    "s:b, s:s, s:I}", "kind", "caddy", "mode", "system", "binary",
	    s->binary, "config", s->admin, "dir", s->dir, "pid_file",
	    s->pid_file, "ipv6", 0, "caddyfile", s->config, "group",
	    SYS_CADDY_GROUP, "group_created", created, "user_added", added,
	    "dropin", r.dropin ? SYS_DROPIN : "", "pid", (json_int_t)pid);
	if (j == NULL || (text = json_dumps(j, JSON_COMPACT)) == NULL)
		fatalx("out of memory");
	printf("%s\n", text);
	free(text);
	json_decref(j);
out:
	json_decref(cfg);
	buf_release(&out);
	return rc;
}

/* Take tug's servers, routes, TLS policies and log out of a config. */
static void
sys_caddy_strip(json_t *cfg)
{
	json_t		*servers, *srv, *routes, *pol, *logs;
	const char	*name, *id;
	void		*tmp;
	size_t		 i;

	servers = json_object_get(json_object_get(json_object_get(cfg,
	    "apps"), "http"), "servers");
	json_object_foreach_safe(servers, tmp, name, srv) {
		if (strcmp(name, "tug") == 0 || strcmp(name, "tug-tls") == 0) {
			json_object_del(servers, name);
			continue;
		}
		routes = json_object_get(srv, "routes");
		for (i = json_array_size(routes); i-- > 0; ) {
			id = json_string_value(json_object_get(
			    json_array_get(routes, i), "@id"));
			if (id != NULL && strncmp(id, "tug-", 4) == 0)
				json_array_remove(routes, i);
		}
	}
	pol = json_object_get(json_object_get(json_object_get(json_object_get(
	    cfg, "apps"), "tls"), "automation"), "policies");
	for (i = json_array_size(pol); i-- > 0; ) {
		id = json_string_value(json_object_get(json_array_get(pol, i),
		    "@id"));
		if (id != NULL && strncmp(id, "tug-", 4) == 0)
			json_array_remove(pol, i);
	}
	logs = json_object_get(json_object_get(cfg, "logging"), "logs");
	json_object_del(logs, "tug");
}

static int
sys_caddy_undo(struct sys *s)
{
	char		*reload[] = { SYS_SYSTEMCTL, "daemon-reload", NULL };
	char		*restart[] = { SYS_SYSTEMCTL, "restart", "caddy.service",
			    NULL };
	char		*gd[] = { SYS_GPASSWD, "-d", (char *)s->user,
			    SYS_CADDY_GROUP, NULL };
	char		*gdel[] = { SYS_GROUPDEL, SYS_CADDY_GROUP, NULL };
	struct sys_caddy_rec r;
	struct buf	 resp = BUF_INIT, out = BUF_INIT, d = BUF_INIT;
	struct group	*g;
	struct stat	 st;
	char		 why[256], path[PATH_MAX_TUG + 16], *js, tmp[PATH_MAX_TUG];
	json_t		*cfg, *j, *gone = json_array();
	int		 reloaded = 0, dfd, ours;

	sys_caddy_rec_read(s, &r);
	ours = fs_read_file(SYS_DROPIN, &d, 65536) == 0 &&
	    strstr(buf_str(&d), s->dir) != NULL;
	buf_release(&d);
	if (ours) {
		/* caddy.service goes back to the host's own Caddyfile. */
		if (unlink(SYS_DROPIN) == 0)
			json_array_append_new(gone, json_string(SYS_DROPIN));
		rmdir(SYS_DROPIN_DIR);
		if (sys_exec(reload, &out, "systemctl daemon-reload") == 0 &&
		    sys_exec(restart, &out, "systemctl restart caddy") == 0)
			reloaded = 1;
	} else if (sys_caddy_api(s, "GET", "/config/", NULL, &resp, why,
	    sizeof why) == 200 && (cfg = json_loadb(resp.ptr, resp.len, 0,
	    NULL)) != NULL) {
		/* No unit of ours: Caddy's admin goes back to its default. */
		sys_caddy_strip(cfg);
		json_object_del(cfg, "admin");
		if (sys_caddy_api(s, "POST", "/load", cfg, &resp, why,
		    sizeof why) == 200)
			reloaded = 1;
		else
			fprintf(stderr, "tug-agent: caddy refused the config "
			    "without tug's sites: %.200s\n", resp.len > 0 ?
			    buf_str(&resp) : why);
		json_decref(cfg);
	}
	if (lstat(s->dir, &st) == 0 && S_ISDIR(st.st_mode) &&
	    st.st_uid == s->uid) {
		snprintf(tmp, sizeof tmp, "%s", s->dir);
		if ((dfd = open(dirname(tmp), O_RDONLY | O_DIRECTORY |
		    O_CLOEXEC)) != -1) {
			snprintf(tmp, sizeof tmp, "%s", s->dir);
			if (fs_remove_tree(dfd, basename(tmp)) == 0)
				json_array_append_new(gone,
				    json_string(s->dir));
			else
				log_warn("cannot remove %s", s->dir);
			close(dfd);
		}
	}
	if (r.user_added && (g = getgrnam(SYS_CADDY_GROUP)) != NULL &&
	    sys_in_group(s, g) && sys_exec(gd, &out, "gpasswd -d") == 0)
		printf("tug-agent: removed %s from group " SYS_CADDY_GROUP "\n",
		    s->user);
	if (r.group_created && (g = getgrnam(SYS_CADDY_GROUP)) != NULL &&
	    (g->gr_mem == NULL || g->gr_mem[0] == NULL) &&
	    sys_exec(gdel, &out, "groupdel") == 0)
		printf("tug-agent: removed group " SYS_CADDY_GROUP "\n");
	sys_caddy_recpath(s, path, sizeof path);
	if (unlink(path) == 0)
		json_array_append_new(gone, json_string(path));
	j = json_pack("{s:o, s:b}", "removed", gone, "reloaded", reloaded);
	if (j == NULL || (js = json_dumps(j, JSON_COMPACT)) == NULL)
		fatalx("out of memory");
	printf("%s\n", js);
	free(js);
	json_decref(j);
	buf_release(&resp);
	buf_release(&out);
	return 0;
}

int
system_main(int argc, char **argv)
{
	struct sys	s;
	int		r;

	if ((r = sys_args(argc, argv, &s)) != 0)
		return r;
	umask(022);
	if (strcmp(s.kind, "caddy") == 0)
		return strcmp(argv[1], "system-setup") == 0 ?
		    sys_caddy_setup(&s) : sys_caddy_undo(&s);
	return strcmp(argv[1], "system-setup") == 0 ? sys_setup(&s) :
	    sys_undo(&s);
}
