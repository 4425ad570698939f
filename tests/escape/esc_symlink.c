/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Symlinks planted in the workspace are resolved by whoever follows them:
 * if anything on the host side (or the cage's own setup) resolved them
 * against the host's root, they would lead out. Inside the cage they must
 * resolve within it: links to /proc/1/root, to ../../.. and to
 * /proc/self/root, and a link straight to each host marker, must not reach
 * any marker the test passes (absolute host paths). A hard link into the
 * read-only /cap is tried too (EXDEV or EROFS expected).
 */
#define PROBE_NAME "symlink"
#include "probe.h"

/* Open VIA followed by SUFFIX; reaching it means MARKER was read. */
static void try_through(const char *via, const char *suffix, const char *marker)
{
        char path[PATH_MAX];
        int fd;

        snprintf(path, sizeof path, "%s%s", via, suffix);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
                char buf[64];
                ssize_t n = read(fd, buf, sizeof buf - 1);
                buf[n > 0 ? n : 0] = '\0';
                close(fd);
                probe_escape("read host file %s through %s (%zd bytes)", marker, path, n);
        }
}

int main(int argc, char **argv)
{
        static const char *const targets[] = {"/proc/1/root", "../../../../../..", "/proc/self/root", "/proc/1/cwd"};
        const char *ws = probe_workspace();
        char lpath[PATH_MAX], self[PATH_MAX];
        int made = 0;
        ssize_t n;

        if (argc < 2)
                probe_error("usage: esc_symlink /HOST/PATH…");
        for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
                snprintf(lpath, sizeof lpath, "%s/l%zu", ws, i);
                unlink(lpath);
                if (symlink(targets[i], lpath) < 0) {
                        probe_note("symlink %s -> %s: %s", lpath, targets[i], probe_errno_name(errno));
                        continue;
                }
                made++;
                for (int m = 1; m < argc; m++)
                        try_through(lpath, argv[m], argv[m]);
                unlink(lpath);
        }
        for (int m = 1; m < argc; m++) {
                snprintf(lpath, sizeof lpath, "%s/direct%d", ws, m);
                unlink(lpath);
                if (symlink(argv[m], lpath) == 0) {
                        made++;
                        try_through(lpath, "", argv[m]);
                        unlink(lpath);
                }
        }
        if (!probe_escaped_any())
                probe_note("%d symlinks followed, no host marker reached", made);

        n = readlink("/proc/self/exe", self, sizeof self - 1);
        if (n > 0) {
                self[n] = '\0';
                snprintf(lpath, sizeof lpath, "%s/hardlink", ws);
                unlink(lpath);
                if (link(self, lpath) == 0) {
                        unlink(lpath);
                        probe_note("hard link to %s allowed (same filesystem)", self);
                } else {
                        probe_note("hard link to %s: %s", self, probe_errno_name(errno));
                }
        }
        probe_finish();
}
