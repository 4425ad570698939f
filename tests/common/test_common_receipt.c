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

#include "common/cjson.h"
#include "common/cleanup.h"
#include "common/manifest.h"
#include "common/receipt.h"
#include "common/sign.h"

/*
 * An operator key that signs the manifest, the worker's key that signs the
 * receipt and a third key nobody trusts; one manifest and its canonical
 * text, as the dispatcher keeps them until the receipt comes back.
 */
typedef struct fixture {
        agora_seckey *op_sk, *worker_sk, *other_sk;
        agora_pubkey op_pk, worker_pk, other_pk;
        char op_id[2 * AGORA_KEYID_LEN + 1], worker_id[2 * AGORA_KEYID_LEN + 1], other_id[2 * AGORA_KEYID_LEN + 1];
        json_t *resolved;
        manifest *m;
        char *mtext;
        size_t mlen;
        receipt_outcome outcome;
} fixture;

static char *hash_of(char c, char out[AGORA_HASH_STR_LEN + 1])
{
        memcpy(out, "sha256:", 7);
        memset(out + 7, c, 64);
        out[AGORA_HASH_STR_LEN] = '\0';
        return out;
}

static int key(agora_seckey **sk, agora_pubkey *pk, char id[2 * AGORA_KEYID_LEN + 1])
{
        agora_error_t err = NULL;

        if (sign_keypair_generate(sk, &err) < 0)
                return -1;
        sign_seckey_pubkey(*sk, pk);
        sign_keyid_format(pk->keyid, id);
        return 0;
}

static manifest *make(const fixture *f, const char *arg)
{
        char *const args[] = {(char *)arg};
        _cleanup_error_ agora_error_t err = NULL;
        manifest *m = NULL;

        if (manifest_from_resolved(f->resolved, args, 1, 30, 600, f->op_id, &m, &err) < 0)
                fail_msg("%s", agora_error_message(err));
        return m;
}

static int setup(void **state)
{
        fixture *f = calloc(1, sizeof(*f));
        char h1[AGORA_HASH_STR_LEN + 1], h2[AGORA_HASH_STR_LEN + 1], h3[AGORA_HASH_STR_LEN + 1];
        agora_error_t err = NULL;

        if (f == NULL || sodium_init() < 0 || key(&f->op_sk, &f->op_pk, f->op_id) < 0 ||
            key(&f->worker_sk, &f->worker_pk, f->worker_id) < 0 || key(&f->other_sk, &f->other_pk, f->other_id) < 0)
                return -1;
        f->resolved =
                json_pack("{s:{s:s, s:s}, s:[{s:s, s:s}], s:{s:s, s:s}, s:s, s:s, s:s}", "subagent", "name",
                          "echo-agent", "contentHash", hash_of('1', h1), "capabilities", "name", "alpha", "contentHash",
                          hash_of('2', h2), "env", "name", "dev", "contentHash", hash_of('3', h3), "profile", "default",
                          "entrypoint", "/usr/bin/echo", "registryCommit", "89abcdef0123456789abcdef0123456789abcdef");
        if (f->resolved == NULL)
                return -1;
        f->m = make(f, "hello");
        if (manifest_dump(f->m, &f->mtext, &f->mlen, &err) < 0)
                return -1;
        f->outcome = (receipt_outcome){
                .exit_code = 0,
                .signal = 0,
                .reason = "exited",
                .out = {.bytes = 6},
                .err = {.bytes = 0},
                .started_ms = 1700000000000,
                .finished_ms = 1700000000250,
        };
        agora_hash_buffer("hello\n", 6, &f->outcome.out.sha256);
        agora_hash_buffer("", 0, &f->outcome.err.sha256);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        fixture *f = *state;

        sign_seckey_free(f->op_sk);
        sign_seckey_free(f->worker_sk);
        sign_seckey_free(f->other_sk);
        json_decref(f->resolved);
        manifest_free(f->m);
        free(f->mtext);
        free(f);
        return 0;
}

/* The receipt text for M run on worker "w1" with key id KEY_ID. */
static char *build(const fixture *f, const manifest *m, const char *mtext, size_t mlen, const char *key_id,
                   size_t *ret_len)
{
        _cleanup_error_ agora_error_t err = NULL;
        char *text = NULL;

        if (receipt_build(m, mtext, mlen, "w1", key_id, &f->outcome, &text, ret_len, &err) < 0)
                fail_msg("%s", agora_error_message(err));
        return text;
}

static char *sign_receipt(const agora_seckey *sk, const manifest *m, const char *text, size_t len)
{
        _cleanup_error_ agora_error_t err = NULL;
        char *sig = NULL;

        if (receipt_sign(sk, m, text, len, &sig, &err) < 0)
                fail_msg("%s", agora_error_message(err));
        return sig;
}

/* TEXT with member KEY set to VALUE, canonical again. */
static char *edit(const char *text, size_t len, const char *key, json_t *value, size_t *ret_len)
{
        _cleanup_json_ json_t *o = NULL;
        _cleanup_error_ agora_error_t err = NULL;
        char *out = NULL;

        assert_int_equal(cjson_parse(text, len, "receipt", &o, &err), 0);
        assert_int_equal(json_object_set_new(o, key, value), 0);
        assert_int_equal(cjson_dump(o, &out, ret_len, &err), 0);
        return out;
}

/* The dispatcher, holding the fixture's manifest, refuses TEXT/SIG as
 * checked with the worker's key: an integrity error naming the dispatch id
 * and saying CONTAINS. */
static void expect_refused(const fixture *f, const char *text, size_t len, const char *sig, const char *contains)
{
        _cleanup_error_ agora_error_t err = NULL;
        json_t *r = NULL;
        char want[64];

        assert_int_equal(receipt_verify(text, len, sig, &f->worker_pk, f->m, f->mtext, f->mlen, &r, &err), -1);
        assert_null(r);
        assert_non_null(err);
        assert_int_equal(err->kind, AGORA_ERR_INTEGRITY);
        snprintf(want, sizeof(want), "receipt for dispatch %s", f->m->dispatch_id);
        if (strstr(agora_error_message(err), want) == NULL || strstr(agora_error_message(err), contains) == NULL)
                fail_msg("'%s' lacks '%s' or '%s'", agora_error_message(err), want, contains);
}

static void test_build_sign_verify(void **state)
{
        fixture *f = *state;
        _cleanup_free_ char *text = NULL, *sig = NULL;
        _cleanup_json_ json_t *r = NULL;
        _cleanup_error_ agora_error_t err = NULL;
        char mh[AGORA_HASH_STR_LEN + 1];
        agora_hash h;
        size_t len = 0;

        text = build(f, f->m, f->mtext, f->mlen, f->worker_id, &len);
        assert_true(cjson_is_canonical(text, len));
        sig = sign_receipt(f->worker_sk, f->m, text, len);
        if (receipt_verify(text, len, sig, &f->worker_pk, f->m, f->mtext, f->mlen, &r, &err) < 0)
                fail_msg("%s", agora_error_message(err));
        assert_string_equal(json_string_value(json_object_get(r, "type")), RECEIPT_TYPE);
        assert_string_equal(json_string_value(json_object_get(r, "dispatchId")), f->m->dispatch_id);
        agora_hash_buffer(f->mtext, f->mlen, &h);
        agora_hash_format(&h, mh);
        assert_string_equal(json_string_value(json_object_get(r, "manifestHash")), mh);
        assert_string_equal(json_string_value(json_object_get(r, "workerKeyId")), f->worker_id);
        assert_string_equal(json_string_value(json_object_get(r, "reason")), "exited");
        assert_int_equal(json_integer_value(json_object_get(r, "finishedAt")), 1700000000250);
        assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "stdout"), "bytes")), 6);
}

static void test_trusted_comment_names_the_dispatch(void **state)
{
        fixture *f = *state;
        _cleanup_free_ char *text = NULL, *sig = NULL, *tc = NULL, *want = NULL;
        _cleanup_error_ agora_error_t err = NULL;
        size_t len = 0;

        text = build(f, f->m, f->mtext, f->mlen, f->worker_id, &len);
        sig = sign_receipt(f->worker_sk, f->m, text, len);
        assert_int_equal(sign_verify(&f->worker_pk, text, len, sig, &tc, &err), 0);
        assert_true(asprintf(&want, "agora receipt %s", f->m->dispatch_id) > 0);
        assert_string_equal(tc, want);
}

static void test_refuses_other_key(void **state)
{
        fixture *f = *state;
        _cleanup_free_ char *text = NULL, *sig = NULL;
        size_t len = 0;

        text = build(f, f->m, f->mtext, f->mlen, f->worker_id, &len);
        sig = sign_receipt(f->other_sk, f->m, text, len);
        expect_refused(f, text, len, sig, f->other_id);
}

static void test_refuses_changed_exit_code_signed_by_other_key(void **state)
{
        fixture *f = *state;
        _cleanup_free_ char *text = NULL, *forged = NULL, *sig = NULL;
        size_t len = 0, flen = 0;

        text = build(f, f->m, f->mtext, f->mlen, f->worker_id, &len);
        forged = edit(text, len, "exitCode", json_integer(1), &flen);
        sig = sign_receipt(f->other_sk, f->m, forged, flen);
        expect_refused(f, forged, flen, sig, "not by trusted key");
}

static void test_refuses_changed_exit_code_without_signature(void **state)
{
        fixture *f = *state;
        _cleanup_free_ char *text = NULL, *forged = NULL, *sig = NULL;
        size_t len = 0, flen = 0;

        f->outcome.exit_code = 1;
        text = build(f, f->m, f->mtext, f->mlen, f->worker_id, &len);
        sig = sign_receipt(f->worker_sk, f->m, text, len);
        /* a failed job reported as a success, under the worker's signature */
        forged = edit(text, len, "exitCode", json_integer(0), &flen);
        assert_int_equal(flen, len);
        expect_refused(f, forged, flen, sig, "does not match");
}

static void test_refuses_receipt_for_other_manifest(void **state)
{
        fixture *f = *state;
        manifest *m2 = make(f, "hello");
        _cleanup_free_ char *m2text = NULL, *text = NULL, *sig = NULL;
        _cleanup_error_ agora_error_t err = NULL;
        size_t m2len = 0, len = 0;

        /* the same job dispatched twice: the receipt of one is no receipt of the other */
        assert_int_equal(manifest_dump(m2, &m2text, &m2len, &err), 0);
        text = build(f, m2, m2text, m2len, f->worker_id, &len);
        sig = sign_receipt(f->worker_sk, m2, text, len);
        expect_refused(f, text, len, sig, m2->dispatch_id);
        manifest_free(m2);
}

static void test_refuses_other_dispatch_id_under_right_comment(void **state)
{
        fixture *f = *state;
        manifest *m2 = make(f, "hello");
        _cleanup_free_ char *m2text = NULL, *text = NULL, *sig = NULL;
        _cleanup_error_ agora_error_t err = NULL;
        size_t m2len = 0, len = 0;

        /* a worker that signs another job's receipt with this job's comment */
        assert_int_equal(manifest_dump(m2, &m2text, &m2len, &err), 0);
        text = build(f, m2, m2text, m2len, f->worker_id, &len);
        sig = sign_receipt(f->worker_sk, f->m, text, len);
        expect_refused(f, text, len, sig, "'dispatchId' differs");
        manifest_free(m2);
}

static void test_refuses_manifest_hash_of_other_text(void **state)
{
        fixture *f = *state;
        _cleanup_free_ char *other = NULL, *text = NULL, *sig = NULL;
        _cleanup_error_ agora_error_t err = NULL;
        size_t olen = 0, len = 0;

        /* Same id, commit, hashes and profile; only an argument differs, and
         * only manifestHash can tell. */
        free(f->m->args[0]);
        f->m->args[0] = strdup("rm -rf");
        assert_int_equal(manifest_dump(f->m, &other, &olen, &err), 0);
        free(f->m->args[0]);
        f->m->args[0] = strdup("hello");
        text = build(f, f->m, other, olen, f->worker_id, &len);
        sig = sign_receipt(f->worker_sk, f->m, text, len);
        expect_refused(f, text, len, sig, "manifestHash is not the hash of the manifest sent");
}

static void test_refuses_worker_key_id_of_other_key(void **state)
{
        fixture *f = *state;
        _cleanup_free_ char *text = NULL, *sig = NULL, *want = NULL;
        size_t len = 0;

        text = build(f, f->m, f->mtext, f->mlen, f->other_id, &len);
        sig = sign_receipt(f->worker_sk, f->m, text, len);
        assert_true(asprintf(&want, "workerKeyId is not %s", f->worker_id) > 0);
        expect_refused(f, text, len, sig, want);
}

static void test_refuses_changed_capability_hash(void **state)
{
        fixture *f = *state;
        _cleanup_free_ char *text = NULL, *forged = NULL, *sig = NULL;
        char h[AGORA_HASH_STR_LEN + 1];
        size_t len = 0, flen = 0;

        /* validly signed by the worker, about a tarball that was not sent */
        text = build(f, f->m, f->mtext, f->mlen, f->worker_id, &len);
        forged = edit(text, len, "capabilities",
                      json_pack("[{s:s, s:s}]", "name", "alpha", "contentHash", hash_of('9', h)), &flen);
        sig = sign_receipt(f->worker_sk, f->m, forged, flen);
        expect_refused(f, forged, flen, sig, "'capabilities' differs");
}

static void test_refuses_changed_registry_commit(void **state)
{
        fixture *f = *state;
        _cleanup_free_ char *text = NULL, *forged = NULL, *sig = NULL;
        size_t len = 0, flen = 0;

        text = build(f, f->m, f->mtext, f->mlen, f->worker_id, &len);
        forged = edit(text, len, "registryCommit", json_string("0000000000000000000000000000000000000000"), &flen);
        sig = sign_receipt(f->worker_sk, f->m, forged, flen);
        expect_refused(f, forged, flen, sig, "'registryCommit' differs");
}

static void test_refuses_changed_subagent(void **state)
{
        fixture *f = *state;
        _cleanup_free_ char *text = NULL, *forged = NULL, *sig = NULL;
        char h[AGORA_HASH_STR_LEN + 1];
        size_t len = 0, flen = 0;

        text = build(f, f->m, f->mtext, f->mlen, f->worker_id, &len);
        forged = edit(text, len, "subagent",
                      json_pack("{s:s, s:s}", "name", "echo-agent", "contentHash", hash_of('8', h)), &flen);
        sig = sign_receipt(f->worker_sk, f->m, forged, flen);
        expect_refused(f, forged, flen, sig, "'subagent' differs");
}

static void test_refuses_changed_env(void **state)
{
        fixture *f = *state;
        _cleanup_free_ char *text = NULL, *forged = NULL, *sig = NULL;
        char h[AGORA_HASH_STR_LEN + 1];
        size_t len = 0, flen = 0;

        text = build(f, f->m, f->mtext, f->mlen, f->worker_id, &len);
        forged = edit(text, len, "env", json_pack("{s:s, s:s}", "name", "prod", "contentHash", hash_of('3', h)), &flen);
        sig = sign_receipt(f->worker_sk, f->m, forged, flen);
        expect_refused(f, forged, flen, sig, "'env' differs");
}

static void test_refuses_changed_profile(void **state)
{
        fixture *f = *state;
        _cleanup_free_ char *text = NULL, *forged = NULL, *sig = NULL;
        size_t len = 0, flen = 0;

        text = build(f, f->m, f->mtext, f->mlen, f->worker_id, &len);
        forged = edit(text, len, "profile", json_string("unconfined"), &flen);
        sig = sign_receipt(f->worker_sk, f->m, forged, flen);
        expect_refused(f, forged, flen, sig, "'profile' differs");
}

static void test_refuses_comment_for_other_dispatch(void **state)
{
        fixture *f = *state;
        _cleanup_free_ char *text = NULL, *sig = NULL;
        _cleanup_error_ agora_error_t err = NULL;
        char other[MANIFEST_ID_LEN + 1], tc[64];
        size_t len = 0;

        text = build(f, f->m, f->mtext, f->mlen, f->worker_id, &len);
        manifest_random_id(other);
        snprintf(tc, sizeof(tc), "agora receipt %s", other);
        assert_int_equal(sign_message(f->worker_sk, text, len, tc, &sig, &err), 0);
        expect_refused(f, text, len, sig, other);
}

static void test_refuses_manifest_signature_as_receipt(void **state)
{
        fixture *f = *state;
        _cleanup_free_ char *text = NULL, *sig = NULL;
        _cleanup_error_ agora_error_t err = NULL;
        size_t len = 0;

        /* the worker's key over the right bytes, but made as a dispatch signature */
        text = build(f, f->m, f->mtext, f->mlen, f->worker_id, &len);
        assert_int_equal(manifest_sign(f->worker_sk, f->m, text, len, &sig, &err), 0);
        expect_refused(f, text, len, sig, "signature is for 'agora dispatch");
}

static void test_refuses_non_canonical_text(void **state)
{
        fixture *f = *state;
        _cleanup_free_ char *text = NULL, *spaced = NULL, *sig = NULL;
        size_t len = 0;

        text = build(f, f->m, f->mtext, f->mlen, f->worker_id, &len);
        assert_true(asprintf(&spaced, "%s\n", text) > 0);
        sig = sign_receipt(f->worker_sk, f->m, spaced, len + 1);
        expect_refused(f, spaced, len + 1, sig, "not canonical");
}

static void test_refuses_unknown_key(void **state)
{
        fixture *f = *state;
        _cleanup_free_ char *text = NULL, *forged = NULL, *sig = NULL;
        _cleanup_error_ agora_error_t err = NULL;
        json_t *r = NULL;
        size_t len = 0, flen = 0;

        text = build(f, f->m, f->mtext, f->mlen, f->worker_id, &len);
        forged = edit(text, len, "verdict", json_string("trust me"), &flen);
        sig = sign_receipt(f->worker_sk, f->m, forged, flen);
        assert_int_equal(receipt_verify(forged, flen, sig, &f->worker_pk, f->m, f->mtext, f->mlen, &r, &err), -1);
        assert_null(r);
        assert_non_null(strstr(agora_error_message(err), "unknown key 'verdict'"));
        /* An integrity failure naming the dispatch, like every other refusal. */
        assert_int_equal(err->kind, AGORA_ERR_INTEGRITY);
        assert_non_null(strstr(agora_error_message(err), f->m->dispatch_id));
}

static void test_refuses_stream_size_not_integer(void **state)
{
        fixture *f = *state;
        _cleanup_free_ char *text = NULL, *forged = NULL, *sig = NULL;
        char h[AGORA_HASH_STR_LEN + 1];
        size_t len = 0, flen = 0;

        text = build(f, f->m, f->mtext, f->mlen, f->worker_id, &len);
        forged = edit(text, len, "stderr",
                      json_pack("{s:s, s:s, s:b}", "sha256", hash_of('0', h), "bytes", "6", "truncated", 0), &flen);
        sig = sign_receipt(f->worker_sk, f->m, forged, flen);
        expect_refused(f, forged, flen, sig, "stderr: malformed");
}

static void test_refuses_malformed_stream(void **state)
{
        fixture *f = *state;
        _cleanup_free_ char *text = NULL, *forged = NULL, *sig = NULL;
        size_t len = 0, flen = 0;

        text = build(f, f->m, f->mtext, f->mlen, f->worker_id, &len);
        forged = edit(text, len, "stdout", json_pack("{s:s, s:i, s:b}", "sha256", "x", "bytes", 6, "truncated", 0),
                      &flen);
        sig = sign_receipt(f->worker_sk, f->m, forged, flen);
        expect_refused(f, forged, flen, sig, "stdout: malformed");
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
        const struct CMUnitTest tests[] = {
                T(test_build_sign_verify),
                T(test_trusted_comment_names_the_dispatch),
                T(test_refuses_other_key),
                T(test_refuses_changed_exit_code_signed_by_other_key),
                T(test_refuses_changed_exit_code_without_signature),
                T(test_refuses_receipt_for_other_manifest),
                T(test_refuses_other_dispatch_id_under_right_comment),
                T(test_refuses_manifest_hash_of_other_text),
                T(test_refuses_worker_key_id_of_other_key),
                T(test_refuses_changed_capability_hash),
                T(test_refuses_changed_registry_commit),
                T(test_refuses_changed_subagent),
                T(test_refuses_changed_env),
                T(test_refuses_changed_profile),
                T(test_refuses_comment_for_other_dispatch),
                T(test_refuses_manifest_signature_as_receipt),
                T(test_refuses_non_canonical_text),
                T(test_refuses_unknown_key),
                T(test_refuses_malformed_stream),
                T(test_refuses_stream_size_not_integer),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
