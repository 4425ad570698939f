/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Device nodes are direct doors to the hardware and the kernel: the cage's
 * /dev holds only harmless ones (null, zero, full, random, urandom, tty),
 * and mknod of a device needs CAP_MKNOD in the initial user namespace.
 */
#define PROBE_NAME "dev"
#include "probe.h"

#include <sys/sysmacros.h>

int main(void)
{
        static const char *const nodes[] = {"/dev/mem",          "/dev/kmem", "/dev/port",    "/dev/kmsg",
                                            "/dev/sda",          "/dev/vda",  "/dev/nvme0n1", "/dev/loop0",
                                            "/dev/loop-control", "/dev/fuse", "/dev/net/tun", "/dev/kvm",
                                            "/dev/dri/card0"};
        char path[PATH_MAX];

        for (size_t i = 0; i < sizeof nodes / sizeof nodes[0]; i++) {
                int fd = open(nodes[i], O_RDONLY | O_CLOEXEC | O_NONBLOCK);
                if (fd >= 0) {
                        close(fd);
                        probe_escape("opened %s", nodes[i]);
                } else if (errno != ENOENT) {
                        probe_note("%s: %s", nodes[i], probe_errno_name(errno));
                }
        }
        if (!probe_escaped_any())
                probe_note("no host device node present");
        snprintf(path, sizeof path, "%s/sda", probe_workspace());
        unlink(path);
        if (PROBE_EXPECT_FAIL("mknod block 8:0", mknod(path, S_IFBLK | 0600, makedev(8, 0))) == 0)
                unlink(path);
        snprintf(path, sizeof path, "%s/mem", probe_workspace());
        unlink(path);
        if (PROBE_EXPECT_FAIL("mknod char 1:1 (/dev/mem)", mknod(path, S_IFCHR | 0600, makedev(1, 1))) == 0)
                unlink(path);
        probe_finish();
}
