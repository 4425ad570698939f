/* SPDX-License-Identifier: Apache-2.0 */
/*
 * io_uring performs file and network operations from kernel workers that
 * the seccomp filter never sees, so every other syscall rule could be
 * bypassed through it. The filter refuses io_uring_setup.
 */
#define PROBE_NAME "io_uring"
#include "probe.h"

#include <linux/io_uring.h>
#include <sys/syscall.h>

int main(void)
{
        struct io_uring_params params;
        long fd;

        memset(&params, 0, sizeof params);
        fd = PROBE_EXPECT_FAIL("io_uring_setup(4)", syscall(SYS_io_uring_setup, 4, &params));
        if (fd >= 0)
                close((int)fd);
        PROBE_EXPECT_FAIL("io_uring_register(-1)", syscall(SYS_io_uring_register, -1, 0, NULL, 0));
        probe_finish();
}
