/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CVE-2022-0492: mount a cgroup v1 hierarchy, set its release_agent and
 * the host kernel runs that program as root. The cage has no /sys, its own
 * cgroup namespace and no CAP_SYS_ADMIN, and the filter refuses mount. The
 * probe also reports what /proc/self/cgroup shows (the cgroup namespace
 * should hide the host's hierarchy).
 */
#define PROBE_NAME "cgroup_mount"
#include "probe.h"

#include <sys/mount.h>

int main(void)
{
        static const char *const v1[] = {"memory", "rdma", "pids"};
        char dir[PATH_MAX], buf[4096], what[96];
        struct stat st;

        snprintf(dir, sizeof dir, "%s/cgroup-escape", probe_workspace());
        mkdir(dir, 0755);
        for (size_t i = 0; i < sizeof v1 / sizeof v1[0]; i++) {
                snprintf(what, sizeof what, "mount cgroup v1 (%s)", v1[i]);
                if (PROBE_EXPECT_FAIL(what, mount("cgroup", dir, "cgroup", 0, v1[i])) == 0)
                        umount2(dir, MNT_DETACH);
        }
        if (PROBE_EXPECT_FAIL("mount cgroup2", mount("cgroup2", dir, "cgroup2", 0, NULL)) == 0)
                umount2(dir, MNT_DETACH);
        rmdir(dir);
        if (stat("/sys/fs/cgroup", &st) == 0)
                probe_note("/sys/fs/cgroup exists");
        else
                probe_note("/sys/fs/cgroup: %s", probe_errno_name(errno));
        if (probe_read_file("/proc/self/cgroup", buf, sizeof buf) > 0) {
                for (char *p = buf; *p; p++)
                        if (*p == '\n')
                                *p = ' ';
                probe_note("/proc/self/cgroup: %s", buf);
        }
        probe_finish();
}
