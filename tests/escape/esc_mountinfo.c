/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The cage's mount table must not name the host: a host path in
 * /proc/self/mountinfo (the source tree, the test's directory, a bind's
 * host-side root) means a mount of the host is still attached or was
 * bound with more than the profile grants. The test passes host paths that
 * must not appear.
 */
#define PROBE_NAME "mountinfo"
#include "probe.h"

static int scan(const char *path, int argc, char **argv)
{
        static char buf[1 << 16];
        int mounts = 0;

        if (probe_read_file(path, buf, sizeof buf) < 0) {
                probe_note("read %s: %s", path, probe_errno_name(errno));
                return 0;
        }
        for (char *line = buf, *next; line && *line; line = next) {
                next = strchr(line, '\n');
                if (next)
                        *next++ = '\0';
                mounts++;
                for (int i = 1; i < argc; i++)
                        if (strstr(line, argv[i]))
                                probe_escape("%s names host path %s: %s", path, argv[i], line);
        }
        return mounts;
}

int main(int argc, char **argv)
{
        int self, init;

        if (argc < 2)
                probe_error("usage: esc_mountinfo /HOST/PATH…");
        self = scan("/proc/self/mountinfo", argc, argv);
        init = scan("/proc/1/mountinfo", argc, argv);
        if (!probe_escaped_any())
                probe_note("%d mounts (init: %d), none names any of %d host paths", self, init, argc - 1);
        probe_finish();
}
