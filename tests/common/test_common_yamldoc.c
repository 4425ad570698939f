/* SPDX-License-Identifier: Apache-2.0 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/yamldoc.h"

static json_t *load_ok(const char *text)
{
        json_t *v = NULL;
        _cleanup_error_ agora_error_t err = NULL;

        if (yamldoc_load_buffer(text, strlen(text), "t.yaml", &v, &err) < 0)
                fail_msg("unexpected error: %s", agora_error_message(err));
        return v;
}

static void expect_error(const char *text, size_t len, const char *want)
{
        json_t *v = NULL;
        _cleanup_error_ agora_error_t err = NULL;

        assert_int_equal(yamldoc_load_buffer(text, len, "t.yaml", &v, &err), -1);
        assert_null(v);
        assert_int_equal(err->kind, AGORA_ERR_USAGE);
        assert_string_equal(agora_error_message(err), want);
}

static void expect_error_prefix(const char *text, const char *prefix)
{
        json_t *v = NULL;
        _cleanup_error_ agora_error_t err = NULL;

        assert_int_equal(yamldoc_load_buffer(text, strlen(text), "t.yaml", &v, &err), -1);
        assert_null(v);
        if (strncmp(agora_error_message(err), prefix, strlen(prefix)) != 0)
                fail_msg("got '%s', want prefix '%s'", agora_error_message(err), prefix);
}

static void test_mapping_and_sequence(void **state)
{
        _cleanup_json_ json_t *v = load_ok("name: echo\nargs:\n  - a\n  - b c\nnested: {x: y}\n");

        (void)state;
        assert_true(json_is_object(v));
        assert_string_equal(json_string_value(json_object_get(v, "name")), "echo");
        assert_int_equal(json_array_size(json_object_get(v, "args")), 2);
        assert_string_equal(json_string_value(json_array_get(json_object_get(v, "args"), 1)), "b c");
        assert_string_equal(json_string_value(json_object_get(json_object_get(v, "nested"), "x")), "y");
}

static void test_no_implicit_typing(void **state)
{
        _cleanup_json_ json_t *v = load_ok("mode: 0755\nflag: no\nport: 8080\non: yes\nf: 1.5\n");

        (void)state;
        assert_string_equal(json_string_value(json_object_get(v, "mode")), "0755");
        assert_string_equal(json_string_value(json_object_get(v, "flag")), "no");
        assert_string_equal(json_string_value(json_object_get(v, "port")), "8080");
        assert_string_equal(json_string_value(json_object_get(v, "on")), "yes");
        assert_string_equal(json_string_value(json_object_get(v, "f")), "1.5");
}

static void test_null_spellings(void **state)
{
        _cleanup_json_ json_t *v = load_ok("a: ~\nb: null\nc:\nd: '~'\ne: \"null\"\nf: Null\n");

        (void)state;
        assert_true(json_is_null(json_object_get(v, "a")));
        assert_true(json_is_null(json_object_get(v, "b")));
        assert_true(json_is_null(json_object_get(v, "c")));
        assert_string_equal(json_string_value(json_object_get(v, "d")), "~");
        assert_string_equal(json_string_value(json_object_get(v, "e")), "null");
        assert_string_equal(json_string_value(json_object_get(v, "f")), "Null");
}

static void test_unicode_and_escapes(void **state)
{
        _cleanup_json_ json_t *v = load_ok("a: \"caf\\u00e9\\ttab\"\nb: |\n  line1\n  line2\n");

        (void)state;
        assert_string_equal(json_string_value(json_object_get(v, "a")), "caf\xc3\xa9\ttab");
        assert_string_equal(json_string_value(json_object_get(v, "b")), "line1\nline2\n");
}

static void test_top_level_sequence(void **state)
{
        _cleanup_json_ json_t *v = load_ok("- 1\n- [2, 3]\n");

        (void)state;
        assert_true(json_is_array(v));
        assert_int_equal(json_array_size(json_array_get(v, 1)), 2);
}

static void test_malformed_reports_line_col(void **state)
{
        (void)state;
        /* the second ':' sits at line 1, column 11 */
        expect_error_prefix("key: value: x\n", "t.yaml:1:11: mapping values are not allowed");
}

static void test_unclosed_flow_reports_position(void **state)
{
        (void)state;
        expect_error_prefix("a: [1, 2\nb: c\n", "t.yaml:");
}

static void test_duplicate_key(void **state)
{
        (void)state;
        expect_error("a: 1\nb: 2\na: 3\n", 15, "t.yaml:3:1: duplicate key 'a'");
}

static void test_billion_laughs_refused(void **state)
{
        const char *t = "a: &a [\"lol\",\"lol\",\"lol\"]\n"
                        "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
                        "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
                        "d: [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n";

        (void)state;
        expect_error(t, strlen(t), "t.yaml:1:4: anchors are not allowed");
}

static void test_alias_refused(void **state)
{
        (void)state;
        expect_error("a: *x\n", 6, "t.yaml:1:4: aliases are not allowed");
}

static void test_tag_refused(void **state)
{
        (void)state;
        expect_error("a: !!int 3\n", 11, "t.yaml:1:4: tags are not allowed");
        expect_error("a: !custom {}\n", 14, "t.yaml:1:4: tags are not allowed");
}

static void test_multiple_documents_refused(void **state)
{
        (void)state;
        expect_error("a: 1\n---\nb: 2\n", 14, "t.yaml:2:1: only one document is allowed");
}

static void test_non_scalar_key_refused(void **state)
{
        (void)state;
        expect_error("? [a, b]\n: x\n", 12, "t.yaml:1:3: mapping keys must be plain strings, not lists or mappings");
}

static char *nested(int depth)
{
        char *s = malloc((size_t)depth * 2 + 2);

        assert_non_null(s);
        memset(s, '[', (size_t)depth);
        memset(s + depth, ']', (size_t)depth);
        s[2 * depth] = '\n';
        s[2 * depth + 1] = '\0';
        return s;
}

static void test_depth_64_accepted(void **state)
{
        _cleanup_free_ char *s = nested(64);
        _cleanup_json_ json_t *v = load_ok(s);

        (void)state;
        assert_true(json_is_array(v));
}

static void test_depth_65_refused(void **state)
{
        _cleanup_free_ char *s = nested(65);

        (void)state;
        expect_error(s, strlen(s), "t.yaml:1:65: nested more than 64 levels deep");
}

static void test_empty_document(void **state)
{
        (void)state;
        expect_error("", 0, "t.yaml: empty document");
        expect_error("# only a comment\n", 17, "t.yaml: empty document");
        expect_error("---\n", 4, "t.yaml: empty document");
}

static void test_nul_in_string_refused(void **state)
{
        (void)state;
        expect_error("a: \"x\\0y\"\n", 10, "t.yaml:1:4: NUL bytes are not allowed in strings");
}

static void test_oversized_buffer_refused(void **state)
{
        size_t n = YAMLDOC_MAX_BYTES + 1;
        _cleanup_free_ char *buf = malloc(n);
        json_t *v = NULL;
        _cleanup_error_ agora_error_t err = NULL;

        (void)state;
        assert_non_null(buf);
        memset(buf, '#', n);
        assert_int_equal(yamldoc_load_buffer(buf, n, "big.yaml", &v, &err), -1);
        assert_non_null(strstr(agora_error_message(err), "big.yaml: larger than"));
}

static void test_load_file_names_path(void **state)
{
        char dir[] = "/tmp/agora-yaml-XXXXXX", path[64];
        json_t *v = NULL;
        _cleanup_error_ agora_error_t err = NULL;
        FILE *f;

        (void)state;
        assert_non_null(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/p.yaml", dir);
        f = fopen(path, "w");
        assert_non_null(f);
        fputs("ok: yes\nok: no\n", f);
        fclose(f);
        assert_int_equal(yamldoc_load_file(path, &v, &err), -1);
        char want[128];
        snprintf(want, sizeof(want), "%s:2:1: duplicate key 'ok'", path);
        assert_string_equal(agora_error_message(err), want);
        f = fopen(path, "w");
        assert_non_null(f);
        fputs("ok: yes\n", f);
        fclose(f);
        assert_int_equal(yamldoc_load_file(path, &v, &err), 0);
        assert_string_equal(json_string_value(json_object_get(v, "ok")), "yes");
        json_decref(v);
        unlink(path);
        rmdir(dir);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_mapping_and_sequence),
                cmocka_unit_test(test_no_implicit_typing),
                cmocka_unit_test(test_null_spellings),
                cmocka_unit_test(test_unicode_and_escapes),
                cmocka_unit_test(test_top_level_sequence),
                cmocka_unit_test(test_malformed_reports_line_col),
                cmocka_unit_test(test_unclosed_flow_reports_position),
                cmocka_unit_test(test_duplicate_key),
                cmocka_unit_test(test_billion_laughs_refused),
                cmocka_unit_test(test_alias_refused),
                cmocka_unit_test(test_tag_refused),
                cmocka_unit_test(test_multiple_documents_refused),
                cmocka_unit_test(test_non_scalar_key_refused),
                cmocka_unit_test(test_depth_64_accepted),
                cmocka_unit_test(test_depth_65_refused),
                cmocka_unit_test(test_empty_document),
                cmocka_unit_test(test_nul_in_string_refused),
                cmocka_unit_test(test_oversized_buffer_refused),
                cmocka_unit_test(test_load_file_names_path),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
