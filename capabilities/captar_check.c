/* SPDX-License-Identifier: Apache-2.0 */
/*
 * captar_check_canonical: a tarball from the registry or a peer is trusted
 * only if rebuilding it by our own rules gives the very same bytes. That one
 * comparison covers every field at once (order, modes, owners, times,
 * padding, stray pax records), where a field-by-field check would miss
 * whatever nobody thought to list.
 */
#include <string.h>

#include "capabilities/captar-internal.h"
#include "common/cleanup.h"

int captar_check_canonical(const char *name, const void *data, size_t len, const captar_limits *limits,
                           captar_result *ret, agora_error_t *err)
{
        captar_limits defaults;

        if (limits == NULL) {
                captar_limits_default(&defaults);
                limits = &defaults;
        }

        _cleanup_(captar_list_releasep) captar_list l;
        /* Compare mode: the rebuilt bytes are checked against DATA as they
         * are produced, so no second copy of the tarball is ever held. */
        _cleanup_(captar_sink_releasep) captar_sink s = {.name = name, .fd = -1, .expect = data, .expect_len = len};

        captar_list_init(&l, name, limits);
        /* No decompression here: a canonical tarball is stored as is, and
         * a compressed one is by definition not canonical. */
        if (captar_archive_scan_memory(&l, data, len, err) < 0 || captar_write(&l, &s, err) < 0)
                return -1;
        if (ret != NULL) {
                /* Identical bytes: DATA's own hash is the rebuilt one. */
                *ret = (captar_result){.size = len, .entries = l.n_entries, .content_bytes = l.content_bytes};
                agora_hash_buffer(data, len, &ret->hash);
        }
        return 0;
}
