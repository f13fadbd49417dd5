/*
 * paths.c: where the controller lives on disk, and the grammars of the names
 * it stores for hosts. One state directory holds the database, tugd's SSH
 * key and its log; the socket sits in it unless this is the system service
 * (the service account 'tug', or root, without TUG_HOME): state in
 * /var/lib/tug, socket /run/tug/tugd.sock. A member of group tug whose
 * CLI names no socket talks to the system one when it is there.
 */
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "controller/tug.h"

struct paths		 paths;

static int
set(char *dst, size_t dstsz, const char *a, const char *b)
{
	return snprintf(dst, dstsz, "%s%s", a, b) >= (int)dstsz ? -1 : 0;
}

int
paths_init(struct paths *p, const char *home, const char *sock)
{
	const char	*env_home = getenv("TUG_HOME");
	const char	*env_sock = getenv("TUG_SOCKET");
	const char	*h;
	struct passwd	*pw;
	int		 system = 0, client, home_given;

	client = p->client;
	memset(p, 0, sizeof *p);
	p->client = client;
	if (home == NULL)
		home = env_home != NULL && *env_home != '\0' ? env_home : NULL;
	home_given = home != NULL;
	if (home != NULL) {
		if (set(p->home, sizeof p->home, home, "") == -1)
			return -1;
	} else if (getuid() == 0 || ((pw = getpwuid(getuid())) != NULL &&
	    strcmp(pw->pw_name, TUG_ACCOUNT) == 0)) {
		system = 1;
		set(p->home, sizeof p->home, TUG_SYSTEM_HOME, "");
	} else {
		if ((h = getenv("HOME")) == NULL || *h != '/') {
			if ((pw = getpwuid(getuid())) == NULL)
				return -1;
			h = pw->pw_dir;
		}
		if (set(p->home, sizeof p->home, h, "/.local/state/tug") == -1)
			return -1;
	}
	if (sock == NULL)
		sock = env_sock != NULL && *env_sock != '\0' ? env_sock : NULL;
	if (sock != NULL) {
		if (set(p->sock, sizeof p->sock, sock, "") == -1)
			return -1;
	} else if (system || (!home_given && p->client &&
	    access(TUG_SYSTEM_SOCK, F_OK) == 0)) {
		set(p->sock, sizeof p->sock, TUG_SYSTEM_SOCK, "");
		p->system = 1;
	} else if (set(p->sock, sizeof p->sock, p->home, "/tugd.sock") == -1)
		return -1;
	if (set(p->db, sizeof p->db, p->home, "/tug.db") == -1 ||
	    set(p->key, sizeof p->key, p->home, "/id_ed25519") == -1 ||
	    set(p->log, sizeof p->log, p->home, "/tugd.log") == -1)
		return -1;
	/* sun_path holds 108 bytes. */
	if (strlen(p->sock) >= 104)
		return -1;
	return 0;
}

/* Host names: an RFC 1123 label, like a site name but with digits first. */
const char *
check_host_name(const char *s)
{
	size_t	i, n = strlen(s);

	if (n == 0)
		return "empty";
	if (n > HOST_NAME_MAX_TUG)
		return "longer than 63 characters";
	if (s[0] == '-' || s[n - 1] == '-')
		return "must not start or end with '-'";
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return "only lowercase letters, digits and '-' allowed";
	return NULL;
}

const char *
check_group_name(const char *s)
{
	if (strlen(s) > GROUP_NAME_MAX)
		return "longer than 40 characters";
	return check_site_name(s);
}

const char *
check_ssh_user(const char *s)
{
	size_t	i, n = strlen(s);

	if (n == 0 || n > SSH_USER_MAX)
		return "must be 1 to 32 characters";
	if (!((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
		return "must start with a lowercase letter or '_'";
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
		    s[i] == '-' || s[i] == '.'))
			return "only lowercase letters, digits, '_', '-', '.'";
	return NULL;
}

/* An address: a DNS name (check_domain) or a dotted IPv4 address. */
const char *
check_address(const char *s)
{
	unsigned	a, b, c, d;
	char		tail;

	if (sscanf(s, "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) == 4) {
		if (a > 255 || b > 255 || c > 255 || d > 255)
			return "bad IPv4 address";
		return strspn(s, "0123456789.") == strlen(s) ? NULL :
		    "bad IPv4 address";
	}
	if (s[0] == '*')
		return "wildcards are not addresses";
	return check_domain(s);
}
