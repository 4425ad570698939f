/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Canonical JSON (docs/canonical-json.md): the one byte form of a JSON value
 * that agora hashes and signs. Object keys sorted bytewise by their UTF-8
 * bytes, no insignificant whitespace, strings with only '"', '\\' and control
 * characters escaped (\b \f \n \r \t short forms, other controls as \u00xx
 * lowercase), everything else as raw UTF-8, integers in plain decimal, no
 * reals, no trailing newline. For our value space this is RFC 8785's output.
 */

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"
#include "common/hash.h"

/* Serialise V canonically into a malloc'd NUL-terminated buffer. Fails with
 * AGORA_ERR_USAGE on a real number (reals have no canonical form here). */
int cjson_dump(const json_t *v, char **ret_buf, size_t *ret_len, agora_error_t *err);

/* sha256 of V's canonical bytes. */
int cjson_hash(const json_t *v, agora_hash *ret, agora_error_t *err);

/* Strict parse of one JSON document: duplicate keys, trailing bytes, NUL
 * bytes and invalid UTF-8 are errors. WHAT names the document in errors,
 * which carry line and column. */
int cjson_parse(const char *buf, size_t len, const char *what, json_t **ret, agora_error_t *err);

/* True when BUF parses and is byte-for-byte its own canonical form. */
bool cjson_is_canonical(const char *buf, size_t len);

/* Human-readable form for terminals (indented, sorted keys), with a trailing
 * newline. Not canonical; never hash it. */
char *cjson_pretty(const json_t *v);
