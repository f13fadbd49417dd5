/*
 * db-user.c: tug users, their SSH keys and their grants, as stored. An
 * admin is a user with the admin flag or a grant of admin on global; the
 * last one cannot be removed. Removing a user removes its keys and grants
 * (ON DELETE CASCADE).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "controller/tug.h"

#define IS_ADMIN_SQL \
	"(u.admin = 1 OR EXISTS (SELECT 1 FROM grants g WHERE " \
	"g.user_id = u.id AND g.action = 'admin' AND g.scope = 'global'))"

static const char *
col(sqlite3_stmt *st, int i)
{
	const unsigned char	*t = sqlite3_column_text(st, i);

	return t != NULL ? (const char *)t : "";
}

static int
prepare(const char *sql, sqlite3_stmt **st)
{
	if (sqlite3_prepare_v2(db.h, sql, -1, st, NULL) != SQLITE_OK) {
		log_warnx("sqlite: %s", sqlite3_errmsg(db.h));
		return -1;
	}
	return 0;
}

/* One integer from a statement with up to two text parameters; -1 error. */
static int64_t
count_of(const char *sql, const char *a, const char *b)
{
	sqlite3_stmt	*st;
	int64_t		 n = -1;

	if (prepare(sql, &st) == -1)
		return -1;
	if (a != NULL)
		sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
	if (b != NULL)
		sqlite3_bind_text(st, 2, b, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

static void
row_to_user(sqlite3_stmt *st, struct user_rec *u)
{
	memset(u, 0, sizeof *u);
	u->id = sqlite3_column_int64(st, 0);
	snprintf(u->name, sizeof u->name, "%s", col(st, 1));
	u->admin = sqlite3_column_int(st, 2);
	u->created_at = sqlite3_column_int64(st, 3);
	u->nkeys = sqlite3_column_int(st, 4);
	u->ngrants = sqlite3_column_int(st, 5);
}

#define USER_COLS "u.id, u.name, u.admin, u.created_at, " \
	"(SELECT count(*) FROM user_keys k WHERE k.user_id = u.id), " \
	"(SELECT count(*) FROM grants g WHERE g.user_id = u.id)"

int
users_load(struct user_rec **out, size_t *n)
{
	sqlite3_stmt	*st;
	struct user_rec	*v = NULL, *nv;
	size_t		 cnt = 0;
	int		 r = SQLITE_ERROR;

	*out = NULL;
	*n = 0;
	db_lock();
	if (prepare("SELECT " USER_COLS " FROM users u ORDER BY u.name",
	    &st) == -1) {
		db_unlock();
		return -1;
	}
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		if ((nv = realloc(v, (cnt + 1) * sizeof *v)) == NULL) {
			r = SQLITE_NOMEM;
			break;
		}
		v = nv;
		row_to_user(st, &v[cnt++]);
	}
	sqlite3_finalize(st);
	db_unlock();
	*out = v;
	*n = cnt;
	return r == SQLITE_DONE ? 0 : -1;
}

int
user_load(const char *name, struct user_rec *u)
{
	sqlite3_stmt	*st;
	int		 r;

	db_lock();
	if (prepare("SELECT " USER_COLS " FROM users u WHERE u.name = ?",
	    &st) == -1) {
		db_unlock();
		return -1;
	}
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if ((r = sqlite3_step(st)) == SQLITE_ROW)
		row_to_user(st, u);
	sqlite3_finalize(st);
	db_unlock();
	return r == SQLITE_ROW ? 1 : r == SQLITE_DONE ? 0 : -1;
}

/* 1 removed, 0 no such user, -2 it is the last admin, -1 error. */
int
user_remove(const char *name)
{
	sqlite3_stmt	*st;
	int64_t		 admin, admins;
	int		 r;

	db_lock();
	admin = count_of("SELECT count(*) FROM users u WHERE u.name = ? AND "
	    IS_ADMIN_SQL, name, NULL);
	admins = count_of("SELECT count(*) FROM users u WHERE " IS_ADMIN_SQL,
	    NULL, NULL);
	if (admin < 0 || admins < 0) {
		db_unlock();
		return -1;
	}
	if (admin == 1 && admins == 1) {
		db_unlock();
		return -2;
	}
	if (prepare("DELETE FROM users WHERE name = ?", &st) == -1) {
		db_unlock();
		return -1;
	}
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	r = sqlite3_step(st) == SQLITE_DONE ? sqlite3_changes(db.h) : -1;
	sqlite3_finalize(st);
	db_unlock();
	return r;
}

/* 1 added, 0 held already, -1 error (the user must exist). */
int
grant_add(const char *user, const char *action, const char *scope,
    const char *who)
{
	sqlite3_stmt	*st;
	int		 r;

	db_lock();
	if (prepare("INSERT OR IGNORE INTO grants (user_id, action, scope, "
	    "who, created_at) SELECT id, ?2, ?3, ?4, ?5 FROM users WHERE "
	    "name = ?1", &st) == -1) {
		db_unlock();
		return -1;
	}
	sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, action, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, scope, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, who, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, (int64_t)time(NULL));
	r = sqlite3_step(st) == SQLITE_DONE ? sqlite3_changes(db.h) : -1;
	if (r == -1)
		log_warnx("grant: %s", sqlite3_errmsg(db.h));
	sqlite3_finalize(st);
	db_unlock();
	return r;
}

/* 1 removed, 0 not held, -2 it would leave no admin, -1 error. */
int
grant_remove(const char *user, const char *action, const char *scope)
{
	sqlite3_stmt	*st;
	int64_t		 flag, admins;
	int		 r;

	db_lock();
	if (strcmp(action, "admin") == 0 && strcmp(scope, "global") == 0) {
		flag = count_of("SELECT count(*) FROM users WHERE name = ? AND "
		    "admin = 1", user, NULL);
		admins = count_of("SELECT count(*) FROM users u WHERE "
		    IS_ADMIN_SQL " AND u.name <> ?", user, NULL);
		if (flag < 0 || admins < 0) {
			db_unlock();
			return -1;
		}
		if (flag == 0 && admins == 0 && count_of("SELECT count(*) "
		    "FROM users u WHERE u.name = ? AND " IS_ADMIN_SQL, user,
		    NULL) == 1) {
			db_unlock();
			return -2;
		}
	}
	if (prepare("DELETE FROM grants WHERE user_id = (SELECT id FROM users "
	    "WHERE name = ?1) AND action = ?2 AND scope = ?3", &st) == -1) {
		db_unlock();
		return -1;
	}
	sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, action, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, scope, -1, SQLITE_STATIC);
	r = sqlite3_step(st) == SQLITE_DONE ? sqlite3_changes(db.h) : -1;
	sqlite3_finalize(st);
	db_unlock();
	return r;
}

/* A user's grants, by scope then action; caller frees *out. */
int
grants_load(const char *user, struct grant_rec **out, size_t *n)
{
	sqlite3_stmt		*st;
	struct grant_rec	*v = NULL, *nv;
	size_t			 cnt = 0;
	int			 r = SQLITE_ERROR;

	*out = NULL;
	*n = 0;
	db_lock();
	if (prepare("SELECT g.action, g.scope, g.who, g.created_at FROM "
	    "grants g JOIN users u ON u.id = g.user_id WHERE u.name = ? "
	    "ORDER BY g.scope, g.action", &st) == -1) {
		db_unlock();
		return -1;
	}
	sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		if ((nv = realloc(v, (cnt + 1) * sizeof *v)) == NULL) {
			r = SQLITE_NOMEM;
			break;
		}
		v = nv;
		memset(&v[cnt], 0, sizeof v[cnt]);
		snprintf(v[cnt].action, sizeof v[cnt].action, "%s", col(st, 0));
		snprintf(v[cnt].scope, sizeof v[cnt].scope, "%s", col(st, 1));
		snprintf(v[cnt].who, sizeof v[cnt].who, "%s", col(st, 2));
		v[cnt].created_at = sqlite3_column_int64(st, 3);
		cnt++;
	}
	sqlite3_finalize(st);
	db_unlock();
	if (r != SQLITE_DONE) {
		free(v);
		return -1;
	}
	*out = v;
	*n = cnt;
	return 0;
}

/*
 * 1 added, 0 the key is someone's already (owner in owner: its user),
 * -1 error. Keys are unique: sshd would take the first line that matches.
 */
int
user_key_add(const char *user, const struct ssh_pubkey *k, char *owner,
    size_t ownersz)
{
	sqlite3_stmt	*st;
	int		 r;

	db_lock();
	if (prepare("SELECT u.name FROM user_keys k JOIN users u ON "
	    "u.id = k.user_id WHERE k.fingerprint = ?", &st) == -1) {
		db_unlock();
		return -1;
	}
	sqlite3_bind_text(st, 1, k->fingerprint, -1, SQLITE_STATIC);
	if ((r = sqlite3_step(st)) == SQLITE_ROW)
		snprintf(owner, ownersz, "%s", col(st, 0));
	sqlite3_finalize(st);
	if (r != SQLITE_DONE) {
		db_unlock();
		return r == SQLITE_ROW ? 0 : -1;
	}
	if (prepare("INSERT INTO user_keys (user_id, fingerprint, type, body, "
	    "comment, created_at) SELECT id, ?2, ?3, ?4, ?5, ?6 FROM users "
	    "WHERE name = ?1", &st) == -1) {
		db_unlock();
		return -1;
	}
	sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, k->fingerprint, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, k->type, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, k->body, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, k->comment, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, (int64_t)time(NULL));
	r = sqlite3_step(st) == SQLITE_DONE && sqlite3_changes(db.h) == 1 ?
	    1 : -1;
	if (r == -1)
		log_warnx("user key: %s", sqlite3_errmsg(db.h));
	sqlite3_finalize(st);
	db_unlock();
	return r;
}

/* Remove one key of a user (fingerprint) or all (NULL); rows, or -1. */
int
user_key_remove(const char *user, const char *fingerprint)
{
	sqlite3_stmt	*st;
	int		 r;

	db_lock();
	if (prepare("DELETE FROM user_keys WHERE user_id = (SELECT id FROM "
	    "users WHERE name = ?1) AND (?2 IS NULL OR fingerprint = ?2)",
	    &st) == -1) {
		db_unlock();
		return -1;
	}
	sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
	if (fingerprint != NULL)
		sqlite3_bind_text(st, 2, fingerprint, -1, SQLITE_STATIC);
	r = sqlite3_step(st) == SQLITE_DONE ? sqlite3_changes(db.h) : -1;
	sqlite3_finalize(st);
	db_unlock();
	return r;
}

/* The keys of one user, or of everyone (NULL), by user and fingerprint. */
int
user_keys_load(const char *user, struct key_rec **out, size_t *n)
{
	sqlite3_stmt	*st;
	struct key_rec	*v = NULL, *nv;
	size_t		 cnt = 0;
	int		 r = SQLITE_ERROR;

	*out = NULL;
	*n = 0;
	db_lock();
	if (prepare("SELECT u.name, k.fingerprint, k.type, k.body, k.comment, "
	    "k.created_at FROM user_keys k JOIN users u ON u.id = k.user_id "
	    "WHERE ?1 IS NULL OR u.name = ?1 ORDER BY u.name, k.fingerprint",
	    &st) == -1) {
		db_unlock();
		return -1;
	}
	if (user != NULL)
		sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		struct key_rec	*k;

		if ((nv = realloc(v, (cnt + 1) * sizeof *v)) == NULL) {
			r = SQLITE_NOMEM;
			break;
		}
		v = nv;
		k = &v[cnt++];
		memset(k, 0, sizeof *k);
		snprintf(k->user, sizeof k->user, "%s", col(st, 0));
		snprintf(k->key.fingerprint, sizeof k->key.fingerprint, "%s",
		    col(st, 1));
		snprintf(k->key.type, sizeof k->key.type, "%s", col(st, 2));
		snprintf(k->key.body, sizeof k->key.body, "%s", col(st, 3));
		snprintf(k->key.comment, sizeof k->key.comment, "%s",
		    col(st, 4));
		k->created_at = sqlite3_column_int64(st, 5);
	}
	sqlite3_finalize(st);
	db_unlock();
	if (r != SQLITE_DONE) {
		free(v);
		return -1;
	}
	*out = v;
	*n = cnt;
	return 0;
}
