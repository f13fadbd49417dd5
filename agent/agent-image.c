/*
 * agent-image.c: the image ops. image.load streams DATA frames straight into
 * POST /images/load (a docker-save tarball, gzip accepted) without holding
 * the image in memory; image.pull has Docker pull from a registry with
 * credentials that never leave this process unwiped. Both turn errors that
 * Docker reports inside its 200 stream into a failed result; list, inspect
 * and remove are thin wrappers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "agent/agent.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/xmalloc.h"

#define LOAD_PROGRESS_EVERY	(16u << 20)

struct load {
	struct job	*job;
	struct msg	 cur;		/* DATA frame being drained */
	const char	*p;
	size_t		 left;
	uint64_t	 total;
	uint64_t	 next_report;
	int		 eof;
	int		 cancelled;
};

static size_t
load_read(char *dst, size_t size, size_t n, void *arg)
{
	struct load	*l = arg;
	size_t		 want = size * n, got = 0;

	while (got < want) {
		if (l->left == 0) {
			struct mv	body;
			const void	*p;
			size_t		 len;
			int		 r;

			msg_release(&l->cur);
			if (l->eof)
				break;
			if ((r = job_data(l->job, &l->cur)) == -1) {
				l->cancelled = 1;
				return CURL_READFUNC_ABORT;
			}
			if (r == 0) {
				l->eof = 1;
				break;
			}
			msg_body(&l->cur, &body, l->job->err, "");
			if (mv_bin(&body, "bytes", &p, &len, FRAME_MAX,
			    MV_REQ) != 1) {
				l->cancelled = 1;
				return CURL_READFUNC_ABORT;
			}
			mv_bool(&body, "eof", &l->eof, 0);
			l->p = p;
			l->left = len;
			if (len == 0)
				continue;
		}
		{
			size_t	k = l->left < want - got ? l->left : want - got;

			memcpy(dst + got, l->p, k);
			l->p += k;
			l->left -= k;
			got += k;
			l->total += k;
		}
		if (got > 0 && l->left == 0)
			break;		/* hand curl what we have */
	}
	if (l->total >= l->next_report) {
		job_progress(l->job, "load", "%llu MiB received",
		    (unsigned long long)(l->total >> 20));
		l->next_report += LOAD_PROGRESS_EVERY;
	}
	return got;
}

/* The ids of every image here, as keys of an object; NULL if unknown. */
static json_t *
image_ids(void)
{
	struct dcall	 c;
	json_t		*arr, *img, *ids = NULL;
	size_t		 i;

	dcall_init(&c, "GET", "/images/json?all=1");
	if ((arr = docker_json(&c)) != NULL && json_is_array(arr)) {
		ids = json_object();
		json_array_foreach(arr, i, img) {
			const char *id = json_string_value(json_object_get(img,
			    "Id"));

			if (id != NULL)
				json_object_set_new(ids, id, json_true());
		}
	}
	json_decref(arr);
	dcall_release(&c);
	return ids;
}

/* A loaded image the host did not have before is the agent's. */
static void
load_brought(json_t *before, const char *ref, size_t len)
{
	struct dcall	 c;
	json_t		*img;
	char		 name[IMAGE_REF_MAX + 80];
	const char	*id;

	if (before == NULL || len == 0 || len >= sizeof name)
		return;
	memcpy(name, ref, len);
	name[len] = '\0';
	dcall_init(&c, "GET", "/images/%s/json", name);
	if ((img = docker_json(&c)) != NULL &&
	    (id = json_string_value(json_object_get(img, "Id"))) != NULL &&
	    json_object_get(before, id) == NULL)
		image_brought(id, strncmp(name, "sha256:", 7) == 0 ? "" :
		    name);
	json_decref(img);
	dcall_release(&c);
}

/* Docker's load answer: JSON objects, one a line; any "error" fails it. */
static int
load_answer(struct job *j, struct dcall *c, struct enc *e, json_t *before)
{
	char	*line, *save = NULL, *text;

	if ((text = strndup(c->resp.ptr != NULL ? c->resp.ptr : "",
	    c->resp.len)) == NULL)
		return job_failed(j, E_INTERNAL, "out of memory");
	enc_karr(e, "loaded");
	for (line = strtok_r(text, "\r\n", &save); line != NULL;
	    line = strtok_r(NULL, "\r\n", &save)) {
		json_t		*o = json_loads(line, 0, NULL);
		const char	*err, *stream;

		if (o == NULL)
			continue;
		if ((err = json_string_value(json_object_get(o, "error")))) {
			job_fail(j, E_DOCKER, "docker could not load the "
			    "image: %s", err);
			json_decref(o);
			free(text);
			return -1;
		}
		stream = json_string_value(json_object_get(o, "stream"));
		if (stream != NULL) {
			const char *p = strstr(stream, "Loaded image: ");
			const char *q = strstr(stream, "Loaded image ID: ");

			if (p != NULL) {
				enc_strn(e, p + 14, strcspn(p + 14, "\n"));
				load_brought(before, p + 14, strcspn(p + 14,
				    "\n"));
			} else if (q != NULL) {
				enc_strn(e, q + 17, strcspn(q + 17, "\n"));
				load_brought(before, q + 17, strcspn(q + 17,
				    "\n"));
			}
		}
		json_decref(o);
	}
	enc_close(e);
	free(text);
	return 0;
}

static void
image_load_run(struct job *j)
{
	struct load	 l;
	struct dcall	 c;
	struct enc	 e;
	json_t		*before;

	memset(&l, 0, sizeof l);
	l.job = j;
	l.next_report = LOAD_PROGRESS_EVERY;
	before = image_ids();
	dcall_init(&c, "POST", "/images/load?quiet=1");
	c.ctype = "application/x-tar";
	c.readfn = load_read;
	c.readarg = &l;
	c.cancel = &j->cancelled;
	c.timeout_ms = 0;
	if (docker_call(&c) == -1)
		job_fail(j, l.cancelled ? E_CANCELLED : E_DOCKER, "%s",
		    l.cancelled && j->err[0] ? j->err : c.err);
	else if (c.status != 200)
		job_fail(j, E_DOCKER, "docker could not load the image: %s",
		    docker_message(&c));
	else {
		job_result_begin(j, &e);
		if (load_answer(j, &c, &e, before) == -1)
			enc_release(&e);
		else {
			enc_ku64(&e, "bytes", l.total);
			job_ok(j, &e);
		}
	}
	msg_release(&l.cur);
	json_decref(before);
	dcall_release(&c);
}

static void
enc_image(struct enc *e, json_t *img, const char *idkey)
{
	json_t		*tags, *t;
	size_t		 i;
	const char	*id = json_string_value(json_object_get(img, idkey));

	enc_map_open(e);
	enc_kstr(e, "id", id != NULL ? id : "");
	enc_karr(e, "tags");
	tags = json_object_get(img, "RepoTags");
	json_array_foreach(tags, i, t)
		if (json_is_string(t) && strcmp(json_string_value(t),
		    "<none>:<none>") != 0)
			enc_str(e, json_string_value(t));
	enc_close(e);
	enc_ku64(e, "size", (uint64_t)json_integer_value(json_object_get(img,
	    "Size")));
	t = json_object_get(img, "Created");
	if (json_is_integer(t))
		enc_ku64(e, "created", (uint64_t)json_integer_value(t));
	else if (json_is_string(t))
		enc_kstr(e, "created", json_string_value(t));
	if ((t = json_object_get(img, "Architecture")) && json_is_string(t))
		enc_kstr(e, "arch", json_string_value(t));
	enc_close(e);
}

static void
image_list_run(struct job *j)
{
	struct dcall	 c;
	struct enc	 e;
	json_t		*arr, *img;
	size_t		 i;

	dcall_init(&c, "GET", "/images/json");
	c.cancel = &j->cancelled;
	if ((arr = docker_json(&c)) == NULL || !json_is_array(arr)) {
		job_fail(j, E_DOCKER, "%s", c.err);
		json_decref(arr);
		dcall_release(&c);
		return;
	}
	job_result_begin(j, &e);
	enc_karr(&e, "images");
	json_array_foreach(arr, i, img)
		enc_image(&e, img, "Id");
	enc_close(&e);
	job_ok(j, &e);
	json_decref(arr);
	dcall_release(&c);
}

struct image_args {
	char	ref[IMAGE_REF_MAX + 1];
	int	force;
};

static int
image_ref_check(struct job *j)
{
	struct image_args	*a = calloc(1, sizeof *a);
	const char		*why;

	if ((j->priv = a) == NULL)
		return -1;
	if (mv_str(&j->args, "ref", a->ref, sizeof a->ref, MV_REQ) == -1 ||
	    mv_bool(&j->args, "force", &a->force, 0) == -1)
		return -1;
	if ((why = check_image_ref(a->ref)) != NULL) {
		char	esc[128];

		snprintf(j->err, sizeof j->err, "invalid image reference "
		    "'%s': %s", log_escape(esc, sizeof esc, a->ref,
		    strlen(a->ref)), why);
		return -1;
	}
	return 0;
}

static void
image_args_free(struct job *j)
{
	free(j->priv);
}

static void
image_inspect_run(struct job *j)
{
	struct image_args	*a = j->priv;
	struct dcall		 c;
	struct enc		 e;
	json_t			*img;

	dcall_init(&c, "GET", "/images/%s/json", a->ref);
	c.cancel = &j->cancelled;
	if ((img = docker_json(&c)) == NULL) {
		job_fail(j, c.status == 404 ? E_NOT_FOUND : E_DOCKER, "%s",
		    c.err);
		dcall_release(&c);
		return;
	}
	job_result_begin(j, &e);
	enc_str(&e, "image");
	enc_image(&e, img, "Id");
	job_ok(j, &e);
	json_decref(img);
	dcall_release(&c);
}

static void
image_remove_run(struct job *j)
{
	struct image_args	*a = j->priv;
	struct dcall		 c;
	struct enc		 e;
	json_t			*arr, *it;
	size_t			 i;

	dcall_init(&c, "DELETE", "/images/%s?force=%d", a->ref, a->force);
	c.cancel = &j->cancelled;
	if ((arr = docker_json(&c)) == NULL) {
		job_fail(j, c.status == 404 ? E_NOT_FOUND : E_DOCKER, "%s",
		    c.err);
		dcall_release(&c);
		return;
	}
	job_result_begin(j, &e);
	enc_karr(&e, "untagged");
	json_array_foreach(arr, i, it)
		if (json_is_string(json_object_get(it, "Untagged")))
			enc_str(&e, json_string_value(json_object_get(it,
			    "Untagged")));
	enc_close(&e);
	enc_karr(&e, "deleted");
	json_array_foreach(arr, i, it)
		if (json_is_string(json_object_get(it, "Deleted")))
			enc_str(&e, json_string_value(json_object_get(it,
			    "Deleted")));
	enc_close(&e);
	job_ok(j, &e);
	json_decref(arr);
	dcall_release(&c);
}

/*
 * image.pull: POST /images/create?fromImage=REPO&tag=TAG|DIGEST with the
 * credentials in X-Registry-Auth, Docker's JSON progress lines summed up
 * into throttled progress EVENTs.
 */

#define PULL_LAYERS_MAX		256
#define PULL_LINE_MAX		16384
#define PULL_PROGRESS_MS	500
#define DOCKER_HUB_SERVER	"https://index.docker.io/v1/"

struct layer {
	char		 id[72];
	uint64_t	 cur;		/* bytes downloaded */
	uint64_t	 total;
	int		 done;		/* pulled or already present */
	int		 existed;	/* already present */
};

struct pull {
	struct job	*job;
	const char	*ref;
	const char	*secret;	/* never repeated in a message */
	char		 line[PULL_LINE_MAX];
	size_t		 len;
	int		 overflow;	/* dropping the rest of a long line */
	struct layer	 layers[PULL_LAYERS_MAX];
	size_t		 nlayers;
	char		 error[MSG_ERRLEN];	/* Docker's first complaint */
	char		 digest[80];
	int		 uptodate;
	uint64_t	 last_ms;
	uint64_t	 reported;	/* done * 2^32 + layers, at last event */
	uint64_t	 reported_bytes;
};

static int
is_hub(const char *host)
{
	return host[0] == '\0' || strcasecmp(host, "docker.io") == 0 ||
	    strcasecmp(host, "index.docker.io") == 0 ||
	    strcasecmp(host, "registry-1.docker.io") == 0;
}

/*
 * Split a checked reference: repo (with its registry), the tag or digest
 * ("latest" when it names neither, or Docker pulls every tag) and the
 * registry host ("" for Docker Hub).
 */
static void
ref_split(const char *ref, char *repo, char *tag, size_t tagsz,
    char *host, int *digest)
{
	const char	*at = strchr(ref, '@'), *slash, *colon;
	size_t		 n = at != NULL ? (size_t)(at - ref) : strlen(ref);

	slash = memrchr(ref, '/', n);
	colon = memchr(slash != NULL ? slash : ref, ':',
	    n - (size_t)((slash != NULL ? slash : ref) - ref));
	*digest = at != NULL;
	if (at != NULL)
		snprintf(tag, tagsz, "%s", at + 1);
	else
		snprintf(tag, tagsz, "%s", colon != NULL ? colon + 1 : "latest");
	if (colon != NULL)
		n = (size_t)(colon - ref);
	memcpy(repo, ref, n);
	repo[n] = '\0';
	host[0] = '\0';
	if ((slash = strchr(repo, '/')) != NULL) {
		size_t fl = (size_t)(slash - repo);

		if (memchr(repo, '.', fl) != NULL ||
		    memchr(repo, ':', fl) != NULL ||
		    (fl == 9 && strncmp(repo, "localhost", 9) == 0)) {
			memcpy(host, repo, fl);
			host[fl] = '\0';
		}
	}
}

/* host[:port]: DNS labels of [A-Za-z0-9-], a port of 1-65535. */
static const char *
check_server(const char *s)
{
	size_t		 lab = 0, i;
	const char	*colon = strchr(s, ':');
	size_t		 hn = colon != NULL ? (size_t)(colon - s) : strlen(s);

	if (hn == 0)
		return "empty host";
	for (i = 0; i < hn; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '.') {
			if (lab == 0 || s[i - 1] == '-')
				return "empty label or '-' at the end of one";
			lab = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-') {
			if (c == '-' && lab == 0)
				return "label starting with '-'";
			if (++lab > 63)
				return "label longer than 63 characters";
		} else
			return "expected host[:port] (no scheme, no path)";
	}
	if (lab == 0 || s[hn - 1] == '-')
		return "empty label or '-' at the end of one";
	if (colon != NULL) {
		unsigned long	port = 0;

		if (colon[1] == '\0' || strlen(colon + 1) > 5)
			return "bad port";
		for (i = 1; colon[i] != '\0'; i++) {
			if (colon[i] < '0' || colon[i] > '9')
				return "bad port";
			port = port * 10 + (unsigned long)(colon[i] - '0');
		}
		if (port == 0 || port > 65535)
			return "port out of range";
	}
	return NULL;
}

static int
utf8_ok(const unsigned char *s)
{
	while (*s != '\0') {
		unsigned char	c = *s;
		int		n, i;
		unsigned long	cp;

		if (c < 0x80) {
			s++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			n = 1, cp = c & 0x1f;
		else if (c >= 0xe0 && c <= 0xef)
			n = 2, cp = c & 0x0f;
		else if (c >= 0xf0 && c <= 0xf4)
			n = 3, cp = c & 0x07;
		else
			return 0;
		for (i = 1; i <= n; i++) {
			if ((s[i] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i] & 0x3f);
		}
		if ((n == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
		    (n == 3 && (cp < 0x10000 || cp > 0x10ffff)))
			return 0;
		s += n + 1;
	}
	return 1;
}

/* Zero the password's bytes inside the request itself: m[.key].auth. */
static void
wipe_request_password(const struct mv *m, const char *key)
{
	struct mv	 v = *m, sub;
	char		 scratch[MSG_ERRLEN];
	const void	*p;
	size_t		 len;

	if (v.obj == NULL)
		return;
	v.err = scratch;
	if (key != NULL) {
		if (mv_map(&v, key, &sub, 0) != 1)
			return;
		v = sub;
	}
	if (mv_map(&v, "auth", &sub, 0) != 1)
		return;
	if (mv_bin(&sub, "password", &p, &len, FRAME_MAX, 0) == 1 && len > 0)
		explicit_bzero((void *)(uintptr_t)p, len);
}

void
pull_args_wipe(struct pull_args *a, const struct mv *args, const char *key)
{
	if (a != NULL)
		explicit_bzero(a->password, sizeof a->password);
	if (args != NULL)
		wipe_request_password(args, key);
}

int
pull_args_check(struct job *j, struct mv *m, const char *ref,
    struct pull_args *a)
{
	struct mv	 auth;
	char		 repo[IMAGE_REF_MAX + 1], tag[IMAGE_REF_MAX + 1];
	char		 host[IMAGE_REF_MAX + 1], e[128];
	const char	*why;
	int		 digest, r;

	memset(a, 0, sizeof *a);
	if ((r = mv_map(m, "auth", &auth, 0)) == -1)
		return -1;
	if (strncmp(ref, "sha256:", 7) == 0) {
		wipe_request_password(m, NULL);
		snprintf(j->err, sizeof j->err, "cannot pull an image id "
		    "('%s'): name a repository", log_escape(e, sizeof e, ref,
		    strlen(ref)));
		return -1;
	}
	if (r == 0)
		return 0;
	a->auth = 1;
	r = mv_str(&auth, "password", a->password, sizeof a->password,
	    MV_REQ);
	wipe_request_password(m, NULL);
	if (r == -1 ||
	    mv_str(&auth, "username", a->username, sizeof a->username,
	    MV_REQ) == -1 ||
	    mv_str(&auth, "server", a->server, sizeof a->server, 0) == -1)
		return -1;
	if (a->username[0] == '\0' || a->password[0] == '\0') {
		snprintf(j->err, sizeof j->err, "%s.%s: empty", auth.path,
		    a->username[0] == '\0' ? "username" : "password");
		return -1;
	}
	if (strchr(a->username, ':') != NULL) {
		snprintf(j->err, sizeof j->err, "%s.username: contains ':', "
		    "which basic auth cannot carry", auth.path);
		return -1;
	}
	if (!utf8_ok((const unsigned char *)a->username) ||
	    !utf8_ok((const unsigned char *)a->password)) {
		snprintf(j->err, sizeof j->err, "%s.%s: not valid UTF-8",
		    auth.path, utf8_ok((const unsigned char *)a->username) ?
		    "password" : "username");
		return -1;
	}
	ref_split(ref, repo, tag, sizeof tag, host, &digest);
	if (a->server[0] != '\0') {
		if ((why = check_server(a->server)) != NULL) {
			snprintf(j->err, sizeof j->err, "invalid %s.server "
			    "'%s': %s", auth.path, log_escape(e, sizeof e,
			    a->server, strlen(a->server)), why);
			return -1;
		}
		/* Docker sends the credentials to the ref's registry. */
		if (is_hub(host) ? !is_hub(a->server) :
		    strcasecmp(host, a->server) != 0) {
			snprintf(j->err, sizeof j->err, "%s.server '%s' is not "
			    "the registry of '%s' (%s)", auth.path,
			    log_escape(e, sizeof e, a->server,
			    strlen(a->server)), ref, is_hub(host) ?
			    "docker.io" : host);
			return -1;
		}
	} else
		snprintf(a->server, sizeof a->server, "%s", is_hub(host) ?
		    DOCKER_HUB_SERVER : host);
	return 0;
}

/*
 * X-Registry-Auth: the JSON {"username","password","serveraddress"} in
 * base64url WITH padding (RFC 4648 §5, Go's base64.URLEncoding): Docker
 * 20.10 decodes it with a padded stream decoder and, given no padding,
 * silently pulls without credentials. Every copy is wiped; caller wipes
 * and frees the result.
 */
static char *
auth_header(const struct pull_args *a)
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789-_";
	static const char name[] = "X-Registry-Auth: ";
	json_t		*o, *pw;
	char		*js = NULL, *h, *q;
	size_t		 cap, n, i, hsz;

	cap = 6 * (strlen(a->username) + strlen(a->password) +
	    strlen(a->server)) + 64;
	if ((o = json_object()) == NULL)
		return NULL;
	if ((pw = json_string(a->password)) == NULL ||
	    json_object_set(o, "password", pw) ||
	    json_object_set_new(o, "username", json_string(a->username)) ||
	    json_object_set_new(o, "serveraddress", json_string(a->server)))
		n = 0;
	else {
		js = xmalloc(cap);
		n = json_dumpb(o, js, cap, JSON_COMPACT);  /* no heap copy */
	}
	if (pw != NULL) {
		explicit_bzero((void *)(uintptr_t)json_string_value(pw),
		    json_string_length(pw));
		json_decref(pw);
	}
	json_decref(o);
	if (js == NULL)
		return NULL;
	if (n == 0 || n > cap) {
		explicit_bzero(js, cap);
		free(js);
		return NULL;
	}
	hsz = sizeof name + 4 * ((n + 2) / 3);
	h = xmalloc(hsz);
	memcpy(h, name, sizeof name - 1);
	q = h + sizeof name - 1;
	for (i = 0; i + 2 < n; i += 3) {
		unsigned v = (unsigned char)js[i] << 16 |
		    (unsigned char)js[i + 1] << 8 | (unsigned char)js[i + 2];

		*q++ = b64[v >> 18 & 63];
		*q++ = b64[v >> 12 & 63];
		*q++ = b64[v >> 6 & 63];
		*q++ = b64[v & 63];
	}
	if (i < n) {
		unsigned v = (unsigned char)js[i] << 16 |
		    (i + 1 < n ? (unsigned char)js[i + 1] << 8 : 0);

		*q++ = b64[v >> 18 & 63];
		*q++ = b64[v >> 12 & 63];
		*q++ = i + 1 < n ? b64[v >> 6 & 63] : '=';
		*q++ = '=';
	}
	*q = '\0';
	explicit_bzero(js, cap);
	free(js);
	return h;
}

/* Copy Docker's text, with any occurrence of the secret masked. */
static void
pull_copy(const struct pull *p, char *dst, size_t dstsz, const char *src)
{
	size_t		 sl = p->secret != NULL ? strlen(p->secret) : 0, o = 0;
	const char	*s = src;

	while (*s != '\0' && o + 1 < dstsz) {
		if (sl > 0 && strncmp(s, p->secret, sl) == 0) {
			size_t k = strlen("***") < dstsz - 1 - o ?
			    strlen("***") : dstsz - 1 - o;

			memcpy(dst + o, "***", k);
			o += k;
			s += sl;
			continue;
		}
		dst[o++] = *s++;
	}
	dst[o] = '\0';
}

static struct layer *
pull_layer(struct pull *p, const char *id)
{
	size_t	i;

	for (i = 0; i < p->nlayers; i++)
		if (strcmp(p->layers[i].id, id) == 0)
			return &p->layers[i];
	if (p->nlayers == PULL_LAYERS_MAX || strlen(id) >= sizeof
	    p->layers[0].id)
		return NULL;
	snprintf(p->layers[p->nlayers].id, sizeof p->layers[0].id, "%s", id);
	return &p->layers[p->nlayers++];
}

static void
pull_totals(const struct pull *p, uint64_t *done, uint64_t *existed,
    uint64_t *bytes)
{
	size_t	i;

	*done = *existed = *bytes = 0;
	for (i = 0; i < p->nlayers; i++) {
		*done += p->layers[i].done != 0;
		*existed += p->layers[i].existed != 0;
		*bytes += p->layers[i].cur;
	}
}

/* One JSON line of Docker's answer. */
static void
pull_line(struct pull *p, const char *s, size_t n)
{
	json_t		*o, *d;
	const char	*err, *status, *id;
	struct layer	*l;

	if (n == 0 || (o = json_loadb(s, n, 0, NULL)) == NULL)
		return;
	/* "error" in the 200 stream; "message" in a non-2xx answer. */
	err = json_string_value(json_object_get(o, "error"));
	if (err == NULL)
		err = json_string_value(json_object_get(o, "message"));
	if (err != NULL && p->error[0] == '\0')
		pull_copy(p, p->error, sizeof p->error, err[0] != '\0' ? err :
		    "unknown error");
	status = json_string_value(json_object_get(o, "status"));
	id = json_string_value(json_object_get(o, "id"));
	if (status == NULL)
		goto out;
	if (strncmp(status, "Digest: ", 8) == 0) {
		const char *dg = status + 8;

		if (strlen(dg) < sizeof p->digest &&
		    strspn(dg, "abcdefghijklmnopqrstuvwxyz0123456789:") ==
		    strlen(dg))
			snprintf(p->digest, sizeof p->digest, "%s", dg);
	} else if (strncmp(status, "Status: Image is up to date", 27) == 0)
		p->uptodate = 1;
	if (id == NULL || strncmp(status, "Pulling from ", 13) == 0 ||
	    (l = pull_layer(p, id)) == NULL)
		goto out;
	if (strcmp(status, "Downloading") == 0) {
		d = json_object_get(o, "progressDetail");
		if (json_integer_value(json_object_get(d, "current")) > 0)
			l->cur = (uint64_t)json_integer_value(
			    json_object_get(d, "current"));
		if (json_integer_value(json_object_get(d, "total")) > 0)
			l->total = (uint64_t)json_integer_value(
			    json_object_get(d, "total"));
	} else if (strcmp(status, "Download complete") == 0) {
		if (l->total > l->cur)
			l->cur = l->total;
	} else if (strcmp(status, "Pull complete") == 0)
		l->done = 1;
	else if (strcmp(status, "Already exists") == 0)
		l->done = l->existed = 1;
out:
	json_decref(o);
}

/* The throttled summary: only when something moved. */
static void
pull_report(struct pull *p, uint64_t now)
{
	uint64_t	done, existed, bytes, key;

	pull_totals(p, &done, &existed, &bytes);
	key = done << 32 | p->nlayers;
	if (p->nlayers == 0 || (key == p->reported &&
	    bytes == p->reported_bytes))
		return;
	job_progress(p->job, "pull", "pulling %s: %llu of %zu layers, "
	    "%.1f MiB", p->ref, (unsigned long long)done, p->nlayers,
	    (double)bytes / (1 << 20));
	p->reported = key;
	p->reported_bytes = bytes;
	p->last_ms = now;
}

static size_t
pull_write(char *data, size_t size, size_t n, void *arg)
{
	struct pull	*p = arg;
	size_t		 len = size * n, i;
	uint64_t	 now;

	for (i = 0; i < len; i++) {
		if (data[i] == '\n') {
			if (!p->overflow)
				pull_line(p, p->line, p->len);
			p->len = 0;
			p->overflow = 0;
		} else if (p->len == sizeof p->line)
			p->overflow = 1;
		else
			p->line[p->len++] = data[i];
	}
	if ((now = clock_ms()) - p->last_ms >= PULL_PROGRESS_MS)
		pull_report(p, now);
	return len;
}

int
image_pull(struct job *j, const char *ref, struct pull_args *a,
    struct pull_result *res, const char **code, char *why)
{
	struct pull	*p = xcalloc(1, sizeof *p);
	struct dcall	 c;
	char		 repo[IMAGE_REF_MAX + 1], tag[IMAGE_REF_MAX + 1];
	char		 host[IMAGE_REF_MAX + 1], *er = NULL, *et = NULL;
	char		*hdr = NULL, was[80] = "";
	json_t		*img;
	uint64_t	 done, existed, t0 = clock_ms();
	int		 digest, r = -1;

	memset(res, 0, sizeof *res);
	*code = E_DOCKER;
	ref_split(ref, repo, tag, sizeof tag, host, &digest);
	snprintf(res->ref, sizeof res->ref, "%s%c%s", repo, digest ? '@' :
	    ':', tag);
	p->job = j;
	p->ref = res->ref;
	p->secret = a->auth ? a->password : NULL;
	if (a->auth && (hdr = auth_header(a)) == NULL) {
		snprintf(why, MSG_ERRLEN * 2, "cannot encode the registry "
		    "credentials");
		*code = E_INTERNAL;
		goto out;
	}
	if ((er = docker_escape(repo)) == NULL ||
	    (et = docker_escape(tag)) == NULL) {
		snprintf(why, MSG_ERRLEN * 2, "out of memory");
		*code = E_INTERNAL;
		goto out;
	}
	/* What the ref named before: an image already here is not ours. */
	dcall_init(&c, "GET", "/images/%s/json", res->ref);
	c.cancel = &j->cancelled;
	if ((img = docker_json(&c)) != NULL)
		snprintf(was, sizeof was, "%s", json_string_value(
		    json_object_get(img, "Id")) != NULL ? json_string_value(
		    json_object_get(img, "Id")) : "");
	json_decref(img);
	dcall_release(&c);
	job_progress(j, "pull", "pulling %s from %s%s", res->ref,
	    is_hub(host) ? "Docker Hub" : host, a->auth ?
	    " with credentials" : "");
	p->last_ms = clock_ms();
	dcall_init(&c, "POST", "/images/create?fromImage=%s&tag=%s", er, et);
	c.header = hdr;
	c.writefn = pull_write;
	c.writearg = p;
	c.cancel = &j->cancelled;
	c.timeout_ms = 0;		/* as long as the registry sends */
	if (docker_call(&c) == -1) {
		if (j->cancelled)
			*code = E_CANCELLED;
		snprintf(why, MSG_ERRLEN * 2, "%s", c.err);
		dcall_release(&c);
		goto out;
	}
	if (p->len > 0 && !p->overflow)
		pull_line(p, p->line, p->len);
	if (c.status != 200 || p->error[0] != '\0') {
		if (p->error[0] == '\0')
			snprintf(p->error, sizeof p->error, "HTTP %ld",
			    c.status);
		snprintf(why, MSG_ERRLEN * 2, "docker could not pull '%s': %s",
		    res->ref, p->error);
		dcall_release(&c);
		goto out;
	}
	dcall_release(&c);

	dcall_init(&c, "GET", "/images/%s/json", res->ref);
	c.cancel = &j->cancelled;
	if ((img = docker_json(&c)) == NULL) {
		snprintf(why, MSG_ERRLEN * 2, "pulled '%s' but cannot inspect "
		    "it: %s", res->ref, c.err);
		dcall_release(&c);
		goto out;
	}
	snprintf(res->id, sizeof res->id, "%s",
	    json_string_value(json_object_get(img, "Id")) != NULL ?
	    json_string_value(json_object_get(img, "Id")) : "");
	json_decref(img);
	dcall_release(&c);
	if (strcmp(was, res->id) != 0)
		image_brought(res->id, res->ref);
	snprintf(res->digest, sizeof res->digest, "%s", p->digest);
	pull_totals(p, &done, &existed, &res->bytes);
	res->layers = p->nlayers;
	if (p->uptodate)
		job_progress(j, "pull", "%s is up to date", res->ref);
	else
		job_progress(j, "pull", "pulled %s: %zu layers (%llu already "
		    "here), %.1f MiB in %llu ms", res->ref, p->nlayers,
		    (unsigned long long)existed, (double)res->bytes /
		    (1 << 20), (unsigned long long)(clock_ms() - t0));
	r = 0;
out:
	if (hdr != NULL) {
		explicit_bzero(hdr, strlen(hdr));
		free(hdr);
	}
	pull_args_wipe(a, NULL, NULL);
	free(er);
	free(et);
	explicit_bzero(p, sizeof *p);
	free(p);
	return r;
}

struct image_pull_args {
	char			 ref[IMAGE_REF_MAX + 1];
	struct pull_args	 pull;
};

static int
image_pull_check(struct job *j)
{
	struct image_pull_args	*a = xcalloc(1, sizeof *a);
	const char		*why;
	char			 e[128];

	j->priv = a;
	if (mv_str(&j->args, "ref", a->ref, sizeof a->ref, MV_REQ) == -1)
		return -1;
	if ((why = check_image_ref(a->ref)) != NULL) {
		snprintf(j->err, sizeof j->err, "invalid image reference "
		    "'%s': %s", log_escape(e, sizeof e, a->ref,
		    strlen(a->ref)), why);
		return -1;
	}
	return pull_args_check(j, &j->args, a->ref, &a->pull);
}

/* Also after a refused check: the request still holds the password. */
static void
image_pull_free(struct job *j)
{
	struct image_pull_args	*a = j->priv;

	pull_args_wipe(a != NULL ? &a->pull : NULL, &j->args, NULL);
	free(a);
	j->priv = NULL;
}

static void
image_pull_run(struct job *j)
{
	struct image_pull_args	*a = j->priv;
	struct pull_result	 res;
	struct enc		 e;
	const char		*code;
	char			 why[MSG_ERRLEN * 2];
	uint64_t		 t0 = clock_ms();

	if (image_pull(j, a->ref, &a->pull, &res, &code, why) == -1) {
		job_fail(j, code, "%s", why);
		return;
	}
	job_result_begin(j, &e);
	enc_kstr(&e, "ref", res.ref);
	enc_kstr(&e, "id", res.id);
	if (res.digest[0] != '\0')
		enc_kstr(&e, "digest", res.digest);
	enc_ku64(&e, "layers", res.layers);
	enc_ku64(&e, "bytes", res.bytes);
	enc_ku64(&e, "elapsed_ms", clock_ms() - t0);
	job_ok(j, &e);
}

const struct op op_image_load = { "image.load", OP_DATA, NULL,
    image_load_run, NULL };
const struct op op_image_list = { "image.list", 0, NULL, image_list_run,
    NULL };
const struct op op_image_inspect = { "image.inspect", 0, image_ref_check,
    image_inspect_run, image_args_free };
const struct op op_image_remove = { "image.remove", 0, image_ref_check,
    image_remove_run, image_args_free };
const struct op op_image_pull = { "image.pull", 0, image_pull_check,
    image_pull_run, image_pull_free };
