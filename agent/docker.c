/*
 * docker.c: the Docker Engine API over its unix socket with libcurl. The API
 * version is negotiated once through /_ping (1.41 up to the newest this code
 * knows); every call reports transport failures, HTTP status and Docker's own
 * error message separately, and long calls honour their job's cancel flag.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>

#include "agent/agent.h"
#include "common/clock.h"
#include "common/log.h"

#define API_MIN_MINOR	41
#define API_MAX_MINOR	47
#define RESP_MAX	(8u << 20)

static char	api_version[16] = "1.41";
static int	api_known;
static pthread_mutex_t api_lock = PTHREAD_MUTEX_INITIALIZER;

const char *
docker_api_version(void)
{
	return api_version;
}

void
dcall_init(struct dcall *c, const char *method, const char *fmt, ...)
{
	va_list	ap;

	memset(c, 0, sizeof *c);
	c->method = method;
	va_start(ap, fmt);
	vsnprintf(c->path, sizeof c->path, fmt, ap);
	va_end(ap);
	buf_init(&c->resp, RESP_MAX);
	c->timeout_ms = 60000;
}

void
dcall_release(struct dcall *c)
{
	buf_release(&c->resp);
}

static size_t
collect(char *p, size_t size, size_t n, void *arg)
{
	struct dcall	*c = arg;

	if (buf_add(&c->resp, p, size * n) == -1)
		return 0;		/* curl aborts the transfer */
	return size * n;
}

static int
progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut,
    curl_off_t un)
{
	struct dcall	*c = arg;

	(void)dt; (void)dn; (void)ut; (void)un;
	return c->cancel != NULL && *c->cancel;
}

static size_t
header_cb(char *p, size_t size, size_t n, void *arg)
{
	size_t	len = size * n;

	(void)arg;
	if (len > 12 && strncasecmp(p, "Api-Version:", 12) == 0) {
		const char	*v = p + 12;
		unsigned	 major, minor;

		while (*v == ' ')
			v++;
		if (sscanf(v, "%u.%u", &major, &minor) == 2 && major == 1) {
			if (minor > API_MAX_MINOR)
				minor = API_MAX_MINOR;
			pthread_mutex_lock(&api_lock);
			snprintf(api_version, sizeof api_version, "1.%u",
			    minor);
			api_known = minor >= API_MIN_MINOR ? 1 : -1;
			pthread_mutex_unlock(&api_lock);
		}
	}
	return len;
}

/*
 * Run one transfer through a multi handle, waking every 100 ms to look at
 * the cancel flag: an idle log stream would otherwise notice a CANCEL only
 * when curl's progress callback next runs, about once a second.
 */
static CURLcode
run_transfer(struct dcall *c, CURL *h)
{
	CURLM		*m;
	CURLMsg		*msg;
	CURLcode	 rc = CURLE_OK;
	int		 running = 1, left, done = 0, gather = -1;

	if (c->cancel == NULL && c->burstfn == NULL)
		return curl_easy_perform(h);
	if ((m = curl_multi_init()) == NULL)
		return CURLE_OUT_OF_MEMORY;
	curl_multi_add_handle(m, h);
	while (!done) {
		if (curl_multi_perform(m, &running) != CURLM_OK) {
			rc = CURLE_RECV_ERROR;
			break;
		}
		if (c->burstfn != NULL)
			gather = c->burstfn(c->writearg);
		while ((msg = curl_multi_info_read(m, &left)) != NULL) {
			if (msg->msg == CURLMSG_DONE) {
				rc = msg->data.result;
				done = 1;
			}
		}
		if (done || running == 0)
			break;
		if (c->cancel != NULL && *c->cancel) {
			rc = CURLE_ABORTED_BY_CALLBACK;
			break;
		}
		if (gather > 0)
			sleep_ms((uint64_t)(gather < 100 ? gather : 100));
		else
			curl_multi_poll(m, NULL, 0, 100, NULL);
	}
	curl_multi_remove_handle(m, h);
	curl_multi_cleanup(m);
	return rc;
}

/* The extra header may carry credentials: leave no copy in freed memory. */
static void
headers_wipe(struct curl_slist *l)
{
	for (; l != NULL; l = l->next)
		if (l->data != NULL)
			explicit_bzero(l->data, strlen(l->data));
}

static int
perform(struct dcall *c, int versioned)
{
	CURL			*h;
	struct curl_slist	*hdrs = NULL;
	char			 url[1200], ct[96];
	CURLcode		 rc;

	if ((h = curl_easy_init()) == NULL) {
		snprintf(c->err, sizeof c->err, "curl_easy_init failed");
		return -1;
	}
	if (versioned)
		snprintf(url, sizeof url, "http://docker/v%s%s", api_version,
		    c->path);
	else
		snprintf(url, sizeof url, "http://docker%s", c->path);
	curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, agent.docker_sock);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, c->method);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	if (c->timeout_ms > 0)
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->timeout_ms);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION,
	    c->writefn != NULL ? c->writefn : collect);
	curl_easy_setopt(h, CURLOPT_WRITEDATA,
	    c->writefn != NULL ? c->writearg : c);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, c);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	if (c->writefn != NULL)
		curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 128L * 1024);
	snprintf(ct, sizeof ct, "Content-Type: %s",
	    c->ctype != NULL ? c->ctype : "application/json");
	if (c->readfn != NULL) {
		hdrs = curl_slist_append(hdrs, ct);
		hdrs = curl_slist_append(hdrs, "Transfer-Encoding: chunked");
		hdrs = curl_slist_append(hdrs, "Expect:");
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, c->method);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, c->readfn);
		curl_easy_setopt(h, CURLOPT_READDATA, c->readarg);
	} else if (c->body != NULL) {
		hdrs = curl_slist_append(hdrs, ct);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, c->body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)c->bodylen);
	} else if (strcmp(c->method, "POST") == 0) {
		hdrs = curl_slist_append(hdrs, "Content-Length: 0");
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
	}
	if (c->header != NULL) {
		struct curl_slist *l = curl_slist_append(hdrs, c->header);

		if (l == NULL) {	/* never go on without the header */
			curl_easy_cleanup(h);
			curl_slist_free_all(hdrs);
			snprintf(c->err, sizeof c->err, "out of memory");
			return -1;
		}
		hdrs = l;
	}
	if (hdrs != NULL)
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	rc = run_transfer(c, h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &c->status);
	curl_easy_cleanup(h);
	if (c->header != NULL)
		headers_wipe(hdrs);
	curl_slist_free_all(hdrs);
	if (rc != CURLE_OK) {
		if (rc == CURLE_ABORTED_BY_CALLBACK && c->cancel != NULL &&
		    *c->cancel)
			snprintf(c->err, sizeof c->err, "cancelled");
		else if (rc == CURLE_COULDNT_CONNECT &&
		    access(agent.docker_sock, F_OK) == -1)
			snprintf(c->err, sizeof c->err, "cannot reach Docker "
			    "at %s: no such socket (is Docker installed and "
			    "running?)", agent.docker_sock);
		else if (rc == CURLE_COULDNT_CONNECT &&
		    access(agent.docker_sock, R_OK | W_OK) == -1)
			snprintf(c->err, sizeof c->err, "cannot reach Docker "
			    "at %s: permission denied (add this user to the "
			    "docker group)", agent.docker_sock);
		else if (rc == CURLE_COULDNT_CONNECT)
			snprintf(c->err, sizeof c->err, "cannot reach Docker "
			    "at %s: %s", agent.docker_sock,
			    curl_easy_strerror(rc));
		else
			snprintf(c->err, sizeof c->err, "docker %s %s: %s",
			    c->method, c->path, curl_easy_strerror(rc));
		return -1;
	}
	return 0;
}

int
docker_ping(char *err)
{
	struct dcall	c;
	int		r;

	dcall_init(&c, "GET", "/_ping");
	c.timeout_ms = 5000;
	r = perform(&c, 0);
	if (r == -1)
		snprintf(err, MSG_ERRLEN, "%s", c.err);
	else if (c.status != 200) {
		snprintf(err, MSG_ERRLEN, "docker /_ping answered %ld",
		    c.status);
		r = -1;
	} else if (api_known == -1) {
		snprintf(err, MSG_ERRLEN, "docker API %s is older than 1.%d",
		    api_version, API_MIN_MINOR);
		r = -1;
	}
	dcall_release(&c);
	return r;
}

int
docker_init(void)
{
	char	err[MSG_ERRLEN];

	if (docker_ping(err) == -1) {
		log_info("%s", err);
		return -1;
	}
	log_info("docker API %s at %s", api_version, agent.docker_sock);
	return 0;
}

int
docker_call(struct dcall *c)
{
	if (api_known == 0) {
		char	err[MSG_ERRLEN];

		if (docker_ping(err) == -1) {
			snprintf(c->err, sizeof c->err, "%s", err);
			return -1;
		}
	}
	return perform(c, 1);
}

const char *
docker_message(struct dcall *c)
{
	json_t		*j, *m;
	static __thread char msg[MSG_ERRLEN];

	snprintf(msg, sizeof msg, "HTTP %ld", c->status);
	if (c->resp.len == 0)
		return msg;
	if ((j = json_loadb(c->resp.ptr, c->resp.len, 0, NULL)) != NULL) {
		if ((m = json_object_get(j, "message")) != NULL &&
		    json_is_string(m))
			snprintf(msg, sizeof msg, "%s", json_string_value(m));
		json_decref(j);
	} else
		snprintf(msg, sizeof msg, "HTTP %ld: %.*s", c->status,
		    (int)(c->resp.len > 200 ? 200 : c->resp.len), c->resp.ptr);
	return msg;
}

int
docker_ok(struct dcall *c)
{
	if (docker_call(c) == -1)
		return -1;
	if (c->status < 200 || c->status > 299) {
		snprintf(c->err, sizeof c->err, "%s", docker_message(c));
		return -1;
	}
	return 0;
}

json_t *
docker_json(struct dcall *c)
{
	json_t		*j;
	json_error_t	 je;

	if (docker_ok(c) == -1)
		return NULL;
	if ((j = json_loadb(c->resp.ptr, c->resp.len, 0, &je)) == NULL) {
		snprintf(c->err, sizeof c->err, "docker %s: bad JSON: %s",
		    c->path, je.text);
		return NULL;
	}
	return j;
}

char *
docker_escape(const char *s)
{
	char	*e = curl_easy_escape(NULL, s, 0), *r;

	if (e == NULL)
		return NULL;
	r = strdup(e);
	curl_free(e);
	return r;
}
