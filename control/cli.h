/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The `agora` operator CLI, shaped like git's builtin/ and libgit2's src/cli:
 * one cmd_<verb>.c per verb and one table (commands.c) saying, for each verb,
 * what main() must set up before calling it. A verb parses its own options,
 * does its work, and returns 0, or -1 with *err filled (main prints it, once),
 * or a positive exit status when it has already reported (verify's problems).
 */

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "common/cleanup.h"
#include "common/error.h"
#include "common/sign.h"
#include "registry/registry.h"

#define AGORA_VERSION "0.1.0"

/* What a verb needs set up before it runs. */
enum {
        CMD_NEEDS_REGISTRY = 1 << 0, /* an open registry in ctx->reg */
        /* The operator's secret key in ctx->seckey, its public half (checked
         * against KEY.pub) in ctx->pubkey; with a registry, the commit identity. */
        CMD_NEEDS_KEY = 1 << 1,
        /* Only the operator's public key (KEY.pub) in ctx->pubkey: for verbs
         * that hand it to others to trust, never sign. */
        CMD_NEEDS_PUBKEY = 1 << 2,
};

typedef struct cli_command cli_command;

typedef struct cli_ctx {
        /* Global options as given; NULL when absent. */
        const char *arg_registry;
        const char *arg_key;
        bool arg_json;

        const cli_command *cmd; /* the verb being run */

        /* Resolved lazily by cli_registry_path()/cli_key_path(); owned. */
        char *registry_path;
        char *key_path;
        char *pubkey_path;

        /* Set up according to cmd->flags. */
        registry *reg;
        agora_seckey *seckey;
        agora_pubkey pubkey;
        bool have_pubkey;
        char keyid[2 * AGORA_KEYID_LEN + 1];

        /* Set by cli_usage(): main prints "agora VERB: …" rather than "agora: …". */
        bool usage_error;

        /* Set by cli_note_commit() once a verb has moved the registry's
         * branch: "registered env 'x' (commit 1234abc)". An error after
         * that point must say the change was made. Owned. */
        char *committed;
} cli_ctx;

/* A verb: ARGV[0] is the verb's name, the rest its arguments. */
typedef int (*cli_fn)(cli_ctx *ctx, int argc, char **argv, agora_error_t *err);

struct cli_command {
        const char *name;
        cli_fn fn;
        const char *summary;
        unsigned flags;
};

/* commands.c: THE table, terminated by a NULL name. */
extern const cli_command cli_commands[];
const cli_command *cli_command_find(const char *name);

/* The verbs. */
int cmd_init(cli_ctx *ctx, int argc, char **argv, agora_error_t *err);
int cmd_keygen(cli_ctx *ctx, int argc, char **argv, agora_error_t *err);
int cmd_register(cli_ctx *ctx, int argc, char **argv, agora_error_t *err);
int cmd_register_capability(cli_ctx *ctx, int argc, char **argv, agora_error_t *err);
int cmd_register_subagent(cli_ctx *ctx, int argc, char **argv, agora_error_t *err);
int cmd_register_env(cli_ctx *ctx, int argc, char **argv, agora_error_t *err);
int cmd_assign(cli_ctx *ctx, int argc, char **argv, agora_error_t *err);
int cmd_unassign(cli_ctx *ctx, int argc, char **argv, agora_error_t *err);
int cmd_list(cli_ctx *ctx, int argc, char **argv, agora_error_t *err);
int cmd_show(cli_ctx *ctx, int argc, char **argv, agora_error_t *err);
int cmd_log(cli_ctx *ctx, int argc, char **argv, agora_error_t *err);
int cmd_resolve(cli_ctx *ctx, int argc, char **argv, agora_error_t *err);
int cmd_verify(cli_ctx *ctx, int argc, char **argv, agora_error_t *err);
int cmd_dispatch(cli_ctx *ctx, int argc, char **argv, agora_error_t *err);
int cmd_worker(cli_ctx *ctx, int argc, char **argv, agora_error_t *err);

/* Cleanups for registry handles, in the style of common/cleanup.h. */
static inline void cli_txn_freep(registry_txn **t)
{
        registry_txn_free(*t);
}
static inline void cli_view_freep(registry_view **v)
{
        if (*v != NULL)
                registry_view_free(*v);
}
#define _cleanup_txn_ _cleanup_(cli_txn_freep)
#define _cleanup_view_ _cleanup_(cli_view_freep)

/* ---- cmd_register.c, shared with env, assign and unassign ---- */

/* Put DEF (kind K, NAME) in T, commit it with MESSAGE, and print the
 * definition's content hash (text) or {"kind","name","contentHash","commit",
 * "changed"} (--json). DONE says what a commit did, in the past tense, before
 * "KIND 'NAME'": "registered", "assigned capabilities to". */
int cli_put_commit_print(cli_ctx *ctx, registry_txn *t, registry_kind k, const char *name, const json_t *def,
                         const char *message, const char *done, agora_error_t *err);

/* ---- context.c ---- */

/* Default locations, from the option, else the environment (see agora --help).
 * Pure apart from getenv(); the results are malloc'd. */
int cli_default_registry_path(const char *arg, char **ret, agora_error_t *err);
int cli_default_key_path(const char *arg, char **ret, agora_error_t *err);
/* KEY with a trailing ".key" replaced by ".pub", else KEY + ".pub". */
char *cli_pubkey_path_for(const char *key);

/* Cached resolution of the three paths for this run. */
int cli_registry_path(cli_ctx *ctx, const char **ret, agora_error_t *err);
int cli_key_path(cli_ctx *ctx, const char **ret, const char **ret_pub, agora_error_t *err);

/* Commit author: GIT_AUTHOR_NAME/GIT_AUTHOR_EMAIL when set, else the login
 * name and login@hostname. Both malloc'd. */
int cli_identity(char **ret_name, char **ret_email, agora_error_t *err);

/* Load the operator's secret key into ctx->seckey (refusing anything but a
 * regular file, a key others can read, a bad checksum) and its public half
 * into ctx->pubkey and ctx->keyid; if KEY.pub exists it must hold that same
 * public key. */
int cli_load_seckey(cli_ctx *ctx, agora_error_t *err);

/* Load only the operator's public key, KEY.pub, into ctx->pubkey and
 * ctx->keyid (a no-op once cli_load_seckey has run). */
int cli_load_pubkey(cli_ctx *ctx, agora_error_t *err);

/* Fail, naming VERB, unless setup opened the registry: a verb flagged
 * CMD_NEEDS_REGISTRY calls this after its options, before touching ctx->reg. */
int cli_need_registry(const cli_ctx *ctx, const char *verb, agora_error_t *err);

/* Do what FLAGS ask (open the registry, load keys, set the identity). */
int cli_setup(cli_ctx *ctx, unsigned flags, agora_error_t *err);
void cli_ctx_release(cli_ctx *ctx);

/* A usage error for the current verb: "VERB: problem (see agora VERB --help)",
 * printed by main after "agora ". Returns -1. */
int cli_usage(cli_ctx *ctx, const char *verb, agora_error_t *err, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

/* Turn getopt_long's ':' (missing argument) or '?' (unknown option) into a
 * usage error; parse with opterr = 0 and an optstring starting with ':'. */
int cli_option_error(cli_ctx *ctx, const char *verb, int c, char **argv, agora_error_t *err);

/* Print a verb's --help text on stdout; returns 0. */
int cli_help(const char *text);

/* ---- cmd_keygen.c, shared with init ---- */

/* AGORA_ERR_EXISTS naming whichever of KEY and PUB already exists. */
int cli_key_check_absent(const char *key, const char *pub, agora_error_t *err);
/* Write SK's public half to PUB, then SK to KEY (0600), creating KEY's parent
 * directories 0700; leaves neither file behind on failure, and never a
 * secret key without its public key. */
int cli_key_write(const agora_seckey *sk, const char *key, const char *pub, agora_error_t *err);

/* ---- output.c ---- */

/* Print V on stdout with a newline: indented when PRETTY, else canonical. */
int output_json(const json_t *v, bool pretty, agora_error_t *err);
/* Flush stdout and report a write error (a full disk, a closed pipe) as one. */
int output_finish(agora_error_t *err);
/* Record that COMMIT (40 hex digits) made the change described by FMT,
 * e.g. "registered env 'x'", for main's error message should anything fail
 * after it (output_finish names it: "…, but writing to stdout failed: …"). */
void cli_note_commit(cli_ctx *ctx, const char *commit, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* "90 MB", "512 bytes": binary units, one decimal below 10. */
void output_format_size(uint64_t bytes, char out[32]);

/* Progress of a long registration on stderr, only when stderr is a terminal. */
typedef struct output_progress {
        const char *label;
        bool enabled;
        bool drawn;
        int last_percent;
        uint64_t last_done;
} output_progress;

void output_progress_init(output_progress *p, const char *label);
/* A captar_progress_fn: CTX is the output_progress. */
void output_progress_update(void *ctx, uint64_t done, uint64_t total);
/* Erase the progress line, if one was drawn. */
void output_progress_end(output_progress *p);
