/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The canonical writer. Every field that could carry the machine, the user
 * or the moment (owner, names, times, order, umask) is fixed here, so the
 * bytes depend on content alone. libarchive's pax writer does the format;
 * its output goes through a sink that hashes every byte on the way out.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "capabilities/captar-internal.h"
#include "common/cleanup.h"

/* GNU tar's record size: the end of the archive is padded to it, so stock
 * tools see a conventional tarball. Fixed here, not left to defaults. */
#define TAR_RECORD 10240
#define SINK_BUF (1u << 20)
#define PROGRESS_STEP (4ull << 20)

void captar_limits_default(captar_limits *ret)
{
        *ret = (captar_limits){
                .max_bytes = CAPTAR_DEFAULT_MAX_BYTES,
                .max_entries = CAPTAR_DEFAULT_MAX_ENTRIES,
                .max_ratio = CAPTAR_DEFAULT_MAX_RATIO,
        };
}

void captar_sink_release(captar_sink *s)
{
        agora_hasher_free(s->hasher);
        free(s->buf);
        agora_error_release(&s->err);
        s->hasher = NULL;
        s->buf = NULL;
}

static int sink_write_fd(captar_sink *s, const unsigned char *p, size_t len)
{
        while (len > 0) {
                ssize_t n = write(s->fd, p, len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return agora_error_set_errno(&s->err, errno, "capability '%s': writing tarball", s->name);
                }
                /* Short writes happen on pipes and near a full disk. */
                p += n;
                len -= (size_t)n;
        }
        return 0;
}

static int sink_flush(captar_sink *s)
{
        int r = 0;

        if (s->fd >= 0 && s->used > 0)
                r = sink_write_fd(s, s->buf, s->used);
        s->used = 0;
        return r;
}

static la_ssize_t sink_callback(struct archive *a, void *ctx, const void *data, size_t len)
{
        captar_sink *s = ctx;
        const unsigned char *p = data;

        if (s->fd < 0) {
                /* Compare mode: the first differing byte settles it. */
                if (s->total + len > s->expect_len || memcmp(s->expect + s->total, p, len) != 0)
                        s->mismatch = true;
                if (s->mismatch) {
                        archive_set_error(a, EINVAL, "not canonical");
                        return -1;
                }
        } else {
                agora_hasher_update(s->hasher, p, len);
                if (s->used + len > SINK_BUF && sink_flush(s) < 0)
                        goto fail;
                /* libarchive hands over one 10 KiB record at a time; batching
                 * them keeps the write(2) count a hundred times lower. */
                if (len >= SINK_BUF) {
                        if (sink_write_fd(s, p, len) < 0)
                                goto fail;
                } else {
                        memcpy(s->buf + s->used, p, len);
                        s->used += len;
                }
        }
        s->total += len;
        return (la_ssize_t)len;
fail:
        archive_set_error(a, s->err ? s->err->errnum : EIO, "%s", agora_error_message(s->err));
        return -1;
}

/* Report a libarchive failure, preferring the sink's own error (which has
 * the errno and names the tarball) over libarchive's echo of it. */
static int write_error(captar_sink *s, struct archive *a, const char *path, agora_error_t *err)
{
        if (s->err != NULL) {
                agora_error_release(err);
                *err = take_ptr(s->err);
                return -1;
        }
        if (s->mismatch)
                return agora_error_set(err, AGORA_ERR_INTEGRITY, "capability '%s': tarball is not in canonical form",
                                       s->name);
        return agora_error_set(err, AGORA_ERR_FAILED, "capability '%s': '%s': writing tarball: %s", s->name, path,
                               archive_error_string(a) ? archive_error_string(a) : "unknown libarchive error");
}

typedef struct copy_state {
        unsigned char *buf;
        uint64_t done;
        uint64_t next_report;
} copy_state;

static void progress(const captar_list *l, copy_state *c, bool final)
{
        if (l->limits->progress == NULL)
                return;
        if (!final && c->done < c->next_report)
                return;
        l->limits->progress(l->limits->progress_ctx, c->done, l->content_bytes);
        c->next_report = c->done + PROGRESS_STEP;
}

/* Stream one file's content into the archive, from the walked directory or
 * from the spool. Exactly e->size bytes, or an error. */
static int copy_content(captar_list *l, captar_sink *s, struct archive *a, const captar_entry *e, copy_state *c,
                        agora_error_t *err)
{
        _cleanup_close_ int fd = -1;
        uint64_t left = e->size, off = e->offset;
        bool spool = l->spool_fd >= 0;

        if (!spool) {
                fd = captar_dir_open_entry(l, e, err);
                if (fd < 0)
                        return -1;
        }
        while (left > 0) {
                size_t want = left < CAPTAR_IO_CHUNK ? (size_t)left : CAPTAR_IO_CHUNK;
                ssize_t n = spool ? pread(l->spool_fd, c->buf, want, (off_t)off) : read(fd, c->buf, want);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return agora_error_set_errno(err, errno, "capability '%s': '%s': reading", l->name, e->path);
                }
                if (n == 0)
                        return agora_error_set(err, AGORA_ERR_FAILED,
                                               "capability '%s': '%s': file changed size while reading (shrank)",
                                               l->name, e->path);
                if (archive_write_data(a, c->buf, (size_t)n) != n)
                        return write_error(s, a, e->path, err);
                left -= (uint64_t)n;
                off += (uint64_t)n;
                c->done += (uint64_t)n;
                progress(l, c, false);
        }
        if (!spool) {
                /* One more read must hit end of file: a file that grew since
                 * the walk would otherwise be silently truncated. */
                ssize_t n;
                do
                        n = read(fd, c->buf, 1);
                while (n < 0 && errno == EINTR);
                if (n != 0)
                        return agora_error_set(err, AGORA_ERR_FAILED,
                                               "capability '%s': '%s': file changed size while reading (grew)", l->name,
                                               e->path);
        }
        return 0;
}

static void entry_freep(struct archive_entry **e)
{
        if (*e != NULL)
                archive_entry_free(*e);
}

static int writer_new(captar_sink *s, struct archive **ret, agora_error_t *err)
{
        _cleanup_(captar_archive_write_freep) struct archive *a = archive_write_new();

        if (a == NULL)
                return agora_error_set_errno(err, ENOMEM, "capability '%s': archive writer", s->name);
        /* Restricted pax is plain ustar unless a path is too long, and then
         * a pax header whose name carries no PID. Paths are printable ASCII
         * (captar_entries.c), so no locale-dependent conversion happens. */
        if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
            archive_write_add_filter_none(a) != ARCHIVE_OK ||
            archive_write_set_bytes_per_block(a, TAR_RECORD) != ARCHIVE_OK ||
            archive_write_set_bytes_in_last_block(a, TAR_RECORD) != ARCHIVE_OK ||
            archive_write_open2(a, s, NULL, sink_callback, NULL, NULL) != ARCHIVE_OK)
                return write_error(s, a, "(start)", err);
        *ret = take_ptr(a);
        return 0;
}

int captar_write(captar_list *l, captar_sink *s, agora_error_t *err)
{
        _cleanup_(captar_archive_write_freep) struct archive *a = NULL;
        _cleanup_(entry_freep) struct archive_entry *ae = archive_entry_new();
        _cleanup_free_ unsigned char *buf = malloc(CAPTAR_IO_CHUNK);
        copy_state c = {.buf = buf};

        if (ae == NULL || buf == NULL)
                return agora_error_set_errno(err, ENOMEM, "capability '%s': writer buffers", l->name);
        if (s->fd >= 0) {
                s->buf = malloc(SINK_BUF);
                if (s->buf == NULL)
                        return agora_error_set_errno(err, ENOMEM, "capability '%s': writer buffers", l->name);
                if (agora_hasher_new(&s->hasher, err) < 0)
                        return agora_error_wrap(err, "capability '%s'", l->name);
        }
        captar_list_sort(l);
        if (writer_new(s, &a, err) < 0)
                return -1;
        for (size_t i = 0; i < l->n_entries; i++) {
                const captar_entry *e = &l->entries[i];

                /* A fresh entry has no atime, ctime or birthtime, and no
                 * owner names: only what is set below reaches the header. */
                archive_entry_clear(ae);
                archive_entry_copy_pathname(ae, e->path);
                archive_entry_set_filetype(ae, e->is_dir ? AE_IFDIR : AE_IFREG);
                archive_entry_set_perm(ae, e->is_dir || e->exec ? 0755 : 0644);
                archive_entry_set_size(ae, e->is_dir ? 0 : (la_int64_t)e->size);
                archive_entry_set_uid(ae, 0);
                archive_entry_set_gid(ae, 0);
                archive_entry_set_mtime(ae, 0, 0);
                if (archive_write_header(a, ae) != ARCHIVE_OK)
                        return write_error(s, a, e->path, err);
                if (!e->is_dir && copy_content(l, s, a, e, &c, err) < 0)
                        return -1;
                if (archive_write_finish_entry(a) != ARCHIVE_OK)
                        return write_error(s, a, e->path, err);
        }
        if (archive_write_close(a) != ARCHIVE_OK)
                return write_error(s, a, "(end)", err);
        if (sink_flush(s) < 0)
                return write_error(s, a, "(end)", err);
        if (s->fd < 0 && s->total != s->expect_len)
                s->mismatch = true;
        if (s->mismatch)
                return write_error(s, a, "(end)", err);
        progress(l, &c, true);
        return 0;
}

int captar_build(const char *name, const char *path, const captar_limits *limits, int out_fd, captar_result *ret,
                 agora_error_t *err)
{
        captar_limits defaults;

        if (limits == NULL) {
                captar_limits_default(&defaults);
                limits = &defaults;
        }

        _cleanup_(captar_list_releasep) captar_list l;
        _cleanup_(captar_sink_releasep) captar_sink s = {.name = name, .fd = out_fd};
        _cleanup_close_ int fd = -1;
        struct stat st;

        captar_list_init(&l, name, limits);
        /* The top-level path is the operator's own choice, so it may be a
         * symlink; nothing inside the tree is followed. O_NONBLOCK keeps a
         * FIFO passed by mistake from hanging the open. */
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return agora_error_set_errno(err, errno, "capability '%s': '%s'", name, path);
        if (fstat(fd, &st) < 0)
                return agora_error_set_errno(err, errno, "capability '%s': '%s'", name, path);
        if (S_ISDIR(st.st_mode)) {
                l.root_fd = take_fd(fd);
                if (captar_dir_scan(&l, err) < 0)
                        return -1;
        } else if (S_ISREG(st.st_mode)) {
                if (fcntl(fd, F_SETFL, 0) < 0)
                        return agora_error_set_errno(err, errno, "capability '%s': '%s'", name, path);
                if (captar_archive_scan_fd(&l, fd, path, err) < 0)
                        return -1;
        } else {
                return agora_error_set(err, AGORA_ERR_USAGE, "capability '%s': '%s': not a directory or a tar archive",
                                       name, path);
        }
        if (captar_write(&l, &s, err) < 0)
                return -1;
        if (ret != NULL) {
                *ret = (captar_result){.size = s.total, .entries = l.n_entries, .content_bytes = l.content_bytes};
                agora_hasher_final(s.hasher, &ret->hash);
        }
        return 0;
}
