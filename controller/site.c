/*
 * site.c: a site as the ops and the rollout engine see it: opened from a
 * request's args with its stored spec parsed, the hosts it runs on, the env
 * a release runs with (secrets opened), and its lease, which one change at
 * a time holds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "controller/request.h"
#include "controller/tug.h"

#define LEASE_S		900	/* a change holds its site at most this long */

/* A secret is sealed with its site and key as associated data. */
void
site_env_ad(char *dst, size_t n, const char *site, const char *key)
{
	snprintf(dst, n, "%s\n%s", site, key);
}

/* The hosts a site runs on: its list, or its group's members now. */
int
site_targets(struct req *rq, const struct site_spec *s, char ***out,
    size_t *n)
{
	struct host_rec	*hosts;
	size_t		 nh, i, k;
	int		 g;
	char		**v;

	*out = NULL;
	*n = 0;
	if (hosts_load(&hosts, &nh) == -1) {
		req_fail(rq, E_INTERNAL, "cannot read hosts");
		return -1;
	}
	v = xcalloc(nh + s->nhosts + 1, sizeof *v);
	for (i = 0; i < s->nhosts; i++) {
		for (k = 0; k < nh; k++)
			if (strcmp(hosts[k].name, s->hosts[i]) == 0)
				break;
		if (k == nh) {
			req_fail(rq, E_NOT_FOUND, "site '%s' names host '%s', "
			    "which is not known", s->site, s->hosts[i]);
			goto fail;
		}
		v[(*n)++] = xstrdup(s->hosts[i]);
	}
	for (k = 0; s->group[0] != '\0' && k < nh; k++)
		for (g = 0; g < hosts[k].ngroups; g++)
			if (strcmp(hosts[k].groups[g], s->group) == 0) {
				v[(*n)++] = xstrdup(hosts[k].name);
				break;
			}
	if (*n == 0) {
		req_fail(rq, E_NOT_FOUND, "site '%s' has no host (group '%s' "
		    "is empty)", s->site, s->group);
		goto fail;
	}
	hosts_free(hosts, nh);
	*out = v;
	return 0;
fail:
	for (k = 0; k < *n; k++)
		free(v[k]);
	free(v);
	*n = 0;
	hosts_free(hosts, nh);
	return -1;
}

/* The hosts a spec puts its site on: its list, or its group's members. */
int
site_hosts(const struct site_spec *s, char ***out, size_t *n)
{
	char	**v;
	size_t	  i;

	if (s->group[0] != '\0' && s->nhosts == 0)
		return hosts_of_group(s->group, out, n);
	v = xcalloc(s->nhosts + 1, sizeof *v);
	for (i = 0; i < s->nhosts; i++)
		v[i] = xstrdup(s->hosts[i]);
	*out = v;
	*n = s->nhosts;
	return 0;
}

/* Load a site and parse its stored spec; -1 answered the client. */
int
site_open(struct req *rq, struct mv *args, struct site_rec *rec,
    struct site_spec *s)
{
	char	name[SITE_NAME_MAX + 8], err[600];
	int	r;

	memset(s, 0, sizeof *s);
	if (mv_str(args, "site", name, sizeof name, MV_REQ) != 1) {
		req_fail(rq, E_BAD_ARGS, "%s", args->err);
		return -1;
	}
	if (check_site_name(name) != NULL || (r = site_load(name, rec)) == 0) {
		char e[128];

		req_fail(rq, E_NOT_FOUND, "no site '%s'", log_escape(e,
		    sizeof e, name, strlen(name)));
		return -1;
	}
	if (r == -1) {
		req_fail(rq, E_INTERNAL, "cannot read site '%s'", name);
		return -1;
	}
	if (spec_parse(rec->file, rec->spec, strlen(rec->spec), s, err,
	    sizeof err) == -1) {
		req_fail(rq, "spec", "stored spec of '%s' no longer parses: "
		    "%s", name, err);
		site_rec_free(rec);
		spec_free(s);
		return -1;
	}
	acme_fill(s);
	return 0;
}

int
site_lease(struct req *rq, const char *site, char *who, size_t whosz)
{
	char	since_s[32], mine[128];
	int64_t	since = 0;
	int	r;

	snprintf(mine, sizeof mine, "%s (tug pid %ld)", rq->user, (long)rq->pid);
	if ((r = lock_take(site, mine, LEASE_S, who, whosz, &since)) == 1) {
		snprintf(who, whosz, "%s", mine);
		return 0;
	}
	if (r == 0) {
		struct tm	tm;
		time_t		t = (time_t)since;

		strftime(since_s, sizeof since_s, "%H:%M:%S", gmtime_r(&t, &tm));
		req_fail(rq, "locked", "site '%s' is being changed by %s "
		    "since %s UTC", site, who, since_s);
	} else
		req_fail(rq, E_INTERNAL, "cannot take the lease of '%s'",
		    site);
	return -1;
}

/*
 * The env a release runs with: the spec's, overridden by what was set with
 * tug env set, secrets opened. -1 answered the client (e.g. a secret the
 * spec names is not set).
 */
int
site_env(struct req *rq, int64_t site_id, const struct site_spec *s,
    struct kv **out, size_t *nout)
{
	struct env_rec	*rows;
	struct kv	*v;
	size_t		 nrows, n = 0, i, k;
	char		 ad[SITE_NAME_MAX + ENV_KEY_MAX + 4];

	*out = NULL;
	*nout = 0;
	if (env_load(site_id, &rows, &nrows) == -1) {
		req_fail(rq, E_INTERNAL, "cannot read the env of '%s'",
		    s->site);
		return -1;
	}
	for (i = 0; i < s->nsecrets; i++) {
		for (k = 0; k < nrows; k++)
			if (rows[k].secret && strcmp(rows[k].key,
			    s->secrets[i]) == 0)
				break;
		if (k == nrows) {
			req_fail(rq, "env", "secret %s of site %s is not set "
			    "(tug env set %s %s=... --secret)", s->secrets[i],
			    s->site, s->site, s->secrets[i]);
			env_recs_free(rows, nrows);
			return -1;
		}
	}
	v = xcalloc(s->nenv + nrows + 1, sizeof *v);
	for (i = 0; i < s->nenv; i++) {
		v[n].key = xstrdup(s->env[i].key);
		v[n++].val = xstrdup(s->env[i].val);
	}
	for (k = 0; k < nrows; k++) {
		struct buf	plain = BUF_INIT;

		if (rows[k].secret) {
			site_env_ad(ad, sizeof ad, s->site, rows[k].key);
			if (secret_open(ad, rows[k].value.ptr,
			    rows[k].value.len, &plain) == -1) {
				req_fail(rq, "env", "cannot open secret %s of "
				    "%s (wrong key file?)", rows[k].key,
				    s->site);
				buf_release(&plain);
				kv_free(v, n);
				env_recs_free(rows, nrows);
				return -1;
			}
		} else
			buf_add(&plain, rows[k].value.ptr, rows[k].value.len);
		for (i = 0; i < n; i++)
			if (strcmp(v[i].key, rows[k].key) == 0)
				break;
		if (i == n)
			v[n++].key = xstrdup(rows[k].key);
		else
			free(v[i].val);
		v[i].val = buf_detach(&plain, NULL);
	}
	env_recs_free(rows, nrows);
	*out = v;
	*nout = n;
	return 0;
}

void
kv_free(struct kv *v, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		free(v[i].key);
		if (v[i].val != NULL)
			explicit_bzero(v[i].val, strlen(v[i].val));
		free(v[i].val);
	}
	free(v);
}


/* Is name under wildcard w ("*.x"): a.x, b.a.x, *.a.x, and *.x itself. */
static int
wild_covers(const char *w, const char *name)
{
	size_t	wl, nl;

	if (strncmp(w, "*.", 2) != 0)
		return 0;
	if (strcasecmp(w, name) == 0)
		return 1;
	w += 1;				/* ".x" */
	wl = strlen(w);
	nl = strlen(name);
	return nl > wl && strcasecmp(name + nl - wl, w) == 0;
}

/*
 * The one domain registry: a name, or any name under another site's "*."
 * wildcard, belongs to one site. 1 with the clash said in msg, 0 none,
 * -1 the sites could not be read.
 */
int
site_domain_clash(const struct site_spec *s, char *msg, size_t msgsz)
{
	struct site_rec		*v;
	struct site_spec	 o;
	char			 err[600];
	size_t			 n, i, a, b;
	int			 clash = 0;

	if (sites_load(&v, &n) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		memset(&o, 0, sizeof o);
		if (!clash && strcmp(v[i].name, s->site) != 0 &&
		    spec_parse(v[i].file, v[i].spec, strlen(v[i].spec), &o,
		    err, sizeof err) == 0) {
			for (a = 0; !clash && a < s->ndomains; a++)
				for (b = 0; !clash && b < o.ndomains; b++) {
					const char *mine = s->domains[a];
					const char *its = o.domains[b];

					if (strcasecmp(mine, its) == 0)
						snprintf(msg, msgsz, "domain "
						    "'%s' belongs to site '%s'",
						    mine, o.site);
					else if (wild_covers(its, mine))
						snprintf(msg, msgsz, "domain "
						    "'%s' is covered by '%s' of "
						    "site '%s'", mine, its,
						    o.site);
					else if (wild_covers(mine, its))
						snprintf(msg, msgsz, "domain "
						    "'%s' covers '%s' of site "
						    "'%s'", mine, its, o.site);
					else
						continue;
					clash = 1;
				}
		}
		spec_free(&o);
		site_rec_free(&v[i]);
	}
	free(v);
	return clash;
}

/* The "cert" map of an agent's result (site.status, cert.renew), as is. */
void
site_cert_copy(struct enc *e, struct mv *v)
{
	struct mv	c;
	char		s[256];
	uint64_t	u;
	size_t		n, i;

	if (mv_map(v, "cert", &c, 0) != 1)
		return;
	enc_kmap(e, "cert");
	if (mv_str(&c, "issuer", s, sizeof s, 0) == 1)
		enc_kstr(e, "issuer", s);
	if (mv_str(&c, "serial", s, sizeof s, 0) == 1)
		enc_kstr(e, "serial", s);
	if (mv_u64(&c, "not_before", &u, 0) == 1)
		enc_ku64(e, "not_before", u);
	if (mv_u64(&c, "not_after", &u, 0) == 1)
		enc_ku64(e, "not_after", u);
	if (mv_arr(&c, "names", &n, 64, 0) == 1) {
		enc_karr(e, "names");
		for (i = 0; i < n; i++)
			if (mv_arr_str(&c, "names", i, s, sizeof s) == 1)
				enc_str(e, s);
		enc_close(e);
	}
	enc_close(e);
}
