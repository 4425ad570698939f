/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* File helpers that never leave a half-written file behind. */

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common/error.h"

/* write() all LEN bytes, retrying short writes and EINTR; -1 with errno
 * set on the first real failure. */
int fs_write_all(int fd, const void *buf, size_t len);

/* Read a whole regular file (at most MAX bytes, else an error naming it) into
 * a malloc'd NUL-terminated buffer. */
int fs_read_file(const char *path, size_t max, char **ret_buf, size_t *ret_len, agora_error_t *err);

/* Write via a temporary file in the same directory, fsync, then link into
 * place: the file appears whole or not at all. With OVERWRITE false an
 * existing PATH is AGORA_ERR_EXISTS and is left untouched. */
int fs_write_atomic(const char *path, const void *buf, size_t len, mode_t mode, bool overwrite, agora_error_t *err);

/* mkdir -p; existing directories are fine. */
int fs_mkdir_p(const char *path, mode_t mode, agora_error_t *err);

/* rm -rf PATH without following symlinks; a missing PATH is fine. For
 * undoing what this process itself just created. */
int fs_remove_tree(const char *path, agora_error_t *err);

/* True when PATH lies inside directory DIR (either may not exist yet), after
 * resolving symlinks of the parts that exist. */
bool fs_path_is_within(const char *dir, const char *path);

/* Where a companion program is: $ENV_VAR when set, else NAME in the
 * directory of the running executable (the build's bin/ or the install's).
 * *RET is malloc'd. One that is not executable is AGORA_ERR_NOTFOUND
 * "'PATH': WHY (set ENV_VAR)". */
int fs_program_beside_self(const char *env_var, const char *name, char **ret, agora_error_t *err);
