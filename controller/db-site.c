/*
 * db-site.c: the rows of sites, releases, per-host deployments and leases.
 * Every statement is prepared with bound parameters; nothing is formatted
 * into SQL.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "controller/tug.h"

static void
row_to_site(sqlite3_stmt *st, void *p)
{
	struct site_rec	*s = p;

	memset(s, 0, sizeof *s);
	s->id = sqlite3_column_int64(st, 0);
	db_copy(st, 1, s->name, sizeof s->name);
	db_copy(st, 2, s->kind, sizeof s->kind);
	db_copy(st, 3, s->file, sizeof s->file);
	s->spec = xstrdup(db_col(st, 4));
	db_copy(st, 5, s->spec_hash, sizeof s->spec_hash);
	s->current = sqlite3_column_int64(st, 6);
	s->updated_at = sqlite3_column_int64(st, 7);
	db_copy(st, 8, s->image, sizeof s->image);
}

#define SITE_COLS "id, name, kind, file, spec, spec_hash, current_release, " \
	"updated_at, image"

void
site_rec_free(struct site_rec *s)
{
	free(s->spec);
	s->spec = NULL;
}

static void
site_release(void *s)
{
	site_rec_free(s);
}

int
site_load(const char *name, struct site_rec *s)
{
	return db_row("SELECT " SITE_COLS " FROM sites WHERE name = ?",
	    row_to_site, s, "t", name);
}

int
sites_load(struct site_rec **out, size_t *n)
{
	return db_rows("SELECT " SITE_COLS " FROM sites ORDER BY name",
	    sizeof **out, row_to_site, site_release, out, n, "");
}

/* 1 created, 0 updated, -1 error. */
int
site_upsert(const char *name, const char *kind, const char *file,
    const char *spec, const char *hash)
{
	int	found;

	db_lock();
	found = db_row_locked("SELECT 1 FROM sites WHERE name = ?", NULL, NULL,
	    "t", name);
	if (found != -1 && db_run_locked(found ?
	    "UPDATE sites SET kind = ?2, file = ?3, spec = ?4, spec_hash = ?5, "
	    "updated_at = ?6 WHERE name = ?1" :
	    "INSERT INTO sites (name, kind, file, spec, spec_hash, created_at, "
	    "updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)", "ttttti", name,
	    kind, file, spec, hash, (int64_t)time(NULL)) == -1)
		found = -1;
	db_unlock();
	return found == -1 ? -1 : !found;
}

int
site_delete(const char *name)
{
	return db_delete_scoped("DELETE FROM sites WHERE name = ?", "site",
	    name);
}

int
site_set_current(int64_t site_id, int64_t number)
{
	return db_run("UPDATE sites SET current_release = ? WHERE id = ?",
	    "ii", number, site_id);
}

int
site_set_image(int64_t site_id, const char *image)
{
	return db_run("UPDATE sites SET image = ? WHERE id = ?", "ti", image,
	    site_id) == -1 ? -1 : 0;
}

int64_t
release_create(int64_t site_id, const char *image, const char *spec,
    const char *hash, const char *who, int64_t rollback_of, int64_t *number)
{
	int64_t	id = -1, n;

	db_lock();
	db_exec("BEGIN IMMEDIATE");
	if (db_row_locked("SELECT coalesce(max(number), 0) + 1 FROM releases "
	    "WHERE site_id = ?", db_int64, &n, "i", site_id) == 1 &&
	    db_run_locked("INSERT INTO releases (site_id, number, image, spec, "
	    "spec_hash, who, created_at, status, rollback_of) VALUES "
	    "(?, ?, ?, ?, ?, ?, ?, 'deploying', ?)", "iittttii", site_id, n,
	    image, spec, hash, who, (int64_t)time(NULL), rollback_of) != -1) {
		id = sqlite3_last_insert_rowid(db.h);
		*number = n;
	}
	db_exec(id != -1 ? "COMMIT" : "ROLLBACK");
	db_unlock();
	return id;
}

int
release_finish(int64_t id, const char *status)
{
	return db_run("UPDATE releases SET status = ?, finished_at = ? WHERE "
	    "id = ?", "tii", status, (int64_t)time(NULL), id) == -1 ? -1 : 0;
}

#define REL_COLS "id, number, image, spec, spec_hash, who, created_at, " \
	"finished_at, status, rollback_of"

static void
row_to_release(sqlite3_stmt *st, void *p)
{
	struct release_rec	*r = p;

	memset(r, 0, sizeof *r);
	r->id = sqlite3_column_int64(st, 0);
	r->number = sqlite3_column_int64(st, 1);
	db_copy(st, 2, r->image, sizeof r->image);
	r->spec = xstrdup(db_col(st, 3));
	db_copy(st, 4, r->spec_hash, sizeof r->spec_hash);
	db_copy(st, 5, r->who, sizeof r->who);
	r->created_at = sqlite3_column_int64(st, 6);
	r->finished_at = sqlite3_column_int64(st, 7);
	db_copy(st, 8, r->status, sizeof r->status);
	r->rollback_of = sqlite3_column_int64(st, 9);
}

void
release_rec_free(struct release_rec *r)
{
	free(r->spec);
	r->spec = NULL;
}

static void
release_release(void *r)
{
	release_rec_free(r);
}

int
release_load(int64_t site_id, int64_t number, struct release_rec *rel)
{
	return db_row("SELECT " REL_COLS " FROM releases WHERE site_id = ? "
	    "AND number = ?", row_to_release, rel, "ii", site_id, number);
}

/* The site's newest limit releases (-1: all), newest first. */
int
releases_load(int64_t site_id, int64_t limit, struct release_rec **out,
    size_t *n)
{
	return db_rows("SELECT " REL_COLS " FROM releases WHERE site_id = ? "
	    "ORDER BY number DESC LIMIT ?", sizeof **out, row_to_release,
	    release_release, out, n, "ii", site_id, limit);
}

/* The site's newest release, whatever its state. */
int
release_newest(int64_t site_id, struct release_rec *rel)
{
	return db_row("SELECT " REL_COLS " FROM releases WHERE site_id = ? "
	    "ORDER BY number DESC LIMIT 1", row_to_release, rel, "i", site_id);
}

static void
row_to_deploy(sqlite3_stmt *st, void *p)
{
	struct deploy_rec	*d = p;

	memset(d, 0, sizeof *d);
	d->id = sqlite3_column_int64(st, 0);
	db_copy(st, 1, d->host, sizeof d->host);
	db_copy(st, 2, d->state, sizeof d->state);
	d->started_at = sqlite3_column_int64(st, 3);
	d->finished_at = sqlite3_column_int64(st, 4);
	db_copy(st, 5, d->error, sizeof d->error);
}

int
deployments_load(int64_t release_id, struct deploy_rec **out, size_t *n)
{
	return db_rows("SELECT id, host, state, started_at, finished_at, error "
	    "FROM deployments WHERE release_id = ? ORDER BY id", sizeof **out,
	    row_to_deploy, NULL, out, n, "i", release_id);
}

int64_t
deployment_start(int64_t release_id, const char *host)
{
	int64_t	id = -1;

	db_lock();
	if (db_run_locked("INSERT INTO deployments (release_id, host, state, "
	    "started_at) VALUES (?, ?, 'running', ?)", "iti", release_id, host,
	    (int64_t)time(NULL)) != -1)
		id = sqlite3_last_insert_rowid(db.h);
	db_unlock();
	return id;
}

int
deployment_finish(int64_t id, const char *state, int64_t port,
    const char *error)
{
	return db_run("UPDATE deployments SET state = ?, port = ?, error = ?, "
	    "finished_at = ? WHERE id = ?", "titii", state, port, error,
	    (int64_t)time(NULL), id) == -1 ? -1 : 0;
}

int
lock_take(const char *name, const char *holder, int64_t ttl_s, char *who,
    size_t whosz, int64_t *since)
{
	sqlite3_stmt	*st;
	int64_t		 now = (int64_t)time(NULL);
	int		 r = -1, s;

	db_lock();
	db_exec("BEGIN IMMEDIATE");
	if (db_run_locked("DELETE FROM locks WHERE name = ? AND "
	    "expires_at <= ?", "ti", name, now) == -1 ||
	    (st = db_prepare("SELECT holder, since FROM locks WHERE name = ?",
	    "t", name)) == NULL)
		goto out;
	if ((s = sqlite3_step(st)) == SQLITE_ROW) {
		snprintf(who, whosz, "%s", db_col(st, 0));
		*since = sqlite3_column_int64(st, 1);
		r = 0;
	}
	sqlite3_finalize(st);
	if (s == SQLITE_DONE)
		r = db_run_locked("INSERT INTO locks (name, holder, since, "
		    "expires_at) VALUES (?, ?, ?, ?)", "ttii", name, holder,
		    now, now + ttl_s) == -1 ? -1 : 1;
out:
	db_exec(r == -1 ? "ROLLBACK" : "COMMIT");
	db_unlock();
	return r;
}

int
lock_drop(const char *name, const char *holder)
{
	return db_run("DELETE FROM locks WHERE name = ? AND holder = ?", "tt",
	    name, holder) == -1 ? -1 : 0;
}

/* At start-up: every lease belonged to a tugd that is gone. */
int
locks_clear(void)
{
	return db_run("DELETE FROM locks", "") == -1 ? -1 : 0;
}

struct stuck {
	char	site[SITE_NAME_MAX + 1];
	int64_t	number;
};

static void
row_to_stuck(sqlite3_stmt *st, void *p)
{
	struct stuck	*s = p;

	db_copy(st, 0, s->site, sizeof s->site);
	s->number = sqlite3_column_int64(st, 1);
}

/*
 * At start-up: a release still 'deploying' (and its hosts' 'running'
 * deployments) belonged to a tugd that was killed in its middle. Marked
 * 'interrupted', never rolled back to, each said in the audit log. What
 * a host serves is the agent's word (site status); the next deploy
 * converges it.
 */
int
releases_interrupted(void)
{
	struct stuck	*v = NULL;
	char		 target[SITE_NAME_MAX + 8], result[128];
	size_t		 n = 0, i;
	int64_t		 now = (int64_t)time(NULL);

	if (db_rows("SELECT sites.name, releases.number FROM releases JOIN "
	    "sites ON sites.id = releases.site_id WHERE releases.status = "
	    "'deploying' ORDER BY releases.id", sizeof *v, row_to_stuck, NULL,
	    &v, &n, "") == -1)
		return -1;
	if (n > 0 && (db_run("UPDATE deployments SET state = 'interrupted', "
	    "error = 'tugd stopped before this host finished', finished_at = "
	    "? WHERE state = 'running'", "i", now) == -1 ||
	    db_run("UPDATE releases SET status = 'interrupted', finished_at = "
	    "? WHERE status = 'deploying'", "i", now) == -1)) {
		free(v);
		return -1;
	}
	for (i = 0; i < n; i++) {
		snprintf(target, sizeof target, "site:%s", v[i].site);
		snprintf(result, sizeof result, "release %lld interrupted: "
		    "tugd stopped during its deploy", (long long)v[i].number);
		audit_add("tugd", "startup", "deploy", target, "{}", 1, result);
		log_warnx("site %s: %s", v[i].site, result);
	}
	free(v);
	return (int)n;
}

static void
row_to_env(sqlite3_stmt *st, void *p)
{
	struct env_rec	*e = p;

	memset(e, 0, sizeof *e);
	db_copy(st, 0, e->key, sizeof e->key);
	buf_init(&e->value, 0);
	buf_add(&e->value, sqlite3_column_blob(st, 1),
	    (size_t)sqlite3_column_bytes(st, 1));
	e->secret = sqlite3_column_int(st, 2);
}

static void
env_release(void *e)
{
	buf_release(&((struct env_rec *)e)->value);
}

int
env_load(int64_t site_id, struct env_rec **out, size_t *n)
{
	return db_rows("SELECT key, value, secret FROM env WHERE site_id = ? "
	    "ORDER BY key", sizeof **out, row_to_env, env_release, out, n, "i",
	    site_id);
}

void
env_recs_free(struct env_rec *v, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		env_release(&v[i]);
	free(v);
}

int
env_put(int64_t site_id, const char *key, const void *val, size_t n,
    int secret)
{
	return db_run("INSERT INTO env (site_id, key, value, secret) VALUES "
	    "(?, ?, ?, ?) ON CONFLICT (site_id, key) DO UPDATE SET "
	    "value = excluded.value, secret = excluded.secret", "itbi", site_id,
	    key, val, n, (int64_t)secret) == -1 ? -1 : 0;
}

int
env_del(int64_t site_id, const char *key)
{
	return db_run("DELETE FROM env WHERE site_id = ? AND key = ?", "it",
	    site_id, key);
}

static void
row_to_name(sqlite3_stmt *st, void *p)
{
	*(char **)p = xstrdup(db_col(st, 0));
}

static void
name_release(void *p)
{
	free(*(char **)p);
}

/*
 * The images a host keeps for the site (deploy.keep): those of its newest
 * keep - 1 releases that went out (done) before release `before`, each once.
 */
int
release_images_kept(int64_t site_id, int64_t before, unsigned keep,
    char ***images, size_t *n)
{
	return db_rows("SELECT DISTINCT image FROM (SELECT image FROM releases "
	    "WHERE site_id = ? AND number < ? AND status = 'done' ORDER BY "
	    "number DESC LIMIT ?)", sizeof **images, row_to_name, name_release,
	    images, n, "iii", site_id, before, (int64_t)(keep > 0 ? keep - 1 :
	    0));
}

int
serving_hosts(char ***hosts, size_t *n)
{
	return db_rows("SELECT DISTINCT d.host FROM deployments d JOIN releases "
	    "r ON r.id = d.release_id JOIN sites s ON s.id = r.site_id WHERE "
	    "s.kind = 'container' AND r.number = s.current_release AND "
	    "d.state = 'done' ORDER BY d.host", sizeof **hosts, row_to_name,
	    name_release, hosts, n, "");
}

/* The names of a site's volumes made before they were its own (schema 6). */
int
legacy_volumes_load(int64_t site_id, char ***names, size_t *n)
{
	return db_rows("SELECT name FROM legacy_volumes WHERE site_id = ? "
	    "ORDER BY name", sizeof **names, row_to_name, name_release, names,
	    n, "i", site_id);
}
