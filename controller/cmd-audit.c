/*
 * cmd-audit.c: the audit ops. audit.list reads the newest rows, filtered by
 * site, user and time; audit.verify walks the whole chain (audit.c) and
 * names each edited, replaced or deleted row it finds.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/log.h"
#include "controller/request.h"
#include "controller/tug.h"

#define LIST_DEFAULT	50
#define LIST_MAX	1000
#define LIST_ARGS_MAX	600		/* bytes of args per listed row */
#define LIST_BYTES_MAX	(768 * 1024)	/* stay under the frame cap */
#define PROBLEMS_MAX	5


/* A prefix of s of at most max bytes that does not split a UTF-8 char. */
static size_t
cut_utf8(const char *s, size_t max)
{
	size_t	n = strlen(s);

	if (n <= max)
		return n;
	while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
		max--;
	return max;
}

static void
enc_row(struct enc *e, sqlite3_stmt *st)
{
	struct audit_row	r;
	size_t			n;

	audit_row_from(st, &r);
	enc_map_open(e);
	enc_ki64(e, "id", r.id);
	enc_ki64(e, "at_ms", r.at);
	enc_kstr(e, "user", r.user);
	enc_kstr(e, "peer", r.peer);
	enc_kstr(e, "op", r.op);
	enc_kstr(e, "target", r.target);
	n = cut_utf8(r.args, LIST_ARGS_MAX);
	enc_str(e, "args");
	enc_strn(e, r.args, n);
	enc_kbool(e, "args_cut", n < strlen(r.args));
	enc_kbool(e, "allowed", r.allowed);
	enc_kstr(e, "result", r.result);
	enc_kstr(e, "prev_hash", r.prev);
	enc_kstr(e, "hash", db_col(st, 10));
	enc_close(e);
}

/* audit.list: the newest rows first, filtered; args cut to a few lines. */
void
cmd_audit_list(struct req *rq, struct mv *args)
{
	sqlite3_stmt	*st;
	struct enc	 e;
	char		 site[SITE_NAME_MAX + 8] = "", user[72] = "", since[64] = "";
	char		 target[SITE_NAME_MAX + 16], esc[96];
	uint64_t	 limit = LIST_DEFAULT;
	int64_t		 from = 0;
	size_t		 n = 0;
	int		 r, cut = 0;

	if (mv_str(args, "site", site, sizeof site, 0) == -1 ||
	    mv_str(args, "user", user, sizeof user, 0) == -1 ||
	    mv_str(args, "since", since, sizeof since, 0) == -1 ||
	    mv_u64(args, "limit", &limit, 0) == -1) {
		req_fail(rq, E_BAD_ARGS, "%s", args->err);
		return;
	}
	if (site[0] != '\0' && check_site_name(site) != NULL) {
		req_fail(rq, E_BAD_ARGS, "invalid site name '%s'",
		    log_escape(esc, sizeof esc, site, strlen(site)));
		return;
	}
	if (since[0] != '\0' && parse_since(since, &from) == -1) {
		req_fail(rq, E_BAD_ARGS, "invalid --since '%s': give a "
		    "duration (30m, 1h, 2d) or a UTC date (2024-05-01, "
		    "2024-05-01T12:00)", log_escape(esc, sizeof esc, since,
		    strlen(since)));
		return;
	}
	if (limit == 0 || limit > LIST_MAX) {
		req_fail(rq, E_BAD_ARGS, "--limit must be 1 to %d", LIST_MAX);
		return;
	}
	snprintf(target, sizeof target, "site:%s", site);
	req_result_begin(rq, &e);
	enc_karr(&e, "rows");
	db_lock();
	if ((st = db_prepare("SELECT " AUDIT_ROW_COLS " FROM audit WHERE "
	    "(?1 = '' OR target = ?2 OR substr(target, 1, length(?2) + 1) = "
	    "?2 || ',') AND (?3 = '' OR user = ?3) AND at >= ?4 "
	    "ORDER BY id DESC LIMIT ?5", "tttii", site, target, user, from,
	    (int64_t)limit)) == NULL) {
		db_unlock();
		enc_release(&e);
		req_fail(rq, E_INTERNAL, "cannot read the audit log");
		return;
	}
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		if (enc_size(&e) > LIST_BYTES_MAX) {
			cut = 1;
			break;
		}
		enc_row(&e, st);
		n++;
	}
	sqlite3_finalize(st);
	db_unlock();
	enc_close(&e);
	enc_ku64(&e, "count", n);
	enc_kbool(&e, "truncated", cut);
	req_ok(rq, &e);
}

struct verify {
	int64_t		 rows;
	int64_t		 last_id;
	char		 last_hash[65];
	int64_t		 anchor_id;	/* --head ID:HASH, or 0 */
	char		 anchor[65];
	int		 anchor_seen;
	int		 nproblems;
	struct buf	 problems;
};

static void
problem(struct verify *v, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
problem(struct verify *v, const char *fmt, ...)
{
	va_list	ap;

	if (v->nproblems++ >= PROBLEMS_MAX)
		return;
	buf_addstr(&v->problems, "\n  ");
	va_start(ap, fmt);
	buf_vaddf(&v->problems, fmt, ap);
	va_end(ap);
}

/* One row against its predecessor and its own hash. */
static void
verify_row(struct verify *v, sqlite3_stmt *st)
{
	struct audit_row	 r;
	char			 hash[65];
	const char		*stored = db_col(st, 10);

	audit_row_from(st, &r);
	if (v->rows == 0 && strcmp(r.prev, AUDIT_GENESIS) != 0)
		problem(v, "the rows before row %lld are missing (deleted): "
		    "it does not start the chain", (long long)r.id);
	else if (v->rows > 0 && r.id != v->last_id + 1) {
		if (r.id == v->last_id + 2)
			problem(v, "row %lld is missing (deleted): row %lld "
			    "follows row %lld", (long long)v->last_id + 1,
			    (long long)r.id, (long long)v->last_id);
		else
			problem(v, "rows %lld to %lld are missing (deleted): "
			    "row %lld follows row %lld",
			    (long long)v->last_id + 1, (long long)r.id - 1,
			    (long long)r.id, (long long)v->last_id);
	} else if (v->rows > 0 && strcmp(r.prev, v->last_hash) != 0)
		problem(v, "row %lld does not link to row %lld (its prev_hash "
		    "is not that row's hash): rows were replaced",
		    (long long)r.id, (long long)v->last_id);
	audit_row_hash(&r, hash);
	if (strcmp(hash, stored) != 0)
		problem(v, "row %lld was edited: its hash does not match its "
		    "contents", (long long)r.id);
	if (r.id == v->anchor_id) {
		v->anchor_seen = 1;
		if (strcmp(stored, v->anchor) != 0)
			problem(v, "row %lld is not the row anchored (its hash "
			    "is not %.16s…): the chain was rewritten up to "
			    "there", (long long)r.id, v->anchor);
	}
	v->rows++;
	v->last_id = r.id;
	snprintf(v->last_hash, sizeof v->last_hash, "%s", stored);
}

/* "ID:HASH" (the anchor verify printed) into v; -1 when it is not one. */
static int
anchor_parse(const char *s, struct verify *v)
{
	const char	*colon = strchr(s, ':');
	char		*end;
	size_t		 i;
	long long	 id;

	if (colon == NULL || colon == s || strlen(colon + 1) != 64)
		return -1;
	for (i = 0; i < 64; i++)
		if (!((colon[1 + i] >= '0' && colon[1 + i] <= '9') ||
		    (colon[1 + i] >= 'a' && colon[1 + i] <= 'f')))
			return -1;
	errno = 0;
	id = strtoll(s, &end, 10);
	if (end != colon || errno != 0 || id <= 0 || s[0] == '+' ||
	    s[0] == '-')
		return -1;
	v->anchor_id = id;
	snprintf(v->anchor, sizeof v->anchor, "%s", colon + 1);
	return 0;
}

/*
 * audit.verify: walk the whole chain; the first problems by row. With
 * head ("ID:HASH", kept outside tugd's database), row ID must still carry
 * HASH: a chain rewritten whole, every hash recomputed, is caught too.
 */
void
cmd_audit_verify(struct req *rq, struct mv *args)
{
	sqlite3_stmt	*st;
	struct verify	 v;
	struct enc	 e;
	char		 head[128] = "", e_[160];
	int64_t		 seq = 0;
	int		 r;

	memset(&v, 0, sizeof v);
	snprintf(v.last_hash, sizeof v.last_hash, "%s", AUDIT_GENESIS);
	if (mv_str(args, "head", head, sizeof head, 0) == -1) {
		req_fail(rq, E_BAD_ARGS, "%s", args->err);
		return;
	}
	if (head[0] != '\0' && anchor_parse(head, &v) == -1) {
		req_fail(rq, E_BAD_ARGS, "invalid --head '%s': expected ID:HASH "
		    "as tug audit verify prints it (anchor 1234:9f86d0…, 64 hex "
		    "digits)", log_escape(e_, sizeof e_, head, strlen(head)));
		return;
	}
	db_lock();
	if ((st = db_prepare("SELECT " AUDIT_ROW_COLS " FROM audit ORDER BY id", ""))
	    == NULL) {
		db_unlock();
		req_fail(rq, E_INTERNAL, "cannot read the audit log");
		return;
	}
	while ((r = sqlite3_step(st)) == SQLITE_ROW)
		verify_row(&v, st);
	sqlite3_finalize(st);
	if (r == SQLITE_DONE && db_row_locked(AUDIT_SEQ_SQL, db_int64, &seq, "") ==
	    -1)
		r = SQLITE_ERROR;
	db_unlock();
	if (r != SQLITE_DONE) {
		buf_release(&v.problems);
		req_fail(rq, E_INTERNAL, "cannot read the audit log");
		return;
	}
	if (seq == v.last_id + 1)
		problem(&v, "row %lld is missing (deleted) at the end: the "
		    "last row is %lld", (long long)seq, (long long)v.last_id);
	else if (seq > v.last_id)
		problem(&v, "rows %lld to %lld are missing (deleted) at the "
		    "end: the last row is %lld", (long long)v.last_id + 1,
		    (long long)seq, (long long)v.last_id);
	if (v.anchor_id != 0 && !v.anchor_seen)
		problem(&v, "row %lld, the row anchored, is not in the chain",
		    (long long)v.anchor_id);
	if (v.nproblems > 0) {
		req_fail(rq, "tampered", "audit chain BROKEN (%d problem%s "
		    "in %lld rows):%s%s", v.nproblems, v.nproblems == 1 ? "" :
		    "s", (long long)v.rows, buf_str(&v.problems),
		    v.nproblems > PROBLEMS_MAX ? "\n  ..." : "");
		buf_release(&v.problems);
		return;
	}
	buf_release(&v.problems);
	req_result_begin(rq, &e);
	enc_kbool(&e, "intact", 1);
	enc_ki64(&e, "rows", v.rows);
	enc_ki64(&e, "last_id", v.last_id);
	enc_kstr(&e, "head", v.last_hash);
	req_ok(rq, &e);
}
