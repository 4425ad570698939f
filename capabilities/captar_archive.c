/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Archive input: a tar, optionally gzip/bzip2/xz/zstd-compressed. Entries
 * arrive in whatever order the archive has, so contents are spooled into a
 * memfd and written in sorted order later. Every limit is checked while
 * reading, so a decompression bomb stops after a few megabytes instead of
 * filling memory.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "capabilities/captar-internal.h"
#include "common/cleanup.h"

/* Small reads from the compressed input keep the ratio check precise: the
 * expanded size is compared against what was actually consumed. */
#define ARCHIVE_READ_BLOCK (64u << 10)
/* Below this, any ratio is fine: tiny archives of text compress well. */
#define RATIO_GRACE (1ull << 20)

static int pwrite_all(const captar_list *l, const char *path, const void *buf, size_t len, uint64_t off,
                      agora_error_t *err)
{
        const unsigned char *p = buf;

        while (len > 0) {
                ssize_t n = pwrite(l->spool_fd, p, len, (off_t)off);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return agora_error_set_errno(err, errno, "capability '%s': '%s': spooling content", l->name,
                                                     path);
                }
                p += n;
                len -= (size_t)n;
                off += (uint64_t)n;
        }
        return 0;
}

static int check_ratio(const captar_list *l, struct archive *a, const char *path, agora_error_t *err)
{
        /* Filter 0 is the decompressed stream as the tar reader consumed it,
         * filter -1 the raw bytes taken from the file. */
        int64_t expanded = archive_filter_bytes(a, 0);
        int64_t raw = archive_filter_bytes(a, -1);
        uint64_t ratio = l->limits->max_ratio;

        if (archive_filter_count(a) <= 1 || expanded <= (int64_t)RATIO_GRACE)
                return 0;
        /* raw * ratio overflowing means the bound is beyond any real input. */
        if (raw > 0 && ratio > 0 && ((uint64_t)raw > UINT64_MAX / ratio || (uint64_t)expanded <= (uint64_t)raw * ratio))
                return 0;
        return agora_error_set(err, AGORA_ERR_FAILED,
                               "capability '%s': '%s': expands more than %llu times its compressed size (limit "
                               "--max-ratio)",
                               l->name, path, (unsigned long long)ratio);
}

static int read_error(const captar_list *l, struct archive *a, const char *path, agora_error_t *err)
{
        const char *why = archive_error_string(a);

        return agora_error_set(err, AGORA_ERR_FAILED, "capability '%s': '%s': reading archive: %s", l->name, path,
                               why ? why : "unknown libarchive error");
}

/* Only the tar format is enabled, so a zip, a cpio or plain garbage fails
 * while libarchive bids on the first bytes. */
static int not_tar(const captar_list *l, struct archive *a, const char *what, agora_error_t *err)
{
        const char *why = archive_error_string(a);

        return agora_error_set(err, AGORA_ERR_FAILED, "capability '%s': '%s': not a tar archive (%s)", l->name, what,
                               why ? why : "unreadable");
}

/* Copy the content of the current entry to the end of the spool. */
static int spool_entry(captar_list *l, struct archive *a, captar_entry *e, uint64_t base, uint64_t *read_total,
                       agora_error_t *err)
{
        for (;;) {
                const void *buf;
                size_t len;
                la_int64_t off;
                int r = archive_read_data_block(a, &buf, &len, &off);

                if (r == ARCHIVE_EOF)
                        return 0;
                if (r != ARCHIVE_OK)
                        return read_error(l, a, e->path, err);
                /* Sparse blocks come with offsets; anything past the declared
                 * size would overwrite the next entry's spool. */
                if (off < 0 || (uint64_t)off > e->size || len > e->size - (uint64_t)off)
                        return agora_error_set(err, AGORA_ERR_FAILED,
                                               "capability '%s': '%s': content runs past its declared size", l->name,
                                               e->path);
                *read_total += len;
                if (*read_total > l->limits->max_bytes)
                        return captar_error_too_big(l, e->path, err);
                if (check_ratio(l, a, e->path, err) < 0)
                        return -1;
                if (len > 0 && pwrite_all(l, e->path, buf, len, base + (uint64_t)off, err) < 0)
                        return -1;
        }
}

static int scan(captar_list *l, struct archive *a, const char *what, agora_error_t *err)
{
        uint64_t spool_end = 0, read_total = 0;
        bool first = true;

        l->spool_fd = memfd_create("captar-spool", MFD_CLOEXEC);
        if (l->spool_fd < 0)
                return agora_error_set_errno(err, errno, "capability '%s': spool memfd", l->name);
        for (;;) {
                struct archive_entry *ae;
                size_t index;
                int r = archive_read_next_header(a, &ae);

                if (r == ARCHIVE_EOF)
                        break;
                if (r != ARCHIVE_OK) {
                        if (first)
                                return not_tar(l, a, what, err);
                        return read_error(l, a, what, err);
                }
                first = false;
                const char *raw = archive_entry_pathname(ae);
                if (raw == NULL)
                        return agora_error_set(err, AGORA_ERR_FAILED, "capability '%s': '%s': an entry has no path",
                                               l->name, what);
                mode_t mode = archive_entry_mode(ae);
                if (captar_check_type(l, raw, mode, archive_entry_hardlink(ae) != NULL, err) < 0)
                        return -1;
                int64_t size = S_ISREG(mode) ? archive_entry_size(ae) : 0;
                if (size < 0)
                        return agora_error_set(err, AGORA_ERR_FAILED, "capability '%s': '%s': negative size", l->name,
                                               raw);
                if (captar_list_add(l, raw, S_ISDIR(mode), mode, (uint64_t)size, &index, err) < 0)
                        return -1;
                if (check_ratio(l, a, raw, err) < 0)
                        return -1;
                if (index == SIZE_MAX || l->entries[index].is_dir)
                        continue;
                captar_entry *e = &l->entries[index];
                e->offset = spool_end;
                if (spool_entry(l, a, e, spool_end, &read_total, err) < 0)
                        return -1;
                spool_end += e->size;
        }
        /* Trailing holes of sparse files are zeros that were never written. */
        if (ftruncate(l->spool_fd, (off_t)spool_end) < 0)
                return agora_error_set_errno(err, errno, "capability '%s': spool", l->name);
        return 0;
}

static int reader_new(struct archive **ret, bool filters, const captar_list *l, agora_error_t *err)
{
        struct archive *a = archive_read_new();

        if (a == NULL)
                return agora_error_set_errno(err, ENOMEM, "capability '%s': archive reader", l->name);
        /* "tar" covers ustar, pax, GNU and v7; every other format stays off,
         * and so do filters nobody asked for (uuencode, lzip, rpm…). */
        if (archive_read_support_format_tar(a) != ARCHIVE_OK) {
                archive_read_free(a);
                return agora_error_set(err, AGORA_ERR_FAILED, "capability '%s': libarchive lacks tar support", l->name);
        }
        if (filters) {
                /* WARN means "through an external program"; still usable. */
                if (archive_read_support_filter_gzip(a) < ARCHIVE_WARN ||
                    archive_read_support_filter_bzip2(a) < ARCHIVE_WARN ||
                    archive_read_support_filter_xz(a) < ARCHIVE_WARN ||
                    archive_read_support_filter_zstd(a) < ARCHIVE_WARN) {
                        archive_read_free(a);
                        return agora_error_set(err, AGORA_ERR_FAILED,
                                               "capability '%s': libarchive lacks a decompressor", l->name);
                }
        }
        *ret = a;
        return 0;
}

int captar_archive_scan_fd(captar_list *l, int fd, const char *what, agora_error_t *err)
{
        _cleanup_(captar_archive_read_freep) struct archive *a = NULL;

        if (reader_new(&a, true, l, err) < 0)
                return -1;
        if (archive_read_open_fd(a, fd, ARCHIVE_READ_BLOCK) != ARCHIVE_OK)
                return not_tar(l, a, what, err);
        return scan(l, a, what, err);
}

int captar_archive_scan_memory(captar_list *l, const void *data, size_t len, agora_error_t *err)
{
        _cleanup_(captar_archive_read_freep) struct archive *a = NULL;

        if (reader_new(&a, false, l, err) < 0)
                return -1;
        if (archive_read_open_memory(a, data, len) != ARCHIVE_OK)
                return not_tar(l, a, "tarball", err);
        return scan(l, a, "tarball", err);
}
