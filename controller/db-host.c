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
#include "common/validate.h"
#include "common/xmalloc.h"
#include "controller/tug.h"

/* A row of HOST_COLS into h, its groups not yet. */
static void
row_to_host(sqlite3_stmt *st, struct host_rec *h)
{
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
}

/* The hosts with their groups: one row a group (or one with NULL). */
#define HOSTS_SQL "SELECT h.id, h.name, h.address, h.port, h.ssh_user, " \
	"h.key_path, h.hostkey, h.agent_hash, h.facts, h.last_seen, g.grp " \
	"FROM hosts h LEFT JOIN host_groups g ON g.host_id = h.id "

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

/*
 * The hosts HOSTS_SQL and its tail (a WHERE with one "t" parameter, or
 * none: name NULL) select, ordered by host then group, each host once with
 * its groups: one query for them all. 0, or -1 with *out NULL.
 */
static int
hosts_query(const char *sql, const char *name, struct host_rec **out,
    size_t *n)
{
	sqlite3_stmt	*st;
	struct host_rec	*v = NULL, *h = NULL;
	size_t		 cnt = 0, cap = 0;
	int		 r = SQLITE_ERROR;

	db_lock();
	st = name != NULL ? db_prepare(sql, "t", name) : db_prepare(sql, "");
	while (st != NULL && (r = sqlite3_step(st)) == SQLITE_ROW) {
		if (h == NULL || h->id != sqlite3_column_int64(st, 0)) {
			if (cnt == cap) {
				cap = cap == 0 ? 16 : cap * 2;
				v = xrealloc(v, cap * sizeof *v);
			}
			h = &v[cnt++];
			row_to_host(st, h);
		}
		if (sqlite3_column_type(st, 10) != SQLITE_NULL &&
		    h->ngroups < HOST_GROUPS_MAX)
			db_copy(st, 10, h->groups[h->ngroups++],
			    sizeof h->groups[0]);
	}
	if (st != NULL && r != SQLITE_DONE)
		log_warnx("sqlite: %s: %s", sqlite3_errmsg(db.h), sql);
	sqlite3_finalize(st);
	db_unlock();
	if (r != SQLITE_DONE) {
		hosts_free(v, cnt);
		v = NULL;
		cnt = 0;
	}
	*out = v;
	*n = cnt;
	return r == SQLITE_DONE ? 0 : -1;
}

int
hosts_load(struct host_rec **out, size_t *n)
{
	return hosts_query(HOSTS_SQL "ORDER BY h.name, g.grp", NULL, out, n);
}

int
host_load(const char *name, struct host_rec *h)
{
	struct host_rec	*v;
	size_t		 n;

	if (hosts_query(HOSTS_SQL "WHERE h.name = ? ORDER BY g.grp", name,
	    &v, &n) == -1)
		return -1;
	if (n == 1)
		*h = v[0];
	free(v);
	return n == 1;
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
	return db_delete_scoped("DELETE FROM hosts WHERE name = ?", "host",
	    name);
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

int64_t
db_changes(void)
{
	return sqlite3_total_changes64(db.h);
}

int
user_is_admin(const char *name)
{
	int64_t	admin = 0;

	db_row("SELECT admin FROM users WHERE name = ?", db_int64, &admin, "t",
	    name);
	return admin != 0;
}

/* The names of the hosts in group ("": every host), by name; 0 or -1. */
int
hosts_of_group(const char *group, char ***out, size_t *n)
{
	sqlite3_stmt	 *st;
	char		**v = xcalloc(16, sizeof *v);
	size_t		  cnt = 0, cap = 16;
	int		  r = SQLITE_ERROR;

	db_lock();
	st = group[0] == '\0' ? db_prepare("SELECT name FROM hosts ORDER BY "
	    "name", "") : db_prepare("SELECT h.name FROM hosts h JOIN "
	    "host_groups g ON g.host_id = h.id WHERE g.grp = ? ORDER BY h.name",
	    "t", group);
	while (st != NULL && (r = sqlite3_step(st)) == SQLITE_ROW) {
		if (cnt + 1 == cap) {
			cap *= 2;
			v = xrealloc(v, cap * sizeof *v);
		}
		v[cnt++] = xstrdup(db_col(st, 0));
		v[cnt] = NULL;
	}
	if (st != NULL && r != SQLITE_DONE)
		log_warnx("sqlite: %s: hosts of group", sqlite3_errmsg(db.h));
	sqlite3_finalize(st);
	db_unlock();
	if (r != SQLITE_DONE) {
		free_names(v, cnt);
		*out = NULL;
		*n = 0;
		return -1;
	}
	*out = v;
	*n = cnt;
	return 0;
}

int
host_in_group(const char *host, const char *group)
{
	return db_row("SELECT 1 FROM host_groups g JOIN hosts h ON h.id = "
	    "g.host_id WHERE h.name = ? AND g.grp = ?", NULL, NULL, "tt", host,
	    group);
}

void
free_names(char **v, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void
host_sel_free(struct host_sel *hs)
{
	free_names(hs->names, hs->n);
	hs->names = NULL;
	hs->n = 0;
}

/*
 * The hosts a fleet op targets: args.hosts (names, each known), or the
 * members of args.group, or every host (args.all, or nothing named). Two
 * of those at once is a contradiction, refused: a scope is computed from
 * the hosts an op really touches. 0; -1 bad args, -2 an unknown host or
 * an empty group, -3 the database; err says which.
 */
int
host_select(struct mv *args, struct host_sel *hs, char *err, size_t errsz)
{
	char		 name[HOST_NAME_MAX_TUG + 1], e[128];
	const char	*why;
	size_t		 nn = 0, i, k;
	int		 all = 0, r;
	struct host_rec	 h;

	memset(hs, 0, sizeof *hs);
	if (mv_arr(args, "hosts", &nn, HOST_SELECT_MAX, 0) == -1 ||
	    mv_str(args, "group", hs->group, sizeof hs->group, 0) == -1 ||
	    mv_bool(args, "all", &all, 0) == -1) {
		snprintf(err, errsz, "%s", args->err);
		return -1;
	}
	if ((nn > 0) + (hs->group[0] != '\0') + all > 1) {
		snprintf(err, errsz, "name hosts, a --group or --all, not "
		    "more than one of them");
		return -1;
	}
	if (hs->group[0] != '\0' && (why = check_group_name(hs->group))) {
		snprintf(err, errsz, "invalid group name '%s': %s",
		    log_escape(e, sizeof e, hs->group, strlen(hs->group)), why);
		return -1;
	}
	if (nn == 0) {
		if (hosts_of_group(hs->group, &hs->names, &hs->n) == -1) {
			snprintf(err, errsz, "cannot read hosts");
			return -3;
		}
		if (hs->n == 0 && hs->group[0] != '\0') {
			snprintf(err, errsz, "no host in group '%s'", hs->group);
			return -2;
		}
		return 0;
	}
	hs->named = 1;
	hs->names = xcalloc(nn + 1, sizeof *hs->names);
	for (i = 0; i < nn; i++) {
		if (mv_arr_str(args, "hosts", i, name, sizeof name) != 1) {
			snprintf(err, errsz, "%s", args->err);
			return -1;
		}
		if ((why = check_host_name(name)) != NULL) {
			snprintf(err, errsz, "invalid host name '%s': %s",
			    log_escape(e, sizeof e, name, strlen(name)), why);
			return -1;
		}
		for (k = 0; k < hs->n; k++)
			if (strcmp(hs->names[k], name) == 0)
				break;
		if (k < hs->n)
			continue;
		hs->names[hs->n++] = xstrdup(name);
	}
	for (i = 0; i < hs->n; i++) {
		if ((r = host_load(hs->names[i], &h)) == -1) {
			snprintf(err, errsz, "cannot read hosts");
			return -3;
		}
		if (r == 0) {
			snprintf(err, errsz, "no host '%s'", hs->names[i]);
			return -2;
		}
		host_rec_free(&h);
	}
	return 0;
}
