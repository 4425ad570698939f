/* SPDX-License-Identifier: Apache-2.0 */
/*
 * /proc/sysrq-trigger acts on the host kernel (crash, reboot, kill all
 * tasks). The cage binds it read-only. The probe writes 'h' (print the
 * help text to the kernel log), the one harmless command.
 */
#define PROBE_NAME "sysrq"
#include "probe.h"

int main(void)
{
        int fd = open("/proc/sysrq-trigger", O_WRONLY | O_CLOEXEC);

        if (fd < 0)
                probe_denied("open /proc/sysrq-trigger for writing: %s", probe_errno_name(errno));
        if (write(fd, "h", 1) < 0)
                probe_denied("write /proc/sysrq-trigger: %s", probe_errno_name(errno));
        probe_escaped("wrote 'h' to /proc/sysrq-trigger");
}
