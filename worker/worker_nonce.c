/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Nonces seen, one empty file each, under a directory per minute of expiry:
 * STATE/nonces/<expiresAt/60>/<nonce>. O_EXCL makes the check and the
 * record one atomic step, across threads and across a restart, and a whole
 * minute of expired nonces goes with one directory. A manifest is refused
 * after its expiry anyway, so its nonce is only needed until then.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/schema.h"
#include "worker/worker-internal.h"

struct nonce_store {
        int dirfd;
        char *dir;
};

int nonce_store_open(const char *dir, nonce_store **ret, agora_error_t *err)
{
        nonce_store *s;

        if (fs_mkdir_p(dir, 0700, err) < 0)
                return -1;
        s = calloc(1, sizeof(*s));
        if (s == NULL)
                return agora_error_set_errno(err, ENOMEM, "nonce store");
        s->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        s->dir = strdup(dir);
        if (s->dirfd < 0 || s->dir == NULL) {
                agora_error_set_errno(err, errno, "nonce store '%s'", dir);
                nonce_store_free(s);
                return -1;
        }
        *ret = s;
        return 0;
}

void nonce_store_free(nonce_store *s)
{
        if (s == NULL)
                return;
        if (s->dirfd >= 0)
                close(s->dirfd);
        free(s->dir);
        free(s);
}

int nonce_store_claim(nonce_store *s, const char *nonce, int64_t expires_at, agora_error_t *err)
{
        char bucket[32], path[96];
        _cleanup_close_ int bfd = -1;
        int fd;

        snprintf(bucket, sizeof(bucket), "%lld", (long long)(expires_at / 60));
        if (mkdirat(s->dirfd, bucket, 0700) < 0 && errno != EEXIST)
                return agora_error_set_errno(err, errno, "nonce store '%s/%s'", s->dir, bucket);
        snprintf(path, sizeof(path), "%s/%s", bucket, nonce);
        fd = openat(s->dirfd, path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0 && errno == EEXIST)
                return agora_error_set(err, AGORA_ERR_EXISTS, "nonce %s was used before", nonce);
        if (fd < 0)
                return agora_error_set_errno(err, errno, "nonce store '%s/%s'", s->dir, path);
        close(fd);
        /* The record must outlive a crash of the host, not only of the
         * worker: the bucket's entry is what a replay would be checked
         * against after a reboot. */
        bfd = openat(s->dirfd, bucket, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (bfd < 0 || fsync(bfd) < 0)
                return agora_error_set_errno(err, errno, "nonce store '%s/%s'", s->dir, bucket);
        return 0;
}

void nonce_store_sweep(nonce_store *s, int64_t now)
{
        _cleanup_error_ agora_error_t err = NULL;
        DIR *d;
        struct dirent *e;
        int fd = dup(s->dirfd);

        if (fd < 0 || (d = fdopendir(fd)) == NULL) {
                if (fd >= 0)
                        close(fd);
                return;
        }
        rewinddir(d);
        while ((e = readdir(d)) != NULL) {
                uint64_t minute;
                /* Buckets are named by minute; anything else is not ours
                 * to remove (and a minute past this bound cannot be). */
                if (schema_parse_uint(e->d_name, INT64_MAX / 60 - 1, &minute) < 0)
                        continue;
                /* Every nonce in the bucket expired before the minute's end. */
                if ((int64_t)(minute + 1) * 60 <= now) {
                        char path[4096];
                        snprintf(path, sizeof(path), "%s/%s", s->dir, e->d_name);
                        if (fs_remove_tree(path, &err) < 0) {
                                worker_log(LOG_LVL_WARNING, "nonce store: %s", agora_error_message(err));
                                agora_error_release(&err);
                        }
                }
        }
        closedir(d);
}
