/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Message framing. The header length comes first so that a reader never
 * scans attacker bytes for a terminator, and is bounded so that a header
 * can never claim more memory than the message itself holds.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/cjson.h"
#include "common/cleanup.h"
#include "common/wire.h"

int wire_header(const json_t *header, char **ret_json, size_t *ret_len, unsigned char prefix[WIRE_PREFIX_LEN],
                agora_error_t *err)
{
        _cleanup_free_ char *h = json_dumps(header, JSON_COMPACT);
        size_t hlen;

        if (h == NULL)
                return agora_error_set_errno(err, ENOMEM, "message header");
        hlen = strlen(h);
        if (hlen > WIRE_HEADER_MAX)
                return agora_error_set(err, AGORA_ERR_USAGE, "message header: %zu bytes, above the limit of %u", hlen,
                                       WIRE_HEADER_MAX);
        memcpy(prefix, WIRE_MAGIC, 4);
        prefix[4] = (unsigned char)(hlen >> 24);
        prefix[5] = (unsigned char)(hlen >> 16);
        prefix[6] = (unsigned char)(hlen >> 8);
        prefix[7] = (unsigned char)hlen;
        *ret_json = take_ptr(h);
        *ret_len = hlen;
        return 0;
}

int wire_encode(const json_t *header, const void *payload, size_t len, unsigned char **ret, size_t *ret_len,
                agora_error_t *err)
{
        _cleanup_free_ char *h = NULL;
        unsigned char prefix[WIRE_PREFIX_LEN], *buf;
        size_t hlen;

        if (wire_header(header, &h, &hlen, prefix, err) < 0)
                return -1;
        buf = malloc(WIRE_PREFIX_LEN + hlen + len + 1);
        if (buf == NULL)
                return agora_error_set_errno(err, ENOMEM, "message");
        memcpy(buf, prefix, WIRE_PREFIX_LEN);
        memcpy(buf + WIRE_PREFIX_LEN, h, hlen);
        if (len > 0)
                memcpy(buf + WIRE_PREFIX_LEN + hlen, payload, len);
        *ret = buf;
        *ret_len = WIRE_PREFIX_LEN + hlen + len;
        return 0;
}

int wire_decode(const void *buf, size_t len, json_t **ret_header, const unsigned char **ret_payload,
                size_t *ret_payload_len, agora_error_t *err)
{
        const unsigned char *b = buf;
        _cleanup_json_ json_t *h = NULL;
        uint32_t hlen;

        if (len < WIRE_PREFIX_LEN)
                return agora_error_set(err, AGORA_ERR_USAGE, "message: truncated (%zu bytes)", len);
        if (memcmp(b, WIRE_MAGIC, 4) != 0)
                return agora_error_set(err, AGORA_ERR_USAGE, "message: not an agora message (bad magic)");
        hlen = (uint32_t)b[4] << 24 | (uint32_t)b[5] << 16 | (uint32_t)b[6] << 8 | b[7];
        if (hlen > WIRE_HEADER_MAX)
                return agora_error_set(err, AGORA_ERR_USAGE, "message: header of %u bytes, above the limit of %u", hlen,
                                       WIRE_HEADER_MAX);
        if (hlen > len - WIRE_PREFIX_LEN)
                return agora_error_set(err, AGORA_ERR_USAGE, "message: truncated (header says %u bytes, %zu there)",
                                       hlen, len - WIRE_PREFIX_LEN);
        if (cjson_parse((const char *)b + WIRE_PREFIX_LEN, hlen, "message header", &h, err) < 0)
                return -1;
        if (!json_is_object(h) ||
            (!json_is_string(json_object_get(h, "op")) && !json_is_boolean(json_object_get(h, "ok"))))
                return agora_error_set(err, AGORA_ERR_USAGE, "message header: not an object with \"op\" or \"ok\"");
        *ret_header = take_ptr(h);
        *ret_payload = b + WIRE_PREFIX_LEN + hlen;
        *ret_payload_len = len - WIRE_PREFIX_LEN - hlen;
        return 0;
}

json_t *wire_refusal(const char *code, const char *msg)
{
        return json_pack("{s:b, s:s, s:s}", "ok", 0, "code", code, "error", msg);
}
