/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The same new user namespace asked for through clone(2) instead of
 * unshare(2): the filter must check clone's flags argument too.
 */
#define PROBE_NAME "clone_newuser"
#include "probe.h"

#include <sched.h>
#include <sys/syscall.h>

int main(void)
{
        /* Raw clone without a new stack behaves like fork: the child
         * returns 0 on a copy of our stack and leaves at once. */
        long pid = syscall(SYS_clone, (unsigned long)(CLONE_NEWUSER | SIGCHLD), NULL, NULL, NULL, 0);

        if (pid == 0)
                _exit(0);
        if (pid < 0)
                probe_denied("clone(CLONE_NEWUSER): %s", probe_errno_name(errno));
        waitpid((pid_t)pid, NULL, 0);
        probe_escaped("clone(CLONE_NEWUSER) made child %ld in a new user namespace", pid);
}
