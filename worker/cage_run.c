/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The order in which a cage is built. Every layer lives in its own file;
 * this one only says which comes when and why, so the whole setup reads top
 * to bottom:
 *
 *   agora-cage (host)                    cage PID 1                 program
 *     host id slot reserved, leftovers
 *     of killed cages swept
 *   1 cgroup created, limits set
 *   2 clone(NEWUSER|NEWNS|NEWPID|NEWNET|NEWIPC|NEWUTS) ──▶ waits for "go"
 *     child put in the cgroup, uid/gid maps written, "go" ─▶
 *                                        3 memfd_noexec, setresuid(0),
 *                                          PDEATHSIG, NEWCGROUP
 *                                        4 tmpfs root, binds, /proc, /dev,
 *                                        5 capabilities unpacked, pivot_root
 *                                          loopback, hostname
 *                                          spawn (vfork-like) ───▶ 6 stdio, rlimits, setsid,
 *                                                                     fds closed
 *                                          caps dropped,            7 caps dropped, no_new_privs
 *                                          reaps until the          8 Landlock
 *                                          program ends             9 seccomp
 *     waits: output, timeout, limits                               10 execve, granted env only
 *     kills PID 1 and the cgroup, reads its figures, removes it
 *
 * The waiting itself (output, timeout, caps, stop signals) is
 * cage_watch.c's.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "worker/cage-internal.h"

/* Every namespace but the cgroup one is made by clone itself. The cgroup
 * namespace waits until the child sits in its own cgroup, so that the
 * namespace's root is that cgroup and not the host's. */
#define CAGE_CLONE_FLAGS (CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS)

#define DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"

typedef struct cage_pipes {
        int out[2]; /* program stdout → agora-cage */
        int errp[2]; /* program stderr → agora-cage */
        int setup[2]; /* one line of error from any setup step, or PID 1's NUL byte after the exec */
        int go[2]; /* agora-cage → child: cgroup joined, ids mapped */
        int report[2]; /* PID 1 → agora-cage: how the program ended */
} cage_pipes;

static void close_fd(int *fd)
{
        if (*fd >= 0)
                close(*fd);
        *fd = -1;
}

static void pipes_close(cage_pipes *pp)
{
        int *all = (int *)pp;

        for (size_t i = 0; i < sizeof(*pp) / sizeof(int); i++)
                close_fd(&all[i]);
}

static int pipes_open(cage_pipes *pp, agora_error_t *err)
{
        int *all = (int *)pp;

        for (size_t i = 0; i < sizeof(*pp) / sizeof(int); i++)
                all[i] = -1;
        for (size_t i = 0; i < sizeof(*pp) / sizeof(int); i += 2)
                if (pipe2(&all[i], O_CLOEXEC) < 0) {
                        int e = errno;
                        pipes_close(pp);
                        return agora_error_set_errno(err, e, "cage: pipe");
                }
        /* agora-cage reads output and reports without blocking on either. */
        fcntl(pp->out[0], F_SETFL, O_NONBLOCK);
        fcntl(pp->errp[0], F_SETFL, O_NONBLOCK);
        fcntl(pp->report[0], F_SETFL, O_NONBLOCK);
        return 0;
}

/* ---- inside the cage ---- */

static _Noreturn void child_fail(int setup_fd, agora_error_t *err)
{
        const char *msg = agora_error_message(*err);
        size_t len = strnlen(msg, SETUP_MSG_MAX);

        if (write(setup_fd, msg, len) < 0) {
                /* agora-cage is gone; the exit status is all that is left */
        }
        _exit(125);
}

static int find_program(const char *name, char **env, char **ret, agora_error_t *err)
{
        const char *path = DEFAULT_PATH;

        if (strchr(name, '/') != NULL) {
                *ret = strdup(name);
                return *ret ? 0 : agora_error_set_errno(err, ENOMEM, "program '%s'", name);
        }
        /* PATH comes from the granted environment only: nothing of the
         * caller's environment reaches the cage, not even for the lookup. */
        for (char **e = env; e && *e; e++)
                if (strncmp(*e, "PATH=", 5) == 0)
                        path = *e + 5;
        _cleanup_free_ char *copy = strdup(path);
        if (copy == NULL)
                return agora_error_set_errno(err, ENOMEM, "program '%s'", name);
        char *save = NULL;
        for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
                char *cand = NULL;
                if (asprintf(&cand, "%s/%s", dir, name) < 0)
                        return agora_error_set_errno(err, ENOMEM, "program '%s'", name);
                if (access(cand, X_OK) == 0) {
                        *ret = cand;
                        return 0;
                }
                free(cand);
        }
        return agora_error_set(err, AGORA_ERR_NOTFOUND, "program '%s': not found in PATH %s", name, path);
}

/* Layers 6 to 10, in the process that becomes the program. */
static _Noreturn void run_program(const cage_config *cfg, cage_pipes *pp)
{
        agora_error_t err = NULL;
        const profile *p = cfg->profile;
        char *path = NULL;
        int setup_fd = pp->setup[1];

        /* The program starts with every signal at its default and none
         * blocked: agora-cage's own choices (SIGPIPE ignored, stop signals
         * blocked) would otherwise survive execve. */
        cage_signals_reset();
        /* 6. stdio are the pipes to agora-cage and /dev/null: never the
         *    caller's terminal, so nothing can be pushed into it. */
        int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(pp->out[1], 1) < 0 || dup2(pp->errp[1], 2) < 0) {
                agora_error_set_errno(&err, errno, "cage: stdio");
                child_fail(setup_fd, &err);
        }
        if (cage_process_rlimits(&p->limits, &err) < 0 || cage_process_session(&err) < 0 ||
            cage_process_close_fds(setup_fd, &err) < 0)
                child_fail(setup_fd, &err);
        /* 7. No capability survives into the program, and no exec can add
         *    one back (no_new_privs also makes Landlock and seccomp legal
         *    without privilege). */
        if (cage_caps_drop(&err) < 0)
                child_fail(setup_fd, &err);
        /* 8. Landlock needs no_new_privs; it comes before seccomp because
         *    its own syscalls are not on the seccomp allowlist. */
        if (cage_landlock_apply(p, &err) < 0)
                child_fail(setup_fd, &err);
        /* The lookup runs under Landlock, so it sees only what the program
         * may see. */
        if (find_program(cfg->argv[0], cfg->env, &path, &err) < 0)
                child_fail(setup_fd, &err);
        /* 9. seccomp last: from here on, only the allowlist. */
        if (cage_seccomp_apply(&err) < 0)
                child_fail(setup_fd, &err);
        /* 10. The environment is exactly what was granted. */
        static char *empty_env[] = {NULL};
        execve(path, cfg->argv, cfg->env ? cfg->env : empty_env);
        agora_error_set_errno(&err, errno, "program '%s'", cfg->argv[0]);
        child_fail(setup_fd, &err);
}

typedef struct program_args {
        const cage_config *cfg;
        cage_pipes *pp;
} program_args;

static int program_main(void *arg)
{
        program_args *a = arg;

        run_program(a->cfg, a->pp);
}

/* The program is started the way posix_spawn starts one: sharing PID 1's
 * memory, with PID 1 suspended until the exec (CLONE_VM | CLONE_VFORK), so
 * no page table is copied and no page is copied on write for a process
 * that is about to replace itself. Nothing runs beside it meanwhile, and
 * it leaves only by execve or _exit, never in the middle of a libc call;
 * it has its own stack, file table, signal handlers and credentials. */
static pid_t spawn_program(const cage_config *cfg, cage_pipes *pp)
{
        const size_t stack_len = 256u << 10;
        program_args a = {.cfg = cfg, .pp = pp};
        void *stack = mmap(NULL, stack_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
        pid_t pid;

        if (stack == MAP_FAILED)
                return -1;
        pid = clone(program_main, (char *)stack + stack_len, CLONE_VM | CLONE_VFORK | SIGCHLD, &a);
        int saved = errno;
        munmap(stack, stack_len);
        errno = saved;
        return pid;
}

/* The clone child: layers 3 to 5, then PID 1's duty. */
static _Noreturn void cage_child(const cage_config *cfg, cage_pipes *pp, int workspace_tree)
{
        agora_error_t err = NULL;
        int setup_fd = pp->setup[1];
        char go = 0;

        close_fd(&pp->out[0]);
        close_fd(&pp->errp[0]);
        close_fd(&pp->setup[0]);
        close_fd(&pp->report[0]);
        close_fd(&pp->go[1]);
        /* Nothing happens until agora-cage has put this process in the
         * cage's cgroup (so every later byte and fork is charged there) and
         * written the id maps (before them, this process has no uid). */
        if (read(pp->go[0], &go, 1) != 1)
                _exit(125);

        /* 3. No memfd of this pid namespace may be executed. Only possible
         *    now: it takes the host root's euid, which the next step gives
         *    up for good. */
        if (cage_sysctl_memfd_noexec(&err) < 0)
                child_fail(setup_fd, &err);
        /*    Become uid/gid 0 of the user namespace: the one mapped id. */
        if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0) {
                agora_error_set_errno(&err, errno, "cage: setresuid to the mapped id");
                child_fail(setup_fd, &err);
        }
        /* If agora-cage dies, the cage dies with it: PID 1's death takes the
         * whole pid namespace down. Set only now, since a change of euid
         * (the setresuid above) clears it. agora-cage keeps the write end
         * of "go" open while it lives, so a hang-up there means it died
         * before the signal was armed. */
        struct pollfd alive = {.fd = pp->go[0], .events = POLLIN};
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || poll(&alive, 1, 0) != 0)
                _exit(125);
        close_fd(&pp->go[0]);
        if (unshare(CLONE_NEWCGROUP) < 0) {
                agora_error_set_errno(&err, errno, "cage: cgroup namespace");
                child_fail(setup_fd, &err);
        }
        /* 4, 5. The new root: needs the mount namespace (from clone) and
         *    this pid namespace (for /proc); loopback needs the net one. */
        if (cage_mount_setup(cfg, workspace_tree, &err) < 0 || cage_net_setup(cfg->profile->loopback_up, &err) < 0)
                child_fail(setup_fd, &err);

        pid_t program = spawn_program(cfg, pp);
        if (program < 0) {
                agora_error_set_errno(&err, errno, "cage: starting the program");
                child_fail(setup_fd, &err);
        }

        /* PID 1 keeps nothing it does not need: no output pipe (so the
         * program's exit is end of file for agora-cage), no capability. */
        close_fd(&pp->out[1]);
        close_fd(&pp->errp[1]);
        if (cage_caps_drop(&err) < 0)
                child_fail(setup_fd, &err);
        /* CLONE_VFORK let PID 1 go on only once the program had exec'd or
         * had written its error and exited, so this byte comes after any
         * such error. It tells agora-cage that setup is over, which end of
         * file alone cannot: a PID 1 killed during setup (by the memory
         * limit) closes its end without a word too. */
        if (write(pp->setup[1], "", 1) != 1)
                _exit(125);
        close_fd(&pp->setup[1]);
        if (cage_process_close_fds(pp->report[1], &err) < 0)
                _exit(125);
        cage_init_reap(program, pp->report[1]);
        _exit(0);
}

static int start_child(const cage_config *cfg, cage_pipes *pp, int workspace_tree, cage_cgroup *cg, const cage_ids *ids,
                       pid_t *ret_pid, agora_error_t *err)
{
        /* A raw clone behaves like fork here (no new stack); the caller is
         * single-threaded, so the child inherits no lock held elsewhere. */
        pid_t pid = (pid_t)syscall(SYS_clone, CAGE_CLONE_FLAGS | SIGCHLD, NULL, NULL, NULL, NULL);

        if (pid < 0)
                return agora_error_set_errno(err, errno, "cage: clone of the namespaces");
        if (pid == 0)
                cage_child(cfg, pp, workspace_tree);
        *ret_pid = pid;
        close_fd(&pp->out[1]);
        close_fd(&pp->errp[1]);
        close_fd(&pp->setup[1]);
        close_fd(&pp->report[1]);
        close_fd(&pp->go[0]);
        if (cage_cgroup_attach(cg, pid, err) < 0 || cage_userns_map_parent(pid, ids, err) < 0)
                return -1;
        if (write(pp->go[1], "g", 1) != 1)
                return agora_error_set_errno(err, errno, "cage: starting the child");
        /* go[1] stays open until the cage is over: see cage_child. */
        return 0;
}

static int run_in_cgroup(const cage_config *cfg, cage_cgroup *cg, const cage_ids *ids, double start,
                         const cage_signals *sig, cage_result *ret, agora_error_t *err)
{
        const profile *p = cfg->profile;
        uint64_t timeout = cfg->timeout_s ? cfg->timeout_s : p->limits.timeout_s;
        cage_pipes pp;
        cage_watch w = {.pid = -1, .pidfd = -1, .report_fd = -1, .cg = cg, .wait_mask = &sig->wait_mask};
        cage_cgroup_stats st = {0};
        _cleanup_close_ int workspace_tree = -1;
        int r = -1;

        if (pipes_open(&pp, err) < 0)
                return -1;
        if (cage_pump_init(&w.pumps[0], &ret->out, pp.out[0], p->limits.output_bytes, cfg->capture,
                           cfg->relay_stdout_fd, err) < 0 ||
            cage_pump_init(&w.pumps[1], &ret->err, pp.errp[0], p->limits.output_bytes, cfg->capture,
                           cfg->relay_stderr_fd, err) < 0)
                goto out;
        pp.out[0] = pp.errp[0] = -1; /* the pumps own them now */
        if (cage_mount_workspace_parent(cfg->workspace_dir, p, &workspace_tree, err) < 0 ||
            start_child(cfg, &pp, workspace_tree, cg, ids, &w.pid, err) < 0)
                goto out;
        w.pidfd = (int)syscall(SYS_pidfd_open, w.pid, 0);
        if (w.pidfd < 0) {
                agora_error_set_errno(err, errno, "cage: pidfd_open");
                goto out;
        }
        w.report_fd = pp.report[0];
        bool started = false;
        if (cage_watch_setup(pp.setup[0], start + (double)timeout, &sig->wait_mask, &started, err) < 0)
                goto out;
        if (started && cfg->on_started != NULL) {
                cage_started info = {.setup_us = (uint64_t)((cage_now() - start) * 1e6), .host_uid = ids->host_uid};
                cfg->on_started(cfg->started_ctx, &info);
        }
        /* The timeout is the program's: it starts at exec. */
        if (cage_watch_run(&w, cage_now() + (double)timeout, err) < 0)
                goto out;
        if (cage_cgroup_stats_read(cg, &st, err) < 0)
                goto out;
        /* PID 1 died without a word and nothing killed it: setup broke. */
        if (!w.have_report && w.stopped == CAGE_STOP_NONE && st.oom_kills == 0) {
                agora_error_set(err, AGORA_ERR_FAILED, "cage: PID 1 died before the program ended");
                goto out;
        }
        cage_watch_result(&w, &st, ret);
        r = 0;
out:
        if (w.pid > 0 && !w.init_done) {
                agora_error_t kill_err = NULL;
                cage_cgroup_kill(cg, &kill_err);
                agora_error_release(&kill_err);
                kill(w.pid, SIGKILL);
                while (waitpid(w.pid, NULL, __WALL) < 0 && errno == EINTR) {
                }
        }
        for (int i = 0; i < 2; i++)
                if (w.pumps[i].hasher != NULL)
                        cage_pump_finish(&w.pumps[i]);
        if (w.pidfd >= 0)
                close(w.pidfd);
        pipes_close(&pp);
        return r;
}

/* An agora-cage killed with SIGKILL takes its cage down with it (PID 1
 * dies of PDEATHSIG, and with it the pid namespace), but cannot remove its
 * cgroup. Every agora-cage sweeps such leftovers before it starts: a
 * cgroup whose host id slot nobody holds has no owner any more. The slot
 * is held during the removal, so no new cage can take it meanwhile. */
static int sweep_stale(const cage_ids *ids, agora_error_t *err)
{
        _cleanup_strv_ char **stale = NULL;

        if (cage_cgroup_list(&stale, err) < 0)
                return -1;
        for (char **id = stale; *id; id++) {
                char *end = NULL;
                unsigned long uid = strtoul(*id, &end, 10);
                if (end == *id || *end != '\0' || uid > UINT32_MAX)
                        continue; /* not a name agora-cage gives */
                int held = cage_userns_try_hold_parent(ids, (uid_t)uid, err);
                if (held < 0)
                        return -1;
                if (held == 0)
                        continue;
                agora_error_t stale_err = NULL;
                int r = cage_cgroup_remove_stale(*id, &stale_err);
                cage_userns_unhold_parent(ids, (uid_t)uid);
                /* Another slot's leftover that will not go (a process stuck
                 * in the kernel) is retried by the next agora-cage; it must
                 * not stop this cage. Our own slot's would: create needs
                 * the name. */
                if (r < 0 && (uid_t)uid == ids->host_uid) {
                        *err = take_ptr(stale_err);
                        return agora_error_wrap(err, "cage: removing what a killed agora-cage left");
                }
                agora_error_release(&stale_err);
        }
        return 0;
}

/* A --workspace directory belongs to the cage's host id while the cage
 * runs (uid 0 of the cage could not write to a root-owned directory
 * otherwise) and goes back to its owner afterwards. Files the program made
 * keep the cage's id: an unprivileged stranger to the host, never root. */
static int lend_workspace(const char *dir, const cage_ids *ids, struct stat *ret_was, agora_error_t *err)
{
        if (dir == NULL)
                return 0;
        if (lstat(dir, ret_was) < 0)
                return agora_error_set_errno(err, errno, "workspace '%s'", dir);
        if (S_ISLNK(ret_was->st_mode))
                return agora_error_set(err, AGORA_ERR_USAGE, "workspace '%s': a symlink; name the directory itself",
                                       dir);
        if (!S_ISDIR(ret_was->st_mode))
                return agora_error_set(err, AGORA_ERR_USAGE, "workspace '%s': not a directory", dir);
        if (lchown(dir, ids->host_uid, ids->host_gid) < 0)
                return agora_error_set_errno(err, errno, "workspace '%s': lending it to the cage", dir);
        return 0;
}

static int give_back_workspace(const char *dir, const struct stat *was, agora_error_t *err)
{
        if (dir == NULL || !S_ISDIR(was->st_mode))
                return 0;
        if (lchown(dir, was->st_uid, was->st_gid) < 0 && err != NULL)
                return agora_error_set_errno(err, errno, "workspace '%s': giving it back", dir);
        return 0;
}

int cage_run(const cage_config *cfg, cage_result *ret, agora_error_t *err)
{
        cage_ids ids = {.lock_fd = -1};
        cage_cgroup *cg = NULL;
        struct stat lent = {0};
        cage_signals sig;
        char id[32];
        double start = cage_now();
        int r;

        memset(ret, 0, sizeof(*ret));
        ret->reason = CAGE_SETUP_FAILED;
        if (cfg->argv == NULL || cfg->argv[0] == NULL)
                return agora_error_set(err, AGORA_ERR_USAGE, "cage: no program given");
        /* Mapping a host id other than our own and creating cgroups take
         * privilege on the host; without it no layer could be promised. */
        if (geteuid() != 0)
                return agora_error_set(err, AGORA_ERR_FAILED,
                                       "cage: agora-cage must run as root (to map a unique host id and create "
                                       "cgroups)");
        cage_signals_catch(&sig);
        if (cage_userns_reserve_parent(&ids, err) < 0) {
                cage_signals_restore(&sig);
                return -1;
        }
        ret->host_uid = ids.host_uid;
        /* The workspace is checked and lent before anything of the cage
         * exists: a bad --workspace leaves nothing to undo. */
        if (lend_workspace(cfg->workspace_dir, &ids, &lent, err) < 0) {
                give_back_workspace(cfg->workspace_dir, &lent, NULL);
                cage_userns_release_parent(&ids);
                cage_signals_restore(&sig);
                return -1;
        }
        /* 1. The cgroup comes first, so that every later step of the cage,
         *    its tmpfs pages included, is charged to it. The id is the
         *    reserved slot's: no running cage has the same. */
        snprintf(id, sizeof(id), "%u", (unsigned)ids.host_uid);
        if (sweep_stale(&ids, err) < 0 || cage_cgroup_create(id, &cfg->profile->limits, &cg, err) < 0) {
                give_back_workspace(cfg->workspace_dir, &lent, NULL);
                cage_userns_release_parent(&ids);
                cage_signals_restore(&sig);
                return -1;
        }
        r = run_in_cgroup(cfg, cg, &ids, start, &sig, ret, err);
        if (give_back_workspace(cfg->workspace_dir, &lent, r == 0 ? err : NULL) < 0)
                r = -1;
        {
                agora_error_t d_err = NULL;
                if (cage_cgroup_destroy(cg, &d_err) < 0 && r == 0) {
                        *err = take_ptr(d_err);
                        r = -1;
                }
                agora_error_release(&d_err);
        }
        cage_userns_release_parent(&ids);
        cage_signals_restore(&sig);
        ret->wall_s = cage_now() - start;
        if (r < 0)
                ret->reason = CAGE_SETUP_FAILED;
        return r;
}
