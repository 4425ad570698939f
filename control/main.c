/* SPDX-License-Identifier: Apache-2.0 */
/*
 * agora: the operator's command. Global options, then the verb from the
 * table in commands.c, set up as its flags ask, then the one place where an
 * error is printed.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "control/cli.h"

static void print_help(void)
{
        printf("usage: agora [--registry DIR] [--key FILE] [--json] [--help] [--version] VERB [ARGS…]\n"
               "\n"
               "Options:\n"
               "  --registry DIR  the registry (else $AGORA_REGISTRY, else $XDG_DATA_HOME/agora/registry,\n"
               "                  else ~/.local/share/agora/registry)\n"
               "  --key FILE      the operator's secret key, which register, assign, unassign and dispatch\n"
               "                  load (mode 0600; a regular file); its public key is FILE with .key\n"
               "                  replaced by .pub (which worker hands to the local worker to trust) and,\n"
               "                  if present, must be the same pair (else $AGORA_KEY, else\n"
               "                  $XDG_CONFIG_HOME/agora/operator.key, else ~/.config/agora/operator.key)\n"
               "  --json          print one JSON document on stdout\n"
               "  --help          print this help\n"
               "  --version       print the version\n"
               "\n"
               "Verbs:\n");
        for (const cli_command *c = cli_commands; c->name != NULL; c++)
                printf("  %-10s %s\n", c->name, c->summary);
        printf("\nEvery verb has --help. Exit status: 0 success, 1 failed or denied, 2 usage.\n");
}

/* Whether the verb's arguments only ask for its help, so that nothing needs
 * to be set up: as git does, only when -h/--help is the last argument and
 * every one before it (after the verb) is a plain word. Anywhere else it may
 * be an option's value (`verify --at --help`, `--entrypoint -h`), which only
 * the verb's getopt can tell; then setup runs as usual. */
static bool help_only(int argc, char **argv)
{
        if (argc < 2 || (strcmp(argv[argc - 1], "--help") != 0 && strcmp(argv[argc - 1], "-h") != 0))
                return false;
        for (int i = 1; i < argc - 1; i++)
                if (argv[i][0] == '-')
                        return false;
        return true;
}

/* Parse the global options; returns the index of the verb, or -1 with *err
 * set, or 0 when there is nothing left to do (--help, --version). */
static int parse_globals(cli_ctx *ctx, int argc, char **argv, agora_error_t *err)
{
        enum { OPT_REGISTRY = 0x100, OPT_KEY, OPT_JSON, OPT_VERSION };
        static const struct option options[] = {
                {"registry", required_argument, NULL, OPT_REGISTRY},
                {"key", required_argument, NULL, OPT_KEY},
                {"json", no_argument, NULL, OPT_JSON},
                {"help", no_argument, NULL, 'h'},
                {"version", no_argument, NULL, OPT_VERSION},
                {NULL, 0, NULL, 0},
        };
        int c;

        opterr = 0;
        optind = 0;
        /* "+": options end at the verb, whose own options follow it. */
        while ((c = getopt_long(argc, argv, "+:h", options, NULL)) != -1) {
                switch (c) {
                case OPT_REGISTRY:
                        ctx->arg_registry = optarg;
                        break;
                case OPT_KEY:
                        ctx->arg_key = optarg;
                        break;
                case OPT_JSON:
                        ctx->arg_json = true;
                        break;
                case 'h':
                        print_help();
                        return 0;
                case OPT_VERSION:
                        printf("agora %s\n", AGORA_VERSION);
                        return 0;
                case ':':
                        return agora_error_set(err, AGORA_ERR_USAGE, "option '%s' needs a value (see agora --help)",
                                               argv[optind - 1]);
                default:
                        if (optopt > 0x20 && optopt < 0x7f)
                                return agora_error_set(err, AGORA_ERR_USAGE, "unknown option '-%c' (see agora --help)",
                                                       optopt);
                        return agora_error_set(err, AGORA_ERR_USAGE, "unknown option '%s' (see agora --help)",
                                               argv[optind - 1]);
                }
        }
        if (optind >= argc)
                return agora_error_set(err, AGORA_ERR_USAGE, "no verb given (see agora --help)");
        return optind;
}

/* A failure after the verb moved the registry's branch must not read as if
 * nothing happened: say what was committed, then what failed. WRITING: the
 * failure was writing the result to stdout (a full disk, a closed pipe). */
static int after_commit(const cli_ctx *ctx, bool writing, agora_error_t *err)
{
        _cleanup_free_ char *then = NULL;

        if (ctx->committed == NULL || err == NULL || *err == NULL)
                return -1;
        if (writing)
                return agora_error_set(err, AGORA_ERR_FAILED, "%s, but writing to stdout failed: %s", ctx->committed,
                                       strerror((*err)->errnum != 0 ? (*err)->errnum : EIO));
        then = strdup(agora_error_message(*err));
        return agora_error_set(err, AGORA_ERR_FAILED, "%s, but then failed: %s", ctx->committed,
                               then != NULL ? then : "unknown error");
}

static int run(cli_ctx *ctx, int argc, char **argv, agora_error_t *err)
{
        int verb, r;

        verb = parse_globals(ctx, argc, argv, err);
        if (verb <= 0)
                return verb;
        ctx->cmd = cli_command_find(argv[verb]);
        if (ctx->cmd == NULL)
                return agora_error_set(err, AGORA_ERR_USAGE, "'%s' is not a verb (see agora --help)", argv[verb]);

        /* libgit2 starts when a verb opens a registry (registry_open). */
        if (sign_init(err) < 0)
                return -1;
        argc -= verb;
        argv += verb;
        if (!help_only(argc, argv)) {
                if (cli_setup(ctx, ctx->cmd->flags, err) < 0)
                        return -1;
                if ((ctx->cmd->flags & CMD_NEEDS_REGISTRY) && cli_need_registry(ctx, ctx->cmd->name, err) < 0)
                        return -1;
        }
        optind = 0; /* glibc: start the verb's getopt afresh */
        r = ctx->cmd->fn(ctx, argc, argv, err);
        if (r < 0)
                return after_commit(ctx, false, err);
        if (output_finish(err) < 0)
                return after_commit(ctx, true, err);
        return r;
}

int main(int argc, char **argv)
{
        _cleanup_error_ agora_error_t err = NULL;
        cli_ctx ctx = {0};
        int r;

        r = run(&ctx, argc, argv, &err);
        cli_ctx_release(&ctx);
        registry_global_shutdown();
        if (r < 0) {
                fflush(stdout);
                if (ctx.usage_error)
                        fprintf(stderr, "agora %s\n", agora_error_message(err));
                else
                        fprintf(stderr, "agora: %s\n", agora_error_message(err));
                /* A failure that forgot its error is still a failure. */
                return err != NULL ? agora_error_exit_code(err) : 1;
        }
        return r;
}
