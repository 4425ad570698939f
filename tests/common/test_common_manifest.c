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
#include <time.h>

#include "common/cjson.h"
#include "common/cleanup.h"
#include "common/manifest.h"
#include "common/sign.h"

/*
 * Three operator keys: the first two are trusted, the third is not. Every
 * manifest is built from one hand-made `agora resolve` document.
 */
typedef struct fixture {
        agora_seckey *sk[3];
        agora_pubkey pk[3];
        char id[3][2 * AGORA_KEYID_LEN + 1];
        json_t *resolved;
} fixture;

#define N_TRUST 2

/* "sha256:" followed by 64 times the hex digit C. */
static char *hash_of(char c, char out[AGORA_HASH_STR_LEN + 1])
{
        memcpy(out, "sha256:", 7);
        memset(out + 7, c, 64);
        out[AGORA_HASH_STR_LEN] = '\0';
        return out;
}

static int setup(void **state)
{
        fixture *f = calloc(1, sizeof(*f));
        char h1[AGORA_HASH_STR_LEN + 1], h2[AGORA_HASH_STR_LEN + 1], h3[AGORA_HASH_STR_LEN + 1],
                h4[AGORA_HASH_STR_LEN + 1];
        agora_error_t err = NULL;

        if (f == NULL || sodium_init() < 0)
                return -1;
        for (int i = 0; i < 3; i++) {
                if (sign_keypair_generate(&f->sk[i], &err) < 0)
                        return -1;
                sign_seckey_pubkey(f->sk[i], &f->pk[i]);
                sign_keyid_format(f->pk[i].keyid, f->id[i]);
        }
        f->resolved = json_pack("{s:{s:s, s:s}, s:[{s:s, s:s}, {s:s, s:s}], s:{s:s, s:s}, s:s, s:s, s:s}", "subagent",
                                "name", "echo-agent", "contentHash", hash_of('1', h1), "capabilities", "name", "alpha",
                                "contentHash", hash_of('2', h2), "name", "beta", "contentHash", hash_of('3', h3), "env",
                                "name", "dev", "contentHash", hash_of('4', h4), "profile", "default", "entrypoint",
                                "/usr/bin/echo", "registryCommit", "0123456789abcdef0123456789abcdef01234567");
        if (f->resolved == NULL)
                return -1;
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        fixture *f = *state;

        for (int i = 0; i < 3; i++)
                sign_seckey_free(f->sk[i]);
        json_decref(f->resolved);
        free(f);
        return 0;
}

/* A manifest from the fixture's resolved document naming KEY_ID. */
static manifest *make(const fixture *f, const char *key_id)
{
        char *const args[] = {"-n", "hello world"};
        _cleanup_error_ agora_error_t err = NULL;
        manifest *m = NULL;

        if (manifest_from_resolved(f->resolved, args, 2, 30, 600, key_id, &m, &err) < 0)
                fail_msg("%s", agora_error_message(err));
        return m;
}

static char *dump(const manifest *m, size_t *ret_len)
{
        _cleanup_error_ agora_error_t err = NULL;
        char *text = NULL;

        if (manifest_dump(m, &text, ret_len, &err) < 0)
                fail_msg("%s", agora_error_message(err));
        return text;
}

static json_t *to_json(const manifest *m)
{
        _cleanup_error_ agora_error_t err = NULL;
        json_t *o = NULL;

        if (manifest_to_json(m, &o, &err) < 0)
                fail_msg("%s", agora_error_message(err));
        return o;
}

static char *canonical(const json_t *o, size_t *ret_len)
{
        _cleanup_error_ agora_error_t err = NULL;
        char *text = NULL;

        if (cjson_dump(o, &text, ret_len, &err) < 0)
                fail_msg("%s", agora_error_message(err));
        return text;
}

static char *sign_with(const agora_seckey *sk, const manifest *m, const char *text, size_t len)
{
        _cleanup_error_ agora_error_t err = NULL;
        char *sig = NULL;

        if (manifest_sign(sk, m, text, len, &sig, &err) < 0)
                fail_msg("%s", agora_error_message(err));
        return sig;
}

static void expect_contains(const char *msg, const char *part)
{
        if (strstr(msg, part) == NULL)
                fail_msg("'%s' lacks '%s'", msg, part);
}

/* manifest_parse refuses TEXT as malformed, saying CONTAINS. */
static void expect_malformed(const char *text, size_t len, const char *contains)
{
        _cleanup_error_ agora_error_t err = NULL;
        manifest *m = NULL;

        assert_int_equal(manifest_parse(text, len, &m, &err), -1);
        assert_null(m);
        assert_non_null(err);
        assert_int_equal(err->kind, AGORA_ERR_USAGE);
        expect_contains(agora_error_message(err), contains);
}

/* The manifest of the fixture with JSON member KEY replaced by VALUE (or
 * removed when VALUE is NULL), written canonically and refused by the parser
 * with a message that says CONTAINS. */
static void expect_field_refused(const fixture *f, const char *key, json_t *value, const char *contains)
{
        _cleanup_manifest_ manifest *m = make(f, f->id[0]);
        _cleanup_json_ json_t *o = to_json(m);
        _cleanup_free_ char *text = NULL;
        size_t len = 0;

        if (value == NULL)
                assert_int_equal(json_object_del(o, key), 0);
        else
                assert_int_equal(json_object_set_new(o, key, value), 0);
        text = canonical(o, &len);
        expect_malformed(text, len, contains);
}

/* A capability list of the given names, each with a valid hash. */
static json_t *caps_of(const char *a, const char *b)
{
        char h[AGORA_HASH_STR_LEN + 1];

        return json_pack("[{s:s, s:s}, {s:s, s:s}]", "name", a, "contentHash", hash_of('5', h), "name", b,
                         "contentHash", hash_of('6', h));
}

/* manifest_verify refuses with WHY; the message names the dispatch ID and
 * says CONTAINS. */
static void expect_refusal(const fixture *f, const char *text, size_t len, const char *sig, int64_t now,
                           manifest_refusal want, const char *id, const char *contains)
{
        _cleanup_error_ agora_error_t err = NULL;
        manifest *m = NULL;
        manifest_refusal why = REFUSE_NONE;
        char dispatch[64];

        assert_int_equal(manifest_verify(text, len, sig, f->pk, N_TRUST, now, &m, &why, &err), -1);
        assert_null(m);
        if (why != want)
                fail_msg("refusal '%s', want '%s' (%s)", manifest_refusal_code(why), manifest_refusal_code(want),
                         agora_error_message(err));
        snprintf(dispatch, sizeof(dispatch), "dispatch %s", id);
        expect_contains(agora_error_message(err), dispatch);
        if (contains != NULL)
                expect_contains(agora_error_message(err), contains);
}

static void expect_verified(const fixture *f, const char *text, size_t len, const char *sig, int64_t now,
                            const char *id)
{
        _cleanup_error_ agora_error_t err = NULL;
        _cleanup_manifest_ manifest *m = NULL;
        manifest_refusal why = REFUSE_MALFORMED;

        if (manifest_verify(text, len, sig, f->pk, N_TRUST, now, &m, &why, &err) < 0)
                fail_msg("refused (%s): %s", manifest_refusal_code(why), agora_error_message(err));
        assert_int_equal(why, REFUSE_NONE);
        assert_non_null(m);
        assert_string_equal(m->dispatch_id, id);
}

/* ---- building, dumping, parsing ---- */

static void test_round_trip_keeps_every_field(void **state)
{
        fixture *f = *state;
        _cleanup_manifest_ manifest *m = make(f, f->id[0]), *p = NULL;
        _cleanup_error_ agora_error_t err = NULL;
        _cleanup_free_ char *text = NULL;
        size_t len = 0;

        text = dump(m, &len);
        if (manifest_parse(text, len, &p, &err) < 0)
                fail_msg("%s", agora_error_message(err));
        assert_string_equal(p->dispatch_id, m->dispatch_id);
        assert_string_equal(p->registry_commit, "0123456789abcdef0123456789abcdef01234567");
        assert_string_equal(p->subagent.name, "echo-agent");
        assert_memory_equal(&p->subagent.hash, &m->subagent.hash, sizeof(agora_hash));
        assert_string_equal(p->env.name, "dev");
        assert_memory_equal(&p->env.hash, &m->env.hash, sizeof(agora_hash));
        assert_int_equal(p->n_caps, 2);
        assert_string_equal(p->caps[0].name, "alpha");
        assert_string_equal(p->caps[1].name, "beta");
        assert_memory_equal(&p->caps[0].hash, &m->caps[0].hash, sizeof(agora_hash));
        assert_memory_equal(&p->caps[1].hash, &m->caps[1].hash, sizeof(agora_hash));
        assert_string_equal(p->profile, "default");
        assert_string_equal(p->entrypoint, "/usr/bin/echo");
        assert_int_equal(p->n_args, 2);
        assert_string_equal(p->args[0], "-n");
        assert_string_equal(p->args[1], "hello world");
        assert_null(p->args[2]);
        assert_int_equal(p->timeout_s, 30);
        assert_string_equal(p->nonce, m->nonce);
        assert_int_equal(p->issued_at, m->issued_at);
        assert_int_equal(p->expires_at, m->expires_at);
        assert_string_equal(p->key_id, f->id[0]);
}

static void test_dump_is_canonical_and_stable(void **state)
{
        fixture *f = *state;
        _cleanup_manifest_ manifest *m = make(f, f->id[0]), *p = NULL;
        _cleanup_error_ agora_error_t err = NULL;
        _cleanup_free_ char *text = NULL, *again = NULL;
        size_t len = 0, len2 = 0;

        text = dump(m, &len);
        assert_int_equal(strlen(text), len);
        assert_true(cjson_is_canonical(text, len));
        assert_true(strncmp(text, "{\"args\":[\"-n\",\"hello world\"],", 29) == 0);
        expect_contains(text, "\"type\":\"agora.dispatch/v1\"");
        /* what a worker parses dumps back to the very bytes that were signed */
        assert_int_equal(manifest_parse(text, len, &p, &err), 0);
        again = dump(p, &len2);
        assert_int_equal(len2, len);
        assert_memory_equal(again, text, len);
}

static void test_from_resolved_sets_window_and_fresh_ids(void **state)
{
        fixture *f = *state;
        int64_t before = (int64_t)time(NULL);
        _cleanup_manifest_ manifest *a = make(f, f->id[0]), *b = make(f, f->id[0]);
        int64_t after = (int64_t)time(NULL);

        assert_true(a->issued_at >= before && a->issued_at <= after);
        assert_int_equal(a->expires_at - a->issued_at, 600);
        assert_int_equal(strlen(a->dispatch_id), MANIFEST_ID_LEN);
        assert_int_equal(strspn(a->dispatch_id, "0123456789abcdef"), MANIFEST_ID_LEN);
        assert_int_equal(strspn(a->nonce, "0123456789abcdef"), MANIFEST_ID_LEN);
        /* two dispatches of the same job are two jobs, and never replays of each other */
        assert_string_not_equal(a->dispatch_id, b->dispatch_id);
        assert_string_not_equal(a->nonce, b->nonce);
        assert_string_not_equal(a->dispatch_id, a->nonce);
}

static void test_from_resolved_refuses_window_over_limit(void **state)
{
        fixture *f = *state;
        _cleanup_error_ agora_error_t err = NULL;
        manifest *m = NULL;

        assert_int_equal(manifest_from_resolved(f->resolved, NULL, 0, 0, MANIFEST_MAX_WINDOW_S + 1, f->id[0], &m, &err),
                         -1);
        assert_null(m);
        assert_int_equal(err->kind, AGORA_ERR_USAGE);
        expect_contains(agora_error_message(err), "validity");
}

static void test_parse_refuses_extra_whitespace(void **state)
{
        fixture *f = *state;
        _cleanup_manifest_ manifest *m = make(f, f->id[0]);
        _cleanup_free_ char *text = NULL, *spaced = NULL;
        _cleanup_json_ json_t *a = NULL, *b = NULL;
        _cleanup_error_ agora_error_t err = NULL;
        size_t len = 0;

        text = dump(m, &len);
        assert_true(asprintf(&spaced, "{ %s", text + 1) > 0);
        /* the same document, only spelt differently */
        assert_int_equal(cjson_parse(text, len, "a", &a, &err), 0);
        assert_int_equal(cjson_parse(spaced, len + 1, "b", &b, &err), 0);
        assert_true(json_equal(a, b));
        expect_malformed(spaced, len + 1, "not in canonical form");
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void test_parse_refuses_unsorted_keys(void **state)
{
        fixture *f = *state;
        _cleanup_manifest_ manifest *m = make(f, f->id[0]);
        _cleanup_json_ json_t *o = to_json(m), *rev = json_object();
        _cleanup_free_ char *text = NULL;
        const char *keys[32], *key;
        size_t n = 0;
        json_t *v;

        /* jansson keeps insertion order when not asked to sort: insert the
         * members last key first and print compactly. */
        json_object_foreach(o, key, v) keys[n++] = key;
        assert_int_equal(n, 14);
        qsort(keys, n, sizeof(keys[0]), cmp_str);
        for (size_t i = n; i-- > 0;)
                assert_int_equal(json_object_set(rev, keys[i], json_object_get(o, keys[i])), 0);
        text = json_dumps(rev, JSON_COMPACT);
        assert_non_null(text);
        assert_true(strncmp(text, "{\"type\":", 8) == 0);
        expect_malformed(text, strlen(text), "not in canonical form");
}

static void test_parse_refuses_unknown_key(void **state)
{
        expect_field_refused(*state, "priority", json_integer(1), "unknown key 'priority'");
}

static void test_parse_refuses_missing_key(void **state)
{
        expect_field_refused(*state, "nonce", NULL, "no 'nonce'");
}

static void test_parse_refuses_missing_key_id(void **state)
{
        expect_field_refused(*state, "keyId", NULL, "no 'keyId'");
}

static void test_parse_refuses_other_type(void **state)
{
        /* a receipt's signature must never pass for a dispatch's */
        expect_field_refused(*state, "type", json_string("agora.receipt/v1"), "type 'agora.receipt/v1'");
}

static void test_parse_refuses_short_dispatch_id(void **state)
{
        expect_field_refused(*state, "dispatchId", json_string("0123456789abcdef0123456789abcde"),
                             "dispatchId: want 32 lowercase hex digits");
}

static void test_parse_refuses_long_dispatch_id(void **state)
{
        expect_field_refused(*state, "dispatchId", json_string("0123456789abcdef0123456789abcdef0"),
                             "dispatchId: want 32 lowercase hex digits");
}

static void test_parse_refuses_uppercase_dispatch_id(void **state)
{
        /* two spellings of one id would be two jobs to a worker's index */
        expect_field_refused(*state, "dispatchId", json_string("0123456789ABCDEF0123456789abcdef"),
                             "dispatchId: want 32 lowercase hex digits");
}

static void test_parse_refuses_non_hex_dispatch_id(void **state)
{
        expect_field_refused(*state, "dispatchId", json_string("../../../../etc/passwd0123456789"),
                             "dispatchId: want 32 lowercase hex digits");
}

static void test_parse_refuses_short_nonce(void **state)
{
        expect_field_refused(*state, "nonce", json_string("abc"), "nonce: want 32 lowercase hex digits");
}

static void test_parse_refuses_uppercase_nonce(void **state)
{
        expect_field_refused(*state, "nonce", json_string("0123456789abcdef0123456789ABCDEF"),
                             "nonce: want 32 lowercase hex digits");
}

static void test_parse_refuses_bad_registry_commit(void **state)
{
        expect_field_refused(*state, "registryCommit", json_string("0123456789abcdef"),
                             "registryCommit: want 40 lowercase hex digits");
}

static void test_parse_refuses_bad_subagent_hash(void **state)
{
        expect_field_refused(*state, "subagent",
                             json_pack("{s:s, s:s}", "name", "echo-agent", "contentHash", "sha256:00"),
                             "not a sha256 content hash");
}

static void test_parse_refuses_uppercase_env_hash(void **state)
{
        char h[AGORA_HASH_STR_LEN + 1];

        expect_field_refused(*state, "env", json_pack("{s:s, s:s}", "name", "dev", "contentHash", hash_of('A', h)),
                             "manifest: env: ");
}

static void test_parse_refuses_capability_hash_of_other_algorithm(void **state)
{
        char h[AGORA_HASH_STR_LEN + 1];
        json_t *caps = caps_of("alpha", "beta");

        memcpy(hash_of('7', h), "sha512:", 7);
        json_object_set_new(json_array_get(caps, 1), "contentHash", json_string(h));
        expect_field_refused(*state, "capabilities", caps, "not a sha256 content hash");
}

static void test_parse_refuses_capability_name_dotdot(void **state)
{
        expect_field_refused(*state, "capabilities", caps_of("../x", "beta"), "capability name '../x'");
}

static void test_parse_refuses_capability_name_slash(void **state)
{
        expect_field_refused(*state, "capabilities", caps_of("a/b", "beta"), "capability name 'a/b'");
}

static void test_parse_refuses_bad_subagent_name(void **state)
{
        char h[AGORA_HASH_STR_LEN + 1];

        expect_field_refused(*state, "subagent", json_pack("{s:s, s:s}", "name", "..", "contentHash", hash_of('1', h)),
                             "subagent name '..'");
}

static void test_parse_refuses_bad_profile_name(void **state)
{
        expect_field_refused(*state, "profile", json_string("../../etc/agora"), "profile name");
}

static void test_parse_refuses_unsorted_capabilities(void **state)
{
        expect_field_refused(*state, "capabilities", caps_of("beta", "alpha"), "not sorted and unique at 'alpha'");
}

static void test_parse_refuses_duplicate_capability(void **state)
{
        /* one mount point, two tarballs */
        expect_field_refused(*state, "capabilities", caps_of("alpha", "alpha"), "not sorted and unique at 'alpha'");
}

static void test_parse_refuses_relative_entrypoint(void **state)
{
        expect_field_refused(*state, "entrypoint", json_string("bin/sh"), "entrypoint 'bin/sh': not an absolute path");
}

static void test_parse_refuses_non_string_arg(void **state)
{
        expect_field_refused(*state, "args", json_pack("[s, i]", "-n", 7), "args[1]: not a string");
}

static void test_parse_refuses_nul_inside_arg(void **state)
{
        fixture *f = *state;
        _cleanup_manifest_ manifest *m = make(f, f->id[0]);
        _cleanup_json_ json_t *o = to_json(m);
        _cleanup_free_ char *text = NULL;
        size_t len = 0;

        /* "a\0b" would reach execve as "a" */
        assert_int_equal(json_object_set_new(o, "args", json_pack("[s%]", "a\0b", (size_t)3)), 0);
        text = canonical(o, &len);
        expect_contains(text, "\"args\":[\"a\\u0000b\"]");
        expect_malformed(text, len, "manifest");
}

static void test_parse_refuses_too_many_args(void **state)
{
        json_t *args = json_array();

        for (int i = 0; i <= MANIFEST_MAX_ARGS; i++)
                json_array_append_new(args, json_string("x"));
        expect_field_refused(*state, "args", args, "more than 256 args");
}

static void test_parse_refuses_negative_timeout(void **state)
{
        expect_field_refused(*state, "timeoutS", json_integer(-1), "timeoutS: not an integer");
}

static void test_parse_refuses_key_id_that_is_not_one(void **state)
{
        expect_field_refused(*state, "keyId", json_string("fe88aee4f8742f53"), "keyId 'fe88aee4f8742f53'");
}

/* The fixture manifest with the given times, as canonical text. */
static char *with_times(const fixture *f, int64_t issued, int64_t expires, size_t *ret_len)
{
        _cleanup_manifest_ manifest *m = make(f, f->id[0]);

        m->issued_at = issued;
        m->expires_at = expires;
        return dump(m, ret_len);
}

static void test_parse_refuses_window_over_limit(void **state)
{
        size_t len = 0;
        _cleanup_free_ char *text = with_times(*state, 1700000000, 1700000000 + MANIFEST_MAX_WINDOW_S + 1, &len);

        expect_malformed(text, len, "validity window of 3601 s");
}

static void test_parse_accepts_window_at_limit(void **state)
{
        size_t len = 0;
        _cleanup_free_ char *text = with_times(*state, 1700000000, 1700000000 + MANIFEST_MAX_WINDOW_S, &len);
        _cleanup_manifest_ manifest *m = NULL;
        _cleanup_error_ agora_error_t err = NULL;

        if (manifest_parse(text, len, &m, &err) < 0)
                fail_msg("%s", agora_error_message(err));
        assert_int_equal(m->expires_at - m->issued_at, MANIFEST_MAX_WINDOW_S);
}

static void test_parse_refuses_expiry_not_after_issue(void **state)
{
        size_t len = 0;
        _cleanup_free_ char *same = with_times(*state, 1700000000, 1700000000, &len);
        _cleanup_free_ char *before = NULL;

        expect_malformed(same, len, "validity window of 0 s");
        before = with_times(*state, 1700000000, 1699999999, &len);
        expect_malformed(before, len, "validity window of -1 s");
}

/* The fixture manifest with one argument sized so the text is LEN bytes. */
static char *text_of_length(const fixture *f, size_t want, size_t *ret_len)
{
        _cleanup_manifest_ manifest *m = make(f, f->id[0]);
        _cleanup_free_ char *base = NULL;
        size_t len = 0;

        free(m->args[1]);
        m->args[1] = strdup("");
        base = dump(m, &len);
        assert_true(want > len);
        free(m->args[1]);
        m->args[1] = malloc(want - len + 1);
        assert_non_null(m->args[1]);
        memset(m->args[1], 'a', want - len);
        m->args[1][want - len] = '\0';
        return dump(m, ret_len);
}

static void test_parse_refuses_oversized_text(void **state)
{
        size_t len = 0;
        _cleanup_free_ char *text = text_of_length(*state, MANIFEST_MAX_BYTES + 1, &len);

        assert_int_equal(len, MANIFEST_MAX_BYTES + 1);
        expect_malformed(text, len, "262145 bytes, above the limit of 262144");
}

static void test_parse_accepts_text_at_size_limit(void **state)
{
        size_t len = 0;
        _cleanup_free_ char *text = text_of_length(*state, MANIFEST_MAX_BYTES, &len);
        _cleanup_manifest_ manifest *m = NULL;
        _cleanup_error_ agora_error_t err = NULL;

        assert_int_equal(len, MANIFEST_MAX_BYTES);
        if (manifest_parse(text, len, &m, &err) < 0)
                fail_msg("%s", agora_error_message(err));
}

static void test_parse_refuses_trailing_bytes(void **state)
{
        fixture *f = *state;
        _cleanup_manifest_ manifest *m = make(f, f->id[0]);
        _cleanup_free_ char *text = NULL, *two = NULL;
        size_t len = 0;

        text = dump(m, &len);
        assert_true(asprintf(&two, "%s%s", text, text) > 0);
        expect_malformed(two, 2 * len, "manifest");
}

/* ---- verification ---- */

static void test_verify_accepts_good_signature(void **state)
{
        fixture *f = *state;
        _cleanup_manifest_ manifest *m = make(f, f->id[1]);
        _cleanup_free_ char *text = NULL, *sig = NULL;
        size_t len = 0;

        text = dump(m, &len);
        sig = sign_with(f->sk[1], m, text, len);
        expect_contains(sig, "trusted comment: agora dispatch ");
        expect_verified(f, text, len, sig, m->issued_at, m->dispatch_id);
}

static void test_verify_refuses_malformed_text(void **state)
{
        fixture *f = *state;
        _cleanup_error_ agora_error_t err = NULL;
        manifest *m = NULL;
        manifest_refusal why = REFUSE_NONE;

        assert_int_equal(manifest_verify("{}", 2, "x", f->pk, N_TRUST, 0, &m, &why, &err), -1);
        assert_int_equal(why, REFUSE_MALFORMED);
        assert_null(m);
}

static void test_verify_refuses_null_signature(void **state)
{
        fixture *f = *state;
        _cleanup_manifest_ manifest *m = make(f, f->id[0]);
        size_t len = 0;
        _cleanup_free_ char *text = dump(m, &len);

        expect_refusal(f, text, len, NULL, m->issued_at, REFUSE_NO_SIGNATURE, m->dispatch_id, "no signature");
}

static void test_verify_refuses_empty_signature(void **state)
{
        fixture *f = *state;
        _cleanup_manifest_ manifest *m = make(f, f->id[0]);
        size_t len = 0;
        _cleanup_free_ char *text = dump(m, &len);

        expect_refusal(f, text, len, "", m->issued_at, REFUSE_NO_SIGNATURE, m->dispatch_id, "no signature");
}

static void test_verify_refuses_changed_argument(void **state)
{
        fixture *f = *state;
        _cleanup_manifest_ manifest *m = make(f, f->id[0]);
        _cleanup_free_ char *text = NULL, *sig = NULL, *forged = NULL;
        size_t len = 0, flen = 0;

        text = dump(m, &len);
        sig = sign_with(f->sk[0], m, text, len);
        /* one byte of one argument, the rest and the form untouched */
        m->args[1][0] = 'j';
        forged = dump(m, &flen);
        assert_int_equal(flen, len);
        assert_memory_not_equal(forged, text, len);
        expect_refusal(f, forged, flen, sig, m->issued_at, REFUSE_BAD_SIGNATURE, m->dispatch_id, "does not match");
}

static void test_verify_refuses_garbage_signature(void **state)
{
        fixture *f = *state;
        _cleanup_manifest_ manifest *m = make(f, f->id[0]);
        size_t len = 0;
        _cleanup_free_ char *text = dump(m, &len);

        expect_refusal(f, text, len, "untrusted comment: x\nnot base64!\n", m->issued_at, REFUSE_BAD_SIGNATURE,
                       m->dispatch_id, "malformed");
}

static void test_verify_refuses_untrusted_key(void **state)
{
        fixture *f = *state;
        _cleanup_manifest_ manifest *m = make(f, f->id[2]);
        _cleanup_free_ char *text = NULL, *sig = NULL, *want = NULL;
        size_t len = 0;

        text = dump(m, &len);
        sig = sign_with(f->sk[2], m, text, len);
        assert_true(asprintf(&want, "signed by key %s, which is not trusted", f->id[2]) > 0);
        expect_refusal(f, text, len, sig, m->issued_at, REFUSE_UNTRUSTED_KEY, m->dispatch_id, want);
}

static void test_verify_refuses_key_id_of_other_trusted_key(void **state)
{
        fixture *f = *state;
        /* names the second trusted key, signed by the first */
        _cleanup_manifest_ manifest *m = make(f, f->id[1]);
        _cleanup_free_ char *text = NULL, *sig = NULL, *want = NULL;
        size_t len = 0;

        text = dump(m, &len);
        sig = sign_with(f->sk[0], m, text, len);
        assert_true(asprintf(&want, "names key %s but was signed by %s", f->id[1], f->id[0]) > 0);
        expect_refusal(f, text, len, sig, m->issued_at, REFUSE_UNTRUSTED_KEY, m->dispatch_id, want);
}

static void test_verify_refuses_signature_for_other_dispatch(void **state)
{
        fixture *f = *state;
        _cleanup_manifest_ manifest *m = make(f, f->id[0]);
        _cleanup_free_ char *text = NULL, *sig = NULL;
        _cleanup_error_ agora_error_t err = NULL;
        char other[MANIFEST_ID_LEN + 1], tc[64];
        size_t len = 0;

        text = dump(m, &len);
        manifest_random_id(other);
        snprintf(tc, sizeof(tc), "agora dispatch %s", other);
        assert_int_equal(sign_message(f->sk[0], text, len, tc, &sig, &err), 0);
        expect_refusal(f, text, len, sig, m->issued_at, REFUSE_BAD_SIGNATURE, m->dispatch_id, other);
}

static void test_verify_refuses_receipt_signature(void **state)
{
        fixture *f = *state;
        _cleanup_manifest_ manifest *m = make(f, f->id[0]);
        _cleanup_free_ char *text = NULL, *sig = NULL;
        _cleanup_error_ agora_error_t err = NULL;
        char tc[64];
        size_t len = 0;

        /* the same key and id, but a signature made for another purpose */
        text = dump(m, &len);
        snprintf(tc, sizeof(tc), "agora receipt %s", m->dispatch_id);
        assert_int_equal(sign_message(f->sk[0], text, len, tc, &sig, &err), 0);
        expect_refusal(f, text, len, sig, m->issued_at, REFUSE_BAD_SIGNATURE, m->dispatch_id, "signature is for");
}

static void test_verify_refuses_expired(void **state)
{
        fixture *f = *state;
        _cleanup_manifest_ manifest *m = make(f, f->id[0]);
        _cleanup_free_ char *text = NULL, *sig = NULL;
        size_t len = 0;

        text = dump(m, &len);
        sig = sign_with(f->sk[0], m, text, len);
        expect_refusal(f, text, len, sig, m->expires_at, REFUSE_EXPIRED, m->dispatch_id, "expired 0 s ago");
}

static void test_verify_accepts_last_second(void **state)
{
        fixture *f = *state;
        _cleanup_manifest_ manifest *m = make(f, f->id[0]);
        _cleanup_free_ char *text = NULL, *sig = NULL;
        size_t len = 0;

        text = dump(m, &len);
        sig = sign_with(f->sk[0], m, text, len);
        expect_verified(f, text, len, sig, m->expires_at - 1, m->dispatch_id);
}

static void test_verify_refuses_not_yet_valid(void **state)
{
        fixture *f = *state;
        _cleanup_manifest_ manifest *m = make(f, f->id[0]);
        _cleanup_free_ char *text = NULL, *sig = NULL;
        size_t len = 0;

        text = dump(m, &len);
        sig = sign_with(f->sk[0], m, text, len);
        expect_refusal(f, text, len, sig, m->issued_at - MANIFEST_SKEW_S - 1, REFUSE_NOT_YET_VALID, m->dispatch_id,
                       "not valid for another 61 s");
}

static void test_verify_accepts_at_skew_boundary(void **state)
{
        fixture *f = *state;
        _cleanup_manifest_ manifest *m = make(f, f->id[0]);
        _cleanup_free_ char *text = NULL, *sig = NULL;
        size_t len = 0;

        text = dump(m, &len);
        sig = sign_with(f->sk[0], m, text, len);
        expect_verified(f, text, len, sig, m->issued_at - MANIFEST_SKEW_S, m->dispatch_id);
}

static void test_refusal_codes_round_trip(void **state)
{
        (void)state;
        for (int r = REFUSE_MALFORMED; r < REFUSE__COUNT; r++) {
                const char *code = manifest_refusal_code((manifest_refusal)r);
                assert_non_null(code);
                assert_int_equal(manifest_refusal_parse(code), r);
                for (int s = 0; s < r; s++)
                        assert_string_not_equal(code, manifest_refusal_code((manifest_refusal)s));
        }
        assert_string_equal(manifest_refusal_code(REFUSE_BAD_SIGNATURE), "bad-signature");
        assert_string_equal(manifest_refusal_code(REFUSE_UNTRUSTED_KEY), "untrusted-key");
        assert_string_equal(manifest_refusal_code(REFUSE_NOT_YET_VALID), "not-yet-valid");
}

static void test_refusal_parse_never_yields_success(void **state)
{
        (void)state;
        /* a peer that answers "none" or nonsense has still refused */
        assert_int_equal(manifest_refusal_parse("none"), REFUSE_FAILED);
        assert_int_equal(manifest_refusal_parse("no-such-code"), REFUSE_FAILED);
        assert_int_equal(manifest_refusal_parse(""), REFUSE_FAILED);
        assert_int_equal(manifest_refusal_parse(NULL), REFUSE_FAILED);
        assert_string_equal(manifest_refusal_code(REFUSE__COUNT), "failed");
        assert_string_equal(manifest_refusal_code((manifest_refusal)-1), "failed");
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
        const struct CMUnitTest tests[] = {
                T(test_round_trip_keeps_every_field),
                T(test_dump_is_canonical_and_stable),
                T(test_from_resolved_sets_window_and_fresh_ids),
                T(test_from_resolved_refuses_window_over_limit),
                T(test_parse_refuses_extra_whitespace),
                T(test_parse_refuses_unsorted_keys),
                T(test_parse_refuses_unknown_key),
                T(test_parse_refuses_missing_key),
                T(test_parse_refuses_missing_key_id),
                T(test_parse_refuses_other_type),
                T(test_parse_refuses_short_dispatch_id),
                T(test_parse_refuses_long_dispatch_id),
                T(test_parse_refuses_uppercase_dispatch_id),
                T(test_parse_refuses_non_hex_dispatch_id),
                T(test_parse_refuses_short_nonce),
                T(test_parse_refuses_uppercase_nonce),
                T(test_parse_refuses_bad_registry_commit),
                T(test_parse_refuses_bad_subagent_hash),
                T(test_parse_refuses_uppercase_env_hash),
                T(test_parse_refuses_capability_hash_of_other_algorithm),
                T(test_parse_refuses_capability_name_dotdot),
                T(test_parse_refuses_capability_name_slash),
                T(test_parse_refuses_bad_subagent_name),
                T(test_parse_refuses_bad_profile_name),
                T(test_parse_refuses_unsorted_capabilities),
                T(test_parse_refuses_duplicate_capability),
                T(test_parse_refuses_relative_entrypoint),
                T(test_parse_refuses_non_string_arg),
                T(test_parse_refuses_nul_inside_arg),
                T(test_parse_refuses_too_many_args),
                T(test_parse_refuses_negative_timeout),
                T(test_parse_refuses_key_id_that_is_not_one),
                T(test_parse_refuses_window_over_limit),
                T(test_parse_accepts_window_at_limit),
                T(test_parse_refuses_expiry_not_after_issue),
                T(test_parse_refuses_oversized_text),
                T(test_parse_accepts_text_at_size_limit),
                T(test_parse_refuses_trailing_bytes),
                T(test_verify_accepts_good_signature),
                T(test_verify_refuses_malformed_text),
                T(test_verify_refuses_null_signature),
                T(test_verify_refuses_empty_signature),
                T(test_verify_refuses_changed_argument),
                T(test_verify_refuses_garbage_signature),
                T(test_verify_refuses_untrusted_key),
                T(test_verify_refuses_key_id_of_other_trusted_key),
                T(test_verify_refuses_signature_for_other_dispatch),
                T(test_verify_refuses_receipt_signature),
                T(test_verify_refuses_expired),
                T(test_verify_accepts_last_second),
                T(test_verify_refuses_not_yet_valid),
                T(test_verify_accepts_at_skew_boundary),
                T(test_refusal_codes_round_trip),
                T(test_refusal_parse_never_yields_success),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
