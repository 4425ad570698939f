/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A capability handed to agora-cage by path. Whatever the input (a
 * directory, a tar, a compressed tar, a canonical tarball from the
 * registry), it goes through captar_build first: so the cage only ever
 * unpacks the canonical form, after every hostile-input check of
 * capabilities/, and the hash it reports is the registry's hash.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "capabilities/captar.h"
#include "common/cleanup.h"
#include "common/name.h"
#include "worker/cage.h"

static int read_back(int fd, const char *name, size_t len, unsigned char **ret, agora_error_t *err)
{
        _cleanup_free_ unsigned char *buf = malloc(len ? len : 1);
        size_t done = 0;

        if (buf == NULL)
                return agora_error_set_errno(err, ENOMEM, "capability '%s': reading tarball", name);
        while (done < len) {
                ssize_t n = pread(fd, buf + done, len - done, (off_t)done);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return agora_error_set_errno(err, errno, "capability '%s': reading tarball", name);
                if (n == 0)
                        return agora_error_set(err, AGORA_ERR_FAILED, "capability '%s': tarball shrank while read",
                                               name);
                done += (size_t)n;
        }
        *ret = take_ptr(buf);
        return 0;
}

int cage_capability_load(const char *name, const char *path, cage_capability *ret, agora_error_t *err)
{
        captar_limits limits;
        captar_result res;
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *dup = NULL;

        memset(ret, 0, sizeof(*ret));
        if (agora_name_check("capability", name, err) < 0)
                return -1;
        captar_limits_default(&limits);
        fd = memfd_create("agora-cap", MFD_CLOEXEC);
        if (fd < 0)
                return agora_error_set_errno(err, errno, "capability '%s': memfd", name);
        if (captar_build(name, path, &limits, fd, &res, err) < 0)
                return -1;
        dup = strdup(name);
        if (dup == NULL)
                return agora_error_set_errno(err, ENOMEM, "capability '%s'", name);
        if (read_back(fd, name, (size_t)res.size, &ret->data, err) < 0)
                return -1;
        ret->name = take_ptr(dup);
        ret->len = (size_t)res.size;
        ret->hash = res.hash;
        ret->content_bytes = res.content_bytes;
        ret->entries = res.entries;
        return 0;
}

void cage_capability_release(cage_capability *c)
{
        if (c == NULL)
                return;
        free(c->name);
        free(c->data);
        memset(c, 0, sizeof(*c));
}
