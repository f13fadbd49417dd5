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
#include "controller/tug.h"

static const char *
col(sqlite3_stmt *st, int i)
{
	const unsigned char	*t = sqlite3_column_text(st, i);

	return t != NULL ? (const char *)t : "";
}

static sqlite3_stmt *
prep(const char *sql)
{
	sqlite3_stmt	*st;

	if (sqlite3_prepare_v2(db.h, sql, -1, &st, NULL) != SQLITE_OK) {
		log_warnx("sqlite: %s: %s", sqlite3_errmsg(db.h), sql);
		return NULL;
	}
	return st;
}

static void
row_to_site(sqlite3_stmt *st, struct site_rec *s)
{
	memset(s, 0, sizeof *s);
	s->id = sqlite3_column_int64(st, 0);
	snprintf(s->name, sizeof s->name, "%s", col(st, 1));
	snprintf(s->kind, sizeof s->kind, "%s", col(st, 2));
	snprintf(s->file, sizeof s->file, "%s", col(st, 3));
	s->spec = strdup(col(st, 4));
	snprintf(s->spec_hash, sizeof s->spec_hash, "%s", col(st, 5));
	s->current = sqlite3_column_int64(st, 6);
	s->updated_at = sqlite3_column_int64(st, 7);
}

#define SITE_COLS "id, name, kind, file, spec, spec_hash, current_release, " \
	"updated_at"

void
site_rec_free(struct site_rec *s)
{
	free(s->spec);
	s->spec = NULL;
}

int
site_load(const char *name, struct site_rec *s)
{
	sqlite3_stmt	*st;
	int		 r;

	db_lock();
	if ((st = prep("SELECT " SITE_COLS " FROM sites WHERE name = ?")) ==
	    NULL) {
		db_unlock();
		return -1;
	}
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if ((r = sqlite3_step(st)) == SQLITE_ROW)
		row_to_site(st, s);
	sqlite3_finalize(st);
	db_unlock();
	return r == SQLITE_ROW ? 1 : r == SQLITE_DONE ? 0 : -1;
}

int
sites_load(struct site_rec **out, size_t *n)
{
	sqlite3_stmt	*st;
	struct site_rec	*v = NULL, *nv;
	int		 r;

	*out = NULL;
	*n = 0;
	db_lock();
	if ((st = prep("SELECT " SITE_COLS " FROM sites ORDER BY name")) ==
	    NULL) {
		db_unlock();
		return -1;
	}
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		if ((nv = realloc(v, (*n + 1) * sizeof *v)) == NULL)
			break;
		v = nv;
		row_to_site(st, &v[(*n)++]);
	}
	sqlite3_finalize(st);
	db_unlock();
	*out = v;
	return r == SQLITE_DONE ? 0 : -1;
}

int
site_upsert(const char *name, const char *kind, const char *file,
    const char *spec, const char *hash)
{
	sqlite3_stmt	*st;
	int		 created, r;
	int64_t		 now = (int64_t)time(NULL);

	db_lock();
	if ((st = prep("SELECT 1 FROM sites WHERE name = ?")) == NULL)
		goto fail;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	created = sqlite3_step(st) != SQLITE_ROW;
	sqlite3_finalize(st);
	st = prep(created ?
	    "INSERT INTO sites (name, kind, file, spec, spec_hash, created_at, "
	    "updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)" :
	    "UPDATE sites SET kind = ?2, file = ?3, spec = ?4, spec_hash = ?5, "
	    "updated_at = ?6 WHERE name = ?1");
	if (st == NULL)
		goto fail;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, file, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, spec, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, hash, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, now);
	r = sqlite3_step(st);
	sqlite3_finalize(st);
	db_unlock();
	return r == SQLITE_DONE ? created : -1;
fail:
	db_unlock();
	return -1;
}

static int
exec1(const char *sql, const char *text, int64_t a, int64_t b)
{
	sqlite3_stmt	*st;
	int		 r;

	db_lock();
	if ((st = prep(sql)) == NULL) {
		db_unlock();
		return -1;
	}
	if (text != NULL)
		sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
	else
		sqlite3_bind_int64(st, 1, a);
	if (sqlite3_bind_parameter_count(st) >= 2)
		sqlite3_bind_int64(st, 2, text != NULL ? a : b);
	r = sqlite3_step(st);
	sqlite3_finalize(st);
	r = r == SQLITE_DONE ? sqlite3_changes(db.h) : -1;
	db_unlock();
	return r;
}

int
site_delete(const char *name)
{
	return exec1("DELETE FROM sites WHERE name = ?", name, 0, 0);
}

int
site_set_current(int64_t site_id, int64_t number)
{
	return exec1("UPDATE sites SET current_release = ?2 WHERE id = ?1",
	    NULL, site_id, number);
}

int64_t
release_create(int64_t site_id, const char *image, const char *spec,
    const char *hash, const char *who, int64_t rollback_of, int64_t *number)
{
	sqlite3_stmt	*st;
	int64_t		 id = -1, n = 1;

	db_lock();
	db_exec("BEGIN IMMEDIATE");
	if ((st = prep("SELECT coalesce(max(number), 0) + 1 FROM releases "
	    "WHERE site_id = ?")) == NULL)
		goto out;
	sqlite3_bind_int64(st, 1, site_id);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if ((st = prep("INSERT INTO releases (site_id, number, image, spec, "
	    "spec_hash, who, created_at, status, rollback_of) VALUES "
	    "(?, ?, ?, ?, ?, ?, ?, 'deploying', ?)")) == NULL)
		goto out;
	sqlite3_bind_int64(st, 1, site_id);
	sqlite3_bind_int64(st, 2, n);
	sqlite3_bind_text(st, 3, image, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, spec, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, hash, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, who, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, (int64_t)time(NULL));
	sqlite3_bind_int64(st, 8, rollback_of);
	if (sqlite3_step(st) == SQLITE_DONE) {
		id = sqlite3_last_insert_rowid(db.h);
		*number = n;
	}
	sqlite3_finalize(st);
out:
	db_exec(id != -1 ? "COMMIT" : "ROLLBACK");
	db_unlock();
	return id;
}

int
release_finish(int64_t id, const char *status)
{
	sqlite3_stmt	*st;
	int		 r;

	db_lock();
	if ((st = prep("UPDATE releases SET status = ?, finished_at = ? WHERE "
	    "id = ?")) == NULL) {
		db_unlock();
		return -1;
	}
	sqlite3_bind_text(st, 1, status, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (int64_t)time(NULL));
	sqlite3_bind_int64(st, 3, id);
	r = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
	sqlite3_finalize(st);
	db_unlock();
	return r;
}

#define REL_COLS "id, number, image, spec, spec_hash, who, created_at, " \
	"finished_at, status, rollback_of"

static void
row_to_release(sqlite3_stmt *st, struct release_rec *r)
{
	memset(r, 0, sizeof *r);
	r->id = sqlite3_column_int64(st, 0);
	r->number = sqlite3_column_int64(st, 1);
	snprintf(r->image, sizeof r->image, "%s", col(st, 2));
	r->spec = strdup(col(st, 3));
	snprintf(r->spec_hash, sizeof r->spec_hash, "%s", col(st, 4));
	snprintf(r->who, sizeof r->who, "%s", col(st, 5));
	r->created_at = sqlite3_column_int64(st, 6);
	r->finished_at = sqlite3_column_int64(st, 7);
	snprintf(r->status, sizeof r->status, "%s", col(st, 8));
	r->rollback_of = sqlite3_column_int64(st, 9);
}

void
release_rec_free(struct release_rec *r)
{
	free(r->spec);
	r->spec = NULL;
}

int
release_load(int64_t site_id, int64_t number, struct release_rec *rel)
{
	sqlite3_stmt	*st;
	int		 r;

	db_lock();
	if ((st = prep("SELECT " REL_COLS " FROM releases WHERE site_id = ? "
	    "AND number = ?")) == NULL) {
		db_unlock();
		return -1;
	}
	sqlite3_bind_int64(st, 1, site_id);
	sqlite3_bind_int64(st, 2, number);
	if ((r = sqlite3_step(st)) == SQLITE_ROW)
		row_to_release(st, rel);
	sqlite3_finalize(st);
	db_unlock();
	return r == SQLITE_ROW ? 1 : r == SQLITE_DONE ? 0 : -1;
}

int
releases_load(int64_t site_id, struct release_rec **out, size_t *n)
{
	sqlite3_stmt		*st;
	struct release_rec	*v = NULL, *nv;
	int			 r;

	*out = NULL;
	*n = 0;
	db_lock();
	if ((st = prep("SELECT " REL_COLS " FROM releases WHERE site_id = ? "
	    "ORDER BY number DESC")) == NULL) {
		db_unlock();
		return -1;
	}
	sqlite3_bind_int64(st, 1, site_id);
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		if ((nv = realloc(v, (*n + 1) * sizeof *v)) == NULL)
			break;
		v = nv;
		row_to_release(st, &v[(*n)++]);
	}
	sqlite3_finalize(st);
	db_unlock();
	*out = v;
	return r == SQLITE_DONE ? 0 : -1;
}

int64_t
deployment_start(int64_t release_id, const char *host)
{
	sqlite3_stmt	*st;
	int64_t		 id = -1;

	db_lock();
	if ((st = prep("INSERT INTO deployments (release_id, host, state, "
	    "started_at) VALUES (?, ?, 'running', ?)")) != NULL) {
		sqlite3_bind_int64(st, 1, release_id);
		sqlite3_bind_text(st, 2, host, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, (int64_t)time(NULL));
		if (sqlite3_step(st) == SQLITE_DONE)
			id = sqlite3_last_insert_rowid(db.h);
		sqlite3_finalize(st);
	}
	db_unlock();
	return id;
}

int
deployment_finish(int64_t id, const char *state, int64_t port,
    const char *error)
{
	sqlite3_stmt	*st;
	int		 r = -1;

	db_lock();
	if ((st = prep("UPDATE deployments SET state = ?, port = ?, error = ?, "
	    "finished_at = ? WHERE id = ?")) != NULL) {
		sqlite3_bind_text(st, 1, state, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, port);
		sqlite3_bind_text(st, 3, error, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, (int64_t)time(NULL));
		sqlite3_bind_int64(st, 5, id);
		r = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
		sqlite3_finalize(st);
	}
	db_unlock();
	return r;
}

int
lock_take(const char *name, const char *holder, int64_t ttl_s, char *who,
    size_t whosz, int64_t *since)
{
	sqlite3_stmt	*st;
	int64_t		 now = (int64_t)time(NULL);
	int		 r = -1;

	db_lock();
	db_exec("BEGIN IMMEDIATE");
	if ((st = prep("DELETE FROM locks WHERE name = ? AND expires_at <= ?"))
	    == NULL)
		goto out;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_step(st);
	sqlite3_finalize(st);
	if ((st = prep("SELECT holder, since FROM locks WHERE name = ?")) ==
	    NULL)
		goto out;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		snprintf(who, whosz, "%s", col(st, 0));
		*since = sqlite3_column_int64(st, 1);
		sqlite3_finalize(st);
		r = 0;
		goto out;
	}
	sqlite3_finalize(st);
	if ((st = prep("INSERT INTO locks (name, holder, since, expires_at) "
	    "VALUES (?, ?, ?, ?)")) == NULL)
		goto out;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, holder, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now);
	sqlite3_bind_int64(st, 4, now + ttl_s);
	r = sqlite3_step(st) == SQLITE_DONE ? 1 : -1;
	sqlite3_finalize(st);
out:
	db_exec(r == -1 ? "ROLLBACK" : "COMMIT");
	db_unlock();
	return r;
}

int
lock_drop(const char *name, const char *holder)
{
	sqlite3_stmt	*st;
	int		 r = -1;

	db_lock();
	if ((st = prep("DELETE FROM locks WHERE name = ? AND holder = ?")) !=
	    NULL) {
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, holder, -1, SQLITE_STATIC);
		r = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
		sqlite3_finalize(st);
	}
	db_unlock();
	return r;
}

/* At start-up: every lease belonged to a tugd that is gone. */
int
locks_clear(void)
{
	int	r;

	db_lock();
	r = db_exec("DELETE FROM locks");
	db_unlock();
	return r;
}

int
env_load(int64_t site_id, struct env_rec **out, size_t *n)
{
	sqlite3_stmt	*st;
	struct env_rec	*v = NULL, *nv;
	int		 r;

	*out = NULL;
	*n = 0;
	db_lock();
	if ((st = prep("SELECT key, value, secret FROM env WHERE site_id = ? "
	    "ORDER BY key")) == NULL) {
		db_unlock();
		return -1;
	}
	sqlite3_bind_int64(st, 1, site_id);
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		if ((nv = realloc(v, (*n + 1) * sizeof *v)) == NULL)
			break;
		v = nv;
		memset(&v[*n], 0, sizeof v[*n]);
		snprintf(v[*n].key, sizeof v[*n].key, "%s", col(st, 0));
		buf_init(&v[*n].value, 0);
		buf_add(&v[*n].value, sqlite3_column_blob(st, 1),
		    (size_t)sqlite3_column_bytes(st, 1));
		v[*n].secret = sqlite3_column_int(st, 2);
		(*n)++;
	}
	sqlite3_finalize(st);
	db_unlock();
	*out = v;
	return r == SQLITE_DONE ? 0 : -1;
}

void
env_recs_free(struct env_rec *v, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		buf_release(&v[i].value);
	free(v);
}

int
env_put(int64_t site_id, const char *key, const void *val, size_t n,
    int secret)
{
	sqlite3_stmt	*st;
	int		 r = -1;

	db_lock();
	if ((st = prep("INSERT INTO env (site_id, key, value, secret) VALUES "
	    "(?, ?, ?, ?) ON CONFLICT (site_id, key) DO UPDATE SET "
	    "value = excluded.value, secret = excluded.secret")) != NULL) {
		sqlite3_bind_int64(st, 1, site_id);
		sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
		sqlite3_bind_blob(st, 3, val, (int)n, SQLITE_STATIC);
		sqlite3_bind_int(st, 4, secret);
		r = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
		sqlite3_finalize(st);
	}
	db_unlock();
	return r;
}

int
env_del(int64_t site_id, const char *key)
{
	sqlite3_stmt	*st;
	int		 r = -1;

	db_lock();
	if ((st = prep("DELETE FROM env WHERE site_id = ? AND key = ?")) !=
	    NULL) {
		sqlite3_bind_int64(st, 1, site_id);
		sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
		r = sqlite3_step(st) == SQLITE_DONE ? sqlite3_changes(db.h) :
		    -1;
		sqlite3_finalize(st);
	}
	db_unlock();
	return r;
}
