/* SPDX-License-Identifier: Apache-2.0 */
/*
 * /proc/kcore is the host kernel's memory as an ELF core file. The cage
 * binds /dev/null over it, so a read gives end of file; an error is a
 * refusal too. Only ELF bytes are an escape.
 */
#define PROBE_NAME "kcore"
#include "probe.h"

int main(void)
{
        unsigned char buf[64];
        ssize_t n;
        int fd = open("/proc/kcore", O_RDONLY | O_CLOEXEC);

        if (fd < 0)
                probe_denied("open /proc/kcore: %s", probe_errno_name(errno));
        n = read(fd, buf, sizeof buf);
        if (n < 0)
                probe_denied("read /proc/kcore: %s", probe_errno_name(errno));
        if (n >= 4 && memcmp(buf, "\177ELF", 4) == 0)
                probe_escaped("read %zd bytes of the kernel's ELF core from /proc/kcore", n);
        probe_denied("read /proc/kcore: %zd bytes, no ELF header (masked)", n);
}
