/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Ed25519 operator and worker keys in minisign's formats, so that stock
 * `minisign -V -p KEY.pub` checks what agora signs.
 *
 * Public key file:  "untrusted comment: …\n" base64("Ed" || keyid[8] || pk[32]) "\n"
 * Secret key file:  minisign's unencrypted form (kdf "\0\0", checksum BLAKE2b-256
 *                   over "Ed" || keyid || sk), mode 0600.
 * Signature:        minisign's prehashed form ("ED", BLAKE2b-512 of the message)
 *                   with a trusted comment covered by the global signature.
 *
 * Secret keys live in sodium_malloc'd (guarded, mlock'd) memory and are wiped
 * on free.
 */

#include <stddef.h>

#include "common/error.h"

#define AGORA_KEYID_LEN 8
#define AGORA_PK_LEN 32

typedef struct agora_pubkey {
        unsigned char keyid[AGORA_KEYID_LEN];
        unsigned char pk[AGORA_PK_LEN];
} agora_pubkey;

typedef struct agora_seckey agora_seckey; /* opaque, locked memory */

int sign_init(agora_error_t *err); /* sodium_init(); call once from main */

int sign_keypair_generate(agora_seckey **ret_sk, agora_error_t *err);
void sign_seckey_pubkey(const agora_seckey *sk, agora_pubkey *ret);
void sign_seckey_free(agora_seckey *sk);

/* Create the file (never overwrite: AGORA_ERR_EXISTS), atomically. */
int sign_seckey_write(const agora_seckey *sk, const char *path, agora_error_t *err);
int sign_pubkey_write(const agora_pubkey *pk, const char *path, agora_error_t *err);

/* Refuses a secret key file that others can read, an encrypted one, a bad
 * checksum or anything malformed, naming the file. */
int sign_seckey_load(const char *path, agora_seckey **ret, agora_error_t *err);
int sign_pubkey_load(const char *path, agora_pubkey *ret, agora_error_t *err);
/* Parse the base64 line of a public key (the second line of the file). */
int sign_pubkey_parse(const char *b64, agora_pubkey *ret, agora_error_t *err);

/* Key id as minisign prints it: the little-endian 64-bit id in uppercase hex
 * without leading zeros (minisign formats it with %" PRIX64 "), 1 to 16 digits. */
void sign_keyid_format(const unsigned char keyid[AGORA_KEYID_LEN], char out[2 * AGORA_KEYID_LEN + 1]);

/* A complete minisign signature file text (four lines) over MSG. The trusted
 * comment must be one line. */
int sign_message(const agora_seckey *sk, const void *msg, size_t len, const char *trusted_comment, char **ret_sig,
                 agora_error_t *err);

/* The key id a minisign signature text says made it (unverified: use it
 * to pick the key to verify with). Malformed text is AGORA_ERR_INTEGRITY. */
int sign_signature_keyid(const char *sig, unsigned char ret[AGORA_KEYID_LEN], agora_error_t *err);

/* Verify a minisign signature text over MSG with PK; on success optionally
 * returns the trusted comment (malloc'd). A wrong key id, a bad signature or
 * a tampered trusted comment are each AGORA_ERR_INTEGRITY with their own
 * message. */
int sign_verify(const agora_pubkey *pk, const void *msg, size_t len, const char *sig, char **ret_trusted_comment,
                agora_error_t *err);
