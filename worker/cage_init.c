/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PID 1 of the cage. The kernel makes the first process of a pid namespace
 * its init: orphans are re-parented to it, and when it exits every other
 * process of the namespace is killed. So PID 1 reaps whatever the program
 * leaves behind (a double-forked daemon included) and exits as soon as the
 * program does, which takes the rest of the namespace with it.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "worker/cage-internal.h"

static void write_report(int fd, const cage_init_report *r)
{
        const char *p = (const char *)r;
        size_t left = sizeof(*r);

        while (left > 0) {
                ssize_t n = write(fd, p, left);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return; /* agora-cage is gone: nobody to tell */
                p += n;
                left -= (size_t)n;
        }
}

void cage_init_reap(pid_t program_pid, int report_fd)
{
        cage_init_report report = {.kind = 0, .status = 0, .errnum = 0};

        for (;;) {
                int status = 0;
                pid_t pid = waitpid(-1, &status, __WALL);

                if (pid < 0) {
                        if (errno == EINTR)
                                continue;
                        /* ECHILD before the program was seen cannot happen
                         * (it is our child); report what we know. */
                        report.kind = 1;
                        report.errnum = errno;
                        break;
                }
                if (pid == program_pid) {
                        report.status = status;
                        break;
                }
        }
        write_report(report_fd, &report);
}
