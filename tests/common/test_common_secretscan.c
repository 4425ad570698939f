/* SPDX-License-Identifier: Apache-2.0 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "common/secretscan.h"

static void expect_reason(const char *key, const char *value, const char *want)
{
        const char *r = secretscan_reason(key, value);

        if (r == NULL)
                fail_msg("'%s'='%s' not flagged, want '%s'", key ? key : "(null)", value, want);
        assert_string_equal(r, want);
}

static void expect_clean(const char *key, const char *value)
{
        const char *r = secretscan_reason(key, value);

        if (r != NULL)
                fail_msg("'%s'='%s' flagged as '%s'", key ? key : "(null)", value, r);
}

static void test_ordinary_values_clean(void **state)
{
        (void)state;
        expect_clean("GREETING", "hello");
        expect_clean("PORT", "8080");
        expect_clean("PATH", "/usr/bin:/bin");
        expect_clean("DIGEST", "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        expect_clean("HASH", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        expect_clean("URL", "https://example.com/path");
        expect_clean("URL", "https://user@example.com:8443/path?q=a:b");
        expect_clean("MODE", "task-abcdefghijklmnopqrstuvwxyz");
        expect_clean(NULL, "just some text with sk- in it");
        expect_clean("HOST", "risk-assessment-service-production-01");
}

static void test_innocent_key_names_clean(void **state)
{
        (void)state;
        expect_clean("GIT_AUTHOR_NAME", "Ada");
        expect_clean("TOKENIZERS_PARALLELISM", "false");
        expect_clean("HOME", "/home/agent");
}

static void test_key_names_flagged(void **state)
{
        static const char *const keys[] = {"API_TOKEN",
                                           "db_password",
                                           "Client_Secret",
                                           "PASSWD",
                                           "GPG_PASSPHRASE",
                                           "OPENAI_API_KEY",
                                           "STRIPE_APIKEY",
                                           "AWS_ACCESS_KEY",
                                           "SSH_PRIVATE_KEY",
                                           "GOOGLE_APPLICATION_CREDENTIALS",
                                           "AUTH",
                                           "X_AUTH_HEADER"};

        (void)state;
        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
                expect_reason(keys[i], "x", "key name suggests a credential");
}

static void test_key_name_with_empty_value_clean(void **state)
{
        (void)state;
        expect_clean("API_TOKEN", "");
}

static void test_aws_access_key(void **state)
{
        (void)state;
        /* AWS's documentation example key id */
        expect_reason("X", "AKIAIOSFODNN7EXAMPLE", "AWS access key id");
        expect_reason("X", "id=ASIAIOSFODNN7EXAMPLE", "AWS access key id");
        expect_clean("X", "AKIAIOSFODNN7EXAMPL"); /* 15 after prefix */
        expect_clean("X", "XAKIAIOSFODNN7EXAMPLE"); /* not at a word start */
}

static void test_github_tokens(void **state)
{
        (void)state;
        expect_reason("X", "ghp_0123456789abcdefghijABCDEFGHIJ012345", "GitHub token");
        expect_reason("X", "Bearer gho_0123456789abcdefghijABCDEFGHIJ012345", "GitHub token");
        expect_reason("X", "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz", "GitHub token");
        expect_clean("X", "ghp_short");
}

static void test_slack_token(void **state)
{
        (void)state;
        expect_reason("X", "xoxb-1234567890-abcdefghij", "Slack token");
        expect_clean("X", "xoxz-1234567890-abcdefghij");
}

static void test_sk_keys(void **state)
{
        (void)state;
        expect_reason("X", "sk-ant-api03-abcdefghijklmnopqrstuvwxyz012345", "Anthropic API key");
        expect_reason("X", "sk-proj-ABCDEFGHIJKLMNOPQRSTUVWX", "API secret key (sk-…)");
        expect_clean("X", "sk-short");
}

static void test_google_api_key(void **state)
{
        (void)state;
        expect_reason("X", "AIzaSyA1234567890abcdefghijklmnopqrstuv", "Google API key");
        expect_clean("X", "AIzaShort");
}

static void test_pem_private_key(void **state)
{
        (void)state;
        expect_reason("X", "-----BEGIN RSA PRIVATE KEY-----\nMIIE...\n-----END RSA PRIVATE KEY-----\n",
                      "PEM private key");
        expect_reason("X", "-----BEGIN OPENSSH PRIVATE KEY-----", "PEM private key");
        expect_clean("X", "-----BEGIN CERTIFICATE-----\nMIIB...\n-----END CERTIFICATE-----\n");
        expect_clean("X", "-----BEGIN PUBLIC KEY-----\nMIIB...\n-----END PUBLIC KEY-----\n");
}

static void test_jwt(void **state)
{
        (void)state;
        /* the example token from RFC 7519 section 3.1 */
        expect_reason("X",
                      "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9."
                      "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ."
                      "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
                      "JSON Web Token");
        expect_clean("X", "eyJhbGciOiJIUzI1NiJ9");
}

static void test_url_with_password(void **state)
{
        (void)state;
        expect_reason("DATABASE_URL", "postgres://app:hunter2@db.internal:5432/app", "URL with an embedded password");
        expect_reason("X", "https://user:pw@example.com/", "URL with an embedded password");
        expect_clean("X", "https://user:@example.com/");
}

static void test_value_reason_wins_over_key(void **state)
{
        (void)state;
        expect_reason("GITHUB_TOKEN", "ghp_0123456789abcdefghijABCDEFGHIJ012345", "GitHub token");
}

static void test_null_key_value_only(void **state)
{
        (void)state;
        expect_reason(NULL, "AKIAIOSFODNN7EXAMPLE", "AWS access key id");
        expect_clean(NULL, "hello");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_ordinary_values_clean),
                cmocka_unit_test(test_innocent_key_names_clean),
                cmocka_unit_test(test_key_names_flagged),
                cmocka_unit_test(test_key_name_with_empty_value_clean),
                cmocka_unit_test(test_aws_access_key),
                cmocka_unit_test(test_github_tokens),
                cmocka_unit_test(test_slack_token),
                cmocka_unit_test(test_sk_keys),
                cmocka_unit_test(test_google_api_key),
                cmocka_unit_test(test_pem_private_key),
                cmocka_unit_test(test_jwt),
                cmocka_unit_test(test_url_with_password),
                cmocka_unit_test(test_value_reason_wins_over_key),
                cmocka_unit_test(test_null_key_value_only),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
