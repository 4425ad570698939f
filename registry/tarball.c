/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Capability tarballs as the registry hands them out. A tarball's sha256
 * name says only that nobody changed its bytes since they were committed;
 * anyone with write access to the repository can commit, with stock git, a
 * hostile tar (a setuid "../../etc/cron.d/x", a symlink out of the cage)
 * under its real sha256. So every reader that names a tarball as fit to run
 * (verify, resolve) also requires it to be canonical, by the same rules that
 * `agora register` builds with, and requires its definition to describe it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "registry/registry-internal.h"

/* A tar entry takes at least one 512-byte header, so a tarball of LEN bytes
 * cannot honestly hold more than LEN / 512 entries: limits derived from the
 * blob itself bound the work without refusing a capability that was
 * registered with a larger --max-size or --max-entries. */
static void limits_for(size_t len, captar_limits *ret)
{
        captar_limits_default(ret);
        ret->max_bytes = len;
        ret->max_entries = len / 512 + 1;
}

int registry_tarball_check(const char *who, const char *name, const agora_hash *h, const void *data, size_t len,
                           captar_result *ret, agora_error_t *err)
{
        char full[AGORA_HASH_STR_LEN + 1];
        _cleanup_free_ char *prefix = NULL, *why = NULL;
        const char *msg;
        captar_limits limits;
        agora_error_kind kind;

        limits_for(len, &limits);
        if (captar_check_canonical(name, data, len, &limits, ret, err) == 0)
                return 0;
        agora_hash_format(h, full);
        /* captar names the capability first ("capability 'x': …"); say
         * instead which blob of which capabilities is bad. */
        msg = agora_error_message(err ? *err : NULL);
        if (asprintf(&prefix, "capability '%s': ", name) < 0)
                return agora_error_set_errno(err, ENOMEM, "%s: blob %s", who, full);
        if (strncmp(msg, prefix, strlen(prefix)) == 0)
                msg += strlen(prefix);
        why = strdup(msg);
        if (why == NULL)
                return agora_error_set_errno(err, ENOMEM, "%s: blob %s", who, full);
        /* Bytes that are not canonical are an integrity problem of the
         * registry; a failure with an errno (no memory for the spool) is not. */
        kind = err != NULL && *err != NULL && (*err)->errnum != 0 ? AGORA_ERR_FAILED : AGORA_ERR_INTEGRITY;
        return agora_error_set(err, kind, "%s: blob %s: %s", who, full, why);
}

int registry_tarball_matches(const char *name, const json_t *def, const captar_result *res, agora_error_t *err)
{
        json_int_t size = json_integer_value(json_object_get(def, "size"));
        json_int_t entries = json_integer_value(json_object_get(def, "entries"));

        /* Both are what `agora list` and `show` print; a definition that
         * lies about them misleads the operator about what would run. */
        if (size < 0 || (uint64_t)size != res->size)
                return agora_error_set(err, AGORA_ERR_INTEGRITY,
                                       "capability '%s': definition says %lld bytes, tarball has %llu", name,
                                       (long long)size, (unsigned long long)res->size);
        if (entries < 0 || (uint64_t)entries != res->entries)
                return agora_error_set(err, AGORA_ERR_INTEGRITY,
                                       "capability '%s': definition says %lld entries, tarball has %llu", name,
                                       (long long)entries, (unsigned long long)res->entries);
        return 0;
}
