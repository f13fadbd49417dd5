/*
 * agent-image.c: the image ops. image.load streams DATA frames straight into
 * POST /images/load (a docker-save tarball, gzip accepted) without holding
 * the image in memory, and turns errors that Docker reports inside its 200
 * stream into a failed result; list, inspect and remove are thin wrappers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "agent/agent.h"
#include "common/log.h"

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

/* Docker's load answer: JSON objects, one a line; any "error" fails it. */
static int
load_answer(struct job *j, struct dcall *c, struct enc *e)
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

			if (p != NULL)
				enc_strn(e, p + 14, strcspn(p + 14, "\n"));
			else if (q != NULL)
				enc_strn(e, q + 17, strcspn(q + 17, "\n"));
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

	memset(&l, 0, sizeof l);
	l.job = j;
	l.next_report = LOAD_PROGRESS_EVERY;
	dcall_init(&c, "POST", "/images/load?quiet=1");
	c.ctype = "application/x-tar";
	c.readfn = load_read;
	c.readarg = &l;
	c.cancel = &j->cancelled;
	c.timeout_ms = 0;
	if (docker_call(&c) == -1) {
		msg_release(&l.cur);
		job_fail(j, l.cancelled ? E_CANCELLED : E_DOCKER, "%s",
		    l.cancelled && j->err[0] ? j->err : c.err);
		dcall_release(&c);
		return;
	}
	msg_release(&l.cur);
	if (c.status != 200) {
		job_fail(j, E_DOCKER, "docker could not load the image: %s",
		    docker_message(&c));
		dcall_release(&c);
		return;
	}
	job_result_begin(j, &e);
	if (load_answer(j, &c, &e) == -1) {
		enc_release(&e);
		dcall_release(&c);
		return;
	}
	enc_ku64(&e, "bytes", l.total);
	job_ok(j, &e);
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

const struct op op_image_load = { "image.load", OP_DATA, NULL,
    image_load_run, NULL };
const struct op op_image_list = { "image.list", 0, NULL, image_list_run,
    NULL };
const struct op op_image_inspect = { "image.inspect", 0, image_ref_check,
    image_inspect_run, image_args_free };
const struct op op_image_remove = { "image.remove", 0, image_ref_check,
    image_remove_run, image_args_free };
