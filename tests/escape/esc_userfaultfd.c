/* SPDX-License-Identifier: Apache-2.0 */
/*
 * userfaultfd lets a program stall the kernel in the middle of a copy from
 * user memory, which turns many kernel races into reliable exploits. The
 * kernel allows UFFD_USER_MODE_ONLY to anyone; the filter refuses it.
 */
#define PROBE_NAME "userfaultfd"
#include "probe.h"

#include <linux/userfaultfd.h>
#include <sys/syscall.h>

#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif

int main(void)
{
        long fd;

        fd = PROBE_EXPECT_FAIL("userfaultfd(UFFD_USER_MODE_ONLY)",
                               syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY));
        if (fd >= 0)
                close((int)fd);
        fd = PROBE_EXPECT_FAIL("userfaultfd(0)", syscall(SYS_userfaultfd, O_CLOEXEC));
        if (fd >= 0)
                close((int)fd);
        fd = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
        if (fd >= 0) {
                close((int)fd);
                probe_escape("/dev/userfaultfd opened");
        } else {
                probe_note("open /dev/userfaultfd: %s", probe_errno_name(errno));
        }
        probe_finish();
}
