/*
 * rollout-static.c: deploys of static sites. A deploy packs the site's root
 * directory on the controller into $TUG_HOME/static/SITE/N.tar.gz (release
 * N's files, kept for rollbacks) and streams it to the hosts' static.apply,
 * all hosts of a batch reading the one file at once. A rollback is a config
 * swap: static.apply with reuse:true on the tree the hosts still hold; a
 * host that no longer holds it gets the kept archive again.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fs.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "controller/request.h"
#include "controller/tug.h"

void
static_archive(const char *site, int64_t tree, char *path, size_t n)
{
	if (tree > 0)
		snprintf(path, n, "%s/static/%s/%lld.tar.gz", paths.home, site,
		    (long long)tree);
	else
		snprintf(path, n, "%s/static/%s/next.tar.gz", paths.home, site);
}

/*
 * Pack the site's root into its "next" archive. The root is read by
 * tugd: relative to the spec file's directory when not absolute.
 * Answers the client on failure (-1); image gets "static:HASH16".
 */
int
static_prepare(struct req *rq, const struct site_rec *rec,
    const struct site_spec *s, char *image, size_t imagesz)
{
	struct static_pack_stats st;
	char	root[PATH_MAX_TUG * 2], dir[PATH_MAX_TUG + 64];
	char	out[PATH_MAX_TUG + 64], hash[65], err[600];
	const char *slash, *rel;

	rel = s->root;
	while (rel[0] == '.' && rel[1] == '/')
		for (rel += 2; *rel == '/'; rel++)
			;
	if (rel[0] == '\0')
		rel = ".";
	if (s->root[0] == '/' || (slash = strrchr(rec->file, '/')) == NULL)
		snprintf(root, sizeof root, "%s", s->root);
	else
		snprintf(root, sizeof root, "%.*s/%s", (int)(slash - rec->file),
		    rec->file, rel);
	snprintf(dir, sizeof dir, "%s/static/%s", paths.home, s->site);
	if (fs_mkdirs(dir, 0700) == -1) {
		req_fail(rq, E_INTERNAL, "cannot create '%s': %s", dir,
		    strerror(errno));
		return -1;
	}
	static_archive(s->site, 0, out, sizeof out);
	req_progress(rq, NULL, "pack", "packing %s", root);
	if (static_pack(root, out, hash, &st, err, sizeof err) == -1) {
		req_fail(rq, E_BAD_ARGS, "cannot ship %s: %s", root, err);
		return -1;
	}
	req_progress(rq, NULL, "pack", "%llu files and directories, %llu "
	    "bytes, %llu bytes packed (sha256 %.16s)",
	    (unsigned long long)st.files, (unsigned long long)st.bytes,
	    (unsigned long long)st.packed, hash);
	snprintf(image, imagesz, "static:%.16s", hash);
	return 0;
}

/* The release whose files a (chain of) rollback(s) serves. */
int64_t
static_tree(int64_t site_id, int64_t number)
{
	struct release_rec	r;
	int			hops;

	for (hops = 0; hops < 1000; hops++) {
		if (release_load(site_id, number, &r) != 1)
			return number;
		release_rec_free(&r);
		if (r.rollback_of <= 0)
			return number;
		number = r.rollback_of;
	}
	return number;
}

struct static_args {
	const struct site_spec	*spec;
	int64_t			 tree;
	int			 reuse;
};

static void
args_static(struct enc *e, void *arg)
{
	const struct static_args *a = arg;

	enc_kstr(e, "site", a->spec->site);
	enc_ku64(e, "release", (uint64_t)a->tree);
	enc_ku64(e, "keep", a->spec->keep > 0 ? a->spec->keep : 3);
	if (a->reuse)
		enc_kbool(e, "reuse", 1);
	spec_proxy_args(a->spec, e);
}

/* static.apply of tree on hosts[0..n); reuse first when asked. */
void
static_batch(struct req *rq, const struct site_spec *s, int64_t tree,
    int reuse, char **hosts, size_t n, uint64_t timeout_ms,
    struct fan_result *res)
{
	struct static_args	 a = { s, tree, reuse };
	struct fan_result	*again;
	char			 path[PATH_MAX_TUG + 64], **sub;
	size_t			 i, k = 0;

	static_archive(s->site, tree, path, sizeof path);
	if (!reuse) {
		fleet_run_file(rq, hosts, n, "static.apply", args_static, &a,
		    path, timeout_ms, res);
		return;
	}
	fleet_run(rq, hosts, n, "static.apply", args_static, &a, timeout_ms,
	    res);
	sub = xcalloc(n + 1, sizeof *sub);
	for (i = 0; i < n; i++)
		if (fan_not_found(&res[i]))
			sub[k++] = hosts[i];
	if (k > 0 && access(path, R_OK) == -1) {
		for (i = 0; i < n; i++)
			if (fan_not_found(&res[i]))
				snprintf(res[i].err, sizeof res[i].err, "%s: "
				    "release %lld's files are gone from this "
				    "host and no longer kept by tugd (keep: "
				    "%u); deploy again", res[i].host,
				    (long long)tree, s->keep);
		k = 0;
	}
	if (k > 0) {
		req_progress(rq, NULL, "static", "%zu host%s no longer hold "
		    "release %lld: sending it again", k, k == 1 ? "" : "s",
		    (long long)tree);
		again = xcalloc(k + 1, sizeof *again);
		a.reuse = 0;
		fleet_run_file(rq, sub, k, "static.apply", args_static, &a,
		    path, timeout_ms, again);
		for (i = 0, k = 0; i < n; i++) {
			if (!fan_not_found(&res[i]))
				continue;
			msg_release(&res[i].m);
			again[k].ms += res[i].ms;
			res[i] = again[k++];
		}
		free(again);
	}
	free(sub);
}

/* Keep the archives of the newest `keep` trees and the serving one. */
void
static_prune(const char *site, unsigned keep, int64_t serving)
{
	char		 dir[PATH_MAX_TUG + 64];
	DIR		*d;
	struct dirent	*de;
	int64_t		*v = NULL;
	size_t		 n = 0, i, kept;

	snprintf(dir, sizeof dir, "%s/static/%s", paths.home, site);
	if ((d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		char	*end;
		long long x = strtoll(de->d_name, &end, 10);

		if (x > 0 && strcmp(end, ".tar.gz") == 0) {
			v = xrealloc(v, (n + 1) * sizeof *v);
			v[n++] = x;
		}
	}
	closedir(d);
	if (keep == 0)
		keep = 3;
	/* Newest first: a simple selection keeps this O(n * keep). */
	for (i = 0; i < n; i++) {
		size_t	newer = 0, k;
		char	path[PATH_MAX_TUG + 96];

		for (k = 0; k < n; k++)
			newer += v[k] > v[i];
		kept = newer < keep || v[i] == serving;
		if (kept)
			continue;
		static_archive(site, v[i], path, sizeof path);
		if (unlink(path) == -1)
			log_warnx("cannot remove %s: %s", path, strerror(errno));
	}
	free(v);
}

/* Forget a removed site's archives. */
void
static_forget(const char *site)
{
	char	dir[PATH_MAX_TUG + 64];
	int	fd;

	snprintf(dir, sizeof dir, "%s/static", paths.home);
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return;
	if (fs_remove_tree(fd, site) == -1 && errno != ENOENT)
		log_warnx("cannot remove %s/%s: %s", dir, site,
		    strerror(errno));
	close(fd);
}
