/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An fd inherited from agora-cage (a host directory, the cgroup, a socket
 * to the worker) is a way out no namespace can close: fchdir to a host
 * directory fd escapes every mount. Every fd above 2 must be closed; the
 * test runs the cage with an extra fd of its own open to check it.
 */
#define PROBE_NAME "fd_leak"
#include "probe.h"

#include <dirent.h>

int main(void)
{
        DIR *d;
        struct dirent *e;
        int open_fds = 0;

        for (int fd = 3; fd < 1024; fd++) {
                char path[64], target[PATH_MAX];
                ssize_t n;

                if (fcntl(fd, F_GETFD) < 0)
                        continue;
                snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
                n = readlink(path, target, sizeof target - 1);
                target[n > 0 ? n : 0] = '\0';
                probe_escape("fd %d is open (%s)", fd, n > 0 ? target : "unknown");
                open_fds++;
        }
        d = opendir("/proc/self/fd");
        if (!d) {
                probe_note("opendir /proc/self/fd: %s", probe_errno_name(errno));
        } else {
                int listed = 0;
                while ((e = readdir(d))) {
                        long fd;
                        if (e->d_name[0] == '.')
                                continue;
                        fd = strtol(e->d_name, NULL, 10);
                        listed++;
                        if (fd > 2 && fd != dirfd(d) && fd >= 1024)
                                probe_escape("fd %ld listed in /proc/self/fd", fd);
                }
                closedir(d);
                probe_note("/proc/self/fd lists %d entries (0-2 and its own)", listed);
        }
        if (!open_fds)
                probe_note("fds 3-1023 all EBADF");
        probe_finish();
}
