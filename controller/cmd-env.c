/*
 * cmd-env.c: a site's environment. Values set here override the spec's env;
 * --secret values are sealed at rest (secret.c), never printed unmasked and
 * never written to the audit log (env_audit_args keeps only the keys). A
 * change makes a release and rolls it out, as a deploy does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "controller/request.h"
#include "controller/tug.h"

#define VARS_MAX	256
#define VALUE_MAX	32768

/* The audit sees which keys changed, never their values. */
void
env_audit_args(struct mv *args, struct buf *out)
{
	char	site[64] = "", v[ENV_KEY_MAX + 8];
	size_t	n = 0, i;
	int	secret = 0;

	mv_str(args, "site", site, sizeof site, 0);
	mv_bool(args, "secret", &secret, 0);
	buf_addstr(out, "{\"site\":\"");
	buf_addstr(out, check_site_name(site) == NULL ? site : "?");
	buf_addf(out, "\",\"secret\":%s,\"keys\":[", secret ? "true" : "false");
	mv_arr(args, "vars", &n, VARS_MAX, 0);
	for (i = 0; i < n; i++) {
		char	*kv = NULL;
		size_t	 kl;

		if (mv_arr_strdup(args, "vars", i, &kv, VALUE_MAX + 300) != 1)
			continue;
		kl = strcspn(kv, "=");
		snprintf(v, sizeof v, "%.*s", (int)(kl < ENV_KEY_MAX ? kl :
		    ENV_KEY_MAX), kv);
		buf_addf(out, "%s\"%s\"", i > 0 ? "," : "",
		    check_env_key(v) == NULL ? v : "?");
		free(kv);
	}
	buf_addstr(out, "]}");
}

void
cmd_env_list(struct req *rq, struct mv *args)
{
	struct site_rec		 rec;
	struct site_spec	 s;
	struct env_rec		*rows;
	struct enc		 e;
	size_t			 n, i, k;

	if (site_open(rq, args, &rec, &s) == -1)
		return;
	if (env_load(rec.id, &rows, &n) == -1) {
		req_fail(rq, E_INTERNAL, "cannot read the env");
		goto out;
	}
	req_result_begin(rq, &e);
	enc_kstr(&e, "site", rec.name);
	enc_karr(&e, "env");
	for (i = 0; i < s.nenv; i++) {
		for (k = 0; k < n; k++)
			if (strcmp(rows[k].key, s.env[i].key) == 0)
				break;
		if (k < n)
			continue;	/* overridden below */
		enc_map_open(&e);
		enc_kstr(&e, "key", s.env[i].key);
		enc_kstr(&e, "value", s.env[i].val);
		enc_kstr(&e, "from", "spec");
		enc_close(&e);
	}
	for (k = 0; k < n; k++) {
		enc_map_open(&e);
		enc_kstr(&e, "key", rows[k].key);
		if (rows[k].secret) {
			enc_kstr(&e, "value", "********");
			enc_kbool(&e, "secret", 1);
		} else
			enc_kstr(&e, "value", buf_str(&rows[k].value));
		enc_kstr(&e, "from", "set");
		enc_close(&e);
	}
	for (i = 0; i < s.nsecrets; i++) {
		for (k = 0; k < n; k++)
			if (strcmp(rows[k].key, s.secrets[i]) == 0)
				break;
		if (k < n)
			continue;
		enc_map_open(&e);
		enc_kstr(&e, "key", s.secrets[i]);
		enc_kstr(&e, "value", "(not set)");
		enc_kbool(&e, "secret", 1);
		enc_kstr(&e, "from", "spec");
		enc_close(&e);
	}
	enc_close(&e);
	req_ok(rq, &e);
	env_recs_free(rows, n);
out:
	site_rec_free(&rec);
	spec_free(&s);
}

/* Roll the serving release's image and spec out again as a new release. */
static void
redeploy(struct req *rq, struct site_rec *rec, const char *why)
{
	struct release_rec	 cur;
	struct site_spec	 rs;
	struct rollout_plan	 plan = { 0 };
	char			 err[600], note[512];

	if (rec->current == 0 || release_load(rec->id, rec->current,
	    &cur) != 1) {
		struct enc	e;

		req_result_begin(rq, &e);
		enc_kstr(&e, "site", rec->name);
		enc_kstr(&e, "note", "not deployed yet: the change applies "
		    "at the next deploy");
		req_ok(rq, &e);
		return;
	}
	if (spec_parse(rec->file, cur.spec, strlen(cur.spec), &rs, err,
	    sizeof err) == -1)
		req_fail(rq, "spec", "release %lld's spec: %s",
		    (long long)cur.number, err);
	else {
		acme_fill(&rs);
		snprintf(note, sizeof note, "%s: redeploying %s", why,
		    rec->name);
		plan.spec = &rs;
		plan.spec_text = cur.spec;
		plan.image = cur.image;
		plan.step = "env";
		plan.note = note;
		rollout_release(rq, rec, &plan);
	}
	spec_free(&rs);
	release_rec_free(&cur);
}

/* env is for container sites: a static site has no process to give it. */
static int
env_refuse_static(struct req *rq, const struct site_rec *rec,
    const struct site_spec *s)
{
	if (s->kind != KIND_STATIC)
		return 0;
	req_fail(rq, E_BAD_ARGS, "'%s' is a static site: it has no environment "
	    "(env and secrets are for container sites)", rec->name);
	return -1;
}

/*
 * Does site_id hold key already, with this value and secrecy? A set that
 * changes nothing stores nothing and redeploys nothing.
 */
static int
env_holds(const char *site, const struct env_rec *rows, size_t n,
    const char *key, const char *val, int secret)
{
	struct buf	plain = BUF_INIT;
	char		ad[SITE_NAME_MAX + ENV_KEY_MAX + 4];
	size_t		k, len = strlen(val);
	int		same;

	for (k = 0; k < n; k++)
		if (strcmp(rows[k].key, key) == 0)
			break;
	if (k == n || rows[k].secret != secret)
		return 0;
	if (!secret)
		return rows[k].value.len == len &&
		    memcmp(rows[k].value.ptr, val, len) == 0;
	site_env_ad(ad, sizeof ad, site, key);
	if (secret_open(ad, rows[k].value.ptr, rows[k].value.len,
	    &plain) == -1)
		return 0;
	same = plain.len == len && memcmp(plain.ptr, val, len) == 0;
	explicit_bzero(plain.ptr, plain.alloc);
	buf_release(&plain);
	return same;
}

void
cmd_env_set(struct req *rq, struct mv *args)
{
	struct site_rec		 rec;
	struct site_spec	 s;
	struct buf		 sealed = BUF_INIT;
	char			*kv = NULL, key[ENV_KEY_MAX + 1], e[128];
	char			 ad[SITE_NAME_MAX + ENV_KEY_MAX + 4];
	const char		*why, *eq;
	struct env_rec		*rows = NULL;
	size_t			 n, i, nrows = 0, same = 0;
	int			 secret = 0, nodeploy = 0;

	if (site_open(rq, args, &rec, &s) == -1)
		return;
	if (env_refuse_static(rq, &rec, &s) == -1)
		goto out;
	if (env_load(rec.id, &rows, &nrows) == -1) {
		req_fail(rq, E_INTERNAL, "cannot read the env");
		goto out;
	}
	if (mv_bool(args, "secret", &secret, 0) == -1 ||
	    mv_bool(args, "no_deploy", &nodeploy, 0) == -1 ||
	    mv_arr(args, "vars", &n, VARS_MAX, MV_REQ) == -1) {
		req_fail(rq, E_BAD_ARGS, "%s", args->err);
		goto out;
	}
	/* Everything is checked before anything is stored. */
	for (i = 0; i < n; i++) {
		if (mv_arr_strdup(args, "vars", i, &kv, VALUE_MAX + 300) != 1) {
			req_fail(rq, E_BAD_ARGS, "%s", args->err);
			goto out;
		}
		if ((eq = strchr(kv, '=')) == NULL ||
		    (size_t)(eq - kv) > ENV_KEY_MAX) {
			req_fail(rq, E_BAD_ARGS, "expected KEY=VALUE, got "
			    "'%s'", log_escape(e, sizeof e, kv, strcspn(kv,
			    "=")));
			goto out;
		}
		snprintf(key, sizeof key, "%.*s", (int)(eq - kv), kv);
		if ((why = check_env_key(key)) != NULL) {
			req_fail(rq, E_BAD_ARGS, "invalid env key '%s': %s",
			    log_escape(e, sizeof e, key, strlen(key)), why);
			goto out;
		}
		if (strlen(eq + 1) > VALUE_MAX) {
			req_fail(rq, E_BAD_ARGS, "value of %s longer than "
			    "%d bytes", key, VALUE_MAX);
			goto out;
		}
		if (!secret && strv_has(s.secrets, s.nsecrets, key)) {
			req_fail(rq, E_BAD_ARGS, "%s is a secret of the spec of "
			    "%s (secrets:): set it with --secret", key,
			    rec.name);
			goto out;
		}
		same += env_holds(rec.name, rows, nrows, key, eq + 1, secret);
		explicit_bzero(kv, strlen(kv));
		free(kv);
		kv = NULL;
	}
	if (same == n) {
		struct enc	en;

		req_result_begin(rq, &en);
		enc_kstr(&en, "site", rec.name);
		enc_ku64(&en, "set", 0);
		enc_kstr(&en, "note", n == 1 ? "unchanged: it holds that "
		    "value already; nothing to redeploy" : "unchanged: they "
		    "hold those values already; nothing to redeploy");
		req_ok(rq, &en);
		goto out;
	}
	for (i = 0; i < n; i++) {
		mv_arr_strdup(args, "vars", i, &kv, VALUE_MAX + 300);
		eq = strchr(kv, '=');
		snprintf(key, sizeof key, "%.*s", (int)(eq - kv), kv);
		if (secret) {
			site_env_ad(ad, sizeof ad, rec.name, key);
			if (secret_seal(ad, eq + 1, strlen(eq + 1), &sealed) ==
			    -1 || env_put(rec.id, key, sealed.ptr, sealed.len,
			    1) == -1) {
				req_fail(rq, E_INTERNAL, "cannot store secret "
				    "%s", key);
				goto out;
			}
		} else if (env_put(rec.id, key, eq + 1, strlen(eq + 1), 0) ==
		    -1) {
			req_fail(rq, E_INTERNAL, "cannot store %s", key);
			goto out;
		}
		explicit_bzero(kv, strlen(kv));
		free(kv);
		kv = NULL;
	}
	if (nodeploy) {
		struct enc	en;

		req_result_begin(rq, &en);
		enc_kstr(&en, "site", rec.name);
		enc_ku64(&en, "set", n);
		req_ok(rq, &en);
	} else
		redeploy(rq, &rec, "env changed");
out:
	if (kv != NULL) {
		explicit_bzero(kv, strlen(kv));
		free(kv);
	}
	buf_release(&sealed);
	env_recs_free(rows, nrows);
	site_rec_free(&rec);
	spec_free(&s);
}

void
cmd_env_unset(struct req *rq, struct mv *args)
{
	struct site_rec		 rec;
	struct site_spec	 s;
	char			 key[ENV_KEY_MAX + 1];
	size_t			 n, i, gone = 0;
	int			 nodeploy = 0;

	if (site_open(rq, args, &rec, &s) == -1)
		return;
	if (env_refuse_static(rq, &rec, &s) == -1)
		goto out;
	if (mv_bool(args, "no_deploy", &nodeploy, 0) == -1 ||
	    mv_arr(args, "keys", &n, VARS_MAX, MV_REQ) == -1) {
		req_fail(rq, E_BAD_ARGS, "%s", args->err);
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (mv_arr_str(args, "keys", i, key, sizeof key) != 1 ||
		    check_env_key(key) != NULL) {
			req_fail(rq, E_BAD_ARGS, "invalid env key");
			goto out;
		}
		if (strv_has(s.secrets, s.nsecrets, key)) {
			req_fail(rq, E_BAD_ARGS, "%s is a secret the spec of %s "
			    "requires (secrets:): without it no release can "
			    "start. Set a new value (tug env set %s %s "
			    "--secret), or drop it from the spec first",
			    key, rec.name, rec.name, key);
			goto out;
		}
	}
	for (i = 0; i < n; i++) {
		mv_arr_str(args, "keys", i, key, sizeof key);
		gone += env_del(rec.id, key) > 0;
	}
	if (gone == 0) {
		req_fail(rq, E_NOT_FOUND, "none of those keys is set on %s",
		    rec.name);
		goto out;
	}
	if (nodeploy) {
		struct enc	en;

		req_result_begin(rq, &en);
		enc_kstr(&en, "site", rec.name);
		enc_ku64(&en, "unset", gone);
		req_ok(rq, &en);
	} else
		redeploy(rq, &rec, "env changed");
out:
	site_rec_free(&rec);
	spec_free(&s);
}
