/* SPDX-License-Identifier: Apache-2.0 */
#include "common/fsutil.h"

#include <ftw.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"

static int set_errno_kind(agora_error_t *err, int errnum, const char *path)
{
        agora_error_set_errno(err, errnum, "'%s'", path);
        if (errnum == ENOENT && err != NULL && *err != NULL)
                (*err)->kind = AGORA_ERR_NOTFOUND;
        return -1;
}

int fs_read_file(const char *path, size_t max, char **ret_buf, size_t *ret_len, agora_error_t *err)
{
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *buf = NULL;
        size_t len = 0, cap;
        struct stat st;

        /* O_NOCTTY: a path naming a terminal must not become our controlling tty;
         * O_NONBLOCK: a FIFO must be refused below, not wait for a writer. */
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return set_errno_kind(err, errno, path);
        if (fstat(fd, &st) < 0)
                return agora_error_set_errno(err, errno, "'%s': stat failed", path);
        /* A FIFO or device could block forever or never end. */
        if (!S_ISREG(st.st_mode))
                return agora_error_set(err, AGORA_ERR_FAILED, "'%s': not a regular file", path);
        if ((uint64_t)st.st_size > max)
                return agora_error_set(err, AGORA_ERR_FAILED, "'%s': larger than %zu bytes", path, max);
        cap = (size_t)st.st_size + 1;
        buf = malloc(cap + 1);
        if (buf == NULL)
                return agora_error_set_errno(err, ENOMEM, "'%s'", path);
        /* The file may grow while we read: read to EOF, but never past MAX. */
        for (;;) {
                ssize_t n;
                if (len == cap) {
                        /* One byte past MAX is enough to tell that the file is too big. */
                        size_t limit = max < SIZE_MAX - 1 ? max + 1 : SIZE_MAX - 1;
                        size_t ncap = cap > limit / 2 ? limit : cap * 2;
                        char *nb;
                        if (ncap <= cap)
                                return agora_error_set(err, AGORA_ERR_FAILED, "'%s': larger than %zu bytes", path, max);
                        nb = realloc(buf, ncap + 1);
                        if (nb == NULL)
                                return agora_error_set_errno(err, ENOMEM, "'%s'", path);
                        buf = nb;
                        cap = ncap;
                }
                n = read(fd, buf + len, cap - len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return agora_error_set_errno(err, errno, "'%s': read failed", path);
                }
                if (n == 0)
                        break;
                len += (size_t)n;
                if (len > max)
                        return agora_error_set(err, AGORA_ERR_FAILED, "'%s': larger than %zu bytes", path, max);
        }
        buf[len] = '\0';
        *ret_buf = take_ptr(buf);
        if (ret_len != NULL)
                *ret_len = len;
        return 0;
}

/* The temporary file goes away on every path that does not hand it on. */
static void unlink_freep(char **p)
{
        if (*p != NULL) {
                int saved = errno;
                unlink(*p);
                errno = saved;
                free(*p);
        }
}

int fs_write_all(int fd, const void *buf, size_t len)
{
        const char *p = buf;

        while (len > 0) {
                ssize_t n = write(fd, p, len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -1;
                }
                p += n;
                len -= (size_t)n;
        }
        return 0;
}

/* Make the new directory entry durable, not just the file's bytes. */
static int fsync_dir(const char *dir, const char *path, agora_error_t *err)
{
        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        if (dfd < 0)
                return agora_error_set_errno(err, errno, "'%s': cannot open its directory", path);
        if (fsync(dfd) < 0 && errno != EINVAL)
                return agora_error_set_errno(err, errno, "'%s': cannot sync its directory", path);
        return 0;
}

/* Give the unnamed O_TMPFILE FD the name PATH. Without OVERWRITE, linkat
 * refuses an existing PATH, so two writers racing for one name cannot both
 * win. With it, the file is linked under a fresh temporary name and renamed
 * over PATH; that name exists only between two system calls. */
static int place_unnamed(int fd, const char *dir, const char *base, const char *path, bool overwrite,
                         agora_error_t *err)
{
        char fdpath[64];

        snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", fd);
        if (!overwrite) {
                if (linkat(AT_FDCWD, fdpath, AT_FDCWD, path, AT_SYMLINK_FOLLOW) == 0)
                        return 0;
                if (errno == EEXIST)
                        return agora_error_set(err, AGORA_ERR_EXISTS, "'%s': already exists, refusing to overwrite",
                                               path);
                return agora_error_set_errno(err, errno, "'%s': cannot link into place", path);
        }
        for (int attempt = 0; attempt < 16; attempt++) {
                _cleanup_free_ char *tmp = NULL;
                unsigned long r = ((unsigned long)getpid() << 16) ^ (unsigned long)random() ^ (unsigned long)attempt;

                if (asprintf(&tmp, "%s/.%s.%08lx", dir, base, r & 0xffffffffUL) < 0)
                        return agora_error_set_errno(err, ENOMEM, "'%s'", path);
                if (linkat(AT_FDCWD, fdpath, AT_FDCWD, tmp, AT_SYMLINK_FOLLOW) < 0) {
                        if (errno == EEXIST)
                                continue;
                        return agora_error_set_errno(err, errno, "'%s': cannot link into place", path);
                }
                if (rename(tmp, path) < 0) {
                        int e = errno;
                        unlink(tmp);
                        return agora_error_set_errno(err, e, "'%s': cannot move into place", path);
                }
                return 0;
        }
        return agora_error_set(err, AGORA_ERR_FAILED, "'%s': cannot find a free temporary name", path);
}

/* The same with a named temporary file, for file systems without O_TMPFILE
 * (a kill between create and rename leaves that name behind there). */
static int write_named(const char *dir, const char *base, const char *path, const void *buf, size_t len, mode_t mode,
                       bool overwrite, agora_error_t *err)
{
        _cleanup_(unlink_freep) char *tmp = NULL;
        _cleanup_close_ int fd = -1;
        char *t = NULL;

        if (asprintf(&t, "%s/.%s.XXXXXX", dir, base) < 0)
                return agora_error_set_errno(err, ENOMEM, "'%s'", path);
        /* Same directory, so the final link/rename never crosses a file
         * system and is atomic. */
        fd = mkostemp(t, O_CLOEXEC);
        if (fd < 0) {
                int e = errno;
                free(t);
                return agora_error_set_errno(err, e, "'%s': cannot create temporary file", path);
        }
        tmp = t;
        if (fchmod(fd, mode) < 0)
                return agora_error_set_errno(err, errno, "'%s': cannot set mode", path);
        if (fs_write_all(fd, buf, len) < 0 || fsync(fd) < 0)
                return agora_error_set_errno(err, errno, "'%s': write failed", path);
        if (close(take_fd(fd)) < 0)
                return agora_error_set_errno(err, errno, "'%s': write failed", path);

        if (overwrite) {
                if (rename(tmp, path) < 0)
                        return agora_error_set_errno(err, errno, "'%s': cannot move into place", path);
                free(take_ptr(tmp));
                return 0;
        }
        if (link(tmp, path) < 0) {
                if (errno == EEXIST)
                        return agora_error_set(err, AGORA_ERR_EXISTS, "'%s': already exists, refusing to overwrite",
                                               path);
                if (errno != EPERM && errno != ENOTSUP)
                        return agora_error_set_errno(err, errno, "'%s': cannot link into place", path);
                /* File systems without hard links. */
                if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) < 0) {
                        if (errno == EEXIST)
                                return agora_error_set(err, AGORA_ERR_EXISTS,
                                                       "'%s': already exists, refusing to overwrite", path);
                        return agora_error_set_errno(err, errno, "'%s': cannot move into place", path);
                }
                free(take_ptr(tmp));
        }
        /* unlink_freep removes the temporary name if it is still there. */
        return 0;
}

int fs_write_atomic(const char *path, const void *buf, size_t len, mode_t mode, bool overwrite, agora_error_t *err)
{
        _cleanup_free_ char *dir = NULL;
        _cleanup_close_ int fd = -1;
        const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;

        if (*base == '\0')
                return agora_error_set(err, AGORA_ERR_USAGE, "'%s': not a file path", path);
        if (slash == NULL)
                dir = strdup(".");
        else if (slash == path)
                dir = strdup("/");
        else
                dir = strndup(path, (size_t)(slash - path));
        if (dir == NULL)
                return agora_error_set_errno(err, ENOMEM, "'%s'", path);

        /* An unnamed file until it is whole: a writer killed halfway leaves
         * nothing behind, which matters when the bytes are a secret key. */
        fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, mode & 07777);
        if (fd < 0) {
                if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
                        return agora_error_set_errno(err, errno, "'%s': cannot create temporary file", path);
                if (write_named(dir, base, path, buf, len, mode, overwrite, err) < 0)
                        return -1;
                return fsync_dir(dir, path, err);
        }
        if (fchmod(fd, mode) < 0)
                return agora_error_set_errno(err, errno, "'%s': cannot set mode", path);
        /* ENOSPC and EDQUOT may only show at fsync on some file systems, so
         * each of them counts as the write failing. */
        if (fs_write_all(fd, buf, len) < 0 || fsync(fd) < 0)
                return agora_error_set_errno(err, errno, "'%s': write failed", path);
        if (place_unnamed(fd, dir, base, path, overwrite, err) < 0)
                return -1;
        return fsync_dir(dir, path, err);
}

int fs_mkdir_p(const char *path, mode_t mode, agora_error_t *err)
{
        _cleanup_free_ char *p = strdup(path);
        struct stat st;

        if (p == NULL)
                return agora_error_set_errno(err, ENOMEM, "'%s'", path);
        if (*p == '\0')
                return agora_error_set(err, AGORA_ERR_USAGE, "'': not a directory path");
        for (char *s = p + 1;; s++) {
                if (*s != '/' && *s != '\0')
                        continue;
                char c = *s;
                *s = '\0';
                if (mkdir(p, mode) < 0) {
                        int e = errno;
                        /* EEXIST covers any kind of entry: only a directory
                         * (or a symlink to one) will do. */
                        if (e != EEXIST)
                                return agora_error_set_errno(err, e, "'%s': cannot create directory", p);
                        if (stat(p, &st) < 0 || !S_ISDIR(st.st_mode))
                                return agora_error_set(err, AGORA_ERR_FAILED, "'%s': exists and is not a directory", p);
                }
                *s = c;
                if (c == '\0')
                        break;
                while (s[1] == '/')
                        s++;
                if (s[1] == '\0')
                        break;
        }
        return 0;
}

/* Resolve PATH into OUT as the kernel will once its missing parts are
 * created as directories: walk it component by component from "/" (or the
 * working directory); a component that exists is resolved with realpath(3),
 * symlinks and all; one that does not is appended as it is; ".." climbs from
 * what is resolved so far, which is what the kernel does. False when the
 * result cannot be known (a dangling symlink: writing through it would go
 * wherever it points) or is too long. */
static bool resolve_prospective(const char *path, char out[PATH_MAX])
{
        const char *p = path;
        struct stat st;

        if (*path == '\0')
                return false;
        if (*path == '/')
                strcpy(out, "/");
        else if (getcwd(out, PATH_MAX) == NULL)
                return false;
        while (*p) {
                const char *e = strchrnul(p, '/');
                size_t n = (size_t)(e - p), o = strlen(out);

                if (n == 2 && p[0] == '.' && p[1] == '.') {
                        char *slash = strrchr(out, '/');
                        if (slash == out)
                                out[1] = '\0';
                        else if (slash != NULL)
                                *slash = '\0';
                } else if (n > 0 && !(n == 1 && p[0] == '.')) {
                        char next[PATH_MAX];
                        if (o + n + 2 > PATH_MAX)
                                return false;
                        memcpy(next, out, o);
                        if (o != 1)
                                next[o++] = '/';
                        memcpy(next + o, p, n);
                        next[o + n] = '\0';
                        if (lstat(next, &st) == 0) {
                                if (realpath(next, out) == NULL)
                                        return false;
                        } else if (errno == ENOENT) {
                                strcpy(out, next);
                        } else {
                                return false;
                        }
                }
                p = *e ? e + 1 : e;
        }
        return true;
}

bool fs_path_is_within(const char *dir, const char *path)
{
        char rdir[PATH_MAX], rpath[PATH_MAX];
        size_t n;

        if (!resolve_prospective(dir, rdir) || !resolve_prospective(path, rpath))
                return false;
        n = strlen(rdir);
        if (n == 1 && rdir[0] == '/')
                return true;
        return strncmp(rpath, rdir, n) == 0 && (rpath[n] == '\0' || rpath[n] == '/');
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        (void)st;
        (void)ftw;
        /* FTW_DEPTH visits children first, so directories are empty by then. */
        return (flag == FTW_DP ? rmdir(path) : unlink(path)) < 0 && errno != ENOENT ? -1 : 0;
}

int fs_remove_tree(const char *path, agora_error_t *err)
{
        struct stat st;

        if (lstat(path, &st) < 0)
                return errno == ENOENT ? 0 : agora_error_set_errno(err, errno, "'%s'", path);
        if (nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) < 0)
                return agora_error_set_errno(err, errno, "'%s': cannot remove", path);
        return 0;
}

int fs_program_beside_self(const char *env_var, const char *name, char **ret, agora_error_t *err)
{
        const char *v = getenv(env_var);
        _cleanup_free_ char *path = NULL;
        char self[PATH_MAX];
        ssize_t n;

        if (v != NULL && v[0] != '\0') {
                path = strdup(v);
        } else {
                n = readlink("/proc/self/exe", self, sizeof(self) - 1);
                if (n < 0)
                        return agora_error_set_errno(err, errno, "%s: where this program is", name);
                self[n] = '\0';
                char *slash = strrchr(self, '/');
                if (slash != NULL)
                        *slash = '\0';
                if (asprintf(&path, "%s/%s", self, name) < 0)
                        path = NULL;
        }
        if (path == NULL)
                return agora_error_set_errno(err, ENOMEM, "%s", name);
        if (access(path, X_OK) < 0)
                return agora_error_set(err, AGORA_ERR_NOTFOUND, "'%s': %s (set %s)", path, strerror(errno), env_var);
        *ret = take_ptr(path);
        return 0;
}
