/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Layer 8: Landlock. The mount layout already decides what exists in the
 * cage; Landlock decides, per path, what the job may do with it, and
 * keeps deciding if some later bug (a writable bind, a leaked fd to a
 * directory) put more in reach than the layout meant. It also denies TCP
 * bind and connect outright, and scopes abstract unix sockets and signals
 * to the job's own processes.
 *
 * Everything Landlock knows is handled: a right left out of the ruleset
 * is a right the job has everywhere. That is why ABI 6 is required: below
 * it signals and abstract unix sockets go unscoped, below 5 device ioctls
 * are free, below 4 TCP, below 3 truncate; the cage would quietly be
 * weaker than its profile says.
 *
 * Debian 12's <linux/landlock.h> is from Linux 6.1 (ABI 2), so the newer
 * constants and the full ruleset layout are spelled out here; the values
 * are kernel ABI and never change.
 */
#include "worker/cage-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <linux/types.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/cleanup.h"

#define LANDLOCK_ABI_REQUIRED 6

#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14) /* ABI 3 */
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15) /* ABI 5 */
#endif
#ifndef LANDLOCK_ACCESS_NET_BIND_TCP
#define LANDLOCK_ACCESS_NET_BIND_TCP (1ULL << 0) /* ABI 4 */
#endif
#ifndef LANDLOCK_ACCESS_NET_CONNECT_TCP
#define LANDLOCK_ACCESS_NET_CONNECT_TCP (1ULL << 1) /* ABI 4 */
#endif
#ifndef LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET
#define LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0) /* ABI 6 */
#endif
#ifndef LANDLOCK_SCOPE_SIGNAL
#define LANDLOCK_SCOPE_SIGNAL (1ULL << 1) /* ABI 6 */
#endif

/* struct landlock_ruleset_attr as of ABI 6. The kernel takes the size from
 * the caller: bytes beyond what it knows must be zero, fields the caller
 * leaves out read as zero. With ABI 6 checked first it knows all three. */
struct cage_ruleset_attr {
        __u64 handled_access_fs;
        __u64 handled_access_net;
        __u64 scoped;
};

/* Every filesystem right up to ABI 6 (none were added in 6 or 7). */
#define FS_ALL                                                                                          \
        (LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_FILE |    \
         LANDLOCK_ACCESS_FS_READ_DIR | LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE | \
         LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG |     \
         LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_BLOCK |  \
         LANDLOCK_ACCESS_FS_MAKE_SYM | LANDLOCK_ACCESS_FS_REFER | LANDLOCK_ACCESS_FS_TRUNCATE |         \
         LANDLOCK_ACCESS_FS_IOCTL_DEV)

/* The rights that mean something on a file rather than a directory;
 * landlock_add_rule refuses a file rule with any other (EINVAL). */
#define FS_FILE                                                                                      \
        (LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_FILE | \
         LANDLOCK_ACCESS_FS_TRUNCATE | LANDLOCK_ACCESS_FS_IOCTL_DEV)

#define PROFILE_ACCESS_ALL                                                                            \
        (PROFILE_ACCESS_READ | PROFILE_ACCESS_WRITE | PROFILE_ACCESS_CREATE | PROFILE_ACCESS_REMOVE | \
         PROFILE_ACCESS_EXECUTE | PROFILE_ACCESS_IOCTL)

/* Profile groups to Landlock rights. MAKE_CHAR and MAKE_BLOCK are in no
 * group: a device node is a door to hardware (a disk, /dev/mem), and no
 * job makes one. The user namespace already forbids it; this says it a
 * second time. */
static const struct {
        unsigned group;
        __u64 rights;
} access_map[] = {
        {PROFILE_ACCESS_READ, LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR},
        {PROFILE_ACCESS_WRITE, LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_TRUNCATE},
        {PROFILE_ACCESS_CREATE, LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_MAKE_DIR |
                                        LANDLOCK_ACCESS_FS_MAKE_SYM | LANDLOCK_ACCESS_FS_MAKE_FIFO |
                                        LANDLOCK_ACCESS_FS_MAKE_SOCK},
        /* REFER with REMOVE: moving a file between directories (rename,
         * link) removes it from one place; Landlock also makes sure the
         * file gains no right by the move. */
        {PROFILE_ACCESS_REMOVE,
         LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REFER},
        {PROFILE_ACCESS_EXECUTE, LANDLOCK_ACCESS_FS_EXECUTE},
        {PROFILE_ACCESS_IOCTL, LANDLOCK_ACCESS_FS_IOCTL_DEV},
};

static __u64 rights_of(unsigned access)
{
        __u64 rights = 0;

        for (size_t i = 0; i < ARRAY_SIZE(access_map); i++)
                if (access & access_map[i].group)
                        rights |= access_map[i].rights;
        return rights;
}

static int landlock_abi(agora_error_t *err)
{
        long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);

        if (abi < 0 && (errno == ENOSYS || errno == EOPNOTSUPP))
                return agora_error_set(err, AGORA_ERR_FAILED,
                                       "landlock: not available in this kernel (%s); ABI %d or later is required "
                                       "(Linux 6.12, with 'landlock' in the lsm= boot parameter)",
                                       errno == ENOSYS ? "not built in" : "disabled at boot", LANDLOCK_ABI_REQUIRED);
        if (abi < 0)
                return agora_error_set_errno(err, errno, "landlock: cannot query the ABI version");
        if (abi < LANDLOCK_ABI_REQUIRED)
                return agora_error_set(err, AGORA_ERR_FAILED,
                                       "landlock: the kernel has ABI %ld, ABI %d or later is required (Linux 6.12): "
                                       "refusing to run with a weaker sandbox",
                                       abi, LANDLOCK_ABI_REQUIRED);
        return 0;
}

static int add_rule(int ruleset_fd, const profile_landlock_rule *rule, agora_error_t *err)
{
        struct landlock_path_beneath_attr attr = {0};
        _cleanup_close_ int fd = -1;
        struct stat st;
        __u64 rights;

        if (rule->path == NULL || rule->path[0] != '/')
                return agora_error_set(err, AGORA_ERR_USAGE, "landlock: rule path '%s' is not absolute",
                                       rule->path ? rule->path : "(null)");
        if (rule->access & ~PROFILE_ACCESS_ALL)
                return agora_error_set(err, AGORA_ERR_USAGE, "landlock: rule '%s': unknown access bits 0x%x",
                                       rule->path, rule->access & ~PROFILE_ACCESS_ALL);
        /* O_PATH: the rule names the inode; no read permission is needed
         * and nothing is opened for I/O. Symlinks are followed, so that a
         * rule for /lib applies to what /lib names (usr/lib on merged-/usr
         * systems); the layout is agora-cage's own, not the job's. */
        fd = open(rule->path, O_PATH | O_CLOEXEC);
        if (fd < 0) {
                int e = errno;

                agora_error_set_errno(err, e, "landlock: rule path '%s'", rule->path);
                if (e == ENOENT && err != NULL && *err != NULL)
                        (*err)->kind = AGORA_ERR_NOTFOUND;
                return -1;
        }
        if (fstat(fd, &st) < 0)
                return agora_error_set_errno(err, errno, "landlock: rule path '%s': stat failed", rule->path);
        rights = rights_of(rule->access);
        /* A rule on a file (e.g. /dev/null) may carry only rights that act
         * on files; the directory rights in the same group mean nothing
         * there. */
        if (!S_ISDIR(st.st_mode))
                rights &= FS_FILE;
        /* A rule granting nothing is the same as no rule (the kernel would
         * refuse it with ENOMSG). */
        if (rights == 0)
                return 0;
        attr.allowed_access = rights;
        attr.parent_fd = fd;
        if (syscall(SYS_landlock_add_rule, ruleset_fd, LANDLOCK_RULE_PATH_BENEATH, &attr, 0) < 0)
                return agora_error_set_errno(err, errno, "landlock: cannot add the rule for '%s'", rule->path);
        return 0;
}

int cage_landlock_apply(const profile *p, agora_error_t *err)
{
        struct cage_ruleset_attr attr = {
                .handled_access_fs = FS_ALL,
                /* TCP bind and connect handled, and no net rule added: all
                 * TCP is refused, loopback included, so a job cannot reach
                 * a service listening inside the cage's own namespace
                 * either. UDP is not covered by Landlock; the network
                 * namespace has no route out and seccomp allows only unix
                 * sockets. */
                .handled_access_net = LANDLOCK_ACCESS_NET_BIND_TCP | LANDLOCK_ACCESS_NET_CONNECT_TCP,
                /* Abstract unix sockets are not files, so the fs rules do not
                 * reach them: without this scope the job could connect to
                 * any abstract socket of its network namespace. Signals:
                 * only to processes of the same Landlock domain, never to
                 * PID 1 of the cage or anything else outside the job. */
                .scoped = LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET | LANDLOCK_SCOPE_SIGNAL,
        };
        _cleanup_close_ int ruleset_fd = -1;

        if (landlock_abi(err) < 0)
                return -1;
        /* The kernel always makes a ruleset fd O_CLOEXEC. */
        ruleset_fd = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0);
        if (ruleset_fd < 0)
                return agora_error_set_errno(err, errno, "landlock: cannot create the ruleset");
        for (size_t i = 0; i < p->n_landlock; i++)
                if (add_rule(ruleset_fd, &p->landlock[i], err) < 0)
                        return -1;
        /* Insist on no_new_privs even where the kernel would not (a caller
         * still holding CAP_SYS_ADMIN may restrict itself without it): the
         * job must never gain privileges by exec, and this names the cause
         * instead of restrict_self's bare EPERM. */
        if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
                return agora_error_set(err, AGORA_ERR_FAILED,
                                       "landlock: no_new_privs is not set (cage_caps_drop must run first)");
        if (syscall(SYS_landlock_restrict_self, ruleset_fd, 0) < 0)
                return agora_error_set_errno(err, errno, "landlock: cannot restrict the job");
        return 0;
}
