/* SPDX-License-Identifier: Apache-2.0 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/hash.h"

/* FIPS 180-2 / NIST CAVP example vectors. */
#define SHA256_EMPTY "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SHA256_ABC "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define SHA256_448 "sha256:248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"

static void test_buffer_empty_matches_nist(void **state)
{
        agora_hash h;
        char s[AGORA_HASH_STR_LEN + 1];

        (void)state;
        agora_hash_buffer("", 0, &h);
        agora_hash_format(&h, s);
        assert_string_equal(s, SHA256_EMPTY);
}

static void test_buffer_abc_matches_nist(void **state)
{
        agora_hash h;
        char s[AGORA_HASH_STR_LEN + 1];

        (void)state;
        agora_hash_buffer("abc", 3, &h);
        agora_hash_format(&h, s);
        assert_string_equal(s, SHA256_ABC);
}

static void test_incremental_matches_one_shot_vector(void **state)
{
        const char *msg = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
        agora_hasher *h = NULL;
        agora_hash out;
        char s[AGORA_HASH_STR_LEN + 1];
        agora_error_t err = NULL;

        (void)state;
        assert_int_equal(agora_hasher_new(&h, &err), 0);
        for (size_t i = 0; i < strlen(msg); i += 5)
                agora_hasher_update(h, msg + i, strlen(msg) - i < 5 ? strlen(msg) - i : 5);
        agora_hasher_final(h, &out);
        agora_hash_format(&out, s);
        assert_string_equal(s, SHA256_448);
        /* reusable from empty after final */
        agora_hasher_final(h, &out);
        agora_hash_format(&out, s);
        assert_string_equal(s, SHA256_EMPTY);
        agora_hasher_free(h);
}

static void test_hex_has_no_prefix(void **state)
{
        agora_hash h;
        char s[AGORA_HASH_HEX_LEN + 1];

        (void)state;
        agora_hash_buffer("abc", 3, &h);
        agora_hash_hex(&h, s);
        assert_string_equal(s, SHA256_ABC + strlen("sha256:"));
}

static void test_fd_matches_sha256sum(void **state)
{
        char dir[] = "/tmp/agora-hash-XXXXXX", path[64], cmd[128], line[128];
        agora_hash h;
        char s[AGORA_HASH_STR_LEN + 1];
        agora_error_t err = NULL;
        FILE *f, *p;
        int fd;

        (void)state;
        assert_non_null(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/data", dir);
        f = fopen(path, "w");
        assert_non_null(f);
        /* 3 MiB + 17: several chunks and a partial one. */
        for (size_t i = 0; i < 3 * 1024 * 1024 + 17; i++)
                fputc((int)(i * 7 % 251), f);
        fclose(f);
        snprintf(cmd, sizeof(cmd), "sha256sum %s", path);
        p = popen(cmd, "r");
        assert_non_null(p);
        assert_non_null(fgets(line, sizeof(line), p));
        pclose(p);
        line[64] = '\0';

        fd = open(path, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(agora_hash_fd(fd, path, &h, &err), 0);
        close(fd);
        agora_hash_hex(&h, s);
        assert_string_equal(s, line);
        unlink(path);
        rmdir(dir);
}

static void test_parse_round_trip(void **state)
{
        agora_hash h, h2;
        char s[AGORA_HASH_STR_LEN + 1];
        agora_error_t err = NULL;

        (void)state;
        assert_int_equal(agora_hash_parse(SHA256_ABC, &h, &err), 0);
        agora_hash_format(&h, s);
        assert_string_equal(s, SHA256_ABC);
        agora_hash_buffer("abc", 3, &h2);
        assert_true(agora_hash_equal(&h, &h2));
}

static void expect_parse_rejected(const char *input)
{
        agora_hash h;
        agora_error_t err = NULL;

        assert_int_equal(agora_hash_parse(input, &h, &err), -1);
        assert_non_null(err);
        assert_int_equal(err->kind, AGORA_ERR_USAGE);
        assert_non_null(strstr(agora_error_message(err), "not a sha256 content hash"));
        agora_error_release(&err);
}

static void test_parse_rejects_uppercase(void **state)
{
        (void)state;
        expect_parse_rejected("sha256:BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD");
}

static void test_parse_rejects_short(void **state)
{
        (void)state;
        expect_parse_rejected("sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a");
}

static void test_parse_rejects_long(void **state)
{
        (void)state;
        expect_parse_rejected("sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad0");
}

static void test_parse_rejects_missing_prefix(void **state)
{
        (void)state;
        expect_parse_rejected("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_parse_rejects_other_algorithm(void **state)
{
        (void)state;
        expect_parse_rejected("sha512:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_parse_rejects_non_hex(void **state)
{
        (void)state;
        expect_parse_rejected("sha256:ga7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_parse_error_names_input_and_truncates(void **state)
{
        agora_hash h;
        agora_error_t err = NULL;
        char big[4096];

        (void)state;
        assert_int_equal(agora_hash_parse("nope", &h, &err), -1);
        assert_string_equal(agora_error_message(err),
                            "'nope': not a sha256 content hash (want sha256:<64 lowercase hex>)");
        memset(big, 'x', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        assert_int_equal(agora_hash_parse(big, &h, &err), -1);
        assert_true(strlen(agora_error_message(err)) < 300);
        agora_error_release(&err);
}

static void test_equal_distinguishes(void **state)
{
        agora_hash a, b;

        (void)state;
        agora_hash_buffer("abc", 3, &a);
        agora_hash_buffer("abd", 3, &b);
        assert_false(agora_hash_equal(&a, &b));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_buffer_empty_matches_nist),
                cmocka_unit_test(test_buffer_abc_matches_nist),
                cmocka_unit_test(test_incremental_matches_one_shot_vector),
                cmocka_unit_test(test_hex_has_no_prefix),
                cmocka_unit_test(test_fd_matches_sha256sum),
                cmocka_unit_test(test_parse_round_trip),
                cmocka_unit_test(test_parse_rejects_uppercase),
                cmocka_unit_test(test_parse_rejects_short),
                cmocka_unit_test(test_parse_rejects_long),
                cmocka_unit_test(test_parse_rejects_missing_prefix),
                cmocka_unit_test(test_parse_rejects_other_algorithm),
                cmocka_unit_test(test_parse_rejects_non_hex),
                cmocka_unit_test(test_parse_error_names_input_and_truncates),
                cmocka_unit_test(test_equal_distinguishes),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
