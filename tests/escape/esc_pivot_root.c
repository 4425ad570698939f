/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pivot_root is how the cage got its root; doing it again is how a program
 * would swap in a root of its choosing. The targets are the cage's own
 * mount points (pivot_root(".", ".") in each, the usual trick), and the
 * kernel checks CAP_SYS_ADMIN before anything else, so any error other
 * than EPERM (or ENOSYS) means the call got past that check. Refused by
 * the filter and by the dropped capabilities.
 */
#define PROBE_NAME "pivot_root"
#include "probe.h"

#include <sys/syscall.h>

int main(void)
{
        const char *dirs[] = {"/", "/tmp", probe_workspace(), "/proc"};

        for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
                char what[PATH_MAX + 32];

                if (chdir(dirs[i]) < 0) {
                        probe_note("chdir %s: %s", dirs[i], probe_errno_name(errno));
                        continue;
                }
                snprintf(what, sizeof what, "pivot_root(., .) in %s", dirs[i]);
                PROBE_EXPECT_EPERM(what, syscall(SYS_pivot_root, ".", "."));
        }
        probe_finish();
}
