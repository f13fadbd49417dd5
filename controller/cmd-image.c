/*
 * cmd-image.c: images without a registry. `tug image push REF` reads the
 * image once, from the controller's Docker engine (or a docker-save tarball
 * on the controller), and streams it to every target host at once as DATA
 * frames of one image.load each, after skipping the hosts that already hold
 * that image id.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "controller/request.h"
#include "controller/tug.h"

#define CHUNK		(256u * 1024)
#define PUSH_TIMEOUT_MS	(30u * 60 * 1000)

struct push {
	struct req	 *req;
	char		**hosts;
	struct hreq	**rq;
	struct host	**hs;
	size_t		  n;
	struct buf	  chunk;	/* bytes not yet sent */
	uint64_t	  bytes;
	uint64_t	  next_report;
	uint64_t	  deadline;
	uint64_t	  t0;
};

/* One chunk to every host still taking it: -1 once none is. */
static int
push_chunk(struct push *p, const void *d, size_t n, int eof)
{
	size_t	i, live = 0;

	for (i = 0; i < p->n; i++) {
		if (p->rq[i] == NULL || hreq_done(p->rq[i]))
			continue;
		if (hreq_data(p->rq[i], d, n, eof, p->deadline) == 0)
			live++;
	}
	return live > 0 ? 0 : -1;
}

static int
push_bytes(void *arg, const void *d, size_t n)
{
	struct push	*p = arg;
	const char	*s = d;

	while (n > 0) {
		size_t k = CHUNK - p->chunk.len < n ? CHUNK - p->chunk.len : n;

		buf_add(&p->chunk, s, k);
		s += k;
		n -= k;
		p->bytes += k;
		if (p->chunk.len == CHUNK) {
			if (push_chunk(p, p->chunk.ptr, p->chunk.len, 0) == -1)
				return -1;
			buf_reset(&p->chunk);
		}
	}
	if (p->bytes >= p->next_report) {
		req_progress(p->req, NULL, "push", "%llu MiB sent in %.1f s",
		    (unsigned long long)(p->bytes >> 20),
		    (double)(clock_ms() - p->t0) / 1000);
		p->next_report += 32u << 20;
	}
	return 0;
}

static void
args_ref(struct enc *e, void *arg)
{
	enc_kstr(e, "ref", arg);
}

static int
read_file(struct push *p, const char *path, char *err, size_t errsz)
{
	char	buf[65536];
	ssize_t	r;
	int	fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, errsz, "cannot open '%s': %s", path,
		    strerror(errno));
		return -1;
	}
	while ((r = read(fd, buf, sizeof buf)) > 0)
		if (push_bytes(p, buf, (size_t)r) == -1) {
			close(fd);
			snprintf(err, errsz, "every target host failed");
			return -1;
		}
	close(fd);
	if (r == -1) {
		snprintf(err, errsz, "read '%s': %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* One failed host's line for the answer: "HOST: why", said once. */
static void
host_error(struct buf *b, const char *host, const char *why)
{
	size_t	n = strlen(host);

	if (strncmp(why, host, n) == 0 && why[n] == ':')
		buf_addf(b, "%s\n", why);
	else
		buf_addf(b, "%s: %s\n", host, why[0] != '\0' ? why : "failed");
}

void
cmd_image_push(struct req *rq, struct mv *args)
{
	struct push		 p;
	struct fan_result	*have = NULL;
	struct site_rec		 rec;
	struct site_spec	 spec;
	struct enc		 e;
	char			 ref[IMAGE_REF_MAX + 8], file[PATH_MAX_TUG] = "";
	char			 site[SITE_NAME_MAX + 8] = "", id[128] = "";
	char			 err[512] = "", esc[128], *state;
	const char		*why;
	size_t			 nh = 0, i, k, failed = 0;
	struct buf		 errs = BUF_INIT;	/* "HOST: why" lines */
	int			 r, site_open_ok = 0;

	memset(&p, 0, sizeof p);
	p.req = rq;
	buf_init(&p.chunk, CHUNK);
	if (mv_str(args, "ref", ref, sizeof ref, MV_REQ) != 1 ||
	    mv_str(args, "file", file, sizeof file, 0) == -1 ||
	    mv_str(args, "site", site, sizeof site, 0) == -1 ||
	    mv_arr(args, "hosts", &nh, 4096, 0) == -1) {
		req_fail(rq, E_BAD_ARGS, "%s", args->err);
		return;
	}
	if ((why = check_image_ref(ref)) != NULL) {
		req_fail(rq, E_BAD_ARGS, "invalid image reference '%s': %s",
		    log_escape(esc, sizeof esc, ref, strlen(ref)), why);
		return;
	}
	if ((site[0] != '\0') == (nh > 0)) {
		req_fail(rq, E_BAD_ARGS, "name the target: --site SITE or "
		    "--hosts H,... (one of them)");
		return;
	}
	if (file[0] != '\0' && (why = check_abs_path(file)) != NULL) {
		req_fail(rq, E_BAD_ARGS, "invalid --file '%s': %s (give an "
		    "absolute path)", log_escape(esc, sizeof esc, file,
		    strlen(file)), why);
		return;
	}
	if (site[0] != '\0') {
		if (site_open(rq, args, &rec, &spec) == -1)
			return;
		site_open_ok = 1;
		if (site_targets(rq, &spec, &p.hosts, &p.n) == -1)
			goto out;
	} else {
		p.hosts = xcalloc(nh + 1, sizeof *p.hosts);
		for (i = 0; i < nh; i++) {
			char		  name[HOST_NAME_MAX_TUG + 1];
			struct host	 *h;

			if (mv_arr_str(args, "hosts", i, name, sizeof name) !=
			    1 || (h = fleet_get(name)) == NULL) {
				req_fail(rq, E_NOT_FOUND, "no host '%s'",
				    log_escape(esc, sizeof esc, name,
				    strlen(name)));
				goto out;
			}
			host_unref(h);
			p.hosts[p.n++] = xstrdup(name);
		}
	}

	/* Which hosts hold this image already? */
	if (file[0] == '\0') {
		if ((r = local_image_id(ref, id, sizeof id, err,
		    sizeof err)) != 1) {
			req_fail(rq, r == 0 ? E_NOT_FOUND : E_DOCKER, "%s",
			    r == 0 ? "no such image in the controller's Docker "
			    "(or give --file a docker-save tarball)" : err);
			goto out;
		}
		have = xcalloc(p.n + 1, sizeof *have);
		fleet_run(rq, p.hosts, p.n, "image.inspect", args_ref, ref,
		    60000, have);
	}
	p.rq = xcalloc(p.n + 1, sizeof *p.rq);
	p.hs = xcalloc(p.n + 1, sizeof *p.hs);
	for (i = k = 0; i < p.n; i++) {
		/* No answer at all (the host is gone): no load to wait for. */
		if (have != NULL && !have[i].ok && have[i].m.type == 0)
			continue;
		if (have != NULL && have[i].ok) {
			struct mv	b, v, img;
			char		tmp[MSG_ERRLEN], hid[128] = "";

			msg_body(&have[i].m, &b, tmp, "");
			if (mv_map(&b, "value", &v, 0) == 1 &&
			    mv_map(&v, "image", &img, 0) == 1)
				mv_str(&img, "id", hid, sizeof hid, 0);
			if (strcmp(hid, id) == 0) {
				req_progress(rq, p.hosts[i], "skip", "already "
				    "holds %s (%.19s)", ref, id);
				continue;
			}
		}
		if ((p.hs[i] = fleet_get(p.hosts[i])) != NULL) {
			p.rq[i] = hreq_start(p.hs[i], "image.load", NULL, NULL,
			    NULL, NULL);
			k++;
		}
	}
	p.t0 = clock_ms();
	p.deadline = p.t0 + PUSH_TIMEOUT_MS;
	p.next_report = 32u << 20;
	if (k > 0) {
		req_progress(rq, NULL, "push", "streaming %s to %zu host%s",
		    ref, k, k == 1 ? "" : "s");
		r = file[0] != '\0' ? read_file(&p, file, err, sizeof err) :
		    local_image_save(ref, push_bytes, &p, err, sizeof err);
		/* The rest, with eof; a failed read ends every load. */
		if (r == 0)
			push_chunk(&p, p.chunk.ptr, p.chunk.len, 1);
		else
			push_chunk(&p, "", 0, 1);	/* truncated: load fails */
	}

	req_result_begin(rq, &e);
	enc_kstr(&e, "ref", ref);
	if (id[0] != '\0')
		enc_kstr(&e, "id", id);
	enc_ku64(&e, "bytes", p.bytes);
	enc_karr(&e, "hosts");
	for (i = 0; i < p.n; i++) {
		struct msg	m;
		char		herr[512] = "";

		enc_map_open(&e);
		enc_kstr(&e, "host", p.hosts[i]);
		if (p.rq[i] == NULL) {
			state = p.hs[i] == NULL && (have == NULL ||
			    !have[i].ok) ? "failed" : "skipped";
			enc_kstr(&e, "state", state);
			failed += strcmp(state, "failed") == 0;
			if (strcmp(state, "failed") == 0) {
				const char *hw = have != NULL &&
				    have[i].err[0] != '\0' ? have[i].err :
				    "host not loaded";

				enc_kstr(&e, "error", hw);
				host_error(&errs, p.hosts[i], hw);
			}
		} else if (hreq_wait(p.rq[i], p.deadline, &m, herr) == 0 &&
		    m.type == MSG_RESULT) {
			struct mv	b, eb;
			char		tmp[MSG_ERRLEN], msg[400] = "failed";
			int		ok = 0;

			msg_body(&m, &b, tmp, "");
			mv_bool(&b, "ok", &ok, 0);
			enc_kstr(&e, "state", ok ? "loaded" : "failed");
			if (!ok) {
				if (mv_map(&b, "error", &eb, 0) == 1)
					mv_str(&eb, "message", msg, sizeof msg,
					    0);
				enc_kstr(&e, "error", msg);
				host_error(&errs, p.hosts[i], msg);
				failed++;
			}
			msg_release(&m);
		} else {
			if (m.type == MSG_ERROR) {
				struct mv	b;
				char		tmp[MSG_ERRLEN];

				msg_body(&m, &b, tmp, "");
				mv_str(&b, "message", herr, sizeof herr, 0);
				msg_release(&m);
			}
			enc_kstr(&e, "state", "failed");
			enc_kstr(&e, "error", herr);
			host_error(&errs, p.hosts[i], herr);
			failed++;
		}
		enc_close(&e);
	}
	enc_close(&e);
	enc_ku64(&e, "elapsed_ms", clock_ms() - p.t0);
	if (failed > 0 || (k > 0 && r == -1)) {
		enc_release(&e);
		req_fail(rq, "push", "%spushing %s failed on %zu of %zu hosts%s%s",
		    buf_str(&errs), ref, failed, p.n, err[0] != '\0' ? ": " : "",
		    err);
	} else
		req_ok(rq, &e);
out:
	buf_release(&errs);
	for (i = 0; i < p.n; i++) {
		if (p.rq != NULL)
			hreq_free(p.rq[i]);
		if (p.hs != NULL && p.hs[i] != NULL)
			host_unref(p.hs[i]);
	}
	if (have != NULL) {
		fan_results_free(have, p.n);
		free(have);
	}
	free(p.rq);
	free(p.hs);
	free_names(p.hosts, p.n);
	buf_release(&p.chunk);
	if (site_open_ok) {
		site_rec_free(&rec);
		spec_free(&spec);
	}
}
