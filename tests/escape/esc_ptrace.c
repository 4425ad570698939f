/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ptrace gives full control of another process. The cage's init (pid 1,
 * our parent) was forked from agora-cage on the host side; attaching to it,
 * or to anything else, must fail. The attach to a child of our own is the
 * one the kernel would allow (same uid, a descendant), so only the seccomp
 * filter stops that one.
 */
#define PROBE_NAME "ptrace"
#include "probe.h"

#include <sys/ptrace.h>

static void attach(const char *what, pid_t pid)
{
        int status;

        errno = 0;
        if (ptrace(PTRACE_ATTACH, pid, NULL, NULL) < 0) {
                probe_note("%s (pid %d): %s", what, (int)pid, probe_errno_name(errno));
                return;
        }
        /* Let it go again at once: on the host this may be a real shell. */
        waitpid(pid, &status, __WALL);
        ptrace(PTRACE_DETACH, pid, NULL, NULL);
        probe_escape("PTRACE_ATTACH to %s (pid %d) succeeded", what, (int)pid);
}

int main(void)
{
        pid_t parent = getppid(), child;

        attach("parent", parent);
        if (parent != 1)
                attach("pid 1", 1);
        child = fork();
        if (child < 0)
                probe_error("fork: %s", probe_errno_name(errno));
        if (child == 0) {
                for (;;)
                        pause();
        }
        attach("own child", child);
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
        probe_finish();
}
