/*
 * acme.c: certificates from an ACME CA for the nginx backend (DESIGN §6
 * "Automatic HTTPS"). The agent drives lego (Debian's lego, fork+execve,
 * a fixed argv of checked words, no shell) with HTTP-01 answered by nginx
 * from a webroot, installs the result where nginx reads it by rename, and
 * reads certificates back with libcrypto for status and renewal.
 * docs/proxies.md says why lego.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "agent/agent.h"
#include "common/clock.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/xmalloc.h"

#define ACME_LEGO	"/usr/bin/lego"
#define ACME_RUN_MS	180000		/* lego's own timeouts are shorter */
#define ACME_OUT_MAX	65536
#define ACME_PEM_MAX	(64u << 10)

static void
acme_dir(char *dst, size_t dstsz, const char *fmt, const char *site)
{
	char	rel[128];

	snprintf(rel, sizeof rel, fmt, site);
	snprintf(dst, dstsz, "%s/acme/%s", agent.state_dir, rel);
}

void
acme_paths(struct proxy_site *ps)
{
	acme_dir(ps->tls_cert, sizeof ps->tls_cert, "sites/%s/cert.pem",
	    ps->site);
	acme_dir(ps->tls_key, sizeof ps->tls_key, "sites/%s/key.pem",
	    ps->site);
}

static int
acme_email_ok(const char *s)
{
	return check_email(s) == NULL;
}

static int
acme_url_ok(const char *s)
{
	return check_url(s) == NULL && strlen(s) < ACME_URL_MAX;
}

int
acme_check(struct job *j, struct mv *proxy, struct proxy_site *ps)
{
	struct mv	 a;
	char		*pem = NULL, path[PATH_MAX_TUG + 64], name[40];
	size_t		 i, len = 0;
	uint64_t	 h = 1469598103934665603ULL;
	int		 r;

	if ((r = mv_map(proxy, "acme", &a, 0)) != 1)
		return r == 0 ? 0 : -1;
	if (mv_str(&a, "ca", ps->acme_ca, sizeof ps->acme_ca, MV_REQ) == -1 ||
	    mv_str(&a, "email", ps->acme_email, sizeof ps->acme_email,
	    MV_REQ) == -1)
		return -1;
	if (!acme_url_ok(ps->acme_ca))
		return job_bad(j, "proxy.acme.ca: an http(s) URL of plain "
		    "characters");
	if (!acme_email_ok(ps->acme_email))
		return job_bad(j, "proxy.acme.email: an address local@domain");
	if (!mv_present(&a, "trust_root"))
		return 0;
	pem = xmalloc(ACME_PEM_MAX + 1);
	if (mv_str(&a, "trust_root", pem, ACME_PEM_MAX + 1, 0) == -1) {
		free(pem);
		return -1;
	}
	len = strlen(pem);
	if (strstr(pem, "-----BEGIN CERTIFICATE-----") == NULL) {
		free(pem);
		return job_bad(j, "proxy.acme.trust_root: PEM certificates");
	}
	/* Kept by content: the same root is the same file. */
	for (i = 0; i < len; i++) {
		h ^= (unsigned char)pem[i];
		h *= 1099511628211ULL;
	}
	snprintf(name, sizeof name, "%016llx", (unsigned long long)h);
	acme_dir(path, sizeof path, "roots/%s.pem", name);
	acme_dir(ps->acme_root, sizeof ps->acme_root, "roots/%s.pem", name);
	snprintf(path, sizeof path, "%s/acme/roots", agent.state_dir);
	r = fs_mkdirs(path, 0700) == -1 || fs_write_atomic(ps->acme_root,
	    pem, len, 0600) == -1;
	free(pem);
	if (r)
		return job_failed(j, E_IO, "cannot write %s: %s",
		    ps->acme_root, strerror(errno));
	return 0;
}

int
acme_cert_info(const char *path, struct cert_info *ci)
{
	FILE			*f;
	X509			*x;
	GENERAL_NAMES		*gn;
	const ASN1_TIME		*t;
	BIGNUM			*bn;
	char			*hex;
	struct tm		 tm;
	int			 i, n;

	memset(ci, 0, sizeof *ci);
	if ((f = fopen(path, "re")) == NULL)
		return -1;
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (x == NULL)
		return -1;
	if (X509_NAME_get_text_by_NID(X509_get_issuer_name(x),
	    NID_commonName, ci->issuer, sizeof ci->issuer) < 0)
		snprintf(ci->issuer, sizeof ci->issuer, "unknown");
	if ((t = X509_get0_notAfter(x)) != NULL && ASN1_TIME_to_tm(t, &tm))
		ci->not_after = (int64_t)timegm(&tm);
	if ((t = X509_get0_notBefore(x)) != NULL && ASN1_TIME_to_tm(t, &tm))
		ci->not_before = (int64_t)timegm(&tm);
	if ((bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL)) !=
	    NULL && (hex = BN_bn2hex(bn)) != NULL) {
		snprintf(ci->serial, sizeof ci->serial, "%s", hex);
		OPENSSL_free(hex);
	}
	BN_free(bn);
	gn = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	n = gn != NULL ? sk_GENERAL_NAME_num(gn) : 0;
	for (i = 0; i < n && ci->nnames < PROXY_DOMAINS_MAX; i++) {
		const GENERAL_NAME	*g = sk_GENERAL_NAME_value(gn, i);
		const unsigned char	*s;
		int			 len;

		if (g->type != GEN_DNS)
			continue;
		s = ASN1_STRING_get0_data(g->d.dNSName);
		len = ASN1_STRING_length(g->d.dNSName);
		if (len > 0 && len <= DOMAIN_MAX)
			snprintf(ci->names[ci->nnames++], DOMAIN_MAX + 1,
			    "%.*s", len, s);
	}
	GENERAL_NAMES_free(gn);
	X509_free(x);
	return 0;
}

/* Does the installed certificate name exactly ps's domains? */
static int
acme_names_match(const struct cert_info *ci, const struct proxy_site *ps)
{
	size_t	i, k;

	if (ci->nnames != ps->ndomains)
		return 0;
	for (i = 0; i < ps->ndomains; i++) {
		for (k = 0; k < ci->nnames; k++)
			if (strcmp(ci->names[k], ps->domains[i]) == 0)
				break;
		if (k == ci->nnames)
			return 0;
	}
	return 1;
}

int
acme_usable(const struct proxy_site *ps, uint64_t renew_days)
{
	struct proxy_site	 p = *ps;
	struct cert_info	 ci;
	int64_t			 now = (int64_t)time(NULL);

	acme_paths(&p);
	if (acme_cert_info(p.tls_cert, &ci) == -1 || access(p.tls_key,
	    R_OK) == -1 || !acme_names_match(&ci, ps))
		return 0;
	return ci.not_after - now > (int64_t)renew_days * 86400;
}

/*
 * What lego said went wrong: its "[name] acme: error: …" line, or the one
 * after "Could not …", else its last line. The CA's own words, escaped.
 */
static void
acme_reason(const char *out, char *dst, size_t dstsz)
{
	const char	*p, *e = NULL, *last = out;
	char		 line[600];
	size_t		 n;

	if ((p = strstr(out, "acme: error:")) != NULL) {
		for (e = p; e > out && e[-1] != '\n'; e--)
			;
	} else if ((p = strstr(out, "Could not ")) != NULL)
		e = p;
	if (e == NULL) {
		for (p = out; *p != '\0'; p++)
			if (p[0] == '\n' && p[1] != '\0')
				last = p + 1;
		e = last;
	}
	while (*e == '\t' || *e == ' ')
		e++;
	/* Tokens in challenge URLs say nothing to a reader: cut them. */
	for (n = 0; *e != '\0' && *e != '\n' && n < sizeof line - 4; ) {
		if (strncmp(e, "acme-challenge/", 15) == 0) {
			memcpy(line + n, e, 15);
			n += 15;
			e += 15;
			if (strspn(e, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
			    "qrstuvwxyz0123456789_-") > 0) {
				e += strspn(e, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefgh"
				    "ijklmnopqrstuvwxyz0123456789_-");
				memcpy(line + n, "...", 3);
				n += 3;
			}
			continue;
		}
		line[n++] = *e++;
	}
	line[n] = '\0';
	log_escape(dst, dstsz, line, n);
}

/* Copy src to dst by temp file and rename, mode 0600. */
static int
acme_install(const char *src, const char *dst)
{
	struct buf	b = BUF_INIT;
	int		r;

	if (fs_read_file(src, &b, 1 << 20) == -1) {
		buf_release(&b);
		return -1;
	}
	r = fs_write_atomic(dst, b.ptr, b.len, 0600);
	buf_release(&b);
	return r;
}

int
acme_issue(const struct proxy_site *ps, const char *webroot,
    volatile int *cancel, char *err)
{
	char		*argv[24 + 2 * PROXY_DOMAINS_MAX], *envp[2];
	char		 path[PATH_MAX_TUG + 16], env[PATH_MAX_TUG + 32];
	char		 crt[PATH_MAX_TUG + 300], key[PATH_MAX_TUG + 300];
	char		 why[600], acct[PATH_MAX_TUG + 600];
	struct proxy_site p = *ps;
	struct buf	 out = BUF_INIT;
	struct proc	 pr;
	size_t		 i;
	int		 n = 0, st, tries;

	/* This host's own settings (tug acme set --host) come first. */
	acme_host_override(&p);
	if (p.acme_ca[0] == '\0' || p.acme_email[0] == '\0')
		return snprintf(err, PROXY_ERRLEN, "site %s wants a "
		    "certificate (tls: auto is the default on the host's own "
		    "proxy) and no ACME contact is set: tug acme set --email "
		    "you@example.com, or tls: off in its spec", ps->site), -1;
	for (i = 0; i < ps->ndomains; i++)
		if (ps->domains[i][0] == '*')
			return snprintf(err, PROXY_ERRLEN, "%s: a wildcard "
			    "needs a DNS-01 challenge, which tug does not do: "
			    "give tls.cert and tls.key, or tls: off",
			    ps->domains[i]), -1;
	if (access(ACME_LEGO, X_OK) == -1)
		return snprintf(err, PROXY_ERRLEN, "no ACME client: %s: %s "
		    "(apt-get install lego)", ACME_LEGO, strerror(errno)), -1;
	snprintf(path, sizeof path, "%s/acme", agent.state_dir);
	argv[n++] = ACME_LEGO;
	argv[n++] = "--server";
	argv[n++] = p.acme_ca;
	argv[n++] = "--accept-tos";
	argv[n++] = "--email";
	argv[n++] = p.acme_email;
	argv[n++] = "--path";
	argv[n++] = path;
	argv[n++] = "--key-type";
	argv[n++] = "ec256";
	argv[n++] = "--http";
	argv[n++] = "--http.webroot";
	argv[n++] = (char *)webroot;
	for (i = 0; i < p.ndomains; i++) {
		argv[n++] = "--domains";
		argv[n++] = p.domains[i];
	}
	argv[n++] = "run";
	argv[n] = NULL;
	envp[0] = NULL;
	if (p.acme_root[0] != '\0') {
		snprintf(env, sizeof env, "LEGO_CA_CERTIFICATES=%s",
		    p.acme_root);
		envp[0] = env;
	}
	envp[1] = NULL;
	memset(&pr, 0, sizeof pr);
	pr.argv = argv;
	pr.envp = envp;
	pr.stdout_too = 1;
	pr.max_out = ACME_OUT_MAX;
	pr.timeout_ms = ACME_RUN_MS;
	pr.cancel = cancel;
	pr.umask = 022;		/* challenge files nginx's workers read */
	for (tries = 0; tries < 2; tries++) {
		if ((st = proc_run(&pr, &out, why, sizeof why)) == -1) {
			buf_release(&out);
			return snprintf(err, PROXY_ERRLEN, "lego: %s", why), -1;
		}
		if (st == 0)
			break;
		/*
		 * The CA forgot the account (a restarted CA): lego does not
		 * register again by itself. Drop its record, keep the key.
		 */
		if (tries == 0 && strstr(buf_str(&out),
		    "accountDoesNotExist") != NULL) {
			const char *h = strstr(p.acme_ca, "://") + 3;

			snprintf(acct, sizeof acct, "%s/accounts/%.*s/%s/"
			    "account.json", path, (int)strcspn(h, "/"), h,
			    p.acme_email);
			for (char *c = acct + strlen(path) + 10; *c != '\0';
			    c++)
				if (*c == ':')
					*c = '_';
			unlink(acct);
			continue;
		}
		acme_reason(buf_str(&out), why, sizeof why);
		buf_release(&out);
		return snprintf(err, PROXY_ERRLEN, "the ACME CA did not issue "
		    "a certificate for %s: %s", p.domains[0], why), -1;
	}
	buf_release(&out);
	if (st != 0)
		return snprintf(err, PROXY_ERRLEN, "lego failed twice"), -1;
	/* lego names its files after the first domain. */
	snprintf(crt, sizeof crt, "%s/certificates/%s.crt", path,
	    p.domains[0]);
	snprintf(key, sizeof key, "%s/certificates/%s.key", path,
	    p.domains[0]);
	acme_paths(&p);
	acme_dir(path, sizeof path, "sites/%s", p.site);
	if (fs_mkdirs(path, 0700) == -1 || acme_install(key, p.tls_key) ==
	    -1 || acme_install(crt, p.tls_cert) == -1)
		return snprintf(err, PROXY_ERRLEN, "cannot install the "
		    "certificate in %s: %s", path, strerror(errno)), -1;
	return 0;
}

void
acme_remove(const char *site)
{
	char	path[PATH_MAX_TUG + 64];
	int	dfd;

	snprintf(path, sizeof path, "%s/acme/sites", agent.state_dir);
	if ((dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return;
	if (fs_remove_tree(dfd, site) == -1)
		log_warn("cannot remove %s/%s", path, site);
	close(dfd);
}

static void
acme_host_path(char *dst, size_t dstsz)
{
	snprintf(dst, dstsz, "%s/acme/host.json", agent.state_dir);
}

int
acme_host_override(struct proxy_site *ps)
{
	char		 path[PATH_MAX_TUG + 32];
	struct buf	 b = BUF_INIT;
	json_t		*j;
	const char	*ca = NULL, *email = NULL, *root = "";
	int		 r = 0;

	acme_host_path(path, sizeof path);
	if (fs_read_file(path, &b, 65536) == -1) {
		buf_release(&b);
		return 0;
	}
	j = json_loadb(b.ptr, b.len, 0, NULL);
	buf_release(&b);
	/* Written by acme.setup, read as any input. */
	if (j == NULL || json_unpack(j, "{s:s, s:s, s?:s}", "ca", &ca,
	    "email", &email, "root", &root) == -1 || !acme_url_ok(ca) ||
	    !acme_email_ok(email) || (root[0] != '\0' &&
	    check_abs_path(root) != NULL)) {
		log_warnx("%s is damaged: ignoring it", path);
		r = -1;
	} else {
		snprintf(ps->acme_ca, sizeof ps->acme_ca, "%s", ca);
		snprintf(ps->acme_email, sizeof ps->acme_email, "%s", email);
		snprintf(ps->acme_root, sizeof ps->acme_root, "%s", root);
		r = 1;
	}
	json_decref(j);
	return r;
}

/*
 * acme.setup {acme: {ca, email, trust_root}} or {clear: true}: this host's
 * own ACME settings, over the controller's (tug acme set --host).
 */
static int
acme_setup_check(struct job *j)
{
	struct proxy_site	*ps = xcalloc(1, sizeof *ps);
	int			 clear = 0;

	j->priv = ps;
	if (mv_bool(&j->args, "clear", &clear, 0) == -1)
		return -1;
	if (clear)
		return 0;
	if (!mv_present(&j->args, "acme"))
		return job_bad(j, "acme or clear is required");
	if (acme_check(j, &j->args, ps) == -1)
		return -1;
	if (ps->acme_email[0] == '\0')
		return job_bad(j, "acme.email is required");
	return 0;
}

static void
acme_setup_run(struct job *j)
{
	struct proxy_site	*ps = j->priv;
	struct enc		 e;
	char			 path[PATH_MAX_TUG + 32], *text;
	json_t			*js;
	int			 r;

	acme_host_path(path, sizeof path);
	if (ps->acme_email[0] == '\0') {
		if (unlink(path) == -1 && errno != ENOENT) {
			job_fail(j, E_IO, "cannot remove %s: %s", path,
			    strerror(errno));
			return;
		}
	} else {
		js = json_pack("{s:s, s:s, s:s}", "ca", ps->acme_ca, "email",
		    ps->acme_email, "root", ps->acme_root);
		if (js == NULL || (text = json_dumps(js, JSON_COMPACT)) ==
		    NULL)
			fatalx("out of memory");
		json_decref(js);
		r = fs_write_atomic(path, text, strlen(text), 0600);
		free(text);
		if (r == -1) {
			job_fail(j, E_IO, "cannot write %s: %s", path,
			    strerror(errno));
			return;
		}
	}
	job_result_begin(j, &e);
	enc_kbool(&e, "host_settings", ps->acme_email[0] != '\0');
	if (ps->acme_email[0] != '\0') {
		enc_kstr(&e, "ca", ps->acme_ca);
		enc_kstr(&e, "email", ps->acme_email);
	}
	job_ok(j, &e);
}

static void
acme_setup_free(struct job *j)
{
	free(j->priv);
	j->priv = NULL;
}

const struct op op_acme_setup = { "acme.setup", 0, acme_setup_check,
    acme_setup_run, acme_setup_free };
