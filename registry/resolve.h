/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Resolution: from a subagent and an env name to the exact bytes a dispatch
 * would run, read from one registry commit:
 *
 *   {"subagent":{"name","contentHash"},
 *    "capabilities":[{"name","contentHash"}…],   tarball hashes, by name
 *    "env":{"name","contentHash"},
 *    "profile":NAME, "entrypoint":PATH,
 *    "registryCommit":HEX}
 *
 * Every capability blob is re-hashed, and checked to be a canonical tarball
 * that its definition's "size" and "entries" describe, before it is named
 * here.
 */

#include <jansson.h>

#include "common/error.h"
#include "registry/registry.h"

int resolve_subagent(registry_view *v, const char *subagent, const char *env, json_t **ret, agora_error_t *err);
