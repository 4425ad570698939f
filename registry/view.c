/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Read-only snapshots of the registry at one commit. Everything returned is
 * checked first: definitions must be canonical and match their schema,
 * blobs must hash to their name. A registry edited behind agora's back (or a
 * corrupted disk) shows up as an integrity error, never as wrong bytes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cjson.h"
#include "common/cleanup.h"
#include "common/name.h"
#include "registry/objects.h"
#include "registry/registry-internal.h"

void registry_view_setup(registry_view *v, registry *r, git_tree *tree, const git_oid *commit)
{
        v->r = r;
        v->tree = tree;
        if (commit != NULL)
                git_oid_tostr(v->commit, sizeof(v->commit), commit);
        else
                v->commit[0] = '\0';
}

int registry_view_open(registry *r, const char *rev, registry_view **ret, agora_error_t *err)
{
        _cleanup_git_(git_object) git_object *obj = NULL;
        _cleanup_git_(git_commit) git_commit *commit = NULL;
        git_tree *tree = NULL;
        registry_view *v;

        if (git_revparse_single(&obj, r->repo, rev ? rev : "HEAD") < 0)
                return agora_error_set(err, AGORA_ERR_NOTFOUND, "registry '%s': revision '%s': not found", r->path,
                                       rev ? rev : "HEAD");
        if (git_object_peel((git_object **)&commit, obj, GIT_OBJECT_COMMIT) < 0)
                return agora_error_set(err, AGORA_ERR_NOTFOUND, "registry '%s': revision '%s': not a commit", r->path,
                                       rev ? rev : "HEAD");
        if (git_commit_tree(&tree, commit) < 0)
                return registry_git_error(err, -1, "registry '%s': commit %s", r->path,
                                          git_oid_tostr_s(git_commit_id(commit)));
        v = calloc(1, sizeof(*v));
        if (v == NULL) {
                git_tree_free(tree);
                return agora_error_set_errno(err, ENOMEM, "registry '%s': view", r->path);
        }
        registry_view_setup(v, r, tree, git_commit_id(commit));
        *ret = v;
        return 0;
}

void registry_view_free(registry_view *v)
{
        if (v == NULL || v->borrowed)
                return;
        git_tree_free(v->tree);
        free(v);
}

const char *registry_view_commit(const registry_view *v)
{
        return v->commit;
}

int registry_blob_read(git_repository *repo, const git_oid *oid, size_t max, char **ret_buf, size_t *ret_len,
                       agora_error_t *err)
{
        _cleanup_git_(git_odb) git_odb *odb = NULL;
        _cleanup_git_(git_odb_object) git_odb_object *obj = NULL;
        size_t len;
        char *buf;

        if (git_repository_odb(&odb, repo) < 0 || git_odb_read(&obj, odb, oid) < 0)
                return registry_git_error(err, -1, "git object %s", git_oid_tostr_s(oid));
        if (git_odb_object_type(obj) != GIT_OBJECT_BLOB)
                return agora_error_set(err, AGORA_ERR_INTEGRITY, "git object %s: not a blob", git_oid_tostr_s(oid));
        len = git_odb_object_size(obj);
        if (len > max)
                return agora_error_set(err, AGORA_ERR_FAILED, "git object %s: %zu bytes, more than the %zu allowed",
                                       git_oid_tostr_s(oid), len, max);
        /* With libgit2's strict check off (registry_global_init), small
         * objects — definitions, which have no sha256 name of their own — are
         * re-hashed here, so a corrupted object file is never trusted. Large
         * ones are tarballs, which every reader checks against their sha256. */
        if (len <= REGISTRY_REHASH_MAX) {
                git_oid got;
                if (git_odb_hash(&got, git_odb_object_data(obj), len, GIT_OBJECT_BLOB) < 0)
                        return registry_git_error(err, -1, "git object %s", git_oid_tostr_s(oid));
                if (!git_oid_equal(&got, oid)) {
                        char want_hex[GIT_OID_HEXSZ + 1];
                        git_oid_tostr(want_hex, sizeof(want_hex), oid);
                        return agora_error_set(err, AGORA_ERR_INTEGRITY,
                                               "git object %s: content hashes to %s (corrupt object store)", want_hex,
                                               git_oid_tostr_s(&got));
                }
        }
        buf = malloc(len + 1);
        if (buf == NULL)
                return agora_error_set_errno(err, ENOMEM, "git object %s", git_oid_tostr_s(oid));
        memcpy(buf, git_odb_object_data(obj), len);
        buf[len] = '\0';
        *ret_buf = buf;
        *ret_len = len;
        return 0;
}

int registry_entry_mode_check(const git_tree_entry *entry, const char *path, agora_error_t *err)
{
        git_filemode_t mode = git_tree_entry_filemode(entry);

        if (mode != GIT_FILEMODE_BLOB)
                return agora_error_set(err, AGORA_ERR_INTEGRITY, "'%s': mode %06o, want a regular file (100644)", path,
                                       (unsigned)mode);
        return 0;
}

int registry_tree_read(git_repository *repo, git_tree *tree, const char *path, size_t max, char **ret_buf,
                       size_t *ret_len, git_oid *ret_oid, agora_error_t *err)
{
        _cleanup_git_(git_tree_entry) git_tree_entry *entry = NULL;

        if (git_tree_entry_bypath(&entry, tree, path) < 0 || git_tree_entry_type(entry) != GIT_OBJECT_BLOB)
                return agora_error_set(err, AGORA_ERR_NOTFOUND, "'%s': not found", path);
        if (registry_entry_mode_check(entry, path, err) < 0)
                return -1;
        if (ret_oid != NULL)
                git_oid_cpy(ret_oid, git_tree_entry_id(entry));
        if (registry_blob_read(repo, git_tree_entry_id(entry), max, ret_buf, ret_len, err) < 0)
                return agora_error_wrap(err, "'%s'", path);
        return 0;
}

int registry_def_parse(registry_kind k, const char *name, const char *buf, size_t len, json_t **ret, agora_error_t *err)
{
        _cleanup_free_ char *what = NULL;
        _cleanup_json_ json_t *def = NULL;

        if (asprintf(&what, "%s '%s'", registry_kind_name(k), name) < 0)
                return agora_error_set_errno(err, ENOMEM, "%s", name);
        if (cjson_parse(buf, len, what, &def, err) < 0)
                return registry_error_rekind(err, AGORA_ERR_INTEGRITY);
        /* Only the canonical form has the hash that was signed and resolved;
         * any other spelling of the same JSON was not written by agora. */
        if (!cjson_is_canonical(buf, len))
                return agora_error_set(err, AGORA_ERR_INTEGRITY, "%s: definition is not canonical JSON", what);
        if (objects_check(k, name, def, err) < 0)
                return registry_error_rekind(err, AGORA_ERR_INTEGRITY);
        *ret = take_ptr(def);
        return 0;
}

int registry_view_get(registry_view *v, registry_kind k, const char *name, json_t **ret_def, agora_hash *ret_hash,
                      agora_error_t *err)
{
        _cleanup_free_ char *path = NULL, *buf = NULL;
        _cleanup_json_ json_t *def = NULL;
        size_t len = 0;

        /* The name becomes a tree path: check it before it can say "../". */
        if (agora_name_check(registry_kind_name(k), name, err) < 0)
                return -1;
        if (asprintf(&path, "%s/%s.json", registry_kind_dir(k), name) < 0)
                return agora_error_set_errno(err, ENOMEM, "%s '%s'", registry_kind_name(k), name);
        if (registry_tree_read(v->r->repo, v->tree, path, REGISTRY_DEF_MAX, &buf, &len, NULL, err) < 0) {
                if (registry_error_kind(err) == AGORA_ERR_NOTFOUND)
                        return agora_error_set(err, AGORA_ERR_NOTFOUND, "%s '%s': not registered",
                                               registry_kind_name(k), name);
                return agora_error_wrap(err, "%s '%s'", registry_kind_name(k), name);
        }
        if (registry_def_parse(k, name, buf, len, &def, err) < 0)
                return -1;
        if (ret_hash != NULL)
                agora_hash_buffer(buf, len, ret_hash);
        if (ret_def != NULL)
                *ret_def = take_ptr(def);
        return 0;
}

static int compare_names(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

int registry_view_list(registry_view *v, registry_kind k, char ***ret_names, agora_error_t *err)
{
        _cleanup_git_(git_tree_entry) git_tree_entry *dir = NULL;
        _cleanup_git_(git_tree) git_tree *sub = NULL;
        _cleanup_strv_ char **names = NULL;
        size_t n = 0, count = 0;

        if (git_tree_entry_bypath(&dir, v->tree, registry_kind_dir(k)) == 0) {
                if (git_tree_entry_type(dir) != GIT_OBJECT_TREE)
                        return agora_error_set(err, AGORA_ERR_INTEGRITY, "registry '%s': '%s' is not a folder",
                                               v->r->path, registry_kind_dir(k));
                if (git_tree_lookup(&sub, v->r->repo, git_tree_entry_id(dir)) < 0)
                        return registry_git_error(err, -1, "registry '%s': '%s'", v->r->path, registry_kind_dir(k));
                count = git_tree_entrycount(sub);
        }
        names = calloc(count + 1, sizeof(*names));
        if (names == NULL)
                return agora_error_set_errno(err, ENOMEM, "registry '%s': listing", v->r->path);
        for (size_t i = 0; i < count; i++) {
                const git_tree_entry *e = git_tree_entry_byindex(sub, i);
                const char *fn = git_tree_entry_name(e);
                size_t len = strlen(fn);
                /* Only NAME.json blobs are definitions; verify reports the rest. */
                if (git_tree_entry_type(e) != GIT_OBJECT_BLOB || len <= 5 || strcmp(fn + len - 5, ".json") != 0)
                        continue;
                names[n] = strndup(fn, len - 5);
                if (names[n] == NULL)
                        return agora_error_set_errno(err, ENOMEM, "registry '%s': listing", v->r->path);
                n++;
        }
        /* Tree order sorts "a-b.json" before "a.json"; callers want "a" first. */
        qsort(names, n, sizeof(*names), compare_names);
        *ret_names = take_ptr(names);
        return 0;
}

int registry_view_blob(registry_view *v, const agora_hash *h, const char *what, void **ret_data, size_t *ret_len,
                       agora_error_t *err)
{
        char hex[AGORA_HASH_HEX_LEN + 1], want[AGORA_HASH_STR_LEN + 1], got_s[AGORA_HASH_STR_LEN + 1];
        _cleanup_free_ char *path = NULL, *buf = NULL;
        size_t len = 0;
        agora_hash got;

        agora_hash_hex(h, hex);
        agora_hash_format(h, want);
        if (asprintf(&path, REGISTRY_BLOB_DIR "/%s", hex) < 0)
                return agora_error_set_errno(err, ENOMEM, "%s: blob %s", what, want);
        if (registry_tree_read(v->r->repo, v->tree, path, SIZE_MAX - 1, &buf, &len, NULL, err) < 0) {
                if (registry_error_kind(err) == AGORA_ERR_NOTFOUND)
                        return agora_error_set(err, AGORA_ERR_NOTFOUND, "%s: blob %s: not in the registry", what, want);
                return agora_error_wrap(err, "%s: blob %s", what, want);
        }
        agora_hash_buffer(buf, len, &got);
        if (!agora_hash_equal(&got, h)) {
                agora_hash_format(&got, got_s);
                return agora_error_set(err, AGORA_ERR_INTEGRITY, "%s: blob %s: content hashes to %s", what, want,
                                       got_s);
        }
        if (ret_len != NULL)
                *ret_len = len;
        if (ret_data != NULL)
                *ret_data = take_ptr(buf);
        return 0;
}
