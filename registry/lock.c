/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The registry lock. Mutations read the head, stage a tree and move the
 * branch; two agora commands doing that at once would each build on the same
 * head and one would lose its change. An exclusive flock serialises them.
 *
 * flock rather than git's own ref.lock files: a crashed agora leaves a stale
 * *.lock file behind that blocks every later command until someone deletes it
 * by hand, whereas the kernel drops an flock when its holder dies.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/clock.h"
#include "registry/registry-internal.h"

#define LOCK_NAME "agora.lock"
#define LOCK_POLL_MS 10

int registry_lock_acquire(registry *r, int *ret_fd, agora_error_t *err)
{
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -1;
        int64_t deadline;

        /* git_repository_path is the git directory with a trailing '/'. */
        if (asprintf(&path, "%s" LOCK_NAME, git_repository_path(r->repo)) < 0)
                return agora_error_set_errno(err, ENOMEM, "registry '%s': lock", r->path);
        /* O_NOFOLLOW: a symlink planted at the lock path must not make us
         * create or truncate a file elsewhere. */
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return agora_error_set_errno(err, errno, "registry '%s': cannot open lock '%s'", r->path, path);
        deadline = clock_monotonic_ms() + r->lock_timeout_ms;
        for (;;) {
                if (flock(fd, LOCK_EX | LOCK_NB) == 0)
                        break;
                if (errno != EWOULDBLOCK && errno != EINTR)
                        return agora_error_set_errno(err, errno, "registry '%s': cannot lock '%s'", r->path, path);
                if (clock_monotonic_ms() >= deadline)
                        return agora_error_set(
                                err, AGORA_ERR_BUSY,
                                "registry busy: '%s' is being changed by another agora command; try again", r->path);
                clock_sleep_ms(LOCK_POLL_MS);
        }
        *ret_fd = take_fd(fd);
        return 0;
}

void registry_lock_release(int fd)
{
        /* Closing the last descriptor drops the flock. */
        if (fd >= 0)
                close(fd);
}
