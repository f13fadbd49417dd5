/*
 * validate.c: hand-written checkers for names, domains, env keys, image
 * references, paths and volume specs. No regex engine: each grammar is small
 * enough to walk byte by byte, and every byte outside it is refused.
 */
#include <string.h>

#include "common/validate.h"

static int
is_lower(int c)
{
	return c >= 'a' && c <= 'z';
}

static int
is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int
is_alnum_lower(int c)
{
	return is_lower(c) || is_digit(c);
}

static int
is_alpha(int c)
{
	return is_lower(c) || (c >= 'A' && c <= 'Z');
}

const char *
check_site_name(const char *s)
{
	size_t	i, n = strlen(s);

	if (n == 0)
		return "empty";
	if (n > SITE_NAME_MAX)
		return "longer than 40 characters";
	if (!is_lower((unsigned char)s[0]))
		return "must start with a lowercase letter";
	for (i = 1; i < n; i++) {
		if (!is_alnum_lower((unsigned char)s[i]) && s[i] != '-')
			return "only lowercase letters, digits and '-' allowed";
	}
	return NULL;
}

const char *
check_domain(const char *s)
{
	size_t		 n = strlen(s), lab = 0, i;
	const char	*p = s;

	if (n == 0)
		return "empty";
	if (n > DOMAIN_MAX)
		return "longer than 253 characters";
	if (strncmp(p, "*.", 2) == 0)
		p += 2;
	if (*p == '\0')
		return "wildcard without a domain";
	for (i = 0; p[i] != '\0'; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '.') {
			if (lab == 0)
				return "empty label";
			if (p[i - 1] == '-')
				return "label ends with '-'";
			lab = 0;
			continue;
		}
		if (!is_alnum_lower(c) && c != '-')
			return "only lowercase letters, digits, '-' and '.' allowed";
		if (c == '-' && lab == 0)
			return "label starts with '-'";
		if (++lab > 63)
			return "label longer than 63 characters";
	}
	if (lab == 0)
		return "empty label";
	if (p[i - 1] == '-')
		return "label ends with '-'";
	return NULL;
}

const char *
check_env_key(const char *s)
{
	size_t	i, n = strlen(s);

	if (n == 0)
		return "empty";
	if (n > ENV_KEY_MAX)
		return "longer than 255 characters";
	if (!is_alpha((unsigned char)s[0]) && s[0] != '_')
		return "must start with a letter or '_'";
	for (i = 1; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!is_alpha(c) && !is_digit(c) && c != '_')
			return "only letters, digits and '_' allowed";
	}
	return NULL;
}

static int
is_hex_lower(int c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f');
}

/* algorithm ":" hex{32,}: sha256:..., sha512:... */
static const char *
check_digest(const char *s, size_t n)
{
	const char	*colon = memchr(s, ':', n);
	size_t		 i, alg, hex;

	if (colon == NULL)
		return "digest without algorithm";
	alg = (size_t)(colon - s);
	hex = n - alg - 1;
	if (alg == 0)
		return "digest without algorithm";
	for (i = 0; i < alg; i++)
		if (!is_alnum_lower((unsigned char)s[i]))
			return "bad digest algorithm";
	if (hex < 32)
		return "digest too short";
	for (i = alg + 1; i < n; i++)
		if (!is_hex_lower((unsigned char)s[i]))
			return "digest is not lowercase hex";
	return NULL;
}

/* One path component: [a-z0-9]+ joined by '.', '_', '__' or runs of '-'. */
static const char *
check_component(const char *s, size_t n)
{
	size_t	i;

	if (n == 0)
		return "empty path component";
	if (!is_alnum_lower((unsigned char)s[0]) ||
	    !is_alnum_lower((unsigned char)s[n - 1]))
		return "path component must start and end with a letter or digit";
	for (i = 1; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (is_alnum_lower(c))
			continue;
		if (c == '.' || c == '_') {
			if (c == '_' && s[i + 1] == '_' && i + 1 < n - 1 &&
			    is_alnum_lower((unsigned char)s[i + 2])) {
				i++;
				continue;
			}
			if (!is_alnum_lower((unsigned char)s[i + 1]))
				return "bad separator in path component";
			continue;
		}
		if (c == '-') {
			if (!is_alnum_lower((unsigned char)s[i + 1]) &&
			    s[i + 1] != '-')
				return "bad separator in path component";
			continue;
		}
		return "only lowercase letters, digits and . _ - allowed in a path";
	}
	return NULL;
}

/* host[:port]: DNS labels (any case) joined by '.', or "localhost". */
static const char *
check_registry(const char *s, size_t n)
{
	size_t	i, lab = 0;
	const char *colon = memchr(s, ':', n);
	size_t	hn = colon != NULL ? (size_t)(colon - s) : n;

	if (hn == 0)
		return "empty registry host";
	for (i = 0; i < hn; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '.') {
			if (lab == 0)
				return "empty label in registry host";
			lab = 0;
		} else if (is_alpha(c) || is_digit(c) || c == '-')
			lab++;
		else
			return "bad character in registry host";
	}
	if (lab == 0)
		return "empty label in registry host";
	if (colon != NULL) {
		size_t plen = n - hn - 1;

		if (plen == 0 || plen > 5)
			return "bad registry port";
		for (i = hn + 1; i < n; i++)
			if (!is_digit((unsigned char)s[i]))
				return "bad registry port";
	}
	return NULL;
}

const char *
check_image_ref(const char *s)
{
	size_t		 n = strlen(s), i, start, namelen;
	const char	*at, *slash, *why, *lastslash, *tag;

	if (n == 0)
		return "empty";
	if (n > IMAGE_REF_MAX)
		return "longer than 255 characters";
	if (strncmp(s, "sha256:", 7) == 0)
		return check_digest(s, n);
	at = strchr(s, '@');
	if (at != NULL && (why = check_digest(at + 1, n - (size_t)(at - s) - 1)))
		return why;
	namelen = at != NULL ? (size_t)(at - s) : n;
	if (namelen == 0)
		return "empty name";

	/* A tag is a ':' after the last '/'. */
	lastslash = NULL;
	for (i = 0; i < namelen; i++)
		if (s[i] == '/')
			lastslash = s + i;
	tag = memchr(lastslash != NULL ? lastslash : s, ':',
	    namelen - (size_t)((lastslash != NULL ? lastslash : s) - s));
	if (tag != NULL) {
		size_t tl = namelen - (size_t)(tag - s) - 1;

		if (tl == 0 || tl > 128)
			return "tag must be 1 to 128 characters";
		for (i = 1; i <= tl; i++) {
			unsigned char c = (unsigned char)tag[i];

			if (!is_alpha(c) && !is_digit(c) && c != '_' &&
			    (i == 1 || (c != '.' && c != '-')))
				return "bad character in tag";
		}
		namelen = (size_t)(tag - s);
	}

	/* The first component is a registry if it has '.', ':' or is localhost. */
	start = 0;
	slash = memchr(s, '/', namelen);
	if (slash != NULL) {
		size_t fl = (size_t)(slash - s);

		if (memchr(s, '.', fl) != NULL || memchr(s, ':', fl) != NULL ||
		    (fl == 9 && strncmp(s, "localhost", 9) == 0)) {
			if ((why = check_registry(s, fl)) != NULL)
				return why;
			start = fl + 1;
		}
	}
	if (start >= namelen)
		return "empty repository";
	while (start < namelen) {
		const char *end = memchr(s + start, '/', namelen - start);
		size_t cl = end != NULL ? (size_t)(end - (s + start)) :
		    namelen - start;

		if ((why = check_component(s + start, cl)) != NULL)
			return why;
		start += cl + 1;
		if (end != NULL && start >= namelen)
			return "empty path component";
	}
	return NULL;
}

const char *
check_abs_path(const char *s)
{
	size_t	i, n = strlen(s), comp = 0;

	if (n == 0)
		return "empty";
	if (n >= PATH_MAX_TUG)
		return "too long";
	if (s[0] != '/')
		return "must be absolute";
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '/') {
			if (i > 0 && comp == 0)
				return "empty path component";
			if (comp == 1 && s[i - 1] == '.')
				return "'.' component not allowed";
			if (comp == 2 && s[i - 1] == '.' && s[i - 2] == '.')
				return "'..' component not allowed";
			comp = 0;
			continue;
		}
		if (!is_alpha(c) && !is_digit(c) && c != '.' && c != '_' &&
		    c != '-' && c != '@' && c != '+')
			return "only letters, digits and . _ - @ + allowed";
		comp++;
	}
	if (n > 1 && comp == 0)
		return "trailing '/'";
	if (comp == 1 && s[n - 1] == '.')
		return "'.' component not allowed";
	if (comp == 2 && s[n - 1] == '.' && s[n - 2] == '.')
		return "'..' component not allowed";
	return NULL;
}

/* A file name such as index.html: no '/', no dot first, nothing odd. */
const char *
check_file_name(const char *s)
{
	size_t	i, n = strlen(s);

	if (n == 0)
		return "empty";
	if (n > 255)
		return "longer than 255 bytes";
	if (s[0] == '.')
		return "must not start with '.'";
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!is_alpha(c) && !is_digit(c) && c != '.' && c != '_' &&
		    c != '-')
			return "only letters, digits and . _ - allowed";
	}
	return NULL;
}

const char *
check_volume_name(const char *s)
{
	size_t	i, n = strlen(s);

	if (n < 2)
		return "must be at least 2 characters";
	if (n > VOLUME_NAME_MAX)
		return "longer than 64 characters";
	if (!is_alpha((unsigned char)s[0]) && !is_digit((unsigned char)s[0]))
		return "must start with a letter or digit";
	for (i = 1; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!is_alpha(c) && !is_digit(c) && c != '_' && c != '.' &&
		    c != '-')
			return "only letters, digits and _ . - allowed";
	}
	return NULL;
}

static const char *
check_user_part(const char *s, size_t n)
{
	size_t	i;

	if (n == 0 || n > 32)
		return "user and group must be 1 to 32 characters";
	if (!is_lower((unsigned char)s[0]) && s[0] != '_' &&
	    !is_digit((unsigned char)s[0]))
		return "user must start with a lowercase letter, '_' or digit";
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!is_alnum_lower(c) && c != '_' && c != '-')
			return "only lowercase letters, digits, '_' and '-' allowed";
	}
	return NULL;
}

const char *
check_user_spec(const char *s)
{
	const char	*colon = strchr(s, ':');
	const char	*why;

	if (colon == NULL)
		return check_user_part(s, strlen(s));
	if ((why = check_user_part(s, (size_t)(colon - s))) != NULL)
		return why;
	return check_user_part(colon + 1, strlen(colon + 1));
}

const char *
check_capability(const char *s)
{
	size_t	i, n = strlen(s);

	if (n == 0 || n > 32)
		return "must be 1 to 32 characters";
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || s[i] == '_'))
			return "only uppercase letters and '_' allowed";
	return NULL;
}

int
path_is_under(const char *path, const char *root)
{
	size_t	rl = strlen(root);

	while (rl > 1 && root[rl - 1] == '/')
		rl--;
	if (strncmp(path, root, rl) != 0)
		return 0;
	return path[rl] == '\0' || path[rl] == '/' || (rl == 1 && root[0] == '/');
}

const char *
parse_volume_spec(const char *s, struct volume_spec *v)
{
	const char	*c1, *c2, *why;
	size_t		 sl, tl;

	memset(v, 0, sizeof *v);
	if ((c1 = strchr(s, ':')) == NULL)
		return "expected SOURCE:/container/path[:ro]";
	c2 = strchr(c1 + 1, ':');
	sl = (size_t)(c1 - s);
	tl = c2 != NULL ? (size_t)(c2 - c1 - 1) : strlen(c1 + 1);
	if (sl == 0 || sl >= sizeof v->source || tl >= sizeof v->target)
		return "source or target empty or too long";
	memcpy(v->source, s, sl);
	memcpy(v->target, c1 + 1, tl);
	if (c2 != NULL) {
		if (strcmp(c2 + 1, "ro") == 0)
			v->readonly = 1;
		else if (strcmp(c2 + 1, "rw") != 0)
			return "mode must be 'ro' or 'rw'";
	}
	v->bind = v->source[0] == '/';
	if (v->bind) {
		if ((why = check_abs_path(v->source)) != NULL)
			return why;
	} else if ((why = check_volume_name(v->source)) != NULL)
		return why;
	if ((why = check_abs_path(v->target)) != NULL)
		return why;
	if (strcmp(v->target, "/") == 0)
		return "cannot mount over '/'";
	return NULL;
}

const char *
check_email(const char *s)
{
	const char	*at = strchr(s, '@');
	size_t		 i;

	if (strlen(s) > 254)
		return "longer than 254 characters";
	if (at == NULL || at == s || strchr(at + 1, '@') != NULL)
		return "an address local@domain";
	for (i = 0; s + i < at; i++)
		if (!is_alpha((unsigned char)s[i]) &&
		    !is_digit((unsigned char)s[i]) && strchr("._%+-", s[i]) ==
		    NULL)
			return "letters, digits and . _ % + - before the @";
	return check_domain(at + 1) != NULL ? "not a domain after the @" :
	    NULL;
}

const char *
check_url(const char *s)
{
	size_t	i;

	if (strncmp(s, "https://", 8) != 0 && strncmp(s, "http://", 7) != 0)
		return "must start with https:// or http://";
	if (strlen(s) >= 512)
		return "longer than 511 characters";
	for (i = 0; s[i] != '\0'; i++)
		if (!is_alpha((unsigned char)s[i]) &&
		    !is_digit((unsigned char)s[i]) &&
		    strchr(":/._-~%?=&+", s[i]) == NULL)
			return "letters, digits and :/._-~%?=&+ only";
	return NULL;
}

/*
 * Edit distance of a and b, both short words (a swap of two letters is one
 * edit), for "did you mean"; words of 32 bytes or more count as 9.
 */
int
word_distance(const char *a, const char *b)
{
	int	d[32][32];
	size_t	i, j, la = strlen(a), lb = strlen(b);

	if (la >= 32 || lb >= 32)
		return 9;
	for (i = 0; i <= la; i++)
		d[i][0] = (int)i;
	for (j = 0; j <= lb; j++)
		d[0][j] = (int)j;
	for (i = 1; i <= la; i++)
		for (j = 1; j <= lb; j++) {
			int	best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);

			if (d[i - 1][j] + 1 < best)
				best = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < best)
				best = d[i][j - 1] + 1;
			/* A swap of two letters is one mistake. */
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
			    a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < best)
				best = d[i - 2][j - 2] + 1;
			d[i][j] = best;
		}
	return d[la][lb];
}
