/*
 * agent-static.c: static sites. static.apply extracts a tar stream of DATA
 * frames (safely: common/tar.c) into <state>/static/<site>/<release>.tmp-<pid>,
 * renames it into place, points the site's nginx config at it, confirms and
 * prunes old releases, journaled like site.apply; site.status and site.remove
 * use the helpers at the end.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent.h"
#include "common/clock.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/tar.h"
#include "common/xmalloc.h"

#define STATIC_KEEP_DEFAULT	3
#define STATIC_KEEP_MAX		100
#define STATIC_BYTES_DEFAULT	(1ULL << 30)		/* 1 GiB */
#define STATIC_BYTES_MAX	(16ULL << 30)
#define STATIC_FILES_DEFAULT	100000
#define STATIC_FILES_MAX	1000000
#define STATIC_RELEASE_MAX	999999999
#define STATIC_PROGRESS_EVERY	(16u << 20)
#define STATIC_LIST_MAX		100000			/* release dirs read */

struct static_args {
	char			 site[SITE_NAME_MAX + 1];
	uint64_t		 release;
	uint64_t		 keep;
	uint64_t		 max_bytes;
	uint64_t		 max_files;
	int			 reuse;
	struct proxy_site	 proxy;		/* with root and index */
};

/* The DATA frames of the job, as a byte source for tar_extract(). */
struct static_in {
	struct job	*job;
	struct msg	 cur;
	const char	*p;
	size_t		 left;
	int		 eof;		/* the frame with eof was taken */
	uint64_t	 total;
	uint64_t	 next_report;
};

static int
static_apply_check(struct job *j)
{
	struct static_args	*a = xcalloc(1, sizeof *a);
	struct proxy_site	*ps = &a->proxy;
	const char		*why;
	char			 index[256], e[128];
	int			 r;

	j->priv = a;
	a->keep = STATIC_KEEP_DEFAULT;
	a->max_bytes = STATIC_BYTES_DEFAULT;
	a->max_files = STATIC_FILES_DEFAULT;
	snprintf(index, sizeof index, "index.html");
	if (job_check_name(j, "site", a->site, sizeof a->site) == -1 ||
	    mv_u64(&j->args, "release", &a->release, MV_REQ) == -1 ||
	    mv_u64(&j->args, "keep", &a->keep, 0) == -1 ||
	    mv_str(&j->args, "index", index, sizeof index, 0) == -1 ||
	    mv_bool(&j->args, "reuse", &a->reuse, 0) == -1 ||
	    mv_u64(&j->args, "max_bytes", &a->max_bytes, 0) == -1 ||
	    mv_u64(&j->args, "max_files", &a->max_files, 0) == -1)
		return -1;
	if (a->release == 0 || a->release > STATIC_RELEASE_MAX)
		return job_bad(j, "release must be between 1 and %d",
		    STATIC_RELEASE_MAX);
	if (a->keep == 0 || a->keep > STATIC_KEEP_MAX)
		return job_bad(j, "keep must be between 1 and %d", STATIC_KEEP_MAX);
	if ((why = check_file_name(index)) != NULL)
		return job_bad(j, "invalid index '%s': %s",
		    log_escape(e, sizeof e, index, strlen(index)), why);
	if (a->max_bytes == 0 || a->max_bytes > STATIC_BYTES_MAX)
		return job_bad(j, "max_bytes must be between 1 and %llu",
		    (unsigned long long)STATIC_BYTES_MAX);
	if (a->max_files == 0 || a->max_files > STATIC_FILES_MAX)
		return job_bad(j, "max_files must be between 1 and %d",
		    STATIC_FILES_MAX);
	if ((r = proxy_site_check(j, ps)) == -1)
		return -1;
	if (r == 0)
		return job_bad(j, "args.proxy: missing (a static site is served "
		    "by this host's proxy)");
	snprintf(ps->site, sizeof ps->site, "%s", a->site);
	ps->release = a->release;
	snprintf(ps->root, sizeof ps->root, "static/%s/%llu", a->site,
	    (unsigned long long)a->release);
	snprintf(ps->index, sizeof ps->index, "%s", index);
	snprintf(ps->path, sizeof ps->path, "/");
	return 0;
}

static void
static_args_free(struct job *j)
{
	free(j->priv);
	j->priv = NULL;
}

static ssize_t
static_read(void *arg, void *dst, size_t n, char *err)
{
	struct static_in	*in = arg;
	struct mv		 body;
	const void		*p;
	size_t			 len, k;
	int			 r;

	while (in->left == 0) {
		msg_release(&in->cur);
		if (in->eof)
			return 0;
		if ((r = job_data(in->job, &in->cur)) == -1) {
			snprintf(err, TAR_ERRLEN, "cancelled");
			return -1;
		}
		if (r == 0) {
			in->eof = 1;
			return 0;
		}
		msg_body(&in->cur, &body, in->job->err, "");
		if (mv_bin(&body, "bytes", &p, &len, FRAME_MAX, MV_REQ) != 1 ||
		    mv_bool(&body, "eof", &in->eof, 0) == -1) {
			snprintf(err, TAR_ERRLEN, "bad DATA frame: %s",
			    in->job->err);
			return -1;
		}
		in->p = p;
		in->left = len;
	}
	k = in->left < n ? in->left : n;
	memcpy(dst, in->p, k);
	in->p += k;
	in->left -= k;
	in->total += k;
	if (in->total >= in->next_report) {
		job_progress(in->job, "receive", "%llu MiB received",
		    (unsigned long long)(in->total >> 20));
		in->next_report += STATIC_PROGRESS_EVERY;
	}
	return (ssize_t)k;
}

/* <state>/static/<site>, made when create is set: an fd, or -1 (errno). */
static int
static_site_open(const char *site, int create)
{
	char	path[PATH_MAX_TUG + 64];

	snprintf(path, sizeof path, "%s/static/%s", agent.state_dir, site);
	if (create && fs_mkdirs(path, 0755) == -1)
		return -1;
	return open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

/* A release directory's name: decimal, no leading zero, in range. */
static uint64_t
release_of(const char *name)
{
	uint64_t	v = 0;
	size_t		i;

	if (name[0] < '1' || name[0] > '9' || strlen(name) > 9)
		return 0;
	for (i = 0; name[i] != '\0'; i++) {
		if (name[i] < '0' || name[i] > '9')
			return 0;
		v = v * 10 + (uint64_t)(name[i] - '0');
	}
	return v;
}

static int
u64_cmp(const void *a, const void *b)
{
	uint64_t	x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * The release directories below sfd, sorted; with junk set, the names of
 * everything else too (half-written or half-removed trees). 0 or -1.
 */
static int
static_list(int sfd, uint64_t **rels, size_t *n, char ***junk, size_t *njunk)
{
	struct dirent	*de;
	struct stat	 st;
	DIR		*d;
	uint64_t	 r;
	size_t		 alloc = 0, jalloc = 0;
	int		 fd;

	*rels = NULL;
	*n = 0;
	if (junk != NULL) {
		*junk = NULL;
		*njunk = 0;
	}
	if ((fd = openat(sfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return -1;
	}
	while ((de = readdir(d)) != NULL && *n < STATIC_LIST_MAX) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if ((r = release_of(de->d_name)) != 0 &&
		    fstatat(sfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISDIR(st.st_mode)) {
			if (*n == alloc) {
				alloc = alloc ? alloc * 2 : 16;
				*rels = xrealloc(*rels, alloc *
				    sizeof **rels);
			}
			(*rels)[(*n)++] = r;
		} else if (junk != NULL && r == 0) {
			if (*njunk == jalloc) {
				jalloc = jalloc ? jalloc * 2 : 4;
				*junk = xrealloc(*junk, jalloc *
				    sizeof **junk);
			}
			(*junk)[(*njunk)++] = xstrdup(de->d_name);
		}
	}
	closedir(d);
	if (*n > 1)
		qsort(*rels, *n, sizeof **rels, u64_cmp);
	return 0;
}

/* Trees that a killed apply left: <release>.tmp-<pid>, <release>.old-<pid>. */
static void
static_cleanup(struct job *j, int sfd, const char *site)
{
	uint64_t	*rels;
	char		**junk, e[128];
	size_t		 n, nj, i;

	if (static_list(sfd, &rels, &n, &junk, &nj) == -1) {
		log_warn("cannot list static/%s", site);
		return;
	}
	for (i = 0; i < nj; i++) {
		job_progress(j, "cleanup", "removing static/%s/%s left by an "
		    "interrupted apply", site,
		    log_escape(e, sizeof e, junk[i], strlen(junk[i])));
		if (fs_remove_tree(sfd, junk[i]) == -1)
			log_warn("cannot remove static/%s/%s", site, e);
		free(junk[i]);
	}
	free(junk);
	free(rels);
}

/* Take a tree out of the way by renaming it, then delete it. */
static int
static_drop(int sfd, const char *name)
{
	char	old[64];

	snprintf(old, sizeof old, "%s.old-%ld", name, (long)getpid());
	if (renameat(sfd, name, sfd, old) == -1)
		return errno == ENOENT ? 0 : -1;
	return fs_remove_tree(sfd, old);
}

/*
 * Receive and extract the release into <release>.tmp-<pid>, then rename it
 * to <release>: a tree is never seen half-written under its final name. An
 * existing tree of that release is swapped out atomically and deleted.
 */
static int
static_receive(struct job *j, struct static_args *a, int sfd,
    struct tar_stats *ts, uint64_t *received, uint64_t *ms,
    const char **code, char *why, size_t whysz)
{
	struct static_in	in;
	struct tar_limits	lim;
	enum tar_status		s;
	char			tmp[64], rel[24], terr[TAR_ERRLEN];
	int			rfd, exists = 0;
	uint64_t		t0 = clock_ms();

	snprintf(rel, sizeof rel, "%llu", (unsigned long long)a->release);
	snprintf(tmp, sizeof tmp, "%s.tmp-%ld", rel, (long)getpid());
	*code = E_IO;
	if (fs_remove_tree(sfd, tmp) == -1 || mkdirat(sfd, tmp, 0700) == -1 ||
	    (rfd = openat(sfd, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		return snprintf(why, whysz, "cannot make static/%s/%s: %s",
		    a->site, tmp, strerror(errno)), -1;
	if (fchmod(rfd, 0755) == -1) {
		snprintf(why, whysz, "chmod static/%s/%s: %s", a->site, tmp,
		    strerror(errno));
		goto fail;
	}
	job_progress(j, "receive", "receiving release %s into static/%s/%s",
	    rel, a->site, tmp);
	memset(&in, 0, sizeof in);
	in.job = j;
	in.next_report = STATIC_PROGRESS_EVERY;
	lim.max_bytes = a->max_bytes;
	lim.max_entries = a->max_files;
	s = tar_extract(rfd, static_read, &in, &lim, ts, terr);
	msg_release(&in.cur);
	*received = in.total;
	if (s != TAR_OK) {
		*code = s == TAR_BAD ? E_BAD_ARCHIVE : s == TAR_LIMIT ?
		    E_TOO_LARGE : s == TAR_IO ? E_IO : j->cancelled ?
		    E_CANCELLED : E_BAD_MESSAGE;
		snprintf(why, whysz, "release %s was not extracted: %s; "
		    "nothing of it was kept", rel, terr);
		goto fail;
	}
	/* Every file on disk before the tree gets its name. */
	if (syncfs(rfd) == -1) {
		snprintf(why, whysz, "syncfs static/%s/%s: %s", a->site, tmp,
		    strerror(errno));
		goto fail;
	}
	close(rfd);
	rfd = -1;
	if (j->cancelled) {
		*code = E_CANCELLED;
		snprintf(why, whysz, "cancelled");
		goto fail;
	}
	if (renameat2(sfd, tmp, sfd, rel, RENAME_NOREPLACE) == -1) {
		if (errno != EEXIST && errno != ENOTEMPTY) {
			snprintf(why, whysz, "cannot rename static/%s/%s: %s",
			    a->site, tmp, strerror(errno));
			goto fail;
		}
		exists = 1;
		if (renameat2(sfd, tmp, sfd, rel, RENAME_EXCHANGE) == -1) {
			snprintf(why, whysz, "cannot swap static/%s/%s in: %s",
			    a->site, rel, strerror(errno));
			goto fail;
		}
		if (fs_remove_tree(sfd, tmp) == -1)
			log_warn("cannot remove static/%s/%s", a->site, tmp);
	}
	if (fsync(sfd) == -1)
		log_warn("fsync static/%s", a->site);
	*ms = clock_ms() - t0;
	job_progress(j, "extracted", "release %s: %llu files, %llu "
	    "directories, %llu bytes%s in %llu ms%s", rel,
	    (unsigned long long)ts->files, (unsigned long long)ts->dirs,
	    (unsigned long long)ts->bytes, ts->gzip ? " (gzip)" : "",
	    (unsigned long long)*ms, exists ? "; the earlier tree of this "
	    "release was replaced" : "");
	return 0;
fail:
	if (rfd != -1)
		close(rfd);
	if (fs_remove_tree(sfd, tmp) == -1)
		log_warn("cannot remove static/%s/%s", a->site, tmp);
	return -1;
}

/* Point the proxy at the release's tree and confirm; -1 with why. */
static int
static_switch(struct job *j, struct static_args *a,
    const struct proxy_conf *pc, struct proxy_timing *tm, char *why,
    size_t whysz)
{
	job_progress(j, "proxy", "switching %s for %s to %s", pc->kind,
	    a->proxy.domains[0], a->proxy.root);
	return proxy_switch(j, pc, &a->proxy, a->release, tm, why, whysz);
}

/*
 * Keep the serving release and the keep - 1 highest others; delete the
 * rest. The releases left go to kept, the deleted ones to pruned.
 */
static void
static_prune(struct job *j, struct static_args *a, int sfd, uint64_t serving,
    uint64_t **kept, size_t *nkept, uint64_t **pruned, size_t *npruned)
{
	uint64_t	*rels;
	size_t		 n, i, room = a->keep - 1;
	char		 name[24];

	*kept = *pruned = NULL;
	*nkept = *npruned = 0;
	if (static_list(sfd, &rels, &n, NULL, NULL) == -1) {
		log_warn("cannot list static/%s", a->site);
		return;
	}
	*kept = xcalloc(n + 1, sizeof **kept);
	*pruned = xcalloc(n + 1, sizeof **pruned);
	for (i = n; i-- > 0;) {
		if (rels[i] == serving || room > 0) {
			if (rels[i] != serving)
				room--;
			(*kept)[(*nkept)++] = rels[i];
			continue;
		}
		snprintf(name, sizeof name, "%llu",
		    (unsigned long long)rels[i]);
		job_progress(j, "prune", "removing release %s (keeping %llu)",
		    name, (unsigned long long)a->keep);
		if (static_drop(sfd, name) == -1) {
			log_warn("cannot remove static/%s/%s", a->site, name);
			(*kept)[(*nkept)++] = rels[i];
		} else
			(*pruned)[(*npruned)++] = rels[i];
	}
	qsort(*kept, *nkept, sizeof **kept, u64_cmp);
	qsort(*pruned, *npruned, sizeof **pruned, u64_cmp);
	free(rels);
}

static void
enc_u64s(struct enc *e, const char *key, const uint64_t *v, size_t n)
{
	size_t	i;

	enc_karr(e, key);
	for (i = 0; i < n; i++)
		enc_u64(e, v[i]);
	enc_close(e);
}

static void
static_apply_run(struct job *j)
{
	struct static_args	*a = j->priv;
	struct journal		 jr;
	struct proxy_conf	 pc;
	struct proxy_timing	 tm;
	struct tar_stats	 ts;
	struct stat		 st;
	struct enc		 e;
	const char		*code = E_IO;
	char			 why[MSG_ERRLEN * 2], rel[24], idx[300], still[80];
	uint64_t		*kept = NULL, *pruned = NULL;
	uint64_t		 t0 = clock_ms(), received = 0, ems = 0;
	size_t			 nkept = 0, npruned = 0;
	int			 lock, sfd = -1;

	memset(&tm, 0, sizeof tm);
	memset(&ts, 0, sizeof ts);
	snprintf(rel, sizeof rel, "%llu", (unsigned long long)a->release);
	if ((lock = journal_begin(j, a->site, "static", &jr)) == -1)
		return;
	if (proxy_require(j, &a->proxy, &pc) == -1)
		goto out;
	proxy_site_recover(j, &pc, &jr);
	if ((sfd = static_site_open(a->site, 1)) == -1) {
		job_fail(j, E_IO, "cannot open %s/static/%s: %s",
		    agent.state_dir, a->site, strerror(errno));
		goto out;
	}
	static_cleanup(j, sfd, a->site);

	jr.release = a->release;
	jr.container[0] = '\0';
	journal_step(&jr, "begin");
	if (a->reuse) {
		if (fstatat(sfd, rel, &st, AT_SYMLINK_NOFOLLOW) == -1 ||
		    !S_ISDIR(st.st_mode)) {
			journal_step(&jr, "failed");
			job_fail(j, E_NOT_FOUND, "release %s of '%s' is not on "
			    "this host: send it again (without reuse)", rel,
			    a->site);
			goto out;
		}
		job_progress(j, "reuse", "release %s is on this host already: "
		    "switching to it", rel);
	} else {
		if (static_receive(j, a, sfd, &ts, &received, &ems, &code,
		    why, sizeof why) == -1) {
			journal_step(&jr, "failed");
			job_fail(j, code, "%s", why);
			goto out;
		}
		journal_step(&jr, "extracted");
	}

	/* Without an index page "/" cannot answer 2xx: any status will do. */
	snprintf(idx, sizeof idx, "%s/%s", rel, a->proxy.index);
	a->proxy.any_status = fstatat(sfd, idx, &st, AT_SYMLINK_NOFOLLOW) ==
	    -1 || !S_ISREG(st.st_mode);
	if (j->cancelled) {
		journal_step(&jr, "failed");
		job_fail(j, E_CANCELLED, "cancelled");
		goto out;
	}
	journal_step(&jr, "proxy");
	if (static_switch(j, a, &pc, &tm, why, sizeof why) == -1) {
		journal_step(&jr, "failed");
		keeps_serving(&jr, a->release, still, sizeof still);
		job_fail(j, E_PROXY, "release %s was not switched to: %s; %s",
		    rel, why, still);
		goto out;
	}
	jr.current = a->release;
	journal_step(&jr, "switched");
	static_prune(j, a, sfd, a->release, &kept, &nkept, &pruned, &npruned);
	journal_step(&jr, "done");

	job_result_begin(j, &e);
	enc_kstr(&e, "site", a->site);
	enc_ku64(&e, "release", a->release);
	snprintf(why, sizeof why, "%s/%s", agent.state_dir, a->proxy.root);
	enc_kstr(&e, "path", why);
	enc_kbool(&e, "reused", a->reuse);
	enc_ku64(&e, "files", ts.files);
	enc_ku64(&e, "dirs", ts.dirs);
	enc_ku64(&e, "bytes", ts.bytes);
	enc_ku64(&e, "received", received);
	enc_kbool(&e, "gzip", ts.gzip);
	enc_ku64(&e, "extract_ms", ems);
	enc_kbool(&e, "index", !a->proxy.any_status);
	enc_u64s(&e, "releases", kept, nkept);
	enc_u64s(&e, "pruned", pruned, npruned);
	proxy_encode(&e, &pc, &a->proxy, &tm);
	enc_ku64(&e, "elapsed_ms", clock_ms() - t0);
	job_ok(j, &e);
out:
	free(kept);
	free(pruned);
	if (sfd != -1)
		close(sfd);
	journal_unlock(lock);
}

int
static_releases(const char *site, uint64_t **rels, size_t *n)
{
	int	sfd, r;

	*rels = NULL;
	*n = 0;
	if ((sfd = static_site_open(site, 0)) == -1)
		return errno == ENOENT ? 0 : -1;
	r = static_list(sfd, rels, n, NULL, NULL);
	close(sfd);
	return r;
}

int
static_remove(const char *site, uint64_t **rels, size_t *n)
{
	char	path[PATH_MAX_TUG + 16];
	int	dfd, r;

	if (static_releases(site, rels, n) == -1)
		return -1;
	snprintf(path, sizeof path, "%s/static", agent.state_dir);
	if ((dfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		return errno == ENOENT ? 0 : -1;
	r = fs_remove_tree(dfd, site);
	close(dfd);
	return r;
}

const struct op op_static_apply = { "static.apply", OP_DATA,
    static_apply_check, static_apply_run, static_args_free };
