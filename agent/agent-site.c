/*
 * agent-site.c: the container site ops. site.apply runs the deploy sequence
 * of DESIGN §6 on this host: image present, new container
 * tug-<site>-r<release> published on 127.0.0.1, health-gated, the proxy
 * switched to it and confirmed (when the site has domains), then the older
 * releases drained and removed. Each step is journaled; containers are found
 * by label, so an apply that was killed half-way converges when run again.
 */
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <msgpack.h>

#include "agent/agent.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/xmalloc.h"

#define ENV_MAX		256
#define ENV_VALUE_MAX	32768
#define HEALTH_POLL_MS	20	/* inspect this often while waiting */
#define CAPS_MAX	64
#define HEALTH_CMD_MAX	32

struct site_args {
	char			 site[SITE_NAME_MAX + 1];
	uint64_t		 release;
	char			 image[IMAGE_REF_MAX + 1];
	uint64_t		 port;		/* 0: nothing published */
	char			**env;		/* "K=V" */
	size_t			 nenv;
	struct volume_spec	*vols;
	size_t			 nvols;
	char			 restart[32];
	double			 cpus;
	uint64_t		 memory;
	uint64_t		 pids;
	char			 hpath[256];
	char			**hcmd;
	size_t			 nhcmd;
	uint64_t		 interval_ms;
	uint64_t		 timeout_ms;
	uint64_t		 retries;
	uint64_t		 start_ms;
	int			 read_only;
	int			 no_new_privs;
	int			 init;
	char			**cap_drop;
	size_t			 ncap;
	int			 net_raw;	/* keep NET_RAW */
	char			 network[SITE_NAME_MAX + 8];	/* tug-<site> */
	char			 user[65];
	uint64_t		 stop_timeout;	/* seconds */
	uint64_t		 drain_ms;
	char			 hash[17];
	char			 name[SITE_NAME_MAX + 32];
	int			 has_proxy;
	struct proxy_site	 proxy;
	int			 has_pull;	/* pull the image if missing */
	struct pull_args	 pull;
	struct vol_list		 legacy;	/* volumes of old sites */
	int			 rmvols;	/* site.remove: volumes too */
	char			**keep;		/* images the site keeps */
	size_t			 nkeep;
	int			 has_keep;
};

static const char *
esc(char *dst, size_t dstsz, const char *s)
{
	return log_escape(dst, dstsz, s, strlen(s));
}

static void
site_args_free(struct job *j)
{
	struct site_args	*a = j->priv;
	size_t			 i;

	/* Also after a refused check: the request holds the password. */
	pull_args_wipe(a != NULL ? &a->pull : NULL, &j->args, "pull");
	if (a == NULL)
		return;
	for (i = 0; i < a->nenv; i++)
		free(a->env[i]);
	for (i = 0; i < a->nhcmd; i++)
		free(a->hcmd[i]);
	for (i = 0; i < a->ncap; i++)
		free(a->cap_drop[i]);
	for (i = 0; i < a->nkeep; i++)
		free(a->keep[i]);
	free(a->keep);
	free(a->env);
	free(a->hcmd);
	free(a->cap_drop);
	free(a->vols);
	free(a);
	j->priv = NULL;
}

/* Only the site name: status, stop, start, remove. */
static int
site_name_check(struct job *j)
{
	struct site_args	*a = xcalloc(1, sizeof *a);

	j->priv = a;
	return job_check_name(j, "site", a->site, sizeof a->site);
}

/* site.stop: the name, and the domains when the controller gives them. */
static int
site_stop_check(struct job *j)
{
	struct site_args	*a;
	int			 r;

	if (site_name_check(j) == -1)
		return -1;
	a = j->priv;
	if ((r = proxy_site_check(j, &a->proxy)) == -1)
		return -1;
	a->has_proxy = r == 1;
	snprintf(a->proxy.site, sizeof a->proxy.site, "%s", a->site);
	return 0;
}

static int	health_check(struct job *, struct site_args *);

/* site.start: as site.stop, and how to tell it is healthy again. */
static int
site_start_check(struct job *j)
{
	if (site_stop_check(j) == -1)
		return -1;
	return health_check(j, j->priv);
}

/* site.remove: the name; the volumes go too, legacy ones by name. */
static int
site_remove_check(struct job *j)
{
	struct site_args	*a;

	if (site_name_check(j) == -1)
		return -1;
	a = j->priv;
	if (mv_bool(&j->args, "volumes", &a->rmvols, 0) == -1)
		return -1;
	return vol_legacy_check(j, &a->legacy, "legacy_volumes");
}

static int
health_check(struct job *j, struct site_args *a)
{
	struct mv	h;
	size_t		i;
	int		r;

	a->interval_ms = 1000;
	a->timeout_ms = 3000;
	a->retries = 30;
	if ((r = mv_map(&j->args, "health", &h, 0)) == -1)
		return -1;
	if (r == 0)
		return 0;
	if (mv_str(&h, "path", a->hpath, sizeof a->hpath, 0) == -1 ||
	    mv_u64(&h, "interval_ms", &a->interval_ms, 0) == -1 ||
	    mv_u64(&h, "timeout_ms", &a->timeout_ms, 0) == -1 ||
	    mv_u64(&h, "retries", &a->retries, 0) == -1 ||
	    mv_u64(&h, "start_period_ms", &a->start_ms, 0) == -1 ||
	    mv_arr(&h, "cmd", &a->nhcmd, HEALTH_CMD_MAX, 0) == -1)
		return -1;
	if (a->hpath[0] != '\0' && proxy_check_path(a->hpath) == -1)
		return job_bad(j, "invalid health path '%s': must start with '/' "
		    "and hold only URL characters", a->hpath);
	if (a->interval_ms < 100 || a->interval_ms > 3600000 ||
	    a->timeout_ms < 100 || a->timeout_ms > 3600000)
		return job_bad(j, "health interval and timeout must be between "
		    "100 ms and 1 h");
	if (a->retries < 1 || a->retries > 10000)
		return job_bad(j, "health retries must be between 1 and 10000");
	if (a->start_ms > 3600000)
		return job_bad(j, "health start period longer than 1 h");
	a->hcmd = xcalloc(a->nhcmd + 1, sizeof *a->hcmd);
	for (i = 0; i < a->nhcmd; i++)
		if (mv_arr_strdup(&h, "cmd", i, &a->hcmd[i], 1024) == -1) {
			a->nhcmd = i;
			return -1;
		}
	return 0;
}

static int
env_check(struct job *j, struct site_args *a)
{
	struct mv	 env;
	size_t		 i, n;
	char		 key[ENV_KEY_MAX + 1], e[128], *val;
	const char	*why;
	int		 r;

	if ((r = mv_map(&j->args, "env", &env, 0)) != 1)
		return r;
	if ((n = mv_count(&env)) > ENV_MAX)
		return job_bad(j, "more than %d env variables", ENV_MAX);
	a->env = xcalloc(n + 1, sizeof *a->env);
	for (i = 0; i < n; i++) {
		if (mv_entry_str(&env, i, key, sizeof key, &val,
		    ENV_VALUE_MAX) == -1)
			return -1;
		if ((why = check_env_key(key)) != NULL) {
			free(val);
			return job_bad(j, "invalid env key '%s': %s",
			    esc(e, sizeof e, key), why);
		}
		xasprintf(&a->env[a->nenv++], "%s=%s", key, val);
		free(val);
	}
	return 0;
}

static int
volumes_check(struct job *j, struct site_args *a)
{
	size_t		 i, k;
	char		 spec[2 * PATH_MAX_TUG + 8], e[128];
	const char	*why;
	char		 whybuf[160];
	int		 ok;

	if (vol_legacy_check(j, &a->legacy, "legacy_volumes") == -1 ||
	    mv_arr(&j->args, "volumes", &a->nvols, VOLUMES_MAX, 0) == -1)
		return -1;
	a->vols = xcalloc(a->nvols + 1, sizeof *a->vols);
	for (i = 0; i < a->nvols; i++) {
		if (mv_arr_str(&j->args, "volumes", i, spec, sizeof spec) == -1)
			return -1;
		if ((why = parse_volume_spec(spec, &a->vols[i])) != NULL)
			return job_bad(j, "invalid volume '%s': %s",
			    esc(e, sizeof e, spec), why);
		if (!a->vols[i].bind) {
			if ((why = vol_check_name(a->site, a->vols[i].source,
			    &a->legacy, whybuf, sizeof whybuf)) != NULL)
				return job_bad(j, "invalid volume '%s': %s",
				    esc(e, sizeof e, spec), why);
			continue;
		}
		for (ok = 0, k = 0; k < (size_t)agent.nbind_roots; k++)
			if (path_is_under(a->vols[i].source,
			    agent.bind_roots[k]))
				ok = 1;
		if (!ok)
			return job_bad(j, "invalid volume '%s': bind mounts are "
			    "allowed only under the agent's --bind-root "
			    "directories", esc(e, sizeof e, spec));
	}
	return 0;
}

static int
security_check(struct job *j, struct site_args *a)
{
	size_t		 i;
	const char	*why;
	char		 e[128];

	a->no_new_privs = 1;
	a->init = 1;
	if (mv_bool(&j->args, "read_only", &a->read_only, 0) == -1 ||
	    mv_bool(&j->args, "no_new_privileges", &a->no_new_privs, 0) == -1 ||
	    mv_bool(&j->args, "init", &a->init, 0) == -1 ||
	    mv_bool(&j->args, "net_raw", &a->net_raw, 0) == -1 ||
	    mv_str(&j->args, "user", a->user, sizeof a->user, 0) == -1 ||
	    mv_arr(&j->args, "cap_drop", &a->ncap, CAPS_MAX, 0) == -1)
		return -1;
	if (a->user[0] != '\0' && (why = check_user_spec(a->user)) != NULL)
		return job_bad(j, "invalid user '%s': %s",
		    esc(e, sizeof e, a->user), why);
	a->cap_drop = xcalloc(a->ncap + 1, sizeof *a->cap_drop);
	for (i = 0; i < a->ncap; i++) {
		if (mv_arr_strdup(&j->args, "cap_drop", i, &a->cap_drop[i],
		    64) == -1) {
			a->ncap = i;
			return -1;
		}
		if ((why = check_capability(a->cap_drop[i])) != NULL) {
			a->ncap = i + 1;
			return job_bad(j, "invalid capability '%s': %s",
			    esc(e, sizeof e, a->cap_drop[i]), why);
		}
	}
	return 0;
}

/*
 * A short stable hash of the args, stored as a label to spot changes. The
 * proxy, pull and keep_images args are left out: they change the proxy,
 * how the image comes and which old images go, not the container. The
 * layout of the containers this agent makes goes in first, so one made by
 * an older agent (on the default bridge, without tug.controller) is
 * replaced rather than reused.
 */
#define SPEC_LAYOUT	"tug container layout 2\n"

static void
spec_hash(struct job *j, char out[17])
{
	const msgpack_object	*o = j->args.obj;
	struct enc		 e;
	uint64_t		 h = 1469598103934665603ULL;
	size_t			 i;

	for (i = 0; SPEC_LAYOUT[i] != '\0'; i++) {
		h ^= (unsigned char)SPEC_LAYOUT[i];
		h *= 1099511628211ULL;
	}
	enc_begin(&e, MSG_REQUEST, 0);
	enc_str(&e, "args");
	for (i = 0; i < o->via.map.size; i++) {
		const msgpack_object_kv *kv = &o->via.map.ptr[i];

		if ((kv->key.via.str.size == 5 &&
		    memcmp(kv->key.via.str.ptr, "proxy", 5) == 0) ||
		    (kv->key.via.str.size == 4 &&
		    memcmp(kv->key.via.str.ptr, "pull", 4) == 0) ||
		    (kv->key.via.str.size == 11 &&
		    memcmp(kv->key.via.str.ptr, "keep_images", 11) == 0))
			continue;
		enc_obj(&e, &kv->key);
		enc_obj(&e, &kv->val);
	}
	for (i = 0; i < e.b.len; i++) {
		h ^= (unsigned char)e.b.ptr[i];
		h *= 1099511628211ULL;
	}
	enc_release(&e);
	snprintf(out, 17, "%016llx", (unsigned long long)h);
}

/* keep_images: the images the site keeps on this host (deploy.keep). */
static int
keep_check(struct job *j, struct site_args *a)
{
	const char	*why;
	char		 e[128];
	size_t		 i;

	if ((a->has_keep = mv_arr(&j->args, "keep_images", &a->nkeep,
	    DEPLOY_KEEP_MAX, 0)) == -1)
		return -1;
	a->keep = xcalloc(a->nkeep + 1, sizeof *a->keep);
	for (i = 0; i < a->nkeep; i++) {
		if (mv_arr_strdup(&j->args, "keep_images", i, &a->keep[i],
		    IMAGE_REF_MAX) == -1) {
			a->nkeep = i;
			return -1;
		}
		if ((why = check_image_ref(a->keep[i])) != NULL) {
			a->nkeep = i + 1;
			return job_bad(j, "invalid image reference '%s' in "
			    "keep_images: %s", esc(e, sizeof e, a->keep[i]),
			    why);
		}
	}
	if (a->has_keep && a->nkeep == 0)
		return job_bad(j, "keep_images must name the release's image");
	return 0;
}

static int
site_apply_check(struct job *j)
{
	struct site_args	*a = xcalloc(1, sizeof *a);
	struct mv		 pull;
	const char		*why;
	char			 e[128];
	int			 r;

	j->priv = a;
	snprintf(a->restart, sizeof a->restart, "unless-stopped");
	a->stop_timeout = 10;
	if (job_check_name(j, "site", a->site, sizeof a->site) == -1 ||
	    mv_u64(&j->args, "release", &a->release, MV_REQ) == -1 ||
	    mv_str(&j->args, "image", a->image, sizeof a->image, MV_REQ) == -1 ||
	    mv_u64(&j->args, "port", &a->port, 0) == -1 ||
	    mv_str(&j->args, "restart", a->restart, sizeof a->restart, 0) == -1 ||
	    mv_num(&j->args, "cpus", &a->cpus, 0) == -1 ||
	    mv_u64(&j->args, "memory", &a->memory, 0) == -1 ||
	    mv_u64(&j->args, "pids", &a->pids, 0) == -1 ||
	    mv_u64(&j->args, "stop_timeout", &a->stop_timeout, 0) == -1 ||
	    mv_u64(&j->args, "drain_ms", &a->drain_ms, 0) == -1)
		return -1;
	if (a->release == 0 || a->release > 999999999)
		return job_bad(j, "release must be between 1 and 999999999");
	if ((why = check_image_ref(a->image)) != NULL)
		return job_bad(j, "invalid image reference '%s': %s",
		    esc(e, sizeof e, a->image), why);
	if (a->port > 65535)
		return job_bad(j, "port %llu out of range",
		    (unsigned long long)a->port);
	if (strcmp(a->restart, "no") != 0 && strcmp(a->restart, "always") &&
	    strcmp(a->restart, "unless-stopped") &&
	    strcmp(a->restart, "on-failure"))
		return job_bad(j, "restart must be no, always, unless-stopped or "
		    "on-failure");
	if (mv_present(&j->args, "cpus") && (a->cpus < 0.01 || a->cpus > 1024))
		return job_bad(j, "cpus must be between 0.01 and 1024");
	if (a->memory != 0 && a->memory < (6u << 20))
		return job_bad(j, "memory must be at least 6 MiB");
	if (a->pids != 0 && (a->pids < PIDS_MIN || a->pids > PIDS_MAX))
		return job_bad(j, "pids must be between %u and %u", PIDS_MIN,
		    PIDS_MAX);
	if (a->stop_timeout > 3600 || a->drain_ms > 3600000)
		return job_bad(j, "stop_timeout and drain over 1 h");
	if (env_check(j, a) == -1 || volumes_check(j, a) == -1 ||
	    health_check(j, a) == -1 || security_check(j, a) == -1 ||
	    (r = proxy_site_check(j, &a->proxy)) == -1)
		return -1;
	if ((a->has_proxy = r == 1) && a->port == 0)
		return job_bad(j, "proxy needs port: the container port to send "
		    "the traffic to");
	if (keep_check(j, a) == -1)
		return -1;
	if ((r = mv_map(&j->args, "pull", &pull, 0)) == -1 ||
	    (r == 1 && pull_args_check(j, &pull, a->image, &a->pull) == -1))
		return -1;
	a->has_pull = r == 1;
	snprintf(a->proxy.site, sizeof a->proxy.site, "%s", a->site);
	a->proxy.release = a->release;
	spec_hash(j, a->hash);
	snprintf(a->name, sizeof a->name, "tug-%s-r%llu", a->site,
	    (unsigned long long)a->release);
	snprintf(a->network, sizeof a->network, "tug-%s", a->site);
	return 0;
}

/* One container of a site, as listed by label. */
struct ctr {
	char		id[80];
	char		name[128];
	uint64_t	release;
	char		state[32];
	char		status[128];
	char		hash[24];
	char		image[IMAGE_REF_MAX + 1];
};

/* The site's containers (ours: owner.c), any state; count or -1. */
static int
site_containers(struct job *j, const char *site, struct ctr **out)
{
	json_t		*arr, *it, *labels, *names;
	char		 err[MSG_ERRLEN];
	size_t		 i;
	struct ctr	*v;
	int		 n = 0;

	*out = NULL;
	if ((arr = owner_site_containers(j, site, err)) == NULL)
		return job_failed(j, E_DOCKER, "%s", err);
	v = xcalloc(json_array_size(arr) + 1, sizeof *v);
	json_array_foreach(arr, i, it) {
		const char *s;

		labels = json_object_get(it, "Labels");
		names = json_object_get(it, "Names");
		snprintf(v[n].id, sizeof v[n].id, "%s",
		    json_string_value(json_object_get(it, "Id")) ?: "");
		s = json_string_value(json_array_get(names, 0));
		snprintf(v[n].name, sizeof v[n].name, "%s",
		    s != NULL ? (s[0] == '/' ? s + 1 : s) : v[n].id);
		s = json_string_value(json_object_get(labels, "tug.release"));
		v[n].release = s != NULL ? strtoull(s, NULL, 10) : 0;
		s = json_string_value(json_object_get(labels, "tug.spec"));
		snprintf(v[n].hash, sizeof v[n].hash, "%s", s ?: "");
		snprintf(v[n].state, sizeof v[n].state, "%s",
		    json_string_value(json_object_get(it, "State")) ?: "");
		snprintf(v[n].status, sizeof v[n].status, "%s",
		    json_string_value(json_object_get(it, "Status")) ?: "");
		snprintf(v[n].image, sizeof v[n].image, "%s",
		    json_string_value(json_object_get(it, "Image")) ?: "");
		n++;
	}
	json_decref(arr);
	*out = v;
	return n;
}

/* POST /containers/<id>/<verb>: 204 done, 304 already so. */
static int
container_verb(struct job *j, const char *id, const char *verb,
    uint64_t t, char *err)
{
	struct dcall	c;
	int		r = 0;

	if (strcmp(verb, "stop") == 0)
		dcall_init(&c, "POST", "/containers/%s/stop?t=%llu", id,
		    (unsigned long long)t);
	else
		dcall_init(&c, "POST", "/containers/%s/%s", id, verb);
	c.cancel = &j->cancelled;
	c.timeout_ms = (long)(t + 30) * 1000;
	if (docker_call(&c) == -1) {
		snprintf(err, MSG_ERRLEN, "%s", c.err);
		r = -1;
	} else if (c.status != 204 && c.status != 304) {
		snprintf(err, MSG_ERRLEN, "%s %s: %s", verb, id,
		    docker_message(&c));
		r = -1;
	}
	dcall_release(&c);
	return r;
}

static int
container_remove(struct job *j, const char *id, char *err)
{
	struct dcall	c;
	int		r = 0;

	(void)j;
	dcall_init(&c, "DELETE", "/containers/%s?force=1&v=1", id);
	if (docker_call(&c) == -1) {
		snprintf(err, MSG_ERRLEN, "%s", c.err);
		r = -1;
	} else if (c.status != 204 && c.status != 404) {
		snprintf(err, MSG_ERRLEN, "remove %s: %s", id,
		    docker_message(&c));
		r = -1;
	}
	dcall_release(&c);
	return r;
}

/* Stop gracefully (SIGTERM, then SIGKILL after t s), then remove. */
static int
container_retire(struct job *j, const struct ctr *c, uint64_t t, char *err)
{
	if (strcmp(c->state, "running") == 0 &&
	    container_verb(j, c->id, "stop", t, err) == -1)
		log_warnx("%s", err);
	return container_remove(j, c->id, err);
}

static json_t *
str_array(char **v, size_t n)
{
	json_t	*a = json_array();
	size_t	 i;

	for (i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

/*
 * A free port on 127.0.0.1, chosen now and fixed in the container's config:
 * Docker would pick a new ephemeral port at every restart (tug start, the
 * restart policy, a daemon restart) and leave the proxy pointing at nothing.
 */
static unsigned
pick_port(void)
{
	struct sockaddr_in	sin;
	socklen_t		len = sizeof sin;
	unsigned		port = 0;
	int			fd;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return 0;
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof sin) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sin, &len) == 0)
		port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

static char *
create_body(const struct site_args *a)
{
	json_t	*body, *hc, *labels, *mounts, *caps;
	char	 portkey[32], rel[24], hostport[8] = "", *text;
	size_t	 i;
	unsigned hp;

	snprintf(portkey, sizeof portkey, "%llu/tcp",
	    (unsigned long long)a->port);
	snprintf(rel, sizeof rel, "%llu", (unsigned long long)a->release);
	labels = owner_labels(a->site);
	json_object_set_new(labels, "tug.release", json_string(rel));
	json_object_set_new(labels, "tug.instance", json_string(a->name));
	json_object_set_new(labels, "tug.spec", json_string(a->hash));
	if (a->has_proxy)	/* a Traefik that watches Docker routes by them */
		json_object_update_new(labels, traefik_labels(&a->proxy,
		    a->port));
	body = json_pack("{s:s, s:o, s:o, s:I}", "Image", a->image,
	    "Env", str_array(a->env, a->nenv), "Labels", labels,
	    "StopTimeout", (json_int_t)a->stop_timeout);
	hc = json_pack("{s:{s:s, s:I}, s:b}", "RestartPolicy", "Name",
	    a->restart, "MaximumRetryCount", (json_int_t)0, "Init",
	    a->init);
	if (a->port != 0) {
		if ((hp = pick_port()) != 0)
			snprintf(hostport, sizeof hostport, "%u", hp);
		json_object_set_new(body, "ExposedPorts",
		    json_pack("{s:{}}", portkey));
		json_object_set_new(hc, "PortBindings", json_pack(
		    "{s:[{s:s, s:s}]}", portkey, "HostIp", "127.0.0.1",
		    "HostPort", hostport));
	}
	if (a->nhcmd > 0) {
		json_t *test = json_pack("[s]", "CMD");

		for (i = 0; i < a->nhcmd; i++)
			json_array_append_new(test, json_string(a->hcmd[i]));
		json_object_set_new(body, "Healthcheck", json_pack(
		    "{s:o, s:I, s:I, s:I, s:I}", "Test", test,
		    "Interval", (json_int_t)a->interval_ms * 1000000,
		    "Timeout", (json_int_t)a->timeout_ms * 1000000,
		    "Retries", (json_int_t)a->retries,
		    "StartPeriod", (json_int_t)a->start_ms * 1000000));
	}
	if (a->user[0] != '\0')
		json_object_set_new(body, "User", json_string(a->user));
	mounts = json_array();
	for (i = 0; i < a->nvols; i++)
		json_array_append_new(mounts, json_pack("{s:s, s:s, s:s, s:b}",
		    "Type", a->vols[i].bind ? "bind" : "volume",
		    "Source", a->vols[i].source, "Target", a->vols[i].target,
		    "ReadOnly", a->vols[i].readonly));
	json_object_set_new(hc, "Mounts", mounts);
	if (a->cpus > 0)
		json_object_set_new(hc, "NanoCpus",
		    json_integer((json_int_t)(a->cpus * 1e9)));
	if (a->memory != 0)
		json_object_set_new(hc, "Memory",
		    json_integer((json_int_t)a->memory));
	if (a->pids != 0)
		json_object_set_new(hc, "PidsLimit",
		    json_integer((json_int_t)a->pids));
	if (a->read_only) {
		json_object_set_new(hc, "ReadonlyRootfs", json_true());
		json_object_set_new(hc, "Tmpfs", json_pack("{s:s}", "/tmp",
		    "rw,nosuid,nodev,size=64m"));
	}
	if (a->no_new_privs)
		json_object_set_new(hc, "SecurityOpt",
		    json_pack("[s]", "no-new-privileges"));
	/* Raw sockets forge packets on the site's network: off by default. */
	caps = str_array(a->cap_drop, a->ncap);
	for (i = 0; i < a->ncap; i++)
		if (strcmp(a->cap_drop[i], "NET_RAW") == 0)
			break;
	if (!a->net_raw && i == a->ncap)
		json_array_append_new(caps, json_string("NET_RAW"));
	json_object_set_new(hc, "CapDrop", caps);
	/* The site's own network: never the default bridge. */
	json_object_set_new(hc, "NetworkMode", json_string(a->network));
	json_object_set_new(body, "HostConfig", hc);
	json_object_set_new(body, "NetworkingConfig", json_pack("{s:{s:{}}}",
	    "EndpointsConfig", a->network));
	text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	return text;
}

/* Create the container; its id goes to id. */
static int
container_create(struct job *j, const struct site_args *a, char *id,
    size_t idsz)
{
	struct dcall	 c;
	json_t		*r;
	char		*body;

	if ((body = create_body(a)) == NULL)
		return job_failed(j, E_INTERNAL, "cannot build the container "
		    "config");
	dcall_init(&c, "POST", "/containers/create?name=%s", a->name);
	c.body = body;
	c.bodylen = strlen(body);
	c.cancel = &j->cancelled;
	r = docker_json(&c);
	free(body);
	if (r == NULL) {
		job_fail(j, E_DOCKER, "create %s: %s", a->name, c.err);
		dcall_release(&c);
		return -1;
	}
	snprintf(id, idsz, "%s",
	    json_string_value(json_object_get(r, "Id")) ?: "");
	json_decref(r);
	dcall_release(&c);
	return 0;
}

struct cstate {
	int		running;
	int		restarting;	/* between two runs of a crash loop */
	int		oom;		/* the kernel killed it: out of memory */
	int64_t		restarts;	/* by its restart policy */
	int		exit_code;
	char		health[32];	/* "" when no health check */
	uint64_t	port;		/* published host port */
	uint64_t	cport;		/* its container port */
	char		started[40];
	char		image[80];
};

static int
container_inspect(struct job *j, const char *id, uint64_t cport,
    struct cstate *st, char *err)
{
	struct dcall	 c;
	json_t		*r, *s, *h, *ports, *b;
	char		 key[32];
	const char	*hp;

	memset(st, 0, sizeof *st);
	dcall_init(&c, "GET", "/containers/%s/json", id);
	c.cancel = &j->cancelled;
	if ((r = docker_json(&c)) == NULL) {
		snprintf(err, MSG_ERRLEN, "inspect %s: %s", id, c.err);
		dcall_release(&c);
		return c.status == 404 ? 0 : -1;
	}
	s = json_object_get(r, "State");
	st->running = json_is_true(json_object_get(s, "Running"));
	st->restarting = json_is_true(json_object_get(s, "Restarting"));
	st->oom = json_is_true(json_object_get(s, "OOMKilled"));
	st->restarts = json_integer_value(json_object_get(r, "RestartCount"));
	st->exit_code = (int)json_integer_value(json_object_get(s,
	    "ExitCode"));
	snprintf(st->started, sizeof st->started, "%s",
	    json_string_value(json_object_get(s, "StartedAt")) ?: "");
	snprintf(st->image, sizeof st->image, "%s",
	    json_string_value(json_object_get(r, "Image")) ?: "");
	if ((h = json_object_get(s, "Health")) != NULL)
		snprintf(st->health, sizeof st->health, "%s",
		    json_string_value(json_object_get(h, "Status")) ?: "");
	ports = json_object_get(json_object_get(r, "NetworkSettings"),
	    "Ports");
	if (cport == 0) {
		/* Not told: the first TCP port published, as apply makes it. */
		const char	*k;
		json_t		*v;

		json_object_foreach(ports, k, v)
			if (json_array_size(v) > 0 && strstr(k, "/tcp") != NULL) {
				cport = strtoull(k, NULL, 10);
				break;
			}
	}
	if (cport != 0) {
		snprintf(key, sizeof key, "%llu/tcp",
		    (unsigned long long)cport);
		b = json_array_get(json_object_get(ports, key), 0);
		hp = json_string_value(json_object_get(b, "HostPort"));
		st->port = hp != NULL ? strtoull(hp, NULL, 10) : 0;
		st->cport = st->port != 0 ? cport : 0;
	}
	json_decref(r);
	dcall_release(&c);
	return 1;
}

static size_t
discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p; (void)arg;
	return size * n;
}

/*
 * The last lines a failed container wrote (stdout and stderr, Docker's
 * multiplexed frames), each as a progress line of the job: what a user
 * needs to see why it did not start.
 */
#define LAST_LINES	10

static void
last_lines(struct job *j, const char *id)
{
	struct dcall		 c;
	const unsigned char	*p, *end;
	char			 line[MSG_ERRLEN];

	dcall_init(&c, "GET", "/containers/%s/logs?stdout=1&stderr=1&"
	    "tail=%d", id, LAST_LINES);
	c.cancel = &j->cancelled;
	if (docker_call(&c) == -1 || c.status != 200 || c.resp.len == 0) {
		dcall_release(&c);
		return;
	}
	p = (const unsigned char *)c.resp.ptr;
	end = p + c.resp.len;
	while (end - p >= 8) {
		size_t	n = (size_t)p[4] << 24 | (size_t)p[5] << 16 |
			    (size_t)p[6] << 8 | p[7];
		const char *s = (const char *)p + 8;

		if (n > (size_t)(end - p) - 8)
			break;
		p += 8 + n;
		while (n > 0) {
			size_t	k = 0, len;

			while (k < n && s[k] != '\n')
				k++;
			len = k < sizeof line - 1 ? k : sizeof line - 1;
			log_escape(line, sizeof line, s, len);
			job_progress(j, "log", "  | %s", line);
			k = k < n ? k + 1 : k;
			s += k;
			n -= k;
		}
	}
	dcall_release(&c);
}

/* GET http://127.0.0.1:port/path; the HTTP status, or -1 with err. */
static long
http_probe(uint64_t port, uint64_t cport, const char *path,
    uint64_t timeout_ms, char *err)
{
	CURL		*h;
	char		 url[512];
	long		 status = -1;
	CURLcode	 rc;

	if ((h = curl_easy_init()) == NULL)
		return -1;
	snprintf(url, sizeof url, "http://127.0.0.1:%llu%s",
	    (unsigned long long)port, path);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(h, CURLOPT_PROXY, "");
	/*
	 * Docker's proxy takes the connection and closes it when nothing
	 * listens on the container's port: say that, not curl's words.
	 */
	if ((rc = curl_easy_perform(h)) == CURLE_RECV_ERROR ||
	    rc == CURLE_GOT_NOTHING)
		snprintf(err, MSG_ERRLEN, "GET %s: nothing answers on port "
		    "%llu in the container (does the app listen on port "
		    "%llu?)", path, (unsigned long long)cport,
		    (unsigned long long)cport);
	else if (rc != CURLE_OK)
		snprintf(err, MSG_ERRLEN, "GET %s: %s", path,
		    curl_easy_strerror(rc));
	else {
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
		if (status < 200 || status > 399)
			snprintf(err, MSG_ERRLEN, "GET %s answered %ld", path,
			    status);
	}
	curl_easy_cleanup(h);
	return status;
}

void
keeps_serving(const struct journal *jr, uint64_t failed, char *dst,
    size_t dstsz)
{
	if (jr->current != 0 && jr->current != failed)
		snprintf(dst, dstsz, "release %llu keeps serving",
		    (unsigned long long)jr->current);
	else if (jr->current == 0)
		snprintf(dst, dstsz, "nothing served before it, and nothing "
		    "serves now");
	else
		snprintf(dst, dstsz, "it keeps serving");
}

int
job_sleep(struct job *j, uint64_t ms)
{
	uint64_t	end = clock_ms() + ms;

	while (!j->cancelled) {
		uint64_t now = clock_ms();

		if (now >= end)
			return 0;
		sleep_ms(end - now < 50 ? end - now : 50);
	}
	return -1;
}

/*
 * Step 3: healthy means Docker says so (when the image has a health check)
 * and the health path answers 2xx/3xx through the published port.
 */
static int
wait_healthy(struct job *j, const struct site_args *a, const char *id,
    uint64_t *port, char *why)
{
	uint64_t	 start = clock_ms();
	uint64_t	 limit = a->start_ms + a->retries * a->interval_ms +
			     a->timeout_ms;
	struct cstate	 st;
	const char	*path = a->hpath[0] != '\0' ? a->hpath : "/";
	long		 status;
	char		 said[MSG_ERRLEN] = "", probe[MSG_ERRLEN];
	uint64_t	 said_at = 0;
	int		 docker_ok, probe_ok;

	snprintf(why, MSG_ERRLEN, "no answer yet");
	for (;;) {
		uint64_t	now = clock_ms();

		/*
		 * Each answer that differs from the last one shown, with its
		 * time, and every 5 s the same one again: what a user waits on.
		 */
		if (strcmp(why, said) != 0 || now - said_at >= 5000) {
			if (said[0] != '\0' || strcmp(why, "no answer yet") != 0)
				job_progress(j, "probe", "%.1f s: %s", (double)
				    (now - start) / 1000, why);
			snprintf(said, sizeof said, "%s", why);
			said_at = now;
		}
		if (j->cancelled)
			return -1;
		if (container_inspect(j, id, a->port, &st, why) != 1)
			return -1;
		*port = st.port;
		/* Exited, or crash-looping: it will not get healthy. */
		if (!st.running || st.restarting || st.restarts > 0) {
			snprintf(why, MSG_ERRLEN, "the container %s with code "
			    "%d%s%s", st.restarts > 0 || st.restarting ?
			    "keeps exiting" : "exited", st.exit_code, st.oom ?
			    " (killed: out of memory)" : "", st.restarts > 0 ?
			    ", restarted by Docker" : "");
			job_progress(j, "log", "its last lines:");
			last_lines(j, id);
			return -1;
		}
		/* Docker's word, where the image checks, and tug's probe. */
		docker_ok = st.health[0] == '\0' ||
		    strcmp(st.health, "healthy") == 0;
		probe[0] = '\0';
		if (a->port == 0)
			probe_ok = 1;	/* nothing to probe */
		else if (st.port == 0) {
			probe_ok = 0;
			snprintf(probe, sizeof probe, "port %llu not published",
			    (unsigned long long)a->port);
		} else {
			status = http_probe(st.port, a->port, path,
			    a->timeout_ms, probe);
			probe_ok = status >= 200 && status <= 399;
		}
		if (docker_ok && probe_ok)
			return 0;
		if (!docker_ok)
			snprintf(why, MSG_ERRLEN, "docker reports %s%s%s",
			    st.health, probe_ok ? "" : "; ", probe_ok ? "" :
			    probe);
		else
			snprintf(why, MSG_ERRLEN, "%s", probe);
		if (clock_ms() - start >= limit)
			return -1;
		/*
		 * Docker's own check runs every interval; look more often:
		 * an inspect costs dockerd about a millisecond, and every
		 * poll period is time the new release waits to serve.
		 */
		if (job_sleep(j, HEALTH_POLL_MS) == -1)
			return -1;
	}
}

/* Step 3: the image is here, or pulled now when the request allows it. */
static int
image_present(struct job *j, struct site_args *a)
{
	struct dcall		 c;
	struct pull_result	 pr;
	const char		*code;
	char			 why[MSG_ERRLEN * 2];
	int			 r;

	dcall_init(&c, "GET", "/images/%s/json", a->image);
	c.cancel = &j->cancelled;
	if ((r = docker_ok(&c)) == -1) {
		if (c.status == 404 && a->has_pull) {
			if ((r = image_pull(j, a->image, &a->pull, &pr, &code,
			    why)) == -1)
				job_fail(j, code, "%s", why);
		} else if (c.status == 404)
			job_fail(j, E_NOT_FOUND, "image '%s' is not on this "
			    "host: push it there first (tug image push %s), or "
			    "deploy an image that names its registry", a->image,
			    a->image);
		else
			job_fail(j, E_DOCKER, "%s", c.err);
	}
	pull_args_wipe(&a->pull, NULL, NULL);
	dcall_release(&c);
	return r;
}

/*
 * Step 4 for a site without domains: a proxy config left from an earlier
 * release would send traffic to a container about to be retired.
 */
static void
site_proxy_forget(struct job *j, const struct proxy_conf *pc,
    const char *site)
{
	char	err[PROXY_ERRLEN];
	int	lock, done = 0;

	if ((lock = proxy_lock(&j->cancelled)) == -1)
		return;
	if (proxy_backend(pc->kind)->site_remove(pc, site, &done, err) == -1)
		log_warnx("site %s: %s", site, err);
	else if (done)
		job_progress(j, "proxy", "removed the %s config of '%s': this "
		    "release has no domains", pc->kind, site);
	proxy_unlock(lock);
}

/* Step 4: point the proxy at the new container and confirm; -1 with why. */
static int
site_proxy_switch(struct job *j, struct site_args *a,
    const struct proxy_conf *pc, uint64_t port, struct proxy_timing *tm,
    char *why)
{
	a->proxy.port = port;
	snprintf(a->proxy.path, sizeof a->proxy.path, "%s",
	    a->hpath[0] != '\0' ? a->hpath : "/");
	job_progress(j, "proxy", "switching %s for %s to %s on "
	    "127.0.0.1:%llu", pc->kind, a->proxy.domains[0], a->name,
	    (unsigned long long)port);
	return proxy_switch(j, pc, &a->proxy, a->release, tm, why,
	    MSG_ERRLEN * 2);
}

static void
site_apply_run(struct job *j)
{
	struct site_args	*a = j->priv;
	struct journal		 jr;
	struct ctr		*cs = NULL;
	struct cstate		 st;
	struct enc		 e;
	struct proxy_conf	 pc;
	struct proxy_timing	 tm;
	char			 id[80] = "", err[MSG_ERRLEN];
	char			 why[MSG_ERRLEN * 2], perr[PROXY_ERRLEN];
	char			 net[SITE_NAME_MAX + 8], subnet[32];
	int			 lock, n, i, reuse = 0, proxy, serving;
	char			 keptnote[SITE_NAME_MAX + 96] = "";
	uint64_t		 port = 0, t0 = clock_ms();
	const char		*code = E_HEALTH;

	memset(&tm, 0, sizeof tm);
	if ((lock = journal_begin(j, a->site, "", &jr)) == -1)
		return;
	/* Loaded without domains too: it may hold a switch to undo. */
	if (a->has_proxy) {
		if ((proxy = proxy_require(j, &a->proxy, &pc)) == -1)
			goto out;
	} else if ((proxy = proxy_load(&pc, perr)) == -1) {
		/* It holds the subnet pool as well. */
		job_fail(j, E_PROXY, "%s", perr);
		goto out;
	}
	if (proxy == 1)
		proxy_site_recover(j, &pc, &jr);
	if (image_present(j, a) == -1)
		goto out;
	if ((n = site_containers(j, a->site, &cs)) == -1)
		goto out;

	/* The serving release is the journal's, else the newest running. */
	if (jr.current == 0)
		for (i = 0; i < n; i++)
			if (strcmp(cs[i].state, "running") == 0 &&
			    cs[i].release > jr.current &&
			    cs[i].release != a->release)
				jr.current = cs[i].release;
	serving = jr.current == a->release;

	/*
	 * Left by an interrupted apply, or kept stopped by a failed one for
	 * its logs: neither serving nor ours.
	 */
	for (i = 0; i < n; i++) {
		if (cs[i].release == jr.current || cs[i].release == a->release)
			continue;
		if (cs[i].release > jr.current) {
			job_progress(j, "cleanup", strcmp(cs[i].state,
			    "exited") == 0 ? "removing %s, kept from a failed "
			    "deploy" : "removing %s left by an interrupted "
			    "apply", cs[i].name);
			if (container_remove(j, cs[i].id, err) == -1) {
				job_fail(j, E_DOCKER, "%s", err);
				goto out;
			}
			cs[i].state[0] = '\0';
		}
	}

	jr.release = a->release;
	journal_step(&jr, "begin");
	for (i = 0; i < n; i++) {
		if (cs[i].release != a->release)
			continue;
		if (strcmp(cs[i].hash, a->hash) == 0 &&
		    strcmp(cs[i].state, "running") == 0) {
			reuse = 1;
			snprintf(id, sizeof id, "%s", cs[i].id);
			job_progress(j, "create", "%s is already running this "
			    "spec", a->name);
		} else {
			job_progress(j, "cleanup", "replacing %s (%s)",
			    a->name, cs[i].state);
			if (container_remove(j, cs[i].id, err) == -1) {
				job_fail(j, E_DOCKER, "%s", err);
				goto out;
			}
		}
		cs[i].state[0] = '\0';
	}
	if (!reuse) {
		serving = 0;
		if (net_ensure(j, a->site, proxy == 1 ? pc.subnet_pool : "",
		    net, sizeof net, subnet, sizeof subnet) == -1)
			goto out;
		for (i = 0; i < (int)a->nvols; i++)
			if (!a->vols[i].bind && vol_ensure(j, a->site,
			    a->vols[i].source, &a->legacy) == -1)
				goto out;
		job_progress(j, "create", "creating %s from %s on %s (%s)",
		    a->name, a->image, net, subnet);
		if (container_create(j, a, id, sizeof id) == -1)
			goto out;
		snprintf(jr.container, sizeof jr.container, "%s", id);
		journal_step(&jr, "created");
		if (j->cancelled)
			goto undo;
		job_progress(j, "start", "starting %s", a->name);
		if (container_verb(j, id, "start", 0, err) == -1) {
			snprintf(why, sizeof why, "%s", err);
			code = E_DOCKER;
			goto undo_fail;
		}
		journal_step(&jr, "started");
	}
	job_progress(j, "health", "waiting for %s to become healthy",
	    a->name);
	if (wait_healthy(j, a, id, &port, why) == -1) {
		if (j->cancelled)
			goto undo;
		goto undo_fail;
	}
	job_progress(j, "healthy", "%s is healthy on 127.0.0.1:%llu after "
	    "%llu ms", a->name, (unsigned long long)port,
	    (unsigned long long)(clock_ms() - t0));

	/* Step 4: the proxy, then the new release is the serving one. */
	if (a->has_proxy) {
		if (j->cancelled)
			goto undo;
		journal_step(&jr, "proxy");
		if (site_proxy_switch(j, a, &pc, port, &tm, why) == -1) {
			if (j->cancelled)
				goto undo;
			code = E_PROXY;
			goto undo_fail;
		}
	} else if (proxy == 1)
		site_proxy_forget(j, &pc, a->site);
	/* What site.stop and site.start switch with from now on. */
	if (a->has_proxy)
		jr.proxy = a->proxy;
	else
		memset(&jr.proxy, 0, sizeof jr.proxy);
	jr.stopped = 0;
	jr.current = a->release;
	journal_step(&jr, "switched");

	/* Step 5: drain, then retire every other release. */
	job_result_begin(j, &e);
	enc_karr(&e, "replaced");
	if (a->drain_ms > 0) {
		for (i = 0; i < n; i++)
			if (cs[i].state[0] != '\0')
				break;
		if (i < n) {
			job_progress(j, "drain", "draining for %llu ms",
			    (unsigned long long)a->drain_ms);
			job_sleep(j, a->drain_ms);
		}
	}
	for (i = 0; i < n; i++) {
		if (cs[i].state[0] == '\0')
			continue;
		job_progress(j, "retire", "stopping %s", cs[i].name);
		if (container_retire(j, &cs[i], a->stop_timeout, err) == -1)
			log_warnx("%s", err);
		else
			enc_str(&e, cs[i].name);
	}
	enc_close(&e);
	if (a->has_keep)
		image_keep(j, a->site, a->keep, a->nkeep, &e);
	journal_step(&jr, "done");
	container_inspect(j, id, a->port, &st, err);
	enc_kstr(&e, "site", a->site);
	enc_ku64(&e, "release", a->release);
	enc_kstr(&e, "container", a->name);
	enc_kstr(&e, "id", id);
	enc_ku64(&e, "port", port);
	enc_kstr(&e, "image_id", st.image);
	enc_kbool(&e, "reused", reuse);
	if (a->has_proxy)
		proxy_encode(&e, &pc, &a->proxy, &tm);
	enc_ku64(&e, "elapsed_ms", clock_ms() - t0);
	job_ok(j, &e);
	goto out;

undo_fail:
	/* A reused container that was already serving stays: it still is. */
	if (reuse && serving)
		job_progress(j, "rollback", "%s failed: %s; %s keeps serving",
		    a->name, why, a->name);
	else if (strcmp(code, E_HEALTH) == 0) {
		/*
		 * An app that did not get healthy is kept, stopped, until the
		 * next apply: its log is what tells why (tug logs --release).
		 */
		job_progress(j, "rollback", "%s failed: %s; keeping it, "
		    "stopped, for its logs", a->name, why);
		if (container_verb(j, id, "stop", a->stop_timeout, err) == -1)
			log_warnx("%s", err);
		snprintf(keptnote, sizeof keptnote, " (its container is kept, "
		    "stopped, until the next deploy: tug logs %s --release "
		    "%llu)", a->site, (unsigned long long)a->release);
	} else {
		job_progress(j, "rollback", "%s failed: %s; removing it",
		    a->name, why);
		if (container_remove(j, id, err) == -1)
			log_warnx("%s", err);
	}
	journal_step(&jr, "failed");
	keeps_serving(&jr, a->release, err, sizeof err);
	job_fail(j, code, "release %llu %s: %s; %s%s", (unsigned long long)
	    a->release, strcmp(code, E_HEALTH) == 0 ? "did not become healthy" :
	    strcmp(code, E_PROXY) == 0 ? "was not switched to" :
	    "could not start", why, err, keptnote);
	goto out;
undo:
	if (id[0] != '\0' && !(reuse && serving) &&
	    container_remove(j, id, err) == -1)
		log_warnx("%s", err);
	journal_step(&jr, "failed");
	job_fail(j, E_CANCELLED, "cancelled");
out:
	free(cs);
	journal_unlock(lock);
}

static void
site_status_run(struct job *j)
{
	struct site_args	*a = j->priv;
	struct ctr		*cs;
	struct journal		 jr;
	struct cstate		 st;
	struct enc		 e;
	char			 err[MSG_ERRLEN];
	uint64_t		*rels;
	size_t			 nrels, k;
	int			 n = 0, i, had, is_static;

	/* A static site needs no Docker: it is not asked. */
	had = journal_read(a->site, &jr) == 1;
	is_static = had && strcmp(jr.kind, "static") == 0;
	cs = NULL;
	if (!is_static && (n = site_containers(j, a->site, &cs)) == -1)
		return;
	if (static_releases(a->site, &rels, &nrels) == -1)
		log_warn("cannot list the static releases of '%s'", a->site);
	job_result_begin(j, &e);
	enc_kstr(&e, "site", a->site);
	if (had) {
		enc_kstr(&e, "kind", is_static ? "static" : "container");
		enc_ku64(&e, "current", jr.current);
		enc_kstr(&e, "last_step", jr.step);
	}
	enc_karr(&e, "static_releases");
	for (k = 0; k < nrels; k++)
		enc_u64(&e, rels[k]);
	enc_close(&e);
	free(rels);
	enc_karr(&e, "containers");
	for (i = 0; i < n; i++) {
		enc_map_open(&e);
		enc_kstr(&e, "name", cs[i].name);
		enc_kstr(&e, "id", cs[i].id);
		enc_ku64(&e, "release", cs[i].release);
		enc_kstr(&e, "state", cs[i].state);
		enc_kstr(&e, "status", cs[i].status);
		enc_kstr(&e, "image", cs[i].image);
		if (container_inspect(j, cs[i].id, 0, &st, err) == 1) {
			enc_kstr(&e, "health", st.health[0] ? st.health :
			    "none");
			enc_kstr(&e, "started_at", st.started);
			enc_ku64(&e, "restarts", (uint64_t)st.restarts);
			enc_ki64(&e, "exit_code", st.exit_code);
			enc_kbool(&e, "oom", st.oom);
		}
		enc_close(&e);
	}
	enc_close(&e);
	if (had)
		enc_kbool(&e, "stopped", jr.stopped);
	if (had && jr.proxy.tls_auto) {
		struct proxy_site	p = jr.proxy;
		struct cert_info	ci;

		snprintf(p.site, sizeof p.site, "%s", a->site);
		acme_paths(&p);
		if (acme_cert_info(p.tls_cert, &ci) == 0) {
			enc_str(&e, "cert");
			cert_encode(&e, a->site, &ci);
		}
	}
	job_ok(j, &e);
	free(cs);
}

/*
 * The proxy args a stop or start switches with: the request's, else those
 * the journal kept from the serving release's switch. 1 and ps, 0 none.
 */
static int
site_proxy_args(const struct site_args *a, const struct journal *jr,
    struct proxy_site *ps)
{
	if (a->has_proxy)
		*ps = a->proxy;
	else if (jr->proxy.ndomains > 0)
		*ps = jr->proxy;
	else
		return 0;
	snprintf(ps->site, sizeof ps->site, "%s", a->site);
	ps->stopped = 0;
	return 1;
}

/*
 * site.stop, before a container stops: the site's proxy entry answers 503
 * itself and names no port any more, so nothing a local user binds on the
 * freed port ever gets the site's traffic. 0, or -1 answered.
 */
static int
site_proxy_park(struct job *j, const struct site_args *a,
    struct journal *jr, uint64_t release, struct enc *e)
{
	struct proxy_conf	 pc;
	struct proxy_site	*ps = xcalloc(1, sizeof *ps);
	struct proxy_timing	 tm;
	char			 perr[PROXY_ERRLEN], why[MSG_ERRLEN * 2];
	int			 r, lock, done = 0;

	if ((r = proxy_load(&pc, perr)) == -1) {
		free(ps);
		return job_failed(j, E_PROXY, "%s", perr);
	}
	if (r == 0) {
		free(ps);
		return 0;
	}
	if (!site_proxy_args(a, jr, ps)) {
		/*
		 * Deployed by an agent that kept no record of its domains:
		 * unhook them (404) rather than leave a dead upstream.
		 */
		free(ps);
		if ((lock = proxy_lock(&j->cancelled)) == -1)
			return job_failed(j, E_IO, "cannot lock the proxy: %s",
			    strerror(errno));
		r = proxy_backend(pc.kind)->site_remove(&pc, a->site, &done,
		    perr);
		proxy_unlock(lock);
		if (r == -1)
			return job_failed(j, E_PROXY, "site '%s' was not "
			    "stopped: %s; it keeps serving", a->site, perr);
		if (done)
			job_progress(j, "proxy", "removed the %s config of "
			    "'%s': its domains were not recorded; give "
			    "site.stop and site.start the proxy args, or "
			    "deploy again", pc.kind, a->site);
		return 0;
	}
	ps->stopped = 1;
	ps->release = release;
	job_progress(j, "proxy", "switching %s for %s to a 503 answer: site "
	    "'%s' is stopping", pc.kind, ps->domains[0], a->site);
	if (proxy_switch(j, &pc, ps, release, &tm, why, sizeof why) == -1) {
		free(ps);
		return job_failed(j, E_PROXY, "site '%s' was not stopped: %s; "
		    "it keeps serving", a->site, why);
	}
	proxy_encode(e, &pc, ps, &tm);
	/* Domains the controller gave are what site.start switches back. */
	if (a->has_proxy) {
		ps->stopped = 0;
		ps->port = jr->proxy.port;
		snprintf(ps->path, sizeof ps->path, "%s", jr->proxy.ndomains > 0 ?
		    jr->proxy.path : "/");
		jr->proxy = *ps;
	}
	jr->stopped = 1;
	if (journal_write(jr) == -1)
		log_warn("journal %s", a->site);
	free(ps);
	return 0;
}

/*
 * site.start, once the serving release's container is started: wait until
 * it is healthy as site.apply does, then point the proxy back at it. 0, or
 * -1 answered (the container stays started; the proxy keeps its 503).
 */
static int
site_serve_again(struct job *j, struct site_args *a, struct journal *jr,
    const struct ctr *c, struct enc *e)
{
	struct proxy_conf	 pc;
	struct proxy_site	*ps = xcalloc(1, sizeof *ps);
	struct proxy_timing	 tm;
	struct cstate		 st;
	char			 perr[PROXY_ERRLEN], why[MSG_ERRLEN * 2];
	int			 r, have;
	uint64_t		 port = 0;

	if ((r = proxy_load(&pc, perr)) == -1) {
		free(ps);
		return job_failed(j, E_PROXY, "%s", perr);
	}
	have = r == 1 && site_proxy_args(a, jr, ps);
	if (a->hpath[0] == '\0' && have && !a->has_proxy)
		snprintf(a->hpath, sizeof a->hpath, "%s", ps->path);
	if (container_inspect(j, c->id, 0, &st, why) != 1) {
		free(ps);
		return job_failed(j, E_DOCKER, "%s", why);
	}
	a->port = st.cport;
	snprintf(a->name, sizeof a->name, "%s", c->name);
	job_progress(j, "health", "waiting for %s to become healthy",
	    c->name);
	if (wait_healthy(j, a, c->id, &port, why) == -1) {
		free(ps);
		return job_failed(j, E_HEALTH, "release %llu was started but "
		    "did not become healthy: %s; %s", (unsigned long long)
		    c->release, why, have ? "the proxy keeps answering 503" :
		    "it is left running");
	}
	job_progress(j, "healthy", "%s is healthy on 127.0.0.1:%llu",
	    c->name, (unsigned long long)port);
	if (have && port != 0) {
		ps->port = port;
		ps->release = c->release;
		snprintf(ps->path, sizeof ps->path, "%s", a->hpath[0] != '\0' ?
		    a->hpath : "/");
		job_progress(j, "proxy", "switching %s for %s back to %s on "
		    "127.0.0.1:%llu", pc.kind, ps->domains[0], c->name,
		    (unsigned long long)port);
		if (proxy_switch(j, &pc, ps, c->release, &tm, why,
		    sizeof why) == -1) {
			free(ps);
			return job_failed(j, E_PROXY, "release %llu was "
			    "started but the proxy was not switched back to "
			    "it: %s; it keeps answering 503",
			    (unsigned long long)c->release, why);
		}
		proxy_encode(e, &pc, ps, &tm);
		jr->proxy = *ps;
	}
	jr->stopped = 0;
	if (journal_write(jr) == -1)
		log_warn("journal %s", a->site);
	free(ps);
	return 0;
}

/* stop, start and remove share a loop over the site's containers. */
static void
site_each(struct job *j, const char *verb)
{
	struct site_args	*a = j->priv;
	struct ctr		*cs;
	struct journal		 jr;
	struct enc		 e;
	struct proxy_conf	 pc;
	char			 err[MSG_ERRLEN], perr[PROXY_ERRLEN];
	int			 n = 0, i, lock, plock, failed = 0, proxied = 0;
	int			 is_static, netgone = 0;
	const char		*code;
	int			 start = strcmp(verb, "start") == 0;
	uint64_t		 newest = 0, *rels = NULL;
	size_t			 nrels = 0, k;
	const struct ctr	*serving = NULL;

	if ((lock = journal_lock(a->site, &j->cancelled)) == -1) {
		job_fail(j, E_IO, "cannot lock site '%s': %s", a->site,
		    strerror(errno));
		return;
	}
	/* A static site needs no Docker: it is not asked. */
	if (journal_read(a->site, &jr) != 1) {
		memset(&jr, 0, sizeof jr);
		snprintf(jr.site, sizeof jr.site, "%s", a->site);
	}
	is_static = strcmp(jr.kind, "static") == 0;
	cs = NULL;
	if (!is_static && (n = site_containers(j, a->site, &cs)) == -1) {
		journal_unlock(lock);
		return;
	}
	if (!is_static && jr.current != 0)
		newest = jr.current;
	for (i = 0; newest == 0 && i < n; i++)
		if (cs[i].release > newest)
			newest = cs[i].release;
	if (n == 0 && strcmp(verb, "remove") != 0) {
		job_fail(j, E_NOT_FOUND, "site '%s' has no container on this "
		    "host%s", a->site, is_static ? " (it is a static site)" :
		    "");
		goto out;
	}
	/* Unhook the proxy first: unknown host, not a dead upstream. */
	if (strcmp(verb, "remove") == 0) {
		if ((i = proxy_load(&pc, perr)) == -1) {
			job_fail(j, E_PROXY, "%s", perr);
			goto out;
		}
		if (i == 1 && (plock = proxy_lock(&j->cancelled)) == -1) {
			job_fail(j, E_IO, "cannot lock the proxy: %s",
			    strerror(errno));
			goto out;
		}
		if (i == 1) {
			i = proxy_backend(pc.kind)->site_remove(&pc, a->site,
			    &proxied, perr);
			proxy_unlock(plock);
			if (i == -1) {
				job_fail(j, E_PROXY, "%s", perr);
				goto out;
			}
		}
	}
	job_result_begin(j, &e);
	/* First the proxy, on its own: then no request meets a dead port. */
	if (strcmp(verb, "stop") == 0 && site_proxy_park(j, a, &jr, newest,
	    &e) == -1) {
		enc_release(&e);
		goto out;
	}
	enc_karr(&e, strcmp(verb, "stop") == 0 ? "stopped" :
	    start ? "started" : "removed");
	for (i = 0; i < n; i++) {
		int r;

		if (start) {
			if (cs[i].release != newest)
				continue;
			r = container_verb(j, cs[i].id, "start", 0, err);
			serving = &cs[i];
		} else if (strcmp(verb, "stop") == 0) {
			if (strcmp(cs[i].state, "running") != 0)
				continue;
			r = container_verb(j, cs[i].id, "stop", 10, err);
		} else
			r = container_retire(j, &cs[i], 10, err);
		if (r == -1) {
			log_warnx("%s", err);
			failed = 1;
			break;
		}
		enc_str(&e, cs[i].name);
	}
	enc_close(&e);
	if (failed) {
		enc_release(&e);
		job_fail(j, E_DOCKER, "%s", err);
		goto out;
	}
	if (start && serving != NULL && site_serve_again(j, a, &jr, serving,
	    &e) == -1) {
		enc_release(&e);
		goto out;
	}
	if (strcmp(verb, "remove") == 0) {
		enc_kbool(&e, "proxy_removed", proxied);
		if (static_remove(a->site, &rels, &nrels) == -1) {
			enc_release(&e);
			job_fail(j, E_IO, "cannot remove %s/static/%s: %s",
			    agent.state_dir, a->site, strerror(errno));
			goto out;
		}
		enc_karr(&e, "static_removed");
		for (k = 0; k < nrels; k++)
			enc_u64(&e, rels[k]);
		enc_close(&e);
		/* Its containers are gone: so can its network be. */
		if (!is_static && net_remove(a->site, &netgone, err) == -1) {
			enc_release(&e);
			job_fail(j, E_DOCKER, "%s", err);
			goto out;
		}
		enc_kbool(&e, "network_removed", netgone);
		enc_karr(&e, "volumes_removed");
		if (a->rmvols && vol_remove_site(a->site, &a->legacy, &e,
		    &code, err) == -1) {
			enc_release(&e);
			job_fail(j, code, "%s", err);
			goto out;
		}
		enc_close(&e);
		/* What it kept, no site keeps now: those images go. */
		image_keep(j, a->site, NULL, 0, &e);
		journal_remove(a->site);
	}
	job_ok(j, &e);
out:
	free(rels);
	free(cs);
	journal_unlock(lock);
}

static void
site_stop_run(struct job *j)
{
	site_each(j, "stop");
}

static void
site_start_run(struct job *j)
{
	site_each(j, "start");
}

static void
site_remove_run(struct job *j)
{
	site_each(j, "remove");
}

const struct op op_site_apply = { "site.apply", 0, site_apply_check,
    site_apply_run, site_args_free };
const struct op op_site_status = { "site.status", 0, site_name_check,
    site_status_run, site_args_free };
const struct op op_site_stop = { "site.stop", 0, site_stop_check,
    site_stop_run, site_args_free };
const struct op op_site_start = { "site.start", 0, site_start_check,
    site_start_run, site_args_free };
const struct op op_site_remove = { "site.remove", 0, site_remove_check,
    site_remove_run, site_args_free };
