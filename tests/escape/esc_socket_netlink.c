/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Netlink reconfigures the network stack (and nftables, reached through
 * it, is a frequent exploit target), and audit/uevent netlink leak host
 * events. The filter allows only AF_UNIX sockets.
 */
#define PROBE_NAME "socket_netlink"
#include "probe.h"

#include <linux/netlink.h>
#include <sys/socket.h>

int main(void)
{
        static const struct {
                const char *name;
                int proto;
        } protos[] = {
                {"NETLINK_ROUTE", NETLINK_ROUTE},
                {"NETLINK_NETFILTER", NETLINK_NETFILTER},
                {"NETLINK_KOBJECT_UEVENT", NETLINK_KOBJECT_UEVENT},
                {"NETLINK_AUDIT", NETLINK_AUDIT},
        };

        for (size_t i = 0; i < sizeof protos / sizeof protos[0]; i++) {
                char what[64];
                long fd;
                snprintf(what, sizeof what, "socket(AF_NETLINK, %s)", protos[i].name);
                fd = PROBE_EXPECT_FAIL(what, socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protos[i].proto));
                if (fd >= 0)
                        close((int)fd);
        }
        probe_finish();
}
