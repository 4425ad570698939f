/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Schemas of registry definitions (registry/objects.h). Each is a closed set
 * of keys: a misspelt key is an error, never silently ignored, because what
 * the registry holds is what a dispatch runs.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/hash.h"
#include "common/name.h"
#include "common/schema.h"
#include "common/secretscan.h"
#include "registry/objects.h"

#define PATH_LIMIT 4096

static int check_kind(const json_t *def, registry_kind k, const char *what, agora_error_t *err)
{
        const char *kind;

        if (schema_get_string(def, "kind", false, what, &kind, err) < 0)
                return -1;
        if (strcmp(kind, registry_kind_name(k)) != 0)
                return agora_error_set(err, AGORA_ERR_USAGE, "%s: 'kind' must be '%s', not '%s'", what,
                                       registry_kind_name(k), kind);
        return 0;
}

static int check_count(const json_t *def, const char *key, const char *what, agora_error_t *err)
{
        json_t *v = json_object_get(def, key);

        /* An integer, not a "64M" string: definitions are written by agora,
         * not typed by people. */
        if (v == NULL)
                return agora_error_set(err, AGORA_ERR_USAGE, "%s: missing required key '%s'", what, key);
        if (!json_is_integer(v) || json_integer_value(v) < 0)
                return agora_error_set(err, AGORA_ERR_USAGE, "%s: '%s' must be an integer of at least 0", what, key);
        return 0;
}

static int check_capability(const json_t *def, const char *what, agora_error_t *err)
{
        static const char *const keys[] = {"kind", "name", "contentHash", "size", "entries", NULL};
        const char *hash;
        agora_hash h;

        if (schema_check_keys(def, keys, what, err) < 0 ||
            schema_get_string(def, "contentHash", false, what, &hash, err) < 0)
                return -1;
        if (agora_hash_parse(hash, &h, err) < 0)
                return agora_error_wrap(err, "%s: 'contentHash'", what);
        if (check_count(def, "size", what, err) < 0 || check_count(def, "entries", what, err) < 0)
                return -1;
        return 0;
}

/* Entry points are paths inside the cage passed to execve: absolute, since
 * the cage has no search path and no working directory to be relative to,
 * and no control characters that could break a log line or a command line. */
static int check_entrypoint(const char *s, const char *what, agora_error_t *err)
{
        size_t len = strlen(s);

        if (len == 0)
                return agora_error_set(err, AGORA_ERR_USAGE, "%s: 'entrypoint' must not be empty", what);
        if (s[0] != '/')
                return agora_error_set(err, AGORA_ERR_USAGE,
                                       "%s: 'entrypoint' must be an absolute path inside the cage (like /cap/NAME/run)",
                                       what);
        if (len > PATH_LIMIT)
                return agora_error_set(err, AGORA_ERR_USAGE, "%s: 'entrypoint' is longer than %d bytes", what,
                                       PATH_LIMIT);
        for (const unsigned char *p = (const unsigned char *)s; *p; p++)
                if (*p < 0x20 || *p == 0x7f)
                        return agora_error_set(err, AGORA_ERR_USAGE,
                                               "%s: 'entrypoint' must not contain control characters", what);
        return 0;
}

static int check_subagent(const json_t *def, const char *what, agora_error_t *err)
{
        static const char *const keys[] = {"kind", "name", "entrypoint", "capabilities", "profile", NULL};
        const char *entrypoint, *profile, *prev = NULL;
        json_t *caps, *c;
        size_t i;

        if (schema_check_keys(def, keys, what, err) < 0 ||
            schema_get_string(def, "entrypoint", false, what, &entrypoint, err) < 0 ||
            check_entrypoint(entrypoint, what, err) < 0 ||
            schema_get_string(def, "profile", false, what, &profile, err) < 0 ||
            schema_get_array(def, "capabilities", false, what, &caps, err) < 0)
                return -1;
        if (agora_name_check("profile", profile, err) < 0)
                return agora_error_wrap(err, "%s", what);
        json_array_foreach(caps, i, c)
        {
                const char *name = json_string_value(c);
                if (name == NULL)
                        return agora_error_set(err, AGORA_ERR_USAGE, "%s: 'capabilities' must hold only names", what);
                if (agora_name_check("capability", name, err) < 0)
                        return agora_error_wrap(err, "%s", what);
                /* Sorted and unique, so one set of capabilities has one
                 * canonical form and one hash. */
                if (prev != NULL && strcmp(prev, name) >= 0)
                        return agora_error_set(err, AGORA_ERR_USAGE,
                                               "%s: 'capabilities' must be sorted and unique ('%s' after '%s')", what,
                                               name, prev);
                prev = name;
        }
        return 0;
}

static int check_ref(const char *what, const char *key, const char *ref, agora_error_t *err)
{
        _cleanup_error_ agora_error_t ignored = NULL;

        if (strncmp(ref, "env:", 4) == 0 && agora_env_key_check(ref + 4, &ignored) == 0)
                return 0;
        if (strncmp(ref, "file:/", 6) == 0 && strlen(ref + 5) <= PATH_LIMIT && strpbrk(ref, "\n\r") == NULL)
                return 0;
        return agora_error_set(err, AGORA_ERR_USAGE,
                               "%s: secret '%s': reference '%s' must be env:NAME or file:/absolute/path", what, key,
                               ref);
}

/* A plain value is committed to the registry's history forever: a token
 * there could never be taken back. Refused when set, and refused when read,
 * since stock git can commit what `agora register` would not. */
static int check_value_not_credential(const char *what, const char *key, const char *value, agora_error_t *err)
{
        const char *reason = secretscan_reason(key, value);

        if (reason != NULL)
                return agora_error_set(err, AGORA_ERR_USAGE,
                                       "%s: value of '%s' looks like a credential (%s); pass it as a reference: "
                                       "--secret %s=env:VAR or --secret %s=file:/path",
                                       what, key, reason, key, key);
        return 0;
}

static int check_env(const json_t *def, const char *what, agora_error_t *err)
{
        static const char *const keys[] = {"kind", "name", "values", "secrets", NULL};
        json_t *values, *secrets, *v;
        const char *key;

        if (schema_check_keys(def, keys, what, err) < 0 ||
            schema_get_object(def, "values", false, what, &values, err) < 0 ||
            schema_get_object(def, "secrets", false, what, &secrets, err) < 0)
                return -1;
        json_object_foreach(values, key, v)
        {
                if (agora_env_key_check(key, err) < 0)
                        return agora_error_wrap(err, "%s", what);
                /* Values become environment strings: a NUL would cut them. */
                if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
                        return agora_error_set(err, AGORA_ERR_USAGE, "%s: value of '%s' must be a string without NUL",
                                               what, key);
                if (check_value_not_credential(what, key, json_string_value(v), err) < 0)
                        return -1;
        }
        json_object_foreach(secrets, key, v)
        {
                if (agora_env_key_check(key, err) < 0)
                        return agora_error_wrap(err, "%s", what);
                if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
                        return agora_error_set(err, AGORA_ERR_USAGE, "%s: secret '%s' must be a string reference", what,
                                               key);
                if (check_ref(what, key, json_string_value(v), err) < 0)
                        return -1;
                if (json_object_get(values, key) != NULL)
                        return agora_error_set(err, AGORA_ERR_USAGE, "%s: '%s' is both a value and a secret", what,
                                               key);
        }
        return 0;
}

int objects_check(registry_kind k, const char *name, const json_t *def, agora_error_t *err)
{
        _cleanup_free_ char *what = NULL;
        const char *def_name;

        if (agora_name_check(registry_kind_name(k), name, err) < 0)
                return -1;
        if (asprintf(&what, "%s '%s'", registry_kind_name(k), name) < 0)
                return agora_error_set_errno(err, ENOMEM, "%s", name);
        if (!json_is_object(def))
                return agora_error_set(err, AGORA_ERR_USAGE, "%s: definition must be a JSON object", what);
        if (check_kind(def, k, what, err) < 0 || schema_get_string(def, "name", false, what, &def_name, err) < 0)
                return -1;
        /* A definition filed under another name would let one object pose as
         * another in every listing and resolution. */
        if (strcmp(def_name, name) != 0)
                return agora_error_set(err, AGORA_ERR_USAGE, "%s: definition names '%s'", what, def_name);
        switch (k) {
        case REGISTRY_CAPABILITY:
                return check_capability(def, what, err);
        case REGISTRY_SUBAGENT:
                return check_subagent(def, what, err);
        case REGISTRY_ENV:
                return check_env(def, what, err);
        case REGISTRY_KIND_COUNT:
                break;
        }
        return agora_error_set(err, AGORA_ERR_USAGE, "%s: unknown kind", what);
}

json_t *objects_capability_new(const char *name, const agora_hash *tarball, uint64_t size, uint64_t entries)
{
        char hash[AGORA_HASH_STR_LEN + 1];

        agora_hash_format(tarball, hash);
        return json_pack("{s:s, s:s, s:s, s:I, s:I}", "kind", "capability", "name", name, "contentHash", hash, "size",
                         (json_int_t)size, "entries", (json_int_t)entries);
}

json_t *objects_subagent_new(const char *name, const char *entrypoint, const char *profile)
{
        return json_pack("{s:s, s:s, s:s, s:[], s:s}", "kind", "subagent", "name", name, "entrypoint", entrypoint,
                         "capabilities", "profile", profile ? profile : OBJECTS_DEFAULT_PROFILE);
}

json_t *objects_env_new(const char *name)
{
        return json_pack("{s:s, s:s, s:{}, s:{}}", "kind", "env", "name", name, "values", "secrets");
}

static const char *def_name(const json_t *def)
{
        const char *n = json_string_value(json_object_get(def, "name"));
        return n ? n : "?";
}

int objects_subagent_add_capability(json_t *subagent, const char *cap, agora_error_t *err)
{
        json_t *caps = json_object_get(subagent, "capabilities");
        size_t i, at;

        if (agora_name_check("capability", cap, err) < 0)
                return agora_error_wrap(err, "subagent '%s'", def_name(subagent));
        if (!json_is_array(caps))
                return agora_error_set(err, AGORA_ERR_USAGE, "subagent '%s': 'capabilities' must be a list",
                                       def_name(subagent));
        /* Insert in order; adding one already there changes nothing. */
        for (i = 0, at = json_array_size(caps); i < json_array_size(caps); i++) {
                const char *have = json_string_value(json_array_get(caps, i));
                int c = strcmp(have ? have : "", cap);
                if (c == 0)
                        return 0;
                if (c > 0) {
                        at = i;
                        break;
                }
        }
        if (json_array_insert_new(caps, at, json_string(cap)) < 0)
                return agora_error_set_errno(err, ENOMEM, "subagent '%s'", def_name(subagent));
        return 0;
}

int objects_subagent_remove_capability(json_t *subagent, const char *cap, agora_error_t *err)
{
        json_t *caps = json_object_get(subagent, "capabilities");
        json_t *c;
        size_t i;

        json_array_foreach(caps, i, c)
        {
                if (json_is_string(c) && strcmp(json_string_value(c), cap) == 0) {
                        json_array_remove(caps, i);
                        return 0;
                }
        }
        return agora_error_set(err, AGORA_ERR_NOTFOUND, "subagent '%s': capability '%s': not assigned",
                               def_name(subagent), cap);
}

static int env_slots(json_t *env, json_t **values, json_t **secrets, agora_error_t *err)
{
        *values = json_object_get(env, "values");
        *secrets = json_object_get(env, "secrets");
        if (!json_is_object(*values) || !json_is_object(*secrets))
                return agora_error_set(err, AGORA_ERR_USAGE, "env '%s': 'values' and 'secrets' must be mappings",
                                       def_name(env));
        return 0;
}

/* What setting a value and setting a secret share: the env's two maps, a
 * checked KEY, and the "env 'NAME'" that names it in errors (malloc'd). */
static int env_entry_prepare(json_t *env, const char *key, json_t **ret_values, json_t **ret_secrets, char **ret_what,
                             agora_error_t *err)
{
        if (env_slots(env, ret_values, ret_secrets, err) < 0)
                return -1;
        if (agora_env_key_check(key, err) < 0)
                return agora_error_wrap(err, "env '%s'", def_name(env));
        if (asprintf(ret_what, "env '%s'", def_name(env)) < 0) {
                *ret_what = NULL; /* undefined after a failed asprintf; the caller frees it */
                return agora_error_set_errno(err, ENOMEM, "env");
        }
        return 0;
}

int objects_env_set_value(json_t *env, const char *key, const char *value, agora_error_t *err)
{
        _cleanup_free_ char *what = NULL;
        json_t *values, *secrets;

        if (env_entry_prepare(env, key, &values, &secrets, &what, err) < 0)
                return -1;
        if (check_value_not_credential(what, key, value, err) < 0)
                return -1;
        if (json_object_set_new(values, key, json_string(value)) < 0)
                return agora_error_set(err, AGORA_ERR_USAGE, "env '%s': value of '%s' is not valid UTF-8",
                                       def_name(env), key);
        json_object_del(secrets, key);
        return 0;
}

int objects_env_set_secret(json_t *env, const char *key, const char *ref, agora_error_t *err)
{
        _cleanup_free_ char *what = NULL;
        json_t *values, *secrets;

        if (env_entry_prepare(env, key, &values, &secrets, &what, err) < 0)
                return -1;
        if (check_ref(what, key, ref, err) < 0)
                return -1;
        if (json_object_set_new(secrets, key, json_string(ref)) < 0)
                return agora_error_set(err, AGORA_ERR_USAGE, "%s: secret '%s': reference is not valid UTF-8", what,
                                       key);
        json_object_del(values, key);
        return 0;
}

int objects_capability_hash(const json_t *cap, agora_hash *ret, agora_error_t *err)
{
        const char *s = json_string_value(json_object_get(cap, "contentHash"));

        if (s == NULL)
                return agora_error_set(err, AGORA_ERR_USAGE, "capability '%s': missing 'contentHash'", def_name(cap));
        if (agora_hash_parse(s, ret, err) < 0)
                return agora_error_wrap(err, "capability '%s'", def_name(cap));
        return 0;
}
