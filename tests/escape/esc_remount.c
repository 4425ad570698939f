/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A remount without MS_RDONLY would make the read-only host binds (/usr),
 * the root or /proc/sys writable. The kernel refuses to clear the flags of
 * mounts locked by a less privileged user namespace, the caps are gone and
 * the filter refuses mount.
 */
#define PROBE_NAME "remount"
#include "probe.h"

#include <sys/mount.h>

int main(void)
{
        static const char *const targets[] = {"/", "/usr", "/proc/sys", "/proc"};

        for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
                char what[64];
                snprintf(what, sizeof what, "remount %s read-write", targets[i]);
                PROBE_EXPECT_FAIL(what, mount(NULL, targets[i], NULL, MS_REMOUNT | MS_BIND, NULL));
        }
        probe_finish();
}
