/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Policy profiles: profiles/NAME.yaml, read with libyaml through
 * common/yamldoc and checked against a closed schema (an unknown key is an
 * error, never ignored). A profile says everything a cage may have: its
 * limits, which host paths it sees read-only, whether granted capability
 * files and the workspace may be executed, and its Landlock rules. Nothing
 * a profile leaves out is granted.
 *
 * Layout of a profile (docs/profiles.md explains each tier):
 *
 *   name: build                      # must equal the file's base name
 *   tier: 2                          # 1 = most locked down
 *   description: one line
 *   limits:
 *     memory: 512M                   # memory cgroup limit, swap off
 *     pids: 128                      # pids cgroup limit (also RLIMIT_NPROC)
 *     cpu-weight: 100                # 1..10000 (cgroup v2 cpu.weight)
 *     cpu-quota: 100                 # percent of one CPU, 0 = no quota
 *     timeout: 300                   # seconds of wall time
 *     workspace: 256M                # size of the /workspace tmpfs
 *     workspace-inodes: 16384
 *     tmp: 64M                       # size of the /tmp tmpfs
 *     output: 4M                     # cap on each of stdout and stderr
 *     open-files: 256                # RLIMIT_NOFILE
 *     file-size: 256M                # RLIMIT_FSIZE
 *   filesystem:
 *     host-readonly: [/usr, /bin, /lib, /lib64]
 *     exec-capabilities: true        # may files under /cap be executed
 *     exec-workspace: false          # may files under /workspace, /tmp be executed
 *   network:
 *     loopback: up                   # up | down; there is never a route out
 *   landlock:                        # paths inside the cage
 *     - path: /usr
 *       access: [read, execute]
 *     - path: /workspace
 *       access: [read, write, create, remove]
 */

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#include "common/error.h"

/* Landlock access groups a profile may grant; each maps to a set of
 * LANDLOCK_ACCESS_FS_* bits in cage_landlock.c. */
enum {
        PROFILE_ACCESS_READ = 1u << 0, /* read files, list directories */
        PROFILE_ACCESS_WRITE = 1u << 1, /* write and truncate existing files */
        PROFILE_ACCESS_CREATE = 1u << 2, /* make regular files, directories, symlinks, FIFOs, sockets */
        PROFILE_ACCESS_REMOVE = 1u << 3, /* unlink files, remove directories, rename */
        PROFILE_ACCESS_EXECUTE = 1u << 4, /* execute files */
        PROFILE_ACCESS_IOCTL = 1u << 5, /* ioctl on character devices (ttys) */
};

typedef struct profile_landlock_rule {
        char *path; /* absolute, inside the cage */
        unsigned access; /* PROFILE_ACCESS_* bits */
} profile_landlock_rule;

typedef struct profile_limits {
        uint64_t memory_bytes;
        uint64_t pids;
        uint64_t cpu_weight;
        uint64_t cpu_quota_percent;
        uint64_t timeout_s;
        uint64_t workspace_bytes;
        uint64_t workspace_inodes;
        uint64_t tmp_bytes;
        uint64_t output_bytes;
        uint64_t open_files;
        uint64_t file_size_bytes;
} profile_limits;

typedef struct profile {
        char *name;
        char *description;
        unsigned tier;
        profile_limits limits;
        char **host_readonly; /* NULL-terminated, absolute, normalised host paths */
        bool exec_capabilities;
        bool exec_workspace;
        bool loopback_up;
        profile_landlock_rule *landlock;
        size_t n_landlock;
} profile;

/* Parse and check one profile document. WHAT names it in errors
 * ("profile 'build'"). Every key is required unless documented optional. */
int profile_load_file(const char *path, profile **ret, agora_error_t *err);
int profile_load_buffer(const char *buf, size_t len, const char *what, profile **ret, agora_error_t *err);

/* Find NAME.yaml in DIR (NAME checked with common/name rules first, so a
 * name can never walk out of DIR) and load it. */
int profile_load_named(const char *dir, const char *name, profile **ret, agora_error_t *err);

/* The installed profile directory: $AGORA_PROFILES if set, else the
 * profiles/ folder next to the build (set at compile time), else
 * /usr/share/agora/profiles. */
const char *profile_default_dir(void);

void profile_free(profile *p);
