/*
 * cmd-deploy.c: releases and rollouts. A deploy takes the site's lease,
 * makes release N+1 (spec and image frozen in it), and runs the agent's
 * site.apply on the site's hosts in batches of deploy.batch, stopping once
 * failures exceed deploy.max_failures; every host's outcome is recorded. A
 * rollback is a deploy of an earlier release's image and spec.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "controller/tug.h"

#define STATIC_TIMEOUT_MS	(30u * 60 * 1000)

struct apply_args {
	const struct site_spec	*spec;
	int64_t			 release;
	const char		*image;
	struct kv		*env;
	size_t			 nenv;
	int			 pull;		/* the image names a registry */
	char			 server[REGISTRY_SERVER_MAX + 1];
	char			 user[256];	/* its login, if one is held */
	struct buf		 password;
};

static void
args_apply(struct enc *e, void *arg)
{
	const struct apply_args	*a = arg;

	spec_apply_args(a->spec, (uint64_t)a->release, a->image, a->env,
	    a->nenv, e);
	if (!a->pull)
		return;
	enc_kmap(e, "pull");
	if (a->user[0] != '\0') {
		enc_kmap(e, "auth");
		enc_kstr(e, "username", a->user);
		enc_str(e, "password");
		enc_strn(e, a->password.ptr, a->password.len);
		enc_kstr(e, "server", a->server);
		enc_close(e);
	}
	enc_close(e);
}

/*
 * An image whose reference names a registry is pulled by hosts that lack
 * it, with the login tugd holds for that registry, if any. -1: answered.
 */
static int
apply_pull(struct client *c, struct apply_args *a)
{
	int	r;

	if (!(a->pull = registry_of(a->image, a->server, sizeof a->server)))
		return 0;
	if ((r = registry_auth(a->server, a->user, sizeof a->user,
	    &a->password)) == -1) {
		client_fail(c, E_INTERNAL, "cannot open the login for registry "
		    "'%s' (wrong key file?)", a->server);
		return -1;
	}
	if (r == 1)
		client_progress(c, NULL, "pull", "hosts without %s pull it "
		    "from %s as %s", a->image, a->server, a->user);
	return 0;
}

static void
apply_args_free(struct apply_args *a)
{
	if (a->password.ptr != NULL)
		explicit_bzero(a->password.ptr, a->password.alloc);
	buf_release(&a->password);
	kv_free(a->env, a->nenv);
}

/* How long one host may take: its health budget and some slack. */
static uint64_t
apply_timeout(const struct site_spec *s)
{
	return s->health_start_ms + s->health_retries * s->health_interval_ms +
	    s->health_timeout_ms + s->drain_ms + s->stop_timeout_s * 1000 +
	    120000;
}

/*
 * Roll release `number` of the site (spec, image) across its hosts.
 * Answers the client; the caller holds the lease.
 */
void
site_rollout(struct client *c, struct site_rec *rec, const struct site_spec *s,
    const char *spec_text, const char *image, int64_t rollback_of)
{
	struct apply_args	 a;
	struct fan_result	*res;
	struct enc		 e;
	char			**hosts, hash[65];
	size_t			 n, i, k, failed = 0, done = 0;
	int64_t			 rid, number, *dep, tree = 0;
	uint64_t		 t0 = clock_ms();
	int			 stopped = 0;

	memset(&a, 0, sizeof a);
	a.image = image;
	if (site_env(c, rec->id, s, &a.env, &a.nenv) == -1)
		return;
	if ((s->kind == KIND_CONTAINER && apply_pull(c, &a) == -1) ||
	    site_targets(c, s, &hosts, &n) == -1) {
		apply_args_free(&a);
		return;
	}
	sha256_hex(spec_text, strlen(spec_text), hash);
	if ((rid = release_create(rec->id, image, spec_text, hash, c->user,
	    rollback_of, &number)) == -1) {
		client_fail(c, E_INTERNAL, "cannot record a release");
		free_names(hosts, n);
		apply_args_free(&a);
		return;
	}
	if (s->kind == KIND_STATIC && rollback_of == 0) {
		char	from[PATH_MAX_TUG + 64], to[PATH_MAX_TUG + 64];

		static_archive(s->site, 0, from, sizeof from);
		static_archive(s->site, number, to, sizeof to);
		if (rename(from, to) == -1)
			log_warnx("cannot rename %s: %s", from, strerror(errno));
		tree = number;
	} else if (s->kind == KIND_STATIC)
		tree = static_tree(rec->id, rollback_of);
	client_progress(c, NULL, "release", "release %lld of %s: %s on %zu "
	    "host%s, %u at a time", (long long)number, rec->name, image, n,
	    n == 1 ? "" : "s", s->batch);
	a.spec = s;
	a.release = number;
	res = xcalloc(n + 1, sizeof *res);
	dep = xcalloc(n + 1, sizeof *dep);
	for (i = 0; i < n; i += s->batch) {
		size_t	m = n - i < s->batch ? n - i : s->batch;

		if (failed > s->max_failures) {
			stopped = 1;
			break;
		}
		for (k = i; k < i + m; k++)
			dep[k] = deployment_start(rid, hosts[k]);
		if (s->kind == KIND_STATIC)
			static_batch(c, s, tree, rollback_of > 0, hosts + i, m,
			    STATIC_TIMEOUT_MS, res + i);
		else
			fleet_run(c, hosts + i, m, "site.apply", args_apply, &a,
			    apply_timeout(s), res + i);
		for (k = i; k < i + m; k++) {
			uint64_t	port = 0;
			struct mv	b, v;
			char		tmp[MSG_ERRLEN];

			if (res[k].ok) {
				msg_body(&res[k].m, &b, tmp, "");
				if (mv_map(&b, "value", &v, 0) == 1)
					mv_u64(&v, "port", &port, 0);
				done++;
			} else
				failed++;
			deployment_finish(dep[k], res[k].ok ? "done" :
			    "failed", (int64_t)port, res[k].ok ? "" :
			    res[k].err);
			client_progress(c, res[k].host, res[k].ok ? "done" :
			    "failed", "%s in %.1f s%s%s", res[k].ok ?
			    "deployed" : "failed", (double)res[k].ms / 1000,
			    res[k].ok ? "" : ": ", res[k].ok ? "" : res[k].err);
		}
	}
	for (k = i; k < n; k++) {
		int64_t d = deployment_start(rid, hosts[k]);

		deployment_finish(d, "skipped", 0, "rollout stopped after "
		    "too many failures");
		snprintf(res[k].host, sizeof res[k].host, "%s", hosts[k]);
	}
	if (failed == 0) {
		release_finish(rid, "done");
		site_set_current(rec->id, number);
		if (s->kind == KIND_STATIC)
			static_prune(s->site, s->keep, tree);
	} else
		release_finish(rid, "failed");

	if (failed > 0) {
		struct buf	errs = BUF_INIT;

		fan_errors(res, n, &errs);
		client_fail(c, "deploy", "%srelease %lld of %s failed on %zu of "
		    "%zu hosts%s", buf_str(&errs), (long long)number,
		    rec->name, failed, n, stopped ? "; the rollout was stopped "
		    "(max_failures)" : "");
		buf_release(&errs);
	} else {
		client_result_begin(c, &e);
		enc_kstr(&e, "site", rec->name);
		enc_ki64(&e, "release", number);
		enc_kstr(&e, "image", image);
		if (rollback_of > 0)
			enc_ki64(&e, "rollback_of", rollback_of);
		enc_karr(&e, "hosts");
		for (k = 0; k < n; k++) {
			enc_map_open(&e);
			enc_kstr(&e, "host", res[k].host);
			enc_ku64(&e, "ms", res[k].ms);
			enc_close(&e);
		}
		enc_close(&e);
		enc_ku64(&e, "deployed", done);
		enc_ku64(&e, "elapsed_ms", clock_ms() - t0);
		client_ok(c, &e);
	}
	fan_results_free(res, n);
	free(res);
	free(dep);
	free_names(hosts, n);
	apply_args_free(&a);
}

void
cmd_deploy(struct client *c, struct mv *args)
{
	struct site_rec		 rec;
	struct site_spec	 s;
	char			 image[IMAGE_REF_MAX + 8] = "", who[160], e[128];
	const char		*why;

	if (site_open(c, args, &rec, &s) == -1)
		return;
	if (mv_str(args, "image", image, sizeof image, 0) == -1) {
		client_fail(c, E_BAD_ARGS, "%s", args->err);
		goto out;
	}
	if (image[0] != '\0' && (why = check_image_ref(image)) != NULL) {
		client_fail(c, E_BAD_ARGS, "invalid image reference '%s': %s",
		    log_escape(e, sizeof e, image, strlen(image)), why);
		goto out;
	}
	if (s.kind == KIND_STATIC && image[0] != '\0') {
		client_fail(c, E_BAD_ARGS, "'%s' is a static site: it has no "
		    "image (a deploy ships its root directory)", rec.name);
		goto out;
	}
	if (site_lease(c, rec.name, who, sizeof who) == -1)
		goto out;
	if (s.kind == KIND_STATIC) {
		if (static_prepare(c, &rec, &s, image, sizeof image) == 0)
			site_rollout(c, &rec, &s, rec.spec, image, 0);
	} else
		site_rollout(c, &rec, &s, rec.spec, image[0] != '\0' ? image :
		    s.image, 0);
	lock_drop(rec.name, who);
out:
	site_rec_free(&rec);
	spec_free(&s);
}

void
cmd_rollback(struct client *c, struct mv *args)
{
	struct site_rec		 rec;
	struct site_spec	 s, rs;
	struct release_rec	*rels = NULL, target;
	size_t			 n = 0, i;
	uint64_t		 want = 0;
	char			 who[160], err[600];
	int			 found = 0;

	if (site_open(c, args, &rec, &s) == -1)
		return;
	if (mv_u64(args, "release", &want, 0) == -1) {
		client_fail(c, E_BAD_ARGS, "%s", args->err);
		goto out;
	}
	releases_load(rec.id, &rels, &n);
	/* Default: the newest good release before the serving one. */
	for (i = 0; i < n && !found; i++) {
		if (want != 0 ? rels[i].number == (int64_t)want :
		    rels[i].number < rec.current &&
		    strcmp(rels[i].status, "done") == 0) {
			target = rels[i];
			target.spec = xstrdup(rels[i].spec);
			found = 1;
		}
	}
	if (!found) {
		if (want != 0)
			client_fail(c, E_NOT_FOUND, "site '%s' has no release "
			    "%llu", rec.name, (unsigned long long)want);
		else
			client_fail(c, E_NOT_FOUND, "site '%s' has no earlier "
			    "good release to roll back to", rec.name);
		goto out;
	}
	if (spec_parse(rec.file, target.spec, strlen(target.spec), &rs, err,
	    sizeof err) == -1) {
		client_fail(c, "spec", "release %lld's spec no longer parses: "
		    "%s", (long long)target.number, err);
		spec_free(&rs);
		free(target.spec);
		goto out;
	}
	if (site_lease(c, rec.name, who, sizeof who) == 0) {
		client_progress(c, NULL, "rollback", "rolling %s back to "
		    "release %lld (%s)", rec.name, (long long)target.number,
		    target.image);
		site_rollout(c, &rec, &rs, target.spec, target.image, target.number);
		lock_drop(rec.name, who);
	}
	spec_free(&rs);
	free(target.spec);
out:
	for (i = 0; i < n; i++)
		release_rec_free(&rels[i]);
	free(rels);
	site_rec_free(&rec);
	spec_free(&s);
}

void
cmd_releases(struct client *c, struct mv *args)
{
	struct site_rec		 rec;
	struct site_spec	 s;
	struct release_rec	*rels;
	struct enc		 e;
	size_t			 n, i;

	if (site_open(c, args, &rec, &s) == -1)
		return;
	if (releases_load(rec.id, &rels, &n) == -1) {
		client_fail(c, E_INTERNAL, "cannot read releases");
		goto out;
	}
	client_result_begin(c, &e);
	enc_kstr(&e, "site", rec.name);
	enc_ki64(&e, "current", rec.current);
	enc_karr(&e, "releases");
	for (i = 0; i < n; i++) {
		enc_map_open(&e);
		enc_ki64(&e, "release", rels[i].number);
		enc_kstr(&e, "image", rels[i].image);
		enc_kstr(&e, "status", rels[i].status);
		enc_kstr(&e, "who", rels[i].who);
		enc_ki64(&e, "created_at", rels[i].created_at);
		enc_ki64(&e, "finished_at", rels[i].finished_at);
		if (rels[i].rollback_of > 0)
			enc_ki64(&e, "rollback_of", rels[i].rollback_of);
		enc_kbool(&e, "current", rels[i].number == rec.current);
		enc_close(&e);
		release_rec_free(&rels[i]);
	}
	enc_close(&e);
	free(rels);
	client_ok(c, &e);
out:
	site_rec_free(&rec);
	spec_free(&s);
}

void
cmd_site_start(struct client *c, struct mv *args)
{
	static const char *const ops[] = { "site.start", NULL };

	site_fan(c, args, ops, 0);
}

void
cmd_site_stop(struct client *c, struct mv *args)
{
	static const char *const ops[] = { "site.stop", NULL };

	site_fan(c, args, ops, 0);
}

void
cmd_site_restart(struct client *c, struct mv *args)
{
	static const char *const ops[] = { "site.stop", "site.start", NULL };

	site_fan(c, args, ops, 0);
}
