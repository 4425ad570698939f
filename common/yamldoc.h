/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * YAML documents read with libyaml into a jansson tree, so that one set of
 * schema checks serves YAML and JSON alike. Deliberately small YAML: one
 * document; mappings with string keys become objects (duplicate keys are
 * errors); sequences become arrays; every scalar becomes a JSON string except
 * plain `~`, `null` and the empty plain scalar, which become JSON null. No
 * implicit typing (so "0755" or "no" stay the strings the author wrote),
 * no anchors or aliases (they let a small file expand without bound), no
 * tags, nesting at most 64 deep. Errors read "NAME:LINE:COL: problem".
 */

#include <jansson.h>
#include <stddef.h>

#include "common/error.h"

#define YAMLDOC_MAX_BYTES (1u << 20)

int yamldoc_load_buffer(const char *buf, size_t len, const char *name, json_t **ret, agora_error_t *err);

/* Reads at most YAMLDOC_MAX_BYTES; larger files are refused. */
int yamldoc_load_file(const char *path, json_t **ret, agora_error_t *err);
