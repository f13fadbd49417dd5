/*
 * rbac.c: the one place that decides whether a user may do something
 * (DESIGN §5). An admin user may do everything; anyone else needs a grant
 * whose action implies the one asked for, on a scope that covers the one
 * asked about. Also the grammars of user names, actions and scopes.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "controller/tug.h"

const char *const rbac_actions[] = {
	"view", "view_logs", "view_env", "edit_env", "edit_config", "deploy",
	"manage", "admin", NULL
};

/* What an action gives beyond itself; admin gives everything. */
static const struct {
	const char	*action;
	const char	*gives;
} gives[] = {
	{ "manage",		"deploy" },
	{ "deploy",		"view" },
	{ "deploy",		"view_logs" },	/* a failed deploy's log */
	{ "edit_env",		"view_env" },
	{ "edit_config",	"view" },
};

/* User names: ^[a-z_][a-z0-9_-]{0,31}$ (the usual Unix login names). */
const char *
check_user_name(const char *s)
{
	size_t	i, n = strlen(s);

	if (n == 0 || n > USER_NAME_MAX)
		return "must be 1 to 32 characters";
	if (!((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
		return "must start with a lowercase letter or '_'";
	for (i = 1; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
		    s[i] == '-'))
			return "only lowercase letters, digits, '_' and '-'";
	return NULL;
}

const char *
check_action(const char *s)
{
	size_t	i;

	for (i = 0; rbac_actions[i] != NULL; i++)
		if (strcmp(s, rbac_actions[i]) == 0)
			return NULL;
	return "expected view, view_logs, view_env, edit_env, edit_config, "
	    "deploy, manage or admin";
}

const char *
check_scope(const char *s)
{
	if (strcmp(s, "global") == 0)
		return NULL;
	if (strncmp(s, "group:", 6) == 0)
		return check_group_name(s + 6) == NULL ? NULL :
		    "not a valid group name after 'group:'";
	if (strncmp(s, "host:", 5) == 0)
		return check_host_name(s + 5) == NULL ? NULL :
		    "not a valid host name after 'host:'";
	if (strncmp(s, "site:", 5) == 0)
		return check_site_name(s + 5) == NULL ? NULL :
		    "not a valid site name after 'site:'";
	return "expected global, group:NAME, host:NAME or site:NAME";
}

/* Does holding action held give action wanted? */
int
action_implies(const char *held, const char *wanted)
{
	size_t	i;

	if (strcmp(held, wanted) == 0 || strcmp(held, "admin") == 0)
		return 1;
	for (i = 0; i < sizeof gives / sizeof gives[0]; i++)
		if (strcmp(gives[i].action, held) == 0 &&
		    action_implies(gives[i].gives, wanted))
			return 1;
	return 0;
}

/* The group a stored site's spec targets: 1 (group, maybe ""), 0 no site. */
int
site_group(const char *site, char *group, size_t groupsz)
{
	struct site_rec		rec;
	struct site_spec	s;
	char			err[600];
	int			r;

	group[0] = '\0';
	if (check_site_name(site) != NULL)
		return 0;
	if ((r = site_load(site, &rec)) != 1)
		return r;
	if (spec_parse(rec.file, rec.spec, strlen(rec.spec), &s, err,
	    sizeof err) == 0)
		snprintf(group, groupsz, "%s", s.group);
	spec_free(&s);
	site_rec_free(&rec);
	return 1;
}

/*
 * Does a grant on scope g cover scope s? global covers everything; a
 * scope covers itself; group:G covers the hosts in G and the sites whose
 * spec targets G (sgroup: the group of the site in s, "" for none).
 */
int
scope_covers(const char *g, const char *s, const char *sgroup)
{
	if (strcmp(g, "global") == 0 || strcmp(g, s) == 0)
		return 1;
	if (strncmp(g, "group:", 6) != 0)
		return 0;
	if (strncmp(s, "host:", 5) == 0)
		return host_in_group(s + 5, g + 6) == 1;
	if (strncmp(s, "site:", 5) == 0)
		return sgroup != NULL && strcmp(sgroup, g + 6) == 0;
	return 0;
}

/*
 * What a decision reads of a user: the admin flag and the grants. A fleet
 * op asks about each of its hosts in turn, a list about each row: the last
 * user's are kept, and read again once tugd has changed a row of its
 * database since (db_changes(); every request does, in its audit row).
 */
static struct {
	pthread_mutex_t		 lock;
	char			 user[USER_NAME_MAX + 1];
	int64_t			 changes;	/* when read; -1 never */
	int			 admin;
	struct grant_rec	*g;
	size_t			 n;
} rights = { PTHREAD_MUTEX_INITIALIZER, "", -1, 0, NULL, 0 };

/* user's admin flag and, if not admin, a copy of their grants; 0 or -1. */
static int
user_rights(const char *user, int *admin, struct grant_rec **g, size_t *n)
{
	int64_t	now;

	*g = NULL;
	*n = 0;
	pthread_mutex_lock(&rights.lock);
	now = db_changes();
	if (now != rights.changes || strcmp(user, rights.user) != 0) {
		free(rights.g);
		rights.g = NULL;
		rights.n = 0;
		rights.changes = -1;
		rights.admin = user_is_admin(user) == 1;
		if (!rights.admin && grants_load(user, &rights.g,
		    &rights.n) == -1) {
			pthread_mutex_unlock(&rights.lock);
			return -1;
		}
		/* A name too long to be a user's is never matched again. */
		if (snprintf(rights.user, sizeof rights.user, "%s", user) <
		    (int)sizeof rights.user)
			rights.changes = now;
	}
	*admin = rights.admin;
	if (rights.n > 0) {
		*g = xcalloc(rights.n, sizeof **g);
		memcpy(*g, rights.g, rights.n * sizeof **g);
		*n = rights.n;
	}
	pthread_mutex_unlock(&rights.lock);
	return 0;
}

static int
decide(const char *user, const char *action, const char *scope,
    const char *sgroup)
{
	struct grant_rec	*g;
	size_t			 n, i;
	int			 ok = 0, admin;

	if (check_action(action) != NULL || (scope != NULL &&
	    check_scope(scope) != NULL)) {
		log_warnx("rbac: asked about action '%.32s' on a bad scope",
		    action);
		return 0;
	}
	if (user_rights(user, &admin, &g, &n) == -1)
		return 0;
	if (admin)
		return 1;
	for (i = 0; i < n && !ok; i++)
		ok = action_implies(g[i].action, action) && (scope == NULL ||
		    scope_covers(g[i].scope, scope, sgroup));
	free(g);
	return ok;
}

/* May user do action on scope ("global", "group:G", "host:H", "site:S")? */
int
rbac_allowed(const char *user, const char *action, const char *scope)
{
	char	group[GROUP_NAME_MAX + 1] = "";

	if (scope == NULL)
		return 0;
	if (strncmp(scope, "site:", 5) == 0 &&
	    site_group(scope + 5, group, sizeof group) == -1)
		return 0;
	return decide(user, action, scope, group);
}

/* The same for a site as a submitted spec defines it (its group). */
int
rbac_allowed_spec(const char *user, const char *action, const char *site,
    const char *group)
{
	char	scope[SITE_NAME_MAX + 8];

	snprintf(scope, sizeof scope, "site:%s", site);
	return decide(user, action, scope, group);
}

/* Does user hold action on some scope? (Ops that show only what is theirs.) */
int
rbac_allowed_somewhere(const char *user, const char *action)
{
	return decide(user, action, NULL, NULL);
}
