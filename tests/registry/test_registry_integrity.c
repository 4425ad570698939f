/* SPDX-License-Identifier: Apache-2.0 */
/* A registry edited behind agora's back is caught on every read path. */
#include "registry/resolve.h"
#include "tests/registry/registry-test.h"

/* sha256 of "hello\n" and of "evil\n", from sha256sum. */
#define HELLO_SHA256 "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
#define EVIL_SHA256 "886b67480dbe73b406ad83a1dd6d9596f93089d90c220ccfc91944c95f1c68c4"
#define SWAP_BLOB                                                \
        "o=$(printf 'evil\\n' | git hash-object -w --stdin) && " \
        "git update-index --cacheinfo 100644,$o,blobs/sha256/" HELLO_SHA256

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

        put_capability(f->r, "echo-cap", "hello\n");
        assert_int_equal(objects_subagent_add_capability(coder, "echo-cap", &err), 0);
        put_commit(f->r, REGISTRY_SUBAGENT, "coder", coder, "add coder");
        put_commit(f->r, REGISTRY_ENV, "prod", objects_env_new("prod"), "add prod");
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
        tamper(f, SWAP_BLOB);
        assert_int_equal(verify_head(f, &l), 1);
        assert_true(has_line(&l, "capability 'echo-cap': blob sha256:" HELLO_SHA256
                                 ": content hashes to sha256:" EVIL_SHA256));
}

static void view_blob_refuses_swapped_blob(void **state)
{
        fixture *f = *state;
        _cleanup_error_ agora_error_t err = NULL;
        registry_view *v = NULL;
        void *data = NULL;
        agora_hash h;

        populate(f);
        tamper(f, SWAP_BLOB);
        assert_int_equal(agora_hash_parse("sha256:" HELLO_SHA256, &h, NULL), 0);
        assert_int_equal(registry_view_open(f->r, NULL, &v, &err), 0);
        assert_int_equal(registry_view_blob(v, &h, "capability 'echo-cap'", &data, NULL, &err), -1);
        assert_null(data);
        assert_int_equal(err->kind, AGORA_ERR_INTEGRITY);
        assert_string_equal(err->msg, "capability 'echo-cap': blob sha256:" HELLO_SHA256
                                      ": content hashes to sha256:" EVIL_SHA256);
        registry_view_free(v);
}

static void resolve_refuses_swapped_blob(void **state)
{
        fixture *f = *state;
        _cleanup_error_ agora_error_t err = NULL;
        registry_view *v = NULL;
        json_t *out = NULL;

        populate(f);
        tamper(f, SWAP_BLOB);
        assert_int_equal(registry_view_open(f->r, NULL, &v, &err), 0);
        assert_int_equal(resolve_subagent(v, "coder", "prod", &out, &err), -1);
        assert_null(out);
        assert_int_equal(err->kind, AGORA_ERR_INTEGRITY);
        assert_non_null(strstr(err->msg, "capability 'echo-cap': blob sha256:" HELLO_SHA256
                                         ": content hashes to sha256:" EVIL_SHA256));
        registry_view_free(v);
}

static void older_commit_still_verifies(void **state)
{
        fixture *f = *state;
        _cleanup_error_ agora_error_t err = NULL;
        registry_view *v = NULL;
        lines l = {0};

        populate(f);
        tamper(f, SWAP_BLOB);
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
        assert_true(has_line(&l, "blob sha256:" HELLO_SHA256 ": not used by any capability"));
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
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
