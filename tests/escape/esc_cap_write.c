/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A granted capability is shared, content-addressed code: a program that
 * could change it would change what the next job runs. /cap/NAME is
 * unpacked read-only (EROFS). The probe tries to create, modify and chmod
 * inside its own capability (found from /proc/self/exe) and undoes
 * anything that worked, so running it on the host harms nothing.
 */
#define PROBE_NAME "cap_write"
#include "probe.h"

#include <libgen.h>

int main(void)
{
        char self[PATH_MAX], dir[PATH_MAX], path[PATH_MAX + 16];
        struct stat st;
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        int fd;

        if (n <= 0)
                probe_error("readlink /proc/self/exe: %s", probe_errno_name(errno));
        self[n] = '\0';
        snprintf(dir, sizeof dir, "%s", self);
        dirname(dir);
        if (stat(self, &st) < 0)
                probe_error("stat %s: %s", self, probe_errno_name(errno));

        snprintf(path, sizeof path, "%s/planted", dir);
        fd = PROBE_EXPECT_FAIL("create file in capability", open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755));
        if (fd >= 0) {
                close(fd);
                unlink(path);
        }
        snprintf(path, sizeof path, "%s/planted.d", dir);
        if (PROBE_EXPECT_FAIL("mkdir in capability", mkdir(path, 0755)) == 0)
                rmdir(path);
        snprintf(path, sizeof path, "%s/planted.l", dir);
        if (PROBE_EXPECT_FAIL("symlink in capability", symlink("/", path)) == 0)
                unlink(path);
        fd = PROBE_EXPECT_FAIL("open own binary for writing", open(self, O_WRONLY | O_CLOEXEC));
        if (fd >= 0)
                close(fd);
        if (PROBE_EXPECT_FAIL("chmod own binary", chmod(self, 0777)) == 0)
                chmod(self, st.st_mode & 07777);
        probe_note("capability at %s", dir);
        probe_finish();
}
