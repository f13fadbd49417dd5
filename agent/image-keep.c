/*
 * image-keep.c: deploy.keep for images. The agent writes down every image
 * it brings to this host (image.load, or a pull) that was not here before,
 * in <state>/images.json; each site.apply names the images its site keeps
 * (its newest deploy.keep releases'). An image the agent brought, that
 * some site has kept since, and that no site keeps any more is removed:
 * by its refs the agent brought, then by id once it has no tag left.
 * Images the agent did not bring are never touched, nor is one still
 * used by a container (Docker refuses without force, and force is never
 * asked). One pushed but never deployed stays until a site keeps it.
 *
 *	{"brought": {"sha256:...": {"refs": ["app:1"], "kept": true}},
 *	 "keep": {"site": ["app:2", "app:1"]}}
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/xmalloc.h"

#define IMAGES_FILE_MAX	(4u << 20)

static void
ik_path(char *dst, size_t dstsz, const char *what)
{
	snprintf(dst, dstsz, "%s/images.%s", agent.state_dir, what);
}

/* The record, or a fresh one when there is none or it is damaged. */
static json_t *
ik_load(void)
{
	struct buf	 b = BUF_INIT;
	char		 path[PATH_MAX_TUG + 32];
	json_t		*root = NULL;

	ik_path(path, sizeof path, "json");
	if (fs_read_file(path, &b, IMAGES_FILE_MAX) == 0) {
		root = json_loadb(b.ptr != NULL ? b.ptr : "", b.len, 0, NULL);
		if (root == NULL || !json_is_object(root)) {
			log_warnx("%s is damaged: starting a new one", path);
			json_decref(root);
			root = NULL;
		}
	} else if (errno != ENOENT)
		log_warn("%s", path);
	buf_release(&b);
	if (root == NULL)
		root = json_object();
	if (!json_is_object(json_object_get(root, "brought")))
		json_object_set_new(root, "brought", json_object());
	if (!json_is_object(json_object_get(root, "keep")))
		json_object_set_new(root, "keep", json_object());
	return root;
}

static void
ik_save(json_t *root)
{
	char	 path[PATH_MAX_TUG + 32];
	char	*text = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);

	ik_path(path, sizeof path, "json");
	if (text == NULL ||
	    fs_write_atomic(path, text, strlen(text), 0600) == -1)
		log_warn("cannot write %s", path);
	free(text);
}

static int
ik_lock(void)
{
	char		path[PATH_MAX_TUG + 32];
	volatile int	never = 0;

	ik_path(path, sizeof path, "lock");
	return fs_lock_wait(path, &never, 20);
}

/* The id ref names here, into id; 0, or -1 when it names nothing. */
static int
ik_resolve(const char *ref, char *id, size_t idsz)
{
	struct dcall	 c;
	json_t		*img;
	const char	*s;
	int		 r = -1;

	dcall_init(&c, "GET", "/images/%s/json", ref);
	if ((img = docker_json(&c)) != NULL &&
	    (s = json_string_value(json_object_get(img, "Id"))) != NULL) {
		snprintf(id, idsz, "%s", s);
		r = 0;
	}
	json_decref(img);
	dcall_release(&c);
	return r;
}

/* An id as Docker gives it: "sha256:" and 64 lowercase hex digits. */
static int
id_ok(const char *id)
{
	size_t	i;

	if (id == NULL || strncmp(id, "sha256:", 7) != 0 || strlen(id) != 71)
		return 0;
	for (i = 7; i < 71; i++)
		if (!((id[i] >= '0' && id[i] <= '9') ||
		    (id[i] >= 'a' && id[i] <= 'f')))
			return 0;
	return 1;
}

static int
arr_has(json_t *arr, const char *s)
{
	json_t	*v;
	size_t	 i;

	json_array_foreach(arr, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
			return 1;
	return 0;
}

void
image_brought(const char *id, const char *ref)
{
	json_t	*root, *rec, *refs;
	int	 lock;

	if (!id_ok(id) || (ref != NULL && ref[0] != '\0' &&
	    check_image_ref(ref) != NULL))
		return;
	if ((lock = ik_lock()) == -1) {
		log_warn("cannot lock the image record");
		return;
	}
	root = ik_load();
	if ((rec = json_object_get(json_object_get(root, "brought"), id)) ==
	    NULL) {
		rec = json_pack("{s:[], s:b}", "refs", "kept", 0);
		json_object_set_new(json_object_get(root, "brought"), id, rec);
	}
	refs = json_object_get(rec, "refs");
	if (!json_is_array(refs)) {
		refs = json_array();
		json_object_set_new(rec, "refs", refs);
	}
	if (ref != NULL && ref[0] != '\0' && !arr_has(refs, ref))
		json_array_append_new(refs, json_string(ref));
	ik_save(root);
	json_decref(root);
	close(lock);
}

/* Every id the refs of keep (all sites but skip, when skip is set) name. */
static void
ik_kept_ids(json_t *keep, const char *only, const char *skip, json_t *ids)
{
	const char	*site;
	json_t		*refs, *v;
	char		 id[80];
	size_t		 i;

	json_object_foreach(keep, site, refs) {
		if ((only != NULL && strcmp(site, only) != 0) ||
		    (skip != NULL && strcmp(site, skip) == 0))
			continue;
		json_array_foreach(refs, i, v)
			if (json_is_string(v) &&
			    check_image_ref(json_string_value(v)) == NULL &&
			    ik_resolve(json_string_value(v), id, sizeof id) == 0)
				json_object_set_new(ids, id, json_true());
	}
}

/*
 * DELETE an image by ref or id, never forced: 1 done, 0 not there, -1 in
 * use or refused (why in err).
 */
static int
ik_delete(const char *what, char *err, size_t errsz)
{
	struct dcall	c;
	int		r;

	dcall_init(&c, "DELETE", "/images/%s", what);
	if (docker_call(&c) == -1) {
		snprintf(err, errsz, "%s", c.err);
		r = -1;
	} else if (c.status == 200)
		r = 1;
	else if (c.status == 404)
		r = 0;
	else {
		snprintf(err, errsz, "%s", docker_message(&c));
		r = -1;
	}
	dcall_release(&c);
	return r;
}

/*
 * Remove the brought image id: each of its refs the agent brought that
 * still names it, then the id if no tag is left. 1 removed, 0 no longer
 * ours (gone already, or still tagged by someone else), -1 refused (err).
 */
static int
ik_remove(const char *id, json_t *rec, char *err, size_t errsz)
{
	json_t		*v, *img;
	struct dcall	 c;
	char		 now[80];
	size_t		 i;
	int		 tagged, r, did = 0;

	json_array_foreach(json_object_get(rec, "refs"), i, v) {
		const char *ref = json_string_value(v);

		/* The record is the agent's own, but is read back: checked. */
		if (ref == NULL || check_image_ref(ref) != NULL ||
		    ik_resolve(ref, now, sizeof now) == -1 ||
		    strcmp(now, id) != 0)
			continue;
		if ((r = ik_delete(ref, err, errsz)) == -1)
			return -1;
		did |= r;
	}
	dcall_init(&c, "GET", "/images/%s/json", id);
	if ((img = docker_json(&c)) == NULL) {
		r = c.status == 404 ? did : -1;
		snprintf(err, errsz, "%s", c.err);
		dcall_release(&c);
		return r;
	}
	tagged = json_array_size(json_object_get(img, "RepoTags")) > 0;
	json_decref(img);
	dcall_release(&c);
	if (tagged)
		return 0;
	return ik_delete(id, err, errsz);
}

size_t
image_keep(struct job *j, const char *site, char **refs, size_t n,
    struct enc *e)
{
	json_t		*root, *brought, *keep, *mine, *others = NULL, *rec;
	const char	*id;
	void		*tmp;
	char		 err[MSG_ERRLEN];
	size_t		 i, removed = 0;
	int		 lock;

	enc_karr(e, "pruned");
	if ((lock = ik_lock()) == -1) {
		log_warn("cannot lock the image record");
		enc_close(e);
		return 0;
	}
	root = ik_load();
	brought = json_object_get(root, "brought");
	keep = json_object_get(root, "keep");
	if (n > 0) {
		json_t *list = json_array();

		for (i = 0; i < n; i++)
			json_array_append_new(list, json_string(refs[i]));
		json_object_set_new(keep, site, list);
	} else
		json_object_del(keep, site);

	/* What this site keeps is kept, and from now on prunable. */
	mine = json_object();
	ik_kept_ids(keep, site, NULL, mine);
	json_object_foreach(brought, id, rec)
		if (json_object_get(mine, id) != NULL)
			json_object_set_new(rec, "kept", json_true());

	json_object_foreach_safe(brought, tmp, id, rec) {
		if (!id_ok(id)) {
			json_object_del(brought, id);	/* not one of ours */
			continue;
		}
		if (!json_is_true(json_object_get(rec, "kept")) ||
		    json_object_get(mine, id) != NULL)
			continue;
		/* Ask the other sites only when something may go. */
		if (others == NULL) {
			others = json_object();
			ik_kept_ids(keep, NULL, site, others);
		}
		if (json_object_get(others, id) != NULL)
			continue;
		switch (ik_remove(id, rec, err, sizeof err)) {
		case 1:
			job_progress(j, "prune", "removed image %.19s (%s): no "
			    "site here keeps it", id, json_string_value(
			    json_array_get(json_object_get(rec, "refs"), 0)) ?
			    json_string_value(json_array_get(json_object_get(
			    rec, "refs"), 0)) : "untagged");
			enc_str(e, id);
			removed++;
			json_object_del(brought, id);
			break;
		case 0:
			json_object_del(brought, id);	/* no longer ours */
			break;
		default:
			job_progress(j, "prune", "image %.19s stays: %s", id,
			    err);
			break;
		}
	}
	enc_close(e);
	ik_save(root);
	json_decref(others);
	json_decref(mine);
	json_decref(root);
	close(lock);
	return removed;
}
