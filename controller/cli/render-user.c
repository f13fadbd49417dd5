/*
 * render-user.c: the text output of user add, list, show, rm and key, of
 * grant and revoke, of audit and audit verify, and of registry login, logout
 * and list.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "controller/cli/cli.h"

void
render_registry(struct mv *v)
{
	struct table	t = { .rows = 0 };
	size_t		n, i;
	char		srv[300], user[300], who[64], when[32], sc[80];

	if (mv_str(v, "removed", srv, sizeof srv, 0) == 1) {
		printf("forgot the login for %s\n", srv);
		return;
	}
	if (mv_str(v, "server", srv, sizeof srv, 0) == 1) {
		printf("login for %s stored (user %s); deploys of images from "
		    "it pull with it%s%s\n", srv, s_(v, "username", user,
		    sizeof user), strcmp(s_(v, "for", sc, sizeof sc),
		    "global") == 0 ? "" : ", for ", strcmp(sc, "global") == 0 ?
		    "" : sc);
		return;
	}
	mv_arr(v, "registries", &n, 4096, 0);
	table_add(&t, "SERVER", "USERNAME", "BY", "SINCE", "FOR", NULL);
	for (i = 0; i < n; i++) {
		struct mv	row;
		time_t		at;
		struct tm	tm;

		if (mv_arr_map(v, "registries", i, &row) != 1)
			continue;
		at = (time_t)u_(&row, "created_at");
		gmtime_r(&at, &tm);
		strftime(when, sizeof when, "%Y-%m-%d %H:%M", &tm);
		table_add(&t, s_(&row, "server", srv, sizeof srv),
		    s_(&row, "username", user, sizeof user),
		    s_(&row, "who", who, sizeof who), when, s_(&row, "for", sc,
		    sizeof sc), NULL);
	}
	table_print(&t);
}

void
render_user(struct mv *v)
{
	char	n[64];
	int	admin = 0;

	if (mv_str(v, "removed", n, sizeof n, 0) == 1) {
		printf("removed user %s (%llu keys, %llu grants)\n", n,
		    (unsigned long long)u_(v, "keys"),
		    (unsigned long long)u_(v, "grants"));
		return;
	}
	mv_bool(v, "admin", &admin, 0);
	printf("added user %s%s\n", s_(v, "added", n, sizeof n), admin ?
	    " (admin)" : "; give them grants with tug grant");
}

void
render_user_list(struct mv *v)
{
	struct table	t = { .rows = 0 };
	size_t		n, i;
	char		name[64], keys[16], grants[16], when[32];

	mv_arr(v, "users", &n, 100000, 0);
	table_add(&t, "USER", "ADMIN", "KEYS", "GRANTS", "SINCE (UTC)", NULL);
	for (i = 0; i < n; i++) {
		struct mv	row;
		int		admin = 0;
		time_t		at;
		struct tm	tm;

		if (mv_arr_map(v, "users", i, &row) != 1)
			continue;
		mv_bool(&row, "admin", &admin, 0);
		snprintf(keys, sizeof keys, "%llu",
		    (unsigned long long)u_(&row, "keys"));
		snprintf(grants, sizeof grants, "%llu",
		    (unsigned long long)u_(&row, "grants"));
		at = (time_t)u_(&row, "created_at");
		strftime(when, sizeof when, "%Y-%m-%d %H:%M",
		    gmtime_r(&at, &tm));
		table_add(&t, s_(&row, "name", name, sizeof name), admin ?
		    "yes" : "no", keys, grants, when, NULL);
	}
	table_print(&t);
}

/* One effective scope: "site:blog  deploy, view (via deploy)". */
static void
render_effective(struct mv *row)
{
	char	scope[80], a[32], via[32], h[80];
	size_t	n, i;

	printf("  %-24s", s_(row, "scope", scope, sizeof scope));
	mv_arr(row, "actions", &n, 64, 0);
	for (i = 0; i < n; i++) {
		struct mv	act;

		if (mv_arr_map(row, "actions", i, &act) != 1)
			continue;
		printf("%s%s", i > 0 ? ", " : "", s_(&act, "action", a,
		    sizeof a));
		if (mv_str(&act, "via", via, sizeof via, 0) == 1)
			printf(" (via %s)", via);
	}
	printf("\n");
	if (!mv_present(row, "hosts"))
		return;
	printf("  %-24s covers hosts:", "");
	mv_arr(row, "hosts", &n, 4096, 0);
	for (i = 0; i < n; i++)
		if (mv_arr_str(row, "hosts", i, h, sizeof h) == 1)
			printf(" %s", h);
	printf("%s; sites:", n == 0 ? " none" : "");
	mv_arr(row, "sites", &n, 4096, 0);
	for (i = 0; i < n; i++)
		if (mv_arr_str(row, "sites", i, h, sizeof h) == 1)
			printf(" %s", h);
	printf("%s\n", n == 0 ? " none" : "");
}

/* What each action lets a user do, in plain words (docs/security.md). */
static const struct {
	const char	*action;
	const char	*means;
} meanings[] = {
	{ "view",	"see the site or host: status, releases, host facts" },
	{ "view_logs",	"read the site's container logs" },
	{ "view_env",	"read the site's env values (secrets stay masked)" },
	{ "edit_env",	"set and unset env values and secrets; a change "
			"redeploys the site" },
	{ "edit_config", "change the site's spec: image, domains, volumes; "
			"new hosts also need deploy on them" },
	{ "deploy",	"roll releases out and back, start, stop, restart: "
			"the site runs code of their choice, with its env "
			"and secrets" },
	{ "manage",	"remove the site, and with --volumes its data" },
	{ "admin",	"everything on the scope; on global also users, "
			"grants, hosts and registry logins" },
};

/* The meaning of every action held somewhere, once each. */
static void
render_meanings(struct mv *v)
{
	char	a[32];
	size_t	n, i, k, m, na;
	int	held[sizeof meanings / sizeof meanings[0]] = { 0 }, any = 0;

	mv_arr(v, "effective", &n, 4096, 0);
	for (i = 0; i < n; i++) {
		struct mv	row, act;

		if (mv_arr_map(v, "effective", i, &row) != 1)
			continue;
		mv_arr(&row, "actions", &na, 64, 0);
		for (k = 0; k < na; k++) {
			if (mv_arr_map(&row, "actions", k, &act) != 1)
				continue;
			s_(&act, "action", a, sizeof a);
			for (m = 0; m < sizeof meanings / sizeof meanings[0];
			    m++)
				if (strcmp(meanings[m].action, a) == 0)
					any = held[m] = 1;
		}
	}
	if (!any)
		return;
	printf("which lets them:\n");
	for (m = 0; m < sizeof meanings / sizeof meanings[0]; m++)
		if (held[m])
			printf("  %-12s %s\n", meanings[m].action,
			    meanings[m].means);
}

void
render_user_show(struct mv *v)
{
	char	name[64], fp[80], type[48], comment[256], a[32], sc[80], by[64];
	size_t	n, i;
	int	admin = 0;

	mv_bool(v, "admin", &admin, 0);
	printf("user    %s%s\n", s_(v, "name", name, sizeof name), admin ?
	    " (admin: every action on every scope)" : "");
	mv_arr(v, "keys", &n, 4096, 0);
	if (n == 0)
		printf("keys    none (local use only)\n");
	else
		printf("keys    %zu (may run tug over SSH)\n", n);
	for (i = 0; i < n; i++) {
		struct mv	k;

		if (mv_arr_map(v, "keys", i, &k) == 1)
			printf("  %s %s %s\n", s_(&k, "fingerprint", fp,
			    sizeof fp), s_(&k, "type", type, sizeof type),
			    s_(&k, "comment", comment, sizeof comment));
	}
	mv_arr(v, "grants", &n, 4096, 0);
	if (n == 0)
		printf("grants  none\n");
	else
		printf("grants  %zu\n", n);
	for (i = 0; i < n; i++) {
		struct mv	g;

		if (mv_arr_map(v, "grants", i, &g) == 1)
			printf("  %-12s on %-24s (by %s)\n", s_(&g, "action", a,
			    sizeof a), s_(&g, "scope", sc, sizeof sc),
			    s_(&g, "by", by, sizeof by));
	}
	if (admin || n == 0)
		return;
	printf("may (inherited actions say via which grant):\n");
	mv_arr(v, "effective", &n, 4096, 0);
	for (i = 0; i < n; i++) {
		struct mv	row;

		if (mv_arr_map(v, "effective", i, &row) == 1)
			render_effective(&row);
	}
	render_meanings(v);
}

void
render_user_key(struct mv *v)
{
	char	name[64], fp[80], type[48], path[PATH_MAX_TUG];

	if (mv_present(v, "removed")) {
		printf("removed %llu key%s of %s\n",
		    (unsigned long long)u_(v, "removed"),
		    u_(v, "removed") == 1 ? "" : "s",
		    s_(v, "name", name, sizeof name));
		return;
	}
	printf("%s key %s of %s added to %s\n", s_(v, "type", type,
	    sizeof type), s_(v, "fingerprint", fp, sizeof fp), s_(v, "name",
	    name, sizeof name), s_(v, "authorized_keys", path, sizeof path));
}

void
render_grant(struct mv *v)
{
	char	user[64], action[32], scope[80];
	int	isnew = 0;

	s_(v, "user", user, sizeof user);
	s_(v, "action", action, sizeof action);
	s_(v, "scope", scope, sizeof scope);
	if (mv_present(v, "revoked"))
		printf("revoked %s on %s from %s\n", action, scope, user);
	else if (mv_bool(v, "new", &isnew, 0) == 1 && !isnew)
		printf("%s may %s %s already\n", user, action, scope);
	else
		printf("%s may now %s %s\n", user, action, scope);
}

/* Rows come newest first; printed oldest first, the newest at the end. */
void
render_audit(struct mv *v)
{
	char	user[64], op[64], target[200], result[600], args[640];
	char	when[32], id[24];
	size_t	n, i;
	int	cut = 0;

	mv_arr(v, "rows", &n, 100000, 0);
	printf("%-6s %-19s %-12s %-14s %-16s %s\n", "ID", "TIME (UTC)", "USER",
	    "OP", "TARGET", "RESULT / ARGS");
	for (i = n; i > 0; i--) {
		struct mv	row;
		int64_t		at = 0;
		int		allowed = 0;
		time_t		tt;
		struct tm	tm;

		if (mv_arr_map(v, "rows", i - 1, &row) != 1)
			continue;
		mv_i64(&row, "at_ms", &at, 0);
		mv_bool(&row, "allowed", &allowed, 0);
		tt = (time_t)(at / 1000);
		strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S",
		    gmtime_r(&tt, &tm));
		snprintf(id, sizeof id, "%llu", (unsigned long long)u_(&row,
		    "id"));
		s_(&row, "args", args, sizeof args);
		if (strlen(args) > 60)
			snprintf(args + 57, sizeof args - 57, "...");
		s_(&row, "result", result, sizeof result);
		printf("%-6s %-19s %-12s %-14s %-16s %s%s  %s\n", id, when,
		    s_(&row, "user", user, sizeof user), s_(&row, "op", op,
		    sizeof op), s_(&row, "target", target, sizeof target),
		    allowed || strncmp(result, "permission denied", 17) == 0 ?
		    "" : "refused: ", result, strcmp(args, "{}") == 0 ? "" :
		    args);
	}
	mv_bool(v, "truncated", &cut, 0);
	if (cut)
		printf("(older rows cut to fit one frame; narrow with --since "
		    "or --limit)\n");
}

void
render_audit_verify(struct mv *v)
{
	char	head[80];

	printf("audit chain OK: %llu rows, last row %llu, head %s\n",
	    (unsigned long long)u_(v, "rows"),
	    (unsigned long long)u_(v, "last_id"), s_(v, "head", head,
	    sizeof head));
	printf("anchor: %llu:%s\n", (unsigned long long)u_(v, "last_id"),
	    head);
}

void
render_acme(struct mv *v)
{
	char	ca[512], email[256];
	int	root = 0;

	size_t	n, i;
	int	cleared = 0;

	if (mv_present(v, "host")) {
		mv_bool(v, "cleared", &cleared, 0);
		printf("%s: %s\n", s_(v, "host", email, sizeof email), cleared ?
		    "the controller's ACME settings again" :
		    "ACME settings of its own");
		if (cleared)
			return;
	}
	mv_bool(v, "trust_root", &root, 0);
	printf("ca: %s\nemail: %s\ntrust root: %s\n", s_(v, "ca", ca,
	    sizeof ca), s_(v, "email", email, sizeof email)[0] != '\0' ?
	    email : "(not set: tug acme set --email E)", root ? "set" :
	    "the system's");
	mv_arr(v, "hosts", &n, 4096, 0);
	for (i = 0; i < n; i++) {
		struct mv	row;
		char		h[64], set[900];

		if (mv_arr_map(v, "hosts", i, &row) == 1)
			printf("host %s: %s\n", s_(&row, "host", h, sizeof h),
			    s_(&row, "setting", set, sizeof set));
	}
}
