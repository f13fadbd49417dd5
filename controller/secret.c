/*
 * secret.c: secrets at rest. AES-256-GCM (OpenSSL EVP) under a 32-byte key
 * kept in tugd's state directory with mode 0600 and made on first use. A
 * sealed value is nonce(12) | ciphertext | tag(16); the site and key name
 * are bound in as additional data, so a value moved between rows fails.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "common/fs.h"
#include "common/log.h"
#include "controller/tug.h"

#define KEY_LEN		32
#define NONCE_LEN	12
#define TAG_LEN		16

static unsigned char	key[KEY_LEN];
static int		have_key;
static pthread_mutex_t	key_lock = PTHREAD_MUTEX_INITIALIZER;

static int
load_key(void)
{
	char		path[PATH_MAX_TUG + 16];
	struct buf	b = BUF_INIT;
	int		r = -1;

	pthread_mutex_lock(&key_lock);
	if (have_key) {
		pthread_mutex_unlock(&key_lock);
		return 0;
	}
	snprintf(path, sizeof path, "%s/secret.key", paths.home);
	if (fs_read_file(path, &b, 4096) == 0) {
		if (b.len == KEY_LEN) {
			memcpy(key, b.ptr, KEY_LEN);
			r = 0;
		} else
			log_warnx("'%s' is not a %d-byte key", path, KEY_LEN);
	} else if (errno == ENOENT) {
		if (RAND_bytes(key, KEY_LEN) == 1 &&
		    fs_write_atomic(path, key, KEY_LEN, 0600) == 0)
			r = 0;
		else
			log_warn("cannot create '%s'", path);
	} else
		log_warn("cannot read '%s'", path);
	if (b.ptr != NULL)
		OPENSSL_cleanse(b.ptr, b.len);
	buf_release(&b);
	have_key = r == 0;
	pthread_mutex_unlock(&key_lock);
	return r;
}

int
secret_seal(const char *ad, const void *plain, size_t n, struct buf *out)
{
	EVP_CIPHER_CTX	*ctx;
	unsigned char	 nonce[NONCE_LEN], tag[TAG_LEN], *ct;
	int		 len, fin, r = -1;

	if (load_key() == -1 || n > (1u << 20))
		return -1;
	if ((ct = malloc(n + 16)) == NULL)
		return -1;
	if ((ctx = EVP_CIPHER_CTX_new()) == NULL) {
		free(ct);
		return -1;
	}
	if (RAND_bytes(nonce, NONCE_LEN) == 1 &&
	    EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, nonce) == 1 &&
	    EVP_EncryptUpdate(ctx, NULL, &len, (const unsigned char *)ad,
	    (int)strlen(ad)) == 1 &&
	    EVP_EncryptUpdate(ctx, ct, &len, plain, (int)n) == 1 &&
	    EVP_EncryptFinal_ex(ctx, ct + len, &fin) == 1 &&
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag) == 1) {
		buf_reset(out);
		if (buf_add(out, nonce, NONCE_LEN) == 0 &&
		    buf_add(out, ct, (size_t)(len + fin)) == 0 &&
		    buf_add(out, tag, TAG_LEN) == 0)
			r = 0;
	}
	EVP_CIPHER_CTX_free(ctx);
	free(ct);
	return r;
}

int
secret_open(const char *ad, const void *sealed, size_t n, struct buf *out)
{
	const unsigned char	*p = sealed;
	EVP_CIPHER_CTX		*ctx;
	unsigned char		*pt;
	size_t			 ctlen;
	int			 len, fin, r = -1;

	if (load_key() == -1 || n < NONCE_LEN + TAG_LEN)
		return -1;
	ctlen = n - NONCE_LEN - TAG_LEN;
	if ((pt = malloc(ctlen + 16)) == NULL)
		return -1;
	if ((ctx = EVP_CIPHER_CTX_new()) == NULL) {
		free(pt);
		return -1;
	}
	if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, p) == 1 &&
	    EVP_DecryptUpdate(ctx, NULL, &len, (const unsigned char *)ad,
	    (int)strlen(ad)) == 1 &&
	    EVP_DecryptUpdate(ctx, pt, &len, p + NONCE_LEN, (int)ctlen) == 1 &&
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN,
	    (void *)(p + n - TAG_LEN)) == 1 &&
	    EVP_DecryptFinal_ex(ctx, pt + len, &fin) == 1) {
		buf_reset(out);
		r = buf_add(out, pt, (size_t)(len + fin));
	}
	OPENSSL_cleanse(pt, ctlen + 16);
	EVP_CIPHER_CTX_free(ctx);
	free(pt);
	return r;
}
