/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Layer 6: the job process itself: resource limits the cgroup does not
 * cover, no file descriptor it was not meant to have, no terminal, and no
 * life after agora-cage's.
 */
#include "worker/cage-internal.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common/cleanup.h"

static int set_limit(int resource, const char *name, uint64_t want, agora_error_t *err)
{
        struct rlimit cur, rl;

        if (getrlimit(resource, &cur) < 0)
                return agora_error_set_errno(err, errno, "rlimit %s: cannot read", name);
        /* Raising a hard limit needs CAP_SYS_RESOURCE in the initial user
         * namespace, which a cage never has. Asking for more than the
         * current hard limit therefore gets that limit: a lower limit than
         * the profile's is stricter, never looser. */
        rl.rlim_max = (rlim_t)want < cur.rlim_max ? (rlim_t)want : cur.rlim_max;
        rl.rlim_cur = rl.rlim_max;
        /* Soft and hard equal: the job cannot raise the soft limit either. */
        if (setrlimit(resource, &rl) < 0)
                return agora_error_set_errno(err, errno, "rlimit %s: cannot set to %llu", name,
                                             (unsigned long long)rl.rlim_max);
        return 0;
}

int cage_process_rlimits(const profile_limits *limits, agora_error_t *err)
{
        /* NOFILE 0 would leave the dynamic loader unable to open a single
         * library: a profile that says so is wrong, not strict. */
        if (limits->open_files == 0)
                return agora_error_set(err, AGORA_ERR_FAILED, "rlimit NOFILE: open-files must be at least 1");
        /* Descriptors are kernel memory the memory cgroup charges only in
         * part; a bound also keeps select()-based programs working. */
        if (set_limit(RLIMIT_NOFILE, "NOFILE", limits->open_files, err) < 0)
                return -1;
        /* A single file larger than this fails with EFBIG (and SIGXFSZ),
         * before it fills the workspace tmpfs for every other file. */
        if (set_limit(RLIMIT_FSIZE, "FSIZE", limits->file_size_bytes, err) < 0)
                return -1;
        /* No core files: a dump of the job can hold whatever secret it read,
         * written where the job chose. */
        if (set_limit(RLIMIT_CORE, "CORE", 0, err) < 0)
                return -1;
        /* NPROC counts processes per real uid. uid 0 of the cage maps to a
         * host uid no other cage shares (cage_userns.c), so this counts the
         * cage's processes only, PID 1 included, as the pids cgroup does.
         * It sits one above the cgroup's limit: fork checks NPROC first,
         * and the cgroup must be the one that refuses, since only it
         * records the refusal that the result reports as pids-limit. It
         * stays a second bound should the cgroup be lost. */
        if (set_limit(RLIMIT_NPROC, "NPROC", limits->pids + 1, err) < 0)
                return -1;
        return 0;
}

static inline void cleanup_closedirp(DIR **d)
{
        if (*d != NULL)
                closedir(*d);
}

/* Without close_range (kernels before 5.9, or a seccomp filter of an outer
 * sandbox that answers ENOSYS): walk /proc/self/fd. Gather first, close
 * after, so the directory stream is not read while it changes. */
static int close_fds_proc(int keep, agora_error_t *err)
{
        _cleanup_(cleanup_closedirp) DIR *d = opendir("/proc/self/fd"); /* glibc opens it O_CLOEXEC */
        _cleanup_free_ int *fds = NULL;
        size_t n = 0, cap = 0;
        struct dirent *e;

        if (d == NULL)
                return agora_error_set_errno(err, errno,
                                             "close fds: close_range is missing and /proc/self/fd "
                                             "cannot be read");
        while ((errno = 0, e = readdir(d)) != NULL) {
                char *end;
                long fd = strtol(e->d_name, &end, 10);

                if (e->d_name[0] < '0' || e->d_name[0] > '9' || *end != '\0' || fd > INT_MAX)
                        continue;
                if (fd <= 2 || fd == keep || fd == dirfd(d))
                        continue;
                if (n == cap) {
                        size_t ncap = cap ? cap * 2 : 64;
                        int *nf = realloc(fds, ncap * sizeof(*fds));

                        if (nf == NULL)
                                return agora_error_set_errno(err, ENOMEM, "close fds");
                        fds = nf;
                        cap = ncap;
                }
                fds[n++] = (int)fd;
        }
        if (errno != 0)
                return agora_error_set_errno(err, errno, "close fds: cannot read /proc/self/fd");
        closedir(take_ptr(d));
        for (size_t i = 0; i < n; i++)
                close(fds[i]); /* EBADF/EINTR: the fd is gone either way */
        return 0;
}

int cage_process_close_fds(int keep, agora_error_t *err)
{
        int r = 0;

        if (keep < -1)
                return agora_error_set(err, AGORA_ERR_USAGE, "close fds: invalid fd %d to keep", keep);
        /* Every descriptor agora-cage holds (the registry, the lock file,
         * pipes of the parent side) would otherwise pass into the job
         * through execve: all are O_CLOEXEC, but one forgotten flag in any
         * library would be a handle out of the cage. */
        if (keep <= 2) {
                r = close_range(3, ~0U, 0);
        } else {
                if (keep > 3)
                        r = close_range(3, (unsigned)keep - 1, 0);
                if (r == 0)
                        r = close_range((unsigned)keep + 1, ~0U, 0);
        }
        if (r == 0)
                return 0;
        if (errno == ENOSYS)
                return close_fds_proc(keep, err);
        return agora_error_set_errno(err, errno, "close fds: close_range failed");
}

int cage_process_session(agora_error_t *err)
{
        pid_t parent = getppid();

        /* SIGKILL when the parent dies: if agora-cage is killed, nothing of
         * the job may keep running unsupervised, past its timeout and
         * output limits. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
                return agora_error_set_errno(err, errno, "session: cannot set the parent-death signal");
        /* The parent may have died between our getppid() and the prctl; the
         * signal was then never sent, and we now belong to a reaper. A
         * changed parent tells. (A parent that was gone before this
         * function ran cannot be told apart from a reaper that is the real
         * parent without the caller passing the expected pid; inside the
         * cage the parent is PID 1 of the pid namespace, whose death kills
         * every process of it anyway.) */
        if (getppid() != parent)
                return agora_error_set(err, AGORA_ERR_FAILED,
                                       "session: parent exited before the parent-death "
                                       "signal was set");
        /* A new session has no controlling terminal, so the job cannot
         * reach the terminal agora was started from: no TIOCSTI typing into
         * the user's shell (the kernel allows it only on one's controlling
         * tty), no SIGHUP/SIGINT from it, no job-control games. */
        if (setsid() < 0)
                return agora_error_set_errno(err, errno, "session: setsid failed");
        return 0;
}
