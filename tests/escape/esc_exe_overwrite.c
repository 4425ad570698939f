/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CVE-2019-5736: /proc/PID/exe of a process that came from the host (the
 * cage's init is forked from agora-cage) opens the host binary itself,
 * whatever the mounts say; rewriting it runs the attacker's code as the
 * next host user of agora-cage. The kernel refuses writes to a running
 * executable (ETXTBSY), the file belongs to unmapped host root (EACCES) and
 * our own binary sits on a read-only mount (EROFS). The probe only opens
 * for writing, never truncates or writes: opening is the escape.
 */
#define PROBE_NAME "exe_overwrite"
#include "probe.h"

static void try_open(const char *path)
{
        char target[PATH_MAX];
        ssize_t n = readlink(path, target, sizeof target - 1);
        int fd;

        target[n > 0 ? n : 0] = '\0';
        fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0) {
                probe_note("%s (%s): %s", path, n > 0 ? target : "?", probe_errno_name(errno));
                return;
        }
        close(fd);
        probe_escape("opened %s (%s) for writing (nothing written)", path, n > 0 ? target : "?");
}

int main(void)
{
        char parent[64];

        try_open("/proc/self/exe");
        try_open("/proc/1/exe");
        if (getppid() != 1) {
                snprintf(parent, sizeof parent, "/proc/%d/exe", (int)getppid());
                try_open(parent);
        }
        probe_finish();
}
