/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Loading a kernel module is running code in the host kernel. The probe
 * offers /dev/null as the module, so nothing could load even with
 * privilege; what it checks is that the call stops at the capability check
 * (EPERM, or ENOSYS from the filter or a kernel without modules) rather
 * than getting as far as reading the file.
 */
#define PROBE_NAME "finit_module"
#include "probe.h"

#include <sys/syscall.h>

int main(void)
{
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

        if (fd < 0)
                probe_note("open /dev/null: %s (trying fd -1)", probe_errno_name(errno));
        PROBE_EXPECT_EPERM("finit_module(/dev/null)", syscall(SYS_finit_module, fd, "", 0));
        PROBE_EXPECT_EPERM("init_module(empty)", syscall(SYS_init_module, NULL, 0, ""));
        PROBE_EXPECT_EPERM("delete_module(agora_none)", syscall(SYS_delete_module, "agora_none", O_NONBLOCK));
        probe_finish();
}
