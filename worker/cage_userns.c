/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Layer 2: the user namespace's id maps. uid 0 and gid 0 of the cage map to
 * one unprivileged host id each, and nothing else is mapped, so a file the
 * cage creates on a bind mount belongs to nobody of the host, and a process
 * that got out of every other layer would still be a stranger there.
 *
 * The id is unique per running cage: two cages sharing a host uid could
 * signal, ptrace or read each other's /proc entries as "the same user".
 * The slot is held by an OFD lock on one byte of a shared lock file: the
 * kernel drops it when the holder dies, so a killed agora-cage never leaks
 * a slot and no per-cage file is left behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "worker/cage-internal.h"

int cage_userns_reserve_parent(cage_ids *ret, agora_error_t *err)
{
        _cleanup_close_ int fd = -1;
        unsigned start;

        ret->lock_fd = -1;
        if (fs_mkdir_p("/run/agora", 0755, err) < 0)
                return agora_error_wrap(err, "cage: host id lock");
        fd = open(CAGE_ID_LOCK_FILE, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return agora_error_set_errno(err, errno, "cage: host id lock %s", CAGE_ID_LOCK_FILE);
        /* Start where this process's pid points, so concurrent cages rarely
         * probe the same slots. */
        start = (unsigned)getpid() % CAGE_ID_SLOTS;
        for (unsigned i = 0; i < CAGE_ID_SLOTS; i++) {
                unsigned slot = (start + i) % CAGE_ID_SLOTS;
                struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = slot, .l_len = 1};

                if (fcntl(fd, F_OFD_SETLK, &fl) == 0) {
                        ret->host_uid = CAGE_ID_BASE + slot;
                        ret->host_gid = CAGE_ID_BASE + slot;
                        ret->lock_fd = take_fd(fd);
                        return 0;
                }
                if (errno != EAGAIN && errno != EACCES)
                        return agora_error_set_errno(err, errno, "cage: locking host id slot in %s", CAGE_ID_LOCK_FILE);
        }
        return agora_error_set(err, AGORA_ERR_BUSY, "cage: all %u host ids are in use by running cages", CAGE_ID_SLOTS);
}

static int write_proc(pid_t pid, const char *file, const char *text, agora_error_t *err)
{
        char path[64];
        _cleanup_close_ int fd = -1;
        size_t len = strlen(text);

        snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
        fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, text, len) != (ssize_t)len)
                return agora_error_set_errno(err, errno, "cage: writing '%.*s' to %s", (int)strcspn(text, "\n"), text,
                                             path);
        return 0;
}

int cage_userns_map_parent(pid_t pid, const cage_ids *ids, agora_error_t *err)
{
        char map[64];

        /* setgroups is denied before the gid map is written: otherwise the
         * cage could drop a supplementary group that guards a host file
         * ("negative" group permissions), the hole behind CVE-2014-8989. */
        if (write_proc(pid, "setgroups", "deny\n", err) < 0)
                return -1;
        snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)ids->host_uid);
        if (write_proc(pid, "uid_map", map, err) < 0)
                return -1;
        snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)ids->host_gid);
        return write_proc(pid, "gid_map", map, err);
}

void cage_userns_release_parent(cage_ids *ids)
{
        if (ids->lock_fd >= 0)
                close(ids->lock_fd);
        ids->lock_fd = -1;
}

static bool slot_of(uid_t host_uid, unsigned *ret)
{
        if (host_uid < CAGE_ID_BASE || host_uid - CAGE_ID_BASE >= CAGE_ID_SLOTS)
                return false;
        *ret = host_uid - CAGE_ID_BASE;
        return true;
}

int cage_userns_try_hold_parent(const cage_ids *mine, uid_t host_uid, agora_error_t *err)
{
        unsigned slot;

        if (!slot_of(host_uid, &slot))
                return 0;
        if (host_uid == mine->host_uid)
                return 1; /* ours already: whatever is there was left by a dead holder */
        struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = slot, .l_len = 1};
        if (fcntl(mine->lock_fd, F_OFD_SETLK, &fl) == 0)
                return 1;
        if (errno == EAGAIN || errno == EACCES)
                return 0;
        return agora_error_set_errno(err, errno, "cage: locking host id slot %u in %s", slot, CAGE_ID_LOCK_FILE);
}

void cage_userns_unhold_parent(const cage_ids *mine, uid_t host_uid)
{
        unsigned slot;

        if (!slot_of(host_uid, &slot) || host_uid == mine->host_uid)
                return;
        struct flock fl = {.l_type = F_UNLCK, .l_whence = SEEK_SET, .l_start = slot, .l_len = 1};
        (void)fcntl(mine->lock_fd, F_OFD_SETLK, &fl);
}
