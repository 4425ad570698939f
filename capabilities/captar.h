/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Canonical capability tarballs. Whatever the input (a directory, a .tar or
 * a compressed tar), the output is the one byte stream defined in
 * docs/registry.md: POSIX pax-restricted tar, entries in bytewise order of
 * their path, every parent directory present, uid/gid 0 with no owner names,
 * mtime 0, modes 0755 for directories and for files with any execute bit,
 * 0644 for other files, regular files and directories only. So the same
 * content has the same bytes and the same sha256 on every machine, whatever
 * the owners, mtimes or order on disk.
 *
 * Input is hostile until proven otherwise: "..", absolute paths, symlinks,
 * hard links, devices, FIFOs, sockets, setuid/setgid files, duplicate paths,
 * more than max_entries entries, more than max_bytes of content, or a
 * compressed input that expands more than max_ratio times are all refused
 * with an error naming the capability and the entry. Reading stops at the
 * first limit crossed, so a decompression bomb is never fully expanded.
 */

#include <stdint.h>

#include "common/error.h"
#include "common/hash.h"

#define CAPTAR_DEFAULT_MAX_BYTES (64ull << 20)
#define CAPTAR_DEFAULT_MAX_ENTRIES 10000ull
#define CAPTAR_DEFAULT_MAX_RATIO 200ull

typedef void (*captar_progress_fn)(void *ctx, uint64_t done_bytes, uint64_t total_bytes);

typedef struct captar_limits {
        uint64_t max_bytes; /* sum of file sizes */
        uint64_t max_entries; /* files plus directories */
        uint64_t max_ratio; /* expanded / compressed bytes, for compressed input */
        captar_progress_fn progress; /* may be NULL; total is 0 when unknown */
        void *progress_ctx;
} captar_limits;

void captar_limits_default(captar_limits *ret);

typedef struct captar_result {
        agora_hash hash; /* sha256 of the tarball bytes */
        uint64_t size; /* tarball bytes */
        uint64_t entries; /* files plus directories */
        uint64_t content_bytes; /* sum of file sizes */
} captar_result;

/* Build the canonical tarball of PATH (a directory, or a tar file optionally
 * gzip/xz/zstd/bzip2-compressed) and write it to OUT_FD from its current
 * offset. NAME is the capability's name, used in errors. On failure nothing
 * useful is in OUT_FD; the caller discards it. */
int captar_build(const char *name, const char *path, const captar_limits *limits, int out_fd, captar_result *ret,
                 agora_error_t *err);

/* Check that the LEN bytes at DATA are a canonical tarball (re-parse with the
 * same rules and require that rebuilding gives identical bytes). Used by
 * `agora verify`, `agora resolve` and by workers before unpacking. On
 * success *RET (may be NULL) describes the tarball as captar_build would. */
int captar_check_canonical(const char *name, const void *data, size_t len, const captar_limits *limits,
                           captar_result *ret, agora_error_t *err);
