/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The framing of every message between dispatcher and worker
 * (docs/dispatch.md): "AGW1", a big-endian 32-bit header length, a JSON
 * object header, then the payload bytes. Kept apart from NNG so that the
 * parser, which reads bytes from the network, can be tested and fuzzed on
 * its own.
 */

#include <jansson.h>
#include <stddef.h>

#include "common/error.h"

#define WIRE_MAGIC "AGW1"
#define WIRE_PREFIX_LEN 8
#define WIRE_HEADER_MAX (512u << 10)
#define WIRE_CHUNK_MAX (4u << 20) /* blob bytes per message */
/* What a worker lets NNG accept (NNG_OPT_RECVMAXSZ): one chunk and its header. */
#define WIRE_RECV_MAX (WIRE_CHUNK_MAX + WIRE_HEADER_MAX + WIRE_PREFIX_LEN)

/* HEADER as compact JSON (malloc'd, within WIRE_HEADER_MAX) and the prefix
 * that goes before it: what every encoder writes first. */
int wire_header(const json_t *header, char **ret_json, size_t *ret_len, unsigned char prefix[WIRE_PREFIX_LEN],
                agora_error_t *err);

/* Encode HEADER (compact JSON) and PAYLOAD into one malloc'd buffer. */
int wire_encode(const json_t *header, const void *payload, size_t len, unsigned char **ret, size_t *ret_len,
                agora_error_t *err);

/* Parse BUF: the header must be a JSON object with a string "op" or a
 * boolean "ok"; *RET_PAYLOAD points into BUF. Truncated, oversized or
 * malformed input is AGORA_ERR_USAGE naming what is wrong. */
int wire_decode(const void *buf, size_t len, json_t **ret_header, const unsigned char **ret_payload,
                size_t *ret_payload_len, agora_error_t *err);

/* A refusal reply's header: {"ok":false,"code":CODE,"error":MSG}. */
json_t *wire_refusal(const char *code, const char *msg);
