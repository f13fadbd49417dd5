/*
 * acme.c: the controller's ACME settings (DESIGN §6 "Automatic HTTPS"):
 * the CA's directory URL, the contact email and an optional trust root,
 * kept in the meta table, and copied into a site's spec for its deploys.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xmalloc.h"
#include "controller/tug.h"

static void
row_text(sqlite3_stmt *st, void *p)
{
	char	**out = p;

	*out = xstrdup(db_col(st, 0));
}

/* meta's value for key, or NULL; caller frees. */
static char *
meta_get(const char *key)
{
	char	*v = NULL;

	if (db_row("SELECT value FROM meta WHERE key = ?", row_text, &v, "t",
	    key) != 1)
		return NULL;
	return v;
}

static int
meta_put(const char *key, const char *value)
{
	if (value == NULL)
		return db_run("DELETE FROM meta WHERE key = ?", "t", key) < 0 ?
		    -1 : 0;
	return db_run("INSERT INTO meta (key, value) VALUES (?, ?) ON "
	    "CONFLICT (key) DO UPDATE SET value = excluded.value", "tt", key,
	    value) < 0 ? -1 : 0;
}

void
acme_load(struct acme_conf *ac)
{
	char	*v;

	memset(ac, 0, sizeof *ac);
	snprintf(ac->ca, sizeof ac->ca, "%s", ACME_CA_DEFAULT);
	if ((v = meta_get("acme.ca")) != NULL)
		snprintf(ac->ca, sizeof ac->ca, "%s", v);
	free(v);
	if ((v = meta_get("acme.email")) != NULL)
		snprintf(ac->email, sizeof ac->email, "%s", v);
	free(v);
	ac->trust_root = meta_get("acme.trust_root");
}

void
acme_conf_free(struct acme_conf *ac)
{
	free(ac->trust_root);
	ac->trust_root = NULL;
}

int
acme_store(const struct acme_conf *ac)
{
	return meta_put("acme.ca", ac->ca) == -1 ||
	    meta_put("acme.email", ac->email[0] != '\0' ? ac->email : NULL) ==
	    -1 || meta_put("acme.trust_root", ac->trust_root) == -1 ? -1 : 0;
}

void
acme_fill(struct site_spec *s)
{
	struct acme_conf	ac;

	acme_load(&ac);
	snprintf(s->acme_ca, sizeof s->acme_ca, "%s", ac.ca);
	snprintf(s->acme_email, sizeof s->acme_email, "%s", ac.email);
	free(s->acme_root);
	s->acme_root = ac.trust_root;
}

/* The args of the agent's cert.renew (arg: struct cert_args). */
void
acme_cert_args(struct enc *e, void *arg)
{
	const struct cert_args	*ca = arg;

	enc_kstr(e, "site", ca->site);
	if (ca->ac == NULL)	/* site.status */
		return;
	enc_ku64(e, "days", ca->days);
	if (ca->ac->email[0] != '\0')
		acme_encode(e, ca->ac);
}

void
acme_encode(struct enc *e, const struct acme_conf *ac)
{
	enc_kmap(e, "acme");
	enc_kstr(e, "ca", ac->ca);
	enc_kstr(e, "email", ac->email);
	if (ac->trust_root != NULL)
		enc_kstr(e, "trust_root", ac->trust_root);
	enc_close(e);
}

static void
row_host_note(sqlite3_stmt *st, void *p)
{
	struct enc	*e = p;

	enc_map_open(e);
	enc_kstr(e, "host", db_col(st, 0) + strlen("acme.host."));
	enc_kstr(e, "setting", db_col(st, 1));
	enc_close(e);
}

void
acme_hosts_encode(struct enc *e)
{
	sqlite3_stmt	*st;

	db_lock();
	if ((st = db_prepare("SELECT key, value FROM meta WHERE key LIKE "
	    "'acme.host.%' ORDER BY key", "")) != NULL) {
		while (sqlite3_step(st) == SQLITE_ROW)
			row_host_note(st, e);
		sqlite3_finalize(st);
	}
	db_unlock();
}
