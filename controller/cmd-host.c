/*
 * cmd-host.c: the host ops. host.add connects, shows and pins the host key
 * and bootstraps the agent before anything is stored; host.check fans a ping
 * out to every target host in parallel over the persistent sessions and
 * reports each host's own outcome; list, rm and bootstrap round them off.
 */
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "controller/request.h"
#include "controller/tug.h"

#define CHECK_TIMEOUT_MS	20000

static const char *
esc(char *dst, size_t n, const char *s)
{
	return log_escape(dst, n, s, strlen(s));
}

static void
progress_to_client(void *arg, const char *step, const char *msg)
{
	void	**a = arg;

	req_progress(a[0], a[1], step, "%s", msg);
}

/* [USER@]ADDR[:PORT] into its parts, each validated. */
static int
parse_target(struct req *rq, const char *s, struct host_rec *h)
{
	const char	*at = strchr(s, '@'), *addr, *colon, *why;
	char		 e[128];
	size_t		 al;

	if (at != NULL) {
		if ((size_t)(at - s) >= sizeof h->user) {
			req_fail(rq, E_BAD_ARGS, "invalid SSH user in '%s'",
			    esc(e, sizeof e, s));
			return -1;
		}
		memcpy(h->user, s, (size_t)(at - s));
		h->user[at - s] = '\0';
		addr = at + 1;
	} else {
		struct passwd *pw = getpwuid(getuid());

		snprintf(h->user, sizeof h->user, "%s",
		    pw != NULL ? pw->pw_name : "root");
		addr = s;
	}
	if ((why = check_ssh_user(h->user)) != NULL) {
		req_fail(rq, E_BAD_ARGS, "invalid SSH user '%s': %s",
		    esc(e, sizeof e, h->user), why);
		return -1;
	}
	h->port = 22;
	colon = strchr(addr, ':');
	al = colon != NULL ? (size_t)(colon - addr) : strlen(addr);
	if (al == 0 || al >= sizeof h->addr) {
		req_fail(rq, E_BAD_ARGS, "invalid address in '%s'",
		    esc(e, sizeof e, s));
		return -1;
	}
	memcpy(h->addr, addr, al);
	h->addr[al] = '\0';
	if (colon != NULL) {
		char	*end;
		long	 p = strtol(colon + 1, &end, 10);

		if (*end != '\0' || end == colon + 1 || p < 1 || p > 65535) {
			req_fail(rq, E_BAD_ARGS, "invalid port in '%s'",
			    esc(e, sizeof e, s));
			return -1;
		}
		h->port = (unsigned)p;
	}
	if ((why = check_address(h->addr)) != NULL) {
		req_fail(rq, E_BAD_ARGS, "invalid address '%s': %s",
		    esc(e, sizeof e, h->addr), why);
		return -1;
	}
	return 0;
}

static int
check_fingerprint(const char *s)
{
	size_t	i, n = strlen(s);

	if (strncmp(s, "SHA256:", 7) != 0 || n != 7 + 43)
		return -1;
	for (i = 7; i < n; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' &&
		    s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		    s[i] == '+' || s[i] == '/'))
			return -1;
	return 0;
}

void
cmd_host_add(struct req *rq, struct mv *args)
{
	struct host_rec		 h;
	struct ssh_target	 t;
	struct sshc		 sc;
	struct buf		 facts = BUF_INIT;
	struct enc		 e;
	char			 target[320], hostkey[FINGERPRINT_MAX] = "";
	char			 ebuf[128], name[256];
	const char		*why;
	size_t			 ng, i;
	int			 accept_new = 0, no_boot = 0, deps = 0, r;
	void			*parg[2];

	memset(&h, 0, sizeof h);
	if (mv_str(args, "name", name, sizeof name, MV_REQ) != 1 ||
	    mv_str(args, "target", target, sizeof target, MV_REQ) != 1 ||
	    mv_str(args, "key", h.key_path, sizeof h.key_path, 0) == -1 ||
	    mv_str(args, "hostkey", hostkey, sizeof hostkey, 0) == -1 ||
	    mv_bool(args, "accept_new", &accept_new, 0) == -1 ||
	    mv_bool(args, "no_bootstrap", &no_boot, 0) == -1 ||
	    mv_bool(args, "install_deps", &deps, 0) == -1 ||
	    mv_arr(args, "groups", &ng, HOST_GROUPS_MAX, 0) == -1) {
		req_fail(rq, E_BAD_ARGS, "%s", args->err);
		return;
	}
	if ((why = check_host_name(name)) != NULL) {
		req_fail(rq, E_BAD_ARGS, "invalid host name '%s': %s",
		    esc(ebuf, sizeof ebuf, name), why);
		return;
	}
	snprintf(h.name, sizeof h.name, "%s", name);
	for (i = 0; i < ng; i++) {
		if (mv_arr_str(args, "groups", i, h.groups[i],
		    sizeof h.groups[i]) == -1) {
			req_fail(rq, E_BAD_ARGS, "%s", args->err);
			return;
		}
		if ((why = check_group_name(h.groups[i])) != NULL) {
			req_fail(rq, E_BAD_ARGS, "invalid group '%s': %s",
			    esc(ebuf, sizeof ebuf, h.groups[i]), why);
			return;
		}
	}
	h.ngroups = (int)ng;
	if (h.key_path[0] != '\0' && (why = check_abs_path(h.key_path))) {
		req_fail(rq, E_BAD_ARGS, "invalid key path '%s': %s",
		    esc(ebuf, sizeof ebuf, h.key_path), why);
		return;
	}
	if (hostkey[0] != '\0' && check_fingerprint(hostkey) == -1) {
		req_fail(rq, E_BAD_ARGS, "invalid --hostkey '%s': expected "
		    "SHA256: and 43 base64 characters",
		    esc(ebuf, sizeof ebuf, hostkey));
		return;
	}
	if (parse_target(rq, target, &h) == -1)
		return;
	if ((r = host_load(h.name, &(struct host_rec){ 0 })) != 0) {
		req_fail(rq, r == 1 ? "conflict" : E_INTERNAL, r == 1 ?
		    "host '%s' exists" : "cannot read host '%s'", h.name);
		return;
	}

	memset(&t, 0, sizeof t);
	t.name = h.name;
	t.addr = h.addr;
	t.port = h.port;
	t.user = h.user;
	t.key_path = h.key_path;
	t.pinned = hostkey;
	t.expected = hostkey[0] != '\0';
	t.accept_new = accept_new;
	t.timeout_s = 10;
	req_progress(rq, h.name, "connect", "connecting to %s@%s:%u",
	    h.user, h.addr, h.port);
	if (sshc_connect(&sc, &t) == -1) {
		req_fail(rq, "ssh", "%s", sc.err);
		return;
	}
	req_progress(rq, h.name, "hostkey", "host key %s %s", sc.fingerprint,
	    hostkey[0] != '\0' ? "matches --hostkey" : "accepted and pinned");
	snprintf(h.hostkey, sizeof h.hostkey, "%s", sc.fingerprint);
	if (!no_boot) {
		parg[0] = rq;
		parg[1] = h.name;
		if (bootstrap(&sc, h.name, deps, &facts, progress_to_client,
		    parg) == -1) {
			req_fail(rq, "bootstrap", "%s", sc.err);
			sshc_close(&sc);
			buf_release(&facts);
			return;
		}
		snprintf(h.agent_hash, sizeof h.agent_hash, "%s",
		    agent_bin.sha256);
		h.facts = facts.len > 0 ? facts.ptr : NULL;
		h.last_seen = (int64_t)(wall_ms() / 1000);
	}
	sshc_close(&sc);
	if (host_insert(&h) == -1) {
		req_fail(rq, E_INTERNAL, "cannot store host '%s'", h.name);
		buf_release(&facts);
		return;
	}
	if (fleet_add(&h) == -1) {
		req_fail(rq, E_INTERNAL, "host '%s' is stored, but tugd cannot "
		    "start its session now (out of threads or open files): "
		    "restart tugd", h.name);
		buf_release(&facts);
		return;
	}
	req_result_begin(rq, &e);
	enc_kstr(&e, "name", h.name);
	enc_kstr(&e, "address", h.addr);
	enc_ku64(&e, "port", h.port);
	enc_kstr(&e, "user", h.user);
	enc_kstr(&e, "hostkey", h.hostkey);
	enc_karr(&e, "groups");
	for (i = 0; i < (size_t)h.ngroups; i++)
		enc_str(&e, h.groups[i]);
	enc_close(&e);
	enc_kbool(&e, "bootstrapped", !no_boot);
	req_ok(rq, &e);
	buf_release(&facts);
}

static const char *
state_name(enum host_state s)
{
	switch (s) {
	case H_UP:		return "connected";
	case H_CONNECTING:	return "connecting";
	case H_DOWN:		return "down";
	default:		return "idle";
	}
}

void
cmd_host_list(struct req *rq, struct mv *args)
{
	struct host_rec	*hosts;
	struct enc	 e;
	size_t		 n, i;
	int		 g;

	(void)args;
	if (hosts_load(&hosts, &n) == -1) {
		req_fail(rq, E_INTERNAL, "cannot read hosts");
		return;
	}
	req_result_begin(rq, &e);
	enc_karr(&e, "hosts");
	for (i = 0; i < n; i++) {
		struct host		*h;
		struct host_info	 hi = { 0 };
		char			 scope[HOST_NAME_MAX_TUG + 8];

		/* Only the hosts the caller may view. */
		snprintf(scope, sizeof scope, "host:%s", hosts[i].name);
		if (!rbac_allowed(rq->user, "view", scope)) {
			host_rec_free(&hosts[i]);
			continue;
		}
		if ((h = fleet_get(hosts[i].name)) != NULL) {
			host_info(h, &hi);
			host_unref(h);
		}
		enc_map_open(&e);
		enc_kstr(&e, "name", hosts[i].name);
		enc_kstr(&e, "address", hosts[i].addr);
		enc_ku64(&e, "port", hosts[i].port);
		enc_kstr(&e, "user", hosts[i].user);
		enc_karr(&e, "groups");
		for (g = 0; g < hosts[i].ngroups; g++)
			enc_str(&e, hosts[i].groups[g]);
		enc_close(&e);
		enc_kstr(&e, "hostkey", hosts[i].hostkey);
		enc_kstr(&e, "state", state_name(hi.state));
		if (hi.error[0] != '\0')
			enc_kstr(&e, "error", hi.error);
		enc_ki64(&e, "last_seen", hosts[i].last_seen);
		enc_close(&e);
		host_info_free(&hi);
		host_rec_free(&hosts[i]);
	}
	enc_close(&e);
	free(hosts);
	req_ok(rq, &e);
}

/* What system-setup or -undo said besides its JSON: "tug-agent: ..." lines. */
static void
system_say(const struct buf *out, void *parg, const char *step)
{
	const char	*p = buf_str(out);
	char		 line[300];
	size_t		 n;

	for (; *p != '\0'; p += n + (p[n] == '\n')) {
		n = strcspn(p, "\n");
		if (strncmp(p, "tug-agent: ", 11) == 0) {
			snprintf(line, sizeof line, "%.*s", (int)(n - 11),
			    p + 11);
			progress_to_client(parg, step, line);
		}
	}
}

/* The last line of out that is a JSON object: setup's answer. */
static json_t *
system_answer(const struct buf *out)
{
	const char	*p = buf_str(out), *last = NULL;
	size_t		 n;

	for (; *p != '\0'; p += n + (p[n] == '\n')) {
		n = strcspn(p, "\n");
		if (*p == '{')
			last = p;
	}
	return last != NULL ? json_loadb(last, strcspn(last, "\n"), 0, NULL) :
	    NULL;
}

/*
 * host rm --purge: take back what bootstrap put on the host. In system
 * mode that is system-setup's include dir, snippet and sudoers rule, which
 * needs sudo once more; then the agent's binaries. 0, or -1 answered.
 */
static int
host_purge(struct req *rq, const char *name)
{
	struct host_rec		 h;
	struct fan_result	 res[2];
	struct ssh_target	 t;
	struct sshc		 sc;
	struct mv		 b, v;
	struct buf		 out = BUF_INIT;
	char			*names[1] = { (char *)name }, tmp[MSG_ERRLEN];
	char			 mode[16] = "", bin[PATH_MAX_TUG] = "";
	char			 conf[PATH_MAX_TUG] = "", kind[16] = "";
	void			*parg[2] = { rq, (void *)name };
	int			 r = -1;

	if (host_load(name, &h) != 1) {
		req_fail(rq, E_NOT_FOUND, "no host '%s'", name);
		return -1;
	}
	memset(res, 0, sizeof res);
	fleet_run(rq, names, 1, "proxy.status", NULL, NULL, 15000, res);
	if (!res[0].ok) {
		req_fail(rq, "unreachable", "cannot purge %s: %s (tug host rm "
		    "%s without --purge forgets it and leaves the host as it "
		    "is)", name, res[0].err, name);
		goto out;
	}
	msg_body(&res[0].m, &b, tmp, "");
	mv_map(&b, "value", &v, 0);
	mv_str(&v, "mode", mode, sizeof mode, 0);
	mv_str(&v, "kind", kind, sizeof kind, 0);
	mv_str(&v, "binary", bin, sizeof bin, 0);
	mv_str(&v, "config", conf, sizeof conf, 0);
	memset(&t, 0, sizeof t);
	t.name = h.name;
	t.addr = h.addr;
	t.port = h.port;
	t.user = h.user;
	t.key_path = h.key_path;
	t.pinned = h.hostkey;
	t.timeout_s = 10;
	if (sshc_connect(&sc, &t) == -1) {
		req_fail(rq, "unreachable", "cannot purge %s: %s", name,
		    sc.err);
		goto out;
	}
	/* For caddy, "config" is the host's admin socket. */
	if (strcmp(mode, "system") == 0 && (strcmp(kind, "caddy") == 0 ?
	    bootstrap_system(&sc, &h, "caddy", bin, "/etc/caddy/Caddyfile",
	    conf, 0, 1, &out, progress_to_client, parg) :
	    bootstrap_system(&sc, &h, "nginx", bin, conf, NULL, 0, 1, &out,
	    progress_to_client, parg)) == -1) {
		req_fail(rq, "purge", "%s\n%s is kept: run the command above "
		    "on the host, then tug host rm %s", sc.err, name, name);
		sshc_close(&sc);
		goto out;
	}
	system_say(&out, parg, "purge");
	{
		json_t	*ans = system_answer(&out);
		char	*text = ans != NULL ? json_dumps(ans, JSON_COMPACT) :
			    NULL;

		if (text != NULL)
			req_progress(rq, name, "purge", "system-undo: %s",
			    text);
		free(text);
		json_decref(ans);
	}
	/* Fixed words: the agent's own directory of binaries. */
	sshc_run(&sc, "rm -f .tug/bin/tug-agent-* && rmdir .tug/bin",
	    NULL, 0, NULL, NULL, 10);
	req_progress(rq, name, "purge", "removed the agent binaries in "
	    "~/.tug/bin");
	sshc_close(&sc);
	r = 0;
out:
	fan_results_free(res, 1);
	buf_release(&out);
	host_rec_free(&h);
	return r;
}

void
cmd_host_rm(struct req *rq, struct mv *args)
{
	struct enc	e;
	char		name[HOST_NAME_MAX_TUG + 1];
	int		r, purge = 0;

	if (mv_str(args, "name", name, sizeof name, MV_REQ) != 1 ||
	    mv_bool(args, "purge", &purge, 0) == -1) {
		req_fail(rq, E_BAD_ARGS, "%s", args->err);
		return;
	}
	if (purge && host_purge(rq, name) == -1)
		return;
	if ((r = host_delete(name)) <= 0) {
		req_fail(rq, r == 0 ? E_NOT_FOUND : E_INTERNAL, r == 0 ?
		    "no host '%s'" : "cannot delete host '%s'", name);
		return;
	}
	fleet_remove(name);
	req_result_begin(rq, &e);
	enc_kstr(&e, "removed", name);
	req_ok(rq, &e);
}

/* The hosts a fleet op targets (host_select), or the request answered. */
static int
targets(struct req *rq, struct mv *args, char ***out, size_t *n)
{
	struct host_sel	 hs;
	char		 err[MSG_ERRLEN];
	int		 r;

	*out = NULL;
	*n = 0;
	if ((r = host_select(args, &hs, err, sizeof err)) != 0) {
		req_fail(rq, r == -1 ? E_BAD_ARGS : r == -2 ? E_NOT_FOUND :
		    E_INTERNAL, "%s", err);
		host_sel_free(&hs);
		return -1;
	}
	*out = hs.names;
	*n = hs.n;
	return 0;
}

/* Facts of a host (from its agent's HELLO) as fields of a check row. */
static void
enc_facts(struct enc *e, json_t *j)
{
	json_t		*d;
	const char	*s;

	if (j == NULL)
		return;
	if ((s = json_string_value(json_object_get(j, "agent_version"))))
		enc_kstr(e, "agent_version", s);
	if ((s = json_string_value(json_object_get(j, "os"))))
		enc_kstr(e, "os", s);
	d = json_object_get(j, "docker");
	if ((s = json_string_value(json_object_get(d, "version"))))
		enc_kstr(e, "docker_version", s);
	else if ((s = json_string_value(json_object_get(d, "error"))))
		enc_kstr(e, "docker_error", s);
	enc_ku64(e, "cpus", (uint64_t)json_integer_value(json_object_get(j,
	    "cpus")));
	enc_ku64(e, "memory", (uint64_t)json_integer_value(json_object_get(j,
	    "memory")));
	enc_ku64(e, "disk_free", (uint64_t)json_integer_value(
	    json_object_get(j, "disk_free")));
}

void
cmd_host_check(struct req *rq, struct mv *args)
{
	char			**names;
	size_t			  n, i, up = 0;
	struct fan_result	 *res;
	struct enc		  e;
	uint64_t		  timeout = CHECK_TIMEOUT_MS, t0 = clock_ms();

	if (mv_u64(args, "timeout_ms", &timeout, 0) == -1) {
		req_fail(rq, E_BAD_ARGS, "%s", args->err);
		return;
	}
	if (targets(rq, args, &names, &n) == -1)
		return;
	res = xcalloc(n + 1, sizeof *res);
	fleet_run(NULL, names, n, "ping", NULL, NULL, timeout, res);
	req_result_begin(rq, &e);
	enc_karr(&e, "hosts");
	for (i = 0; i < n; i++) {
		struct host		*h;
		struct host_info	 hi = { 0 };

		enc_map_open(&e);
		enc_kstr(&e, "name", names[i]);
		enc_kbool(&e, "reachable", res[i].ok);
		if (res[i].ok && (h = fleet_get(names[i])) != NULL) {
			host_info(h, &hi);
			host_unref(h);
			enc_ku64(&e, "rtt_ms", res[i].rtt_ms);
			enc_facts(&e, hi.facts);
			host_info_free(&hi);
		}
		if (!res[i].ok)
			enc_kstr(&e, "error", res[i].err);
		enc_close(&e);
		up += res[i].ok;
	}
	enc_close(&e);
	enc_ku64(&e, "reachable", up);
	enc_ku64(&e, "total", n);
	enc_ku64(&e, "elapsed_ms", clock_ms() - t0);
	req_ok(rq, &e);
	fan_results_free(res, n);
	free(res);
	free_names(names, n);
}

struct proxy_args {
	const char	*kind;
	uint64_t	 port;
	uint64_t	 tls_port;	/* 0: no TLS listener */
	const char	*subnet_pool;	/* "": the agent's */
	/* System mode: system-setup's answer for this host, else NULL. */
	json_t		*sys;
};

static void
args_proxy(struct enc *e, void *arg)
{
	const struct proxy_args	*pa = arg;
	static const char	*keys[] = {
		"binary", "config", "dir", "pid_file"
	};
	size_t			 i;

	enc_kstr(e, "kind", pa->kind);
	enc_ku64(e, "listen", pa->port);
	if (pa->tls_port != 0)
		enc_ku64(e, "tls_listen", pa->tls_port);
	if (pa->subnet_pool[0] != '\0')
		enc_kstr(e, "subnet_pool", pa->subnet_pool);
	if (pa->sys == NULL)
		return;
	/* The agent checks every one of these again. */
	enc_kstr(e, "mode", "system");
	enc_kstr(e, "address", "127.0.0.1");
	for (i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		const char *v = json_string_value(json_object_get(pa->sys,
		    keys[i]));

		enc_kstr(e, keys[i], v != NULL ? v : "");
	}
	enc_kbool(e, "ipv6", json_is_true(json_object_get(pa->sys, "ipv6")));
}

/* The proxy.setup of one host, or of all; a failure's words in errs. */
static int
bootstrap_proxy(struct req *rq, char **names, size_t n,
    const struct proxy_args *pa, struct buf *errs)
{
	struct fan_result	*res = xcalloc(n + 1, sizeof *res);
	size_t			 i;
	int			 bad = 0;

	fleet_run(rq, names, n, "proxy.setup", args_proxy, (void *)pa, 60000,
	    res);
	for (i = 0; i < n; i++) {
		if (res[i].ok) {
			req_progress(rq, res[i].host, "proxy", "%s%s serving "
			    "on port %llu", pa->sys != NULL ? "the host's " :
			    "", pa->kind, (unsigned long long)pa->port);
			continue;
		}
		bad++;
		buf_addf(errs, "%s%s", errs->len > 0 ? "\n" : "",
		    res[i].err);
	}
	fan_results_free(res, n);
	free(res);
	return bad;
}

void
cmd_host_bootstrap(struct req *rq, struct mv *args)
{
	char		**names;
	size_t		  n, i, good = 0;
	struct enc	  e;
	struct buf	  errs = BUF_INIT;
	int		  deps = 0, sys, caddy;
	char		  proxy[16] = "", pool[64] = "", mode[16] = "agent";
	char		  binary[PATH_MAX_TUG] = "", config[PATH_MAX_TUG] = "";
	char		  admin[PATH_MAX_TUG] = "";
	const char	 *why;
	uint64_t	  port = 0, tls_port = 0, low;
	json_t		**sysout;

	if (mv_bool(args, "install_deps", &deps, 0) == -1 ||
	    mv_str(args, "proxy", proxy, sizeof proxy, 0) == -1 ||
	    mv_str(args, "proxy_mode", mode, sizeof mode, 0) == -1 ||
	    mv_str(args, "proxy_binary", binary, sizeof binary, 0) == -1 ||
	    mv_str(args, "proxy_config", config, sizeof config, 0) == -1 ||
	    mv_str(args, "proxy_admin", admin, sizeof admin, 0) == -1 ||
	    mv_str(args, "subnet_pool", pool, sizeof pool, 0) == -1 ||
	    mv_u64(args, "proxy_port", &port, 0) == -1 ||
	    mv_u64(args, "proxy_tls_port", &tls_port, 0) == -1) {
		req_fail(rq, E_BAD_ARGS, "%s", args->err);
		return;
	}
	if (proxy[0] != '\0' && strcmp(proxy, "nginx") != 0 &&
	    strcmp(proxy, "caddy") != 0) {
		req_fail(rq, E_BAD_ARGS, "unknown proxy '%.16s' (nginx or "
		    "caddy)", proxy);
		return;
	}
	if (strcmp(mode, "agent") != 0 && strcmp(mode, "system") != 0) {
		req_fail(rq, E_BAD_ARGS, "unknown proxy mode '%.16s' (agent "
		    "or system)", mode);
		return;
	}
	sys = strcmp(mode, "system") == 0;
	caddy = strcmp(proxy, "caddy") == 0;
	if (sys && strcmp(proxy, "nginx") != 0 && !caddy) {
		req_fail(rq, E_BAD_ARGS, "--proxy-mode system is for --proxy "
		    "nginx or --proxy caddy");
		return;
	}
	if ((mv_present(args, "proxy_binary") ||
	    mv_present(args, "proxy_config")) && !sys) {
		req_fail(rq, E_BAD_ARGS, "--proxy-binary and --proxy-config "
		    "go with --proxy-mode system");
		return;
	}
	if (mv_present(args, "proxy_admin") && (!sys || !caddy)) {
		req_fail(rq, E_BAD_ARGS, "--proxy-admin goes with --proxy caddy "
		    "--proxy-mode system");
		return;
	}
	/* Debian's paths; caddy's socket defaults per host (its user). */
	if (binary[0] == '\0')
		snprintf(binary, sizeof binary, "%s", caddy ? "/usr/bin/caddy" :
		    "/usr/sbin/nginx");
	if (config[0] == '\0')
		snprintf(config, sizeof config, "%s", caddy ?
		    "/etc/caddy/Caddyfile" : "/etc/nginx/nginx.conf");
	if ((why = check_abs_path(binary)) != NULL ||
	    (why = check_abs_path(config)) != NULL) {
		req_fail(rq, E_BAD_ARGS, "invalid --proxy-binary or "
		    "--proxy-config: %s", why);
		return;
	}
	if (admin[0] != '\0' && (why = check_abs_path(admin)) != NULL) {
		req_fail(rq, E_BAD_ARGS, "invalid --proxy-admin: %s", why);
		return;
	}
	if (pool[0] != '\0' && proxy[0] == '\0') {
		req_fail(rq, E_BAD_ARGS, "--subnet-pool goes with --proxy: "
		    "the agent records it with its proxy");
		return;
	}
	if (port == 0)
		port = sys ? 80 : 8080;
	if (tls_port == 0 && sys && !mv_present(args, "proxy_tls_port"))
		tls_port = 443;
	low = sys ? 1 : 1024;
	if (port < low || port > 65535) {
		req_fail(rq, E_BAD_ARGS, "proxy port must be 1024 to 65535 "
		    "(the agent's nginx runs unprivileged)");
		return;
	}
	if (tls_port != 0 && (tls_port < low || tls_port > 65535 ||
	    tls_port == port)) {
		req_fail(rq, E_BAD_ARGS, "proxy TLS port must be %llu to "
		    "65535 and not the plain port", (unsigned long long)low);
		return;
	}
	if (targets(rq, args, &names, &n) == -1)
		return;
	sysout = xcalloc(n + 1, sizeof *sysout);
	req_result_begin(rq, &e);
	enc_karr(&e, "hosts");
	for (i = 0; i < n; i++) {
		struct host_rec		 h;
		struct ssh_target	 t;
		struct sshc		 sc;
		struct buf		 facts = BUF_INIT;
		struct host		*hp;
		void			*parg[2] = { rq, names[i] };
		int			 ok = 0;

		if (host_load(names[i], &h) != 1)
			continue;
		memset(&t, 0, sizeof t);
		t.name = h.name;
		t.addr = h.addr;
		t.port = h.port;
		t.user = h.user;
		t.key_path = h.key_path;
		t.pinned = h.hostkey;
		t.timeout_s = 10;
		req_progress(rq, h.name, "connect", "connecting to %s@%s:%u",
		    h.user, h.addr, h.port);
		if (sshc_connect(&sc, &t) == 0 && bootstrap(&sc, h.name, deps,
		    &facts, progress_to_client, parg) == 0) {
			ok = 1;
			host_seen(h.name, facts.ptr, agent_bin.sha256);
		}
		if (ok && sys && !caddy) {
			struct buf	out = BUF_INIT;

			ok = bootstrap_system(&sc, &h, "nginx", binary, config,
			    NULL, deps, 0, &out, progress_to_client, parg) == 0 &&
			    (sysout[i] = json_loadb(out.ptr, out.len, 0,
			    NULL)) != NULL;
			if (!ok && sc.err[0] == '\0')
				snprintf(sc.err, sizeof sc.err, "%s: system-"
				    "setup gave no answer", h.name);
			buf_release(&out);
		}
		if (ok && sys && caddy) {
			struct buf	out = BUF_INIT;
			char		sock[PATH_MAX_TUG];

			snprintf(sock, sizeof sock, "%s", admin);
			if (sock[0] == '\0')
				snprintf(sock, sizeof sock, "/var/lib/caddy/"
				    "tug-%s/admin.sock", h.user);
			sc.err[0] = '\0';
			ok = bootstrap_system(&sc, &h, "caddy", binary, config,
			    sock, deps, 0, &out, progress_to_client, parg) == 0 &&
			    (sysout[i] = system_answer(&out)) != NULL;
			system_say(&out, parg, "system");
			if (!ok && sc.err[0] == '\0')
				snprintf(sc.err, sizeof sc.err, "%s: system-"
				    "setup gave no answer", h.name);
			buf_release(&out);
		}
		/*
		 * The agent's session may have begun before its user joined
		 * group tug (this bootstrap, or an earlier one that stopped
		 * short): a new one has the group, and so the admin socket.
		 */
		if (ok && sys && caddy) {
			req_progress(rq, h.name, "system", "a new session for "
			    "the agent, now of group %s",
			    json_string_value(json_object_get(sysout[i],
			    "group")));
			fleet_remove(h.name);
			if (fleet_add(&h) == -1) {
				ok = 0;
				snprintf(sc.err, sizeof sc.err, "%s: tugd cannot "
				    "start its session again now: restart tugd",
				    h.name);
			}
		}
		enc_map_open(&e);
		enc_kstr(&e, "name", h.name);
		enc_kbool(&e, "ok", ok);
		if (!ok) {
			enc_kstr(&e, "error", sc.err);
			buf_addf(&errs, "%s%s", errs.len > 0 ? "\n" : "",
			    sc.err);
		} else
			enc_kstr(&e, "agent", agent_bin.sha256);
		enc_close(&e);
		good += ok;
		sshc_close(&sc);
		buf_release(&facts);
		host_rec_free(&h);
		if ((hp = fleet_get(names[i])) != NULL) {
			host_kick(hp);
			host_unref(hp);
		}
	}
	enc_close(&e);
	if (good == n && proxy[0] != '\0' && !sys) {
		struct proxy_args	 pa = { proxy, port, tls_port, pool, NULL };

		good -= bootstrap_proxy(rq, names, n, &pa, &errs);
	}
	/* Each host's own paths: one proxy.setup at a time. */
	for (i = 0; good == n && sys && i < n; i++) {
		struct proxy_args	 pa = { proxy, port, tls_port, pool,
					     sysout[i] };

		good -= bootstrap_proxy(rq, &names[i], 1, &pa, &errs);
	}
	for (i = 0; i < n; i++)
		json_decref(sysout[i]);
	free(sysout);
	if (good < n) {
		enc_release(&e);
		req_fail(rq, "bootstrap", "%s\nbootstrap failed on %zu of %zu "
		    "hosts", buf_str(&errs), n - good, n);
	} else
		req_ok(rq, &e);
	buf_release(&errs);
	free_names(names, n);
}
