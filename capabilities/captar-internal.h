/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Private to capabilities/: the steps of captar_build. An input (directory
 * or archive) is first scanned into a captar_list, which checks every entry
 * as it arrives; the writer then emits the sorted list as the canonical
 * tarball into a sink that hashes (or compares) every byte.
 */

#include <archive.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "capabilities/captar.h"
#include "common/error.h"
#include "common/hash.h"

/* PATH_MAX on the machine that unpacks it, minus the NUL. */
#define CAPTAR_PATH_MAX 4095
/* NAME_MAX: a longer component could not be created by the worker. */
#define CAPTAR_COMPONENT_MAX 255
/* Large reads keep syscalls out of the profile next to hashing. */
#define CAPTAR_IO_CHUNK (1u << 20)

typedef struct captar_entry {
        char *path; /* normalised: relative, no "./", no "//", no trailing '/' */
        uint64_t size; /* 0 for directories */
        uint64_t offset; /* archive input: where the content starts in the spool */
        dev_t dev; /* directory input: the file the walker saw, so a file */
        ino_t ino; /* swapped in before the read is noticed */
        bool is_dir;
        bool exec;
        bool implied; /* a parent directory that the input never listed */
} captar_entry;

typedef struct captar_list {
        const char *name; /* the capability, for errors */
        const captar_limits *limits;
        captar_entry *entries;
        size_t n_entries;
        size_t cap_entries;
        uint32_t *slots; /* open-addressing index of paths: entry index + 1, 0 = empty */
        size_t n_slots;
        uint64_t content_bytes; /* sum of declared file sizes */
        int root_fd; /* directory input, else -1 */
        int spool_fd; /* archive input, else -1 */
} captar_list;

void captar_list_init(captar_list *l, const char *name, const captar_limits *limits);
void captar_list_release(captar_list *l);

/* Refuse anything but regular files and directories, and setuid/setgid
 * files. MODE carries the S_IFMT bits; RAW names the entry in errors. */
int captar_check_type(const captar_list *l, const char *raw, mode_t mode, bool hardlink, agora_error_t *err);

/* Normalise RAW and add it with its implied parents. Sets *ret_index to the
 * new entry, or to SIZE_MAX when RAW names the root itself (skipped). */
int captar_list_add(captar_list *l, const char *raw, bool is_dir, mode_t mode, uint64_t size, size_t *ret_index,
                    agora_error_t *err);

/* Bytewise order of path; the path index is dropped (no more adds). */
void captar_list_sort(captar_list *l);

/* The max_bytes error, shared by every place that counts content. */
int captar_error_too_big(const captar_list *l, const char *path, agora_error_t *err);

/* captar_dir.c: walk the directory l->root_fd into the list. */
int captar_dir_scan(captar_list *l, agora_error_t *err);
/* Open a file of the walked tree for reading, checking it is still the
 * file the walker saw. */
int captar_dir_open_entry(const captar_list *l, const captar_entry *e, agora_error_t *err);

/* captar_archive.c: read a tar (optionally compressed) into the list,
 * spooling contents into a memfd at l->spool_fd. WHAT names the input. */
int captar_archive_scan_fd(captar_list *l, int fd, const char *what, agora_error_t *err);
/* Uncompressed tar only: the bytes must be a tarball as stored. */
int captar_archive_scan_memory(captar_list *l, const void *data, size_t len, agora_error_t *err);

/* captar_write.c: where the canonical bytes go. */
typedef struct captar_sink {
        const char *name;
        int fd; /* write here, or -1 to compare */
        const unsigned char *expect; /* compare mode: the bytes claimed canonical */
        size_t expect_len;
        bool mismatch;
        agora_hasher *hasher;
        unsigned char *buf;
        size_t used;
        uint64_t total;
        agora_error_t err; /* first failure inside the write callback */
} captar_sink;

int captar_write(captar_list *l, captar_sink *sink, agora_error_t *err);
void captar_sink_release(captar_sink *s);

static inline void captar_archive_read_freep(struct archive **a)
{
        if (*a != NULL)
                archive_read_free(*a);
}

static inline void captar_archive_write_freep(struct archive **a)
{
        if (*a != NULL)
                archive_write_free(*a);
}

static inline void captar_list_releasep(captar_list *l)
{
        captar_list_release(l);
}

static inline void captar_sink_releasep(captar_sink *s)
{
        captar_sink_release(s);
}
