/*
 * authkeys.c: remote users' SSH keys. A public key file is checked
 * strictly (one key of a known type, its base64 body naming that type, a
 * plain comment) and fingerprinted as ssh-keygen -l does. The service
 * account's authorized_keys gets one forced-command line per stored key,
 * inside a marked block that tugd rewrites whole; other lines stay.
 */
#include <errno.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "common/fs.h"
#include "common/log.h"
#include "controller/tug.h"

#define AUTHKEYS_MAX	(1u << 20)
#define BLOCK_BEGIN	"# tug: begin of the keys tugd manages"
#define BLOCK_END	"# tug: end of the keys tugd manages"

/* One rewrite at a time: the temporary file's name is per process. */
static pthread_mutex_t	 sync_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const key_types[] = {
	"ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256",
	"ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
	"sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com",
	NULL
};

static int
b64_value(int ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+')
		return 62;
	if (ch == '/')
		return 63;
	return -1;
}

/* Strict base64: groups of four, '=' only as the last one or two. */
static int
b64_decode(const char *s, size_t n, unsigned char *out, size_t outsz,
    size_t *outlen)
{
	size_t		i, k, o = 0, pad;
	int		v[4];

	if (n == 0 || n % 4 != 0)
		return -1;
	for (i = 0; i < n; i += 4) {
		pad = 0;
		for (k = 0; k < 4; k++) {
			if (s[i + k] == '=' && i + 4 == n && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			if (pad > 0 || (v[k] = b64_value(s[i + k])) == -1)
				return -1;
		}
		if (o + 3 - pad > outsz)
			return -1;
		out[o++] = (unsigned char)(v[0] << 2 | v[1] >> 4);
		if (pad < 2)
			out[o++] = (unsigned char)((v[1] & 15) << 4 | v[2] >> 2);
		if (pad < 1)
			out[o++] = (unsigned char)((v[2] & 3) << 6 | v[3]);
	}
	*outlen = o;
	return 0;
}

/* "SHA256:" and the unpadded base64 of the blob's sha256, as ssh-keygen. */
static void
fingerprint(const unsigned char *blob, size_t n, char *out, size_t outsz)
{
	unsigned char	md[EVP_MAX_MD_SIZE], b64[64];
	unsigned int	mdlen = 0;
	int		len;

	EVP_Digest(blob, n, md, &mdlen, EVP_sha256(), NULL);
	len = EVP_EncodeBlock(b64, md, (int)mdlen);
	while (len > 0 && b64[len - 1] == '=')
		b64[--len] = '\0';
	snprintf(out, outsz, "SHA256:%s", b64);
}

static int
fail(char *err, size_t errsz, const char *fmt, const char *arg)
{
	char	esc[80];

	snprintf(err, errsz, fmt, arg == NULL ? "" : log_escape(esc,
	    sizeof esc, arg, strlen(arg)));
	return -1;
}

/* The key blob must start with its own type as an SSH string. */
static int
check_blob(const struct ssh_pubkey *k, const unsigned char *blob, size_t n,
    char *err, size_t errsz)
{
	size_t	tl = strlen(k->type), l;

	if (n < 4)
		return fail(err, errsz, "the key body is too short", NULL);
	l = (size_t)blob[0] << 24 | (size_t)blob[1] << 16 |
	    (size_t)blob[2] << 8 | blob[3];
	if (l != tl || n < 4 + tl || memcmp(blob + 4, k->type, tl) != 0)
		return fail(err, errsz, "the key body is not a '%s' key",
		    k->type);
	/* ed25519: string type, string key of 32 bytes, nothing else. */
	if (strcmp(k->type, "ssh-ed25519") == 0 && n != 4 + tl + 4 + 32)
		return fail(err, errsz, "the key body is not a valid "
		    "ssh-ed25519 key", NULL);
	return 0;
}

static int
check_comment(const char *s, char *err, size_t errsz)
{
	size_t	i, n = strlen(s);

	if (n > KEY_COMMENT_MAX)
		return fail(err, errsz, "the key comment is longer than 200 "
		    "characters", NULL);
	for (i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7e || s[i] == '"' || s[i] == '\'' ||
		    s[i] == '\\' || s[i] == '`')
			return fail(err, errsz, "the key comment '%s' holds a "
			    "control character, a quote or a backslash", s);
	return 0;
}

/*
 * Parse one OpenSSH public key line ("TYPE BASE64 [COMMENT]", one line,
 * no options): 0, or -1 with the reason in err.
 */
int
pubkey_parse(const char *text, size_t len, struct ssh_pubkey *k, char *err,
    size_t errsz)
{
	unsigned char		 blob[KEY_BODY_MAX];
	char			 line[KEY_BODY_MAX + KEY_COMMENT_MAX + 128];
	char			*p, *type, *body, *comment;
	size_t			 n, i, bloblen;
	int			 known = 0;

	memset(k, 0, sizeof *k);
	if (memchr(text, '\0', len) != NULL)
		return fail(err, errsz, "not a public key file (NUL bytes)",
		    NULL);
	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
		len--;
	if (len == 0)
		return fail(err, errsz, "the public key file is empty", NULL);
	if (len >= 10 && memcmp(text, "-----BEGIN", 10) == 0)
		return fail(err, errsz, "this is a private key: give the "
		    "public one (the .pub file)", NULL);
	if (memchr(text, '\n', len) != NULL)
		return fail(err, errsz, "give one key: the file holds more "
		    "than one line", NULL);
	if (len >= sizeof line)
		return fail(err, errsz, "the key is too long", NULL);
	memcpy(line, text, len);
	line[len] = '\0';

	p = line;
	type = p;
	p += strcspn(p, " \t");
	if (*p == '\0')
		return fail(err, errsz, "expected 'TYPE BASE64 [COMMENT]'",
		    NULL);
	*p++ = '\0';
	for (i = 0; key_types[i] != NULL; i++)
		known |= strcmp(type, key_types[i]) == 0;
	if (!known)
		return fail(err, errsz, strpbrk(type, "=,\"") != NULL ?
		    "key options are not accepted ('%s'): tug writes its own" :
		    "unknown key type '%s' (ssh-ed25519, ssh-rsa, ecdsa-sha2-*, "
		    "sk-*)", type);
	snprintf(k->type, sizeof k->type, "%s", type);
	p += strspn(p, " \t");
	body = p;
	p += strcspn(p, " \t");
	n = (size_t)(p - body);
	if (*p != '\0')
		*p++ = '\0';
	p += strspn(p, " \t");
	comment = p;
	for (i = strlen(comment); i > 0 && (comment[i - 1] == ' ' ||
	    comment[i - 1] == '\t'); i--)
		comment[i - 1] = '\0';
	if (n == 0 || n > KEY_BODY_MAX)
		return fail(err, errsz, "the key body is missing or too long",
		    NULL);
	if (b64_decode(body, n, blob, sizeof blob, &bloblen) == -1)
		return fail(err, errsz, "the key body is not base64", NULL);
	if (check_blob(k, blob, bloblen, err, errsz) == -1 ||
	    check_comment(comment, err, errsz) == -1)
		return -1;
	snprintf(k->body, sizeof k->body, "%s", body);
	snprintf(k->comment, sizeof k->comment, "%s", comment);
	fingerprint(blob, bloblen, k->fingerprint, sizeof k->fingerprint);
	return 0;
}

/* The authorized_keys tugd keeps: $TUG_AUTHORIZED_KEYS, else its own. */
int
authkeys_path(char *dst, size_t dstsz)
{
	const char	*env = getenv("TUG_AUTHORIZED_KEYS");
	struct passwd	 pw, *res = NULL;
	char		 pwbuf[4096];

	if (env != NULL && *env != '\0')
		return snprintf(dst, dstsz, "%s", env) >= (int)dstsz ? -1 : 0;
	if (getpwuid_r(getuid(), &pw, pwbuf, sizeof pwbuf, &res) != 0 ||
	    res == NULL || pw.pw_dir[0] != '/')
		return -1;
	return snprintf(dst, dstsz, "%s/.ssh/authorized_keys", pw.pw_dir) >=
	    (int)dstsz ? -1 : 0;
}

/* Paths that go into a forced command: sshd hands it to a shell. */
static int
shell_safe(const char *s)
{
	return s[0] == '/' && strspn(s, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._+-") == strlen(s);
}

/* The tug binary a forced command runs: $TUG_CLI, else next to tugd. */
static int
tug_cli(char *dst, size_t dstsz, char *err, size_t errsz)
{
	const char	*env = getenv("TUG_CLI");
	char		 self[PATH_MAX_TUG], *slash;
	ssize_t		 n;

	if (env != NULL && *env != '\0')
		snprintf(dst, dstsz, "%s", env);
	else {
		if ((n = readlink("/proc/self/exe", self, sizeof self - 1)) <= 0)
			return fail(err, errsz, "cannot find tugd's own path",
			    NULL);
		self[n] = '\0';
		if ((slash = strrchr(self, '/')) != NULL)
			*slash = '\0';
		snprintf(dst, dstsz, "%s/tug", self);
	}
	if (!shell_safe(dst))
		return fail(err, errsz, "cannot name '%s' in a forced command: "
		    "only absolute paths of letters, digits and /._+- are safe",
		    dst);
	if (access(dst, X_OK) == -1)
		return fail(err, errsz, "no tug binary at '%s' for the forced "
		    "command (set TUG_CLI)", dst);
	if (!shell_safe(paths.sock))
		return fail(err, errsz, "cannot name the socket '%s' in a "
		    "forced command: give tugd an absolute --socket of letters, "
		    "digits and /._+-", paths.sock);
	return 0;
}

/* The file without tug's block; -1 if a begin has no end. */
static int
strip_block(const char *text, struct buf *out, char *err, size_t errsz)
{
	const char	*p = text, *nl;
	size_t		 l;
	int		 in = 0;

	for (; *p != '\0'; p = nl) {
		nl = strchr(p, '\n');
		nl = nl != NULL ? nl + 1 : p + strlen(p);
		l = (size_t)(nl - p);
		if (strncmp(p, BLOCK_BEGIN, strlen(BLOCK_BEGIN)) == 0)
			in = 1;
		else if (strncmp(p, BLOCK_END, strlen(BLOCK_END)) == 0)
			in = 0;
		else if (!in) {
			buf_add(out, p, l);
			if (p[l - 1] != '\n')
				buf_addch(out, '\n');
		}
	}
	if (in)
		return fail(err, errsz, "its '" BLOCK_BEGIN "' line has no "
		    "'" BLOCK_END "' line: mend it by hand", NULL);
	return 0;
}

/*
 * Rewrite tug's block of authorized_keys from the user_keys table: one
 * restrict,command="tug --socket S --as USER --ssh" line per key. The file
 * is replaced atomically with mode 0600; lines outside the block stay.
 */
int
authkeys_sync(char *err, size_t errsz)
{
	struct buf	 old = BUF_INIT, out = BUF_INIT;
	struct key_rec	*keys;
	size_t		 n, i;
	char		 path[PATH_MAX_TUG], dir[PATH_MAX_TUG], cli[PATH_MAX_TUG];
	char		 sub[256], *slash;
	int		 r = -1;

	if (authkeys_path(path, sizeof path) == -1)
		return fail(err, errsz, "cannot tell where tugd's "
		    "authorized_keys is (set TUG_AUTHORIZED_KEYS)", NULL);
	pthread_mutex_lock(&sync_lock);
	if (user_keys_load(NULL, &keys, &n) == -1) {
		pthread_mutex_unlock(&sync_lock);
		return fail(err, errsz, "cannot read the users' keys", NULL);
	}
	if (n > 0 && tug_cli(cli, sizeof cli, err, errsz) == -1)
		goto out;
	if (fs_read_file(path, &old, AUTHKEYS_MAX) == -1 && errno != ENOENT) {
		snprintf(sub, sizeof sub, "%s", strerror(errno));
		snprintf(err, errsz, "cannot read '%s': %s", path, sub);
		goto out;
	}
	if (n == 0 && old.len == 0) {	/* nothing to keep, nothing to add */
		r = 0;
		goto out;
	}
	if (strip_block(buf_str(&old), &out, sub, sizeof sub) == -1) {
		snprintf(err, errsz, "cannot update '%s': %s", path, sub);
		goto out;
	}
	if (n > 0) {
		buf_addstr(&out, BLOCK_BEGIN " (tug user key add|rm); "
		    "edits inside are lost\n");
		for (i = 0; i < n; i++)
			buf_addf(&out, "restrict,command=\"%s --socket %s "
			    "--as %s --ssh\" %s %s%s%s\n", cli, paths.sock,
			    keys[i].user, keys[i].key.type, keys[i].key.body,
			    keys[i].key.comment[0] != '\0' ? " " : "",
			    keys[i].key.comment);
		buf_addstr(&out, BLOCK_END "\n");
	}
	snprintf(dir, sizeof dir, "%s", path);
	if ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
		*slash = '\0';
		if (fs_mkdirs(dir, 0700) == -1) {
			snprintf(sub, sizeof sub, "%s", strerror(errno));
			snprintf(err, errsz, "cannot create '%s': %s", dir, sub);
			goto out;
		}
	}
	if (fs_write_atomic(path, out.ptr != NULL ? out.ptr : "", out.len,
	    0600) == -1) {
		snprintf(sub, sizeof sub, "%s", strerror(errno));
		snprintf(err, errsz, "cannot write '%s': %s", path, sub);
		goto out;
	}
	r = 0;
out:
	pthread_mutex_unlock(&sync_lock);
	free(keys);
	buf_release(&old);
	buf_release(&out);
	return r;
}
