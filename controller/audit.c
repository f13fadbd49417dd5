/*
 * audit.c: the audit log, append-only and hash-chained. Each row's hash is
 * the sha256 of a canonical encoding of its fields and the previous row's
 * hash, so `tug audit verify` finds a row edited in place (its hash no
 * longer matches) and rows deleted (a gap in the ids, a broken link, a
 * sequence ahead of the last row). Triggers refuse UPDATE and DELETE.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "controller/tug.h"

#define GENESIS		"0000000000000000000000000000000000000000000000000000000000000000"
#define LIST_DEFAULT	50
#define LIST_MAX	1000
#define LIST_ARGS_MAX	600		/* bytes of args per listed row */
#define LIST_BYTES_MAX	(768 * 1024)	/* stay under the frame cap */
#define PROBLEMS_MAX	5

struct audit_row {
	int64_t		 id;
	int64_t		 at;		/* ms since the epoch */
	const char	*user;
	const char	*peer;
	const char	*op;
	const char	*target;
	const char	*args;
	int		 allowed;
	const char	*result;
	const char	*prev;		/* the previous row's hash */
};

#define ROW_COLS "id, at, user, peer, op, target, args, allowed, result, " \
	"prev_hash, hash"

static void
row_from(sqlite3_stmt *st, struct audit_row *r)
{
	r->id = sqlite3_column_int64(st, 0);
	r->at = sqlite3_column_int64(st, 1);
	r->user = db_col(st, 2);
	r->peer = db_col(st, 3);
	r->op = db_col(st, 4);
	r->target = db_col(st, 5);
	r->args = db_col(st, 6);
	r->allowed = sqlite3_column_int(st, 7);
	r->result = db_col(st, 8);
	r->prev = db_col(st, 9);
}

static void
field_str(struct buf *b, const char *s)
{
	buf_addf(b, "%zu:", strlen(s));
	buf_addstr(b, s);
	buf_addch(b, ',');
}

static void
field_int(struct buf *b, int64_t v)
{
	char	n[32];

	snprintf(n, sizeof n, "%lld", (long long)v);
	field_str(b, n);
}

/*
 * The canonical encoding: a version line, then every field as a netstring
 * (decimal length, ':', bytes, ','), in this order, ending with prev.
 */
static void
row_hash(const struct audit_row *r, char out[65])
{
	struct buf	b = BUF_INIT;

	buf_addstr(&b, "tug-audit-1\n");
	field_int(&b, r->id);
	field_int(&b, r->at);
	field_str(&b, r->user);
	field_str(&b, r->peer);
	field_str(&b, r->op);
	field_str(&b, r->target);
	field_str(&b, r->args);
	field_int(&b, r->allowed);
	field_str(&b, r->result);
	field_str(&b, r->prev);
	sha256_hex(b.ptr, b.len, out);
	buf_release(&b);
}

#define SEQ_SQL "SELECT seq FROM sqlite_sequence WHERE name = 'audit'"

/* The chain's last row: its id and hash. */
struct audit_end {
	int64_t		id;
	char		hash[65];
};

static void
row_to_end(sqlite3_stmt *st, void *p)
{
	struct audit_end	*e = p;

	e->id = sqlite3_column_int64(st, 0);
	snprintf(e->hash, sizeof e->hash, "%s", db_col(st, 1));
}

/* The id the next row gets: past the last row and past any deleted one. */
static int
next_id(int64_t *id, char prev[65])
{
	struct audit_end	last = { 0, GENESIS };
	int64_t			seq = 0;

	if (db_row_locked("SELECT id, hash FROM audit ORDER BY id DESC "
	    "LIMIT 1", row_to_end, &last, "") == -1 ||
	    db_row_locked(SEQ_SQL, db_int64, &seq, "") == -1)
		return -1;
	snprintf(prev, 65, "%s", last.hash);
	*id = (seq > last.id ? seq : last.id) + 1;
	return 0;
}

/* Append one row to the chain. */
int
audit_add(const char *user, const char *peer, const char *op,
    const char *target, const char *args, int allowed, const char *result)
{
	struct audit_row	r;
	char			prev[65], hash[65];
	int			ok = 0;

	db_lock();
	if (db_exec("BEGIN IMMEDIATE") == -1) {
		db_unlock();
		return -1;
	}
	memset(&r, 0, sizeof r);
	r.at = (int64_t)wall_ms();
	r.user = user;
	r.peer = peer;
	r.op = op;
	r.target = target;
	r.args = args;
	r.allowed = allowed;
	r.result = result;
	r.prev = prev;
	if (next_id(&r.id, prev) == 0) {
		row_hash(&r, hash);
		ok = db_run_locked("INSERT INTO audit (" ROW_COLS ") VALUES (?, "
		    "?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", "iitttttittt", r.id, r.at,
		    user, peer, op, target, args, (int64_t)allowed, result, prev,
		    hash) == 1;
	}
	if (!ok)
		log_warnx("audit: cannot append a row");
	db_exec(ok ? "COMMIT" : "ROLLBACK");
	db_unlock();
	return ok ? 0 : -1;
}

/* Chain one row to the hash in prev; its id and hash. */
struct audit_link {
	char		prev[65];
	char		hash[65];
	int64_t		id;
};

static void
row_to_link(sqlite3_stmt *st, void *p)
{
	struct audit_link	*l = p;
	struct audit_row	 r;

	row_from(st, &r);
	r.prev = l->prev;
	row_hash(&r, l->hash);
	l->id = r.id;
}

/*
 * Migration step: chain the rows written before the chain existed, in id
 * order. Runs inside the migration's transaction, before the triggers.
 */
int
audit_chain_existing(void)
{
	struct audit_link	l = { GENESIS, "", 0 };
	int			r;

	while ((r = db_row_locked("SELECT " ROW_COLS " FROM audit WHERE "
	    "id > ? ORDER BY id LIMIT 1", row_to_link, &l, "i", l.id)) == 1) {
		if (db_run_locked("UPDATE audit SET prev_hash = ?, hash = ? "
		    "WHERE id = ?", "tti", l.prev, l.hash, l.id) == -1)
			return -1;
		snprintf(l.prev, sizeof l.prev, "%s", l.hash);
	}
	return r;
}

/* "1h", "30m", "2d", "2024-05-01", "2024-05-01T12:00[:00][Z]" (UTC). */
static int
parse_since(const char *s, int64_t *at)
{
	struct tm	 tm;
	uint64_t	 ms;
	char		*end, num[32];
	size_t		 n = strlen(s);

	if (parse_duration(s, &ms) == 0) {
		*at = (int64_t)(wall_ms() - ms);
		return 0;
	}
	if (n > 1 && n < sizeof num && s[n - 1] == 'd') {
		snprintf(num, sizeof num, "%.*sh", (int)(n - 1), s);
		if (parse_duration(num, &ms) == 0 && ms / 24 < UINT64_MAX / 24) {
			*at = (int64_t)(wall_ms() - ms * 24);
			return 0;
		}
	}
	memset(&tm, 0, sizeof tm);
	if ((end = strptime(s, "%Y-%m-%d", &tm)) == NULL)
		return -1;
	if (*end == 'T' || *end == ' ') {
		if ((end = strptime(end + 1, "%H:%M", &tm)) == NULL)
			return -1;
		if (*end == ':' && (end = strptime(end + 1, "%S", &tm)) == NULL)
			return -1;
		if (*end == 'Z')
			end++;
	}
	if (*end != '\0')
		return -1;
	*at = (int64_t)timegm(&tm) * 1000;
	return 0;
}

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

	row_from(st, &r);
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
cmd_audit_list(struct client *c, struct mv *args)
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
		client_fail(c, E_BAD_ARGS, "%s", args->err);
		return;
	}
	if (site[0] != '\0' && check_site_name(site) != NULL) {
		client_fail(c, E_BAD_ARGS, "invalid site name '%s'",
		    log_escape(esc, sizeof esc, site, strlen(site)));
		return;
	}
	if (since[0] != '\0' && parse_since(since, &from) == -1) {
		client_fail(c, E_BAD_ARGS, "invalid --since '%s': give a "
		    "duration (30m, 1h, 2d) or a UTC date (2024-05-01, "
		    "2024-05-01T12:00)", log_escape(esc, sizeof esc, since,
		    strlen(since)));
		return;
	}
	if (limit == 0 || limit > LIST_MAX) {
		client_fail(c, E_BAD_ARGS, "--limit must be 1 to %d", LIST_MAX);
		return;
	}
	snprintf(target, sizeof target, "site:%s", site);
	client_result_begin(c, &e);
	enc_karr(&e, "rows");
	db_lock();
	if ((st = db_prepare("SELECT " ROW_COLS " FROM audit WHERE "
	    "(?1 = '' OR target = ?2 OR substr(target, 1, length(?2) + 1) = "
	    "?2 || ',') AND (?3 = '' OR user = ?3) AND at >= ?4 "
	    "ORDER BY id DESC LIMIT ?5", "tttii", site, target, user, from,
	    (int64_t)limit)) == NULL) {
		db_unlock();
		enc_release(&e);
		client_fail(c, E_INTERNAL, "cannot read the audit log");
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
	client_ok(c, &e);
}

struct verify {
	int64_t		 rows;
	int64_t		 last_id;
	char		 last_hash[65];
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

	row_from(st, &r);
	if (v->rows == 0 && strcmp(r.prev, GENESIS) != 0)
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
	row_hash(&r, hash);
	if (strcmp(hash, stored) != 0)
		problem(v, "row %lld was edited: its hash does not match its "
		    "contents", (long long)r.id);
	v->rows++;
	v->last_id = r.id;
	snprintf(v->last_hash, sizeof v->last_hash, "%s", stored);
}

/* audit.verify: walk the whole chain; the first problems by row. */
void
cmd_audit_verify(struct client *c, struct mv *args)
{
	sqlite3_stmt	*st;
	struct verify	 v;
	struct enc	 e;
	int64_t		 seq = 0;
	int		 r;

	(void)args;
	memset(&v, 0, sizeof v);
	snprintf(v.last_hash, sizeof v.last_hash, "%s", GENESIS);
	db_lock();
	if ((st = db_prepare("SELECT " ROW_COLS " FROM audit ORDER BY id", ""))
	    == NULL) {
		db_unlock();
		client_fail(c, E_INTERNAL, "cannot read the audit log");
		return;
	}
	while ((r = sqlite3_step(st)) == SQLITE_ROW)
		verify_row(&v, st);
	sqlite3_finalize(st);
	if (r == SQLITE_DONE && db_row_locked(SEQ_SQL, db_int64, &seq, "") ==
	    -1)
		r = SQLITE_ERROR;
	db_unlock();
	if (r != SQLITE_DONE) {
		buf_release(&v.problems);
		client_fail(c, E_INTERNAL, "cannot read the audit log");
		return;
	}
	if (seq == v.last_id + 1)
		problem(&v, "row %lld is missing (deleted) at the end: the "
		    "last row is %lld", (long long)seq, (long long)v.last_id);
	else if (seq > v.last_id)
		problem(&v, "rows %lld to %lld are missing (deleted) at the "
		    "end: the last row is %lld", (long long)v.last_id + 1,
		    (long long)seq, (long long)v.last_id);
	if (v.nproblems > 0) {
		client_fail(c, "tampered", "audit chain BROKEN (%d problem%s "
		    "in %lld rows):%s%s", v.nproblems, v.nproblems == 1 ? "" :
		    "s", (long long)v.rows, buf_str(&v.problems),
		    v.nproblems > PROBLEMS_MAX ? "\n  ..." : "");
		buf_release(&v.problems);
		return;
	}
	buf_release(&v.problems);
	client_result_begin(c, &e);
	enc_kbool(&e, "intact", 1);
	enc_ki64(&e, "rows", v.rows);
	enc_ki64(&e, "last_id", v.last_id);
	enc_kstr(&e, "head", v.last_hash);
	client_ok(c, &e);
}

/* site.apply in the audit: the file, the spec's size and sha256. */
void
spec_audit_args(struct mv *args, struct buf *out)
{
	char	*text = NULL, hash[65] = "", file[256] = "";
	json_t	*o;
	char	*s;
	int	 dry = 0;

	mv_strdup(args, "text", &text, SPEC_MAX_BYTES, 0);
	mv_str(args, "file", file, sizeof file, 0);
	mv_bool(args, "dry_run", &dry, 0);
	if (text != NULL)
		sha256_hex(text, strlen(text), hash);
	o = json_pack("{s:o?, s:s, s:I, s:b}", "file", json_string(file),
	    "sha256", hash, "bytes", (json_int_t)(text != NULL ?
	    strlen(text) : 0), "dry_run", dry);
	if (o != NULL && (s = json_dumps(o, JSON_COMPACT)) != NULL) {
		buf_addstr(out, s);
		free(s);
	} else
		buf_addstr(out, "{}");
	json_decref(o);
	free(text);
}
