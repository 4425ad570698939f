/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Recognise values that look like credentials, so that an operator who types
 * API_TOKEN=ghp_… into a plain env bundle is stopped and offered --secret
 * instead of committing the token to the registry's history forever.
 */

#include <stddef.h>

/* NULL when the pair looks harmless, else a short reason such as
 * "GitHub token" or "key name suggests a credential". KEY may be NULL. */
const char *secretscan_reason(const char *key, const char *value);
