/* SPDX-License-Identifier: Apache-2.0 */
/* A registry edited behind agora's back is caught on every read path. */
#include "registry/resolve.h"
#include "tests/registry/registry-test.h"

/* sha256 of "evil\n", from sha256sum. */
#define EVIL_SHA256 "886b67480dbe73b406ad83a1dd6d9596f93089d90c220ccfc91944c95f1c68c4"

/* Hex sha256 of echo-cap's tarball, set by populate(). */
static char cap_hex[AGORA_HASH_HEX_LEN + 1];

typedef struct lines {
        char text[16][512];
        int n;
} lines;

static void collect(void *ctx, const char *line)
{
        lines *l = ctx;
        if (l->n < 16)
                snprintf(l->text[l->n++], sizeof(l->text[0]), "%s", line);
}

static bool has_line(const lines *l, const char *want)
{
        for (int i = 0; i < l->n; i++)
                if (strcmp(l->text[i], want) == 0)
                        return true;
        return false;
}

/* echo-cap ("hello\n"), subagent coder using it, env prod. */
static void populate(fixture *f)
{
        _cleanup_error_ agora_error_t err = NULL;
        json_t *coder = objects_subagent_new("coder", "/bin/agent", NULL);

        agora_hash h = put_tar_capability(f->r, "echo-cap", "hello\n");
        hex_of(&h, cap_hex);
        assert_int_equal(objects_subagent_add_capability(coder, "echo-cap", &err), 0);
        put_commit(f->r, REGISTRY_SUBAGENT, "coder", coder, "add coder");
        put_commit(f->r, REGISTRY_ENV, "prod", objects_env_new("prod"), "add prod");
}

/* Other bytes under the tarball's name, committed with stock git. */
static void swap_blob(fixture *f)
{
        char edits[256];

        snprintf(edits, sizeof(edits),
                 "o=$(printf 'evil\\n' | git hash-object -w --stdin) && "
                 "git update-index --cacheinfo 100644,$o,blobs/sha256/%s",
                 cap_hex);
        tamper(f, edits);
}

/* "WHO: blob sha256:<echo-cap's tarball>: content hashes to sha256:<evil>". */
static char *swapped_message(const char *who)
{
        char *m = NULL;
        assert_true(asprintf(&m, "%s: blob sha256:%s: content hashes to sha256:" EVIL_SHA256, who, cap_hex) > 0);
        return m;
}

static int verify_head(fixture *f, lines *l)
{
        _cleanup_error_ agora_error_t err = NULL;
        registry_view *v = NULL;
        int n;

        assert_int_equal(registry_view_open(f->r, NULL, &v, &err), 0);
        n = registry_view_verify(v, collect, l, NULL, &err);
        registry_view_free(v);
        return n;
}

static void clean_registry_verifies(void **state)
{
        fixture *f = *state;
        lines l = {0};

        populate(f);
        assert_int_equal(verify_head(f, &l), 0);
        assert_int_equal(l.n, 0);
}

static void verify_reports_swapped_blob_with_both_hashes(void **state)
{
        fixture *f = *state;
        lines l = {0};

        populate(f);
        swap_blob(f);
        _cleanup_free_ char *want = swapped_message("capability 'echo-cap'");
        assert_int_equal(verify_head(f, &l), 1);
        assert_true(has_line(&l, want));
}

static void view_blob_refuses_swapped_blob(void **state)
{
        fixture *f = *state;
        _cleanup_error_ agora_error_t err = NULL;
        registry_view *v = NULL;
        void *data = NULL;
        agora_hash h;

        populate(f);
        swap_blob(f);
        _cleanup_free_ char *want = swapped_message("capability 'echo-cap'");
        char full[AGORA_HASH_STR_LEN + 1];
        snprintf(full, sizeof(full), "sha256:%s", cap_hex);
        assert_int_equal(agora_hash_parse(full, &h, NULL), 0);
        assert_int_equal(registry_view_open(f->r, NULL, &v, &err), 0);
        assert_int_equal(registry_view_blob(v, &h, "capability 'echo-cap'", &data, NULL, &err), -1);
        assert_null(data);
        assert_int_equal(err->kind, AGORA_ERR_INTEGRITY);
        assert_string_equal(err->msg, want);
        registry_view_free(v);
}

static void resolve_refuses_swapped_blob(void **state)
{
        fixture *f = *state;
        _cleanup_error_ agora_error_t err = NULL;
        registry_view *v = NULL;
        json_t *out = NULL;

        populate(f);
        swap_blob(f);
        assert_int_equal(registry_view_open(f->r, NULL, &v, &err), 0);
        assert_int_equal(resolve_subagent(v, "coder", "prod", &out, &err), -1);
        assert_null(out);
        assert_int_equal(err->kind, AGORA_ERR_INTEGRITY);
        _cleanup_free_ char *want = swapped_message("capability 'echo-cap'");
        assert_non_null(strstr(err->msg, want));
        registry_view_free(v);
}

static void older_commit_still_verifies(void **state)
{
        fixture *f = *state;
        _cleanup_error_ agora_error_t err = NULL;
        registry_view *v = NULL;
        lines l = {0};

        populate(f);
        swap_blob(f);
        assert_int_equal(registry_view_open(f->r, "HEAD~1", &v, &err), 0);
        assert_int_equal(registry_view_verify(v, collect, &l, NULL, &err), 0);
        registry_view_free(v);
}

static void non_canonical_definition_is_refused(void **state)
{
        fixture *f = *state;
        _cleanup_error_ agora_error_t err = NULL;
        registry_view *v = NULL;
        lines l = {0};

        populate(f);
        /* Same JSON, pretty-printed: not the bytes agora hashed. */
        tamper(f, "o=$(git cat-file blob HEAD:envs/prod.json | sed 's/,/, /g' | git hash-object -w --stdin) && "
                  "git update-index --cacheinfo 100644,$o,envs/prod.json");
        assert_int_equal(registry_view_open(f->r, NULL, &v, &err), 0);
        assert_int_equal(registry_view_get(v, REGISTRY_ENV, "prod", NULL, NULL, &err), -1);
        assert_int_equal(err->kind, AGORA_ERR_INTEGRITY);
        assert_string_equal(err->msg, "env 'prod': definition is not canonical JSON");
        assert_int_equal(registry_view_verify(v, collect, &l, NULL, &err), 1);
        assert_true(has_line(&l, "env 'prod': definition is not canonical JSON"));
        registry_view_free(v);
}

static void verify_reports_unexpected_path(void **state)
{
        fixture *f = *state;
        lines l = {0};

        populate(f);
        tamper(f, "o=$(echo notes | git hash-object -w --stdin) && "
                  "git update-index --add --cacheinfo 100644,$o,notes.txt");
        assert_int_equal(verify_head(f, &l), 1);
        assert_true(has_line(&l, "unexpected path 'notes.txt' in the registry tree"));
}

static void verify_reports_definition_under_wrong_name(void **state)
{
        fixture *f = *state;
        lines l = {0};

        populate(f);
        tamper(f, "git update-index --add --cacheinfo 100644,$(git rev-parse HEAD:envs/prod.json),envs/staging.json");
        assert_int_equal(verify_head(f, &l), 1);
        assert_true(has_line(&l, "env 'staging': definition names 'prod'"));
}

static void verify_reports_dangling_capability_reference(void **state)
{
        fixture *f = *state;
        lines l = {0};

        populate(f);
        /* Mode 0 in --index-info removes the entry. */
        tamper(f, "printf '0 0000000000000000000000000000000000000000\\tcapabilities/echo-cap.json\\n' | "
                  "git update-index --index-info");
        /* The subagent names a missing capability, and the blob is now used by nothing. */
        assert_int_equal(verify_head(f, &l), 2);
        assert_true(has_line(&l, "subagent 'coder': capability 'echo-cap': not registered"));
        _cleanup_free_ char *unused = NULL;
        assert_true(asprintf(&unused, "blob sha256:%s: not used by any capability", cap_hex) > 0);
        assert_true(has_line(&l, unused));
}

/* A definition's loose object rewritten on disk (same size, valid zlib, other
 * bytes): git's own id no longer matches, and the read is refused. */
static void get_refuses_corrupted_definition_object(void **state)
{
        fixture *f = *state;
        _cleanup_error_ agora_error_t err = NULL;
        registry_view *v = NULL;
        json_t *def = NULL;
        int status;

        populate(f);
        free(run(&status,
                 "cd '%s' && o=$(git rev-parse HEAD:subagents/coder.json) && "
                 "p=objects/$(echo $o | cut -c1-2)/$(echo $o | cut -c3-) && chmod 644 $p && "
                 "python3 -c 'import sys, zlib; d = zlib.decompress(open(sys.argv[1], \"rb\").read()); "
                 "open(sys.argv[1], \"wb\").write(zlib.compress(d.replace(b\"/bin/agent\", b\"/bin/evil!\")))' $p",
                 f->path));
        assert_int_equal(status, 0);
        assert_int_equal(registry_view_open(f->r, NULL, &v, &err), 0);
        assert_int_equal(registry_view_get(v, REGISTRY_SUBAGENT, "coder", &def, NULL, &err), -1);
        assert_null(def);
        assert_int_equal(err->kind, AGORA_ERR_INTEGRITY);
        assert_non_null(strstr(err->msg, "corrupt object store"));
        registry_view_free(v);
}

/* Same bytes, other git mode: a symlink whose target text is the JSON. */
static void view_get_refuses_symlinked_definition(void **state)
{
        fixture *f = *state;
        _cleanup_error_ agora_error_t err = NULL;
        registry_view *v = NULL;
        lines l = {0};

        populate(f);
        tamper(f, "git update-index --cacheinfo 120000,$(git rev-parse HEAD:envs/prod.json),envs/prod.json");
        assert_int_equal(registry_view_open(f->r, NULL, &v, &err), 0);
        assert_int_equal(registry_view_get(v, REGISTRY_ENV, "prod", NULL, NULL, &err), -1);
        assert_int_equal(err->kind, AGORA_ERR_INTEGRITY);
        assert_string_equal(err->msg, "env 'prod': 'envs/prod.json': mode 120000, want a regular file (100644)");
        assert_int_equal(registry_view_verify(v, collect, &l, NULL, &err), 1);
        assert_true(has_line(&l, "'envs/prod.json': mode 120000, want a regular file (100644)"));
        registry_view_free(v);
}

/* An executable definition is reported once: the tarball it names is still
 * attributed to it, not also reported as used by nothing. */
static void verify_reports_executable_definition_once(void **state)
{
        fixture *f = *state;
        lines l = {0};

        populate(f);
        tamper(f, "git update-index --cacheinfo "
                  "100755,$(git rev-parse HEAD:capabilities/echo-cap.json),capabilities/echo-cap.json");
        assert_int_equal(verify_head(f, &l), 1);
        assert_true(has_line(&l, "'capabilities/echo-cap.json': mode 100755, want a regular file (100644)"));
}

static void verify_reports_symlinked_blob(void **state)
{
        fixture *f = *state;
        lines l = {0};
        char edits[256], want[256];

        populate(f);
        snprintf(edits, sizeof(edits),
                 "git update-index --cacheinfo 120000,$(git rev-parse HEAD:blobs/sha256/%1$s),blobs/sha256/%1$s",
                 cap_hex);
        tamper(f, edits);
        assert_int_equal(verify_head(f, &l), 1);
        snprintf(want, sizeof(want),
                 "capability 'echo-cap': 'blobs/sha256/%s': mode 120000, want a regular file (100644)", cap_hex);
        assert_true(has_line(&l, want));
}

/* A definition whose "entries" lies about its (intact, canonical) tarball. */
static void verify_and_resolve_compare_definition_with_tarball(void **state)
{
        fixture *f = *state;
        _cleanup_error_ agora_error_t err = NULL;
        registry_view *v = NULL;
        json_t *out = NULL;
        lines l = {0};

        populate(f);
        tamper(f, "o=$(git cat-file blob HEAD:capabilities/echo-cap.json | sed 's/\"entries\":1,/\"entries\":7,/' | "
                  "git hash-object -w --stdin) && git update-index --cacheinfo 100644,$o,capabilities/echo-cap.json");
        assert_int_equal(verify_head(f, &l), 1);
        assert_true(has_line(&l, "capability 'echo-cap': definition says 7 entries, tarball has 1"));
        assert_int_equal(registry_view_open(f->r, NULL, &v, &err), 0);
        assert_int_equal(resolve_subagent(v, "coder", "prod", &out, &err), -1);
        assert_null(out);
        assert_int_equal(err->kind, AGORA_ERR_INTEGRITY);
        assert_string_equal(err->msg,
                            "subagent 'coder': capability 'echo-cap': definition says 7 entries, tarball has 1");
        registry_view_free(v);
}

/* GNU tar's tarball of a harmless file, under its real sha256 and with a
 * definition that describes it: intact, but not what agora builds. */
static void verify_and_resolve_refuse_non_canonical_tarball(void **state)
{
        fixture *f = *state;
        _cleanup_error_ agora_error_t err = NULL;
        registry_view *v = NULL;
        json_t *out = NULL;
        lines l = {0};
        char want[256];
        int status;

        populate(f);
        _cleanup_free_ char *sha = run(&status,
                                       "cd %1$s && mkdir -p gnu && echo hi >gnu/f && tar -C gnu -cf gnu.tar f && "
                                       "sha256sum <gnu.tar | cut -c1-64",
                                       f->dir);
        assert_int_equal(status, 0);
        sha[64] = '\0';
        char edits[1024];
        snprintf(edits, sizeof(edits),
                 "b=$(git hash-object -w %1$s/gnu.tar) && "
                 "d=$(printf '{\"contentHash\":\"sha256:%2$s\",\"entries\":1,\"kind\":\"capability\","
                 "\"name\":\"echo-cap\",\"size\":%%s}' $(stat -c %%s %1$s/gnu.tar) | git hash-object -w --stdin) && "
                 "git update-index --add --cacheinfo 100644,$b,blobs/sha256/%2$s && "
                 "git update-index --cacheinfo 100644,$d,capabilities/echo-cap.json && "
                 "printf '0 %%040d\\tblobs/sha256/%3$s\\n' 0 | git update-index --index-info",
                 f->dir, sha, cap_hex);
        tamper(f, edits);
        snprintf(want, sizeof(want), "capability 'echo-cap': blob sha256:%s: tarball is not in canonical form", sha);
        assert_int_equal(verify_head(f, &l), 1);
        assert_true(has_line(&l, want));
        assert_int_equal(registry_view_open(f->r, NULL, &v, &err), 0);
        assert_int_equal(resolve_subagent(v, "coder", "prod", &out, &err), -1);
        assert_null(out);
        assert_int_equal(err->kind, AGORA_ERR_INTEGRITY);
        assert_non_null(strstr(err->msg, want));
        registry_view_free(v);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fixture_setup, fixture_teardown)
int main(void)
{
        const struct CMUnitTest tests[] = {
                T(clean_registry_verifies),
                T(get_refuses_corrupted_definition_object),
                T(verify_reports_swapped_blob_with_both_hashes),
                T(view_blob_refuses_swapped_blob),
                T(resolve_refuses_swapped_blob),
                T(older_commit_still_verifies),
                T(non_canonical_definition_is_refused),
                T(verify_reports_unexpected_path),
                T(verify_reports_definition_under_wrong_name),
                T(verify_reports_dangling_capability_reference),
                T(view_get_refuses_symlinked_definition),
                T(verify_reports_executable_definition_once),
                T(verify_reports_symlinked_blob),
                T(verify_and_resolve_compare_definition_with_tarball),
                T(verify_and_resolve_refuse_non_canonical_tarball),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
