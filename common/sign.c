/* SPDX-License-Identifier: Apache-2.0 */
#include "common/sign.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"

/* minisign's wire constants (src/minisign.h), byte for byte. */
#define SIGALG "Ed" /* legacy: Ed25519 over the raw message */
#define SIGALG_HASHED "ED" /* Ed25519 over BLAKE2b-512(message) */
#define KDFALG "Sc"
#define KDFNONE "\0\0"
#define CHKALG "B2"
#define COMMENT_PREFIX "untrusted comment: "
#define TRUSTED_PREFIX "trusted comment: "
#define TRUSTED_COMMENT_MAX 8192 /* minisign's limit, prefix included */
#define KEYFILE_MAX 4096

/* Packed layouts: every member is a byte array, so no padding. */
typedef struct pubkey_blob {
        unsigned char sig_alg[2];
        unsigned char keynum[AGORA_KEYID_LEN];
        unsigned char pk[crypto_sign_PUBLICKEYBYTES];
} pubkey_blob;

typedef struct seckey_blob {
        unsigned char sig_alg[2];
        unsigned char kdf_alg[2];
        unsigned char chk_alg[2];
        unsigned char kdf_salt[32];
        unsigned char kdf_opslimit_le[8];
        unsigned char kdf_memlimit_le[8];
        unsigned char keynum[AGORA_KEYID_LEN];
        unsigned char sk[crypto_sign_SECRETKEYBYTES];
        unsigned char chk[crypto_generichash_BYTES];
} seckey_blob;

typedef struct sig_blob {
        unsigned char sig_alg[2];
        unsigned char keynum[AGORA_KEYID_LEN];
        unsigned char sig[crypto_sign_BYTES];
} sig_blob;

_Static_assert(sizeof(pubkey_blob) == 42, "minisign public key is 42 bytes");
_Static_assert(sizeof(seckey_blob) == 158, "minisign secret key is 158 bytes");
_Static_assert(sizeof(sig_blob) == 74, "minisign signature is 74 bytes");

struct agora_seckey {
        unsigned char keyid[AGORA_KEYID_LEN];
        unsigned char sk[crypto_sign_SECRETKEYBYTES];
};

static void sodium_freep(void *p)
{
        sodium_free(*(void **)p);
}
#define _cleanup_sodium_ _cleanup_(sodium_freep)

static void seckey_freep(agora_seckey **sk)
{
        sign_seckey_free(*sk);
}

int sign_init(agora_error_t *err)
{
        if (sodium_init() < 0)
                return agora_error_set(err, AGORA_ERR_FAILED, "libsodium: initialisation failed");
        return 0;
}

/* sodium_malloc needs sodium_init; calling it again is cheap and makes the
 * library safe for callers (tests, tools) that forget sign_init. */
static int seckey_alloc(agora_seckey **ret, agora_error_t *err)
{
        if (sign_init(err) < 0)
                return -1;
        *ret = sodium_malloc(sizeof(**ret));
        if (*ret == NULL)
                return agora_error_set_errno(err, ENOMEM, "secret key: cannot allocate locked memory");
        return 0;
}

int sign_keypair_generate(agora_seckey **ret_sk, agora_error_t *err)
{
        unsigned char pk[crypto_sign_PUBLICKEYBYTES];
        agora_seckey *sk = NULL;

        if (seckey_alloc(&sk, err) < 0)
                return -1;
        randombytes_buf(sk->keyid, sizeof(sk->keyid));
        crypto_sign_keypair(pk, sk->sk);
        *ret_sk = sk;
        return 0;
}

void sign_seckey_pubkey(const agora_seckey *sk, agora_pubkey *ret)
{
        memcpy(ret->keyid, sk->keyid, AGORA_KEYID_LEN);
        crypto_sign_ed25519_sk_to_pk(ret->pk, sk->sk);
}

void sign_seckey_free(agora_seckey *sk)
{
        /* sodium_free wipes the pages before releasing them. */
        if (sk != NULL)
                sodium_free(sk);
}

void sign_keyid_format(const unsigned char keyid[AGORA_KEYID_LEN], char out[2 * AGORA_KEYID_LEN + 1])
{
        uint64_t v = 0;

        for (int i = AGORA_KEYID_LEN - 1; i >= 0; i--)
                v = v << 8 | keyid[i];
        snprintf(out, 2 * AGORA_KEYID_LEN + 1, "%" PRIX64, v);
}

/* Base64 of BIN into a sodium_malloc'd string (it may encode a secret). */
static char *b64_encode(const void *bin, size_t len)
{
        size_t n = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
        char *out = sodium_malloc(n);

        if (out != NULL)
                sodium_bin2base64(out, n, bin, len, sodium_base64_VARIANT_ORIGINAL);
        return out;
}

/* Decode exactly WANT bytes from the N characters at B64. */
static bool b64_decode_exact(const char *b64, size_t n, void *out, size_t want)
{
        size_t got = 0;
        const char *end = NULL;

        if (sodium_base642bin(out, want, b64, n, NULL, &got, &end, sodium_base64_VARIANT_ORIGINAL) != 0)
                return false;
        return got == want && end == b64 + n;
}

/* Line I (0-based) of TEXT without its "\n" or "\r\n"; false if absent. */
static bool text_line(const char *text, size_t len, int i, const char **ret, size_t *ret_len)
{
        const char *p = text, *end = text + len;

        for (; i > 0; i--) {
                const char *nl = memchr(p, '\n', (size_t)(end - p));
                if (nl == NULL)
                        return false;
                p = nl + 1;
        }
        if (p >= end)
                return false;
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (n > 0 && p[n - 1] == '\r')
                n--;
        *ret = p;
        *ret_len = n;
        return true;
}

static bool has_prefix(const char *s, size_t n, const char *prefix)
{
        size_t pl = strlen(prefix);
        return n >= pl && memcmp(s, prefix, pl) == 0;
}

static void blob_checksum(const seckey_blob *b, unsigned char chk[crypto_generichash_BYTES])
{
        crypto_generichash_state hs;

        crypto_generichash_init(&hs, NULL, 0, crypto_generichash_BYTES);
        crypto_generichash_update(&hs, b->sig_alg, sizeof(b->sig_alg));
        crypto_generichash_update(&hs, b->keynum, sizeof(b->keynum));
        crypto_generichash_update(&hs, b->sk, sizeof(b->sk));
        crypto_generichash_final(&hs, chk, crypto_generichash_BYTES);
        sodium_memzero(&hs, sizeof(hs));
}

int sign_seckey_write(const agora_seckey *sk, const char *path, agora_error_t *err)
{
        _cleanup_sodium_ seckey_blob *b = sodium_malloc(sizeof(*b));
        _cleanup_sodium_ char *b64 = NULL, *text = NULL;
        size_t n;

        if (b == NULL)
                return agora_error_set_errno(err, ENOMEM, "'%s': cannot allocate locked memory", path);
        sodium_memzero(b, sizeof(*b));
        memcpy(b->sig_alg, SIGALG, 2);
        memcpy(b->kdf_alg, KDFNONE, 2);
        memcpy(b->chk_alg, CHKALG, 2);
        memcpy(b->keynum, sk->keyid, AGORA_KEYID_LEN);
        memcpy(b->sk, sk->sk, sizeof(b->sk));
        blob_checksum(b, b->chk);
        b64 = b64_encode(b, sizeof(*b));
        if (b64 == NULL)
                return agora_error_set_errno(err, ENOMEM, "'%s': cannot allocate locked memory", path);
        n = sizeof(COMMENT_PREFIX "minisign secret key\n") - 1 + strlen(b64) + 1;
        text = sodium_malloc(n + 1);
        if (text == NULL)
                return agora_error_set_errno(err, ENOMEM, "'%s': cannot allocate locked memory", path);
        snprintf(text, n + 1, COMMENT_PREFIX "minisign secret key\n%s\n", b64);
        /* 0600 from the start: the key is never readable by others, not even
         * for the moment between create and chmod. */
        return fs_write_atomic(path, text, n, 0600, false, err);
}

int sign_pubkey_write(const agora_pubkey *pk, const char *path, agora_error_t *err)
{
        pubkey_blob b;
        _cleanup_sodium_ char *b64 = NULL;
        _cleanup_free_ char *text = NULL;
        char id[2 * AGORA_KEYID_LEN + 1];
        int n;

        if (sign_init(err) < 0)
                return -1;
        memcpy(b.sig_alg, SIGALG, 2);
        memcpy(b.keynum, pk->keyid, AGORA_KEYID_LEN);
        memcpy(b.pk, pk->pk, AGORA_PK_LEN);
        b64 = b64_encode(&b, sizeof(b));
        if (b64 == NULL)
                return agora_error_set_errno(err, ENOMEM, "'%s'", path);
        sign_keyid_format(pk->keyid, id);
        n = asprintf(&text, COMMENT_PREFIX "minisign public key %s\n%s\n", id, b64);
        if (n < 0) {
                text = NULL;
                return agora_error_set_errno(err, ENOMEM, "'%s'", path);
        }
        return fs_write_atomic(path, text, (size_t)n, 0644, false, err);
}

/* Read a secret key file into locked memory, refusing one that others can
 * read or write: a key others could read is already compromised, and one
 * they could write could be swapped for theirs. */
static int read_secret_file(const char *path, char **ret, size_t *ret_len, agora_error_t *err)
{
        _cleanup_close_ int fd = -1;
        _cleanup_sodium_ char *buf = NULL;
        struct stat st;
        size_t len = 0;

        /* O_NONBLOCK: a FIFO must be refused below, not wait for a writer. */
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0) {
                agora_error_set_errno(err, errno, "'%s'", path);
                if (errno == ENOENT && err != NULL && *err != NULL)
                        (*err)->kind = AGORA_ERR_NOTFOUND;
                return -1;
        }
        if (fstat(fd, &st) < 0)
                return agora_error_set_errno(err, errno, "'%s': stat failed", path);
        if (!S_ISREG(st.st_mode))
                return agora_error_set(err, AGORA_ERR_FAILED, "'%s': not a regular file", path);
        if (st.st_mode & 0044)
                return agora_error_set(err, AGORA_ERR_FAILED,
                                       "'%s': secret key is readable by others (mode %04o); chmod 600 it", path,
                                       (unsigned)(st.st_mode & 07777));
        if (st.st_mode & 0022)
                return agora_error_set(err, AGORA_ERR_FAILED,
                                       "'%s': secret key is writable by others (mode %04o); chmod 600 it", path,
                                       (unsigned)(st.st_mode & 07777));
        buf = sodium_malloc(KEYFILE_MAX + 1);
        if (buf == NULL)
                return agora_error_set_errno(err, ENOMEM, "'%s': cannot allocate locked memory", path);
        for (;;) {
                ssize_t n = read(fd, buf + len, KEYFILE_MAX + 1 - len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return agora_error_set_errno(err, errno, "'%s': read failed", path);
                }
                if (n == 0)
                        break;
                len += (size_t)n;
                if (len > KEYFILE_MAX)
                        return agora_error_set(err, AGORA_ERR_FAILED, "'%s': larger than %d bytes, not a key file",
                                               path, KEYFILE_MAX);
        }
        buf[len] = '\0';
        *ret = take_ptr(buf);
        *ret_len = len;
        return 0;
}

static bool all_zero(const unsigned char *p, size_t n)
{
        unsigned char acc = 0;

        for (size_t i = 0; i < n; i++)
                acc |= p[i];
        return acc == 0;
}

int sign_seckey_load(const char *path, agora_seckey **ret, agora_error_t *err)
{
        _cleanup_sodium_ char *text = NULL;
        _cleanup_sodium_ seckey_blob *b = NULL;
        _cleanup_(seckey_freep) agora_seckey *sk = NULL;
        unsigned char chk[crypto_generichash_BYTES], pk[crypto_sign_PUBLICKEYBYTES];
        unsigned char seed[crypto_sign_SEEDBYTES], sk2[crypto_sign_SECRETKEYBYTES];
        const char *line;
        size_t len = 0, n = 0;
        bool ok;

        if (seckey_alloc(&sk, err) < 0)
                return agora_error_wrap(err, "'%s'", path);
        if (read_secret_file(path, &text, &len, err) < 0)
                return -1;
        if (!text_line(text, len, 0, &line, &n) || !has_prefix(line, n, COMMENT_PREFIX))
                return agora_error_set(err, AGORA_ERR_FAILED,
                                       "'%s': not a minisign secret key (no untrusted comment line)", path);
        b = sodium_malloc(sizeof(*b));
        if (b == NULL)
                return agora_error_set_errno(err, ENOMEM, "'%s': cannot allocate locked memory", path);
        if (!text_line(text, len, 1, &line, &n) || !b64_decode_exact(line, n, b, sizeof(*b)))
                return agora_error_set(err, AGORA_ERR_FAILED, "'%s': not a minisign secret key (bad base64 key line)",
                                       path);
        if (memcmp(b->sig_alg, SIGALG, 2) != 0)
                return agora_error_set(err, AGORA_ERR_FAILED, "'%s': unsupported signature algorithm", path);
        if (memcmp(b->kdf_alg, KDFALG, 2) == 0)
                return agora_error_set(err, AGORA_ERR_FAILED,
                                       "'%s': encrypted keys are not supported; create the key with agora keygen",
                                       path);
        if (memcmp(b->kdf_alg, KDFNONE, 2) != 0)
                return agora_error_set(err, AGORA_ERR_FAILED, "'%s': unsupported key derivation function", path);
        if (memcmp(b->chk_alg, CHKALG, 2) != 0)
                return agora_error_set(err, AGORA_ERR_FAILED, "'%s': unsupported checksum function", path);
        /* minisign -W leaves the checksum zero (it only fills it in when
         * encrypting), so zero means "none"; anything else must match. */
        blob_checksum(b, chk);
        ok = all_zero(b->chk, sizeof(b->chk)) || sodium_memcmp(chk, b->chk, sizeof(chk)) == 0;
        sodium_memzero(chk, sizeof(chk));
        if (!ok)
                return agora_error_set(err, AGORA_ERR_INTEGRITY, "'%s': secret key checksum mismatch (file corrupted)",
                                       path);
        /* An Ed25519 secret key is seed || public key; if the halves disagree
         * every signature would fail to verify, so catch it here. */
        crypto_sign_ed25519_sk_to_seed(seed, b->sk);
        crypto_sign_seed_keypair(pk, sk2, seed);
        ok = sodium_memcmp(sk2, b->sk, sizeof(sk2)) == 0;
        sodium_memzero(seed, sizeof(seed));
        sodium_memzero(sk2, sizeof(sk2));
        if (!ok)
                return agora_error_set(err, AGORA_ERR_INTEGRITY,
                                       "'%s': secret key halves do not match (file corrupted)", path);
        memcpy(sk->keyid, b->keynum, AGORA_KEYID_LEN);
        memcpy(sk->sk, b->sk, sizeof(sk->sk));
        *ret = take_ptr(sk);
        return 0;
}

static int pubkey_decode(const char *b64, size_t n, agora_pubkey *ret, const char *what, agora_error_t *err)
{
        pubkey_blob b;

        while (n > 0 && (b64[n - 1] == '\n' || b64[n - 1] == '\r' || b64[n - 1] == ' ' || b64[n - 1] == '\t'))
                n--;
        if (!b64_decode_exact(b64, n, &b, sizeof(b)))
                return agora_error_set(err, AGORA_ERR_USAGE, "%s: not a minisign public key (bad base64)", what);
        if (memcmp(b.sig_alg, SIGALG, 2) != 0)
                return agora_error_set(err, AGORA_ERR_USAGE, "%s: unsupported signature algorithm", what);
        memcpy(ret->keyid, b.keynum, AGORA_KEYID_LEN);
        memcpy(ret->pk, b.pk, AGORA_PK_LEN);
        return 0;
}

int sign_pubkey_parse(const char *b64, agora_pubkey *ret, agora_error_t *err)
{
        if (sign_init(err) < 0)
                return -1;
        return pubkey_decode(b64, strlen(b64), ret, "public key", err);
}

int sign_pubkey_load(const char *path, agora_pubkey *ret, agora_error_t *err)
{
        _cleanup_free_ char *text = NULL;
        _cleanup_free_ char *what = NULL;
        const char *line;
        size_t len = 0, n = 0;

        if (sign_init(err) < 0)
                return -1;
        if (fs_read_file(path, KEYFILE_MAX, &text, &len, err) < 0)
                return -1;
        if (!text_line(text, len, 0, &line, &n) || !has_prefix(line, n, COMMENT_PREFIX))
                return agora_error_set(err, AGORA_ERR_USAGE,
                                       "'%s': not a minisign public key (no untrusted comment line)", path);
        if (!text_line(text, len, 1, &line, &n))
                return agora_error_set(err, AGORA_ERR_USAGE, "'%s': not a minisign public key (no key line)", path);
        if (asprintf(&what, "'%s'", path) < 0) {
                what = NULL;
                return agora_error_set_errno(err, ENOMEM, "'%s'", path);
        }
        return pubkey_decode(line, n, ret, what, err);
}

int sign_message(const agora_seckey *sk, const void *msg, size_t len, const char *trusted_comment, char **ret_sig,
                 agora_error_t *err)
{
        unsigned char hash[crypto_generichash_BYTES_MAX], global_sig[crypto_sign_BYTES];
        _cleanup_free_ unsigned char *sig_tc = NULL;
        _cleanup_free_ char *b64_sig = NULL, *b64_global = NULL;
        char id[2 * AGORA_KEYID_LEN + 1];
        size_t tc_len = strlen(trusted_comment);
        sig_blob s;

        /* One line each: the trusted comment is signed as the bytes between
         * its prefix and the newline, so a newline inside would be cut off
         * by every verifier. */
        if (strpbrk(trusted_comment, "\r\n") != NULL)
                return agora_error_set(err, AGORA_ERR_USAGE, "trusted comment: must be one line");
        if (tc_len >= TRUSTED_COMMENT_MAX - sizeof(TRUSTED_PREFIX))
                return agora_error_set(err, AGORA_ERR_USAGE, "trusted comment: longer than %zu bytes",
                                       TRUSTED_COMMENT_MAX - sizeof(TRUSTED_PREFIX) - 1);
        if (sign_init(err) < 0)
                return -1;

        memcpy(s.sig_alg, SIGALG_HASHED, 2);
        memcpy(s.keynum, sk->keyid, AGORA_KEYID_LEN);
        crypto_generichash(hash, sizeof(hash), msg, len, NULL, 0);
        crypto_sign_detached(s.sig, NULL, hash, sizeof(hash), sk->sk);

        sig_tc = malloc(sizeof(s.sig) + tc_len);
        if (sig_tc == NULL)
                return agora_error_set_errno(err, ENOMEM, "signature");
        memcpy(sig_tc, s.sig, sizeof(s.sig));
        memcpy(sig_tc + sizeof(s.sig), trusted_comment, tc_len);
        crypto_sign_detached(global_sig, NULL, sig_tc, sizeof(s.sig) + tc_len, sk->sk);

        b64_sig = malloc(sodium_base64_ENCODED_LEN(sizeof(s), sodium_base64_VARIANT_ORIGINAL));
        b64_global = malloc(sodium_base64_ENCODED_LEN(sizeof(global_sig), sodium_base64_VARIANT_ORIGINAL));
        if (b64_sig == NULL || b64_global == NULL)
                return agora_error_set_errno(err, ENOMEM, "signature");
        sodium_bin2base64(b64_sig, sodium_base64_ENCODED_LEN(sizeof(s), sodium_base64_VARIANT_ORIGINAL),
                          (const unsigned char *)&s, sizeof(s), sodium_base64_VARIANT_ORIGINAL);
        sodium_bin2base64(b64_global, sodium_base64_ENCODED_LEN(sizeof(global_sig), sodium_base64_VARIANT_ORIGINAL),
                          global_sig, sizeof(global_sig), sodium_base64_VARIANT_ORIGINAL);
        sign_keyid_format(sk->keyid, id);
        if (asprintf(ret_sig, COMMENT_PREFIX "signature from agora key %s\n%s\n" TRUSTED_PREFIX "%s\n%s\n", id, b64_sig,
                     trusted_comment, b64_global) < 0) {
                *ret_sig = NULL;
                return agora_error_set_errno(err, ENOMEM, "signature");
        }
        return 0;
}

int sign_signature_keyid(const char *sig, unsigned char ret[AGORA_KEYID_LEN], agora_error_t *err)
{
        size_t sig_len = strlen(sig), n = 0;
        const char *line;
        sig_blob s;

        if (!text_line(sig, sig_len, 0, &line, &n) || !has_prefix(line, n, COMMENT_PREFIX))
                return agora_error_set(err, AGORA_ERR_INTEGRITY, "signature: malformed (no untrusted comment line)");
        if (!text_line(sig, sig_len, 1, &line, &n) || !b64_decode_exact(line, n, &s, sizeof(s)))
                return agora_error_set(err, AGORA_ERR_INTEGRITY, "signature: malformed (bad base64 signature line)");
        memcpy(ret, s.keynum, AGORA_KEYID_LEN);
        return 0;
}

int sign_verify(const agora_pubkey *pk, const void *msg, size_t len, const char *sig, char **ret_trusted_comment,
                agora_error_t *err)
{
        unsigned char hash[crypto_generichash_BYTES_MAX], global_sig[crypto_sign_BYTES];
        _cleanup_free_ unsigned char *sig_tc = NULL;
        size_t sig_len = strlen(sig), n = 0, tc_len;
        const char *line, *tc;
        sig_blob s;
        int r;

        if (sign_init(err) < 0)
                return -1;
        if (!text_line(sig, sig_len, 0, &line, &n) || !has_prefix(line, n, COMMENT_PREFIX))
                return agora_error_set(err, AGORA_ERR_INTEGRITY, "signature: malformed (no untrusted comment line)");
        if (!text_line(sig, sig_len, 1, &line, &n) || !b64_decode_exact(line, n, &s, sizeof(s)))
                return agora_error_set(err, AGORA_ERR_INTEGRITY, "signature: malformed (bad base64 signature line)");
        if (!text_line(sig, sig_len, 2, &line, &n) || !has_prefix(line, n, TRUSTED_PREFIX))
                return agora_error_set(err, AGORA_ERR_INTEGRITY, "signature: malformed (no trusted comment line)");
        tc = line + strlen(TRUSTED_PREFIX);
        tc_len = n - strlen(TRUSTED_PREFIX);
        if (!text_line(sig, sig_len, 3, &line, &n) || !b64_decode_exact(line, n, global_sig, sizeof(global_sig)))
                return agora_error_set(err, AGORA_ERR_INTEGRITY,
                                       "signature: malformed (bad base64 global signature line)");

        if (memcmp(s.keynum, pk->keyid, AGORA_KEYID_LEN) != 0) {
                char got[2 * AGORA_KEYID_LEN + 1], want[2 * AGORA_KEYID_LEN + 1];
                sign_keyid_format(s.keynum, got);
                sign_keyid_format(pk->keyid, want);
                return agora_error_set(err, AGORA_ERR_INTEGRITY, "signature made by key %s, not by trusted key %s", got,
                                       want);
        }
        if (memcmp(s.sig_alg, SIGALG_HASHED, 2) == 0) {
                crypto_generichash(hash, sizeof(hash), msg, len, NULL, 0);
                r = crypto_sign_verify_detached(s.sig, hash, sizeof(hash), pk->pk);
        } else if (memcmp(s.sig_alg, SIGALG, 2) == 0) {
                r = crypto_sign_verify_detached(s.sig, msg, len, pk->pk);
        } else {
                return agora_error_set(err, AGORA_ERR_INTEGRITY, "signature: unsupported algorithm");
        }
        if (r != 0)
                return agora_error_set(err, AGORA_ERR_INTEGRITY,
                                       "signature does not match the content (content or signature altered)");

        /* The trusted comment carries what the signer vouches for beyond the
         * bytes (names, versions); it is only trusted once this passes. */
        sig_tc = malloc(sizeof(s.sig) + tc_len);
        if (sig_tc == NULL)
                return agora_error_set_errno(err, ENOMEM, "signature");
        memcpy(sig_tc, s.sig, sizeof(s.sig));
        memcpy(sig_tc + sizeof(s.sig), tc, tc_len);
        if (crypto_sign_verify_detached(global_sig, sig_tc, sizeof(s.sig) + tc_len, pk->pk) != 0)
                return agora_error_set(err, AGORA_ERR_INTEGRITY, "signature: trusted comment was altered");
        if (ret_trusted_comment != NULL) {
                *ret_trusted_comment = strndup(tc, tc_len);
                if (*ret_trusted_comment == NULL)
                        return agora_error_set_errno(err, ENOMEM, "signature");
        }
        return 0;
}
