/*
 * acme-account.c: the host's ACME account for a CA and a contact, made
 * and kept by the agent, for the host's Caddy (DESIGN §6 "Automatic
 * HTTPS").
 *
 * Caddy 2.6.2 (certmagic 0.17.2) registers an account the first time it
 * needs one, in every goroutine that needs one: a site with two names
 * registers two accounts at once, and the last writer of each of its two
 * storage files wins, so its storage may pair the first account's URL
 * with the second account's key. Every later request of that Caddy then
 * fails with "JWS verification error" (certmagic fixed it in 2024, in
 * 193db75, "Sync ACME account registration"). An issuer given an
 * account_key looks its account up by that key instead, and every
 * goroutine finds the same one; so the agent registers the account
 * itself, once, under the proxy lock, and hands the key to each policy.
 * With the key tug's, a CA that forgot the account (a reset test CA, a
 * deactivated account) is mended by a new one: with check, the account
 * is looked up at the CA first (only when a policy changes or a renewal
 * is asked for, never on a plain redeploy), since a Caddy whose renewal
 * failed does not try again at once when its config changes.
 *
 * The protocol is RFC 8555 §7.3 with ES256 (§6.2, RFC 7518 §3.4: r and s
 * each padded to 32 bytes), over libcurl, verifying the CA's certificate
 * against the system's roots or, when the controller set one, its trust
 * root alone (as lego and Caddy do with theirs).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "agent/agent.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/validate.h"

#define ACC_BODY_MAX	(64u << 10)
#define ACC_HTTP_S	20L
#define ACC_NONCE_MAX	256
#define ACC_TRIES	3		/* a badNonce is retried */

struct acc_http {
	struct buf	body;
	char		nonce[ACC_NONCE_MAX];
	char		location[ACME_URL_MAX];
	long		status;
};

/* <state>/acme/agent-accounts/<hash of CA and contact>.{key,json} */
static void
acc_path(char *dst, size_t dstsz, const char *ca, const char *email,
    const char *ext)
{
	uint64_t	 h = 1469598103934665603ULL;
	const char	*p;

	for (p = ca; *p != '\0'; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	h = (h ^ '\n') * 1099511628211ULL;
	for (p = email; *p != '\0'; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	snprintf(dst, dstsz, "%s/acme/agent-accounts/%016llx.%s", agent.state_dir,
	    (unsigned long long)h, ext);
}

static void
b64url(struct buf *b, const unsigned char *p, size_t n)
{
	static const char	 a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
				     "qrstuvwxyz0123456789-_";
	uint32_t		 v;
	size_t			 i;

	for (i = 0; i + 2 < n; i += 3) {
		v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		buf_addch(b, a[v >> 18]);
		buf_addch(b, a[v >> 12 & 63]);
		buf_addch(b, a[v >> 6 & 63]);
		buf_addch(b, a[v & 63]);
	}
	if (n - i == 1) {
		v = (uint32_t)p[i] << 16;
		buf_addch(b, a[v >> 18]);
		buf_addch(b, a[v >> 12 & 63]);
	} else if (n - i == 2) {
		v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		buf_addch(b, a[v >> 18]);
		buf_addch(b, a[v >> 12 & 63]);
		buf_addch(b, a[v >> 6 & 63]);
	}
}

static void
b64url_str(struct buf *b, const char *s)
{
	b64url(b, (const unsigned char *)s, strlen(s));
}

static size_t
acc_body(char *p, size_t size, size_t n, void *arg)
{
	struct acc_http	*h = arg;

	return buf_add(&h->body, p, size * n) == -1 ? 0 : size * n;
}

/* Replay-Nonce and Location, the two headers the protocol needs. */
static size_t
acc_header(char *p, size_t size, size_t n, void *arg)
{
	struct acc_http	*h = arg;
	size_t		 len = size * n, k, v;
	char		*dst;
	size_t		 dstsz;

	if (len > 13 && strncasecmp(p, "Replay-Nonce:", 13) == 0)
		k = 13, dst = h->nonce, dstsz = sizeof h->nonce;
	else if (len > 9 && strncasecmp(p, "Location:", 9) == 0)
		k = 9, dst = h->location, dstsz = sizeof h->location;
	else
		return len;
	while (k < len && (p[k] == ' ' || p[k] == '\t'))
		k++;
	for (v = len; v > k && (p[v - 1] == '\r' || p[v - 1] == '\n' ||
	    p[v - 1] == ' '); v--)
		;
	if (v - k < dstsz) {
		memcpy(dst, p + k, v - k);
		dst[v - k] = '\0';
	}
	return len;
}

/* One request: GET (body NULL), HEAD (body ""), or a JOSE POST. */
static int
acc_call(const char *url, const char *body, const char *trust,
    struct acc_http *h, char *err, size_t errsz)
{
	struct curl_slist	*hdr = NULL;
	CURL			*c;
	CURLcode		 rc;

	buf_reset(&h->body);
	h->nonce[0] = h->location[0] = '\0';
	h->status = 0;
	if ((c = curl_easy_init()) == NULL)
		return snprintf(err, errsz, "no curl handle"), -1;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https,http");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, ACC_HTTP_S);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "tug-agent");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, acc_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, h);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, acc_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, h);
	if (trust != NULL && trust[0] != '\0')
		curl_easy_setopt(c, CURLOPT_CAINFO, trust);
	if (body != NULL && body[0] == '\0')
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	else if (body != NULL) {
		hdr = curl_slist_append(hdr,
		    "Content-Type: application/jose+json");
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	}
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &h->status);
	curl_easy_cleanup(c);
	curl_slist_free_all(hdr);
	if (rc != CURLE_OK)
		return snprintf(err, errsz, "the ACME CA at %s cannot be "
		    "reached: %s", url, curl_easy_strerror(rc)), -1;
	return 0;
}

/* The CA's problem document (RFC 8555 §6.7), in its own words. */
static void
acc_problem(const struct acc_http *h, const char *what, char *err,
    size_t errsz)
{
	json_t		*j = json_loads(buf_str(&h->body), 0, NULL);
	const char	*type = json_string_value(json_object_get(j, "type"));
	const char	*detail = json_string_value(json_object_get(j,
			    "detail"));
	char		 t[128], d[400];

	if (type == NULL && detail == NULL)
		snprintf(err, errsz, "the ACME CA refused %s: HTTP %ld", what,
		    h->status);
	else
		snprintf(err, errsz, "the ACME CA refused %s: HTTP %ld %s - %s",
		    what, h->status, log_escape(t, sizeof t, type ? type : "",
		    type ? strlen(type) : 0), log_escape(d, sizeof d,
		    detail ? detail : "", detail ? strlen(detail) : 0));
	json_decref(j);
}

/* The directory's URL for name, https (or the directory's own scheme). */
static int
acc_endpoint(json_t *dir, const char *ca, const char *name, char *dst,
    size_t dstsz, char *err, size_t errsz)
{
	const char	*u = json_string_value(json_object_get(dir, name));

	if (u == NULL || check_url(u) != NULL || strlen(u) >= dstsz ||
	    (strncmp(u, "https://", 8) != 0 && strncmp(ca, "http://", 7) != 0))
		return snprintf(err, errsz, "the ACME directory at %s has no "
		    "usable %s", ca, name), -1;
	snprintf(dst, dstsz, "%s", u);
	return 0;
}

/* The public key as a JWK, members in the order RFC 7638 sorts them. */
static json_t *
acc_jwk(EVP_PKEY *key)
{
	BIGNUM		*x = NULL, *y = NULL;
	unsigned char	 bx[32], by[32];
	struct buf	 ex = BUF_INIT, ey = BUF_INIT;
	json_t		*jwk = NULL;

	if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, &x) == 1 &&
	    EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, &y) == 1 &&
	    BN_bn2binpad(x, bx, 32) == 32 && BN_bn2binpad(y, by, 32) == 32) {
		b64url(&ex, bx, 32);
		b64url(&ey, by, 32);
		jwk = json_pack("{s:s, s:s, s:s, s:s}", "crv", "P-256", "kty",
		    "EC", "x", buf_str(&ex), "y", buf_str(&ey));
	}
	BN_free(x);
	BN_free(y);
	buf_release(&ex);
	buf_release(&ey);
	return jwk;
}

/* The flattened JWS of payload for url, signed with ES256. */
static char *
acc_jws(EVP_PKEY *key, json_t *jwk, const char *nonce, const char *url,
    const char *payload)
{
	struct buf	 in = BUF_INIT, sig = BUF_INIT;
	EVP_MD_CTX	*md = NULL;
	ECDSA_SIG	*es = NULL;
	const BIGNUM	*r, *s;
	unsigned char	 der[80], rs[64];
	const unsigned char *dp = der;
	size_t		 derlen = sizeof der;
	json_t		*prot, *out;
	char		*pt, *text = NULL;

	prot = json_pack("{s:s, s:O, s:s, s:s}", "alg", "ES256", "jwk", jwk,
	    "nonce", nonce, "url", url);
	if (prot == NULL || (pt = json_dumps(prot, JSON_COMPACT |
	    JSON_SORT_KEYS)) == NULL) {
		json_decref(prot);
		return NULL;
	}
	json_decref(prot);
	b64url_str(&in, pt);
	free(pt);
	buf_addch(&in, '.');
	b64url_str(&in, payload);
	if ((md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
	    EVP_DigestSign(md, der, &derlen, (const unsigned char *)in.ptr,
	    in.len) != 1 || (es = d2i_ECDSA_SIG(NULL, &dp,
	    (long)derlen)) == NULL)
		goto out;
	ECDSA_SIG_get0(es, &r, &s);
	if (BN_bn2binpad(r, rs, 32) != 32 || BN_bn2binpad(s, rs + 32,
	    32) != 32)
		goto out;
	b64url(&sig, rs, sizeof rs);
	*strchr(in.ptr, '.') = '\0';
	out = json_pack("{s:s, s:s, s:s}", "protected", in.ptr, "payload",
	    in.ptr + strlen(in.ptr) + 1, "signature", buf_str(&sig));
	if (out != NULL)
		text = json_dumps(out, JSON_COMPACT);
	json_decref(out);
out:
	ECDSA_SIG_free(es);
	EVP_MD_CTX_free(md);
	buf_release(&in);
	buf_release(&sig);
	return text;
}

/*
 * newAccount with key (§7.3), or with only_existing the look-up of its
 * account (§7.3.1). 0 and the account's URL in kid; 1: the CA knows no
 * account of that key (only_existing); -1 and why.
 */
static int
acc_new_account(EVP_PKEY *key, const char *ca, const char *email,
    const char *trust, int only_existing, char *kid, size_t kidsz, char *err,
    size_t errsz)
{
	struct acc_http	 h = { BUF_INIT, "", "", 0 };
	char		 nonce_url[ACME_URL_MAX], acct_url[ACME_URL_MAX];
	char		 nonce[ACC_NONCE_MAX], *payload = NULL, *jws;
	json_t		*dir = NULL, *jwk = NULL, *p;
	int		 i, r = -1;

	buf_init(&h.body, ACC_BODY_MAX);
	if (acc_call(ca, NULL, trust, &h, err, errsz) == -1)
		goto out;
	if (h.status != 200 || (dir = json_loads(buf_str(&h.body), 0,
	    NULL)) == NULL) {
		snprintf(err, errsz, "%s is not an ACME directory (HTTP %ld)",
		    ca, h.status);
		goto out;
	}
	if (acc_endpoint(dir, ca, "newNonce", nonce_url, sizeof nonce_url,
	    err, errsz) == -1 || acc_endpoint(dir, ca, "newAccount",
	    acct_url, sizeof acct_url, err, errsz) == -1)
		goto out;
	if (acc_call(nonce_url, "", trust, &h, err, errsz) == -1)
		goto out;
	if (h.nonce[0] == '\0') {
		snprintf(err, errsz, "the ACME CA at %s gave no nonce", ca);
		goto out;
	}
	p = only_existing ? json_pack("{s:b}", "onlyReturnExisting", 1) :
	    json_pack("{s:b, s:[s+]}", "termsOfServiceAgreed", 1, "contact",
	    "mailto:", email);
	payload = p != NULL ? json_dumps(p, JSON_COMPACT) : NULL;
	json_decref(p);
	if (payload == NULL || (jwk = acc_jwk(key)) == NULL) {
		snprintf(err, errsz, "cannot make the account request");
		goto out;
	}
	for (i = 0; i < ACC_TRIES; i++) {
		snprintf(nonce, sizeof nonce, "%s", h.nonce);
		if ((jws = acc_jws(key, jwk, nonce, acct_url,
		    payload)) == NULL) {
			snprintf(err, errsz, "cannot sign the account request");
			goto out;
		}
		r = acc_call(acct_url, jws, trust, &h, err, errsz);
		free(jws);
		if (r == -1)
			goto out;
		r = -1;
		if ((h.status == 200 || h.status == 201) &&
		    h.location[0] != '\0') {
			snprintf(kid, kidsz, "%s", h.location);
			r = 0;
			goto out;
		}
		if (only_existing && h.status == 400 && strstr(buf_str(&h.body),
		    "accountDoesNotExist") != NULL) {
			r = 1;
			goto out;
		}
		if (h.status != 400 || h.nonce[0] == '\0' ||
		    strstr(buf_str(&h.body), "badNonce") == NULL)
			break;
	}
	acc_problem(&h, only_existing ? "the account's look-up" :
	    "a new account", err, errsz);
out:
	json_decref(dir);
	json_decref(jwk);
	free(payload);
	buf_release(&h.body);
	return r;
}

/* The account key's PEM as Go's x509.MarshalECPrivateKey writes it. */
static int
acc_pem(EVP_PKEY *key, struct buf *pem)
{
	BIO	*bio;
	char	*p;
	long	 n;
	int	 r = -1;

	if ((bio = BIO_new(BIO_s_mem())) == NULL)
		return -1;
	if (PEM_write_bio_PrivateKey_traditional(bio, key, NULL, NULL, 0, NULL,
	    NULL) == 1 && (n = BIO_get_mem_data(bio, &p)) > 0) {
		buf_reset(pem);
		r = buf_add(pem, p, (size_t)n);
	}
	BIO_free(bio);
	return r;
}

/* The key of pem, or NULL. */
static EVP_PKEY *
acc_key(const struct buf *pem)
{
	BIO		*bio;
	EVP_PKEY	*key;

	if ((bio = BIO_new_mem_buf(pem->ptr, (int)pem->len)) == NULL)
		return NULL;
	key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	return key;
}

int
acme_account_key(const char *ca, const char *email, const char *trust,
    int check, struct buf *pem, char *err, size_t errsz)
{
	char		 kp[PATH_MAX_TUG + 64], jp[PATH_MAX_TUG + 64];
	char		 dir[PATH_MAX_TUG + 32], kid[ACME_URL_MAX], *text;
	EVP_PKEY	*key = NULL;
	json_t		*rec;
	int		 r = -1, rc;

	acc_path(kp, sizeof kp, ca, email, "key");
	acc_path(jp, sizeof jp, ca, email, "json");
	buf_reset(pem);
	if ((rc = fs_read_file(kp, pem, 1 << 16)) == 0 && pem->len > 0) {
		if (!check)
			return 0;
		if ((key = acc_key(pem)) == NULL) {
			snprintf(err, errsz, "%s holds no key", kp);
			goto out;
		}
		switch (acc_new_account(key, ca, email, trust, 1, kid,
		    sizeof kid, err, errsz)) {
		case 0:
			EVP_PKEY_free(key);
			return 0;
		case 1:
			log_info("the ACME CA at %s no longer knows the account "
			    "of %s; registering a new one", ca, email);
			break;
		default:
			goto out;
		}
		EVP_PKEY_free(key);
		key = NULL;
	} else if (rc == -1 && errno != ENOENT) {
		snprintf(err, errsz, "cannot read %s: %s", kp, strerror(errno));
		goto out;
	}
	snprintf(dir, sizeof dir, "%s/acme/agent-accounts", agent.state_dir);
	if (fs_mkdirs(dir, 0700) == -1) {
		snprintf(err, errsz, "cannot make %s: %s", dir,
		    strerror(errno));
		goto out;
	}
	if ((key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) == NULL ||
	    acc_pem(key, pem) == -1) {
		snprintf(err, errsz, "cannot make an account key");
		goto out;
	}
	if (acc_new_account(key, ca, email, trust, 0, kid, sizeof kid, err,
	    errsz) != 0)
		goto out;
	rec = json_pack("{s:s, s:s, s:s}", "ca", ca, "email", email, "url",
	    kid);
	text = rec != NULL ? json_dumps(rec, JSON_INDENT(1)) : NULL;
	json_decref(rec);
	/* The record first: a key on disk means a registered account. */
	if (text == NULL || fs_write_atomic(jp, text, strlen(text),
	    0600) == -1 || fs_write_atomic(kp, pem->ptr, pem->len,
	    0600) == -1) {
		snprintf(err, errsz, "cannot keep the account in %s: %s", kp,
		    strerror(errno));
		free(text);
		goto out;
	}
	free(text);
	log_info("registered ACME account %s for %s at %s", kid, email, ca);
	r = 0;
out:
	EVP_PKEY_free(key);
	if (r == -1)
		buf_reset(pem);
	return r;
}
