/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The escape suite's protocol, shared by every tests/escape/esc_*.c probe.
 *
 * A probe is a small static program that attempts one attack from inside a
 * cage and prints exactly one line, then exits:
 *
 *   denied NAME: WHAT HAPPENED     exit 0  attempted, and it failed
 *   ESCAPED NAME: DETAILS          exit 1  the attack worked
 *   error NAME: DETAILS            exit 2  the attack could not be attempted
 *
 * A probe decides for itself which failures count as "denied" and always
 * names the errno it got, so a test that fails says which layer let go.
 * Probes run unchanged on the host too, where most of them report ESCAPED:
 * that is how we know each one really makes its attempt.
 *
 * Attacks that may kill the caller (another syscall ABI, a memory bomb) run
 * in a forked child (probe_child_run) and report how the child ended.
 *
 * Every probe defines PROBE_NAME before including this file. Output goes
 * through one write(2) so that a fork never duplicates a half-written
 * stdio buffer and a probe killed mid-way prints nothing rather than half.
 */

#ifndef PROBE_NAME
#error "define PROBE_NAME before including probe.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PROBE_LINE_MAX 4000

enum {
        PROBE_EXIT_DENIED = 0,
        PROBE_EXIT_ESCAPED = 1,
        PROBE_EXIT_ERROR = 2,
};

/* "EPERM", "ENOSYS", …; glibc's own table (2.32+), with a numeric fallback
 * for values it does not name. Rotating buffers so that several calls can
 * appear in one printf. */
static inline const char *probe_errno_name(int e)
{
        static char bufs[4][24];
        static unsigned next;
        const char *name = strerrorname_np(e);
        char *b;

        if (name)
                return name;
        b = bufs[next++ % 4];
        snprintf(b, sizeof bufs[0], "errno %d", e);
        return b;
}

static inline const char *probe_signal_name(int sig)
{
        static char bufs[4][24];
        static unsigned next;
        const char *abbrev = sigabbrev_np(sig);
        char *b = bufs[next++ % 4];

        if (abbrev)
                snprintf(b, sizeof bufs[0], "SIG%s", abbrev);
        else
                snprintf(b, sizeof bufs[0], "signal %d", sig);
        return b;
}

/* "exited 3", "killed by SIGSYS" */
static inline const char *probe_status_describe(int status)
{
        static char bufs[4][48];
        static unsigned next;
        char *b = bufs[next++ % 4];

        if (WIFEXITED(status))
                snprintf(b, sizeof bufs[0], "exited %d", WEXITSTATUS(status));
        else if (WIFSIGNALED(status))
                snprintf(b, sizeof bufs[0], "killed by %s", probe_signal_name(WTERMSIG(status)));
        else
                snprintf(b, sizeof bufs[0], "wait status 0x%x", (unsigned)status);
        return b;
}

static inline void probe_write_all(int fd, const char *buf, size_t len)
{
        while (len > 0) {
                ssize_t n = write(fd, buf, len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return;
                buf += n;
                len -= (size_t)n;
        }
}

__attribute__((noreturn)) static inline void probe_vline(const char *verdict, int code, const char *fmt, va_list ap)
{
        char line[PROBE_LINE_MAX + 2];
        int n = snprintf(line, PROBE_LINE_MAX, "%s %s: ", verdict, PROBE_NAME);
        size_t len;

        if (n < 0)
                n = 0;
        vsnprintf(line + n, PROBE_LINE_MAX - (size_t)n, fmt, ap);
        len = strlen(line);
        /* Exactly one line: a newline inside a detail (a file name, a
         * program's output) must not look like a second verdict. */
        for (size_t i = 0; i < len; i++)
                if (line[i] == '\n' || line[i] == '\r')
                        line[i] = ' ';
        line[len++] = '\n';
        probe_write_all(STDOUT_FILENO, line, len);
        _exit(code);
}

__attribute__((noreturn, format(printf, 1, 2))) static inline void probe_denied(const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        probe_vline("denied", PROBE_EXIT_DENIED, fmt, ap);
}

__attribute__((noreturn, format(printf, 1, 2))) static inline void probe_escaped(const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        probe_vline("ESCAPED", PROBE_EXIT_ESCAPED, fmt, ap);
}

__attribute__((noreturn, format(printf, 1, 2))) static inline void probe_error(const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        probe_vline("error", PROBE_EXIT_ERROR, fmt, ap);
}

/*
 * Probes that make several attempts collect what happened: probe_note for
 * an attempt that failed, probe_escape for one that worked. probe_finish
 * prints ESCAPED (with the escapes first) if anything worked, else denied
 * with every note.
 */
typedef struct probe_log {
        char notes[PROBE_LINE_MAX];
        size_t notes_len;
        char escapes[PROBE_LINE_MAX];
        size_t escapes_len;
} probe_log;

static inline probe_log *probe_log_get(void)
{
        static probe_log log;
        return &log;
}

static inline void probe_log_vappend(char *buf, size_t *len, const char *fmt, va_list ap)
{
        int n;

        if (*len >= PROBE_LINE_MAX - 1)
                return;
        if (*len > 0) {
                n = snprintf(buf + *len, PROBE_LINE_MAX - *len, "; ");
                *len += (size_t)n;
                if (*len >= PROBE_LINE_MAX - 1) {
                        *len = PROBE_LINE_MAX - 1;
                        return;
                }
        }
        n = vsnprintf(buf + *len, PROBE_LINE_MAX - *len, fmt, ap);
        if (n > 0)
                *len += (size_t)n;
        if (*len >= PROBE_LINE_MAX - 1)
                *len = PROBE_LINE_MAX - 1;
}

__attribute__((format(printf, 1, 2))) static inline void probe_note(const char *fmt, ...)
{
        probe_log *log = probe_log_get();
        va_list ap;

        va_start(ap, fmt);
        probe_log_vappend(log->notes, &log->notes_len, fmt, ap);
        va_end(ap);
}

__attribute__((format(printf, 1, 2))) static inline void probe_escape(const char *fmt, ...)
{
        probe_log *log = probe_log_get();
        va_list ap;

        va_start(ap, fmt);
        probe_log_vappend(log->escapes, &log->escapes_len, fmt, ap);
        va_end(ap);
}

static inline bool probe_escaped_any(void)
{
        return probe_log_get()->escapes_len > 0;
}

__attribute__((noreturn)) static inline void probe_finish(void)
{
        probe_log *log = probe_log_get();

        if (log->escapes_len > 0) {
                if (log->notes_len > 0)
                        probe_escaped("%s (also: %s)", log->escapes, log->notes);
                probe_escaped("%s", log->escapes);
        }
        if (log->notes_len == 0)
                probe_error("nothing was attempted");
        probe_denied("%s", log->notes);
}

/*
 * PROBE_EXPECT_FAIL(WHAT, CALL): make one attempt that must fail. A failure
 * is noted with its errno; a success is an escape. Evaluates to CALL's
 * result so that a probe can undo what a successful attempt did.
 */
#define PROBE_EXPECT_FAIL(what, call)                                                   \
        ({                                                                              \
                errno = 0;                                                              \
                long probe_rc_ = (long)(call);                                          \
                int probe_errno_ = errno;                                               \
                if (probe_rc_ < 0)                                                      \
                        probe_note("%s: %s", (what), probe_errno_name(probe_errno_));   \
                else                                                                    \
                        probe_escape("%s succeeded (returned %ld)", (what), probe_rc_); \
                errno = probe_errno_;                                                   \
                probe_rc_;                                                              \
        })

/*
 * PROBE_EXPECT_EPERM(WHAT, CALL) is for calls whose first kernel check is a
 * capability (finit_module, reboot, swapon, kexec_load): their arguments
 * are chosen to be invalid, so EPERM (or ENOSYS from the filter or a kernel
 * built without the call) means the call was refused for lack of
 * privilege, while any other error means it got past the capability check,
 * which is the escape even though nothing was then done.
 */
#define PROBE_EXPECT_EPERM(what, call)                                                              \
        ({                                                                                          \
                errno = 0;                                                                          \
                long probe_rc_ = (long)(call);                                                      \
                int probe_errno_ = errno;                                                           \
                if (probe_rc_ < 0 && (probe_errno_ == EPERM || probe_errno_ == ENOSYS))             \
                        probe_note("%s: %s", (what), probe_errno_name(probe_errno_));               \
                else if (probe_rc_ < 0)                                                             \
                        probe_escape("%s passed the privilege check (then failed with %s)", (what), \
                                     probe_errno_name(probe_errno_));                               \
                else                                                                                \
                        probe_escape("%s succeeded (returned %ld)", (what), probe_rc_);             \
                errno = probe_errno_;                                                               \
                probe_rc_;                                                                          \
        })

/* Where the probes that write files work: the cage's /workspace, or
 * another directory when a probe is tried out on the host. */
static inline const char *probe_workspace(void)
{
        const char *w = getenv("PROBE_WORKSPACE");
        return w && *w ? w : "/workspace";
}

static inline double probe_now(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Run FN(ARG, REPORT_FD) in a forked child. What the child writes on
 * REPORT_FD (a pipe) comes back in BUF (NUL-terminated, at most LEN-1
 * bytes), and its wait status in *RET_STATUS. A child still running after
 * TIMEOUT_S seconds is killed with SIGKILL and *RET_TIMED_OUT set. Returns
 * 0, or -1 with errno set when no child could be started.
 */
typedef int (*probe_child_fn)(void *arg, int report_fd);

static inline int probe_child_run(probe_child_fn fn, void *arg, unsigned timeout_s, char *buf, size_t len,
                                  int *ret_status, bool *ret_timed_out)
{
        int p[2], status = 0;
        size_t got = 0;
        bool exited = false, timed_out = false;
        double deadline = probe_now() + timeout_s;
        pid_t pid;

        if (pipe2(p, O_CLOEXEC) < 0)
                return -1;
        pid = fork();
        if (pid < 0) {
                int e = errno;
                close(p[0]);
                close(p[1]);
                errno = e;
                return -1;
        }
        if (pid == 0) {
                close(p[0]);
                _exit(fn(arg, p[1]) & 0xff);
        }
        close(p[1]);
        fcntl(p[0], F_SETFL, O_NONBLOCK);
        /* Read until EOF, but also watch the child itself: a grandchild
         * that inherited the pipe must not keep us waiting. */
        for (;;) {
                struct pollfd pfd = {.fd = p[0], .events = POLLIN};
                ssize_t n;

                poll(&pfd, 1, 50);
                n = read(p[0], buf + got, len - 1 - got);
                if (n > 0) {
                        got += (size_t)n;
                        if (got < len - 1)
                                continue;
                }
                if (n == 0 || got >= len - 1)
                        break;
                if (!exited && waitpid(pid, &status, WNOHANG) == pid) {
                        exited = true;
                        continue; /* drain what it wrote before dying */
                }
                if (exited)
                        break;
                if (probe_now() > deadline) {
                        kill(pid, SIGKILL);
                        timed_out = true;
                        break;
                }
        }
        buf[got] = '\0';
        close(p[0]);
        if (!exited) {
                /* EOF or a full buffer does not mean the child is done. */
                double kill_at = probe_now() + (timed_out ? 0 : timeout_s);
                while (waitpid(pid, &status, WNOHANG) == 0) {
                        if (probe_now() > kill_at) {
                                kill(pid, SIGKILL);
                                timed_out = true;
                                waitpid(pid, &status, 0);
                                break;
                        }
                        usleep(10000);
                }
        }
        *ret_status = status;
        if (ret_timed_out)
                *ret_timed_out = timed_out;
        return 0;
}

/* A child that execs: what the program writes on stdout and stderr comes
 * back as the report; if the exec itself fails, the report holds
 * PROBE_EXEC_FAILED followed by the errno. */
#define PROBE_EXEC_FAILED "\x01probe-exec-failed="

typedef struct probe_exec_args {
        const char *path;
        int fd; /* >= 0: execveat(fd, "", …, AT_EMPTY_PATH) instead of path */
        char *const *argv;
        char *const *envp;
} probe_exec_args;

static inline int probe_exec_child_fn(void *arg, int report_fd)
{
        const probe_exec_args *a = arg;
        int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);

        if (devnull >= 0)
                dup2(devnull, STDIN_FILENO);
        dup2(report_fd, STDOUT_FILENO);
        dup2(report_fd, STDERR_FILENO);
        if (a->fd >= 0)
                execveat(a->fd, "", a->argv, a->envp, AT_EMPTY_PATH);
        else
                execve(a->path, a->argv, a->envp);
        dprintf(report_fd, PROBE_EXEC_FAILED "%d", errno);
        return 127;
}

/* Returns 0 and the output/status, with *RET_EXEC_ERRNO set (non-zero) if
 * the exec failed; -1 with errno if no child could be started. */
static inline int probe_exec(const probe_exec_args *a, unsigned timeout_s, char *buf, size_t len, int *ret_status,
                             int *ret_exec_errno)
{
        bool timed_out;
        char *mark;

        if (probe_child_run(probe_exec_child_fn, (void *)a, timeout_s, buf, len, ret_status, &timed_out) < 0)
                return -1;
        *ret_exec_errno = 0;
        mark = strstr(buf, PROBE_EXEC_FAILED);
        if (mark) {
                *ret_exec_errno = atoi(mark + strlen(PROBE_EXEC_FAILED));
                *mark = '\0';
        }
        return 0;
}

/* Copy all of IN_FD to OUT_FD. */
static inline int probe_copy_fd(int in_fd, int out_fd)
{
        char buf[65536];
        ssize_t n;

        while ((n = read(in_fd, buf, sizeof buf)) > 0) {
                ssize_t off = 0;
                while (off < n) {
                        ssize_t w = write(out_fd, buf + off, (size_t)(n - off));
                        if (w < 0 && errno == EINTR)
                                continue;
                        if (w < 0)
                                return -1;
                        off += w;
                }
        }
        return n < 0 ? -1 : 0;
}

/* Write a copy of this very program (static, so it runs anywhere) to PATH
 * with MODE: the simplest executable a probe can plant. */
static inline int probe_copy_self(const char *path, mode_t mode)
{
        int in, out, rc, e;

        in = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
        if (in < 0)
                return -1;
        out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
        if (out < 0) {
                e = errno;
                close(in);
                errno = e;
                return -1;
        }
        rc = probe_copy_fd(in, out);
        e = errno;
        close(in);
        if (close(out) < 0 && rc == 0) {
                rc = -1;
                e = errno;
        }
        if (rc == 0 && chmod(path, mode) < 0) {
                rc = -1;
                e = errno;
        }
        errno = e;
        return rc;
}

/* Read up to LEN-1 bytes of PATH into BUF. Returns the length or -1. */
static inline ssize_t probe_read_file(const char *path, char *buf, size_t len)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        size_t got = 0;
        ssize_t n = 0;
        int e;

        if (fd < 0)
                return -1;
        while (got < len - 1 && (n = read(fd, buf + got, len - 1 - got)) > 0)
                got += (size_t)n;
        e = errno;
        close(fd);
        buf[got] = '\0';
        if (n < 0) {
                errno = e;
                return -1;
        }
        return (ssize_t)got;
}

/* The value of "KEY:" in a /proc/.../status file, or NULL. */
static inline const char *probe_status_field(const char *path, const char *key, char *out, size_t outlen)
{
        char buf[8192], *line;
        size_t klen = strlen(key);

        if (probe_read_file(path, buf, sizeof buf) < 0)
                return NULL;
        for (line = buf; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
                if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
                        const char *v = line + klen + 1;
                        size_t n = 0;
                        while (*v == ' ' || *v == '\t')
                                v++;
                        while (v[n] && v[n] != '\n' && n < outlen - 1)
                                n++;
                        memcpy(out, v, n);
                        out[n] = '\0';
                        return out;
                }
        }
        return NULL;
}

/*
 * TTY injection (TIOCSTI, TIOCLINUX): issue ioctl(fd, CMD, &BYTE) through
 * the raw syscall, so that CMD reaches the seccomp filter exactly as
 * written (upper bits included), on each of stdio, /dev/tty and, in a
 * child, on a pty of our own made our controlling terminal. The last one
 * is the attempt the kernel itself would allow (legacy TIOCSTI on one's
 * own terminal), so only the filter can stop it.
 */
#include <sys/ioctl.h>
#include <sys/syscall.h>

typedef struct probe_tty_args {
        unsigned long cmd;
        char byte;
} probe_tty_args;

static inline int probe_tty_pty_child(void *arg, int report_fd)
{
        const probe_tty_args *a = arg;
        int master, slave;
        const char *name;
        char c = a->byte;

        if (setsid() < 0) {
                dprintf(report_fd, "own pty: setsid %s", probe_errno_name(errno));
                return 3;
        }
        master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (master < 0) {
                dprintf(report_fd, "no pty to try (posix_openpt %s)", probe_errno_name(errno));
                return 3;
        }
        if (grantpt(master) < 0 || unlockpt(master) < 0 || !(name = ptsname(master))) {
                dprintf(report_fd, "no pty to try (unlockpt %s)", probe_errno_name(errno));
                return 3;
        }
        slave = open(name, O_RDWR | O_CLOEXEC);
        if (slave < 0) {
                dprintf(report_fd, "no pty to try (open %s: %s)", name, probe_errno_name(errno));
                return 3;
        }
        if (ioctl(slave, TIOCSCTTY, 0) < 0) {
                dprintf(report_fd, "own pty: TIOCSCTTY %s", probe_errno_name(errno));
                return 3;
        }
        if (syscall(SYS_ioctl, slave, a->cmd, &c) == 0) {
                dprintf(report_fd, "own controlling pty %s: ioctl succeeded", name);
                return 0;
        }
        dprintf(report_fd, "own controlling pty: %s", probe_errno_name(errno));
        return 1;
}

static inline void probe_tty_attack(unsigned long cmd, char byte, const char *const *extra_paths)
{
        probe_tty_args a = {.cmd = cmd, .byte = byte};
        const char *paths[8] = {"/dev/tty"};
        char report[512], what[64];
        int status, n = 1;
        bool timed_out;

        for (int fd = 0; fd <= 2; fd++) {
                char c = byte;
                snprintf(what, sizeof what, isatty(fd) ? "fd %d (a terminal)" : "fd %d", fd);
                PROBE_EXPECT_FAIL(what, syscall(SYS_ioctl, fd, cmd, &c));
        }
        for (int i = 0; extra_paths && extra_paths[i] && n < 7; i++)
                paths[n++] = extra_paths[i];
        for (int i = 0; i < n; i++) {
                char c = byte;
                int fd = open(paths[i], O_RDWR | O_NOCTTY | O_CLOEXEC);
                if (fd < 0) {
                        probe_note("%s: open %s", paths[i], probe_errno_name(errno));
                        continue;
                }
                PROBE_EXPECT_FAIL(paths[i], syscall(SYS_ioctl, fd, cmd, &c));
                close(fd);
        }
        if (probe_child_run(probe_tty_pty_child, &a, 10, report, sizeof report, &status, &timed_out) < 0) {
                probe_note("own pty: fork %s", probe_errno_name(errno));
        } else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
                probe_escape("%s", report);
        } else {
                probe_note("%s%s", report[0] ? report : "own pty: child ",
                           report[0] ? "" : probe_status_describe(status));
        }
}
