/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Empty files cost no bytes but each takes an inode: creating them until an
 * error must stop (ENOSPC from the workspace tmpfs's nr_inodes) before
 * twice the profile's workspace-inodes, passed as argument (default a
 * million).
 */
#define PROBE_NAME "inode_fill"
#include "probe.h"

int main(int argc, char **argv)
{
        unsigned long limit = argc > 1 ? strtoul(argv[1], NULL, 10) : 500000;
        char dir[PATH_MAX];
        unsigned long count = 0;
        int dfd, e = 0;
        double start = probe_now();

        if (!limit)
                probe_error("usage: esc_inode_fill WORKSPACE_INODES");
        snprintf(dir, sizeof dir, "%s/inodes", probe_workspace());
        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                probe_error("mkdir %s: %s", dir, probe_errno_name(errno));
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                probe_error("open %s: %s", dir, probe_errno_name(errno));
        while (count <= 2 * limit) {
                char name[32];
                int fd;
                snprintf(name, sizeof name, "%lu", count);
                fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
                if (fd < 0) {
                        e = errno;
                        break;
                }
                close(fd);
                count++;
        }
        if (count > 2 * limit)
                probe_escaped("%lu files created, more than twice the %lu inode limit", count, limit);
        probe_denied("file creation failed with %s after %lu files (limit %lu, %.2f s)", probe_errno_name(e), count,
                     limit, probe_now() - start);
}
