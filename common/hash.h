/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * SHA-256 content hashes, written "sha256:<64 lowercase hex>". Backed by
 * OpenSSL's libcrypto, which uses the CPU's SHA extensions where present
 * (about five times libsodium's portable code on the machines we target).
 */

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

#define AGORA_HASH_LEN 32
#define AGORA_HASH_PREFIX "sha256:"
#define AGORA_HASH_HEX_LEN (2 * AGORA_HASH_LEN)
#define AGORA_HASH_STR_LEN (sizeof(AGORA_HASH_PREFIX) - 1 + AGORA_HASH_HEX_LEN)

typedef struct agora_hash {
        unsigned char bytes[AGORA_HASH_LEN];
} agora_hash;

typedef struct agora_hasher agora_hasher; /* incremental state, opaque */

int agora_hasher_new(agora_hasher **ret, agora_error_t *err);
void agora_hasher_update(agora_hasher *h, const void *data, size_t len);
/* Finish into *ret; the hasher may then be reused from empty. */
void agora_hasher_final(agora_hasher *h, agora_hash *ret);
void agora_hasher_free(agora_hasher *h);

void agora_hash_buffer(const void *data, size_t len, agora_hash *ret);

/* Hash from the fd's current offset to end of file; WHAT names it in errors. */
int agora_hash_fd(int fd, const char *what, agora_hash *ret, agora_error_t *err);

/* "sha256:<hex>" into OUT (NUL-terminated). */
void agora_hash_format(const agora_hash *h, char out[AGORA_HASH_STR_LEN + 1]);
/* Bare lowercase hex (64 chars) into OUT (NUL-terminated). */
void agora_hash_hex(const agora_hash *h, char out[AGORA_HASH_HEX_LEN + 1]);

/* Strict parse of "sha256:<64 lowercase hex>"; anything else is AGORA_ERR_USAGE. */
int agora_hash_parse(const char *s, agora_hash *ret, agora_error_t *err);

bool agora_hash_equal(const agora_hash *a, const agora_hash *b);

/* Whether the first N characters of S are lowercase hex digits, as content
 * hashes, git commit ids and dispatch ids are written (a NUL among them is
 * not a digit, so a shorter S is refused). */
bool agora_is_lower_hex(const char *s, size_t n);
