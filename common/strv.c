/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdlib.h>

#include "common/strv.h"

int strv_push(char ***v, size_t *n, char *s)
{
        char **grown = realloc(*v, (*n + 2) * sizeof(char *));

        if (grown == NULL) {
                errno = ENOMEM;
                return -1;
        }
        grown[(*n)++] = s;
        grown[*n] = NULL;
        *v = grown;
        return 0;
}
