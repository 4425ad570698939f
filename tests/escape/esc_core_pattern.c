/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kernel.core_pattern "|/path" makes the host kernel run a program as host
 * root on every crash: a write to it is a full escape (as is
 * kernel.modprobe). /proc/sys is read-only in the cage and the files
 * belong to the host's root, which the cage's user namespace does not map.
 * If a write ever works (on the host), the old value is put back.
 */
#define PROBE_NAME "core_pattern"
#include "probe.h"

static void try_write(const char *path, const char *value)
{
        char old[512];
        ssize_t oldlen = probe_read_file(path, old, sizeof old);
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        ssize_t n;

        if (fd < 0) {
                probe_note("open %s for writing: %s", path, probe_errno_name(errno));
                return;
        }
        n = write(fd, value, strlen(value));
        if (n < 0) {
                probe_note("write %s: %s", path, probe_errno_name(errno));
                close(fd);
                return;
        }
        close(fd);
        if (oldlen > 0 && (fd = open(path, O_WRONLY | O_CLOEXEC)) >= 0) {
                if (write(fd, old, (size_t)oldlen) < 0)
                        probe_escape("could not restore %s", path);
                close(fd);
        }
        probe_escape("wrote '%s' to %s (old value restored)", value, path);
}

int main(void)
{
        try_write("/proc/sys/kernel/core_pattern", "|/tmp/x");
        try_write("/proc/sys/kernel/modprobe", "/tmp/x");
        probe_finish();
}
