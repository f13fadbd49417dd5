/*
 * hash.h: sha256 in hex, for content addresses, spec hashes and the audit
 * chain. Uses OpenSSL's libcrypto: a binary that calls it links -lcrypto.
 */
#ifndef TUG_HASH_H
#define TUG_HASH_H

#include <stddef.h>

#define SHA256_HEX_LEN	64

/* The sha256 of p[0..n) as 64 lowercase hex digits and a NUL. */
void	 sha256_hex(const void *p, size_t n, char out[SHA256_HEX_LEN + 1]);

#endif
