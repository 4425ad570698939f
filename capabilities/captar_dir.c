/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Directory input. The tree is walked breadth-first through the entry list
 * itself, opening one directory at a time relative to the root fd, so depth
 * costs no file descriptors. Nothing is ever followed: a symlink planted in
 * the tree is an error, not a way to read the operator's ~/.ssh.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "capabilities/captar-internal.h"
#include "common/cleanup.h"

static void closedirp(DIR **d)
{
        if (*d != NULL)
                closedir(*d);
}

/* Component by component with O_NOFOLLOW, for kernels before openat2 (5.6). */
static int open_walk(int root_fd, const char *path, int flags)
{
        _cleanup_free_ char *copy = strdup(path);
        _cleanup_close_ int dir = -1;
        char *save = NULL, *part, *next;

        if (copy == NULL) {
                errno = ENOMEM;
                return -1;
        }
        part = strtok_r(copy, "/", &save);
        while (part != NULL) {
                next = strtok_r(NULL, "/", &save);
                int f = next ? O_RDONLY | O_DIRECTORY : flags;
                int fd = openat(dir >= 0 ? dir : root_fd, part, f | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0)
                        return -1;
                cleanup_closep(&dir);
                dir = fd;
                part = next;
        }
        return take_fd(dir);
}

/* Open PATH below ROOT_FD without following any symlink or leaving the tree,
 * even if someone swaps a directory for a link while we walk. */
static int open_beneath(int root_fd, const char *path, int flags)
{
        struct open_how how = {
                .flags = (uint64_t)(flags | O_NOFOLLOW | O_CLOEXEC),
                .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
        };
        long fd = syscall(SYS_openat2, root_fd, path, &how, sizeof(how));

        if (fd < 0 && errno == ENOSYS)
                return open_walk(root_fd, path, flags);
        return (int)fd;
}

static int scan_one(captar_list *l, size_t dir_index, agora_error_t *err)
{
        _cleanup_(closedirp) DIR *d = NULL;
        _cleanup_free_ char *dirpath = NULL;
        struct stat st;
        int fd;

        if (dir_index != SIZE_MAX) {
                dirpath = strdup(l->entries[dir_index].path);
                if (dirpath == NULL)
                        return agora_error_set_errno(err, ENOMEM, "capability '%s'", l->name);
        }
        /* A fresh open even for the root: a dup would share its offset. */
        fd = open_beneath(l->root_fd, dirpath ? dirpath : ".", O_RDONLY | O_DIRECTORY);
        if (fd < 0)
                return agora_error_set_errno(err, errno, "capability '%s': '%s': cannot open directory", l->name,
                                             dirpath ? dirpath : ".");
        d = fdopendir(fd);
        if (d == NULL) {
                int saved = errno;
                close(fd);
                return agora_error_set_errno(err, saved, "capability '%s': '%s'", l->name, dirpath ? dirpath : ".");
        }
        for (;;) {
                _cleanup_free_ char *child = NULL;
                struct dirent *de;
                size_t index;

                errno = 0;
                de = readdir(d);
                if (de == NULL) {
                        if (errno != 0)
                                return agora_error_set_errno(err, errno, "capability '%s': '%s': reading directory",
                                                             l->name, dirpath ? dirpath : ".");
                        break;
                }
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                if (asprintf(&child, "%s%s%s", dirpath ? dirpath : "", dirpath ? "/" : "", de->d_name) < 0) {
                        child = NULL;
                        return agora_error_set_errno(err, ENOMEM, "capability '%s'", l->name);
                }
                if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        return agora_error_set_errno(err, errno, "capability '%s': '%s'", l->name, child);
                if (captar_check_type(l, child, st.st_mode, false, err) < 0)
                        return -1;
                if (captar_list_add(l, child, S_ISDIR(st.st_mode), st.st_mode,
                                    S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0, &index, err) < 0)
                        return -1;
                l->entries[index].dev = st.st_dev;
                l->entries[index].ino = st.st_ino;
        }
        return 0;
}

int captar_dir_scan(captar_list *l, agora_error_t *err)
{
        if (scan_one(l, SIZE_MAX, err) < 0)
                return -1;
        /* The list grows while we walk it: each directory's children are
         * appended behind it and visited in turn. */
        for (size_t i = 0; i < l->n_entries; i++)
                if (l->entries[i].is_dir && scan_one(l, i, err) < 0)
                        return -1;
        return 0;
}

int captar_dir_open_entry(const captar_list *l, const captar_entry *e, agora_error_t *err)
{
        _cleanup_close_ int fd = open_beneath(l->root_fd, e->path, O_RDONLY);
        struct stat st;

        if (fd < 0)
                return agora_error_set_errno(err, errno, "capability '%s': '%s'", l->name, e->path);
        if (fstat(fd, &st) < 0)
                return agora_error_set_errno(err, errno, "capability '%s': '%s'", l->name, e->path);
        /* Another file renamed into place since the walk has not been
         * checked; its content must not slip in under the old verdict. */
        if (!S_ISREG(st.st_mode) || st.st_dev != e->dev || st.st_ino != e->ino)
                return agora_error_set(err, AGORA_ERR_FAILED, "capability '%s': '%s': file was replaced while reading",
                                       l->name, e->path);
        if ((uint64_t)st.st_size != e->size)
                return agora_error_set(
                        err, AGORA_ERR_FAILED,
                        "capability '%s': '%s': file changed size while reading (was %llu bytes, now %llu)", l->name,
                        e->path, (unsigned long long)e->size, (unsigned long long)st.st_size);
        (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
        return take_fd(fd);
}
