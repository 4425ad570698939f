/* SPDX-License-Identifier: Apache-2.0 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "common/cleanup.h"
#include "common/name.h"

static void expect_name_error(const char *kind, const char *name, const char *want)
{
        _cleanup_error_ agora_error_t err = NULL;

        assert_int_equal(agora_name_check(kind, name, &err), -1);
        assert_int_equal(err->kind, AGORA_ERR_USAGE);
        assert_int_equal(agora_error_exit_code(err), 2);
        assert_string_equal(agora_error_message(err), want);
}

static void expect_key_error(const char *key, const char *want)
{
        _cleanup_error_ agora_error_t err = NULL;

        assert_int_equal(agora_env_key_check(key, &err), -1);
        assert_int_equal(err->kind, AGORA_ERR_USAGE);
        assert_string_equal(agora_error_message(err), want);
}

static void test_accepts_ordinary_names(void **state)
{
        agora_error_t err = NULL;

        (void)state;
        assert_int_equal(agora_name_check("capability", "echo-cap", &err), 0);
        assert_int_equal(agora_name_check("capability", "a", &err), 0);
        assert_int_equal(agora_name_check("env", "Prod_2.v1-x", &err), 0);
        assert_int_equal(agora_name_check("profile", "x.", &err), 0);
        assert_null(err);
}

static void test_accepts_exactly_128_bytes(void **state)
{
        char name[AGORA_NAME_MAX + 1];
        agora_error_t err = NULL;

        (void)state;
        memset(name, 'a', AGORA_NAME_MAX);
        name[AGORA_NAME_MAX] = '\0';
        assert_int_equal(agora_name_check("env", name, &err), 0);
}

static void test_rejects_empty(void **state)
{
        (void)state;
        expect_name_error("capability", "", "capability name '': must not be empty");
}

static void test_rejects_too_long(void **state)
{
        char name[201];

        (void)state;
        memset(name, 'a', 200);
        name[200] = '\0';
        expect_name_error("env", name, "env name (200 bytes): longer than 128 bytes");
}

static void test_rejects_slash(void **state)
{
        (void)state;
        expect_name_error("capability", "a/b",
                          "capability name 'a/b': '/' is not allowed (use letters, digits, '.', '_' and '-')");
}

static void test_rejects_dotdot(void **state)
{
        (void)state;
        expect_name_error("subagent", "..", "subagent name '..': must not start with '.'");
}

static void test_rejects_hidden(void **state)
{
        (void)state;
        expect_name_error("profile", ".git", "profile name '.git': must not start with '.'");
}

static void test_rejects_leading_dash(void **state)
{
        (void)state;
        expect_name_error("capability", "-rf", "capability name '-rf': must not start with '-'");
}

static void test_rejects_space(void **state)
{
        (void)state;
        expect_name_error("env", "a b", "env name 'a b': ' ' is not allowed (use letters, digits, '.', '_' and '-')");
}

static void test_rejects_control_char_escaped_one_line(void **state)
{
        (void)state;
        expect_name_error(
                "env", "a\nb\x1b[31m",
                "env name 'a\\x0ab\\x1b[31m': '\\x0a' is not allowed (use letters, digits, '.', '_' and '-')");
}

static void test_rejects_non_ascii_escaped(void **state)
{
        (void)state;
        /* "é" in UTF-8 */
        expect_name_error(
                "capability", "caf\xc3\xa9",
                "capability name 'caf\\xc3\\xa9': '\\xc3' is not allowed (use letters, digits, '.', '_' and '-')");
}

static void test_rejects_backslash_escaped(void **state)
{
        (void)state;
        expect_name_error("env", "a\\b",
                          "env name 'a\\x5cb': '\\x5c' is not allowed (use letters, digits, '.', '_' and '-')");
}

static void test_env_key_accepts(void **state)
{
        agora_error_t err = NULL;

        (void)state;
        assert_int_equal(agora_env_key_check("PATH", &err), 0);
        assert_int_equal(agora_env_key_check("_x1", &err), 0);
        assert_int_equal(agora_env_key_check("a_B_9", &err), 0);
        assert_null(err);
}

static void test_env_key_rejects_empty(void **state)
{
        (void)state;
        expect_key_error("", "env key '': must not be empty");
}

static void test_env_key_rejects_leading_digit(void **state)
{
        (void)state;
        expect_key_error("1ABC", "env key '1ABC': must not start with a digit");
}

static void test_env_key_rejects_equals_and_dash(void **state)
{
        (void)state;
        expect_key_error("A=B", "env key 'A=B': '=' is not allowed (use letters, digits and '_')");
        expect_key_error("A-B", "env key 'A-B': '-' is not allowed (use letters, digits and '_')");
}

static void test_env_key_rejects_too_long(void **state)
{
        char key[130];

        (void)state;
        memset(key, 'K', 129);
        key[129] = '\0';
        expect_key_error(key, "env key (129 bytes): longer than 128 bytes");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_accepts_ordinary_names),
                cmocka_unit_test(test_accepts_exactly_128_bytes),
                cmocka_unit_test(test_rejects_empty),
                cmocka_unit_test(test_rejects_too_long),
                cmocka_unit_test(test_rejects_slash),
                cmocka_unit_test(test_rejects_dotdot),
                cmocka_unit_test(test_rejects_hidden),
                cmocka_unit_test(test_rejects_leading_dash),
                cmocka_unit_test(test_rejects_space),
                cmocka_unit_test(test_rejects_control_char_escaped_one_line),
                cmocka_unit_test(test_rejects_non_ascii_escaped),
                cmocka_unit_test(test_rejects_backslash_escaped),
                cmocka_unit_test(test_env_key_accepts),
                cmocka_unit_test(test_env_key_rejects_empty),
                cmocka_unit_test(test_env_key_rejects_leading_digit),
                cmocka_unit_test(test_env_key_rejects_equals_and_dash),
                cmocka_unit_test(test_env_key_rejects_too_long),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
