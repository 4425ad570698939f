/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Layer 5: a capability's canonical tarball unpacked into its directory of
 * the new root. captar_check_canonical already refused every hostile entry,
 * but this is the step that turns bytes into files as uid 0 of the cage, so
 * every rule is checked again here: a bug in one checker must not be enough
 * to write outside /cap/NAME. Every file and directory is created relative
 * to the fd of its parent, which is opened with openat2 so that no symlink,
 * magic link or ".." is ever followed, whatever is already in the tree.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "worker/cage-internal.h"

/* PATH_MAX minus the NUL, and NAME_MAX: what captar allows and what the
 * kernel can create. */
#define UNPACK_PATH_MAX 4095
#define UNPACK_COMPONENT_MAX 255

/* Nothing followed, nothing above DIR_FD: a symlink or a /proc magic link
 * already in the tree, or a ".." that slipped through, fails with ELOOP or
 * EXDEV instead of leading the write onto the host. */
#define UNPACK_RESOLVE (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)

typedef struct unpack_state {
        const char *name;
        const captar_limits *limits;
        int dir_fd;
        uint64_t entries;
        uint64_t bytes;
} unpack_state;

static void archive_read_freep(struct archive **a)
{
        if (*a != NULL)
                archive_read_free(*a);
}

static const char *archive_why(struct archive *a)
{
        const char *why = archive_error_string(a);

        return why ? why : "unknown libarchive error";
}

static int openat2_beneath(int dir_fd, const char *path, int flags, mode_t mode)
{
        struct open_how how = {
                .flags = (uint64_t)(flags | O_CLOEXEC),
                .mode = (flags & O_CREAT) ? mode : 0,
                .resolve = UNPACK_RESOLVE,
        };

        return (int)syscall(SYS_openat2, dir_fd, path, &how, sizeof(how));
}

static int refuse(const unpack_state *s, const char *path, const char *why, agora_error_t *err)
{
        return agora_error_set(err, AGORA_ERR_FAILED, "capability '%s': '%s': %s", s->name, path, why);
}

/* Creating or writing PATH failed. Two causes get their own words: an
 * existing name (the directory starts empty and each entry is created
 * once, so it is a duplicate entry or something planted there: whichever
 * copy won, a reviewer read the other), and a full tmpfs, the one failure
 * an operator can fix (the capability is bigger than its record says). */
static int write_failed(const unpack_state *s, const char *path, int errnum, const char *what, agora_error_t *err)
{
        if (errnum == EEXIST)
                return agora_error_set(err, AGORA_ERR_EXISTS, "capability '%s': '%s': %s: already exists, not replaced",
                                       s->name, path, what);
        if (errnum == ENOSPC || errnum == EDQUOT)
                return agora_error_set_errno(err, errnum, "capability '%s': '%s': %s: the cage's root is full", s->name,
                                             path, what);
        return agora_error_set_errno(err, errnum, "capability '%s': '%s': %s", s->name, path, what);
}

/* The canonical spelling only: relative, no empty, "." or ".." component
 * (so no "//" and no leading '/'), printable ASCII, within PATH_MAX and
 * NAME_MAX. A directory may end in one '/', which is how tar writes them;
 * it is cut off in *RET_LEN. */
static int check_path(const unpack_state *s, const char *path, bool is_dir, size_t *ret_len, agora_error_t *err)
{
        size_t len = strlen(path);

        if (len == 0)
                return agora_error_set(err, AGORA_ERR_FAILED, "capability '%s': an entry has an empty path", s->name);
        /* Absolute: would land on the host's /etc, not below /cap/NAME. */
        if (path[0] == '/')
                return refuse(s, path, "absolute paths are not allowed", err);
        if (is_dir && path[len - 1] == '/')
                len--;
        if (len > UNPACK_PATH_MAX)
                return agora_error_set(err, AGORA_ERR_FAILED, "capability '%s': '%.64s…': path is longer than %d bytes",
                                       s->name, path, UNPACK_PATH_MAX);
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char)path[i];
                /* Control bytes forge lines in listings and logs; anything
                 * else outside ASCII was refused by captar for hashing. */
                if (c < 0x20 || c >= 0x7f)
                        return refuse(s, path, "only printable ASCII is allowed in paths", err);
        }
        for (size_t i = 0; i <= len;) {
                size_t n = 0;
                while (i + n < len && path[i + n] != '/')
                        n++;
                if (n == 0)
                        return refuse(s, path, "empty path component ('//' or trailing '/')", err);
                /* The tar escape: "../../etc/cron.d/x". */
                if (n == 2 && path[i] == '.' && path[i + 1] == '.')
                        return refuse(s, path, "'..' is not allowed in paths", err);
                /* Harmless, but the canonical form never has it. */
                if (n == 1 && path[i] == '.')
                        return refuse(s, path, "'.' is not allowed in paths", err);
                if (n > UNPACK_COMPONENT_MAX)
                        return agora_error_set(err, AGORA_ERR_FAILED,
                                               "capability '%s': '%.64s…': a path component is longer than %d bytes",
                                               s->name, path, UNPACK_COMPONENT_MAX);
                i += n + 1;
        }
        *ret_len = len;
        return 0;
}

/* Regular files and directories, nothing else: a link would let the cage
 * read or write outside its tree, a device node would be raw hardware,
 * set-id bits a privilege the tarball has no business granting. */
static int check_type(const unpack_state *s, struct archive_entry *ae, const char *path, agora_error_t *err)
{
        mode_t type = archive_entry_filetype(ae);
        mode_t perm = archive_entry_perm(ae);

        if (archive_entry_hardlink(ae) != NULL)
                return refuse(s, path, "hard links are not allowed (regular files and directories only)", err);
        if (archive_entry_symlink(ae) != NULL || type == AE_IFLNK)
                return refuse(s, path, "symbolic links are not allowed (regular files and directories only)", err);
        if (type == AE_IFCHR || type == AE_IFBLK)
                return refuse(s, path, "device files are not allowed (regular files and directories only)", err);
        if (type != AE_IFREG && type != AE_IFDIR)
                return refuse(s, path, "special files are not allowed (regular files and directories only)", err);
        if (perm & (S_ISUID | S_ISGID | S_ISVTX))
                return refuse(s, path, "setuid/setgid/sticky bits are not allowed", err);
        /* A sparse entry's holes are content the tarball does not carry;
         * the canonical writer never makes one. */
        if (archive_entry_sparse_count(ae) > 0)
                return refuse(s, path, "sparse files are not allowed", err);
        return 0;
}

/* The directory that will hold PATH[0..LEN)'s last component, opened
 * beneath s->dir_fd. Top-level entries live in s->dir_fd itself; *RET_FD
 * is then -1 and *RET_DIR that fd. */
static int open_parent(const unpack_state *s, const char *path, size_t len, int *ret_fd, int *ret_dir,
                       const char **ret_base, agora_error_t *err)
{
        const char *slash = memrchr(path, '/', len);
        _cleanup_free_ char *parent = NULL;

        *ret_fd = -1;
        *ret_dir = s->dir_fd;
        *ret_base = slash ? slash + 1 : path;
        if (slash == NULL)
                return 0;
        parent = strndup(path, (size_t)(slash - path));
        if (parent == NULL)
                return agora_error_set_errno(err, ENOMEM, "capability '%s': '%s'", s->name, path);
        /* The canonical order puts every directory before what it holds, so
         * a missing parent is a malformed tarball, not something to create. */
        int fd = openat2_beneath(s->dir_fd, parent, O_PATH | O_DIRECTORY, 0);
        if (fd < 0)
                return agora_error_set_errno(err, errno, "capability '%s': '%s': cannot open its directory '%s'",
                                             s->name, path, parent);
        *ret_fd = *ret_dir = fd;
        return 0;
}

static int make_dir(const unpack_state *s, int parent_fd, const char *base, const char *path, agora_error_t *err)
{
        _cleanup_close_ int fd = -1;

        /* EEXIST included (see write_failed). */
        if (mkdirat(parent_fd, base, 0755) < 0)
                return write_failed(s, path, errno, "cannot create directory", err);
        fd = openat2_beneath(parent_fd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0);
        if (fd < 0)
                return agora_error_set_errno(err, errno, "capability '%s': '%s': cannot open new directory", s->name,
                                             path);
        /* Past the umask, whatever the caller's is. */
        if (fchmod(fd, 0755) < 0)
                return agora_error_set_errno(err, errno, "capability '%s': '%s': cannot set mode", s->name, path);
        return 0;
}

static int make_file(unpack_state *s, struct archive *a, struct archive_entry *ae, int parent_fd, const char *base,
                     const char *path, agora_error_t *err)
{
        /* The canonical modes: 0755 if any execute bit, else 0644. */
        mode_t mode = (archive_entry_perm(ae) & 0111) ? 0755 : 0644;
        uint64_t size = (uint64_t)archive_entry_size(ae), written = 0;
        _cleanup_close_ int fd = -1;

        /* O_EXCL: a second entry for one path, or a file someone placed
         * there first, is refused rather than overwritten or followed. */
        fd = openat2_beneath(parent_fd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode);
        if (fd < 0)
                return write_failed(s, path, errno, "cannot create file", err);
        for (;;) {
                const void *buf;
                size_t len;
                la_int64_t off;
                int r = archive_read_data_block(a, &buf, &len, &off);

                if (r == ARCHIVE_EOF)
                        break;
                if (r != ARCHIVE_OK)
                        return agora_error_set(err, AGORA_ERR_FAILED, "capability '%s': '%s': reading tarball: %s",
                                               s->name, path, archive_why(a));
                /* Blocks must follow each other and stay within the declared
                 * size, which is what the limits were checked against. */
                if (off < 0 || (uint64_t)off != written || len > size - written)
                        return refuse(s, path, "content does not match its declared size", err);
                if (fs_write_all(fd, buf, len) < 0)
                        return write_failed(s, path, errno, "write failed", err);
                written += len;
        }
        if (written != size)
                return refuse(s, path, "content is shorter than its declared size", err);
        if (fchmod(fd, mode) < 0)
                return agora_error_set_errno(err, errno, "capability '%s': '%s': cannot set mode", s->name, path);
        if (close(take_fd(fd)) < 0)
                return write_failed(s, path, errno, "write failed", err);
        return 0;
}

static int unpack_entry(unpack_state *s, struct archive *a, struct archive_entry *ae, agora_error_t *err)
{
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int parent_fd = -1;
        const char *raw = archive_entry_pathname(ae), *base;
        bool is_dir = archive_entry_filetype(ae) == AE_IFDIR;
        size_t len = 0;
        int dir;

        if (raw == NULL)
                return agora_error_set(err, AGORA_ERR_FAILED, "capability '%s': an entry has no path", s->name);
        if (check_path(s, raw, is_dir, &len, err) < 0 || check_type(s, ae, raw, err) < 0)
                return -1;
        path = strndup(raw, len);
        if (path == NULL)
                return agora_error_set_errno(err, ENOMEM, "capability '%s': '%s'", s->name, raw);
        if (++s->entries > s->limits->max_entries)
                return agora_error_set(err, AGORA_ERR_FAILED, "capability '%s': '%s': more than %llu entries", s->name,
                                       path, (unsigned long long)s->limits->max_entries);
        la_int64_t size = archive_entry_size(ae);
        if (size < 0 || (is_dir && size != 0))
                return refuse(s, path, "invalid size", err);
        /* Checked on the declared size before a byte is written, so a
         * header claiming a terabyte never starts filling the tmpfs. */
        if ((uint64_t)size > s->limits->max_bytes - s->bytes)
                return agora_error_set(err, AGORA_ERR_FAILED, "capability '%s': '%s': more than %llu bytes of content",
                                       s->name, path, (unsigned long long)s->limits->max_bytes);
        s->bytes += (uint64_t)size;
        if (open_parent(s, path, len, &parent_fd, &dir, &base, err) < 0)
                return -1;
        if (is_dir)
                return make_dir(s, dir, base, path, err);
        return make_file(s, a, ae, dir, base, path, err);
}

int cage_unpack(const char *name, const void *data, size_t len, int dir_fd, const captar_limits *limits,
                agora_error_t *err)
{
        _cleanup_(archive_read_freep) struct archive *a = NULL;
        captar_limits defaults;
        unpack_state s = {.name = name, .limits = limits, .dir_fd = dir_fd};

        if (limits == NULL) {
                captar_limits_default(&defaults);
                s.limits = &defaults;
        }
        a = archive_read_new();
        if (a == NULL)
                return agora_error_set_errno(err, ENOMEM, "capability '%s': archive reader", name);
        /* Tar only and no filter: the canonical form is an uncompressed
         * tarball, so anything else (a gzip stream, a zip, a cpio) is not
         * what was hashed and is refused while libarchive bids. */
        if (archive_read_support_format_tar(a) != ARCHIVE_OK)
                return agora_error_set(err, AGORA_ERR_FAILED, "capability '%s': libarchive lacks tar support", name);
        if (archive_read_open_memory(a, data, len) != ARCHIVE_OK)
                return agora_error_set(err, AGORA_ERR_FAILED, "capability '%s': not a tar archive: %s", name,
                                       archive_why(a));
        for (;;) {
                struct archive_entry *ae;
                int r = archive_read_next_header(a, &ae);

                if (r == ARCHIVE_EOF)
                        break;
                /* WARN too: the canonical tarball reads cleanly, so a
                 * warning means bytes nobody hashed the way we read them. */
                if (r != ARCHIVE_OK)
                        return agora_error_set(err, AGORA_ERR_FAILED, "capability '%s': reading tarball: %s", name,
                                               archive_why(a));
                if (unpack_entry(&s, a, ae, err) < 0)
                        return -1;
        }
        return 0;
}
