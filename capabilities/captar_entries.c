/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The in-memory entry list shared by every input: path normalisation and
 * every check on hostile entries (type, "..", duplicates, file-as-directory,
 * entry and byte limits). Both the directory walker and the archive reader
 * feed entries through captar_list_add, so the two inputs cannot disagree
 * about what is allowed.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "capabilities/captar-internal.h"
#include "common/cleanup.h"

#define ONLY_FILES_AND_DIRS "(regular files and directories only)"

void captar_list_init(captar_list *l, const char *name, const captar_limits *limits)
{
        *l = (captar_list){.name = name, .limits = limits, .root_fd = -1, .spool_fd = -1};
}

void captar_list_release(captar_list *l)
{
        for (size_t i = 0; i < l->n_entries; i++)
                free(l->entries[i].path);
        free(l->entries);
        free(l->slots);
        cleanup_closep(&l->root_fd);
        cleanup_closep(&l->spool_fd);
        captar_list_init(l, l->name, l->limits);
}

int captar_check_type(const captar_list *l, const char *raw, mode_t mode, bool hardlink, agora_error_t *err)
{
        const char *what = NULL;

        /* A hard link in an archive points at another entry's content: a
         * cheap way to smuggle one file under two names or out of the tree. */
        if (hardlink)
                what = "hard links";
        else if (S_ISLNK(mode))
                what = "symbolic links"; /* would let the cage read outside its tree */
        else if (S_ISCHR(mode) || S_ISBLK(mode))
                what = "device files"; /* raw access to host hardware */
        else if (S_ISFIFO(mode))
                what = "FIFOs";
        else if (S_ISSOCK(mode))
                what = "sockets";
        else if (!S_ISREG(mode) && !S_ISDIR(mode))
                what = "special files";
        if (what != NULL)
                return agora_error_set(err, AGORA_ERR_FAILED, "capability '%s': '%s': %s are not allowed %s", l->name,
                                       raw, what, ONLY_FILES_AND_DIRS);
        /* Set-id bits would be dropped by the canonical modes anyway; refusing
         * says loudly that the input was not what its author thought. */
        if (S_ISREG(mode) && (mode & (S_ISUID | S_ISGID)))
                return agora_error_set(err, AGORA_ERR_FAILED,
                                       "capability '%s': '%s': setuid/setgid files are not allowed", l->name, raw);
        return 0;
}

int captar_error_too_big(const captar_list *l, const char *path, agora_error_t *err)
{
        return agora_error_set(err, AGORA_ERR_FAILED,
                               "capability '%s': '%s': more than %llu bytes of content (limit --max-size)", l->name,
                               path, (unsigned long long)l->limits->max_bytes);
}

/* Rewrite RAW into the one spelling used in the tarball. The root itself
 * ("." or "./") comes back as "". */
static int path_normalise(const captar_list *l, const char *raw, char **ret, agora_error_t *err)
{
        _cleanup_free_ char *out = NULL;
        size_t n = 0, rawlen = strlen(raw);
        const char *p = raw;

        if (rawlen == 0)
                return agora_error_set(err, AGORA_ERR_FAILED, "capability '%s': an entry has an empty path", l->name);
        /* An absolute path would unpack over the host's own files. */
        if (raw[0] == '/')
                return agora_error_set(err, AGORA_ERR_FAILED, "capability '%s': '%s': absolute paths are not allowed",
                                       l->name, raw);
        out = malloc(rawlen + 1);
        if (out == NULL)
                return agora_error_set_errno(err, ENOMEM, "capability '%s': '%s'", l->name, raw);
        while (*p != '\0') {
                size_t len = strcspn(p, "/");

                if (len == 2 && p[0] == '.' && p[1] == '.')
                        /* The classic tar escape: "../../etc/cron.d/x". */
                        return agora_error_set(err, AGORA_ERR_FAILED,
                                               "capability '%s': '%s': '..' is not allowed in paths", l->name, raw);
                if (len > CAPTAR_COMPONENT_MAX)
                        return agora_error_set(err, AGORA_ERR_FAILED,
                                               "capability '%s': '%.64s…': a path component is longer than %d bytes",
                                               l->name, raw, CAPTAR_COMPONENT_MAX);
                for (size_t i = 0; i < len; i++) {
                        unsigned char c = (unsigned char)p[i];
                        /* A newline or escape in a name forges lines in listings
                         * and logs that an operator reads to decide trust.
                         * Non-ASCII is refused too: libarchive would encode it
                         * according to the current locale, so the same files
                         * could hash differently on two machines. */
                        if (c < 0x20 || c >= 0x7f)
                                return agora_error_set(
                                        err, AGORA_ERR_FAILED,
                                        "capability '%s': '%s': only printable ASCII is allowed in paths", l->name,
                                        raw);
                }
                if (len > 0 && !(len == 1 && p[0] == '.')) {
                        if (n > 0)
                                out[n++] = '/';
                        memcpy(out + n, p, len);
                        n += len;
                }
                p += len;
                if (*p == '/')
                        p++;
        }
        out[n] = '\0';
        if (n > CAPTAR_PATH_MAX)
                return agora_error_set(err, AGORA_ERR_FAILED, "capability '%s': '%.64s…': path is longer than %d bytes",
                                       l->name, out, CAPTAR_PATH_MAX);
        *ret = take_ptr(out);
        return 0;
}

/* FNV-1a: paths are short and the index only needs to spread them. */
static uint64_t path_hash(const char *s, size_t len)
{
        uint64_t h = 0xcbf29ce484222325ull;

        for (size_t i = 0; i < len; i++) {
                h ^= (unsigned char)s[i];
                h *= 0x100000001b3ull;
        }
        return h;
}

/* Slot holding PATH[0..LEN), or the empty slot where it would go. */
static size_t index_find(const captar_list *l, const char *path, size_t len)
{
        size_t mask = l->n_slots - 1, i = (size_t)path_hash(path, len) & mask;

        for (;;) {
                uint32_t s = l->slots[i];
                if (s == 0)
                        return i;
                const char *other = l->entries[s - 1].path;
                if (strncmp(other, path, len) == 0 && other[len] == '\0')
                        return i;
                i = (i + 1) & mask;
        }
}

static int index_grow(captar_list *l, agora_error_t *err)
{
        size_t n = l->n_slots ? l->n_slots * 2 : 1024;
        uint32_t *old = l->slots;
        size_t old_n = l->n_slots;

        if (n > UINT32_MAX)
                return agora_error_set(err, AGORA_ERR_FAILED, "capability '%s': too many entries", l->name);
        l->slots = calloc(n, sizeof(*l->slots));
        if (l->slots == NULL) {
                l->slots = old;
                return agora_error_set_errno(err, ENOMEM, "capability '%s': entry index", l->name);
        }
        l->n_slots = n;
        for (size_t i = 0; i < old_n; i++) {
                if (old[i] == 0)
                        continue;
                const char *p = l->entries[old[i] - 1].path;
                l->slots[index_find(l, p, strlen(p))] = old[i];
        }
        free(old);
        return 0;
}

/* Append an entry owning PATH; SLOT must be index_find's answer for it. */
static int list_append(captar_list *l, char *path, bool is_dir, bool implied, size_t *ret_index, agora_error_t *err)
{
        _cleanup_free_ char *owned = path;

        if (l->n_entries >= l->limits->max_entries)
                return agora_error_set(err, AGORA_ERR_FAILED,
                                       "capability '%s': '%s': more than %llu entries (limit --max-entries)", l->name,
                                       owned, (unsigned long long)l->limits->max_entries);
        if (l->n_entries == l->cap_entries) {
                size_t cap = l->cap_entries ? l->cap_entries * 2 : 256;
                captar_entry *v = realloc(l->entries, cap * sizeof(*v));
                if (v == NULL)
                        return agora_error_set_errno(err, ENOMEM, "capability '%s': entry list", l->name);
                l->entries = v;
                l->cap_entries = cap;
        }
        /* Keep the index at most half full so probes stay short. */
        if (2 * (l->n_entries + 1) > l->n_slots && index_grow(l, err) < 0)
                return -1;
        size_t slot = index_find(l, owned, strlen(owned));
        l->entries[l->n_entries] = (captar_entry){.path = take_ptr(owned), .is_dir = is_dir, .implied = implied};
        l->slots[slot] = (uint32_t)(l->n_entries + 1);
        *ret_index = l->n_entries++;
        return 0;
}

static int error_file_as_dir(const captar_list *l, const char *file, agora_error_t *err)
{
        return agora_error_set(err, AGORA_ERR_FAILED, "capability '%s': '%s': used both as a file and as a directory",
                               l->name, file);
}

/* Make every parent of entry INDEX exist as a directory. Deepest first: once
 * one parent is known, all of its own parents were added with it, so the
 * work stays linear in the number of distinct directories. */
static int list_add_parents(captar_list *l, size_t index, agora_error_t *err)
{
        const char *path = l->entries[index].path;
        size_t len = strlen(path);

        while (len > 0) {
                while (len > 0 && path[len - 1] != '/')
                        len--;
                if (len == 0)
                        break;
                len--; /* drop the '/' */
                uint32_t s = l->slots[index_find(l, path, len)];
                if (s != 0) {
                        if (!l->entries[s - 1].is_dir)
                                return error_file_as_dir(l, l->entries[s - 1].path, err);
                        return 0;
                }
                char *parent = strndup(path, len);
                size_t ignored;
                if (parent == NULL)
                        return agora_error_set_errno(err, ENOMEM, "capability '%s': '%s'", l->name, path);
                if (list_append(l, parent, true, true, &ignored, err) < 0)
                        return -1;
                path = l->entries[index].path; /* the array may have moved */
        }
        return 0;
}

int captar_list_add(captar_list *l, const char *raw, bool is_dir, mode_t mode, uint64_t size, size_t *ret_index,
                    agora_error_t *err)
{
        _cleanup_free_ char *path = NULL;
        size_t index;

        if (path_normalise(l, raw, &path, err) < 0)
                return -1;
        if (path[0] == '\0') {
                if (!is_dir)
                        return agora_error_set(
                                err, AGORA_ERR_FAILED,
                                "capability '%s': '%s': names the capability's root but is not a directory", l->name,
                                raw);
                *ret_index = SIZE_MAX;
                return 0;
        }
        if (!is_dir) {
                /* Declared sizes are checked before any byte is read, so a
                 * header claiming 1 TiB is refused without reading it. */
                if (size > l->limits->max_bytes || l->content_bytes + size > l->limits->max_bytes)
                        return captar_error_too_big(l, path, err);
        }
        if (l->n_slots > 0) {
                uint32_t s = l->slots[index_find(l, path, strlen(path))];
                if (s != 0) {
                        captar_entry *old = &l->entries[s - 1];
                        /* Two entries for one path: whichever an unpacker keeps, a
                         * reviewer may have read the other. */
                        if (!old->implied)
                                return agora_error_set(err, AGORA_ERR_FAILED, "capability '%s': '%s': duplicate path",
                                                       l->name, path);
                        if (!is_dir)
                                return error_file_as_dir(l, path, err);
                        old->implied = false;
                        *ret_index = s - 1;
                        return 0;
                }
        }
        if (list_append(l, take_ptr(path), is_dir, false, &index, err) < 0)
                return -1;
        if (!is_dir) {
                l->entries[index].size = size;
                l->entries[index].exec = (mode & 0111) != 0;
                l->content_bytes += size;
        }
        if (list_add_parents(l, index, err) < 0)
                return -1;
        *ret_index = index;
        return 0;
}

static int entry_compare(const void *a, const void *b)
{
        return strcmp(((const captar_entry *)a)->path, ((const captar_entry *)b)->path);
}

void captar_list_sort(captar_list *l)
{
        free(l->slots);
        l->slots = NULL;
        l->n_slots = 0;
        if (l->n_entries > 1)
                qsort(l->entries, l->n_entries, sizeof(*l->entries), entry_compare);
}
