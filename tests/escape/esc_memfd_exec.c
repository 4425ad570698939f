/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The fileless way around a noexec workspace: write a binary into a
 * memfd (which lives on no mount of the cage and which Landlock does not
 * see) and execveat it. With exec-workspace: false the cage must refuse
 * this too, e.g. with vm.memfd_noexec=2 in its pid namespace (memfd_create
 * then refuses executable memfds) or by refusing the exec in the filter.
 */
#define PROBE_NAME "memfd_exec"
#include "probe.h"

#include <sys/mman.h>

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif

#define PAYLOAD_EXIT 42

static void try_memfd(const char *what, unsigned flags)
{
        char *argv[] = {"payload", "--payload", NULL};
        char *envp[] = {NULL};
        char out[256];
        int status, exec_errno, self, fd;
        probe_exec_args a = {.argv = argv, .envp = envp};

        fd = memfd_create("agora-escape", flags);
        if (fd < 0) {
                probe_note("%s: memfd_create %s", what, probe_errno_name(errno));
                return;
        }
        self = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
        if (self < 0 || probe_copy_fd(self, fd) < 0)
                probe_error("copy /proc/self/exe: %s", probe_errno_name(errno));
        close(self);
        a.fd = fd;
        if (probe_exec(&a, 10, out, sizeof out, &status, &exec_errno) < 0)
                probe_error("fork: %s", probe_errno_name(errno));
        close(fd);
        if (exec_errno)
                probe_note("%s: execveat %s", what, probe_errno_name(exec_errno));
        else if (WIFEXITED(status) && WEXITSTATUS(status) == PAYLOAD_EXIT)
                probe_escape("%s: execveat ran the program written to the memfd", what);
        else
                probe_escape("%s: execveat started it but %s", what, probe_status_describe(status));
}

int main(int argc, char **argv)
{
        if (argc > 1 && strcmp(argv[1], "--payload") == 0)
                _exit(PAYLOAD_EXIT);
        try_memfd("memfd", 0);
        try_memfd("memfd MFD_EXEC", MFD_EXEC);
        probe_finish();
}
