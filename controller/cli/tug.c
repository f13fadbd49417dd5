/*
 * tug.c: the command-line client. Finds the command in a table, turns its
 * arguments into one REQUEST for tugd (starting tugd first if none listens,
 * as tmux starts its server), prints the progress events as they come and
 * renders the result as text or, with --json, as JSON. Exit status: 0 done,
 * 1 failed or refused, 2 usage, 3 tugd unreachable.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "controller/tug.h"


enum ftype { F_BOOL, F_STR, F_LIST, F_U64, F_CSV, F_STDIN };

struct cli_flag {
	const char	*name;		/* --name */
	const char	*key;		/* in args */
	enum ftype	 type;
	const char	*help;
	int		 letter;	/* -x as well, or 0 */
};

struct cli_cmd {
	const char	*words;
	const char	*op;
	const char	*usage;
	const char	*help;
	int		 minargs;
	int		 maxargs;	/* -1: any number */
	const char	*pos[3];	/* arg keys; a last "*key" takes the rest */
	struct cli_flag	 flags[8];
	void		(*render)(struct mv *);
	int		 mode;
#define CMD_STREAM	0x1	/* log lines are the output; Ctrl-C cancels */
};

static void	render_init(struct mv *);
static void	render_status(struct mv *);
static void	render_key(struct mv *);
static void	render_host_add(struct mv *);
static void	render_host_list(struct mv *);
static void	render_host_check(struct mv *);
static void	render_host_bootstrap(struct mv *);
static void	render_host_rm(struct mv *);
static void	render_site_apply(struct mv *);
static void	render_site_list(struct mv *);
static void	render_site_status(struct mv *);
static void	render_site_rm(struct mv *);
static void	render_deploy(struct mv *);
static void	render_releases(struct mv *);
static void	render_power(struct mv *);
static void	render_env_list(struct mv *);
static void	render_env_set(struct mv *);
static void	render_image_push(struct mv *);
static void	render_logs(struct mv *);
static void	render_registry(struct mv *);
static void	render_user(struct mv *);
static void	render_user_list(struct mv *);
static void	render_user_show(struct mv *);
static void	render_user_key(struct mv *);
static void	render_grant(struct mv *);
static void	render_audit(struct mv *);
static void	render_audit_verify(struct mv *);

#define TARGET_FLAGS \
	{ "group", "group", F_STR, "hosts of this group" }, \
	{ "all", "all", F_BOOL, "every host (the default)" }

static const struct cli_cmd cmds[] = {
	{ "init", "init", "", "make the calling user the first admin",
	  0, 0, { NULL }, { { NULL } }, render_init },
	{ "status", "status", "", "show tugd's state",
	  0, 0, { NULL }, { { NULL } }, render_status },
	{ "key", "key.show", "", "print the SSH public key hosts must trust",
	  0, 0, { NULL }, { { NULL } }, render_key },
	{ "host add", "host.add",
	  "NAME [USER@]ADDR[:PORT] [--group G]... [--key PATH] [--hostkey SHA256:...]\n"
	  "          [--accept-new-hostkey] [--no-bootstrap] [--install-deps]",
	  "add a host: pin its host key, install the agent",
	  2, 2, { "name", "target" }, {
		{ "group", "groups", F_LIST, "put the host in group G" },
		{ "key", "key", F_STR, "SSH private key for this host" },
		{ "hostkey", "hostkey", F_STR, "expected host key fingerprint" },
		{ "accept-new-hostkey", "accept_new", F_BOOL,
		  "pin whatever key the host presents" },
		{ "no-bootstrap", "no_bootstrap", F_BOOL,
		  "do not install the agent now" },
		{ "install-deps", "install_deps", F_BOOL,
		  "apt-get the agent's libraries with sudo" },
		{ NULL } }, render_host_add },
	{ "host list", "host.list", "", "list hosts",
	  0, 0, { NULL }, { { NULL } }, render_host_list },
	{ "host rm", "host.rm", "NAME", "forget a host",
	  1, 1, { "name" }, { { NULL } }, render_host_rm },
	{ "host check", "host.check",
	  "[NAME...] [--group G] [--all] [--timeout MS]",
	  "ping the agents and show each host's facts",
	  0, -1, { "*hosts" }, { TARGET_FLAGS,
		{ "timeout", "timeout_ms", F_U64, "per-host timeout in ms" },
		{ NULL } }, render_host_check },
	{ "host bootstrap", "host.bootstrap",
	  "[NAME...] [--group G] [--all] [--install-deps] [--proxy nginx]\n"
	  "          [--proxy-port PORT] [--proxy-tls-port PORT]",
	  "install or update the agent (and a proxy) on hosts",
	  0, -1, { "*hosts" }, { TARGET_FLAGS,
		{ "install-deps", "install_deps", F_BOOL,
		  "apt-get the agent's libraries with sudo" },
		{ "proxy", "proxy", F_STR, "set up this proxy (nginx)" },
		{ "proxy-port", "proxy_port", F_U64,
		  "the proxy's port (default 8080)" },
		{ "proxy-tls-port", "proxy_tls_port", F_U64,
		  "also serve TLS sites on this port" },
		{ NULL } }, render_host_bootstrap },
	{ "site apply", "site.apply", "FILE [--dry-run]",
	  "check a site spec whole and store it (--dry-run: show the changes)",
	  1, 1, { "@text" }, {
		{ "dry-run", "dry_run", F_BOOL, "change nothing" },
		{ NULL } }, render_site_apply },
	{ "site list", "site.list", "", "list sites",
	  0, 0, { NULL }, { { NULL } }, render_site_list },
	{ "site status", "site.status", "SITE",
	  "each host's release, container state and health",
	  1, 1, { "site" }, { { NULL } }, render_site_status },
	{ "site rm", "site.rm", "SITE [--volumes]",
	  "remove a site from every host (containers, proxy config, files)",
	  1, 1, { "site" }, {
		{ "volumes", "volumes", F_BOOL,
		  "also delete the site's named volumes (its data)" },
		{ NULL } }, render_site_rm },
	{ "deploy", "deploy", "SITE [--image REF]",
	  "make a new release and roll it across the site's hosts",
	  1, 1, { "site" }, {
		{ "image", "image", F_STR, "deploy this image instead" },
		{ NULL } }, render_deploy },
	{ "rollback", "rollback", "SITE [RELEASE]",
	  "deploy an earlier release again (default: the previous one)",
	  1, 2, { "site", "#release" }, { { NULL } }, render_deploy },
	{ "releases", "releases", "SITE", "list a site's releases",
	  1, 1, { "site" }, { { NULL } }, render_releases },
	{ "start", "site.start", "SITE", "start a site's containers",
	  1, 1, { "site" }, { { NULL } }, render_power },
	{ "stop", "site.stop", "SITE", "stop a site's containers",
	  1, 1, { "site" }, { { NULL } }, render_power },
	{ "restart", "site.restart", "SITE", "stop, then start a site",
	  1, 1, { "site" }, { { NULL } }, render_power },
	{ "logs", "logs",
	  "SITE [-f|--follow] [-n|--tail N|all] [--since T] [--host H]\n"
	  "          [-t|--timestamps] [--json]",
	  "a site's container logs from all its hosts, merged in time order",
	  1, 1, { "site" }, {
		{ "follow", "follow", F_BOOL,
		  "keep printing new lines until Ctrl-C", 'f' },
		{ "tail", "tail", F_STR,
		  "lines from the end of each host's log (default 100, or all)",
		  'n' },
		{ "since", "since", F_STR,
		  "only lines since T: a Unix time, 10m, 2h, or RFC 3339" },
		{ "host", "host", F_STR, "only the lines of host H" },
		{ "timestamps", "timestamps", F_BOOL,
		  "show Docker's time of each line", 't' },
		{ "no-compress", "no_compress", F_BOOL,
		  "the agents send uncompressed frames (to measure)" },
		{ "stats", "stats", F_BOOL,
		  "print line and byte counts per host on stderr at the end" },
		{ NULL } }, render_logs, CMD_STREAM },
	{ "env set", "env.set", "SITE KEY=VALUE... [--secret] [--no-deploy]",
	  "set env values (a change redeploys the serving release)",
	  2, -1, { "site", "*vars" }, {
		{ "secret", "secret", F_BOOL, "encrypt at rest, never show" },
		{ "no-deploy", "no_deploy", F_BOOL, "apply at the next deploy" },
		{ NULL } }, render_env_set },
	{ "env unset", "env.unset", "SITE KEY... [--no-deploy]",
	  "remove env values set with env set",
	  2, -1, { "site", "*keys" }, {
		{ "no-deploy", "no_deploy", F_BOOL, "apply at the next deploy" },
		{ NULL } }, render_env_set },
	{ "env list", "env.list", "SITE", "a site's env (secrets masked)",
	  1, 1, { "site" }, { { NULL } }, render_env_list },
	{ "image push", "image.push",
	  "REF (--site SITE | --hosts H,...) [--file TARBALL]",
	  "stream an image from this machine's Docker to hosts, no registry",
	  1, 1, { "ref" }, {
		{ "site", "site", F_STR, "the hosts of this site" },
		{ "hosts", "hosts", F_CSV, "these hosts (comma-separated)" },
		{ "file", "file", F_STR, "a docker-save tarball instead" },
		{ NULL } }, render_image_push },
	{ "registry login", "registry.login",
	  "SERVER[:PORT] --username USER --password-stdin",
	  "store a registry login; deploys pull from it with these credentials",
	  1, 1, { "server" }, {
		{ "username", "username", F_STR, "the registry user" },
		{ "password-stdin", "password", F_STDIN,
		  "read the password from stdin" },
		{ NULL } }, render_registry },
	{ "registry logout", "registry.logout", "SERVER[:PORT]",
	  "forget a registry login",
	  1, 1, { "server" }, { { NULL } }, render_registry },
	{ "registry list", "registry.list", "",
	  "list registry logins (passwords never shown)",
	  0, 0, { NULL }, { { NULL } }, render_registry },
	{ "user add", "user.add", "NAME [--admin]",
	  "add a tug user (the OS user of that name, or SSH keys added later)",
	  1, 1, { "name" }, {
		{ "admin", "admin", F_BOOL, "may do everything" },
		{ NULL } }, render_user },
	{ "user list", "user.list", "", "list tug users",
	  0, 0, { NULL }, { { NULL } }, render_user_list },
	{ "user show", "user.show", "[NAME]",
	  "a user's keys, grants and what they may do (default: you)",
	  0, 1, { "name" }, { { NULL } }, render_user_show },
	{ "user rm", "user.rm", "NAME", "remove a user with their keys and grants",
	  1, 1, { "name" }, { { NULL } }, render_user },
	{ "user key add", "user.key.add", "NAME FILE|-",
	  "let NAME run tug over SSH with this public key (- reads stdin)",
	  2, 2, { "name", "@key" }, { { NULL } }, render_user_key },
	{ "user key rm", "user.key.rm", "NAME FINGERPRINT|all",
	  "remove a user's SSH key, or all of them",
	  2, 2, { "name", "fingerprint" }, { { NULL } }, render_user_key },
	{ "grant", "grant", "USER ACTION SCOPE",
	  "let USER do ACTION on SCOPE (global, group:G, host:H, site:S)",
	  3, 3, { "user", "action", "scope" }, { { NULL } }, render_grant },
	{ "revoke", "revoke", "USER ACTION SCOPE", "take a grant back",
	  3, 3, { "user", "action", "scope" }, { { NULL } }, render_grant },
	{ "audit", "audit.list",
	  "[--site S] [--user U] [--since T] [--limit N]",
	  "the audit log: every request, allowed or denied",
	  0, 0, { NULL }, {
		{ "site", "site", F_STR, "requests about site S" },
		{ "user", "user", F_STR, "requests of user U" },
		{ "since", "since", F_STR,
		  "since T: 30m, 1h, 2d, or a UTC date 2024-05-01[T12:00]" },
		{ "limit", "limit", F_U64, "the newest N rows (default 50)" },
		{ NULL } }, render_audit },
	{ "audit verify", "audit.verify", "",
	  "check the audit log's hash chain; names edited and deleted rows",
	  0, 0, { NULL }, { { NULL } }, render_audit_verify },
};
#define NCMDS	(sizeof cmds / sizeof cmds[0])

static int	 json_out;
static int	 quiet;
static int	 ssh_mode;	/* run by sshd as a user's forced command */

static void
usage_all(FILE *f)
{
	size_t	i;

	fprintf(f, "usage: tug [--json] [-q] [--home DIR] [--socket PATH] "
	    "COMMAND [ARGS]\n\ncommands:\n");
	for (i = 0; i < NCMDS; i++)
		fprintf(f, "  %-16s %s\n", cmds[i].words, cmds[i].help);
	fprintf(f, "\n`tug COMMAND --help` shows a command's options. tug "
	    "starts tugd when none\nis running (TUG_NO_AUTOSTART=1 refuses).\n");
}

static void
usage_cmd(FILE *f, const struct cli_cmd *c)
{
	const struct cli_flag	*fl;

	fprintf(f, "usage: tug %s %s\n\n%s\n", c->words, c->usage, c->help);
	for (fl = c->flags; fl->name != NULL; fl++) {
		if (fl->letter != 0)
			fprintf(f, "  -%c, --%-16s %s\n", fl->letter, fl->name,
			    fl->help);
		else
			fprintf(f, "  --%-20s %s\n", fl->name, fl->help);
	}
	fprintf(f, "  --%-20s %s\n", "json", c->mode & CMD_STREAM ?
	    "one JSON object a line" : "print the result as JSON");
}

/* Longest table entry whose words start argv; *used says how many. */
static const struct cli_cmd *
find_cmd(int argc, char **argv, int *used)
{
	const struct cli_cmd	*best = NULL;
	size_t			 i;
	int			 bestn = 0;

	for (i = 0; i < NCMDS; i++) {
		char	 w[64], *tok, *save = NULL;
		int	 n = 0, ok = 1;

		snprintf(w, sizeof w, "%s", cmds[i].words);
		for (tok = strtok_r(w, " ", &save); tok != NULL;
		    tok = strtok_r(NULL, " ", &save), n++)
			if (n >= argc || strcmp(argv[n], tok) != 0) {
				ok = 0;
				break;
			}
		if (ok && n > bestn) {
			best = &cmds[i];
			bestn = n;
		}
	}
	*used = bestn;
	return best;
}

static const struct cli_flag *
find_flag(const struct cli_cmd *c, const char *name)
{
	const struct cli_flag	*fl;

	for (fl = c->flags; fl->name != NULL; fl++)
		if (strcmp(name, fl->name) == 0)
			return fl;
	return NULL;
}

/* "-x" naming a flag of c that has that letter, or NULL. */
static const struct cli_flag *
find_letter(const struct cli_cmd *c, const char *a)
{
	const struct cli_flag	*fl;

	if (a[0] != '-' || a[1] == '\0' || a[1] == '-' || a[2] != '\0')
		return NULL;
	for (fl = c->flags; fl->name != NULL; fl++)
		if (fl->letter != 0 && fl->letter == a[1])
			return fl;
	return NULL;
}

/* A value read from stdin (a password): one line, at most 4 KiB. */
static int
read_stdin_value(const struct cli_cmd *c, const struct cli_flag *fl,
    struct enc *e)
{
	char	v[4098];
	size_t	n = 0;
	ssize_t	r;

	while (n < sizeof v && (r = read(0, v + n, sizeof v - n)) != 0) {
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			fprintf(stderr, "tug %s: --%s: cannot read stdin: %s\n",
			    c->words, fl->name, strerror(errno));
			return -1;
		}
		n += (size_t)r;
	}
	if (n > 0 && v[n - 1] == '\n')
		n--;
	if (n > 0 && v[n - 1] == '\r')
		n--;
	if (n == 0 || n > 4096 || memchr(v, '\n', n) != NULL) {
		fprintf(stderr, "tug %s: --%s wants one line of 1 to 4096 "
		    "bytes on stdin\n", c->words, fl->name);
		explicit_bzero(v, sizeof v);
		return -1;
	}
	enc_str(e, fl->key);
	enc_strn(e, v, n);
	explicit_bzero(v, sizeof v);
	return 0;
}

/* A file argument given as '-': stdin, at most 256 KiB, named "stdin". */
static int
read_stdin_file(const struct cli_cmd *c, const char *key, struct enc *e)
{
	struct buf	b = BUF_INIT;
	char		chunk[8192];
	ssize_t		r;

	buf_init(&b, SPEC_MAX_BYTES);
	while ((r = read(STDIN_FILENO, chunk, sizeof chunk)) != 0) {
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1 || buf_add(&b, chunk, (size_t)r) == -1) {
			fprintf(stderr, "tug %s: cannot read stdin: %s\n",
			    c->words, r == -1 ? strerror(errno) :
			    "larger than 256 KiB");
			buf_release(&b);
			return -1;
		}
	}
	enc_kstr(e, "file", "stdin");
	enc_str(e, key);
	enc_strn(e, b.ptr != NULL ? b.ptr : "", b.len);
	buf_release(&b);
	return 0;
}

/* argv (after the command words) into the args map of the request. */
static int
build_args(const struct cli_cmd *c, int argc, char **argv, struct enc *e)
{
	const struct cli_flag	*fl;
	char			*pos[256];
	int			 npos = 0, i, p, k, nflags, dashdash = 0;
	int			 given[8] = { 0 };

	for (nflags = 0; c->flags[nflags].name != NULL; nflags++)
		;
	for (i = 0; i < argc; i++) {
		const char	*a = argv[i];

		if (!dashdash && (fl = find_letter(c, a)) != NULL)
			goto flag;
		if (dashdash || strncmp(a, "--", 2) != 0) {
			if (npos == (int)(sizeof pos / sizeof pos[0])) {
				fprintf(stderr, "tug %s: too many arguments\n",
				    c->words);
				return -1;
			}
			pos[npos++] = argv[i];
			continue;
		}
		if (strcmp(a, "--") == 0) {
			dashdash = 1;
			continue;
		}
		if (strcmp(a, "--json") == 0) {
			json_out = 1;
			continue;
		}
		if (strcmp(a, "--help") == 0) {
			usage_cmd(stdout, c);
			exit(0);
		}
		if ((fl = find_flag(c, a + 2)) == NULL) {
			fprintf(stderr, "tug %s: unknown option '%s'\n",
			    c->words, a);
			return -1;
		}
flag:
		k = (int)(fl - c->flags);
		if (given[k]++ > 0 && fl->type != F_LIST) {
			fprintf(stderr, "tug %s: --%s given twice\n", c->words,
			    fl->name);
			return -1;
		}
		if (fl->type == F_BOOL) {
			enc_kbool(e, fl->key, 1);
			continue;
		}
		if (fl->type == F_STDIN) {
			if (read_stdin_value(c, fl, e) == -1)
				return -1;
			continue;
		}
		if (++i >= argc) {
			fprintf(stderr, "tug %s: --%s needs a value\n",
			    c->words, fl->name);
			return -1;
		}
		if (fl->type == F_U64) {
			char			*end;
			unsigned long long	 v;

			v = strtoull(argv[i], &end, 10);
			if (*end != '\0' || end == argv[i] ||
			    argv[i][0] == '-') {
				fprintf(stderr, "tug %s: --%s wants a number\n",
				    c->words, fl->name);
				return -1;
			}
			enc_ku64(e, fl->key, v);
		} else if (fl->type == F_STR)
			enc_kstr(e, fl->key, argv[i]);
		else if (fl->type == F_CSV) {
			char	*dup = xstrdup(argv[i]), *tok, *save = NULL;

			enc_karr(e, fl->key);
			for (tok = strtok_r(dup, ",", &save); tok != NULL;
			    tok = strtok_r(NULL, ",", &save))
				enc_str(e, tok);
			enc_close(e);
			free(dup);
		}
	}
	/* Repeatable flags become one array each. */
	for (k = 0; k < nflags; k++) {
		fl = &c->flags[k];
		if (fl->type != F_LIST || given[k] == 0)
			continue;
		enc_karr(e, fl->key);
		for (i = 0; i + 1 < argc; i++)
			if (strncmp(argv[i], "--", 2) == 0 &&
			    strcmp(argv[i] + 2, fl->name) == 0)
				enc_str(e, argv[++i]);
		enc_close(e);
	}
	if (npos < c->minargs || (c->maxargs >= 0 && npos > c->maxargs)) {
		usage_cmd(stderr, c);
		return -1;
	}
	for (p = 0, i = 0; i < npos && c->pos[p] != NULL; i++) {
		const char *key = c->pos[p];

		if (key[0] == '*') {
			enc_karr(e, key + 1);
			for (; i < npos; i++)
				enc_str(e, pos[i]);
			enc_close(e);
			break;
		}
		if (key[0] == '@' && strcmp(pos[i], "-") == 0) {
			if (read_stdin_file(c, key + 1, e) == -1)
				return -1;
		} else if (key[0] == '@' && ssh_mode) {
			fprintf(stderr, "tug %s: over SSH the file comes on "
			    "stdin: give '-' (ssh ... %s - < %s)\n", c->words,
			    c->words, pos[i]);
			return -1;
		} else if (key[0] == '@') {	/* a file: its text, its name */
			struct buf	b = BUF_INIT;
			char		abs[PATH_MAX];

			if (fs_read_file(pos[i], &b, SPEC_MAX_BYTES) == -1) {
				fprintf(stderr, "tug %s: cannot read '%s': %s\n",
				    c->words, pos[i], errno == EFBIG ?
				    "larger than 256 KiB" : strerror(errno));
				buf_release(&b);
				return -1;
			}
			/* tugd finds a static root next to the spec. */
			if (realpath(pos[i], abs) != NULL)
				enc_kstr(e, "file", abs);
			else
				enc_kstr(e, "file", pos[i]);
			enc_str(e, key + 1);
			enc_strn(e, b.ptr != NULL ? b.ptr : "", b.len);
			buf_release(&b);
		} else if (key[0] == '#') {	/* a number */
			char			*end;
			unsigned long long	 v = strtoull(pos[i], &end, 10);

			if (*end != '\0' || end == pos[i] || pos[i][0] == '-') {
				fprintf(stderr, "tug %s: '%s' is not a number\n",
				    c->words, pos[i]);
				return -1;
			}
			enc_ku64(e, key + 1, v);
		} else
			enc_kstr(e, key, pos[i]);
		p++;
	}
	return 0;
}

static int
connect_socket(const char *path)
{
	struct sockaddr_un	sun;
	int			fd;

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
	if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == -1) {
		int saved = errno;

		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

/* Start tugd like tmux starts its server: it returns once it listens. */
static int
start_tugd(void)
{
	char	self[PATH_MAX_TUG], tugd[PATH_MAX_TUG + 8], *slash;
	ssize_t	n;
	pid_t	pid;
	int	st;

	if ((n = readlink("/proc/self/exe", self, sizeof self - 1)) <= 0)
		return -1;
	self[n] = '\0';
	if ((slash = strrchr(self, '/')) != NULL)
		*slash = '\0';
	snprintf(tugd, sizeof tugd, "%s/tugd", self);
	if ((pid = fork()) == -1)
		return -1;
	if (pid == 0) {
		execl(tugd, "tugd", "--home", paths.home, "--socket",
		    paths.sock, (char *)NULL);
		fprintf(stderr, "tug: cannot start %s: %s\n", tugd,
		    strerror(errno));
		_exit(127);
	}
	if (waitpid(pid, &st, 0) == -1 || !WIFEXITED(st) ||
	    WEXITSTATUS(st) != 0)
		return -1;
	return 0;
}

static int
open_tugd(void)
{
	const char	*no = getenv("TUG_NO_AUTOSTART");
	int		 fd;

	if ((fd = connect_socket(paths.sock)) != -1)
		return fd;
	if (errno != ENOENT && errno != ECONNREFUSED) {
		fprintf(stderr, "tug: cannot connect to '%s': %s\n",
		    paths.sock, strerror(errno));
		return -1;
	}
	if (ssh_mode) {
		fprintf(stderr, "tug: tugd is not running on this "
		    "controller\n");
		return -1;
	}
	if (no != NULL && *no != '\0' && strcmp(no, "0") != 0) {
		fprintf(stderr, "tug: no tugd is listening on '%s' (and "
		    "TUG_NO_AUTOSTART is set)\n", paths.sock);
		return -1;
	}
	if (start_tugd() == -1) {
		fprintf(stderr, "tug: could not start tugd (see %s)\n",
		    paths.log);
		return -1;
	}
	if ((fd = connect_socket(paths.sock)) == -1)
		fprintf(stderr, "tug: tugd started but '%s' refuses: %s\n",
		    paths.sock, strerror(errno));
	return fd;
}

/* --- rendering --------------------------------------------------------- */

static void
print_json(struct mv *v, const char *key)
{
	struct buf	b = BUF_INIT;

	mv_json(v, key, &b);
	printf("%s\n", buf_str(&b));
	buf_release(&b);
}

static const char *
s_(struct mv *v, const char *key, char *dst, size_t n)
{
	if (mv_str(v, key, dst, n, 0) != 1)
		snprintf(dst, n, "-");
	return dst;
}

static uint64_t
u_(struct mv *v, const char *key)
{
	uint64_t	x = 0;

	mv_u64(v, key, &x, 0);
	return x;
}

static void
render_init(struct mv *v)
{
	char	a[64], d[PATH_MAX_TUG];

	printf("tug is initialised: %s is the admin (database %s)\n",
	    s_(v, "admin", a, sizeof a), s_(v, "database", d, sizeof d));
}

static void
render_status(struct mv *v)
{
	char	s[PATH_MAX_TUG];

	printf("tugd %s, pid %llu\n", s_(v, "version", s, sizeof s),
	    (unsigned long long)u_(v, "pid"));
	printf("state   %s\n", s_(v, "home", s, sizeof s));
	printf("socket  %s\n", s_(v, "socket", s, sizeof s));
	printf("schema  %llu\n", (unsigned long long)u_(v, "schema"));
	printf("hosts   %llu\n", (unsigned long long)u_(v, "hosts"));
	printf("agent   %.16s\n", s_(v, "agent_sha256", s, sizeof s));
	printf("you     %s\n", s_(v, "user", s, sizeof s));
}

static void
render_key(struct mv *v)
{
	char	s[1024];

	printf("%s\n", s_(v, "public_key", s, sizeof s));
}

static void
render_host_add(struct mv *v)
{
	char	n[64], a[256], u[64], k[FINGERPRINT_MAX];
	int	b = 0;

	mv_bool(v, "bootstrapped", &b, 0);
	printf("added %s (%s@%s:%llu), host key %s pinned%s\n",
	    s_(v, "name", n, sizeof n), s_(v, "user", u, sizeof u),
	    s_(v, "address", a, sizeof a), (unsigned long long)u_(v, "port"),
	    s_(v, "hostkey", k, sizeof k), b ? ", agent installed" : "");
}

static void
render_host_rm(struct mv *v)
{
	char	n[64];

	printf("removed %s\n", s_(v, "removed", n, sizeof n));
}

/* A table: rows of cells, each column as wide as its widest cell. */
struct table {
	char	*cell[256][10];
	int	 rows, cols;
};

static void
table_add(struct table *t, ...)
{
	va_list		 ap;
	const char	*s;
	int		 c = 0;

	if (t->rows == 256)
		return;
	va_start(ap, t);
	while ((s = va_arg(ap, const char *)) != NULL && c < 10)
		t->cell[t->rows][c++] = xstrdup(s);
	va_end(ap);
	if (c > t->cols)
		t->cols = c;
	t->rows++;
}

static void
table_print(struct table *t)
{
	size_t	w[10] = { 0 }, l;
	int	r, c;

	for (r = 0; r < t->rows; r++)
		for (c = 0; c < t->cols; c++)
			if (t->cell[r][c] != NULL &&
			    (l = strlen(t->cell[r][c])) > w[c])
				w[c] = l;
	for (r = 0; r < t->rows; r++) {
		for (c = 0; c < t->cols; c++) {
			const char *s = t->cell[r][c] ? t->cell[r][c] : "";

			if (c == t->cols - 1)
				printf("%s", s);
			else
				printf("%-*s  ", (int)w[c], s);
			free(t->cell[r][c]);
		}
		printf("\n");
	}
}

static void
render_host_list(struct mv *v)
{
	struct table	t = { .rows = 0 };
	size_t		n, i, k, ng;
	char		name[64], addr[300], user[64], state[32], groups[400];
	char		port[16];

	mv_arr(v, "hosts", &n, 4096, 0);
	table_add(&t, "HOST", "ADDRESS", "USER", "GROUPS", "STATE", NULL);
	for (i = 0; i < n; i++) {
		struct mv	row;

		if (mv_arr_map(v, "hosts", i, &row) != 1)
			continue;
		s_(&row, "name", name, sizeof name);
		s_(&row, "address", addr, sizeof addr);
		snprintf(port, sizeof port, ":%llu",
		    (unsigned long long)u_(&row, "port"));
		strncat(addr, port, sizeof addr - strlen(addr) - 1);
		s_(&row, "user", user, sizeof user);
		s_(&row, "state", state, sizeof state);
		groups[0] = '\0';
		mv_arr(&row, "groups", &ng, 64, 0);
		for (k = 0; k < ng; k++) {
			char g[64];

			if (mv_arr_str(&row, "groups", k, g, sizeof g) == 1) {
				if (k > 0)
					strncat(groups, ",", sizeof groups -
					    strlen(groups) - 1);
				strncat(groups, g, sizeof groups -
				    strlen(groups) - 1);
			}
		}
		table_add(&t, name, addr, user, ng ? groups : "-", state, NULL);
	}
	table_print(&t);
}

static void
human_bytes(char *dst, size_t n, uint64_t v)
{
	const char	*u[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double		 d = (double)v;
	int		 i = 0;

	while (d >= 1024 && i < 4) {
		d /= 1024;
		i++;
	}
	snprintf(dst, n, i == 0 ? "%.0f %s" : "%.1f %s", d, u[i]);
}

static void
render_host_check(struct mv *v)
{
	struct table	t = { .rows = 0 };
	size_t		n, i;
	char		name[64], agent[32], docker[64], cpus[16], mem[32];
	char		disk[32], rtt[32], err[600];

	mv_arr(v, "hosts", &n, 4096, 0);
	table_add(&t, "HOST", "REACHABLE", "AGENT", "DOCKER", "CPUS", "MEMORY",
	    "FREE DISK", "RTT", NULL);
	for (i = 0; i < n; i++) {
		struct mv	row;
		int		ok = 0;

		if (mv_arr_map(v, "hosts", i, &row) != 1)
			continue;
		mv_bool(&row, "reachable", &ok, 0);
		s_(&row, "name", name, sizeof name);
		if (!ok) {
			table_add(&t, name, "no", "-", "-", "-", "-", "-", "-",
			    NULL);
			continue;
		}
		s_(&row, "agent_version", agent, sizeof agent);
		s_(&row, "docker_version", docker, sizeof docker);
		snprintf(cpus, sizeof cpus, "%llu",
		    (unsigned long long)u_(&row, "cpus"));
		human_bytes(mem, sizeof mem, u_(&row, "memory"));
		human_bytes(disk, sizeof disk, u_(&row, "disk_free"));
		snprintf(rtt, sizeof rtt, "%llu ms",
		    (unsigned long long)u_(&row, "rtt_ms"));
		table_add(&t, name, "yes", agent, docker, cpus, mem, disk, rtt,
		    NULL);
	}
	table_print(&t);
	for (i = 0; i < n; i++) {
		struct mv	row;

		if (mv_arr_map(v, "hosts", i, &row) == 1 &&
		    mv_str(&row, "error", err, sizeof err, 0) == 1)
			fprintf(stderr, "%s\n", err);
	}
	printf("%llu of %llu hosts reachable in %llu ms\n",
	    (unsigned long long)u_(v, "reachable"),
	    (unsigned long long)u_(v, "total"),
	    (unsigned long long)u_(v, "elapsed_ms"));
}

static void
render_host_bootstrap(struct mv *v)
{
	size_t	n, i;
	char	name[64], s[600];

	mv_arr(v, "hosts", &n, 4096, 0);
	for (i = 0; i < n; i++) {
		struct mv	row;

		if (mv_arr_map(v, "hosts", i, &row) != 1)
			continue;
		printf("%s: agent %.16s ready\n", s_(&row, "name", name,
		    sizeof name), s_(&row, "agent", s, sizeof s));
	}
}

static void
render_site_apply(struct mv *v)
{
	char	site[64], line[600];
	int	dry = 0, isnew = 0, changed = 0;
	size_t	n, i;

	mv_bool(v, "dry_run", &dry, 0);
	mv_bool(v, "new", &isnew, 0);
	mv_bool(v, "changed", &changed, 0);
	s_(v, "site", site, sizeof site);
	if (!changed) {
		printf("site %s: unchanged\n", site);
		return;
	}
	printf("site %s: %s%s\n", site, dry ? "would be " : "", isnew ?
	    "created" : "changed");
	mv_arr(v, "changes", &n, 4096, 0);
	for (i = 0; i < n; i++)
		if (mv_arr_str(v, "changes", i, line, sizeof line) == 1)
			printf("  %s\n", line);
	if (!dry)
		printf("deploy it with: tug deploy %s\n", site);
}

static void
render_site_list(struct mv *v)
{
	struct table	t = { .rows = 0 };
	size_t		n, i, k, nd;
	char		name[64], kind[16], rel[24], image[300], doms[600];

	mv_arr(v, "sites", &n, 4096, 0);
	table_add(&t, "SITE", "KIND", "RELEASE", "IMAGE", "DOMAINS", NULL);
	for (i = 0; i < n; i++) {
		struct mv	row;
		int64_t		r = 0;

		if (mv_arr_map(v, "sites", i, &row) != 1)
			continue;
		mv_i64(&row, "release", &r, 0);
		snprintf(rel, sizeof rel, r > 0 ? "%lld" : "-", (long long)r);
		doms[0] = '\0';
		mv_arr(&row, "domains", &nd, 64, 0);
		for (k = 0; k < nd; k++) {
			char d[260];

			if (mv_arr_str(&row, "domains", k, d, sizeof d) != 1)
				continue;
			if (k > 0)
				strncat(doms, ",", sizeof doms - strlen(doms) - 1);
			strncat(doms, d, sizeof doms - strlen(doms) - 1);
		}
		table_add(&t, s_(&row, "name", name, sizeof name),
		    s_(&row, "kind", kind, sizeof kind), rel,
		    s_(&row, "image", image, sizeof image), doms, NULL);
	}
	table_print(&t);
}

static void
render_site_status(struct mv *v)
{
	struct table	t = { .rows = 0 };
	size_t		n, i, k, nc;
	char		host[64], name[128], rel[24], state[32], health[32];
	char		started[48], err[600];

	mv_arr(v, "hosts", &n, 4096, 0);
	table_add(&t, "HOST", "CONTAINER", "RELEASE", "STATE", "HEALTH",
	    "STARTED", NULL);
	for (i = 0; i < n; i++) {
		struct mv	row, ct;
		int		ok = 0;

		if (mv_arr_map(v, "hosts", i, &row) != 1)
			continue;
		s_(&row, "host", host, sizeof host);
		mv_bool(&row, "ok", &ok, 0);
		if (!ok) {
			table_add(&t, host, "-", "-", "unreachable", "-", "-",
			    NULL);
			if (mv_str(&row, "error", err, sizeof err, 0) == 1)
				fprintf(stderr, "%s\n", err);
			continue;
		}
		mv_arr(&row, "containers", &nc, 64, 0);
		if (nc == 0)
			table_add(&t, host, "-", "-", "none", "-", "-", NULL);
		for (k = 0; k < nc; k++) {
			if (mv_arr_map(&row, "containers", k, &ct) != 1)
				continue;
			snprintf(rel, sizeof rel, "%llu",
			    (unsigned long long)u_(&ct, "release"));
			s_(&ct, "started_at", started, sizeof started);
			started[19] = '\0';
			table_add(&t, host, s_(&ct, "name", name, sizeof name),
			    rel, s_(&ct, "state", state, sizeof state),
			    s_(&ct, "health", health, sizeof health), started,
			    NULL);
		}
	}
	table_print(&t);
}

static void
render_site_rm(struct mv *v)
{
	char	n[64];

	printf("removed site %s from %llu hosts\n", s_(v, "removed", n,
	    sizeof n), (unsigned long long)u_(v, "hosts"));
}

static void
render_deploy(struct mv *v)
{
	char	site[64], image[300];
	int64_t	rel = 0, of = 0;

	mv_i64(v, "release", &rel, 0);
	mv_i64(v, "rollback_of", &of, 0);
	printf("%s: release %lld (%s%s) serving on %llu host%s in %.1f s\n",
	    s_(v, "site", site, sizeof site), (long long)rel,
	    s_(v, "image", image, sizeof image), of > 0 ? ", a rollback" : "",
	    (unsigned long long)u_(v, "deployed"), u_(v, "deployed") == 1 ?
	    "" : "s", (double)u_(v, "elapsed_ms") / 1000);
}

static void
render_releases(struct mv *v)
{
	struct table	t = { .rows = 0 };
	size_t		n, i;
	char		rel[32], image[300], status[16], who[64], when[32];

	mv_arr(v, "releases", &n, 100000, 0);
	table_add(&t, "RELEASE", "IMAGE", "STATUS", "BY", "CREATED (UTC)",
	    NULL);
	for (i = 0; i < n; i++) {
		struct mv	row;
		int64_t		r = 0, at = 0, of = 0;
		int		cur = 0;
		time_t		tt;
		struct tm	tm;

		if (mv_arr_map(v, "releases", i, &row) != 1)
			continue;
		mv_i64(&row, "release", &r, 0);
		mv_i64(&row, "created_at", &at, 0);
		mv_i64(&row, "rollback_of", &of, 0);
		mv_bool(&row, "current", &cur, 0);
		snprintf(rel, sizeof rel, "%lld%s", (long long)r,
		    cur ? " *" : "");
		tt = (time_t)at;
		strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S",
		    gmtime_r(&tt, &tm));
		s_(&row, "status", status, sizeof status);
		if (of > 0)
			snprintf(status + strlen(status), sizeof status -
			    strlen(status), " (of %lld)", (long long)of);
		table_add(&t, rel, s_(&row, "image", image, sizeof image),
		    status, s_(&row, "who", who, sizeof who), when, NULL);
	}
	table_print(&t);
}

static void
render_power(struct mv *v)
{
	char	site[64];

	printf("%s: done on %llu host%s\n", s_(v, "site", site, sizeof site),
	    (unsigned long long)u_(v, "hosts"), u_(v, "hosts") == 1 ? "" :
	    "s");
}

static void
render_env_list(struct mv *v)
{
	struct table	t = { .rows = 0 };
	size_t		n, i;
	char		key[300], val[600], from[16];

	mv_arr(v, "env", &n, 4096, 0);
	table_add(&t, "KEY", "VALUE", "FROM", NULL);
	for (i = 0; i < n; i++) {
		struct mv	row;

		if (mv_arr_map(v, "env", i, &row) != 1)
			continue;
		table_add(&t, s_(&row, "key", key, sizeof key),
		    s_(&row, "value", val, sizeof val),
		    s_(&row, "from", from, sizeof from), NULL);
	}
	table_print(&t);
}

static void
render_env_set(struct mv *v)
{
	char	note[300];

	if (mv_present(v, "release"))
		render_deploy(v);
	else if (mv_str(v, "note", note, sizeof note, 0) == 1)
		printf("%s\n", note);
	else
		printf("done\n");
}

static void
render_image_push(struct mv *v)
{
	size_t	n, i;
	char	ref[300], host[64], state[16], err[600];

	s_(v, "ref", ref, sizeof ref);
	mv_arr(v, "hosts", &n, 4096, 0);
	for (i = 0; i < n; i++) {
		struct mv	row;

		if (mv_arr_map(v, "hosts", i, &row) != 1)
			continue;
		printf("%s: %s", s_(&row, "host", host, sizeof host),
		    s_(&row, "state", state, sizeof state));
		if (mv_str(&row, "error", err, sizeof err, 0) == 1)
			printf(": %s", err);
		printf("\n");
	}
	printf("%s: %.1f MiB in %.1f s\n", ref,
	    (double)u_(v, "bytes") / (1 << 20),
	    (double)u_(v, "elapsed_ms") / 1000);
}

/* --- log lines ---------------------------------------------------------- */

static int	 log_width;	/* of the host column */
static int	 log_times;	/* print each line's time */
static int	 log_follow;
static int	 stdout_broken;	/* nobody reads our lines any more */

/* EVENT {kind:"log.start", hosts, timestamps, follow}: how to print. */
static void
render_log_start(struct mv *b)
{
	size_t	n, i;
	char	host[HOST_NAME_MAX_TUG + 1];

	mv_bool(b, "timestamps", &log_times, 0);
	mv_bool(b, "follow", &log_follow, 0);
	mv_arr(b, "hosts", &n, 4096, 0);
	for (i = 0; i < n; i++)
		if (mv_arr_str(b, "hosts", i, host, sizeof host) == 1 &&
		    (int)strlen(host) > log_width)
			log_width = (int)strlen(host);
	if (!isatty(STDOUT_FILENO))
		setvbuf(stdout, NULL, _IOFBF, 1 << 16);
}

/* One line as {"host":..,"stream":..,"time":..,"line":..}. */
static void
log_line_json(struct mv *row, struct buf *b)
{
	static const char *const keys[] = { "host", "stream", "time", "line" };
	size_t	i;

	buf_reset(b);
	for (i = 0; i < 4; i++) {
		buf_addf(b, "%s\"%s\":", i == 0 ? "{" : ",", keys[i]);
		mv_json(row, keys[i], b);
	}
	buf_addstr(b, "}\n");
	fwrite(b->ptr, 1, b->len, stdout);
}

/* EVENT {kind:"log", lines:[{host, stream, time, line}...]}. */
static void
render_log_lines(struct mv *b)
{
	struct buf	 j = BUF_INIT;
	struct mv	 row;
	const void	*p;
	size_t		 n, i, len;
	char		 host[HOST_NAME_MAX_TUG + 1], t[48];
	static char	 prefix[HOST_NAME_MAX_TUG + 8], last[HOST_NAME_MAX_TUG + 1];

	mv_arr(b, "lines", &n, MSG_ARRAY_MAX, 0);
	for (i = 0; i < n && !stdout_broken; i++) {
		if (mv_arr_map(b, "lines", i, &row) != 1)
			continue;
		if (json_out) {
			log_line_json(&row, &j);
			continue;
		}
		if (mv_str(&row, "host", host, sizeof host, 0) != 1 ||
		    mv_bin(&row, "line", &p, &len, FRAME_MAX, 0) != 1)
			continue;
		if (strcmp(host, last) != 0) {
			snprintf(last, sizeof last, "%s", host);
			snprintf(prefix, sizeof prefix, "%-*s | ", log_width,
			    host);
		}
		fputs(prefix, stdout);
		if (log_times && mv_str(&row, "time", t, sizeof t, 0) == 1)
			printf("%s ", t);
		fwrite(p, 1, len, stdout);
		putchar('\n');
	}
	buf_release(&j);
	if (fflush(stdout) == EOF)
		stdout_broken = 1;
}

/* 1: the event was log lines (or their start), printed. */
static int
render_log_event(struct mv *b)
{
	char	kind[16];

	if (mv_str(b, "kind", kind, sizeof kind, 0) != 1)
		return 0;
	if (strcmp(kind, "log.start") == 0)
		render_log_start(b);
	else if (strcmp(kind, "log") == 0)
		render_log_lines(b);
	else
		return 0;
	return 1;
}

static void
render_logs(struct mv *v)
{
	size_t		n, i;
	char		host[64], err[600];
	int		stats = 0;
	uint64_t	wire = u_(v, "wire_bytes"), bytes = u_(v, "bytes");

	mv_bool(v, "stats", &stats, 0);
	mv_arr(v, "hosts", &n, 4096, 0);
	for (i = 0; i < n; i++) {
		struct mv	row;

		if (mv_arr_map(v, "hosts", i, &row) != 1)
			continue;
		s_(&row, "host", host, sizeof host);
		if (mv_str(&row, "error", err, sizeof err, 0) == 1 && !quiet)
			fprintf(stderr, "%s\n", err);
		if (stats)
			fprintf(stderr, "%s: %llu lines, %llu bytes of lines, "
			    "%llu bytes of frames, %llu requests\n", host,
			    (unsigned long long)u_(&row, "lines"),
			    (unsigned long long)u_(&row, "bytes"),
			    (unsigned long long)u_(&row, "wire_bytes"),
			    (unsigned long long)u_(&row, "requests"));
	}
	if (stats)
		fprintf(stderr, "%llu lines, %llu bytes of lines in %llu bytes "
		    "of frames from the agents (%.2f:1) in %.3f s\n",
		    (unsigned long long)u_(v, "lines"),
		    (unsigned long long)bytes, (unsigned long long)wire,
		    wire > 0 ? (double)bytes / (double)wire : 0.0,
		    (double)u_(v, "elapsed_ms") / 1000);
}

/*
 * A streaming command ends on Ctrl-C (or TERM, HUP) by asking tugd to
 * cancel, which cancels the job on every agent; the result is still read.
 * A second signal leaves at once.
 */
static volatile sig_atomic_t interrupted;

static void
on_interrupt(int sig)
{
	if (interrupted != 0)
		_exit(128 + sig);
	interrupted = sig;
}

static void
catch_interrupts(void)
{
	struct sigaction	sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_interrupt;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);	/* no SA_RESTART: poll() returns */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

/*
 * The next frame from tugd; CANCEL goes out first when it is time. A
 * stdout whose reader left (tug logs -f | head) counts as an interrupt.
 */
static int
stream_read(struct conn *conn, struct msg *m, char *err, int *cancelled)
{
	struct pollfd	pfd[2];
	struct buf	f = BUF_INIT;
	int		r;

	for (;;) {
		pfd[0].fd = conn->rfd;
		pfd[0].events = POLLIN;
		pfd[1].fd = stdout_broken ? -1 : STDOUT_FILENO;
		pfd[1].events = 0;	/* only POLLERR and POLLHUP */
		if ((interrupted || stdout_broken) && !*cancelled) {
			if (frame_empty(&f, MSG_CANCEL, 1) == 0)
				conn_write(conn, &f);
			buf_release(&f);
			*cancelled = 1;
		}
		r = poll(pfd, 2, *cancelled ? 10000 : -1);
		if (r == -1 && errno == EINTR)
			continue;
		if (r > 0 && (pfd[1].revents & (POLLERR | POLLHUP)) &&
		    !(pfd[0].revents & POLLIN)) {
			stdout_broken = 1;
			continue;
		}
		if (r == -1) {
			snprintf(err, MSG_ERRLEN, "poll: %s", strerror(errno));
			return -1;
		}
		if (r == 0) {
			snprintf(err, MSG_ERRLEN, "tugd did not confirm the "
			    "cancel within 10 s");
			return -1;
		}
		return conn_read(conn, m, err);
	}
}

/* --- the request -------------------------------------------------------- */

static int
run(const struct cli_cmd *c, int argc, char **argv, const char *as)
{
	struct conn	 conn;
	struct enc	 e;
	struct buf	 f = BUF_INIT;
	struct msg	 m;
	struct mv	 body, val, errv;
	char		 err[MSG_ERRLEN], msg[1024], code[64];
	int		 fd, r, ok = 0, status = 1, tty = isatty(STDERR_FILENO);
	int		 stream = c->mode & CMD_STREAM, cancelled = 0;
	uint64_t	 t0 = clock_ms();

	enc_begin(&e, MSG_REQUEST, 1);
	enc_kstr(&e, "op", c->op);
	if (as != NULL)
		enc_kstr(&e, "as", as);
	enc_kmap(&e, "args");
	if (build_args(c, argc, argv, &e) == -1) {
		enc_release(&e);
		return 2;
	}
	enc_close(&e);
	if (enc_finish(&e, 0, &f, err) == -1) {
		fprintf(stderr, "tug: %s\n", err);
		return 2;
	}
	if ((fd = open_tugd()) == -1) {
		buf_release(&f);
		return 3;
	}
	conn_init(&conn, fd, fd, "tug");
	{
		struct buf	h = BUF_INIT;
		struct enc	he;

		enc_begin(&he, MSG_HELLO, 0);
		enc_ku64(&he, "proto", PROTO_VERSION);
		enc_kstr(&he, "version", TUG_VERSION);
		enc_kstr(&he, "role", "cli");
		if (enc_finish(&he, 0, &h, err) == -1 ||
		    conn_write(&conn, &h) == -1 || conn_write(&conn, &f) == -1) {
			fprintf(stderr, "tug: cannot talk to tugd: %s\n",
			    strerror(errno));
			buf_release(&h);
			buf_release(&f);
			close(fd);
			return 3;
		}
		buf_release(&h);
	}
	buf_release(&f);
	if (stream)
		catch_interrupts();
	for (;;) {
		r = stream ? stream_read(&conn, &m, err, &cancelled) :
		    conn_read(&conn, &m, err);
		if (r != 1) {
			fprintf(stderr, "tug: %s\n", r == 0 ? "tugd closed the "
			    "connection" : err);
			status = 3;
			break;
		}
		msg_body(&m, &body, err, "");
		if (m.type == MSG_HELLO) {
			msg_release(&m);
			continue;
		}
		if (m.type == MSG_EVENT) {
			char	host[64], step[32];

			if (stream && render_log_event(&body)) {
				msg_release(&m);
				continue;
			}
			if (!quiet && !json_out &&
			    mv_str(&body, "message", msg, sizeof msg, 0) == 1) {
				s_(&body, "step", step, sizeof step);
				if (tty)
					fprintf(stderr, "%6.1fs  ", (double)
					    (clock_ms() - t0) / 1000);
				if (mv_str(&body, "host", host, sizeof host,
				    0) == 1)
					fprintf(stderr, "%s: %s\n", host, msg);
				else
					fprintf(stderr, "%s\n", msg);
			}
			msg_release(&m);
			continue;
		}
		if (m.type == MSG_ERROR) {
			s_(&body, "message", msg, sizeof msg);
			fprintf(stderr, "tug: %s\n", msg);
			msg_release(&m);
			break;
		}
		if (m.type == MSG_RESULT) {
			mv_bool(&body, "ok", &ok, 0);
			if (ok && mv_map(&body, "value", &val, 0) == 1) {
				if (json_out) {
					/* A stream's lines were its output. */
					if (!stream)
						print_json(&body, "value");
				} else if (c->render != NULL)
					c->render(&val);
				status = 0;
				/* A fleet op is ok only if every host was. */
				if (mv_present(&val, "reachable") &&
				    u_(&val, "reachable") < u_(&val, "total"))
					status = 1;
			} else if (mv_map(&body, "error", &errv, 0) == 1) {
				s_(&errv, "message", msg, sizeof msg);
				s_(&errv, "code", code, sizeof code);
				if (json_out)
					print_json(&body, "error");
				fprintf(stderr, "tug: %s\n", msg);
			}
			msg_release(&m);
			break;
		}
		msg_release(&m);
	}
	close(fd);
	if (interrupted)
		status = 128 + interrupted;
	return status;
}

/* --- over SSH ----------------------------------------------------------- */

#define SSH_CMD_MAX	8192
#define SSH_WORDS_MAX	256

/*
 * Split SSH_ORIGINAL_COMMAND into words without a shell: blanks separate
 * words, '...' and "..." quote, and whatever a shell would have treated
 * specially is refused rather than taken literally or interpreted. The
 * words point into *store (the caller frees it). 0, or -1 with err.
 */
static int
ssh_words(const char *s, char **store, char **words, int *n, char *err,
    size_t errsz)
{
	char		*w, q = 0;
	const char	*p;
	int		 inword = 0;

	*n = 0;
	if (strlen(s) > SSH_CMD_MAX) {
		snprintf(err, errsz, "the command is longer than %d bytes",
		    SSH_CMD_MAX);
		return -1;
	}
	*store = w = xmalloc(strlen(s) + 1);
	for (p = s; *p != '\0'; p++) {
		unsigned char	ch = (unsigned char)*p;

		if (ch < 0x20 && ch != '\t') {
			snprintf(err, errsz, "control character 0x%02x in the "
			    "command", ch);
			return -1;
		}
		if (q != 0 && ch != (unsigned char)q) {
			if (q == '"' && strchr("$`\\!", ch) != NULL) {
				snprintf(err, errsz, "refusing '%c' inside "
				    "double quotes: tug runs no shell (use "
				    "single quotes)", ch);
				return -1;
			}
			*w++ = (char)ch;
			continue;
		}
		if (q != 0) {		/* the closing quote */
			q = 0;
			continue;
		}
		if (ch == ' ' || ch == '\t') {
			if (inword)
				*w++ = '\0';
			inword = 0;
			continue;
		}
		if (!inword) {
			if (*n == SSH_WORDS_MAX) {
				snprintf(err, errsz, "more than %d words",
				    SSH_WORDS_MAX);
				return -1;
			}
			words[(*n)++] = w;
			inword = 1;
		}
		if (ch == '\'' || ch == '"') {
			q = (char)ch;
			continue;
		}
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || strchr("-_./:=,@+%^", ch) !=
		    NULL)) {
			snprintf(err, errsz, ch < 0x80 ? "refusing '%c' in the "
			    "command: tug runs no shell (quote it if it is "
			    "meant literally)" : "refusing byte 0x%02x outside "
			    "quotes", ch);
			return -1;
		}
		*w++ = (char)ch;
	}
	if (q != 0) {
		snprintf(err, errsz, "unbalanced %c quote in the command", q);
		return -1;
	}
	*w = '\0';
	return 0;
}

/*
 * The forced command of a user's key: tug --as USER --ssh. The command
 * comes from SSH_ORIGINAL_COMMAND; before it only --json, -q and --help.
 * argv and argc are replaced; 0, or an exit status.
 */
static int
ssh_command(const char *as, int *argcp, char ***argvp, char **store)
{
	static char	*words[SSH_WORDS_MAX + 1];
	const char	*cmd = getenv("SSH_ORIGINAL_COMMAND");
	char		 err[256];
	int		 n, i;

	if (as == NULL) {
		fprintf(stderr, "tug: --ssh needs --as USER\n");
		return 2;
	}
	if (cmd == NULL || *cmd == '\0') {
		fprintf(stderr, "tug: you are %s on this controller; give a "
		    "command, e.g. 'ssh ... site list' ('ssh ... --help' lists "
		    "them)\n", as);
		return 2;
	}
	if (ssh_words(cmd, store, words, &n, err, sizeof err) == -1) {
		fprintf(stderr, "tug: %s\n", err);
		return 2;
	}
	for (i = 0; i < n && words[i][0] == '-'; i++) {
		if (strcmp(words[i], "--json") == 0)
			json_out = 1;
		else if (strcmp(words[i], "-q") == 0)
			quiet = 1;
		else if (strcmp(words[i], "--help") == 0) {
			usage_all(stdout);
			return 0;
		} else {
			fprintf(stderr, "tug: over SSH only --json, -q and "
			    "--help may come before the command\n");
			return 2;
		}
	}
	words[n] = NULL;
	*argcp = n - i;
	*argvp = words + i;
	ssh_mode = 1;
	return -1;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "home", required_argument, NULL, 'H' },
		{ "socket", required_argument, NULL, 'S' },
		{ "as", required_argument, NULL, 'a' },
		{ "ssh", no_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	const struct cli_cmd	*c;
	const char		*home = NULL, *sock = NULL, *as = NULL;
	char			*store = NULL;
	int			 ch, used, ssh = 0, r;

	log_init("tug", 0);
	while ((ch = getopt_long(argc, argv, "+qh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'j': json_out = 1; break;
		case 'q': quiet = 1; break;
		case 'H': home = optarg; break;
		case 'S': sock = optarg; break;
		case 'a': as = optarg; break;
		case 's': ssh = 1; break;
		case 'h': usage_all(stdout); return 0;
		case 'V':
			printf("tug %s (protocol %d)\n", TUG_VERSION,
			    PROTO_VERSION);
			return 0;
		default: usage_all(stderr); return 2;
		}
	}
	argc -= optind;
	argv += optind;
	if (ssh && argc > 0) {
		fprintf(stderr, "tug: --ssh takes the command from "
		    "SSH_ORIGINAL_COMMAND, not from arguments\n");
		return 2;
	}
	if (ssh && (r = ssh_command(as, &argc, &argv, &store)) != -1) {
		free(store);
		return r;
	}
	if (argc == 0) {
		usage_all(stderr);
		return 2;
	}
	if ((c = find_cmd(argc, argv, &used)) == NULL) {
		char	esc[96];

		fprintf(stderr, "tug: unknown command '%s'\n", log_escape(esc,
		    sizeof esc, argv[0], strlen(argv[0])));
		usage_all(stderr);
		return 2;
	}
	if (paths_init(&paths, home, sock) == -1) {
		fprintf(stderr, "tug: state directory or socket path unusable\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	r = run(c, argc - used, argv + used, as);
	free(store);
	return r;
}

static void
render_registry(struct mv *v)
{
	struct table	t = { .rows = 0 };
	size_t		n, i;
	char		srv[300], user[300], who[64], when[32];

	if (mv_str(v, "removed", srv, sizeof srv, 0) == 1) {
		printf("forgot the login for %s\n", srv);
		return;
	}
	if (mv_str(v, "server", srv, sizeof srv, 0) == 1) {
		printf("login for %s stored (user %s); deploys of images from "
		    "it pull with it\n", srv, s_(v, "username", user,
		    sizeof user));
		return;
	}
	mv_arr(v, "registries", &n, 4096, 0);
	table_add(&t, "SERVER", "USERNAME", "BY", "SINCE", NULL);
	for (i = 0; i < n; i++) {
		struct mv	row;
		time_t		at;
		struct tm	tm;

		if (mv_arr_map(v, "registries", i, &row) != 1)
			continue;
		at = (time_t)u_(&row, "created_at");
		gmtime_r(&at, &tm);
		strftime(when, sizeof when, "%Y-%m-%d %H:%M", &tm);
		table_add(&t, s_(&row, "server", srv, sizeof srv),
		    s_(&row, "username", user, sizeof user),
		    s_(&row, "who", who, sizeof who), when, NULL);
	}
	table_print(&t);
}

/* --- users, grants, audit ------------------------------------------------ */

static void
render_user(struct mv *v)
{
	char	n[64];
	int	admin = 0;

	if (mv_str(v, "removed", n, sizeof n, 0) == 1) {
		printf("removed user %s (%llu keys, %llu grants)\n", n,
		    (unsigned long long)u_(v, "keys"),
		    (unsigned long long)u_(v, "grants"));
		return;
	}
	mv_bool(v, "admin", &admin, 0);
	printf("added user %s%s\n", s_(v, "added", n, sizeof n), admin ?
	    " (admin)" : "; give them grants with tug grant");
}

static void
render_user_list(struct mv *v)
{
	struct table	t = { .rows = 0 };
	size_t		n, i;
	char		name[64], keys[16], grants[16], when[32];

	mv_arr(v, "users", &n, 100000, 0);
	table_add(&t, "USER", "ADMIN", "KEYS", "GRANTS", "SINCE (UTC)", NULL);
	for (i = 0; i < n; i++) {
		struct mv	row;
		int		admin = 0;
		time_t		at;
		struct tm	tm;

		if (mv_arr_map(v, "users", i, &row) != 1)
			continue;
		mv_bool(&row, "admin", &admin, 0);
		snprintf(keys, sizeof keys, "%llu",
		    (unsigned long long)u_(&row, "keys"));
		snprintf(grants, sizeof grants, "%llu",
		    (unsigned long long)u_(&row, "grants"));
		at = (time_t)u_(&row, "created_at");
		strftime(when, sizeof when, "%Y-%m-%d %H:%M",
		    gmtime_r(&at, &tm));
		table_add(&t, s_(&row, "name", name, sizeof name), admin ?
		    "yes" : "no", keys, grants, when, NULL);
	}
	table_print(&t);
}

/* One effective scope: "site:blog  deploy, view (via deploy)". */
static void
render_effective(struct mv *row)
{
	char	scope[80], a[32], via[32], h[80];
	size_t	n, i;

	printf("  %-24s", s_(row, "scope", scope, sizeof scope));
	mv_arr(row, "actions", &n, 64, 0);
	for (i = 0; i < n; i++) {
		struct mv	act;

		if (mv_arr_map(row, "actions", i, &act) != 1)
			continue;
		printf("%s%s", i > 0 ? ", " : "", s_(&act, "action", a,
		    sizeof a));
		if (mv_str(&act, "via", via, sizeof via, 0) == 1)
			printf(" (via %s)", via);
	}
	printf("\n");
	if (!mv_present(row, "hosts"))
		return;
	printf("  %-24s covers hosts:", "");
	mv_arr(row, "hosts", &n, 4096, 0);
	for (i = 0; i < n; i++)
		if (mv_arr_str(row, "hosts", i, h, sizeof h) == 1)
			printf(" %s", h);
	printf("%s; sites:", n == 0 ? " none" : "");
	mv_arr(row, "sites", &n, 4096, 0);
	for (i = 0; i < n; i++)
		if (mv_arr_str(row, "sites", i, h, sizeof h) == 1)
			printf(" %s", h);
	printf("%s\n", n == 0 ? " none" : "");
}

static void
render_user_show(struct mv *v)
{
	char	name[64], fp[80], type[48], comment[256], a[32], sc[80], by[64];
	size_t	n, i;
	int	admin = 0;

	mv_bool(v, "admin", &admin, 0);
	printf("user    %s%s\n", s_(v, "name", name, sizeof name), admin ?
	    " (admin: every action on every scope)" : "");
	mv_arr(v, "keys", &n, 4096, 0);
	if (n == 0)
		printf("keys    none (local use only)\n");
	else
		printf("keys    %zu (may run tug over SSH)\n", n);
	for (i = 0; i < n; i++) {
		struct mv	k;

		if (mv_arr_map(v, "keys", i, &k) == 1)
			printf("  %s %s %s\n", s_(&k, "fingerprint", fp,
			    sizeof fp), s_(&k, "type", type, sizeof type),
			    s_(&k, "comment", comment, sizeof comment));
	}
	mv_arr(v, "grants", &n, 4096, 0);
	if (n == 0)
		printf("grants  none\n");
	else
		printf("grants  %zu\n", n);
	for (i = 0; i < n; i++) {
		struct mv	g;

		if (mv_arr_map(v, "grants", i, &g) == 1)
			printf("  %-12s on %-24s (by %s)\n", s_(&g, "action", a,
			    sizeof a), s_(&g, "scope", sc, sizeof sc),
			    s_(&g, "by", by, sizeof by));
	}
	if (admin || n == 0)
		return;
	printf("may (inherited actions say via which grant):\n");
	mv_arr(v, "effective", &n, 4096, 0);
	for (i = 0; i < n; i++) {
		struct mv	row;

		if (mv_arr_map(v, "effective", i, &row) == 1)
			render_effective(&row);
	}
}

static void
render_user_key(struct mv *v)
{
	char	name[64], fp[80], type[48], path[PATH_MAX_TUG];

	if (mv_present(v, "removed")) {
		printf("removed %llu key%s of %s\n",
		    (unsigned long long)u_(v, "removed"),
		    u_(v, "removed") == 1 ? "" : "s",
		    s_(v, "name", name, sizeof name));
		return;
	}
	printf("%s key %s of %s added to %s\n", s_(v, "type", type,
	    sizeof type), s_(v, "fingerprint", fp, sizeof fp), s_(v, "name",
	    name, sizeof name), s_(v, "authorized_keys", path, sizeof path));
}

static void
render_grant(struct mv *v)
{
	char	user[64], action[32], scope[80];
	int	isnew = 0;

	s_(v, "user", user, sizeof user);
	s_(v, "action", action, sizeof action);
	s_(v, "scope", scope, sizeof scope);
	if (mv_present(v, "revoked"))
		printf("revoked %s on %s from %s\n", action, scope, user);
	else if (mv_bool(v, "new", &isnew, 0) == 1 && !isnew)
		printf("%s may %s %s already\n", user, action, scope);
	else
		printf("%s may now %s %s\n", user, action, scope);
}

/* Rows come newest first; printed oldest first, the newest at the end. */
static void
render_audit(struct mv *v)
{
	char	user[64], op[64], target[200], result[600], args[640];
	char	when[32], id[24];
	size_t	n, i;
	int	cut = 0;

	mv_arr(v, "rows", &n, 100000, 0);
	printf("%-6s %-19s %-12s %-14s %-16s %s\n", "ID", "TIME (UTC)", "USER",
	    "OP", "TARGET", "RESULT / ARGS");
	for (i = n; i > 0; i--) {
		struct mv	row;
		int64_t		at = 0;
		int		allowed = 0;
		time_t		tt;
		struct tm	tm;

		if (mv_arr_map(v, "rows", i - 1, &row) != 1)
			continue;
		mv_i64(&row, "at_ms", &at, 0);
		mv_bool(&row, "allowed", &allowed, 0);
		tt = (time_t)(at / 1000);
		strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S",
		    gmtime_r(&tt, &tm));
		snprintf(id, sizeof id, "%llu", (unsigned long long)u_(&row,
		    "id"));
		s_(&row, "args", args, sizeof args);
		if (strlen(args) > 60)
			snprintf(args + 57, sizeof args - 57, "...");
		s_(&row, "result", result, sizeof result);
		printf("%-6s %-19s %-12s %-14s %-16s %s%s  %s\n", id, when,
		    s_(&row, "user", user, sizeof user), s_(&row, "op", op,
		    sizeof op), s_(&row, "target", target, sizeof target),
		    allowed || strncmp(result, "permission denied", 17) == 0 ?
		    "" : "refused: ", result, strcmp(args, "{}") == 0 ? "" :
		    args);
	}
	mv_bool(v, "truncated", &cut, 0);
	if (cut)
		printf("(older rows cut to fit one frame; narrow with --since "
		    "or --limit)\n");
}

static void
render_audit_verify(struct mv *v)
{
	char	head[80];

	printf("audit chain OK: %llu rows, last row %llu, head %s\n",
	    (unsigned long long)u_(v, "rows"),
	    (unsigned long long)u_(v, "last_id"), s_(v, "head", head,
	    sizeof head));
}
