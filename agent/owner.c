/*
 * owner.c: what belongs to whom on this host. The state dir belongs to one
 * controller, whose id the first HELLO records in <state>/controller; every
 * Docker object the agent makes carries tug.site and tug.controller, and
 * every object it looks up, stops or removes must carry them too.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "agent/agent.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/xmalloc.h"

int
owner_check_id(const char *id)
{
	size_t	i;

	for (i = 0; id[i] != '\0'; i++)
		if (!((id[i] >= '0' && id[i] <= '9') ||
		    (id[i] >= 'a' && id[i] <= 'f')))
			return -1;
	return i == CONTROLLER_ID_LEN ? 0 : -1;
}

/* The id recorded in path: 1 and id, 0 none, -1 unreadable or damaged. */
static int
owner_read(const char *path, char *id)
{
	struct buf	b = BUF_INIT;
	size_t		n;

	if (fs_read_file(path, &b, 256) == -1) {
		buf_release(&b);
		return errno == ENOENT ? 0 : -1;
	}
	n = b.len;
	if (n > 0 && b.ptr[n - 1] == '\n')
		n--;
	if (n != CONTROLLER_ID_LEN) {
		buf_release(&b);
		errno = EINVAL;
		return -1;
	}
	memcpy(id, b.ptr, n);
	id[n] = '\0';
	buf_release(&b);
	if (owner_check_id(id) == -1) {
		errno = EINVAL;
		return -1;
	}
	return 1;
}

int
owner_claim(const char *id, const char **code, char *err, size_t errsz)
{
	char	path[PATH_MAX_TUG + 32], lpath[PATH_MAX_TUG + 32];
	char	have[CONTROLLER_ID_LEN + 1], line[CONTROLLER_ID_LEN + 2];
	int	fd, r;

	*code = E_IO;
	snprintf(path, sizeof path, "%s/controller", agent.state_dir);
	snprintf(lpath, sizeof lpath, "%s/controller.lock", agent.state_dir);
	/* Two agents greeted at once must not both record their own. */
	if ((fd = open(lpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) == -1 ||
	    flock(fd, LOCK_EX) == -1) {
		snprintf(err, errsz, "cannot lock %s: %s", lpath,
		    strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	if ((r = owner_read(path, have)) == -1)
		snprintf(err, errsz, "%s is %s: remove it to let a controller "
		    "claim this host again", path, errno == EINVAL ? "damaged "
		    "(expected 32 lowercase hex digits)" : strerror(errno));
	else if (r == 1 && strcmp(have, id) != 0) {
		*code = E_WRONG_CONTROLLER;
		snprintf(err, errsz, "this host is already managed by another "
		    "tug controller: the agent's state dir %s belongs to "
		    "controller %s, not %s (one controller per state dir)",
		    agent.state_dir, have, id);
		r = -1;
	} else if (r == 0) {
		snprintf(line, sizeof line, "%s\n", id);
		if ((r = fs_write_atomic(path, line, strlen(line),
		    0600)) == -1)
			snprintf(err, errsz, "cannot write %s: %s", path,
			    strerror(errno));
		else
			log_info("state dir %s now belongs to controller %s",
			    agent.state_dir, id);
	}
	close(fd);
	if (r == -1)
		return -1;
	snprintf(agent.controller, sizeof agent.controller, "%s", id);
	return 0;
}

static const char *
label(json_t *labels, const char *key)
{
	return json_string_value(json_object_get(labels, key));
}

int
owner_labels_ours(json_t *labels, const char *site)
{
	const char	*s = label(labels, "tug.site");
	const char	*c = label(labels, "tug.controller");

	return s != NULL && c != NULL && strcmp(s, site) == 0 &&
	    strcmp(c, agent.controller) == 0;
}

int
owner_container_ours(json_t *labels, const char *site)
{
	const char	*s = label(labels, "tug.site");
	const char	*c = label(labels, "tug.controller");

	/* Made before tug.controller existed: adopted, so upgrades work. */
	return s != NULL && strcmp(s, site) == 0 &&
	    (c == NULL || strcmp(c, agent.controller) == 0);
}

void
owner_describe(json_t *labels, char *dst, size_t dstsz)
{
	const char	*s = label(labels, "tug.site");
	const char	*c = label(labels, "tug.controller");
	char		 es[64], ec[80];

	if (s == NULL && c == NULL)
		snprintf(dst, dstsz, "it has no tug labels: tug did not make it");
	else if (c == NULL)
		snprintf(dst, dstsz, "it is labelled for site '%s' but no "
		    "controller", log_escape(es, sizeof es, s, strlen(s)));
	else if (strcmp(c, agent.controller) != 0)
		snprintf(dst, dstsz, "it belongs to site '%s' of another tug "
		    "controller (%s)", s != NULL ? log_escape(es, sizeof es, s,
		    strlen(s)) : "?", log_escape(ec, sizeof ec, c, strlen(c)));
	else
		snprintf(dst, dstsz, "it belongs to site '%s'", s != NULL ?
		    log_escape(es, sizeof es, s, strlen(s)) : "?");
}

json_t *
owner_labels(const char *site)
{
	return json_pack("{s:s, s:s}", "tug.site", site, "tug.controller",
	    agent.controller);
}

json_t *
owner_site_containers(struct job *j, const char *site, char *err)
{
	struct dcall	 c;
	json_t		*arr, *out, *it;
	char		 filt[128], *fe;
	size_t		 i;

	/*
	 * Docker ANDs label filters, which would leave out the containers
	 * made before tug.controller: ask by site, then keep ours.
	 */
	snprintf(filt, sizeof filt, "{\"label\":[\"tug.site=%s\"]}", site);
	if ((fe = docker_escape(filt)) == NULL) {
		snprintf(err, MSG_ERRLEN, "out of memory");
		return NULL;
	}
	dcall_init(&c, "GET", "/containers/json?all=1&filters=%s", fe);
	free(fe);
	c.cancel = &j->cancelled;
	if ((arr = docker_json(&c)) == NULL || !json_is_array(arr)) {
		snprintf(err, MSG_ERRLEN, "%s", arr == NULL ? c.err :
		    "docker listed containers in an unknown form");
		json_decref(arr);
		dcall_release(&c);
		return NULL;
	}
	dcall_release(&c);
	out = json_array();
	json_array_foreach(arr, i, it)
		if (owner_container_ours(json_object_get(it, "Labels"), site))
			json_array_append(out, it);
	json_decref(arr);
	return out;
}
