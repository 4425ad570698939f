/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The new mount API (fsopen, fspick, mount_setattr) reaches the same
 * powers as mount(2) through other syscall numbers, so a filter that only
 * lists mount would miss them. All need CAP_SYS_ADMIN; all are refused by
 * the filter.
 */
#define PROBE_NAME "fsopen"
#include "probe.h"

#include <sys/mount.h>
#include <sys/syscall.h>

int main(void)
{
        struct mount_attr attr = {.attr_clr = MOUNT_ATTR_RDONLY};
        long fd;

        fd = PROBE_EXPECT_FAIL("fsopen(tmpfs)", syscall(SYS_fsopen, "tmpfs", FSOPEN_CLOEXEC));
        if (fd >= 0)
                close((int)fd);
        fd = PROBE_EXPECT_FAIL("fspick(/proc/sys)", syscall(SYS_fspick, AT_FDCWD, "/proc/sys", FSPICK_CLOEXEC));
        if (fd >= 0)
                close((int)fd);
        /* Clearing RDONLY of /usr is the dangerous form; on a private
         * namespace of the host it only touches a copy. */
        PROBE_EXPECT_FAIL("mount_setattr(/usr, clear RDONLY)",
                          syscall(SYS_mount_setattr, AT_FDCWD, "/usr", 0, &attr, sizeof attr));
        probe_finish();
}
