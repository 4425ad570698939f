/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Layer 1: the cage's cgroup. Everything the cage does is charged to it, so
 * it is made before the first clone and removed after the last process is
 * gone. cgroup v2 gives one directory, <mount>/agora/cage-<id>; v1 gives one
 * per hierarchy of the controllers that set limits (memory, pids, cpu;
 * co-mounted controllers share one). A limit that cannot be applied is an
 * error: a cage that silently lost its memory limit could take the host
 * down with it.
 *
 * v1 needs neither cpuacct nor the freezer: the CPU time of the cage comes
 * from its PID 1's rusage (every process of the pid namespace is reaped by
 * it), and killing PID 1 kills the whole pid namespace at once, which no
 * process can leave. Each hierarchy costs a mkdir, an attach and an rmdir
 * on every job's path.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/clock.h"
#include "common/fsutil.h"
#include "worker/cage-internal.h"

enum { CG_MEMORY, CG_PIDS, CG_CPU, CG_N };

static const char *const controller_names[CG_N] = {"memory", "pids", "cpu"};

#define CG_PARENT "agora"
#define CG_ID_MAX 64
#define CG_CPU_PERIOD_US 100000
#define CG_KILL_TIMEOUT_MS 5000
#define CG_ROUND_MS 500 /* how long one kill round waits for the dead to go */
#define CG_FREEZE_MS 1000
#define CG_RMDIR_MS 1000
#define CG_POLL_MS 10
#define CG_FILE_MAX (4u << 20) /* cgroup.procs of a large fork bomb still fits */

struct cage_cgroup {
        bool v2;
        bool has_kill; /* v2 cgroup.kill (Linux 5.14) */
        bool emptied; /* kill saw it empty, and nothing was attached since */
        char *dirs[CG_N]; /* distinct directories, in the order they were made */
        size_t n_dirs;
        const char *dir_of[CG_N]; /* each controller's directory, one of dirs[] */
};

typedef struct cg_mounts {
        char *v2;
        char *v1[CG_N];
} cg_mounts;

static void cg_mounts_release(cg_mounts *m)
{
        free(m->v2);
        for (size_t i = 0; i < CG_N; i++)
                free(m->v1[i]);
}

static bool has_token(const char *list, const char *word, const char *seps)
{
        size_t n = strlen(word);

        for (const char *p = list; *p;) {
                size_t len = strcspn(p, seps);
                if (len == n && strncmp(p, word, n) == 0)
                        return true;
                p += len;
                p += strspn(p, seps);
        }
        return false;
}

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape_octal(char *s)
{
        char *out = s;

        for (; *s; s++) {
                if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' && s[3] >= '0' &&
                    s[3] <= '7') {
                        *out++ = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 | (s[3] - '0'));
                        s += 3;
                } else {
                        *out++ = *s;
                }
        }
        *out = '\0';
}

/* The first mount of each hierarchy wins; later ones are binds of the same. */
static int note_mount(cg_mounts *m, const char *point, const char *fstype, const char *superopts, agora_error_t *err)
{
        if (strcmp(fstype, "cgroup2") == 0) {
                if (m->v2 == NULL && (m->v2 = strdup(point)) == NULL)
                        return agora_error_set_errno(err, ENOMEM, "cgroup");
                return 0;
        }
        if (strcmp(fstype, "cgroup") != 0)
                return 0;
        for (size_t i = 0; i < CG_N; i++)
                if (m->v1[i] == NULL && has_token(superopts, controller_names[i], ",") &&
                    (m->v1[i] = strdup(point)) == NULL)
                        return agora_error_set_errno(err, ENOMEM, "cgroup");
        return 0;
}

/* Mount points come from mountinfo, not a fixed /sys/fs/cgroup: hosts and
 * containers put them elsewhere. Fields: id parent dev root point opts
 * [optional...] - fstype source superopts. */
static int find_mounts(cg_mounts *m, agora_error_t *err)
{
        _cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
        _cleanup_free_ char *line = NULL;
        size_t cap = 0;

        if (f == NULL)
                return agora_error_set_errno(err, errno, "cgroup: opening /proc/self/mountinfo");
        while (getline(&line, &cap, f) > 0) {
                char *save = NULL, *point = NULL, *fstype = NULL, *superopts = NULL;
                int field = 0;
                bool after_dash = false;

                for (char *t = strtok_r(line, " \n", &save); t; t = strtok_r(NULL, " \n", &save), field++) {
                        if (field == 4)
                                point = t;
                        else if (field > 5 && !after_dash && strcmp(t, "-") == 0) {
                                after_dash = true;
                                field = 0; /* count the fields after the separator from 1 */
                        } else if (after_dash && field == 1)
                                fstype = t;
                        else if (after_dash && field == 3)
                                superopts = t;
                }
                if (point == NULL || fstype == NULL || superopts == NULL)
                        continue;
                unescape_octal(point);
                if (note_mount(m, point, fstype, superopts, err) < 0)
                        return -1;
        }
        if (ferror(f))
                return agora_error_set_errno(err, errno, "cgroup: reading /proc/self/mountinfo");
        return 0;
}

static char *path_join(const char *dir, const char *file)
{
        char *p = NULL;

        return asprintf(&p, "%s/%s", dir, file) < 0 ? NULL : p;
}

static bool file_exists(const char *dir, const char *file)
{
        _cleanup_free_ char *path = path_join(dir, file);

        return path != NULL && access(path, F_OK) == 0;
}

/* DIR/FILE into *RET; a missing file is *RET = NULL when OPTIONAL. */
static int cg_read(const char *dir, const char *file, bool optional, char **ret, agora_error_t *err)
{
        _cleanup_free_ char *path = path_join(dir, file);
        _cleanup_error_ agora_error_t e = NULL;

        *ret = NULL;
        if (path == NULL)
                return agora_error_set_errno(err, ENOMEM, "cgroup: %s/%s", dir, file);
        if (fs_read_file(path, CG_FILE_MAX, ret, NULL, &e) == 0)
                return 0;
        if (optional && e->errnum == ENOENT)
                return 0;
        return agora_error_set_errno(err, e->errnum ? e->errnum : EIO, "cgroup: reading %s", path);
}

/* One write() per value: a cgroup file takes a value per write call, and a
 * split write would be two values. A missing file is *RET_MISSING when the
 * caller can do without it. */
static int cg_write(const char *dir, const char *file, const char *value, bool *ret_missing, agora_error_t *err)
{
        _cleanup_free_ char *path = path_join(dir, file);
        _cleanup_close_ int fd = -1;
        size_t len = strlen(value);
        ssize_t n;

        if (path == NULL)
                return agora_error_set_errno(err, ENOMEM, "cgroup: %s/%s", dir, file);
        fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0 && errno == ENOENT && ret_missing != NULL) {
                *ret_missing = true;
                return 0;
        }
        if (fd < 0)
                return agora_error_set_errno(err, errno, "cgroup: writing '%s' to %s", value, path);
        do
                n = write(fd, value, len);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return agora_error_set_errno(err, errno, "cgroup: writing '%s' to %s", value, path);
        if ((size_t)n != len)
                return agora_error_set(err, AGORA_ERR_FAILED, "cgroup: writing '%s' to %s: short write", value, path);
        if (ret_missing != NULL)
                *ret_missing = false;
        return 0;
}

static int cg_write_u64(const char *dir, const char *file, uint64_t v, agora_error_t *err)
{
        char buf[32];

        snprintf(buf, sizeof(buf), "%" PRIu64, v);
        return cg_write(dir, file, buf, NULL, err);
}

/* Without swap accounting the memory limit does not cover swap, so the cage
 * could push its pages out past the limit; that is only harmless when the
 * host has no swap to push them to. */
static int require_no_swap(const char *dir, const char *file, agora_error_t *err)
{
        _cleanup_free_ char *swaps = NULL;
        char *nl;

        if (cg_read("/proc", "swaps", false, &swaps, err) < 0)
                return -1;
        nl = strchr(swaps, '\n'); /* past the header line */
        if (nl != NULL && nl[1] != '\0')
                return agora_error_set(err, AGORA_ERR_FAILED,
                                       "cgroup: %s/%s is missing (no swap accounting) and the host has swap enabled: "
                                       "the cage could swap past its memory limit",
                                       dir, file);
        return 0;
}

static int parse_u64(const char *s, uint64_t *ret)
{
        char *end = NULL;
        unsigned long long v;

        if (*s < '0' || *s > '9')
                return -1;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno != 0 || (*end != '\0' && *end != '\n' && *end != ' '))
                return -1;
        *ret = v;
        return 0;
}

static bool valid_id(const char *id)
{
        size_t n = strlen(id);

        return n > 0 && n <= CG_ID_MAX &&
               strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

static int check_limits(const profile_limits *l, agora_error_t *err)
{
        if (l->memory_bytes == 0)
                return agora_error_set(err, AGORA_ERR_USAGE, "cgroup: memory limit 0: nothing could run");
        if (l->pids == 0)
                return agora_error_set(err, AGORA_ERR_USAGE, "cgroup: pids limit 0: nothing could run");
        /* v1 has no weight; the mapping to shares below would quietly clamp
         * an out-of-range value instead of refusing it. */
        if (l->cpu_weight < 1 || l->cpu_weight > 10000)
                return agora_error_set(err, AGORA_ERR_USAGE, "cgroup: cpu-weight %" PRIu64 " is not in 1..10000",
                                       l->cpu_weight);
        if (l->cpu_quota_percent > INT64_MAX / 1000)
                return agora_error_set(err, AGORA_ERR_USAGE, "cgroup: cpu-quota %" PRIu64 "%% is too large",
                                       l->cpu_quota_percent);
        return 0;
}

/* Enable what agora needs in DIR's children, writing only what is missing:
 * a delegated root may refuse writes even of what is already on. */
static int v2_enable_controllers(const char *dir, agora_error_t *err)
{
        static const char *const wanted[] = {"memory", "pids", "cpu"};
        _cleanup_free_ char *have = NULL;
        char add[64] = "";

        if (cg_read(dir, "cgroup.subtree_control", false, &have, err) < 0)
                return -1;
        for (size_t i = 0; i < ARRAY_SIZE(wanted); i++) {
                if (has_token(have, wanted[i], " \n"))
                        continue;
                if (add[0] != '\0')
                        strcat(add, " ");
                strcat(add, "+");
                strcat(add, wanted[i]);
        }
        if (add[0] == '\0')
                return 0;
        _cleanup_free_ char *file = path_join(dir, "cgroup.subtree_control");
        _cleanup_close_ int fd = file ? open(file, O_WRONLY | O_CLOEXEC) : -1;
        if (fd < 0)
                return agora_error_set_errno(err, file ? errno : ENOMEM, "cgroup v2: opening %s", file ? file : dir);
        if (write(fd, add, strlen(add)) == (ssize_t)strlen(add))
                return 0;
        /* cgroup v2's no-internal-process rule: a cgroup other than the
         * real root that holds processes cannot give controllers to its
         * children. Seen inside a container whose processes sit in the
         * root of its cgroup namespace. */
        if (errno == EBUSY)
                return agora_error_set(err, AGORA_ERR_FAILED,
                                       "cgroup v2: cannot enable '%s' in %s: that cgroup holds processes of its own "
                                       "(move them to a child cgroup, or run agora-cage where a cgroup subtree is "
                                       "delegated to it)",
                                       add, file);
        return agora_error_set_errno(err, errno, "cgroup v2: writing '%s' to %s", add, file);
}

static int make_dir(const char *path, bool shared, agora_error_t *err)
{
        if (mkdir(path, 0755) == 0 || (shared && errno == EEXIST))
                return 0;
        if (errno == EEXIST)
                return agora_error_set(err, AGORA_ERR_EXISTS,
                                       "cgroup: %s already exists: a cage with this id is running or was left behind",
                                       path);
        return agora_error_set_errno(err, errno, "cgroup: creating %s", path);
}

/* Add MOUNT/agora/cage-ID for controller C, sharing the directory with a
 * controller co-mounted on the same hierarchy. */
static int add_dir(cage_cgroup *cg, int c, const char *mount, const char *id, agora_error_t *err)
{
        _cleanup_free_ char *parent = path_join(mount, CG_PARENT);
        char *dir = NULL;

        if (parent == NULL || asprintf(&dir, "%s/cage-%s", parent, id) < 0)
                return agora_error_set_errno(err, ENOMEM, "cgroup");
        for (size_t i = 0; i < cg->n_dirs; i++) {
                if (strcmp(cg->dirs[i], dir) == 0) {
                        cg->dir_of[c] = cg->dirs[i];
                        free(dir);
                        return 0;
                }
        }
        /* The mount's controllers first: refused there, nothing is made. */
        if ((cg->v2 && v2_enable_controllers(mount, err) < 0) || make_dir(parent, true, err) < 0 ||
            (cg->v2 && v2_enable_controllers(parent, err) < 0) || make_dir(dir, false, err) < 0) {
                free(dir);
                return -1;
        }
        cg->dirs[cg->n_dirs++] = dir;
        cg->dir_of[c] = dir;
        return 0;
}

static int v2_apply(cage_cgroup *cg, const profile_limits *l, agora_error_t *err)
{
        const char *dir = cg->dirs[0];
        bool missing = false;
        char cpu_max[48];

        if (cg_write_u64(dir, "memory.max", l->memory_bytes, err) < 0)
                return -1;
        if (cg_write(dir, "memory.swap.max", "0", &missing, err) < 0)
                return -1;
        if (missing && require_no_swap(dir, "memory.swap.max", err) < 0)
                return -1;
        if (cg_write_u64(dir, "pids.max", l->pids, err) < 0 || cg_write_u64(dir, "cpu.weight", l->cpu_weight, err) < 0)
                return -1;
        if (l->cpu_quota_percent == 0)
                snprintf(cpu_max, sizeof(cpu_max), "max %d", CG_CPU_PERIOD_US);
        else
                snprintf(cpu_max, sizeof(cpu_max), "%" PRIu64 " %d", l->cpu_quota_percent * 1000, CG_CPU_PERIOD_US);
        return cg_write(dir, "cpu.max", cpu_max, NULL, err);
}

static int v1_apply(cage_cgroup *cg, const profile_limits *l, agora_error_t *err)
{
        const char *mem = cg->dir_of[CG_MEMORY], *cpu = cg->dir_of[CG_CPU];
        uint64_t shares = l->cpu_weight * 1024 / 100; /* v2's default weight 100 is v1's default 1024 shares */
        bool missing = false;
        char quota[32];

        /* memsw must stay >= the memory limit, so memory goes first. */
        if (cg_write_u64(mem, "memory.limit_in_bytes", l->memory_bytes, err) < 0)
                return -1;
        snprintf(quota, sizeof(quota), "%" PRIu64, l->memory_bytes);
        if (cg_write(mem, "memory.memsw.limit_in_bytes", quota, &missing, err) < 0)
                return -1;
        if (missing && require_no_swap(mem, "memory.memsw.limit_in_bytes", err) < 0)
                return -1;
        if (cg_write_u64(cg->dir_of[CG_PIDS], "pids.max", l->pids, err) < 0)
                return -1;
        shares = shares < 2 ? 2 : shares > 262144 ? 262144 : shares;
        if (cg_write_u64(cpu, "cpu.shares", shares, err) < 0 ||
            cg_write_u64(cpu, "cpu.cfs_period_us", CG_CPU_PERIOD_US, err) < 0)
                return -1;
        if (l->cpu_quota_percent == 0)
                snprintf(quota, sizeof(quota), "-1");
        else
                snprintf(quota, sizeof(quota), "%" PRIu64, l->cpu_quota_percent * 1000);
        return cg_write(cpu, "cpu.cfs_quota_us", quota, NULL, err);
}

static int remove_dir(const char *dir, agora_error_t *err)
{
        int64_t deadline = clock_monotonic_ms() + CG_RMDIR_MS;

        /* A memory cgroup stays busy for a moment after its last process
         * exits, while the kernel drops the last page references. */
        while (rmdir(dir) < 0) {
                if (errno == ENOENT)
                        return 0;
                if (errno != EBUSY || clock_monotonic_ms() >= deadline)
                        return agora_error_set_errno(err, errno, "cgroup: removing %s", dir);
                clock_sleep_ms(CG_POLL_MS);
        }
        return 0;
}

/* Undo a create that failed midway: nothing ran in the directories yet. */
static void cg_discard(cage_cgroup **p)
{
        cage_cgroup *cg = *p;

        if (cg == NULL)
                return;
        for (size_t i = cg->n_dirs; i-- > 0;) {
                remove_dir(cg->dirs[i], NULL);
                free(cg->dirs[i]);
        }
        free(cg);
}

int cage_cgroup_create(const char *id, const profile_limits *limits, cage_cgroup **ret, agora_error_t *err)
{
        _cleanup_(cg_mounts_release) cg_mounts m = {0};
        _cleanup_(cg_discard) cage_cgroup *cg = NULL;
        _cleanup_free_ char *controllers = NULL;

        /* The id becomes a path component: a '/' or ".." would walk out of agora/. */
        if (id == NULL || !valid_id(id))
                return agora_error_set(err, AGORA_ERR_USAGE, "cgroup: cage id '%s' is not 1..%d of [A-Za-z0-9_-]",
                                       id ? id : "(null)", CG_ID_MAX);
        if (check_limits(limits, err) < 0 || find_mounts(&m, err) < 0)
                return -1;
        cg = calloc(1, sizeof(*cg));
        if (cg == NULL)
                return agora_error_set_errno(err, ENOMEM, "cgroup");

        /* On a hybrid host the unified hierarchy exists but holds no
         * controller we need; memory decides which hierarchy is in charge. */
        if (m.v2 != NULL && cg_read(m.v2, "cgroup.controllers", true, &controllers, err) < 0)
                return -1;
        cg->v2 = controllers != NULL && has_token(controllers, "memory", " \n");
        if (cg->v2) {
                for (int c = CG_MEMORY; c <= CG_CPU; c++)
                        if (!has_token(controllers, controller_names[c], " \n"))
                                return agora_error_set(err, AGORA_ERR_FAILED,
                                                       "cgroup v2: controller '%s' is not in %s/cgroup.controllers",
                                                       controller_names[c], m.v2);
                if (add_dir(cg, CG_MEMORY, m.v2, id, err) < 0)
                        return -1;
                for (int c = 0; c < CG_N; c++)
                        cg->dir_of[c] = cg->dirs[0];
                cg->has_kill = file_exists(cg->dirs[0], "cgroup.kill");
                if (v2_apply(cg, limits, err) < 0)
                        return -1;
        } else {
                /* A unified host whose cgroup2 does not offer memory (not
                 * delegated, or switched off) is not a v1 host: say what
                 * is missing where it is missing. */
                if (m.v1[CG_MEMORY] == NULL && m.v2 != NULL)
                        return agora_error_set(err, AGORA_ERR_FAILED,
                                               "cgroup v2: controller 'memory' is not in %s/cgroup.controllers", m.v2);
                for (int c = 0; c < CG_N; c++) {
                        if (m.v1[c] == NULL)
                                return agora_error_set(err, AGORA_ERR_FAILED,
                                                       "cgroup v1: no '%s' hierarchy in /proc/self/mountinfo",
                                                       controller_names[c]);
                        if (add_dir(cg, c, m.v1[c], id, err) < 0)
                                return -1;
                }
                if (v1_apply(cg, limits, err) < 0)
                        return -1;
        }
        *ret = take_ptr(cg);
        return 0;
}

int cage_cgroup_attach(cage_cgroup *cg, pid_t pid, agora_error_t *err)
{
        char buf[24];

        snprintf(buf, sizeof(buf), "%d", (int)pid);
        /* Memory first, so whatever the process allocates from here on is
         * charged; every hierarchy, or a v1 limit would not hold. */
        cg->emptied = false;
        for (size_t i = 0; i < cg->n_dirs; i++)
                if (cg_write(cg->dirs[i], "cgroup.procs", buf, NULL, err) < 0)
                        return -1;
        return 0;
}

/* The first pid listed in any of CG's cgroup.procs (0 if none) and where. */
static int first_pid(const cage_cgroup *cg, pid_t *ret, const char **ret_dir, agora_error_t *err)
{
        *ret = 0;
        for (size_t i = 0; i < cg->n_dirs; i++) {
                _cleanup_free_ char *procs = NULL;
                if (cg_read(cg->dirs[i], "cgroup.procs", false, &procs, err) < 0)
                        return -1;
                if (procs[0] != '\0') {
                        *ret = (pid_t)strtol(procs, NULL, 10);
                        *ret_dir = cg->dirs[i];
                        return 0;
                }
        }
        return 0;
}

static bool listed(const char *procs, pid_t pid)
{
        char want[16];
        size_t n = (size_t)snprintf(want, sizeof(want), "%d", (int)pid);

        for (const char *p = procs; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
                if (strncmp(p, want, n) == 0 && (p[n] == '\n' || p[n] == '\0'))
                        return true;
        return false;
}

/* SIGKILL every process listed in DIR. A pid read from cgroup.procs may
 * have exited and been reused by a process outside the cage before the
 * signal goes out, so each is pinned with a pidfd first and signalled only
 * if the list, read again after pinning, still has it: then the pinned
 * process is the cage's. */
static int signal_dir(const char *dir, agora_error_t *err)
{
        _cleanup_free_ char *procs = NULL, *again = NULL;
        _cleanup_free_ int *fds = NULL;
        _cleanup_free_ pid_t *pids = NULL;
        size_t n = 0, cap = 0;
        char *save = NULL;
        int r = 0;

        if (cg_read(dir, "cgroup.procs", false, &procs, err) < 0)
                return -1;
        for (char *t = strtok_r(procs, "\n", &save); t; t = strtok_r(NULL, "\n", &save)) {
                uint64_t pid;
                if (parse_u64(t, &pid) < 0 || pid == 0 || pid > INT32_MAX) {
                        r = agora_error_set(err, AGORA_ERR_FAILED, "cgroup: %s/cgroup.procs: bad pid '%s'", dir, t);
                        goto out;
                }
                if (n == cap) {
                        size_t want = cap ? 2 * cap : 64;
                        int *f = realloc(fds, want * sizeof(*fds));
                        if (f != NULL)
                                fds = f;
                        pid_t *q = realloc(pids, want * sizeof(*pids));
                        if (q != NULL)
                                pids = q;
                        if (f == NULL || q == NULL) {
                                r = agora_error_set_errno(err, ENOMEM, "cgroup: %s", dir);
                                goto out;
                        }
                        cap = want;
                }
                int fd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
                if (fd < 0 && errno == ESRCH)
                        continue; /* gone already */
                if (fd < 0) {
                        r = agora_error_set_errno(err, errno, "cgroup: pinning pid %" PRIu64 " of %s", pid, dir);
                        goto out;
                }
                fds[n] = fd;
                pids[n++] = (pid_t)pid;
        }
        if (n == 0)
                goto out;
        if (cg_read(dir, "cgroup.procs", false, &again, err) < 0) {
                r = -1;
                goto out;
        }
        for (size_t i = 0; i < n && r == 0; i++)
                if (listed(again, pids[i]) && syscall(SYS_pidfd_send_signal, fds[i], SIGKILL, NULL, 0) < 0 &&
                    errno != ESRCH)
                        r = agora_error_set_errno(err, errno, "cgroup: killing pid %d of %s", (int)pids[i], dir);
out:
        for (size_t i = 0; i < n; i++)
                close(fds[i]);
        return r;
}

static int signal_all(const cage_cgroup *cg, agora_error_t *err)
{
        for (size_t i = 0; i < cg->n_dirs; i++)
                if (signal_dir(cg->dirs[i], err) < 0)
                        return -1;
        return 0;
}

/* v2 without cgroup.kill: freeze first, so that nothing forks between
 * reading cgroup.procs and the kill (a fork bomb would otherwise outrun
 * us). v1 has no need: the cage's processes are those of its pid
 * namespace, which the caller ends by killing its PID 1 (cage_run.c). */
static int freeze(const cage_cgroup *cg, bool on, agora_error_t *err)
{
        const char *dir = cg->dirs[0];
        int64_t deadline = clock_monotonic_ms() + CG_FREEZE_MS;

        if (cg_write(dir, "cgroup.freeze", on ? "1" : "0", NULL, err) < 0)
                return -1;
        /* A task in uninterruptible sleep can hold freezing off; after a
         * while signal anyway, and let the next round catch what is left. */
        while (on && clock_monotonic_ms() < deadline) {
                _cleanup_free_ char *state = NULL;
                if (cg_read(dir, "cgroup.events", false, &state, err) < 0)
                        return -1;
                if (strstr(state, "frozen 1") != NULL)
                        break;
                clock_sleep_ms(CG_POLL_MS);
        }
        return 0;
}

static int kill_round(const cage_cgroup *cg, agora_error_t *err)
{
        int r;

        if (cg->has_kill)
                return cg_write(cg->dirs[0], "cgroup.kill", "1", NULL, err);
        if (!cg->v2)
                return signal_all(cg, err);
        if (freeze(cg, true, err) < 0)
                return -1;
        /* Frozen tasks die only once thawed, so thaw even if signalling failed. */
        r = signal_all(cg, err);
        if (freeze(cg, false, r < 0 ? NULL : err) < 0)
                return -1;
        return r;
}

int cage_cgroup_kill(cage_cgroup *cg, agora_error_t *err)
{
        int64_t deadline = clock_monotonic_ms() + CG_KILL_TIMEOUT_MS;
        const char *where = NULL;
        pid_t left = 0;

        if (first_pid(cg, &left, &where, err) < 0)
                return -1;
        while (left != 0) {
                int64_t round_end;

                if (clock_monotonic_ms() >= deadline)
                        return agora_error_set(err, AGORA_ERR_BUSY, "cgroup: %s still holds pid %d after %d s", where,
                                               (int)left, CG_KILL_TIMEOUT_MS / 1000);
                if (kill_round(cg, err) < 0)
                        return -1;
                /* Dying takes a moment (exit, freeing memory); only a process
                 * that escaped the round needs another one. */
                round_end = clock_monotonic_ms() + CG_ROUND_MS;
                do {
                        clock_sleep_ms(CG_POLL_MS);
                        if (first_pid(cg, &left, &where, err) < 0)
                                return -1;
                } while (left != 0 && clock_monotonic_ms() < round_end && clock_monotonic_ms() < deadline);
        }
        cg->emptied = true;
        return 0;
}

/* The number in DIR/FILE, or after KEY on one of its lines when KEY is
 * set; 0 when the file or the line is missing (older kernels lack some). */
static int read_stat(const char *dir, const char *file, const char *key, uint64_t *ret, agora_error_t *err)
{
        _cleanup_free_ char *buf = NULL;
        const char *p;

        *ret = 0;
        if (cg_read(dir, file, true, &buf, err) < 0)
                return -1;
        if (buf == NULL)
                return 0;
        p = buf;
        if (key != NULL) {
                size_t n = strlen(key);
                for (p = buf; p != NULL; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
                        if (strncmp(p, key, n) == 0 && p[n] == ' ')
                                break;
                if (p == NULL)
                        return 0;
                p += n + 1;
        }
        if (parse_u64(p, ret) < 0)
                return agora_error_set(err, AGORA_ERR_FAILED, "cgroup: %s/%s: cannot parse%s%s", dir, file,
                                       key ? " " : "", key ? key : "");
        return 0;
}

int cage_cgroup_stats_read(cage_cgroup *cg, cage_cgroup_stats *ret, agora_error_t *err)
{
        cage_cgroup_stats s = {0};
        const char *mem = cg->dir_of[CG_MEMORY], *pids = cg->dir_of[CG_PIDS];

        if (cg->v2) {
                if (read_stat(mem, "memory.peak", NULL, &s.peak_memory_bytes, err) < 0 ||
                    read_stat(mem, "memory.events", "oom_kill", &s.oom_kills, err) < 0)
                        return -1;
        } else {
                if (read_stat(mem, "memory.max_usage_in_bytes", NULL, &s.peak_memory_bytes, err) < 0 ||
                    read_stat(mem, "memory.oom_control", "oom_kill", &s.oom_kills, err) < 0)
                        return -1;
        }
        if (read_stat(pids, "pids.events", "max", &s.pids_max_hits, err) < 0)
                return -1;
        *ret = s;
        return 0;
}

int cage_cgroup_destroy(cage_cgroup *cg, agora_error_t *err)
{
        int r = 0;

        if (cg == NULL)
                return 0;
        /* After a kill that saw the cgroup empty (the end of every cage),
         * reading every cgroup.procs again would find the same. */
        if (!cg->emptied && cage_cgroup_kill(cg, err) < 0)
                r = -1;
        /* The first error is the one reported; the rest is still undone. */
        for (size_t i = cg->n_dirs; i-- > 0;) {
                if (remove_dir(cg->dirs[i], r < 0 ? NULL : err) < 0)
                        r = -1;
                free(cg->dirs[i]);
        }
        free(cg);
        return r;
}

const char *cage_cgroup_version(const cage_cgroup *cg)
{
        return cg == NULL ? "none" : cg->v2 ? "v2" : "v1";
}

/* Build a handle over whatever directories of cage-ID exist, for a
 * cleanup of a cage whose agora-cage is gone. */
static int open_existing(const char *id, cage_cgroup **ret, agora_error_t *err)
{
        _cleanup_(cg_mounts_release) cg_mounts m = {0};
        _cleanup_(cg_discard) cage_cgroup *cg = NULL;

        if (id == NULL || !valid_id(id))
                return agora_error_set(err, AGORA_ERR_USAGE, "cgroup: cage id '%s' is not 1..%d of [A-Za-z0-9_-]",
                                       id ? id : "(null)", CG_ID_MAX);
        if (find_mounts(&m, err) < 0)
                return -1;
        cg = calloc(1, sizeof(*cg));
        if (cg == NULL)
                return agora_error_set_errno(err, ENOMEM, "cgroup");
        for (int c = 0; c < CG_N + 1; c++) {
                const char *mount = c == CG_N ? m.v2 : m.v1[c];
                char *dir = NULL;
                struct stat st;

                if (mount == NULL)
                        continue;
                if (asprintf(&dir, "%s/%s/cage-%s", mount, CG_PARENT, id) < 0)
                        return agora_error_set_errno(err, ENOMEM, "cgroup");
                bool dup = false;
                for (size_t i = 0; i < cg->n_dirs; i++)
                        dup = dup || strcmp(cg->dirs[i], dir) == 0;
                if (dup || stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
                        free(dir);
                        continue;
                }
                cg->v2 = cg->v2 || c == CG_N;
                cg->dirs[cg->n_dirs++] = dir;
                if (c < CG_N)
                        cg->dir_of[c] = dir;
        }
        /* Point controllers without a directory at one that exists, so
         * the handle is as complete as one from create. */
        for (int c = 0; c < CG_N; c++)
                if (cg->dir_of[c] == NULL && cg->n_dirs > 0)
                        cg->dir_of[c] = cg->dirs[0];
        cg->has_kill = cg->v2 && cg->n_dirs > 0 && file_exists(cg->dirs[0], "cgroup.kill");
        *ret = take_ptr(cg);
        return 0;
}

int cage_cgroup_remove_stale(const char *id, agora_error_t *err)
{
        cage_cgroup *cg = NULL;

        if (open_existing(id, &cg, err) < 0)
                return -1;
        return cage_cgroup_destroy(cg, err);
}

int cage_cgroup_list(char ***ret_ids, agora_error_t *err)
{
        _cleanup_(cg_mounts_release) cg_mounts m = {0};
        _cleanup_strv_ char **ids = NULL;
        size_t n = 0;

        if (find_mounts(&m, err) < 0)
                return -1;
        /* Every cage has a memory directory, v1 or v2: one listing is enough. */
        const char *mount = m.v1[CG_MEMORY] ? m.v1[CG_MEMORY] : m.v2;
        _cleanup_free_ char *parent = mount ? path_join(mount, CG_PARENT) : NULL;
        ids = calloc(1, sizeof(char *));
        if (ids == NULL)
                return agora_error_set_errno(err, ENOMEM, "cgroup");
        DIR *d = parent ? opendir(parent) : NULL;
        if (d == NULL) {
                *ret_ids = take_ptr(ids);
                return 0; /* no agora/ yet: nothing was ever left */
        }
        for (struct dirent *e; (e = readdir(d)) != NULL;) {
                if (strncmp(e->d_name, "cage-", 5) != 0 || e->d_type != DT_DIR || !valid_id(e->d_name + 5))
                        continue;
                char **grown = realloc(ids, (n + 2) * sizeof(char *));
                char *id = strdup(e->d_name + 5);
                if (grown == NULL || id == NULL) {
                        free(id);
                        if (grown != NULL)
                                ids = grown;
                        closedir(d);
                        return agora_error_set_errno(err, ENOMEM, "cgroup");
                }
                ids = grown;
                ids[n++] = id;
                ids[n] = NULL;
        }
        closedir(d);
        *ret_ids = take_ptr(ids);
        return 0;
}
