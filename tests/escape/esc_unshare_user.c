/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A new user namespace hands its creator every capability inside it, which
 * is the first step of most kernel exploits (nftables, overlayfs, …). The
 * seccomp filter refuses unshare with namespace flags.
 */
#define PROBE_NAME "unshare_user"
#include "probe.h"

#include <sched.h>

int main(void)
{
        PROBE_EXPECT_FAIL("unshare(CLONE_NEWUSER)", unshare(CLONE_NEWUSER));
        probe_finish();
}
