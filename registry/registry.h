/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The registry: a plain git repository (libgit2) holding every object agora
 * knows by content hash. Layout (docs/registry.md):
 *
 *   agora-registry.json            {"format":1}: marks the repository as ours
 *   blobs/sha256/<hex>             canonical capability tarballs, by sha256
 *   capabilities/<name>.json       definitions, canonical JSON, pointing at blobs
 *   subagents/<name>.json
 *   envs/<name>.json
 *
 * Every mutation is exactly one commit on the current branch, made under an
 * exclusive lock so that concurrent agora commands serialise or fail with
 * "registry busy" and never corrupt anything. Reads verify: a blob whose bytes
 * do not hash to its name is never returned.
 */

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/hash.h"

typedef struct registry registry;
typedef struct registry_txn registry_txn;
typedef struct registry_view registry_view;

typedef enum registry_kind {
        REGISTRY_CAPABILITY,
        REGISTRY_SUBAGENT,
        REGISTRY_ENV,
        REGISTRY_KIND_COUNT,
} registry_kind;

/* "capability", "subagent", "env". */
const char *registry_kind_name(registry_kind k);
/* Parse "capability"/"capabilities" etc.; -1 (AGORA_ERR_USAGE) otherwise. */
int registry_kind_parse(const char *s, registry_kind *ret, agora_error_t *err);

/* Library lifetime: git_libgit2_init() and friends. registry_open and
 * registry_init call it when needed, so that a program that never opens a
 * registry never pays for libgit2's start-up (with mbedTLS it parses the
 * system's CA bundle, ~6 ms). Shutdown does nothing if init never ran. */
int registry_global_init(agora_error_t *err);
void registry_global_shutdown(void);

/* The commit the registry at PATH has checked out (HEAD's branch), read from
 * its ref files without libgit2: 40 hex digits into OUT. Anything unusual
 * (a detached or missing HEAD, a ref that is neither loose nor packed) is
 * an error, and the caller opens the registry instead. */
int registry_head_peek(const char *path, char out[41], agora_error_t *err);

/* Create a new registry at PATH (created, with its parents, if missing; must
 * be an empty directory if it exists) with its first commit. The registry is
 * built beside PATH and renamed into place: it appears whole or not at all. */
int registry_init(const char *path, const char *author_name, const char *author_email, agora_error_t *err);

/* Fail as registry_init would on PATH, without creating anything: lets a
 * caller refuse before doing work of its own. */
int registry_init_check(const char *path, agora_error_t *err);

/* Open an existing registry; fails, naming PATH, if it is not one. */
int registry_open(const char *path, registry **ret, agora_error_t *err);
void registry_free(registry *r);
const char *registry_path(const registry *r);

/* Author of the commits this handle makes, and the operator key id recorded
 * as an "Operator-Key:" trailer in each commit message. */
int registry_set_identity(registry *r, const char *name, const char *email, const char *keyid, agora_error_t *err);

/* How long registry_begin waits for the lock before AGORA_ERR_BUSY. */
void registry_set_lock_timeout(registry *r, unsigned milliseconds);

/* Store the bytes of FD (from offset 0 to end) as a blob, content-addressed.
 * Safe without the lock: the same bytes always land at the same name.
 * Returns the sha256 it computed; if EXPECT is non-NULL and differs, fails
 * with AGORA_ERR_INTEGRITY and stores nothing. */
int registry_store_blob(registry *r, int fd, const agora_hash *expect, agora_hash *ret, agora_error_t *err);

/* A snapshot of the registry at one commit. REV NULL means the current
 * branch head. All reads verify what they return. */
int registry_view_open(registry *r, const char *rev, registry_view **ret, agora_error_t *err);
void registry_view_free(registry_view *v);
/* Full hex id of the commit the view reads. */
const char *registry_view_commit(const registry_view *v);

/* Definition of NAME of kind K (checked against its schema) and the sha256 of
 * its canonical bytes. AGORA_ERR_NOTFOUND if absent. Either out may be NULL. */
int registry_view_get(registry_view *v, registry_kind k, const char *name, json_t **ret_def, agora_hash *ret_hash,
                      agora_error_t *err);

/* Sorted names of kind K, as a NULL-terminated malloc'd array. */
int registry_view_list(registry_view *v, registry_kind k, char ***ret_names, agora_error_t *err);

/* Bytes of blob H after checking their sha256; WHAT names it in errors
 * ("capability 'echo-cap'"). The buffer is malloc'd and owned by the caller. */
int registry_view_blob(registry_view *v, const agora_hash *h, const char *what, void **ret_data, size_t *ret_len,
                       agora_error_t *err);

/* Every object at this commit re-hashed and every definition re-checked.
 * Each problem found is passed to REPORT as one line naming the object (a
 * bad tarball by the capabilities that use it); *RET_CHECKED (may be NULL)
 * counts the objects read. Returns the number of problems (0 when clean), or
 * -1 if verification could not run at all. */
typedef void (*registry_report_fn)(void *ctx, const char *line);
int registry_view_verify(registry_view *v, registry_report_fn report, void *ctx, size_t *ret_checked,
                         agora_error_t *err);

/* A mutation. registry_begin takes the registry lock and reads the current
 * head; put/remove stage changes; commit writes one commit (or none, if the
 * tree did not change: *ret_changed says which) and releases the lock. Free
 * without commit to abandon. */
int registry_begin(registry *r, registry_txn **ret, agora_error_t *err);
registry_view *registry_txn_view(registry_txn *t); /* the staged state, readable */
/* DEF is checked against the schema of K and stored as canonical JSON. For a
 * capability, the blob it names must already be stored. */
int registry_txn_put(registry_txn *t, registry_kind k, const char *name, const json_t *def, agora_error_t *err);
int registry_txn_remove(registry_txn *t, registry_kind k, const char *name, agora_error_t *err);
int registry_txn_commit(registry_txn *t, const char *message, int *ret_changed, char ret_commit[41],
                        agora_error_t *err);
void registry_txn_free(registry_txn *t);

/* Commits from the head backwards, newest first; at most MAX (0: all). */
typedef struct registry_log_entry {
        char commit[41];
        int64_t time; /* seconds since the epoch */
        const char *author;
        const char *summary;
} registry_log_entry;
typedef int (*registry_log_fn)(void *ctx, const registry_log_entry *e);
int registry_log(registry *r, unsigned max, registry_log_fn fn, void *ctx, agora_error_t *err);
