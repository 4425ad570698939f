/* SPDX-License-Identifier: Apache-2.0 */
#include "common/hash.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* libcrypto's SHA256_* functions run the same CPU-specific code as its EVP
 * interface (SHA extensions where present), without EVP's provider set-up:
 * the first EVP digest of a process costs about 1 ms, paid on the path of
 * every cage and command, for nothing agora uses. OpenSSL 3 marks them
 * deprecated, not removed. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "common/cleanup.h"

/* 1 MiB reads keep syscall overhead negligible next to hashing at GB/s. */
#define HASH_CHUNK (1u << 20)

/* Longest piece of a rejected input quoted back: an error must stay readable
 * when someone pastes a whole file where a hash belongs. */
#define HASH_QUOTE_MAX 80

struct agora_hasher {
        SHA256_CTX ctx;
};

int agora_hasher_new(agora_hasher **ret, agora_error_t *err)
{
        agora_hasher *h = calloc(1, sizeof(*h));

        if (h == NULL)
                return agora_error_set_errno(err, ENOMEM, "sha256 hasher");
        if (SHA256_Init(&h->ctx) != 1) {
                agora_hasher_free(h);
                return agora_error_set(err, AGORA_ERR_FAILED, "sha256 hasher: libcrypto refused to initialise SHA-256");
        }
        *ret = h;
        return 0;
}

void agora_hasher_update(agora_hasher *h, const void *data, size_t len)
{
        /* SHA256_Update on an initialised context cannot fail. */
        (void)SHA256_Update(&h->ctx, data, len);
}

void agora_hasher_final(agora_hasher *h, agora_hash *ret)
{
        (void)SHA256_Final(ret->bytes, &h->ctx);
        (void)SHA256_Init(&h->ctx);
}

void agora_hasher_free(agora_hasher *h)
{
        if (h == NULL)
                return;
        /* The state says something about what was hashed (an env bundle,
         * output): wipe it rather than leave it in freed memory. */
        OPENSSL_cleanse(&h->ctx, sizeof(h->ctx));
        free(h);
}

void agora_hash_buffer(const void *data, size_t len, agora_hash *ret)
{
        SHA256_CTX ctx;

        /* Not the one-shot SHA256(): OpenSSL 3 implements it through EVP,
         * which is the set-up avoided above (and, linked statically, pulls
         * the whole provider machinery into the program). */
        (void)SHA256_Init(&ctx);
        (void)SHA256_Update(&ctx, data, len);
        (void)SHA256_Final(ret->bytes, &ctx);
        OPENSSL_cleanse(&ctx, sizeof(ctx));
}

static void hasher_freep(agora_hasher **h)
{
        agora_hasher_free(*h);
}

int agora_hash_fd(int fd, const char *what, agora_hash *ret, agora_error_t *err)
{
        _cleanup_(hasher_freep) agora_hasher *h = NULL;
        _cleanup_free_ unsigned char *buf = NULL;

        if (agora_hasher_new(&h, err) < 0)
                return agora_error_wrap(err, "'%s'", what);
        buf = malloc(HASH_CHUNK);
        if (buf == NULL)
                return agora_error_set_errno(err, ENOMEM, "'%s': hash buffer", what);
        for (;;) {
                ssize_t n = read(fd, buf, HASH_CHUNK);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return agora_error_set_errno(err, errno, "'%s': read failed", what);
                }
                if (n == 0)
                        break;
                agora_hasher_update(h, buf, (size_t)n);
        }
        agora_hasher_final(h, ret);
        return 0;
}

static const char hexdigits[] = "0123456789abcdef";

void agora_hash_hex(const agora_hash *h, char out[AGORA_HASH_HEX_LEN + 1])
{
        for (size_t i = 0; i < AGORA_HASH_LEN; i++) {
                out[2 * i] = hexdigits[h->bytes[i] >> 4];
                out[2 * i + 1] = hexdigits[h->bytes[i] & 0xf];
        }
        out[AGORA_HASH_HEX_LEN] = '\0';
}

void agora_hash_format(const agora_hash *h, char out[AGORA_HASH_STR_LEN + 1])
{
        memcpy(out, AGORA_HASH_PREFIX, sizeof(AGORA_HASH_PREFIX) - 1);
        agora_hash_hex(h, out + sizeof(AGORA_HASH_PREFIX) - 1);
}

/* Only lowercase: one hash has exactly one spelling, so string comparison of
 * hashes (file names, refs) never disagrees with byte comparison. */
bool agora_is_lower_hex(const char *s, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
                        return false;
        return true;
}

static int hexval(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        return -1;
}

int agora_hash_parse(const char *s, agora_hash *ret, agora_error_t *err)
{
        const size_t plen = sizeof(AGORA_HASH_PREFIX) - 1;
        agora_hash h;

        if (s == NULL)
                return agora_error_set(err, AGORA_ERR_USAGE, "missing content hash (want sha256:<64 lowercase hex>)");
        if (strncmp(s, AGORA_HASH_PREFIX, plen) != 0 || strlen(s) != AGORA_HASH_STR_LEN)
                goto bad;
        for (size_t i = 0; i < AGORA_HASH_LEN; i++) {
                int hi = hexval(s[plen + 2 * i]), lo = hexval(s[plen + 2 * i + 1]);
                if (hi < 0 || lo < 0)
                        goto bad;
                h.bytes[i] = (unsigned char)(hi << 4 | lo);
        }
        *ret = h;
        return 0;
bad:
        if (strlen(s) > HASH_QUOTE_MAX)
                return agora_error_set(err, AGORA_ERR_USAGE,
                                       "'%.*s…': not a sha256 content hash (want sha256:<64 lowercase hex>)",
                                       HASH_QUOTE_MAX, s);
        return agora_error_set(err, AGORA_ERR_USAGE, "'%s': not a sha256 content hash (want sha256:<64 lowercase hex>)",
                               s);
}

bool agora_hash_equal(const agora_hash *a, const agora_hash *b)
{
        return memcmp(a->bytes, b->bytes, AGORA_HASH_LEN) == 0;
}
