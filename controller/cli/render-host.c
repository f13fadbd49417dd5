/*
 * render-host.c: the text output of tug init, status and key, and of host
 * add, list, check, bootstrap and rm.
 */
#include <stdio.h>
#include <string.h>

#include "controller/cli/cli.h"

void
render_init(struct mv *v)
{
	char	a[64], d[PATH_MAX_TUG];

	printf("tug is initialised: %s is the admin (database %s)\n",
	    s_(v, "admin", a, sizeof a), s_(v, "database", d, sizeof d));
}

void
render_status(struct mv *v)
{
	char	s[PATH_MAX_TUG];

	printf("tugd %s, pid %llu\n", s_(v, "version", s, sizeof s),
	    (unsigned long long)u_(v, "pid"));
	printf("state   %s\n", s_(v, "home", s, sizeof s));
	printf("socket  %s\n", s_(v, "socket", s, sizeof s));
	printf("schema  %llu\n", (unsigned long long)u_(v, "schema"));
	printf("hosts   %llu\n", (unsigned long long)u_(v, "hosts"));
	printf("agent   %.16s\n", s_(v, "agent_sha256", s, sizeof s));
	printf("you     %s\n", s_(v, "user", s, sizeof s));
}

void
render_key(struct mv *v)
{
	char	s[1024];

	printf("%s\n", s_(v, "public_key", s, sizeof s));
}

void
render_host_add(struct mv *v)
{
	char	n[64], a[256], u[64], k[FINGERPRINT_MAX];
	int	b = 0;

	mv_bool(v, "bootstrapped", &b, 0);
	printf("added %s (%s@%s:%llu), host key %s pinned%s\n",
	    s_(v, "name", n, sizeof n), s_(v, "user", u, sizeof u),
	    s_(v, "address", a, sizeof a), (unsigned long long)u_(v, "port"),
	    s_(v, "hostkey", k, sizeof k), b ? ", agent installed" : "");
}

void
render_host_rm(struct mv *v)
{
	char	n[64];

	printf("removed %s\n", s_(v, "removed", n, sizeof n));
}

void
render_host_list(struct mv *v)
{
	struct table	t = { .rows = 0 };
	size_t		n, i, k, ng;
	char		name[64], addr[300], user[64], state[32], groups[400];
	char		port[16];

	mv_arr(v, "hosts", &n, 4096, 0);
	table_add(&t, "HOST", "ADDRESS", "USER", "GROUPS", "STATE", NULL);
	for (i = 0; i < n; i++) {
		struct mv	row;

		if (mv_arr_map(v, "hosts", i, &row) != 1)
			continue;
		s_(&row, "name", name, sizeof name);
		s_(&row, "address", addr, sizeof addr);
		snprintf(port, sizeof port, ":%llu",
		    (unsigned long long)u_(&row, "port"));
		strncat(addr, port, sizeof addr - strlen(addr) - 1);
		s_(&row, "user", user, sizeof user);
		s_(&row, "state", state, sizeof state);
		groups[0] = '\0';
		mv_arr(&row, "groups", &ng, 64, 0);
		for (k = 0; k < ng; k++) {
			char g[64];

			if (mv_arr_str(&row, "groups", k, g, sizeof g) == 1) {
				if (k > 0)
					strncat(groups, ",", sizeof groups -
					    strlen(groups) - 1);
				strncat(groups, g, sizeof groups -
				    strlen(groups) - 1);
			}
		}
		table_add(&t, name, addr, user, ng ? groups : "-", state, NULL);
	}
	table_print(&t);
}

void
render_host_check(struct mv *v)
{
	struct table	t = { .rows = 0 };
	size_t		n, i;
	char		name[64], agent[32], docker[64], cpus[16], mem[32];
	char		disk[32], rtt[32], err[600];

	mv_arr(v, "hosts", &n, 4096, 0);
	table_add(&t, "HOST", "REACHABLE", "AGENT", "DOCKER", "CPUS", "MEMORY",
	    "FREE DISK", "RTT", NULL);
	for (i = 0; i < n; i++) {
		struct mv	row;
		int		ok = 0;

		if (mv_arr_map(v, "hosts", i, &row) != 1)
			continue;
		mv_bool(&row, "reachable", &ok, 0);
		s_(&row, "name", name, sizeof name);
		if (!ok) {
			table_add(&t, name, "no", "-", "-", "-", "-", "-", "-",
			    NULL);
			continue;
		}
		s_(&row, "agent_version", agent, sizeof agent);
		s_(&row, "docker_version", docker, sizeof docker);
		snprintf(cpus, sizeof cpus, "%llu",
		    (unsigned long long)u_(&row, "cpus"));
		human_bytes(mem, sizeof mem, u_(&row, "memory"));
		human_bytes(disk, sizeof disk, u_(&row, "disk_free"));
		snprintf(rtt, sizeof rtt, "%llu ms",
		    (unsigned long long)u_(&row, "rtt_ms"));
		table_add(&t, name, "yes", agent, docker, cpus, mem, disk, rtt,
		    NULL);
	}
	table_print(&t);
	for (i = 0; i < n; i++) {
		struct mv	row;

		if (mv_arr_map(v, "hosts", i, &row) == 1 &&
		    mv_str(&row, "error", err, sizeof err, 0) == 1)
			fprintf(stderr, "%s\n", err);
	}
	printf("%llu of %llu hosts reachable in %llu ms\n",
	    (unsigned long long)u_(v, "reachable"),
	    (unsigned long long)u_(v, "total"),
	    (unsigned long long)u_(v, "elapsed_ms"));
}

void
render_host_bootstrap(struct mv *v)
{
	size_t	n, i;
	char	name[64], s[600];

	mv_arr(v, "hosts", &n, 4096, 0);
	for (i = 0; i < n; i++) {
		struct mv	row;

		if (mv_arr_map(v, "hosts", i, &row) != 1)
			continue;
		printf("%s: agent %.16s ready\n", s_(&row, "name", name,
		    sizeof name), s_(&row, "agent", s, sizeof s));
	}
}
