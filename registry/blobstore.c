/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Storing tarballs as git blobs, fast.
 *
 * libgit2's git_odb_write hashes with collision-detecting SHA-1 in software,
 * about 1 s for a 200 MB tarball, while `agora register` must stay near the
 * cost of `tar | sha256sum`. So the loose object is written here directly, in
 * exactly the format git writes: zlib("blob <len>\0" <bytes>) at
 * objects/<2 hex>/<38 hex>, its name the SHA-1 of the uncompressed stream.
 * Both hashes come from OpenSSL (SHA extensions in hardware), in one pass
 * over the mapped file so the bytes are read from memory once.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "common/cleanup.h"
#include "registry/registry-internal.h"

#define HASH_CHUNK (1u << 20)
#define DEFLATE_OUT (1u << 18)
/* Tarballs are mostly compressed already; above this size deflating costs
 * far more time than it saves disk. Git reads stored blocks just the same. */
#define COMPRESS_MAX (8u << 20)

/* The bytes to store: a read-only mapping of a regular file, or a buffer
 * read from a pipe. */
typedef struct blob_source {
        void *data;
        size_t len;
        bool mapped;
} blob_source;

static void blob_source_release(blob_source *s)
{
        if (s->mapped)
                munmap(s->data, s->len);
        else
                free(s->data);
        s->data = NULL;
}

static int blob_source_read(int fd, blob_source *s, agora_error_t *err)
{
        struct stat st;
        size_t cap = 0;

        *s = (blob_source){0};
        if (fstat(fd, &st) < 0)
                return agora_error_set_errno(err, errno, "blob: cannot stat input");
        if (S_ISREG(st.st_mode)) {
                if (st.st_size == 0)
                        return 0;
                if ((unsigned long long)st.st_size > SIZE_MAX)
                        return agora_error_set(err, AGORA_ERR_FAILED, "blob: input too large");
                s->data = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
                if (s->data == MAP_FAILED) {
                        s->data = NULL;
                        return agora_error_set_errno(err, errno, "blob: cannot map input");
                }
                s->len = (size_t)st.st_size;
                s->mapped = true;
                madvise(s->data, s->len, MADV_SEQUENTIAL);
                return 0;
        }
        for (;;) {
                if (s->len == cap) {
                        cap = cap ? 2 * cap : HASH_CHUNK;
                        void *p = realloc(s->data, cap);
                        if (p == NULL) {
                                blob_source_release(s);
                                return agora_error_set_errno(err, ENOMEM, "blob: reading input");
                        }
                        s->data = p;
                }
                ssize_t n = read(fd, (char *)s->data + s->len, cap - s->len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        int e = errno;
                        blob_source_release(s);
                        return agora_error_set_errno(err, e, "blob: cannot read input");
                }
                if (n == 0)
                        return 0;
                s->len += (size_t)n;
        }
}

static void md_ctx_freep(EVP_MD_CTX **c)
{
        EVP_MD_CTX_free(*c);
}

static void hasher_freep(agora_hasher **h)
{
        agora_hasher_free(*h);
}

/* sha256 of the bytes, and git's object id: SHA-1 of header || bytes. */
static int blob_hash(const blob_source *s, const char *header, size_t header_len, agora_hash *ret_sha256,
                     git_oid *ret_oid, agora_error_t *err)
{
        _cleanup_(md_ctx_freep) EVP_MD_CTX *sha1 = EVP_MD_CTX_new();
        _cleanup_(hasher_freep) agora_hasher *sha256 = NULL;
        unsigned char digest[EVP_MAX_MD_SIZE];
        unsigned digest_len = 0;

        if (agora_hasher_new(&sha256, err) < 0)
                return -1;
        if (sha1 == NULL || EVP_DigestInit_ex(sha1, EVP_sha1(), NULL) != 1 ||
            EVP_DigestUpdate(sha1, header, header_len) != 1)
                return agora_error_set(err, AGORA_ERR_FAILED, "blob: libcrypto refused SHA-1");
        /* Both hashes per chunk: the chunk is still in cache for the second. */
        for (size_t off = 0; off < s->len; off += HASH_CHUNK) {
                size_t n = s->len - off < HASH_CHUNK ? s->len - off : HASH_CHUNK;
                const char *p = (const char *)s->data + off;
                agora_hasher_update(sha256, p, n);
                if (EVP_DigestUpdate(sha1, p, n) != 1)
                        return agora_error_set(err, AGORA_ERR_FAILED, "blob: libcrypto refused SHA-1");
        }
        agora_hasher_final(sha256, ret_sha256);
        if (EVP_DigestFinal_ex(sha1, digest, &digest_len) != 1 || digest_len != GIT_OID_RAWSZ)
                return agora_error_set(err, AGORA_ERR_FAILED, "blob: libcrypto refused SHA-1");
        git_oid_fromraw(ret_oid, digest);
        return 0;
}

static int write_all(int fd, const void *buf, size_t len)
{
        const char *p = buf;

        while (len > 0) {
                ssize_t n = write(fd, p, len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -1;
                p += n;
                len -= (size_t)n;
        }
        return 0;
}

/* Deflate header and bytes into FD. Returns 0, or -1 with errno set. */
static int deflate_to(int fd, const char *header, size_t header_len, const blob_source *s)
{
        z_stream z = {0};
        _cleanup_free_ unsigned char *out = malloc(DEFLATE_OUT);
        int rc = -1;

        if (out == NULL) {
                errno = ENOMEM;
                return -1;
        }
        if (deflateInit(&z, s->len < COMPRESS_MAX ? Z_BEST_SPEED : Z_NO_COMPRESSION) != Z_OK) {
                errno = ENOMEM;
                return -1;
        }
        /* Two inputs, header then data; avail_in is 32-bit, so feed the data
         * in pieces. */
        const char *pieces[2] = {header, s->data};
        size_t lens[2] = {header_len, s->len};
        for (int i = 0; i < 2; i++) {
                size_t off = 0;
                do {
                        size_t n = lens[i] - off > (1u << 30) ? (1u << 30) : lens[i] - off;
                        bool last = i == 1 && off + n == lens[i];
                        z.next_in = (unsigned char *)(pieces[i] ? pieces[i] + off : "");
                        z.avail_in = (uInt)n;
                        /* zlib's idiom: deflate until it leaves room in
                         * the output buffer, which means it took all input
                         * (and, with Z_FINISH, ended the stream). */
                        do {
                                z.next_out = out;
                                z.avail_out = DEFLATE_OUT;
                                if (deflate(&z, last ? Z_FINISH : Z_NO_FLUSH) == Z_STREAM_ERROR) {
                                        errno = EIO;
                                        goto out;
                                }
                                if (write_all(fd, out, DEFLATE_OUT - z.avail_out) < 0)
                                        goto out;
                        } while (z.avail_out == 0);
                        off += n;
                } while (off < lens[i]);
        }
        rc = 0;
out:
        deflateEnd(&z);
        return rc;
}

static int fsync_dir(const char *dir)
{
        _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        if (fd < 0 || fsync(fd) < 0)
                return -1;
        return 0;
}

/* Fill FD with the object and make it durable. Returns 0, or -1 with errno. */
static int object_fill(int fd, const char *header, size_t header_len, const blob_source *s)
{
        if (deflate_to(fd, header, header_len, s) < 0 || fchmod(fd, 0444) < 0 || fsync(fd) < 0)
                return -1;
        return 0;
}

/* Write the loose object for OID so that a reader sees the whole object or
 * none. An unnamed O_TMPFILE linked into place leaves nothing behind even
 * when the writer is killed; where the file system lacks O_TMPFILE, a named
 * temporary file renamed into place (git's own tmp_obj_ convention, which
 * git gc collects) does the same but for a kill. */
static int loose_write(registry *r, const git_oid *oid, const char *header, size_t header_len, const blob_source *s,
                       agora_error_t *err)
{
        char hex[GIT_OID_HEXSZ + 1], fdpath[64];
        _cleanup_free_ char *dir = NULL, *tmp = NULL, *final = NULL;
        _cleanup_close_ int fd = -1;

        git_oid_tostr(hex, sizeof(hex), oid);
        if (asprintf(&dir, "%sobjects/%.2s", git_repository_path(r->repo), hex) < 0 ||
            asprintf(&final, "%s/%s", dir, hex + 2) < 0)
                return agora_error_set_errno(err, ENOMEM, "blob %s", hex);
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                return agora_error_set_errno(err, errno, "registry '%s': cannot create '%s'", r->path, dir);

        fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0444);
        if (fd >= 0) {
                if (object_fill(fd, header, header_len, s) < 0)
                        return agora_error_set_errno(err, errno, "registry '%s': cannot write blob object %s", r->path,
                                                     hex);
                snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", fd);
                /* EEXIST: another writer stored the same bytes meanwhile; the
                 * name is the content, so theirs is ours. */
                if (linkat(AT_FDCWD, fdpath, AT_FDCWD, final, AT_SYMLINK_FOLLOW) < 0 && errno != EEXIST)
                        return agora_error_set_errno(err, errno, "registry '%s': cannot store blob object %s", r->path,
                                                     hex);
        } else {
                if (asprintf(&tmp, "%s/tmp_obj_XXXXXX", dir) < 0)
                        return agora_error_set_errno(err, ENOMEM, "blob %s", hex);
                fd = mkostemp(tmp, O_CLOEXEC);
                if (fd < 0)
                        return agora_error_set_errno(err, errno, "registry '%s': cannot create '%s'", r->path, tmp);
                if (object_fill(fd, header, header_len, s) < 0 || rename(tmp, final) < 0) {
                        int e = errno;
                        unlink(tmp);
                        return agora_error_set_errno(err, e, "registry '%s': cannot write blob object %s", r->path,
                                                     hex);
                }
        }
        if (fsync_dir(dir) < 0)
                return agora_error_set_errno(err, errno, "registry '%s': cannot sync '%s'", r->path, dir);
        return 0;
}

int registry_store_blob(registry *r, int fd, const agora_hash *expect, agora_hash *ret, agora_error_t *err)
{
        _cleanup_git_(git_odb) git_odb *odb = NULL;
        blob_source src;
        char header[64];
        agora_hash sha256;
        git_oid oid;
        int header_len, rc = -1;

        if (blob_source_read(fd, &src, err) < 0)
                return -1;
        /* The NUL is part of the header git hashes. */
        header_len = snprintf(header, sizeof(header), "blob %zu", src.len) + 1;
        if (blob_hash(&src, header, (size_t)header_len, &sha256, &oid, err) < 0)
                goto out;
        if (expect != NULL && !agora_hash_equal(expect, &sha256)) {
                char want[AGORA_HASH_STR_LEN + 1], got[AGORA_HASH_STR_LEN + 1];
                agora_hash_format(expect, want);
                agora_hash_format(&sha256, got);
                agora_error_set(err, AGORA_ERR_INTEGRITY, "blob %s: content hashes to %s", want, got);
                goto out;
        }
        if (git_repository_odb(&odb, r->repo) < 0) {
                registry_git_error(err, -1, "registry '%s': object database", r->path);
                goto out;
        }
        if (!git_odb_exists(odb, &oid) && loose_write(r, &oid, header, (size_t)header_len, &src, err) < 0)
                goto out;
        if (registry_blobmap_add(r, &sha256, &oid, err) < 0)
                goto out;
        if (ret != NULL)
                *ret = sha256;
        rc = 0;
out:
        blob_source_release(&src);
        return rc;
}
