/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Schemas of the definitions stored in the registry (docs/registry.md). Each
 * definition is a JSON object with a closed set of keys:
 *
 *   capability: {"kind":"capability","name":N,"contentHash":"sha256:…",
 *                "size":BYTES,"entries":COUNT}
 *   subagent:   {"kind":"subagent","name":N,"entrypoint":PATH,
 *                "capabilities":[NAME…] (sorted, unique),"profile":NAME}
 *   env:        {"kind":"env","name":N,"values":{KEY:VALUE…},
 *                "secrets":{KEY:REF…}}   REF is "env:NAME" or "file:/abs/path"
 */

#include <jansson.h>

#include "common/error.h"
#include "common/hash.h"
#include "registry/registry.h"

#define OBJECTS_DEFAULT_PROFILE "default"

/* Check DEF against the schema of K, and that its "name" equals NAME. */
int objects_check(registry_kind k, const char *name, const json_t *def, agora_error_t *err);

json_t *objects_capability_new(const char *name, const agora_hash *tarball, uint64_t size, uint64_t entries);
json_t *objects_subagent_new(const char *name, const char *entrypoint, const char *profile);
json_t *objects_env_new(const char *name);

/* Capability names of a subagent definition, kept sorted and unique. */
int objects_subagent_add_capability(json_t *subagent, const char *cap, agora_error_t *err);
/* Fails with AGORA_ERR_NOTFOUND if CAP was not assigned. */
int objects_subagent_remove_capability(json_t *subagent, const char *cap, agora_error_t *err);

/* Env entries; a key lives either in values or in secrets, never both.
 * Values that look like credentials are refused (AGORA_ERR_USAGE) with a hint
 * to use a secret reference. */
int objects_env_set_value(json_t *env, const char *key, const char *value, agora_error_t *err);
int objects_env_set_secret(json_t *env, const char *key, const char *ref, agora_error_t *err);

/* The tarball hash a capability definition points at. */
int objects_capability_hash(const json_t *cap, agora_hash *ret, agora_error_t *err);
