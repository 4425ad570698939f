/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Filling the disk starves the host. /workspace and /tmp are size-limited
 * tmpfs mounts and RLIMIT_FSIZE caps one file: writing until an error must
 * stop with ENOSPC (or EFBIG, SIGXFSZ being ignored) before twice the
 * profile's size, passed as arguments: WORKSPACE_BYTES [TMP_BYTES].
 */
#define PROBE_NAME "disk_fill"
#include "probe.h"

#define MIB (1ul << 20)

static void fill(const char *dir, unsigned long limit)
{
        static char chunk[1 << 20];
        char path[PATH_MAX];
        unsigned long written = 0;
        int fd, e = 0;

        snprintf(path, sizeof path, "%s/fill", dir);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
                probe_error("%s: open %s", path, probe_errno_name(errno));
        memset(chunk, 0x5a, sizeof chunk);
        while (written <= 2 * limit) {
                ssize_t n = write(fd, chunk, sizeof chunk);
                if (n < 0) {
                        e = errno;
                        break;
                }
                written += (unsigned long)n;
        }
        close(fd);
        unlink(path);
        if (written > 2 * limit)
                probe_escape("%s: wrote %lu MiB, more than twice the %lu MiB limit", path, written / MIB, limit / MIB);
        else
                probe_note("%s: %s after %lu MiB (limit %lu MiB)", path, probe_errno_name(e), written / MIB,
                           limit / MIB);
}

int main(int argc, char **argv)
{
        unsigned long ws, tmp;

        if (argc < 2 || !(ws = strtoul(argv[1], NULL, 10)))
                probe_error("usage: esc_disk_fill WORKSPACE_BYTES [TMP_BYTES]");
        tmp = argc > 2 ? strtoul(argv[2], NULL, 10) : 0;
        /* RLIMIT_FSIZE would otherwise kill us with SIGXFSZ instead of
         * returning EFBIG. */
        signal(SIGXFSZ, SIG_IGN);
        fill(probe_workspace(), ws);
        if (tmp)
                fill("/tmp", tmp);
        probe_finish();
}
