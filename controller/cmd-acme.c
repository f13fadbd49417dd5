/*
 * cmd-acme.c: the ops of automatic HTTPS. acme.set and acme.show keep the
 * controller's ACME CA, contact and trust root (acme.c); cert.list asks a
 * site's hosts for the certificate each serves, cert.renew has each get a
 * new one now (the agent's cert.renew).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xmalloc.h"
#include "controller/request.h"
#include "controller/tug.h"

#define CERT_TIMEOUT_MS		240000	/* lego's own limits are shorter */
#define ACME_ROOT_MAX		(64u << 10)

static int
url_ok(const char *s)
{
	return check_url(s) == NULL;
}

static int
email_ok(const char *s)
{
	return check_email(s) == NULL;
}

static void
acme_result(struct enc *e, const struct acme_conf *ac)
{
	enc_kstr(e, "ca", ac->ca);
	enc_kstr(e, "email", ac->email);
	enc_kbool(e, "trust_root", ac->trust_root != NULL);
}

struct host_acme {
	const struct acme_conf	*ac;	/* NULL: clear */
};

static void
args_host_acme(struct enc *e, void *arg)
{
	const struct host_acme	*ha = arg;

	if (ha->ac == NULL)
		enc_kbool(e, "clear", 1);
	else
		acme_encode(e, ha->ac);
}

/*
 * acme.set --host H: that host's own settings, kept by its agent (which
 * prefers them to the controller's) and noted in meta for acme.show.
 */
static void
acme_set_host(struct req *rq, struct mv *args, const char *host)
{
	struct acme_conf	 ac;
	struct host_rec		 h;
	struct fan_result	 res[2];
	struct host_acme	 ha;
	struct enc		 e;
	char			*names[1] = { (char *)host }, key[128], *root = NULL;
	char			 note[900];
	int			 clear = 0;

	memset(&ac, 0, sizeof ac);
	snprintf(ac.ca, sizeof ac.ca, "%s", ACME_CA_DEFAULT);
	if (host_load(host, &h) != 1) {
		req_fail(rq, E_NOT_FOUND, "no host '%s'", host);
		return;
	}
	host_rec_free(&h);
	if (mv_bool(args, "clear", &clear, 0) == -1 ||
	    mv_str(args, "ca", ac.ca, sizeof ac.ca, 0) == -1 ||
	    mv_str(args, "email", ac.email, sizeof ac.email, 0) == -1) {
		req_fail(rq, E_BAD_ARGS, "%s", args->err);
		return;
	}
	if (!clear && (!url_ok(ac.ca) || !email_ok(ac.email))) {
		req_fail(rq, E_BAD_ARGS, "--host takes a whole setting: an "
		    "http(s) --ca (or the default) and an --email");
		return;
	}
	if (!clear && mv_present(args, "trust_root")) {
		root = xmalloc(ACME_ROOT_MAX + 1);
		if (mv_str(args, "trust_root", root, ACME_ROOT_MAX + 1,
		    0) == -1 || strstr(root, "-----BEGIN CERTIFICATE-----") ==
		    NULL) {
			req_fail(rq, E_BAD_ARGS, "--trust-root: a PEM file of "
			    "certificates");
			free(root);
			return;
		}
		ac.trust_root = root;
	}
	ha.ac = clear ? NULL : &ac;
	memset(res, 0, sizeof res);
	fleet_run(rq, names, 1, "acme.setup", args_host_acme, &ha, 30000, res);
	if (!res[0].ok) {
		req_fail(rq, "unreachable", "%s: %s", host, res[0].err);
		goto out;
	}
	snprintf(key, sizeof key, "acme.host.%s", host);
	snprintf(note, sizeof note, "%s %s%s", ac.ca, ac.email, root != NULL ?
	    " (trust root)" : "");
	if ((clear ? db_run("DELETE FROM meta WHERE key = ?", "t", key) :
	    db_run("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT "
	    "(key) DO UPDATE SET value = excluded.value", "tt", key, note)) <
	    0) {
		req_fail(rq, E_INTERNAL, "cannot store the host's setting");
		goto out;
	}
	req_result_begin(rq, &e);
	enc_kstr(&e, "host", host);
	enc_kbool(&e, "cleared", clear);
	if (!clear)
		acme_result(&e, &ac);
	req_ok(rq, &e);
out:
	fan_results_free(res, 1);
	free(root);
}

void
cmd_acme_set(struct req *rq, struct mv *args)
{
	struct acme_conf	 ac;
	struct enc		 e;
	char			*root = NULL;
	int			 clear = 0;

	if (mv_present(args, "host")) {
		char host[HOST_NAME_MAX_TUG + 1];

		if (mv_str(args, "host", host, sizeof host, 0) == -1) {
			req_fail(rq, E_BAD_ARGS, "%s", args->err);
			return;
		}
		acme_set_host(rq, args, host);
		return;
	}
	if (mv_present(args, "clear")) {
		req_fail(rq, E_BAD_ARGS, "--clear goes with --host");
		return;
	}
	acme_load(&ac);
	if (mv_str(args, "ca", ac.ca, sizeof ac.ca, 0) == -1 ||
	    mv_str(args, "email", ac.email, sizeof ac.email, 0) == -1 ||
	    mv_bool(args, "no_trust_root", &clear, 0) == -1)
		goto bad;
	if (mv_present(args, "trust_root")) {
		root = xmalloc(ACME_ROOT_MAX + 1);
		if (mv_str(args, "trust_root", root, ACME_ROOT_MAX + 1,
		    0) == -1)
			goto bad;
		if (strstr(root, "-----BEGIN CERTIFICATE-----") == NULL) {
			req_fail(rq, E_BAD_ARGS, "--trust-root: a PEM file of "
			    "certificates");
			goto out;
		}
		free(ac.trust_root);
		ac.trust_root = root;
		root = NULL;
	}
	if (clear) {
		free(ac.trust_root);
		ac.trust_root = NULL;
	}
	if (!url_ok(ac.ca)) {
		req_fail(rq, E_BAD_ARGS, "--ca: an http(s) URL of the CA's "
		    "ACME directory, e.g. " ACME_CA_DEFAULT);
		goto out;
	}
	if (ac.email[0] != '\0' && !email_ok(ac.email)) {
		req_fail(rq, E_BAD_ARGS, "--email: an address local@domain");
		goto out;
	}
	if (acme_store(&ac) == -1) {
		req_fail(rq, E_INTERNAL, "cannot store the ACME settings");
		goto out;
	}
	req_result_begin(rq, &e);
	acme_result(&e, &ac);
	req_ok(rq, &e);
	goto out;
bad:
	req_fail(rq, E_BAD_ARGS, "%s", args->err);
out:
	free(root);
	acme_conf_free(&ac);
}

void
cmd_acme_show(struct req *rq, struct mv *args)
{
	struct acme_conf	ac;
	struct enc		e;

	(void)args;
	acme_load(&ac);
	req_result_begin(rq, &e);
	acme_result(&e, &ac);
	enc_karr(&e, "hosts");
	acme_hosts_encode(&e);
	enc_close(&e);
	req_ok(rq, &e);
	acme_conf_free(&ac);
}

/* cert.list and cert.renew: one agent op on each of the site's hosts. */
static void
cert_fan(struct req *rq, struct mv *args, const char *op)
{
	struct site_rec		 rec;
	struct site_spec	 s;
	struct fan_result	*res;
	struct enc		 e;
	struct acme_conf	 ac;
	struct cert_args	 ca;
	char			**hosts;
	size_t			 n, i, bad = 0;
	int			 renew = strcmp(op, "cert.renew") == 0;

	if (site_open(rq, args, &rec, &s) == -1)
		return;
	if (site_targets(rq, &s, &hosts, &n) == -1)
		goto out;
	acme_load(&ac);
	ca.site = rec.name;
	ca.ac = renew ? &ac : NULL;
	ca.days = 0;
	res = xcalloc(n + 1, sizeof *res);
	fleet_run(rq, hosts, n, renew ? "cert.renew" : "site.status",
	    acme_cert_args, &ca, renew ? CERT_TIMEOUT_MS : 60000, res);
	acme_conf_free(&ac);
	req_result_begin(rq, &e);
	enc_kstr(&e, "site", rec.name);
	enc_karr(&e, "hosts");
	for (i = 0; i < n; i++) {
		struct mv		b, v;
		struct renew_state	rs;
		char			tmp[MSG_ERRLEN];
		int			k;

		enc_map_open(&e);
		enc_kstr(&e, "host", res[i].host);
		enc_kbool(&e, "ok", res[i].ok);
		if (!res[i].ok) {
			enc_kstr(&e, "error", res[i].err);
			enc_close(&e);
			bad++;
			continue;
		}
		msg_body(&res[i].m, &b, tmp, "");
		mv_map(&b, "value", &v, 0);
		if (renew && mv_bool(&v, "renewed", &k, 0) == 1)
			enc_kbool(&e, "renewed", k);
		if (renew && mv_str(&v, "old_serial", tmp, sizeof tmp,
		    0) == 1)
			enc_kstr(&e, "old_serial", tmp);
		site_cert_copy(&e, &v);
		if (!renew && renew_state_get(rec.name, res[i].host, &rs)) {
			enc_kmap(&e, "renewal");
			enc_ki64(&e, "tried_at", (int64_t)rs.tried_at);
			enc_kbool(&e, "ok", rs.ok);
			if (!rs.ok)
				enc_kstr(&e, "error", rs.error);
			enc_ki64(&e, "next_at", (int64_t)rs.next_at);
			if (rs.renewed_at != 0)
				enc_ki64(&e, "renewed_at",
				    (int64_t)rs.renewed_at);
			enc_close(&e);
		}
		enc_close(&e);
	}
	enc_close(&e);
	if (renew && bad > 0) {
		struct buf	errs = BUF_INIT;

		fan_errors(res, n, &errs);
		enc_release(&e);
		req_fail(rq, "acme", "%s\ncertificate renewal failed on %zu of "
		    "%zu hosts", buf_str(&errs), bad, n);
		buf_release(&errs);
	} else
		req_ok(rq, &e);
	fan_results_free(res, n);
	free(res);
	free_names(hosts, n);
out:
	site_rec_free(&rec);
	spec_free(&s);
}

void
cmd_cert_list(struct req *rq, struct mv *args)
{
	cert_fan(rq, args, "cert.list");
}

void
cmd_cert_renew(struct req *rq, struct mv *args)
{
	cert_fan(rq, args, "cert.renew");
}
