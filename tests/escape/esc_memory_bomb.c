/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A memory bomb takes the host's memory. In a child, allocate and touch
 * 64 MiB at a time up to 8 GiB: the cage's memory cgroup (swap off) has the
 * kernel OOM-kill the child (SIGKILL) at the profile's limit. A malloc
 * failure first is a refusal too; touching all 8 GiB is the escape.
 */
#define PROBE_NAME "memory_bomb"
#include "probe.h"

#define CHUNK (64ul << 20)
#define TOTAL (8ul << 30)

static int attempt(void *arg, int report_fd)
{
        (void)arg;
        for (unsigned long done = 0; done < TOTAL; done += CHUNK) {
                char *p = malloc(CHUNK);
                if (!p)
                        return 3;
                memset(p, 0xa5, CHUNK);
                /* One byte per chunk touched: the parent counts them. */
                if (write(report_fd, "#", 1) != 1)
                        return 4;
        }
        return 0;
}

int main(void)
{
        static char report[TOTAL / CHUNK + 1];
        int status;
        bool timed_out;
        unsigned long mib;

        if (probe_child_run(attempt, NULL, 60, report, sizeof report, &status, &timed_out) < 0)
                probe_error("fork: %s", probe_errno_name(errno));
        mib = strlen(report) * (CHUNK >> 20);
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                probe_escaped("child allocated and touched %lu MiB", mib);
        if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL && !timed_out)
                probe_denied("child killed by SIGKILL (OOM) after %lu MiB", mib);
        if (WIFEXITED(status) && WEXITSTATUS(status) == 3)
                probe_denied("malloc failed after %lu MiB", mib);
        probe_error("child %s%s after %lu MiB", probe_status_describe(status), timed_out ? " (timed out)" : "", mib);
}
