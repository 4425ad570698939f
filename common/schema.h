/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Small checks for documents read from YAML or JSON: every document agora
 * accepts has a closed set of keys, so a typo is an error, never ignored.
 * WHAT names the document in errors ("profile 'build'", "env file 'x.yaml'").
 */

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"

/* Fail (AGORA_ERR_USAGE) on any key of OBJ not in the NULL-terminated ALLOWED. */
int schema_check_keys(const json_t *obj, const char *const *allowed, const char *what, agora_error_t *err);

/* Require OBJ[KEY] to be of the given type; ret may be NULL. OPTIONAL keys
 * that are absent (or JSON null) succeed leaving *ret NULL. */
int schema_get_object(const json_t *obj, const char *key, bool optional, const char *what, json_t **ret,
                      agora_error_t *err);
int schema_get_array(const json_t *obj, const char *key, bool optional, const char *what, json_t **ret,
                     agora_error_t *err);
int schema_get_string(const json_t *obj, const char *key, bool optional, const char *what, const char **ret,
                      agora_error_t *err);

/* Accept a JSON integer, or a string of decimal digits with an optional
 * binary suffix (K, M, G, T: powers of 1024) as YAML gives it. */
int schema_get_uint(const json_t *obj, const char *key, bool optional, const char *what, uint64_t *ret,
                    bool *ret_present, agora_error_t *err);

/* Parse a count such as "10" strictly: decimal digits only (no sign, no
 * space, no suffix), at most MAX; -1 on anything else. */
int schema_parse_uint(const char *s, uint64_t max, uint64_t *ret);

/* Parse "123", "64M", "2G" into bytes; fails on overflow and junk. */
int schema_parse_size(const char *s, uint64_t *ret);
