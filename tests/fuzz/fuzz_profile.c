/* SPDX-License-Identifier: Apache-2.0 */
/* Any bytes as a profile: a profile or a one-line error naming it, never a
 * crash or a leak. Profiles decide what a cage may have, so their reader
 * must hold against whatever a file can contain. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "worker/profile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        agora_error_t err = NULL;
        profile *p = NULL;

        if (profile_load_buffer((const char *)data, size, "profile 'fuzz'", &p, &err) == 0) {
                if (p == NULL || p->name == NULL)
                        abort();
                profile_free(p);
        } else if (err == NULL || err->msg == NULL || strchr(err->msg, '\n') != NULL ||
                   strstr(err->msg, "profile") == NULL) {
                abort();
        }
        agora_error_release(&err);
        return 0;
}
