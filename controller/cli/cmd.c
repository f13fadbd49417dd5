/*
 * cmd.c: tug's command table, one entry of {words, op, usage, arity, flags,
 * renderer} a command, and the generic code around it: finding a command in
 * argv, printing usage, turning arguments and flags into the args map of
 * the REQUEST.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "common/fs.h"
#include "common/xmalloc.h"
#include "common/log.h"
#include "controller/cli/cli.h"

#define VAR_VALUE_MAX	32768	/* as tugd takes (cmd-env.c) */

/* tug's own: not sent, they change what tug does (cli_option()). */
#define YES_FLAG \
	{ "yes", "-yes", F_BOOL, "do not ask first (needed where stdin is " \
	  "not a terminal)", 'y' }
#define DETACH_FLAG \
	{ "detach", "-detach", F_BOOL, "return once the release is made; " \
	  "it rolls out in tugd (tug deploy --follow SITE)" }
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
	{ "host rm", "host.rm", "NAME [--purge] [-y|--yes]", "forget a host",
	  1, 1, { "name" }, {
		{ "purge", "purge", F_BOOL, "first remove what bootstrap put "
		  "on the host (system mode: with sudo)" },
		YES_FLAG,
		{ NULL } }, render_host_rm, CMD_CONFIRM },
	{ "host check", "host.check",
	  "[NAME...] [--group G] [--all] [--timeout MS]",
	  "ping the agents and show each host's facts",
	  0, -1, { "*hosts" }, { TARGET_FLAGS,
		{ "timeout", "timeout_ms", F_U64, "per-host timeout in ms" },
		{ NULL } }, render_host_check },
	{ "host bootstrap", "host.bootstrap",
	  "[NAME...] [--group G] [--all] [--install-deps] [--proxy nginx|caddy]\n"
	  "          [--proxy-mode agent|system] [--proxy-binary PATH] "
	  "[--proxy-config PATH]\n"
	  "          [--proxy-admin SOCKET] [--proxy-port PORT] "
	  "[--proxy-tls-port PORT]\n"
	  "          [--subnet-pool CIDR]",
	  "install or update the agent (and a proxy) on hosts",
	  0, -1, { "*hosts" }, { TARGET_FLAGS,
		{ "install-deps", "install_deps", F_BOOL,
		  "apt-get the agent's libraries (and nginx) with sudo" },
		{ "proxy", "proxy", F_STR, "set up this proxy (nginx or caddy)" },
		{ "proxy-mode", "proxy_mode", F_STR,
		  "agent: the agent's own proxy on high ports (default); "
		  "system: the host's nginx or caddy on 80 and 443, set up "
		  "once with sudo" },
		{ "proxy-binary", "proxy_binary", F_STR,
		  "system mode: the host's nginx (default /usr/sbin/nginx) or "
		  "caddy (/usr/bin/caddy)" },
		{ "proxy-config", "proxy_config", F_STR,
		  "system mode: its config (default /etc/nginx/nginx.conf; "
		  "caddy: the Caddyfile it starts from, /etc/caddy/Caddyfile)" },
		{ "proxy-admin", "proxy_admin", F_STR,
		  "system mode, caddy: its admin socket (default "
		  "/var/lib/caddy/tug-USER/admin.sock)" },
		{ "proxy-port", "proxy_port", F_U64,
		  "the proxy's port (default 8080; system mode 80)" },
		{ "proxy-tls-port", "proxy_tls_port", F_U64,
		  "also serve TLS sites on this port (system mode: 443)" },
		{ "subnet-pool", "subnet_pool", F_STR,
		  "sites' networks take /27s from this range (default "
		  "10.213.0.0/16)" },
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
	{ "site show", "site.status", "SITE",
	  "the whole picture of a site: its image and where it comes from, "
	  "the serving release, domains, TLS, each host's containers, the "
	  "newest releases",
	  1, 1, { "site" }, { { NULL } }, render_site_show },
	{ "site rm", "site.rm", "SITE [--volumes] [-y|--yes]",
	  "remove a site from every host (containers, proxy config, files)",
	  1, 1, { "site" }, {
		{ "volumes", "volumes", F_BOOL,
		  "also delete the site's named volumes (its data)" },
		YES_FLAG,
		{ NULL } }, render_site_rm, CMD_CONFIRM },
	{ "deploy", "deploy", "SITE [--image REF] [--detach] | --follow SITE",
	  "make a new release and roll it across the site's hosts",
	  1, 1, { "site" }, {
		{ "image", "image", F_STR, "deploy this image instead" },
		DETACH_FLAG,
		{ "follow", "=deploy.follow", F_BOOL, "watch the deploy of "
		  "SITE that runs in tugd now, to its end (or show how the "
		  "last one ended)" },
		{ NULL } }, render_deploy, CMD_ROLLOUT },
	{ "rollback", "rollback", "SITE [RELEASE] [--detach] [-y|--yes]",
	  "deploy an earlier release again (default: the previous one)",
	  1, 2, { "site", "#release" }, {
		DETACH_FLAG,
		YES_FLAG,
		{ NULL } }, render_deploy, CMD_ROLLOUT | CMD_CONFIRM },
	{ "releases", "releases", "SITE", "list a site's releases",
	  1, 1, { "site" }, { { NULL } }, render_releases },
	{ "start", "site.start", "SITE", "start a site's containers",
	  1, 1, { "site" }, { { NULL } }, render_power },
	{ "stop", "site.stop", "SITE", "stop a site's containers",
	  1, 1, { "site" }, { { NULL } }, render_power },
	{ "restart", "site.restart", "SITE [--detach]",
	  "the serving release again in a fresh container, without downtime",
	  1, 1, { "site" }, {
		DETACH_FLAG,
		{ NULL } }, render_restart, CMD_ROLLOUT },
	{ "logs", "logs",
	  "SITE [-f|--follow] [-n|--tail N|all] [--since T] [--host H]\n"
	  "          [--release N] [-t|--timestamps] [--json]",
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
		{ "release", "release", F_U64, "the container of release N "
		  "(a failed deploy's is kept until the next deploy)" },
		{ "timestamps", "timestamps", F_BOOL,
		  "show Docker's time of each line", 't' },
		{ "no-compress", "no_compress", F_BOOL,
		  "the agents send uncompressed frames (to measure)" },
		{ "stats", "stats", F_BOOL,
		  "print line and byte counts per host on stderr at the end" },
		{ NULL } }, render_logs, CMD_STREAM },
	{ "env set", "env.set", "SITE KEY=VALUE... | SITE KEY [--secret] "
	  "[--no-deploy]",
	  "set env values (a change redeploys the serving release); a KEY "
	  "without =VALUE reads its value from stdin, or asks for it on a "
	  "terminal without echo, so that it never shows in ps",
	  2, -1, { "site", "~vars" }, {
		{ "secret", "secret", F_BOOL, "encrypt at rest, never show" },
		{ "no-deploy", "no_deploy", F_BOOL, "apply at the next deploy" },
		{ NULL } }, render_env_set, CMD_ROLLOUT },
	{ "env unset", "env.unset", "SITE KEY... [--no-deploy]",
	  "remove env values set with env set",
	  2, -1, { "site", "*keys" }, {
		{ "no-deploy", "no_deploy", F_BOOL, "apply at the next deploy" },
		{ NULL } }, render_env_set, CMD_ROLLOUT },
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
	  "SERVER[:PORT] --username USER --password-stdin [--for SCOPE]",
	  "store a registry login; deploys pull from it with these credentials",
	  1, 1, { "server" }, {
		{ "username", "username", F_STR, "the registry user" },
		{ "for", "for", F_STR, "only sites of this scope use it: "
		  "site:S, group:G or global (the default)" },
		{ "password-stdin", "password", F_STDIN,
		  "read the password from stdin" },
		{ NULL } }, render_registry },
	{ "registry logout", "registry.logout", "SERVER[:PORT]",
	  "forget a registry login",
	  1, 1, { "server" }, { { NULL } }, render_registry },
	{ "registry list", "registry.list", "",
	  "list registry logins (passwords never shown)",
	  0, 0, { NULL }, { { NULL } }, render_registry },
	{ "acme set", "acme.set",
	  "[--ca URL] [--email E] [--trust-root PEMFILE] [--no-trust-root]\n"
	  "          [--host H [--clear]]",
	  "set the ACME CA that certificates come from (default Let's Encrypt)",
	  0, 0, { NULL }, {
		{ "host", "host", F_STR, "for this host only (its agent keeps "
		  "it, over the controller's)" },
		{ "clear", "clear", F_BOOL, "with --host: back to the "
		  "controller's" },
		{ "ca", "ca", F_STR, "the CA's ACME directory URL" },
		{ "email", "email", F_STR, "the contact address for the CA" },
		{ "trust-root", "trust_root", F_FILE,
		  "trust this PEM for the CA's own HTTPS (a private CA)" },
		{ "no-trust-root", "no_trust_root", F_BOOL,
		  "forget the trust root" },
		{ NULL } }, render_acme },
	{ "acme show", "acme.show", "", "show the ACME settings",
	  0, 0, { NULL }, { { NULL } }, render_acme },
	{ "cert list", "cert.list", "SITE",
	  "show the certificate each of a site's hosts serves",
	  1, 1, { "site" }, { { NULL } }, render_cert },
	{ "cert renew", "cert.renew", "SITE",
	  "get a new certificate for a site on each of its hosts now",
	  1, 1, { "site" }, { { NULL } }, render_cert },
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
	{ "user rm", "user.rm", "NAME [-y|--yes]",
	  "remove a user with their keys and grants",
	  1, 1, { "name" }, {
		YES_FLAG,
		{ NULL } }, render_user, CMD_CONFIRM },
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
	{ "audit verify", "audit.verify", "[--head ID:HASH]",
	  "check the audit log's hash chain; names edited and deleted rows",
	  0, 0, { NULL }, {
		{ "head", "head", F_STR,
		  "row ID must still have HASH (an anchor kept elsewhere)" },
		{ NULL } }, render_audit_verify },
};
#define NCMDS	(sizeof cmds / sizeof cmds[0])

void
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

/* The one usage line of c, for an error. */
void
usage_line(FILE *f, const struct cli_cmd *c)
{
	fprintf(f, "usage: tug %s%s%s\n", c->words, c->usage[0] != '\0' ?
	    " " : "", c->usage);
}

/* Word n (0-based) of c's words into w; 0 if it has no such word. */
static int
cmd_word(const struct cli_cmd *c, int n, char *w, size_t wsz)
{
	const char	*p = c->words;
	size_t		 len;

	for (; n > 0; n--) {
		if ((p = strchr(p, ' ')) == NULL)
			return 0;
		p++;
	}
	len = strcspn(p, " ");
	if (len == 0 || len >= wsz)
		return 0;
	memcpy(w, p, len);
	w[len] = '\0';
	return 1;
}

/* The commands whose words start with the first n of argv. */
static int
starts_with(const struct cli_cmd *c, int n, char **argv)
{
	char	w[64];
	int	k;

	for (k = 0; k < n; k++)
		if (!cmd_word(c, k, w, sizeof w) || strcmp(w, argv[k]) != 0)
			return 0;
	return 1;
}

/*
 * No command is argv: say what is wrong with the word that matched
 * nothing, suggest the nearest one, and list only the commands that begin
 * like argv ("tug site lsit": the site commands).
 */
void
unknown_cmd(FILE *f, int argc, char **argv)
{
	const char	*best = NULL;
	char		 w[64], prefix[128] = "", esc[96];
	size_t		 i;
	int		 n = 0, k, bestd = 3, listed = 0;

	/* How many words of argv some command starts with. */
	for (k = 1; k <= argc && k <= 3; k++) {
		for (i = 0; i < NCMDS; i++)
			if (starts_with(&cmds[i], k, argv))
				break;
		if (i == NCMDS)
			break;
		n = k;
	}
	for (k = 0; k < n; k++)
		snprintf(prefix + strlen(prefix), sizeof prefix -
		    strlen(prefix), "%s%s", k ? " " : "", argv[k]);
	if (n == argc) {
		fprintf(f, "tug %s: which one? It takes a command:\n", prefix);
	} else {
		for (i = 0; i < NCMDS; i++) {
			int	d;

			if (!starts_with(&cmds[i], n, argv) ||
			    !cmd_word(&cmds[i], n, w, sizeof w))
				continue;
			if ((d = word_distance(argv[n], w)) < bestd) {
				bestd = d;
				best = strchr(cmds[i].words, ' ') == NULL ||
				    n > 0 ? cmds[i].words : NULL;
				if (best == NULL)
					best = cmds[i].words;
			}
		}
		fprintf(f, "tug: unknown command '%s%s%s'", prefix,
		    n > 0 ? " " : "", log_escape(esc, sizeof esc, argv[n],
		    strlen(argv[n])));
		if (best != NULL) {
			/* Only the words up to the one mistyped. */
			char	 sug[64];
			size_t	 len;

			cmd_word(&(const struct cli_cmd){ .words = best }, n,
			    w, sizeof w);
			len = strlen(prefix);
			snprintf(sug, sizeof sug, "%s%s%s", prefix,
			    len > 0 ? " " : "", w);
			fprintf(f, "; did you mean '%s'?", sug);
		}
		fprintf(f, "\n");
	}
	if (n == 0) {
		fprintf(f, "`tug help` lists the commands.\n");
		return;
	}
	for (i = 0; i < NCMDS; i++)
		if (starts_with(&cmds[i], n, argv)) {
			if (listed++ == 0 && n < argc)
				fprintf(f, "\n");
			fprintf(f, "  tug %s%s%s\n", cmds[i].words,
			    cmds[i].usage[0] != '\0' ? " " : "", cmds[i].usage);
		}
}

/* What names the positional argument key of c: @site, @host, @user, or NULL. */
static const char *
pos_kind(const struct cli_cmd *c, const char *key)
{
	if (strcmp(key, "site") == 0)
		return "@site";
	if (strcmp(key, "user") == 0)
		return "@user";
	if (strcmp(key, "name") == 0 && strncmp(c->words, "host ", 5) == 0)
		return "@host";
	if (strcmp(key, "name") == 0 && strncmp(c->words, "user ", 5) == 0)
		return "@user";
	return NULL;
}

/*
 * tug __complete WORD... CUR: what may come next, one a line, for the
 * shell's completion (tug completion bash): command words, a command's
 * flags, or @site, @host, @user for names the script asks tugd for.
 */
int
complete(int argc, char **argv)
{
	const struct cli_cmd	*c;
	const char		*cur = argc > 0 ? argv[argc - 1] : "", *k;
	char			 w[64], prev[64] = "";
	int			 typed = argc > 0 ? argc - 1 : 0, used, npos, i;
	size_t			 n;

	/* More words of a command? */
	for (n = 0; n < NCMDS; n++)
		if (starts_with(&cmds[n], typed, argv) &&
		    cmd_word(&cmds[n], typed, w, sizeof w) &&
		    strcmp(w, prev) != 0) {
			printf("%s\n", w);
			snprintf(prev, sizeof prev, "%s", w);
		}
	if (typed == 0)
		printf("help\nversion\ncompletion\n");
	if ((c = find_cmd(typed, argv, &used)) == NULL)
		return 0;
	if (cur[0] == '-') {
		const struct cli_flag	*fl;

		for (fl = c->flags; fl->name != NULL; fl++)
			printf("--%s\n", fl->name);
		printf("--json\n--help\n");
		return 0;
	}
	/* The positional argument this word would be. */
	for (npos = 0, i = used; i < typed; i++)
		if (argv[i][0] != '-')
			npos++;
	if (npos < 3 && c->pos[npos] != NULL &&
	    (k = pos_kind(c, c->pos[npos])) != NULL)
		printf("%s\n", k);
	return 0;
}

/* tug completion bash|zsh: the script, made from the table at run time. */
int
completion(int argc, char **argv)
{
	if (argc != 1 || (strcmp(argv[0], "bash") != 0 &&
	    strcmp(argv[0], "zsh") != 0)) {
		fprintf(stderr, "tug completion: bash or zsh\n"
		    "usage: tug completion bash|zsh  (e.g. source <(tug "
		    "completion bash))\n");
		return 2;
	}
	if (strcmp(argv[0], "zsh") == 0)
		printf("autoload -U +X bashcompinit && bashcompinit\n");
	printf("# tug completion for %s: source <(tug completion %s)\n"
	    "_tug() {\n"
	    "\tlocal cur=${COMP_WORDS[COMP_CWORD]} c IFS=$'\\n'\n"
	    "\tlocal -a out=()\n"
	    "\tfor c in $(tug __complete \"${COMP_WORDS[@]:1:COMP_CWORD-1}\" "
	    "\"$cur\" 2>/dev/null); do\n"
	    "\t\tcase $c in\n"
	    "\t\t@site) out+=($(tug site list 2>/dev/null | "
	    "awk 'NR > 1 { print $1 }')) ;;\n"
	    "\t\t@host) out+=($(tug host list 2>/dev/null | "
	    "awk 'NR > 1 { print $1 }')) ;;\n"
	    "\t\t@user) out+=($(tug user list 2>/dev/null | "
	    "awk 'NR > 1 { print $1 }')) ;;\n"
	    "\t\t*) out+=(\"$c\") ;;\n"
	    "\t\tesac\n"
	    "\tdone\n"
	    "\tCOMPREPLY=($(compgen -W \"${out[*]}\" -- \"$cur\"))\n"
	    "}\n"
	    "complete -F _tug tug\n", argv[0], argv[0]);
	return 0;
}

/* s for roff: backslashes doubled, a leading . or ' made text. */
static void
roff(FILE *f, const char *s)
{
	if (*s == '.' || *s == '\'')
		fputs("\\&", f);
	for (; *s != '\0'; s++) {
		if (*s == '\n') {	/* a usage's wrapped line: one line */
			while (s[1] == ' ')
				s++;
			fputc(' ', f);
		} else if (*s == '\\')
			fputs("\\e", f);
		else if (*s == '-')
			fputs("\\-", f);
		else
			fputc(*s, f);
	}
}

/* tug __man: tug(1), from the same table as --help and tug help. */
int
man_page(void)
{
	const struct cli_flag	*fl;
	size_t			 i;

	printf(".TH TUG 1 \"\" \"tug %s\" \"tug\"\n"
	    ".na\n.nh\n"
	    ".SH NAME\ntug \\- deploy and run web apps on your own hosts\n"
	    ".SH SYNOPSIS\n.B tug\n[\\fB\\-\\-json\\fR] [\\fB\\-q\\fR] "
	    "[\\fB\\-\\-home\\fR \\fIDIR\\fR] [\\fB\\-\\-socket\\fR "
	    "\\fIPATH\\fR] [\\fB\\-\\-as\\fR \\fIUSER\\fR] \\fICOMMAND\\fR "
	    "[\\fIARGS\\fR]\n"
	    ".SH DESCRIPTION\n"
	    "tug sends one request to tugd(8) and prints what comes back: "
	    "progress on stderr, the result on stdout, as text or with "
	    "\\fB\\-\\-json\\fR as JSON. It starts tugd when none is running. "
	    "Every command takes \\fB\\-\\-help\\fR.\n"
	    ".SH COMMANDS\n", TUG_VERSION);
	for (i = 0; i < NCMDS; i++) {
		printf(".TP\n\\fBtug %s\\fR", cmds[i].words);
		if (cmds[i].usage[0] != '\0') {
			putchar(' ');
			roff(stdout, cmds[i].usage);
		}
		putchar('\n');
		roff(stdout, cmds[i].help);
		putchar('\n');
		for (fl = cmds[i].flags; fl->name != NULL; fl++) {
			printf(".RS\n.TP\n\\fB\\-\\-");
			roff(stdout, fl->name);
			printf("\\fR\n");
			roff(stdout, fl->help);
			printf("\n.RE\n");
		}
	}
	printf(".SH EXIT STATUS\n0 done; 1 the request failed or was refused "
	    "(for fleet commands: a host failed); 2 usage; 3 tugd could not "
	    "be reached.\n"
	    ".SH ENVIRONMENT\n.TP\n\\fBTUG_HOME\\fR, \\fBTUG_SOCKET\\fR\n"
	    "tugd's state directory and socket.\n"
	    ".TP\n\\fBTUG_NO_AUTOSTART\\fR\nfail rather than start tugd.\n"
	    ".SH SEE ALSO\ntugd(8), tug\\-site.yml(5), "
	    "/usr/local/share/doc/tug/cli.md\n");
	return 0;
}

/* tug help [COMMAND...]: the list, or one command's help. 0 or 2. */
int
help(int argc, char **argv)
{
	const struct cli_cmd	*c;
	int			 used;

	if (argc == 0) {
		usage_all(stdout);
		return 0;
	}
	if ((c = find_cmd(argc, argv, &used)) == NULL || used != argc) {
		unknown_cmd(stderr, argc, argv);
		return 2;
	}
	usage_cmd(stdout, c);
	return 0;
}

void
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
const struct cli_cmd *
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

/* An option c does not have: the nearest it has, and its usage line. */
static void
unknown_flag(const struct cli_cmd *c, const char *a)
{
	const struct cli_flag	*fl, *best = NULL;
	char			 esc[96];
	int			 d, bestd = 3;

	for (fl = c->flags; fl->name != NULL; fl++)
		if ((d = word_distance(a + 2, fl->name)) < bestd) {
			bestd = d;
			best = fl;
		}
	fprintf(stderr, "tug %s: unknown option '%s'", c->words,
	    log_escape(esc, sizeof esc, a, strlen(a)));
	if (best != NULL)
		fprintf(stderr, "; did you mean '--%s'?", best->name);
	fprintf(stderr, "\n");
	usage_line(stderr, c);
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

static struct termios	 tty_saved;
static volatile sig_atomic_t tty_changed;

static void
tty_restore(int sig)
{
	if (tty_changed)
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &tty_saved);
	if (sig != 0) {
		signal(sig, SIG_DFL);
		raise(sig);
	}
}

/*
 * The value of KEY, for env set: typed at a prompt without echo when stdin
 * is a terminal, else stdin's one line. It goes out as "KEY=value" and
 * never through argv, so no ps shows it.
 */
static int
read_var_value(const struct cli_cmd *c, const char *key, struct enc *e)
{
	char	*v = xmalloc(VAR_VALUE_MAX + 2);
	size_t	 n = 0;
	ssize_t	 r;
	int	 tty = isatty(STDIN_FILENO), rc = -1;

	if (tty) {
		struct termios	t;

		if (tcgetattr(STDIN_FILENO, &tty_saved) == -1) {
			fprintf(stderr, "tug %s: cannot read the terminal: %s\n",
			    c->words, strerror(errno));
			goto out;
		}
		t = tty_saved;
		t.c_lflag &= ~(tcflag_t)ECHO;
		signal(SIGINT, tty_restore);
		signal(SIGTERM, tty_restore);
		tty_changed = 1;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &t);
		fprintf(stderr, "value of %s: ", key);
	}
	while (n < VAR_VALUE_MAX + 1 && (r = read(STDIN_FILENO, v + n,
	    VAR_VALUE_MAX + 1 - n)) != 0) {
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			fprintf(stderr, "%stug %s: cannot read the value of %s: "
			    "%s\n", tty ? "\n" : "", c->words, key,
			    strerror(errno));
			goto out;
		}
		n += (size_t)r;
		if (tty && memchr(v, '\n', n) != NULL)
			break;
	}
	if (tty) {
		tty_restore(0);
		tty_changed = 0;
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		fprintf(stderr, "\n");
	}
	if (n > 0 && v[n - 1] == '\n')
		n--;
	if (n > 0 && v[n - 1] == '\r')
		n--;
	if (n > VAR_VALUE_MAX || memchr(v, '\n', n) != NULL) {
		fprintf(stderr, "tug %s: the value of %s must be one line of at "
		    "most %d bytes\n", c->words, key, VAR_VALUE_MAX);
		goto out;
	}
	{
		struct buf	kv = BUF_INIT;

		buf_addf(&kv, "%s=", key);
		buf_add(&kv, v, n);
		enc_strn(e, kv.ptr, kv.len);
		explicit_bzero(kv.ptr, kv.len);
		buf_release(&kv);
	}
	rc = 0;
out:
	explicit_bzero(v, VAR_VALUE_MAX + 2);
	free(v);
	return rc;
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

/* The options of tug itself that a command's flags set. */
int		 assume_yes;	/* --yes */
int		 detach;	/* --detach */
const char	*cmd_args[3];	/* the first positional arguments */

static void
cli_option(const char *name)
{
	if (strcmp(name, "yes") == 0)
		assume_yes = 1;
	else if (strcmp(name, "detach") == 0)
		detach = 1;
}

/*
 * The op of the request: c's, or another that one of its flags names
 * (deploy --follow is deploy.follow).
 */
const char *
cmd_op(const struct cli_cmd *c, int argc, char **argv)
{
	const struct cli_flag	*fl;
	int			 i;

	for (i = 0; i < argc && strcmp(argv[i], "--") != 0; i++)
		for (fl = c->flags; fl->name != NULL; fl++)
			if (fl->key[0] == '=' && strncmp(argv[i], "--", 2) ==
			    0 && strcmp(argv[i] + 2, fl->name) == 0)
				return fl->key + 1;
	return c->op;
}

/* The question a destructive command asks, in what. */
static void
confirm_what(const struct cli_cmd *c, int argc, char **argv, char *what,
    size_t n)
{
	const char	*a0 = cmd_args[0] != NULL ? cmd_args[0] : "?";
	int		 i, flag = 0;

	for (i = 0; i < argc; i++)
		if (strcmp(argv[i], "--volumes") == 0 ||
		    strcmp(argv[i], "--purge") == 0)
			flag = 1;
	if (strcmp(c->op, "site.rm") == 0)
		snprintf(what, n, "remove site %s from all its hosts: its "
		    "containers, proxy config and files%s", a0, flag ?
		    ", and its named volumes (its data)" : "");
	else if (strcmp(c->op, "host.rm") == 0)
		snprintf(what, n, "forget host %s%s", a0, flag ? ", first "
		    "removing what bootstrap put on it" : "");
	else if (strcmp(c->op, "user.rm") == 0)
		snprintf(what, n, "remove user %s with their keys and grants",
		    a0);
	else if (cmd_args[1] != NULL)
		snprintf(what, n, "roll %s back to release %s", a0,
		    cmd_args[1]);
	else
		snprintf(what, n, "roll %s back to its previous good release",
		    a0);
}

/*
 * A destructive command asks on a terminal; elsewhere it needs --yes.
 * 0 go on, else tug's exit status.
 */
int
confirm(const struct cli_cmd *c, int argc, char **argv)
{
	char	what[300], ans[16];
	size_t	n = 0;
	ssize_t	r;

	if (!(c->mode & CMD_CONFIRM) || assume_yes)
		return 0;
	confirm_what(c, argc, argv, what, sizeof what);
	if (!isatty(STDIN_FILENO) || !isatty(STDERR_FILENO)) {
		fprintf(stderr, "tug %s: this would %s. Add --yes to do it: "
		    "stdin is not a terminal, so tug cannot ask\n", c->words,
		    what);
		return 2;
	}
	fprintf(stderr, "%c%s? [y/N] ", what[0] - 'a' + 'A', what + 1);
	while (n < sizeof ans - 1) {
		if ((r = read(STDIN_FILENO, ans + n, 1)) == -1 &&
		    errno == EINTR)
			continue;
		if (r != 1 || ans[n] == '\n')
			break;
		n++;
	}
	ans[n] = '\0';
	if (strcmp(ans, "y") == 0 || strcmp(ans, "Y") == 0 ||
	    strcmp(ans, "yes") == 0)
		return 0;
	fprintf(stderr, "tug %s: not confirmed; nothing done\n", c->words);
	return 1;
}

/* argv (after the command words) into the args map of the request. */
int
build_args(const struct cli_cmd *c, int argc, char **argv, struct enc *e)
{
	const struct cli_flag	*fl;
	char			*pos[256];
	int			 npos = 0, i, p, k, nflags, dashdash = 0;
	int			 given[16] = { 0 };

	for (nflags = 0; c->flags[nflags].name != NULL; nflags++)
		;
	for (i = 0; i < argc; i++) {
		const char	*a = argv[i];

		if (!dashdash && (fl = find_letter(c, a)) != NULL)
			goto flag;
		if (!dashdash && strcmp(a, "-h") == 0) {
			usage_cmd(stdout, c);
			exit(0);
		}
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
			unknown_flag(c, a);
			return -1;
		}
flag:
		k = (int)(fl - c->flags);
		if (given[k]++ > 0 && fl->type != F_LIST) {
			fprintf(stderr, "tug %s: --%s given twice\n", c->words,
			    fl->name);
			return -1;
		}
		if (fl->type == F_BOOL && fl->key[0] == '-') {
			cli_option(fl->key + 1);	/* tug's own */
			continue;
		}
		if (fl->type == F_BOOL && fl->key[0] == '=')
			continue;			/* cmd_op() read it */
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
		else if (fl->type == F_FILE) {	/* the file's text */
			struct buf	b = BUF_INIT;

			if (fs_read_file(argv[i], &b, 64 << 10) == -1) {
				fprintf(stderr, "tug %s: cannot read '%s': %s\n",
				    c->words, argv[i], errno == EFBIG ?
				    "larger than 64 KiB" : strerror(errno));
				buf_release(&b);
				return -1;
			}
			enc_kstr(e, fl->key, buf_str(&b));
			buf_release(&b);
		}
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
		fprintf(stderr, "tug %s: %s\n", c->words, npos < c->minargs ?
		    "missing arguments" : "too many arguments");
		usage_line(stderr, c);
		return -1;
	}
	for (i = 0; i < npos && i < 3; i++)
		cmd_args[i] = pos[i];
	for (p = 0, i = 0; i < npos && c->pos[p] != NULL; i++) {
		const char *key = c->pos[p];

		if (key[0] == '*' || key[0] == '~') {
			int	asked = 0;

			enc_karr(e, key + 1);
			for (; i < npos; i++) {
				if (key[0] == '~' && strchr(pos[i], '=') ==
				    NULL) {
					if (asked++ > 0 || read_var_value(c,
					    pos[i], e) == -1) {
						if (asked > 1)
							fprintf(stderr, "tug "
							    "%s: one KEY "
							    "without =VALUE "
							    "at a time: its "
							    "value comes from "
							    "stdin\n",
							    c->words);
						return -1;
					}
					continue;
				}
				enc_str(e, pos[i]);
			}
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
