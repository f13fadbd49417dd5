/*
 * db.c: tugd's SQLite state. One connection, WAL, foreign keys on, the
 * schema versioned with PRAGMA user_version and moved forward by the
 * migrations below, in order, each in its own transaction. Access is
 * serialised by one mutex: tugd's requests are short.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/log.h"
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

int
db_schema_version(void)
{
	sqlite3_stmt	*st;
	int		 v = -1;

	if (sqlite3_prepare_v2(db.h, "PRAGMA user_version", -1, &st, NULL) !=
	    SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
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
	return 0;
fail:
	snprintf(err, errsz, "migration to schema %d failed: %s", i + 1,
	    sqlite3_errmsg(db.h));
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

static const char *
col(sqlite3_stmt *st, int i)
{
	const unsigned char	*t = sqlite3_column_text(st, i);

	return t != NULL ? (const char *)t : "";
}

static void
row_to_host(sqlite3_stmt *st, struct host_rec *h)
{
	sqlite3_stmt	*g;

	memset(h, 0, sizeof *h);
	h->id = sqlite3_column_int64(st, 0);
	snprintf(h->name, sizeof h->name, "%s", col(st, 1));
	snprintf(h->addr, sizeof h->addr, "%s", col(st, 2));
	h->port = (unsigned)sqlite3_column_int(st, 3);
	snprintf(h->user, sizeof h->user, "%s", col(st, 4));
	snprintf(h->key_path, sizeof h->key_path, "%s", col(st, 5));
	snprintf(h->hostkey, sizeof h->hostkey, "%s", col(st, 6));
	snprintf(h->agent_hash, sizeof h->agent_hash, "%s", col(st, 7));
	if (sqlite3_column_type(st, 8) != SQLITE_NULL)
		h->facts = strdup(col(st, 8));
	h->last_seen = sqlite3_column_int64(st, 9);
	if (sqlite3_prepare_v2(db.h, "SELECT grp FROM host_groups WHERE "
	    "host_id = ? ORDER BY grp", -1, &g, NULL) != SQLITE_OK)
		return;
	sqlite3_bind_int64(g, 1, h->id);
	while (sqlite3_step(g) == SQLITE_ROW && h->ngroups < HOST_GROUPS_MAX)
		snprintf(h->groups[h->ngroups++], sizeof h->groups[0], "%s",
		    col(g, 0));
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

int
hosts_load(struct host_rec **out, size_t *n)
{
	sqlite3_stmt	*st;
	struct host_rec	*v = NULL, *nv;
	size_t		 cnt = 0;
	int		 r = 0;

	*out = NULL;
	*n = 0;
	db_lock();
	if (sqlite3_prepare_v2(db.h, "SELECT " HOST_COLS " FROM hosts ORDER "
	    "BY name", -1, &st, NULL) != SQLITE_OK) {
		db_unlock();
		return -1;
	}
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		if ((nv = realloc(v, (cnt + 1) * sizeof *v)) == NULL) {
			r = SQLITE_NOMEM;
			break;
		}
		v = nv;
		row_to_host(st, &v[cnt++]);
	}
	sqlite3_finalize(st);
	db_unlock();
	*out = v;
	*n = cnt;
	return r == SQLITE_DONE ? 0 : -1;
}

int
host_load(const char *name, struct host_rec *h)
{
	sqlite3_stmt	*st;
	int		 r;

	db_lock();
	if (sqlite3_prepare_v2(db.h, "SELECT " HOST_COLS " FROM hosts WHERE "
	    "name = ?", -1, &st, NULL) != SQLITE_OK) {
		db_unlock();
		return -1;
	}
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if ((r = sqlite3_step(st)) == SQLITE_ROW)
		row_to_host(st, h);
	sqlite3_finalize(st);
	db_unlock();
	return r == SQLITE_ROW ? 1 : r == SQLITE_DONE ? 0 : -1;
}

int
host_insert(const struct host_rec *h)
{
	sqlite3_stmt	*st;
	int64_t		 id;
	int		 i, ok;

	db_lock();
	db_exec("BEGIN IMMEDIATE");
	if (sqlite3_prepare_v2(db.h, "INSERT INTO hosts (name, address, port, "
	    "ssh_user, key_path, hostkey, agent_hash, facts, last_seen, "
	    "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", -1, &st,
	    NULL) != SQLITE_OK)
		goto fail;
	sqlite3_bind_text(st, 1, h->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, h->addr, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, (int)h->port);
	sqlite3_bind_text(st, 4, h->user, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, h->key_path, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, h->hostkey, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, h->agent_hash, -1, SQLITE_STATIC);
	if (h->facts != NULL)
		sqlite3_bind_text(st, 8, h->facts, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 9, h->last_seen);
	sqlite3_bind_int64(st, 10, (int64_t)time(NULL));
	ok = sqlite3_step(st) == SQLITE_DONE;
	sqlite3_finalize(st);
	if (!ok)
		goto fail;
	id = sqlite3_last_insert_rowid(db.h);
	for (i = 0; i < h->ngroups; i++) {
		if (sqlite3_prepare_v2(db.h, "INSERT OR IGNORE INTO host_groups "
		    "(host_id, grp) VALUES (?, ?)", -1, &st, NULL) != SQLITE_OK)
			goto fail;
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_text(st, 2, h->groups[i], -1, SQLITE_STATIC);
		ok = sqlite3_step(st) == SQLITE_DONE;
		sqlite3_finalize(st);
		if (!ok)
			goto fail;
	}
	db_exec("COMMIT");
	db_unlock();
	return 0;
fail:
	log_warnx("host insert: %s", sqlite3_errmsg(db.h));
	db_exec("ROLLBACK");
	db_unlock();
	return -1;
}

static int
exec_bound(const char *sql, const char *a, const char *b, const char *c,
    int64_t n)
{
	sqlite3_stmt	*st;
	int		 r;

	db_lock();
	if (sqlite3_prepare_v2(db.h, sql, -1, &st, NULL) != SQLITE_OK) {
		log_warnx("sqlite: %s", sqlite3_errmsg(db.h));
		db_unlock();
		return -1;
	}
	if (a != NULL)
		sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
	if (b != NULL)
		sqlite3_bind_text(st, 2, b, -1, SQLITE_STATIC);
	if (c != NULL)
		sqlite3_bind_text(st, 3, c, -1, SQLITE_STATIC);
	if (sqlite3_bind_parameter_count(st) >= 4)
		sqlite3_bind_int64(st, 4, n);
	r = sqlite3_step(st);
	sqlite3_finalize(st);
	r = r == SQLITE_DONE ? sqlite3_changes(db.h) : -1;
	db_unlock();
	return r;
}

int
host_delete(const char *name)
{
	return exec_bound("DELETE FROM hosts WHERE name = ?", name, NULL,
	    NULL, 0);
}

int
host_seen(const char *name, const char *facts, const char *agent_hash)
{
	return exec_bound("UPDATE hosts SET facts = ?2, agent_hash = ?3, "
	    "last_seen = ?4 WHERE name = ?1", name, facts, agent_hash,
	    (int64_t)time(NULL));
}

int
user_count(void)
{
	sqlite3_stmt	*st;
	int		 n = -1;

	db_lock();
	if (sqlite3_prepare_v2(db.h, "SELECT count(*) FROM users", -1, &st,
	    NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			n = sqlite3_column_int(st, 0);
		sqlite3_finalize(st);
	}
	db_unlock();
	return n;
}

int
user_add(const char *name, int admin)
{
	return exec_bound("INSERT INTO users (name, admin, created_at) "
	    "VALUES (?1, ?2 = 'admin', ?4)", name, admin ? "admin" : "user",
	    NULL, (int64_t)time(NULL)) == 1 ? 0 : -1;
}

int
user_is_admin(const char *name)
{
	sqlite3_stmt	*st;
	int		 r = 0;

	db_lock();
	if (sqlite3_prepare_v2(db.h, "SELECT admin FROM users WHERE name = ?",
	    -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW)
			r = sqlite3_column_int(st, 0) != 0;
		sqlite3_finalize(st);
	}
	db_unlock();
	return r;
}
