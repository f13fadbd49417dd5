/*
 * local-docker.c: the controller's own Docker engine, read for `tug image
 * push`: an image's id, and `docker save` streamed without holding it. The
 * socket is $DOCKER_HOST when it is unix://, else /var/run/docker.sock.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "controller/tug.h"

#define ID_RESP_MAX	(1u << 20)

static const char *
sock_path(void)
{
	const char	*dh = getenv("DOCKER_HOST");

	if (dh != NULL && strncmp(dh, "unix://", 7) == 0)
		return dh + 7;
	return "/var/run/docker.sock";
}

struct sink {
	int		(*fn)(void *, const void *, size_t);
	void		*arg;
	struct buf	 b;		/* when fn is NULL */
	int		 failed;
	long		 status;
};

static size_t
sink_write(char *p, size_t size, size_t n, void *arg)
{
	struct sink	*s = arg;

	if (s->fn == NULL)
		return buf_add(&s->b, p, size * n) == 0 ? size * n : 0;
	if (s->fn(s->arg, p, size * n) == -1) {
		s->failed = 1;
		return 0;
	}
	return size * n;
}

static int
get(const char *path, struct sink *s, char *err, size_t errsz)
{
	CURL		*h;
	char		 url[1200];
	CURLcode	 rc;

	if ((h = curl_easy_init()) == NULL) {
		snprintf(err, errsz, "curl_easy_init failed");
		return -1;
	}
	snprintf(url, sizeof url, "http://docker/v1.41%s", path);
	curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, sock_path());
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 256L * 1024);
	rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &s->status);
	curl_easy_cleanup(h);
	if (rc != CURLE_OK && !s->failed) {
		snprintf(err, errsz, "the controller's Docker at %s: %s",
		    sock_path(), curl_easy_strerror(rc));
		return -1;
	}
	return s->failed ? -1 : 0;
}

int
local_image_id(const char *ref, char *id, size_t idsz, char *err,
    size_t errsz)
{
	struct sink	 s = { NULL, NULL, BUF_INIT, 0, 0 };
	char		 path[512];
	json_t		*j;
	int		 r = -1;

	buf_init(&s.b, ID_RESP_MAX);
	snprintf(path, sizeof path, "/images/%s/json", ref);
	if (get(path, &s, err, errsz) == -1)
		goto out;
	if (s.status == 404) {
		r = 0;
		goto out;
	}
	if (s.status != 200 || (j = json_loadb(s.b.ptr, s.b.len, 0,
	    NULL)) == NULL) {
		snprintf(err, errsz, "the controller's Docker answered %ld for "
		    "image '%s'", s.status, ref);
		goto out;
	}
	snprintf(id, idsz, "%s", json_string_value(json_object_get(j, "Id")) ?
	    json_string_value(json_object_get(j, "Id")) : "");
	json_decref(j);
	r = 1;
out:
	buf_release(&s.b);
	return r;
}

int
local_image_save(const char *ref, int (*fn)(void *, const void *, size_t),
    void *arg, char *err, size_t errsz)
{
	struct sink	 s = { fn, arg, BUF_INIT, 0, 0 };
	char		 path[512], *e;
	CURL		*h;

	if ((h = curl_easy_init()) == NULL)
		return -1;
	e = curl_easy_escape(h, ref, 0);
	curl_easy_cleanup(h);
	if (e == NULL)
		return -1;
	snprintf(path, sizeof path, "/images/get?names=%s", e);
	curl_free(e);
	if (get(path, &s, err, errsz) == -1) {
		if (s.failed)
			snprintf(err, errsz, "every target host failed");
		return -1;
	}
	if (s.status != 200) {
		snprintf(err, errsz, "docker save '%s' answered %ld", ref,
		    s.status);
		return -1;
	}
	return 0;
}
