/*
 * db-host.c: the hosts tugd knows, as stored (name, address, SSH user,
 * pinned host key, groups, the agent's facts), and the count and admin
 * flag of users that start-up and RBAC ask about.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "controller/tug.h"

static void
row_to_host(sqlite3_stmt *st, void *p)
{
	struct host_rec	*h = p;
	sqlite3_stmt	*g;

	memset(h, 0, sizeof *h);
	h->id = sqlite3_column_int64(st, 0);
	db_copy(st, 1, h->name, sizeof h->name);
	db_copy(st, 2, h->addr, sizeof h->addr);
	h->port = (unsigned)sqlite3_column_int(st, 3);
	db_copy(st, 4, h->user, sizeof h->user);
	db_copy(st, 5, h->key_path, sizeof h->key_path);
	db_copy(st, 6, h->hostkey, sizeof h->hostkey);
	db_copy(st, 7, h->agent_hash, sizeof h->agent_hash);
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

void
hosts_free(struct host_rec *v, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		host_rec_free(&v[i]);
	free(v);
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
