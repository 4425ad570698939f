/* SPDX-License-Identifier: Apache-2.0 */
/*
 * iopl/ioperm give direct access to I/O ports, that is to the hardware.
 * Needs CAP_SYS_RAWIO; refused by the filter (kernels without
 * CONFIG_X86_IOPL_IOPERM answer ENOSYS or EINVAL themselves).
 */
#define PROBE_NAME "iopl"
#include "probe.h"

#include <sys/io.h>

int main(void)
{
        if (PROBE_EXPECT_FAIL("iopl(3)", iopl(3)) == 0)
                iopl(0);
        if (PROBE_EXPECT_FAIL("ioperm(0x80)", ioperm(0x80, 1, 1)) == 0)
                ioperm(0x80, 1, 0);
        probe_finish();
}
