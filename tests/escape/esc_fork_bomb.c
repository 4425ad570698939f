/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A fork bomb exhausts the host's pids. The cage's pids cgroup (and
 * RLIMIT_NPROC, which counts the cage's unique host uid) refuses forks
 * beyond the profile's limit with EAGAIN. The children wait, holding the
 * cage's stdout, until the cage tears them all down. Denied if fork failed
 * before 100000 processes.
 */
#define PROBE_NAME "fork_bomb"
#include "probe.h"

#define FORK_BOMB_MAX 100000

int main(void)
{
        long count = 0;
        double start = probe_now();
        int e = 0;

        while (count < FORK_BOMB_MAX) {
                pid_t pid = fork();
                if (pid < 0) {
                        e = errno;
                        break;
                }
                if (pid == 0) {
                        for (;;)
                                pause();
                }
                count++;
        }
        if (count >= FORK_BOMB_MAX)
                probe_escaped("%ld processes forked without a refusal", count);
        probe_denied("fork failed with %s after %ld processes (%.2f s)", probe_errno_name(e), count,
                     probe_now() - start);
}
