/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Any bytes as a message from the network, the worker's first contact with
 * a peer: a header and a payload inside the buffer, or a one-line error,
 * never a crash or a leak. A submit's manifest goes on to the strict parser,
 * which must accept only text that is its own canonical dump (else what was
 * signed and what runs could be two readings of one text), and then to
 * verification, which nothing the fuzzer makes can pass.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/manifest.h"
#include "common/sign.h"
#include "common/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void one_line_naming(const agora_error_t err, const char *what)
{
        if (err == NULL || err->msg == NULL || strchr(err->msg, '\n') != NULL || strstr(err->msg, what) == NULL)
                abort();
}

static void check_manifest(const char *text, size_t len, const char *sig, const agora_pubkey *trust)
{
        _cleanup_error_ agora_error_t err = NULL;
        _cleanup_free_ char *again = NULL;
        manifest *m = NULL;
        manifest_refusal why = REFUSE_NONE;
        size_t again_len = 0;
        int64_t now;

        if (manifest_parse(text, len, &m, &err) < 0) {
                one_line_naming(err, "manifest");
                return;
        }
        if (manifest_dump(m, &again, &again_len, &err) < 0 || again_len != len || memcmp(again, text, len) != 0)
                abort();
        /* inside the window, so that only the signature can be refused */
        now = m->issued_at;
        manifest_free(m);
        m = NULL;
        if (manifest_verify(text, len, sig, trust, 1, now, &m, &why, &err) == 0)
                abort(); /* a forgery */
        if (m != NULL || why == REFUSE_NONE || why == REFUSE_MALFORMED)
                abort();
        one_line_naming(err, "dispatch ");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static agora_pubkey pk;
        static int ready;
        _cleanup_error_ agora_error_t err = NULL;
        _cleanup_json_ json_t *h = NULL;
        const unsigned char *payload = NULL;
        const char *op;
        json_t *text;
        size_t plen = 0;

        if (!ready) {
                agora_seckey *sk = NULL;
                if (sign_keypair_generate(&sk, &err) < 0)
                        abort();
                sign_seckey_pubkey(sk, &pk);
                sign_seckey_free(sk);
                ready = 1;
        }
        if (wire_decode(data, size, &h, &payload, &plen, &err) < 0) {
                one_line_naming(err, "message");
                return 0;
        }
        if (h == NULL || payload < data || plen > size || payload + plen != data + size)
                abort();
        op = json_string_value(json_object_get(h, "op"));
        text = json_object_get(h, "manifest");
        if (op != NULL && strcmp(op, "submit") == 0 && json_is_string(text))
                check_manifest(json_string_value(text), json_string_length(text),
                               json_string_value(json_object_get(h, "signature")), &pk);
        return 0;
}
