/*
 * schema.c: the database schema, versioned with PRAGMA user_version and
 * moved forward by the migrations below, in order, each in its own
 * transaction; a migration may have a C step run inside it.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/xmalloc.h"
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

	/*
	 * 6: this controller's id, on every Docker object its agents make;
	 * the named volumes of sites made before volumes were the site's
	 * own (tug-SITE_NAME), which keep their names on the hosts; grants
	 * on sites and hosts that are gone.
	 */
	"CREATE TABLE meta ("
	"  key TEXT PRIMARY KEY,"
	"  value TEXT NOT NULL);"
	"CREATE TABLE legacy_volumes ("
	"  site_id INTEGER NOT NULL REFERENCES sites(id) ON DELETE CASCADE,"
	"  name TEXT NOT NULL,"
	"  PRIMARY KEY (site_id, name));"
	"DELETE FROM grants WHERE"
	"  (scope LIKE 'site:%' AND substr(scope, 6) NOT IN"
	"    (SELECT name FROM sites)) OR"
	"  (scope LIKE 'host:%' AND substr(scope, 6) NOT IN"
	"    (SELECT name FROM hosts));",

	/* 7: a registry login may be for some sites only (a group, a site). */
	"ALTER TABLE registries ADD COLUMN scope TEXT NOT NULL DEFAULT 'global';",
	/* 8: the image deploy --image set for the site ('': the spec's). */
	"ALTER TABLE sites ADD COLUMN image TEXT NOT NULL DEFAULT '';",
};
#define SCHEMA_VERSION	((int)(sizeof migrations / sizeof migrations[0]))

/*
 * Migration 6: this controller's id, made once: $TUG_CONTROLLER_ID if it
 * is 32 lowercase hex digits, else random.
 */
static int
meta_controller_id(void)
{
	unsigned char	 b[16];
	char		 id[CONTROLLER_ID_LEN + 1];
	const char	*env = getenv("TUG_CONTROLLER_ID");
	size_t		 i;
	int		 fd;
	ssize_t		 n;

	/* A given id (tests; a controller rebuilt for the same hosts). */
	if (env != NULL && strlen(env) == CONTROLLER_ID_LEN &&
	    strspn(env, "0123456789abcdef") == CONTROLLER_ID_LEN)
		return db_run_locked("INSERT INTO meta (key, value) VALUES "
		    "('controller_id', ?)", "t", env) == 1 ? 0 : -1;
	if ((fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	n = read(fd, b, sizeof b);
	close(fd);
	if (n != (ssize_t)sizeof b)
		return -1;
	for (i = 0; i < sizeof b; i++)
		snprintf(id + 2 * i, 3, "%02x", b[i]);
	return db_run_locked("INSERT INTO meta (key, value) VALUES "
	    "('controller_id', ?)", "t", id) == 1 ? 0 : -1;
}

struct legacy_site {
	int64_t	 id;
	char	*file;
	char	*spec;
};

static void
row_to_legacy(sqlite3_stmt *st, void *p)
{
	struct legacy_site	*l = p;

	l->id = sqlite3_column_int64(st, 0);
	l->file = xstrdup(db_col(st, 1));
	l->spec = xstrdup(db_col(st, 2));
}

/* Migration 6: the named volumes existing specs use keep their names. */
static int
legacy_volumes_existing(void)
{
	struct legacy_site	 l;
	struct site_spec	 s;
	struct volume_spec	 v;
	char			 err[600];
	int64_t			 after = 0;
	size_t			 i;
	int			 r, bad = 0;

	while (!bad && (r = db_row_locked("SELECT id, file, spec FROM sites "
	    "WHERE id > ? ORDER BY id LIMIT 1", row_to_legacy, &l, "i",
	    after)) == 1) {
		after = l.id;
		if (spec_parse(l.file, l.spec, strlen(l.spec), &s, err,
		    sizeof err) == 0)
			for (i = 0; !bad && i < s.nvolumes; i++)
				if (parse_volume_spec(s.volumes[i], &v) == NULL &&
				    !v.bind && db_run_locked("INSERT OR IGNORE "
				    "INTO legacy_volumes (site_id, name) VALUES "
				    "(?, ?)", "it", l.id, v.source) == -1)
					bad = 1;
		spec_free(&s);
		free(l.file);
		free(l.spec);
	}
	return bad ? -1 : r;
}

/* C steps of a migration, run after its SQL in the same transaction. */
static const struct {
	int	  version;
	int	(*fn)(void);
} migration_steps[] = {
	{ 4, audit_chain_existing },
	{ 6, meta_controller_id },
	{ 6, legacy_volumes_existing },
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

static char		ctl_id[CONTROLLER_ID_LEN + 1];
static pthread_once_t	ctl_once = PTHREAD_ONCE_INIT;

static void
row_to_id(sqlite3_stmt *st, void *p)
{
	db_copy(st, 0, p, CONTROLLER_ID_LEN + 1);
}

static void
controller_id_load(void)
{
	if (db_row("SELECT value FROM meta WHERE key = 'controller_id'",
	    row_to_id, ctl_id, "") != 1)
		log_warnx("cannot read this controller's id");
}

/* This controller's id (migration 6), read once; "" if it cannot be. */
const char *
controller_id(void)
{
	pthread_once(&ctl_once, controller_id_load);
	return ctl_id;
}
