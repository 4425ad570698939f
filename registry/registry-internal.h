/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Private to registry/: the handle, view and transaction structs, cleanup
 * helpers for libgit2 handles, and the helpers the registry's files share.
 */

#include <git2.h>
#include <stdbool.h>

#include "capabilities/captar.h"
#include "common/cleanup.h"
#include "common/error.h"
#include "common/hash.h"
#include "registry/registry.h"

#define REGISTRY_MARKER "agora-registry.json"
#define REGISTRY_MARKER_JSON "{\"format\":1}"
#define REGISTRY_BLOB_DIR "blobs/sha256"
/* The branch registry_init creates and HEAD points at. */
#define REGISTRY_BRANCH "refs/heads/main"
#define REGISTRY_DEFAULT_LOCK_TIMEOUT_MS 10000u
/* Definitions are small; a huge one is an attack on memory, not a definition. */
#define REGISTRY_DEF_MAX (1u << 20)
/* Objects up to this size get their git id re-checked on every read. */
#define REGISTRY_REHASH_MAX REGISTRY_DEF_MAX

/* sha256 → git blob id of a blob this handle stored, so that putting a
 * capability does not have to re-read and SHA-1 its tarball. */
typedef struct registry_blob_ref {
        agora_hash sha256;
        git_oid oid;
} registry_blob_ref;

struct registry {
        char *path;
        git_repository *repo;
        char *name, *email, *keyid;
        unsigned lock_timeout_ms;
        registry_blob_ref *blobs;
        size_t n_blobs, cap_blobs;
};

struct registry_view {
        registry *r;
        git_tree *tree;
        char commit[GIT_OID_HEXSZ + 1];
        bool borrowed; /* the staged view of a transaction: freed with it */
};

struct registry_txn {
        registry *r;
        int lock_fd;
        char *refname; /* branch HEAD points at, e.g. refs/heads/main */
        git_oid head; /* commit read at begin: the ref must still be here */
        git_tree *base; /* its tree, to tell a no-op from a change */
        registry_view view;
        bool done;
};

/* libgit2 handle cleanups, in the style of common/cleanup.h. */
#define DEFINE_GIT_CLEANUP(type, fn)                   \
        static inline void cleanup_##type##p(type **p) \
        {                                              \
                if (*p != NULL)                        \
                        fn(*p);                        \
        }
DEFINE_GIT_CLEANUP(git_repository, git_repository_free)
DEFINE_GIT_CLEANUP(git_tree, git_tree_free)
DEFINE_GIT_CLEANUP(git_tree_entry, git_tree_entry_free)
DEFINE_GIT_CLEANUP(git_blob, git_blob_free)
DEFINE_GIT_CLEANUP(git_commit, git_commit_free)
DEFINE_GIT_CLEANUP(git_reference, git_reference_free)
DEFINE_GIT_CLEANUP(git_signature, git_signature_free)
DEFINE_GIT_CLEANUP(git_odb, git_odb_free)
DEFINE_GIT_CLEANUP(git_odb_object, git_odb_object_free)
DEFINE_GIT_CLEANUP(git_object, git_object_free)
DEFINE_GIT_CLEANUP(git_revwalk, git_revwalk_free)
DEFINE_GIT_CLEANUP(git_index, git_index_free)
DEFINE_GIT_CLEANUP(git_treebuilder, git_treebuilder_free)
#define _cleanup_git_(type) _cleanup_(cleanup_##type##p)

/* Kind of the error just set in ERR (callers may pass a NULL ERR). */
static inline agora_error_kind registry_error_kind(const agora_error_t *err)
{
        return err != NULL && *err != NULL ? (*err)->kind : AGORA_ERR_FAILED;
}

/* Reclassify the error just set: a schema failure of bytes read from the
 * registry is an integrity problem, not the caller's usage error. */
static inline int registry_error_rekind(agora_error_t *err, agora_error_kind kind)
{
        if (err != NULL && *err != NULL)
                (*err)->kind = kind;
        return -1;
}

/* Fill *err from libgit2's last error, prefixed by the formatted context. */
int registry_git_error(agora_error_t *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* "capabilities", "subagents", "envs": the tree folder of kind K. */
const char *registry_kind_dir(registry_kind k);

/* Signatures for a new commit: the handle's identity, else GIT_AUTHOR_* /
 * GIT_COMMITTER_* from the environment, else the repository's git config,
 * else "agora operator" <operator@localhost>. */
int registry_signatures(git_repository *repo, const char *name, const char *email, git_signature **ret_author,
                        git_signature **ret_committer, agora_error_t *err);

/* The lock: an exclusive flock on <gitdir>/agora.lock, polled until the
 * timeout. Returns the fd holding it. */
int registry_lock_acquire(registry *r, int *ret_fd, agora_error_t *err);
void registry_lock_release(int fd);

/* Remember / look up the git id of a blob stored through this handle. */
int registry_blobmap_add(registry *r, const agora_hash *h, const git_oid *oid, agora_error_t *err);
const git_oid *registry_blobmap_find(const registry *r, const agora_hash *h);

/* Every file agora reads from a tree must be a plain blob (100644): an
 * executable bit or a symlink (120000, its "target" text posing as the
 * file's content) was not written by agora. Fails with AGORA_ERR_INTEGRITY
 * naming PATH otherwise. */
int registry_entry_mode_check(const git_tree_entry *entry, const char *path, agora_error_t *err);

/* Read the blob at PATH of TREE (at most MAX bytes) into a malloc'd,
 * NUL-terminated buffer. AGORA_ERR_NOTFOUND (message "'PATH': not found") if
 * there is no such blob; its mode is checked as above. */
int registry_tree_read(git_repository *repo, git_tree *tree, const char *path, size_t max, char **ret_buf,
                       size_t *ret_len, git_oid *ret_oid, agora_error_t *err);

/* Read a git blob's bytes into a malloc'd buffer. */
int registry_blob_read(git_repository *repo, const git_oid *oid, size_t max, char **ret_buf, size_t *ret_len,
                       agora_error_t *err);

/* Parse and check a definition's bytes: strict JSON, canonical, schema of K,
 * name. WHAT names it ("capability 'x'"). */
int registry_def_parse(registry_kind k, const char *name, const char *buf, size_t len, json_t **ret,
                       agora_error_t *err);

/* Write a commit object and return its id. libgit2's git_commit_create
 * drops the error of its own object write (a full disk then surfaces only at
 * the ref update, as "target OID for the reference doesn't exist"), so the
 * commit is built as a buffer and written here, failing at the write. Leaves
 * libgit2's error set for registry_git_error. */
int registry_commit_write(git_repository *repo, const git_signature *author, const git_signature *committer,
                          const char *message, const git_tree *tree, size_t n_parents, const git_commit *parents[],
                          git_oid *ret);

/* tarball.c: a capability's tarball as read from the registry, already
 * known to hash to H, must also be canonical: its hash alone proves only
 * that nobody changed it since whoever committed it, and stock git can
 * commit any bytes (a setuid "../../etc/cron.d/x", a symlink) under their
 * real sha256. Limits come from the blob's own length, so a capability
 * registered with a larger --max-size still passes. WHO names the users
 * ("capability 'a'" or "capability 'a', 'b'"), NAME one of them. Errors read
 * "WHO: blob sha256:…: why". */
int registry_tarball_check(const char *who, const char *name, const agora_hash *h, const void *data, size_t len,
                           captar_result *ret, agora_error_t *err);
/* The definition's "size" and "entries" must describe the tarball:
 * "capability 'x': definition says 7 entries, tarball has 2". */
int registry_tarball_matches(const char *name, const json_t *def, const captar_result *res, agora_error_t *err);

/* Initialise a view struct reading TREE (taking a reference of it). */
void registry_view_setup(registry_view *v, registry *r, git_tree *tree, const git_oid *commit);
