/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Any bytes as a capability archive: captar_build must refuse or produce a
 * tarball that passes its own canonical check, and never crash or leak.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "capabilities/captar.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        captar_limits lim;
        captar_result res;
        agora_error_t err = NULL;
        char path[64];
        int in = memfd_create("fuzz-in", MFD_CLOEXEC), out = memfd_create("fuzz-out", MFD_CLOEXEC);

        if (in < 0 || out < 0 || write(in, data, size) != (ssize_t)size)
                abort();
        captar_limits_default(&lim);
        lim.max_bytes = 4u << 20; /* keep each run small */
        lim.max_entries = 1000;
        snprintf(path, sizeof(path), "/proc/self/fd/%d", in);
        if (captar_build("fuzz", path, &lim, out, &res, &err) == 0) {
                off_t len = lseek(out, 0, SEEK_END);
                void *map = len > 0 ? mmap(NULL, (size_t)len, PROT_READ, MAP_PRIVATE, out, 0) : NULL;
                if (len <= 0 || map == MAP_FAILED || (uint64_t)len != res.size)
                        abort();
                /* What captar writes, captar must accept as canonical. */
                captar_result check;
                if (captar_check_canonical("fuzz", map, (size_t)len, &lim, &check, &err) < 0) {
                        fprintf(stderr, "own output not canonical: %s\n", agora_error_message(err));
                        abort();
                }
                if (check.size != res.size || check.entries != res.entries ||
                    check.content_bytes != res.content_bytes || !agora_hash_equal(&check.hash, &res.hash))
                        abort(); /* the check must describe what was built */
                munmap(map, (size_t)len);
        } else if (err == NULL || err->msg == NULL) {
                abort(); /* a failure must say why */
        }
        agora_error_release(&err);
        close(in);
        close(out);
        return 0;
}
