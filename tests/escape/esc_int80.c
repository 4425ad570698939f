/* SPDX-License-Identifier: Apache-2.0 */
/*
 * int $0x80 enters the kernel through the 32-bit syscall table, where
 * numbers mean different calls: a filter written for x86_64 numbers would
 * be checking the wrong syscalls. The filter kills any process that uses
 * another architecture (SIGSYS); a kernel without IA32 emulation raises
 * SIGSEGV. Both are refusals; the attempt runs in a child.
 */
#define PROBE_NAME "int80"
#include "probe.h"

static int attempt(void *arg, int report_fd)
{
        long ret;

        (void)arg;
        /* 20 is getpid in the i386 table. */
        __asm__ volatile("int $0x80" : "=a"(ret) : "a"(20L) : "memory", "cc");
        dprintf(report_fd, "%ld", ret);
        return ret == (long)getpid() ? 0 : 1;
}

int main(void)
{
        char report[64];
        int status;
        bool timed_out;

        if (probe_child_run(attempt, NULL, 10, report, sizeof report, &status, &timed_out) < 0)
                probe_error("fork: %s", probe_errno_name(errno));
        if (WIFSIGNALED(status) && (WTERMSIG(status) == SIGSYS || WTERMSIG(status) == SIGSEGV))
                probe_denied("child %s", probe_status_describe(status));
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                probe_escaped("int $0x80 getpid returned the child's pid %s", report);
        if (report[0] && atol(report) < 0)
                probe_denied("int $0x80 getpid returned %s (%s), child %s", report,
                             probe_errno_name((int)-atol(report)), probe_status_describe(status));
        probe_error("child %s%s, report '%s'", probe_status_describe(status), timed_out ? " (timed out)" : "", report);
}
