/*
 * volume.c: a site's named volumes are its own. New ones are called
 * tug-<site>_<name> and made by the agent with the site's labels; volumes
 * of sites made before that keep their names, but are mounted or removed
 * only when no container of another owner uses them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "common/log.h"
#include "common/xmalloc.h"

static const char *
esc(char *dst, size_t dstsz, const char *s)
{
	return log_escape(dst, dstsz, s, strlen(s));
}

int
vol_legacy_check(struct job *j, struct vol_list *l, const char *key)
{
	char		 v[VOLUME_NAME_MAX + 2], e[128];
	const char	*why;
	size_t		 n = 0, i;

	memset(l, 0, sizeof *l);
	if (mv_arr(&j->args, key, &n, VOLUMES_MAX, 0) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		if (mv_arr_str(&j->args, key, i, v, sizeof v) != 1)
			return job_bad(j, "args.%s[%zu]: a volume name of at most "
			    "%d characters", key, i, VOLUME_NAME_MAX);
		if ((why = check_volume_name(v)) != NULL)
			return job_bad(j, "invalid volume name '%s' in %s: %s",
			    esc(e, sizeof e, v), key, why);
		snprintf(l->names[l->n++], sizeof l->names[0], "%s", v);
	}
	return 0;
}

int
vol_listed(const struct vol_list *l, const char *name)
{
	size_t	i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->names[i], name) == 0)
			return 1;
	return 0;
}

const char *
vol_check_name(const char *site, const char *name,
    const struct vol_list *legacy, char *why, size_t whysz)
{
	char		 prefix[SITE_NAME_MAX + 8];
	const char	*r;
	size_t		 n;

	if (vol_listed(legacy, name))
		return NULL;
	n = (size_t)snprintf(prefix, sizeof prefix, "tug-%s_", site);
	if (strncmp(name, prefix, n) != 0) {
		snprintf(why, whysz, "a named volume of site '%s' is called "
		    "%sNAME (or is listed in legacy_volumes)", site, prefix);
		return why;
	}
	if ((r = check_volume_name(name + n)) != NULL) {
		snprintf(why, whysz, "the NAME in %sNAME %s", prefix, r);
		return why;
	}
	return NULL;
}

/* GET /volumes/<name>: the volume (caller frees), or NULL: 404 or -1. */
static json_t *
vol_inspect(struct job *j, const char *name, int *missing, char *err)
{
	struct dcall	 c;
	json_t		*r;

	*missing = 0;
	dcall_init(&c, "GET", "/volumes/%s", name);
	c.cancel = j != NULL ? &j->cancelled : NULL;
	if ((r = docker_json(&c)) == NULL) {
		if (c.status == 404)
			*missing = 1;
		else
			snprintf(err, MSG_ERRLEN, "cannot inspect volume '%s': "
			    "%s", name, c.err);
	}
	dcall_release(&c);
	return r;
}

/*
 * A volume made before volumes were the site's own: it must not carry
 * another owner's labels, and every container that uses it (in any
 * state) must be this site's. 1 ours, 0 not on this host, -1 with code
 * and err.
 */
static int
vol_legacy_ours(struct job *j, const char *site, const char *name,
    const char **code, char *err)
{
	struct dcall	 c;
	json_t		*v, *arr, *it, *labels;
	char		 filt[VOLUME_NAME_MAX + 32], *fe, who[256], cn[80];
	const char	*s;
	size_t		 i;
	int		 missing, r = 1;

	*code = E_DOCKER;
	if ((v = vol_inspect(j, name, &missing, err)) == NULL)
		return missing ? 0 : -1;
	labels = json_object_get(v, "Labels");
	if ((json_object_get(labels, "tug.site") != NULL ||
	    json_object_get(labels, "tug.controller") != NULL) &&
	    !owner_labels_ours(labels, site)) {
		owner_describe(labels, who, sizeof who);
		snprintf(err, MSG_ERRLEN, "legacy volume '%s' is not site "
		    "'%s''s: %s", name, site, who);
		*code = E_NOT_OWNER;
		json_decref(v);
		return -1;
	}
	json_decref(v);
	snprintf(filt, sizeof filt, "{\"volume\":[\"%s\"]}", name);
	if ((fe = docker_escape(filt)) == NULL)
		return snprintf(err, MSG_ERRLEN, "out of memory"), -1;
	dcall_init(&c, "GET", "/containers/json?all=1&filters=%s", fe);
	free(fe);
	c.cancel = j != NULL ? &j->cancelled : NULL;
	if ((arr = docker_json(&c)) == NULL || !json_is_array(arr)) {
		snprintf(err, MSG_ERRLEN, "cannot list the containers using "
		    "volume '%s': %s", name, arr == NULL ? c.err : "not a list");
		json_decref(arr);
		dcall_release(&c);
		return -1;
	}
	dcall_release(&c);
	json_array_foreach(arr, i, it) {
		labels = json_object_get(it, "Labels");
		if (owner_container_ours(labels, site))
			continue;
		s = json_string_value(json_array_get(json_object_get(it,
		    "Names"), 0));
		snprintf(cn, sizeof cn, "%s", s != NULL ? (*s == '/' ? s + 1 :
		    s) : json_string_value(json_object_get(it, "Id")) ?: "?");
		owner_describe(labels, who, sizeof who);
		snprintf(err, MSG_ERRLEN, "legacy volume '%s' is used by "
		    "container '%s', which is not site '%s''s: %s", name,
		    esc(filt, sizeof filt, cn), site, who);
		*code = E_NOT_OWNER;
		r = -1;
		break;
	}
	json_decref(arr);
	return r;
}

/* POST /volumes/create with the site's labels: the volume, or NULL. */
static json_t *
vol_create(struct job *j, const char *site, const char *name, char *err)
{
	struct dcall	 c;
	json_t		*body, *r;
	char		*text;

	body = json_pack("{s:s, s:s, s:o}", "Name", name, "Driver", "local",
	    "Labels", owner_labels(site));
	if (body == NULL || (text = json_dumps(body, JSON_COMPACT)) == NULL) {
		json_decref(body);
		snprintf(err, MSG_ERRLEN, "out of memory");
		return NULL;
	}
	json_decref(body);
	dcall_init(&c, "POST", "/volumes/create");
	c.body = text;
	c.bodylen = strlen(text);
	c.cancel = &j->cancelled;
	if ((r = docker_json(&c)) == NULL)
		snprintf(err, MSG_ERRLEN, "cannot create volume '%s': %s", name,
		    c.err);
	free(text);
	dcall_release(&c);
	return r;
}

int
vol_ensure(struct job *j, const char *site, const char *name,
    const struct vol_list *legacy)
{
	json_t		*v;
	char		 err[MSG_ERRLEN], who[256];
	const char	*code;
	int		 missing, r;

	if (vol_listed(legacy, name)) {
		if ((r = vol_legacy_ours(j, site, name, &code, err)) == -1)
			return job_failed(j, code, "%s", err);
		if (r == 0)
			return job_failed(j, E_NOT_FOUND, "legacy volume '%s' "
			    "is not on this host: only volumes that exist "
			    "keep their old names", name);
		return 0;
	}
	if ((v = vol_inspect(j, name, &missing, err)) == NULL) {
		if (!missing)
			return job_failed(j, E_DOCKER, "%s", err);
		/* Docker answers with the volume that is there, if any. */
		if ((v = vol_create(j, site, name, err)) == NULL)
			return job_failed(j, E_DOCKER, "%s", err);
		if (owner_labels_ours(json_object_get(v, "Labels"), site))
			job_progress(j, "volume", "created volume %s", name);
	}
	if (!owner_labels_ours(json_object_get(v, "Labels"), site)) {
		owner_describe(json_object_get(v, "Labels"), who, sizeof who);
		json_decref(v);
		return job_failed(j, E_NOT_OWNER, "volume '%s' exists but is "
		    "not site '%s''s: %s", name, site, who);
	}
	json_decref(v);
	return 0;
}

/* DELETE /volumes/<name>: 1 gone now, 0 was not there, -1 with err. */
static int
vol_delete(const char *name, char *err)
{
	struct dcall	c;
	int		r = 1;

	dcall_init(&c, "DELETE", "/volumes/%s", name);
	if (docker_call(&c) == -1) {
		snprintf(err, MSG_ERRLEN, "%s", c.err);
		r = -1;
	} else if (c.status == 404)
		r = 0;
	else if (c.status != 204) {
		snprintf(err, MSG_ERRLEN, "cannot remove volume '%s': %s",
		    name, docker_message(&c));
		r = -1;
	}
	dcall_release(&c);
	return r;
}

int
vol_remove_site(const char *site, const struct vol_list *legacy,
    struct enc *e, const char **code, char *err)
{
	struct dcall	 c;
	json_t		*resp, *vols, *it;
	char		 filt[256], *fe;
	const char	*name;
	size_t		 i;
	int		 r = 0;

	*code = E_DOCKER;
	snprintf(filt, sizeof filt, "{\"label\":[\"tug.site=%s\","
	    "\"tug.controller=%s\"]}", site, agent.controller);
	if ((fe = docker_escape(filt)) == NULL)
		return snprintf(err, MSG_ERRLEN, "out of memory"), -1;
	dcall_init(&c, "GET", "/volumes?filters=%s", fe);
	free(fe);
	if ((resp = docker_json(&c)) == NULL) {
		snprintf(err, MSG_ERRLEN, "cannot list the volumes of '%s': %s",
		    site, c.err);
		dcall_release(&c);
		return -1;
	}
	dcall_release(&c);
	vols = json_object_get(resp, "Volumes");
	json_array_foreach(vols, i, it) {
		name = json_string_value(json_object_get(it, "Name"));
		/* Filtered by Docker, checked again here. */
		if (name == NULL || !owner_labels_ours(json_object_get(it,
		    "Labels"), site))
			continue;
		if ((r = vol_delete(name, err)) == -1)
			break;
		if (r == 1)
			enc_str(e, name);
		r = 0;
	}
	json_decref(resp);
	for (i = 0; r == 0 && i < legacy->n; i++) {
		/* As the rest of site.remove, whatever a cancel says. */
		if ((r = vol_legacy_ours(NULL, site, legacy->names[i], code,
		    err)) == -1)
			break;
		if (r == 1 && (r = vol_delete(legacy->names[i], err)) == 1)
			enc_str(e, legacy->names[i]);
		if (r != -1)
			r = 0;
	}
	return r;
}
