/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `agora verify`: re-hash every blob and re-check every definition of one
 * commit, and name everything in the tree agora did not put there. A
 * registry is a git repository anyone with write access can edit with stock
 * git; this is how an operator finds out whether someone did.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/name.h"
#include "registry/objects.h"
#include "registry/registry-internal.h"

/* A tarball hash and the capability that points at it. */
typedef struct blob_use {
        agora_hash hash;
        char *capability;
        json_t *def; /* the checked definition; NULL if it failed its checks */
} blob_use;

typedef struct verify_state {
        registry_view *v;
        registry_report_fn report;
        void *ctx;
        int problems;
        size_t checked; /* objects read and checked */
        blob_use *uses; /* one per readable capability definition */
        size_t n_uses;
} verify_state;

static void problem(verify_state *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(verify_state *s, const char *fmt, ...)
{
        _cleanup_free_ char *line = NULL;
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(&line, fmt, ap) < 0)
                line = NULL;
        va_end(ap);
        /* One line per problem: a hostile file name must not forge another. */
        for (char *p = line; p && *p; p++)
                if (*p == '\n' || *p == '\r')
                        *p = ' ';
        s->problems++;
        if (s->report != NULL)
                s->report(s->ctx, line ? line : "problem (out of memory describing it)");
}

static void problem_err(verify_state *s, agora_error_t *e)
{
        problem(s, "%s", agora_error_message(*e));
        agora_error_release(e);
}

/* A subtree of the head tree, NULL (and no problem) if absent. */
static git_tree *subtree(verify_state *s, const char *path)
{
        _cleanup_git_(git_tree_entry) git_tree_entry *e = NULL;
        git_tree *t = NULL;

        if (git_tree_entry_bypath(&e, s->v->tree, path) < 0)
                return NULL;
        if (git_tree_entry_type(e) != GIT_OBJECT_TREE) {
                problem(s, "'%s': should be a folder", path);
                return NULL;
        }
        if (git_tree_lookup(&t, s->v->r->repo, git_tree_entry_id(e)) < 0) {
                problem(s, "'%s': cannot read tree %s", path, git_oid_tostr_s(git_tree_entry_id(e)));
                return NULL;
        }
        return t;
}

static bool blob_present(verify_state *s, const agora_hash *h)
{
        _cleanup_git_(git_tree_entry) git_tree_entry *e = NULL;
        char hex[AGORA_HASH_HEX_LEN + 1], path[sizeof(REGISTRY_BLOB_DIR) + AGORA_HASH_HEX_LEN + 1];

        agora_hash_hex(h, hex);
        snprintf(path, sizeof(path), REGISTRY_BLOB_DIR "/%s", hex);
        return git_tree_entry_bypath(&e, s->v->tree, path) == 0 && git_tree_entry_type(e) == GIT_OBJECT_BLOB;
}

static bool definition_present(verify_state *s, registry_kind k, const char *name)
{
        _cleanup_git_(git_tree_entry) git_tree_entry *e = NULL;
        _cleanup_free_ char *path = NULL;

        if (asprintf(&path, "%s/%s.json", registry_kind_dir(k), name) < 0)
                return false;
        return git_tree_entry_bypath(&e, s->v->tree, path) == 0;
}

/* Cross-references of one parsed definition: what it names must exist. */
static void verify_refs(verify_state *s, registry_kind k, const char *name, const json_t *def)
{
        _cleanup_error_ agora_error_t e = NULL;
        json_t *c;
        size_t i;

        if (k == REGISTRY_CAPABILITY) {
                agora_hash h;
                char full[AGORA_HASH_STR_LEN + 1];
                if (objects_capability_hash(def, &h, &e) < 0) {
                        problem_err(s, &e);
                        return;
                }
                agora_hash_format(&h, full);
                if (!blob_present(s, &h))
                        problem(s, "capability '%s': blob %s: not in the registry", name, full);
        } else if (k == REGISTRY_SUBAGENT) {
                json_array_foreach(json_object_get(def, "capabilities"), i, c)
                {
                        if (!definition_present(s, REGISTRY_CAPABILITY, json_string_value(c)))
                                problem(s, "subagent '%s': capability '%s': not registered", name,
                                        json_string_value(c));
                }
        }
}

/* Record that capability NAME points at the tarball of DEF. A definition
 * that failed its checks (DEF_OK false) is read leniently, for its
 * "contentHash" alone: its problem is already reported, and its tarball
 * reported again as "not used by any capability" would only be noise. */
static void record_use(verify_state *s, char **name, const char *buf, size_t len, json_t *def, bool def_ok)
{
        _cleanup_json_ json_t *loose = NULL;
        _cleanup_error_ agora_error_t ignored = NULL;
        blob_use *u = &s->uses[s->n_uses];

        if (!def_ok) {
                loose = json_loadb(buf, len, 0, NULL);
                def = loose;
        }
        if (def == NULL || objects_capability_hash(def, &u->hash, &ignored) < 0)
                return;
        u->capability = take_ptr(*name);
        u->def = def_ok ? json_incref(def) : NULL;
        s->n_uses++;
}

/* Every definition of kind K; capabilities' tarball hashes are recorded in
 * s->uses (room for one per entry of capabilities/). */
static void verify_kind(verify_state *s, registry_kind k)
{
        const char *dir = registry_kind_dir(k);
        _cleanup_git_(git_tree) git_tree *t = subtree(s, dir);

        for (size_t i = 0; t && i < git_tree_entrycount(t); i++) {
                const git_tree_entry *ent = git_tree_entry_byindex(t, i);
                const char *fn = git_tree_entry_name(ent);
                size_t len = strlen(fn);
                _cleanup_free_ char *name = NULL, *buf = NULL, *path = NULL;
                _cleanup_json_ json_t *def = NULL;
                _cleanup_error_ agora_error_t e = NULL;
                size_t blen = 0;
                bool ok = true;

                if (len <= 5 || strcmp(fn + len - 5, ".json") != 0 || git_tree_entry_type(ent) != GIT_OBJECT_BLOB ||
                    (name = strndup(fn, len - 5)) == NULL || agora_name_check(registry_kind_name(k), name, &e) < 0) {
                        problem(s, "unexpected path '%s/%s' in the registry tree", dir, fn);
                        continue;
                }
                s->checked++;
                if (asprintf(&path, "%s/%s", dir, fn) < 0) {
                        path = NULL;
                        problem(s, "%s '%s': out of memory", registry_kind_name(k), name);
                        continue;
                }
                if (registry_entry_mode_check(ent, path, &e) < 0) {
                        problem_err(s, &e);
                        ok = false;
                }
                if (registry_blob_read(s->v->r->repo, git_tree_entry_id(ent), REGISTRY_DEF_MAX, &buf, &blen, &e) < 0) {
                        problem(s, "%s '%s': %s", registry_kind_name(k), name, agora_error_message(e));
                        continue;
                }
                if (ok && registry_def_parse(k, name, buf, blen, &def, &e) < 0) {
                        problem_err(s, &e);
                        ok = false;
                }
                if (ok)
                        verify_refs(s, k, name, def);
                if (k == REGISTRY_CAPABILITY)
                        record_use(s, &name, buf, blen, def, ok);
        }
}

/* "capability 'a', 'b'" for the capabilities using the tarball named HEX,
 * so a bad tarball is reported by the names an operator knows; NULL if none. */
static char *users_of(const verify_state *s, const char *hex)
{
        char *out = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&out, &len);
        bool any = false;

        if (f == NULL)
                return NULL;
        for (size_t u = 0; u < s->n_uses; u++) {
                char h[AGORA_HASH_HEX_LEN + 1];
                agora_hash_hex(&s->uses[u].hash, h);
                if (strcmp(h, hex) != 0)
                        continue;
                fprintf(f, "%s'%s'", any ? ", " : "capability ", s->uses[u].capability);
                any = true;
        }
        fclose(f);
        if (!any) {
                free(out);
                return NULL;
        }
        return out;
}

/* The tarball of blob HEX (LEN bytes at DATA, known to hash to its name)
 * must be canonical, and each checked definition using it must describe it.
 * USERS names them all, for the problem with the tarball itself. */
static void verify_tarball(verify_state *s, const char *hex, const char *users, const void *data, size_t len)
{
        _cleanup_error_ agora_error_t e = NULL;
        const blob_use *first = NULL;
        captar_result res;
        agora_hash h;

        for (size_t u = 0; u < s->n_uses && first == NULL; u++) {
                char uh[AGORA_HASH_HEX_LEN + 1];
                agora_hash_hex(&s->uses[u].hash, uh);
                if (strcmp(uh, hex) == 0)
                        first = &s->uses[u];
        }
        if (first == NULL)
                return;
        h = first->hash;
        if (registry_tarball_check(users, first->capability, &h, data, len, &res, &e) < 0) {
                problem_err(s, &e);
                return;
        }
        for (size_t u = 0; u < s->n_uses; u++) {
                if (s->uses[u].def == NULL || !agora_hash_equal(&s->uses[u].hash, &h))
                        continue;
                if (registry_tarball_matches(s->uses[u].capability, s->uses[u].def, &res, &e) < 0)
                        problem_err(s, &e);
        }
}

/* Runs after the definitions, so that each problem can name the
 * capabilities using the tarball. */
static void verify_blobs(verify_state *s)
{
        _cleanup_git_(git_tree) git_tree *blobs = subtree(s, REGISTRY_BLOB_DIR);

        for (size_t i = 0; blobs && i < git_tree_entrycount(blobs); i++) {
                const git_tree_entry *e = git_tree_entry_byindex(blobs, i);
                const char *fn = git_tree_entry_name(e);
                _cleanup_free_ char *buf = NULL, *users = NULL, *path = NULL;
                _cleanup_error_ agora_error_t e2 = NULL;
                char got[AGORA_HASH_STR_LEN + 1];
                size_t len = 0;
                agora_hash h;

                if ((strlen(fn) != AGORA_HASH_HEX_LEN || !agora_is_lower_hex(fn, AGORA_HASH_HEX_LEN)) ||
                    git_tree_entry_type(e) != GIT_OBJECT_BLOB) {
                        problem(s, "unexpected path '" REGISTRY_BLOB_DIR "/%s' in the registry tree", fn);
                        continue;
                }
                users = users_of(s, fn);
                /* agora drops unused tarballs on every commit, so one here was
                 * put there by someone else. */
                if (users == NULL)
                        problem(s, "blob sha256:%s: not used by any capability", fn);
                s->checked++;
                if (asprintf(&path, REGISTRY_BLOB_DIR "/%s", fn) < 0)
                        path = NULL;
                if (registry_entry_mode_check(e, path ? path : fn, &e2) < 0) {
                        problem(s, "%s%s%s", users ? users : "", users ? ": " : "", agora_error_message(e2));
                        continue;
                }
                if (registry_blob_read(s->v->r->repo, git_tree_entry_id(e), SIZE_MAX - 1, &buf, &len, &e2) < 0) {
                        problem(s, "%s%sblob sha256:%s: %s", users ? users : "", users ? ": " : "", fn,
                                agora_error_message(e2));
                        continue;
                }
                agora_hash_buffer(buf, len, &h);
                agora_hash_format(&h, got);
                if (strcmp(got + strlen(AGORA_HASH_PREFIX), fn) != 0) {
                        problem(s, "%s%sblob sha256:%s: content hashes to %s", users ? users : "", users ? ": " : "",
                                fn, got);
                        continue;
                }
                if (users != NULL)
                        verify_tarball(s, fn, users, buf, len);
        }
        /* blobs/ may hold only sha256/. */
        _cleanup_git_(git_tree) git_tree *top = subtree(s, "blobs");
        for (size_t i = 0; top && i < git_tree_entrycount(top); i++) {
                const char *fn = git_tree_entry_name(git_tree_entry_byindex(top, i));
                if (strcmp(fn, "sha256") != 0)
                        problem(s, "unexpected path 'blobs/%s' in the registry tree", fn);
        }
}

static void uses_free(verify_state *s)
{
        for (size_t u = 0; u < s->n_uses; u++) {
                free(s->uses[u].capability);
                json_decref(s->uses[u].def);
        }
        free(s->uses);
}

int registry_view_verify(registry_view *v, registry_report_fn report, void *ctx, size_t *ret_checked,
                         agora_error_t *err)
{
        _cleanup_(uses_free) verify_state s = {v, report, ctx, 0, 0, NULL, 0};
        _cleanup_free_ char *marker = NULL;
        size_t marker_len = 0, n_caps = 0;
        _cleanup_error_ agora_error_t e = NULL;
        _cleanup_git_(git_tree) git_tree *caps = subtree(&s, "capabilities");

        n_caps = caps ? git_tree_entrycount(caps) : 0;
        s.uses = calloc(n_caps + 1, sizeof(*s.uses));
        if (s.uses == NULL)
                return agora_error_set_errno(err, ENOMEM, "registry '%s': verify", v->r->path);

        for (size_t i = 0; i < git_tree_entrycount(v->tree); i++) {
                const char *fn = git_tree_entry_name(git_tree_entry_byindex(v->tree, i));
                if (strcmp(fn, REGISTRY_MARKER) != 0 && strcmp(fn, "blobs") != 0 && strcmp(fn, "capabilities") != 0 &&
                    strcmp(fn, "subagents") != 0 && strcmp(fn, "envs") != 0)
                        problem(&s, "unexpected path '%s' in the registry tree", fn);
        }
        s.checked++;
        if (registry_tree_read(v->r->repo, v->tree, REGISTRY_MARKER, 4096, &marker, &marker_len, NULL, &e) < 0 &&
            registry_error_kind(&e) == AGORA_ERR_INTEGRITY)
                problem_err(&s, &e);
        else if (marker == NULL || marker_len != strlen(REGISTRY_MARKER_JSON) ||
                 memcmp(marker, REGISTRY_MARKER_JSON, marker_len) != 0)
                problem(&s, "'%s': missing or not %s", REGISTRY_MARKER, REGISTRY_MARKER_JSON);

        for (unsigned k = 0; k < REGISTRY_KIND_COUNT; k++)
                verify_kind(&s, (registry_kind)k);
        verify_blobs(&s);
        if (ret_checked != NULL)
                *ret_checked = s.checked;
        return s.problems;
}
