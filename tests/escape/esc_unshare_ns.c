/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Every other namespace flag of unshare, one at a time: the cage never lets
 * a program rebuild its own view of mounts, network, pids or ids.
 */
#define PROBE_NAME "unshare_ns"
#include "probe.h"

#include <sched.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

int main(void)
{
        PROBE_EXPECT_FAIL("unshare(CLONE_NEWNS)", unshare(CLONE_NEWNS));
        PROBE_EXPECT_FAIL("unshare(CLONE_NEWNET)", unshare(CLONE_NEWNET));
        PROBE_EXPECT_FAIL("unshare(CLONE_NEWPID)", unshare(CLONE_NEWPID));
        PROBE_EXPECT_FAIL("unshare(CLONE_NEWIPC)", unshare(CLONE_NEWIPC));
        PROBE_EXPECT_FAIL("unshare(CLONE_NEWUTS)", unshare(CLONE_NEWUTS));
        PROBE_EXPECT_FAIL("unshare(CLONE_NEWCGROUP)", unshare(CLONE_NEWCGROUP));
        PROBE_EXPECT_FAIL("unshare(CLONE_NEWTIME)", unshare(CLONE_NEWTIME));
        probe_finish();
}
