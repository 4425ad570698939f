/* SPDX-License-Identifier: Apache-2.0 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/wire.h"

/* A message of the prefix for header length HLEN, then HEADER's bytes
 * (N of them), then nothing: a frame written by hand, as a peer might. */
static unsigned char *frame(uint32_t hlen, const void *header, size_t n, size_t *ret_len)
{
        unsigned char *b = malloc(WIRE_PREFIX_LEN + n + 1);

        assert_non_null(b);
        memcpy(b, WIRE_MAGIC, 4);
        b[4] = (unsigned char)(hlen >> 24);
        b[5] = (unsigned char)(hlen >> 16);
        b[6] = (unsigned char)(hlen >> 8);
        b[7] = (unsigned char)hlen;
        if (n > 0)
                memcpy(b + WIRE_PREFIX_LEN, header, n);
        *ret_len = WIRE_PREFIX_LEN + n;
        return b;
}

/* A frame whose header length is exactly the header's. */
static unsigned char *frame_text(const char *header, size_t *ret_len)
{
        return frame((uint32_t)strlen(header), header, strlen(header), ret_len);
}

static void expect_refused(const void *buf, size_t len, const char *contains)
{
        _cleanup_error_ agora_error_t err = NULL;
        json_t *h = NULL;
        const unsigned char *payload = NULL;
        size_t plen = 0;

        assert_int_equal(wire_decode(buf, len, &h, &payload, &plen, &err), -1);
        assert_null(h);
        assert_null(payload);
        assert_non_null(err);
        assert_int_equal(err->kind, AGORA_ERR_USAGE);
        if (strstr(agora_error_message(err), contains) == NULL)
                fail_msg("'%s' lacks '%s'", agora_error_message(err), contains);
}

/* Encode HEADER and PAYLOAD, decode, and check both come back unchanged,
 * the payload in place behind the header. */
static void round_trip(json_t *header, const void *payload, size_t len)
{
        _cleanup_error_ agora_error_t err = NULL;
        _cleanup_free_ unsigned char *buf = NULL;
        _cleanup_json_ json_t *h = NULL;
        const unsigned char *p = NULL;
        size_t blen = 0, plen = 99;

        if (wire_encode(header, payload, len, &buf, &blen, &err) < 0)
                fail_msg("%s", agora_error_message(err));
        assert_memory_equal(buf, "AGW1", 4);
        if (wire_decode(buf, blen, &h, &p, &plen, &err) < 0)
                fail_msg("%s", agora_error_message(err));
        assert_true(json_equal(h, header));
        assert_int_equal(plen, len);
        assert_ptr_equal(p, buf + blen - len);
        if (len > 0)
                assert_memory_equal(p, payload, len);
        json_decref(header);
}

static void test_round_trip_with_payload(void **state)
{
        (void)state;
        round_trip(json_pack("{s:s, s:s, s:i}", "op", "blob", "hash", "sha256:00", "offset", 4096), "chunk of bytes",
                   14);
}

static void test_round_trip_without_payload(void **state)
{
        (void)state;
        round_trip(json_pack("{s:s, s:s}", "op", "release", "dispatchId", "0123456789abcdef0123456789abcdef"), NULL, 0);
}

static void test_round_trip_binary_payload(void **state)
{
        unsigned char bytes[512];

        (void)state;
        /* NUL-ended secret records and raw tarball bytes travel as they are */
        for (size_t i = 0; i < sizeof(bytes); i++)
                bytes[i] = (unsigned char)(i * 7);
        memcpy(bytes, "A=1\0B=2\0\0\0", 10);
        round_trip(json_pack("{s:s, s:s, s:s}", "op", "submit", "manifest", "{}", "signature", "x"), bytes,
                   sizeof(bytes));
}

static void test_round_trip_refusal_reply(void **state)
{
        (void)state;
        round_trip(wire_refusal("bad-signature", "dispatch 01: signature does not match"), NULL, 0);
}

static void test_round_trip_large_header(void **state)
{
        /* a submit's header carries the whole manifest: all four length bytes count */
        size_t n = 300000;
        _cleanup_free_ char *big = malloc(n + 1);

        (void)state;
        assert_non_null(big);
        memset(big, 'm', n);
        big[n] = '\0';
        round_trip(json_pack("{s:s, s:s}", "op", "submit", "manifest", big), "A=1", 4);
}

/* A header {"op":"mmm…"} of exactly N bytes, encoded. */
static int encode_header_of(size_t n, unsigned char **ret, agora_error_t *err)
{
        _cleanup_free_ char *op = malloc(n);
        _cleanup_json_ json_t *h = NULL;
        size_t len = 0;

        assert_non_null(op);
        memset(op, 'm', n - 9);
        op[n - 9] = '\0';
        h = json_pack("{s:s}", "op", op);
        return wire_encode(h, NULL, 0, ret, &len, err);
}

static void test_encode_header_limit_is_exact(void **state)
{
        _cleanup_free_ unsigned char *at = NULL;
        unsigned char *over = NULL;
        _cleanup_error_ agora_error_t err = NULL;

        (void)state;
        assert_int_equal(encode_header_of(WIRE_HEADER_MAX, &at, &err), 0);
        assert_int_equal(encode_header_of(WIRE_HEADER_MAX + 1, &over, &err), -1);
        assert_null(over);
        assert_int_equal(err->kind, AGORA_ERR_USAGE);
        assert_non_null(strstr(agora_error_message(err), "524289 bytes, above the limit of 524288"));
}

static void test_header_length_is_big_endian(void **state)
{
        _cleanup_error_ agora_error_t err = NULL;
        _cleanup_free_ unsigned char *buf = NULL;
        _cleanup_json_ json_t *h = json_pack("{s:s}", "op", "status");
        size_t len = 0;

        (void)state;
        assert_int_equal(wire_encode(h, "xy", 2, &buf, &len, &err), 0);
        /* {"op":"status"} */
        assert_int_equal(len, 8 + 15 + 2);
        assert_memory_equal(buf, "AGW1\0\0\0\x0f{\"op\":\"status\"}xy", len);
}

static void test_refuses_shorter_than_prefix(void **state)
{
        (void)state;
        expect_refused("AGW1\0\0\0", 7, "truncated (7 bytes)");
        expect_refused("", 0, "truncated (0 bytes)");
}

static void test_refuses_bad_magic(void **state)
{
        size_t len = 0;
        _cleanup_free_ unsigned char *b = frame_text("{\"op\":\"status\"}", &len);

        (void)state;
        b[3] = '2';
        expect_refused(b, len, "bad magic");
}

static void test_refuses_header_beyond_buffer(void **state)
{
        const char *h = "{\"op\":\"status\"}";
        size_t len = 0;
        _cleanup_free_ unsigned char *b = frame((uint32_t)strlen(h) + 1, h, strlen(h), &len);

        (void)state;
        expect_refused(b, len, "truncated (header says 16 bytes, 15 there)");
}

static void test_refuses_truncated_encoding(void **state)
{
        _cleanup_error_ agora_error_t err = NULL;
        _cleanup_free_ unsigned char *buf = NULL;
        _cleanup_json_ json_t *h = json_pack("{s:s}", "op", "status");
        size_t len = 0;

        (void)state;
        assert_int_equal(wire_encode(h, NULL, 0, &buf, &len, &err), 0);
        expect_refused(buf, len - 1, "truncated");
}

static void test_refuses_header_over_limit(void **state)
{
        /* a well-formed header, only too long: {"op":"x"} padded with spaces */
        size_t n = WIRE_HEADER_MAX + 1, len = 0;
        _cleanup_free_ char *h = malloc(n);
        _cleanup_free_ unsigned char *b = NULL;

        (void)state;
        assert_non_null(h);
        memset(h, ' ', n);
        memcpy(h, "{\"op\":\"x\"", 9);
        h[n - 1] = '}';
        b = frame((uint32_t)n, h, n, &len);
        expect_refused(b, len, "header of 524289 bytes, above the limit of 524288");
}

static void test_accepts_header_at_limit(void **state)
{
        size_t n = WIRE_HEADER_MAX, len = 0, plen = 1;
        _cleanup_free_ char *h = malloc(n);
        _cleanup_free_ unsigned char *b = NULL;
        _cleanup_json_ json_t *header = NULL;
        _cleanup_error_ agora_error_t err = NULL;
        const unsigned char *p = NULL;

        (void)state;
        assert_non_null(h);
        memset(h, ' ', n);
        memcpy(h, "{\"op\":\"x\"", 9);
        h[n - 1] = '}';
        b = frame((uint32_t)n, h, n, &len);
        if (wire_decode(b, len, &header, &p, &plen, &err) < 0)
                fail_msg("%s", agora_error_message(err));
        assert_string_equal(json_string_value(json_object_get(header, "op")), "x");
        assert_int_equal(plen, 0);
}

static void test_refuses_huge_header_length(void **state)
{
        size_t len = 0;
        _cleanup_free_ unsigned char *b = frame(0xffffffffu, "{}", 2, &len);

        (void)state;
        expect_refused(b, len, "above the limit");
}

static void test_refuses_header_not_json(void **state)
{
        size_t len = 0;
        _cleanup_free_ unsigned char *b = frame_text("op=submit", &len);

        (void)state;
        expect_refused(b, len, "message header:");
}

static void test_refuses_empty_header(void **state)
{
        size_t len = 0;
        _cleanup_free_ unsigned char *b = frame(0, NULL, 0, &len);

        (void)state;
        expect_refused(b, len, "message header:");
}

static void test_refuses_header_not_object(void **state)
{
        size_t len = 0;
        _cleanup_free_ unsigned char *b = frame_text("[\"op\",\"submit\"]", &len);

        (void)state;
        expect_refused(b, len, "not an object with \"op\" or \"ok\"");
}

static void test_refuses_object_without_op_or_ok(void **state)
{
        size_t len = 0;
        _cleanup_free_ unsigned char *b = frame_text("{\"dispatchId\":\"01\"}", &len);

        (void)state;
        expect_refused(b, len, "not an object with \"op\" or \"ok\"");
}

static void test_refuses_op_and_ok_of_wrong_type(void **state)
{
        size_t len = 0, len2 = 0;
        _cleanup_free_ unsigned char *b = frame_text("{\"op\":1}", &len);
        _cleanup_free_ unsigned char *b2 = frame_text("{\"ok\":\"true\"}", &len2);

        (void)state;
        expect_refused(b, len, "not an object with \"op\" or \"ok\"");
        expect_refused(b2, len2, "not an object with \"op\" or \"ok\"");
}

static void test_refuses_duplicate_keys(void **state)
{
        /* two readers of one header must never see two different ops */
        size_t len = 0;
        _cleanup_free_ unsigned char *b = frame_text("{\"op\":\"status\",\"op\":\"submit\"}", &len);

        (void)state;
        expect_refused(b, len, "duplicate");
}

static void test_refuses_trailing_bytes_in_header(void **state)
{
        size_t len = 0;
        _cleanup_free_ unsigned char *b = frame_text("{\"op\":\"status\"}{\"op\":\"submit\"}", &len);

        (void)state;
        expect_refused(b, len, "message header:");
}

static void test_bytes_after_header_are_payload(void **state)
{
        const char *msg = "AGW1\0\0\0\x0f{\"op\":\"status\"}{\"op\":\"submit\"}";
        _cleanup_json_ json_t *h = NULL;
        _cleanup_error_ agora_error_t err = NULL;
        const unsigned char *p = NULL;
        size_t plen = 0;

        (void)state;
        assert_int_equal(wire_decode(msg, 8 + 15 + 15, &h, &p, &plen, &err), 0);
        assert_string_equal(json_string_value(json_object_get(h, "op")), "status");
        assert_int_equal(plen, 15);
        assert_memory_equal(p, "{\"op\":\"submit\"}", 15);
}

static void test_refuses_nul_in_header(void **state)
{
        size_t len = 0, len2 = 0;
        /* a raw NUL after the object, and an escaped one inside a string */
        _cleanup_free_ unsigned char *b = frame(16, "{\"op\":\"a\"}\0    ", 16, &len);
        _cleanup_free_ unsigned char *b2 = frame_text("{\"op\":\"a\\u0000b\"}", &len2);

        (void)state;
        expect_refused(b, len, "message header:");
        expect_refused(b2, len2, "message header:");
}

#define T(f) cmocka_unit_test(f)

int main(void)
{
        const struct CMUnitTest tests[] = {
                T(test_round_trip_with_payload),
                T(test_round_trip_without_payload),
                T(test_round_trip_binary_payload),
                T(test_round_trip_refusal_reply),
                T(test_round_trip_large_header),
                T(test_encode_header_limit_is_exact),
                T(test_header_length_is_big_endian),
                T(test_refuses_shorter_than_prefix),
                T(test_refuses_bad_magic),
                T(test_refuses_header_beyond_buffer),
                T(test_refuses_truncated_encoding),
                T(test_refuses_header_over_limit),
                T(test_accepts_header_at_limit),
                T(test_refuses_huge_header_length),
                T(test_refuses_header_not_json),
                T(test_refuses_empty_header),
                T(test_refuses_header_not_object),
                T(test_refuses_object_without_op_or_ok),
                T(test_refuses_op_and_ok_of_wrong_type),
                T(test_refuses_duplicate_keys),
                T(test_refuses_trailing_bytes_in_header),
                T(test_bytes_after_header_are_payload),
                T(test_refuses_nul_in_header),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
