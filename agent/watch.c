/*
 * watch.c: drift. The watch op runs until it is cancelled, and once a
 * second looks at what serves each container site of this host: the
 * container of the journal's serving release (tug.site, tug.release, ours)
 * and, for a site behind the proxy, the upstream port the proxy was
 * switched to. Each site's state goes to the controller as an EVENT
 * {kind: "drift", site, release, state, why} when it changes, and all of
 * them once at the start:
 *
 *	ok		running (healthy, where Docker checks health), and the
 *			proxy's upstream accepts connections
 *	unhealthy	running, Docker's health check says unhealthy
 *	down		exited, dead, restarting or created: not serving
 *	vanished	no container of the serving release at all
 *	dead-upstream	running, but nothing accepts on the proxy's upstream
 *	stopped		tug stop put it there
 *
 * A site whose journal lock is held (an apply, stop, start or remove in
 * progress) is left alone until the op is over, so tug's own steps never
 * count as drift. One Docker call a second, listing only this
 * controller's containers: an events stream would also need a look at
 * the journal and the proxy, so a poll is simpler and costs as little.
 */
#include <sys/file.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "common/log.h"
#include "common/xmalloc.h"

#define WATCH_EVERY_MS		1000
#define WATCH_SITES_MAX		1024

struct seen {
	char		site[SITE_NAME_MAX + 1];
	uint64_t	release;
	char		state[16];
	char		why[160];
	int		alive;		/* still has a journal this round */
};

static void
drift_send(struct job *j, const struct seen *s)
{
	struct enc	e;

	enc_begin(&e, MSG_EVENT, j->id);
	enc_kstr(&e, "kind", "drift");
	enc_kstr(&e, "site", s->site);
	enc_ku64(&e, "release", s->release);
	enc_kstr(&e, "state", s->state);
	enc_kstr(&e, "why", s->why);
	agent_send(&e, 0);
}

/* Does anything accept on 127.0.0.1:port? */
static int
port_open(uint64_t port)
{
	struct sockaddr_in	sin;
	int			fd, r;

	if (port == 0 || port > 65535)
		return 1;
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return 1;		/* cannot tell: say nothing */
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	r = connect(fd, (struct sockaddr *)&sin, sizeof sin);
	close(fd);
	return r == 0 || errno != ECONNREFUSED;
}

/* The site's state now, from its journal and the containers listed. */
static void
judge(const struct journal *jr, json_t *list, struct seen *now)
{
	json_t		*it, *labels;
	const char	*state = NULL, *status = "";
	char		 rel[24];
	size_t		 i;

	now->release = jr->current;
	now->why[0] = '\0';
	if (jr->stopped) {
		snprintf(now->state, sizeof now->state, "stopped");
		return;
	}
	snprintf(rel, sizeof rel, "%llu", (unsigned long long)jr->current);
	json_array_foreach(list, i, it) {
		const char *s, *r;

		labels = json_object_get(it, "Labels");
		s = json_string_value(json_object_get(labels, "tug.site"));
		r = json_string_value(json_object_get(labels, "tug.release"));
		if (s == NULL || r == NULL || strcmp(s, jr->site) != 0 ||
		    strcmp(r, rel) != 0 ||
		    !owner_container_ours(labels, jr->site))
			continue;
		state = json_string_value(json_object_get(it, "State"));
		status = json_string_value(json_object_get(it, "Status"));
		if (state == NULL)
			state = "";
		if (status == NULL)
			status = "";
		break;
	}
	if (state == NULL) {
		snprintf(now->state, sizeof now->state, "vanished");
		snprintf(now->why, sizeof now->why, "no container of release "
		    "%llu", (unsigned long long)jr->current);
	} else if (strcmp(state, "running") != 0) {
		snprintf(now->state, sizeof now->state, "down");
		snprintf(now->why, sizeof now->why, "%s: %s", state, status);
	} else if (strstr(status, "(unhealthy)") != NULL) {
		snprintf(now->state, sizeof now->state, "unhealthy");
		snprintf(now->why, sizeof now->why, "%s", status);
	} else if (jr->proxy.ndomains > 0 && !port_open(jr->proxy.port)) {
		snprintf(now->state, sizeof now->state, "dead-upstream");
		snprintf(now->why, sizeof now->why, "the proxy sends %s to "
		    "127.0.0.1:%llu, where nothing accepts connections",
		    jr->proxy.domains[0], (unsigned long long)jr->proxy.port);
	} else
		snprintf(now->state, sizeof now->state, "ok");
}

/* The site's journal, read only while no op of the site holds its lock. */
static int
journal_idle(const char *site, struct journal *jr)
{
	char	path[PATH_MAX_TUG + 64];
	int	fd, r;

	snprintf(path, sizeof path, "%s/journal/%s.lock", agent.state_dir,
	    site);
	if ((fd = open(path, O_RDWR | O_CLOEXEC)) == -1)
		return errno == ENOENT ? journal_read(site, jr) : -1;
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		close(fd);
		return -1;		/* busy: next round */
	}
	r = journal_read(site, jr);
	close(fd);
	return r;
}

static json_t *
our_containers(struct job *j)
{
	struct dcall	 c;
	json_t		*arr;
	char		 filt[128], *fe;

	snprintf(filt, sizeof filt, "{\"label\":[\"tug.controller=%s\"]}",
	    agent.controller);
	if ((fe = docker_escape(filt)) == NULL)
		return NULL;
	dcall_init(&c, "GET", "/containers/json?all=1&filters=%s", fe);
	free(fe);
	c.cancel = &j->cancelled;
	if ((arr = docker_json(&c)) != NULL && !json_is_array(arr)) {
		json_decref(arr);
		arr = NULL;
	}
	dcall_release(&c);
	return arr;
}

static struct seen *
seen_find(struct seen *v, size_t n, const char *site)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (strcmp(v[i].site, site) == 0)
			return &v[i];
	return NULL;
}

static void
watch_round(struct job *j, struct seen **vp, size_t *np)
{
	char		 dir[PATH_MAX_TUG + 16];
	struct dirent	*de;
	struct journal	 jr;
	struct seen	 now, *s;
	json_t		*list;
	DIR		*d;
	size_t		 i, len;

	if ((list = our_containers(j)) == NULL)
		return;			/* Docker away: nothing to say */
	for (i = 0; i < *np; i++)
		(*vp)[i].alive = 0;
	snprintf(dir, sizeof dir, "%s/journal", agent.state_dir);
	if ((d = opendir(dir)) == NULL) {
		json_decref(list);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (len <= 5 || strcmp(de->d_name + len - 5, ".json") != 0 ||
		    len - 5 > SITE_NAME_MAX)
			continue;
		memset(&now, 0, sizeof now);
		memcpy(now.site, de->d_name, len - 5);
		if (check_site_name(now.site) != NULL)
			continue;
		if ((s = seen_find(*vp, *np, now.site)) != NULL)
			s->alive = 1;
		if (journal_idle(now.site, &jr) != 1 || jr.kind[0] != '\0' ||
		    jr.current == 0)
			continue;
		judge(&jr, list, &now);
		now.alive = 1;
		if (s == NULL) {
			if (*np >= WATCH_SITES_MAX)
				continue;
			*vp = xrealloc(*vp, (*np + 1) * sizeof **vp);
			s = &(*vp)[(*np)++];
			*s = now;
			drift_send(j, s);
		} else if (s->release != now.release ||
		    strcmp(s->state, now.state) != 0) {
			*s = now;
			drift_send(j, s);
		}
	}
	closedir(d);
	json_decref(list);
	/* A site removed from this host: forgotten. */
	for (i = 0; i < *np; )
		if (!(*vp)[i].alive)
			(*vp)[i] = (*vp)[--(*np)];
		else
			i++;
}

static void
watch_run(struct job *j)
{
	struct seen	*v = NULL;
	size_t		 n = 0;
	struct enc	 e;

	while (!j->cancelled) {
		watch_round(j, &v, &n);
		if (job_sleep(j, WATCH_EVERY_MS) == -1)
			break;
	}
	free(v);
	if (j->cancelled) {
		job_fail(j, E_CANCELLED, "cancelled");
		return;
	}
	job_result_begin(j, &e);
	job_ok(j, &e);
}

const struct op op_watch = { "watch", 0, NULL, watch_run, NULL };
