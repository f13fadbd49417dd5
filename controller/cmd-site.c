/*
 * cmd-site.c: the site ops. site.apply parses and validates a spec whole
 * (file:line:col errors) and stores it, or with dry_run only says what would
 * change; site.list and site.status read the database and the hosts;
 * site.rm removes a site from every host and then from the database.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "controller/request.h"
#include "controller/tug.h"

#define SITE_OP_TIMEOUT_MS	60000

/* Lines of a not in b, each as "<sign> line" into the array. */
static void
diff_lines(struct enc *e, const char *a, const char *b, char sign)
{
	const char	*p = a, *nl;
	char		 tmp[600];

	for (; *p != '\0'; p = nl + 1) {
		if ((nl = strchr(p, '\n')) == NULL)
			break;
		if (has_line(b, p, (size_t)(nl - p)))
			continue;
		snprintf(tmp, sizeof tmp, "%c %.*s", sign, (int)(nl - p), p);
		enc_str(e, tmp);
	}
}

void
cmd_site_apply(struct req *rq, struct mv *args)
{
	struct site_spec	 s, old;
	struct site_rec		 rec;
	struct buf		 now = BUF_INIT, was = BUF_INIT;
	struct enc		 e;
	char			*text = NULL, file[256] = "site.yml", err[600];
	char			 hash[65], scope[SITE_NAME_MAX + 8];
	char			 oldimg[IMAGE_REF_MAX + 1] = "";
	int			 dry = 0, had = 0, created, masked, r;
	int			 takeover = 0;
	size_t			 i;

	if (mv_strdup(args, "text", &text, SPEC_MAX_BYTES, MV_REQ) != 1 ||
	    mv_str(args, "file", file, sizeof file, 0) == -1 ||
	    mv_bool(args, "dry_run", &dry, 0) == -1) {
		req_fail(rq, E_BAD_ARGS, "%s", args->err);
		free(text);
		return;
	}
	if (spec_parse(file, text, strlen(text), &s, err, sizeof err) == -1) {
		req_fail(rq, "spec", "%s", err);
		spec_free(&s);
		free(text);
		return;
	}
	/* Hosts named by the spec must exist now. */
	for (i = 0; i < s.nhosts; i++) {
		struct host_rec	h;

		if ((r = host_load(s.hosts[i], &h)) == 1)
			host_rec_free(&h);
		else {
			req_fail(rq, "spec", "%s: host '%s' is not known "
			    "(tug host add)", file, s.hosts[i]);
			goto out;
		}
	}
	if ((r = site_domain_clash(&s, err, sizeof err)) != 0) {
		if (r == 1)
			req_fail(rq, "conflict", "%s: %s", file, err);
		else
			req_fail(rq, E_INTERNAL, "cannot read the other sites");
		goto out;
	}
	sha256_hex(text, strlen(text), hash);
	/* Values of env only for who may see them (view_env). */
	snprintf(scope, sizeof scope, "site:%s", s.site);
	masked = !rbac_allowed(rq->user, "view_env", scope);
	memset(&old, 0, sizeof old);
	if ((had = site_load(s.site, &rec)) == 1) {
		if (spec_parse(rec.file, rec.spec, strlen(rec.spec), &old, err,
		    sizeof err) == 0)
			spec_lines(&old, &was, masked, NULL);
		snprintf(oldimg, sizeof oldimg, "%s", old.image);
	}
	/* Masked, a value that changed still shows that it did. */
	spec_lines(&s, &now, masked, &old);
	spec_free(&old);
	req_result_begin(rq, &e);
	enc_kstr(&e, "site", s.site);
	enc_kbool(&e, "dry_run", dry);
	enc_kbool(&e, "new", had != 1);
	enc_kbool(&e, "changed", had != 1 || strcmp(rec.spec_hash, hash) != 0);
	enc_karr(&e, "changes");
	diff_lines(&e, buf_str(&was), buf_str(&now), '-');
	diff_lines(&e, buf_str(&now), buf_str(&was), '+');
	enc_close(&e);
	/*
	 * deploy --image set the site's image; a spec that changes image:
	 * takes over again, one that does not leaves it.
	 */
	if (had == 1 && rec.image[0] != '\0') {
		char	note[IMAGE_REF_MAX * 2 + 160];

		takeover = strcmp(oldimg, s.image) != 0;
		if (takeover && strcmp(s.image, rec.image) == 0)
			snprintf(note, sizeof note, "image: the spec now names "
			    "%s, which deploy --image set; the spec decides "
			    "again", s.image);
		else if (takeover)
			snprintf(note, sizeof note, "image: the spec's %s now "
			    "replaces %s, which deploy --image set", s.image,
			    rec.image);
		else
			snprintf(note, sizeof note, "image: deploys keep %s, "
			    "which deploy --image set (the spec says %s until "
			    "its image: changes)", rec.image, s.image);
		enc_kstr(&e, "note", note);
	}
	if (!dry) {
		created = site_upsert(s.site, s.kind == KIND_STATIC ? "static" :
		    "container", file, text, hash);
		if (created == -1 || (takeover && site_set_image(rec.id,
		    "") == -1)) {
			enc_release(&e);
			req_fail(rq, E_INTERNAL, "cannot store site '%s'",
			    s.site);
			goto out;
		}
	}
	req_ok(rq, &e);
out:
	if (had == 1)
		site_rec_free(&rec);
	buf_release(&now);
	buf_release(&was);
	spec_free(&s);
	free(text);
}

/*
 * state: "ok" when every host the watch reports on serves the current
 * release, else "drift" with those that do not; "-" before a deploy.
 */
static void
site_drift(struct enc *e, const char *site, int64_t current)
{
	struct drift_state	*d;
	size_t			 n, i, bad = 0, stopped = 0, mixed = 0;

	n = drift_of_site(site, &d);
	for (i = 0; i < n; i++) {
		if (strcmp(d[i].state, "stopped") == 0)
			stopped++;
		else if (strcmp(d[i].state, "ok") != 0)
			bad++;
		else if (current != 0 && d[i].release > current) {
			/*
			 * A rollout that failed elsewhere left it serving a
			 * newer release (an older one is the watch not having
			 * looked since the last deploy).
			 */
			snprintf(d[i].state, sizeof d[i].state, "release %lld",
			    (long long)d[i].release);
			mixed++;
		}
	}
	enc_kstr(e, "state", current == 0 ? "-" : bad > 0 ? "drift" :
	    mixed > 0 ? "mixed" : stopped > 0 ? "stopped" : "ok");
	enc_karr(e, "drift");
	for (i = 0; i < n; i++)
		if (strcmp(d[i].state, "ok") != 0 &&
		    strcmp(d[i].state, "stopped") != 0)
			drift_encode(e, &d[i]);
	enc_close(e);
	free(d);
}

/* The watch's record of site on host, if it has one. */
static void
host_drift(struct enc *e, const char *site, const char *host)
{
	struct drift_state	*d;
	size_t			 n, i;

	n = drift_of_site(site, &d);
	for (i = 0; i < n; i++)
		if (strcmp(d[i].host, host) == 0) {
			enc_str(e, "drift");
			drift_encode(e, &d[i]);
		}
	free(d);
}

/*
 * What serves: the current release's spec parsed into s (before a first
 * deploy, the stored one; empty if it no longer parses). 1 with the
 * release in rel, 0 with none.
 */
static int
serving_spec(const struct site_rec *rec, struct release_rec *rel,
    struct site_spec *s)
{
	const char	*text;
	char		 err[600];
	int		 have;

	have = rec->current > 0 && release_load(rec->id, rec->current,
	    rel) == 1;
	text = have ? rel->spec : rec->spec;
	spec_parse(rec->file, text, strlen(text), s, err, sizeof err);
	return have;
}

/* The serving spec's domains, and whether a spec applied since waits. */
static void
serving_encode(struct enc *e, const struct site_rec *rec,
    const struct release_rec *rel, int have, const struct site_spec *s)
{
	size_t	i;

	enc_karr(e, "domains");
	for (i = 0; i < s->ndomains; i++)
		enc_str(e, s->domains[i]);
	enc_close(e);
	enc_kbool(e, "pending", have && strcmp(rel->spec_hash,
	    rec->spec_hash) != 0);
}

void
cmd_site_list(struct req *rq, struct mv *args)
{
	struct site_rec	*v;
	struct enc	 e;
	size_t		 n, i;

	(void)args;
	if (sites_load(&v, &n) == -1) {
		req_fail(rq, E_INTERNAL, "cannot read sites");
		return;
	}
	req_result_begin(rq, &e);
	enc_karr(&e, "sites");
	for (i = 0; i < n; i++) {
		struct site_spec	s;
		struct release_rec	rel;
		char			scope[SITE_NAME_MAX + 8];
		int			have;

		/* Only the sites the caller may view. */
		snprintf(scope, sizeof scope, "site:%s", v[i].name);
		if (!rbac_allowed(rq->user, "view", scope)) {
			site_rec_free(&v[i]);
			continue;
		}
		enc_map_open(&e);
		enc_kstr(&e, "name", v[i].name);
		enc_kstr(&e, "kind", v[i].kind);
		enc_ki64(&e, "release", v[i].current);
		/* What serves: the current release's image and domains. */
		have = serving_spec(&v[i], &rel, &s);
		serving_encode(&e, &v[i], &rel, have, &s);
		if (s.kind == KIND_CONTAINER && s.site[0] != '\0')
			enc_kstr(&e, "image", have ? rel.image : s.image);
		spec_free(&s);
		if (have)
			release_rec_free(&rel);
		site_drift(&e, v[i].name, v[i].current);
		enc_close(&e);
		site_rec_free(&v[i]);
	}
	enc_close(&e);
	free(v);
	req_ok(rq, &e);
}

static void
args_site(struct enc *e, void *arg)
{
	enc_kstr(e, "site", arg);
}

/*
 * What tugd knows of a site beside its hosts' word, for site status and
 * site show: kind, the image a deploy would use and where it comes from,
 * the serving release's domains and TLS, a spec not deployed yet, and the
 * newest releases.
 */
static void
site_summary(struct enc *e, const struct site_rec *rec,
    const struct site_spec *s)
{
	struct release_rec	 rel, *rels = NULL;
	struct site_spec	 rs;
	size_t			 i, nrels = 0;
	int			 have;

	enc_kstr(e, "kind", rec->kind);
	if (s->kind == KIND_CONTAINER) {
		enc_kstr(e, "image", rec->image[0] != '\0' ? rec->image :
		    s->image);
		enc_kstr(e, "image_from", rec->image[0] != '\0' ?
		    "deploy --image" : "spec");
	}
	have = serving_spec(rec, &rel, &rs);
	serving_encode(e, rec, &rel, have, &rs);
	enc_kstr(e, "tls", rs.tls_mode[0] != '\0' ? rs.tls_mode :
	    rs.tls_cert[0] != '\0' ? "files" : "auto");
	if (have) {
		enc_kmap(e, "serving");
		enc_ki64(e, "release", rel.number);
		enc_kstr(e, "image", rel.image);
		enc_kstr(e, "who", rel.who);
		enc_ki64(e, "created_at", rel.created_at);
		enc_close(e);
		release_rec_free(&rel);
	}
	spec_free(&rs);
	enc_karr(e, "releases");
	if (releases_load(rec->id, 5, &rels, &nrels) == 0)
		for (i = 0; i < nrels; i++) {
			enc_map_open(e);
			enc_ki64(e, "release", rels[i].number);
			enc_kstr(e, "image", rels[i].image);
			enc_kstr(e, "status", rels[i].status);
			enc_kstr(e, "who", rels[i].who);
			enc_ki64(e, "created_at", rels[i].created_at);
			enc_close(e);
			release_rec_free(&rels[i]);
		}
	free(rels);
	enc_close(e);
}

void
cmd_site_status(struct req *rq, struct mv *args)
{
	struct site_rec		 rec;
	struct site_spec	 s;
	struct fan_result	*res;
	struct enc		 e;
	char			**hosts;
	size_t			 n, i, k, nc;

	if (site_open(rq, args, &rec, &s) == -1)
		return;
	if (site_targets(rq, &s, &hosts, &n) == -1)
		goto out;
	res = xcalloc(n + 1, sizeof *res);
	fleet_run(rq, hosts, n, "site.status", args_site, rec.name,
	    SITE_OP_TIMEOUT_MS, res);
	req_result_begin(rq, &e);
	enc_kstr(&e, "site", rec.name);
	enc_ki64(&e, "release", rec.current);
	site_summary(&e, &rec, &s);
	enc_karr(&e, "hosts");
	for (i = 0; i < n; i++) {
		struct mv	b, v, row;
		char		tmp[MSG_ERRLEN], sv[IMAGE_REF_MAX + 8];
		uint64_t	u;
		int64_t		code;
		int		oom;

		enc_map_open(&e);
		enc_kstr(&e, "host", res[i].host);
		enc_kbool(&e, "ok", res[i].ok);
		host_drift(&e, rec.name, res[i].host);
		if (!res[i].ok) {
			enc_kstr(&e, "error", res[i].err);
			enc_close(&e);
			continue;
		}
		msg_body(&res[i].m, &b, tmp, "");
		mv_map(&b, "value", &v, 0);
		enc_karr(&e, "containers");
		mv_arr(&v, "containers", &nc, 64, 0);
		for (k = 0; k < nc; k++) {
			if (mv_arr_map(&v, "containers", k, &row) != 1)
				continue;
			enc_map_open(&e);
			if (mv_str(&row, "name", sv, sizeof sv, 0) == 1)
				enc_kstr(&e, "name", sv);
			if (mv_u64(&row, "release", &u, 0) == 1)
				enc_ku64(&e, "release", u);
			if (mv_str(&row, "state", sv, sizeof sv, 0) == 1)
				enc_kstr(&e, "state", sv);
			if (mv_str(&row, "status", sv, sizeof sv, 0) == 1)
				enc_kstr(&e, "status", sv);
			if (mv_str(&row, "health", sv, sizeof sv, 0) == 1)
				enc_kstr(&e, "health", sv);
			if (mv_str(&row, "started_at", sv, sizeof sv, 0) == 1)
				enc_kstr(&e, "started_at", sv);
			if (mv_str(&row, "image", sv, sizeof sv, 0) == 1)
				enc_kstr(&e, "image", sv);
			if (mv_u64(&row, "restarts", &u, 0) == 1)
				enc_ku64(&e, "restarts", u);
			if (mv_i64(&row, "exit_code", &code, 0) == 1)
				enc_ki64(&e, "exit_code", code);
			if (mv_bool(&row, "oom", &oom, 0) == 1 && oom)
				enc_kbool(&e, "oom", 1);
			if (mv_u64(&row, "port", &u, 0) == 1)
				enc_ku64(&e, "port", u);
			enc_close(&e);
		}
		enc_close(&e);
		site_cert_copy(&e, &v);
		enc_close(&e);
	}
	enc_close(&e);
	req_ok(rq, &e);
	fan_results_free(res, n);
	free(res);
	free_names(hosts, n);
out:
	site_rec_free(&rec);
	spec_free(&s);
}

void
cmd_site_rm(struct req *rq, struct mv *args)
{
	static const char *const ops[] = { "site.remove", NULL };

	rollout_hosts(rq, args, ops, 1);
}
