/*
 * rollout.c: the one engine that moves a site, used by deploy, rollback,
 * env changes and start/stop/restart/rm. Under the site's lease it makes
 * release N+1 (spec and image frozen in it) and hands it to a strategy:
 * today "hosts", the agent's site.apply (or static.apply) on the site's
 * hosts in batches of deploy.batch, stopping once failures exceed
 * deploy.max_failures, every host's outcome recorded; a Docker Swarm
 * service update would be a second entry in the strategy table. The
 * release is done, and serving, only if every host took it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "controller/request.h"
#include "controller/tug.h"

#define SITE_OP_TIMEOUT_MS	60000
#define STATIC_TIMEOUT_MS	(30u * 60 * 1000)

struct apply_args {
	const struct site_spec	*spec;
	int64_t			 release;
	const char		*image;
	struct kv		*env;
	size_t			 nenv;
	char			**legacy;	/* volume names kept (schema 6) */
	size_t			 nlegacy;
	char			**keep;		/* images the hosts keep */
	size_t			 nkeep;
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
	    a->nenv, a->legacy, a->nlegacy, e);
	if (a->nkeep > 0)
		enc_strv(e, "keep_images", a->keep, a->nkeep);
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
apply_pull(struct req *rq, const struct site_spec *s, struct apply_args *a)
{
	char	scope[SCOPE_MAX + 1];
	int	r;

	if (!(a->pull = registry_of(a->image, a->server, sizeof a->server)))
		return 0;
	if ((r = registry_auth(a->server, s->site, s->group, a->user,
	    sizeof a->user, &a->password, scope, sizeof scope)) == -1) {
		req_fail(rq, E_INTERNAL, "cannot open the login for registry "
		    "'%s' (wrong key file?)", a->server);
		return -1;
	}
	if (r == 1)
		req_progress(rq, NULL, "pull", "hosts without %s pull it "
		    "from %s as %s", a->image, a->server, a->user);
	if (r == 2) {
		a->user[0] = '\0';
		req_progress(rq, NULL, "pull", "the login for %s is for %s, "
		    "not site %s: hosts pull %s without it", a->server, scope,
		    s->site, a->image);
	}
	return 0;
}

static void
apply_args_free(struct apply_args *a)
{
	if (a->password.ptr != NULL)
		explicit_bzero(a->password.ptr, a->password.alloc);
	buf_release(&a->password);
	kv_free(a->env, a->nenv);
	free_names(a->legacy, a->nlegacy);
	free_names(a->keep, a->nkeep);
}

/*
 * deploy.keep for images: the release's own image and those of the site's
 * newest keep - 1 releases before it that went out. Each host removes the
 * images it brought (loaded or pulled) that no site there keeps any more.
 */
static int
apply_keep(struct req *rq, const struct site_rec *rec,
    const struct site_spec *s, int64_t number, struct apply_args *a)
{
	size_t	i;

	if (s->kind != KIND_CONTAINER)
		return 0;
	if (release_images_kept(rec->id, number, s->keep, &a->keep,
	    &a->nkeep) == -1) {
		req_fail(rq, E_INTERNAL, "cannot read the releases of '%s'",
		    rec->name);
		return -1;
	}
	for (i = 0; i < a->nkeep; i++)
		if (strcmp(a->keep[i], a->image) == 0)
			return 0;
	a->keep = xrealloc(a->keep, (a->nkeep + 1) * sizeof *a->keep);
	a->keep[a->nkeep++] = xstrdup(a->image);
	return 0;
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
 * The tests' fault hook in tugd (docs/architecture.md, "Faults"):
 * TUG_FAULT=tugd:POINT in tugd's environment makes it _exit at POINT, as
 * a kill -9 there would. Points: after-release (the row made, no host
 * asked yet), before-finish (every host answered, the row not updated).
 */
void
tugd_fault(const char *point)
{
	const char	*f = getenv("TUG_FAULT");

	if (f != NULL && strncmp(f, "tugd:", 5) == 0 &&
	    strcmp(f + 5, point) == 0) {
		log_warnx("fault injected at %s: exiting", point);
		_exit(86);
	}
}

/* One rollout of one release, as the strategies see it. */
struct rollout {
	struct req		 *rq;
	struct site_rec		 *site;
	const struct site_spec	 *spec;
	struct apply_args	  apply;	/* container sites */
	int64_t			  rid;		/* the release's row */
	int64_t			  number;
	int64_t			  tree;		/* static sites: whose files */
	int64_t			  rollback_of;
	const char		 *kind;		/* deploy, rollback, restart */
	struct buf		  changes;	/* from the serving release */
	char			**hosts;
	size_t			  n;
	struct fan_result	 *res;		/* one per host */
	int64_t			 *dep;		/* its deployments row */
	size_t			  failed;
	size_t			  done;
	int			  stopped;	/* max_failures was passed */
};

/* How a release reaches its hosts; each fills res[] and the counts. */
struct rollout_strategy {
	const char	*name;
	void		(*run)(struct rollout *);
};

/* The kind's agent op on one batch of hosts. */
static void
apply_batch(struct rollout *ro, char **hosts, size_t m, struct fan_result *res)
{
	const struct site_spec	*s = ro->spec;

	if (s->kind == KIND_STATIC)
		static_batch(ro->rq, s, ro->tree, ro->rollback_of > 0, hosts, m,
		    STATIC_TIMEOUT_MS, res);
	else
		fleet_run(ro->rq, hosts, m, "site.apply", args_apply,
		    &ro->apply, apply_timeout(s), res);
}

/* Record and report a batch's outcome, host by host. */
static void
batch_done(struct rollout *ro, size_t from, size_t m)
{
	struct fan_result	*res = ro->res;
	size_t			 k;

	for (k = from; k < from + m; k++) {
		uint64_t	port = 0;
		struct mv	b, v;
		char		tmp[MSG_ERRLEN];

		if (res[k].ok) {
			msg_body(&res[k].m, &b, tmp, "");
			if (mv_map(&b, "value", &v, 0) == 1)
				mv_u64(&v, "port", &port, 0);
			ro->done++;
		} else
			ro->failed++;
		deployment_finish(ro->dep[k], res[k].ok ? "done" : "failed",
		    (int64_t)port, res[k].ok ? "" : res[k].err);
		req_progress(ro->rq, res[k].host, res[k].ok ? "done" :
		    "failed", "%s in %.1f s%s%s", res[k].ok ? "deployed" :
		    "failed", (double)res[k].ms / 1000, res[k].ok ? "" : ": ",
		    res[k].ok ? "" : res[k].err);
	}
}

/* Per host, deploy.batch hosts at a time, until max_failures is passed. */
static void
strategy_hosts(struct rollout *ro)
{
	const struct site_spec	*s = ro->spec;
	size_t			 i, k;

	for (i = 0; i < ro->n; i += s->batch) {
		size_t	m = ro->n - i < s->batch ? ro->n - i : s->batch;

		if (ro->failed > s->max_failures) {
			ro->stopped = 1;
			break;
		}
		for (k = i; k < i + m; k++)
			ro->dep[k] = deployment_start(ro->rid, ro->hosts[k]);
		apply_batch(ro, ro->hosts + i, m, ro->res + i);
		batch_done(ro, i, m);
	}
	for (k = i; k < ro->n; k++) {
		int64_t d = deployment_start(ro->rid, ro->hosts[k]);

		deployment_finish(d, "skipped", 0, "rollout stopped after "
		    "too many failures");
		snprintf(ro->res[k].host, sizeof ro->res[k].host, "%s",
		    ro->hosts[k]);
	}
}

static const struct rollout_strategy strategies[] = {
	{ "hosts", strategy_hosts },
};

static const struct rollout_strategy *
strategy_for(const struct site_spec *s)
{
	(void)s;
	return &strategies[0];
}

/* The release's files for a static site: packed now, or an earlier one. */
static void
static_begin(struct rollout *ro)
{
	const struct site_spec	*s = ro->spec;
	char			 from[PATH_MAX_TUG + 64], to[PATH_MAX_TUG + 64];

	if (s->kind != KIND_STATIC)
		return;
	if (ro->rollback_of == 0) {
		static_archive(s->site, 0, from, sizeof from);
		static_archive(s->site, ro->number, to, sizeof to);
		if (rename(from, to) == -1)
			log_warnx("cannot rename %s: %s", from, strerror(errno));
		ro->tree = ro->number;
	} else
		ro->tree = static_tree(ro->site->id, ro->rollback_of);
}

static void
answer(struct rollout *ro, const char *image, uint64_t t0)
{
	struct enc	e;
	size_t		k;

	if (ro->failed > 0) {
		struct buf	errs = BUF_INIT;

		fan_errors(ro->res, ro->n, &errs);
		req_fail(ro->rq, "deploy", "%srelease %lld of %s failed on %zu "
		    "of %zu hosts%s", buf_str(&errs), (long long)ro->number,
		    ro->site->name, ro->failed, ro->n, ro->stopped ? "; the "
		    "rollout was stopped (max_failures)" : "");
		buf_release(&errs);
		return;
	}
	req_result_begin(ro->rq, &e);
	enc_kstr(&e, "site", ro->site->name);
	enc_ki64(&e, "release", ro->number);
	enc_kstr(&e, "image", image);
	if (ro->rollback_of > 0)
		enc_ki64(&e, "rollback_of", ro->rollback_of);
	enc_kstr(&e, "kind", ro->kind);
	if (ro->changes.len > 0)
		enc_kstr(&e, "changes", buf_str(&ro->changes));
	enc_karr(&e, "hosts");
	for (k = 0; k < ro->n; k++) {
		enc_map_open(&e);
		enc_kstr(&e, "host", ro->res[k].host);
		enc_ku64(&e, "ms", ro->res[k].ms);
		enc_close(&e);
	}
	enc_close(&e);
	enc_ku64(&e, "deployed", ro->done);
	enc_ku64(&e, "elapsed_ms", clock_ms() - t0);
	req_ok(ro->rq, &e);
}

/*
 * A heal (drift.c): the serving release, on one of the site's hosts only,
 * as one more deployment of it; no new release. -1: answered.
 */
static int
heal_begin(struct req *rq, const struct site_rec *rec, const char *host,
    struct rollout *ro)
{
	struct release_rec	rel;

	if (!strv_has(ro->hosts, ro->n, host)) {
		req_fail(rq, E_NOT_FOUND, "host '%s' no longer serves site '%s'",
		    host, rec->name);
		return -1;
	}
	if (rec->current == 0 || release_load(rec->id, rec->current,
	    &rel) != 1) {
		req_fail(rq, E_NOT_FOUND, "site '%s' has no serving release",
		    rec->name);
		return -1;
	}
	ro->rid = rel.id;
	ro->number = rel.number;
	release_rec_free(&rel);
	free_names(ro->hosts, ro->n);
	ro->hosts = xcalloc(2, sizeof *ro->hosts);
	ro->hosts[0] = xstrdup(host);
	ro->n = 1;
	return 0;
}

static void
args_image_ref(struct enc *e, void *arg)
{
	enc_kstr(e, "ref", arg);
}

/*
 * Before a release number is taken: an image that no registry supplies
 * must be on every host already. Hosts that do not answer are left to the
 * rollout, which says so; a host that answers "no such image" stops the
 * deploy here, and no number is used up. -1: answered.
 */
static int
image_precheck(struct req *rq, const struct site_rec *rec, const char *image,
    char **hosts, size_t n)
{
	struct fan_result	*res = xcalloc(n + 1, sizeof *res);
	struct buf		 missing = BUF_INIT;
	size_t			 i, k = 0;

	fleet_run(rq, hosts, n, "image.inspect", args_image_ref,
	    (void *)image, 30000, res);
	for (i = 0; i < n; i++)
		if (fan_not_found(&res[i]) && k++ < 8)
			buf_addf(&missing, "%s%s", k > 1 ? ", " : "",
			    res[i].host);
	if (k > 8)
		buf_addf(&missing, " and %zu more", k - 8);
	if (k > 0)
		req_fail(rq, E_NOT_FOUND, "image %s is not on %s: push it "
		    "there first (tug image push %s --site %s), or deploy an "
		    "image that names its registry. No release was made",
		    image, buf_str(&missing), image, rec->name);
	buf_release(&missing);
	fan_results_free(res, n);
	free(res);
	return k > 0 ? -1 : 0;
}

/* The domains of a spec, comma-separated, for a change line. */
static void
domains_str(const struct site_spec *s, struct buf *out)
{
	size_t	i;

	for (i = 0; i < s->ndomains; i++)
		buf_addf(out, "%s%s", i > 0 ? "," : "", s->domains[i]);
	if (s->ndomains == 0)
		buf_addstr(out, "(none)");
}

/*
 * The other settings a and b differ in, by name ("health", "env A"),
 * each once: the lines of spec_lines() that one has and the other not.
 */
static void
other_changes(const struct site_spec *a, const struct site_spec *b,
    struct buf *out)
{
	struct buf	 la = BUF_INIT, lb = BUF_INIT, names = BUF_INIT;
	const char	*p, *nl, *texts[2], *others[2];
	size_t		 k, klen;

	spec_lines(a, &la, 1, NULL);
	spec_lines(b, &lb, 1, a);
	texts[0] = buf_str(&la), others[0] = buf_str(&lb);
	texts[1] = buf_str(&lb), others[1] = buf_str(&la);
	for (k = 0; k < 2; k++)
		for (p = texts[k]; (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
			char	key[80];

			if (has_line(others[k], p, (size_t)(nl - p)))
				continue;
			klen = strcspn(p, ":\n");
			snprintf(key, sizeof key, "%.*s", (int)klen, p);
			if (strcmp(key, "image") == 0 ||
			    strcmp(key, "port") == 0 ||
			    strcmp(key, "domain") == 0)
				continue;
			if (has_line(buf_str(&names), key, strlen(key)))
				continue;
			buf_addf(&names, "%s\n", key);
		}
	for (p = buf_str(&names); (nl = strchr(p, '\n')) != NULL; p = nl + 1)
		buf_addf(out, "%s%.*s", p != buf_str(&names) ? ", " :
		    out->len > 0 ? "; settings: " : "settings: ", (int)(nl - p),
		    p);
	buf_release(&la);
	buf_release(&lb);
	buf_release(&names);
}

/*
 * What a release of image and spec_text changes from release from, for
 * people: "image A -> B; domains X -> Y; port P -> Q; settings: health,
 * env A", or nothing when it is the same release again.
 */
void
release_changes(const struct release_rec *from, const char *image,
    const char *spec_text, const char *file, struct buf *out)
{
	struct site_spec	a, b;
	char			err[600];
	size_t			len;

	if (strcmp(from->image, image) != 0)
		buf_addf(out, "image %s -> %s", from->image, image);
	if (strcmp(from->spec, spec_text) == 0)
		return;
	len = out->len;
	memset(&a, 0, sizeof a);
	memset(&b, 0, sizeof b);
	if (spec_parse(file, from->spec, strlen(from->spec), &a, err,
	    sizeof err) == 0 && spec_parse(file, spec_text, strlen(spec_text),
	    &b, err, sizeof err) == 0) {
		struct buf	da = BUF_INIT, dn = BUF_INIT;

		domains_str(&a, &da);
		domains_str(&b, &dn);
		if (strcmp(buf_str(&da), buf_str(&dn)) != 0)
			buf_addf(out, "%sdomains %s -> %s", out->len ? "; " :
			    "", buf_str(&da), buf_str(&dn));
		if (a.port != b.port)
			buf_addf(out, "%sport %u -> %u", out->len ? "; " : "",
			    a.port, b.port);
		buf_release(&da);
		buf_release(&dn);
		other_changes(&a, &b, out);
	}
	spec_free(&a);
	spec_free(&b);
	if (out->len == len)	/* only the text: comments, order */
		buf_addf(out, "%sthe spec's text", out->len ? "; " : "");
}

/* The release, from env to its answer; the caller holds the lease. */
static void
roll(struct req *rq, struct site_rec *rec, const struct rollout_plan *p,
    const char *image, const char *lease)
{
	const struct site_spec	*s = p->spec;
	struct rollout		 ro;
	char			 hash[SHA256_HEX_LEN + 1];
	uint64_t		 t0 = clock_ms();

	memset(&ro, 0, sizeof ro);
	ro.rq = rq;
	ro.site = rec;
	ro.spec = s;
	ro.rollback_of = p->rollback_of;
	ro.kind = p->step != NULL ? p->step : "deploy";
	ro.apply.image = image;
	if (site_env(rq, rec->id, s, &ro.apply.env, &ro.apply.nenv) == -1)
		return;
	if (legacy_volumes_load(rec->id, &ro.apply.legacy,
	    &ro.apply.nlegacy) == -1) {
		req_fail(rq, E_INTERNAL, "cannot read the volumes of '%s'",
		    rec->name);
		apply_args_free(&ro.apply);
		return;
	}
	if ((s->kind == KIND_CONTAINER && apply_pull(rq, s, &ro.apply) == -1) ||
	    site_targets(rq, s, &ro.hosts, &ro.n) == -1) {
		apply_args_free(&ro.apply);
		return;
	}
	if (s->kind == KIND_CONTAINER && !ro.apply.pull &&
	    p->heal_host == NULL && image_precheck(rq, rec, image, ro.hosts,
	    ro.n) == -1) {
		free_names(ro.hosts, ro.n);
		apply_args_free(&ro.apply);
		return;
	}
	sha256_hex(p->spec_text, strlen(p->spec_text), hash);
	if (p->heal_host != NULL) {
		if (heal_begin(rq, rec, p->heal_host, &ro) == -1) {
			free_names(ro.hosts, ro.n);
			apply_args_free(&ro.apply);
			return;
		}
	} else if ((ro.rid = release_create(rec->id, image, p->spec_text, hash,
	    rq->user, p->rollback_of, &ro.number)) == -1) {
		req_fail(rq, E_INTERNAL, "cannot record a release");
		free_names(ro.hosts, ro.n);
		apply_args_free(&ro.apply);
		return;
	}
	if (apply_keep(rq, rec, s, ro.number, &ro.apply) == -1) {
		release_finish(ro.rid, "failed");
		free_names(ro.hosts, ro.n);
		apply_args_free(&ro.apply);
		return;
	}
	static_begin(&ro);
	if (p->heal_host == NULL && rec->current != 0 &&
	    strcmp(ro.kind, "restart") != 0) {
		struct release_rec	cur;

		if (release_load(rec->id, rec->current, &cur) == 1) {
			release_changes(&cur, image, p->spec_text, rec->file,
			    &ro.changes);
			req_progress(rq, NULL, "changes", "changes from release "
			    "%lld: %s%s", (long long)cur.number,
			    ro.changes.len > 0 ? buf_str(&ro.changes) : "none "
			    "(the same image and spec, a fresh container)",
			    ro.rollback_of > 0 ? "; env stays as it is set now"
			    : "");
			release_rec_free(&cur);
		}
	}
	req_progress(rq, NULL, "release", "release %lld of %s: %s on %zu "
	    "host%s, %u at a time", (long long)ro.number, rec->name, image,
	    ro.n, ro.n == 1 ? "" : "s", s->batch);
	if (p->heal_host == NULL) {	/* tug deploy --detach may go now */
		struct enc	e;

		req_event_begin(rq, &e, "release");
		enc_kstr(&e, "site", rec->name);
		enc_ki64(&e, "release", ro.number);
		enc_kstr(&e, "image", image);
		enc_ku64(&e, "hosts", ro.n);
		req_event(rq, &e);
	}
	ro.apply.spec = s;
	ro.apply.release = ro.number;
	ro.res = xcalloc(ro.n + 1, sizeof *ro.res);
	ro.dep = xcalloc(ro.n + 1, sizeof *ro.dep);
	tugd_fault("after-release");
	strategy_for(s)->run(&ro);
	tugd_fault("before-finish");
	if (p->heal_host != NULL)
		;			/* the release is as it was */
	else if (ro.failed == 0) {
		release_finish(ro.rid, "done");
		site_set_current(rec->id, ro.number);
		if (p->set_image)
			site_set_image(rec->id, strcmp(image, s->image) == 0 ?
			    "" : image);
		if (s->kind == KIND_STATIC)
			static_prune(s->site, s->keep, ro.tree);
	} else
		release_finish(ro.rid, "failed");
	/* Free before the answer: the user's next command may need it. */
	lock_drop(rec->name, lease);
	answer(&ro, image, t0);
	fan_results_free(ro.res, ro.n);
	free(ro.res);
	free(ro.dep);
	free_names(ro.hosts, ro.n);
	apply_args_free(&ro.apply);
	buf_release(&ro.changes);
}

/*
 * Roll a release of the site out, under its lease: plan's spec and image
 * (NULL: the spec's image, or for a static site its root packed now), or
 * an earlier release's (rollback_of). Answers the request.
 */
void
rollout_release(struct req *rq, struct site_rec *rec,
    const struct rollout_plan *p)
{
	char	who[160], image[IMAGE_REF_MAX + 8];

	if (site_lease(rq, rec->name, who, sizeof who) == -1)
		return;
	if (p->step != NULL)
		req_progress(rq, NULL, p->step, "%s", p->note);
	if (p->image != NULL)
		roll(rq, rec, p, p->image, who);
	else if (p->spec->kind == KIND_CONTAINER)
		roll(rq, rec, p, p->spec->image, who);
	else if (static_prepare(rq, rec, p->spec, image, sizeof image) == 0)
		roll(rq, rec, p, image, who);
	lock_drop(rec->name, who);	/* when roll() answered early */
}

/* site.remove's args: the site, and with --volumes its named volumes. */
struct remove_args {
	const char		*site;
	const struct site_spec	*spec;
	const char		*op;		/* the agent op being sent */
	int			 volumes;
	char			**legacy;
	size_t			 nlegacy;
};

/*
 * With volumes, the agent removes every volume labelled as this site's and
 * this controller's, and the names it kept from before (legacy), checked.
 */
static void
args_remove(struct enc *e, void *arg)
{
	const struct remove_args *a = arg;
	size_t			 i;

	enc_kstr(e, "site", a->site);
	/*
	 * stop switches the site's proxy entry to a 503 and start back to
	 * the running release, even for a site whose journal is older than
	 * the agent: they get its proxy (and start its health check).
	 */
	if (strcmp(a->op, "site.stop") == 0 || strcmp(a->op, "site.start") == 0)
		spec_proxy_args(a->spec, e);
	if (strcmp(a->op, "site.start") == 0 &&
	    a->spec->kind == KIND_CONTAINER)
		spec_health_args(a->spec, e);
	if (!a->volumes)
		return;
	enc_kbool(e, "volumes", 1);
	if (a->nlegacy == 0)
		return;
	enc_karr(e, "legacy_volumes");
	for (i = 0; i < a->nlegacy; i++)
		enc_str(e, a->legacy[i]);
	enc_close(e);
}

/*
 * The agent ops in ops, in order, on every host of a site, under its lease:
 * start, stop, restart and rm. With remove, success also forgets the site.
 */
void
rollout_hosts(struct req *rq, struct mv *args, const char *const *ops,
    int remove)
{
	struct site_rec		 rec;
	struct site_spec	 s;
	struct fan_result	*res;
	struct enc		 e;
	char			**hosts, who[160];
	size_t			 n, i, bad = 0;
	struct remove_args	 ra = { NULL, NULL, NULL, 0, NULL, 0 };

	if (site_open(rq, args, &rec, &s) == -1)
		return;
	if (site_lease(rq, rec.name, who, sizeof who) == -1)
		goto out;
	if (site_targets(rq, &s, &hosts, &n) == -1) {
		lock_drop(rec.name, who);
		goto out;
	}
	ra.site = rec.name;
	ra.spec = &s;
	if (mv_bool(args, "volumes", &ra.volumes, 0) == -1)
		ra.volumes = 0;
	if (ra.volumes && legacy_volumes_load(rec.id, &ra.legacy,
	    &ra.nlegacy) == -1) {
		req_fail(rq, E_INTERNAL, "cannot read the volumes of '%s'",
		    rec.name);
		lock_drop(rec.name, who);
		free_names(hosts, n);
		goto out;
	}
	res = xcalloc(n + 1, sizeof *res);
	for (; *ops != NULL && bad == 0; ops++) {
		fan_results_free(res, n);
		ra.op = *ops;
		fleet_run(rq, hosts, n, *ops, args_remove, &ra,
		    SITE_OP_TIMEOUT_MS, res);
		for (i = 0; i < n; i++)
			bad += !res[i].ok;
	}
	if (bad > 0) {
		struct buf	errs = BUF_INIT;

		lock_drop(rec.name, who);	/* before the answer, as roll() */
		fan_errors(res, n, &errs);
		req_fail(rq, "partial", "%sfailed on %zu of %zu hosts%s",
		    buf_str(&errs), bad, n, remove ? "; the site is still "
		    "known: run tug site rm again once those hosts answer" : "");
		buf_release(&errs);
	} else {
		if (remove) {
			site_delete(rec.name);
			static_forget(rec.name);
		}
		lock_drop(rec.name, who);
		req_result_begin(rq, &e);
		enc_kstr(&e, remove ? "removed" : "site", rec.name);
		enc_ku64(&e, "hosts", n);
		req_ok(rq, &e);
	}
	fan_results_free(res, n);
	free(res);
	free_names(hosts, n);
	free_names(ra.legacy, ra.nlegacy);
out:
	site_rec_free(&rec);
	spec_free(&s);
}
