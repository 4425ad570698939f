/* SPDX-License-Identifier: Apache-2.0 */
/*
 * agora-cage's side while a cage runs: waiting for the setup to finish,
 * then for output, the timeout, the output cap, a stop signal and PID 1's
 * end, all in one ppoll loop; then what the result says. The order of the
 * cage itself is cage_run.c's.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "worker/cage-internal.h"

/* After PID 1 is gone, how long the pipes may take to reach end of file
 * (every writer is dead by then; this only bounds a kernel surprise). */
#define DRAIN_MS 2000

/* SIGINT, SIGTERM and SIGHUP to agora-cage (an operator's ^C, a worker
 * stopping, a lost terminal) stop the cage and tear it down properly
 * instead of killing agora-cage mid-way. They are blocked except while
 * waiting, so a signal is seen exactly at a ppoll. */
static const int stop_signals[] = {SIGINT, SIGTERM, SIGHUP};
static volatile sig_atomic_t stop_signal;
_Static_assert(ARRAY_SIZE(stop_signals) == ARRAY_SIZE(((cage_signals *)0)->old), "one saved action per stop signal");

static void on_stop_signal(int sig)
{
        stop_signal = sig;
}

void cage_signals_catch(cage_signals *g)
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

void cage_signals_restore(const cage_signals *g)
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

void cage_signals_reset(void)
{
        sigset_t none;

        sigemptyset(&none);
        /* Every disposition, not only the ones agora-cage changed: an
         * ignored signal survives execve, and whoever started agora-cage
         * (a shell's background job ignores SIGINT and SIGQUIT, a daemon
         * SIGPIPE) must not decide what the program may be sent. */
        for (int sig = 1; sig < NSIG; sig++)
                if (sig != SIGKILL && sig != SIGSTOP)
                        signal(sig, SIG_DFL);
        sigprocmask(SIG_SETMASK, &none, NULL);
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

double cage_now(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Wait for the setup pipe to close: a message is a failed step; PID 1's
 * NUL byte alone is the program's exec; nothing at all is the death of
 * everything, which the watch then sees. */
int cage_watch_setup(int fd, double deadline, const sigset_t *wait_mask, bool *ret_started, agora_error_t *err)
{
        char msg[SETUP_MSG_MAX + 1];
        size_t len = 0;

        *ret_started = false;
        for (;;) {
                double left = deadline - cage_now();
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
                if (n == 0)
                        break;
                /* Counted before the check: a message that fills the
                 * buffer is still a message, not a silent success. */
                len += (size_t)n;
                if (len >= SETUP_MSG_MAX)
                        break;
        }
        msg[len] = '\0';
        /* A step's message never holds a NUL; PID 1's byte may follow it. */
        if (msg[0] != '\0')
                return agora_error_set(err, AGORA_ERR_FAILED, "%s", msg);
        *ret_started = len > 0;
        return 0;
}

static int stop_cage(cage_watch *w, cage_stop why, agora_error_t *err)
{
        if (w->stopped == CAGE_STOP_NONE)
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

int cage_watch_run(cage_watch *w, double deadline, agora_error_t *err)
{
        double drain_until = 0;

        while (!w->init_done || w->pumps[0].fd >= 0 || w->pumps[1].fd >= 0) {
                struct pollfd pfd[3];
                nfds_t n = 0;
                int idx[2] = {-1, -1};
                double now = cage_now();
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
                if (r < 0 && errno == EINTR && stop_signal != 0 && w->stopped == CAGE_STOP_NONE) {
                        if (stop_cage(w, CAGE_STOP_SIGNAL, err) < 0)
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
                        if (stop_cage(w, CAGE_STOP_TIMEOUT, err) < 0)
                                return -1;
                        deadline = cage_now() + 60; /* PID 1 is dead or dying: its pidfd says when */
                        continue;
                }
                for (int i = 0; i < 2; i++) {
                        if (idx[i] < 0 || !(pfd[idx[i]].revents & (POLLIN | POLLHUP | POLLERR)))
                                continue;
                        int over = cage_pump_read(&w->pumps[i], err);
                        if (over < 0)
                                return -1;
                        if (over && stop_cage(w, CAGE_STOP_OUTPUT, err) < 0)
                                return -1;
                }
                if (pid_idx >= 0 && (pfd[pid_idx].revents & POLLIN)) {
                        if (reap_init(w, err) < 0)
                                return -1;
                        drain_until = cage_now() + DRAIN_MS / 1000.0;
                }
        }
        return 0;
}

void cage_watch_result(const cage_watch *w, const cage_cgroup_stats *st, cage_result *ret)
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
        if (w->stopped == CAGE_STOP_TIMEOUT)
                ret->reason = CAGE_TIMEOUT;
        else if (w->stopped == CAGE_STOP_OUTPUT)
                ret->reason = CAGE_OUTPUT_LIMIT;
        else if (w->stopped == CAGE_STOP_SIGNAL)
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
