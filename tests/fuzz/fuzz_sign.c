/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Any bytes as a signature file and as a public key line: parsing and
 * verification must refuse them (no key signs random input) without
 * crashing or leaking.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/sign.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static agora_pubkey pk;
        static int ready;
        agora_error_t err = NULL;
        agora_pubkey parsed;
        char *text = malloc(size + 1);

        if (!ready) {
                agora_seckey *sk = NULL;
                if (sign_keypair_generate(&sk, &err) < 0)
                        abort();
                sign_seckey_pubkey(sk, &pk);
                sign_seckey_free(sk);
                ready = 1;
        }
        if (text == NULL)
                abort();
        memcpy(text, data, size);
        text[size] = '\0';
        if (sign_verify(&pk, "message", 7, text, NULL, &err) == 0)
                abort(); /* a forgery */
        agora_error_release(&err);
        (void)sign_pubkey_parse(text, &parsed, &err);
        agora_error_release(&err);
        free(text);
        return 0;
}
