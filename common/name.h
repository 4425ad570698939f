/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Names of registry objects become file names in the registry and mount
 * points in cages, so they are checked before anything else touches them.
 * A name is 1..128 bytes of [A-Za-z0-9._-], not starting with '.' or '-'
 * (no hidden files, no option look-alikes, no "..").
 */

#include <stdbool.h>

#include "common/error.h"

#define AGORA_NAME_MAX 128

/* KIND is "capability", "subagent", "env", "profile"…; error is AGORA_ERR_USAGE
 * and says what is wrong: "capability name 'a/b': '/' is not allowed". */
int agora_name_check(const char *kind, const char *name, agora_error_t *err);

/* Environment keys: [A-Za-z_][A-Za-z0-9_]*, at most 128 bytes. */
int agora_env_key_check(const char *key, agora_error_t *err);
