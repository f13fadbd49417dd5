/*
 * render-site.c: the text output of site apply, list, status, show and rm, of
 * deploy and rollback, releases, start, stop and restart, and of env set,
 * unset and list.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "controller/cli/cli.h"

void
render_site_apply(struct mv *v)
{
	char	site[64], line[600];
	int	dry = 0, isnew = 0, changed = 0;
	size_t	n, i;

	mv_bool(v, "dry_run", &dry, 0);
	mv_bool(v, "new", &isnew, 0);
	mv_bool(v, "changed", &changed, 0);
	s_(v, "site", site, sizeof site);
	if (!changed) {
		printf("site %s: unchanged\n", site);
		if (mv_str(v, "note", line, sizeof line, 0) == 1)
			printf("%s\n", line);
		return;
	}
	printf("site %s: %s%s\n", site, dry ? "would be " : "", isnew ?
	    "created" : "changed");
	mv_arr(v, "changes", &n, 4096, 0);
	for (i = 0; i < n; i++)
		if (mv_arr_str(v, "changes", i, line, sizeof line) == 1)
			printf("  %s\n", line);
	if (mv_str(v, "note", line, sizeof line, 0) == 1)
		printf("%s\n", line);
	if (!dry)
		printf("deploy it with: tug deploy %s\n", site);
}

void
render_site_list(struct mv *v)
{
	struct table	t = { .rows = 0 };
	size_t		n, i, k, nd;
	char		name[64], kind[16], rel[24], image[300], doms[600];

	mv_arr(v, "sites", &n, 4096, 0);
	table_add(&t, "SITE", "KIND", "RELEASE", "STATE", "IMAGE", "DOMAINS",
	    NULL);
	for (i = 0; i < n; i++) {
		struct mv	row, dr;
		int64_t		r = 0;
		char		state[96], ds[16], dh[64];
		int		pending;

		if (mv_arr_map(v, "sites", i, &row) != 1)
			continue;
		/* "vanished on web1", "+more" for more hosts. */
		s_(&row, "state", state, sizeof state);
		pending = 0;
		mv_bool(&row, "pending", &pending, 0);
		mv_arr(&row, "drift", &nd, 4096, 0);
		if (nd > 0 && mv_arr_map(&row, "drift", 0, &dr) == 1)
			snprintf(state, sizeof state, "%s on %s%s", s_(&dr,
			    "state", ds, sizeof ds), s_(&dr, "host", dh,
			    sizeof dh), nd > 1 ? " +more" : "");
		if (pending)
			strncat(state, ", spec pending", sizeof state -
			    strlen(state) - 1);
		mv_i64(&row, "release", &r, 0);
		snprintf(rel, sizeof rel, r > 0 ? "%lld" : "-", (long long)r);
		doms[0] = '\0';
		mv_arr(&row, "domains", &nd, 64, 0);
		for (k = 0; k < nd; k++) {
			char d[260];

			if (mv_arr_str(&row, "domains", k, d, sizeof d) != 1)
				continue;
			if (k > 0)
				strncat(doms, ",", sizeof doms - strlen(doms) - 1);
			strncat(doms, d, sizeof doms - strlen(doms) - 1);
		}
		table_add(&t, s_(&row, "name", name, sizeof name),
		    s_(&row, "kind", kind, sizeof kind), rel, state,
		    s_(&row, "image", image, sizeof image), doms, NULL);
	}
	table_print(&t);
}

/* What the host's watch says of the site, unless all is well. */
static void
render_drift_line(const char *host, struct mv *d)
{
	char		state[16], why[200], herr[300], when[32];
	int64_t		since = 0, rel = 0;
	uint64_t	heals = 0;
	int		gave_up = 0;
	time_t		t;
	struct tm	tm;

	s_(d, "state", state, sizeof state);
	if (strcmp(state, "ok") == 0 || strcmp(state, "stopped") == 0)
		return;
	mv_i64(d, "since", &since, 0);
	mv_i64(d, "release", &rel, 0);
	mv_u64(d, "heals", &heals, 0);
	mv_bool(d, "gave_up", &gave_up, 0);
	t = (time_t)since;
	gmtime_r(&t, &tm);
	strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm);
	printf("%s: release %lld %s since %s: %s\n", host, (long long)rel,
	    state, when, s_(d, "why", why, sizeof why));
	if (mv_str(d, "heal_error", herr, sizeof herr, 0) == 1)
		printf("%s: heal %s after %llu tr%s: %s\n", host, gave_up ?
		    "gave up" : "failed", (unsigned long long)heals,
		    heals == 1 ? "y" : "ies", herr);
}

/* How long ago Docker's RFC 3339 time was, for people: 45s, 12m, 5h, 3d. */
static void
uptime(const char *rfc3339, char *dst, size_t n)
{
	struct tm	tm;
	const char	*end;
	time_t		t, now = time(NULL);
	long long	d;

	memset(&tm, 0, sizeof tm);
	if ((end = strptime(rfc3339, "%Y-%m-%dT%H:%M:%S", &tm)) == NULL ||
	    (t = timegm(&tm)) <= 0 || t > now) {
		snprintf(dst, n, "-");
		return;
	}
	d = (long long)(now - t);
	if (d < 60)
		snprintf(dst, n, "%llds", d);
	else if (d < 3600)
		snprintf(dst, n, "%lldm", d / 60);
	else if (d < 86400)
		snprintf(dst, n, "%lldh", d / 3600);
	else
		snprintf(dst, n, "%lldd", d / 86400);
}

/* One host's containers (or why there are none) as rows of t. */
static void
status_rows(struct table *t, struct mv *row, const char *host)
{
	struct mv	ct;
	size_t		nc, k;
	char		name[128], rel[24], state[48], health[32], up[16];
	char		restarts[24], image[300], started[48];

	mv_arr(row, "containers", &nc, 64, 0);
	if (nc == 0)
		table_add(t, host, "-", "-", "none", "-", "-", "-", "-", NULL);
	for (k = 0; k < nc; k++) {
		int64_t	code = 0;
		int	oom = 0;

		if (mv_arr_map(row, "containers", k, &ct) != 1)
			continue;
		snprintf(rel, sizeof rel, "%llu",
		    (unsigned long long)u_(&ct, "release"));
		s_(&ct, "state", state, sizeof state);
		mv_i64(&ct, "exit_code", &code, 0);
		mv_bool(&ct, "oom", &oom, 0);
		if (strcmp(state, "running") != 0 && (code != 0 || oom))
			snprintf(state + strlen(state), sizeof state -
			    strlen(state), " (%s%lld)", oom ? "OOM, " : "",
			    (long long)code);
		if (strcmp(s_(&ct, "state", name, sizeof name), "running") == 0)
			uptime(s_(&ct, "started_at", started, sizeof started),
			    up, sizeof up);
		else
			snprintf(up, sizeof up, "-");
		if (mv_present(&ct, "restarts"))
			snprintf(restarts, sizeof restarts, "%llu",
			    (unsigned long long)u_(&ct, "restarts"));
		else
			snprintf(restarts, sizeof restarts, "-");
		table_add(t, host, s_(&ct, "name", name, sizeof name), rel,
		    state, s_(&ct, "health", health, sizeof health), up,
		    restarts, s_(&ct, "image", image, sizeof image), NULL);
	}
}

void
render_site_status(struct mv *v)
{
	struct table	t = { .rows = 0 };
	size_t		n, i;
	char		host[64], err[600], chost[64][64];
	struct mv	certs[64], cert;
	size_t		ncerts = 0;

	mv_arr(v, "hosts", &n, 4096, 0);
	table_add(&t, "HOST", "CONTAINER", "RELEASE", "STATE", "HEALTH", "UP",
	    "RESTARTS", "IMAGE", NULL);
	for (i = 0; i < n; i++) {
		struct mv	row;
		int		ok = 0;

		if (mv_arr_map(v, "hosts", i, &row) != 1)
			continue;
		s_(&row, "host", host, sizeof host);
		mv_bool(&row, "ok", &ok, 0);
		if (!ok) {
			table_add(&t, host, "-", "-", "unreachable", "-", "-",
			    "-", "-", NULL);
			if (mv_str(&row, "error", err, sizeof err, 0) == 1)
				fprintf(stderr, "%s\n", err);
			continue;
		}
		if (ncerts < 64 && mv_map(&row, "cert", &cert, 0) == 1) {
			certs[ncerts] = cert;
			snprintf(chost[ncerts++], sizeof chost[0], "%s", host);
		}
		status_rows(&t, &row, host);
	}
	table_print(&t);
	for (i = 0; i < ncerts; i++)
		render_cert_line(chost[i], &certs[i]);
	for (i = 0; i < n; i++) {
		struct mv	row, d;

		if (mv_arr_map(v, "hosts", i, &row) == 1 &&
		    mv_map(&row, "drift", &d, 0) == 1)
			render_drift_line(s_(&row, "host", host, sizeof host),
			    &d);
	}
}

/* tug site show: what tugd knows of the site, then its hosts' word. */
void
render_site_show(struct mv *v)
{
	struct table	t = { .rows = 0 };
	struct mv	sv, r;
	char		site[64], kind[16], image[300], from[32], doms[600] = "";
	char		d[256], tls[16], who[64], when[32], st[40], rel[24];
	size_t		n, i;
	int		pending = 0;
	time_t		tt;
	struct tm	tm;

	s_(v, "site", site, sizeof site);
	printf("site      %s (%s)\n", site, s_(v, "kind", kind, sizeof kind));
	if (mv_str(v, "image", image, sizeof image, 0) == 1)
		printf("image     %s (from the %s)\n", image, strcmp(s_(v,
		    "image_from", from, sizeof from), "spec") == 0 ? "spec" :
		    "last deploy --image");
	if (mv_map(v, "serving", &sv, 0) == 1) {
		tt = (time_t)u_(&sv, "created_at");
		strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC",
		    gmtime_r(&tt, &tm));
		printf("serving   release %llu (%s), by %s, %s\n",
		    (unsigned long long)u_(&sv, "release"), s_(&sv, "image",
		    image, sizeof image), s_(&sv, "who", who, sizeof who),
		    when);
	} else
		printf("serving   nothing yet (tug deploy %s)\n", site);
	mv_arr(v, "domains", &n, 64, 0);
	for (i = 0; i < n; i++)
		if (mv_arr_str(v, "domains", i, d, sizeof d) == 1)
			snprintf(doms + strlen(doms), sizeof doms -
			    strlen(doms), "%s%s", i ? ", " : "", d);
	printf("domains   %s\n", n > 0 ? doms : "(none)");
	printf("tls       %s\n", s_(v, "tls", tls, sizeof tls));
	mv_bool(v, "pending", &pending, 0);
	if (pending)
		printf("spec      applied since the serving release, not "
		    "deployed yet (tug deploy %s)\n", site);
	printf("\n");
	render_site_status(v);
	mv_arr(v, "releases", &n, 64, 0);
	if (n == 0)
		return;
	printf("\n");
	table_add(&t, "RELEASE", "IMAGE", "STATUS", "BY", "CREATED (UTC)",
	    NULL);
	for (i = 0; i < n; i++) {
		if (mv_arr_map(v, "releases", i, &r) != 1)
			continue;
		snprintf(rel, sizeof rel, "%llu", (unsigned long long)u_(&r,
		    "release"));
		tt = (time_t)u_(&r, "created_at");
		strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S",
		    gmtime_r(&tt, &tm));
		table_add(&t, rel, s_(&r, "image", image, sizeof image),
		    s_(&r, "status", st, sizeof st), s_(&r, "who", who,
		    sizeof who), when, NULL);
	}
	table_print(&t);
}

void
render_site_rm(struct mv *v)
{
	char		n[64];
	uint64_t	h = u_(v, "hosts");

	printf("removed site %s from %llu host%s\n", s_(v, "removed", n,
	    sizeof n), (unsigned long long)h, h == 1 ? "" : "s");
}

void
render_deploy(struct mv *v)
{
	char	site[64], image[300], kind[16] = "", of_s[48] = "";
	int64_t	rel = 0, of = 0;

	mv_i64(v, "release", &rel, 0);
	mv_i64(v, "rollback_of", &of, 0);
	mv_str(v, "kind", kind, sizeof kind, 0);
	if (strcmp(kind, "restart") == 0)
		snprintf(of_s, sizeof of_s, ", release %lld restarted",
		    (long long)of);
	else if (of > 0)
		snprintf(of_s, sizeof of_s, ", a rollback to %lld",
		    (long long)of);
	printf("%s: release %lld (%s%s) serving on %llu host%s in %.1f s\n",
	    s_(v, "site", site, sizeof site), (long long)rel,
	    s_(v, "image", image, sizeof image), of_s,
	    (unsigned long long)u_(v, "deployed"), u_(v, "deployed") == 1 ?
	    "" : "s", (double)u_(v, "elapsed_ms") / 1000);
}

void
render_releases(struct mv *v)
{
	struct table	t = { .rows = 0 };
	size_t		n, i;
	char		rel[32], image[300], status[40], who[64], when[32];

	mv_arr(v, "releases", &n, 100000, 0);
	table_add(&t, "RELEASE", "IMAGE", "STATUS", "BY", "CREATED (UTC)",
	    NULL);
	for (i = 0; i < n; i++) {
		struct mv	row;
		int64_t		r = 0, at = 0, of = 0;
		int		cur = 0;
		time_t		tt;
		struct tm	tm;

		if (mv_arr_map(v, "releases", i, &row) != 1)
			continue;
		mv_i64(&row, "release", &r, 0);
		mv_i64(&row, "created_at", &at, 0);
		mv_i64(&row, "rollback_of", &of, 0);
		mv_bool(&row, "current", &cur, 0);
		snprintf(rel, sizeof rel, "%lld%s", (long long)r,
		    cur ? " *" : "");
		tt = (time_t)at;
		strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S",
		    gmtime_r(&tt, &tm));
		s_(&row, "status", status, sizeof status);
		if (of > 0)
			snprintf(status + strlen(status), sizeof status -
			    strlen(status), " (of %lld)", (long long)of);
		table_add(&t, rel, s_(&row, "image", image, sizeof image),
		    status, s_(&row, "who", who, sizeof who), when, NULL);
	}
	table_print(&t);
}

void
render_power(struct mv *v)
{
	char	site[64];

	printf("%s: done on %llu host%s\n", s_(v, "site", site, sizeof site),
	    (unsigned long long)u_(v, "hosts"), u_(v, "hosts") == 1 ? "" :
	    "s");
}

/* restart: a new release (container sites), or stop and start (static). */
void
render_restart(struct mv *v)
{
	if (mv_present(v, "release"))
		render_deploy(v);
	else
		render_power(v);
}

void
render_env_list(struct mv *v)
{
	struct table	t = { .rows = 0 };
	size_t		n, i;
	char		key[300], val[600], from[16];

	mv_arr(v, "env", &n, 4096, 0);
	table_add(&t, "KEY", "VALUE", "FROM", NULL);
	for (i = 0; i < n; i++) {
		struct mv	row;

		if (mv_arr_map(v, "env", i, &row) != 1)
			continue;
		table_add(&t, s_(&row, "key", key, sizeof key),
		    s_(&row, "value", val, sizeof val),
		    s_(&row, "from", from, sizeof from), NULL);
	}
	table_print(&t);
}

void
render_env_set(struct mv *v)
{
	char	note[300];

	if (mv_present(v, "release"))
		render_deploy(v);
	else if (mv_str(v, "note", note, sizeof note, 0) == 1)
		printf("%s\n", note);
	else
		printf("done\n");
}

void
render_cert_line(const char *host, struct mv *c)
{
	char		issuer[256], name[256], when[32], names[1024] = "";
	size_t		n, i;
	time_t		t = (time_t)u_(c, "not_after");
	int64_t		days = ((int64_t)t - (int64_t)time(NULL)) / 86400;
	struct tm	tm;

	mv_arr(c, "names", &n, 64, 0);
	for (i = 0; i < n; i++)
		if (mv_arr_str(c, "names", i, name, sizeof name) == 1)
			snprintf(names + strlen(names), sizeof names -
			    strlen(names), "%s%s", i ? ", " : "", name);
	gmtime_r(&t, &tm);
	strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", &tm);
	printf("%s: certificate from %s for %s, expires %s (in %lld day%s), "
	    "serial %s\n", host, s_(c, "issuer", issuer, sizeof issuer), names,
	    when, (long long)days, days == 1 ? "" : "s",
	    s_(c, "serial", name, sizeof name));
}

/* The scheduler's last word on a host's certificate. */
static void
render_renewal(const char *host, struct mv *r)
{
	char		tried[32], next[32], err[600];
	time_t		t;
	struct tm	tm;
	int64_t		v = 0;
	int		ok = 0;

	mv_i64(r, "tried_at", &v, 0);
	t = (time_t)v;
	gmtime_r(&t, &tm);
	strftime(tried, sizeof tried, "%Y-%m-%d %H:%M:%S UTC", &tm);
	mv_i64(r, "next_at", &v, 0);
	t = (time_t)v;
	gmtime_r(&t, &tm);
	strftime(next, sizeof next, "%Y-%m-%d %H:%M:%S UTC", &tm);
	mv_bool(r, "ok", &ok, 0);
	if (ok)
		printf("%s: renewal checked %s, next check %s\n", host, tried,
		    next);
	else
		printf("%s: renewal failed %s: %s; the serving certificate "
		    "stays; next try %s\n", host, tried, s_(r, "error", err,
		    sizeof err), next);
}

void
render_cert(struct mv *v)
{
	size_t	n, i;
	char	host[64], err[600], old[128];

	mv_arr(v, "hosts", &n, 4096, 0);
	for (i = 0; i < n; i++) {
		struct mv	row, c;
		int		ok = 0, renewed = -1;

		if (mv_arr_map(v, "hosts", i, &row) != 1)
			continue;
		s_(&row, "host", host, sizeof host);
		mv_bool(&row, "ok", &ok, 0);
		if (!ok) {
			printf("%s: %s\n", host, s_(&row, "error", err,
			    sizeof err));
			continue;
		}
		if (mv_bool(&row, "renewed", &renewed, 0) == 1 && renewed)
			printf("%s: renewed (the old serial was %s)\n", host,
			    s_(&row, "old_serial", old, sizeof old));
		if (mv_map(&row, "cert", &c, 0) == 1)
			render_cert_line(host, &c);
		else
			printf("%s: no certificate (plain HTTP, or tls "
			    "files)\n", host);
		if (mv_map(&row, "renewal", &c, 0) == 1)
			render_renewal(host, &c);
	}
}
