/* SPDX-License-Identifier: Apache-2.0 */
/*
 * reboot(2) checks CAP_SYS_BOOT before its magic numbers, so a call with
 * wrong magic fails with EPERM when refused and EINVAL when the caller was
 * privileged enough to reboot: the probe never reboots anything.
 */
#define PROBE_NAME "reboot"
#include "probe.h"

#include <linux/reboot.h>
#include <sys/syscall.h>

int main(void)
{
        PROBE_EXPECT_EPERM("reboot(bad magic)",
                           syscall(SYS_reboot, 0x12345678, 0x87654321, LINUX_REBOOT_CMD_CAD_OFF, NULL));
        probe_finish();
}
