/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sethostname needs CAP_SYS_ADMIN over the UTS namespace; the cage has its
 * own UTS namespace and no capabilities, so EPERM. (On the host, a success
 * is undone at once.)
 */
#define PROBE_NAME "sethostname"
#include "probe.h"

int main(void)
{
        char old[256], olddomain[256];

        if (gethostname(old, sizeof old) < 0 || getdomainname(olddomain, sizeof olddomain) < 0)
                probe_error("gethostname: %s", probe_errno_name(errno));
        if (PROBE_EXPECT_FAIL("sethostname", sethostname("agora-escaped", 13)) == 0)
                sethostname(old, strlen(old));
        if (PROBE_EXPECT_FAIL("setdomainname", setdomainname("agora-escaped", 13)) == 0)
                setdomainname(olddomain, strlen(olddomain));
        probe_note("hostname is '%s'", old);
        probe_finish();
}
