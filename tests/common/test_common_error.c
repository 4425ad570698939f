/* SPDX-License-Identifier: Apache-2.0 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/error.h"

static void test_set_returns_minus_one_and_fills(void **state)
{
        _cleanup_error_ agora_error_t err = NULL;

        (void)state;
        assert_int_equal(agora_error_set(&err, AGORA_ERR_NOTFOUND, "capability '%s': not found", "x"), -1);
        assert_int_equal(err->kind, AGORA_ERR_NOTFOUND);
        assert_int_equal(err->errnum, 0);
        assert_string_equal(agora_error_message(err), "capability 'x': not found");
}

static void test_set_errno_appends_strerror(void **state)
{
        _cleanup_error_ agora_error_t err = NULL;

        (void)state;
        assert_int_equal(agora_error_set_errno(&err, ENOENT, "'%s'", "/x"), -1);
        assert_int_equal(err->kind, AGORA_ERR_FAILED);
        assert_int_equal(err->errnum, ENOENT);
        assert_string_equal(agora_error_message(err), "'/x': No such file or directory");
}

static void test_set_replaces_previous(void **state)
{
        _cleanup_error_ agora_error_t err = NULL;

        (void)state;
        agora_error_set(&err, AGORA_ERR_USAGE, "first");
        agora_error_set(&err, AGORA_ERR_BUSY, "second");
        assert_int_equal(err->kind, AGORA_ERR_BUSY);
        assert_string_equal(agora_error_message(err), "second");
}

static void test_wrap_prefixes_and_keeps_kind(void **state)
{
        _cleanup_error_ agora_error_t err = NULL;

        (void)state;
        agora_error_set(&err, AGORA_ERR_INTEGRITY, "sha256 mismatch");
        assert_int_equal(agora_error_wrap(&err, "capability '%s'", "echo"), -1);
        assert_int_equal(agora_error_wrap(&err, "install"), -1);
        assert_int_equal(err->kind, AGORA_ERR_INTEGRITY);
        assert_string_equal(agora_error_message(err), "install: capability 'echo': sha256 mismatch");
}

static void test_wrap_without_error_is_harmless(void **state)
{
        agora_error_t err = NULL;

        (void)state;
        assert_int_equal(agora_error_wrap(&err, "ctx"), -1);
        assert_null(err);
        assert_int_equal(agora_error_wrap(NULL, "ctx"), -1);
}

static void test_release_clears_and_tolerates_null(void **state)
{
        agora_error_t err = NULL;

        (void)state;
        agora_error_set(&err, AGORA_ERR_FAILED, "x");
        agora_error_release(&err);
        assert_null(err);
        agora_error_release(&err);
        agora_error_release(NULL);
}

static void test_null_err_pointer_is_allowed(void **state)
{
        (void)state;
        assert_int_equal(agora_error_set(NULL, AGORA_ERR_FAILED, "ignored"), -1);
        assert_int_equal(agora_error_set_errno(NULL, EIO, "ignored"), -1);
}

static void test_exit_codes(void **state)
{
        agora_error_t err = NULL;

        (void)state;
        assert_int_equal(agora_error_exit_code(NULL), 0);
        agora_error_set(&err, AGORA_ERR_USAGE, "u");
        assert_int_equal(agora_error_exit_code(err), 2);
        agora_error_set(&err, AGORA_ERR_FAILED, "f");
        assert_int_equal(agora_error_exit_code(err), 1);
        agora_error_set(&err, AGORA_ERR_EXISTS, "e");
        assert_int_equal(agora_error_exit_code(err), 1);
        agora_error_set(&err, AGORA_ERR_INTEGRITY, "i");
        assert_int_equal(agora_error_exit_code(err), 1);
        agora_error_release(&err);
}

static void test_message_is_one_line(void **state)
{
        _cleanup_error_ agora_error_t err = NULL;

        (void)state;
        agora_error_set(&err, AGORA_ERR_FAILED, "'%s': bad", "evil\nFAKE: ok\r");
        agora_error_wrap(&err, "ctx\n%s", "more");
        assert_null(strchr(agora_error_message(err), '\n'));
        assert_null(strchr(agora_error_message(err), '\r'));
        assert_string_equal(agora_error_message(err), "ctx more: 'evil FAKE: ok ': bad");
}

static void test_message_of_no_error(void **state)
{
        (void)state;
        assert_string_equal(agora_error_message(NULL), "unknown error");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_set_returns_minus_one_and_fills),
                cmocka_unit_test(test_set_errno_appends_strerror),
                cmocka_unit_test(test_set_replaces_previous),
                cmocka_unit_test(test_wrap_prefixes_and_keeps_kind),
                cmocka_unit_test(test_wrap_without_error_is_harmless),
                cmocka_unit_test(test_release_clears_and_tolerates_null),
                cmocka_unit_test(test_null_err_pointer_is_allowed),
                cmocka_unit_test(test_exit_codes),
                cmocka_unit_test(test_message_is_one_line),
                cmocka_unit_test(test_message_of_no_error),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
