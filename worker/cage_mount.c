/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Layers 4 and 5: the cage's file system. A tmpfs becomes the new root and
 * receives only what the profile grants: read-only binds of host paths, the
 * capabilities unpacked read-only at /cap/NAME, /workspace, /tmp, a minimal
 * /dev and a fresh /proc with its dangerous entries masked. Then pivot_root
 * and the old root is detached, so nothing of the host stays reachable.
 *
 * Everything uses the new mount API (open_tree, fsopen/fsmount,
 * mount_setattr, move_mount) on file descriptors: a mount target is always
 * an fd opened beneath the new root with openat2, never a path string that
 * a symlink could redirect, and mount_setattr only ever *adds* flags, so
 * the flags the kernel locked on the host's mounts when the user namespace
 * was made (nosuid, nodev, noexec, atime; see mount_namespaces(7)) are kept
 * without reading them back (mount(2)'s MS_REMOUNT would have to restate
 * them, as bubblewrap does with statvfs). AT_RECURSIVE applies read-only to
 * every submount of a bind too, where MS_REMOUNT only reaches the top one.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/name.h"
#include "worker/cage-internal.h"

/* Room on the root tmpfs beyond the capabilities: mount points, symlinks
 * and the directories of /cap. Every file takes whole pages, hence one page
 * per entry on top of the content. */
#define ROOT_SLACK_BYTES (4ull << 20)
#define ROOT_SLACK_INODES 1024ull
#define PAGE_BYTES 4096ull
#define DEV_BYTES (64ull << 10)
#define DEV_INODES 64ull
#define DEV_SHM_BYTES (8ull << 20)
#define DEV_SHM_INODES 1024ull

/* No symlink, no magic link, nothing above the directory fd: what is
 * already in the new root can never redirect a mount or a mkdir. */
#define MOUNT_RESOLVE (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)

#define CLONE_FLAGS (OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_SYMLINK_NOFOLLOW)
#define ATTACH_FLAGS (MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH)

/* Host device nodes bound into /dev: what ordinary programs open. */
static const char *const host_devices[] = {"null", "zero", "full", "random", "urandom", "tty"};

static const char *const dev_links[][2] = {
        {"ptmx", "pts/ptmx"},          {"fd", "/proc/self/fd"},       {"stdin", "/proc/self/fd/0"},
        {"stdout", "/proc/self/fd/1"}, {"stderr", "/proc/self/fd/2"},
};

/* Covered in /proc (a file by /dev/null, a directory by an empty read-only
 * tmpfs): kernel memory (kcore), other users' keys, kernel addresses and
 * timers that leak what the host runs, hardware the cage has no business
 * with. Entries this kernel does not have are skipped. */
static const char *const proc_masked[] = {
        "kcore",       "keys",        "kallsyms", "latency_stats", "timer_list",
        "timer_stats", "sched_debug", "acpi",     "asound",        "scsi",
};

/* Read-only in /proc: the sysctls (those of the cage's own net namespace
 * belong to its root and would otherwise be writable, and a kernel may
 * hand more to a namespace's root tomorrow), the SysRq trigger (reboot or
 * crash the host), IRQ affinity and the bus/fs tunables. None is the
 * cage's to set. */
static const char *const proc_readonly[] = {"sys", "sysrq-trigger", "irq", "bus", "fs"};

/* Names the cage root makes itself: a profile may not bind a host path
 * over them (host /proc or /dev in a cage would undo the cage). */
static const char *const reserved_top[] = {"cap", "dev", "proc", "sys", "tmp", "workspace"};

/* One host path of the profile, taken while the host tree is visible. */
typedef struct host_item {
        const char *host; /* as the profile spells it */
        char *dest; /* normalised, relative to the new root: "usr/local" */
        char *link; /* the host path is a symlink to this, or NULL */
        int tree_fd; /* else a detached read-only clone of it */
        bool is_dir;
} host_item;

typedef struct mount_ctx {
        const cage_config *cfg;
        const char *profile_name;
        host_item *host;
        size_t n_host;
        int workspace_fd; /* detached clone of cfg->workspace_dir, or -1 */
        int devices[ARRAY_SIZE(host_devices)];
        int root_fd; /* root of the staging tmpfs */
} mount_ctx;

static void mount_ctx_release(mount_ctx *c)
{
        for (size_t i = 0; i < c->n_host; i++) {
                free(c->host[i].dest);
                free(c->host[i].link);
                cleanup_closep(&c->host[i].tree_fd);
        }
        free(c->host);
        cleanup_closep(&c->workspace_fd);
        for (size_t i = 0; i < ARRAY_SIZE(c->devices); i++)
                cleanup_closep(&c->devices[i]);
        cleanup_closep(&c->root_fd);
}

static int openat2_beneath(int dir_fd, const char *path, int flags, mode_t mode)
{
        struct open_how how = {
                .flags = (uint64_t)(flags | O_NOFOLLOW | O_CLOEXEC),
                .mode = (flags & O_CREAT) ? mode : 0,
                .resolve = MOUNT_RESOLVE,
        };

        return (int)syscall(SYS_openat2, dir_fd, path, &how, sizeof(how));
}

/* Directory NAME in DIR_FD, made with exactly MODE if missing. WHERE names
 * it inside the cage for errors. */
static int dir_at(int dir_fd, const char *name, mode_t mode, const char *where, agora_error_t *err)
{
        bool made = mkdirat(dir_fd, name, mode) == 0;

        if (!made && errno != EEXIST)
                return agora_error_set_errno(err, errno, "cage root: '%s': cannot create directory", where);
        int fd = openat2_beneath(dir_fd, name, O_RDONLY | O_DIRECTORY, 0);
        if (fd < 0)
                return agora_error_set_errno(err, errno, "cage root: '%s': cannot open directory", where);
        /* mkdirat obeys the umask of whoever started agora-cage. */
        if (made && fchmod(fd, mode) < 0) {
                close(fd);
                return agora_error_set_errno(err, errno, "cage root: '%s': cannot set mode", where);
        }
        return fd;
}

/* An empty regular file to mount a file onto (a device, a /proc mask). */
static int file_at(int dir_fd, const char *name, const char *where, agora_error_t *err)
{
        struct stat st;
        int fd = openat2_beneath(dir_fd, name, O_WRONLY | O_CREAT | O_EXCL, 0644);

        if (fd >= 0 || errno != EEXIST) {
                if (fd < 0)
                        return agora_error_set_errno(err, errno, "cage root: '%s': cannot create file", where);
                return fd;
        }
        fd = openat2_beneath(dir_fd, name, O_PATH, 0);
        if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                cleanup_closep(&fd);
                return agora_error_set(err, AGORA_ERR_FAILED, "cage root: '%s': exists and is not a file", where);
        }
        return fd;
}

/* mkdir -p of a normalised relative PATH below ROOT_FD, component by
 * component, each opened beneath the last: returns the fd of the last. */
static int dirs_beneath(int root_fd, const char *path, agora_error_t *err)
{
        _cleanup_free_ char *copy = strdup(path);
        _cleanup_close_ int cur = -1;
        char *save = NULL;

        if (copy == NULL)
                return agora_error_set_errno(err, ENOMEM, "cage root: '/%s'", path);
        for (char *c = strtok_r(copy, "/", &save); c != NULL; c = strtok_r(NULL, "/", &save)) {
                int fd = dir_at(cur >= 0 ? cur : root_fd, c, 0755, path, err);
                if (fd < 0)
                        return -1;
                cleanup_closep(&cur);
                cur = fd;
        }
        return cur >= 0 ? take_fd(cur) : fcntl(root_fd, F_DUPFD_CLOEXEC, 3);
}

static int set_attrs(int mnt_fd, uint64_t attrs, bool recursive, const char *where, agora_error_t *err)
{
        struct mount_attr a = {.attr_set = attrs};
        unsigned flags = AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0);

        if (mount_setattr(mnt_fd, "", flags, &a, sizeof(a)) < 0)
                return agora_error_set_errno(err, errno, "cage root: '%s': setting mount flags", where);
        return 0;
}

static int attach(int mnt_fd, int target_fd, const char *where, agora_error_t *err)
{
        if (move_mount(mnt_fd, "", target_fd, "", ATTACH_FLAGS) < 0)
                return agora_error_set_errno(err, errno, "cage root: '%s': cannot mount", where);
        return 0;
}

/* A fresh detached file system of TYPE. OPTS are key/value pairs (a NULL
 * value is a flag), ending at a NULL key. The kernel's own explanation of
 * a refused option is read from the context fd into the error. */
static int fs_new(const char *type, const char *const *opts, unsigned attrs, const char *where, agora_error_t *err)
{
        _cleanup_close_ int fs = fsopen(type, FSOPEN_CLOEXEC);
        int r = 0, mnt;

        if (fs < 0)
                return agora_error_set_errno(err, errno, "cage root: '%s': %s", where, type);
        for (size_t i = 0; opts[i] != NULL && r == 0; i += 2)
                r = fsconfig(fs, opts[i + 1] ? FSCONFIG_SET_STRING : FSCONFIG_SET_FLAG, opts[i], opts[i + 1], 0);
        if (r == 0)
                r = fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0);
        mnt = r == 0 ? fsmount(fs, FSMOUNT_CLOEXEC, attrs) : -1;
        if (mnt >= 0)
                return mnt;
        int e = errno;
        char why[256];
        ssize_t n = read(fs, why, sizeof(why) - 1);
        if (n <= 0)
                return agora_error_set_errno(err, e, "cage root: '%s': mounting %s", where, type);
        why[n] = '\0';
        return agora_error_set_errno(err, e, "cage root: '%s': mounting %s (%s)", where, type, why);
}

/* A tmpfs is always bounded: tmpfs reads size=0 or nr_inodes=0 as
 * "unlimited", which would let the cage fill the host's memory. */
static int tmpfs_new(uint64_t bytes, uint64_t inodes, const char *mode, unsigned attrs, const char *where,
                     agora_error_t *err)
{
        char size_s[32], inodes_s[32];

        if (bytes == 0 || inodes == 0)
                return agora_error_set(err, AGORA_ERR_FAILED,
                                       "cage root: '%s': a tmpfs needs a size and an inode limit", where);
        snprintf(size_s, sizeof(size_s), "%llu", (unsigned long long)bytes);
        snprintf(inodes_s, sizeof(inodes_s), "%llu", (unsigned long long)inodes);
        const char *opts[] = {"size", size_s, "nr_inodes", inodes_s, "mode", mode, NULL};
        return fs_new("tmpfs", opts, attrs, where, err);
}

/* Mount a fresh tmpfs on directory NAME of DIR_FD; returns the mount's fd. */
static int tmpfs_at(int dir_fd, const char *name, uint64_t bytes, uint64_t inodes, const char *mode, unsigned attrs,
                    const char *where, agora_error_t *err)
{
        _cleanup_close_ int target = dir_at(dir_fd, name, 0755, where, err);
        _cleanup_close_ int mnt = -1;

        if (target < 0)
                return -1;
        mnt = tmpfs_new(bytes, inodes, mode, attrs, where, err);
        if (mnt < 0 || attach(mnt, target, where, err) < 0)
                return -1;
        return take_fd(mnt);
}

/* "/usr//local/" → "usr/local". ".." is refused rather than resolved: on
 * the host it would go through symlinks, in the cage it would not. */
static int host_dest(const mount_ctx *c, const char *host, char **ret, agora_error_t *err)
{
        _cleanup_free_ char *out = calloc(1, strlen(host) + 1);
        size_t n = 0;

        if (out == NULL)
                return agora_error_set_errno(err, ENOMEM, "profile '%s': '%s'", c->profile_name, host);
        if (host[0] != '/')
                return agora_error_set(err, AGORA_ERR_USAGE, "profile '%s': host path '%s': not absolute",
                                       c->profile_name, host);
        for (const char *p = host; *p;) {
                size_t len = strcspn(p, "/");
                if (len == 2 && p[0] == '.' && p[1] == '.')
                        return agora_error_set(err, AGORA_ERR_USAGE, "profile '%s': host path '%s': '..' not allowed",
                                               c->profile_name, host);
                if (len > 0 && !(len == 1 && p[0] == '.')) {
                        if (n > 0)
                                out[n++] = '/';
                        memcpy(out + n, p, len);
                        n += len;
                }
                p += len + (p[len] == '/');
        }
        /* The whole host root would undo the cage. */
        if (n == 0)
                return agora_error_set(err, AGORA_ERR_USAGE,
                                       "profile '%s': host path '%s': cannot bind the host's root", c->profile_name,
                                       host);
        size_t top = strcspn(out, "/");
        for (size_t i = 0; i < ARRAY_SIZE(reserved_top); i++)
                if (top == strlen(reserved_top[i]) && strncmp(out, reserved_top[i], top) == 0)
                        return agora_error_set(err, AGORA_ERR_USAGE,
                                               "profile '%s': host path '%s': the cage makes this path itself",
                                               c->profile_name, host);
        *ret = take_ptr(out);
        return 0;
}

/* Open the host path once, without following its last component: it is
 * either recreated as the same symlink (Debian's /bin → usr/bin) or
 * cloned, with every submount, into a detached read-only tree. */
static int host_take(const mount_ctx *c, host_item *h, agora_error_t *err)
{
        _cleanup_close_ int fd = open(h->host, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        struct stat st;

        if (fd < 0 || fstat(fd, &st) < 0)
                return agora_error_set_errno(err, errno, "profile '%s': host path '%s'", c->profile_name, h->host);
        if (S_ISLNK(st.st_mode)) {
                char buf[4096];
                ssize_t n = readlinkat(fd, "", buf, sizeof(buf));
                if (n < 0 || (size_t)n >= sizeof(buf))
                        return agora_error_set_errno(err, n < 0 ? errno : ENAMETOOLONG,
                                                     "profile '%s': host path '%s': reading symlink", c->profile_name,
                                                     h->host);
                h->link = strndup(buf, (size_t)n);
                return h->link ? 0 : agora_error_set_errno(err, ENOMEM, "profile '%s'", c->profile_name);
        }
        if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
                return agora_error_set(err, AGORA_ERR_FAILED,
                                       "profile '%s': host path '%s': not a directory, file or symlink",
                                       c->profile_name, h->host);
        h->is_dir = S_ISDIR(st.st_mode);
        h->tree_fd = open_tree(fd, "", CLONE_FLAGS | AT_EMPTY_PATH | AT_RECURSIVE);
        if (h->tree_fd < 0)
                return agora_error_set_errno(err, errno, "profile '%s': host path '%s': cannot bind", c->profile_name,
                                             h->host);
        /* Exec stays: host programs must run. Writes, set-id and device
         * nodes of the host do not come along. */
        return set_attrs(h->tree_fd, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, true, h->host, err);
}

static int host_item_compare(const void *a, const void *b)
{
        return strcmp(((const host_item *)a)->dest, ((const host_item *)b)->dest);
}

/* Everything the cage takes from the host is taken before the staging
 * tmpfs covers CAGE_STAGING_DIR: a workspace or device below it would
 * otherwise resolve into the half-built root instead of the host. */
static int take_from_host(mount_ctx *c, agora_error_t *err)
{
        const profile *p = c->cfg->profile;
        size_t n = 0;

        while (p->host_readonly != NULL && p->host_readonly[n] != NULL)
                n++;
        c->host = calloc(n ? n : 1, sizeof(*c->host));
        if (c->host == NULL)
                return agora_error_set_errno(err, ENOMEM, "profile '%s'", c->profile_name);
        for (size_t i = 0; i < n; i++) {
                host_item *h = &c->host[c->n_host++];
                *h = (host_item){.host = p->host_readonly[i], .tree_fd = -1};
                if (host_dest(c, h->host, &h->dest, err) < 0 || host_take(c, h, err) < 0)
                        return -1;
        }
        /* Parents before children ("usr" < "usr/local"), so a deeper bind is
         * never hidden under a shallower one mounted after it. */
        qsort(c->host, c->n_host, sizeof(*c->host), host_item_compare);

        _cleanup_close_ int host_dev = open("/dev", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (host_dev < 0)
                return agora_error_set_errno(err, errno, "cage /dev: host '/dev'");
        for (size_t i = 0; i < ARRAY_SIZE(host_devices); i++) {
                struct stat st;
                c->devices[i] = open_tree(host_dev, host_devices[i], CLONE_FLAGS);
                /* A regular file at /dev/null (some containers) is not the
                 * device programs expect to discard into. */
                if (c->devices[i] < 0 || fstat(c->devices[i], &st) < 0 || !S_ISCHR(st.st_mode))
                        return agora_error_set_errno(err, c->devices[i] < 0 ? errno : ENODEV,
                                                     "cage /dev: host device '/dev/%s'", host_devices[i]);
                if (set_attrs(c->devices[i], MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, false, host_devices[i], err) < 0)
                        return -1;
        }

        return 0;
}

/* The workspace is taken by agora-cage on the host, before clone: a tree
 * cloned there comes from a path resolved with the host's view (the cage's
 * host id needs no search right on the directories above it), and the
 * cage only attaches it. Inside the cage's mount namespace a clone of a
 * host mount is refused anyway: it belongs to another namespace. */
int cage_mount_workspace_parent(const char *dir, const profile *p, int *ret_fd, agora_error_t *err)
{
        _cleanup_close_ int fd = -1;
        _cleanup_close_ int tree = -1;
        uint64_t attrs = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | (p->exec_workspace ? 0 : MOUNT_ATTR_NOEXEC);

        *ret_fd = -1;
        if (dir == NULL)
                return 0;
        /* No symlink as the last component: the operator names the
         * directory itself, and a link swapped in would bind elsewhere. */
        fd = open(dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return agora_error_set_errno(err, errno, "workspace '%s': must be an existing directory", dir);
        tree = open_tree(fd, "", CLONE_FLAGS | AT_EMPTY_PATH | AT_RECURSIVE);
        if (tree < 0)
                return agora_error_set_errno(err, errno, "workspace '%s': cannot bind", dir);
        if (set_attrs(tree, attrs, true, "/workspace", err) < 0)
                return -1;
        *ret_fd = take_fd(tree);
        return 0;
}

/* b. The new root, sized for what goes on it: the capabilities' files
 * (each rounded up to pages) and a little slack. Nothing else is written
 * to it, and it becomes read-only at the end. */
static int make_root(mount_ctx *c, agora_error_t *err)
{
        uint64_t bytes = ROOT_SLACK_BYTES, inodes = ROOT_SLACK_INODES;
        _cleanup_close_ int target = -1;

        for (size_t i = 0; i < c->cfg->n_caps; i++) {
                const cage_capability *cap = &c->cfg->caps[i];
                if (__builtin_add_overflow(bytes, cap->content_bytes, &bytes) ||
                    cap->entries > UINT64_MAX / PAGE_BYTES ||
                    __builtin_add_overflow(bytes, cap->entries * PAGE_BYTES, &bytes) ||
                    __builtin_add_overflow(inodes, cap->entries, &inodes))
                        return agora_error_set(err, AGORA_ERR_FAILED, "capability '%s': size out of range", cap->name);
        }
        target = open(CAGE_STAGING_DIR, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (target < 0)
                return agora_error_set_errno(err, errno, "cage root: staging directory '%s'", CAGE_STAGING_DIR);
        c->root_fd = tmpfs_new(bytes, inodes, "0755", MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, "/", err);
        if (c->root_fd < 0)
                return -1;
        return attach(c->root_fd, target, "/", err);
}

/* c. The profile's host paths, each at the same place in the new root. */
static int place_host(mount_ctx *c, agora_error_t *err)
{
        for (size_t i = 0; i < c->n_host; i++) {
                host_item *h = &c->host[i];
                char *slash = strrchr(h->dest, '/');
                const char *base = slash ? slash + 1 : h->dest;
                _cleanup_close_ int parent = -1, target = -1;

                if (slash != NULL)
                        *slash = '\0';
                parent = slash ? dirs_beneath(c->root_fd, h->dest, err) : fcntl(c->root_fd, F_DUPFD_CLOEXEC, 3);
                if (slash != NULL)
                        *slash = '/';
                if (parent < 0)
                        return slash ? -1 : agora_error_set_errno(err, errno, "cage root: dup");
                if (h->link != NULL) {
                        if (symlinkat(h->link, parent, base) < 0)
                                return agora_error_set_errno(err, errno, "cage root: '/%s': cannot create symlink",
                                                             h->dest);
                        continue;
                }
                target = h->is_dir ? dir_at(parent, base, 0755, h->dest, err) : file_at(parent, base, h->dest, err);
                if (target < 0 || attach(h->tree_fd, target, h->dest, err) < 0)
                        return -1;
        }
        return 0;
}

/* d. /cap/NAME for each capability: unpacked onto the root tmpfs, then
 * bound onto itself so the mount can be read-only (and noexec unless the
 * profile allows running capability files) on its own. */
static int place_caps(mount_ctx *c, agora_error_t *err)
{
        _cleanup_close_ int cap_fd = dir_at(c->root_fd, "cap", 0755, "/cap", err);

        if (cap_fd < 0)
                return -1;
        for (size_t i = 0; i < c->cfg->n_caps; i++) {
                const cage_capability *cap = &c->cfg->caps[i];
                _cleanup_close_ int dir = -1, tree = -1;
                captar_limits limits;

                /* The name becomes a directory name: no '/', no "..". */
                if (agora_name_check("capability", cap->name, err) < 0)
                        return -1;
                /* Twice would unpack the second over the first's mount. */
                for (size_t j = 0; j < i; j++)
                        if (strcmp(c->cfg->caps[j].name, cap->name) == 0)
                                return agora_error_set(err, AGORA_ERR_USAGE, "capability '%s': granted twice",
                                                       cap->name);
                dir = dir_at(cap_fd, cap->name, 0755, cap->name, err);
                if (dir < 0)
                        return -1;
                captar_limits_default(&limits);
                if (limits.max_bytes < cap->content_bytes)
                        limits.max_bytes = cap->content_bytes;
                if (limits.max_entries < cap->entries)
                        limits.max_entries = cap->entries;
                if (cage_unpack(cap->name, cap->data, cap->len, dir, &limits, err) < 0)
                        return -1;
                tree = open_tree(dir, "", CLONE_FLAGS | AT_EMPTY_PATH);
                if (tree < 0)
                        return agora_error_set_errno(err, errno, "capability '%s': cannot bind /cap/%s", cap->name,
                                                     cap->name);
                uint64_t attrs = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
                                 (c->cfg->profile->exec_capabilities ? 0 : MOUNT_ATTR_NOEXEC);
                if (set_attrs(tree, attrs, false, cap->name, err) < 0 || attach(tree, dir, cap->name, err) < 0)
                        return -1;
        }
        return 0;
}

/* e. The only writable places: /workspace and /tmp, each bounded. */
static int place_workspace(mount_ctx *c, agora_error_t *err)
{
        const profile *p = c->cfg->profile;
        unsigned attrs = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | (p->exec_workspace ? 0 : MOUNT_ATTR_NOEXEC);
        _cleanup_close_ int ws = -1, tmp = -1;

        if (c->workspace_fd >= 0) {
                _cleanup_close_ int target = dir_at(c->root_fd, "workspace", 0755, "/workspace", err);
                if (target < 0 || attach(c->workspace_fd, target, "/workspace", err) < 0)
                        return -1;
        } else {
                ws = tmpfs_at(c->root_fd, "workspace", p->limits.workspace_bytes, p->limits.workspace_inodes, "0755",
                              attrs, "/workspace", err);
                if (ws < 0)
                        return -1;
        }
        /* Sticky and world-writable like any /tmp; its inode count follows
         * the workspace's, as the profile has no separate knob for it. */
        tmp = tmpfs_at(c->root_fd, "tmp", p->limits.tmp_bytes, p->limits.workspace_inodes, "1777", attrs, "/tmp", err);
        return tmp < 0 ? -1 : 0;
}

/* f. A /dev with only harmless devices. A tmpfs mounted in a user
 * namespace cannot hold usable device nodes anyway (SB_I_NODEV), so each
 * device is the host's node bound onto an empty file. */
static int place_dev(mount_ctx *c, agora_error_t *err)
{
        const unsigned hard = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;
        _cleanup_close_ int dev = tmpfs_at(c->root_fd, "dev", DEV_BYTES, DEV_INODES, "0755", hard, "/dev", err);
        _cleanup_close_ int pts_dir = -1, pts = -1, shm = -1;

        if (dev < 0)
                return -1;
        for (size_t i = 0; i < ARRAY_SIZE(host_devices); i++) {
                _cleanup_close_ int target = file_at(dev, host_devices[i], host_devices[i], err);
                if (target < 0 || attach(c->devices[i], target, host_devices[i], err) < 0)
                        return -1;
        }
        /* A devpts instance of the cage's own: its ptys are not the host's,
         * so nothing can be typed into an operator's terminal through it.
         * No gid= option: only one id is mapped, and there is no tty group. */
        pts_dir = dir_at(dev, "pts", 0755, "/dev/pts", err);
        if (pts_dir < 0)
                return -1;
        const char *pts_opts[] = {"newinstance", NULL, "ptmxmode", "0666", "mode", "0620", NULL};
        pts = fs_new("devpts", pts_opts, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, "/dev/pts", err);
        if (pts < 0 || attach(pts, pts_dir, "/dev/pts", err) < 0)
                return -1;
        for (size_t i = 0; i < ARRAY_SIZE(dev_links); i++)
                if (symlinkat(dev_links[i][1], dev, dev_links[i][0]) < 0)
                        return agora_error_set_errno(err, errno, "cage root: '/dev/%s': cannot create symlink",
                                                     dev_links[i][0]);
        shm = tmpfs_at(dev, "shm", DEV_SHM_BYTES, DEV_SHM_INODES, "1777", hard, "/dev/shm", err);
        if (shm < 0)
                return -1;
        /* Last: no new entry in /dev once it is filled; the bound devices and
         * the submounts keep their own flags. */
        return set_attrs(dev, MOUNT_ATTR_RDONLY, false, "/dev", err);
}

/* One /proc entry covered: a file by the cage's /dev/null, a directory by
 * an empty read-only tmpfs. */
static int proc_mask(int proc, int dev, const char *name, agora_error_t *err)
{
        _cleanup_close_ int target = openat2_beneath(proc, name, O_PATH, 0);
        _cleanup_close_ int cover = -1;
        struct stat st;

        if (target < 0 && errno == ENOENT)
                return 0;
        if (target < 0 || fstat(target, &st) < 0)
                return agora_error_set_errno(err, errno, "cage root: '/proc/%s'", name);
        if (S_ISDIR(st.st_mode)) {
                cover = tmpfs_new(PAGE_BYTES, 2, "0555",
                                  MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC, name,
                                  err);
                if (cover < 0)
                        return -1;
        } else {
                cover = open_tree(dev, "null", CLONE_FLAGS);
                if (cover < 0)
                        return agora_error_set_errno(err, errno, "cage root: '/proc/%s': cloning /dev/null", name);
        }
        return attach(cover, target, name, err);
}

static int proc_readonly_bind(int proc, const char *name, agora_error_t *err)
{
        _cleanup_close_ int target = openat2_beneath(proc, name, O_PATH, 0);
        _cleanup_close_ int tree = -1;

        if (target < 0 && errno == ENOENT)
                return 0;
        if (target < 0)
                return agora_error_set_errno(err, errno, "cage root: '/proc/%s'", name);
        tree = open_tree(target, "", CLONE_FLAGS | AT_EMPTY_PATH | AT_RECURSIVE);
        if (tree < 0)
                return agora_error_set_errno(err, errno, "cage root: '/proc/%s': cannot bind", name);
        uint64_t attrs = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;
        if (set_attrs(tree, attrs, true, name, err) < 0)
                return -1;
        return attach(tree, target, name, err);
}

/* g. A proc of the cage's own pid namespace: it lists the cage's
 * processes only. Masks need /dev/null, so /dev comes first. */
static int place_proc(mount_ctx *c, agora_error_t *err)
{
        _cleanup_close_ int target = dir_at(c->root_fd, "proc", 0755, "/proc", err);
        _cleanup_close_ int proc = -1, dev = -1;
        const char *none[] = {NULL};

        if (target < 0)
                return -1;
        proc = fs_new("proc", none, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC, "/proc", err);
        if (proc < 0 || attach(proc, target, "/proc", err) < 0)
                return -1;
        dev = openat2_beneath(c->root_fd, "dev", O_PATH | O_DIRECTORY, 0);
        if (dev < 0)
                return agora_error_set_errno(err, errno, "cage root: '/dev'");
        for (size_t i = 0; i < ARRAY_SIZE(proc_masked); i++)
                if (proc_mask(proc, dev, proc_masked[i], err) < 0)
                        return -1;
        for (size_t i = 0; i < ARRAY_SIZE(proc_readonly); i++)
                if (proc_readonly_bind(proc, proc_readonly[i], err) < 0)
                        return -1;
        return 0;
}

/* i. Swap roots and drop the host's. pivot_root(".", ".") stacks the old
 * root on top of the new one; detaching it then leaves nothing of the host
 * reachable, not through "..", /proc/self/root or a mount's parent. */
static int enter_root(mount_ctx *c, agora_error_t *err)
{
        if (fchdir(c->root_fd) < 0)
                return agora_error_set_errno(err, errno, "cage root: chdir");
        if (syscall(SYS_pivot_root, ".", ".") < 0)
                return agora_error_set_errno(err, errno, "cage root: pivot_root");
        if (umount2(".", MNT_DETACH) < 0)
                return agora_error_set_errno(err, errno, "cage root: detaching the host's root");
        if (chdir("/") < 0)
                return agora_error_set_errno(err, errno, "cage root: chdir /");
        return 0;
}

int cage_mount_setup(const cage_config *cfg, int workspace_tree_fd, agora_error_t *err)
{
        _cleanup_(mount_ctx_release) mount_ctx c = {
                .cfg = cfg,
                .profile_name = cfg->profile->name ? cfg->profile->name : "(unnamed)",
                .workspace_fd = workspace_tree_fd,
                .root_fd = -1,
        };
        struct mount_attr root_ro = {
                .attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
        };

        for (size_t i = 0; i < ARRAY_SIZE(c.devices); i++)
                c.devices[i] = -1;
        /* a. Before any other mount. The namespace is a copy of the host's;
         *    owned by a less privileged user namespace, its shared mounts
         *    already became slaves, so nothing flows back to the host. But a
         *    slave still receives: a file system the host mounts under /usr
         *    later would appear in the cage. Private cuts both ways, and the
         *    clones taken next start private too. */
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                return agora_error_set_errno(err, errno, "cage root: making mounts private");
        if (take_from_host(&c, err) < 0)
                return -1;
        /* b–f. Build the root. /dev comes before /proc, whose masks are
         *      clones of the cage's /dev/null. */
        if (make_root(&c, err) < 0 || place_host(&c, err) < 0 || place_caps(&c, err) < 0 ||
            place_workspace(&c, err) < 0 || place_dev(&c, err) < 0)
                return -1;
        /* g. Before pivot_root: a user namespace may mount proc only while a
         *    fully visible proc is in its mount namespace (the kernel's
         *    mount_too_revealing()), and the host's is gone after i. */
        if (place_proc(&c, err) < 0)
                return -1;
        /* h. Nothing else: no /sys (it describes the host's hardware and
         *    its cgroups), no /etc unless the profile binds one. */
        if (enter_root(&c, err) < 0)
                return -1;
        /* j. Read-only last, since everything above writes to the root. Its
         *    own files are only mount points and symlinks, hence noexec; the
         *    mounts on it keep their own flags. */
        if (mount_setattr(AT_FDCWD, "/", 0, &root_ro, sizeof(root_ro)) < 0)
                return agora_error_set_errno(err, errno, "cage root: making '/' read-only");
        /* k. The host's name is none of the cage's business. */
        if (sethostname("agora", strlen("agora")) < 0)
                return agora_error_set_errno(err, errno, "cage: sethostname");
        /* Every fd of the host tree closes on return (c's cleanup): one
         * left open would be a way back out through fchdir or openat. */
        return 0;
}
