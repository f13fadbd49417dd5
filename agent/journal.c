/*
 * journal.c: the agent's record of each site.apply and static.apply in
 * progress, one small JSON file per site under <state>/journal, replaced
 * atomically at every step, plus a per-site flock so two applies of one site
 * never interleave. A journal left behind by a killed agent tells the next
 * apply what to clean.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "agent/agent.h"
#include "common/clock.h"
#include "common/fs.h"
#include "common/log.h"

static int
journal_path(char *dst, size_t dstsz, const char *site, const char *ext)
{
	char	dir[PATH_MAX_TUG + 16];

	snprintf(dir, sizeof dir, "%s/journal", agent.state_dir);
	if (fs_mkdirs(dir, 0700) == -1)
		return -1;
	if (snprintf(dst, dstsz, "%s/%s.%s", dir, site, ext) >= (int)dstsz) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

int
journal_read(const char *site, struct journal *jr)
{
	char		 path[PATH_MAX_TUG + 64];
	struct buf	 b = BUF_INIT;
	json_t		*j;
	const char	*s;

	memset(jr, 0, sizeof *jr);
	if (journal_path(path, sizeof path, site, "json") == -1)
		return -1;
	if (fs_read_file(path, &b, 65536) == -1) {
		buf_release(&b);
		return errno == ENOENT ? 0 : -1;
	}
	j = json_loadb(b.ptr, b.len, 0, NULL);
	buf_release(&b);
	if (j == NULL)
		return -1;
	snprintf(jr->site, sizeof jr->site, "%s", site);
	jr->release = (uint64_t)json_integer_value(json_object_get(j,
	    "release"));
	jr->current = (uint64_t)json_integer_value(json_object_get(j,
	    "current"));
	if ((s = json_string_value(json_object_get(j, "step"))) != NULL)
		snprintf(jr->step, sizeof jr->step, "%s", s);
	if ((s = json_string_value(json_object_get(j, "container"))) != NULL)
		snprintf(jr->container, sizeof jr->container, "%s", s);
	if ((s = json_string_value(json_object_get(j, "kind"))) != NULL)
		snprintf(jr->kind, sizeof jr->kind, "%s", s);
	jr->updated_ms = (uint64_t)json_integer_value(json_object_get(j,
	    "updated_ms"));
	jr->stopped = json_is_true(json_object_get(j, "stopped"));
	/* Read as any input: a record that does not check out is none. */
	if (json_object_get(j, "proxy") != NULL && proxy_site_unjson(
	    json_object_get(j, "proxy"), site, &jr->proxy) == -1) {
		log_warnx("journal of '%s': the proxy record is damaged; "
		    "ignoring it", site);
		memset(&jr->proxy, 0, sizeof jr->proxy);
	}
	json_decref(j);
	return 1;
}

int
journal_write(const struct journal *jr)
{
	char	 path[PATH_MAX_TUG + 64], *text;
	json_t	*j;
	int	 r;

	if (journal_path(path, sizeof path, jr->site, "json") == -1)
		return -1;
	j = json_pack("{s:s, s:I, s:I, s:s, s:s, s:I}", "site", jr->site,
	    "release", (json_int_t)jr->release,
	    "current", (json_int_t)jr->current, "step", jr->step,
	    "container", jr->container, "updated_ms",
	    (json_int_t)wall_ms());
	/* Container sites leave it out, as before there were static ones. */
	if (j != NULL && jr->kind[0] != '\0')
		json_object_set_new(j, "kind", json_string(jr->kind));
	if (j != NULL && jr->proxy.ndomains > 0)
		json_object_set_new(j, "proxy", proxy_site_json(&jr->proxy));
	if (j != NULL && jr->stopped)
		json_object_set_new(j, "stopped", json_true());
	if (j == NULL || (text = json_dumps(j, JSON_COMPACT)) == NULL) {
		json_decref(j);
		return -1;
	}
	json_decref(j);
	r = fs_write_atomic(path, text, strlen(text), 0600);
	free(text);
	return r;
}

int
journal_remove(const char *site)
{
	char	path[PATH_MAX_TUG + 64];

	if (journal_path(path, sizeof path, site, "json") == -1)
		return -1;
	if (unlink(path) == -1 && errno != ENOENT)
		return -1;
	return 0;
}

int
journal_lock(const char *site, volatile int *cancel)
{
	char	path[PATH_MAX_TUG + 64];

	if (journal_path(path, sizeof path, site, "lock") == -1)
		return -1;
	/* Polled, so that a cancelled job stops waiting for another apply. */
	return fs_lock_wait(path, cancel, 50);
}

void
journal_unlock(int fd)
{
	if (fd != -1)
		close(fd);
}

/*
 * The start of an apply of kind ("static", or "" for containers): take the
 * site lock, read the journal (a fresh one when there is none or it is
 * unreadable) and say when an earlier apply was interrupted. A site that
 * was of the other kind until now has no serving release of this one. The
 * lock's fd, or -1 when the job was answered.
 */
int
journal_begin(struct job *j, const char *site, const char *kind,
    struct journal *jr)
{
	int	lock, had;

	if ((lock = journal_lock(site, &j->cancelled)) == -1) {
		job_fail(j, E_IO, "cannot lock site '%s': %s", site,
		    strerror(errno));
		return -1;
	}
	if ((had = journal_read(site, jr)) == -1)
		log_warnx("journal of '%s' unreadable; starting afresh", site);
	if (had == 1 && strcmp(jr->step, "done") != 0 &&
	    strcmp(jr->step, "failed") != 0)
		job_progress(j, "recover", "resuming after an interrupted "
		    "apply of release %llu (stopped at '%s')",
		    (unsigned long long)jr->release, jr->step);
	if (had != 1) {
		memset(jr, 0, sizeof *jr);
		snprintf(jr->site, sizeof jr->site, "%s", site);
	}
	if (strcmp(jr->kind, kind) != 0) {
		jr->current = 0;
		memset(&jr->proxy, 0, sizeof jr->proxy);
		jr->stopped = 0;
		snprintf(jr->kind, sizeof jr->kind, "%s", kind);
	}
	return lock;
}

/*
 * The tests' fault hook (docs/architecture.md, "Faults"): a file
 * <state>/fault holding "POINT" or "SITE POINT" makes the agent _exit at
 * that point, as a kill -9 there would leave things. The file goes first,
 * so the next apply runs through. Points: after-STEP for every journal
 * step, and the backends' own (proxy-nginx.c: switch-written). One failed
 * open per point when there is no file.
 */
void
agent_fault(const char *site, const char *point)
{
	char		 path[PATH_MAX_TUG + 16], want[SITE_NAME_MAX + 64];
	struct buf	 b = BUF_INIT;
	size_t		 n;

	snprintf(path, sizeof path, "%s/fault", agent.state_dir);
	if (fs_read_file(path, &b, 256) == -1) {
		buf_release(&b);
		return;
	}
	for (n = b.len; n > 0 && (b.ptr[n - 1] == '\n' || b.ptr[n - 1] == ' ');
	    n--)
		;
	buf_setlen(&b, n);
	snprintf(want, sizeof want, "%s %s", site, point);
	if (strcmp(buf_str(&b), point) == 0 || strcmp(buf_str(&b), want) == 0) {
		unlink(path);
		log_warnx("fault injected at %s %s: exiting", site, point);
		_exit(86);
	}
	buf_release(&b);
}

/* Record the step an apply has reached; a failed write is only logged. */
void
journal_step(struct journal *jr, const char *step)
{
	char	point[40];

	snprintf(jr->step, sizeof jr->step, "%s", step);
	if (journal_write(jr) == -1)
		log_warn("journal %s", jr->site);
	snprintf(point, sizeof point, "after-%s", step);
	agent_fault(jr->site, point);
}
