/* SPDX-License-Identifier: Apache-2.0 */
/*
 * agora worker start [--jobs N] | stop | status: the local worker, an
 * agora-worker that agora starts itself on ipc://STATE/worker/worker.sock,
 * trusting the operator's key, so that `agora dispatch` works on one host
 * with nothing set up. It runs in its own session, detached from the
 * terminal, and outlives the agora that started it.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cjson.h"
#include "common/cleanup.h"
#include "common/clock.h"
#include "common/schema.h"
#include "common/fsutil.h"
#include "control/dispatch.h"

extern char **environ;

#define START_WAIT_MS 5000
#define STOP_WAIT_MS 30000

static const char usage[] = "usage: agora worker start [--jobs N]\n"
                            "       agora worker stop\n"
                            "       agora worker status [--json]\n"
                            "\n"
                            "The local worker: an agora-worker serving ipc://STATE/worker/worker.sock,\n"
                            "trusting the operator's public key, which agora dispatch uses when no\n"
                            "--worker and no workers file is given (and starts if needed). STATE is\n"
                            "$AGORA_STATE, else $XDG_STATE_HOME/agora, else ~/.local/state/agora. The\n"
                            "program is $AGORA_WORKER_BIN, else agora-worker beside agora.\n"
                            "\n"
                            "  start      start it unless it runs; wait until it answers\n"
                            "    --jobs N   run at most N jobs at once (default: the worker's)\n"
                            "  stop       stop it, letting running jobs finish (at most 30 s)\n"
                            "  status     whether it runs, and what it reports\n"
                            "    --json     print one JSON document\n"
                            "  --help     print this help\n";

/* Whether PID is the worker serving URL: its command line says
 * `--listen URL`. A pid file can outlive its process and the pid be
 * reused; only our own worker may be signalled or trusted to answer. A
 * zombie has no command line and so counts as gone. */
static bool pid_is_worker(pid_t pid, const char *url)
{
        _cleanup_free_ char *path = NULL, *buf = NULL;
        _cleanup_error_ agora_error_t ignored = NULL;
        size_t len;

        if (pid <= 1 || asprintf(&path, "/proc/%d/cmdline", (int)pid) < 0)
                return false;
        /* /proc files report size 0, which fs_read_file reads to the end. */
        if (fs_read_file(path, 1 << 16, &buf, &len, &ignored) < 0)
                return false;
        for (size_t i = 0; i < len;) {
                const char *arg = buf + i;
                size_t n = strlen(arg);

                if (strcmp(arg, "--listen") == 0 && i + n + 1 < len && strcmp(arg + n + 1, url) == 0)
                        return true;
                i += n + 1;
        }
        return false;
}

/* The pid the pid file names if that process is our worker, else 0. */
static pid_t running_pid(const local_worker *lw)
{
        _cleanup_error_ agora_error_t ignored = NULL;
        _cleanup_free_ char *buf = NULL;
        uint64_t pid;

        if (fs_read_file(lw->pid_path, 64, &buf, NULL, &ignored) < 0)
                return 0;
        buf[strcspn(buf, "\n")] = '\0';
        if (schema_parse_uint(buf, INT_MAX, &pid) < 0 || !pid_is_worker((pid_t)pid, lw->url))
                return 0;
        return (pid_t)pid;
}

/* Held from the check to the pid file, so that two agoras starting the
 * worker at once start one. Closed on exec (O_CLOEXEC), so the worker
 * never holds it. */
static int lock_take(const local_worker *lw, int *ret, agora_error_t *err)
{
        _cleanup_close_ int fd = -1;

        if (fs_mkdir_p(lw->dir, 0700, err) < 0)
                return agora_error_wrap(err, "local worker");
        fd = open(lw->lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return agora_error_set_errno(err, errno, "local worker: lock '%s'", lw->lock_path);
        while (flock(fd, LOCK_EX) < 0)
                if (errno != EINTR)
                        return agora_error_set_errno(err, errno, "local worker: lock '%s'", lw->lock_path);
        *ret = take_fd(fd);
        return 0;
}

static int worker_bin(char **ret, agora_error_t *err)
{
        if (fs_program_beside_self("AGORA_WORKER_BIN", "agora-worker", ret, err) < 0)
                return agora_error_wrap(err, "local worker");
        return 0;
}

static void spawn_actions_freep(posix_spawn_file_actions_t **fa)
{
        if (*fa != NULL)
                posix_spawn_file_actions_destroy(*fa);
}

static int spawn_worker(const char *bin, const char *trust, const local_worker *lw, unsigned jobs, pid_t *ret,
                        agora_error_t *err)
{
        posix_spawn_file_actions_t fa_storage;
        _cleanup_(spawn_actions_freep) posix_spawn_file_actions_t *fa = NULL;
        posix_spawnattr_t attr;
        sigset_t none, all;
        char jobs_s[16];
        char *argv[14];
        size_t i = 0;
        int rv;

        snprintf(jobs_s, sizeof(jobs_s), "%u", jobs);
        argv[i++] = (char *)bin;
        argv[i++] = "serve";
        argv[i++] = "--listen";
        argv[i++] = lw->url;
        argv[i++] = "--trust";
        argv[i++] = (char *)trust;
        argv[i++] = "--state";
        argv[i++] = lw->dir;
        argv[i++] = "--name";
        argv[i++] = "local";
        if (jobs > 0) {
                argv[i++] = "--jobs";
                argv[i++] = jobs_s;
        }
        argv[i] = NULL;

        if (posix_spawn_file_actions_init(&fa_storage) != 0)
                return agora_error_set_errno(err, ENOMEM, "local worker");
        fa = &fa_storage;
        /* No terminal: the worker outlives this command, and a job's
         * output goes to its dispatcher, never to whoever started it. */
        if (posix_spawn_file_actions_addopen(fa, 0, "/dev/null", O_RDONLY, 0) != 0 ||
            posix_spawn_file_actions_addopen(fa, 1, lw->log_path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW, 0600) !=
                    0 ||
            posix_spawn_file_actions_adddup2(fa, 1, 2) != 0)
                return agora_error_set_errno(err, ENOMEM, "local worker");
        sigemptyset(&none);
        sigfillset(&all);
        if (posix_spawnattr_init(&attr) != 0)
                return agora_error_set_errno(err, ENOMEM, "local worker");
        /* A session of its own: the terminal's ^C and hang-up stop this
         * agora, not the worker and the jobs of every other dispatch. */
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
        posix_spawnattr_setsigmask(&attr, &none);
        posix_spawnattr_setsigdefault(&attr, &all);
        rv = posix_spawn(ret, bin, fa, &attr, argv, environ);
        posix_spawnattr_destroy(&attr);
        if (rv != 0)
                return agora_error_set_errno(err, rv, "local worker: cannot start '%s'", bin);
        return 0;
}

/* Wait until the worker PID answers a status request. */
static int wait_answer(const local_worker *lw, pid_t pid, agora_error_t *err)
{
        _cleanup_conn_ dispatch_conn *c = NULL;
        int64_t deadline = clock_monotonic_ms() + START_WAIT_MS;

        if (dispatch_conn_open(lw->url, NULL, &c, err) < 0)
                return -1;
        for (;;) {
                _cleanup_error_ agora_error_t e = NULL;
                _cleanup_json_ json_t *st = NULL;
                dispatch_why why;
                int status;

                if (waitpid(pid, &status, WNOHANG) == pid) {
                        if (WIFEXITED(status))
                                return agora_error_set(err, AGORA_ERR_FAILED,
                                                       "local worker exited at start (status %d); see %s",
                                                       WEXITSTATUS(status), lw->log_path);
                        return agora_error_set(err, AGORA_ERR_FAILED,
                                               "local worker was killed at start (signal %d); see %s", WTERMSIG(status),
                                               lw->log_path);
                }
                if (dispatch_status(c, 250, &st, &why, &e) == 0)
                        return 0;
                if (why.kind == DISPATCH_FAIL_REFUSED)
                        return agora_error_set(err, AGORA_ERR_FAILED, "local worker: %s", agora_error_message(e));
                if (clock_monotonic_ms() >= deadline) {
                        kill(pid, SIGTERM);
                        return agora_error_set(err, AGORA_ERR_FAILED,
                                               "local worker did not answer within %d s (stopped it); see %s",
                                               START_WAIT_MS / 1000, lw->log_path);
                }
                clock_sleep_ms(20);
        }
}

/* A running worker that does not answer is not one to start another
 * beside (it holds the socket), nor one to dispatch to. */
static int check_answers(const local_worker *lw, pid_t pid, json_t **ret_status, agora_error_t *err)
{
        _cleanup_conn_ dispatch_conn *c = NULL;
        _cleanup_error_ agora_error_t e = NULL;
        dispatch_why why;

        if (dispatch_conn_open(lw->url, NULL, &c, err) < 0)
                return -1;
        if (dispatch_status(c, DISPATCH_STATUS_TIMEOUT_MS * 2, ret_status, &why, &e) < 0)
                return agora_error_set(err, AGORA_ERR_FAILED,
                                       "local worker (pid %d) does not answer: %s; see %s or run agora worker stop",
                                       (int)pid, agora_error_message(e), lw->log_path);
        return 0;
}

static int ensure(cli_ctx *ctx, const local_worker *lw, unsigned jobs, pid_t *ret_pid, bool *ret_started,
                  agora_error_t *err)
{
        _cleanup_close_ int lock = -1;
        _cleanup_free_ char *bin = NULL, *trust = NULL, *pid_text = NULL;
        _cleanup_json_ json_t *st = NULL;
        const char *pub;
        pid_t pid;

        *ret_started = false;
        if (cli_key_path(ctx, NULL, &pub, err) < 0)
                return -1;
        if (lock_take(lw, &lock, err) < 0)
                return -1;
        pid = running_pid(lw);
        if (pid > 0) {
                if (check_answers(lw, pid, &st, err) < 0)
                        return -1;
                *ret_pid = pid;
                return 0;
        }
        /* The worker trusts the key in this file for as long as it runs:
         * it must be the operator's, and found wherever the worker's
         * working directory is. */
        trust = realpath(pub, NULL);
        if (trust == NULL)
                return agora_error_set_errno(err, errno, "local worker: operator public key '%s'", pub);
        if (worker_bin(&bin, err) < 0)
                return -1;
        if (spawn_worker(bin, trust, lw, jobs, &pid, err) < 0)
                return -1;
        if (wait_answer(lw, pid, err) < 0)
                return -1;
        if (asprintf(&pid_text, "%d\n", (int)pid) < 0)
                return agora_error_set_errno(err, ENOMEM, "local worker");
        if (fs_write_atomic(lw->pid_path, pid_text, strlen(pid_text), 0600, true, err) < 0)
                return agora_error_wrap(err, "local worker (pid %d) runs, but its pid file", (int)pid);
        *ret_pid = pid;
        *ret_started = true;
        return 0;
}

int local_worker_ensure(cli_ctx *ctx, const local_worker *lw, unsigned jobs, agora_error_t *err)
{
        bool started;
        pid_t pid;

        /* The common case, without the lock or a status round trip: the
         * worker the pid file names is alive. If it does not answer, the
         * dispatch itself says so. */
        if (running_pid(lw) > 0)
                return 0;
        return ensure(ctx, lw, jobs, &pid, &started, err);
}

static int print_state(cli_ctx *ctx, const local_worker *lw, const char *state, pid_t pid, json_t *status,
                       const char *text, agora_error_t *err)
{
        _cleanup_json_ json_t *o = NULL;

        if (!ctx->arg_json) {
                fputs(text, stdout);
                return 0;
        }
        o = json_pack("{s:s, s:s, s:s}", "state", state, "url", lw->url, "log", lw->log_path);
        if (o == NULL || (pid > 0 && json_object_set_new(o, "pid", json_integer(pid)) < 0) ||
            (status != NULL && json_object_set(o, "status", status) < 0))
                return agora_error_set_errno(err, ENOMEM, "local worker");
        return output_json(o, false, err);
}

static int worker_start(cli_ctx *ctx, const local_worker *lw, unsigned jobs, agora_error_t *err)
{
        _cleanup_free_ char *text = NULL;
        bool started;
        pid_t pid;

        if (ensure(ctx, lw, jobs, &pid, &started, err) < 0)
                return -1;
        if (asprintf(&text, "local worker %s (pid %d) on %s\n", started ? "started" : "already running", (int)pid,
                     lw->url) < 0)
                return agora_error_set_errno(err, ENOMEM, "local worker");
        return print_state(ctx, lw, started ? "started" : "running", pid, NULL, text, err);
}

static int worker_stop(cli_ctx *ctx, const local_worker *lw, agora_error_t *err)
{
        _cleanup_close_ int lock = -1;
        _cleanup_free_ char *text = NULL;
        int64_t deadline;
        pid_t pid;

        if (lock_take(lw, &lock, err) < 0)
                return -1;
        pid = running_pid(lw);
        if (pid == 0) {
                (void)unlink(lw->pid_path); /* a stale one */
                return print_state(ctx, lw, "stopped", 0, NULL, "local worker is not running\n", err);
        }
        if (kill(pid, SIGTERM) < 0 && errno != ESRCH)
                return agora_error_set_errno(err, errno, "local worker (pid %d)", (int)pid);
        /* SIGTERM drains: running jobs finish (or time out) first. */
        deadline = clock_monotonic_ms() + STOP_WAIT_MS;
        while (pid_is_worker(pid, lw->url)) {
                if (clock_monotonic_ms() >= deadline)
                        return agora_error_set(err, AGORA_ERR_FAILED,
                                               "local worker (pid %d) did not stop within %d s; see %s", (int)pid,
                                               STOP_WAIT_MS / 1000, lw->log_path);
                clock_sleep_ms(50);
        }
        if (unlink(lw->pid_path) < 0 && errno != ENOENT)
                return agora_error_set_errno(err, errno, "local worker: pid file '%s'", lw->pid_path);
        if (asprintf(&text, "local worker stopped (pid %d)\n", (int)pid) < 0)
                return agora_error_set_errno(err, ENOMEM, "local worker");
        return print_state(ctx, lw, "stopped", pid, NULL, text, err);
}

/* One "key: value" line per field of the status reply, in its order. */
static void print_status_fields(const json_t *st)
{
        const char *k;
        json_t *v;

        json_object_foreach((json_t *)st, k, v)
        {
                _cleanup_error_ agora_error_t ignored = NULL;
                _cleanup_free_ char *text = NULL;
                size_t len;

                if (json_is_string(v))
                        printf("  %-11s %s\n", k, json_string_value(v));
                else if (cjson_dump(v, &text, &len, &ignored) == 0)
                        printf("  %-11s %s\n", k, text);
        }
}

static int worker_status(cli_ctx *ctx, const local_worker *lw, agora_error_t *err)
{
        _cleanup_json_ json_t *st = NULL;
        _cleanup_free_ char *text = NULL;
        _cleanup_error_ agora_error_t e = NULL;
        pid_t pid = running_pid(lw);

        if (pid == 0)
                return print_state(ctx, lw, "stopped", 0, NULL, "local worker is not running\n", err);
        if (check_answers(lw, pid, &st, &e) < 0) {
                if (asprintf(&text, "local worker (pid %d) on %s is not answering; see %s\n", (int)pid, lw->url,
                             lw->log_path) < 0)
                        return agora_error_set_errno(err, ENOMEM, "local worker");
                return print_state(ctx, lw, "not-answering", pid, NULL, text, err);
        }
        if (ctx->arg_json)
                return print_state(ctx, lw, "running", pid, st, "", err);
        printf("local worker running (pid %d) on %s\n  %-11s %s\n", (int)pid, lw->url, "log", lw->log_path);
        print_status_fields(st);
        return 0;
}

int cmd_worker(cli_ctx *ctx, int argc, char **argv, agora_error_t *err)
{
        static const struct option options[] = {
                {"jobs", required_argument, NULL, 'j'},
                {"json", no_argument, NULL, 'J'},
                {"help", no_argument, NULL, 'h'},
                {NULL, 0, NULL, 0},
        };
        _cleanup_free_ char *state = NULL;
        local_worker lw = {0};
        const char *sub;
        uint64_t jobs = 0;
        bool have_jobs = false;
        int c, r;

        while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
                switch (c) {
                case 'j':
                        if (schema_parse_uint(optarg, 1024, &jobs) < 0 || jobs == 0)
                                return cli_usage(ctx, "worker", err, "--jobs '%s': want a count from 1 to 1024",
                                                 optarg);
                        have_jobs = true;
                        break;
                case 'J':
                        ctx->arg_json = true;
                        break;
                case 'h':
                        return cli_help(usage);
                default:
                        return cli_option_error(ctx, "worker", c, argv, err);
                }
        }
        if (optind >= argc)
                return cli_usage(ctx, "worker", err, "needs start, stop or status");
        sub = argv[optind];
        if (argc - optind > 1)
                return cli_usage(ctx, "worker", err, "unexpected argument '%s'", argv[optind + 1]);
        if (strcmp(sub, "start") != 0 && strcmp(sub, "stop") != 0 && strcmp(sub, "status") != 0)
                return cli_usage(ctx, "worker", err, "'%s': want start, stop or status", sub);
        if (have_jobs && strcmp(sub, "start") != 0)
                return cli_usage(ctx, "worker", err, "--jobs goes with start");

        if (state_dir(&state, err) < 0 || local_worker_init(state, &lw, err) < 0)
                return -1;
        if (strcmp(sub, "start") == 0)
                r = worker_start(ctx, &lw, (unsigned)jobs, err);
        else if (strcmp(sub, "stop") == 0)
                r = worker_stop(ctx, &lw, err);
        else
                r = worker_status(ctx, &lw, err);
        local_worker_release(&lw);
        return r;
}
