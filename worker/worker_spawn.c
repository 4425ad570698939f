/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One job: execute agora-cage and turn what it says into events. The cage
 * is never cloned from this threaded process: agora-cage is a fresh,
 * single-threaded program that builds it. The child between vfork and
 * execve only makes system calls, which is all a child of a threaded
 * process may safely do.
 *
 * agora-cage's stdout and stderr carry the program's output as it comes;
 * fd 3 (--events-fd) says when the cage is up and, last, the result; fd 4
 * (--env-fd) hands it the environment, secrets included, so that no value
 * ever appears on a command line, which every local user can read.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/strv.h"
#include "worker/worker-internal.h"

#define READ_CHUNK (64u << 10)
#define EVENT_LINE_MAX (256u << 10)
#define HIGH_FD 10 /* where the child's fds wait before dup2 puts them at 0..4 */

void spawn_outcome_release(spawn_outcome *o)
{
        free(o->error);
        o->error = NULL;
}

static void setup_failed(spawn_outcome *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void setup_failed(spawn_outcome *o, const char *fmt, ...)
{
        va_list ap;

        o->exit_code = 125;
        o->signal = 0;
        agora_hash_buffer("", 0, &o->out_sha256);
        agora_hash_buffer("", 0, &o->err_sha256);
        snprintf(o->reason, sizeof(o->reason), "setup-failed");
        free(o->error);
        va_start(ap, fmt);
        if (vasprintf(&o->error, fmt, ap) < 0)
                o->error = NULL;
        va_end(ap);
}

/* Append a formatted copy to the argument vector V (N strings). */
static int push(char ***v, size_t *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int push(char ***v, size_t *n, const char *fmt, ...)
{
        char *s = NULL;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (r < 0)
                return -1;
        if (strv_push(v, n, s) < 0) {
                free(s);
                return -1;
        }
        return 0;
}

static int build_argv(const spawn_request *r, char ***ret, agora_error_t *err)
{
        const manifest *m = r->m;
        _cleanup_strv_ char **v = NULL;
        size_t n = 0;
        char path[4096], h[AGORA_HASH_STR_LEN + 1];
        int bad = 0;

        bad |= push(&v, &n, "%s", r->w->cfg->cage_bin);
        bad |= push(&v, &n, "--profile");
        bad |= push(&v, &n, "%s", m->profile);
        bad |= push(&v, &n, "--events-fd");
        bad |= push(&v, &n, "3");
        bad |= push(&v, &n, "--env-fd");
        bad |= push(&v, &n, "4");
        if (m->timeout_s > 0) {
                bad |= push(&v, &n, "--timeout");
                bad |= push(&v, &n, "%llu", (unsigned long long)m->timeout_s);
        }
        for (size_t i = 0; i < m->n_caps; i++) {
                cache_path(r->w->cache, &m->caps[i].hash, path, sizeof(path));
                agora_hash_format(&m->caps[i].hash, h);
                bad |= push(&v, &n, "--capability");
                bad |= push(&v, &n, "%s=%s", m->caps[i].name, path);
                /* agora-cage hashes the tarball once more as it loads it:
                 * the bytes unpacked are the bytes the operator signed. */
                bad |= push(&v, &n, "--capability-hash");
                bad |= push(&v, &n, "%s=%s", m->caps[i].name, h);
        }
        bad |= push(&v, &n, "--");
        bad |= push(&v, &n, "%s", m->entrypoint);
        for (size_t i = 0; i < m->n_args; i++)
                bad |= push(&v, &n, "%s", m->args[i]);
        if (bad)
                return agora_error_set_errno(err, ENOMEM, "agora-cage arguments");
        *ret = take_ptr(v);
        return 0;
}

static void close_pair(int p[2])
{
        for (int i = 0; i < 2; i++)
                if (p[i] >= 0) {
                        close(p[i]);
                        p[i] = -1;
                }
}

/* Move FD to HIGH_FD or above, close-on-exec, so the child's dup2 calls
 * onto 0..4 can never overwrite a source they still need. */
static int lift(int *fd)
{
        int hi = fcntl(*fd, F_DUPFD_CLOEXEC, HIGH_FD);

        if (hi < 0)
                return -1;
        close(*fd);
        *fd = hi;
        return 0;
}

static void emit_chunk(spawn_event_fn fn, void *ctx, const char *stream, const unsigned char *buf, size_t n)
{
        size_t b64len = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
        _cleanup_free_ char *b64 = malloc(b64len);
        _cleanup_json_ json_t *ev = NULL;

        if (b64 == NULL)
                return;
        sodium_bin2base64(b64, b64len, buf, n, sodium_base64_VARIANT_ORIGINAL);
        ev = json_pack("{s:s, s:s}", "event", stream, "data", b64);
        if (ev != NULL)
                fn(ctx, ev);
}

/* One line from --events-fd: setup.ran becomes an event, the result is kept. */
static void event_line(const char *line, size_t len, spawn_event_fn fn, void *ctx, json_t **result)
{
        _cleanup_json_ json_t *o = json_loadb(line, len, 0, NULL);
        const char *what = json_string_value(json_object_get(o, "event"));

        if (what == NULL)
                return;
        if (strcmp(what, "setup.ran") == 0) {
                _cleanup_json_ json_t *ev =
                        json_pack("{s:s, s:O}", "event", "setup.ran", "setup_us", json_object_get(o, "setup_us"));
                if (ev != NULL)
                        fn(ctx, ev);
        } else if (strcmp(what, "result") == 0) {
                json_decref(*result);
                *result = json_incref(o);
        }
}

static void pump(int out, int errfd, int ev, spawn_event_fn fn, void *ctx, json_t **result)
{
        struct pollfd p[3] = {
                {.fd = out, .events = POLLIN}, {.fd = errfd, .events = POLLIN}, {.fd = ev, .events = POLLIN}};
        _cleanup_free_ unsigned char *buf = malloc(READ_CHUNK);
        _cleanup_free_ char *line = malloc(EVENT_LINE_MAX);
        size_t line_len = 0;

        if (buf == NULL || line == NULL)
                return;
        while (p[0].fd >= 0 || p[1].fd >= 0 || p[2].fd >= 0) {
                if (poll(p, 3, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        return;
                }
                for (int i = 0; i < 3; i++) {
                        if (p[i].fd < 0 || p[i].revents == 0)
                                continue;
                        ssize_t n = read(p[i].fd, buf, READ_CHUNK);
                        if (n < 0 && (errno == EINTR || errno == EAGAIN))
                                continue;
                        if (n <= 0) {
                                p[i].fd = -1; /* closed by the caller */
                                continue;
                        }
                        if (i < 2) {
                                emit_chunk(fn, ctx, i == 0 ? "stdout" : "stderr", buf, (size_t)n);
                                continue;
                        }
                        for (ssize_t k = 0; k < n; k++) {
                                if (buf[k] == '\n') {
                                        event_line(line, line_len, fn, ctx, result);
                                        line_len = 0;
                                } else if (line_len < EVENT_LINE_MAX) {
                                        line[line_len++] = (char)buf[k];
                                }
                        }
                }
        }
}

static void read_stream(const json_t *res, const char *key, agora_hash *h, uint64_t *bytes, bool *truncated)
{
        char k[32];
        _cleanup_error_ agora_error_t err = NULL;
        const char *s;

        snprintf(k, sizeof(k), "%s_sha256", key);
        s = json_string_value(json_object_get(res, k));
        if (s == NULL || agora_hash_parse(s, h, &err) < 0)
                agora_hash_buffer("", 0, h);
        snprintf(k, sizeof(k), "%s_bytes", key);
        *bytes = (uint64_t)json_integer_value(json_object_get(res, k));
        snprintf(k, sizeof(k), "%s_truncated", key);
        *truncated = json_is_true(json_object_get(res, k));
}

static void outcome_from(const json_t *res, int status, spawn_outcome *o)
{
        const char *reason = json_string_value(json_object_get(res, "reason"));

        agora_hash_buffer("", 0, &o->out_sha256);
        agora_hash_buffer("", 0, &o->err_sha256);
        if (res == NULL || reason == NULL || !json_is_integer(json_object_get(res, "exit_code"))) {
                if (WIFSIGNALED(status))
                        setup_failed(o, "agora-cage was killed by signal %d before it gave a result", WTERMSIG(status));
                else
                        setup_failed(o, "agora-cage exited %d without a result", WEXITSTATUS(status));
                return;
        }
        o->exit_code = (int)json_integer_value(json_object_get(res, "exit_code"));
        o->signal = (int)json_integer_value(json_object_get(res, "signal"));
        snprintf(o->reason, sizeof(o->reason), "%s", reason);
        if (json_is_string(json_object_get(res, "error")))
                o->error = strdup(json_string_value(json_object_get(res, "error")));
        read_stream(res, "stdout", &o->out_sha256, &o->out_bytes, &o->out_truncated);
        read_stream(res, "stderr", &o->err_sha256, &o->err_bytes, &o->err_truncated);
}

static void write_env(int fd, const void *a, size_t alen, const void *b, size_t blen)
{
        /* agora-cage reads its environment before anything else; if it has
         * gone (bad arguments), EPIPE says so and the result tells why. */
        if (alen > 0)
                (void)fs_write_all(fd, a, alen);
        if (blen > 0)
                (void)fs_write_all(fd, b, blen);
}

/* In its own frame, so that nothing of the caller's lives across vfork:
 * the child borrows this stack until it calls execve. FDS are what become
 * the child's 0 to 4. */
static __attribute__((noinline)) pid_t spawn_child(char **argv, char **envp, const int fds[5], pid_t parent)
{
        sigset_t empty;
        pid_t pid;

        sigemptyset(&empty);
        pid = vfork();
        if (pid != 0)
                return pid;
        /* If the worker dies, so does the cage: agora-cage tears it down on
         * SIGTERM. The job's thread is the parent here, and it lives until
         * this child has been reaped. */
        if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent)
                _exit(125);
        for (int i = 0; i < 5; i++)
                if (dup2(fds[i], i) < 0)
                        _exit(125);
        /* The worker's threads block the signals its signal thread waits
         * for; agora-cage must get them. */
        sigprocmask(SIG_SETMASK, &empty, NULL);
        execve(argv[0], argv, envp);
        _exit(127);
}

void worker_spawn_run(const spawn_request *r, spawn_event_fn fn, void *ctx, spawn_outcome *ret)
{
        _cleanup_error_ agora_error_t err = NULL;
        _cleanup_strv_ char **argv = NULL;
        _cleanup_free_ char *profiles = NULL;
        int out[2] = {-1, -1}, errp[2] = {-1, -1}, ev[2] = {-1, -1}, env[2] = {-1, -1};
        _cleanup_close_ int devnull = -1;
        json_t *result = NULL;
        pid_t pid, parent = getpid();
        int status = 0;

        memset(ret, 0, sizeof(*ret));
        if (build_argv(r, &argv, &err) < 0) {
                setup_failed(ret, "%s", agora_error_message(err));
                return;
        }
        if (r->w->cfg->profiles_dir != NULL && asprintf(&profiles, "AGORA_PROFILES=%s", r->w->cfg->profiles_dir) < 0) {
                profiles = NULL;
                setup_failed(ret, "out of memory");
                return;
        }
        char *envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", profiles, NULL};
        devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (devnull < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0 || pipe2(ev, O_CLOEXEC) < 0 ||
            pipe2(env, O_CLOEXEC) < 0 || lift(&devnull) < 0 || lift(&out[1]) < 0 || lift(&errp[1]) < 0 ||
            lift(&ev[1]) < 0 || lift(&env[0]) < 0) {
                setup_failed(ret, "pipes for agora-cage: %s", strerror(errno));
                goto out;
        }
        pid = spawn_child(argv, envp, (const int[5]){devnull, out[1], errp[1], ev[1], env[0]}, parent);
        if (pid < 0) {
                setup_failed(ret, "cannot start agora-cage: %s", strerror(errno));
                goto out;
        }
        close(out[1]), out[1] = -1;
        close(errp[1]), errp[1] = -1;
        close(ev[1]), ev[1] = -1;
        close(env[0]), env[0] = -1;
        write_env(env[1], r->plain_env, r->plain_env_len, r->secrets, r->secrets_len);
        close(env[1]), env[1] = -1;
        pump(out[0], errp[0], ev[0], fn, ctx, &result);
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
        if (WIFEXITED(status) && WEXITSTATUS(status) == 127 && result == NULL)
                setup_failed(ret, "cannot execute '%s'", argv[0]);
        else
                outcome_from(result, status, ret);
out:
        json_decref(result);
        close_pair(out);
        close_pair(errp);
        close_pair(ev);
        close_pair(env);
}
