/* SPDX-License-Identifier: Apache-2.0 */
/*
 * swapon/swapoff check CAP_SYS_ADMIN before looking at the path, so on a
 * path that does not exist EPERM is the refusal and ENOENT means the call
 * was privileged. (The cage's memory limit also has swap off.)
 */
#define PROBE_NAME "swapon"
#include "probe.h"

#include <sys/swap.h>

int main(void)
{
        PROBE_EXPECT_EPERM("swapon(/nonexistent)", swapon("/agora-escape-nonexistent", 0));
        PROBE_EXPECT_EPERM("swapoff(/nonexistent)", swapoff("/agora-escape-nonexistent"));
        probe_finish();
}
