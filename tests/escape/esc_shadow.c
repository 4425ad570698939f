/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The host's /etc is not part of any profile: /etc/shadow (and the rest)
 * must simply not exist in the cage (ENOENT); EACCES would mean it is
 * there but protected, which the probe also reports as a refusal.
 */
#define PROBE_NAME "shadow"
#include "probe.h"

int main(void)
{
        static const char *const files[] = {"/etc/shadow", "/etc/passwd", "/etc/sudoers", "/root/.ssh/id_rsa"};

        for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
                char buf[64];
                ssize_t n = probe_read_file(files[i], buf, sizeof buf);
                if (n >= 0)
                        probe_escape("read %zd bytes of %s", n, files[i]);
                else
                        probe_note("%s: %s", files[i], probe_errno_name(errno));
        }
        probe_finish();
}
