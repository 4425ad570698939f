/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one sysctl the cage sets for itself: vm.memfd_noexec, which the
 * kernel keeps per pid namespace. A memfd lives on no mount of the cage,
 * so neither noexec mounts nor Landlock see it: without this, a program
 * could write native code into a memfd and execveat it, running what it
 * wrote where the profile says nothing written may run. Scope 2 makes
 * every memfd of the namespace non-executable and refuses MFD_EXEC; a
 * child namespace can never lower it.
 *
 * The kernel lets only the host's root write the file, and only for the
 * writer's own pid namespace; so the cage's PID 1 writes it before it
 * becomes the cage's uid 0 (while its euid is still the host's root and
 * its capabilities those of the cage's user namespace).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "worker/cage-internal.h"

#define MEMFD_NOEXEC "/proc/sys/vm/memfd_noexec"

int cage_sysctl_memfd_noexec(agora_error_t *err)
{
        _cleanup_close_ int fd = open(MEMFD_NOEXEC, O_RDWR | O_CLOEXEC);
        char back[8] = {0};

        if (fd < 0)
                return agora_error_set_errno(err, errno, "cage: %s (needs Linux 6.3 or later, to stop exec of memfds)",
                                             MEMFD_NOEXEC);
        if (write(fd, "2\n", 2) != 2)
                return agora_error_set_errno(err, errno, "cage: setting %s to 2", MEMFD_NOEXEC);
        if (pread(fd, back, sizeof(back) - 1, 0) < 1 || back[0] != '2')
                return agora_error_set(err, AGORA_ERR_FAILED, "cage: %s reads '%.1s' after setting it to 2",
                                       MEMFD_NOEXEC, back);
        return 0;
}
