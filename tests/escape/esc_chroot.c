/* SPDX-License-Identifier: Apache-2.0 */
/*
 * chroot is the classic way out of a chroot: chroot into a subdirectory
 * while keeping the working directory outside it, then walk up with "..".
 * It needs CAP_SYS_CHROOT, which the cage dropped (and the cage's root is a
 * pivot_root with the old root detached, so there is nothing above it).
 */
#define PROBE_NAME "chroot"
#include "probe.h"

int main(void)
{
        char dir[PATH_MAX];

        snprintf(dir, sizeof dir, "%s/chroot-escape", probe_workspace());
        mkdir(dir, 0755);
        if (chdir("/") < 0)
                probe_error("chdir /: %s", probe_errno_name(errno));
        if (PROBE_EXPECT_FAIL("chroot(workspace dir)", chroot(dir)) == 0) {
                for (int i = 0; i < 64; i++)
                        if (chdir("..") < 0)
                                break;
                PROBE_EXPECT_FAIL("chroot(.) after walking up", chroot("."));
        }
        PROBE_EXPECT_FAIL("chroot(/tmp)", chroot("/tmp"));
        rmdir(dir);
        probe_finish();
}
