/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Uid 0 in the cage's user namespace would hold every capability over the
 * cage's namespaces; the cage drops them all from every set (bounding and
 * ambient included), sets no_new_privs and installs its seccomp filter
 * before exec. The probe reads its own /proc/self/status.
 */
#define PROBE_NAME "caps"
#include "probe.h"

#include <linux/capability.h>
#include <sys/prctl.h>

int main(void)
{
        static const char *const sets[] = {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"};
        char v[64];

        for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) {
                if (!probe_status_field("/proc/self/status", sets[i], v, sizeof v))
                        probe_error("no %s in /proc/self/status", sets[i]);
                if (strspn(v, "0") != strlen(v))
                        probe_escape("%s=%s", sets[i], v);
        }
        if (!probe_escaped_any())
                probe_note("CapInh, CapPrm, CapEff, CapBnd, CapAmb all 0");
        if (probe_status_field("/proc/self/status", "NoNewPrivs", v, sizeof v) && strcmp(v, "1") != 0)
                probe_escape("NoNewPrivs: %s", v);
        if (probe_status_field("/proc/self/status", "Seccomp", v, sizeof v) && strcmp(v, "2") != 0)
                probe_escape("Seccomp: %s (want 2, filter mode)", v);
        else
                probe_note("NoNewPrivs 1, Seccomp 2");
        /* Raising a dropped capability back into the ambient set. */
        PROBE_EXPECT_FAIL("PR_CAP_AMBIENT_RAISE(CAP_SYS_ADMIN)",
                          prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_SYS_ADMIN, 0, 0));
        probe_finish();
}
