/*
 * registry.c: registry logins held by tugd. `tug registry login` stores a
 * server's username and password (the password sealed like a secret, never
 * printed, never audited); a deploy of an image whose reference names that
 * server sends them to the agents inside the site.apply job only, and the
 * agent hands them to Docker's pull. Nothing is kept on the hosts. The
 * ops (login, logout, list) are in cmd-registry.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/validate.h"
#include "common/xmalloc.h"
#include "controller/request.h"
#include "controller/tug.h"


/* Sealed with the server as associated data: a row moved is unreadable. */
void
registry_ad(char *ad, size_t n, const char *server)
{
	snprintf(ad, n, "registry:%s", server);
}

/* host[:port], the host per RFC 1123 (or localhost), the port 1..65535. */
const char *
check_registry_server(const char *s)
{
	char		 host[REGISTRY_SERVER_MAX + 1], *colon, *end;
	unsigned long	 port;

	if (strlen(s) > REGISTRY_SERVER_MAX)
		return "longer than 259 characters (253 of host, a port)";
	snprintf(host, sizeof host, "%s", s);
	if ((colon = strchr(host, ':')) != NULL) {
		*colon = '\0';
		port = strtoul(colon + 1, &end, 10);
		if (colon[1] < '0' || colon[1] > '9' || *end != '\0' ||
		    port == 0 || port > 65535)
			return "the port is not a number from 1 to 65535";
	}
	if (host[0] == '*')
		return "a registry cannot be a wildcard";
	return check_domain(host);
}

/*
 * The registry an image reference names, or 0 when it names none (a
 * Docker Hub short name such as "nginx:1" or "org/app"): its first path
 * component, when that has a '.' or a ':' or is "localhost".
 */
int
registry_of(const char *ref, char *server, size_t n)
{
	const char	*slash = strchr(ref, '/');
	size_t		 len;

	if (slash == NULL || strncmp(ref, "sha256:", 7) == 0)
		return 0;
	len = (size_t)(slash - ref);
	if (memchr(ref, '.', len) == NULL && memchr(ref, ':', len) == NULL &&
	    !(len == 9 && memcmp(ref, "localhost", 9) == 0))
		return 0;
	if (len >= n)
		return 0;
	memcpy(server, ref, len);
	server[len] = '\0';
	return 1;
}

/* A login row: the username into user (usersz bytes), the sealed password. */
struct login {
	char		*user;
	size_t		 usersz;
	struct buf	 sealed;
	char		 scope[SCOPE_MAX + 1];
};

static void
row_to_login(sqlite3_stmt *st, void *p)
{
	struct login	*l = p;

	snprintf(l->user, l->usersz, "%s", db_col(st, 0));
	buf_add(&l->sealed, sqlite3_column_blob(st, 1),
	    (size_t)sqlite3_column_bytes(st, 1));
	db_copy(st, 2, l->scope, sizeof l->scope);
}

/*
 * The login for server, as a deploy of site (whose spec targets group)
 * may use it: 1 found (password filled, wipe it), 0 none, 2 one that is
 * for other sites (its scope in scope), -1.
 */
int
registry_auth(const char *server, const char *site, const char *group,
    char *user, size_t usersz, struct buf *password, char *scope,
    size_t scopesz)
{
	struct login	 l = { user, usersz, BUF_INIT, "" };
	char		 ad[REGISTRY_SERVER_MAX + 16], want[SITE_NAME_MAX + 8];
	int		 r;

	r = db_row("SELECT username, password, scope FROM registries WHERE "
	    "server = ?", row_to_login, &l, "t", server);
	snprintf(scope, scopesz, "%s", l.scope);
	snprintf(want, sizeof want, "site:%s", site);
	if (r == 1 && !scope_covers(l.scope, want, group))
		r = 2;
	if (r == 1) {
		registry_ad(ad, sizeof ad, server);
		if (secret_open(ad, l.sealed.ptr, l.sealed.len, password) == -1)
			r = -1;
	}
	buf_release(&l.sealed);
	return r;
}

/* The audit log keeps the server, never the password. */
void
registry_audit_args(struct mv *args, struct buf *out)
{
	char	server[REGISTRY_SERVER_MAX + 1] = "", scope[SCOPE_MAX + 1] = "";

	mv_str(args, "server", server, sizeof server, 0);
	mv_str(args, "for", scope, sizeof scope, 0);
	buf_addf(out, "{\"server\":\"%s\",\"for\":\"%s\",\"password\":"
	    "\"(not recorded)\"}", check_registry_server(server) == NULL ?
	    server : "?", scope[0] == '\0' ? "global" :
	    check_scope(scope) == NULL ? scope : "?");
}
