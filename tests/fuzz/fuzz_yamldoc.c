/* SPDX-License-Identifier: Apache-2.0 */
/* Any bytes as YAML: a tree or a one-line error, never a crash or a leak. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/yamldoc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        agora_error_t err = NULL;
        json_t *doc = NULL;

        if (yamldoc_load_buffer((const char *)data, size, "fuzz.yaml", &doc, &err) == 0) {
                if (doc == NULL)
                        abort();
                json_decref(doc);
        } else if (err == NULL || err->msg == NULL || strchr(err->msg, '\n') != NULL) {
                abort();
        }
        agora_error_release(&err);
        return 0;
}
