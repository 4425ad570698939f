/* SPDX-License-Identifier: Apache-2.0 */
/* Resolution: what a dispatch would run, and the errors an operator sees. */
#include "registry/resolve.h"
#include "tests/registry/registry-test.h"

/* sha256 of a-cap's and b-cap's tarballs, set by populate(). */
static char a_hash[AGORA_HASH_STR_LEN + 1], b_hash[AGORA_HASH_STR_LEN + 1];
/* The canonical definitions populate() must produce, written out by hand. */
#define CODER_JSON                                                       \
        "{\"capabilities\":[\"a-cap\",\"b-cap\"],\"entrypoint\":\"/bin/" \
        "agent\",\"kind\":\"subagent\",\"name\":\"coder\","              \
        "\"profile\":\"default\"}"
#define PROD_JSON "{\"kind\":\"env\",\"name\":\"prod\",\"secrets\":{},\"values\":{\"LANG\":\"C\"}}"

static void populate(fixture *f)
{
        _cleanup_error_ agora_error_t err = NULL;
        json_t *coder = objects_subagent_new("coder", "/bin/agent", NULL);
        json_t *prod = objects_env_new("prod");

        agora_hash b = put_tar_capability(f->r, "b-cap", "bye\n");
        agora_hash a = put_tar_capability(f->r, "a-cap", "hello\n");

        agora_hash_format(&a, a_hash);
        agora_hash_format(&b, b_hash);
        assert_int_equal(objects_subagent_add_capability(coder, "b-cap", &err), 0);
        assert_int_equal(objects_subagent_add_capability(coder, "a-cap", &err), 0);
        put_commit(f->r, REGISTRY_SUBAGENT, "coder", coder, "add coder");
        assert_int_equal(objects_env_set_value(prod, "LANG", "C", &err), 0);
        put_commit(f->r, REGISTRY_ENV, "prod", prod, "add prod");
}

static json_t *resolve_head(fixture *f, const char *subagent, const char *env, agora_error_t *err)
{
        registry_view *v = NULL;
        json_t *out = NULL;

        assert_int_equal(registry_view_open(f->r, NULL, &v, err), 0);
        if (resolve_subagent(v, subagent, env, &out, err) < 0)
                out = NULL;
        registry_view_free(v);
        return out;
}

static void resolve_names_every_hash(void **state)
{
        fixture *f = *state;
        _cleanup_error_ agora_error_t err = NULL;
        char sub_hash[AGORA_HASH_STR_LEN + 1], env_hash[AGORA_HASH_STR_LEN + 1];
        agora_hash h;

        populate(f);
        _cleanup_json_ json_t *out = resolve_head(f, "coder", "prod", &err);
        assert_non_null(out);
        _cleanup_free_ char *head = run(NULL, "git -C %s rev-parse HEAD", f->path);
        head[40] = '\0';
        agora_hash_buffer(CODER_JSON, strlen(CODER_JSON), &h);
        agora_hash_format(&h, sub_hash);
        agora_hash_buffer(PROD_JSON, strlen(PROD_JSON), &h);
        agora_hash_format(&h, env_hash);
        _cleanup_json_ json_t *want =
                json_pack("{s:{s:s,s:s}, s:[{s:s,s:s},{s:s,s:s}], s:{s:s,s:s}, s:s, s:s, s:s}", "subagent", "name",
                          "coder", "contentHash", sub_hash, "capabilities", "name", "a-cap", "contentHash", a_hash,
                          "name", "b-cap", "contentHash", b_hash, "env", "name", "prod", "contentHash", env_hash,
                          "profile", "default", "entrypoint", "/bin/agent", "registryCommit", head);
        if (!json_equal(out, want)) {
                _cleanup_free_ char *got = json_dumps(out, JSON_SORT_KEYS);
                fail_msg("resolved: %s", got);
        }
}

static void resolve_unknown_subagent(void **state)
{
        fixture *f = *state;
        _cleanup_error_ agora_error_t err = NULL;

        populate(f);
        assert_null(resolve_head(f, "ghost", "prod", &err));
        assert_int_equal(err->kind, AGORA_ERR_NOTFOUND);
        assert_string_equal(err->msg, "subagent 'ghost': not registered");
}

static void resolve_unknown_env(void **state)
{
        fixture *f = *state;
        _cleanup_error_ agora_error_t err = NULL;

        populate(f);
        assert_null(resolve_head(f, "coder", "staging", &err));
        assert_int_equal(err->kind, AGORA_ERR_NOTFOUND);
        assert_string_equal(err->msg, "env 'staging': not registered");
}

static void resolve_missing_capability(void **state)
{
        fixture *f = *state;
        _cleanup_error_ agora_error_t err = NULL;

        populate(f);
        /* agora refuses to make this state, so make it with stock git. */
        tamper(f, "printf '0 0000000000000000000000000000000000000000\\tcapabilities/b-cap.json\\n' | "
                  "git update-index --index-info");
        assert_null(resolve_head(f, "coder", "prod", &err));
        assert_int_equal(err->kind, AGORA_ERR_NOTFOUND);
        assert_string_equal(err->msg, "subagent 'coder': capability 'b-cap': not registered");
}

static void resolve_reads_the_view_commit(void **state)
{
        fixture *f = *state;
        _cleanup_error_ agora_error_t err = NULL;
        registry_view *v = NULL;
        json_t *out = NULL;

        populate(f);
        /* HEAD~1 is before env prod existed. */
        assert_int_equal(registry_view_open(f->r, "HEAD~1", &v, &err), 0);
        assert_int_equal(resolve_subagent(v, "coder", "prod", &out, &err), -1);
        assert_string_equal(err->msg, "env 'prod': not registered");
        registry_view_free(v);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fixture_setup, fixture_teardown)
int main(void)
{
        const struct CMUnitTest tests[] = {
                T(resolve_names_every_hash),   T(resolve_unknown_subagent),      T(resolve_unknown_env),
                T(resolve_missing_capability), T(resolve_reads_the_view_commit),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
