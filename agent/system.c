/*
 * system.c: `tug-agent system-setup` and `system-undo`, the only time the
 * agent runs as root (through sudo, once, from tug host bootstrap
 * --proxy-mode system). It readies the host's own nginx for the
 * unprivileged agent: an include dir of the SSH user's, a snippet in
 * conf.d that includes it, and a sudoers rule for exactly `nginx -t` and
 * `nginx -s reload`; undo takes exactly those away again (DESIGN §6).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

struct sys {
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
		{ NULL, 0, NULL, 0 }
	};
	struct passwd	*pw;
	char		 tmp[PATH_MAX_TUG], *p;
	int		 ch;

	memset(s, 0, sizeof *s);
	snprintf(s->binary, sizeof s->binary, "/usr/sbin/nginx");
	snprintf(s->config, sizeof s->config, "/etc/nginx/nginx.conf");
	if (argc < 3 || strcmp(argv[2], "nginx") != 0)
		return sys_fail(SYS_EXIT_USAGE, "usage: tug-agent %s nginx "
		    "--user USER [--binary PATH] [--config PATH]",
		    argc > 1 ? argv[1] : "system-setup");
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
			if (!sys_path_ok(optarg))
				return sys_fail(SYS_EXIT_USAGE, "invalid --%s: "
				    "a clean absolute path of letters, digits "
				    "and /._+- only", ch == 'b' ? "binary" :
				    "config");
			snprintf(ch == 'b' ? s->binary : s->config,
			    PATH_MAX_TUG, "%s", optarg);
			break;
		default:
			return SYS_EXIT_USAGE;
		}
	}
	if (optind != argc || s->user[0] == '\0')
		return sys_fail(SYS_EXIT_USAGE, "--user is required, and "
		    "nothing after the options");
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

int
system_main(int argc, char **argv)
{
	struct sys	s;
	int		r;

	if ((r = sys_args(argc, argv, &s)) != 0)
		return r;
	umask(022);
	return strcmp(argv[1], "system-setup") == 0 ? sys_setup(&s) :
	    sys_undo(&s);
}
