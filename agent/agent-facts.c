/*
 * agent-facts.c: the ops `ping` and `facts`, and the host facts that also
 * travel in the agent's HELLO: os, arch, kernel, Docker version and API,
 * cpus, memory, free disk at the state dir, agent version.
 */
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "agent/agent.h"
#include "common/clock.h"

static void
os_name(char *dst, size_t dstsz)
{
	FILE	*f;
	char	 line[256];
	size_t	 n;

	snprintf(dst, dstsz, "unknown");
	if ((f = fopen("/etc/os-release", "r")) == NULL)
		return;
	while (fgets(line, sizeof line, f) != NULL) {
		if (strncmp(line, "PRETTY_NAME=", 12) != 0)
			continue;
		n = strcspn(line + 12, "\n");
		line[12 + n] = '\0';
		if (line[12] == '"' && n >= 2 && line[12 + n - 1] == '"') {
			line[12 + n - 1] = '\0';
			snprintf(dst, dstsz, "%s", line + 13);
		} else
			snprintf(dst, dstsz, "%s", line + 12);
		break;
	}
	fclose(f);
}

void
facts_encode(struct enc *e)
{
	struct utsname	 u;
	struct sysinfo	 si;
	struct statvfs	 sv;
	struct dcall	 c;
	json_t		*v;
	char		 os[128], host[256];

	os_name(os, sizeof os);
	enc_kstr(e, "os", os);
	if (uname(&u) == 0) {
		enc_kstr(e, "arch", u.machine);
		enc_kstr(e, "kernel", u.release);
	}
	if (gethostname(host, sizeof host) == 0) {
		host[sizeof host - 1] = '\0';
		enc_kstr(e, "hostname", host);
	}
	enc_ku64(e, "cpus", (uint64_t)sysconf(_SC_NPROCESSORS_ONLN));
	if (sysinfo(&si) == 0)
		enc_ku64(e, "memory", (uint64_t)si.totalram * si.mem_unit);
	if (statvfs(agent.state_dir, &sv) == 0)
		enc_ku64(e, "disk_free", (uint64_t)sv.f_bavail * sv.f_frsize);
	enc_kstr(e, "state_dir", agent.state_dir);
	enc_kstr(e, "agent_version", TUG_VERSION);
	enc_ku64(e, "time_ms", wall_ms());

	enc_kmap(e, "docker");
	enc_kstr(e, "socket", agent.docker_sock);
	dcall_init(&c, "GET", "/version");
	c.timeout_ms = 5000;
	if ((v = docker_json(&c)) != NULL) {
		const char *ver = json_string_value(json_object_get(v,
		    "Version"));
		const char *api = json_string_value(json_object_get(v,
		    "ApiVersion"));

		enc_kstr(e, "version", ver != NULL ? ver : "?");
		enc_kstr(e, "api_version", api != NULL ? api : "?");
		enc_kstr(e, "api_used", docker_api_version());
		json_decref(v);
	} else
		enc_kstr(e, "error", c.err);
	dcall_release(&c);
	enc_close(e);
}

static void
ping_run(struct job *j)
{
	struct enc	e;

	job_result_begin(j, &e);
	enc_ku64(&e, "time_ms", wall_ms());
	job_ok(j, &e);
}

static void
facts_run(struct job *j)
{
	struct enc	e;

	job_result_begin(j, &e);
	facts_encode(&e);
	job_ok(j, &e);
}

const struct op op_ping = { "ping", 0, NULL, ping_run, NULL };
const struct op op_facts = { "facts", 0, NULL, facts_run, NULL };
