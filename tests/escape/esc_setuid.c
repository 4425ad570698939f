/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The cage's user namespace maps exactly one id: uid and gid 0 inside are
 * one unprivileged host id >= 200000000 that no other cage uses, and
 * setgroups is denied. So no other identity can be taken (setuid(1):
 * EINVAL, as 1 is unmapped, or EPERM without CAP_SETUID), and the maps
 * must read "0 HOSTID 1".
 */
#define PROBE_NAME "setuid"
#include "probe.h"

#include <grp.h>

#define CAGE_ID_BASE 200000000ul

static void check_map(const char *path)
{
        char buf[512];
        unsigned long inside, outside, count;
        int lines = 0;

        if (probe_read_file(path, buf, sizeof buf) < 0) {
                probe_escape("read %s: %s", path, probe_errno_name(errno));
                return;
        }
        for (char *l = buf; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
                if (*l != '\n')
                        lines++;
        if (lines != 1 || sscanf(buf, "%lu %lu %lu", &inside, &outside, &count) != 3)
                probe_escape("%s has %d lines: %s", path, lines, buf);
        else if (inside != 0 || count != 1 || outside < CAGE_ID_BASE)
                probe_escape("%s maps %lu ids, %lu -> host %lu", path, count, inside, outside);
        else
                probe_note("%s: 0 -> host %lu, 1 id", path, outside);
}

/* Each identity change in a child of its own, so that one that works (on
 * the host, as root) does not change what the next one starts from. */
static void try_in_child(const char *what, int which)
{
        gid_t one = 1;
        int status;
        pid_t pid = fork();

        if (pid < 0)
                probe_error("fork: %s", probe_errno_name(errno));
        if (pid == 0) {
                int rc = which == 0   ? setgroups(1, &one)
                         : which == 1 ? setgroups(0, NULL)
                         : which == 2 ? setgid(1)
                         : which == 3 ? setuid(1)
                                      : setresuid((uid_t)-1, 65534, (uid_t)-1);
                _exit(rc == 0 ? 0 : errno > 0 && errno < 255 ? errno : 255);
        }
        waitpid(pid, &status, 0);
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                probe_escape("%s succeeded", what);
        else if (WIFEXITED(status))
                probe_note("%s: %s", what, probe_errno_name(WEXITSTATUS(status)));
        else
                probe_note("%s: child %s", what, probe_status_describe(status));
}

int main(void)
{
        char policy[32];

        check_map("/proc/self/uid_map");
        check_map("/proc/self/gid_map");
        if (probe_read_file("/proc/self/setgroups", policy, sizeof policy) >= 0 && strncmp(policy, "deny", 4) != 0)
                probe_escape("/proc/self/setgroups is '%.*s'", (int)strcspn(policy, "\n"), policy);
        try_in_child("setgroups([1])", 0);
        try_in_child("setgroups([])", 1);
        try_in_child("setgid(1)", 2);
        try_in_child("setuid(1)", 3);
        try_in_child("setresuid(-1, 65534, -1)", 4);
        probe_finish();
}
