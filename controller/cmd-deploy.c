/*
 * cmd-deploy.c: the release ops. deploy rolls the stored spec out as a new
 * release (with --image, another image), rollback an earlier release's
 * spec and image, restart the serving one's again, all through the
 * rollout engine (rollout.c); releases lists them; start and stop run
 * agent ops on every host.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "controller/request.h"
#include "controller/tug.h"

void
cmd_deploy(struct req *rq, struct mv *args)
{
	struct site_rec		 rec;
	struct site_spec	 s;
	struct rollout_plan	 plan = { 0 };
	char			 image[IMAGE_REF_MAX + 8] = "", e[128];
	const char		*why;

	if (site_open(rq, args, &rec, &s) == -1)
		return;
	if (mv_str(args, "image", image, sizeof image, 0) == -1) {
		req_fail(rq, E_BAD_ARGS, "%s", args->err);
		goto out;
	}
	if (image[0] != '\0' && (why = check_image_ref(image)) != NULL) {
		req_fail(rq, E_BAD_ARGS, "invalid image reference '%s': %s",
		    log_escape(e, sizeof e, image, strlen(image)), why);
		goto out;
	}
	if (s.kind == KIND_STATIC && image[0] != '\0') {
		req_fail(rq, E_BAD_ARGS, "'%s' is a static site: it has no "
		    "image (a deploy ships its root directory)", rec.name);
		goto out;
	}
	plan.spec = &s;
	plan.spec_text = rec.spec;
	/*
	 * --image becomes the site's image once it serves: a plain deploy
	 * after it never goes back to the spec's older one. site apply with
	 * a new image: hands the choice back to the spec.
	 */
	if (image[0] != '\0') {
		plan.image = image;
		plan.set_image = 1;
	} else if (rec.image[0] != '\0') {
		plan.image = rec.image;
		req_progress(rq, NULL, "image", "image %s, which deploy --image "
		    "set (the spec says %s; a spec with a new image: takes "
		    "over)", rec.image, s.image);
	}
	rollout_release(rq, &rec, &plan);
out:
	site_rec_free(&rec);
	spec_free(&s);
}

/*
 * A new release from target's spec and image: a rollback (an earlier
 * release), or a restart (the serving one again, in a fresh container,
 * through the whole deploy sequence: health-gated, switched, drained).
 */
static void
release_again(struct req *rq, struct site_rec *rec,
    const struct release_rec *target, const char *step)
{
	struct site_spec	 rs;
	struct rollout_plan	 plan = { 0 };
	char			 err[600], note[512];

	if (spec_parse(rec->file, target->spec, strlen(target->spec), &rs, err,
	    sizeof err) == -1) {
		req_fail(rq, "spec", "release %lld's spec no longer parses: "
		    "%s", (long long)target->number, err);
		spec_free(&rs);
		return;
	}
	acme_fill(&rs);
	if (strcmp(step, "restart") == 0)
		snprintf(note, sizeof note, "restarting %s: release %lld (%s) "
		    "again, in a fresh container", rec->name,
		    (long long)target->number, target->image);
	else
		snprintf(note, sizeof note, "rolling %s back to release %lld "
		    "(%s)", rec->name, (long long)target->number,
		    target->image);
	plan.spec = &rs;
	plan.spec_text = target->spec;
	plan.image = target->image;
	plan.rollback_of = target->number;
	plan.step = step;
	plan.note = note;
	rollout_release(rq, rec, &plan);
	spec_free(&rs);
}

void
cmd_rollback(struct req *rq, struct mv *args)
{
	struct site_rec		 rec;
	struct site_spec	 s;
	struct release_rec	*rels = NULL, target;
	size_t			 n = 0, i;
	uint64_t		 want = 0;
	int			 found = 0;

	if (site_open(rq, args, &rec, &s) == -1)
		return;
	if (mv_u64(args, "release", &want, 0) == -1) {
		req_fail(rq, E_BAD_ARGS, "%s", args->err);
		goto out;
	}
	releases_load(rec.id, -1, &rels, &n);
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
			req_fail(rq, E_NOT_FOUND, "site '%s' has no release "
			    "%llu", rec.name, (unsigned long long)want);
		else
			req_fail(rq, E_NOT_FOUND, "site '%s' has no earlier "
			    "good release to roll back to", rec.name);
		goto out;
	}
	/* Only a release that served: a failed one would fail again. */
	if (strcmp(target.status, "done") != 0) {
		req_fail(rq, E_BAD_ARGS, "release %lld of %s is %s, not one "
		    "that served: roll back to a done release (tug releases "
		    "%s)", (long long)target.number, rec.name, target.status,
		    rec.name);
		free(target.spec);
		goto out;
	}
	release_again(rq, &rec, &target, "rollback");
	free(target.spec);
out:
	for (i = 0; i < n; i++)
		release_rec_free(&rels[i]);
	free(rels);
	site_rec_free(&rec);
	spec_free(&s);
}

void
cmd_releases(struct req *rq, struct mv *args)
{
	struct site_rec		 rec;
	struct site_spec	 s;
	struct release_rec	*rels;
	struct enc		 e;
	size_t			 n, i;

	if (site_open(rq, args, &rec, &s) == -1)
		return;
	if (releases_load(rec.id, -1, &rels, &n) == -1) {
		req_fail(rq, E_INTERNAL, "cannot read releases");
		goto out;
	}
	req_result_begin(rq, &e);
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
	req_ok(rq, &e);
out:
	site_rec_free(&rec);
	spec_free(&s);
}

void
cmd_site_start(struct req *rq, struct mv *args)
{
	static const char *const ops[] = { "site.start", NULL };

	rollout_hosts(rq, args, ops, 0);
}

void
cmd_site_stop(struct req *rq, struct mv *args)
{
	static const char *const ops[] = { "site.stop", NULL };

	rollout_hosts(rq, args, ops, 0);
}

/*
 * restart: a container site's serving release again, as a new release
 * (release_again), so that it loses no request; stop and start are
 * plain agent ops and do not promise that. A static site has no
 * container: its hosts' stop and start.
 */
void
cmd_site_restart(struct req *rq, struct mv *args)
{
	static const char *const ops[] = { "site.stop", "site.start", NULL };
	struct site_rec		 rec;
	struct site_spec	 s;
	struct release_rec	 cur;

	if (site_open(rq, args, &rec, &s) == -1)
		return;
	if (s.kind == KIND_STATIC)
		rollout_hosts(rq, args, ops, 0);
	else if (rec.current == 0 || release_load(rec.id, rec.current,
	    &cur) != 1)
		req_fail(rq, E_NOT_FOUND, "site '%s' has no serving release "
		    "to restart: tug deploy %s", rec.name, rec.name);
	else {
		release_again(rq, &rec, &cur, "restart");
		release_rec_free(&cur);
	}
	site_rec_free(&rec);
	spec_free(&s);
}

/* One host's part, once it changed since the last look (state "" first). */
static void
follow_report(struct req *rq, const struct deploy_rec *d, char *seen,
    size_t seensz)
{
	if (strcmp(seen, d->state) == 0)
		return;
	snprintf(seen, seensz, "%s", d->state);
	if (strcmp(d->state, "running") == 0)
		req_progress(rq, d->host, "host", "rolling out");
	else if (strcmp(d->state, "done") == 0)
		req_progress(rq, d->host, "done", "deployed in %lld s",
		    (long long)(d->finished_at - d->started_at));
	else
		req_progress(rq, d->host, d->state, "%s%s%s", d->state,
		    d->error[0] != '\0' ? ": " : "", d->error);
}

/*
 * The end of a followed release, as the deploy's own answer would be:
 * its result when it went out, its hosts' errors when it failed.
 */
static void
follow_answer(struct req *rq, const struct site_rec *rec,
    const struct release_rec *rel, uint64_t t0)
{
	struct deploy_rec	*d;
	struct buf		 errs = BUF_INIT;
	struct enc		 e;
	size_t			 n, i, done = 0, failed = 0;

	if (deployments_load(rel->id, &d, &n) == -1) {
		req_fail(rq, E_INTERNAL, "cannot read the deployments of "
		    "release %lld", (long long)rel->number);
		return;
	}
	for (i = 0; i < n; i++) {
		done += strcmp(d[i].state, "done") == 0;
		if (strcmp(d[i].state, "failed") == 0) {
			failed++;
			buf_addf(&errs, "%s\n", d[i].error);
		}
	}
	if (strcmp(rel->status, "done") != 0)
		req_fail(rq, "deploy", "%srelease %lld of %s %s on %zu of %zu "
		    "hosts", buf_str(&errs), (long long)rel->number, rec->name,
		    rel->status, failed, n);
	else {
		req_result_begin(rq, &e);
		enc_kstr(&e, "site", rec->name);
		enc_ki64(&e, "release", rel->number);
		enc_kstr(&e, "image", rel->image);
		if (rel->rollback_of > 0)
			enc_ki64(&e, "rollback_of", rel->rollback_of);
		enc_kstr(&e, "kind", "follow");
		enc_ku64(&e, "deployed", done);
		enc_ku64(&e, "elapsed_ms", clock_ms() - t0);
		req_ok(rq, &e);
	}
	buf_release(&errs);
	free(d);
}

/*
 * deploy --follow SITE: the newest release of the site as it rolls out in
 * tugd, host by host, to its end; a deploy whose tug was stopped (Ctrl-C,
 * --detach, a lost terminal) goes on, and this is how to watch it again.
 * Needs only view: it reads what the deploy records.
 */
void
cmd_deploy_follow(struct req *rq, struct mv *args)
{
	struct site_rec		 rec;
	struct site_spec	 s;
	struct release_rec	 rel;
	struct deploy_rec	*d;
	char			(*seen)[16] = NULL;
	size_t			 n, nseen = 0, i;
	uint64_t		 t0 = clock_ms();
	int			 r, first = 1;

	if (site_open(rq, args, &rec, &s) == -1)
		return;
	if (mv_present(args, "image")) {
		req_fail(rq, E_BAD_ARGS, "--follow watches the deploy running "
		    "now: it takes no --image");
		goto out;
	}
	for (;;) {
		if ((r = release_newest(rec.id, &rel)) != 1) {
			if (r == 0)
				req_fail(rq, E_NOT_FOUND, "site '%s' has no "
				    "release yet: tug deploy %s", rec.name,
				    rec.name);
			else
				req_fail(rq, E_INTERNAL, "cannot read releases");
			goto out;
		}
		if (first) {
			req_progress(rq, NULL, "release", "release %lld of %s "
			    "(%s, by %s): %s", (long long)rel.number, rec.name,
			    rel.image, rel.who, strcmp(rel.status,
			    "deploying") == 0 ? "rolling out, followed" :
			    "no deploy is running; this is how the last ended");
			first = 0;
		}
		if (deployments_load(rel.id, &d, &n) == -1)
			n = 0;
		if (n > nseen) {
			seen = xrealloc(seen, n * sizeof *seen);
			memset(seen + nseen, 0, (n - nseen) * sizeof *seen);
			nseen = n;
		}
		for (i = 0; i < n; i++)
			follow_report(rq, &d[i], seen[i], sizeof seen[i]);
		free(d);
		if (strcmp(rel.status, "deploying") != 0)
			break;
		release_rec_free(&rel);
		{
			struct pollfd	pfd = { req_wait_fd(rq), POLLIN, 0 };

			if (poll(&pfd, 1, 250) == 1 && req_cancelled(rq)) {
				req_fail(rq, "cancelled", "stopped following; "
				    "the deploy goes on in tugd");
				goto out;
			}
		}
	}
	follow_answer(rq, &rec, &rel, t0);
	release_rec_free(&rel);
out:
	free(seen);
	site_rec_free(&rec);
	spec_free(&s);
}
