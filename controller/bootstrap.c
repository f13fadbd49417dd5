/*
 * bootstrap.c: putting this build's tug-agent on a host. The binary goes to
 * a content-addressed path under the SSH user's home, uploaded through the
 * exec channel only when that exact build is not there, verified there with
 * sha256sum, then run once with `check` so that missing shared libraries or
 * a Docker socket out of reach are reported by name. The remote commands are
 * fixed strings around our own hash: nothing a user typed reaches the shell.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


#include "common/fs.h"
#include "common/hash.h"
#include "common/log.h"
#include "controller/tug.h"

#define AGENT_MAX	(64u << 20)
#define AGENT_DIR	".tug/bin"

/* Runtime packages of the agent on Debian and Ubuntu. */
#define AGENT_DEPS	"libcurl4 libjansson4 libmsgpackc2 zlib1g"

struct agent_bin	agent_bin;
static unsigned		uploads;

int
agent_bin_load(const char *path, char *err, size_t errsz)
{
	struct buf	 b = BUF_INIT;
	char		 hash[SHA256_HEX_LEN + 1];

	if (fs_read_file(path, &b, AGENT_MAX) == -1) {
		snprintf(err, errsz, "cannot read the agent binary '%s': %m",
		    path);
		buf_release(&b);
		return -1;
	}
	sha256_hex(b.ptr, b.len, hash);
	if (hash[0] == '\0') {
		snprintf(err, errsz, "sha256 failed");
		buf_release(&b);
		return -1;
	}
	free(agent_bin.data);
	snprintf(agent_bin.path, sizeof agent_bin.path, "%s", path);
	snprintf(agent_bin.sha256, sizeof agent_bin.sha256, "%s", hash);
	agent_bin.data = buf_detach(&b, &agent_bin.len);
	return 0;
}

/* Relative to the SSH user's home, where exec channels start. */
void
agent_remote_path(char *dst, size_t dstsz)
{
	snprintf(dst, dstsz, AGENT_DIR "/tug-agent-%.16s", agent_bin.sha256);
}

static void
say(void (*progress)(void *, const char *, const char *), void *arg,
    const char *step, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
say(void (*progress)(void *, const char *, const char *), void *arg,
    const char *step, const char *fmt, ...)
{
	char	msg[512];
	va_list	ap;

	if (progress == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	progress(arg, step, msg);
}

/* The first line of a command's stderr, for an error message. */
static const char *
first_line(struct buf *b)
{
	size_t	n;

	if (b->len == 0)
		return "no output";
	n = strcspn(b->ptr, "\n");
	b->ptr[n] = '\0';
	return b->ptr;
}

/* Say what keeps the agent from running: a library or Docker access. */
static int
explain(struct sshc *sc, const char *host, int status, struct buf *errout)
{
	const char	*p, *lib;
	char		 esc[300];

	if ((p = strstr(buf_str(errout), "error while loading shared "
	    "libraries: ")) != NULL) {
		lib = p + strlen("error while loading shared libraries: ");
		snprintf(sc->err, sizeof sc->err, "%s: tug-agent cannot run: "
		    "missing shared library %.*s (on Debian or Ubuntu: tug host "
		    "bootstrap %s --install-deps, which runs apt-get install "
		    AGENT_DEPS " with sudo)", host, (int)strcspn(lib, ":"),
		    lib, host);
		return -1;
	}
	log_escape(esc, sizeof esc, buf_str(errout), errout->len);
	if (status == 1)
		snprintf(sc->err, sizeof sc->err, "%s: tug-agent cannot reach "
		    "Docker: %s", host, first_line(errout));
	else
		snprintf(sc->err, sizeof sc->err, "%s: tug-agent check exited "
		    "%d: %s", host, status, esc);
	return -1;
}

int
bootstrap(struct sshc *sc, const char *host, int install_deps,
    struct buf *facts, void (*progress)(void *, const char *, const char *),
    void *arg)
{
	struct buf	 out = BUF_INIT, errout = BUF_INIT;
	char		 path[PATH_MAX_TUG], cmd[1024], tmp[PATH_MAX_TUG];
	int		 st, r = -1, tries;

	agent_remote_path(path, sizeof path);
	snprintf(cmd, sizeof cmd, "sha256sum %s 2>/dev/null", path);
	st = sshc_run(sc, cmd, NULL, 0, &out, NULL, 30);
	if (st == 0 && strncmp(buf_str(&out), agent_bin.sha256, 64) == 0)
		say(progress, arg, "agent", "tug-agent %.16s already installed",
		    agent_bin.sha256);
	else {
		say(progress, arg, "upload", "uploading tug-agent %.16s (%zu "
		    "bytes)", agent_bin.sha256, agent_bin.len);
		/* Unique per upload: a host thread may bootstrap meanwhile. */
		snprintf(tmp, sizeof tmp, AGENT_DIR "/.tug-agent-%.16s.%ld.%u",
		    agent_bin.sha256, (long)getpid(),
		    __atomic_add_fetch(&uploads, 1, __ATOMIC_RELAXED));
		snprintf(cmd, sizeof cmd, "umask 077 && mkdir -p " AGENT_DIR
		    " && cat >%s && echo '%s  %s' | sha256sum -c --status && "
		    "chmod 700 %s && mv -f %s %s", tmp, agent_bin.sha256, tmp,
		    tmp, tmp, path);
		buf_reset(&errout);
		st = sshc_run(sc, cmd, agent_bin.data, agent_bin.len, NULL,
		    &errout, 120);
		if (st != 0) {
			snprintf(cmd, sizeof cmd, "rm -f %s", tmp);
			sshc_run(sc, cmd, NULL, 0, NULL, NULL, 10);
			if (st == -1)
				snprintf(tmp, sizeof tmp, "%s", sc->err);
			snprintf(sc->err, sizeof sc->err, "%s: uploading the "
			    "agent failed (%s)", host, st == 1 ? "its sha256 "
			    "did not match on the host" : st == -1 ? tmp :
			    first_line(&errout));
			goto out;
		}
		say(progress, arg, "upload", "verified sha256 %.16s on the "
		    "host", agent_bin.sha256);
	}

	for (tries = 0; tries < 2; tries++) {
		buf_reset(&out);
		buf_reset(&errout);
		snprintf(cmd, sizeof cmd, "%s check", path);
		if ((st = sshc_run(sc, cmd, NULL, 0, &out, &errout, 30)) == 0)
			break;
		if (st == -1)
			goto out;
		if (tries > 0 || !install_deps ||
		    strstr(buf_str(&errout), "shared libraries") == NULL) {
			explain(sc, host, st, &errout);
			goto out;
		}
		say(progress, arg, "deps", "installing " AGENT_DEPS " with "
		    "sudo apt-get");
		buf_reset(&errout);
		st = sshc_run(sc, "sudo -n env DEBIAN_FRONTEND=noninteractive "
		    "apt-get install -y -q " AGENT_DEPS, NULL, 0, NULL, &errout,
		    600);
		if (st != 0) {
			snprintf(sc->err, sizeof sc->err, "%s: installing the "
			    "agent's packages failed: %s", host,
			    first_line(&errout));
			goto out;
		}
	}
	say(progress, arg, "check", "tug-agent runs and reaches Docker");
	if (facts != NULL)
		buf_add(facts, out.ptr, strcspn(buf_str(&out), "\n"));
	/* Older builds of the agent are of no further use. */
	snprintf(cmd, sizeof cmd, "find " AGENT_DIR " -maxdepth 1 -name "
	    "'tug-agent-*' ! -name 'tug-agent-%.16s' -delete",
	    agent_bin.sha256);
	sshc_run(sc, cmd, NULL, 0, NULL, NULL, 10);
	r = 0;
out:
	buf_release(&out);
	buf_release(&errout);
	return r;
}

/*
 * System mode, once per host (DESIGN §6, agent/system.c): the agent just
 * installed runs as root through `sudo -n` and readies the host's proxy
 * (kind nginx or caddy; admin is Caddy's socket, NULL for nginx), or with
 * undo takes that back. Its output, with the JSON answer, goes to out. The
 * command is fixed words around checked paths and the host's SSH user.
 */
int
bootstrap_system(struct sshc *sc, const struct host_rec *h, const char *kind,
    const char *binary, const char *config, const char *admin,
    int install_deps, int undo, struct buf *out,
    void (*progress)(void *, const char *, const char *), void *arg)
{
	struct buf	 errout = BUF_INIT;
	char		 path[PATH_MAX_TUG], cmd[4 * PATH_MAX_TUG + 256];
	char		 argv[4 * PATH_MAX_TUG + 128], extra[PATH_MAX_TUG + 16] = "";
	const char	*why = NULL, *verb = undo ? "system-undo" :
			    "system-setup";
	const char	*pkg = strcmp(kind, "caddy") == 0 ? "caddy" : "nginx-light";
	const char	*deflt = strcmp(kind, "caddy") == 0 ? "/usr/bin/caddy" :
			    "/usr/sbin/nginx";
	int		 st, tries, r = -1;

	if ((strcmp(kind, "nginx") != 0 && strcmp(kind, "caddy") != 0) ||
	    (why = check_abs_path(binary)) != NULL ||
	    (why = check_abs_path(config)) != NULL ||
	    (admin != NULL && (why = check_abs_path(admin)) != NULL) ||
	    (why = check_ssh_user(h->user)) != NULL) {
		snprintf(sc->err, sizeof sc->err, "%s: system mode: %s",
		    h->name, why != NULL ? why : "nginx or caddy only");
		return -1;
	}
	if (admin != NULL)
		snprintf(extra, sizeof extra, " --admin %s", admin);
	agent_remote_path(path, sizeof path);
	snprintf(argv, sizeof argv, "%s %s %s --user %s --binary %s --config "
	    "%s%s", path, verb, kind, h->user, binary, config, extra);
	snprintf(cmd, sizeof cmd, "sudo -n %s", argv);
	for (tries = 0; tries < 2; tries++) {
		say(progress, arg, "system", "sudo -n tug-agent %s %s (%s)",
		    verb, kind, admin != NULL ? admin : config);
		buf_reset(out);
		buf_reset(&errout);
		if ((st = sshc_run(sc, cmd, NULL, 0, out, &errout, 120)) == 0) {
			r = 0;
			break;
		}
		if (st == -1)
			break;
		if (st == 127 || strstr(buf_str(&errout), "sudo: not found") !=
		    NULL || strstr(buf_str(&errout), "command not found") !=
		    NULL) {
			snprintf(sc->err, sizeof sc->err, "%s: sudo is not "
			    "installed: system mode needs root once (install "
			    "sudo, or run `%s` as root on the host)", h->name,
			    argv);
			break;
		}
		if (strncmp(buf_str(&errout), "sudo:", 5) == 0) {
			snprintf(sc->err, sizeof sc->err, "%s: sudo -n refused "
			    "(%s): system mode needs passwordless sudo once, "
			    "for this step only; or run `%s` as root on the "
			    "host", h->name, first_line(&errout), argv);
			break;
		}
		if (st == 3 && install_deps && tries == 0 && !undo &&
		    strcmp(binary, deflt) == 0) {
			say(progress, arg, "deps", "installing %s with sudo "
			    "apt-get", pkg);
			buf_reset(&errout);
			snprintf(cmd, sizeof cmd, "sudo -n env DEBIAN_FRONTEND="
			    "noninteractive apt-get install -y -q %s", pkg);
			st = sshc_run(sc, cmd, NULL, 0, NULL, &errout, 600);
			snprintf(cmd, sizeof cmd, "sudo -n %s", argv);
			if (st != 0) {
				snprintf(sc->err, sizeof sc->err, "%s: "
				    "installing %s failed: %s", h->name, pkg,
				    first_line(&errout));
				break;
			}
			continue;
		}
		snprintf(sc->err, sizeof sc->err, "%s: %s%s%s%s", h->name,
		    first_line(&errout), st == 3 && !undo ? " (tug host "
		    "bootstrap --install-deps installs Debian's " : "",
		    st == 3 && !undo ? kind : "", st == 3 && !undo ? ")" : "");
		break;
	}
	buf_release(&errout);
	return r;
}
