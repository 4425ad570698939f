/* SPDX-License-Identifier: Apache-2.0 */
/*
 * x32 syscalls share the x86_64 audit arch but set bit 30 of the number; a
 * filter that only checks the arch and compares numbers would let
 * 0x40000000|N through. The cage's filter kills x32 callers with SIGSYS
 * (before the kernel would even say whether it supports x32).
 */
#define PROBE_NAME "x32"
#include "probe.h"

#include <sys/syscall.h>

#define X32_SYSCALL_BIT 0x40000000L

static int attempt(void *arg, int report_fd)
{
        long ret;

        (void)arg;
        ret = syscall(X32_SYSCALL_BIT | SYS_getpid);
        if (ret < 0)
                dprintf(report_fd, "x32 getpid: %s", probe_errno_name(errno));
        else
                dprintf(report_fd, "x32 getpid returned %ld", ret);
        return ret == (long)getpid() ? 0 : 1;
}

int main(void)
{
        char report[128];
        int status;
        bool timed_out;

        if (probe_child_run(attempt, NULL, 10, report, sizeof report, &status, &timed_out) < 0)
                probe_error("fork: %s", probe_errno_name(errno));
        if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS)
                probe_denied("child %s", probe_status_describe(status));
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                probe_escaped("%s", report);
        if (WIFEXITED(status) && WEXITSTATUS(status) == 1)
                probe_denied("%s, child %s (not executed, but not killed either)", report,
                             probe_status_describe(status));
        probe_error("child %s%s, report '%s'", probe_status_describe(status), timed_out ? " (timed out)" : "", report);
}
