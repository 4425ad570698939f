/* SPDX-License-Identifier: Apache-2.0 */
/* Definition schemas: what is refused, and what the operator is told. */
#include "tests/registry/registry-test.h"

#define HASH "sha256:5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"

static json_t *capability(void)
{
        return json_pack("{s:s,s:s,s:s,s:i,s:i}", "kind", "capability", "name", "c", "contentHash", HASH, "size", 6,
                         "entries", 1);
}

/* Check DEF as capability 'c' and expect a usage error reading WANT. */
static void expect_refused(registry_kind k, const char *name, json_t *def, const char *want)
{
        _cleanup_error_ agora_error_t err = NULL;

        assert_int_equal(objects_check(k, name, def, &err), -1);
        assert_int_equal(err->kind, AGORA_ERR_USAGE);
        assert_string_equal(err->msg, want);
        json_decref(def);
}

static void capability_from_constructor_passes(void **state)
{
        _cleanup_error_ agora_error_t err = NULL;
        agora_hash h;
        (void)state;

        assert_int_equal(agora_hash_parse(HASH, &h, NULL), 0);
        _cleanup_json_ json_t *def = objects_capability_new("c", &h, 6, 1);
        assert_int_equal(objects_check(REGISTRY_CAPABILITY, "c", def, &err), 0);
        _cleanup_json_ json_t *want = capability();
        assert_true(json_equal(def, want));
}

static void unknown_key_is_refused(void **state)
{
        json_t *def = capability();
        (void)state;
        json_object_set_new(def, "extra", json_true());
        expect_refused(REGISTRY_CAPABILITY, "c", def, "capability 'c': unknown key 'extra'");
}

static void size_as_string_is_refused(void **state)
{
        json_t *def = capability();
        (void)state;
        json_object_set_new(def, "size", json_string("6"));
        expect_refused(REGISTRY_CAPABILITY, "c", def, "capability 'c': 'size' must be an integer of at least 0");
}

static void negative_entries_is_refused(void **state)
{
        json_t *def = capability();
        (void)state;
        json_object_set_new(def, "entries", json_integer(-1));
        expect_refused(REGISTRY_CAPABILITY, "c", def, "capability 'c': 'entries' must be an integer of at least 0");
}

static void missing_content_hash_is_refused(void **state)
{
        json_t *def = capability();
        (void)state;
        json_object_del(def, "contentHash");
        expect_refused(REGISTRY_CAPABILITY, "c", def, "capability 'c': missing required key 'contentHash'");
}

static void sha1_content_hash_is_refused(void **state)
{
        _cleanup_error_ agora_error_t err = NULL;
        json_t *def = capability();
        (void)state;
        json_object_set_new(def, "contentHash", json_string("sha1:ce013625030ba8dba906f756967f9e9ca394464a"));
        assert_int_equal(objects_check(REGISTRY_CAPABILITY, "c", def, &err), -1);
        assert_int_equal(err->kind, AGORA_ERR_USAGE);
        assert_non_null(strstr(err->msg, "capability 'c': 'contentHash'"));
        json_decref(def);
}

static void kind_mismatch_is_refused(void **state)
{
        (void)state;
        expect_refused(REGISTRY_SUBAGENT, "c", capability(),
                       "subagent 'c': 'kind' must be 'subagent', not 'capability'");
}

static void name_mismatch_is_refused(void **state)
{
        (void)state;
        expect_refused(REGISTRY_CAPABILITY, "d", capability(), "capability 'd': definition names 'c'");
}

static void bad_name_is_refused(void **state)
{
        _cleanup_error_ agora_error_t err = NULL;
        json_t *def = capability();
        (void)state;
        json_object_set_new(def, "name", json_string("../c"));
        assert_int_equal(objects_check(REGISTRY_CAPABILITY, "../c", def, &err), -1);
        assert_int_equal(err->kind, AGORA_ERR_USAGE);
        assert_non_null(strstr(err->msg, "capability name '../c'"));
        json_decref(def);
}

static void subagent_capabilities_stay_sorted_and_unique(void **state)
{
        _cleanup_error_ agora_error_t err = NULL;
        _cleanup_json_ json_t *def = objects_subagent_new("s", "/bin/agent", NULL);
        (void)state;

        assert_int_equal(objects_subagent_add_capability(def, "zeta", &err), 0);
        assert_int_equal(objects_subagent_add_capability(def, "alpha", &err), 0);
        assert_int_equal(objects_subagent_add_capability(def, "mid", &err), 0);
        assert_int_equal(objects_subagent_add_capability(def, "alpha", &err), 0);
        _cleanup_json_ json_t *want = json_pack("[sss]", "alpha", "mid", "zeta");
        assert_true(json_equal(json_object_get(def, "capabilities"), want));
        assert_string_equal(json_string_value(json_object_get(def, "profile")), OBJECTS_DEFAULT_PROFILE);
        assert_int_equal(objects_check(REGISTRY_SUBAGENT, "s", def, &err), 0);
}

static void subagent_unsorted_capabilities_are_refused(void **state)
{
        json_t *def = objects_subagent_new("s", "/bin/agent", "build");
        (void)state;
        json_object_set_new(def, "capabilities", json_pack("[ss]", "b", "a"));
        expect_refused(REGISTRY_SUBAGENT, "s", def,
                       "subagent 's': 'capabilities' must be sorted and unique ('a' after 'b')");
}

static void subagent_remove_unassigned_capability_is_notfound(void **state)
{
        _cleanup_error_ agora_error_t err = NULL;
        _cleanup_json_ json_t *def = objects_subagent_new("s", "/bin/agent", NULL);
        (void)state;

        assert_int_equal(objects_subagent_remove_capability(def, "x", &err), -1);
        assert_int_equal(err->kind, AGORA_ERR_NOTFOUND);
        assert_string_equal(err->msg, "subagent 's': capability 'x': not assigned");
}

static void entrypoint_with_newline_is_refused(void **state)
{
        (void)state;
        expect_refused(REGISTRY_SUBAGENT, "s", objects_subagent_new("s", "/bin/a\nb", NULL),
                       "subagent 's': 'entrypoint' must not contain control characters");
}

static void empty_entrypoint_is_refused(void **state)
{
        (void)state;
        expect_refused(REGISTRY_SUBAGENT, "s", objects_subagent_new("s", "", NULL),
                       "subagent 's': 'entrypoint' must not be empty");
}

static void relative_entrypoint_is_refused(void **state)
{
        (void)state;
        expect_refused(REGISTRY_SUBAGENT, "s", objects_subagent_new("s", "-h", NULL),
                       "subagent 's': 'entrypoint' must be an absolute path inside the cage (like /cap/NAME/run)");
}

static void secret_reference_forms(void **state)
{
        _cleanup_json_ json_t *env = objects_env_new("prod");
        (void)state;
        static const char *const good[] = {"env:GH_TOKEN", "file:/run/secrets/token"};
        static const char *const bad[] = {"foo", "env:1X", "env:", "file:relative", "file:"};

        for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
                _cleanup_error_ agora_error_t err = NULL;
                assert_int_equal(objects_env_set_secret(env, "TOKEN", good[i], &err), 0);
        }
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                _cleanup_error_ agora_error_t err = NULL;
                _cleanup_free_ char *want = NULL;
                assert_int_equal(objects_env_set_secret(env, "TOKEN", bad[i], &err), -1);
                assert_int_equal(err->kind, AGORA_ERR_USAGE);
                assert_true(asprintf(&want,
                                     "env 'prod': secret 'TOKEN': reference '%s' must be env:NAME or "
                                     "file:/absolute/path",
                                     bad[i]) > 0);
                assert_string_equal(err->msg, want);
        }
}

static void credential_looking_value_is_refused(void **state)
{
        _cleanup_error_ agora_error_t err = NULL;
        _cleanup_json_ json_t *env = objects_env_new("prod");
        (void)state;

        /* AWS's documented example access key id. */
        assert_int_equal(objects_env_set_value(env, "AWS_ID", "AKIAIOSFODNN7EXAMPLE", &err), -1);
        assert_int_equal(err->kind, AGORA_ERR_USAGE);
        assert_string_equal(err->msg, "env 'prod': value of 'AWS_ID' looks like a credential (AWS access key id); "
                                      "pass it as a reference: --secret AWS_ID=env:VAR or --secret AWS_ID=file:/path");
        assert_null(json_object_get(json_object_get(env, "values"), "AWS_ID"));
}

/* The same check on a definition read back: stock git can commit what
 * objects_env_set_value refuses, and verify and resolve must catch it. */
static void stored_credential_value_is_refused(void **state)
{
        json_t *env = json_pack("{s:s,s:s,s:{s:s},s:{}}", "kind", "env", "name", "prod", "values", "AWS_ID",
                                "AKIAIOSFODNN7EXAMPLE", "secrets");
        (void)state;
        expect_refused(REGISTRY_ENV, "prod", env,
                       "env 'prod': value of 'AWS_ID' looks like a credential (AWS access key id); "
                       "pass it as a reference: --secret AWS_ID=env:VAR or --secret AWS_ID=file:/path");
}

static void value_and_secret_replace_each_other(void **state)
{
        _cleanup_error_ agora_error_t err = NULL;
        _cleanup_json_ json_t *env = objects_env_new("prod");
        (void)state;

        assert_int_equal(objects_env_set_secret(env, "DB", "file:/run/db", &err), 0);
        assert_int_equal(objects_env_set_value(env, "DB", "localhost", &err), 0);
        _cleanup_json_ json_t *want = json_pack("{s:s,s:s,s:{s:s},s:{}}", "kind", "env", "name", "prod", "values", "DB",
                                                "localhost", "secrets");
        assert_true(json_equal(env, want));
        assert_int_equal(objects_check(REGISTRY_ENV, "prod", env, &err), 0);
}

static void env_key_in_both_is_refused(void **state)
{
        json_t *env = json_pack("{s:s,s:s,s:{s:s},s:{s:s}}", "kind", "env", "name", "e", "values", "K", "v", "secrets",
                                "K", "env:K");
        (void)state;
        expect_refused(REGISTRY_ENV, "e", env, "env 'e': 'K' is both a value and a secret");
}

static void env_bad_key_is_refused(void **state)
{
        _cleanup_error_ agora_error_t err = NULL;
        json_t *env = json_pack("{s:s,s:s,s:{s:s},s:{}}", "kind", "env", "name", "e", "values", "1X", "v", "secrets");
        (void)state;
        assert_int_equal(objects_check(REGISTRY_ENV, "e", env, &err), -1);
        assert_int_equal(err->kind, AGORA_ERR_USAGE);
        assert_non_null(strstr(err->msg, "env 'e': env key '1X'"));
        json_decref(env);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(capability_from_constructor_passes),
                cmocka_unit_test(unknown_key_is_refused),
                cmocka_unit_test(size_as_string_is_refused),
                cmocka_unit_test(negative_entries_is_refused),
                cmocka_unit_test(missing_content_hash_is_refused),
                cmocka_unit_test(sha1_content_hash_is_refused),
                cmocka_unit_test(kind_mismatch_is_refused),
                cmocka_unit_test(name_mismatch_is_refused),
                cmocka_unit_test(bad_name_is_refused),
                cmocka_unit_test(subagent_capabilities_stay_sorted_and_unique),
                cmocka_unit_test(subagent_unsorted_capabilities_are_refused),
                cmocka_unit_test(subagent_remove_unassigned_capability_is_notfound),
                cmocka_unit_test(entrypoint_with_newline_is_refused),
                cmocka_unit_test(relative_entrypoint_is_refused),
                cmocka_unit_test(empty_entrypoint_is_refused),
                cmocka_unit_test(secret_reference_forms),
                cmocka_unit_test(credential_looking_value_is_refused),
                cmocka_unit_test(stored_credential_value_is_refused),
                cmocka_unit_test(value_and_secret_replace_each_other),
                cmocka_unit_test(env_key_in_both_is_refused),
                cmocka_unit_test(env_bad_key_is_refused),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
