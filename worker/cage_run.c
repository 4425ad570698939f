/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The order in which a cage is built. Every layer lives in its own file;
 * this one only says which comes when and why, so the whole setup reads top
 * to bottom:
 *
 *   agora-cage (host)                    cage PID 1                 program
 *   1 cgroup created, limits set
 *   2 host id reserved
 *     clone(NEWUSER|NEWNS|NEWPID|NEWNET|NEWIPC|NEWUTS) ──▶ waits for "go"
 *     child put in the cgroup, uid/gid maps written, "go" ─▶
 *                                        3 setresuid(0), NEWCGROUP
 *                                        4 tmpfs root, binds, /proc, /dev,
 *                                        5 capabilities unpacked, pivot_root
 *                                          loopback, hostname
 *                                          fork ─────────────────▶ 6 stdio, rlimits, setsid,
 *                                                                     fds closed
 *                                          caps dropped,            7 caps dropped, no_new_privs
 *                                          reaps until the          8 Landlock
 *                                          program ends             9 seccomp
 *     waits: output, timeout, limits                               10 execve, granted env only
 *     kills the cgroup, reads its figures, removes it
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

/* After PID 1 is gone, how long the pipes may take to reach end of file
 * (every writer is dead by then; this only bounds a kernel surprise). */
#define DRAIN_MS 2000
#define DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"
#define SETUP_MSG_MAX 1024

typedef struct cage_pipes {
        int out[2]; /* program stdout → agora-cage */
        int errp[2]; /* program stderr → agora-cage */
        int setup[2]; /* one line of error from any setup step; end of file at exec */
        int go[2]; /* agora-cage → child: cgroup joined, ids mapped */
        int report[2]; /* PID 1 → agora-cage: how the program ended */
} cage_pipes;

/* SIGINT, SIGTERM and SIGHUP to agora-cage (an operator's ^C, a worker
 * stopping, a lost terminal) stop the cage and tear it down properly
 * instead of killing agora-cage mid-way. They are blocked except while
 * waiting, so a signal is seen exactly at a ppoll. */
static const int stop_signals[] = {SIGINT, SIGTERM, SIGHUP};
static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig)
{
        stop_signal = sig;
}

typedef struct signal_guard {
        sigset_t old_mask;
        sigset_t wait_mask; /* the mask while waiting: the old one, stop signals open */
        struct sigaction old[ARRAY_SIZE(stop_signals)];
} signal_guard;

static void signals_catch(signal_guard *g)
{
        struct sigaction sa = {.sa_handler = on_stop_signal};
        sigset_t block;

        stop_signal = 0;
        sigemptyset(&block);
        for (size_t i = 0; i < ARRAY_SIZE(stop_signals); i++)
                sigaddset(&block, stop_signals[i]);
        sigprocmask(SIG_BLOCK, &block, &g->old_mask);
        g->wait_mask = g->old_mask;
        sigemptyset(&sa.sa_mask);
        for (size_t i = 0; i < ARRAY_SIZE(stop_signals); i++) {
                sigdelset(&g->wait_mask, stop_signals[i]);
                sigaction(stop_signals[i], &sa, &g->old[i]);
        }
}

static void signals_restore(const signal_guard *g)
{
        for (size_t i = 0; i < ARRAY_SIZE(stop_signals); i++)
                sigaction(stop_signals[i], &g->old[i], NULL);
        sigprocmask(SIG_SETMASK, &g->old_mask, NULL);
}

static int ppoll_ms(struct pollfd *pfd, nfds_t n, int ms, const sigset_t *wait_mask)
{
        struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

        return ppoll(pfd, n, ms < 0 ? NULL : &ts, wait_mask);
}

const char *cage_reason_name(cage_reason r)
{
        switch (r) {
        case CAGE_EXITED:
                return "exited";
        case CAGE_TIMEOUT:
                return "timeout";
        case CAGE_OOM:
                return "oom";
        case CAGE_PIDS_LIMIT:
                return "pids-limit";
        case CAGE_OUTPUT_LIMIT:
                return "output-limit";
        case CAGE_SETUP_FAILED:
                return "setup-failed";
        case CAGE_STOPPED:
                return "stopped";
        }
        return "unknown";
}

void cage_result_release(cage_result *r)
{
        if (r == NULL)
                return;
        free(r->out.data);
        free(r->err.data);
        r->out.data = r->err.data = NULL;
}

static double now_s(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

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
         *    blocked: agora-cage's own choices (SIGPIPE ignored, stop
         *    signals blocked) would otherwise survive execve. */
        sigset_t none;
        sigemptyset(&none);
        signal(SIGPIPE, SIG_DFL);
        for (size_t i = 0; i < ARRAY_SIZE(stop_signals); i++)
                signal(stop_signals[i], SIG_DFL);
        sigprocmask(SIG_SETMASK, &none, NULL);
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
        close_fd(&pp->setup[1]);
        if (cage_process_close_fds(pp->report[1], &err) < 0)
                _exit(125);
        cage_init_reap(program, pp->report[1]);
        _exit(0);
}

/* ---- agora-cage's side ---- */

typedef enum stop_cause { STOP_NONE, STOP_TIMEOUT, STOP_OUTPUT, STOP_SIGNAL } stop_cause;

typedef struct cage_watch {
        pid_t pid;
        int pidfd;
        int report_fd;
        cage_cgroup *cg;
        cage_pump pumps[2];
        stop_cause stopped;
        const sigset_t *wait_mask;
        bool init_done;
        bool have_report;
        cage_init_report report;
        struct rusage usage; /* of PID 1 and everything it reaped */
} cage_watch;

/* Wait for the setup pipe: a message is a failed step, end of file is the
 * program's exec (or the death of everything, which the watch then sees). */
static int wait_setup(int fd, double deadline, const sigset_t *wait_mask, agora_error_t *err)
{
        char msg[SETUP_MSG_MAX + 1];
        size_t len = 0;

        for (;;) {
                double left = deadline - now_s();
                struct pollfd pfd = {.fd = fd, .events = POLLIN};
                if (left <= 0)
                        return agora_error_set(err, AGORA_ERR_FAILED, "cage: setup did not finish within the timeout");
                int r = ppoll_ms(&pfd, 1, (int)(left * 1000) + 1, wait_mask);
                if (r < 0 && errno == EINTR && stop_signal != 0)
                        return agora_error_set(err, AGORA_ERR_FAILED, "cage: stopped by signal %d during setup",
                                               (int)stop_signal);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return agora_error_set_errno(err, errno, "cage: waiting for setup");
                if (r == 0)
                        continue;
                ssize_t n = read(fd, msg + len, SETUP_MSG_MAX - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return agora_error_set_errno(err, errno, "cage: reading setup status");
                if (n == 0 || len + (size_t)n >= SETUP_MSG_MAX)
                        break;
                len += (size_t)n;
        }
        if (len == 0)
                return 0;
        msg[len] = '\0';
        return agora_error_set(err, AGORA_ERR_FAILED, "%s", msg);
}

static int stop_cage(cage_watch *w, stop_cause why, agora_error_t *err)
{
        if (w->stopped == STOP_NONE)
                w->stopped = why;
        /* PID 1 first: its death ends the pid namespace at once, so no
         * process of the cage can fork while the cgroup is emptied. The
         * pidfd cannot name anything but our own child. */
        if (syscall(SYS_pidfd_send_signal, w->pidfd, SIGKILL, NULL, 0) < 0 && errno != ESRCH)
                return agora_error_set_errno(err, errno, "cage: killing PID 1");
        return cage_cgroup_kill(w->cg, err);
}

static void read_report(cage_watch *w)
{
        ssize_t n = read(w->report_fd, &w->report, sizeof(w->report));

        w->have_report = n == (ssize_t)sizeof(w->report);
}

static int reap_init(cage_watch *w, agora_error_t *err)
{
        int status;

        /* wait4's rusage of PID 1 includes every process it reaped, which
         * is every process of the pid namespace: the cage's CPU time. */
        while (wait4(w->pid, &status, __WALL, &w->usage) < 0)
                if (errno != EINTR)
                        return agora_error_set_errno(err, errno, "cage: waiting for PID 1");
        w->init_done = true;
        read_report(w);
        /* PID 1's death has killed its namespace; killing the cgroup too
         * covers anything the kernel has not finished with. */
        return cage_cgroup_kill(w->cg, err);
}

static int watch(cage_watch *w, double deadline, agora_error_t *err)
{
        double drain_until = 0;

        while (!w->init_done || w->pumps[0].fd >= 0 || w->pumps[1].fd >= 0) {
                struct pollfd pfd[3];
                nfds_t n = 0;
                int idx[2] = {-1, -1};
                double now = now_s();
                double until = w->init_done ? drain_until : deadline;

                for (int i = 0; i < 2; i++)
                        if (w->pumps[i].fd >= 0) {
                                idx[i] = (int)n;
                                pfd[n++] = (struct pollfd){.fd = w->pumps[i].fd, .events = POLLIN};
                        }
                int pid_idx = -1;
                if (!w->init_done) {
                        pid_idx = (int)n;
                        pfd[n++] = (struct pollfd){.fd = w->pidfd, .events = POLLIN};
                }
                int ms = until > now ? (int)((until - now) * 1000) + 1 : 0;
                int r = ppoll_ms(pfd, n, ms, w->wait_mask);
                if (r < 0 && errno == EINTR && stop_signal != 0 && w->stopped == STOP_NONE) {
                        if (stop_cage(w, STOP_SIGNAL, err) < 0)
                                return -1;
                        continue;
                }
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return agora_error_set_errno(err, errno, "cage: poll");
                if (r == 0) {
                        if (w->init_done)
                                break; /* drained as long as it is worth waiting */
                        if (stop_cage(w, STOP_TIMEOUT, err) < 0)
                                return -1;
                        deadline = now_s() + 60; /* PID 1 is dead or dying: its pidfd says when */
                        continue;
                }
                for (int i = 0; i < 2; i++) {
                        if (idx[i] < 0 || !(pfd[idx[i]].revents & (POLLIN | POLLHUP | POLLERR)))
                                continue;
                        int over = cage_pump_read(&w->pumps[i], err);
                        if (over < 0)
                                return -1;
                        if (over && stop_cage(w, STOP_OUTPUT, err) < 0)
                                return -1;
                }
                if (pid_idx >= 0 && (pfd[pid_idx].revents & POLLIN)) {
                        if (reap_init(w, err) < 0)
                                return -1;
                        drain_until = now_s() + DRAIN_MS / 1000.0;
                }
        }
        return 0;
}

static void fill_result(const cage_watch *w, const cage_cgroup_stats *st, cage_result *ret)
{
        int status = w->report.status;

        if (w->have_report && w->report.kind == 0 && WIFEXITED(status)) {
                ret->exit_code = WEXITSTATUS(status);
        } else if (w->have_report && w->report.kind == 0 && WIFSIGNALED(status)) {
                ret->signal = WTERMSIG(status);
                ret->exit_code = 128 + ret->signal;
        } else {
                /* Killed with its PID 1: by agora-cage or by the OOM killer. */
                ret->signal = SIGKILL;
                ret->exit_code = 128 + SIGKILL;
        }
        if (w->stopped == STOP_TIMEOUT)
                ret->reason = CAGE_TIMEOUT;
        else if (w->stopped == STOP_OUTPUT)
                ret->reason = CAGE_OUTPUT_LIMIT;
        else if (w->stopped == STOP_SIGNAL)
                ret->reason = CAGE_STOPPED;
        else if (st->oom_kills > 0)
                ret->reason = CAGE_OOM;
        else if (st->pids_max_hits > 0)
                ret->reason = CAGE_PIDS_LIMIT;
        else
                ret->reason = CAGE_EXITED;
        ret->cpu_s = (double)(w->usage.ru_utime.tv_sec + w->usage.ru_stime.tv_sec) +
                     (double)(w->usage.ru_utime.tv_usec + w->usage.ru_stime.tv_usec) / 1e6;
        ret->peak_memory_bytes = st->peak_memory_bytes;
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
                         const signal_guard *sig, cage_result *ret, agora_error_t *err)
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
        if (wait_setup(pp.setup[0], start + (double)timeout, &sig->wait_mask, err) < 0)
                goto out;
        /* The timeout is the program's: it starts at exec. */
        if (watch(&w, now_s() + (double)timeout, err) < 0)
                goto out;
        if (cage_cgroup_stats_read(cg, &st, err) < 0)
                goto out;
        /* PID 1 died without a word and nothing killed it: setup broke. */
        if (!w.have_report && w.stopped == STOP_NONE && st.oom_kills == 0) {
                agora_error_set(err, AGORA_ERR_FAILED, "cage: PID 1 died before the program ended");
                goto out;
        }
        fill_result(&w, &st, ret);
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
        signal_guard sig;
        char id[32];
        double start = now_s();
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
        signals_catch(&sig);
        if (cage_userns_reserve_parent(&ids, err) < 0) {
                signals_restore(&sig);
                return -1;
        }
        ret->host_uid = ids.host_uid;
        /* 1. The cgroup comes first, so that every later step of the cage,
         *    its tmpfs pages included, is charged to it. The id is the
         *    reserved slot's: no running cage has the same. */
        snprintf(id, sizeof(id), "%u", (unsigned)ids.host_uid);
        if (sweep_stale(&ids, err) < 0 || cage_cgroup_create(id, &cfg->profile->limits, &cg, err) < 0) {
                cage_userns_release_parent(&ids);
                signals_restore(&sig);
                return -1;
        }
        r = lend_workspace(cfg->workspace_dir, &ids, &lent, err);
        if (r == 0)
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
        signals_restore(&sig);
        ret->wall_s = now_s() - start;
        if (r < 0)
                ret->reason = CAGE_SETUP_FAILED;
        return r;
}
