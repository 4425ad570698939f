/* SPDX-License-Identifier: Apache-2.0 */
/* The CLI's pure helpers: default paths, the public key path, counts, sizes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/cleanup.h"
#include "control/cli.h"

static void clear_env(void)
{
        unsetenv("AGORA_REGISTRY");
        unsetenv("AGORA_KEY");
        unsetenv("XDG_DATA_HOME");
        unsetenv("XDG_CONFIG_HOME");
        setenv("HOME", "/home/op", 1);
}

static char *registry_for(const char *arg)
{
        _cleanup_error_ agora_error_t err = NULL;
        char *p = NULL;

        assert_int_equal(cli_default_registry_path(arg, &p, &err), 0);
        return p;
}

static char *key_for(const char *arg)
{
        _cleanup_error_ agora_error_t err = NULL;
        char *p = NULL;

        assert_int_equal(cli_default_key_path(arg, &p, &err), 0);
        return p;
}

static void test_registry_option_wins(void **state)
{
        (void)state;
        clear_env();
        setenv("AGORA_REGISTRY", "/env/reg", 1);
        _cleanup_free_ char *p = registry_for("/opt/reg");
        assert_string_equal(p, "/opt/reg");
}

static void test_registry_env_then_xdg_then_home(void **state)
{
        (void)state;
        clear_env();
        setenv("AGORA_REGISTRY", "/env/reg", 1);
        setenv("XDG_DATA_HOME", "/xdg", 1);
        _cleanup_free_ char *a = registry_for(NULL);
        assert_string_equal(a, "/env/reg");
        unsetenv("AGORA_REGISTRY");
        _cleanup_free_ char *b = registry_for(NULL);
        assert_string_equal(b, "/xdg/agora/registry");
        unsetenv("XDG_DATA_HOME");
        _cleanup_free_ char *c = registry_for(NULL);
        assert_string_equal(c, "/home/op/.local/share/agora/registry");
}

static void test_relative_xdg_is_ignored(void **state)
{
        (void)state;
        clear_env();
        setenv("XDG_CONFIG_HOME", "relative/config", 1);
        _cleanup_free_ char *p = key_for(NULL);
        assert_string_equal(p, "/home/op/.config/agora/operator.key");
}

static void test_key_env_then_xdg(void **state)
{
        (void)state;
        clear_env();
        setenv("AGORA_KEY", "/k/op.key", 1);
        _cleanup_free_ char *a = key_for(NULL);
        assert_string_equal(a, "/k/op.key");
        unsetenv("AGORA_KEY");
        setenv("XDG_CONFIG_HOME", "/cfg", 1);
        _cleanup_free_ char *b = key_for(NULL);
        assert_string_equal(b, "/cfg/agora/operator.key");
}

static void test_no_home_is_an_error(void **state)
{
        _cleanup_error_ agora_error_t err = NULL;
        char *p = NULL;

        (void)state;
        clear_env();
        unsetenv("HOME");
        assert_int_equal(cli_default_registry_path(NULL, &p, &err), -1);
        assert_null(p);
        assert_non_null(strstr(agora_error_message(err), "HOME"));
}

static void test_empty_option_is_usage(void **state)
{
        _cleanup_error_ agora_error_t err = NULL;
        char *p = NULL;

        (void)state;
        assert_int_equal(cli_default_key_path("", &p, &err), -1);
        assert_int_equal(agora_error_exit_code(err), 2);
}

static void test_pubkey_path(void **state)
{
        (void)state;
        _cleanup_free_ char *a = cli_pubkey_path_for("/k/operator.key");
        _cleanup_free_ char *b = cli_pubkey_path_for("/k/operator");
        _cleanup_free_ char *c = cli_pubkey_path_for("/k/.key");
        _cleanup_free_ char *d = cli_pubkey_path_for("/k/x.key.bak");
        assert_string_equal(a, "/k/operator.pub");
        assert_string_equal(b, "/k/operator.pub");
        assert_string_equal(c, "/k/.pub");
        assert_string_equal(d, "/k/x.key.bak.pub");
}

static void test_format_size(void **state)
{
        char out[32];

        (void)state;
        output_format_size(512, out);
        assert_string_equal(out, "512 bytes");
        output_format_size(1536, out);
        assert_string_equal(out, "1.5 KB");
        output_format_size(90ull << 20, out);
        assert_string_equal(out, "90 MB");
        output_format_size(200ull << 30, out);
        assert_string_equal(out, "200 GB");
}

static void test_table_is_complete(void **state)
{
        (void)state;
        const char *verbs[] = {"init", "keygen", "register", "assign",  "unassign",
                               "list", "show",   "log",      "resolve", "verify"};
        for (size_t i = 0; i < ARRAY_SIZE(verbs); i++) {
                const cli_command *c = cli_command_find(verbs[i]);
                assert_non_null(c);
                assert_non_null(c->fn);
                assert_non_null(c->summary);
        }
        assert_null(cli_command_find("frob"));
        /* Mutating verbs prove the key id they put on their commits by
         * loading its secret half. */
        assert_true(cli_command_find("register")->flags & CMD_NEEDS_KEY);
        assert_true(cli_command_find("assign")->flags & CMD_NEEDS_KEY);
        assert_true(cli_command_find("unassign")->flags & CMD_NEEDS_KEY);
        assert_false(cli_command_find("list")->flags & CMD_NEEDS_KEY);
        assert_false(cli_command_find("verify")->flags & CMD_NEEDS_KEY);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_registry_option_wins),
                cmocka_unit_test(test_registry_env_then_xdg_then_home),
                cmocka_unit_test(test_relative_xdg_is_ignored),
                cmocka_unit_test(test_key_env_then_xdg),
                cmocka_unit_test(test_no_home_is_an_error),
                cmocka_unit_test(test_empty_option_is_usage),
                cmocka_unit_test(test_pubkey_path),
                cmocka_unit_test(test_format_size),
                cmocka_unit_test(test_table_is_complete),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
