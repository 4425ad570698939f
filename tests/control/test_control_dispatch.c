/* SPDX-License-Identifier: Apache-2.0 */
/* The dispatcher's local parts: secret references, the workers file, the state directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "common/cleanup.h"
#include "common/sign.h"
#include "control/dispatch.h"
#include "tests/common/common-test.h"

static int setup(void **state)
{
        return sodium_init() < 0 ? -1 : test_tmpdir_setup(state, "agora-dispatch");
}

static int teardown(void **state)
{
        return test_tmpdir_teardown(state);
}

static void write_file(const char *path, const void *buf, size_t len)
{
        FILE *f = fopen(path, "w");

        assert_non_null(f);
        assert_int_equal(fwrite(buf, 1, len, f), len);
        assert_int_equal(fclose(f), 0);
}

static json_t *env_with(const char *key, const char *ref)
{
        return json_pack("{s:s, s:s, s:{}, s:{s:s}}", "kind", "env", "name", "e", "values", "secrets", key, ref);
}

static void test_secrets_are_nul_ended_records_in_key_order(void **state)
{
        _cleanup_error_ agora_error_t err = NULL;
        _cleanup_free_ char *file = path_in(state, "tok");
        _cleanup_json_ json_t *def = NULL;
        _cleanup_free_ char *ref = NULL;
        unsigned char *buf = NULL;
        size_t len = 0;
        static const char want[] = "A=from env\0B=line one\nline two\0";

        /* One trailing newline goes: the one every editor adds. */
        write_file(file, "line one\nline two\n", 18);
        assert_true(asprintf(&ref, "file:%s", file) > 0);
        setenv("AGORA_TEST_SECRET", "from env", 1);
        def = json_pack("{s:s, s:s, s:{}, s:{s:s, s:s}}", "kind", "env", "name", "e", "values", "secrets", "B", ref,
                        "A", "env:AGORA_TEST_SECRET");
        assert_int_equal(secrets_resolve(def, "e", &buf, &len, &err), 0);
        assert_int_equal(len, sizeof(want) - 1);
        assert_memory_equal(buf, want, len);
        secrets_free(buf);
}

static void test_no_secrets_is_an_empty_payload(void **state)
{
        _cleanup_error_ agora_error_t err = NULL;
        _cleanup_json_ json_t *def =
                json_pack("{s:s, s:s, s:{}, s:{}}", "kind", "env", "name", "e", "values", "secrets");
        unsigned char *buf = (unsigned char *)"x";
        size_t len = 1;

        (void)state;
        assert_int_equal(secrets_resolve(def, "e", &buf, &len, &err), 0);
        assert_null(buf);
        assert_int_equal(len, 0);
}

static void test_secret_file_with_nul_is_refused(void **state)
{
        _cleanup_error_ agora_error_t err = NULL;
        _cleanup_free_ char *file = path_in(state, "nul"), *ref = NULL;
        _cleanup_json_ json_t *def = NULL;
        unsigned char *buf = NULL;
        size_t len;

        /* A NUL would end the record early and start a variable of its own. */
        write_file(file, "a\0PATH=/evil", 12);
        assert_true(asprintf(&ref, "file:%s", file) > 0);
        def = env_with("K", ref);
        assert_int_equal(secrets_resolve(def, "e", &buf, &len, &err), -1);
        assert_null(buf);
        assert_non_null(strstr(agora_error_message(err), "secret 'K'"));
        assert_non_null(strstr(agora_error_message(err), "contains a NUL byte"));
}

static void test_secret_references_must_resolve(void **state)
{
        _cleanup_error_ agora_error_t err = NULL;
        _cleanup_json_ json_t *a = env_with("K", "env:AGORA_TEST_UNSET_VAR"), *b = env_with("K", "file:relative");
        unsigned char *buf = NULL;
        size_t len;

        (void)state;
        unsetenv("AGORA_TEST_UNSET_VAR");
        assert_int_equal(secrets_resolve(a, "e", &buf, &len, &err), -1);
        assert_string_equal(agora_error_message(err),
                            "env 'e': secret 'K' (env:AGORA_TEST_UNSET_VAR): variable not set");
        agora_error_release(&err);
        assert_int_equal(secrets_resolve(b, "e", &buf, &len, &err), -1);
        assert_string_equal(agora_error_message(err), "env 'e': secret 'K' (file:relative): not an absolute path");
}

static void test_workers_file_keys_inline_and_beside_it(void **state)
{
        _cleanup_error_ agora_error_t err = NULL;
        _cleanup_free_ char *pub = path_in(state, "w2.pub"), *file = path_in(state, "workers"), *text = NULL,
                            *b64 = NULL;
        agora_seckey *sk1 = NULL, *sk2 = NULL;
        agora_pubkey pk1, pk2;
        dispatch_workers w = {0};
        FILE *f;
        char line[256];

        assert_int_equal(sign_keypair_generate(&sk1, &err), 0);
        assert_int_equal(sign_keypair_generate(&sk2, &err), 0);
        sign_seckey_pubkey(sk1, &pk1);
        sign_seckey_pubkey(sk2, &pk2);
        assert_int_equal(sign_pubkey_write(&pk1, pub, &err), 0);
        /* The base64 line of key 1, then key 2's file by a relative path. */
        f = fopen(pub, "r");
        assert_non_null(f);
        assert_non_null(fgets(line, sizeof(line), f));
        assert_non_null(fgets(line, sizeof(line), f));
        fclose(f);
        line[strcspn(line, "\n")] = '\0';
        b64 = strdup(line);
        unlink(pub);
        assert_int_equal(sign_pubkey_write(&pk2, pub, &err), 0);
        assert_true(asprintf(&text, "# two workers\n\n  ipc:///run/w1.sock %s\nipc:///run/w2.sock\tw2.pub  # local\n",
                             b64) > 0);
        write_file(file, text, strlen(text));
        assert_int_equal(workers_file_load(file, &w, &err), 0);
        assert_int_equal(w.n, 2);
        assert_string_equal(w.v[0].url, "ipc:///run/w1.sock");
        assert_memory_equal(w.v[0].pk.pk, pk1.pk, sizeof(pk1.pk));
        assert_string_equal(w.v[1].url, "ipc:///run/w2.sock");
        assert_memory_equal(w.v[1].pk.pk, pk2.pk, sizeof(pk2.pk));
        dispatch_workers_release(&w);
        sign_seckey_free(sk1);
        sign_seckey_free(sk2);
}

static void expect_bad_line(void **state, const char *content, const char *want)
{
        _cleanup_error_ agora_error_t err = NULL;
        _cleanup_free_ char *file = path_in(state, "workers");
        dispatch_workers w = {0};

        write_file(file, content, strlen(content));
        assert_int_equal(workers_file_load(file, &w, &err), -1);
        assert_int_equal(w.n, 0);
        assert_non_null(strstr(agora_error_message(err), want));
        assert_int_equal(agora_error_exit_code(err), 2);
}

static void test_workers_file_bad_lines_are_named(void **state)
{
        expect_bad_line(state, "\n# c\nipc:///a\n", "workers:3: want 'URL PUBKEY'");
        expect_bad_line(state, "ipc:///a k extra\n", "workers:1: want 'URL PUBKEY'");
        expect_bad_line(state, "http://x k\n", "workers:1: worker 'http://x': scheme 'http'");
        expect_bad_line(state, "tcp://192.0.2.7:1 k\n", "workers:1: worker 'tcp://192.0.2.7:1': plain tcp://");
        expect_bad_line(state, "ipc:///a notakey\n", "workers:1: public key: ");
}

static void test_state_dir_order(void **state)
{
        _cleanup_error_ agora_error_t err = NULL;
        char *p = NULL;

        (void)state;
        setenv("HOME", "/home/op", 1);
        setenv("XDG_STATE_HOME", "/xdg", 1);
        setenv("AGORA_STATE", "/st", 1);
        assert_int_equal(state_dir(&p, &err), 0);
        assert_string_equal(p, "/st");
        free(p);
        unsetenv("AGORA_STATE");
        assert_int_equal(state_dir(&p, &err), 0);
        assert_string_equal(p, "/xdg/agora");
        free(p);
        /* A relative XDG value is to be ignored, says the spec. */
        setenv("XDG_STATE_HOME", "rel", 1);
        assert_int_equal(state_dir(&p, &err), 0);
        assert_string_equal(p, "/home/op/.local/state/agora");
        free(p);
        unsetenv("XDG_STATE_HOME");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_secrets_are_nul_ended_records_in_key_order, setup, teardown),
                cmocka_unit_test_setup_teardown(test_no_secrets_is_an_empty_payload, setup, teardown),
                cmocka_unit_test_setup_teardown(test_secret_file_with_nul_is_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_secret_references_must_resolve, setup, teardown),
                cmocka_unit_test_setup_teardown(test_workers_file_keys_inline_and_beside_it, setup, teardown),
                cmocka_unit_test_setup_teardown(test_workers_file_bad_lines_are_named, setup, teardown),
                cmocka_unit_test_setup_teardown(test_state_dir_order, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
