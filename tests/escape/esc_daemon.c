/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A daemon (double fork, setsid, stdio closed) that outlives its program
 * would keep running on the host after the job. The probe starts one that
 * sleeps forever and reports its pid; the test then checks that no process
 * of the cage's host uid and no cage cgroup is left once agora-cage
 * returns. With "wait", the probe itself then sleeps too, so the job ends
 * by the cage's timeout.
 */
#define PROBE_NAME "daemon"
#include "probe.h"

int main(int argc, char **argv)
{
        bool wait_forever = argc > 1 && strcmp(argv[1], "wait") == 0;
        int p[2], status;
        pid_t first, daemon_pid = 0;

        if (pipe2(p, O_CLOEXEC) < 0)
                probe_error("pipe: %s", probe_errno_name(errno));
        first = fork();
        if (first < 0)
                probe_error("fork: %s", probe_errno_name(errno));
        if (first == 0) {
                pid_t second;
                setsid();
                second = fork();
                if (second != 0) {
                        if (second > 0)
                                probe_write_all(p[1], (const char *)&second, sizeof second);
                        _exit(second > 0 ? 0 : 1);
                }
                /* The daemon: no stdio to tie it to the job, its own
                 * session, parent gone (reparented to the cage's init). */
                close(p[1]);
                for (int fd = 0; fd <= 2; fd++)
                        close(fd);
                for (;;)
                        pause();
        }
        close(p[1]);
        waitpid(first, &status, 0);
        if (read(p[0], &daemon_pid, sizeof daemon_pid) != sizeof daemon_pid)
                probe_error("no daemon started (first child %s)", probe_status_describe(status));
        if (kill(daemon_pid, 0) < 0)
                probe_error("daemon %d already gone: %s", (int)daemon_pid, probe_errno_name(errno));
        if (!wait_forever)
                probe_denied("daemon pid %d started; the test checks it died with the cage", (int)daemon_pid);
        /* Print first: the timeout kills us without a chance to. */
        char line[160];
        int n = snprintf(line, sizeof line,
                         "denied daemon: daemon pid %d started, waiting for the timeout; the test checks it died\n",
                         (int)daemon_pid);
        probe_write_all(STDOUT_FILENO, line, (size_t)n);
        for (;;)
                pause();
}
