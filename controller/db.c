/*
 * db.c: tugd's SQLite connection and the one layer every query goes
 * through: one connection, WAL, foreign keys on, statements with bound
 * parameters and row readers. Access is serialised by one mutex: tugd's
 * requests are short. The schema and its migrations are in schema.c.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "controller/tug.h"

struct db	db = { NULL, PTHREAD_MUTEX_INITIALIZER };

void
db_lock(void)
{
	pthread_mutex_lock(&db.lock);
}

void
db_unlock(void)
{
	pthread_mutex_unlock(&db.lock);
}

int
db_exec(const char *sql)
{
	char	*msg = NULL;

	if (sqlite3_exec(db.h, sql, NULL, NULL, &msg) != SQLITE_OK) {
		log_warnx("sqlite: %s", msg != NULL ? msg : "?");
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

/*
 * Prepare sql and bind its parameters from types, one character a
 * parameter, in order: 't' text (const char *; NULL binds NULL), 'i' an
 * int64_t (cast an int: these are varargs), 'b' a blob (const void *,
 * size_t). The caller holds db_lock and keeps the arguments alive until it
 * finalizes the statement. NULL on error, logged with the SQL.
 */
static sqlite3_stmt *
vprepare(const char *sql, const char *types, va_list ap)
{
	sqlite3_stmt	*st;
	const void	*p;
	int		 i, r = SQLITE_OK;

	if (sqlite3_prepare_v2(db.h, sql, -1, &st, NULL) != SQLITE_OK) {
		log_warnx("sqlite: %s: %s", sqlite3_errmsg(db.h), sql);
		return NULL;
	}
	for (i = 0; types[i] != '\0' && r == SQLITE_OK; i++) {
		switch (types[i]) {
		case 't':
			r = sqlite3_bind_text(st, i + 1, va_arg(ap,
			    const char *), -1, SQLITE_STATIC);
			break;
		case 'i':
			r = sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t));
			break;
		case 'b':
			p = va_arg(ap, const void *);
			r = sqlite3_bind_blob64(st, i + 1, p, va_arg(ap, size_t),
			    SQLITE_STATIC);
			break;
		default:
			fatalx("sqlite: parameter type '%c': %s", types[i], sql);
		}
	}
	if (r != SQLITE_OK || i != sqlite3_bind_parameter_count(st)) {
		log_warnx("sqlite: cannot bind %d parameters: %s: %s", i,
		    r != SQLITE_OK ? sqlite3_errmsg(db.h) : "wrong count", sql);
		sqlite3_finalize(st);
		return NULL;
	}
	return st;
}

sqlite3_stmt *
db_prepare(const char *sql, const char *types, ...)
{
	sqlite3_stmt	*st;
	va_list		 ap;

	va_start(ap, types);
	st = vprepare(sql, types, ap);
	va_end(ap);
	return st;
}

/* A column's text, "" for NULL; valid until the next step or finalize. */
const char *
db_col(sqlite3_stmt *st, int i)
{
	const unsigned char	*t = sqlite3_column_text(st, i);

	return t != NULL ? (const char *)t : "";
}

/* A text column into dst, cut to dstsz ("" for NULL). */
void
db_copy(sqlite3_stmt *st, int i, char *dst, size_t dstsz)
{
	snprintf(dst, dstsz, "%s", db_col(st, i));
}

/* A row function: column 0 into the int64_t at p. */
void
db_int64(sqlite3_stmt *st, void *p)
{
	*(int64_t *)p = sqlite3_column_int64(st, 0);
}

/* Step st once: the step's result, an error logged with the SQL. */
static int
step(sqlite3_stmt *st)
{
	int	r = sqlite3_step(st);

	if (r != SQLITE_ROW && r != SQLITE_DONE)
		log_warnx("sqlite: %s: %s", sqlite3_errmsg(db.h),
		    sqlite3_sql(st));
	return r;
}

static int
vrun(const char *sql, const char *types, va_list ap)
{
	sqlite3_stmt	*st;
	int		 r;

	if ((st = vprepare(sql, types, ap)) == NULL)
		return -1;
	r = step(st);
	sqlite3_finalize(st);
	return r == SQLITE_DONE ? sqlite3_changes(db.h) : -1;
}

/* Run a statement for its effect: the rows it changed, or -1. */
int
db_run(const char *sql, const char *types, ...)
{
	va_list	ap;
	int	r;

	va_start(ap, types);
	db_lock();
	r = vrun(sql, types, ap);
	db_unlock();
	va_end(ap);
	return r;
}

/* db_run for a caller that holds db_lock. */
int
db_run_locked(const char *sql, const char *types, ...)
{
	va_list	ap;
	int	r;

	va_start(ap, types);
	r = vrun(sql, types, ap);
	va_end(ap);
	return r;
}

static int
vrow(const char *sql, void (*fn)(sqlite3_stmt *, void *), void *elem,
    const char *types, va_list ap)
{
	sqlite3_stmt	*st;
	int		 r;

	if ((st = vprepare(sql, types, ap)) == NULL)
		return -1;
	if ((r = step(st)) == SQLITE_ROW && fn != NULL)
		fn(st, elem);
	sqlite3_finalize(st);
	return r == SQLITE_ROW ? 1 : r == SQLITE_DONE ? 0 : -1;
}

/* The first row into elem by fn (NULL: none): 1 found, 0 none, -1 error. */
int
db_row(const char *sql, void (*fn)(sqlite3_stmt *, void *), void *elem,
    const char *types, ...)
{
	va_list	ap;
	int	r;

	va_start(ap, types);
	db_lock();
	r = vrow(sql, fn, elem, types, ap);
	db_unlock();
	va_end(ap);
	return r;
}

/* db_row for a caller that holds db_lock. */
int
db_row_locked(const char *sql, void (*fn)(sqlite3_stmt *, void *),
    void *elem, const char *types, ...)
{
	va_list	ap;
	int	r;

	va_start(ap, types);
	r = vrow(sql, fn, elem, types, ap);
	va_end(ap);
	return r;
}

/*
 * Every row, each filled by fn into a new element of elemsz bytes of an
 * array that *out (a T **) is set to and the caller frees; *n its length.
 * On error the elements are released by release (NULL: they own nothing),
 * the array freed, *out NULL, *n 0, and -1 returned.
 */
int
db_rows(const char *sql, size_t elemsz, void (*fn)(sqlite3_stmt *, void *),
    void (*release)(void *), void *out, size_t *n, const char *types, ...)
{
	sqlite3_stmt	*st;
	va_list		 ap;
	char		*v = NULL;
	size_t		 cnt = 0;
	int		 r = SQLITE_ERROR;

	va_start(ap, types);
	db_lock();
	if ((st = vprepare(sql, types, ap)) != NULL) {
		while ((r = step(st)) == SQLITE_ROW) {
			v = xrealloc(v, (cnt + 1) * elemsz);
			fn(st, v + cnt * elemsz);
			cnt++;
		}
		sqlite3_finalize(st);
	}
	db_unlock();
	va_end(ap);
	if (r != SQLITE_DONE) {
		while (release != NULL && cnt > 0)
			release(v + --cnt * elemsz);
		free(v);
		v = NULL;
		cnt = 0;
	}
	memcpy(out, &v, sizeof v);
	*n = cnt;
	return r == SQLITE_DONE ? 0 : -1;
}

int
db_schema_version(void)
{
	int64_t	v;

	return db_row("PRAGMA user_version", db_int64, &v, "") == 1 ?
	    (int)v : -1;
}

int
db_open(const char *path, char *err, size_t errsz)
{
	if (sqlite3_open_v2(path, &db.h, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL) != SQLITE_OK) {
		snprintf(err, errsz, "cannot open '%s': %s", path,
		    db.h != NULL ? sqlite3_errmsg(db.h) : "out of memory");
		return -1;
	}
	sqlite3_busy_timeout(db.h, 5000);
	if (db_exec("PRAGMA journal_mode = WAL") == -1 ||
	    db_exec("PRAGMA foreign_keys = ON") == -1 ||
	    db_exec("PRAGMA synchronous = NORMAL") == -1) {
		snprintf(err, errsz, "cannot set up '%s': %s", path,
		    sqlite3_errmsg(db.h));
		return -1;
	}
	return 0;
}

void
db_close(void)
{
	if (db.h != NULL)
		sqlite3_close(db.h);
	db.h = NULL;
}

/*
 * Delete the row sql names (one "t" parameter: name) and, if there was
 * one, the grants on kind:name with it, in one transaction: a new site or
 * host of that name starts with no grants. Rows deleted, or -1.
 */
int
db_delete_scoped(const char *sql, const char *kind, const char *name)
{
	char	scope[128];
	int	r;

	snprintf(scope, sizeof scope, "%s:%s", kind, name);
	db_lock();
	if (db_exec("BEGIN IMMEDIATE") == -1) {
		db_unlock();
		return -1;
	}
	if ((r = db_run_locked(sql, "t", name)) == -1 || (r > 0 &&
	    db_run_locked("DELETE FROM grants WHERE scope = ?", "t",
	    scope) == -1)) {
		db_exec("ROLLBACK");
		db_unlock();
		return -1;
	}
	if (db_exec("COMMIT") == -1)
		r = -1;
	db_unlock();
	return r;
}
