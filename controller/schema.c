/*
 * schema.c: the database schema, versioned with PRAGMA user_version and
 * moved forward by the migrations below, in order, each in its own
 * transaction; a migration may have a C step run inside it.
 */
#include <stdio.h>

#include "common/log.h"
#include "controller/tug.h"

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

int
schema_migrate(char *err, size_t errsz)
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
