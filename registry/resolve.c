/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Resolution: the exact bytes a dispatch of SUBAGENT with ENV would run, all
 * read from one commit, every capability blob re-hashed and checked to be a
 * canonical tarball before it is named.
 * What a worker receives is this document, so a registry tampered with
 * between registration and dispatch is caught here, not in the cage.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/cleanup.h"
#include "registry/objects.h"
#include "registry/registry-internal.h"
#include "registry/resolve.h"

static json_t *named_hash(const char *name, const agora_hash *h)
{
        char s[AGORA_HASH_STR_LEN + 1];

        agora_hash_format(h, s);
        return json_pack("{s:s, s:s}", "name", name, "contentHash", s);
}

/* Check capability NAME's tarball and add {"name","contentHash"} to OUT. */
static int resolve_capability(registry_view *v, const char *subagent, const char *name, json_t *out, agora_error_t *err)
{
        _cleanup_json_ json_t *def = NULL;
        _cleanup_free_ char *what = NULL;
        _cleanup_free_ void *data = NULL;
        agora_hash tarball;
        captar_result res;
        size_t len = 0;

        if (registry_view_get(v, REGISTRY_CAPABILITY, name, &def, NULL, err) < 0) {
                if (registry_error_kind(err) == AGORA_ERR_NOTFOUND)
                        return agora_error_set(err, AGORA_ERR_NOTFOUND,
                                               "subagent '%s': capability '%s': not registered", subagent, name);
                return agora_error_wrap(err, "subagent '%s'", subagent);
        }
        if (objects_capability_hash(def, &tarball, err) < 0)
                return agora_error_wrap(err, "subagent '%s'", subagent);
        if (asprintf(&what, "capability '%s'", name) < 0)
                return agora_error_set_errno(err, ENOMEM, "capability '%s'", name);
        /* A name in the output is a promise that these bytes are in the
         * registry, intact, and a tarball agora itself would have built: a
         * worker must never be the first to see a hostile one. */
        if (registry_view_blob(v, &tarball, what, &data, &len, err) < 0 ||
            registry_tarball_check(what, name, &tarball, data, len, &res, err) < 0 ||
            registry_tarball_matches(name, def, &res, err) < 0)
                return agora_error_wrap(err, "subagent '%s'", subagent);
        if (json_array_append_new(out, named_hash(name, &tarball)) < 0)
                return agora_error_set_errno(err, ENOMEM, "subagent '%s'", subagent);
        return 0;
}

int resolve_subagent(registry_view *v, const char *subagent, const char *env, json_t **ret, agora_error_t *err)
{
        _cleanup_json_ json_t *sub = NULL, *envdef = NULL, *caps = NULL, *out = NULL;
        agora_hash sub_hash, env_hash;
        json_t *c;
        size_t i;

        if (registry_view_get(v, REGISTRY_SUBAGENT, subagent, &sub, &sub_hash, err) < 0 ||
            registry_view_get(v, REGISTRY_ENV, env, &envdef, &env_hash, err) < 0)
                return -1;
        caps = json_array();
        if (caps == NULL)
                return agora_error_set_errno(err, ENOMEM, "subagent '%s'", subagent);
        /* The schema keeps the list sorted by name, so the output is too. */
        json_array_foreach(json_object_get(sub, "capabilities"), i, c)
        {
                if (resolve_capability(v, subagent, json_string_value(c), caps, err) < 0)
                        return -1;
        }
        out = json_pack("{s:o, s:O, s:o, s:O, s:O, s:s}", "subagent", named_hash(subagent, &sub_hash), "capabilities",
                        caps, "env", named_hash(env, &env_hash), "profile", json_object_get(sub, "profile"),
                        "entrypoint", json_object_get(sub, "entrypoint"), "registryCommit", registry_view_commit(v));
        if (out == NULL)
                return agora_error_set_errno(err, ENOMEM, "subagent '%s'", subagent);
        *ret = take_ptr(out);
        return 0;
}
