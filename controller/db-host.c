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
	struct host_rec	*hosts;
	size_t		 nh, k;
	char		**v;
	int		 g, take;

	*out = NULL;
	*n = 0;
	if (hosts_load(&hosts, &nh) == -1)
		return -1;
	v = xcalloc(nh + 1, sizeof *v);
	for (k = 0; k < nh; k++) {
		take = group[0] == '\0';
		for (g = 0; !take && g < hosts[k].ngroups; g++)
			take = strcmp(hosts[k].groups[g], group) == 0;
		if (take)
			v[(*n)++] = xstrdup(hosts[k].name);
	}
	hosts_free(hosts, nh);
	*out = v;
	return 0;
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
