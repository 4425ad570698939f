/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A setuid-root binary of the host (/usr is bound into the cage) must not
 * raise privileges. Three things stop it: no_new_privs, the nosuid flag of
 * the /usr bind, and the binary's owner (host root) not being mapped in the
 * cage's user namespace. The probe checks the first two directly, then
 * execs the binary with LD_SHOW_AUXV=1: the dynamic loader prints the
 * auxiliary vector the kernel gave the new program, whose AT_SECURE says
 * whether the kernel treated the exec as a privilege change, and AT_EUID
 * what the effective uid became. (A secure exec would also make the loader
 * drop LD_SHOW_AUXV, so no dump at all counts as a gain.) Denied needs all
 * three: no_new_privs set, /usr nosuid, and an exec that gained nothing.
 */
#define PROBE_NAME "setuid_binary"
#include "probe.h"

#include <sys/prctl.h>
#include <sys/statvfs.h>

static const char *const candidates[] = {
        "/usr/bin/mount",  "/usr/bin/umount", "/usr/bin/su",   "/usr/bin/passwd",  "/bin/mount",
        "/usr/bin/newgrp", "/usr/bin/chfn",   "/usr/bin/chsh", "/usr/bin/gpasswd", "/usr/bin/sudo",
};

static long auxv_value(const char *out, const char *key)
{
        const char *p = strstr(out, key);

        if (!p)
                return -1;
        p += strlen(key);
        while (*p == ' ' || *p == ':')
                p++;
        return strtol(p, NULL, 0);
}

int main(void)
{
        const char *bin = NULL;
        struct stat st;
        struct statvfs vfs;
        int nnp = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
        bool nosuid;
        char out[16384];
        int status, exec_errno;
        long secure, euid, uid;

        for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++)
                if (stat(candidates[i], &st) == 0 && (st.st_mode & S_ISUID)) {
                        bin = candidates[i];
                        break;
                }
        if (!bin)
                probe_error("no setuid binary found under /usr/bin to try");
        nosuid = statvfs(bin, &vfs) == 0 && (vfs.f_flag & ST_NOSUID);

        char *argv[] = {(char *)bin, "--version", NULL};
        char *envp[] = {"LD_SHOW_AUXV=1", "PATH=/usr/bin:/bin", "LANG=C", NULL};
        probe_exec_args a = {.path = bin, .fd = -1, .argv = argv, .envp = envp};
        if (probe_exec(&a, 10, out, sizeof out, &status, &exec_errno) < 0)
                probe_error("fork: %s", probe_errno_name(errno));

        char what[256];
        snprintf(what, sizeof what, "%s (owner uid %u, mode %04o): no_new_privs=%d, mount nosuid=%d", bin,
                 (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777), nnp, nosuid);
        if (exec_errno) {
                probe_note("%s; exec failed with %s", what, probe_errno_name(exec_errno));
        } else {
                secure = auxv_value(out, "AT_SECURE");
                euid = auxv_value(out, "AT_EUID");
                uid = auxv_value(out, "AT_UID");
                if (secure < 0)
                        probe_escape("%s; no auxv dump: the loader ran in secure mode (%s)", what,
                                     probe_status_describe(status));
                else if (secure != 0 || euid != uid)
                        probe_escape("%s; exec gained: AT_SECURE=%ld AT_UID=%ld AT_EUID=%ld", what, secure, uid, euid);
                else
                        probe_note("%s; exec gained nothing: AT_SECURE=0 AT_UID=%ld AT_EUID=%ld (%s)", what, uid, euid,
                                   probe_status_describe(status));
        }
        if (nnp != 1)
                probe_escape("no_new_privs is not set (%d)", nnp);
        if (!nosuid)
                probe_escape("%s is on a mount without nosuid", bin);
        probe_finish();
}
