/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A program may chmod u+s its own file in the workspace (it owns it); what
 * matters is that running it gains nothing. The probe plants a setuid copy
 * of itself and, if the workspace lets it run at all (noexec should stop
 * that), has the payload report its effective uid, AT_SECURE and effective
 * capabilities, which must equal ours. It also tries to give the file capabilities
 * (security.capability), which needs CAP_SETFCAP.
 */
#define PROBE_NAME "chmod_suid"
#include "probe.h"

#include <linux/capability.h>
#include <sys/auxv.h>
#include <sys/xattr.h>

int main(int argc, char **argv)
{
        char path[PATH_MAX], out[512], capeff[64];
        char *cargv[] = {"payload", "--payload", NULL};
        char *envp[] = {NULL};
        probe_exec_args a = {.path = path, .fd = -1, .argv = cargv, .envp = envp};
        struct vfs_cap_data caps = {.magic_etc = VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE};
        struct stat st;
        int status, exec_errno;

        if (argc > 1 && strcmp(argv[1], "--payload") == 0) {
                if (!probe_status_field("/proc/self/status", "CapEff", capeff, sizeof capeff))
                        snprintf(capeff, sizeof capeff, "?");
                printf("euid=%u secure=%lu capeff=%s\n", (unsigned)geteuid(), getauxval(AT_SECURE), capeff);
                fflush(stdout);
                _exit(0);
        }
        snprintf(path, sizeof path, "%s/planted-suid", probe_workspace());
        if (probe_copy_self(path, 0755) < 0)
                probe_error("write %s: %s", path, probe_errno_name(errno));
        if (chmod(path, 04755) < 0)
                probe_note("chmod u+s: %s", probe_errno_name(errno));
        else if (stat(path, &st) == 0)
                probe_note("chmod u+s: allowed, mode %04o", (unsigned)(st.st_mode & 07777));
        caps.data[0].permitted = caps.data[0].inheritable = 1u << CAP_SYS_ADMIN;
        PROBE_EXPECT_FAIL("setxattr security.capability",
                          setxattr(path, "security.capability", &caps, XATTR_CAPS_SZ_2, 0));
        if (!probe_status_field("/proc/self/status", "CapEff", capeff, sizeof capeff))
                snprintf(capeff, sizeof capeff, "?");
        if (probe_exec(&a, 10, out, sizeof out, &status, &exec_errno) < 0)
                probe_error("fork: %s", probe_errno_name(errno));
        unlink(path);
        if (exec_errno) {
                probe_note("exec: %s", probe_errno_name(exec_errno));
        } else {
                unsigned euid = 0;
                unsigned long secure = 1;
                char eff[64] = "?";
                if (sscanf(out, "euid=%u secure=%lu capeff=%63s", &euid, &secure, eff) != 3)
                        probe_escape("payload %s with output '%s'", probe_status_describe(status), out);
                else if (euid != geteuid() || secure != 0 || strcmp(eff, capeff) != 0)
                        probe_escape("setuid payload gained: euid=%u AT_SECURE=%lu CapEff=%s (ours: euid=%u CapEff=%s)",
                                     euid, secure, eff, (unsigned)geteuid(), capeff);
                else
                        probe_note("payload ran but gained nothing: euid=%u AT_SECURE=0 CapEff=%s", euid, eff);
        }
        probe_finish();
}
