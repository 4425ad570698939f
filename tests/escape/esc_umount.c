/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The masks of /proc are mounts: unmounting the /dev/null bound over
 * /proc/kcore, or the read-only /proc/sys, would uncover the real files,
 * and unmounting / or /proc would show what lies beneath. umount needs
 * CAP_SYS_ADMIN, the kernel locks mounts inherited from the parent
 * namespace together, and the filter refuses umount2.
 */
#define PROBE_NAME "umount"
#include "probe.h"

#include <sys/mount.h>

int main(void)
{
        static const char *const targets[] = {"/proc/kcore", "/proc/sysrq-trigger", "/proc/sys", "/proc", "/"};

        for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
                char what[64];
                snprintf(what, sizeof what, "umount2(%s, MNT_DETACH)", targets[i]);
                PROBE_EXPECT_FAIL(what, umount2(targets[i], MNT_DETACH));
        }
        PROBE_EXPECT_FAIL("umount(/proc)", umount("/proc"));
        probe_finish();
}
