/*
 * proxy-caddy.c: the Caddy backend in agent mode. The agent runs its own
 * unprivileged `caddy run` (fork+execve, never a shell) with its config,
 * data and admin socket under <state>/caddy, and changes one route per
 * site (@id tug-site-<site>) through the admin API, then confirms the
 * switch by asking Caddy's listener, as the nginx backend does.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
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

/* The admin socket's path; -1 when it does not fit a sockaddr_un. */
static int
cdy_sock(char *dst, size_t dstsz, char *err)
{
	struct sockaddr_un	sun;

	cdy_path(dst, dstsz, "admin.sock");
	if (strlen(dst) >= sizeof sun.sun_path)
		return snprintf(err, PROXY_ERRLEN, "the state dir's path is too "
		    "long for caddy's admin socket %s (at most %zu bytes)",
		    dst, sizeof sun.sun_path - 1), -1;
	return 0;
}

/* The pid of our running caddy, or 0. */
static long
cdy_pid(void)
{
	char		 path[CDY_PATH], *end;
	struct buf	 b = BUF_INIT;
	const char	*p;
	long		 pid;

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
cdy_api(struct cdy_call *c, char *err)
{
	CURL			*h;
	struct curl_slist	*hdrs = NULL;
	char			 sock[CDY_PATH], url[600], *text = NULL;
	CURLcode		 rc;
	json_t			*j;
	const char		*msg;

	buf_reset(&c->resp);
	c->status = 0;
	if (cdy_sock(sock, sizeof sock, err) == -1)
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
cdy_get(const char *path, char *err)
{
	struct cdy_call	 c;
	json_t		*j = NULL;

	cdy_call_init(&c, "GET", path, NULL);
	if (cdy_api(&c, err) == 0 && c.status == 200 && (j = json_loadb(
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
cdy_change(const char *method, const char *path, json_t *body, char *err)
{
	struct cdy_call	c;
	int		r = -1;

	cdy_call_init(&c, method, path, body);
	if (cdy_api(&c, err) == 0) {
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

	(void)cdy_sock(sock, sizeof sock, err);
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
		if (cdy_pid() > 0 && (j = cdy_get("/config/", err)) != NULL) {
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
	if ((pid = (pid_t)cdy_pid()) > 0)
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
cdy_running(char *err)
{
	json_t	*j;

	if (cdy_pid() <= 0 || (j = cdy_get("/config/", err)) == NULL)
		return 0;
	json_decref(j);
	return 1;
}

/* Caddy runs and answers its admin API; else start it (it resumes). */
static int
cdy_ensure(const struct proxy_conf *pc, char *err)
{
	json_t	*j;

	if (cdy_pid() > 0 && (j = cdy_get("/config/", err)) != NULL) {
		json_decref(j);
		return 0;
	}
	return cdy_start(pc, err);
}

/* The routes array Caddy serves now, or NULL with err. */
static json_t *
cdy_routes(char *err)
{
	json_t	*r = cdy_get(CDY_ROUTES, err);

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
cdy_put_route(const char *site, json_t *route, char *err)
{
	json_t	*routes;
	char	 path[SITE_NAME_MAX + 32];
	int	 had, r;

	if ((routes = cdy_routes(err)) == NULL)
		return -1;
	had = cdy_find(routes, site) != NULL;
	json_decref(routes);
	snprintf(path, sizeof path, "/id/" CDY_ID_PREFIX "%s", site);
	if (route == NULL)
		r = had ? cdy_change("DELETE", path, NULL, err) : 0;
	else if (had)
		r = cdy_change("PATCH", path, route, err);
	else
		r = cdy_change("PUT", CDY_ROUTES "/0", route, err);
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
	    cdy_put_route(site, route, err) == -1) {
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
	if (cdy_ensure(pc, err) == -1 || (routes = cdy_routes(err)) == NULL)
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
	ret = cdy_put_route(ps->site, route, err);
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
	if (cdy_ensure(pc, err) == -1 || (routes = cdy_routes(err)) == NULL)
		return -1;
	*done = cdy_find(routes, site) != NULL;
	json_decref(routes);
	if (!*done)
		return 0;
	return cdy_put_route(site, NULL, err);
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

	(void)pc;
	*names = NULL;
	*n = 0;
	if (cdy_pid() > 0)
		cfg = cdy_get("/config/", err);
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
	st->pid = cdy_pid();
	/* Running: the pid is a live caddy and its admin API answers. */
	if (st->pid > 0 && (cfg = cdy_get("/config/", err)) != NULL)
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
	if (cdy_sock(path, sizeof path, err) == -1)
		return -1;

	/* A new Caddy resumes its autosave: the sites it holds stay. */
	if (!(running = cdy_running(err))) {
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
	if ((cur = cdy_get("/config/", err)) == NULL)
		goto undo;
	want = cdy_config(pc, cdy_site_routes(cur), token, sizeof token);
	if (json_equal(cur, want) && proxy_confirm(pc, CDY_PROBE_HOST, "/",
	    "X-Tug-Config", token, PROXY_ANY, started ? CDY_CONFIRM_MS : 500,
	    why) == 0) {
		r = 0;
		goto done;
	}
	if (cdy_change("POST", "/load", want, err) == -1)
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
	st->pid = cdy_pid();
	st->running = st->pid > 0;
	cdy_version(pc, st->version, sizeof st->version);
	cdy_path(st->prefix, sizeof st->prefix, "%s", "");
	goto out;
undo:
	if (started) {
		long pid = cdy_pid();

		if (pid > 0)
			kill((pid_t)pid, SIGTERM);
	} else if (cur != NULL && st->reloaded &&
	    cdy_change("POST", "/load", cur, why) == -1)
		log_warnx("after restoring caddy's config: %s", why);
	st->reloaded = 0;
out:
	json_decref(cur);
	json_decref(want);
	return r;
}

const struct proxy_backend proxy_caddy = {
	"caddy",
	cdy_setup,
	cdy_status,
	cdy_sites,
	cdy_site_switch,
	cdy_site_remove,
	cdy_site_restore,
};
