/* SPDX-License-Identifier: Apache-2.0 */
/*
 * agora-cage --json: one object, so the worker (and an operator's jq) reads
 * the outcome without scraping text. Output is UTF-8 text where it is, and
 * base64 where it is not, never silently mangled; its hash is of the bytes.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "worker/cage.h"

static bool valid_utf8(const unsigned char *s, size_t n)
{
        json_t *j = json_stringn((const char *)(s ? s : (const unsigned char *)""), n);

        if (j == NULL)
                return false;
        json_decref(j);
        return true;
}

static int add_stream(json_t *o, const char *key, const cage_stream *s, bool captured, agora_error_t *err)
{
        char hash[AGORA_HASH_STR_LEN + 1];
        char name[64];
        json_t *text = NULL;

        agora_hash_format(&s->hash, hash);
        snprintf(name, sizeof(name), "%s_bytes", key);
        json_object_set_new(o, name, json_integer((json_int_t)s->total));
        snprintf(name, sizeof(name), "%s_truncated", key);
        json_object_set_new(o, name, json_boolean(s->truncated));
        snprintf(name, sizeof(name), "%s_sha256", key);
        json_object_set_new(o, name, json_string(hash));
        if (!captured)
                return 0;
        if (valid_utf8(s->data, s->len)) {
                text = json_stringn(s->data ? (const char *)s->data : "", s->len);
                json_object_set_new(o, key, text);
                return 0;
        }
        size_t b64_len = sodium_base64_ENCODED_LEN(s->len, sodium_base64_VARIANT_ORIGINAL);
        _cleanup_free_ char *b64 = malloc(b64_len);
        if (b64 == NULL)
                return agora_error_set(err, AGORA_ERR_FAILED, "cage: out of memory encoding %s", key);
        sodium_bin2base64(b64, b64_len, s->data, s->len, sodium_base64_VARIANT_ORIGINAL);
        json_object_set_new(o, key, json_null());
        snprintf(name, sizeof(name), "%s_base64", key);
        json_object_set_new(o, name, json_string(b64));
        return 0;
}

int cage_result_to_json(const cage_config *cfg, const cage_result *r, json_t **ret, agora_error_t *err)
{
        _cleanup_json_ json_t *o = json_object();
        json_t *caps = json_array();

        if (o == NULL || caps == NULL) {
                json_decref(caps);
                return agora_error_set(err, AGORA_ERR_FAILED, "cage: out of memory building the result");
        }
        json_object_set_new(o, "exit_code", json_integer(r->exit_code));
        json_object_set_new(o, "signal", json_integer(r->signal));
        json_object_set_new(o, "reason", json_string(cage_reason_name(r->reason)));
        json_object_set_new(o, "wall_s", json_real(r->wall_s));
        json_object_set_new(o, "cpu_s", json_real(r->cpu_s));
        json_object_set_new(o, "peak_memory_bytes", json_integer((json_int_t)r->peak_memory_bytes));
        json_object_set_new(o, "output_cap_bytes", json_integer((json_int_t)cfg->profile->limits.output_bytes));
        json_object_set_new(o, "host_uid", json_integer(r->host_uid));
        json_object_set_new(o, "profile", json_string(cfg->profile->name));
        for (size_t i = 0; i < cfg->n_caps; i++) {
                char hash[AGORA_HASH_STR_LEN + 1];
                agora_hash_format(&cfg->caps[i].hash, hash);
                json_array_append_new(caps, json_pack("{s:s, s:s}", "name", cfg->caps[i].name, "sha256", hash));
        }
        json_object_set_new(o, "capabilities", caps);
        if (add_stream(o, "stdout", &r->out, cfg->capture, err) < 0 ||
            add_stream(o, "stderr", &r->err, cfg->capture, err) < 0)
                return -1;
        *ret = take_ptr(o);
        return 0;
}
