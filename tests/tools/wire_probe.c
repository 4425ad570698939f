/* SPDX-License-Identifier: Apache-2.0 */
/*
 * wire-probe: what the dispatch tests use to talk to a real worker the way
 * an attacker or a broken dispatcher would, over a real socket.
 *
 *   wire-probe send URL HEADER-JSON [PAYLOAD-FILE]   one request; prints the reply header
 *   wire-probe raw URL FILE                          FILE's bytes as the whole message
 *   wire-probe survey URL                            one capacity survey; prints the answers
 *   wire-probe sign KEY MANIFEST-JSON-FILE           canonical text and a signature with KEY:
 *                                                    {"manifest":TEXT,"signature":TEXT}
 *
 * TLS files for tls+tcp:// come from $PROBE_TLS_CERT, $PROBE_TLS_KEY, $PROBE_TLS_CA;
 * $PROBE_TIMEOUT_MS bounds the wait for a reply (5000).
 * Exit 0 when a reply came (whatever it says), 1 when none did.
 */
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/protocol/survey0/survey.h>
#include <nng/supplemental/util/platform.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cjson.h"
#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/net.h"
#include "common/schema.h"
#include "common/sign.h"

/* How long to wait for a reply: $PROBE_TIMEOUT_MS, else 5 s. */
static int timeout_ms(void)
{
        uint64_t ms;

        if (schema_parse_uint(getenv("PROBE_TIMEOUT_MS"), INT_MAX, &ms) < 0 || ms == 0)
                return 5000;
        return (int)ms;
}

static net_tls tls_from_env(void)
{
        return (net_tls){getenv("PROBE_TLS_CERT"), getenv("PROBE_TLS_KEY"), getenv("PROBE_TLS_CA")};
}

static int fail(agora_error_t err)
{
        fprintf(stderr, "wire-probe: %s\n", agora_error_message(err));
        agora_error_release(&err);
        return 1;
}

static int print_reply(nng_msg *m)
{
        _cleanup_error_ agora_error_t err = NULL;
        _cleanup_json_ json_t *h = NULL;
        const unsigned char *p;
        size_t n;

        if (net_msg_decode(m, &h, &p, &n, &err) < 0) {
                nng_msg_free(m);
                return fail(take_ptr(err));
        }
        char *s = json_dumps(h, JSON_COMPACT | JSON_SORT_KEYS);
        printf("%s\n", s);
        free(s);
        nng_msg_free(m);
        return 0;
}

static int open_req(const char *url, nng_socket *s, nng_ctx *ctx, agora_error_t *err)
{
        net_tls tls = tls_from_env();

        if (nng_req0_open(s) != 0 || nng_socket_set_ms(*s, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE) != 0)
                return agora_error_set(err, AGORA_ERR_FAILED, "req socket");
        if (net_dial(*s, url, &tls, err) < 0)
                return -1;
        if (nng_ctx_open(ctx, *s) != 0)
                return agora_error_set(err, AGORA_ERR_FAILED, "context");
        return 0;
}

static int cmd_send(const char *url, const char *header, const char *payload_file)
{
        _cleanup_error_ agora_error_t err = NULL;
        _cleanup_json_ json_t *h = NULL;
        _cleanup_free_ char *payload = NULL;
        size_t plen = 0;
        nng_socket s;
        nng_ctx ctx;
        nng_msg *reply = NULL;

        h = json_loads(header, 0, NULL);
        if (h == NULL) {
                fprintf(stderr, "wire-probe: header is not JSON\n");
                return 2;
        }
        if (payload_file != NULL && fs_read_file(payload_file, 64u << 20, &payload, &plen, &err) < 0)
                return fail(take_ptr(err));
        if (open_req(url, &s, &ctx, &err) < 0 || net_request(ctx, h, payload, plen, timeout_ms(), &reply, &err) < 0)
                return fail(take_ptr(err));
        int r = print_reply(reply);
        nng_close(s);
        return r;
}

static int cmd_raw(const char *url, const char *file)
{
        _cleanup_error_ agora_error_t err = NULL;
        _cleanup_free_ char *bytes = NULL;
        size_t n = 0;
        nng_socket s;
        nng_ctx ctx;
        nng_aio *aio = NULL;
        nng_msg *m = NULL;
        int rv;

        if (fs_read_file(file, 64u << 20, &bytes, &n, &err) < 0 || open_req(url, &s, &ctx, &err) < 0)
                return fail(take_ptr(err));
        if (nng_msg_alloc(&m, 0) != 0 || nng_msg_append(m, bytes, n) != 0 || nng_aio_alloc(&aio, NULL, NULL) != 0)
                return 1;
        nng_aio_set_msg(aio, m);
        nng_aio_set_timeout(aio, timeout_ms());
        nng_ctx_send(ctx, aio);
        nng_aio_wait(aio);
        if ((rv = nng_aio_result(aio)) == 0) {
                nng_ctx_recv(ctx, aio);
                nng_aio_wait(aio);
                rv = nng_aio_result(aio);
        }
        if (rv != 0) {
                fprintf(stderr, "wire-probe: no reply: %s\n", nng_strerror(rv));
                nng_aio_free(aio);
                return 1;
        }
        rv = print_reply(nng_aio_get_msg(aio));
        nng_aio_free(aio);
        nng_close(s);
        return rv;
}

static int cmd_survey(const char *url)
{
        _cleanup_error_ agora_error_t err = NULL;
        _cleanup_json_ json_t *h = json_pack("{s:s}", "op", "capacity");
        net_tls tls = tls_from_env();
        nng_socket s;
        nng_msg *m = NULL;

        if (nng_surveyor0_open(&s) != 0 || nng_socket_set_ms(s, NNG_OPT_SURVEYOR_SURVEYTIME, 1000) != 0 ||
            net_dial(s, url, &tls, &err) < 0)
                return err ? fail(take_ptr(err)) : 1;
        nng_msleep(300); /* let the dial connect: a survey goes only to connected respondents */
        if (net_msg_encode(h, NULL, 0, &m, &err) < 0)
                return fail(take_ptr(err));
        if (nng_sendmsg(s, m, 0) != 0)
                return 1;
        int got = 0;
        while (nng_recvmsg(s, &m, 0) == 0)
                got += print_reply(m) == 0;
        nng_close(s);
        return got > 0 ? 0 : 1;
}

static int cmd_sign(const char *key, const char *file)
{
        _cleanup_error_ agora_error_t err = NULL;
        _cleanup_free_ char *text = NULL, *canon = NULL, *sig = NULL;
        _cleanup_json_ json_t *doc = NULL, *out = NULL;
        agora_seckey *sk = NULL;
        size_t n = 0, clen = 0;
        const char *id;
        char tc[96];

        if (sign_init(&err) < 0 || sign_seckey_load(key, &sk, &err) < 0 ||
            fs_read_file(file, 16u << 20, &text, &n, &err) < 0)
                return fail(take_ptr(err));
        doc = json_loadb(text, n, 0, NULL);
        if (doc == NULL || cjson_dump(doc, &canon, &clen, &err) < 0) {
                sign_seckey_free(sk);
                return err ? fail(take_ptr(err)) : 2;
        }
        id = json_string_value(json_object_get(doc, "dispatchId"));
        snprintf(tc, sizeof(tc), "agora dispatch %s", id ? id : "");
        if (sign_message(sk, canon, clen, tc, &sig, &err) < 0) {
                sign_seckey_free(sk);
                return fail(take_ptr(err));
        }
        sign_seckey_free(sk);
        out = json_pack("{s:s, s:s}", "manifest", canon, "signature", sig);
        char *s = json_dumps(out, JSON_COMPACT);
        printf("%s\n", s);
        free(s);
        return 0;
}

int main(int argc, char **argv)
{
        if (argc >= 4 && strcmp(argv[1], "send") == 0)
                return cmd_send(argv[2], argv[3], argc > 4 ? argv[4] : NULL);
        if (argc == 4 && strcmp(argv[1], "raw") == 0)
                return cmd_raw(argv[2], argv[3]);
        if (argc == 3 && strcmp(argv[1], "survey") == 0)
                return cmd_survey(argv[2]);
        if (argc == 4 && strcmp(argv[1], "sign") == 0)
                return cmd_sign(argv[2], argv[3]);
        fprintf(stderr, "usage: wire-probe send URL HEADER [PAYLOAD] | raw URL FILE | survey URL | sign KEY FILE\n");
        return 2;
}
