/*
 * proxy-caddy.c: the Caddy backend. In agent mode the agent runs its own
 * unprivileged `caddy run` (fork+execve, never a shell) with its config,
 * data and admin socket under <state>/caddy, and changes one route per
 * site (@id tug-site-<site>) through the admin API, then confirms the
 * switch by asking Caddy's listener, as the nginx backend does. In system
 * mode it drives the host's Caddy on 80 and 443 (below, cdy_sys_*), which
 * gets the certificates of tls-auto sites itself.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "agent/agent.h"
#include "common/clock.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/xmalloc.h"

#define CDY_PATH	(PATH_MAX_TUG + 128)
#define CDY_API_MS	15000		/* one admin call (a full reload) */
#define CDY_START_MS	5000		/* a new caddy must answer its admin */
#define CDY_CONFIRM_MS	3000		/* a change has to show in */
#define CDY_PROBE_HOST	"_"		/* no site may claim it */
#define CDY_SERVER	"tug"
#define CDY_ROUTES	"/config/apps/http/servers/" CDY_SERVER "/routes"
#define CDY_ID_PREFIX	"tug-site-"
#define CDY_RESP_MAX	(4U << 20)	/* bytes of an admin answer kept */
#define CDY_MODE	0600
/*
 * How long the old servers of a reload may finish the requests they
 * have (apps.http.grace_period; Caddy's default, 0, waits for ever), and
 * how long reverse_proxy keeps trying an upstream that refuses a
 * connection (load_balancing.try_duration). Neither keeps an idle
 * keep-alive connection open across a reload (docs/protocol.md §6.9
 * "The caddy backend"); -D them to measure that again.
 */
#ifndef CDY_GRACE
#define CDY_GRACE	"10s"
#endif
#ifndef CDY_TRY
#define CDY_TRY		"2s"
#endif

/* <state>/caddy/REL; REL "" gives the directory itself, with its slash. */
static void
cdy_path(char *dst, size_t dstsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
cdy_path(char *dst, size_t dstsz, const char *fmt, ...)
{
	char	rel[256];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(rel, sizeof rel, fmt, ap);
	va_end(ap);
	snprintf(dst, dstsz, "%s/caddy/%s", agent.state_dir, rel);
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

/* PATH's caddy, else /usr/bin/caddy; only clean absolute paths. */
static int
cdy_find_binary(char *dst, size_t dstsz, char *err)
{
	const char	*path = getenv("PATH"), *p, *colon;
	struct stat	 st;
	char		 cand[PATH_MAX_TUG + 8];
	size_t		 n;

	for (p = path; p != NULL && *p != '\0'; p = colon + 1) {
		colon = strchr(p, ':');
		n = colon != NULL ? (size_t)(colon - p) : strlen(p);
		if (n > 0 && n < PATH_MAX_TUG) {
			snprintf(cand, sizeof cand, "%.*s/caddy", (int)n, p);
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
	if (access("/usr/bin/caddy", X_OK) == 0) {
		snprintf(dst, dstsz, "/usr/bin/caddy");
		return 0;
	}
	snprintf(err, PROXY_ERRLEN, "caddy not found in PATH nor at "
	    "/usr/bin/caddy: install it (apt-get install caddy)");
	return -1;
}

/*
 * The admin socket's path: in system mode the host's (proxy.json's
 * "config"), else <state>/caddy/admin.sock; -1 when it does not fit a
 * sockaddr_un.
 */
static int
cdy_sock(const struct proxy_conf *pc, char *dst, size_t dstsz, char *err)
{
	struct sockaddr_un	sun;

	if (PROXY_SYSTEM(pc))
		snprintf(dst, dstsz, "%s", pc->config);
	else
		cdy_path(dst, dstsz, "admin.sock");
	if (strlen(dst) >= sizeof sun.sun_path)
		return snprintf(err, PROXY_ERRLEN, "the state dir's path is too "
		    "long for caddy's admin socket %s (at most %zu bytes)",
		    dst, sizeof sun.sun_path - 1), -1;
	return 0;
}

static long	cdy_peer_pid(const struct proxy_conf *);

/* The pid of our running caddy (system mode: the host's), or 0. */
static long
cdy_pid(const struct proxy_conf *pc)
{
	char		 path[CDY_PATH], *end;
	struct buf	 b = BUF_INIT;
	const char	*p;
	long		 pid;

	if (PROXY_SYSTEM(pc))
		return cdy_peer_pid(pc);
	cdy_path(path, sizeof path, "caddy.pid");
	if (fs_read_file(path, &b, 64) == -1) {
		buf_release(&b);
		return 0;
	}
	pid = strtol(buf_str(&b), &end, 10);
	if (*end != '\n' && *end != '\0')
		pid = 0;
	buf_release(&b);
	if (pid <= 0 || kill((pid_t)pid, 0) == -1)
		return 0;
	snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	if (fs_read_file(path, &b, 4096) == 0) {
		p = strrchr(buf_str(&b), ')');
		if (strncmp(buf_str(&b) + strcspn(buf_str(&b), "("), "(caddy)",
		    7) != 0 || p == NULL || p[1] != ' ' || p[2] == 'Z' ||
		    p[2] == 'X')
			pid = 0;
	}
	buf_release(&b);
	return pid;
}

/* An admin call and its answer. */
struct cdy_call {
	const char	*method;
	char		 path[512];
	json_t		*body;		/* sent as JSON, or NULL */
	long		 status;
	struct buf	 resp;
};

static size_t
cdy_collect(char *p, size_t size, size_t n, void *arg)
{
	struct buf	*b = arg;

	if (b->len + size * n > CDY_RESP_MAX)
		return 0;
	buf_add(b, p, size * n);
	return size * n;
}

/*
 * One HTTP/1.1 request to the admin socket (Host: localhost, which the
 * admin's "origins" lets in). -1 with err when it did not get an answer;
 * else 0 and c->status. Caddy's own words for a 4xx/5xx go to err.
 */
static int
cdy_api(const struct proxy_conf *pc, struct cdy_call *c, char *err)
{
	CURL			*h;
	struct curl_slist	*hdrs = NULL;
	char			 sock[CDY_PATH], url[600], *text = NULL;
	CURLcode		 rc;
	json_t			*j;
	const char		*msg;

	buf_reset(&c->resp);
	c->status = 0;
	if (cdy_sock(pc, sock, sizeof sock, err) == -1)
		return -1;
	if ((h = curl_easy_init()) == NULL)
		return snprintf(err, PROXY_ERRLEN, "curl_easy_init failed"),
		    -1;
	snprintf(url, sizeof url, "http://localhost%s", c->path);
	curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, sock);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, c->method);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROXY, "");
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)CDY_API_MS);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, cdy_collect);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &c->resp);
	if (c->body != NULL) {
		if ((text = json_dumps(c->body, JSON_COMPACT)) == NULL) {
			curl_easy_cleanup(h);
			return snprintf(err, PROXY_ERRLEN, "out of memory"), -1;
		}
		hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, text);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)strlen(text));
	} else if (strcmp(c->method, "GET") != 0) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
	}
	/* No "Expect: 100-continue" round trip on big bodies. */
	hdrs = curl_slist_append(hdrs, "Expect:");
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	rc = curl_easy_perform(h);
	if (rc == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &c->status);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(h);
	free(text);
	if (rc != CURLE_OK && PROXY_SYSTEM(pc))
		return snprintf(err, PROXY_ERRLEN, "the host's caddy does not "
		    "answer on its admin socket %s: %s %s: %s%s", sock,
		    c->method, c->path, curl_easy_strerror(rc),
		    access(sock, W_OK) == -1 && errno == EACCES ? " (the "
		    "agent is not in group tug yet: its session began before "
		    "bootstrap added it; bootstrap again)" : ""), -1;
	if (rc != CURLE_OK)
		return snprintf(err, PROXY_ERRLEN, "caddy's admin API at %s: "
		    "%s %s: %s", sock, c->method, c->path,
		    curl_easy_strerror(rc)), -1;
	if (c->status >= 400) {
		char e[400];

		j = json_loadb(c->resp.ptr != NULL ? c->resp.ptr : "",
		    c->resp.len, 0, NULL);
		msg = json_string_value(json_object_get(j, "error"));
		if (msg == NULL)
			msg = c->resp.len > 0 ? buf_str(&c->resp) : "no message";
		log_escape(e, sizeof e, msg, strlen(msg));
		snprintf(err, PROXY_ERRLEN, "caddy refused %s %s (%ld): %s",
		    c->method, c->path, c->status, e);
		json_decref(j);
	}
	return 0;
}

static void
cdy_call_init(struct cdy_call *c, const char *method, const char *path,
    json_t *body)
{
	memset(c, 0, sizeof *c);
	c->method = method;
	snprintf(c->path, sizeof c->path, "%s", path);
	c->body = body;
	buf_init(&c->resp, CDY_RESP_MAX);
}

/* GET path: the JSON, or NULL with err ("null" is a JSON null). */
static json_t *
cdy_get(const struct proxy_conf *pc, const char *path, char *err)
{
	struct cdy_call	 c;
	json_t		*j = NULL;

	cdy_call_init(&c, "GET", path, NULL);
	if (cdy_api(pc, &c, err) == 0 && c.status == 200 && (j = json_loadb(
	    c.resp.ptr != NULL ? c.resp.ptr : "", c.resp.len,
	    JSON_DECODE_ANY, NULL)) == NULL)
		snprintf(err, PROXY_ERRLEN, "caddy's GET %s is not JSON", path);
	else if (c.status != 200 && c.status < 400 && c.status != 0)
		snprintf(err, PROXY_ERRLEN, "caddy's GET %s answered %ld",
		    path, c.status);
	buf_release(&c.resp);
	return j;
}

/* A change through the API: 0 when Caddy took it (2xx), else -1 and err. */
static int
cdy_change(const struct proxy_conf *pc, const char *method, const char *path,
    json_t *body, char *err)
{
	struct cdy_call	c;
	int		r = -1;

	cdy_call_init(&c, method, path, body);
	if (cdy_api(pc, &c, err) == 0) {
		if (c.status >= 200 && c.status <= 299)
			r = 0;
		else if (c.status < 400)
			snprintf(err, PROXY_ERRLEN, "caddy answered %s %s with "
			    "%ld", method, path, c.status);
	}
	buf_release(&c.resp);
	return r;
}

/*
 * The whole config for pc with these site routes (stolen), the 404 route
 * of unknown hosts last. Its X-Tug-Config token is a hash of the config
 * without the sites, so setup can tell that Caddy runs exactly it.
 */
static json_t *
cdy_config(const struct proxy_conf *pc, json_t *routes, char *token,
    size_t tokensz)
{
	char	 sock[CDY_PATH], admin[CDY_PATH + 8], listen[64];
	char	 err[PROXY_ERRLEN], *text;
	json_t	*cfg, *server;

	(void)cdy_sock(pc, sock, sizeof sock, err);
	snprintf(admin, sizeof admin, "unix/%s", sock);
	snprintf(listen, sizeof listen, "%s:%llu", pc->address,
	    (unsigned long long)pc->listen);
	/* Every /load repeats the admin block; "origins" or all gets 403. */
	cfg = json_pack("{s:{s:s, s:[s], s:{s:b}}, s:{s:{s:{s:s}}},"
	    " s:{s:{s:s, s:{s:{s:[s], s:{s:b}}}}}}",
	    "admin", "listen", admin, "origins", "localhost", "config",
	    "persist", 1,
	    "logging", "logs", "default", "level", "WARN",
	    "apps", "http", "grace_period", CDY_GRACE, "servers", CDY_SERVER,
	    "listen", listen, "automatic_https", "disable", 1);
	if (cfg == NULL)
		fatal("cannot build caddy's config");
	text = json_dumps(cfg, JSON_COMPACT | JSON_SORT_KEYS);
	snprintf(token, tokensz, "%016llx", (unsigned long long)fnv64(text,
	    text != NULL ? strlen(text) : 0));
	free(text);
	json_array_append_new(routes, json_pack("{s:s, s:[{s:s, s:i,"
	    " s:{s:[s]}}]}", "@id", "tug-fallback", "handle", "handler",
	    "static_response", "status_code", 404, "headers", "X-Tug-Config",
	    token));
	server = json_object_get(json_object_get(json_object_get(
	    json_object_get(cfg, "apps"), "http"), "servers"), CDY_SERVER);
	json_object_set_new(server, "routes", routes);
	return cfg;
}

/* The site of a route of ours, or NULL. */
static const char *
cdy_route_site(json_t *route)
{
	const char	*id = json_string_value(json_object_get(route, "@id"));

	if (id == NULL || strncmp(id, CDY_ID_PREFIX,
	    strlen(CDY_ID_PREFIX)) != 0 ||
	    check_site_name(id + strlen(CDY_ID_PREFIX)) != NULL)
		return NULL;
	return id + strlen(CDY_ID_PREFIX);
}

/* The site routes of a config: a new array, empty when there is none. */
static json_t *
cdy_site_routes(json_t *cfg)
{
	json_t	*routes, *r, *out = json_array();
	size_t	 i;

	routes = json_object_get(json_object_get(json_object_get(
	    json_object_get(json_object_get(cfg, "apps"), "http"), "servers"),
	    CDY_SERVER), "routes");
	json_array_foreach(routes, i, r)
		if (cdy_route_site(r) != NULL)
			json_array_append(out, r);
	return out;
}

/* The child of a double fork: only async-signal-safe calls until execve. */
static void __attribute__((noreturn))
cdy_child(const char *path, char *const argv[], char *const env[], int nul,
    int logfd)
{
	static const char	 msg[] = "caddy: cannot execute the binary\n";
	struct sigaction	 sa;
	sigset_t		 none;
	int			 fd;
	pid_t			 pid;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	sa.sa_handler = SIG_DFL;
	sa.sa_flags = 0;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGPIPE, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	if (dup2(nul, STDIN_FILENO) == -1 || dup2(logfd, STDOUT_FILENO) == -1 ||
	    dup2(logfd, STDERR_FILENO) == -1)
		_exit(126);
	if (close_range(3, ~0U, 0) == -1)
		for (fd = 3; fd < 4096; fd++)
			close(fd);
	setsid();
	/* Caddy stays in the foreground: its parent exits, init reaps it. */
	if ((pid = fork()) == -1)
		_exit(126);
	if (pid > 0)
		_exit(0);
	execve(path, argv, env);
	(void)!write(STDERR_FILENO, msg, sizeof msg - 1);
	_exit(127);
}

/*
 * The "Error: ..." line that `caddy run` writes to its log when it gives
 * up, after offset off: 1 and the line (escaped) in dst, else 0.
 */
static int
cdy_log_error(const char *logp, off_t off, char *dst, size_t dstsz)
{
	char		 chunk[16384];
	const char	*p, *last = NULL;
	int		 fd;
	ssize_t		 n;

	if ((fd = open(logp, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	n = pread(fd, chunk, sizeof chunk - 1, off);
	close(fd);
	if (n <= 0)
		return 0;
	chunk[n] = '\0';
	for (p = chunk; (p = strstr(p, "Error: ")) != NULL; p++)
		if (p == chunk || p[-1] == '\n')
			last = p;
	if (last == NULL)
		return 0;
	log_escape(dst, dstsz, last + 7, strcspn(last + 7, "\n"));
	return 1;
}

/*
 * Start `caddy run --resume --config <state>/caddy/initial.json --pidfile
 * <state>/caddy/caddy.pid`, as this agent's user, with its config and data
 * homes under <state>/caddy: Caddy resumes its autosave.json when there is
 * one, else loads initial.json. Then wait for the admin API to answer.
 */
static int
cdy_start(const struct proxy_conf *pc, char *err)
{
	char	 initial[CDY_PATH], pidf[CDY_PATH], logp[CDY_PATH];
	char	 home[CDY_PATH + 8], xc[CDY_PATH + 24], xd[CDY_PATH + 24];
	char	*argv[9], *env[5], why[400];
	int	 nul, logfd = -1, status, n = 0;
	struct stat lst;
	off_t	 off;
	pid_t	 pid;
	uint64_t end;
	json_t	*j;

	cdy_path(initial, sizeof initial, "initial.json");
	cdy_path(pidf, sizeof pidf, "caddy.pid");
	cdy_path(logp, sizeof logp, "caddy.log");
	cdy_path(home, sizeof home, "%s", "");
	home[strlen(home) - 1] = '\0';
	snprintf(xc, sizeof xc, "XDG_CONFIG_HOME=%s/config", home);
	snprintf(xd, sizeof xd, "XDG_DATA_HOME=%s/data", home);
	memmove(home + 5, home, strlen(home) + 1);
	memcpy(home, "HOME=", 5);
	env[0] = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:"
	    "/sbin:/bin";
	env[1] = home;
	env[2] = xc;
	env[3] = xd;
	env[4] = NULL;
	argv[n++] = (char *)pc->binary;
	argv[n++] = "run";
	argv[n++] = "--resume";
	argv[n++] = "--config";
	argv[n++] = initial;
	argv[n++] = "--pidfile";
	argv[n++] = pidf;
	argv[n] = NULL;

	unlink(pidf);
	if ((nul = open("/dev/null", O_RDWR | O_CLOEXEC)) == -1)
		return snprintf(err, PROXY_ERRLEN, "/dev/null: %s",
		    strerror(errno)), -1;
	if ((logfd = open(logp, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
	    CDY_MODE)) == -1 || fstat(logfd, &lst) == -1) {
		close(nul);
		if (logfd != -1)
			close(logfd);
		return snprintf(err, PROXY_ERRLEN, "cannot open %s: %s", logp,
		    strerror(errno)), -1;
	}
	off = lst.st_size;
	if ((pid = fork()) == -1) {
		close(nul);
		close(logfd);
		return snprintf(err, PROXY_ERRLEN, "fork: %s",
		    strerror(errno)), -1;
	}
	if (pid == 0)
		cdy_child(pc->binary, argv, env, nul, logfd);
	close(nul);
	close(logfd);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	end = clock_ms() + CDY_START_MS;
	for (;;) {
		if (cdy_pid(pc) > 0 && (j = cdy_get(pc, "/config/", err)) !=
		    NULL) {
			json_decref(j);
			return 0;
		}
		if (cdy_log_error(logp, off, why, sizeof why)) {
			snprintf(err, PROXY_ERRLEN, "starting caddy failed: %s",
			    why);
			return -1;
		}
		if (clock_ms() >= end)
			break;
		sleep_ms(20);
	}
	snprintf(err, PROXY_ERRLEN, "caddy did not answer on its admin socket "
	    "%d s after it was started: see %s", CDY_START_MS / 1000, logp);
	if ((pid = (pid_t)cdy_pid(pc)) > 0)
		kill(pid, SIGTERM);
	return -1;
}


/*
 * The route of a site. Everything in it was validated when the request
 * was read; it is checked again here, next to the JSON it goes into, and
 * every string enters the document through jansson, never by pasting.
 */
static json_t *
cdy_site_route(const struct proxy_site *ps, char *err)
{
	const char	*why;
	char		 e[128], id[SITE_NAME_MAX + 16], rel[24];
	char		 dial[32], root[CDY_PATH];
	json_t		*hosts, *handle, *route;
	size_t		 i;

	if ((why = check_site_name(ps->site)) != NULL)
		return snprintf(err, PROXY_ERRLEN, "invalid site name '%s': %s",
		    log_escape(e, sizeof e, ps->site, strlen(ps->site)), why),
		    NULL;
	if (ps->ndomains == 0 || ps->ndomains > PROXY_DOMAINS_MAX)
		return snprintf(err, PROXY_ERRLEN, "no domains"), NULL;
	for (i = 0; i < ps->ndomains; i++)
		if ((why = check_domain(ps->domains[i])) != NULL)
			return snprintf(err, PROXY_ERRLEN, "invalid domain "
			    "'%s': %s", log_escape(e, sizeof e, ps->domains[i],
			    strlen(ps->domains[i])), why), NULL;
	if (ps->tls_cert[0] != '\0')
		return snprintf(err, PROXY_ERRLEN, "the caddy backend serves "
		    "no TLS sites yet: use nginx for site '%s'", ps->site),
		    NULL;
	if (ps->release == 0)
		return snprintf(err, PROXY_ERRLEN, "no release"), NULL;
	if (ps->stopped) {
		if (ps->root[0] != '\0')
			return snprintf(err, PROXY_ERRLEN, "a static site is "
			    "not stopped"), NULL;
	} else if (ps->root[0] != '\0') {
		snprintf(e, sizeof e, "/%s", ps->root);
		if (check_abs_path(e) != NULL ||
		    strncmp(ps->root, "static/", 7) != 0)
			return snprintf(err, PROXY_ERRLEN, "invalid static "
			    "root '%s'", e), NULL;
		if ((why = check_file_name(ps->index)) != NULL)
			return snprintf(err, PROXY_ERRLEN, "invalid index "
			    "'%s': %s", log_escape(e, sizeof e, ps->index,
			    strlen(ps->index)), why), NULL;
	} else if (ps->port == 0 || ps->port > 65535)
		return snprintf(err, PROXY_ERRLEN, "no upstream port"), NULL;

	snprintf(id, sizeof id, CDY_ID_PREFIX "%s", ps->site);
	snprintf(rel, sizeof rel, "%llu", (unsigned long long)ps->release);
	hosts = json_array();
	for (i = 0; i < ps->ndomains; i++)
		json_array_append_new(hosts, json_string(ps->domains[i]));
	handle = json_array();
	if (ps->stopped) {
		/* No upstream at all: nothing a local user could bind. */
		json_array_append_new(handle, json_pack("{s:s, s:i, s:{s:[s]}}",
		    "handler", "static_response", "status_code", 503,
		    "headers", "X-Tug-Stopped", rel));
		goto done;
	}
	if (ps->max_body != 0)
		json_array_append_new(handle, json_pack("{s:s, s:I}",
		    "handler", "request_body", "max_size",
		    (json_int_t)ps->max_body));
	/* Deferred: set when the answer is written, over the app's own. */
	json_array_append_new(handle, json_pack("{s:s, s:{s:{s:[s]}, s:b}}",
	    "handler", "headers", "response", "set", "X-Tug-Release", rel,
	    "deferred", 1));
	if (ps->root[0] != '\0') {
		snprintf(root, sizeof root, "%s/%s", agent.state_dir, ps->root);
		json_array_append_new(handle, json_pack("{s:s, s:s, s:[s]}",
		    "handler", "file_server", "root", root, "index_names",
		    ps->index));
		goto done;
	}
	snprintf(dial, sizeof dial, "127.0.0.1:%llu",
	    (unsigned long long)ps->port);
	json_array_append_new(handle, json_pack("{s:s, s:[{s:s}],"
	    " s:{s:{s:[s]}}, s:{s:s, s:s}}",
	    "handler", "reverse_proxy", "upstreams", "dial", dial,
	    "headers", "response", "delete", "X-Tug-Release",
	    "load_balancing", "try_duration", CDY_TRY, "try_interval",
	    "50ms"));
done:
	route = json_pack("{s:s, s:[{s:o}], s:o, s:b}", "@id", id, "match",
	    "host", hosts, "handle", handle, "terminal", 1);
	if (route == NULL)
		snprintf(err, PROXY_ERRLEN, "cannot build the route of '%s'",
		    ps->site);
	return route;
}

/* 1: our caddy runs and answers its admin API. */
static int
cdy_running(const struct proxy_conf *pc, char *err)
{
	json_t	*j;

	if (cdy_pid(pc) <= 0 || (j = cdy_get(pc, "/config/", err)) == NULL)
		return 0;
	json_decref(j);
	return 1;
}

/* Caddy runs and answers its admin API; else start it (it resumes). */
static int
cdy_ensure(const struct proxy_conf *pc, char *err)
{
	json_t	*j;

	if (cdy_pid(pc) > 0 && (j = cdy_get(pc, "/config/", err)) != NULL) {
		json_decref(j);
		return 0;
	}
	return cdy_start(pc, err);
}

/* The routes array Caddy serves now, or NULL with err. */
static json_t *
cdy_routes(const struct proxy_conf *pc, char *err)
{
	json_t	*r = cdy_get(pc, CDY_ROUTES, err);

	if (r != NULL && !json_is_array(r)) {
		json_decref(r);
		snprintf(err, PROXY_ERRLEN, "caddy serves no " CDY_SERVER
		    " server: run proxy.setup again");
		return NULL;
	}
	return r;
}

static json_t *
cdy_find(json_t *routes, const char *site)
{
	json_t		*r;
	size_t		 i;
	const char	*s;

	json_array_foreach(routes, i, r)
		if ((s = cdy_route_site(r)) != NULL && strcmp(s, site) == 0)
			return r;
	return NULL;
}

/*
 * Put the site's route as route says, or take it out (route NULL). An
 * existing route is replaced in place by PATCH /id/tug-site-<site>; a new
 * one goes first (PUT .../routes/0 inserts), before the 404 route of
 * unknown hosts. Each is one atomic change of Caddy's config: either the
 * reload with it succeeds or Caddy keeps the config it had. A POST /load
 * of the whole config would reload exactly as much (Caddy 2.6 reloads
 * everything on any change) but would also race any other writer of the
 * config and carry the admin block each time; by @id, only the site moves.
 */
static int
cdy_put_route(const struct proxy_conf *pc, const char *site, json_t *route,
    char *err)
{
	json_t	*routes;
	char	 path[SITE_NAME_MAX + 32];
	int	 had, r;

	if ((routes = cdy_routes(pc, err)) == NULL)
		return -1;
	had = cdy_find(routes, site) != NULL;
	json_decref(routes);
	snprintf(path, sizeof path, "/id/" CDY_ID_PREFIX "%s", site);
	if (route == NULL)
		r = had ? cdy_change(pc, "DELETE", path, NULL, err) : 0;
	else if (had)
		r = cdy_change(pc, "PATCH", path, route, err);
	else
		r = cdy_change(pc, "PUT", CDY_ROUTES "/0", route, err);
	return r;
}

/*
 * Undo a site switch: sites/<site>.prev holds the previous route JSON,
 * empty when there was none. 1 undone, 0 nothing to undo, -1.
 */
static int
cdy_site_undo(const struct proxy_conf *pc, const char *site)
{
	char		 prev[CDY_PATH], err[PROXY_ERRLEN];
	struct buf	 old = BUF_INIT;
	json_t		*route = NULL;
	int		 r = 1;

	cdy_path(prev, sizeof prev, "sites/%s.prev", site);
	if (fs_read_file(prev, &old, 1 << 20) == -1) {
		buf_release(&old);
		return errno == ENOENT ? 0 : -1;
	}
	if (old.len > 0 && ((route = json_loadb(old.ptr, old.len, 0,
	    NULL)) == NULL || cdy_route_site(route) == NULL ||
	    strcmp(cdy_route_site(route), site) != 0)) {
		log_warnx("%s is damaged: the site's route is left as it is",
		    prev);
		r = -1;
	} else if (cdy_ensure(pc, err) == -1 ||
	    cdy_put_route(pc, site, route, err) == -1) {
		log_warnx("cannot restore the route of %s: %s", site, err);
		r = -1;
	}
	json_decref(route);
	buf_release(&old);
	if (r == 1)
		unlink(prev);
	return r;
}

static int
cdy_site_switch(const struct proxy_conf *pc, const struct proxy_site *ps,
    struct proxy_timing *tm, char *err)
{
	json_t		*route, *routes = NULL, *cur, *r;
	char		 prev[CDY_PATH], host[DOMAIN_MAX + 16], rel[24], why[400];
	char		*text = NULL;
	const char	*hdr = ps->stopped ? "X-Tug-Stopped" : "X-Tug-Release";
	const char	*path = ps->stopped ? "/" : ps->path, *s;
	long		 status = ps->stopped ? 503 : ps->any_status ? PROXY_ANY :
			     PROXY_2XX3XX;
	size_t		 i, k, d;
	int		 ret = -1;
	uint64_t	 t;

	memset(tm, 0, sizeof *tm);
	if ((route = cdy_site_route(ps, err)) == NULL)
		return -1;
	if (path[0] == '\0')
		path = "/";
	cdy_path(prev, sizeof prev, "sites/%s.prev", ps->site);
	proxy_probe_host(ps, host, sizeof host);
	snprintf(rel, sizeof rel, "%llu", (unsigned long long)ps->release);
	if (cdy_ensure(pc, err) == -1 || (routes = cdy_routes(pc, err)) ==
	    NULL)
		goto out;

	/* A domain of another site's route: Caddy would serve the first. */
	json_array_foreach(routes, i, r) {
		json_t *hosts = json_object_get(json_array_get(json_object_get(
		    r, "match"), 0), "host"), *hv;

		if ((s = cdy_route_site(r)) == NULL || strcmp(s, ps->site) == 0)
			continue;
		json_array_foreach(hosts, k, hv)
			for (d = 0; d < ps->ndomains; d++)
				if (json_string_value(hv) != NULL &&
				    strcasecmp(json_string_value(hv),
				    ps->domains[d]) == 0) {
					snprintf(err, PROXY_ERRLEN, "domain '%s' "
					    "is already served by another site "
					    "on this proxy", ps->domains[d]);
					goto out;
				}
	}

	/* Already in place (a reused container): it only has to answer. */
	cur = cdy_find(routes, ps->site);
	if (cur != NULL && json_equal(cur, route)) {
		t = clock_ms();
		if (proxy_confirm(pc, host, path, hdr, rel, status, 500,
		    why) == 0) {
			tm->confirm_ms = clock_ms() - t;
			ret = 0;
			goto out;
		}
		log_info("the route of %s is in place but caddy does not answer "
		    "from it (%s); putting it again", ps->site, why);
	}

	/* Keep the previous route: putting it back undoes the switch. */
	if (cur != NULL && (text = json_dumps(cur, JSON_COMPACT)) == NULL) {
		snprintf(err, PROXY_ERRLEN, "out of memory");
		goto out;
	}
	if (fs_write_atomic(prev, text != NULL ? text : "", text != NULL ?
	    strlen(text) : 0, CDY_MODE) == -1) {
		snprintf(err, PROXY_ERRLEN, "cannot write %s: %s", prev,
		    strerror(errno));
		goto out;
	}
	tm->changed = 1;
	t = clock_ms();
	ret = cdy_put_route(pc, ps->site, route, err);
	tm->reload_ms = clock_ms() - t;
	if (ret == -1)
		goto undo;
	t = clock_ms();
	ret = proxy_confirm(pc, host, path, hdr, rel, status, CDY_CONFIRM_MS,
	    why);
	tm->confirm_ms = clock_ms() - t;
	if (ret == -1) {
		snprintf(err, PROXY_ERRLEN, "caddy does not answer for %s "
		    "%s release %s after %llu ms (%s)", host, ps->stopped ?
		    "with 503 for the stopped" : "from", rel,
		    (unsigned long long)tm->confirm_ms, why);
		goto undo;
	}
	unlink(prev);
	goto out;
undo:
	ret = -1;
	cdy_site_undo(pc, ps->site);
out:
	free(text);
	json_decref(routes);
	json_decref(route);
	return ret;
}

static int
cdy_site_restore(const struct proxy_conf *pc, const char *site, int *done,
    char *err)
{
	(void)err;
	*done = cdy_site_undo(pc, site) == 1;
	return 0;
}

static int
cdy_site_remove(const struct proxy_conf *pc, const char *site, int *done,
    char *err)
{
	char	 prev[CDY_PATH];
	json_t	*routes;

	cdy_path(prev, sizeof prev, "sites/%s.prev", site);
	unlink(prev);
	*done = 0;
	if (cdy_ensure(pc, err) == -1 || (routes = cdy_routes(pc, err)) ==
	    NULL)
		return -1;
	*done = cdy_find(routes, site) != NULL;
	json_decref(routes);
	if (!*done)
		return 0;
	return cdy_put_route(pc, site, NULL, err);
}

static int
cdy_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * The sites with a route: from the running Caddy, else from the config it
 * would resume (autosave.json).
 */
static int
cdy_sites(const struct proxy_conf *pc, char ***names, size_t *n)
{
	char		 err[PROXY_ERRLEN], path[CDY_PATH];
	struct buf	 b = BUF_INIT;
	json_t		*cfg = NULL, *routes, *r;
	size_t		 i;

	*names = NULL;
	*n = 0;
	if (cdy_pid(pc) > 0)
		cfg = cdy_get(pc, "/config/", err);
	if (cfg == NULL) {
		cdy_path(path, sizeof path, "config/caddy/autosave.json");
		if (fs_read_file(path, &b, 16 << 20) == 0)
			cfg = json_loadb(b.ptr, b.len, 0, NULL);
		buf_release(&b);
	}
	if (cfg == NULL)
		return 0;
	routes = cdy_site_routes(cfg);
	if (json_array_size(routes) > 0)
		*names = xcalloc(json_array_size(routes), sizeof **names);
	json_array_foreach(routes, i, r)
		(*names)[(*n)++] = xstrdup(cdy_route_site(r));
	if (*n > 0)
		qsort(*names, *n, sizeof **names, cdy_cmp);
	json_decref(routes);
	json_decref(cfg);
	return 0;
}

/* `caddy version`'s first word, e.g. "2.6.2"; "unknown" when it fails. */
static void
cdy_version(const struct proxy_conf *pc, char *dst, size_t dstsz)
{
	char	*argv[] = { (char *)pc->binary, "version", NULL };
	char	*env[] = { "PATH=/usr/bin:/bin", "HOME=/nonexistent", NULL };
	char	 out[256];
	int	 fds[2], status, fd;
	ssize_t	 r, len = 0;
	pid_t	 pid;
	uint64_t end = clock_ms() + 5000;

	snprintf(dst, dstsz, "unknown");
	if (pipe2(fds, O_CLOEXEC) == -1)
		return;
	if ((pid = fork()) == -1) {
		close(fds[0]);
		close(fds[1]);
		return;
	}
	if (pid == 0) {
		if ((fd = open("/dev/null", O_RDWR)) == -1 ||
		    dup2(fd, STDIN_FILENO) == -1 ||
		    dup2(fds[1], STDOUT_FILENO) == -1 ||
		    dup2(fd, STDERR_FILENO) == -1)
			_exit(126);
		if (close_range(3, ~0U, 0) == -1)
			for (fd = 3; fd < 4096; fd++)
				close(fd);
		execve(argv[0], argv, env);
		_exit(127);
	}
	close(fds[1]);
	fcntl(fds[0], F_SETFL, O_NONBLOCK);
	while (len < (ssize_t)sizeof out - 1 && clock_ms() < end) {
		r = read(fds[0], out + len, sizeof out - 1 - (size_t)len);
		if (r == 0)
			break;
		if (r > 0)
			len += r;
		else if (errno == EAGAIN)
			sleep_ms(5);
		else if (errno != EINTR)
			break;
	}
	close(fds[0]);
	if (waitpid(pid, &status, WNOHANG) == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	out[len] = '\0';
	out[strcspn(out, " \r\n")] = '\0';
	if (out[0] != '\0') {
		char e[64];

		log_escape(e, sizeof e, out, strlen(out));
		snprintf(dst, dstsz, "%s", e);
	}
}

static void
cdy_status(const struct proxy_conf *pc, struct proxy_state *st)
{
	char	 err[PROXY_ERRLEN];
	json_t	*cfg = NULL;

	memset(st, 0, sizeof *st);
	st->pid = cdy_pid(pc);
	/* Running: the pid is a live caddy and its admin API answers. */
	if (st->pid > 0 && (cfg = cdy_get(pc, "/config/", err)) != NULL)
		st->running = 1;
	else
		st->pid = 0;
	json_decref(cfg);
	cdy_version(pc, st->version, sizeof st->version);
	cdy_path(st->prefix, sizeof st->prefix, "%s", "");
}

/*
 * proxy.setup: the layout, then the config for pc with the site routes
 * Caddy has (running, or in the autosave it resumes) kept. Caddy runs
 * exactly it already: nothing to do. Else start it, or POST /load the new
 * whole config, and ask the 404 route for the new token. A failure loads
 * the previous config back (or stops a Caddy this call started).
 */
static int
cdy_setup(struct proxy_conf *pc, struct proxy_state *st, char *err)
{
	static const char	*dirs[] = { "", "config", "data", "sites" };
	char			 path[CDY_PATH], token[24], why[400], *text;
	json_t			*cur = NULL, *want = NULL;
	size_t			 k;
	int			 r = -1, started = 0, running;

	memset(st, 0, sizeof *st);
	if (cdy_find_binary(pc->binary, sizeof pc->binary, err) == -1)
		return -1;
	for (k = 0; k < sizeof dirs / sizeof dirs[0]; k++) {
		cdy_path(path, sizeof path, "%s", dirs[k]);
		if (fs_mkdirs(path, 0700) == -1)
			return snprintf(err, PROXY_ERRLEN, "cannot create %s: "
			    "%s", path, strerror(errno)), -1;
	}
	if (cdy_sock(pc, path, sizeof path, err) == -1)
		return -1;

	/* A new Caddy resumes its autosave: the sites it holds stay. */
	if (!(running = cdy_running(pc, err))) {
		json_t *none = cdy_config(pc, json_array(), token,
		    sizeof token);

		cdy_path(path, sizeof path, "initial.json");
		text = json_dumps(none, JSON_INDENT(1) | JSON_SORT_KEYS);
		json_decref(none);
		if (text == NULL || fs_write_atomic(path, text, strlen(text),
		    CDY_MODE) == -1) {
			snprintf(err, PROXY_ERRLEN, "cannot write %s: %s", path,
			    strerror(errno));
			free(text);
			return -1;
		}
		free(text);
		if (cdy_start(pc, err) == -1)
			return -1;
		started = 1;
	}
	if ((cur = cdy_get(pc, "/config/", err)) == NULL)
		goto undo;
	want = cdy_config(pc, cdy_site_routes(cur), token, sizeof token);
	if (json_equal(cur, want) && proxy_confirm(pc, CDY_PROBE_HOST, "/",
	    "X-Tug-Config", token, PROXY_ANY, started ? CDY_CONFIRM_MS : 500,
	    why) == 0) {
		r = 0;
		goto done;
	}
	if (cdy_change(pc, "POST", "/load", want, err) == -1)
		goto undo;
	st->reloaded = !started;
	if (proxy_confirm(pc, CDY_PROBE_HOST, "/", "X-Tug-Config", token,
	    PROXY_ANY, CDY_CONFIRM_MS, why) == -1) {
		snprintf(err, PROXY_ERRLEN, "caddy does not answer on %s:%llu "
		    "(%s)", pc->address, (unsigned long long)pc->listen, why);
		goto undo;
	}
	r = 0;
done:
	st->started = started;
	st->pid = cdy_pid(pc);
	st->running = st->pid > 0;
	cdy_version(pc, st->version, sizeof st->version);
	cdy_path(st->prefix, sizeof st->prefix, "%s", "");
	goto out;
undo:
	if (started) {
		long pid = cdy_pid(pc);

		if (pid > 0)
			kill((pid_t)pid, SIGTERM);
	} else if (cur != NULL && st->reloaded &&
	    cdy_change(pc, "POST", "/load", cur, why) == -1)
		log_warnx("after restoring caddy's config: %s", why);
	st->reloaded = 0;
out:
	json_decref(cur);
	json_decref(want);
	return r;
}

/*
 * System mode (DESIGN §6): the host's own Caddy on 80 and 443, readied
 * once by `tug-agent system-setup caddy` (agent/system.c). proxy.json's
 * "config" is its admin socket and "dir" the directory of group tug it
 * sits in (the agent's own, 2770), where the agent also keeps what Caddy
 * reads: up/<site>/ (the upstream, below), roots/ (ACME trust roots) and
 * caddy.log (Caddy's tls log, which the agent reads for the CA's words).
 *
 * The host's config is the host's: the agent changes only its own pieces
 * (the probe route, the site routes and TLS policies by @id, the log
 * "tug", and servers "tug" and "tug-tls" where the host has none on the
 * port), in the config it reads back (GET /config/), and loads it whole.
 *
 * Lossless switches: a reload of Caddy 2.6 closes every idle keep-alive
 * connection, and a request sent on one just then is lost (docs/
 * proxies.md). So a release's upstream is not in the config: each site
 * route finds it per request with a file matcher on up/<site>/r*-p*
 * (most recently modified first) and a map of the name r<release>-p<port>
 * to the dial address and X-Tug-Release. A deploy, rollback or env change
 * then creates one file and reloads nothing; only a change of the route
 * itself (domains, TLS, HSTS, body limit, stop/start) loads a config.
 */
#define CDY_SYS_HTTP	"tug"		/* servers made where the host has */
#define CDY_SYS_TLS	"tug-tls"	/* none on the port */
#define CDY_PROBE_ID	"tug-probe"
#define CDY_POLICY_ID	"tug-tls-"
#define CDY_LOG_NAME	"tug"
#define CDY_UP_GLOB	"/r*-p*"
#define CDY_CERT_MS	90000		/* a first certificate must come */
#define CDY_LOG_MAX	(1U << 20)	/* of the tls log read per look */
#define CDY_HSTS	"max-age=31536000"

/* <dir>/REL in system mode. */
static void
cdy_dpath(const struct proxy_conf *pc, char *dst, size_t dstsz,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
cdy_dpath(const struct proxy_conf *pc, char *dst, size_t dstsz,
    const char *fmt, ...)
{
	char	rel[256];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(rel, sizeof rel, fmt, ap);
	va_end(ap);
	snprintf(dst, dstsz, "%s/%s", pc->dir, rel);
}

/* The process behind the admin socket (SO_PEERCRED) if it is a caddy. */
static long
cdy_peer_pid(const struct proxy_conf *pc)
{
	struct sockaddr_un	 sun;
	struct ucred		 cred;
	socklen_t		 len = sizeof cred;
	struct buf		 b = BUF_INIT;
	char			 path[64];
	long			 pid = 0;
	int			 fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(pc->config) >= sizeof sun.sun_path)
		return 0;
	memcpy(sun.sun_path, pc->config, strlen(pc->config));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return 0;
	if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == 0 &&
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
		pid = cred.pid;
	close(fd);
	snprintf(path, sizeof path, "/proc/%ld/comm", pid);
	if (pid > 0 && (fs_read_file(path, &b, 64) == -1 ||
	    strcmp(buf_str(&b), "caddy\n") != 0))
		pid = 0;
	buf_release(&b);
	return pid;
}

/* A Host no site can have: '_' starts no domain. */
static void
cdy_sys_probe(const struct proxy_conf *pc, char *dst, size_t dstsz)
{
	snprintf(dst, dstsz, "_tug_%08llx_probe", (unsigned long long)(fnv64(
	    pc->dir, strlen(pc->dir)) & 0xffffffffULL));
}

/* Does ps get a certificate here? tls auto, system mode, a TLS port. */
static int
cdy_tls(const struct proxy_conf *pc, const struct proxy_site *ps)
{
	return ps->tls_auto && PROXY_SYSTEM(pc) && pc->tls_listen != 0;
}

/* cfg's apps.http.servers (made when make is set), or NULL. */
static json_t *
cdy_servers(json_t *cfg, int make)
{
	static const char	*path[] = { "apps", "http", "servers" };
	json_t			*o = cfg, *next;
	size_t			 i;

	for (i = 0; i < 3 && o != NULL; i++) {
		if ((next = json_object_get(o, path[i])) == NULL && make) {
			next = json_object();
			json_object_set_new(o, path[i], next);
		}
		o = json_is_object(next) ? next : NULL;
	}
	return o;
}

/* cfg's apps.tls.automation.policies (made when make is set), or NULL. */
static json_t *
cdy_policies(json_t *cfg, int make)
{
	static const char	*path[] = { "apps", "tls", "automation" };
	json_t			*o = cfg, *next, *p;
	size_t			 i;

	for (i = 0; i < 3 && o != NULL; i++) {
		if ((next = json_object_get(o, path[i])) == NULL && make) {
			next = json_object();
			json_object_set_new(o, path[i], next);
		}
		o = json_is_object(next) ? next : NULL;
	}
	if (o == NULL)
		return NULL;
	if ((p = json_object_get(o, "policies")) == NULL && make) {
		p = json_array();
		json_object_set_new(o, "policies", p);
	}
	return json_is_array(p) ? p : NULL;
}

/* The port of a listen address (":80", "tcp/0.0.0.0:80", "[::]:80"). */
static uint64_t
cdy_listen_port(const char *a)
{
	const char	*p;
	char		*end;
	unsigned long	 v;

	if (a == NULL || strncmp(a, "unix", 4) == 0)
		return 0;
	if ((p = strchr(a, '/')) != NULL)
		a = p + 1;
	if ((p = strrchr(a, ':')) == NULL || p[1] == '\0')
		return 0;
	v = strtoul(p + 1, &end, 10);
	return *end == '\0' ? v : 0;
}

/* The server that listens on port, and its name; NULL when none. */
static json_t *
cdy_server_on(json_t *cfg, uint64_t port, const char **name)
{
	json_t		*servers = cdy_servers(cfg, 0), *srv, *l;
	const char	*k;
	size_t		 i;

	json_object_foreach(servers, k, srv)
		json_array_foreach(json_object_get(srv, "listen"), i, l)
			if (cdy_listen_port(json_string_value(l)) == port) {
				if (name != NULL)
					*name = k;
				return srv;
			}
	return NULL;
}

/* Take the element of arr whose @id is id out: a reference, or NULL. */
static json_t *
cdy_take(json_t *arr, const char *id)
{
	json_t		*e;
	const char	*s;
	size_t		 i;

	json_array_foreach(arr, i, e)
		if ((s = json_string_value(json_object_get(e, "@id"))) !=
		    NULL && strcmp(s, id) == 0) {
			json_incref(e);
			json_array_remove(arr, i);
			return e;
		}
	return NULL;
}

/* Take the route @id id out of whichever server has it (its name). */
static json_t *
cdy_take_route(json_t *cfg, const char *id, char *srvname, size_t sz)
{
	json_t		*srv, *r;
	const char	*k;

	if (srvname != NULL)
		srvname[0] = '\0';
	json_object_foreach(cdy_servers(cfg, 0), k, srv)
		if ((r = cdy_take(json_object_get(srv, "routes"), id)) !=
		    NULL) {
			if (srvname != NULL)
				snprintf(srvname, sz, "%s", k);
			return r;
		}
	return NULL;
}

/* srv's routes, made when missing. */
static json_t *
cdy_srv_routes(json_t *srv)
{
	json_t	*r = json_object_get(srv, "routes");

	if (!json_is_array(r)) {
		r = json_array();
		json_object_set_new(srv, "routes", r);
	}
	return r;
}

/* The config token: what the agent's own pieces depend on. */
static void
cdy_sys_token(const struct proxy_conf *pc, char *dst, size_t dstsz)
{
	char	text[2 * PATH_MAX_TUG + 128];

	snprintf(text, sizeof text, "caddy system %s %s %llu %llu", pc->config,
	    pc->dir, (unsigned long long)pc->listen,
	    (unsigned long long)pc->tls_listen);
	snprintf(dst, dstsz, "%016llx", (unsigned long long)fnv64(text,
	    strlen(text)));
}

/*
 * The agent's pieces that every config has: the plain server (the host's
 * on the port, or "tug" with a 404 for unknown hosts last), the probe
 * route first in it, the tls log; a "tug-tls" without routes goes (an
 * empty TLS server would make Caddy redirect every plain request).
 */
static void
cdy_sys_layout(const struct proxy_conf *pc, json_t *cfg)
{
	char		 token[24], probe[64], listen[16], logp[CDY_PATH];
	json_t		*servers = cdy_servers(cfg, 1), *http, *tls, *logs, *r;
	json_t		*lg;
	const char	*name = NULL;

	cdy_sys_token(pc, token, sizeof token);
	cdy_sys_probe(pc, probe, sizeof probe);
	json_decref(cdy_take_route(cfg, CDY_PROBE_ID, NULL, 0));
	if ((http = cdy_server_on(cfg, pc->listen, &name)) == NULL) {
		snprintf(listen, sizeof listen, ":%llu",
		    (unsigned long long)pc->listen);
		http = json_object_get(servers, CDY_SYS_HTTP);
		if (!json_is_object(http)) {
			http = json_object();
			json_object_set_new(servers, CDY_SYS_HTTP, http);
		}
		json_object_set_new(http, "listen", json_pack("[s]", listen));
		name = CDY_SYS_HTTP;
	}
	r = cdy_srv_routes(http);
	json_array_insert_new(r, 0, json_pack("{s:s, s:[{s:[s]}], s:[{s:s, "
	    "s:i, s:{s:[s]}}], s:b}", "@id", CDY_PROBE_ID, "match", "host",
	    probe, "handle", "handler", "static_response", "status_code", 204,
	    "headers", "X-Tug-Config", token, "terminal", 1));
	if (strcmp(name, CDY_SYS_HTTP) == 0) {
		json_decref(cdy_take(r, "tug-fallback"));
		json_array_append_new(r, json_pack("{s:s, s:[{s:s, s:i}]}",
		    "@id", "tug-fallback", "handle", "handler",
		    "static_response", "status_code", 404));
	}
	tls = json_object_get(servers, CDY_SYS_TLS);
	if (tls != NULL && json_array_size(json_object_get(tls,
	    "routes")) == 0)
		json_object_del(servers, CDY_SYS_TLS);
	if ((lg = json_object_get(cfg, "logging")) == NULL) {
		lg = json_object();
		json_object_set_new(cfg, "logging", lg);
	}
	if ((logs = json_object_get(lg, "logs")) == NULL) {
		logs = json_object();
		json_object_set_new(lg, "logs", logs);
	}
	cdy_dpath(pc, logp, sizeof logp, "caddy.log");
	json_object_set_new(logs, CDY_LOG_NAME, json_pack("{s:{s:s, s:s, "
	    "s:b}, s:{s:s}, s:s, s:[s, s]}", "writer", "output", "file",
	    "filename", logp, "roll", 0, "encoder", "format", "json", "level",
	    "INFO", "include", "tls", "http.acme_client"));
}

/* Put route in the server it belongs to: TLS routes first, plain after the probe. */
static void
cdy_sys_place(const struct proxy_conf *pc, json_t *cfg, json_t *route,
    int tls)
{
	char		 listen[16];
	json_t		*srv, *r, *servers = cdy_servers(cfg, 1);
	const char	*id;
	size_t		 at = 0;

	if (tls) {
		if ((srv = cdy_server_on(cfg, pc->tls_listen, NULL)) == NULL) {
			snprintf(listen, sizeof listen, ":%llu",
			    (unsigned long long)pc->tls_listen);
			srv = json_pack("{s:[s], s:[]}", "listen", listen,
			    "routes");
			json_object_set_new(servers, CDY_SYS_TLS, srv);
		}
	} else if ((srv = cdy_server_on(cfg, pc->listen, NULL)) == NULL) {
		cdy_sys_layout(pc, cfg);
		srv = cdy_server_on(cfg, pc->listen, NULL);
	}
	r = cdy_srv_routes(srv);
	id = json_string_value(json_object_get(json_array_get(r, 0), "@id"));
	if (!tls && id != NULL && strcmp(id, CDY_PROBE_ID) == 0)
		at = 1;
	json_array_insert(r, at, route);
}

/* An empty "tug-tls" goes (see cdy_sys_layout). */
static void
cdy_sys_tidy(json_t *cfg)
{
	json_t	*servers = cdy_servers(cfg, 0);
	json_t	*tls = json_object_get(servers, CDY_SYS_TLS);

	if (tls != NULL && json_array_size(json_object_get(tls,
	    "routes")) == 0)
		json_object_del(servers, CDY_SYS_TLS);
}

/* The route @id id in whichever server has it: where, or NULL. */
static json_t *
cdy_find_route(json_t *cfg, const char *id, json_t **srvp, json_t **arrp,
    size_t *idxp)
{
	json_t		*srv, *arr, *e;
	const char	*k, *s;
	size_t		 i;

	json_object_foreach(cdy_servers(cfg, 0), k, srv) {
		arr = json_object_get(srv, "routes");
		json_array_foreach(arr, i, e)
			if ((s = json_string_value(json_object_get(e,
			    "@id"))) != NULL && strcmp(s, id) == 0) {
				if (srvp != NULL)
					*srvp = srv;
				if (arrp != NULL)
					*arrp = arr;
				if (idxp != NULL)
					*idxp = i;
				return e;
			}
	}
	return NULL;
}

/*
 * Make route the site's route in cfg: in place where it already is in the
 * right server (so a config that holds it already stays equal, and is not
 * loaded again), else moved there.
 */
static void
cdy_sys_set_route(const struct proxy_conf *pc, json_t *cfg, json_t *route,
    int tls)
{
	json_t		*target, *srv = NULL, *arr = NULL;
	const char	*id = json_string_value(json_object_get(route, "@id"));
	size_t		 idx = 0;

	target = cdy_server_on(cfg, tls ? pc->tls_listen : pc->listen, NULL);
	if (cdy_find_route(cfg, id, &srv, &arr, &idx) != NULL) {
		if (srv == target) {
			json_array_set(arr, idx, route);
			return;
		}
		json_array_remove(arr, idx);
	}
	cdy_sys_place(pc, cfg, route, tls);
}

/* The same for a TLS policy (first, before any of the host's). */
static void
cdy_sys_set_policy(json_t *cfg, json_t *policy)
{
	json_t		*pols = cdy_policies(cfg, 1), *e;
	const char	*id = json_string_value(json_object_get(policy, "@id"));
	const char	*s;
	size_t		 i;

	json_array_foreach(pols, i, e)
		if ((s = json_string_value(json_object_get(e, "@id"))) !=
		    NULL && strcmp(s, id) == 0) {
			json_array_set(pols, i, policy);
			return;
		}
	json_array_insert(pols, 0, policy);
}

/* The policy @id id of cfg, or NULL (borrowed). */
static json_t *
cdy_find_policy(json_t *cfg, const char *id)
{
	json_t		*e;
	const char	*s;
	size_t		 i;

	json_array_foreach(cdy_policies(cfg, 0), i, e)
		if ((s = json_string_value(json_object_get(e, "@id"))) !=
		    NULL && strcmp(s, id) == 0)
			return e;
	return NULL;
}

/*
 * The route of a site in the host's Caddy: its hosts, and either Caddy's
 * own 503 (stopped) or the per-request lookup of up/<site>/ described
 * above; checked like the agent-mode route (cdy_site_route).
 */
static json_t *
cdy_sys_route(const struct proxy_conf *pc, const struct proxy_site *ps,
    int tls, char *err)
{
	const char	*why;
	char		 e[128], id[SITE_NAME_MAX + 16], rel[24], up[CDY_PATH];
	json_t		*hosts, *handle, *inner, *set, *route;
	size_t		 i;

	if ((why = check_site_name(ps->site)) != NULL)
		return snprintf(err, PROXY_ERRLEN, "invalid site name '%s': %s",
		    log_escape(e, sizeof e, ps->site, strlen(ps->site)), why),
		    NULL;
	if (ps->ndomains == 0 || ps->ndomains > PROXY_DOMAINS_MAX)
		return snprintf(err, PROXY_ERRLEN, "no domains"), NULL;
	for (i = 0; i < ps->ndomains; i++)
		if ((why = check_domain(ps->domains[i])) != NULL)
			return snprintf(err, PROXY_ERRLEN, "invalid domain "
			    "'%s': %s", log_escape(e, sizeof e, ps->domains[i],
			    strlen(ps->domains[i])), why), NULL;
	if (ps->tls_cert[0] != '\0')
		return snprintf(err, PROXY_ERRLEN, "the caddy backend serves "
		    "no TLS sites yet: use nginx for site '%s'", ps->site),
		    NULL;
	if (ps->root[0] != '\0')
		return snprintf(err, PROXY_ERRLEN, "the host's caddy serves no "
		    "static sites"), NULL;
	if (ps->release == 0)
		return snprintf(err, PROXY_ERRLEN, "no release"), NULL;
	if (!ps->stopped && (ps->port == 0 || ps->port > 65535))
		return snprintf(err, PROXY_ERRLEN, "no upstream port"), NULL;

	snprintf(id, sizeof id, CDY_ID_PREFIX "%s", ps->site);
	snprintf(rel, sizeof rel, "%llu", (unsigned long long)ps->release);
	hosts = json_array();
	for (i = 0; i < ps->ndomains; i++)
		json_array_append_new(hosts, json_string(ps->domains[i]));
	handle = json_array();
	if (ps->stopped) {
		set = json_pack("{s:[s]}", "X-Tug-Stopped", rel);
		if (tls && ps->hsts)
			json_object_set_new(set, "Strict-Transport-Security",
			    json_pack("[s]", CDY_HSTS));
		json_array_append_new(handle, json_pack("{s:s, s:i, s:o}",
		    "handler", "static_response", "status_code", 503,
		    "headers", set));
		goto done;
	}
	cdy_dpath(pc, up, sizeof up, "up/%s", ps->site);
	inner = json_array();
	/* The newest up/<site>/r<release>-p<port> names the upstream. */
	json_array_append_new(inner, json_pack("{s:s, s:s, s:[s, s], s:[{s:s,"
	    " s:[s, s]}]}", "handler", "map", "source",
	    "{http.matchers.file.relative}", "destinations", "{tug_release}",
	    "{tug_upstream}", "mappings", "input_regexp",
	    "^/r([0-9]+)-p([0-9]+)$", "outputs", "${1}", "127.0.0.1:${2}"));
	if (ps->max_body != 0)
		json_array_append_new(inner, json_pack("{s:s, s:I}",
		    "handler", "request_body", "max_size",
		    (json_int_t)ps->max_body));
	set = json_pack("{s:[s]}", "X-Tug-Release", "{tug_release}");
	if (tls && ps->hsts)
		json_object_set_new(set, "Strict-Transport-Security",
		    json_pack("[s]", CDY_HSTS));
	json_array_append_new(inner, json_pack("{s:s, s:{s:o, s:b}}",
	    "handler", "headers", "response", "set", set, "deferred", 1));
	json_array_append_new(inner, json_pack("{s:s, s:[{s:s}],"
	    " s:{s:{s:[s]}}, s:{s:s, s:s}}",
	    "handler", "reverse_proxy", "upstreams", "dial", "{tug_upstream}",
	    "headers", "response", "delete", "X-Tug-Release",
	    "load_balancing", "try_duration", CDY_TRY, "try_interval",
	    "50ms"));
	json_array_append_new(handle, json_pack("{s:s, s:[{s:[{s:{s:s, s:[s],"
	    " s:s}}], s:o}, {s:[{s:s, s:i, s:{s:[s]}}]}]}", "handler",
	    "subroute", "routes", "match", "file", "root", up, "try_files",
	    CDY_UP_GLOB, "try_policy", "most_recently_modified", "handle",
	    inner, "handle", "handler", "static_response", "status_code", 502,
	    "headers", "X-Tug-Error", "no upstream"));
done:
	route = json_pack("{s:s, s:[{s:o}], s:o, s:b}", "@id", id, "match",
	    "host", hosts, "handle", handle, "terminal", 1);
	if (route == NULL)
		snprintf(err, PROXY_ERRLEN, "cannot build the route of '%s'",
		    ps->site);
	return route;
}

/*
 * The TLS policy of a tls-auto site: exactly its names, from its ACME CA
 * over HTTP-01 (TLS-ALPN off), trusting the controller's trust root,
 * which is copied where Caddy can read it (roots/, group tug), with the
 * account the agent registered for that CA and contact (acme-account.c
 * says why Caddy must not make its own).
 */
static json_t *
cdy_sys_policy(const struct proxy_conf *pc, const struct proxy_site *ps,
    int check, char *err)
{
	char		 id[SITE_NAME_MAX + 16], root[CDY_PATH];
	const char	*base;
	struct buf	 pem = BUF_INIT;
	json_t		*issuer, *subj;
	size_t		 i;

	if (ps->acme_ca[0] == '\0' || ps->acme_email[0] == '\0')
		return snprintf(err, PROXY_ERRLEN, "site %s wants a "
		    "certificate (tls: auto is the default on the host's own "
		    "proxy) and no ACME contact is set: tug acme set --email "
		    "you@example.com, or tls: off in its spec", ps->site),
		    NULL;
	if (acme_account_key(ps->acme_ca, ps->acme_email, ps->acme_root, check,
	    &pem, err, PROXY_ERRLEN) == -1)
		return NULL;
	issuer = json_pack("{s:s, s:s, s:s, s:s, s:{s:{s:b}}}", "module",
	    "acme", "ca", ps->acme_ca, "email", ps->acme_email, "account_key",
	    buf_str(&pem), "challenges", "tls-alpn", "disabled", 1);
	buf_reset(&pem);
	if (ps->acme_root[0] != '\0') {
		base = strrchr(ps->acme_root, '/') + 1;
		if (check_file_name(base) != NULL) {
			json_decref(issuer);
			return snprintf(err, PROXY_ERRLEN, "invalid trust root "
			    "%s", ps->acme_root), NULL;
		}
		cdy_dpath(pc, root, sizeof root, "roots/%s", base);
		if (fs_read_file(ps->acme_root, &pem, 1 << 20) == -1 ||
		    fs_write_atomic(root, pem.ptr, pem.len, 0640) == -1) {
			snprintf(err, PROXY_ERRLEN, "cannot copy the trust root "
			    "to %s: %s", root, strerror(errno));
			buf_release(&pem);
			json_decref(issuer);
			return NULL;
		}
		buf_release(&pem);
		json_object_set_new(issuer, "trusted_roots_pem_files",
		    json_pack("[s]", root));
	}
	snprintf(id, sizeof id, CDY_POLICY_ID "%s", ps->site);
	subj = json_array();
	for (i = 0; i < ps->ndomains; i++)
		json_array_append_new(subj, json_string(ps->domains[i]));
	return json_pack("{s:s, s:o, s:[o]}", "@id", id, "subjects", subj,
	    "issuers", issuer);
}

/* The directories and the log the host's Caddy uses in dir. */
static int
cdy_sys_dirs(const struct proxy_conf *pc, char *err)
{
	static const char	*dirs[] = { "up", "roots" };
	char			 path[CDY_PATH];
	size_t			 i;
	int			 fd;

	for (i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
		cdy_dpath(pc, path, sizeof path, "%s", dirs[i]);
		if ((mkdir(path, 0750) == -1 && errno != EEXIST) ||
		    chmod(path, 02750) == -1)
			return snprintf(err, PROXY_ERRLEN, "cannot create %s: "
			    "%s", path, strerror(errno)), -1;
	}
	/* Caddy appends to it; the group (Caddy's too) reads it. */
	cdy_dpath(pc, path, sizeof path, "caddy.log");
	if ((fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
	    O_NOFOLLOW, 0660)) == -1)
		return snprintf(err, PROXY_ERRLEN, "cannot create %s: %s", path,
		    strerror(errno)), -1;
	/* The agent's umask is 077; Caddy's own file it may not chmod. */
	if (fchmod(fd, 0660) == -1 && errno != EPERM) {
		close(fd);
		return snprintf(err, PROXY_ERRLEN, "cannot chmod %s: %s", path,
		    strerror(errno)), -1;
	}
	close(fd);
	cdy_path(path, sizeof path, "sites");
	if (fs_mkdirs(path, 0700) == -1)
		return snprintf(err, PROXY_ERRLEN, "cannot create %s: %s", path,
		    strerror(errno)), -1;
	return 0;
}

/* POST /load of the whole config. */
static int
cdy_sys_load(const struct proxy_conf *pc, json_t *cfg, char *err)
{
	return cdy_change(pc, "POST", "/load", cfg, err);
}

static off_t
cdy_log_size(const struct proxy_conf *pc)
{
	char		path[CDY_PATH];
	struct stat	st;

	cdy_dpath(pc, path, sizeof path, "caddy.log");
	return stat(path, &st) == 0 ? st.st_size : 0;
}

/* Challenge tokens in URLs say nothing to a reader: cut them, escape. */
static void
cdy_reason_clean(const char *in, char *dst, size_t dstsz)
{
	static const char	 tok[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklm"
				     "nopqrstuvwxyz0123456789_-";
	char			 line[700];
	size_t			 n = 0, k;

	while (*in != '\0' && n < sizeof line - 8) {
		if (strncmp(in, "acme-challenge/", 15) == 0) {
			memcpy(line + n, in, 15);
			n += 15;
			in += 15;
			if ((k = strspn(in, tok)) > 0) {
				in += k;
				memcpy(line + n, "...", 3);
				n += 3;
			}
			continue;
		}
		line[n++] = *in++;
	}
	log_escape(dst, dstsz, line, n);
}

/*
 * What Caddy's tls log says went wrong for name since off: the ACME
 * client's failed authorization (the CA's problem), else certmagic's
 * "could not get certificate from issuer". 1 and the words, or 0.
 */
static int
cdy_log_reason(const struct proxy_conf *pc, off_t off, const char *name,
    char *why, size_t whysz)
{
	char		 path[CDY_PATH], *chunk, *line, *save = NULL;
	const char	*msg, *id, *e, *best = NULL, *second = NULL;
	json_t		*j, *keep = json_array();
	ssize_t		 n;
	int		 fd, found = 0;

	cdy_dpath(pc, path, sizeof path, "caddy.log");
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	chunk = xmalloc(CDY_LOG_MAX + 1);
	n = pread(fd, chunk, CDY_LOG_MAX, off);
	close(fd);
	if (n <= 0) {
		free(chunk);
		json_decref(keep);
		return 0;
	}
	chunk[n] = '\0';
	for (line = strtok_r(chunk, "\n", &save); line != NULL && best == NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if ((j = json_loads(line, 0, NULL)) == NULL)
			continue;
		json_array_append_new(keep, j);
		msg = json_string_value(json_object_get(j, "msg"));
		id = json_string_value(json_object_get(j, "identifier"));
		e = json_string_value(json_object_get(j, "error"));
		if (msg == NULL || id == NULL || e == NULL ||
		    strcasecmp(id, name) != 0 || strcmp(json_string_value(
		    json_object_get(j, "level")) != NULL ? json_string_value(
		    json_object_get(j, "level")) : "", "error") != 0)
			continue;
		if (strcmp(msg, "validating authorization") == 0)
			best = e;
		else if (second == NULL && strcmp(msg, "could not get "
		    "certificate from issuer") == 0)
			second = e;
	}
	if (best != NULL || second != NULL) {
		cdy_reason_clean(best != NULL ? best : second, why, whysz);
		found = 1;
	}
	json_decref(keep);
	free(chunk);
	return found;
}

/*
 * The certificate the host's Caddy serves for name: a TLS handshake with
 * SNI to its TLS port and nothing after (CONNECT_ONLY). 0 with ci (and
 * the leaf written to path when path is given), or -1 with why.
 */
static int
cdy_served(const struct proxy_conf *pc, const char *name, const char *path,
    struct cert_info *ci, char *why)
{
	CURL			*h;
	struct curl_slist	*res = NULL, *it;
	struct curl_certinfo	*info = NULL;
	char			 url[DOMAIN_MAX + 32], rs[DOMAIN_MAX + 64];
	char			 tmp[CDY_PATH];
	const char		*addr = strcmp(pc->address, "0.0.0.0") == 0 ?
				     "127.0.0.1" : pc->address, *pem = NULL;
	CURLcode		 rc;
	int			 r = -1;

	if ((h = curl_easy_init()) == NULL)
		return snprintf(why, PROXY_ERRLEN, "curl_easy_init failed"), -1;
	snprintf(url, sizeof url, "https://%s:%llu/", name,
	    (unsigned long long)pc->tls_listen);
	snprintf(rs, sizeof rs, "%s:%llu:%s", name,
	    (unsigned long long)pc->tls_listen, addr);
	res = curl_slist_append(NULL, rs);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_RESOLVE, res);
	curl_easy_setopt(h, CURLOPT_CONNECT_ONLY, 1L);
	curl_easy_setopt(h, CURLOPT_CERTINFO, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROXY, "");
	curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 3000L);
	if ((rc = curl_easy_perform(h)) != CURLE_OK)
		snprintf(why, PROXY_ERRLEN, "TLS handshake for %s: %s", name,
		    curl_easy_strerror(rc));
	else if (curl_easy_getinfo(h, CURLINFO_CERTINFO, &info) != CURLE_OK ||
	    info == NULL || info->num_of_certs < 1)
		snprintf(why, PROXY_ERRLEN, "no certificate for %s", name);
	else {
		for (it = info->certinfo[0]; it != NULL; it = it->next)
			if (strncmp(it->data, "Cert:", 5) == 0)
				pem = it->data + 5;
		cdy_path(tmp, sizeof tmp, "served.pem");
		if (pem == NULL || fs_write_atomic(path != NULL ? path : tmp,
		    pem, strlen(pem), 0600) == -1 || acme_cert_info(path !=
		    NULL ? path : tmp, ci) == -1)
			snprintf(why, PROXY_ERRLEN, "cannot read the "
			    "certificate served for %s", name);
		else
			r = 0;
	}
	curl_slist_free_all(res);
	curl_easy_cleanup(h);
	return r;
}

static int
cdy_cert_names(const struct cert_info *ci, const char *name)
{
	size_t	i;

	for (i = 0; i < ci->nnames; i++)
		if (strcasecmp(ci->names[i], name) == 0)
			return 1;
	return 0;
}

/*
 * Wait until Caddy serves a certificate for every name of ps, valid now,
 * and (before given) with another serial than before[i]; fail as soon as
 * its log says why the CA did not issue one.
 */
static int
cdy_cert_wait(const struct proxy_conf *pc, const struct proxy_site *ps,
    off_t off, char (*before)[80], uint64_t ms, char *err)
{
	struct cert_info ci;
	char		 why[PROXY_ERRLEN], reason[600];
	uint64_t	 t0 = clock_ms(), end = t0 + ms;
	int64_t		 now;
	size_t		 i;

	for (i = 0; i < ps->ndomains; i++) {
		for (;;) {
			now = (int64_t)time(NULL);
			if (cdy_served(pc, ps->domains[i], NULL, &ci,
			    why) == 0) {
				if (cdy_cert_names(&ci, ps->domains[i]) &&
				    ci.not_after > now && ci.not_before <=
				    now + 60 && (before == NULL ||
				    strcmp(ci.serial, before[i]) != 0))
					break;
				snprintf(why, sizeof why, "it serves serial %s "
				    "of %s", ci.serial, ci.issuer);
			}
			if (cdy_log_reason(pc, off, ps->domains[i], reason,
			    sizeof reason))
				return snprintf(err, PROXY_ERRLEN, "the ACME CA "
				    "did not issue a certificate for %s: %s",
				    ps->domains[i], reason), -1;
			if (clock_ms() >= end)
				return snprintf(err, PROXY_ERRLEN, "the host's "
				    "caddy has no %scertificate for %s %llu s "
				    "after it was asked for one (%s); its log "
				    "%s/caddy.log says no more", before != NULL ?
				    "new " : "", ps->domains[i],
				    (unsigned long long)(ms / 1000), why,
				    pc->dir), -1;
			sleep_ms(100);
		}
	}
	return 0;
}

/* The site's certificate as tug site status shows it: the first name's. */
static void
cdy_cert_keep(const struct proxy_conf *pc, const struct proxy_site *ps)
{
	struct proxy_site	 p = *ps;
	struct cert_info	 ci;
	char			 dir[PATH_MAX_TUG + 64], why[PROXY_ERRLEN];

	acme_paths(&p);
	snprintf(dir, sizeof dir, "%s/acme/sites/%s", agent.state_dir,
	    ps->site);
	if (fs_mkdirs(dir, 0700) == -1 || cdy_served(pc, ps->domains[0],
	    p.tls_cert, &ci, why) == -1)
		log_warnx("site %s: no certificate to show: %s", ps->site, why);
}

static int
cdy_up_name_ok(const char *n)
{
	size_t	a, b;

	if (n[0] != 'r' || (a = strspn(n + 1, "0123456789")) == 0 ||
	    a > 20 || n[1 + a] != '-' || n[2 + a] != 'p' ||
	    (b = strspn(n + 3 + a, "0123456789")) == 0 || b > 5)
		return 0;
	return n[3 + a + b] == '\0';
}

/* The newest upstream file of the site ("" when none) and its mtime. */
static void
cdy_up_current(const struct proxy_conf *pc, const char *site, char *name,
    size_t namesz, struct timespec *mt)
{
	char		 dir[CDY_PATH], path[CDY_PATH + 64];
	DIR		*d;
	struct dirent	*de;
	struct stat	 st;
	struct timespec	 best = { 0, 0 };

	name[0] = '\0';
	cdy_dpath(pc, dir, sizeof dir, "up/%s", site);
	if ((d = opendir(dir)) == NULL)
		goto out;
	while ((de = readdir(d)) != NULL) {
		if (!cdy_up_name_ok(de->d_name))
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		if (stat(path, &st) == -1)
			continue;
		if (name[0] == '\0' || st.st_mtim.tv_sec > best.tv_sec ||
		    (st.st_mtim.tv_sec == best.tv_sec &&
		    st.st_mtim.tv_nsec > best.tv_nsec)) {
			best = st.st_mtim;
			snprintf(name, namesz, "%s", de->d_name);
		}
	}
	closedir(d);
out:
	if (mt != NULL)
		*mt = best;
}

/*
 * Make want the site's upstream: the file is made (or touched) with an
 * mtime after every other one's, so Caddy's next request picks it; every
 * other file but keep goes. keep, the release that served until now,
 * stays until the next switch: a request that listed the directory just
 * before the new file came can still find it.
 */
static int
cdy_up_put(const struct proxy_conf *pc, const char *site, const char *keep,
    const char *want, char *err)
{
	char		 dir[CDY_PATH], path[CDY_PATH + 64];
	DIR		*d;
	struct dirent	*de;
	struct stat	 st;
	struct timespec	 ts[2];
	int		 fd;

	cdy_dpath(pc, dir, sizeof dir, "up/%s", site);
	if ((mkdir(dir, 0750) == -1 && errno != EEXIST) ||
	    chmod(dir, 02750) == -1)
		return snprintf(err, PROXY_ERRLEN, "cannot create %s: %s", dir,
		    strerror(errno)), -1;
	clock_gettime(CLOCK_REALTIME, &ts[0]);
	if ((d = opendir(dir)) == NULL)
		return snprintf(err, PROXY_ERRLEN, "cannot read %s: %s", dir,
		    strerror(errno)), -1;
	while ((de = readdir(d)) != NULL) {
		if (!cdy_up_name_ok(de->d_name) || strcmp(de->d_name,
		    want) == 0)
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		if (strcmp(de->d_name, keep) != 0) {
			unlink(path);
			continue;
		}
		if (stat(path, &st) == 0 && (st.st_mtim.tv_sec > ts[0].tv_sec ||
		    (st.st_mtim.tv_sec == ts[0].tv_sec &&
		    st.st_mtim.tv_nsec >= ts[0].tv_nsec))) {
			ts[0] = st.st_mtim;
			ts[0].tv_nsec += 1000000;
			if (ts[0].tv_nsec >= 1000000000) {
				ts[0].tv_sec++;
				ts[0].tv_nsec -= 1000000000;
			}
		}
	}
	closedir(d);
	ts[1] = ts[0];
	snprintf(path, sizeof path, "%s/%s", dir, want);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	    0640)) == -1 || futimens(fd, ts) == -1) {
		snprintf(err, PROXY_ERRLEN, "cannot write %s: %s", path,
		    strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

static void
cdy_up_clear(const struct proxy_conf *pc, const char *site)
{
	char	dir[CDY_PATH];
	int	dfd;

	cdy_dpath(pc, dir, sizeof dir, "up");
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return;
	if (fs_remove_tree(dfd, site) == -1 && errno != ENOENT)
		log_warn("cannot remove %s/%s", dir, site);
	close(dfd);
}

/* The upstream file of a release: r<release>-p<port>. */
static void
cdy_up_want(const struct proxy_site *ps, char *dst, size_t dstsz)
{
	if (ps->stopped)
		dst[0] = '\0';
	else
		snprintf(dst, dstsz, "r%llu-p%llu",
		    (unsigned long long)ps->release,
		    (unsigned long long)ps->port);
}

/*
 * Undo a switch from sites/<site>.prev: {route, tls, policy, up}, the
 * site's pieces and upstream file before it. 1 undone, 0 none, -1.
 */
static int
cdy_sys_undo(const struct proxy_conf *pc, const char *site)
{
	char		 prevp[CDY_PATH], err[PROXY_ERRLEN], id[SITE_NAME_MAX + 16];
	struct buf	 b = BUF_INIT;
	json_t		*prev, *cfg = NULL, *want = NULL, *route, *policy;
	const char	*up;
	int		 r = -1;

	cdy_path(prevp, sizeof prevp, "sites/%s.prev", site);
	if (fs_read_file(prevp, &b, 4 << 20) == -1) {
		buf_release(&b);
		return errno == ENOENT ? 0 : -1;
	}
	prev = json_loadb(b.ptr, b.len, 0, NULL);
	buf_release(&b);
	route = json_object_get(prev, "route");
	policy = json_object_get(prev, "policy");
	up = json_string_value(json_object_get(prev, "up"));
	if (prev == NULL || up == NULL || (up[0] != '\0' &&
	    !cdy_up_name_ok(up)) || (json_is_object(route) &&
	    (cdy_route_site(route) == NULL || strcmp(cdy_route_site(route),
	    site) != 0))) {
		log_warnx("%s is damaged: the site's route is left as it is",
		    prevp);
		json_decref(prev);
		return -1;
	}
	if ((cfg = cdy_get(pc, "/config/", err)) == NULL)
		goto out;
	want = json_deep_copy(cfg);
	snprintf(id, sizeof id, CDY_ID_PREFIX "%s", site);
	if (json_is_object(route))
		cdy_sys_set_route(pc, want, route, json_is_true(
		    json_object_get(prev, "tls")));
	else
		json_decref(cdy_take_route(want, id, NULL, 0));
	snprintf(id, sizeof id, CDY_POLICY_ID "%s", site);
	if (json_is_object(policy))
		cdy_sys_set_policy(want, policy);
	else
		json_decref(cdy_take(cdy_policies(want, 0), id));
	cdy_sys_tidy(want);
	if (!json_equal(cfg, want) && cdy_sys_load(pc, want, err) == -1)
		goto out;
	if (up[0] != '\0' && cdy_up_put(pc, site, "", up, err) == -1)
		goto out;
	if (up[0] == '\0')
		cdy_up_clear(pc, site);
	r = 1;
out:
	if (r == -1)
		log_warnx("cannot restore the route of %s: %s", site, err);
	else
		unlink(prevp);
	json_decref(cfg);
	json_decref(want);
	json_decref(prev);
	return r;
}

static int
cdy_sys_switch(const struct proxy_conf *pc, const struct proxy_site *ps,
    struct proxy_timing *tm, char *err)
{
	json_t		*route = NULL, *policy = NULL, *cfg = NULL, *want = NULL;
	json_t		*oldr = NULL, *oldp = NULL, *prev, *srv, *r, *hv;
	char		 prevp[CDY_PATH], host[DOMAIN_MAX + 16], rel[24];
	char		 why[PROXY_ERRLEN], id[SITE_NAME_MAX + 16];
	char		 cur[64], up[64], *text;
	const char	*hdr = ps->stopped ? "X-Tug-Stopped" : "X-Tug-Release";
	const char	*path = ps->stopped ? "/" : ps->path, *k, *s;
	long		 status = ps->stopped ? 503 : ps->any_status ? PROXY_ANY :
			     PROXY_2XX3XX;
	int		 tls = cdy_tls(pc, ps), ret = -1, pieces, rc, oldtls = 0;
	size_t		 i, n, d;
	off_t		 off;
	uint64_t	 t;

	memset(tm, 0, sizeof *tm);
	if ((route = cdy_sys_route(pc, ps, tls, err)) == NULL)
		return -1;
	if (tls && (policy = cdy_sys_policy(pc, ps, 0, err)) == NULL)
		goto out;
	if (path[0] == '\0')
		path = "/";
	cdy_path(prevp, sizeof prevp, "sites/%s.prev", ps->site);
	proxy_probe_host(ps, host, sizeof host);
	snprintf(rel, sizeof rel, "%llu", (unsigned long long)ps->release);
	if (cdy_sys_dirs(pc, err) == -1 ||
	    (cfg = cdy_get(pc, "/config/", err)) == NULL)
		goto out;

	/* A domain of another site's route: Caddy would serve the first. */
	json_object_foreach(cdy_servers(cfg, 0), k, srv)
		json_array_foreach(json_object_get(srv, "routes"), i, r) {
			if ((s = cdy_route_site(r)) == NULL ||
			    strcmp(s, ps->site) == 0)
				continue;
			json_array_foreach(json_object_get(json_array_get(
			    json_object_get(r, "match"), 0), "host"), n, hv)
				for (d = 0; d < ps->ndomains; d++)
					if (json_string_value(hv) != NULL &&
					    strcasecmp(json_string_value(hv),
					    ps->domains[d]) == 0) {
						snprintf(err, PROXY_ERRLEN,
						    "domain '%s' is already "
						    "served by another site on "
						    "this proxy",
						    ps->domains[d]);
						goto out;
					}
		}

	/* The config with this site's pieces as they must be. */
	snprintf(id, sizeof id, CDY_ID_PREFIX "%s", ps->site);
	if ((oldr = cdy_find_route(cfg, id, &srv, NULL, NULL)) != NULL)
		oldtls = srv == cdy_server_on(cfg, pc->tls_listen, NULL) &&
		    pc->tls_listen != 0;
	json_incref(oldr);
	snprintf(id, sizeof id, CDY_POLICY_ID "%s", ps->site);
	oldp = json_incref(cdy_find_policy(cfg, id));
	/* A policy that changes asks for certificates: the account alive? */
	if (policy != NULL && (oldp == NULL || !json_equal(oldp, policy))) {
		json_decref(policy);
		if ((policy = cdy_sys_policy(pc, ps, 1, err)) == NULL)
			goto out;
	}
	want = json_deep_copy(cfg);
	cdy_sys_layout(pc, want);
	cdy_sys_set_route(pc, want, route, tls);
	if (policy != NULL)
		cdy_sys_set_policy(want, policy);
	else
		json_decref(cdy_take(cdy_policies(want, 0), id));
	cdy_sys_tidy(want);
	pieces = !json_equal(cfg, want);
	cdy_up_current(pc, ps->site, cur, sizeof cur, NULL);
	cdy_up_want(ps, up, sizeof up);

	/* Already in place (a reused container): it only has to answer. */
	if (!pieces && strcmp(cur, up) == 0) {
		t = clock_ms();
		rc = tls && !ps->stopped ? proxy_confirm_tls(pc, host, path,
		    hdr, rel, status, 500, why) : proxy_confirm(pc, host, path,
		    hdr, rel, status, 500, why);
		if (rc == 0) {
			tm->confirm_ms = clock_ms() - t;
			ret = 0;
			goto out;
		}
		log_info("the route of %s is in place but caddy does not answer "
		    "from it (%s); putting it again", ps->site, why);
	}

	/* What putting back undoes the switch with. */
	prev = json_pack("{s:O?, s:b, s:O?, s:s}", "route", oldr, "tls",
	    oldtls, "policy", oldp, "up", cur);
	text = prev != NULL ? json_dumps(prev, JSON_COMPACT) : NULL;
	json_decref(prev);
	if (text == NULL || fs_write_atomic(prevp, text, strlen(text),
	    CDY_MODE) == -1) {
		snprintf(err, PROXY_ERRLEN, "cannot write %s: %s", prevp,
		    strerror(errno));
		free(text);
		goto out;
	}
	free(text);
	tm->changed = 1;
	off = cdy_log_size(pc);
	t = clock_ms();
	if (pieces && cdy_sys_load(pc, want, err) == -1)
		goto undo;
	tm->reload_ms = clock_ms() - t;
	/* The old release serves on through the new route meanwhile. */
	if (tls && !ps->stopped && cdy_cert_wait(pc, ps, off, NULL,
	    CDY_CERT_MS, err) == -1)
		goto undo;
	if (up[0] != '\0' && cdy_up_put(pc, ps->site, cur, up, err) == -1)
		goto undo;
	t = clock_ms();
	rc = tls && !ps->stopped ? proxy_confirm_tls(pc, host, path, hdr,
	    rel, status, CDY_CONFIRM_MS, why) : proxy_confirm(pc, host, path,
	    hdr, rel, status, CDY_CONFIRM_MS, why);
	tm->confirm_ms = clock_ms() - t;
	if (rc == -1) {
		snprintf(err, PROXY_ERRLEN, "caddy does not answer for %s "
		    "%s release %s after %llu ms (%s)", host, ps->stopped ?
		    "with 503 for the stopped" : "from", rel,
		    (unsigned long long)tm->confirm_ms, why);
		goto undo;
	}
	if (tls && !ps->stopped)
		cdy_cert_keep(pc, ps);
	unlink(prevp);
	ret = 0;
	goto out;
undo:
	ret = -1;
	cdy_sys_undo(pc, ps->site);
out:
	json_decref(cfg);
	json_decref(want);
	json_decref(oldr);
	json_decref(oldp);
	json_decref(route);
	json_decref(policy);
	return ret;
}

static int
cdy_sys_remove(const struct proxy_conf *pc, const char *site, int *done,
    char *err)
{
	char	 prevp[CDY_PATH], id[SITE_NAME_MAX + 16];
	json_t	*cfg, *want, *r, *p;
	int	 ret = 0;

	cdy_path(prevp, sizeof prevp, "sites/%s.prev", site);
	unlink(prevp);
	*done = 0;
	if ((cfg = cdy_get(pc, "/config/", err)) == NULL)
		return -1;
	want = json_deep_copy(cfg);
	snprintf(id, sizeof id, CDY_ID_PREFIX "%s", site);
	r = cdy_take_route(want, id, NULL, 0);
	snprintf(id, sizeof id, CDY_POLICY_ID "%s", site);
	p = cdy_take(cdy_policies(want, 0), id);
	*done = r != NULL || p != NULL;
	cdy_sys_tidy(want);
	if (!json_equal(cfg, want))
		ret = cdy_sys_load(pc, want, err);
	json_decref(r);
	json_decref(p);
	json_decref(cfg);
	json_decref(want);
	if (ret == 0) {
		cdy_up_clear(pc, site);
		acme_remove(site);
	}
	return ret;
}

static int
cdy_sys_sites(const struct proxy_conf *pc, char ***names, size_t *n)
{
	char		 err[PROXY_ERRLEN];
	json_t		*cfg, *srv, *r;
	const char	*k, *s;
	size_t		 i, alloc = 0;

	*names = NULL;
	*n = 0;
	if ((cfg = cdy_get(pc, "/config/", err)) == NULL)
		return 0;
	json_object_foreach(cdy_servers(cfg, 0), k, srv)
		json_array_foreach(json_object_get(srv, "routes"), i, r) {
			if ((s = cdy_route_site(r)) == NULL)
				continue;
			if (*n == alloc) {
				alloc = alloc ? alloc * 2 : 8;
				*names = xrealloc(*names, alloc *
				    sizeof **names);
			}
			(*names)[(*n)++] = xstrdup(s);
		}
	if (*n > 0)
		qsort(*names, *n, sizeof **names, cdy_cmp);
	json_decref(cfg);
	return 0;
}

static void
cdy_sys_status(const struct proxy_conf *pc, struct proxy_state *st)
{
	char	 err[PROXY_ERRLEN];
	json_t	*cfg;

	memset(st, 0, sizeof *st);
	if ((cfg = cdy_get(pc, "/config/", err)) != NULL) {
		st->running = 1;
		st->pid = cdy_peer_pid(pc);
	}
	json_decref(cfg);
	cdy_version(pc, st->version, sizeof st->version);
	snprintf(st->prefix, sizeof st->prefix, "%s/", pc->dir);
}

/*
 * proxy.setup in system mode: the host's Caddy must answer on its socket
 * (bootstrap saw to it); the agent's pieces go into the config it runs,
 * loaded only when they differ, and the probe route confirms them.
 */
static int
cdy_sys_setup(struct proxy_conf *pc, struct proxy_state *st, char *err)
{
	char	 token[24], probe[64], why[PROXY_ERRLEN];
	json_t	*cfg = NULL, *want = NULL;
	int	 r = -1;

	memset(st, 0, sizeof *st);
	if (access(pc->binary, X_OK) == -1)
		return snprintf(err, PROXY_ERRLEN, "the host's caddy %s: %s",
		    pc->binary, strerror(errno)), -1;
	cdy_path(why, sizeof why, "%s", "");
	if (fs_mkdirs(why, 0700) == -1 || cdy_sys_dirs(pc, err) == -1)
		return -1;
	cdy_sys_token(pc, token, sizeof token);
	cdy_sys_probe(pc, probe, sizeof probe);
	if ((cfg = cdy_get(pc, "/config/", err)) == NULL)
		return -1;
	if (json_is_null(cfg)) {
		json_decref(cfg);
		cfg = json_object();
	}
	want = json_deep_copy(cfg);
	cdy_sys_layout(pc, want);
	if (json_equal(cfg, want) && proxy_confirm(pc, probe, "/",
	    "X-Tug-Config", token, PROXY_ANY, 500, why) == 0) {
		r = 0;
		goto done;
	}
	if (cdy_sys_load(pc, want, err) == -1)
		goto out;
	st->reloaded = 1;
	if (proxy_confirm(pc, probe, "/", "X-Tug-Config", token, PROXY_ANY,
	    CDY_CONFIRM_MS, why) == -1) {
		snprintf(err, PROXY_ERRLEN, "the host's caddy does not answer "
		    "on port %llu with tug's config (%s)",
		    (unsigned long long)pc->listen, why);
		if (cdy_sys_load(pc, cfg, why) == -1)
			log_warnx("after restoring caddy's config: %s", why);
		st->reloaded = 0;
		goto out;
	}
	r = 0;
done:
	st->pid = cdy_peer_pid(pc);
	st->running = 1;
	cdy_version(pc, st->version, sizeof st->version);
	snprintf(st->prefix, sizeof st->prefix, "%s/", pc->dir);
out:
	json_decref(cfg);
	json_decref(want);
	return r;
}

/*
 * cert.renew: Caddy renews by itself when a third of the lifetime is
 * left. To renew now, the site's policy gets renewal_window_ratio 1 (due
 * at once: Caddy renews it in the background as the config loads, and
 * swaps the new certificate in without a reload), then loses it again.
 * Two loads; the old certificate serves until the new one is there.
 */
static int
cdy_sys_cert(const struct proxy_conf *pc, const struct proxy_site *ps,
    char *err)
{
	char		 (*before)[80], id[SITE_NAME_MAX + 16], why[PROXY_ERRLEN];
	char		 host[DOMAIN_MAX + 16], rel[24];
	struct cert_info ci;
	json_t		*cfg, *want, *pol;
	size_t		 i;
	off_t		 off;
	int		 r = -1;

	if (!cdy_tls(pc, ps))
		return snprintf(err, PROXY_ERRLEN, "certificates come only to "
		    "the host's caddy (system mode) with a TLS port"), -1;
	if ((cfg = cdy_get(pc, "/config/", err)) == NULL)
		return -1;
	snprintf(id, sizeof id, CDY_POLICY_ID "%s", ps->site);
	if (cdy_find_policy(cfg, id) == NULL) {
		json_decref(cfg);
		return snprintf(err, PROXY_ERRLEN, "site %s has no TLS policy "
		    "in the host's caddy: deploy it again", ps->site), -1;
	}
	/* The policy as tug makes it now (its account included), due. */
	if ((pol = cdy_sys_policy(pc, ps, 1, err)) == NULL) {
		json_decref(cfg);
		return -1;
	}
	before = xcalloc(ps->ndomains, sizeof *before);
	for (i = 0; i < ps->ndomains; i++)
		if (cdy_served(pc, ps->domains[i], NULL, &ci, why) == 0)
			snprintf(before[i], sizeof before[i], "%s", ci.serial);
	want = json_deep_copy(cfg);
	json_object_set_new(pol, "renewal_window_ratio", json_real(1.0));
	cdy_sys_set_policy(want, pol);
	json_decref(pol);
	off = cdy_log_size(pc);
	if (cdy_sys_load(pc, want, err) == 0)
		r = cdy_cert_wait(pc, ps, off, before, CDY_CERT_MS, err);
	/* The policy as it was, with a new account if one was made. */
	json_object_del(cdy_find_policy(want, id), "renewal_window_ratio");
	if (cdy_sys_load(pc, want, r == 0 ? err : why) == -1)
		r = -1;
	if (r == 0) {
		cdy_cert_keep(pc, ps);
		proxy_probe_host(ps, host, sizeof host);
		snprintf(rel, sizeof rel, "%llu",
		    (unsigned long long)ps->release);
		if (proxy_confirm_tls(pc, host, ps->stopped ? "/" : ps->path,
		    ps->stopped ? "X-Tug-Stopped" : "X-Tug-Release", rel,
		    ps->stopped ? 503 : PROXY_2XX3XX, CDY_CONFIRM_MS,
		    why) == -1) {
			snprintf(err, PROXY_ERRLEN, "caddy does not answer for "
			    "%s over HTTPS after the new certificate (%s)",
			    host, why);
			r = -1;
		}
	}
	free(before);
	json_decref(cfg);
	json_decref(want);
	return r;
}

/* What the host's Caddy cannot serve, said before anything is made. */
static const char *
cdy_refuse(const struct proxy_conf *pc, const struct proxy_site *ps)
{
	static __thread char	msg[PROXY_ERRLEN];
	size_t			i;

	if (!PROXY_SYSTEM(pc))
		return NULL;
	if (ps->root[0] != '\0')
		return "static sites are not served by the host's caddy yet: it "
		    "runs as a user of its own, who cannot read the agent's "
		    "state dir";
	if (cdy_tls(pc, ps))
		for (i = 0; i < ps->ndomains; i++)
			if (ps->domains[i][0] == '*') {
				snprintf(msg, sizeof msg, "%s: a wildcard needs a "
				    "DNS-01 challenge, which tug does not do: "
				    "name each host, or tls: off",
				    ps->domains[i]);
				return msg;
			}
	return NULL;
}

/* The backend: agent mode above, system mode (cdy_sys_*) for the host's. */
static int
cdy_be_setup(struct proxy_conf *pc, struct proxy_state *st, char *err)
{
	return PROXY_SYSTEM(pc) ? cdy_sys_setup(pc, st, err) :
	    cdy_setup(pc, st, err);
}

static void
cdy_be_status(const struct proxy_conf *pc, struct proxy_state *st)
{
	if (PROXY_SYSTEM(pc))
		cdy_sys_status(pc, st);
	else
		cdy_status(pc, st);
}

static int
cdy_be_sites(const struct proxy_conf *pc, char ***names, size_t *n)
{
	return PROXY_SYSTEM(pc) ? cdy_sys_sites(pc, names, n) :
	    cdy_sites(pc, names, n);
}

static int
cdy_be_switch(const struct proxy_conf *pc, const struct proxy_site *ps,
    struct proxy_timing *tm, char *err)
{
	return PROXY_SYSTEM(pc) ? cdy_sys_switch(pc, ps, tm, err) :
	    cdy_site_switch(pc, ps, tm, err);
}

static int
cdy_be_remove(const struct proxy_conf *pc, const char *site, int *done,
    char *err)
{
	return PROXY_SYSTEM(pc) ? cdy_sys_remove(pc, site, done, err) :
	    cdy_site_remove(pc, site, done, err);
}

static int
cdy_be_restore(const struct proxy_conf *pc, const char *site, int *done,
    char *err)
{
	if (!PROXY_SYSTEM(pc))
		return cdy_site_restore(pc, site, done, err);
	*done = cdy_sys_undo(pc, site) == 1;
	return 0;
}

const struct proxy_backend proxy_caddy = {
	"caddy",
	cdy_be_setup,
	cdy_be_status,
	cdy_be_sites,
	cdy_be_switch,
	cdy_be_remove,
	cdy_be_restore,
	NULL,
	NULL,
	NULL,
	cdy_refuse,
	cdy_sys_cert,
	1,
};
