/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Layer 3: the network. clone(CLONE_NEWNET) already gave the cage a
 * namespace of its own, holding nothing but a loopback device that is down
 * and no route; this step only brings loopback up when the profile asks
 * (so a program may talk to itself over 127.0.0.1), and checks that the
 * namespace really is empty. It runs in PID 1 before seccomp, which would
 * refuse the interface ioctls, and with CAP_NET_ADMIN of the cage's user
 * namespace, which owns the net namespace.
 */
#include <errno.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "worker/cage-internal.h"

#define LOOPBACK "lo"

static void if_freenameindexp(struct if_nameindex **p)
{
        if (*p != NULL)
                if_freenameindex(*p);
}

/* Any device besides loopback (a veth, a macvlan, the host's eth0 because
 * the namespace was not new after all) is a way out of the cage: refuse to
 * go on rather than run the program with a network it was not granted. */
static int check_only_loopback(agora_error_t *err)
{
        _cleanup_(if_freenameindexp) struct if_nameindex *ifs = if_nameindex();

        if (ifs == NULL)
                return agora_error_set_errno(err, errno, "cage network: cannot list devices");
        for (struct if_nameindex *i = ifs; i->if_index != 0; i++)
                if (strcmp(i->if_name, LOOPBACK) != 0)
                        return agora_error_set(err, AGORA_ERR_FAILED,
                                               "cage network: device '%s' present besides loopback (not a new network "
                                               "namespace?)",
                                               i->if_name);
        return 0;
}

int cage_net_setup(bool loopback_up, agora_error_t *err)
{
        _cleanup_close_ int fd = -1;
        struct ifreq ifr = {0};

        /* Checked whether or not loopback comes up: "down" promises no
         * network at all, and that holds only if nothing else is there. */
        if (check_only_loopback(err) < 0)
                return -1;
        if (!loopback_up)
                return 0;
        /* The interface ioctls need a socket of a family that has them;
         * AF_UNIX does not. The socket lives in the cage's namespace, so it
         * can only ever name the cage's own devices. */
        fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return agora_error_set_errno(err, errno, "cage network: socket");
        memcpy(ifr.ifr_name, LOOPBACK, sizeof(LOOPBACK));
        if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
                return agora_error_set_errno(err, errno, "cage network: '%s': reading flags", LOOPBACK);
        ifr.ifr_flags |= IFF_UP;
        if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
                return agora_error_set_errno(err, errno, "cage network: '%s': bringing up", LOOPBACK);
        /* Read back: the profile said up, and a silent no-op would show up
         * only as a program failing to connect to itself. */
        if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
                return agora_error_set_errno(err, errno, "cage network: '%s': reading flags", LOOPBACK);
        if (!(ifr.ifr_flags & IFF_UP))
                return agora_error_set(err, AGORA_ERR_FAILED, "cage network: '%s': still down after bringing it up",
                                       LOOPBACK);
        return 0;
}
