/* SPDX-License-Identifier: Apache-2.0 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "common/cjson.h"
#include "common/cleanup.h"

/* Parse TEXT, dump it canonically and compare with WANT (spelled by hand). */
static void expect_canonical(const char *text, const char *want)
{
        _cleanup_json_ json_t *v = NULL;
        _cleanup_free_ char *out = NULL;
        _cleanup_error_ agora_error_t err = NULL;
        size_t len = 0;

        assert_int_equal(cjson_parse(text, strlen(text), "doc", &v, &err), 0);
        assert_int_equal(cjson_dump(v, &out, &len, &err), 0);
        assert_string_equal(out, want);
        assert_int_equal(len, strlen(want));
}

static void expect_parse_error(const char *text, size_t len, const char *prefix, const char *contains)
{
        json_t *v = NULL;
        _cleanup_error_ agora_error_t err = NULL;

        assert_int_equal(cjson_parse(text, len, "doc", &v, &err), -1);
        assert_null(v);
        assert_int_equal(err->kind, AGORA_ERR_USAGE);
        assert_true(strncmp(agora_error_message(err), prefix, strlen(prefix)) == 0);
        if (contains != NULL)
                assert_non_null(strstr(agora_error_message(err), contains));
}

static void test_known_vector(void **state)
{
        (void)state;
        expect_canonical("{ \"c\": {\"z\": \"\\\"q\\\\\"},\n  \"b\": -7,\n  \"a\": [true, null, \"x\\ny\"] }",
                         "{\"a\":[true,null,\"x\\ny\"],\"b\":-7,\"c\":{\"z\":\"\\\"q\\\\\"}}");
}

static void test_docs_example(void **state)
{
        (void)state;
        /* docs/canonical-json.md */
        expect_canonical("{\"name\": \"echo\", \"kind\": \"subagent\", \"capabilities\": [\"b\", \"a\"]}",
                         "{\"capabilities\":[\"b\",\"a\"],\"kind\":\"subagent\",\"name\":\"echo\"}");
}

static void test_keys_sorted_bytewise(void **state)
{
        (void)state;
        /* 'B' (0x42) < 'a' < "aa" < 'z' < U+00E9 (0xc3 0xa9) */
        expect_canonical("{\"z\":1,\"\\u00e9\":2,\"aa\":3,\"a\":4,\"B\":5}",
                         "{\"B\":5,\"a\":4,\"aa\":3,\"z\":1,\"\xc3\xa9\":2}");
}

static void test_nested_objects_sorted(void **state)
{
        (void)state;
        expect_canonical("[{\"y\":{\"b\":[],\"a\":{}}},{}]", "[{\"y\":{\"a\":{},\"b\":[]}},{}]");
}

static void test_control_chars_escaped(void **state)
{
        (void)state;
        /* short forms for \b \f \n \r \t, lowercase \u00xx for the rest */
        expect_canonical("\"\\b\\f\\n\\r\\t\\u0001\\u001F\"", "\"\\b\\f\\n\\r\\t\\u0001\\u001f\"");
}

static void test_quote_and_backslash_escaped_slash_not(void **state)
{
        (void)state;
        expect_canonical("\"a\\\"b\\\\c\\/d\"", "\"a\\\"b\\\\c/d\"");
}

static void test_unicode_passes_through_raw(void **state)
{
        (void)state;
        /* U+00E9, U+20AC, U+1F600 and DEL come out as raw UTF-8 */
        expect_canonical("\"\\u00e9\\u20ac\\ud83d\\ude00\\u007f\"", "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\x7f\"");
}

static void test_integers_plain_decimal(void **state)
{
        (void)state;
        expect_canonical("[0,-1,9223372036854775807,-9223372036854775808]",
                         "[0,-1,9223372036854775807,-9223372036854775808]");
}

static void test_real_rejected(void **state)
{
        _cleanup_json_ json_t *v = NULL;
        _cleanup_error_ agora_error_t err = NULL;
        char *out = NULL;

        (void)state;
        assert_int_equal(cjson_parse("{\"a\":[1,1.5]}", 13, "doc", &v, &err), 0);
        assert_int_equal(cjson_dump(v, &out, NULL, &err), -1);
        assert_null(out);
        assert_int_equal(err->kind, AGORA_ERR_USAGE);
        assert_non_null(strstr(agora_error_message(err), ".a[1]"));
}

static void test_hash_is_sha256_of_canonical_bytes(void **state)
{
        _cleanup_json_ json_t *v = json_pack("{s:i}", "a", 1);
        _cleanup_error_ agora_error_t err = NULL;
        agora_hash h;
        char s[AGORA_HASH_STR_LEN + 1];

        (void)state;
        assert_int_equal(cjson_hash(v, &h, &err), 0);
        agora_hash_format(&h, s);
        /* printf '{"a":1}' | sha256sum */
        assert_string_equal(s, "sha256:015abd7f5cc57a2dd94b7590f04ad8084273905ee33ec5cebeae62276a97f862");
}

static void test_duplicate_key_rejected_with_position(void **state)
{
        const char *t = "{\"a\":1,\n\"a\":2}";

        (void)state;
        expect_parse_error(t, strlen(t), "doc:2:", "duplicate");
}

static void test_trailing_garbage_rejected_with_position(void **state)
{
        (void)state;
        expect_parse_error("{} x", 4, "doc:1:4: ", NULL);
}

static void test_second_document_rejected(void **state)
{
        (void)state;
        expect_parse_error("{}{}", 4, "doc:1:", NULL);
}

static void test_escaped_nul_rejected(void **state)
{
        const char *t = "{\"a\":\"x\\u0000y\"}";

        (void)state;
        expect_parse_error(t, strlen(t), "doc:1:", NULL);
}

static void test_raw_nul_byte_rejected(void **state)
{
        (void)state;
        expect_parse_error("{\"a\":1}\0", 8, "doc:1:", NULL);
}

static void test_invalid_utf8_rejected(void **state)
{
        (void)state;
        expect_parse_error("\"\xff\xfe\"", 4, "doc:", NULL);
}

static void test_is_canonical_true(void **state)
{
        const char *t = "{\"a\":[1,\"\xc3\xa9\"],\"b\":{\"c\":null}}";

        (void)state;
        assert_true(cjson_is_canonical(t, strlen(t)));
}

static void test_is_canonical_false_for_unsorted(void **state)
{
        (void)state;
        assert_false(cjson_is_canonical("{\"b\":1,\"a\":2}", 13));
}

static void test_is_canonical_false_for_whitespace(void **state)
{
        (void)state;
        assert_false(cjson_is_canonical("{\"a\": 1}", 8));
        assert_false(cjson_is_canonical("{\"a\":1}\n", 8));
}

static void test_is_canonical_false_for_needless_escape(void **state)
{
        (void)state;
        assert_false(cjson_is_canonical("\"\\u00e9\"", 8));
}

static void test_is_canonical_false_for_real(void **state)
{
        (void)state;
        assert_false(cjson_is_canonical("[1.0]", 5));
}

static void test_pretty_sorted_indented_newline(void **state)
{
        _cleanup_json_ json_t *v = json_pack("{s:i,s:i}", "b", 1, "a", 2);
        _cleanup_free_ char *s = cjson_pretty(v);

        (void)state;
        assert_string_equal(s, "{\n  \"a\": 2,\n  \"b\": 1\n}\n");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_known_vector),
                cmocka_unit_test(test_docs_example),
                cmocka_unit_test(test_keys_sorted_bytewise),
                cmocka_unit_test(test_nested_objects_sorted),
                cmocka_unit_test(test_control_chars_escaped),
                cmocka_unit_test(test_quote_and_backslash_escaped_slash_not),
                cmocka_unit_test(test_unicode_passes_through_raw),
                cmocka_unit_test(test_integers_plain_decimal),
                cmocka_unit_test(test_real_rejected),
                cmocka_unit_test(test_hash_is_sha256_of_canonical_bytes),
                cmocka_unit_test(test_duplicate_key_rejected_with_position),
                cmocka_unit_test(test_trailing_garbage_rejected_with_position),
                cmocka_unit_test(test_second_document_rejected),
                cmocka_unit_test(test_escaped_nul_rejected),
                cmocka_unit_test(test_raw_nul_byte_rejected),
                cmocka_unit_test(test_invalid_utf8_rejected),
                cmocka_unit_test(test_is_canonical_true),
                cmocka_unit_test(test_is_canonical_false_for_unsorted),
                cmocka_unit_test(test_is_canonical_false_for_whitespace),
                cmocka_unit_test(test_is_canonical_false_for_needless_escape),
                cmocka_unit_test(test_is_canonical_false_for_real),
                cmocka_unit_test(test_pretty_sorted_indented_newline),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
