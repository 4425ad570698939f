/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Joining a host namespace undoes the cage layer by layer. Inside the cage
 * no process of the host is visible, so the namespaces under /proc/1/ns
 * must be the cage's own (the test passes the host's namespace inodes as
 * NS=INODE to compare), and setns into any namespace, even our own, must
 * fail: it needs CAP_SYS_ADMIN, which the cage dropped, and the filter
 * refuses it.
 */
#define PROBE_NAME "setns"
#include "probe.h"

#include <sched.h>

static const struct {
        const char *name;
        int flag;
} namespaces[] = {
        {"user", CLONE_NEWUSER}, {"mnt", CLONE_NEWNS},  {"pid", CLONE_NEWPID},       {"net", CLONE_NEWNET},
        {"ipc", CLONE_NEWIPC},   {"uts", CLONE_NEWUTS}, {"cgroup", CLONE_NEWCGROUP},
};

static unsigned long host_inode(int argc, char **argv, const char *name)
{
        size_t len = strlen(name);

        for (int i = 1; i < argc; i++)
                if (strncmp(argv[i], name, len) == 0 && argv[i][len] == '=')
                        return strtoul(argv[i] + len + 1, NULL, 10);
        return 0;
}

int main(int argc, char **argv)
{
        int differ = 0;

        for (size_t i = 0; i < sizeof namespaces / sizeof namespaces[0]; i++) {
                const char *name = namespaces[i].name;
                unsigned long host = host_inode(argc, argv, name);
                const char *who[] = {"self", "1"};
                char path[64], what[96];

                for (int w = 0; w < 2; w++) {
                        struct stat st;
                        int fd;

                        snprintf(path, sizeof path, "/proc/%s/ns/%s", who[w], name);
                        fd = open(path, O_RDONLY | O_CLOEXEC);
                        if (fd < 0) {
                                probe_note("open %s: %s", path, probe_errno_name(errno));
                                continue;
                        }
                        if (host && fstat(fd, &st) == 0) {
                                if ((unsigned long)st.st_ino == host)
                                        probe_escape("%s is the host's %s namespace (inode %lu)", path, name, host);
                                else
                                        differ++;
                        }
                        snprintf(what, sizeof what, "setns(%s)", path);
                        PROBE_EXPECT_FAIL(what, setns(fd, namespaces[i].flag));
                        close(fd);
                }
        }
        if (argc > 1)
                probe_note("%d namespaces opened differ from the host's", differ);
        else
                probe_note("no host inodes given to compare");
        probe_finish();
}
