/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Any bytes as JSON: what parses must dump to canonical bytes that parse
 * back to an equal value and dump identically (canonical form is a fixed
 * point), or be refused with a one-line error.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/cjson.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        agora_error_t err = NULL;
        json_t *v = NULL, *again = NULL;
        char *buf = NULL, *buf2 = NULL;
        size_t len = 0, len2 = 0;

        if (cjson_parse((const char *)data, size, "fuzz", &v, &err) < 0) {
                if (err == NULL || strchr(agora_error_message(err), '\n') != NULL)
                        abort();
                agora_error_release(&err);
                return 0;
        }
        if (cjson_dump(v, &buf, &len, &err) == 0) {
                if (!cjson_is_canonical(buf, len))
                        abort();
                if (cjson_parse(buf, len, "again", &again, &err) < 0 || !json_equal(v, again))
                        abort();
                if (cjson_dump(again, &buf2, &len2, &err) < 0 || len2 != len || memcmp(buf, buf2, len) != 0)
                        abort();
        }
        agora_error_release(&err);
        json_decref(v);
        json_decref(again);
        free(buf);
        free(buf2);
        return 0;
}
