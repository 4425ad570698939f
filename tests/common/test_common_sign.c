/* SPDX-License-Identifier: Apache-2.0 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/sign.h"
#include "tests/common/common-test.h"

#define MINISIGN "/usr/bin/minisign"

static void seckey_freep(agora_seckey **sk)
{
        sign_seckey_free(*sk);
}
#define _cleanup_seckey_ _cleanup_(seckey_freep)

static int setup_dir(void **state)
{
        if (test_tmpdir_setup(state, "agora-sign") < 0 || sodium_init() < 0)
                return -1;
        return 0;
}

/* Run a shell command in the test directory; return its exit status. */
static int run(void **state, const char *fmt, ...)
{
        char cmd[1024];
        int n, st;
        va_list ap;

        n = snprintf(cmd, sizeof(cmd), "cd '%s' && ", (char *)*state);
        va_start(ap, fmt);
        vsnprintf(cmd + n, sizeof(cmd) - (size_t)n, fmt, ap);
        va_end(ap);
        st = system(cmd);
        assert_true(st != -1 && WIFEXITED(st));
        return WEXITSTATUS(st);
}

static void write_text(const char *path, const char *text)
{
        _cleanup_error_ agora_error_t err = NULL;

        if (fs_write_atomic(path, text, strlen(text), 0644, true, &err) < 0)
                fail_msg("%s", agora_error_message(err));
}

static char *read_text(const char *path)
{
        _cleanup_error_ agora_error_t err = NULL;
        char *buf = NULL;

        if (fs_read_file(path, 1 << 16, &buf, NULL, &err) < 0)
                fail_msg("%s", agora_error_message(err));
        return buf;
}

/* Make a key pair and write both files as DIR/NAME.{pub,key}. */
static agora_seckey *make_keys(void **state, const char *name, agora_pubkey *ret_pk)
{
        _cleanup_free_ char *pub = NULL, *sec = NULL;
        _cleanup_error_ agora_error_t err = NULL;
        agora_seckey *sk = NULL;

        assert_true(asprintf(&pub, "%s/%s.pub", (char *)*state, name) > 0);
        assert_true(asprintf(&sec, "%s/%s.key", (char *)*state, name) > 0);
        assert_int_equal(sign_keypair_generate(&sk, &err), 0);
        sign_seckey_pubkey(sk, ret_pk);
        assert_int_equal(sign_pubkey_write(ret_pk, pub, &err), 0);
        assert_int_equal(sign_seckey_write(sk, sec, &err), 0);
        return sk;
}

static void expect_integrity(int r, agora_error_t err, const char *contains)
{
        assert_int_equal(r, -1);
        assert_non_null(err);
        assert_int_equal(err->kind, AGORA_ERR_INTEGRITY);
        if (strstr(agora_error_message(err), contains) == NULL)
                fail_msg("'%s' lacks '%s'", agora_error_message(err), contains);
}

static void test_keyid_format_matches_minisign(void **state)
{
        /* minisign printed "public key FE88AEE4F8742F53" for a key whose id
         * bytes are 53 2f 74 f8 e4 ae 88 fe */
        const unsigned char id[8] = {0x53, 0x2f, 0x74, 0xf8, 0xe4, 0xae, 0x88, 0xfe};
        char out[17];

        (void)state;
        sign_keyid_format(id, out);
        assert_string_equal(out, "FE88AEE4F8742F53");
}

static void test_keyid_format_drops_leading_zeros_as_minisign(void **state)
{
        /* minisign 0.11 printed "public key 7E5BBDC5BA3FDAC" (15 digits) for
         * id bytes ac fd a3 5b dc bb e5 07. */
        const unsigned char id[8] = {0xac, 0xfd, 0xa3, 0x5b, 0xdc, 0xbb, 0xe5, 0x07};
        char out[17];

        (void)state;
        sign_keyid_format(id, out);
        assert_string_equal(out, "7E5BBDC5BA3FDAC");
}

static void test_pubkey_parse_minisign_line(void **state)
{
        agora_pubkey pk;
        agora_error_t err = NULL;
        char id[17];

        (void)state;
        assert_int_equal(sign_pubkey_parse("RWRTL3T45K6I/j7clmICmWA3t1eZf3j/cYfdLSkaF475SD1WMx8fFv8r\n", &pk, &err), 0);
        sign_keyid_format(pk.keyid, id);
        assert_string_equal(id, "FE88AEE4F8742F53");
}

static void test_pubkey_parse_rejects_garbage(void **state)
{
        agora_pubkey pk;
        _cleanup_error_ agora_error_t err = NULL;

        (void)state;
        assert_int_equal(sign_pubkey_parse("not base64 at all!", &pk, &err), -1);
        assert_int_equal(err->kind, AGORA_ERR_USAGE);
        /* valid base64 of the wrong length */
        assert_int_equal(sign_pubkey_parse("RWRTL3T45K6I", &pk, &err), -1);
}

static void test_round_trip_returns_trusted_comment(void **state)
{
        agora_pubkey pk;
        _cleanup_seckey_ agora_seckey *sk = make_keys(state, "k", &pk);
        _cleanup_free_ char *sig = NULL, *tc = NULL;
        _cleanup_error_ agora_error_t err = NULL;

        assert_int_equal(sign_message(sk, "hello", 5, "name:echo version:1", &sig, &err), 0);
        assert_int_equal(sign_verify(&pk, "hello", 5, sig, &tc, &err), 0);
        assert_string_equal(tc, "name:echo version:1");
}

static void test_loaded_keys_sign_and_verify(void **state)
{
        agora_pubkey pk, pk2;
        _cleanup_seckey_ agora_seckey *sk = make_keys(state, "k", &pk);
        _cleanup_seckey_ agora_seckey *sk2 = NULL;
        _cleanup_free_ char *pub = path_in(state, "k.pub"), *sec = path_in(state, "k.key");
        _cleanup_free_ char *sig = NULL;
        _cleanup_error_ agora_error_t err = NULL;
        struct stat st;

        assert_int_equal(stat(sec, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
        assert_int_equal(sign_seckey_load(sec, &sk2, &err), 0);
        assert_int_equal(sign_pubkey_load(pub, &pk2, &err), 0);
        assert_memory_equal(&pk, &pk2, sizeof(pk));
        assert_int_equal(sign_message(sk2, "m", 1, "t", &sig, &err), 0);
        assert_int_equal(sign_verify(&pk2, "m", 1, sig, NULL, &err), 0);
}

static void test_tampered_message_fails(void **state)
{
        agora_pubkey pk;
        _cleanup_seckey_ agora_seckey *sk = make_keys(state, "k", &pk);
        _cleanup_free_ char *sig = NULL;
        _cleanup_error_ agora_error_t err = NULL;
        int r;

        assert_int_equal(sign_message(sk, "hello", 5, "t", &sig, &err), 0);
        r = sign_verify(&pk, "hellO", 5, sig, NULL, &err);
        expect_integrity(r, err, "does not match");
}

static void test_tampered_trusted_comment_fails(void **state)
{
        agora_pubkey pk;
        _cleanup_seckey_ agora_seckey *sk = make_keys(state, "k", &pk);
        _cleanup_free_ char *sig = NULL;
        _cleanup_error_ agora_error_t err = NULL;
        char *p;
        int r;

        assert_int_equal(sign_message(sk, "hello", 5, "role:reader", &sig, &err), 0);
        p = strstr(sig, "role:reader");
        assert_non_null(p);
        memcpy(p, "role:admin!", 11);
        r = sign_verify(&pk, "hello", 5, sig, NULL, &err);
        expect_integrity(r, err, "trusted comment was altered");
}

static void test_wrong_key_names_both_ids(void **state)
{
        agora_pubkey pk1, pk2;
        _cleanup_seckey_ agora_seckey *sk1 = make_keys(state, "a", &pk1);
        _cleanup_seckey_ agora_seckey *sk2 = make_keys(state, "b", &pk2);
        _cleanup_free_ char *sig = NULL, *want = NULL;
        _cleanup_error_ agora_error_t err = NULL;
        char id1[17], id2[17];
        int r;

        assert_int_equal(sign_message(sk1, "x", 1, "t", &sig, &err), 0);
        r = sign_verify(&pk2, "x", 1, sig, NULL, &err);
        sign_keyid_format(pk1.keyid, id1);
        sign_keyid_format(pk2.keyid, id2);
        assert_true(asprintf(&want, "signature made by key %s, not by trusted key %s", id1, id2) > 0);
        expect_integrity(r, err, want);
}

static void test_multiline_trusted_comment_refused(void **state)
{
        agora_pubkey pk;
        _cleanup_seckey_ agora_seckey *sk = make_keys(state, "k", &pk);
        char *sig = NULL;
        _cleanup_error_ agora_error_t err = NULL;

        assert_int_equal(sign_message(sk, "x", 1, "a\nb", &sig, &err), -1);
        assert_null(sig);
        assert_int_equal(err->kind, AGORA_ERR_USAGE);
}

static void test_malformed_signature_refused(void **state)
{
        agora_pubkey pk;
        _cleanup_seckey_ agora_seckey *sk = make_keys(state, "k", &pk);
        _cleanup_error_ agora_error_t err = NULL;

        int r;

        r = sign_verify(&pk, "x", 1, "", NULL, &err);
        expect_integrity(r, err, "malformed");
        r = sign_verify(&pk, "x", 1, "untrusted comment: x\nAAAA\n", NULL, &err);
        expect_integrity(r, err, "malformed");
}

static void test_seckey_write_refuses_overwrite(void **state)
{
        agora_pubkey pk;
        _cleanup_seckey_ agora_seckey *sk = make_keys(state, "k", &pk);
        _cleanup_free_ char *sec = path_in(state, "k.key");
        _cleanup_error_ agora_error_t err = NULL;

        assert_int_equal(sign_seckey_write(sk, sec, &err), -1);
        assert_int_equal(err->kind, AGORA_ERR_EXISTS);
}

/* A FIFO given as the key must be refused at once, not wait for a writer. */
static void test_seckey_fifo_refused_without_blocking(void **state)
{
        _cleanup_seckey_ agora_seckey *sk = NULL;
        _cleanup_free_ char *fifo = path_in(state, "fifo.key");
        _cleanup_error_ agora_error_t err = NULL;

        assert_int_equal(mkfifo(fifo, 0600), 0);
        alarm(5);
        assert_int_equal(sign_seckey_load(fifo, &sk, &err), -1);
        alarm(0);
        assert_null(sk);
        assert_non_null(strstr(agora_error_message(err), "not a regular file"));
}

static void test_seckey_readable_by_others_refused(void **state)
{
        agora_pubkey pk;
        _cleanup_seckey_ agora_seckey *sk = make_keys(state, "k", &pk);
        _cleanup_seckey_ agora_seckey *sk2 = NULL;
        _cleanup_free_ char *sec = path_in(state, "k.key"), *want = NULL;
        _cleanup_error_ agora_error_t err = NULL;

        assert_int_equal(chmod(sec, 0644), 0);
        assert_int_equal(sign_seckey_load(sec, &sk2, &err), -1);
        assert_null(sk2);
        assert_true(asprintf(&want, "'%s': secret key is readable by others (mode 0644); chmod 600 it", sec) > 0);
        assert_string_equal(agora_error_message(err), want);
}

/* Rewrite the base64 key line of the secret key file with EDIT applied. */
/* Overwrite (or, with XOR, flip) N bytes at OFF of a secret key file's
 * binary form. Flipping changes the byte whatever its value. */
static void edit_seckey(const char *path, size_t off, const void *bytes, size_t n, bool xor)
{
        _cleanup_free_ char *text = read_text(path);
        unsigned char bin[158];
        char b64[sodium_base64_ENCODED_LEN(158, sodium_base64_VARIANT_ORIGINAL)];
        char *line = strchr(text, '\n') + 1, out[512];
        size_t len = 0;
        _cleanup_error_ agora_error_t err = NULL;

        line[strcspn(line, "\n")] = '\0';
        assert_int_equal(sodium_base642bin(bin, sizeof(bin), line, strlen(line), NULL, &len, NULL,
                                           sodium_base64_VARIANT_ORIGINAL),
                         0);
        assert_int_equal(len, 158);
        for (size_t i = 0; i < n; i++)
                bin[off + i] =
                        xor? bin[off + i] ^ ((const unsigned char *)bytes)[i] : ((const unsigned char *)bytes)[i];
        sodium_bin2base64(b64, sizeof(b64), bin, sizeof(bin), sodium_base64_VARIANT_ORIGINAL);
        snprintf(out, sizeof(out), "untrusted comment: edited\n%s\n", b64);
        assert_int_equal(fs_write_atomic(path, out, strlen(out), 0600, true, &err), 0);
}

static void test_encrypted_seckey_refused(void **state)
{
        agora_pubkey pk;
        _cleanup_seckey_ agora_seckey *sk = make_keys(state, "k", &pk);
        _cleanup_seckey_ agora_seckey *sk2 = NULL;
        _cleanup_free_ char *sec = path_in(state, "k.key");
        _cleanup_error_ agora_error_t err = NULL;

        edit_seckey(sec, 2, "Sc", 2, false);
        assert_int_equal(sign_seckey_load(sec, &sk2, &err), -1);
        assert_non_null(
                strstr(agora_error_message(err), "encrypted keys are not supported; create the key with agora keygen"));
}

static void test_bad_checksum_refused(void **state)
{
        agora_pubkey pk;
        _cleanup_seckey_ agora_seckey *sk = make_keys(state, "k", &pk);
        _cleanup_seckey_ agora_seckey *sk2 = NULL;
        _cleanup_free_ char *sec = path_in(state, "k.key");
        _cleanup_error_ agora_error_t err = NULL;

        /* last byte of the checksum */
        edit_seckey(sec, 157, "\x5a", 1, true);
        assert_int_equal(sign_seckey_load(sec, &sk2, &err), -1);
        assert_int_equal(err->kind, AGORA_ERR_INTEGRITY);
        assert_non_null(strstr(agora_error_message(err), "checksum"));
}

static void test_minisign_verifies_ours(void **state)
{
        agora_pubkey pk;
        _cleanup_seckey_ agora_seckey *sk = make_keys(state, "k", &pk);
        _cleanup_free_ char *msg = path_in(state, "msg"), *sigp = path_in(state, "msg.minisig");
        _cleanup_free_ char *sig = NULL, *out = NULL, *outp = path_in(state, "out");
        _cleanup_error_ agora_error_t err = NULL;
        const char *text = "capability manifest\n";

        write_text(msg, text);
        assert_int_equal(sign_message(sk, text, strlen(text), "agora capability echo 1.0", &sig, &err), 0);
        write_text(sigp, sig);
        assert_int_equal(run(state, MINISIGN " -V -p k.pub -m msg -x msg.minisig -Q >out 2>&1"), 0);
        out = read_text(outp);
        assert_string_equal(out, "agora capability echo 1.0\n");
}

static void test_minisign_rejects_tampered(void **state)
{
        agora_pubkey pk;
        _cleanup_seckey_ agora_seckey *sk = make_keys(state, "k", &pk);
        _cleanup_free_ char *msg = path_in(state, "msg"), *sigp = path_in(state, "msg.minisig");
        _cleanup_free_ char *sig = NULL;
        _cleanup_error_ agora_error_t err = NULL;

        assert_int_equal(sign_message(sk, "original", 8, "t", &sig, &err), 0);
        write_text(sigp, sig);
        write_text(msg, "originaL");
        assert_int_not_equal(run(state, MINISIGN " -V -p k.pub -m msg -x msg.minisig -q >/dev/null 2>&1"), 0);
}

static void test_minisign_signs_with_our_seckey(void **state)
{
        agora_pubkey pk;
        _cleanup_seckey_ agora_seckey *sk = make_keys(state, "k", &pk);
        _cleanup_free_ char *msg = path_in(state, "msg"), *sigp = path_in(state, "msg.minisig");
        _cleanup_free_ char *sig = NULL, *tc = NULL;
        _cleanup_error_ agora_error_t err = NULL;

        write_text(msg, "data");
        assert_int_equal(run(state, MINISIGN " -S -s k.key -m msg -t 'from minisign' </dev/null >/dev/null 2>&1"), 0);
        sig = read_text(sigp);
        assert_int_equal(sign_verify(&pk, "data", 4, sig, &tc, &err), 0);
        assert_string_equal(tc, "from minisign");
}

static void test_minisign_keys_load_and_verify(void **state)
{
        _cleanup_free_ char *pub = path_in(state, "m.pub"), *sec = path_in(state, "m.key");
        _cleanup_free_ char *msg = path_in(state, "msg"), *sigp = path_in(state, "msg.minisig");
        _cleanup_free_ char *pubtext = NULL, *sig = NULL, *tc = NULL, *mysig = NULL;
        _cleanup_seckey_ agora_seckey *sk = NULL;
        _cleanup_error_ agora_error_t err = NULL;
        agora_pubkey pk, derived;
        char id[17], want[64];

        assert_int_equal(run(state, MINISIGN " -G -W -p m.pub -s m.key </dev/null >/dev/null 2>&1"), 0);
        assert_int_equal(sign_pubkey_load(pub, &pk, &err), 0);
        if (sign_seckey_load(sec, &sk, &err) < 0)
                fail_msg("%s", agora_error_message(err));
        /* the id minisign printed in the public key's comment */
        pubtext = read_text(pub);
        sign_keyid_format(pk.keyid, id);
        snprintf(want, sizeof(want), "untrusted comment: minisign public key %s\n", id);
        assert_true(strncmp(pubtext, want, strlen(want)) == 0);
        sign_seckey_pubkey(sk, &derived);
        assert_memory_equal(&derived, &pk, sizeof(pk));

        write_text(msg, "payload");
        assert_int_equal(run(state, MINISIGN " -S -s m.key -m msg -t 'tc here' </dev/null >/dev/null 2>&1"), 0);
        sig = read_text(sigp);
        assert_int_equal(sign_verify(&pk, "payload", 7, sig, &tc, &err), 0);
        assert_string_equal(tc, "tc here");

        /* and minisign accepts what we sign with its key */
        assert_int_equal(sign_message(sk, "payload", 7, "ours", &mysig, &err), 0);
        write_text(sigp, mysig);
        assert_int_equal(run(state, MINISIGN " -V -p m.pub -m msg -x msg.minisig -q"), 0);
}

static void test_minisign_legacy_signature_accepted(void **state)
{
        _cleanup_free_ char *pub = path_in(state, "m.pub"), *msg = path_in(state, "msg");
        _cleanup_free_ char *sigp = path_in(state, "msg.minisig"), *sig = NULL;
        _cleanup_error_ agora_error_t err = NULL;
        agora_pubkey pk;
        unsigned char bin[74];
        const char *line;
        size_t len = 0;
        int r;

        assert_int_equal(run(state, MINISIGN " -G -W -p m.pub -s m.key </dev/null >/dev/null 2>&1"), 0);
        write_text(msg, "legacy");
        assert_int_equal(run(state, MINISIGN " -S -l -s m.key -m msg -t t </dev/null >/dev/null 2>&1"), 0);
        sig = read_text(sigp);
        /* make sure this really is the legacy form: algorithm tag "Ed" */
        line = strchr(sig, '\n') + 1;
        assert_int_equal(sodium_base642bin(bin, sizeof(bin), line, strcspn(line, "\n"), NULL, &len, NULL,
                                           sodium_base64_VARIANT_ORIGINAL),
                         0);
        assert_memory_equal(bin, "Ed", 2);
        assert_int_equal(sign_pubkey_load(pub, &pk, &err), 0);
        assert_int_equal(sign_verify(&pk, "legacy", 6, sig, NULL, &err), 0);
        r = sign_verify(&pk, "legacY", 6, sig, NULL, &err);
        expect_integrity(r, err, "does not match");
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup_dir, test_tmpdir_teardown)

int main(void)
{
        const struct CMUnitTest tests[] = {
                T(test_keyid_format_matches_minisign),
                T(test_keyid_format_drops_leading_zeros_as_minisign),
                T(test_pubkey_parse_minisign_line),
                T(test_pubkey_parse_rejects_garbage),
                T(test_round_trip_returns_trusted_comment),
                T(test_loaded_keys_sign_and_verify),
                T(test_tampered_message_fails),
                T(test_tampered_trusted_comment_fails),
                T(test_wrong_key_names_both_ids),
                T(test_multiline_trusted_comment_refused),
                T(test_malformed_signature_refused),
                T(test_seckey_write_refuses_overwrite),
                T(test_seckey_readable_by_others_refused),
                T(test_seckey_fifo_refused_without_blocking),
                T(test_encrypted_seckey_refused),
                T(test_bad_checksum_refused),
                T(test_minisign_verifies_ours),
                T(test_minisign_rejects_tampered),
                T(test_minisign_signs_with_our_seckey),
                T(test_minisign_keys_load_and_verify),
                T(test_minisign_legacy_signature_accepted),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
