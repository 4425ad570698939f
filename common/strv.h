/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* NULL-terminated string vectors, as argv and envp are (systemd's strv). */

#include <stddef.h>

/* Append S (not copied) to *V, which holds *N strings, keeping it NULL-
 * terminated; -1 with errno ENOMEM, leaving *V as it was. */
int strv_push(char ***v, size_t *n, char *s);
