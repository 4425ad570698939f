/* SPDX-License-Identifier: Apache-2.0 */
/*
 * open_tree(OPEN_TREE_CLONE) makes a detached copy of a mount tree that
 * move_mount could then attach anywhere, writable flags and all. Needs
 * CAP_SYS_ADMIN; refused by the filter.
 */
#define PROBE_NAME "open_tree"
#include "probe.h"

#include <sys/mount.h>
#include <sys/syscall.h>

int main(void)
{
        long fd;

        fd = PROBE_EXPECT_FAIL("open_tree(/, OPEN_TREE_CLONE)",
                               syscall(SYS_open_tree, AT_FDCWD, "/", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC));
        if (fd >= 0)
                close((int)fd);
        fd = PROBE_EXPECT_FAIL(
                "open_tree(/usr, OPEN_TREE_CLONE|AT_RECURSIVE)",
                syscall(SYS_open_tree, AT_FDCWD, "/usr", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE));
        if (fd >= 0)
                close((int)fd);
        probe_finish();
}
