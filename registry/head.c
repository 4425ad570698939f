/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The registry's head commit from its ref files alone. A dispatch whose
 * resolution is already known for that commit (control/resolve_cache.c)
 * needs nothing else from the registry, and reading two small files costs
 * far less than starting libgit2. The format read is git's own:
 * "ref: refs/heads/NAME" in HEAD, the ref's 40 hex digits in its loose file,
 * or its line in packed-refs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/hash.h"
#include "registry/registry.h"

static int read_small(const char *dir, const char *name, char **ret, agora_error_t *err)
{
        _cleanup_free_ char *path = NULL;
        size_t n;

        if (asprintf(&path, "%s/%s", dir, name) < 0)
                return agora_error_set_errno(err, ENOMEM, "registry '%s'", dir);
        return fs_read_file(path, 1 << 20, ret, &n, err);
}

int registry_head_peek(const char *path, char out[41], agora_error_t *err)
{
        _cleanup_free_ char *head = NULL, *loose = NULL, *packed = NULL;
        _cleanup_error_ agora_error_t miss = NULL;
        char ref[256];
        size_t n;

        if (read_small(path, "HEAD", &head, err) < 0)
                return -1;
        if (strncmp(head, "ref: refs/heads/", 16) != 0 || (n = strcspn(head + 5, "\n")) >= sizeof(ref) ||
            strstr(head + 5, "..") != NULL)
                return agora_error_set(err, AGORA_ERR_FAILED, "registry '%s': HEAD is not a branch", path);
        memcpy(ref, head + 5, n);
        ref[n] = '\0';
        if (read_small(path, ref, &loose, &miss) == 0) {
                if (!agora_is_lower_hex(loose, 40) || (loose[40] != '\n' && loose[40] != '\0'))
                        return agora_error_set(err, AGORA_ERR_FAILED, "registry '%s': %s is not a commit id", path,
                                               ref);
                memcpy(out, loose, 40);
                out[40] = '\0';
                return 0;
        }
        if (read_small(path, "packed-refs", &packed, err) < 0)
                return agora_error_wrap(err, "registry '%s': %s", path, ref);
        for (char *line = packed; line != NULL && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
                if (agora_is_lower_hex(line, 40) && line[40] == ' ' && strncmp(line + 41, ref, n) == 0 &&
                    (line[41 + n] == '\n' || line[41 + n] == '\0')) {
                        memcpy(out, line, 40);
                        out[40] = '\0';
                        return 0;
                }
        }
        return agora_error_set(err, AGORA_ERR_NOTFOUND, "registry '%s': no %s", path, ref);
}
