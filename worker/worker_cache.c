/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The worker's blob cache: STATE/blobs/<hex>, one read-only file per
 * content hash, at most LIMIT bytes in all. The least recently used blob
 * that no job has pinned goes first; the time of last use is the file's
 * mtime, so the order survives a restart. Nothing is trusted because it is
 * in the cache: a blob is hashed again each time a job is to use it, and a
 * copy that no longer matches its name is deleted and fetched again.
 *
 * Callers hold the worker's lock around every call except the upload
 * writes, which touch only the upload's own file.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "worker/worker-internal.h"

typedef struct cache_entry {
        agora_hash hash;
        uint64_t size;
        struct timespec used;
        unsigned pins;
} cache_entry;

struct blob_cache {
        char *dir;
        int dirfd;
        uint64_t limit;
        uint64_t bytes;
        cache_entry *e;
        size_t n, alloc;
        unsigned long upload_seq;
};

struct cache_upload {
        blob_cache *c;
        agora_hash want;
        uint64_t size;
        uint64_t written;
        agora_hasher *hasher;
        int fd;
        char tmp[96];
};

static cache_entry *find(const blob_cache *c, const agora_hash *h)
{
        for (size_t i = 0; i < c->n; i++)
                if (agora_hash_equal(&c->e[i].hash, h))
                        return &c->e[i];
        return NULL;
}

static void drop(blob_cache *c, cache_entry *e)
{
        char hex[AGORA_HASH_HEX_LEN + 1];

        agora_hash_hex(&e->hash, hex);
        (void)unlinkat(c->dirfd, hex, 0);
        c->bytes -= e->size;
        *e = c->e[--c->n];
}

static int add(blob_cache *c, const agora_hash *h, uint64_t size, struct timespec used, agora_error_t *err)
{
        if (c->n == c->alloc) {
                size_t want = c->alloc ? 2 * c->alloc : 64;
                cache_entry *grown = realloc(c->e, want * sizeof(*grown));
                if (grown == NULL)
                        return agora_error_set_errno(err, ENOMEM, "blob cache");
                c->e = grown;
                c->alloc = want;
        }
        c->e[c->n++] = (cache_entry){.hash = *h, .size = size, .used = used};
        c->bytes += size;
        return 0;
}

static bool older(struct timespec a, struct timespec b)
{
        return a.tv_sec < b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec < b.tv_nsec);
}

/* Evict least recently used, unpinned blobs until the cache fits. */
static void evict(blob_cache *c)
{
        while (c->bytes > c->limit) {
                cache_entry *victim = NULL;
                for (size_t i = 0; i < c->n; i++)
                        if (c->e[i].pins == 0 && (victim == NULL || older(c->e[i].used, victim->used)))
                                victim = &c->e[i];
                if (victim == NULL)
                        return; /* everything left is in use */
                char hex[AGORA_HASH_HEX_LEN + 1];
                agora_hash_hex(&victim->hash, hex);
                worker_log(LOG_LVL_INFO, "cache: evicted sha256:%s (%llu bytes)", hex,
                           (unsigned long long)victim->size);
                drop(c, victim);
        }
}

int cache_open(const char *dir, uint64_t limit, blob_cache **ret, agora_error_t *err)
{
        _cleanup_free_ blob_cache *c = calloc(1, sizeof(*c));
        DIR *d;
        struct dirent *de;
        int fd;

        if (c == NULL)
                return agora_error_set_errno(err, ENOMEM, "blob cache");
        if (fs_mkdir_p(dir, 0700, err) < 0)
                return -1;
        c->limit = limit;
        c->dir = strdup(dir);
        c->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (c->dir == NULL || c->dirfd < 0) {
                agora_error_set_errno(err, errno, "blob cache '%s'", dir);
                goto fail;
        }
        fd = dup(c->dirfd);
        d = fd >= 0 ? fdopendir(fd) : NULL;
        if (d == NULL) {
                agora_error_set_errno(err, errno, "blob cache '%s'", dir);
                if (fd >= 0)
                        close(fd);
                goto fail;
        }
        while ((de = readdir(d)) != NULL) {
                char name[sizeof(de->d_name) + 8];
                agora_hash h;
                struct stat st;
                _cleanup_error_ agora_error_t perr = NULL;

                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                snprintf(name, sizeof(name), "sha256:%s", de->d_name);
                /* Leftovers of uploads cut short, and anything else that is
                 * not a blob, go: only complete, checked blobs live here. */
                if (strlen(de->d_name) != AGORA_HASH_HEX_LEN || agora_hash_parse(name, &h, &perr) < 0 ||
                    fstatat(c->dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode)) {
                        (void)unlinkat(c->dirfd, de->d_name, 0);
                        continue;
                }
                if (add(c, &h, (uint64_t)st.st_size, st.st_mtim, err) < 0) {
                        closedir(d);
                        goto fail;
                }
        }
        closedir(d);
        evict(c);
        *ret = take_ptr(c);
        return 0;
fail:
        if (c->dirfd >= 0)
                close(c->dirfd);
        free(c->dir);
        free(c->e);
        return -1;
}

void cache_free(blob_cache *c)
{
        if (c == NULL)
                return;
        close(c->dirfd);
        free(c->dir);
        free(c->e);
        free(c);
}

void cache_path(const blob_cache *c, const agora_hash *h, char *out, size_t n)
{
        char hex[AGORA_HASH_HEX_LEN + 1];

        agora_hash_hex(h, hex);
        snprintf(out, n, "%s/%s", c->dir, hex);
}

int cache_pin_if_valid(blob_cache *c, const agora_hash *h)
{
        cache_entry *e = find(c, h);
        char hex[AGORA_HASH_HEX_LEN + 1];
        _cleanup_close_ int fd = -1;
        _cleanup_error_ agora_error_t herr = NULL;
        agora_hash got;

        if (e == NULL)
                return 0;
        agora_hash_hex(h, hex);
        fd = openat(c->dirfd, hex, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0 || agora_hash_fd(fd, "cached blob", &got, &herr) < 0 || !agora_hash_equal(&got, h)) {
                worker_log(LOG_LVL_WARNING, "cache: sha256:%s no longer matches its bytes; dropped", hex);
                if (e->pins == 0)
                        drop(c, e);
                return 0;
        }
        e->pins++;
        clock_gettime(CLOCK_REALTIME, &e->used);
        (void)futimens(fd, NULL);
        return 1;
}

void cache_unpin(blob_cache *c, const agora_hash *h)
{
        cache_entry *e = find(c, h);

        if (e != NULL && e->pins > 0 && --e->pins == 0)
                evict(c);
}

int cache_read(const blob_cache *c, const agora_hash *h, size_t max, char **ret, size_t *ret_len, agora_error_t *err)
{
        char path[4096];

        cache_path(c, h, path, sizeof(path));
        return fs_read_file(path, max, ret, ret_len, err);
}

void cache_stats(const blob_cache *c, uint64_t *ret_bytes, uint64_t *ret_limit, size_t *ret_count)
{
        *ret_bytes = c->bytes;
        *ret_limit = c->limit;
        *ret_count = c->n;
}

int cache_upload_begin(blob_cache *c, const agora_hash *h, uint64_t size, cache_upload **ret, agora_error_t *err)
{
        _cleanup_free_ cache_upload *u = calloc(1, sizeof(*u));
        char hex[AGORA_HASH_HEX_LEN + 1];

        agora_hash_hex(h, hex);
        if (u == NULL)
                return agora_error_set_errno(err, ENOMEM, "blob sha256:%s", hex);
        if (size > c->limit)
                return agora_error_set(err, AGORA_ERR_FAILED,
                                       "blob sha256:%s: %llu bytes, larger than the cache (%llu)", hex,
                                       (unsigned long long)size, (unsigned long long)c->limit);
        u->c = c;
        u->want = *h;
        u->size = size;
        /* A dot name, which cache_open sweeps and find() never sees. */
        snprintf(u->tmp, sizeof(u->tmp), ".upload-%lu-%.16s", ++c->upload_seq, hex);
        u->fd = openat(c->dirfd, u->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0400);
        if (u->fd < 0)
                return agora_error_set_errno(err, errno, "blob cache: '%s'", u->tmp);
        if (agora_hasher_new(&u->hasher, err) < 0) {
                close(u->fd);
                (void)unlinkat(c->dirfd, u->tmp, 0);
                return -1;
        }
        *ret = take_ptr(u);
        return 0;
}

int cache_upload_write(cache_upload *u, uint64_t offset, const void *data, size_t len, agora_error_t *err)
{
        if (offset != u->written)
                return agora_error_set(err, AGORA_ERR_USAGE, "chunk at offset %llu, want %llu",
                                       (unsigned long long)offset, (unsigned long long)u->written);
        if (len > u->size - u->written)
                return agora_error_set(err, AGORA_ERR_USAGE, "chunk runs past the blob's size of %llu",
                                       (unsigned long long)u->size);
        if (fs_write_all(u->fd, data, len) < 0)
                return agora_error_set_errno(err, errno, "blob cache: writing '%s'", u->tmp);
        agora_hasher_update(u->hasher, data, len);
        u->written += len;
        return 0;
}

bool cache_upload_complete(const cache_upload *u)
{
        return u->written == u->size;
}

void cache_upload_abort(cache_upload *u)
{
        if (u == NULL)
                return;
        close(u->fd);
        (void)unlinkat(u->c->dirfd, u->tmp, 0);
        agora_hasher_free(u->hasher);
        free(u);
}

int cache_upload_finish(blob_cache *c, cache_upload *u, agora_error_t *err)
{
        char hex[AGORA_HASH_HEX_LEN + 1], got_s[AGORA_HASH_STR_LEN + 1];
        struct timespec now;
        cache_entry *e;
        agora_hash got;
        int r = -1;

        agora_hash_hex(&u->want, hex);
        agora_hasher_final(u->hasher, &got);
        if (!agora_hash_equal(&got, &u->want)) {
                agora_hash_format(&got, got_s);
                agora_error_set(err, AGORA_ERR_INTEGRITY, "blob sha256:%s: the bytes sent hash to %s", hex, got_s);
                goto out;
        }
        if (fsync(u->fd) < 0) {
                agora_error_set_errno(err, errno, "blob cache: '%s'", u->tmp);
                goto out;
        }
        clock_gettime(CLOCK_REALTIME, &now);
        e = find(c, &u->want);
        if (e != NULL) {
                /* Another job brought the same blob meanwhile. */
                e->pins++;
                e->used = now;
                r = 0;
                goto out;
        }
        if (renameat(c->dirfd, u->tmp, c->dirfd, hex) < 0) {
                agora_error_set_errno(err, errno, "blob cache: sha256:%s", hex);
                goto out;
        }
        if (add(c, &u->want, u->size, now, err) < 0) {
                (void)unlinkat(c->dirfd, hex, 0);
                goto out;
        }
        c->e[c->n - 1].pins = 1;
        evict(c);
        r = 0;
out:
        cache_upload_abort(u); /* unlinks the temporary name if it is still there */
        return r;
}
