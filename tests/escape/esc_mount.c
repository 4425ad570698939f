/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mount(2) would let the program cover the cage's view with its own (a
 * tmpfs over /tmp is the harmless form) or bind-mount / somewhere
 * writable. It needs CAP_SYS_ADMIN, which the cage dropped, and the filter
 * refuses the whole mount family.
 */
#define PROBE_NAME "mount"
#include "probe.h"

#include <sys/mount.h>

int main(void)
{
        if (PROBE_EXPECT_FAIL("mount tmpfs on /tmp", mount("tmpfs", "/tmp", "tmpfs", 0, "size=1m")) == 0)
                umount2("/tmp", MNT_DETACH);
        if (PROBE_EXPECT_FAIL("bind / on /tmp", mount("/", "/tmp", NULL, MS_BIND | MS_REC, NULL)) == 0)
                umount2("/tmp", MNT_DETACH);
        if (PROBE_EXPECT_FAIL("mount proc on /tmp", mount("proc", "/tmp", "proc", 0, NULL)) == 0)
                umount2("/tmp", MNT_DETACH);
        probe_finish();
}
