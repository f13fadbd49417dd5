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

#include "controller/tug.h"

#define IS_ADMIN_SQL \
	"(u.admin = 1 OR EXISTS (SELECT 1 FROM grants g WHERE " \
	"g.user_id = u.id AND g.action = 'admin' AND g.scope = 'global'))"

static void
row_to_user(sqlite3_stmt *st, void *p)
{
	struct user_rec	*u = p;

	memset(u, 0, sizeof *u);
	u->id = sqlite3_column_int64(st, 0);
	db_copy(st, 1, u->name, sizeof u->name);
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
	return db_rows("SELECT " USER_COLS " FROM users u ORDER BY u.name",
	    sizeof **out, row_to_user, NULL, out, n, "");
}

int
user_load(const char *name, struct user_rec *u)
{
	return db_row("SELECT " USER_COLS " FROM users u WHERE u.name = ?",
	    row_to_user, u, "t", name);
}

/* 1 removed, 0 no such user, -2 it is the last admin, -1 error. */
int
user_remove(const char *name)
{
	int64_t	admin, admins;
	int	r = -1;

	db_lock();
	if (db_row_locked("SELECT count(*) FROM users u WHERE u.name = ? AND "
	    IS_ADMIN_SQL, db_int64, &admin, "t", name) == 1 &&
	    db_row_locked("SELECT count(*) FROM users u WHERE " IS_ADMIN_SQL,
	    db_int64, &admins, "") == 1)
		r = admin == 1 && admins == 1 ? -2 : db_run_locked("DELETE "
		    "FROM users WHERE name = ?", "t", name);
	db_unlock();
	return r;
}

/* 1 added, 0 held already, -1 error (the user must exist). */
int
grant_add(const char *user, const char *action, const char *scope,
    const char *who)
{
	return db_run("INSERT OR IGNORE INTO grants (user_id, action, scope, "
	    "who, created_at) SELECT id, ?2, ?3, ?4, ?5 FROM users WHERE "
	    "name = ?1", "tttti", user, action, scope, who,
	    (int64_t)time(NULL));
}

/*
 * Whether removing admin on global from user would leave no admin: 1, 0,
 * -1 error. The caller holds db_lock.
 */
static int
last_admin_grant(const char *user)
{
	int64_t	flag, others, admin;

	if (db_row_locked("SELECT count(*) FROM users WHERE name = ? AND "
	    "admin = 1", db_int64, &flag, "t", user) != 1 ||
	    db_row_locked("SELECT count(*) FROM users u WHERE " IS_ADMIN_SQL
	    " AND u.name <> ?", db_int64, &others, "t", user) != 1)
		return -1;
	if (flag != 0 || others != 0)
		return 0;
	if (db_row_locked("SELECT count(*) FROM users u WHERE u.name = ? AND "
	    IS_ADMIN_SQL, db_int64, &admin, "t", user) != 1)
		return -1;
	return admin == 1;
}

/* 1 removed, 0 not held, -2 it would leave no admin, -1 error. */
int
grant_remove(const char *user, const char *action, const char *scope)
{
	int	r = 0;

	db_lock();
	if (strcmp(action, "admin") == 0 && strcmp(scope, "global") == 0)
		r = last_admin_grant(user);
	if (r == 0)
		r = db_run_locked("DELETE FROM grants WHERE user_id = (SELECT "
		    "id FROM users WHERE name = ?1) AND action = ?2 AND "
		    "scope = ?3", "ttt", user, action, scope);
	else if (r == 1)
		r = -2;
	db_unlock();
	return r;
}

static void
row_to_grant(sqlite3_stmt *st, void *p)
{
	struct grant_rec	*g = p;

	memset(g, 0, sizeof *g);
	db_copy(st, 0, g->action, sizeof g->action);
	db_copy(st, 1, g->scope, sizeof g->scope);
	db_copy(st, 2, g->who, sizeof g->who);
	g->created_at = sqlite3_column_int64(st, 3);
}

/* A user's grants, by scope then action; caller frees *out. */
int
grants_load(const char *user, struct grant_rec **out, size_t *n)
{
	return db_rows("SELECT g.action, g.scope, g.who, g.created_at FROM "
	    "grants g JOIN users u ON u.id = g.user_id WHERE u.name = ? "
	    "ORDER BY g.scope, g.action", sizeof **out, row_to_grant, NULL,
	    out, n, "t", user);
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
	int		 s, r = -1;

	db_lock();
	if ((st = db_prepare("SELECT u.name FROM user_keys k JOIN users u ON "
	    "u.id = k.user_id WHERE k.fingerprint = ?", "t", k->fingerprint)) ==
	    NULL)
		goto out;
	if ((s = sqlite3_step(st)) == SQLITE_ROW)
		snprintf(owner, ownersz, "%s", db_col(st, 0));
	sqlite3_finalize(st);
	if (s == SQLITE_ROW)
		r = 0;
	else if (s == SQLITE_DONE && db_run_locked("INSERT INTO user_keys "
	    "(user_id, fingerprint, type, body, comment, created_at) SELECT id, "
	    "?2, ?3, ?4, ?5, ?6 FROM users WHERE name = ?1", "ttttti", user,
	    k->fingerprint, k->type, k->body, k->comment, (int64_t)time(NULL)) ==
	    1)
		r = 1;
out:
	db_unlock();
	return r;
}

/* Remove one key of a user (fingerprint) or all (NULL); rows, or -1. */
int
user_key_remove(const char *user, const char *fingerprint)
{
	return db_run("DELETE FROM user_keys WHERE user_id = (SELECT id FROM "
	    "users WHERE name = ?1) AND (?2 IS NULL OR fingerprint = ?2)", "tt",
	    user, fingerprint);
}

static void
row_to_key(sqlite3_stmt *st, void *p)
{
	struct key_rec	*k = p;

	memset(k, 0, sizeof *k);
	db_copy(st, 0, k->user, sizeof k->user);
	snprintf(k->key.fingerprint, sizeof k->key.fingerprint, "%s",
	    db_col(st, 1));
	db_copy(st, 2, k->key.type, sizeof k->key.type);
	db_copy(st, 3, k->key.body, sizeof k->key.body);
	db_copy(st, 4, k->key.comment, sizeof k->key.comment);
	k->created_at = sqlite3_column_int64(st, 5);
}

/* The keys of one user, or of everyone (NULL), by user and fingerprint. */
int
user_keys_load(const char *user, struct key_rec **out, size_t *n)
{
	return db_rows("SELECT u.name, k.fingerprint, k.type, k.body, "
	    "k.comment, k.created_at FROM user_keys k JOIN users u ON "
	    "u.id = k.user_id WHERE ?1 IS NULL OR u.name = ?1 ORDER BY u.name, "
	    "k.fingerprint", sizeof **out, row_to_key, NULL, out, n, "t", user);
}
