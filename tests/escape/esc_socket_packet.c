/* SPDX-License-Identifier: Apache-2.0 */
/*
 * AF_PACKET sockets see and forge raw frames, and the packet code is a
 * classic source of kernel exploits. The filter allows only AF_UNIX
 * sockets; the cage's net namespace has nothing to sniff anyway.
 */
#define PROBE_NAME "socket_packet"
#include "probe.h"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <sys/socket.h>

int main(void)
{
        long fd;

        fd = PROBE_EXPECT_FAIL("socket(AF_PACKET, SOCK_RAW)", socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL)));
        if (fd >= 0)
                close((int)fd);
        fd = PROBE_EXPECT_FAIL("socket(AF_PACKET, SOCK_DGRAM)", socket(AF_PACKET, SOCK_DGRAM, htons(ETH_P_IP)));
        if (fd >= 0)
                close((int)fd);
        probe_finish();
}
