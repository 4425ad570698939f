/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * One job in one fresh cage. cage_run() builds every layer (cgroup, user
 * and other namespaces, a tmpfs root with only what the profile grants,
 * rlimits, no capabilities, no_new_privs, Landlock, seccomp), runs the
 * program, waits for it under the profile's limits and tears everything
 * down again. A layer that cannot be applied is a setup failure, never a
 * silent downgrade.
 *
 * Must be called from a single-threaded process: the cage is cloned from
 * the caller, and a clone of a threaded process inherits locks held by
 * threads that do not exist in the child.
 */

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>
#include <stdint.h>

#include "common/error.h"
#include "common/hash.h"
#include "worker/profile.h"

/* A granted capability, already turned into its canonical tarball. */
typedef struct cage_capability {
        char *name; /* mounted at /cap/NAME */
        unsigned char *data; /* the canonical tarball bytes (owned) */
        size_t len;
        agora_hash hash;
        uint64_t content_bytes; /* sum of file sizes, to size the root */
        uint64_t entries;
} cage_capability;

/* What cage_config.on_started is told. */
typedef struct cage_started {
        uint64_t setup_us; /* from the start of cage_run to the program's exec */
        uint32_t host_uid; /* the host id that uid 0 of the cage is mapped to */
} cage_started;

typedef struct cage_config {
        const profile *profile;
        cage_capability *caps;
        size_t n_caps;
        char **env; /* NULL-terminated KEY=VALUE: the whole environment */
        const char *workspace_dir; /* host directory bound at /workspace, or NULL for a tmpfs */
        uint64_t timeout_s; /* 0: the profile's */
        char **argv; /* NULL-terminated; argv[0] is resolved inside the cage */
        bool capture; /* keep stdout/stderr for the result instead of relaying them */
        int relay_stdout_fd; /* where relayed output goes when !capture */
        int relay_stderr_fd;
        /* Called once, from cage_run, when the program has been exec'd;
         * never when setup fails. The cage is running meanwhile (its
         * output waits in the pipes), so this must return promptly. */
        void (*on_started)(void *ctx, const cage_started *info);
        void *started_ctx;
} cage_config;

typedef enum cage_reason {
        CAGE_EXITED,
        CAGE_TIMEOUT,
        CAGE_OOM,
        CAGE_PIDS_LIMIT,
        CAGE_OUTPUT_LIMIT,
        CAGE_SETUP_FAILED,
        CAGE_STOPPED, /* agora-cage was told to stop (SIGINT, SIGTERM, SIGHUP) */
} cage_reason;

const char *cage_reason_name(cage_reason r);

typedef struct cage_stream {
        unsigned char *data; /* what was kept (capture mode), owned */
        size_t len; /* bytes kept, at most the cap */
        uint64_t total; /* bytes the program wrote before it was stopped */
        uint64_t cap; /* the profile's output cap */
        bool truncated; /* total > cap: the program was stopped for it */
        agora_hash hash; /* sha256 of the kept bytes */
} cage_stream;

typedef struct cage_result {
        cage_reason reason;
        int exit_code; /* as a shell reports it: 128+N for signal N */
        int signal; /* 0 unless the program died of a signal */
        double wall_s;
        double cpu_s; /* user + system of every process of the cage */
        uint64_t peak_memory_bytes;
        cage_stream out;
        cage_stream err;
        uint32_t host_uid; /* the host id that uid 0 of the cage was mapped to */
} cage_result;

/* Run CFG->argv in a new cage. Returns 0 when the program ran (whatever its
 * exit status; see *ret), or -1 with ERR set when the cage could not be
 * built; either way nothing of the cage is left behind. */
int cage_run(const cage_config *cfg, cage_result *ret, agora_error_t *err);

void cage_result_release(cage_result *r);

/* Read a capability from PATH (a directory, a tar or a compressed tar) into
 * its canonical tarball, with captar's hostile-input checks. */
int cage_capability_load(const char *name, const char *path, cage_capability *ret, agora_error_t *err);
void cage_capability_release(cage_capability *c);

/* The result as agora-cage --json prints it (docs/cage.md lists the keys). */
int cage_result_to_json(const cage_config *cfg, const cage_result *r, json_t **ret, agora_error_t *err);
