/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Layer 9: the seccomp filter, loaded last before execve so that nothing
 * agora-cage itself still has to do depends on a syscall the job may not
 * make. Default-deny: the job gets the syscalls ordinary programs need
 * (/bin/sh, coreutils, python3, gcc) and nothing else.
 *
 * Three answers, chosen so that programs behave sensibly:
 *   - ENOSYS for anything not listed: a program probing a new syscall
 *     (clone3, faccessat2, ...) treats it as an old kernel and falls back;
 *   - EPERM for the syscalls we deny on purpose: the program sees a refusal,
 *     not a missing feature, and does not try an equivalent;
 *   - kill the process for any other ABI (i386 via int 0x80, x32): their
 *     syscall numbers mean different syscalls, so a filter written for
 *     x86_64 numbers would be bypassed by switching ABI.
 *
 * Two filters are loaded. libseccomp does not define in which order it
 * checks rules of one syscall that overlap with different actions (its
 * maintainers say so; in practice an unconditional rule simply replaces
 * every conditional one), so "allow ioctl, but EPERM for TIOCSTI" cannot be
 * said safely in one filter. The kernel, however, defines how stacked
 * filters combine: the most restrictive action wins (ERRNO beats ALLOW). So
 *   - the allowlist filter decides per syscall number only, and
 *   - the argument filter allows everything except EPERM for the dangerous
 *     argument values of syscalls the allowlist lets through.
 * Every rule in the argument filter has the same action, so overlaps
 * between its rules cannot change the result either.
 *
 * libseccomp compiles the tables into BPF once, at build time
 * (gen_seccomp.c), because compiling them takes milliseconds, longer than
 * the rest of a cage's setup; cage_seccomp_load.c loads the result. A unit
 * test checks that the embedded programs are what libseccomp builds now.
 */
#include "worker/cage-internal.h"

#include <errno.h>
#include <sched.h>
#include <seccomp.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "common/cleanup.h"

static inline void cleanup_seccompp(scmp_filter_ctx *ctx)
{
        if (*ctx != NULL)
                seccomp_release(*ctx);
}
#define _cleanup_seccomp_ _cleanup_(cleanup_seccompp)

/*
 * Allowed by number. clone, ioctl, personality, prlimit64, socket and
 * socketpair are narrowed again by the argument filter below.
 *
 * clone3 is missing on purpose and must stay so: it gets the default
 * ENOSYS, not EPERM. Its flags (CLONE_NEWUSER and the other namespace
 * flags) live in a struct in memory, which seccomp cannot read, so it can
 * never be allowed safely. glibc's pthread_create and posix_spawn try
 * clone3 first and fall back to clone, whose flags are a register the
 * argument filter can check, only when clone3 fails with ENOSYS; with
 * EPERM every new thread and every spawned program would fail.
 */
static const char *const allowed[] = {
        /* process lifecycle and glibc/ld.so startup */
        "execve", "execveat", "exit", "exit_group", "fork", "vfork", "clone", "wait4", "waitid", "arch_prctl",
        "set_tid_address", "set_robust_list", "rseq", "prctl", "restart_syscall", "personality",
        /* memory */
        "brk", "mmap", "munmap", "mprotect", "mremap", "madvise", "msync", "mincore", "membarrier", "memfd_create",
        "get_mempolicy", "pkey_alloc", "pkey_free", "pkey_mprotect",
        /* file descriptors and I/O */
        "read", "write", "pread64", "pwrite64", "readv", "writev", "preadv", "pwritev", "preadv2", "pwritev2", "lseek",
        "close", "close_range", "dup", "dup2", "dup3", "pipe", "pipe2", "fcntl", "flock", "ioctl", "sendfile", "splice",
        "copy_file_range", "readahead", "fadvise64", "fsync", "fdatasync", "sync", "syncfs", "sync_file_range",
        /* paths: Landlock decides which of them reach anything */
        "open", "openat", "openat2", "creat", "stat", "fstat", "lstat", "newfstatat", "statx", "statfs", "fstatfs",
        "access", "faccessat", "faccessat2", "readlink", "readlinkat", "getdents", "getdents64", "getcwd", "chdir",
        "fchdir", "rename", "renameat", "renameat2", "link", "linkat", "symlink", "symlinkat", "unlink", "unlinkat",
        "mkdir", "mkdirat", "rmdir", "mknod", "mknodat", "truncate", "ftruncate", "fallocate", "umask", "utime",
        "utimes", "utimensat", "futimesat",
        /* ownership and modes: only the one mapped id exists in the user namespace */
        "chmod", "fchmod", "fchmodat", "fchmodat2", "chown", "fchown", "lchown", "fchownat", "getxattr", "lgetxattr",
        "fgetxattr", "listxattr", "llistxattr", "flistxattr",
        /* waiting and events */
        "poll", "ppoll", "select", "pselect6", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_wait",
        "epoll_pwait", "epoll_pwait2", "eventfd", "eventfd2", "timerfd_create", "timerfd_settime", "timerfd_gettime",
        "inotify_init", "inotify_init1", "inotify_add_watch", "inotify_rm_watch", "futex", "futex_waitv",
        /* signals */
        "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigpending", "rt_sigtimedwait", "rt_sigsuspend",
        "rt_sigqueueinfo", "rt_tgsigqueueinfo", "sigaltstack", "pause", "signalfd", "signalfd4", "kill", "tkill",
        "tgkill", "pidfd_open", "pidfd_send_signal",
        /* time */
        "nanosleep", "clock_nanosleep", "clock_gettime", "clock_getres", "gettimeofday", "time", "alarm", "getitimer",
        "setitimer", "timer_create", "timer_settime", "timer_gettime", "timer_getoverrun", "timer_delete", "times",
        /* identity, sessions, limits: all confined to the cage's namespaces */
        "getpid", "getppid", "gettid", "getuid", "geteuid", "getgid", "getegid", "getresuid", "getresgid", "getgroups",
        "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setfsuid", "setfsgid", "setgroups",
        "getpgrp", "getpgid", "setpgid", "getsid", "setsid", "capget", "getrlimit", "setrlimit", "prlimit64",
        "getrusage", "getpriority", "setpriority", "uname", "sysinfo", "getrandom", "getcpu",
        /* scheduling */
        "sched_yield", "sched_getaffinity", "sched_setaffinity", "sched_getparam", "sched_setparam",
        "sched_getscheduler", "sched_setscheduler", "sched_get_priority_max", "sched_get_priority_min",
        "sched_rr_get_interval", "sched_getattr", "sched_setattr",
        /* sockets: socket and socketpair only for AF_UNIX (argument filter) */
        "socket", "socketpair", "connect", "bind", "listen", "accept", "accept4", "sendto", "recvfrom", "sendmsg",
        "recvmsg", "sendmmsg", "recvmmsg", "shutdown", "getsockname", "getpeername", "getsockopt", "setsockopt",
        /* self-sandboxing: filters and Landlock domains only ever stack, never loosen */
        "seccomp", "landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self"};

/* EPERM: each of these either reaches outside the cage, changes what the
 * kernel itself is, or is a large and often-exploited attack surface that
 * no ordinary program needs. */
static const char *const denied[] = {
        /* new mounts or roots: remounting the read-only root, unmasking /proc */
        "mount", "umount2", "pivot_root", "chroot", "fsopen", "fsconfig", "fsmount", "fspick", "move_mount",
        "open_tree", "mount_setattr",
        /* new namespaces: a nested user namespace gives back every capability,
         * and with it the kernel surface reachable only with CAP_SYS_ADMIN */
        "unshare", "setns",
        /* reading or steering other processes */
        "ptrace", "process_vm_readv", "process_vm_writev", "process_madvise", "kcmp", "pidfd_getfd", "move_pages",
        "migrate_pages",
        /* kernel attack surface: eBPF, perf, keyrings, userfaultfd (used to win
         * kernel races), io_uring (its own syscall-free path around seccomp) */
        "bpf", "perf_event_open", "keyctl", "add_key", "request_key", "userfaultfd", "io_uring_setup", "io_uring_enter",
        "io_uring_register",
        /* file handles bypass path lookup, and with it the mount layout and
         * Landlock (the "shocker" escape) */
        "open_by_handle_at", "name_to_handle_at",
        /* the kernel itself: modules, kexec, reboot, swap, accounting, quotas */
        "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "create_module",
        "get_kernel_syms", "query_module", "reboot", "swapon", "swapoff", "acct", "quotactl", "quotactl_fd", "_sysctl",
        "syslog",
        /* the system clock is global, not namespaced */
        "settimeofday", "clock_settime", "adjtimex", "clock_adjtime",
        /* x86 I/O ports and LDT: direct hardware access, and a history of bugs */
        "iopl", "ioperm", "modify_ldt",
        /* obsolete or host-wide */
        "lookup_dcookie", "vhangup", "nfsservctl", "uselib", "fanotify_init", "sethostname", "setdomainname"};

/* The kernel reads ioctl's cmd as a 32-bit unsigned int, so its
 * comparisons mask the upper half: TIOCSTI | (1 << 32) is still TIOCSTI to
 * the tty, and an unmasked comparison would let it through. */
#define CMD32 0xffffffffu

/* EPERM when the comparison matches, for syscalls the allowlist allows. */
static const struct arg_rule {
        const char *name;
        struct scmp_arg_cmp cmp;
} denied_args[] = {
        /* clone with any namespace flag: a nested user namespace gives back
         * every capability (and the kernel code behind CAP_SYS_ADMIN), a
         * mount namespace a place to remount what the cage made read-only.
         * Any one bit is enough, so one rule per bit (seccomp has no "mask
         * is non-zero"). CLONE_NEWTIME is not among them: in clone(2) its
         * bit is part of the exit signal; the kernel creates time
         * namespaces only through clone3 and unshare, both refused. */
        {"clone", {0, SCMP_CMP_MASKED_EQ, CLONE_NEWNS, CLONE_NEWNS}},
        {"clone", {0, SCMP_CMP_MASKED_EQ, CLONE_NEWCGROUP, CLONE_NEWCGROUP}},
        {"clone", {0, SCMP_CMP_MASKED_EQ, CLONE_NEWUTS, CLONE_NEWUTS}},
        {"clone", {0, SCMP_CMP_MASKED_EQ, CLONE_NEWIPC, CLONE_NEWIPC}},
        {"clone", {0, SCMP_CMP_MASKED_EQ, CLONE_NEWUSER, CLONE_NEWUSER}},
        {"clone", {0, SCMP_CMP_MASKED_EQ, CLONE_NEWPID, CLONE_NEWPID}},
        {"clone", {0, SCMP_CMP_MASKED_EQ, CLONE_NEWNET, CLONE_NEWNET}},
        /* Only unix sockets: no raw or packet sockets (a large kernel surface
         * and the way to forge traffic), no netlink (routes, firewall, audit),
         * no vsock to the hypervisor. The network namespace has no route out
         * anyway; this also keeps the kernel code behind those families
         * unreachable. */
        {"socket", {0, SCMP_CMP_NE, AF_UNIX, 0}},
        {"socketpair", {0, SCMP_CMP_NE, AF_UNIX, 0}},
        /* TIOCSTI pushes bytes into a terminal's input: typing commands into
         * the shell of whoever owns an inherited tty. TIOCLINUX does the same
         * on virtual consoles (and reads their screen); TIOCSETD loads line
         * disciplines, old and rarely used kernel code. */
        {"ioctl", {1, SCMP_CMP_MASKED_EQ, CMD32, TIOCSTI}},
        {"ioctl", {1, SCMP_CMP_MASKED_EQ, CMD32, TIOCLINUX}},
        {"ioctl", {1, SCMP_CMP_MASKED_EQ, CMD32, TIOCSETD}},
        /* Limits of another process (pid 0 is the caller itself, which is
         * what getrlimit/setrlimit use). */
        {"prlimit64", {0, SCMP_CMP_NE, 0, 0}},
};

/* Resolve NAME for the native architecture; a negative result means the
 * architecture does not have it (libseccomp then answers with a pseudo
 * number) or libseccomp does not know it (__NR_SCMP_ERROR). Either way
 * there is nothing to filter: the default action already covers a number
 * this kernel does not implement. */
static int resolve(const char *name)
{
        int nr = seccomp_syscall_resolve_name(name);

        return nr < 0 ? -1 : nr;
}

static int add_rules(scmp_filter_ctx ctx, uint32_t action, const char *what, const char *const *names, size_t n,
                     agora_error_t *err)
{
        for (size_t i = 0; i < n; i++) {
                int nr = resolve(names[i]), rc;

                if (nr < 0)
                        continue;
                rc = seccomp_rule_add_exact(ctx, action, nr, 0);
                if (rc < 0)
                        return agora_error_set_errno(err, -rc, "seccomp: cannot %s '%s'", what, names[i]);
        }
        return 0;
}

/* Refuse every personality but PER_LINUX (0) and the query 0xffffffff:
 * READ_IMPLIES_EXEC makes every readable mapping executable,
 * ADDR_NO_RANDOMIZE switches off ASLR for the next program, and the others
 * select legacy layouts nothing in a cage needs.
 *
 * seccomp cannot say "neither 0 nor 0xffffffff" in one comparison, but a
 * 32-bit value is neither exactly when some bit i is set and the next bit
 * (i + 1, wrapping from 31 to 0) is clear. The 32 rules below test exactly
 * that pair each. The kernel reads the argument as unsigned int, so the
 * upper 32 bits are left out of every mask. */
static int add_personality_rules(scmp_filter_ctx ctx, agora_error_t *err)
{
        int nr = resolve("personality");

        if (nr < 0)
                return 0;
        for (unsigned i = 0; i < 32; i++) {
                uint64_t bit = UINT64_C(1) << i, next = UINT64_C(1) << ((i + 1) % 32);
                int rc = seccomp_rule_add_exact(ctx, SCMP_ACT_ERRNO(EPERM), nr, 1,
                                                SCMP_A0(SCMP_CMP_MASKED_EQ, bit | next, bit));
                if (rc < 0)
                        return agora_error_set_errno(err, -rc, "seccomp: cannot restrict 'personality'");
        }
        return 0;
}

static int filter_new(uint32_t def_action, scmp_filter_ctx *ret, agora_error_t *err)
{
        _cleanup_seccomp_ scmp_filter_ctx ctx = NULL;
        int rc;

        /* seccomp_init adds the native architecture only, so i386 syscalls
         * (int 0x80) take the bad-arch action below. x32 shares x86_64's
         * audit arch and differs only by bit 30 of the syscall number;
         * libseccomp's x86_64 filter sends those numbers to the bad-arch
         * action too. */
        ctx = seccomp_init(def_action);
        if (ctx == NULL)
                return agora_error_set(err, AGORA_ERR_FAILED, "seccomp: cannot create a filter");
        /* KILL_PROCESS, not KILL_THREAD: a thread killed mid-way could leave
         * the rest of the program running with broken invariants. */
        rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
        if (rc < 0)
                return agora_error_set_errno(err, -rc, "seccomp: cannot kill other architectures");
        /* TSYNC: every thread gets the filter, or the load fails; a thread
         * left unfiltered would be a way around it. */
        rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
        if (rc < 0)
                return agora_error_set_errno(err, -rc, "seccomp: cannot synchronise threads");
        /* cage_caps_drop sets no_new_privs itself and checks it; libseccomp
         * setting it quietly here would hide a caller that forgot. */
        rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
        if (rc < 0)
                return agora_error_set_errno(err, -rc, "seccomp: cannot configure no_new_privs");
        /* Report the kernel's errno from seccomp_load, not libseccomp's
         * generic ECANCELED. */
        rc = seccomp_attr_set(ctx, SCMP_FLTATR_API_SYSRAWRC, 1);
        if (rc < 0)
                return agora_error_set_errno(err, -rc, "seccomp: cannot configure error reporting");
        *ret = take_ptr(ctx);
        return 0;
}

static int allowlist_new(scmp_filter_ctx *ret, agora_error_t *err)
{
        _cleanup_seccomp_ scmp_filter_ctx ctx = NULL;
        int rc;

        if (filter_new(SCMP_ACT_ERRNO(ENOSYS), &ctx, err) < 0)
                return -1;
        /* A binary tree of syscall numbers instead of a linear list: the
         * filter runs on every syscall of the job. */
        rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
        if (rc < 0)
                return agora_error_set_errno(err, -rc, "seccomp: cannot optimise the filter");
        if (add_rules(ctx, SCMP_ACT_ALLOW, "allow", allowed, ARRAY_SIZE(allowed), err) < 0)
                return -1;
        if (add_rules(ctx, SCMP_ACT_ERRNO(EPERM), "deny", denied, ARRAY_SIZE(denied), err) < 0)
                return -1;
        *ret = take_ptr(ctx);
        return 0;
}

static int argfilter_new(scmp_filter_ctx *ret, agora_error_t *err)
{
        _cleanup_seccomp_ scmp_filter_ctx ctx = NULL;

        if (filter_new(SCMP_ACT_ALLOW, &ctx, err) < 0)
                return -1;
        for (size_t i = 0; i < ARRAY_SIZE(denied_args); i++) {
                const struct arg_rule *r = &denied_args[i];
                int nr = resolve(r->name), rc;

                if (nr < 0)
                        continue;
                rc = seccomp_rule_add_exact_array(ctx, SCMP_ACT_ERRNO(EPERM), nr, 1, &r->cmp);
                if (rc < 0)
                        return agora_error_set_errno(err, -rc, "seccomp: cannot restrict '%s'", r->name);
        }
        if (add_personality_rules(ctx, err) < 0)
                return -1;
        *ret = take_ptr(ctx);
        return 0;
}

static int export_one(scmp_filter_ctx ctx, int fd, const char *what, agora_error_t *err)
{
        int rc = seccomp_export_bpf(ctx, fd);

        if (rc < 0)
                return agora_error_set_errno(err, -rc, "seccomp: cannot export the %s", what);
        return 0;
}

int cage_seccomp_export(int args_fd, int allow_fd, agora_error_t *err)
{
        _cleanup_seccomp_ scmp_filter_ctx allow = NULL, args = NULL;

        /* Build both before exporting either, so that a mistake in a table
         * fails before anything is written. */
        if (allowlist_new(&allow, err) < 0 || argfilter_new(&args, err) < 0)
                return -1;
        if (export_one(args, args_fd, "argument filter", err) < 0 || export_one(allow, allow_fd, "allowlist", err) < 0)
                return -1;
        return 0;
}
