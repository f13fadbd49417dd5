/*
 * db.c: tugd's SQLite state. One connection, WAL, foreign keys on, the
 * schema versioned with PRAGMA user_version and moved forward by the
 * migrations below, in order, each in its own transaction. Access is
 * serialised by one mutex: tugd's requests are short.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "controller/tug.h"

struct db	db = { NULL, PTHREAD_MUTEX_INITIALIZER };

/* Forward only: never edit a landed migration, append a new one. */
static const char *migrations[] = {
	/* 1: users, hosts and their groups, the audit log. */
	"CREATE TABLE users ("
	"  id INTEGER PRIMARY KEY,"
	"  name TEXT NOT NULL UNIQUE,"
	"  admin INTEGER NOT NULL DEFAULT 0,"
	"  created_at INTEGER NOT NULL);"
	"CREATE TABLE hosts ("
	"  id INTEGER PRIMARY KEY,"
	"  name TEXT NOT NULL UNIQUE,"
	"  address TEXT NOT NULL,"
	"  port INTEGER NOT NULL DEFAULT 22,"
	"  ssh_user TEXT NOT NULL,"
	"  key_path TEXT NOT NULL DEFAULT '',"
	"  hostkey TEXT NOT NULL,"
	"  agent_hash TEXT NOT NULL DEFAULT '',"
	"  facts TEXT,"
	"  last_seen INTEGER NOT NULL DEFAULT 0,"
	"  created_at INTEGER NOT NULL);"
	"CREATE TABLE host_groups ("
	"  host_id INTEGER NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,"
	"  grp TEXT NOT NULL,"
	"  PRIMARY KEY (host_id, grp));"
	"CREATE TABLE audit ("
	"  id INTEGER PRIMARY KEY,"
	"  at INTEGER NOT NULL,"
	"  user TEXT NOT NULL,"
	"  op TEXT NOT NULL,"
	"  target TEXT NOT NULL DEFAULT '',"
	"  args TEXT NOT NULL DEFAULT '{}',"
	"  allowed INTEGER NOT NULL,"
	"  result TEXT NOT NULL DEFAULT '');",

	/* 2: sites, their releases and per-host deployments, env, locks. */
	"CREATE TABLE sites ("
	"  id INTEGER PRIMARY KEY,"
	"  name TEXT NOT NULL UNIQUE,"
	"  kind TEXT NOT NULL,"
	"  file TEXT NOT NULL,"
	"  spec TEXT NOT NULL,"
	"  spec_hash TEXT NOT NULL,"
	"  current_release INTEGER NOT NULL DEFAULT 0,"
	"  created_at INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL);"
	"CREATE TABLE releases ("
	"  id INTEGER PRIMARY KEY,"
	"  site_id INTEGER NOT NULL REFERENCES sites(id) ON DELETE CASCADE,"
	"  number INTEGER NOT NULL,"
	"  image TEXT NOT NULL,"
	"  spec TEXT NOT NULL,"
	"  spec_hash TEXT NOT NULL,"
	"  who TEXT NOT NULL,"
	"  created_at INTEGER NOT NULL,"
	"  finished_at INTEGER NOT NULL DEFAULT 0,"
	"  status TEXT NOT NULL,"
	"  rollback_of INTEGER NOT NULL DEFAULT 0,"
	"  UNIQUE (site_id, number));"
	"CREATE TABLE deployments ("
	"  id INTEGER PRIMARY KEY,"
	"  release_id INTEGER NOT NULL REFERENCES releases(id) ON DELETE CASCADE,"
	"  host TEXT NOT NULL,"
	"  state TEXT NOT NULL,"
	"  started_at INTEGER NOT NULL DEFAULT 0,"
	"  finished_at INTEGER NOT NULL DEFAULT 0,"
	"  port INTEGER NOT NULL DEFAULT 0,"
	"  error TEXT NOT NULL DEFAULT '');"
	"CREATE TABLE env ("
	"  site_id INTEGER NOT NULL REFERENCES sites(id) ON DELETE CASCADE,"
	"  key TEXT NOT NULL,"
	"  value BLOB NOT NULL,"
	"  secret INTEGER NOT NULL DEFAULT 0,"
	"  PRIMARY KEY (site_id, key));"
	"CREATE TABLE locks ("
	"  name TEXT PRIMARY KEY,"
	"  holder TEXT NOT NULL,"
	"  since INTEGER NOT NULL,"
	"  expires_at INTEGER NOT NULL);",

	/* 3: registry logins (password sealed like a secret). */
	"CREATE TABLE registries ("
	"  server TEXT PRIMARY KEY,"
	"  username TEXT NOT NULL,"
	"  password BLOB NOT NULL,"
	"  who TEXT NOT NULL,"
	"  created_at INTEGER NOT NULL);",

	/*
	 * 4: users' SSH keys and grants; the audit log rebuilt to be
	 * hash-chained (who connected, the previous row's hash, its own),
	 * with AUTOINCREMENT so that a deleted last row leaves a gap.
	 * audit_chain_existing() then chains the rows already there.
	 */
	"CREATE TABLE user_keys ("
	"  id INTEGER PRIMARY KEY,"
	"  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
	"  fingerprint TEXT NOT NULL UNIQUE,"
	"  type TEXT NOT NULL,"
	"  body TEXT NOT NULL,"
	"  comment TEXT NOT NULL DEFAULT '',"
	"  created_at INTEGER NOT NULL);"
	"CREATE TABLE grants ("
	"  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
	"  action TEXT NOT NULL,"
	"  scope TEXT NOT NULL,"
	"  who TEXT NOT NULL DEFAULT '',"
	"  created_at INTEGER NOT NULL,"
	"  PRIMARY KEY (user_id, action, scope));"
	"CREATE TABLE audit_chained ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  at INTEGER NOT NULL,"
	"  user TEXT NOT NULL,"
	"  peer TEXT NOT NULL DEFAULT '',"
	"  op TEXT NOT NULL,"
	"  target TEXT NOT NULL DEFAULT '',"
	"  args TEXT NOT NULL DEFAULT '{}',"
	"  allowed INTEGER NOT NULL,"
	"  result TEXT NOT NULL DEFAULT '',"
	"  prev_hash TEXT NOT NULL DEFAULT '',"
	"  hash TEXT NOT NULL DEFAULT '');"
	"INSERT INTO audit_chained (id, at, user, op, target, args, allowed, "
	"  result) SELECT id, at, user, op, target, args, allowed, result "
	"  FROM audit ORDER BY id;"
	"DROP TABLE audit;"
	"ALTER TABLE audit_chained RENAME TO audit;"
	"CREATE INDEX audit_at ON audit(at);",

	/* 5: the audit log is append-only. */
	"CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN"
	"  SELECT RAISE(ABORT, 'the audit log is append-only');"
	"END;"
	"CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN"
	"  SELECT RAISE(ABORT, 'the audit log is append-only');"
	"END;",
};
#define SCHEMA_VERSION	((int)(sizeof migrations / sizeof migrations[0]))

/* C steps of a migration, run after its SQL in the same transaction. */
static const struct {
	int	  version;
	int	(*fn)(void);
} migration_steps[] = {
	{ 4, audit_chain_existing },
};

static int
migration_step(int version)
{
	size_t	i;

	for (i = 0; i < sizeof migration_steps / sizeof migration_steps[0];
	    i++)
		if (migration_steps[i].version == version &&
		    migration_steps[i].fn() == -1)
			return -1;
	return 0;
}

void
db_lock(void)
{
	pthread_mutex_lock(&db.lock);
}

void
db_unlock(void)
{
	pthread_mutex_unlock(&db.lock);
}

int
db_exec(const char *sql)
{
	char	*msg = NULL;

	if (sqlite3_exec(db.h, sql, NULL, NULL, &msg) != SQLITE_OK) {
		log_warnx("sqlite: %s", msg != NULL ? msg : "?");
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

/*
 * Prepare sql and bind its parameters from types, one character a
 * parameter, in order: 't' text (const char *; NULL binds NULL), 'i' an
 * int64_t (cast an int: these are varargs), 'b' a blob (const void *,
 * size_t). The caller holds db_lock and keeps the arguments alive until it
 * finalizes the statement. NULL on error, logged with the SQL.
 */
static sqlite3_stmt *
vprepare(const char *sql, const char *types, va_list ap)
{
	sqlite3_stmt	*st;
	const void	*p;
	int		 i, r = SQLITE_OK;

	if (sqlite3_prepare_v2(db.h, sql, -1, &st, NULL) != SQLITE_OK) {
		log_warnx("sqlite: %s: %s", sqlite3_errmsg(db.h), sql);
		return NULL;
	}
	for (i = 0; types[i] != '\0' && r == SQLITE_OK; i++) {
		switch (types[i]) {
		case 't':
			r = sqlite3_bind_text(st, i + 1, va_arg(ap,
			    const char *), -1, SQLITE_STATIC);
			break;
		case 'i':
			r = sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t));
			break;
		case 'b':
			p = va_arg(ap, const void *);
			r = sqlite3_bind_blob64(st, i + 1, p, va_arg(ap, size_t),
			    SQLITE_STATIC);
			break;
		default:
			fatalx("sqlite: parameter type '%c': %s", types[i], sql);
		}
	}
	if (r != SQLITE_OK || i != sqlite3_bind_parameter_count(st)) {
		log_warnx("sqlite: cannot bind %d parameters: %s: %s", i,
		    r != SQLITE_OK ? sqlite3_errmsg(db.h) : "wrong count", sql);
		sqlite3_finalize(st);
		return NULL;
	}
	return st;
}

sqlite3_stmt *
db_prepare(const char *sql, const char *types, ...)
{
	sqlite3_stmt	*st;
	va_list		 ap;

	va_start(ap, types);
	st = vprepare(sql, types, ap);
	va_end(ap);
	return st;
}

/* A column's text, "" for NULL; valid until the next step or finalize. */
const char *
db_col(sqlite3_stmt *st, int i)
{
	const unsigned char	*t = sqlite3_column_text(st, i);

	return t != NULL ? (const char *)t : "";
}

/* A row function: column 0 into the int64_t at p. */
void
db_int64(sqlite3_stmt *st, void *p)
{
	*(int64_t *)p = sqlite3_column_int64(st, 0);
}

/* Step st once: the step's result, an error logged with the SQL. */
static int
step(sqlite3_stmt *st)
{
	int	r = sqlite3_step(st);

	if (r != SQLITE_ROW && r != SQLITE_DONE)
		log_warnx("sqlite: %s: %s", sqlite3_errmsg(db.h),
		    sqlite3_sql(st));
	return r;
}

static int
vrun(const char *sql, const char *types, va_list ap)
{
	sqlite3_stmt	*st;
	int		 r;

	if ((st = vprepare(sql, types, ap)) == NULL)
		return -1;
	r = step(st);
	sqlite3_finalize(st);
	return r == SQLITE_DONE ? sqlite3_changes(db.h) : -1;
}

/* Run a statement for its effect: the rows it changed, or -1. */
int
db_run(const char *sql, const char *types, ...)
{
	va_list	ap;
	int	r;

	va_start(ap, types);
	db_lock();
	r = vrun(sql, types, ap);
	db_unlock();
	va_end(ap);
	return r;
}

/* db_run for a caller that holds db_lock. */
int
db_run_locked(const char *sql, const char *types, ...)
{
	va_list	ap;
	int	r;

	va_start(ap, types);
	r = vrun(sql, types, ap);
	va_end(ap);
	return r;
}

static int
vrow(const char *sql, void (*fn)(sqlite3_stmt *, void *), void *elem,
    const char *types, va_list ap)
{
	sqlite3_stmt	*st;
	int		 r;

	if ((st = vprepare(sql, types, ap)) == NULL)
		return -1;
	if ((r = step(st)) == SQLITE_ROW && fn != NULL)
		fn(st, elem);
	sqlite3_finalize(st);
	return r == SQLITE_ROW ? 1 : r == SQLITE_DONE ? 0 : -1;
}

/* The first row into elem by fn (NULL: none): 1 found, 0 none, -1 error. */
int
db_row(const char *sql, void (*fn)(sqlite3_stmt *, void *), void *elem,
    const char *types, ...)
{
	va_list	ap;
	int	r;

	va_start(ap, types);
	db_lock();
	r = vrow(sql, fn, elem, types, ap);
	db_unlock();
	va_end(ap);
	return r;
}

/* db_row for a caller that holds db_lock. */
int
db_row_locked(const char *sql, void (*fn)(sqlite3_stmt *, void *),
    void *elem, const char *types, ...)
{
	va_list	ap;
	int	r;

	va_start(ap, types);
	r = vrow(sql, fn, elem, types, ap);
	va_end(ap);
	return r;
}

/*
 * Every row, each filled by fn into a new element of elemsz bytes of an
 * array that *out (a T **) is set to and the caller frees; *n its length.
 * On error the elements are released by release (NULL: they own nothing),
 * the array freed, *out NULL, *n 0, and -1 returned.
 */
int
db_rows(const char *sql, size_t elemsz, void (*fn)(sqlite3_stmt *, void *),
    void (*release)(void *), void *out, size_t *n, const char *types, ...)
{
	sqlite3_stmt	*st;
	va_list		 ap;
	char		*v = NULL;
	size_t		 cnt = 0;
	int		 r = SQLITE_ERROR;

	va_start(ap, types);
	db_lock();
	if ((st = vprepare(sql, types, ap)) != NULL) {
		while ((r = step(st)) == SQLITE_ROW) {
			v = xrealloc(v, (cnt + 1) * elemsz);
			fn(st, v + cnt * elemsz);
			cnt++;
		}
		sqlite3_finalize(st);
	}
	db_unlock();
	va_end(ap);
	if (r != SQLITE_DONE) {
		while (release != NULL && cnt > 0)
			release(v + --cnt * elemsz);
		free(v);
		v = NULL;
		cnt = 0;
	}
	memcpy(out, &v, sizeof v);
	*n = cnt;
	return r == SQLITE_DONE ? 0 : -1;
}

int
db_schema_version(void)
{
	int64_t	v;

	return db_row("PRAGMA user_version", db_int64, &v, "") == 1 ?
	    (int)v : -1;
}

static int
migrate(char *err, size_t errsz)
{
	int	v = db_schema_version(), i;
	char	sql[64];

	if (v < 0) {
		snprintf(err, errsz, "cannot read the schema version");
		return -1;
	}
	if (v > SCHEMA_VERSION) {
		snprintf(err, errsz, "database schema %d is newer than this "
		    "tugd (%d): refusing to touch it", v, SCHEMA_VERSION);
		return -1;
	}
	db_lock();
	for (i = v; i < SCHEMA_VERSION; i++) {
		snprintf(sql, sizeof sql, "PRAGMA user_version = %d", i + 1);
		if (db_exec("BEGIN IMMEDIATE") == -1)
			goto fail;
		if (db_exec(migrations[i]) == -1 || migration_step(i + 1) ==
		    -1 || db_exec(sql) == -1) {
			db_exec("ROLLBACK");
			goto fail;
		}
		if (db_exec("COMMIT") == -1)
			goto fail;
		log_info("database migrated to schema %d", i + 1);
	}
	db_unlock();
	return 0;
fail:
	snprintf(err, errsz, "migration to schema %d failed: %s", i + 1,
	    sqlite3_errmsg(db.h));
	db_unlock();
	return -1;
}

int
db_open(const char *path, char *err, size_t errsz)
{
	if (sqlite3_open_v2(path, &db.h, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL) != SQLITE_OK) {
		snprintf(err, errsz, "cannot open '%s': %s", path,
		    db.h != NULL ? sqlite3_errmsg(db.h) : "out of memory");
		return -1;
	}
	sqlite3_busy_timeout(db.h, 5000);
	if (db_exec("PRAGMA journal_mode = WAL") == -1 ||
	    db_exec("PRAGMA foreign_keys = ON") == -1 ||
	    db_exec("PRAGMA synchronous = NORMAL") == -1) {
		snprintf(err, errsz, "cannot set up '%s': %s", path,
		    sqlite3_errmsg(db.h));
		return -1;
	}
	return migrate(err, errsz);
}

void
db_close(void)
{
	if (db.h != NULL)
		sqlite3_close(db.h);
	db.h = NULL;
}

static void
row_to_host(sqlite3_stmt *st, void *p)
{
	struct host_rec	*h = p;
	sqlite3_stmt	*g;

	memset(h, 0, sizeof *h);
	h->id = sqlite3_column_int64(st, 0);
	snprintf(h->name, sizeof h->name, "%s", db_col(st, 1));
	snprintf(h->addr, sizeof h->addr, "%s", db_col(st, 2));
	h->port = (unsigned)sqlite3_column_int(st, 3);
	snprintf(h->user, sizeof h->user, "%s", db_col(st, 4));
	snprintf(h->key_path, sizeof h->key_path, "%s", db_col(st, 5));
	snprintf(h->hostkey, sizeof h->hostkey, "%s", db_col(st, 6));
	snprintf(h->agent_hash, sizeof h->agent_hash, "%s", db_col(st, 7));
	if (sqlite3_column_type(st, 8) != SQLITE_NULL)
		h->facts = xstrdup(db_col(st, 8));
	h->last_seen = sqlite3_column_int64(st, 9);
	if ((g = db_prepare("SELECT grp FROM host_groups WHERE host_id = ? "
	    "ORDER BY grp", "i", h->id)) == NULL)
		return;
	while (sqlite3_step(g) == SQLITE_ROW && h->ngroups < HOST_GROUPS_MAX)
		snprintf(h->groups[h->ngroups++], sizeof h->groups[0], "%s",
		    db_col(g, 0));
	sqlite3_finalize(g);
}

#define HOST_COLS "id, name, address, port, ssh_user, key_path, hostkey, " \
	"agent_hash, facts, last_seen"

void
host_rec_free(struct host_rec *h)
{
	free(h->facts);
	h->facts = NULL;
}

static void
host_release(void *h)
{
	host_rec_free(h);
}

int
hosts_load(struct host_rec **out, size_t *n)
{
	return db_rows("SELECT " HOST_COLS " FROM hosts ORDER BY name",
	    sizeof **out, row_to_host, host_release, out, n, "");
}

int
host_load(const char *name, struct host_rec *h)
{
	return db_row("SELECT " HOST_COLS " FROM hosts WHERE name = ?",
	    row_to_host, h, "t", name);
}

int
host_insert(const struct host_rec *h)
{
	int64_t	id;
	int	i;

	db_lock();
	db_exec("BEGIN IMMEDIATE");
	if (db_run_locked("INSERT INTO hosts (name, address, port, ssh_user, "
	    "key_path, hostkey, agent_hash, facts, last_seen, created_at) "
	    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", "ttitttttii", h->name,
	    h->addr, (int64_t)h->port, h->user, h->key_path, h->hostkey,
	    h->agent_hash, h->facts, h->last_seen, (int64_t)time(NULL)) == -1)
		goto fail;
	id = sqlite3_last_insert_rowid(db.h);
	for (i = 0; i < h->ngroups; i++)
		if (db_run_locked("INSERT OR IGNORE INTO host_groups (host_id, "
		    "grp) VALUES (?, ?)", "it", id, h->groups[i]) == -1)
			goto fail;
	db_exec("COMMIT");
	db_unlock();
	return 0;
fail:
	db_exec("ROLLBACK");
	db_unlock();
	return -1;
}

int
host_delete(const char *name)
{
	return db_run("DELETE FROM hosts WHERE name = ?", "t", name);
}

int
host_seen(const char *name, const char *facts, const char *agent_hash)
{
	return db_run("UPDATE hosts SET facts = ?2, agent_hash = ?3, "
	    "last_seen = ?4 WHERE name = ?1", "ttti", name, facts, agent_hash,
	    (int64_t)time(NULL));
}

int
user_count(void)
{
	int64_t	n;

	return db_row("SELECT count(*) FROM users", db_int64, &n, "") == 1 ?
	    (int)n : -1;
}

int
user_add(const char *name, int admin)
{
	return db_run("INSERT INTO users (name, admin, created_at) VALUES "
	    "(?, ?, ?)", "tii", name, (int64_t)(admin != 0),
	    (int64_t)time(NULL)) == 1 ? 0 : -1;
}

int
user_is_admin(const char *name)
{
	int64_t	admin = 0;

	db_row("SELECT admin FROM users WHERE name = ?", db_int64, &admin, "t",
	    name);
	return admin != 0;
}
