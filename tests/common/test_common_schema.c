/* SPDX-License-Identifier: Apache-2.0 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "common/cleanup.h"
#include "common/schema.h"

static const char *const profile_keys[] = {"memory", "cpus", "env", "mounts", NULL};

static void expect_message(agora_error_t err, const char *want)
{
        assert_non_null(err);
        assert_int_equal(err->kind, AGORA_ERR_USAGE);
        assert_string_equal(agora_error_message(err), want);
}

static void test_check_keys_accepts_known(void **state)
{
        _cleanup_json_ json_t *o = json_pack("{s:s,s:i}", "memory", "64M", "cpus", 2);
        agora_error_t err = NULL;

        (void)state;
        assert_int_equal(schema_check_keys(o, profile_keys, "profile 'x'", &err), 0);
        assert_null(err);
}

static void test_check_keys_rejects_typo(void **state)
{
        _cleanup_json_ json_t *o = json_pack("{s:s}", "memroy", "64M");
        _cleanup_error_ agora_error_t err = NULL;

        (void)state;
        assert_int_equal(schema_check_keys(o, profile_keys, "profile 'x'", &err), -1);
        expect_message(err, "profile 'x': unknown key 'memroy'");
}

static void test_check_keys_rejects_non_mapping(void **state)
{
        _cleanup_json_ json_t *a = json_array();
        _cleanup_error_ agora_error_t err = NULL;

        (void)state;
        assert_int_equal(schema_check_keys(a, profile_keys, "profile 'x'", &err), -1);
        expect_message(err, "profile 'x': must be a mapping, not a list");
}

static void test_get_object_type_mismatch(void **state)
{
        _cleanup_json_ json_t *o = json_pack("{s:s}", "values", "oops");
        _cleanup_error_ agora_error_t err = NULL;
        json_t *v = NULL;

        (void)state;
        assert_int_equal(schema_get_object(o, "values", false, "env file 'a.yaml'", &v, &err), -1);
        expect_message(err, "env file 'a.yaml': 'values' must be a mapping, not a string");
        assert_null(v);
}

static void test_get_required_missing(void **state)
{
        _cleanup_json_ json_t *o = json_object();
        _cleanup_error_ agora_error_t err = NULL;
        json_t *v = NULL;

        (void)state;
        assert_int_equal(schema_get_array(o, "mounts", false, "profile 'x'", &v, &err), -1);
        expect_message(err, "profile 'x': missing required key 'mounts'");
}

static void test_get_optional_absent_or_null(void **state)
{
        _cleanup_json_ json_t *o = json_pack("{s:n}", "env");
        agora_error_t err = NULL;
        json_t *v = (json_t *)1;
        const char *s = "sentinel";

        (void)state;
        assert_int_equal(schema_get_object(o, "env", true, "p", &v, &err), 0);
        assert_null(v);
        assert_int_equal(schema_get_string(o, "absent", true, "p", &s, &err), 0);
        assert_null(s);
        assert_null(err);
}

static void test_get_string_and_array_present(void **state)
{
        _cleanup_json_ json_t *o = json_pack("{s:s,s:[i]}", "name", "echo", "list", 1);
        agora_error_t err = NULL;
        const char *s = NULL;
        json_t *a = NULL;

        (void)state;
        assert_int_equal(schema_get_string(o, "name", false, "p", &s, &err), 0);
        assert_string_equal(s, "echo");
        assert_int_equal(schema_get_array(o, "list", false, "p", &a, &err), 0);
        assert_int_equal(json_array_size(a), 1);
}

static void test_get_uint_integer_and_size_string(void **state)
{
        _cleanup_json_ json_t *o = json_pack("{s:i,s:s}", "cpus", 4, "memory", "64M");
        agora_error_t err = NULL;
        uint64_t v = 0;
        bool present = false;

        (void)state;
        assert_int_equal(schema_get_uint(o, "cpus", false, "p", &v, &present, &err), 0);
        assert_int_equal(v, 4);
        assert_true(present);
        assert_int_equal(schema_get_uint(o, "memory", false, "p", &v, &present, &err), 0);
        assert_int_equal(v, 64ull * 1024 * 1024);
}

static void test_get_uint_absent_optional_not_present(void **state)
{
        _cleanup_json_ json_t *o = json_object();
        agora_error_t err = NULL;
        uint64_t v = 77;
        bool present = true;

        (void)state;
        assert_int_equal(schema_get_uint(o, "memory", true, "p", &v, &present, &err), 0);
        assert_false(present);
        assert_int_equal(v, 77);
}

static void test_get_uint_rejects_negative_and_junk(void **state)
{
        _cleanup_json_ json_t *o = json_pack("{s:i,s:s,s:b}", "a", -1, "b", "lots", "c", 1);
        _cleanup_error_ agora_error_t err = NULL;
        uint64_t v;

        (void)state;
        assert_int_equal(schema_get_uint(o, "a", false, "p", &v, NULL, &err), -1);
        expect_message(err, "p: 'a' must not be negative");
        assert_int_equal(schema_get_uint(o, "b", false, "p", &v, NULL, &err), -1);
        assert_non_null(strstr(agora_error_message(err), "'b' is 'lots'"));
        assert_int_equal(schema_get_uint(o, "c", false, "p", &v, NULL, &err), -1);
        expect_message(err, "p: 'c' must be a number, not a boolean");
}

static void test_parse_size_accepts(void **state)
{
        uint64_t v = 0;

        (void)state;
        assert_int_equal(schema_parse_size("1048576", &v), 0);
        assert_int_equal(v, 1048576);
        assert_int_equal(schema_parse_size("0", &v), 0);
        assert_int_equal(v, 0);
        assert_int_equal(schema_parse_size("64M", &v), 0);
        assert_int_equal(v, 67108864);
        assert_int_equal(schema_parse_size("64MiB", &v), 0);
        assert_int_equal(v, 67108864);
        assert_int_equal(schema_parse_size("2G", &v), 0);
        assert_int_equal(v, 2147483648ull);
        assert_int_equal(schema_parse_size("1T", &v), 0);
        assert_int_equal(v, 1099511627776ull);
        assert_int_equal(schema_parse_size("4k", &v), 0);
        assert_int_equal(v, 4096);
        assert_int_equal(schema_parse_size("512B", &v), 0);
        assert_int_equal(v, 512);
        assert_int_equal(schema_parse_size("18446744073709551615", &v), 0);
        assert_int_equal(v, UINT64_MAX);
}

static void test_parse_size_rejects(void **state)
{
        static const char *const bad[] = {"",
                                          "-1",
                                          "+1",
                                          " 1",
                                          "1 ",
                                          "M",
                                          "1X",
                                          "1Mi",
                                          "1.5G",
                                          "0x10",
                                          "1MM",
                                          "1iB",
                                          "18446744073709551616",
                                          "17179869184G"};
        uint64_t v = 42;

        (void)state;
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                if (schema_parse_size(bad[i], &v) != -1)
                        fail_msg("accepted '%s'", bad[i]);
        }
        assert_int_equal(v, 42);
}

static void test_parse_uint(void **state)
{
        uint64_t v = 0;

        (void)state;
        assert_int_equal(schema_parse_uint("42", 100, &v), 0);
        assert_int_equal(v, 42);
        assert_int_equal(schema_parse_uint("0", 100, &v), 0);
        assert_int_equal(schema_parse_uint("101", 100, &v), -1);
        assert_int_equal(schema_parse_uint("-1", 100, &v), -1);
        assert_int_equal(schema_parse_uint(" 1", 100, &v), -1);
        assert_int_equal(schema_parse_uint("1x", 100, &v), -1);
        assert_int_equal(schema_parse_uint("", 100, &v), -1);
        assert_int_equal(schema_parse_uint("99999999999999999999999", UINT64_MAX, &v), -1);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_check_keys_accepts_known),
                cmocka_unit_test(test_check_keys_rejects_typo),
                cmocka_unit_test(test_check_keys_rejects_non_mapping),
                cmocka_unit_test(test_get_object_type_mismatch),
                cmocka_unit_test(test_get_required_missing),
                cmocka_unit_test(test_get_optional_absent_or_null),
                cmocka_unit_test(test_get_string_and_array_present),
                cmocka_unit_test(test_get_uint_integer_and_size_string),
                cmocka_unit_test(test_get_uint_absent_optional_not_present),
                cmocka_unit_test(test_get_uint_rejects_negative_and_junk),
                cmocka_unit_test(test_parse_uint),
                cmocka_unit_test(test_parse_size_accepts),
                cmocka_unit_test(test_parse_size_rejects),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
