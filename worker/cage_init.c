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

#include "common/fsutil.h"
#include "worker/cage-internal.h"

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
        /* A failure means agora-cage is gone: nobody left to tell. */
        (void)fs_write_all(report_fd, &report, sizeof(report));
}
