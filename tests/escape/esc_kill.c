/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Signals must not leave the cage: the cage's init (our parent, pid 1) came
 * from the host side and lies outside the Landlock domain, whose signal
 * scope refuses it (EPERM); host processes (the test passes pids of its
 * own) do not exist in the cage's pid namespace (ESRCH). Signal 0 checks
 * permission exactly as a real signal would, without sending anything.
 */
#define PROBE_NAME "kill"
#include "probe.h"

static void try_kill(const char *what, pid_t pid)
{
        char w[64];

        snprintf(w, sizeof w, "kill(%s %d, 0)", what, (int)pid);
        PROBE_EXPECT_FAIL(w, kill(pid, 0));
}

int main(int argc, char **argv)
{
        pid_t parent = getppid();

        try_kill("parent", parent);
        if (parent != 1)
                try_kill("pid", 1);
        for (int i = 1; i < argc; i++) {
                pid_t pid = (pid_t)strtol(argv[i], NULL, 10);
                if (pid > 1 && pid != parent && pid != getpid())
                        try_kill("host pid", pid);
        }
        probe_finish();
}
