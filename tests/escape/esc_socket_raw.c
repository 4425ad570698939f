/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Raw IP sockets forge arbitrary packets. They need CAP_NET_RAW, and the
 * filter allows only AF_UNIX sockets.
 */
#define PROBE_NAME "socket_raw"
#include "probe.h"

#include <netinet/in.h>
#include <sys/socket.h>

int main(void)
{
        long fd;

        fd = PROBE_EXPECT_FAIL("socket(AF_INET, SOCK_RAW, ICMP)", socket(AF_INET, SOCK_RAW, IPPROTO_ICMP));
        if (fd >= 0)
                close((int)fd);
        fd = PROBE_EXPECT_FAIL("socket(AF_INET, SOCK_RAW, RAW)", socket(AF_INET, SOCK_RAW, IPPROTO_RAW));
        if (fd >= 0)
                close((int)fd);
        fd = PROBE_EXPECT_FAIL("socket(AF_INET6, SOCK_RAW, ICMPV6)", socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6));
        if (fd >= 0)
                close((int)fd);
        probe_finish();
}
