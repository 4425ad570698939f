/* SPDX-License-Identifier: Apache-2.0 */
/*
 * After pivot_root the host's root must be unreachable: detached, not
 * merely hidden under a mount. The test passes markers that exist only on
 * the host: absolute paths (a file in the test's directory, the source
 * tree) and "entry:NAME" for names found only in the host's / (such as
 * "work"). The probe looks for them through every path that has led out
 * of containers before: /proc/self/root, /proc/1/root and /proc/1/cwd (the
 * cage's init came from the host side), "/..", and ".." walked from /.
 */
#define PROBE_NAME "old_root"
#include "probe.h"

#include <dirent.h>

static const char *const prefixes[] = {"", "/proc/self/root", "/proc/1/root", "/proc/1/cwd/..", "/..", "/../../.."};

static void look_for_path(const char *marker)
{
        for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
                char path[PATH_MAX];
                struct stat st;

                snprintf(path, sizeof path, "%s%s", prefixes[i], marker);
                if (stat(path, &st) == 0)
                        probe_escape("host path %s reached as %s", marker, path);
        }
}

/* Each directory that could be the host's root, listed once, against
 * every "entry:" marker. */
static void look_for_entries(char **names, int n)
{
        static const char *const dirs[] = {"/", "/..", "/proc/self/root", "/proc/1/root", "/proc/1/cwd"};

        if (n == 0)
                return;
        for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
                DIR *d = opendir(dirs[i]);
                struct dirent *e;

                if (!d) {
                        probe_note("readdir %s: %s", dirs[i], probe_errno_name(errno));
                        continue;
                }
                while ((e = readdir(d)))
                        for (int k = 0; k < n; k++)
                                if (strcmp(e->d_name, names[k]) == 0)
                                        probe_escape("host entry '%s' listed in %s", names[k], dirs[i]);
                closedir(d);
        }
}

/* ".." of the root is the root itself; anything else is a way up. */
static void walk_up(void)
{
        struct stat root, st;
        int fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        if (fd < 0 || fstat(fd, &root) < 0) {
                probe_note("open /: %s", probe_errno_name(errno));
                return;
        }
        for (int i = 0; i < 16; i++) {
                int up = openat(fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (up < 0)
                        break;
                close(fd);
                fd = up;
        }
        if (fstat(fd, &st) == 0 && (st.st_dev != root.st_dev || st.st_ino != root.st_ino))
                probe_escape("'..' walked above / (dev %lu ino %lu)", (unsigned long)st.st_dev,
                             (unsigned long)st.st_ino);
        else
                probe_note("'..' of / is /");
        close(fd);
}

int main(int argc, char **argv)
{
        char link[PATH_MAX];
        ssize_t n;
        int markers = 0;

        if (argc < 2)
                probe_error("usage: esc_old_root /HOST/PATH… entry:NAME…");
        char **entries = calloc((size_t)argc, sizeof *entries);
        int n_entries = 0;

        if (!entries)
                probe_error("out of memory");
        for (int i = 1; i < argc; i++) {
                if (strncmp(argv[i], "entry:", 6) == 0)
                        entries[n_entries++] = argv[i] + 6;
                else
                        look_for_path(argv[i]);
                markers++;
        }
        look_for_entries(entries, n_entries);
        walk_up();
        n = readlink("/proc/1/cwd", link, sizeof link - 1);
        if (n >= 0) {
                link[n] = '\0';
                probe_note("/proc/1/cwd is %s", link);
        } else {
                probe_note("/proc/1/cwd: %s", probe_errno_name(errno));
        }
        if (!probe_escaped_any())
                probe_note("none of %d host markers found", markers);
        probe_finish();
}
