/* SPDX-License-Identifier: Apache-2.0 */
/*
 * clone3 passes its flags in memory, where a seccomp filter cannot read
 * them; so the filter answers clone3 with ENOSYS (glibc then falls back to
 * clone, whose flags it can check). ENOSYS or EPERM are both refusals.
 */
#define PROBE_NAME "clone3"
#include "probe.h"

#include <sched.h>
#include <sys/syscall.h>

/* struct clone_args of <linux/sched.h>, which clashes with glibc's
 * <sched.h>; the layout is the kernel ABI (CLONE_ARGS_SIZE_VER0). */
struct probe_clone_args {
        uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};

static void try_clone3(const char *what, uint64_t flags)
{
        struct probe_clone_args args = {.flags = flags, .exit_signal = SIGCHLD};
        long pid = syscall(SYS_clone3, &args, sizeof args);

        if (pid == 0)
                _exit(0);
        if (pid < 0) {
                probe_note("%s: %s", what, probe_errno_name(errno));
                return;
        }
        waitpid((pid_t)pid, NULL, 0);
        if (flags & CLONE_NEWUSER)
                probe_escape("%s made child %ld in a new user namespace", what, pid);
        else
                probe_note("%s: allowed (child %ld)", what, pid);
}

int main(void)
{
        try_clone3("clone3(CLONE_NEWUSER)", CLONE_NEWUSER);
        try_clone3("clone3(CLONE_NEWUSER|CLONE_NEWNS)", CLONE_NEWUSER | CLONE_NEWNS);
        try_clone3("plain clone3", 0);
        probe_finish();
}
