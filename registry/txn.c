/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Mutations. A transaction holds the registry lock, stages changes as new
 * git trees (objects nothing points at until the commit), and ends in
 * exactly one commit whose branch update is a compare-and-swap against the
 * head read at begin: even a stock `git` writer that ignores our lock cannot
 * have its commit overwritten silently.
 *
 * Objects are written before the branch moves, so a full disk or a crash
 * leaves the old head and some unreachable objects, never a half commit.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/cjson.h"
#include "common/cleanup.h"
#include "common/name.h"
#include "registry/objects.h"
#include "registry/registry-internal.h"

/* A temporary object file untouched for this long belongs to a writer that
 * was killed: a live one keeps its mtime fresh with every write. */
#define STALE_TEMP_SECONDS (10 * 60)

static bool is_object_temp(const char *name)
{
        /* libgit2's loose-object temp files, and git's (and blobstore.c's
         * fallback) tmp_obj_ files. */
        return strncmp(name, "tmp_object_git2_", 16) == 0 || strncmp(name, "tmp_obj_", 8) == 0;
}

static bool is_fanout_dir(const char *name)
{
        return strlen(name) == 2 && strspn(name, "0123456789abcdef") == 2;
}

/* Remove stale temp files from the directory DIRFD (closed here); recurse
 * into the objects/xx fan-out directories when FANOUT. */
static void sweep_temp_dir(int dirfd, bool fanout, time_t cutoff)
{
        DIR *d = fdopendir(dirfd);
        struct dirent *de;

        if (d == NULL) {
                close(dirfd);
                return;
        }
        while ((de = readdir(d)) != NULL) {
                struct stat st;
                if (fanout && is_fanout_dir(de->d_name)) {
                        int sub = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (sub >= 0)
                                sweep_temp_dir(sub, false, cutoff);
                        continue;
                }
                if (!is_object_temp(de->d_name) || fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        continue;
                if (S_ISREG(st.st_mode) && st.st_mtime < cutoff)
                        unlinkat(dirfd, de->d_name, 0);
        }
        closedir(d);
}

/* A command killed while writing an object (libgit2 writes objects/
 * tmp_object_git2_*, git and blobstore.c objects/xx/tmp_obj_*) leaves its
 * temp file behind forever: nothing in agora or libgit2 would remove it, and
 * a registry on a small disk fills up with them. We hold the flock, so no
 * agora transaction is writing; blobs are stored without the lock, and a
 * stock git may be running, but any live writer keeps its file's mtime
 * fresh, so an old one is garbage. Best effort: a file we cannot remove
 * costs disk, not correctness, and must not fail the mutation. */
static void sweep_stale_temp_files(registry *r)
{
        _cleanup_free_ char *objects = NULL;
        int fd;

        if (asprintf(&objects, "%sobjects", git_repository_path(r->repo)) < 0) {
                objects = NULL;
                return;
        }
        fd = open(objects, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0)
                sweep_temp_dir(fd, true, time(NULL) - STALE_TEMP_SECONDS);
}

int registry_begin(registry *r, registry_txn **ret, agora_error_t *err)
{
        _cleanup_git_(git_reference) git_reference *head = NULL;
        _cleanup_git_(git_commit) git_commit *commit = NULL;
        _cleanup_close_ int lock = -1;
        registry_txn *t;

        if (registry_lock_acquire(r, &lock, err) < 0)
                return -1;
        /* With HEAD detached, git_repository_head is HEAD itself: the commit
         * would land on no branch and be lost to the next checkout or gc. */
        if (git_repository_head_detached(r->repo) == 1)
                return agora_error_set(err, AGORA_ERR_FAILED,
                                       "registry '%s': HEAD is detached; agora commits only to a branch "
                                       "(git symbolic-ref HEAD refs/heads/main)",
                                       r->path);
        sweep_stale_temp_files(r);
        /* Read the head only under the lock: it is the base of our commit. */
        if (git_repository_head(&head, r->repo) < 0 || git_reference_target(head) == NULL ||
            git_commit_lookup(&commit, r->repo, git_reference_target(head)) < 0)
                return registry_git_error(err, -1, "registry '%s': cannot read head", r->path);
        t = calloc(1, sizeof(*t));
        if (t == NULL || (t->refname = strdup(git_reference_name(head))) == NULL) {
                free(t); /* the lock fd closes on return */
                return agora_error_set_errno(err, ENOMEM, "registry '%s'", r->path);
        }
        t->r = r;
        t->lock_fd = take_fd(lock);
        git_oid_cpy(&t->head, git_commit_id(commit));
        if (git_commit_tree(&t->base, commit) < 0 || git_tree_dup(&t->view.tree, t->base) < 0) {
                registry_txn_free(t);
                return registry_git_error(err, -1, "registry '%s': cannot read head tree", r->path);
        }
        registry_view_setup(&t->view, r, t->view.tree, &t->head);
        t->view.borrowed = true;
        *ret = t;
        return 0;
}

registry_view *registry_txn_view(registry_txn *t)
{
        return &t->view;
}

void registry_txn_free(registry_txn *t)
{
        if (t == NULL)
                return;
        registry_lock_release(t->lock_fd);
        git_tree_free(t->view.tree);
        git_tree_free(t->base);
        free(t->refname);
        free(t);
}

/* Replace the staged tree by one with UPDATES applied. */
static int stage(registry_txn *t, const git_tree_update *updates, size_t n, agora_error_t *err)
{
        git_oid oid;
        git_tree *tree = NULL;

        if (git_tree_create_updated(&oid, t->r->repo, t->view.tree, n, updates) < 0 ||
            git_tree_lookup(&tree, t->r->repo, &oid) < 0)
                return registry_git_error(err, -1, "registry '%s': cannot write tree", t->r->path);
        git_tree_free(t->view.tree);
        t->view.tree = tree;
        return 0;
}

static int usable(registry_txn *t, agora_error_t *err)
{
        if (t->done)
                return agora_error_set(err, AGORA_ERR_FAILED, "registry '%s': transaction already committed",
                                       t->r->path);
        return 0;
}

static bool staged_has(registry_txn *t, const char *path, git_oid *ret_oid)
{
        _cleanup_git_(git_tree_entry) git_tree_entry *e = NULL;

        if (git_tree_entry_bypath(&e, t->view.tree, path) < 0 || git_tree_entry_type(e) != GIT_OBJECT_BLOB)
                return false;
        if (ret_oid != NULL)
                git_oid_cpy(ret_oid, git_tree_entry_id(e));
        return true;
}

/* The git id of the stored blob a capability points at: stored through this
 * handle, or already in the tree for another capability. */
static int capability_blob(registry_txn *t, const char *name, const json_t *def, char **ret_path, git_oid *ret_oid,
                           agora_error_t *err)
{
        char hex[AGORA_HASH_HEX_LEN + 1], full[AGORA_HASH_STR_LEN + 1];
        _cleanup_free_ char *path = NULL;
        const git_oid *known;
        agora_hash h;

        if (objects_capability_hash(def, &h, err) < 0)
                return -1;
        agora_hash_hex(&h, hex);
        agora_hash_format(&h, full);
        if (asprintf(&path, REGISTRY_BLOB_DIR "/%s", hex) < 0)
                return agora_error_set_errno(err, ENOMEM, "capability '%s'", name);
        known = registry_blobmap_find(t->r, &h);
        if (known != NULL)
                git_oid_cpy(ret_oid, known);
        else if (!staged_has(t, path, ret_oid))
                return agora_error_set(err, AGORA_ERR_NOTFOUND, "capability '%s': blob %s: not stored in the registry",
                                       name, full);
        *ret_path = take_ptr(path);
        return 0;
}

/* A subagent may only name capabilities that exist, so that resolving it
 * can never fail for a reason the commit could have caught. */
static int subagent_refs_check(registry_txn *t, const char *name, const json_t *def, agora_error_t *err)
{
        json_t *caps = json_object_get(def, "capabilities");
        json_t *c;
        size_t i;

        json_array_foreach(caps, i, c)
        {
                _cleanup_free_ char *path = NULL;
                if (asprintf(&path, "capabilities/%s.json", json_string_value(c)) < 0)
                        return agora_error_set_errno(err, ENOMEM, "subagent '%s'", name);
                if (!staged_has(t, path, NULL))
                        return agora_error_set(err, AGORA_ERR_NOTFOUND,
                                               "subagent '%s': capability '%s': not registered", name,
                                               json_string_value(c));
        }
        return 0;
}

int registry_txn_put(registry_txn *t, registry_kind k, const char *name, const json_t *def, agora_error_t *err)
{
        _cleanup_free_ char *path = NULL, *buf = NULL, *blob_path = NULL;
        git_tree_update updates[2] = {0};
        size_t len = 0, n = 1;
        git_oid def_oid;

        if (usable(t, err) < 0 || objects_check(k, name, def, err) < 0)
                return -1;
        if (k == REGISTRY_CAPABILITY && capability_blob(t, name, def, &blob_path, &updates[1].id, err) < 0)
                return -1;
        if (k == REGISTRY_SUBAGENT && subagent_refs_check(t, name, def, err) < 0)
                return -1;
        if (cjson_dump(def, &buf, &len, err) < 0)
                return agora_error_wrap(err, "%s '%s'", registry_kind_name(k), name);
        /* Every reader refuses a definition above this size; refusing it here
         * keeps an unreadable one out of the registry (and its object store). */
        if (len > REGISTRY_DEF_MAX)
                return agora_error_set(err, AGORA_ERR_USAGE,
                                       "%s '%s': definition is %zu bytes, more than the %u allowed",
                                       registry_kind_name(k), name, len, REGISTRY_DEF_MAX);
        if (asprintf(&path, "%s/%s.json", registry_kind_dir(k), name) < 0)
                return agora_error_set_errno(err, ENOMEM, "%s '%s'", registry_kind_name(k), name);
        if (git_blob_create_from_buffer(&def_oid, t->r->repo, buf, len) < 0)
                return registry_git_error(err, -1, "%s '%s': cannot store definition", registry_kind_name(k), name);
        updates[0] = (git_tree_update){GIT_TREE_UPDATE_UPSERT, def_oid, GIT_FILEMODE_BLOB, path};
        if (blob_path != NULL) {
                updates[1].action = GIT_TREE_UPDATE_UPSERT;
                updates[1].filemode = GIT_FILEMODE_BLOB;
                updates[1].path = blob_path;
                n = 2;
        }
        return stage(t, updates, n, err);
}

/* Refuse to remove a capability a subagent still names. */
static int capability_unused_check(registry_txn *t, const char *name, agora_error_t *err)
{
        _cleanup_strv_ char **subagents = NULL;

        if (registry_view_list(&t->view, REGISTRY_SUBAGENT, &subagents, err) < 0)
                return -1;
        for (char **s = subagents; *s; s++) {
                _cleanup_json_ json_t *def = NULL;
                json_t *c;
                size_t i;
                if (registry_view_get(&t->view, REGISTRY_SUBAGENT, *s, &def, NULL, err) < 0)
                        return -1;
                json_array_foreach(json_object_get(def, "capabilities"), i, c)
                {
                        if (strcmp(json_string_value(c), name) == 0)
                                return agora_error_set(err, AGORA_ERR_FAILED,
                                                       "capability '%s': still used by subagent '%s'", name, *s);
                }
        }
        return 0;
}

int registry_txn_remove(registry_txn *t, registry_kind k, const char *name, agora_error_t *err)
{
        _cleanup_free_ char *path = NULL;
        git_tree_update update = {0};

        if (usable(t, err) < 0 || agora_name_check(registry_kind_name(k), name, err) < 0)
                return -1;
        if (asprintf(&path, "%s/%s.json", registry_kind_dir(k), name) < 0)
                return agora_error_set_errno(err, ENOMEM, "%s '%s'", registry_kind_name(k), name);
        if (!staged_has(t, path, NULL))
                return agora_error_set(err, AGORA_ERR_NOTFOUND, "%s '%s': not registered", registry_kind_name(k), name);
        if (k == REGISTRY_CAPABILITY && capability_unused_check(t, name, err) < 0)
                return -1;
        update.action = GIT_TREE_UPDATE_REMOVE;
        update.path = path;
        return stage(t, &update, 1, err);
}

/* Drop from blobs/ every blob no capability definition names, so the tree
 * holds exactly what is in use (history keeps the rest). A definition that
 * does not parse references nothing; verify reports it. */
static int prune_blobs(registry_txn *t, agora_error_t *err)
{
        _cleanup_git_(git_tree_entry) git_tree_entry *dir = NULL;
        _cleanup_git_(git_tree) git_tree *blobs = NULL;
        _cleanup_strv_ char **caps = NULL;
        _cleanup_free_ agora_hash *used = NULL;
        _cleanup_free_ git_tree_update *drop = NULL;
        _cleanup_strv_ char **drop_paths = NULL;
        size_t n_used = 0, n_drop = 0, count;

        if (git_tree_entry_bypath(&dir, t->view.tree, REGISTRY_BLOB_DIR) < 0)
                return 0;
        if (git_tree_lookup(&blobs, t->r->repo, git_tree_entry_id(dir)) < 0)
                return registry_git_error(err, -1, "registry '%s': '%s'", t->r->path, REGISTRY_BLOB_DIR);
        if (registry_view_list(&t->view, REGISTRY_CAPABILITY, &caps, err) < 0)
                return -1;
        size_t n_caps = 0;
        while (caps[n_caps])
                n_caps++;
        used = calloc(n_caps + 1, sizeof(*used));
        count = git_tree_entrycount(blobs);
        drop = calloc(count + 1, sizeof(*drop));
        drop_paths = calloc(count + 1, sizeof(*drop_paths));
        if (used == NULL || drop == NULL || drop_paths == NULL)
                return agora_error_set_errno(err, ENOMEM, "registry '%s'", t->r->path);
        for (char **c = caps; *c; c++) {
                _cleanup_json_ json_t *def = NULL;
                _cleanup_error_ agora_error_t ignored = NULL;
                if (registry_view_get(&t->view, REGISTRY_CAPABILITY, *c, &def, NULL, &ignored) == 0 &&
                    objects_capability_hash(def, &used[n_used], &ignored) == 0)
                        n_used++;
        }
        for (size_t i = 0; i < count; i++) {
                const char *fn = git_tree_entry_name(git_tree_entry_byindex(blobs, i));
                char hex[AGORA_HASH_HEX_LEN + 1];
                bool keep = false;
                for (size_t u = 0; u < n_used && !keep; u++) {
                        agora_hash_hex(&used[u], hex);
                        keep = strcmp(hex, fn) == 0;
                }
                if (keep)
                        continue;
                if (asprintf(&drop_paths[n_drop], REGISTRY_BLOB_DIR "/%s", fn) < 0)
                        return agora_error_set_errno(err, ENOMEM, "registry '%s'", t->r->path);
                drop[n_drop].action = GIT_TREE_UPDATE_REMOVE;
                drop[n_drop].path = drop_paths[n_drop];
                n_drop++;
        }
        return n_drop ? stage(t, drop, n_drop, err) : 0;
}

/* The caller's message, then the operator key as a trailer git understands
 * (`git log --format=%(trailers)`), so every change names who made it. */
static int build_message(const registry *r, const char *message, char **ret, agora_error_t *err)
{
        size_t len;

        if (message == NULL || *message == '\0' || *message == '\n')
                return agora_error_set(err, AGORA_ERR_USAGE, "registry '%s': commit message must not be empty",
                                       r->path);
        len = strlen(message);
        while (len > 0 && message[len - 1] == '\n')
                len--;
        if ((r->keyid ? asprintf(ret, "%.*s\n\nOperator-Key: %s\n", (int)len, message, r->keyid)
                      : asprintf(ret, "%.*s\n", (int)len, message)) < 0)
                return agora_error_set_errno(err, ENOMEM, "registry '%s': commit message", r->path);
        return 0;
}

int registry_txn_commit(registry_txn *t, const char *message, int *ret_changed, char ret_commit[41], agora_error_t *err)
{
        _cleanup_git_(git_signature) git_signature *author = NULL, *committer = NULL;
        _cleanup_git_(git_commit) git_commit *parent = NULL;
        _cleanup_git_(git_reference) git_reference *ref = NULL;
        _cleanup_free_ char *msg = NULL;
        registry *r = t->r;
        git_oid commit;
        int rc;

        if (usable(t, err) < 0 || build_message(r, message, &msg, err) < 0 || prune_blobs(t, err) < 0)
                return -1;
        if (git_oid_equal(git_tree_id(t->view.tree), git_tree_id(t->base))) {
                /* Nothing changed: an empty commit would only add noise to the
                 * audit trail. */
                t->done = true;
                registry_lock_release(take_fd(t->lock_fd));
                if (ret_changed != NULL)
                        *ret_changed = 0;
                if (ret_commit != NULL)
                        git_oid_tostr(ret_commit, GIT_OID_HEXSZ + 1, &t->head);
                return 0;
        }
        if (registry_signatures(r->repo, r->name, r->email, &author, &committer, err) < 0)
                return agora_error_wrap(err, "registry '%s'", r->path);
        if (git_commit_lookup(&parent, r->repo, &t->head) < 0)
                return registry_git_error(err, -1, "registry '%s': cannot read head", r->path);
        if (registry_commit_write(r->repo, author, committer, msg, t->view.tree, 1, (const git_commit **)&parent,
                                  &commit) < 0)
                return registry_git_error(err, -1, "registry '%s': cannot write commit", r->path);
        /* Compare-and-swap: move the branch only if it still points where it
         * did at begin. */
        rc = git_reference_create_matching(&ref, r->repo, t->refname, &commit, 1, &t->head, "agora commit");
        if (rc == GIT_EMODIFIED)
                return agora_error_set(err, AGORA_ERR_BUSY,
                                       "registry busy: '%s': '%s' moved while this command was changing it; try again",
                                       r->path, t->refname);
        /* Every agora writer holds the flock, so the ref's lock file is not
         * another agora's: it is a stock git command's, or, far more likely,
         * left by a command killed mid-update (libgit2 cannot remove it from
         * a SIGKILL). Saying "busy" would have the operator retry forever. */
        if (rc == GIT_ELOCKED)
                return agora_error_set(err, AGORA_ERR_FAILED,
                                       "registry '%s': stale lock file '%s.lock' left by an interrupted command; "
                                       "remove it if no git command is running",
                                       r->path, t->refname);
        if (rc < 0)
                return registry_git_error(err, rc, "registry '%s': cannot update '%s'", r->path, t->refname);
        t->done = true;
        registry_lock_release(take_fd(t->lock_fd));
        if (ret_changed != NULL)
                *ret_changed = 1;
        if (ret_commit != NULL)
                git_oid_tostr(ret_commit, GIT_OID_HEXSZ + 1, &commit);
        return 0;
}
