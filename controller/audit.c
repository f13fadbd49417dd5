/*
 * audit.c: the audit log, append-only and hash-chained (its ops, list and
 * verify, are in cmd-audit.c). Each row's hash is
 * the sha256 of a canonical encoding of its fields and the previous row's
 * hash, so `tug audit verify` finds a row edited in place (its hash no
 * longer matches) and rows deleted (a gap in the ids, a broken link, a
 * sequence ahead of the last row). Triggers refuse UPDATE and DELETE.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "controller/request.h"
#include "controller/tug.h"

#define GENESIS		AUDIT_GENESIS
#define ROW_COLS	AUDIT_ROW_COLS
#define SEQ_SQL		AUDIT_SEQ_SQL

void
audit_row_from(sqlite3_stmt *st, struct audit_row *r)
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
void
audit_row_hash(const struct audit_row *r, char out[65])
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
	db_copy(st, 1, e->hash, sizeof e->hash);
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
		audit_row_hash(&r, hash);
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

	audit_row_from(st, &r);
	r.prev = l->prev;
	audit_row_hash(&r, l->hash);
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
