/* SPDX-License-Identifier: Apache-2.0 */
/*
 * process_vm_readv/writev read and write another process's memory without
 * ptrace-attaching. The parent (the cage's init, forked from agora-cage)
 * holds host-side state; a child of our own is the case the kernel would
 * allow, so only the seccomp filter stops it.
 */
#define PROBE_NAME "process_vm"
#include "probe.h"

#include <sys/uio.h>

static char secret[32] = "agora-escape-secret";

/* The start of the first readable mapping of PID, or 0. */
static uintptr_t first_readable(pid_t pid)
{
        char path[64], buf[4096], *line;
        unsigned long start, end;
        char perms[8];

        snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
        if (probe_read_file(path, buf, sizeof buf) <= 0)
                return 0;
        for (line = buf; line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
                if (sscanf(line, "%lx-%lx %7s", &start, &end, perms) == 3 && perms[0] == 'r')
                        return start;
        return 0;
}

static void readv_from(const char *what, pid_t pid, uintptr_t addr)
{
        char buf[16];
        struct iovec local = {.iov_base = buf, .iov_len = sizeof buf};
        struct iovec remote = {.iov_base = (void *)addr, .iov_len = sizeof buf};
        ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);

        if (n < 0)
                probe_note("readv %s (pid %d): %s", what, (int)pid, probe_errno_name(errno));
        else
                probe_escape("process_vm_readv of %s (pid %d) read %zd bytes", what, (int)pid, n);
}

int main(void)
{
        pid_t parent = getppid(), child;
        uintptr_t addr = first_readable(parent);
        struct iovec local, remote;

        if (!addr)
                addr = (uintptr_t)&secret; /* a guess: EFAULT rather than EPERM would show the call ran */
        readv_from("parent", parent, addr);
        child = fork();
        if (child < 0)
                probe_error("fork: %s", probe_errno_name(errno));
        if (child == 0) {
                for (;;)
                        pause();
        }
        /* The child is a copy of us, so the secret is at the same address. */
        readv_from("own child", child, (uintptr_t)&secret);
        local = (struct iovec){.iov_base = secret, .iov_len = sizeof secret};
        remote = local;
        PROBE_EXPECT_FAIL("writev own child", process_vm_writev(child, &local, 1, &remote, 1, 0));
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
        probe_finish();
}
