/* SPDX-License-Identifier: Apache-2.0 */
/*
 * With exec-workspace: false, a program may write files but not run them:
 * /workspace and /tmp are mounted noexec and Landlock grants no execute
 * there. The probe plants a copy of itself (a static binary that exits 42
 * when run as a payload) in each, and tries execve, execveat on an fd, and
 * an executable mapping (what a dynamic loader run on the file would do).
 */
#define PROBE_NAME "workspace_exec"
#include "probe.h"

#include <sys/mman.h>

#define PAYLOAD_EXIT 42

static void try_dir(const char *dir)
{
        char path[PATH_MAX], out[256], what[PATH_MAX + 32];
        char *argv[] = {"payload", "--payload", NULL};
        char *envp[] = {NULL};
        int status, exec_errno, fd;
        void *map;

        snprintf(path, sizeof path, "%s/planted-exe", dir);
        if (probe_copy_self(path, 0755) < 0) {
                probe_note("write %s: %s", path, probe_errno_name(errno));
                return;
        }
        for (int via_fd = 0; via_fd < 2; via_fd++) {
                probe_exec_args a = {.path = path, .fd = -1, .argv = argv, .envp = envp};
                snprintf(what, sizeof what, "%s %s", via_fd ? "execveat" : "execve", path);
                if (via_fd && (a.fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
                        probe_note("open %s: %s", path, probe_errno_name(errno));
                        continue;
                }
                if (probe_exec(&a, 10, out, sizeof out, &status, &exec_errno) < 0)
                        probe_error("fork: %s", probe_errno_name(errno));
                if (a.fd >= 0)
                        close(a.fd);
                if (exec_errno)
                        probe_note("%s: %s", what, probe_errno_name(exec_errno));
                else if (WIFEXITED(status) && WEXITSTATUS(status) == PAYLOAD_EXIT)
                        probe_escape("%s ran the planted program", what);
                else
                        probe_escape("%s started but %s", what, probe_status_describe(status));
        }
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
                map = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0);
                if (map == MAP_FAILED) {
                        probe_note("mmap PROT_EXEC %s: %s", path, probe_errno_name(errno));
                } else {
                        munmap(map, 4096);
                        probe_escape("mmap PROT_EXEC of %s allowed", path);
                }
                close(fd);
        }
        unlink(path);
}

int main(int argc, char **argv)
{
        if (argc > 1 && strcmp(argv[1], "--payload") == 0)
                _exit(PAYLOAD_EXIT);
        try_dir(probe_workspace());
        try_dir("/tmp");
        probe_finish();
}
