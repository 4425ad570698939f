/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kexec replaces the running kernel. The arguments name an architecture
 * that does not exist, so even a privileged call fails with EINVAL and
 * changes nothing: EPERM or ENOSYS is the refusal, anything else means the
 * call passed the CAP_SYS_BOOT check.
 */
#define PROBE_NAME "kexec"
#include "probe.h"

#include <sys/syscall.h>

int main(void)
{
        PROBE_EXPECT_EPERM("kexec_load(bogus arch)", syscall(SYS_kexec_load, 0UL, 0UL, NULL, 0xdead0000UL));
        /* Flag bits no kernel defines: never KEXEC_FILE_UNLOAD. */
        PROBE_EXPECT_EPERM("kexec_file_load(bogus flags)",
                           syscall(SYS_kexec_file_load, -1, -1, 0UL, NULL, 0x40000000UL));
        probe_finish();
}
