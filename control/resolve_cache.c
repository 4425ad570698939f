/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What `agora resolve` found for a subagent and env at one registry commit,
 * kept in the operator's state directory: STATE/resolved/COMMIT+SUBAGENT@ENV.json
 * ('+' and '@' never occur in a name). A commit names its whole tree, so
 * what it resolves to never changes; a dispatch at a head already resolved
 * needs neither libgit2 nor a re-hash of every tarball. It is the operator's
 * own record, as private as the key beside it; a worker still checks every
 * byte it is sent against the signed hashes.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cjson.h"
#include "common/cleanup.h"
#include "common/fsutil.h"
#include "control/dispatch.h"

#define CACHE_MAX (1u << 20)

static int entry_path(const char *state, const char *commit, const char *subagent, const char *env, char **ret,
                      agora_error_t *err)
{
        if (asprintf(ret, "%s/resolved/%s+%s@%s.json", state, commit, subagent, env) < 0) {
                *ret = NULL;
                return agora_error_set_errno(err, ENOMEM, "resolution cache");
        }
        return 0;
}

static bool names(const json_t *o, const char *key, const char *want)
{
        const char *s = json_string_value(json_object_get(json_object_get(o, key), "name"));
        return s != NULL && strcmp(s, want) == 0;
}

int resolve_cache_load(const char *state, const char *commit, const char *subagent, const char *env,
                       json_t **ret_resolved, json_t **ret_env)
{
        _cleanup_error_ agora_error_t err = NULL;
        _cleanup_free_ char *path = NULL, *buf = NULL;
        _cleanup_json_ json_t *doc = NULL;
        json_t *resolved, *def;
        const char *c;
        size_t n;

        if (entry_path(state, commit, subagent, env, &path, &err) < 0 ||
            fs_read_file(path, CACHE_MAX, &buf, &n, &err) < 0 || cjson_parse(buf, n, "resolution", &doc, &err) < 0)
                return 0;
        resolved = json_object_get(doc, "resolved");
        def = json_object_get(doc, "env");
        c = json_string_value(json_object_get(resolved, "registryCommit"));
        /* Anything but the entry its name promises is a miss, not an error. */
        if (!json_is_object(def) || c == NULL || strcmp(c, commit) != 0 || !names(resolved, "subagent", subagent) ||
            !names(resolved, "env", env))
                return 0;
        *ret_resolved = json_incref(resolved);
        *ret_env = json_incref(def);
        return 1;
}

/* Only the current head's entries are worth keeping. */
static void prune(const char *dir, const char *commit)
{
        DIR *d = opendir(dir);
        struct dirent *e;

        if (d == NULL)
                return;
        while ((e = readdir(d)) != NULL) {
                if (e->d_name[0] == '.' || strncmp(e->d_name, commit, 40) == 0)
                        continue;
                char p[4096];
                snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
                (void)unlink(p);
        }
        closedir(d);
}

int resolve_cache_store(const char *state, const json_t *resolved, const json_t *env_def, agora_error_t *err)
{
        _cleanup_free_ char *dir = NULL, *path = NULL, *buf = NULL;
        _cleanup_json_ json_t *doc = json_pack("{s:O, s:O}", "resolved", resolved, "env", env_def);
        const char *commit = json_string_value(json_object_get(resolved, "registryCommit"));
        const char *sub = json_string_value(json_object_get(json_object_get(resolved, "subagent"), "name"));
        const char *env = json_string_value(json_object_get(json_object_get(resolved, "env"), "name"));
        size_t n;

        if (doc == NULL || commit == NULL || sub == NULL || env == NULL)
                return agora_error_set(err, AGORA_ERR_FAILED, "resolution cache: incomplete resolution");
        if (state_subdir(state, "resolved", &dir, err) < 0 || entry_path(state, commit, sub, env, &path, err) < 0 ||
            cjson_dump(doc, &buf, &n, err) < 0)
                return -1;
        prune(dir, commit);
        if (fs_write_atomic(path, buf, n, 0600, true, err) < 0)
                return -1;
        return 0;
}
